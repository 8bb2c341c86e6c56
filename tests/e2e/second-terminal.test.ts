/**
 * A second terminal on the same journal (boot/terminal-lock.ts): `npm start` in a second window
 * uses the board file's journal folder, as the first does. The second stops at the recovery
 * screen with E-STO-13 and never opens the journal (its recovery login asks again and refuses);
 * the first sells on and its journal stays whole; once the first is stopped, the same login at
 * the second takes the journal and opens the recovery menu without a restart; a terminal powered
 * off cleanly, or killed, leaves nothing that stops the next boot.
 */
import { strict as assert } from 'node:assert';
import { Driver, E2E_TEST_TIMINGS, assertLedgerAgrees, journalState, terminalPerTest } from './driver';
import { Journal } from '../../storage/journal';
import { journalHolders } from '../../storage/holders';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { TERMINAL_LOCK_FILE } from '../../boot/terminal-lock';
import { parseOwner } from '../../boot/registry-lock';

async function waitFor(ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

describe('e2e: a second terminal on the same journal', function () {
  this.timeout(180_000);
  const b = terminalPerTest('pos-e2e-second-');
  let second: Driver | undefined;
  afterEach(async () => {
    await second?.powerOff().catch(() => undefined);
    second = undefined;
  });

  it('aSecondTerminalStopsAtJournalInUseAndTheFirstSellsOnWithItsJournalWhole', async () => {
    await b.d.powerOn();
    await b.d.signIn();
    await b.d.sale('1234');
    second = new Driver(b.host, b.dir);
    // Tests only: the boot waits 500 ms (the product's 3 s) for the first terminal to let go of the journal; it does not.
    second.testTimings = { ...E2E_TEST_TIMINGS, 'lock-wait': 500 };
    const run = await second.powerOn();
    const at = await second.until('recovery.locked', (s) => s.data.error?.code === 'E-STO-13');
    assert.ok(at.data.error, 'the reason is on the screen');
    const firstPid = b.d.run!.child.pid!;
    assert.ok(run.log.some((l) => l.includes('E-STO-13') || l.includes(`terminal process ${firstPid}`)), 'the log names the terminal that holds the journal');
    // The boot's E-STO-13 is on the screen: OK puts it away (digits typed over an error screen are
    // not taken), then the administrator's login asks for the journal again: still in use, refused.
    const refusals = (): number => run.log.filter((l) => l.includes('E-STO-13')).length;
    const bootRefusals = refusals();
    await second.keys('OK');
    await second.until('recovery.locked', (s) => s.screen.name === 'login');
    await second.typeLogin('admin');
    const refused = await second.until('recovery.locked', (s) => s.data.error?.code === 'E-STO-13' && s.screen.name !== 'login');
    assert.notEqual(refused.data.error, undefined);
    await waitFor(() => refusals() > bootRefusals, 'the login asked for the journal again and logged its refusal');
    assert.notEqual((await second.snapshot()).state, 'recovery.menu');
    const holders = journalHolders(join(b.dir, 'journal'), '/proc', process.pid).map((h) => h.pid);
    assert.deepEqual(holders.filter((p) => p === run.child.pid), [], 'the second terminal never opened the journal');

    // The first sells on; then it is stopped, as the E-STO-13 steps say, and the same login at
    // the second terminal (no restart) takes the journal and opens the recovery menu.
    await b.d.sale('2000');
    await b.d.powerOff();
    await second.keys('OK');
    await second.until('recovery.locked', (s) => s.screen.name === 'login');
    await second.typeLogin('admin');
    await second.until('recovery.menu');
    assert.equal(parseOwner(readFileSync(join(b.dir, 'journal', TERMINAL_LOCK_FILE), 'utf8'))?.pid, run.child.pid, 'the second terminal holds the journal now');
    await second.powerOff();
    second = undefined;

    const state = await journalState(b.dir);
    const sales = [...state.txns.values()].filter((t) => t.kind === 'sale' && t.status === 'approved');
    assert.equal(sales.length, 2);
    assertLedgerAgrees(b.host, state, state.batch);
    const j = await Journal.open({ dir: join(b.dir, 'journal'), readOnly: true });
    assert.equal(j.openReport.damage, undefined, 'the journal verifies whole');
    await j.close();

    // Powered off cleanly: the next terminal boots; killed: the one after boots too.
    second = new Driver(b.host, b.dir);
    await second.powerOn();
    await second.until('login');
    await second.pullBattery();
    await second.powerOn();
    await second.until('login');
  });
});

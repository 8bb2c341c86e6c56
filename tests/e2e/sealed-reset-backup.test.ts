/**
 * Issue 13 item 12 on the LCD, as a technician does it: the recovery menu's factory reset writes
 * its backup sealed under the terminal's device key (no TID, masked PAN or amount readable in the
 * file), and the menu's import restores it without asking a passphrase.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from 'cbor-x';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { Journal } from '../../storage/journal';
import { Driver, terminalPerTest } from './driver';

const SALE_FEN = 4321;
/** A boot verifies the journal in a child process: slow on a loaded machine. */
const BOOT_WAIT_MS = 60_000;

describe('e2e: the LCD factory reset backup is sealed and imports back', function () {
  this.timeout(240_000);
  const bench = terminalPerTest('h-secrets-reset-');
  let dir: string;
  let d: Driver;
  beforeEach(() => { ({ dir, d } = bench); });

  it('factoryResetBackupHoldsNothingInClearAndTheMenuImportsItWithoutAPassphrase', async () => {
    await d.powerOn();
    await d.until('login', () => true, BOOT_WAIT_MS);
    await d.keys('01OK0000OK');
    await d.until('idle');
    await d.sale(SALE_FEN);
    await d.until('idle');
    assert.equal(await d.powerOff(), 0);
    const before = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
    const masked = [...before.records()].map((r) => r.payload.panMasked).find((m): m is string => typeof m === 'string');
    const clear = Buffer.concat([...before.raw()].map((e) => e.stored));
    const records = before.lastSeq;
    await before.close();
    assert.ok(masked, 'control: the sale stored a masked PAN');
    const needles: Array<readonly [string, Buffer]> = [
      ['TID', Buffer.from(TEST_TERMINAL.tid)], ['masked PAN', Buffer.from(masked)],
      ['amount', Buffer.concat([encode('amountFen'), encode(SALE_FEN)])],
    ];
    for (const [what, n] of needles) assert.ok(clear.includes(n), `control: ${what} in the journal in clear`);

    await d.powerOn({ holdReset: true });
    await d.until('recovery.locked', () => true, BOOT_WAIT_MS);
    await d.keys('00OK123456OK');
    await d.until('recovery.menu');
    await d.screen('recovery');
    await d.keys('5');
    await d.screen('recoveryConfirm:factory-reset');
    await d.keys('OK');
    await d.screen('recoveryConfirm:factory-reset-2');
    await d.keys('OK');
    await d.pages('recoveryReport:factory-reset', 30_000);
    const backups = readdirSync(join(dir, 'backup')).filter((f) => f.endsWith('.posbak'));
    assert.equal(backups.length, 1, backups.join(', '));
    const bytes = readFileSync(join(dir, 'backup', backups[0]));
    for (const [what, n] of needles) assert.equal(bytes.includes(n), false, `${what} readable in the factory reset backup`);

    await d.keys('OK');
    await d.screen('recovery');
    await d.keys('32');
    await d.screen('recoveryFiles');
    await d.keys('1');
    // No passphrase screen: the backup opens under this terminal's device key.
    const imported = await d.pages('recoveryReport:import', 30_000);
    assert.ok(imported.join(' ').includes('restored'), imported.join('|'));
    assert.equal(await d.powerOff(), 0);
    const after = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
    try {
      assert.equal(after.state, 'ok');
      assert.ok(after.lastSeq >= records, `restored ${after.lastSeq} of ${records}`);
      assert.ok([...after.records()].some((r) => r.payload.amountFen === SALE_FEN), 'the sale is back');
    } finally {
      await after.close();
    }
  });
});

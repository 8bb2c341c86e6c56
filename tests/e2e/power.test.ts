/**
 * Power on the simulator board: the battery pulled mid-sale (the terminal process SIGKILLed while
 * the host holds its answer) and the terminal coming back on the same storage with the journal
 * verified and recovered and the reversal sent; and the reset button held through boot opening
 * the recovery menu behind the administrator's password.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { Driver, journalState, assertLedgerAgrees, terminalPerTest } from './driver';

describe('e2e: battery pulled mid-sale, reset button held at boot', function () {
  this.timeout(90_000);
  // A terminal, acquirer simulator and storage directory per test (tests/e2e/driver.ts).
  const bench = terminalPerTest('pos-e2e-power-');
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  beforeEach(() => { ({ host, dir, d } = bench); });

  it('battery pulled while the sale waits for the host: on power-up the journal is recovered and the reversal sent; nothing charged', async () => {
    await d.powerOn();
    await d.signIn();
    host.setFault({ kind: 'delay', delayMs: 30_000, type: 'sale' });
    await d.keys('8800OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    await d.until('sale.online');
    // The request reached the host (it holds the answer): the sale is approved there, unknown here.
    const deadline = Date.now() + 10_000;
    while (!host.ledger.entries({}).some((e) => e.type === 'sale') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const charged = host.ledger.entries({}).find((e) => e.type === 'sale');
    assert.equal(charged?.status, 'approved', 'the host approved before the battery was pulled');
    await d.pullBattery();

    host.clearFaults();
    await d.powerOn();
    const back = await d.until('login', (s) => s.data.notice !== undefined);
    assert.equal(back.data.notice, 'reversal-sent', 'pending work at boot: the reversal went out before login');
    assert.equal(back.data.reversalPending, false);
    assert.equal(host.ledger.entries({}).find((e) => e.stan === charged?.stan)?.status, 'reversed', 'the host reversed the sale: the customer is not charged');
    // Verified before use: after its boot checkpoint (the records since the last boot) in-process,
    // or all of it in a child when no checkpoint is trusted (storage/boot-open.ts).
    assert.ok(d.run?.log.some((l) => /journal opened after its checkpoint/.test(l) || (/verified in a child process/.test(l) && /"status":"(ok|torn-tail)"/.test(l))), 'the journal was verified before it was opened');
    // Selling goes on afterwards.
    await d.typeLogin('cashier');
    await d.until('idle');
    await d.keys('900OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    const s = await d.until('sale.askCustomerCopy');
    assert.equal(s.data.result?.outcome, 'approved');
    await d.keys('2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    assert.equal(await d.powerOff(), 0);
    const journal = await journalState(dir);
    assertLedgerAgrees(host, journal, journal.batch);
    const mine = [...journal.txns.values()].find((t) => t.stan === charged?.stan);
    assert.ok(mine, 'the pulled sale is in the journal');
    assert.notEqual(mine.status, 'approved');
  });

  it('reset button held through boot: recovery, administrator only (00 / 123456), export to the USB stick', async () => {
    // The simulator's stick: a folder that exists (boot/usb-stick.ts); a real board needs a mounted one.
    d.usbDir = join(dir, 'usb');
    mkdirSync(d.usbDir, { recursive: true });
    await d.powerOn();
    await d.until('login');
    assert.equal(await d.powerOff(), 0);
    await d.powerOn({ holdReset: true });
    const rec = await d.until('recovery.locked');
    assert.equal(rec.data.notice, 'reset-held');
    await d.typeLogin('cashier');
    await d.until('recovery.locked', (s) => s.data.notice === 'administrator-required');
    await d.typeLogin('admin');
    await d.until('recovery.menu');
    // The menu's second row says why recovery opened; its items page under it (2 = Export below).
    const menuLines = await d.screen('recovery');
    assert.ok(menuLines.some((l) => /Reset key held/.test(l)) && menuLines.some((l) => /1 Check journal/.test(l)), `recovery menu: ${menuLines.join('|')}`);
    // Exports are encrypted: the passphrase is typed on the keypad, the result shown as a report.
    await d.keys('2');
    await d.screen('passphrase');
    await d.keys('123456OK');
    await d.screen('passphraseAgain');
    await d.keys('123456OK');
    const report = await d.screen('recoveryReport:export', 30_000);
    assert.ok(/exported \d+ records/.test(report.join(' ')), `export: ${report.join('|')}`);
    assert.ok(readdirSync(d.usbDir).some((f) => f.endsWith('.posbak')), 'the backup file is on the stick');
    await d.keys('OK');
    await d.screen('recovery');
    // Restart from the menu (7): a normal boot, reset no longer held.
    await d.keys('7');
    await d.until('login', () => true, 20_000);
  });
});

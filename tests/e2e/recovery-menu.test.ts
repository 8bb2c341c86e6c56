/**
 * The recovery menu on the LCD, driven only through the control interface of the terminal child
 * process (simulator board): reset held at boot -> administrator login -> each action's report on
 * the display; export then import on a fresh storage directory with the chain verified; factory
 * reset asks twice when not settled; a damaged journal at boot names the damage, salvage, normal boot.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { tempDir, removeDir, flipByte, flipFileByte, readStored, PAGE_BYTES } from '../../storage/testing';
import { verifyInChild } from '../../storage/verify-child';
import { HEADER_BYTES, RecordType } from '../../storage/record';
import { Journal } from '../../storage/journal';
import { Driver, terminalPerTest } from './driver';

const PASS = '246810';
/** A boot verifies the journal in a child process: slow on a loaded CI machine. */
const BOOT_WAIT_MS = 60_000;

describe('e2e: recovery menu on the LCD', function () {
  // Each test boots the terminal several times and checks passwords with scrypt (slow on a shared CI core).
  this.timeout(240_000);
  // A terminal, acquirer simulator and storage directory per test (tests/e2e/driver.ts).
  const bench = terminalPerTest('pos-e2e-recovery-');
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  beforeEach(() => { ({ host, dir, d } = bench); });

  async function report(action: string): Promise<string[]> {
    return d.pages(`recoveryReport:${action}`, 30_000);
  }

  /** A paged report's body as one line: the title rows ("Result 2/6") and footers dropped. */
  function body(rows: readonly string[]): string {
    return rows.filter((l) => !/^\S+ \d+\/\d+$/.test(l.trim()) && !/UP\/DOWN|OK: back/.test(l)).join(' ').replace(/\s+/g, ' ');
  }

  async function intoRecovery(): Promise<void> {
    await d.powerOn({ holdReset: true });
    await d.until('recovery.locked', () => true, BOOT_WAIT_MS);
    await d.typeLogin('admin');
    await d.until('recovery.menu');
    await d.screen('recovery');
  }

  it('reset held: administrator login, verify, export, pending work, system, factory reset twice, restart', async () => {
    await d.powerOn();
    await d.signIn();
    await d.keys('500OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    await d.until('sale.askCustomerCopy');
    await d.keys('2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    assert.equal(await d.powerOff(), 0);

    // The stick's mount point; on the simulator board a folder counts as the stick once it exists.
    d.usbDir = join(dir, 'usb');
    await d.powerOn({ holdReset: true });
    await d.until('recovery.locked', () => true, BOOT_WAIT_MS);
    // Not the cashier's login: the technician sees where they are and who may log in.
    const login = await d.screen('login');
    assert.deepEqual(login.slice(0, 2), ['Recovery - admin', 'Admin no.'], login.join('|'));
    await d.typeLogin('cashier');
    await d.until('recovery.locked', (s) => s.data.notice === 'administrator-required');
    // A typo: a notice with the true count (the menu's 3 per boot), not the reason recovery opened.
    await d.keys('00OK111111OK');
    await d.until('recovery.locked', (s) => s.data.error?.code === 'E-OPR-02');
    const typo = await d.screen('login');
    assert.ok(typo.some((l) => l.trim() === 'Wrong: 2 left'), `of the menu's 3 tries (a cashier's right password is refused, not counted): ${typo.join('|')}`);
    await d.typeLogin('admin');
    await d.until('recovery.menu');
    const top = (await d.screen('recovery')).join(' ');
    assert.ok(top.includes('Reset key held') && !top.includes('E-OPR-02'), `the reason is why recovery opened: ${top}`);

    await d.keys('1');
    const verify = await report('verify');
    assert.ok(verify.join(' ').includes('journal ok'), `verify: ${verify.join('|')}`);
    await d.keys('OK');
    await d.screen('recovery');

    // No stick in the port: said at once, no passphrase asked, nothing written on the terminal's disk.
    await d.keys('2');
    const noStick = body(await report('export'));
    assert.ok(noStick.includes('E-STO-09') && /insert a USB stick/i.test(noStick), `no stick: ${noStick}`);
    assert.equal(existsSync(join(dir, 'backup')) && readdirSync(join(dir, 'backup')).some((f) => f.endsWith('.posbak')), false, 'no export in the backup folder');
    await d.keys('OK');
    mkdirSync(join(dir, 'usb'));
    await d.keys('2');
    await d.screen('passphrase');
    await d.keys(`${PASS}OK`);
    await d.screen('passphraseAgain');
    await d.keys(`${PASS}OK`);
    const exp = await report('export');
    assert.ok(/exported \d+ records/.test(exp.join(' ')), `export: ${exp.join('|')}`);
    assert.ok(readdirSync(join(dir, 'usb')).some((f) => f.endsWith('.posbak')), 'the export is on the stick');
    await d.keys('OK');

    await d.keys('8');
    await d.screen('recoveryPending');
    await d.keys('1');
    const resend = await report('resend');
    assert.ok(resend.join(' ').includes('reversal: none'), resend.join('|'));
    await d.keys('OK');
    await d.keys('82');
    const reprint = await report('reprint-receipt');
    assert.ok(reprint.join(' ').includes('reprinted trace'), reprint.join('|'));
    await d.keys('OK');

    await d.keys('92');
    const net = await report('network-test');
    assert.ok(net[0].startsWith('Result') && net.join(' ').includes('lo up'), `network test passed (page 1 of the steps): ${net.join('|')}`);
    await d.keys('OK');
    await d.keys('93');
    const version = await report('version');
    assert.ok(version.join(' ').includes('runtime'), version.join('|'));
    await d.keys('OK');

    // Not settled: the plan, then a second confirmation; CANCEL at the second keeps everything.
    await d.keys('5');
    const plan = await d.screen('recoveryConfirm:factory-reset');
    assert.ok(plan.join(' ').includes('(NOT'), plan.join('|'));
    await d.keys('OK');
    await d.screen('recoveryConfirm:factory-reset-2');
    await d.keys('CANCEL');
    await d.screen('recovery');

    await d.keys('7');
    await d.until('login', () => true, 20_000);
  });

  it('export, then import on a fresh storage directory: chain verified, same records', async () => {
    const usb = join(dir, 'usb');
    mkdirSync(usb);
    d.usbDir = usb;
    await intoRecovery();
    await d.keys(`2${PASS}OK`);
    await d.screen('passphraseAgain');
    await d.keys(`${PASS}OK`);
    await report('export');
    assert.equal(await d.powerOff(), 0);
    const original = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
    const records = original.lastSeq;
    await original.close();

    // A fresh journal directory on the same backup folder (a replaced SD card).
    const fresh = tempDir('pos-e2e-recovery-fresh-');
    try {
      const d2 = new Driver(host, fresh, 'en');
      const orig = d;
      d = d2;
      // The same stick, in the replacement terminal's port.
      d2.usbDir = usb;
      await intoRecovery();
      await d.keys('32');
      await d.screen('recoveryFiles');
      await d.keys('1');
      await d.screen('passphrase');
      await d.keys(`${PASS}OK`);
      const imp = await report('import');
      assert.ok(imp[0].startsWith('Result') && imp.join(' ').includes('restored'), imp.join('|'));
      await d.keys('OK');
      await d.keys('1');
      const verify = await report('verify');
      assert.ok(verify.join(' ').includes('journal ok'), verify.join('|'));
      assert.equal(await d.powerOff(), 0);
      d = orig;
      const j = await Journal.open({ dir: join(fresh, 'journal'), readOnly: true });
      try {
        assert.ok(j.lastSeq >= records, `imported ${j.lastSeq} records, exported ${records}`);
        assert.equal(j.state, 'ok');
      } finally { await j.close(); }
    } finally { removeDir(fresh); }
  });

  // Issue 13 item 4: a file LMDB cannot read (truncated: LMDB would raise SIGBUS) never crashes
  // the boot; it goes to recovery with that reason, not "no journal here: provision the terminal".
  it('truncated journal at boot: recovery with "LMDB cannot read this file", never a crash', async () => {
    await d.powerOn();
    await d.until('login'); // the first boot created the journal
    assert.equal(await d.powerOff(), 0);
    const file = join(dir, 'journal', 'data.mdb');
    writeFileSync(file, readFileSync(file).subarray(0, 3 * PAGE_BYTES));
    await d.powerOn();
    const rec = await d.until('recovery.locked', (s) => s.screen.name === 'error');
    assert.equal(rec.data.error?.code, 'E-STO-05');
    assert.match(rec.data.error?.message ?? '', /truncated.*LMDB cannot read this file: run "pos journal salvage"/);
    assert.doesNotMatch(rec.data.error?.message ?? '', /no journal here|provision the terminal/);
  });

  it('damaged journal at boot: the damage named, administrator login, salvage, normal boot, salvaged journal verifies', async () => {
    await d.powerOn();
    await d.signIn();
    for (const amount of ['500', '700', '900']) await d.sale(amount);
    assert.equal(await d.powerOff(), 0);

    // A rotting SD card: one record in the middle of the journal (a sale's, after the operators)
    // has a payload byte flipped, written through LMDB so the live copy is the damaged one.
    const jdir = join(dir, 'journal');
    const before = await Journal.open({ dir: jdir, readOnly: true });
    const lastSeq = before.lastSeq;
    const firstSaleSeq = [...before.records()].find((r) => r.type === RecordType.txnBegin || r.type === RecordType.txnResult)?.seq;
    await before.close();
    assert.ok(firstSaleSeq !== undefined && lastSeq > firstSaleSeq + 5, `records: ${lastSeq}, first sale record ${firstSaleSeq}`);
    const damagedSeq = Math.floor((firstSaleSeq + lastSeq) / 2);
    assert.ok(damagedSeq > 1 && damagedSeq < lastSeq, 'a middle record, not the tail');
    const intact = await readStored(jdir, damagedSeq);
    assert.ok(intact);
    await flipByte(jdir, damagedSeq, HEADER_BYTES + 2, 0xff);
    // LMDB writes copy-on-write: older intact copies of that record stay on free pages, where
    // salvage would find them. The rot took those too (raw file bytes; LMDB never reads free pages).
    const file = join(jdir, 'data.mdb');
    const raw = readFileSync(file);
    let stale = 0;
    for (let at = raw.indexOf(intact); at >= 0; at = raw.indexOf(intact, at + 1)) { flipFileByte(file, at + HEADER_BYTES + 2, 0xff); stale++; }
    assert.ok(!readFileSync(file).includes(intact), `no intact copy of record ${damagedSeq} left (${stale} stale copies damaged)`);

    await d.powerOn();
    const rec = await d.until('recovery.locked', (s) => s.screen.name === 'error');
    assert.equal(rec.data.error?.code, 'E-STO-05');
    assert.equal(rec.data.error?.detail.seq, damagedSeq);
    const shown = rec.screen.text.join(' ');
    assert.ok(shown.includes('E-STO-05') && shown.includes(`record ${damagedSeq}`), `damage named on the display: ${shown}`);
    // Found by a verify before any sale: the walk after the boot checkpoint, the child's full
    // verify when no checkpoint is trusted, or the background verify, which boots again into
    // recovery (storage/boot-open.ts). The outcome, asserted above, is the same on every path.

    // Not selling: the error acknowledged, the administrator's login (operators are read from
    // the records before the damage).
    await d.keys('OK');
    await d.until('recovery.locked', (s) => s.screen.name === 'login');
    await d.keys('00OK000000OK');
    await d.until('recovery.locked', (s) => s.data.error?.code === 'E-OPR-02');
    await d.typeLogin('admin');
    await d.until('recovery.menu');
    const menu = await d.screen('recovery');
    assert.ok(menu.join(' ').includes('Journal damaged') && !menu.join(' ').includes('E-OPR-02'), `menu names why recovery opened, not the typo: ${menu.join('|')}`);

    await d.keys('1');
    const verify = await report('verify');
    assert.ok(body(verify).includes(`E-STO-05 damaged at record ${damagedSeq}`), `verify names record ${damagedSeq}: ${verify.join('|')}`);
    await d.keys('OK');

    await d.keys('4');
    await d.screen('recoveryConfirm:salvage');
    await d.keys('OK');
    const salvaged = await report('salvage');
    const text = body(salvaged);
    assert.ok(salvaged[0].startsWith('Result'), `salvage: ${salvaged.join('|')}`);
    const m = /(\d+) records recovered \(1\.\.(\d+)\)/.exec(text);
    assert.ok(m, `recovered count shown: ${text}`);
    assert.equal(Number(m[1]), damagedSeq - 1, 'every record before the damaged one recovered');
    assert.ok(text.includes(`not recovered: record ${damagedSeq} on`), `what could not be recovered is named: ${text}`);
    assert.ok(text.includes(`${damagedSeq + 1}-${lastSeq}`), `the intact records after it are kept aside, by range: ${text}`);
    assert.ok(text.includes('damaged journal kept'), text);
    await d.keys('OK');
    await d.screen('recovery');

    await d.keys('7');
    await d.until('login', () => true, 20_000);
    assert.equal(await d.powerOff(), 0);
    assert.ok(readdirSync(dir).some((f) => f.startsWith('journal.damaged-')), 'the damaged journal was kept');
    const j = await Journal.open({ dir: jdir, readOnly: true });
    try {
      assert.equal(j.state, 'ok');
      // The salvaged records, then what the administrator's session and the new boot appended.
      assert.ok(j.lastSeq >= damagedSeq - 1, `salvaged journal has ${j.lastSeq} records`);
      const [verdict] = await verifyInChild([jdir]);
      assert.equal(verdict.status, 'ok', JSON.stringify(verdict));
    } finally { await j.close(); }
  });
});

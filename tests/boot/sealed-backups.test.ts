/**
 * Issue 13 item 12: every backup the terminal writes on its own (the recovery menu's factory
 * reset, the storage-failure export, periodic backups) is sealed, and restores on the terminal
 * that wrote it. The check is on the bytes: a backup file leaves the terminal on a USB stick, so
 * it must not show the TID, a masked PAN, an amount or any record in clear.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from 'cbor-x';
import { Journal } from '../../storage/journal';
import { flipByte, removeDir } from '../../storage/testing';
import { PeriodicBackup, importFromFile, parseBackup } from '../../storage/backup';
import { fixedDeviceKey } from '../../runtime/device-key';
import { rec } from '../../runtime/records';
import { PosError } from '../../common/errors';
import { Recovery } from '../../boot/recovery';
import { exportJournalSealed } from '../../boot/terminal-app';
import { main as pos } from '../../boot/pos';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { ADMIN, CASHIER, DEVICE_KEY, IDENTITY, Rig, magCard, rig, withOperators } from '../runtime/harness';

/** Amounts of the sales the rig makes. */
const AMOUNTS_FEN = [12_345, 67_891] as const;
const OTHER_DEVICE_KEY = Buffer.alloc(32, 0xa5);

function work(): string {
  return mkdtempSync('/tmp/h-secrets-');
}

async function code(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { if (e instanceof PosError) return e.code; throw e; }
  return 'no error';
}

/**
 * What must not be readable in a backup: the TID, each masked PAN, each amount (as text and as
 * the journal stores it), the field names of the records and the record frames' magic.
 * Each needle is checked against the journal's own bytes first (a positive control).
 */
function needles(journal: Journal): Array<readonly [string, Buffer]> {
  const masked = new Set<string>();
  for (const r of journal.records()) if (typeof r.payload.panMasked === 'string') masked.add(r.payload.panMasked);
  assert.ok(masked.size > 0, 'control: the journal holds masked PANs');
  return [
    ['TID', Buffer.from(TEST_TERMINAL.tid)],
    ...[...masked].map((m) => ['masked PAN', Buffer.from(m)] as const),
    // An amount as the journal stores it: the CBOR map key, then the value.
    ...AMOUNTS_FEN.map((a) => [`amount ${a}`, Buffer.concat([encode('amountFen'), encode(a)])] as const),
    ['field name amountFen', Buffer.from('amountFen')],
    ['record magic', Buffer.from('POSJ', 'ascii')],
  ];
}

function assertSealed(bytes: Buffer, clear: Buffer, what: string, list: Array<readonly [string, Buffer]>): void {
  for (const [name, needle] of list) {
    assert.ok(clear.includes(needle), `control: ${name} is in the journal's records in clear`);
    // After the file's own magic ("POSJBK01" begins with the record magic).
    assert.equal(bytes.includes(needle, 8), false, `${name} readable in ${what}`);
  }
}

describe('backups the terminal writes on its own are sealed (issue 13 item 12)', function () {
  this.timeout(60_000);
  let r: Rig;
  let dir: string;
  let clear: Buffer;
  let list: Array<readonly [string, Buffer]>;

  beforeEach(async () => {
    dir = work();
    r = await rig();
    await withOperators(r);
    await r.terminal.store.commit([rec.terminalIdentity({ serial: IDENTITY, tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid, board: 'sim', locale: 'en', testKeys: true })]);
    await r.terminal.engine.signOn(CASHIER);
    for (const amountFen of AMOUNTS_FEN) assert.equal((await r.terminal.engine.sale({ amountFen, card: magCard(), session: CASHIER })).outcome, 'approved');
    clear = Buffer.concat([...r.journal.raw()].map((e) => e.stored));
    list = needles(r.journal);
  });
  afterEach(async () => { await r.close(); removeDir(dir); });

  it('factoryResetWithoutAPassphraseAsTheLcdAsksWritesASealedBackupThatImportsBack', async () => {
    const records = r.journal.lastSeq;
    await r.journal.close(); // recovery owns the journal while the menu is open
    const rc = new Recovery({ journalDir: r.dir, backupDir: join(dir, 'backup'), identity: IDENTITY, clock: () => r.clock.ms, deviceKey: fixedDeviceKey(DEVICE_KEY) });
    try {
      // The LCD menu passes no passphrase (boot/recovery-menu.ts factoryReset).
      const reset = await rc.factoryReset({ confirmations: 2 }, ADMIN);
      assert.equal(reset.ok, true);
      const file = String(reset.detail?.backup);
      assertSealed(readFileSync(file), clear, 'the factory reset backup', list);
      assert.equal(rc.needsPassphrase(file), false, 'the menu asks no passphrase for it');
      const restored = await rc.importBackup(file, undefined, ADMIN);
      assert.equal(restored.ok, true, restored.lines.join('\n'));
      const j = await rc.journal();
      assert.ok(j.lastSeq >= records, `restored ${j.lastSeq} records of ${records}`);
      assert.ok([...j.records()].some((x) => x.payload.amountFen === AMOUNTS_FEN[0]), 'the sales are back');
    } finally {
      await rc.close();
    }
  });

  it('factoryResetBackupDoesNotOpenUnderAnotherTerminalsDeviceKey', async () => {
    await r.journal.close();
    const rc = new Recovery({ journalDir: r.dir, backupDir: join(dir, 'backup'), identity: IDENTITY, clock: () => r.clock.ms, deviceKey: fixedDeviceKey(DEVICE_KEY) });
    const reset = await rc.factoryReset({ confirmations: 2 }, ADMIN);
    await rc.close();
    const other = new Recovery({ journalDir: r.dir, backupDir: join(dir, 'backup'), identity: IDENTITY, clock: () => r.clock.ms, deviceKey: fixedDeviceKey(OTHER_DEVICE_KEY) });
    try {
      assert.equal(await code(other.importBackup(String(reset.detail?.backup), '12345678', ADMIN)), 'E-STO-08');
    } finally {
      await other.close();
    }
  });

  it('storageFailureExportIsSealedUnderTheDeviceKeyAndListedAsABackup', async () => {
    const file = exportJournalSealed(r.journal, join(dir, 'backup'), fixedDeviceKey(DEVICE_KEY), () => r.clock.ms);
    assert.match(file, /\.posbak$/, 'the recovery menu lists .posbak files');
    const bytes = readFileSync(file);
    assertSealed(bytes, clear, 'the storage-failure export', list);
    assert.equal(await code(() => parseBackup(bytes)), 'E-STO-08', 'no key: refused');
    assert.equal(await code(() => parseBackup(bytes, { deviceKey: () => OTHER_DEVICE_KEY })), 'E-STO-08', 'another terminal: refused');
    const restored = await importFromFile(file, join(dir, 'fresh'), { deviceKey: () => DEVICE_KEY });
    assert.equal(restored.manifest.lastSeq, r.journal.lastSeq);
  });

  it('repairOfADamagedJournalRestoresTheSealedBackupWithoutAPassphrase', async () => {
    exportJournalSealed(r.journal, join(dir, 'backup'), fixedDeviceKey(DEVICE_KEY), () => r.clock.ms);
    const records = r.journal.lastSeq;
    await r.journal.close();
    await flipByte(r.dir, records - 2, 70, 0xff);
    const rc = new Recovery({ journalDir: r.dir, backupDir: join(dir, 'backup'), identity: IDENTITY, clock: () => r.clock.ms, deviceKey: fixedDeviceKey(DEVICE_KEY) });
    try {
      assert.equal(rc.backups().some((f) => rc.needsPassphrase(f)), false, 'the menu asks no passphrase for repair');
      const rep = await rc.repair(ADMIN);
      assert.equal(rep.ok, true, rep.lines.join('\n'));
      const j = await rc.journal();
      assert.equal(j.state, 'ok');
      assert.equal(j.lastSeq >= records, true);
    } finally {
      await rc.close();
    }
  });

  it('posJournalImportRestoresASealedBackupWithTheDeviceKeyBesideTheJournal', async () => {
    const file = exportJournalSealed(r.journal, join(dir, 'backup'), fixedDeviceKey(DEVICE_KEY), () => r.clock.ms);
    const terminal = join(dir, 'terminal');
    const out: string[] = [];
    const err: string[] = [];
    // No device key beside the journal yet: refused with the reason, nothing created.
    assert.equal(await pos(['journal', 'import', '--in', file, '--dir', join(terminal, 'journal')], (l) => out.push(l), (l) => err.push(l)), 2);
    assert.match(err.join('\n'), /E-STO-08.*device\.key not found/);
    assert.equal(existsSync(join(terminal, 'device.key')), false);
    mkdirSync(terminal);
    writeFileSync(join(terminal, 'device.key'), DEVICE_KEY, { mode: 0o600 });
    assert.equal(await pos(['journal', 'import', '--in', file, '--dir', join(terminal, 'journal')], (l) => out.push(l), (l) => err.push(l)), 0, err.join('\n'));
    assert.match(out.join('\n'), new RegExp(`restored ${r.journal.lastSeq} records`));
  });

  it('periodicBackupsAreSealedAndRefusedWithoutAKey', async () => {
    const usb = join(dir, 'usb');
    assert.equal(await code(() => new PeriodicBackup(r.journal, { backupDir: usb, everyRecords: 1, keepCountMax: 2 })), 'E-STO-08');
    mkdirSync(usb);
    const p = new PeriodicBackup(r.journal, { backupDir: usb, everyRecords: 1, keepCountMax: 2, deviceKey: () => DEVICE_KEY });
    const file = p.backupNow();
    assert.deepEqual(readdirSync(usb), [file.slice(usb.length + 1)]);
    assertSealed(readFileSync(file), clear, 'a periodic backup', list);
    assert.equal(parseBackup(readFileSync(file), { deviceKey: () => DEVICE_KEY }).manifest.lastSeq, r.journal.lastSeq);
  });
});

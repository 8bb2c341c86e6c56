/**
 * The recovery menu's actions on a real journal, the acquirer simulator on loopback and the
 * simulator board's printer: each is refused without an administrator, journals an admin-action
 * record, and returns the report an LCD shows. Export then import lands on a fresh storage
 * directory with the chain verified.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, Server, AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { Journal } from '../../storage/journal';
import { tempDir, removeDir, flipByte } from '../../storage/testing';
import { flipLogBit, lastCommitOf } from '../../storage/testing-wal';
import { WAL_COMMIT_HEADER_BYTES, walPath } from '../../storage/wal';
import { verifyInChild } from '../../storage/verify-child';
import { RecordType } from '../../storage/record';
import { openTerminal } from '../../runtime/terminal';
import { fixedDeviceKey } from '../../runtime/device-key';
import { seededRandom } from '../../runtime/random';
import { rec } from '../../runtime/records';
import { batchTotals } from '../../runtime/terminal-state';
import { PosError } from '../../common/errors';
import { createSimBoard, SimBoard } from '../../sim/board-sim';
import { Recovery, RecoveryOptions } from '../../boot/recovery';
import { ScheduledBackup } from '../../storage/scheduled-backup';
import { withSalvageLoss } from '../../boot/recovery-menu';
import { NetworkSettings } from '../../boot/recovery-net';
import { parseFaultSpec } from '../../sim/host/faults';
import { emvCard } from '../../sim/emv-card';
import { readCard } from '../../runtime/txn/card';
import { ChipCardReader } from '../runtime/fakes';
import { ADMIN, CASHIER, DEVICE_KEY, IDENTITY, Rig, SUPERVISOR, config, magCard, rig, withOperators } from '../runtime/harness';

const PASS = 'correct horse battery';

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { if (e instanceof PosError) return e.code; throw e; }
  return 'no error';
}

async function adminActions(dir: string): Promise<string[]> {
  const j = await Journal.open({ dir, readOnly: true });
  try {
    return [...j.records()].filter((r) => r.type === RecordType.adminAction).map((r) => `${String(r.payload.action)} ${String(r.payload.result)}`);
  } finally {
    await j.close();
  }
}

describe('boot/recovery: the recovery menu actions', function () {
  this.timeout(60_000);
  let r: Rig;
  let work: string;
  let sim: SimBoard;
  let rebooted: string[];

  function recovery(extra: Partial<RecoveryOptions> = {}): Recovery {
    return new Recovery({
      journalDir: r.dir, backupDir: join(work, 'backup'), identity: IDENTITY, clock: () => r.clock.ms,
      terminalFor: (journal) => openTerminal({ journal, host: r.transport, config: config(), deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(99), clock: () => r.clock.ms, scryptN: 1 << 10 }),
      printer: sim.board.printer(), lang: 'en', merchantName: 'TEST SHOP',
      system: { reboot: async () => { rebooted.push('reboot'); }, powerOff: async () => { rebooted.push('power-off'); } },
      ...extra,
    });
  }

  before(async () => { sim = await createSimBoard(); });
  after(async () => { await sim.close(); });

  beforeEach(async () => {
    work = tempDir('posrec-');
    rebooted = [];
    r = await rig();
    await withOperators(r);
    await r.terminal.engine.signOn(CASHIER);
    for (const amountFen of [1200, 3400]) assert.equal((await r.terminal.engine.sale({ amountFen, card: magCard(), session: CASHIER })).outcome, 'approved');
    await r.journal.close(); // recovery owns the journal while the menu is open
  });
  afterEach(async () => { await r.close(); removeDir(work); });

  it('logsInOnlyAnAdministratorAndLocksTheMenuAfterThreeWrongPasswords', async () => {
    const rc = recovery();
    try {
      assert.equal(await code(rc.login('001', '1111')), 'E-OPR-04');
      assert.equal(await code(rc.login('099', '0000')), 'E-OPR-02');
      assert.equal(await code(rc.login('777', '0000')), 'E-OPR-05');
      assert.equal(await code(rc.login('099', '0001')), 'E-OPR-21', 'the third wrong try locks at once');
      assert.equal(await code(rc.login('099', '9999')), 'E-OPR-21', 'locked after 3 wrong tries, even with the right password');
      assert.equal(await code(rc.exportTo(work, PASS, CASHIER)), 'E-OPR-04');
    } finally { await rc.close(); }
    const s = await recovery().login('099', '9999').catch((e: unknown) => e);
    assert.deepEqual(s, { operator: '099', role: 'administrator' }, 'a new session (after a reboot) may try again');
    const actions = await adminActions(r.dir);
    assert.ok(actions.filter((a) => a.startsWith('recovery:login refused')).length >= 3, actions.join('\n'));
  });

  /** Every wrong try until the lock: the tries left it reported, then the code that locked. */
  async function triesUntilLocked(rc: Recovery, operator: string, wrong: string): Promise<Array<number | string>> {
    const seen: Array<number | string> = [];
    for (let i = 0; i < 10; i++) {
      const e = await rc.login(operator, wrong).then(() => undefined, (x: unknown) => x);
      if (!(e instanceof PosError)) throw new Error(`wrong password admitted: ${String(e)}`);
      if (e.code !== 'E-OPR-02') { seen.push(e.code); break; }
      seen.push(e.detail.attemptsLeft as number);
    }
    return seen;
  }

  it('triesLeftCountDownToTheLockTheJournalsLongerCountNeverShownWhileTheMenuLocksFirst', async () => {
    // The journal allows the administrator 5 wrong passwords, the menu 3 per boot: the screen must
    // count the 3 ("2 left", "1 left", locked), never the journal's 4 and then lock.
    const rc = recovery();
    try {
      assert.deepEqual(await triesUntilLocked(rc, '099', '0000'), [2, 1, 'E-OPR-21']);
    } finally { await rc.close(); }
    // After a reboot: the journal has counted 3 and allows 2 more; the smaller count is shown, and
    // the journal's own lock (which a reboot does not lift) is named as such.
    const again = recovery();
    try {
      assert.deepEqual(await triesUntilLocked(again, '099', '0000'), [1, 'E-OPR-03']);
    } finally { await again.close(); }
  });

  it('triesLeftAreTrueOnAJournalRecoveryCannotWrite', async () => {
    await flipByte(r.dir, r.journal.lastSeq - 3, 70, 0xff);
    const rc = recovery();
    try {
      assert.equal((await rc.journal()).state, 'damaged', 'read-only: wrong passwords are counted by the menu alone');
      assert.deepEqual(await triesUntilLocked(rc, '099', '0000'), [2, 1, 'E-OPR-21']);
      assert.equal(await code(rc.login('099', '9999')), 'E-OPR-21', 'the right password after the lock: still locked');
    } finally { await rc.close(); }
  });

  it('verifiesAndRepairsATornTailByANormalOpen', async () => {
    const rc = recovery();
    await rc.close();
    // A commit torn by a cut: only the write-ahead log's last commit can be (LMDB's records never are).
    const j = await Journal.open({ dir: r.dir });
    await j.append('test', { note: 'in flight at the cut' });
    await j.close({ writeDeferred: false }); // a cut: the record is in journal.wal only
    const last = lastCommitOf(r.dir);
    const raw = readFileSync(walPath(r.dir));
    raw.fill(0, last.offset + WAL_COMMIT_HEADER_BYTES + 40, last.offset + WAL_COMMIT_HEADER_BYTES + 60);
    writeFileSync(walPath(r.dir), raw);
    const v = await rc.verifyJournal();
    assert.equal(v.ok, true);
    assert.match(v.lines.join('\n'), /torn last record/);
    assert.equal(await rc.repairRestores(), false, 'a torn tail is cut in place: no backup, no passphrase asked');
    // No login first: opening the journal normally (as login does) already cuts a torn tail.
    const rep = await rc.repair(ADMIN);
    assert.equal(rep.ok, true);
    assert.match(rep.lines[0], /cut/);
    await rc.close();
    const [after] = await verifyInChild([r.dir]);
    assert.equal(after.status, 'ok');
  });

  it('repairsDamageByRestoringTheNewestBackupThatVerifiesAndKeepsTheDamagedJournal', async () => {
    const rc = recovery();
    const session = await rc.login('099', '9999');
    mkdirSync(join(work, 'backup'));
    writeFileSync(join(work, 'backup', `journal-${IDENTITY}-9999999999.posbak`), 'not a backup'); // newest but bad
    const exp = await rc.exportTo(join(work, 'backup'), PASS, session);
    assert.equal(exp.ok, true);
    await rc.close();
    await flipByte(r.dir, 5, 70);
    const v = await rc.verifyJournal();
    assert.equal(v.ok, false);
    assert.equal(v.code, 'E-STO-05');
    assert.equal(await rc.repairRestores(), true, 'damage: repair restores a backup (the menu asks its passphrase)');
    const rep = await rc.repair(ADMIN, PASS);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    assert.ok(existsSync(String(rep.detail?.movedAside)), 'damaged journal kept');
    await rc.close();
    assert.equal((await verifyInChild([r.dir]))[0].status, 'ok');
  });

  it('repairRestoresTheTerminalsOwnScheduledBackupWithoutAPassphrase', async () => {
    // The backup the terminal wrote by itself after a settlement (storage/scheduled-backup.ts), in the board's backup folder.
    const j = await Journal.open({ dir: r.dir, identity: IDENTITY });
    const inUse = { held: false, onChange: () => () => undefined };
    const b = new ScheduledBackup({
      enabled: true, backupDir: join(work, 'backup'), keepCountMax: 3, idleRecords: 0, deviceKey: () => DEVICE_KEY,
      journal: () => j, settledBatch: () => 1, inUse, mayStart: () => true, createDir: true,
    });
    b.poke();
    await b.settled();
    const written = b.status().last?.file;
    assert.ok(written, JSON.stringify(b.status()));
    const records = j.lastSeq;
    await b.stop();
    await j.close();
    await flipByte(r.dir, 5, 70);
    const rc = recovery({ deviceKey: fixedDeviceKey(DEVICE_KEY) });
    try {
      assert.deepEqual(rc.backups(), [written], 'the recovery listing finds it');
      assert.equal(await rc.repairRestores(), true);
      assert.equal(rc.needsPassphrase(written), false, 'sealed under the device key: no passphrase to type');
      const rep = await rc.repair(ADMIN);
      assert.equal(rep.ok, true, rep.lines.join('\n'));
      assert.equal(rep.detail?.restoredFrom, written);
      assert.equal(rep.detail?.records, records);
    } finally { await rc.close(); }
    assert.equal((await verifyInChild([r.dir]))[0].status, 'ok');
  });

  it('backupsAreNewestFirstByTheirLastRecordNotByTheFilesTimeWhichAClockNeverSetMakes1970', () => {
    const rc = recovery();
    const dir = join(work, 'backup');
    mkdirSync(dir);
    const names = [`journal-${IDENTITY}-0000000012.posbak`, `journal-${IDENTITY}-0000000040-2026-11-21T02-00-00-000Z.posbak`, `journal-${IDENTITY}-0000000031-reset.posbak`];
    for (const n of names) writeFileSync(join(dir, n), 'x');
    // The newest backup was written while the clock read 1970 (a dead RTC, before NTP).
    utimesSync(join(dir, names[1]), 0, 0);
    utimesSync(join(dir, names[0]), new Date('2026-11-20T00:00:00Z'), new Date('2026-11-20T00:00:00Z'));
    assert.deepEqual(rc.backups().map((f) => basename(f)), [names[1], names[2], names[0]]);
  });

  it('aLostWriteAheadLogIsRepairedByKeepingDataMdbNotByAnOlderBackupAndTheJournalGoesOn', async () => {
    // The rig's sales are in the log (no checkpoint since): the log deleted loses them, and
    // repair must not make it worse by restoring a backup older than data.mdb.
    const rc = recovery();
    const session = await rc.login('099', '9999');
    mkdirSync(join(work, 'backup'));
    await rc.exportTo(join(work, 'backup'), PASS, session);
    await rc.close();
    const j0 = await Journal.open({ dir: r.dir, identity: IDENTITY, readOnly: true });
    const lmdbLast = j0.checkpointedSeq;
    await j0.close();
    rmSync(join(r.dir, 'journal.wal'));
    writeFileSync(join(r.dir, 'journal.wal'), Buffer.alloc(4096 * 256, 0x77)); // written over
    const v = await rc.verifyJournal();
    assert.equal(v.ok, false);
    assert.equal(await rc.repairRestores(), false, 'no backup, no passphrase asked');
    const rep = await rc.repair(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    const en = (rep.text ?? []).map((l) => l.en).join(' | ');
    assert.match(en, new RegExp(`log lost: records ${lmdbLast + 1}\\+ gone`));
    assert.match(en, /kept at .*journal\.wal\.lost-/);
    assert.equal(rep.detail?.restoredFrom, undefined, 'no backup restored');
    await rc.close();
    const after = (await verifyInChild([r.dir]))[0];
    assert.equal(after.status, 'ok');
    assert.ok('records' in after && after.records > lmdbLast, 'data.mdb kept, and the repair journaled itself after it');
  });

  /**
   * Two records acknowledged into the write-ahead log after a backup (no checkpoint since: a power
   * cut), then one bit of the log's last commit flips at rest. Returns the last record's seq.
   */
  async function bitFlippedInTheLogsLastCommit(rc: Recovery): Promise<number> {
    const session = await rc.login('099', '9999');
    mkdirSync(join(work, 'backup'));
    assert.equal((await rc.exportTo(join(work, 'backup'), PASS, session)).ok, true);
    await rc.close();
    const j = await Journal.open({ dir: r.dir, identity: IDENTITY });
    await j.append('test', { after: 'the backup', n: 1 });
    await j.append('test', { after: 'the backup', n: 2 });
    const lastSeq = j.lastSeq;
    await j.close({ writeDeferred: false });
    const last = lastCommitOf(r.dir);
    assert.equal(last.firstSeq, lastSeq, 'the last record is the log\'s last commit');
    flipLogBit(r.dir, last.offset + WAL_COMMIT_HEADER_BYTES + 70, 0x01);
    return lastSeq;
  }

  it('aBitFlippedInTheLogsLastCommitIsDamageNamedByVerifyAndSalvageKeepsTheRecordsBeforeIt', async () => {
    const rc = recovery();
    const lastSeq = await bitFlippedInTheLogsLastCommit(rc);
    const v = await rc.verifyJournal();
    assert.equal(v.ok, false, 'damage, not a torn tail a normal open would cut');
    assert.equal(v.code, 'E-STO-05');
    const shown = v.lines.join('\n');
    assert.match(shown, new RegExp(`E-STO-05 damaged at record ${lastSeq}`));
    assert.match(shown, /journal\.wal: a bit of an acknowledged commit changed/);
    assert.equal(await rc.repairRestores(), true, 'repair would restore a backup: nothing is cut in place');
    const rep = await rc.salvage(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    assert.equal(rep.detail?.recoveredCount, lastSeq - 1, 'every record before the damaged one, the log\'s first included');
    // Nothing intact follows the damaged record, and it is named lost all the same (not "nothing lost").
    assert.equal(rep.detail?.firstMissingSeq, lastSeq);
    const salvaged = (withSalvageLoss(rep).text ?? []).map((t) => t.en).join('\n');
    assert.match(salvaged, new RegExp(`not recovered: record ${lastSeq} on`));
    assert.doesNotMatch(salvaged, /nothing lost/);
    assert.ok(existsSync(String(rep.detail?.movedAside)), 'the damaged journal kept');
    const j = await rc.journal();
    assert.equal(j.state, 'ok');
    assert.equal(j.get(lastSeq - 1)?.payload.n, 1);
    await rc.close();
  });

  it('aBitFlippedInTheLogsLastCommitIsRepairedByTheBackupNamingTheRecordsItDoesNotHold', async () => {
    const rc = recovery();
    const lastSeq = await bitFlippedInTheLogsLastCommit(rc);
    const rep = await rc.repair(ADMIN, PASS);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    assert.ok(existsSync(String(rep.detail?.movedAside)), 'the damaged journal kept');
    const backupLast = Number(rep.detail?.records);
    assert.ok(rep.lines.includes(`records ${backupLast + 1}..${lastSeq - 1}+ not in the backup`), `the records after the backup are named: ${rep.lines.join(' | ')}`);
    assert.ok(rep.lines.includes('try salvage on the kept copy'), 'salvage offered for them');
    await rc.close();
    assert.equal((await verifyInChild([r.dir]))[0].status, 'ok');
  });

  it('aHealthyJournalNeedsNoRestoreButACheckTheFileChangedSinceIsNotReused', async () => {
    const rc = recovery();
    const session = await rc.login('099', '9999');
    mkdirSync(join(work, 'backup'));
    assert.equal((await rc.exportTo(join(work, 'backup'), PASS, session)).ok, true);
    assert.equal(await rc.repairRestores(), false, 'healthy: nothing to restore');
    // The journal damaged after the check (the menu waited at its passphrase): repair looks again.
    await flipByte(r.dir, 5, 70);
    const rep = await rc.repair(ADMIN, PASS);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    assert.ok(existsSync(String(rep.detail?.movedAside)), 'restored from the backup, the damaged journal kept');
    await rc.close();
  });

  it('exportsToAUsbPathAndImportsOnAFreshStorageDirectoryWithTheChainVerified', async () => {
    const rc = recovery({ logDir: join(work, 'logs') });
    mkdirSync(join(work, 'logs'));
    writeFileSync(join(work, 'logs', 'pos.log'), '{"msg":"boot"}\n');
    const session = await rc.login('099', '9999');
    assert.equal(await code(rc.exportTo(join(work, 'no-usb-stick'), PASS, session)), 'E-STO-09');
    writeFileSync(join(work, 'a-file'), '');
    assert.equal(await code(rc.exportTo(join(work, 'a-file'), PASS, session)), 'E-STO-09');
    const usb = join(work, 'usb');
    mkdirSync(usb);
    const rep = await rc.exportTo(usb, PASS, session);
    assert.equal(rep.ok, true);
    assert.equal(rep.detail?.logs, 1);
    const original = await rc.journal();
    const lastSeq = Number(rep.detail?.records);
    const lastDigest = original.get(lastSeq)?.digest.toString('hex');
    await rc.close();

    const fresh = join(work, 'fresh-storage', 'journal');
    const rc2 = new Recovery({ journalDir: fresh, backupDir: join(work, 'fresh-storage', 'backup'), clock: () => r.clock.ms });
    assert.equal(await code(rc2.importBackup(String(rep.detail?.file), 'wrong passphrase', ADMIN)), 'E-STO-08');
    const imp = await rc2.importBackup(String(rep.detail?.file), PASS, ADMIN);
    assert.equal(imp.ok, true);
    const j = await rc2.journal();
    assert.equal(j.state, 'ok');
    assert.equal(j.identity, IDENTITY);
    assert.equal(j.records(lastSeq, lastSeq).next().value?.digest.toString('hex'), lastDigest, 'same chain up to the exported record');
    await rc2.close();
    const [v] = await verifyInChild([fresh], IDENTITY);
    assert.equal(v.status, 'ok');
    assert.ok((await adminActions(fresh)).includes('recovery:import ok'));
  });

  it('salvagesTheIntactRecordsAndPutsThemInPlace', async () => {
    const rc = recovery();
    await flipByte(r.dir, 6, 70);
    const rep = await rc.salvage(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    // LMDB copies pages on write: the intact old copy of record 6 is still in the file.
    assert.ok(Number(rep.detail?.recoveredCount) >= 5);
    assert.ok(existsSync(String(rep.detail?.movedAside)));
    const j = await rc.journal();
    assert.equal(j.state, 'ok');
    await rc.close();
  });

  it('resendsPendingWorkResumingAnInterruptedSettlement', async () => {
    const j = await Journal.open({ dir: r.dir });
    const t = openTerminal({ journal: j, host: r.transport, config: config(), deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(5), clock: () => r.clock.ms, scryptN: 1 << 10 });
    await t.store.commit([rec.settlementStep({ batch: t.store.state.batch, step: 'begun', totals: batchTotals(t.store.state) })]);
    await j.close(); // power cut after "begun"
    const rc = recovery();
    const rep = await rc.resendPending(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    assert.match(rep.lines.join('\n'), /settlement: batch 1 balanced/);
    assert.equal((await rc.journal()).state, 'ok');
    await rc.close();
    assert.ok((await adminActions(r.dir)).includes('recovery:resend ok'));
  });

  it('resendsAPendingIssuerScriptNoticeSigningOnFirstAndClearsItOnThe0630', async () => {
    const j = await Journal.open({ dir: r.dir });
    const t = openTerminal({ journal: j, host: r.transport, config: config(), deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(6), clock: () => r.clock.ms, scryptN: 1 << 10 });
    await t.engine.signOn(CASHIER);
    r.sim.setFault(parseFaultSpec('issuer-script:72-put-data'));
    const card = emvCard({ kind: 'ic', name: 'script', pan: '6222020000007771', expiry: '301231', psn: 1, atc: 'counter' });
    const input = await readCard(new ChipCardReader(card), ['insert'], 1000, { ...t.engine.cardRequest('sale', 4_500), holdCard: true });
    assert.equal((await t.engine.sale({ amountFen: 4_500, card: input, session: CASHIER })).outcome, 'approved');
    assert.equal(t.engine.pendingScriptNotices(), 1);
    await j.close(); // power cut with the notice pending
    const noticesBefore = r.sim.scriptNotices().length;
    const rc = recovery();
    const rep = await rc.resendPending(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    assert.match(rep.lines.join('\n'), /script notices: 1 sent, 0 pending/);
    assert.equal(r.sim.scriptNotices().length, noticesBefore + 1, 'the 0620 reached the host');
    const types = r.sim.requests().map((q) => q.type);
    assert.ok(types.lastIndexOf('signOn') < types.lastIndexOf('scriptNotice'), 'signed on before the MAC\'d notice');
    await rc.close();
    const after = await Journal.open({ dir: r.dir, readOnly: true });
    try {
      assert.equal([...after.records()].filter((x) => x.type === RecordType.scriptNoticeCleared).length, 1, 'cleared in the journal');
    } finally { await after.close(); }
  });

  it('reprintsTheLastReceiptAndTheLastSettlementReportMarkedDuplicate', async () => {
    const rc = recovery();
    const before = sim.printer().receipts().length;
    const rep = await rc.reprintLastReceipt(CASHIER);
    assert.equal(rep.ok, true);
    assert.equal(await code(rc.reprintLastReport(ADMIN)), 'E-OPR-06', 'no settlement yet');
    const t = await (rc as unknown as { terminal(): Promise<import('../../runtime/terminal').Terminal> }).terminal();
    const { settle } = await import('../../runtime/txn/settlement');
    await settle(t.engine, SUPERVISOR);
    assert.equal((await rc.reprintLastReport(ADMIN)).ok, true);
    await rc.close();
    assert.ok(sim.printer().receipts().length >= before + 2);
    const text = sim.printer().lines.join('\n');
    assert.ok((text.match(/DUPLICATE/g) ?? []).length >= 2, 'both reprints marked');
    assert.match(text, /SETTLEMENT REPORT/);
  });

  describe('network settings and the connectivity test (loopback only)', () => {
    let server: Server;
    let port: number;
    before(async () => {
      server = createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const base = (): NetworkSettings => ({ interface: 'lo', mode: 'static', address: '127.0.0.1', prefixLength: 8, host: '127.0.0.1', port });

    it('storesTheSettingsAsASettingsRecordAndPassesEveryStepOnLoopback', async () => {
      const rc = recovery();
      assert.equal(await code(rc.saveNetworkSettings({ ...base(), address: '999.1.1.1' }, ADMIN)), 'E-OPR-08');
      await rc.saveNetworkSettings(base(), ADMIN);
      assert.deepEqual(await rc.networkSettings(), base());
      const rep = await rc.testNetwork();
      assert.equal(rep.ok, true, rep.lines.join('\n'));
      assert.deepEqual((rep.detail?.steps as Array<{ step: string }>).map((s) => s.step), ['interface', 'address', 'gateway', 'dns', 'connect']);
      await rc.close();
    });

    it('namesTheFirstFailingStepWithItsCode', async () => {
      const rc = recovery({ net: { gatewayReachable: async () => false, resolve: async () => { throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' }); } } });
      const closedPort = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); }); });
      const cases: Array<[NetworkSettings, string, string]> = [
        [{ ...base(), interface: 'nosuch0' }, 'interface', 'E-NET-01'],
        [{ ...base(), address: '10.9.9.9' }, 'address', 'E-NET-02'],
        [{ ...base(), gateway: '127.0.0.2' }, 'gateway', 'E-NET-03'],
        [{ ...base(), host: 'acquirer.invalid' }, 'dns', 'E-NET-04'],
        [{ ...base(), port: closedPort }, 'connect', 'E-NET-05'],
      ];
      for (const [s, step, c] of cases) {
        const rep = await rc.testNetwork(s);
        const steps = rep.detail?.steps as Array<{ step: string; ok: boolean; code?: string }>;
        assert.deepEqual([rep.ok, rep.code, steps[steps.length - 1].step], [false, c, step], rep.lines.join('\n'));
      }
      await rc.close();
      const slow = recovery({ net: { connect: async () => ({ result: 'timeout', detail: 'no answer' }) } });
      assert.equal((await slow.testNetwork(base())).code, 'E-NET-06');
      await slow.close();
    });
  });

  it('factoryResetSaysWhatItErasesNeedsTwoConfirmationsUnsettledAndKeepsTheIdentity', async () => {
    const rc = recovery();
    const plan = await rc.factoryResetPlan();
    assert.equal(plan.settled, false);
    assert.match(plan.erases.join('\n'), /NOT SETTLED/);
    assert.equal(await code(rc.factoryReset({ confirmations: 1 }, ADMIN)), 'E-OPR-07');
    assert.equal(await code(rc.factoryReset({ confirmations: 2 }, SUPERVISOR)), 'E-OPR-04');
    const rep = await rc.factoryReset({ confirmations: 2, passphrase: PASS }, ADMIN);
    assert.equal(rep.ok, true);
    assert.ok(existsSync(String(rep.detail?.backup)), 'backup first');
    assert.ok(existsSync(join(String(rep.detail?.movedAside), 'data.mdb')), 'old journal moved aside, not deleted');
    const j = await rc.journal();
    const types = [...j.records()].map((x) => x.type);
    assert.ok(types.includes(RecordType.terminalIdentity) || types.includes(RecordType.operator));
    assert.ok(!types.includes(RecordType.txnBegin) && !types.includes(RecordType.keys), 'transactions and keys gone');
    assert.equal(j.identity, IDENTITY);
    await rc.close();
    const again = recovery();
    assert.deepEqual(await again.login('099', '9999'), ADMIN, 'the administrator can still log in');
    assert.equal((await again.factoryResetPlan()).settled, true);
    await again.close();
    assert.ok((await adminActions(r.dir)).includes('recovery:factory-reset ok'));
  });

  it('aFactoryResetCarriesTheOperatorsButNotOneDeleted', async () => {
    const j = await Journal.open({ dir: r.dir });
    const deleted = rec.operatorDeleted({ number: '001', role: 'cashier', event: 'deleted', by: '099' });
    await j.append(deleted.type, deleted.payload);
    await j.close();
    const rc = recovery();
    assert.equal((await rc.factoryReset({ confirmations: 2, passphrase: PASS }, ADMIN)).ok, true);
    await rc.close();
    const again = recovery();
    assert.equal(await code(again.login('001', '1111')), 'E-OPR-05', 'the deleted cashier is not back');
    assert.equal((await again.authenticate('002', '2222')).role, 'supervisor', 'the others are carried');
    await again.close();
  });

  it('theLcdMenuAdmitsOnlyTheServiceAdministratorAndJournalsAMerchantAdministratorsRefusal', async () => {
    const service = { operator: '000', password: '80386042' };
    const rc = recovery({ fallbackAdmin: async (op, pw) => op === service.operator && pw === service.password });
    const merchant = await rc.authenticate('099', '9999');
    assert.equal(await code(rc.admit(merchant, { serviceOnly: true })), 'E-OPR-04');
    assert.deepEqual(await rc.admit(merchant), ADMIN, 'the command line (pos recovery) still takes any administrator');
    const technician = await rc.authenticate(service.operator, service.password);
    assert.deepEqual(await rc.admit(technician, { serviceOnly: true }), { operator: '000', role: 'administrator' });
    await rc.close();
    const actions = await adminActions(r.dir);
    assert.deepEqual(actions.filter((a) => a.startsWith('recovery:login')), ['recovery:login refused E-OPR-04', 'recovery:login ok', 'recovery:login ok']);
  });

  it('rebootsAndPowersOffThroughTheSystemHookAfterJournalingTheAction', async () => {
    const rc = recovery();
    assert.equal(await code(rc.reboot(CASHIER)), 'E-OPR-04');
    await rc.reboot(ADMIN);
    await rc.powerOff(ADMIN);
    assert.deepEqual(rebooted, ['reboot', 'power-off']);
    const actions = await adminActions(r.dir);
    assert.ok(actions.includes('recovery:reboot ok') && actions.includes('recovery:power-off ok'));
  });
});

/**
 * The archive of settled batches (runtime/archive.ts, issue 14 goal 2): a settled journal is
 * written to a sealed archive file and replaced by a new journal carrying its state. The new
 * journal must replay to the same state, the trading after it must go on as if nothing happened
 * (a refund of an archived sale names its original, a hold taken before completes, operators log
 * in), the archive must verify, and a power cut at any step must leave a journal that does.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { main as pos } from '../../boot/pos';
import { silentLogger } from '../../common/log';
import { ARCHIVE_FILE_SUFFIX, ArchiveStep, archiveBlocker, archiveDirFor, archiveJournal, removeLeftovers, removeUnlinkedArchives } from '../../runtime/archive';
import { Store } from '../../runtime/store';
import type { TerminalState } from '../../runtime/terminal-state';
import { PeriodicBackup, backupSeqOf, importFromFile, readBackupManifest } from '../../storage/backup';
import { Recovery } from '../../boot/recovery';
import { fixedDeviceKey } from '../../runtime/device-key';
import { openForBoot } from '../../storage/boot-open';
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { flipByte, removeDir, tempDir } from '../../storage/testing';
import { isPosError } from '../../common/errors';
import { unpackFrame, textField } from '../../runtime/host/packager';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { settle } from '../../runtime/txn/settlement';
import { HostExchange } from '../../runtime/txn/engine';
import { ADMIN, CASHIER, DEVICE_KEY, IDENTITY, SUPERVISOR, Rig, magCard, rig, withOperators } from './harness';

/** The state as plain data, in its maps' order (the refund index evicts the oldest first). */
function plain(s: TerminalState): unknown {
  const walk = (v: unknown): unknown => {
    if (v instanceof Map) return [...v.entries()].map(([k, x]) => [k, walk(x)]);
    if (v instanceof Set) return [...v].map(walk);
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  // Left out: the record number, and the index of settled transactions' records for reprints
  // (it points into the archived journal: a reprint by trace of an archived batch is not in the live one).
  const { lastSeq: _seq, settledTxns: _settled, ...rest } = s;
  return walk(rest);
}

const deviceKey = (): Buffer => DEVICE_KEY;

class Cut extends Error {}

describe('runtime/archive: settled batches archived, the state carried into a new journal', function () {
  this.timeout(120_000);
  let r: Rig;
  let side = '';
  let base = '';
  const frames: Buffer[] = [];
  const wired = (t: HostExchange): HostExchange => ({ exchange: async (req: Buffer) => { frames.push(Buffer.from(req)); return t.exchange(req); } } as HostExchange);
  beforeEach(async () => {
    frames.length = 0;
    // The journal in a folder of its own, the device key file beside it (where the shell looks).
    base = tempDir('archive-');
    writeFileSync(join(base, 'device.key'), DEVICE_KEY);
    r = await rig({ dir: join(base, 'journal'), host: wired });
    side = tempDir('archive-side-');
    await withOperators(r);
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => {
    await r.close().catch(() => undefined);
    removeDir(side);
    removeDir(base);
  });

  /** Two settled batches: sales, a hold, a refund; the last batch's report printed. */
  async function trade(): Promise<{ saleRrn: string; saleDate: string; holdStan: number; saleBatch: number; saleStan: number }> {
    const e = r.terminal.engine;
    const sale = await e.sale({ amountFen: 12_300, card: magCard(), session: CASHIER });
    assert.equal(sale.outcome, 'approved');
    if (sale.outcome !== 'approved') throw new Error('sale');
    await e.markPrinted(sale.txn.stan, 'merchant', false);
    const hold = await e.preAuth({ amountFen: 20_000, card: magCard(), session: CASHIER });
    assert.equal(hold.outcome, 'approved');
    if (hold.outcome !== 'approved') throw new Error('hold');
    await e.markPrinted(hold.txn.stan, 'merchant', false);
    await settle(e, SUPERVISOR);
    for (const amountFen of [500, 700]) {
      const s = await e.sale({ amountFen, card: magCard(), session: CASHIER });
      if (s.outcome === 'approved') await e.markPrinted(s.txn.stan, 'merchant', false);
    }
    await settle(e, SUPERVISOR);
    return { saleRrn: sale.txn.rrn as string, saleDate: sale.txn.hostDate as string, holdStan: hold.txn.stan, saleBatch: sale.txn.batch, saleStan: sale.txn.stan };
  }

  async function replayOf(dir: string): Promise<{ state: TerminalState; journal: Journal }> {
    const journal = await Journal.open({ dir, identity: IDENTITY });
    return { state: Store.load(journal).state, journal };
  }

  it('theNewJournalReplaysToTheSameStateAndTradingGoesOn', async () => {
    const orig = await trade();
    const before = r.terminal.store.state;
    const count = r.journal.lastSeq;
    assert.equal(archiveBlocker(before, r.journal, count + 1), `${count} records, fewer than ${count + 1}`);
    assert.equal(archiveBlocker(before, r.journal, 1), undefined);
    const expected = plain(before);
    const res = await archiveJournal({ journal: r.journal, state: before, journalDir: r.dir, archiveDir: join(side, 'archive'), deviceKey });
    assert.equal(res.count, count);

    const after = await replayOf(r.dir);
    try {
      assert.ok(after.journal.lastSeq < count, `the live journal is smaller: ${after.journal.lastSeq} records against ${count}`);
      assert.deepStrictEqual(plain(after.state), expected);
      const head = after.journal.get(2);
      assert.equal(head?.type, RecordType.recovery);
      assert.equal(head?.payload.action, 'archived');
      assert.equal(head?.payload.count, count);
    } finally {
      await after.journal.close();
    }

    // The archive verifies whole (trailer, tag, chain from the genesis, manifest) and ends where
    // the new journal says the old one ended.
    const scratch = join(side, 'verify');
    const imported = await importFromFile(res.file, scratch, { deviceKey });
    assert.equal(imported.manifest.count, count);
    const headDigest = (await replayOf(r.dir));
    try {
      assert.equal(imported.manifest.lastDigest, headDigest.journal.get(2)?.payload.digest);
    } finally {
      await headDigest.journal.close();
    }

    // Trading goes on: a refund of the archived sale names its batch and STAN in 61, the hold
    // taken before completes, the cashier logs in.
    await r.reboot();
    const e = r.terminal.engine;
    assert.equal((await r.terminal.operators.login('001', '1111')).operator, '001');
    await e.signOn(CASHIER);
    const refund = await e.refund({ amountFen: 1_000, card: magCard(), session: SUPERVISOR, origRrn: orig.saleRrn, origDateMmdd: orig.saleDate });
    assert.equal(refund.outcome, 'approved');
    const six = (n: number): string => String(n).padStart(6, '0');
    const refundMsg = frames.map((f) => unpackFrame(CUP_PROFILE, f).message).filter((m) => m.mti === '0220' && textField(m, 60)?.startsWith('25')).pop();
    assert.equal(refundMsg && textField(refundMsg, 61)?.slice(0, 12), six(orig.saleBatch) + six(orig.saleStan));
    const done = await e.completion({ stan: orig.holdStan }, 20_000, CASHIER);
    assert.equal(done.outcome, 'approved');
    assert.ok(r.terminal.engine.state.stanLast > 0);
  });

  it('twoArchivesInARowAreLinkedAndVerifyWhole; a changed archive is named by pos journal archives --verify', async () => {
    await trade();
    const archiveDir = `${r.dir}.archive`;
    const first = await archiveJournal({ journal: r.journal, state: r.terminal.store.state, journalDir: r.dir, archiveDir, deviceKey });
    await r.reboot();
    await r.terminal.engine.signOn(CASHIER);
    const s = await r.terminal.engine.sale({ amountFen: 4_400, card: magCard(), session: CASHIER });
    if (s.outcome === 'approved') await r.terminal.engine.markPrinted(s.txn.stan, 'merchant', false);
    await settle(r.terminal.engine, SUPERVISOR);
    const expected = plain(r.terminal.store.state);
    const second = await archiveJournal({ journal: r.journal, state: r.terminal.store.state, journalDir: r.dir, archiveDir, deviceKey });
    assert.notEqual(first.file, second.file);
    const j = await replayOf(r.dir);
    try {
      assert.deepStrictEqual(plain(j.state), expected, 'the state survives two archives');
      // Numbers across archives: backups and archives of the newer journal sort after the older's.
      assert.equal(j.journal.baseSeq, first.count + second.count);
      assert.ok(basename(second.file) > basename(first.file), `${basename(second.file)} sorts after ${basename(first.file)}`);
      const backupDir = join(side, 'backups');
      mkdirSync(backupDir);
      const name = basename(new PeriodicBackup(j.journal, { backupDir, everyRecords: 1, keepCountMax: 3, deviceKey }).backupNow());
      assert.equal(backupSeqOf(name, IDENTITY), first.count + second.count + j.journal.lastSeq);
    } finally {
      await j.journal.close();
    }
    const lines: string[] = [];
    const run = (): Promise<number> => { lines.length = 0; return pos(['journal', 'archives', '--dir', r.dir, '--verify'], (l) => lines.push(l), (l) => lines.push(l)); };
    assert.equal(await run(), 0, lines.join('\n'));
    assert.equal(lines.filter((l) => l.includes('  linked  ') && l.endsWith('  verified')).length, 2, lines.join('\n'));
    assert.ok(lines.includes('every linked archive verified'), lines.join('\n'));
    // A technician reads an archive as the README says: imported into a folder beside the journal's.
    const scratch = join(base, 'scratch');
    lines.length = 0;
    assert.equal(await pos(['journal', 'import', '--in', first.file, '--dir', scratch], (l) => lines.push(l), (l) => lines.push(l)), 0, lines.join('\n'));
    lines.length = 0;
    assert.equal(await pos(['journal', 'dump', '--dir', scratch], (l) => lines.push(l), (l) => lines.push(l)), 0, lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('txn-begin') || l.includes('txnBegin')), 'the archived sales are there');
    // One byte of the older archive changed: its SHA-256 no longer matches its link.
    const bytes = readFileSync(first.file);
    bytes[bytes.length - 40] ^= 0x01;
    writeFileSync(first.file, bytes);
    assert.equal(await run(), 4, lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith(basename(first.file)) && l.includes('SHA-256')), lines.join('\n'));
  });

  it('theRecoveryExportCarriesEachArchiveSealedUnderItsPassphrase', async () => {
    await trade();
    const archived = await archiveJournal({ journal: r.journal, state: r.terminal.store.state, journalDir: r.dir, archiveDir: `${r.dir}.archive`, deviceKey });
    const usb = join(side, 'usb');
    mkdirSync(usb);
    const rec = new Recovery({ journalDir: r.dir, backupDir: join(side, 'backups'), identity: IDENTITY, clock: () => r.clock.ms, deviceKey: fixedDeviceKey(DEVICE_KEY) });
    try {
      const rep = await rec.exportTo(usb, 'correct horse', ADMIN);
      assert.equal(rep.ok, true, rep.lines.join('\n'));
      assert.ok(rep.lines.includes('1 archives of settled batches'), rep.lines.join('\n'));
      const exported = readdirSync(usb).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX));
      assert.equal(exported.length, 1);
      // Off the terminal: the passphrase opens it, not the device key (it may be read elsewhere).
      const back = await importFromFile(join(usb, exported[0]), join(side, 'read'), { passphrase: 'correct horse' });
      assert.equal(back.manifest.count, archived.count);
      assert.equal(readBackupManifest(join(usb, exported[0])).kdf?.name, 'scrypt');
    } finally {
      await rec.close();
    }
  });

  it('damageInAJournalThatContinuesAnArchiveIsFoundAtBootAsBefore', async () => {
    await trade();
    await archiveJournal({ journal: r.journal, state: r.terminal.store.state, journalDir: r.dir, archiveDir: `${r.dir}.archive`, deviceKey });
    // A carried record rots (its payload): boot stops in recovery naming it, as for any journal.
    await flipByte(r.dir, 5, 80);
    await assert.rejects(openForBoot({ dir: r.dir, identity: IDENTITY, logger: silentLogger }), (e: unknown) => {
      assert.ok(isPosError(e) && e.code === 'E-STO-05' && e.detail.seq === 5, String(e));
      return true;
    });
  });

  it('isNotArchivedWhileAnythingIsOwedOrTheBatchHasTransactions', async () => {
    await trade();
    const s = await r.terminal.engine.sale({ amountFen: 900, card: magCard(), session: CASHIER });
    assert.equal(s.outcome, 'approved');
    assert.equal(archiveBlocker(r.terminal.store.state, r.journal, 1), 'the open batch has transactions');
  });

  it('anArchiveFileACutLeftBeforeTheSwapIsRemovedWhileLinkedOnesAndOnesHoldingRecordsTheJournalLacksStay', async () => {
    await trade();
    const archives = (): string[] => (existsSync(archiveDirFor(r.dir)) ? readdirSync(archiveDirFor(r.dir)).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX)) : []);
    await assert.rejects(archiveJournal({
      journal: r.journal, state: r.terminal.store.state, journalDir: r.dir, archiveDir: archiveDirFor(r.dir), deviceKey, afterStep: (s) => { if (s === 'archive-written') throw new Cut(s); },
    }), Cut);
    const orphan = archives();
    assert.equal(orphan.length, 1, 'the cut left the archive file, linked by no journal');
    const live = await Journal.open({ dir: r.dir, identity: IDENTITY });
    try {
      // A journal restored from a backup one record older: the file holds a record it lacks: kept.
      const older = { baseSeq: live.baseSeq, lastSeq: live.lastSeq - 1, identity: live.identity, get: (k: number) => (k < live.lastSeq ? live.get(k) : undefined) };
      assert.deepEqual(removeUnlinkedArchives(r.dir, older), []);
      assert.deepEqual(archives(), orphan);
      // The live journal holds every record of it: it goes.
      assert.deepEqual(removeUnlinkedArchives(r.dir, live), orphan);
      assert.deepEqual(archives(), []);
    } finally {
      await live.close();
    }
    // A complete archive is linked by the new journal: it stays.
    await r.reboot();
    await archiveJournal({ journal: r.journal, state: r.terminal.store.state, journalDir: r.dir, archiveDir: archiveDirFor(r.dir), deviceKey });
    const linked = archives();
    assert.equal(linked.length, 1);
    const next = await Journal.open({ dir: r.dir, identity: IDENTITY });
    try {
      assert.deepEqual(removeUnlinkedArchives(r.dir, next), []);
      assert.deepEqual(archives(), linked);
    } finally {
      await next.close();
    }
  });

  const STEPS: ArchiveStep[] = ['archive-written', 'built', 'intent-written', 'old-set-aside', 'built-in-place', 'intent-removed'];
  for (const step of STEPS) {
    it(`aPowerCutAfter_${step}_leavesAJournalThatBootsToTheSameState`, async () => {
      await trade();
      const before = r.terminal.store.state;
      const expected = plain(before);
      await assert.rejects(archiveJournal({
        journal: r.journal, state: before, journalDir: r.dir, archiveDir: join(side, 'archive'), deviceKey, afterStep: (s) => { if (s === step) throw new Cut(s); },
      }), Cut);
      const opened = await openForBoot({ dir: r.dir, identity: IDENTITY, logger: silentLogger });
      try {
        assert.deepStrictEqual(plain(Store.load(opened.journal).state), expected);
      } finally {
        opened.journal.close().catch(() => undefined);
        opened.done();
      }
      await new Promise((res) => setTimeout(res, 50));
      // What the cut left beside the journal goes at the next archive (never the live journal).
      removeLeftovers(r.dir);
      const parent = join(r.dir, '..');
      const base = r.dir.slice(parent.length + 1);
      assert.deepEqual(readdirSync(parent).filter((f) => f.startsWith(`${base}.archiving-`) || f.startsWith(`${base}.archived-`)), []);
      assert.ok(existsSync(join(r.dir, 'data.mdb')));
    });
  }
});

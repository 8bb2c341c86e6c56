import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_TXN_BYTES_MAX, Journal, checkpointTransactions } from './journal';
import { RecordType } from './record';
import { readStored, removeDir, tempDir } from './testing';
import { WAL_BYTES, WAL_COMMIT_HEADER_BYTES, walMarkPath, walPath } from './wal';
import { isPosError } from '../common/errors';
import { silentLogger } from '../common/log';
import { openForBoot } from './boot-open';
import { commitOffsets, cutWithRecordsInTheLog, flipLogBit, lastCommitOf, supersededLog, tearCommitPage } from './testing-wal';
import { metaTxnId, openEnv } from './lmdb-env';

const ID = 'SIM-WAL-1';

/** Records 2..4 in the log, then record 5's commit torn (part of its payload zeroed); returns that commit's offset. */
async function tornFifthRecord(dir: string): Promise<number> {
  await cutWithRecordsInTheLog(dir, ID, 4);
  const [, , , last] = commitOffsets(dir);
  const raw = readFileSync(walPath(dir));
  raw.fill(0, last + WAL_COMMIT_HEADER_BYTES + 40, last + WAL_COMMIT_HEADER_BYTES + 60);
  writeFileSync(walPath(dir), raw);
  return last;
}

describe('journal: the write-ahead log at open (JOURNAL_FORMAT.md, "Write-ahead log")', () => {
  const dirs: string[] = [];
  const fresh = (): string => { const d = tempDir('posj-jwal-'); dirs.push(d); return d; };
  afterEach(() => { for (const d of dirs.splice(0)) removeDir(d); });

  it('recordsOnlyInTheLogAreReadAfterACutAndPutInLmdbByAWritableOpen', async () => {
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 5);
    assert.equal(await readStored(dir, 6), undefined, 'data.mdb alone does not hold record 6');
    const look = await Journal.open({ dir, identity: ID, readOnly: true });
    assert.equal(look.lastSeq, 6, 'a read-only reader sees the log');
    assert.equal(look.get(6)?.payload.i, 5);
    assert.deepEqual([...look.raw()].map((e) => e.key), [1, 2, 3, 4, 5, 6], 'export reads them in order, once');
    await look.close();
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.lastSeq, 6);
    assert.equal(j.walRecordCount, 0, 'the open checkpointed what it replayed');
    assert.equal(j.checkpointedSeq, 6);
    await j.close();
    assert.ok(await readStored(dir, 6), 'data.mdb holds record 6 now');
    assert.equal(statSync(walPath(dir)).size, WAL_BYTES);
  });

  it('aCheckpointLmdbRefusesFailsTheJournalAndWritesNoneOfIt', async () => {
    // lmdbCommit puts with MDB_APPEND, which LMDB refuses for a seq at or below its last and
    // lmdb-js reports only as false. The open never leaves LMDB ahead of the tail; another writer
    // of data.mdb could: the checkpoint must stop, not drop the journal's own record silently.
    const dir = fresh();
    const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
    await j.append('test', { i: 1 });
    await j.append('test', { i: 2 });
    const first = j.checkpointedSeq + 1;
    assert.equal(j.walRecordCount, 2, 'both appends are in the log, not yet in LMDB');
    const foreign = Buffer.from('not this journal\'s record');
    const other = openEnv(dir);
    other.transactionSync(() => { other.putSync(first, foreign); });
    assert.throws(() => j.checkpointSync(), (e: unknown) => isPosError(e));
    assert.equal(j.state, 'failed', 'the journal refuses appends after it');
    await assert.rejects(j.append('test', { i: 3 }), (e: unknown) => isPosError(e));
    assert.deepEqual(other.getBinary(first), foreign, 'the record LMDB held stays as it was');
    assert.equal(other.getBinary(first + 1), undefined, 'the aborted checkpoint wrote none of its records');
    assert.equal(j.get(first + 1)?.payload.i, 2, 'the log still serves the journal\'s records');
    await j.close();
    await other.close();
  });

  it('aLargeCheckpointGoesToLmdbInBoundedTransactions', async () => {
    const dir = fresh();
    const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
    const note = 'n'.repeat(300);
    await Promise.all(Array.from({ length: 1200 }, (_, i) => j.append('test', { i, note })));
    assert.equal(j.walRecordCount, 1200, 'one group commit, all in the log');
    const tailBytes = [...j.raw(j.checkpointedSeq + 1)].reduce((n, e) => n + e.stored.length, 0);
    const txnsMin = Math.ceil(tailBytes / CHECKPOINT_TXN_BYTES_MAX);
    assert.ok(txnsMin >= 2, `the tail (${tailBytes} bytes) is larger than one transaction's share`);
    const before = metaTxnId(dir)!;
    j.checkpointSync();
    const txns = Number(metaTxnId(dir)! - before);
    assert.ok(txns >= txnsMin && txns <= txnsMin + 1, `${txns} LMDB transactions for ${tailBytes} bytes (each at most ${CHECKPOINT_TXN_BYTES_MAX})`);
    assert.equal(j.walRecordCount, 0);
    assert.equal(j.checkpointedSeq, j.lastSeq);
    await j.close();
    const again = await Journal.open({ dir, identity: ID, readOnly: true });
    assert.equal(again.openReport.damage, undefined);
    assert.equal(again.lastSeq, 1201);
    assert.equal(again.get(1201)?.payload.i, 1199);
    await again.close();
  });

  it('aCutBetweenACheckpointsTransactionsLosesNothing', async () => {
    // As a cut after the checkpoint's first transaction leaves it: LMDB holds the first records of
    // one commit of the log, the header still says none of them.
    const dir = fresh();
    const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
    await Promise.all(Array.from({ length: 40 }, (_, i) => j.append('test', { i })));
    const first = j.checkpointedSeq + 1;
    const stored = [...j.raw(first)].map((e) => e.stored);
    await j.close({ writeDeferred: false });
    assert.equal(commitOffsets(dir).length, 1, 'the 40 records are one commit of the log');
    const env = openEnv(dir);
    env.transactionSync(() => { for (let k = 0; k < 15; k++) env.putSync(first + k, stored[k]); });
    await env.close();
    const look = await Journal.open({ dir, identity: ID, readOnly: true, logger: silentLogger });
    assert.equal(look.openReport.damage, undefined);
    assert.deepEqual([...look.raw(first)].map((e) => e.stored), stored, 'every record once, in order: 15 from data.mdb, 25 from the log');
    await look.close();
    const reopened = await Journal.open({ dir, identity: ID, logger: silentLogger });
    assert.equal(reopened.state, 'ok');
    assert.equal(reopened.lastSeq, first + 39);
    assert.equal(reopened.walRecordCount, 0, 'the open put the other 25 in LMDB');
    await reopened.append('test', { i: 40 });
    await reopened.close();
    assert.deepEqual(await readStored(dir, first + 39), stored[39]);
  });

  it('truncatedWalTailIsIgnored', async () => {
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 4);
    const [, , , last] = commitOffsets(dir);
    // The last commit's frame half written, then the file itself cut short inside it.
    const raw = readFileSync(walPath(dir));
    raw.fill(0, last + WAL_COMMIT_HEADER_BYTES + 40, last + 400);
    writeFileSync(walPath(dir), raw.subarray(0, last + 300));
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'ok');
    assert.equal(j.get(4)?.payload.i, 3, 'records 2..4 kept');
    assert.equal(j.get(5)?.payload.action, 'tail-cut', 'the torn record 5 cut (never acknowledged); its seq goes to the tail-cut record');
    const next = await j.append('test', { after: 'cut' });
    assert.equal(next.seq, 6);
    await j.close();
    const again = await Journal.open({ dir, identity: ID, readOnly: true });
    assert.equal(again.state, 'ok');
    assert.equal(again.get(6)?.payload.after, 'cut');
    await again.close();
  });

  // Issue 14: LMDB's torn tail leaves a journaled trace (cutTornTail); the log's did not, so a
  // technician's `pos journal` could not see that a cut happened.
  it('tornLastCommitOfTheLogLeavesATailCutRecord', async () => {
    const dir = fresh();
    await tornFifthRecord(dir);
    const reader = await Journal.open({ dir, identity: ID, readOnly: true });
    assert.equal(reader.openReport.tornTail?.seq, 5, 'a reader (pos journal verify) reports the torn record');
    assert.equal(reader.lastSeq, 4);
    await reader.close();
    const j = await Journal.open({ dir, identity: ID });
    const cut = j.get(5);
    assert.equal(cut?.type, RecordType.recovery);
    assert.equal(cut?.payload.action, 'tail-cut');
    assert.equal(cut?.payload.seq, 5);
    assert.match(String(cut?.payload.reason), /journal\.wal/);
    assert.equal(j.lastSeq, 5);
    await j.close();
    const again = await Journal.open({ dir, identity: ID });
    assert.equal(again.lastSeq, 5, 'the cut is journaled once');
    assert.equal(again.openReport.tornTail, undefined);
    await again.close();
  });

  it('aStaleTornCommitBehindNewCommitsIsNotCutAgain', async () => {
    const dir = fresh();
    const last = await tornFifthRecord(dir);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.lastSeq, 5, 'record 5 is the tail-cut record');
    // The same bytes as records 2..4 again: the log's new commits end exactly where the torn one starts.
    for (let i = 1; i <= 3; i++) await j.append('test', { i, note: `record ${i + 1}` });
    assert.deepEqual(commitOffsets(dir).slice(0, 4).slice(-1), [last], 'the torn commit follows the new ones');
    await j.close({ writeDeferred: false });
    const again = await Journal.open({ dir, identity: ID });
    assert.equal(again.openReport.tornTail, undefined, 'the stale commit (record 5, before the cut) is the end of the log, not a torn tail');
    assert.equal(again.lastSeq, 8);
    assert.equal(again.get(8)?.payload.i, 3);
    await again.close();
  });

  it('flippedByteMidWalIsCorruption', async () => {
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 4);
    const [, second] = commitOffsets(dir);
    flipLogBit(dir, second + WAL_COMMIT_HEADER_BYTES + 70); // a payload byte of record 3
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged', 'a whole later commit follows the bad one: it had been flushed');
    assert.equal(j.damage?.seq, 3);
    assert.equal(j.get(2)?.payload.i, 1, 'the records before it stay readable');
    await assert.rejects(j.append('test', {}), (e: unknown) => isPosError(e) && e.code === 'E-STO-05');
    await j.close();
  });

  // JOURNAL_FORMAT.md, "Write-ahead log", "One bit changed": the last commit had been written
  // whole, flushed and acknowledged; a bit of it changed at rest. Its records are damage, never cut.
  it('aFlippedBitInTheLastAcknowledgedCommitIsDamageNotATornTail', async () => {
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 4); // records 2..5 in the log, a commit each
    const last = lastCommitOf(dir);
    assert.equal(last.firstSeq, 5);
    assert.equal(Math.floor(last.offset / 512), Math.floor((last.end - 1) / 512), 'the commit lies in one sector');
    const body = last.offset + WAL_COMMIT_HEADER_BYTES;
    const pristine = readFileSync(walPath(dir));
    const bits: Array<[string, number, number]> = [
      ['its first byte (the commit magic)', last.offset, 0x01],
      ['the commit header\'s count', last.offset + 5, 0x01],
      ['the commit header\'s firstSeq', last.offset + 11, 0x01],
      ['the commit header\'s bodyCrc', last.offset + 17, 0x40],
      ['the commit header\'s own CRC', last.offset + 22, 0x08],
      ['the frame magic', body, 0x02],
      ['the frame seq', body + 15, 0x01],
      ['the frame payload length', body + 19, 0x01],
      ['the frame payload CRC', body + 21, 0x20],
      ['the frame prevDigest', body + 40, 0x80],
      ['the frame header CRC', body + 66, 0x10],
      ['a payload byte', body + 70, 0x01],
      ['its last byte', last.end - 1, 0x80],
    ];
    for (const [what, at, mask] of bits) {
      writeFileSync(walPath(dir), pristine);
      flipLogBit(dir, at, mask);
      const flipped = readFileSync(walPath(dir));
      const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
      try {
        assert.equal(j.state, 'damaged', what);
        assert.equal(j.damage?.seq, 5, `${what}: damage at the commit's first record`);
        assert.match(j.damage?.reason ?? '', new RegExp(`^journal\\.wal: a bit of an acknowledged commit changed \\(byte ${at}, mask 0x${mask.toString(16).padStart(2, '0')}`), what);
        assert.equal(j.openReport.tornTail, undefined, `${what}: not a torn tail`);
        assert.equal(j.lastSeq, 4, what);
        assert.equal(j.get(4)?.payload.i, 3, `${what}: the records before it stay readable`);
        await assert.rejects(j.append('test', {}), (e: unknown) => isPosError(e) && e.code === 'E-STO-05', what);
      } finally {
        await j.close();
      }
      assert.ok(readFileSync(walPath(dir)).equals(flipped), `${what}: nothing cut, nothing repaired`);
      const reader = await Journal.open({ dir, identity: ID, readOnly: true, logger: silentLogger });
      assert.equal(reader.openReport.damage?.seq, 5, `${what}: a reader (pos journal verify, boot's verifying child) reports it`);
      await reader.close();
    }
    await assert.rejects(openForBoot({ dir, identity: ID, logger: silentLogger }), (e: unknown) => isPosError(e) && e.code === 'E-STO-05' && e.detail.seq === 5, 'boot goes to recovery naming the record');
  });

  it('aTornLastCommitIsStillCutAsBeforeWhetherItsPagesAreZerosOrStale', async () => {
    // The last commit (7 records of ~1.5 KB: 3 or 4 pages) in flight at a cut, its pages as the
    // disk left them: zeros in a log's first run, an earlier run's bytes after a checkpoint.
    const big = 'b'.repeat(1400);
    const build = async (dir: string, checkpointFirst: boolean): Promise<{ before: Buffer | 'zeros'; lastAcked: number }> => {
      const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
      let before: Buffer | 'zeros' = 'zeros';
      if (checkpointFirst) {
        for (let i = 0; i < 9; i++) await j.append('test', { i, big });
        j.checkpointSync(); // the log starts over: its old commits are stale bytes now
        before = readFileSync(walPath(dir));
      }
      await j.append('test', { i: 100, big });
      const lastAcked = j.lastSeq;
      await j.appendMany(Array.from({ length: 7 }, (_, k) => ({ type: 'test', payload: { i: 101 + k, big } })));
      await j.close({ writeDeferred: false });
      return { before, lastAcked };
    };
    const cases: Array<[string, boolean, number[], number?]> = [
      ['a middle page zeros', false, [1]],
      ['the last page zeros', false, [-1]],
      ['a middle sector zeros', false, [5], 512],
      ['a middle page stale', true, [1]],
      ['several pages stale', true, [1, -1]],
      ['one sector stale', true, [4], 512],
      ['the first page stale (its header gone: the end, as always)', true, [0]],
    ];
    for (const [what, checkpointFirst, pages, unit] of cases) {
      const dir = fresh();
      const { before, lastAcked } = await build(dir, checkpointFirst);
      const last = lastCommitOf(dir);
      assert.equal(last.firstSeq, lastAcked + 1, what);
      const raw = readFileSync(walPath(dir));
      const count = Math.floor((last.end - 1) / (unit ?? 4096)) - Math.floor(last.offset / (unit ?? 4096)) + 1;
      assert.ok(count >= 3, `${what}: the commit spans ${count} pages`);
      for (const k of pages) tearCommitPage(raw, last, k < 0 ? count + k : k, before, unit);
      assert.ok(!raw.equals(readFileSync(walPath(dir))), `${what}: the cut changed the commit`);
      writeFileSync(walPath(dir), raw);
      const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
      try {
        assert.equal(j.state, 'ok', `${what}: ${JSON.stringify(j.damage)}`);
        assert.equal(j.get(lastAcked)?.payload.i, 100, `${what}: every acknowledged record kept`);
        const cut = j.get(lastAcked + 1);
        if (pages[0] === 0) {
          assert.equal(cut, undefined, `${what}: nothing journaled`);
          assert.equal(j.lastSeq, lastAcked, what);
        } else {
          assert.equal(j.openReport.tornTail?.seq, lastAcked + 1, what);
          assert.equal(cut?.payload.action, 'tail-cut', `${what}: cut and journaled`);
          assert.equal(j.lastSeq, lastAcked + 1, what);
        }
      } finally {
        await j.close();
      }
    }
  });

  it('twoFlippedBitsInTheLastCommitAreCutAsATornTailTheKnownLimit', async () => {
    // Two bits are not located (no single flip makes the CRCs hold): the commit is handled as a
    // torn one and its acknowledged record is cut, journaled as tail-cut. JOURNAL_FORMAT.md names
    // this limit: only one bit tells damage at rest from a cut.
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 4);
    const last = lastCommitOf(dir);
    flipLogBit(dir, last.offset + WAL_COMMIT_HEADER_BYTES + 70, 0x01);
    flipLogBit(dir, last.end - 1, 0x01);
    const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
    assert.equal(j.state, 'ok');
    assert.equal(j.openReport.tornTail?.seq, 5);
    assert.equal(j.get(5)?.payload.action, 'tail-cut');
    await j.close();
  });

  it('aGarbledLogWithNoReadableCommitIsDamageNotAnEmptyLog', async () => {
    // The whole file written over (not a cut: a cut leaves zeros or a header): the records it held
    // are unknown, and "nothing to replay" would lose them unseen and give their STANs again.
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 3);
    let x = 0x2545f491;
    const garbage = Buffer.alloc(WAL_BYTES, 0).map(() => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x & 0xff; });
    writeFileSync(walPath(dir), garbage);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.damage?.seq, 2, 'after data.mdb\'s last record');
    assert.match(j.damage?.reason ?? '', /header is damaged/);
    await j.close();
    await assert.rejects(openForBoot({ dir, identity: ID, logger: silentLogger }), (e: unknown) => isPosError(e) && e.code === 'E-STO-05');
  });

  it('aGarbledHeaderAloneStillTakesTheCommitsByTheirChain', async () => {
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 3);
    const raw = readFileSync(walPath(dir));
    raw.fill(0x5a, 0, 64);
    writeFileSync(walPath(dir), raw);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state === 'damaged', false);
    assert.equal(j.lastSeq, 4, 'records 2..4 read by their chain from data.mdb\'s last');
    await j.close();
  });

  it('aZeroedLogAsACutAtItsCreationLeavesIsNoDamage', async () => {
    const dir = fresh();
    const j0 = await Journal.open({ dir, identity: ID });
    await j0.append('test', { i: 1 });
    await j0.close();
    writeFileSync(walPath(dir), Buffer.alloc(WAL_BYTES));
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state === 'damaged', false);
    await j.close();
  });

  it('aLinkOrAFolderInPlaceOfTheLogIsDamageNotNoLog', async () => {
    for (const make of [(f: string) => symlinkSync(f, f), (f: string) => symlinkSync(join(f, '..', 'elsewhere'), f), (f: string) => mkdirSync(f)]) {
      const dir = fresh();
      await cutWithRecordsInTheLog(dir, ID, 3);
      rmSync(walPath(dir));
      make(walPath(dir));
      const j = await Journal.open({ dir, identity: ID });
      assert.equal(j.state, 'damaged', String(make));
      assert.match(j.damage?.reason ?? '', /journal\.wal is a (link|folder)/);
      await j.close();
    }
  });

  it('aLogDeletedOrCutToNothingAfterItWasUsedIsDamageNotNoLog', async () => {
    for (const lose of [(f: string) => rmSync(f), (f: string) => writeFileSync(f, ''), (f: string) => writeFileSync(f, Buffer.alloc(100, 1))]) {
      const dir = fresh();
      await cutWithRecordsInTheLog(dir, ID, 3);
      assert.ok(existsSync(walMarkPath(dir)), 'the journal marked its log in use once it was made');
      lose(walPath(dir));
      const j = await Journal.open({ dir, identity: ID });
      assert.equal(j.state, 'damaged', String(lose));
      assert.equal(j.damage?.seq, 2, 'after data.mdb\'s last record');
      assert.match(j.damage?.reason ?? '', /journal\.wal is (missing|\d+ bytes long), but this journal had its newest records there/);
      await j.close();
      const look = await Journal.open({ dir, identity: ID, readOnly: true });
      assert.equal(look.state, 'damaged', 'pos journal verify says so too');
      await look.close();
    }
  });

  it('aJournalThatNeverHadItsLogOpensWithoutOneAndMarksTheOneItMakes', async () => {
    const dir = fresh();
    const old = await Journal.open({ dir, identity: ID, writeAheadLog: false });
    await old.append('test', { i: 1 });
    await old.close();
    assert.equal(existsSync(walPath(dir)) || existsSync(walMarkPath(dir)), false);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state === 'damaged', false);
    assert.ok(existsSync(walPath(dir)) && existsSync(walMarkPath(dir)));
    await j.close();
  });

  it('corruptionInTheLogSendsBootToRecoveryNamingTheRecord', async () => {
    const dir = fresh();
    await cutWithRecordsInTheLog(dir, ID, 3);
    const [first] = commitOffsets(dir);
    flipLogBit(dir, first + WAL_COMMIT_HEADER_BYTES + 70);
    await assert.rejects(openForBoot({ dir, identity: ID, logger: silentLogger }), (e: unknown) => isPosError(e) && e.code === 'E-STO-05' && e.detail.seq === 2);
  });

  it('aCleanCloseLeavesNothingForTheNextOpenToReplay', async () => {
    const dir = fresh();
    const j = await Journal.open({ dir, identity: ID });
    await j.appendMany([{ type: 'test', payload: { a: 1 } }, { type: 'test', payload: { a: 2 } }]);
    await j.close();
    assert.ok(await readStored(dir, 3));
    const k = await Journal.open({ dir, identity: ID });
    assert.equal(k.walRecordCount, 0);
    assert.equal(k.lastSeq, 3);
    await k.close();
  });

  it('usageCountsTheLogsMegabyteAndAPreallocatedShareHoldsIt', async () => {
    const withLog = fresh();
    const without = fresh();
    const shareBytes = 4 * WAL_BYTES;
    const j = await Journal.open({ dir: withLog, identity: ID, preallocateBytes: shareBytes });
    const k = await Journal.open({ dir: without, identity: ID, preallocateBytes: shareBytes, writeAheadLog: false });
    assert.equal(j.usage().usedBytes - k.usage().usedBytes, WAL_BYTES, 'the log counts against the capacity');
    assert.equal(statSync(`${withLog}/data.mdb`).size + statSync(walPath(withLog)).size, shareBytes, 'data.mdb and the log fill the share');
    assert.equal(statSync(`${without}/data.mdb`).size, shareBytes);
    await j.close();
    await k.close();
  });
  it('aLogSupersededBySoftwareThatDidNotKnowItIsSetAsideNotDamage', async () => {
    // A trial boot of the first release with the log writes records to journal.wal, fails, and is
    // rolled back (boot/UPDATE_FORMAT.md): the software before the log never reads journal.wal and
    // appends its own records under the same seqs to data.mdb. Both histories are whole chains;
    // LMDB's is the one the terminal went on with.
    const dir = fresh();
    const logBytes = await supersededLog(dir, ID);

    const j = await Journal.open({ dir, identity: ID, logger: silentLogger });
    assert.equal(j.state, 'ok', 'not damaged: the rolled-back history in data.mdb is whole');
    assert.equal(j.lastSeq, 6);
    assert.equal(j.get(4)?.payload.note, 'before the log 3', "LMDB's records stand");
    const kept = readdirSync(dir).filter((f) => f.startsWith('journal.wal.superseded-'));
    assert.equal(kept.length, 1, 'the superseded log is kept aside for a technician');
    assert.ok(readFileSync(join(dir, kept[0])).equals(logBytes), 'byte for byte');
    await j.append('test', { after: true });
    await j.close({ writeDeferred: false });
    const again = await Journal.open({ dir, identity: ID });
    assert.equal(again.state, 'ok');
    assert.equal(again.lastSeq, 7, 'the next record went through the log and was replayed');
    await again.close();
  });

  it('aSupersededLogNeverOverwritesAnEarlierCopyOfTheSameTime', async () => {
    // A terminal without an RTC battery starts its clock at the same time every boot: a second
    // rollback's copy must not take the first one's name.
    const dir = fresh();
    const logBytes = await supersededLog(dir, ID);
    const clock = (): number => 1_700_000_000_000;
    const earlier = `${walPath(dir)}.superseded-1700000000000`;
    writeFileSync(earlier, 'an earlier superseded log');
    const j = await Journal.open({ dir, identity: ID, logger: silentLogger, clock });
    assert.equal(j.state, 'ok');
    assert.equal(readFileSync(earlier, 'utf8'), 'an earlier superseded log', 'the earlier copy is untouched');
    assert.ok(readFileSync(`${earlier}-1`).equals(logBytes), 'this log is kept under the next name');
    await j.close();
  });

});

describe('journal: a checkpoint\'s LMDB transactions (checkpointTransactions)', () => {
  const entry = (seq: number, bytes: number): { seq: number; stored: Buffer } => ({ seq, stored: Buffer.alloc(bytes) });

  it('splitsTheTailInOrderIntoTransactionsOfAtMostTheLimitOnlyTheLastFullySynced', () => {
    const tail = Array.from({ length: 1000 }, (_, i) => entry(i + 1, 200 + (i % 7) * 50));
    const txns = checkpointTransactions(tail);
    assert.ok(txns.length > 1, 'a tail larger than one transaction takes several');
    assert.deepEqual(txns.flatMap((t) => t.entries.map((e) => e.seq)), tail.map((e) => e.seq), 'every record once, in order');
    for (const t of txns) assert.ok(t.entries.reduce((n, e) => n + e.stored.length, 0) <= CHECKPOINT_TXN_BYTES_MAX);
    // Taken greedily: the next record would not have fitted in the one before.
    for (let i = 0; i + 1 < txns.length; i++) assert.ok(txns[i].entries.reduce((n, e) => n + e.stored.length, 0) + txns[i + 1].entries[0].stored.length > CHECKPOINT_TXN_BYTES_MAX);
    const flags = txns.map((t) => t.flags);
    assert.equal(new Set(flags.slice(0, -1)).size, 1, 'the same flags for all but the last');
    assert.notEqual(flags[0], flags[flags.length - 1], 'the last is fully synced, the others are not');
    assert.equal(flags[flags.length - 1], 3, 'lmdb-js\'s default: abortable, committed before it returns, fully synced');
    assert.equal(flags[0] & 0x40000, 0x40000, 'MDB_NOMETASYNC before the last');
  });

  it('aRecordLargerThanTheLimitIsATransactionOfItsOwnAndOneTransactionIsFullySynced', () => {
    const txns = checkpointTransactions([entry(1, 100), entry(2, CHECKPOINT_TXN_BYTES_MAX + 1), entry(3, 100)]);
    assert.deepEqual(txns.map((t) => t.entries.map((e) => e.seq)), [[1], [2], [3]]);
    assert.deepEqual(checkpointTransactions([entry(1, 10)]).map((t) => t.flags), [3]);
    assert.deepEqual(checkpointTransactions([]), []);
  });
});

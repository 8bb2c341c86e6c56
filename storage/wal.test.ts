import { strict as assert } from 'node:assert';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { encodeRecord, genesisDigest, recordDigest, RecordType } from './record';
import { removeDir, tempDir } from './testing';
import {
  WAL_BYTES, WAL_COMMIT_HEADER_BYTES, WAL_HEADER_BYTES, WalEntry, WalScanInput, WalWriter, decodeHeader, encodeCommit,
  readWalFile, scanWal, walPath,
} from './wal';

const ID = 'WAL-0001';

/** Records 1..count chained from the genesis of ID (record 1 is a test record: the log does not care). */
function chain(count: number, identity = ID): { entries: WalEntry[]; digests: Buffer[] } {
  const entries: WalEntry[] = [];
  const digests: Buffer[] = [genesisDigest(identity)];
  for (let seq = 1; seq <= count; seq++) {
    const stored = encodeRecord({ type: RecordType.test, seq, timeMs: 1_700_000_000_000 + seq, prevDigest: digests[seq - 1], payload: { seq, pad: 'x'.repeat(40) } });
    entries.push({ seq, stored });
    digests.push(recordDigest(stored));
  }
  return { entries, digests };
}

/** LMDB as the scan sees it: records 1..lastSeq of `entries`. */
function lmdbHolding(c: { entries: WalEntry[]; digests: Buffer[] }, lastSeq: number): WalScanInput {
  return { lmdbLastSeq: lastSeq, lmdbLastDigest: c.digests[lastSeq], lmdbRecord: (seq) => (seq <= lastSeq ? c.entries[seq - 1]?.stored : undefined) };
}

/** Flips one bit of the log file at `offset` (damage after the write was durable). */
function flipWalByte(dir: string, offset: number): void {
  const raw = readFileSync(walPath(dir));
  raw[offset] ^= 0x01;
  writeFileSync(walPath(dir), raw);
}

/** Zeros `bytes` of the log from `offset` (a write that never reached the disk). */
function zeroWalRange(dir: string, offset: number, bytes: number): void {
  const raw = readFileSync(walPath(dir));
  raw.fill(0, offset, offset + bytes);
  writeFileSync(walPath(dir), raw);
}

/** Keeps only the first `bytes` of the log (a file cut short). */
function shrinkWal(dir: string, bytes: number): void {
  writeFileSync(walPath(dir), readFileSync(walPath(dir)).subarray(0, bytes));
}

describe('storage/wal: the write-ahead log (JOURNAL_FORMAT.md, "Write-ahead log")', () => {
  const dirs: string[] = [];
  const newDir = (): string => { const d = tempDir('posj-wal-'); dirs.push(d); return d; };
  /** A log over records 1..count with base 1 and one commit of the records at indexes [from, to). */
  const logWith = (count: number, from: number, to: number): { dir: string; c: ReturnType<typeof chain> } => {
    const dir = newDir();
    const c = chain(count);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(from, to));
    w.close();
    return { dir, c };
  };
  afterEach(() => { for (const d of dirs.splice(0)) removeDir(d); });

  it('createdLogIsFullSizeWithTheBaseInItsHeader', () => {
    const dir = newDir();
    const c = chain(3);
    WalWriter.open(dir, { baseSeq: 3, baseDigest: c.digests[3] }).close();
    assert.equal(statSync(walPath(dir)).size, WAL_BYTES);
    const header = decodeHeader(readWalFile(dir));
    assert.ok(typeof header !== 'string', String(header));
    assert.equal(header.baseSeq, 3);
    assert.ok(header.baseDigest.equals(c.digests[3]));
  });

  it('commitsWrittenAreTakenInOrderAboveLmdbsLast', () => {
    const dir = newDir();
    const c = chain(10);
    const w = WalWriter.open(dir, { baseSeq: 2, baseDigest: c.digests[2] });
    w.append(c.entries.slice(2, 5));
    w.append(c.entries.slice(5, 6));
    w.append(c.entries.slice(6, 10));
    w.close();
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 2));
    assert.equal(scan.damage, undefined);
    assert.equal(scan.tornAt, undefined);
    assert.deepEqual(scan.taken.map((e) => e.seq), [3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(scan.taken.every((e) => e.stored.equals(c.entries[e.seq - 1].stored)));
    assert.equal(scan.lastSeq, 10);
    assert.ok(scan.lastDigest.equals(c.digests[10]));
  });

  it('truncatedWalTailIsIgnored', () => {
    const dir = newDir();
    const c = chain(8);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 4));
    const tornAt = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(4, 8));
    w.close();
    // The last commit's second half never reached the disk; then the whole file cut after its header.
    zeroWalRange(dir, tornAt + WAL_COMMIT_HEADER_BYTES + 100, 4096);
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 1));
    assert.equal(scan.damage, undefined);
    assert.deepEqual(scan.taken.map((e) => e.seq), [2, 3, 4]);
    assert.equal(scan.tornAt?.offset, tornAt);
    shrinkWal(dir, tornAt + 50);
    const shrunk = scanWal(readWalFile(dir), lmdbHolding(c, 1));
    assert.equal(shrunk.damage, undefined);
    assert.deepEqual(shrunk.taken.map((e) => e.seq), [2, 3, 4]);
    assert.match(shrunk.headerProblem ?? '', /not 1048576/);
  });

  it('tornCommitWhoseLaterPageSurvivedIsATornTailNotCorruption', () => {
    const dir = newDir();
    const c = chain(60);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3));
    const tornAt = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 60)); // > 4 KiB: spans pages
    w.close();
    // The disk kept the commit's later pages but not its first: frames after a hole.
    zeroWalRange(dir, tornAt, 4096 - (tornAt % 4096));
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 1));
    assert.equal(scan.damage, undefined, JSON.stringify(scan.damage));
    assert.deepEqual(scan.taken.map((e) => e.seq), [2, 3]);
  });

  it('flippedByteMidWalIsCorruption', () => {
    const dir = newDir();
    const c = chain(9);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3));
    const middle = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 6));
    w.append(c.entries.slice(6, 9));
    w.close();
    flipWalByte(dir, middle + WAL_COMMIT_HEADER_BYTES + 70);
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 1));
    assert.equal(scan.damage?.seq, 4, JSON.stringify(scan));
    assert.match(scan.damage?.reason ?? '', /followed by a whole later commit/);
    assert.deepEqual(scan.taken.map((e) => e.seq), [2, 3]);
  });

  it('staleFramesAfterResetAreNotReplayed', () => {
    const dir = newDir();
    const c = chain(14);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 5));
    w.append(c.entries.slice(5, 10)); // cycle 1: records 2..10
    // Checkpoint: LMDB now holds 1..10; the header says so and commits start over.
    w.reset({ baseSeq: 10, baseDigest: c.digests[10] });
    w.append(c.entries.slice(10, 12)); // cycle 2: 11..12 over the start of cycle 1's commits
    w.close();
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 10));
    assert.equal(scan.damage, undefined, JSON.stringify(scan.damage));
    assert.deepEqual(scan.taken.map((e) => e.seq), [11, 12]);
    // With nothing of cycle 2 written, cycle 1's whole commits are all in LMDB: nothing taken.
    const empty = newDir();
    const w2 = WalWriter.open(empty, { baseSeq: 1, baseDigest: c.digests[1] });
    w2.append(c.entries.slice(1, 10));
    w2.reset({ baseSeq: 10, baseDigest: c.digests[10] });
    w2.close();
    const none = scanWal(readWalFile(empty), lmdbHolding(c, 10));
    assert.equal(none.damage, undefined);
    assert.deepEqual(none.taken, []);
  });

  it('aStaleCopyNeverMakesGoodARecordLmdbLost', () => {
    const dir = newDir();
    const c = chain(10);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 10));
    w.reset({ baseSeq: 10, baseDigest: c.digests[10] });
    w.close();
    // LMDB's record 10 is gone (its own decision table deals with that, as before the log).
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 9));
    assert.equal(scan.damage, undefined);
    assert.deepEqual(scan.taken, []);
    assert.equal(scan.lastSeq, 9);
  });

  it('cutBetweenCheckpointAndHeaderSkipsWhatLmdbHolds', () => {
    const { dir, c } = logWith(12, 1, 8);
    // LMDB took 2..8 at a checkpoint; the header still says 1: the same records are skipped, not doubled.
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 8));
    assert.equal(scan.damage, undefined);
    assert.deepEqual(scan.taken, []);
    assert.equal(scan.lastSeq, 8);
  });

  it('aCheckpointedFrameThatDiffersFromLmdbIsDamage', () => {
    const { dir, c } = logWith(6, 1, 6);
    const other = chain(6, 'WAL-OTHER');
    const lmdb: WalScanInput = { ...lmdbHolding(c, 6), lmdbRecord: (seq) => (seq === 4 ? encodeRecord({ type: RecordType.test, seq: 4, timeMs: 1, prevDigest: other.digests[3], payload: { other: true } }) : c.entries[seq - 1].stored) };
    const scan = scanWal(readWalFile(dir), lmdb);
    assert.equal(scan.damage?.seq, 4);
  });

  it('aForkWrittenToLmdbPastTheBaseSupersedesTheLogInsteadOfDamagingIt', () => {
    // The log holds 2..5 in one commit; software that did not know the log wrote its own 2..3 on
    // the same record 1 (after an A/B rollback). The commit reaches past LMDB's last, so the fork
    // is found among the records LMDB holds too.
    const { dir, c } = logWith(5, 1, 5);
    const forked = (seq: number): Buffer => encodeRecord({ type: RecordType.test, seq, timeMs: 1, prevDigest: c.digests[seq - 1], payload: { before: 'the log' } });
    const lmdb: WalScanInput = { ...lmdbHolding(c, 3), lmdbRecord: (seq) => (seq === 1 ? c.entries[0].stored : seq <= 3 ? forked(seq) : undefined) };
    const scan = scanWal(readWalFile(dir), lmdb);
    assert.equal(scan.damage, undefined);
    assert.equal(scan.superseded?.seq, 2);
    assert.deepEqual(scan.taken, [], 'nothing of the other history is taken');
  });

  it('aCommitThatSkipsARecordOrBreaksTheLinkIsDamage', () => {
    const { dir, c } = logWith(8, 3, 6); // records 4..6 while LMDB ends at 2: 3 is missing
    const gap = scanWal(readWalFile(dir), lmdbHolding(c, 2));
    assert.equal(gap.damage?.seq, 3);
    const foreign = chain(8, 'WAL-OTHER');
    const unlinked: WalScanInput = { ...lmdbHolding(foreign, 3) };
    assert.equal(scanWal(readWalFile(dir), unlinked).damage?.seq, 4, 'a log of another chain does not link to LMDB');
  });

  it('aDamagedHeaderStillGivesUpTheCommitsThatProveThemselves', () => {
    const { dir, c } = logWith(5, 1, 5);
    flipWalByte(dir, 20);
    const scan = scanWal(readWalFile(dir), lmdbHolding(c, 1));
    assert.match(scan.headerProblem ?? '', /CRC/);
    assert.deepEqual(scan.taken.map((e) => e.seq), [2, 3, 4, 5]);
    // Reopened for writing it is made again: full size, a header that reads.
    WalWriter.open(dir, { baseSeq: 5, baseDigest: c.digests[5] }).close();
    const again = decodeHeader(readWalFile(dir));
    assert.ok(typeof again !== 'string' && again.baseSeq === 5);
  });

  it('fitsRefusesWhatWouldOverflowTheFile', () => {
    const dir = newDir();
    const w = WalWriter.open(dir, { baseSeq: 0, baseDigest: genesisDigest(ID) });
    assert.ok(w.fits(1, 1000));
    assert.ok(!w.fits(1, WAL_BYTES));
    assert.throws(() => encodeCommit([]), /record count/);
    w.close();
  });

  it('aCommitsBodyIsItsFramesBackToBackWhereverTheyLieInMemory', () => {
    // Frames of one batch lie one after another (copied as one run); others apart, in another
    // buffer, or adjacent in memory but out of order: the body is always their concatenation.
    const frames = Array.from({ length: 6 }, (_, i) => Buffer.from(`frame-${i}-`.repeat(i + 1)));
    const one = Buffer.concat(frames);
    const views: Buffer[] = [];
    for (let i = 0, at = 0; i < frames.length; at += frames[i].length, i++) views.push(one.subarray(at, at + frames[i].length));
    const cases: Buffer[][] = [
      views,
      [views[0], views[2], views[1], views[3]],
      [views[0], views[1], Buffer.from(frames[2]), views[3], views[4]],
      [views[3], views[4], views[5], views[0]],
      [Buffer.from(frames[0])],
    ];
    for (const [n, stored] of cases.entries()) {
      const commit = encodeCommit(stored.map((b, i) => ({ seq: 10 + i, stored: b })));
      assert.ok(commit.subarray(WAL_COMMIT_HEADER_BYTES).equals(Buffer.concat(stored)), `case ${n}`);
    }
  });
});

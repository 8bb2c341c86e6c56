import { strict as assert } from 'node:assert';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { encodeRecord, genesisDigest, recordDigest, u32, HEADER_BYTES, RecordType } from './record';
import { PAGE_BYTES, removeDir, tempDir } from './testing';
import { flipLogBit, tearCommitPage } from './testing-wal';
import {
  WAL_BYTES, WAL_COMMIT_HEADER_BYTES, WAL_HEADER_BYTES, WAL_TEAR_BYTES, WalEntry, WalScanInput, WalWriter, decodeHeader, encodeCommit,
  flippedBitIn, readWalFile, scanWal, walPath,
} from './wal';

const ID = 'WAL-0001';

/**
 * Records 1..count chained from the genesis of ID (record 1 is a test record: the log does not
 * care); record seq is exactly `frameBytes(seq)` bytes when that is given (its padding chosen to fit).
 */
function chain(count: number, identity = ID, frameBytes?: (seq: number) => number): { entries: WalEntry[]; digests: Buffer[] } {
  const entries: WalEntry[] = [];
  const digests: Buffer[] = [genesisDigest(identity)];
  const encode = (seq: number, pad: number): Buffer => encodeRecord({ type: RecordType.test, seq, timeMs: 1_700_000_000_000 + seq, prevDigest: digests[seq - 1], payload: { seq, pad: 'x'.repeat(pad) } });
  for (let seq = 1; seq <= count; seq++) {
    let stored = encode(seq, 40);
    const want = frameBytes?.(seq);
    if (want !== undefined) {
      for (let pad = 0; pad <= want && stored.length !== want; pad++) stored = encode(seq, pad);
      assert.equal(stored.length, want, `record ${seq} cannot be made ${want} bytes`);
    }
    entries.push({ seq, stored });
    digests.push(recordDigest(stored));
  }
  return { entries, digests };
}

/** XORs `mask` into byte `at` of the log's bytes in memory (a flip, and the same call flips it back). */
function flip(raw: Buffer, at: number, mask: number): void {
  raw[at] ^= mask;
}

/** LMDB as the scan sees it: records 1..lastSeq of `entries`. */
function lmdbHolding(c: { entries: WalEntry[]; digests: Buffer[] }, lastSeq: number): WalScanInput {
  return { lmdbLastSeq: lastSeq, lmdbLastDigest: c.digests[lastSeq], lmdbRecord: (seq) => (seq <= lastSeq ? c.entries[seq - 1]?.stored : undefined) };
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
    flipLogBit(dir, middle + WAL_COMMIT_HEADER_BYTES + 70);
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
    flipLogBit(dir, 20);
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
  // ---- one flipped bit (JOURNAL_FORMAT.md, "Write-ahead log", "One bit changed")

  it('theOneBitLocatorFindsEveryFlippedBitFromTheCrcAlone', () => {
    const bytes = Buffer.from(Array.from({ length: 93 }, (_, i) => (i * 151 + 7) & 0xff));
    const [start, end] = [11, 83]; // a window inside a larger buffer: offsets are the buffer's
    const crc = crc32(bytes.subarray(start, end));
    assert.equal(flippedBitIn(bytes, start, end, crc), undefined, 'nothing to find where the CRC holds');
    for (let at = start; at < end; at++) {
      for (let b = 0; b < 8; b++) {
        flip(bytes, at, 1 << b);
        assert.deepEqual(flippedBitIn(bytes, start, end, crc), { at, mask: 1 << b }, `byte ${at} bit ${b}`);
        flip(bytes, at, 1 << b);
      }
    }
    // Two bits: no single bit explains them.
    for (const [a, b] of [[start, end - 1], [start + 5, start + 6], [40, 41]]) {
      flip(bytes, a, 0x10);
      flip(bytes, b, 0x01);
      assert.equal(flippedBitIn(bytes, start, end, crc), undefined, `bytes ${a} and ${b}`);
      flip(bytes, a, 0x10);
      flip(bytes, b, 0x01);
    }
  });

  it('aFlippedBitInTheLastAcknowledgedCommitIsDamageNotATornTail', () => {
    // Records 2..3, then the last commit (4..6) inside one sector: every bit of it, header,
    // frame headers and payloads, first byte to last.
    const dir = newDir();
    const c = chain(6, ID, () => 90);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3));
    const last = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 6));
    const end = WAL_HEADER_BYTES + w.usedBytes;
    w.close();
    assert.equal(Math.floor(last / WAL_TEAR_BYTES), Math.floor((end - 1) / WAL_TEAR_BYTES), 'the commit lies in one sector');
    const raw = readWalFile(dir);
    for (let at = last; at < end; at++) {
      for (let b = 0; b < 8; b++) {
        flip(raw, at, 1 << b);
        const scan = scanWal(raw, lmdbHolding(c, 1));
        const what = `byte ${at} (commit byte ${at - last}) bit ${b}: ${JSON.stringify(scan.damage ?? scan.tornAt)}`;
        assert.equal(scan.damage?.seq, 4, what);
        assert.ok(scan.damage?.reason.startsWith(`journal.wal: a bit of an acknowledged commit changed (byte ${at}, mask 0x${(1 << b).toString(16).padStart(2, '0')}, in the commit at byte ${last}: records 4..6)`), what);
        assert.equal(scan.tornAt, undefined, `${what}: nothing to cut`);
        assert.deepEqual(scan.taken.map((e) => e.seq), [2, 3], `${what}: the records before it are read`);
        flip(raw, at, 1 << b);
      }
    }
    assert.deepEqual(scanWal(raw, lmdbHolding(c, 1)).taken.map((e) => e.seq), [2, 3, 4, 5, 6], 'every bit flipped back');
  });

  it('aFlippedBitInALastCommitOfManySectorsIsDamageInEachOfThem', () => {
    // 27 records of 90 bytes: the commit spans 5 sectors; each sector's share holds the commit's
    // header or a record's header CRC (the last one's share: record 30's).
    const dir = newDir();
    const c = chain(30, ID, () => 90);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3));
    const last = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 30));
    const end = WAL_HEADER_BYTES + w.usedBytes;
    w.close();
    assert.ok(Math.floor((end - 1) / WAL_TEAR_BYTES) - Math.floor(last / WAL_TEAR_BYTES) >= 4, 'the commit spans sectors');
    const raw = readWalFile(dir);
    let cases = 0;
    for (let at = last; at < end; at++) {
      const mask = 1 << (at % 8);
      flip(raw, at, mask);
      const scan = scanWal(raw, lmdbHolding(c, 1));
      assert.equal(scan.damage?.seq, 4, `byte ${at}: ${JSON.stringify(scan.damage ?? scan.tornAt)}`);
      assert.match(scan.damage?.reason ?? '', new RegExp(`\\(byte ${at}, `));
      flip(raw, at, mask);
      cases++;
    }
    assert.equal(cases, end - last);
  });

  it('aTornLastCommitIsStillTheTornTailWhetherItsSectorsAreZerosOrStale', () => {
    // Cycle 1 fills the log; a checkpoint starts it over; cycle 2 writes over it with a last commit
    // of 4 pages. A cut leaves any of its pages as they were: stale (cycle 1's bytes) or zeros.
    const dir = newDir();
    const c = chain(60, ID, (seq) => (seq >= 40 ? 1500 : 700));
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    for (let s = 1; s < 28; s += 3) w.append(c.entries.slice(s, s + 3)); // records 2..28
    w.reset({ baseSeq: 28, baseDigest: c.digests[28] });
    const stale = readWalFile(dir);
    w.append(c.entries.slice(28, 39)); // 29..39
    const last = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(39, 50)); // 40..50: 11 x 1,500 bytes
    const end = WAL_HEADER_BYTES + w.usedBytes;
    w.close();
    const whole = readWalFile(dir);
    const pages = Math.floor((end - 1) / PAGE_BYTES) - Math.floor(last / PAGE_BYTES) + 1;
    assert.ok(pages >= 4, `the commit spans ${pages} pages`);
    const tear = (raw: Buffer, k: number, before: Buffer | 'zeros', unit = PAGE_BYTES): void => tearCommitPage(raw, { offset: last, end }, k, before, unit);
    const cases: Array<[string, (raw: Buffer) => void]> = [
      ['first page stale', (raw) => tear(raw, 0, stale)],
      ['a middle page stale', (raw) => tear(raw, 2, stale)],
      ['a middle page zeros', (raw) => tear(raw, 1, 'zeros')],
      ['the last page zeros', (raw) => tear(raw, pages - 1, 'zeros')],
      ['several pages stale', (raw) => { tear(raw, 1, stale); tear(raw, 2, stale); tear(raw, pages - 1, stale); }],
      ['one sector stale', (raw) => tear(raw, 7, stale, WAL_TEAR_BYTES)],
      ['one sector zeros', (raw) => tear(raw, 9, 'zeros', WAL_TEAR_BYTES)],
    ];
    for (const [what, cut] of cases) {
      const raw = Buffer.from(whole);
      cut(raw);
      assert.ok(!raw.equals(whole), `${what}: the cut changed the commit`);
      const scan = scanWal(raw, lmdbHolding(c, 28));
      assert.equal(scan.damage, undefined, `${what}: ${JSON.stringify(scan.damage)}`);
      assert.deepEqual(scan.taken.map((e) => e.seq), Array.from({ length: 11 }, (_, i) => 29 + i), what);
      if (what === 'first page stale') {
        // The header's sector stale: no header of record 40 is there, so it is the end (as before).
        assert.equal(scan.tornAt, undefined, what);
      } else {
        assert.equal(scan.tornAt?.offset, last, what);
        assert.equal(scan.tornAt?.seq, 40, what);
      }
    }
  });

  it('aSectorACutLeftAsAnEarlierCycleWroteItOneBitOffIsATornTailNotDamage', () => {
    // A log repeats its layout every cycle: here a commit of 2 records starts 12 bytes before a
    // sector's end in both cycles, its firstSeq 6 then 14 (one bit apart). The cut keeps the
    // commit's later sectors and leaves the first one as cycle 1 wrote it: the commit then differs
    // from what was written in exactly one bit (firstSeq), and one flip back makes it whole. The
    // sector holds no CRC covering a seq of this commit, so it cannot be told from a torn one.
    const sectorEnd = WAL_HEADER_BYTES + WAL_TEAR_BYTES;
    const x = sectorEnd - 12;
    const sizes = new Map<number, number>([[2, 119], [3, 119], [4, 119], [5, 119], [8, 79], [9, 79], [10, 79], [11, 79], [12, 80], [13, 80]]);
    const c = chain(15, ID, (seq) => sizes.get(seq) ?? 100);
    const dir = newDir();
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 5)); // 2..5
    assert.equal(WAL_HEADER_BYTES + w.usedBytes, x);
    w.append(c.entries.slice(5, 7)); // 6..7 at x
    w.reset({ baseSeq: 7, baseDigest: c.digests[7] });
    const cycle1 = readWalFile(dir);
    w.append(c.entries.slice(7, 13)); // 8..13
    assert.equal(WAL_HEADER_BYTES + w.usedBytes, x);
    w.append(c.entries.slice(13, 15)); // 14..15 at x
    w.close();
    const raw = readWalFile(dir);
    cycle1.copy(raw, x, x, sectorEnd);
    assert.deepEqual(flippedBitIn(raw, x, x + 20, u32(raw, x + 20)), { at: x + 11, mask: 0x08 }, 'the torn commit looks like one flipped bit of firstSeq');
    const scan = scanWal(raw, lmdbHolding(c, 7));
    assert.equal(scan.damage, undefined, JSON.stringify(scan.damage));
    assert.deepEqual(scan.taken.map((e) => e.seq), [8, 9, 10, 11, 12, 13]);
    assert.equal(scan.tornAt, undefined, 'its header is not whole: the end, as a torn header always was');
  });

  it('aFlippedBitInASectorHoldingNoRecordHeaderCrcIsCutAsATornTailTheKnownLimit', () => {
    // A record of 3,000 bytes: sectors inside its payload hold no CRC covering a seq, so a bit
    // flipped there cannot be told from a sector the cut left stale (the rule's known limit): the
    // commit is the torn tail, as before. The same flip in the record's header sector is damage.
    const dir = newDir();
    const c = chain(4, ID, (seq) => (seq === 4 ? 3000 : 100));
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3));
    const last = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 4));
    w.close();
    const raw = readWalFile(dir);
    const frameAt = last + WAL_COMMIT_HEADER_BYTES;
    const inPayload = (Math.floor((frameAt + HEADER_BYTES) / WAL_TEAR_BYTES) + 2) * WAL_TEAR_BYTES + 100;
    flip(raw, inPayload, 0x04);
    const cut = scanWal(raw, lmdbHolding(c, 1));
    assert.equal(cut.damage, undefined);
    assert.equal(cut.tornAt?.offset, last);
    flip(raw, inPayload, 0x04);
    flip(raw, frameAt + HEADER_BYTES + 5, 0x04);
    assert.equal(scanWal(raw, lmdbHolding(c, 1)).damage?.seq, 4, 'a payload byte in the header\'s sector');
  });

  it('twoFlippedBitsInTheLastCommitAreNotLocatedAndLeftToTheTornTailRuleTheKnownLimit', () => {
    // One bit is located; two are not (no single flip makes the CRCs hold): the commit is handled
    // as today, so its acknowledged records are cut as a torn tail (its header whole) or, with a
    // header bit among the two, the log simply ends there. JOURNAL_FORMAT.md names this limit.
    const dir = newDir();
    const c = chain(6, ID, () => 90);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3));
    const last = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 6));
    w.close();
    const raw = readWalFile(dir);
    const body = last + WAL_COMMIT_HEADER_BYTES;
    const pairs: Array<[number, number, 'torn' | 'end']> = [
      [body + 70, body + 90 + 70, 'torn'], // payloads of two records
      [body + 70, body + 70, 'torn'], // two bits of one byte (0x01 and 0x80 below)
      [body + 10, body + 2 * 90 - 1, 'torn'], // a frame header and the last byte
      [last + 9, body + 70, 'end'], // the commit header's firstSeq and a payload
    ];
    for (const [a, b, outcome] of pairs) {
      flip(raw, a, 0x01);
      flip(raw, b, 0x80);
      const scan = scanWal(raw, lmdbHolding(c, 1));
      assert.equal(scan.damage, undefined, `bytes ${a}, ${b}: ${JSON.stringify(scan.damage)}`);
      assert.deepEqual(scan.taken.map((e) => e.seq), [2, 3]);
      assert.equal(scan.tornAt?.offset, outcome === 'torn' ? last : undefined, `bytes ${a}, ${b}`);
      flip(raw, a, 0x01);
      flip(raw, b, 0x80);
    }
  });

  it('aFlippedBitInAStaleCommitOfAnEarlierCycleIsStillTheEnd', () => {
    // Cycle 2's commit ends exactly where cycle 1's second commit begins: that commit, stale (its
    // records in LMDB), is the end of the log whether or not a bit of it changed since.
    const dir = newDir();
    const c = chain(7, ID, () => 100);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3)); // 2..3
    const staleAt = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 5)); // 4..5
    w.reset({ baseSeq: 5, baseDigest: c.digests[5] });
    w.append(c.entries.slice(5, 7)); // 6..7, as long as 2..3
    assert.equal(WAL_HEADER_BYTES + w.usedBytes, staleAt);
    w.close();
    const raw = readWalFile(dir);
    for (const at of [staleAt + 9, staleAt + 24 + 70]) {
      flip(raw, at, 0x02);
      const scan = scanWal(raw, lmdbHolding(c, 5));
      assert.equal(scan.damage, undefined, `byte ${at}`);
      assert.equal(scan.tornAt, undefined, `byte ${at}`);
      assert.deepEqual(scan.taken.map((e) => e.seq), [6, 7]);
      flip(raw, at, 0x02);
    }
  });

  it('anUnreadableCommitFollowedByAWholeOneIsStillDamageByTheLaterCommit', () => {
    // One bit or many: a later whole commit proves the bad one was flushed; its reason is unchanged.
    const dir = newDir();
    const c = chain(9, ID, () => 90);
    const w = WalWriter.open(dir, { baseSeq: 1, baseDigest: c.digests[1] });
    w.append(c.entries.slice(1, 3));
    const middle = WAL_HEADER_BYTES + w.usedBytes;
    w.append(c.entries.slice(3, 6));
    w.append(c.entries.slice(6, 9));
    w.close();
    const raw = readWalFile(dir);
    raw.fill(0, middle + 30, middle + 130);
    const scan = scanWal(raw, lmdbHolding(c, 1));
    assert.equal(scan.damage?.seq, 4);
    assert.match(scan.damage?.reason ?? '', /followed by a whole later commit/);
  });
});

/**
 * The journal's write-ahead log, `journal.wal` (storage/JOURNAL_FORMAT.md, "Write-ahead log").
 *
 * A durable commit is one pwrite of a commit (24-byte commit header + the records' own frames)
 * at the write offset and one fdatasync of a file whose size never changes: one flush barrier,
 * where an LMDB commit costs two and rewrites a B-tree path. The records reach LMDB at a
 * checkpoint (storage/journal.ts), after which the header is rewritten and the log starts over.
 *
 * This module knows bytes and files only: `scanWal` applies the open's decision table to the
 * file's bytes (pure), `WalWriter` writes commits and headers. What LMDB holds is asked through
 * `WalScanInput.lmdbRecord`, so the scan is the same for the journal, a read-only reader and tests.
 * An unreadable last commit is the torn tail (in flight at a cut, never acknowledged: cut) unless
 * it is whole but for one bit, which its own CRCs locate (`commitWithOneBitFlipped`): then it had
 * been acknowledged, and it is damage.
 */
import { closeSync, existsSync, fdatasyncSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { crc32Range, digestAtEquals, frameValid, recordDigest, u32, HEADER_BYTES, PREV_DIGEST_AT, SEQ_MAX, prevDigestOf } from './record';
import { Damage } from './verify';
import { invariant } from '../common/errors';
import { fsyncDir } from '../common/fsync';

export const WAL_FILE = 'journal.wal';
/** The log's fixed size: a checkpoint runs before a commit that would not fit. */
export const WAL_BYTES = 1024 * 1024;
/** The header has a block of its own: rewriting it never touches a commit, nor a commit it. */
export const WAL_HEADER_BYTES = 4096;
export const WAL_COMMIT_HEADER_BYTES = 24;
/** Records one commit may hold (the commit header's count is a u16). */
export const WAL_COMMIT_RECORDS_MAX = 4096;
/** Records the log (and the journal's in-memory tail) may hold before a checkpoint. */
export const WAL_TAIL_RECORDS_MAX = 4096;
/** The most bytes of commits the log holds. */
export const WAL_COMMITS_BYTES_MAX = WAL_BYTES - WAL_HEADER_BYTES;
export const WAL_VERSION = 1;

const HEADER_MAGIC = Buffer.from('POSJWAL1', 'latin1');
const COMMIT_MAGIC = 0x504f5357; // "POSW"
const HEADER_CRC_AT = 56;

export interface WalHeader {
  /** Every record with seq ≤ baseSeq is in data.mdb. */
  readonly baseSeq: number;
  /** The chain digest of record baseSeq (the genesis digest when baseSeq is 0). */
  readonly baseDigest: Buffer;
}

export interface WalEntry {
  readonly seq: number;
  readonly stored: Buffer;
}

export function walPath(dir: string): string {
  return join(dir, WAL_FILE);
}

/**
 * Beside the log once it is made (and durable): the journal has commits in `journal.wal`. A log
 * then missing or cut below its header was lost, not never made (JOURNAL_FORMAT.md, opening):
 * data.mdb cannot say so itself, since no commit to the log writes to it.
 */
export const WAL_MARK_FILE = 'journal.wal.in-use';

export function walMarkPath(dir: string): string {
  return join(dir, WAL_MARK_FILE);
}

/**
 * Makes the mark once (created, its line written and fsynced, the folder fsynced); nothing when it
 * is there. Its name is what counts, not its bytes: a cut that leaves it empty leaves a mark, and
 * it is made only after the log is durable, so no rename is needed to make it whole.
 */
export function markWalInUse(dir: string, options: { noSync?: boolean } = {}): void {
  const mark = walMarkPath(dir);
  if (existsSync(mark)) return;
  const fd = openSync(mark, 'wx', 0o644);
  try {
    writeAll(fd, Buffer.from('journal.wal holds this journal\'s newest records (storage/JOURNAL_FORMAT.md)\n', 'utf8'), 0);
    if (!options.noSync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (!options.noSync) fsyncDir(dir);
}

export function encodeHeader(header: WalHeader): Buffer {
  invariant(header.baseDigest.length === 32, 'WAL base digest is not 32 bytes', { bytes: header.baseDigest.length });
  invariant(Number.isInteger(header.baseSeq) && header.baseSeq >= 0 && header.baseSeq <= SEQ_MAX, 'WAL base seq out of range', { baseSeq: header.baseSeq });
  const b = Buffer.alloc(WAL_HEADER_BYTES);
  HEADER_MAGIC.copy(b, 0);
  b.writeUInt32BE(WAL_VERSION, 8);
  b.writeUInt32BE(WAL_BYTES, 12);
  b.writeBigUInt64BE(BigInt(header.baseSeq), 16);
  header.baseDigest.copy(b, 24);
  b.writeUInt32BE(crc32Range(b, 0, HEADER_CRC_AT), HEADER_CRC_AT);
  return b;
}

/** The header, or what is wrong with it. */
export function decodeHeader(raw: Buffer): WalHeader | string {
  if (raw.length < WAL_HEADER_BYTES) return `journal.wal is ${raw.length} bytes, shorter than its header`;
  if (!raw.subarray(0, 8).equals(HEADER_MAGIC)) return 'journal.wal header has no POSJWAL1 magic';
  if (crc32Range(raw, 0, HEADER_CRC_AT) !== raw.readUInt32BE(HEADER_CRC_AT)) return 'journal.wal header CRC does not match';
  if (raw.readUInt32BE(8) !== WAL_VERSION) return `journal.wal version ${raw.readUInt32BE(8)} is not ${WAL_VERSION}`;
  const baseSeq = raw.readBigUInt64BE(16);
  if (baseSeq > BigInt(SEQ_MAX)) return `journal.wal base seq ${baseSeq} out of range`;
  return { baseSeq: Number(baseSeq), baseDigest: Buffer.from(raw.subarray(24, 56)) };
}

/** One commit's bytes: the commit header, then the frames back to back. */
export function encodeCommit(entries: ReadonlyArray<WalEntry>): Buffer {
  invariant(entries.length >= 1 && entries.length <= WAL_COMMIT_RECORDS_MAX, 'WAL commit record count out of range', { records: entries.length });
  let bodyBytes = 0;
  for (let i = 0; i < entries.length; i++) {
    // The detail object only when it fails: this runs for every record of every commit.
    if (entries[i].seq !== entries[0].seq + i) invariant(false, 'WAL commit seqs not consecutive', { first: entries[0].seq, at: i, seq: entries[i].seq });
    bodyBytes += entries[i].stored.length;
  }
  const out = Buffer.allocUnsafe(WAL_COMMIT_HEADER_BYTES + bodyBytes);
  copyFrames(entries, out, WAL_COMMIT_HEADER_BYTES);
  out.writeUInt32BE(COMMIT_MAGIC, 0);
  out.writeUInt16BE(entries.length, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt32BE(entries[0].seq, 8);
  out.writeUInt32BE(bodyBytes, 12);
  // zlib's CRC for the body: over a commit's kilobytes the native call is about four times
  // faster than crc32Range (22 KiB: 5.5 against 22.5 µs), which wins only for a record's few hundred bytes.
  out.writeUInt32BE(crc32(out.subarray(WAL_COMMIT_HEADER_BYTES)), 16);
  out.writeUInt32BE(crc32Range(out, 0, 20), 20);
  return out;
}

/**
 * The entries' frames back to back into `out` from `at`. Frames lying one after another in
 * memory (a batch encodeRecords wrote into one buffer) are copied as one run: one copy per batch
 * instead of one per record. The bytes are the same either way.
 */
function copyFrames(entries: ReadonlyArray<WalEntry>, out: Buffer, at: number): void {
  let i = 0;
  while (i < entries.length) {
    const first = entries[i].stored;
    let runEnd = first.byteOffset + first.length;
    let j = i + 1;
    for (; j < entries.length; j++) {
      const next = entries[j].stored;
      if (next.buffer !== first.buffer || next.byteOffset !== runEnd) break;
      runEnd += next.length;
    }
    const runBytes = runEnd - first.byteOffset;
    out.set(j === i + 1 ? first : new Uint8Array(first.buffer, first.byteOffset, runBytes), at);
    at += runBytes;
    i = j;
  }
}

/** A commit read whole (readCommit): its records, and the offset just past it. */
export interface WholeCommit {
  readonly firstSeq: number;
  readonly entries: WalEntry[];
  readonly endOffset: number;
}

/** The commit header at `at` alone holds (magic, reserved, header CRC, sane count and length). */
function commitHeaderValid(raw: Buffer, at: number): boolean {
  if (at + WAL_COMMIT_HEADER_BYTES > raw.length) return false;
  if (u32(raw, at) !== COMMIT_MAGIC || raw.readUInt16BE(at + 6) !== 0) return false;
  if (crc32Range(raw, at, at + 20) !== u32(raw, at + 20)) return false;
  const count = raw.readUInt16BE(at + 4);
  return count >= 1 && count <= WAL_COMMIT_RECORDS_MAX && u32(raw, at + 8) >= 1;
}

/** The whole commit at `at`, or undefined (see JOURNAL_FORMAT.md: header, body CRC, frames, seqs). */
export function readCommit(raw: Buffer, at: number): WholeCommit | undefined {
  if (!commitHeaderValid(raw, at)) return undefined;
  const count = raw.readUInt16BE(at + 4);
  const firstSeq = u32(raw, at + 8);
  const bodyBytes = u32(raw, at + 12);
  const bodyAt = at + WAL_COMMIT_HEADER_BYTES;
  if (bodyAt + bodyBytes > raw.length || count * HEADER_BYTES > bodyBytes) return undefined;
  if (crc32Range(raw, bodyAt, bodyAt + bodyBytes) !== u32(raw, at + 16)) return undefined;
  const entries: WalEntry[] = [];
  let p = bodyAt;
  for (let i = 0; i < count; i++) {
    if (p + HEADER_BYTES > bodyAt + bodyBytes) return undefined;
    const stored = raw.subarray(p, p + HEADER_BYTES + u32(raw, p + 16));
    if (p + stored.length > bodyAt + bodyBytes || !frameValid(stored)) return undefined;
    if (u32(stored, 12) !== firstSeq + i) return undefined;
    entries.push({ seq: firstSeq + i, stored });
    p += stored.length;
  }
  if (p !== bodyAt + bodyBytes) return undefined;
  return { firstSeq, entries, endOffset: p };
}

// ---- one flipped bit: damage to a commit written whole, told from a torn one (JOURNAL_FORMAT.md,
// "Write-ahead log", "One bit changed"). No format change: the commit's own CRCs locate the bit.

/**
 * A disk writes a sector whole or not at all: a power cut tears a write at sector bounds, never
 * inside one (the power-cut tests tear at 4096-byte pages and at 512-byte sectors). The one-bit
 * rule's guard is taken at this, the smallest unit a cut may leave as it was.
 */
export const WAL_TEAR_BYTES = 512;

/**
 * The most bytes `flippedBitIn` searches for one flipped bit: the whole log, so every body a
 * commit can have (at most WAL_COMMITS_BYTES_MAX - WAL_COMMIT_HEADER_BYTES) and every header.
 * Over its 8 Mi bit positions every CRC-32 syndrome is its own, none of them 0 nor a single bit
 * (checked once, by computing and sorting them all), so the bit found is the only one that explains
 * the CRC, and a flip in a stored CRC field (a syndrome of one bit) is never taken for one in the
 * bytes it covers. Syndromes repeat within 2^32 - 1 bits at most (the order of x modulo a degree-32
 * polynomial): the bound asserted below, far above.
 */
export const WAL_FLIP_SEARCH_BYTES_MAX = WAL_BYTES;
invariant(WAL_FLIP_SEARCH_BYTES_MAX >= WAL_COMMITS_BYTES_MAX, 'the one-bit search must cover the largest commit body');
invariant(WAL_FLIP_SEARCH_BYTES_MAX * 8 < 2 ** 32 - 1, 'CRC-32 syndromes repeat within 2^32 - 1 bits');

/** CRC-32's polynomial (IEEE 802.3, zlib's) as its bit-reversed register holds it. */
const CRC32_POLY_REFLECTED = 0xedb88320 | 0;
/** Where a frame's own header CRC is (record.ts: CRC-32 of its bytes 0..63); it covers the record's seq. */
const FRAME_HEADER_CRC_AT = HEADER_BYTES - 4;

/** A byte of the log and the bit (a one-bit mask) that changed in it. */
export interface FlippedBit { readonly at: number; readonly mask: number }

/**
 * The one bit of `buf[start, end)` whose flip makes its CRC-32 `expected`, or undefined when no
 * single bit does (the CRC already holds, or more than one bit changed).
 *
 * CRC-32 is affine in its data for a fixed length: flipping bit b (mask 1 << b) of byte j changes
 * the CRC by the same value whatever the bytes, x^t mod P with t = 8 * (end - j) - b in zlib's
 * bit-reversed register (one register step with no data is a multiplication by x). So the syndrome
 * CRC ^ expected is looked for by walking t up from the end, one step a bit: O(n), where computing
 * the CRC again for every bit would be O(n^2) (8 Mi CRCs of up to 1 MiB for a full log). Measured
 * on the development machine: ~47 ms for a body of the whole log's size, found or not; a sale's
 * commit of a few KiB costs well under a millisecond. Only an open that meets an unreadable commit
 * pays it.
 */
export function flippedBitIn(buf: Uint8Array, start: number, end: number, expected: number): FlippedBit | undefined {
  invariant(start >= 0 && start <= end && end <= buf.length, 'one-bit search outside its buffer', { start, end, bytes: buf.length });
  invariant(end - start <= WAL_FLIP_SEARCH_BYTES_MAX, 'one-bit search longer than WAL_FLIP_SEARCH_BYTES_MAX', { bytes: end - start });
  // Both int32 (^ makes them so), as the register below is.
  const syndrome = crc32Range(buf, start, end) ^ expected;
  if (syndrome === 0) return undefined;
  const bits = (end - start) * 8;
  let r = 1;
  for (let t = 1; t <= bits; t++) {
    r = r & 1 ? (r >>> 1) ^ CRC32_POLY_REFLECTED : r >>> 1;
    if (r === syndrome) {
      const back = Math.ceil(t / 8);
      return { at: end - back, mask: 1 << (8 * back - t) };
    }
  }
  return undefined;
}

/**
 * A stored CRC field (big-endian, at `at`) whose value is one bit off: the syndrome is that bit.
 * Undefined when the syndrome is not a single bit.
 */
function flippedBitInCrcField(at: number, syndrome: number): FlippedBit | undefined {
  const s = syndrome >>> 0;
  if (s === 0 || (s & (s - 1)) !== 0) return undefined;
  const k = 31 - Math.clz32(s);
  return { at: at + 3 - (k >>> 3), mask: 1 << (k & 7) };
}

/** The commit at `at` as it was written, with the one bit that changed in it since. */
export interface OneBitFlipped extends FlippedBit {
  /** Read from a copy with the bit flipped back: never taken (damage is reported, not repaired). */
  readonly commit: WholeCommit;
}

/**
 * The commit at `at` (unreadable as it is) as it was written, when flipping back exactly one bit
 * of it makes it whole (readCommit: its header CRC, its body CRC, every frame's CRCs, count and
 * seqs); or undefined. The bit is looked for in the header's 20 checked bytes or its stored CRC
 * when the header's CRC fails (then the body must hold as it is), else in the body (then the
 * header holds as it is and the body must lie inside the file): one bit in all, never one of each.
 *
 * Only a commit with a record above `reachingPast` is searched: one whose records are all at or
 * below the last record held lost nothing to a flip (and the log's end, often such a stale commit,
 * costs no search). And only when the sector holding the bit holds a CRC that covers a record's
 * seq (sectorHoldsSeqCrc): else the difference may be a sector the cut left as it was.
 */
export function commitWithOneBitFlipped(raw: Buffer, at: number, reachingPast: number): OneBitFlipped | undefined {
  if (at < 0 || at + WAL_COMMIT_HEADER_BYTES > raw.length) return undefined;
  const headerSyndrome = crc32Range(raw, at, at + 20) ^ u32(raw, at + 20);
  const candidates: FlippedBit[] = [];
  if (headerSyndrome === 0) {
    // The header holds as it is (a flip would break its CRC): the bit is in the body.
    if (!commitHeaderValid(raw, at)) return undefined;
    if (u32(raw, at + 8) + raw.readUInt16BE(at + 4) - 1 <= reachingPast) return undefined;
    const bodyAt = at + WAL_COMMIT_HEADER_BYTES;
    const bodyBytes = u32(raw, at + 12);
    if (bodyBytes > WAL_FLIP_SEARCH_BYTES_MAX || bodyAt + bodyBytes > raw.length) return undefined;
    const bit = flippedBitIn(raw, bodyAt, bodyAt + bodyBytes, u32(raw, at + 16));
    if (bit) candidates.push(bit);
  } else {
    const inChecked = flippedBitIn(raw, at, at + 20, u32(raw, at + 20));
    const inCrc = flippedBitInCrcField(at + 20, headerSyndrome);
    if (inChecked) candidates.push(inChecked);
    if (inCrc) candidates.push(inCrc);
  }
  for (const bit of candidates) {
    const header = Buffer.from(raw.subarray(at, at + WAL_COMMIT_HEADER_BYTES));
    if (bit.at < at + WAL_COMMIT_HEADER_BYTES) header[bit.at - at] ^= bit.mask;
    const bodyBytes = u32(header, 12);
    if (bodyBytes > WAL_FLIP_SEARCH_BYTES_MAX || at + WAL_COMMIT_HEADER_BYTES + bodyBytes > raw.length) continue;
    const copy = Buffer.from(raw.subarray(at, at + WAL_COMMIT_HEADER_BYTES + bodyBytes));
    copy[bit.at - at] ^= bit.mask;
    const whole = readCommit(copy, 0);
    if (!whole) continue;
    invariant(whole.endOffset === copy.length, 'a commit read whole ends where its header says');
    if (whole.firstSeq + whole.entries.length - 1 <= reachingPast) return undefined;
    const commit: WholeCommit = { ...whole, endOffset: at + whole.endOffset };
    if (!sectorHoldsSeqCrc(at, commit, bit.at)) return undefined;
    return { ...bit, commit };
  }
  return undefined;
}

/**
 * Does the sector (WAL_TEAR_BYTES) holding byte `bitAt` of the commit at `at` hold, whole, a CRC
 * that covers a record's seq: the commit header's bodyCrc or headerCrc, or a frame's header CRC?
 *
 * Why: a cut may leave any sector of the commit in flight as it was before (zeros, or an earlier
 * cycle's bytes). Those old bytes may be one bit away from the new ones where the sector's share of
 * the commit holds nothing that differs between two records: a sliver of a commit header whose
 * firstSeq is one bit from the stale one's (6 then 14), the end of a payload whose counter is (`r1`
 * then `r5`), at the same offset in a log that repeats its layout every cycle. A CRC covering a seq
 * differs between any two records written there (seqs only grow, and each is written into the log
 * once), so a sector holding one whole is old bytes one bit from new ones with a chance of 33 in
 * 2^32; otherwise the one-bit rule could call a power cut damage, and the commit stays a torn one.
 */
function sectorHoldsSeqCrc(at: number, commit: WholeCommit, bitAt: number): boolean {
  const from = bitAt - (bitAt % WAL_TEAR_BYTES);
  const to = from + WAL_TEAR_BYTES;
  const inside = (field: number): boolean => field >= from && field + 4 <= to;
  if (inside(at + 16) || inside(at + 20)) return true;
  let p = at + WAL_COMMIT_HEADER_BYTES;
  for (const e of commit.entries) {
    if (p >= to) break;
    if (inside(p + FRAME_HEADER_CRC_AT)) return true;
    p += e.stored.length;
  }
  return false;
}

export interface WalScanInput {
  /** LMDB's last good record and its digest (the genesis digest when LMDB holds none). */
  readonly lmdbLastSeq: number;
  readonly lmdbLastDigest: Buffer;
  /** A record LMDB holds (seq ≤ lmdbLastSeq), to check a checkpointed frame against. */
  readonly lmdbRecord: (seq: number) => Buffer | undefined;
}

export interface WalScan {
  readonly header: WalHeader | undefined;
  /** Why the header could not be used (a cut-off creation or header write, or damage). */
  readonly headerProblem?: string;
  /** Records above LMDB's last, in seq order, each copied out of the file's bytes. */
  readonly taken: WalEntry[];
  readonly lastSeq: number;
  readonly lastDigest: Buffer;
  /**
   * The unreadable commit the scan stopped at when it is the torn tail (cut: never acknowledged);
   * `seq` its first record. Never a commit whole but for one bit: that one is `damage`.
   */
  readonly tornAt?: { readonly offset: number; readonly seq: number; readonly reason: string };
  /** Damage: a bad commit followed by a later whole one, a last commit whole but for one bit, a gap, a broken link. */
  readonly damage?: Damage;
  /** The log is another history than LMDB's from this record on (nothing of it taken). */
  readonly superseded?: Superseded;
}

/** The log's history left LMDB's at `seq`: another writer's records are in data.mdb there. */
export interface Superseded { readonly seq: number; readonly reason: string }

type CommitVerdict = 'skip' | 'take' | 'end' | Damage | { superseded: Superseded };

/**
 * The commit's records that LMDB holds too (above the header's base: a cut between a checkpoint's
 * LMDB transaction and the header rewrite) must be the same bytes. Above the base LMDB grew
 * without a checkpoint of this log (which writes these very bytes) only by a writer that did not
 * know the log, i.e. the software before it after an A/B rollback: when both copies extend the
 * same record (a fork), LMDB's history, verified whole, is the one the terminal went on with, and
 * the log's is another (superseded: kept aside, not damage). Any other difference is damage.
 */
function comparedWithLmdb(c: WholeCommit, input: WalScanInput, baseSeq: number): Damage | { superseded: Superseded } | undefined {
  for (const e of c.entries) {
    if (e.seq > input.lmdbLastSeq) return undefined;
    if (e.seq <= baseSeq) continue; // LMDB's own decision table's (judgeCommit)
    const inLmdb = input.lmdbRecord(e.seq);
    if (!inLmdb) return { seq: e.seq, reason: `record ${e.seq} in journal.wal is missing from data.mdb` };
    if (inLmdb.equals(e.stored)) continue;
    if (prevDigestOf(inLmdb).equals(prevDigestOf(e.stored))) {
      return { superseded: { seq: e.seq, reason: `record ${e.seq} in journal.wal differs from the one in data.mdb, which software that does not know the log wrote past the log's base (record ${baseSeq})` } };
    }
    return { seq: e.seq, reason: `record ${e.seq} in journal.wal differs from the one in data.mdb` };
  }
  return undefined;
}

/** What the open's decision table says of one whole commit (see JOURNAL_FORMAT.md). */
function judgeCommit(c: WholeCommit, input: WalScanInput, last: { seq: number; digest: Buffer }, baseSeq: number): CommitVerdict {
  const lastInCommit = c.firstSeq + c.entries.length - 1;
  // The header says LMDB holds these: an earlier cycle's commit, so the end of this cycle's. They
  // are not compared with LMDB: a record LMDB lost or damaged is LMDB's decision table's (as
  // before the log: a boot on its checkpoint does not read records before it), never made good
  // from a stale copy here.
  if (lastInCommit <= baseSeq) return 'end';
  const differs = comparedWithLmdb(c, input, baseSeq);
  if (differs) return differs;
  if (lastInCommit <= input.lmdbLastSeq) return 'skip';
  if (last.seq > input.lmdbLastSeq && c.firstSeq <= last.seq) return 'end';
  const digestLatin1 = last.digest.toString('latin1');
  const above = c.entries.filter((e) => e.seq > input.lmdbLastSeq);
  if (above[0].seq !== last.seq + 1) return { seq: last.seq + 1, reason: `journal.wal holds record ${above[0].seq} next, after record ${last.seq} (records missing)` };
  if (!digestAtEquals(above[0].stored, PREV_DIGEST_AT, digestLatin1)) return { seq: last.seq + 1, reason: `record ${last.seq + 1} in journal.wal does not link to record ${last.seq}` };
  return 'take';
}

/** Takes a commit's records above LMDB's last; damage when they do not chain one to the next. */
function takeCommit(c: WholeCommit, input: WalScanInput, taken: WalEntry[], last: { seq: number; digest: Buffer }, baseSeq: number): Damage | undefined {
  for (const e of c.entries) {
    if (e.seq <= input.lmdbLastSeq) continue;
    if (e.seq <= baseSeq) return { seq: e.seq, reason: `record ${e.seq} is missing from data.mdb though journal.wal's header says it was put there` };
    if (!digestAtEquals(e.stored, PREV_DIGEST_AT, last.digest.toString('latin1'))) return { seq: e.seq, reason: `record ${e.seq} in journal.wal does not link to record ${last.seq}` };
    const copy = Buffer.from(e.stored);
    taken.push({ seq: e.seq, stored: copy });
    last.seq = e.seq;
    last.digest = recordDigest(copy);
  }
  return undefined;
}

/** A whole commit somewhere after `from` with a seq beyond `lastSeq`: proof the bad one was flushed. */
function laterCommitAfter(raw: Buffer, from: number, lastSeq: number): WholeCommit | undefined {
  const magic = Buffer.from([0x50, 0x4f, 0x53, 0x57]);
  for (let at = raw.indexOf(magic, from + 1); at >= 0; at = raw.indexOf(magic, at + 1)) {
    const c = readCommit(raw, at);
    if (c && c.firstSeq > lastSeq) return c;
  }
  return undefined;
}

/** Why a commit with one bit changed is damage: journal.wal, the bit's byte and mask, the records. */
function oneBitReason(at: number, flipped: OneBitFlipped, also: string | undefined): string {
  const first = flipped.commit.firstSeq;
  const lastInCommit = first + flipped.commit.entries.length - 1;
  const records = first === lastInCommit ? `record ${first}` : `records ${first}..${lastInCommit}`;
  return `journal.wal: a bit of an acknowledged commit changed (byte ${flipped.at}, mask 0x${flipped.mask.toString(16).padStart(2, '0')}, in the commit at byte ${at}: ${records}); `
    + `with that bit flipped back the commit is whole, so it had been written whole and flushed: damaged at rest, not torn by a power cut${also ? `; ${also}` : ''}`;
}

/**
 * Applies the open's decision table (JOURNAL_FORMAT.md, "Write-ahead log") to the log's bytes.
 * Never throws on bad bytes: damage and a torn tail are results.
 */
export function scanWal(raw: Buffer, input: WalScanInput): WalScan {
  const decoded = raw.length > 0 ? decodeHeader(raw) : 'journal.wal is empty';
  const header = typeof decoded === 'string' ? undefined : decoded;
  const headerProblem = typeof decoded === 'string' ? decoded : raw.length !== WAL_BYTES ? `journal.wal is ${raw.length} bytes, not ${WAL_BYTES}` : undefined;
  const taken: WalEntry[] = [];
  const last = { seq: input.lmdbLastSeq, digest: input.lmdbLastDigest };
  // A header block that is neither a header nor zeros was written over: no cut makes one (the
  // file is zeros before its first header, and a header is one block alone). With no commit
  // readable after LMDB's last record, what the log held is unknown: damage, not an empty log.
  const garbled = header === undefined && raw.subarray(0, Math.min(raw.length, WAL_HEADER_BYTES)).some((b) => b !== 0);
  const result = (extra: Partial<WalScan>): WalScan => {
    const unknown = garbled && taken.length === 0 && !extra.damage && !extra.superseded && !extra.tornAt;
    return {
      header, ...(headerProblem ? { headerProblem } : {}), taken, lastSeq: last.seq, lastDigest: last.digest,
      ...(unknown ? { damage: { seq: last.seq + 1, reason: 'journal.wal: its header is damaged (neither a header nor zeros) and no commit after data.mdb\'s last record can be read: records after it may be lost', logLost: true } } : {}),
      ...extra,
    };
  };
  let at = WAL_HEADER_BYTES;
  while (at < raw.length) {
    const c = readCommit(raw, at);
    if (!c) {
      const later = laterCommitAfter(raw, at, last.seq);
      if (later) return result({ damage: { seq: last.seq + 1, reason: `journal.wal: an unreadable commit at byte ${at} is followed by a whole later commit (record ${later.firstSeq}): it had been flushed` } });
      // A commit whole but for one bit was written whole, flushed and acknowledged, then damaged
      // at rest (flash wear, a bad cell): a cut tears whole sectors, many bits. When the table
      // would have taken its records (or found them damaged), they are damage, never cut.
      const flipped = commitWithOneBitFlipped(raw, at, last.seq);
      if (flipped) {
        const verdict = judgeCommit(flipped.commit, input, last, header?.baseSeq ?? 0);
        if (verdict === 'take' || (typeof verdict === 'object' && !('superseded' in verdict))) {
          return result({ damage: { seq: last.seq + 1, reason: oneBitReason(at, flipped, typeof verdict === 'object' ? verdict.reason : undefined) } });
        }
      }
      // Only a commit of the next records is the one in flight at the cut: a commit header of an
      // earlier cycle (its records at or below the last taken, cut before) is stale bytes, the end.
      const torn = commitHeaderValid(raw, at) && u32(raw, at + 8) === last.seq + 1;
      return result(torn ? { tornAt: { offset: at, seq: last.seq + 1, reason: 'the last commit is incomplete (torn by a power cut)' } } : {});
    }
    const verdict = judgeCommit(c, input, last, header?.baseSeq ?? 0);
    if (verdict === 'end') break;
    if (typeof verdict === 'object' && 'superseded' in verdict) return result({ superseded: verdict.superseded });
    if (typeof verdict === 'object') return result({ damage: verdict });
    if (verdict === 'take') {
      const broken = takeCommit(c, input, taken, last, header?.baseSeq ?? 0);
      if (broken) return result({ damage: broken });
    }
    at = c.endOffset;
  }
  return result({});
}

/** Reads the whole log; an absent file reads as empty. */
export function readWalFile(dir: string): Buffer {
  const file = walPath(dir);
  if (!existsSync(file)) return Buffer.alloc(0);
  const fd = openSync(file, 'r');
  try {
    const size = Math.min(fstatSync(fd).size, WAL_BYTES);
    const raw = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, raw, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return raw.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export interface WalWriterOptions {
  /** UNSAFE: no flushes (the power-cut tests' positive control only). */
  readonly noSync?: boolean;
  /** Sees the log's writes and flushes (the day simulation's disk model only). */
  readonly observer?: WalWriteObserver;
  /**
   * Records the log takes before the journal checkpoints (default and most WAL_TAIL_RECORDS_MAX).
   * Lower only in tests that cut the power in the log-full checkpoint (sim/simulate-storage.test.ts):
   * the format is the same, the log only starts over sooner.
   */
  readonly tailRecordsMax?: number;
}

/**
 * Told of every write of the log before it is issued and of every flush once it returned: the
 * day simulation (sim/simulate-storage.ts) rebuilds journal.wal from them as a disk would hold it
 * after a power cut, as tests/powercut does from an strace. Observing changes nothing written.
 */
export interface WalWriteObserver {
  write(offset: number, bytes: Buffer): void;
  flushed(): void;
}

/**
 * Writes commits at the write offset and rewrites the header at a checkpoint. Every method is
 * synchronous (pwrite + fdatasync on the calling thread, as the journal's LMDB commits are) and
 * throws the file system's error as is: the journal maps it (storage-errors.ts) and fails.
 */
export class WalWriter {
  private offset = WAL_HEADER_BYTES;
  private records = 0;

  /** Records the log takes before it must start over (WalWriterOptions.tailRecordsMax, at most WAL_TAIL_RECORDS_MAX). */
  private readonly tailRecordsMax: number;

  private constructor(private readonly fd: number, private readonly options: WalWriterOptions) {
    this.tailRecordsMax = Math.min(options.tailRecordsMax ?? WAL_TAIL_RECORDS_MAX, WAL_TAIL_RECORDS_MAX);
  }

  /**
   * Opens the log for writing from the start of its commits, with `header` in force. A missing
   * log, one of the wrong size or with an unusable header is (re)created: zeros written over its
   * whole length and fsynced, then the header. Callers have read what the old log held first.
   */
  static open(dir: string, header: WalHeader, options: WalWriterOptions = {}): WalWriter {
    const file = walPath(dir);
    const existing = existsSync(file) ? readHeaderOf(file) : undefined;
    const fresh = existing === undefined || typeof existing.header === 'string' || existing.sizeBytes !== WAL_BYTES;
    const fd = openSync(file, existsSync(file) ? 'r+' : 'wx');
    const writer = new WalWriter(fd, options);
    try {
      if (fresh) writer.zeroFill();
      const same = !fresh && typeof existing.header !== 'string' && existing.header.baseSeq === header.baseSeq && existing.header.baseDigest.equals(header.baseDigest);
      if (!same) writer.reset(header);
      if (fresh) syncDir(dir, options);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return writer;
  }

  /** Bytes of commits written since the last reset. */
  get usedBytes(): number { return this.offset - WAL_HEADER_BYTES; }
  /** Records written since the last reset. */
  get recordCount(): number { return this.records; }

  /** Would a commit of these records fit (in bytes and in the record limit)? */
  fits(records: number, frameBytes: number): boolean {
    return this.offset + WAL_COMMIT_HEADER_BYTES + frameBytes <= WAL_BYTES && this.records + records <= this.tailRecordsMax && records <= WAL_COMMIT_RECORDS_MAX;
  }

  /** One commit: one pwrite at the write offset, one fdatasync. Durable when it returns. */
  append(entries: ReadonlyArray<WalEntry>): void {
    const commit = encodeCommit(entries);
    invariant(this.offset + commit.length <= WAL_BYTES, 'WAL commit does not fit (check fits() first)', { offset: this.offset, bytes: commit.length });
    this.write(commit, this.offset);
    this.sync();
    this.offset += commit.length;
    this.records += entries.length;
  }

  /** After a checkpoint: the new header (one block, one fdatasync); commits start over. */
  reset(header: WalHeader): void {
    this.write(encodeHeader(header), 0);
    this.sync();
    this.offset = WAL_HEADER_BYTES;
    this.records = 0;
  }

  close(): void {
    closeSync(this.fd);
  }

  private zeroFill(): void {
    this.write(Buffer.alloc(WAL_BYTES), 0);
    // fsync, not fdatasync: the size and the blocks must be on disk, so later fdatasyncs never
    // have metadata to write.
    if (this.options.noSync) return;
    fsyncSync(this.fd);
    this.options.observer?.flushed();
  }

  private write(bytes: Buffer, position: number): void {
    this.options.observer?.write(position, bytes);
    writeAll(this.fd, bytes, position);
  }

  private sync(): void {
    if (this.options.noSync) return;
    fdatasyncSync(this.fd);
    this.options.observer?.flushed();
  }
}

function writeAll(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function readHeaderOf(file: string): { header: WalHeader | string; sizeBytes: number } {
  const fd = openSync(file, 'r');
  try {
    const sizeBytes = fstatSync(fd).size;
    const block = Buffer.alloc(Math.min(sizeBytes, WAL_HEADER_BYTES));
    readSync(fd, block, 0, block.length, 0);
    return { header: decodeHeader(block), sizeBytes };
  } finally {
    closeSync(fd);
  }
}

/** A new file's directory entry is made durable with the directory's fsync. */
function syncDir(dir: string, options: WalWriterOptions): void {
  if (!options.noSync) fsyncDir(dir);
}

/**
 * The journal's verifier: walks stored records in key order and applies the decision table of
 * storage/JOURNAL_FORMAT.md ("Opening: verify, then decide").
 *
 *   header | body | chain | last? | decision
 *   ok     | ok   | ok    | any   | keep
 *   bad    |  -   |  -    | yes   | cut the torn tail
 *   bad    |  -   |  -    | no    | stop: damaged at this seq
 *   ok     | bad  |  -    | yes   | cut the torn tail
 *   ok     | bad  |  -    | no    | stop: damaged at this seq
 *   ok     | ok   | bad   | any   | stop: damaged (a tear never leaves valid CRCs with a wrong link)
 *   unknown version       | any   | stop: damaged (newer software)
 *   gap in keys           |       | stop: damaged at the first missing seq
 *   walk ends before the last key |  | stop: damaged (a damaged index page hides records)
 *   record 1 not journal-created for this identity | stop: damaged at 1
 *
 * Pure over an iterable of (key, stored bytes): LMDB, a backup body and salvage all use it.
 */
import { checkFrame, decodePayload, digestAtEquals, frameValid, genesisDigest, recordDigestLatin1, RecordType, DIGEST_BYTES, prevDigestOf, u32 } from './record';

export interface StoredEntry {
  readonly key: number;
  readonly stored: Buffer;
}

export interface Damage {
  readonly seq: number;
  readonly reason: string;
  /** true when the damage is a foreign journal (record 1 names another identity). */
  readonly foreign?: boolean;
}

export interface VerifyReport {
  /** Identity the chain was checked against (given, or read from record 1). */
  readonly identity: string | undefined;
  /** Records that passed every check, from seq 1 up to `lastGoodSeq`. */
  readonly goodCount: number;
  readonly lastGoodSeq: number;
  readonly lastGoodDigest: Buffer;
  /** The torn last record to cut, when the only fault is there. */
  readonly tornTail?: Damage;
  /** The first damaged record; records from here on are not trusted. */
  readonly damage?: Damage;
  readonly elapsedMs: number;
}

export interface VerifyOptions {
  /** Expected identity; when absent it is read from record 1 (and record 1 is still checked against it). */
  readonly identity?: string;
  /** Entry count the store itself records (LMDB's meta page); more than the walk found = hidden records. */
  readonly storedCount?: number;
  /**
   * Segment mode (parallel verification): the entries start at this seq instead of 1, and the
   * first record's prevDigest is taken on trust and returned as `startPrevDigest`, for the caller
   * to check against the previous segment's last digest. The end-of-store checks are the caller's.
   */
  readonly startSeq?: number;
  /** The entries are one segment of the store: the end-of-store checks are left to the caller. */
  readonly partial?: boolean;
  /**
   * Anchored mode (boot checkpoint, storage/boot-open.ts): the digest of record `startSeq - 1`,
   * already trusted. The first record must link to it like any other (no `startPrevDigest` trust).
   */
  readonly prevDigest?: Buffer;
}

export interface SegmentReport extends VerifyReport {
  /** prevDigest stored in the segment's first record (segment mode only). */
  readonly startPrevDigest?: Buffer;
}

/** Reads the identity out of record 1 when its frame is good. */
export function identityOfFirst(first: StoredEntry | undefined): string | undefined {
  if (!first) return undefined;
  const r = checkFrame(first.stored);
  if ('fault' in r || r.header.type !== RecordType.journalCreated) return undefined;
  try {
    const id = decodePayload(first.stored).identity;
    return typeof id === 'string' && id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies entries (ascending keys). `isLast(key)` must say whether a key is the highest stored
 * (the verifier streams, so the caller who knows the store answers it).
 */
export function verifyEntries(entries: Iterable<StoredEntry>, lastKey: number, options: VerifyOptions = {}): SegmentReport {
  const started = process.hrtime.bigint();
  const segment = (options.startSeq ?? 1) > 1;
  let startPrevDigest: Buffer | undefined;
  const done = (r: Omit<SegmentReport, 'elapsedMs' | 'identity'>, identity: string | undefined): SegmentReport =>
    ({ ...r, identity, startPrevDigest, elapsedMs: Number(process.hrtime.bigint() - started) / 1e6 });

  let identity = options.identity;
  let prev: Buffer = Buffer.alloc(DIGEST_BYTES);
  let expected = options.startSeq ?? 1;
  let goodCount = 0;
  // Speed (1M records in well under the 2 s goal matters at boot): the chain digest is kept as a
  // latin1 string (crypto.hash returns strings ~3x faster than Buffers in Node 20) and compared
  // in place with the stored prevDigest; the Buffer is made only when a report needs it.
  let prevLatin1 = '';
  let prevStale = false;
  const anchored = options.prevDigest !== undefined;
  if (options.prevDigest !== undefined) {
    prev = options.prevDigest;
    prevLatin1 = prev.toString('latin1');
  }
  const current = (): Buffer => {
    if (prevStale) { prev = Buffer.from(prevLatin1, 'latin1'); prevStale = false; }
    return prev;
  };
  for (const { key, stored } of entries) {
    const isLast = key === lastKey;
    if (key !== expected) {
      return done({ goodCount, lastGoodSeq: expected - 1, lastGoodDigest: current(), damage: { seq: expected, reason: `record ${expected} missing (next stored is ${key})` } }, identity);
    }
    if (key === 1) {
      const found = identityOfFirst({ key, stored });
      identity = identity ?? found;
      if (identity === undefined) {
        const fault = { seq: 1, reason: 'record 1 is not a readable journal-created record' };
        return done({ goodCount, lastGoodSeq: 0, lastGoodDigest: current(), ...(isLast ? { tornTail: fault } : { damage: fault }) }, identity);
      }
      if (found !== undefined && found !== identity) {
        return done({ goodCount, lastGoodSeq: 0, lastGoodDigest: current(), damage: { seq: 1, reason: `journal belongs to "${found}", not "${identity}"`, foreign: true } }, identity);
      }
      prev = genesisDigest(identity);
      prevLatin1 = prev.toString('latin1');
      prevStale = false;
    }
    const frameOk = frameValid(stored);
    if (segment && !anchored && startPrevDigest === undefined && frameOk) {
      startPrevDigest = Buffer.from(prevDigestOf(stored));
      prevLatin1 = startPrevDigest.toString('latin1');
      prevStale = true;
    }
    // frameValid makes exactly checkFrame's checks without allocating; checkFrame names the fault.
    if (!frameOk) {
      const frame = checkFrame(stored);
      if ('fault' in frame) {
        const fault = { seq: key, reason: frame.fault.reason };
        if (frame.fault.part !== 'version' && isLast) return done({ goodCount, lastGoodSeq: key - 1, lastGoodDigest: current(), tornTail: fault }, identity);
        return done({ goodCount, lastGoodSeq: key - 1, lastGoodDigest: current(), damage: fault }, identity);
      }
    }
    const seq = u32(stored, 12); // the high word of the u64 seq is 0 (checked above)
    if (seq !== key) {
      const fault = { seq: key, reason: `stored under key ${key} but header says seq ${seq}` };
      return done({ goodCount, lastGoodSeq: key - 1, lastGoodDigest: current(), ...(isLast ? { tornTail: fault } : { damage: fault }) }, identity);
    }
    if (!digestAtEquals(stored, 32, prevLatin1)) {
      const reason = key === 1 ? 'record 1 does not start this identity\'s chain' : `chain broken: record ${key} does not follow record ${key - 1}`;
      return done({ goodCount, lastGoodSeq: key - 1, lastGoodDigest: current(), damage: { seq: key, reason, foreign: key === 1 } }, identity);
    }
    prevLatin1 = recordDigestLatin1(stored);
    prevStale = true;
    goodCount++;
    expected++;
  }
  current(); // from here on `prev` is the last good record's digest
  if (segment || options.partial) return done({ goodCount, lastGoodSeq: expected - 1, lastGoodDigest: prev }, identity);
  const stored = options.storedCount ?? 0;
  if (stored > goodCount) {
    return done({ goodCount, lastGoodSeq: expected - 1, lastGoodDigest: prev, damage: { seq: expected, reason: `the store counts ${stored} records but only ${goodCount} are reachable (a damaged index page hides records)` } }, identity);
  }
  if (lastKey > expected - 1) {
    // The store says a higher key exists, but the forward walk never reached it: a damaged
    // B-tree branch page hides records. Never report such a journal as whole.
    return done({ goodCount, lastGoodSeq: expected - 1, lastGoodDigest: prev, damage: { seq: expected, reason: `records ${expected}..${lastKey} unreachable (the index ends early)` } }, identity);
  }
  return done({ goodCount, lastGoodSeq: expected - 1, lastGoodDigest: prev }, identity);
}

/**
 * The journal's verifier: walks stored records in key order and applies the decision table of
 * storage/JOURNAL_FORMAT.md ("Opening: verify, then decide").
 *
 *   header | body | chain | last? | decision
 *   ok     | ok   | ok    | any   | keep
 *   bad    |  -   |  -    | any   | stop: damaged at this seq (LMDB is never torn by a cut: stop)
 *   ok     | bad  |  -    | any   | stop: damaged at this seq
 *   ok     | ok   | bad   | any   | stop: damaged (a tear never leaves valid CRCs with a wrong link)
 *   unknown version       | any   | stop: damaged (newer software)
 *   gap in keys           |       | stop: damaged at the first missing seq
 *   walk ends before the last key |  | stop: damaged (a damaged index page hides records)
 *   record 1 not journal-created for this identity | stop: damaged at 1
 *
 * Pure over an iterable of (key, stored bytes): LMDB, a backup body and salvage all use it.
 */
import { chainStepAddon, ChainStepFn, CHAIN_STEP_OK, checkFrame, decodePayload, digestAtEquals, frameValid, genesisDigest, recordDigestLatin1, RecordType, DIGEST_BYTES, PREV_DIGEST_AT, prevDigestOf, u32 } from './record';

export interface StoredEntry {
  readonly key: number;
  readonly stored: Buffer;
}

export interface Damage {
  readonly seq: number;
  readonly reason: string;
  /** true when the damage is a foreign journal (record 1 names another identity). */
  readonly foreign?: boolean;
  /**
   * true when the write-ahead log is gone or written over (storage/wal.ts): data.mdb's records up
   * to seq - 1 are whole, what the log held after them is lost. Repair keeps data.mdb as it is.
   */
  readonly logLost?: boolean;
}

export interface VerifyReport {
  /** Identity the chain was checked against (given, or read from record 1). */
  readonly identity: string | undefined;
  /** Records that passed every check, from seq 1 up to `lastGoodSeq`. */
  readonly goodCount: number;
  readonly lastGoodSeq: number;
  readonly lastGoodDigest: Buffer;
  /**
   * The torn last commit of the write-ahead log to cut (storage/journal.ts withWal): never set by
   * the verifier itself, whose stores are never torn by a cut (ChainWalk.stop).
   */
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
 * Verifies entries (ascending keys). `lastKey` is the highest key the store holds (the verifier
 * streams, so the caller who knows the store says which key is the last).
 */
export function verifyEntries(entries: Iterable<StoredEntry>, lastKey: number, options: VerifyOptions = {}): SegmentReport {
  const walk = new ChainWalk(lastKey, options);
  for (const { key, stored } of entries) {
    const stop = walk.step(key, stored);
    if (stop) return stop;
  }
  return walk.end();
}

/**
 * The decision table over one walk, a record at a time: `step` checks the next stored record and
 * returns the report when it decides (a fault), `end` the report when the entries ran out. Both
 * drivers use it: verifyEntries over any iterable, verify-lmdb.ts over LMDB's cursor directly.
 */
export class ChainWalk {
  private readonly started = process.hrtime.bigint();
  private readonly segment: boolean;
  private readonly anchored: boolean;
  private startPrevDigest: Buffer | undefined;
  private identity: string | undefined;
  private prev: Buffer = Buffer.alloc(DIGEST_BYTES);
  // Speed (1M records in under the 1 s goal): the chain digest is kept as a latin1 string
  // (crypto.hash returns strings ~3x faster than Buffers in Node 20) and compared in place with
  // the stored prevDigest; the Buffer is made only when a report needs it.
  private prevLatin1 = '';
  private prevStale = false;
  /**
   * The native step (storage/record.ts chainStepAddon), when built: a whole record is then one
   * call that checks the frame, seq and link and hashes it into `chain` (about half the walk's
   * time in JavaScript). Any record it does not pass goes through the JavaScript step, which
   * decides and names the fault as it always has.
   */
  private readonly native: ChainStepFn | null = chainStepAddon();
  /**
   * The chain digest in native mode: the truth there, except while the JavaScript step decides a
   * record (prevStale: prevLatin1 is, and a report made then takes it).
   */
  private readonly chain = Buffer.alloc(DIGEST_BYTES);
  private expected: number;
  private goodCount = 0;

  constructor(private readonly lastKey: number, private readonly options: VerifyOptions) {
    this.segment = (options.startSeq ?? 1) > 1;
    this.anchored = options.prevDigest !== undefined;
    this.identity = options.identity;
    this.expected = options.startSeq ?? 1;
    if (options.prevDigest !== undefined) {
      this.prev = options.prevDigest;
      this.prevLatin1 = this.prev.toString('latin1');
      this.chain.set(this.prev);
    }
  }

  /** Checks the record stored under `key`; a report when the walk stops here, else undefined. */
  step(key: number, stored: Buffer): SegmentReport | undefined {
    if (key !== this.expected) return this.stop({ seq: this.expected, reason: `record ${this.expected} missing (next stored is ${key})` });
    if (key === 1) {
      const fault = this.startChain(stored);
      if (fault) return fault;
    }
    const native = this.native;
    if (native === null) return this.stepJs(key, stored);
    // A segment's first record (its link taken on trust) and every record the native step does
    // not pass go through the JavaScript step, with the chain handed over both ways.
    const trustLink = this.segment && !this.anchored && this.startPrevDigest === undefined;
    if (!trustLink && native(stored, key, this.chain) === CHAIN_STEP_OK) {
      this.goodCount++;
      this.expected++;
      return undefined;
    }
    this.prevLatin1 = this.chain.toString('latin1');
    this.prevStale = true;
    const report = this.stepJs(key, stored);
    if (report !== undefined) return report;
    this.chain.write(this.prevLatin1, 'latin1');
    this.prevStale = false;
    return undefined;
  }

  /** `step` in JavaScript: the checks of the decision table, each fault named. */
  private stepJs(key: number, stored: Buffer): SegmentReport | undefined {
    const frameOk = frameValid(stored);
    if (this.segment && !this.anchored && this.startPrevDigest === undefined && frameOk) {
      this.startPrevDigest = Buffer.from(prevDigestOf(stored));
      this.prevLatin1 = this.startPrevDigest.toString('latin1');
      this.prevStale = true;
    }
    // frameValid makes exactly checkFrame's checks without allocating; checkFrame names the fault.
    if (!frameOk) {
      const frame = checkFrame(stored);
      if ('fault' in frame) return this.stop({ seq: key, reason: frame.fault.reason });
    }
    const seq = u32(stored, 12); // the high word of the u64 seq is 0 (checked above)
    if (seq !== key) return this.stop({ seq: key, reason: `stored under key ${key} but header says seq ${seq}` });
    if (!digestAtEquals(stored, PREV_DIGEST_AT, this.prevLatin1)) {
      const reason = key === 1 ? 'record 1 does not start this identity\'s chain' : `chain broken: record ${key} does not follow record ${key - 1}`;
      return this.stop({ seq: key, reason, foreign: key === 1 });
    }
    this.prevLatin1 = recordDigestLatin1(stored);
    this.prevStale = true;
    this.goodCount++;
    this.expected++;
    return undefined;
  }

  /** The report when the entries ran out: the end-of-store checks unless this is a segment. */
  end(): SegmentReport {
    const { goodCount, expected, lastKey } = this;
    if (this.segment || this.options.partial) return this.done({});
    const stored = this.options.storedCount ?? 0;
    if (stored > goodCount) {
      return this.done({ damage: { seq: expected, reason: `the store counts ${stored} records but only ${goodCount} are reachable (a damaged index page hides records)` } });
    }
    if (lastKey > expected - 1) {
      // The store says a higher key exists, but the forward walk never reached it: a damaged
      // B-tree branch page hides records. Never report such a journal as whole.
      return this.done({ damage: { seq: expected, reason: `records ${expected}..${lastKey} unreachable (the index ends early)` } });
    }
    return this.done({});
  }

  /** Record 1: the identity it names must be the expected one; the chain starts at its genesis. */
  private startChain(stored: Buffer): SegmentReport | undefined {
    const found = identityOfFirst({ key: 1, stored });
    this.identity = this.identity ?? found;
    if (this.identity === undefined) return this.stop({ seq: 1, reason: 'record 1 is not a readable journal-created record' });
    if (found !== undefined && found !== this.identity) {
      return this.stop({ seq: 1, reason: `journal belongs to "${found}", not "${this.identity}"`, foreign: true });
    }
    this.prev = genesisDigest(this.identity);
    this.prevLatin1 = this.prev.toString('latin1');
    this.prevStale = false;
    this.chain.set(this.prev);
    return undefined;
  }

  /**
   * Stops at `fault`: damage, wherever it is. The stores walked here are never torn by a cut:
   * LMDB writes a transaction's records into pages no durable meta page refers to, flushes them,
   * then writes the meta page (copy-on-write; the journal opens the last flushed snapshot,
   * safeRestore), and a backup body is renamed into place only once flushed. So a bad record,
   * the last one too, changed after it was acknowledged: cutting it would drop an acknowledged
   * record unseen. Only the write-ahead log has a torn tail (storage/wal.ts).
   */
  private stop(fault: Damage): SegmentReport {
    return this.done({ damage: fault });
  }

  private done(fault: Pick<SegmentReport, 'damage'>): SegmentReport {
    if (this.prevStale) {
      this.prev = Buffer.from(this.prevLatin1, 'latin1');
      this.prevStale = false;
    } else if (this.native !== null) {
      this.prev = Buffer.from(this.chain);
    }
    return {
      goodCount: this.goodCount, lastGoodSeq: this.expected - 1, lastGoodDigest: this.prev, ...fault,
      identity: this.identity, startPrevDigest: this.startPrevDigest, elapsedMs: Number(process.hrtime.bigint() - this.started) / 1e6,
    };
  }
}

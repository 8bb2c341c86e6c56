/**
 * The journal: append-only, checksummed, hash-chained records in LMDB (storage/JOURNAL_FORMAT.md).
 *
 * Guarantees (the contract callers rely on):
 * - `append()` resolves only when the record is durable: its commit was written to the
 *   write-ahead log `journal.wal` (one pwrite) and flushed (one fdatasync; storage/wal.ts,
 *   JOURNAL_FORMAT.md "Write-ahead log"). Appends issued in the same synchronous run of code
 *   (before the next microtask) share one commit and one flush (group commit). The records reach
 *   LMDB at a checkpoint (LMDB transactions of at most CHECKPOINT_TXN_BYTES_MAX: each one's
 *   data pages fdatasync'ed, then its meta page written, O_DSYNC for the last; then the log's
 *   header): when the log is full, at `checkpoint()`,
 *   `flush()`, a clean `close()`, and at open after a replay. Until then they are served from
 *   memory (the tail, bounded by the log's size). A journal being created, and a commit larger
 *   than the whole log, commit straight to LMDB as before. Commits run on the calling thread: they
 *   block the event loop for the flush (a fraction of a millisecond on the benchmark disk,
 *   milliseconds on eMMC) and save lmdb-js's two thread hops, which cost more than a barrier
 *   (bench:journal). The resolved record survives a power cut; tests/powercut proves it against a
 *   rebuilt disk (journal.wal included).
 * - Except for `deferred` appends (AppendOptions): those are not durable on their own; they
 *   ride on the next durable commit (or flush/close), and a power cut may lose them (only them:
 *   they are always the chain's tail). The runtime defers only the receipt-printed mark.
 * - There is no other commit mode (issue 13 item 8). lmdb-js's write thread with overlappingSync
 *   (the former `syncCommit: false`) writes a meta page before its data is flushed; after a power
 *   cut only a read-write open rolls that back, so a read-only reader (verify, dump) saw records
 *   missing ("only 68 reachable"). Every journal environment is now opened with overlappingSync
 *   off (storage/lmdb-env.ts): a meta page on disk always describes flushed data, for every reader.
 * - Sequence numbers are gapless and assigned in call order; the chain digest is computed at
 *   call time, so callers may issue appends without awaiting the previous one.
 * - Opening verifies every record (checksums and chain) and applies the decision table in
 *   storage/verify.ts: a torn last record is cut and logged; damage anywhere else leaves the
 *   journal readable but `damaged`, appends refused with E-STO-05, naming the first bad seq.
 * - A storage failure (ENOSPC, EIO, EROFS, map full) moves the journal to `failed`: reads keep
 *   working, every later append rejects with the same typed error, and nothing already
 *   acknowledged is touched. Reopening (after the fault is fixed) resumes.
 * - Nothing sensitive is written: encodeRecord refuses track data, CVV, PIN, PIN block, clear PAN.
 * - Power loss during an append: the append never resolved, so nobody was told it is done; on
 *   reboot the record is either wholly there or wholly absent.
 */
import { closeSync, constants, copyFileSync, existsSync, fstatSync, lstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { scanRecords } from './salvage';
import { threadsFor, verifyParallel } from './verify-parallel';
import { join } from 'node:path';
import { Logger, silentLogger } from '../common/log';
import { PosError, invariant } from '../common/errors';
import {
  DecodedRecord, Payload, RecordType, RecordTypeName, SEQ_MAX, checkFrame, decodePayload, encodeRecords,
  genesisDigest, prevDigestOf, recordDigest,
} from './record';
import { Damage, StoredEntry, VerifyReport, verifyEntries } from './verify';
import { TrustedPrefix, verifyAfter } from './verify-tail';
import { storageError } from './storage-errors';
import { JournalDb, installCommitFailureGuard, metaPageProblem, openEnv, recordsClaimedByMeta, storedViews } from './lmdb-env';
import { Superseded, WAL_BYTES, WAL_HEADER_BYTES, WalEntry, WalWriteObserver, WalWriter, markWalInUse, readWalFile, scanWal, walMarkPath, walPath } from './wal';
import { fsyncDir } from '../common/fsync';
import { finishInterruptedSwap } from './dir-swap';

export const MAP_SIZE_BYTES_DEFAULT = 1024 * 1024 * 1024;
export const CAPACITY_BYTES_DEFAULT = 256 * 1024 * 1024;
/** Kept free for settlement and reversals after new sales are refused (FIELD-FAULTS.md). */
export const RESERVE_BYTES_DEFAULT = 4 * 1024 * 1024;
/**
 * "Storage nearly full: settle now" is shown from this share of the sales budget (capacity less
 * reserve), or, when the disk's free space is the limit (Journal.usage), once the room left for
 * sales is less than the rest of the configured budget (1 - this share of it).
 */
export const NEARLY_FULL_RATIO = 0.9;
/**
 * How long usage() takes a reading of the file system's free space (statfs) as current. It is
 * asked at every append (checkWritable) and every screen the terminal draws (boot/terminal-app.ts
 * storageNotice), about 3 us a call on the CI machine. The checks that keep LMDB from meeting ENOSPC
 * (checkSpace, checkpointFits) always read it afresh, and their readings refresh this one; a
 * write of LMDB (which may take blocks) drops it, and so does the storage-failure screen's retry
 * (recheck). Ages are on the journal's clock; a clock that moved back takes a new reading.
 */
export const DISK_FREE_AGE_MS_MAX = 1_000;
export const SOFTWARE_VERSION = '0.1.0';
/** Pages one commit may add beyond the last page in use (copy-on-write of a B-tree path). */
const COMMIT_PAGES_MARGIN = 16;
/**
 * Bytes of records one LMDB transaction of a checkpoint takes; a larger tail goes in several (one
 * flush barrier each, two for the last: checkpointTransactions). Why: LMDB keeps a write
 * transaction's dirty pages on its own free list after the commit, for the next one, and gives them back to malloc only when the
 * environment closes, so the largest transaction sets what the process keeps all day. Measured
 * alone (226-byte records, the unit's allocator, malloc_trim after each): 4,096 records in one
 * transaction left +1.1-1.2 MB resident, 512-1,024 records +0.1-0.3 MB (issue 14 goal 1). Three
 * rounds of 1,500 records and a checkpoint (a half day's settlement), anonymous growth, 3 runs
 * each: 256 KiB +0.93-0.98 MB, 128 KiB +0.75-0.81, 64 KiB +0.68-0.74, 32 KiB +0.71-0.74.
 * The cost of small transactions is goal 5's: each one's fdatasync of data.mdb, which grows (its
 * new size and extents journaled by the file system each time), ~16 of them for a full log (1 MiB)
 * at 64 KiB. bench:journal's batched phase, three rounds alternating (session 34): 64 KiB
 * 0.64-0.71x SQLite, 128 KiB 0.76-0.79x, 256 KiB 0.83-0.85x; one transaction of the whole log
 * gives no more (0.81-0.93x with data.mdb preallocated, against 0.81-0.90x at 256 KiB). So 256 KiB
 * (4 transactions for a full log), for ~0.25 MB more kept than 64 KiB (goal 1 re-measured with it:
 * +4.6 MB after the day, was +4.3: docs/BENCHMARKS.md, "Memory"). A cut between them leaves LMDB ahead of the log's header, which the log's
 * reader takes as it takes a cut before the header rewrite (JOURNAL_FORMAT.md, "Checkpoint").
 */
export const CHECKPOINT_TXN_BYTES_MAX = 256 * 1024;
/**
 * Leaf bytes per record byte in the worst case: LMDB splits a full leaf in the middle, so leaves
 * filled in key order end half full; an overflow value takes whole pages (at most twice its size).
 */
const LEAF_BYTES_PER_RECORD_BYTE_MAX = 2;
/** A leaf node's header, key and index slot beside the value (LMDB: 8 + 4 + 2, rounded up). */
const NODE_OVERHEAD_BYTES = 16;
/** How long to wait for lmdb-js to report the errno behind a failed commit. */
const COMMIT_CAUSE_WAIT_MS_MAX = 1_000;
/** lmdb-js put options: MDB_APPEND (lmdbCommit). */
const LMDB_APPEND = { append: true } as const;
/** lmdb-js's transactionSync flags: abortable, committed before it returns (its default, 3). */
const TXN_FULLY_SYNCED = 3;
/**
 * The same with LMDB's MDB_NOMETASYNC for this transaction (mdb.c honours it per transaction): one
 * flush barrier instead of two. Only for a checkpoint's transactions before its last (lmdbCommit).
 */
const TXN_META_UNSYNCED = TXN_FULLY_SYNCED | 0x40000;

export type JournalState = 'ok' | 'damaged' | 'failed' | 'closed';

export interface JournalOptions {
  /** Directory holding data.mdb and lock.mdb. */
  readonly dir: string;
  /** Terminal identity (serial). Required to create a journal; checked against record 1 otherwise. */
  readonly identity?: string;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** Inspect only: no tail cut, no creation, appends refused. */
  readonly readOnly?: boolean;
  readonly mapSizeBytes?: number;
  /** Storage budget for the journal (the partition's share); sales stop at capacity - reserve. */
  readonly capacityBytes?: number;
  readonly reserveBytes?: number;
  /**
   * Open the last *flushed* snapshot, as LMDB does after a reboot (default true). Since appends
   * resolve only after the flush, nothing acknowledged is older than that snapshot.
   */
  readonly safeRestore?: boolean;
  /**
   * Writes data.mdb out to this size at open (zeros, fsynced), so LMDB never has to allocate
   * blocks on a full disk: lmdb-js 3.5.6 corrupts its heap after a real ENOSPC (glibc abort seen
   * at exit). The journal's own capacity check then refuses sales long before the end of the
   * preallocated space. Boards set it to their capacity; 0 (default) preallocates nothing.
   * The size is the journal's whole share: when the write-ahead log exists or the disk has room
   * for both, data.mdb gets this minus the log's WAL_BYTES (the log writes its own zeros).
   */
  readonly preallocateBytes?: number;
  /** Threads that verify on open (default: by size, see storage/verify-parallel.ts). */
  readonly verifyThreadsMax?: number;
  /** UNSAFE: skips flushes. Only for the power-cut tests' positive control. */
  readonly unsafeNoSync?: boolean;
  /**
   * false: every durable commit is a fully synced LMDB transaction, as before the write-ahead log
   * (two barriers, a B-tree path rewritten). Benchmarks only, as the baseline beside the log.
   */
  readonly writeAheadLog?: boolean;
  /** Sees the write-ahead log's writes and flushes (the day simulation's disk model only: storage/wal.ts). */
  readonly walObserver?: WalWriteObserver;
  /** Records the log takes before a checkpoint (tests of the log-full checkpoint only; storage/wal.ts). */
  readonly walTailRecordsMax?: number;
  /**
   * Records 1..seq were verified before (the boot checkpoint, storage/boot-open.ts): only the
   * records after it are verified (storage/verify-tail.ts). When the file does not agree with it,
   * open throws E-STO-05 with `detail.checkpointMismatch` (the caller verifies everything instead).
   */
  readonly trusted?: TrustedPrefix;
  /**
   * Records written in the same commit as record 1 when this open creates the journal (the
   * terminal's identity: creating the journal and its identity is all-or-nothing, issue 13).
   */
  readonly genesis?: ReadonlyArray<{ readonly type: RecordTypeName | number; readonly payload: Payload }>;
}

export interface AppendOptions {
  /** Settlement and reversal records may use the reserve kept after sales are refused. */
  readonly reserve?: boolean;
  /**
   * Not durable on its own: the records take their seq and chain digest now, are readable with
   * `get()` at once, and are written by the next durable commit (any append without this
   * option), by `flush()` or by `close()`. A power cut before that loses them, and only them
   * (they are the tail of the chain). For records whose loss is harmless (a receipt-printed mark:
   * the copy is offered again marked DUPLICATE). At most DEFERRED_RECORDS_MAX wait: beyond that
   * the append commits durably as usual.
   */
  readonly deferred?: boolean;
}

/** Records that may wait for the next durable commit (see AppendOptions.deferred). */
export const DEFERRED_RECORDS_MAX = 8;

export interface Appended {
  readonly seq: number;
  readonly digest: Buffer;
  readonly timeMs: number;
}

export interface Usage {
  readonly usedBytes: number;
  /**
   * The capacity in force: the configured one (JournalOptions.capacityBytes), or less when the
   * file system holds less: what the journal's files take on it now plus its free space (statfs).
   */
  readonly capacityBytes: number;
  /** JournalOptions.capacityBytes (the default when not given): the most appends may ever use. */
  readonly configuredCapacityBytes: number;
  /** The disk's free space is the limit, not the configured capacity (something else filled it). */
  readonly diskLimited: boolean;
  readonly reserveBytes: number;
  readonly nearlyFull: boolean;
  /** New sales are refused; reserve appends still allowed. */
  readonly salesRefused: boolean;
}

export class Journal {
  private state_: JournalState;
  private failure_: PosError | undefined;
  private nextSeq: number;
  private lastDigest_: Buffer;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Records waiting for the synchronous group commit. */
  private queued: Array<{ seq: number; stored: Buffer }> = [];
  private queuedCommit: Promise<void> | undefined;
  /** Deferred records (AppendOptions.deferred), in seq order, not yet handed to a commit. */
  private deferred: Array<{ seq: number; stored: Buffer }> = [];
  private usedBytesEstimate = 0;
  /** Bytes of the records in `tail` (what the next checkpoint puts into LMDB). */
  private tailBytes = 0;
  /** lmdbFigures() as of LMDB's last write; undefined once LMDB was written since. */
  private lmdbFiguresCache: LmdbFigures | undefined;
  /** The file system's free space as last read (statfs) and when, on the journal's clock (DISK_FREE_AGE_MS_MAX). */
  private diskFree: { readonly bytes: number | undefined; readonly atMs: number } | undefined;
  /** The write-ahead log; undefined while the journal is created, and for read-only or damaged journals. */
  private wal: WalWriter | undefined;
  /** LMDB's last record (the rest is in `tail`). */
  private checkpointed: { seq: number; digest: Buffer };

  private constructor(
    private readonly db: JournalDb,
    readonly dir: string,
    readonly identity: string,
    readonly openReport: VerifyReport,
    private readonly options: JournalOptions,
    private readonly log: Logger,
    /** Records in the write-ahead log, not yet in LMDB, in seq order (at most the log's records). */
    private tail: WalEntry[],
    /** The log is not to be written this session (a superseded log that could not be set aside). */
    private readonly walBlocked = false,
  ) {
    this.state_ = openReport.damage ? 'damaged' : 'ok';
    this.nextSeq = openReport.lastGoodSeq + 1;
    // An empty journal's first record links to the genesis digest of its identity (a journal
    // whose identity is unreadable is damaged at record 1 and takes no append).
    this.lastDigest_ = openReport.lastGoodSeq === 0 && identity !== '' ? genesisDigest(identity) : openReport.lastGoodDigest;
    const inLmdb = this.nextSeq - 1 - tail.length;
    this.tailBytes = bytesOf(tail);
    this.checkpointed = { seq: inLmdb, digest: tail.length > 0 ? Buffer.from(prevDigestOf(tail[0].stored)) : this.lastDigest_ };
    this.refreshUsage();
  }

  /** Opens (creating when empty and an identity is given), verifies, and cuts a torn tail. */
  static async open(options: JournalOptions): Promise<Journal> {
    const log = options.logger ?? silentLogger;
    installCommitFailureGuard((e) => log.warn({ err: e.message }, 'journal: stray lmdb commit failure absorbed'));
    const metaProblem = metaPageProblem(options.dir);
    if (metaProblem) await refuseOrSetAside(options, metaProblem, log);
    const db = openLmdb(options);
    if (options.preallocateBytes && !options.readOnly) preallocate(join(options.dir, 'data.mdb'), dataShareBytes(options, options.preallocateBytes));
    const verified = await verifyOrExplain(db, options);
    if ('anchorProblem' in verified) {
      await db.close();
      throw new PosError('STO_DAMAGED', `${options.dir}: the boot checkpoint does not match the file (${verified.anchorProblem}): verify it all`, { dir: options.dir, checkpointMismatch: verified.anchorProblem });
    }
    const report = verified;
    if (report.damage?.foreign) {
      await db.close();
      throw new PosError('STO_IDENTITY', `${options.dir}: ${report.damage.reason}`, { dir: options.dir });
    }
    const identity = report.identity ?? options.identity;
    if (identity === undefined && !report.damage && !report.tornTail && report.goodCount === 0) {
      // Only a directory that truly holds no record (and no damage) is "no journal here".
      await db.close();
      throw new PosError('STO_DAMAGED', `${options.dir}: no journal here and no identity to create one (provision the terminal first)`, { dir: options.dir, noJournal: true });
    }
    // Record 1 unreadable and no identity given: the journal exists but its chain cannot even
    // start. That is damage at record 1 (salvage --identity can still rebuild it), never "no
    // journal here" (the verifier says so already: LMDB's records are never a torn tail).
    const asDamaged = identity === undefined
      ? { ...report, damage: report.damage ?? { seq: 1, reason: 'record 1 (journal-created) cannot be read' } }
      : report;
    const logged = identity !== undefined && !asDamaged.damage
      ? withWal(db, options.dir, asDamaged, identity, options.readOnly === true, options.clock ?? Date.now, log, options.writeAheadLog !== false)
      : { report: asDamaged, tail: [], walBlocked: false };
    const journal = new Journal(db, options.dir, identity ?? '', logged.report, options, log, logged.tail, logged.walBlocked);
    await journal.afterOpen(logged.report);
    return journal;
  }

  get state(): JournalState { return this.state_; }
  /** The first damaged record when `state` is `damaged`. */
  get damage(): Damage | undefined { return this.openReport.damage; }
  get failure(): PosError | undefined { return this.failure_; }
  get lastSeq(): number { return this.nextSeq - 1; }
  /**
   * Records of the journals archived before this one (JOURNAL_FORMAT.md, "Archive of settled
   * batches"): record 2's `baseSeq` when this journal continues an archived one, else 0. A
   * record's number across every archive is `baseSeq + seq`: backup names count by it.
   */
  get baseSeq(): number {
    if (this.baseSeq_ === undefined) {
      const r = this.lastSeq >= 2 ? this.get(2) : undefined;
      const base = r?.type === RecordType.recovery && r.payload.action === 'archived' ? r.payload.baseSeq : undefined;
      this.baseSeq_ = typeof base === 'number' && Number.isSafeInteger(base) && base > 0 ? base : 0;
    }
    return this.baseSeq_;
  }
  private baseSeq_: number | undefined;
  get lastDigest(): Buffer { return this.lastDigest_; }

  /**
   * Appends one record; resolves when it is durable (see the contract above). Rejects with a
   * PosError: E-STO-05 damaged, E-STO-07 closed, E-STO-01/02 full, E-STO-03 I/O, E-STO-04
   * read-only, E-STO-06 sensitive field (nothing written, journal state unchanged).
   */
  append(type: RecordTypeName | number, payload: Payload, options: AppendOptions = {}): Promise<Appended> {
    try {
      this.checkWritable(options);
      const typeCode = typeof type === 'number' ? type : RecordType[type];
      const timeMs = Math.floor((this.options.clock ?? Date.now)());
      // encodeRecords: the record and its digest from one encode (the addon hashes as it seals).
      const encoded = encodeRecords([{ type: typeCode, payload }], this.nextSeq, timeMs, this.lastDigest_);
      const stored = encoded.stored[0];
      this.checkSpace(stored.length);
      return this.commit(stored, encoded.digests[0], timeMs);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Appends several records in one transaction: all durable together, or none acknowledged. */
  async appendMany(records: ReadonlyArray<{ type: RecordTypeName | number; payload: Payload }>, options: AppendOptions = {}): Promise<Appended[]> {
    this.checkWritable(options);
    const timeMs = Math.floor((this.options.clock ?? Date.now)());
    // One buffer for the batch's records and one for their digests (storage/record.ts encodeRecords).
    const batch = encodeRecords(records, this.nextSeq, timeMs, this.lastDigest_);
    const encoded = batch.stored.map((stored, i) => ({ seq: this.nextSeq + i, stored, digest: batch.digests[i] }));
    const bytes = bytesOf(encoded);
    this.checkSpace(bytes, encoded.length);
    this.nextSeq += encoded.length;
    this.lastDigest_ = encoded[encoded.length - 1]?.digest ?? this.lastDigest_;
    if (options.deferred && this.deferred.length + encoded.length <= DEFERRED_RECORDS_MAX) {
      this.deferred.push(...encoded);
      return encoded.map((e) => ({ seq: e.seq, digest: e.digest, timeMs }));
    }
    const written = this.commitSoon(encoded);
    await this.durable(written, bytes);
    return encoded.map((e) => ({ seq: e.seq, digest: e.digest, timeMs }));
  }

  /** One record by seq, decoded; undefined when absent. Reads work in every state but closed. */
  get(seq: number): DecodedRecord | undefined {
    // A deferred record is in memory until a commit takes it (and in `queued` until that commit ran).
    const stored = this.db.getBinary(seq) ?? this.tailRecord(seq) ?? this.deferred.find((d) => d.seq === seq)?.stored ?? this.queued.find((d) => d.seq === seq)?.stored;
    if (!stored) return undefined;
    return decodeStored(Buffer.from(stored));
  }

  /** Deferred records not yet durable (AppendOptions.deferred). */
  get deferredCount(): number { return this.deferred.length; }

  /** Makes the deferred records durable now (one commit), then puts the log's records in LMDB (a checkpoint). */
  async flush(): Promise<void> {
    if (this.deferred.length > 0) await this.durable(this.commitSoon([]), 0);
    await this.checkpoint();
  }

  /** Records in the write-ahead log not yet in LMDB. */
  get walRecordCount(): number { return this.tail.length; }
  /** LMDB's last record: what a reader of data.mdb alone sees (the log holds the rest). */
  get checkpointedSeq(): number { return this.checkpointed.seq; }
  get checkpointedDigest(): Buffer { return this.checkpointed.digest; }

  /**
   * Puts the write-ahead log's records into LMDB (one fully synced transaction) and starts the
   * log over. The terminal calls it when it has time (after a settlement's close, before the boot checkpoint); the journal
   * calls it when the log is full, at flush() and at a clean close().
   */
  async checkpoint(): Promise<void> {
    if (this.state_ !== 'ok' || !this.wal || this.tail.length === 0) return;
    await this.queuedCommit?.catch(() => undefined);
    this.checkpointSync();
  }

  /**
   * Whether the file system has room for the tail's checkpoint. Appends keep that room (checkSpace),
   * but something else on the disk may take it meanwhile (a log file, an update's download, a
   * power cut's replay on a disk filled while the terminal was off). Without it, LMDB would meet
   * ENOSPC inside the checkpoint (reported as EIO, the journal failed, and lmdb-js has crashed on
   * that path: DESIGN.md); the records are durable in the log, so they stay there, served from
   * memory, and the next checkpoint with room puts them in LMDB.
   */
  private checkpointFits(when: 'open' | 'checkpoint'): boolean {
    const needed = this.growthBytesMax(this.tailBytes, this.tail.length);
    const free = needed === 0 ? undefined : this.readDiskFree();
    if (free === undefined || free >= needed) return true;
    this.log.warn({ code: 'E-STO-01', dir: this.dir, when, freeBytes: free, neededBytes: needed, records: this.tail.length }, 'journal: no room to checkpoint the write-ahead log; its records stay in the log');
    return false;
  }

  /**
   * checkpoint() now, on the calling thread (nothing else of the journal runs meanwhile). Without
   * room for it (checkpointFits) the records stay in the log: `checkpointedSeq` then stays below
   * `lastSeq`, which a caller that needs them in LMDB checks (the boot checkpoint).
   */
  checkpointSync(): void {
    if (this.state_ !== 'ok' || !this.wal || this.tail.length === 0) return;
    if (!this.checkpointFits('checkpoint')) return;
    try {
      this.checkpointNow();
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** Decoded records from `fromSeq` up to the last good one (stops before damage). */
  *records(fromSeq = 1, toSeq = this.lastSeq): IterableIterator<DecodedRecord> {
    for (const { stored } of this.raw(fromSeq, toSeq)) yield decodeStored(stored);
  }

  /** Stored bytes of records `fromSeq..toSeq` (for export and backup). */
  *raw(fromSeq = 1, toSeq = this.lastSeq): IterableIterator<StoredEntry> {
    if (toSeq < fromSeq) return;
    // Taken first: a checkpoint while the caller walks LMDB moves them there, and none is lost or doubled.
    const tail = [...this.tail];
    let last = fromSeq - 1;
    // One copy per record, out of lmdb-js's read buffer (getRange would copy it once more).
    for (const { key, stored } of storedViews(this.db, fromSeq, toSeq + 1)) {
      last = key;
      yield { key, stored: Buffer.from(stored) };
    }
    // The log's records, then the deferred ones: a backup or export of 1..lastSeq holds them too.
    for (const d of [...tail, ...this.deferred]) if (d.seq > last && d.seq <= toSeq) yield { key: d.seq, stored: d.stored };
  }

  /**
   * What the journal uses against its capacity, and whether sales are refused (the reserve is kept
   * for settlement and reversals) or nearly so. The capacity is the configured one or, when the
   * file system has less room, what the journal's files take on it (data.mdb's blocks, the log's
   * WAL_BYTES) plus its free space: a disk filled by something else (logs, a download) refuses
   * sales with the reserve still free on it, before a commit could meet ENOSPC. The free space is
   * read at most every DISK_FREE_AGE_MS_MAX (`fresh`: now).
   */
  usage(options: { readonly fresh?: boolean } = {}): Usage {
    const configuredCapacityBytes = this.options.capacityBytes ?? CAPACITY_BYTES_DEFAULT;
    const reserveBytes = this.options.reserveBytes ?? RESERVE_BYTES_DEFAULT;
    // The log's file takes its whole size on the disk from its creation on.
    const walBytes = this.wal ? WAL_BYTES : 0;
    const usedBytes = this.usedBytesEstimate + walBytes;
    const diskBytes = this.diskCapacityBytes(walBytes, options.fresh === true);
    const capacityBytes = diskBytes === undefined ? configuredCapacityBytes : Math.min(configuredCapacityBytes, diskBytes);
    const diskLimited = capacityBytes < configuredCapacityBytes;
    const configuredBudget = configuredCapacityBytes - reserveBytes;
    const salesBudget = capacityBytes - reserveBytes;
    // On the disk's limit the warning comes as early, in bytes left for sales, as on the configured one.
    // (salesBudget is then below configuredBudget, so this is before 90% of it too.)
    const nearlyFullFromBytes = diskLimited ? salesBudget - configuredBudget * (1 - NEARLY_FULL_RATIO) : configuredBudget * NEARLY_FULL_RATIO;
    return {
      usedBytes, capacityBytes, configuredCapacityBytes, diskLimited, reserveBytes,
      nearlyFull: usedBytes >= nearlyFullFromBytes,
      salesRefused: usedBytes >= salesBudget,
    };
  }

  /**
   * The storage-failure screen's retry (runtime/machine.ts): throws the typed error an append in
   * the reserve (a settlement's record of a page) would meet now, the free space read afresh;
   * else returns the usage (sales may still be refused: the idle screen says so, and settles).
   */
  recheck(): Usage {
    this.checkWritable({ reserve: true });
    this.checkSpace(PAGE_BYTES_ASSUMED);
    return this.usage({ fresh: true });
  }

  /**
   * What the journal's files may take on their file system: their blocks now and its free space;
   * undefined when either cannot be read.
   */
  private diskCapacityBytes(walBytes: number, fresh: boolean): number | undefined {
    let allocatedBytes: number;
    try {
      allocatedBytes = this.lmdbFigures().allocatedBytes;
    } catch {
      return undefined;
    }
    const free = this.diskFreeBytes(fresh);
    return free === undefined ? undefined : allocatedBytes + walBytes + free;
  }

  /** The file system's free space, as read at most DISK_FREE_AGE_MS_MAX ago unless `fresh`. */
  private diskFreeBytes(fresh: boolean): number | undefined {
    const nowMs = (this.options.clock ?? Date.now)();
    const ageMs = this.diskFree === undefined ? undefined : nowMs - this.diskFree.atMs;
    if (!fresh && ageMs !== undefined && ageMs >= 0 && ageMs < DISK_FREE_AGE_MS_MAX) return this.diskFree?.bytes;
    return this.readDiskFree();
  }

  /** statfs now; the reading stands for usage() too. */
  private readDiskFree(): number | undefined {
    const bytes = freeBytes(this.dir);
    this.diskFree = { bytes, atMs: (this.options.clock ?? Date.now)() };
    return bytes;
  }

  /**
   * Waits for every append in flight (settled either way), then closes LMDB. A clean close writes
   * the deferred records first; `writeDeferred: false` drops them (a simulated power cut).
   */
  async close(options: { readonly writeDeferred?: boolean } = {}): Promise<void> {
    if (this.state_ === 'closed') return;
    const cut = options.writeDeferred === false;
    if (cut) this.deferred = [];
    // A journal that failed keeps refusing writes: its deferred records are lost like at a cut.
    // A simulated cut leaves the log as it is (the next open replays it).
    if (this.state_ === 'ok' && !cut) await this.flush().catch((e: unknown) => this.log.error({ err: String(e) }, 'journal: deferred records lost at close'));
    await Promise.allSettled([...this.inFlight]);
    this.wal?.close();
    this.wal = undefined;
    const failed = this.state_ === 'failed';
    this.state_ = 'closed';
    // After a failed commit, closing the environment has been seen to corrupt lmdb-js's heap
    // (glibc abort after ENOSPC on a real full disk): a failed environment stays open until exit.
    if (!failed) await this.db.close();
  }

  // ---- internals

  private async afterOpen(report: VerifyReport): Promise<void> {
    if (report.damage) {
      this.log.error({ code: 'E-STO-05', dir: this.dir, seq: report.damage.seq, reason: report.damage.reason }, 'journal damaged: opened read-only');
      return;
    }
    if (this.options.readOnly) return;
    // The records replayed from the log go to LMDB before anyone reads data.mdb alone, when the
    // disk has room for them. Else they stay in the log (durable, served from memory) and this
    // session does not write the log (starting it over would drop them): the first commit the
    // disk has room for puts them in LMDB with it (writeCommit).
    if (this.tail.length > 0 && this.checkpointFits('open')) this.checkpointNow();
    if (report.tornTail) await this.cutTornTail(report.tornTail);
    if (this.lastSeq === 0) {
      // `genesis` counts the records created with it: a file cut off before its creation committed
      // may hold exactly those, uncommitted, and is created again (refuseOrSetAside).
      const genesis = this.options.genesis ?? [];
      invariant(genesis.length <= GENESIS_RECORDS_MAX, 'too many records created with the journal', { records: genesis.length });
      const created = { type: 'journalCreated' as const, payload: { identity: this.identity, createdAtMs: Math.floor((this.options.clock ?? Date.now)()), software: SOFTWARE_VERSION, ...(genesis.length > 0 ? { genesis: genesis.length } : {}) } };
      // Not a sale: on a disk with less free than the reserve the journal is still made (sales are
      // then refused); the disk's real end (checkSpace, CREATE_BYTES_MIN) is what stops it.
      await this.appendMany([created, ...genesis], { reserve: true });
    }
    // Only now: a journal's creation commits to LMDB, so a log never exists without record 1 there.
    if (this.options.writeAheadLog !== false && !this.walBlocked && this.tail.length === 0) this.startWal();
  }

  /**
   * Opens (or makes) the write-ahead log. LMDB holds every record at this point, so a log that
   * cannot be made (a disk too full for its WAL_BYTES, a read-only or failing file system) costs
   * speed and wear, not safety: commits then go to LMDB as before the log, and the error is logged.
   */
  private startWal(): void {
    const file = walPath(this.dir);
    const existed = existsSync(file);
    const free = freeBytes(this.dir);
    if (!existed && free !== undefined && free < WAL_BYTES + WAL_SPACE_MARGIN_BYTES) {
      this.log.warn({ dir: this.dir, freeBytes: free, walBytes: WAL_BYTES }, 'journal: no room for the write-ahead log; commits go to LMDB');
      return;
    }
    try {
      this.wal = WalWriter.open(this.dir, { baseSeq: this.lastSeq, baseDigest: this.lastDigest_ }, { noSync: this.options.unsafeNoSync, observer: this.options.walObserver, tailRecordsMax: this.options.walTailRecordsMax });
    } catch (e) {
      if (!existed) rmSync(file, { force: true });
      this.log.error({ dir: this.dir, err: String(e) }, 'journal: the write-ahead log cannot be written; commits go to LMDB');
      return;
    }
    try {
      // Only once the log is durable: a cut before leaves no mark, and a log cut at its creation is no loss.
      markWalInUse(this.dir, { noSync: this.options.unsafeNoSync });
    } catch (e) {
      // The log works without it; only a log deleted later would go unseen.
      this.log.warn({ dir: this.dir, err: String(e) }, 'journal: the write-ahead log\'s mark could not be written');
    }
  }

  /** The log's record `seq`, when it is in the tail. */
  private tailRecord(seq: number): Buffer | undefined {
    const first = this.tail[0]?.seq;
    return first === undefined ? undefined : this.tail[seq - first]?.stored;
  }

  /**
   * One LMDB transaction of these records, its data pages flushed before its meta page is written
   * (`flags`: fully synced, or a checkpoint's TXN_META_UNSYNCED: checkpointTransactions).
   */
  private lmdbCommit(entries: ReadonlyArray<WalEntry>, flags = TXN_FULLY_SYNCED): void {
    try {
      // MDB_APPEND: seqs only grow, so each record goes at the end of the tree without a search
      // (issue 14 goal 5). A seq at or below LMDB's last is refused by LMDB, which lmdb-js reports
      // only as false: the transaction is aborted then, nothing of it written.
      this.db.transactionSync(() => {
        for (const e of entries) {
          // lmdb-js 3 declares putSync void; it returns whether the put was written (write.js).
          const written = this.db.putSync(e.seq, e.stored, LMDB_APPEND) as unknown as boolean;
          if (!written) invariant(false, 'LMDB refused a record at or below its last seq', { seq: e.seq });
        }
      }, flags);
    } finally {
      this.lmdbFiguresCache = undefined;
    }
    const last = entries[entries.length - 1];
    this.checkpointed = { seq: last.seq, digest: recordDigest(last.stored) };
  }

  /**
   * The tail into LMDB in transactions of at most CHECKPOINT_TXN_BYTES_MAX (one record at least),
   * then the log's header says so and the log starts over. Each transaction's records leave the
   * tail once LMDB holds them, so a failure part way leaves the tail exactly what LMDB lacks.
   */
  private checkpointNow(): void {
    if (this.tail.length === 0) return;
    for (const txn of checkpointTransactions(this.tail)) {
      this.lmdbCommit(txn.entries, txn.flags);
      this.tail = this.tail.slice(txn.entries.length);
      this.tailBytes -= bytesOf(txn.entries);
    }
    invariant(this.tailBytes === 0, 'the checkpoint left bytes counted in an empty tail', { tailBytes: this.tailBytes });
    this.restartWal();
  }

  /** The log's header says LMDB holds everything up to its last record, and the log starts over. */
  private restartWal(): void {
    this.wal?.reset({ baseSeq: this.checkpointed.seq, baseDigest: this.checkpointed.digest });
  }

  /**
   * A durable commit: one pwrite and one fdatasync of the log (after a checkpoint when the log
   * has no room). Without a log (a journal being created) or for a commit larger than the log
   * itself: one fully synced LMDB transaction, as before the log.
   */
  private writeCommit(batch: ReadonlyArray<WalEntry>): void {
    if (batch.length === 0) return;
    const wal = this.wal;
    if (!wal && this.tail.length > 0) {
      // The log's records the open could not checkpoint (afterOpen) go to LMDB before this commit's.
      this.lmdbCommit([...this.tail, ...batch]);
      this.tail = [];
      this.tailBytes = 0;
      return;
    }
    if (!wal) return this.lmdbCommit(batch);
    const bytes = bytesOf(batch);
    if (!wal.fits(batch.length, bytes)) this.checkpointNow();
    if (wal.fits(batch.length, bytes)) {
      wal.append(batch);
      this.tail.push(...batch);
      this.tailBytes += bytes;
      return;
    }
    this.lmdbCommit(batch);
    this.restartWal();
  }

  private async cutTornTail(torn: Damage): Promise<void> {
    this.log.warn({ dir: this.dir, seq: torn.seq, reason: torn.reason }, 'journal: torn last record cut');
    // Only the log's last commit is ever torn (storage/verify.ts stop), and it never reached LMDB:
    // nothing to remove, the recovery record takes its seq.
    invariant(this.db.getBinary(torn.seq) === undefined, 'a torn tail is in LMDB', { seq: torn.seq });
    await this.append('recovery', { action: 'tail-cut', seq: torn.seq, reason: torn.reason }, { reserve: true });
  }

  private checkWritable(options: AppendOptions): void {
    if (this.state_ === 'closed') throw new PosError('STO_CLOSED', `${this.dir}: journal is closed`);
    if (this.state_ === 'damaged') {
      throw new PosError('STO_DAMAGED', `${this.dir}: journal damaged at record ${this.damage?.seq}: ${this.damage?.reason}`, { seq: this.damage?.seq });
    }
    if (this.state_ === 'failed' && this.failure_) throw this.failure_;
    if (this.options.readOnly) throw new PosError('STO_READONLY', `${this.dir}: journal opened read-only`);
    if (this.nextSeq > SEQ_MAX) throw new PosError('STO_FULL', `${this.dir}: sequence numbers exhausted`);
    const usage = this.usage();
    // The configured capacity is a hard stop; the disk's end is checkSpace's (read afresh, exact).
    if (usage.usedBytes >= usage.configuredCapacityBytes) throw new PosError('STO_FULL', `${this.dir}: journal at capacity (${usage.usedBytes} bytes)`);
    if (usage.salesRefused && !options.reserve) {
      const limit = usage.diskLimited ? ', the limit set by the free space on the disk' : '';
      throw new PosError('STO_FULL', `${this.dir}: storage full for new sales (${usage.usedBytes} of ${usage.capacityBytes} bytes${limit}; reserve kept for settlement)`, { usedBytes: usage.usedBytes, capacityBytes: usage.capacityBytes, diskLimited: usage.diskLimited });
    }
  }

  /**
   * Refuses, before LMDB sees it, a commit that could need more disk than the file system has
   * free: a real ENOSPC inside LMDB reaches JavaScript as EIO (DESIGN.md) and has crashed lmdb-js
   * (SIGSEGV on a new journal's first write). Refused here, the journal stays usable: the append
   * rejects with E-STO-01 and nothing is written. A preallocated file never needs to grow.
   * With the write-ahead log the commit itself needs no room, but every record in the log goes to
   * LMDB at the next checkpoint (the log full, flush, close, the next open): the room counted is
   * that checkpoint's, of the tail, the records waiting and this commit's, so any checkpoint the
   * journal may run later has it.
   */
  private checkSpace(recordBytes: number, records = 1): void {
    const waitingBytes = bytesOf(this.queued) + bytesOf(this.deferred);
    const needed = this.growthBytesMax(recordBytes + this.tailBytes + waitingBytes, records + this.tail.length + this.queued.length + this.deferred.length);
    if (needed === 0) return;
    const free = this.readDiskFree();
    if (free !== undefined && free < needed) {
      throw new PosError('STO_FULL', `${this.dir}: disk full (ENOSPC): ${free} bytes free, a commit may need ${needed}`, { dir: this.dir, freeBytes: free, neededBytes: needed });
    }
  }

  /** Bytes the file may grow by in one commit of `records` records of `recordBytes`: 0 while it fits the file as it is. */
  private growthBytesMax(recordBytes: number, records = 0): number {
    try {
      const { pageBytes, lastPageNumber, fileBytes } = this.lmdbFigures();
      const leafBytes = LEAF_BYTES_PER_RECORD_BYTE_MAX * (recordBytes + records * NODE_OVERHEAD_BYTES);
      // A path's copy-on-write per transaction: the checkpoint of these records may take several.
      const txns = Math.max(1, Math.ceil(recordBytes / CHECKPOINT_TXN_BYTES_MAX));
      const pages = lastPageNumber + 1 + COMMIT_PAGES_MARGIN * txns + Math.ceil(leafBytes / pageBytes);
      return Math.max(0, pages * pageBytes - fileBytes);
    } catch {
      return 0; // no estimate: LMDB's own error is mapped as before
    }
  }

  private commit(stored: Buffer, digest: Buffer, timeMs: number): Promise<Appended> {
    const seq = this.nextSeq;
    this.nextSeq++;
    this.lastDigest_ = digest;
    const written = this.commitSoon([{ seq, stored }]);
    return this.durable(written, stored.length).then(() => ({ seq, digest, timeMs }));
  }

  /**
   * Queues records for the transaction that commits, synchronously and fully synced, once the
   * code now running yields (a microtask): every append issued until then shares it.
   */
  private commitSoon(entries: ReadonlyArray<{ seq: number; stored: Buffer }>): Promise<void> {
    // Deferred records come first: their seqs are lower, and nothing later is durable without them.
    this.queued.push(...this.deferred, ...entries);
    this.deferred = [];
    if (!this.queuedCommit) {
      this.queuedCommit = new Promise<void>((resolve, reject) => {
        queueMicrotask(() => {
          const batch = this.queued;
          this.queued = [];
          this.queuedCommit = undefined;
          try {
            this.writeCommit(batch);
            resolve();
          } catch (e) {
            reject(e);
          }
        });
      });
    }
    return this.queuedCommit;
  }

  /**
   * Waits for a write's commit (synchronous and fully synced: see commitSoon). The promise gets
   * its handler at once: an unhandled second rejection has been seen to kill the process
   * (DESIGN.md). A failure fails the journal with a typed error.
   */
  private durable(written: Promise<unknown>, bytes: number): Promise<void> {
    const tracked = written.then(
      () => { this.usedBytesEstimate += bytes; this.refreshUsage(); },
      async (e: unknown) => { throw this.fail(await commitCause(e)); },
    );
    this.inFlight.add(tracked);
    const untrack = (): void => { this.inFlight.delete(tracked); };
    tracked.then(untrack, untrack);
    return tracked;
  }

  /** The first storage failure sticks: later appends reject with the same error. */
  private fail(e: unknown): PosError {
    if (!this.failure_) {
      this.lmdbFiguresCache = undefined; // a failed write may have grown data.mdb
      const mapped = storageError(e, this.dir);
      // LMDB turns a short write on a full disk into EIO: a file system without room for one
      // more commit means the disk is full (E-STO-01: settle and export), not failing (E-STO-03).
      const free = mapped.id === 'STO_IO' ? freeBytes(this.dir) : undefined;
      const full = free !== undefined && free < this.growthBytesMax(0) + COMMIT_PAGES_MARGIN * PAGE_BYTES_ASSUMED;
      this.failure_ = full ? new PosError('STO_FULL', `${this.dir}: disk full (ENOSPC, reported by LMDB as EIO): ${free} bytes free`, { dir: this.dir, freeBytes: free }, { cause: e }) : mapped;
      this.state_ = 'failed';
      this.log.error({ code: this.failure_.code, dir: this.dir, err: String(e) }, 'journal: storage failure; appends refused');
    }
    return this.failure_;
  }

  /**
   * Used bytes = LMDB's highest page in use (what the file must hold), plus a margin for the
   * pages one more commit may copy-on-write. Read from LMDB after every commit, because record
   * bytes alone underestimate what the B-tree and free list take.
   */
  private refreshUsage(): void {
    try {
      const { pageBytes, lastPageNumber } = this.lmdbFigures();
      this.usedBytesEstimate = Math.max(this.usedBytesEstimate, (lastPageNumber + COMMIT_PAGES_MARGIN) * pageBytes);
    } catch {
      // Stats are advisory; keep the running estimate.
    }
  }

  /**
   * LMDB's page size and last page and data.mdb's size as of LMDB's last write, read once after
   * it: a batched commit to the log asked getStats twice and stat once (about 0.05 ms), though
   * data.mdb changes only where this journal writes LMDB (lmdbCommit, cutTornTail), which drop
   * the figures. Throws as getStats and stat do.
   */
  private lmdbFigures(): LmdbFigures {
    if (!this.lmdbFiguresCache) {
      const stats = this.db.getStats() as { pageSize?: number; lastPageNumber?: number };
      const file = statSync(join(this.dir, 'data.mdb'));
      // st_blocks counts 512-byte units on Linux, whatever the file system's block size.
      this.lmdbFiguresCache = { pageBytes: stats.pageSize ?? 4096, lastPageNumber: stats.lastPageNumber ?? 0, fileBytes: file.size, allocatedBytes: file.blocks * STAT_BLOCK_BYTES };
      // LMDB was written since the free space was read (it may have taken blocks): read it again.
      this.diskFree = undefined;
    }
    return this.lmdbFiguresCache;
  }
}

interface LmdbFigures {
  readonly pageBytes: number;
  readonly lastPageNumber: number;
  /** data.mdb's size. */
  readonly fileBytes: number;
  /** data.mdb's blocks on the disk, in bytes (preallocated ones count; holes do not). */
  readonly allocatedBytes: number;
}

/** The unit of stat's `blocks` (Linux: always 512 bytes). */
const STAT_BLOCK_BYTES = 512;

const PREALLOCATE_CHUNK_BYTES = 1024 * 1024;
/** Free space kept beyond the write-ahead log's size when it is made (LMDB's next commits need room too). */
const WAL_SPACE_MARGIN_BYTES = 256 * 1024;
/** Records a journal may be created with besides record 1 (JournalOptions.genesis). */
export const GENESIS_RECORDS_MAX = 7;
/** Page size for estimates when LMDB cannot say (LMDB's default on every board). */
const PAGE_BYTES_ASSUMED = 4096;
/**
 * Free space a new journal needs before LMDB creates it: lock file, two meta pages and the first
 * commits. Below this lmdb-js has crashed (SIGSEGV) writing the new file on a full disk.
 */
export const CREATE_BYTES_MIN = 64 * 1024;

/** Bytes the journal's process may still write on `dir`'s file system; undefined when unknown. */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/**
 * A checkpoint's LMDB transactions for the log's tail, as checkpointNow commits them: at most
 * CHECKPOINT_TXN_BYTES_MAX of records each (one record at least), each with its transactionSync
 * flags: the last fully synced, the others TXN_META_UNSYNCED (their meta page written without
 * O_DSYNC, flushed by the next transaction's fdatasync; a cut before that leaves LMDB whole at the
 * transaction before, and the log, not yet started over, holds every record LMDB may lack).
 * Exported for bench/journal-phases.ts, which times the same transactions apart.
 */
export function checkpointTransactions<T extends { readonly stored: Buffer }>(tail: ReadonlyArray<T>): Array<{ entries: ReadonlyArray<T>; flags: number }> {
  const out: Array<{ entries: ReadonlyArray<T>; flags: number }> = [];
  for (let at = 0; at < tail.length;) {
    let bytes = tail[at].stored.length;
    let end = at + 1;
    while (end < tail.length && bytes + tail[end].stored.length <= CHECKPOINT_TXN_BYTES_MAX) bytes += tail[end++].stored.length;
    out.push({ entries: tail.slice(at, end), flags: end === tail.length ? TXN_FULLY_SYNCED : TXN_META_UNSYNCED });
    at = end;
  }
  return out;
}

function bytesOf(entries: ReadonlyArray<{ readonly stored: Buffer }>): number {
  let n = 0;
  for (const e of entries) n += e.stored.length;
  return n;
}

/**
 * data.mdb's part of a preallocated share: the share less the log's WAL_BYTES when the log is
 * there or will be made (its file exists, or the disk has room for the share and the log).
 */
function dataShareBytes(options: JournalOptions, shareBytes: number): number {
  if (options.writeAheadLog === false) return shareBytes;
  const data = join(options.dir, 'data.mdb');
  const growBytes = Math.max(0, shareBytes - (existsSync(data) ? statSync(data).size : 0));
  const free = freeBytes(options.dir);
  const logThere = existsSync(walPath(options.dir)) || (free !== undefined && free >= growBytes + WAL_SPACE_MARGIN_BYTES);
  return logThere ? Math.max(0, shareBytes - WAL_BYTES) : shareBytes;
}

/** Extends a file with written zeros (not a sparse hole, which would allocate nothing) and fsyncs. */
function preallocate(file: string, bytes: number): void {
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    if (size >= bytes) return;
    const zeros = Buffer.alloc(PREALLOCATE_CHUNK_BYTES);
    for (let at = size; at < bytes; at += PREALLOCATE_CHUNK_BYTES) writeSync(fd, zeros, 0, Math.min(PREALLOCATE_CHUNK_BYTES, bytes - at), at);
    fsyncSync(fd);
  } catch (e) {
    throw storageError(e, file);
  } finally {
    closeSync(fd);
  }
}

/**
 * A destroyed LMDB meta page is never handed to LMDB: lmdb-js crashes the process (SIGSEGV) on
 * some such files, and on others silently opens an older snapshot. When the raw file holds no
 * intact record (a power cut while the file was being created: nothing was ever acknowledged),
 * it is moved aside and a new journal starts. Otherwise the journal is damaged: salvage.
 */
async function refuseOrSetAside(options: JournalOptions, problem: string, log: Logger): Promise<void> {
  const file = join(options.dir, 'data.mdb');
  // The log's records count too: a journal whose data.mdb lost its pages may live on in journal.wal.
  const found = scanRecords(Buffer.concat([readFileSync(file), readWalFile(options.dir)]));
  // A power cut while the journal was being created can leave record 1 on a data page that no
  // meta page ever committed: nothing was acknowledged, so the journal is created again.
  const created = found.get(1)?.[0];
  const withFirst = created ? genesisCountOf(created) : 0;
  const onlyUncommittedFirst = recordsClaimedByMeta(options.dir) === 0 && [...found.keys()].every((seq) => seq <= 1 + withFirst);
  const records = onlyUncommittedFirst ? 0 : found.size;
  if (records > 0) {
    throw new PosError('STO_DAMAGED', `${options.dir}: ${problem}; LMDB cannot read this file: run "pos journal salvage"`, { dir: options.dir, seq: 1 });
  }
  const claimed = recordsClaimedByMeta(options.dir);
  if (claimed > 0) {
    throw new PosError('STO_DAMAGED', `${options.dir}: ${problem}; LMDB counted ${claimed} records but none survives in the file: restore from a backup`, { dir: options.dir, seq: 1 });
  }
  if (options.readOnly) {
    throw new PosError('STO_DAMAGED', `${options.dir}: ${problem}; the file never held a record (its creation was cut off, nothing was acknowledged): the next start creates the journal again`, { dir: options.dir, seq: 1, neverWritten: true });
  }
  const aside = `${file}.unusable-${Date.now()}`;
  renameSync(file, aside);
  log.warn({ dir: options.dir, problem, movedTo: aside }, 'journal: data.mdb without any record and with a damaged meta page set aside');
}

/** The records record 1 says were created with it (its `genesis` count; 0 for older journals). */
function genesisCountOf(stored: Buffer): number {
  try {
    const n = checkFrame(stored);
    if ('fault' in n || n.header.type !== RecordType.journalCreated) return 0;
    const g = decodePayload(stored).genesis;
    return typeof g === 'number' && Number.isInteger(g) && g >= 0 && g <= GENESIS_RECORDS_MAX ? g : 0;
  } catch {
    return 0;
  }
}

/**
 * lmdb-js rejects a failed commit with "Commit failed (see commitError for details)" and rejects
 * `error.commitError` a moment later with the real errno. Handle it (unhandled, it kills the
 * process) and return the real cause when it comes in time.
 */
async function commitCause(e: unknown): Promise<unknown> {
  const pending = (e as { commitError?: unknown } | null)?.commitError;
  if (!pending || typeof (pending as Promise<unknown>).then !== 'function') return e;
  let timer: NodeJS.Timeout | undefined;
  const cause = await Promise.race([
    (pending as Promise<unknown>).then(() => e, (c: unknown) => c),
    new Promise<unknown>((resolve) => { timer = setTimeout(() => resolve(e), COMMIT_CAUSE_WAIT_MS_MAX); }),
  ]);
  clearTimeout(timer);
  return cause;
}

function openLmdb(options: JournalOptions): JournalDb {
  if (!options.readOnly) finishInterruptedSwap(options.dir, options.logger);
  if (!options.readOnly) mkdirSync(options.dir, { recursive: true });
  if (!options.readOnly && !existsSync(join(options.dir, 'data.mdb'))) {
    const free = freeBytes(options.dir);
    if (free !== undefined && free < CREATE_BYTES_MIN) {
      throw new PosError('STO_FULL', `${options.dir}: disk full (ENOSPC): ${free} bytes free, a new journal needs ${CREATE_BYTES_MIN}`, { dir: options.dir, freeBytes: free });
    }
  }
  try {
    return openEnv(options.dir, {
      mapSizeBytes: options.mapSizeBytes ?? MAP_SIZE_BYTES_DEFAULT,
      safeRestore: options.safeRestore, readOnly: options.readOnly, noSync: options.unsafeNoSync,
    });
  } catch (e) {
    throw storageError(e, join(options.dir, 'data.mdb'));
  }
}

/** LMDB's own corruption errors (MDB_CORRUPTED, MDB_PAGE_NOTFOUND...) while walking are damage. */
async function verifyOrExplain(db: JournalDb, options: JournalOptions): Promise<VerifyReport | { anchorProblem: string }> {
  try {
    return await verifyStore(db, options);
  } catch (e) {
    void db.close().catch(() => undefined);
    const reason = e instanceof Error ? e.message : String(e);
    throw new PosError('STO_DAMAGED', `${options.dir}: LMDB reports the file damaged (${reason}): run "pos journal salvage"`, { dir: options.dir }, { cause: e });
  }
}

async function verifyStore(db: JournalDb, options: JournalOptions): Promise<VerifyReport | { anchorProblem: string }> {
  if (options.trusted) return verifyAfter(db, options.trusted, options.identity);
  const lastKey = lastKeyOf(db);
  const stats = db.getStats() as { entryCount?: number };
  const threads = options.verifyThreadsMax ?? threadsFor(lastKey);
  if (threads > 1) return verifyParallel(db, options.dir, lastKey, stats.entryCount, options.identity, threads);
  return verifyEntries(storedViews(db, 0), lastKey, { identity: options.identity, storedCount: stats.entryCount });
}

function lastKeyOf(db: JournalDb): number {
  for (const key of db.getKeys({ reverse: true, limit: 1 })) return key;
  return 0;
}

/**
 * Reads the write-ahead log after LMDB's verify (JOURNAL_FORMAT.md, "Write-ahead log", opening):
 * the records it takes extend the report and become the tail; damage in it makes the journal
 * damaged at that seq; a torn last commit is cut (it was never acknowledged) and logged.
 */
function withWal(db: JournalDb, dir: string, report: VerifyReport, identity: string, readOnly: boolean, clock: () => number, log: Logger, useLog = true): WalOpen {
  // Only this code makes the log, always a regular file: a link (a loop, one leading elsewhere) or
  // a folder in its place is damage, not "no log" (the commits it held would be lost unseen).
  const lost = (what: string): WalOpen => ({
    report: { ...report, damage: { seq: report.lastGoodSeq + 1, reason: `journal.wal is ${what}: records after ${report.lastGoodSeq} may be lost`, logLost: true } }, tail: [], walBlocked: true,
  });
  const st = lstatSync(walPath(dir), { throwIfNoEntry: false });
  if (st && !st.isFile()) return lost(`${st.isDirectory() ? 'a folder' : st.isSymbolicLink() ? 'a link' : 'a special file'}, not the write-ahead log`);
  const raw = readWalFile(dir);
  // The journal had its log (the mark) and it is gone or cut below its header: its commits are
  // lost, which "nothing to replay" would hide (and the STANs they used would be given again).
  if (useLog && raw.length < WAL_HEADER_BYTES && existsSync(walMarkPath(dir))) {
    return lost(`${st === undefined ? 'missing' : `${raw.length} bytes long`}, but this journal had its newest records there`);
  }
  if (raw.length === 0) return { report, tail: [], walBlocked: false };
  const lmdbLastDigest = report.lastGoodSeq === 0 ? genesisDigest(identity) : report.lastGoodDigest;
  const scan = scanWal(raw, {
    lmdbLastSeq: report.lastGoodSeq, lmdbLastDigest,
    lmdbRecord: (seq) => { const v = db.getBinary(seq); return v ? Buffer.from(v) : undefined; },
  });
  if (scan.headerProblem) log.warn({ dir, problem: scan.headerProblem }, 'journal: write-ahead log header unusable; its commits read by their chain');
  const walBlocked = scan.superseded !== undefined && !setAsideSuperseded(dir, scan.superseded, readOnly, clock, log);
  if (scan.tornAt) log.warn({ dir, offset: scan.tornAt.offset, reason: scan.tornAt.reason, lastSeq: scan.lastSeq }, 'journal: torn last commit of the write-ahead log cut');
  // The log's torn commit is the journal's torn tail, as LMDB's torn last record is: readers
  // report it, a writable open journals its cut (cutTornTail).
  const tornTail = report.tornTail ?? (scan.tornAt ? { seq: scan.tornAt.seq, reason: `journal.wal at byte ${scan.tornAt.offset}: ${scan.tornAt.reason}` } : undefined);
  const extended: VerifyReport = {
    ...report, goodCount: report.goodCount + scan.taken.length, lastGoodSeq: scan.lastSeq,
    lastGoodDigest: scan.taken.length > 0 ? scan.lastDigest : report.lastGoodDigest,
    ...(scan.damage ? { damage: scan.damage } : {}),
    ...(tornTail && !scan.damage ? { tornTail } : {}),
  };
  return { report: extended, tail: scan.taken, walBlocked };
}

/**
 * Repair of a lost log (Damage.logLost): what stands in the log's place is renamed aside whole
 * (`journal.wal.lost-<ms>`, for a technician) and the mark removed, so the next writable open
 * starts a new log on data.mdb's last record. Returns the aside's path, if anything stood there.
 */
export function setLostLogAside(dir: string, clock: () => number = Date.now): string | undefined {
  const log = walPath(dir);
  let aside: string | undefined;
  if (lstatSync(log, { throwIfNoEntry: false })) {
    aside = `${log}.lost-${Math.floor(clock())}`;
    renameSync(log, aside);
  }
  rmSync(walMarkPath(dir), { force: true });
  fsyncDir(dir);
  return aside;
}

/** Names tried for a superseded log's copy before the open gives up on setting it aside. */
const SUPERSEDED_NAMES_MAX = 100;

/** What the write-ahead log adds to an open: its records, and whether the log may be started over. */
interface WalOpen {
  report: VerifyReport;
  tail: WalEntry[];
  /** A superseded log that could not be copied aside: it stays as it is and commits go to LMDB. */
  walBlocked: boolean;
}

/**
 * A log superseded by another writer's history in data.mdb (storage/wal.ts, Superseded) is copied
 * aside, whole and flushed, before a writable open starts the log over on LMDB's last record: its
 * records were never LMDB's, but nothing is destroyed (a technician's salvage can read the copy).
 * A read-only reader only says so. Returns false when the copy could not be made (a full disk, a
 * failing file system): then the log must not be started over, which would destroy it, so this
 * session commits to LMDB (slower, more wear, as safe) and the next open tries the copy again.
 */
function setAsideSuperseded(dir: string, superseded: Superseded, readOnly: boolean, clock: () => number, log: Logger): boolean {
  if (readOnly) {
    log.warn({ dir, seq: superseded.seq, reason: superseded.reason }, 'journal: write-ahead log superseded by data.mdb; not read');
    return true;
  }
  // The clock names the copy; a terminal whose clock starts at the same time every boot (no RTC
  // battery) may meet an earlier copy's name, which is never overwritten.
  const stamp = Math.floor(clock());
  const names = Array.from({ length: SUPERSEDED_NAMES_MAX }, (_, n) => `${walPath(dir)}.superseded-${stamp}${n === 0 ? '' : `-${n}`}`);
  const copy = names.find((name) => !existsSync(name)) ?? names[0];
  try {
    copyFileSync(walPath(dir), copy, constants.COPYFILE_EXCL);
    fsyncDir(copy);
    fsyncDir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') rmSync(copy, { force: true });
    const code = (e as NodeJS.ErrnoException).code === 'ENOSPC' ? 'E-STO-01' : 'E-STO-03';
    log.error({ code, dir, seq: superseded.seq, err: String(e), copy }, 'journal: superseded write-ahead log cannot be copied aside; kept in place, commits go to LMDB until it can');
    return false;
  }
  log.warn({ dir, seq: superseded.seq, reason: superseded.reason, keptAs: copy }, 'journal: write-ahead log superseded by data.mdb (software before the log wrote it, e.g. after a rollback); kept aside, started over');
  return true;
}

function decodeStored(stored: Buffer): DecodedRecord {
  const frame = checkFrame(stored);
  if ('fault' in frame) throw new PosError('STO_DAMAGED', `record frame invalid on read: ${frame.fault.reason}`);
  return { ...frame.header, payload: decodePayload(stored), digest: recordDigest(stored) };
}

export { genesisDigest };

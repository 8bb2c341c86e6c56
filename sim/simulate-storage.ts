/**
 * The terminal's storage in the day simulation: the REAL journal (storage/journal.ts: LMDB behind
 * its write-ahead log journal.wal, as the terminal runs it), instrumented at its commit boundary to
 * count real I/O for the pump, to mark power-cut points, and to inject storage faults; plus the
 * power-cut disk model and bit flips at rest.
 *
 * Where a commit goes (storage/JOURNAL_FORMAT.md, "Write-ahead log"): a durable commit is one
 * pwrite of a commit to journal.wal and one fdatasync; a checkpoint (the terminal's after a
 * settlement's close, the log full, a clean close, an open that replayed the log) is one fully
 * synced LMDB transaction of the log's records, then the log's header rewritten (one block, one
 * fdatasync). The log's writes are seen through the WalWriter's observer (`walObserver`, passed
 * to Journal.open): every write before it is issued, every flush once it returned.
 *
 * Power-cut model (in-process). A commit is all-or-nothing after a reboot: a torn commit of the
 * log fails its CRC and is cut, an LMDB commit is atomic; tests/powercut rebuilds real crash
 * states from an strace of a trading day at every flush barrier and acknowledgement (dropped and
 * torn pages) and shows exactly two outcomes per commit. So most cuts are modelled as:
 *   - a commit or checkpoint in flight at the cut: it happened wholly or not at all (drawn from
 *     the seed);
 *   - a lying flush: the last ACKNOWLEDGED durable commit (not a deferred record: it has no
 *     flush of its own to lie about) is lost too, when nothing left the terminal since (a lost
 *     commit followed by a host request loses money by construction: that case is the positive
 *     control in tests/simulation, not a random fault). After the journal is closed
 *     the log's bytes that commit wrote (and any written after it) are put back as they were
 *     before it (`undo`, read before each write), and its records are removed from data.mdb if a
 *     commit without the log put them there. A checkpoint since (a flush that did not lie) makes
 *     the commit durable: nothing to lose then;
 *   - deferred records (the receipt-printed mark, which rides on the next commit:
 *     storage/journal.ts) are lost at every cut: the journal is closed without writing them (and
 *     without the clean close's checkpoint).
 * The journal then reopens as after a reboot. Strace-based rebuilds are ~1 s per state, too slow
 * for thousands of cuts per run.
 *
 * Disk-model cuts (a share of the cuts, rate `diskModelCut`, and a share of the terminal's
 * checkpoints, rate `checkpointCut`): the all-or-nothing rule above is what the strace test
 * showed; these cuts check it again on every run instead of assuming it. Such a cut falls where
 * writes are in flight: at the next commit or checkpoint, or (half of them) as the log writes its
 * next commit over two pages, the only commits the page model can tear (sim/simulate.ts).
 * Both files are rebuilt with the power-cut simulator's page model (sim/disk-model.ts) from their
 * durable images (data.mdb and journal.wal as of the last acknowledgement, read at that moment)
 * and the writes since, in the order they were issued: the log's pwrites and fdatasyncs as the
 * observer saw them, an LMDB transaction as LMDB writes it (dirty pages, fdatasync, meta page
 * through its O_DSYNC descriptor: the order the strace traces show), found by comparing data.mdb
 * with its last image when a header write shows a checkpoint's transaction just ended. The crash
 * point is drawn from the seed (a span between two flush barriers, then a point in it, never
 * before the first write: `crashPointOf`) with each unsynced page kept, dropped or torn. So a log
 * commit in flight (one pwrite over one or two 4 KiB pages) is kept, dropped, or torn: its header
 * kept and a later page not is the log's torn tail, which the reopened journal must cut and
 * journal as a recovery tail-cut record; a checkpoint in flight stops in every order state
 * between its LMDB transaction and its header write. After the reboot the journal must hold the
 * log's commit exactly when the disk kept it (`reopened`, also after a lying flush): a mismatch
 * stops the run.
 *
 * Storage faults: EIO (the journal goes to `failed`, as after a failed commit: every later append
 * rejects with E-STO-03 until the next boot) and a full disk (sales refused with E-STO-01, the
 * reserve kept for settlement and reversals), from a commit onwards until the next boot.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, Usage } from '../storage/journal';
import { WAL_COMMIT_HEADER_BYTES, WAL_FILE, WAL_HEADER_BYTES, WalWriteObserver, readCommit, walPath } from '../storage/wal';
import { DiskModel, PAGE_SIZE } from './disk-model';
import type { TraceEvent } from './disk-events';
import { openEnv } from '../storage/lmdb-env';
import { flipByte } from '../storage/testing';
import { PosError, invariant } from '../common/errors';
import { RecordType } from '../storage/record';
import { IoGate, Rng } from './simulate-world';

export type StorageFault = 'eio' | 'full';

export interface DiskHooks {
  /** A cut point; true = the power is cut here. */
  point(where: 'commit-start' | 'commit-ack' | 'checkpoint-start'): boolean;
  /** The terminal asks for a checkpoint with nothing in flight: true = the power is cut during it (a disk-model cut). */
  checkpointCut(): boolean;
  /** Storage fault to start at this commit, if any. */
  storageFault(): StorageFault | undefined;
  /** A journal commit was acknowledged (its records are seqs first..last). */
  onAck(first: number, last: number): void;
}

const hang = <T>(): Promise<T> => new Promise<T>(() => undefined);

export interface Flip { readonly seq: number; readonly offset: number; readonly mask: number }

/** What a disk-model cut found the commit or checkpoint in flight to be (see `rebuildAsDisk`). */
export interface DiskCut {
  /** Page writes and flush barriers replayed, and the crash point among them. */
  readonly writes: number;
  readonly events: number;
  readonly crashAt: number;
  /** The last write in flight reached the disk whole. */
  readonly landed: boolean;
  /** The log's commit in flight (the last commit written to journal.wal). */
  readonly logCommit?: { readonly first: number; readonly last: number; readonly pages: number; readonly outcome: LogCommitOutcome };
  /** A checkpoint in flight: whether its LMDB transaction and its header write are on disk. */
  readonly checkpoint?: { readonly lmdb: boolean; readonly header: boolean };
}

/** kept: whole; dropped: none of it; torn-tail: its commit header kept, a later page not; torn-head: its header lost, a later page kept. */
export type LogCommitOutcome = 'kept' | 'dropped' | 'torn-tail' | 'torn-head';

/** A log commit written since the last acknowledged one began, with the bytes it overwrote (the lying flush puts them back). */
interface UndoWrite { readonly offset: number; readonly before: Buffer; readonly commit: Buffer; readonly firstSeq: number; readonly records: number }

/** Log writes kept for a lying flush: those of the commits in flight since the last acknowledgement (a group commit's few). */
const UNDO_WRITES_MAX = 64;
const WAL_TRACE_FD = 4;
const LMDB_NAME = 'data.mdb';
const LMDB_TRACE_FD = 3;

export class SimDisk {
  /** Seq from which records are lost at the cut (undefined: none). */
  private lostFromSeq: number | undefined;
  /** The last acknowledged commit and whether a host request left after it. */
  private lastAck: { first: number; actedOn: boolean } | undefined;
  private fault: StorageFault | undefined;
  private dead = false;
  readonly flips: Flip[] = [];
  /**
   * Armed disk-model cut: data.mdb and journal.wal as the disk durably holds them (exact at every
   * acknowledgement), by file name: the disk model seeds its torn pages by path, and the run's
   * directory is named at random (a replay would tear other pages).
   */
  private durable: Map<string, Buffer> | undefined;
  /** Armed: the writes and flushes since `durable`, in the order they were issued. */
  private trace: TraceEvent[] = [];
  /** Armed: data.mdb as of the LMDB writes in `trace`. */
  private lmdbImage: Buffer | undefined;
  /** The log's commits written since the last acknowledged one began (see UndoWrite). */
  private undo: UndoWrite[] = [];
  /** After a cut that lost a log commit or met one in flight: what the reopened journal must hold. */
  private expected: { readonly first: number; readonly frame: Buffer; readonly outcome: LogCommitOutcome | 'lost-to-lying-flush' } | undefined;
  /** Journal commits started and not yet settled. */
  private inflight = 0;
  /** Armed: the cut falls as the next log commit over two pages is written (see `waitForTwoPageCommit`). */
  private twoPageCut: (() => void) | undefined;

  /** Pass to Journal.open as `walObserver`: the log's writes, for the disk model and the lying flush. */
  readonly walObserver: WalWriteObserver = {
    write: (offset, bytes) => this.walWrite(offset, bytes),
    flushed: () => this.walFlushed(),
  };

  constructor(readonly dir: string, private readonly io: IoGate, private readonly rng: Rng) {}

  /** A new boot: faults cleared (the technician fixed them), nothing lost yet. */
  boot(): void {
    this.dead = false;
    this.fault = undefined;
    this.lostFromSeq = undefined;
    this.lastAck = undefined;
    this.undo = [];
  }

  get storageFault(): StorageFault | undefined { return this.fault; }

  private get dataFile(): string { return join(this.dir, LMDB_NAME); }
  private get walFile(): string { return walPath(this.dir); }

  /** The next cut (this step) rebuilds the files as a disk would hold them. Call at rest. */
  armDiskModel(): void {
    const lmdb = readFileSync(this.dataFile);
    this.durable = new Map([[LMDB_NAME, lmdb]]);
    if (existsSync(this.walFile)) this.durable.set(WAL_FILE, readFileSync(this.walFile));
    this.trace = [];
    this.lmdbImage = lmdb;
  }

  disarmDiskModel(): void {
    this.durable = undefined;
    this.trace = [];
    this.lmdbImage = undefined;
    this.twoPageCut = undefined;
  }

  get armed(): boolean { return this.durable !== undefined; }

  /**
   * Armed: the power is cut as the next commit the log writes over two pages is issued (`onCut`
   * tells the simulation), the one shape whose unsynced pages can tear it: its header page kept
   * and the next page not is the log's torn tail. The commit runs on to the page cache as any
   * commit in flight at a disk-model cut does, and is never acknowledged.
   */
  waitForTwoPageCommit(onCut: () => void): void {
    invariant(this.durable !== undefined, 'simulation: a two-page cut waits on an armed disk model');
    this.twoPageCut = onCut;
  }

  /** Something left the terminal: the last acknowledged commit was acted on. */
  externalEffect(): void {
    if (this.lastAck) this.lastAck.actedOn = true;
  }

  instrument(journal: Journal, hooks: DiskHooks): void {
    // Opening may have committed (a torn tail cut, a recovery record, a checkpoint): durable once open resolved.
    if (this.durable) this.armDiskModel();
    const started = journal.appendMany.bind(journal);
    const appendMany: typeof started = (records, options) => {
      this.inflight++;
      return started(records, options).finally(() => { this.inflight--; });
    };
    const close = journal.close.bind(journal);
    const usage = journal.usage.bind(journal);
    const checkpoint = journal.checkpoint.bind(journal);
    let closing = false;
    // After the cut nothing more reaches the disk: deferred records (receipt marks) are lost.
    journal.close = (o = {}) => {
      closing = true;
      return this.io.track(close(this.dead ? { ...o, writeDeferred: false } : o));
    };
    journal.usage = (): Usage => (this.fault === 'full' ? { ...usage(), nearlyFull: true, salesRefused: true } : usage());
    // The terminal's checkpoint (after a settlement's close) is a cut point; a clean close's is not (the power is on).
    journal.checkpoint = () => {
      if (closing) return checkpoint();
      if (this.dead) return hang();
      if (this.inflight === 0 && !this.durable && hooks.checkpointCut()) {
        this.armDiskModel();
        return this.inFlightAtCut(() => checkpoint());
      }
      if (hooks.point('checkpoint-start')) return this.inFlightAtCut(() => checkpoint());
      return this.io.track(checkpoint()).then(() => {
        if (this.dead) return hang();
        this.rearm();
        return undefined;
      });
    };
    journal.appendMany = (records, options = {}) => {
      if (this.dead) return hang();
      if (this.fault === undefined) this.startFault(journal, hooks.storageFault());
      if (this.fault === 'eio') return Promise.reject(journal.failure);
      if (this.fault === 'full' && !options.reserve) return Promise.reject(new PosError('STO_FULL', `${journal.dir}: storage full for new sales (simulated)`));
      const first = journal.lastSeq + 1;
      if (hooks.point('commit-start')) return this.inFlightAtCut(() => appendMany(records, options));
      const deferredBefore = journal.deferredCount;
      const running = this.io.track(appendMany(records, options));
      // A deferred append (the receipt-printed mark) has no flush of its own: no flush to lie about.
      const deferred = journal.deferredCount > deferredBefore;
      return running.then((done) => {
        if (this.dead) return hang();
        const last = first + records.length - 1;
        if (!deferred) {
          this.lastAck = { first, actedOn: false };
          this.undo = this.undo.filter((u) => lastSeqOf(u) >= first);
        }
        this.rearm();
        if (hooks.point('commit-ack')) { this.dead = true; return hang(); }
        hooks.onAck(first, last);
        return done;
      });
    };
  }

  /**
   * The power is cut with a commit or checkpoint starting: the work is in flight, wholly on disk
   * or wholly absent, drawn from the seed (a commit of the log is cut at its CRC, an LMDB
   * transaction is atomic); under an armed disk-model cut it runs to the page cache and the
   * rebuild decides. Returns the promise of the cut work, which never settles.
   */
  private inFlightAtCut<T>(work: () => Promise<T>): Promise<T> {
    this.dead = true;
    const lands = this.rng.chance(0.5);
    if (lands || this.durable) void this.io.track(work()).catch(() => undefined);
    return hang();
  }

  /** Durable now: a new image for an armed disk model; another commit still running would blur it: fall back. */
  private rearm(): void {
    if (!this.durable) return;
    if (this.inflight === 0) this.armDiskModel();
    else this.disarmDiskModel();
  }

  private startFault(journal: Journal, f: StorageFault | undefined): void {
    if (f === undefined) return;
    this.fault = f;
    if (f === 'eio') {
      const failure = new PosError('STO_IO', `${journal.dir}: I/O error (EIO, simulated)`);
      // The journal's own reaction to a failed commit: state 'failed', the error sticks.
      Object.defineProperty(journal, 'state', { get: () => 'failed', configurable: true });
      Object.defineProperty(journal, 'failure', { get: () => failure, configurable: true });
    }
  }

  /**
   * The log is about to write `bytes` at `offset`. A commit's overwritten bytes are kept for a
   * lying flush; a header write ends a checkpoint (its LMDB transaction is durable: nothing earlier
   * can be lost to a lying flush any more). Armed: traced, after the LMDB writes of a checkpoint.
   */
  private walWrite(offset: number, bytes: Buffer): void {
    if (offset < WAL_HEADER_BYTES) {
      this.undo = [];
      this.lastAck = undefined;
    } else {
      this.undo.push({ offset, before: readRange(this.walFile, offset, bytes.length), commit: Buffer.from(bytes), firstSeq: bytes.readUInt32BE(8), records: bytes.readUInt16BE(4) });
      invariant(this.undo.length <= UNDO_WRITES_MAX, 'simulation: more log writes in flight than UNDO_WRITES_MAX', { writes: this.undo.length });
    }
    if (!this.durable) return;
    if (offset < WAL_HEADER_BYTES) this.traceLmdb();
    this.trace.push({ kind: 'write', path: WAL_FILE, fd: WAL_TRACE_FD, offset, data: Buffer.from(bytes), sync: false, call: 'pwrite64', index: this.trace.length, startedAt: this.trace.length, tid: null, line: 0 });
    const onCut = this.twoPageCut;
    if (onCut && !this.dead && offset >= WAL_HEADER_BYTES && pagesSpanned(offset, bytes.length) >= 2) {
      this.twoPageCut = undefined;
      this.dead = true;
      onCut();
    }
  }

  private walFlushed(): void {
    if (!this.durable) return;
    this.trace.push({ kind: 'barrier', call: 'fdatasync', path: WAL_FILE, fd: WAL_TRACE_FD, index: this.trace.length, startedAt: this.trace.length, tid: null, line: 0 });
  }

  /** Armed: an LMDB transaction since the last image (data.mdb differs) joins the trace as LMDB writes it. */
  private traceLmdb(): void {
    const before = this.lmdbImage;
    if (!before) return;
    const now = readFileSync(this.dataFile);
    if (now.length < before.length) throw new Error(`data.mdb shrank from ${before.length} to ${now.length} bytes: LMDB never shrinks its file`);
    for (const e of lmdbCommitWrites(LMDB_NAME, before, now)) this.trace.push({ ...e, index: this.trace.length, startedAt: this.trace.length });
    this.lmdbImage = now;
  }

  /**
   * The power is cut. Returns true when a lying flush lost the last acknowledged commit: only when
   * nothing left the terminal since, unless `evenIfActedOn` (the positive control).
   */
  cut(lyingFlush: boolean, evenIfActedOn = false): boolean {
    this.dead = true;
    if (lyingFlush && this.lastAck && (!this.lastAck.actedOn || evenIfActedOn)) {
      this.disarmDiskModel(); // a lying flush uses the record-level model
      this.lostFromSeq = this.lastAck.first;
      return true;
    }
    return false;
  }

  /**
   * After the journal is closed, under an armed disk-model cut: rewrites data.mdb and journal.wal
   * as the disk holds them. Returns what was modelled, or undefined when not armed. `pick` draws
   * from the seed (the crash point too, unless a test gives it).
   */
  rebuildAsDisk(pick: Rng, crashAtForTest?: number): DiskCut | undefined {
    const durable = this.durable;
    if (!durable) return undefined;
    this.traceLmdb(); // an LMDB transaction with no header write after it (a journal without its log)
    const events = this.trace;
    this.disarmDiskModel();
    const writes = events.filter((e) => e.kind === 'write').length;
    if (writes === 0) return { writes: 0, events: 0, crashAt: 0, landed: false };
    const crashAt = crashAtForTest ?? crashPointOf(events, pick);
    const files = new DiskModel(events, { initialFiles: durable }).filesAt(crashAt, { mode: 'torn', seed: pick.int(0x7fffffff) });
    for (const [name, bytes] of files) writeFileSync(join(this.dir, name), bytes);
    const disk = (file: string): Buffer => files.get(file) ?? durable.get(file) ?? Buffer.alloc(0);
    const lastWrite = events.filter((e) => e.kind === 'write').pop();
    const landed = lastWrite?.kind === 'write' && holds(disk(lastWrite.path), lastWrite.offset, lastWrite.data);
    return { writes, events: events.length, crashAt, landed, ...this.logCommitOf(events, disk(WAL_FILE)), ...checkpointOf(events, disk) };
  }

  /** The last commit written to the log in `events`, as the rebuilt log holds it; noted for `reopened`. */
  private logCommitOf(events: readonly TraceEvent[], wal: Buffer): Pick<DiskCut, 'logCommit'> {
    const commit = [...events].reverse().find((e) => e.kind === 'write' && e.path === WAL_FILE && e.offset >= WAL_HEADER_BYTES);
    if (commit?.kind !== 'write') return {};
    const whole = readCommit(commit.data, 0);
    invariant(whole !== undefined, 'simulation: the log wrote a commit that does not read back', { offset: commit.offset });
    const first = whole.firstSeq, last = first + whole.entries.length - 1;
    const outcome = logCommitOutcome(wal, commit.offset, commit.data);
    this.expected = { first, frame: Buffer.from(whole.entries[0].stored), outcome };
    return { logCommit: { first, last, pages: pagesSpanned(commit.offset, commit.data.length), outcome } };
  }

  /**
   * Right after the journal reopened from a disk-model cut that met a log commit: the journal
   * holds the commit's first record exactly when the disk kept the commit whole, and a torn tail
   * (its header kept) was cut and journaled as a recovery tail-cut record at that seq. Returns the
   * outcome's counts and line, or a mismatch (the run stops on it).
   */
  reopened(journal: Journal): { readonly line: string; readonly counts: string[]; readonly mismatch?: string } | undefined {
    const e = this.expected;
    this.expected = undefined;
    if (!e) return undefined;
    if (journal.state === 'damaged') return { line: `reopened damaged: the log's commit at record ${e.first} (${e.outcome}) not checked`, counts: [] };
    const now = journal.get(e.first);
    const same = now !== undefined && [...journal.raw(e.first, e.first)][0]?.stored.equals(e.frame) === true;
    const tailCut = now?.type === RecordType.recovery && now.payload.action === 'tail-cut' && String(now.payload.reason).includes('journal.wal');
    const line = `reopened at record ${journal.lastSeq}: the log's commit from record ${e.first} ${e.outcome}, ${same ? 'in the journal' : tailCut ? 'cut as a torn tail (recovery tail-cut journaled)' : 'not in the journal'}`;
    if (e.outcome === 'kept') return same ? { line, counts: ['disk-model-log-commit-kept-after-boot'] } : { line, counts: [], mismatch: `the disk kept the log's commit from record ${e.first} whole, the reopened journal does not hold it` };
    if (same) return { line, counts: [], mismatch: `the disk did not keep the log's commit from record ${e.first} (${e.outcome}), the reopened journal holds it` };
    if (e.outcome === 'torn-tail' && !tailCut) return { line, counts: [], mismatch: `the log's commit from record ${e.first} was torn after its header, the reopened journal journaled no tail-cut at that record` };
    if (e.outcome === 'lost-to-lying-flush') return { line, counts: ['lying-flush-commit-gone-after-boot'] };
    return { line, counts: ['disk-model-log-commit-gone-after-boot', ...(tailCut ? ['disk-model-log-tail-cut-journaled'] : [])] };
  }

  /**
   * After the journal is closed: removes what the disk did not keep after a lying flush. The log's
   * bytes from the lost commit on are put back as they were before it (newest first), and records
   * a commit without the log put in data.mdb are removed by key. Returns the records lost.
   */
  async applyCut(): Promise<number> {
    const from = this.lostFromSeq;
    this.lostFromSeq = undefined;
    if (from === undefined) return 0;
    let removed = 0;
    // A commit holding `from` is lost whole (one flush), with every log write after it.
    const lost = this.undo.filter((u) => lastSeqOf(u) >= from);
    this.undo = [];
    for (const u of [...lost].reverse()) {
      writeRange(this.walFile, u.offset, u.before);
      removed += u.records;
    }
    const frame = lost.length > 0 ? readCommit(lost[0].commit, 0)?.entries[0] : undefined;
    if (frame) this.expected = { first: frame.seq, frame: Buffer.from(frame.stored), outcome: 'lost-to-lying-flush' };
    const db = openEnv(this.dir);
    try {
      const keys = [...db.getKeys({ start: from })];
      for (const k of keys) { await db.remove(k); removed++; }
      await db.flushed;
    } finally {
      await db.close();
    }
    return removed;
  }

  /** A bit flips in a stored record that is not the last one (the last would read as torn). */
  async flipAtRest(): Promise<Flip | undefined> {
    const db = openEnv(this.dir);
    let seq = 0, size = 0;
    try {
      let lastSeq = 0;
      for (const k of db.getKeys({ reverse: true, limit: 1 })) lastSeq = k;
      if (lastSeq < 3) return undefined;
      seq = this.rng.range(2, lastSeq - 1);
      size = db.getBinary(seq)?.length ?? 0;
    } finally {
      await db.close();
    }
    if (size === 0) return undefined;
    const flip = { seq, offset: this.rng.int(size), mask: 1 << this.rng.int(8) };
    await flipByte(this.dir, flip.seq, flip.offset, flip.mask);
    this.flips.push(flip);
    return flip;
  }

  /** The technician restores the damaged records (salvage from the intact copy). */
  async repair(): Promise<number> {
    const n = this.flips.length;
    for (const f of this.flips.splice(0).reverse()) await flipByte(this.dir, f.seq, f.offset, f.mask);
    return n;
  }
}

/** The last record a log write carries. */
const lastSeqOf = (u: UndoWrite): number => u.firstSeq + u.records - 1;

/**
 * A crash point among `events`: one of the spans a flush barrier closes (before the first
 * returned, between two, after the last) drawn evenly, then a point in it. For one LMDB
 * transaction: half the cuts before its fdatasync returned (data pages torn, meta old), half after;
 * for one log commit: half with its pwrite issued and not flushed (each page kept or not), half
 * flushed. Never before the first write was issued: that state (nothing written) is the
 * all-or-nothing model's "absent", which the other cuts draw.
 */
export function crashPointOf(events: readonly TraceEvent[], pick: Rng): number {
  const barriers = events.flatMap((e, i) => (e.kind === 'barrier' ? [i] : []));
  const span = pick.int(barriers.length + 1);
  const from = span === 0 ? 1 : barriers[span - 1] + 1;
  const to = span === barriers.length ? events.length : barriers[span];
  return from + pick.int(to - from + 1);
}

/** A checkpoint in `events` (LMDB writes, a header write): whether each part is on the rebuilt disk. */
function checkpointOf(events: readonly TraceEvent[], disk: (file: string) => Buffer): Pick<DiskCut, 'checkpoint'> {
  const writes = events.flatMap((e) => (e.kind === 'write' ? [e] : []));
  const header = writes.filter((e) => e.offset < WAL_HEADER_BYTES && e.path === WAL_FILE).pop();
  const meta = writes.filter((e) => e.path === LMDB_NAME && e.sync).pop();
  if (!header && !meta) return {};
  const on = (e: typeof meta): boolean => e !== undefined && holds(disk(e.path), e.offset, e.data);
  return { checkpoint: { lmdb: on(meta), header: on(header) } };
}

/** How much of a log commit written at `offset` the rebuilt log holds (pages are kept or not whole). */
export function logCommitOutcome(wal: Buffer, offset: number, commit: Buffer): LogCommitOutcome {
  if (holds(wal, offset, commit)) return 'kept';
  const headerKept = holds(wal, offset, commit.subarray(0, WAL_COMMIT_HEADER_BYTES));
  if (headerKept) return 'torn-tail';
  let anyPage = false;
  for (let at = offset; at < offset + commit.length; at = (Math.floor(at / PAGE_SIZE) + 1) * PAGE_SIZE) {
    const end = Math.min(offset + commit.length, (Math.floor(at / PAGE_SIZE) + 1) * PAGE_SIZE);
    if (holds(wal, at, commit.subarray(at - offset, end - offset))) anyPage = true;
  }
  return anyPage ? 'torn-head' : 'dropped';
}

function pagesSpanned(offset: number, bytes: number): number {
  return Math.floor((offset + bytes - 1) / PAGE_SIZE) - Math.floor(offset / PAGE_SIZE) + 1;
}

function holds(file: Buffer, offset: number, bytes: Buffer): boolean {
  return offset + bytes.length <= file.length && file.subarray(offset, offset + bytes.length).equals(bytes);
}

function readRange(file: string, offset: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const fd = openSync(file, 'r');
  try {
    let got = 0;
    while (got < bytes) {
      const n = readSync(fd, out, got, bytes - got, offset + got);
      if (n === 0) break; // past the end: reads as zeros, as the log's zero-filled file does
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function writeRange(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
  } finally {
    closeSync(fd);
  }
}

/**
 * The writes that turn `before` into `after`, in the order an LMDB commit issues them: every
 * changed data page, one fdatasync, then the changed meta page(s) (pages 0 and 1) through the
 * O_DSYNC descriptor, as DiskModel events.
 */
export function lmdbCommitWrites(file: string, before: Buffer, after: Buffer): TraceEvent[] {
  const pages = Math.ceil(after.length / PAGE_SIZE);
  const page = (b: Buffer, p: number): Buffer => b.subarray(p * PAGE_SIZE, Math.min(b.length, (p + 1) * PAGE_SIZE));
  const changed: number[] = [];
  for (let p = 0; p < pages; p++) if (!page(after, p).equals(page(before, p))) changed.push(p);
  const events: TraceEvent[] = [];
  const write = (p: number, sync: boolean): void => {
    const index = events.length;
    events.push({ kind: 'write', path: file, fd: LMDB_TRACE_FD, offset: p * PAGE_SIZE, data: Buffer.from(page(after, p)), sync, call: sync ? 'pwrite64(O_DSYNC)' : 'pwrite64', index, startedAt: index, tid: null, line: 0 });
  };
  const meta = changed.filter((p) => p < 2);
  for (const p of changed) if (p >= 2) write(p, false);
  if (changed.length === 0) return events;
  events.push({ kind: 'barrier', call: 'fdatasync', path: file, fd: LMDB_TRACE_FD, index: events.length, startedAt: events.length, tid: null, line: 0 });
  for (const p of meta) write(p, true);
  return events;
}

/**
 * The terminal's storage in the day simulation: the REAL journal (storage/journal.ts on LMDB),
 * instrumented at its commit boundary to count real I/O for the pump, to mark power-cut points,
 * and to inject storage faults; plus the power-cut disk model and bit flips at rest.
 *
 * Power-cut model (in-process). An LMDB commit is atomic and the journal acknowledges only after
 * the flush; tests/runtime/powercut.test.ts rebuilds real crash states from an strace of a
 * trading day at every flush barrier and acknowledgement (dropped and torn pages) and shows
 * exactly two outcomes per commit: all of it on disk, or none of it. So a cut is modelled as:
 *   - a commit in flight at the cut: on disk or not (drawn from the seed);
 *   - a lying flush: the last ACKNOWLEDGED commit is lost too, when nothing left the terminal
 *     since (a lost commit followed by a host request loses money by construction: that case is
 *     the positive control in tests/simulation, not a random fault);
 * and applied after the journal is closed by removing the lost records' keys, which leaves the
 * file as LMDB's previous snapshot would. Deferred records (the receipt-printed mark, which rides
 * on the next commit: storage/journal.ts) are lost at every cut: the journal is closed without
 * writing them. The journal then reopens with safeRestore as after a
 * reboot. Strace-based rebuilds are ~1 s per state, too slow for thousands of cuts per run.
 *
 * Disk-model cuts (a share of the cuts, rate `diskModelCut`): the all-or-nothing rule above is
 * what the strace test showed; these cuts check it again on every run instead of assuming it. The
 * file is rebuilt with the power-cut simulator's page model (tests/powercut/disk-model.ts) from the
 * durable image (data.mdb as of the last acknowledgement, read at that moment) and the writes of
 * the commit in flight, replayed in LMDB's order (dirty pages, fdatasync, meta page through its
 * O_DSYNC descriptor: the order the strace traces show), crashed at a point drawn from the seed
 * with each unsynced page kept or dropped. LMDB then opens that file as after a reboot.
 *
 * Storage faults: EIO (the journal goes to `failed`, as after a failed commit: every later append
 * rejects with E-STO-03 until the next boot) and a full disk (sales refused with E-STO-01, the
 * reserve kept for settlement and reversals), from a commit onwards until the next boot.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, Usage } from '../storage/journal';
import { DiskModel, PAGE_SIZE } from './disk-model';
import type { TraceEvent } from './disk-events';
import { openEnv } from '../storage/lmdb-env';
import { flipByte } from '../storage/testing';
import { PosError } from '../common/errors';
import { IoGate, Rng } from './simulate-world';

export type StorageFault = 'eio' | 'full';

export interface DiskHooks {
  /** A cut point; true = the power is cut here. */
  point(where: 'commit-start' | 'commit-ack'): boolean;
  /** Storage fault to start at this commit, if any. */
  storageFault(): StorageFault | undefined;
  /** A journal commit was acknowledged (its records are seqs first..last). */
  onAck(first: number, last: number): void;
}

const hang = <T>(): Promise<T> => new Promise<T>(() => undefined);

export interface Flip { readonly seq: number; readonly offset: number; readonly mask: number }

export class SimDisk {
  /** Seq from which records are lost at the cut (undefined: none). */
  private lostFromSeq: number | undefined;
  /** The last acknowledged commit and whether a host request left after it. */
  private lastAck: { first: number; actedOn: boolean } | undefined;
  private fault: StorageFault | undefined;
  private dead = false;
  readonly flips: Flip[] = [];
  /** Armed disk-model cut: data.mdb as the disk durably holds it (exact at every acknowledgement). */
  private durable: Buffer | undefined;
  /** Journal commits started and not yet settled. */
  private inflight = 0;

  constructor(readonly dir: string, private readonly io: IoGate, private readonly rng: Rng) {}

  /** A new boot: faults cleared (the technician fixed them), nothing lost yet. */
  boot(): void {
    this.dead = false;
    this.fault = undefined;
    this.lostFromSeq = undefined;
    this.lastAck = undefined;
  }

  get storageFault(): StorageFault | undefined { return this.fault; }

  private get dataFile(): string { return join(this.dir, 'data.mdb'); }

  /** The next cut (this step) rebuilds the file as a disk would hold it. Call at rest. */
  armDiskModel(): void {
    this.durable = readFileSync(this.dataFile);
  }

  disarmDiskModel(): void {
    this.durable = undefined;
  }

  /** Something left the terminal: the last acknowledged commit was acted on. */
  externalEffect(): void {
    if (this.lastAck) this.lastAck.actedOn = true;
  }

  instrument(journal: Journal, hooks: DiskHooks): void {
    // Opening may have committed (a torn tail cut, a recovery record): durable once open resolved.
    if (this.durable) this.armDiskModel();
    const started = journal.appendMany.bind(journal);
    const appendMany: typeof started = (records, options) => {
      this.inflight++;
      return started(records, options).finally(() => { this.inflight--; });
    };
    const close = journal.close.bind(journal);
    const usage = journal.usage.bind(journal);
    // After the cut nothing more reaches the disk: deferred records (receipt marks) are lost.
    journal.close = (o = {}) => this.io.track(close(this.dead ? { ...o, writeDeferred: false } : o));
    journal.usage = (): Usage => (this.fault === 'full' ? { ...usage(), nearlyFull: true, salesRefused: true } : usage());
    journal.appendMany = (records, options = {}) => {
      if (this.dead) return hang();
      if (this.fault === undefined) this.startFault(journal, hooks.storageFault());
      if (this.fault === 'eio') return Promise.reject(journal.failure);
      if (this.fault === 'full' && !options.reserve) return Promise.reject(new PosError('STO_FULL', `${journal.dir}: storage full for new sales (simulated)`));
      const first = journal.lastSeq + 1;
      if (hooks.point('commit-start')) {
        this.dead = true;
        // In flight at the cut: wholly on disk or wholly absent (LMDB commits are atomic); under
        // an armed disk-model cut it runs to the page cache and the rebuild decides.
        const lands = this.rng.chance(0.5);
        if (lands || this.durable) void this.io.track(appendMany(records, options)).catch(() => undefined);
        return hang();
      }
      return this.io.track(appendMany(records, options)).then((done) => {
        if (this.dead) return hang();
        const last = first + records.length - 1;
        this.lastAck = { first, actedOn: false };
        // Durable now; another commit still running would blur the image: fall back.
        if (this.durable) {
          if (this.inflight === 0) this.armDiskModel();
          else this.disarmDiskModel();
        }
        if (hooks.point('commit-ack')) { this.dead = true; return hang(); }
        hooks.onAck(first, last);
        return done;
      });
    };
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
   * After the journal is closed, under an armed disk-model cut: rewrites data.mdb as the disk
   * holds it. Returns what was modelled, or undefined when not armed. `pick` draws from the seed.
   */
  rebuildAsDisk(pick: Rng): { pages: number; writes: number; crashAt: number; landed: boolean } | undefined {
    const durable = this.durable;
    this.durable = undefined;
    if (!durable) return undefined;
    const now = readFileSync(this.dataFile);
    if (now.length < durable.length) throw new Error(`data.mdb shrank from ${durable.length} to ${now.length} bytes: LMDB never shrinks its file`);
    const events = lmdbCommitWrites(this.dataFile, durable, now);
    if (events.length === 0) return { pages: 0, writes: 0, crashAt: 0, landed: false };
    const barrierAt = events.findIndex((e) => e.kind === 'barrier');
    // Half the cuts before the fdatasync returned (data pages torn, meta old), half after it.
    const crashAt = pick.chance(0.5) ? pick.int(barrierAt + 1) : barrierAt + 1 + pick.int(events.length - barrierAt);
    const files = new DiskModel(events, { initialFiles: new Map([[this.dataFile, durable]]) }).filesAt(crashAt, { mode: 'torn', seed: pick.int(0x7fffffff) });
    const disk = files.get(this.dataFile) ?? durable;
    writeFileSync(this.dataFile, disk);
    // The commit is visible after a reboot exactly when its meta page reached the disk.
    const meta = (b: Buffer): Buffer => b.subarray(0, 2 * PAGE_SIZE);
    return { pages: events.length - 1, writes: events.length, crashAt, landed: meta(disk).equals(meta(now)) };
  }

  /** After the journal is closed: removes what the disk did not keep. */
  async applyCut(): Promise<number> {
    if (this.lostFromSeq === undefined) return 0;
    const db = openEnv(this.dir);
    let removed = 0;
    try {
      const keys = [...db.getKeys({ start: this.lostFromSeq })];
      for (const k of keys) { await db.remove(k); removed++; }
      await db.flushed;
    } finally {
      await db.close();
    }
    this.lostFromSeq = undefined;
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
    events.push({ kind: 'write', path: file, fd: 3, offset: p * PAGE_SIZE, data: Buffer.from(page(after, p)), sync, call: sync ? 'pwrite64(O_DSYNC)' : 'pwrite64', index, startedAt: index, tid: null, line: 0 });
  };
  const meta = changed.filter((p) => p < 2);
  for (const p of changed) if (p >= 2) write(p, false);
  if (changed.length === 0) return events;
  events.push({ kind: 'barrier', call: 'fdatasync', path: file, fd: 3, index: events.length, startedAt: events.length, tid: null, line: 0 });
  for (const p of meta) write(p, true);
  return events;
}

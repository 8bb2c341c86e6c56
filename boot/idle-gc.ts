/**
 * A full garbage collection while the terminal waits at idle (issue 14 goal 1: memory flat through
 * a day). V8 collects when allocation asks for it, so the garbage of a boot (modules, the first
 * sign-on's keys, the password check) or of a settlement (the batch's totals, the upload, the
 * report) stays in the heap's pages until the next sales need room, and those pages count in RSS.
 * Collecting it at idle and giving the pages back (below) took the terminal from 80.4 to 70.5 MB
 * after a day of 1,000 sales (README, "Memory"); a plain full collection alone gives no pages back.
 *
 * When, and why not more often: a full collection stops JavaScript for tens of milliseconds on a
 * slow CPU (more than the 20 ms key-to-screen goal), so it runs only while idle and only once per
 * stay there:
 *   - IDLE_GC_AFTER_BUSY_MS after reaching idle from the boot or a settlement (the large garbage);
 *   - IDLE_GC_AFTER_IDLE_MS after reaching idle from anything else (a sale: small garbage, and a
 *     merchant between customers should not meet a pause);
 *   - never again until the terminal has left idle;
 *   - never before the V8 code cache has let go of its file's bytes and scripts (boot/code-cache.ts:
 *     CODE_CACHE_WRITE_AFTER_IDLE_MS into the first stay at idle, before IDLE_GC_AFTER_BUSY_MS): a
 *     collection before that gives back nothing of them, and the once-per-idle rule kept them all
 *     day; a collection due while they are held waits IDLE_GC_AFTER_CODE_CACHE_MS more. Measured
 *     (simulator board, unit settings, a first boot that writes the cache, idle 10 s after the
 *     login): 67.8 MB RSS at idle with the collection 2 s after the login, 62.3 MB with the cache
 *     written before it.
 * A key pressed in the meantime leaves idle (the machine's state changes) and cancels it.
 *
 * The collection is boot/mem-reclaim.ts's: V8's memory-reducing collection and glibc's trim
 * through the runtime's own addon, which return the freed pages (a plain full GC does not: README,
 * "Memory"); without the addon `global.gc` (node's `--expose-gc`, which the unit passes); without
 * either (a developer's `npm start` with no addon) nothing is collected and V8 behaves as before.
 */
import { installedCodeCacheControl } from './code-cache';
import { idleCollector, ReclaimKind } from './mem-reclaim';

/** After the boot's or a settlement's return to idle. */
export const IDLE_GC_AFTER_BUSY_MS = 2_000;
/** After any other return to idle. */
export const IDLE_GC_AFTER_IDLE_MS = 5 * 60_000;
/** A collection due while the code cache still holds its bytes asks again this much later. */
export const IDLE_GC_AFTER_CODE_CACHE_MS = 1_000;

/** States whose return to idle leaves much garbage behind (machine state names' prefixes). */
const BUSY_STATE_PREFIXES = ['boot', 'settlement', 'signOn', 'pendingWork', 'recovery', 'login'];

export interface IdleGcOptions {
  /** The collector; default boot/mem-reclaim.ts's idleCollector() (undefined: nothing is collected). */
  readonly gc?: (() => ReclaimKind | void) | undefined;
  readonly setTimer?: (f: () => void, ms: number) => unknown;
  readonly clearTimer?: (t: unknown) => void;
  /** Whether the V8 code cache still holds its file's bytes; default: the installed cache's (boot/code-cache.ts). */
  readonly codeCacheHeld?: () => boolean;
  /** Told after each collection (the terminal logs it at debug). */
  readonly onCollected?: (info: { after: string; ms: number; kind?: ReclaimKind['kind']; fileMappings?: number }) => void;
}

export class IdleGc {
  private readonly gc: (() => ReclaimKind | void) | undefined;
  private timer: unknown;
  private previous = 'boot';
  private collectedThisIdle = false;
  /** Background work left large garbage since the last collection (afterWork) while not at idle. */
  private workSinceCollection = false;
  collections = 0;

  constructor(private readonly o: IdleGcOptions = {}) {
    this.gc = 'gc' in o ? o.gc : idleCollector();
  }

  /** Whether a collector is there at all. */
  get enabled(): boolean { return this.gc !== undefined; }

  /** Each machine state as it changes (repeats of the same state are ignored). */
  state(state: string): void {
    if (state === this.previous) return;
    const from = this.previous;
    this.previous = state;
    if (state !== 'idle') { this.cancel(); this.collectedThisIdle = false; return; }
    if (!this.gc || this.collectedThisIdle) return;
    const busy = this.workSinceCollection || BUSY_STATE_PREFIXES.some((p) => from === p || from.startsWith(`${p}.`));
    this.schedule(busy ? IDLE_GC_AFTER_BUSY_MS : IDLE_GC_AFTER_IDLE_MS, from);
  }

  /**
   * Background work that leaves large garbage ended (a scheduled backup read and sealed the whole
   * journal: storage/scheduled-backup.ts). It runs at idle after the collection of the settlement
   * that started it, so without this its garbage stayed until the next sale's IDLE_GC_AFTER_IDLE_MS
   * (measured: the terminal +4 MB after the day's settlement). At idle: a collection
   * IDLE_GC_AFTER_BUSY_MS from now, even after this stay's; elsewhere: the next idle's comes as
   * soon as after a settlement.
   */
  afterWork(what: string): void {
    if (!this.gc) return;
    if (this.previous !== 'idle') { this.workSinceCollection = true; return; }
    this.collectedThisIdle = false;
    this.schedule(IDLE_GC_AFTER_BUSY_MS, what);
  }

  stop(): void { this.cancel(); }

  private schedule(ms: number, from: string): void {
    this.cancel();
    const set = this.o.setTimer ?? ((f: () => void, t: number) => { const h = setTimeout(f, t); h.unref(); return h; });
    this.timer = set(() => {
      this.timer = undefined;
      if (this.previous !== 'idle' || !this.gc) return;
      if (this.codeCacheHeld()) { this.schedule(IDLE_GC_AFTER_CODE_CACHE_MS, from); return; }
      const t0 = performance.now();
      const done = this.gc();
      this.collectedThisIdle = true;
      this.workSinceCollection = false;
      this.collections++;
      this.o.onCollected?.({ after: from, ms: performance.now() - t0, ...(done ? { kind: done.kind } : {}), ...(done?.fileMappings ? { fileMappings: done.fileMappings } : {}) });
    }, ms);
  }

  private codeCacheHeld(): boolean {
    return this.o.codeCacheHeld ? this.o.codeCacheHeld() : installedCodeCacheControl()?.held === true;
  }

  private cancel(): void {
    if (this.timer === undefined) return;
    (this.o.clearTimer ?? ((t: unknown) => clearTimeout(t as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }
}

/**
 * Matrix keypad scanned over GPIO lines: rows are outputs, columns inputs. Levels are logical
 * (the board file's `activeLow` says how the wires are used): row 1 = selected, column 1 = a
 * closed key connects it to a selected row.
 *
 * Scanning runs only while something happens. At rest every row is selected, so any key press
 * raises its column; a watch on the columns starts scanning, which repeats every
 * `scanIntervalMs` until all keys are up and settled. That keeps the CPU idle and suits slow
 * backends (the chardev backend spawns a process per write).
 *
 * Debounce is by time, the time of each read: a key changes state once every scan for
 * `debounceMs` has seen it the same way, and a key seen up between two downs `debounceMs` apart
 * was released and pressed again, however late the scans ran (see `update`). A press on a keypad
 * at rest has its debounce start at its column's rising edge (every row selected, no scan running
 * or due: every key of that column was up just before it), not at the first scan after it, which
 * a busy CPU runs late. Long press and stuck detection are timed from the debounced 'down'.
 */
import { EdgeEvent, GpioLine, Level, Unwatch, safeCall } from '../gpio';
import { KeyEvent, KeyName, Keypad, Unsubscribe, stuckKeyError } from '../keypad';
import { PosError } from '../../common/errors';
import { Timers, realTimers } from './timing';

export interface MatrixKeypadOptions {
  /** keymap[row][col]; null where no key is fitted. */
  readonly keymap: ReadonlyArray<ReadonlyArray<KeyName | null>>;
  readonly debounceMs?: number;
  readonly scanIntervalMs?: number;
  /**
   * Wait this long after selecting a row before reading the columns (default 0: at once). Wires
   * settle in microseconds on a board; a matrix emulated by software that follows the rows
   * (scripts/guest/gpio-keypad-agent.c on gpio-sim) needs milliseconds, or a row's columns are
   * read while they still show the row before: ghost keys. As Linux's matrix_keypad
   * `col-scan-delay-us`, in ms because node's timers are.
   */
  readonly rowSettleMs?: number;
  readonly longPressMs?: number;
  /** A key held this long is stuck. */
  readonly stuckMs?: number;
  /**
   * Timers and clock for scanning and debounce (default: the process's timers and
   * performance.now(); the day simulation passes its virtual clock).
   */
  readonly timers?: Timers;
}

export const DEFAULTS = { debounceMs: 20, scanIntervalMs: 5, longPressMs: 1000, stuckMs: 10_000, rowSettleMs: 0 } as const;
/** Listeners per kind; a leak (subscribe in a loop) shows up as an error, not as slowness. */
export const LISTENERS_MAX = 32;
/**
 * A column edge stamped this soon after a scan's last row change may be that change's (the line's
 * IRQ stamps it microseconds after the write, which can be after the write returned), not a
 * press. Small: a press that falls in it waits for the next scan instead of waking one.
 */
export const SCAN_EDGE_MARGIN_MS = 0.25;
/** After a failed scan, retry this much later (not every scan interval: a dead line would flood). */
export const SCAN_RETRY_MS = 500;

/** A key's level as one scan read it, and when that read came back. */
interface Sample {
  readonly down: boolean;
  readonly atMs: number;
}

interface KeyState {
  readonly key: KeyName;
  stable: boolean;
  raw: boolean;
  rawSince: number;
  /** The latest sample that saw the key down. */
  lastDownAtMs: number;
  /** The latest sample, down or up (where in a scan this key is read: nextScanMs). */
  sampleAtMs: number;
  /** Its column's latest rising edge at rest not yet taken by a sample: the key was up just before. */
  edgeAtMs: number | undefined;
  downAt: number;
  longSent: boolean;
  stuckSent: boolean;
  /** Reported stuck and not released since. */
  stuck: boolean;
  stuckAtBoot: boolean;
}

export class MatrixKeypad implements Keypad {
  private readonly o: Required<Omit<MatrixKeypadOptions, 'timers'>>;
  private readonly timers: Timers;
  /** Injected timers (a virtual clock): edge events' stamps are on performance.now(), not on them. */
  private readonly ownClock: boolean;
  private readonly keys = new Map<string, KeyState>();
  /** The keys of each column (the keymap's keys only), for a column's edge. */
  private readonly keysOfCol: KeyState[][];
  private readonly listeners = new KeypadListeners();
  private readonly unwatch: Unwatch[] = [];
  private timer: unknown;
  private scanning: Promise<void> | undefined;
  private closed = false;
  private started = false;
  /** A column edge arrived while a scan was running. */
  private rescan = false;
  /** Consecutive failed scans; the fault is reported on the first of a streak only. */
  private failures = 0;
  /** When the latest scan of the loop started (nextScanMs). */
  private scanStartedAtMs = 0;
  /** When the latest scan's last row change was made (every row selected again): onRisingEdge. */
  private scanEndedAtMs = -Infinity;
  /** What each row line was last set to; undefined when unknown (start, failed write). */
  private rowLevels: Array<Level | undefined> = [];

  constructor(private readonly rows: readonly GpioLine[], private readonly cols: readonly GpioLine[], options: MatrixKeypadOptions) {
    const { timers, ...rest } = options;
    this.o = { ...DEFAULTS, ...rest };
    this.timers = timers ?? realTimers;
    this.ownClock = timers !== undefined;
    if (options.keymap.length !== rows.length || options.keymap.some((r) => r.length !== cols.length)) {
      throw new PosError('BRD_INVALID', `keymap is ${options.keymap.length} rows for ${rows.length}x${cols.length} lines`);
    }
    this.keysOfCol = cols.map(() => []);
    options.keymap.forEach((row, r) => row.forEach((key, c) => {
      if (!key) return;
      const k: KeyState = { key, stable: false, raw: false, rawSince: 0, lastDownAtMs: 0, sampleAtMs: 0, edgeAtMs: undefined, downAt: 0, longSent: false, stuckSent: false, stuck: false, stuckAtBoot: false };
      this.keys.set(`${r},${c}`, k);
      this.keysOfCol[c].push(k);
    }));
  }

  /** Idempotent: a second call (a second self-test) does not scan or watch twice. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.selectAll();
    const first = await this.scan();
    await new Promise<void>((resolve) => this.timers.setTimeout(resolve, this.o.debounceMs));
    const second = await this.scan();
    for (const [pos, k] of this.keys) {
      const atMs = need(second.get(pos), pos).atMs;
      if (!(need(first.get(pos), pos).down && need(second.get(pos), pos).down)) continue;
      Object.assign(k, { stable: true, raw: true, rawSince: atMs, lastDownAtMs: atMs, downAt: atMs, longSent: true, stuckSent: true, stuck: true, stuckAtBoot: true });
      this.fault(stuckKeyError(k.key, 0, true));
    }
    this.cols.forEach((col, c) => this.unwatch.push(col.watch('rising', (e) => this.onRisingEdge(c, e))));
    this.wake();
  }

  /**
   * A column rose. Its time says what it was:
   * - during a scan, or by its stamp up to SCAN_EDGE_MARGIN_MS (+ the row settle time, in which
   *   a matrix emulated by software follows the rows) after one: the scan's own row changes
   *   (every scan's last row change raises a held key's column), or a press made while rows were
   *   deselected: scanned again within the scan interval, not at once (a backend that delivers
   *   a scan's edges after it, as the native one does on the loop's next turn, would otherwise
   *   start a scan per scan, back to back, while a key is held);
   * - on a column where the latest scan read a key down: nothing new either, whenever it is
   *   stamped. That key holds the column up once every row is selected again, so the edge is the
   *   scan's own; a backend that stamps edges when they reach this process (sysfs through onoff,
   *   libgpiod's tools) delivers it past the margin above. A second key pressed on that column
   *   makes no edge of its own anyway: the scans the held key keeps running find it;
   * - later: a press. It wakes the loop at once, and is the first sign of it (onActivity). On a
   *   keypad at rest (no scan running or due, every row selected) the column was low just before:
   *   each of its keys was up, and a key the next scan reads down went down at this edge.
   */
  private onRisingEdge(col: number, e: EdgeEvent): void {
    const atMs = this.ownClock ? this.timers.now() : Math.min(e.timeMs, this.timers.now());
    if (this.scanning || atMs <= this.scanEndedAtMs + this.o.rowSettleMs + SCAN_EDGE_MARGIN_MS || this.keysOfCol[col].some((k) => k.raw)) {
      this.scanSoon();
      return;
    }
    if (this.atRest()) for (const k of this.keysOfCol[col]) k.edgeAtMs = atMs;
    this.listeners.activity();
    this.wake();
  }

  /** No scan running or due, and every row known to be selected. */
  private atRest(): boolean {
    return !this.scanning && this.timer === undefined && this.rowLevels.length === this.rows.length && this.rowLevels.every((l) => l === 1);
  }

  /** A scan within the scan interval: after the running one, at the one due, or a new one. */
  private scanSoon(): void {
    if (this.closed) return;
    if (this.scanning) this.rescan = true;
    else if (this.timer === undefined) this.timer = this.timers.setTimeout(() => this.tick(), this.o.scanIntervalMs);
  }

  onKey(listener: (event: KeyEvent) => void): Unsubscribe {
    return this.listeners.onKey(listener);
  }

  onFault(listener: (fault: PosError) => void): Unsubscribe {
    return this.listeners.onFault(listener);
  }

  onStuckReleased(listener: (key: KeyName) => void): Unsubscribe {
    return this.listeners.onStuckReleased(listener);
  }

  /** A column's rising edge: a key is going down (or bouncing), 20 ms before its debounced 'down'. */
  onActivity(listener: () => void): Unsubscribe {
    return this.listeners.onActivity(listener);
  }

  pressed(): KeyName[] {
    return [...this.keys.values()].filter((k) => k.stable).map((k) => k.key);
  }

  stuck(): KeyName[] {
    return [...this.keys.values()].filter((k) => k.stuck).map((k) => k.key);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.close();
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    for (const u of this.unwatch.splice(0)) u();
    await this.scanning;
  }

  /**
   * Starts the scan loop unless it runs already. An edge during a scan may come from a row the
   * scan has passed: remember it and scan again, or that key would be missed until the next edge.
   */
  private wake(): void {
    if (this.closed) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    if (this.timer !== undefined) {
      // Failing lines keep their retry pace; otherwise an edge while the loop waits for its next
      // scan (a key typed while another is still held or settling) is scanned now, not up to
      // scanIntervalMs later, so its debounce starts at the press (fast typing, issue 14).
      if (this.failures > 0) return;
      this.timers.clearTimeout(this.timer);
    }
    this.tick();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    this.scanning = this.scanOnce().finally(() => {
      this.scanning = undefined;
      if (this.closed) return;
      const again = this.rescan;
      this.rescan = false;
      if (this.failures > 0) this.timer = this.timers.setTimeout(() => this.tick(), SCAN_RETRY_MS);
      else if (again || this.busy()) this.timer = this.timers.setTimeout(() => this.tick(), this.nextScanMs());
    });
  }

  /**
   * Wait before the next scan: the scan interval, or less when a key's debounce ends sooner. The
   * interval counts from a scan's end, so on a slow CPU the grid drifts by a scan's length each
   * time (a key read as debounced 4 scans' lengths after its debounce ended): the scan that decides
   * a key is aimed so that its read of that key (as far into the scan as the last scan read it)
   * comes at the debounce's end. Never fewer samples than the grid: only the wait to the deciding
   * scan shortens. A read that comes early (a faster scan, a timer fired early because node's loop
   * time lags the clock) finds the debounce not quite passed, and the scan after it decides.
   */
  private nextScanMs(): number {
    const nowMs = this.timers.now();
    let waitMs: number = this.o.scanIntervalMs;
    for (const k of this.keys.values()) {
      if (k.raw === k.stable) continue;
      const readOffsetMs = Math.max(0, k.sampleAtMs - this.scanStartedAtMs);
      waitMs = Math.min(waitMs, k.rawSince + this.o.debounceMs - readOffsetMs - nowMs);
    }
    return Math.max(0, Math.ceil(waitMs));
  }

  /** True while any key is down or not yet settled: keep scanning. */
  private busy(): boolean {
    for (const k of this.keys.values()) if (k.raw || k.stable) return true;
    return false;
  }

  private async scanOnce(): Promise<void> {
    let samples: Map<string, Sample>;
    this.scanStartedAtMs = this.timers.now();
    try {
      samples = await this.scan();
    } catch (e) {
      this.failures += 1;
      if (this.failures === 1) this.fault(e instanceof PosError ? e : new PosError('BRD_BUS', `keypad scan failed: ${String(e)}`));
      return;
    }
    this.failures = 0;
    // Row-major, as the scan read them: decisions of one scan come out in the order of their reads.
    for (const [pos, k] of this.keys) this.update(k, need(samples.get(pos), pos));
  }

  /**
   * One key's sample, debounced by the times of the reads themselves (not of the scan's end, which
   * a starved CPU can push far from the read, issue 15):
   * - down: down in every sample for at least debounceMs (two downs that far apart suffice),
   *   counted from its column's rising edge on a keypad at rest when one came after the key's
   *   previous read (the key was up just before that edge: onRisingEdge);
   * - up: up in every sample for at least debounceMs, or up between two downs at least debounceMs
   *   apart (released and pressed again between two late scans: two presses, not one). An up
   *   between downs closer than that is a glitch of a held key and changes nothing.
   * A contact bounces for less than debounceMs, so neither rule can take a bounce for a press.
   */
  private update(k: KeyState, s: Sample): void {
    // Down since its column's edge at rest, when that edge came after the key's previous read.
    const edgeAtMs = k.edgeAtMs;
    k.edgeAtMs = undefined;
    const downSinceMs = s.down && !k.raw && edgeAtMs !== undefined && edgeAtMs > k.sampleAtMs && edgeAtMs <= s.atMs ? edgeAtMs : undefined;
    k.sampleAtMs = s.atMs;
    if (s.down !== k.raw) {
      if (s.down && k.stable && s.atMs - k.lastDownAtMs >= this.o.debounceMs) this.decide(k, false, s.atMs);
      k.raw = s.down;
      k.rawSince = downSinceMs ?? s.atMs;
    }
    if (s.down) k.lastDownAtMs = s.atMs;
    if (k.raw !== k.stable && s.atMs - k.rawSince >= this.o.debounceMs) this.decide(k, k.raw, s.atMs);
    if (k.stable) this.checkHeld(k, s.atMs);
  }

  private decide(k: KeyState, down: boolean, atMs: number): void {
    k.stable = down;
    if (down) {
      Object.assign(k, { downAt: atMs, longSent: false, stuckSent: false });
      this.emit('down', k.key, atMs);
      return;
    }
    if (!k.stuckAtBoot) this.emit('up', k.key, atMs);
    const wasStuck = k.stuck;
    k.stuckAtBoot = false;
    k.stuck = false;
    if (wasStuck) this.listeners.stuckReleased(k.key);
  }

  /** Long press and stuck key, timed from the debounced 'down'. */
  private checkHeld(k: KeyState, atMs: number): void {
    if (!k.longSent && atMs - k.downAt >= this.o.longPressMs) {
      k.longSent = true;
      this.emit('long', k.key, atMs);
    }
    if (!k.stuckSent && atMs - k.downAt >= this.o.stuckMs) {
      k.stuckSent = true;
      k.stuck = true;
      this.fault(stuckKeyError(k.key, atMs - k.downAt, false));
    }
  }

  /**
   * One pass over the matrix; leaves every row selected. Returns every position's sample, each
   * stamped when its column was read: a scan stretched by a starved CPU spans far more than the
   * reads that matter to one key.
   */
  private async scan(): Promise<Map<string, Sample>> {
    const samples = new Map<string, Sample>();
    for (let r = 0; r < this.rows.length; r++) {
      await this.selectOnly(r);
      if (this.o.rowSettleMs > 0) await new Promise<void>((resolve) => this.timers.setTimeout(resolve, this.o.rowSettleMs));
      for (let c = 0; c < this.cols.length; c++) {
        const down = (await this.cols[c].read()) === 1;
        samples.set(`${r},${c}`, { down, atMs: this.timers.now() });
      }
    }
    try {
      await this.selectAll();
    } finally {
      this.scanEndedAtMs = this.timers.now();
    }
    return samples;
  }

  private async selectOnly(r: number): Promise<void> {
    for (let i = 0; i < this.rows.length; i++) await this.setRow(i, i === r ? 1 : 0);
  }

  private async selectAll(): Promise<void> {
    for (let i = 0; i < this.rows.length; i++) await this.setRow(i, 1);
  }

  private async setRow(i: number, level: Level): Promise<void> {
    if (this.rowLevels[i] === level) return;
    this.rowLevels[i] = undefined;
    await this.rows[i].write(level);
    this.rowLevels[i] = level;
  }

  private emit(type: KeyEvent['type'], key: KeyName, timeMs: number): void {
    this.listeners.emit(type, key, timeMs);
  }

  private fault(f: PosError): void {
    this.listeners.fault(f);
  }
}

/** A position the scan must have read (every cell of the matrix is read each scan). */
function need(sample: Sample | undefined, pos: string): Sample {
  if (!sample) throw new PosError('SYS_INVARIANT', `keypad scan has no sample for ${pos}`);
  return sample;
}

/**
 * A keypad's listeners, shared by the keypad drivers: at most LISTENERS_MAX of each kind, each
 * called safely (one that throws does not stop the others), nothing delivered after close().
 */
export class KeypadListeners {
  private readonly keys = new Set<(e: KeyEvent) => void>();
  private readonly faults = new Set<(f: PosError) => void>();
  private readonly activities = new Set<() => void>();
  private readonly stuckEnds = new Set<(key: KeyName) => void>();
  private closed = false;

  onKey(listener: (event: KeyEvent) => void): Unsubscribe {
    return subscribe(this.keys, listener);
  }

  onFault(listener: (fault: PosError) => void): Unsubscribe {
    return subscribe(this.faults, listener);
  }

  onActivity(listener: () => void): Unsubscribe {
    return subscribe(this.activities, listener);
  }

  onStuckReleased(listener: (key: KeyName) => void): Unsubscribe {
    return subscribe(this.stuckEnds, listener);
  }

  /** A key reported stuck was released (Keypad.onStuckReleased). */
  stuckReleased(key: KeyName): void {
    if (this.closed) return;
    for (const l of [...this.stuckEnds]) safeCall(l, key);
  }

  /** The first sign of a press, before debounce (Keypad.onActivity). */
  activity(): void {
    if (this.closed) return;
    for (const l of [...this.activities]) safeCall(l, undefined);
  }

  emit(type: KeyEvent['type'], key: KeyName, timeMs: number): void {
    if (this.closed) return;
    for (const l of [...this.keys]) safeCall(l, { type, key, timeMs });
  }

  fault(f: PosError): void {
    if (this.closed) return;
    for (const l of [...this.faults]) safeCall(l, f);
  }

  close(): void {
    this.closed = true;
    this.keys.clear();
    this.faults.clear();
    this.activities.clear();
    this.stuckEnds.clear();
  }
}

function subscribe<T>(set: Set<T>, listener: T): Unsubscribe {
  if (set.size >= LISTENERS_MAX) throw new PosError('SYS_INVARIANT', `more than ${LISTENERS_MAX} listeners`);
  set.add(listener);
  return () => set.delete(listener);
}


/**
 * GPIO line interface: the smallest thing a driver needs from one pin (cf. embedded-hal's
 * `InputPin`/`OutputPin` plus edge waiting). Three implementations sit behind it:
 * `gpio-onoff.ts` (sysfs, old kernels), `gpio-chardev.ts` (libgpiod tools on the character
 * device, current kernels) and `sim/chips/gpio-sim.ts` (the simulator board). The board config
 * picks one; drivers never know which.
 *
 * Levels are LOGICAL: 1 means "active". A line requested with `activeLow: true` reads 1 when the
 * wire is low. Drivers therefore write "pressed = 1" and the board file says how it is wired.
 */
import { PosError } from '../common/errors';
import { monotonicMs } from '../common/time';

export type Level = 0 | 1;
export type Edge = 'rising' | 'falling';
export type EdgeSelect = Edge | 'both';
export type Bias = 'as-is' | 'pull-up' | 'pull-down' | 'disabled';

/** How a line is requested. `initial` only applies to outputs (default 0, inactive). */
export interface LineConfig {
  readonly direction: 'in' | 'out';
  readonly activeLow?: boolean;
  readonly bias?: Bias;
  readonly initial?: Level;
  /** Shown by `gpioinfo` as the line's consumer; helps a technician see who holds a pin. */
  readonly consumer?: string;
}

export interface EdgeEvent {
  readonly edge: Edge;
  /** Logical level after the edge. */
  readonly level: Level;
  /** Host monotonic time of the event, milliseconds (performance.now() domain). */
  readonly timeMs: number;
}

/**
 * A kernel CLOCK_MONOTONIC time (ms) in EdgeEvent.timeMs's domain (performance.now()): both clocks
 * are monotonic, only their origins differ.
 */
export function monotonicToPerfMs(monotonicStampMs: number): number {
  return monotonicStampMs - (monotonicMs() - performance.now());
}

export interface WatchOptions {
  /**
   * Software debounce: an edge is reported only once the line has stayed at its new level for
   * this long, and only if that level differs from the last reported one. 0 = raw edges.
   */
  readonly debounceMs?: number;
}

/** Stops a watch. Idempotent. */
export type Unwatch = () => void;

export interface GpioLine {
  /** "chip:offset", for logs and error details. */
  readonly id: string;
  readonly direction: 'in' | 'out';

  /**
   * Reads the logical level. On an output line it returns the level last written (sysfs and
   * the simulator read it back from the pin; chardev returns the level it holds).
   * Rejects with PosError BRD_BUS (kind bus-fault) when the backend fails, and with
   * BRD_BUS after `close()`.
   */
  read(): Promise<Level>;

  /**
   * Drives the logical level. Resolves once the backend reports the level as set.
   * Rejects with BRD_BUS on an input line, after close, or when the backend fails.
   */
  write(level: Level): Promise<void>;

  /**
   * Calls `listener` on edges of an input line until the returned function is called or the
   * line is closed. Listener exceptions are caught and dropped (a driver bug must not stop the
   * backend's event loop). Throws BRD_BUS on an output line.
   */
  watch(edges: EdgeSelect, listener: (event: EdgeEvent) => void, options?: WatchOptions): Unwatch;

  /**
   * Releases the line: stops all watches, outputs go back to the kernel (state then undefined,
   * as on a power loss). Idempotent. Pending reads/writes may reject with BRD_BUS.
   */
  close(): Promise<void>;
}

/** One GPIO controller (gpiochip0, or the simulated chip). */
export interface GpioChip {
  readonly name: string;
  /** Requests one line. Rejects with BRD_BUS if the line is busy or does not exist. */
  requestLine(offset: number, config: LineConfig): Promise<GpioLine>;
  /** Closes every line requested through this chip. Idempotent. */
  close(): Promise<void>;
}

/** Longest debounce any board may ask for; a longer one hides real presses. */
export const DEBOUNCE_MS_MAX = 1000;

export function gpioError(lineId: string, what: string, cause?: unknown): PosError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new PosError('BRD_BUS', `GPIO ${lineId}: ${what}${reason}`, { line: lineId }, { cause });
}

/**
 * Health check that does a real transfer: an input is read; an output is written with its
 * current level and read back. Resolves with the level seen; rejects with BRD_BUS when the
 * read-back differs (a shorted or misconfigured pin) or the backend fails.
 */
export async function checkLine(line: GpioLine): Promise<Level> {
  const level = await line.read();
  if (line.direction === 'in') return level;
  await line.write(level);
  const back = await line.read();
  if (back !== level) throw gpioError(line.id, `read-back ${back} after writing ${level}`);
  return back;
}

/**
 * Fans raw edges from a backend out to watchers, each with its own filter and software debounce.
 * Shared by every backend so that they all debounce the same way. A debounced watcher reads the
 * line once it has been quiet for `debounceMs` (the last raw edge may have been coalesced by
 * the kernel) and reports only a level that differs from the one it last reported.
 */
export class EdgeWatchers {
  private readonly watchers = new Set<{ onRaw: (e: EdgeEvent) => void; stop: () => void }>();

  constructor(private readonly lineId: string, private readonly readLevel: () => Promise<Level>) {}

  get count(): number {
    return this.watchers.size;
  }

  add(select: EdgeSelect, listener: (event: EdgeEvent) => void, options: WatchOptions = {}): Unwatch {
    const debounceMs = options.debounceMs ?? 0;
    if (!(Number.isFinite(debounceMs) && debounceMs >= 0 && debounceMs <= DEBOUNCE_MS_MAX)) {
      throw gpioError(this.lineId, `debounceMs ${debounceMs} outside 0..${DEBOUNCE_MS_MAX}`);
    }
    const deliver = (e: EdgeEvent): void => {
      if (edgeSelected(select, e.edge)) safeCall(listener, e);
    };
    const w = debounceMs === 0 ? { onRaw: deliver, stop: () => undefined } : this.debounced(debounceMs, deliver);
    this.watchers.add(w);
    return () => {
      w.stop();
      this.watchers.delete(w);
    };
  }

  /** The backend calls this for every raw edge it sees. */
  raw(event: EdgeEvent): void {
    for (const w of [...this.watchers]) w.onRaw(event);
  }

  clear(): void {
    for (const w of this.watchers) w.stop();
    this.watchers.clear();
  }

  private debounced(debounceMs: number, deliver: (e: EdgeEvent) => void) {
    let reported: Level | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    this.readLevel().then((l) => { reported ??= l; }, () => undefined);
    const settle = async (): Promise<void> => {
      timer = undefined;
      let level: Level;
      try {
        level = await this.readLevel();
      } catch {
        return; // line closed meanwhile: nothing to report
      }
      if (stopped || level === reported) return;
      reported = level;
      deliver({ edge: level === 1 ? 'rising' : 'falling', level, timeMs: performance.now() });
    };
    return {
      onRaw: () => {
        if (stopped) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => void settle(), debounceMs);
      },
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      },
    };
  }
}

/** True when `edge` passes the `select` filter. */
export function edgeSelected(select: EdgeSelect, edge: Edge): boolean {
  return select === 'both' || select === edge;
}

/** Calls a listener, swallowing its exceptions (see `watch` contract). */
export function safeCall<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch {
    // A listener bug must not break the backend's event delivery.
  }
}

/**
 * Time is injected (DESIGN rule 9): drivers wait through a `Sleep` so that tests run them under
 * sinon fake timers and the seeded simulation can replay them exactly.
 */
export type Sleep = (ms: number) => Promise<void>;

/** Most extra timeouts one sleep arms when a timeout ended before its time had passed. */
export const SLEEP_REARMS_MAX = 8;

/**
 * A Sleep that waits at least `ms` by `clock.now()`, as a datasheet's minimum wait needs. A plain
 * setTimeout is not that: node starts it from the event loop's time in whole milliseconds, so a
 * 2 ms timeout may end 1.1 ms later (CI saw an HD44780 get its entry-mode command 0.23 ms into a
 * clear's 1.52 ms). A timeout that ends early is armed again for what is left, a bounded number of
 * times (a clock that never advances must not hold the driver forever).
 */
export function sleepAtLeast(clock: Pick<Timers, 'setTimeout' | 'now'>): Sleep {
  return async (ms) => {
    const until = clock.now() + ms;
    let waitMs = ms;
    for (let arms = 0; arms <= SLEEP_REARMS_MAX && waitMs > 0; arms++) {
      await new Promise<void>((resolve) => { clock.setTimeout(resolve, waitMs); });
      waitMs = Math.ceil(until - clock.now());
    }
  };
}

/** The process's sleep, on performance.now() (sinon's fake timers fake it too), looked up at each call. */
export const realSleep: Sleep = sleepAtLeast({ setTimeout: (fn, ms) => setTimeout(fn, ms), now: () => performance.now() });

/**
 * The timers a driver's timeouts run on. Injected (optional, default `realTimers`) so that the
 * seeded simulation drives them with its virtual clock: sim/simulate-world.ts VirtualClock fits.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/**
 * The process's timers, looked up at each call, so fake timers installed later still apply. `now`
 * is monotonic (performance.now()): a timeout measured on the wall clock ends at once when NTP
 * steps the clock forward (a dead RTC set to today mid-receipt) and never when it steps back.
 */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => performance.now(),
};

/**
 * The process's timers, marked as starvable: a stall of the process (a loaded board, a guest whose
 * CPU is not scheduled) fires them late, all at once. See runningTimeout.
 */
export const starvableTimers: Timers & { readonly starvable: true } = { ...realTimers, starvable: true };

/** How often a running-time timeout looks at the clock while it waits (ms). */
export const RUNNING_TICK_MS = 50;
/** A tick this much later than asked means the process did not run meanwhile (ms). */
export const STARVED_LATE_MS = 25;

/**
 * Calls `fn` once `ms` of the process's RUNNING time have passed: how long a device kept silent
 * while the process could have read its answer. After a stall node runs the timers that fell due
 * before the I/O that arrived meanwhile (timers come first in its loop; a serial read takes two
 * turns), so a plain timeout fires on an answer already in the kernel's buffer: E-PRN-04 and
 * E-BRD-03 at boot in the loaded TCG guest, with a printer and a display that had answered.
 * So the wait is counted in ticks of RUNNING_TICK_MS; a tick more than STARVED_LATE_MS late
 * counts only its own length, and the timeout never ends on a late tick: one more tick on time
 * lets the I/O in first. Timers that cannot be starved (a simulation's virtual clock: no
 * `starvable`) get a plain timeout, so a seeded day replays as before. Returns the cancel function.
 */
export function runningTimeout(timers: Timers & { readonly starvable?: boolean }, fn: () => void, ms: number): () => void {
  if (timers.starvable !== true) {
    const handle = timers.setTimeout(fn, ms);
    return () => timers.clearTimeout(handle);
  }
  let countedMs = 0;
  let handle: unknown;
  const arm = (waitMs: number): void => {
    const armedAt = timers.now();
    handle = timers.setTimeout(() => {
      const elapsedMs = Math.max(0, timers.now() - armedAt);
      const late = elapsedMs > waitMs + STARVED_LATE_MS;
      countedMs += late ? waitMs : elapsedMs;
      if (countedMs >= ms && !late) fn();
      else arm(late ? RUNNING_TICK_MS : Math.min(RUNNING_TICK_MS, ms - countedMs));
    }, waitMs);
  };
  arm(Math.min(RUNNING_TICK_MS, ms));
  return () => timers.clearTimeout(handle);
}

/**
 * Time is injected (DESIGN rule 9): drivers wait through a `Sleep` so that tests run them under
 * sinon fake timers and the seeded simulation can replay them exactly.
 */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The timers a driver's timeouts run on. Injected (optional, default `realTimers`) so that the
 * seeded simulation drives them with its virtual clock: sim/simulate-world.ts VirtualClock fits.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** The process's timers, looked up at each call, so fake timers installed later still apply. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => Date.now(),
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

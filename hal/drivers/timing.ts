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

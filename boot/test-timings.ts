/**
 * TESTS ONLY: `--test-timings` on the simulator board (boot/terminal-main.ts). The e2e tests
 * start the terminal as a child process (tests/e2e/driver.ts) and used to wait in real time on
 * the product's own timings where the wait is not what the test looks at: about 60 ms a key, a
 * battery read every 2 s, the paper sensor every 1 s, a notice part every 3 s, the main loop's 500 ms. This flag shortens
 * them for that child; the code that runs is the same, only the periods are given.
 *
 *   --test-timings key-hold=0,key-debounce=5,battery-poll=200,notice-turn=400,tick=50
 *
 * Only on a board file with `"simulator": true`: terminal-main refuses it on any other (it is in
 * SIMULATOR_ONLY_FLAGS, exit EXIT_USAGE before anything is opened), so a real terminal can never
 * be slowed or sped by it. npm start does not pass it: the simulator's person keeps the product's
 * timings. Without the flag every timing is the product's.
 */
import { UsageError } from './cli';

/** The timings a test may give, in ms, each with its least and greatest value. */
export const TEST_TIMING_RANGES = {
  /** How long a scripted key stays down and up at least (sim/control-server.ts KEY_HOLD_MS). */
  'key-hold': [0, 1_000],
  /** The simulator board's keypad debounce (its board file's keypad debounceMs). */
  'key-debounce': [1, 200],
  /** How often the battery is read (boot/terminal-app.ts BATTERY_POLL_MS). */
  'battery-poll': [50, 60_000],
  /** How often the paper sensor is read while a slip waits (boot/terminal-app.ts PAPER_POLL_MS, 1 s). */
  'paper-poll': [50, 60_000],
  /** How long each part of a notice too long for its row shows (ui-lcd/screen.ts NOTICE_TURN_MS). */
  'notice-turn': [100, 60_000],
  /** The card reader's INFO poll during a card wait (hal/drivers/card-reader.ts livenessPollMs, 2 s). */
  'reader-liveness': [50, 60_000],
  /** How long a boot waits for another live terminal to let go of the journal (boot/terminal-lock.ts TERMINAL_LOCK_WAIT_MS_MAX, 3 s). */
  'lock-wait': [100, 60_000],
  /** The main loop's period (boot/terminal-app.ts TICK_MS), which redraws a notice's next turn. */
  'tick': [10, 10_000],
} as const;
export type TestTimingName = keyof typeof TEST_TIMING_RANGES;
export type TestTimings = Partial<Record<TestTimingName, number>>;

/** `name=ms,name=ms`: every name known, every value a whole number in its range; else a UsageError naming it. */
export function parseTestTimings(typed: string): TestTimings {
  const out: TestTimings = {};
  const names = Object.keys(TEST_TIMING_RANGES) as TestTimingName[];
  for (const part of typed.split(',')) {
    const m = /^([a-z-]+)=(\d{1,6})$/.exec(part);
    if (!m) throw new UsageError(`--test-timings takes name=ms[,name=ms...] (got "${typed}")`);
    const name = m[1] as TestTimingName;
    if (!names.includes(name)) throw new UsageError(`--test-timings: unknown timing "${m[1]}"; known: ${names.join(', ')}`);
    const [min, max] = TEST_TIMING_RANGES[name];
    const ms = Number(m[2]);
    if (ms < min || ms > max) throw new UsageError(`--test-timings: ${name} must be ${min} to ${max} ms (got ${ms})`);
    out[name] = ms;
  }
  return out;
}

/** Back to the flag's text (the tests' driver writes it). */
export function testTimingsFlag(t: TestTimings): string {
  return Object.entries(t).map(([k, v]) => `${k}=${v}`).join(',');
}

/**
 * Runs INSIDE the quick guest (tests/guest/gpio-chardev-native.test.ts boots it): drives gpio-sim
 * lines through hal/gpio-native.ts (the N-API addon on the kernel's GPIO v2 uAPI) and reports what
 * the kernel's side (gpio-sim's sysfs `value` and `pull`) saw, as one JSON line on stdout. The host
 * test asserts on it. Lines: 0-1 outputs, 2-3 inputs, 4 edges, 8-11 keypad rows, 12-14 columns.
 * Environment: QG_GPIO_CHIP, QG_GPIO_SYSFS (quick-guest), AGENT (the compiled keypad agent).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { EdgeEvent, GpioLine, Level } from '../../hal/gpio';
import { NativeGpioChip } from '../../hal/gpio-native';
import { MatrixKeypad } from '../../hal/drivers/matrix-keypad';
import { KeyEvent } from '../../hal/keypad';

const sysfs = process.env.QG_GPIO_SYSFS ?? '';
const chipName = process.env.QG_GPIO_CHIP ?? '';
/** Longest the guest waits for an edge or a key (TCG is slow; the host's job timeout is the backstop). */
const WAIT_MS_MAX = 10_000;

const value = (line: number): string => fs.readFileSync(`${sysfs}/sim_gpio${line}/value`, 'utf8').trim();
const pull = (line: number, p: 'pull-up' | 'pull-down'): void => fs.writeFileSync(`${sysfs}/sim_gpio${line}/pull`, p);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, done: () => boolean): Promise<void> {
  const deadline = performance.now() + WAIT_MS_MAX;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function outputs(chip: NativeGpioChip): Promise<Record<string, unknown>> {
  const plain = await chip.requestLine(0, { direction: 'out', initial: 0, consumer: 'qg-test' });
  const low = await chip.requestLine(1, { direction: 'out', activeLow: true, initial: 0 });
  const seen: string[] = [value(0)];
  await plain.write(1);
  seen.push(value(0));
  await plain.write(0);
  seen.push(value(0));
  const activeLow: string[] = [value(1)];
  await low.write(1);
  activeLow.push(value(1));
  const readBack = await low.read();
  // A second request of a held line must fail (EBUSY) with the project's error.
  const busy = await chip.requestLine(0, { direction: 'out' }).then(() => 'granted', (e: Error) => e.message);
  return { plain: seen, activeLow, readBack, busy };
}

async function inputs(chip: NativeGpioChip): Promise<Record<string, unknown>> {
  const plainIn = await chip.requestLine(2, { direction: 'in' });
  const lowIn = await chip.requestLine(3, { direction: 'in', activeLow: true });
  const seen: Level[] = [];
  for (const p of ['pull-up', 'pull-down', 'pull-up'] as const) {
    pull(2, p);
    pull(3, p);
    seen.push(await plainIn.read(), await lowIn.read());
  }
  const writeOnInput = await plainIn.write(1).then(() => 'written', (e: Error) => e.message);
  return { seen, writeOnInput };
}

async function edges(chip: NativeGpioChip): Promise<Record<string, unknown>> {
  pull(4, 'pull-down');
  const line = await chip.requestLine(4, { direction: 'in' });
  const events: EdgeEvent[] = [];
  const rising: EdgeEvent[] = [];
  const stop = line.watch('both', (e) => events.push(e));
  const stopRising = line.watch('rising', (e) => rising.push(e));
  const before = performance.now();
  for (const p of ['pull-up', 'pull-down', 'pull-up'] as const) {
    pull(4, p);
    const n = events.length + 1;
    await waitUntil(`edge ${n}`, () => events.length >= n);
  }
  const after = performance.now();
  stop();
  stopRising();
  pull(4, 'pull-down');
  await sleep(200);
  return {
    edges: events.map((e) => `${e.edge}:${e.level}`),
    rising: rising.length,
    timesInOrder: events.every((e, i) => e.timeMs >= before - 1 && e.timeMs <= after + 1 && (i === 0 || e.timeMs >= events[i - 1].timeMs)),
    afterUnwatch: events.length,
  };
}

/** Kernel debounce (gpiolib debounces in software for gpio-sim) and edges queued before a watch. */
async function kernelDebounce(): Promise<Record<string, unknown>> {
  pull(5, 'pull-down');
  pull(6, 'pull-down');
  const chip = await NativeGpioChip.open({ chip: chipName, kernelDebounceUs: 200_000 });
  try {
    const line = await chip.requestLine(5, { direction: 'in' });
    const events: EdgeEvent[] = [];
    line.watch('both', (e) => events.push(e));
    await sleep(100);
    // A bounce: three changes within a few milliseconds, far shorter than the 200 ms debounce.
    pull(5, 'pull-up');
    pull(5, 'pull-down');
    pull(5, 'pull-up');
    await waitUntil('debounced rising edge', () => events.length >= 1);
    await sleep(600);
    const afterBounce = events.map((e) => e.edge);
    pull(5, 'pull-down');
    await waitUntil('debounced falling edge', () => events.length >= 2);
    // History: edges on a requested input before anyone watched are not delivered.
    const quiet = await chip.requestLine(6, { direction: 'in' });
    pull(6, 'pull-up');
    await sleep(400); // each level outlasts the debounce: two real edges queued, unread
    pull(6, 'pull-down');
    await sleep(400);
    const stale: EdgeEvent[] = [];
    quiet.watch('both', (e) => stale.push(e));
    await sleep(500);
    return { afterBounce, all: events.map((e) => e.edge), stale: stale.length };
  } finally {
    await chip.close();
  }
}

/** Talks to the keypad agent over its stdin/stdout protocol. */
function startAgent(extra: readonly string[] = []): { send(cmd: string): Promise<string>; close(): Promise<void> } {
  // At SCHED_FIFO 1, as pos-test-keypad.service runs it in the real-board guest: the C agent
  // (scripts/guest/gpio-keypad-agent.c) answers a row write with a few system calls; at normal
  // priority it once followed 21.7 ms late here (another guest beside), past the 5 ms settle.
  const child = spawn('chrt', ['-f', '1', process.env.AGENT ?? '', '--sysfs', sysfs, '--rows', '8,9,10,11', '--cols', '12,13,14', ...extra], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(line: string) => void> = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => waiting.shift()?.(l));
  const next = (): Promise<string> => new Promise((r) => waiting.push(r));
  const ready = next();
  return {
    send: async (cmd) => { await ready; const a = next(); child.stdin.write(`${cmd}\n`); return a; },
    close: async () => { await ready; child.stdin.end(); await new Promise((r) => child.once('exit', r)); },
  };
}

async function keypad(chip: NativeGpioChip): Promise<Record<string, unknown>> {
  const agent = startAgent();
  const rawRows = await Promise.all([8, 9, 10, 11].map((o) => chip.requestLine(o, { direction: 'out', initial: 0 })));
  // The settle time: after a row write, the agent reads the rows from sysfs and sets the column
  // pulls before the scanner reads a column (what wires do in microseconds).
  const rows: GpioLine[] = rawRows.map((line) => ({
    id: line.id,
    direction: line.direction,
    read: () => line.read(),
    write: async (level: Level) => { await line.write(level); await agent.send('sync'); },
    watch: (e, l, o) => line.watch(e, l, o),
    close: () => line.close(),
  }));
  const cols = await Promise.all([12, 13, 14].map((o) => chip.requestLine(o, { direction: 'in' })));
  const kp = new MatrixKeypad(rows, cols, {
    keymap: [['1', '2', '3'], ['4', '5', '6'], ['7', '8', '9'], ['CANCEL', '0', 'OK']],
    debounceMs: 20, scanIntervalMs: 5,
  });
  const events: KeyEvent[] = [];
  kp.onKey((e) => { if (e.type !== 'long') events.push(e); });
  await kp.start();
  const answers: string[] = [];
  for (const [r, c] of [[1, 2], [3, 1]]) {
    const n = events.length;
    answers.push(await agent.send(`press ${r} ${c}`));
    await waitUntil(`key down at ${r},${c}`, () => events.length >= n + 1);
    answers.push(await agent.send(`release ${r} ${c}`));
    await waitUntil(`key up at ${r},${c}`, () => events.length >= n + 2);
  }
  answers.push(await agent.send('press 9 9'));
  await sleep(300); // the scan loop stops once every key is up and settled
  const rowsAtRest = [8, 9, 10, 11].map(value);
  await kp.close();
  await agent.close();
  for (const line of [...rawRows, ...cols]) await line.close(); // the next case requests them again
  return { events: events.map((e) => `${e.type}:${e.key}`), rowsAtRest, answers, pressedAfter: kp.pressed() };
}

/**
 * Held this long, as a person presses a key (150-300 ms), and as long between keys. At load 15
 * on this 2-core machine a press reached its debounced down in 56-197 ms: 250 leaves a margin.
 */
const PERSON_HOLD_MS = 250;
/** Row settle given to the driver when the agent follows on events (qemu-x86.json's). */
const EVENTS_ROW_SETTLE_MS = 5;
const FOLLOW_SAMPLES = 20;

/** Milliseconds until `read()` returns `want` (1 ms steps: a busy loop would starve the agent). */
async function timeUntil(read: () => Promise<number>, want: number): Promise<number> {
  const start = performance.now();
  while ((await read()) !== want) {
    if (performance.now() - start > 5000) throw new Error(`column never read ${want}`);
    await sleep(1);
  }
  return performance.now() - start;
}

/**
 * The agent with --follow events (epoll on the patched gpio-sim's value notifications): how late
 * a column follows a row write, then the driver with a short row settle and NO sync hook scanning
 * keys held as long as a person holds them.
 */
async function keypadEvents(chip: NativeGpioChip): Promise<Record<string, unknown>> {
  // --hold-until-scanned 3: a release waits for 2 full scans of the key's row (what the debounce
  // needs), so a loaded CI machine, where the guest can run many times slower than the wall clock,
  // does not lose a 250 ms press; how long the down took is reported, not asserted.
  const agent = startAgent(['--follow', 'events', '--hold-until-scanned', '3']);
  const rows = await Promise.all([8, 9, 10, 11].map((o) => chip.requestLine(o, { direction: 'out', initial: 1 })));
  const cols = await Promise.all([12, 13, 14].map((o) => chip.requestLine(o, { direction: 'in' })));
  await agent.send('press 1 2');
  const followMs: number[] = [];
  for (let i = 0; i < FOLLOW_SAMPLES; i++) {
    await rows[1].write(0);
    followMs.push(await timeUntil(() => cols[2].read(), 0));
    await rows[1].write(1);
    followMs.push(await timeUntil(() => cols[2].read(), 1));
  }
  await agent.send('release-all'); // at once: no scan selected row 1 alone here
  followMs.sort((a, b) => a - b);
  const kp = new MatrixKeypad(rows, cols, {
    keymap: [['1', '2', '3'], ['4', '5', '6'], ['7', '8', '9'], ['CANCEL', '0', 'OK']],
    debounceMs: 20, scanIntervalMs: 5, rowSettleMs: EVENTS_ROW_SETTLE_MS,
  });
  const events: KeyEvent[] = [];
  kp.onKey((e) => { if (e.type !== 'long') events.push(e); });
  await kp.start();
  const typed = [[0, 0], [1, 1], [2, 2], [3, 1], [3, 2], [0, 1]];
  // From each press to its debounced 'down' (the driver's scans and debounce, the agent's follow).
  const downAfterMs: number[] = [];
  for (const [r, c] of typed) {
    const seen = events.length;
    const pressedAt = performance.now();
    await agent.send(`press ${r} ${c}`);
    await sleep(PERSON_HOLD_MS);
    await agent.send(`release ${r} ${c}`);
    await sleep(PERSON_HOLD_MS);
    const down = events.slice(seen).find((e) => e.type === 'down');
    if (down) downAfterMs.push(down.timeMs - pressedAt);
  }
  // What came through is the report (the host's assertion names it), not a timeout without it.
  await waitUntil('the last key up', () => events.length >= typed.length * 2).catch(() => undefined);
  await kp.close();
  await agent.close();
  for (const line of [...rows, ...cols]) await line.close();
  return {
    events: events.map((e) => `${e.type}:${e.key}`),
    followMedianMs: followMs[Math.floor(followMs.length / 2)], followMaxMs: followMs[followMs.length - 1],
    downAfterMs: downAfterMs.map((ms) => Math.round(ms)), rowSettleMs: EVENTS_ROW_SETTLE_MS,
  };
}

async function main(): Promise<void> {
  const chip = await NativeGpioChip.open({ chip: chipName });
  const report: Record<string, unknown> = {};
  try {
    report.outputs = await outputs(chip);
    report.inputs = await inputs(chip);
    report.edges = await edges(chip);
    report.kernelDebounce = await kernelDebounce();
    report.keypad = await keypad(chip);
    report.keypadEvents = await keypadEvents(chip);
  } finally {
    await chip.close();
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

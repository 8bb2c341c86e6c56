/**
 * The matrix keypad on a starved CPU (issue 15: keys lost when the terminal gets no CPU; an e2e
 * test typed `30000` and the terminal got `300`). Every GPIO operation here waits before it
 * happens, as it does when the process is off the CPU between two awaits: mostly a little, now and
 * then a long stall. Scans are then stretched and uneven: a read early in a scan can be far from
 * the scan's end, and a gap between two taps of one key can be seen by one scan only.
 *
 * The typist is a person typing fast, not waiting for the terminal. What the driver must deliver
 * is what its reads saw: each press read down twice at least a debounce apart, each gap between
 * two taps of a key read up at least once (the test checks its scenario gives that, so that it
 * asks nothing no driver could do), then every key in order, no merges, drops or doubles.
 */
import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { SimGpioChip } from '../../sim/chips/gpio-sim';
import { MatrixKeypadModel } from '../../sim/chips/keypad-model';
import { mulberry32 } from '../../sim/disk-model';
import { MatrixKeypad } from './matrix-keypad';
import { KeyName } from '../keypad';
import { readBoardFile } from '../board';
import type { KeypadConfig } from '../board-schema';
import { GpioLine, Level } from '../gpio';

/** The simulator board's keypad (board-configs/sim.json): 5 rows, 4 columns, one cell empty each side of 0. */
const KEYMAP = (readBoardFile('sim').config.devices.keypad0 as KeypadConfig).keymap;
const ROWS = [0, 1, 2, 3, 4];
const COLS = [5, 6, 7, 8];
const DEBOUNCE_MS = 20;

interface Starvation {
  /** Every GPIO operation waits 0..this before it happens. */
  readonly jitterMs: number;
  /** Chance that an operation waits a stall instead. */
  readonly stallChance: number;
  readonly stallMsMin: number;
  readonly stallMsMax: number;
}

interface CellRead { readonly atMs: number; readonly down: boolean }

/**
 * Row and column lines whose operations are delayed by a seeded starvation. Column reads taken
 * while exactly one row is selected are recorded per key position, with the time they happened.
 */
function starvedLines(rows: readonly GpioLine[], cols: readonly GpioLine[], s: Starvation, seed: number) {
  const random = mulberry32(seed);
  const selected = rows.map(() => true);
  const reads = new Map<string, CellRead[]>();
  const stall = (): Promise<void> => {
    const ms = random() < s.stallChance ? s.stallMsMin + random() * (s.stallMsMax - s.stallMsMin) : random() * s.jitterMs;
    return new Promise((resolve) => setTimeout(resolve, ms));
  };
  const wrap = (line: GpioLine, onRead: (level: Level) => void, onWrite: (level: Level) => void): GpioLine => ({
    id: line.id, direction: line.direction,
    read: async () => { await stall(); const level = await line.read(); onRead(level); return level; },
    write: async (level) => { await stall(); await line.write(level); onWrite(level); },
    watch: line.watch.bind(line),
    close: () => line.close(),
  });
  const record = (c: number, level: Level): void => {
    const only = selected.filter(Boolean).length === 1 ? selected.indexOf(true) : -1;
    if (only < 0) return;
    const pos = `${only},${c}`;
    reads.set(pos, [...(reads.get(pos) ?? []), { atMs: performance.now(), down: level === 1 }]);
  };
  return {
    rows: rows.map((l, r) => wrap(l, () => undefined, (level) => { selected[r] = level === 1; })),
    cols: cols.map((l, c) => wrap(l, (level) => record(c, level), () => undefined)),
    reads,
  };
}

interface Tap { readonly key: KeyName; readonly downMs: number; readonly upMs: number }

/** A fast typist: each key held holdMs, then gapMs to the next, each jittered by the seed. */
function typing(text: readonly KeyName[], startMs: number, seed: number): Tap[] {
  const random = mulberry32(seed ^ 0x5eed);
  const taps: Tap[] = [];
  let t = startMs;
  for (const key of text) {
    const downMs = t;
    const upMs = downMs + Math.round(150 + random() * 60);
    taps.push({ key, downMs, upMs });
    t = upMs + Math.round(110 + random() * 60);
  }
  return taps;
}

function posOf(key: KeyName): string {
  const r = KEYMAP.findIndex((row) => row.includes(key));
  return `${r},${KEYMAP[r].indexOf(key)}`;
}

/** What any driver can know: each press read down twice a debounce apart, each gap read up. */
function readsSufficed(taps: readonly Tap[], reads: Map<string, CellRead[]>): string[] {
  const problems: string[] = [];
  taps.forEach((tap, i) => {
    const cell = reads.get(posOf(tap.key)) ?? [];
    const during = cell.filter((x) => x.down && x.atMs >= tap.downMs && x.atMs < tap.upMs);
    if (during.length < 2 || during[during.length - 1].atMs - during[0].atMs < DEBOUNCE_MS) problems.push(`tap ${i} (${tap.key}): ${during.length} downs read while down`);
    const next = taps.slice(i + 1).find((t) => t.key === tap.key);
    if (next && !cell.some((x) => !x.down && x.atMs >= tap.upMs && x.atMs < next.downMs)) problems.push(`gap after tap ${i} (${tap.key}): no read`);
  });
  return problems;
}

describe('matrix keypad on a starved CPU', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  async function typeStarved(text: string, s: Starvation, seed: number, rowSettleMs = 0) {
    const chip = new SimGpioChip();
    const model = new MatrixKeypadModel(chip, ROWS, COLS, KEYMAP);
    const rows = await Promise.all(ROWS.map((o) => chip.requestLine(o, { direction: 'out', activeLow: true, initial: 1 })));
    const cols = await Promise.all(COLS.map((o) => chip.requestLine(o, { direction: 'in', activeLow: true, bias: 'pull-up' })));
    const lines = starvedLines(rows, cols, s, seed);
    const keypad = new MatrixKeypad(lines.rows, lines.cols, { keymap: KEYMAP, debounceMs: DEBOUNCE_MS, scanIntervalMs: 5, longPressMs: 5000, stuckMs: 10_000, rowSettleMs });
    const events: string[] = [];
    keypad.onKey((e) => { if (e.type !== 'long') events.push(`${e.type}:${e.key}`); });
    const started = keypad.start();
    await clock.tickAsync(2000);
    await started;
    const taps = typing([...text] as KeyName[], Math.round(performance.now()) + 10, seed);
    for (const tap of taps) {
      setTimeout(() => model.press(tap.key), tap.downMs - performance.now());
      setTimeout(() => model.release(tap.key), tap.upMs - performance.now());
    }
    await clock.tickAsync(taps[taps.length - 1].upMs - performance.now() + 3000);
    const closed = keypad.close();
    await clock.tickAsync(2000);
    await closed;
    model.dispose();
    return { events, problems: readsSufficed(taps, lines.reads) };
  }

  const expected = (text: string): string[] => [...text].flatMap((k) => [`down:${k}`, `up:${k}`]);
  const SEEDS = Array.from({ length: 24 }, (_, i) => 20261204 + i);

  it('deliversEveryKeyOfAFastTyped30000InOrderThroughStalls', async () => {
    // About one operation in 200 waits 40-80 ms: a scan (about 35 operations) is stalled now and
    // then, somewhere in it. The driver that stamped a scan with its end merged taps here
    // (30000 -> 3000 or 300) for 7 of the 19 seeds whose reads sufficed.
    const stalls: Starvation = { jitterMs: 1, stallChance: 0.005, stallMsMin: 40, stallMsMax: 80 };
    const wrong: string[] = [];
    const unreadable: string[] = [];
    for (const seed of SEEDS) {
      const { events, problems } = await typeStarved('30000', stalls, seed);
      if (problems.length > 0) { unreadable.push(`seed ${seed}: ${problems.join('; ')}`); continue; }
      if (events.join(' ') !== expected('30000').join(' ')) wrong.push(`seed ${seed}: ${events.join(' ')}`);
    }
    assert.ok(SEEDS.length - unreadable.length >= 16, `too few seeds let a driver see every tap, the test asks little:\n${unreadable.join('\n')}`);
    assert.deepEqual(wrong, []);
  });

  it('deliversEveryKeyWhenEveryOperationIsSlowAndAScanLastsAsLongAsAGap', async () => {
    // No stalls but every operation slow, and the emulated board's row settle: a scan takes about
    // 90 ms, a gap between taps 110-170 ms, so a gap is often read by one scan only. The driver
    // that stamped a scan with its end merged taps for 6 of these 8 seeds.
    const slow: Starvation = { jitterMs: 3, stallChance: 0, stallMsMin: 0, stallMsMax: 0 };
    const wrong: string[] = [];
    for (const seed of SEEDS.slice(0, 8)) {
      const { events, problems } = await typeStarved('30000', slow, seed, 5);
      assert.deepEqual(problems, [], `seed ${seed}: the scenario itself left a tap unreadable`);
      if (events.join(' ') !== expected('30000').join(' ')) wrong.push(`seed ${seed}: ${events.join(' ')}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('aHeldKeyReadUpOnceBetweenCloseDownsIsOnePress', async () => {
    // The other side of "up between two downs is two presses": a single wrong read of a held key
    // (a glitch), with reads a few ms apart, must not make a second press.
    const chip = new SimGpioChip();
    const model = new MatrixKeypadModel(chip, ROWS, COLS, KEYMAP);
    const rows = await Promise.all(ROWS.map((o) => chip.requestLine(o, { direction: 'out', activeLow: true, initial: 1 })));
    const cols = await Promise.all(COLS.map((o) => chip.requestLine(o, { direction: 'in', activeLow: true, bias: 'pull-up' })));
    let glitch = false;
    const col1 = cols[1];
    // Row 2 ('5' is at row 2, column 1) selected alone: driven low, row 1 high (wires, active low).
    const row2Alone = (): boolean => chip.pin(ROWS[2]).level === 0 && chip.pin(ROWS[1]).level === 1;
    const read = async (): Promise<Level> => {
      if (!(glitch && row2Alone())) return col1.read();
      glitch = false;
      return 0;
    };
    const glitching: GpioLine = { id: col1.id, direction: col1.direction, read, write: (l) => col1.write(l), watch: col1.watch.bind(col1), close: () => col1.close() };
    const keypad = new MatrixKeypad(rows, [cols[0], glitching, cols[2], cols[3]], { keymap: KEYMAP, debounceMs: DEBOUNCE_MS, scanIntervalMs: 5 });
    const events: string[] = [];
    keypad.onKey((e) => events.push(`${e.type}:${e.key}`));
    const started = keypad.start();
    await clock.tickAsync(100);
    await started;
    model.press('5');
    await clock.tickAsync(100);
    glitch = true;
    await clock.tickAsync(100);
    assert.equal(glitch, false, 'the glitch was read');
    model.release('5');
    await clock.tickAsync(100);
    assert.deepEqual(events, ['down:5', 'up:5']);
    await keypad.close();
  });
});

/**
 * UI benchmark (npm run bench:ui). Figures only, no pass/fail (timing on a CI host says little
 * about a terminal).
 *
 * 1. Render time per screen (layout + drawing in memory) for 16x2, 20x4 and 128x64, both locales.
 * 2. Key-to-screen latency through the real drivers on the simulator board: the matrix keypad
 *    driver's KeyEvent (after debounce) → amount widget → screen → LcdUi → SSD1306 / HD44780
 *    driver → chip model. Goal: under 20 ms. The press-to-event debounce is reported apart.
 * 3. Baseline in the same run: the same key sequence with a full redraw (every row / the whole
 *    frame handed over) against the diffed redraw, as a ratio of bytes on the simulated I2C bus
 *    and of host time.
 * The I2C wire time at the board's clock is estimated by the bus model and printed too: the
 * simulated bus itself is instantaneous.
 */
import { createSimBoard, SimBoard } from '../sim/board-sim';
import { KeyEvent, KeyName } from '../hal/keypad';
import { DisplayCapabilities } from '../hal/display';
import { renderScreen, LOCALES } from '../ui-lcd/screen';
import { STATE_NAMES, screenFor } from '../ui-lcd/screens';
import { LcdUi } from '../ui-lcd/ui';
import { AmountEntry } from '../ui-lcd/widgets';

const RENDER_REPEATS = 50;
const KEYS: KeyName[] = ['1', '2', '3', '4', '5', 'BACK', '6', 'CLEAR', '9', '8'];
const KEY_REPEATS = 3;
const RELEASE_WAIT_MS = 40;

const DISPLAYS: ReadonlyArray<[string, DisplayCapabilities]> = [
  ['16x2', { kind: 'text', cols: 16, rows: 2 }],
  ['20x4', { kind: 'text', cols: 20, rows: 4 }],
  ['128x64', { kind: 'pixels', width: 128, height: 64 }],
];

function renderBench(): void {
  console.log('== render time per screen (layout + draw in memory), mean over states, ms');
  for (const [name, caps] of DISPLAYS) {
    for (const locale of LOCALES) {
      const times: Array<[string, number]> = [];
      for (const state of STATE_NAMES) {
        const screen = screenFor(state);
        renderScreen(screen, locale, caps); // warm
        const t0 = performance.now();
        for (let i = 0; i < RENDER_REPEATS; i++) renderScreen(screen, locale, caps);
        times.push([state, (performance.now() - t0) / RENDER_REPEATS]);
      }
      times.sort((a, b) => b[1] - a[1]);
      const mean = times.reduce((n, [, t]) => n + t, 0) / times.length;
      console.log(`  ${name.padEnd(7)} ${locale.padEnd(6)} mean ${mean.toFixed(3)}  slowest ${times[0][0]} ${times[0][1].toFixed(3)}`);
    }
  }
}

interface KeyRun {
  readonly latenciesMs: number[];
  readonly debounceMs: number[];
  readonly busBytes: number;
  readonly wireMs: number;
}

async function keyRun(board: string, fullRedraw: boolean): Promise<KeyRun> {
  const sim: SimBoard = await createSimBoard({ board });
  try {
    await sim.board.selfTest();
    const ui = new LcdUi(sim.board.display(), { locale: 'zh-CN', fullRedraw });
    const amount = new AmountEntry({ clock: () => performance.now() });
    await ui.show(screenFor('saleAmount', { amountFen: 0 }));
    const bus = [...sim.i2c.values()][0];
    bus.resetStats();
    const latenciesMs: number[] = [];
    const debounceMs: number[] = [];
    let pressedAt = 0;
    let done: (() => void) | undefined;
    sim.board.keypad().onKey((e: KeyEvent) => {
      if (e.type !== 'down') return;
      debounceMs.push(e.timeMs - pressedAt);
      amount.press(e.key);
      void ui.show(screenFor('saleAmount', { amountFen: amount.amountFen })).then(() => {
        latenciesMs.push(performance.now() - e.timeMs);
        done?.();
      });
    });
    for (let r = 0; r < KEY_REPEATS; r++) {
      for (const key of KEYS) {
        const shown = new Promise<void>((resolve) => { done = resolve; });
        pressedAt = performance.now();
        sim.keypad().press(key);
        await shown;
        sim.keypad().release(key);
        await new Promise((res) => setTimeout(res, RELEASE_WAIT_MS));
      }
    }
    return { latenciesMs, debounceMs, busBytes: bus.stats.bytesWritten + bus.stats.transactions, wireMs: bus.stats.wireTimeUs / 1000 };
  } finally {
    await sim.close();
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function keyBench(): Promise<void> {
  console.log(`== key-to-screen through the real drivers on the simulator board (${KEYS.length * KEY_REPEATS} keys, amount entry, zh-CN)`);
  for (const [board, what] of [['sim', 'SSD1306 128x64, I2C 400 kHz'], ['rpi-dev', 'HD44780 20x4 via PCF8574']] as const) {
    const diffed = await keyRun(board, false);
    const full = await keyRun(board, true);
    const n = diffed.latenciesMs.length;
    console.log(`  ${board} (${what})`);
    console.log(`    KeyEvent -> screen on the chip model  median ${pct(diffed.latenciesMs, 50).toFixed(2)} ms  p95 ${pct(diffed.latenciesMs, 95).toFixed(2)} ms  max ${Math.max(...diffed.latenciesMs).toFixed(2)} ms  (goal < 20 ms)`);
    console.log(`    press -> KeyEvent (scan + debounce)   median ${pct(diffed.debounceMs, 50).toFixed(2)} ms (board debounceMs, not UI work)`);
    console.log(`    I2C bytes per key  diffed ${(diffed.busBytes / n).toFixed(0)}  full redraw ${(full.busBytes / n).toFixed(0)}  ratio full/diffed ${(full.busBytes / Math.max(1, diffed.busBytes)).toFixed(2)}`);
    console.log(`    est. wire time per key  diffed ${(diffed.wireMs / n).toFixed(2)} ms  full ${(full.wireMs / n).toFixed(2)} ms`);
    console.log(`    host latency median  full redraw ${pct(full.latenciesMs, 50).toFixed(2)} ms  ratio full/diffed ${(pct(full.latenciesMs, 50) / pct(diffed.latenciesMs, 50)).toFixed(2)}`);
    console.log(`    estimate on hardware (host median + wire)  diffed ${(pct(diffed.latenciesMs, 50) + diffed.wireMs / n).toFixed(2)} ms  full ${(pct(full.latenciesMs, 50) + full.wireMs / n).toFixed(2)} ms`);
    if (board === 'sim') console.log('    (the SSD1306 driver diffs against its own shadow, so the UI\'s dirty region saves host work, not bus bytes)');
    else console.log('    (wire time at the simulated bus clock; a PCF8574 runs at 100 kHz at most: multiply by 4)');
  }
}

async function main(): Promise<void> {
  renderBench();
  await keyBench();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

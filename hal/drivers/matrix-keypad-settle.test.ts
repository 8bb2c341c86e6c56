/**
 * The matrix keypad's row settle time (board file `rowSettleMs`): a matrix whose columns follow the
 * rows late (here the contact-matrix model sees each row write 3 ms after it, as gpio-sim's columns
 * follow the keypad agent in the QEMU guest) shows ghost keys to a scan that reads at once, and
 * only the pressed key to one that waits longer than the lag after each row.
 */
import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { SimGpioChip } from '../../sim/chips/gpio-sim';
import { MatrixKeypadModel } from '../../sim/chips/keypad-model';
import { MatrixKeypad } from './matrix-keypad';
import { KeyName } from '../keypad';
import { GpioLine } from '../gpio';
import { validateBoard, ROW_SETTLE_MS_MAX } from '../board-schema';
import { readBoardFile } from '../board';
import type { KeypadConfig } from '../board-schema';

/** The simulator board's keypad (board-configs/sim.json): 5 rows, 4 columns, one cell empty each side of 0. */
const KEYMAP = (readBoardFile('sim').config.devices.keypad0 as KeypadConfig).keymap;
const ROWS = [0, 1, 2, 3, 4];
const COLS = [5, 6, 7, 8];
const LAG_MS = 3;

/**
 * Row lines as the keypad agent in the guest makes them: the driver's writes land at once for the
 * driver, but the matrix (the model) sees them only at the follower's next poll, every LAG_MS.
 */
function laggingRows(lines: readonly GpioLine[]): { rows: GpioLine[]; stop: () => void } {
  const levels: Array<0 | 1> = lines.map(() => 1);
  const poll = setInterval(() => lines.forEach((l, i) => void l.write(levels[i])), LAG_MS);
  const rows = lines.map((line, i) => ({
    id: line.id, direction: line.direction,
    read: async () => levels[i],
    write: async (level: 0 | 1) => { levels[i] = level; },
    watch: line.watch.bind(line),
    close: () => line.close(),
  }) as GpioLine);
  return { rows, stop: () => clearInterval(poll) };
}

describe('matrix keypad: row settle time against a lagging matrix', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  async function pressFive(rowSettleMs: number): Promise<{ events: string[]; pressedWhileDown: KeyName[] }> {
    const chip = new SimGpioChip();
    const model = new MatrixKeypadModel(chip, ROWS, COLS, KEYMAP);
    const { rows, stop } = laggingRows(await Promise.all(ROWS.map((o) => chip.requestLine(o, { direction: 'out', activeLow: true, initial: 1 }))));
    const cols = await Promise.all(COLS.map((o) => chip.requestLine(o, { direction: 'in', activeLow: true, bias: 'pull-up' })));
    const keypad = new MatrixKeypad(rows, cols, { keymap: KEYMAP, debounceMs: 20, scanIntervalMs: 5, longPressMs: 5000, stuckMs: 10_000, rowSettleMs });
    const events: string[] = [];
    keypad.onKey((e) => events.push(`${e.type}:${e.key}`));
    const started = keypad.start();
    await clock.tickAsync(200);
    await started;
    model.press('5');
    await clock.tickAsync(400);
    const pressedWhileDown = keypad.pressed();
    model.release('5');
    await clock.tickAsync(400);
    const closed = keypad.close();
    await clock.tickAsync(200); // a scan still running ends through its settle timers
    await closed;
    stop();
    return { events, pressedWhileDown };
  }

  it('readsGhostKeysWithoutSettleAndOnlyThePressedKeyWithIt', async () => {
    // Positive control: without a settle the scan reads each row's columns as the previous
    // selection left them, so every key in the pressed key's column is seen.
    const fast = await pressFive(0);
    assert.ok(fast.pressedWhileDown.length > 1 && fast.pressedWhileDown.includes('2'), `ghosts expected, got ${fast.pressedWhileDown.join(' ')}`);
    const settled = await pressFive(LAG_MS + 2);
    assert.deepEqual(settled.pressedWhileDown, ['5']);
    assert.deepEqual(settled.events, ['down:5', 'up:5']);
  });

  it('isABoardFileFieldWithALimit', () => {
    const { config } = readBoardFile('qemu-x86');
    const keypad = config.devices.keypad0 as { rowSettleMs?: number };
    assert.ok(keypad.rowSettleMs !== undefined && keypad.rowSettleMs > 0, 'the emulated board waits for the keypad agent');
    const json = JSON.parse(JSON.stringify(config)) as { devices: Record<string, Record<string, unknown>>; tzOffsetMinutes?: number; host?: unknown };
    delete json.tzOffsetMinutes;
    delete json.host;
    json.devices.keypad0.rowSettleMs = ROW_SETTLE_MS_MAX + 1;
    assert.throws(() => validateBoard(json, 'x.json'), new RegExp(`role keypad0: field "rowSettleMs" must be an integer 0..${ROW_SETTLE_MS_MAX}`));
  });
});

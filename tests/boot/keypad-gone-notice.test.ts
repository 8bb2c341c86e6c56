/**
 * The keypad's "device gone" notice (E-BRD-04, hal/drivers/evdev-keypad.ts: an evdev keypad
 * unplugged, its driver unbound) on the terminal's screen, and its end: the driver opens the
 * device again by itself, and the first key from it proves it is back, so that key clears the
 * notice (boot/terminal-app.ts watchKeys). The notice is its code, cause and first step in turns
 * (faultNotice; it was the bare code), one every NOTICE_TURN_MS of the terminal's clock, which
 * runs ahead here on demand. A stuck key's notice (E-KBD-01) stays after other keys and ends with
 * its own release: tests/boot/stuck-key-notice.test.ts. A notice is read from its first turn when it
 * appears, whatever the terminal's clock says (its turns were counted from the clock's zero).
 *
 * The simulator board's keypad is a matrix over GPIO, which never reports E-BRD-04: its faults
 * are injected here through the board's keypad (the same onFault the evdev driver calls); the keys
 * are real presses on the simulated matrix, through the real driver.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { TerminalApp } from '../../boot/terminal-app';
import { createSimBoard, SimBoard } from '../../sim/board-sim';
import { silentLogger } from '../../common/log';
import { NOTICE_TEST_TICK_MS, NoticeWatch } from './notice-watch';
import { NOTICE_TURN_MS } from '../../ui-lcd/screen';
import { PosError } from '../../common/errors';
import { removeDir, tempDir } from '../../storage/testing';
import type { KeyName, Keypad } from '../../hal/keypad';

/** Longer than the board's debounce: a press the matrix driver reports. */
const KEY_HOLD_MS = 80;
/** E-BRD-04's notice row on the board's 128x64 panel (16 cells a row, English), turn by turn. */
const GONE_TURNS = ['E-BRD-04', 'Keypad device', 'gone', 'Reseat the', 'keypad cable'];

/** The keypad gone, as the evdev driver reports it. */
const gone = (): PosError => new PosError('BRD_INPUT_GONE', 'keypad0: /dev/input/event0 gone (ENODEV: no such device); waiting for it to come back', { role: 'keypad0', path: '/dev/input/event0', reason: 'ENODEV' });

/** The board's keypad, with a way to raise a fault through its onFault listeners. */
function faultableKeypad(sim: SimBoard): (fault: PosError) => void {
  const board = sim.board;
  const real = board.keypad();
  const listeners = new Set<(f: PosError) => void>();
  const keypad: Keypad = {
    start: () => real.start(),
    onKey: (l) => real.onKey(l),
    onFault: (l) => {
      listeners.add(l);
      const stop = real.onFault(l);
      return () => { listeners.delete(l); stop(); };
    },
    onStuckReleased: (l) => real.onStuckReleased(l),
    pressed: () => real.pressed(),
    stuck: () => real.stuck(),
    close: () => real.close(),
  };
  board.keypad = () => keypad;
  return (fault) => { for (const l of [...listeners]) l(fault); };
}

describe('terminal: the keypad gone notice ends with the first key from it', function () {
  this.timeout(60_000);
  const w = new NoticeWatch();
  let root: string;
  let sim: SimBoard;
  let app: TerminalApp;
  let raise: (fault: PosError) => void;

  const press = async (key: KeyName): Promise<void> => {
    sim.keypad().press(key);
    await new Promise((r) => setTimeout(r, KEY_HOLD_MS));
    sim.keypad().release(key);
    await new Promise((r) => setTimeout(r, KEY_HOLD_MS));
  };


  beforeEach(async () => {
    root = tempDir('poskbdgone-');
    w.reset();
    sim = await createSimBoard({ battery: { percent: 80 } });
    raise = faultableKeypad(sim);
    app = TerminalApp.create({
      board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: 9 },
      logger: silentLogger, scryptN: 1024, locale: 'en', clock: w.clock, tickMs: NOTICE_TEST_TICK_MS,
    });
    w.watch(app);
    await app.boot();
    await w.until('the login screen', (s) => s.state === 'login');
  });
  afterEach(async () => {
    await app.stop();
    await sim.close();
    removeDir(root);
  });

  it('keypadGoneShowsE-BRD-04ItsCauseAndFirstStepInTurnsUntilAKeyFromTheKeypadClearsIt', async () => {
    assert.ok(!GONE_TURNS.includes(w.noticeRow()));
    raise(new PosError('BRD_INPUT_GONE', 'keypad0: /dev/input/event0 gone (ENODEV: no such device); waiting for it to come back', { role: 'keypad0', path: '/dev/input/event0', reason: 'ENODEV' }));
    await w.until('the E-BRD-04 notice', (s) => GONE_TURNS.includes(w.noticeRow(s)));
    assert.equal(w.latest?.state, 'login', 'the notice rides on the screen the terminal was at');
    // The code, the cause and the first step, in turns (it was the bare code).
    const seen = await w.turnsRead('login', GONE_TURNS);
    for (const w of GONE_TURNS) assert.ok(seen.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(seen)}`);
    for (const r of seen) assert.ok(GONE_TURNS.includes(r), `${JSON.stringify(r)} is not a turn of the notice: ${JSON.stringify(seen)}`);
    await press('1');
    await w.until('the notice cleared by the key', (s) => !GONE_TURNS.includes(w.noticeRow(s)));
    assert.equal(w.latest?.state, 'login');
    // Gone, not between two turns.
    await w.assertNoNotice(GONE_TURNS);
  });

  it('aNoticeIsReadFromItsFirstTurnWhenItAppearsWhateverTurnTheClockIsIn', async () => {
    // The clock run on to the middle of each later turn of a notice counted from the clock's zero
    // (where the notice used to start): it starts at its code all the same.
    const cycleMs = GONE_TURNS.length * NOTICE_TURN_MS;
    for (let turn = 1; turn < GONE_TURNS.length; turn++) {
      const phaseMs = (turn + 0.5) * NOTICE_TURN_MS;
      w.aheadMs += (((phaseMs - (w.clock() % cycleMs)) % cycleMs) + cycleMs) % cycleMs;
      raise(gone());
      const s = await w.until('the E-BRD-04 notice', (x) => GONE_TURNS.includes(w.noticeRow(x)));
      assert.equal(w.noticeRow(s), GONE_TURNS[0], `the clock in turn ${turn + 1}: read from the first`);
      await press('1');
      await w.until('the notice cleared by the key', (x) => !GONE_TURNS.includes(w.noticeRow(x)));
    }
  });
});

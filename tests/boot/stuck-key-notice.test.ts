/**
 * FIELD-FAULTS "Abnormal user state: keypad key broken or stuck", on the terminal in this process
 * over the simulator board's real matrix driver (its keys pressed on the simulated contact matrix)
 * and an acquirer simulator: a key held past the board's stuckMs is reported stuck and named on
 * the screen's notice row, in turns: E-KBD-01, the key ("Key 5 stuck" / "按键5卡住", not the
 * self-test's "Key stuck"), the first step (boot/terminal-app.ts stuckKeysNotice), one turn every
 * NOTICE_TURN_MS of the terminal's clock, which runs ahead here on demand; the report ends when it
 * is released, and a key held at power-on is reported the same way. A stuck key types once, at its
 * press, like any key (boot/terminal-app.ts watchKeys says why), and never again: not while it is
 * held, not at its release. Every display and every set of keys: tests/ui/notice-turns.test.ts.
 *
 * The board file is the simulator's with keypad0.stuckMs at the schema's least, 2 s.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boardFilePath } from '../../hal/board';
import type { SimBoard } from '../../sim/board-sim';
import { NoticeRig } from './notice-watch';
import { tr } from '../../ui-lcd/strings';
import type { KeyName } from '../../hal/keypad';

/** E-PRN-04's notice row (a printer silent at the self-test), turn by turn. */
const PRINTER_TURNS = ['E-PRN-04', 'Printer not', 'answering', 'Check the', 'printer cable'];

/** The board's stuckMs here (the schema's least). */
const STUCK_MS = 2_000;
/** Held this long past stuckMs: the driver's report is in (it is checked at every scan of a held key). */
const PAST_STUCK_MS = STUCK_MS + 700;
/** Longer than the board's debounce: a press the matrix driver reports. */
const KEY_HOLD_MS = 80;

/** E-KBD-01's notice row on the board's 128x64 panel (16 cells a row, English), turn by turn, for one key. */
function stuckTurns(key: KeyName): string[] {
  return ['E-KBD-01', `Key ${key} stuck`, 'Press and', 'release each', 'stuck key'];
}

function boardWithShortStuck(dir: string): string {
  const j = JSON.parse(readFileSync(boardFilePath('sim'), 'utf8')) as { devices: { keypad0: { stuckMs: number } } };
  j.devices.keypad0.stuckMs = STUCK_MS;
  const file = join(dir, 'sim-stuck.json');
  writeFileSync(file, JSON.stringify(j));
  return file;
}

describe('terminal: a stuck key is named on the screen and types no more', function () {
  this.timeout(90_000);
  const rig = new NoticeRig('posstuckkey-');
  rig.hooks();
  const w = rig.w;

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const press = async (key: KeyName): Promise<void> => {
    rig.sim.keypad().press(key);
    await sleep(KEY_HOLD_MS);
    rig.sim.keypad().release(key);
    await sleep(KEY_HOLD_MS);
  };
  const type = async (keys: KeyName[]): Promise<void> => { for (const k of keys) await press(k); };

  async function boot(o: { holdAtPowerOn?: KeyName; printerOff?: boolean } = {}): Promise<void> {
    const beforeBoot = (s: SimBoard): void => {
      if (o.holdAtPowerOn) s.keypad().press(o.holdAtPowerOn);
      if (o.printerOff) s.printer().powerOff();
    };
    await rig.boot({ board: { board: boardWithShortStuck(rig.root), beforeBoot } });
  }

  async function signIn(): Promise<void> {
    await type(['0', '1', 'OK', '0', '0', '0', '0', 'OK']);
    await w.until('idle', (s) => s.state === 'idle');
  }

  it('theNoticeNamesTheKeyInBothLanguages', () => {
    assert.equal(tr('notice.keyStuck', 'en', { keys: '5' }), 'Key 5 stuck');
    assert.equal(tr('notice.keyStuck', 'zh-CN', { keys: '5' }), '按键5卡住');
    assert.equal(tr('notice.keysStuck', 'en', { keys: '5 OK' }), 'Keys 5 OK stuck');
  });

  it('aKeyHeldPastStuckMsAtIdleIsNamedStaysNamedThroughOtherKeysAndTheNoticeEndsAtItsRelease', async () => {
    await boot();
    await signIn();
    // CLEAR does nothing at idle: the screen stays idle, its notice row is the one to read.
    rig.sim.keypad().press('CLEAR');
    await sleep(STUCK_MS / 2);
    assert.doesNotMatch(w.screenText(), /stuck/, 'not stuck before stuckMs');
    const turns = stuckTurns('CLEAR');
    await w.until('the stuck notice', (s) => s.state === 'idle' && turns.includes(w.noticeRow(s)));
    // Its code, the key named and the first step, in turns.
    await w.assertNoticeIs('idle', turns);
    await press('DOWN');
    await w.assertNoticeIs('idle', turns);
    rig.sim.keypad().release('CLEAR');
    await w.until('the notice cleared by the release', (s) => s.state === 'idle' && !turns.includes(w.noticeRow(s)));
    await w.assertNoNotice(turns);
  });

  it('aDigitHeldPastStuckMsTypesOnceAtItsPressAndNeitherItsHoldNorItsReleaseTypesAgain', async () => {
    await boot();
    await signIn();
    rig.sim.keypad().press('5');
    await w.until('the sale started by the press', (s) => s.state === 'sale.amount' && s.screen.text.join('\n').includes('0.05'));
    await sleep(PAST_STUCK_MS + 500);
    assert.equal(w.latest?.state, 'sale.amount');
    assert.match(w.screenText(), /0\.05/);
    assert.doesNotMatch(w.screenText(), /0\.55|5\.55/, 'no repeat while held');
    rig.sim.keypad().release('5');
    await sleep(300);
    assert.match(w.screenText(), /0\.05/);
    assert.doesNotMatch(w.screenText(), /0\.55/, 'nothing typed at the release');
    await press('CANCEL');
    await w.until('idle without a stuck notice', (s) => s.state === 'idle' && !stuckTurns('5').includes(w.noticeRow(s)));
    await w.assertNoNotice(stuckTurns('5'));
  });

  it('aKeyHeldAtPowerOnIsNamedTypesNothingAndItsReleaseEndsTheNotice', async () => {
    await boot({ holdAtPowerOn: '5' });
    // The key named (not the self-test's "Key stuck"), with the code and the first step.
    await w.assertNoticeIs('login', stuckTurns('5'));
    rig.sim.keypad().release('5');
    await w.until('the notice cleared', (x) => x.state === 'login' && !stuckTurns('5').includes(w.noticeRow(x)));
    await w.assertNoNotice(stuckTurns('5'));
    // Nothing was typed: the operator number is still empty, so a login from scratch works.
    await signIn();
  });

  it('aKeyHeldAtPowerOnIsReadFirstBesideAnotherFaultAndAfterItsReleaseTheOtherStays', async () => {
    await boot({ holdAtPowerOn: '5', printerOff: true });
    // Both, the stuck key first (it hid the printer's, which never came back after the release).
    const [code, ...rest] = stuckTurns('5');
    const [printerCode, ...printerRest] = PRINTER_TURNS;
    await w.assertNoticeIs('login', [`1/2 ${code}`, ...rest, `2/2 ${printerCode}`, ...printerRest]);
    rig.sim.keypad().release('5');
    await w.until('the printer\'s notice alone', (x) => x.state === 'login' && w.noticeRow(x) === PRINTER_TURNS[0]);
    await w.assertNoticeIs('login', PRINTER_TURNS);
  });
});

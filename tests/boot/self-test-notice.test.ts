/**
 * The boot self-test's faults on the terminal in this process (boot/terminal-app.ts noteSelfTest,
 * faultNotice), over the simulator board's real drivers: each part that failed is on the login
 * and idle screens' notice, its code, cause and first step read in turns on the 128x64 panel's
 * notice row (16 cells), one every NOTICE_TURN_MS of the terminal's clock, which runs ahead here
 * on demand. It was the bare code ("E-PRN-04"), which said neither what failed nor what to do.
 * A cause that names no part ("Device not answering") is read with the part before it, which
 * its first step ("Check the part named") needs. Several faulty parts are read one after another,
 * each code with its place and the count ("1/2 E-PRN-04"; only the first was shown); a part that
 * answers again ends its own notice (the printer's status, polled for the paper at idle), and the
 * others stay. Every code and every display: tests/ui/notice-turns.test.ts; the list:
 * boot/boot-faults.test.ts. The card reader's own self-test fault is the reader's notice:
 * tests/boot/reader-notice.test.ts.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProbeSnapshot } from '../../boot/terminal-app';
import { NoticeRig } from './notice-watch';
import { boardFilePath } from '../../hal/board';
import type { KeyName } from '../../hal/keypad';
import type { SimBoard } from '../../sim/board-sim';

/** E-PRN-04's notice row on 16 cells, turn by turn: a printer that did not answer its self-test. */
const PRINTER_TURNS = ['E-PRN-04', 'Printer not', 'answering', 'Check the', 'printer cable'];
/** The fuel gauge off the bus (no ACK at its address): the battery named before the cause. */
const GAUGE_TURNS = ['E-BRD-02', 'Battery: Device', 'not answering', 'Check the part', 'named'];
/** board-configs/rig.sim.json ledStatus0's GPIO line. */
const STATUS_LED_LINE = 25;
const LED_TURNS = ['E-BRD-03', 'Status light:', 'Bus transfer', 'failed', 'Restart the', 'terminal'];
/** The printer's and the status light's together: the first's turns, then the second's, each code with its place. */
const PRINTER_THEN_LED_TURNS = ['1/2 E-PRN-04', ...PRINTER_TURNS.slice(1), '2/2 E-BRD-03', ...LED_TURNS.slice(1)];
/** The MAX17048's address on the simulator board's I2C bus 1 (board-configs/rig.sim.json battery0). */
const GAUGE_BUS = 1;
const GAUGE_ADDRESS = 0x36;
/** The reset button held through boot past its stuckMs (E-KBD-02), on 16 cells. */
const RESET_TURNS = ['E-KBD-02', 'Reset button', 'stuck', 'Press and', 'release the', 'reset button'];
/** The reset button's stuckMs here (the schema's least). */
const RESET_STUCK_MS = 5_000;

/** The simulator's board file with reset0.stuckMs at the schema's least. */
function boardWithShortResetStuck(dir: string): string {
  const j = JSON.parse(readFileSync(boardFilePath('sim'), 'utf8')) as { devices: { reset0: { stuckMs: number } } };
  j.devices.reset0.stuckMs = RESET_STUCK_MS;
  const file = join(dir, 'sim-reset-stuck.json');
  writeFileSync(file, JSON.stringify(j));
  return file;
}

describe('terminal: the boot self-test\'s faults read whole in turns', function () {
  this.timeout(90_000);
  const rig = new NoticeRig('posselftestnotice-');
  rig.hooks();
  const w = rig.w;
  const type = (keys: readonly KeyName[]): void => rig.type(keys);
  const boot = (beforeBoot: (s: SimBoard) => void, until: (s: ProbeSnapshot) => boolean, board?: string): Promise<void> =>
    rig.boot({ board: { beforeBoot, ...(board !== undefined ? { board } : {}) }, until });

  it('aPrinterSilentAtTheSelfTestIsItsCodeCauseAndFirstStepInTurnsAtLoginAndItsAnswerAtIdleEndsIt', async () => {
    await boot((s) => s.printer().powerOff(), (s) => s.state === 'login');
    await w.assertNoticeIs('login', PRINTER_TURNS);
    type(['0', '1', 'OK']);
    type(['0', '0', '0', '0', 'OK']);
    await w.until('idle', (s) => s.state === 'idle');
    // Still silent: the notice stands at idle.
    await w.assertNoticeIs('idle', PRINTER_TURNS);
    // Powered on, it answers the paper poll at idle (PAPER_POLL_MS): its notice ends (it stood until a restart).
    rig.sim.printer().powerOn();
    await w.until('the printer\'s notice ended by its answer', (s) => s.state === 'idle' && !PRINTER_TURNS.includes(w.noticeRow(s)));
    await w.assertNoNotice(PRINTER_TURNS);
  });

  it('twoPartsFailingAreReadOneAfterTheOtherAndThePrinterAnsweringEndsOnlyItsOwn', async () => {
    await boot((s) => { s.printer().powerOff(); s.gpio.pin(STATUS_LED_LINE).fail(true); }, (s) => s.state === 'login');
    // Both, each with its place and the count (only the printer's was shown).
    await w.assertNoticeIs('login', PRINTER_THEN_LED_TURNS);
    type(['0', '1', 'OK']);
    type(['0', '0', '0', '0', 'OK']);
    await w.until('idle', (s) => s.state === 'idle');
    rig.sim.printer().powerOn();
    // The printer answers: the light's notice alone, its code without a count, and nothing of the printer's.
    await w.until('the light\'s notice alone', (x) => x.state === 'idle' && w.noticeRow(x) === LED_TURNS[0]);
    await w.assertNoticeIs('idle', LED_TURNS);
  });

  it('aFuelGaugeOffTheBusNamesTheBatteryBeforeItsCauseOnTheRecoveryLogin', async () => {
    // A part the terminal cannot run without stops it (recovery); the notice says which part.
    await boot((s) => s.i2cBus(GAUGE_BUS).setAbsent(GAUGE_ADDRESS, true), (s) => s.state.startsWith('recovery.'));
    // Its error screen first (code, cause, steps, paged); acknowledged, the administrator's login.
    type(['OK']);
    const login = await w.until('the recovery login', (s) => s.state.startsWith('recovery.') && s.screen.name === 'login');
    await w.assertNoticeIs(login.state, GAUGE_TURNS);
  });

  it('aStatusLightWhoseLineFailsIsReportedAtLoginAndIdleAndTheTerminalSellsWithoutIt', async () => {
    // A part the terminal can work without: before, any part's E-BRD-03 stopped it in recovery.
    await boot((s) => s.gpio.pin(STATUS_LED_LINE).fail(true), (s) => s.state === 'login');
    await w.assertNoticeIs('login', LED_TURNS);
    type(['0', '1', 'OK']);
    type(['0', '0', '0', '0', 'OK']);
    await w.until('idle', (s) => s.state === 'idle');
    await w.assertNoticeIs('idle', LED_TURNS);
  });

  it('aStatusLightWhoseLineWorksAgainEndsItsNoticeWhenItIsNextWrittenAtSignOn', async () => {
    await boot((s) => s.gpio.pin(STATUS_LED_LINE).fail(true), (s) => s.state === 'login');
    await w.assertNoticeIs('login', LED_TURNS);
    // The line works again; the light is written next when the terminal signs on (on while signed on).
    rig.sim.gpio.pin(STATUS_LED_LINE).fail(false);
    type(['0', '1', 'OK']);
    type(['0', '0', '0', '0', 'OK']);
    await w.until('idle without the light\'s notice', (s) => s.state === 'idle' && !LED_TURNS.includes(w.noticeRow(s)));
    await w.assertNoNotice(LED_TURNS);
  });

  it('aResetButtonStuckThroughBootIsItsCodeCauseAndFirstStepInTurnsUntilItIsReleased', async () => {
    // Held from power-on past stuckMs: not a recovery request, a stuck button (it was logged and never shown).
    await boot((s) => s.resetButton().press(), (s) => s.state === 'login', boardWithShortResetStuck(rig.root));
    await w.assertNoticeIs('login', RESET_TURNS);
    rig.sim.resetButton().release();
    await w.until('the notice ended by the release', (s) => s.state === 'login' && !RESET_TURNS.includes(w.noticeRow(s)));
    await w.assertNoNotice(RESET_TURNS);
  });
});

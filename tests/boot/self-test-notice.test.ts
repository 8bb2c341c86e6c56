/**
 * The boot self-test's faults on the terminal in this process (boot/terminal-app.ts noteSelfTest,
 * faultNotice), over the simulator board's real drivers: the first part that failed is the login
 * and idle screens' notice, its code, cause and first step read in turns on the 128x64 panel's
 * notice row (16 cells), one every NOTICE_TURN_MS of the terminal's clock, which runs ahead here
 * on demand. It was the bare code ("E-PRN-04"), which said neither what failed nor what to do.
 * A cause that names no part ("Device not answering") is read with the part before it, which
 * its first step ("Check the part named") needs. Every code and every display:
 * tests/ui/notice-turns.test.ts. The card reader's own self-test fault is the reader's notice:
 * tests/boot/reader-notice.test.ts.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TICK_MS, TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { silentLogger } from '../../common/log';
import { boardFilePath } from '../../hal/board';
import type { KeyName } from '../../hal/keypad';
import { createSimBoard, SimBoard } from '../../sim/board-sim';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { removeDir, tempDir } from '../../storage/testing';
import { NOTICE_TURN_MS } from '../../ui-lcd/screen';

const WAIT_MS_MAX = 20_000;
/** E-PRN-04's notice row on 16 cells, turn by turn: a printer that did not answer its self-test. */
const PRINTER_TURNS = ['E-PRN-04', 'Printer not', 'answering', 'Check the', 'printer cable'];
/** The fuel gauge off the bus (no ACK at its address): the battery named before the cause. */
const GAUGE_TURNS = ['E-BRD-02', 'Battery: Device', 'not answering', 'Check the part', 'named'];
/** board-configs/sim.json ledStatus0's GPIO line. */
const STATUS_LED_LINE = 25;
const LED_TURNS = ['E-BRD-03', 'Status light:', 'Bus transfer', 'failed', 'Restart the', 'terminal'];
/** The MAX17048's address on the simulator board's I2C bus 1 (board-configs/sim.json battery0). */
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
  let root: string;
  let host: AcquirerSimulator;
  let sim: SimBoard;
  let app: TerminalApp;
  let latest: ProbeSnapshot | undefined;
  /** How far the terminal's clock runs ahead of the real one. */
  let aheadMs = 0;

  /** The notice's row on the panel (its last). */
  const noticeRow = (s: ProbeSnapshot | undefined = latest): string => s?.screen.text[s.screen.text.length - 1] ?? '';
  const until = (what: string, test: (s: ProbeSnapshot) => boolean, timeoutMs = WAIT_MS_MAX): Promise<ProbeSnapshot> => {
    if (latest && test(latest)) return Promise.resolve(latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error(`${what}: not reached in ${timeoutMs} ms; at ${latest?.state}, the screen shows:\n${latest?.screen.text.join('\n')}`)); }, timeoutMs);
      const stop = app.probe.onChange((raw) => {
        const s = raw as ProbeSnapshot;
        if (test(s)) { clearTimeout(timer); stop(); resolve(s); }
      });
    });
  };
  const type = (keys: readonly KeyName[]): void => { for (const k of keys) app.press(k); };

  async function boot(beforeBoot: (s: SimBoard) => void, state: (s: ProbeSnapshot) => boolean, board?: string): Promise<void> {
    sim = await createSimBoard({ battery: { percent: 80 }, beforeBoot, ...(board !== undefined ? { board } : {}) });
    app = TerminalApp.create({
      board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: host.port },
      logger: silentLogger, scryptN: 1024, locale: 'en', clock: () => Date.now() + aheadMs,
    });
    app.probe.onChange((raw) => { latest = raw as ProbeSnapshot; });
    await app.boot();
    await until('the login screen', state);
  }

  /**
   * The notice row's turns seen while the clock runs ahead a turn at a time, until every one of
   * `want` was seen (a real-time turn on the way may skip one; it comes round again).
   */
  async function turnsRead(state: string, want: readonly string[]): Promise<string[]> {
    const seen = [noticeRow()];
    for (let i = 0; i < 3 * want.length && !want.every((w) => seen.includes(w)); i++) {
      const before = noticeRow();
      aheadMs += NOTICE_TURN_MS;
      const s = await until(`the notice's next turn after ${JSON.stringify(before)} (seen ${JSON.stringify(seen)})`, (x) => x.state === state && noticeRow(x) !== before, 4 * NOTICE_TURN_MS);
      seen.push(noticeRow(s));
    }
    return seen;
  }

  /** Every turn of `want` seen, and nothing else on the notice row meanwhile. */
  async function assertNoticeIs(state: string, want: readonly string[]): Promise<void> {
    const seen = await turnsRead(state, want);
    for (const w of want) assert.ok(seen.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(seen)}`);
    for (const r of seen) assert.ok(want.includes(r), `${JSON.stringify(r)} is not a turn of the notice: ${JSON.stringify(seen)}`);
  }

  beforeEach(async () => {
    root = tempDir('posselftestnotice-');
    host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
    aheadMs = 0;
  });
  afterEach(async () => {
    await app?.stop();
    await sim?.close();
    await host.close();
    removeDir(root);
    latest = undefined;
  });

  it('aPrinterSilentAtTheSelfTestIsItsCodeCauseAndFirstStepInTurnsAtLoginAndIdle', async () => {
    await boot((s) => s.printer().powerOff(), (s) => s.state === 'login');
    await assertNoticeIs('login', PRINTER_TURNS);
    // Powered on, it is not asked again until it prints: the notice stands at idle (a restart, or
    // diagnostics' printer check, tells the operator it is back).
    sim.printer().powerOn();
    type(['0', '1', 'OK']);
    type(['0', '0', '0', '0', 'OK']);
    await until('idle', (s) => s.state === 'idle');
    await assertNoticeIs('idle', PRINTER_TURNS);
  });

  it('aFuelGaugeOffTheBusNamesTheBatteryBeforeItsCauseOnTheRecoveryLogin', async () => {
    // A part the terminal cannot run without stops it (recovery); the notice says which part.
    await boot((s) => s.i2cBus(GAUGE_BUS).setAbsent(GAUGE_ADDRESS, true), (s) => s.state.startsWith('recovery.'));
    // Its error screen first (code, cause, steps, paged); acknowledged, the administrator's login.
    type(['OK']);
    const login = await until('the recovery login', (s) => s.state.startsWith('recovery.') && s.screen.name === 'login');
    await assertNoticeIs(login.state, GAUGE_TURNS);
  });

  it('aStatusLightWhoseLineFailsIsReportedAtLoginAndIdleAndTheTerminalSellsWithoutIt', async () => {
    // A part the terminal can work without: before, any part's E-BRD-03 stopped it in recovery.
    await boot((s) => s.gpio.pin(STATUS_LED_LINE).fail(true), (s) => s.state === 'login');
    await assertNoticeIs('login', LED_TURNS);
    type(['0', '1', 'OK']);
    type(['0', '0', '0', '0', 'OK']);
    await until('idle', (s) => s.state === 'idle');
    await assertNoticeIs('idle', LED_TURNS);
  });

  it('aResetButtonStuckThroughBootIsItsCodeCauseAndFirstStepInTurnsUntilItIsReleased', async () => {
    // Held from power-on past stuckMs: not a recovery request, a stuck button (it was logged and never shown).
    await boot((s) => s.resetButton().press(), (s) => s.state === 'login', boardWithShortResetStuck(root));
    await assertNoticeIs('login', RESET_TURNS);
    sim.resetButton().release();
    await until('the notice ended by the release', (s) => s.state === 'login' && !RESET_TURNS.includes(noticeRow(s)));
    for (let turn = 0; turn < RESET_TURNS.length; turn++) {
      aheadMs += NOTICE_TURN_MS;
      await new Promise((r) => setTimeout(r, 2 * TICK_MS));
      assert.ok(!RESET_TURNS.includes(noticeRow()), `the notice is over: ${JSON.stringify(latest?.screen.text)}`);
    }
  });
});

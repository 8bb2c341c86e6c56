/**
 * Diagnostics and the card reader's health (boot/diagnostics.ts, runtime/txn/reader-health.ts),
 * over the simulator board's real reader driver and its virtual reader:
 *   - a management request (`unattended`: nobody at the terminal to present a test card) reports
 *     the reader instead of leaving it pending: whether it answers now, its last fault, the
 *     unreadable swipes in a row and the last swipe, with the code when it fails;
 *   - a self-test that fails is the reader's fault (idle and login show it), one that answers
 *     ends it; the menu's reader check that passes ends it too.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { Diagnostics, DiagResult, ErrorRing } from '../../boot/diagnostics';
import type { Report } from '../../boot/recovery';
import { PosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import type { KeyName } from '../../hal/keypad';
import { ReaderHealth } from '../../runtime/txn/reader-health';
import { READER_SWIPE_FAILURES_MAX, SwipeFailures } from '../../runtime/txn/swipe-failures';
import { SimBoard, createSimBoard } from '../../sim/board-sim';
import { TEST_CARDS } from '../../sim/test-cards';
import { DIAG_CHECKS } from '../../ui-lcd/screens';

const NETWORK_OK: Report = { action: 'network-test', ok: true, journaled: false, lines: ['OK'] };
/** 2026-01-02 11:04 in China (UTC+8), the board's zone. */
const NOW_MS = Date.UTC(2026, 0, 2, 3, 4);

describe('diagnostics: the card reader\'s state, remote and in the menu', function () {
  this.timeout(30_000);
  let sim: SimBoard | undefined;
  let diag: Diagnostics | undefined;
  let swipes: SwipeFailures;
  let health: ReaderHealth;
  beforeEach(async () => {
    sim = await createSimBoard();
    swipes = new SwipeFailures(() => NOW_MS);
    health = new ReaderHealth(() => NOW_MS, swipes);
  });
  afterEach(async () => { diag?.close(); await sim?.close(); sim = undefined; diag = undefined; });

  function open(unattended: boolean): Diagnostics {
    if (!sim) throw new Error('no board');
    return new Diagnostics({
      board: sim.board, journalDir: path.join(os.tmpdir(), 'pos-diag-reader-no-journal'), errors: new ErrorRing(),
      networkTest: async () => NETWORK_OK, pages: () => 1, changed: () => undefined, close: () => undefined,
      logger: silentLogger, clock: () => NOW_MS, swipes, readerHealth: health, ...(unattended ? { unattended: true } : {}),
    });
  }

  /** What the management channel reports: the automatic checks, then the reader's state. */
  async function remoteReport(): Promise<DiagResult> {
    diag = open(true);
    await diag.done;
    const r = diag.snapshot().find((x) => x.check === 'reader');
    diag.close();
    assert.ok(r);
    return r;
  }

  async function readerDone(d: Diagnostics): Promise<DiagResult> {
    for (let i = 0; i < 500; i++) {
      const r = d.snapshot().find((x) => x.check === 'reader');
      if (r && (r.state === 'ok' || r.state === 'fail')) return r;
      await new Promise((res) => setTimeout(res, 10));
    }
    throw new Error('the reader check did not finish');
  }

  it('aRemoteRequestReportsTheReaderWithoutATestCardInsteadOfLeavingItPending', async () => {
    const r = await remoteReport();
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    assert.match(r.lines[0], /^self-test ok /);
    assert.ok(r.lines.includes(`bad swipes in a row: 0 (fault over ${READER_SWIPE_FAILURES_MAX})`), r.lines.join(' / '));
    assert.ok(r.lines.includes('last swipe: none since start'));
    assert.ok(r.lines.includes('no test card: nobody at the terminal'));
    assert.ok(r.text?.some((l) => l.zh === '未用测试卡：终端前无人'), 'the Chinese half');
    // The tests that need a person's keys and eyes are still not run.
    assert.deepEqual(diag?.snapshot().filter((x) => x.state === 'pending').map((x) => x.check), ['keypad', 'display', 'touch', 'scanner'], 'the touch and scanner tests too, on a board with a signature pad and a scan engine');
  });

  it('theMenuStillLeavesTheReaderForThePersonToRun', async () => {
    diag = open(false);
    await diag.done;
    assert.equal(diag.snapshot().find((x) => x.check === 'reader')?.state, 'pending');
  });

  it('remotelyTheSwipesInARowPastTheirMaximumFailTheReaderWithE-RDR-01', async () => {
    for (let i = 0; i <= READER_SWIPE_FAILURES_MAX; i++) swipes.noteUnreadable(new PosError('RDR_UNREADABLE', 'swipe not readable', { source: 'swipe' }), 1);
    const r = await remoteReport();
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-RDR-01');
    assert.match(r.lines[0], /^self-test ok /, 'it answers: the head is at fault');
    assert.ok(r.lines.includes(`bad swipes in a row: ${READER_SWIPE_FAILURES_MAX + 1} (fault over ${READER_SWIPE_FAILURES_MAX})`), r.lines.join(' / '));
    assert.ok(r.lines.some((l) => l.startsWith('last swipe: unreadable 2026-01-02 11:04')), r.lines.join(' / '));
  });

  it('remotelyASilentReaderFailsE-RDR-03StandsAtIdleAndIsOverOnceItAnswersAgain', async () => {
    sim?.reader().goSilent();
    const silent = await remoteReport();
    assert.equal(silent.state, 'fail');
    assert.equal(silent.code, 'E-RDR-03');
    assert.ok(silent.lines.includes('no answer since start'), silent.lines.join(' / '));
    assert.ok(silent.lines.includes('last reader fault: E-RDR-03 2026-01-02 11:04'), silent.lines.join(' / '));
    assert.ok(silent.lines.some((l) => l.startsWith('bad swipes in a row: 0')), 'the swipe lines too');
    assert.equal(health.fault()?.code, 'E-RDR-03', 'idle and login show it');

    sim?.reader().wake();
    const back = await remoteReport();
    assert.equal(back.state, 'ok', back.lines.join(' / '));
    assert.equal(health.fault(), undefined, 'the notice is gone');
    assert.ok(back.lines.includes('last reader fault: E-RDR-03 2026-01-02 11:04'));
    assert.ok(back.lines.includes('answered since: fault over'));
  });

  it('theMenusReaderCheckThatPassesEndsAFaultIdleShowed', async () => {
    health.noteFailure(new PosError('RDR_TIMEOUT', 'no response to 0x02'));
    diag = open(false);
    await diag.done;
    diag.press(String(DIAG_CHECKS.indexOf('reader') + 1) as KeyName);
    await sim?.reader().detectionStarted();
    sim?.reader().swipe(TEST_CARDS.magDebit);
    const r = await readerDone(diag);
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    assert.equal(health.fault(), undefined);
    assert.ok(r.lines.includes('answered since: fault over'), r.lines.join(' / '));
  });

  it('theMenusSelfTestThatFailsIsTheReadersFault', async () => {
    sim?.reader().goSilent();
    diag = open(false);
    await diag.done;
    diag.press(String(DIAG_CHECKS.indexOf('reader') + 1) as KeyName);
    const r = await readerDone(diag);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-RDR-03');
    assert.equal(health.fault()?.code, 'E-RDR-03');
  });
});

/**
 * The card reader's notice on the terminal in this process (boot/terminal-app.ts), over the
 * simulator board's real reader driver and its virtual reader, and an acquirer simulator. The
 * board's 128x64 panel holds 16 cells a row: the notice (code, cause, first step) is read there in
 * turns, one every NOTICE_TURN_MS of the terminal's clock (tests/ui/notice-turns.test.ts has
 * every display); the clock here runs ahead on demand to move the turns on.
 *
 * A reader that fails the boot's self-test has that notice too, and it ends as any reader fault
 * does, when the reader answers again (runtime/txn/reader-health.ts): it was the self-test's bare
 * "E-RDR-03", which stood until the next restart whatever the reader did.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { TICK_MS, TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { silentLogger } from '../../common/log';
import type { KeyName } from '../../hal/keypad';
import { createSimBoard, SimBoard } from '../../sim/board-sim';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { removeDir, tempDir } from '../../storage/testing';
import { NOTICE_TURN_MS } from '../../ui-lcd/screen';

const WAIT_MS_MAX = 20_000;
/** E-RDR-03's notice row on 16 cells, turn by turn. */
const SILENT_TURNS = ['E-RDR-03', 'Card reader not', 'answering', 'Restart the', 'terminal'];

describe('terminal: the card reader\'s notice, read whole in turns', function () {
  this.timeout(90_000);
  let root: string;
  let host: AcquirerSimulator;
  let sim: SimBoard;
  let app: TerminalApp;
  let latest: ProbeSnapshot | undefined;
  /** How far the terminal's clock runs ahead of the real one. */
  let aheadMs = 0;

  /** The notice's row on the panel (its last), as the probe lays the screen out. */
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

  async function boot(o: { readerSilent?: boolean } = {}): Promise<void> {
    sim = await createSimBoard({ battery: { percent: 80 }, ...(o.readerSilent ? { beforeBoot: (s: SimBoard) => s.reader().goSilent() } : {}) });
    app = TerminalApp.create({
      board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: host.port },
      logger: silentLogger, scryptN: 1024, locale: 'en', clock: () => Date.now() + aheadMs,
    });
    app.probe.onChange((raw) => { latest = raw as ProbeSnapshot; });
    await app.boot();
    await until('the login screen', (s) => s.state === 'login');
  }

  async function signIn(): Promise<void> {
    await until('the operator field', (s) => s.state === 'login');
    type(['0', '1', 'OK']);
    type(['0', '0', '0', '0', 'OK']);
    await until('idle', (s) => s.state === 'idle');
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

  beforeEach(async () => {
    root = tempDir('posreadernotice-');
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

  it('aReaderFallingSilentInASaleIsReadAtIdleCodeCauseAndStepInTurnsAsTheClockMovesOn', async () => {
    await boot();
    await signIn();
    type(['3', 'OK']);
    await until('the card wait', (s) => s.state === 'sale.card');
    sim.reader().goSilent();
    await until('E-RDR-03', (s) => s.state === 'sale.cardError' && s.data.error?.code === 'E-RDR-03');
    type(['CANCEL']);
    await until('idle', (s) => s.state === 'idle' && s.screen.name === 'idle');
    const seen = await turnsRead('idle', SILENT_TURNS);
    for (const w of SILENT_TURNS) assert.ok(seen.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(seen)}`);
    for (const r of seen) assert.ok(SILENT_TURNS.includes(r), `${JSON.stringify(r)} is not a turn of the notice: ${JSON.stringify(seen)}`);
  });

  it('aReaderSilentAtTheBootSelfTestHasTheSameNoticeAsAnyReaderFaultAndItsAnswerLaterEndsIt', async () => {
    await boot({ readerSilent: true });
    // At login: the reader's notice (code, cause, step), not the self-test's bare code.
    const seen = await turnsRead('login', SILENT_TURNS);
    for (const w of SILENT_TURNS) assert.ok(seen.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(seen)}`);
    for (const r of seen) assert.ok(SILENT_TURNS.includes(r), `${JSON.stringify(r)} is not a turn of the notice: ${JSON.stringify(seen)}`);

    // Awake, but nothing asks the reader at idle: the notice stands.
    sim.reader().wake();
    await signIn();
    assert.ok(SILENT_TURNS.includes(noticeRow()), `still the reader's notice at idle: ${JSON.stringify(latest?.screen.text)}`);

    // The next sale's card wait: the reader answers its detection and the fault is over.
    type(['3', 'OK']);
    await until('the card wait', (s) => s.state === 'sale.card');
    type(['CANCEL']);
    await until('idle without the notice', (s) => s.state === 'idle' && s.screen.name === 'idle' && !SILENT_TURNS.includes(noticeRow(s)));
    // Gone, not between two turns: the next turns show none of it either.
    for (let turn = 0; turn < 2; turn++) {
      aheadMs += NOTICE_TURN_MS;
      await new Promise((r) => setTimeout(r, 2 * TICK_MS));
      assert.ok(!SILENT_TURNS.includes(noticeRow()), `the notice is over: ${JSON.stringify(latest?.screen.text)}`);
    }
  });
});

/**
 * What the in-process terminal tests of the idle and login notices share (tests/boot/*-notice.test.ts):
 * the terminal's last probe snapshot, a wait for a state, and the notice row read turn by turn while
 * the terminal's clock is run ahead (a notice too long for its row shows its parts in turns of
 * NOTICE_TURN_MS of that clock: boot/terminal-app.ts withNoticeTurn; the tick redraws: the tests
 * give the terminal NOTICE_TEST_TICK_MS for it).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { TerminalApp, ProbeSnapshot, TerminalAppOptions } from '../../boot/terminal-app';
import { NOTICE_TURN_MS } from '../../ui-lcd/screen';
import type { KeyName } from '../../hal/keypad';
import { silentLogger } from '../../common/log';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { createSimBoard, SimBoard, SimBoardOptions } from '../../sim/board-sim';
import { removeDir, tempDir } from '../../storage/testing';

/** Longest wait for a state the test expects. */
export const WAIT_MS_MAX = 20_000;

/** The terminal's tick in these tests (TerminalApp's tickMs): each turn read waits for one redraw. */
export const NOTICE_TEST_TICK_MS = 50;

export class NoticeWatch {
  /** The terminal's last probe snapshot. */
  latest: ProbeSnapshot | undefined;
  /** How far the terminal's clock runs ahead of the real one. */
  aheadMs = 0;
  private app: TerminalApp | undefined;

  /** The clock to give the terminal (TerminalApp.create's `clock`). */
  readonly clock = (): number => Date.now() + this.aheadMs;

  /** Follows `app`'s probe from now on. */
  watch(app: TerminalApp): void {
    this.app = app;
    app.probe.onChange((raw) => { this.latest = raw as ProbeSnapshot; });
  }

  /** Before a test: nothing seen, the clock not ahead. */
  reset(): void {
    this.latest = undefined;
    this.aheadMs = 0;
    this.app = undefined;
  }

  screenText(): string {
    return (this.latest?.screen.text ?? []).join('\n');
  }

  /** The notice's row on the panel (its last), as the probe lays the screen out. */
  noticeRow(s: ProbeSnapshot | undefined = this.latest): string {
    return s?.screen.text[s.screen.text.length - 1] ?? '';
  }

  /** The first snapshot (the last one, or a later one) that passes `test`. */
  until(what: string, test: (s: ProbeSnapshot) => boolean, timeoutMs = WAIT_MS_MAX): Promise<ProbeSnapshot> {
    const app = this.app;
    if (this.latest && test(this.latest)) return Promise.resolve(this.latest);
    if (app === undefined) return Promise.reject(new Error(`${what}: no terminal watched`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error(`${what}: not reached in ${timeoutMs} ms; at ${this.latest?.state}, the screen shows:\n${this.screenText()}`)); }, timeoutMs);
      const stop = app.probe.onChange((raw) => {
        const s = raw as ProbeSnapshot;
        if (test(s)) { clearTimeout(timer); stop(); resolve(s); }
      });
    });
  }

  /**
   * The notice row's turns seen while the clock runs ahead a turn at a time, until every one of
   * `want` was seen (a real-time turn on the way may skip one; it comes round again).
   */
  async turnsRead(state: string, want: readonly string[]): Promise<string[]> {
    const seen = [this.noticeRow()];
    for (let i = 0; i < 3 * want.length && !want.every((w) => seen.includes(w)); i++) {
      const before = this.noticeRow();
      this.aheadMs += NOTICE_TURN_MS;
      const s = await this.until(`the notice's next turn after ${JSON.stringify(before)} (seen ${JSON.stringify(seen)})`, (x) => x.state === state && this.noticeRow(x) !== before, 4 * NOTICE_TURN_MS);
      seen.push(this.noticeRow(s));
    }
    return seen;
  }

  /** Every turn of `want` seen, and nothing else on the notice row meanwhile. */
  async assertNoticeIs(state: string, want: readonly string[]): Promise<void> {
    const seen = await this.turnsRead(state, want);
    for (const w of want) assert.ok(seen.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(seen)}`);
    for (const r of seen) assert.ok(want.includes(r), `${JSON.stringify(r)} is not a turn of the notice: ${JSON.stringify(seen)}`);
  }

  /** The notice is over: not on the row now, nor over the next `turnsAhead` turns (default: as many as it has). */
  async assertNoNotice(turns: readonly string[], turnsAhead = turns.length): Promise<void> {
    const over = (): void => assert.ok(!turns.includes(this.noticeRow()), `the notice is over: ${JSON.stringify(this.latest?.screen.text)}`);
    over();
    for (let turn = 0; turn < turnsAhead; turn++) {
      this.aheadMs += NOTICE_TURN_MS;
      await new Promise((r) => setTimeout(r, 2 * NOTICE_TEST_TICK_MS));
      over();
    }
  }
}

/**
 * One in-process terminal on the simulator board for a notice test, fresh for each test: a
 * temporary folder, the acquirer simulator, the board (battery at 80 %), the app with the watch's
 * clock and NOTICE_TEST_TICK_MS, English. `hooks()` in the describe makes and removes them.
 */
export class NoticeRig {
  readonly w = new NoticeWatch();
  private parts: { root: string; host: AcquirerSimulator; sim?: SimBoard; app?: TerminalApp } | undefined;

  constructor(private readonly tempPrefix: string) {}

  get root(): string { return this.need().root; }
  get host(): AcquirerSimulator { return this.need().host; }
  get sim(): SimBoard { return this.need().sim ?? assert.fail('no board: boot() first'); }
  get app(): TerminalApp { return this.need().app ?? assert.fail('no terminal: boot() first'); }

  /** beforeEach and afterEach of the calling describe. */
  hooks(): void {
    beforeEach(async () => {
      const host = new AcquirerSimulator({ clock: Date.now });
      await host.listen(0);
      this.parts = { root: tempDir(this.tempPrefix), host };
      this.w.reset();
    });
    afterEach(async () => {
      const p = this.parts;
      this.parts = undefined;
      if (!p) return;
      await p.app?.stop();
      await p.sim?.close();
      await p.host.close();
      removeDir(p.root);
    });
  }

  /**
   * Boots the terminal (`board` added to createSimBoard's options, `app` to TerminalApp.create's)
   * and waits for `until` (default: the login screen).
   */
  async boot(o: { board?: SimBoardOptions; app?: (sim: SimBoard) => Partial<TerminalAppOptions>; until?: (s: ProbeSnapshot) => boolean } = {}): Promise<void> {
    const p = this.need();
    assert.equal(p.app, undefined, 'a terminal runs: stop() it first');
    const sim = await createSimBoard({ battery: { percent: 80 }, ...o.board });
    p.sim = sim;
    p.app = TerminalApp.create({
      board: sim.board, journalDir: join(p.root, 'journal'), backupDir: join(p.root, 'backup'), host: { host: '127.0.0.1', port: p.host.port },
      logger: silentLogger, scryptN: 1024, locale: 'en', clock: this.w.clock, tickMs: NOTICE_TEST_TICK_MS, ...o.app?.(sim),
    });
    this.w.watch(p.app);
    await p.app.boot();
    await this.w.until('the login screen', o.until ?? ((s) => s.state === 'login'));
  }

  /** Stops the terminal and its board (a test that boots again: the journal and the host stay). */
  async stop(): Promise<void> {
    const p = this.need();
    await p.app?.stop();
    await p.sim?.close();
    p.app = undefined;
    p.sim = undefined;
  }

  /** Presses the keys one after another (each press as the keypad would report it). */
  type(keys: readonly KeyName[]): void {
    for (const k of keys) this.app.press(k);
  }

  /** The cashier 01 (password 0000) logs in; waits for idle. */
  async logIn(): Promise<void> {
    this.type(['0', '1', 'OK']);
    this.type(['0', '0', '0', '0', 'OK']);
    await this.w.until('idle', (s) => s.state === 'idle');
  }

  private need(): NonNullable<NoticeRig['parts']> {
    return this.parts ?? assert.fail('outside a test: NoticeRig.hooks() makes the parts before each');
  }
}

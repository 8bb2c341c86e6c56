/**
 * What the in-process terminal tests of the idle and login notices share (tests/boot/*-notice.test.ts):
 * the terminal's last probe snapshot, a wait for a state, and the notice row read turn by turn while
 * the terminal's clock is run ahead (a notice too long for its row shows its parts in turns of
 * NOTICE_TURN_MS of that clock: boot/terminal-app.ts withNoticeTurn; the tick redraws: the tests
 * give the terminal NOTICE_TEST_TICK_MS for it).
 */
import { strict as assert } from 'node:assert';
import { TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { NOTICE_TURN_MS } from '../../ui-lcd/screen';

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

/**
 * The front panel across a battery pull (issue 13 item 17): it shows at once that the terminal is
 * off, then booting, and never the screen the killed process last answered, even when that
 * process's replies are still in flight.
 */
import { strict as assert } from 'node:assert';
import type { ControlClient, Reply } from './control-client';
import { FrontPanel, OFF_SHOWN_MS, PAPER_EMPTY, PAPER_LINES_KEPT, REDRAW_MS, nextPaper } from './front-panel';

/** A stand-in for the control client: answers every request with the given screen, until closed. */
function fakeClient(screenLine: string): ControlClient & { wasClosed: boolean } {
  const c = {
    wasClosed: false,
    request(cmd: string): Promise<Reply> {
      if (c.wasClosed) return Promise.resolve({ ok: false, error: 'control connection closed' });
      const replies: Record<string, Reply> = {
        screen: { ok: true, kind: 'text', lines: [screenLine], name: 'idle', text: [screenLine] },
        state: { ok: true, state: 'idle' },
        leds: { ok: true, leds: { power: true } },
        receipts: { ok: true, receipts: [] },
        battery: { ok: true, percent: 100, charging: false },
      };
      return Promise.resolve(replies[cmd] ?? { ok: true });
    },
    close(): void { c.wasClosed = true; },
  };
  // The panel uses request and close only; the rest of ControlClient is not needed here.
  return c as unknown as ControlClient & { wasClosed: boolean };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('front panel: battery pulled', () => {
  it('showsOffAtOnceThenBootingAndNeverTheKilledTerminalsLastScreen', async () => {
    const frames: string[] = [];
    let powerBack: ((c: ControlClient) => void) | undefined;
    const old = fakeClient('OLD SCREEN');
    const panel = new FrontPanel(old, {
      hostPort: 1, controlPort: () => 2, quit: () => undefined,
      pullBattery: () => new Promise<ControlClient>((resolve) => { powerBack = resolve; }),
    }, (s) => frames.push(s));
    panel.start();
    try {
      await sleep(REDRAW_MS * 3);
      assert.match(frames.at(-1) ?? '', /OLD SCREEN/, 'before the pull: the terminal as it answers');

      const pulled = panel.input('x');
      await new Promise((r) => setImmediate(r)); // the key's turn in the panel's input queue
      // At once, before the terminal process is even gone: off, with nothing of the old screen.
      assert.match(frames.at(-1) ?? '', /off: battery pulled/);
      assert.match(frames.at(-1) ?? '', /state: off \(battery pulled\)/);
      assert.doesNotMatch(frames.at(-1) ?? '', /OLD SCREEN/);
      assert.equal(old.wasClosed, true, 'the killed terminal is no longer asked');

      await sleep(OFF_SHOWN_MS + REDRAW_MS * 2);
      const booting = frames.at(-1) ?? '';
      assert.match(booting, /booting/);
      assert.doesNotMatch(booting, /OLD SCREEN/);
      assert.ok(frames.slice(frames.findIndex((f) => /off: battery pulled/.test(f))).every((f) => !/OLD SCREEN/.test(f)), 'no frame after the pull shows the old screen');

      powerBack?.(fakeClient('NEW SCREEN'));
      await pulled;
      await sleep(REDRAW_MS * 3);
      assert.match(frames.at(-1) ?? '', /NEW SCREEN/);
      assert.match(frames.at(-1) ?? '', /power back/);
    } finally {
      panel.stop();
    }
  });

  it('quitsAtOnceEvenWhileTheTerminalIsStillBootingAfterAPull', async () => {
    let quits = 0;
    const panel = new FrontPanel(fakeClient('OLD SCREEN'), {
      hostPort: 1, controlPort: () => 2, quit: () => { quits++; },
      pullBattery: () => new Promise<ControlClient>(() => undefined), // a boot that does not finish
    }, () => undefined);
    void panel.input('x');
    await new Promise((r) => setImmediate(r));
    void panel.input('q');
    assert.equal(quits, 1, 'q did not wait behind the battery pull');
    panel.stop();
  });
});

describe('front panel: the paper roll', () => {
  const receipt = (name: string, lines: number, cut: boolean): { lines: string[]; cut: boolean } =>
    ({ lines: Array.from({ length: lines }, (_, i) => `${name} ${i}`), cut });

  it('aReceiptReadHalfPrintedIsDrawnWholeOnceItIsCut', () => {
    let paper = nextPaper(PAPER_EMPTY, { shed: 0, receipts: [receipt('merchant', 3, true), receipt('customer', 2, false)] });
    assert.deepEqual(paper.printing, ['customer 0', 'customer 1']);
    paper = nextPaper(paper, { shed: 0, receipts: [receipt('merchant', 3, true), receipt('customer', 5, true)] });
    assert.deepEqual(paper.printing, []);
    assert.deepEqual(paper.cutLines.filter((l) => l.startsWith('customer')), ['customer 0', 'customer 1', 'customer 2', 'customer 3', 'customer 4']);
    assert.equal(paper.cutLines.filter((l) => l.startsWith('merchant')).length, 3, 'the merchant copy once, not again');
  });

  it('newReceiptsStillShowAfterThePrinterShedsOldOnes', () => {
    // The printer holds its newest 2: the list stays 2 long while receipts go on printing.
    let paper = nextPaper(PAPER_EMPTY, { shed: 0, receipts: [receipt('a', 1, true), receipt('b', 1, true)] });
    paper = nextPaper(paper, { shed: 1, receipts: [receipt('b', 1, true), receipt('c', 1, true)] });
    paper = nextPaper(paper, { shed: 3, receipts: [receipt('d', 1, true), receipt('e', 1, true)] });
    assert.deepEqual(paper.cutLines.filter((l) => !l.startsWith('-')), ['a 0', 'b 0', 'c 0', 'd 0', 'e 0']);
    assert.equal(paper.cutSeen, 5);
  });

  it('keepsOnlyTheNewestLines', () => {
    let paper = PAPER_EMPTY;
    for (let n = 1; n <= 100; n++) paper = nextPaper(paper, { shed: n - 1, receipts: [receipt(`r${n}`, 5, true)] });
    assert.equal(paper.cutLines.length, PAPER_LINES_KEPT);
    assert.equal(paper.cutLines[paper.cutLines.length - 2], 'r100 4');
  });
});

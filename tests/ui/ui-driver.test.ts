import * as assert from 'node:assert/strict';
import { FrameBuffer, PixelDisplay, Region, TextDisplay } from '../../hal/display';
import { LcdUi, changedSpan, changedRegion } from '../../ui-lcd/ui';
import { LocaleSetting } from '../../ui-lcd/strings';
import { screenFor } from '../../ui-lcd/screens';
import { createSimBoard } from '../../sim/board-sim';
import { renderScreen } from '../../ui-lcd/screen';
import { frameToAscii } from '../../ui-lcd/render-pixels';
import { AmountEntry } from '../../ui-lcd/widgets';
import { KeyEvent } from '../../hal/keypad';
import { NOW_MS } from './fixtures';

class RecordingText implements TextDisplay {
  readonly capabilities = { kind: 'text', cols: 16, rows: 2 } as const;
  readonly writes: Array<[number, number, string]> = [];
  async init(): Promise<void> {}
  async clear(): Promise<void> {}
  async setPower(): Promise<void> {}
  async close(): Promise<void> {}
  async setCursor(): Promise<void> {}
  async writeText(row: number, col: number, text: string): Promise<void> { this.writes.push([row, col, text]); }
}

class RecordingPixels implements PixelDisplay {
  readonly capabilities = { kind: 'pixels', width: 128, height: 64 } as const;
  readonly regions: Array<Region | undefined> = [];
  async init(): Promise<void> {}
  async clear(): Promise<void> {}
  async setPower(): Promise<void> {}
  async close(): Promise<void> {}
  async drawFrame(_f: FrameBuffer, region?: Region): Promise<void> { this.regions.push(region); }
}

describe('ui-lcd LcdUi: sends only what changed', () => {
  it('textDisplayGetsOnlyTheChangedSpanOfTheChangedRow', async () => {
    const d = new RecordingText();
    const ui = new LcdUi(d, { locale: 'en' });
    await ui.show(screenFor('saleAmount', { amountFen: 12 }));
    assert.equal(d.writes.length, 2, 'first show writes every row');
    d.writes.length = 0;
    const st = await ui.show(screenFor('saleAmount', { amountFen: 123 }));
    assert.deepEqual(d.writes, [[1, 12, '1.23']]);
    assert.equal(st.rowsWritten, 1);
    d.writes.length = 0;
    const same = await ui.show(screenFor('saleAmount', { amountFen: 123 }));
    assert.deepEqual(d.writes, []);
    assert.equal(same.changed, false);
  });

  it('pixelDisplayGetsTheBoundingRegionOfChangedPixels', async () => {
    const d = new RecordingPixels();
    const ui = new LcdUi(d, { locale: 'zh-CN' });
    await ui.show(screenFor('saleAmount', { amountFen: 12 }));
    assert.deepEqual(d.regions[0], { x: 0, y: 0, width: 128, height: 64 });
    const st = await ui.show(screenFor('saleAmount', { amountFen: 123 }));
    const r = st.region!;
    assert.ok(r.y >= 32 && r.y + r.height <= 48, `only the value row changed: ${JSON.stringify(r)}`);
  });

  it('switchingTheLocaleRedrawsTheCurrentScreen', async () => {
    const d = new RecordingText();
    const locale = new LocaleSetting('zh-CN');
    const ui = new LcdUi(d, { locale });
    await ui.show(screenFor('mainMenu'));
    const before = d.writes.length;
    locale.set('en'); // text LCD shows English in both: nothing differs, nothing is sent
    await ui.show(ui.current()!);
    assert.equal(d.writes.length, before);
    const p = new RecordingPixels();
    const ui2 = new LcdUi(p, { locale });
    await ui2.show(screenFor('mainMenu'));
    locale.set('zh-CN');
    await new Promise((r) => setImmediate(r));
    await ui2.show(ui2.current()!);
    assert.equal(p.regions.length, 2, 'pixel display redrawn in Chinese');
  });

  it('aBurstOfScreensCollapsesAndRendersInOrder', async () => {
    const d = new RecordingText();
    const ui = new LcdUi(d, { locale: 'en' });
    const shows = [1, 12, 123, 1234].map((fen) => ui.show(screenFor('saleAmount', { amountFen: fen })));
    await Promise.all(shows);
    assert.equal(d.writes.filter(([row]) => row === 1).length, 1, 'only the latest amount was written');
    assert.ok(d.writes.some(([, , s]) => s.includes('12.34')));
  });

  it('spanAndRegionHelpers', () => {
    assert.deepEqual(changedSpan('abcd', 'abXd'), { from: 2, to: 3 });
    assert.equal(changedSpan('abcd', 'abcd'), undefined);
    const a = new FrameBuffer(128, 64);
    const b = new FrameBuffer(128, 64);
    b.set(20, 30, true);
    b.set(40, 33, true);
    assert.deepEqual(changedRegion(a, b), { x: 16, y: 30, width: 32, height: 4 });
  });
});

describe('ui-lcd through the real drivers on the simulator board', () => {
  it('ssd1306ChipModelShowsExactlyTheRenderedFrameAndAKeyPressUpdatesIt', async () => {
    const sim = await createSimBoard();
    try {
      await sim.board.selfTest();
      const ui = new LcdUi(sim.board.display(), { locale: 'zh-CN' });
      const idle = screenFor('idle', { merchantName: { en: 'DEMO', zh: '演示商户' }, nowMs: NOW_MS, status: { batteryPercent: 80, network: 'up', host: 'online' } });
      await ui.show(idle);
      const expected = renderScreen(idle, 'zh-CN', { kind: 'pixels', width: 128, height: 64 });
      assert.ok(expected.kind === 'pixels');
      assert.equal(sim.oled().toAscii(), frameToAscii(expected.frame));

      // A key through the matrix keypad driver changes the amount on the glass.
      const amount = new AmountEntry({ clock: () => performance.now() });
      await ui.show(screenFor('saleAmount', { amountFen: amount.amountFen }));
      const shown = new Promise<void>((resolve) => {
        sim.board.keypad().onKey((e: KeyEvent) => {
          if (e.type !== 'down') return;
          amount.press(e.key);
          void ui.show(screenFor('saleAmount', { amountFen: amount.amountFen })).then(() => resolve());
        });
      });
      sim.keypad().press('7');
      await shown;
      sim.keypad().release('7');
      const seven = renderScreen(screenFor('saleAmount', { amountFen: 7 }), 'zh-CN', { kind: 'pixels', width: 128, height: 64 });
      assert.ok(seven.kind === 'pixels');
      assert.equal(sim.oled().toAscii(), frameToAscii(seven.frame));
    } finally {
      await sim.close();
    }
  });

  it('hd44780ChipModelShowsTheRenderedRowsInEnglishForAZhLocale', async () => {
    const sim = await createSimBoard({ board: 'rpi-dev' });
    try {
      await sim.board.selfTest();
      const ui = new LcdUi(sim.board.display(), { locale: 'zh-CN' });
      await ui.show(screenFor('pin', { amountFen: 1234, pan: '6228480402564890018', pinLength: 2 }));
      await ui.show(screenFor('pin', { amountFen: 1234, pan: '6228480402564890018', pinLength: 4 }));
      assert.deepEqual(sim.lcd().text(), ['Enter PIN           ', 'Amount RMB 12.34    ', '622848*********0018 ', 'PIN             ****']);
      assert.deepEqual(sim.lcd().violations, []);
      await ui.show(screenFor('error', { code: 'E-PRN-01' }));
      assert.equal(sim.lcd().text()[0].slice(0, 8), 'E-PRN-01');
    } finally {
      await sim.close();
    }
  });
});

import * as assert from 'node:assert/strict';
import { STATE_NAMES, StateName, screenFor, DEFAULTS } from '../../ui-lcd/screens';
import { renderScreen } from '../../ui-lcd/screen';
import { formatYuan } from '../../ui-lcd/strings';
import { DISPLAYS, SAMPLES } from './fixtures';
import { LOCALES } from '../../ui-lcd/screen';
import { layout } from '../../ui-lcd/layout';
import { pixelGrid } from '../../ui-lcd/render-pixels';
import { textGrid } from '../../ui-lcd/render-text';
import { errorByCode } from '../../common/errors';
import { checkedRender } from './render-check';
import { matchSnapshot } from './snapshot';

describe('ui-lcd screens: snapshots of every state, both languages, 16x2 / 20x4 / 128x64', () => {
  for (const state of STATE_NAMES) {
    it(`${state}MatchesItsSnapshotAndFitsEveryDisplay`, () => {
      const samples = SAMPLES[state] as ReadonlyArray<{ variant: string; data: Record<string, unknown> }>;
      assert.ok(samples.length > 0, `tests/ui/fixtures.ts has no sample for ${state}`);
      const text = samples.map((s) => `#### ${state} ${s.variant}\n${checkedRender(screenFor(state, s.data), `${state}/${s.variant}`)}`).join('\n');
      matchSnapshot(`screen-${state}`, text);
    });
  }

  it('everyStateRendersFromItsDefaultsAlone', () => {
    for (const state of Object.keys(DEFAULTS) as StateName[]) checkedRender(screenFor(state), `${state}/defaults`);
  });

  it('anUnknownStateNameShowsTheInternalErrorNamingTheState', () => {
    const s = screenFor('someNewState', {});
    assert.equal(s.title, 'E-SYS-99');
    const r = renderScreen({ ...s, page: 0 }, 'en', { kind: 'text', cols: 20, rows: 4 });
    assert.ok(r.kind === 'text' && r.rows[0].startsWith('E-SYS-99'));
    assert.deepEqual(s.lines, ['state someNewState']);
  });

  it('pinScreenShowsTheMaskedPanAndStarsNeverDigits', () => {
    const s = screenFor('pin', { pan: '6228480402564890018', pinLength: 4, amountFen: 1234 });
    assert.ok(JSON.stringify(s).includes('622848*********0018'));
    assert.ok(!JSON.stringify(s).includes('0402564890'));
    assert.equal(s.input?.digits, '****');
  });

  it('settlementAmountsAreTheSharedYuanFormat', () => {
    // One formatter (ui-lcd/strings.ts formatYuan) for every screen amount without a currency sign;
    // the screens' own copy printed a negative amount as "-2.-50".
    for (const [saleFen, refundFen] of [[5, 0], [123_456, 99_999_999], [-250, -5]]) {
      const lines = screenFor('settlementResult', { saleCount: 1, saleFen, refundCount: 1, refundFen }).lines ?? [];
      const en = lines.map((l) => (typeof l === 'string' ? l : 'en' in l ? l.en : ''));
      assert.ok(en.some((l) => l.includes(formatYuan(saleFen)) && !l.includes('.-')), `${saleFen}: ${en.join(' | ')}`);
      assert.ok(en.some((l) => l.includes(formatYuan(refundFen)) && !l.includes('.-')), `${refundFen}: ${en.join(' | ')}`);
    }
    assert.deepEqual([formatYuan(5), formatYuan(-250), formatYuan(99_999_999)], ['0.05', '-2.50', '999999.99']);
  });

  it('settlementAndBootProgressFillTheBarInProportion', () => {
    const half = renderScreen(screenFor('boot', { stepIndex: 2, stepCount: 4 }), 'en', { kind: 'text', cols: 20, rows: 4 });
    assert.ok(half.kind === 'text');
    assert.equal(half.rows[2], '[#######       ] 2/4');
  });
});

describe('ui-lcd screens: a copy waiting for the printer names the printer\'s error', () => {
  const text = (s: ReturnType<typeof screenFor>, locale: 'en' | 'zh-CN'): string =>
    JSON.stringify(s, (_k, v: unknown) => (v && typeof v === 'object' && 'en' in v && 'zh' in v ? (v as { en: string; zh: string })[locale === 'en' ? 'en' : 'zh'] : v));

  it('paperOutSaysLoadPaperOnlyForPaperOut', () => {
    for (const code of [undefined, 'E-PRN-01']) {
      const s = screenFor('paperOut', { copy: 'customer', ...(code ? { code } : {}) });
      assert.match(text(s, 'en'), /Paper out/);
      assert.match(text(s, 'zh-CN'), /请装纸/);
    }
  });

  it('aCoverOpenOrAPrinterFaultIsNamedWithItsCodeAndFirstStepNotLoadPaper', () => {
    const cases = [['E-PRN-02', 'Printer cover open', 'Close the cover', '打印机盖未合上'], ['E-PRN-03', 'Printer fault', 'Clear any paper jam', '打印机故障'], ['E-PRN-04', 'Printer not answering', 'Check the printer cable', '打印机无响应']] as const;
    for (const [code, cause, step, zhCause] of cases) {
      const s = screenFor('paperOut', { copy: 'merchant', code, eReceipt: 'https://r.example/1' });
      const en = text(s, 'en');
      const zh = text(s, 'zh-CN');
      assert.equal(s.title, code, 'the code is the title, as on its error screen');
      assert.ok(en.includes(cause) && en.includes(step), `${code}: ${en}`);
      assert.ok(zh.includes(zhCause) && zh.includes(code), `${code}: ${zh}`);
      assert.doesNotMatch(en, /Paper out|Load paper/, `${code} is not paper out`);
      assert.doesNotMatch(zh, /缺纸|请装纸/, `${code} is not paper out`);
      checkedRender(s, `paperOut ${code}`);
    }
  });

  it('theCauseReadsWholeOnEveryDisplayInBothLanguagesPagedNotCut', () => {
    // As the title it was cut to the row beside the page tag: 'Battery too' (E-PWR-03), 'Printer'
    // (E-PRN-02, 03, 06), 'Printer not', 'Receipt not'; 电量过低无法 on the panel.
    for (const code of ['E-PWR-03', 'E-PRN-02', 'E-PRN-03', 'E-PRN-04', 'E-PRN-05', 'E-PRN-06']) {
      const def = errorByCode(code);
      assert.ok(def, code);
      const s = screenFor('paperOut', { copy: 'merchant', code });
      for (const d of DISPLAYS) {
        for (const locale of LOCALES) {
          const grid = d.caps.kind === 'text' ? textGrid(d.caps) : pixelGrid(d.caps);
          const pageCount = layout(s, locale, grid).pageCount;
          const rows: string[] = [];
          for (let page = 0; page < pageCount; page++) {
            const l = layout({ ...s, page }, locale, grid);
            assert.equal(l.rows[0].text, code, `${code} ${d.name} ${locale} page ${page}: the code is the title`);
            rows.push(...l.rows.slice(1).filter((r) => r.kind === 'body').map((r) => r.text));
          }
          // A character LCD shows English (no Chinese in the HD44780 ROM).
          const want = d.caps.kind === 'text' || locale === 'en' ? def.en : def.zh;
          const body = rows.join(' ').replace(/\s+/g, '');
          assert.ok(body.includes(want.cause.replace(/\s+/g, '')), `${code} ${d.name} ${locale}: cause not whole in ${JSON.stringify(rows)}`);
          assert.ok(body.includes(want.steps[0].replace(/\s+/g, '')), `${code} ${d.name} ${locale}: first step not whole in ${JSON.stringify(rows)}`);
        }
      }
    }
  });
});

/**
 * What a merchant sees while selling, on every display: lines break between words (CJK between
 * characters), never inside a word or a masked card number; an entry screen (whose keys belong to
 * its field, so UP/DOWN cannot page it) shows no page tag; a card number wider than the display is
 * shown whole.
 */
import * as assert from 'node:assert/strict';
import { STRINGS, resolve } from '../../ui-lcd/strings';
import { ERRORS } from '../../common/errors';
import { screenFor, STATE_NAMES, StateName } from '../../ui-lcd/screens';
import { Grid, layout, wrap } from '../../ui-lcd/layout';
import { pixelGrid } from '../../ui-lcd/render-pixels';
import { textGrid } from '../../ui-lcd/render-text';
import { renderScreen } from '../../ui-lcd/screen';
import { SAMPLES } from './fixtures';

const GRIDS: ReadonlyArray<[string, Grid]> = [
  ['16x2', textGrid({ kind: 'text', cols: 16, rows: 2 })],
  ['20x4', textGrid({ kind: 'text', cols: 20, rows: 4 })],
  ['128x64', pixelGrid({ kind: 'pixels', width: 128, height: 64 })],
];

/** Every text a screen body can hold: strings, error causes and numbered steps (character LCDs show English only). */
function allTexts(grid: Grid): string[] {
  const langs = grid.ascii ? (['en'] as const) : (['en', 'zh'] as const);
  const out: string[] = [];
  for (const v of Object.values(STRINGS)) for (const lang of langs) out.push(v[lang]);
  for (const e of Object.values(ERRORS)) {
    for (const lang of langs) {
      out.push(e[lang].cause);
      e[lang].steps.forEach((step, i) => out.push(`${i + 1}.${step}`));
    }
  }
  return out;
}

/** The ASCII words of `s` (runs between spaces and wide characters). */
function words(s: string, grid: Grid): string[] {
  return s.split(/\s+/).flatMap((w) => w.split(/[^\x00-\x7f]+/u)).filter((w) => w !== '' && [...w].every((ch) => grid.cellsOf(ch) === 1));
}

describe('ui-lcd selling screens: wrapping, paging and long card numbers', () => {
  it('wrapBreaksOnlyBetweenWordsOnEveryDisplayWidth', () => {
    for (const [name, grid] of GRIDS) {
      for (const text of allTexts(grid)) {
        const lines = wrap(text, grid.cols, grid);
        const whole = new Set(words(text, grid));
        for (const line of lines) {
          for (const w of words(line, grid)) {
            // A word wider than the line may only be split after one of its '/', '-', '.', ':'.
            const part = [...whole].some((x) => x.length > grid.cols && x.includes(w) && /[/\-.:_]$/.test(w) || x.length > grid.cols && x.endsWith(w));
            assert.ok(whole.has(w) || part, `${name}: "${text}" broke inside a word: line "${line}"`);
          }
        }
      }
    }
  });

  it('aMaskedCardNumberIsNeverSplitAcrossLinesButLosesStarsToFit', () => {
    for (const [name, grid] of GRIDS) {
      const lines = wrap('Card 622202*********0128 used', grid.cols, grid);
      const pan = lines.find((l) => /622202\**0128/.test(l));
      assert.ok(pan, `${name}: the masked number is on one line: ${JSON.stringify(lines)}`);
      assert.ok(!lines.some((l) => /^\*+\d*$|^\d{1,5}$/.test(l)), `${name}: a piece of the number on a line of its own: ${JSON.stringify(lines)}`);
    }
    assert.deepEqual(wrap('622202*********0128', 16, GRIDS[0][1]), ['622202******0128']);
  });

  it('theChineseBodyBreaksBetweenCharactersAndKeepsAsciiWordsWhole', () => {
    const grid = GRIDS[2][1];
    const lines = wrap('请持卡人在小票上签名 622202*********0128', 16, grid);
    assert.deepEqual(lines, ['请持卡人在小票上', '签名', '622202******0128']);
  });

  it('aLatinWordWrittenOntoTheChineseCharacterAfterItStaysWithIt', () => {
    const grid = GRIDS[2][1];
    // E-STO-15's step, where to export: "U" alone at a row's end and "盘导出" on the next read as nothing.
    assert.deepEqual(wrap('在恢复菜单中用U盘导出', 16, grid), ['在恢复菜单中用', 'U盘导出']);
    // Everywhere: no row ends in a Latin word the next row's first Chinese character belongs to (SIM卡, PIN码, 4G模块).
    for (const text of allTexts(grid)) {
      const lines = wrap(text, grid.cols, grid);
      for (let i = 0; i + 1 < lines.length; i++) {
        const split = /[A-Za-z0-9]$/.test(lines[i]) && grid.cellsOf([...lines[i + 1]][0] ?? ' ') === 2 && text.replace(/\s+/g, '').includes(`${lines[i].slice(-1)}${[...lines[i + 1]][0]}`);
        assert.ok(!split, `"${text}": ${JSON.stringify(lines)}`);
      }
    }
  });

  it('entryScreensShowNoPageTagSinceTheirKeysBelongToTheField', () => {
    for (const state of STATE_NAMES) {
      const samples = SAMPLES[state] as ReadonlyArray<{ variant: string; data: Record<string, unknown> }>;
      for (const s of samples) {
        const screen = screenFor(state as StateName, s.data);
        if (!screen.input) continue;
        for (const [name, grid] of GRIDS) {
          for (const locale of ['zh-CN', 'en'] as const) {
            const l = layout(screen, locale, grid);
            assert.equal(l.pageCount, 1, `${state}/${s.variant} ${locale} ${name} pages`);
            assert.ok(!l.rows.some((r) => /^\d+\/\d+$/.test(r.right ?? '')), `${state}/${s.variant} ${locale} ${name} shows a page tag`);
          }
        }
      }
    }
  });

  it('thePinScreenShowsTheAmountAndMaskedCardWithoutAPageTagWhereTheyFit', () => {
    const screen = screenFor('pin', { amountFen: 1234, pan: '6228480402564890018', pinLength: 4 });
    for (const [name, grid] of GRIDS.slice(1)) {
      for (const locale of ['zh-CN', 'en'] as const) {
        const rows = layout(screen, locale, grid).rows;
        const text = rows.map((r) => `${r.text}${r.right ?? ''}`).join('|');
        assert.ok(!/\d\/\d/.test(rows[0].right ?? ''), `${name} ${locale}: ${text}`);
        assert.ok(/622848\*+0018/.test(text), `${name} ${locale}: the masked card: ${text}`);
        assert.ok(/12\.34/.test(text), `${name} ${locale}: the amount: ${text}`);
        assert.ok(text.includes('****'), `${name} ${locale}: the PIN stars: ${text}`);
      }
    }
  });

  it('aTitleTooLongForItsRowIsCutAtTheEndOfAWord', () => {
    for (const state of STATE_NAMES) {
      for (const s of SAMPLES[state] as ReadonlyArray<{ variant: string; data: Record<string, unknown> }>) {
        const screen = screenFor(state as StateName, s.data);
        const full = resolve(screen.title, 'en', true);
        if (screen.notice !== undefined) continue; // a 2-row display shows the notice there instead
        for (const [name, grid] of GRIDS.slice(0, 2)) {
          const row = layout(screen, 'en', grid).rows[0];
          if (row.kind !== 'title' || row.text === full || row.text === '') continue;
          const firstWordTooWide = !full.slice(0, row.text.length + 1).includes(' ');
          assert.ok(full.startsWith(`${row.text} `) || firstWordTooWide, `${state}/${s.variant} ${name}: "${full}" cut to "${row.text}"`);
        }
      }
    }
  });

  it('aNineteenDigitCardNumberBeingKeyedIsShownWholeOnEveryDisplay', () => {
    const pan = '6222021234567890128';
    const screen = screenFor('keyedCard', { stage: 'pan', digits: pan, transaction: 'sale' });
    for (const caps of [{ kind: 'text', cols: 16, rows: 2 }, { kind: 'text', cols: 20, rows: 4 }] as const) {
      const r = renderScreen(screen, 'en', caps);
      assert.ok(r.kind === 'text');
      assert.ok(r.rows.join('').replace(/\s/g, '').includes(pan), `${caps.cols}x${caps.rows}: ${JSON.stringify(r.rows)}`);
    }
    const rows = layout(screen, 'zh-CN', GRIDS[2][1]).rows.map((r) => r.text);
    assert.ok(rows.join('').includes(pan), `128x64: ${JSON.stringify(rows)}`);
  });
});

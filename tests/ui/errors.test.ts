import * as assert from 'node:assert/strict';
import { ERRORS, ErrorId } from '../../common/errors';
import { errorScreen, allErrorScreens } from '../../ui-lcd/error-screens';
import { LOCALES, renderScreen } from '../../ui-lcd/screen';
import { layout } from '../../ui-lcd/layout';
import { pixelGrid } from '../../ui-lcd/render-pixels';
import { textGrid } from '../../ui-lcd/render-text';
import { DISPLAYS } from './fixtures';
import { checkedRender } from './render-check';
import { matchSnapshot } from './snapshot';

/** Every page's rows of an error screen, joined: what an operator can read by paging. */
function allPagesText(id: ErrorId, locale: (typeof LOCALES)[number], caps: (typeof DISPLAYS)[number]['caps']): { titles: string[]; body: string } {
  const grid = caps.kind === 'text' ? textGrid(caps) : pixelGrid(caps);
  const first = layout(errorScreen(id), locale, grid);
  const titles: string[] = [];
  const body: string[] = [];
  for (let page = 0; page < first.pageCount; page++) {
    const l = layout(errorScreen(id, { page }), locale, grid);
    titles.push(l.rows[0].text);
    body.push(...l.rows.slice(1).filter((r) => r.kind === 'body').map((r) => r.text));
  }
  return { titles, body: body.join(' ') };
}

const squash = (s: string): string => s.replace(/\s+/g, '');

describe('ui-lcd error screens: every ERRORS entry', () => {
  const ids = Object.keys(ERRORS) as ErrorId[];

  it('coversEveryCodeOfTheErrorList', () => {
    assert.deepEqual(allErrorScreens().map((e) => e.id), ids);
    assert.ok(ids.length >= 60, `only ${ids.length} codes?`);
  });

  for (const id of ids) {
    it(`${id}ShowsItsCodeCauseAndEveryStepOnEveryDisplayInBothLanguages`, () => {
      const def = ERRORS[id];
      checkedRender(errorScreen(id), id); // no overflow, no garbage, no missing glyph (page 0)
      for (const locale of LOCALES) {
        for (const d of DISPLAYS) {
          const { titles, body } = allPagesText(id, locale, d.caps);
          for (const title of titles) assert.ok(title.startsWith(def.code), `${id} ${locale} ${d.name}: title ${JSON.stringify(title)} lacks the code`);
          // Character LCDs show English (no Chinese in the HD44780 ROM).
          const text = d.caps.kind === 'text' || locale === 'en' ? def.en : def.zh;
          assert.ok(squash(body).includes(squash(text.cause)), `${id} ${locale} ${d.name}: cause missing`);
          text.steps.forEach((s, i) => assert.ok(squash(body).includes(squash(`${i + 1}.${s}`)), `${id} ${locale} ${d.name}: step ${i + 1} missing`));
          for (let page = 0; page < titles.length; page++) checkedRender(errorScreen(id, { page }), `${id} p${page}`, [d]);
        }
      }
    });
  }

  it('pagedErrorsSayUpDownInTheFooterUntilTheLastPage', () => {
    const caps = { kind: 'text', cols: 20, rows: 4 } as const;
    const first = renderScreen(errorScreen('STO_IO', { page: 0 }), 'en', caps);
    assert.ok(first.kind === 'text' && first.pageCount > 1);
    assert.equal(first.rows[3].trim(), 'UP/DOWN: more');
    const last = renderScreen(errorScreen('STO_IO', { page: first.pageCount - 1 }), 'en', caps);
    assert.ok(last.kind === 'text');
    assert.equal(last.rows[3].trim(), 'OK: back');
    assert.match(last.rows[0], /^E-STO-03 +\d\/\d$/);
  });

  it('anUnknownCodeIsShownAsGivenWithTheInternalErrorSteps', () => {
    const s = errorScreen('E-NEW-42');
    assert.equal(s.title, 'E-NEW-42');
    assert.equal(s.error?.cause.en, ERRORS.SYS_INVARIANT.en.cause);
  });

  it('textSnapshotsOfEveryErrorFirstPage', () => {
    const out: string[] = [];
    for (const id of ids) {
      for (const d of DISPLAYS.filter((x) => x.caps.kind === 'text')) {
        const r = renderScreen(errorScreen(id), 'en', d.caps);
        if (r.kind === 'text') out.push(`== ${id} ${d.name} (${r.pageCount} pages)\n${r.rows.map((x) => `|${x}|`).join('\n')}`);
      }
    }
    matchSnapshot('errors-text', out.join('\n'));
  });
});

/**
 * Renders a screen on every display in both locales, checks nothing overflows or is drawn as
 * garbage, and returns the snapshot text.
 */
import * as assert from 'node:assert/strict';
import { LOCALES, Screen, renderScreen } from '../../ui-lcd/screen';
import { frameToAscii, pixelGrid } from '../../ui-lcd/render-pixels';
import { textGrid } from '../../ui-lcd/render-text';
import { layout, cells } from '../../ui-lcd/layout';
import { cellsOf } from '../../ui-lcd/font';
import { DISPLAYS } from './fixtures';

/** What an HD44780 A00 ROM shows as itself: printable ASCII without '\' (a yen sign there) and '~'. */
const ROM_SAFE = /^[\x20-\x5b\x5d-\x7d]*$/;

export function checkedRender(screen: Screen, label: string, displays = DISPLAYS): string {
  const parts: string[] = [];
  for (const locale of LOCALES) {
    for (const d of displays) {
      const r = renderScreen(screen, locale, d.caps);
      const where = `${label} ${locale} ${d.name}`;
      if (r.kind === 'text') {
        assert.equal(d.caps.kind, 'text');
        if (d.caps.kind !== 'text') continue;
        assert.equal(r.rows.length, d.caps.rows, `${where}: row count`);
        for (const row of r.rows) {
          assert.equal(row.length, d.caps.cols, `${where}: row ${JSON.stringify(row)} is not ${d.caps.cols} wide`);
        }
        // Checked before the renderer's ROM mapping: no text of ours may need a substitute or '?'.
        const l = layout(screen, locale, textGrid(d.caps));
        for (const row of l.rows) {
          assert.ok(cells(row.text, { cellsOf: () => 1 }) <= d.caps.cols, `${where}: layout row overflows`);
          assert.match(row.text + (row.right ?? ''), ROM_SAFE, `${where}: ${JSON.stringify(row.text)} has a character the LCD cannot show`);
        }
        parts.push(`== ${locale} ${d.name}${r.pageCount > 1 ? ` (${r.pageCount} pages)` : ''}\n${r.rows.map((x) => `|${x}|`).join('\n')}`);
      } else {
        if (d.caps.kind !== 'pixels') continue;
        assert.deepEqual(r.missingGlyphs, [], `${where}: glyphs missing from the font subset (npm run gen:font)`);
        const grid = pixelGrid(d.caps);
        for (const row of layout(screen, locale, grid).rows) {
          const extra = row.right ? cells(row.right, { cellsOf }) + 1 : row.status ? grid.statusCells(row.status) + 1 : 0;
          assert.ok(cells(row.text, { cellsOf }) + extra <= grid.cols + (row.text === '' ? 1 : 0), `${where}: row ${JSON.stringify(row.text)} overflows ${grid.cols} cells`);
        }
        parts.push(`== ${locale} ${d.name}${r.pageCount > 1 ? ` (${r.pageCount} pages)` : ''}\n${frameToAscii(r.frame)}`);
      }
    }
  }
  return parts.join('\n');
}

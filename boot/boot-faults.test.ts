/**
 * Boot's faults, every one on the notice row (boot/boot-faults.ts): the list (one entry per
 * source, the stuck keys first, each ending on its own) and the row's text for several, read on
 * every display in both languages. The terminal with them: tests/boot/self-test-notice.test.ts,
 * tests/boot/stuck-key-notice.test.ts.
 */
import { strict as assert } from 'node:assert';
import { ERRORS, PosError } from '../common/errors';
import { BootFaults, STUCK_KEYS_SOURCE, faultsNotice } from './boot-faults';
import { faultNotice, stuckKeysNotice } from './terminal-app';
import { errorNotice } from './screen-map';
import { noticeParts, cells, Grid } from '../ui-lcd/layout';
import { pixelGrid } from '../ui-lcd/render-pixels';
import { textGrid } from '../ui-lcd/render-text';
import { LOCALES, Txt } from '../ui-lcd/screen';
import { resolve } from '../ui-lcd/strings';
import { DISPLAYS } from '../tests/ui/fixtures';
import type { DisplayCapabilities } from '../hal/display';

const gridOf = (caps: DisplayCapabilities): Grid => (caps.kind === 'text' ? textGrid(caps) : pixelGrid(caps));
const printer = (): Txt => faultNotice(new PosError('PRN_TIMEOUT', 'no status answer'));
const led = (): Txt => faultNotice(new PosError('BRD_BUS', 'line 25'), { en: 'Status light', zh: '状态灯' });

/** The notice row's turns on a 16-cell row (the 128x64 panel), English. */
function turns16(n: Txt): string[] {
  const grid = DISPLAYS.map((d) => gridOf(d.caps)).find((g) => g.cols === 16 && !g.ascii);
  assert.ok(grid, 'a 16-cell pixel display among the fixtures');
  return noticeParts(n, 'en', grid, grid.cols);
}

describe('boot faults: every one on the notice row', () => {
  it('oneFaultIsItsOwnNoticeUnchanged', () => {
    const n = printer();
    assert.deepEqual(faultsNotice([n]), n);
    assert.equal(faultsNotice([]), undefined);
  });

  it('twoFaultsAreReadOneAfterTheOtherEachCodeWithItsPlaceAndTheCount', () => {
    const n = faultsNotice([printer(), led()]);
    assert.ok(n !== undefined);
    assert.deepEqual(turns16(n), [
      '1/2 E-PRN-04', 'Printer not', 'answering', 'Check the', 'printer cable',
      '2/2 E-BRD-03', 'Status light:', 'Bus transfer', 'failed', 'Restart the', 'terminal',
    ]);
    // Resolved whole (a log): both, in their places.
    assert.match(resolve(n, 'en'), /^1\/2 E-PRN-04 .*: Check the printer cable 2\/2 E-BRD-03 Status light: Bus transfer failed: Restart the terminal$/);
  });

  it('everyTurnOfSeveralFaultsFitsItsRowOnEveryDisplayInBothLanguages', () => {
    const all: Txt[] = [stuckKeysNotice(['CANCEL', 'CLEAR', 'FUNC']), printer(), led(), errorNotice(ERRORS.KBD_RESET_STUCK), faultNotice(new PosError('BRD_DEVICE_ABSENT', 'x'), { en: 'Scanner', zh: '扫码头' })];
    const n = faultsNotice(all);
    assert.ok(n !== undefined);
    for (const d of DISPLAYS) {
      const grid = gridOf(d.caps);
      for (const locale of LOCALES) {
        const parts = noticeParts(n, locale, grid, grid.cols);
        for (const p of parts) assert.ok(cells(p, grid) <= grid.cols, `${JSON.stringify(p)} wider than ${grid.cols} cells`);
        // Each fault's code is read with its place, none cut from it.
        for (let i = 0; i < all.length; i++) assert.ok(parts.some((p) => p.startsWith(`${i + 1}/${all.length}`)), `${i + 1}/${all.length} on ${grid.cols} cells ${locale}: ${JSON.stringify(parts)}`);
      }
    }
  });

  it('aSourceHasOneEntryReplacedWhereItStandsTheStuckKeysComeFirstAndEachEndsOnItsOwn', () => {
    const f = new BootFaults();
    f.set({ source: 'printer0', code: 'E-PRN-04', notice: 'p' });
    f.set({ source: 'ledStatus0', code: 'E-BRD-03', notice: 'l' });
    f.set({ source: STUCK_KEYS_SOURCE, code: 'E-KBD-01', notice: 'k1' });
    f.set({ source: STUCK_KEYS_SOURCE, code: 'E-KBD-01', notice: 'k2' });
    f.set({ source: 'printer0', code: 'E-PRN-06', notice: 'p2' });
    assert.deepEqual(f.all().map((e) => e.notice), ['k2', 'p2', 'l']);
    // The keys released: the others are read on.
    assert.equal(f.clear(STUCK_KEYS_SOURCE), true);
    assert.deepEqual(f.all().map((e) => e.notice), ['p2', 'l']);
    // Only the code named ends (a key ends E-BRD-04, not another keypad fault).
    assert.equal(f.clear('printer0', 'E-PRN-04'), false);
    assert.equal(f.clear('printer0'), true);
    assert.deepEqual(f.all().map((e) => e.source), ['ledStatus0']);
    assert.equal(f.clear('printer0'), false);
  });
});

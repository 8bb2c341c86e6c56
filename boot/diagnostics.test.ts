/** The last-errors page's lines (boot/diagnostics.ts clipAtWord): whole words, bounded. */
import { strict as assert } from 'node:assert';
import { clipAtWord } from './diagnostics';

describe('boot/diagnostics: a logged error\'s line on the last-errors page', () => {
  it('aTlsCauseFitsWholeWhereEightyCharactersCutItInsideAWord', () => {
    const line = '14:02:11 E-MGT-07 mqtts://127.0.0.1:18884: self-signed certificate in certificate chain';
    assert.ok(line.length > 80);
    assert.equal(clipAtWord(line, 160), line);
  });

  it('aLongerLineIsCutAtAWordWithDotsAndNeverPastItsMaximum', () => {
    const line = `E-STO-09 ${'writing the export failed because the stick is full '.repeat(5)}`;
    const clipped = clipAtWord(line, 160);
    assert.ok(clipped.length <= 160, `${clipped.length}`);
    assert.ok(clipped.endsWith('...'));
    const body = clipped.slice(0, -3);
    assert.ok(line.startsWith(body) && line[body.length] === ' ', `cut at a space: "${clipped}"`);
  });

  it('oneWordLongerThanTheMaximumIsCutInsideIt', () => {
    const clipped = clipAtWord('x'.repeat(200), 160);
    assert.equal(clipped, `${'x'.repeat(157)}...`);
  });
});

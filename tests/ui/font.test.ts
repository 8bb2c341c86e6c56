import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GLYPHS, UNIFONT_VERSION } from '../../ui-lcd/font/unifont-subset';
import { glyph, cellsOf } from '../../ui-lcd/font';
import { requiredCodePoints, uiTexts } from '../../ui-lcd/font/charset';

const hexKey = (cp: number): string => cp.toString(16).toUpperCase().padStart(4, '0');

describe('ui-lcd font: the committed Unifont subset', () => {
  it('hasAGlyphForEveryCharacterOfEveryUiString', () => {
    const missing: string[] = [];
    for (const { where, text } of uiTexts()) {
      for (const ch of text.replace(/\{\w+\}/g, '')) if (!GLYPHS[hexKey(ch.codePointAt(0)!)]) missing.push(`${JSON.stringify(ch)} in ${where}`);
    }
    assert.deepEqual(missing, [], 'a string uses a character the font subset lacks: run npm run gen:font (needs the unifont package) and commit');
  });

  it('holdsExactlyTheRequiredCharactersSoItIsRegeneratedWhenStringsChange', () => {
    const required = requiredCodePoints().map(hexKey);
    assert.deepEqual(Object.keys(GLYPHS).sort(), [...required].sort(), 'subset out of date: npm run gen:font');
  });

  it('hasHalfWidthAsciiAndFullWidthChinese', () => {
    assert.equal(glyph('A')?.width, 8);
    assert.equal(glyph('消')?.width, 16);
    assert.equal(cellsOf('消'), 2);
    assert.equal(cellsOf('1'), 1);
    assert.equal(glyph('消')?.rows.length, 16);
    assert.match(UNIFONT_VERSION, /\d/);
  });

  it('shipsTheLicenceFromThePackage', () => {
    const licence = fs.readFileSync(path.join(__dirname, '..', '..', 'ui-lcd', 'font', 'LICENSE'), 'utf8');
    assert.match(licence, /GNU Unifont Glyphs/);
    assert.match(licence, /License: GPL-2\+/);
    assert.match(licence, /GNU GENERAL PUBLIC LICENSE/);
  });
});

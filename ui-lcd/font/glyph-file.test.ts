/**
 * GB2312's glyph file, searched by position (glyph-file.ts): every record of the committed file is
 * found, what it lacks is not, and a missing, partial or damaged file is no font, never a crash.
 */
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asset } from '../../common/assets';
import { removeDir, tempDir } from '../../storage/testing';
import { GLYPH_RECORD_BYTES, GlyphFile } from './glyph-file';
import { glyph } from '.';

const FILE = asset('ui-lcd', 'font', 'gb2312-unifont.txt');

describe('ui-lcd/font GB2312 glyph file', () => {
  const lines = readFileSync(FILE, 'latin1').split('\n').filter(Boolean);
  let dir = '';
  beforeEach(() => { dir = tempDir('glyph-file-'); });
  afterEach(() => removeDir(dir));

  it('everyRecordOfTheCommittedFileIsFound', () => {
    const f = new GlyphFile(FILE);
    try {
      for (const line of lines) assert.equal(f.hex(parseInt(line.slice(0, 4), 16)), line.slice(5), line.slice(0, 4));
    } finally { f.close(); }
  });

  it('codePointsTheFileLacksAreNotFound', () => {
    const f = new GlyphFile(FILE);
    const held = new Set(lines.map((l) => parseInt(l.slice(0, 4), 16)));
    try {
      // Below the first record, above the last, between two, outside the BMP, not an integer.
      for (const cp of [0x41, 0xffff, 0x3400, 0x20000, -1, 1.5]) {
        assert.equal(held.has(cp), false);
        assert.equal(f.hex(cp), undefined, String(cp));
      }
    } finally { f.close(); }
  });

  it('theLcdDrawsAMerchantNamesCharacterTheSubsetLacksFromIt', () => {
    // 拟 (of the acquirer simulator's 模拟商户) is in no string of the terminal's own.
    const g = glyph('拟');
    assert.ok(g, 'a glyph for 拟');
    assert.equal(g.width, 16);
    const hex = lines.find((l) => l.startsWith('62DF:'))!.slice(5);
    assert.deepEqual([...g.rows], Array.from({ length: 16 }, (_, y) => parseInt(hex.slice(y * 4, y * 4 + 4), 16)));
    assert.equal(glyph('\u{20000}'), undefined);
  });

  it('aMissingFileIsNoFont', () => {
    assert.equal(new GlyphFile(join(dir, 'none.txt')).hex(0x62df), undefined);
    assert.equal(new GlyphFile(dir).hex(0x62df), undefined, 'a folder');
  });

  it('aFileOfPartialRecordsOrNoneIsNoFont', () => {
    const whole = lines.slice(0, 50).map((l) => `${l}\n`).join('');
    for (const [name, text] of [['torn', whole.slice(0, whole.length - 3)], ['empty', '']] as const) {
      writeFileSync(join(dir, name), text, 'latin1');
      assert.equal(new GlyphFile(join(dir, name)).hex(parseInt(lines[0].slice(0, 4), 16)), undefined, name);
    }
    writeFileSync(join(dir, 'whole'), whole, 'latin1');
    assert.equal(new GlyphFile(join(dir, 'whole')).hex(parseInt(lines[0].slice(0, 4), 16)), lines[0].slice(5));
  });

  it('aDamagedRecordMakesTheFileUnusableInsteadOfMisleading', () => {
    const records = lines.slice(0, 63).map((l) => `${l}\n`);
    const file = join(dir, 'damaged');
    const middle = 31; // the binary search's first read
    const bytes = Buffer.from(records.join(''), 'latin1');
    bytes[middle * GLYPH_RECORD_BYTES + 10] = 'g'.charCodeAt(0); // not a hex digit
    writeFileSync(file, bytes);
    const f = new GlyphFile(file);
    assert.equal(f.hex(parseInt(lines[0].slice(0, 4), 16)), undefined, 'the search met the damaged record');
    // Afterwards even a record that is whole is not served: the file's order is not trusted.
    assert.equal(f.hex(parseInt(lines[middle].slice(0, 4), 16)), undefined);
  });

  it('recordsOutOfOrderAreNotTakenForOthers', () => {
    // A file sorted wrongly can only miss: a found record always carries the asked code point.
    const records = lines.slice(0, 40).reverse().map((l) => `${l}\n`).join('');
    writeFileSync(join(dir, 'reversed'), records, 'latin1');
    const f = new GlyphFile(join(dir, 'reversed'));
    for (const line of lines.slice(0, 40)) {
      const hex = f.hex(parseInt(line.slice(0, 4), 16));
      assert.ok(hex === undefined || hex === line.slice(5), line.slice(0, 4));
    }
  });
});

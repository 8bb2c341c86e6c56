import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createSimBoard } from './board-sim';
import { cjkGlyph, cjkPixel, unloadCjkGlyphs } from './virtual-printer-cjk';
import { asset } from '../common/assets';

describe('virtual printer: Chinese glyphs', () => {
  it('everyChineseCharacterOfTheReceiptsHasAGlyph', () => {
    const source = readFileSync(asset('runtime', 'receipt.ts'), 'utf8');
    const chars = [...new Set(source.match(/[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]/g) ?? [])];
    assert.ok(chars.length > 20, 'the receipts have Chinese text');
    const missing = chars.filter((c) => !cjkGlyph(c.codePointAt(0)!));
    assert.deepEqual(missing, []);
  });

  it('aGlyphIsItsFileRecordAndIsReadAgainAfterAnUnload', () => {
    const file = readFileSync(asset('ui-lcd', 'font', 'gb2312-unifont.txt'), 'latin1');
    const record = file.split('\n').find((l) => l.startsWith('5546:'));
    assert.ok(record, 'the font file has 商 (U+5546)');
    const glyph = cjkGlyph(0x5546)!;
    assert.equal(glyph.toString('hex').toUpperCase(), record.slice(5));
    assert.equal(glyph.buffer.byteLength, 32, 'a glyph owns its bytes (no 8 KB pool slab kept by the cache)');
    unloadCjkGlyphs();
    assert.deepEqual(cjkGlyph(0x5546), glyph);
    assert.equal(cjkGlyph(0x41), undefined, 'ASCII is not in the GB2312 file');
    assert.equal(cjkGlyph(-1), undefined);
  });

  it('aPrintedChineseLineDecodesAndItsGlyphHasStrokes', async () => {
    const sim = await createSimBoard();
    try {
      await sim.board.printer().print({ label: 'zh', blocks: [{ kind: 'text', text: '商' }, { kind: 'cut' }] });
      const receipt = sim.printer().receipts()[0];
      assert.equal(receipt.lines[0], '商');
      const glyph = cjkGlyph('商'.codePointAt(0)!)!;
      let set = 0;
      for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) if (cjkPixel(glyph, x, y)) set++;
      assert.ok(set > 40, 'the glyph has strokes');
    } finally {
      await sim.close();
    }
  });
});

/**
 * Glyph lookup over the generated Unifont subset, then GB2312's glyphs in a file (glyph-file.ts)
 * for a character the subset lacks (text from outside the terminal: a merchant name from the
 * host). Glyphs are decoded once, on first use.
 */
import { asset } from '../../common/assets';
import { GlyphFile } from './glyph-file';
import { GLYPHS } from './unifont-subset';

export const GLYPH_HEIGHT_PX = 16;
export const HALF_WIDTH_PX = 8;

export interface Glyph {
  /** 8 (half-width) or 16 (full-width). */
  readonly width: number;
  /** One entry per pixel row, top to bottom; bit (width-1-x) is column x. */
  readonly rows: Uint16Array;
}

/**
 * Decoded glyphs and misses, by code point. Past this many entries a lookup is not kept (text from
 * outside could name any of a million code points): the subset, the file's 7,166 glyphs and the
 * misses of the text the screens show stay far below it.
 */
export const GLYPH_CACHE_ENTRIES_MAX = 16_384;
const cache = new Map<number, Glyph | null>();
let gb2312: GlyphFile | undefined;

export function glyph(ch: string): Glyph | undefined {
  const cp = ch.codePointAt(0)!;
  let g = cache.get(cp);
  if (g === undefined) {
    const key = cp.toString(16).toUpperCase().padStart(4, '0');
    g = decode(GLYPHS[key] ?? (cp > 0x7f ? fallbackFile().hex(cp) : undefined));
    if (cache.size < GLYPH_CACHE_ENTRIES_MAX) cache.set(cp, g);
  }
  return g ?? undefined;
}

function fallbackFile(): GlyphFile {
  gb2312 ??= new GlyphFile(asset('ui-lcd', 'font', 'gb2312-unifont.txt'));
  return gb2312;
}

export function hasGlyph(ch: string): boolean {
  return glyph(ch) !== undefined;
}

function decode(hex: string | undefined): Glyph | null {
  if (!hex) return null;
  const digitsPerRow = hex.length / GLYPH_HEIGHT_PX; // 2 for 8 px, 4 for 16 px
  const rows = new Uint16Array(GLYPH_HEIGHT_PX);
  for (let y = 0; y < GLYPH_HEIGHT_PX; y++) rows[y] = parseInt(hex.slice(y * digitsPerRow, (y + 1) * digitsPerRow), 16);
  return { width: digitsPerRow * 4, rows };
}

/**
 * Cells (8 px) a character takes. A character missing from the subset is drawn as a box whose
 * width follows Unicode's East Asian width, roughly: CJK and full-width forms take two cells.
 */
export function cellsOf(ch: string): number {
  const g = glyph(ch);
  if (g) return g.width / HALF_WIDTH_PX;
  const cp = ch.codePointAt(0)!;
  const wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6);
  return wide ? 2 : 1;
}

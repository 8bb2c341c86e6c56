/**
 * The virtual printer's paper roll: a 1-bit bitmap that grows as lines and raster rows print, a
 * list of what was printed where (text lines with attributes, images, feeds, cuts), a split into
 * receipts at each cut, and PNG output (pngjs).
 *
 * Text is drawn with the built-in 5×7 font scaled into Font A's 12×24 cell; CJK (two-cell)
 * characters with GB2312 glyphs from GNU Unifont (sim/virtual-printer-cjk.ts), others as boxes. Raster images are drawn exactly as sent.
 */
import { CJK_GLYPH_DOTS, cjkGlyph, cjkPixel } from './virtual-printer-cjk';
import type * as Pngjs from 'pngjs';
import { glyph5x7 } from './virtual-printer-font';

export type Align = 'left' | 'center' | 'right';

export interface TextRun {
  readonly text: string;
  readonly bold: boolean;
  readonly underline: boolean;
  readonly width: number;
  readonly height: number;
}

/** One printed character with its attributes, as the printer's line buffer holds it. */
export interface Cell {
  readonly ch: string;
  readonly wide: boolean;
  readonly bold: boolean;
  readonly underline: boolean;
  readonly width: number;
  readonly height: number;
}

export type PaperItem =
  | { readonly kind: 'text'; readonly y: number; readonly height: number; readonly text: string; readonly align: Align; readonly runs: readonly TextRun[] }
  | { kind: 'image'; readonly y: number; readonly x: number; readonly width: number; height: number }
  | { readonly kind: 'feed'; readonly y: number; readonly dots: number }
  | { readonly kind: 'cut'; readonly y: number; readonly partial: boolean };

export interface Receipt {
  /** Rows [startY, endY) of the roll. */
  readonly startY: number;
  readonly endY: number;
  readonly items: readonly PaperItem[];
  /** The text lines, in order (empty lines included). */
  readonly lines: readonly string[];
  /** Whether a cut ended it (the last receipt may still be on the roll). */
  readonly cut: boolean;
}

export const CELL_WIDTH_DOTS = 12;
export const CELL_HEIGHT_DOTS = 24;
/** 5×7 glyph scaled ×2 sits at this offset inside the 12×24 cell. */
const GLYPH_X = 1;
const GLYPH_Y = 6;
const GLYPH_SCALE = 2;
/** Paper rows per allocation (a receipt is a few hundred rows). */
const ROWS_PER_CHUNK = 1024;
/**
 * Receipts whose items (text lines, images) the roll keeps by default: the newest; older ones are
 * torn off. The terminal's process holds the virtual printer on the simulator board, and a day of
 * 1,000 sales kept every line of 2,000 slips (issue 14): a person or a test reads the last few.
 */
export const PAPER_RECEIPTS_MAX_DEFAULT = 50;
/** Rows of pixels kept by default: the newest (a ring), about 25 receipts, 1.5 MB on 58 mm paper. */
export const PAPER_ROWS_MAX_DEFAULT = 32 * 1024;

export class PaperRoll {
  readonly rowBytes: number;
  /**
   * Rows in chunks of ROWS_PER_CHUNK (one Uint8Array each): a typed array per row cost ~200 bytes
   * of object overhead for 48 bytes of dots (about 20 MB of a full roll, seen in bench:start).
   * A ring: row y lives in slot y % ringRows, so only the newest ringRows rows have pixels.
   */
  private readonly chunks: Uint8Array[] = [];
  private readonly ringRows: number;
  private rowCount = 0;
  readonly items: PaperItem[] = [];
  /** Receipts torn off the front (their items dropped) to stay within `receiptsMax`. */
  receiptsShed = 0;

  constructor(readonly widthDots: number, readonly rowsMax: number, readonly receiptsMax = PAPER_RECEIPTS_MAX_DEFAULT) {
    this.rowBytes = Math.ceil(widthDots / 8);
    this.ringRows = Math.ceil(Math.max(0, rowsMax) / ROWS_PER_CHUNK) * ROWS_PER_CHUNK;
  }

  get heightDots(): number {
    return this.rowCount;
  }

  /** Rows printed whose pixels are no longer kept (the oldest, beyond `rowsMax`). */
  get rowsDropped(): number {
    return this.rowCount - this.rowsKept;
  }

  private get rowsKept(): number {
    return Math.min(this.rowCount, this.ringRows);
  }

  /** Bytes of pixels held (for the control interface's `memory`). */
  get bitmapBytes(): number {
    return this.chunks.length * ROWS_PER_CHUNK * this.rowBytes;
  }

  pixel(x: number, y: number): boolean {
    const at = this.byteAt(x, y);
    return at !== undefined && (this.chunks[at.chunk][at.offset] & (0x80 >> (x & 7))) !== 0;
  }

  /** Where dot (x, y) lives, or undefined outside the kept rows and the width. */
  private byteAt(x: number, y: number): { chunk: number; offset: number } | undefined {
    if (y < this.rowCount - this.rowsKept || y >= this.rowCount || x < 0 || x >= this.widthDots) return undefined;
    const slot = y % this.ringRows;
    return { chunk: Math.floor(slot / ROWS_PER_CHUNK), offset: (slot % ROWS_PER_CHUNK) * this.rowBytes + (x >> 3) };
  }

  /** Tears off every receipt (a test measuring what the roll holds; the front panel's roll starts empty). */
  clear(): void {
    this.receiptsShed += this.cutsKept();
    this.items.length = 0;
    this.chunks.length = 0;
  }

  feed(dots: number): void {
    if (dots <= 0) return;
    this.items.push({ kind: 'feed', y: this.heightDots, dots });
    this.addRows(dots);
  }

  cut(partial: boolean): void {
    this.items.push({ kind: 'cut', y: this.heightDots, partial });
    // Counted, not tracked: a reader may take the items away itself (sim/simulate-devices.ts).
    for (let over = this.cutsKept() - this.receiptsMax; over > 0; over--) {
      this.items.splice(0, this.items.findIndex((i) => i.kind === 'cut') + 1);
      this.receiptsShed += 1;
    }
  }

  /** Cut receipts in `items` (each ends with its cut item). */
  private cutsKept(): number {
    let n = 0;
    for (const i of this.items) if (i.kind === 'cut') n++;
    return n;
  }

  /** Prints one line of cells; `lineHeight` already covers the tallest cell. */
  printLine(cells: readonly Cell[], align: Align, lineHeight: number): void {
    const y0 = this.heightDots;
    const first = this.addRows(lineHeight);
    const lineWidth = cells.reduce((w, c) => w + cellWidth(c), 0);
    const cellTop = Math.max(...cells.map(cellHeight), 0);
    let x = align === 'center' ? Math.floor((this.widthDots - lineWidth) / 2) : align === 'right' ? this.widthDots - lineWidth : 0;
    for (const c of cells) {
      if (first !== undefined) this.drawCell(c, Math.max(0, x), first + cellTop - cellHeight(c));
      x += cellWidth(c);
    }
    this.items.push({ kind: 'text', y: y0, height: lineHeight, text: cells.map((c) => c.ch).join(''), align, runs: toRuns(cells) });
  }

  /** Draws one source row of a raster image at `x`, scaled; merges stripes into one image item. */
  rasterRow(bits: Uint8Array, x: number, widthDots: number, scaleX: number, scaleY: number): void {
    const y = this.heightDots;
    const last = this.items[this.items.length - 1];
    const printedWidth = widthDots * scaleX;
    if (last?.kind === 'image' && last.y + last.height === y && last.x === x && last.width === printedWidth) last.height += scaleY;
    else this.items.push({ kind: 'image', y, x, width: printedWidth, height: scaleY });
    const first = this.addRows(scaleY);
    if (first === undefined) return;
    for (let sx = 0; sx < widthDots; sx++) {
      if (!(bits[sx >> 3] & (0x80 >> (sx & 7)))) continue;
      for (let dy = 0; dy < scaleY; dy++) for (let dx = 0; dx < scaleX; dx++) this.set(x + sx * scaleX + dx, first + dy);
    }
  }

  /** The receipts the roll still holds (the newest `receiptsMax` cut ones and the one being printed), split at each cut. */
  receipts(): Receipt[] {
    const receipts: Receipt[] = [];
    let items: PaperItem[] = [];
    let start = this.items[0]?.y ?? this.heightDots;
    for (const item of this.items) {
      if (item.kind === 'cut') {
        receipts.push(makeReceipt(start, item.y, items, true));
        start = item.y;
        items = [];
      } else items.push(item);
    }
    if (items.length) receipts.push(makeReceipt(start, this.heightDots, items, false));
    return receipts;
  }

  /** PNG of rows [startY, endY): black print on white paper. */
  png(startY = 0, endY = this.heightDots): Buffer {
    const height = Math.max(1, endY - startY);
    // pngjs loads with the first picture asked for, not with the simulator board (issue 14: start time).
    const { PNG } = require('pngjs') as typeof Pngjs;
    const png = new PNG({ width: this.widthDots, height });
    png.data.fill(0xff);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < this.widthDots; x++) {
        if (!this.pixel(x, startY + y)) continue;
        const at = (y * this.widthDots + x) * 4;
        png.data[at] = png.data[at + 1] = png.data[at + 2] = 0;
      }
    }
    return PNG.sync.write(png);
  }

  /** Appends blank rows (reusing the ring's oldest); returns the first one's y, or undefined if the roll keeps no pixels. */
  private addRows(count: number): number | undefined {
    const first = this.rowCount;
    this.rowCount += count;
    if (this.ringRows === 0) return undefined;
    for (let y = Math.max(first, this.rowCount - this.ringRows); y < this.rowCount; y++) {
      const slot = y % this.ringRows;
      const chunk = Math.floor(slot / ROWS_PER_CHUNK);
      if (chunk >= this.chunks.length) while (this.chunks.length <= chunk) this.chunks.push(new Uint8Array(ROWS_PER_CHUNK * this.rowBytes));
      else this.chunks[chunk].fill(0, (slot % ROWS_PER_CHUNK) * this.rowBytes, (slot % ROWS_PER_CHUNK + 1) * this.rowBytes);
    }
    return count > this.ringRows ? undefined : first;
  }

  private set(x: number, y: number): void {
    const at = this.byteAt(x, y);
    if (at) this.chunks[at.chunk][at.offset] |= 0x80 >> (x & 7);
  }

  private drawCell(c: Cell, x: number, y: number): void {
    if (c.wide) { this.drawWide(c, x, y); return; }
    const g = glyph5x7(c.ch.charCodeAt(0));
    const sx = GLYPH_SCALE * c.width;
    const sy = GLYPH_SCALE * c.height;
    if (g) {
      for (let col = 0; col < 5; col++) {
        for (let row = 0; row < 7; row++) {
          if (!(g[col] & (1 << row))) continue;
          this.fill(x + (GLYPH_X + col * GLYPH_SCALE) * c.width, y + (GLYPH_Y + row * GLYPH_SCALE) * c.height, sx + (c.bold ? 1 : 0), sy);
        }
      }
    }
    if (c.underline) this.fill(x, y + cellHeight(c) - 2 * c.height, cellWidth(c), c.height);
  }

  /** A Chinese character from the GB2312 Unifont glyphs, scaled into its 24×24 (× size) cell. */
  private drawWide(c: Cell, x: number, y: number): void {
    const glyph = cjkGlyph(c.ch.codePointAt(0) ?? 0);
    const w = cellWidth(c);
    const h = cellHeight(c);
    if (!glyph) { this.drawBox(x, y, w, h); return; }
    for (let ty = 0; ty < h; ty++) {
      for (let tx = 0; tx < w; tx++) {
        if (cjkPixel(glyph, Math.floor((tx * CJK_GLYPH_DOTS) / w), Math.floor((ty * CJK_GLYPH_DOTS) / h))) {
          this.set(x + tx, y + ty);
          if (c.bold) this.set(x + tx + 1, y + ty);
        }
      }
    }
  }

  /** Placeholder for a glyph no font here has: an outlined box. */
  private drawBox(x: number, y: number, w: number, h: number): void {
    this.fill(x + 2, y + 2, w - 4, 1);
    this.fill(x + 2, y + h - 3, w - 4, 1);
    this.fill(x + 2, y + 2, 1, h - 4);
    this.fill(x + w - 3, y + 2, 1, h - 4);
  }

  private fill(x: number, y: number, w: number, h: number): void {
    for (let dy = 0; dy < h; dy++) for (let dx = 0; dx < w; dx++) this.set(x + dx, y + dy);
  }
}

export function cellWidth(c: Cell): number {
  return (c.wide ? 2 * CELL_WIDTH_DOTS : CELL_WIDTH_DOTS) * c.width;
}

export function cellHeight(c: Cell): number {
  return CELL_HEIGHT_DOTS * c.height;
}

function toRuns(cells: readonly Cell[]): TextRun[] {
  const runs: TextRun[] = [];
  for (const c of cells) {
    const last = runs[runs.length - 1];
    if (last && last.bold === c.bold && last.underline === c.underline && last.width === c.width && last.height === c.height) {
      runs[runs.length - 1] = { ...last, text: last.text + c.ch };
    } else runs.push({ text: c.ch, bold: c.bold, underline: c.underline, width: c.width, height: c.height });
  }
  return runs;
}

function makeReceipt(startY: number, endY: number, items: PaperItem[], cut: boolean): Receipt {
  const lines = items.flatMap((i) => (i.kind === 'text' ? [i.text] : []));
  return { startY, endY, items, lines, cut };
}

/**
 * Graphic display renderer (SSD1306 128×64) into a hal FrameBuffer. Text is GNU Unifont: 8×16
 * half-width and 16×16 full-width glyphs, so the panel is a grid of 16 cells × 4 rows (8 Chinese
 * characters per row). The title row is drawn inverted (a bar), with the status as icons at its
 * right; the selected menu row is inverted too. A character missing from the font subset is
 * drawn as a box and reported in `missingGlyphs` (tests require none).
 */
import { FrameBuffer, PixelCapabilities } from '../hal/display';
import type { Locale, Screen, StatusLine } from './screen';
import { Grid, Row, layout, cells } from './layout';
import { GLYPH_HEIGHT_PX, HALF_WIDTH_PX, cellsOf, glyph } from './font';
import { renderEReceipt, renderScanToPay } from './widgets/qr-code';
import { resolve } from './strings';

export interface PixelRender {
  readonly frame: FrameBuffer;
  readonly pageCount: number;
  readonly missingGlyphs: string[];
}

export function pixelGrid(caps: PixelCapabilities): Grid {
  return {
    cols: Math.floor(caps.width / HALF_WIDTH_PX),
    rows: Math.floor(caps.height / GLYPH_HEIGHT_PX),
    ascii: false,
    cellsOf,
    statusCells,
  };
}

export function renderPixels(screen: Screen, locale: Locale, caps: PixelCapabilities): PixelRender {
  if (screen.scanToPay) {
    const r = renderScanToPay(screen.scanToPay, locale, caps);
    if (r.kind === 'ok') return { frame: r.frame, pageCount: 1, missingGlyphs: [...r.missingGlyphs] };
  }
  if (screen.eReceiptQr) {
    const r = renderEReceipt(screen.eReceiptQr.content, screen.eReceiptQr.lines.map((l) => resolve(l, locale)), caps);
    if (r.kind === 'ok') return { frame: r.frame, pageCount: 1, missingGlyphs: [...r.missingGlyphs] };
  }
  const frame = new FrameBuffer(caps.width, caps.height);
  const grid = pixelGrid(caps);
  const l = layout(screen, locale, grid);
  const missing = new Set<string>();
  const canvas: Canvas = { frame, grid, missing };
  l.rows.forEach((row, i) => drawRow(canvas, row, i));
  frame.takeDirty(); // a fresh frame: the caller diffs against what the panel holds
  return { frame, pageCount: l.pageCount, missingGlyphs: [...missing] };
}

interface Canvas {
  readonly frame: FrameBuffer;
  readonly grid: Grid;
  readonly missing: Set<string>;
}

function drawRow(c: Canvas, row: Row, index: number): void {
  const y = index * GLYPH_HEIGHT_PX;
  const width = c.grid.cols * HALF_WIDTH_PX;
  switch (row.kind) {
    case 'pattern': return checker(c.frame, y);
    case 'progress': return progressBar(c, row, y);
    case 'title': {
      fillRect(c.frame, 0, y, width, GLYPH_HEIGHT_PX, true);
      drawText(c, row.text, 0, y, false);
      if (row.right) drawText(c, row.right, width - cells(row.right, c.grid) * HALF_WIDTH_PX, y, false);
      else if (row.status) drawStatus(c, row.status, width, y);
      return;
    }
    case 'menu': {
      if (row.selected) fillRect(c.frame, 0, y, width, GLYPH_HEIGHT_PX, true);
      drawText(c, row.text, 0, y, !row.selected);
      return;
    }
    default: {
      const used = cells(row.text, c.grid);
      const free = c.grid.cols - used;
      const x = row.align === 'right' ? free : row.align === 'center' ? Math.floor(free / 2) : 0;
      drawText(c, row.text, x * HALF_WIDTH_PX, y, true);
    }
  }
}

function drawText(c: Canvas, text: string, x0: number, y0: number, on: boolean): void {
  let x = x0;
  for (const ch of text) {
    const g = glyph(ch);
    if (g) {
      for (let gy = 0; gy < GLYPH_HEIGHT_PX; gy++) {
        const bits = g.rows[gy];
        for (let gx = 0; gx < g.width; gx++) if (bits & (1 << (g.width - 1 - gx))) c.frame.set(x + gx, y0 + gy, on);
      }
      x += g.width;
    } else {
      c.missing.add(ch);
      const w = cellsOf(ch) * HALF_WIDTH_PX;
      strokeRect(c.frame, x + 1, y0 + 2, w - 2, GLYPH_HEIGHT_PX - 4, on);
      x += w;
    }
  }
}

/** Cells the status icons take: paper "P!", link bars, "+" when charging, battery. */
export function statusCells(s: StatusLine): number {
  let n = 0;
  if (s.paper === 'out') n += 2;
  if (s.network !== undefined || (s.host !== undefined && s.host !== 'unknown')) n += 1;
  if (s.batteryPercent !== undefined) n += 2 + (s.charging ? 1 : 0);
  return n;
}

/** Icons right-aligned in the inverted title bar (drawn dark on the bar). */
function drawStatus(c: Canvas, s: StatusLine, rightX: number, y: number): void {
  let x = rightX - statusCells(s) * HALF_WIDTH_PX;
  if (s.paper === 'out') {
    drawText(c, 'P!', x, y, false);
    x += 2 * HALF_WIDTH_PX;
  }
  if (s.network !== undefined || (s.host !== undefined && s.host !== 'unknown')) {
    linkIcon(c.frame, x, y, s.network !== 'down' && s.host !== 'offline');
    x += HALF_WIDTH_PX;
  }
  if (s.batteryPercent !== undefined) {
    if (s.charging) {
      drawText(c, '+', x, y, false);
      x += HALF_WIDTH_PX;
    }
    batteryIcon(c.frame, x, y, s.batteryPercent);
  }
}

/** Three signal bars; when the link or host is down, one bar and a cross. */
function linkIcon(f: FrameBuffer, x: number, y: number, up: boolean): void {
  const base = y + 12;
  const heights = up ? [3, 6, 9] : [3];
  heights.forEach((h, i) => fillRect(f, x + i * 2 + 1, base - h + 1, 1, h, false));
  if (!up) for (let d = 0; d < 5; d++) {
    f.set(x + 3 + d, base - 8 + d, false);
    f.set(x + 7 - d, base - 8 + d, false);
  }
}

/** Battery outline 13×8 with a nub, filled in proportion to the charge. */
function batteryIcon(f: FrameBuffer, x: number, y: number, percent: number): void {
  const top = y + 4;
  strokeRect(f, x + 1, top, 12, 8, false);
  fillRect(f, x + 13, top + 2, 2, 4, false);
  const fill = Math.round((10 * Math.max(0, Math.min(100, percent))) / 100);
  fillRect(f, x + 2, top + 1, fill, 6, false);
}

function progressBar(c: Canvas, row: Row, y: number): void {
  const tag = row.right ?? '';
  const tagCells = cells(tag, c.grid);
  const barWidth = (c.grid.cols - tagCells - 1) * HALF_WIDTH_PX;
  if (barWidth > 4) {
    strokeRect(c.frame, 0, y + 4, barWidth, 8, true);
    const p = row.progress!;
    const done = p.total > 0 ? Math.round(((barWidth - 4) * Math.min(p.done, p.total)) / p.total) : 0;
    fillRect(c.frame, 2, y + 6, done, 4, true);
  }
  drawText(c, tag, (c.grid.cols - tagCells) * HALF_WIDTH_PX, y, true);
}

function checker(f: FrameBuffer, y0: number): void {
  for (let y = y0; y < y0 + GLYPH_HEIGHT_PX; y++) for (let x = 0; x < f.width; x++) f.set(x, y, ((x >> 2) + (y >> 2)) % 2 === 0);
}

function fillRect(f: FrameBuffer, x0: number, y0: number, w: number, h: number, on: boolean): void {
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) f.set(x, y, on);
}

function strokeRect(f: FrameBuffer, x0: number, y0: number, w: number, h: number, on: boolean): void {
  for (let x = x0; x < x0 + w; x++) {
    f.set(x, y0, on);
    f.set(x, y0 + h - 1, on);
  }
  for (let y = y0; y < y0 + h; y++) {
    f.set(x0, y, on);
    f.set(x0 + w - 1, y, on);
  }
}

/** '#' lit, '.' dark, one line per pixel row: the snapshot format (same as the SSD1306 model's). */
export function frameToAscii(f: FrameBuffer): string {
  const lines: string[] = [];
  for (let y = 0; y < f.height; y++) {
    let s = '';
    for (let x = 0; x < f.width; x++) s += f.get(x, y) ? '#' : '.';
    lines.push(s);
  }
  return lines.join('\n');
}

/**
 * Turns a print job's blocks into ESC/POS bytes. Pure functions: no I/O, so the driver's flow
 * control and the benchmark can measure encoding apart from sending.
 *
 * Each block becomes one or more SEGMENTS. A segment is a run of complete commands, so the driver
 * may insert a status query (GS r 1) between any two segments without splitting a command; a
 * raster image is cut into stripes of at most `rasterStripeRowsMax` rows for that reason.
 *
 * Commands used (Epson ESC/POS, as implemented by the common 58/80 mm Chinese printers):
 *   ESC @ init · GS a 0 auto status back off · FS & / FS . Chinese mode on/off · ESC a n align ·
 *   ESC E n bold · GS ! n size · LF · ESC d n feed lines · GS v 0 raster · GS V 66 n feed and cut.
 */
import type * as Qr from 'qrcode';
import { encodeGb18030 } from '../../common/gb18030';
import type { Align, MonoImage, PrintBlock } from '../printer';

export const ESC = 0x1b;
export const GS = 0x1d;
export const FS = 0x1c;
export const DLE = 0x10;
export const LF = 0x0a;

/** Text cells of Font A: 12 dots wide; a CJK character takes two cells (24 dots). */
export const FONT_A_WIDTH_DOTS = 12;
/** Largest magnification GS ! accepts each way. */
export const TEXT_SIZE_MAX = 8;
/** ESC d takes one byte. */
export const FEED_LINES_MAX = 255;
/** Largest QR module we print (dots): bigger ones only waste paper. */
export const QR_MODULE_DOTS_MAX = 8;
/** The quiet zone the QR standard asks for, in modules, on each side. */
export const QR_QUIET_MODULES = 4;

export interface EncoderOptions {
  readonly paperWidthDots: number;
  readonly columns: number;
  readonly gb18030: boolean;
  readonly rasterStripeRowsMax: number;
}

export interface Segment {
  readonly blockIndex: number;
  readonly bytes: Buffer;
}

/** Bytes that start every job: a known state whatever the last job (or a reboot) left behind. */
export function jobPrologue(gb18030: boolean): Buffer {
  const bytes = [ESC, 0x40, GS, 0x61, 0x00];
  bytes.push(...(gb18030 ? [FS, 0x26] : [FS, 0x2e]));
  return Buffer.from(bytes);
}

export function encodeBlock(block: PrintBlock, blockIndex: number, options: EncoderOptions): Segment[] {
  const wrap = (bytes: Buffer): Segment[] => [{ blockIndex, bytes }];
  switch (block.kind) {
    case 'text': return wrap(encodeText(block, options));
    case 'feed': return wrap(Buffer.from([ESC, 0x64, clamp(block.lines, 0, FEED_LINES_MAX)]));
    case 'cut': return wrap(Buffer.from([GS, 0x56, block.partial ? 66 : 65, 3]));
    case 'qr': return encodeImage(qrImage(block.data, block.errorCorrection ?? 'M', block.moduleDots, options.paperWidthDots),
      block.align ?? 'center', blockIndex, options);
    case 'image': return encodeImage(block.image, block.align ?? 'center', blockIndex, options);
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.floor(Number.isFinite(n) ? n : lo)));
}

// ---------------------------------------------------------------- text

function encodeText(block: Extract<PrintBlock, { kind: 'text' }>, options: EncoderOptions): Buffer {
  const width = clamp(block.size?.width ?? 1, 1, TEXT_SIZE_MAX);
  const height = clamp(block.size?.height ?? 1, 1, TEXT_SIZE_MAX);
  const columns = Math.max(1, Math.floor(options.columns / width));
  const parts: Buffer[] = [Buffer.from([ESC, 0x61, alignCode(block.align), ESC, 0x45, block.bold ? 1 : 0,
    GS, 0x21, ((width - 1) << 4) | (height - 1)])];
  for (const line of wrapText(printable(block.text, options.gb18030), columns)) {
    parts.push(encodeChars(line, options.gb18030), Buffer.from([LF]));
  }
  parts.push(Buffer.from([ESC, 0x45, 0, GS, 0x21, 0, ESC, 0x61, 0]));
  return Buffer.concat(parts);
}

function alignCode(align: Align | undefined): number {
  return align === 'center' ? 1 : align === 'right' ? 2 : 0;
}

/** Whether a character takes two cells: CJK and full-width forms (printed only in GB18030 mode). */
export function isWide(ch: string): boolean {
  const cp = ch.codePointAt(0) ?? 0;
  return (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff)
    || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || cp >= 0x20000;
}

/**
 * Replaces what must never reach the printer as text: control characters (an amount or a
 * merchant name containing ESC would become a command) and, without GB18030, anything non-ASCII.
 */
export function printable(text: string, gb18030: boolean): string {
  let out = '';
  for (const ch of text.replace(/\r\n?/g, '\n').replace(/\t/g, ' ')) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\n') out += ch;
    else if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0)) out += '?';
    else if (cp >= 0x80 && !gb18030) out += '?';
    else out += ch;
  }
  return out;
}

/** Splits text into printed lines no wider than `columns` cells (a wide character is 2 cells). */
export function wrapText(text: string, columns: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    let cells = 0;
    for (const ch of paragraph) {
      const w = isWide(ch) ? 2 : 1;
      if (cells + w > columns) { lines.push(line); line = ''; cells = 0; }
      line += ch;
      cells += w;
    }
    lines.push(line);
  }
  return lines;
}

function encodeChars(line: string, gb18030: boolean): Buffer {
  return gb18030 ? encodeGb18030(line) : Buffer.from(line, 'latin1');
}

// The GB18030 table (common/gb18030.ts: filled from ICU's decoder, iconv-lite only for rare
// characters) and the QR encoder load on the first receipt, not at boot: a boot on a slow CPU does
// not pay for them (issue 14). Only the encoder of `qrcode` is loaded, not its index, which also
// loads PNG and SVG renderers (pngjs) the printer never uses.

let qrCore: Pick<typeof Qr, 'create'> | undefined;
function qrCreate(data: string, options: Qr.QRCodeOptions): Qr.QRCode {
  return (qrCore ??= require('qrcode/lib/core/qrcode') as Pick<typeof Qr, 'create'>).create(data, options);
}

// ---------------------------------------------------------------- images

/** Renders a QR code from the `qrcode` package's module matrix, quiet zone included. */
export function qrImage(data: string, level: 'L' | 'M' | 'Q' | 'H', moduleDots: number | undefined, paperWidthDots: number): MonoImage {
  const qr = qrCreate(data, { errorCorrectionLevel: level });
  const size = qr.modules.size;
  const total = size + 2 * QR_QUIET_MODULES;
  const dots = clamp(moduleDots ?? Math.floor(paperWidthDots / total), 1, QR_MODULE_DOTS_MAX);
  const side = total * dots;
  const pixels = new Uint8Array(side * side);
  for (let y = 0; y < side; y++) {
    const row = Math.floor(y / dots) - QR_QUIET_MODULES;
    for (let x = 0; x < side; x++) {
      const col = Math.floor(x / dots) - QR_QUIET_MODULES;
      const inside = row >= 0 && row < size && col >= 0 && col < size;
      pixels[y * side + x] = inside && qr.modules.data[row * size + col] ? 1 : 0;
    }
  }
  return { width: side, height: side, pixels };
}

/**
 * GS v 0 stripes. Alignment is baked into the bitmap as white columns on the left, so the image
 * lands in the same place whether or not a printer applies ESC a to raster images.
 */
function encodeImage(image: MonoImage, align: Align, blockIndex: number, options: EncoderOptions): Segment[] {
  const width = Math.min(image.width, options.paperWidthDots);
  const free = options.paperWidthDots - width;
  const left = align === 'center' ? Math.floor(free / 2) : align === 'right' ? free : 0;
  const rowBytes = Math.ceil((left + width) / 8);
  const segments: Segment[] = [{ blockIndex, bytes: Buffer.from([ESC, 0x61, 0]) }];
  for (let top = 0; top < image.height; top += options.rasterStripeRowsMax) {
    const rows = Math.min(options.rasterStripeRowsMax, image.height - top);
    const bytes = Buffer.alloc(8 + rowBytes * rows);
    bytes.set([GS, 0x76, 0x30, 0, rowBytes & 0xff, rowBytes >> 8, rows & 0xff, rows >> 8]);
    for (let y = 0; y < rows; y++) {
      const src = (top + y) * image.width;
      const dst = 8 + y * rowBytes;
      for (let x = 0; x < width; x++) {
        if (image.pixels[src + x]) bytes[dst + ((left + x) >> 3)] |= 0x80 >> ((left + x) & 7);
      }
    }
    segments.push({ blockIndex, bytes });
  }
  return segments;
}

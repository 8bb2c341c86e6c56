/**
 * A virtual ESC/POS thermal printer on the far end of a serial port. Written from the ESC/POS
 * command reference, independently of hal/drivers/escpos-*.ts (it imports nothing from them), so
 * a driver bug is not mirrored here.
 *
 * Modelled like the common 58/80 mm printers:
 *   - A bounded receive buffer (`inputBufferBytesMax`); bytes beyond it are lost and counted.
 *   - Real-time commands are executed AT RECEPTION, even while printing is stopped, and also
 *     wherever their byte pattern appears inside other data (raster bytes included), as Epson
 *     documents: DLE EOT 1..4 (status), DLE ENQ 1/2 (recover), DLE DC4 fn 8 (clear buffers,
 *     answers 37h 25h 00h). In command position the decoder then skips them.
 *   - Everything else is processed in order while the printer is online. Paper out, an open
 *     cover or an error stop processing; what is in the buffer waits and prints after recovery.
 *   - GS r 1 is answered in order, after everything before it has been processed (printed).
 *   - Text: ESC @, ESC ! / E / G / - / a / 2 / 3 / d / J, GS ! / B, HT, LF; line wrap at the paper
 *     width; FS & / FS . Chinese mode with GB18030 (2- and 4-byte), decoded to Unicode.
 *   - GS v 0 raster images (all four scale modes), GS V cuts, GS I printer id.
 *   - Commands it does not print (barcodes, NV images, GS ( ... ) are parsed for their length and
 *     skipped, so they never turn into garbage text. Unknown ESC/GS/FS x: both bytes skipped.
 * Not modelled: page mode, ASB (GS a is accepted and ignored), user-defined characters (skipped),
 * Font B widths, real CJK glyphs (placeholder boxes on the PNG; the decoded text is exact).
 */
import type * as Iconv from 'iconv-lite';
import type { SerialPort } from '../hal/serial';
import { Align, Cell, PAPER_RECEIPTS_MAX_DEFAULT, PAPER_ROWS_MAX_DEFAULT, PaperRoll, Receipt, cellHeight, cellWidth } from './virtual-printer-paper';

export type { Receipt, PaperItem, TextRun } from './virtual-printer-paper';

const LF = 0x0a, HT = 0x09, ESC = 0x1b, GS = 0x1d, FS = 0x1c, DLE = 0x10;
const DOTS_PER_MM = 8;
const LINE_SPACING_DOTS_DEFAULT = 30;
const TAB_COLUMNS = 8;
/** ESC D tab list, GS k barcode data: NUL-terminated lists end here at the latest. */
const NUL_LIST_BYTES_MAX = 255;
const CLEAR_SEQUENCE = [DLE, 0x14, 8, 1, 3, 20, 1, 6, 2, 8];
// iconv-lite's tables load on the first character that needs them, not when the simulator board
// is built: the terminal's boot on the simulator does not pay for its virtual printer (issue 14).
let iconvModule: typeof Iconv | undefined;
function iconv(): typeof Iconv {
  return (iconvModule ??= require('iconv-lite') as typeof Iconv);
}
/** Code page 437 for bytes 0x80..0xFF outside Chinese mode, decoded once (on first use). */
let cp437High: string | undefined;
function cp437(b: number): string {
  cp437High ??= iconv().decode(Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i)), 'cp437');
  return cp437High[b - 0x80];
}
/** GB18030 sequences seen so far (iconv per character is slow); bounded. */
const GB_CACHE_MAX = 4096;
const gbCache = new Map<string, string>();

function decodeGb(bytes: Buffer): string {
  const key = bytes.toString('latin1');
  let ch = gbCache.get(key);
  if (ch === undefined) {
    ch = iconv().decode(bytes, 'gb18030');
    if (gbCache.size < GB_CACHE_MAX) gbCache.set(key, ch);
  }
  return ch;
}

/** Parameter bytes after ESC x / GS x / FS x for the fixed-length commands. */
const ESC_PARAMS: Record<string, number | undefined> = {
  '@': 0, E: 1, G: 1, '-': 1, a: 1, '!': 1, d: 1, J: 1, '2': 0, '3': 1, t: 1, M: 1, R: 1, V: 1, '{': 1, ' ': 1,
  $: 2, '\\': 2, r: 1, T: 1, W: 8, i: 0, m: 0, L: 0, S: 0, p: 3, '=': 1, U: 1, '%': 1, e: 1, '?': 1, c: 2, K: 1,
};
const GS_PARAMS: Record<string, number | undefined> = {
  '!': 1, B: 1, a: 1, b: 1, H: 1, h: 1, w: 1, f: 1, L: 2, W: 2, P: 2, E: 1, T: 1, I: 1, r: 1, '/': 1, '^': 3, G: 1,
};
const FS_PARAMS: Record<string, number | undefined> = { '&': 0, '.': 0, '!': 1, '-': 1, S: 2, W: 1, C: 1, p: 2, '?': 2, '2': 74 };

export type PrinterFault = 'cutter' | 'head-hot' | 'unrecoverable';

export interface VirtualPrinterOptions {
  /** 384 for 58 mm, 576 for 80 mm. */
  readonly paperWidthDots?: number;
  /** Has a GB18030 font: FS & enters Chinese mode. Without it FS & is ignored. */
  readonly gb18030?: boolean;
  /** Receive buffer size (bytes); real printers have 4 KB to 64 KB. */
  readonly inputBufferBytesMax?: number;
  /** Paper on the roll (mm); Infinity for a roll that never ends. */
  readonly paperLengthMm?: number;
  /** The near-end sensor trips at this much paper left (mm). */
  readonly nearEndMm?: number;
  /** Rows of the paper bitmap kept in memory (the newest; PAPER_ROWS_MAX_DEFAULT). */
  readonly paperRowsMax?: number;
  /** Receipts kept (the newest; PAPER_RECEIPTS_MAX_DEFAULT): older ones are torn off. */
  readonly paperReceiptsMax?: number;
}

interface RasterState { rowBytes: number; rowsLeft: number; col: number; row: Uint8Array; widthDots: number; scaleX: number; scaleY: number; x: number }

/**
 * The printer itself, without a port: `receive` bytes, answers go to `answer`. The fuzz test
 * drives this directly.
 */
export class EscPosMachine {
  readonly paper: PaperRoll;
  readonly paperWidthDots: number;
  readonly gb18030: boolean;
  readonly inputBufferBytesMax: number;
  // ---- counters for tests and diagnostics
  bytesReceived = 0;
  bytesLost = 0;
  unknownCommands = 0;
  realtimeCommands = 0;
  clears = 0;
  // ---- sensors and state
  coverOpen = false;
  fault: PrinterFault | undefined;
  paperRemainingDots: number;
  nearEndDots: number;
  private input = Buffer.alloc(0);
  private pos = 0;
  private rtWindow: number[] = [];
  private skipBytes = 0;
  private raster?: RasterState;
  private nvImagesLeft = 0;
  private userChars?: { left: number; height: number };
  // ---- print modes
  private line: Cell[] = [];
  private lineWidthDots = 0;
  private bold = false;
  private underline = false;
  private width = 1;
  private height = 1;
  private align: Align = 'left';
  private lineSpacing = LINE_SPACING_DOTS_DEFAULT;
  private chinese = false;
  private processing = false;

  constructor(private readonly answer: (bytes: Buffer) => void, options: VirtualPrinterOptions = {}) {
    this.paperWidthDots = options.paperWidthDots ?? 384;
    this.gb18030 = options.gb18030 ?? true;
    this.inputBufferBytesMax = options.inputBufferBytesMax ?? 4096;
    this.paperRemainingDots = (options.paperLengthMm ?? Infinity) * DOTS_PER_MM;
    this.nearEndDots = (options.nearEndMm ?? 0) * DOTS_PER_MM;
    this.paper = new PaperRoll(this.paperWidthDots, options.paperRowsMax ?? PAPER_ROWS_MAX_DEFAULT, options.paperReceiptsMax ?? PAPER_RECEIPTS_MAX_DEFAULT);
  }

  get paperOut(): boolean {
    return this.paperRemainingDots <= 0;
  }

  get paperNearEnd(): boolean {
    return !this.paperOut && this.paperRemainingDots <= this.nearEndDots;
  }

  get online(): boolean {
    return !this.coverOpen && !this.paperOut && !this.fault;
  }

  /** Bytes received and not yet processed. */
  get bufferedBytes(): number {
    return this.input.length - this.pos;
  }

  receive(bytes: Uint8Array): void {
    let keepFrom = 0;
    const kept: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) {
      if (this.scanRealtime(bytes[i])) { keepFrom = i + 1; kept.length = 0; }
    }
    kept.push(bytes.subarray(keepFrom));
    this.bytesReceived += bytes.length;
    for (const part of kept) this.append(part);
    this.process();
  }

  /** Runs the decoder while online and there are bytes; also called after a sensor change. */
  process(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.online && this.pos < this.input.length && this.step());
    } finally {
      this.processing = false;
    }
    if (this.pos > 4096 || this.pos === this.input.length) { this.input = this.input.subarray(this.pos); this.pos = 0; }
  }

  // ---------------------------------------------------------------- status

  statusByte(n: number): number {
    const f = this.fault;
    switch (n) {
      case 1: return 0x12 | (this.online ? 0 : 0x08);
      case 2: return 0x12 | (this.coverOpen ? 0x04 : 0) | (this.paperOut ? 0x20 : 0) | (f ? 0x40 : 0);
      case 3: return 0x12 | (f === 'cutter' ? 0x08 : 0) | (f === 'unrecoverable' ? 0x20 : 0) | (f === 'head-hot' ? 0x40 : 0);
      default: return 0x12 | (this.paperNearEnd ? 0x0c : 0) | (this.paperOut ? 0x60 : 0);
    }
  }

  /** GS r 1: roll paper sensor; bit 4 is always 0 (how hosts tell it from DLE EOT answers). */
  paperSensorByte(): number {
    return (this.paperNearEnd ? 0x03 : 0) | (this.paperOut ? 0x0c : 0);
  }

  // ---------------------------------------------------------------- reception

  private append(bytes: Uint8Array): void {
    const room = this.inputBufferBytesMax - this.bufferedBytes;
    const take = Math.max(0, Math.min(room, bytes.length));
    this.bytesLost += bytes.length - take;
    if (take === 0) return;
    this.input = Buffer.concat([this.input.subarray(this.pos), bytes.subarray(0, take)]);
    this.pos = 0;
  }

  /** Watches the byte stream for real-time commands; true when a buffer clear just happened. */
  private scanRealtime(byte: number): boolean {
    const w = this.rtWindow;
    w.push(byte);
    if (w.length > CLEAR_SEQUENCE.length) w.shift();
    const n = w.length;
    if (n >= 3 && w[n - 3] === DLE && w[n - 2] === 0x04 && byte >= 1 && byte <= 4) {
      this.realtimeCommands++;
      this.answer(Buffer.from([this.statusByte(byte)]));
    } else if (n >= 3 && w[n - 3] === DLE && w[n - 2] === 0x05 && (byte === 1 || byte === 2)) {
      this.realtimeCommands++;
      if (this.fault === 'head-hot' || this.fault === 'cutter') this.fault = undefined;
      if (byte === 2) { this.clearBuffers(); return true; }
    } else if (n === CLEAR_SEQUENCE.length && CLEAR_SEQUENCE.every((b, i) => w[i] === b)) {
      this.realtimeCommands++;
      this.clearBuffers();
      this.answer(Buffer.from([0x37, 0x25, 0x00]));
      return true;
    }
    return false;
  }

  private clearBuffers(): void {
    this.clears++;
    this.input = Buffer.alloc(0);
    this.pos = 0;
    this.line = [];
    this.lineWidthDots = 0;
    this.raster = undefined;
    this.skipBytes = 0;
    this.nvImagesLeft = 0;
    this.userChars = undefined;
    this.rtWindow = [];
  }

  // ---------------------------------------------------------------- decoding

  private avail(): number {
    return this.input.length - this.pos;
  }

  private at(offset: number): number {
    return this.input[this.pos + offset];
  }

  /** Decodes and executes one command or character; false when it must wait (data or paper). */
  private step(): boolean {
    if (this.skipBytes > 0) return this.stepSkip();
    if (this.raster) return this.stepRaster(this.raster);
    if (this.nvImagesLeft > 0) return this.stepNvImage();
    if (this.userChars) return this.stepUserChar(this.userChars);
    const b = this.at(0);
    if (b >= 0x20 && b !== 0x7f) return this.stepChar();
    switch (b) {
      case LF: return this.consumeIf(1, this.flushLine(true));
      case HT: return this.consumeIf(1, this.tab());
      case ESC: return this.stepEsc();
      case GS: return this.stepGs();
      case FS: return this.stepFs();
      case DLE: return this.stepDle();
      default: this.pos++; return true; // CR, FF, CAN and other controls: nothing to print
    }
  }

  private consumeIf(bytes: number, ok: boolean): boolean {
    if (ok) this.pos += bytes;
    return ok;
  }

  private stepSkip(): boolean {
    const n = Math.min(this.avail(), this.skipBytes);
    this.pos += n;
    this.skipBytes -= n;
    return n > 0;
  }

  private stepChar(): boolean {
    const b = this.at(0);
    if (b < 0x80) return this.consumeIf(1, this.addChar(String.fromCharCode(b)));
    if (!this.chinese) return this.consumeIf(1, this.addChar(cp437(b)));
    if (b === 0x80 || b === 0xff) return this.consumeIf(1, this.addChar('?'));
    if (this.avail() < 2) return false;
    const b1 = this.at(1);
    if (b1 >= 0x30 && b1 <= 0x39) {
      if (this.avail() < 4) return false;
      return this.consumeIf(4, this.addChar(decodeGb(this.input.subarray(this.pos, this.pos + 4))));
    }
    if (b1 < 0x40 || b1 === 0x7f || b1 === 0xff) return this.consumeIf(1, this.addChar('?'));
    return this.consumeIf(2, this.addChar(decodeGb(this.input.subarray(this.pos, this.pos + 2))));
  }

  private stepEsc(): boolean {
    if (this.avail() < 2) return false;
    const c = String.fromCharCode(this.at(1));
    if (c === 'D') return this.stepNulList(2, 32);
    if (c === '*') return this.stepEscBitImage();
    if (c === '&') return this.stepUserCharHeader();
    const params = ESC_PARAMS[c];
    if (params === undefined) { this.unknownCommands++; this.pos += 2; return true; }
    if (this.avail() < 2 + params) return false;
    const n = this.at(2);
    return this.consumeIf(2 + params, this.execEsc(c, n));
  }

  /** Executes ESC c [n]; false if it needs paper that is not there (nothing consumed). */
  private execEsc(c: string, n: number): boolean {
    switch (c) {
      case '@': this.reset(); return true;
      case 'E': case 'G': this.bold = (n & 1) === 1; return true;
      case '-': this.underline = (n & 3) !== 0 && n !== 48; return true;
      case 'a': this.align = ([0, 48].includes(n) ? 'left' : [1, 49].includes(n) ? 'center' : [2, 50].includes(n) ? 'right' : this.align); return true;
      case '!': this.bold = (n & 0x08) !== 0; this.height = n & 0x10 ? 2 : 1; this.width = n & 0x20 ? 2 : 1; this.underline = (n & 0x80) !== 0; return true;
      case 'd': return this.flushThenFeed(n * this.lineSpacing);
      case 'J': return this.flushThenFeed(n);
      case '2': this.lineSpacing = LINE_SPACING_DOTS_DEFAULT; return true;
      case '3': this.lineSpacing = n; return true;
      default: return true;
    }
  }

  private stepGs(): boolean {
    if (this.avail() < 2) return false;
    const c = String.fromCharCode(this.at(1));
    switch (c) {
      case 'v': return this.stepRasterHeader();
      case 'V': return this.stepCut();
      case 'k': return this.stepBarcode();
      case '(': return this.stepLengthSkip(5, this.avail() >= 5 ? this.at(3) + this.at(4) * 256 : 0);
      case '8': return this.stepGs8();
      case '*': return this.stepLengthSkip(4, this.avail() >= 4 ? this.at(2) * this.at(3) * 8 : 0);
    }
    const params = GS_PARAMS[c];
    if (params === undefined) { this.unknownCommands++; this.pos += 2; return true; }
    if (this.avail() < 2 + params) return false;
    this.execGs(c, this.at(2));
    this.pos += 2 + params;
    return true;
  }

  private execGs(c: string, n: number): void {
    switch (c) {
      case '!': this.width = ((n >> 4) & 7) + 1; this.height = (n & 7) + 1; break;
      case 'r': this.answer(Buffer.from([n === 1 || n === 49 ? this.paperSensorByte() : 0])); break;
      case 'I': this.answer(Buffer.from([n === 2 || n === 50 ? (this.gb18030 ? 0x01 : 0) | 0x02 : n === 3 || n === 51 ? 0x01 : 0x20])); break;
      default: break;
    }
  }

  private stepFs(): boolean {
    if (this.avail() < 2) return false;
    const c = String.fromCharCode(this.at(1));
    if (c === 'q') {
      if (this.avail() < 3) return false;
      this.nvImagesLeft = this.at(2);
      this.pos += 3;
      return true;
    }
    const params = FS_PARAMS[c];
    if (params === undefined) { this.unknownCommands++; this.pos += 2; return true; }
    if (this.avail() < 2 + params) return false;
    if (c === '&' && this.gb18030) this.chinese = true;
    if (c === '.') this.chinese = false;
    if (c === '!') { this.width = this.at(2) & 0x04 ? 2 : 1; this.height = this.at(2) & 0x08 ? 2 : 1; }
    this.pos += 2 + params;
    return true;
  }

  /** In command position real-time commands were already executed at reception: skip them. */
  private stepDle(): boolean {
    if (this.avail() < 2) return false;
    const c = this.at(1);
    if (c === 0x04 || c === 0x05) return this.consumeIf(3, this.avail() >= 3);
    if (c !== 0x14) { this.pos += 1; return true; }
    if (this.avail() < 3) return false;
    const fn = this.at(2);
    const length = fn === 8 ? 10 : fn === 1 || fn === 2 ? 5 : fn === 7 ? 4 : 3;
    return this.consumeIf(length, this.avail() >= length);
  }

  private stepLengthSkip(header: number, length: number): boolean {
    if (this.avail() < header) return false;
    this.pos += header;
    this.skipBytes = length;
    return true;
  }

  private stepGs8(): boolean {
    if (this.avail() < 3) return false;
    if (this.at(2) !== 0x4c) { this.unknownCommands++; this.pos += 2; return true; }
    if (this.avail() < 7) return false;
    const length = this.at(3) + this.at(4) * 0x100 + this.at(5) * 0x10000 + this.at(6) * 0x1000000;
    return this.stepLengthSkip(7, length);
  }

  /** NUL-terminated parameter list (ESC D, GS k m<=6): bounded so garbage cannot stall us. */
  private stepNulList(header: number, maxItems: number): boolean {
    const limit = Math.min(maxItems, NUL_LIST_BYTES_MAX);
    for (let i = header; i < header + limit + 1; i++) {
      if (i >= this.avail()) return false;
      if (this.at(i) === 0) { this.pos += i + 1; return true; }
    }
    this.pos += header + limit;
    return true;
  }

  private stepBarcode(): boolean {
    if (this.avail() < 3) return false;
    const m = this.at(2);
    if (m <= 6) return this.stepNulList(3, NUL_LIST_BYTES_MAX);
    return this.stepLengthSkip(4, this.avail() >= 4 ? this.at(3) : 0);
  }

  private stepEscBitImage(): boolean {
    if (this.avail() < 5) return false;
    const m = this.at(2);
    const columns = this.at(3) + this.at(4) * 256;
    return this.stepLengthSkip(5, m === 32 || m === 33 ? columns * 3 : columns);
  }

  private stepUserCharHeader(): boolean {
    if (this.avail() < 5) return false;
    const first = this.at(3);
    const last = this.at(4);
    this.userChars = { left: Math.max(0, last - first + 1), height: this.at(2) };
    this.pos += 5;
    return true;
  }

  private stepUserChar(state: { left: number; height: number }): boolean {
    if (state.left <= 0) { this.userChars = undefined; return true; }
    state.left--;
    this.skipBytes = this.at(0) * state.height;
    this.pos += 1;
    return true;
  }

  private stepNvImage(): boolean {
    if (this.avail() < 4) return false;
    const x = this.at(0) + this.at(1) * 256;
    const y = this.at(2) + this.at(3) * 256;
    this.nvImagesLeft--;
    return this.stepLengthSkip(4, x * y * 8);
  }

  // ---------------------------------------------------------------- raster and cut

  private stepRasterHeader(): boolean {
    if (this.avail() < 8) return false;
    if (this.at(2) !== 0x30 && this.at(2) !== 0) { this.unknownCommands++; this.pos += 3; return true; }
    const m = this.at(3) & 3;
    const rowBytes = this.at(4) + this.at(5) * 256;
    const rows = this.at(6) + this.at(7) * 256;
    this.pos += 8;
    if (!this.flushLine(false)) { this.pos -= 8; return false; }
    if (rowBytes === 0 || rows === 0) return true;
    const scaleX = m & 1 ? 2 : 1;
    const widthDots = Math.min(rowBytes * 8, Math.floor(this.paperWidthDots / scaleX));
    const free = this.paperWidthDots - widthDots * scaleX;
    const x = this.align === 'center' ? Math.floor(free / 2) : this.align === 'right' ? free : 0;
    this.raster = { rowBytes, rowsLeft: rows, col: 0, row: new Uint8Array(Math.ceil(widthDots / 8)), widthDots, scaleX, scaleY: m & 2 ? 2 : 1, x };
    return true;
  }

  private stepRaster(r: RasterState): boolean {
    if (r.col === 0 && !this.usePaper(r.scaleY)) return false;
    const n = Math.min(this.avail(), r.rowBytes - r.col);
    for (let i = 0; i < n; i++) {
      if (r.col + i < r.row.length) r.row[r.col + i] = this.at(i);
    }
    this.pos += n;
    r.col += n;
    if (r.col < r.rowBytes) return n > 0;
    this.paper.rasterRow(r.row, r.x, r.widthDots, r.scaleX, r.scaleY);
    r.col = 0;
    r.row.fill(0);
    r.rowsLeft--;
    if (r.rowsLeft === 0) this.raster = undefined;
    return true;
  }

  private stepCut(): boolean {
    if (this.avail() < 3) return false;
    const m = this.at(2);
    const withFeed = [65, 66, 97, 98, 103, 104].includes(m);
    if (withFeed && this.avail() < 4) return false;
    const feed = withFeed ? this.at(3) : 0;
    if (!this.flushLine(false) || !this.usePaper(feed)) return false;
    if (this.fault === 'cutter') return false;
    this.paper.feed(feed);
    this.paper.cut(m === 1 || m === 49 || m === 66 || m === 98 || m === 104);
    this.pos += withFeed ? 4 : 3;
    return true;
  }

  // ---------------------------------------------------------------- text

  private reset(): void {
    this.line = [];
    this.lineWidthDots = 0;
    this.bold = false;
    this.underline = false;
    this.width = 1;
    this.height = 1;
    this.align = 'left';
    this.lineSpacing = LINE_SPACING_DOTS_DEFAULT;
    this.chinese = false;
  }

  private addChar(ch: string): boolean {
    const wide = this.chinese && ch.length > 0 && (ch.codePointAt(0) ?? 0) >= 0x80;
    const cell: Cell = { ch, wide, bold: this.bold, underline: this.underline, width: this.width, height: this.height };
    const width = cellWidth(cell);
    if (width > this.paperWidthDots) return true; // cannot ever fit: dropped, as printers do
    if (this.lineWidthDots + width > this.paperWidthDots && !this.flushLine(true)) return false;
    this.line.push(cell);
    this.lineWidthDots += width;
    return true;
  }

  private tab(): boolean {
    const used = this.lineWidthDots / 12;
    const spaces = TAB_COLUMNS - (Math.floor(used) % TAB_COLUMNS);
    for (let i = 0; i < spaces; i++) if (!this.addChar(' ')) return false;
    return true;
  }

  /** Prints the line buffer. `always`: LF prints an empty line too (a blank line feed). */
  private flushLine(always: boolean): boolean {
    if (!this.line.length && !always) return true;
    const tallest = Math.max(0, ...this.line.map(cellHeight));
    const height = Math.max(this.lineSpacing, tallest);
    if (!this.usePaper(height)) return false;
    if (this.line.length) this.paper.printLine(this.line, this.align, height);
    else this.paper.feed(height);
    this.line = [];
    this.lineWidthDots = 0;
    return true;
  }

  private flushThenFeed(dots: number): boolean {
    if (!this.flushLine(false) || !this.usePaper(dots)) return false;
    this.paper.feed(dots);
    return true;
  }

  /** Takes `dots` of paper; if the roll ends first, the printer stops (paper out). */
  private usePaper(dots: number): boolean {
    if (this.paperRemainingDots >= dots) { this.paperRemainingDots -= dots; return true; }
    this.paperRemainingDots = 0;
    return false;
  }
}

/** The virtual printer attached to a serial port, with the controls a test or front panel uses. */
export class VirtualPrinter {
  readonly machine: EscPosMachine;
  private powered = true;
  private readonly receiptListeners = new Set<(receipt: Receipt) => void>();
  private receiptsSeen = 0;

  constructor(private readonly port: SerialPort, options: VirtualPrinterOptions = {}) {
    this.machine = new EscPosMachine((bytes) => this.send(bytes), options);
    port.onData((chunk) => {
      if (!this.powered) return;
      this.machine.receive(chunk);
      this.notifyReceipts();
    });
  }

  /** Text lines of the receipts the roll still holds (the newest paperReceiptsMax). */
  get lines(): string[] {
    return this.machine.paper.items.flatMap((i) => (i.kind === 'text' ? [i.text] : []));
  }

  /** Receipts split at each cut, the newest paperReceiptsMax (older ones torn off); the last one may be uncut. */
  receipts(): Receipt[] {
    return this.machine.paper.receipts();
  }

  /** PNG of the whole roll, or of one receipt. */
  png(receipt?: Receipt): Buffer {
    return receipt ? this.machine.paper.png(receipt.startY, receipt.endY) : this.machine.paper.png();
  }

  /** Called at each cut with the receipt it finished (a front panel shows it). */
  onReceipt(listener: (receipt: Receipt) => void): () => void {
    this.receiptListeners.add(listener);
    return () => this.receiptListeners.delete(listener);
  }

  // ---- faults and sensors
  loadPaper(lengthMm = Infinity): void { this.machine.paperRemainingDots = lengthMm * DOTS_PER_MM; this.resume(); }
  /** Leaves `lengthMm` of paper on the roll: printing stops with paper out when it is used up. */
  setPaperRemainingMm(lengthMm: number): void { this.machine.paperRemainingDots = lengthMm * DOTS_PER_MM; this.resume(); }
  setNearEndMm(mm: number): void { this.machine.nearEndDots = mm * DOTS_PER_MM; }
  openCover(): void { this.machine.coverOpen = true; }
  closeCover(): void { this.machine.coverOpen = false; this.resume(); }
  setFault(fault: PrinterFault | undefined): void { this.machine.fault = fault; this.resume(); }
  /** Power off: nothing is answered or printed until powerOn (the buffer is lost). */
  powerOff(): void { this.powered = false; }
  powerOn(): void { this.powered = true; }

  private resume(): void {
    this.machine.process();
    this.notifyReceipts();
  }

  private send(bytes: Buffer): void {
    if (!this.powered || !this.port.isOpen) return;
    this.port.write(bytes).catch(() => undefined); // a lost port is the driver's problem to report
  }

  private notifyReceipts(): void {
    if (!this.receiptListeners.size) return;
    // receiptsSeen counts from the first receipt ever cut; the roll keeps only the newest.
    const shed = this.machine.paper.receiptsShed;
    const cut = this.receipts().filter((r) => r.cut);
    this.receiptsSeen = Math.max(this.receiptsSeen, shed);
    for (; this.receiptsSeen < shed + cut.length; this.receiptsSeen++) for (const l of this.receiptListeners) l(cut[this.receiptsSeen - shed]);
  }
}

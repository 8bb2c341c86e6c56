/**
 * The host's QR code on the 128×64 graphic display (docs/PROTOCOL.md, "QR code payments": the
 * answer's `A3`, at most 32 characters, is shown as a QR code) and the "scan to pay" screen
 * around it.
 *
 * The code is always version 2 at error level L: 25×25 modules, 2 pixels each, a 2-module quiet
 * zone, 58×58 pixels. One fixed size so that the text column beside it always has the same room
 * (the 64 pixels right of x = 64), and 2 pixels per module because 1 pixel on a 0.96" panel is too
 * small for a phone camera at arm's length. A 2-module quiet zone is half the printed standard; a
 * lit panel surrounded by its dark bezel and unlit pixels reads well with it, and 4 modules would
 * not fit 64 pixels at 2 pixels per module. Content that version 2-L cannot hold is refused, not
 * shrunk: the caller prints it (hal/printer `qr` block) instead.
 *
 * Pixels are a hal FrameBuffer like every screen (ui-lcd/render-pixels.ts). On the SSD1306 a set
 * pixel emits light, so by default dark modules are unlit and the quiet zone and light modules are
 * lit: the code reads dark-on-light as scanners expect. `darkModulesLit` flips it for a panel
 * whose set pixels are dark (a reflective LCD).
 */
import type * as Qr from 'qrcode';
import { FrameBuffer, PixelCapabilities } from '../../hal/display';
import { GLYPH_HEIGHT_PX, HALF_WIDTH_PX, cellsOf, glyph } from '../font';
import type { Locale } from '../screen';
import { formatAmount } from '../strings';

/** The host's `A3` is at most 32 characters (docs/PROTOCOL.md). */
export const QR_CONTENT_CHARS_MAX = 32;
export const QR_VERSION = 2;
export const QR_ERROR_LEVEL = 'L';
/** Modules per side of a version 2 symbol (17 + 4 × version). */
export const QR_MODULES_PER_SIDE = 25;
export const QR_MODULE_PX = 2;
export const QR_QUIET_MODULES = 2;
/** (25 + 2 × 2) × 2 = 58: fits the 64-pixel height with 3 pixels above and below. */
export const QR_SIDE_PX = (QR_MODULES_PER_SIDE + 2 * QR_QUIET_MODULES) * QR_MODULE_PX;

/** The scan-to-pay screen needs the whole 128×64 panel. */
export const SCAN_SCREEN_WIDTH_PX_MIN = 128;
export const SCAN_SCREEN_HEIGHT_PX_MIN = 64;
/**
 * The text column starts on the 8-pixel cell grid the other screens use (6 pixels right of the
 * code): 64 pixels, 8 half-width or 4 full-width characters per row, 4 rows of 16 pixels.
 */
export const SCAN_TEXT_X_PX = 64;
/** The countdown shows at most 3 digits (the host's validity `A7` is in seconds). */
export const SCAN_SECONDS_SHOWN_MAX = 999;

export interface QrOptions {
  /** true on a panel whose set pixels are dark; default false (SSD1306: set pixels are light). */
  readonly darkModulesLit?: boolean;
}

export type QrRefusalReason = 'empty' | 'too-long' | 'not-ascii' | 'does-not-fit' | 'display-too-small';

export interface QrRefusal {
  readonly kind: 'refused';
  readonly reason: QrRefusalReason;
  /** For the log and the operator (only characters the font has): the caller prints the code instead. */
  readonly text: { readonly zh: string; readonly en: string };
}

export interface QrImage {
  readonly kind: 'ok';
  /** QR_SIDE_PX × QR_SIDE_PX, quiet zone included. */
  readonly frame: FrameBuffer;
  /** The module matrix drawn (row-major, 1 = dark), QR_MODULES_PER_SIDE² entries. */
  readonly modules: Uint8Array;
  readonly maskPattern: number;
}

export const REFUSAL_TEXTS: Readonly<Record<QrRefusalReason, { zh: string; en: string }>> = {
  'empty': { zh: '二维码为空', en: 'QR content is empty' },
  'too-long': { zh: `二维码超过${QR_CONTENT_CHARS_MAX}字符，请打印`, en: `QR content over ${QR_CONTENT_CHARS_MAX} characters: print it` },
  'not-ascii': { zh: '二维码只能含ASCII字符，请打印', en: 'QR content is not ASCII: print it' },
  'does-not-fit': { zh: '二维码过大，无法显示，请打印', en: 'QR code too large for the display: print it' },
  'display-too-small': { zh: '显示屏无法显示二维码，请打印', en: 'Display cannot show a QR code: print it' },
};

function refused(reason: QrRefusalReason): QrRefusal {
  return { kind: 'refused', reason, text: REFUSAL_TEXTS[reason] };
}

/** Printable ASCII only: what the host's A3 may hold, and one byte per character in the symbol. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The code as a 58×58 frame, or why it cannot be shown. */
export function qrCodeImage(content: string, options: QrOptions = {}): QrImage | QrRefusal {
  if (content.length === 0) return refused('empty');
  if (!PRINTABLE_ASCII.test(content)) return refused('not-ascii');
  if (content.length > QR_CONTENT_CHARS_MAX) return refused('too-long');
  let qr: Qr.QRCode;
  try {
    qr = qrCreate(content, { version: QR_VERSION, errorCorrectionLevel: QR_ERROR_LEVEL });
  } catch {
    // The package throws when the content needs a larger version: refused, never a bigger code.
    return refused('does-not-fit');
  }
  if (qr.version !== QR_VERSION || qr.modules.size !== QR_MODULES_PER_SIDE) return refused('does-not-fit');
  const modules = Uint8Array.from(qr.modules.data, (v) => (v ? 1 : 0));
  return { kind: 'ok', frame: drawModules(modules, QR_MODULES_PER_SIDE, QR_MODULE_PX, options), modules, maskPattern: qr.maskPattern ?? 0 };
}

/** The symbol with its quiet zone, `modulePx` pixels per module, polarity as `options` says. */
function drawModules(modules: Uint8Array, n: number, modulePx: number, options: QrOptions): FrameBuffer {
  const light = options.darkModulesLit !== true;
  const side = (n + 2 * QR_QUIET_MODULES) * modulePx;
  const frame = new FrameBuffer(side, side);
  for (let y = 0; y < side; y++) {
    const row = Math.floor(y / modulePx) - QR_QUIET_MODULES;
    for (let x = 0; x < side; x++) {
      const col = Math.floor(x / modulePx) - QR_QUIET_MODULES;
      const inside = row >= 0 && row < n && col >= 0 && col < n;
      const dark = inside && modules[row * n + col] === 1;
      frame.set(x, y, dark ? !light : light);
    }
  }
  frame.takeDirty();
  return frame;
}

// ---------------------------------------------------------------- the e-receipt code

/**
 * The e-receipt link (runtime/receipt.ts eReceiptUrl: the host's DF1A address and the slip's
 * identifiers, 60-130 bytes) is longer than the scan-to-pay code's 32: it is drawn at the smallest
 * version (level L) that holds it, up to version E_RECEIPT_VERSION_MAX, with 2 pixels per module
 * when that fits the panel's height and 1 otherwise. One pixel per module (41 pixels, about 7 mm on
 * a 0.96" panel) is read by a phone held a hand's width away, not at arm's length: the customer
 * leans in, which they do for a receipt. Longer content is refused (the receipt waits for paper).
 */
export const E_RECEIPT_VERSION_MAX = 5;
/** Version 5-L's byte-mode capacity. */
export const E_RECEIPT_CONTENT_BYTES_MAX = 106;

export interface SizedQrImage {
  readonly kind: 'ok';
  readonly frame: FrameBuffer;
  readonly modules: Uint8Array;
  readonly modulesPerSide: number;
  readonly modulePx: number;
  readonly version: number;
}

/** The code at the largest module size (2, else 1 pixel) whose side with the quiet zone fits `sidePxMax`. */
export function qrCodeImageFitting(content: string, sidePxMax: number, options: QrOptions = {}): SizedQrImage | QrRefusal {
  if (content.length === 0) return refused('empty');
  if (!PRINTABLE_ASCII.test(content)) return refused('not-ascii');
  if (content.length > E_RECEIPT_CONTENT_BYTES_MAX) return refused('too-long');
  let qr: Qr.QRCode;
  try {
    qr = qrCreate(content, { errorCorrectionLevel: QR_ERROR_LEVEL });
  } catch {
    return refused('does-not-fit');
  }
  const n = qr.modules.size;
  if (qr.version > E_RECEIPT_VERSION_MAX) return refused('does-not-fit');
  const modulePx = [QR_MODULE_PX, 1].find((px) => (n + 2 * QR_QUIET_MODULES) * px <= sidePxMax);
  if (modulePx === undefined) return refused('display-too-small');
  const modules = Uint8Array.from(qr.modules.data, (v) => (v ? 1 : 0));
  return { kind: 'ok', frame: drawModules(modules, n, modulePx, options), modules, modulesPerSide: n, modulePx, version: qr.version };
}

export interface EReceiptRender {
  readonly kind: 'ok';
  readonly frame: FrameBuffer;
  readonly lines: readonly string[];
  readonly missingGlyphs: readonly string[];
  readonly qr: SizedQrImage;
  /** Where the text column starts (a whole cell right of the code). */
  readonly textXPx: number;
}

/**
 * The e-receipt screen: the code on the left, vertically centred; beside it the lines (already in
 * the screen's language), each cut to the column, one per glyph row.
 */
export function renderEReceipt(content: string, lines: readonly string[], caps: PixelCapabilities, options: QrOptions = {}): EReceiptRender | QrRefusal {
  if (caps.width < SCAN_SCREEN_WIDTH_PX_MIN || caps.height < SCAN_SCREEN_HEIGHT_PX_MIN) return refused('display-too-small');
  const qr = qrCodeImageFitting(content, caps.height, options);
  if (qr.kind === 'refused') return qr;
  const frame = new FrameBuffer(caps.width, caps.height);
  blit(frame, qr.frame, 0, Math.floor((caps.height - qr.frame.height) / 2));
  const textXPx = Math.ceil((qr.frame.width + 1) / HALF_WIDTH_PX) * HALF_WIDTH_PX;
  const cells = Math.floor((caps.width - textXPx) / HALF_WIDTH_PX);
  const shown = lines.slice(0, Math.floor(caps.height / GLYPH_HEIGHT_PX)).map((l) => cut(l, cells));
  const missing = new Set<string>();
  shown.forEach((line, i) => drawText(frame, line, textXPx, i * GLYPH_HEIGHT_PX, missing));
  frame.takeDirty();
  return { kind: 'ok', frame, lines: shown, missingGlyphs: [...missing], qr, textXPx };
}

/** The longest start of `s` that fits `cells`, never half a wide glyph. */
function cut(s: string, cells: number): string {
  let out = '';
  for (const ch of s) {
    if (width(out + ch) > cells) break;
    out += ch;
  }
  return out;
}

/** Copies `image` into `target` with its top-left corner at (x, y); pixels outside are dropped. */
export function blit(target: FrameBuffer, image: FrameBuffer, x: number, y: number): void {
  for (let iy = 0; iy < image.height; iy++) for (let ix = 0; ix < image.width; ix++) target.set(x + ix, y + iy, image.get(ix, iy));
}

// ---------------------------------------------------------------- the scan-to-pay screen

/** Wallet codes of the host's `A4` (UnionPay QuickPass, WeChat Pay, Alipay, other). */
export type WalletCode = 'UP' | 'WX' | 'AL' | 'OT';

export interface ScanToPay {
  /** The host's `A3`. */
  readonly content: string;
  readonly amountFen: number;
  /** Whole seconds before the code expires (the caller counts down on its injected clock). */
  readonly secondsLeft: number;
  /** Wallets the code is good for; 'OT' is never named on the screen. */
  readonly wallets?: readonly WalletCode[];
}

/**
 * What the screen says, longest form first: the layout takes the first that fits 8 cells. The
 * strings to move into ui-lcd/strings.ts (and the font: npm run gen:font) when the screen is wired.
 */
export const SCAN_TEXTS = {
  hint: { zh: ['请扫码付款', '扫码付款'], en: ['Scan to pay', 'Scan&Pay'] },
  secondsLeft: { zh: ['剩余{s}秒', '{s}秒'], en: ['{s}s left', '{s} s', '{s}s'] },
  wallet: {
    UP: { zh: '云闪付', en: 'UnionPay' },
    WX: { zh: '微信', en: 'WeChat' },
    AL: { zh: '支付宝', en: 'Alipay' },
  },
} as const;

export interface ScanToPayRender {
  readonly kind: 'ok';
  readonly frame: FrameBuffer;
  /** The text column's rows as drawn (for the probe and the front panel's text line). */
  readonly lines: readonly string[];
  /** Characters the font subset lacks, drawn as boxes (tests require none once wired). */
  readonly missingGlyphs: readonly string[];
  readonly qr: QrImage;
}

const TEXT_ROWS = SCAN_SCREEN_HEIGHT_PX_MIN / GLYPH_HEIGHT_PX;

/**
 * The whole screen: the code on the left (vertically centred), the text column on the right:
 * amount, "scan to pay", seconds left, wallets. Every text is fitted, never clipped mid-glyph:
 *
 * - amount: "12.34元" / "¥12.34"; "¥8800.00" when "8800.00元" is too wide, then without any
 *   currency sign; over two rows
 *   (cut between digits) past ¥99,999.99, and then the wallet row gives way;
 * - hint: 请扫码付款 (5 characters, 80 px) becomes 扫码付款; "Scan to pay" becomes "Scan&Pay";
 * - seconds: 剩余45秒 / "45s left"; past 2 digits "剩余" and " left" are dropped (120秒, "120 s");
 * - wallets: their names joined by '/' when they fit (one wallet), else the host's codes
 *   ("WX/AL/UP"), else none.
 */
export function renderScanToPay(p: ScanToPay, locale: Locale, caps: PixelCapabilities, options: QrOptions = {}): ScanToPayRender | QrRefusal {
  if (caps.width < SCAN_SCREEN_WIDTH_PX_MIN || caps.height < SCAN_SCREEN_HEIGHT_PX_MIN) return refused('display-too-small');
  const qr = qrCodeImage(p.content, options);
  if (qr.kind === 'refused') return qr;
  // Text is set pixels, as on every other screen, whatever the code's polarity.
  const frame = new FrameBuffer(caps.width, caps.height);
  blit(frame, qr.frame, 0, Math.floor((caps.height - QR_SIDE_PX) / 2));
  const lines = scanLines(p, locale);
  const missing = new Set<string>();
  lines.forEach((line, i) => drawText(frame, line, SCAN_TEXT_X_PX, i * GLYPH_HEIGHT_PX, missing));
  frame.takeDirty();
  return { kind: 'ok', frame, lines, missingGlyphs: [...missing], qr };
}

const TEXT_CELLS = (SCAN_SCREEN_WIDTH_PX_MIN - SCAN_TEXT_X_PX) / HALF_WIDTH_PX;

/** The text column, one string per row (TEXT_ROWS at most), each at most TEXT_CELLS cells. */
export function scanLines(p: ScanToPay, locale: Locale): string[] {
  const lang = locale === 'zh-CN' ? 'zh' : 'en';
  const amount = amountRows(p.amountFen, locale);
  const seconds = Math.max(0, Math.min(SCAN_SECONDS_SHOWN_MAX, Math.ceil(p.secondsLeft)));
  const hint = firstFitting(SCAN_TEXTS.hint[lang]) ?? '';
  const countdown = firstFitting(SCAN_TEXTS.secondsLeft[lang].map((s) => s.replace('{s}', String(seconds)))) ?? String(seconds);
  const rows = [...amount, hint, countdown];
  const wallet = walletLine(p.wallets ?? [], lang);
  if (rows.length < TEXT_ROWS && wallet !== undefined) rows.push(wallet);
  return rows.slice(0, TEXT_ROWS);
}

function amountRows(fen: number, locale: Locale): string[] {
  const full = formatAmount(fen, locale);
  // ¥ and 元 written \u00a5 and \u5143: esbuild escapes strings but not regular expressions, and the
  // bundle's source must stay ASCII (boot/README.md, "Start time": node reads ASCII at memcpy speed).
  const bare = full.replace(/[\u00a5\u5143]/g, '');
  // zh "8800.00元" is 9 cells: "¥8800.00" keeps a currency sign before the bare digits.
  const one = firstFitting([full, `¥${bare}`, bare]);
  if (one !== undefined) return [one];
  // Over 8 digits with the point: the digits are cut over two rows, the unit kept on the second.
  const rows: string[] = [];
  let row = '';
  for (const ch of full) {
    if (width(row + ch) > TEXT_CELLS) { rows.push(row); row = ''; }
    row += ch;
  }
  rows.push(row);
  return rows;
}

function walletLine(wallets: readonly WalletCode[], lang: 'zh' | 'en'): string | undefined {
  const named = [...new Set(wallets)].filter((w): w is Exclude<WalletCode, 'OT'> => w !== 'OT');
  if (named.length === 0) return undefined;
  return firstFitting([named.map((w) => SCAN_TEXTS.wallet[w][lang]).join('/'), named.join('/')]);
}

function firstFitting(candidates: readonly string[]): string | undefined {
  return candidates.find((c) => width(c) <= TEXT_CELLS);
}

function width(s: string): number {
  let n = 0;
  for (const ch of s) n += cellsOf(ch);
  return n;
}

/** Unifont text from (x0, y0); a character the subset lacks is a box, as render-pixels draws it. */
function drawText(f: FrameBuffer, text: string, x0: number, y0: number, missing: Set<string>): void {
  let x = x0;
  for (const ch of text) {
    const g = glyph(ch);
    if (g) {
      for (let gy = 0; gy < GLYPH_HEIGHT_PX; gy++) {
        const bits = g.rows[gy];
        for (let gx = 0; gx < g.width; gx++) if (bits & (1 << (g.width - 1 - gx))) f.set(x + gx, y0 + gy, true);
      }
      x += g.width;
    } else {
      missing.add(ch);
      const w = cellsOf(ch) * HALF_WIDTH_PX;
      for (let bx = x + 1; bx < x + w - 1; bx++) { f.set(bx, y0 + 2, true); f.set(bx, y0 + GLYPH_HEIGHT_PX - 3, true); }
      for (let by = y0 + 2; by < y0 + GLYPH_HEIGHT_PX - 2; by++) { f.set(x + 1, by, true); f.set(x + w - 2, by, true); }
      x += w;
    }
  }
}

// The encoder loads on the first code shown, not at boot (issue 14: start time on a slow CPU), and
// only the encoder: the package's index also loads PNG and SVG renderers (pngjs) the LCD never uses.
let qrCore: Pick<typeof Qr, 'create'> | undefined;
function qrCreate(content: string, options: Qr.QRCodeOptions): Qr.QRCode {
  return (qrCore ??= require('qrcode/lib/core/qrcode') as Pick<typeof Qr, 'create'>).create(content, options);
}

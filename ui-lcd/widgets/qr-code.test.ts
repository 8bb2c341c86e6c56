/**
 * The QR code on the 128×64 display. The `qrcode` package cannot decode, so the test reads the
 * pixels back itself: structure (size, quiet zone, finder, timing and alignment patterns, 2×2
 * pixels per module), format information (level L, the mask), the module matrix against
 * QRCode.create's, and finally the data: a small version-2-L reader written here (unmask,
 * zigzag, mode segments) gets the content back from the pixels. The scan-to-pay screen is
 * snapshot-tested like the other screens (ui-lcd/__snapshots__, tests/ui/snapshot.ts).
 */
import * as assert from 'node:assert/strict';
import QRCode from 'qrcode';
import { FrameBuffer, PixelCapabilities } from '../../hal/display';
import { cellsOf, hasGlyph } from '../font';
import { frameToAscii } from '../render-pixels';
import { matchSnapshot } from '../../tests/ui/snapshot';
import {
  QR_CONTENT_CHARS_MAX, QR_MODULES_PER_SIDE, QR_MODULE_PX, QR_QUIET_MODULES, QR_SIDE_PX, SCAN_TEXTS, SCAN_TEXT_X_PX, ScanToPay,
  REFUSAL_TEXTS, qrCodeImage, renderEReceipt, renderScanToPay, scanLines,
} from './qr-code';

const N = QR_MODULES_PER_SIDE;
const PANEL: PixelCapabilities = { kind: 'pixels', width: 128, height: 64 };
const CONTENTS = [
  'https://qr.95516.com/00010000/0123', // 34: too long, see below
  'https://qr.alipay.com/bax01234567', // 33
  'weixin://wxpay/bizpayurl?pr=Ab12C', // 33
  'https://qr.95516.com/0001/12345', // 31
  'WX01234567890123456789012345678', // 31, digits after a prefix: mixed segments
  '12345678901234567890123456789012', // 32 digits: numeric mode
  'HTTPS://PAY.EXAMPLE.CN/Q/ABC-123', // 32: alphanumeric mode
  'x'.repeat(QR_CONTENT_CHARS_MAX), // 32 bytes: the byte-mode limit of 2-L
  'A',
].filter((c) => c.length <= QR_CONTENT_CHARS_MAX);

/** The module (row, col) as drawn, checking its 2×2 pixels agree; true = dark. */
function moduleAt(f: FrameBuffer, row: number, col: number, light = true): boolean {
  const x0 = (col + QR_QUIET_MODULES) * QR_MODULE_PX;
  const y0 = (row + QR_QUIET_MODULES) * QR_MODULE_PX;
  const v = f.get(x0, y0);
  for (let dy = 0; dy < QR_MODULE_PX; dy++) for (let dx = 0; dx < QR_MODULE_PX; dx++) {
    assert.equal(f.get(x0 + dx, y0 + dy), v, `module (${row},${col}) pixel (${dx},${dy}) differs`);
  }
  return v !== light;
}

function matrixOf(f: FrameBuffer, light = true): boolean[][] {
  return Array.from({ length: N }, (_, r) => Array.from({ length: N }, (_, c) => moduleAt(f, r, c, light)));
}

// ---------------------------------------------------------------- a version-2-L reader

/** Modules that are not data: finders + separators + format areas, timing, alignment, dark module. */
function isFunction(r: number, c: number): boolean {
  if (r <= 8 && c <= 8) return true; // top-left finder, separator, format
  if (r <= 8 && c >= N - 8) return true; // top-right
  if (r >= N - 8 && c <= 8) return true; // bottom-left (and the dark module at (17, 8))
  if (r === 6 || c === 6) return true; // timing
  if (r >= 16 && r <= 20 && c >= 16 && c <= 20) return true; // version 2's one alignment pattern at (18, 18)
  return false;
}

const MASKS: ReadonlyArray<(i: number, j: number) => boolean> = [
  (i, j) => (i + j) % 2 === 0,
  (i) => i % 2 === 0,
  (_, j) => j % 3 === 0,
  (i, j) => (i + j) % 3 === 0,
  (i, j) => (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0,
  (i, j) => ((i * j) % 2) + ((i * j) % 3) === 0,
  (i, j) => (((i * j) % 2) + ((i * j) % 3)) % 2 === 0,
  (i, j) => (((i + j) % 2) + ((i * j) % 3)) % 2 === 0,
];

/** 15-bit format word for (EC bits, mask): BCH(15,5) with 0x537, XOR 0x5412. */
function formatWord(ecBits: number, mask: number): number {
  const data = (ecBits << 3) | mask;
  let rem = data << 10;
  for (let bit = 14; bit >= 10; bit--) if (rem & (1 << bit)) rem ^= 0x537 << (bit - 10);
  return ((data << 10) | rem) ^ 0x5412;
}

/** Both copies of the format information, bit 0 first as ISO 18004 places them. */
function readFormat(m: boolean[][]): { level: string; mask: number } {
  let a = 0, b = 0;
  for (let i = 0; i < 15; i++) {
    const ra = i < 6 ? i : i < 8 ? i + 1 : N - 15 + i;
    if (m[ra][8]) a |= 1 << i;
    const cb = i < 8 ? N - 1 - i : i === 8 ? 7 : 14 - i;
    if (m[8][cb]) b |= 1 << i;
  }
  assert.equal(a, b, 'the two copies of the format information differ');
  const levels: Record<number, string> = { 1: 'L', 0: 'M', 3: 'Q', 2: 'H' };
  for (let ec = 0; ec < 4; ec++) for (let mask = 0; mask < 8; mask++) if (formatWord(ec, mask) === a) return { level: levels[ec], mask };
  return assert.fail(`format word ${a.toString(2)} is not a valid codeword`);
}

/** The 34 data codewords of a 2-L symbol (one block: no interleaving), read in zigzag order. */
function dataCodewords(m: boolean[][], mask: number): number[] {
  const bits: number[] = [];
  let upward = true;
  for (let right = N - 1; right > 0; right -= 2) {
    if (right === 6) right--; // the vertical timing column is skipped whole
    for (let k = 0; k < N; k++) {
      const r = upward ? N - 1 - k : k;
      for (const c of [right, right - 1]) {
        if (isFunction(r, c)) continue;
        bits.push((m[r][c] !== MASKS[mask](r, c)) ? 1 : 0);
      }
    }
    upward = !upward;
  }
  assert.equal(bits.length, 44 * 8 + 7, 'a version 2 symbol has 44 codewords and 7 remainder bits');
  const bytes: number[] = [];
  for (let i = 0; i < 34 * 8; i += 8) bytes.push(bits.slice(i, i + 8).reduce((v, b) => (v << 1) | b, 0));
  return bytes;
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

/** Numeric, alphanumeric and byte segments (what the package makes of ASCII), up to the terminator. */
function parseSegments(bytes: number[]): string {
  let pos = 0;
  const take = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, pos++) v = (v << 1) | ((bytes[pos >> 3] >> (7 - (pos & 7))) & 1);
    return v;
  };
  let out = '';
  while (pos + 4 <= bytes.length * 8) {
    const mode = take(4);
    if (mode === 0) break;
    if (mode === 1) {
      let count = take(10);
      for (; count >= 3; count -= 3) out += String(take(10)).padStart(3, '0');
      if (count === 2) out += String(take(7)).padStart(2, '0');
      if (count === 1) out += String(take(4));
    } else if (mode === 2) {
      let count = take(9);
      for (; count >= 2; count -= 2) { const v = take(11); out += ALNUM[Math.floor(v / 45)] + ALNUM[v % 45]; }
      if (count === 1) out += ALNUM[take(6)];
    } else if (mode === 4) {
      const count = take(8);
      for (let i = 0; i < count; i++) out += String.fromCharCode(take(8));
    } else assert.fail(`mode ${mode} not expected for ASCII content`);
  }
  return out;
}

function decode(f: FrameBuffer, light = true): { content: string; level: string; mask: number } {
  const m = matrixOf(f, light);
  const { level, mask } = readFormat(m);
  return { content: parseSegments(dataCodewords(m, mask)), level, mask };
}

// ---------------------------------------------------------------- tests

describe('ui-lcd QR code widget (version 2-L, 2 px per module, 2-module quiet zone)', () => {
  it('isFiftyEightPixelsSquareWithALightQuietZone', () => {
    assert.equal(QR_SIDE_PX, 58);
    for (const content of CONTENTS) {
      const q = qrCodeImage(content);
      assert.ok(q.kind === 'ok', content);
      assert.equal(q.frame.width, 58);
      assert.equal(q.frame.height, 58);
      const quietPx = QR_QUIET_MODULES * QR_MODULE_PX;
      for (let y = 0; y < 58; y++) for (let x = 0; x < 58; x++) {
        if (x < quietPx || y < quietPx || x >= 58 - quietPx || y >= 58 - quietPx) assert.equal(q.frame.get(x, y), true, `${content}: quiet zone pixel (${x},${y}) dark`);
      }
    }
  });

  it('hasTheThreeFinderPatternsTheTimingAndTheAlignmentPatternAtTwoPixelsPerModule', () => {
    for (const content of CONTENTS) {
      const q = qrCodeImage(content);
      assert.ok(q.kind === 'ok');
      const m = matrixOf(q.frame);
      for (const [r0, c0] of [[0, 0], [0, N - 7], [N - 7, 0]]) {
        for (let r = -1; r <= 7; r++) for (let c = -1; c <= 7; c++) {
          const rr = r0 + r, cc = c0 + c;
          if (rr < 0 || cc < 0 || rr >= N || cc >= N) continue;
          const ring = Math.max(Math.abs(r - 3), Math.abs(c - 3)); // 3: outer ring, 2: light, 0-1: centre, 4: separator
          assert.equal(m[rr][cc], ring === 3 || ring <= 1, `${content}: finder at (${r0},${c0}) module (${r},${c})`);
        }
      }
      for (let i = 8; i < N - 8; i++) {
        assert.equal(m[6][i], i % 2 === 0, `timing row at ${i}`);
        assert.equal(m[i][6], i % 2 === 0, `timing column at ${i}`);
      }
      for (let r = -2; r <= 2; r++) for (let c = -2; c <= 2; c++) {
        const ring = Math.max(Math.abs(r), Math.abs(c));
        assert.equal(m[18 + r][18 + c], ring !== 1, `alignment module (${r},${c})`);
      }
      assert.equal(m[4 * 2 + 9][8], true, 'the dark module');
    }
  });

  it('moduleMatrixEqualsQrcodeCreateForTheSameContent', () => {
    for (const content of CONTENTS) {
      const q = qrCodeImage(content);
      assert.ok(q.kind === 'ok');
      const ref = QRCode.create(content, { version: 2, errorCorrectionLevel: 'L' });
      const m = matrixOf(q.frame);
      for (let r = 0; r < N; r++) for (let c = 0; c < N; c++) assert.equal(m[r][c], Boolean(ref.modules.get(r, c)), `${content} (${r},${c})`);
    }
  });

  it('thePixelsDecodeBackToTheContentAtLevelL', () => {
    for (const content of CONTENTS) {
      const q = qrCodeImage(content);
      assert.ok(q.kind === 'ok');
      const d = decode(q.frame);
      assert.equal(d.level, 'L');
      assert.equal(d.mask, q.maskPattern);
      assert.equal(d.content, content);
    }
  });

  it('darkModulesLitInvertsTheCodeForAPanelWhoseSetPixelsAreDark', () => {
    const q = qrCodeImage(CONTENTS[0], { darkModulesLit: true });
    assert.ok(q.kind === 'ok');
    assert.equal(q.frame.get(0, 0), false, 'quiet zone unset');
    assert.equal(decode(q.frame, false).content, CONTENTS[0]);
  });

  it('refusesWhatVersion2LCannotHoldOrTheHostMayNotSend', () => {
    const over = 'x'.repeat(QR_CONTENT_CHARS_MAX + 1);
    const r = qrCodeImage(over);
    assert.ok(r.kind === 'refused');
    assert.equal(r.reason, 'too-long');
    assert.match(r.text.en, /print/);
    assert.match(r.text.zh, /打印/);
    for (const reason of ['empty', 'too-long', 'not-ascii', 'does-not-fit', 'display-too-small'] as const) {
      const t = REFUSAL_TEXTS[reason];
      for (const ch of t.zh + t.en) assert.ok(hasGlyph(ch), `${reason}: ${ch} has no glyph`);
    }
    assert.equal((qrCodeImage('') as { reason?: string }).reason, 'empty');
    assert.equal((qrCodeImage('pay 12元') as { reason?: string }).reason, 'not-ascii');
    assert.equal((qrCodeImage('line\nbreak') as { reason?: string }).reason, 'not-ascii');
    // The package itself agrees that 33 bytes do not fit version 2-L.
    assert.throws(() => QRCode.create(over, { version: 2, errorCorrectionLevel: 'L' }), /Minimum version required/);
    const screen = renderScanToPay({ content: over, amountFen: 100, secondsLeft: 60 }, 'en', PANEL);
    assert.ok(screen.kind === 'refused' && screen.reason === 'too-long');
    const small = renderScanToPay({ content: 'A', amountFen: 100, secondsLeft: 60 }, 'en', { kind: 'pixels', width: 96, height: 64 });
    assert.ok(small.kind === 'refused' && small.reason === 'display-too-small');
  });
});

describe('ui-lcd scan-to-pay screen (QR left, text column right)', () => {
  const SAMPLES: ReadonlyArray<{ variant: string; p: ScanToPay }> = [
    { variant: 'typical', p: { content: 'https://qr.95516.com/0001/12345', amountFen: 1234, secondsLeft: 45, wallets: ['WX', 'AL', 'UP'] } },
    { variant: 'one wallet, 3-digit countdown', p: { content: 'weixin://wxpay/bizpayurl?pr=Ab12', amountFen: 8_800_00, secondsLeft: 120, wallets: ['WX'] } },
    { variant: 'amount over two rows', p: { content: '12345678901234567890123456789012', amountFen: 123_456_789_99, secondsLeft: 9, wallets: ['AL'] } },
    { variant: 'no wallet named', p: { content: 'A', amountFen: 1, secondsLeft: 0, wallets: ['OT'] } },
  ];

  it('matchesItsSnapshotInBothLanguages', () => {
    const parts: string[] = [];
    for (const { variant, p } of SAMPLES) {
      parts.push(`#### scanToPay ${variant}`);
      for (const locale of ['zh-CN', 'en'] as const) {
        const r = renderScanToPay(p, locale, PANEL);
        assert.ok(r.kind === 'ok');
        parts.push(`== ${locale} 128x64 ${JSON.stringify(r.lines)}\n${frameToAscii(r.frame)}`);
      }
    }
    matchSnapshot('widget-scanToPay', parts.join('\n'));
  });

  it('theCodeSitsLeftCentredAndTheTextStaysInItsColumn', () => {
    for (const { p } of SAMPLES) for (const locale of ['zh-CN', 'en'] as const) {
      const r = renderScanToPay(p, locale, PANEL);
      assert.ok(r.kind === 'ok');
      const top = (64 - QR_SIDE_PX) / 2;
      for (let y = 0; y < 64; y++) for (let x = 0; x < SCAN_TEXT_X_PX; x++) {
        const inCode = x < QR_SIDE_PX && y >= top && y < top + QR_SIDE_PX;
        assert.equal(r.frame.get(x, y), inCode ? r.qr.frame.get(x, y - top) : false, `(${x},${y}) ${locale}`);
      }
      assert.equal(decodeAt(r.frame, top), p.content);
      assert.ok(r.lines.length <= 4);
      for (const line of r.lines) assert.ok([...line].reduce((n, ch) => n + cellsOf(ch), 0) <= 8, `${JSON.stringify(line)} wider than 8 cells`);
    }
  });

  it('shortensWhatDoesNotFitSeventyPixels', () => {
    assert.deepEqual(scanLines(SAMPLES[0].p, 'zh-CN'), ['12.34元', '扫码付款', '剩余45秒', 'WX/AL/UP']);
    assert.deepEqual(scanLines(SAMPLES[0].p, 'en'), ['¥12.34', 'Scan&Pay', '45s left', 'WX/AL/UP']);
    assert.deepEqual(scanLines(SAMPLES[1].p, 'zh-CN'), ['¥8800.00', '扫码付款', '120秒', '微信']);
    assert.deepEqual(scanLines(SAMPLES[1].p, 'en'), ['¥8800.00', 'Scan&Pay', '120 s', 'WeChat']);
    // ¥99,999.99 loses its unit; above, the amount takes two rows and the wallet row gives way.
    assert.deepEqual(scanLines({ ...SAMPLES[1].p, amountFen: 99_999_99 }, 'zh-CN')[0], '99999.99');
    assert.deepEqual(scanLines(SAMPLES[2].p, 'zh-CN'), ['12345678', '9.99元', '扫码付款', '剩余9秒']);
    assert.deepEqual(scanLines(SAMPLES[2].p, 'en'), ['¥1234567', '89.99', 'Scan&Pay', '9s left']);
    assert.deepEqual(scanLines(SAMPLES[3].p, 'en'), ['¥0.01', 'Scan&Pay', '0s left']);
    assert.equal(scanLines({ ...SAMPLES[0].p, secondsLeft: 5000 }, 'en')[2], '999 s', 'the countdown shows at most 3 digits');
  });

  it('englishNeedsNoGlyphOutsideTheFontAndChineseOnlyTheScreensOwnWords', () => {
    const own = new Set([...JSON.stringify(SCAN_TEXTS)].filter((ch) => !hasGlyph(ch)));
    for (const { p } of SAMPLES) {
      const en = renderScanToPay(p, 'en', PANEL);
      assert.ok(en.kind === 'ok');
      assert.deepEqual(en.missingGlyphs, []);
      const zh = renderScanToPay(p, 'zh-CN', PANEL);
      assert.ok(zh.kind === 'ok');
      // Until SCAN_TEXTS move into ui-lcd/strings.ts and the font is regenerated (npm run gen:font),
      // 扫 付 秒 微 信 支 宝 云 闪 are boxes; nothing else may be.
      for (const ch of zh.missingGlyphs) assert.ok(own.has(ch), `${ch} is missing from the font and is not one of the screen's words`);
    }
  });
});

function decodeAt(screen: FrameBuffer, top: number): string {
  const f = new FrameBuffer(QR_SIDE_PX, QR_SIDE_PX);
  for (let y = 0; y < QR_SIDE_PX; y++) for (let x = 0; x < QR_SIDE_PX; x++) f.set(x, y, screen.get(x, y + top));
  return decode(f).content;
}

describe('the e-receipt code at paper out (renderEReceipt)', () => {
  const URL = 'https://receipts.example.com/r?tid=12345678&b=000001&s=000007&rrn=000000000007&amt=1234';
  /** Every module as drawn at `modulePx` from (x0, y0), against the package's own matrix. */
  function assertModules(f: FrameBuffer, content: string, x0: number, y0: number, modulePx: number): void {
    const want = QRCode.create(content, { errorCorrectionLevel: 'L' }).modules;
    for (let r = -QR_QUIET_MODULES; r < want.size + QR_QUIET_MODULES; r++) {
      for (let c = -QR_QUIET_MODULES; c < want.size + QR_QUIET_MODULES; c++) {
        const inside = r >= 0 && c >= 0 && r < want.size && c < want.size;
        const dark = inside && want.get(r, c) === 1;
        for (let dy = 0; dy < modulePx; dy++) for (let dx = 0; dx < modulePx; dx++) {
          const px = f.get(x0 + (c + QR_QUIET_MODULES) * modulePx + dx, y0 + (r + QR_QUIET_MODULES) * modulePx + dy);
          assert.equal(px, !dark, `module (${r},${c}) drawn ${px ? 'lit' : 'unlit'}`);
        }
      }
    }
  }

  it('aLinkOfTheHostsAddressIsDrawnAtOnePixelPerModuleWhenTwoWouldNotFit_moduleForModule', () => {
    const r = renderEReceipt(URL, ['缺纸', '扫码获取', '电子签购单', '或装纸打印'], PANEL);
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.ok(r.qr.version > 2 && r.qr.version <= 5, `version ${r.qr.version}`);
    assert.equal(r.qr.modulePx, 1, '2 pixels a module would not fit 64 rows');
    const y0 = Math.floor((PANEL.height - r.qr.frame.height) / 2);
    assertModules(r.frame, URL, 0, y0, 1);
    assert.deepEqual(r.lines, ['缺纸', '扫码获取', '电子签购单', '或装纸打印']);
    assert.deepEqual(r.missingGlyphs, []);
    assert.ok(r.textXPx >= r.qr.frame.width, 'the text does not cover the code');
  });

  it('aShortLinkGetsTwoPixelsPerModule_tooLongOrATextDisplayIsRefused', () => {
    const short = 'https://r.example.cn/e?s=7';
    const r = renderEReceipt(short, ['Paper out'], PANEL);
    assert.ok(r.kind === 'ok' && r.qr.modulePx === 2 && r.qr.version === 2);
    if (r.kind === 'ok') assertModules(r.frame, short, 0, Math.floor((PANEL.height - r.qr.frame.height) / 2), 2);
    assert.equal(renderEReceipt(`https://r.example.com/${'a'.repeat(90)}`, [], PANEL).kind, 'refused');
    assert.equal(renderEReceipt(URL, [], { kind: 'pixels', width: 96, height: 64 }).kind, 'refused');
    const lines = renderEReceipt(URL, ['a line far too long for the column'], PANEL);
    assert.ok(lines.kind === 'ok' && lines.lines[0].length < 'a line far too long for the column'.length, 'cut to the column, never drawn over the edge');
  });
});

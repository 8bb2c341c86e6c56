/**
 * Character LCD renderer (HD44780 16×2, 20×4). The controller's ROM A00 holds ASCII and
 * katakana, no Chinese, and '\' is a yen sign: so text displays always show English, amounts as
 * "RMB 12.34", and anything outside printable ASCII is mapped to an ASCII look-alike or '?'
 * here, before the driver would (tests check that no string of ours ever needs the '?').
 * Every row returned is exactly `cols` characters.
 */
import type { TextCapabilities } from '../hal/display';
import type { Locale, Screen, StatusLine } from './screen';
import { Grid, Row, layout } from './layout';

export interface TextRender {
  readonly rows: string[];
  readonly pageCount: number;
}

export function textGrid(caps: TextCapabilities): Grid {
  return { cols: caps.cols, rows: caps.rows, ascii: true, cellsOf: () => 1, statusCells: (s) => statusText(s).length };
}

export function renderText(screen: Screen, locale: Locale, caps: TextCapabilities): TextRender {
  const grid = textGrid(caps);
  const l = layout(screen, locale, grid);
  const rows = l.rows.map((r, i) => toRom(rowText(r, i, caps.cols)));
  return { rows, pageCount: l.pageCount };
}

/** Status at the right of the title: "P!" paper out, "NET!" link down, "OFF"/"ON" host, "85%" ("+" charging). */
export function statusText(s: StatusLine): string {
  const parts: string[] = [];
  if (s.paper === 'out') parts.push('P!');
  if (s.network === 'down') parts.push('NET!');
  else if (s.host === 'offline') parts.push('OFF');
  else if (s.host === 'online') parts.push('ON');
  if (s.batteryPercent !== undefined) parts.push(`${Math.round(clampPercent(s.batteryPercent))}%${s.charging ? '+' : ''}`);
  return parts.join(' ');
}

function rowText(r: Row, index: number, cols: number): string {
  switch (r.kind) {
    case 'pattern': return (index % 2 === 0 ? '# ' : ' #').repeat(cols).slice(0, cols);
    case 'progress': return progressText(r, cols);
    case 'title': {
      const right = r.right ?? (r.status ? statusText(r.status) : '');
      return padTo(r.text, cols - right.length) + right;
    }
    default: return align(r.text, r.align, cols);
  }
}

function progressText(r: Row, cols: number): string {
  const p = r.progress!;
  const tag = r.right ?? '';
  const inner = Math.max(0, cols - tag.length - 3); // "[" + bar + "]" + " "
  const done = p.total > 0 ? Math.round((inner * Math.min(p.done, p.total)) / p.total) : 0;
  if (inner <= 0) return padTo(tag, cols);
  return `[${'#'.repeat(done)}${' '.repeat(inner - done)}] ${tag}`.slice(0, cols).padEnd(cols);
}

function align(s: string, how: Row['align'], cols: number): string {
  const text = s.slice(0, cols);
  if (how === 'right') return text.padStart(cols);
  if (how === 'center') return (' '.repeat(Math.floor((cols - text.length) / 2)) + text).padEnd(cols);
  return text.padEnd(cols);
}

function padTo(s: string, n: number): string {
  return s.slice(0, Math.max(0, n)).padEnd(Math.max(0, n));
}

/** Look-alikes for characters the A00 ROM lacks (full-width forms, typographic punctuation). */
const ROM_SUBSTITUTES: Readonly<Record<string, string>> = {
  '\\': '/', '~': '-', '¥': 'Y', '‘': "'", '’': "'", '“': '"', '”': '"', '–': '-', '—': '-', '…': '.', '×': 'x', '（': '(', '）': ')', '：': ':', '，': ',', '。': '.',
};

/** Maps a string onto the ROM's printable ASCII (0x20..0x7D without '\'); '?' for the rest. */
export function toRom(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xff01 && c <= 0xff5e) out += toRom(String.fromCodePoint(c - 0xfee0)); // full-width ASCII
    else if (ROM_SUBSTITUTES[ch] !== undefined) out += ROM_SUBSTITUTES[ch];
    else out += c >= 0x20 && c <= 0x7d ? ch : '?';
  }
  return out;
}

function clampPercent(p: number): number {
  return Math.max(0, Math.min(100, p));
}

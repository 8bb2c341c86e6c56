/**
 * Layout shared by the character and the graphic renderers: a screen becomes a grid of rows of
 * cells (a character on an LCD; 8 pixels on the 128×64 panel, where a CJK glyph takes two). The
 * layout decides what goes on each row and cuts every string to its cells, so a renderer only
 * draws and can never overflow.
 *
 * Rows, top to bottom:
 * - row 0, the title: the title (or, on 2-row displays, a notice), with a right tag: the page
 *   ("2/3") when the body is paged, else the menu position when the menu scrolls, else the status.
 * - the content rows: body lines (wrapped; error cause and numbered steps; a progress bar), then
 *   the input field or the menu window, pinned at the bottom so they are always visible. Body
 *   lines that do not fit are paged: `screen.page` picks the page (UP/DOWN in the state). Menu
 *   screens (UP/DOWN move the selection) and status screens (idle) do not page: their body
 *   shows what fits above the menu.
 * - the last row, on displays with 4 rows or more: the footer (the next key to press), replaced by
 *   the notice when there is one, and by "UP/DOWN: more" on every page but the last.
 * On 2-row displays there is no footer row: the page tag in the title says there is more.
 *
 * A notice is one row. One longer than its row is cut at a word, unless it comes in turns (an
 * error's code, cause and first step: `InTurns`): then the row shows one part at a time
 * (`screen.noticeTurn`), each part a turn wrapped to the row, so the code and the whole cause are
 * read on a 16-cell row too ("E-RDR-03 Card" was all of E-RDR-03's notice on a 16x2 LCD).
 */
import type { Locale, Progress, Screen, StatusLine, Txt } from './screen';
import { isInTurns, resolve, t, formatAmount, formatYuan } from './strings';

export interface Grid {
  readonly cols: number;
  readonly rows: number;
  /** Character LCD: English only, ASCII amounts. */
  readonly ascii: boolean;
  /** Cells a character takes (1, or 2 for a full-width glyph). */
  cellsOf(ch: string): number;
  /** Cells the renderer needs for the status at the right of the title row. */
  statusCells(status: StatusLine): number;
}

export type RowKind = 'title' | 'body' | 'menu' | 'input' | 'progress' | 'footer' | 'pattern' | 'empty';

export interface Row {
  readonly kind: RowKind;
  readonly text: string;
  readonly align: 'left' | 'right' | 'center';
  /** Menu row under the selection (text: '>' marker; pixels: inverted). */
  readonly selected?: boolean;
  /** A tag at the right end of the row, already fitted. */
  readonly right?: string;
  readonly status?: StatusLine;
  readonly progress?: Progress;
}

export interface Layout {
  readonly rows: Row[];
  readonly page: number;
  readonly pageCount: number;
  /** Parts the notice's row shows in turn (1: the notice whole or cut, or no notice). */
  readonly noticeTurns: number;
}

const EMPTY: Row = { kind: 'empty', text: '', align: 'left' };
/** Rows a display needs before it gets a footer row. */
export const FOOTER_ROWS_MIN = 4;

export function layout(screen: Screen, locale: Locale, grid: Grid): Layout {
  if (screen.pattern) {
    // The renderers draw the pattern over every row; the rows' text (title, then what to press) is
    // what the screen says in words, for the probe and the front panel's text line.
    const words = [fit(resolve(screen.title, locale, grid.ascii), grid.cols, grid), ...(screen.lines ?? []).flatMap((l) => wrap(resolve(l, locale, grid.ascii), grid.cols, grid))];
    return { rows: Array.from({ length: grid.rows }, (_, i): Row => ({ kind: 'pattern', text: words[i] ?? '', align: 'left' })), page: 0, pageCount: 1, noticeTurns: 1 };
  }
  const wantsFooter = grid.rows >= FOOTER_ROWS_MIN && (screen.footer !== undefined || screen.notice !== undefined);
  const first = arrange(screen, locale, grid, wantsFooter);
  // An entry screen's keys belong to its field (UP/DOWN do not page it): when its body does not
  // fit, the footer ("OK: confirm") gives way to the body rather than hide a line on a page no key
  // reaches (only when that shows all of it). A notice keeps the row: it says why a key was refused.
  if (screen.input && wantsFooter && screen.notice === undefined && first.clipped) {
    const roomier = arrange(screen, locale, grid, false);
    if (!roomier.clipped) return roomier;
  }
  // Paged content needs the footer row for "UP/DOWN: more", even on a screen without a footer.
  if (!wantsFooter && first.pageCount > 1 && grid.rows >= FOOTER_ROWS_MIN) return arrange(screen, locale, grid, true);
  return first;
}

function arrange(screen: Screen, locale: Locale, grid: Grid, footerRow: boolean): Layout & { clipped: boolean } {
  const text = (x: Parameters<typeof resolve>[0]): string => resolve(x, locale, grid.ascii);
  const contentRows = grid.rows - 1 - (footerRow ? 1 : 0);
  const body = bodyLines(screen, locale, grid);
  // A number wider than the display is shown whole over two rows; on a 2-row display its first
  // part takes the title row (the person knows what they are keying; the digits must all be seen).
  const over = overflowRows(screen, locale, grid);
  const overTitle = over !== undefined && over.length === contentRows + 1 && !(screen.notice !== undefined && grid.rows < FOOTER_ROWS_MIN) ? over[0] : undefined;
  const overRows = over && (overTitle !== undefined || over.length <= contentRows) ? (overTitle !== undefined ? over.slice(1) : over) : undefined;
  const pinned = overRows ? overRows.map((t): Row => ({ kind: 'input', text: t, align: 'left' })) : pinnedRows(screen, locale, grid, contentRows, body.length);
  const pageRows = Math.max(0, contentRows - pinned.length);
  // UP/DOWN belong to the menu on menu screens and to the field on entry screens, and a status
  // screen (idle) is read at a glance: none of them pages; their body shows what fits.
  const pageable = !screen.menu && !screen.input && !screen.status && screen.glance !== true;
  const pageCount = pageRows > 0 && pageable ? Math.max(1, Math.ceil(body.length / pageRows)) : 1;
  const page = clamp(screen.page ?? 0, 0, pageCount - 1);
  const shown = pageRows > 0 ? body.slice(page * pageRows, (page + 1) * pageRows) : [];

  const pad = Math.max(0, pageRows - shown.length);
  // Short messages ("Approved") sit in the middle of the free rows; fields and menus stay at the bottom.
  const top = screen.align === 'center' && pinned.length === 0 ? Math.floor(pad / 2) : 0;
  const content = [...blank(top), ...shown, ...blank(pad - top), ...pinned];

  const notice = (width: number): NoticeRow => noticeRow(screen, locale, grid, width);
  const overTitleRow: Placed | undefined = overTitle !== undefined ? { row: { kind: 'input', text: overTitle, align: 'left' } } : undefined;
  const title = overTitleRow ?? titleRow(screen, grid, text, notice, page, pageCount);
  const rows: Row[] = [title.row];
  rows.push(...content.slice(0, contentRows));
  const last = footerRow ? footer(screen, grid, text, notice, page, pageCount) : undefined;
  if (last) rows.push(last.row);
  while (rows.length < grid.rows) rows.push(EMPTY);
  const noticeTurns = title.noticeTurns ?? last?.noticeTurns ?? 1;
  return { rows, page, pageCount, noticeTurns, clipped: !pageable && shown.length < body.length };
}

/** The notice as its row shows it now, and in how many turns. */
interface NoticeRow {
  readonly text: string;
  readonly turns: number;
}

/** The screen's notice on a row `width` cells wide: whole, cut at a word, or its turn `noticeTurn`. */
function noticeRow(screen: Screen, locale: Locale, grid: Grid, width: number): NoticeRow {
  const parts = noticeParts(screen.notice ?? '', locale, grid, width);
  const turn = Math.max(0, Math.trunc(screen.noticeTurn ?? 0)) % parts.length;
  return { text: parts[turn], turns: parts.length };
}

/**
 * What a notice row `width` cells wide shows of `notice`, one entry per turn: the notice whole when
 * it fits; else, for an `InTurns` notice, each of its turns wrapped to the row (a cause wider than
 * the row takes two turns, cut between words, never inside one); else the notice cut at a word.
 */
export function noticeParts(notice: Txt, locale: Locale, grid: Grid, width: number): string[] {
  const whole = resolve(notice, locale, grid.ascii);
  if (!isInTurns(notice) || cells(whole, grid) <= width) return [fitWords(whole, width, grid)];
  const parts = notice.turns.flatMap((part) => wrap(resolve(part, locale, grid.ascii), width, grid));
  return parts.length > 0 ? parts : [''];
}

/**
 * The value of a digits field wider than the display (a 19-digit card number on 16 cells), cut
 * into rows of the display's width; undefined when it fits on one row.
 */
function overflowRows(screen: Screen, locale: Locale, grid: Grid): string[] | undefined {
  const input = screen.input;
  if (!input || input.kind !== 'digits') return undefined;
  const value = fieldValue(input, locale, grid);
  if (cells(value, grid) <= grid.cols) return undefined;
  const out: string[] = [];
  let row = '';
  for (const ch of value) {
    if (cells(row + ch, grid) > grid.cols) { out.push(row); row = ''; }
    row += ch;
  }
  if (row !== '') out.push(row);
  return out;
}

function blank(n: number): Row[] {
  return Array.from({ length: Math.max(0, n) }, () => EMPTY);
}

/** A row and, when it is the notice's, the turns the notice takes there. */
interface Placed {
  readonly row: Row;
  readonly noticeTurns?: number;
}

function titleRow(screen: Screen, grid: Grid, text: (x: Parameters<typeof resolve>[0]) => string, notice: (width: number) => NoticeRow, page: number, pageCount: number): Placed {
  const useNotice = screen.notice !== undefined && grid.rows < FOOTER_ROWS_MIN;
  const menuScrolls = screen.menu && screen.menu.items.length > 0;
  let right: string | undefined;
  if (pageCount > 1) right = `${page + 1}/${pageCount}`;
  else if (menuScrolls && screen.menu!.items.length > grid.rows - 1) right = `${screen.menu!.selected + 1}/${screen.menu!.items.length}`;
  const width = right !== undefined ? grid.cols - right.length - 1 : grid.cols;
  if (useNotice) {
    const n = notice(width);
    return { row: { kind: 'title', text: n.text, align: 'left', ...(right !== undefined ? { right } : {}) }, noticeTurns: n.turns };
  }
  const title = text(screen.title);
  if (right !== undefined) return { row: { kind: 'title', text: fitWords(title, width, grid), align: 'left', right } };
  if (screen.status) {
    const cells = Math.min(grid.statusCells(screen.status), grid.cols);
    return { row: { kind: 'title', text: fitWords(title, Math.max(0, grid.cols - cells - 1), grid), align: 'left', status: screen.status } };
  }
  return { row: { kind: 'title', text: fitWords(title, grid.cols, grid), align: 'left' } };
}

function footer(screen: Screen, grid: Grid, text: (x: Parameters<typeof resolve>[0]) => string, notice: (width: number) => NoticeRow, page: number, pageCount: number): Placed {
  if (screen.notice !== undefined) {
    const n = notice(grid.cols);
    return { row: { kind: 'footer', text: n.text, align: 'left' }, noticeTurns: n.turns };
  }
  let s = '';
  if (pageCount > 1 && page < pageCount - 1) s = text(t('footer.paged'));
  else if (screen.footer !== undefined) s = text(screen.footer);
  return { row: { kind: 'footer', text: fitWords(s, grid.cols, grid), align: 'left' } };
}

/** Body, error cause and steps, progress: wrapped to the width, one Row per display row. */
function bodyLines(screen: Screen, locale: Locale, grid: Grid): Row[] {
  const align = screen.align === 'center' ? 'center' : 'left';
  const out: Row[] = [];
  const lang = grid.ascii || locale === 'en' ? 'en' : 'zh';
  // The error's cause comes first (the row under the code), then details, then the steps.
  if (screen.error) for (const w of wrap(screen.error.cause[lang], grid.cols, grid)) out.push({ kind: 'body', text: w, align: 'left' });
  for (const l of screen.lines ?? []) {
    for (const w of wrap(resolve(l, locale, grid.ascii), grid.cols, grid)) out.push({ kind: 'body', text: w, align });
  }
  if (screen.error) {
    screen.error.steps[lang].forEach((step, i) => {
      for (const w of wrap(`${i + 1}.${step}`, grid.cols, grid)) out.push({ kind: 'body', text: w, align: 'left' });
    });
  }
  if (screen.progress) {
    const p = screen.progress;
    const tag = `${Math.min(p.done, p.total)}/${p.total}`;
    out.push({ kind: 'progress', text: '', align: 'left', progress: p, right: fit(tag, grid.cols, grid) });
  }
  return out;
}

/** The input field or the menu window: always shown, at the bottom of the content rows. */
function pinnedRows(screen: Screen, locale: Locale, grid: Grid, contentRows: number, bodyCount: number): Row[] {
  if (contentRows <= 0) return [];
  if (screen.input) return inputRows(screen, locale, grid, contentRows, bodyCount);
  if (screen.menu && screen.menu.items.length > 0) return menuRows(screen, locale, grid, contentRows, bodyCount);
  return [];
}

function inputRows(screen: Screen, locale: Locale, grid: Grid, contentRows: number, bodyCount: number): Row[] {
  const input = screen.input!;
  const label = resolve(input.label, locale, grid.ascii);
  const value = fieldValue(input, locale, grid);
  // A digits field wider than the display (a 19-digit card number on 16 columns) shows its end,
  // where the next digit goes.
  const valueRow: Row = { kind: 'input', text: input.kind === 'digits' ? fitEnd(value, grid.cols, grid) : fit(value, grid.cols, grid), align: 'right' };
  const split: Row[] = [{ kind: 'input', text: fit(label, grid.cols, grid), align: 'left' }, valueRow];
  // Label and value on rows of their own when the body still fits; else on one row, so that an
  // entry screen (which does not page) hides as little of its body as it can.
  if (contentRows >= 2 && contentRows - 2 >= bodyCount) return split;
  const combinedCells = cells(label, grid) + 1 + cells(value, grid);
  if (combinedCells <= grid.cols) return [{ kind: 'input', text: label + ' '.repeat(grid.cols - combinedCells + 1) + value, align: 'left' }];
  if (contentRows - 2 >= 1) return split;
  return [valueRow];
}

/** What the field shows: the amount ("RMB 12.34" / "¥12.34" / "12.34元"), digits, or '*' per digit. */
export function fieldValue(input: NonNullable<Screen['input']>, locale: Locale, grid: Pick<Grid, 'ascii'>): string {
  if (input.kind === 'amount') {
    const fen = input.digits === '' ? 0 : Number(input.digits);
    return grid.ascii ? formatYuan(fen) : formatAmount(fen, locale);
  }
  const shown = input.kind === 'password' ? '*'.repeat(input.digits.length) : input.digits;
  const rest = Math.max(0, (input.lengthMax ?? 0) - input.digits.length);
  return input.kind === 'password' ? shown : shown + '_'.repeat(rest);
}

function menuRows(screen: Screen, locale: Locale, grid: Grid, contentRows: number, bodyCount: number): Row[] {
  const menu = screen.menu!;
  const bodyRows = Math.min(bodyCount, contentRows - 1);
  const window = Math.max(1, contentRows - bodyRows);
  const selected = clamp(menu.selected, 0, menu.items.length - 1);
  // Page-wise scrolling: the window is a function of the selection alone (no hidden scroll state).
  const top = Math.floor(selected / window) * window;
  const rows: Row[] = [];
  for (let i = top; i < Math.min(menu.items.length, top + window); i++) {
    const item = menu.items[i];
    const marker = grid.ascii ? (i === selected ? '>' : ' ') : '';
    const label = `${marker}${item.shortcut ?? ' '} ${resolve(item.label, locale, grid.ascii)}`;
    rows.push({ kind: 'menu', text: fit(label, grid.cols, grid), align: 'left', selected: i === selected });
  }
  while (rows.length < window) rows.push(EMPTY);
  return rows;
}

export function cells(s: string, grid: Pick<Grid, 'cellsOf'>): number {
  let n = 0;
  for (const ch of s) n += grid.cellsOf(ch);
  return n;
}

/** Cuts `s` to at most `width` cells (never splits a wide glyph). */
export function fit(s: string, width: number, grid: Pick<Grid, 'cellsOf'>): string {
  let n = 0;
  let out = '';
  for (const ch of s) {
    const w = grid.cellsOf(ch);
    if (n + w > width) break;
    out += ch;
    n += w;
  }
  return out;
}

/**
 * Cuts `s` to `width` cells at the end of a word ("Customer copy?" beside a page tag on 16 cells
 * is "Customer", not "Customer cop"); a first word wider than `width`, or text without spaces
 * (Chinese), is cut between characters as `fit` does.
 */
export function fitWords(s: string, width: number, grid: Pick<Grid, 'cellsOf'>): string {
  const cut = fit(s, width, grid);
  if (cut.length === s.length || s[cut.length] === ' ') return cut.trimEnd();
  const space = cut.lastIndexOf(' ');
  return space > 0 ? cut.slice(0, space).trimEnd() : cut;
}

/** Keeps the last `width` cells of an ASCII-only digits field (the start is cut). */
function fitEnd(s: string, width: number, grid: Pick<Grid, 'cellsOf'>): string {
  const typed = s.replace(/_+$/, '');
  if (cells(typed, grid) <= width) return fit(s, width, grid);
  return [...typed].slice(-width).join('');
}

/** Full-width punctuation that must not start a line (kinsoku): the character before it moves down too. */
const NO_LINE_START = new Set([...'，。、；：！？）」』》%']);

/**
 * Greedy wrap to `width` cells: ASCII words break at spaces, CJK breaks between any two
 * characters (a Latin word stays with the character written onto it: "U盘"); a word never breaks
 * inside. A masked card number wider than a line loses stars
 * (first 6 and last 4 kept: 622202******0128); any other word wider than a line breaks after a
 * '/', '-', '.', ':' or '_' in it (a path, "terminal/merchant"), and is cut only when it has none.
 * Never returns a line wider than `width`.
 */
export function wrap(s: string, width: number, grid: Pick<Grid, 'cellsOf'>): string[] {
  if (width <= 0) return [];
  const lines: string[] = [];
  let line = '';
  for (const token of tokens(s, grid).flatMap((tk) => fitWord(tk, width, grid))) {
    if (token.trim() === '') {
      if (line !== '') line += ' ';
      continue;
    }
    if (cells(line + token, grid) <= width) {
      line += token;
      continue;
    }
    let carry = '';
    const chars = [...line.trimEnd()];
    if (NO_LINE_START.has(token) && chars.length > 1 && grid.cellsOf(chars[chars.length - 1]) === 2) carry = chars.pop()!;
    if (chars.length > 0) lines.push(chars.join(''));
    line = carry;
    for (const ch of token) {
      if (cells(line + ch, grid) > width) {
        lines.push(line);
        line = '';
      }
      line += ch;
    }
  }
  if (line.trimEnd() !== '') lines.push(line.trimEnd());
  return lines;
}

/** A masked PAN as maskPan writes it: digits, a run of stars, the last 4 digits. */
const MASKED_PAN = /^(\d{6})\*+(\d{4})$/;
/** Characters a long word may break after (they end a part of a path or a compound). */
const BREAK_AFTER = new Set([...'/-.:_']);

/** A word wider than `width`: a masked PAN squeezed, else parts that each fit (see wrap). */
function fitWord(word: string, width: number, grid: Pick<Grid, 'cellsOf'>): string[] {
  if (cells(word, grid) <= width) return [word];
  const pan = MASKED_PAN.exec(word);
  if (pan && width >= 11) return [`${pan[1]}${'*'.repeat(Math.min(word.length - 10, width - 10))}${pan[2]}`];
  const parts: string[] = [];
  let rest = [...word];
  while (cells(rest.join(''), grid) > width) {
    // The longest head that fits and ends at a break character; else the longest head that fits.
    let fits = 0;
    let n = 0;
    while (fits < rest.length && n + grid.cellsOf(rest[fits]) <= width) n += grid.cellsOf(rest[fits++]);
    let cut = fits;
    while (cut > 0 && !BREAK_AFTER.has(rest[cut - 1])) cut--;
    if (cut === 0) cut = Math.max(1, fits);
    // A break part is its own line: a leading space keeps wrap from gluing the next part onto it.
    parts.push(rest.slice(0, cut).join(''), ' ');
    rest = rest.slice(cut);
  }
  parts.push(rest.join(''));
  return parts;
}

/**
 * Spaces, runs of narrow non-space characters (words), and single wide characters. A word written
 * onto the wide character after it goes with it ("U盘", "SIM卡", "12位"): a row ending in "U" and
 * the next starting "盘导出" split the one thing the reader needed (where to export).
 */
function tokens(s: string, grid: Pick<Grid, 'cellsOf'>): string[] {
  const out: string[] = [];
  let word = '';
  for (const ch of s) {
    if (ch === ' ') {
      if (word) out.push(word);
      word = '';
      out.push(ch);
    } else if (grid.cellsOf(ch) === 2) {
      out.push(word + ch);
      word = '';
    } else word += ch;
  }
  if (word) out.push(word);
  return out;
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.trunc(n)));
}

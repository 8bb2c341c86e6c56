/**
 * Draws the simulator's front panel as lines of terminal text: the LCD as it looks (a 128×64
 * graphic display in Braille cells, 2×4 pixels each, so it fits 64 columns; a character LCD as
 * its rows in a frame), the keypad legend, LEDs, battery, paper and the printed roll. Pure: the
 * front panel (sim/front-panel.ts) feeds it what the control interface reports.
 */

export interface PanelModel {
  /** '#'/'.' rows from the control interface's `screen` (pixels), or the text LCD's rows. */
  readonly screen: { kind: 'pixels'; ascii: string } | { kind: 'text'; lines: string[] } | undefined;
  /** The screen as the terminal laid it out (name and text rows), from the control interface. */
  readonly screenText?: { readonly name: string; readonly rows: readonly string[] };
  readonly state: string;
  readonly leds: Record<string, boolean>;
  /** As the gauge reads it (the control interface's `battery`); undefined before the first reading. */
  readonly batteryPercent: number | undefined;
  readonly charging: boolean;
  readonly paper: 'loaded' | 'near-end' | 'out';
  readonly coverOpen: boolean;
  /** The paper roll, newest last. */
  readonly paperLines: readonly string[];
  readonly message: string;
  readonly hostPort: number;
  readonly controlPort: number;
}

export const PAPER_LINES_SHOWN = 14;
const BRAILLE_BASE = 0x2800;
// Dot bit for (dx, dy) inside a 2×4 Braille cell (Unicode Braille Patterns order).
const BRAILLE_BITS = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]];

/** Packs '#'/'.' pixel rows into Braille characters (2 wide × 4 tall per character). */
export function brailleRows(ascii: string): string[] {
  const rows = ascii.split('\n');
  const height = rows.length;
  const width = rows[0]?.length ?? 0;
  const out: string[] = [];
  for (let y = 0; y < height; y += 4) {
    let line = '';
    for (let x = 0; x < width; x += 2) {
      let bits = 0;
      for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 2; dx++) if (rows[y + dy]?.[x + dx] === '#') bits |= BRAILLE_BITS[dy][dx];
      line += String.fromCharCode(BRAILLE_BASE + bits);
    }
    out.push(line);
  }
  return out;
}

export const KEY_LEGEND = [
  'keys: 0-9 digits  Enter=OK  Esc=CANCEL  Backspace=BACK  Del/c=CLEAR  ↑↓=UP/DOWN  m=MENU  f=FUNC',
  'cards: s=swipe  i=insert chip  t=tap  r=remove card  k=show QR payment code   printer: p=paper out/in  o=cover  n=near end   w=customer signs on the pad',
  'power: b=battery level  g=charger  x=PULL BATTERY (kill + restart)  h=hold reset at next boot (then x)  q=quit',
  'operators: 01/0000 cashier  99/9999 supervisor  00/123456 administrator   idle: digits=sale  m=menu',
];

/** Terminal columns a character takes: East Asian wide and full-width forms take two. */
export function charColumns(ch: string): number {
  const c = ch.codePointAt(0) ?? 0;
  const wide = (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3)
    || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6);
  return wide ? 2 : 1;
}

/** Cuts or pads a line to exactly `width` terminal columns. */
export function fitColumns(line: string, width: number): string {
  let out = '';
  let used = 0;
  for (const ch of line) {
    const w = charColumns(ch);
    if (used + w > width) break;
    out += ch;
    used += w;
  }
  return out + ' '.repeat(width - used);
}

function frame(lines: readonly string[], width: number, title: string): string[] {
  const top = `┌─ ${title} ${'─'.repeat(Math.max(0, width - title.length - 3))}┐`;
  const body = lines.map((l) => `│${fitColumns(l, width)}│`);
  return [top, ...body, `└${'─'.repeat(width)}┘`];
}

export function renderPanel(m: PanelModel): string[] {
  const lcd = m.screen === undefined ? ['(display not answering)']
    : m.screen.kind === 'pixels' ? brailleRows(m.screen.ascii) : m.screen.lines;
  const lcdWidth = Math.max(20, ...lcd.map((l) => [...l].length));
  const leds = Object.entries(m.leds).map(([role, on]) => `${on ? '●' : '○'} ${role}`).join('  ');
  // Rounded as the LCD's status rounds it (ui-lcd/render-text.ts statusText): one number on both.
  const battery = `battery ${m.batteryPercent === undefined ? '?' : Math.round(m.batteryPercent)}%${m.charging ? ' (charging)' : ''}`;
  const paper = `paper ${m.paper}${m.coverOpen ? ', COVER OPEN' : ''}`;
  const roll = m.paperLines.slice(-PAPER_LINES_SHOWN);
  // The words on the display (a pattern screen says what it is), not the screen's internal name.
  const text = m.screenText ? [`screen: ${m.screenText.rows.filter((r) => r.trim() !== '').join(' | ')}`] : [];
  return [
    ...frame(lcd, lcdWidth, 'LCD'),
    ...text,
    `${leds}   ${battery}   ${paper}`,
    `state: ${m.state}`,
    ...frame(roll.length ? roll : ['(nothing printed yet)'], 34, 'paper roll'),
    ...KEY_LEGEND,
    `acquirer simulator 127.0.0.1:${m.hostPort}   control interface 127.0.0.1:${m.controlPort}`,
    m.message,
  ];
}

/**
 * The screen model: what a terminal state wants to show, independent of the display it lands on.
 * A `Screen` is plain data (no functions, no classes), so the state machine's snapshot can be
 * mapped onto it and a test can compare two of them with deepEqual.
 *
 * Text in the model is a `Txt`: a plain string (the same in every locale: codes, numbers, names
 * the merchant typed), a `LocalText` ({ en, zh }), an `Amount` in fen, or `Joined` parts. Resolving a `Txt`
 * happens at render time, from (locale, display), so switching the language is a re-render and
 * nothing else.
 *
 * Rendering is a pure function of (screen, locale, display capabilities):
 *   renderScreen(screen, 'zh-CN', { kind: 'text', cols: 20, rows: 4 })   → { kind: 'text', rows: string[] }
 *   renderScreen(screen, 'zh-CN', { kind: 'pixels', width: 128, height: 64 }) → { kind: 'pixels', frame }
 * Character displays (HD44780, ROM A00) have no Chinese: they always render English (README).
 */
import type { DisplayCapabilities, FrameBuffer } from '../hal/display';
import { renderText, textGrid } from './render-text';
import { renderPixels, pixelGrid } from './render-pixels';
import { layout } from './layout';

export type Locale = 'zh-CN' | 'en';
export const LOCALES: readonly Locale[] = ['zh-CN', 'en'];

export interface LocalText {
  readonly en: string;
  readonly zh: string;
}

/** An amount of money in fen (1 yuan = 100 fen), formatted per locale and display at render time. */
export interface Amount {
  readonly amountFen: number;
}

/** Text made of parts, each resolved on its own ("Amount " + an Amount). */
export interface Joined {
  readonly parts: readonly Txt[];
}

/**
 * Text longer than the one row it gets (an error's code, cause and first step as an idle or login
 * notice): where `whole` fits that row it is shown; else the row shows one of `turns` at a time,
 * each wrapped to the row when wider (ui-lcd/layout.ts noticeParts), so that nothing is cut.
 * Resolved anywhere else (logs, tests, a row that holds it), it is `whole`.
 */
export interface InTurns {
  readonly whole: Txt;
  readonly turns: readonly Txt[];
}

export type Txt = string | LocalText | Amount | Joined | InTurns;

export interface StatusLine {
  /** 0..100; absent when the board has no gauge. */
  readonly batteryPercent?: number;
  readonly charging?: boolean;
  /** Network interface link. */
  readonly network?: 'up' | 'down';
  /** Host reachability as last seen (sign-on, last exchange). */
  readonly host?: 'online' | 'offline' | 'unknown';
  readonly paper?: 'ok' | 'out';
}

export interface InputField {
  /** amount: `digits` are fen, shifted in from the right; password: shown as '*'. */
  readonly kind: 'amount' | 'digits' | 'password';
  readonly label: Txt;
  /** The digits typed so far (never the PIN itself for kind password: any same-length string). */
  readonly digits: string;
  /** Field width in digits, for the placeholder of 'digits' and 'password' fields. */
  readonly lengthMax?: number;
}

export interface MenuItem {
  readonly label: Txt;
  /** The digit key that picks this item directly ('1'..'9'); shown before the label. */
  readonly shortcut?: string;
  /** What the state machine receives when this item is chosen. */
  readonly value: string;
}

export interface Menu {
  readonly items: readonly MenuItem[];
  readonly selected: number;
}

export interface ErrorBlock {
  readonly code: string;
  readonly cause: LocalText;
  readonly steps: { readonly en: readonly string[]; readonly zh: readonly string[] };
}

export interface Progress {
  readonly done: number;
  readonly total: number;
}

export interface Screen {
  /** Stable name of the screen (the state it shows), for logs and snapshots. */
  readonly id: string;
  readonly title: Txt;
  /** Body lines; long ones wrap, and what does not fit is paged (UP/DOWN). */
  readonly lines?: readonly Txt[];
  readonly align?: 'left' | 'center';
  readonly input?: InputField;
  readonly menu?: Menu;
  readonly error?: ErrorBlock;
  readonly progress?: Progress;
  readonly status?: StatusLine;
  /** The next key to press ("OK: confirm"). */
  readonly footer?: Txt;
  /** A transient message (a refused key, a wrong password): takes the footer row, or the title row on 2-row displays. */
  readonly notice?: Txt;
  /**
   * Which part of a notice too long for its row that row shows (an `InTurns` notice; counted
   * modulo its parts on the display: noticeTurnCount). The app moves it on every NOTICE_TURN_MS,
   * counted from when the notice appeared (boot/terminal-app.ts withNoticeTurn): it starts at 0.
   */
  readonly noticeTurn?: number;
  /** Page of the body/error text to show (clamped by the renderer). */
  readonly page?: number;
  /**
   * Read at a glance: the body is not paged (UP/DOWN keep no meaning here: the keypad test counts
   * them as keys); what does not fit is left out, so put what matters first.
   */
  readonly glance?: boolean;
  /** A test pattern instead of content (factory and diagnostics display test). */
  readonly pattern?: 'checker';
  /**
   * 主扫: the order's QR code with amount and countdown (ui-lcd/widgets/qr-code.ts renderScanToPay),
   * drawn instead of the layout on a pixel display it fits; a text display (or one it does not fit)
   * shows the title and lines, and the code is printed.
   */
  readonly scanToPay?: { readonly content: string; readonly amountFen: number; readonly secondsLeft: number; readonly wallets?: ReadonlyArray<'UP' | 'WX' | 'AL' | 'OT'> };
  /**
   * Paper out with a slip waiting: its e-receipt link as a QR code with `lines` beside it
   * (ui-lcd/widgets/qr-code.ts renderEReceipt), instead of the layout on a pixel display it fits;
   * a text display shows the title and lines.
   */
  readonly eReceiptQr?: { readonly content: string; readonly lines: readonly Txt[] };
}

export type Rendered =
  | { readonly kind: 'text'; readonly rows: string[]; readonly pageCount: number }
  | { readonly kind: 'pixels'; readonly frame: FrameBuffer; readonly pageCount: number; readonly missingGlyphs: string[] };

/** Renders a screen for a display's capabilities. Pure: same inputs, same output. */
export function renderScreen(screen: Screen, locale: Locale, caps: DisplayCapabilities): Rendered {
  if (caps.kind === 'text') {
    const r = renderText(screen, locale, caps);
    return { kind: 'text', rows: r.rows, pageCount: r.pageCount };
  }
  const r = renderPixels(screen, locale, caps);
  return { kind: 'pixels', frame: r.frame, pageCount: r.pageCount, missingGlyphs: r.missingGlyphs };
}

/** Pages the screen's body has on this display (UP/DOWN wraps within 0..pageCount-1). */
export function pageCount(screen: Screen, locale: Locale, caps: DisplayCapabilities): number {
  return renderScreen(screen, locale, caps).pageCount;
}

/**
 * How long each part of a notice shown in turns stays on its row: long enough to read a row's
 * words at a glance, short enough that the code comes round again within a few seconds' wait.
 */
export const NOTICE_TURN_MS = 3_000;

/** Parts the screen's notice is shown in, one at a time, on this display (1: whole, or none). */
export function noticeTurnCount(screen: Screen, locale: Locale, caps: DisplayCapabilities): number {
  if (screen.notice === undefined) return 1;
  return layout(screen, locale, caps.kind === 'text' ? textGrid(caps) : pixelGrid(caps)).noticeTurns;
}

/**
 * The UI driver: renders a Screen onto a hal Display and sends only what changed.
 *
 * - Text displays: each row is compared with what the panel holds; a changed row is written from
 *   its first to its last differing character (one writeText per changed row).
 * - Pixel displays: the new frame is compared with the last one sent; drawFrame gets the
 *   bounding rectangle of the changed pixels as its region (the SSD1306 driver then diffs only
 *   inside it). Nothing is sent when nothing changed.
 * Calls are serialised (the display contract wants one caller): `show()` while a render is under
 * way queues, and a burst of screens collapses to the latest one.
 *
 *   const ui = new LcdUi(board.display(), { locale: new LocaleSetting('zh-CN') });
 *   await ui.show(screenFor('idle', { merchantName, nowMs: Date.now(), status }));
 *   ui.lastStats  // { renderMs, sendMs, rowsWritten, region, ... }
 *
 * After the display is re-initialised (power loss, DSP fault) call `invalidate()`: the next
 * show sends everything. A failed send invalidates by itself.
 */
import { Display, FrameBuffer, Region, isTextDisplay } from '../hal/display';
import type { Locale, Screen } from './screen';
import { LocaleSetting } from './strings';
import { renderText } from './render-text';
import { renderPixels } from './render-pixels';

export interface RenderStats {
  readonly screenId: string;
  /** Layout and drawing in memory. */
  readonly renderMs: number;
  /** Driver calls (bus transfers). */
  readonly sendMs: number;
  /** Something was sent to the panel. */
  readonly changed: boolean;
  /** Text: rows written; pixels: undefined. */
  readonly rowsWritten?: number;
  /** Text: characters written. */
  readonly charsWritten?: number;
  /** Pixels: the region passed to drawFrame. */
  readonly region?: Region;
  readonly pageCount: number;
}

export interface LcdUiOptions {
  readonly locale?: LocaleSetting | Locale;
  /** Redraw every row / the whole frame each time (a baseline for the benchmark). */
  readonly fullRedraw?: boolean;
  readonly now?: () => number;
}

export class LcdUi {
  readonly locale: LocaleSetting;
  lastStats: RenderStats | undefined;
  private readonly fullRedraw: boolean;
  private readonly now: () => number;
  private wanted: Screen | undefined;
  private drawn: { screen: Screen; locale: Locale } | undefined;
  private textShown: string[] | undefined;
  private frameShown: FrameBuffer | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly display: Display, options: LcdUiOptions = {}) {
    this.locale = options.locale instanceof LocaleSetting ? options.locale : new LocaleSetting(options.locale ?? 'zh-CN');
    this.fullRedraw = options.fullRedraw === true;
    this.now = options.now ?? (() => performance.now());
    // Switching language re-renders what is on screen.
    this.locale.onChange(() => { if (this.wanted) void this.show(this.wanted).catch(() => undefined); });
  }

  /** Puts `screen` on the display; resolves once it (or a newer one) is there. */
  show(screen: Screen): Promise<RenderStats> {
    this.wanted = screen;
    const next = this.chain.then(() => this.flush(), () => this.flush());
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Forget what the panel holds: the next show sends everything. */
  invalidate(): void {
    this.drawn = undefined;
    this.textShown = undefined;
    this.frameShown = undefined;
  }

  /** The screen most recently asked for. */
  current(): Screen | undefined {
    return this.wanted;
  }

  private async flush(): Promise<RenderStats> {
    const screen = this.wanted!;
    const locale = this.locale.get();
    if (this.drawn && this.drawn.screen === screen && this.drawn.locale === locale && this.lastStats && !this.fullRedraw) {
      return { ...this.lastStats, changed: false, renderMs: 0, sendMs: 0 };
    }
    try {
      const stats = isTextDisplay(this.display) ? await this.flushText(screen, locale) : await this.flushPixels(screen, locale);
      this.drawn = { screen, locale };
      this.lastStats = stats;
      return stats;
    } catch (e) {
      this.invalidate(); // the panel's content is unknown after a failed transfer
      throw e;
    }
  }

  private async flushText(screen: Screen, locale: Locale): Promise<RenderStats> {
    const display = this.display;
    if (!isTextDisplay(display)) throw new TypeError('not a text display');
    const t0 = this.now();
    const r = renderText(screen, locale, display.capabilities);
    const t1 = this.now();
    const before = this.fullRedraw ? undefined : this.textShown;
    let rowsWritten = 0;
    let charsWritten = 0;
    for (let row = 0; row < r.rows.length; row++) {
      const span = changedSpan(before?.[row], r.rows[row]);
      if (!span) continue;
      await display.writeText(row, span.from, r.rows[row].slice(span.from, span.to));
      rowsWritten++;
      charsWritten += span.to - span.from;
    }
    this.textShown = r.rows;
    return { screenId: screen.id, renderMs: t1 - t0, sendMs: this.now() - t1, changed: rowsWritten > 0, rowsWritten, charsWritten, pageCount: r.pageCount };
  }

  private async flushPixels(screen: Screen, locale: Locale): Promise<RenderStats> {
    const display = this.display;
    if (isTextDisplay(display)) throw new TypeError('not a pixel display');
    const t0 = this.now();
    const r = renderPixels(screen, locale, display.capabilities);
    const region = this.fullRedraw || !this.frameShown ? fullRegion(r.frame) : changedRegion(this.frameShown, r.frame);
    const t1 = this.now();
    if (region) await display.drawFrame(r.frame, this.fullRedraw ? undefined : region);
    this.frameShown = r.frame;
    return { screenId: screen.id, renderMs: t1 - t0, sendMs: this.now() - t1, changed: region !== undefined, ...(region ? { region } : {}), pageCount: r.pageCount };
  }
}

/** [from, to) of the characters that differ; the whole row when nothing is known. */
export function changedSpan(before: string | undefined, after: string): { from: number; to: number } | undefined {
  if (before === undefined || before.length !== after.length) return { from: 0, to: after.length };
  let from = 0;
  while (from < after.length && before[from] === after[from]) from++;
  if (from === after.length) return undefined;
  let to = after.length;
  while (to > from && before[to - 1] === after[to - 1]) to--;
  return { from, to };
}

function fullRegion(f: FrameBuffer): Region {
  return { x: 0, y: 0, width: f.width, height: f.height };
}

/** Bounding box of the pixels that differ, byte-wise (8-pixel columns), or undefined. */
export function changedRegion(before: FrameBuffer, after: FrameBuffer): Region | undefined {
  if (before.width !== after.width || before.height !== after.height) return fullRegion(after);
  let y0 = -1, y1 = -1, b0 = after.stride, b1 = -1;
  for (let y = 0; y < after.height; y++) {
    const row = y * after.stride;
    for (let b = 0; b < after.stride; b++) {
      if (before.bytes[row + b] === after.bytes[row + b]) continue;
      if (y0 < 0) y0 = y;
      y1 = y;
      if (b < b0) b0 = b;
      if (b > b1) b1 = b;
    }
  }
  if (y0 < 0) return undefined;
  const x = b0 * 8;
  return { x, y: y0, width: Math.min(after.width, (b1 + 1) * 8) - x, height: y1 - y0 + 1 };
}

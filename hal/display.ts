/**
 * Display interface. One type, `Display`, that says what it can show through `capabilities`:
 * a character display (`kind: 'text'`, HD44780) or a 1-bit graphic display (`kind: 'pixels'`,
 * SSD1306). The UI narrows with `isTextDisplay` / `isPixelDisplay` and lays out for what it got.
 *
 * Contract for every method:
 * - rejects with PosError DSP_FAULT (kind device-absent) when the display does not answer
 *   (I2C NAK, unplugged), BRD_BUS (kind bus-fault) on other bus failures;
 * - after `close()` every method rejects with BRD_BUS;
 * - calls are serialised by the caller (the UI has one render loop); a driver does not queue.
 * After a power loss the controller forgets everything: call `init()` again; drivers keep no
 * state that survives that, except the SSD1306 driver's shadow frame, which `init()` resets.
 */
import { PosError, isPosError } from '../common/errors';

export interface TextCapabilities {
  readonly kind: 'text';
  readonly cols: number;
  readonly rows: number;
}

export interface PixelCapabilities {
  readonly kind: 'pixels';
  readonly width: number;
  readonly height: number;
}

export type DisplayCapabilities = TextCapabilities | PixelCapabilities;

interface DisplayBase {
  readonly capabilities: DisplayCapabilities;
  /** Runs the controller's power-on sequence and clears the screen. Safe to call again. */
  init(): Promise<void>;
  /** Blanks the screen (text: all spaces; pixels: all off). */
  clear(): Promise<void>;
  /** Panel on/off (and backlight, where there is one). Contents are kept while off. */
  setPower(on: boolean): Promise<void>;
  /** Turns the panel off and releases nothing else: the bus belongs to the board. Idempotent. */
  close(): Promise<void>;
}

export interface TextDisplay extends DisplayBase {
  readonly capabilities: TextCapabilities;
  /**
   * Writes `text` from (row, col), clipped at the end of the row (no wrap). Characters outside
   * the controller's ROM (code points > 0x7F on an HD44780 A00 ROM) are shown as '?'.
   * Rejects with BRD_BUS if row/col are outside the display.
   */
  writeText(row: number, col: number, text: string): Promise<void>;
  /** Shows the cursor at (row, col), optionally blinking; `null` hides it. */
  setCursor(position: { row: number; col: number; blink?: boolean } | null): Promise<void>;
}

export interface PixelDisplay extends DisplayBase {
  readonly capabilities: PixelCapabilities;
  /**
   * Sends `frame` to the panel. Only what differs from the last frame sent is transferred
   * (the driver keeps a shadow copy); `region` limits the comparison to a rectangle the caller
   * knows is dirty. A failed transfer invalidates the shadow, so the next call resends all.
   */
  drawFrame(frame: FrameBuffer, region?: Region): Promise<void>;
}

export type Display = TextDisplay | PixelDisplay;

export function isTextDisplay(d: Display): d is TextDisplay {
  return d.capabilities.kind === 'text';
}

export function isPixelDisplay(d: Display): d is PixelDisplay {
  return d.capabilities.kind === 'pixels';
}

export interface Region {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * A 1-bit frame buffer, row-major, 8 pixels per byte, most significant bit leftmost (as in PBM).
 * Drivers convert to their controller's memory layout. Tracks the bounding box of pixels
 * changed since `takeDirty()`, so a renderer does not need to.
 */
export class FrameBuffer {
  readonly bytes: Uint8Array;
  readonly stride: number;
  private dirty: { x0: number; y0: number; x1: number; y1: number } | undefined;

  constructor(readonly width: number, readonly height: number) {
    this.stride = Math.ceil(width / 8);
    this.bytes = new Uint8Array(this.stride * height);
  }

  get(x: number, y: number): boolean {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return false;
    return (this.bytes[y * this.stride + (x >> 3)] & (0x80 >> (x & 7))) !== 0;
  }

  set(x: number, y: number, on: boolean): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = y * this.stride + (x >> 3);
    const bit = 0x80 >> (x & 7);
    const next = on ? this.bytes[i] | bit : this.bytes[i] & ~bit;
    if (next === this.bytes[i]) return;
    this.bytes[i] = next;
    this.markDirty(x, y);
  }

  fill(on: boolean): void {
    this.bytes.fill(on ? 0xff : 0);
    this.dirty = { x0: 0, y0: 0, x1: this.width - 1, y1: this.height - 1 };
  }

  /** Returns and forgets the changed rectangle (undefined if nothing changed). */
  takeDirty(): Region | undefined {
    const d = this.dirty;
    this.dirty = undefined;
    return d && { x: d.x0, y: d.y0, width: d.x1 - d.x0 + 1, height: d.y1 - d.y0 + 1 };
  }

  private markDirty(x: number, y: number): void {
    const d = this.dirty;
    if (!d) this.dirty = { x0: x, y0: y, x1: x, y1: y };
    else {
      d.x0 = Math.min(d.x0, x);
      d.y0 = Math.min(d.y0, y);
      d.x1 = Math.max(d.x1, x);
      d.y1 = Math.max(d.y1, y);
    }
  }
}

/**
 * Maps a bus error from a display transfer to the display contract: a NAK (device-absent)
 * becomes DSP_FAULT naming the display, anything else passes through.
 */
export function displayFault(e: unknown, display: string): unknown {
  if (isPosError(e, 'device-absent')) {
    return new PosError('DSP_FAULT', `${display} not answering: ${e.message}`, { display, ...e.detail }, { cause: e });
  }
  return e;
}

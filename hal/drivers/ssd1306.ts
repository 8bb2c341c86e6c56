/**
 * SSD1306 128x64 OLED on I2C. Each transaction starts with a control byte: 0x00 = the rest are
 * commands, 0x40 = the rest are display data (Co=0, D/C#). The driver uses horizontal addressing
 * mode: after setting a column window (0x21) and a page window (0x22), data bytes fill the window
 * column by column, page by page, each byte being 8 vertical pixels (LSB on top).
 *
 * The driver keeps a shadow of the panel's memory and sends only what changed: per frame it
 * picks the cheaper of one bounding window over all changed pages, or one window per changed
 * page, counting the bytes each costs on the wire. A failed transfer leaves the panel's memory
 * unknown, so the shadow is dropped and the next frame is sent whole. It also may have left the
 * chip's command decoder waiting for arguments (a transfer cut inside "0x21 c0 c1"), so the next
 * transfer first sends NOPs, enough to complete the longest command, and sets the addressing mode
 * again.
 */
import { I2cBus, I2C_TRANSFER_BYTES_MAX } from '../i2c';
import { FrameBuffer, PixelCapabilities, PixelDisplay, Region, displayFault } from '../display';
import { PosError } from '../../common/errors';

export interface Ssd1306Options {
  /** 0x3C (SA0 low) or 0x3D. */
  readonly address: number;
  /** Name used in errors ("display0"). */
  readonly name?: string;
  /** Data bytes per I2C transaction (plus the control byte); 32 for SMBus-limited adapters. */
  readonly writeChunkBytesMax?: number;
  /** 0..255, default 0xCF. */
  readonly contrast?: number;
  /** Panel mounted upside down: use segment/COM remap the other way. */
  readonly rotate180?: boolean;
}

export const WIDTH = 128;
export const HEIGHT = 64;
export const PAGES = HEIGHT / 8;
/** The frame buffer itself: the floor for a full refresh. */
export const FRAME_BYTES = WIDTH * PAGES;

const CONTROL_COMMANDS = 0x00;
const CONTROL_DATA = 0x40;
/** Bytes a window costs besides its data: [addr][0x00 21 c0 c1 22 p0 p1] + [addr][0x40]. */
const WINDOW_OVERHEAD_BYTES = 1 + 7 + 1 + 1;
/** NOP (0xE3) count that completes any partly received command (scroll setup takes 6 arguments). */
const RESYNC_NOPS = 6;

/** Datasheet application example (128x64, internal charge pump), horizontal addressing. */
function initCommands(contrast: number, rotate180: boolean): number[] {
  return [
    0xae, // display off
    0xd5, 0x80, // clock divide / oscillator
    0xa8, HEIGHT - 1, // multiplex ratio
    0xd3, 0x00, // display offset
    0x40, // start line 0
    0x8d, 0x14, // charge pump on
    0x20, 0x00, // horizontal addressing mode
    rotate180 ? 0xa0 : 0xa1, // segment remap
    rotate180 ? 0xc0 : 0xc8, // COM scan direction
    0xda, 0x12, // COM pins: alternative, no remap (128x64)
    0x81, contrast & 0xff,
    0xd9, 0xf1, // pre-charge
    0xdb, 0x40, // VCOMH deselect level
    0xa4, // display follows RAM
    0xa6, // normal (not inverted)
    0x2e, // scrolling off
  ];
}

interface Window {
  readonly c0: number;
  readonly c1: number;
  readonly p0: number;
  readonly p1: number;
}

export class Ssd1306 implements PixelDisplay {
  readonly capabilities: PixelCapabilities = { kind: 'pixels', width: WIDTH, height: HEIGHT };
  private readonly name: string;
  private readonly chunkBytesMax: number;
  /** What the panel holds, in its own layout; undefined when unknown. */
  private shadow: Uint8Array | undefined;
  private closed = false;
  /** The last operation, settled or not (guard runs them one after another). */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly bus: I2cBus, private readonly options: Ssd1306Options) {
    this.name = options.name ?? `ssd1306@${options.address.toString(16)}`;
    this.chunkBytesMax = Math.min(Math.max(options.writeChunkBytesMax ?? FRAME_BYTES, 1), I2C_TRANSFER_BYTES_MAX - 1);
  }

  async init(): Promise<void> {
    await this.guard(async () => {
      this.shadow = undefined;
      await this.commands(initCommands(this.options.contrast ?? 0xcf, this.options.rotate180 === true));
      await this.sendWindow({ c0: 0, c1: WIDTH - 1, p0: 0, p1: PAGES - 1 }, new Uint8Array(FRAME_BYTES));
      this.shadow = new Uint8Array(FRAME_BYTES);
      await this.commands([0xaf]); // display on, after RAM is clean (power-on RAM is random)
    });
  }

  async clear(): Promise<void> {
    await this.drawFrame(new FrameBuffer(WIDTH, HEIGHT));
  }

  async drawFrame(frame: FrameBuffer, region?: Region): Promise<void> {
    if (frame.width !== WIDTH || frame.height !== HEIGHT) {
      throw new PosError('BRD_BUS', `${this.name}: frame ${frame.width}x${frame.height}, panel ${WIDTH}x${HEIGHT}`, { display: this.name });
    }
    const next = toPages(frame);
    await this.guard(async () => {
      if (!this.shadow) await this.commands([...Array(RESYNC_NOPS).fill(0xe3), 0x20, 0x00]);
      const plan = this.plan(next, region);
      const shadow = this.shadow ?? new Uint8Array(FRAME_BYTES);
      for (const w of plan) {
        await this.sendWindow(w, extract(next, w));
        // Only what was sent is on the panel: outside `region` the panel keeps older pixels.
        for (let p = w.p0; p <= w.p1; p++) shadow.set(next.subarray(p * WIDTH + w.c0, p * WIDTH + w.c1 + 1), p * WIDTH + w.c0);
      }
      this.shadow = shadow;
    });
  }

  async setPower(on: boolean): Promise<void> {
    await this.guard(() => this.commands([on ? 0xaf : 0xae]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.setPower(false);
    } finally {
      this.closed = true;
    }
  }

  /** Bytes on the wire the last plan would cost (for tests and the benchmark). */
  static windowCost(windows: readonly Window[]): number {
    return windows.reduce((n, w) => n + WINDOW_OVERHEAD_BYTES + (w.c1 - w.c0 + 1) * (w.p1 - w.p0 + 1), 0);
  }

  /** Changed windows: one bounding box, or one per changed page, whichever costs fewer bytes. */
  private plan(next: Uint8Array, region?: Region): Window[] {
    const shadow = this.shadow;
    if (!shadow) return [{ c0: 0, c1: WIDTH - 1, p0: 0, p1: PAGES - 1 }];
    const cx0 = region ? Math.max(0, region.x) : 0;
    const cx1 = region ? Math.min(WIDTH - 1, region.x + region.width - 1) : WIDTH - 1;
    const py0 = region ? Math.max(0, region.y >> 3) : 0;
    const py1 = region ? Math.min(PAGES - 1, (region.y + region.height - 1) >> 3) : PAGES - 1;
    const perPage: Window[] = [];
    for (let p = py0; p <= py1; p++) {
      let c0 = -1;
      let c1 = -1;
      for (let c = cx0; c <= cx1; c++) {
        if (next[p * WIDTH + c] === shadow[p * WIDTH + c]) continue;
        if (c0 < 0) c0 = c;
        c1 = c;
      }
      if (c0 >= 0) perPage.push({ c0, c1, p0: p, p1: p });
    }
    if (perPage.length <= 1) return perPage;
    const box: Window = {
      c0: Math.min(...perPage.map((w) => w.c0)),
      c1: Math.max(...perPage.map((w) => w.c1)),
      p0: perPage[0].p0,
      p1: perPage[perPage.length - 1].p1,
    };
    return Ssd1306.windowCost([box]) <= Ssd1306.windowCost(perPage) ? [box] : perPage;
  }

  private async sendWindow(w: Window, data: Uint8Array): Promise<void> {
    await this.commands([0x21, w.c0, w.c1, 0x22, w.p0, w.p1]);
    for (let i = 0; i < data.length; i += this.chunkBytesMax) {
      const part = data.subarray(i, i + this.chunkBytesMax);
      const out = new Uint8Array(part.length + 1);
      out[0] = CONTROL_DATA;
      out.set(part, 1);
      await this.bus.i2cWrite(this.options.address, out);
    }
  }

  private async commands(cmds: number[]): Promise<void> {
    await this.bus.i2cWrite(this.options.address, Uint8Array.from([CONTROL_COMMANDS, ...cmds]));
  }

  /**
   * Runs one operation once those before it have ended. An operation is several transfers (a
   * window command, then its data in chunks): two at once interleave them and one's data lands in
   * the other's window, while each updates the shadow as if alone. Seen in the TCG guest: the
   * boot's first frame drawn while the self-test's init cleared the RAM; the login screen then had
   * a stray pixel that no later frame mended (the shadow said it was dark).
   */
  private guard(work: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new PosError('BRD_BUS', `${this.name}: used after close`, { display: this.name }));
    const run = this.tail.then(async () => {
      try {
        await work();
      } catch (e) {
        this.shadow = undefined; // panel RAM unknown after a failed transfer
        throw displayFault(e, this.name);
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** Row-major 1-bit frame → SSD1306 pages (byte = 8 vertical pixels, LSB on top). */
export function toPages(frame: FrameBuffer): Uint8Array {
  const out = new Uint8Array(FRAME_BYTES);
  for (let y = 0; y < HEIGHT; y++) {
    const row = y * frame.stride;
    const bit = 1 << (y & 7);
    const page = (y >> 3) * WIDTH;
    for (let x = 0; x < WIDTH; x++) {
      if (frame.bytes[row + (x >> 3)] & (0x80 >> (x & 7))) out[page + x] |= bit;
    }
  }
  return out;
}

function extract(pages: Uint8Array, w: Window): Uint8Array {
  const cols = w.c1 - w.c0 + 1;
  const out = new Uint8Array(cols * (w.p1 - w.p0 + 1));
  for (let p = w.p0; p <= w.p1; p++) out.set(pages.subarray(p * WIDTH + w.c0, p * WIDTH + w.c1 + 1), (p - w.p0) * cols);
  return out;
}

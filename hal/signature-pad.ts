/**
 * Signature pad interface: the cardholder signs on a resistive touch area with a stylus; the
 * terminal keeps the strokes and a 1-bit image small enough for the host (field 62).
 *
 * Contract:
 * - `capture(options)` starts sampling the pad and resolves with the strokes and the image when
 *   `confirm()` is called (the terminal's OK key: the pad itself has no button). Strokes are in
 *   the pad's pixel area (`area`, from the board file's calibration). The image is cropped to the
 *   strokes and scaled down until it has at most `options.pixelsMax` pixels and its compressed
 *   form (`compressSignature`, the engine's own format) at most `options.compressedBytesMax`
 *   bytes; if even the smallest scale does not fit, it rejects with PosError OPR_INPUT (sign again).
 * - It rejects with `SignatureAborted` (a PosError OPR_CANCELLED, kind 'cancelled') whose `reason`
 *   says why: 'cancelled' (`cancel()`, or a new `capture()` replaced it), 'timeout' (nothing
 *   confirmed within `options.timeoutMs`), 'empty' (`confirm()` with nothing signed) or 'closed'.
 * - It rejects with BRD_DEVICE_ABSENT (kind device-absent) when the controller does not answer
 *   (I2C NAK) and BRD_BUS (bus-fault) on other bus failures or when the controller keeps
 *   returning garbled conversions. A fault ends the capture; the strokes so far are dropped.
 * - `clear()` forgets the strokes so far (the CLEAR key: sign again); sampling goes on.
 * - One capture at a time; confirm/clear/cancel outside a capture do nothing.
 * - `check()` is the health check: one real conversion over the bus (i2c-bus opens lazily).
 * - `close()` ends a running capture ('closed'), powers the controller down where it can and
 *   releases nothing else (the bus belongs to the board). Idempotent; afterwards `capture` and
 *   `check` reject with BRD_BUS.
 * After a power loss nothing needs restoring: the controller powers up idle between conversions.
 */
import { deflateRawSync } from 'node:zlib';
import { PosError } from '../common/errors';
import type { MonoImage } from './printer';

export interface PadPoint {
  readonly x: number;
  readonly y: number;
}

/** One pen-down to pen-up, in pad pixels. */
export type Stroke = readonly PadPoint[];

export interface SignatureCaptureOptions {
  /** Rejects with reason 'timeout' after this long without a confirm. ≤ SIGNATURE_CAPTURE_MS_MAX. */
  readonly timeoutMs: number;
  /** Largest image, in pixels (the engine's SIGNATURE_PIXELS_MAX). */
  readonly pixelsMax: number;
  /** Largest compressed image, in bytes (the engine's SIGNATURE_BYTES_MAX, field 62). */
  readonly compressedBytesMax: number;
  /** Called when the strokes change (a point added, a stroke ended, cleared): for the screen. */
  readonly onChange?: (strokes: readonly Stroke[]) => void;
}

export interface CapturedSignature {
  readonly strokes: readonly Stroke[];
  readonly image: MonoImage;
  /** Size of `compressSignature(image)`: what the journal and field 62 will hold. */
  readonly compressedBytes: number;
}

export interface SignaturePad {
  /** The pad's pixel area (from the board file). */
  readonly area: { readonly width: number; readonly height: number };
  capture(options: SignatureCaptureOptions): Promise<CapturedSignature>;
  confirm(): void;
  clear(): void;
  cancel(): void;
  /** Strokes of the running capture (empty outside one). */
  strokes(): readonly Stroke[];
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Longest a capture may wait for the customer. */
export const SIGNATURE_CAPTURE_MS_MAX = 5 * 60_000;
/** Largest pad area a board file may declare (the engine's SIGNATURE_PIXELS_MAX: 384 × 200). */
export const SIGNATURE_PAD_PIXELS_MAX = 384 * 200;
/** Strokes and points kept per capture: a runaway pen (a stuck touch) stops adding. */
export const SIGNATURE_STROKES_MAX = 64;
export const SIGNATURE_POINTS_MAX = 4096;
/** Smallest image width the fitting goes down to before giving up. */
export const SIGNATURE_WIDTH_MIN = 48;
/** Blank pixels kept around the cropped strokes. */
const CROP_MARGIN_PX = 2;

export type SignatureAbortReason = 'cancelled' | 'timeout' | 'empty' | 'closed';

/** The capture ended without a signature (not a fault). */
export class SignatureAborted extends PosError {
  constructor(readonly reason: SignatureAbortReason, role: string) {
    super('OPR_CANCELLED', `${role}: signature capture ended (${reason})`, { role, reason });
  }
}

export function isSignatureAborted(e: unknown): e is SignatureAborted {
  return e instanceof SignatureAborted;
}

/** The engine's storage format (runtime/txn/engine.ts saveSignature): MSB-first packed bits, raw deflate level 9. */
export function compressSignature(image: MonoImage): Buffer {
  const packed = Buffer.alloc(Math.ceil((image.width * image.height) / 8));
  for (let i = 0; i < image.pixels.length; i++) if (image.pixels[i]) packed[i >> 3] |= 0x80 >> (i & 7);
  return deflateRawSync(packed, { level: 9 });
}

/** Draws strokes (pad pixels) into a width×height image at `scale`, offset by (-x0, -y0) before scaling. */
export function drawStrokes(strokes: readonly Stroke[], width: number, height: number, scale = 1, x0 = 0, y0 = 0): MonoImage {
  const pixels = new Uint8Array(width * height);
  const plot = (x: number, y: number): void => {
    const px = Math.round((x - x0) * scale);
    const py = Math.round((y - y0) * scale);
    if (px >= 0 && py >= 0 && px < width && py < height) pixels[py * width + px] = 1;
  };
  for (const s of strokes) {
    if (s.length === 1) plot(s[0].x, s[0].y);
    for (let i = 1; i < s.length; i++) {
      const a = s[i - 1];
      const b = s[i];
      const steps = Math.max(1, Math.ceil(Math.max(Math.abs(b.x - a.x), Math.abs(b.y - a.y)) * Math.max(scale, 0.5) * 2));
      for (let k = 0; k <= steps; k++) plot(a.x + ((b.x - a.x) * k) / steps, a.y + ((b.y - a.y) * k) / steps);
    }
  }
  return { width, height, pixels };
}

/**
 * The image the engine accepts: cropped to the strokes (plus a margin), then scaled down in
 * steps until it has at most `pixelsMax` pixels and compresses to at most `compressedBytesMax`
 * bytes. Throws OPR_INPUT when even SIGNATURE_WIDTH_MIN wide does not fit.
 */
export function fitSignature(strokes: readonly Stroke[], limits: { pixelsMax: number; compressedBytesMax: number }): { image: MonoImage; compressedBytes: number } {
  const all = strokes.flat();
  if (all.length === 0) throw new PosError('OPR_INPUT', 'no strokes to draw');
  const x0 = Math.min(...all.map((p) => p.x)) - CROP_MARGIN_PX;
  const y0 = Math.min(...all.map((p) => p.y)) - CROP_MARGIN_PX;
  const w = Math.max(...all.map((p) => p.x)) + CROP_MARGIN_PX - x0 + 1;
  const h = Math.max(...all.map((p) => p.y)) + CROP_MARGIN_PX - y0 + 1;
  let scale = Math.min(1, Math.sqrt(limits.pixelsMax / (w * h)));
  let lastBytes = 0;
  for (;;) {
    const width = Math.max(1, Math.floor(w * scale));
    const height = Math.max(1, Math.floor(h * scale));
    if (width * height <= limits.pixelsMax) {
      const image = drawStrokes(strokes, width, height, scale, x0, y0);
      lastBytes = compressSignature(image).length;
      if (lastBytes <= limits.compressedBytesMax) return { image, compressedBytes: lastBytes };
    }
    if (width <= SIGNATURE_WIDTH_MIN) break;
    scale *= 0.8;
  }
  throw new PosError('OPR_INPUT', `signature too detailed (${lastBytes} bytes compressed at the smallest size, ${limits.compressedBytesMax} allowed): sign again`, { compressedBytes: lastBytes });
}

/**
 * The touch panel's check, as diagnostics runs it on the terminal (boot/diagnostics.ts) and the
 * factory test at the station (boot/factory.ts): the pad answers; nothing is read while nobody
 * touches it; a line drawn across it is read over most of its width (FIELD-FAULTS.md "touch panel
 * dirty or broken"). The limits and the judgement live here, once.
 */
import type { CapturedSignature, SignaturePad, Stroke } from '../hal/signature-pad';
import { SIGNATURE_PAD_PIXELS_MAX } from '../hal/signature-pad';

/** The check's first part: nobody touches the pad this long, and nothing may be read. */
export const TOUCH_QUIET_MS = 1_500;
/** The check waits this long for the line across the pad. */
export const TOUCH_DRAW_MS_MAX = 30_000;
/**
 * A line drawn across the pad must be read over at least this share of its width: a panel that
 * reads only part of it is worn, cracked or badly calibrated. A person told to draw across reaches
 * well past it on a working pad.
 */
export const TOUCH_ACROSS_RATIO_MIN = 0.6;
/** The check's image is never kept: any size the pad's own compression gives is accepted. */
export const TOUCH_IMAGE_BYTES_MAX = 1 << 20;

/** Points read in `strokes`. */
export function touchPoints(strokes: readonly Stroke[]): number {
  return strokes.reduce((n, st) => n + st.length, 0);
}

/** The share of the pad's width `strokes` cover, in whole percent (0 with no point). */
export function acrossPct(strokes: readonly Stroke[], widthPx: number): number {
  const xs = strokes.flatMap((st) => st.map((pt) => pt.x));
  if (xs.length === 0) return 0;
  return Math.round((100 * (Math.max(...xs) - Math.min(...xs) + 1)) / widthPx);
}

/** A capture for the check: its image is not kept, so any size is accepted. */
export function touchCapture(pad: SignaturePad, timeoutMs: number, onChange?: (strokes: readonly Stroke[]) => void): Promise<CapturedSignature> {
  return pad.capture({ timeoutMs, pixelsMax: SIGNATURE_PAD_PIXELS_MAX, compressedBytesMax: TOUCH_IMAGE_BYTES_MAX, ...(onChange ? { onChange } : {}) });
}

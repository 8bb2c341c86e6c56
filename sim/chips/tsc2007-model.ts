/**
 * TSC2007 touch controller model: answers the same command bytes as the part (hal/drivers/tsc2007.ts
 * documents the wire format) from a list of pen samples in raw ADC units.
 *
 * Timing: the model is clocked by its reader, not by wall time, so a played signature comes out
 * the same at any sampling rate or machine load. A "sample" is one conversion of each function;
 * the first conversion of a function already converted for the current sample moves the model to
 * the next queued sample. When the queue is empty the pen is up.
 *
 * Faults: `garble(n)` makes the next n reads return bytes with the must-be-zero low nibble set
 * (a confused part or a noisy bus); absence is the bus's business (SimI2cBus.setAbsent).
 */
import { I2cSimDevice } from './i2c-sim';
import { RAW_MAX, TSC2007_FN } from '../../hal/drivers/tsc2007';

/** One sample: pen down at raw (x, y) with this touch resistance, or pen up. */
export type PenSample = { readonly x: number; readonly y: number; readonly touchOhms: number } | 'up';

/** Samples a played signature may queue (beyond that, `play` refuses). */
export const PEN_SAMPLES_MAX = 20_000;
/** TEMP0 of a part at room temperature (12-bit). */
const TEMP0_RAW = 0x3a0;
const Z1_NOMINAL = 1000;

export class Tsc2007Model implements I2cSimDevice {
  private queue: PenSample[] = [];
  private current: PenSample = 'up';
  private converted = new Set<number>();
  private result = 0;
  private garbleReads = 0;
  private waiters: Array<() => void> = [];
  /** Conversions done, for tests. */
  conversions = 0;
  /** Samples taken from the queue so far. */
  played = 0;

  constructor(private readonly xPlateOhms: number) {}

  /** Queues samples after whatever is still queued. */
  play(samples: readonly PenSample[]): void {
    if (this.queue.length + samples.length > PEN_SAMPLES_MAX) throw new Error(`more than ${PEN_SAMPLES_MAX} pen samples queued`);
    this.queue.push(...samples);
  }

  /** Samples not yet presented. */
  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once every queued sample has been presented and the pen is up again. */
  drained(): Promise<void> {
    if (this.queue.length === 0 && this.current === 'up') return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drops what is queued; the pen lifts. */
  reset(): void {
    this.queue = [];
    this.current = 'up';
    this.converted.clear();
    this.wake();
  }

  garble(reads: number): void {
    this.garbleReads = reads;
  }

  write(data: Uint8Array): void {
    if (data.length === 0) return;
    const fn = data[0] >> 4;
    const eightBit = (data[0] & 0x02) !== 0;
    if (fn === TSC2007_FN.X || fn === TSC2007_FN.Y || fn === TSC2007_FN.Z1 || fn === TSC2007_FN.Z2) {
      if (this.converted.has(fn)) this.next();
      this.converted.add(fn);
    }
    this.conversions++;
    const v = this.convert(fn);
    this.result = eightBit ? v >> 4 : v;
  }

  read(length: number): Uint8Array {
    const out = new Uint8Array(length);
    out[0] = (this.result >> 4) & 0xff;
    if (length > 1) out[1] = (this.result & 0x0f) << 4;
    if (this.garbleReads > 0) {
      this.garbleReads--;
      out[0] = 0xff;
      if (length > 1) out[1] = 0xff;
    }
    return out;
  }

  private next(): void {
    this.converted.clear();
    const s = this.queue.shift();
    this.current = s ?? 'up';
    if (s !== undefined) this.played++;
    if (s === undefined || (this.queue.length === 0 && s === 'up')) this.wake();
  }

  private wake(): void {
    if (this.queue.length > 0 || this.current !== 'up') return;
    for (const w of this.waiters.splice(0)) w();
  }

  private convert(fn: number): number {
    if (fn === TSC2007_FN.TEMP0) return TEMP0_RAW;
    if (fn === TSC2007_FN.TEMP1) return TEMP0_RAW + 0x40;
    if (fn === TSC2007_FN.AUX) return 0;
    const s = this.current;
    if (s === 'up') {
      // No touch: the plates do not meet; X and Z2 read full scale, Z1 zero.
      return fn === TSC2007_FN.Z1 ? 0 : RAW_MAX;
    }
    if (fn === TSC2007_FN.X) return s.x;
    if (fn === TSC2007_FN.Y) return s.y;
    // Rtouch = Rx × X/4096 × (Z2/Z1 − 1)  →  Z2/Z1 = 1 + Rtouch × 4096 / (Rx × X)
    const k = 1 + (s.touchOhms * 4096) / (this.xPlateOhms * Math.max(1, s.x));
    const z1 = Math.max(1, Math.min(Z1_NOMINAL, Math.floor((RAW_MAX - 1) / k)));
    return fn === TSC2007_FN.Z1 ? z1 : Math.min(RAW_MAX, Math.round(z1 * k));
  }
}

/**
 * TI TSC2007 4-wire resistive touch-screen controller on I2C (address 0x48..0x4B by A1/A0), as a
 * signature pad (hal/signature-pad.ts).
 *
 * Wire protocol (TSC2007 datasheet, "Digital interface"; the Linux tsc2007 driver does the same):
 * one command byte selects a conversion, then a read returns it:
 *   S addr+W [A] cmd [A] Sr addr+R [A] D11..D4 [A] D3..D0 0000 [NA] P
 * i.e. an SMBus read-word whose low byte is the top 8 bits. Command byte:
 *   C3..C0 (bits 7..4)  0x0 TEMP0, 0x2 AUX, 0x4 TEMP1, 0xC X, 0xD Y, 0xE Z1, 0xF Z2
 *   PD1..PD0 (3..2)     00 power down between cycles with PENIRQ on, 01 ADC on (PENIRQ off)
 *   M (1)               0 = 12-bit, 1 = 8-bit
 * The four low bits of the second byte are zero on a real part: anything else is a garbled
 * transfer. Touch resistance (datasheet equation 1):
 *   Rtouch = Rx-plate × X/4096 × (Z2/Z1 − 1)
 * the firmer the press, the lower; X = 4095 or Z1 = 0 means no touch. A sample is "pen down" when
 * 0 < Rtouch ≤ touchResistanceOhmsMax (the pressure threshold from the board file).
 *
 * The pad is polled at `sampleHz` while a capture runs (a pen-down IRQ line is optional on the
 * part and not used here: polling keeps the driver to one bus). Raw 0..4095 readings are mapped
 * to the pad's pixel area by the board file's calibration (raw at the left/right and top/bottom
 * edges; min > max flips an axis; swapXY for a pad mounted turned).
 */
import { I2cBus, hex } from '../i2c';
import { PosError, isPosError } from '../../common/errors';
import { Timers, realTimers } from './timing';
import {
  CapturedSignature, PadPoint, SignatureAborted, SignatureAbortReason, SignatureCaptureOptions, SignaturePad, Stroke,
  SIGNATURE_CAPTURE_MS_MAX, SIGNATURE_POINTS_MAX, SIGNATURE_STROKES_MAX, fitSignature,
} from '../signature-pad';

export const TSC2007_ADDRESS = 0x48;
export const RAW_MAX = 4095;

export const TSC2007_FN = { TEMP0: 0x0, AUX: 0x2, TEMP1: 0x4, X: 0xc, Y: 0xd, Z1: 0xe, Z2: 0xf } as const;
/** PD1..PD0 = 01: ADC on, PENIRQ off (during a sample). */
export const PD_ADC_ON = 0x1 << 2;
/** PD1..PD0 = 00: power down between cycles, PENIRQ on (between samples and after close). */
export const PD_POWER_DOWN = 0x0 << 2;
export const MODE_8BIT = 0x1 << 1;

export function commandByte(fn: number, pd = PD_ADC_ON, eightBit = false): number {
  return ((fn & 0xf) << 4) | pd | (eightBit ? MODE_8BIT : 0);
}

/** Garbled conversions in a row before a capture gives up with BRD_BUS. */
export const GARBLED_SAMPLES_MAX = 3;
export const SAMPLE_HZ_MAX = 500;
/** A TEMP0 reading outside this is no TSC2007 (0 or full scale: a floating bus or another part). */
const TEMP_RAW_PLAUSIBLE = [0x100, 0xf00] as const;

export interface RawSample {
  readonly x: number;
  readonly y: number;
  readonly z1: number;
  readonly z2: number;
}

export interface Tsc2007Calibration {
  readonly xRawMin: number;
  readonly xRawMax: number;
  readonly yRawMin: number;
  readonly yRawMax: number;
  readonly swapXY?: boolean;
}

export interface Tsc2007Options {
  readonly name?: string;
  readonly address?: number;
  /** The pad's pixel area. */
  readonly width: number;
  readonly height: number;
  readonly calibration: Tsc2007Calibration;
  /** Resistance of the X plate (from the panel's datasheet), for the touch resistance. */
  readonly xPlateOhms: number;
  /** Pressure threshold: a touch above this resistance is too light (a resting palm edge, noise). */
  readonly touchResistanceOhmsMax: number;
  readonly sampleHz: number;
  readonly timers?: Timers;
}

/** Touch resistance from one sample (datasheet equation 1, integer as Linux computes it); 0 = no touch. */
export function touchResistanceOhms(s: RawSample, xPlateOhms: number): number {
  if (s.x >= RAW_MAX || s.x === 0 || s.z1 === 0 || s.z2 <= s.z1) return 0;
  return Math.floor(((s.z2 - s.z1) * s.x * xPlateOhms) / s.z1 / 4096 + 0.5);
}

/** Raw 0..4095 to pad pixels by the calibration, clamped to the area. */
export function rawToPad(raw: { x: number; y: number }, cal: Tsc2007Calibration, width: number, height: number): PadPoint {
  const [rx, ry] = cal.swapXY ? [raw.y, raw.x] : [raw.x, raw.y];
  const map = (v: number, min: number, max: number, size: number): number => Math.min(size - 1, Math.max(0, Math.round(((v - min) * (size - 1)) / (max - min))));
  return { x: map(rx, cal.xRawMin, cal.xRawMax, width), y: map(ry, cal.yRawMin, cal.yRawMax, height) };
}

/** The chip: conversions by command byte. */
export class Tsc2007 {
  constructor(private readonly bus: I2cBus, readonly address = TSC2007_ADDRESS, private readonly name = 'signature0') {}

  /** One 12-bit conversion. Rejects BRD_BUS (detail.garbled) when the dummy bits are not zero. */
  async convert(fn: number, pd = PD_ADC_ON): Promise<number> {
    const word = await this.bus.readWord(this.address, commandByte(fn, pd));
    const first = word & 0xff;
    const second = (word >> 8) & 0xff;
    if ((second & 0x0f) !== 0) {
      throw new PosError('BRD_BUS', `${this.name}: garbled conversion from ${hex(this.address)} (bytes ${first.toString(16)} ${second.toString(16)})`, { role: this.name, bus: this.bus.name, address: this.address, garbled: true });
    }
    return (first << 4) | (second >> 4);
  }

  /** X, Y, Z1, Z2 with the ADC on, then the part powered down with PENIRQ on. */
  async sample(): Promise<RawSample> {
    const x = await this.convert(TSC2007_FN.X);
    const y = await this.convert(TSC2007_FN.Y);
    const z1 = await this.convert(TSC2007_FN.Z1);
    const z2 = await this.convert(TSC2007_FN.Z2, PD_POWER_DOWN);
    return { x, y, z1, z2 };
  }

  async powerDown(): Promise<void> {
    await this.bus.i2cWrite(this.address, Uint8Array.of(commandByte(TSC2007_FN.TEMP0, PD_POWER_DOWN)));
  }

  /** Health check with a real transfer: a TEMP0 conversion in the part's plausible range. */
  async check(): Promise<number> {
    let temp: number;
    try {
      temp = await this.convert(TSC2007_FN.TEMP0, PD_POWER_DOWN);
    } catch (e) {
      if (isPosError(e) && e.detail.garbled === true) throw new PosError('BRD_DEVICE_ABSENT', `${this.name}: ${hex(this.address)} answers but not as a TSC2007 (${e.message})`, { role: this.name, address: this.address }, { cause: e });
      throw e;
    }
    if (temp < TEMP_RAW_PLAUSIBLE[0] || temp > TEMP_RAW_PLAUSIBLE[1]) {
      throw new PosError('BRD_DEVICE_ABSENT', `${this.name}: TEMP0 reads 0x${temp.toString(16)} at ${hex(this.address)}: not a TSC2007`, { role: this.name, address: this.address, temp });
    }
    return temp;
  }
}

interface Running {
  readonly options: SignatureCaptureOptions;
  readonly resolve: (s: CapturedSignature) => void;
  readonly reject: (e: unknown) => void;
  strokes: PadPoint[][];
  current: PadPoint[] | undefined;
  points: number;
  garbled: number;
  confirmed: boolean;
  ended: boolean;
  timeout: unknown;
  timer: unknown;
}

/** The signature pad over a TSC2007. */
export class Tsc2007SignaturePad implements SignaturePad {
  readonly chip: Tsc2007;
  readonly area: { readonly width: number; readonly height: number };
  private readonly name: string;
  private readonly timers: Timers;
  private readonly periodMs: number;
  private run: Running | undefined;
  private closed = false;

  constructor(bus: I2cBus, private readonly o: Tsc2007Options) {
    this.name = o.name ?? 'signature0';
    this.chip = new Tsc2007(bus, o.address ?? TSC2007_ADDRESS, this.name);
    this.area = { width: o.width, height: o.height };
    this.timers = o.timers ?? realTimers;
    this.periodMs = 1000 / Math.min(SAMPLE_HZ_MAX, Math.max(1, o.sampleHz));
  }

  capture(options: SignatureCaptureOptions): Promise<CapturedSignature> {
    if (this.closed) return Promise.reject(this.closedError());
    this.end(new SignatureAborted('cancelled', this.name));
    return new Promise<CapturedSignature>((resolve, reject) => {
      const run: Running = { options, resolve, reject, strokes: [], current: undefined, points: 0, garbled: 0, confirmed: false, ended: false, timeout: undefined, timer: undefined };
      this.run = run;
      run.timeout = this.timers.setTimeout(() => this.end(new SignatureAborted('timeout', this.name), run), Math.min(options.timeoutMs, SIGNATURE_CAPTURE_MS_MAX));
      this.schedule(run, 0);
    });
  }

  confirm(): void {
    if (this.run) this.run.confirmed = true;
  }

  clear(): void {
    const run = this.run;
    if (!run) return;
    run.strokes = [];
    run.current = undefined;
    run.points = 0;
    this.changed(run);
  }

  cancel(): void {
    this.end(new SignatureAborted('cancelled', this.name));
  }

  strokes(): readonly Stroke[] {
    const run = this.run;
    return run ? [...run.strokes, ...(run.current ? [run.current] : [])] : [];
  }

  async check(): Promise<void> {
    if (this.closed) throw this.closedError();
    await this.chip.check();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.end(new SignatureAborted('closed', this.name));
    this.closed = true;
    await this.chip.powerDown().catch(() => undefined);
  }

  // ---------------------------------------------------------------- sampling

  private schedule(run: Running, ms: number): void {
    run.timer = this.timers.setTimeout(() => void this.tick(run), ms);
  }

  private async tick(run: Running): Promise<void> {
    if (run.ended) return;
    let sample: RawSample | undefined;
    try {
      sample = await this.chip.sample();
      run.garbled = 0;
    } catch (e) {
      if (run.ended) return;
      if (isPosError(e) && e.detail.garbled === true && ++run.garbled < GARBLED_SAMPLES_MAX) {
        sample = undefined; // dropped; the next sample may be clean
      } else {
        this.end(e, run);
        return;
      }
    }
    if (run.ended) return;
    if (sample) this.take(run, sample);
    if (run.confirmed) { this.finish(run); return; }
    this.schedule(run, this.periodMs);
  }

  private take(run: Running, s: RawSample): void {
    const rt = touchResistanceOhms(s, this.o.xPlateOhms);
    const down = rt > 0 && rt <= this.o.touchResistanceOhmsMax;
    if (!down) {
      if (run.current) { run.strokes.push(run.current); run.current = undefined; this.changed(run); }
      return;
    }
    if (run.points >= SIGNATURE_POINTS_MAX) return;
    const p = rawToPad(s, this.o.calibration, this.o.width, this.o.height);
    if (!run.current) {
      if (run.strokes.length >= SIGNATURE_STROKES_MAX) return;
      run.current = [];
    }
    const last = run.current[run.current.length - 1];
    if (last && last.x === p.x && last.y === p.y) return;
    run.current.push(p);
    run.points++;
    this.changed(run);
  }

  private finish(run: Running): void {
    if (run.current) { run.strokes.push(run.current); run.current = undefined; }
    if (run.strokes.length === 0) { this.end(new SignatureAborted('empty', this.name), run); return; }
    let fitted: ReturnType<typeof fitSignature>;
    try {
      fitted = fitSignature(run.strokes, run.options);
    } catch (e) {
      this.end(e, run);
      return;
    }
    const strokes = run.strokes;
    this.stop(run);
    run.resolve({ strokes, image: fitted.image, compressedBytes: fitted.compressedBytes });
  }

  private end(e: unknown, run: Running | undefined = this.run): void {
    if (!run || run.ended) return;
    this.stop(run);
    run.reject(e);
  }

  private stop(run: Running): void {
    run.ended = true;
    this.timers.clearTimeout(run.timeout);
    this.timers.clearTimeout(run.timer);
    if (this.run === run) this.run = undefined;
  }

  private changed(run: Running): void {
    try { run.options.onChange?.(this.strokes()); } catch { /* a listener's problem */ }
  }

  private closedError(): PosError {
    return new PosError('BRD_BUS', `${this.name}: signature pad closed`, { role: this.name });
  }
}

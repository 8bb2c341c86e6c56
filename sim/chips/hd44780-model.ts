/**
 * PCF8574 port expander wired to an HD44780 LCD controller, modelled at the pins: every byte
 * written over I2C becomes the PCF8574's eight output levels; the HD44780 model watches those
 * pins and latches a nibble on each falling edge of E, exactly as the chip does. It then decodes
 * instructions (clear, home, entry mode, display control, shift, function set, CGRAM/DDRAM
 * address) and data into DDRAM, the address counter, cursor and display on/off state.
 *
 * It also records what would go wrong on glass, so that a driver that passes here works there:
 * - `violations`: RS/RW changed in the same PCF8574 write as E rose (address setup time), data
 *   changed as E fell (hold time), an instruction strobed while a long one (clear, home, the
 *   first init step) was still executing, or strobes sooner than 40 ms after power-on (ignored
 *   by the chip; the first is unavoidable and not counted).
 * Timing uses performance.now() (sinon fake timers fake it too).
 *
 * After power-on the controller is in 8-bit mode; D0..D3 are not wired on a backpack and read
 * high (the HD44780 has pull-ups on its data pins).
 */
import { I2cSimDevice } from './i2c-sim';
import { BACKPACK_PIN_MAP, Pcf8574PinMap } from '../../hal/drivers/hd44780-pcf8574';

/** Violations kept (oldest dropped). */
export const VIOLATIONS_MAX = 100;
const POWER_ON_MS = 40;
const CLEAR_MS = 1.52;
const INIT_FIRST_MS = 4.1;
const ROW_OFFSETS = [0x00, 0x40, 0x14, 0x54];

export class Pcf8574Hd44780Model implements I2cSimDevice {
  /** PCF8574 output latch (power-on: all high, weak pull-ups). */
  pins = 0xff;
  readonly ddram = new Uint8Array(0x80).fill(0x20);
  readonly cgram = new Uint8Array(64);
  addressCounter = 0;
  addressIsCgram = false;
  fourBit = false;
  twoLine = false;
  displayOn = false;
  cursorOn = false;
  blinkOn = false;
  increment = true;
  instructions = 0;
  readonly violations: string[] = [];
  private pendingHigh: number | undefined;
  private busyUntil = 0;
  private poweredAt = performance.now();
  private initSteps = 0;
  private strobesDuringPowerOn = 0;

  constructor(readonly cols: number, readonly rows: number, readonly pinMap: Pcf8574PinMap = BACKPACK_PIN_MAP) {}

  /** Backlight pin level as the PCF8574 drives it. */
  get backlight(): boolean {
    return this.bit(this.pins, this.pinMap.backlight) === 1;
  }

  /** The visible text, one string per row. */
  text(): string[] {
    const out: string[] = [];
    for (let r = 0; r < this.rows; r++) {
      const start = ROW_OFFSETS[r];
      out.push([...this.ddram.subarray(start, start + this.cols)].map(glyph).join(''));
    }
    return out;
  }

  /** Cursor (row, col) if the cursor is shown and lies on the visible area. */
  cursor(): { row: number; col: number; blink: boolean } | null {
    if (!this.cursorOn || this.addressIsCgram) return null;
    for (let r = 0; r < this.rows; r++) {
      const col = this.addressCounter - ROW_OFFSETS[r];
      if (col >= 0 && col < this.cols) return { row: r, col, blink: this.blinkOn };
    }
    return null;
  }

  /** Power loss and return: controller back to 8-bit mode, memory kept undefined (spaces here). */
  powerCycle(): void {
    this.pins = 0xff;
    this.ddram.fill(0x20);
    this.fourBit = false;
    this.displayOn = false;
    this.cursorOn = false;
    this.pendingHigh = undefined;
    this.poweredAt = performance.now();
    this.initSteps = 0;
    this.strobesDuringPowerOn = 0;
  }

  // ---- I2C side: the PCF8574
  write(data: Uint8Array): void {
    for (const b of data) this.setPins(b);
  }

  /** Reading a PCF8574 returns the pin levels (quasi-bidirectional pins). */
  read(length: number): Uint8Array {
    return new Uint8Array(length).fill(this.pins);
  }

  // ---- the HD44780 bus
  private setPins(next: number): void {
    const m = this.pinMap;
    const prev = this.pins;
    this.pins = next;
    const eWas = this.bit(prev, m.e);
    const eNow = this.bit(next, m.e);
    if (!eWas && eNow && ((prev ^ next) & ((1 << m.rs) | (1 << m.rw)))) this.violation('RS/RW changed as E rose (setup time)');
    if (eWas && !eNow) {
      this.strobe(this.bit(prev, m.rs), this.bit(prev, m.rw), this.nibble(prev), this.nibble(prev) !== this.nibble(next));
    }
  }

  private strobe(rs: number, rw: number, nibble: number, dataChanged: boolean): void {
    const now = performance.now();
    if (now - this.poweredAt < POWER_ON_MS) {
      // Ignored: the controller is still in its internal reset. The first one is unavoidable
      // (the PCF8574 powers up with all pins high, so the driver's first write drops E).
      this.strobesDuringPowerOn += 1;
      if (this.strobesDuringPowerOn > 1) this.violation(`strobe ${(now - this.poweredAt).toFixed(1)} ms after power-on`);
      return;
    }
    if (dataChanged) this.violation('data changed as E fell (hold time)');
    if (rw) return; // reads are not modelled: the driver never reads
    if (!this.fourBit) {
      this.execute(rs, (nibble << 4) | 0x0f, now); // D0..D3 float high
      return;
    }
    if (this.pendingHigh === undefined) {
      this.pendingHigh = nibble;
      return;
    }
    const value = (this.pendingHigh << 4) | nibble;
    this.pendingHigh = undefined;
    this.execute(rs, value, now);
  }

  private execute(rs: number, value: number, now: number): void {
    if (now < this.busyUntil) this.violation(`0x${value.toString(16)} sent while busy (${(this.busyUntil - now).toFixed(2)} ms early)`);
    this.instructions += 1;
    if (rs) this.writeData(value);
    else this.instruction(value, now);
  }

  private writeData(value: number): void {
    if (this.addressIsCgram) {
      this.cgram[this.addressCounter & 0x3f] = value;
      this.addressCounter = (this.addressCounter + 1) & 0x3f;
      return;
    }
    this.ddram[this.addressCounter] = value;
    this.addressCounter = this.nextDdram(this.addressCounter);
  }

  private nextDdram(a: number): number {
    const n = this.increment ? a + 1 : a - 1;
    if (!this.twoLine) return ((n % 0x50) + 0x50) % 0x50;
    if (this.increment) return n === 0x28 ? 0x40 : n === 0x68 ? 0x00 : n;
    return n === 0x3f ? 0x27 : n === -1 ? 0x67 : n;
  }

  private instruction(v: number, now: number): void {
    if (v & 0x80) {
      this.addressIsCgram = false;
      this.addressCounter = v & 0x7f;
    } else if (v & 0x40) {
      this.addressIsCgram = true;
      this.addressCounter = v & 0x3f;
    } else if (v & 0x20) {
      this.functionSet(v, now);
    } else if (v & 0x10) {
      this.violation('cursor/display shift is not modelled');
    } else if (v & 0x08) {
      this.displayOn = (v & 0x04) !== 0;
      this.cursorOn = (v & 0x02) !== 0;
      this.blinkOn = (v & 0x01) !== 0;
    } else if (v & 0x04) {
      this.increment = (v & 0x02) !== 0;
      if (v & 0x01) this.violation('display shift on entry is not modelled');
    } else if (v & 0x02) {
      this.addressCounter = 0;
      this.addressIsCgram = false;
      this.busyUntil = now + CLEAR_MS;
    } else if (v & 0x01) {
      this.ddram.fill(0x20);
      this.addressCounter = 0;
      this.addressIsCgram = false;
      this.increment = true;
      this.busyUntil = now + CLEAR_MS;
    }
  }

  private functionSet(v: number, now: number): void {
    const eightBit = (v & 0x10) !== 0;
    if (!this.fourBit) {
      this.initSteps += 1;
      if (this.initSteps === 1) this.busyUntil = now + INIT_FIRST_MS;
    }
    this.fourBit = !eightBit;
    this.twoLine = (v & 0x08) !== 0;
  }

  private nibble(pins: number): number {
    const m = this.pinMap;
    return this.bit(pins, m.d4) | (this.bit(pins, m.d5) << 1) | (this.bit(pins, m.d6) << 2) | (this.bit(pins, m.d7) << 3);
  }

  private bit(pins: number, n: number): number {
    return (pins >> n) & 1;
  }

  private violation(what: string): void {
    this.violations.push(what);
    if (this.violations.length > VIOLATIONS_MAX) this.violations.shift();
  }
}

/** A00 ROM glyphs as text: ASCII, with 0x5C shown as ¥ as that ROM does. */
function glyph(code: number): string {
  if (code === 0x5c) return '¥';
  return code >= 0x20 && code <= 0x7d ? String.fromCharCode(code) : '?';
}

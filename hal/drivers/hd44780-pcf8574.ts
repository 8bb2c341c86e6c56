/**
 * HD44780 character LCD (16x2, 20x4) in 4-bit mode behind a PCF8574 I2C port expander (the
 * common "I2C backpack"). Every byte written to the PCF8574 sets its eight pins at once, so the
 * driver bit-bangs the HD44780 bus: each nibble is two bytes, E high then E low, data stable
 * across both (the HD44780 latches on E's falling edge). When RS changes, one extra byte sets RS
 * with E low first, because RS must be stable 40 ns before E rises and the PCF8574 changes all
 * pins together. At 100-400 kHz one byte takes 22-90 µs, longer than the 37 µs most
 * instructions need, so only clear/home (1.52 ms) and the init steps wait explicitly.
 *
 * The driver never reads (RW stays low): the busy flag is not polled, waits are used instead.
 */
import { I2cBus, I2C_TRANSFER_BYTES_MAX } from '../i2c';
import { TextCapabilities, TextDisplay, displayFault } from '../display';
import { PosError } from '../../common/errors';
import { Sleep, realSleep } from './timing';

export interface Pcf8574PinMap {
  readonly rs: number;
  readonly rw: number;
  readonly e: number;
  readonly backlight: number;
  readonly d4: number;
  readonly d5: number;
  readonly d6: number;
  readonly d7: number;
}

/** The usual backpack wiring: P0=RS P1=RW P2=E P3=backlight P4..P7=D4..D7. */
export const BACKPACK_PIN_MAP: Pcf8574PinMap = { rs: 0, rw: 1, e: 2, backlight: 3, d4: 4, d5: 5, d6: 6, d7: 7 };

export interface Hd44780Options {
  readonly address: number;
  readonly cols: 16 | 20;
  readonly rows: 2 | 4;
  readonly pinMap?: Pcf8574PinMap;
  readonly sleep?: Sleep;
  /** Bytes per I2C transaction; a 32-byte SMBus-only adapter needs 32. */
  readonly writeChunkBytesMax?: number;
  /** Name used in errors ("display0"). */
  readonly name?: string;
}

/** Power-on wait before the first instruction (datasheet: more than 40 ms after Vcc reaches 2.7 V). */
export const POWER_ON_WAIT_MS = 50;
/** After the first 8-bit function set during init (datasheet: more than 4.1 ms). */
export const INIT_FIRST_WAIT_MS = 5;
/** Clear display and return home execute in 1.52 ms. */
export const CLEAR_WAIT_MS = 2;

const CMD_CLEAR = 0x01;
const CMD_ENTRY_INCREMENT = 0x06;
const CMD_DISPLAY = 0x08; // | D=0x04 C=0x02 B=0x01
const CMD_FUNCTION_4BIT_2LINE = 0x28;
const CMD_SET_DDRAM = 0x80;

/** DDRAM address of each row's first column (20x4 rows 2 and 3 continue rows 0 and 1). */
const ROW_OFFSETS = [0x00, 0x40, 0x14, 0x54];

export class Hd44780Pcf8574 implements TextDisplay {
  readonly capabilities: TextCapabilities;
  private readonly pins: Pcf8574PinMap;
  private readonly sleep: Sleep;
  private readonly chunkBytesMax: number;
  private readonly name: string;
  private backlight = true;
  private displayOn = true;
  private cursor: { row: number; col: number; blink: boolean } | null = null;
  /** RS level on the wire; -1 when unknown (start, or after a failed transfer). */
  private rs = -1;
  private closed = false;

  constructor(private readonly bus: I2cBus, private readonly options: Hd44780Options) {
    this.capabilities = { kind: 'text', cols: options.cols, rows: options.rows };
    this.pins = options.pinMap ?? BACKPACK_PIN_MAP;
    this.sleep = options.sleep ?? realSleep;
    this.chunkBytesMax = Math.min(Math.max(options.writeChunkBytesMax ?? 256, 2), I2C_TRANSFER_BYTES_MAX);
    this.name = options.name ?? `hd44780@${options.address.toString(16)}`;
  }

  /** Datasheet figure 24 "Initializing by instruction", 4-bit interface. */
  async init(): Promise<void> {
    await this.guard(async () => {
      await this.send(Uint8Array.of(this.byte(0, 0, false))); // all pins low, backlight as set
      this.rs = 0;
      await this.sleep(POWER_ON_WAIT_MS);
      await this.send(this.nibbleBytes(0x3, 0));
      await this.sleep(INIT_FIRST_WAIT_MS);
      await this.send(this.nibbleBytes(0x3, 0)); // >100 µs later: the I2C transfer itself takes longer
      await this.send(this.nibbleBytes(0x3, 0));
      await this.send(this.nibbleBytes(0x2, 0)); // now in 4-bit mode
      await this.command(CMD_FUNCTION_4BIT_2LINE); // 16x2 and 20x4 both use the 2-line setting
      await this.command(CMD_DISPLAY);
      await this.command(CMD_CLEAR);
      await this.sleep(CLEAR_WAIT_MS);
      await this.command(CMD_ENTRY_INCREMENT);
      this.displayOn = true;
      this.cursor = null;
      await this.command(this.displayControl());
    });
  }

  async clear(): Promise<void> {
    await this.guard(async () => {
      await this.command(CMD_CLEAR);
      await this.sleep(CLEAR_WAIT_MS);
      if (this.cursor) await this.command(this.cursorAddress(this.cursor.row, this.cursor.col));
    });
  }

  async writeText(row: number, col: number, text: string): Promise<void> {
    this.checkPosition(row, col);
    const codes = [...text].slice(0, this.options.cols - col).map(romCode);
    await this.guard(async () => {
      const bytes = [...this.instructionBytes(this.cursorAddress(row, col), 0)];
      for (const c of codes) bytes.push(...this.instructionBytes(c, 1));
      await this.send(Uint8Array.from(bytes));
      if (this.cursor) await this.command(this.cursorAddress(this.cursor.row, this.cursor.col));
    });
  }

  async setCursor(position: { row: number; col: number; blink?: boolean } | null): Promise<void> {
    if (position) this.checkPosition(position.row, position.col);
    this.cursor = position && { row: position.row, col: position.col, blink: position.blink === true };
    await this.guard(async () => {
      if (this.cursor) await this.command(this.cursorAddress(this.cursor.row, this.cursor.col));
      await this.command(this.displayControl());
    });
  }

  async setPower(on: boolean): Promise<void> {
    this.displayOn = on;
    this.backlight = on;
    await this.guard(() => this.command(this.displayControl()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.setPower(false);
    } finally {
      this.closed = true;
    }
  }

  private displayControl(): number {
    const c = this.cursor;
    return CMD_DISPLAY | (this.displayOn ? 0x04 : 0) | (c ? 0x02 : 0) | (c?.blink ? 0x01 : 0);
  }

  private cursorAddress(row: number, col: number): number {
    return CMD_SET_DDRAM | (ROW_OFFSETS[row] + col);
  }

  private checkPosition(row: number, col: number): void {
    const { rows, cols } = this.options;
    if (!(Number.isInteger(row) && Number.isInteger(col) && row >= 0 && row < rows && col >= 0 && col < cols)) {
      throw new PosError('BRD_BUS', `${this.name}: position ${row},${col} outside ${cols}x${rows}`, { display: this.name, row, col });
    }
  }

  private command(instruction: number): Promise<void> {
    return this.send(this.instructionBytes(instruction, 0));
  }

  /** Bytes for one instruction or data byte: high nibble then low nibble. */
  private instructionBytes(value: number, rs: 0 | 1): Uint8Array {
    const hi = this.nibbleBytes(value >> 4, rs);
    const lo = this.nibbleBytes(value & 0x0f, rs);
    const out = new Uint8Array(hi.length + lo.length);
    out.set(hi);
    out.set(lo, hi.length);
    return out;
  }

  /** [RS set, E low] if RS changes, then [data, E high], [data, E low]. */
  private nibbleBytes(nibble: number, rs: 0 | 1): Uint8Array {
    const out: number[] = [];
    if (rs !== this.rs) out.push(this.byte(nibble, rs, false));
    this.rs = rs;
    out.push(this.byte(nibble, rs, true), this.byte(nibble, rs, false));
    return Uint8Array.from(out);
  }

  private byte(nibble: number, rs: number, e: boolean): number {
    const p = this.pins;
    let b = 0;
    if (rs) b |= 1 << p.rs;
    if (e) b |= 1 << p.e;
    if (this.backlight) b |= 1 << p.backlight;
    if (nibble & 1) b |= 1 << p.d4;
    if (nibble & 2) b |= 1 << p.d5;
    if (nibble & 4) b |= 1 << p.d6;
    if (nibble & 8) b |= 1 << p.d7;
    return b; // RW (p.rw) stays 0: write only
  }

  private async send(bytes: Uint8Array): Promise<void> {
    for (let i = 0; i < bytes.length; i += this.chunkBytesMax) {
      await this.bus.i2cWrite(this.options.address, bytes.subarray(i, i + this.chunkBytesMax));
    }
  }

  private async guard(work: () => Promise<void>): Promise<void> {
    if (this.closed) throw new PosError('BRD_BUS', `${this.name}: used after close`, { display: this.name });
    try {
      await work();
    } catch (e) {
      this.rs = -1; // pin state unknown after a failed transfer: set RS again next time
      throw displayFault(e, this.name);
    }
  }
}

/** Maps a character to the HD44780 A00 ROM: printable ASCII except '\' (¥ in that ROM); else '?'. */
export function romCode(ch: string): number {
  const c = ch.codePointAt(0) ?? 0x3f;
  return c >= 0x20 && c <= 0x7d && c !== 0x5c ? c : 0x3f;
}

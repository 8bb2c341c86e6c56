/**
 * SSD1306 model on I2C: parses control bytes (Co, D/C#) and the command set with its argument
 * counts, keeps the 128x64 GDDRAM (8 pages x 128 columns) and writes data through the
 * addressing mode in force: horizontal and vertical (with the 0x21/0x22 windows) and page mode
 * (0xB0-0xB7, 0x00-0x1F). Multi-byte commands may span transactions, as on the chip.
 *
 * The visible picture (`pixel`, `toFrame`, `toAscii`) applies segment remap, COM scan direction,
 * start line, invert and entire-on, modelling the common 0.96" module mounting where 0xA1 with
 * 0xC8 gives an upright picture. It is blank unless the display is on and the charge pump is
 * enabled (a forgotten 0x8D 0x14 leaves a real panel dark).
 */
import { I2cSimDevice, SimNak } from './i2c-sim';
import { FrameBuffer } from '../../hal/display';

const WIDTH = 128;
const PAGES = 8;
const HEIGHT = 64;

/** Number of argument bytes after each multi-byte command. */
const ARGS: Record<number, number> = {
  0x81: 1, 0x8d: 1, 0x20: 1, 0x21: 2, 0x22: 2, 0xa8: 1, 0xd3: 1, 0xd5: 1, 0xd9: 1, 0xda: 1, 0xdb: 1,
  0xa3: 2, 0x26: 6, 0x27: 6, 0x29: 5, 0x2a: 5,
};

export type AddressingMode = 'horizontal' | 'vertical' | 'page';

export class Ssd1306Model implements I2cSimDevice {
  readonly gddram = new Uint8Array(WIDTH * PAGES);
  mode: AddressingMode = 'page'; // reset state
  col = 0;
  page = 0;
  colStart = 0;
  colEnd = WIDTH - 1;
  pageStart = 0;
  pageEnd = PAGES - 1;
  displayOn = false;
  chargePump = false;
  segRemap = false;
  comRemap = false;
  inverted = false;
  entireOn = false;
  startLine = 0;
  contrast = 0x7f;
  /** Counters for tests and benchmarks. */
  dataBytes = 0;
  commandBytes = 0;
  readonly unknownCommands: number[] = [];
  private pending: number[] = [];
  private pendingArgs = 0;

  constructor() {
    // Power-on RAM content is undefined: fill with a pattern so a driver that skips clearing shows it.
    for (let i = 0; i < this.gddram.length; i++) this.gddram[i] = (i * 37) & 0xff;
  }

  /** The visible pixel at (x, y), as a person looking at the glass sees it. */
  pixel(x: number, y: number): boolean {
    if (!this.displayOn || !this.chargePump) return false;
    if (this.entireOn) return true;
    const col = this.segRemap ? x : WIDTH - 1 - x;
    const com = this.comRemap ? y : HEIGHT - 1 - y;
    const row = (com + this.startLine) % HEIGHT;
    const on = (this.gddram[(row >> 3) * WIDTH + col] >> (row & 7)) & 1;
    return (on === 1) !== this.inverted;
  }

  toFrame(): FrameBuffer {
    const f = new FrameBuffer(WIDTH, HEIGHT);
    for (let y = 0; y < HEIGHT; y++) for (let x = 0; x < WIDTH; x++) if (this.pixel(x, y)) f.set(x, y, true);
    return f;
  }

  /** '#' for lit pixels, '.' for dark, one line per row. */
  toAscii(): string {
    const lines: string[] = [];
    for (let y = 0; y < HEIGHT; y++) {
      let s = '';
      for (let x = 0; x < WIDTH; x++) s += this.pixel(x, y) ? '#' : '.';
      lines.push(s);
    }
    return lines.join('\n');
  }

  write(data: Uint8Array): void {
    let i = 0;
    while (i < data.length) {
      const control = data[i++];
      const co = (control & 0x80) !== 0;
      const isData = (control & 0x40) !== 0;
      if ((control & 0x3f) !== 0) throw new SimNak(i - 1, `bad control byte 0x${control.toString(16)}`);
      const end = co ? Math.min(i + 1, data.length) : data.length;
      for (; i < end; i++) {
        if (isData) this.data(data[i]);
        else this.command(data[i]);
      }
    }
  }

  /** The SSD1306 in I2C mode has no readable registers; reads return 0 (status on some clones). */
  read(length: number): Uint8Array {
    return new Uint8Array(length);
  }

  private data(byte: number): void {
    this.dataBytes += 1;
    this.gddram[this.page * WIDTH + this.col] = byte;
    if (this.mode === 'page') {
      this.col = (this.col + 1) % WIDTH;
    } else if (this.mode === 'horizontal') {
      if (this.col < this.colEnd) this.col += 1;
      else {
        this.col = this.colStart;
        this.page = this.page < this.pageEnd ? this.page + 1 : this.pageStart;
      }
    } else if (this.page < this.pageEnd) {
      this.page += 1;
    } else {
      this.page = this.pageStart;
      this.col = this.col < this.colEnd ? this.col + 1 : this.colStart;
    }
  }

  private command(byte: number): void {
    this.commandBytes += 1;
    if (this.pendingArgs > 0) {
      this.pending.push(byte);
      this.pendingArgs -= 1;
      if (this.pendingArgs === 0) this.execute(this.pending);
      return;
    }
    const args = ARGS[byte] ?? 0;
    if (args > 0) {
      this.pending = [byte];
      this.pendingArgs = args;
    } else {
      this.execute([byte]);
    }
  }

  private execute(cmd: number[]): void {
    const [c, a = 0, b = 0] = cmd;
    if (c <= 0x0f) this.col = (this.col & 0xf0) | c;
    else if (c <= 0x1f) this.col = ((c & 0x0f) << 4) | (this.col & 0x0f);
    else if (c >= 0x40 && c <= 0x7f) this.startLine = c & 0x3f;
    else if (c >= 0xb0 && c <= 0xb7) this.page = c & 0x07;
    else if (!this.simple(c, a, b)) this.unknownCommands.push(c);
  }

  /** Returns false for a command the model does not know. */
  private simple(c: number, a: number, b: number): boolean {
    switch (c) {
      case 0x20: this.mode = a === 0 ? 'horizontal' : a === 1 ? 'vertical' : 'page'; return true;
      case 0x21: this.colStart = a & 0x7f; this.colEnd = b & 0x7f; this.col = this.colStart; return true;
      case 0x22: this.pageStart = a & 7; this.pageEnd = b & 7; this.page = this.pageStart; return true;
      case 0x81: this.contrast = a; return true;
      case 0x8d: this.chargePump = (a & 0x04) !== 0; return true;
      case 0xa0: case 0xa1: this.segRemap = c === 0xa1; return true;
      case 0xc0: case 0xc8: this.comRemap = c === 0xc8; return true;
      case 0xa4: case 0xa5: this.entireOn = c === 0xa5; return true;
      case 0xa6: case 0xa7: this.inverted = c === 0xa7; return true;
      case 0xae: case 0xaf: this.displayOn = c === 0xaf; return true;
      case 0xa8: case 0xd3: case 0xd5: case 0xd9: case 0xda: case 0xdb: case 0x2e: case 0xe3: return true;
      default: return false;
    }
  }
}

/**
 * MAX17048 register model: 16-bit registers, MSB first on the wire, a register pointer set by
 * the first byte of a write. Tests set the cell's voltage and charge; the model encodes them as
 * the chip would (VCELL 78.125 µV/LSB, SOC 1/256 %/LSB).
 */
import { I2cSimDevice } from './i2c-sim';
import { REG } from '../../hal/drivers/max17048';

const WRITABLE = new Set<number>([REG.MODE, REG.HIBRT, REG.CONFIG, REG.VALRT, REG.VRESET_ID, REG.STATUS, REG.CMD]);

export class Max17048Model implements I2cSimDevice {
  private readonly regs = new Map<number, number>([
    [REG.VERSION, 0x0012],
    [REG.CONFIG, 0x971c],
    [REG.VALRT, 0x00ff],
    [REG.VRESET_ID, 0x9600],
    [REG.STATUS, 0x0100],
  ]);
  private pointer = 0;
  /** Every MODE/CMD write, for tests. */
  readonly commands: Array<{ register: number; value: number }> = [];

  constructor(state: { voltageMv?: number; percent?: number } = {}) {
    this.setVoltageMv(state.voltageMv ?? 3900);
    this.setPercent(state.percent ?? 80);
  }

  setVoltageMv(mv: number): void {
    this.regs.set(REG.VCELL, Math.round((mv * 1000) / 78.125) & 0xffff);
  }

  setPercent(percent: number): void {
    this.regs.set(REG.SOC, Math.round(percent * 256) & 0xffff);
  }

  /** %/h, signed. */
  setChargeRate(pctPerHour: number): void {
    this.regs.set(REG.CRATE, Math.round(pctPerHour / 0.208) & 0xffff);
  }

  register(reg: number): number {
    return this.regs.get(reg) ?? 0;
  }

  write(data: Uint8Array): void {
    if (data.length === 0) return;
    this.pointer = data[0];
    for (let i = 1; i + 1 < data.length; i += 2) {
      const value = (data[i] << 8) | data[i + 1];
      if (WRITABLE.has(this.pointer)) {
        this.regs.set(this.pointer, value);
        if (this.pointer === REG.MODE || this.pointer === REG.CMD) this.commands.push({ register: this.pointer, value });
      }
      this.pointer += 2;
    }
  }

  read(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 2) {
      const v = this.register(this.pointer);
      out[i] = v >> 8;
      if (i + 1 < length) out[i + 1] = v & 0xff;
      this.pointer += 2;
    }
    return out;
  }
}

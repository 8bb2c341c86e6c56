/**
 * MAX17048 single-cell fuel gauge (I2C address 0x36). Its registers are 16-bit BIG-endian: the
 * MSB comes first on the wire, the opposite of an SMBus word, so every access goes through
 * readWordBE/writeWordBE. Scales from the datasheet: VCELL 78.125 µV/LSB, SOC 1/256 %/LSB,
 * CRATE 0.208 %/h per LSB (signed).
 */
import { I2cBus, readWordBE, writeWordBE } from '../i2c';
import { PosError } from '../../common/errors';

export const MAX17048_ADDRESS = 0x36;

export const REG = {
  VCELL: 0x02,
  SOC: 0x04,
  MODE: 0x06,
  VERSION: 0x08,
  HIBRT: 0x0a,
  CONFIG: 0x0c,
  VALRT: 0x14,
  CRATE: 0x16,
  VRESET_ID: 0x18,
  STATUS: 0x1a,
  CMD: 0xfe,
} as const;

/** MODE bit 14: restart the SOC estimate from the present voltage. */
const MODE_QUICK_START = 0x4000;

export class Max17048 {
  constructor(private readonly bus: I2cBus, private readonly address = MAX17048_ADDRESS, private readonly name = 'battery0') {}

  /** Health check with a real transfer: VERSION reads 0x001X on a MAX17048/9. */
  async check(): Promise<number> {
    const version = await readWordBE(this.bus, this.address, REG.VERSION);
    if ((version & 0xfff0) !== 0x0010) {
      throw new PosError('BRD_DEVICE_ABSENT', `${this.name}: VERSION 0x${version.toString(16)} is not a MAX17048`, { role: this.name, version });
    }
    return version;
  }

  async voltageMv(): Promise<number> {
    const raw = await readWordBE(this.bus, this.address, REG.VCELL);
    return Math.round((raw * 78.125) / 1000);
  }

  /** State of charge, one decimal. The chip may report slightly above 100 %: clamped. */
  async percent(): Promise<number> {
    const raw = await readWordBE(this.bus, this.address, REG.SOC);
    return Math.min(100, Math.round((raw / 256) * 10) / 10);
  }

  /** Charge (+) or discharge (-) rate, %/hour. */
  async chargeRatePctPerHour(): Promise<number> {
    const raw = await readWordBE(this.bus, this.address, REG.CRATE);
    const signed = raw >= 0x8000 ? raw - 0x10000 : raw;
    return Math.round(signed * 0.208 * 10) / 10;
  }

  /** Restarts the estimate (after a battery swap, when the first estimate is known wrong). */
  async quickStart(): Promise<void> {
    await writeWordBE(this.bus, this.address, REG.MODE, MODE_QUICK_START);
  }
}

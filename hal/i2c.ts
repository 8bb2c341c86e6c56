/**
 * I2C bus interface: what drivers need from one adapter (cf. embedded-hal's `I2c` trait plus the
 * SMBus calls the parts on our boards use). Two implementations: `i2c-linux.ts` (i2c-bus over
 * /dev/i2c-N) and `sim/chips/i2c-sim.ts` (chip models at addresses).
 *
 * Errors, for every method:
 * - PosError BRD_DEVICE_ABSENT (kind device-absent): the address or a data byte was NAKed
 *   (Linux ENXIO/EREMOTEIO; the kernel does not say which byte). Detail: bus, address.
 * - PosError BRD_BUS (kind bus-fault): any other failure (EIO, arbitration lost, timeout after
 *   `transferTimeoutMsMax`, bus closed).
 * Nothing is retried here: a retry policy belongs to the driver that knows whether its
 * transfer is idempotent.
 *
 * Byte order: SMBus words are little-endian on the wire (low byte first). `readWord`/`writeWord`
 * keep that meaning; a big-endian register file (MAX17048) uses `readWordBE`/`writeWordBE`.
 */
import { PosError } from '../common/errors';

export interface I2cBus {
  /** "i2c-1", or "sim-i2c-1"; used in error details. */
  readonly name: string;

  /** One write transaction: START addr+W bytes... STOP. `data.length` ≤ I2C_TRANSFER_BYTES_MAX. */
  i2cWrite(address: number, data: Uint8Array): Promise<void>;
  /** One read transaction: START addr+R, `length` bytes, STOP. */
  i2cRead(address: number, length: number): Promise<Buffer>;

  /** SMBus read byte data: write `command`, repeated START, read one byte. */
  readByte(address: number, command: number): Promise<number>;
  /** SMBus write byte data. */
  writeByte(address: number, command: number, value: number): Promise<void>;
  /** SMBus read word data: low byte first on the wire. */
  readWord(address: number, command: number): Promise<number>;
  /** SMBus write word data: low byte first on the wire. */
  writeWord(address: number, command: number, value: number): Promise<void>;

  /**
   * Health check with a real transfer (i2c-bus opens lazily, so opening proves nothing):
   * resolves true if a device ACKs `address`, false if nothing answers; rejects with BRD_BUS
   * if the adapter itself fails.
   */
  probe(address: number): Promise<boolean>;

  /** Releases the adapter. Idempotent; later calls reject with BRD_BUS. */
  close(): Promise<void>;
}

/** Largest single transfer we issue; Linux i2c-dev refuses more than 8192 bytes per message. */
export const I2C_TRANSFER_BYTES_MAX = 8192;
/** Data bytes after the command byte of one SMBus I2C-block write (the kernel's I2C_SMBUS_BLOCK_MAX). */
export const SMBUS_BLOCK_DATA_BYTES_MAX = 32;

/** 7-bit addresses outside the reserved ranges (0x00-0x07, 0x78-0x7F). */
export function checkAddress(bus: string, address: number): void {
  if (!Number.isInteger(address) || address < 0x08 || address > 0x77) {
    throw new PosError('BRD_BUS', `${bus}: address ${address} is not a 7-bit device address`, { bus, address });
  }
}

export function hex(address: number): string {
  return `0x${address.toString(16).padStart(2, '0')}`;
}

export function nakError(bus: string, address: number, detail: Record<string, unknown> = {}, cause?: unknown): PosError {
  return new PosError('BRD_DEVICE_ABSENT', `${bus}: no ACK from ${hex(address)}`, { bus, address, ...detail }, { cause });
}

export function busError(bus: string, address: number, what: string, cause?: unknown): PosError {
  return new PosError('BRD_BUS', `${bus}: ${what} at ${hex(address)}`, { bus, address }, { cause });
}

function swap16(word: number): number {
  return ((word & 0xff) << 8) | ((word >> 8) & 0xff);
}

/** Reads a big-endian 16-bit register (MSB first on the wire) through SMBus read word. */
export async function readWordBE(bus: I2cBus, address: number, register: number): Promise<number> {
  return swap16(await bus.readWord(address, register));
}

/** Writes a big-endian 16-bit register (MSB first on the wire) through SMBus write word. */
export async function writeWordBE(bus: I2cBus, address: number, register: number, value: number): Promise<void> {
  await bus.writeWord(address, register, swap16(value & 0xffff));
}

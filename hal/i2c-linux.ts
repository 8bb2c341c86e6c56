/**
 * I2C over Linux i2c-dev, through `i2c-bus` (promisified API). Errors are mapped per the
 * contract in i2c.ts: ENXIO/EREMOTEIO (NAK) → BRD_DEVICE_ABSENT; anything else → BRD_BUS.
 *
 * `i2c-bus` opens lazily: `openPromisified(1)` succeeds even without /dev/i2c-1 and the first
 * transfer fails. Call `probe()` on each device's address at boot to find out for real.
 *
 * SMBus-only adapters (board file `"i2cBuses": { "N": { "smbusOnly": true } }`: PC SMBus
 * controllers, the kernel's i2c-stub) refuse plain I2C messages. On such a bus a plain write goes
 * out as the SMBus transfer with the same bytes on the wire: one byte as "send byte", 2..33 bytes
 * as an "I2C block write" (the first byte as its command, at most 32 data bytes after it); a
 * one-byte read as "receive byte". Anything longer cannot be sent and is a bus fault before any
 * transfer, so a driver's chunk size must fit (the board schema checks the display drivers').
 */
import * as i2c from 'i2c-bus';
import { PosError } from '../common/errors';
import { starvableTimers, runningTimeout } from './drivers/timing';
import { I2cBus, I2C_TRANSFER_BYTES_MAX, SMBUS_BLOCK_DATA_BYTES_MAX, busError, checkAddress, nakError } from './i2c';

/** A transfer that has not finished by then is reported as a bus fault (stuck SDA, clock stretching gone wrong). */
export const TRANSFER_TIMEOUT_MS_MAX = 1000;
/** The longest plain write an SMBus-only bus can send: a command byte and a full block. */
export const SMBUS_WRITE_BYTES_MAX = SMBUS_BLOCK_DATA_BYTES_MAX + 1;

export interface LinuxI2cOptions {
  readonly timeoutMs?: number;
  /** The adapter does SMBus transfers only: plain writes and reads are mapped (see the file comment). */
  readonly smbusOnly?: boolean;
}

/** What this backend uses of an open i2c-bus handle (tests pass a recording fake). */
export type I2cBusHandle = Pick<i2c.PromisifiedBus,
  'i2cWrite' | 'i2cRead' | 'readByte' | 'writeByte' | 'readWord' | 'writeWord' | 'receiveByte' | 'sendByte' | 'writeQuick' | 'writeI2cBlock' | 'close'>;

const NAK_CODES = new Set(['ENXIO', 'EREMOTEIO']);

export class LinuxI2cBus implements I2cBus {
  private closed = false;
  /**
   * The last transfer handed to i2c-bus, settled or not. Transfers run one after another: a
   * transfer reported as timed out has NOT stopped (i2c-bus runs it on libuv's thread pool and
   * cannot cancel it), so without this the next one could reach the kernel before it: a display's
   * next window command overtaken by the late data write of the frame before, drawing it in the
   * wrong place. A caller's timeout counts from its call, so its wait behind a stuck transfer
   * counts too: a stuck bus fails every transfer after it, as it should.
   */
  private tail: Promise<unknown> = Promise.resolve();

  private readonly timeoutMs: number;
  private readonly smbusOnly: boolean;

  private constructor(readonly name: string, private readonly bus: I2cBusHandle, options: LinuxI2cOptions) {
    this.timeoutMs = Math.min(options.timeoutMs ?? TRANSFER_TIMEOUT_MS_MAX, TRANSFER_TIMEOUT_MS_MAX);
    this.smbusOnly = options.smbusOnly === true;
  }

  /** Opens /dev/i2c-`busNumber` (lazily, see above). */
  static async open(busNumber: number, options: LinuxI2cOptions = {}): Promise<LinuxI2cBus> {
    return new LinuxI2cBus(`i2c-${busNumber}`, await i2c.openPromisified(busNumber), options);
  }

  /** Over an i2c-bus handle that is already open (tests: a fake that records the transfers). */
  static over(name: string, bus: I2cBusHandle, options: LinuxI2cOptions = {}): LinuxI2cBus {
    return new LinuxI2cBus(name, bus, options);
  }

  async i2cWrite(address: number, data: Uint8Array): Promise<void> {
    if (data.length > I2C_TRANSFER_BYTES_MAX) throw busError(this.name, address, `write of ${data.length} bytes`);
    const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
    if (this.smbusOnly) return this.smbusWrite(address, buf);
    await this.run(address, 'i2cWrite', () => this.bus.i2cWrite(address, buf.length, buf));
  }

  /** A plain write on an SMBus-only adapter: the SMBus transfer that puts the same bytes on the wire. */
  private async smbusWrite(address: number, buf: Buffer): Promise<void> {
    if (buf.length === 1) return this.run(address, 'sendByte', () => this.bus.sendByte(address, buf[0]));
    if (buf.length === 0 || buf.length > SMBUS_WRITE_BYTES_MAX) {
      throw busError(this.name, address, `write of ${buf.length} bytes on an SMBus-only bus (1..${SMBUS_WRITE_BYTES_MAX} bytes: a command byte and at most ${SMBUS_BLOCK_DATA_BYTES_MAX} data bytes; lower the device's writeChunkBytesMax)`);
    }
    const block = buf.subarray(1);
    await this.run(address, 'writeI2cBlock', () => this.bus.writeI2cBlock(address, buf[0], block.length, block));
  }

  async i2cRead(address: number, length: number): Promise<Buffer> {
    if (this.smbusOnly) {
      if (length !== 1) throw busError(this.name, address, `read of ${length} bytes on an SMBus-only bus (a plain read is 1 byte there: receive byte)`);
      return Buffer.of(await this.run(address, 'receiveByte', () => this.bus.receiveByte(address)));
    }
    const buf = Buffer.alloc(length);
    const r = await this.run(address, 'i2cRead', () => this.bus.i2cRead(address, length, buf));
    if (r.bytesRead !== length) throw busError(this.name, address, `short read ${r.bytesRead}/${length}`);
    return buf;
  }

  readByte(address: number, command: number): Promise<number> {
    return this.run(address, 'readByte', () => this.bus.readByte(address, command));
  }

  writeByte(address: number, command: number, value: number): Promise<void> {
    return this.run(address, 'writeByte', () => this.bus.writeByte(address, command, value));
  }

  readWord(address: number, command: number): Promise<number> {
    return this.run(address, 'readWord', () => this.bus.readWord(address, command));
  }

  writeWord(address: number, command: number, value: number): Promise<void> {
    return this.run(address, 'writeWord', () => this.bus.writeWord(address, command, value));
  }

  /**
   * i2cdetect's method for one address: SMBus receive byte in 0x30-0x37 and 0x50-0x5F (where a
   * quick write can corrupt EEPROMs), quick write elsewhere. Not i2c-bus's `scan()`: it swallows
   * every error, so a missing /dev/i2c-N would look like "no device" instead of a bus fault.
   */
  async probe(address: number): Promise<boolean> {
    const readRange = (address >= 0x30 && address <= 0x37) || (address >= 0x50 && address <= 0x5f);
    try {
      if (readRange) await this.run(address, 'probe', () => this.bus.receiveByte(address));
      else await this.run(address, 'probe', () => this.bus.writeQuick(address, 0, 0));
      return true;
    } catch (e) {
      if (e instanceof PosError && e.kind === 'device-absent') return false;
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.bus.close();
  }

  private async run<T>(address: number, op: string, transfer: () => Promise<T>): Promise<T> {
    checkAddress(this.name, address);
    if (this.closed) throw busError(this.name, address, `${op} after close`);
    // Counted while the process runs (drivers/timing.ts runningTimeout): a transfer that finished
    // while the process was starved is read before its timeout can fire.
    let cancel = (): void => undefined;
    const timeout = new Promise<never>((_, reject) => {
      cancel = runningTimeout(starvableTimers, () => reject(busError(this.name, address, `${op} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const done = this.tail.then(transfer);
    this.tail = done.catch(() => undefined);
    try {
      return await Promise.race([done, timeout]);
    } catch (e) {
      throw this.mapError(address, op, e);
    } finally {
      cancel();
    }
  }

  private mapError(address: number, op: string, e: unknown): Error {
    if (e instanceof PosError) return e;
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code && NAK_CODES.has(code)) return nakError(this.name, address, { op, errno: code }, e);
    return busError(this.name, address, `${op} failed (${code ?? String(e)})`, e);
  }
}

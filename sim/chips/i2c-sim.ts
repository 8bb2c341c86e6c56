/**
 * Simulated I2C adapter: chip models attach at 7-bit addresses and see exactly the bytes a real
 * device would see on the wire (SMBus calls are decomposed into their write/read phases, words
 * low byte first). Implements the same `I2cBus` interface as the Linux backend, with the same
 * error mapping, so drivers cannot tell the difference.
 *
 * Fault injection (each applies to the next transfers, in order):
 * - `setAbsent(addr, true)`: the address is not ACKed (unplugged part) → BRD_DEVICE_ABSENT;
 * - `injectNak(addr, {count, afterBytes})`: the device ACKs its address, takes `afterBytes` data
 *   bytes, then NAKs (busy or confused part) → BRD_DEVICE_ABSENT, like Linux's EREMOTEIO;
 * - `injectBusError(count)`: the adapter fails (EIO, arbitration lost) → BRD_BUS.
 *
 * Wire time is estimated at `clockHz` (9 bit times per byte incl. ACK, plus START/STOP) so that
 * benchmarks can report what a refresh costs on a real 100/400 kHz bus.
 */
import { I2cBus, I2C_TRANSFER_BYTES_MAX, busError, checkAddress, hex, nakError } from '../../hal/i2c';

/** What a chip model implements: one call per transaction phase. Throw `SimNak` to NAK. */
export interface I2cSimDevice {
  /** Bytes written after addr+W. `repeatedStart` is true when a read phase follows (SMBus read). */
  write(data: Uint8Array, repeatedStart: boolean): void;
  /** Bytes the device returns after addr+R. */
  read(length: number): Uint8Array;
}

/** A model throws this to NAK a byte (e.g. a write to a read-only register). */
export class SimNak extends Error {
  constructor(readonly byteIndex: number, message = 'NAK') {
    super(message);
  }
}

export interface I2cTransferRecord {
  readonly address: number;
  readonly op: 'write' | 'read';
  readonly bytes: number;
}

interface PendingNak {
  count: number;
  afterBytes: number;
}

/** Transfer records kept for inspection (oldest dropped first). */
export const TRANSFER_LOG_MAX = 4096;

export class SimI2cBus implements I2cBus {
  private readonly devices = new Map<number, I2cSimDevice>();
  private readonly absent = new Set<number>();
  private readonly naks = new Map<number, PendingNak>();
  private busErrors = 0;
  private closed = false;
  readonly log: I2cTransferRecord[] = [];
  /** Counters since creation or `resetStats()`. */
  stats = { transactions: 0, bytesWritten: 0, bytesRead: 0, wireTimeUs: 0 };

  constructor(readonly name = 'sim-i2c-1', readonly clockHz = 400_000) {}

  attach(address: number, device: I2cSimDevice): void {
    checkAddress(this.name, address);
    if (this.devices.has(address)) throw busError(this.name, address, 'two devices at one address');
    this.devices.set(address, device);
  }

  setAbsent(address: number, absent: boolean): void {
    if (absent) this.absent.add(address);
    else this.absent.delete(address);
  }

  injectNak(address: number, options: { count?: number; afterBytes?: number } = {}): void {
    this.naks.set(address, { count: options.count ?? 1, afterBytes: options.afterBytes ?? 0 });
  }

  injectBusError(count = 1): void {
    this.busErrors += count;
  }

  resetStats(): void {
    this.stats = { transactions: 0, bytesWritten: 0, bytesRead: 0, wireTimeUs: 0 };
    this.log.length = 0;
  }

  async i2cWrite(address: number, data: Uint8Array): Promise<void> {
    this.transferWrite(address, data, false);
  }

  async i2cRead(address: number, length: number): Promise<Buffer> {
    return this.transferRead(address, length);
  }

  async readByte(address: number, command: number): Promise<number> {
    this.transferWrite(address, Uint8Array.of(command), true);
    return this.transferRead(address, 1)[0];
  }

  async writeByte(address: number, command: number, value: number): Promise<void> {
    this.transferWrite(address, Uint8Array.of(command, value & 0xff), false);
  }

  async readWord(address: number, command: number): Promise<number> {
    this.transferWrite(address, Uint8Array.of(command), true);
    const b = this.transferRead(address, 2);
    return b[0] | (b[1] << 8); // SMBus: low byte first
  }

  async writeWord(address: number, command: number, value: number): Promise<void> {
    this.transferWrite(address, Uint8Array.of(command, value & 0xff, (value >> 8) & 0xff), false);
  }

  async probe(address: number): Promise<boolean> {
    this.begin(address);
    this.account(address, 'write', 0);
    return this.devices.has(address) && !this.absent.has(address);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private begin(address: number): void {
    checkAddress(this.name, address);
    if (this.closed) throw busError(this.name, address, 'bus closed');
    if (this.busErrors > 0) {
      this.busErrors -= 1;
      throw busError(this.name, address, 'transfer failed (injected bus error)');
    }
  }

  private device(address: number): I2cSimDevice {
    const device = this.devices.get(address);
    if (!device || this.absent.has(address)) {
      this.account(address, 'write', 0);
      throw nakError(this.name, address, { nak: 'address' });
    }
    return device;
  }

  private transferWrite(address: number, data: Uint8Array, repeatedStart: boolean): void {
    this.begin(address);
    if (data.length > I2C_TRANSFER_BYTES_MAX) throw busError(this.name, address, `write of ${data.length} bytes`);
    const device = this.device(address);
    const nak = this.takeNak(address);
    const accepted = nak ? data.subarray(0, nak.afterBytes) : data;
    this.account(address, 'write', accepted.length);
    try {
      if (accepted.length > 0 || !nak) device.write(accepted, repeatedStart);
    } catch (e) {
      if (e instanceof SimNak) throw nakError(this.name, address, { nak: 'data', byteIndex: e.byteIndex }, e);
      throw e;
    }
    if (nak) throw nakError(this.name, address, { nak: 'data', byteIndex: nak.afterBytes });
  }

  private transferRead(address: number, length: number): Buffer {
    this.begin(address);
    const device = this.device(address);
    if (this.takeNak(address)) throw nakError(this.name, address, { nak: 'data' });
    const data = Buffer.from(device.read(length));
    if (data.length !== length) throw busError(this.name, address, `model returned ${data.length}/${length} bytes`);
    this.account(address, 'read', length);
    return data;
  }

  private takeNak(address: number): PendingNak | undefined {
    const nak = this.naks.get(address);
    if (!nak) return undefined;
    nak.count -= 1;
    if (nak.count <= 0) this.naks.delete(address);
    return nak;
  }

  private account(address: number, op: 'write' | 'read', bytes: number): void {
    this.stats.transactions += 1;
    if (op === 'write') this.stats.bytesWritten += bytes;
    else this.stats.bytesRead += bytes;
    // START + address byte + data bytes (9 bit times each with ACK) + STOP.
    this.stats.wireTimeUs += ((1 + bytes) * 9 + 2) * (1e6 / this.clockHz);
    this.log.push({ address, op, bytes });
    if (this.log.length > TRANSFER_LOG_MAX) this.log.shift();
  }

  toString(): string {
    return `${this.name} [${[...this.devices.keys()].map(hex).join(' ')}]`;
  }
}

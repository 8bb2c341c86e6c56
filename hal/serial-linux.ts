/**
 * Serial port backend over the `serialport` package (13.x): a real tty such as /dev/ttyS2, a USB
 * serial adapter, or a pseudo-terminal made by socat. `StreamSerialPort` adapts any
 * `SerialPortStream` (so tests can also drive it with @serialport/binding-mock).
 *
 * Modem-control ioctls (set/get of RTS, DTR, CTS) fail on a pty, so this backend never calls
 * them; `hupcl: false` keeps close from touching DTR for the same reason.
 */
import { SerialPort as NodeSerialPort } from 'serialport';
import type { SerialPortStream } from '@serialport/stream';
import { PosError } from '../common/errors';
import { Listeners, SerialPort, Unsubscribe, serialBusError } from './serial';

export interface LinuxSerialOptions {
  readonly path: string;
  readonly baudRate: number;
  /** Time allowed for open/drain/flush ioctls before the port is declared lost (ms). */
  readonly ioctlTimeoutMsMax?: number;
}

const IOCTL_TIMEOUT_MS_MAX_DEFAULT = 2000;

/** Creates (does not open) a port on a tty path. The board config decides the path. */
export function createLinuxSerialPort(options: LinuxSerialOptions): StreamSerialPort {
  const stream = new NodeSerialPort({ path: options.path, baudRate: options.baudRate, autoOpen: false, hupcl: false });
  return new StreamSerialPort(stream, options.ioctlTimeoutMsMax ?? IOCTL_TIMEOUT_MS_MAX_DEFAULT);
}

export class StreamSerialPort implements SerialPort {
  private readonly dataListeners = new Listeners<[Buffer]>();
  private readonly closeListeners = new Listeners<[PosError | undefined]>();
  private lostError?: PosError;
  private closed = false;

  constructor(private readonly stream: SerialPortStream, private readonly ioctlTimeoutMsMax = IOCTL_TIMEOUT_MS_MAX_DEFAULT) {
    stream.on('data', (chunk: Buffer) => this.dataListeners.emit(chunk));
    // 'close' carries a DisconnectedError when the device went away (read/write error).
    stream.on('close', (error?: Error | null) => this.onStreamClose(error ?? undefined));
    // Errors are also reported through callbacks/close; this listener keeps them from crashing.
    stream.on('error', (error: Error) => { if (!this.closed && !this.isOpen) this.markLost('error', error); });
  }

  get path(): string {
    return this.stream.path;
  }

  get isOpen(): boolean {
    return this.stream.isOpen && !this.lostError && !this.closed;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.open((error) => {
        if (!error) { resolve(); return; }
        reject(new PosError('BRD_DEVICE_ABSENT', `cannot open ${this.path}: ${error.message}`, { path: this.path }, { cause: error }));
      });
    });
  }

  write(data: Uint8Array): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      this.stream.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (error) => {
        if (error) reject(this.lostError ?? serialBusError(this.path, 'write failed', error));
        else resolve();
      });
    });
  }

  drain(): Promise<void> {
    return this.ioctl('drain', (cb) => this.stream.drain(cb));
  }

  flush(): Promise<void> {
    return this.ioctl('flush', (cb) => this.stream.flush(cb));
  }

  check(): Promise<void> {
    return this.drain();
  }

  onData(listener: (chunk: Buffer) => void): Unsubscribe {
    return this.dataListeners.add(listener);
  }

  onClose(listener: (error?: PosError) => void): Unsubscribe {
    return this.closeListeners.add(listener);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (!this.stream.isOpen) { this.closeListeners.emit(undefined); return Promise.resolve(); }
    return new Promise((resolve) => {
      // A close error (device already gone) leaves the port closed all the same.
      this.stream.close(() => resolve());
    });
  }

  private refusal(): PosError | undefined {
    if (this.lostError) return this.lostError;
    if (this.closed) return serialBusError(this.path, 'closed');
    if (!this.stream.isOpen) return serialBusError(this.path, 'not open');
    return undefined;
  }

  private onStreamClose(error?: Error): void {
    if (this.closed || !error) {
      this.closed = true;
      this.closeListeners.emit(undefined);
      return;
    }
    this.markLost('disconnected', error);
  }

  private markLost(reason: string, cause: unknown): void {
    if (this.lostError) return;
    this.lostError = serialBusError(this.path, reason, cause);
    this.closeListeners.emit(this.lostError);
  }

  /** Runs a callback-style ioctl with a time limit: a wedged tty must not hang a driver. */
  private ioctl(name: string, run: (cb: (error: Error | null) => void) => void): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(serialBusError(this.path, `${name} timed out after ${this.ioctlTimeoutMsMax} ms`)), this.ioctlTimeoutMsMax);
      run((error) => {
        clearTimeout(timer);
        if (error) reject(this.lostError ?? serialBusError(this.path, `${name} failed`, error));
        else resolve();
      });
    });
  }
}

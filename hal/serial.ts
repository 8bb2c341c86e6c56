/**
 * The project's serial port: the bus a printer or card reader driver receives (DESIGN.md rule 2).
 *
 * Kept as small as serialport's own binding interface. Backends:
 *   - hal/serial-linux.ts: a real tty (or a socat pseudo-terminal) through the `serialport` package;
 *   - sim/serial-pair.ts: an in-memory wire with two ends, for fast in-process tests.
 *
 * Contract shared by every backend:
 *   - Reads are events: `onData` listeners get every byte in order, as chunks of any size. A driver
 *     frames the bytes itself; the port never interprets them.
 *   - `write` resolves once the bytes are handed to the OS (or the wire); `drain` resolves once every
 *     byte written so far has left the port. A driver that needs flow control writes in chunks of at
 *     most `SERIAL_WRITE_CHUNK_BYTES_MAX` and awaits each write.
 *   - When the device disappears (USB unplugged, pty closed, wire cut) the port closes by itself:
 *     `onClose` listeners get a PosError BRD_BUS (kind 'bus-fault', detail.path), writes in flight
 *     and every later call reject with that same error. A deliberate `close()` calls `onClose`
 *     listeners with no error.
 *   - `close()` is idempotent; calls after it reject with BRD_BUS (detail.reason 'closed').
 *   - No modem-control lines (RTS/DTR/CTS): a pseudo-terminal rejects those ioctls, and the
 *     printers and readers we drive use software flow control (status queries), not hardware.
 */
import { PosError } from '../common/errors';

/** Largest chunk a driver should pass to one `write` (bytes): keeps a cancel or a fault prompt. */
export const SERIAL_WRITE_CHUNK_BYTES_MAX = 1024;

export type Unsubscribe = () => void;

export interface SerialPort {
  /** Where the port is, for logs and error details (e.g. "/dev/ttyS2", "pair:printer0/host"). */
  readonly path: string;
  readonly isOpen: boolean;

  /** Opens the port. Rejects with BRD_DEVICE_ABSENT (kind 'device-absent') if it cannot be opened. */
  open(): Promise<void>;

  /**
   * Queues bytes for sending; resolves when the backend has accepted them (not when they left:
   * see `drain`). Rejects with BRD_BUS if the port is closed or lost meanwhile.
   */
  write(data: Uint8Array): Promise<void>;

  /** Resolves when every byte written so far has been transmitted. Rejects with BRD_BUS if lost. */
  drain(): Promise<void>;

  /** Discards received-but-unread and written-but-unsent bytes. Rejects with BRD_BUS if lost. */
  flush(): Promise<void>;

  /**
   * A health check of the port itself: it is open and an output drain completes (a real ioctl
   * on a tty). The DEVICE behind it is checked by its driver's `selfTest`, or by `transact` below.
   */
  check(): Promise<void>;

  /** Subscribes to received bytes. The returned function unsubscribes. */
  onData(listener: (chunk: Buffer) => void): Unsubscribe;

  /** Subscribes to the port closing: `error` is set when the device disappeared. */
  onClose(listener: (error?: PosError) => void): Unsubscribe;

  /** Closes the port; pending writes reject. Idempotent. */
  close(): Promise<void>;
}

/** Builds the error every backend raises when its port is lost or used after close. */
export function serialBusError(path: string, reason: string, cause?: unknown): PosError {
  return new PosError('BRD_BUS', `serial port ${path}: ${reason}`, { path, reason }, { cause });
}

export interface TransactOptions {
  /** Bytes expected in the answer; the promise resolves when that many have arrived. */
  responseBytes: number;
  timeoutMsMax: number;
}

/**
 * One request/answer exchange on a port that has no driver attached yet (board self-test, a
 * factory station probing what is connected). Rejects with BRD_DEVICE_ABSENT on timeout and
 * BRD_BUS if the port is lost. Never use it on a port a driver owns: the driver would see the
 * answer bytes too.
 */
export function transact(port: SerialPort, request: Uint8Array, options: TransactOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (error?: PosError, answer?: Buffer): void => {
      clearTimeout(timer);
      offData();
      offClose();
      if (error) reject(error);
      else resolve(answer as Buffer);
    };
    const offData = port.onData((chunk) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= options.responseBytes) finish(undefined, Buffer.concat(chunks).subarray(0, options.responseBytes));
    });
    const offClose = port.onClose((error) => finish(error ?? serialBusError(port.path, 'closed during transact')));
    const timer = setTimeout(() => finish(new PosError('BRD_DEVICE_ABSENT',
      `no answer on ${port.path} within ${options.timeoutMsMax} ms`,
      { path: port.path, receivedBytes: received, timeoutMsMax: options.timeoutMsMax })), options.timeoutMsMax);
    port.write(request).catch((error: unknown) => finish(error instanceof PosError ? error : serialBusError(port.path, 'write failed', error)));
  });
}

/**
 * A small listener set used by backends and drivers; a throwing listener is isolated so one
 * faulty subscriber cannot break delivery to the others (its error is passed to `onListenerError`).
 */
export class Listeners<T extends unknown[]> {
  private readonly set = new Set<(...args: T) => void>();

  constructor(private readonly onListenerError: (error: unknown) => void = () => undefined) {}

  add(listener: (...args: T) => void): Unsubscribe {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(...args: T): void {
    for (const listener of [...this.set]) {
      try {
        listener(...args);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  clear(): void {
    this.set.clear();
  }
}

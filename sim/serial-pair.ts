/**
 * An in-memory serial cable with two ends, each a `SerialPort` (hal/serial.ts): the driver gets
 * one end, a simulator (virtual printer, virtual card reader) the other. Bytes cross the wire in
 * order, asynchronously (one `setImmediate` hop per chunk, or paced at `bytesPerSecond`), so
 * drivers meet the same interleavings as on a real tty.
 *
 * Faults: `disconnect()` is the cable pulled or the device's power lost: both ends close with
 * BRD_BUS, writes and drains in flight reject. Closing one end deliberately does not tell the
 * other (a tty does not either); bytes sent to a closed end are dropped.
 */
import { Listeners, SerialPort, Unsubscribe, serialBusError } from '../hal/serial';
import { PosError } from '../common/errors';

export interface SerialPairOptions {
  /** Names the pair in paths: "pair:<label>/host" and "pair:<label>/device". */
  readonly label?: string;
  /** Simulated line speed (bytes per second; 115200 baud 8N1 is 11520). Absent: unpaced. */
  readonly bytesPerSecond?: number;
  /** Largest chunk delivered in one hop when paced (bytes). */
  readonly hopBytesMax?: number;
  /**
   * Schedules each hop of the wire: `delayMs` 0 is "next turn of the event loop" (default:
   * setImmediate), more is the pacing delay (default: setTimeout). The day simulation passes its
   * own, which counts the hops in flight so virtual time waits while bytes cross the wire.
   */
  readonly schedule?: Schedule;
}

export type Schedule = (fn: () => void, delayMs: number) => void;

const defaultSchedule: Schedule = (fn, delayMs) => {
  if (delayMs > 0) setTimeout(fn, delayMs);
  else setImmediate(fn);
};

const HOP_BYTES_MAX_DEFAULT = 256;

/** One direction of the wire: a FIFO of chunks and a pump that delivers them. */
class Lane {
  private readonly queue: Buffer[] = [];
  private pumping = false;
  private drainWaiters: Array<{ resolve: () => void; reject: (e: PosError) => void }> = [];
  bytesCarried = 0;

  constructor(private readonly deliver: (chunk: Buffer) => void, private readonly bytesPerSecond: number | undefined,
    private readonly hopBytesMax: number, private readonly schedule: Schedule = defaultSchedule) {}

  push(chunk: Buffer): void {
    this.queue.push(chunk);
    if (!this.pumping) { this.pumping = true; this.schedule(() => this.pump(), 0); }
  }

  waitDrained(): Promise<void> {
    if (!this.pumping && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  discard(): void {
    this.queue.length = 0;
  }

  fail(error: PosError): void {
    this.queue.length = 0;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.reject(error);
  }

  private pump(): void {
    const head = this.queue.shift();
    if (!head) { this.finishDrain(); return; }
    const hop = this.bytesPerSecond ? head.subarray(0, this.hopBytesMax) : head;
    if (hop.length < head.length) this.queue.unshift(head.subarray(hop.length));
    this.bytesCarried += hop.length;
    this.deliver(hop);
    if (this.bytesPerSecond) this.schedule(() => this.pump(), (hop.length * 1000) / this.bytesPerSecond);
    else this.schedule(() => this.pump(), 0);
  }

  private finishDrain(): void {
    this.pumping = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  }
}

export class PairEnd implements SerialPort {
  private readonly dataListeners = new Listeners<[Buffer]>();
  private readonly closeListeners = new Listeners<[PosError | undefined]>();
  private opened = false;
  private closed = false;
  private lostError?: PosError;
  /** Set by the pair: the lane carrying this end's writes to the other end. */
  outgoing!: Lane;

  constructor(readonly path: string) {}

  get isOpen(): boolean {
    return this.opened && !this.closed && !this.lostError;
  }

  /** Bytes this end has written that reached the other end. */
  get bytesSent(): number {
    return this.outgoing.bytesCarried;
  }

  open(): Promise<void> {
    if (this.lostError) return Promise.reject(this.lostError);
    this.opened = true;
    this.closed = false;
    return Promise.resolve();
  }

  write(data: Uint8Array): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    // Copy: the caller may reuse its buffer once write resolves.
    this.outgoing.push(Buffer.from(data));
    return Promise.resolve();
  }

  drain(): Promise<void> {
    const refused = this.refusal();
    return refused ? Promise.reject(refused) : this.outgoing.waitDrained();
  }

  flush(): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    this.outgoing.discard();
    return Promise.resolve();
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
    if (this.closed || this.lostError) { this.closed = true; return Promise.resolve(); }
    this.closed = true;
    this.outgoing.fail(serialBusError(this.path, 'closed'));
    this.closeListeners.emit(undefined);
    return Promise.resolve();
  }

  /** Called by the lane: bytes arriving from the other end. */
  receive(chunk: Buffer): void {
    if (this.isOpen) this.dataListeners.emit(chunk);
  }

  /** Called by the pair when the cable is pulled. */
  lose(reason: string): void {
    if (this.lostError || this.closed) return;
    this.lostError = serialBusError(this.path, reason);
    this.outgoing.fail(this.lostError);
    this.closeListeners.emit(this.lostError);
  }

  private refusal(): PosError | undefined {
    if (this.lostError) return this.lostError;
    if (this.closed) return serialBusError(this.path, 'closed');
    if (!this.opened) return serialBusError(this.path, 'not open');
    return undefined;
  }
}

export interface SerialPair {
  /** The end a driver receives. */
  readonly host: PairEnd;
  /** The end a simulator (virtual device) listens on. */
  readonly device: PairEnd;
  /** The cable is pulled / the device lost power: both ends close with BRD_BUS. */
  disconnect(reason?: string): void;
}

/** Creates a cable; both ends start closed, like real ports: call `open()` on each. */
export function createSerialPair(options: SerialPairOptions = {}): SerialPair {
  const label = options.label ?? 'serial';
  const host = new PairEnd(`pair:${label}/host`);
  const device = new PairEnd(`pair:${label}/device`);
  const hop = options.hopBytesMax ?? HOP_BYTES_MAX_DEFAULT;
  host.outgoing = new Lane((chunk) => device.receive(chunk), options.bytesPerSecond, hop, options.schedule);
  device.outgoing = new Lane((chunk) => host.receive(chunk), options.bytesPerSecond, hop, options.schedule);
  return {
    host,
    device,
    disconnect(reason = 'device disconnected') {
      host.lose(reason);
      device.lose(reason);
    },
  };
}

/** Creates a cable and opens both ends. */
export async function openSerialPair(options: SerialPairOptions = {}): Promise<SerialPair> {
  const pair = createSerialPair(options);
  await pair.host.open();
  await pair.device.open();
  return pair;
}

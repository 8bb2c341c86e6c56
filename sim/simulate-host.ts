/**
 * The acquirer simulator in this process, behind the terminal's real HostTransport: sockets are
 * in-memory (SocketLike) and every byte moves at a virtual time, so response timeouts, delays
 * past them and dropped connections happen on the virtual clock and replay exactly.
 *
 * The fault handling mirrors AcquirerSimulator.serve (which needs TCP): the host does the work,
 * then a fault decides what the terminal receives. 'refuse' is added here: the network is down
 * and nothing reaches the host (the transport then reports requestSent: false).
 */
import { AcquirerSimulator } from './host/simulator';
import { SocketFactory, SocketLike } from '../runtime/host/transport';
import { Rng, VirtualClock } from './simulate-world';

/** One-way network latency on the simulated link (virtual ms). */
export const LINK_LATENCY_MS_MIN = 20;
export const LINK_LATENCY_MS_MAX = 400;
const GARBAGE_BYTES = 40;

// Listeners take the event's one argument (none, a Buffer or an Error): `never` lets each overload's listener in.
type Listener = (arg: never) => void;

export interface SimLinkHooks {
  /** A request left the terminal (an external effect, for the power-cut model). */
  onRequest(frame: Buffer): void;
  /** Network down for the next connection? */
  refuseNext(): boolean;
}

class SimSocket implements SocketLike {
  private readonly listeners = new Map<string, Listener[]>();
  private closed = false;

  constructor(private readonly link: SimLink) {
    if (link.hooks.refuseNext()) {
      link.later(() => { this.emit('error', Object.assign(new Error('connect ECONNREFUSED (simulated network down)'), { code: 'ECONNREFUSED' })); this.close(); });
    } else {
      link.later(() => this.emit('connect'));
    }
  }

  on(event: 'connect' | 'close' | 'end' | 'tcp-connect', listener: () => void): this;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: string, listener: Listener): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return this;
  }

  write(data: Buffer): boolean {
    if (this.closed) return false;
    const frame = Buffer.from(data);
    // The request has left the terminal: from here the host may act on it.
    this.link.hooks.onRequest(frame);
    this.link.inFlight.add(frame);
    this.link.later(() => this.serve(frame));
    return true;
  }

  destroy(): void {
    this.link.later(() => this.close());
  }

  private emit(event: string, arg?: unknown): void {
    if (this.closed) return;
    for (const l of this.listeners.get(event) ?? []) (l as (a: unknown) => void)(arg);
  }

  private close(): void {
    if (this.closed) return;
    this.emit('close');
    this.closed = true;
  }

  /** What AcquirerSimulator.serve does with a frame, on virtual time. */
  private serve(frame: Buffer): void {
    this.link.inFlight.delete(frame);
    if (this.closed) return;
    const handled = this.link.sim.handle(frame);
    if (handled === undefined) { this.close(); return; }
    const kinds = new Set(handled.faults.map((f) => f.kind));
    const delayMs = handled.faults.reduce((n, f) => n + (f.kind === 'delay' ? f.delayMs ?? 0 : 0), 0);
    this.link.later(() => {
      if (this.closed) return;
      if (kinds.has('close-before-response')) { this.close(); return; }
      let bytes = handled.bytes;
      if (kinds.has('bad-mac') && handled.hasMac) bytes = corruptMac(bytes);
      if (kinds.has('garbage')) bytes = this.link.garbageFrame();
      if (kinds.has('close-mid-response')) { this.emit('data', bytes.subarray(0, bytes.length >> 1)); this.close(); return; }
      this.emit('data', bytes);
      // Virtual time: a delayed answer reaches only a connection the terminal has not closed (above).
      if (bytes === handled.bytes) this.link.sim.markAnswerDelivered(handled.record);
      this.close(); // the profile's one-shot connections
    }, delayMs);
  }
}

export class SimLink {
  constructor(
    readonly sim: AcquirerSimulator,
    private readonly clock: VirtualClock,
    private readonly rng: Rng,
    readonly hooks: SimLinkHooks,
  ) {}

  readonly socketFactory: SocketFactory = () => new SimSocket(this);
  /** Requests written but not yet at the host. */
  readonly inFlight = new Set<Buffer>();

  /**
   * The terminal lost power: each request already on the wire reaches the host or is lost
   * (drawn from the seed); nobody hears the answers. Returns how many arrived.
   */
  powerCut(): number {
    let arrived = 0;
    for (const frame of this.inFlight) {
      if (this.rng.chance(0.5)) { this.sim.handle(frame); arrived++; }
    }
    this.inFlight.clear();
    return arrived;
  }

  /** Runs `fn` after the link's latency (plus `extraMs`) on the virtual clock. */
  later(fn: () => void, extraMs = 0): void {
    this.clock.setTimeout(fn, this.rng.range(LINK_LATENCY_MS_MIN, LINK_LATENCY_MS_MAX) + extraMs);
  }

  /** A frame with a valid length and nonsense inside. */
  garbageFrame(): Buffer {
    const out = Buffer.alloc(2 + GARBAGE_BYTES);
    out.writeUInt16BE(GARBAGE_BYTES, 0);
    for (let i = 2; i < out.length; i++) out[i] = this.rng.int(256);
    out[2] = 0xee;
    return out;
  }
}

/** Changes the last MAC character to another hex digit: well-formed, no longer valid. */
function corruptMac(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  const last = out.length - 1;
  out[last] = out[last] === 0x30 ? 0x31 : 0x30;
  return out;
}

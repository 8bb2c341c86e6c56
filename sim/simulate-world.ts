/**
 * The simulation's world: a virtual clock with timers (nothing in the terminal's path waits on a
 * real timer), a seeded PRNG, and the pump that lets one operator step run to rest.
 *
 * Determinism: exactly one chain of work is in flight at a time. Real asynchronous work (LMDB
 * commits, scrypt, opening the journal) and bytes crossing a simulated serial wire (each hop of
 * sim/serial-pair.ts is an event-loop turn) are counted in `io`; while any is in flight the pump
 * only yields to the event loop. Only when nothing is pending does it move virtual time to the
 * next timer (a driver's ACK or status timeout, a customer presenting a card). So the order of
 * everything the terminal sees depends on the seed alone.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { TimerClock } from '../runtime/host/transport';

/** mulberry32: small, fast, good enough for choosing actions (not cryptographic). */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 || 0x6d2b79f5; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return p > 0 && this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  /** Picks a key with probability proportional to its weight. */
  weighted<K extends string>(w: Readonly<Record<K, number>>): K {
    const keys = Object.keys(w) as K[];
    let r = this.next() * keys.reduce((n, k) => n + w[k], 0);
    for (const k of keys) { r -= w[k]; if (r < 0) return k; }
    return keys[keys.length - 1];
  }
}

interface Timer { readonly id: number; readonly at: number; readonly fn: () => void }

/** Virtual time: `now` moves only when the pump fires a timer or the driver advances it. */
export class VirtualClock implements TimerClock {
  private timers: Timer[] = [];
  private nextId = 1;
  constructor(public nowMs: number) {}

  readonly now = (): number => this.nowMs;

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { id: this.nextId++, at: this.nowMs + Math.max(0, ms), fn };
    // Sorted by due time, then creation order: ties resolve the same way on every run.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > t.at) i--;
    this.timers.splice(i, 0, t);
    return t.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  get pending(): number { return this.timers.length; }
  nextDueMs(): number | undefined { return this.timers[0]?.at; }

  /** Fires the earliest timer (time jumps to it). */
  fireNext(): void {
    const t = this.timers.shift();
    if (!t) return;
    this.nowMs = Math.max(this.nowMs, t.at);
    t.fn();
  }

  /** Drops every timer: the world they belonged to lost power. */
  clearAll(): void { this.timers = []; }

  /** Moves time forward without firing anything (the terminal is at rest or off). */
  advance(ms: number): void { this.nowMs += ms; }
}

/**
 * Real asynchronous work in flight: disk work (commits, journal open/close) and CPU work
 * (scrypt). A power cut waits for the disk work (it finishes or not, but it must not race the
 * reopen) and forgets the rest: a login abandoned mid-way never settles, and must not hold the gate.
 */
export class IoGate {
  private disk = 0;
  private cpu = 0;
  private epoch = 0;
  private wire = 0;
  private wireEpoch = 0;
  get inFlight(): number { return this.disk + this.cpu + this.wire; }
  get wireInFlight(): number { return this.wire; }
  /**
   * Runs `fn` at the next turn of the event loop, counted until then: a hop of bytes on a
   * simulated serial wire (sim/serial-pair.ts `schedule`). Virtual time waits for it.
   */
  hop(fn: () => void): void {
    const epoch = this.wireEpoch;
    this.wire++;
    setImmediate(() => {
      if (epoch !== this.wireEpoch) return; // the board lost power: the bytes never arrive
      this.wire--;
      fn();
    });
  }
  /** The board lost power: bytes on its wires are lost, their hops neither run nor count. */
  dropWire(): void { this.wire = 0; this.wireEpoch++; }
  get diskInFlight(): number { return this.disk; }
  track<T>(p: Promise<T>, kind: 'disk' | 'cpu' = 'disk'): Promise<T> {
    const epoch = this.epoch;
    if (kind === 'disk') this.disk++; else this.cpu++;
    return p.finally(() => {
      if (kind === 'disk') this.disk--;
      else if (epoch === this.epoch) this.cpu--;
    });
  }
  /** After a power cut: CPU work of the dead boot is forgotten. */
  forgetCpu(): void { this.cpu = 0; this.epoch++; }
}

export type PumpOutcome = 'rest' | 'cut' | 'stuck-no-work' | 'stuck-time';

export interface PumpOptions {
  readonly clock: VirtualClock;
  readonly io: IoGate;
  /** True when the terminal waits for the outside world (an operator, a card) and nothing else. */
  readonly atRest: () => boolean;
  /** True once a power cut was triggered at a cut point. */
  readonly cut: () => boolean;
  /** Virtual time the step may take before the terminal counts as stuck. */
  readonly virtualMsMax: number;
  /** Called before each timer fires; true = the power is cut at this point instead. */
  readonly beforeTimer?: () => boolean;
}

/** Event-loop turns a step may take (a guard against a spinning pump, not a timing rule). */
const LOOP_TURNS_MAX = 2_000_000;

/** Runs the world until the terminal is at rest, the power is cut, or it is stuck. */
export async function pump(o: PumpOptions): Promise<PumpOutcome> {
  const deadline = o.clock.nowMs + o.virtualMsMax;
  for (let turn = 0; turn < LOOP_TURNS_MAX; turn++) {
    await yieldToLoop();
    if (o.cut()) return 'cut';
    if (o.io.inFlight > 0) continue;
    if (o.atRest()) return 'rest';
    const due = o.clock.nextDueMs();
    if (due === undefined) return 'stuck-no-work';
    if (due > deadline) return 'stuck-time';
    if (o.beforeTimer?.()) return 'cut';
    o.clock.fireNext();
  }
  return 'stuck-time';
}

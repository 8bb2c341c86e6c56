/**
 * Push button on one GPIO input line (logical 1 = pressed; the board's `activeLow` says how it
 * is wired). Debounced by the line's watch.
 */
import { GpioLine, Unwatch, safeCall } from '../gpio';
import { Button, ButtonEvent } from '../button';
import { PosError } from '../../common/errors';

export interface GpioButtonOptions {
  readonly name?: string;
  readonly debounceMs?: number;
  /** 'hold' event after this long. */
  readonly holdMs?: number;
  /** Held longer than this is a fault. */
  readonly stuckMs?: number;
}

export const BUTTON_DEFAULTS = { debounceMs: 30, holdMs: 3000, stuckMs: 60_000 } as const;
/** `waitHeld` longer than this is a caller bug (boot would hang). */
export const WAIT_HELD_MS_MAX = 30_000;
export const LISTENERS_MAX = 16;

export class GpioButton implements Button {
  private readonly o: Required<GpioButtonOptions>;
  private pressedAt: number | undefined;
  private readonly events = new Set<(e: ButtonEvent) => void>();
  private readonly faults = new Set<(f: PosError) => void>();
  private unwatch: Unwatch | undefined;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly line: GpioLine, options: GpioButtonOptions = {}) {
    this.o = { name: 'reset0', ...BUTTON_DEFAULTS, ...options };
  }

  /** Reads the present state (a press before boot counts from now) and starts watching. */
  async start(): Promise<void> {
    if (this.unwatch) return; // started already (a second self-test)
    const level = await this.line.read();
    if (this.unwatch) return;
    this.unwatch = this.line.watch('both', (e) => (e.level === 1 ? this.onPress() : this.onRelease()), { debounceMs: this.o.debounceMs });
    if (level === 1) this.onPress();
  }

  async pressed(): Promise<boolean> {
    return (await this.line.read()) === 1;
  }

  heldMs(): number {
    return this.pressedAt === undefined ? 0 : performance.now() - this.pressedAt;
  }

  waitHeld(holdMs: number): Promise<boolean> {
    if (!(holdMs >= 0 && holdMs <= WAIT_HELD_MS_MAX)) {
      return Promise.reject(new PosError('SYS_INVARIANT', `waitHeld(${holdMs}) outside 0..${WAIT_HELD_MS_MAX}`));
    }
    if (this.pressedAt === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const stop = this.onEvent((e) => {
        if (e.type !== 'release') return;
        clearTimeout(timer);
        stop();
        resolve(false);
      });
      const timer = setTimeout(() => { stop(); resolve(true); }, Math.max(0, holdMs - this.heldMs()));
    });
  }

  onEvent(listener: (event: ButtonEvent) => void): () => void {
    return add(this.events, listener);
  }

  onFault(listener: (fault: PosError) => void): () => void {
    return add(this.faults, listener);
  }

  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    this.clearTimers();
    this.events.clear();
    this.faults.clear();
  }

  private onPress(): void {
    if (this.pressedAt !== undefined) return;
    this.pressedAt = performance.now();
    this.emit({ type: 'press', heldMs: 0 });
    this.timers.push(setTimeout(() => this.emit({ type: 'hold', heldMs: this.heldMs() }), this.o.holdMs));
    this.timers.push(setTimeout(() => {
      const f = new PosError('KBD_RESET_STUCK', `${this.o.name} held for ${Math.round(this.heldMs())} ms`, { role: this.o.name, heldMs: Math.round(this.heldMs()) });
      for (const l of [...this.faults]) safeCall(l, f);
    }, this.o.stuckMs));
  }

  private onRelease(): void {
    if (this.pressedAt === undefined) return;
    const held = this.heldMs();
    this.pressedAt = undefined;
    this.clearTimers();
    this.emit({ type: 'release', heldMs: held });
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  private emit(e: ButtonEvent): void {
    for (const l of [...this.events]) safeCall(l, e);
  }
}

function add<T>(set: Set<T>, listener: T): () => void {
  if (set.size >= LISTENERS_MAX) throw new PosError('SYS_INVARIANT', `more than ${LISTENERS_MAX} button listeners`);
  set.add(listener);
  return () => set.delete(listener);
}

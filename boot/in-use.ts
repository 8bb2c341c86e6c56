/**
 * Whether someone is using the terminal, for background work that must not take the CPU from
 * them (storage/verify-child.ts HoldSignal: the background verify's child is stopped while held).
 *
 * In use: a key pressed in the last IN_USE_AFTER_KEY_MS, or the machine anywhere but a resting
 * screen (a sale waiting for its card, talking to the host, printing). Why a key's quiet time and
 * not only the state: a merchant types the amount at idle's next screen, and the first key of a
 * sale is pressed at idle; a person between keys pauses a second or two, not five.
 */

/** A key keeps the terminal in use this long after it. */
export const IN_USE_AFTER_KEY_MS = 5_000;

/** Machine states (ProbeSnapshot.state) where the terminal rests: nobody's work waits on the CPU. */
const RESTING_STATES: ReadonlySet<string> = new Set(['idle', 'login']);

export interface InUseOptions {
  readonly setTimer?: (f: () => void, ms: number) => unknown;
  readonly clearTimer?: (t: unknown) => void;
}

export class InUse {
  private keyTimer: unknown;
  private resting = false;
  private readonly listeners = new Set<() => void>();
  private wasHeld = true;

  constructor(private readonly o: InUseOptions = {}) {}

  /** True while someone uses the terminal (and before the machine first reaches a resting screen). */
  get held(): boolean {
    return !this.resting || this.keyTimer !== undefined;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** A key went down: held now (the listeners hear it before the key is handled), and for IN_USE_AFTER_KEY_MS. */
  key(): void {
    this.clearKeyTimer();
    const set = this.o.setTimer ?? ((f: () => void, ms: number) => { const h = setTimeout(f, ms); h.unref(); return h; });
    this.keyTimer = set(() => { this.keyTimer = undefined; this.changed(); }, IN_USE_AFTER_KEY_MS);
    this.changed();
  }

  /** The machine's state as it changes. */
  state(state: string): void {
    this.resting = RESTING_STATES.has(state);
    this.changed();
  }

  stop(): void {
    this.clearKeyTimer();
    this.listeners.clear();
  }

  private clearKeyTimer(): void {
    if (this.keyTimer === undefined) return;
    (this.o.clearTimer ?? ((t: unknown) => clearTimeout(t as NodeJS.Timeout)))(this.keyTimer);
    this.keyTimer = undefined;
  }

  private changed(): void {
    const held = this.held;
    if (held === this.wasHeld) return;
    this.wasHeld = held;
    for (const l of [...this.listeners]) l();
  }
}

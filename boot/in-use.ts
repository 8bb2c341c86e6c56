/**
 * Whether someone is using the terminal, for background work that must not take the CPU from
 * them (storage/verify-child.ts HoldSignal: the background verify's child is stopped while held).
 *
 * In use: a key pressed in the last IN_USE_AFTER_KEY_MS, or the machine anywhere but a resting
 * screen (a sale waiting for its card, talking to the host, printing) for less than
 * IN_USE_SAME_STATE_MS. Why a key's quiet time and not only the state: a merchant types the amount
 * at idle's next screen, and the first key of a sale is pressed at idle; a person between keys
 * pauses a second or two, not five. Why the state's limit: a notice or an error left on the screen
 * overnight (the host unreachable, paper out) is nobody's work, and would hold the verify all night.
 */

/** A key keeps the terminal in use this long after it. */
export const IN_USE_AFTER_KEY_MS = 5_000;
/** A screen other than idle or login, untouched this long, rests too (longer than a card wait or a host's answer). */
export const IN_USE_SAME_STATE_MS = 3 * 60_000;

/** Machine states (ProbeSnapshot.state) where the terminal rests: nobody's work waits on the CPU. */
const RESTING_STATES: ReadonlySet<string> = new Set(['idle', 'login']);

export interface InUseOptions {
  readonly setTimer?: (f: () => void, ms: number) => unknown;
  /**
   * Tests only: how long a key keeps the terminal in use (default IN_USE_AFTER_KEY_MS). A test of
   * the background verify waiting for a quiet terminal types for longer than it, in real time.
   */
  readonly afterKeyMs?: number;
  readonly clearTimer?: (t: unknown) => void;
}

export class InUse {
  private keyTimer: unknown;
  private stateTimer: unknown;
  private state_ = '';
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
    this.keyTimer = this.clear(this.keyTimer);
    this.keyTimer = this.set(() => { this.keyTimer = undefined; this.changed(); }, this.o.afterKeyMs ?? IN_USE_AFTER_KEY_MS);
    this.changed();
  }

  /** The machine's state as it changes (repeats of the same state are ignored). */
  state(state: string): void {
    if (state === this.state_) return;
    this.state_ = state;
    this.stateTimer = this.clear(this.stateTimer);
    this.resting = RESTING_STATES.has(state);
    if (!this.resting) this.stateTimer = this.set(() => { this.stateTimer = undefined; this.resting = true; this.changed(); }, IN_USE_SAME_STATE_MS);
    this.changed();
  }

  stop(): void {
    this.keyTimer = this.clear(this.keyTimer);
    this.stateTimer = this.clear(this.stateTimer);
    this.listeners.clear();
  }

  private set(f: () => void, ms: number): unknown {
    if (this.o.setTimer) return this.o.setTimer(f, ms);
    const h = setTimeout(f, ms);
    h.unref();
    return h;
  }

  /** Clears a timer if there is one; returns undefined for the field. */
  private clear(timer: unknown): undefined {
    if (timer !== undefined) (this.o.clearTimer ?? ((t: unknown) => clearTimeout(t as NodeJS.Timeout)))(timer);
    return undefined;
  }

  private changed(): void {
    const held = this.held;
    if (held === this.wasHeld) return;
    this.wasHeld = held;
    for (const l of [...this.listeners]) l();
  }
}

/**
 * What every keypad widget shares: a result per key, and an idle timeout measured on an injected
 * clock (pure logic: no timers here; the UI loop calls `poll()` on its tick and on every key).
 */
import type { KeyName } from '../../hal/keypad';

/** Milliseconds since some fixed point (performance.now, or a test's fake clock). */
export type Clock = () => number;

export type Refusal = 'max' | 'zero' | 'too-short';

export type WidgetResult<T> =
  | { readonly kind: 'changed' }
  | { readonly kind: 'ignored' }
  | { readonly kind: 'refused'; readonly reason: Refusal }
  | { readonly kind: 'submit'; readonly value: T }
  /** CANCEL: leave the transaction. */
  | { readonly kind: 'cancel' }
  /** BACK with nothing left to delete: go to the previous screen. */
  | { readonly kind: 'back' }
  | { readonly kind: 'timeout' };

/** Default for entry screens: a real terminal returns to idle after about a minute untouched. */
export const IDLE_TIMEOUT_MS_DEFAULT = 60_000;

export interface WidgetOptions {
  readonly clock: Clock;
  /** Untouched this long, the widget reports 'timeout' (once). */
  readonly idleTimeoutMs?: number;
}

export abstract class Widget<T> {
  private lastActivityMs: number;
  private timedOut = false;
  protected readonly clock: Clock;
  protected readonly idleTimeoutMs: number;

  constructor(options: WidgetOptions) {
    this.clock = options.clock;
    this.idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS_DEFAULT;
    this.lastActivityMs = this.clock();
  }

  /** Handles one key press ('down' events; the caller filters). */
  press(key: KeyName): WidgetResult<T> {
    const expired = this.poll();
    if (expired) return expired; // a key after the deadline does not revive a screen the state machine has left
    this.lastActivityMs = this.clock();
    return this.handle(key);
  }

  /** 'timeout' once the widget has been idle for idleTimeoutMs; undefined before. */
  poll(): WidgetResult<T> | undefined {
    if (this.timedOut) return { kind: 'timeout' };
    if (this.clock() - this.lastActivityMs < this.idleTimeoutMs) return undefined;
    this.timedOut = true;
    return { kind: 'timeout' };
  }

  /** Milliseconds left before the timeout (for a countdown, or to schedule the next poll). */
  remainingMs(): number {
    return Math.max(0, this.idleTimeoutMs - (this.clock() - this.lastActivityMs));
  }

  protected abstract handle(key: KeyName): WidgetResult<T>;
}

export function isDigitKey(key: KeyName): key is '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' {
  return key.length === 1 && key >= '0' && key <= '9';
}

/**
 * CLEAR and BACK on a field of digits, as every entry widget treats them: CLEAR empties (ignored
 * when already empty), BACK deletes the last digit (and leaves the screen when empty). Returns
 * undefined for any other key.
 */
export function editDigits<T>(digits: string, key: KeyName): { digits: string; result: WidgetResult<T> } | undefined {
  if (key === 'CLEAR') return digits === '' ? { digits, result: { kind: 'ignored' } } : { digits: '', result: { kind: 'changed' } };
  if (key === 'BACK') return digits === '' ? { digits, result: { kind: 'back' } } : { digits: digits.slice(0, -1), result: { kind: 'changed' } };
  return undefined;
}

/**
 * Keypad interface: debounced key events and stuck-key faults. The reset button is a separate
 * device (hal/button.ts) and never appears here.
 *
 * Contract:
 * - `start()` scans once (debounced) before resolving. Keys found held then are stuck at boot:
 *   each is reported through `onFault` as PosError KBD_STUCK (kind key-stuck, detail
 *   `{ key, atBoot: true }`), before `start()` resolves, and produces no key events until it has
 *   been released.
 * - A key held longer than the board's `stuckMs` is reported the same way (`atBoot: false`),
 *   once per hold; its 'up' still comes when it is released.
 * - A key reported stuck (at boot or later) that is released calls `onStuckReleased` with the
 *   key, once, after its 'up' (if any): the stuck report is over. Nothing else ends it.
 * - Events per press: 'down', then 'long' once if held `longPressMs`, then 'up'. A bouncing
 *   contact gives one 'down' and one 'up'.
 * - A GPIO failure while scanning is reported through `onFault` (BRD_BUS, kind bus-fault); scanning
 *   goes on at the next interval.
 * - `close()` stops scanning, releases no lines (they belong to the board). Idempotent. Listeners
 *   get nothing after it.
 */
import { PosError } from '../common/errors';

export const KEY_NAMES = [
  '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'CLEAR', 'BACK', 'OK', 'CANCEL', 'UP', 'DOWN', 'MENU', 'FUNC',
] as const;

export type KeyName = (typeof KEY_NAMES)[number];

export function isKeyName(s: unknown): s is KeyName {
  return typeof s === 'string' && (KEY_NAMES as readonly string[]).includes(s);
}

export interface KeyEvent {
  readonly type: 'down' | 'up' | 'long';
  readonly key: KeyName;
  /** performance.now() when the event was decided (after debounce). */
  readonly timeMs: number;
}

export type Unsubscribe = () => void;

export interface Keypad {
  start(): Promise<void>;
  onKey(listener: (event: KeyEvent) => void): Unsubscribe;
  /** Faults: KBD_STUCK naming the key, or BRD_BUS when the lines fail. */
  onFault(listener: (fault: PosError) => void): Unsubscribe;
  /**
   * Optional: called at the first sign of a press, before it is debounced (a matrix column's
   * edge; a bounce calls it too, and a press may call it more than once: never taken as a key),
   * for work that must make way at once (boot/in-use.ts). A keypad whose 'down' comes without a debounce wait (evdev: the kernel
   * debounced) needs none. Nothing after close().
   */
  onActivity?(listener: () => void): Unsubscribe;
  /** A key reported stuck was released (after its 'up', where one is due): its report is over. */
  onStuckReleased(listener: (key: KeyName) => void): Unsubscribe;
  /** Keys currently down after debounce (stuck ones included). */
  pressed(): KeyName[];
  /** Keys currently reported stuck. */
  stuck(): KeyName[];
  close(): Promise<void>;
}

export function stuckKeyError(key: KeyName, heldMs: number, atBoot: boolean): PosError {
  const when = atBoot ? 'held at power-on' : `held for ${Math.round(heldMs)} ms`;
  return new PosError('KBD_STUCK', `key ${key} stuck (${when})`, { key, atBoot, heldMs: Math.round(heldMs) });
}

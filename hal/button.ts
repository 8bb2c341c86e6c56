/**
 * Push button interface (the reset button; not a keypad key). Holding it at power-on opens the
 * recovery menu: boot code calls `waitHeld(resetHoldMs)`.
 *
 * Contract:
 * - `pressed()` reads the line now (a real transfer) and rejects with BRD_BUS if it fails.
 * - `heldMs()` is how long it has been pressed, per the debounced events (0 when released).
 * - `waitHeld(holdMs)` resolves true once the button has been held continuously for `holdMs`
 *   (counting from when it was pressed, so a press that started before boot counts), false as
 *   soon as it is released or if it is not pressed when called.
 * - Events: 'press', 'release', and 'hold' once per press after `holdMs` of the options.
 * - Held longer than `stuckMs` is a fault: PosError KBD_RESET_STUCK (kind key-stuck), once per
 *   press, through `onFault`. Holding it at boot for the recovery menu is not stuck.
 * - `close()` stops watching; the line belongs to the board. Idempotent.
 */
import { PosError } from '../common/errors';

export interface ButtonEvent {
  readonly type: 'press' | 'release' | 'hold';
  /** How long it had been held (0 for 'press'). */
  readonly heldMs: number;
}

export interface Button {
  start(): Promise<void>;
  pressed(): Promise<boolean>;
  heldMs(): number;
  waitHeld(holdMs: number): Promise<boolean>;
  onEvent(listener: (event: ButtonEvent) => void): () => void;
  onFault(listener: (fault: PosError) => void): () => void;
  close(): Promise<void>;
}

/**
 * LED interface (power, status). Contract: `set` and `blink` resolve once the line has been
 * written; a GPIO failure rejects with BRD_BUS (blinking stops on the first failed toggle and the
 * error is kept in `fault`). `close()` turns the LED off. Idempotent.
 */
import { PosError } from '../common/errors';

export type LedState = 'off' | 'on' | 'blink';

export interface Led {
  readonly state: LedState;
  readonly fault: PosError | undefined;
  set(on: boolean): Promise<void>;
  /** Blinks: on for `onMs`, off for `offMs`, until `set` or `close`. */
  blink(onMs: number, offMs: number): Promise<void>;
  close(): Promise<void>;
}

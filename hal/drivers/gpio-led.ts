/** LED on one GPIO output line (logical 1 = lit). */
import { GpioLine } from '../gpio';
import { Led, LedState } from '../led';
import { PosError } from '../../common/errors';

/** Faster blinking is invisible and floods slow backends (chardev spawns a process per write). */
export const BLINK_MS_MIN = 50;
export const BLINK_MS_MAX = 10_000;

export class GpioLed implements Led {
  state: LedState = 'off';
  fault: PosError | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped by every set/blink so that a toggle already in flight does not restart an old blink. */
  private generation = 0;

  constructor(private readonly line: GpioLine, private readonly name = 'led') {}

  async set(on: boolean): Promise<void> {
    this.stopBlink();
    this.state = on ? 'on' : 'off';
    await this.line.write(on ? 1 : 0);
  }

  async blink(onMs: number, offMs: number): Promise<void> {
    for (const ms of [onMs, offMs]) {
      if (!(ms >= BLINK_MS_MIN && ms <= BLINK_MS_MAX)) {
        throw new PosError('SYS_INVARIANT', `${this.name}: blink ${ms} ms outside ${BLINK_MS_MIN}..${BLINK_MS_MAX}`);
      }
    }
    this.stopBlink();
    this.state = 'blink';
    this.fault = undefined;
    await this.line.write(1);
    const generation = this.generation;
    const phase = (on: boolean): void => {
      this.timer = setTimeout(() => {
        this.line.write(on ? 0 : 1).then(
          () => { if (generation === this.generation) phase(!on); },
          (e: unknown) => { this.fault = e instanceof PosError ? e : new PosError('BRD_BUS', String(e)); this.state = 'off'; },
        );
      }, on ? onMs : offMs);
    };
    phase(true);
  }

  async close(): Promise<void> {
    if (this.state === 'off' && !this.timer) return;
    await this.set(false);
  }

  private stopBlink(): void {
    this.generation += 1;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

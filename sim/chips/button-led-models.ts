/**
 * A push button and an LED on simulated GPIO pins. The button closes to ground by default
 * (`activeLow`, board pull-up) and can bounce; the LED records what it showed and when.
 */
import { SimGpioChip, SimPin } from './gpio-sim';
import { Level } from '../../hal/gpio';
import { BounceOptions, BOUNCE_MS_MAX } from './keypad-model';

export class SimButton {
  private readonly pin: SimPin;
  private readonly closedLevel: Level;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(chip: SimGpioChip, offset: number, options: { activeLow?: boolean } = {}) {
    this.pin = chip.pin(offset);
    this.closedLevel = options.activeLow === false ? 1 : 0;
    this.pin.setPull((1 - this.closedLevel) as Level);
  }

  get isPressed(): boolean {
    return this.pin.level === this.closedLevel;
  }

  press(bounce: BounceOptions = {}): void {
    this.change(true, bounce);
  }

  release(bounce: BounceOptions = {}): void {
    this.change(false, bounce);
  }

  private change(closed: boolean, { bounceMs = 0, bouncePeriodMs = 1 }: BounceOptions): void {
    const steps = Math.floor(Math.min(bounceMs, BOUNCE_MS_MAX) / Math.max(bouncePeriodMs, 0.1));
    for (let i = 0; i <= steps; i++) {
      const state = i === steps ? closed : i % 2 === 0 ? closed : !closed;
      if (steps === 0) this.set(state);
      else {
        const t = setTimeout(() => { this.timers.delete(t); this.set(state); }, i * bouncePeriodMs);
        this.timers.add(t);
      }
    }
  }

  private set(closed: boolean): void {
    if (closed) this.pin.drive(this.closedLevel);
    else this.pin.release();
  }
}

/** Changes kept (oldest dropped). */
export const LED_HISTORY_MAX = 1000;

export class SimLed {
  private readonly pin: SimPin;
  readonly history: Array<{ on: boolean; timeMs: number }> = [];

  constructor(chip: SimGpioChip, offset: number, private readonly activeLow = false) {
    this.pin = chip.pin(offset);
    this.pin.onChange(() => {
      this.history.push({ on: this.isOn, timeMs: performance.now() });
      if (this.history.length > LED_HISTORY_MAX) this.history.shift();
    });
  }

  get isOn(): boolean {
    return this.pin.level === (this.activeLow ? 0 : 1);
  }
}

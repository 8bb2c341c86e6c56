/**
 * A Linux input event device (/dev/input/eventN) as a bus: what hal/drivers/evdev-keypad.ts is
 * given (DESIGN rule 2: the driver never opens /dev itself). The kernel's keypad driver
 * (gpio-keys, matrix-keypad, a USB keypad) scans, debounces and queues; this hands the queued
 * bytes over as they are read. The Linux backend is hal/input-linux.ts.
 *
 * Contract:
 * - `watch` delivers every read's bytes in order (struct input_event records; a FIFO standing for
 *   the device in tests may split them) and, once, `onGone` when the device is gone (unplugged,
 *   driver unbound: ENODEV; a FIFO's writer closed: EOF); nothing after that. One watch at a time.
 * - `keys`, `grab`: the device's ioctls (EVIOCGKEY, EVIOCGRAB). A device that cannot answer them
 *   (a FIFO) says so ('unsupported', undefined) instead of throwing.
 * - `close()` ends the watch and closes the device at once (no read left pending). Idempotent.
 */
export interface InputDevice {
  /** The path opened (for messages and logs). */
  readonly path: string;
  /**
   * True when event times are CLOCK_MONOTONIC (EVIOCSCLOCKID took), so they map to
   * performance.now(); false (a FIFO) and the driver times each event when it reads it.
   */
  readonly monotonic: boolean;
  watch(onData: (bytes: Buffer) => void, onGone: (reason: string) => void): void;
  /** The kernel's key bitmap (bit `code` set = held), or undefined when the device cannot say. */
  keys(): Buffer | undefined;
  /** Exclusive access: no other reader (the console's keyboard handler) sees the keys. */
  grab(): InputGrab;
  close(): void;
}

export type InputGrab = 'grabbed' | 'busy' | 'unsupported';

/** Where a board file's keypad device is: a path (/dev/input/event0, /dev/input/by-path/...) or the device's name. */
export interface InputDeviceRef {
  readonly device?: string;
  readonly deviceName?: string;
}

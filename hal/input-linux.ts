/**
 * Input event devices on Linux (hal/input.ts) through the project's addon (native/evdev_input.c,
 * in gpio_v2.node): the device is opened non-blocking and read when libuv's poll says it is
 * readable. Not `fs.createReadStream`: that reads a char device with a blocking read(2) on a libuv
 * threadpool thread, which stays blocked while no key comes (a terminal at rest: for hours), one
 * of the 4 threads the journal's and every other fs call share; and closing the stream waits for
 * that read to come back, so close() would not end until someone pressed a key (both seen in the
 * guest test, tests/guest/evdev-keypad.test.ts). Not `net.Socket` on the fd either: libuv takes a
 * char device for a file and node refuses it (ERR_INVALID_FD_TYPE).
 *
 * `findInputDevice` finds /dev/input/eventN by the device's name, as the kernel reports it in
 * /sys/class/input/eventN/device/name (the name in the device tree node or the driver's).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PosError } from '../common/errors';
import { InputDevice, InputDeviceRef, InputGrab } from './input';
import { loadGpioV2 } from './gpio-native';

/** What native/evdev_input.c exports (errno results are numbers). */
interface EvdevAddon {
  inputOpen(path: string): number;
  inputClockMonotonic(fd: number): number;
  inputGrab(fd: number, on: boolean): number;
  inputKeys(fd: number): Buffer | number;
  inputWatch(fd: number, cb: (err: string | null, data: Buffer | null) => void): object;
  inputUnwatch(handle: object): void;
  inputClose(fd: number): void;
}

/** Event devices looked at when finding one by name (a board has a handful). */
export const INPUT_DEVICES_MAX = 64;
const EBUSY = 16;

export interface FindOptions {
  /** Default /sys/class/input (tests point it at a folder of their own). */
  readonly sysClassDir?: string;
  /** Default /dev/input. */
  readonly devDir?: string;
}

/** The board file's device: its path as given, or the event device whose name matches. */
export function resolveInputDevice(role: string, ref: InputDeviceRef, options: FindOptions = {}): string {
  if (ref.device !== undefined) return ref.device;
  if (ref.deviceName === undefined) throw new PosError('BRD_INVALID', `${role}: neither "device" nor "deviceName" given`, { role });
  return findInputDevice(role, ref.deviceName, options);
}

/** /dev/input/eventN of the device named `name`; BRD_DEVICE_ABSENT listing the names seen when none is. */
export function findInputDevice(role: string, name: string, options: FindOptions = {}): string {
  const sys = options.sysClassDir ?? '/sys/class/input';
  let entries: string[];
  try {
    entries = fs.readdirSync(sys).filter((e) => /^event\d{1,4}$/.test(e)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  } catch (e) {
    throw new PosError('BRD_DEVICE_ABSENT', `${role}: no input devices (${sys}: ${(e as NodeJS.ErrnoException).code ?? String(e)})`, { role, deviceName: name }, { cause: e });
  }
  const seen: string[] = [];
  for (const entry of entries.slice(0, INPUT_DEVICES_MAX)) {
    let found: string;
    try {
      found = fs.readFileSync(path.join(sys, entry, 'device', 'name'), 'utf8').trim();
    } catch {
      continue; // gone between the listing and the read
    }
    if (found === name) return path.join(options.devDir ?? '/dev/input', entry);
    seen.push(`${entry} "${found}"`);
  }
  throw new PosError('BRD_DEVICE_ABSENT', `${role}: no input device named "${name}" (found: ${seen.join(', ') || 'none'})`, { role, deviceName: name });
}

/** Opens an input device (or a FIFO standing for one). BRD_DEVICE_ABSENT naming the path when it cannot. */
export function openInputDevice(role: string, devicePath: string): InputDevice {
  const lib = loadGpioV2() as unknown as EvdevAddon;
  let fd: number;
  try {
    fd = lib.inputOpen(devicePath);
  } catch (e) {
    throw new PosError('BRD_DEVICE_ABSENT', `${role}: cannot open ${devicePath}: ${(e as Error).message}`, { role, path: devicePath }, { cause: e });
  }
  return new LinuxInputDevice(lib, fd, devicePath);
}

class LinuxInputDevice implements InputDevice {
  readonly monotonic: boolean;
  private handle: object | undefined;
  private closed = false;

  constructor(private readonly lib: EvdevAddon, private readonly fd: number, readonly path: string) {
    this.monotonic = lib.inputClockMonotonic(fd) === 0;
  }

  watch(onData: (bytes: Buffer) => void, onGone: (reason: string) => void): void {
    if (this.closed) throw new PosError('SYS_INVARIANT', `${this.path}: watch after close`);
    if (this.handle) throw new PosError('SYS_INVARIANT', `${this.path}: watched twice`);
    this.handle = this.lib.inputWatch(this.fd, (err, data) => {
      if (err !== null) {
        this.handle = undefined; // the addon has stopped it
        onGone(err);
      } else if (data !== null) onData(data);
    });
  }

  keys(): Buffer | undefined {
    if (this.closed) return undefined;
    const bits = this.lib.inputKeys(this.fd);
    return typeof bits === 'number' ? undefined : bits;
  }

  grab(): InputGrab {
    const err = this.lib.inputGrab(this.fd, true);
    return err === 0 ? 'grabbed' : err === EBUSY ? 'busy' : 'unsupported';
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) this.lib.inputUnwatch(this.handle);
    this.handle = undefined;
    try {
      this.lib.inputClose(this.fd);
    } catch {
      // Closing a device that is already gone can fail (EBADF/ENODEV); nothing is left to release.
    }
  }
}

/**
 * GPIO through the kernel's v2 character-device uAPI, natively: the project's N-API addon
 * (native/gpio_v2.c, built by node-gyp at `npm install` into build/Release/gpio_v2.node) requests
 * each line once (GPIO_V2_GET_LINE_IOCTL) and then sets and reads it by ioctl on the line's fd.
 * A write costs one system call, not a process start as with the libgpiod tools
 * (`gpio-chardev.ts`, kept as the fallback a board file chooses with `gpio.backend: "chardev-tools"`;
 * `"chardev"` is this backend).
 *
 * Edge events: input lines are requested with rising and falling edge detection; the kernel
 * queues events on the line fd and libuv wakes the addon when it is readable (no polling). Event
 * times are the kernel's CLOCK_MONOTONIC timestamps, converted to the performance.now() domain.
 * Software debounce is the same as every backend's (`EdgeWatchers`); `kernelDebounceUs` asks the
 * kernel to debounce as well (gpiolib does it in software when the chip cannot).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PosError } from '../common/errors';
import { ownAddonCandidates } from '../common/own-addon';
import { Bias, EdgeEvent, EdgeSelect, EdgeWatchers, GpioChip, GpioLine, Level, LineConfig, Unwatch, WatchOptions, gpioError, monotonicToPerfMs } from './gpio';

/** What native/gpio_v2.c exports. */
interface GpioV2Addon {
  request(chipPath: string, offset: number, config: {
    output: boolean; activeLow: boolean; bias: number; initial: number; edges: boolean; debounceUs: number; consumer: string;
  }): number;
  set(fd: number, value: number): void;
  get(fd: number): number;
  /** events: [rising, timestampNs, lineSeqno][] */
  watch(fd: number, cb: (events: Array<[boolean, number, number]>) => void): object;
  unwatch(handle: object): void;
  close(fd: number): void;
}

/** Longest kernel debounce a board may ask for (the uAPI takes microseconds). */
export const KERNEL_DEBOUNCE_US_MAX = 1_000_000;
/** Longest consumer label the uAPI keeps (GPIO_MAX_NAME_SIZE 32, with its NUL). */
const CONSUMER_CHARS_MAX = 31;

const BIAS_CODES: Record<Bias, number> = { 'as-is': 0, 'pull-up': 1, 'pull-down': 2, disabled: 3 };

let addon: GpioV2Addon | undefined;

/** Where the addon may be: POS_GPIO_V2_ADDON (an image may put it elsewhere), else build/Release. */
export function addonCandidates(): string[] {
  return ownAddonCandidates('gpio_v2.node', 'POS_GPIO_V2_ADDON');
}

/** Loads the addon once. Throws BRD_BUS naming the places looked at when it is not built. */
export function loadGpioV2(): GpioV2Addon {
  if (addon) return addon;
  const found = addonCandidates().find((p) => fs.existsSync(p));
  if (!found) throw gpioError('gpio_v2', `native addon not built (npm install runs node-gyp; a board without it can say gpio.backend "chardev-tools"); looked in ${addonCandidates().join(', ')}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node file can only be loaded by require
  addon = require(found) as GpioV2Addon;
  return addon;
}

export interface NativeGpioOptions {
  /** "gpiochip0", "/dev/gpiochip0" or a number. */
  readonly chip: string;
  /** Kernel debounce on watched inputs, microseconds (0 = none; software debounce still applies). */
  readonly kernelDebounceUs?: number;
}

class NativeLine implements GpioLine {
  readonly id: string;
  readonly direction: 'in' | 'out';
  private fd: number | undefined;
  private readonly watchers: EdgeWatchers;
  private watchHandle: object | undefined;
  private watchSinceMs = 0;

  constructor(private readonly lib: GpioV2Addon, chipPath: string, chipName: string, offset: number, config: LineConfig, debounceUs: number) {
    this.id = `${chipName}:${offset}`;
    this.direction = config.direction;
    this.watchers = new EdgeWatchers(this.id, () => this.read());
    try {
      this.fd = lib.request(chipPath, offset, {
        output: config.direction === 'out',
        activeLow: config.activeLow ?? false,
        bias: BIAS_CODES[config.bias ?? 'as-is'],
        initial: config.initial ?? 0,
        edges: config.direction === 'in',
        debounceUs,
        consumer: (config.consumer ?? 'pos').slice(0, CONSUMER_CHARS_MAX),
      });
    } catch (e) {
      throw gpioError(this.id, 'request', e);
    }
  }

  read(): Promise<Level> {
    try {
      return Promise.resolve(this.lib.get(this.openFd('read')) as Level);
    } catch (e) {
      return Promise.reject(e instanceof PosError ? e : gpioError(this.id, 'read', e));
    }
  }

  write(level: Level): Promise<void> {
    if (this.direction !== 'out') return Promise.reject(gpioError(this.id, 'write on an input line'));
    try {
      this.lib.set(this.openFd('write'), level);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof PosError ? e : gpioError(this.id, 'write', e));
    }
  }

  watch(edges: EdgeSelect, listener: (event: EdgeEvent) => void, options?: WatchOptions): Unwatch {
    if (this.direction !== 'in') throw gpioError(this.id, 'watch on an output line');
    const fd = this.openFd('watch');
    const unwatch = this.watchers.add(edges, listener, options);
    if (!this.watchHandle) {
      // Input lines detect edges from their request on; what the kernel queued before the first
      // watch is history, not news: dropped by time.
      this.watchSinceMs = performance.now();
      this.watchHandle = this.lib.watch(fd, (events) => this.onEvents(events));
    }
    return () => {
      unwatch();
      this.stopWatchIfIdle();
    };
  }

  close(): Promise<void> {
    if (this.fd === undefined) return Promise.resolve();
    this.watchers.clear();
    this.stopWatchIfIdle();
    const fd = this.fd;
    this.fd = undefined;
    try {
      this.lib.close(fd);
    } catch {
      // The fd is gone either way; a failed close has nothing left to release.
    }
    return Promise.resolve();
  }

  private onEvents(events: Array<[boolean, number, number]>): void {
    for (const [rising, ns] of events) {
      const timeMs = monotonicToPerfMs(ns / 1e6);
      if (timeMs < this.watchSinceMs) continue;
      this.watchers.raw({ edge: rising ? 'rising' : 'falling', level: rising ? 1 : 0, timeMs });
    }
  }

  private stopWatchIfIdle(): void {
    if (this.watchHandle && (this.watchers.count === 0 || this.fd === undefined)) {
      this.lib.unwatch(this.watchHandle);
      this.watchHandle = undefined;
    }
  }

  private openFd(what: string): number {
    if (this.fd === undefined) throw gpioError(this.id, `${what} after close`);
    return this.fd;
  }
}

export class NativeGpioChip implements GpioChip {
  private readonly lines = new Set<NativeLine>();
  readonly name: string;
  private readonly chipPath: string;

  private constructor(private readonly lib: GpioV2Addon, private readonly options: NativeGpioOptions) {
    const chip = /^\d+$/.test(options.chip) ? `gpiochip${options.chip}` : options.chip;
    this.chipPath = chip.startsWith('/') ? chip : `/dev/${chip}`;
    this.name = path.basename(this.chipPath);
  }

  /** Loads the addon and checks the chip device exists. Rejects with BRD_BUS otherwise. */
  static async open(options: NativeGpioOptions): Promise<NativeGpioChip> {
    const debounceUs = options.kernelDebounceUs ?? 0;
    if (!(Number.isInteger(debounceUs) && debounceUs >= 0 && debounceUs <= KERNEL_DEBOUNCE_US_MAX)) {
      throw gpioError(options.chip, `kernelDebounceUs ${debounceUs} outside 0..${KERNEL_DEBOUNCE_US_MAX}`);
    }
    const chip = new NativeGpioChip(loadGpioV2(), options);
    await fs.promises.access(chip.chipPath).catch((e: unknown) => { throw gpioError(chip.name, 'no such GPIO chip', e); });
    return chip;
  }

  requestLine(offset: number, config: LineConfig): Promise<GpioLine> {
    try {
      const line = new NativeLine(this.lib, this.chipPath, this.name, offset, config, config.direction === 'in' ? this.options.kernelDebounceUs ?? 0 : 0);
      this.lines.add(line);
      return Promise.resolve(line);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.lines].map((l) => l.close()));
    this.lines.clear();
  }
}

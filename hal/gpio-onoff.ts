/**
 * GPIO over the deprecated sysfs interface, through `onoff`. Kept for older kernels and boards
 * whose BSP still exports /sys/class/gpio; it fails on current Raspberry Pi kernels (6.6+), where
 * the board config must choose `chardev` instead.
 *
 * Sysfs numbers lines globally: line = chip base + offset (the base is 0 on old Pi kernels, 512
 * or more on new ones); the board config gives `chipBase`. Sysfs cannot set a bias: pull-ups come
 * from the device tree or the board, and `bias` is ignored here.
 */
import { Gpio, BinaryValue } from 'onoff';
import { EdgeEvent, EdgeSelect, EdgeWatchers, GpioChip, GpioLine, Level, LineConfig, Unwatch, WatchOptions, gpioError } from './gpio';

class OnoffLine implements GpioLine {
  readonly id: string;
  readonly direction: 'in' | 'out';
  private closed = false;
  private readonly watchers: EdgeWatchers;
  private readonly onRaw = (err: Error | null | undefined, value: BinaryValue): void => {
    if (err || this.closed) return; // an epoll error has no edge to report; the next read will fail loudly
    this.watchers.raw({ edge: value === 1 ? 'rising' : 'falling', level: value, timeMs: performance.now() });
  };

  constructor(private readonly gpio: Gpio, id: string, config: LineConfig) {
    this.id = id;
    this.direction = config.direction;
    this.watchers = new EdgeWatchers(id, () => this.read());
    if (config.direction === 'in') gpio.watch(this.onRaw);
  }

  async read(): Promise<Level> {
    if (this.closed) throw gpioError(this.id, 'read after close');
    try {
      return await this.gpio.read();
    } catch (e) {
      throw gpioError(this.id, 'read failed', e);
    }
  }

  async write(level: Level): Promise<void> {
    if (this.closed) throw gpioError(this.id, 'write after close');
    if (this.direction !== 'out') throw gpioError(this.id, 'write on an input line');
    try {
      await this.gpio.write(level);
    } catch (e) {
      throw gpioError(this.id, 'write failed', e);
    }
  }

  watch(edges: EdgeSelect, listener: (event: EdgeEvent) => void, options?: WatchOptions): Unwatch {
    if (this.closed) throw gpioError(this.id, 'watch after close');
    if (this.direction !== 'in') throw gpioError(this.id, 'watch on an output line');
    return this.watchers.add(edges, listener, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watchers.clear();
    this.gpio.unwatchAll();
    this.gpio.unexport();
  }
}

export class OnoffGpioChip implements GpioChip {
  private readonly lines = new Set<GpioLine>();

  /** `chipBase`: sysfs number of the chip's line 0 (see file comment). */
  constructor(readonly name: string, private readonly chipBase: number) {}

  static get accessible(): boolean {
    return Gpio.accessible;
  }

  async requestLine(offset: number, config: LineConfig): Promise<GpioLine> {
    const id = `${this.name}:${offset}`;
    const number = this.chipBase + offset;
    const direction = config.direction === 'in' ? 'in' : (config.initial ?? 0) === 1 ? (config.activeLow ? 'low' : 'high') : (config.activeLow ? 'high' : 'low');
    let gpio: Gpio;
    try {
      // 'high'/'low' set direction and the initial wire level in one glitch-free step.
      gpio = new Gpio(number, direction, config.direction === 'in' ? 'both' : 'none', {
        activeLow: config.activeLow === true,
        reconfigureDirection: true,
      });
    } catch (e) {
      throw gpioError(id, `sysfs gpio${number} not available`, e);
    }
    const line = new OnoffLine(gpio, id, config);
    this.lines.add(line);
    return line;
  }

  async close(): Promise<void> {
    for (const line of this.lines) await line.close();
    this.lines.clear();
  }
}

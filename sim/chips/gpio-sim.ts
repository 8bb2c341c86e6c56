/**
 * Simulated GPIO controller. Each pin has a wire level resolved as hardware would:
 * a line requested as output drives it; otherwise something outside (a test, a chip model such
 * as the keypad matrix) may drive it; otherwise the pull (the line's bias, or the board's
 * resistor set with `setPull`) decides, and a floating pin reads 0.
 *
 * Drivers see `GpioLine`s (the same interface as onoff/chardev). Models and tests use the wire
 * side: `pin(offset).drive(level)`, `.release()`, `.level`, `.onChange(...)`.
 * Fault injection: `pin(offset).fail(true)` makes every read/write of that line reject with
 * BRD_BUS, as a backend I/O error would.
 */
import {
  EdgeSelect, EdgeEvent, EdgeWatchers, GpioChip, GpioLine, Level, LineConfig, Unwatch, WatchOptions, gpioError,
} from '../../hal/gpio';

export class SimPin {
  private outputLevel: Level | undefined;
  private external: Level | undefined;
  private boardPull: Level | undefined;
  private biasPull: Level | undefined;
  private resolved: Level = 0;
  private readonly listeners = new Set<(level: Level) => void>();
  /** When true the line's reads and writes fail (backend I/O error). */
  failing = false;
  requested = false;

  constructor(readonly chipName: string, readonly offset: number) {}

  /** The physical level on the wire. */
  get level(): Level {
    return this.resolved;
  }

  /** Something outside drives the wire (a button, a model). Ignored while the line is an output. */
  drive(level: Level): void {
    this.external = level;
    this.update();
  }

  /** Stops driving from outside: the pull decides again. */
  release(): void {
    this.external = undefined;
    this.update();
  }

  /** A board resistor (pull-up 1 / pull-down 0), independent of the requested bias. */
  setPull(level: Level | undefined): void {
    this.boardPull = level;
    this.update();
  }

  fail(on: boolean): void {
    this.failing = on;
  }

  /** Observes changes of the wire level (for models that watch outputs). */
  onChange(listener: (level: Level) => void): Unwatch {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @internal used by SimGpioLine */
  setOutput(level: Level | undefined): void {
    this.outputLevel = level;
    this.update();
  }

  /** @internal used by SimGpioLine */
  setBias(pull: Level | undefined): void {
    this.biasPull = pull;
    this.update();
  }

  private update(): void {
    const next = this.outputLevel ?? this.external ?? this.biasPull ?? this.boardPull ?? 0;
    if (next === this.resolved) return;
    this.resolved = next;
    for (const l of [...this.listeners]) l(next);
  }
}

class SimGpioLine implements GpioLine {
  readonly id: string;
  readonly direction: 'in' | 'out';
  private closed = false;
  private readonly watchers: EdgeWatchers;
  private readonly stopObserving: Unwatch;
  private readonly invert: boolean;

  constructor(private readonly pin: SimPin, config: LineConfig) {
    this.id = `${pin.chipName}:${pin.offset}`;
    this.direction = config.direction;
    this.invert = config.activeLow === true;
    this.watchers = new EdgeWatchers(this.id, () => this.read());
    pin.requested = true;
    if (config.bias === 'pull-up') pin.setBias(1);
    else if (config.bias === 'pull-down') pin.setBias(0);
    if (config.direction === 'out') pin.setOutput(this.physical(config.initial ?? 0));
    this.stopObserving = pin.onChange((physical) => this.onWire(physical));
  }

  async read(): Promise<Level> {
    this.check('read');
    return this.logical(this.pin.level);
  }

  async write(level: Level): Promise<void> {
    this.check('write');
    if (this.direction !== 'out') throw gpioError(this.id, 'write on an input line');
    this.pin.setOutput(this.physical(level));
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
    this.stopObserving();
    this.pin.requested = false;
    this.pin.setBias(undefined);
    this.pin.setOutput(undefined); // released output: the wire floats to its pull
  }

  private onWire(physical: Level): void {
    if (this.direction !== 'in' || this.closed) return;
    const level = this.logical(physical);
    this.watchers.raw({ edge: level === 1 ? 'rising' : 'falling', level, timeMs: performance.now() });
  }

  private check(what: string): void {
    if (this.closed) throw gpioError(this.id, `${what} after close`);
    if (this.pin.failing) throw gpioError(this.id, `${what} failed (injected I/O error)`);
  }

  private logical(physical: Level): Level {
    return (this.invert ? 1 - physical : physical) as Level;
  }

  private physical(logical: Level): Level {
    return this.logical(logical); // inversion is its own inverse
  }
}

export class SimGpioChip implements GpioChip {
  private readonly pins = new Map<number, SimPin>();
  private readonly lines = new Set<GpioLine>();
  /** Offsets above this do not exist, as on a real controller. */
  static readonly LINE_COUNT_MAX = 256;

  constructor(readonly name = 'simchip0') {}

  /** The wire side of a pin (created on first use). */
  pin(offset: number): SimPin {
    if (!Number.isInteger(offset) || offset < 0 || offset >= SimGpioChip.LINE_COUNT_MAX) {
      throw gpioError(`${this.name}:${offset}`, 'no such line');
    }
    let p = this.pins.get(offset);
    if (!p) {
      p = new SimPin(this.name, offset);
      this.pins.set(offset, p);
    }
    return p;
  }

  async requestLine(offset: number, config: LineConfig): Promise<GpioLine> {
    const pin = this.pin(offset);
    if (pin.requested) throw gpioError(`${this.name}:${offset}`, 'line busy (already requested)');
    const line = new SimGpioLine(pin, config);
    this.lines.add(line);
    const close = line.close.bind(line);
    line.close = async () => {
      this.lines.delete(line);
      await close();
    };
    return line;
  }

  async close(): Promise<void> {
    for (const line of [...this.lines]) await line.close();
  }
}

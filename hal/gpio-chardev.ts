/**
 * GPIO over the character device (/dev/gpiochipN), driving libgpiod's command-line tools as child
 * processes. No native binding installs cleanly without libgpiod-dev on the build host, and the
 * tools are in every distribution's `gpiod` package, so this backend needs nothing compiled.
 *
 * Supported tool versions (detected from `gpioget --version`, or forced by `libgpiodMajor`):
 * - libgpiod 1.5 and 1.6 (Debian 11/12, Raspberry Pi OS bookworm):
 *     gpioget [-l] [-B bias] CHIP OFFSET               → prints "0" or "1"
 *     gpioset [-l] [-B bias] --mode=signal CHIP OFFSET=V  holds the line until SIGTERM
 *     gpiomon [-l] [-B bias] -b -F "%e %o %s %n" CHIP OFFSET  (%e: 1 rising, 0 falling)
 *   (1.4 and older lack -B: do not set `bias` with them.)
 * - libgpiod 2.x (2.0 .. 2.2, Debian 13, Ubuntu 24.04):
 *     gpioget [-l] [-b bias] --numeric -c CHIP OFFSET  → prints "0" or "1"
 *     gpioset [-l] [-b bias] --banner -c CHIP OFFSET=V   holds the line until SIGTERM
 *     gpiomon [-l] [-b bias] --banner -F "%e %o %S" -c CHIP OFFSET (%e: 1 rising, 2 falling)
 *   Bias names differ: v1 says "disable", v2 "disabled"; v2 has no "as-is" (leave it out).
 *
 * Costs and limits, stated because they are real:
 * - A line released by its process reverts to the kernel's default, so an output is held by a
 *   long-running gpioset; each write kills it and starts a new one (a few ms, and a glitch of
 *   the same length during which the line is released). Fine for LEDs and keypad rows scanned
 *   on activity; not for bit-banging.
 * - A watched input is held by gpiomon, so reads return the level tracked from its events
 *   (read once with gpioget before the monitor starts; an edge in that gap can be missed).
 * - An edge reaches this process through gpiomon's pipe, late by a turn of two processes' loops;
 *   it is timed by the kernel's stamp gpiomon prints (toolEdgeTimeMs), as the native backend
 *   times it, unless that stamp is another clock's.
 * - libgpiod 1.x tools print no banner: readiness is assumed when a tool has not exited after
 *   `V1_SETTLE_MS`.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import {
  Bias, EdgeEvent, EdgeSelect, EdgeWatchers, GpioChip, GpioLine, Level, LineConfig, Unwatch, WatchOptions, gpioError, monotonicToPerfMs,
} from './gpio';

export type LibgpiodMajor = 1 | 2;

/** Longest a tool may take to answer or to become ready, by default. */
export const TOOL_TIMEOUT_MS_MAX = 2000;
/** Upper bound of `toolTimeoutMs`: an emulated CPU (QEMU TCG) has been seen taking over 2 s to start gpioget. */
export const TOOL_TIMEOUT_MS_LIMIT = 30_000;
/** libgpiod 1.x: a tool still running after this is taken to hold its line. */
export const V1_SETTLE_MS = 30;
/** Writes queued on one line before further writes are refused. */
export const PENDING_WRITES_MAX = 16;
/** stderr kept from a tool for the error message. */
const STDERR_CHARS_MAX = 500;

export interface ChardevOptions {
  /** "gpiochip0" (or a path/number the tools accept). */
  readonly chip: string;
  /** Directory of the tools; default: found on PATH. */
  readonly toolsDir?: string;
  /** Skip version detection. */
  readonly libgpiodMajor?: LibgpiodMajor;
  /** Longest a tool may take (default TOOL_TIMEOUT_MS_MAX, at most TOOL_TIMEOUT_MS_LIMIT). */
  readonly toolTimeoutMs?: number;
}

interface Tools {
  readonly major: LibgpiodMajor;
  readonly chip: string;
  readonly timeoutMs: number;
  tool(name: 'gpioget' | 'gpioset' | 'gpiomon'): string;
}

function biasArgs(major: LibgpiodMajor, bias: Bias | undefined): string[] {
  if (bias === undefined || bias === 'as-is') return [];
  if (major === 1) return ['-B', bias === 'disabled' ? 'disable' : bias];
  return ['-b', bias];
}

function commonArgs(t: Tools, config: LineConfig): string[] {
  return [...(config.activeLow ? ['-l'] : []), ...biasArgs(t.major, config.bias)];
}

export function getArgs(t: Tools, offset: number, config: LineConfig): string[] {
  const tail = t.major === 1 ? [t.chip, String(offset)] : ['--numeric', '-c', t.chip, String(offset)];
  return [...commonArgs(t, config), ...tail];
}

export function setArgs(t: Tools, offset: number, config: LineConfig, level: Level): string[] {
  const tail = t.major === 1 ? ['--mode=signal', t.chip, `${offset}=${level}`] : ['--banner', '-c', t.chip, `${offset}=${level}`];
  return [...commonArgs(t, config), ...tail];
}

export function monArgs(t: Tools, offset: number, config: LineConfig): string[] {
  const tail = t.major === 1 ? ['-b', '-F', '%e %o %s %n', t.chip, String(offset)] : ['--banner', '-F', '%e %o %S', '-c', t.chip, String(offset)];
  return [...commonArgs(t, config), ...tail];
}

/** One gpiomon line: the edge, its line, and the kernel's stamp of it when the line has one (ms). */
export interface MonLine { readonly edge: 'rising' | 'falling'; readonly offset: number; readonly stampMs?: number }

/**
 * Parses one gpiomon line in our format; undefined for banners and noise. The stamp: v1's "%s %n"
 * (seconds, nanoseconds), v2's "%S" (seconds.nanoseconds).
 */
export function parseMonLine(major: LibgpiodMajor, text: string): MonLine | undefined {
  const m = /^(\d) (\d+) (?:(\d+)(?:(?: |\.)(\d+))?)?/.exec(text.trim() + ' ');
  if (!m) return undefined;
  const code = Number(m[1]);
  const rising = code === 1;
  const falling = major === 1 ? code === 0 : code === 2;
  if (!rising && !falling) return undefined;
  const line = { edge: rising ? 'rising' as const : 'falling' as const, offset: Number(m[2]) };
  if (m[3] === undefined) return line;
  // v1 prints the nanoseconds as a number, v2 as nine digits after the point.
  const ns = m[4] === undefined ? 0 : major === 1 ? Number(m[4]) : Number(m[4].slice(0, 9).padEnd(9, '0'));
  return { ...line, stampMs: Number(m[3]) * 1000 + ns / 1e6 };
}

/**
 * Oldest a tool's edge stamp may be when its line arrives, and still be taken. gpiomon stamps with
 * the kernel's CLOCK_MONOTONIC (v2's default event clock; uAPI v1 since Linux 5.7, CLOCK_REALTIME
 * before): a stamp further off is another clock's, and the edge is timed when it arrives.
 */
export const TOOL_EDGE_STAMP_AGE_MS_MAX = 1_000;

/** An edge's time (EdgeEvent.timeMs): the kernel's stamp when it is plausible, else now. */
export function toolEdgeTimeMs(stampMs: number | undefined, nowMs = performance.now()): number {
  if (stampMs === undefined) return nowMs;
  const timeMs = monotonicToPerfMs(stampMs);
  // A few microseconds past now: the two clocks were read apart.
  return timeMs >= nowMs - TOOL_EDGE_STAMP_AGE_MS_MAX && timeMs <= nowMs + 1 ? Math.min(timeMs, nowMs) : nowMs;
}

/** Runs a tool to completion; resolves stdout, rejects with its stderr. */
function runTool(file: string, args: string[], what: string, lineId: string, timeoutMs = TOOL_TIMEOUT_MS_MAX): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-STDERR_CHARS_MAX); });
    child.on('error', (e) => { clearTimeout(timer); reject(gpioError(lineId, `${what}: cannot run ${file}`, e)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(gpioError(lineId, `${what}: ${path.basename(file)} ${signal ? `killed (${signal})` : `exit ${code}`}: ${err.trim()}`));
    });
  });
}

/**
 * Starts a long-running tool and resolves once it holds its line: on its banner (v2) or after
 * V1_SETTLE_MS without exiting (v1). Rejects if it exits first.
 */
function startHolder(t: Tools, file: string, args: string[], lineId: string, onLine?: (text: string) => void): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let settled = false;
    const done = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(v1Timer);
      if (e) reject(e);
      else resolve(child);
    };
    const timer = setTimeout(() => { child.kill('SIGKILL'); done(gpioError(lineId, `${path.basename(file)} not ready after ${t.timeoutMs} ms`)); }, t.timeoutMs);
    const v1Timer = t.major === 1 ? setTimeout(() => done(), V1_SETTLE_MS) : undefined;
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-STDERR_CHARS_MAX); });
    readline.createInterface({ input: child.stdout }).on('line', (text) => {
      if (/^(Setting|Monitoring) line/.test(text)) done();
      else onLine?.(text);
    });
    child.on('error', (e) => done(gpioError(lineId, `cannot run ${file}`, e)));
    child.on('exit', (code, signal) => done(gpioError(lineId, `${path.basename(file)} exited (${signal ?? code}): ${err.trim()}`)));
  });
}

function stopHolder(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

class ChardevLine implements GpioLine {
  readonly id: string;
  readonly direction: 'in' | 'out';
  private closed = false;
  private holder: ChildProcess | undefined;
  private level: Level;
  private writes: Promise<void> = Promise.resolve();
  private pendingWrites = 0;
  private readonly watchers: EdgeWatchers;
  private monitor: ChildProcess | undefined;
  private monitorReady: Promise<void> | undefined;

  constructor(private readonly t: Tools, private readonly offset: number, private readonly config: LineConfig) {
    this.id = `${t.chip}:${offset}`;
    this.direction = config.direction;
    this.level = config.initial ?? 0;
    this.watchers = new EdgeWatchers(this.id, () => this.read());
  }

  /** Outputs: start holding the initial level. */
  async open(): Promise<void> {
    if (this.direction === 'out') await this.hold(this.level);
  }

  async read(): Promise<Level> {
    if (this.closed) throw gpioError(this.id, 'read after close');
    if (this.direction === 'out') return this.level;
    if (this.monitorReady) {
      await this.monitorReady;
      return this.level;
    }
    const out = await runTool(this.t.tool('gpioget'), getArgs(this.t, this.offset, this.config), 'read', this.id, this.t.timeoutMs);
    const v = out.trim();
    if (v !== '0' && v !== '1') throw gpioError(this.id, `gpioget printed "${v.slice(0, 40)}"`);
    return Number(v) as Level;
  }

  write(level: Level): Promise<void> {
    if (this.closed) return Promise.reject(gpioError(this.id, 'write after close'));
    if (this.direction !== 'out') return Promise.reject(gpioError(this.id, 'write on an input line'));
    if (this.pendingWrites >= PENDING_WRITES_MAX) return Promise.reject(gpioError(this.id, `more than ${PENDING_WRITES_MAX} writes pending`));
    this.pendingWrites += 1;
    const next = this.writes.then(() => this.hold(level)).finally(() => { this.pendingWrites -= 1; });
    this.writes = next.catch(() => undefined);
    return next;
  }

  watch(edges: EdgeSelect, listener: (event: EdgeEvent) => void, options?: WatchOptions): Unwatch {
    if (this.closed) throw gpioError(this.id, 'watch after close');
    if (this.direction !== 'in') throw gpioError(this.id, 'watch on an output line');
    this.monitorReady ??= this.startMonitor();
    return this.watchers.add(edges, listener, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watchers.clear();
    await this.writes;
    // A monitor still starting (v1: its settle time, in which edges already arrive) is stopped once
    // it has started: stopped before, its gpiomon would outlive the line, holding it busy.
    await this.monitorReady?.catch(() => undefined);
    await Promise.all([stopHolder(this.holder), stopHolder(this.monitor)]);
  }

  private async hold(level: Level): Promise<void> {
    if (this.closed) throw gpioError(this.id, 'write after close');
    await stopHolder(this.holder); // the line is busy until the old holder exits
    this.holder = undefined;
    this.holder = await startHolder(this.t, this.t.tool('gpioset'), setArgs(this.t, this.offset, this.config, level), this.id);
    this.level = level;
  }

  private async startMonitor(): Promise<void> {
    this.level = await this.read();
    const onLine = (text: string): void => {
      const e = parseMonLine(this.t.major, text);
      if (!e || e.offset !== this.offset || this.closed) return;
      this.level = e.edge === 'rising' ? 1 : 0;
      // The kernel's time of the edge, not its arrival through the pipe: a matrix keypad times a
      // press's debounce from it, and tells a press from its own scan's late edges by it.
      this.watchers.raw({ edge: e.edge, level: this.level, timeMs: toolEdgeTimeMs(e.stampMs) });
    };
    this.monitor = await startHolder(this.t, this.t.tool('gpiomon'), monArgs(this.t, this.offset, this.config), this.id, onLine);
  }
}

export class ChardevGpioChip implements GpioChip {
  private readonly lines = new Set<GpioLine>();

  private constructor(private readonly t: Tools) {}

  get name(): string {
    return this.t.chip;
  }

  get libgpiodMajor(): LibgpiodMajor {
    return this.t.major;
  }

  /** Detects the tools' version (unless given) and returns the chip. Rejects with BRD_BUS if the tools are missing. */
  static async open(options: ChardevOptions): Promise<ChardevGpioChip> {
    const tool = (name: string): string => (options.toolsDir ? path.join(options.toolsDir, name) : name);
    const timeoutMs = options.toolTimeoutMs ?? TOOL_TIMEOUT_MS_MAX;
    if (!(Number.isInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= TOOL_TIMEOUT_MS_LIMIT)) {
      throw gpioError(options.chip, `toolTimeoutMs ${timeoutMs} outside 1..${TOOL_TIMEOUT_MS_LIMIT}`);
    }
    const major = options.libgpiodMajor ?? (await ChardevGpioChip.detect(tool('gpioget'), options.chip, timeoutMs));
    return new ChardevGpioChip({ major, chip: options.chip, tool, timeoutMs });
  }

  /** Parses "gpioget (libgpiod) v1.6.3" / "... v2.1". */
  static async detect(gpioget: string, chip: string, timeoutMs = TOOL_TIMEOUT_MS_MAX): Promise<LibgpiodMajor> {
    const out = await runTool(gpioget, ['--version'], 'version', chip, timeoutMs);
    const m = /libgpiod\)?\s+v?(\d+)\./.exec(out);
    const major = m ? Number(m[1]) : NaN;
    if (major !== 1 && major !== 2) throw gpioError(chip, `unsupported libgpiod tools: ${out.split('\n')[0]}`);
    return major;
  }

  async requestLine(offset: number, config: LineConfig): Promise<GpioLine> {
    const line = new ChardevLine(this.t, offset, config);
    await line.open();
    this.lines.add(line);
    return line;
  }

  async close(): Promise<void> {
    await Promise.all([...this.lines].map((l) => l.close()));
    this.lines.clear();
  }
}

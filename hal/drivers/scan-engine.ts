/**
 * Scan engine driver for the Honeywell "serial trigger" protocol (hal/drivers/SCAN_ENGINE_PROTOCOL.md;
 * contract: hal/scanner.ts). The host sends SYN 'T' CR to start a scan and SYN 'U' CR to stop it;
 * the engine answers a decode with the data and a suffix (CR, CR LF or LF), optionally behind a
 * fixed prefix, and, with "no read" on (the project's choice), the text "NR" when its own read
 * time-out passes with nothing decoded.
 *
 * Why "no read" matters: in this protocol the engine never acknowledges the trigger, so a dead
 * engine and a customer who shows nothing look the same. With "no read" on, a live engine always
 * says something within its read time-out; silence past it (plus a grace) is SCN_TIMEOUT, and a
 * "no read" before the caller's limit re-triggers the engine (the caller's limit may be longer
 * than the engine's).
 *
 * Received bytes are cut into lines of at most `lineBytesMax` bytes; a line that is not
 * printable ASCII, overlong, cut off (`interByteTimeoutMsMax`), or lacks the configured
 * prefix/suffix is garbled: it fails the running scan with SCN_GARBLED, or is dropped when no
 * scan runs. Nothing received while no scan is asked is ever delivered later.
 *
 * Codes are bearer credentials: logs carry `maskCode` (last 4 characters) and lengths only.
 */
import type { Logger } from 'pino';
import { InvariantError, PosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import { SCAN_TIMEOUT_MS_MAX, Scanner, ScannerDiagnostics, maskCode } from '../scanner';
import { SerialPort } from '../serial';
import { Timers, realTimers } from './timing';

export const SYN = 0x16;
export const CR = 0x0d;
export const LF = 0x0a;
/** SYN 'T' CR: activate (illumination and aimer on, decode until a read, a stop or the read time-out). */
export const TRIGGER = Buffer.from([SYN, 0x54, CR]);
/** SYN 'U' CR: deactivate (illumination and aimer off). */
export const UNTRIGGER = Buffer.from([SYN, 0x55, CR]);

export type ScanSuffix = 'CR' | 'CRLF' | 'LF';
export const SCAN_SUFFIXES: readonly ScanSuffix[] = ['CR', 'CRLF', 'LF'];
export const SUFFIX_BYTES: Readonly<Record<ScanSuffix, Buffer>> = { CR: Buffer.from([CR]), CRLF: Buffer.from([CR, LF]), LF: Buffer.from([LF]) };

/** The protocol names a board file may give (only one so far). */
export const SCAN_PROTOCOLS = ['honeywell-serial-trigger'] as const;
export type ScanProtocol = (typeof SCAN_PROTOCOLS)[number];

/**
 * Longest line accepted, prefix included, suffix excluded (bytes). A payment code is 16..32
 * digits; 512 leaves room for other QR texts (a URL) while bounding what noise can make us hold.
 */
export const SCAN_LINE_BYTES_MAX = 512;
/** Longest configurable prefix (bytes): engines allow a few characters (Honeywell: up to 10 pairs of hex digits per symbology). */
export const SCAN_PREFIX_BYTES_MAX = 10;
/** The engine's "no read" text (Honeywell default when No Read is on). */
export const NO_READ_DEFAULT = 'NR';
/** The engine's read time-out as we configure it (Honeywell TRGSTO, ms). */
export const READ_TIMEOUT_MS_DEFAULT = 5000;

export interface SerialTriggerScannerOptions {
  readonly suffix?: ScanSuffix;
  /** A fixed prefix the engine puts before every line (configured on the engine). */
  readonly prefix?: string;
  /** The engine's "no read" line, or false when it sends none (then silence cannot be told from no code). */
  readonly noRead?: string | false;
  /** The engine's own read time-out: it gives up (and says "no read") after it (ms). */
  readonly readTimeoutMs?: number;
  /** Added to `readTimeoutMs` before silence counts as a dead engine (ms). */
  readonly answerGraceMsMax?: number;
  readonly lineBytesMax?: number;
  /** A line whose bytes stop arriving for this long is cut off: garbled (ms). */
  readonly interByteTimeoutMsMax?: number;
  /** After a stop, wait this long before the next trigger so a decode in flight lands while no scan runs (ms). */
  readonly settleMs?: number;
  readonly logger?: Logger;
  /** Timers for every timeout (default: the process's; the day simulation passes its virtual clock). */
  readonly timers?: Timers;
}

const DEFAULTS = {
  suffix: 'CR' as ScanSuffix,
  prefix: '',
  noRead: NO_READ_DEFAULT as string | false,
  readTimeoutMs: READ_TIMEOUT_MS_DEFAULT,
  answerGraceMsMax: 1000,
  lineBytesMax: SCAN_LINE_BYTES_MAX,
  interByteTimeoutMsMax: 100,
  settleMs: 50,
};

type Garbled = 'bytes' | 'overlong' | 'prefix' | 'suffix' | 'truncated';
type Line = { readonly kind: 'line'; readonly text: string } | { readonly kind: 'garbled'; readonly reason: Garbled; readonly bytes: number };

interface Job {
  readonly resolve: (code: string) => void;
  readonly reject: (error: PosError) => void;
  /** False while settling before the first trigger: lines then still count as unsolicited. */
  triggered: boolean;
  done: boolean;
  deadline?: unknown;
  silence?: unknown;
  offAbort?: () => void;
}

type Counters = { -readonly [K in keyof ScannerDiagnostics]: number };

export class SerialTriggerScanner implements Scanner {
  private readonly o: typeof DEFAULTS;
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly counters: Counters = { triggers: 0, codes: 0, noReads: 0, linesDropped: 0, linesGarbled: 0, timeouts: 0 };
  private readonly terminator: number;
  /** The line being received; at most lineBytesMax (+1 for the CR of a CR LF suffix) bytes are kept. */
  private readonly line: Buffer;
  private lineLength = 0;
  /** Bytes of the current line beyond the buffer: the line is overlong. */
  private overflowBytes = 0;
  private afterCr = false;
  private interByteTimer?: unknown;
  private job?: Job;
  private lastStopAt = -Infinity;
  private portError?: PosError;
  private closed = false;

  constructor(private readonly port: SerialPort, options: SerialTriggerScannerOptions = {}) {
    const { logger, timers, ...rest } = options;
    this.o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    if (this.o.prefix.length > SCAN_PREFIX_BYTES_MAX || !/^[\x20-\x7e]*$/.test(this.o.prefix)) {
      throw new RangeError(`scanner prefix must be at most ${SCAN_PREFIX_BYTES_MAX} printable ASCII characters`);
    }
    if (!Number.isInteger(this.o.lineBytesMax) || this.o.lineBytesMax < 1 || this.o.lineBytesMax > SCAN_LINE_BYTES_MAX) {
      throw new RangeError(`scanner lineBytesMax must be 1..${SCAN_LINE_BYTES_MAX}`);
    }
    this.log = logger ?? silentLogger;
    this.timers = timers ?? realTimers;
    this.terminator = this.o.suffix === 'CR' ? CR : LF;
    this.line = Buffer.alloc(this.o.lineBytesMax + 1);
    port.onData((chunk) => this.receive(chunk));
    port.onClose((error) => this.onPortClosed(error));
  }

  // ------------------------------------------------------------ public API

  async scan(timeoutMs: number, signal?: AbortSignal): Promise<string> {
    if (this.closed || this.portError) throw this.closedError();
    if (this.job) throw new InvariantError('scanner: scan while a scan is running');
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > SCAN_TIMEOUT_MS_MAX) {
      throw new InvariantError(`scanner: scan timeout ${timeoutMs} ms outside 1..${SCAN_TIMEOUT_MS_MAX}`, { timeoutMs });
    }
    if (signal?.aborted) throw cancelledError();
    let job!: Job;
    const result = new Promise<string>((resolve, reject) => { job = { resolve, reject, triggered: false, done: false }; });
    this.job = job;
    // The caller's limit covers the settle wait too.
    job.deadline = this.timers.setTimeout(() => void this.finish(job, new PosError('SCN_NO_CODE', `no code scanned within ${timeoutMs} ms`, { timeoutMs }), true), timeoutMs);
    if (signal) {
      const onAbort = (): void => void this.finish(job, cancelledError(), true);
      signal.addEventListener('abort', onAbort, { once: true });
      job.offAbort = () => signal.removeEventListener('abort', onAbort);
    }
    void this.start(job);
    return result;
  }

  check(): Promise<void> {
    if (this.closed || this.portError) return Promise.reject(this.closedError());
    return this.port.check().catch((e: unknown) => { throw this.portError ?? new PosError('SCN_DISCONNECTED', `scanner port check failed: ${this.port.path}`, { path: this.port.path }, { cause: e }); });
  }

  diagnostics(): ScannerDiagnostics {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const job = this.job;
    // A running scan is cancelled as by its signal: the stop goes out before the port closes.
    if (job) await this.finish(job, cancelledError('scanner closed'), true);
    this.closed = true;
    this.timers.clearTimeout(this.interByteTimer);
    await this.port.close();
  }

  // ------------------------------------------------------------ scanning

  /** Waits out the settle time, discards what arrived meanwhile, then triggers. */
  private async start(job: Job): Promise<void> {
    const wait = this.lastStopAt + this.o.settleMs - this.timers.now();
    if (wait > 0) await new Promise<void>((resolve) => this.timers.setTimeout(resolve, wait));
    if (job.done) return;
    // A half-received line from before the scan is not the start of its code.
    this.resetLine();
    // Drain first: a flush also discards unsent output, which may still hold the last stop command.
    await this.port.drain().catch(() => undefined);
    await this.port.flush().catch(() => undefined);
    if (job.done) return;
    job.triggered = true;
    await this.trigger(job);
  }

  private async trigger(job: Job): Promise<void> {
    this.counters.triggers++;
    try {
      await this.port.write(TRIGGER);
    } catch (e) {
      await this.finish(job, this.portError ?? new PosError('SCN_DISCONNECTED', `scanner write failed: ${this.port.path}`, { path: this.port.path }, { cause: e }), false);
      return;
    }
    if (job.done || this.o.noRead === false) return;
    this.timers.clearTimeout(job.silence);
    const silentMs = this.o.readTimeoutMs + this.o.answerGraceMsMax;
    job.silence = this.timers.setTimeout(() => {
      this.counters.timeouts++;
      void this.finish(job, new PosError('SCN_TIMEOUT', `scanner silent for ${silentMs} ms after a trigger`, { path: this.port.path, readTimeoutMs: this.o.readTimeoutMs, answerGraceMsMax: this.o.answerGraceMsMax }), true);
    }, silentMs);
  }

  /**
   * Ends a scan once. The job is detached first, so a line arriving from here on is unsolicited
   * (dropped); with `stop` the engine is told to stop before the caller hears the error, so the
   * illumination is off by then.
   */
  private async finish(job: Job, outcome: string | PosError, stop: boolean): Promise<void> {
    if (job.done) return;
    job.done = true;
    this.timers.clearTimeout(job.deadline);
    this.timers.clearTimeout(job.silence);
    job.offAbort?.();
    if (this.job === job) this.job = undefined;
    this.lastStopAt = this.timers.now();
    if (typeof outcome === 'string') { job.resolve(outcome); return; }
    if (stop && job.triggered && !this.portError && !this.closed) {
      // Written AND drained: the stop has left the port when the caller hears the outcome.
      await this.port.write(UNTRIGGER).then(() => this.port.drain()).catch((e: unknown) => this.log.warn({ err: e }, 'scanner: stop command failed'));
    }
    job.reject(outcome);
  }

  // ------------------------------------------------------------ receiving

  private receive(chunk: Buffer): void {
    for (const b of chunk) this.onByte(b);
    this.timers.clearTimeout(this.interByteTimer);
    if (this.lineLength > 0 || this.overflowBytes > 0) {
      this.interByteTimer = this.timers.setTimeout(() => {
        const bytes = this.lineLength + this.overflowBytes;
        this.resetLine();
        this.onLine({ kind: 'garbled', reason: 'truncated', bytes });
      }, this.o.interByteTimeoutMsMax);
    }
  }

  private onByte(b: number): void {
    // Tolerance: an engine set to CR LF while the board says CR leaves a LF after each CR.
    if (this.afterCr && b === LF && this.o.suffix === 'CR') { this.afterCr = false; return; }
    this.afterCr = b === CR;
    if (b === this.terminator) { this.onLine(this.takeLine()); return; }
    if (this.lineLength < this.line.length) this.line[this.lineLength++] = b;
    else this.overflowBytes++;
  }

  private takeLine(): Line {
    let end = this.lineLength;
    const bytes = end + this.overflowBytes;
    const overlong = this.overflowBytes > 0;
    const raw = this.line.subarray(0, end);
    this.resetLine();
    if (this.o.suffix === 'CRLF') {
      if (raw[end - 1] !== CR) return { kind: 'garbled', reason: overlong ? 'overlong' : 'suffix', bytes };
      end--;
    }
    if (overlong || end > this.o.lineBytesMax) return { kind: 'garbled', reason: 'overlong', bytes };
    const body = raw.subarray(0, end);
    for (const c of body) if (c < 0x20 || c > 0x7e) return { kind: 'garbled', reason: 'bytes', bytes };
    const text = body.toString('latin1');
    // The "no read" line is accepted with or without the prefix: engines differ in whether it gets one.
    if (this.o.prefix && text.length > 0 && text !== this.o.noRead) {
      if (!text.startsWith(this.o.prefix)) return { kind: 'garbled', reason: 'prefix', bytes };
      return { kind: 'line', text: text.slice(this.o.prefix.length) };
    }
    return { kind: 'line', text };
  }

  private resetLine(): void {
    this.lineLength = 0;
    this.overflowBytes = 0;
  }

  private onLine(line: Line): void {
    const job = this.job && this.job.triggered && !this.job.done ? this.job : undefined;
    if (line.kind === 'garbled') {
      this.counters.linesGarbled++;
      this.log.warn({ reason: line.reason, bytes: line.bytes, scanning: job !== undefined }, 'scanner: garbled line');
      if (job) {
        void this.finish(job, new PosError('SCN_GARBLED', `scanner sent a garbled line (${line.reason}, ${line.bytes} bytes)`, { reason: line.reason, bytes: line.bytes, lineBytesMax: this.o.lineBytesMax }), true);
      } else {
        this.counters.linesDropped++;
      }
      return;
    }
    // A bare terminator (noise, a CR LF engine on an LF board) is nothing.
    if (line.text === '') return;
    if (this.o.noRead !== false && line.text === this.o.noRead) {
      if (!job) { this.counters.linesDropped++; return; }
      // The engine gave up on its own read time-out; the caller's limit has not run out yet.
      this.counters.noReads++;
      void this.trigger(job);
      return;
    }
    if (!job) {
      this.counters.linesDropped++;
      this.log.warn({ codeMasked: maskCode(line.text), chars: line.text.length }, 'scanner: code with no scan asked (late or unsolicited): dropped');
      return;
    }
    this.counters.codes++;
    this.log.info({ codeMasked: maskCode(line.text), chars: line.text.length }, 'scanner: code read');
    void this.finish(job, line.text, false);
  }

  private onPortClosed(error?: PosError): void {
    if (this.closed) return;
    this.portError = new PosError('SCN_DISCONNECTED', `scanner port lost: ${this.port.path}`, { path: this.port.path }, { cause: error });
    this.timers.clearTimeout(this.interByteTimer);
    if (this.job) void this.finish(this.job, this.portError, false);
  }

  private closedError(): PosError {
    return this.portError ?? new PosError('SCN_DISCONNECTED', `scanner closed: ${this.port.path}`, { path: this.port.path, reason: 'closed' });
  }
}

function cancelledError(message = 'scan cancelled'): PosError {
  return new PosError('OPR_CANCELLED', message);
}

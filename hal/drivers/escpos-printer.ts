/**
 * ESC/POS thermal printer on a serial port (contract: hal/printer.ts).
 *
 * How a job knows exactly which block failed:
 *   After each block (and inside a big block, whenever `unconfirmedBytesMax` would be exceeded)
 *   the driver sends GS r 1. GS r is not a real-time command: the printer answers it only once it
 *   has processed everything sent before it, so the answer proves the block is printed. While
 *   the answer is late, the driver polls real-time status (DLE EOT 1..4, answered even when the
 *   printer is stalled): a printer offline because of paper end, an open cover or an error stops
 *   the job at that block. The printer's buffers are then cleared (DLE DC4 fn 8) so the rest of
 *   the job does not print when paper is loaded: the caller decides whether to reprint.
 *
 * Telling answers apart: DLE EOT answers always have bit 4 set; GS r 1 answers never do.
 * Answers nobody asked for (a DLE EOT pattern inside raster data is executed by real printers
 * too) are discarded.
 *
 * Flow control: the bytes sent but not yet confirmed never exceed `unconfirmedBytesMax`, which
 * must be below the printer's receive buffer, so the printer never has to hold us off with
 * XOFF or a busy line (a pty has neither).
 */
import type { Logger } from 'pino';
import { PosError, isPosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import type { PrintJob, PrintResult, Printer, PrinterStatus } from '../printer';
import { Listeners, SerialPort } from '../serial';
import { DLE, FONT_A_WIDTH_DOTS, GS, Segment, encodeBlock, jobPrologue } from './escpos-encoder';
import { Timers, starvableTimers, runningTimeout } from './timing';

export interface EscPosPrinterOptions {
  /** Printable width in dots: 384 for 58 mm paper, 576 for 80 mm (203 dpi). */
  readonly paperWidthDots: number;
  /** Characters per line in Font A; defaults to paperWidthDots / 12. */
  readonly columns?: number;
  /** The printer has a GB18030 Chinese font (FS & enters Chinese mode). */
  readonly gb18030: boolean;
  /** Wait for the answer to a real-time status query (ms). */
  readonly statusTimeoutMsMax?: number;
  /** Wait for the printer to confirm one block or stripe is printed (ms). */
  readonly blockTimeoutMsMax?: number;
  /** While a confirmation is late, poll real-time status this often (ms). */
  readonly stallPollMs?: number;
  /**
   * The boot self-test asks for the status again until this long after its first query (ms): a
   * printer module powered up with the board may not answer before its own firmware runs, and a
   * board under load (the guest under TCG) can take longer than statusTimeoutMsMax to carry one
   * answer. Only the self-test waits; status() during trading keeps its single timeout.
   */
  readonly powerUpMsMax?: number;
  /** Bytes sent but not yet confirmed; keep below the printer's receive buffer. */
  readonly unconfirmedBytesMax?: number;
  /** Largest single write to the port (bytes). */
  readonly writeChunkBytesMax?: number;
  /** Jobs waiting behind the running one before `print` refuses. */
  readonly queuedJobsMax?: number;
  /** Rows per GS v 0 command: cheap printers refuse tall raster commands. */
  readonly rasterStripeRowsMax?: number;
  readonly logger?: Logger;
  /** Timers and clock for every timeout (default: the process's; the day simulation passes its virtual clock). */
  readonly timers?: Timers;
}

const DEFAULTS = {
  statusTimeoutMsMax: 500,
  blockTimeoutMsMax: 10_000,
  stallPollMs: 250,
  powerUpMsMax: 3000,
  unconfirmedBytesMax: 2048,
  writeChunkBytesMax: 256,
  queuedJobsMax: 4,
  rasterStripeRowsMax: 24,
};

/** Real-time status queries, in the order their answers are parsed by `status()`. */
const STATUS_QUERY = Buffer.from([DLE, 0x04, 1, DLE, 0x04, 2, DLE, 0x04, 3, DLE, 0x04, 4]);
/** GS r 1: paper sensor status, answered in order with the data (the sync point). */
const SYNC_QUERY = Buffer.from([GS, 0x72, 1]);
/** DLE DC4 fn 8: clear receive and print buffers; the printer answers 37h 25h 00h. */
const CLEAR_BUFFERS = Buffer.from([DLE, 0x14, 8, 1, 3, 20, 1, 6, 2, 8]);
const CLEAR_ANSWER = Buffer.from([0x37, 0x25, 0x00]);

type Waiter = { resolve: (byte: number) => void; reject: (error: PosError) => void };

interface JobContext {
  readonly job: PrintJob;
  blockIndex: number;
  blocksPrinted: number;
  bytesSent: number;
  unconfirmedBytes: number;
  paperNearEnd: boolean;
}

export class EscPosPrinter implements Printer {
  readonly paperWidthDots: number;
  readonly columns: number;
  private readonly o: Required<Omit<EscPosPrinterOptions, 'columns' | 'logger' | 'timers'>>;
  private readonly timers: Timers;
  private readonly log: Logger;
  private readonly realtimeWaiters: Waiter[] = [];
  private readonly syncWaiters: Waiter[] = [];
  private clearWaiter?: { matched: number; resolve: () => void };
  /** onAnswer's listeners: a whole answer to something asked (a status, a block's confirmation, the buffers cleared). */
  private readonly answers = new Listeners<[]>();
  private tail: Promise<unknown> = Promise.resolve();
  private queuedJobs = 0;
  /** Set when the running job must stop: cancel, close or the port lost. */
  private abortError?: PosError;
  private portError?: PosError;
  private closed = false;
  /** Bumped by cancel(): jobs queued before it are cancelled too. */
  private cancelEpoch = 0;

  constructor(private readonly port: SerialPort, options: EscPosPrinterOptions) {
    this.paperWidthDots = options.paperWidthDots;
    this.columns = options.columns ?? Math.floor(options.paperWidthDots / FONT_A_WIDTH_DOTS);
    const { columns: _c, logger, timers, ...rest } = options;
    this.o = { ...DEFAULTS, ...stripUndefined(rest), paperWidthDots: options.paperWidthDots, gb18030: options.gb18030 };
    this.log = logger ?? silentLogger;
    this.timers = timers ?? starvableTimers;
    port.onData((chunk) => this.receive(chunk));
    port.onClose((error) => this.onPortClosed(error));
  }

  status(): Promise<PrinterStatus> {
    return this.queryStatus();
  }

  onAnswer(listener: () => void): () => void {
    return this.answers.add(listener);
  }

  /**
   * A status round trip, asked again while it times out within powerUpMsMax (see the option).
   * Between tries the driver waits stallPollMs with nobody waiting for an answer, so a late answer
   * to the query that timed out is dropped (receive keeps no unasked-for byte) instead of being
   * read as the next query's first bytes.
   */
  async selfTest(): Promise<PrinterStatus> {
    const started = this.timers.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.queryStatus();
      } catch (error) {
        const waitedMs = this.timers.now() - started;
        if (!(isPosError(error) && error.id === 'PRN_TIMEOUT') || waitedMs >= this.o.powerUpMsMax) throw error;
        this.log.info({ attempt, waitedMs: Math.round(waitedMs), powerUpMsMax: this.o.powerUpMsMax }, 'printer not answering yet at self-test; asking again');
        await new Promise<void>((resolve) => this.timers.setTimeout(resolve, this.o.stallPollMs));
      }
    }
  }

  print(job: PrintJob): Promise<PrintResult> {
    if (this.closed || this.portError) return Promise.reject(this.disconnected(job.label, 0, 0));
    if (this.queuedJobs >= this.o.queuedJobsMax) {
      return Promise.reject(new PosError('PRN_FAULT', `print queue full (${this.o.queuedJobsMax} jobs)`,
        { job: job.label, reason: 'queue-full', queuedJobsMax: this.o.queuedJobsMax }));
    }
    this.queuedJobs++;
    const epoch = this.cancelEpoch;
    const run = this.tail.then(() => this.runJob(job, epoch)).finally(() => { this.queuedJobs--; });
    this.tail = run.catch(() => undefined);
    return run;
  }

  cancel(): void {
    this.cancelEpoch++;
    this.abort(new PosError('OPR_CANCELLED', 'print cancelled', { reason: 'cancel' }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.cancel();
    this.closed = true;
    await this.tail;
    await this.port.close();
  }

  // ------------------------------------------------------------ running a job

  private async runJob(job: PrintJob, epoch: number): Promise<PrintResult> {
    if (this.portError) throw this.disconnected(job.label, 0, 0);
    if (epoch !== this.cancelEpoch) throw new PosError('OPR_CANCELLED', `${job.label}: cancelled before printing`, { job: job.label, blockIndex: 0, blocksPrinted: 0 });
    this.abortError = undefined;
    const ctx: JobContext = { job, blockIndex: 0, blocksPrinted: 0, bytesSent: 0, unconfirmedBytes: 0, paperNearEnd: false };
    try {
      await this.preflight(ctx);
      await this.send(ctx, jobPrologue(this.o.gb18030));
      for (let i = 0; i < job.blocks.length; i++) {
        ctx.blockIndex = i;
        await this.sendBlock(ctx, encodeBlock(job.blocks[i], i, this.encoderOptions()));
        await this.confirm(ctx);
        ctx.blocksPrinted = i + 1;
      }
    } catch (error) {
      throw await this.failJob(ctx, error);
    }
    this.log.info({ job: job.label, blocks: ctx.blocksPrinted, bytes: ctx.bytesSent }, 'printed');
    return { job: job.label, blocksPrinted: ctx.blocksPrinted, bytesSent: ctx.bytesSent, paperNearEnd: ctx.paperNearEnd };
  }

  private encoderOptions() {
    return { paperWidthDots: this.paperWidthDots, columns: this.columns, gb18030: this.o.gb18030, rasterStripeRowsMax: this.o.rasterStripeRowsMax };
  }

  /** Checks paper and cover before the first byte: a job refused here has printed nothing. */
  private async preflight(ctx: JobContext): Promise<void> {
    const status = await this.queryStatus();
    ctx.paperNearEnd = status.paperNearEnd;
    const fault = statusFault(status);
    if (fault) throw fault;
  }

  private async sendBlock(ctx: JobContext, segments: Segment[]): Promise<void> {
    for (const segment of segments) {
      if (ctx.unconfirmedBytes > 0 && ctx.unconfirmedBytes + segment.bytes.length > this.o.unconfirmedBytesMax) {
        await this.confirm(ctx);
      }
      await this.send(ctx, segment.bytes);
    }
  }

  /** Writes in chunks of at most writeChunkBytesMax, each awaited, checking for abort between. */
  private async send(ctx: JobContext, bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length; at += this.o.writeChunkBytesMax) {
      this.throwIfAborted();
      const chunk = bytes.subarray(at, at + this.o.writeChunkBytesMax);
      await this.port.write(chunk);
      ctx.bytesSent += chunk.length;
      ctx.unconfirmedBytes += chunk.length;
    }
  }

  /**
   * Sends GS r 1 and waits for its answer, which proves everything before it is printed. While
   * it is late, real-time status says whether the printer stopped (paper, cover, error).
   */
  private async confirm(ctx: JobContext): Promise<void> {
    this.throwIfAborted();
    const answer = this.waitByte(this.syncWaiters);
    await this.port.write(SYNC_QUERY);
    ctx.bytesSent += SYNC_QUERY.length;
    const started = this.timers.now();
    for (;;) {
      const sensor = await raceTimeout(this.timers, answer, this.o.stallPollMs);
      if (sensor !== undefined) {
        if ((sensor & 0x03) !== 0) ctx.paperNearEnd = true;
        ctx.unconfirmedBytes = 0;
        return;
      }
      const fault = statusFault(await this.queryStatus());
      if (fault) throw fault;
      if (this.timers.now() - started >= this.o.blockTimeoutMsMax) {
        throw new PosError('PRN_TIMEOUT', `printer did not confirm within ${this.o.blockTimeoutMsMax} ms`,
          { blockTimeoutMsMax: this.o.blockTimeoutMsMax });
      }
    }
  }

  /** Turns whatever stopped the job into the error the caller gets, naming the block. */
  private async failJob(ctx: JobContext, error: unknown): Promise<PosError> {
    const block = ctx.job.blocks[ctx.blockIndex];
    const where = { job: ctx.job.label, blockIndex: ctx.blockIndex, blockLabel: block?.label, blocksPrinted: ctx.blocksPrinted };
    this.rejectWaiters(this.syncWaiters, new PosError('PRN_FAULT', 'job ended'));
    let result: PosError;
    if (this.portError || (isPosError(error) && error.id === 'BRD_BUS')) {
      result = this.disconnected(ctx.job.label, ctx.blockIndex, ctx.blocksPrinted, block?.label, error);
    } else if (isPosError(error)) {
      result = new PosError(error.id, `${ctx.job.label}: block ${ctx.blockIndex} not printed: ${error.message}`,
        { ...error.detail, ...where }, { cause: error });
      if (ctx.bytesSent > 0) await this.clearPrinterBuffers();
    } else {
      result = new PosError('PRN_FAULT', `${ctx.job.label}: unexpected failure`, where, { cause: error });
    }
    this.log.warn({ ...where, code: result.code }, 'print job failed');
    return result;
  }

  private disconnected(job: string, blockIndex: number, blocksPrinted: number, blockLabel?: string, cause?: unknown): PosError {
    return new PosError('PRN_DISCONNECTED', `${job}: printer port lost at block ${blockIndex}`,
      { job, blockIndex, blockLabel, blocksPrinted, path: this.port.path }, { cause: cause ?? this.portError });
  }

  /** Best effort: a printer that does not answer the clear is left as it is. */
  private async clearPrinterBuffers(): Promise<void> {
    if (this.portError) return;
    this.abortError = undefined;
    const done = new Promise<void>((resolve) => { this.clearWaiter = { matched: 0, resolve }; });
    try {
      await this.port.write(CLEAR_BUFFERS);
      await raceTimeout(this.timers, done, this.o.statusTimeoutMsMax);
    } catch (error) {
      this.log.warn({ err: error }, 'clearing printer buffers failed');
    } finally {
      this.clearWaiter = undefined;
    }
  }

  // ------------------------------------------------------------ status and answers

  private async queryStatus(): Promise<PrinterStatus> {
    if (this.portError) throw this.portError;
    const answers = [0, 1, 2, 3].map(() => this.waitByte(this.realtimeWaiters));
    // Counted while the process runs (runningTimeout): a starved terminal reads the answer first.
    const cancel = runningTimeout(this.timers, () => this.rejectWaiters(this.realtimeWaiters, new PosError('PRN_TIMEOUT',
      `no status answer within ${this.o.statusTimeoutMsMax} ms`, { statusTimeoutMsMax: this.o.statusTimeoutMsMax })),
    this.o.statusTimeoutMsMax);
    try {
      await this.port.write(STATUS_QUERY);
      const [printer, offline, error, paper] = await Promise.all(answers);
      this.answers.emit();
      return decodeStatus(printer, offline, error, paper);
    } finally {
      cancel();
    }
  }

  /**
   * A promise for the printer's next answer byte. It is marked handled at once: when the port is
   * lost, abort() rejects every waiter, possibly before (or instead of) the code that created it
   * awaiting it (a write that failed first), and an unhandled rejection must not escape.
   */
  private waitByte(queue: Waiter[]): Promise<number> {
    const answer = this.abortError ? Promise.reject(this.abortError) : new Promise<number>((resolve, reject) => queue.push({ resolve, reject }));
    answer.catch(() => undefined);
    return answer;
  }

  private receive(chunk: Buffer): void {
    for (const byte of chunk) {
      if (this.clearWaiter && this.matchClearAnswer(byte)) continue;
      // Bit 4 set: a DLE EOT answer. Clear: a GS r answer. Unasked-for bytes are dropped.
      const queue = byte & 0x10 ? this.realtimeWaiters : this.syncWaiters;
      const waiter = queue.shift();
      waiter?.resolve(byte);
      // A GS r answer is one byte, whole: a block confirmed. A status is whole with its fourth (queryStatus).
      if (waiter && queue === this.syncWaiters) this.answers.emit();
    }
  }

  private matchClearAnswer(byte: number): boolean {
    const w = this.clearWaiter as { matched: number; resolve: () => void };
    if (byte !== CLEAR_ANSWER[w.matched]) { w.matched = byte === CLEAR_ANSWER[0] ? 1 : 0; return w.matched === 1; }
    w.matched++;
    if (w.matched === CLEAR_ANSWER.length) { w.resolve(); this.answers.emit(); }
    return true;
  }

  private rejectWaiters(queue: Waiter[], error: PosError): void {
    for (const w of queue.splice(0)) w.reject(error);
  }

  private abort(error: PosError): void {
    this.abortError = error;
    this.rejectWaiters(this.realtimeWaiters, error);
    this.rejectWaiters(this.syncWaiters, error);
  }

  private throwIfAborted(): void {
    if (this.abortError) throw this.abortError;
  }

  private onPortClosed(error?: PosError): void {
    this.portError = error ?? new PosError('PRN_DISCONNECTED', 'printer port closed', { path: this.port.path });
    this.abort(this.portError);
  }
}

/** Decodes DLE EOT 1 (printer), 2 (offline cause), 3 (error cause), 4 (roll paper sensor). */
export function decodeStatus(printer: number, offline: number, error: number, paper: number): PrinterStatus {
  return {
    online: (printer & 0x08) === 0,
    coverOpen: (offline & 0x04) !== 0,
    paperOut: (offline & 0x20) !== 0 || (paper & 0x60) !== 0,
    paperNearEnd: (paper & 0x0c) !== 0,
    fault: (offline & 0x40) !== 0 || (error & 0x68) !== 0,
  };
}

/** The error a status stands for, or undefined if the printer can print. Cover before paper. */
function statusFault(status: PrinterStatus): PosError | undefined {
  if (status.coverOpen) return new PosError('PRN_COVER_OPEN', 'printer cover open', { status });
  if (status.paperOut) return new PosError('PRN_PAPER_OUT', 'printer out of paper', { status });
  if (status.fault) return new PosError('PRN_FAULT', 'printer reports an error', { status });
  if (!status.online) return new PosError('PRN_FAULT', 'printer offline', { status });
  return undefined;
}

/** Resolves with the promise's value, or undefined after `ms` (the promise keeps running). */
function raceTimeout<T>(timers: Timers, promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: unknown;
  const timeout = new Promise<undefined>((resolve) => { timer = timers.setTimeout(() => resolve(undefined), ms); });
  return Promise.race([promise, timeout]).finally(() => timers.clearTimeout(timer));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

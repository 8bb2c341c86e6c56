/**
 * A virtual 2D scan engine on the far end of a serial port, in Honeywell serial trigger mode as
 * hal/drivers/SCAN_ENGINE_PROTOCOL.md describes it. Written from the document, not from the
 * driver (its command parser and line framing are its own), so a misreading on one side fails a
 * test.
 *
 * It "sees" a code only while triggered: a code presented (`present`) is held in front of the
 * window until the next trigger, or decoded after `decodeMs` when a scan is already running. One
 * code is one decode (the customer takes the phone away). While triggered with nothing in view it
 * says "no read" when its read time-out passes, then stops, as the real engine does.
 *
 * Faults for tests: goSilent / wake (a hung engine), garbleNext (noise bytes, an overlong line, a
 * line cut off), sendLate (a decode that crossed the stop command on the wire), and the cable's
 * own disconnect (sim/serial-pair.ts).
 */
import type { SerialPort } from '../hal/serial';

const SYN = 0x16, CR = 0x0d, LF = 0x0a;
const CMD_TRIGGER = 0x54; // 'T'
const CMD_UNTRIGGER = 0x55; // 'U'
/** Bytes of a command being received that we hold before giving up on it (SYN x CR is 3). */
const COMMAND_BYTES_MAX = 8;

/**
 * Demo payment codes (made-up digits in each wallet's shape: length and leading digits). The
 * acquirer simulator's QR test rules (sim/SIMULATION.md, "QR") decide what the host answers: the
 * three wallets are paid at once, `declined` ends 0051 (answer 51), `pending` starts 99 (P1, paid
 * at the first query).
 */
export const DEMO_PAYMENT_CODES: Readonly<Record<string, string>> = {
  /** WeChat Pay: 18 digits starting 10..15. */
  wechat: '134512345678901234',
  /** Alipay: 16..24 digits starting 25..30. */
  alipay: '284512345678901234',
  /** UnionPay QR: 19 digits starting 62. */
  unionpay: '6225123456789012345',
  declined: '134512345678900051',
  pending: '991234567890123456',
};
export const DEMO_PAYMENT_CODE_DEFAULT = 'wechat';

export type ScanGarble = 'noise' | 'overlong' | 'truncated';

export interface VirtualScannerOptions {
  /** The suffix the engine is configured with (bytes after each line). Default CR. */
  readonly suffix?: 'CR' | 'CRLF' | 'LF';
  readonly prefix?: string;
  /** The "no read" line, or false when the engine is configured not to send one. Default "NR". */
  readonly noRead?: string | false;
  /** The engine's read time-out (ms). Default 5000. */
  readonly readTimeoutMs?: number;
  /** Time from a code in view to its data on the wire (ms). Default 20. */
  readonly decodeMs?: number;
  readonly timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
}

export interface ScannerSimStats {
  triggers: number;
  untriggers: number;
  decodes: number;
  noReads: number;
  /** Bytes that were not a known command. */
  junkBytes: number;
}

export class VirtualScanner {
  readonly stats: ScannerSimStats = { triggers: 0, untriggers: 0, decodes: 0, noReads: 0, junkBytes: 0 };
  private triggeredNow = false;
  private held?: string;
  private command: number[] = [];
  private silent = false;
  private garble?: ScanGarble;
  private decodeTimer?: unknown;
  private readTimer?: unknown;
  private triggerWaiters: Array<() => void> = [];
  private readonly suffix: Buffer;
  private readonly prefix: string;
  private readonly noRead: string | false;
  private readonly readTimeoutMs: number;
  private readonly decodeMs: number;
  private readonly timers: NonNullable<VirtualScannerOptions['timers']>;

  constructor(private readonly port: SerialPort, options: VirtualScannerOptions = {}) {
    const suffix = options.suffix ?? 'CR';
    this.suffix = Buffer.from(suffix === 'CR' ? [CR] : suffix === 'LF' ? [LF] : [CR, LF]);
    this.prefix = options.prefix ?? '';
    this.noRead = options.noRead ?? 'NR';
    this.readTimeoutMs = options.readTimeoutMs ?? 5000;
    this.decodeMs = options.decodeMs ?? 20;
    this.timers = options.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    port.onData((chunk) => { if (!this.silent) this.receive(chunk); });
    // Power gone: the illumination goes dark with it.
    port.onClose(() => this.stop());
  }

  // ------------------------------------------------------------ controls

  /** True while the illumination and aimer are on (between a trigger and a read, stop or time-out). */
  get illuminated(): boolean {
    return this.triggeredNow;
  }

  /** The code held in front of the window, not yet decoded. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** Resolves when the engine is next triggered (at once if it is now). */
  triggered(): Promise<void> {
    if (this.triggeredNow) return Promise.resolve();
    return new Promise((resolve) => this.triggerWaiters.push(resolve));
  }

  /**
   * The customer shows a code: decoded now if a scan runs, else held until the next trigger.
   * Returns whether a scan was running.
   */
  present(code: string): boolean {
    this.held = code;
    if (this.triggeredNow) this.scheduleDecode();
    return this.triggeredNow;
  }

  /** The engine sends `code` now, triggered or not: a decode that crossed the stop command. */
  sendLate(code: string): void {
    this.send(this.prefix + code);
  }

  /** Corrupts the next line the engine sends. */
  garbleNext(how: ScanGarble): void {
    this.garble = how;
  }

  /** The engine stops answering anything (hung firmware): no data, no "no read". */
  goSilent(): void {
    this.silent = true;
    this.stop();
  }

  wake(): void {
    this.silent = false;
  }

  // ------------------------------------------------------------ wire

  private receive(chunk: Buffer): void {
    for (const b of chunk) {
      if (this.command.length === 0 && b !== SYN) { this.stats.junkBytes++; continue; }
      this.command.push(b);
      if (b === CR) { this.execute(this.command); this.command = []; continue; }
      if (this.command.length >= COMMAND_BYTES_MAX) { this.stats.junkBytes += this.command.length; this.command = []; }
    }
  }

  private execute(cmd: number[]): void {
    if (cmd.length !== 3) { this.stats.junkBytes += cmd.length; return; }
    if (cmd[1] === CMD_TRIGGER) this.trigger();
    else if (cmd[1] === CMD_UNTRIGGER) { this.stats.untriggers++; this.stop(); }
    else this.stats.junkBytes += cmd.length;
  }

  private trigger(): void {
    this.stats.triggers++;
    this.triggeredNow = true;
    for (const w of this.triggerWaiters.splice(0)) w();
    this.timers.clearTimeout(this.readTimer);
    this.readTimer = this.timers.setTimeout(() => this.readTimedOut(), this.readTimeoutMs);
    if (this.held !== undefined) this.scheduleDecode();
  }

  private scheduleDecode(): void {
    this.timers.clearTimeout(this.decodeTimer);
    this.decodeTimer = this.timers.setTimeout(() => {
      const code = this.held;
      if (!this.triggeredNow || code === undefined) return;
      this.held = undefined;
      this.stats.decodes++;
      this.stop();
      this.send(this.prefix + code);
    }, this.decodeMs);
  }

  private readTimedOut(): void {
    if (!this.triggeredNow) return;
    this.stop();
    if (this.noRead !== false) { this.stats.noReads++; this.send(this.prefix + this.noRead); }
  }

  /** Illumination off; a decode in progress is abandoned (the code stays held). */
  private stop(): void {
    this.triggeredNow = false;
    this.timers.clearTimeout(this.readTimer);
    this.timers.clearTimeout(this.decodeTimer);
  }

  private send(text: string): void {
    if (this.silent || !this.port.isOpen) return;
    let bytes = Buffer.concat([Buffer.from(text, 'latin1'), this.suffix]);
    const how = this.garble;
    this.garble = undefined;
    if (how === 'noise') bytes = Buffer.concat([Buffer.from([0x00, 0xff, 0x1b]), bytes]);
    // Longer than any driver's line maximum (SCAN_LINE_BYTES_MAX is 512).
    if (how === 'overlong') bytes = Buffer.concat([Buffer.alloc(600, 0x39), bytes]);
    if (how === 'truncated') bytes = bytes.subarray(0, Math.max(1, Math.floor((bytes.length - this.suffix.length) / 2)));
    this.port.write(bytes).catch(() => undefined);
  }
}

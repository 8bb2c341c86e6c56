/**
 * Quectel-style 4G module driver (EC20/EC25/EG91 family) over a serial AT port; contract:
 * hal/modem.ts, command set and answers: hal/drivers/QUECTEL_AT.md.
 *
 * One command on the wire at a time, from a bounded queue. Received bytes are cut into lines at
 * CR or LF (empty lines skipped); a line is at most MODEM_LINE_BYTES_MAX printable ASCII bytes, else
 * it is garbled. While a command runs, each line is, in this order: its echo (ATE0 not yet in
 * force), an unsolicited result code (URC: events, never part of an answer), a final result code
 * (OK, ERROR, +CME ERROR: n, +CMS ERROR: n) that ends the command, or an information line of the
 * answer. With no command running a line is a URC or dropped.
 *
 * After a command ends badly (its time limit, a garbled line) the rest of its answer may still be
 * on the wire: before the next command the driver waits until the line has been quiet for
 * RESYNC_QUIET_MS (at most RESYNC_WAIT_MS_MAX), dropping what arrives, so a late OK is never taken
 * as the next command's answer.
 *
 * Nothing the module sends can crash the driver: every malformed answer is NET_MODEM_GARBLED.
 */
import type { Logger } from 'pino';
import { PosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import {
  AccessTech, APN_PATTERN, MODEM_QUEUE_COMMANDS_MAX, Modem, ModemDiagnostics, ModemEvent, ModemIdentity, ModemStatus,
  PIN_PATTERN, RegistrationState, SignalQuality, SimState, csqToBars, csqToDbm,
} from '../modem';
import { Listeners, SerialPort, Unsubscribe } from '../serial';
import { Timers, realTimers } from './timing';

export const CR = 0x0d;
export const LF = 0x0a;
/**
 * Longest line accepted (bytes, terminator excluded). The longest answer we ask for is a
 * +CGDCONT line (APN up to 63 characters, addresses, flags: about 120); 256 bounds what noise
 * can make us hold.
 */
export const MODEM_LINE_BYTES_MAX = 256;
/** Information lines one answer may have (+CGDCONT? lists one per context; modules have ≤ 16). */
export const ANSWER_LINES_MAX = 24;

/**
 * Per-command limits (ms). Quectel documents a maximum response time of 300 ms for most
 * commands, 5 s for AT+CPIN and 180 s for the set/test forms of AT+COPS (we only read it). The
 * limits below add room for a loaded Linux host and a slow UART; a board may lower or raise them.
 */
export const AT_TIMEOUT_MS_DEFAULTS = {
  /** AT, ATE0, AT+CMEE, AT+CREG=, AT+CSQ, AT+QCSQ, AT+CREG?, AT+CGSN, AT+GMR, AT+CGMM, AT+QCCID, AT+CGDCONT. */
  basic: 1000,
  /** AT+CPIN? and AT+CPIN="<pin>" (the SIM answers), AT+QPINC. */
  sim: 5000,
  /** AT+COPS? (the module may be mid-search). */
  operator: 5000,
};
export type AtTimeoutClass = keyof typeof AT_TIMEOUT_MS_DEFAULTS;

/** Quiet on the line before the next command after a failed one (ms). */
export const RESYNC_QUIET_MS = 100;
/** Longest wait for that quiet (a module babbling endlessly does not block the queue forever). */
export const RESYNC_WAIT_MS_MAX = 2000;

/** 27.007 +CME ERROR numbers the driver branches on. */
export const CME = { SIM_NOT_INSERTED: 10, SIM_PIN_REQUIRED: 11, SIM_PUK_REQUIRED: 12, SIM_FAILURE: 13, SIM_BUSY: 14, INCORRECT_PASSWORD: 16 } as const;

export interface QuectelModemOptions {
  readonly timeoutsMs?: Partial<Record<AtTimeoutClass, number>>;
  readonly logger?: Logger;
  /** Timers for every limit (default: the process's). */
  readonly timers?: Timers;
  /** Label in logs and error details (the role). */
  readonly name?: string;
}

type Final = { readonly kind: 'ok' } | { readonly kind: 'error'; readonly cme?: number };

interface Answer {
  readonly lines: readonly string[];
  readonly final: Final;
}

interface Job {
  /** Sent as is, CR appended. */
  readonly text: string;
  /** What logs may show (the PIN masked). */
  readonly logText: string;
  readonly timeoutMs: number;
  readonly lines: string[];
  /** Written to the port: lines now belong to it. */
  sent: boolean;
  /** The caller has its outcome (cancelled): the answer is still awaited, then dropped. */
  callerDone: boolean;
  timer?: unknown;
  offAbort?: () => void;
  resolve(a: Answer): void;
  reject(e: PosError): void;
}

type Counters = { -readonly [K in keyof ModemDiagnostics]: number };

const REG_BY_STAT: Readonly<Record<string, RegistrationState>> = { 0: 'not-registered', 1: 'home', 2: 'searching', 3: 'denied', 4: 'unknown', 5: 'roaming' };
/** Better first: registered on either domain means registered. */
const REG_RANK: readonly RegistrationState[] = ['home', 'roaming', 'searching', 'denied', 'not-registered', 'unknown'];
const TECHS: readonly AccessTech[] = ['GSM', 'WCDMA', 'TDSCDMA', 'LTE', 'CAT-M', 'NBIOT', 'NOSERVICE'];

export class QuectelModem implements Modem {
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly timeouts: Record<AtTimeoutClass, number>;
  private readonly name: string;
  private readonly events = new Listeners<[ModemEvent]>((e) => this.log.error({ err: e }, 'modem: event listener threw'));
  private readonly counters: Counters = { commands: 0, timeouts: 0, urcs: 0, linesGarbled: 0, linesDropped: 0, cancelled: 0 };
  private readonly line = Buffer.alloc(MODEM_LINE_BYTES_MAX);
  private lineLength = 0;
  private overflowBytes = 0;
  private readonly queue: Job[] = [];
  private current?: Job;
  private lastByteAt = -Infinity;
  private resyncNeeded = false;
  /** Echo off and numeric errors set since the module last (re)started. */
  private setup?: Promise<void>;
  private poweredDown = false;
  private portError?: PosError;
  private closed = false;

  constructor(private readonly port: SerialPort, options: QuectelModemOptions = {}) {
    this.log = options.logger ?? silentLogger;
    this.timers = options.timers ?? realTimers;
    this.timeouts = { ...AT_TIMEOUT_MS_DEFAULTS, ...options.timeoutsMs };
    this.name = options.name ?? port.path;
    port.onData((chunk) => this.receive(chunk));
    port.onClose((error) => this.onPortClosed(error));
  }

  // ------------------------------------------------------------ public API

  async check(signal?: AbortSignal): Promise<void> {
    this.setup = undefined;
    await this.ensureSetup(signal);
    await this.run('AT', 'basic', signal);
  }

  async identity(signal?: AbortSignal): Promise<ModemIdentity> {
    await this.ensureSetup(signal);
    const imei = bare(await this.run('AT+CGSN', 'basic', signal), /^\d{15}$/, 'AT+CGSN');
    const firmware = bare(await this.run('AT+GMR', 'basic', signal), /^[\x21-\x7e][\x20-\x7e]{0,63}$/, 'AT+GMR');
    const model = bare(await this.run('AT+CGMM', 'basic', signal), /^[\x21-\x7e][\x20-\x7e]{0,31}$/, 'AT+CGMM');
    return { imei, firmware: firmware.trim(), model: model.trim() };
  }

  async simState(signal?: AbortSignal): Promise<SimState> {
    await this.ensureSetup(signal);
    const a = await this.run('AT+CPIN?', 'sim', signal, { allowError: true });
    if (a.final.kind === 'error') {
      switch (a.final.cme) {
        case CME.SIM_NOT_INSERTED: return 'absent';
        case CME.SIM_PIN_REQUIRED: return 'pin-required';
        case CME.SIM_PUK_REQUIRED: return 'puk-locked';
        case CME.SIM_BUSY: return 'busy';
        case CME.SIM_FAILURE: return 'failure';
        default: throw refused('AT+CPIN?', a.final);
      }
    }
    const [code] = fieldsOf(a, '+CPIN:', 'AT+CPIN?');
    return cpinState(code) ?? garbled('AT+CPIN?', `unknown +CPIN answer "${code}"`);
  }

  async enterPin(pin: string, signal?: AbortSignal): Promise<void> {
    if (!PIN_PATTERN.test(pin)) throw new PosError('OPR_INPUT', 'SIM PIN must be 4 to 8 digits', { field: 'pin' });
    const before = await this.simState(signal);
    if (before === 'ready') return;
    if (before === 'absent' || before === 'failure') throw new PosError('NET_SIM_ABSENT', 'no SIM card to unlock', { sim: before });
    if (before === 'puk-locked') throw new PosError('NET_SIM_PUK', 'SIM locked: PUK required');
    const a = await this.run(`AT+CPIN="${pin}"`, 'sim', signal, { allowError: true, logText: 'AT+CPIN="****"' });
    if (a.final.kind === 'ok') return;
    if (a.final.cme !== CME.INCORRECT_PASSWORD && a.final.cme !== CME.SIM_PUK_REQUIRED) throw refused('AT+CPIN=', a.final);
    const attemptsLeft = await this.pinAttemptsLeft(signal);
    const after = await this.simState(signal);
    if (after === 'puk-locked' || attemptsLeft === 0) throw new PosError('NET_SIM_PUK', 'wrong SIM PIN: SIM now locked, PUK required', { attemptsLeft: 0 });
    throw new PosError('NET_SIM_PIN', `wrong SIM PIN${attemptsLeft === undefined ? '' : `, ${attemptsLeft} attempts left`}`, { attemptsLeft });
  }

  async signal(signal?: AbortSignal): Promise<SignalQuality> {
    await this.ensureSetup(signal);
    const [rssi] = fieldsOf(await this.run('AT+CSQ', 'basic', signal), '+CSQ:', 'AT+CSQ');
    const csq = int(rssi, 'AT+CSQ');
    if (!(csq >= 0 && csq <= 31) && csq !== 99 && !(csq >= 100 && csq <= 199)) garbled('AT+CSQ', `rssi ${csq} out of range`);
    // 100..199 are TD-SCDMA levels in some firmwares: not a 27.007 rssi, read as unknown.
    const known = csq <= 31 ? csq : 99;
    const base: SignalQuality = { csq: known, rssiDbm: csqToDbm(known), bars: csqToBars(known) };
    const q = await this.run('AT+QCSQ', 'basic', signal, { allowError: true });
    if (q.final.kind === 'error') return base;
    const f = fieldsOf(q, '+QCSQ:', 'AT+QCSQ');
    const tech = TECHS.find((t) => t === f[0]);
    if (!tech) garbled('AT+QCSQ', `unknown system mode "${f[0]}"`);
    const rsrp = tech === 'LTE' && f[2] !== undefined ? int(f[2], 'AT+QCSQ') : undefined;
    return { ...base, tech, ...(rsrp !== undefined ? { rsrpDbm: rsrp } : {}) };
  }

  async registration(signal?: AbortSignal): Promise<RegistrationState> {
    await this.ensureSetup(signal);
    const cs = regOf(fieldsOf(await this.run('AT+CREG?', 'basic', signal), '+CREG:', 'AT+CREG?')[1], 'AT+CREG?');
    // A 2G/3G-only module refuses +CEREG: then CREG is all there is.
    const e = await this.run('AT+CEREG?', 'basic', signal, { allowError: true });
    const eps = e.final.kind === 'ok' ? regOf(fieldsOf(e, '+CEREG:', 'AT+CEREG?')[1], 'AT+CEREG?') : 'unknown';
    return REG_RANK[Math.min(REG_RANK.indexOf(cs), REG_RANK.indexOf(eps))];
  }

  async operator(signal?: AbortSignal): Promise<string | undefined> {
    await this.ensureSetup(signal);
    const f = fieldsOf(await this.run('AT+COPS?', 'operator', signal), '+COPS:', 'AT+COPS?');
    return f.length >= 3 && f[2] !== '' ? f[2] : undefined;
  }

  async apn(signal?: AbortSignal): Promise<string> {
    await this.ensureSetup(signal);
    const a = await this.run('AT+CGDCONT?', 'basic', signal);
    for (const l of a.lines) {
      const f = splitFields(l, '+CGDCONT:');
      if (f && f[0] === '1') return f[2] ?? '';
    }
    return '';
  }

  async setApn(apn: string, signal?: AbortSignal): Promise<void> {
    if (!APN_PATTERN.test(apn)) throw new PosError('OPR_INPUT', `APN "${apn}" is not valid (letters, digits, dots, dashes)`, { field: 'apn' });
    await this.ensureSetup(signal);
    await this.run(`AT+CGDCONT=1,"IP","${apn}"`, 'basic', signal);
  }

  async status(signal?: AbortSignal): Promise<ModemStatus> {
    const sim = await this.simState(signal);
    const pinAttemptsLeft = sim === 'pin-required' ? await this.pinAttemptsLeft(signal) : undefined;
    const iccid = sim === 'ready' ? await this.iccid(signal) : undefined;
    const signalQuality = await this.signal(signal);
    const registration = await this.registration(signal);
    const operator = registration === 'home' || registration === 'roaming' ? await this.operator(signal) : undefined;
    const apn = await this.apn(signal);
    return {
      sim, ...(iccid ? { iccid } : {}), ...(pinAttemptsLeft !== undefined ? { pinAttemptsLeft } : {}),
      signal: signalQuality, registration, ...(operator ? { operator } : {}), apn,
    };
  }

  onEvent(listener: (event: ModemEvent) => void): Unsubscribe {
    return this.events.add(listener);
  }

  diagnostics(): ModemDiagnostics {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(this.closedError());
    await this.port.close();
  }

  // ------------------------------------------------------------ commands

  private async pinAttemptsLeft(signal?: AbortSignal): Promise<number | undefined> {
    const a = await this.run('AT+QPINC="SC"', 'sim', signal, { allowError: true });
    if (a.final.kind === 'error') return undefined;
    const f = fieldsOf(a, '+QPINC:', 'AT+QPINC');
    return f[1] === undefined ? undefined : int(f[1], 'AT+QPINC');
  }

  private async iccid(signal?: AbortSignal): Promise<string | undefined> {
    const a = await this.run('AT+QCCID', 'basic', signal, { allowError: true });
    if (a.final.kind === 'error') return undefined;
    const [id] = fieldsOf(a, '+QCCID:', 'AT+QCCID');
    // Some SIMs pad an odd-length ICCID with F.
    if (!/^\d{18,20}F?$/.test(id)) garbled('AT+QCCID', 'ICCID is not 18..20 digits');
    return id.replace(/F$/, '');
  }

  /** Echo off, numeric +CME errors, registration URCs (n=1: "+CREG: <stat>"), once per module start. */
  private ensureSetup(signal?: AbortSignal): Promise<void> {
    if (!this.setup) {
      const setup = (async () => {
        for (const cmd of ['ATE0', 'AT+CMEE=1', 'AT+CREG=1']) await this.run(cmd, 'basic', signal);
        // Optional ones: an older or 3G module refuses them.
        for (const cmd of ['AT+CEREG=1', 'AT+QSIMSTAT=1']) await this.run(cmd, 'basic', signal, { allowError: true });
      })();
      this.setup = setup;
      setup.catch(() => { if (this.setup === setup) this.setup = undefined; });
    }
    return this.setup;
  }

  /**
   * Queues one command. Resolves with its answer; rejects on a limit, a garbled line, the port, a
   * cancel, or (unless `allowError`) ERROR / +CME ERROR.
   */
  private run(text: string, limit: AtTimeoutClass, signal?: AbortSignal, opts: { allowError?: boolean; logText?: string } = {}): Promise<Answer> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    if (signal?.aborted) { this.counters.cancelled++; return Promise.reject(cancelled()); }
    if (this.queue.length >= MODEM_QUEUE_COMMANDS_MAX) {
      return Promise.reject(new PosError('NET_MODEM', `modem ${this.name}: ${MODEM_QUEUE_COMMANDS_MAX} commands already waiting`, { reason: 'busy', queueMax: MODEM_QUEUE_COMMANDS_MAX }));
    }
    return new Promise<Answer>((resolve, reject) => {
      const job: Job = {
        text, logText: opts.logText ?? text, timeoutMs: this.timeouts[limit], lines: [], sent: false, callerDone: false,
        resolve: (a) => {
          if (a.final.kind === 'error' && !opts.allowError) reject(refused(job.logText, a.final));
          else resolve(a);
        },
        reject,
      };
      if (signal) {
        const onAbort = (): void => this.cancel(job);
        signal.addEventListener('abort', onAbort, { once: true });
        job.offAbort = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(job);
      this.pump();
    });
  }

  private cancel(job: Job): void {
    if (job.callerDone) return;
    this.counters.cancelled++;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    // On the wire: the caller is told now; the job stays current until its answer or its limit.
    job.callerDone = true;
    job.offAbort?.();
    job.reject(cancelled());
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return;
    const job = this.queue.shift() as Job;
    this.current = job;
    void this.send(job);
  }

  private async send(job: Job): Promise<void> {
    if (this.resyncNeeded) await this.resync();
    if (this.current !== job) return;
    // Cancelled while waiting for the quiet: never sent (the caller has its OPR_CANCELLED).
    if (job.callerDone) { this.end(job, cancelled()); return; }
    const refusal = this.refusal();
    if (refusal) { this.end(job, refusal); return; }
    this.lineLength = 0;
    this.overflowBytes = 0;
    job.sent = true;
    this.counters.commands++;
    job.timer = this.timers.setTimeout(() => {
      this.counters.timeouts++;
      this.resyncNeeded = true;
      this.log.warn({ modem: this.name, command: job.logText, timeoutMs: job.timeoutMs }, 'modem: no final answer');
      this.end(job, new PosError('NET_MODEM', `modem ${this.name}: no answer to ${job.logText} within ${job.timeoutMs} ms`, { reason: 'timeout', command: job.logText, timeoutMs: job.timeoutMs }));
    }, job.timeoutMs);
    try {
      await this.port.write(Buffer.from(`${job.text}\r`, 'latin1'));
    } catch (e) {
      this.end(job, this.portError ?? new PosError('NET_MODEM', `modem ${this.name}: write failed`, { reason: 'disconnected' }, { cause: e }));
    }
  }

  /** Waits for RESYNC_QUIET_MS without a byte (at most RESYNC_WAIT_MS_MAX); what arrives is dropped. */
  private async resync(): Promise<void> {
    const start = this.timers.now();
    for (;;) {
      const quietFor = this.timers.now() - this.lastByteAt;
      const left = RESYNC_WAIT_MS_MAX - (this.timers.now() - start);
      if (quietFor >= RESYNC_QUIET_MS || left <= 0) break;
      await new Promise<void>((r) => this.timers.setTimeout(r, Math.min(RESYNC_QUIET_MS - quietFor, left)));
    }
    this.resyncNeeded = false;
  }

  /** Ends the current job once, then sends the next. */
  private end(job: Job, outcome: Answer | PosError): void {
    if (this.current !== job) return;
    this.current = undefined;
    this.timers.clearTimeout(job.timer);
    job.offAbort?.();
    if (!job.callerDone) {
      job.callerDone = true;
      if (outcome instanceof PosError) job.reject(outcome);
      else job.resolve(outcome);
    }
    this.pump();
  }

  // ------------------------------------------------------------ receiving

  private receive(chunk: Buffer): void {
    this.lastByteAt = this.timers.now();
    for (const b of chunk) {
      if (b === CR || b === LF) { this.takeLine(); continue; }
      if (this.lineLength < this.line.length) this.line[this.lineLength++] = b;
      else this.overflowBytes++;
    }
  }

  private takeLine(): void {
    const length = this.lineLength;
    const overflow = this.overflowBytes;
    this.lineLength = 0;
    this.overflowBytes = 0;
    if (length === 0 && overflow === 0) return;
    const raw = this.line.subarray(0, length);
    if (overflow > 0) { this.onGarbled('overlong', length + overflow); return; }
    for (const c of raw) if (c < 0x20 || c > 0x7e) { this.onGarbled('bytes', length); return; }
    this.onLine(raw.toString('latin1'));
  }

  private onGarbled(reason: 'overlong' | 'bytes', bytes: number): void {
    this.counters.linesGarbled++;
    this.resyncNeeded = true;
    const job = this.current?.sent ? this.current : undefined;
    this.log.warn({ modem: this.name, reason, bytes, command: job?.logText }, 'modem: garbled line');
    if (job) {
      this.end(job, new PosError('NET_MODEM_GARBLED', `modem ${this.name}: garbled line (${reason}, ${bytes} bytes) answering ${job.logText}`, { reason, bytes, command: job.logText, lineBytesMax: MODEM_LINE_BYTES_MAX }));
    }
  }

  private onLine(text: string): void {
    const job = this.current?.sent ? this.current : undefined;
    // The echo of the command itself (echo still on before ATE0 takes effect, or after a restart).
    if (job && text === job.text) return;
    if (this.urc(text, job)) return;
    if (!job) {
      this.counters.linesDropped++;
      this.log.debug({ modem: this.name, bytes: text.length }, 'modem: line with no command running: dropped');
      return;
    }
    const final = finalOf(text);
    if (final) { this.end(job, { lines: job.lines, final }); return; }
    if (job.lines.length >= ANSWER_LINES_MAX) {
      this.resyncNeeded = true;
      this.counters.linesGarbled++;
      this.end(job, new PosError('NET_MODEM_GARBLED', `modem ${this.name}: more than ${ANSWER_LINES_MAX} lines answering ${job.logText}`, { reason: 'overlong-answer', command: job.logText }));
      return;
    }
    job.lines.push(text);
  }

  /** Handles `text` if it is an unsolicited result code; false when it is not one. */
  private urc(text: string, job: Job | undefined): boolean {
    const event = urcOf(text, job?.text);
    if (event === undefined) return false;
    this.counters.urcs++;
    if (event === null) return true;
    if (event.type === 'powered-down') this.onPoweredDown();
    if (event.type === 'ready') { this.poweredDown = false; this.setup = undefined; }
    this.log.info({ modem: this.name, event }, 'modem: unsolicited');
    this.events.emit(event);
    return true;
  }

  private onPoweredDown(): void {
    this.poweredDown = true;
    this.setup = undefined;
    this.failAll(new PosError('NET_MODEM', `modem ${this.name}: module powered down`, { reason: 'powered-down' }));
  }

  private onPortClosed(error?: PosError): void {
    if (this.closed) return;
    this.portError = new PosError('NET_MODEM', `modem ${this.name}: port lost (${error?.message ?? 'closed'})`, { reason: 'disconnected', path: this.port.path }, { cause: error });
    this.failAll(this.portError);
  }

  private failAll(error: PosError): void {
    for (const job of this.queue.splice(0)) { job.offAbort?.(); if (!job.callerDone) { job.callerDone = true; job.reject(error); } }
    if (this.current) this.end(this.current, error);
  }

  private refusal(): PosError | undefined {
    if (this.closed) return this.closedError();
    if (this.portError) return this.portError;
    if (this.poweredDown) return new PosError('NET_MODEM', `modem ${this.name}: module powered down`, { reason: 'powered-down' });
    return undefined;
  }

  private closedError(): PosError {
    return new PosError('NET_MODEM', `modem ${this.name}: driver closed`, { reason: 'closed' });
  }
}

// ---------------------------------------------------------------- parsing (pure)

function cancelled(): PosError {
  return new PosError('OPR_CANCELLED', 'modem command cancelled');
}

function refused(command: string, final: Final): PosError {
  const cme = final.kind === 'error' ? final.cme : undefined;
  return new PosError('NET_MODEM_REFUSED', `modem refused ${command}${cme === undefined ? ' (ERROR)' : ` (+CME ERROR: ${cme})`}`, { command, ...(cme !== undefined ? { cme } : {}) });
}

function garbled(command: string, why: string): never {
  throw new PosError('NET_MODEM_GARBLED', `modem answer to ${command} not understood: ${why}`, { command, reason: 'answer' });
}

/** OK, ERROR, +CME ERROR: n, +CMS ERROR: n (a verbose, non-numeric error gives cme -1). */
export function finalOf(text: string): Final | undefined {
  if (text === 'OK') return { kind: 'ok' };
  if (text === 'ERROR') return { kind: 'error' };
  const m = /^\+CM[ES] ERROR: ?(.*)$/.exec(text);
  if (!m) return undefined;
  return { kind: 'error', cme: /^\d{1,4}$/.test(m[1]) ? Number(m[1]) : -1 };
}

/**
 * A URC's event; null for a URC we know and ignore (+QIND, +QSIMSTAT with detection off);
 * undefined when `text` is no URC. `running` is the command on the wire: its own answer line
 * (e.g. "+CPIN: READY" to AT+CPIN?) is not a URC.
 */
export function urcOf(text: string, running?: string): ModemEvent | null | undefined {
  if (text === 'RDY') return { type: 'ready' };
  if (text === 'POWERED DOWN') return { type: 'powered-down' };
  // With n=1 the URC has one field ("+CREG: 1"); the answer to AT+CREG? has two ("+CREG: 1,1").
  const reg = /^\+(C|CE)REG: ?(\d+)$/.exec(text);
  if (reg) {
    const state = REG_BY_STAT[reg[2]];
    return state ? { type: 'registration', domain: reg[1] === 'C' ? 'cs' : 'eps', state } : null;
  }
  if (text.startsWith('+CPIN:') && !running?.startsWith('AT+CPIN')) {
    const state = cpinState(text.slice(6).trim());
    return { type: 'sim', state: state ?? 'failure' };
  }
  if (text.startsWith('+QSIMSTAT:') && !running?.startsWith('AT+QSIMSTAT')) {
    const f = splitFields(text, '+QSIMSTAT:');
    return f?.[1] === '0' ? { type: 'sim', state: 'absent' } : null;
  }
  if (text.startsWith('+QIND:') || text.startsWith('+QUSIM:')) return null;
  return undefined;
}

/** +CPIN: answers; "NOT READY" is Quectel's removal URC. */
function cpinState(code: string): SimState | undefined {
  switch (code) {
    case 'READY': return 'ready';
    case 'SIM PIN': case 'SIM PIN2': return 'pin-required';
    case 'SIM PUK': case 'SIM PUK2': return 'puk-locked';
    case 'NOT READY': case 'NOT INSERTED': return 'absent';
    default: return undefined;
  }
}

/** Splits "+X: a,"b,c",d" into ["a", "b,c", "d"]; undefined when the prefix differs or a quote is open. */
export function splitFields(text: string, prefix: string): string[] | undefined {
  if (!text.startsWith(prefix)) return undefined;
  const body = text.slice(prefix.length).trim();
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of body) {
    if (ch === '"') { quoted = !quoted; continue; }
    if (ch === ',' && !quoted) { out.push(cur.trim()); cur = ''; continue; }
    cur += ch;
  }
  if (quoted) return undefined;
  out.push(cur.trim());
  return out;
}

/**
 * The fields of the answer's LAST line with `prefix`; garbled if it has none. The last: a URC of
 * the same form that was already on its way when the command went out (a "+CPIN: READY" before
 * the answer "+CPIN: SIM PIN") comes before the module's answer, which is sent just before the
 * final result code.
 */
function fieldsOf(a: Answer, prefix: string, command: string): string[] {
  for (let i = a.lines.length - 1; i >= 0; i--) {
    const f = splitFields(a.lines[i], prefix);
    if (f) return f;
  }
  return garbled(command, `no ${prefix} line`);
}

/** The answer's one bare information line (AT+CGSN, AT+GMR), matching `pattern`. */
function bare(a: Answer, pattern: RegExp, command: string): string {
  const l = a.lines.find((x) => pattern.test(x));
  return l ?? garbled(command, 'no answer line of the expected form');
}

function int(text: string, command: string): number {
  if (!/^-?\d{1,6}$/.test(text)) garbled(command, `"${text.slice(0, 16)}" is not a number`);
  return Number(text);
}

function regOf(stat: string | undefined, command: string): RegistrationState {
  const s = stat === undefined ? undefined : REG_BY_STAT[stat];
  return s ?? garbled(command, `registration status "${String(stat).slice(0, 8)}"`);
}

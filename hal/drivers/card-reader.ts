/**
 * Card reader driver speaking the framed protocol of CARD_READER_PROTOCOL.md (contract:
 * hal/card-reader.ts).
 *
 * Link layer: stop-and-wait. One frame of ours is outstanding at a time; it is resent on NAK or
 * when no ACK comes within `ackTimeoutMsMax`, at most `retryCountMax` times. Frames from the
 * reader are ACKed once their checks pass, NAKed (and counted) otherwise; a frame repeating the
 * last sequence number is re-ACKed and not delivered twice.
 *
 * Never logs card data (DESIGN.md rule 8): only types, lengths, counters and status codes.
 */
import type { Logger } from 'pino';
import { ErrorId, PosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import { readerLinkFault } from '../card-reader';
import type { CardEvent, CardReader, CardSlot, CardSource, ReaderDiagnostics, ReaderInfo } from '../card-reader';
import { Listeners, SerialPort } from '../serial';
import { FrameParser, LinkItem, PAYLOAD_BYTES_MAX, encodeAck, encodeFrame, encodeNak } from './card-reader-frame';
import { Timers, runningTimeout, starvableTimers } from './timing';

/** Message types (see the protocol document). Responses are the command type | 0x80. */
export const MSG = {
  INFO: 0x01, DETECT_START: 0x02, DETECT_STOP: 0x03,
  IC_POWER_ON: 0x10, IC_APDU: 0x11, IC_POWER_OFF: 0x12,
  CL_APDU: 0x20, CL_RELEASE: 0x21,
  EVT_SWIPE: 0x40, EVT_IC_INSERTED: 0x41, EVT_IC_REMOVED: 0x42, EVT_CL_TAPPED: 0x43, EVT_CL_REMOVED: 0x44,
  RESPONSE: 0x80,
} as const;

/** First payload byte of every response. */
export const STATUS = { OK: 0, NO_CARD: 1, CARD_REMOVED: 2, CARD_MUTE: 3, BAD_COMMAND: 4, BAD_STATE: 5 } as const;

export const SOURCE_BITS: Record<CardSource, number> = { swipe: 0x01, insert: 0x02, tap: 0x04 };

export interface FramedCardReaderOptions {
  /** Wait for the ACK of one frame before resending it (ms). */
  readonly ackTimeoutMsMax?: number;
  /** Resends of one frame after a NAK or a missing ACK. */
  readonly retryCountMax?: number;
  /** Wait for the answer to a reader command (INFO, DETECT, POWER) after its ACK (ms). */
  readonly responseTimeoutMsMax?: number;
  /** Wait for an APDU answer: cards are slow (ms). */
  readonly apduTimeoutMsMax?: number;
  /** A frame whose bytes stop arriving for this long is dropped and NAKed (ms). */
  readonly interByteTimeoutMsMax?: number;
  /** Card events kept for `waitForCard` callers that have not asked yet. */
  readonly eventQueueMax?: number;
  /**
   * While a card is awaited the reader is asked INFO this often (ms): a reader that stops answering
   * mid-wait is told as E-RDR-03 (E-RDR-04 when its port is gone) within this plus the link's
   * retries, not as "no card presented" when the caller's limit ends.
   */
  readonly livenessPollMs?: number;
  readonly logger?: Logger;
  /** Timers for every timeout (default: the process's; the day simulation passes its virtual clock). */
  readonly timers?: Timers;
}

const DEFAULTS = {
  ackTimeoutMsMax: 200,
  retryCountMax: 3,
  responseTimeoutMsMax: 1000,
  apduTimeoutMsMax: 5000,
  interByteTimeoutMsMax: 100,
  eventQueueMax: 8,
  // A customer waits at most this plus ACK 200 ms × 4 and the answer's 1 s to hear that the reader
  // is dead; an INFO exchange is 16 bytes on the line, nothing beside a 60 s card wait.
  livenessPollMs: 2000,
};

type Pending<T> = { resolve: (value: T) => void; reject: (error: PosError) => void };

interface Counters {
  framesRejected: number; naksSent: number; naksReceived: number; retransmits: number;
  timeouts: number; unreadableSwipes: number; unreadableChips: number;
}

export class FramedCardReader implements CardReader {
  private readonly o: typeof DEFAULTS;
  private readonly log: Logger;
  private readonly parser = new FrameParser();
  private readonly events = new Listeners<[CardEvent]>();
  private readonly answers = new Listeners<[]>();
  private readonly counters: Counters = { framesRejected: 0, naksSent: 0, naksReceived: 0, retransmits: 0, timeouts: 0, unreadableSwipes: 0, unreadableChips: 0 };
  private txSeq = 0;
  private lastRxSeq = -1;
  /** The frame of ours waiting for its ACK. */
  private awaitingAck?: { seq: number } & Pending<'ack' | 'nak'>;
  /** The command waiting for its response. */
  private awaitingResponse?: { type: number } & Pending<Buffer>;
  /** Serialises our frames: one command at a time. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Cancels the pending inter-byte timeout (runningTimeout). */
  private cancelInterByte = (): void => undefined;
  private cardWaiters: Array<Pending<CardEvent>> = [];
  private readonly closeError = (): PosError => this.portError ?? new PosError('RDR_DISCONNECTED', 'card reader closed');
  private portError?: PosError;
  private closed = false;
  private readonly timers: Timers;

  constructor(private readonly port: SerialPort, options: FramedCardReaderOptions = {}) {
    const { logger, timers, ...rest } = options;
    this.o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    this.log = logger ?? silentLogger;
    this.timers = timers ?? starvableTimers;
    port.onData((chunk) => this.receive(chunk));
    port.onClose((error) => this.onPortClosed(error));
  }

  // ------------------------------------------------------------ public API

  async selfTest(): Promise<ReaderInfo> {
    const data = await this.command(MSG.INFO, Buffer.alloc(0), this.o.responseTimeoutMsMax);
    const sources = (Object.keys(SOURCE_BITS) as CardSource[]).filter((s) => (data[0] ?? 0) & SOURCE_BITS[s]);
    return { firmware: data.subarray(1).toString('latin1'), sources };
  }

  async startDetection(sources: readonly CardSource[]): Promise<void> {
    const bits = sources.reduce((acc, s) => acc | SOURCE_BITS[s], 0);
    await this.command(MSG.DETECT_START, Buffer.from([bits]), this.o.responseTimeoutMsMax);
  }

  async stopDetection(): Promise<void> {
    await this.command(MSG.DETECT_STOP, Buffer.alloc(0), this.o.responseTimeoutMsMax);
  }

  onEvent(listener: (event: CardEvent) => void): () => void {
    return this.events.add(listener);
  }

  async waitForCard(sources: readonly CardSource[], timeoutMs: number): Promise<CardEvent> {
    const card = new Promise<CardEvent>((resolve, reject) => this.cardWaiters.push({ resolve, reject }));
    const waiter = this.cardWaiters[this.cardWaiters.length - 1];
    const waiting = (): boolean => this.cardWaiters.includes(waiter);
    card.catch(() => undefined);
    // The caller's limit covers starting detection too. "No card" is said only by a reader that
    // answers the stop: one that does not is E-RDR-03 or 04, never the customer's fault.
    const timer = this.timers.setTimeout(() => {
      this.dropCardWaiter(waiter);
      const noCard = new PosError('RDR_NO_CARD', `no card within ${timeoutMs} ms`, { timeoutMs });
      this.stopDetection().then(() => waiter.reject(noCard), (e: unknown) => {
        this.log.warn({ err: e }, 'stop detection failed');
        waiter.reject(readerLinkFault(e) ?? noCard);
      });
    }, timeoutMs);
    // Liveness: INFO every livenessPollMs while nothing came. A reader that does not answer ends
    // the wait with the link's error; any answer, even a refusal, shows it is alive.
    let poll: unknown;
    const schedulePoll = (): void => {
      poll = this.timers.setTimeout(() => {
        if (!waiting()) return;
        this.command(MSG.INFO, Buffer.alloc(0), this.o.responseTimeoutMsMax).then(() => { if (waiting()) schedulePoll(); }, (e: unknown) => {
          if (!waiting()) return;
          const silence = readerLinkFault(e);
          if (!silence) { schedulePoll(); return; }
          this.log.warn({ code: silence.code }, 'card reader stopped answering during the card wait');
          this.dropCardWaiter(waiter);
          waiter.reject(silence);
        });
      }, this.o.livenessPollMs);
    };
    try {
      await this.startDetection(sources);
    } catch (error) {
      this.timers.clearTimeout(timer);
      this.dropCardWaiter(waiter);
      throw error;
    }
    if (waiting()) schedulePoll();
    return card.finally(() => { this.timers.clearTimeout(timer); this.timers.clearTimeout(poll); });
  }

  async transmit(slot: CardSlot, apdu: Uint8Array): Promise<Buffer> {
    if (apdu.length > PAYLOAD_BYTES_MAX) throw new PosError('RDR_FAULT', `APDU too long: ${apdu.length} bytes`, { slot, apduBytes: apdu.length });
    return this.command(slot === 'contact' ? MSG.IC_APDU : MSG.CL_APDU, Buffer.from(apdu), this.o.apduTimeoutMsMax);
  }

  async release(slot: CardSlot): Promise<void> {
    await this.command(slot === 'contact' ? MSG.IC_POWER_OFF : MSG.CL_RELEASE, Buffer.alloc(0), this.o.responseTimeoutMsMax);
  }

  diagnostics(): ReaderDiagnostics {
    return { ...this.counters, bytesDiscarded: this.parser.bytesDiscarded };
  }

  onAnswer(listener: () => void): () => void {
    return this.answers.add(listener);
  }

  cancel(): void {
    const error = new PosError('OPR_CANCELLED', 'card reading cancelled');
    this.failPending(error);
    if (!this.closed && !this.portError) this.stopDetection().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.cancel();
    await this.release('contact').catch(() => undefined);
    this.closed = true;
    this.failPending(this.closeError());
    this.cancelInterByte();
    await this.port.close();
  }

  // ------------------------------------------------------------ commands and link layer

  /** Sends a command and resolves with its response data (after the status byte). */
  private command(type: number, payload: Buffer, responseTimeoutMs: number): Promise<Buffer> {
    const run = this.lock.then(() => this.exchange(type, payload, responseTimeoutMs));
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async exchange(type: number, payload: Buffer, responseTimeoutMs: number): Promise<Buffer> {
    if (this.closed || this.portError) throw this.closeError();
    const rejectedBefore = this.counters.framesRejected;
    const response = new Promise<Buffer>((resolve, reject) => { this.awaitingResponse = { type: type | MSG.RESPONSE, resolve, reject }; });
    response.catch(() => undefined);
    try {
      await this.sendReliably(type, payload);
      const answer = await this.withTimeout(response, responseTimeoutMs, () => this.silentError(type, rejectedBefore, 'response'));
      return this.checkStatus(type, answer ?? Buffer.alloc(0));
    } finally {
      this.awaitingResponse = undefined;
    }
  }

  /** Sends one frame until it is ACKed, resending on NAK or silence, at most retryCountMax times. */
  private async sendReliably(type: number, payload: Buffer): Promise<void> {
    const seq = this.txSeq;
    this.txSeq = (this.txSeq + 1) & 0xff;
    const frame = encodeFrame(type, seq, payload);
    let naks = 0;
    for (let attempt = 0; attempt <= this.o.retryCountMax; attempt++) {
      if (attempt > 0) this.counters.retransmits++;
      const acked = new Promise<'ack' | 'nak'>((resolve, reject) => { this.awaitingAck = { seq, resolve, reject }; });
      acked.catch(() => undefined);
      await this.port.write(frame).catch((e: unknown) => {
        throw this.portError ?? new PosError('RDR_DISCONNECTED', `card reader write failed: ${this.port.path}`, { path: this.port.path }, { cause: e });
      });
      const result = await this.withTimeout(acked, this.o.ackTimeoutMsMax, () => undefined);
      this.awaitingAck = undefined;
      if (result === 'ack') return;
      if (result === 'nak') { naks++; continue; }
      this.counters.timeouts++;
    }
    throw naks > 0
      ? new PosError('RDR_FAULT', `reader rejected frame type ${hex(type)} ${naks} times`, { type, naks, retryCountMax: this.o.retryCountMax })
      : new PosError('RDR_TIMEOUT', `reader did not acknowledge frame type ${hex(type)}`, { type, ackTimeoutMsMax: this.o.ackTimeoutMsMax, retryCountMax: this.o.retryCountMax });
  }

  private silentError(type: number, rejectedBefore: number, what: string): PosError {
    this.counters.timeouts++;
    const garbled = this.counters.framesRejected - rejectedBefore;
    return garbled > 0
      ? new PosError('RDR_FAULT', `no valid ${what} to ${hex(type)}: ${garbled} garbled frames`, { type, garbled })
      : new PosError('RDR_TIMEOUT', `no ${what} to ${hex(type)}`, { type });
  }

  private checkStatus(type: number, answer: Buffer): Buffer {
    const status = answer[0];
    if (status === STATUS.OK) return answer.subarray(1);
    const ids: Record<number, ErrorId> = {
      [STATUS.NO_CARD]: 'RDR_UNREADABLE', [STATUS.CARD_REMOVED]: 'RDR_CARD_REMOVED', [STATUS.CARD_MUTE]: 'RDR_UNREADABLE',
    };
    const id = ids[status] ?? 'RDR_FAULT';
    throw new PosError(id, `reader status ${status} for ${hex(type)}`, { type, status });
  }

  /**
   * Resolves with the promise, or with `onTimeout()` (thrown if it is an error) after `ms` of the
   * process's running time (runningTimeout: a starved terminal reads the reader's answer first;
   * seen: E-RDR-03 at the self-test in the loaded TCG guest).
   */
  private withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => PosError | undefined): Promise<T | undefined> {
    let cancel = (): void => undefined;
    const timeout = new Promise<undefined>((resolve, reject) => {
      cancel = runningTimeout(this.timers, () => { const e = onTimeout(); if (e) reject(e); else resolve(undefined); }, ms);
    });
    return Promise.race([promise, timeout]).finally(() => cancel()) as Promise<T | undefined>;
  }

  // ------------------------------------------------------------ receiving

  private receive(chunk: Buffer): void {
    this.handleItems(this.parser.push(chunk));
    this.cancelInterByte();
    if (this.parser.pending) {
      this.cancelInterByte = runningTimeout(this.timers, () => this.handleItems(this.parser.expire()), this.o.interByteTimeoutMsMax);
    }
  }

  private handleItems(items: LinkItem[]): void {
    for (const item of items) {
      if (item.kind === 'ack' || item.kind === 'nak') this.onLinkControl(item.kind, item.seq);
      else if (item.kind === 'rejected') this.onRejected(item.reason, item.seq);
      else this.onFrame(item.frame.type, item.frame.seq, item.frame.payload);
    }
  }

  private onLinkControl(kind: 'ack' | 'nak', seq: number): void {
    const waiting = this.awaitingAck;
    if (kind === 'nak') this.counters.naksReceived++;
    // A NAK may carry a garbled sequence number: any NAK means "resend what you have".
    if (!waiting || (kind === 'ack' && seq !== waiting.seq)) return;
    this.awaitingAck = undefined;
    waiting.resolve(kind);
  }

  private onRejected(reason: string, seq: number | undefined): void {
    this.counters.framesRejected++;
    this.counters.naksSent++;
    this.log.debug({ reason }, 'reader frame rejected');
    this.sendLink(encodeNak(seq ?? 0));
  }

  private onFrame(type: number, seq: number, payload: Buffer): void {
    this.sendLink(encodeAck(seq));
    // A whole frame passed its checks: the reader is alive (a repeat too: it resent what it had).
    this.answers.emit();
    if (seq === this.lastRxSeq) return;
    this.lastRxSeq = seq;
    if (type & MSG.RESPONSE) {
      const waiting = this.awaitingResponse;
      if (waiting && waiting.type === type) { this.awaitingResponse = undefined; waiting.resolve(payload); }
      return;
    }
    this.onReaderEvent(type, payload);
  }

  private sendLink(bytes: Buffer): void {
    if (this.closed || this.portError) return;
    this.port.write(bytes).catch((e: unknown) => this.log.warn({ err: e }, 'link write failed'));
  }

  // ------------------------------------------------------------ card events

  private onReaderEvent(type: number, payload: Buffer): void {
    switch (type) {
      case MSG.EVT_SWIPE: this.emitCard(this.decodeSwipe(payload)); break;
      case MSG.EVT_IC_INSERTED: void this.powerOnInserted(); break;
      case MSG.EVT_IC_REMOVED: this.events.emit({ type: 'removed', slot: 'contact' }); break;
      case MSG.EVT_CL_TAPPED: this.emitCard(decodeTap(payload)); break;
      case MSG.EVT_CL_REMOVED: this.events.emit({ type: 'removed', slot: 'contactless' }); break;
      default: this.log.warn({ type }, 'unknown reader event');
    }
  }

  private decodeSwipe(payload: Buffer): CardEvent {
    const fields = readLengthPrefixed(payload.subarray(1), 2);
    const track2 = fields?.[0].toString('latin1') ?? '';
    if (payload[0] !== 0 || !fields || !/^\d{12,19}=\d{4,}$/.test(track2)) {
      this.counters.unreadableSwipes++;
      return { type: 'read-failed', source: 'swipe', error: new PosError('RDR_UNREADABLE', 'swipe not readable', { source: 'swipe' }) };
    }
    const track3 = fields[1].length ? fields[1].toString('latin1') : undefined;
    return { type: 'swiped', track2, track3 };
  }

  /** An inserted chip is powered at once: the event the runtime sees carries the ATR. */
  private async powerOnInserted(): Promise<void> {
    try {
      const atr = await this.command(MSG.IC_POWER_ON, Buffer.alloc(0), this.o.responseTimeoutMsMax);
      this.emitCard({ type: 'inserted', atr });
    } catch (error) {
      this.counters.unreadableChips++;
      const e = error instanceof PosError ? error : new PosError('RDR_FAULT', 'power on failed', {}, { cause: error });
      this.emitCard({ type: 'read-failed', source: 'insert', error: e });
    }
  }

  private emitCard(event: CardEvent): void {
    this.cardWaiters.shift()?.resolve(event);
    this.events.emit(event);
  }

  private dropCardWaiter(waiter: Pending<CardEvent>): void {
    this.cardWaiters = this.cardWaiters.filter((w) => w !== waiter);
  }

  private failPending(error: PosError): void {
    this.awaitingAck?.reject(error);
    this.awaitingAck = undefined;
    this.awaitingResponse?.reject(error);
    this.awaitingResponse = undefined;
    for (const w of this.cardWaiters.splice(0)) w.reject(error);
  }

  private onPortClosed(error?: PosError): void {
    if (this.closed) return;
    this.portError = new PosError('RDR_DISCONNECTED', `card reader port lost: ${this.port.path}`, { path: this.port.path }, { cause: error });
    this.failPending(this.portError);
  }
}

function decodeTap(payload: Buffer): CardEvent {
  const fields = readLengthPrefixed(payload, 2);
  if (!fields) return { type: 'read-failed', source: 'tap', error: new PosError('RDR_UNREADABLE', 'tap not readable', { source: 'tap' }) };
  return { type: 'tapped', uid: fields[0], ats: fields[1] };
}

/** Reads `count` fields of [length byte][bytes]; undefined if the payload is short. */
function readLengthPrefixed(payload: Buffer, count: number): Buffer[] | undefined {
  const fields: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const len = payload[at];
    if (len === undefined || at + 1 + len > payload.length) return undefined;
    fields.push(Buffer.from(payload.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  return fields;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

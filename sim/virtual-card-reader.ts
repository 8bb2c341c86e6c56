/**
 * A virtual card reader on the far end of a serial port, speaking the framed protocol of
 * hal/drivers/CARD_READER_PROTOCOL.md. Its frame codec is its own (written from the document,
 * not imported from the driver), so a codec bug on one side shows up as a failed test.
 *
 * Controls for tests and the front panel: swipe / swipeBad, insert / removeCard, tap / takeAway,
 * garbleNextFrame (bad CRC, truncated, noise before it, bad length), goSilent / wake, and
 * removeDuringNextApdu (the customer pulls the card mid-exchange); a card model may pull itself
 * at a given command (ChipCard.pullsOn, sim/emv-card.ts).
 */
import type { SerialPort } from '../hal/serial';
import type { ChipCard, MagCard } from './test-cards';

const STX = 0x02, ETX = 0x03, ACK = 0x06, NAK = 0x15;
const T = {
  INFO: 0x01, DETECT_START: 0x02, DETECT_STOP: 0x03, IC_POWER_ON: 0x10, IC_APDU: 0x11, IC_POWER_OFF: 0x12,
  CL_APDU: 0x20, CL_RELEASE: 0x21, EVT_SWIPE: 0x40, EVT_IC_INSERTED: 0x41, EVT_IC_REMOVED: 0x42,
  EVT_CL_TAPPED: 0x43, EVT_CL_REMOVED: 0x44,
};
const ST = { OK: 0, NO_CARD: 1, CARD_REMOVED: 2, CARD_MUTE: 3, BAD_COMMAND: 4, BAD_STATE: 5 };
const SRC = { swipe: 1, insert: 2, tap: 4 };
const LEN_MAX = 302;

export type Garble = 'crc' | 'truncate' | 'noise' | 'length';

export interface VirtualCardReaderOptions {
  readonly firmware?: string;
  /** Resend our frame if the host has not ACKed it within this (ms). */
  readonly ackTimeoutMs?: number;
  readonly retryCountMax?: number;
  /** Timers for the ACK timeout (default: the process's; the day simulation passes its virtual clock). */
  readonly timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
}

/** CRC-16/CCITT-FALSE, table-free, written out again on purpose (see file comment). */
function crc(bytes: Uint8Array): number {
  let c = 0xffff;
  for (const byte of bytes) {
    c ^= byte << 8;
    for (let i = 0; i < 8; i++) c = (c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1) & 0xffff;
  }
  return c;
}

function frame(type: number, seq: number, payload: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([(payload.length + 2) >> 8, (payload.length + 2) & 0xff, type, seq]), payload]);
  const c = crc(body);
  return Buffer.concat([Buffer.from([STX]), body, Buffer.from([c >> 8, c & 0xff, ETX])]);
}

export interface ReaderSimStats {
  framesReceived: number;
  badFramesReceived: number;
  naksSent: number;
  naksReceived: number;
  retransmits: number;
  commands: number[];
}

export class VirtualCardReader {
  readonly stats: ReaderSimStats = { framesReceived: 0, badFramesReceived: 0, naksSent: 0, naksReceived: 0, retransmits: 0, commands: [] };
  detecting = 0;
  private rx = Buffer.alloc(0);
  private txSeq = 0;
  private lastRxSeq = -1;
  private outbox: Buffer[] = [];
  private inFlight?: { bytes: Buffer; seq: number; tries: number; timer?: unknown };
  private garble?: Garble;
  private silent = false;
  private contact?: ChipCard;
  private powered = false;
  private field?: ChipCard;
  private pullCardOnApdu = false;
  private detectionWaiters: Array<() => void> = [];
  private readonly ackTimeoutMs: number;
  private readonly retryCountMax: number;
  private readonly firmware: string;
  private readonly timers: NonNullable<VirtualCardReaderOptions['timers']>;

  constructor(private readonly port: SerialPort, options: VirtualCardReaderOptions = {}) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? 150;
    this.retryCountMax = options.retryCountMax ?? 3;
    this.firmware = options.firmware ?? 'VCR-1.0';
    this.timers = options.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    port.onData((chunk) => { if (!this.silent) this.receive(chunk); });
    port.onClose(() => { this.timers.clearTimeout(this.inFlight?.timer); });
  }

  // ------------------------------------------------------------ controls

  /** Resolves when the host next enables detection (tests present a card after that). */
  detectionStarted(): Promise<void> {
    if (this.detecting) return Promise.resolve();
    return new Promise((resolve) => this.detectionWaiters.push(resolve));
  }

  swipe(card: MagCard): void {
    if (!(this.detecting & SRC.swipe)) return;
    const t2 = Buffer.from(card.track2, 'latin1');
    const t3 = Buffer.from(card.track3 ?? '', 'latin1');
    this.cardEvent(T.EVT_SWIPE, Buffer.concat([Buffer.from([0, t2.length]), t2, Buffer.from([t3.length]), t3]));
  }

  /** A swipe the head could not decode (worn stripe, swiped too fast). */
  swipeBad(): void {
    if (this.detecting & SRC.swipe) this.cardEvent(T.EVT_SWIPE, Buffer.from([1, 0, 0]));
  }

  insert(card: ChipCard): void {
    this.contact = card;
    this.powered = false;
    if (this.detecting & SRC.insert) this.cardEvent(T.EVT_IC_INSERTED, Buffer.alloc(0));
  }

  removeCard(): void {
    if (!this.contact) return;
    this.contact = undefined;
    this.powered = false;
    this.queue(T.EVT_IC_REMOVED, Buffer.alloc(0));
  }

  tap(card: ChipCard): void {
    if (!(this.detecting & SRC.tap)) return;
    this.field = card;
    this.cardEvent(T.EVT_CL_TAPPED, Buffer.concat([Buffer.from([card.uid.length]), card.uid, Buffer.from([card.ats.length]), card.ats]));
  }

  takeAway(): void {
    if (!this.field) return;
    this.field = undefined;
    this.queue(T.EVT_CL_REMOVED, Buffer.alloc(0));
  }

  /** Corrupts the first transmission of our next frame; the retransmission is clean. */
  garbleNextFrame(how: Garble = 'crc'): void {
    this.garble = how;
  }

  /** The reader stops answering anything (hung firmware, no power on its side). */
  goSilent(): void {
    this.silent = true;
    this.timers.clearTimeout(this.inFlight?.timer);
  }

  /**
   * The reader answers again. A frame of ours still waiting for its ACK is sent again at once, as
   * a real reader keeps retrying a frame the host has not acknowledged (its ACK timer was stopped
   * with the silence; left alone, that frame and everything queued behind it never went out).
   * Its tries start afresh: the host refused nothing while we were away. With none in flight, what
   * was queued meanwhile (a card removed) goes out.
   */
  wake(): void {
    if (!this.silent) return;
    this.silent = false;
    const f = this.inFlight;
    if (!f) { this.pump(); return; }
    f.tries = 0;
    this.transmit(true);
  }

  /** The contact card is pulled while the next APDU is being exchanged. */
  removeDuringNextApdu(): void {
    this.pullCardOnApdu = true;
  }

  // ------------------------------------------------------------ link layer

  private receive(chunk: Buffer): void {
    this.rx = Buffer.concat([this.rx, chunk]);
    for (;;) {
      const start = this.rx.findIndex((b) => b === STX || b === ACK || b === NAK);
      if (start < 0) { this.rx = Buffer.alloc(0); return; }
      this.rx = this.rx.subarray(start);
      if (this.rx[0] !== STX) {
        if (this.rx.length < 2) return;
        this.onLink(this.rx[0], this.rx[1]);
        this.rx = this.rx.subarray(2);
        continue;
      }
      if (this.rx.length < 3) return;
      const len = (this.rx[1] << 8) | this.rx[2];
      if (len < 2 || len > LEN_MAX) { this.badFrame(0); continue; }
      if (this.rx.length < len + 6) return;
      const ok = this.rx[len + 5] === ETX && crc(this.rx.subarray(1, 3 + len)) === ((this.rx[3 + len] << 8) | this.rx[4 + len]);
      if (!ok) { this.badFrame(this.rx[4]); continue; }
      const type = this.rx[3];
      const seq = this.rx[4];
      const payload = Buffer.from(this.rx.subarray(5, 3 + len));
      this.rx = this.rx.subarray(len + 6);
      this.onFrame(type, seq, payload);
    }
  }

  private badFrame(seq: number): void {
    this.stats.badFramesReceived++;
    this.stats.naksSent++;
    this.rx = this.rx.subarray(1);
    this.write(Buffer.from([NAK, seq]));
  }

  private onLink(kind: number, seq: number): void {
    const f = this.inFlight;
    if (!f) return;
    if (kind === NAK) { this.stats.naksReceived++; this.transmit(true); return; }
    if (seq !== f.seq) return;
    this.timers.clearTimeout(f.timer);
    this.inFlight = undefined;
    this.pump();
  }

  private onFrame(type: number, seq: number, payload: Buffer): void {
    this.stats.framesReceived++;
    this.write(Buffer.from([ACK, seq]));
    if (seq === this.lastRxSeq) return; // a resend of a command we already executed
    this.lastRxSeq = seq;
    this.stats.commands.push(type);
    const [status, data] = this.execute(type, payload);
    this.queue(type | 0x80, Buffer.concat([Buffer.from([status]), data]));
  }

  private queue(type: number, payload: Buffer): void {
    this.outbox.push(frame(type, this.txSeq, payload));
    this.txSeq = (this.txSeq + 1) & 0xff;
    this.pump();
  }

  private pump(): void {
    if (this.inFlight || this.silent) return;
    const bytes = this.outbox.shift();
    if (!bytes) return;
    this.inFlight = { bytes, seq: bytes[4], tries: 0 };
    this.transmit(false);
  }

  private transmit(resend: boolean): void {
    const f = this.inFlight;
    if (!f || this.silent) return;
    this.timers.clearTimeout(f.timer);
    if (resend) {
      this.stats.retransmits++;
      if (++f.tries > this.retryCountMax) { this.inFlight = undefined; this.pump(); return; }
    }
    this.write(resend ? f.bytes : this.applyGarble(f.bytes));
    f.timer = this.timers.setTimeout(() => this.transmit(true), this.ackTimeoutMs);
  }

  private applyGarble(bytes: Buffer): Buffer {
    const how = this.garble;
    this.garble = undefined;
    if (!how) return bytes;
    const copy = Buffer.from(bytes);
    if (how === 'crc') { copy[copy.length - 2] ^= 0x5a; return copy; }
    if (how === 'truncate') return copy.subarray(0, Math.ceil(copy.length / 2));
    if (how === 'length') { copy[1] = 0xff; return copy; }
    return Buffer.concat([Buffer.from([0x55, 0x02, 0x00, 0x07, 0xaa]), copy]);
  }

  private write(bytes: Buffer): void {
    if (this.silent || !this.port.isOpen) return;
    this.port.write(bytes).catch(() => undefined);
  }

  // ------------------------------------------------------------ commands

  private execute(type: number, payload: Buffer): [number, Buffer] {
    switch (type) {
      case T.INFO: return [ST.OK, Buffer.concat([Buffer.from([SRC.swipe | SRC.insert | SRC.tap]), Buffer.from(this.firmware, 'latin1')])];
      case T.DETECT_START: this.startDetecting(payload[0] ?? 0); return [ST.OK, Buffer.alloc(0)];
      case T.DETECT_STOP: this.detecting = 0; return [ST.OK, Buffer.alloc(0)];
      case T.IC_POWER_ON: return this.powerOn();
      case T.IC_APDU: return this.contactApdu(payload);
      case T.IC_POWER_OFF: this.powered = false; return [ST.OK, Buffer.alloc(0)];
      case T.CL_APDU: return this.contactlessApdu(payload);
      case T.CL_RELEASE: this.field = undefined; return [ST.OK, Buffer.alloc(0)];
      default: return [ST.BAD_COMMAND, Buffer.alloc(0)];
    }
  }

  private startDetecting(bits: number): void {
    this.detecting = bits & 7;
    for (const w of this.detectionWaiters.splice(0)) w();
    // A card already in the slot is reported at once, as real readers do.
    if (this.contact && this.detecting & SRC.insert) this.cardEvent(T.EVT_IC_INSERTED, Buffer.alloc(0));
  }

  private powerOn(): [number, Buffer] {
    if (!this.contact) return [ST.NO_CARD, Buffer.alloc(0)];
    if (this.contact.mute) return [ST.CARD_MUTE, Buffer.alloc(0)];
    this.powered = true;
    return [ST.OK, this.contact.atr];
  }

  private contactApdu(apdu: Buffer): [number, Buffer] {
    if (this.pullCardOnApdu) { this.pullCardOnApdu = false; this.removeCard(); return [ST.CARD_REMOVED, Buffer.alloc(0)]; }
    if (!this.contact) return [ST.NO_CARD, Buffer.alloc(0)];
    if (!this.powered) return [ST.BAD_STATE, Buffer.alloc(0)];
    // A card model that the customer pulls at this command (sim/emv-card.ts `pullAt`).
    if (this.contact.pullsOn?.(apdu)) { this.removeCard(); return [ST.CARD_REMOVED, Buffer.alloc(0)]; }
    return [ST.OK, this.contact.respond(apdu)];
  }

  private contactlessApdu(apdu: Buffer): [number, Buffer] {
    if (!this.field) return [ST.NO_CARD, Buffer.alloc(0)];
    if (this.field.pullsOn?.(apdu)) { this.takeAway(); return [ST.CARD_REMOVED, Buffer.alloc(0)]; }
    return [ST.OK, this.field.respond(apdu)];
  }

  /** Card events end detection: one card per transaction. */
  private cardEvent(type: number, payload: Buffer): void {
    this.detecting = 0;
    this.queue(type, payload);
  }
}

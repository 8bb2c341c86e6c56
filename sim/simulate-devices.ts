/**
 * Devices for the day simulation, in-process and on virtual time.
 *
 * Default: the simulator board's way (DESIGN.md rule 1, "simulate at the wire"). The terminal
 * gets the REAL drivers, hal/drivers/card-reader.ts FramedCardReader and
 * hal/drivers/escpos-printer.ts EscPosPrinter, each on one end of an in-memory serial cable
 * (sim/serial-pair.ts); on the other end sit the virtual card reader (sim/virtual-card-reader.ts,
 * its own frame codec) and the virtual ESC/POS printer (sim/virtual-printer.ts, its own decoder).
 *   - Every timer of the drivers and the virtual reader runs on the simulation's VirtualClock, and
 *     every hop of bytes on a cable is counted by the IoGate: virtual time moves only when no byte
 *     is crossing a wire (sim/simulate-world.ts), so a run replays exactly from its seed.
 *   - A power cut kills the board: its cables and timers die with it (a dead board's timers are
 *     never set, its bytes never arrive); the next boot gets new cables and new drivers. The
 *     printer's paper and cover, being mechanical, survive.
 *   - Garbled reader frames are corrupted bytes on the wire from the reader (a byte flipped, a
 *     frame cut short, noise before it), in bursts: a short burst is NAKed by the driver and
 *     resent by the reader (the sale goes on); a burst longer than the reader's resends loses that
 *     frame, and the driver reports what it saw (RDR_FAULT for a response, no card for an event).
 *   - Paper out (an empty roll, or a roll that ends mid-receipt) and an open cover are set on the
 *     virtual printer; the driver finds them by its status queries and fails the job at the block
 *     it reached. What the invariants scan is what came out: the printer's decoded text and the
 *     raw bytes on its wire (QR payloads included).
 *
 * Stand-ins (`devices: 'stand-in'`, the simulation's first version): SimPrinter and
 * StandInCardReader implement the Printer and CardReader interfaces directly and fail the way the
 * drivers report (E-PRN-01/02, RDR_FAULT, read-failed); no bytes, no wire.
 */
import { PosError } from '../common/errors';
import type { Logger } from '../common/log';
import { CardEvent, CardReader, CardSlot, CardSource, ReaderDiagnostics, ReaderInfo } from '../hal/card-reader';
import { PrintJob, PrintResult, Printer, PrinterStatus } from '../hal/printer';
import { SerialPort } from '../hal/serial';
import { FramedCardReader } from '../hal/drivers/card-reader';
import { EscPosPrinter } from '../hal/drivers/escpos-printer';
import { Timers } from '../hal/drivers/timing';
import { PairEnd, Schedule, SerialPair, createSerialPair } from './serial-pair';
import { VirtualCardReader } from './virtual-card-reader';
import { VirtualPrinter } from './virtual-printer';
import { DEFAULTS as MATRIX_KEYPAD_DEFAULTS, MatrixKeypad } from '../hal/drivers/matrix-keypad';
import { KeyName } from '../hal/keypad';
import { readBoardFile } from '../hal/board';
import { KeypadConfig } from '../hal/board-schema';
import { SimGpioChip } from './chips/gpio-sim';
import { MatrixKeypadModel } from './chips/keypad-model';
import { ChipCard, TEST_CARDS } from './test-cards';
import { IoGate, Rng, VirtualClock } from './simulate-world';

export type DeviceMode = 'wire' | 'stand-in';

export type Presentation = 'swipe' | 'insert' | 'tap' | 'keyed' | 'garbled-swipe' | 'garbled-chip';

/** Customer's time to present a card (virtual ms). */
export const PRESENT_MS_MIN = 1_500;
export const PRESENT_MS_MAX = 9_000;

/** The card reader as the operator model (simulate-operator.ts) drives it. */
export interface SimCardReader extends CardReader {
  /** What the next customer does; set by the operator model before a card is needed. */
  next: Presentation;
  /** Delay chosen by the operator model for the next presentation. */
  presentAfterMs: number;
  /** Keyed entry: the operator types the PAN instead (the machine gets KEYED). */
  onKeyed: () => void;
}

/** The printer as the simulation drives it. */
export interface SimPrinterDevice extends Printer {
  /** Jobs printed whole. */
  printed: number;
  /** Printed output not yet scanned by the invariant checks (text, or raw bytes on the wire). */
  readonly unscanned: Array<string | Buffer>;
  /** Called before each job: the fault injector may empty the roll or open the cover here. */
  beforeJob: () => void;
  /** The operator loads paper and shuts the cover. */
  fix(): void;
}

/** What a board's devices need from the simulation. */
export interface DeviceHooks {
  readonly clock: VirtualClock;
  readonly io: IoGate;
  /** The device layer's own seed stream (which byte is flipped, how long a burst is). */
  readonly rng: Rng;
  readonly logger?: Logger;
  /** Counts a fault and logs it as an event (the simulation's `fault`). */
  readonly fault: (kind: string) => void;
  /**
   * The inserted chip card (issue 11): icDebit, or a misbehaving card model (MISBEHAVING_CHIP_CARDS)
   * drawn on the simulation's own stream for cards. Absent: always icDebit.
   */
  readonly chipCard?: () => ChipCard;
  /** The tapped card: the QuickPass card, or one of MISBEHAVING_TAP_CARDS, on the same stream. Absent: always `contactless`. */
  readonly tapCard?: () => ChipCard;
}

/**
 * The card models that misbehave, as the seeded day draws them for an insertion: late ones (the
 * online half: a decline at the final GENERATE AC, pulled before it, scripts that fail) and early
 * ones (pulled at the first GENERATE AC, ODA failed and gone online, ODA failed and declined
 * offline). Each is shared for the day (its ATC is replayable, its PIN try counter untouched: the
 * terminal has no offline PIN). Not APPLICATION BLOCK: a blocked shared card refuses every later sale.
 */
export const MISBEHAVING_CHIP_CARDS = ['icDeclinesLate', 'icPulledLate', 'icScriptFails', 'icPulled', 'icExpiredCert', 'icBadSda', 'icOdaDeclined', 'icCdaBad'] as const satisfies ReadonlyArray<keyof typeof TEST_CARDS>;

/** Tapped qPBOC cards that misbehave: an fDDA signature over other data (the TC goes online), an expired ICC certificate with no online fallback (declined). */
export const MISBEHAVING_TAP_CARDS = ['qpbocBadFdda', 'qpbocExpiredIcc'] as const satisfies ReadonlyArray<keyof typeof TEST_CARDS>;

// ============================================================ the board's wires

/**
 * One boot's cables and timers. A dead board (power lost) sets no timer and carries no byte:
 * whatever its drivers still try after the cut goes nowhere, so the next boot's timeline does not
 * depend on how long the old one took to die.
 */
export class BootWires {
  alive = true;
  readonly timers: Timers;
  private readonly schedule: Schedule;

  constructor(private readonly h: DeviceHooks) {
    const clock = h.clock;
    this.timers = {
      setTimeout: (fn, ms) => (this.alive ? clock.setTimeout(fn, ms) : undefined),
      clearTimeout: (handle) => { if (handle !== undefined) clock.clearTimeout(handle); },
      now: () => clock.nowMs,
    };
    this.schedule = (fn, delayMs) => {
      if (!this.alive) return;
      if (delayMs > 0) clock.setTimeout(fn, delayMs);
      else h.io.hop(fn);
    };
  }

  /** A cable with both ends open (the ends open synchronously). */
  cable(label: string): SerialPair {
    const pair = createSerialPair({ label, schedule: this.schedule });
    void pair.host.open();
    void pair.device.open();
    return pair;
  }

  /** The power is gone: timers and bytes of this boot are dropped. */
  kill(): void {
    this.alive = false;
    this.h.io.dropWire();
  }
}

// ============================================================ card reader on the wire

type Garbling = 'flip' | 'truncate' | 'noise';

/**
 * The reader's side of the cable, with a fault in it: frames the reader sends are corrupted while
 * a burst is armed (ACK/NAK bytes pass untouched). Every transmission counts, resends included.
 */
class GarblingPort implements SerialPort {
  /** Frames to let through before the burst starts. */
  skip = 0;
  /** Transmissions of frames still to corrupt. */
  burst = 0;
  garbled = 0;

  constructor(private readonly end: PairEnd, private readonly rng: Rng) {}

  get path(): string { return this.end.path; }
  get isOpen(): boolean { return this.end.isOpen; }
  open(): Promise<void> { return this.end.open(); }
  drain(): Promise<void> { return this.end.drain(); }
  flush(): Promise<void> { return this.end.flush(); }
  check(): Promise<void> { return this.end.check(); }
  close(): Promise<void> { return this.end.close(); }
  onData(listener: (chunk: Buffer) => void): () => void { return this.end.onData(listener); }
  onClose(listener: (error?: PosError) => void): () => void { return this.end.onClose(listener); }

  write(data: Uint8Array): Promise<void> {
    const bytes = Buffer.from(data);
    if (bytes[0] !== 0x02 || this.burst === 0) return this.end.write(bytes);
    if (this.skip > 0) { this.skip--; return this.end.write(bytes); }
    this.burst--;
    this.garbled++;
    return this.end.write(this.garble(bytes));
  }

  disarm(): void { this.skip = 0; this.burst = 0; }

  private garble(frame: Buffer): Buffer {
    const how: Garbling = this.rng.weighted({ flip: 6, truncate: 2, noise: 2 });
    if (how === 'truncate') return frame.subarray(0, 1 + this.rng.int(frame.length - 1));
    if (how === 'noise') return Buffer.concat([Buffer.from([0x55, 0x02, 0x00, 0x07, 0xaa].slice(0, 1 + this.rng.int(5))), this.flip(frame)]);
    return this.flip(frame);
  }

  /** One bit of one byte after STX flips: the length, the type, the payload, the CRC or ETX. */
  private flip(frame: Buffer): Buffer {
    const copy = Buffer.from(frame);
    copy[1 + this.rng.int(copy.length - 1)] ^= 1 << this.rng.int(8);
    return copy;
  }
}

/** Transmissions the virtual reader makes of one frame: the first and its resends. */
const READER_SENDS_PER_FRAME = 4;

/**
 * The terminal's card reader: the real FramedCardReader on the host end of a cable, the virtual
 * reader on the other, and the customer who presents the card the operator model chose.
 */
export class WireCardReader implements SimCardReader {
  next: Presentation = 'swipe';
  presentAfterMs = PRESENT_MS_MIN;
  onKeyed: () => void = () => undefined;
  private driver?: FramedCardReader;
  private virtual?: VirtualCardReader;
  private port?: GarblingPort;
  private wires?: BootWires;
  private wait = 0;
  /** Driver counters of boots already over (each boot's driver starts from zero). */
  private readonly past: Record<string, number> = {};
  private garbledPast = 0;
  readonly presented: Record<string, number> = {};

  constructor(private readonly h: DeviceHooks) {}

  /** Power on: a new cable, a new driver, the reader with no card in it. */
  connect(wires: BootWires): void {
    this.wires = wires;
    const pair = wires.cable('reader0');
    this.port = new GarblingPort(pair.device, this.h.rng);
    this.virtual = new VirtualCardReader(this.port, { timers: wires.timers });
    this.driver = new FramedCardReader(pair.host, { timers: wires.timers, logger: this.h.logger });
  }

  /** Power lost: the driver's counters are kept for the report; the rest dies with the board. */
  disconnect(): void {
    this.wait++;
    if (this.driver) for (const [k, v] of Object.entries(this.driver.diagnostics())) this.past[k] = (this.past[k] ?? 0) + v;
    this.garbledPast += this.port?.garbled ?? 0;
    this.driver = undefined;
    this.virtual = undefined;
    this.port = undefined;
  }

  private get d(): FramedCardReader {
    if (!this.driver) throw new PosError('RDR_DISCONNECTED', 'card reader not powered');
    return this.driver;
  }

  selfTest(): Promise<ReaderInfo> { return this.d.selfTest(); }
  startDetection(sources: readonly CardSource[]): Promise<void> { return this.d.startDetection(sources); }
  stopDetection(): Promise<void> { return this.d.stopDetection(); }
  onEvent(listener: (event: CardEvent) => void): () => void { return this.d.onEvent(listener); }
  transmit(slot: CardSlot, apdu: Uint8Array): Promise<Buffer> { return this.d.transmit(slot, apdu); }
  release(slot: CardSlot): Promise<void> { return this.d.release(slot); }
  diagnostics(): ReaderDiagnostics { return this.d.diagnostics(); }
  close(): Promise<void> { return this.d.close(); }

  cancel(): void {
    this.wait++;
    this.driver?.cancel();
  }

  waitForCard(sources: readonly CardSource[], timeoutMs: number): Promise<CardEvent> {
    const driver = this.d;
    const virtual = this.virtual as VirtualCardReader;
    const port = this.port as GarblingPort;
    const token = ++this.wait;
    const how = this.next;
    this.next = 'swipe';
    // The previous customer took their card; a burst left over from them is over.
    virtual.removeCard();
    virtual.takeAway();
    port.disarm();
    const live = (): boolean => token === this.wait && this.virtual === virtual;
    this.presented[how] = (this.presented[how] ?? 0) + 1;
    (this.wires as BootWires).timers.setTimeout(() => {
      if (!live()) return;
      if (how === 'keyed') {
        // The operator keys the card number: the machine leaves the card wait, the driver's wait is cancelled.
        this.onKeyed();
        this.cancel();
        return;
      }
      this.present(how, virtual, port);
    }, this.presentAfterMs);
    return driver.waitForCard(sources, timeoutMs);
  }

  private present(how: Exclude<Presentation, 'keyed'>, virtual: VirtualCardReader, port: GarblingPort): void {
    const rng = this.h.rng;
    let card = how;
    if (how === 'garbled-swipe' || how === 'garbled-chip') {
      this.h.fault('garbled-reader');
      // A burst of 1..5 corrupted transmissions: up to 3 the reader's resends recover; 4 or more lose the frame.
      port.burst = rng.range(1, READER_SENDS_PER_FRAME + 1);
      // Chip: the burst starts at the card event or at one of the answers that follow it.
      port.skip = how === 'garbled-chip' ? rng.int(4) : 0;
      card = how === 'garbled-swipe' ? 'swipe' : rng.chance(0.5) ? 'insert' : 'tap';
    }
    if (card === 'swipe') virtual.swipe(TEST_CARDS.magDebit);
    else if (card === 'tap') virtual.tap(this.h.tapCard?.() ?? TEST_CARDS.contactless);
    else virtual.insert(this.h.chipCard?.() ?? TEST_CARDS.icDebit);
  }

  /** Totals over every boot: the driver's counters and the frames corrupted on the wire. */
  stats(): Record<string, number> {
    const now = this.driver?.diagnostics() ?? {};
    const total = (k: string): number => (this.past[k] ?? 0) + ((now as Record<string, number>)[k] ?? 0);
    return {
      'reader-frames-garbled': this.garbledPast + (this.port?.garbled ?? 0),
      'reader-frames-rejected': total('framesRejected'),
      'reader-naks-sent': total('naksSent'),
      'reader-retransmits': total('retransmits'),
      'reader-timeouts': total('timeouts'),
      'reader-bytes-discarded': total('bytesDiscarded'),
      'reader-unreadable-swipes': total('unreadableSwipes'),
      'reader-unreadable-chips': total('unreadableChips'),
    };
  }
}

// ============================================================ printer on the wire

const PAPER_WIDTH_DOTS = 384;
/** A roll that runs out mid-receipt has this much left (mm; a receipt is about 100 to 200 mm). */
const PAPER_LEFT_MM_MIN = 4;
const PAPER_LEFT_MM_MAX = 120;
/** Raw printer bytes kept for the next scan: a runaway guard, receipts are a few KB. */
const WIRE_BYTES_KEPT_MAX = 1 << 20;

/**
 * The terminal's printer: the real EscPosPrinter on the host end of a cable, the virtual printer
 * on the other. The paper and the cover survive a power cut; the printer's buffer does not.
 */
export class WirePrinter implements SimPrinterDevice {
  readonly paperWidthDots = PAPER_WIDTH_DOTS;
  readonly columns = PAPER_WIDTH_DOTS / 12;
  printed = 0;
  failed = 0;
  readonly unscanned: Array<string | Buffer> = [];
  beforeJob: () => void = () => undefined;
  private driver?: EscPosPrinter;
  private virtual?: VirtualPrinter;
  /** Mechanical state carried across boots (dots of paper left; Infinity = a full roll). */
  private paperDots = Infinity;
  private coverOpen = false;
  private wireBytes: Buffer[] = [];
  private wireBytesKept = 0;
  bytesToPrinter = 0;
  linesPrinted = 0;

  constructor(private readonly h: DeviceHooks) {}

  connect(wires: BootWires): void {
    const pair = wires.cable('printer0');
    // No bitmap: the simulation reads the decoded text; rendering dots would only cost time.
    const v = new VirtualPrinter(pair.device, { paperWidthDots: PAPER_WIDTH_DOTS, gb18030: true, paperRowsMax: 0 });
    v.machine.paperRemainingDots = this.paperDots;
    v.machine.coverOpen = this.coverOpen;
    pair.device.onData((chunk) => this.tap(chunk));
    this.virtual = v;
    this.driver = new EscPosPrinter(pair.host, { paperWidthDots: PAPER_WIDTH_DOTS, gb18030: true, timers: wires.timers, logger: this.h.logger });
  }

  disconnect(): void {
    this.collect();
    if (this.virtual) { this.paperDots = this.virtual.machine.paperRemainingDots; this.coverOpen = this.virtual.machine.coverOpen; }
    this.driver = undefined;
    this.virtual = undefined;
  }

  private get d(): EscPosPrinter {
    if (!this.driver) throw new PosError('PRN_DISCONNECTED', 'printer not powered', { job: '', blockIndex: 0, blocksPrinted: 0 });
    return this.driver;
  }

  status(): Promise<PrinterStatus> { return this.d.status(); }
  selfTest(): Promise<PrinterStatus> { return this.d.selfTest(); }
  cancel(): void { this.driver?.cancel(); }
  close(): Promise<void> { return this.d.close(); }

  async print(job: PrintJob): Promise<PrintResult> {
    const driver = this.d;
    this.beforeJob();
    // The driver prints a QR code as a raster image, which no scan can read back: what it encodes
    // (the e-receipt link) is checked from the job instead.
    const qr = job.blocks.flatMap((b) => (b.kind === 'qr' ? [b.data] : []));
    if (qr.length) this.unscanned.push(qr.join('\n'));
    try {
      const r = await driver.print(job);
      this.printed++;
      return r;
    } catch (e) {
      this.failed++;
      throw e;
    } finally {
      this.collect();
    }
  }

  /** The roll is empty now (the job is refused before its first byte). */
  paperOut(): void { if (this.virtual) this.virtual.setPaperRemainingMm(0); }
  /** The roll ends a little way into the next job. */
  paperRunsOut(): void { if (this.virtual) this.virtual.setPaperRemainingMm(this.h.rng.range(PAPER_LEFT_MM_MIN, PAPER_LEFT_MM_MAX)); }
  openCover(): void { this.virtual?.openCover(); }

  fix(): void {
    if (this.virtual) { this.virtual.closeCover(); this.virtual.loadPaper(); this.collect(); }
    else { this.coverOpen = false; this.paperDots = Infinity; }
  }

  private tap(chunk: Buffer): void {
    this.bytesToPrinter += chunk.length;
    if (this.wireBytesKept + chunk.length > WIRE_BYTES_KEPT_MAX) return;
    this.wireBytes.push(chunk);
    this.wireBytesKept += chunk.length;
  }

  /** Moves what came out of the printer (decoded lines, raw bytes) to `unscanned`. */
  private collect(): void {
    const v = this.virtual;
    if (v) {
      const items = v.machine.paper.items.splice(0);
      const lines = items.flatMap((i) => (i.kind === 'text' ? [i.text] : []));
      this.linesPrinted += lines.length;
      // Joined without a break too: a card number wrapped over two lines is still readable.
      if (lines.length) this.unscanned.push(lines.join('\n'), lines.join(''));
    }
    if (this.wireBytes.length) {
      this.unscanned.push(withoutRaster(Buffer.concat(this.wireBytes)));
      this.wireBytes = [];
      this.wireBytesKept = 0;
    }
  }

  stats(): Record<string, number> {
    return { 'printer-jobs-printed': this.printed, 'printer-jobs-failed': this.failed, 'printer-lines': this.linesPrinted, 'printer-bytes': this.bytesToPrinter };
  }
}

/**
 * The printer's bytes without the dots of GS v 0 raster images (QR codes, signatures): nine tenths
 * of a receipt's bytes, pictures that no text scan can read, and costly to scan for every secret.
 */
export function withoutRaster(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = bytes.indexOf(RASTER_HEADER); at >= 0 && at + 8 <= bytes.length; at = bytes.indexOf(RASTER_HEADER, from)) {
    parts.push(bytes.subarray(from, at + 8));
    from = Math.min(bytes.length, at + 8 + bytes.readUInt16LE(at + 4) * bytes.readUInt16LE(at + 6));
  }
  if (from === 0) return bytes;
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts);
}
const RASTER_HEADER = Buffer.from([0x1d, 0x76, 0x30]);

// ============================================================ keypad on simulated GPIO lines

/** The simulator board's keypad0 (board-configs/sim.json): the matrix, lines and stuck limit the front panel's driver uses. */
const SIM_KEYPAD = readBoardFile('sim').config.devices.keypad0 as KeypadConfig;
const KEYMAP = SIM_KEYPAD.keymap;
const ROW_LINES = SIM_KEYPAD.rowLines;
const COL_LINES = SIM_KEYPAD.colLines;
const KEYPAD_STUCK_MS = SIM_KEYPAD.stuckMs;
/** A bouncing contact: 2..6 extra transitions, each gap 1..30 ms (some longer than the 20 ms debounce). */
const BOUNCE_TRANSITIONS_MAX = 6;
const BOUNCE_GAP_MS_MAX = 30;
/** A clean hold after the contact settles, and how long a stuck key stays down past the stuck limit. */
const HOLD_MS_MIN = 60;
const HOLD_MS_MAX = 250;
const STUCK_EXTRA_MS_MAX = 5_000;
/**
 * The driver times a stuck key from its debounced 'down' (debounceMs after the contact, at the
 * next scan): a stuck key is held at least this much past the stuck limit, or a draw of a small
 * extra would release it before the driver could call it stuck (seed 6 drew one once the tapped
 * cards moved the draws).
 */
const STUCK_DETECT_MS = MATRIX_KEYPAD_DEFAULTS.debounceMs + 2 * MATRIX_KEYPAD_DEFAULTS.scanIntervalMs;
/** Timer firings one press may take (a stuck key held 15 s scans about 3,000 times). */
const KEYPAD_TIMERS_MAX = 20_000;

export interface KeyPressResult {
  /** Debounced presses the driver reported ('down' events of the key). */
  readonly downs: number;
  /** The driver reported the key stuck (KBD_STUCK). */
  readonly stuckReported: boolean;
  /** Time the press took, contact bounce and hold included (ms). */
  readonly elapsedMs: number;
}

/**
 * The keypad for the key faults: the real MatrixKeypad driver scanning the contact-matrix model on
 * simulated GPIO lines (sim/chips). It runs on a clock of its own: a press is played out whole
 * (contact chatter, hold, release, the driver's debounce) before the machine sees its events, so
 * the keypad's thousands of scan timers are neither cut points nor steps of the terminal's pump.
 * Only faulty presses go through it: a clean press is one 'down' (tests/hal show it) and costs
 * scans for nothing.
 */
export class SimKeypad {
  private readonly clock = new VirtualClock(0);
  private model?: MatrixKeypadModel;
  private driver?: MatrixKeypad;
  private readonly events: string[] = [];
  private readonly faults: PosError[] = [];
  readonly counts: Record<string, number> = {};

  constructor(private readonly rng: Rng) {}

  private async ready(): Promise<{ model: MatrixKeypadModel; driver: MatrixKeypad }> {
    if (this.model && this.driver) return { model: this.model, driver: this.driver };
    const chip = new SimGpioChip('keypad-gpio');
    const model = new MatrixKeypadModel(chip, ROW_LINES, COL_LINES, KEYMAP);
    const rows = await Promise.all(ROW_LINES.map((o) => chip.requestLine(o, { direction: 'out', activeLow: true, initial: 1 })));
    const cols = await Promise.all(COL_LINES.map((o) => chip.requestLine(o, { direction: 'in', activeLow: true, bias: 'pull-up' })));
    const driver = new MatrixKeypad(rows, cols, { keymap: KEYMAP, stuckMs: KEYPAD_STUCK_MS, timers: this.clock });
    driver.onKey((e) => this.events.push(`${e.type}:${e.key}`));
    driver.onFault((f) => this.faults.push(f));
    let started = false;
    const start = driver.start().then(() => { started = true; });
    await this.run(() => started);
    await start;
    this.model = model;
    this.driver = driver;
    return { model, driver };
  }

  /** Fires the keypad's timers until `done` (or no timer is left); each turn lets the scan's promises settle. */
  private async run(done: () => boolean): Promise<void> {
    for (let i = 0; i < KEYPAD_TIMERS_MAX; i++) {
      await new Promise((r) => setImmediate(r));
      if (done() || this.clock.pending === 0) return;
      this.clock.fireNext();
    }
  }

  /** One press of `key` with a fault: a bouncing contact, or a key that sticks (past the driver's limit). */
  async press(key: KeyName, fault: 'bounce' | 'stuck', atMs: number): Promise<KeyPressResult> {
    const { model } = await this.ready();
    this.clock.nowMs = Math.max(this.clock.nowMs, atMs);
    const t0 = this.clock.nowMs;
    this.events.length = 0;
    this.faults.length = 0;
    let at = 0;
    const contact = (closed: boolean): void => { this.clock.setTimeout(() => (closed ? model.press(key) : model.release(key)), at); };
    const chatter = (closedAtEnd: boolean): void => {
      const transitions = 2 * this.rng.range(1, BOUNCE_TRANSITIONS_MAX / 2);
      for (let i = 0; i < transitions; i++) { contact(i % 2 === 0 ? closedAtEnd : !closedAtEnd); at += this.rng.range(1, BOUNCE_GAP_MS_MAX); }
      contact(closedAtEnd);
    };
    if (fault === 'bounce') chatter(true); else contact(true);
    at += fault === 'stuck' ? KEYPAD_STUCK_MS + STUCK_DETECT_MS + this.rng.range(0, STUCK_EXTRA_MS_MAX) : this.rng.range(HOLD_MS_MIN, HOLD_MS_MAX);
    if (fault === 'bounce') chatter(false); else contact(false);
    const releasedAt = t0 + at;
    // Until the key is released and the driver has settled (it stops scanning when all keys are up).
    await this.run(() => this.clock.nowMs > releasedAt && this.clock.pending === 0);
    const downs = this.events.filter((e) => e === `down:${key}`).length;
    const stuckReported = this.faults.some((f) => f.id === 'KBD_STUCK');
    this.count(fault === 'bounce' ? 'keypad-bounces' : 'keypad-stuck-keys');
    if (downs > 1) this.count('keypad-bounce-extra-presses', downs - 1);
    if (downs === 0) this.count('keypad-presses-missed');
    if (stuckReported) this.count('keypad-stuck-reported');
    return { downs, stuckReported, elapsedMs: this.clock.nowMs - t0 };
  }

  private count(k: string, n = 1): void { this.counts[k] = (this.counts[k] ?? 0) + n; }
}

// ============================================================ stand-ins (devices: 'stand-in')

export class SimPrinter implements SimPrinterDevice {
  readonly paperWidthDots = 384;
  readonly columns = 32;
  paperOut = false;
  coverOpen = false;
  printed = 0;
  readonly unscanned: Array<string | Buffer> = [];
  beforeJob: () => void = () => undefined;

  async status(): Promise<PrinterStatus> {
    return { online: true, paperOut: this.paperOut, paperNearEnd: false, coverOpen: this.coverOpen, fault: false };
  }

  async print(job: PrintJob): Promise<PrintResult> {
    this.beforeJob();
    if (this.coverOpen) throw new PosError('PRN_COVER_OPEN', `${job.label}: cover open`, { job: job.label, blockIndex: 0, blocksPrinted: 0 });
    if (this.paperOut) throw new PosError('PRN_PAPER_OUT', `${job.label}: paper out`, { job: job.label, blockIndex: 0, blocksPrinted: 0 });
    this.printed++;
    this.unscanned.push(job.blocks.map((b) => (b.kind === 'text' ? b.text : b.kind === 'qr' ? b.data : '')).join('\n'));
    return { job: job.label, blocksPrinted: job.blocks.length, bytesSent: 0, paperNearEnd: false };
  }

  async selfTest(): Promise<PrinterStatus> { return this.status(); }
  cancel(): void { /* nothing queued */ }
  async close(): Promise<void> { /* nothing open */ }

  fix(): void { this.paperOut = false; this.coverOpen = false; }
}

export class StandInCardReader implements SimCardReader {
  next: Presentation = 'swipe';
  presentAfterMs = PRESENT_MS_MIN;
  onKeyed: () => void = () => undefined;
  private garbleChip = false;
  private wait = 0;
  private framesRejected = 0;

  constructor(private readonly clock: VirtualClock) {}

  async selfTest(): Promise<ReaderInfo> { return { firmware: 'sim', sources: ['swipe', 'insert', 'tap'] }; }
  async startDetection(): Promise<void> { /* always detecting */ }
  async stopDetection(): Promise<void> { /* nothing to stop */ }
  onEvent(): () => void { return () => undefined; }

  waitForCard(_sources: readonly CardSource[], timeoutMs: number): Promise<CardEvent> {
    const token = ++this.wait;
    const how = this.next;
    this.next = 'swipe';
    return new Promise((resolve, reject) => {
      const live = (): boolean => token === this.wait;
      if (how === 'keyed') {
        // The keyed event goes to the machine; this wait is abandoned (its state is left).
        this.clock.setTimeout(() => { if (live()) this.onKeyed(); }, this.presentAfterMs);
        return;
      }
      this.clock.setTimeout(() => {
        if (!live()) return;
        if (this.presentAfterMs > timeoutMs) { reject(new PosError('RDR_NO_CARD', 'no card presented')); return; }
        this.garbleChip = how === 'garbled-chip';
        if (how === 'swipe') resolve({ type: 'swiped', track2: TEST_CARDS.magDebit.track2, track3: TEST_CARDS.magDebit.track3 });
        else if (how === 'garbled-swipe') { this.framesRejected += 3; resolve({ type: 'read-failed', source: 'swipe', error: new PosError('RDR_UNREADABLE', 'swipe frames failed their checksum after retries') }); }
        else if (how === 'tap') resolve({ type: 'tapped', uid: TEST_CARDS.contactless.uid, ats: TEST_CARDS.contactless.ats });
        else resolve({ type: 'inserted', atr: TEST_CARDS.icDebit.atr });
      }, this.presentAfterMs);
    });
  }

  async transmit(slot: CardSlot, apdu: Uint8Array): Promise<Buffer> {
    if (this.garbleChip) {
      this.garbleChip = false;
      this.framesRejected += 3;
      throw new PosError('RDR_FAULT', 'reader frames failed their checksum after retries');
    }
    const card: ChipCard = slot === 'contact' ? TEST_CARDS.icDebit : TEST_CARDS.contactless;
    return card.respond(Buffer.from(apdu));
  }

  async release(): Promise<void> { /* the customer takes the card */ }

  diagnostics(): ReaderDiagnostics {
    return { framesRejected: this.framesRejected, naksSent: this.framesRejected, naksReceived: 0, retransmits: this.framesRejected, bytesDiscarded: 0, timeouts: 0, unreadableSwipes: 0, unreadableChips: 0 };
  }

  /** Abandons any wait (power cut, or the machine left the card state). */
  cancel(): void { this.wait++; }
  async close(): Promise<void> { this.cancel(); }
}

/** The test cards' full PANs: what must never appear in an output. */
export const SIM_PANS = [TEST_CARDS.magDebit.track2.split('=')[0], TEST_CARDS.icDebit.pan, TEST_CARDS.contactless.pan, ...[...MISBEHAVING_CHIP_CARDS, ...MISBEHAVING_TAP_CARDS].map((n) => (TEST_CARDS[n] as ChipCard).pan)];

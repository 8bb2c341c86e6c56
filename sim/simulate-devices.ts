/**
 * Devices for the day simulation, in-process and on virtual time: a printer that runs out of
 * paper or has its cover open, and a card reader whose cards come when the simulated customer
 * presents them. The reader answers APDUs with the test cards' own EMV responders, so the real
 * reading code (runtime/txn/card.ts readCard) runs; a garbled frame burst the driver could not
 * recover from surfaces as the driver reports it (RDR_FAULT on transmit, read-failed on a swipe).
 * The wire-level drivers themselves are covered by tests/hal and the simulator board.
 */
import { PosError } from '../runtime/errors';
import { CardEvent, CardReader, CardSlot, CardSource, ReaderDiagnostics, ReaderInfo } from '../hal/card-reader';
import { PrintJob, PrintResult, Printer, PrinterStatus } from '../hal/printer';
import { ChipCard, TEST_CARDS } from './test-cards';
import { VirtualClock } from './simulate-world';

export class SimPrinter implements Printer {
  readonly paperWidthDots = 384;
  readonly columns = 32;
  paperOut = false;
  coverOpen = false;
  printed = 0;
  /** Printed text not yet scanned by the invariant checks. */
  readonly unscanned: string[] = [];
  /** Called before each job: the fault injector may empty the roll or open the cover here. */
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

  /** The operator loads paper and shuts the cover. */
  fix(): void { this.paperOut = false; this.coverOpen = false; }
}

export type Presentation = 'swipe' | 'insert' | 'tap' | 'keyed' | 'garbled-swipe' | 'garbled-chip';

/** Customer's time to present a card (virtual ms). */
export const PRESENT_MS_MIN = 1_500;
export const PRESENT_MS_MAX = 9_000;

export class SimCardReader implements CardReader {
  /** What the next customer does; set by the operator model before a card is needed. */
  next: Presentation = 'swipe';
  /** Delay chosen by the operator model for the next presentation. */
  presentAfterMs = PRESENT_MS_MIN;
  /** Keyed entry: the operator types the PAN instead (the driver sends KEYED). */
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
export const SIM_PANS = [TEST_CARDS.magDebit.track2.split('=')[0], TEST_CARDS.icDebit.pan, TEST_CARDS.contactless.pan];

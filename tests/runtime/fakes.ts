/** In-process stand-ins for the printer and the card source, for machine tests. */
import { PosError } from '../../common/errors';
import { PrintJob, PrintResult, Printer, PrinterStatus } from '../../hal/printer';
import { CardInput, CardRequest, readCard } from '../../runtime/txn/card';
import { CardEvent, CardReader, CardSlot, CardSource, ReaderDiagnostics, ReaderInfo } from '../../hal/card-reader';
import { ChipCard } from '../../sim/test-cards';

export class FakePrinter implements Printer {
  readonly paperWidthDots = 384;
  readonly columns = 32;
  paperOut = false;
  readonly jobs: PrintJob[] = [];

  async status(): Promise<PrinterStatus> {
    return { online: true, paperOut: this.paperOut, paperNearEnd: false, coverOpen: false, fault: false };
  }
  async print(job: PrintJob): Promise<PrintResult> {
    if (this.paperOut) throw new PosError('PRN_PAPER_OUT', `${job.label}: paper out`, { job: job.label, blockIndex: 0, blocksPrinted: 0 });
    this.jobs.push(job);
    return { job: job.label, blocksPrinted: job.blocks.length, bytesSent: 0, paperNearEnd: false };
  }
  async selfTest(): Promise<PrinterStatus> { return this.status(); }
  cancel(): void { /* nothing queued */ }
  async close(): Promise<void> { /* nothing open */ }

  /** All printed text, for grepping. */
  text(): string {
    return this.jobs.flatMap((j) => j.blocks.map((b) => (b.kind === 'text' ? b.text : b.kind === 'qr' ? b.data : ''))).join('\n');
  }
}

/**
 * A card reader holding one chip card (inserted, or tapped for a contactless one): the APDUs go
 * to the card's own responder, as in the virtual reader, without the serial link. `apdus` logs
 * every command and answer.
 */
export class ChipCardReader implements CardReader {
  readonly apdus: Array<{ command: Buffer; answer: Buffer }> = [];
  released = 0;
  constructor(private readonly card: ChipCard) {}
  async selfTest(): Promise<ReaderInfo> { return { firmware: 'fake', sources: ['insert', 'tap'] }; }
  async startDetection(): Promise<void> { /* always a card */ }
  async stopDetection(): Promise<void> { /* nothing */ }
  onEvent(): () => void { return () => undefined; }
  async waitForCard(_sources: readonly CardSource[], _timeoutMs: number): Promise<CardEvent> {
    return this.card.kind === 'contactless' ? { type: 'tapped', uid: this.card.uid, ats: this.card.ats } : { type: 'inserted', atr: this.card.atr };
  }
  async transmit(_slot: CardSlot, apdu: Uint8Array): Promise<Buffer> {
    const command = Buffer.from(apdu);
    const answer = this.card.respond(command);
    this.apdus.push({ command, answer });
    return answer;
  }
  async release(): Promise<void> { this.released++; }
  diagnostics(): ReaderDiagnostics {
    return { framesRejected: 0, naksSent: 0, naksReceived: 0, retransmits: 0, bytesDiscarded: 0, timeouts: 0, unreadableSwipes: 0, unreadableChips: 0 };
  }
  cancel(): void { /* nothing pending */ }
  async close(): Promise<void> { /* nothing open */ }
}

/**
 * Cards handed out in order; an Error in the queue is thrown (a failed read). A chip card is read
 * for real (runtime/txn/card.ts readCard with the machine's request: GENERATE AC, field 55).
 */
export class CardQueue {
  private readonly queue: Array<CardInput | ChipCard | Error> = [];
  /** The requests the machine passed, in order. */
  readonly requests: CardRequest[] = [];
  /** What the reader was asked to detect at each read, in order. */
  readonly sources: Array<readonly CardSource[]> = [];
  push(...items: Array<CardInput | ChipCard | Error>): void { this.queue.push(...items); }
  /** With nothing queued the customer has not presented a card yet: the read stays pending. */
  read = async (request?: CardRequest, sources?: readonly CardSource[]): Promise<CardInput> => {
    if (request) this.requests.push(request);
    if (sources) this.sources.push(sources);
    const next = this.queue.shift();
    if (next === undefined) return new Promise<CardInput>(() => undefined);
    if (next instanceof Error) throw next;
    if ('respond' in next) return readCard(new ChipCardReader(next), ['insert', 'tap'], 1000, request);
    return next;
  };
}

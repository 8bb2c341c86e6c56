/** In-process stand-ins for the printer and the card source, for machine tests. */
import { PosError } from '../../runtime/errors';
import { PrintJob, PrintResult, Printer, PrinterStatus } from '../../hal/printer';
import { CardInput } from '../../runtime/txn/card';

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

/** Cards handed out in order; an Error in the queue is thrown (a failed read). */
export class CardQueue {
  private readonly queue: Array<CardInput | Error> = [];
  push(...items: Array<CardInput | Error>): void { this.queue.push(...items); }
  /** With nothing queued the customer has not presented a card yet: the read stays pending. */
  read = async (): Promise<CardInput> => {
    const next = this.queue.shift();
    if (next === undefined) return new Promise<CardInput>(() => undefined);
    if (next instanceof Error) throw next;
    return next;
  };
}

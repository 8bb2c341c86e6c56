/**
 * A receipt printer, by role (`printer0`). The runtime builds a document (blocks) and hands it to
 * `print`; the driver (hal/drivers/escpos-printer.ts) turns it into the printer's bytes.
 *
 * Contract:
 *   - `print(job)` either resolves once every block is printed (the printer confirmed it had
 *     processed them) or rejects with a PosError that says EXACTLY which part failed:
 *     `detail = { job: job.label, blockIndex, blockLabel?, blocksPrinted }`; blocks before
 *     `blockIndex` are on paper, block `blockIndex` is partly printed or not at all, later blocks
 *     are not printed. The printer's buffer is cleared on failure, so nothing prints late when
 *     the fault is fixed: the caller reprints the job (marked as a duplicate) if it wants.
 *     Error ids and kinds:
 *       PRN_PAPER_OUT 'paper-out', PRN_COVER_OPEN 'cover-open', PRN_FAULT 'printer-fault'
 *       (cutter, head, unrecoverable), PRN_TIMEOUT 'timeout' (no answer within the named maximum),
 *       PRN_DISCONNECTED 'device-absent' (the serial port disappeared: power loss, cable),
 *       OPR_CANCELLED 'cancelled' (cancel() was called).
 *   - A job is checked BEFORE the first byte is sent: paper out or cover open rejects at
 *     `blockIndex` 0 with `blocksPrinted` 0, and nothing is printed.
 *   - One job at a time: a second `print` while one runs waits its turn (queue bounded by the
 *     driver's `queuedJobsMax`; beyond that it rejects with PRN_FAULT detail.reason 'queue-full').
 *   - `cancel()` rejects the running job and every queued one with OPR_CANCELLED.
 *   - `close()` cancels, then releases the port. Later calls reject with PRN_DISCONNECTED.
 *   - Text is Unicode; characters the printer cannot print are replaced by '?' (GB18030 Chinese
 *     needs `gb18030: true` in the driver's options, i.e. a printer with a Chinese font).
 */

export type Align = 'left' | 'center' | 'right';

/** Character magnification, 1..8 each way (ESC/POS GS !). */
export interface TextSize {
  readonly width: number;
  readonly height: number;
}

/** A 1-bit image: `pixels[y * width + x]` is 1 for black. */
export interface MonoImage {
  readonly width: number;
  readonly height: number;
  readonly pixels: Uint8Array;
}

export type PrintBlock =
  | {
      readonly kind: 'text';
      /** One or more lines ("\n" separates lines); long lines wrap at the paper's columns. */
      readonly text: string;
      readonly align?: Align;
      readonly bold?: boolean;
      readonly size?: TextSize;
      readonly label?: string;
    }
  | { readonly kind: 'feed'; readonly lines: number; readonly label?: string }
  | {
      readonly kind: 'qr';
      readonly data: string;
      /** Printer dots per QR module; the driver picks one that fits the paper if absent. */
      readonly moduleDots?: number;
      readonly errorCorrection?: 'L' | 'M' | 'Q' | 'H';
      readonly align?: Align;
      readonly label?: string;
    }
  | { readonly kind: 'image'; readonly image: MonoImage; readonly align?: Align; readonly label?: string }
  | { readonly kind: 'cut'; readonly partial?: boolean; readonly label?: string };

export interface PrintJob {
  /** Names the job in errors and logs, e.g. "customer copy", "merchant copy", "settlement". */
  readonly label: string;
  readonly blocks: readonly PrintBlock[];
}

export interface PrinterStatus {
  readonly online: boolean;
  readonly paperOut: boolean;
  readonly paperNearEnd: boolean;
  readonly coverOpen: boolean;
  /** Cutter error, unrecoverable or auto-recoverable error (head too hot). */
  readonly fault: boolean;
}

export interface PrintResult {
  readonly job: string;
  readonly blocksPrinted: number;
  readonly bytesSent: number;
  /** Paper near end was reported during the job: the runtime warns the operator. */
  readonly paperNearEnd: boolean;
}

export interface Printer {
  /** Paper width in printer dots (384 for 58 mm paper at 203 dpi). */
  readonly paperWidthDots: number;
  /** Characters per line in the normal font. */
  readonly columns: number;

  /** Real-time status (works while the printer is stalled). Rejects PRN_TIMEOUT / PRN_DISCONNECTED. */
  status(): Promise<PrinterStatus>;

  /** Prints a job; see the contract above for how it fails. */
  print(job: PrintJob): Promise<PrintResult>;

  /** Self-test at boot: a status round trip; rejects with the same errors as `print` would. */
  selfTest(): Promise<PrinterStatus>;

  /**
   * Called when the printer answers something the driver asked (a status query, a job's
   * confirmation, the clearing of its buffer): it is alive and its line carries answers. Nothing
   * is sent for it: it comes from what the terminal asks anyway (the paper poll at idle, a print,
   * diagnostics), so a terminal that tells a printer back from a self-test fault by it polls no
   * more. Returns the unsubscribe function. Optional: without it, nothing tells the printer back.
   */
  onAnswer?(listener: () => void): () => void;

  /** Rejects the running and queued jobs with OPR_CANCELLED and clears the printer's buffer. */
  cancel(): void;

  /** Cancels, then closes the port. */
  close(): Promise<void>;
}

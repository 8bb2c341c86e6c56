/**
 * Unreadable swipes, counted (FIELD-FAULTS.md "magnetic stripe reader fault": swipe again /
 * insert the card instead / reader fault).
 *
 * Two counts, two limits:
 *   - in one transaction (the machine's context, reset with the flow): after SWIPE_FAILURES_MAX
 *     unreadable swipes the terminal stops asking for another swipe and asks for the chip or a tap
 *     (E-RDR-14): the card's stripe is likely damaged, and swiping it a fourth time rarely helps;
 *   - in a row across transactions (`SwipeFailures`, reset by any swipe that reads): past
 *     READER_SWIPE_FAILURES_MAX no card's stripe is to blame any more but the reader's head (dirty or
 *     failing), and each unreadable swipe says so (E-RDR-01, reader fault: insert the card instead,
 *     call support) until a swipe reads again. Diagnostics' reader check shows the count and the
 *     last swipe's outcome.
 *
 * Not journaled, on purpose: the count is a hint about a part, not money data (DESIGN.md rule 4
 * keeps the journal for what must survive a power cut); a journal record per unreadable swipe would
 * cost two flush barriers each on a reader that may be failing, and the boot checkpoint's format.
 * After a restart a failing head earns its verdict again within READER_SWIPE_FAILURES_MAX swipes
 * (every transaction still turns to the chip after SWIPE_FAILURES_MAX, so nobody is stuck
 * meanwhile), and what was seen before stays in the log: each unreadable swipe is a warning with
 * its code and the count (journald on a board, diagnostics' last errors).
 */
import { ErrorId, PosError, isPosError } from '../../common/errors';
import type { Logger } from '../../common/log';

/**
 * Unreadable swipes one transaction takes before the terminal stops asking for a swipe: three tries
 * cover a swipe too fast, too slow and crooked; a fourth of the same stripe rarely reads.
 */
export const SWIPE_FAILURES_MAX = 3;

/**
 * Unreadable swipes in a row (across transactions, no swipe read between them) put down to the
 * cards' stripes; one more and the reader's head is reported faulty. Ten is more than three
 * customers' worth of worn stripes (SWIPE_FAILURES_MAX each) without a single good swipe between.
 */
export const READER_SWIPE_FAILURES_MAX = 10;

/** What the cashier is told after an unreadable swipe. */
export type SwipeVerdict = 'swipe-again' | 'insert-instead' | 'reader-fault';

/** The verdict from the counts, the unreadable swipe just seen included in both. */
export function swipeVerdict(inTransaction: number, inARow: number): SwipeVerdict {
  if (inARow > READER_SWIPE_FAILURES_MAX) return 'reader-fault';
  if (inTransaction >= SWIPE_FAILURES_MAX) return 'insert-instead';
  return 'swipe-again';
}

const VERDICT_ERROR: Readonly<Record<SwipeVerdict, ErrorId>> = {
  'swipe-again': 'RDR_UNREADABLE', 'insert-instead': 'RDR_SWIPE_FAILED', 'reader-fault': 'RDR_FAULT',
};

/**
 * A swipe that reached the reader and could not be read (E-RDR-02 with `source: 'swipe'`: the
 * reader's read-failed event, or a track the card module refused). A chip or a tap that failed is
 * not one, nor an E-RDR-02 whose source nobody said.
 */
export function isUnreadableSwipe(e: unknown): e is PosError {
  return isPosError(e) && e.id === 'RDR_UNREADABLE' && e.detail.source === 'swipe';
}

/** What diagnostics shows of the swipes. */
export interface SwipeStats {
  /** Unreadable swipes since the last one that read (or since the terminal started). */
  readonly inARow: number;
  /** Unreadable swipes since the terminal started. */
  readonly unreadableTotal: number;
  /** The last swipe: read or not, and when (the terminal's clock). */
  readonly last?: { readonly outcome: 'read' | 'unreadable'; readonly atMs: number };
  /** The count is past READER_SWIPE_FAILURES_MAX: the head is suspect until a swipe reads. */
  readonly readerSuspect: boolean;
}

/** The count across transactions (see the file comment): one per terminal process. */
export class SwipeFailures {
  private inARow = 0;
  private unreadableTotal = 0;
  private last: SwipeStats['last'];

  constructor(private readonly clock: () => number, private readonly log?: Logger) {}

  /** A swipe read: the head works, the count starts again. */
  noteRead(): void {
    if (this.inARow > 0) this.log?.info({ inARow: this.inARow }, 'swipe read: unreadable swipes in a row reset');
    this.inARow = 0;
    this.last = { outcome: 'read', atMs: this.clock() };
  }

  /**
   * An unreadable swipe, the `inTransaction`-th of its transaction (this one included): counted,
   * logged, and turned into what the cashier sees: E-RDR-02 (swipe again), E-RDR-14 (insert or tap
   * instead) or E-RDR-01 (reader fault). `detail.swipeOff` says the transaction stops asking for a swipe.
   */
  noteUnreadable(cause: PosError, inTransaction: number): PosError {
    this.inARow++;
    this.unreadableTotal++;
    this.last = { outcome: 'unreadable', atMs: this.clock() };
    const verdict = swipeVerdict(inTransaction, this.inARow);
    const id = VERDICT_ERROR[verdict];
    const detail = { ...cause.detail, source: 'swipe', swipeFailures: inTransaction, swipesUnreadInARow: this.inARow, swipeOff: verdict !== 'swipe-again' };
    const error = id === cause.id ? new PosError(id, cause.message.replace(/^E-\S+ /, ''), detail, { cause })
      : new PosError(id, `${inTransaction} unreadable swipes in this transaction, ${this.inARow} in a row: ${verdict}`, detail, { cause });
    this.log?.warn({ code: error.code, swipeFailures: inTransaction, inARow: this.inARow, verdict }, `unreadable swipe: ${verdict}`);
    return error;
  }

  stats(): SwipeStats {
    return { inARow: this.inARow, unreadableTotal: this.unreadableTotal, ...(this.last ? { last: this.last } : {}), readerSuspect: this.inARow > READER_SWIPE_FAILURES_MAX };
  }
}

/**
 * The STANs an acquirer remembers from one terminal, across batches, to answer a STAN used again
 * with 94 (duplicate transmission). A real switch (and the outside acquirer the terminal was
 * checked against) keys duplicates on TID + STAN within its window, not on TID + batch + STAN:
 * a terminal that starts a new batch, or rebuilds its journal, must not send a STAN the host still
 * holds (docs/PROTOCOL.md sections 5 and 13).
 *
 * Bounded: the last STAN_WINDOW_MAX distinct STANs per terminal, oldest forgotten first. The STAN
 * wraps at 999,999 (to 000001), so the window must be smaller than one lap: a terminal that went
 * once round the ring legitimately uses its first STANs again, and the host must have forgotten
 * them by then. 500,000 is half a lap: even a terminal that skipped every other STAN (blocks left
 * unused, the +1,000 gap after a rebuild) has been forgotten in time, and no simulated or tested
 * day comes near it.
 */
import { RequestType } from '../../runtime/host/fields';

/** STANs remembered per terminal (distinct values, most recent first kept). */
export const STAN_WINDOW_MAX = 500_000;

/**
 * Messages a terminal sends again under their own STAN and batch by design (the profile's
 * resends): the message's own rules answer the repeat (94 with the first RRN for an advice, the
 * first answer for a QR void or refund, 00 again for a script notice).
 */
export const RESENT_BY_DESIGN: ReadonlySet<RequestType> = new Set<RequestType>(['offlineAdvice', 'qrVoid', 'qrRefund', 'scriptNotice']);

/** The first message the host saw under a STAN. */
export interface StanUse {
  readonly batch: number;
  readonly type: RequestType;
}

/** One terminal's window. */
export class StanWindow {
  /** Insertion order is arrival order: the first key is the oldest. */
  private readonly seen = new Map<number, StanUse>();

  constructor(private readonly max: number = STAN_WINDOW_MAX) {}

  get size(): number { return this.seen.size; }

  /** The first use of `stan` still in the window, if any. */
  get(stan: number): StanUse | undefined {
    return this.seen.get(stan);
  }

  /** Remembers a STAN's first use; forgets the oldest beyond the window. */
  note(stan: number, use: StanUse): void {
    if (this.seen.has(stan)) return;
    this.seen.set(stan, use);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as number);
  }
}

/**
 * Whether a request under an already seen STAN is the same message sent again by design (left to
 * its own rules) rather than a STAN used twice (94).
 */
export function isDesignedResend(first: StanUse, batch: number, type: RequestType): boolean {
  return first.batch === batch && first.type === type && RESENT_BY_DESIGN.has(type);
}

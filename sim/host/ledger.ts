/**
 * The acquirer simulator's own books: what it approved, reversed, voided and settled, per
 * terminal (TID) and batch, keyed by (TID, batch, STAN) with the RRN and auth code it issued.
 * Tests compare this with the terminal's journal, the way an acquirer reconciles.
 */
import { SettlementTotals, SettlementVerdict } from '../../runtime/host/messages';

export type LedgerTxnType = 'sale' | 'void' | 'refund';

export interface TxnKey {
  readonly tid: string;
  readonly batch: number;
  readonly stan: number;
}

export interface LedgerEntry extends TxnKey {
  readonly type: LedgerTxnType;
  readonly amountFen: number;
  /** First 6 / last 4: the simulator keeps no full PAN either. */
  readonly panMasked: string;
  readonly rrn: string;
  readonly authCode: string;
  /** MMDD and hhmmss the host stamped on its answer. */
  readonly hostDate: string;
  readonly hostTime: string;
  status: 'approved' | 'reversed';
  /** For a sale: the void that cancelled it (cleared again if that void is reversed). */
  voidedBy?: TxnKey;
  /** For a sale: refunds against it so far. */
  refundedFen: number;
  /** For a void or refund: the sale it refers to. */
  readonly original?: TxnKey;
}

export interface BatchUploadRecord {
  readonly stan: number;
  readonly rrn: string;
  readonly amountFen: number;
  readonly processingCode: string;
}

export interface BatchState {
  readonly tid: string;
  readonly batch: number;
  closed: boolean;
  settlement?: {
    readonly verdict: SettlementVerdict;
    readonly terminalTotals: SettlementTotals;
    readonly hostTotals: SettlementTotals;
  };
  readonly uploads: BatchUploadRecord[];
  uploadEndCount?: number;
  signatures: number;
}

/** More would mean a runaway test or a terminal in a loop: the simulator refuses to grow. */
export const LEDGER_ENTRIES_MAX = 100_000;

function keyOf(k: TxnKey): string {
  return `${k.tid}/${k.batch}/${k.stan}`;
}

export class Ledger {
  private readonly entriesByKey = new Map<string, LedgerEntry>();
  private readonly batchesByKey = new Map<string, BatchState>();

  get size(): number {
    return this.entriesByKey.size;
  }

  add(entry: LedgerEntry): void {
    if (this.entriesByKey.size >= LEDGER_ENTRIES_MAX) throw new Error(`simulator ledger full (${LEDGER_ENTRIES_MAX} entries)`);
    this.entriesByKey.set(keyOf(entry), entry);
  }

  find(tid: string, batch: number, stan: number): LedgerEntry | undefined {
    return this.entriesByKey.get(keyOf({ tid, batch, stan }));
  }

  findSaleByRrn(tid: string, rrn: string): LedgerEntry | undefined {
    for (const e of this.entriesByKey.values()) if (e.tid === tid && e.rrn === rrn && e.type === 'sale') return e;
    return undefined;
  }

  /** Copies, in insertion order; filter by terminal and/or batch. */
  entries(filter: { tid?: string; batch?: number } = {}): LedgerEntry[] {
    return [...this.entriesByKey.values()]
      .filter((e) => (filter.tid === undefined || e.tid === filter.tid) && (filter.batch === undefined || e.batch === filter.batch))
      .map((e) => ({ ...e }));
  }

  batch(tid: string, batch: number): BatchState {
    const key = `${tid}/${batch}`;
    let state = this.batchesByKey.get(key);
    if (state === undefined) {
      state = { tid, batch, closed: false, uploads: [], signatures: 0 };
      this.batchesByKey.set(key, state);
    }
    return state;
  }

  /** The batch the host expects a terminal to be in: one after the highest it closed (1 before any). */
  expectedBatch(tid: string): number {
    let highestClosed = 0;
    for (const s of this.batchesByKey.values()) if (s.tid === tid && s.closed && s.batch > highestClosed) highestClosed = s.batch;
    return highestClosed + 1;
  }

  /** A copy of a batch's state, or undefined if the host never heard of it. */
  batchState(tid: string, batch: number): BatchState | undefined {
    const s = this.batchesByKey.get(`${tid}/${batch}`);
    return s === undefined ? undefined : { ...s, uploads: [...s.uploads] };
  }

  /**
   * Totals the way a host computes them: approved, unreversed sales not voided in the batch,
   * and approved, unreversed refunds. Voids themselves count nowhere.
   */
  totals(tid: string, batch: number): SettlementTotals {
    let saleAmountFen = 0, saleCount = 0, refundAmountFen = 0, refundCount = 0;
    for (const e of this.entriesByKey.values()) {
      if (e.tid !== tid || e.batch !== batch || e.status !== 'approved') continue;
      if (e.type === 'sale' && e.voidedBy === undefined) { saleAmountFen += e.amountFen; saleCount++; }
      if (e.type === 'refund') { refundAmountFen += e.amountFen; refundCount++; }
    }
    return { saleAmountFen, saleCount, refundAmountFen, refundCount };
  }
}

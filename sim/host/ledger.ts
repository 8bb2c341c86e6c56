/**
 * The acquirer simulator's own books: what it approved, reversed, voided and settled, per
 * terminal (TID) and batch, keyed by (TID, batch, STAN) with the RRN and auth code it issued.
 * Tests compare this with the terminal's journal, the way an acquirer reconciles.
 *
 * Version 2 (docs/PROTOCOL.md section 14): pre-authorization holds and what captures or releases
 * them, offline sale advices (recorded as sales, `offline: true`), and QR payments. A QR order
 * lives in `qrOrders` from the first answer until it is paid, declined or expired; once paid it is
 * also a ledger entry of type `qrSale`, keyed by the request that created the order. Settlement
 * totals: sales are card sales (online and offline), completions and paid QR sales, each unless
 * voided; refunds are card and QR refunds. A pre-authorization counts nowhere.
 */
import { SettlementTotals, SettlementVerdict } from '../../runtime/host/messages';
import { Wallet } from '../../runtime/host/messages-v2';

export type LedgerTxnType =
  | 'sale' | 'void' | 'refund'
  | 'preAuth' | 'preAuthVoid' | 'completion' | 'completionVoid'
  | 'qrSale' | 'qrVoid' | 'qrRefund';

/** Entry types that count as sales in the settlement totals (unless voided). */
export const SALE_LIKE_TYPES: readonly LedgerTxnType[] = ['sale', 'completion', 'qrSale'];
/** Entry types that count as refunds in the settlement totals. */
export const REFUND_LIKE_TYPES: readonly LedgerTxnType[] = ['refund', 'qrRefund'];
/** QR entries: never reversed by a 0400 (the profile resolves them by query). */
export const QR_TYPES: readonly LedgerTxnType[] = ['qrSale', 'qrVoid', 'qrRefund'];

export interface TxnKey {
  readonly tid: string;
  readonly batch: number;
  readonly stan: number;
}

export interface LedgerEntry extends TxnKey {
  readonly type: LedgerTxnType;
  readonly amountFen: number;
  /**
   * First 6 / last 4: the simulator keeps no full PAN either. For a QR entry, the payment code
   * masked to its last 4 digits (an order the terminal showed has none: empty).
   */
  readonly panMasked: string;
  readonly rrn: string;
  readonly authCode: string;
  /** MMDD and hhmmss the host stamped on its answer. */
  readonly hostDate: string;
  readonly hostTime: string;
  status: 'approved' | 'reversed';
  /**
   * For a sale, completion or QR sale: the void that cancelled it; for a pre-authorization: the
   * pre-authorization void that released it (cleared again if that void is reversed).
   */
  voidedBy?: TxnKey;
  /** For a pre-authorization: the completion that captured it (cleared by a completion void or the completion's reversal). */
  completedBy?: TxnKey;
  /** For a sale or QR sale: refunds against it so far. */
  refundedFen: number;
  /** For a void, refund, pre-authorization void, completion or completion void: the entry it refers to. */
  readonly original?: TxnKey;
  /** An offline sale the terminal approved itself and sent as an advice (0220, 60.1 = 30): 38 is the terminal's. */
  readonly offline?: true;
  /** QR entries: the host's order number (59 A2). */
  readonly orderNo?: string;
  /** A paid QR sale: the wallet that paid (59 A4). */
  readonly wallet?: Wallet;
}

export type QrOrderState = 'waiting' | 'paid' | 'declined' | 'expired';

/**
 * A QR payment as the host tracks it: a customer-presented code (22 = 032, `qrSale`) or an order
 * the terminal shows (22 = 033, `qrOrder`), from its first answer on.
 */
export interface QrOrder extends TxnKey {
  readonly orderNo: string;
  readonly entryMode: '032' | '033';
  readonly amountFen: number;
  /** The RRN of every answer about this order (37), and of its ledger entry once paid. */
  readonly rrn: string;
  /** MMDD of the first answer. */
  readonly hostDate: string;
  /** The payment code masked to its last 4 digits (customer-presented only): the whole code is never kept. */
  readonly codeMasked?: string;
  /** The QR content shown to the customer (59 A3, orders only). */
  readonly qrContent?: string;
  /** Host clock when the order was made, and when it stops waiting (orders with A7 only). */
  readonly createdMs: number;
  readonly expiresMs?: number;
  state: QrOrderState;
  /** Queries answered so far. */
  queries: number;
  /** Paid at this many queries; undefined: only `payOrder` pays it. */
  paysAtQuery?: number;
  /** The decline (39) of a declined order. */
  declineCode?: string;
  wallet?: Wallet;
  payerMasked?: string;
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
/**
 * QR orders kept at once, paid or not. A day of a busy terminal makes a few hundred; more means a
 * terminal asking for orders in a loop, and the simulator refuses to grow rather than let it.
 */
export const QR_ORDERS_MAX = 10_000;

function keyOf(k: TxnKey): string {
  return `${k.tid}/${k.batch}/${k.stan}`;
}

export class Ledger {
  private readonly entriesByKey = new Map<string, LedgerEntry>();
  private readonly batchesByKey = new Map<string, BatchState>();
  private readonly ordersByNo = new Map<string, QrOrder>();

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
    // A completion counts as a sale (profile, Version 2): it is refunded as one.
    for (const e of this.entriesByKey.values()) if (e.tid === tid && e.rrn === rrn && (e.type === 'sale' || e.type === 'completion')) return e;
    return undefined;
  }

  /** Pre-authorizations still holding money (approved, neither completed nor voided), copies. */
  openHolds(tid: string): LedgerEntry[] {
    return this.entries({ tid }).filter((e) => e.type === 'preAuth' && e.status === 'approved' && e.completedBy === undefined && e.voidedBy === undefined);
  }

  /**
   * The pre-authorization a completion or pre-authorization void names by its authorization code
   * and host date alone (61 batch and STAN 000000: the operator keyed it); the latest when several.
   */
  findPreAuthByAuthCode(tid: string, authCode: string, hostDate: string): LedgerEntry | undefined {
    let found: LedgerEntry | undefined;
    for (const e of this.entriesByKey.values()) {
      if (e.tid === tid && e.type === 'preAuth' && e.authCode === authCode && e.hostDate === hostDate) found = e;
    }
    return found;
  }

  addQrOrder(order: QrOrder): void {
    if (this.ordersByNo.size >= QR_ORDERS_MAX) throw new Error(`simulator QR orders full (${QR_ORDERS_MAX})`);
    if (this.ordersByNo.has(order.orderNo)) throw new Error(`QR order ${order.orderNo} exists`);
    this.ordersByNo.set(order.orderNo, order);
  }

  /** The live order (not a copy: the simulator changes its state). */
  qrOrder(orderNo: string): QrOrder | undefined {
    return this.ordersByNo.get(orderNo);
  }

  /** The order made by the request (TID, batch, STAN), when there is one. */
  qrOrderOf(tid: string, batch: number, stan: number): QrOrder | undefined {
    for (const o of this.ordersByNo.values()) if (o.tid === tid && o.batch === batch && o.stan === stan) return o;
    return undefined;
  }

  /** Copies, in the order they were made; filter by terminal. */
  qrOrders(filter: { tid?: string } = {}): QrOrder[] {
    return [...this.ordersByNo.values()].filter((o) => filter.tid === undefined || o.tid === filter.tid).map((o) => ({ ...o }));
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
   * Totals the way a host computes them: approved, unreversed sales not voided in the batch
   * (card sales online and offline, completions, paid QR sales), and approved, unreversed refunds
   * (card and QR). Voids and pre-authorizations count nowhere.
   */
  totals(tid: string, batch: number): SettlementTotals {
    let saleAmountFen = 0, saleCount = 0, refundAmountFen = 0, refundCount = 0;
    for (const e of this.entriesByKey.values()) {
      if (e.tid !== tid || e.batch !== batch || e.status !== 'approved') continue;
      if (SALE_LIKE_TYPES.includes(e.type) && e.voidedBy === undefined) { saleAmountFen += e.amountFen; saleCount++; }
      if (REFUND_LIKE_TYPES.includes(e.type)) { refundAmountFen += e.amountFen; refundCount++; }
    }
    return { saleAmountFen, saleCount, refundAmountFen, refundCount };
  }
}

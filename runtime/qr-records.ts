/**
 * Journal records of QR payments (storage/JOURNAL_FORMAT.md, types 25 and 26; docs/PROTOCOL.md,
 * QR code payments). A QR payment is never reversed with 0400: while its outcome is unknown a
 * `qr-query-pending` record names it, and it is resolved by query (a sale or order) or by sending
 * again (a void or refund). Everything a query needs after a power cut is in this record; the
 * customer's payment code never is (DESIGN.md rule 8: the code is a bearer credential).
 */
import { invariant } from '../common/errors';
import { BATCH_MAX, STAN_MAX } from './host/messages';
import { QR_TXN_KINDS, QrTxnKind, RecordInput, num, optStr, str } from './records';

export interface QrQueryPendingPayload {
  /** The QR transaction's own STAN (its txn-begin). */
  readonly stan: number;
  readonly batch: number;
  readonly kind: QrTxnKind;
  readonly entryMode: '032' | '033';
  readonly amountFen: number;
  /** Field 61's date of a query: the terminal's date in UTC+8 when the request left (MMDD). */
  readonly dateMmdd: string;
  /** The host's order number, once an answer named it (59 A2): queries name the order by it. */
  readonly orderNo?: string;
  /** A void or refund: its original's batch, STAN, date, RRN (sent again from this record). */
  readonly origBatch?: number;
  readonly origStan?: number;
  readonly origDate?: string;
  readonly origRrn?: string;
}

export type QrClearCause = 'approved' | 'declined' | 'not-sent';
export interface QrQueryClearedPayload { readonly stan: number; readonly cause: QrClearCause; readonly responseCode: string }

function compact<T extends object>(o: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export const qrRec = {
  queryPending: (p: QrQueryPendingPayload): RecordInput => {
    invariant(Number.isInteger(p.stan) && p.stan >= 1 && p.stan <= STAN_MAX, 'STAN out of range', { stan: p.stan });
    invariant(Number.isInteger(p.batch) && p.batch >= 1 && p.batch <= BATCH_MAX, 'batch out of range', { batch: p.batch });
    invariant(QR_TXN_KINDS.includes(p.kind), 'not a QR kind', { kind: p.kind });
    invariant(p.entryMode === '032' || p.entryMode === '033', 'QR entry mode unknown');
    invariant(/^\d{4}$/.test(p.dateMmdd), 'date is MMDD');
    invariant(p.kind === 'qrSale' || (p.origRrn !== undefined && p.origStan !== undefined), 'a QR void or refund names its original');
    return { type: 'qrQueryPending', payload: compact(p) };
  },
  queryCleared: (p: QrQueryClearedPayload): RecordInput => {
    invariant(['approved', 'declined', 'not-sent'].includes(p.cause), 'QR clear cause unknown', { cause: p.cause });
    return { type: 'qrQueryCleared', payload: compact(p) };
  },
};

/** A `qr-query-pending` record read back (checked as when written). */
export function qrQueryPendingOf(p: Record<string, unknown>): QrQueryPendingPayload {
  const kind = str(p.kind, 'kind') as QrTxnKind;
  invariant(QR_TXN_KINDS.includes(kind), 'not a QR kind', { kind });
  const entryMode = str(p.entryMode, 'entryMode');
  invariant(entryMode === '032' || entryMode === '033', 'QR entry mode unknown', { entryMode });
  const o = p.origStan === undefined ? undefined : num(p.origStan, 'origStan');
  const ob = p.origBatch === undefined ? undefined : num(p.origBatch, 'origBatch');
  return Object.fromEntries(Object.entries({
    stan: num(p.stan, 'stan'), batch: num(p.batch, 'batch'), kind, entryMode, amountFen: num(p.amountFen, 'amountFen'),
    dateMmdd: str(p.dateMmdd, 'dateMmdd'), orderNo: optStr(p.orderNo, 'orderNo'), origBatch: ob, origStan: o,
    origDate: optStr(p.origDate, 'origDate'), origRrn: optStr(p.origRrn, 'origRrn'),
  }).filter(([, v]) => v !== undefined)) as unknown as QrQueryPendingPayload;
}

/** A txn-begin's or txn-result's `qr` map read back. */
export function qrInfoOf(v: unknown): { entryMode?: '032' | '033'; codeLast4?: string; orderNo?: string; wallet?: string; payerMasked?: string } | undefined {
  if (v === undefined) return undefined;
  invariant(v !== null && typeof v === 'object', 'qr is not a map');
  const o = v as Record<string, unknown>;
  const entryMode = optStr(o.entryMode, 'qr.entryMode');
  invariant(entryMode === undefined || entryMode === '032' || entryMode === '033', 'QR entry mode unknown');
  const codeLast4 = optStr(o.codeLast4, 'qr.codeLast4');
  invariant(codeLast4 === undefined || /^\d{4}$/.test(codeLast4), 'the journal keeps at most 4 digits of a payment code');
  return Object.fromEntries(Object.entries({
    entryMode, codeLast4, orderNo: optStr(o.orderNo, 'qr.orderNo'), wallet: optStr(o.wallet, 'qr.wallet'), payerMasked: optStr(o.payerMasked, 'qr.payerMasked'),
  }).filter(([, x]) => x !== undefined));
}

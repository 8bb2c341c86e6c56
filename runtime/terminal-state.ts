/**
 * The terminal's in-memory state, DERIVED from the journal (DESIGN.md rule 4): boot replays every
 * record through `applyRecord`; the engine applies each record again after its append is durable,
 * so memory never runs ahead of the disk. Nothing here does I/O.
 *
 * Invariants are checked as each record is applied (a result for an unknown STAN, two pending
 * reversals, a batch closed out of order...): a broken one throws InvariantError and the state
 * machine enters recovery mode, naming the record.
 *
 * Transaction status (of the open batch):
 *   pending   txn-begin written, no result yet (the request may be at the host)
 *   approved  00 received and journaled
 *   declined  another code received and journaled
 *   failed    the request never left the terminal (nothing reached the host)
 *   reversed  a reversal cleared it (0410 with 00/12/25), or it was pending and got reversed
 *   voided    a sale with an approved, unreversed void in this batch (derived, see `statusOf`)
 */
import type { AidParams } from './host/emv-params';
import type { CaPublicKey } from './txn/emv-rsa';
import { DecodedRecord, RecordType } from '../storage/record';
import { appendHistory } from './anomaly';
import { invariant } from '../common/errors';
import { BATCH_MAX, EntryMode, ReversalReason, SettlementTotals, SettlementVerdict, STAN_MAX, ZERO_TOTALS } from './host/messages';
import {
  ScriptNoticePendingPayload, checkScriptResults, AnomalyNote, CANCELLING_KINDS, HOST_PARAMS_KIND, HostParamsPayload, KeysPayload, OfflineNotTaken, OperatorDeletedPayload, OperatorPayload, ReceiptCopy, ReversalPendingPayload, Role, SettlementStepName,
  TxnBeginPayload, TxnKind, buf, hostParamsOf, caKeysOf, aidsOf, sellingLockOf, versionFlagsOf, CA_KEYS_KIND, AIDS_KIND, SELLING_LOCK_KIND, VERSION_FLAGS_KIND, SellingLockPayload, VersionFlag, num, optField55, optNum, optStr, str, totalsOf,
} from './records';
import { ADVICE_SENDS_MAX, QR_TXN_KINDS, QrTxnInfo, checkAdviceSends } from './records';
import { QrQueryPendingPayload, qrInfoOf, qrQueryPendingOf } from './qr-records';

export type TxnStatus = 'pending' | 'approved' | 'declined' | 'failed' | 'reversed' | 'voided';

/** A transaction as replayed: what its txn-begin record said, then what happened to it. */
export interface Txn extends Pick<TxnBeginPayload, 'kind' | 'stan' | 'batch' | 'amountFen' | 'panMasked' | 'panEnc' | 'panTag' | 'expiry'
  | 'entryMode' | 'cardSeq' | 'processingCode' | 'operator' | 'origStan' | 'origBatch' | 'origRrn' | 'origAuthCode' | 'origDate' | 'field55'> {
  readonly beganAtMs: number;
  /** The journal sequence number of its txn-begin record (a settled batch's reprint reads the journal from there). */
  readonly beginSeq: number;
  /** pending | approved | declined | failed | reversed (voided is derived). */
  status: Exclude<TxnStatus, 'voided'>;
  responseCode?: string;
  rrn?: string;
  authCode?: string;
  hostDate?: string;
  hostTime?: string;
  settlementDate?: string;
  resultAtMs?: number;
  /** Copies printed (original or reprint). */
  readonly printed: Set<ReceiptCopy>;
  /**
   * An offline sale (approved by the terminal, docs/PROTOCOL.md): its advice is pending until the
   * host takes it (sent), refuses it (rejected) or a supervisor gives it up (abandoned). `sends`
   * counts the advice-result `sending` records: given up after one or more, its outcome is unknown.
   */
  offline?: { state: 'pending' | 'sent' | 'rejected' | 'abandoned'; responseCode?: string; sends?: number };
  /** The customer copy was asked for and could not print (receipt-pending): it waits for paper. */
  customerPending?: boolean;
  /** QR kinds: entry mode, last 4 digits of the code, order number, wallet, masked payer (never the code). */
  qr?: QrTxnInfo;
  signature?: { image: Buffer; width: number; height: number; uploaded: boolean };
  /** The link the host's answer came over, on a board with several (txn-result's `link`: "wifi0", "modem0"). */
  link?: string;
}

export interface PendingReversal extends Omit<ReversalPendingPayload, 'panEnc'> {
  readonly panEnc: Buffer;
}

export interface SettlementProgress {
  readonly batch: number;
  readonly step: SettlementStepName;
  readonly totals: SettlementTotals;
  readonly verdict?: SettlementVerdict;
  readonly hostTotals?: SettlementTotals;
  readonly uploadedCount: number;
}

export interface ClosedBatch {
  readonly batch: number;
  readonly totals: SettlementTotals;
  readonly verdict: SettlementVerdict;
  readonly offlineNotTaken: readonly OfflineNotTaken[];
  /** The anomaly flags the batch raised when it closed (the day report prints them). */
  readonly anomalies: readonly AnomalyNote[];
  readonly closedAtMs: number;
  reportPrinted: boolean;
}

export interface OperatorRecord {
  readonly number: string;
  readonly role: Role;
  readonly passwordHash: Buffer;
  readonly salt: Buffer;
  readonly scryptN: number;
  readonly failedAttempts: number;
  readonly locked: boolean;
}

export interface TerminalState {
  identity?: { serial: string; tid: string; mid: string; board: string; locale: string; testKeys: boolean };
  /** The last STAN reserved (0 before the first). */
  stanLast: number;
  batch: number;
  keys?: KeysPayload;
  signedOn: boolean;
  /** Transactions of the open batch, by STAN. */
  readonly txns: Map<number, Txn>;
  pendingReversal?: PendingReversal;
  /** A QR payment whose outcome is unknown: resolved by query, never reversed (runtime/txn/qr.ts). */
  pendingQrQuery?: QrQueryPendingPayload;
  /** Issuer script result notices (0620) not yet acknowledged, by the notice's STAN (they outlive a settlement: each names its own batch). */
  readonly pendingScriptNotices: Map<number, ScriptNoticePendingPayload>;
  settlement?: SettlementProgress;
  lastClosed?: ClosedBatch;
  readonly operators: Map<string, OperatorRecord>;
  /**
   * Approved sales of every batch this journal holds, by RRN (oldest first): a refund names its
   * original's real batch, STAN and host date in field 61 (docs/PROTOCOL.md, Clarifications) even
   * after the sale's batch was settled. At most REFUND_ORIGINALS_COUNT_MAX, oldest dropped.
   */
  readonly salesByRrn: Map<string, OriginalSale>;
  /**
   * The journal was rebuilt (salvage, restore, factory reset: a `recovery` record with a
   * continuation) since the open batch began: the host may hold transactions this journal lost,
   * so its settlement uploads the batch whatever the verdict (runtime/txn/settlement.ts).
   */
  reconcileBatch?: boolean;
  lastSeq: number;
  /** The clock correction the last host time set (sign-on record); 0 before any. */
  clockOffsetMs?: number;
  /**
   * Approved, unvoided sale amounts of the batches this journal closed (oldest first, at most
   * PROFILE_SAMPLES_MAX): the merchant's usual amounts for the anomaly rules (runtime/anomaly.ts).
   * Derived from the journal: no record of its own.
   */
  saleAmountsFen: number[];
  /** The acquirer's parameters in force (the latest `host-params` settings record), if any were downloaded. */
  hostParams?: HostParamsPayload;
  /** The CA public keys and AID parameters of the last complete downloads (undefined: never downloaded). */
  caKeys?: CaPublicKey[];
  aids?: AidParams[];
  /** Selling locked by the management console (the latest `selling-lock` settings record); undefined: never locked. */
  sellingLock?: SellingLockPayload;
  /** Versions the management console flagged bad (the latest `version-flags` settings record); undefined: none ever. */
  versionFlags?: readonly VersionFlag[];
  /**
   * Approved pre-authorizations of every batch this journal holds, by STAN (a hold outlives its
   * batch: a hotel completes it days later), with what became of them. At most PRE_AUTHS_MAX,
   * oldest dropped.
   */
  readonly preAuths: Map<number, PreAuthHold>;
  /**
   * Transactions of the batches this journal closed, by STAN (the latest batch's wins when a STAN
   * came round again): where their records are, so that a reprint by trace number of a settled
   * batch's slip is built from the journal (Engine.settledTxn). At most SETTLED_TXNS_MAX, oldest
   * dropped. Derived from the journal: no record of its own.
   */
  readonly settledTxns: Map<number, SettledTxn>;
}

/** Where a settled batch's transaction is in the journal: its txn-begin record and its batch's batch-closed record. */
export interface SettledTxn {
  readonly batch: number;
  readonly beginSeq: number;
  readonly closedSeq: number;
}

/** Settled transactions remembered for reprints: ~60 bytes each (about 20 days of a busy counter's trade). */
export const SETTLED_TXNS_MAX = 20_000;

/** A pre-authorization as a completion or its void needs it (docs/PROTOCOL.md, pre-authorization family). */
export interface PreAuthHold {
  readonly batch: number;
  readonly stan: number;
  readonly amountFen: number;
  readonly authCode: string;
  readonly hostDate?: string;
  readonly panEnc: Buffer;
  readonly panMasked: string;
  readonly expiry?: string;
  readonly beganAtMs: number;
  /** open: may be completed or voided; completed by `completedBy` (a completion's STAN); voided. */
  state: 'open' | 'completed' | 'voided';
  completedBy?: number;
}

/** Holds remembered for completion: ~150 bytes each; hosts expire a hold after about 30 days. */
export const PRE_AUTHS_MAX = 10_000;

/** What field 61 of a refund or void needs of the original sale. */
export interface OriginalSale {
  readonly batch: number;
  readonly stan: number;
  /** The host's date (MMDD) from the sale's response (field 13). */
  readonly hostDate?: string;
}

/**
 * Sales remembered for refunds: ~100 bytes each, so at most ~10 MB; a busy terminal makes fewer
 * than this in the 180 days a refund may look back (boot/input.ts).
 */
export const REFUND_ORIGINALS_COUNT_MAX = 100_000;

export function emptyState(): TerminalState {
  return { stanLast: 0, batch: 1, signedOn: false, txns: new Map(), operators: new Map(), salesByRrn: new Map(), lastSeq: 0, preAuths: new Map(), saleAmountsFen: [], pendingScriptNotices: new Map(), settledTxns: new Map() };
}

/** Replays records in order into a fresh state. */
export function deriveState(records: Iterable<DecodedRecord>): TerminalState {
  const s = emptyState();
  for (const r of records) applyRecord(s, r);
  checkState(s);
  return s;
}

export function nextStanAfter(stan: number): number {
  return stan >= STAN_MAX ? 1 : stan + 1;
}

/** Applies one record (in seq order) to the state. */
export function applyRecord(s: TerminalState, r: DecodedRecord): void {
  invariant(r.seq === s.lastSeq + 1 || s.lastSeq === 0, 'records applied out of order', { seq: r.seq, lastSeq: s.lastSeq });
  s.lastSeq = r.seq;
  const p = r.payload;
  switch (r.type) {
    case RecordType.terminalIdentity:
      s.identity = { serial: str(p.serial, 'serial'), tid: str(p.tid, 'tid'), mid: str(p.mid, 'mid'), board: str(p.board, 'board'), locale: str(p.locale, 'locale'), testKeys: p.testKeys === true };
      return;
    case RecordType.keys:
      s.keys = {
        pikEnc: buf(p.pikEnc, 'pikEnc'), makEnc: buf(p.makEnc, 'makEnc'), tdkEnc: buf(p.tdkEnc, 'tdkEnc'),
        kcvPik: buf(p.kcvPik, 'kcvPik'), kcvMak: buf(p.kcvMak, 'kcvMak'), kcvTdk: buf(p.kcvTdk, 'kcvTdk'),
      };
      return;
    case RecordType.stan: {
      const stan = num(p.stan, 'stan');
      invariant(stan >= 1 && stan <= STAN_MAX, 'STAN record out of range', { seq: r.seq, stan });
      s.stanLast = stan;
      return;
    }
    case RecordType.batch:
      s.batch = num(p.batch, 'batch');
      return;
    case RecordType.signOn:
      invariant(s.keys !== undefined, 'sign-on recorded without keys', { seq: r.seq });
      s.signedOn = true;
      if (p.clockOffsetMs !== undefined) {
        s.clockOffsetMs = num(p.clockOffsetMs, 'clockOffsetMs');
      }
      return;
    case RecordType.signOff:
      s.signedOn = false;
      return;
    case RecordType.txnBegin: return applyBegin(s, r);
    case RecordType.txnResult: return applyResult(s, r);
    case RecordType.receiptPrinted: return applyReceipt(s, r);
    case RecordType.receiptPending: {
      // A copy of a closed batch's transaction is no longer in memory: nothing waits for it.
      const t = s.txns.get(num(p.stan, 'stan'));
      if (t) t.customerPending = true;
      return;
    }
    case RecordType.signature: {
      const t = txnOf(s, num(p.stan, 'stan'), r.seq);
      t.signature = { image: buf(p.image, 'image'), width: num(p.width, 'width'), height: num(p.height, 'height'), uploaded: false };
      return;
    }
    case RecordType.signatureUploaded: {
      const t = txnOf(s, num(p.stan, 'stan'), r.seq);
      invariant(t.signature !== undefined, 'signature uploaded before it was captured', { seq: r.seq });
      t.signature.uploaded = true;
      return;
    }
    case RecordType.reversalPending: return applyReversalPending(s, r);
    case RecordType.reversalCleared: return applyReversalCleared(s, r);
    case RecordType.scriptNoticePending: {
      const n = scriptNoticeOf(p);
      s.pendingScriptNotices.set(n.stan, n);
      return;
    }
    case RecordType.scriptNoticeCleared:
      invariant(s.pendingScriptNotices.delete(num(p.stan, 'stan')), 'script notice cleared that was not pending', { seq: r.seq, stan: p.stan });
      return;
    case RecordType.qrQueryPending: {
      const q = qrQueryPendingOf(p);
      invariant(s.pendingQrQuery === undefined || s.pendingQrQuery.stan === q.stan, 'a second QR query pending beside another', { seq: r.seq, stan: q.stan });
      s.pendingQrQuery = q;
      return;
    }
    case RecordType.qrQueryCleared:
      invariant(s.pendingQrQuery?.stan === num(p.stan, 'stan'), 'QR query cleared that was not pending', { seq: r.seq, stan: p.stan });
      s.pendingQrQuery = undefined;
      return;
    case RecordType.adviceResult: {
      const t = txnOf(s, num(p.stan, 'stan'), r.seq);
      invariant(t.offline?.state === 'pending', 'advice result for a sale that is not waiting offline', { seq: r.seq, stan: t.stan });
      const sends = t.offline.sends;
      if (p.state === 'sending') {
        invariant((sends ?? 0) < ADVICE_SENDS_MAX, 'advice sent too many times', { seq: r.seq, stan: t.stan });
        t.offline = { state: 'pending', sends: (sends ?? 0) + 1 };
        return;
      }
      if (p.state === 'unsent') {
        invariant(sends !== undefined && sends >= 1, 'advice send taken back that was not journaled', { seq: r.seq, stan: t.stan });
        t.offline = sends > 1 ? { state: 'pending', sends: sends - 1 } : { state: 'pending' };
        return;
      }
      t.offline = { state: str(p.state, 'state') as 'sent' | 'rejected' | 'abandoned', responseCode: str(p.responseCode, 'responseCode'), ...(sends !== undefined ? { sends } : {}) };
      // The host's RRN and date from the 0230: a void or refund of the sale names them.
      if (p.rrn !== undefined) t.rrn = str(p.rrn, 'rrn');
      if (p.hostDate !== undefined) t.hostDate = str(p.hostDate, 'hostDate');
      if (p.hostTime !== undefined) t.hostTime = str(p.hostTime, 'hostTime');
      if (t.offline.state === 'sent' && t.rrn !== undefined) rememberSale(s, t.rrn, { batch: t.batch, stan: t.stan, hostDate: t.hostDate });
      return;
    }
    case RecordType.settlementStep: return applySettlementStep(s, r);
    case RecordType.batchClosed: return applyBatchClosed(s, r);
    case RecordType.operator: return applyOperator(s, p as unknown as OperatorPayload | OperatorDeletedPayload);
    case RecordType.recovery: return applyRebuild(s, r);
    case RecordType.carriedState: return applyCarried(s, r);
    case RecordType.settings:
      if (p.kind === HOST_PARAMS_KIND) s.hostParams = hostParamsOf(p);
      else if (p.kind === CA_KEYS_KIND) s.caKeys = caKeysOf(p);
      else if (p.kind === AIDS_KIND) s.aids = aidsOf(p);
      else if (p.kind === SELLING_LOCK_KIND) s.sellingLock = sellingLockOf(p);
      else if (p.kind === VERSION_FLAGS_KIND) s.versionFlags = versionFlagsOf(p).flags;
      return;
    default:
      return; // journal-created, settings, admin actions, recovery, test: no state here
  }
}

function txnOf(s: TerminalState, stan: number, seq: number): Txn {
  const t = s.txns.get(stan);
  invariant(t !== undefined, 'record names a transaction not in the open batch', { seq, stan });
  return t;
}

function applyBegin(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  const stan = num(p.stan, 'stan');
  invariant(!s.txns.has(stan), 'STAN used twice in one batch', { seq: r.seq, stan });
  invariant(num(p.batch, 'batch') === s.batch, 'transaction begun in a batch that is not open', { seq: r.seq, batch: p.batch, open: s.batch });
  invariant(s.settlement === undefined, 'transaction begun during settlement', { seq: r.seq });
  invariant(s.pendingReversal === undefined || s.pendingReversal.stan === stan, 'financial message begun with a reversal pending', { seq: r.seq });
  s.txns.set(stan, {
    kind: str(p.kind, 'kind') as TxnKind, stan, batch: s.batch, amountFen: num(p.amountFen, 'amountFen'),
    panMasked: str(p.panMasked, 'panMasked'), panEnc: buf(p.panEnc, 'panEnc'), panTag: buf(p.panTag, 'panTag'),
    expiry: optStr(p.expiry, 'expiry'), entryMode: str(p.entryMode, 'entryMode') as EntryMode,
    // The card sequence number (23): an offline sale's advice carries it "as a sale" did.
    ...(p.cardSeq !== undefined ? { cardSeq: optStr(p.cardSeq, 'cardSeq') } : {}),
    processingCode: str(p.processingCode, 'processingCode'), operator: str(p.operator, 'operator'),
    origStan: optNum(p.origStan, 'origStan'), origBatch: optNum(p.origBatch, 'origBatch'), origRrn: optStr(p.origRrn, 'origRrn'),
    origAuthCode: optStr(p.origAuthCode, 'origAuthCode'), origDate: optStr(p.origDate, 'origDate'),
    beganAtMs: r.timeMs, beginSeq: r.seq, status: 'pending', printed: new Set(), ...(p.qr !== undefined ? { qr: qrInfoOf(p.qr) } : {}),
    ...(p.field55 !== undefined ? { field55: optField55(p.field55, 'field55') } : {}),
  });
}

function applyResult(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  const t = txnOf(s, num(p.stan, 'stan'), r.seq);
  invariant(t.status === 'pending', 'second result for one transaction', { seq: r.seq, stan: t.stan, status: t.status });
  const outcome = str(p.outcome, 'outcome');
  // An offline approval is an approval the customer holds a receipt for; its advice is pending.
  t.status = outcome === 'approved' || outcome === 'offline' ? 'approved' : outcome === 'declined' ? 'declined' : 'failed';
  if (outcome === 'offline') t.offline = { state: 'pending' };
  t.responseCode = str(p.responseCode, 'responseCode');
  t.rrn = optStr(p.rrn, 'rrn');
  t.authCode = optStr(p.authCode, 'authCode');
  t.hostDate = optStr(p.hostDate, 'hostDate');
  t.hostTime = optStr(p.hostTime, 'hostTime');
  t.settlementDate = optStr(p.settlementDate, 'settlementDate');
  if (p.qr !== undefined) t.qr = { ...t.qr, ...qrInfoOf(p.qr) };
  const link = optStr(p.link, 'link');
  if (link !== undefined) t.link = link;
  t.resultAtMs = r.timeMs;
  // A completion counts as a sale (profile, Version 2): a refund of it names its batch and STAN too.
  if ((t.kind === 'sale' || t.kind === 'completion') && t.status === 'approved' && t.rrn !== undefined) rememberSale(s, t.rrn, { batch: t.batch, stan: t.stan, hostDate: t.hostDate });
  if (t.status === 'approved') applyPreAuthResult(s, t);
}

/** What an approved member of the pre-authorization family does to the hold it names. */
function applyPreAuthResult(s: TerminalState, t: Txn): void {
  if (t.kind === 'preAuth') {
    s.preAuths.delete(t.stan);
    s.preAuths.set(t.stan, {
      batch: t.batch, stan: t.stan, amountFen: t.amountFen, authCode: t.authCode ?? '', hostDate: t.hostDate, panEnc: t.panEnc,
      panMasked: t.panMasked, expiry: t.expiry, beganAtMs: t.beganAtMs, state: 'open',
    });
    if (s.preAuths.size > PRE_AUTHS_MAX) s.preAuths.delete(s.preAuths.keys().next().value as number);
    return;
  }
  // A keyed original (not in this journal) has no origStan: nothing here to update.
  const hold = t.origStan !== undefined ? s.preAuths.get(t.origStan) : undefined;
  if (t.kind === 'preAuthVoid' && hold) hold.state = 'voided';
  if (t.kind === 'completion' && hold) { hold.state = 'completed'; hold.completedBy = t.stan; }
  if (t.kind === 'completionVoid' && t.origStan !== undefined) {
    // The hold the voided completion captured is open again (profile).
    for (const h of s.preAuths.values()) if (h.completedBy === t.origStan) { h.state = 'open'; h.completedBy = undefined; }
  }
}

function rememberSale(s: TerminalState, rrn: string, sale: OriginalSale): void {
  s.salesByRrn.delete(rrn);
  s.salesByRrn.set(rrn, sale);
  if (s.salesByRrn.size > REFUND_ORIGINALS_COUNT_MAX) s.salesByRrn.delete(s.salesByRrn.keys().next().value as string);
}

function applyReceipt(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  const copy = str(p.copy, 'copy') as ReceiptCopy;
  if (copy === 'settlement') {
    if (s.lastClosed && s.lastClosed.batch === optNum(p.batch, 'batch')) s.lastClosed.reportPrinted = true;
    return;
  }
  // A reprint of a receipt of a closed batch names a STAN no longer in memory: nothing to mark.
  const t = s.txns.get(num(p.stan, 'stan'));
  if (t) t.printed.add(copy);
}

function anomalyNoteOf(v: unknown): AnomalyNote {
  invariant(v !== null && typeof v === 'object', 'anomaly entry is not a map');
  const o = v as Record<string, unknown>;
  return { rule: str(o.rule, 'rule'), zh: str(o.zh, 'zh'), en: str(o.en, 'en') };
}

function notTakenOf(v: unknown): OfflineNotTaken {
  invariant(v !== null && typeof v === 'object', 'offline list entry is not a map');
  const o = v as Record<string, unknown>;
  const state = str(o.state, 'state');
  invariant(state === 'rejected' || state === 'abandoned', 'offline list state unknown', { state });
  const entry: OfflineNotTaken = { stan: num(o.stan, 'stan'), amountFen: num(o.amountFen, 'amountFen'), panMasked: str(o.panMasked, 'panMasked'), state, responseCode: str(o.responseCode, 'responseCode'),
    ...(o.sends !== undefined ? { sends: num(o.sends, 'sends') } : {}) };
  checkAdviceSends(entry);
  return entry;
}

function scriptNoticeOf(p: Record<string, unknown>): ScriptNoticePendingPayload {
  const scriptResults = buf(p.scriptResults, 'scriptResults');
  checkScriptResults(scriptResults);
  return {
    stan: num(p.stan, 'stan'), batch: num(p.batch, 'batch'), origStan: num(p.origStan, 'origStan'), origBatch: num(p.origBatch, 'origBatch'),
    origDate: str(p.origDate, 'origDate'), rrn: str(p.rrn, 'rrn'), amountFen: num(p.amountFen, 'amountFen'), panEnc: buf(p.panEnc, 'panEnc'),
    panMasked: str(p.panMasked, 'panMasked'), processingCode: str(p.processingCode, 'processingCode'), entryMode: str(p.entryMode, 'entryMode') as EntryMode,
    cardSeq: optStr(p.cardSeq, 'cardSeq'), field55: optField55(p.field55, 'field55') as Buffer, scriptResults,
  };
}

function applyReversalPending(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  const stan = num(p.stan, 'stan');
  invariant(s.pendingReversal === undefined || s.pendingReversal.stan === stan, 'a second reversal pending beside another', { seq: r.seq, stan, pending: s.pendingReversal?.stan });
  s.pendingReversal = {
    stan, batch: num(p.batch, 'batch'), reason: str(p.reason, 'reason') as ReversalReason, kind: str(p.kind, 'kind') as TxnKind,
    amountFen: num(p.amountFen, 'amountFen'), panEnc: buf(p.panEnc, 'panEnc'), panMasked: str(p.panMasked, 'panMasked'),
    processingCode: str(p.processingCode, 'processingCode'), entryMode: str(p.entryMode, 'entryMode') as EntryMode,
    conditionCode: str(p.conditionCode, 'conditionCode'), type60: str(p.type60, 'type60'),
    expiry: optStr(p.expiry, 'expiry'), cardSeq: optStr(p.cardSeq, 'cardSeq'), authCode: optStr(p.authCode, 'authCode'),
    original61: optStr(p.original61, 'original61'), field55: optField55(p.field55, 'field55'),
    ...(p.decided === true ? { decided: true } : {}),
  };
}

function applyReversalCleared(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  const stan = num(p.stan, 'stan');
  invariant(s.pendingReversal?.stan === stan, 'reversal cleared that was not pending', { seq: r.seq, stan });
  s.pendingReversal = undefined;
  if (str(p.cause, 'cause') !== 'reversed') return;
  const t = s.txns.get(stan);
  if (t) t.status = 'reversed';
}

function applySettlementStep(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  const batch = num(p.batch, 'batch');
  invariant(batch === s.batch, 'settlement step for a batch that is not open', { seq: r.seq, batch, open: s.batch });
  const step = str(p.step, 'step') as SettlementStepName;
  if (step === 'begun') {
    invariant(s.pendingReversal === undefined, 'settlement begun with a reversal pending', { seq: r.seq });
    s.settlement = { batch, step, totals: totalsOf(p.totals), uploadedCount: 0 };
    return;
  }
  const cur = s.settlement;
  invariant(cur !== undefined, 'settlement step without settlement begun', { seq: r.seq, step });
  s.settlement = {
    ...cur, step,
    verdict: p.verdict === undefined ? cur.verdict : (str(p.verdict, 'verdict') as SettlementVerdict),
    hostTotals: p.hostTotals === undefined ? cur.hostTotals : totalsOf(p.hostTotals),
    uploadedCount: optNum(p.uploadedCount, 'uploadedCount') ?? cur.uploadedCount,
  };
}

function applyBatchClosed(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  invariant(num(p.batch, 'batch') === s.batch, 'closed a batch that is not open', { seq: r.seq, batch: p.batch, open: s.batch });
  const sold = [...s.txns.values()].filter((t) => t.kind === 'sale' && statusOf(s, t) === 'approved' && takenByHost(t)).map((t) => t.amountFen);
  s.saleAmountsFen = appendHistory(s.saleAmountsFen, sold);
  s.lastClosed = {
    batch: s.batch, totals: totalsOf(p.totals), verdict: str(p.verdict, 'verdict') as SettlementVerdict, closedAtMs: r.timeMs, reportPrinted: false,
    offlineNotTaken: Array.isArray(p.offlineNotTaken) ? (p.offlineNotTaken as unknown[]).map(notTakenOf) : [],
    anomalies: Array.isArray(p.anomalies) ? (p.anomalies as unknown[]).map(anomalyNoteOf) : [],
  };
  for (const t of s.txns.values()) {
    s.settledTxns.delete(t.stan);
    s.settledTxns.set(t.stan, { batch: t.batch, beginSeq: t.beginSeq, closedSeq: r.seq });
    if (s.settledTxns.size > SETTLED_TXNS_MAX) s.settledTxns.delete(s.settledTxns.keys().next().value as number);
  }
  s.batch = num(p.nextBatch, 'nextBatch');
  s.settlement = undefined;
  s.txns.clear();
  s.reconcileBatch = undefined;
}

/**
 * A rebuilt journal's continuation (runtime/rebuild.ts): the STAN continues after the safety gap;
 * a batch found open beyond this journal's means its open batch was settled in lost records, so
 * its transactions leave the open state (a pending reversal stays: it names its own batch).
 * A `recovery` record without a continuation (a cut torn tail) changes nothing.
 */
function applyRebuild(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  if (p.stanLast === undefined && p.batch === undefined) return;
  const stanLast = optNum(p.stanLast, 'stanLast');
  if (stanLast !== undefined) {
    invariant(stanLast >= 1 && stanLast <= STAN_MAX, 'continuation STAN out of range', { seq: r.seq, stanLast });
    s.stanLast = stanLast;
  }
  const batch = optNum(p.batch, 'batch');
  if (batch !== undefined && batch !== s.batch) {
    invariant(batch >= 1 && batch <= BATCH_MAX, 'continuation batch out of range', { seq: r.seq, batch });
    s.batch = batch;
    s.txns.clear();
    s.settlement = undefined;
  }
  s.reconcileBatch = true;
}

/**
 * What an archived journal's state had that no record of its own carries (runtime/archive.ts): the
 * refund index and the holds, oldest first, and the amount profile. Only at the head of a journal
 * that continues an archived one: nothing in the open batch yet.
 */
function applyCarried(s: TerminalState, r: DecodedRecord): void {
  const p = r.payload;
  invariant(s.txns.size === 0 && s.settlement === undefined, 'carried state after the batch began', { seq: r.seq });
  if (p.saleAmountsFen !== undefined) {
    invariant(Array.isArray(p.saleAmountsFen), 'carried amounts are not a list', { seq: r.seq });
    s.saleAmountsFen = (p.saleAmountsFen as unknown[]).map((v) => num(v, 'saleAmountsFen'));
  }
  for (const e of listOf(p.salesByRrn, r.seq)) {
    invariant(Array.isArray(e) && (e.length === 3 || e.length === 4), 'carried sale malformed', { seq: r.seq });
    const [rrn, batch, stan, hostDate] = e as unknown[];
    rememberSale(s, str(rrn, 'rrn'), { batch: num(batch, 'batch'), stan: num(stan, 'stan'), hostDate: optStr(hostDate, 'hostDate') });
  }
  for (const e of listOf(p.preAuths, r.seq)) {
    invariant(e !== null && typeof e === 'object', 'carried hold malformed', { seq: r.seq });
    const h = e as Record<string, unknown>;
    const state = str(h.state, 'state');
    invariant(state === 'open' || state === 'completed' || state === 'voided', 'carried hold state unknown', { seq: r.seq, state });
    const stan = num(h.stan, 'stan');
    s.preAuths.set(stan, {
      batch: num(h.batch, 'batch'), stan, amountFen: num(h.amountFen, 'amountFen'), authCode: str(h.authCode, 'authCode'), hostDate: optStr(h.hostDate, 'hostDate'),
      panEnc: buf(h.panEnc, 'panEnc'), panMasked: str(h.panMasked, 'panMasked'), expiry: optStr(h.expiry, 'expiry'), beganAtMs: num(h.beganAtMs, 'beganAtMs'), state,
      ...(h.completedBy !== undefined ? { completedBy: num(h.completedBy, 'completedBy') } : {}),
    });
    if (s.preAuths.size > PRE_AUTHS_MAX) s.preAuths.delete(s.preAuths.keys().next().value as number);
  }
}

function listOf(v: unknown, seq: number): unknown[] {
  if (v === undefined) return [];
  invariant(Array.isArray(v), 'carried list malformed', { seq });
  return v;
}

function applyOperator(s: TerminalState, p: OperatorPayload | OperatorDeletedPayload): void {
  if (p.event === 'deleted') {
    // Only an operator that exists is deleted (runtime/operators.ts checks it before writing).
    invariant(s.operators.has(str(p.number, 'number')), 'operator deleted that does not exist', { number: p.number });
    s.operators.delete(p.number);
    return;
  }
  s.operators.set(str(p.number, 'number'), {
    number: p.number, role: str(p.role, 'role') as Role, passwordHash: buf(p.passwordHash, 'passwordHash'), salt: buf(p.salt, 'salt'),
    scryptN: num(p.scryptN, 'scryptN'), failedAttempts: num(p.failedAttempts, 'failedAttempts'), locked: p.locked === true,
  });
}

/** Cross-record invariants, checked after replay. */
export function checkState(s: TerminalState): void {
  const pending = [...s.txns.values()].filter((t) => t.status === 'pending');
  for (const t of pending) {
    // A txn without a result always has its reversal pending (written in the same commit); a QR
    // payment its query pending instead (never reversed).
    if (QR_TXN_KINDS.includes(t.kind)) invariant(s.pendingQrQuery?.stan === t.stan, 'QR payment pending without a pending query', { stan: t.stan });
    else invariant(s.pendingReversal?.stan === t.stan, 'transaction pending without a pending reversal', { stan: t.stan });
  }
  // One card message in flight and one QR payment unresolved at most (a card sale may go on beside it).
  invariant(pending.filter((t) => !QR_TXN_KINDS.includes(t.kind)).length <= 1, 'more than one transaction pending', { count: pending.length });
  invariant(pending.filter((t) => QR_TXN_KINDS.includes(t.kind)).length <= 1, 'more than one QR payment pending', { count: pending.length });
}

// ---------------------------------------------------------------- queries

/**
 * The status including voids: a sale (completion) with an approved void (completion void) in the
 * batch is voided, and so is a pre-authorization whose hold was voided.
 */
export function statusOf(s: TerminalState, t: Txn): TxnStatus {
  if (t.status !== 'approved') return t.status;
  // A chip sale the host approved and the card has not confirmed yet (emv-online.ts): its reversal
  // (06) stays pending until the card's TC, so it is not done; a power cut now reverses it.
  if (awaitingCard(s, t)) return 'pending';
  if (countsAsSale(t.kind) && voidOf(s, t) !== undefined) return 'voided';
  if (t.kind === 'preAuth' && s.preAuths.get(t.stan)?.state === 'voided') return 'voided';
  return t.status;
}

/**
 * Sales (by STAN) with a live void (approved, or pending: a void in flight already stops a second
 * one), computed once per journal position: totals over a full batch stay linear.
 */
const voidsCache = new WeakMap<TerminalState, { seq: number; bySale: Map<number, Txn> }>();

function liveVoids(s: TerminalState): Map<number, Txn> {
  const cached = voidsCache.get(s);
  if (cached && cached.seq === s.lastSeq) return cached.bySale;
  const bySale = new Map<number, Txn>();
  for (const t of s.txns.values()) {
    // The voids of what counts as a sale (a pre-authorization's void is the hold's state, `preAuths`).
    const target = CANCELLING_KINDS[t.kind];
    if (target !== undefined && countsAsSale(target) && t.origStan !== undefined && (t.status === 'approved' || t.status === 'pending')) bySale.set(t.origStan, t);
  }
  voidsCache.set(s, { seq: s.lastSeq, bySale });
  return bySale;
}

export function voidOf(s: TerminalState, sale: Txn): Txn | undefined {
  const v = liveVoids(s).get(sale.stan);
  return v !== undefined && CANCELLING_KINDS[v.kind] === sale.kind ? v : undefined;
}

/** Kinds the host counts as sales in the settlement totals (a completion captures money like a sale). */
export function countsAsSale(kind: TxnKind): boolean {
  return kind === 'sale' || kind === 'completion' || kind === 'qrSale';
}

/**
 * Totals the way the host computes them: approved sales and completions not voided, approved
 * refunds. A pre-authorization holds money, it does not take it: not in the totals.
 */
export function batchTotals(s: TerminalState): SettlementTotals {
  let saleAmountFen = 0, saleCount = 0, refundAmountFen = 0, refundCount = 0;
  for (const t of s.txns.values()) {
    const st = statusOf(s, t);
    if (countsAsSale(t.kind) && st === 'approved' && takenByHost(t)) { saleAmountFen += t.amountFen; saleCount++; }
    if ((t.kind === 'refund' || t.kind === 'qrRefund') && st === 'approved') { refundAmountFen += t.amountFen; refundCount++; }
  }
  return saleCount + refundCount === 0 ? ZERO_TOTALS : { saleAmountFen, saleCount, refundAmountFen, refundCount };
}

/** Transactions the batch upload sends: those the totals count. */
export function uploadable(s: TerminalState): Txn[] {
  // Not QR payments: a 0320 names a card (field 2, required) and a QR payment has none; the host
  // holds its own QR orders (docs/PROTOCOL.md, QR code payments: batch upload).
  return [...s.txns.values()].filter((t) => (countsAsSale(t.kind) || t.kind === 'refund') && !QR_TXN_KINDS.includes(t.kind) && statusOf(s, t) === 'approved' && takenByHost(t)).sort((a, b) => a.stan - b.stan);
}

/** An online approval, or an offline sale whose advice the host accepted (profile: offline sales count once sent). */
export function takenByHost(t: Txn): boolean {
  return t.offline === undefined || t.offline.state === 'sent';
}

/**
 * An offline sale given up after its advice went to the host and got no answer: the host may have
 * booked it while the terminal's totals leave it out (docs/PROTOCOL.md, the settlement then disagrees).
 */
export function outcomeUnknown(t: Txn): boolean {
  return t.offline?.state === 'abandoned' && (t.offline.sends ?? 0) > 0;
}

/** Offline sales whose advice still waits, oldest first (sent before the next online message and before settlement). */
export function pendingAdvices(s: TerminalState): Txn[] {
  return [...s.txns.values()].filter((t) => t.offline?.state === 'pending').sort((a, b) => a.beganAtMs - b.beganAtMs || a.stan - b.stan);
}

/** Approved, and its reversal still pending: a chip sale waiting for the card's final cryptogram (statusOf). */
function awaitingCard(s: TerminalState, t: Txn): boolean {
  return s.pendingReversal?.stan === t.stan && s.pendingReversal.kind === t.kind;
}

/** Approved transactions whose merchant copy never printed (boot offers a reprint). */
export function unprintedReceipts(s: TerminalState): Txn[] {
  return [...s.txns.values()].filter((t) => t.status === 'approved' && !awaitingCard(s, t) && !t.printed.has('merchant'));
}

/**
 * Copies waiting for the printer, in print order: per approved transaction (oldest first) its
 * merchant copy until printed, then its customer copy when one was asked for and could not print.
 */
export function pendingCopies(s: TerminalState): Array<{ readonly stan: number; readonly copy: 'merchant' | 'customer' }> {
  const out: Array<{ stan: number; copy: 'merchant' | 'customer' }> = [];
  for (const t of s.txns.values()) {
    if (t.status !== 'approved' || awaitingCard(s, t)) continue;
    if (!t.printed.has('merchant')) out.push({ stan: t.stan, copy: 'merchant' });
    if (t.customerPending && !t.printed.has('customer')) out.push({ stan: t.stan, copy: 'customer' });
  }
  return out;
}

export function signaturesToUpload(s: TerminalState): Txn[] {
  return [...s.txns.values()].filter((t) => t.signature !== undefined && !t.signature.uploaded && t.rrn !== undefined && t.status === 'approved');
}

/**
 * QR code payments (扫码, docs/PROTOCOL.md "QR code payments"), over the TerminalEngine.
 *
 *   被扫 (customer-presented): qrSale, 59 A1 = the payment code the scanner read or the operator
 *        keyed. The code lives only in memory until the request is built; the journal keeps its
 *        last 4 digits.
 *   主扫 (terminal-presented): qrOrder, 59 A7 = validity; the answer's A3 is shown as a QR code
 *        (or printed), then the terminal queries until the customer paid. The profile answers a
 *        fresh order P1 with A2 A3 (made, not scanned yet); 00 with A2 A3 and no A4/A5 is read the
 *        same way, 00 with A4/A5 is paid (`orderMade`).
 *
 * Durability (DESIGN.md rules 4 and 5), like a card sale's but never reversed with 0400:
 *   1. one commit: STAN reserved + txn-begin (kind qrSale/qrVoid/qrRefund, no card) +
 *      qr-query-pending                                                      -> then send
 *   2. 00 paid (or any final answer): one commit txn-result + qr-query-cleared -> then return
 *      P1 (waiting, an order made), or no usable answer: the pending record stays and the
 *      terminal queries (qrQuery, 61 = the original's batch + STAN + date, 59 A2) every
 *      QR_QUERY_INTERVAL_MS for up to QR_WAIT_MS_MAX, with a countdown and CANCEL.
 * An outcome still unknown after that (no answer, P1 to the limit, CANCEL) is resolved by
 * `resolvePending` before any other QR message, before settlement and at boot; a payment found
 * paid then is voided at once (qrVoid): the operator gave up on it and the customer holds no
 * receipt, so it must not stand. Its sale and its void then wait for the printer like any
 * unprinted receipt (pendingCopies), so neither goes without paper.
 *
 * A void or refund whose answer was lost is resolved by sending it again (a new STAN, the same
 * original): 00 it is done now; any other answer is journaled as the decline it is (a host that
 * did the first one answers 12: docs/PROTOCOL.md Known differences says what that leaves).
 */
import { PosError, isPosError, isStopError } from '../../common/errors';
import { Logger } from '../../common/log';
import { TZ_OFFSET_MINUTES_DEFAULT, mmddIn, monotonicMs } from '../../common/time';
import { EntryMode, Request } from '../host/messages';
import {
  PAYMENT_CODE_DIGITS_MAX, PAYMENT_CODE_DIGITS_MIN, QrResult, buildQrOrder, buildQrQuery, buildQrRefund, buildQrSale, buildQrVoid, parseQrResponse,
} from '../host/messages-v2';
import { QrEntryMode } from '../host/fields';
import { MAC_ERROR_RESPONSE_CODE, ResponseCodeText, explainResponseCode } from '../host/response-codes';
import { textField } from '../host/packager';
import { QrTxnInfo, QrTxnKind, RecordInput, TxnBeginPayload, rec } from '../records';
import { QrQueryPendingPayload, qrRec } from '../qr-records';
import { Session } from '../operators';
import { Txn, statusOf } from '../terminal-state';
import { TerminalEngine, TxnView, requestNeverLeft, viewOf } from './engine';

/** The profile's query interval while a customer pays (P1). */
export const QR_QUERY_INTERVAL_MS = 3000;
/** The profile's longest wait for a QR payment before its outcome counts as unknown. */
export const QR_WAIT_MS_MAX = 60_000;
/** Order validity (A7) asked of the host: the terminal's own wait, so an order nobody waits for closes at the host too. */
export const QR_ORDER_VALIDITY_S = QR_WAIT_MS_MAX / 1000;
/** Queries per attempt to resolve an unknown payment outside the wait (boot, before a QR message, before settlement). */
export const QR_RESOLVE_QUERIES_MAX = 3;
/**
 * Answers to a QR query that refuse the query itself, not the payment: format error, the switch or
 * issuer unavailable, a system malfunction, the switch's timeout, this terminal's MAC not verified.
 * They say nothing of whether the customer paid, so the payment stays pending and is asked about
 * again. The profile's "any other code is a decline" is read as said of the payment's own answer:
 * a paid payment recorded declined on a query's 96 would be paid again by a customer told it failed.
 */
export const QR_QUERY_NOT_ANSWERED_CODES: readonly string[] = ['30', '91', '96', '98', MAC_ERROR_RESPONSE_CODE];
/** What the journal keeps of a payment code. */
export const PAYMENT_CODE_KEPT_DIGITS = 4;

const NO_CARD = Buffer.alloc(0);

export type QrFlowResult =
  | { readonly outcome: 'approved'; readonly txn: TxnView }
  | { readonly outcome: 'declined'; readonly txn: TxnView; readonly text: ResponseCodeText }
  /** Unknown: the query-pending record stays; `resolvePending` settles it later. */
  | { readonly outcome: 'pending'; readonly stan: number; readonly why: 'cancelled' | 'timeout' | 'no-answer'; readonly error?: PosError }
  /** The request never left the terminal: nothing happened at the host. */
  | { readonly outcome: 'failed'; readonly error: PosError; readonly stan?: number };

export interface QrWait {
  /** CANCEL: the operator gives up waiting (the payment stays pending, never reversed). */
  readonly signal?: AbortSignal;
  /** 主扫: the QR content to show the customer (A3) and its order number (A2, when given), once the host made the order. */
  readonly onOrder?: (content: string, orderNo?: string) => void;
  /** Time left of the wait, before each pause between queries (the screen's countdown). */
  readonly onCountdown?: (remainingMs: number) => void;
}

export interface QrDeps {
  /**
   * The pause between queries; resolves early when `signal` aborts. Tests and the simulation pass
   * one that moves their clock: its time is virtual, so the wait then counts its pauses alone.
   */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** What resolving a pending QR payment did: nothing pending, resolved (with what), voided after being found paid, still pending. */
export interface QrResolution {
  readonly resolution: 'none' | 'resolved' | 'voided' | 'pending';
  /** The payment found paid and the void that cancelled it (their receipts wait for the printer). */
  readonly paid?: TxnView;
  readonly void?: QrFlowResult;
}

function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(); return; }
    const timer = setTimeout(done, ms);
    function done(): void { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** 61's date when the terminal has no host date: its own, in the host's zone (UTC+8: the profile). */
function hostMmdd(ms: number): string {
  return mmddIn(ms, TZ_OFFSET_MINUTES_DEFAULT);
}

/**
 * The journal's txn-begin holds the QR entry mode (032/033) in its `entryMode` field; the type is
 * the card modes' because the card flows never read a QR kind's (runtime/records.ts checks it).
 */
function atRest(m: QrEntryMode): EntryMode {
  return m as string as EntryMode;
}

function rethrowFatal(e: unknown): void {
  if (!isPosError(e) || isStopError(e)) throw e;
}

export function checkPaymentCode(code: string): void {
  if (!new RegExp(`^\\d{${PAYMENT_CODE_DIGITS_MIN},${PAYMENT_CODE_DIGITS_MAX}}$`).test(code)) {
    // Never the code itself in an error: only its length.
    throw new PosError('OPR_PAYMENT_CODE', `a payment code is ${PAYMENT_CODE_DIGITS_MIN}..${PAYMENT_CODE_DIGITS_MAX} digits`, { length: code.length });
  }
}

interface BeginInfo {
  readonly kind: QrTxnKind;
  readonly stan: number;
  readonly amountFen: number;
  readonly operator: string;
  readonly entryMode: QrEntryMode;
  readonly qr: QrTxnInfo;
  readonly orig?: { readonly batch: number; readonly stan: number; readonly dateMmdd: string; readonly rrn: string };
}

export class QrPayments {
  private readonly log: Logger;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * What the wait is timed on: the monotonic clock, never the terminal's, which NTP or a sign-on
   * inside a query (after A0) may step by hours; with an injected sleep, the pauses it was given.
   */
  private readonly elapsedMs: () => number;
  private pausedMs = 0;

  constructor(private readonly engine: TerminalEngine, deps: QrDeps = {}) {
    this.log = engine.logger.child({ component: 'qr' });
    const sleep = deps.sleep ?? realSleep;
    this.sleep = async (ms, signal) => { await sleep(ms, signal); this.pausedMs += ms; };
    this.elapsedMs = deps.sleep ? () => this.pausedMs : monotonicMs;
  }

  private get profile() { return this.engine.config.profile; }
  private get ids() { return this.engine.config.ids; }

  /** The QR payment whose outcome is unknown, if any (its STAN). */
  get pendingStan(): number | undefined { return this.engine.state.pendingQrQuery?.stan; }

  // ------------------------------------------------------------ flows

  /** 被扫: the customer's payment code (16..32 digits), scanned or keyed. */
  async sale(input: { readonly amountFen: number; readonly paymentCode: string; readonly session: Session }, wait: QrWait = {}): Promise<QrFlowResult> {
    checkPaymentCode(input.paymentCode);
    this.engine.checkAmount(input.amountFen);
    await this.prepare(input.session, 'sale');
    const { stans, record } = this.engine.reserveStans(1);
    const stan = stans[0];
    const req = buildQrSale(this.profile, { ids: this.ids, stan, batch: this.engine.state.batch, amountFen: input.amountFen, paymentCode: input.paymentCode });
    return this.begin(req, record, {
      kind: 'qrSale', stan, amountFen: input.amountFen, operator: input.session.operator, entryMode: '032',
      qr: { entryMode: '032', codeLast4: input.paymentCode.slice(-PAYMENT_CODE_KEPT_DIGITS) },
    }, wait);
  }

  /** 主扫: an order the customer pays by scanning the terminal's code (`wait.onOrder` shows it). */
  async order(input: { readonly amountFen: number; readonly session: Session }, wait: QrWait = {}): Promise<QrFlowResult> {
    this.engine.checkAmount(input.amountFen);
    await this.prepare(input.session, 'sale');
    const { stans, record } = this.engine.reserveStans(1);
    const stan = stans[0];
    const req = buildQrOrder(this.profile, { ids: this.ids, stan, batch: this.engine.state.batch, amountFen: input.amountFen, validityS: QR_ORDER_VALIDITY_S });
    return this.begin(req, record, { kind: 'qrSale', stan, amountFen: input.amountFen, operator: input.session.operator, entryMode: '033', qr: { entryMode: '033' } }, wait);
  }

  /** A QR sale of this batch, approved and not voided yet (void and refund name it by trace number). */
  original(stan: number): Txn {
    const t = this.engine.state.txns.get(stan);
    if (!t || t.kind !== 'qrSale') throw new PosError('OPR_NOT_FOUND', `no QR payment with trace ${stan} in this batch`, { stan });
    const st = statusOf(this.engine.state, t);
    if (st !== 'approved' || t.rrn === undefined) throw new PosError('OPR_NOT_VOIDABLE', `QR payment ${stan} is ${st}`, { stan });
    return t;
  }

  /** QR void (supervisor): the whole amount of a QR sale of this batch. */
  async voidSale(origStan: number, session: Session): Promise<QrFlowResult> {
    const sale = this.original(origStan);
    await this.prepare(session, 'void');
    return this.sendVoid(sale, session.operator);
  }

  /** QR refund (supervisor): up to the amount of a QR sale of this batch. */
  async refund(origStan: number, amountFen: number, session: Session): Promise<QrFlowResult> {
    const sale = this.original(origStan);
    this.engine.checkAmount(amountFen);
    if (amountFen > sale.amountFen) throw new PosError('OPR_AMOUNT', `a refund is at most the payment (${(sale.amountFen / 100).toFixed(2)} yuan)`, { amountFen, amountFenMax: sale.amountFen });
    await this.prepare(session, 'refund');
    const { stans, record } = this.engine.reserveStans(1);
    const stan = stans[0];
    const { original, info } = this.originalOf(sale);
    const req = buildQrRefund(this.profile, { ids: this.ids, stan, batch: this.engine.state.batch, amountFen, original });
    return this.begin(req, record, {
      kind: 'qrRefund', stan, amountFen, operator: session.operator, entryMode: original.entryMode, qr: info,
      orig: { batch: original.batch, stan: original.stan, dateMmdd: original.dateMmdd, rrn: original.rrn },
    }, {});
  }

  /**
   * Resolves the QR payment whose outcome is unknown: queries (a sale or order) or sends again
   * (a void or refund). A payment found paid is voided at once. 'pending' when it stays unknown.
   */
  async resolvePending(session?: Session): Promise<QrResolution> {
    const p = this.engine.state.pendingQrQuery;
    if (!p) return { resolution: 'none' };
    if (!this.engine.signedOn) {
      const s = session ?? this.engine.lastSession;
      if (!s) return { resolution: 'pending' };
      try { await this.engine.ready(s); } catch (e) { rethrowFatal(e); this.log.warn({ err: String(e) }, 'cannot sign on to resolve a QR payment'); return { resolution: 'pending' }; }
    }
    // A pending reversal goes before any other financial message (profile, Reversal): a query
    // found paid is followed by a void at once.
    if (this.engine.state.pendingReversal) {
      let rev: 'none' | 'cleared' | 'pending' = 'pending';
      try { rev = await this.engine.flushReversal(); } catch (e) { rethrowFatal(e); this.log.warn({ err: String(e) }, 'reversal before a QR query failed'); }
      if (rev === 'pending') return { resolution: 'pending' };
    }
    if (p.kind !== 'qrSale') {
      const res = await this.resend(p);
      return { resolution: res === undefined ? 'pending' : 'resolved' };
    }
    for (let i = 0; i < QR_RESOLVE_QUERIES_MAX; i++) {
      const res = await this.queryOnce();
      if (res === undefined) continue;
      if (res.outcome !== 'approved') return { resolution: 'resolved' };
      // Paid after the operator gave up: nobody holds a receipt for it, so it must not stand.
      this.log.warn({ stan: p.stan, orderNo: res.txn.qr?.orderNo }, 'QR payment found paid after it was given up: voiding it');
      const sale = this.engine.state.txns.get(p.stan) as Txn;
      const voided = await this.sendVoid(sale, res.txn.operator);
      return { resolution: 'voided', paid: this.engine.txn(p.stan), void: voided };
    }
    return { resolution: 'pending' };
  }

  // ------------------------------------------------------------ steps

  /** Before any QR message: the host offers QR, the operator may, nothing pending, signed on. */
  private async prepare(session: Session, permission: 'sale' | 'void' | 'refund'): Promise<void> {
    if (!this.engine.featureAvailable('qr')) throw new PosError('HOST_FEATURE_OFF', 'QR payments are not offered by the host');
    this.engine.checkTransact(session, permission);
    await this.engine.ready(session);
    const r = await this.resolvePending(session);
    if (r.resolution === 'pending') throw new PosError('HOST_QR_PENDING', 'a QR payment is still unresolved: it is asked again first', { stan: this.pendingStan });
  }

  private originalOf(sale: Txn): { original: { batch: number; stan: number; dateMmdd: string; entryMode: QrEntryMode; orderNo?: string; rrn: string }; info: QrTxnInfo } {
    const entryMode: QrEntryMode = sale.qr?.entryMode ?? '032';
    // Field 61 always carries the original's real batch, STAN and host date (profile, Clarifications).
    const original = { batch: sale.batch, stan: sale.stan, dateMmdd: sale.hostDate ?? hostMmdd(sale.beganAtMs), entryMode, orderNo: sale.qr?.orderNo, rrn: sale.rrn as string };
    return { original, info: { entryMode, orderNo: sale.qr?.orderNo, wallet: sale.qr?.wallet, payerMasked: sale.qr?.payerMasked } };
  }

  private async sendVoid(sale: Txn, operator: string): Promise<QrFlowResult> {
    const { stans, record } = this.engine.reserveStans(1);
    const stan = stans[0];
    const { original, info } = this.originalOf(sale);
    const req = buildQrVoid(this.profile, { ids: this.ids, stan, batch: this.engine.state.batch, amountFen: sale.amountFen, original });
    return this.begin(req, record, {
      kind: 'qrVoid', stan, amountFen: sale.amountFen, operator, entryMode: original.entryMode, qr: info,
      orig: { batch: original.batch, stan: original.stan, dateMmdd: original.dateMmdd, rrn: original.rrn },
    }, {});
  }

  /** Step 1 of the durability order, the send, and what the answer (or its absence) means. */
  private async begin(req: Request, stanRecord: RecordInput, t: BeginInfo, wait: QrWait): Promise<QrFlowResult> {
    const m = req.message;
    // Packed (and MACed) before anything is journaled: a request the packager refuses leaves no record.
    const bytes = this.engine.encodeRaw(req);
    const batch = this.engine.state.batch;
    const begin: TxnBeginPayload = {
      kind: t.kind, stan: t.stan, batch, amountFen: t.amountFen, panMasked: '', panEnc: NO_CARD, panTag: NO_CARD, entryMode: atRest(t.entryMode),
      processingCode: textField(m, 3) as string, conditionCode: textField(m, 25) as string, type60: (textField(m, 60) as string).slice(0, 2),
      operator: t.operator, origStan: t.orig?.stan, origBatch: t.orig?.batch, origRrn: t.orig?.rrn, origDate: t.orig?.dateMmdd, field61: textField(m, 61), qr: t.qr,
    };
    const pending: QrQueryPendingPayload = {
      stan: t.stan, batch, kind: t.kind, entryMode: t.entryMode, amountFen: t.amountFen, dateMmdd: hostMmdd(this.engine.now()), orderNo: t.qr.orderNo,
      origBatch: t.orig?.batch, origStan: t.orig?.stan, origDate: t.orig?.dateMmdd, origRrn: t.orig?.rrn,
    };
    await this.engine.store.commit([stanRecord, rec.txnBegin(begin), qrRec.queryPending(pending)]);
    let res: QrResult;
    try {
      res = parseQrResponse(this.profile, req, await this.engine.sendEncoded(req, t.stan, bytes), { mak: this.engine.macKey });
    } catch (e) {
      return this.afterSendFailure(t.stan, e, wait);
    }
    return this.onAnswer(req, t.stan, res, wait);
  }

  private async onAnswer(req: Request, stan: number, res: QrResult, wait: QrWait): Promise<QrFlowResult> {
    if (req.type === 'qrOrder' && orderMade(res)) return this.showOrder(stan, res, wait);
    if (res.waiting) {
      await this.notePending(res.qr.A2, res.hostDate);
      return this.waitForPayment(stan, wait);
    }
    if (req.type === 'qrSale' || req.type === 'qrOrder') this.engine.hostAnswered('qr', req.type, res.responseCode);
    return this.record(stan, res);
  }

  /**
   * An order made and not paid yet: its number goes to the journal before its code is shown (a
   * query after a power cut names it), then the terminal queries as for any P1. The parser made
   * sure the answer carries A3.
   */
  private async showOrder(stan: number, res: QrResult, wait: QrWait): Promise<QrFlowResult> {
    const orderNo = res.qr.A2;
    await this.notePending(orderNo, res.hostDate);
    this.log.info({ stan, orderNo, code: res.responseCode }, 'QR order made: waiting for the customer');
    wait.onOrder?.(res.qr.A3 as string, orderNo);
    return this.waitForPayment(stan, wait);
  }

  /**
   * The pending record rewritten with what an answer named, when new: the order number (A2), and
   * for an answer to the payment itself its host date (13), which the queries' 61 then carry (the
   * profile: the original's host date once it was answered; the terminal's own only when it never
   * was). A query's answer gives no hostDate here: its 13 is the query's, not the original's.
   */
  private async notePending(answeredOrderNo: string | undefined, originalHostDate?: string): Promise<void> {
    const p = this.engine.state.pendingQrQuery;
    if (p === undefined) return;
    const orderNo = answeredOrderNo ?? p.orderNo;
    const dateMmdd = originalHostDate ?? p.dateMmdd;
    if (orderNo === p.orderNo && dateMmdd === p.dateMmdd) return;
    await this.engine.store.commit([qrRec.queryPending({ ...p, orderNo, dateMmdd })], { reserve: true });
  }

  private async afterSendFailure(stan: number, e: unknown, wait: QrWait): Promise<QrFlowResult> {
    rethrowFatal(e);
    const err = e as PosError;
    this.log.warn({ stan, code: err.code, kind: err.kind }, 'no usable answer to a QR request');
    if (requestNeverLeft(err)) {
      await this.engine.store.commit([
        rec.txnResult({ stan, outcome: 'not-sent', responseCode: 'NS' }),
        qrRec.queryCleared({ stan, cause: 'not-sent', responseCode: 'NS' }),
      ], { reserve: true });
      return { outcome: 'failed', error: err, stan };
    }
    if (err.kind === 'mac-failure') this.engine.needsSignOn = true;
    // The host may have it: a sale or order is asked about (never reversed); a void or refund waits to be sent again.
    if (this.engine.state.pendingQrQuery?.kind === 'qrSale') return this.waitForPayment(stan, wait, err);
    return { outcome: 'pending', stan, why: 'no-answer', error: err };
  }

  /** Queries every QR_QUERY_INTERVAL_MS until an answer that ends it, the time limit or CANCEL. */
  private async waitForPayment(stan: number, wait: QrWait, lastError?: PosError): Promise<QrFlowResult> {
    const deadlineMs = this.elapsedMs() + QR_WAIT_MS_MAX;
    let error = lastError;
    for (;;) {
      const left = Math.round(deadlineMs - this.elapsedMs());
      if (left <= 0) break;
      wait.onCountdown?.(left);
      await this.sleep(Math.min(QR_QUERY_INTERVAL_MS, left), wait.signal);
      if (wait.signal?.aborted) {
        this.log.warn({ stan }, 'QR wait cancelled by the operator: the payment stays pending');
        return { outcome: 'pending', stan, why: 'cancelled' };
      }
      const res = await this.queryOnce((e) => { error = e; });
      if (res !== undefined) return res;
    }
    this.log.warn({ stan }, 'QR payment still unknown at the time limit: it stays pending');
    return error !== undefined && this.engine.state.pendingQrQuery?.orderNo === undefined
      ? { outcome: 'pending', stan, why: 'no-answer', error }
      : { outcome: 'pending', stan, why: 'timeout' };
  }

  /** One query for the pending payment: its final answer journaled, or undefined (still waiting, or no usable answer). */
  private async queryOnce(onError?: (e: PosError) => void): Promise<Exclude<QrFlowResult, { outcome: 'pending' | 'failed' }> | undefined> {
    const p = this.engine.state.pendingQrQuery;
    if (!p) return undefined;
    try {
      if (this.engine.needsSignOn && this.engine.lastSession) await this.engine.signOn(this.engine.lastSession);
      const { stans, record } = this.engine.reserveStans(1);
      await this.engine.store.commit([record], { reserve: true });
      const req = buildQrQuery(this.profile, {
        ids: this.ids, stan: stans[0], batch: this.engine.state.batch, amountFen: p.amountFen,
        original: { batch: p.batch, stan: p.stan, dateMmdd: p.dateMmdd, entryMode: p.entryMode, orderNo: p.orderNo },
      });
      const res = parseQrResponse(this.profile, req, await this.engine.sendEncoded(req, stans[0], this.engine.encodeRaw(req)), { mak: this.engine.macKey });
      if (res.waiting) {
        await this.notePending(res.qr.A2);
        return undefined;
      }
      if (QR_QUERY_NOT_ANSWERED_CODES.includes(res.responseCode)) {
        // A0: sign on before the next message, as for a card sale.
        if (res.responseCode === MAC_ERROR_RESPONSE_CODE) this.engine.needsSignOn = true;
        this.log.warn({ stan: p.stan, code: res.responseCode }, 'QR query refused by the host: the payment stays pending');
        return undefined;
      }
      return await this.record(p.stan, res);
    } catch (e) {
      rethrowFatal(e);
      const err = e as PosError;
      if (err.kind === 'mac-failure') this.engine.needsSignOn = true;
      this.log.warn({ stan: p.stan, code: err.code }, 'QR query failed');
      onError?.(err);
      return undefined;
    }
  }

  /**
   * A void or refund whose answer was lost, sent again under its OWN STAN and batch: the host tells
   * a resend by TID + batch + STAN (as for an advice), so it answers what it did the first time
   * instead of moving the money again. A new STAN would be a second refund (the day simulation
   * found one) or a void refused as "already voided" while the host holds the first as approved.
   * A host that answers a recognised resend 94 had filed it: recorded as approved with its 37.
   */
  private async resend(p: QrQueryPendingPayload): Promise<QrFlowResult | undefined> {
    const t = this.engine.state.txns.get(p.stan);
    if (!t) return undefined;
    try {
      const original = { batch: p.origBatch ?? 0, stan: p.origStan ?? 0, dateMmdd: p.origDate ?? p.dateMmdd, entryMode: p.entryMode, orderNo: t.qr?.orderNo, rrn: p.origRrn ?? '' };
      const input = { ids: this.ids, stan: p.stan, batch: p.batch, amountFen: p.amountFen, original };
      const req = p.kind === 'qrVoid' ? buildQrVoid(this.profile, input) : buildQrRefund(this.profile, input);
      const answer = parseQrResponse(this.profile, req, await this.engine.sendEncoded(req, p.stan, this.engine.encodeRaw(req)), { mak: this.engine.macKey });
      const res = answer.responseCode === DUPLICATE_TRANSMISSION ? { ...answer, approved: true, responseCode: '00' } : answer;
      if (res !== answer) this.log.info({ stan: p.stan }, 'QR void or refund resent: the host had it (94)');
      return await this.record(p.stan, res);
    } catch (e) {
      rethrowFatal(e);
      this.log.warn({ stan: p.stan, err: String(e) }, 'QR void or refund not sent again');
      return undefined;
    }
  }

  /** Step 2: the final answer and the end of the pending query, in one commit. */
  private async record(stan: number, res: QrResult): Promise<Exclude<QrFlowResult, { outcome: 'pending' | 'failed' }>> {
    const outcome = res.approved ? 'approved' : 'declined';
    const qr: QrTxnInfo = Object.fromEntries(Object.entries({ orderNo: res.qr.A2, wallet: res.qr.A4, payerMasked: res.qr.A5 }).filter(([, v]) => v !== undefined));
    await this.engine.store.commit([
      rec.txnResult({ stan, outcome, responseCode: res.responseCode, rrn: res.rrn, authCode: res.authCode, hostDate: res.hostDate, hostTime: res.hostTime, settlementDate: res.settlementDate, qr }),
      qrRec.queryCleared({ stan, cause: outcome, responseCode: res.responseCode }),
    ], { reserve: true });
    // A0: the host could not verify this terminal's MAC; as for a card sale, sign on before the next message.
    if (res.responseCode === MAC_ERROR_RESPONSE_CODE) this.engine.needsSignOn = true;
    const txn = viewOf(this.engine.state, this.engine.state.txns.get(stan) as Txn);
    this.log.info({ stan, kind: txn.kind, code: res.responseCode, wallet: qr.wallet, orderNo: qr.orderNo }, 'QR answer');
    return res.approved ? { outcome: 'approved', txn } : { outcome: 'declined', txn, text: explainResponseCode(res.responseCode) };
  }
}

/**
 * Whether an answer to a QR order made it without paying it, so its A3 is shown and queried for.
 * The profile's QR section (docs/PROTOCOL.md §14): "QR order → `A2 A3`", "`P1` is 'waiting for the customer' (... the
 * code has not been scanned yet)": the profile's answer is P1 with A2 A3. A host reading 00 as
 * "made" (as this project once did) answers 00 with A2 A3 and no paid tags; 00 with A4 or A5 (a
 * wallet, a payer) is the text's "00 is paid" and is recorded as paid at once.
 */
function orderMade(res: QrResult): boolean {
  if (res.waiting) return true;
  return res.approved && res.qr.A4 === undefined && res.qr.A5 === undefined;
}

/** A host's "duplicate transmission": it filed this TID + batch + STAN already. */
const DUPLICATE_TRANSMISSION = '94';

/** Resolves a pending QR payment for settlement: refused while it stays unknown. */
export async function resolveQrBeforeSettlement(engine: TerminalEngine): Promise<void> {
  if (engine.state.pendingQrQuery === undefined) return;
  const r = await new QrPayments(engine).resolvePending();
  if (r.resolution === 'pending') {
    throw new PosError('HOST_QR_PENDING', 'settle after the unresolved QR payment is resolved', { stan: engine.state.pendingQrQuery?.stan });
  }
}


/**
 * Request builders and response parsers for the messages of docs/PROTOCOL.md.
 *
 * Builders take typed inputs and return a `Request` (type + ISO message without 64);
 * `encodeRequest` adds the MAC and frames it. Parsers validate a response against the request
 * it answers and return typed results. A decline is a result, not an error: the state machine
 * decides what a decline means. Only a response that cannot be trusted throws:
 *   - missing or bad MAC when the request had one: HOST_MAC (kind mac-failure);
 *   - anything else wrong (framing, TPDU, MTI, echoes, missing fields): HOST_MALFORMED.
 *
 * Track data and PIN blocks pass through these functions in memory only; nothing here logs.
 */
import { PosError } from '../../common/errors';
import { ecbMac, unwrapWorkingKeys, verifyMac, KeyCheckValues, WorkingKeys } from './crypto';
import { HostProfile, MessageDef, RequestType, Tpdu } from './fields';
import {
  FieldValue, IsoMessage, UnpackedFrame, bytesField, macData, malformed, packFrame, swapTpdu, textField, unpackFrame,
} from './packager';
import { APPROVED, ResponseCodeText, explainResponseCode } from './response-codes';

export const STAN_MAX = 999_999;
export const BATCH_MAX = 999_999;
/** n12 in fen. */
export const AMOUNT_FEN_MAX = 999_999_999_999;
export const COUNT_MAX = 999;
export const BATCH_UPLOAD_COUNT_MAX = 9999;

export interface TerminalIds {
  readonly tid: string;
  readonly mid: string;
}

/** What every terminal-originated message carries. */
export interface Common {
  readonly ids: TerminalIds;
  readonly stan: number;
  readonly batch: number;
}

/** 22: 01x keyed, 02x magnetic stripe, 05x contact IC, 07x contactless; x = 1 PIN, 2 no PIN. */
export type EntryMode = '011' | '012' | '021' | '022' | '051' | '052' | '071' | '072';

export interface Request {
  readonly type: RequestType;
  readonly message: IsoMessage;
}

// ---------------------------------------------------------------- helpers

export function invalid(reason: string, detail: Record<string, unknown> = {}): PosError {
  return new PosError('HOST_REQUEST_INVALID', reason, detail);
}

/** A non-negative integer as `width` zero-padded digits, range-checked. */
export function digits(value: number, width: number, name: string, min = 0): string {
  const max = 10 ** width - 1;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw invalid(`${name} ${value} out of range ${min}..${max}`, { name });
  return String(value).padStart(width, '0');
}

function field60(type60: string, batch: number, networkCode60: string): string {
  return type60 + digits(batch, 6, 'batch') + networkCode60;
}

const TID_CHARS = 8;
const MID_CHARS = 15;

/** @internal The fields every request carries (11 41 42, 3 and 60 from the table); messages-v2.ts builds on it. */
export function base(profile: HostProfile, def: MessageDef, c: Common): Map<number, FieldValue> {
  // Exact lengths: a padded TID would come back padded and fail the echo check.
  if (c.ids.tid.length !== TID_CHARS || c.ids.mid.length !== MID_CHARS) throw invalid(`TID must be ${TID_CHARS} and MID ${MID_CHARS} characters`);
  const f = new Map<number, FieldValue>();
  f.set(11, digits(c.stan, 6, 'STAN', 1));
  f.set(41, c.ids.tid);
  f.set(42, c.ids.mid);
  if (def.processingCode !== undefined) f.set(3, def.processingCode);
  if (def.type60 !== undefined && def.networkCode60 !== undefined) f.set(60, field60(def.type60, c.batch, def.networkCode60));
  return f;
}

/** @internal Checks the fields against the table's required and allowed lists. */
export function request(profile: HostProfile, type: RequestType, fields: Map<number, FieldValue>): Request {
  const def = profile.messages[type];
  for (const n of def.requestRequired) {
    if (!fields.has(n)) throw invalid(`${type} request lacks field ${n}`, { field: n });
  }
  const allowed = new Set([...def.requestRequired, ...def.requestOptional]);
  for (const n of fields.keys()) {
    if (!allowed.has(n)) throw invalid(`${type} request may not carry field ${n}`, { field: n });
  }
  return { type, message: { mti: def.mti, fields } };
}

/** @internal */
export function setIf(f: Map<number, FieldValue>, n: number, v: FieldValue | undefined): void {
  if (v !== undefined) f.set(n, v);
}

// ---------------------------------------------------------------- builders

export interface SignOnInput extends Common {
  /** Operator number, ans3 in field 63. */
  readonly operator: string;
}

export function buildSignOn(profile: HostProfile, input: SignOnInput): Request {
  const f = base(profile, profile.messages.signOn, input);
  f.set(63, input.operator);
  return request(profile, 'signOn', f);
}

export function buildSignOff(profile: HostProfile, input: Common): Request {
  return request(profile, 'signOff', base(profile, profile.messages.signOff, input));
}

export interface CardData {
  readonly pan: string;
  readonly entryMode: EntryMode;
  /** YYMM. */
  readonly expiry?: string;
  /** 23, 3 digits, IC cards. */
  readonly cardSeq?: string;
  /** Track 2 equivalent data ('=' separator); memory only. */
  readonly track2?: string;
  readonly track3?: string;
  /** Encrypted PIN block (8 bytes, from `pinBlockFormat0`). */
  readonly pinBlock?: Buffer;
  /** IC card data, BER-TLV. */
  readonly field55?: Buffer;
}

export interface SaleInput extends Common, CardData {
  readonly amountFen: number;
  /** 25, default 00 (normal presentment). */
  readonly conditionCode?: string;
}

/** @internal Field 4: n12 fen, at least 1. */
export function amount(fen: number): string {
  return digits(fen, 12, 'amount', 1);
}

/** @internal The card fields of a sale-like request (2 22 14 23 35 36 55, 52 with 26). */
export function card(profile: HostProfile, f: Map<number, FieldValue>, c: CardData): void {
  f.set(2, c.pan);
  f.set(22, c.entryMode);
  setIf(f, 14, c.expiry);
  setIf(f, 23, c.cardSeq);
  setIf(f, 35, c.track2);
  setIf(f, 36, c.track3);
  setIf(f, 55, c.field55);
  if (c.pinBlock !== undefined) {
    f.set(52, c.pinBlock);
    f.set(26, profile.pinCaptureCode);
  }
}

/** @internal The fields of a sale and of the messages the profile builds "as a sale" (pre-authorization, offline advice). */
export function saleFields(profile: HostProfile, type: RequestType, input: SaleInput): Map<number, FieldValue> {
  const f = base(profile, profile.messages[type], input);
  card(profile, f, input);
  f.set(4, amount(input.amountFen));
  f.set(25, input.conditionCode ?? '00');
  f.set(49, profile.currencyCode);
  f.set(53, profile.securityControl);
  return f;
}

export function buildSale(profile: HostProfile, input: SaleInput): Request {
  return request(profile, 'sale', saleFields(profile, 'sale', input));
}

/** The transaction a void, refund or reversal refers to (field 61). */
export interface OriginalRef {
  readonly batch: number;
  readonly stan: number;
  /** MMDD; refunds carry it, voids may. */
  readonly dateMmdd?: string;
}

export function field61(o: OriginalRef): string {
  return digits(o.batch, 6, 'original batch') + digits(o.stan, 6, 'original STAN') + (o.dateMmdd ?? '');
}

export interface VoidInput extends Common {
  readonly pan: string;
  readonly entryMode: EntryMode;
  readonly amountFen: number;
  readonly conditionCode?: string;
  readonly original: OriginalRef & { readonly rrn: string; readonly authCode: string };
}

export function buildVoid(profile: HostProfile, input: VoidInput): Request {
  const f = originalReferenced(profile, profile.messages.void, input);
  f.set(38, input.original.authCode);
  return request(profile, 'void', f);
}

/** Fields shared by the messages that refer to an original sale (void, refund): 2 4 22 25 37 49 61. */
function originalReferenced(profile: HostProfile, spec: MessageDef, input: Common & { pan: string; amountFen: number; entryMode: EntryMode; conditionCode?: string; original: OriginalRef & { readonly rrn: string } }): Map<number, FieldValue> {
  const f = base(profile, spec, input);
  f.set(2, input.pan);
  f.set(4, amount(input.amountFen));
  f.set(22, input.entryMode);
  f.set(25, input.conditionCode ?? '00');
  f.set(37, input.original.rrn);
  f.set(49, profile.currencyCode);
  f.set(61, field61(input.original));
  return f;
}

export interface RefundInput extends Common {
  readonly pan: string;
  readonly entryMode: EntryMode;
  readonly amountFen: number;
  readonly conditionCode?: string;
  /** Batch and STAN are 0 when unknown (refund of another day's sale). */
  readonly original: OriginalRef & { readonly rrn: string; readonly dateMmdd: string };
}

export function buildRefund(profile: HostProfile, input: RefundInput): Request {
  return request(profile, 'refund', originalReferenced(profile, profile.messages.refund, input));
}

export interface BalanceInput extends Common {
  readonly pan: string;
  readonly entryMode: EntryMode;
  readonly track2?: string;
  readonly pinBlock: Buffer;
  readonly conditionCode?: string;
}

export function buildBalance(profile: HostProfile, input: BalanceInput): Request {
  const f = base(profile, profile.messages.balance, input);
  f.set(2, input.pan);
  f.set(22, input.entryMode);
  f.set(25, input.conditionCode ?? '00');
  f.set(26, profile.pinCaptureCode);
  setIf(f, 35, input.track2);
  f.set(49, profile.currencyCode);
  f.set(52, input.pinBlock);
  f.set(53, profile.securityControl);
  return request(profile, 'balance', f);
}

/** 98 no response or timeout; A0 response MAC failed; 06 any other failure after sending. */
export type ReversalReason = '98' | 'A0' | '06';

/** What the journal keeps of a sale/void/refund so it can be reversed after a power cut. */
export interface ReversalInput extends Common {
  /** The original's STAN and batch go in `stan` and `batch`. */
  readonly reason: ReversalReason;
  readonly pan: string;
  readonly processingCode: string;
  readonly amountFen: number;
  readonly entryMode: EntryMode;
  readonly conditionCode: string;
  readonly type60: string;
  readonly networkCode60?: string;
  readonly expiry?: string;
  readonly cardSeq?: string;
  /** 38 when the original's response carried one. */
  readonly authCode?: string;
  readonly field55?: Buffer;
  /** The original's own 61 (a void's or refund's), as digits. */
  readonly original61?: string;
}

export function buildReversal(profile: HostProfile, input: ReversalInput): Request {
  const f = base(profile, profile.messages.reversal, input);
  f.set(2, input.pan);
  f.set(3, input.processingCode);
  if (!isBalance(profile, input)) f.set(4, amount(input.amountFen));
  f.set(22, input.entryMode);
  f.set(25, input.conditionCode);
  f.set(39, input.reason);
  f.set(49, profile.currencyCode);
  f.set(60, field60(input.type60, input.batch, input.networkCode60 ?? '000'));
  setIf(f, 14, input.expiry);
  setIf(f, 23, input.cardSeq);
  setIf(f, 38, input.authCode);
  setIf(f, 55, input.field55);
  setIf(f, 61, input.original61);
  return request(profile, 'reversal', f);
}

/**
 * A balance inquiry has no amount, so its 0400 has no 4 either: the profile's reversal carries the
 * original's fields (any other original at least 1 fen).
 */
function isBalance(profile: HostProfile, input: ReversalInput): boolean {
  return input.processingCode === profile.messages.balance.processingCode && input.type60 === profile.messages.balance.type60;
}

/** The reversal of a request built in this process (what the journal would give back). */
export function reversalInputOf(original: Request, ids: TerminalIds, reason: ReversalReason, authCode?: string): ReversalInput {
  const m = original.message;
  const get = (n: number): string => {
    const v = textField(m, n);
    if (v === undefined) throw invalid(`original lacks field ${n}`, { field: n });
    return v;
  };
  const f60 = get(60);
  return {
    ids, reason, authCode,
    stan: Number(get(11)), batch: Number(f60.slice(2, 8)),
    // A balance inquiry has no 4, nor has its reversal (isBalance).
    pan: get(2), processingCode: get(3), amountFen: original.type === 'balance' ? 0 : Number(get(4)),
    entryMode: get(22) as EntryMode, conditionCode: get(25),
    type60: f60.slice(0, 2), networkCode60: f60.slice(8, 11),
    expiry: textField(m, 14), cardSeq: textField(m, 23), field55: bytesField(m, 55), original61: textField(m, 61),
  };
}

export interface SettlementTotals {
  readonly saleAmountFen: number;
  readonly saleCount: number;
  readonly refundAmountFen: number;
  readonly refundCount: number;
}

export const SETTLEMENT_TOTALS_DIGITS = 31;
export const ZERO_TOTALS: SettlementTotals = { saleAmountFen: 0, saleCount: 0, refundAmountFen: 0, refundCount: 0 };

/** 31 digits: sale amount n12, count n3, refund amount n12, count n3, settle code n1. */
export function totalsDigits(t: SettlementTotals, settleCode: string): string {
  return digits(t.saleAmountFen, 12, 'sale total') + digits(t.saleCount, 3, 'sale count')
    + digits(t.refundAmountFen, 12, 'refund total') + digits(t.refundCount, 3, 'refund count') + settleCode;
}

/** Field 48 of the 0500: domestic totals, then foreign totals (zeros in this profile). */
export function settlementField48(domestic: SettlementTotals, foreign: SettlementTotals = ZERO_TOTALS): string {
  return totalsDigits(domestic, '0') + totalsDigits(foreign, '0');
}

/** Parses 31 digits of field 48 (the caller checked they are digits). */
export function parseTotals(d: string): { totals: SettlementTotals; settleCode: string } {
  if (d.length < SETTLEMENT_TOTALS_DIGITS) throw malformed(`settlement totals are ${d.length} digits, expected ${SETTLEMENT_TOTALS_DIGITS}`, { field: 48 });
  return {
    totals: {
      saleAmountFen: Number(d.slice(0, 12)), saleCount: Number(d.slice(12, 15)),
      refundAmountFen: Number(d.slice(15, 27)), refundCount: Number(d.slice(27, 30)),
    },
    settleCode: d[30],
  };
}

export interface SettlementInput extends Common {
  readonly operator: string;
  readonly totals: SettlementTotals;
}

export function buildSettlement(profile: HostProfile, input: SettlementInput): Request {
  const f = base(profile, profile.messages.settlement, input);
  f.set(48, settlementField48(input.totals));
  f.set(49, profile.currencyCode);
  f.set(63, input.operator);
  return request(profile, 'settlement', f);
}

export interface BatchUploadRecordInput extends Common {
  readonly pan: string;
  readonly processingCode: string;
  readonly amountFen: number;
  readonly entryMode: EntryMode;
  readonly rrn: string;
  readonly authCode: string;
}

export function buildBatchUploadRecord(profile: HostProfile, input: BatchUploadRecordInput): Request {
  const f = base(profile, profile.messages.batchUploadRecord, input);
  f.set(2, input.pan);
  f.set(3, input.processingCode);
  f.set(4, amount(input.amountFen));
  f.set(22, input.entryMode);
  f.set(37, input.rrn);
  f.set(38, input.authCode);
  return request(profile, 'batchUploadRecord', f);
}

export interface BatchUploadEndInput extends Common {
  /** How many 0320 records were sent (48, n4). */
  readonly count: number;
}

export function buildBatchUploadEnd(profile: HostProfile, input: BatchUploadEndInput): Request {
  const f = base(profile, profile.messages.batchUploadEnd, input);
  f.set(48, digits(input.count, 4, 'batch upload count'));
  return request(profile, 'batchUploadEnd', f);
}

export interface SignatureUploadInput extends Common {
  /** 15, MMDD, the sale's settlement date. */
  readonly settlementDateMmdd: string;
  readonly rrn: string;
  /** The signature image (62, up to 999 bytes). */
  readonly image: Buffer;
}

export function buildSignatureUpload(profile: HostProfile, input: SignatureUploadInput): Request {
  const f = base(profile, profile.messages.signatureUpload, input);
  f.set(15, input.settlementDateMmdd);
  f.set(37, input.rrn);
  f.set(62, input.image);
  return request(profile, 'signatureUpload', f);
}

// ---------------------------------------------------------------- encode

export interface EncodeOptions {
  /** Required when the message carries a MAC. */
  readonly mak?: Buffer;
  /** Default: the profile's TPDU. */
  readonly tpdu?: Tpdu;
}

/** The framed request, with field 64 when the message carries one. */
export function encodeRequest(profile: HostProfile, req: Request, opts: EncodeOptions = {}): Buffer {
  const def = profile.messages[req.type];
  let message = req.message;
  if (def.mac) {
    if (opts.mak === undefined) throw new PosError('KEY_MISSING', `${req.type} needs a MAC and there is no MAK`, { type: req.type });
    const fields = new Map(message.fields);
    fields.set(64, ecbMac(opts.mak, macData(profile, message)));
    message = { mti: message.mti, fields };
  }
  return packFrame(profile, { tpdu: opts.tpdu ?? profile.tpdu, header: profile.header, message });
}

// ---------------------------------------------------------------- decode and validate

export interface DecodeOptions {
  /** The MAK the request was MACed with; required when the request carries a MAC. */
  readonly mak?: Buffer;
  /** The TPDU the request was sent with (default: the profile's); the reply must swap it. */
  readonly tpdu?: Tpdu;
  /** Skip the TPDU swap check (for a host known not to swap). Default: checked. */
  readonly tpduCheck?: boolean;
}

export interface ResponseBase {
  readonly type: RequestType;
  readonly responseCode: string;
  readonly approved: boolean;
  readonly text: ResponseCodeText;
  readonly stan: string;
  /** 12 hhmmss and 13 MMDD, when the host sent them. */
  readonly hostTime?: string;
  readonly hostDate?: string;
  /** 15 MMDD. */
  readonly settlementDate?: string;
  /** 44, additional response data. */
  readonly additional?: string;
  readonly frame: UnpackedFrame;
}

const ECHOED = [11, 41, 42];
/** Echoed only when the host chooses to send them; a different value is never accepted. */
const ECHOED_IF_PRESENT = [2, 3, 4];

/**
 * Unpacks and validates a response to `req`: framing, TPDU swap, MTI = request MTI + 0x10,
 * 39 present, MAC present and valid when the request had one, 11/41/42 echoed, required fields.
 */
export function decodeResponse(profile: HostProfile, req: Request, bytes: Buffer, opts: DecodeOptions = {}): ResponseBase {
  const def = profile.messages[req.type];
  const frame = unpackFrame(profile, bytes);
  const m = frame.message;
  checkTpdu(profile, frame.tpdu, opts);
  if (m.mti !== def.responseMti) throw malformed(`unexpected message ${m.mti}, expected ${def.responseMti}`, {});
  const responseCode = textField(m, 39);
  if (responseCode === undefined) throw malformed('response code missing', { field: 39 });
  if (def.mac) checkMac(frame, opts.mak);
  for (const n of ECHOED) {
    const sent = textField(req.message, n);
    if (textField(m, n) !== sent) throw malformed(`field ${n} does not echo the request`, { field: n });
  }
  for (const n of ECHOED_IF_PRESENT) {
    const got = textField(m, n);
    if (got !== undefined && req.message.fields.has(n) && got !== textField(req.message, n)) throw malformed(`field ${n} differs from the request`, { field: n });
  }
  const approved = responseCode === APPROVED;
  for (const n of [...def.responseRequired, ...(approved ? def.responseRequiredWhenApproved : [])]) {
    if (!m.fields.has(n)) throw malformed(`${def.responseMti} lacks field ${n}`, { field: n });
  }
  return {
    type: req.type, responseCode, approved, text: explainResponseCode(responseCode), stan: textField(m, 11) as string,
    hostTime: textField(m, 12), hostDate: textField(m, 13), settlementDate: textField(m, 15), additional: textField(m, 44), frame,
  };
}

function checkTpdu(profile: HostProfile, got: Tpdu, opts: DecodeOptions): void {
  if (opts.tpduCheck === false) return;
  const want = swapTpdu(opts.tpdu ?? profile.tpdu);
  if (got.destination !== want.destination || got.source !== want.source) {
    throw malformed(`TPDU addresses ${hex4(got.destination)}/${hex4(got.source)} do not swap the request's`, { offset: 3 });
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function checkMac(frame: UnpackedFrame, mak: Buffer | undefined): void {
  if (mak === undefined) throw new PosError('KEY_MISSING', 'no MAK to verify the response', {});
  const mac = bytesField(frame.message, 64);
  if (mac === undefined || frame.macData === undefined) throw new PosError('HOST_MAC', 'response carries no MAC', { field: 64 });
  if (!verifyMac(mak, frame.macData, mac)) throw new PosError('HOST_MAC', 'response MAC does not verify', { field: 64 });
}

// ---------------------------------------------------------------- typed results

export interface SignOnResult extends ResponseBase {
  /** Clear working keys, only when approved and every check value matched. */
  readonly keys?: WorkingKeys;
  readonly checkValues?: KeyCheckValues;
  /** 60.2 when the host sent 60. */
  readonly hostBatch?: number;
}

/** Sign-on: keys unwrapped under the TMK; a check value mismatch throws KEY_CHECK. */
export function parseSignOnResponse(profile: HostProfile, req: Request, bytes: Buffer, tmk: Buffer, opts: DecodeOptions = {}): SignOnResult {
  const r = decodeResponse(profile, req, bytes, opts);
  const f60 = textField(r.frame.message, 60);
  const hostBatch = f60 !== undefined && f60.length >= 8 ? Number(f60.slice(2, 8)) : undefined;
  if (!r.approved) return { ...r, hostBatch };
  const { keys, checkValues } = unwrapWorkingKeys(tmk, bytesField(r.frame.message, 62) as Buffer);
  return { ...r, keys, checkValues, hostBatch };
}

export interface Balance {
  readonly currency: string;
  /** Negative when the host marks the balance D (debit). */
  readonly amountFen: number;
}

export interface FinancialResult extends ResponseBase {
  readonly rrn: string;
  readonly authCode?: string;
  /** From 54, balance inquiry only. */
  readonly balance?: Balance;
  readonly field55?: Buffer;
}

/** Sale, void, refund and balance inquiry responses. */
export function parseFinancialResponse(profile: HostProfile, req: Request, bytes: Buffer, opts: DecodeOptions = {}): FinancialResult {
  const r = decodeResponse(profile, req, bytes, opts);
  const m = r.frame.message;
  const f54 = textField(m, 54);
  return {
    ...r, rrn: textField(m, 37) as string, authCode: textField(m, 38), field55: bytesField(m, 55),
    balance: f54 === undefined ? undefined : parseBalance(f54),
  };
}

/** 54: account type 2, amount type 2, currency 3, sign C/D, amount 12. */
function parseBalance(f54: string): Balance {
  const match = /^[0-9]{4}([0-9]{3})([CD])([0-9]{12})/.exec(f54);
  if (!match) throw malformed('balance amount is not account/type/currency/sign/amount', { field: 54 });
  const fen = Number(match[3]);
  return { currency: match[1], amountFen: match[2] === 'D' ? -fen : fen };
}

export interface ReversalResult extends ResponseBase {
  /** 00, 12 or 25: the host has no live original any more; clear the pending reversal. */
  readonly cleared: boolean;
}

export const REVERSAL_CLEARING_CODES: readonly string[] = ['00', '12', '25'];

export function parseReversalResponse(profile: HostProfile, req: Request, bytes: Buffer, opts: DecodeOptions = {}): ReversalResult {
  const r = decodeResponse(profile, req, bytes, opts);
  return { ...r, cleared: REVERSAL_CLEARING_CODES.includes(r.responseCode) };
}

export type SettlementVerdict = 'balanced' | 'unbalanced' | 'error';

export interface SettlementResult extends ResponseBase {
  /** Position 31 of 48 (only when approved). */
  readonly verdict?: SettlementVerdict;
  /** The host's domestic totals, when it sent them in 48. */
  readonly hostTotals?: SettlementTotals;
}

const VERDICTS: Readonly<Record<string, SettlementVerdict>> = { '1': 'balanced', '2': 'unbalanced', '3': 'error' };

export function parseSettlementResponse(profile: HostProfile, req: Request, bytes: Buffer, opts: DecodeOptions = {}): SettlementResult {
  const r = decodeResponse(profile, req, bytes, opts);
  const f48 = textField(r.frame.message, 48);
  if (!r.approved || f48 === undefined) return r;
  const { totals, settleCode } = parseTotals(f48);
  const verdict = VERDICTS[settleCode];
  if (verdict === undefined) throw malformed(`settlement verdict "${settleCode}" is not 1, 2 or 3`, { field: 48 });
  return { ...r, verdict, hostTotals: totals };
}

/** Sign-off, batch upload (record and end) and signature upload: the code is all there is. */
export function parseAckResponse(profile: HostProfile, req: Request, bytes: Buffer, opts: DecodeOptions = {}): ResponseBase {
  return decodeResponse(profile, req, bytes, opts);
}

/**
 * Request builders and response parsers for the "Version 2 additions" of docs/PROTOCOL.md:
 * network management (echo, status upload, parameter download, CA key and AID download), the
 * pre-authorization family, the offline sale advice and the QR payments. They build on the
 * version 1 helpers of messages.ts, so every rule there holds here too (exact TID/MID, range
 * checks, the table's required and allowed fields, MAC through `encodeRequest`).
 *
 * The TLV payloads of field 62 (status upload, parameters) are BER-TLV; field 59 (QR) is the
 * profile's own tag (2 chars) + length (3 digits) + value. A host's field that breaks its
 * format is HOST_MALFORMED; parameters in range are HOST_PARAMS (the whole download refused).
 */
import { decodeGb18030, encodeGb18030 } from '../../common/gb18030';
import { PosError } from '../../common/errors';
import { HostProfile, QrEntryMode } from './fields';
import { FieldValue, bytesField, malformed, textField } from './packager';
import {
  CardData, Common, DecodeOptions, EntryMode, FinancialResult, OriginalRef, Request, ResponseBase, SaleInput,
  amount, base, card, decodeResponse, digits, field61, invalid, parseFinancialResponse, request, saleFields,
} from './messages';
import { encodeTlv, parseTlv } from '../txn/emv';


// ================================================================ network management

export function buildEcho(profile: HostProfile, c: Common): Request {
  return request(profile, 'echo', base(profile, profile.messages.echo, c));
}

/** What the terminal reports in a status upload (62 TLV DF01..DF05). */
export interface TerminalStatus {
  readonly softwareVersion: string;
  readonly batteryPercent: number;
  readonly freeJournalKiB: number;
  /** The last error code shown (E-XXX-nn), when there was one. */
  readonly lastErrorCode?: string;
  readonly uptimeS: number;
  /**
   * Project extension, DF06 (ascii, 2 hex digits): the anomaly rules the batch raised
   * (runtime/anomaly.ts anomalyDigest). Sent only when a rule was raised; a host that does not
   * know the tag skips it as BER-TLV allows.
   */
  readonly anomalyDigest?: string;
}

export const STATUS_VERSION_CHARS_MAX = 20;
export const STATUS_ERROR_CHARS_MAX = 8;
const UINT32_MAX = 0xffff_ffff;

function u32(n: number, name: string): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${name} ${n} is not a count`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(Math.min(n, UINT32_MAX));
  return b;
}

/** Field 62 of a status upload. Values beyond their field saturate (a 4-byte uptime), text is cut. */
export function statusTlv(s: TerminalStatus): Buffer {
  const ascii = (v: string, max: number): Buffer => Buffer.from(v.replace(/[^\x20-\x7e]/g, '?').slice(0, max), 'ascii');
  const battery = Math.max(0, Math.min(100, Math.round(s.batteryPercent)));
  return Buffer.concat([
    encodeTlv(0xdf01, ascii(s.softwareVersion, STATUS_VERSION_CHARS_MAX)),
    encodeTlv(0xdf02, Buffer.from([battery])),
    encodeTlv(0xdf03, u32(Math.floor(s.freeJournalKiB), 'free journal space')),
    ...(s.lastErrorCode !== undefined ? [encodeTlv(0xdf04, ascii(s.lastErrorCode, STATUS_ERROR_CHARS_MAX))] : []),
    encodeTlv(0xdf05, u32(Math.floor(s.uptimeS), 'uptime')),
    ...(s.anomalyDigest !== undefined && /^[0-9A-F]{2}$/.test(s.anomalyDigest) ? [encodeTlv(0xdf06, Buffer.from(s.anomalyDigest, 'ascii'))] : []),
  ]);
}

/** Reads a status upload's 62 (the simulator answers 30 when this throws). */
export function parseStatusTlv(b: Buffer): TerminalStatus {
  const m = tlvMap(b, 62);
  const need = (tag: number, len?: number): Buffer => {
    const v = m.get(tag);
    if (v === undefined || (len !== undefined && v.length !== len)) throw malformed(`status tag ${tag.toString(16).toUpperCase()} missing or of the wrong length`, { field: 62 });
    return v;
  };
  const err = m.get(0xdf04);
  const anomaly = m.get(0xdf06);
  return {
    softwareVersion: need(0xdf01).toString('latin1'), batteryPercent: need(0xdf02, 1)[0],
    freeJournalKiB: need(0xdf03, 4).readUInt32BE(0), ...(err !== undefined ? { lastErrorCode: err.toString('latin1') } : {}), uptimeS: need(0xdf05, 4).readUInt32BE(0),
    ...(anomaly !== undefined ? { anomalyDigest: anomaly.toString('latin1') } : {}),
  };
}

export function buildStatusUpload(profile: HostProfile, input: Common & { readonly status: TerminalStatus }): Request {
  const f = base(profile, profile.messages.statusUpload, input);
  f.set(62, statusTlv(input.status));
  return request(profile, 'statusUpload', f);
}

export function buildParamDownload(profile: HostProfile, c: Common): Request {
  return request(profile, 'paramDownload', base(profile, profile.messages.paramDownload, c));
}

/** The acquirer's parameters (62 TLV DF11..DF19). Absent members: the host did not send them. */
export interface HostParameters {
  readonly merchantName?: string;
  readonly responseTimeoutS?: number;
  readonly reversalTries?: number;
  readonly amountFenMax?: number;
  readonly offlineAllowed?: boolean;
  readonly offlineFloorFen?: number;
  readonly offlineCountMax?: number;
  readonly qrAllowed?: boolean;
  readonly preAuthAllowed?: boolean;
  /** DF1A (this runtime's addition, docs/PROTOCOL.md): where the receipt's QR code points. */
  readonly eReceiptBase?: string;
}

export const MERCHANT_NAME_BYTES_MAX = 40;
export const RESPONSE_TIMEOUT_S_MIN = 10;
export const RESPONSE_TIMEOUT_S_MAX = 120;
export const REVERSAL_TRIES_MIN = 1;
export const REVERSAL_TRIES_MAX_PARAM = 9;
export const PARAM_AMOUNT_FEN_MAX = 99_999_999_999;
const BCD6_DIGITS = 12;
/** DF1A: an https address the slip's identifiers are appended to as a query (`?tid=..`). */
export const E_RECEIPT_BASE_BYTES_MAX = 100;
const E_RECEIPT_BASE_SHAPE = /^https:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$/;

/** Whether `s` is an e-receipt address a terminal may print and show (checked when read and when journaled). */
export function isEReceiptBase(s: string): boolean {
  return s.length <= E_RECEIPT_BASE_BYTES_MAX && E_RECEIPT_BASE_SHAPE.test(s);
}

function paramsRefused(reason: string, tag: number): PosError {
  return new PosError('HOST_PARAMS', `parameter download refused: ${reason}`, { tag: tag.toString(16).toUpperCase() });
}

function bcd6(v: Buffer, tag: number): number {
  if (v.length !== 6) throw paramsRefused(`tag ${tag.toString(16).toUpperCase()} is ${v.length} bytes, expected 6`, tag);
  const d = v.toString('hex');
  if (!/^[0-9]{12}$/.test(d)) throw paramsRefused(`tag ${tag.toString(16).toUpperCase()} is not BCD`, tag);
  return Number(d);
}

function byte1(v: Buffer, tag: number, min: number, max: number): number {
  if (v.length !== 1 || v[0] < min || v[0] > max) throw paramsRefused(`tag ${tag.toString(16).toUpperCase()} out of range ${min}..${max}`, tag);
  return v[0];
}

/**
 * Field 62 of a parameter download answer. Unknown tags are ignored; a known tag out of range
 * refuses the whole download (HOST_PARAMS): the caller changes nothing.
 */
export function parseHostParameters(b: Buffer): HostParameters {
  let m: Map<number, Buffer>;
  try { m = tlvMap(b, 62); } catch (e) { throw paramsRefused(e instanceof Error ? e.message : String(e), 0x62); }
  const out: { -readonly [K in keyof HostParameters]: HostParameters[K] } = {};
  for (const [tag, v] of m) {
    switch (tag) {
      case 0xdf11: {
        if (v.length < 1 || v.length > MERCHANT_NAME_BYTES_MAX) throw paramsRefused(`merchant name is ${v.length} bytes (1..${MERCHANT_NAME_BYTES_MAX})`, tag);
        const name = decodeGb18030(v);
        if (name.includes('\ufffd') || /[\x00-\x1f\x7f]/.test(name)) throw paramsRefused('merchant name is not GB18030 text', tag);
        out.merchantName = name.trim();
        break;
      }
      case 0xdf12: out.responseTimeoutS = byte1(v, tag, RESPONSE_TIMEOUT_S_MIN, RESPONSE_TIMEOUT_S_MAX); break;
      case 0xdf13: out.reversalTries = byte1(v, tag, REVERSAL_TRIES_MIN, REVERSAL_TRIES_MAX_PARAM); break;
      case 0xdf14: {
        const fen = bcd6(v, tag);
        if (fen < 1 || fen > PARAM_AMOUNT_FEN_MAX) throw paramsRefused(`maximum amount ${fen} out of range 1..${PARAM_AMOUNT_FEN_MAX}`, tag);
        out.amountFenMax = fen;
        break;
      }
      case 0xdf15: out.offlineAllowed = byte1(v, tag, 0, 1) === 1; break;
      case 0xdf16: out.offlineFloorFen = bcd6(v, tag); break;
      case 0xdf17: out.offlineCountMax = byte1(v, tag, 0, 255); break;
      case 0xdf18: out.qrAllowed = byte1(v, tag, 0, 1) === 1; break;
      case 0xdf19: out.preAuthAllowed = byte1(v, tag, 0, 1) === 1; break;
      case 0xdf1a: {
        // Not the profile's tag but this runtime's: a host that means something else by DF1A (its
        // next free tag after DF19) must see it ignored as the profile says of unknown tags, not
        // its whole download refused. Only an address the slip's QR code can hold is taken.
        const base = v.toString('latin1');
        if (isEReceiptBase(base)) out.eReceiptBase = base;
        break;
      }
      default: break; // the profile: unknown tags are ignored
    }
  }
  return out;
}

/** The host side of `parseHostParameters` (the simulator serves these). */
export function encodeHostParameters(p: HostParameters): Buffer {
  const parts: Buffer[] = [];
  const bcd = (n: number): Buffer => Buffer.from(String(n).padStart(BCD6_DIGITS, '0'), 'hex');
  if (p.merchantName !== undefined) parts.push(encodeTlv(0xdf11, encodeGb18030(p.merchantName)));
  if (p.responseTimeoutS !== undefined) parts.push(encodeTlv(0xdf12, Buffer.from([p.responseTimeoutS & 0xff])));
  if (p.reversalTries !== undefined) parts.push(encodeTlv(0xdf13, Buffer.from([p.reversalTries & 0xff])));
  if (p.amountFenMax !== undefined) parts.push(encodeTlv(0xdf14, bcd(p.amountFenMax)));
  if (p.offlineAllowed !== undefined) parts.push(encodeTlv(0xdf15, Buffer.from([p.offlineAllowed ? 1 : 0])));
  if (p.offlineFloorFen !== undefined) parts.push(encodeTlv(0xdf16, bcd(p.offlineFloorFen)));
  if (p.offlineCountMax !== undefined) parts.push(encodeTlv(0xdf17, Buffer.from([p.offlineCountMax & 0xff])));
  if (p.qrAllowed !== undefined) parts.push(encodeTlv(0xdf18, Buffer.from([p.qrAllowed ? 1 : 0])));
  if (p.preAuthAllowed !== undefined) parts.push(encodeTlv(0xdf19, Buffer.from([p.preAuthAllowed ? 1 : 0])));
  if (p.eReceiptBase !== undefined) parts.push(encodeTlv(0xdf1a, Buffer.from(p.eReceiptBase, 'latin1')));
  return Buffer.concat(parts);
}

export interface ParamDownloadResult extends ResponseBase {
  /** Only when approved; a 62 with a known tag out of range throws HOST_PARAMS instead. */
  readonly params?: HostParameters;
}

export function parseParamDownloadResponse(profile: HostProfile, req: Request, bytes: Buffer, opts: DecodeOptions = {}): ParamDownloadResult {
  const r = decodeResponse(profile, req, bytes, opts);
  if (!r.approved) return r;
  return { ...r, params: parseHostParameters(bytesField(r.frame.message, 62) as Buffer) };
}

/** 370/380 ask for the list without 62, or for one item with 62 (RID + index, or an AID). */
export function buildCaKeyDownload(profile: HostProfile, input: Common & { readonly rid?: Buffer; readonly index?: number }): Request {
  const f = base(profile, profile.messages.caKeyDownload, input);
  if (input.rid !== undefined && input.index !== undefined) f.set(62, Buffer.concat([encodeTlv(0x9f06, input.rid), encodeTlv(0x9f22, Buffer.from([input.index]))]));
  return request(profile, 'caKeyDownload', f);
}

export function buildAidDownload(profile: HostProfile, input: Common & { readonly aid?: Buffer }): Request {
  const f = base(profile, profile.messages.aidDownload, input);
  if (input.aid !== undefined) f.set(62, encodeTlv(0x9f06, input.aid));
  return request(profile, 'aidDownload', f);
}

export function buildDownloadEnd(profile: HostProfile, type: 'caKeyDownloadEnd' | 'aidDownloadEnd', c: Common): Request {
  return request(profile, type, base(profile, profile.messages[type], c));
}

/** Top-level BER-TLV of a host field into a map; not TLV is HOST_MALFORMED naming the field. */
export function tlvMap(b: Buffer, field: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  try {
    for (const t of parseTlv(b)) if (!m.has(t.tag)) m.set(t.tag, t.value);
  } catch (e) {
    throw malformed(`not BER-TLV (${e instanceof Error ? e.message : String(e)})`, { field });
  }
  return m;
}

// ================================================================ pre-authorization family

/** A pre-authorization: the fields of a sale, 0100 with 3 = 030000 and 60.1 = 10. */
export function buildPreAuth(profile: HostProfile, input: SaleInput): Request {
  return request(profile, 'preAuth', saleFields(profile, 'preAuth', input));
}

/** The pre-authorization a void or completion names: 38 its authorization code, 61 batch + STAN + date. */
export interface PreAuthRef extends OriginalRef {
  readonly authCode: string;
  /** MMDD, always sent (16-digit 61). */
  readonly dateMmdd: string;
}

/**
 * Pre-authorization void: 2 3 4 11 22 25 38 41 42 49 60 61, plus the card fields of a sale
 * when the card was read (`card`), or only 2 and 22 when the number was keyed.
 */
export function buildPreAuthVoid(profile: HostProfile, input: Common & {
  readonly amountFen: number; readonly conditionCode?: string; readonly card: CardData; readonly original: PreAuthRef;
}): Request {
  const f = base(profile, profile.messages.preAuthVoid, input);
  card(profile, f, input.card);
  if (input.card.pinBlock !== undefined || input.card.track2 !== undefined || input.card.field55 !== undefined) f.set(53, profile.securityControl);
  f.set(4, amount(input.amountFen));
  f.set(25, input.conditionCode ?? '00');
  f.set(38, input.original.authCode);
  f.set(49, profile.currencyCode);
  f.set(61, field61(input.original));
  return request(profile, 'preAuthVoid', f);
}

/** Completion: 0200, 60.1 = 20, 38 and 61 of the pre-authorization, the card's 2 14 22. */
export function buildCompletion(profile: HostProfile, input: Common & {
  readonly amountFen: number; readonly pan: string; readonly entryMode: EntryMode; readonly expiry: string; readonly conditionCode?: string; readonly original: PreAuthRef;
}): Request {
  const f = base(profile, profile.messages.completion, input);
  f.set(2, input.pan);
  f.set(4, amount(input.amountFen));
  f.set(14, input.expiry);
  f.set(22, input.entryMode);
  f.set(25, input.conditionCode ?? '00');
  f.set(38, input.original.authCode);
  f.set(49, profile.currencyCode);
  f.set(61, field61(input.original));
  return request(profile, 'completion', f);
}

/** Completion void: 37 and 38 the completion's RRN and authorization code, 61 the completion's batch + STAN + date. */
export function buildCompletionVoid(profile: HostProfile, input: Common & {
  readonly amountFen: number; readonly pan: string; readonly entryMode: EntryMode; readonly conditionCode?: string; readonly original: PreAuthRef & { readonly rrn: string };
}): Request {
  const f = base(profile, profile.messages.completionVoid, input);
  f.set(2, input.pan);
  f.set(4, amount(input.amountFen));
  f.set(22, input.entryMode);
  f.set(25, input.conditionCode ?? '00');
  f.set(37, input.original.rrn);
  f.set(38, input.original.authCode);
  f.set(49, profile.currencyCode);
  f.set(61, field61(input.original));
  return request(profile, 'completionVoid', f);
}

/** A completion may be up to this share of the pre-authorized amount (profile choice: 115%). */
export const COMPLETION_PERCENT_MAX = 115;

/** The largest completion a pre-authorization of `preAuthFen` allows (integer fen, rounded down). */
export function completionFenMax(preAuthFen: number): number {
  return Math.floor((preAuthFen * COMPLETION_PERCENT_MAX) / 100);
}

// ================================================================ issuer script result notice

/** 0620, 60.3 = 951: the chip transaction's 2 3 4 22 23 37 and 55 (with DF31), 61 = its batch + STAN + date. */
export function buildScriptNotice(profile: HostProfile, input: Common & {
  readonly pan: string; readonly processingCode: string; readonly amountFen: number; readonly entryMode: EntryMode; readonly cardSeq?: string;
  readonly rrn: string; readonly field55: Buffer; readonly original: OriginalRef & { readonly dateMmdd: string };
}): Request {
  const f = base(profile, profile.messages.scriptNotice, input);
  f.set(2, input.pan);
  f.set(3, input.processingCode);
  f.set(4, amount(input.amountFen));
  f.set(22, input.entryMode);
  if (input.cardSeq !== undefined) f.set(23, input.cardSeq);
  f.set(37, input.rrn);
  f.set(49, profile.currencyCode);
  f.set(55, input.field55);
  f.set(61, field61(input.original));
  return request(profile, 'scriptNotice', f);
}

// ================================================================ offline sale advice

/** An offline sale sent later: 0220, 3 = 000000, 60.1 = 30, the fields of a sale plus 38, always its own STAN. */
export function buildOfflineAdvice(profile: HostProfile, input: SaleInput & { readonly authCode: string }): Request {
  if (input.pinBlock !== undefined) throw invalid('an offline advice carries no PIN block');
  const f = saleFields(profile, 'offlineAdvice', input);
  f.set(38, input.authCode);
  return request(profile, 'offlineAdvice', f);
}

/** A 0230 with 00 or 94 (a resend the host recognised) marks the advice sent; anything else rejects it. */
export const ADVICE_ACCEPTED_CODES: readonly string[] = ['00', '94'];

// ================================================================ QR payments

export type Wallet = 'UP' | 'WX' | 'AL' | 'OT';
export const WALLETS: readonly Wallet[] = ['UP', 'WX', 'AL', 'OT'];

/** Field 59 tags (docs/PROTOCOL.md, QR code payments). */
export interface QrTags {
  /** The customer's payment code, 16..32 digits (QR sale request only; memory only). */
  readonly A1?: string;
  /** Order number given by the host, 12..32 ASCII. */
  readonly A2?: string;
  /** QR content to show the customer (order response). */
  readonly A3?: string;
  readonly A4?: Wallet;
  /** The payer, masked by the host (..32). */
  readonly A5?: string;
  /** Order validity in seconds, 3 digits (QR order request). */
  readonly A7?: number;
}

export const QR_TAG_TEXT_MAX = 600;
export const PAYMENT_CODE_DIGITS_MIN = 16;
export const PAYMENT_CODE_DIGITS_MAX = 32;
export const ORDER_NO_CHARS_MIN = 12;
export const ORDER_NO_CHARS_MAX = 32;
export const PAYER_CHARS_MAX = 32;
/** A3 longer than this does not fit a version-2 QR at level L on 128×64: it is printed instead. */
export const QR_SHOW_CHARS_MAX = 32;
export const QR_VALIDITY_S_DEFAULT = 120;

const TAG_ORDER: ReadonlyArray<keyof QrTags> = ['A1', 'A2', 'A3', 'A4', 'A5', 'A7'];
const PRINTABLE = /^[\x20-\x7e]*$/;

/** Checks one tag's value (both directions): returns a reason when it breaks the profile. */
function qrTagProblem(tag: keyof QrTags, v: string): string | undefined {
  switch (tag) {
    case 'A1': return /^[0-9]{16,32}$/.test(v) ? undefined : 'a payment code is 16..32 digits';
    case 'A2': return v.length >= ORDER_NO_CHARS_MIN && v.length <= ORDER_NO_CHARS_MAX && PRINTABLE.test(v) ? undefined : 'an order number is 12..32 ASCII characters';
    case 'A3': return v.length >= 1 && PRINTABLE.test(v) ? undefined : 'QR content is empty or not ASCII';
    case 'A4': return (WALLETS as readonly string[]).includes(v) ? undefined : `wallet "${v}" is not UP, WX, AL or OT`;
    case 'A5': return v.length <= PAYER_CHARS_MAX ? undefined : 'payer longer than 32 characters';
    case 'A7': return /^[0-9]{3}$/.test(v) ? undefined : 'validity is 3 digits';
  }
}

/** tag (2) + length (3 digits) + value, in tag order; a bad value is HOST_REQUEST_INVALID. */
export function encodeField59(tags: QrTags): string {
  let out = '';
  for (const tag of TAG_ORDER) {
    const raw = tags[tag];
    if (raw === undefined) continue;
    const v = tag === 'A7' ? digits(raw as number, 3, 'QR validity', 1) : String(raw);
    const problem = qrTagProblem(tag, v);
    if (problem !== undefined) throw invalid(`field 59 ${tag}: ${problem}`, { field: 59 });
    out += tag + String(v.length).padStart(3, '0') + v;
  }
  return out;
}

/** Reads a host's field 59; unknown tags are skipped, a broken structure or value is HOST_MALFORMED. */
export function parseField59(s: string): QrTags {
  const out: { -readonly [K in keyof QrTags]: QrTags[K] } = {};
  let i = 0;
  while (i < s.length) {
    if (i + 5 > s.length) throw malformed('QR data ends inside a tag header', { field: 59 });
    const tag = s.slice(i, i + 2);
    const lenText = s.slice(i + 2, i + 5);
    if (!/^[0-9]{3}$/.test(lenText)) throw malformed(`QR tag ${tag} length "${lenText}" is not 3 digits`, { field: 59 });
    const len = Number(lenText);
    if (i + 5 + len > s.length) throw malformed(`QR tag ${tag} is longer than the field`, { field: 59 });
    const v = s.slice(i + 5, i + 5 + len);
    i += 5 + len;
    if (!(TAG_ORDER as readonly string[]).includes(tag)) continue;
    const key = tag as keyof QrTags;
    const problem = qrTagProblem(key, v);
    if (problem !== undefined) throw malformed(`QR tag ${tag}: ${problem}`, { field: 59 });
    if (key === 'A7') out.A7 = Number(v);
    else if (key === 'A4') out.A4 = v as Wallet;
    else out[key] = v;
  }
  return out;
}

interface QrCommon extends Common { readonly amountFen: number; readonly conditionCode?: string }

function qrBase(profile: HostProfile, type: Request['type'], input: QrCommon, entryMode: QrEntryMode, tags: QrTags): Map<number, FieldValue> {
  const f = base(profile, profile.messages[type], input);
  f.set(4, amount(input.amountFen));
  f.set(22, entryMode);
  f.set(25, input.conditionCode ?? '00');
  f.set(49, profile.currencyCode);
  f.set(59, encodeField59(tags));
  return f;
}

/** 被扫: the terminal scanned the customer's payment code (A1); the code lives only in this request. */
export function buildQrSale(profile: HostProfile, input: QrCommon & { readonly paymentCode: string }): Request {
  return request(profile, 'qrSale', qrBase(profile, 'qrSale', input, '032', { A1: input.paymentCode }));
}

/** 主扫: the terminal asks the host for an order to show as a QR code (A7 validity). */
export function buildQrOrder(profile: HostProfile, input: QrCommon & { readonly validityS?: number }): Request {
  return request(profile, 'qrOrder', qrBase(profile, 'qrOrder', input, '033', { A7: input.validityS ?? QR_VALIDITY_S_DEFAULT }));
}

/** The original a query, void or refund names: 61 batch + STAN + date, 59 its order number (when the host gave one). */
export interface QrOriginal extends OriginalRef {
  readonly dateMmdd: string;
  readonly entryMode: QrEntryMode;
  readonly orderNo?: string;
}

export function buildQrQuery(profile: HostProfile, input: QrCommon & { readonly original: QrOriginal }): Request {
  const f = qrBase(profile, 'qrQuery', input, input.original.entryMode, { A2: input.original.orderNo });
  f.set(61, field61(input.original));
  return request(profile, 'qrQuery', f);
}

export function buildQrVoid(profile: HostProfile, input: QrCommon & { readonly original: QrOriginal & { readonly rrn: string } }): Request {
  const f = qrBase(profile, 'qrVoid', input, input.original.entryMode, { A2: input.original.orderNo });
  f.set(37, input.original.rrn);
  f.set(61, field61(input.original));
  return request(profile, 'qrVoid', f);
}

export function buildQrRefund(profile: HostProfile, input: QrCommon & { readonly original: QrOriginal & { readonly rrn: string } }): Request {
  const f = qrBase(profile, 'qrRefund', input, input.original.entryMode, { A2: input.original.orderNo });
  f.set(37, input.original.rrn);
  f.set(61, field61(input.original));
  return request(profile, 'qrRefund', f);
}

/** 39 = P1: the customer has not paid yet (confirming on the phone, or not scanned): query on. */
export const QR_WAITING = 'P1';

export interface QrResult extends FinancialResult {
  /** Field 59, parsed; empty when the host sent none. */
  readonly qr: QrTags;
  /** 39 = P1. */
  readonly waiting: boolean;
}

/** Any QR response: a financial response plus 59 (an approved QR sale or query must name its order, A2). */
export function parseQrResponse(profile: HostProfile, req: Request, bytes: Buffer, opts: DecodeOptions = {}): QrResult {
  const r = parseFinancialResponse(profile, req, bytes, opts);
  const f59 = textField(r.frame.message, 59);
  const qr = f59 === undefined ? {} : parseField59(f59);
  if (r.approved && (req.type === 'qrSale' || req.type === 'qrQuery' || req.type === 'qrOrder') && qr.A2 === undefined) {
    throw malformed(`an approved ${req.type} answer names no order (59 A2)`, { field: 59 });
  }
  if (req.type === 'qrOrder' && (r.approved || r.responseCode === QR_WAITING) && qr.A3 === undefined) {
    throw malformed('a QR order answer carries no QR content (59 A3)', { field: 59 });
  }
  return { ...r, qr, waiting: r.responseCode === QR_WAITING };
}

/**
 * EMV for an online chip transaction: BER-TLV, DOLs, the terminal's data, the first GENERATE AC
 * and field 55, the IC card data of the 0200 sale and of its 0400 reversal (docs/PROTOCOL.md:
 * LLLVAR binary ..255).
 *
 * The chip read (card.ts, through the kernel's steps in emv-kernel.ts) asks the card for the
 * cryptogram terminal action analysis chose (an ARQC, or an AAC to decline) once the amount and
 * the transaction type are known (`CardRequest`), with the data the card's CDOL1 (tag 8C) asks
 * for, or with `DEFAULT_CDOL1` when the card has none. Field 55 is then built from an allow-list
 * (`FIELD55_TAGS`) and nothing else: the cryptogram and its inputs, never a tag that carries the
 * PAN, track data or the cardholder's name (5A, 57, 5F20, 56, 9F6B, 9F1F, 9F20, ...). The same
 * allow-list sanitises field 55 again wherever it is stored (records.ts, reversal-pending): the
 * journal scans strings for card data but not bytes, so the allow-list is the guarantee.
 *
 * Terminal data (all documented constants except the amount, date, type and unpredictable number):
 *   9F02 amount authorised   n12, the amount in fen (0 for a balance inquiry)
 *   9F03 amount, other       n12, 0 (no cashback)
 *   9F1A terminal country    n3 0156 (China)
 *   5F2A currency            n3 0156 (CNY, as field 49)
 *   95   TVR                 set by the kernel's steps (emv-kernel.ts: ODA, restrictions, CVM, floor
 *                            limit); 80 00 00 00 00 (ODA not performed) only before they ran
 *   9A   date                YYMMDD, local time of the injected clock
 *   9C   transaction type    00 sale, 20 refund, 31 balance inquiry
 *   9F37 unpredictable number 4 bytes from the injected random source (a seeded run replays)
 *   9F33 terminal capabilities E0 68 C8: manual key entry, magnetic stripe, IC with contacts;
 *                            enciphered PIN online, signature, no CVM; SDA, DDA and CDA, no card
 *                            capture
 *   9F66 TTQ                 contactless only (emv-qpboc.ts): qPBOC, contact chip, online PIN and
 *                            signature supported; online cryptogram / CVM required as the limits say
 *   9F34 CVM results         what the card's CVM list chose (emv-kernel.ts); 42 03 00 (online PIN,
 *                            result unknown: the issuer verifies it) before the kernel ran
 *   9F35 terminal type       21: attended, merchant-operated, online only
 *   9F09 application version the selected AID's (download), 00 30 (UnionPay PBOC 3.0) by default
 *   9F1E IFD serial number   an8, the terminal's TID
 * 9F41 (transaction sequence counter) is not sent: the STAN is not known when the card is read.
 *
 * Contactless cards are read with the same flow as contact ones, unless the card answers GPO with
 * its cryptogram (qPBOC): then emv-qpboc.ts finishes the read.
 */
import { PosError, invariant } from '../../common/errors';
import type { AidParams } from '../host/emv-params';
import type { RiskContext } from './emv-risk';
import type { CaPublicKey } from './emv-rsa';

export type EmvTxnType = 'sale' | 'refund' | 'balance';

/** 9C, ISO 8583 processing code's first two digits. */
export const EMV_TXN_TYPE_CODE: Readonly<Record<EmvTxnType, string>> = { sale: '00', refund: '20', balance: '31' };

/** What the terminal knows when the card is read; the chip's ARQC covers it. */
export interface CardRequest {
  readonly txnType: EmvTxnType;
  /** Fen; 0 for a balance inquiry. */
  readonly amountFen: number;
  /** 9A, YYMMDD. */
  readonly dateYymmdd: string;
  /** 9F37, 4 bytes from the injected random source. */
  readonly unpredictable: Buffer;
  /** 9F1E, 8 characters (the TID). */
  readonly ifdSerial?: string;
  /** The downloaded CA keys and AIDs (terminal-state `caKeys`, `aids`); absent: none (the kernel's built-in AIDs, no CA key). */
  readonly params?: EmvParams;
  /** Terminal risk management's random number and transaction log (emv-risk.ts); absent: neither. */
  readonly risk?: RiskContext;
  /**
   * The terminal may approve this amount offline now (the host's offline parameters DF15/DF16/DF17:
   * engine.offlineAllowed). A qPBOC card may then answer TC within the AID's contactless floor
   * limit; absent or false: the TTQ asks every tapped card for an online cryptogram.
   */
  readonly offlineAllowed?: boolean;
  /**
   * Keep an inserted card powered after an ARQC for the online half (emv-online.ts: issuer
   * authentication, the final GENERATE AC, scripts): the read returns `CardInput.online`, which
   * releases it. A tapped card is never kept (contactless has no second GENERATE AC).
   */
  readonly holdCard?: boolean;
}

/** What the terminal downloaded for the chip kernel (runtime/txn/emv-kernel.ts). */
export interface EmvParams {
  /** Every stored key; the kernel keeps those in force on the transaction's date (caKeysInForce). */
  readonly caKeys: readonly CaPublicKey[];
  /** Undefined: none downloaded yet (the kernel's BUILT_IN_AIDS apply). */
  readonly aids?: readonly AidParams[];
}

export const TERMINAL_COUNTRY_CODE = '0156';
export const TRANSACTION_CURRENCY_CODE = '0156';
export const TVR_DEFAULT = '8000000000';
export const TERMINAL_CAPABILITIES = 'E068C8';
export const CVM_RESULTS = '420300';
export const TERMINAL_TYPE = '21';
export const TERMINAL_APP_VERSION = '0030';
export const UNPREDICTABLE_NUMBER_BYTES = 4;
/** Amounts are n12. */
const AMOUNT_DIGITS = 12;

/**
 * CDOL1 when the card gives none (tag 8C absent): the terminal data of the typical CDOL1 of
 * EMV Book 3 and UnionPay debit cards, 29 bytes:
 * 9F02(6) 9F03(6) 9F1A(2) 95(5) 5F2A(2) 9A(3) 9C(1) 9F37(4).
 */
export const DEFAULT_CDOL1 = Buffer.from('9F02069F03069F1A0295055F2A029A039C019F3704', 'hex');

/** Cryptogram information data (9F27), top two bits: what the card answered. */
export const CID_AAC = 0x00;
export const CID_TC = 0x40;
export const CID_ARQC = 0x80;

export const TLV_DEPTH_MAX = 8;
/** Field 55's maximum (docs/PROTOCOL.md). */
export const FIELD55_BYTES_MAX = 255;

/**
 * Field 55, in this order, with each value's allowed length in bytes (EMV Book 3 Annex A):
 * nothing else ever goes into it. Lengths out of range drop the tag.
 */
export const FIELD55_TAGS: ReadonlyArray<readonly [tag: number, minBytes: number, maxBytes: number]> = [
  [0x9f26, 8, 8], // application cryptogram (ARQC)
  [0x9f27, 1, 1], // cryptogram information data
  [0x9f10, 1, 32], // issuer application data
  [0x9f37, 4, 4], // unpredictable number
  [0x9f36, 2, 2], // application transaction counter
  [0x95, 5, 5], // TVR
  [0x9a, 3, 3], // transaction date
  [0x9c, 1, 1], // transaction type
  [0x9f02, 6, 6], // amount authorised
  [0x5f2a, 2, 2], // transaction currency code
  [0x82, 2, 2], // AIP
  [0x9f1a, 2, 2], // terminal country code
  [0x9f03, 6, 6], // amount, other
  [0x9f33, 3, 3], // terminal capabilities
  [0x9f34, 3, 3], // CVM results
  [0x9f35, 1, 1], // terminal type
  [0x9f1e, 8, 8], // IFD serial number
  [0x84, 5, 16], // dedicated file (AID) name
  [0x9f09, 2, 2], // application version number (terminal)
  [0x9f41, 2, 4], // transaction sequence counter
];

/**
 * Tags that carry the PAN, track data or the cardholder's name: never in field 55 (they are not
 * on the allow-list; listed here for the tests and the reader of this file).
 */
export const NEVER_IN_FIELD55: readonly number[] = [0x5a, 0x57, 0x5f20, 0x56, 0x9f6b, 0x9f1f, 0x9f20, 0x5f24, 0x9f0b, 0x5f30];

const ALLOWED = new Map(FIELD55_TAGS.map(([t, min, max]) => [t, { min, max }]));

/** Numeric (n) data elements: a DOL pads them on the left and cuts them from the left. */
const NUMERIC_TAGS = new Set([0x9f02, 0x9f03, 0x9f1a, 0x5f2a, 0x9a, 0x9c, 0x9f21, 0x9f41, 0x5f36]);

// ---------------------------------------------------------------- BER-TLV

export interface Tlv {
  readonly tag: number;
  readonly value: Buffer;
  readonly constructed: boolean;
}

function unreadable(reason: string): PosError {
  return new PosError('RDR_UNREADABLE', reason);
}

/** Reads one tag at `i`: [tag, next offset]. Tags of up to 3 bytes. */
function readTag(data: Buffer, i: number): [number, number] {
  let tag = data[i++];
  if ((tag & 0x1f) === 0x1f) {
    let more = true;
    for (let n = 0; more; n++) {
      if (i >= data.length || n >= 2) throw unreadable('card data has a tag cut off or over 3 bytes');
      const b = data[i++];
      tag = (tag << 8) | b;
      more = (b & 0x80) !== 0;
    }
  }
  return [tag >>> 0, i];
}

/** The top level of BER-TLV data; padding bytes 00 and FF between objects are skipped (EMV). */
export function parseTlv(data: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0x00 || data[i] === 0xff) { i++; continue; }
    const constructed = (data[i] & 0x20) !== 0;
    let tag: number;
    [tag, i] = readTag(data, i);
    if (i >= data.length) throw unreadable('card data ends after a tag');
    let len = data[i++];
    if (len === 0x81) {
      if (i + 1 > data.length) throw unreadable('card data ends inside a length');
      len = data[i++];
    } else if (len === 0x82) {
      if (i + 2 > data.length) throw unreadable('card data ends inside a length');
      len = data.readUInt16BE(i); i += 2;
    } else if (len > 0x7f) throw unreadable('card data has an unsupported length form');
    if (i + len > data.length) throw unreadable('card data object longer than its container');
    out.push({ tag, value: data.subarray(i, i + len), constructed });
    i += len;
  }
  return out;
}

/** Every primitive object, constructed templates opened (depth-limited), first occurrence wins. */
export function primitives(data: Buffer, into = new Map<number, Buffer>(), depth = 0): Map<number, Buffer> {
  if (depth > TLV_DEPTH_MAX) throw unreadable('card data nested too deep');
  for (const t of parseTlv(data)) {
    if (t.constructed) primitives(t.value, into, depth + 1);
    else if (!into.has(t.tag)) into.set(t.tag, t.value);
  }
  return into;
}

export function encodeTag(tag: number): Buffer {
  if (tag > 0xffff) return Buffer.from([tag >>> 16, (tag >>> 8) & 0xff, tag & 0xff]);
  if (tag > 0xff) return Buffer.from([tag >>> 8, tag & 0xff]);
  return Buffer.from([tag]);
}

export function encodeTlv(tag: number, value: Buffer): Buffer {
  invariant(value.length <= 0xffff, 'TLV value too long');
  const len = value.length < 0x80 ? Buffer.from([value.length]) : value.length <= 0xff ? Buffer.from([0x81, value.length]) : Buffer.from([0x82, value.length >> 8, value.length & 0xff]);
  return Buffer.concat([encodeTag(tag), len, value]);
}

// ---------------------------------------------------------------- DOL

export interface DolEntry { readonly tag: number; readonly length: number; readonly constructed: boolean }

/** A data object list: tags and lengths, no values. */
export function parseDol(dol: Buffer): DolEntry[] {
  const out: DolEntry[] = [];
  let i = 0;
  while (i < dol.length) {
    const constructed = (dol[i] & 0x20) !== 0;
    let tag: number;
    [tag, i] = readTag(dol, i);
    if (i >= dol.length) throw unreadable('CDOL ends after a tag');
    out.push({ tag, length: dol[i++], constructed });
  }
  return out;
}

/**
 * The data a DOL asks for (EMV Book 3, 5.4): numeric values padded with leading zeros or cut from
 * the left; other values padded with trailing zeros or cut from the right; unknown or constructed
 * tags as zeros.
 */
export function dolData(dol: Buffer, values: ReadonlyMap<number, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const e of parseDol(dol)) {
    const v = e.constructed ? undefined : values.get(e.tag);
    const out = Buffer.alloc(e.length);
    if (v !== undefined) {
      if (NUMERIC_TAGS.has(e.tag)) {
        if (v.length >= e.length) v.copy(out, 0, v.length - e.length); else v.copy(out, e.length - v.length);
      } else {
        v.copy(out, 0, 0, Math.min(v.length, e.length));
      }
    }
    parts.push(out);
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- terminal data and GENERATE AC

function bcd(digits: string): Buffer {
  return Buffer.from(digits.length % 2 ? `0${digits}` : digits, 'hex');
}

export function checkCardRequest(r: CardRequest): void {
  if (!Number.isSafeInteger(r.amountFen) || r.amountFen < 0 || r.amountFen >= 10 ** AMOUNT_DIGITS) throw new PosError('OPR_AMOUNT', 'amount out of range for the card', { amountFen: r.amountFen });
  invariant(/^\d{6}$/.test(r.dateYymmdd), 'EMV date is YYMMDD');
  invariant(r.unpredictable.length === UNPREDICTABLE_NUMBER_BYTES, 'unpredictable number is 4 bytes');
  invariant(r.ifdSerial === undefined || /^[\x20-\x7e]{8}$/.test(r.ifdSerial), 'IFD serial number is 8 characters');
}

/** The terminal's data objects for a request. */
export function terminalData(r: CardRequest): Map<number, Buffer> {
  checkCardRequest(r);
  const m = new Map<number, Buffer>([
    [0x9f02, bcd(String(r.amountFen).padStart(AMOUNT_DIGITS, '0'))],
    [0x9f03, bcd('0'.repeat(AMOUNT_DIGITS))],
    [0x9f1a, Buffer.from(TERMINAL_COUNTRY_CODE, 'hex')],
    [0x95, Buffer.from(TVR_DEFAULT, 'hex')],
    [0x5f2a, Buffer.from(TRANSACTION_CURRENCY_CODE, 'hex')],
    [0x9a, bcd(r.dateYymmdd)],
    [0x9c, Buffer.from(EMV_TXN_TYPE_CODE[r.txnType], 'hex')],
    [0x9f37, Buffer.from(r.unpredictable)],
    [0x9f33, Buffer.from(TERMINAL_CAPABILITIES, 'hex')],
    [0x9f34, Buffer.from(CVM_RESULTS, 'hex')],
    [0x9f35, Buffer.from(TERMINAL_TYPE, 'hex')],
    [0x9f09, Buffer.from(TERMINAL_APP_VERSION, 'hex')],
  ]);
  if (r.ifdSerial !== undefined) m.set(0x9f1e, Buffer.from(r.ifdSerial, 'ascii'));
  return m;
}

/** GENERATE AC P1 (Book 3 §6.5.5): what terminal action analysis asks for. */
export const GENAC_P1_AAC = 0x00;
export const GENAC_P1_ARQC = 0x80;
/** P1 bit 5: the CDA signature requested (Book 3 §6.5.5.2); never with an AAC. */
export const GENAC_P1_CDA = 0x10;

/** The first GENERATE AC command, by default asking for an ARQC (P1 = 80), with the CDA signature when `cda`. */
export function generateAcCommand(cdolData: Buffer, p1: number = GENAC_P1_ARQC, cda = false): Buffer {
  invariant(cdolData.length >= 1 && cdolData.length <= 0xff, 'CDOL1 data length');
  invariant(p1 === GENAC_P1_AAC || p1 === GENAC_P1_ARQC, 'GENERATE AC asks for an AAC or an ARQC');
  invariant(!cda || p1 !== GENAC_P1_AAC, 'CDA is never asked with an AAC');
  return Buffer.concat([Buffer.from([0x80, 0xae, cda ? p1 | GENAC_P1_CDA : p1, 0x00, cdolData.length]), cdolData, Buffer.from([0x00])]);
}

/**
 * CDA's transaction data hash covers the answer's data objects other than 9F4B, in the card's
 * order (Book 2 §6.6.2 step 9): the 77 template's objects re-encoded without 9F4B. Undefined for
 * a format 1 answer (CDA needs format 2).
 */
export function answerWithoutSdad(data: Buffer): Buffer | undefined {
  const top = parseTlv(data);
  if (top.length !== 1 || top[0].tag !== 0x77) return undefined;
  return Buffer.concat(parseTlv(top[0].value).filter((t) => t.tag !== 0x9f4b).map((t) => encodeTlv(t.tag, t.value)));
}

/**
 * The card's answer to GENERATE AC: format 1 (tag 80: CID, ATC, AC, IAD) or format 2 (tag 77,
 * BER-TLV). Returns 9F27, 9F36, 9F26 and 9F10 when present; a card that does not give the
 * cryptogram, its counter and CID is unreadable.
 */
export function parseGenerateAc(data: Buffer): Map<number, Buffer> {
  return parseGenerateAcAnswer(data, false);
}

/**
 * The answer to a GENERATE AC that asked for CDA: a TC or ARQC carries its cryptogram inside 9F4B
 * (no 9F26 beside it: `verifyCda` recovers it); an AAC is answered as without CDA.
 */
export function parseCdaGenerateAc(data: Buffer): Map<number, Buffer> {
  return parseGenerateAcAnswer(data, true);
}

function parseGenerateAcAnswer(data: Buffer, cda: boolean): Map<number, Buffer> {
  const top = parseTlv(data);
  if (top.length !== 1) throw unreadable('GENERATE AC answer is not one template');
  let out: Map<number, Buffer>;
  if (top[0].tag === 0x80) {
    const v = top[0].value;
    if (v.length < 11) throw unreadable('GENERATE AC format 1 shorter than CID + ATC + AC');
    out = new Map([[0x9f27, v.subarray(0, 1)], [0x9f36, v.subarray(1, 3)], [0x9f26, v.subarray(3, 11)]]);
    if (v.length > 11) out.set(0x9f10, v.subarray(11));
  } else if (top[0].tag === 0x77) {
    out = primitives(top[0].value);
  } else {
    throw unreadable(`GENERATE AC answer has template ${top[0].tag.toString(16)}`);
  }
  const cid = out.get(0x9f27), atc = out.get(0x9f36), ac = out.get(0x9f26);
  const signed = cda && out.has(0x9f4b) && ac === undefined;
  if (cid?.length !== 1 || atc?.length !== 2 || (!signed && ac?.length !== 8)) throw unreadable('GENERATE AC answer lacks the CID, ATC or cryptogram');
  return out;
}

/** What the card decided: ARQC (go online), or an offline decline (AAC). TC is refused here: the terminal asked for ARQC. */
export function cryptogramType(cid: Buffer): 'ARQC' | 'AAC' | 'TC' {
  const top = cid[0] & 0xc0;
  return top === CID_ARQC ? 'ARQC' : top === CID_TC ? 'TC' : top === CID_AAC ? 'AAC' : 'AAC';
}

// ---------------------------------------------------------------- field 55

function panNeedles(pan: string | undefined): Buffer[] {
  if (pan === undefined || pan.length < 12) return [];
  // Twelve leading digits (6 bytes BCD) and the PAN in ASCII: a value holding either is dropped.
  return [Buffer.from(pan.slice(0, 12), 'hex'), Buffer.from(pan, 'ascii')];
}

/**
 * Field 55 from data objects: only the allow-listed tags, in the allow-list's order, each within
 * its allowed length; with `pan`, a value that contains the PAN (BCD or ASCII) is dropped too
 * (an issuer's proprietary data could hold anything).
 */
export function field55Of(values: ReadonlyMap<number, Buffer>, pan?: string): Buffer {
  const needles = panNeedles(pan);
  const parts: Buffer[] = [];
  for (const [tag, min, max] of FIELD55_TAGS) {
    const v = values.get(tag);
    if (v === undefined || v.length < min || v.length > max) continue;
    if (needles.some((n) => v.includes(n))) continue;
    parts.push(encodeTlv(tag, v));
  }
  const out = Buffer.concat(parts);
  invariant(out.length <= FIELD55_BYTES_MAX, 'field 55 over its maximum', { bytes: out.length });
  return out;
}

/**
 * Field 55 bytes rebuilt from the allow-list: every tag not on it (and every constructed object)
 * dropped, duplicates dropped, canonical order. Malformed TLV throws RDR_UNREADABLE.
 */
export function sanitizeField55(bytes: Buffer): Buffer {
  const values = new Map<number, Buffer>();
  for (const t of parseTlv(bytes)) {
    if (!t.constructed && ALLOWED.has(t.tag) && !values.has(t.tag)) values.set(t.tag, t.value);
  }
  return field55Of(values);
}

/** True when the bytes are exactly what the allow-list would keep of them. */
export function isSanitizedField55(bytes: Buffer): boolean {
  try { return sanitizeField55(bytes).equals(bytes); } catch { return false; }
}

/** The tags of field 55 bytes, in order (tests and diagnostics). */
export function field55Tags(bytes: Buffer): number[] {
  return parseTlv(bytes).map((t) => t.tag);
}

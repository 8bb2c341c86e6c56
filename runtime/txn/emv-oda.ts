/**
 * Offline data authentication, EMV 4.3 Book 2 (sections named on each function): recovery of the
 * issuer public key (tag 90 with 92 and 9F32, under a CA key), of the ICC public key (9F46 with
 * 9F48 and 9F47, under the issuer key), SDA (93 over the static data to be authenticated), DDA
 * and fDDA (9F4B under the ICC key over the terminal's dynamic data).
 *
 * Every check that fails returns a typed reason (`OdaFailure`), never an exception: the kernel
 * turns it into TVR bits with `odaFailureTvr` and carries on (terminal action analysis decides
 * what a failed ODA means for the transaction). Programming errors (a malformed date argument)
 * still throw through `invariant`.
 *
 * Dates come from the caller (the injected clock's YYMMDD, as 9A), never from the machine clock.
 * Nothing here logs or keeps card data: functions return what they recovered.
 *
 * CDA (Book 2 §6.6.2) is verified here too (`verifyCda`); asking the card for it (GENERATE AC
 * with P1 bit 5) is the kernel's part. Not here yet: the certification revocation list (Book 2
 * §5.3 step 10 / §6.3 step 11).
 */
import { createHash } from 'node:crypto';
import { invariant } from '../../common/errors';
import { CID_AAC, answerWithoutSdad, parseTlv } from './emv';
import { RsaPublicKey, SHA1_BYTES, rsaRecover } from './emv-rsa';
import { TVR, TvrBit } from './emv-tvr';

export type OdaMethod = 'sda' | 'dda' | 'fdda' | 'cda';

export type OdaFailure =
  | 'data-missing' // a data object the step needs is absent (TVR: ICC data missing)
  | 'ca-key-missing' // the terminal has no CA key for RID + 8F
  | 'length' // certificate or signature not the modulus' length, or not below it
  | 'header' // recovered data does not start with 6A
  | 'trailer' // recovered data does not end with BC
  | 'format' // certificate / signed data format byte wrong, or its dynamic data longer than the room for it
  | 'algorithm' // hash or public-key algorithm indicator not 01 (SHA-1, RSA)
  | 'hash' // the SHA-1 inside does not match the data
  | 'issuer-id' // issuer identifier in the issuer certificate is not the PAN's leading digits
  | 'pan' // the PAN in the ICC certificate is not the card's
  | 'expired' // certificate expiry MMYY before today's month
  | 'key-length' // recovered key's lengths do not fit the certificate and remainder
  | 'static-data' // a record for ODA is not a 70 template, or 9F4A lists other than 82
  | 'cid' // CDA: the CID inside the signature is not the one in the answer
  | 'transaction-data-hash'; // CDA: the hash of the transaction data inside the signature does not match

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: OdaFailure };

function ok<T>(value: T): Checked<T> {
  return { ok: true, value };
}

function fail<T>(reason: OdaFailure): Checked<T> {
  return { ok: false, reason };
}

/** Recovered-data framing, Book 2 §5.3 and §6.3 (tables 6, 13, 14, 17). */
const RECOVERED_HEADER = 0x6a;
const RECOVERED_TRAILER = 0xbc;
const FORMAT_ISSUER_CERT = 0x02;
const FORMAT_SIGNED_STATIC = 0x03;
const FORMAT_ICC_CERT = 0x04;
const FORMAT_SIGNED_DYNAMIC = 0x05;
const HASH_ALGORITHM_SHA1 = 0x01;
const KEY_ALGORITHM_RSA = 0x01;
/** Header and trailer of every recovered block, and the hash before the trailer. */
const TRAILER_AND_HASH_BYTES = SHA1_BYTES + 1;
/** Issuer certificate: bytes before the key (6A, format, id 4, expiry 2, serial 3, algs 2, lengths 2). */
const ISSUER_CERT_KEY_OFFSET = 15;
/** ICC certificate: bytes before the key (6A, format, PAN 10, expiry 2, serial 3, algs 2, lengths 2). */
const ICC_CERT_KEY_OFFSET = 21;
const ICC_CERT_PAN_BYTES = 10;
/** First records of the AFL in SFIs 1..10 are read as 70 templates (Book 3 §10.3). */
const SFI_TEMPLATE_MAX = 10;
const AIP_TAG = 0x82;

/** The TVR bits a failed ODA step sets (Book 3 §10.3 and Annex C5). */
export function odaFailureTvr(method: OdaMethod, reason: OdaFailure): TvrBit[] {
  const failed = method === 'sda' ? TVR.sdaFailed : method === 'cda' ? TVR.cdaFailed : TVR.ddaFailed;
  return reason === 'data-missing' ? [TVR.iccDataMissing, failed] : [failed];
}

// ---------------------------------------------------------------- shared steps

/** SHA-1 over the recovered bytes from the format byte up to the hash, then `extra`. */
function hashMatches(recovered: Buffer, extra: readonly Buffer[]): boolean {
  const end = recovered.length - TRAILER_AND_HASH_BYTES;
  const h = createHash('sha1').update(recovered.subarray(1, end));
  for (const x of extra) h.update(x);
  return h.digest().equals(recovered.subarray(end, end + SHA1_BYTES));
}

/** Recovery and framing common to every certificate and signature (Book 2 §5.3 steps 1–3). */
function recoverFramed(key: RsaPublicKey, data: Buffer, format: number): Checked<Buffer> {
  const r = rsaRecover(key, data);
  if (r === undefined) return fail('length');
  if (r[r.length - 1] !== RECOVERED_TRAILER) return fail('trailer');
  if (r[0] !== RECOVERED_HEADER) return fail('header');
  if (r[1] !== format) return fail('format');
  return ok(r);
}

/** BCD digits with trailing F padding removed ('4276 55FF' → '427655'). */
function digitsOf(bcdPadded: Buffer): string {
  return bcdPadded.toString('hex').toUpperCase().replace(/F+$/, '');
}

/** Two-digit years as EMV reads them (EMV Book 4, date management: 00–49 → 20YY, 50–99 → 19YY). */
function fullYear(yy: number): number {
  return yy < 50 ? 2000 + yy : 1900 + yy;
}

function checkToday(todayYymmdd: string): void {
  invariant(/^\d{6}$/.test(todayYymmdd), 'today is YYMMDD');
}

/**
 * Certificate expiry MMYY (BCD): the certificate is good through the last day of that month
 * (Book 2 §5.3 step 8), so it has expired when today's year and month are later.
 */
export function certificateExpired(expiryMmyy: Buffer, todayYymmdd: string): boolean {
  checkToday(todayYymmdd);
  const mmyy = expiryMmyy.toString('hex');
  const month = Number(mmyy.slice(0, 2));
  // Not a month in BCD: a certificate with no valid expiry is treated as expired.
  if (!/^\d{4}$/.test(mmyy) || month < 1 || month > 12) return true;
  const certMonths = fullYear(Number(mmyy.slice(2, 4))) * 12 + month;
  const todayMonths = fullYear(Number(todayYymmdd.slice(0, 2))) * 12 + Number(todayYymmdd.slice(2, 4));
  return todayMonths > certMonths;
}

/**
 * The public key in a certificate: the leftmost bytes inside it, and the remainder when the key
 * is longer than the room the certificate has (Book 2 §5.3 step 11, §6.3 step 11). A remainder
 * given for a key that fits is ignored, as the book builds the key from its length.
 */
function keyFromCertificate(field: Buffer, keyBytes: number, remainder: Buffer | undefined): Checked<Buffer> {
  if (keyBytes <= field.length) return keyBytes > 0 ? ok(field.subarray(0, keyBytes)) : fail('key-length');
  const rest = keyBytes - field.length;
  if (remainder === undefined) return fail('data-missing');
  if (remainder.length !== rest) return fail('key-length');
  return ok(Buffer.concat([field, remainder]));
}

// ---------------------------------------------------------------- issuer public key

export interface IssuerCertificateInput {
  /** Tag 90. */
  readonly certificate?: Buffer;
  /** Tag 92, when the key does not fit in the certificate. */
  readonly remainder?: Buffer;
  /** Tag 9F32. */
  readonly exponent?: Buffer;
}

export interface RecoveredIssuerKey extends RsaPublicKey {
  /** Leading PAN digits the certificate is for (3 to 8). */
  readonly issuerId: string;
  readonly expiryMmyy: string;
  /** Certificate serial number (for a revocation list). */
  readonly serial: Buffer;
}

/**
 * Book 2 §5.3 (Retrieval of the Issuer Public Key), steps 1–12: recover tag 90 with the CA key,
 * check framing, format 02, the hash over the certificate, remainder and exponent, the issuer
 * identifier against the PAN, the expiry against today, the algorithm indicators; return the key.
 */
export function recoverIssuerKey(ca: RsaPublicKey | undefined, input: IssuerCertificateInput, pan: string, todayYymmdd: string): Checked<RecoveredIssuerKey> {
  checkToday(todayYymmdd);
  if (ca === undefined) return fail('ca-key-missing');
  const { certificate, remainder, exponent } = input;
  if (certificate === undefined || exponent === undefined) return fail('data-missing');
  const framed = recoverFramed(ca, certificate, FORMAT_ISSUER_CERT);
  if (!framed.ok) return framed;
  const r = framed.value;
  if (!hashMatches(r, [remainder ?? Buffer.alloc(0), exponent])) return fail('hash');
  const issuerId = digitsOf(r.subarray(2, 6));
  if (issuerId.length < 3 || !/^\d+$/.test(issuerId) || !pan.startsWith(issuerId)) return fail('issuer-id');
  if (certificateExpired(r.subarray(6, 8), todayYymmdd)) return fail('expired');
  if (r[11] !== HASH_ALGORITHM_SHA1 || r[12] !== KEY_ALGORITHM_RSA) return fail('algorithm');
  if (r[14] !== exponent.length) return fail('key-length');
  const key = keyFromCertificate(r.subarray(ISSUER_CERT_KEY_OFFSET, r.length - TRAILER_AND_HASH_BYTES), r[13], remainder);
  if (!key.ok) return key;
  return ok({ modulus: key.value, exponent, issuerId, expiryMmyy: r.subarray(6, 8).toString('hex'), serial: r.subarray(8, 11) });
}

// ---------------------------------------------------------------- static data to be authenticated

export interface OdaRecord {
  /** The record's SFI (1..30). */
  readonly sfi: number;
  /** The READ RECORD answer's data (without the status word). */
  readonly data: Buffer;
}

/**
 * Book 3 §10.3 (Offline Data Authentication): the static data to be authenticated is the records
 * the AFL marks for ODA, in AFL order: for SFIs 1–10 the value of the 70 template (tag and length
 * left out; another template fails ODA), for SFIs 11–30 the whole record; then, when the Static
 * Data Authentication Tag List (9F4A) is present, the value of the AIP, the only tag it may list.
 */
export function staticDataToAuthenticate(records: readonly OdaRecord[], tagList: Buffer | undefined, aip: Buffer | undefined): Checked<Buffer> {
  const parts: Buffer[] = [];
  for (const rec of records) {
    if (rec.sfi > SFI_TEMPLATE_MAX) { parts.push(rec.data); continue; }
    let top;
    try { top = parseTlv(rec.data); } catch { return fail('static-data'); }
    if (top.length !== 1 || top[0].tag !== 0x70) return fail('static-data');
    parts.push(top[0].value);
  }
  if (tagList !== undefined) {
    if (tagList.length !== 1 || tagList[0] !== AIP_TAG) return fail('static-data');
    if (aip === undefined) return fail('data-missing');
    parts.push(aip);
  }
  return ok(Buffer.concat(parts));
}

// ---------------------------------------------------------------- SDA

/**
 * Book 2 §5.4 (Verification of Signed Static Application Data): recover tag 93 with the issuer
 * key, check framing, format 03, SHA-1, and the hash over the static data to be authenticated.
 * Returns the Data Authentication Code (9F45).
 */
export function verifySda(issuerKey: RsaPublicKey, signedStaticData: Buffer | undefined, staticData: Buffer): Checked<{ dataAuthenticationCode: Buffer }> {
  if (signedStaticData === undefined) return fail('data-missing');
  const framed = recoverFramed(issuerKey, signedStaticData, FORMAT_SIGNED_STATIC);
  if (!framed.ok) return framed;
  const r = framed.value;
  if (r[2] !== HASH_ALGORITHM_SHA1) return fail('algorithm');
  if (!hashMatches(r, [staticData])) return fail('hash');
  return ok({ dataAuthenticationCode: r.subarray(3, 5) });
}

// ---------------------------------------------------------------- ICC public key

export interface IccCertificateInput {
  /** Tag 9F46. */
  readonly certificate?: Buffer;
  /** Tag 9F48. */
  readonly remainder?: Buffer;
  /** Tag 9F47. */
  readonly exponent?: Buffer;
}

export interface RecoveredIccKey extends RsaPublicKey {
  readonly expiryMmyy: string;
  readonly serial: Buffer;
}

/**
 * Book 2 §6.4 (Retrieval of ICC Public Key), steps 1–11: recover tag 9F46 with the issuer key,
 * check framing, format 04, the hash over the certificate, remainder, exponent and the static
 * data to be authenticated, the PAN (5A) against the certificate's, the expiry, the algorithm
 * indicators; return the key.
 */
export function recoverIccKey(issuerKey: RsaPublicKey, input: IccCertificateInput, pan: string, staticData: Buffer, todayYymmdd: string): Checked<RecoveredIccKey> {
  checkToday(todayYymmdd);
  const { certificate, remainder, exponent } = input;
  if (certificate === undefined || exponent === undefined) return fail('data-missing');
  const framed = recoverFramed(issuerKey, certificate, FORMAT_ICC_CERT);
  if (!framed.ok) return framed;
  const r = framed.value;
  if (!hashMatches(r, [remainder ?? Buffer.alloc(0), exponent, staticData])) return fail('hash');
  if (digitsOf(r.subarray(2, 2 + ICC_CERT_PAN_BYTES)) !== pan) return fail('pan');
  const expiry = r.subarray(12, 14);
  if (certificateExpired(expiry, todayYymmdd)) return fail('expired');
  if (r[17] !== HASH_ALGORITHM_SHA1 || r[18] !== KEY_ALGORITHM_RSA) return fail('algorithm');
  if (r[20] !== exponent.length) return fail('key-length');
  const key = keyFromCertificate(r.subarray(ICC_CERT_KEY_OFFSET, r.length - TRAILER_AND_HASH_BYTES), r[19], remainder);
  if (!key.ok) return key;
  return ok({ modulus: key.value, exponent, expiryMmyy: expiry.toString('hex'), serial: r.subarray(14, 17) });
}

// ---------------------------------------------------------------- DDA and fDDA

export interface DynamicSignature {
  /** The ICC Dynamic Data inside the signature (Book 2 table 17). */
  readonly iccDynamicData: Buffer;
  /** Its first element, the ICC Dynamic Number (9F4C). */
  readonly iccDynamicNumber: Buffer;
}

/**
 * Book 2 §6.5.2 (Dynamic Signature Verification), steps 1–7: recover the Signed Dynamic
 * Application Data (9F4B) with the ICC key, check framing, format 05, SHA-1, and the hash over the
 * signed data and the terminal dynamic data (for DDA the data the DDOL asks for, with the default
 * DDOL 9F37: the unpredictable number; for fDDA see `fddaTerminalData`).
 */
export function verifyDynamicSignature(iccKey: RsaPublicKey, sdad: Buffer | undefined, terminalDynamicData: Buffer): Checked<DynamicSignature> {
  if (sdad === undefined) return fail('data-missing');
  const framed = recoverFramed(iccKey, sdad, FORMAT_SIGNED_DYNAMIC);
  if (!framed.ok) return framed;
  const r = framed.value;
  if (r[2] !== HASH_ALGORITHM_SHA1) return fail('algorithm');
  const ldd = r[3];
  if (4 + ldd > r.length - TRAILER_AND_HASH_BYTES) return fail('format');
  if (!hashMatches(r, [terminalDynamicData])) return fail('hash');
  const iccDynamicData = r.subarray(4, 4 + ldd);
  const idnLength = iccDynamicData[0] ?? 0;
  const iccDynamicNumber = iccDynamicData.subarray(1, 1 + idnLength);
  return ok({ iccDynamicData, iccDynamicNumber });
}

/** fDDA version in the Card Authentication Related Data (9F69, first byte). */
export const FDDA_VERSION_01 = 0x01;

/**
 * The terminal dynamic data an fDDA signature covers (qPBOC, JR/T 0025.12, and Visa's fDDA it
 * follows): version 01 (9F69 present, first byte 01) covers the unpredictable number (9F37),
 * amount authorised (9F02), transaction currency (5F2A) and the card authentication related data
 * (9F69); version 00 covers the unpredictable number alone. Undefined when a needed value is
 * missing (ICC data missing).
 */
export function fddaTerminalData(values: ReadonlyMap<number, Buffer>): Buffer | undefined {
  const un = values.get(0x9f37);
  if (un === undefined) return undefined;
  const card = values.get(0x9f69);
  if (card === undefined || card[0] !== FDDA_VERSION_01) return un;
  const amount = values.get(0x9f02), currency = values.get(0x5f2a);
  if (amount === undefined || currency === undefined) return undefined;
  return Buffer.concat([un, amount, currency, card]);
}

// ---------------------------------------------------------------- CDA

/** Book 2 §6.6.1, table 19: ICC dynamic data for CDA is IDN length, IDN, CID, AC, transaction data hash. */
const CDA_AC_BYTES = 8;

export interface CdaInput {
  /** 9F4B from the GENERATE AC answer. */
  readonly sdad?: Buffer;
  /** 9F37 the terminal sent. */
  readonly unpredictableNumber: Buffer;
  /** 9F27 from the GENERATE AC answer. */
  readonly cid: Buffer;
  /** The data the PDOL asked for in GET PROCESSING OPTIONS (empty without a PDOL). */
  readonly pdolData: Buffer;
  readonly cdol1Data: Buffer;
  /** For the second GENERATE AC. */
  readonly cdol2Data?: Buffer;
  /** The answer's data objects in the order the card gave them, 9F4B left out (format 2, the 77 template's content). */
  readonly answerWithoutSdad: Buffer;
}

export interface CdaResult extends DynamicSignature {
  readonly cid: Buffer;
  /** The application cryptogram inside the signature: the one to send online. */
  readonly ac: Buffer;
}

/**
 * Book 2 §6.6.2 (Dynamic Signature Verification for CDA), steps 1–9: recover 9F4B with the ICC
 * key, check framing, format 05, SHA-1, the hash over the signature and the unpredictable number,
 * the CID inside against the answer's, then the transaction data hash code: SHA-1 over the PDOL
 * data, the CDOL1 data (and CDOL2 data), and the answer's data objects other than 9F4B.
 */
export function verifyCda(iccKey: RsaPublicKey, input: CdaInput): Checked<CdaResult> {
  const sig = verifyDynamicSignature(iccKey, input.sdad, input.unpredictableNumber);
  if (!sig.ok) return sig;
  const dyn = sig.value.iccDynamicData;
  const idnEnd = 1 + (dyn[0] ?? 0);
  if (dyn.length !== idnEnd + 1 + CDA_AC_BYTES + SHA1_BYTES) return fail('format');
  const cid = dyn.subarray(idnEnd, idnEnd + 1);
  if (!cid.equals(input.cid)) return fail('cid');
  const ac = dyn.subarray(idnEnd + 1, idnEnd + 1 + CDA_AC_BYTES);
  const hash = createHash('sha1').update(input.pdolData).update(input.cdol1Data).update(input.cdol2Data ?? Buffer.alloc(0))
    .update(input.answerWithoutSdad).digest();
  if (!hash.equals(dyn.subarray(idnEnd + 1 + CDA_AC_BYTES))) return fail('transaction-data-hash');
  return ok({ ...sig.value, cid, ac });
}

/**
 * Book 2 §6.6.2: a TC or ARQC answered with CDA is verified; its cryptogram (from inside the
 * signature) is put in `ac` as 9F26. An AAC carries no signature (Book 3 §6.5.5.2). Returns the
 * failure, or undefined when it passed or did not apply.
 */
export function checkCda(iccKey: RsaPublicKey, data: Buffer, ac: Map<number, Buffer>, t: { unpredictableNumber: Buffer; pdolData: Buffer; cdol1Data: Buffer; cdol2Data?: Buffer }): OdaFailure | undefined {
  const cid = ac.get(0x9f27) as Buffer;
  if ((cid[0] & 0xc0) === CID_AAC && !ac.has(0x9f4b)) return undefined;
  const rest = answerWithoutSdad(data);
  if (rest === undefined || !ac.has(0x9f4b)) return 'data-missing';
  const checked = verifyCda(iccKey, { sdad: ac.get(0x9f4b), cid, answerWithoutSdad: rest, ...t });
  if (!checked.ok) return checked.reason;
  ac.set(0x9f26, checked.value.ac);
  return undefined;
}

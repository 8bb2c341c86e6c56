/**
 * EMV parameters from the host (docs/PROTOCOL.md, "CA key and AID download"; the profile's
 * 370/371/380/381): field 62 of the answers, read and written. A list answer is a sequence of
 * `9F06` RID + `9F22` index (CA keys) or of `9F06` AIDs; one item is its own TLV set.
 *
 * Readers are strict about what the chip kernel will rely on (lengths, BCD, the key's SHA-1 is
 * checked by the caller with caKeyProblem): a malformed item refuses the whole download
 * (HOST_PARAMS), so the set in force is never replaced by one with a hole in it.
 */
import { PosError } from '../../common/errors';
import { CaPublicKey, RID_BYTES, SHA1_BYTES } from '../txn/emv-rsa';
import { encodeTlv, parseTlv } from '../txn/emv';

/** A host offering more than this is answered by refusing the download (a bounded set). */
export const CA_KEYS_MAX = 64;
export const AIDS_MAX = 32;
export const AID_BYTES_MIN = 5;
export const AID_BYTES_MAX = 16;
const TAC_BYTES = 5;
const THRESHOLD_BYTES = 4;
const PERCENT_MAX = 99;
const BCD6_DIGITS = 12;
const HASH_SHA1 = 0x01;
const KEY_RSA = 0x01;

/** One AID's parameters (the profile's 380 answer). Amounts in fen. */
export interface AidParams {
  readonly aid: Buffer;
  /** DF01: 0 = partial selection allowed (the AID may be a prefix of the card's), 1 = exact match only. */
  readonly asi: number;
  /** 9F09, 2 bytes. */
  readonly appVersion: Buffer;
  readonly tacDefault: Buffer;
  readonly tacOnline: Buffer;
  readonly tacDenial: Buffer;
  /** 9F1B: terminal floor limit (contact). */
  readonly floorLimitFen: number;
  /** DF19, DF20, DF21 (qPBOC): contactless offline floor limit, transaction limit, CVM required limit. */
  readonly clFloorLimitFen: number;
  readonly clTxnLimitFen: number;
  readonly cvmRequiredLimitFen: number;
  /**
   * Random transaction selection (Book 3 §10.6.2). The profile's 380 does not name these tags; a
   * UnionPay acquirer sends them as DF15 threshold (4 bytes binary, fen), DF16 maximum target
   * percentage and DF17 target percentage (1 byte BCD each, 00..99), which this terminal reads.
   * Absent (a host that sends none of the three): no random selection.
   */
  readonly random?: RandomSelectionParams;
}

/** The AID's random selection parameters (DF15, DF16, DF17). */
export interface RandomSelectionParams {
  readonly thresholdFen: number;
  readonly maxTargetPercent: number;
  readonly targetPercent: number;
}

/** Book 3 §10.6.2: percentages 0..99, target <= maximum target, the threshold below a non-zero floor limit. */
export function randomParamsProblem(r: RandomSelectionParams, floorLimitFen: number): string | undefined {
  const pct = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= PERCENT_MAX;
  if (!pct(r.targetPercent) || !pct(r.maxTargetPercent)) return 'percentages are 0..99';
  if (r.targetPercent > r.maxTargetPercent) return 'target percentage over the maximum target percentage';
  if (!Number.isSafeInteger(r.thresholdFen) || r.thresholdFen < 0) return 'threshold is not an amount';
  if (floorLimitFen > 0 && r.thresholdFen >= floorLimitFen) return 'threshold at or over the floor limit';
  return undefined;
}

export interface CaKeyId { readonly rid: Buffer; readonly index: number }

function refused(reason: string, tag?: number): PosError {
  return new PosError('HOST_PARAMS', `EMV parameter download refused: ${reason}`, tag === undefined ? {} : { tag: tag.toString(16).toUpperCase() });
}

function tlvs(b: Buffer | undefined, what: string): Array<{ tag: number; value: Buffer }> {
  if (b === undefined || b.length === 0) throw refused(`${what}: field 62 missing`);
  try {
    return parseTlv(b).map((t) => ({ tag: t.tag, value: t.value }));
  } catch (e) {
    throw refused(`${what}: field 62 is not BER-TLV (${e instanceof Error ? e.message : String(e)})`);
  }
}

function firstOf(items: Array<{ tag: number; value: Buffer }>): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const t of items) if (!m.has(t.tag)) m.set(t.tag, t.value);
  return m;
}

function need(m: Map<number, Buffer>, tag: number, what: string): Buffer {
  const v = m.get(tag);
  if (v === undefined) throw refused(`${what}: tag ${tag.toString(16).toUpperCase()} missing`, tag);
  return v;
}

function bcd6(v: Buffer, tag: number): number {
  const d = v.toString('hex');
  if (v.length !== BCD6_DIGITS / 2 || !/^[0-9]{12}$/.test(d)) throw refused(`tag ${tag.toString(16).toUpperCase()} is not 6 bytes of BCD`, tag);
  return Number(d);
}

// ---------------------------------------------------------------- CA keys (370)

/** The 370 list answer: RID + index pairs, in the host's order, duplicates refused. */
export function parseCaKeyList(b: Buffer | undefined): CaKeyId[] {
  const items = tlvs(b, 'CA key list');
  const out: CaKeyId[] = [];
  for (let i = 0; i < items.length; i += 2) {
    const rid = items[i];
    const index = items[i + 1];
    if (rid.tag !== 0x9f06 || index === undefined || index.tag !== 0x9f22) throw refused('CA key list is not 9F06 + 9F22 pairs');
    if (rid.value.length !== RID_BYTES || index.value.length !== 1) throw refused('CA key list: RID of 5 bytes and index of 1 byte expected');
    if (out.some((k) => k.rid.equals(rid.value) && k.index === index.value[0])) throw refused('CA key list names a key twice');
    out.push({ rid: Buffer.from(rid.value), index: index.value[0] });
  }
  if (out.length > CA_KEYS_MAX) throw refused(`CA key list of ${out.length} keys (at most ${CA_KEYS_MAX})`);
  return out;
}

/** One CA key (370 with 62): its fields, the checksum NOT yet checked (caKeyProblem does). */
export function parseCaKey(b: Buffer | undefined): CaPublicKey {
  const m = firstOf(tlvs(b, 'CA key'));
  const rid = need(m, 0x9f06, 'CA key');
  const index = need(m, 0x9f22, 'CA key');
  const expiry = need(m, 0xdf05, 'CA key').toString('latin1');
  const hashAlg = need(m, 0xdf06, 'CA key');
  const keyAlg = need(m, 0xdf07, 'CA key');
  const checksum = need(m, 0xdf03, 'CA key');
  if (index.length !== 1) throw refused('CA key index is not 1 byte', 0x9f22);
  if (!/^20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$/.test(expiry)) throw refused(`CA key expiry "${expiry}" is not YYYYMMDD`, 0xdf05);
  if (hashAlg.length !== 1 || hashAlg[0] !== HASH_SHA1) throw refused('CA key hash algorithm is not 01 (SHA-1)', 0xdf06);
  if (keyAlg.length !== 1 || keyAlg[0] !== KEY_RSA) throw refused('CA key algorithm is not 01 (RSA)', 0xdf07);
  if (checksum.length !== SHA1_BYTES) throw refused('CA key check value is not 20 bytes', 0xdf03);
  return {
    rid: Buffer.from(rid), index: index[0], expiryYyyymmdd: expiry,
    modulus: Buffer.from(need(m, 0xdf02, 'CA key')), exponent: Buffer.from(need(m, 0xdf04, 'CA key')), checksum: Buffer.from(checksum),
  };
}

export function encodeCaKeyList(keys: readonly CaKeyId[]): Buffer {
  return Buffer.concat(keys.flatMap((k) => [encodeTlv(0x9f06, k.rid), encodeTlv(0x9f22, Buffer.from([k.index]))]));
}

export function encodeCaKey(k: CaPublicKey): Buffer {
  return Buffer.concat([
    encodeTlv(0x9f06, k.rid), encodeTlv(0x9f22, Buffer.from([k.index])), encodeTlv(0xdf05, Buffer.from(k.expiryYyyymmdd ?? '20991231', 'latin1')),
    encodeTlv(0xdf06, Buffer.from([HASH_SHA1])), encodeTlv(0xdf07, Buffer.from([KEY_RSA])),
    encodeTlv(0xdf02, k.modulus), encodeTlv(0xdf04, k.exponent), encodeTlv(0xdf03, k.checksum ?? Buffer.alloc(SHA1_BYTES)),
  ]);
}

/** The 370 request's 62 for one key (the host's side reads it back). */
export function parseCaKeyRequest(b: Buffer): CaKeyId | undefined {
  try {
    const m = firstOf(parseTlv(b));
    const rid = m.get(0x9f06);
    const index = m.get(0x9f22);
    if (rid === undefined || index === undefined || rid.length !== RID_BYTES || index.length !== 1) return undefined;
    return { rid, index: index[0] };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- AIDs (380)

/** The 380 list answer: AIDs in the host's order, duplicates refused. */
export function parseAidList(b: Buffer | undefined): Buffer[] {
  const out: Buffer[] = [];
  for (const t of tlvs(b, 'AID list')) {
    if (t.tag !== 0x9f06) throw refused('AID list holds a tag other than 9F06', t.tag);
    if (t.value.length < AID_BYTES_MIN || t.value.length > AID_BYTES_MAX) throw refused(`AID of ${t.value.length} bytes (5..16)`, 0x9f06);
    if (out.some((a) => a.equals(t.value))) throw refused('AID list names an AID twice');
    out.push(Buffer.from(t.value));
  }
  if (out.length > AIDS_MAX) throw refused(`AID list of ${out.length} AIDs (at most ${AIDS_MAX})`);
  return out;
}

export function parseAid(b: Buffer | undefined): AidParams {
  const m = firstOf(tlvs(b, 'AID'));
  const aid = need(m, 0x9f06, 'AID');
  if (aid.length < AID_BYTES_MIN || aid.length > AID_BYTES_MAX) throw refused(`AID of ${aid.length} bytes (5..16)`, 0x9f06);
  const asi = need(m, 0xdf01, 'AID');
  if (asi.length !== 1 || asi[0] > 1) throw refused('application selection indicator is not 0 or 1', 0xdf01);
  const version = need(m, 0x9f09, 'AID');
  if (version.length !== 2) throw refused('application version is not 2 bytes', 0x9f09);
  const tac = (tag: number): Buffer => {
    const v = need(m, tag, 'AID');
    if (v.length !== TAC_BYTES) throw refused(`TAC ${tag.toString(16).toUpperCase()} is not 5 bytes`, tag);
    return Buffer.from(v);
  };
  const floor = need(m, 0x9f1b, 'AID');
  if (floor.length !== 4) throw refused('terminal floor limit is not 4 bytes', 0x9f1b);
  const floorLimitFen = floor.readUInt32BE(0);
  const random = randomOf(m, floorLimitFen);
  return {
    ...(random === undefined ? {} : { random }),
    aid: Buffer.from(aid), asi: asi[0], appVersion: Buffer.from(version),
    tacDefault: tac(0xdf11), tacOnline: tac(0xdf12), tacDenial: tac(0xdf13),
    floorLimitFen,
    clFloorLimitFen: bcd6(need(m, 0xdf19, 'AID'), 0xdf19), clTxnLimitFen: bcd6(need(m, 0xdf20, 'AID'), 0xdf20),
    cvmRequiredLimitFen: bcd6(need(m, 0xdf21, 'AID'), 0xdf21),
  };
}

function bcdPercent(v: Buffer, tag: number): number {
  if (v.length !== 1 || !/^[0-9]{2}$/.test(v.toString('hex'))) throw refused(`tag ${tag.toString(16).toUpperCase()} is not 1 byte of BCD (00..99)`, tag);
  return Number(v.toString('hex'));
}

/** DF15/DF16/DF17 (see AidParams.random): all three or none; checked against the floor limit. */
function randomOf(m: Map<number, Buffer>, floorLimitFen: number): RandomSelectionParams | undefined {
  const present = [0xdf15, 0xdf16, 0xdf17].filter((tag) => m.has(tag));
  if (present.length === 0) return undefined;
  if (present.length !== 3) throw refused('random selection needs DF15, DF16 and DF17 together', present[0]);
  const threshold = m.get(0xdf15) as Buffer;
  if (threshold.length !== THRESHOLD_BYTES) throw refused('random selection threshold is not 4 bytes', 0xdf15);
  const r = { thresholdFen: threshold.readUInt32BE(0), maxTargetPercent: bcdPercent(m.get(0xdf16) as Buffer, 0xdf16), targetPercent: bcdPercent(m.get(0xdf17) as Buffer, 0xdf17) };
  const problem = randomParamsProblem(r, floorLimitFen);
  if (problem !== undefined) throw refused(`random selection: ${problem}`, 0xdf15);
  return r;
}

export function encodeAidList(aids: readonly Buffer[]): Buffer {
  return Buffer.concat(aids.map((a) => encodeTlv(0x9f06, a)));
}

export function encodeAid(a: AidParams): Buffer {
  const bcd = (n: number): Buffer => Buffer.from(String(n).padStart(BCD6_DIGITS, '0'), 'hex');
  const floor = Buffer.alloc(4);
  floor.writeUInt32BE(a.floorLimitFen);
  return Buffer.concat([
    encodeTlv(0x9f06, a.aid), encodeTlv(0xdf01, Buffer.from([a.asi])), encodeTlv(0x9f09, a.appVersion),
    encodeTlv(0xdf11, a.tacDefault), encodeTlv(0xdf12, a.tacOnline), encodeTlv(0xdf13, a.tacDenial), encodeTlv(0x9f1b, floor),
    encodeTlv(0xdf19, bcd(a.clFloorLimitFen)), encodeTlv(0xdf20, bcd(a.clTxnLimitFen)), encodeTlv(0xdf21, bcd(a.cvmRequiredLimitFen)),
    ...(a.random === undefined ? [] : randomTlvs(a.random)),
  ]);
}

function randomTlvs(r: RandomSelectionParams): Buffer[] {
  const threshold = Buffer.alloc(THRESHOLD_BYTES);
  threshold.writeUInt32BE(r.thresholdFen);
  const pct = (n: number): Buffer => Buffer.from(String(n).padStart(2, '0'), 'hex');
  return [encodeTlv(0xdf15, threshold), encodeTlv(0xdf16, pct(r.maxTargetPercent)), encodeTlv(0xdf17, pct(r.targetPercent))];
}

/** The 380 request's 62 for one AID. */
export function parseAidRequest(b: Buffer): Buffer | undefined {
  try {
    const v = firstOf(parseTlv(b)).get(0x9f06);
    return v !== undefined && v.length >= AID_BYTES_MIN && v.length <= AID_BYTES_MAX ? v : undefined;
  } catch {
    return undefined;
  }
}

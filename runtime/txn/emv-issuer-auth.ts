/**
 * Application cryptograms and issuer authentication with double-length 3DES keys, EMV 4.3 Book 2
 * Annex A1 and §8: the card's master key from the issuer master key (option A), the session key
 * for an ATC, the ARQC as a MAC over the transaction data, the ARPC (method 1) and tag 91.
 *
 * Two session key derivations, because UnionPay cards use the older one:
 *   - `deriveCommonSessionKey` — EMV Common Session Key derivation (Book 2 A1.3.1): the
 *     diversification value R = ATC ‖ 00…00; SK = DES3(MK)[R0 R1 F0 R3…R7] ‖ DES3(MK)[R0 R1 0F R3…R7].
 *   - `derivePbocSessionKey` — PBOC / UnionPay (JR/T 0025.7, cryptogram version 01):
 *     SK = DES3(MK)[00…00 ‖ ATC] ‖ DES3(MK)[00…00 ‖ (ATC ⊕ FFFF)].
 * The PBOC one is the one to use for UnionPay cards (A000000333…): it is the one a published
 * UnionPay ARQC reproduces and the EMV one does not (emv-issuer-auth.test.ts); the EMV one is
 * kept, tested, for other schemes. Which one a card uses is its cryptogram version (9F10 byte
 * 3), not the terminal's choice.
 *
 * These functions are what the acquirer simulator and the simulated cards need (the terminal
 * itself never holds an issuer key): they return keys and cryptograms, and never log them.
 */
import { timingSafeEqual } from 'node:crypto';
import { invariant } from '../../common/errors';
import { desDecrypt, desEncrypt } from '../host/crypto';

export const DES_BLOCK_BYTES = 8;
export const DOUBLE_KEY_BYTES = 16;
export const ATC_BYTES = 2;
export const AC_BYTES = 8;
export const ARC_BYTES = 2;
/** Tag 91 for ARPC method 1: ARPC (8) ‖ ARC (2); Book 3 Annex A allows 8 to 16 bytes. */
export const ISSUER_AUTH_DATA_BYTES_MIN = 8;
export const ISSUER_AUTH_DATA_BYTES_MAX = 16;
/** Book 2 A1.4.1: option A takes the rightmost 16 digits of PAN ‖ PAN sequence number. */
const OPTION_A_DIGITS = 16;

function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((x, i) => x ^ b[i]));
}

function checkDoubleKey(key: Buffer): void {
  invariant(key.length === DOUBLE_KEY_BYTES, 'EMV card keys are double-length 3DES', { keyBytes: key.length });
}

/** Each byte's low bit set so the byte has odd parity (DES key parity, Book 2 A1.4.1). */
export function withOddParity(key: Buffer): Buffer {
  return Buffer.from(key.map((byte) => {
    let ones = 0;
    for (let i = 1; i < 8; i++) ones += (byte >> i) & 1;
    return (byte & 0xfe) | (ones % 2 === 0 ? 1 : 0);
  }));
}

/**
 * ICC Master Key, Book 2 A1.4.1 (option A): Y = the rightmost 16 digits of PAN ‖ PSN (PSN '00'
 * when the card has none; left-padded with zeros when shorter), then
 * MK = DES3(IMK)[Y] ‖ DES3(IMK)[Y ⊕ FF…FF], with odd parity.
 */
export function deriveIccMasterKeyOptionA(issuerMasterKey: Buffer, pan: string, psn = '00'): Buffer {
  checkDoubleKey(issuerMasterKey);
  invariant(/^\d{12,19}$/.test(pan) && /^\d{2}$/.test(psn), 'PAN digits and a two-digit PSN');
  const digits = `${pan}${psn}`;
  const y = Buffer.from(digits.length >= OPTION_A_DIGITS ? digits.slice(-OPTION_A_DIGITS) : digits.padStart(OPTION_A_DIGITS, '0'), 'hex');
  const zl = desEncrypt(issuerMasterKey, y);
  const zr = desEncrypt(issuerMasterKey, xor(y, Buffer.alloc(DES_BLOCK_BYTES, 0xff)));
  return withOddParity(Buffer.concat([zl, zr]));
}

/** R for the application cryptogram session key: ATC ‖ 00 00 00 00 00 00 (Book 2 A1.3.1). */
export function acDiversification(atc: Buffer): Buffer {
  invariant(atc.length === ATC_BYTES, 'ATC is 2 bytes');
  return Buffer.concat([atc, Buffer.alloc(DES_BLOCK_BYTES - ATC_BYTES)]);
}

/** EMV Common Session Key derivation, Book 2 A1.3.1, from an 8-byte diversification value R. */
export function deriveCommonSessionKey(masterKey: Buffer, r: Buffer): Buffer {
  checkDoubleKey(masterKey);
  invariant(r.length === DES_BLOCK_BYTES, 'diversification value is 8 bytes');
  const left = Buffer.from(r); left[2] = 0xf0;
  const right = Buffer.from(r); right[2] = 0x0f;
  return Buffer.concat([desEncrypt(masterKey, left), desEncrypt(masterKey, right)]);
}

/** PBOC / UnionPay session key (JR/T 0025.7): DES3(MK)[0…0 ‖ ATC] ‖ DES3(MK)[0…0 ‖ ~ATC]. */
export function derivePbocSessionKey(masterKey: Buffer, atc: Buffer): Buffer {
  checkDoubleKey(masterKey);
  invariant(atc.length === ATC_BYTES, 'ATC is 2 bytes');
  const pad = Buffer.alloc(DES_BLOCK_BYTES - ATC_BYTES);
  const left = desEncrypt(masterKey, Buffer.concat([pad, atc]));
  const right = desEncrypt(masterKey, Buffer.concat([pad, xor(atc, Buffer.from([0xff, 0xff]))]));
  return Buffer.concat([left, right]);
}

/** ISO/IEC 9797-1 padding method 2, as Book 2 A1.2.1 requires: 80 then zeros to a whole block. */
export function padMethod2(data: Buffer): Buffer {
  const total = Math.ceil((data.length + 1) / DES_BLOCK_BYTES) * DES_BLOCK_BYTES;
  const out = Buffer.alloc(total);
  data.copy(out);
  out[data.length] = 0x80;
  return out;
}

/**
 * ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC"), Book 2 A1.2.1: single-DES CBC with the left
 * key half over the padded data, then decrypt with the right half and encrypt with the left on
 * the last block. Returns the 8-byte MAC.
 */
export function macAlgorithm3(key: Buffer, data: Buffer): Buffer {
  checkDoubleKey(key);
  const kl = key.subarray(0, DES_BLOCK_BYTES), kr = key.subarray(DES_BLOCK_BYTES);
  const padded = padMethod2(data);
  let h: Buffer = Buffer.alloc(DES_BLOCK_BYTES);
  for (let i = 0; i < padded.length; i += DES_BLOCK_BYTES) h = desEncrypt(kl, xor(h, padded.subarray(i, i + DES_BLOCK_BYTES)));
  return desEncrypt(kl, desDecrypt(kr, h));
}

/**
 * The data an application cryptogram covers: the values of `tags` in order (Book 2 §8.1.1: the
 * minimum set 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36), then `extra` (UnionPay CVN 01 adds the
 * card verification results from 9F10, see `cvrFromIad`). Undefined when a value is missing.
 */
export function acInput(values: ReadonlyMap<number, Buffer>, tags: readonly number[], extra: readonly Buffer[] = []): Buffer | undefined {
  const parts: Buffer[] = [];
  for (const t of tags) {
    const v = values.get(t);
    if (v === undefined) return undefined;
    parts.push(v);
  }
  return Buffer.concat([...parts, ...extra]);
}

/** Book 2 §8.1.1, table 26: the recommended minimum data for the ARQC, TC and AAC. */
export const AC_INPUT_TAGS: readonly number[] = [0x9f02, 0x9f03, 0x9f1a, 0x95, 0x5f2a, 0x9a, 0x9c, 0x9f37, 0x82, 0x9f36];

/**
 * Card verification results inside UnionPay issuer application data (9F10, JR/T 0025.7): length
 * byte, key index, cryptogram version, then the CVR (its own length byte 03 and three bytes);
 * CVN 01's cryptogram covers those 4 bytes. Undefined when 9F10 is too short.
 */
export function cvrFromIad(iad: Buffer): Buffer | undefined {
  const CVR_OFFSET = 3, CVR_BYTES = 4;
  return iad.length >= CVR_OFFSET + CVR_BYTES ? iad.subarray(CVR_OFFSET, CVR_OFFSET + CVR_BYTES) : undefined;
}

/** An application cryptogram (ARQC, TC or AAC): MAC algorithm 3 under the session key. */
export function applicationCryptogram(sessionKey: Buffer, data: Buffer): Buffer {
  return macAlgorithm3(sessionKey, data);
}

/** True when `ac` is the cryptogram of `data` under `sessionKey` (constant-time compare). */
export function verifyApplicationCryptogram(sessionKey: Buffer, data: Buffer, ac: Buffer): boolean {
  if (ac.length !== AC_BYTES) return false;
  return timingSafeEqual(applicationCryptogram(sessionKey, data), ac);
}

/** ARPC method 1, Book 2 §8.2.1: DES3(key)[ARQC ⊕ (ARC ‖ 00 00 00 00 00 00)]. */
export function arpcMethod1(key: Buffer, arqc: Buffer, arc: Buffer): Buffer {
  checkDoubleKey(key);
  invariant(arqc.length === AC_BYTES && arc.length === ARC_BYTES, 'ARQC 8 bytes, ARC 2 bytes');
  return desEncrypt(key, xor(arqc, Buffer.concat([arc, Buffer.alloc(AC_BYTES - ARC_BYTES)])));
}

/** Tag 91 for method 1: ARPC ‖ ARC. */
export function issuerAuthenticationData(arpc: Buffer, arc: Buffer): Buffer {
  return Buffer.concat([arpc, arc]);
}

export type IssuerAuthFailure = 'data-missing' | 'length' | 'arpc-mismatch';

/** Tag 91 split for method 1, or why it cannot be (absent, or not 10 bytes). */
export function parseIssuerAuthenticationData(tag91: Buffer | undefined): { ok: true; arpc: Buffer; arc: Buffer } | { ok: false; reason: IssuerAuthFailure } {
  if (tag91 === undefined) return { ok: false, reason: 'data-missing' };
  if (tag91.length !== AC_BYTES + ARC_BYTES) return { ok: false, reason: 'length' };
  return { ok: true, arpc: tag91.subarray(0, AC_BYTES), arc: tag91.subarray(AC_BYTES) };
}

/**
 * The card's side of issuer authentication (Book 2 §8.2.1, what a simulated card does on
 * EXTERNAL AUTHENTICATE or the second GENERATE AC): tag 91 holds the ARPC of the card's own ARQC
 * and the ARC it carries. A failure sets TVR "issuer authentication failed" (byte 5 bit 7).
 */
export function verifyIssuerAuthentication(key: Buffer, arqc: Buffer, tag91: Buffer | undefined): { ok: true; arc: Buffer } | { ok: false; reason: IssuerAuthFailure } {
  const parsed = parseIssuerAuthenticationData(tag91);
  if (!parsed.ok) return parsed;
  const expected = arpcMethod1(key, arqc, parsed.arc);
  return timingSafeEqual(expected, parsed.arpc) ? { ok: true, arc: parsed.arc } : { ok: false, reason: 'arpc-mismatch' };
}

/** Issuer script command MACs are cut to this many bytes (Book 2 §9.2.1 allows 4 to 8). */
export const SCRIPT_MAC_BYTES = 4;

/**
 * The MAC of an issuer script command (Book 2 §9.2.1, secure messaging format 1): MAC algorithm 3
 * over CLA INS P1 P2 Lc (Lc counting the MAC), the ATC, the ARQC and the command's plain data,
 * under the card key (the profile: "issuer script commands are MAC'd with the card key"; a
 * UnionPay card would use its MAC session key). The leftmost SCRIPT_MAC_BYTES bytes.
 */
export function issuerScriptMac(key: Buffer, header: Buffer, atc: Buffer, arqc: Buffer, data: Buffer): Buffer {
  invariant(header.length === 5 && atc.length === ATC_BYTES && arqc.length === AC_BYTES, 'script MAC covers CLA INS P1 P2 Lc, the ATC and the ARQC');
  return macAlgorithm3(key, Buffer.concat([header, atc, arqc, data])).subarray(0, SCRIPT_MAC_BYTES);
}

/** An issuer script command with its MAC: CLA INS P1 P2 Lc data MAC (what the host puts in an 86). */
export function issuerScriptCommand(key: Buffer, apdu: { cla: number; ins: number; p1: number; p2: number; data?: Buffer }, atc: Buffer, arqc: Buffer): Buffer {
  const data = apdu.data ?? Buffer.alloc(0);
  const header = Buffer.from([apdu.cla, apdu.ins, apdu.p1, apdu.p2, data.length + SCRIPT_MAC_BYTES]);
  return Buffer.concat([header, data, issuerScriptMac(key, header, atc, arqc, data)]);
}

/**
 * RSA public-key recovery for offline data authentication (EMV 4.3 Book 2 §5.1 and Annex A2.1:
 * "digital signature scheme giving message recovery"): the terminal raises a certificate or a
 * signature to the public exponent modulo the public modulus and reads the recovered bytes.
 *
 * Done with BigInt rather than node:crypto: EMV exponents are only 3 or 2^16+1 (Book 2 §5.1), so
 * at most 17 squarings of at most 1984 bits, and the arithmetic does not depend on what an
 * OpenSSL build accepts as a key (key sizes, small exponents). The test checks it against
 * node:crypto's own raw RSA on generated keys.
 *
 * Also the CA public key's checksum (Book 2 §11.2.2, "CA public key check sum"): SHA-1 over RID,
 * index, modulus and exponent, the check a terminal makes on every downloaded key.
 */
import { createHash } from 'node:crypto';

/** The largest modulus EMV allows (Book 2 §11.2.1: 1984 bits). */
export const RSA_MODULUS_BYTES_MAX = 248;
/** Book 2 §5.1: the only public exponents. */
export const RSA_EXPONENTS_ALLOWED: readonly number[] = [3, 0x10001];
export const RID_BYTES = 5;
export const SHA1_BYTES = 20;

export interface RsaPublicKey {
  readonly modulus: Buffer;
  readonly exponent: Buffer;
}

/** A certification authority's public key, as the host downloads it (issue 11 item 1). */
export interface CaPublicKey extends RsaPublicKey {
  /** Registered application provider identifier (9F06 of the download), 5 bytes. */
  readonly rid: Buffer;
  /** CA public key index (9F22 of the download, 8F on the card). */
  readonly index: number;
  /** SHA-1 checksum the host sent with the key (DF03 of the download). */
  readonly checksum?: Buffer;
  /** Expiry the host sent (DF05 of the download), YYYYMMDD. */
  readonly expiryYyyymmdd?: string;
}

function toBigInt(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

function toBuffer(n: bigint, bytes: number): Buffer {
  const hex = n.toString(16).padStart(bytes * 2, '0');
  return Buffer.from(hex, 'hex');
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** True for a key recovery may use: a modulus within EMV's sizes (odd, no leading zero byte) and exponent 3 or 65537. */
export function isUsableRsaKey(key: RsaPublicKey): boolean {
  const n = key.modulus;
  if (n.length === 0 || n.length > RSA_MODULUS_BYTES_MAX || n[0] === 0 || (n[n.length - 1] & 1) === 0) return false;
  const e = Number(toBigInt(key.exponent));
  return key.exponent.length <= 3 && RSA_EXPONENTS_ALLOWED.includes(e);
}

/**
 * `data`^e mod n as exactly n's length in bytes, or undefined when the data cannot be a
 * signature under this key (another length than the modulus, or not below it) or the key is
 * not usable. Book 2 §5.3 step 1 / §6.3 step 1: a certificate of the wrong length fails.
 */
export function rsaRecover(key: RsaPublicKey, data: Buffer): Buffer | undefined {
  if (!isUsableRsaKey(key) || data.length !== key.modulus.length) return undefined;
  const n = toBigInt(key.modulus);
  const x = toBigInt(data);
  if (x >= n) return undefined;
  return toBuffer(modPow(x, toBigInt(key.exponent), n), key.modulus.length);
}

/** Book 2 §11.2.2: SHA-1(RID ‖ index ‖ modulus ‖ exponent). */
export function caKeyChecksum(key: CaPublicKey): Buffer {
  return createHash('sha1').update(Buffer.concat([key.rid, Buffer.from([key.index]), key.modulus, key.exponent])).digest();
}

export type CaKeyProblem = 'rid-length' | 'index' | 'unusable-key' | 'checksum-missing' | 'checksum-mismatch' | 'expired';

/**
 * What is wrong with a CA key the host sent, or undefined when it may be kept: RID of 5 bytes,
 * index 0..255, a usable RSA key, the checksum present and right, and not expired on
 * `todayYyyymmdd` (the injected clock's date, never the machine's). A key expires at the end of
 * its expiry date.
 */
export function caKeyProblem(key: CaPublicKey, todayYyyymmdd: string): CaKeyProblem | undefined {
  if (key.rid.length !== RID_BYTES) return 'rid-length';
  if (!Number.isInteger(key.index) || key.index < 0 || key.index > 0xff) return 'index';
  if (!isUsableRsaKey(key)) return 'unusable-key';
  if (key.checksum === undefined) return 'checksum-missing';
  if (!caKeyChecksum(key).equals(key.checksum)) return 'checksum-mismatch';
  if (key.expiryYyyymmdd !== undefined && key.expiryYyyymmdd < todayYyyymmdd) return 'expired';
  return undefined;
}

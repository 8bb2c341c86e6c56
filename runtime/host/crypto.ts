/**
 * Host-protocol cryptography of docs/PROTOCOL.md: DES/3DES, key check values, working-key unwrap,
 * the "ECB" MAC, and the ISO 9564 format 0 PIN block.
 *
 * Node 20's OpenSSL 3 refuses `des-ecb` (legacy provider), so single DES is `des-ede3-ecb` with
 * the key repeated three times (EDE with K1=K2=K3 collapses to one DES), and double-length 3DES
 * is `des-ede3-ecb` with K1 K2 K1. `sm4-ecb` is available on this stack for acquirers that use
 * SM4 (see `sm4Available`), but this profile is 3DES and nothing here uses SM4 yet.
 *
 * Clear keys and PINs live only in Buffers the caller owns; intermediates are zeroed after use.
 */
import { createCipheriv, createDecipheriv, getCiphers, timingSafeEqual } from 'node:crypto';
import { PosError, invariant } from '../../common/errors';
import { malformed } from './packager';

export const DES_BLOCK_BYTES = 8;
export const SINGLE_KEY_BYTES = 8;
export const DOUBLE_KEY_BYTES = 16;
export const KCV_BYTES = 4;
export const MAC_BYTES = 8;
export const PIN_DIGITS_MIN = 4;
export const PIN_DIGITS_MAX = 12;
/** 0810 field 62 for 60.3 = 004: three (key 16 + check value 4). */
export const WORKING_KEYS_FIELD_BYTES = 3 * (DOUBLE_KEY_BYTES + KCV_BYTES);

function ede3Key(key: Buffer): Buffer {
  if (key.length === SINGLE_KEY_BYTES) return Buffer.concat([key, key, key]);
  if (key.length === DOUBLE_KEY_BYTES) return Buffer.concat([key, key.subarray(0, SINGLE_KEY_BYTES)]);
  throw new PosError('KEY_MISSING', `DES key must be 8 or 16 bytes, got ${key.length}`, { keyBytes: key.length });
}

function ecb(encrypt: boolean, key: Buffer, data: Buffer): Buffer {
  invariant(data.length % DES_BLOCK_BYTES === 0, 'DES data must be whole blocks', { dataBytes: data.length });
  const k = ede3Key(key);
  try {
    const c = encrypt ? createCipheriv('des-ede3-ecb', k, null) : createDecipheriv('des-ede3-ecb', k, null);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(data), c.final()]);
  } finally {
    k.fill(0);
  }
}

/** DES (8-byte key) or double-length 3DES (16-byte key), ECB, whole blocks, no padding. */
export function desEncrypt(key: Buffer, data: Buffer): Buffer {
  return ecb(true, key, data);
}

export function desDecrypt(key: Buffer, data: Buffer): Buffer {
  return ecb(false, key, data);
}

/** First 4 bytes of encrypting 8 zero bytes with the clear key. */
export function keyCheckValue(key: Buffer): Buffer {
  return desEncrypt(key, Buffer.alloc(DES_BLOCK_BYTES)).subarray(0, KCV_BYTES);
}

export function sm4Available(): boolean {
  return getCiphers().includes('sm4-ecb');
}

export interface WorkingKeys {
  /** PIN key, 16 bytes clear. */
  readonly pik: Buffer;
  /** MAC key, 16 bytes clear; the MAC uses its first 8 bytes. */
  readonly mak: Buffer;
  /** Track data key, 16 bytes clear. */
  readonly tdk: Buffer;
}

export interface KeyCheckValues {
  readonly pik: Buffer;
  readonly mak: Buffer;
  readonly tdk: Buffer;
}

const KEY_ORDER = ['pik', 'mak', 'tdk'] as const;

/**
 * Decrypts the 60-byte 0810 field 62 under the TMK and checks each key's check value.
 * A mismatch is KEY_CHECK and no key is returned (all clear keys are zeroed).
 */
export function unwrapWorkingKeys(tmk: Buffer, field62: Buffer): { keys: WorkingKeys; checkValues: KeyCheckValues } {
  if (field62.length !== WORKING_KEYS_FIELD_BYTES) {
    throw malformed(`working keys are ${field62.length} bytes, expected ${WORKING_KEYS_FIELD_BYTES}`, { field: 62 });
  }
  const clear: Buffer[] = [];
  const kcvs: Buffer[] = [];
  for (let i = 0; i < KEY_ORDER.length; i++) {
    const at = i * (DOUBLE_KEY_BYTES + KCV_BYTES);
    const key = desDecrypt(tmk, field62.subarray(at, at + DOUBLE_KEY_BYTES));
    const expected = field62.subarray(at + DOUBLE_KEY_BYTES, at + DOUBLE_KEY_BYTES + KCV_BYTES);
    clear.push(key);
    kcvs.push(Buffer.from(expected));
    if (!timingSafeEqual(keyCheckValue(key), expected)) {
      for (const k of clear) k.fill(0);
      throw new PosError('KEY_CHECK', `${KEY_ORDER[i].toUpperCase()} check value does not match`, { key: KEY_ORDER[i] });
    }
  }
  return {
    keys: { pik: clear[0], mak: clear[1], tdk: clear[2] },
    checkValues: { pik: kcvs[0], mak: kcvs[1], tdk: kcvs[2] },
  };
}

/** The host side of `unwrapWorkingKeys` (simulator, tests): field 62 from clear keys. */
export function wrapWorkingKeys(tmk: Buffer, keys: WorkingKeys): Buffer {
  return Buffer.concat(KEY_ORDER.flatMap((name) => {
    const key = keys[name];
    invariant(key.length === DOUBLE_KEY_BYTES, 'working keys are double length', { key: name });
    return [desEncrypt(tmk, key), keyCheckValue(key)];
  }));
}

// ---------------------------------------------------------------- MAC

function xorInto(target: Buffer, source: Buffer): void {
  for (let i = 0; i < target.length; i++) target[i] ^= source[i];
}

/**
 * The profile's "ECB" MAC over `data` (MTI .. end of the last field before 64) with the first
 * 8 bytes of the MAK. Returns the 8 ASCII bytes of field 64.
 */
export function ecbMac(mak: Buffer, data: Buffer): Buffer {
  if (mak.length < SINGLE_KEY_BYTES) throw new PosError('KEY_MISSING', 'MAK shorter than 8 bytes', { keyBytes: mak.length });
  const key = Buffer.from(mak.subarray(0, SINGLE_KEY_BYTES));
  const r = Buffer.alloc(DES_BLOCK_BYTES);
  for (let at = 0; at < data.length; at += DES_BLOCK_BYTES) {
    const block = Buffer.alloc(DES_BLOCK_BYTES); // zero-padded when the last block is short
    data.copy(block, 0, at, Math.min(at + DES_BLOCK_BYTES, data.length));
    xorInto(r, block);
  }
  const hex = Buffer.from(r.toString('hex').toUpperCase(), 'latin1');
  const left = desEncrypt(key, hex.subarray(0, DES_BLOCK_BYTES));
  xorInto(left, hex.subarray(DES_BLOCK_BYTES));
  const result = desEncrypt(key, left);
  key.fill(0);
  return Buffer.from(result.toString('hex').toUpperCase().slice(0, MAC_BYTES), 'latin1');
}

/** Constant-time check of a received field 64. */
export function verifyMac(mak: Buffer, data: Buffer, mac: Buffer): boolean {
  const expected = ecbMac(mak, data);
  return mac.length === expected.length && timingSafeEqual(expected, mac);
}

// ---------------------------------------------------------------- PIN block

/** The PAN field of format 0: 0000 + 12 rightmost PAN digits excluding the check digit. */
function panField(pan: string): Buffer {
  if (!/^[0-9]{13,19}$/.test(pan)) throw new PosError('HOST_REQUEST_INVALID', 'PAN must be 13-19 digits for a PIN block', {});
  return Buffer.from('0000' + pan.slice(-13, -1), 'hex');
}

/**
 * ISO 9564 format 0 PIN block encrypted under the PIK (3DES-ECB). `pin` holds the PIN as ASCII
 * digits in a Buffer the caller zeroes when done (a string could not be wiped).
 */
export function pinBlockFormat0(pan: string, pin: Buffer, pik: Buffer): Buffer {
  if (pin.length < PIN_DIGITS_MIN || pin.length > PIN_DIGITS_MAX || pin.some((c) => c < 0x30 || c > 0x39)) {
    throw new PosError('OPR_INPUT', `PIN must be ${PIN_DIGITS_MIN}-${PIN_DIGITS_MAX} digits`, {});
  }
  const block = Buffer.alloc(DES_BLOCK_BYTES, 0xff);
  block[0] = pin.length; // nibble 0 (format) then the length nibble
  for (let i = 0; i < pin.length; i++) {
    const shift = i % 2 === 0 ? 4 : 0;
    const at = 1 + (i >> 1);
    block[at] = (block[at] & ~(0x0f << shift)) | ((pin[i] - 0x30) << shift);
  }
  const pf = panField(pan);
  xorInto(block, pf);
  try {
    return desEncrypt(pik, block);
  } finally {
    block.fill(0);
    pf.fill(0);
  }
}

/** The host side (simulator, tests): the PIN digits as an ASCII Buffer the caller zeroes. */
export function decodePinBlockFormat0(pan: string, encrypted: Buffer, pik: Buffer): Buffer {
  const block = desDecrypt(pik, encrypted);
  const pf = panField(pan);
  xorInto(block, pf);
  try {
    const length = block[0] & 0x0f;
    if (block[0] >> 4 !== 0 || length < PIN_DIGITS_MIN || length > PIN_DIGITS_MAX) throw malformed('PIN block is not format 0', { field: 52 });
    const pin = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      const byte = block[1 + (i >> 1)];
      const digit = i % 2 === 0 ? byte >> 4 : byte & 0x0f;
      if (digit > 9) throw malformed('PIN block digit out of range', { field: 52 });
      pin[i] = 0x30 + digit;
    }
    return pin;
  } finally {
    block.fill(0);
    pf.fill(0);
  }
}

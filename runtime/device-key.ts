/**
 * The device key: the one secret that protects what the terminal must keep at rest (working
 * keys, PANs for batch upload). DESIGN.md rule 8: keys at rest are encrypted under a device key.
 *
 * On a real board the key comes from a secure element or an OTP fuse bank behind a provider; on
 * the simulator it is a 32-byte key file created on first use (mode 0600). The runtime sees only
 * `DeviceKeyProvider`, so tests and seeded simulations inject a fixed key.
 *
 * Sealed form (AES-256-GCM): version (1 byte, 1) | iv (12) | tag (16) | ciphertext. The `aad`
 * names what is sealed and for which terminal, so a sealed PAN cannot be passed off as a key and
 * a blob copied from another terminal does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { invariant, PosError } from '../common/errors';

export const DEVICE_KEY_BYTES = 32;
const SEAL_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEAL_OVERHEAD_BYTES = 1 + IV_BYTES + TAG_BYTES;
/** Nothing the terminal seals is larger (a double-length key, a PAN). */
export const SEALED_PLAINTEXT_BYTES_MAX = 256;

export type RandomBytes = (count: number) => Buffer;

export interface DeviceKeyProvider {
  /** The 32-byte device key. Callers must not keep or log it. */
  deviceKey(): Buffer;
}

/** A fixed key (tests, seeded simulations). */
export function fixedDeviceKey(key: Buffer): DeviceKeyProvider {
  invariant(key.length === DEVICE_KEY_BYTES, 'device key must be 32 bytes');
  const copy = Buffer.from(key);
  return { deviceKey: () => copy };
}

/** The simulator's key file: created with fresh random bytes on first use, mode 0600. */
export function fileDeviceKey(path: string, random: RandomBytes = cryptoRandomBytes): DeviceKeyProvider {
  let key: Buffer | undefined;
  return {
    deviceKey(): Buffer {
      if (key) return key;
      if (!existsSync(path)) {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, random(DEVICE_KEY_BYTES), { mode: 0o600, flag: 'wx' });
      }
      const loaded = readFileSync(path);
      if (loaded.length !== DEVICE_KEY_BYTES) throw new PosError('KEY_MISSING', `device key file ${path} is ${loaded.length} bytes, expected ${DEVICE_KEY_BYTES}`, { path });
      key = loaded;
      return key;
    },
  };
}

export function seal(key: Buffer, plaintext: Buffer, aad: string, random: RandomBytes): Buffer {
  invariant(key.length === DEVICE_KEY_BYTES, 'device key must be 32 bytes');
  invariant(plaintext.length <= SEALED_PLAINTEXT_BYTES_MAX, 'sealed value too large', { bytes: plaintext.length });
  const iv = random(IV_BYTES);
  invariant(iv.length === IV_BYTES, 'random source returned the wrong length');
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([Buffer.from([SEAL_VERSION]), iv, c.getAuthTag(), ct]);
}

/** Opens a sealed value; a wrong key, wrong aad or altered bytes is KEY_MISSING (keys unusable). */
export function unseal(key: Buffer, sealed: Buffer | Uint8Array, aad: string): Buffer {
  const b = Buffer.from(sealed);
  if (b.length < SEAL_OVERHEAD_BYTES || b[0] !== SEAL_VERSION) throw new PosError('KEY_MISSING', `sealed ${aad} is not in sealed form`, { what: aad });
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(1, 1 + IV_BYTES));
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(b.subarray(1 + IV_BYTES, SEAL_OVERHEAD_BYTES));
  try {
    return Buffer.concat([d.update(b.subarray(SEAL_OVERHEAD_BYTES)), d.final()]);
  } catch {
    throw new PosError('KEY_MISSING', `sealed ${aad} does not open under this device key`, { what: aad });
  }
}

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
import { createCipheriv, createDecipheriv, createHmac, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { invariant, isPosError, PosError } from '../common/errors';
import type { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';

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

/**
 * Writes a key or identity file the way the journal is written (DESIGN.md): a temp file in the
 * same directory, fsync, then into place, then fsync of the directory, so a power cut leaves
 * either no file or the whole file, never an empty or partial one that a journal was sealed
 * under. `replace: false` never overwrites an existing file (the link fails with EEXIST: whoever
 * wrote first wins, and the caller reads that file). Returns false when the file already existed.
 */
export function writeKeyFileDurably(path: string, bytes: Buffer, options: { mode?: number; replace?: boolean } = {}): boolean {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w', options.mode ?? 0o600);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  let created = true;
  try {
    if (options.replace === false) {
      try { linkSync(temp, path); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        created = false;
      }
      unlinkSync(temp);
    } else {
      renameSync(temp, path);
    }
  } catch (e) {
    try { unlinkSync(temp); } catch { /* already gone */ }
    throw e;
  }
  const dfd = openSync(dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
  return created;
}

/** The simulator's key file: created with fresh random bytes on first use, mode 0600, durably. */
export function fileDeviceKey(path: string, random: RandomBytes = cryptoRandomBytes): DeviceKeyProvider {
  let key: Buffer | undefined;
  return {
    deviceKey(): Buffer {
      if (key) return key;
      if (lstatSync(path, { throwIfNoEntry: false }) === undefined) writeKeyFileDurably(path, random(DEVICE_KEY_BYTES), { mode: 0o600, replace: false });
      // Damaged, not missing: a new key would leave every sealed key and PAN unreadable, so the
      // file is never replaced here (E-KEY-09 says restore it); its size before its bytes.
      let loaded: Buffer;
      try {
        const st = statSync(path);
        if (!st.isFile()) throw new PosError('KEY_FILE_DAMAGED', `device key file ${path} is not a file (${st.isDirectory() ? 'a folder' : 'a special file'})`, { path });
        const size = st.size;
        if (size !== DEVICE_KEY_BYTES) throw new PosError('KEY_FILE_DAMAGED', `device key file ${path} is ${size} bytes, expected ${DEVICE_KEY_BYTES}`, { path });
        loaded = readFileSync(path);
      } catch (e) {
        if (e instanceof PosError) throw e;
        throw new PosError('KEY_FILE_DAMAGED', `device key file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { path });
      }
      if (loaded.length !== DEVICE_KEY_BYTES) throw new PosError('KEY_FILE_DAMAGED', `device key file ${path} is ${loaded.length} bytes, expected ${DEVICE_KEY_BYTES}`, { path });
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

// ---------------------------------------------------------------- the journal's key check value

/** The settings record kind that holds the device key's check value (storage/JOURNAL_FORMAT.md). */
export const DEVICE_KEY_CHECK_KIND = 'device-key-check';
export const DEVICE_KEY_CHECK_BYTES = 8;
/** The check record is written with the identity, so it is among a journal's first records. */
const CHECK_SCAN_RECORDS_MAX = 16;

/**
 * The device key's check value for one journal: HMAC-SHA256 over a label and the journal's
 * identity, first 8 bytes. It proves which key sealed the journal's secrets without revealing
 * the key (a one-way function of it), and differs per terminal.
 */
export function deviceKeyCheckValue(key: Buffer, identity: string): Buffer {
  invariant(key.length === DEVICE_KEY_BYTES, 'device key must be 32 bytes');
  return createHmac('sha256', key).update(`POSJ device key check v1\0${identity}`, 'utf8').digest().subarray(0, DEVICE_KEY_CHECK_BYTES);
}

/** The record that stores the check value (appended with the identity record, in one commit). */
export function deviceKeyCheckRecord(key: Buffer, identity: string): { type: 'settings'; payload: { kind: string; kcv: Buffer } } {
  return { type: 'settings', payload: { kind: DEVICE_KEY_CHECK_KIND, kcv: deviceKeyCheckValue(key, identity) } };
}

/**
 * Proves at boot that this device key opens what the journal sealed (issue 13 item 6): a key
 * file lost or replaced after provisioning would otherwise surface much later as "keys missing"
 * at the first sign-on or batch upload. Reads the check value among the journal's first records;
 * a journal written before the check existed is checked by opening its provisioned TMK instead
 * (factory journals seal it beside the identity). Throws E-STO-12 on a mismatch.
 * Returns what it could check: 'matched', or 'unchecked' (no check value and nothing sealed yet).
 */
export function checkDeviceKey(journal: Journal, provider: DeviceKeyProvider): 'matched' | 'unchecked' {
  let n = 0;
  let tid: string | undefined;
  let sealedTmk: Uint8Array | undefined;
  for (const r of journal.records()) {
    if (r.type === RecordType.settings && r.payload.kind === DEVICE_KEY_CHECK_KIND) {
      const stored = Buffer.from(r.payload.kcv as Uint8Array);
      if (!stored.equals(deviceKeyCheckValue(provider.deviceKey(), journal.identity))) {
        throw new PosError('STO_DEVICE_KEY', `the device key does not open this journal: check value ${stored.toString('hex')} was recorded at record ${r.seq}, this key gives another (device.key lost or replaced since provisioning)`, { seq: r.seq });
      }
      return 'matched';
    }
    if (r.type === RecordType.terminalIdentity) tid = String(r.payload.tid);
    if (r.type === RecordType.settings && r.payload.kind === 'tmk') sealedTmk = r.payload.tmkEnc as Uint8Array;
    if (++n >= CHECK_SCAN_RECORDS_MAX) break;
  }
  if (!sealedTmk || !tid) return 'unchecked';
  try {
    unseal(provider.deviceKey(), sealedTmk, `tmk/${tid}`).fill(0);
    return 'matched';
  } catch (e) {
    if (!isPosError(e, 'keys-invalid')) throw e;
    throw new PosError('STO_DEVICE_KEY', 'the device key does not open this journal: the master key sealed at provisioning does not open (device.key lost or replaced since provisioning)', { what: 'tmk' });
  }
}

/**
 * The service administrator (operator 000): the recovery menu's login of last resort, for a
 * terminal whose journal cannot be read (no operator records left to check a password against).
 *
 * The factory station creates it when it provisions a terminal: a random 8-digit password, shown
 * once in the provisioning output for the service organisation's records (never on the label,
 * never stored in clear), and its scrypt hash in `service-admin.json` beside the device key, i.e.
 * outside the journal, so it survives the journal's damage. The file is written atomically (temp,
 * fsync, rename, fsync of the folder) with mode 0600. It grants recovery only (the machine admits
 * it as an administrator to the recovery menu); it never sells. Wrong passwords count against the
 * recovery menu's attempt limit like any other.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { HASH_BYTES, SCRYPT_N_DEFAULT, hashPassword } from '../runtime/operators';
import { PosError } from '../common/errors';
import type { Logger } from '../common/log';

export const SERVICE_OPERATOR = '000';
export const SERVICE_PASSWORD_DIGITS = 8;
export const SERVICE_ADMIN_FILE = 'service-admin.json';
const SALT_BYTES = 16;
const FORMAT = 'pos-service-admin/1';

interface StoredServiceAdmin {
  readonly format: string;
  readonly operator: string;
  readonly scryptN: number;
  readonly saltHex: string;
  readonly hashHex: string;
  readonly createdMs: number;
}

/** Where the file lives for a journal directory: beside the device key (the journal's parent). */
export function serviceAdminFile(journalDir: string): string {
  return join(dirname(resolve(journalDir)), SERVICE_ADMIN_FILE);
}

/** A uniformly drawn decimal password (rejection sampling: no modulo bias). */
export function servicePassword(random: (n: number) => Buffer = randomBytes): string {
  let out = '';
  while (out.length < SERVICE_PASSWORD_DIGITS) {
    for (const byte of random(SERVICE_PASSWORD_DIGITS)) if (byte < 250 && out.length < SERVICE_PASSWORD_DIGITS) out += String(byte % 10);
  }
  return out;
}

/** Creates (or replaces) the service administrator; returns the clear password to hand over once. */
export async function createServiceAdmin(file: string, o: { random?: (n: number) => Buffer; clock?: () => number; scryptN?: number } = {}): Promise<string> {
  const random = o.random ?? randomBytes;
  const password = servicePassword(random);
  const salt = random(SALT_BYTES);
  const scryptN = o.scryptN ?? SCRYPT_N_DEFAULT;
  const hash = await hashPassword(password, salt, scryptN);
  const stored: StoredServiceAdmin = { format: FORMAT, operator: SERVICE_OPERATOR, scryptN, saltHex: salt.toString('hex'), hashHex: hash.toString('hex'), createdMs: (o.clock ?? Date.now)() };
  writeAtomically(file, Buffer.from(`${JSON.stringify(stored, null, 1)}\n`));
  return password;
}

function writeAtomically(file: string, bytes: Buffer): void {
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true });
    const temp = `${file}.tmp-${process.pid}`;
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch (e) {
    throw new PosError('STO_IO', `${file}: the service administrator could not be written (${(e as Error).message})`, { file });
  }
}

function readStored(file: string): StoredServiceAdmin | undefined {
  if (!existsSync(file)) return undefined;
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const s = parsed as Partial<StoredServiceAdmin>;
  const ok = s.format === FORMAT && s.operator === SERVICE_OPERATOR && Number.isInteger(s.scryptN) && typeof s.saltHex === 'string' && typeof s.hashHex === 'string' && s.hashHex.length === HASH_BYTES * 2;
  if (!ok) throw new PosError('STO_DAMAGED', `${file}: not a service administrator file (format ${String(s.format)})`, { file });
  return s as StoredServiceAdmin;
}

/**
 * The recovery menu's fallbackAdmin check (boot/recovery.ts): true for operator 000 with the
 * right password. The file is read at each call (a technician may restore it); a missing file
 * means no service administrator, a damaged one is refused the same way, and logged.
 */
export function serviceAdminCheck(file: string, log?: Pick<Logger, 'warn'>): (operator: string, password: string) => Promise<boolean> {
  return async (operator, password) => {
    if (operator !== SERVICE_OPERATOR) return false;
    let stored: StoredServiceAdmin | undefined;
    try {
      stored = readStored(file);
    } catch (e) {
      // Refused as a wrong password would be, but the technician's log says why.
      log?.warn({ file, err: e instanceof Error ? e.message : String(e) }, `service administrator file ${file} is damaged: operator ${SERVICE_OPERATOR} cannot log in until it is restored`);
      return false;
    }
    if (!stored) return false;
    const hash = await hashPassword(password, Buffer.from(stored.saltHex, 'hex'), stored.scryptN);
    return timingSafeEqual(hash, Buffer.from(stored.hashHex, 'hex'));
  };
}

/**
 * Backup files (storage/JOURNAL_FORMAT.md, "Backup file"): export a journal's stored records
 * with a manifest and a trailer digest, optionally encrypted with AES-256-GCM under a key
 * derived from a passphrase (scrypt) or from the terminal's device key (HKDF-SHA256); import
 * verifies everything before writing anything.
 *
 * Every backup the terminal writes on its own (factory reset, periodic backup, the storage-failure
 * export) is sealed: DESIGN rule 8, and a backup file leaves the terminal on a USB stick. Sealed is
 * the default: a writer that gives no secret is refused unless it asks for `clear` (only an export
 * a technician asks for by hand, without a passphrase).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, fsyncSync, openSync, closeSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PosError } from '../common/errors';
import { Journal } from './journal';
import { HEADER_BYTES, PAYLOAD_BYTES_MAX, checkFrame } from './record';
import { StoredEntry, verifyEntries } from './verify';
import { openEnv } from './lmdb-env';

const MAGIC = Buffer.from('POSJBK01', 'ascii');
const TRAILER_BYTES = 32;
const TAG_BYTES = 16;
const MANIFEST_BYTES_MAX = 64 * 1024;
/** A year of a busy terminal is ~300k records of ~200 bytes; 1 GiB is far above that. */
export const BACKUP_BYTES_MAX = 1024 * 1024 * 1024;
// scrypt parameters: ~100 ms on a terminal-class CPU, 32 MiB of memory.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const KEY_BYTES = 32;
/** HKDF's info: names the purpose, so a key derived here is never a key derived for anything else. */
const DEVICE_KDF_INFO = 'pos-journal-backup/1';

/** Key derivation named in an encrypted backup's manifest. */
export type BackupKdf =
  | { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string }
  /** The terminal's device key through HKDF-SHA256 (salt, info DEVICE_KDF_INFO + identity): opens only on that terminal. */
  | { readonly name: 'device-key'; readonly hash: 'sha256'; readonly salt: string };

/**
 * What may open a backup. A passphrase opens passphrase backups; the device key (a function, so
 * it is read only when needed and never kept here) opens the terminal's own backups.
 */
export interface BackupSecret {
  readonly passphrase?: string;
  /** The terminal's 32-byte device key (runtime/device-key.ts). */
  readonly deviceKey?: () => Buffer;
}

export interface Manifest {
  readonly format: 1;
  readonly identity: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly count: number;
  readonly lastDigest: string;
  readonly createdAtMs: number;
  readonly encrypted: boolean;
  readonly kdf?: BackupKdf;
  readonly cipher?: 'aes-256-gcm';
  readonly iv?: string;
}

export interface ExportOptions {
  /** Seals with a key derived from this passphrase (wins over `deviceKey`). */
  readonly passphrase?: string;
  /** Seals under the terminal's device key when no passphrase is given. */
  readonly deviceKey?: () => Buffer;
  /**
   * Write the body in clear when no secret is given. Without it, no secret is E-STO-08: a writer
   * the terminal runs on its own cannot write a clear backup by forgetting a key.
   */
  readonly clear?: boolean;
  readonly clock?: () => number;
}

/** Serialises the journal's records 1..lastSeq into a backup file's bytes. */
export function exportBytes(journal: Journal, options: ExportOptions = {}): Buffer {
  const body = Buffer.concat([...journal.raw()].map((e) => e.stored));
  const base = {
    format: 1 as const, identity: journal.identity, firstSeq: 1, lastSeq: journal.lastSeq, count: journal.lastSeq,
    lastDigest: journal.lastDigest.toString('hex'), createdAtMs: Math.floor((options.clock ?? Date.now)()),
  };
  if (!options.passphrase && !options.deviceKey) {
    if (!options.clear) throw new PosError('STO_BACKUP_INVALID', 'a backup is sealed: give the device key or a passphrase (or ask for a clear export by hand)');
    return frame({ ...base, encrypted: false }, body);
  }
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const kdf: BackupKdf = options.passphrase
    ? { name: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('hex') }
    : { name: 'device-key', hash: 'sha256', salt: salt.toString('hex') };
  const manifest: Manifest = { ...base, encrypted: true, kdf, cipher: 'aes-256-gcm', iv: iv.toString('hex') };
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const cipher = createCipheriv('aes-256-gcm', keyFor(manifest, { passphrase: options.passphrase, deviceKey: options.deviceKey }), iv);
  cipher.setAAD(manifestBytes);
  const sealed = Buffer.concat([cipher.update(body), cipher.final(), cipher.getAuthTag()]);
  return frameRaw(manifestBytes, sealed);
}

/** Writes a backup file durably (temp file, fsync, rename). Returns its manifest. */
export function exportToFile(journal: Journal, file: string, options: ExportOptions = {}): Manifest {
  const bytes = exportBytes(journal, options);
  writeDurably(file, bytes);
  return readManifest(bytes);
}

export interface ParsedBackup {
  readonly manifest: Manifest;
  readonly entries: StoredEntry[];
}

/**
 * Parses and verifies a backup: trailer digest, decryption (wrong passphrase = E-STO-08), each
 * record's frame, the chain from the identity's genesis, and the manifest's count and digest.
 */
export function parseBackup(bytes: Buffer, secret?: string | BackupSecret): ParsedBackup {
  if (bytes.length > BACKUP_BYTES_MAX) invalid(`file of ${bytes.length} bytes is larger than ${BACKUP_BYTES_MAX}`);
  if (bytes.length < MAGIC.length + 4 + TRAILER_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) invalid('not a journal backup (bad magic)');
  const trailer = bytes.subarray(bytes.length - TRAILER_BYTES);
  if (!createHash('sha256').update(bytes.subarray(0, bytes.length - TRAILER_BYTES)).digest().equals(trailer)) {
    invalid('file damaged or truncated (trailer digest mismatch)');
  }
  const manifest = readManifest(bytes);
  const manifestBytes = bytes.subarray(12, 12 + bytes.readUInt32BE(8));
  let body = bytes.subarray(12 + manifestBytes.length, bytes.length - TRAILER_BYTES);
  if (manifest.encrypted) body = decrypt(manifest, manifestBytes, body, typeof secret === 'string' ? { passphrase: secret } : secret ?? {});
  const entries = splitRecords(body);
  const report = verifyEntries(entries, entries.length ? entries[entries.length - 1].key : 0, { identity: manifest.identity });
  if (report.damage || report.tornTail) invalid(`record ${(report.damage ?? report.tornTail)!.seq}: ${(report.damage ?? report.tornTail)!.reason}`);
  if (report.goodCount !== manifest.count || report.lastGoodSeq !== manifest.lastSeq) invalid(`manifest says ${manifest.count} records, file holds ${report.goodCount}`);
  if (report.lastGoodDigest.toString('hex') !== manifest.lastDigest) invalid('last digest differs from the manifest');
  return { manifest, entries };
}

export interface ImportResult {
  readonly manifest: Manifest;
  /** Where an existing journal was moved aside, if there was one. */
  readonly movedAside?: string;
}

/**
 * Restores a verified backup into `dir`. An existing journal there is moved aside to
 * `<dir>.replaced-<time>` (never deleted). Nothing is written unless the backup verifies.
 */
export async function importFromFile(file: string, dir: string, secret?: string | BackupSecret, clock: () => number = Date.now): Promise<ImportResult> {
  const parsed = parseBackup(readFileSync(file), secret);
  let movedAside: string | undefined;
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    movedAside = `${dir}.replaced-${Math.floor(clock())}`;
    renameSync(dir, movedAside);
  }
  await writeEntries(dir, parsed.entries);
  const check = await Journal.open({ dir, identity: parsed.manifest.identity, readOnly: true });
  const ok = check.state === 'ok' && check.lastSeq === parsed.manifest.lastSeq;
  await check.close();
  if (!ok) invalid('restored journal did not verify');
  return { manifest: parsed.manifest, movedAside };
}

/** Writes stored records into a new LMDB environment, durably, in one transaction. */
export async function writeEntries(dir: string, entries: readonly StoredEntry[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const db = openEnv(dir);
  try {
    await db.transaction(() => { for (const e of entries) db.put(e.key, e.stored); });
    await db.flushed;
  } finally {
    await db.close();
  }
}

// ---- periodic backup to a second path

export interface PeriodicBackupOptions {
  readonly backupDir: string;
  /** Take a backup when this many records were appended since the last one. */
  readonly everyRecords: number;
  /** Backups kept; older ones are removed. */
  readonly keepCountMax: number;
  /** The backups are sealed with this passphrase, else under `deviceKey`; one of them is required. */
  readonly passphrase?: string;
  readonly deviceKey?: () => Buffer;
}

/**
 * Keeps rolling backups of a journal on a second path (another partition, a USB stick).
 * `maybeBackup()` is called by the runtime after appends; a missing target is E-STO-09.
 */
export class PeriodicBackup {
  private lastBackedUpSeq = 0;
  constructor(private readonly journal: Journal, private readonly options: PeriodicBackupOptions) {
    // Refused here, not at the first backup: a terminal must not trade for hours and then find
    // its rolling backups could never be written.
    if (!options.passphrase && !options.deviceKey) throw new PosError('STO_BACKUP_INVALID', 'periodic backups are sealed: give a device key or a passphrase');
  }

  due(): boolean {
    return this.journal.lastSeq - this.lastBackedUpSeq >= this.options.everyRecords;
  }

  maybeBackup(): string | undefined {
    return this.due() ? this.backupNow() : undefined;
  }

  backupNow(): string {
    const dir = this.options.backupDir;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new PosError('STO_EXPORT_TARGET', `backup target ${dir} is missing: insert the USB stick or mount the partition`, { dir });
    }
    const file = join(dir, `journal-${this.journal.identity}-${String(this.journal.lastSeq).padStart(10, '0')}.posbak`);
    exportToFile(this.journal, file, { passphrase: this.options.passphrase, deviceKey: this.options.deviceKey });
    this.lastBackedUpSeq = this.journal.lastSeq;
    this.prune();
    return file;
  }

  private prune(): void {
    const prefix = `journal-${this.journal.identity}-`;
    const files = readdirSync(this.options.backupDir).filter((f) => f.startsWith(prefix) && f.endsWith('.posbak')).sort();
    for (const f of files.slice(0, Math.max(0, files.length - this.options.keepCountMax))) rmSync(join(this.options.backupDir, f));
  }
}

// ---- internals

function frame(manifest: Manifest, body: Buffer): Buffer {
  return frameRaw(Buffer.from(JSON.stringify(manifest), 'utf8'), body);
}

function frameRaw(manifestBytes: Buffer, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(manifestBytes.length);
  const head = Buffer.concat([MAGIC, len, manifestBytes, body]);
  return Buffer.concat([head, createHash('sha256').update(head).digest()]);
}

function readManifest(bytes: Buffer): Manifest {
  const length = bytes.readUInt32BE(8);
  if (length > MANIFEST_BYTES_MAX || 12 + length > bytes.length - TRAILER_BYTES) invalid('manifest length out of range');
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(bytes.subarray(12, 12 + length).toString('utf8')) as Partial<Manifest>;
  } catch {
    return invalid('manifest is not JSON');
  }
  if (m.format !== 1 || typeof m.identity !== 'string' || !Number.isInteger(m.count) || !Number.isInteger(m.lastSeq) || typeof m.lastDigest !== 'string') {
    invalid('manifest fields missing or of the wrong type');
  }
  return m as Manifest;
}

function decrypt(manifest: Manifest, aad: Buffer, sealed: Buffer, secret: BackupSecret): Buffer {
  if (!manifest.kdf || manifest.cipher !== 'aes-256-gcm' || !manifest.iv || sealed.length < TAG_BYTES) invalid('encryption parameters missing');
  const decipher = createDecipheriv('aes-256-gcm', keyFor(manifest, secret), Buffer.from(manifest.iv!, 'hex'));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return invalid(manifest.kdf!.name === 'device-key'
      ? `sealed under the device key of terminal ${manifest.identity}: it does not open under this device key, or the file is damaged (authentication failed)`
      : 'wrong passphrase or damaged file (authentication failed)');
  }
}

/** Whether a backup file needs a passphrase to open (a device-key backup does not). */
export function backupNeedsPassphrase(bytes: Buffer): boolean {
  if (bytes.length < MAGIC.length + 4 + TRAILER_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) invalid('not a journal backup (bad magic)');
  const m = readManifest(bytes);
  return m.encrypted && m.kdf?.name !== 'device-key';
}

/** The AES key of an encrypted backup, from the secret its manifest names. */
function keyFor(manifest: Manifest, secret: BackupSecret): Buffer {
  const kdf = manifest.kdf;
  if (!kdf || typeof kdf.salt !== 'string') return invalid('encryption parameters missing');
  const salt = Buffer.from(kdf.salt, 'hex');
  if (kdf.name === 'device-key') {
    if (!secret.deviceKey) invalid(`backup is sealed under the device key of terminal ${manifest.identity}: restore it on that terminal`);
    const key = secret.deviceKey!();
    if (key.length !== KEY_BYTES) invalid('device key is not 32 bytes');
    return Buffer.from(hkdfSync('sha256', key, salt, `${DEVICE_KDF_INFO}\0${manifest.identity}`, KEY_BYTES));
  }
  if (kdf.name !== 'scrypt') invalid(`unknown key derivation "${String((kdf as { name?: unknown }).name)}"`);
  if (!secret.passphrase) invalid('backup is encrypted: a passphrase is needed');
  return deriveKey(secret.passphrase!, salt, kdf);
}

function deriveKey(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Buffer {
  if (kdf.N > 1 << 20 || kdf.r > 16 || kdf.p > 4) invalid('key derivation parameters out of range');
  return scryptSync(passphrase.normalize('NFKC'), salt, KEY_BYTES, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT.maxmem * 4 });
}

function splitRecords(body: Buffer): StoredEntry[] {
  const entries: StoredEntry[] = [];
  let offset = 0;
  while (offset < body.length) {
    if (body.length - offset < HEADER_BYTES) invalid(`truncated record at byte ${offset}`);
    const length = body.readUInt32BE(offset + 16);
    if (length > PAYLOAD_BYTES_MAX || offset + HEADER_BYTES + length > body.length) invalid(`record length out of range at byte ${offset}`);
    const stored = body.subarray(offset, offset + HEADER_BYTES + length);
    const f = checkFrame(stored);
    if ('fault' in f) invalid(`record at byte ${offset}: ${f.fault.reason}`);
    entries.push({ key: f.header.seq, stored });
    offset += stored.length;
  }
  return entries;
}

function invalid(reason: string): never {
  throw new PosError('STO_BACKUP_INVALID', `backup invalid: ${reason}`);
}

export function writeDurably(file: string, bytes: Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  writeFileSync(tmp, bytes);
  const fd = openSync(tmp, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
  const dfd = openSync(dirname(file), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

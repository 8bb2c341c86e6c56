/**
 * Backup files (storage/JOURNAL_FORMAT.md, "Backup file"): export a journal's stored records
 * with a manifest and a trailer digest, optionally encrypted with AES-256-GCM under a key
 * derived from a passphrase (scrypt); import verifies everything before writing anything.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
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

export interface Manifest {
  readonly format: 1;
  readonly identity: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly count: number;
  readonly lastDigest: string;
  readonly createdAtMs: number;
  readonly encrypted: boolean;
  readonly kdf?: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  readonly cipher?: 'aes-256-gcm';
  readonly iv?: string;
}

export interface ExportOptions {
  readonly passphrase?: string;
  readonly clock?: () => number;
}

/** Serialises the journal's records 1..lastSeq into a backup file's bytes. */
export function exportBytes(journal: Journal, options: ExportOptions = {}): Buffer {
  const body = Buffer.concat([...journal.raw()].map((e) => e.stored));
  const base = {
    format: 1 as const, identity: journal.identity, firstSeq: 1, lastSeq: journal.lastSeq, count: journal.lastSeq,
    lastDigest: journal.lastDigest.toString('hex'), createdAtMs: Math.floor((options.clock ?? Date.now)()),
  };
  if (!options.passphrase) return frame({ ...base, encrypted: false }, body);
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const manifest: Manifest = { ...base, encrypted: true, kdf: { name: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('hex') }, cipher: 'aes-256-gcm', iv: iv.toString('hex') };
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const cipher = createCipheriv('aes-256-gcm', deriveKey(options.passphrase, salt, manifest.kdf!), iv);
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
export function parseBackup(bytes: Buffer, passphrase?: string): ParsedBackup {
  if (bytes.length > BACKUP_BYTES_MAX) invalid(`file of ${bytes.length} bytes is larger than ${BACKUP_BYTES_MAX}`);
  if (bytes.length < MAGIC.length + 4 + TRAILER_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) invalid('not a journal backup (bad magic)');
  const trailer = bytes.subarray(bytes.length - TRAILER_BYTES);
  if (!createHash('sha256').update(bytes.subarray(0, bytes.length - TRAILER_BYTES)).digest().equals(trailer)) {
    invalid('file damaged or truncated (trailer digest mismatch)');
  }
  const manifest = readManifest(bytes);
  const manifestBytes = bytes.subarray(12, 12 + bytes.readUInt32BE(8));
  let body = bytes.subarray(12 + manifestBytes.length, bytes.length - TRAILER_BYTES);
  if (manifest.encrypted) body = decrypt(manifest, manifestBytes, body, passphrase);
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
export async function importFromFile(file: string, dir: string, passphrase?: string, clock: () => number = Date.now): Promise<ImportResult> {
  const parsed = parseBackup(readFileSync(file), passphrase);
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
  readonly passphrase?: string;
}

/**
 * Keeps rolling backups of a journal on a second path (another partition, a USB stick).
 * `maybeBackup()` is called by the runtime after appends; a missing target is E-STO-09.
 */
export class PeriodicBackup {
  private lastBackedUpSeq = 0;
  constructor(private readonly journal: Journal, private readonly options: PeriodicBackupOptions) {}

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
    exportToFile(this.journal, file, { passphrase: this.options.passphrase });
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

function decrypt(manifest: Manifest, aad: Buffer, sealed: Buffer, passphrase: string | undefined): Buffer {
  if (!passphrase) invalid('backup is encrypted: a passphrase is needed');
  if (!manifest.kdf || manifest.cipher !== 'aes-256-gcm' || !manifest.iv || sealed.length < TAG_BYTES) invalid('encryption parameters missing');
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(passphrase!, Buffer.from(manifest.kdf!.salt, 'hex'), manifest.kdf!), Buffer.from(manifest.iv!, 'hex'));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return invalid('wrong passphrase or damaged file (authentication failed)');
  }
}

function deriveKey(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Buffer {
  if (kdf.N > 1 << 20 || kdf.r > 16 || kdf.p > 4) invalid('key derivation parameters out of range');
  return scryptSync(passphrase.normalize('NFKC'), salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT.maxmem * 4 });
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

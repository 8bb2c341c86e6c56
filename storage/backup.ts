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
import { createCipheriv, createDecipheriv, createHash, DecipherGCM, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { scryptParamsProblem } from '../common/scrypt-params';
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as fsp from 'node:fs/promises';
import { PosError } from '../common/errors';
import { Journal } from './journal';
import { HEADER_BYTES, PAYLOAD_BYTES_MAX, checkFrame } from './record';
import { StoredEntry, verifyEntries } from './verify';
import { JournalDb, openEnv } from './lmdb-env';
import { fsyncDir, fsyncDirAsync, writeAllAsync, writeFileDurably } from '../common/fsync';

const MAGIC = Buffer.from('POSJBK01', 'ascii');
const TRAILER_BYTES = 32;
const TAG_BYTES = 16;
const MANIFEST_BYTES_MAX = 64 * 1024;
/** A year of a busy terminal is ~300k records of ~200 bytes; 1 GiB is far above that. */
export const BACKUP_BYTES_MAX = 1024 * 1024 * 1024;

/** How a backup file's name ends (the recovery menu lists files by it). */
export const BACKUP_FILE_SUFFIX = '.posbak';
/** Digits of the last record's number in a backup's name, zero-padded so that names sort by it. */
const BACKUP_SEQ_DIGITS = 10;

/**
 * A backup's file name: `journal-<identity>-<last record's number, 10 digits>[-<tag>].posbak`.
 * The number counts across archives (Journal.baseSeq + lastSeq): a journal that continues an
 * archived one starts again at 1, and its backups must still sort after the older journal's.
 * The number comes first so that repair can order backups by their content, not by file times
 * written while the clock was wrong (backupSeqOf reads it back).
 */
export function backupFileName(identity: string, lastSeq: number, tag?: string): string {
  return `${backupFilePrefix(identity)}${String(lastSeq).padStart(BACKUP_SEQ_DIGITS, '0')}${tag === undefined ? '' : `-${tag}`}${BACKUP_FILE_SUFFIX}`;
}

/** What every backup file name of a terminal's journal begins with. */
export function backupFilePrefix(identity: string): string {
  return `journal-${identity}-`;
}

/** The last record's number a backup's name carries (see backupFileName), if it has one. */
export function backupSeqOf(name: string, identity: string | undefined): number | undefined {
  const rest = identity ? name.slice(backupFilePrefix(identity).length) : name.replace(new RegExp(`^journal-.*?-(?=\\d{${BACKUP_SEQ_DIGITS}})`), '');
  const m = new RegExp(`^(\\d{${BACKUP_SEQ_DIGITS}})(?=[-.])`).exec(rest);
  return m ? Number(m[1]) : undefined;
}
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

/** Serialises the journal's records 1..lastSeq into a backup file's bytes (in memory: tests, small journals). */
export function exportBytes(journal: Journal, options: ExportOptions = {}): Buffer {
  const parts: Buffer[] = [];
  // Every chunk writeBackup emits is a buffer of its own (concat, cipher output, digest): kept as is.
  writeBackup(journal, (chunk) => { parts.push(chunk); }, options);
  return Buffer.concat(parts);
}

/**
 * Writes a backup file durably (temp file, fsync, rename). Returns its manifest. Streamed: the
 * records go out in chunks of EXPORT_CHUNK_BYTES, so the memory used does not grow with the
 * journal (a year of trading is hundreds of MB of records; the unit's MemoryMax is 128 MB).
 */
export function exportToFile(journal: Journal, file: string, options: ExportOptions = {}): Manifest {
  // Refused before a temp file exists: a writer without a secret leaves nothing behind.
  sealedOrClear(options);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  const fd = openSync(tmp, 'w');
  let manifest: Manifest;
  try {
    manifest = writeBackup(journal, (chunk) => { writeAll(fd, chunk); }, options);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  fsyncDir(dirname(file));
  return manifest;
}

/** Bytes read from the journal before they are sealed and written: bounds the export's memory. */
const EXPORT_CHUNK_BYTES = 1024 * 1024;
/** Bytes read from a backup file at a time: bounds the import's memory. */
const IMPORT_CHUNK_BYTES = 1024 * 1024;
/** Records per LMDB transaction of an import (about 2 MB at a sale's record size; 2 flushes each). */
const IMPORT_BATCH_RECORDS = 8192;

function sealedOrClear(options: ExportOptions): void {
  if (!options.passphrase && !options.deviceKey && !options.clear) {
    throw new PosError('STO_BACKUP_INVALID', 'a backup is sealed: give the device key or a passphrase (or ask for a clear export by hand)');
  }
}

/** The backup file's bytes, in order, to `out`: head, body in chunks (sealed when asked), trailer. */
function writeBackup(journal: Journal, out: (chunk: Buffer) => void, options: ExportOptions): Manifest {
  const parts = backupParts(journal, options);
  for (let p = parts.next(); ; p = parts.next()) {
    if (p.done) return p.value;
    if (p.value !== PAUSE) out(p.value);
  }
}

/** Where backupParts may be paused: between records, never inside a chunk being sealed. */
const PAUSE = Symbol('pause');
/** Records between two of backupParts' pause points (a few hundred microseconds of work). */
const RECORDS_PER_PAUSE = 64;

/**
 * The backup file's bytes, in order (head, body in chunks sealed when asked, trailer), with a
 * PAUSE between every RECORDS_PER_PAUSE records: the one writer of backups, run at once
 * (writeBackup) or in slices (exportToFileSliced). The records are 1..lastSeq as they were when
 * it began (Journal.raw's range is fixed at the call): records appended meanwhile are not in it.
 */
function* backupParts(journal: Journal, options: ExportOptions): Generator<Buffer | typeof PAUSE, Manifest> {
  sealedOrClear(options);
  const base = {
    format: 1 as const, identity: journal.identity, firstSeq: 1, lastSeq: journal.lastSeq, count: journal.lastSeq,
    lastDigest: journal.lastDigest.toString('hex'), createdAtMs: Math.floor((options.clock ?? Date.now)()),
  };
  let manifest: Manifest = { ...base, encrypted: false };
  let seal: ((plain: Buffer) => Buffer) | undefined;
  let sealEnd: (() => Buffer) | undefined;
  if (options.passphrase || options.deviceKey) {
    const salt = randomBytes(SALT_BYTES);
    const iv = randomBytes(IV_BYTES);
    const kdf: BackupKdf = options.passphrase
      ? { name: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('hex') }
      : { name: 'device-key', hash: 'sha256', salt: salt.toString('hex') };
    manifest = { ...base, encrypted: true, kdf, cipher: 'aes-256-gcm', iv: iv.toString('hex') };
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  if (manifest.encrypted) {
    const cipher = createCipheriv('aes-256-gcm', keyFor(manifest, { passphrase: options.passphrase, deviceKey: options.deviceKey }), Buffer.from(manifest.iv!, 'hex'));
    cipher.setAAD(manifestBytes);
    seal = (plain) => cipher.update(plain);
    sealEnd = () => Buffer.concat([cipher.final(), cipher.getAuthTag()]);
  }
  const trailer = createHash('sha256');
  const hashed = (chunk: Buffer): Buffer => { trailer.update(chunk); return chunk; };
  const len = Buffer.alloc(4);
  len.writeUInt32BE(manifestBytes.length);
  yield hashed(Buffer.concat([MAGIC, len, manifestBytes]));
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (): Buffer => {
    const plain = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return hashed(seal ? seal(plain) : plain);
  };
  let sincePause = 0;
  for (const e of journal.raw(1, base.lastSeq)) {
    pending.push(e.stored);
    pendingBytes += e.stored.length;
    if (pendingBytes >= EXPORT_CHUNK_BYTES) {
      const chunk = take();
      if (chunk.length > 0) yield chunk;
    }
    if (++sincePause >= RECORDS_PER_PAUSE) { sincePause = 0; yield PAUSE; }
  }
  const last = take();
  if (last.length > 0) yield last;
  if (sealEnd) yield hashed(sealEnd());
  yield trailer.digest();
  return manifest;
}

/** How a backup written in slices gives the event loop back (exportToFileSliced). */
export interface SliceOptions {
  /** Work between two gives of the event loop, at most (one pause point more: a few hundred us). */
  readonly sliceMs?: number;
  /**
   * Awaited when a slice is used up, before the next one: setImmediate by default; the scheduled
   * backup waits here while someone uses the terminal (nothing is read or written meanwhile).
   */
  readonly between?: () => Promise<void>;
  /** Aborts the backup at its next pause or write: the temp file is removed, nothing else is left. */
  readonly signal?: AbortSignal;
}

/** A slice of exportToFileSliced by default: well under a key's time to the screen. */
export const BACKUP_SLICE_MS_DEFAULT = 10;

export interface SlicedExport {
  readonly manifest: Manifest;
  readonly file: string;
  /** Bytes of the file written. */
  readonly bytes: number;
  /** The longest the event loop was held by this export at a time (ms): a slice, a chunk sealed. */
  readonly longestSliceMs: number;
  /** Slices the export ran in. */
  readonly slices: number;
}

/**
 * exportToFile without holding the event loop: the records are read and sealed in slices of
 * `sliceMs`, between which `between` is awaited, and every write, the file's fsync and the
 * folder's run on libuv's threads (fs/promises), so a slow card's flush blocks nobody. The same
 * bytes as exportToFile: temp file, fsync, rename, fsync of the folder. The records are those of
 * the journal when it began; the journal must stay open until it ends (abort it before closing).
 */
export async function exportToFileSliced(journal: Journal, file: string, options: ExportOptions = {}, slices: SliceOptions = {}): Promise<SlicedExport> {
  sealedOrClear(options);
  const sliceMs = slices.sliceMs ?? BACKUP_SLICE_MS_DEFAULT;
  const between = slices.between ?? ((): Promise<void> => new Promise((r) => setImmediate(r)));
  const aborted = (): void => { if (slices.signal?.aborted) throw new PosError('STO_EXPORT_TARGET', `backup to ${file} stopped before it was complete`, { file, aborted: true }); };
  aborted();
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  const fh = await fsp.open(tmp, 'w');
  let bytes = 0;
  let longestSliceMs = 0;
  let count = 1;
  let manifest!: Manifest;
  try {
    const parts = backupParts(journal, options);
    let sliceAt = performance.now();
    const endSlice = (): void => { longestSliceMs = Math.max(longestSliceMs, performance.now() - sliceAt); };
    for (let p = parts.next(); ; p = parts.next()) {
      if (p.done) { manifest = p.value; break; }
      if (p.value === PAUSE) {
        if (performance.now() - sliceAt < sliceMs) continue;
        endSlice();
        await between();
        aborted();
        count++;
        sliceAt = performance.now();
        continue;
      }
      endSlice();
      await writeAllAsync(fh, p.value);
      bytes += p.value.length;
      aborted();
      sliceAt = performance.now();
    }
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await fsp.rename(tmp, file);
  await fsyncDirAsync(dirname(file));
  return { manifest, file, bytes, longestSliceMs, slices: count };
}

/**
 * Removes the oldest of a terminal's backups in `dir` that `ours` picks, so that `keepCountMax`
 * are left; others (a factory reset's, a hand export) are never touched. Ordered by the last
 * record's number their names carry (backupSeqOf), then by name. Returns the names removed.
 */
export function pruneBackups(dir: string, identity: string, ours: (name: string) => boolean, keepCountMax: number): string[] {
  const prefix = backupFilePrefix(identity);
  const files = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith(BACKUP_FILE_SUFFIX) && ours(f))
    .sort((a, b) => (backupSeqOf(a, identity) ?? 0) - (backupSeqOf(b, identity) ?? 0) || a.localeCompare(b));
  const gone = files.slice(0, Math.max(0, files.length - keepCountMax));
  for (const f of gone) rmSync(join(dir, f), { force: true });
  if (gone.length > 0) fsyncDir(dir);
  return gone;
}

export interface ParsedBackup {
  readonly manifest: Manifest;
  readonly entries: StoredEntry[];
}

/**
 * Parses and verifies a backup held in memory: trailer digest, decryption (wrong passphrase =
 * E-STO-08), each record's frame, the chain from the identity's genesis, and the manifest's count
 * and digest. Files go through `importFromFile`, which streams the same checks.
 */
export function parseBackup(bytes: Buffer, secret?: string | BackupSecret): ParsedBackup {
  const entries: StoredEntry[] = [];
  const manifest = scanBackup(bufferSource(bytes), secretOf(secret), (batch) => { entries.push(...batch); });
  return { manifest, entries };
}

export interface ImportResult {
  readonly manifest: Manifest;
  /** Where an existing journal was moved aside, if there was one. */
  readonly movedAside?: string;
}

/**
 * Restores a verified backup into `dir`. An existing journal there is moved aside to
 * `<dir>.replaced-<time>` (never deleted). Streamed: the records are verified and written in
 * batches into a scratch directory beside `dir` (`<dir>.importing-<time>`, removed when anything
 * fails), and only a backup that verified to its last byte takes `dir`'s place.
 */
export async function importFromFile(file: string, dir: string, secret?: string | BackupSecret, clock: () => number = Date.now): Promise<ImportResult> {
  const fd = openBackup(file);
  const scratch = `${dir}.importing-${Math.floor(clock())}`;
  rmSync(scratch, { recursive: true, force: true });
  let manifest: Manifest;
  try {
    manifest = await scanIntoScratch(fileSource(fd), secretOf(secret), scratch);
  } finally {
    closeSync(fd);
  }
  if (!existsSync(scratch)) invalid('the backup holds no records');
  let movedAside: string | undefined;
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    movedAside = `${dir}.replaced-${Math.floor(clock())}`;
    renameSync(dir, movedAside);
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
  renameSync(scratch, dir);
  fsyncDir(dirname(dir));
  const check = await Journal.open({ dir, identity: manifest.identity, readOnly: true });
  const ok = check.state === 'ok' && check.lastSeq === manifest.lastSeq;
  await check.close();
  if (!ok) invalid('restored journal did not verify');
  return { manifest, movedAside };
}

/**
 * Checks a backup file whole, as an import would, writing nothing: its digest, its decryption
 * (E-STO-08 for a wrong key or passphrase), every record's frame, the chain from the identity's
 * genesis, and the manifest's count and digest. Returns the manifest; throws as importFromFile.
 */
export function verifyBackupFile(file: string, secret?: string | BackupSecret): Manifest {
  const fd = openBackup(file);
  try {
    return scanBackup(fileSource(fd), secretOf(secret), () => undefined);
  } finally {
    closeSync(fd);
  }
}

/** Reads only a backup file's manifest (not authenticated: the import checks it under the key). */
export function readBackupManifest(file: string): Manifest {
  const fd = openBackup(file);
  try {
    return readHead(fileSource(fd)).manifest;
  } finally {
    closeSync(fd);
  }
}

/**
 * Verifies a backup (as `scanBackup`) while writing its records, batch by batch, into `scratch`,
 * created at the first batch (a file refused at its head or key creates nothing). On failure
 * everything it created is removed, the parent folders it made included.
 */
async function scanIntoScratch(source: ByteSource, secret: BackupSecret, scratch: string): Promise<Manifest> {
  let db: JournalDb | undefined;
  let created: string | undefined;
  try {
    return scanBackup(source, secret, (batch) => {
      if (!db) {
        created = mkdirSync(scratch, { recursive: true }) ?? scratch;
        db = openEnv(scratch);
      }
      const env = db;
      // Committed and flushed (noSync off) before it returns: a batch is on disk when the next is read.
      env.transactionSync(() => { for (const e of batch) env.put(e.key, e.stored); });
    });
  } catch (e) {
    await db?.close();
    db = undefined;
    if (created) rmSync(created, { recursive: true, force: true });
    throw e;
  } finally {
    await db?.close();
  }
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
    const file = join(dir, backupFileName(this.journal.identity, this.journal.baseSeq + this.journal.lastSeq));
    exportToFile(this.journal, file, { passphrase: this.options.passphrase, deviceKey: this.options.deviceKey });
    this.lastBackedUpSeq = this.journal.lastSeq;
    this.prune();
    return file;
  }

  /** Only its own (untagged) files: a factory reset's backup (`-reset`) in the same folder stays. */
  private prune(): void {
    const identity = this.journal.identity;
    pruneBackups(this.options.backupDir, identity, (f) => f === backupFileName(identity, backupSeqOf(f, identity) ?? -1), this.options.keepCountMax);
  }
}

// ---- internals

/** Random access to a backup's bytes: a file (read in chunks) or a buffer (views). */
interface ByteSource {
  readonly sizeBytes: number;
  /** `length` bytes at `position`; a new buffer or a view, never reused by the source. */
  chunk(position: number, length: number): Buffer;
}

function bufferSource(bytes: Buffer): ByteSource {
  return { sizeBytes: bytes.length, chunk: (position, length) => bytes.subarray(position, position + length) };
}

function fileSource(fd: number): ByteSource {
  return {
    sizeBytes: fstatSync(fd).size,
    chunk: (position, length) => {
      const b = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, b, got, length - got, position + got);
        if (n === 0) invalid('file shorter than it was a moment ago (changed while read)');
        got += n;
      }
      return b;
    },
  };
}

function openBackup(file: string): number {
  return openSync(file, 'r');
}

function secretOf(secret: string | BackupSecret | undefined): BackupSecret {
  return typeof secret === 'string' ? { passphrase: secret } : secret ?? {};
}

interface Head {
  readonly manifest: Manifest;
  /** Magic, manifest length and manifest: the first bytes the trailer digest covers. */
  readonly headBytes: Buffer;
  readonly manifestBytes: Buffer;
}

function readHead(source: ByteSource): Head {
  if (source.sizeBytes < MAGIC.length + 4 + TRAILER_BYTES) invalid('not a journal backup (bad magic)');
  const fixed = source.chunk(0, MAGIC.length + 4);
  if (!fixed.subarray(0, MAGIC.length).equals(MAGIC)) invalid('not a journal backup (bad magic)');
  const length = fixed.readUInt32BE(MAGIC.length);
  if (length > MANIFEST_BYTES_MAX || fixed.length + length > source.sizeBytes - TRAILER_BYTES) invalid('manifest length out of range');
  const manifestBytes = source.chunk(fixed.length, length);
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(manifestBytes.toString('utf8')) as Partial<Manifest>;
  } catch {
    return invalid('manifest is not JSON');
  }
  if (m.format !== 1 || typeof m.identity !== 'string' || !Number.isInteger(m.count) || !Number.isInteger(m.lastSeq) || typeof m.lastDigest !== 'string') {
    invalid('manifest fields missing or of the wrong type');
  }
  return { manifest: m as Manifest, headBytes: Buffer.concat([fixed, manifestBytes]), manifestBytes };
}

/**
 * The one verifier of backups, streamed: reads the body in IMPORT_CHUNK_BYTES chunks, decrypts
 * them, cuts them into records and walks the chain (storage/verify.ts), handing the records to
 * `onBatch` in batches of IMPORT_BATCH_RECORDS; the last batch only once everything verified. The
 * whole file is always read, so the error named is the one the whole file shows, in this order:
 * the trailer digest (damaged or truncated), the authentication tag (wrong key or damaged), a
 * record's frame, the chain, the manifest's count and digest. Returns the manifest.
 */
function scanBackup(source: ByteSource, secret: BackupSecret, onBatch: (batch: StoredEntry[]) => void): Manifest {
  if (source.sizeBytes > BACKUP_BYTES_MAX) invalid(`file of ${source.sizeBytes} bytes is larger than ${BACKUP_BYTES_MAX}`);
  const { manifest, headBytes, manifestBytes } = readHead(source);
  const trailerAt = source.sizeBytes - TRAILER_BYTES;
  let bodyEnd = trailerAt;
  let decipher: DecipherGCM | undefined;
  if (manifest.encrypted) {
    if (!manifest.kdf || manifest.cipher !== 'aes-256-gcm' || !manifest.iv || trailerAt - headBytes.length < TAG_BYTES) invalid('encryption parameters missing');
    bodyEnd = trailerAt - TAG_BYTES;
    decipher = createDecipheriv('aes-256-gcm', keyFor(manifest, secret), Buffer.from(manifest.iv!, 'hex'));
    decipher.setAAD(manifestBytes);
    decipher.setAuthTag(source.chunk(bodyEnd, TAG_BYTES));
  }
  const trailer = createHash('sha256').update(headBytes);
  let position = headBytes.length;
  const next = (): Buffer | undefined => {
    if (position >= bodyEnd) return undefined;
    const raw = source.chunk(position, Math.min(IMPORT_CHUNK_BYTES, bodyEnd - position));
    position += raw.length;
    trailer.update(raw);
    return decipher ? decipher.update(raw) : raw;
  };
  const split: SplitState = { batch: [], onBatch };
  const report = verifyEntries(splitRecords(next, split), manifest.lastSeq, { identity: manifest.identity });
  while (next() !== undefined) { /* the rest of the file still counts for the trailer and the tag */ }
  trailer.update(source.chunk(bodyEnd, trailerAt - bodyEnd));
  if (!trailer.digest().equals(source.chunk(trailerAt, TRAILER_BYTES))) invalid('file damaged or truncated (trailer digest mismatch)');
  if (decipher) {
    try {
      decipher.final();
    } catch {
      invalid(manifest.kdf!.name === 'device-key'
        ? `sealed under the device key of terminal ${manifest.identity}: it does not open under this device key, or the file is damaged (authentication failed)`
        : 'wrong passphrase or damaged file (authentication failed)');
    }
  }
  if (split.fault) invalid(split.fault);
  if (report.damage || report.tornTail) invalid(`record ${(report.damage ?? report.tornTail)!.seq}: ${(report.damage ?? report.tornTail)!.reason}`);
  if (report.goodCount !== manifest.count || report.lastGoodSeq !== manifest.lastSeq) invalid(`manifest says ${manifest.count} records, file holds ${report.goodCount}`);
  if (report.lastGoodDigest.toString('hex') !== manifest.lastDigest) invalid('last digest differs from the manifest');
  if (split.batch.length > 0) onBatch(split.batch);
  return manifest;
}

interface SplitState {
  batch: StoredEntry[];
  readonly onBatch: (batch: StoredEntry[]) => void;
  /** Why the body could not be cut into records; the walk ends there. */
  fault?: string;
}

/**
 * Cuts the plaintext body, chunk by chunk, into stored records (a record may span chunks). Each
 * batch is handed on when full; a fault ends the walk and is kept in `state.fault`.
 */
function* splitRecords(next: () => Buffer | undefined, state: SplitState): Generator<StoredEntry> {
  let carry: Buffer = Buffer.alloc(0);
  let offset = 0;
  for (let chunk = next(); chunk !== undefined; chunk = next()) {
    const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= HEADER_BYTES) {
      const length = buf.readUInt32BE(at + 16);
      if (length > PAYLOAD_BYTES_MAX) { state.fault = `record length out of range at byte ${offset}`; return; }
      if (buf.length - at < HEADER_BYTES + length) break;
      const stored = buf.subarray(at, at + HEADER_BYTES + length);
      const f = checkFrame(stored);
      if ('fault' in f) { state.fault = `record at byte ${offset}: ${f.fault.reason}`; return; }
      state.batch.push({ key: f.header.seq, stored });
      if (state.batch.length >= IMPORT_BATCH_RECORDS) { state.onBatch(state.batch); state.batch = []; }
      yield { key: f.header.seq, stored };
      at += stored.length;
      offset += stored.length;
    }
    carry = buf.subarray(at);
  }
  if (carry.length > 0) state.fault = carry.length < HEADER_BYTES ? `truncated record at byte ${offset}` : `record length out of range at byte ${offset}`;
}

/** Whether a backup needs a passphrase to open (a device-key backup does not). */
export function backupNeedsPassphrase(bytes: Buffer): boolean {
  return needsPassphrase(readHead(bufferSource(bytes)).manifest);
}

/** The same for a file, reading only its head: the recovery menu lists backups of any size. */
export function backupFileNeedsPassphrase(file: string): boolean {
  return needsPassphrase(readBackupManifest(file));
}

function needsPassphrase(m: Manifest): boolean {
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
  // Checked before node sees them (common/scrypt-params.ts): a damaged header must not break the process's next crypto call.
  const problem = scryptParamsProblem(kdf.N, kdf.r, kdf.p, SCRYPT.maxmem * 4);
  if (problem !== undefined) invalid(`key derivation parameters: ${problem}`);
  return scryptSync(passphrase.normalize('NFKC'), salt, KEY_BYTES, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT.maxmem * 4 });
}

function invalid(reason: string): never {
  throw new PosError('STO_BACKUP_INVALID', `backup invalid: ${reason}`);
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done, chunk.length - done);
}

/** A file written so a power cut leaves the old content or the new (common/fsync.ts). */
export const writeDurably: (file: string, bytes: Buffer) => void = writeFileDurably;

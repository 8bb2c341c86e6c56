/**
 * The terminal's own backups (README, "Backups"): after each settlement that closed a batch, and
 * at rest when many records were appended since the last one, the live journal is written sealed
 * under the device key (storage/backup.ts, the format every export uses) into the board's
 * `storage.backupDir` (the handheld's SD card), and the scheduled backups there are pruned to the
 * board's `storage.backup.keepCountMax`. Each archive of settled batches (runtime/archive.ts) is
 * copied there once, as it is (already sealed under the device key).
 *
 *   const b = new ScheduledBackup({ backupDir, keepCountMax, idleRecords, deviceKey, journal, settledBatch, inUse, mayStart });
 *   b.poke();            // from the main loop's tick and when the terminal falls quiet: starts one when due
 *   b.status();          // diagnostics: the last backup, the last failure (E-STO-16)
 *   await b.abort();     // before the journal is closed (recovery, restart, stop)
 *
 * What a backup holds, and why (flash wear): the live journal only, whole (the backup format
 * chains from record 1, so it cannot be incremental). The live journal is what a repair or an
 * import needs to put the terminal back where it was: its first records carry the state of every
 * archived batch (runtime/archive.ts carriedRecords). The settled batches that were archived are
 * in their archive files, which do not change once written: copied to the card once each, never
 * again, instead of a full export (every archive re-sealed) after every settlement. Bytes written
 * to the card per settlement are the live journal's stored bytes (~160 bytes a record; about
 * 0.6 MB after a day of 1,000 sales, up to ~8 MB before the journal is archived at
 * ARCHIVE_RECORDS_MIN records), plus, once per archive, the archive file.
 *
 * When: never while someone uses the terminal. A backup starts only when `inUse` is not held (no
 * key for IN_USE_AFTER_KEY_MS, the machine at idle or login: `mayStart`); it is written in slices
 * of `sliceMs` (exportToFileSliced: the records read and sealed in slices, every write and flush on
 * libuv's threads), and it waits between two slices while the terminal is in use again: the key
 * that starts a sale waits at most one slice, and nothing is written to the card during the sale.
 * Paused longer than pauseMsMax it is abandoned (its temp file removed) and begun again at the
 * next quiet moment, so a long read of the journal is not kept open all day.
 *
 * A full card first gives up the oldest of its scheduled backups down to keepCountMax - 1 (never
 * the last one: makeRoom) and the backup is tried once more.
 * A target that is missing (no SD card), read-only, full or failing never stops trading: the
 * backup is abandoned with E-STO-16, logged (warn the first time, then info while the same fault
 * repeats, so the error ring is not filled by one card), kept for diagnostics (status), and tried
 * again after retryMs, or at once after the next settlement. No notice on the cashier's screens.
 *
 * The folder is never created on a real board: an SD card that is not mounted leaves its mount
 * point an empty folder of the root file system, and a backup there would be on the same eMMC as
 * the journal. Only a simulator board (`createDir`) creates it.
 */
import { W_OK } from 'node:constants';
import { accessSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PosError, isPosError } from '../common/errors';
import { fsyncDirAsync, writeAllAsync } from '../common/fsync';
import type { Logger } from '../common/log';
import { monotonicMs } from '../common/time';
import { BACKUP_SLICE_MS_DEFAULT, backupFileName, backupFilePrefix, backupSeqOf, exportToFileSliced, pruneBackups } from './backup';
import type { Journal } from './journal';

/** After a failed backup, the next try (a new settlement tries at once). */
export const BACKUP_RETRY_MS = 15 * 60_000;
/** A backup paused this long while the terminal is in use is abandoned, and begun again later. */
export const BACKUP_PAUSE_MS_MAX = 10 * 60_000;
/** Bytes of an archive copied per slice (read, written on libuv's threads). */
const ARCHIVE_COPY_CHUNK_BYTES = 256 * 1024;
/** Archive files' suffix (runtime/archive.ts ARCHIVE_FILE_SUFFIX; storage does not import runtime). */
const ARCHIVE_COPY_SUFFIX = '.posarc';

/** A scheduled backup's tag: the last batch it holds closed (`auto-b000012`; `auto-b000000` before the first settlement). */
export function scheduledTag(batch: number | undefined): string {
  return `auto-b${String(batch ?? 0).padStart(6, '0')}`;
}

const SCHEDULED_RE = /-auto-b(\d{6})\.posbak$/;

/** Whether a backup file's name is a scheduled backup's; its batch when it is. */
export function scheduledBatchOf(name: string): number | undefined {
  const m = SCHEDULED_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface ScheduledBackupOptions {
  /** Off: nothing is ever written (status says so). The three below: the board file's storage.backup (hal/board-schema.ts BackupConfig). */
  readonly enabled: boolean;
  readonly backupDir: string;
  /** Scheduled backups kept in the folder; older ones are removed (others, a reset's or a hand export, never). */
  readonly keepCountMax: number;
  /** Records since the last backup that make one due at rest (0: only after settlements). */
  readonly idleRecords: number;
  /** Seals each backup (the device key of runtime/device-key.ts: it opens only on this terminal). */
  readonly deviceKey: () => Buffer;
  /** The live journal, or undefined while there is none (boot, recovery). */
  readonly journal: () => Journal | undefined;
  /** The last batch the journal holds closed (TerminalState.lastClosed.batch). */
  readonly settledBatch: () => number | undefined;
  /** Someone uses the terminal (boot/in-use.ts InUse): no backup starts, a running one waits. */
  readonly inUse: { readonly held: boolean; onChange(listener: () => void): () => void };
  /** Whether the machine is where a backup may start (idle, login). */
  readonly mayStart: () => boolean;
  /** Archive files of settled batches, copied to the backup folder once each. */
  readonly archives?: () => readonly string[];
  /** Simulator boards only: create the folder when it is missing (see the module comment). */
  readonly createDir?: boolean;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** Told when a backup's run ends (written, failed or abandoned): its garbage is worth a collection (boot/idle-gc.ts afterWork). */
  readonly afterRun?: () => void;
  readonly sliceMs?: number;
  readonly retryMs?: number;
  readonly pauseMsMax?: number;
}

export interface ScheduledBackupStatus {
  readonly enabled: boolean;
  readonly dir: string;
  readonly keepCountMax: number;
  readonly running: boolean;
  /** The newest scheduled backup in the folder (this boot's or an earlier one's), by name. */
  readonly newest?: string;
  /** Scheduled backups of this terminal in the folder now (0 when it cannot be read). */
  readonly kept: number;
  /** Written by this process. */
  readonly last?: {
    readonly file: string; readonly records: number; readonly batch?: number; readonly bytes: number; readonly atMs: number;
    readonly ms: number; readonly longestSliceMs: number; readonly removed: readonly string[]; readonly archivesCopied: number; readonly archiveBytes: number;
  };
  /** The last attempt failed (cleared by the next backup written). */
  readonly failure?: { readonly code: string; readonly message: string; readonly atMs: number; readonly count: number };
}

interface Failure { code: string; message: string; atMs: number; count: number; monoMs: number; batch?: number }

export class ScheduledBackup {
  private running_: Promise<void> | undefined;
  private controller: AbortController | undefined;
  private stopped = false;
  /** What the newest scheduled backup holds (read from the folder once per identity). */
  private known: { identity: string; seq: number; batch?: number; newest?: string } | undefined;
  private last: ScheduledBackupStatus['last'];
  private failure: Failure | undefined;
  private readonly offQuiet: () => void;

  constructor(private readonly o: ScheduledBackupOptions) {
    this.offQuiet = o.inUse.onChange(() => { if (!o.inUse.held) this.poke(); });
  }

  get running(): boolean { return this.running_ !== undefined; }

  status(): ScheduledBackupStatus {
    return {
      enabled: this.o.enabled, dir: this.o.backupDir, keepCountMax: this.o.keepCountMax, running: this.running, kept: this.keptNow(),
      ...(this.known?.newest ? { newest: this.known.newest } : {}),
      ...(this.last ? { last: this.last } : {}),
      ...(this.failure ? { failure: { code: this.failure.code, message: this.failure.message, atMs: this.failure.atMs, count: this.failure.count } } : {}),
    };
  }

  /** Why a backup is due now ('settlement', 'records'), or undefined. Reads the folder once per identity. */
  due(): 'settlement' | 'records' | undefined {
    const j = this.o.journal();
    if (!this.o.enabled || !j || j.state !== 'ok' || j.lastSeq < 1) return undefined;
    const k = this.knownFor(j.identity);
    const batch = this.o.settledBatch();
    const records = j.baseSeq + j.lastSeq;
    // Past the newest backup's records too: a journal restored from an older backup (its last
    // batch an older one) is not backed up again over the newer backups it came from.
    if (batch !== undefined && batch !== k.batch && records > k.seq) return 'settlement';
    if (this.o.idleRecords > 0 && records - k.seq >= this.o.idleRecords) return 'records';
    return undefined;
  }

  /** Starts a backup when one is due, nobody uses the terminal and no failure waits its retry. Cheap when not. */
  poke(): void {
    if (this.stopped || this.running_ || this.o.inUse.held || !this.o.mayStart()) return;
    const reason = this.due();
    if (!reason) return;
    const f = this.failure;
    if (f && monotonicMs() - f.monoMs < (this.o.retryMs ?? BACKUP_RETRY_MS) && f.batch === this.o.settledBatch()) return;
    const controller = new AbortController();
    this.controller = controller;
    this.running_ = this.run(reason, controller.signal).finally(() => {
      this.running_ = undefined;
      if (this.controller === controller) this.controller = undefined;
      this.o.afterRun?.();
    });
  }

  /** Stops a running backup (its temp file removed) and resolves once it has let go of the journal. */
  async abort(): Promise<void> {
    this.controller?.abort();
    await this.running_;
  }

  /** abort, and no backup starts again. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.offQuiet();
    await this.abort();
  }

  /** The running backup, if any (tests wait for it). */
  settled(): Promise<void> {
    return this.running_ ?? Promise.resolve();
  }

  private keptNow(): number {
    const identity = this.known?.identity ?? this.o.journal()?.identity;
    return identity ? this.scheduledFiles(identity).length : 0;
  }

  /** This terminal's scheduled backups in the folder, by name ([] when it is missing or cannot be read). */
  private scheduledFiles(identity: string): string[] {
    try {
      return readdirSync(this.o.backupDir).filter((f) => f.startsWith(backupFilePrefix(identity)) && scheduledBatchOf(f) !== undefined);
    } catch {
      // Missing or unreadable: as if empty; the backup's own attempt reports what is wrong.
      return [];
    }
  }

  private knownFor(identity: string): NonNullable<ScheduledBackup['known']> {
    if (this.known?.identity === identity) return this.known;
    let newest: { name: string; seq: number } | undefined;
    for (const f of this.scheduledFiles(identity)) {
      const seq = backupSeqOf(f, identity) ?? 0;
      if (!newest || seq > newest.seq || (seq === newest.seq && f > newest.name)) newest = { name: f, seq };
    }
    this.known = { identity, seq: newest?.seq ?? 0, ...(newest ? { batch: scheduledBatchOf(newest.name), newest: newest.name } : {}) };
    return this.known;
  }

  private async run(reason: 'settlement' | 'records', signal: AbortSignal, madeRoom = false): Promise<void> {
    const log = this.o.logger;
    const j = this.o.journal();
    if (!j) return;
    const identity = j.identity;
    const batch = this.o.settledBatch();
    const records = j.baseSeq + j.lastSeq;
    const file = join(this.o.backupDir, backupFileName(identity, records, scheduledTag(batch)));
    const startedMono = monotonicMs();
    try {
      this.checkTarget();
      const r = await exportToFileSliced(j, file, { deviceKey: this.o.deviceKey, clock: this.o.clock }, {
        sliceMs: this.o.sliceMs ?? BACKUP_SLICE_MS_DEFAULT, signal, between: () => this.whenQuiet(signal),
      });
      const removed = pruneBackups(this.o.backupDir, identity, (f) => scheduledBatchOf(f) !== undefined, this.o.keepCountMax);
      const copied = await this.copyArchives(signal);
      this.known = { identity, seq: records, ...(batch !== undefined ? { batch } : {}), newest: basename(file) };
      this.last = {
        file, records, ...(batch !== undefined ? { batch } : {}), bytes: r.bytes, atMs: (this.o.clock ?? Date.now)(), ms: Math.round(monotonicMs() - startedMono),
        longestSliceMs: Math.round(r.longestSliceMs * 10) / 10, removed, archivesCopied: copied.files, archiveBytes: copied.bytes,
      };
      if (this.failure) log?.info({ code: this.failure.code, dir: this.o.backupDir }, 'backup: the backup folder works again');
      this.failure = undefined;
      log?.info({ reason, file: basename(file), records, bytes: r.bytes, ms: this.last.ms, longestSliceMs: this.last.longestSliceMs, slices: r.slices, removed, archivesCopied: copied.files, archiveBytes: copied.bytes }, 'backup: scheduled backup written');
    } catch (e) {
      if (signal.aborted || j.state === 'closed') {
        log?.info({ file: basename(file) }, 'backup: stopped before it was complete (the journal was needed, or the terminal stayed in use); it starts again at the next quiet moment');
        return;
      }
      if (!madeRoom && isFull(e) && this.makeRoom(identity)) return this.run(reason, signal, true);
      this.fail(e, batch);
    }
  }

  /**
   * The card full: its oldest scheduled backups removed so that keepCountMax - 1 are left (the
   * new one makes keepCountMax again), never the last one, nor a file of anyone else's (a factory
   * reset's backup, an archive's copy). Without this a card filled by the growing journal's own
   * backups failed every backup until someone cleared it, though pruning after the next success
   * would have freed that room. True when something was removed (the backup is tried once more).
   */
  private makeRoom(identity: string): boolean {
    const keep = Math.max(1, this.o.keepCountMax - 1);
    let removed: string[];
    try {
      removed = pruneBackups(this.o.backupDir, identity, (f) => scheduledBatchOf(f) !== undefined, keep);
    } catch {
      return false;
    }
    if (removed.length > 0) this.o.logger?.info({ dir: this.o.backupDir, removed }, 'backup: the backup folder was full: the oldest scheduled backups removed to make room; trying again');
    return removed.length > 0;
  }

  private fail(e: unknown, batch: number | undefined): void {
    const err = isPosError(e, 'export-target') && e.id === 'STO_BACKUP_TARGET' ? e : targetError(e, this.o.backupDir);
    const previous = this.failure;
    const repeat = previous !== undefined && previous.message === err.message;
    this.failure = { code: err.code, message: err.message, atMs: (this.o.clock ?? Date.now)(), count: (previous?.count ?? 0) + 1, monoMs: monotonicMs(), ...(batch !== undefined ? { batch } : {}) };
    // Warn (the error ring, diagnostics' last errors, the status upload) the first time a fault is
    // seen; the same fault again every retry is info: one missing card must not fill the ring.
    const fields = { code: err.code, dir: this.o.backupDir, err: err.message, attempts: this.failure.count };
    if (repeat) this.o.logger?.info(fields, 'backup: scheduled backup still not written; trading goes on');
    else this.o.logger?.warn(fields, `backup: scheduled backup not written (${err.code}); trading goes on`);
  }

  /** The folder is there, a folder, and writable (created first on a simulator board only). */
  private checkTarget(): void {
    const dir = this.o.backupDir;
    try {
      if (this.o.createDir) mkdirSync(dir, { recursive: true });
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
      accessSync(dir, W_OK);
    } catch (e) {
      throw targetError(e, dir);
    }
  }

  /**
   * Resolves at once (after a setImmediate) when nobody uses the terminal, else when the terminal
   * falls quiet again; abandons the backup after pauseMsMax (the signal aborts). Aborted: resolves
   * at once, and the writer stops at its next check.
   */
  private whenQuiet(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (!this.o.inUse.held || signal.aborted) { setImmediate(resolve); return; }
      const done = (): void => { off(); clearTimeout(timer); signal.removeEventListener('abort', done); setImmediate(resolve); };
      const off = this.o.inUse.onChange(() => { if (!this.o.inUse.held) done(); });
      const timer = setTimeout(() => this.controller?.abort(), this.o.pauseMsMax ?? BACKUP_PAUSE_MS_MAX);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Each archive not in the backup folder yet (by name, at its size) copied there once: temp file,
   * fsync, rename, fsync of the folder, in chunks between which the terminal may take the CPU.
   */
  private async copyArchives(signal: AbortSignal): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    for (const src of this.o.archives?.() ?? []) {
      if (!src.endsWith(ARCHIVE_COPY_SUFFIX)) continue;
      const to = join(this.o.backupDir, basename(src));
      const size = statSync(src).size;
      if (existsSync(to) && statSync(to).size === size) continue;
      const tmp = join(this.o.backupDir, `.${basename(src)}.tmp`);
      const from = await fsp.open(src, 'r');
      const out = await fsp.open(tmp, 'w');
      try {
        const chunk = Buffer.allocUnsafe(ARCHIVE_COPY_CHUNK_BYTES);
        for (let at = 0; at < size;) {
          const { bytesRead } = await from.read(chunk, 0, Math.min(chunk.length, size - at), at);
          if (bytesRead === 0) throw new Error(`${src} shorter than it was`);
          await writeAllAsync(out, chunk, bytesRead);
          at += bytesRead;
          await this.whenQuiet(signal);
          if (signal.aborted) throw new Error('aborted');
        }
        await out.sync();
      } catch (e) {
        await out.close().catch(() => undefined);
        await from.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true });
        throw e;
      }
      await out.close();
      await from.close();
      await fsp.rename(tmp, to);
      await fsyncDirAsync(this.o.backupDir);
      files++;
      bytes += size;
    }
    return { files, bytes };
  }
}

/** Whether a failed write met a full file system (its errno, or its cause's). */
function isFull(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < ERROR_CAUSES_MAX; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    const errno = (c as { detail?: { errno?: unknown } }).detail?.errno;
    if (errno === 'ENOSPC' || errno === 'EDQUOT') return true;
  }
  return false;
}
/** Causes isFull follows (a PosError wrapping a wrapped errno is two). */
const ERROR_CAUSES_MAX = 4;

/** E-STO-16 naming what is wrong with the folder, from the error the file system gave. */
export function targetError(e: unknown, dir: string): PosError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOENT' ? 'is missing (no SD card?)'
    : code === 'ENOTDIR' ? 'is not a folder'
      : code === 'EROFS' || code === 'EACCES' || code === 'EPERM' ? 'is read-only'
        : code === 'ENOSPC' || code === 'EDQUOT' ? 'is full'
          : code === 'EIO' ? 'gave an I/O error (card failing?)'
            : `could not be written (${code ?? (e instanceof Error ? e.message : String(e))})`;
  return new PosError('STO_BACKUP_TARGET', `backup folder ${dir} ${why}`, { dir, ...(code ? { errno: code } : {}) }, { cause: e });
}


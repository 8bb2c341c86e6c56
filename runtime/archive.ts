/**
 * The archive of settled batches (storage/JOURNAL_FORMAT.md, "Archive of settled batches"): a
 * journal of ARCHIVE_RECORDS_MIN records or more, at a moment when everything it holds is settled
 * and nothing is owed, is written whole to a sealed archive file (the backup format) and replaced
 * by a new journal that starts with what the terminal's state needs of it: the identity, keys,
 * operators and settings as their latest records, the last closed batch, the STAN and batch, and
 * `carried-state` records for what has no record of its own (the refund index, the open
 * pre-authorization holds, the amount profile). So the live journal (what boot, the background
 * verify, backups and exports read) stays small however long the terminal trades.
 *
 * Order, each step durable before the next, so a power cut anywhere leaves the old journal (and a
 * stray archive file or staging folder, removed by the next archive) or the new one:
 *   1. the archive file, written and read back (its trailer digest, the manifest's last digest);
 *   2. the new journal, built beside the live one, its first record naming the archive;
 *   3. the swap (storage/dir-swap.ts: the old journal set aside, the new one in place);
 *   4. the old journal's folder removed (the archive holds every record of it).
 *
 *   const why = archiveBlocker(state, journal, ARCHIVE_RECORDS_MIN);
 *   if (!why) await archiveJournal({ journal, state, journalDir, archiveDir, deviceKey, clock });  // journal closed after
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PosError, invariant, isPosError } from '../common/errors';
import { fsyncDir, writeFileDurably } from '../common/fsync';
import type { Logger } from '../common/log';
import { Manifest, exportToFile, importFromFile, readBackupManifest } from '../storage/backup';
import { SwapStep, swapInDir } from '../storage/dir-swap';
import { Journal, freeBytes } from '../storage/journal';
import { PAYLOAD_BYTES_MAX, RecordType, RecordTypeName, payloadBytes } from '../storage/record';
import type { OriginalSale, PreAuthHold, TerminalState } from './terminal-state';
import { Checkpoint, writeCheckpoint } from '../storage/checkpoint';
import { encodeState } from './state-snapshot';
import { Store } from './store';

/** Records in the live journal before it is archived: about a quarter of a busy shop's trading. */
export const ARCHIVE_RECORDS_MIN = 50_000;
/**
 * Bytes the archive files may take together before the oldest exported ones are removed
 * (enforceArchiveBudget). The data partition is 128 MiB and holds besides the archives: the live
 * journal, which reaches about 30 MB at ARCHIVE_RECORDS_MIN records (~600 bytes a record) and more
 * when no boot finds it settled; the next archive, written whole (~30 MB) while the old journal is
 * still there; the journal's reserve for settlement (4 MiB), its write-ahead log, checkpoint, the
 * device key, logs and the file system's own overhead (~10 MiB). 128 - 30 - 30 - 14 leaves ~54 MiB;
 * 40 MiB keeps a margin for a journal that grew past its threshold before it could be archived, and
 * holds the newest archive (always kept) with room for one more until it is exported.
 */
export const ARCHIVE_BYTES_MAX = 40 * 1024 * 1024;
/**
 * Free bytes an archive must leave on the disk beyond the archive file itself (about the journal's
 * size): the new journal built beside the live one and the journal's settlement reserve. Below it
 * the archive is not begun (the sales would meet a full disk, E-STO-01, before it helped).
 */
export const ARCHIVE_FREE_MARGIN_BYTES = 8 * 1024 * 1024;
/** Beside an archive once the recovery export wrote it to a USB stick and flushed it (`<name>.exported`). */
export const ARCHIVE_EXPORTED_SUFFIX = '.exported';
/** The account of an archive removed after its export (`<name>.removed`), kept for ever (a few hundred bytes). */
export const ARCHIVE_REMOVED_SUFFIX = '.removed';
/** Refund-index entries per carried-state record (each at most ~40 bytes of CBOR). */
const CARRIED_SALES_PER_RECORD = 1_000;
/** Pre-authorization holds per carried-state record (each at most ~200 bytes of CBOR). */
const CARRIED_HOLDS_PER_RECORD = 150;
/** The archive files' folder beside the journal's: `<journal>.archive/`. */
export const ARCHIVE_DIR_SUFFIX = '.archive';
/** What an archive's file name ends with (the backup format). */
export const ARCHIVE_FILE_SUFFIX = '.posarc';

type Rec = { type: RecordTypeName; payload: Record<string, unknown> };

/**
 * Why the journal cannot be archived now, or undefined when it can. `deferredOk`: records not yet
 * durable do not stand in the way (a caller that closes the journal before archiving: the close
 * writes them; the terminal's archive at idle, which restarts into the boot's archive).
 */
export function archiveBlocker(s: TerminalState, j: Journal, recordsMin = ARCHIVE_RECORDS_MIN, o: { readonly deferredOk?: boolean } = {}): string | undefined {
  if (j.state !== 'ok') return 'the journal is not writable';
  if (j.lastSeq < recordsMin) return `${j.lastSeq} records, fewer than ${recordsMin}`;
  if (j.deferredCount > 0 && o.deferredOk !== true) return 'a record is not durable yet';
  if (s.lastClosed === undefined) return 'no batch settled';
  if (s.txns.size > 0) return 'the open batch has transactions';
  if (s.settlement !== undefined) return 'a settlement is under way';
  if (s.pendingReversal !== undefined) return 'a reversal is owed';
  if (s.pendingQrQuery !== undefined) return 'a QR payment is unresolved';
  if (s.pendingScriptNotices.size > 0) return 'a script notice is owed';
  if (s.reconcileBatch === true) return 'the batch is to be reconciled after a rebuild';
  return undefined;
}

/** The archive folder of a journal folder. */
export function archiveDirFor(journalDir: string): string {
  return `${journalDir}${ARCHIVE_DIR_SUFFIX}`;
}

/**
 * The records a new journal starts with so that its replay gives `s` (the state at the journal's
 * end), `lastSeq` aside. `s` must be archivable (archiveBlocker). Latest records are taken from the
 * journal itself where a reader other than the reducer looks for them (device key check, TMK,
 * network settings, the identity).
 */
export function carriedRecords(j: Journal, s: TerminalState): Array<Rec & { timeMs?: number }> {
  const latest = latestRecords(j);
  const closed = s.lastClosed;
  invariant(closed !== undefined, 'an archived journal has a closed batch');
  const out: Array<Rec & { timeMs?: number }> = [];
  if (latest.identity) out.push({ type: 'terminalIdentity', payload: latest.identity });
  for (const p of latest.settings.values()) out.push({ type: 'settings', payload: p });
  if (latest.keys) out.push({ type: 'keys', payload: latest.keys });
  for (const p of latest.operators.values()) out.push({ type: 'operator', payload: p });
  out.push(...carriedState(s));
  out.push({ type: 'batch', payload: { batch: closed.batch } });
  out.push({
    type: 'batchClosed', timeMs: closed.closedAtMs,
    payload: { batch: closed.batch, nextBatch: s.batch, totals: { ...closed.totals }, verdict: closed.verdict, offlineNotTaken: closed.offlineNotTaken.map((o) => ({ ...o })), anomalies: closed.anomalies.map((a) => ({ ...a })) },
  });
  if (closed.reportPrinted) out.push({ type: 'receiptPrinted', payload: { stan: 0, copy: 'settlement', reprint: false, batch: closed.batch } });
  if (s.stanLast > 0) out.push({ type: 'stan', payload: { stan: s.stanLast } });
  if (latest.signOn && s.keys && (s.signedOn || s.clockOffsetMs !== undefined)) {
    const { clockOffsetMs: _dropped, ...signOn } = latest.signOn;
    out.push({ type: 'signOn', payload: { ...signOn, ...(s.clockOffsetMs !== undefined ? { clockOffsetMs: s.clockOffsetMs } : {}) } });
    if (!s.signedOn) out.push({ type: 'signOff', payload: { stan: s.stanLast, operator: String(signOn.operator ?? '000'), reason: 'archive' } });
  }
  return out;
}

interface Latest {
  identity?: Record<string, unknown>;
  keys?: Record<string, unknown>;
  signOn?: Record<string, unknown>;
  readonly settings: Map<string, Record<string, unknown>>;
  readonly operators: Map<string, Record<string, unknown>>;
}

function latestRecords(j: Journal): Latest {
  const l: Latest = { settings: new Map(), operators: new Map() };
  for (const r of j.records()) {
    const p = r.payload as Record<string, unknown>;
    if (r.type === RecordType.terminalIdentity) l.identity = p;
    else if (r.type === RecordType.keys) l.keys = p;
    else if (r.type === RecordType.signOn) l.signOn = p;
    else if (r.type === RecordType.settings) {
      // The latest of each kind, in the order the kinds were last written.
      const kind = String(p.kind);
      l.settings.delete(kind);
      l.settings.set(kind, p);
    } else if (r.type === RecordType.operator && p.event === 'deleted') l.operators.delete(String(p.number));
    else if (r.type === RecordType.operator) l.operators.set(String(p.number), p);
  }
  return l;
}

/** The refund index, the holds and the amount profile as carried-state records (oldest first). */
function carriedState(s: TerminalState): Rec[] {
  const sales = [...s.salesByRrn].map(([rrn, o]) => saleEntry(rrn, o));
  const holds = [...s.preAuths.values()].map(holdEntry);
  const parts: Array<Record<string, unknown>> = [{ saleAmountsFen: [...s.saleAmountsFen] }];
  for (let i = 0; i < sales.length; i += CARRIED_SALES_PER_RECORD) parts.push({ salesByRrn: sales.slice(i, i + CARRIED_SALES_PER_RECORD) });
  for (let i = 0; i < holds.length; i += CARRIED_HOLDS_PER_RECORD) parts.push({ preAuths: holds.slice(i, i + CARRIED_HOLDS_PER_RECORD) });
  return parts.map((p, i) => {
    const payload = { part: i + 1, parts: parts.length, ...p };
    // Checked when written: a record over the payload limit would fail the whole archive later.
    invariant(payloadBytes(payload) <= PAYLOAD_BYTES_MAX, 'carried-state record over the payload limit', { part: i + 1 });
    return { type: 'carriedState', payload };
  });
}

function saleEntry(rrn: string, o: OriginalSale): unknown[] {
  return o.hostDate === undefined ? [rrn, o.batch, o.stan] : [rrn, o.batch, o.stan, o.hostDate];
}

function holdEntry(h: PreAuthHold): Record<string, unknown> {
  return {
    batch: h.batch, stan: h.stan, amountFen: h.amountFen, authCode: h.authCode, panEnc: h.panEnc, panMasked: h.panMasked, beganAtMs: h.beganAtMs, state: h.state,
    ...(h.hostDate !== undefined ? { hostDate: h.hostDate } : {}), ...(h.expiry !== undefined ? { expiry: h.expiry } : {}), ...(h.completedBy !== undefined ? { completedBy: h.completedBy } : {}),
  };
}

/** Steps of an archive, in order (tests stop after one, as a power cut would). */
export type ArchiveStep = 'archive-written' | 'built' | SwapStep | 'old-removed';

export interface ArchiveOptions {
  /** The live journal, open and archivable: closed by this call whatever happens. */
  readonly journal: Journal;
  readonly state: TerminalState;
  readonly journalDir: string;
  /** Where archive files go (archiveDirFor(journalDir) on a terminal). */
  readonly archiveDir: string;
  /** Seals the archive (the backup format's device-key mode): it opens only on this terminal. */
  readonly deviceKey: () => Buffer;
  /** The boot checkpoint's key (storage/checkpoint.ts checkpointKey): the new journal gets its checkpoint. */
  readonly checkpointKey?: Buffer;
  readonly clock?: () => number;
  readonly logger?: Logger;
  readonly afterStep?: (step: ArchiveStep) => void;
}

export interface ArchiveResult {
  readonly file: string;
  readonly sha256: string;
  /** Records archived (the old journal's 1..count). */
  readonly count: number;
  /** Records the new journal starts with. */
  readonly carried: number;
}

/** Archives the live journal and puts a new one, carrying its state, in its place. */
export async function archiveJournal(o: ArchiveOptions): Promise<ArchiveResult> {
  const clock = o.clock ?? Date.now;
  const j = o.journal;
  const count = j.lastSeq;
  const digest = j.lastDigest.toString('hex');
  const identity = j.identity;
  const base = j.baseSeq;
  const t = clock();
  removeLeftovers(o.journalDir);
  removeUnlinkedArchives(o.journalDir, j, o.logger);
  let carried: Array<Rec & { timeMs?: number }>;
  let file: string;
  let sha256: string;
  try {
    carried = carriedRecords(j, o.state);
    // Named by the last record's number across archives, as backups are: names sort by it.
    file = join(o.archiveDir, `${identity}-${String(base + count).padStart(10, '0')}-${digest.slice(0, 16)}${ARCHIVE_FILE_SUFFIX}`);
    roomFor(j, o.archiveDir);
    const manifest = exportToFile(j, file, { deviceKey: o.deviceKey, clock });
    try {
      sha256 = readBack(file, manifest.lastDigest, digest);
    } catch (e) {
      // Not an archive anyone may rely on: it goes, the journal stays as it was.
      rmSync(file, { force: true });
      throw e;
    }
  } finally {
    await j.close();
  }
  o.afterStep?.('archive-written');
  const built = `${o.journalDir}.archiving-${t}`;
  let now: number | undefined;
  let checkpoint: Omit<Checkpoint, 'ino' | 'txnId'> | undefined;
  try {
    const fresh = await Journal.open({ dir: built, identity, clock: () => now ?? clock() });
    try {
      await fresh.appendMany([{ type: 'recovery', payload: { action: 'archived', reason: 'settled batches archived', archive: basename(file), archiveSha256: sha256, seq: count, digest, count, baseSeq: base + count } }]);
      for (const r of carried) {
        now = r.timeMs;
        await fresh.appendMany([{ type: r.type, payload: r.payload }], { reserve: true });
        now = undefined;
      }
      // The boot checkpoint of the new journal (storage/checkpoint.ts), written before it is put in
      // place (the rename keeps data.mdb's inode): the boot that archives opens it on the checkpoint
      // path instead of verifying it again in a child. It names an LMDB record: the log goes there first.
      if (o.checkpointKey) {
        fresh.checkpointSync();
        if (fresh.checkpointedSeq === fresh.lastSeq) {
          checkpoint = { identity, seq: fresh.lastSeq, digest: fresh.lastDigest, writtenAtMs: clock(), state: encodeState(Store.load(fresh).state) };
        }
      }
    } finally {
      await fresh.close();
    }
    if (checkpoint && o.checkpointKey) writeCheckpoint(built, o.checkpointKey, checkpoint);
  } catch (e) {
    // A failure before the swap (ENOSPC while the new journal is built, most likely) leaves the old
    // journal live as it was; the staging folder and the archive file no journal links go, so they
    // neither fill the disk nor count against the archives' budget.
    rmSync(built, { recursive: true, force: true });
    rmSync(file, { force: true });
    throw e;
  }
  o.afterStep?.('built');
  const aside = `${o.journalDir}.archived-${t}`;
  swapInDir({ live: o.journalDir, built, aside, afterStep: o.afterStep });
  rmSync(aside, { recursive: true, force: true });
  o.afterStep?.('old-removed');
  o.logger?.info({ file: basename(file), count, carried: carried.length }, 'journal: settled batches archived; a new journal carries the state');
  return { file, sha256, count, carried: carried.length + 1 };
}

/**
 * Refuses (E-STO-01) an archive the disk has no room for: the archive file (about the journal's
 * bytes) and ARCHIVE_FREE_MARGIN_BYTES. Nothing is written then; the next boot tries again.
 */
function roomFor(j: Journal, archiveDir: string): void {
  const free = freeBytes(existsSync(archiveDir) ? archiveDir : dirname(archiveDir));
  if (free === undefined) return;
  const needed = j.usage().usedBytes + ARCHIVE_FREE_MARGIN_BYTES;
  if (free < needed) throw new PosError('STO_FULL', `no room to archive the journal: ${free} bytes free, ${needed} needed`, { freeBytes: free, neededBytes: needed });
}

/**
 * Folders an archive left when a power cut stopped it: a staging folder not put in place (the old
 * journal is still live) and an old journal set aside but not yet removed (the archive file was
 * complete before the swap began). Never the live journal.
 */
export function removeLeftovers(journalDir: string): string[] {
  const parent = dirname(journalDir);
  const name = basename(journalDir);
  if (!existsSync(parent)) return [];
  const gone: string[] = [];
  for (const f of readdirSync(parent)) {
    if (!f.startsWith(`${name}.archiving-`) && !f.startsWith(`${name}.archived-`)) continue;
    rmSync(join(parent, f), { recursive: true, force: true });
    gone.push(f);
  }
  return gone;
}

/**
 * Archive files a power cut left unlinked: written by an archive of the live journal whose swap
 * never happened. Such a file is the live journal's own prefix (its manifest's last record is the
 * live journal's record of that number, with that digest, and its name counts past the live
 * journal's base), so the live journal still holds every record in it; no journal links it and
 * none can (the next archive writes its own). It goes (durably: the folder's fsync), with any mark
 * beside it, so it neither fills the disk nor counts against the archives' budget, where, as the
 * newest, it was kept and pushed exported ones out. A file holding any record the live journal
 * lacks (a journal restored from an older backup beside a later archive) is never one of them.
 * Returns the names removed.
 */
export function removeUnlinkedArchives(journalDir: string, live: Pick<Journal, 'baseSeq' | 'lastSeq' | 'identity' | 'get'>, logger?: Logger): string[] {
  const dir = archiveDirFor(journalDir);
  const gone: string[] = [];
  for (const a of listArchives(journalDir)) {
    const name = basename(a.file);
    const m = a.manifest;
    const prefixOfLive = m.identity === live.identity && m.lastSeq <= live.lastSeq && lastRecordOf(name, m.count) === live.baseSeq + m.lastSeq
      && live.get(m.lastSeq)?.digest.toString('hex') === m.lastDigest;
    if (!prefixOfLive) continue;
    rmSync(a.file, { force: true });
    rmSync(`${a.file}${ARCHIVE_EXPORTED_SUFFIX}`, { force: true });
    gone.push(name);
  }
  if (gone.length > 0) {
    fsyncDir(dir);
    logger?.warn({ removed: gone, liveBaseSeq: live.baseSeq }, 'archive: files an interrupted archive left unlinked removed (the live journal holds their records)');
  }
  return gone;
}

/** SHA-256 of the whole file as it is on the disk, after its trailer and manifest are checked. */
function readBack(file: string, manifestDigest: string, journalDigest: string): string {
  if (manifestDigest !== journalDigest) throw new PosError('STO_BACKUP_INVALID', `archive ${basename(file)} ends at another record than the journal`);
  const d = fileDigests(file);
  if (!d.trailerHolds) throw new PosError('STO_BACKUP_INVALID', `archive ${basename(file)} does not read back as written (trailer digest)`);
  return d.sha256;
}

/** Bytes of the backup format's trailer: the SHA-256 of every byte before it. */
const TRAILER_BYTES = 32;

/**
 * In one read of the file: its SHA-256, and whether its last TRAILER_BYTES are the SHA-256 of the
 * bytes before them (the backup format's trailer).
 */
function fileDigests(file: string): { readonly sha256: string; readonly trailerHolds: boolean } {
  const size = statSync(file).size;
  const bodyBytes = Math.max(0, size - TRAILER_BYTES);
  const body = createHash('sha256');
  const whole = createHash('sha256');
  const trailer = Buffer.alloc(size - bodyBytes);
  const fd = openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < bodyBytes;) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, bodyBytes - at), at);
      if (n <= 0) break;
      body.update(chunk.subarray(0, n));
      whole.update(chunk.subarray(0, n));
      at += n;
    }
    readSync(fd, trailer, 0, trailer.length, bodyBytes);
  } finally {
    closeSync(fd);
  }
  whole.update(trailer);
  return { sha256: whole.digest('hex'), trailerHolds: trailer.length === TRAILER_BYTES && body.digest().equals(trailer) };
}

/** One archive as `pos journal archives` shows it, and what its check found. */
export interface ArchiveCheck {
  readonly file: string;
  readonly count: number;
  readonly createdAtMs: number;
  /** The file's bytes (what it counts against ARCHIVE_BYTES_MAX); a removed one's as it was. */
  readonly bytes: number;
  /** `exported`: its export mark is there; `removed`: removed after its export (its account is kept). */
  readonly status: 'kept' | 'exported' | 'removed';
  /** Named by the journal after it (the live one, or the next archive), with this SHA-256. */
  readonly linked: boolean;
  /**
   * `verified`: SHA-256, every record and the chain checked, and its end is the link's;
   * REMOVED_AFTER_EXPORT: the file is gone and its account names what the link names; else why not.
   */
  readonly verdict?: string;
}

/** The verdict of a linked archive that was removed after its export, by its account. */
export const REMOVED_AFTER_EXPORT = 'removed after export';

/** Verdicts that are not faults (`pos journal archives --verify` exits 4 on any other). */
export function verdictHolds(verdict: string | undefined): boolean {
  return verdict === undefined || verdict === 'verified' || verdict === REMOVED_AFTER_EXPORT;
}

/** Archive files of a journal, oldest first (by when each was written). */
export function listArchives(journalDir: string): Array<{ file: string; manifest: Manifest }> {
  const dir = archiveDirFor(journalDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX) && !f.startsWith('.')).map((f) => ({ file: join(dir, f), manifest: readBackupManifest(join(dir, f)) }))
    .sort((a, b) => a.manifest.createdAtMs - b.manifest.createdAtMs);
}

/**
 * Follows the links from the live journal back through every archive: each link (a journal's
 * record 2, `recovery` `archived`) names a file and its SHA-256; the file must have that digest,
 * import whole (trailer, authentication tag, every record's frame, the chain from the genesis,
 * the manifest), and end at the record and digest the link names. Each import goes to a scratch
 * folder beside the archives (the same disk, not RAM) that is removed after. A file removed after
 * its export is vouched for by its account instead (same name, SHA-256, count and last digest as
 * the link; then the account's own link leads on); a file gone without one is `missing`.
 * Archives no link names are listed unverified.
 */
export async function verifyArchives(journalDir: string, deviceKey: () => Buffer, verify: boolean): Promise<ArchiveCheck[]> {
  const files = listArchives(journalDir);
  const accounts = readRemovalAccounts(journalDir);
  const checks = new Map<string, ArchiveCheck>(files.map(({ file, manifest }) => [basename(file), {
    file, count: manifest.count, createdAtMs: manifest.createdAtMs, bytes: statSync(file).size, status: readExportMark(file) ? 'exported' : 'kept', linked: false,
  }]));
  for (const a of accounts.values()) {
    if (!checks.has(a.archive)) checks.set(a.archive, { file: join(archiveDirFor(journalDir), a.archive), count: a.count, createdAtMs: a.createdAtMs, bytes: a.bytes, status: 'removed', linked: false });
  }
  let link = await linkOf(journalDir, true);
  const seen = new Set<string>();
  while (link && !seen.has(link.archive)) {
    const cur: ArchiveLink = link;
    seen.add(cur.archive);
    link = undefined;
    const c = checks.get(cur.archive);
    if (!c) {
      checks.set(cur.archive, { file: join(archiveDirFor(journalDir), cur.archive), count: cur.count, createdAtMs: 0, bytes: 0, status: 'kept', linked: true, verdict: 'missing' });
      break;
    }
    if (c.status === 'removed') {
      const a = accounts.get(cur.archive);
      const holds = a !== undefined && a.sha256 === cur.archiveSha256 && a.count === cur.count && a.lastDigest === cur.digest;
      checks.set(cur.archive, { ...c, linked: true, verdict: holds ? REMOVED_AFTER_EXPORT : `removed, but its account is not what the journal after it names (SHA-256 ${a?.sha256.slice(0, 16) ?? '?'}... against ${cur.archiveSha256.slice(0, 16)}...)` });
      if (holds && verify) link = a.previous;
      continue;
    }
    checks.set(cur.archive, { ...c, linked: true });
    if (!verify) break;
    const scratch = join(archiveDirFor(journalDir), `.verifying-${process.pid}`);
    rmSync(scratch, { recursive: true, force: true });
    try {
      const sha = fileDigests(c.file).sha256;
      if (sha !== cur.archiveSha256) throw new PosError('STO_BACKUP_INVALID', `SHA-256 ${sha.slice(0, 16)}... is not the ${cur.archiveSha256.slice(0, 16)}... the journal after it names`);
      const r = await importFromFile(c.file, scratch, { deviceKey });
      if (r.manifest.lastDigest !== cur.digest || r.manifest.count !== cur.count) throw new PosError('STO_BACKUP_INVALID', `ends at record ${r.manifest.count}, not the ${cur.count} the journal after it names`);
      checks.set(cur.archive, { ...c, linked: true, verdict: 'verified' });
      link = await linkOf(scratch, false);
    } catch (e) {
      checks.set(cur.archive, { ...c, linked: true, verdict: isPosError(e) ? e.message : String(e) });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return [...checks.values()].sort((a, b) => a.createdAtMs - b.createdAtMs);
}

interface ArchiveLink { readonly archive: string; readonly archiveSha256: string; readonly digest: string; readonly count: number }

/** The archive a journal continues (its record 2), if it continues one. */
async function linkOf(dir: string, readOnly: boolean): Promise<ArchiveLink | undefined> {
  if (!existsSync(join(dir, 'data.mdb'))) return undefined;
  const j = await Journal.open({ dir, readOnly });
  try {
    const r = j.lastSeq >= 2 ? j.get(2) : undefined;
    const p = r?.payload;
    if (r?.type !== RecordType.recovery || p?.action !== 'archived') return undefined;
    if (typeof p.archive !== 'string' || typeof p.archiveSha256 !== 'string' || typeof p.digest !== 'string' || typeof p.count !== 'number') return undefined;
    return { archive: basename(p.archive), archiveSha256: p.archiveSha256, digest: p.digest, count: p.count };
  } finally {
    await j.close();
  }
}


/**
 * Every archive of a journal written again under a passphrase into `target` (the recovery menu's
 * export to a USB stick): an archive is sealed under the device key and opens only on this
 * terminal; what leaves it is sealed as the export is. Each is imported whole first (a damaged one
 * is named, not copied), into a scratch folder beside the archives that is removed after.
 * Returns the files written.
 */
export async function exportArchives(journalDir: string, target: string, passphrase: string, deviceKey: () => Buffer, clock: () => number = Date.now): Promise<string[]> {
  const out: string[] = [];
  for (const { file } of listArchives(journalDir)) {
    const scratch = join(archiveDirFor(journalDir), `.exporting-${process.pid}`);
    rmSync(scratch, { recursive: true, force: true });
    try {
      // The SHA-256 of the file as it is before it is read: the mark names what was exported.
      const sha256 = fileDigests(file).sha256;
      const r = await importFromFile(file, scratch, { deviceKey }, clock);
      const previous = await linkOf(scratch, true);
      const j = await Journal.open({ dir: scratch, readOnly: true });
      let to: string;
      try {
        // `.posarc`, not `.posbak`: the recovery menu's import lists backups only (an archive
        // restored in place of the journal would set the terminal back by a quarter).
        to = join(target, `${ARCHIVE_EXPORT_PREFIX}${basename(file)}`);
        // Durable on the stick when it returns: the file's fsync, the rename, the folder's fsync.
        exportToFile(j, to, { passphrase, clock });
        out.push(to);
      } finally {
        await j.close();
      }
      // Only now: the proof that lets the archive be removed when the archives are over their budget.
      const mark: ExportMark = {
        format: 1, archive: basename(file), sha256, count: r.manifest.count, lastDigest: r.manifest.lastDigest, exportedAtMs: clock(), exportedAs: basename(to),
        ...(previous ? { previous } : {}),
      };
      writeFileDurably(`${file}${ARCHIVE_EXPORTED_SUFFIX}`, `${JSON.stringify(mark)}\n`);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return out;
}

/** An archive as exported (under the export's passphrase): `pos journal import --in` reads it like a backup. */
export const ARCHIVE_EXPORT_PREFIX = 'exported-';

// ---------------------------------------------------------------- retention (the archives' budget)

/**
 * The proof that an archive left the terminal: written beside it (`<name>.exported`, durably) only
 * after the recovery export wrote it to the USB stick and flushed it there (exportToFile: the file's
 * fsync, the rename, the stick folder's fsync). It names the SHA-256 of the file that was exported:
 * a file changed since is not taken as exported.
 */
export interface ExportMark {
  readonly format: 1;
  readonly archive: string;
  readonly sha256: string;
  readonly count: number;
  readonly lastDigest: string;
  readonly exportedAtMs: number;
  /** The file written on the stick. */
  readonly exportedAs: string;
  /** The archive's own link (its record 2) to the one before it, when it continues one. */
  readonly previous?: ArchiveLink;
}

/**
 * What is kept of an archive removed after its export (`<name>.removed`, durably, before the file
 * goes): enough for `pos journal archives --verify` to follow the chain through it.
 */
export interface RemovalAccount extends Omit<ExportMark, 'format'> {
  readonly format: 1;
  /** Its records' numbers across archives (the file name's count is the last). */
  readonly firstRecord: number;
  readonly lastRecord: number;
  readonly bytes: number;
  /** When the archive was written (its manifest's createdAtMs): the listing's order. */
  readonly createdAtMs: number;
  readonly removedAtMs: number;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function asLink(v: unknown): ArchiveLink | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const p = v as Record<string, unknown>;
  if (typeof p.archive !== 'string' || typeof p.archiveSha256 !== 'string' || typeof p.digest !== 'string' || typeof p.count !== 'number') return undefined;
  return { archive: p.archive, archiveSha256: p.archiveSha256, digest: p.digest, count: p.count };
}

/**
 * The fields an export mark and a removal account share (a removal account keeps its archive's
 * export proof), when `v` is a well-formed version-1 document about `archive`.
 */
function exportFieldsOf(v: Record<string, unknown> | undefined, archive: string): ExportMark | undefined {
  if (!v || v.format !== 1 || v.archive !== archive || typeof v.sha256 !== 'string' || typeof v.count !== 'number' || typeof v.lastDigest !== 'string' || typeof v.exportedAtMs !== 'number' || typeof v.exportedAs !== 'string') return undefined;
  const previous = asLink(v.previous);
  return { format: 1, archive, sha256: v.sha256, count: v.count, lastDigest: v.lastDigest, exportedAtMs: v.exportedAtMs, exportedAs: v.exportedAs, ...(previous ? { previous } : {}) };
}

/** The export proof of an archive file, when there is a well-formed one for it. */
export function readExportMark(file: string): ExportMark | undefined {
  return exportFieldsOf(readJson(`${file}${ARCHIVE_EXPORTED_SUFFIX}`), basename(file));
}

/** The removal accounts in an archive folder, by archive name. */
export function readRemovalAccounts(journalDir: string): Map<string, RemovalAccount> {
  const dir = archiveDirFor(journalDir);
  const out = new Map<string, RemovalAccount>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(ARCHIVE_REMOVED_SUFFIX) || f.startsWith('.')) continue;
    const v = readJson(join(dir, f));
    const archive = f.slice(0, -ARCHIVE_REMOVED_SUFFIX.length);
    const exported = exportFieldsOf(v, archive);
    if (!exported || !v || typeof v.firstRecord !== 'number' || typeof v.lastRecord !== 'number' || typeof v.bytes !== 'number' || typeof v.createdAtMs !== 'number' || typeof v.removedAtMs !== 'number') continue;
    out.set(archive, { ...exported, firstRecord: v.firstRecord, lastRecord: v.lastRecord, bytes: v.bytes, createdAtMs: v.createdAtMs, removedAtMs: v.removedAtMs });
  }
  return out;
}

/** The last record's number across archives, from an archive's name (`<identity>-<10 digits>-<16 hex>.posarc`). */
function lastRecordOf(name: string, count: number): number {
  const m = /-(\d{10})-[0-9a-f]{16}\.posarc$/.exec(name);
  return m ? Number(m[1]) : count;
}

/** Steps of a removal, in order (tests stop after one, as a power cut would). */
export type RemovalStep = 'account-written' | 'archive-removed' | 'mark-removed';

export interface ArchiveBudget {
  /** Bytes of the archive files kept (after any removal). */
  readonly totalBytes: number;
  readonly bytesMax: number;
  readonly kept: number;
  /** Archives removed now (their accounts written before). */
  readonly removed: readonly RemovalAccount[];
  /**
   * Over the budget, the archives (oldest first) that hold it there and are not exported: nothing
   * is removed until they are (E-STO-15). Empty when under budget, or when only the newest is left.
   */
  readonly needsExport: readonly string[];
}

export interface BudgetOptions {
  readonly bytesMax?: number;
  readonly clock?: () => number;
  readonly logger?: Logger;
  readonly afterStep?: (step: RemovalStep, archive: string) => void;
}

/**
 * The archives against their budget, read only (diagnostics, the CLI): the marks are taken as they
 * are (the removal checks each file's SHA-256 against its mark first).
 */
export function archiveBudget(journalDir: string, bytesMax = ARCHIVE_BYTES_MAX): ArchiveBudget {
  const files = listArchives(journalDir).map((a) => ({ ...a, bytes: statSync(a.file).size }));
  let total = files.reduce((n, f) => n + f.bytes, 0);
  const needsExport: string[] = [];
  for (const f of files.slice(0, -1)) {
    if (total <= bytesMax) break;
    if (!readExportMark(f.file)) needsExport.push(basename(f.file));
    else total -= f.bytes;
  }
  return { totalBytes: files.reduce((n, f) => n + f.bytes, 0), bytesMax, kept: files.length, removed: [], needsExport: total > bytesMax ? needsExport : [] };
}

/**
 * Keeps the archives within `bytesMax` (storage/JOURNAL_FORMAT.md, "Archive retention"): first
 * finishes a removal a power cut stopped (an account written, the file still there), then, while
 * the files take more than the budget, removes the oldest if it is exported (its mark, and the
 * file's SHA-256 equal to the mark's) and not the newest. The first one that is not exported stops
 * it: the archives kept always continue the chain from the live journal without a gap. Each
 * removal: the account written durably, the file unlinked and the folder fsynced, the mark removed.
 */
export function enforceArchiveBudget(journalDir: string, o: BudgetOptions = {}): ArchiveBudget {
  const bytesMax = o.bytesMax ?? ARCHIVE_BYTES_MAX;
  const clock = o.clock ?? Date.now;
  const dir = archiveDirFor(journalDir);
  const removed: RemovalAccount[] = [];
  const accounts = readRemovalAccounts(journalDir);
  for (const [name, account] of accounts) {
    if (existsSync(join(dir, name))) {
      removeArchiveFile(dir, account, o);
      removed.push(account);
    } else if (existsSync(join(dir, `${name}${ARCHIVE_EXPORTED_SUFFIX}`))) {
      rmSync(join(dir, `${name}${ARCHIVE_EXPORTED_SUFFIX}`), { force: true });
      fsyncDir(dir);
    }
  }
  const files = listArchives(journalDir).map((a) => ({ ...a, bytes: statSync(a.file).size }));
  let total = files.reduce((n, f) => n + f.bytes, 0);
  const needsExport: string[] = [];
  let removedNow = 0;
  let stopped = false;
  for (const f of files.slice(0, -1)) {
    if (total <= bytesMax) break;
    const name = basename(f.file);
    const mark = stopped ? undefined : readExportMark(f.file);
    const proof = mark && mark.count === f.manifest.count && mark.lastDigest === f.manifest.lastDigest && fileDigests(f.file).sha256 === mark.sha256;
    if (!mark || !proof) {
      if (mark && !stopped) o.logger?.warn({ archive: name }, 'archive: changed since its export; kept until exported again');
      stopped = true;
      needsExport.push(name);
      continue;
    }
    const lastRecord = lastRecordOf(name, f.manifest.count);
    const account: RemovalAccount = {
      format: 1, archive: name, sha256: mark.sha256, count: mark.count, lastDigest: mark.lastDigest, exportedAtMs: mark.exportedAtMs, exportedAs: mark.exportedAs,
      ...(mark.previous ? { previous: mark.previous } : {}), firstRecord: lastRecord - f.manifest.count + 1, lastRecord, bytes: f.bytes, createdAtMs: f.manifest.createdAtMs, removedAtMs: clock(),
    };
    writeFileDurably(join(dir, `${name}${ARCHIVE_REMOVED_SUFFIX}`), `${JSON.stringify(account)}\n`);
    o.afterStep?.('account-written', name);
    removeArchiveFile(dir, account, o);
    removed.push(account);
    removedNow += 1;
    total -= f.bytes;
  }
  if (removed.length > 0) o.logger?.info({ removed: removed.map((a) => a.archive), totalBytes: total, bytesMax }, 'archive: exported archives removed to keep within the budget');
  if (total > bytesMax && needsExport.length > 0) o.logger?.warn({ code: 'E-STO-15', needsExport, totalBytes: total, bytesMax }, 'archive: over the budget; the oldest archives are not exported (recovery menu, USB export)');
  return { totalBytes: total, bytesMax, kept: files.length - removedNow, removed, needsExport: total > bytesMax ? needsExport : [] };
}

/** The file, then its mark, each removal made durable (the folder's fsync) before the next step. */
function removeArchiveFile(dir: string, account: RemovalAccount, o: BudgetOptions): void {
  rmSync(join(dir, account.archive), { force: true });
  fsyncDir(dir);
  o.afterStep?.('archive-removed', account.archive);
  rmSync(join(dir, `${account.archive}${ARCHIVE_EXPORTED_SUFFIX}`), { force: true });
  fsyncDir(dir);
  o.afterStep?.('mark-removed', account.archive);
}

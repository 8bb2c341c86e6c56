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
import { closeSync, existsSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PosError, invariant, isPosError } from '../common/errors';
import type { Logger } from '../common/log';
import { Manifest, exportToFile, importFromFile, readBackupManifest } from '../storage/backup';
import { SwapStep, swapInDir } from '../storage/dir-swap';
import { Journal } from '../storage/journal';
import { PAYLOAD_BYTES_MAX, RecordType, RecordTypeName, payloadBytes } from '../storage/record';
import type { OriginalSale, PreAuthHold, TerminalState } from './terminal-state';
import { Checkpoint, writeCheckpoint } from '../storage/checkpoint';
import { encodeState } from './state-snapshot';
import { Store } from './store';

/** Records in the live journal before it is archived: about a quarter of a busy shop's trading. */
export const ARCHIVE_RECORDS_MIN = 50_000;
/** Refund-index entries per carried-state record (each at most ~40 bytes of CBOR). */
const CARRIED_SALES_PER_RECORD = 1_000;
/** Pre-authorization holds per carried-state record (each at most ~200 bytes of CBOR). */
const CARRIED_HOLDS_PER_RECORD = 150;
/** The archive files' folder beside the journal's: `<journal>.archive/`. */
export const ARCHIVE_DIR_SUFFIX = '.archive';
/** What an archive's file name ends with (the backup format). */
export const ARCHIVE_FILE_SUFFIX = '.posarc';

type Rec = { type: RecordTypeName; payload: Record<string, unknown> };

/** Why the journal cannot be archived now, or undefined when it can. */
export function archiveBlocker(s: TerminalState, j: Journal, recordsMin = ARCHIVE_RECORDS_MIN): string | undefined {
  if (j.state !== 'ok') return 'the journal is not writable';
  if (j.lastSeq < recordsMin) return `${j.lastSeq} records, fewer than ${recordsMin}`;
  if (j.deferredCount > 0) return 'a record is not durable yet';
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
  let carried: Array<Rec & { timeMs?: number }>;
  let file: string;
  let sha256: string;
  try {
    carried = carriedRecords(j, o.state);
    // Named by the last record's number across archives, as backups are: names sort by it.
    file = join(o.archiveDir, `${identity}-${String(base + count).padStart(10, '0')}-${digest.slice(0, 16)}${ARCHIVE_FILE_SUFFIX}`);
    const manifest = exportToFile(j, file, { deviceKey: o.deviceKey, clock });
    sha256 = readBack(file, manifest.lastDigest, digest);
  } finally {
    await j.close();
  }
  o.afterStep?.('archive-written');
  const built = `${o.journalDir}.archiving-${t}`;
  let now: number | undefined;
  let checkpoint: Omit<Checkpoint, 'ino' | 'txnId'> | undefined;
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
  o.afterStep?.('built');
  const aside = `${o.journalDir}.archived-${t}`;
  swapInDir({ live: o.journalDir, built, aside, afterStep: o.afterStep });
  rmSync(aside, { recursive: true, force: true });
  o.afterStep?.('old-removed');
  o.logger?.info({ file: basename(file), count, carried: carried.length }, 'journal: settled batches archived; a new journal carries the state');
  return { file, sha256, count, carried: carried.length + 1 };
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
  /** Named by the journal after it (the live one, or the next archive), with this SHA-256. */
  readonly linked: boolean;
  /** `verified`: SHA-256, every record and the chain checked, and its end is the link's; else why not. */
  readonly verdict?: string;
}

/** Archive files of a journal, oldest first (by when each was written). */
export function listArchives(journalDir: string): Array<{ file: string; manifest: Manifest }> {
  const dir = archiveDirFor(journalDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX)).map((f) => ({ file: join(dir, f), manifest: readBackupManifest(join(dir, f)) }))
    .sort((a, b) => a.manifest.createdAtMs - b.manifest.createdAtMs);
}

/**
 * Follows the links from the live journal back through every archive: each link (a journal's
 * record 2, `recovery` `archived`) names a file and its SHA-256; the file must have that digest,
 * import whole (trailer, authentication tag, every record's frame, the chain from the genesis,
 * the manifest), and end at the record and digest the link names. Each import goes to a scratch
 * folder beside the archives (the same disk, not RAM) that is removed after. Archives no link
 * names are listed unverified.
 */
export async function verifyArchives(journalDir: string, deviceKey: () => Buffer, verify: boolean): Promise<ArchiveCheck[]> {
  const files = listArchives(journalDir);
  const checks = new Map<string, ArchiveCheck>(files.map(({ file, manifest }) => [basename(file), { file, count: manifest.count, createdAtMs: manifest.createdAtMs, linked: false }]));
  let link = await linkOf(journalDir, true);
  const seen = new Set<string>();
  while (link && !seen.has(link.archive)) {
    const cur: ArchiveLink = link;
    seen.add(cur.archive);
    link = undefined;
    const c = checks.get(cur.archive);
    if (!c) {
      checks.set(cur.archive, { file: join(archiveDirFor(journalDir), cur.archive), count: cur.count, createdAtMs: 0, linked: true, verdict: 'missing' });
      break;
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
      await importFromFile(file, scratch, { deviceKey }, clock);
      const j = await Journal.open({ dir: scratch, readOnly: true });
      try {
        // `.posarc`, not `.posbak`: the recovery menu's import lists backups only (an archive
        // restored in place of the journal would set the terminal back by a quarter).
        const to = join(target, `${ARCHIVE_EXPORT_PREFIX}${basename(file)}`);
        exportToFile(j, to, { passphrase, clock });
        out.push(to);
      } finally {
        await j.close();
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return out;
}

/** An archive as exported (under the export's passphrase): `pos journal import --in` reads it like a backup. */
export const ARCHIVE_EXPORT_PREFIX = 'exported-';

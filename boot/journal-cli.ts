/**
 * `pos journal verify|dump|export|import|salvage|archives|backups|emv`: the technician's tools for the journal.
 * Exit codes: 0 ok; 2 operating error (code printed); 3 verify found a torn tail (repairable by a
 * normal open); 4 verify or dump found damage, or LMDB cannot read the file (recovery needed; the
 * file is only ever opened by a child process first, so a file that crashes LMDB never kills pos).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PosError, isPosError } from '../common/errors';
import { Command, CommandContext, UsageError, existingDir, existingFile, flagString, intFlag, need } from './cli';
import { Journal } from '../storage/journal';
import { BACKUP_FILE_SUFFIX, backupFileNeedsPassphrase, exportToFile, importFromFile, verifyBackupFile } from '../storage/backup';
import { scheduledBatchOf } from '../storage/scheduled-backup';
import { salvage, salvageTargetProblem } from '../storage/salvage';
import { owedLines } from './salvage-lines';
import { lazy } from '../common/lazy';
import { ARCHIVE_BYTES_MAX, ARCHIVE_FILE_SUFFIX, archiveDirFor, verdictHolds, verifyArchives } from '../runtime/archive';
import { refuseWhileHeld } from '../storage/holders';
import { STAN_GAP_AFTER_REBUILD, appendContinuation, installRebuilt } from '../runtime/rebuild';
import { ChildVerdict, unopenableError, unopenableReason, verdictIsDamage, verifyInChild } from '../storage/verify-child';
import { RecordType, typeName } from '../storage/record';
import { CHECKPOINT_FILE, removeCheckpoint } from '../storage/checkpoint';
import { readBoardFile } from '../hal/board';
import { TZ_OFFSET_MINUTES_DEFAULT, isoInZone } from '../common/time';
import { deviceKeyProviderFor, keyDirFor } from '../runtime/device-key-provider';
import { AIDS_KIND, CA_KEYS_KIND, VERSION_FLAGS_KIND, type VersionFlag, aidsOf, caKeysOf, versionFlagsOf } from '../runtime/records';
import type { AidParams } from '../runtime/host/emv-params';
import type { CaPublicKey } from '../runtime/txn/emv-rsa';
import { todayYyyymmdd } from '../runtime/txn/emv-download';
import { emvParamLines } from './diag-emv';

/**
 * The journal directory: --dir, else $POS_JOURNAL_DIR, else the board file's storage.journalDir.
 * It must exist unless the command creates the journal (import): opening a mistyped path would
 * create it and then report a storage failure ("do not power off, call support") for a typo.
 */
/**
 * The terminal's zone for the times a dump prints: the board file's (--board, $POS_BOARD, else the
 * simulator board), default UTC+8. A dump is read beside the receipts and the screen: the same
 * calendar day, never the process's zone.
 */
function terminalZone(ctx: CommandContext): number {
  try {
    return readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim').config.tzOffsetMinutes;
  } catch {
    return TZ_OFFSET_MINUTES_DEFAULT;
  }
}

export function journalDir(ctx: CommandContext, mustExist = true): string {
  const flag = flagString(ctx, 'dir');
  const env = process.env.POS_JOURNAL_DIR;
  const board = flag || env ? undefined : readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
  const dir = flag || env || board!.config.storage.journalDir; // board is read exactly when neither is set
  if (!mustExist) return dir;
  const from = flag ? '--dir' : env ? '$POS_JOURNAL_DIR' : `storage.journalDir of ${board!.file}; --dir names another`;
  existingDir(dir, from);
  // A folder with no journal in it (a mistyped or empty --dir) is the person's input, not a
  // storage failure (LMDB opening nothing said E-STO-03 "do not power off").
  if (!existsSync(join(dir, JOURNAL_DATA_FILE))) throw new PosError('OPR_INPUT', `no journal in ${dir}: it holds no ${JOURNAL_DATA_FILE} (${from})`);
  return dir;
}

/**
 * The journal in `dir` opened read-only once a child process verified it (LMDB crashes natively on
 * some damaged files, storage/JOURNAL_FORMAT.md), or the verdict's lines when it cannot be read.
 */
export async function openVerifiedReadOnly(dir: string): Promise<Journal | { readonly lines: readonly string[] }> {
  const [v] = await verifyInChild([dir]);
  if (v.status === 'unopenable' || (v.status === 'error' && verdictIsDamage(v))) return { lines: verifyOutcome(v, false).lines };
  return Journal.open({ dir, readOnly: true });
}

/**
 * The software versions the management console flagged bad, as the journal in `dir` holds them
 * (the latest version-flags settings record); none without a journal; `unread` says why they
 * could not be read (then `flags` is empty).
 */
export async function versionFlagsIn(dir: string): Promise<{ readonly flags: readonly VersionFlag[]; readonly unread?: string }> {
  if (!existsSync(join(dir, JOURNAL_DATA_FILE))) return { flags: [] };
  const j = await openVerifiedReadOnly(dir);
  if (!(j instanceof Journal)) return { flags: [], unread: j.lines.join('; ') };
  try {
    // Damaged: the records after the first bad one, a later flag among them, are not read.
    if (j.state === 'damaged') return { flags: [], unread: `journal damaged at record ${j.damage?.seq ?? '?'} (${j.damage?.reason ?? '?'}): run pos journal verify` };
    let flags: readonly VersionFlag[] = [];
    for (const r of j.records()) if (r.type === RecordType.settings && r.payload.kind === VERSION_FLAGS_KIND) flags = versionFlagsOf(r.payload).flags;
    return { flags };
  } finally {
    await j.close();
  }
}

/** The journal's LMDB data file (storage/JOURNAL_FORMAT.md): a folder without it holds no journal. */
const JOURNAL_DATA_FILE = 'data.mdb';

/** The passphrase comes from a file or the environment, never from argv by default (ps shows argv). */
function passphrase(ctx: CommandContext): string | undefined {
  const file = flagString(ctx, 'passphrase-file');
  if (file) return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  return flagString(ctx, 'passphrase') ?? process.env.POS_BACKUP_PASSPHRASE;
}

/**
 * What `journal verify` prints and returns for the child's verdict: 0 ok, 3 torn tail, 4 damage
 * (naming the first bad record, or saying LMDB cannot read the file), 2 anything else.
 */
export function verifyOutcome(v: ChildVerdict, json: boolean): { exitCode: number; lines: string[] } {
  const exitCode = v.status === 'ok' ? 0 : v.status === 'torn-tail' ? 3 : verdictIsDamage(v) ? 4 : 2;
  if (v.status === 'unopenable' || v.status === 'error') {
    const reason = v.status === 'unopenable' ? unopenableReason(v.signal) : v.message.replace(/^E-STO-\d\d /, '');
    const code = v.status === 'unopenable' ? unopenableError(v.signal).code : v.code ?? 'E-STO-03';
    if (json) return { exitCode, lines: [JSON.stringify({ dir: v.dir, status: exitCode === 4 ? 'damaged' : 'error', code, reason })] };
    return { exitCode, lines: [`journal ${v.dir}: ${exitCode === 4 ? 'damaged' : 'error'}`, `  ${code} ${reason}`, ...(exitCode === 4 ? ['  next: pos journal salvage, or pos journal import from a backup'] : [])] };
  }
  const damage = v.status === 'damaged' ? v.damage : undefined;
  const tornTail = v.status === 'torn-tail' ? v.tornTail : undefined;
  if (json) return { exitCode, lines: [JSON.stringify({ dir: v.dir, status: v.status, identity: v.identity, records: v.records, lastGoodSeq: v.lastGoodSeq, lastDigest: v.lastDigest, tornTail, damage, elapsedMs: v.elapsedMs })] };
  const lines = [`journal ${v.dir}: ${v.status}`, `  identity ${v.identity || '(unreadable)'}; ${v.records} records verified (1..${v.lastGoodSeq}) in ${(v.elapsedMs ?? 0).toFixed(0)} ms`];
  if (v.lastDigest) lines.push(`  last digest ${v.lastDigest}`);
  if (v.status === 'torn-tail') lines.push(`  torn last record ${tornTail?.seq ?? v.lastGoodSeq + 1}${tornTail ? ` (${tornTail.reason})` : ''}: cut automatically on the next normal open`);
  if (damage) lines.push(`  E-STO-05 damaged at record ${damage.seq}: ${damage.reason}`, '  next: pos journal salvage, or pos journal import from a backup');
  return { exitCode, lines };
}

const verify: Command = {
  name: 'journal verify', usage: 'journal verify [--dir D | --board B] [--identity ID] [--json]', summary: 'check every record: checksums, chain, gaps',
  async run(ctx) {
    const dir = journalDir(ctx);
    // In a child: LMDB crashes the process on some damaged files (zeroed B-tree pages abort it).
    const [v] = await verifyInChild([dir], flagString(ctx, 'identity'));
    const r = verifyOutcome(v, ctx.flags.has('json'));
    // Damage found on demand also withdraws the boot checkpoint: the next boot verifies the whole
    // journal and stops in recovery, as a boot finding it would (storage/boot-open.ts).
    if (r.exitCode === 4 && existsSync(join(dir, CHECKPOINT_FILE))) {
      removeCheckpoint(dir);
      if (!ctx.flags.has('json')) ctx.out('  boot checkpoint withdrawn: the next boot verifies every record');
    }
    for (const line of r.lines) ctx.out(line);
    return r.exitCode;
  },
};

const dump: Command = {
  name: 'journal dump', usage: 'journal dump [--dir D] [--board B] [--from N] [--to N] [--json]', summary: 'print records (nothing sensitive is stored)',
  async run(ctx) {
    const fromAsked = intFlag(ctx, 'from');
    const toAsked = intFlag(ctx, 'to');
    // An empty range is a typo (the two swapped), not a journal with nothing in it.
    if (fromAsked !== undefined && toAsked !== undefined && toAsked < fromAsked) throw new UsageError(`--to ${toAsked} is before --from ${fromAsked}`);
    // Checked in a child first: a file that crashes LMDB is reported, never opened here.
    const [v] = await verifyInChild([journalDir(ctx)]);
    if (v.status === 'unopenable' || (v.status === 'error' && verdictIsDamage(v))) {
      for (const line of verifyOutcome(v, false).lines) ctx.err(line);
      return 4;
    }
    const j = await Journal.open({ dir: journalDir(ctx), readOnly: true });
    try {
      const zone = terminalZone(ctx);
      const from = intFlag(ctx, 'from') ?? 1;
      const to = Math.min(intFlag(ctx, 'to') ?? j.lastSeq, j.lastSeq);
      for (const r of j.records(from, to)) {
        const payload = JSON.stringify(r.payload, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? `<${((v as { data: number[] }).data).length} bytes>` : v));
        if (ctx.flags.has('json')) ctx.out(JSON.stringify({ seq: r.seq, type: typeName(r.type), timeMs: r.timeMs, payload: JSON.parse(payload) as unknown }));
        else ctx.out(`${String(r.seq).padStart(8)} ${isoInZone(r.timeMs, zone)} ${typeName(r.type).padEnd(18)} ${payload}`);
      }
      if (j.state === 'damaged') {
        ctx.err(`E-STO-05 stopped before damaged record ${j.damage?.seq}: ${j.damage?.reason}`);
        return 4;
      }
    } finally {
      await j.close();
    }
    return 0;
  },
};

const exportCmd: Command = {
  name: 'journal export', usage: 'journal export --out FILE [--dir D | --board B] [--passphrase-file F | --passphrase P]', summary: 'write a verified backup file (AES-256-GCM with a passphrase)',
  async run(ctx) {
    const out = need(ctx, 'out');
    const j = await Journal.open({ dir: journalDir(ctx), readOnly: true });
    try {
      if (j.state === 'damaged') ctx.err(`warning: journal damaged at ${j.damage?.seq}; exporting the ${j.lastSeq} good records before it`);
      // The technician's own export: in clear only when they give no passphrase (README says so).
      const m = exportToFile(j, out, { passphrase: passphrase(ctx), clear: true });
      ctx.out(`exported ${m.count} records (1..${m.lastSeq}) of ${m.identity} to ${out}${m.encrypted ? ' (encrypted)' : ''}`);
    } finally {
      await j.close();
    }
    return 0;
  },
};

const importCmd: Command = {
  name: 'journal import', usage: 'journal import --in FILE [--dir D] [--board B] [--passphrase-file F | --passphrase P]', summary: 'verify a backup, then restore it (the old journal is moved aside)',
  async run(ctx) {
    const dir = journalDir(ctx, false);
    // Not under a running terminal: it would go on writing into the journal moved aside (storage/holders.ts).
    refuseWhileHeld(dir, 'pos journal import');
    // A backup the terminal wrote on its own is sealed under its device key, beside the journal folder.
    // Restored beside, its STAN continued past every one the old journal shows, then put in place.
    const staging = `${dir}.restoring-${Date.now()}`;
    const r = await importFromFile(existingFile(need(ctx, 'in'), '--in'), staging, { passphrase: passphrase(ctx), deviceKey: () => deviceKeyBeside(ctx, dir) });
    refuseWhileHeld(dir, 'pos journal import'); // a terminal started while the backup was verified
    const { continuation: c, movedAside } = await installRebuilt({
      journalDir: dir, builtDir: staging, identity: r.manifest.identity, action: 'restored', reason: 'pos journal import', aside: `${dir}.replaced-${Date.now()}`,
    });
    ctx.out(`restored ${r.manifest.count} records of ${r.manifest.identity}, chain verified`);
    ctx.out(`  STAN continues from ${c.stanHighest} + ${STAN_GAP_AFTER_REBUILD}; batch ${c.batch}`);
    if (movedAside) ctx.out(`previous journal moved to ${movedAside}`);
    return 0;
  },
};

const salvageCmd: Command = {
  name: 'journal salvage', usage: 'journal salvage --out DIR [--dir D | --board B] [--identity ID]', summary: 'rebuild a journal from the intact records of a damaged file',
  async run(ctx) {
    const out = need(ctx, 'out');
    // A mistyped --out (the journal's own folder, a backup folder) is the command line's fault: exit 64.
    const problem = salvageTargetProblem(out);
    if (problem) throw new UsageError(`--out ${out} is not an empty folder (it ${problem}): salvage writes the rebuilt journal into a new or empty folder`);
    // The verify says which record is damaged (a damaged last record has no intact record after
    // it for the scan to notice); in a child, as for verify: LMDB may crash on the file.
    const [checked] = await verifyInChild([journalDir(ctx)], flagString(ctx, 'identity'));
    const damage = checked.status === 'damaged' ? checked.damage : undefined;
    const r = await salvage(journalDir(ctx), out, flagString(ctx, 'identity'), { damagedSeq: damage?.seq });
    if (r.recoveredCount === 0) ctx.err(`E-STO-10 record 1 of ${r.identity} is lost: no journal could be rebuilt; restore from a backup`);
    else {
      const c = await appendContinuation({ journalDir: journalDir(ctx), builtDir: out, identity: r.identity, action: 'salvaged', reason: 'pos journal salvage' });
      ctx.out(`salvaged ${r.recoveredCount} records (1..${r.recoveredLastSeq}) of ${r.identity} into ${r.outDir}`);
      ctx.out(`  STAN continues from ${c.stanHighest} + ${STAN_GAP_AFTER_REBUILD}; batch ${c.batch}`);
    }
    if (r.firstMissingSeq) {
      const why = damage?.seq === r.firstMissingSeq ? ` (damaged: ${damage.reason})` : '';
      const after = r.orphanCount ? '; later records cannot be chained' : '';
      ctx.out(`  record ${r.firstMissingSeq} could not be recovered${why}${after}: check its transaction with the acquirer`);
    }
    if (r.orphanCount) ctx.out(`  ${r.orphanCount} intact records not chained (seq ${r.orphanRanges.join(', ')}) kept in ${r.orphansFile}`);
    if (r.conflictingSeqs.length) ctx.out(`  differing copies found for seq ${r.conflictingSeqs.join(', ')}`);
    for (const line of owedLines(r.owed)) ctx.out(`  ${line.en}`);
    return r.recoveredCount === 0 ? 2 : 0;
  },
};

/**
 * The chip kernel's parameters as the journal holds them (the last ca-keys and aids settings
 * records), as diagnostics shows them under the host check (boot/diag-emv.ts): for a technician
 * at a terminal that will not boot, or a journal copied off one. Key status on today's date in
 * the board's zone. Read-only; the journal is checked in a child first, as for dump.
 */
const emvCmd: Command = {
  name: 'journal emv', usage: 'journal emv [--dir D | --board B] [--locale zh-CN|en] [--json]', summary: 'the downloaded CA public keys and AIDs, with check status and limits',
  async run(ctx) {
    const locale = flagString(ctx, 'locale') ?? 'en';
    if (locale !== 'en' && locale !== 'zh-CN') throw new PosError('OPR_INPUT', '--locale is zh-CN or en');
    const j = await openVerifiedReadOnly(journalDir(ctx));
    if (!(j instanceof Journal)) {
      for (const line of j.lines) ctx.err(line);
      return 4;
    }
    let caKeys: CaPublicKey[] = [];
    let aids: AidParams[] | undefined;
    // "Today" as the terminal reckons it: the machine's clock with the last sign-on's correction
    // from the host's time (a dead RTC's 1970 would call every key valid, a fast one expired).
    let clockOffsetMs = 0;
    try {
      for (const r of j.records()) {
        if (r.type === RecordType.signOn && typeof r.payload.clockOffsetMs === 'number' && Number.isFinite(r.payload.clockOffsetMs)) clockOffsetMs = r.payload.clockOffsetMs;
        if (r.type !== RecordType.settings) continue;
        if (r.payload.kind === CA_KEYS_KIND) caKeys = caKeysOf(r.payload);
        if (r.payload.kind === AIDS_KIND) aids = aidsOf(r.payload);
      }
    } finally {
      await j.close();
    }
    const view = { caKeys, ...(aids === undefined ? {} : { aids }), todayYyyymmdd: todayYyyymmdd(Date.now() + clockOffsetMs, terminalZone(ctx)) };
    const lines = emvParamLines(view);
    if (ctx.flags.has('json')) ctx.out(JSON.stringify(lines.map((l) => (locale === 'en' ? l.en : l.zh))));
    else for (const l of lines) ctx.out(locale === 'en' ? l.en : l.zh);
    return 0;
  },
};

/**
 * The archives of settled batches (runtime/archive.ts): each file, its records and when it was
 * written; with --verify the links are followed from the live journal back through every archive
 * and each one is checked whole. Read-only for the journal.
 */
const archivesCmd: Command = {
  name: 'journal archives', usage: 'journal archives [--dir D] [--verify] [--board B]', summary: 'list the archives of settled batches (size; exported, or removed after export); --verify checks each one and the links between them',
  async run(ctx) {
    const dir = journalDir(ctx);
    const verifyAll = ctx.flags.get('verify') === true;
    const checks = await verifyArchives(dir, () => deviceKeyBeside(ctx, dir), verifyAll);
    if (checks.length === 0) ctx.out(`journal ${dir}: no archive (${archiveDirFor(dir)} holds none)`);
    const STATUS = { kept: 'not exported', exported: 'exported', removed: 'removed after export' } as const;
    for (const c of checks) {
      const when = c.createdAtMs > 0 ? new Date(c.createdAtMs).toISOString() : '-';
      // A removed one's verdict is its status when its account holds: said once.
      const verdict = c.verdict && !(c.status === 'removed' && verdictHolds(c.verdict)) ? `  ${c.verdict}` : '';
      ctx.out(`${basename(c.file)}  ${c.count} records  ${c.bytes} bytes  written ${when}  ${c.linked ? 'linked' : 'not linked'}  ${STATUS[c.status]}${verdict}`);
    }
    const kept = checks.filter((c) => c.status !== 'removed' && c.verdict !== 'missing');
    if (checks.length > 0) ctx.out(`${kept.reduce((n, c) => n + c.bytes, 0)} bytes in ${kept.length} archives kept (budget ${ARCHIVE_BYTES_MAX} bytes; exported ones are removed, oldest first, above it)`);
    const bad = checks.filter((c) => !verdictHolds(c.verdict));
    if (verifyAll && bad.length === 0 && checks.some((c) => c.verdict !== undefined)) ctx.out('every linked archive verified');
    return bad.length > 0 ? 4 : 0;
  },
};

/**
 * The backup folder (README, "Backups"): the terminal's scheduled backups, a factory reset's,
 * hand exports and the archives' copies, newest first, each with what its name and manifest say;
 * with --verify each one checked whole (the terminal's own under its device key; one sealed with
 * a passphrase is said to need it). Read-only.
 */
const backupsCmd: Command = {
  name: 'journal backups', usage: 'journal backups [--backup-dir D | --board B] [--dir D] [--verify]', summary: 'list the backup folder (the SD card): scheduled backups, reset backups, exports, archive copies; --verify checks each one',
  async run(ctx) {
    const { dir, from, board } = backupFolder(ctx);
    if (!existsSync(dir)) throw new PosError('STO_BACKUP_TARGET', `backup folder ${dir} is missing (no SD card?) (${from})`, { dir });
    const files = readdirSync(dir).filter((f) => !f.startsWith('.') && (f.endsWith(BACKUP_FILE_SUFFIX) || f.endsWith(ARCHIVE_FILE_SUFFIX)))
      .map((f) => ({ name: f, stat: statSync(join(dir, f)) }))
      .filter((f) => f.stat.isFile())
      .sort((a, b) => b.stat.mtimeMs - a.stat.mtimeMs || b.name.localeCompare(a.name));
    ctx.out(`backup folder ${dir} (${from}): ${files.length === 0 ? 'no backups' : `${files.length} files`}`);
    const verifyAll = ctx.flags.get('verify') === true;
    // Read once, when the first file needs it (a listing without --verify needs no key).
    const deviceKey = lazy(() => deviceKeyBeside(ctx, journalDir(ctx)));
    const zone = terminalZone(ctx);
    let bad = 0;
    for (const f of files) {
      const file = join(dir, f.name);
      const line = `${f.name}  ${backupKind(f.name)}  ${f.stat.size} bytes  written ${isoInZone(f.stat.mtimeMs, zone)}`;
      if (!verifyAll) { ctx.out(line); continue; }
      const verdict = backupVerdict(file, deviceKey);
      if (!verdict.ok) bad++;
      ctx.out(`${line}  ${verdict.text}`);
    }
    const scheduled = files.filter((f) => scheduledBatchOf(f.name) !== undefined);
    if (scheduled.length > 0) ctx.out(`${scheduled.length} scheduled backups kept (the board keeps ${board?.config.storage.backup.keepCountMax ?? '?'}); the newest after batch ${scheduledBatchOf(scheduled[0].name)}`);
    if (verifyAll && files.length > 0 && bad === 0) ctx.out('every backup verified (or needs its passphrase)');
    return bad > 0 ? 4 : 0;
  },
};

/** The backup folder: --backup-dir, else the board file's storage.backupDir (--board, $POS_BOARD, else the simulator board). */
function backupFolder(ctx: CommandContext): { dir: string; from: string; board?: ReturnType<typeof readBoardFile> } {
  const flag = flagString(ctx, 'backup-dir');
  const board = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
  if (flag) return { dir: flag, from: '--backup-dir', board };
  return { dir: board.config.storage.backupDir, from: `storage.backupDir of ${board.file}; --backup-dir names another`, board };
}

/** What a backup file is, by its name (storage/backup.ts backupFileName, storage/scheduled-backup.ts). */
function backupKind(name: string): string {
  if (name.endsWith(ARCHIVE_FILE_SUFFIX)) return 'archive copy';
  const batch = scheduledBatchOf(name);
  if (batch !== undefined) return `scheduled, after batch ${batch}`;
  if (/-reset\.posbak$/.test(name)) return 'factory reset';
  return 'export';
}

/** One backup checked whole: records and chain, under the device key beside the journal, or "needs its passphrase". */
function backupVerdict(file: string, deviceKey: () => Buffer): { ok: boolean; text: string } {
  try {
    if (backupFileNeedsPassphrase(file)) return { ok: true, text: 'sealed with a passphrase: not verified (pos journal import checks it with the passphrase)' };
    const m = verifyBackupFile(file, { deviceKey });
    return { ok: true, text: `verified: ${m.count} records (${m.firstSeq}..${m.lastSeq}) of ${m.identity}` };
  } catch (e) {
    return { ok: false, text: `NOT VERIFIED: ${isPosError(e) ? e.message : String(e)}` };
  }
}

export const journalCommands: readonly Command[] = [verify, dump, exportCmd, importCmd, salvageCmd, archivesCmd, backupsCmd, emvCmd];

/**
 * The terminal's device key beside a journal folder, from the provider its board file names
 * (--board, $POS_BOARD, else the simulator board: a TPM's sealed key or the file); read, never
 * created (a new key opens nothing).
 */
function deviceKeyBeside(ctx: CommandContext, dir: string): Buffer {
  const board = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
  try {
    return deviceKeyProviderFor(board, keyDirFor(dir), { create: false }).deviceKey();
  } catch (e) {
    if (!isPosError(e) || e.id !== 'KEY_NOT_PROVISIONED') throw e;
    throw new PosError('STO_BACKUP_INVALID', `backup is sealed under a device key: ${String(e.detail.file)} not found (restore it on the terminal that wrote it)`, { file: e.detail.file });
  }
}

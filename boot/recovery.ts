/**
 * The recovery menu's actions (reset button held at boot, or `pos recovery <action>`), as a small
 * typed API the LCD menu and the CLI both call:
 *
 *   const r = new Recovery({ journalDir, backupDir, identity, clock, terminalFor, printer, system });
 *   const session = await r.login('099', '9999');         // administrator, attempts limited
 *   const report = await r.verifyJournal();              // { action, ok, lines, code?, journaled }
 *   await r.exportTo('/media/usb', passphrase, session); await r.factoryReset({ confirmations: 2 }, session)
 *   await r.close();
 *
 * Rules every action follows:
 * - Recovery OWNS the journal while the menu is open: the caller must not hold it open (actions
 *   that replace the journal close and reopen it).
 * - Every action that changes something needs an administrator session (E-OPR-04 otherwise);
 *   verify and the connectivity test are read-only and allowed without one.
 * - Every action writes an adminAction record {action, operator, result} when the journal is
 *   writable (a damaged journal is not written to: `journaled: false` in the report).
 * - Every action returns a Report: lines an LCD pages through or the CLI prints, and the error
 *   code when it failed. Operating errors become reports; broken invariants still throw.
 */
import { SERVICE_OPERATOR } from './service-admin';
import { accessSync, constants, existsSync, readdirSync, renameSync, statSync, copyFileSync, mkdirSync } from 'node:fs';
import { join, basename } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { Journal, setLostLogAside } from '../storage/journal';
import { BACKUP_FILE_SUFFIX, BackupSecret, Manifest, backupFileName, backupFileNeedsPassphrase, backupFilePrefix, backupSeqOf, exportToFile, importFromFile, readBackupManifest } from '../storage/backup';
import { DeviceKeyProvider, fileDeviceKey } from '../runtime/device-key';
import { DEVICE_KEY_FILE, keyDirFor } from '../runtime/device-key-provider';
import { salvage } from '../storage/salvage';
import { owedLines } from './salvage-lines';
import { exportArchives } from '../runtime/archive';
import { installRebuilt } from '../runtime/rebuild';
import { finishInterruptedSwap } from '../storage/dir-swap';
import { verifyInChild, ChildVerdict, isStarved, unopenableError } from '../storage/verify-child';
import { PosError, isPosError, ERRORS, ErrorId } from '../common/errors';
import { Logger, silentLogger } from '../common/log';
import { Operators, Session, requirePermission, mayOpenRecovery, PASSWORD_ATTEMPTS_MAX, RECOVERY_OPERATOR } from '../runtime/operators';
import { Store } from '../runtime/store';
import { Terminal } from '../runtime/terminal';
import { rec, type VersionFlag } from '../runtime/records';
import { settle } from '../runtime/txn/settlement';
import { printReceipt, printSettlementReport, Lang } from '../runtime/receipt';
import { Printer } from '../hal/printer';
import { RecordType } from '../storage/record';
import { NetworkSettings, ConnectivityReport, NetProbes, checkNetworkSettings, testConnectivity } from './recovery-net';
import type { LocalText } from '../ui-lcd/screen';
import { rt, same, local, damageReason } from '../ui-lcd/recovery-strings';
import { NetApplyConfig, CommandRunner, applyNetworkSettings } from './net-apply';
import { exportWriteError } from './usb-stick';
import { scryptKey } from '../runtime/password-kdf';

export { NetworkSettings, ConnectivityReport, NetProbes } from './recovery-net';

/** Wrong administrator passwords per recovery session before the menu locks until a reboot. */
export const RECOVERY_LOGIN_ATTEMPTS_MAX = 3;
/** Confirmations a factory reset needs when the batch is not settled. */
export const RESET_CONFIRMATIONS_UNSETTLED = 2;
export { BACKUP_FILE_SUFFIX };

export type RecoveryAction =
  | 'login' | 'verify' | 'repair' | 'export' | 'import' | 'salvage' | 'resend' | 'reprint-receipt' | 'reprint-report'
  | 'network-settings' | 'network-test' | 'factory-reset' | 'reboot' | 'power-off'
  | 'version' | 'update' | 'diagnostics';

export interface Report {
  readonly action: RecoveryAction;
  readonly ok: boolean;
  /** Short lines in English, for the CLI, JSON output and logs (the English half of `text`). */
  readonly lines: readonly string[];
  /**
   * The same lines in zh-CN and en (ui-lcd/recovery-strings.ts) for the LCD pager, resolved at
   * render time for the current locale (character LCDs: English). Absent on reports built
   * outside Recovery: the LCD then shows `lines`.
   */
  readonly text?: readonly LocalText[];
  /** The error code when `ok` is false. */
  readonly code?: string;
  /** The adminAction record was durably written. */
  readonly journaled: boolean;
  /** Action-specific values (counts, paths, verdicts) for tests and JSON output. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Reboot and power off go through the system (systemd, a PMIC): injected. */
export interface SystemHook {
  reboot(): Promise<void>;
  powerOff(): Promise<void>;
}

export interface RecoveryOptions {
  readonly journalDir: string;
  /** Rolling backups (storage/backup.ts PeriodicBackup): where repair finds the last good one. */
  readonly backupDir: string;
  /** The terminal's identity (serial); read from the journal when absent. */
  readonly identity?: string;
  /** Log files exported beside the journal. */
  readonly logDir?: string;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** Builds the terminal over the open journal (host, config, device key): resend and reprint need it. */
  readonly terminalFor?: (journal: Journal) => Terminal;
  readonly printer?: Printer;
  readonly lang?: Lang;
  readonly merchantName?: string;
  readonly system?: SystemHook;
  /** Network primitives (tests inject loopback ones). */
  readonly net?: Partial<NetProbes>;
  /** How saved network settings reach the OS (board file "network"; default backend "none": stored only). */
  readonly netApply?: NetApplyConfig;
  /** Runs networkctl for netApply (tests inject a recorder). */
  readonly commandRunner?: CommandRunner;
  /** Checks an administrator when the journal cannot be read (no operator records): e.g. a service PIN. */
  readonly fallbackAdmin?: (operator: string, password: string) => Promise<boolean>;
  /**
   * Seals the backups recovery writes on its own (factory reset) and opens them again on import
   * and repair. The terminal application and `pos recovery` pass the board file's provider
   * (runtime/device-key-provider.ts); default: the simulator's key file beside the journal folder.
   */
  readonly deviceKey?: DeviceKeyProvider;
}

export interface ResetPlan {
  readonly settled: boolean;
  readonly confirmationsNeeded: number;
  /** What will be erased, as lines to show before asking (English; `erasesText` in both languages). */
  readonly erases: readonly string[];
  readonly keeps: readonly string[];
  readonly erasesText: readonly LocalText[];
  readonly keepsText: readonly LocalText[];
}

export class Recovery {
  private journal_: Journal | undefined;
  private store_: Store | undefined;
  private terminal_: Terminal | undefined;
  private failedLogins = 0;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly deviceKey: DeviceKeyProvider;

  constructor(private readonly o: RecoveryOptions) {
    this.clock = o.clock ?? Date.now;
    this.log = o.logger ?? silentLogger;
    this.deviceKey = o.deviceKey ?? fileDeviceKey(join(keyDirFor(o.journalDir), DEVICE_KEY_FILE));
  }

  /** What opens a backup here: the passphrase typed (if any) and this terminal's device key. */
  private secret(passphrase: string | undefined): BackupSecret {
    return { ...(passphrase ? { passphrase } : {}), deviceKey: () => this.deviceKey.deviceKey() };
  }

  /**
   * Whether importing `file` needs a passphrase typed: a backup sealed under the device key (the
   * terminal's own: factory reset, periodic) does not. An unreadable file says yes, so the import
   * that follows reports what is wrong with it.
   */
  needsPassphrase(file: string): boolean {
    try { return backupFileNeedsPassphrase(file); } catch { return true; }
  }

  // ------------------------------------------------------------ journal ownership

  /**
   * The open journal (opened on first use; a damaged one opens read-only, appends refused).
   * `checked`: a child's verdict on the closed file taken just before (repair's), not taken again.
   */
  async journal(checked?: ChildVerdict): Promise<Journal> {
    if (!this.journal_) {
      finishInterruptedSwap(this.o.journalDir, this.log);
      // A file that crashes LMDB (zeroed B-tree pages abort it) is never opened in this process.
      const [v] = checked ? [checked] : existsSync(join(this.o.journalDir, 'data.mdb')) ? await verifyInChild([this.o.journalDir], this.o.identity) : [undefined];
      if (v?.status === 'unopenable') throw unopenableError(v.signal);
      this.closedCheck = undefined;
      this.journal_ = await Journal.open({ dir: this.o.journalDir, identity: this.o.identity, clock: this.clock, logger: this.log });
      try {
        this.store_ = Store.load(this.journal_);
      } catch (e) {
        // A journal whose replay breaks an invariant is still exported, verified and salvaged.
        this.log.error({ err: String(e) }, 'recovery: journal replay failed; store unavailable');
      }
    }
    return this.journal_;
  }

  /** Closes what recovery opened. Idempotent. */
  async close(): Promise<void> {
    const j = this.journal_;
    this.journal_ = undefined;
    this.store_ = undefined;
    this.terminal_ = undefined;
    await j?.close();
  }

  /**
   * The verdict of a check of the closed journal (repairRestores), with the file's size and time
   * then: repair reuses it while the file is unchanged, instead of verifying the whole journal in
   * a child again (seconds on a slow board).
   */
  private closedCheck: { verdict: ChildVerdict; stamp: string } | undefined;

  private journalFileStamp(): string {
    try { const st = statSync(join(this.o.journalDir, 'data.mdb')); return `${st.size}:${st.mtimeMs}:${st.ino}`; } catch { return 'absent'; }
  }

  /** The closed journal's verdict: the check repairRestores made if the file has not changed since, else a new one. */
  private async closedVerdict(): Promise<ChildVerdict> {
    const check = this.closedCheck;
    this.closedCheck = undefined;
    if (check && check.stamp === this.journalFileStamp()) return check.verdict;
    const [v] = await verifyInChild([this.o.journalDir], this.o.identity);
    return v;
  }

  /**
   * Whether repair will restore a backup: the journal is damaged or cannot be opened. The menu
   * asks a backup's passphrase only then (a healthy journal, or a torn tail, needs none). Closes
   * the journal; repair reuses this check.
   */
  async repairRestores(): Promise<boolean> {
    await this.close();
    const stamp = this.journalFileStamp();
    const [verdict] = await verifyInChild([this.o.journalDir], this.o.identity);
    this.closedCheck = { verdict, stamp };
    // A lost log is repaired by keeping data.mdb as it is: no backup, no passphrase.
    return !repairableInPlace(verdict) && !(verdict.status === 'damaged' && verdict.damage.logLost === true);
  }

  private async identity(): Promise<string | undefined> {
    if (this.o.identity) return this.o.identity;
    try { return (await this.journal()).identity; } catch { return undefined; }
  }

  /**
   * The management console's flag on `version` (docs/MANAGEMENT.md `flag-version`), as the
   * journal holds it; undefined when none, or when the journal cannot be opened or replayed
   * (the version item says what it can without it).
   */
  async versionFlag(version: string): Promise<VersionFlag | undefined> {
    try { await this.journal(); } catch { return undefined; }
    return this.store_?.state.versionFlags?.find((f) => f.version === version);
  }

  private async terminal(): Promise<Terminal> {
    if (this.terminal_) return this.terminal_;
    if (!this.o.terminalFor) throw new PosError('OPR_INPUT', 'this recovery menu has no host configuration: resend and reprint need the terminal');
    const j = await this.journal();
    this.terminal_ = this.o.terminalFor(j);
    // The terminal's store now writes this journal; recovery's admin records go through it.
    this.store_ = this.terminal_.store;
    return this.terminal_;
  }

  // ------------------------------------------------------------ login

  /**
   * Checks an administrator's password. Wrong passwords count twice over: in the journal (the
   * operator's lockout survives a power cut) and in this session (the menu locks after
   * RECOVERY_LOGIN_ATTEMPTS_MAX even when the journal is read-only).
   */
  async login(operator: string, password: string): Promise<Session> {
    return this.admit(await this.authenticate(operator, password));
  }

  /**
   * The password check of `login` without the role check: any operator's session (a cashier's
   * too), so a menu can say "administrator required" instead of a generic refusal. Wrong
   * passwords count exactly as in `login`. Pass the result to `admit` to open the menu.
   */
  async authenticate(operator: string, password: string): Promise<Session> {
    if (this.failedLogins >= RECOVERY_LOGIN_ATTEMPTS_MAX) throw this.sessionLocked();
    let session: Session;
    try {
      session = await this.check(operator, password);
    } catch (e) {
      if (isPosError(e) && (e.kind === 'auth-failed' || e.kind === 'locked-out' || e.id === 'OPR_UNKNOWN')) {
        this.failedLogins++;
        await this.journalAction('login', operator, `refused ${e.code}`);
        // Two limits apply (this session's and the operator's in the journal): the count shown is
        // the smaller, and the attempt that uses this session's last try locks at once, so a
        // screen never says "2 tries left" and then locks.
        const sessionLeft = RECOVERY_LOGIN_ATTEMPTS_MAX - this.failedLogins;
        if (sessionLeft <= 0 && e.id !== 'OPR_LOCKED') throw this.sessionLocked();
        if (e.id === 'OPR_PASSWORD') {
          const journalLeft = typeof e.detail.attemptsLeft === 'number' ? e.detail.attemptsLeft : sessionLeft;
          throw new PosError('OPR_PASSWORD', e.message.replace(/^E-OPR-02 /, ''), { ...e.detail, attemptsLeft: Math.min(sessionLeft, journalLeft) });
        }
      }
      throw e;
    }
    return session;
  }

  /** This session's limit (not the operator's lock in the journal): a reboot starts a new session. */
  private sessionLocked(): PosError {
    return new PosError('OPR_RECOVERY_LOCKED', `recovery menu locked after ${this.failedLogins} wrong passwords: power off and on`, { attemptsLeft: 0 });
  }

  /**
   * Opens the menu for an authenticated session: administrators only (E-OPR-04, journaled,
   * otherwise). `serviceOnly` (the LCD menu: boot/README.md, "Who opens the recovery menu"): the
   * service administrator only; a merchant's administrator is refused the same way.
   */
  async admit(session: Session, o: { serviceOnly?: boolean } = {}): Promise<Session> {
    try {
      requirePermission(session, 'recovery');
      if (o.serviceOnly && !mayOpenRecovery(session)) throw new PosError('OPR_PERMISSION', `the recovery menu is the service administrator's (${RECOVERY_OPERATOR}), not operator ${session.operator}'s`, { permission: 'recovery', needed: 'service administrator' });
    } catch (e) {
      await this.journalAction('login', session.operator, `refused ${isPosError(e) ? e.code : 'E-OPR-04'}`);
      throw e;
    }
    await this.journalAction('login', session.operator, 'ok');
    return session;
  }

  private async check(operator: string, password: string): Promise<Session> {
    let j: Journal | undefined;
    try { j = await this.journal(); } catch (e) { this.log.error({ err: String(e) }, 'recovery: journal unreadable for login'); }
    const store = this.store_;
    const op = store?.state.operators.get(operator);
    if (!op) {
      if (this.o.fallbackAdmin && (await this.o.fallbackAdmin(operator, password))) return { operator, role: 'administrator' };
      // The service administrator exists outside the journal: a wrong password is one, not "unknown".
      if (this.o.fallbackAdmin && operator === SERVICE_OPERATOR) throw new PosError('OPR_PASSWORD', `wrong password for the service administrator ${operator}`, { operator });
      throw new PosError('OPR_UNKNOWN', `operator ${operator} does not exist`, { operator });
    }
    if (j && j.state === 'ok' && store) {
      // Writable: the runtime's own login journals the attempt and locks at PASSWORD_ATTEMPTS_MAX.
      return new Operators(store, () => Buffer.alloc(0)).login(operator, password);
    }
    if (op.locked || op.failedAttempts >= PASSWORD_ATTEMPTS_MAX) throw new PosError('OPR_LOCKED', `operator ${operator} is locked`, { operator });
    // The runtime's own check (its parameters checked before node sees them, the addon's table).
    const hash = await scryptKey(password, op.salt, op.passwordHash.length, op.scryptN);
    if (!timingSafeEqual(hash, op.passwordHash)) throw new PosError('OPR_PASSWORD', `wrong password for operator ${operator}`, { operator });
    return { operator, role: op.role };
  }

  // ------------------------------------------------------------ journal actions

  /** Verifies every record in a child process (a file that crashes LMDB is reported, not fatal). */
  async verifyJournal(): Promise<Report> {
    const [v] = await verifyInChild([this.o.journalDir], this.o.identity);
    const lines = verdictLines(v);
    const ok = v.status === 'ok' || v.status === 'torn-tail';
    const backups = this.backups();
    lines.push(backups.length ? rt('verify.lastBackup', { file: basename(backups[0]) }) : rt('verify.noBackup'));
    // Verify changes nothing: a torn or damaged journal is not opened for writing (which would
    // cut the tail) just to record that it was looked at.
    if (v.status !== 'ok') return { action: 'verify', ok, ...texts(lines), journaled: false, detail: { verdict: v, backups }, ...(ok ? {} : { code: 'E-STO-05' }) };
    return this.done('verify', undefined, ok, lines, { verdict: v, backups });
  }

  /**
   * Repairs the journal: a torn tail is cut by a normal open; damage (or a file LMDB cannot open)
   * is replaced by the newest backup that verifies (the damaged journal is moved aside, never
   * deleted). Records after that backup are reported as lost: salvage may still recover them.
   */
  async repair(session: Session, passphrase?: string): Promise<Report> {
    requirePermission(session, 'recovery');
    await this.close();
    const v = await this.closedVerdict();
    if (repairableInPlace(v)) {
      const j = await this.journal(v);
      const lines = [v.status === 'ok' ? rt('repair.nothing') : rt('repair.tornCut', { seq: 'lastGoodSeq' in v ? v.lastGoodSeq + 1 : '?' }), rt('repair.verified', { records: j.lastSeq })];
      return this.done('repair', session, true, lines, { verdict: v.status, records: j.lastSeq });
    }
    // The log lost (deleted, written over): data.mdb is whole up to the damage, and a backup is
    // older than it. The journal goes on from data.mdb's last record; the loss is reported.
    if (v.status === 'damaged' && v.damage.logLost) {
      const aside = setLostLogAside(this.o.journalDir, this.clock);
      const j = await this.journal();
      const lines = [rt('repair.logLost', { from: v.damage.seq }), rt('repair.verified', { records: j.lastSeq }), ...(aside ? [rt('repair.logKeptAt', { path: aside })] : [])];
      return this.done('repair', session, true, lines, { logLost: true, from: v.damage.seq, records: j.lastSeq, ...(aside ? { movedAside: aside } : {}) });
    }
    const damagedAt = 'lastGoodSeq' in v ? v.lastGoodSeq : 0;
    for (const file of this.backups()) {
      try {
        const r = await this.restoreRebuilt(file, passphrase, 'repair: newest backup that verifies');
        const lines = [rt('repair.restored', { count: r.manifest.count, file: basename(file) }), rt('repair.keptAt', { path: r.movedAside ?? '-' })];
        if (damagedAt > r.manifest.lastSeq) lines.push(rt('repair.notInBackup', { from: r.manifest.lastSeq + 1, to: damagedAt }), rt('repair.trySalvage'));
        return this.done('repair', session, true, lines, { restoredFrom: file, records: r.manifest.count, movedAside: r.movedAside });
      } catch (e) {
        if (!isPosError(e, 'backup-invalid')) throw e;
        this.log.warn({ file, err: e.message }, 'recovery: backup did not verify; trying an older one');
      }
    }
    const status = v.status === 'damaged' ? rt('status.damaged') : v.status === 'unopenable' ? rt('status.unopenable') : rt('status.error');
    return this.done('repair', session, false, [rt('repair.journalStatus', { status }), rt('repair.noBackup')], { verdict: v.status }, 'E-STO-10');
  }

  /**
   * Exports the journal (encrypted backup), the logs and the archives of settled batches (each
   * sealed again under the passphrase) to a USB stick or path. A missing, read-only or busy
   * target is E-STO-09; a write that fails there (I/O error, full, pulled out) E-STO-14, and the
   * terminal's own storage failing meanwhile E-STO-03 (boot/usb-stick.ts exportWriteError): never
   * the unknown error E-SYS-99. Works on a damaged journal: the good records are exported.
   */
  async exportTo(target: string, passphrase: string, session: Session): Promise<Report> {
    requirePermission(session, 'recovery');
    if (!passphrase) throw new PosError('OPR_INPUT', 'a passphrase is needed: exports are encrypted');
    checkTarget(target);
    const j = await this.journal().catch((e: unknown) => {
      if (isPosError(e)) throw e;
      throw new PosError('STO_IO', `the journal could not be read for the export (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { journalDir: this.o.journalDir }, { cause: e });
    });
    const file = join(target, backupFileName(j.identity, j.baseSeq + j.lastSeq));
    let logs = 0;
    let archives: string[] = [];
    try {
      exportToFile(j, file, { passphrase, clock: this.clock });
      logs = this.copyLogs(join(target, `logs-${j.identity}-${this.clock()}`));
      // The archives of settled batches go too, sealed as this export is (runtime/archive.ts).
      archives = await exportArchives(this.o.journalDir, target, passphrase, () => this.deviceKey.deviceKey(), this.clock);
    } catch (e) {
      throw exportWriteError(e, target);
    }
    const lines = [rt('export.done', { records: j.lastSeq }), same(basename(file)), rt('export.logs', { n: logs }), ...(archives.length ? [rt('export.archives', { n: archives.length })] : [])];
    if (j.state === 'damaged') lines.push(rt('export.damaged', { seq: j.damage?.seq ?? '?' }));
    return this.done('export', session, true, lines, { file, records: j.lastSeq, logs, archives });
  }

  /** Restores a backup (verified before anything is written; the current journal is moved aside). */
  async importBackup(file: string, passphrase: string | undefined, session: Session): Promise<Report> {
    requirePermission(session, 'recovery');
    let manifest: Manifest;
    try { manifest = readBackupManifest(file); } catch (e) {
      if (isPosError(e)) throw e;
      throw new PosError('STO_EXPORT_TARGET', `${file}: cannot read the backup (${(e as NodeJS.ErrnoException).code ?? String(e)}): insert the USB stick`, { file });
    }
    // The manifest's identity is checked again under the key: it is the AES-GCM tag's additional
    // data, so the import below refuses a file whose manifest was changed.
    const identity = await this.identity();
    if (identity && manifest.identity !== identity) throw new PosError('STO_IDENTITY', `backup belongs to ${manifest.identity}, this terminal is ${identity}`);
    await this.close();
    const r = await this.restoreRebuilt(file, passphrase, 'import of a backup');
    return this.done('import', session, true, [rt('import.restored', { count: r.manifest.count }), rt('import.chain'), rt('import.previous', { path: r.movedAside ?? rt('word.none') })], { records: r.manifest.count, movedAside: r.movedAside });
  }

  /**
   * Salvages the intact records of a damaged file into a new journal and puts it in place; the
   * damaged directory is kept beside it (`<dir>.damaged-<time>`), and orphans.bin with it.
   */
  async salvage(session: Session): Promise<Report> {
    requirePermission(session, 'recovery');
    const identity = await this.identity();
    // The damaged record as the open's verify found it: a damaged last record has nothing intact
    // after it, and the salvage names it lost only when told (SalvageOptions).
    const damagedSeq = await this.journal().then((j) => j.damage?.seq, () => undefined);
    await this.close();
    const out = `${this.o.journalDir}.salvaged-${this.clock()}`;
    const r = await salvage(this.o.journalDir, out, identity, { damagedSeq });
    const lines = [rt('salvage.recovered', { n: r.recoveredCount, last: r.recoveredLastSeq })];
    if (r.orphanCount) lines.push(rt('salvage.orphans', { n: r.orphanCount, ranges: r.orphanRanges.join(',') }));
    lines.push(...owedLines(r.owed));
    if (r.recoveredCount === 0) return this.done('salvage', session, false, [...lines, rt('salvage.nothing')], { ...r }, 'E-STO-10');
    // The STAN continues past every one the damaged file shows (runtime/rebuild.ts).
    const aside = `${this.o.journalDir}.damaged-${this.clock()}`;
    await installRebuilt({ journalDir: this.o.journalDir, builtDir: out, identity: r.identity, action: 'salvaged', reason: 'salvage of a damaged journal', aside, clock: this.clock, logger: this.log });
    lines.push(rt('salvage.keptAt', { name: basename(aside) }));
    return this.done('salvage', session, true, lines, { ...r, movedAside: aside });
  }

  /**
   * Restores a backup into a staging directory beside the journal, then puts it in place with its
   * continuation (runtime/rebuild.ts): the old journal is moved to `<dir>.replaced-<time>`.
   */
  private async restoreRebuilt(file: string, passphrase: string | undefined, reason: string): Promise<{ manifest: { count: number; lastSeq: number; identity: string }; movedAside?: string }> {
    const staging = `${this.o.journalDir}.restoring-${this.clock()}`;
    const r = await importFromFile(file, staging, this.secret(passphrase), this.clock);
    const { movedAside } = await installRebuilt({
      journalDir: this.o.journalDir, builtDir: staging, identity: r.manifest.identity, action: 'restored', reason: `${reason}: ${basename(file)}`,
      aside: `${this.o.journalDir}.replaced-${this.clock()}`, clock: this.clock, logger: this.log,
    });
    return { manifest: r.manifest, movedAside };
  }

  // ------------------------------------------------------------ pending work and reprints

  /** Sends what is pending: the reversal, issuer script notices (0620), an unfinished settlement, captured signatures. */
  async resendPending(session: Session): Promise<Report> {
    requirePermission(session, 'recovery');
    const t = await this.terminal();
    const e = t.engine;
    e.lastSession ??= session;
    const lines: LocalText[] = [];
    let failed: PosError | undefined;
    const step = async (name: LocalText, fn: () => Promise<LocalText>): Promise<void> => {
      try { lines.push(rt('resend.step', { name, result: await fn() })); } catch (err) {
        if (!isPosError(err)) throw err;
        failed ??= err;
        lines.push(rt('resend.step', { name, result: err.code }));
      }
    };
    const flushed = { none: rt('word.none'), cleared: rt('resend.cleared'), pending: rt('resend.pending') } as const;
    await step(rt('resend.reversal'), async () => (e.state.pendingReversal ? flushed[await e.flushReversal()] : rt('word.none')));
    await step(rt('resend.scriptNotices'), async () => {
      if (e.pendingScriptNotices() === 0) return rt('word.none');
      const n = await e.resendScriptNotices(session);
      return rt('resend.sentLeft', { sent: n.sent, left: n.left });
    });
    await step(rt('resend.settlement'), async () => {
      if (!e.state.settlement) return rt('word.none');
      const r = await settle(e, undefined);
      return rt('resend.batch', { batch: r.batch, verdict: rt(`verdict.${r.verdict}`) });
    });
    await step(rt('resend.signatures'), async () => rt('resend.uploaded', { n: await e.uploadSignatures() }));
    return this.done('resend', session, failed === undefined, lines, {}, failed?.code);
  }

  async reprintLastReceipt(session: Session): Promise<Report> {
    requirePermission(session, 'reprint');
    const t = await this.terminal();
    const last = t.engine.lastReceipt();
    if (!last) throw new PosError('OPR_NOT_FOUND', 'no approved transaction in the open batch');
    // A copy pending here may have printed before the power cut that lost its deferred mark: a duplicate, as at boot.
    const mayHavePrinted = t.engine.pendingCopies().some((p) => p.stan === last.stan && p.copy === 'merchant');
    const marked = await printReceipt(this.printContext(t), last.stan, 'merchant', { mayHavePrinted, durable: true });
    return this.done('reprint-receipt', session, true, [rt('reprint.receipt', { stan: String(last.stan).padStart(6, '0') }), ...(marked ? [rt('reprint.duplicate')] : [])], { stan: last.stan });
  }

  async reprintLastReport(session: Session): Promise<Report> {
    requirePermission(session, 'reprint');
    const t = await this.terminal();
    const closed = t.engine.state.lastClosed;
    if (!closed) throw new PosError('OPR_NOT_FOUND', 'no settlement since the journal began');
    await printSettlementReport(this.printContext(t), true);
    return this.done('reprint-report', session, true, [rt('reprint.report', { batch: String(closed.batch).padStart(6, '0') })], { batch: closed.batch });
  }

  private printContext(t: Terminal): Parameters<typeof printReceipt>[0] {
    if (!this.o.printer) throw new PosError('PRN_DISCONNECTED', 'no printer in this recovery menu');
    return { printer: this.o.printer, engine: t.engine, lang: this.o.lang ?? 'zh', merchantName: this.o.merchantName ?? '', clock: this.clock };
  }

  // ------------------------------------------------------------ network

  /** The network settings in force: the last `settings` record of kind "network". */
  async networkSettings(): Promise<NetworkSettings | undefined> {
    const j = await this.journal();
    let found: NetworkSettings | undefined;
    for (const r of j.records()) if (r.type === RecordType.settings && r.payload.kind === 'network') found = r.payload.network as NetworkSettings;
    return found;
  }

  /**
   * Stores network settings and applies them for the OS (board file "network"): the OS file is
   * written first, so a failed write (E-NET-07, old file in place) stores nothing; the journal
   * record follows. When networkctl fails after the file is in place, the settings are stored
   * (the file takes effect at the next boot) and the report fails with E-NET-07.
   */
  async saveNetworkSettings(settings: NetworkSettings, session: Session): Promise<Report> {
    requirePermission(session, 'recovery');
    checkNetworkSettings(settings);
    const config = this.o.netApply ?? { backend: 'none' as const };
    const applied = await applyNetworkSettings(settings, config, this.o.commandRunner);
    await this.write([{ type: 'settings', payload: { kind: 'network', network: { ...settings } } }]);
    const lines = networkLines(settings);
    if (applied.backend === 'none') lines.push(rt('net.storedOnly'));
    else {
      lines.push(rt('net.applied', { interface: settings.interface, backend: applied.backend }));
      if (applied.reloadSkipped) lines.push(rt('net.noReload'));
      else if (!applied.reloadError) lines.push(rt('net.reloaded', { commands: applied.commands.map((c) => c.replace('networkctl ', '')).join(', ') }));
    }
    if (applied.reloadError) {
      lines.push(same(applied.reloadError), ...errorLines('NET_APPLY'));
      return this.done('network-settings', session, false, lines, { settings, applied }, 'E-NET-07');
    }
    return this.done('network-settings', session, true, lines, { settings, applied });
  }

  /** Interface, address, gateway, DNS, TCP connect, in order; stops at the first failure. */
  async testNetwork(settings?: NetworkSettings, session?: Session): Promise<Report> {
    const s = settings ?? (await this.networkSettings());
    if (!s) throw new PosError('NET_NO_ADDRESS', 'no network settings saved yet: Settings > Network');
    const r: ConnectivityReport = await testConnectivity(s, this.o.net);
    const lines = r.steps.map((st) => rt('nettest.line', { status: rt(st.ok ? 'nettest.ok' : 'nettest.fail'), step: rt(`step.${st.step}`), code: st.code ? ` ${st.code}` : '', detail: st.text ?? st.detail }));
    return this.done('network-test', session, r.ok, lines, { steps: r.steps }, r.firstFailure?.code);
  }

  // ------------------------------------------------------------ factory reset

  /** What a factory reset would erase, to show BEFORE asking for confirmation. */
  async factoryResetPlan(): Promise<ResetPlan> {
    await this.journal();
    const s = this.store_?.state;
    const txns = s ? [...s.txns.values()].filter((t) => t.status === 'approved').length : 0;
    // A QR payment still unresolved is money the host may hold: not settled either.
    const settled = s !== undefined && txns === 0 && !s.pendingReversal && !s.pendingQrQuery && !s.settlement;
    const erasesText = [
      rt(settled ? 'reset.txns' : 'reset.txnsUnsettled', { n: s?.txns.size ?? '?', batch: s?.batch ?? '?' }),
      s?.pendingReversal ? rt('reset.reversal', { stan: s.pendingReversal.stan }) : rt('reset.noReversal'),
      rt(s?.keys ? 'reset.keys' : 'reset.noKeys'),
      rt('reset.settings'),
    ];
    const keepsText = [rt('reset.keepIdentity'), rt('reset.keepOperators'), rt('reset.keepJournal'), rt('reset.keepBackup')];
    return { settled, confirmationsNeeded: settled ? 1 : RESET_CONFIRMATIONS_UNSETTLED, erases: erasesText.map((l) => l.en), keeps: keepsText.map((l) => l.en), erasesText, keepsText };
  }

  /**
   * Factory reset: a backup first, the journal moved aside (never deleted), a new journal with the
   * same identity record (and the factory-injected master key record); operators are carried so
   * an administrator can still log in. Unsettled transactions need two confirmations.
   */
  async factoryReset(confirm: { readonly confirmations: number; readonly passphrase?: string }, session: Session): Promise<Report> {
    requirePermission(session, 'factoryReset');
    const plan = await this.factoryResetPlan();
    if (confirm.confirmations < plan.confirmationsNeeded) {
      throw new PosError('OPR_CANCELLED', `factory reset needs ${plan.confirmationsNeeded} confirmations (${plan.settled ? 'settled' : 'batch not settled'}); nothing erased`);
    }
    const j = await this.journal();
    const identity = j.identity;
    const carried = carriedRecords(j);
    mkdirSync(this.o.backupDir, { recursive: true });
    const backup = join(this.o.backupDir, backupFileName(identity, j.baseSeq + j.lastSeq, 'reset'));
    // Sealed: under the passphrase when one was given (the shell), else the device key (the LCD
    // asks for none): this file holds every transaction of the terminal and may leave it.
    exportToFile(j, backup, { ...this.secret(confirm.passphrase), clock: this.clock });
    await this.close();
    const aside = `${this.o.journalDir}.reset-${this.clock()}`;
    // Built beside and put in place whole, its STAN continued past the old journal's: a reset
    // terminal that started again at STAN 1 would send STANs the host already has.
    const building = `${this.o.journalDir}.building-${this.clock()}`;
    const fresh = await Journal.open({ dir: building, identity, clock: this.clock, logger: this.log });
    try {
      if (carried.length) await fresh.appendMany(carried, { reserve: true });
    } finally {
      await fresh.close();
    }
    await installRebuilt({ journalDir: this.o.journalDir, builtDir: building, identity, action: 'reset', reason: 'factory reset', aside, clock: this.clock, logger: this.log });
    return this.done('factory-reset', session, true, [...plan.erasesText.map((what) => rt('reset.erased', { what })), rt('reset.backup', { file: basename(backup) }), rt('reset.oldJournal', { name: basename(aside) })], { backup, movedAside: aside, carried: carried.length });
  }

  // ------------------------------------------------------------ power

  async reboot(session: Session): Promise<Report> {
    return this.power('reboot', session);
  }

  async powerOff(session: Session): Promise<Report> {
    return this.power('power-off', session);
  }

  private async power(action: 'reboot' | 'power-off', session: Session): Promise<Report> {
    requirePermission(session, 'recovery');
    if (!this.o.system) throw new PosError('OPR_INPUT', 'no system hook: cannot reboot or power off from here');
    const report = await this.done(action, session, true, [rt(action === 'reboot' ? 'power.rebooting' : 'power.off')]);
    await this.close(); // every record durable and LMDB closed before the power goes
    await (action === 'reboot' ? this.o.system.reboot() : this.o.system.powerOff());
    return report;
  }

  /**
   * Journals an action done outside this class (software update, diagnostics) the same way as
   * its own: an adminAction record when the journal is writable; returns the Report.
   */
  async note(action: RecoveryAction, session: Session | undefined, ok: boolean, lines: ReadonlyArray<string | LocalText>, detail?: Record<string, unknown>, code?: string): Promise<Report> {
    return this.done(action, session, ok, lines.map(local), detail, code);
  }

  // ------------------------------------------------------------ internals

  /**
   * Backup files of this terminal, newest first: by the last record's number in the name (a
   * backup's own content), then by the file's time. The time alone misorders backups written
   * while the clock was wrong (a dead RTC's 1970), and repair restores the first that verifies.
   */
  backups(): string[] {
    if (!existsSync(this.o.backupDir)) return [];
    const id = this.o.identity ?? this.journal_?.identity;
    const files = readdirSync(this.o.backupDir)
      .filter((f) => f.endsWith(BACKUP_FILE_SUFFIX) && (!id || f.startsWith(backupFilePrefix(id))))
      .map((f) => ({ file: join(this.o.backupDir, f), seq: backupSeqOf(f, id), mtimeMs: statSync(join(this.o.backupDir, f)).mtimeMs }));
    return files
      .sort((a, b) => (a.seq !== undefined && b.seq !== undefined && a.seq !== b.seq ? b.seq - a.seq : b.mtimeMs - a.mtimeMs || b.file.localeCompare(a.file)))
      .map((x) => x.file);
  }

  private copyLogs(to: string): number {
    if (!this.o.logDir || !existsSync(this.o.logDir)) return 0;
    mkdirSync(to, { recursive: true });
    let n = 0;
    for (const f of readdirSync(this.o.logDir)) {
      if (!statSync(join(this.o.logDir, f)).isFile()) continue;
      copyFileSync(join(this.o.logDir, f), join(to, f));
      n++;
    }
    return n;
  }

  private async write(records: Array<{ type: 'settings' | 'adminAction'; payload: Record<string, unknown> }>): Promise<void> {
    const j = await this.journal();
    if (this.store_) await this.store_.commit(records, { reserve: true });
    else await j.appendMany(records, { reserve: true });
  }

  /** Writes the admin-action record when the journal is writable; never fails the action. */
  private async journalAction(action: RecoveryAction, operator: string, result: string): Promise<boolean> {
    try {
      const j = await this.journal();
      if (j.state !== 'ok') return false;
      const r = rec.adminAction({ action: `recovery:${action}`, operator, result });
      await this.write([{ type: 'adminAction', payload: r.payload }]);
      return true;
    } catch (e) {
      this.log.warn({ action, err: String(e) }, 'recovery: admin action not journaled');
      return false;
    }
  }

  private async done(action: RecoveryAction, session: Session | undefined, ok: boolean, lines: readonly LocalText[], detail?: Record<string, unknown>, code?: string): Promise<Report> {
    const journaled = await this.journalAction(action, session?.operator ?? '-', ok ? 'ok' : `failed ${code ?? ''}`.trim());
    return { action, ok, ...texts(lines), journaled, ...(code ? { code } : {}), ...(detail ? { detail } : {}) };
  }
}

/** An error's steps from the error list, in both languages. */
function errorLines(id: ErrorId): LocalText[] {
  const d = ERRORS[id];
  return d.zh.steps.map((zh, i) => ({ en: d.en.steps[i] ?? zh, zh }));
}

/** A report's lines in both languages (`text`) and their English half (`lines`). */
export function texts(text: readonly LocalText[]): { lines: string[]; text: LocalText[] } {
  return { lines: text.map((l) => l.en), text: [...text] };
}

/** The lines a network settings report shows: DHCP or the static address, and the host. */
export function networkLines(s: NetworkSettings, now = false): LocalText[] {
  const address = s.mode === 'dhcp' ? rt(now ? 'net.nowDhcp' : 'net.dhcp') : rt(now ? 'net.nowStatic' : 'net.static', { address: s.address ?? '?', prefix: s.prefixLength ?? '?' });
  return [address, rt('net.host', { host: s.host, port: s.port })];
}

/** A journal repair fixes where it is: healthy, or a torn tail a normal open cuts. */
function repairableInPlace(v: ChildVerdict): boolean {
  return v.status === 'ok' || v.status === 'torn-tail';
}

function verdictLines(v: ChildVerdict): LocalText[] {
  switch (v.status) {
    case 'ok': return [rt('verify.ok', { records: v.records })];
    case 'torn-tail': return [rt('verify.tornRecords', { records: v.records }), rt('verify.tornLast', { seq: v.lastGoodSeq + 1 })];
    case 'damaged': return [rt('verify.damagedAt', { code: 'E-STO-05', seq: v.damage.seq }), damageReason(v.damage.reason), rt('verify.goodBefore', { records: v.records })];
    case 'error': return [rt('verify.error', { code: v.code ?? 'error', message: v.message })];
    case 'unopenable':
      if (isStarved(v)) return [rt('verify.starved', { code: 'E-STO-03' }), rt('verify.checkStorage')];
      return [rt('verify.unopenable', { code: 'E-STO-05', signal: v.signal }), rt('verify.runSalvage')];
  }
}

/** A USB stick or path that is there and writable; anything else is E-STO-09. */
function checkTarget(target: string): void {
  try {
    if (!statSync(target).isDirectory()) throw new Error('not a directory');
    accessSync(target, constants.W_OK);
  } catch (e) {
    throw new PosError('STO_EXPORT_TARGET', `export target ${target} is missing, not a folder or not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): insert a USB stick or free the port`, { target });
  }
}

/** The records a factory reset keeps: identity, the factory master key, the operators (those not deleted). */
function carriedRecords(j: Journal): Array<{ type: 'terminalIdentity' | 'settings' | 'operator'; payload: Record<string, unknown> }> {
  let identity: Record<string, unknown> | undefined;
  let tmk: Record<string, unknown> | undefined;
  const operators = new Map<string, Record<string, unknown>>();
  for (const r of j.records()) {
    if (r.type === RecordType.terminalIdentity) identity = r.payload;
    else if (r.type === RecordType.settings && r.payload.kind === 'tmk') tmk = r.payload;
    // An operator deleted (runtime/operators.ts remove) is not carried: its number is free again.
    else if (r.type === RecordType.operator && r.payload.event === 'deleted') operators.delete(String(r.payload.number));
    else if (r.type === RecordType.operator) operators.set(String(r.payload.number), r.payload);
  }
  const out: Array<{ type: 'terminalIdentity' | 'settings' | 'operator'; payload: Record<string, unknown> }> = [];
  if (identity) out.push({ type: 'terminalIdentity', payload: identity });
  if (tmk) out.push({ type: 'settings', payload: tmk });
  for (const p of operators.values()) out.push({ type: 'operator', payload: { ...p, failedAttempts: 0, locked: false, event: 'created' } });
  return out;
}


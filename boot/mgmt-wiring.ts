/**
 * Wiring of the management channel (runtime/mgmt/, docs/MANAGEMENT.md) into a running terminal:
 * the board file's `management` section becomes a client configuration (its CA, password,
 * certificate and key read from their files), and the terminal application's parts become the
 * `MgmtTerminal` the client commands. Off unless the board file names a broker.
 *
 *   const mgmt = startManagement(board.config.management, app, logger, clock); // undefined: off
 *   ...; await mgmt?.stop();
 */
import { readFileSync } from 'node:fs';
import { PosError } from '../common/errors';
import type { Logger } from '../common/log';
import type { ManagementBoardConfig } from '../hal/board-schema';
import { anomalyDigest } from '../runtime/anomaly';
import type { TerminalStatus } from '../runtime/host/messages-v2';
import { ManagementClient, MgmtConfig, MgmtTerminal, MgmtUpdater } from '../runtime/mgmt/client';
import { applyParamsPatch } from '../runtime/mgmt/params';
import { ReceiptQueue } from '../runtime/mgmt/receipt-queue';
import type { StatusInput } from '../runtime/mgmt/protocol';
import type { Terminal } from '../runtime/terminal';
import type { ErrorRing } from './diagnostics';

/** Error codes the status lists (newest first, repeats folded). */
export const STATUS_ERRORS_MAX = 5;
/** Credential and certificate files larger than this are not what the board file meant. */
const CREDENTIAL_FILE_BYTES_MAX = 64 * 1024;

/** What the terminal application offers the management channel. */
export interface ManagedApp {
  /** The 0820/362 status upload's figures (boot/terminal-app.ts terminalStatus). */
  statusUpload(): TerminalStatus;
  readonly errors: ErrorRing;
  /** The open terminal (journal, engine); undefined in recovery or before the journal is open. */
  terminal(): Terminal | undefined;
  /** The machine's dotted state ('idle', 'sale.amount', 'recovery.locked'). */
  machineState(): string;
  network(): Readonly<Record<string, string | number | boolean>>;
  charging(): boolean | undefined;
  /** The automatic diagnostics, run without the screen (boot/diagnostics.ts). */
  runDiagnostics(): Promise<unknown>;
  /** The newest structured log lines, at most maxBytes, from sinceMs on (boot/log-source.ts). */
  logs(maxBytes: number, sinceMs?: number): Promise<{ readonly text: string; readonly source: string; readonly truncated?: boolean }>;
  restart(): Promise<void>;
  /** The lock changed: redraw the idle screen (its notice) now rather than at the next tick. */
  sellingLockChanged?(): void;
  /** The version flags changed: the running version's notice set or ended, and the screen redrawn. */
  versionFlagsChanged?(): void;
  /** A/B update slots (boot/mgmt-update.ts mgmtUpdater), when the board file has an update section. */
  readonly updater?: MgmtUpdater;
}

function readCredential(path: string, field: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    if (Buffer.byteLength(text) > CREDENTIAL_FILE_BYTES_MAX) throw new Error(`more than ${CREDENTIAL_FILE_BYTES_MAX} bytes`);
    return text;
  } catch (e) {
    throw new PosError('BRD_INVALID', `management.${field} ${path}: ${e instanceof Error ? e.message : String(e)}`, { field: `management.${field}`, path });
  }
}

/**
 * The client configuration from the board file's section; files are read now (a missing one is
 * E-BRD-01 naming it). `sealedPassword` opens the factory's sealed password (`passwordSealed`).
 */
export function managementConfig(m: ManagementBoardConfig, serial: string, sealedPassword?: () => string): MgmtConfig {
  if (m.passwordSealed && !sealedPassword) throw new PosError('BRD_INVALID', 'management.passwordSealed: this terminal has no device key to open it', { field: 'management.passwordSealed' });
  return {
    url: m.url,
    serial,
    username: m.username ?? serial,
    ...(m.passwordFile ? { password: readCredential(m.passwordFile, 'passwordFile').trim() } : {}),
    ...(m.passwordSealed && sealedPassword ? { password: sealedPassword() } : {}),
    ...(m.caFile ? { caPem: readCredential(m.caFile, 'caFile'), caFile: m.caFile } : {}),
    ...(m.certFile && m.keyFile ? { certPem: readCredential(m.certFile, 'certFile'), keyPem: readCredential(m.keyFile, 'keyFile') } : {}),
    ...(m.heartbeatS ? { heartbeatMs: m.heartbeatS * 1000 } : {}),
    ...(m.allowPlain ? { allowPlain: true } : {}),
  };
}

/** States in which a reboot loses nothing: no sale, settlement, menu or recovery action under way. */
export function isSafeToReboot(state: string): boolean {
  return state === 'idle' || state.startsWith('login');
}

/** The versions the open journal holds flagged ([] in recovery or before the journal is open). */
function flaggedVersions(app: ManagedApp): string[] {
  return (app.terminal()?.engine.versionFlags ?? []).map((f) => f.version);
}

function versionFlagStatus(app: ManagedApp, running: string): { versionFlagged: boolean; flaggedVersions: string[] } {
  const flagged = flaggedVersions(app);
  return { versionFlagged: flagged.includes(running), flaggedVersions: flagged };
}

/** The application seen as the management client needs it. */
export function managedTerminal(app: ManagedApp): MgmtTerminal {
  return {
    status: (): StatusInput => {
      const s = app.statusUpload();
      const engine = app.terminal()?.engine;
      const flags = engine?.anomalies() ?? [];
      const codes = [...new Set(app.errors.last(STATUS_ERRORS_MAX * 4).map((e) => e.code))].slice(0, STATUS_ERRORS_MAX);
      const digest = anomalyDigest(flags);
      const charging = app.charging();
      return {
        version: s.softwareVersion, batteryPercent: s.batteryPercent, ...(charging !== undefined ? { charging } : {}), storageFreeKiB: s.freeJournalKiB,
        network: app.network(), lastErrors: codes, ...(digest !== '00' ? { anomalyDigest: digest } : {}), anomalies: flags.map((f) => f.rule),
        sellingLocked: app.terminal()?.engine.sellingLock !== undefined, ...versionFlagStatus(app, s.softwareVersion), state: app.machineState(), uptimeS: s.uptimeS,
      };
    },
    setParams: async (patch) => {
      const t = app.terminal();
      if (!t) throw new PosError('MGT_FAILED', 'the journal is not open (recovery or boot): parameters cannot be changed now');
      return applyParamsPatch(t.store, patch);
    },
    diagnostics: () => app.runDiagnostics(),
    logs: (maxBytes, sinceMs) => app.logs(maxBytes, sinceMs),
    isIdle: () => isSafeToReboot(app.machineState()),
    reboot: () => app.restart(),
    // Journaled (runtime/records.ts selling-lock); the state machine refuses sales while it holds.
    setSellingLocked: async (locked, reason, commandId) => {
      const t = app.terminal();
      if (!t) throw new PosError('MGT_FAILED', 'the journal is not open (recovery or boot): selling cannot be locked or unlocked now');
      await t.engine.setSellingLock(locked, reason, commandId);
      app.sellingLockChanged?.();
    },
    setVersionFlag: async (version, bad, reason, commandId) => {
      const t = app.terminal();
      if (!t) throw new PosError('MGT_FAILED', 'the journal is not open (recovery or boot): versions cannot be flagged now');
      await t.engine.setVersionFlag(version, bad, reason, commandId);
      app.versionFlagsChanged?.();
    },
    flaggedVersions: () => flaggedVersions(app),
    ...(app.updater ? { updater: app.updater } : {}),
  };
}

/**
 * Starts the channel when the board file names a broker; undefined otherwise. `updaterFor` builds
 * the A/B updater with the management CA (pinned for the update download too), when the terminal
 * has update slots.
 */
export function startManagement(
  section: ManagementBoardConfig | undefined, serial: string, app: ManagedApp, logger: Logger, clock: () => number,
  updaterFor?: (caPem: string) => MgmtUpdater | undefined,
  sealedPassword?: () => string,
  receiptQueueDir?: string,
): ManagementClient | undefined {
  if (!section) return undefined;
  const config = managementConfig(section, serial, sealedPassword);
  const updater = updaterFor && config.caPem !== undefined ? updaterFor(config.caPem) : undefined;
  const log = logger.child({ component: 'mgmt' });
  const receiptQueue = receiptQueueDir === undefined ? undefined : openReceiptQueue(receiptQueueDir, log);
  return ManagementClient.start({ config, terminal: managedTerminal(updater ? { ...app, updater } : app), logger: log, clock, ...(receiptQueue ? { receiptQueue } : {}) });
}

/**
 * The durable e-receipt queue (runtime/mgmt/receipt-queue.ts) in the storage folder; a folder that
 * cannot be made or read leaves the receipts in the in-memory outbox, said in the log.
 */
function openReceiptQueue(dir: string, log: Logger): ReceiptQueue | undefined {
  try {
    const q = ReceiptQueue.open(dir, { logger: log });
    if (q.length > 0) log.info({ queued: q.length, dropped: q.dropped }, 'e-receipts waiting from before the restart: sent when the broker is there');
    return q;
  } catch (e) {
    log.warn({ dir, err: String(e) }, 'e-receipt queue cannot be opened: receipts wait in memory only (lost at a restart)');
    return undefined;
  }
}

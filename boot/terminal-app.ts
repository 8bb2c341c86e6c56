/**
 * The terminal application: one board (real or simulated), one journal, one acquirer, and the
 * state machine between them, shown on the board's display and driven from its keypad.
 *
 *   const app = await TerminalApp.start({ board, journalDir, backupDir, host: { host, port }, logger });
 *   app.probe   // for the simulator's control interface: state, view data, screen text
 *   await app.stop();
 *
 * Boot, with its progress on the display (ui-lcd 'boot' screen):
 *   1. self-test: the board file was validated when the board was loaded; every role gets one real
 *      transfer (board.selfTest). Every failed part is logged and shown on the idle/login footer,
 *      one after another, each its code, cause and first step in turns (faultNotice,
 *      boot/boot-faults.ts), until it answers again (partAnswered; the card reader's own fault as
 *      its health's notice, which ends when it answers again: runtime/txn/reader-health.ts); only
 *      a display, keypad or battery gauge that cannot work stops the terminal (recovery).
 *   2. reset button: held through boot for the board's resetHoldMs and then released opens recovery
 *      (administrator login, recovery menu). Still held at stuckMs: KBD_RESET_STUCK is reported (the
 *      notice until it is released) and the terminal boots normally (a stuck button is not a request).
 *   3. journal (storage/boot-open.ts): with an intact boot checkpoint, opened in-process and only
 *      the records after it verified and replayed (the state snapshot it carries); the whole
 *      journal is verified again in the background, in a child process. Without one (or after a
 *      boot that died opening it), verified in a child process first (LMDB can crash on garbage
 *      pages), then opened in-process. A damaged journal goes to recovery, found at boot or in the
 *      background. The checkpoint is written again once the first operator screen shows. A simulator board's first boot provisions
 *      it (test identity, default operators); a real board refuses test identities (E-KEY-03).
 *   4. pending work (reversal, settlement, unprinted receipts): the machine's pendingWork state.
 *
 * Then every machine state is drawn through boot/screen-map.ts and keys go through
 * boot/input.ts. On a board with a signature pad (signature0) that passed its self-test, the
 * 'sale.signature' state captures from it: OK confirms (SIGNATURE {image}), CLEAR redoes, CANCEL,
 * OK with nothing signed or no confirm within SIGNATURE_CAPTURE_MS mean "sign on paper" (SKIP);
 * a pad that fails mid-capture is dropped and the screen falls back to signing the receipt. Battery level changes become BATTERY events; paper reloaded while the machine
 * waits in paperOut becomes PAPER_LOADED.
 */
import { mkdirSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createActor, Actor } from 'xstate';
import type { Logger } from '../common/log';
import type { Board, SelfTestResult } from '../hal/board';
import type { DeviceConfig } from '../hal/board-schema';
import type { Button } from '../hal/button';
import type { CardReader } from '../hal/card-reader';
import type { KeyEvent, KeyName } from '../hal/keypad';
import type { DisplayCapabilities } from '../hal/display';
import { SignaturePad, isSignatureAborted } from '../hal/signature-pad';
import { SIGNATURE_BYTES_MAX, SIGNATURE_PIXELS_MAX } from '../runtime/txn/engine';
import { ERRORS, PosError, errorByCode, isPosError } from '../common/errors';
import { Journal } from '../storage/journal';
import { openForBoot, verifyInBackground } from '../storage/boot-open';
import { acquireTerminalLock } from './terminal-lock';
import { InUse } from './in-use';
import { Checkpoint, checkpointKey, writeCheckpoint } from '../storage/checkpoint';
import { decodeState, encodeState } from '../runtime/state-snapshot';
import type { TerminalState } from '../runtime/terminal-state';
import { backupFileName, exportToFile } from '../storage/backup';
import { createTerminalMachine, viewOf, MachineView, TerminalMachine } from '../runtime/machine';
import type { TerminalStatus } from '../runtime/host/messages-v2';
import { openTerminal, Terminal } from '../runtime/terminal';
import { HostTransport, hostLink } from '../runtime/host/transport';
import { FailoverTransport } from '../runtime/host/failover';
import type { SimPinEntry } from './sim-pin';
import type { WifiMenu } from './wifi-menu';
import { modemFault } from '../hal/modem';
import type { ModemView } from '../ui-lcd/screens';
import { TlsLink } from '../runtime/host/tls';
import { CUP_PROFILE } from '../runtime/host/fields';
import { DeviceKeyProvider, checkDeviceKey } from '../runtime/device-key';
import { ARCHIVE_BYTES_MAX, ARCHIVE_RECORDS_MIN, archiveBlocker, archiveDirFor, archiveJournal, enforceArchiveBudget, listArchives, removeUnlinkedArchives } from '../runtime/archive';
import { ScheduledBackup } from '../storage/scheduled-backup';
import { BACKUP_DEFAULTS } from '../hal/board-schema';
import { deviceKeyProviderFor, keyDirFor } from '../runtime/device-key-provider';
import { readCard } from '../runtime/txn/card';
import { SwipeFailures } from '../runtime/txn/swipe-failures';
import { ReaderHealth } from '../runtime/txn/reader-health';
import { QR_SHOW_CHARS_MAX } from '../runtime/host/messages-v2';
import { LcdUi } from '../ui-lcd/ui';
import { screenFor } from '../ui-lcd/screens';
import { LocaleSetting, resolve as resolveText, t as text } from '../ui-lcd/strings';
import type { StringKey } from '../ui-lcd/strings';
import { renderEReceipt } from '../ui-lcd/widgets/qr-code';
import type { LocalText } from '../ui-lcd/screen';
import type { Locale, Screen, Txt } from '../ui-lcd/screen';
import { NOTICE_TURN_MS, noticeTurnCount, renderScreen } from '../ui-lcd/screen';
import { layout } from '../ui-lcd/layout';
import { pixelGrid } from '../ui-lcd/render-pixels';
import { errorScreen } from '../ui-lcd/error-screens';
import { InputController } from './input';
import { Env, chooseScreen, errorDetails as stateErrorDetails, errorNotice, recoveryReasonData } from './screen-map';
import { SIM_IDENTITY, simulatorGenesis, simulatorIdentity, simulatorOperators, realIdentity, identityOf } from './sim-provision';
import { readProvisionedTmk } from './factory';
import { completeFirstBootProvisioning } from './first-boot-seal';
import { TEST_TERMINAL } from '../common/test-terminal';
import type { Recovery, Report, NetworkSettings, SystemHook } from './recovery';
import type { checkLinks } from './link-check';
import { LogRing, LogSourceName, journaldLogs, maskCardNumbers, newestWithin } from './log-source';
import type { Overlay } from './recovery-menu';
import type { Diagnostics, DiagnosticsDeps, DiagResult } from './diagnostics';
import { ErrorRing } from './error-ring';
import { lazy } from '../common/lazy';
import type * as MgmtWiring from './mgmt-wiring';
import type * as MgmtUpdate from './mgmt-update';
import type * as MgmtCredentials from '../runtime/mgmt/credentials';
import type { ManagementClient, MgmtLinkState } from '../runtime/mgmt/client';
import type * as MgmtProtocol from '../runtime/mgmt/protocol';
import { eReceiptUrl } from '../runtime/receipt';
import { boardPrintPower, boardPrinter, printPowerOk } from '../runtime/print-power';
import type { Printer } from '../hal/printer';
import { RecordType } from '../storage/record';
import { SCRYPT_N_DEFAULT, type Session } from '../runtime/operators';
import { expectPasswordCheck } from '../runtime/password-kdf';
import { AdjustableClock, monotonicMs } from '../common/time';
import { EmvParamsView } from './diag-emv';
import { todayYyyymmdd } from '../runtime/txn/emv-download';
import { BootFaults, STUCK_KEYS_SOURCE, faultsNotice } from './boot-faults';
import { SlotStateError, readState } from './update-slots';

// Loaded on first use, not at start (common/lazy.ts; issue 14 goal 6): idle needs none of them.
/** The keypad's "device gone" code (common/errors.ts BRD_INPUT_GONE): its notice ends with the next key. */
const KEYPAD_GONE_CODE = ERRORS.BRD_INPUT_GONE.code;
/** The keypad's role (board.keypad()'s default): its faults' entry in the boot faults. */
const KEYPAD_ROLE = 'keypad0';
/** The reset button held through boot (E-KBD-02): its entry, apart from the button role's own self-test fault. */
const RESET_HELD_SOURCE = 'reset button held';
/** board.scanner()'s role. */
const SCANNER_ROLE = 'scanner0';
const recoveryModule = lazy(() => require('./recovery') as typeof import('./recovery'));
const recoveryMenuModule = lazy(() => require('./recovery-menu') as typeof import('./recovery-menu'));
const usbStickModule = lazy(() => require('./usb-stick') as typeof import('./usb-stick'));
const recoveryNetModule = lazy(() => require('./recovery-net') as typeof import('./recovery-net'));
const diagnosticsModule = lazy(() => require('./diagnostics') as typeof import('./diagnostics'));
const linkCheckModule = lazy(() => require('./link-check') as typeof import('./link-check'));
const netApplyModule = lazy(() => require('./net-apply') as typeof import('./net-apply'));
const wifiMenuModule = lazy(() => require('./wifi-menu') as typeof import('./wifi-menu'));
const simPinModule = lazy(() => require('./sim-pin') as typeof import('./sim-pin'));
const wifiStateModule = lazy(() => require('./wifi-state') as typeof import('./wifi-state'));
const tlsCredentialsModule = lazy(() => require('../runtime/host/tls-credentials') as typeof import('../runtime/host/tls-credentials'));

/** Whether an overlay is diagnostics, without loading diagnostics (none can be before it loaded). */
function isDiagnostics(overlay: Overlay): overlay is Diagnostics {
  const D = diagnosticsModule.ifLoaded()?.Diagnostics;
  return D !== undefined && overlay instanceof D;
}

export const BOOT_STEP_COUNT = 5;
/** The merchant's name on the slip until the host's parameter download names it (DF11). */
const MERCHANT_NAME_DEFAULT = 'DEMO SHOP';
/** The durable e-receipt queue's folder in the storage folder (the journal's parent). */
export const RECEIPT_QUEUE_DIR = 'receipt-queue';
/** The background verify waits this long after a checkpointed boot (the first sale comes first). */
export const BACKGROUND_VERIFY_DELAY_MS = 10_000;
/** Runs of the background verify a boot starts at most (each one stopped by a long use of the terminal starts it again). */
const BACKGROUND_VERIFY_RUNS_MAX = 20;
/** The boot checkpoint is written this long after the first operator screen is drawn. */
const CHECKPOINT_AFTER_SCREEN_MS = 100;
/** Card wait per transaction (the machine's card state). */
export const CARD_WAIT_MS_MAX = 60_000;
/** How long the scanner waits for the customer's payment code (as long as for a card). */
export const SCAN_WAIT_MS_MAX = CARD_WAIT_MS_MAX;
export const TICK_MS = 500;
/**
 * The archive's boot again (archiveWhenQuiet) carries the operator at idle to its login screen if
 * that screen comes within this long: the boot itself takes seconds; later, someone else may hold
 * the terminal.
 */
export const SESSION_ACROSS_BOOT_MS_MAX = 60_000;
/** How often the battery is read (the driver's own poll is slow; a level change should show soon). */
export const BATTERY_POLL_MS = 2_000;
/** Reads of the gauge in a row that fail before the status line drops its last figure (one may be a glitch). */
export const BATTERY_READ_FAILURES_MAX = 2;
export const PAPER_POLL_MS = 1_000;
/** An update rolled back is on the notice this long after the roll-back (noteUpdateResult). */
export const UPDATE_NOTICE_MS_MAX = 3 * 24 * 3_600_000;
/** The boot faults' entry of the last update's result (noteUpdateResult): no part's role. */
const UPDATE_SOURCE = 'update';
/** The boot faults' entry of a running version the management console flagged bad (noteVersionFlag). */
const VERSION_FLAG_SOURCE = 'version-flag';
/** The signature pad's role (board files name it so: hal/board-schema.ts). */
const SIGNATURE_PAD_ROLE = 'signature0';
/** How long the signature screen waits for the cardholder before falling back to paper. */
export const SIGNATURE_CAPTURE_MS = 120_000;
/** Key-to-screen figures kept for the probe (the last ones). */
const KEY_TIMINGS_KEPT_MAX = 50;

export interface TerminalAppOptions {
  readonly board: Board;
  readonly journalDir: string;
  readonly backupDir: string;
  readonly host: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  readonly clock?: () => number;
  /**
   * Tests only: the main loop's period (default TICK_MS). The notice tests run the terminal's clock
   * ahead a turn at a time and wait for the tick to redraw each turn.
   */
  readonly tickMs?: number;
  /** Tests only (--test-timings, boot/test-timings.ts): how often the battery is read (default BATTERY_POLL_MS). */
  readonly batteryPollMs?: number;
  /** Tests only (--test-timings): how often the paper sensor is read (default PAPER_POLL_MS). */
  readonly paperPollMs?: number;
  /** Tests only (--test-timings): how long a boot waits for another terminal's journal lock (default TERMINAL_LOCK_WAIT_MS_MAX). */
  readonly terminalLockWaitMs?: number;
  /** Tests only (--test-timings): how long each turn of a notice shows (default NOTICE_TURN_MS). */
  readonly noticeTurnMs?: number;
  readonly locale?: Locale;
  readonly merchantName?: Txt;
  /** Default: a key file beside the journal directory (simulator-grade; a device uses its secure element). */
  readonly deviceKey?: DeviceKeyProvider;
  /** The terminal master key of a real board (the factory station injects it). */
  readonly tmk?: () => Buffer;
  /** Password hashing cost (tests lower it). */
  readonly scryptN?: number;
  /** At critical battery, after the journal is closed. */
  readonly onShutdown?: () => void;
  /** Wall-clock ms when the process started, for the boot-to-idle figure. */
  readonly processStartMs?: number;
  /** The last errors of the log (diagnostics "last errors"); terminal-main feeds it from pino. */
  readonly errors?: ErrorRing;
  /**
   * The recent log lines in this process (boot/log-source.ts LogRing; terminal-main feeds it from
   * pino), which `upload-logs` returns where journald does not have them (`logSource` 'memory').
   */
  readonly logRing?: LogRing;
  /** Where `upload-logs` reads: journald (a board under systemd) or the ring (default). */
  readonly logSource?: LogSourceName;
  /** USB stick mount points for recovery export/import/update (default: none; the backup dir is always offered). */
  readonly usbDirs?: readonly string[];
  /** A/B update layout and the board's update key (recovery: version, apply update). */
  readonly update?: { readonly root: string; readonly publicKeyHex: string; readonly board: string };
  /** Network interface the connectivity test looks at (default: lo on the simulator, eth0 otherwise). */
  readonly netInterface?: string;
  /**
   * The service administrator when the journal cannot be read (Recovery's fallbackAdmin): e.g. a
   * PIN derived from the device key. Default: none (only operators readable from the journal).
   */
  readonly fallbackAdmin?: (operator: string, password: string) => Promise<boolean>;
  /** Power off from the recovery menu (default: onShutdown). */
  readonly powerOff?: () => void;
  /**
   * Keyed card entry (FUNC on the card screen) for sales and refunds, where the acquirer allows it.
   * Default: allowed on the simulator board (so the front panel shows it), not on a real board.
   */
  readonly allowKeyed?: boolean;
  /**
   * Sign on at the first login whatever the journal says (`npm start`: the acquirer simulator it
   * starts is new and holds none of the terminal's working keys; without it the first sale after a
   * restart is answered A0 and reversed).
   */
  readonly signOnAtLogin?: boolean;
  /** The first time the terminal reaches the login or idle screen after boot (A/B update health check). */
  readonly onHealthy?: () => void;
  /**
   * The boot checkpoint (storage/boot-open.ts): boot verifies and replays only the records after
   * it (default true). False: every boot verifies the whole journal in a child process and
   * replays it all, as before checkpoints (the benchmark's baseline).
   */
  readonly journalCheckpoint?: boolean;
  /** Records in the journal before a boot archives its settled batches (runtime/archive.ts; tests set it low). */
  readonly archiveRecordsMin?: number;
  /** Bytes the archives may take before exported ones are removed (runtime/archive.ts ARCHIVE_BYTES_MAX; tests set it low). */
  readonly archiveBytesMax?: number;
  /** How long after a checkpointed boot the background verify of the whole journal starts. */
  readonly backgroundVerifyDelayMs?: number;
  /**
   * Tests only: how long a key keeps the terminal in use for the background verify (boot/in-use.ts,
   * default IN_USE_AFTER_KEY_MS): a test typing past it waits that long in real time.
   */
  readonly inUseAfterKeyMs?: number;
  /**
   * Background work that leaves large garbage ended (a scheduled backup): terminal-main asks its
   * idle collection for one soon (boot/idle-gc.ts afterWork).
   */
  readonly afterBackgroundWork?: (what: string) => void;
}

export interface ProbeSnapshot {
  readonly state: string;
  readonly data: MachineView['data'];
  readonly screen: { readonly name: string; readonly id: string; readonly text: string[]; readonly locale: Locale };
  readonly timing: {
    readonly bootToIdleMs?: number;
    readonly keyToScreenMs: readonly number[];
    /** When the screen shown last reached the display, on the monotonic clock every process shares (monotonicMs). */
    readonly shownAtMonoMs?: number;
  };
  /** The overlay over the machine's screen (recovery menu, diagnostics with its results so far). */
  readonly overlay?: { readonly name: string; readonly complete?: boolean; readonly results?: readonly DiagResult[] };
}

export class TerminalApp {
  readonly locale: LocaleSetting;
  private readonly ui: LcdUi;
  private readonly controller: InputController;
  private actor: Actor<TerminalMachine> | undefined;
  private terminal: Terminal | undefined;
  /** One transport, or one per link when the board file orders `links` (runtime/host/failover.ts). */
  private transport: HostTransport | FailoverTransport | undefined;
  /** The host link's TLS (board file host.tls), for diagnostics' certificate days. */
  private tlsLink: TlsLink | undefined;
  private readonly clock: () => number;
  private readonly clockControl: AdjustableClock;
  private env: Env;
  private readonly listeners = new Set<(s: ProbeSnapshot) => void>();
  /** Whether someone uses the terminal: background work (the journal's verify) waits and stops for them. */
  private readonly inUse: InUse;
  private readonly stops: Array<() => void> = [];
  private timers: NodeJS.Timeout[] = [];
  private recoveryRequested = false;
  private shown: { name: string; screen: Screen } | undefined;
  private keyDownAt: number | undefined;
  private readonly keyToScreenMs: number[] = [];
  private shownAtMonoMs: number | undefined;
  private bootToIdleMs: number | undefined;
  private stopped = false;
  private overlay: Overlay | undefined;
  private recovery: Recovery | undefined;
  private deviceKeyProvider: DeviceKeyProvider | undefined;
  private recoveryClosing: Promise<void> | undefined;
  private recoverySession: Session | undefined;
  readonly errors: ErrorRing;
  /** Unreadable swipes in a row across transactions (runtime/txn/swipe-failures.ts): the machine counts, diagnostics shows. */
  private readonly swipes: SwipeFailures;
  /** The card reader's fault between card waits (runtime/txn/reader-health.ts): idle and login say it, diagnostics shows it. */
  private readonly readerHealth: ReaderHealth;
  private healthy = false;
  /** The board's signature pad, if it has one that passed its self-test (dropped after a fault). */
  private pad: SignaturePad | undefined;
  private capturing = false;
  /** The background verify found damage: boot again into recovery at the next quiet screen. */
  private damageFound = false;
  /** A boot checkpoint to write once the first operator screen shows. */
  private checkpointDue: { key: Buffer; previousSeq?: number } | undefined;
  /** The main loop ticked at (watchdog health), on the monotonic clock: a step of the wall clock (NTP) must not hide a stalled loop. */
  lastTickMs = monotonicMs();
  /** The terminal's own backups into the board's backupDir (storage/scheduled-backup.ts): poked from the tick. */
  private readonly scheduledBackup: ScheduledBackup;

  private constructor(private readonly o: TerminalAppOptions) {
    // One clock for the whole terminal: the injected one, corrected by the host's time at sign-on
    // (the engine journals the correction and applies it again at boot).
    this.clockControl = new AdjustableClock(o.clock ?? Date.now);
    this.clock = this.clockControl.now;
    this.inUse = new InUse(o.inUseAfterKeyMs !== undefined ? { afterKeyMs: o.inUseAfterKeyMs } : {});
    this.errors = o.errors ?? new ErrorRing();
    // After each settlement that closed a batch (and at rest after the board's idleRecords), at
    // idle or login with nobody at the keys, in slices, paused while someone is: README, "Backups".
    const backup = o.board.config.storage?.backup ?? BACKUP_DEFAULTS;
    this.scheduledBackup = new ScheduledBackup({
      enabled: backup.enabled, backupDir: o.backupDir, keepCountMax: backup.keepCountMax, idleRecords: backup.idleRecords,
      deviceKey: () => this.deviceKey().deviceKey(),
      journal: () => this.terminal?.store.journal,
      settledBatch: () => this.terminal?.store.state.lastClosed?.batch,
      inUse: this.inUse,
      mayStart: () => { const state = this.machineState(); return state === 'idle' || state === 'login'; },
      archives: () => listArchives(o.journalDir).map((a) => a.file),
      createDir: o.board.config.simulator === true,
      ...(o.afterBackgroundWork ? { afterRun: () => o.afterBackgroundWork?.('backup') } : {}),
      clock: () => this.clock(), logger: o.logger.child({ component: 'backup' }),
    });
    this.swipes = new SwipeFailures(this.clock, o.logger.child({ component: 'reader' }));
    this.readerHealth = new ReaderHealth(this.clock, this.swipes, o.logger.child({ component: 'reader' }));
    this.locale = new LocaleSetting(o.locale ?? 'zh-CN');
    this.ui = new LcdUi(o.board.display(), { locale: this.locale });
    this.env = {
      nowMs: this.clock(), tzOffsetMinutes: o.board.config.tzOffsetMinutes, merchantName: o.merchantName ?? { en: 'DEMO SHOP', zh: '演示商户' }, status: {},
      asciiOnly: o.board.display().capabilities.kind === 'text',
      bootStep: 'self-test', bootStepIndex: 0, bootStepCount: BOOT_STEP_COUNT,
    };
    this.controller = new InputController({
      send: (e) => this.actor?.send(e),
      clock: () => performance.now(),
      cancelCardRead: () => { try { o.board.reader().cancel(); } catch { /* no reader: nothing waits */ } },
      paperReady: () => this.paperReady(),
      refundLookup: (stan) => this.refundLookup(stan),
      now: this.clock,
      tzOffsetMinutes: () => o.board.config.tzOffsetMinutes,
      setLocale: (l) => this.locale.set(l),
      locale: () => this.locale.get(),
      errorPages: (code) => renderScreen(errorScreen(code, { details: this.errorDetails(code) }), this.locale.get(), this.caps()).pageCount,
      screenPages: () => (this.shown ? renderScreen(this.shown.screen, this.locale.get(), this.caps()).pageCount : 1),
      recoveryAction: (a) => void this.recoveryAction(a),
      diagnostics: () => void this.openDiagnostics(),
      wifi: () => this.openWifi(),
      changed: () => this.render(),
      signatureKey: (key) => this.signatureKey(key),
      passwordExpected: () => expectPasswordCheck(o.scryptN ?? SCRYPT_N_DEFAULT),
    });
    this.locale.onChange(() => this.render());
  }

  /** Boots the terminal; resolves once the machine runs (the display already shows boot progress). */
  static async start(o: TerminalAppOptions): Promise<TerminalApp> {
    const app = TerminalApp.create(o);
    await app.boot();
    return app;
  }

  /** The app before boot (attach its probe first, then `boot()`). */
  static create(o: TerminalAppOptions): TerminalApp {
    return new TerminalApp(o);
  }

  /** For the control interface (sim/control-server.ts attachProbe). */
  readonly probe = {
    snapshot: (): ProbeSnapshot => this.snapshot(),
    onChange: (listener: (s: unknown) => void): (() => void) => { this.listeners.add(listener); return () => this.listeners.delete(listener); },
  };

  /** Ends the app: machine stopped, journal closed (the board belongs to the caller). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.scheduledBackup.stop();
    await this.halt();
    for (const s of this.stops.splice(0)) s();
    this.inUse.stop();
    this.releaseLock?.();
    this.releaseLock = undefined;
  }

  /** The release of the journal folder's terminal lock (boot/terminal-lock.ts), once taken. */
  private releaseLock: (() => void) | undefined;

  /**
   * One terminal per journal: taken before this process opens the journal for the machine or for
   * recovery, kept until stop() (a restart from the menu keeps it). Another live terminal holding
   * it is E-STO-13: the machine shows it at the recovery screen, and recovery's login asks again
   * (the other may have stopped meanwhile) before it opens anything.
   */
  private async takeTerminalLock(): Promise<void> {
    if (this.releaseLock) return;
    mkdirSync(this.o.journalDir, { recursive: true });
    try {
      this.releaseLock = await acquireTerminalLock(this.o.journalDir, this.o.logger, this.o.terminalLockWaitMs);
    } catch (e) {
      if (isPosError(e)) this.o.logger.error({ code: e.code, ...e.detail }, e.message);
      throw e;
    }
  }

  // ---------------------------------------------------------------- boot

  async boot(): Promise<void> {
    this.progress('self-test', 0);
    const board = this.o.board;
    const results = await board.selfTest();
    this.noteSelfTest(results);
    this.noteUpdateResult();
    // A critical battery before anything is opened: power off now, not after a journal check and
    // self-tests a dying battery may cut in the middle (nothing is open, nothing can be half-written).
    if (await this.batteryCriticalAtBoot()) return;
    // The self-test switched the LEDs off; power is on from here (LEDs are optional per board).
    await this.setLed('ledPower0', true);
    this.watchKeys();
    this.watchBattery();
    this.watchReader();
    this.watchPrinters();
    this.progress('self-test', 1);
    const reset = await resetAtBoot(board.resetButton(), resetTimes(board));
    this.recoveryRequested = reset.recovery;
    if (reset.fault) {
      this.o.logger.warn({ code: reset.fault.code }, reset.fault.message);
      this.showResetStuck(reset.fault);
    }
    this.startMachine();
  }

  /**
   * A reset button still held at stuckMs (E-KBD-02) is one of boot's faults on the notice row
   * beside the self-test's (it was shown only when boot had found nothing before it), and its
   * release ends it, as a stuck key's does.
   */
  private showResetStuck(fault: PosError): void {
    this.bootFaults.set({ source: RESET_HELD_SOURCE, code: fault.code, notice: faultNotice(fault) });
    const stop = this.o.board.resetButton().onEvent((ev) => {
      if (ev.type !== 'release') return;
      stop();
      if (!this.bootFaults.clear(RESET_HELD_SOURCE)) return;
      this.o.logger.info({ code: fault.code }, 'reset button released: no longer stuck');
      this.render();
    });
    this.stops.push(stop);
  }

  /**
   * Reads the battery once at boot, before the journal is opened: critical, it shows the critical
   * battery screen, logs E-PWR-02 and asks for the power off (onShutdown: exit EXIT_POWER_OFF,
   * 80, the unit's `systemctl poweroff`). An unreadable battery is not critical (the self-test reported it).
   */
  private async batteryCriticalAtBoot(): Promise<boolean> {
    const s = await this.o.board.battery().read().catch(() => undefined);
    if (s?.level !== 'critical') return false;
    this.o.logger.warn({ code: 'E-PWR-02', percent: s.percent }, 'critical battery at boot: powering off before the journal is opened');
    await this.ui.show(screenFor('lowBattery', { percent: s.percent ?? 0, charging: s.charging, critical: true })).catch(() => undefined);
    this.o.onShutdown?.();
    return true;
  }

  /**
   * The status upload's figures (docs/PROTOCOL.md 362): version, the battery the status line last
   * read, the journal's free space before it refuses sales, the last error code, uptime.
   */
  private terminalStatus(): TerminalStatus {
    const usage = this.terminal?.store.journal.usage();
    const last = this.errors.last(1)[0];
    return {
      softwareVersion: recoveryMenuModule().runtimeVersion(),
      batteryPercent: this.env.status.batteryPercent ?? 0,
      freeJournalKiB: usage ? Math.max(0, Math.floor((usage.capacityBytes - usage.reserveBytes - usage.usedBytes) / 1024)) : 0,
      ...(last ? { lastErrorCode: last.code } : {}),
      uptimeS: Math.floor(process.uptime()),
    };
  }

  private startMachine(): void {
    const board = this.o.board;
    const machine = createTerminalMachine({
      selfTest: async () => this.fatalSelfTest(),
      // Why the boot stops in recovery goes to the log too (and so to diagnostics' last errors),
      // not only to the screen: a device key or journal folder that cannot be read said nothing there.
      open: () => this.openJournal().catch((e: unknown) => {
        this.o.logger.error({ code: isPosError(e) ? e.code : 'E-SYS-99', err: e instanceof Error ? e.message : String(e) }, `boot: the journal could not be opened: ${e instanceof Error ? e.message : String(e)}`);
        throw e;
      }),
      printer: this.printer(),
      // How the card wait ended tells the reader's health: a read shows it works; its own fault
      // (silent, gone, garbled) stands at idle and login until it answers again.
      readCard: (request, sources) => readCard(board.reader(), sources, CARD_WAIT_MS_MAX, request).then((card) => {
        this.readerHealth.noteAnswered();
        return card;
      }, (e: unknown) => {
        this.readerHealth.noteFailure(e);
        throw e;
      }),
      swipes: this.swipes,
      // QR 被扫: the board's scan engine (absent: the code is keyed); CANCEL aborts the scan.
      scanCode: (signal) => {
        const scanner = board.scanner();
        if (!scanner) return Promise.reject(new PosError('SCN_DISCONNECTED', 'no scanner on this board: key the code (FUNC)'));
        // A code read proves the engine works: its self-test fault ends.
        return scanner.scan(SCAN_WAIT_MS_MAX, signal).then((code) => { this.partAnswered(SCANNER_ROLE); return code; });
      },
      // 主扫: shown on a pixel display when the code fits it, else printed (runtime/machine.ts).
      qrShowable: (content) => board.display().capabilities.kind === 'pixels' && content.length <= QR_SHOW_CHARS_MAX,
      clock: this.clock,
      lang: this.locale.get() === 'en' ? 'en' : 'zh',
      merchantName: MERCHANT_NAME_DEFAULT,
      exportJournal: () => this.exportJournal(),
      shutdown: async () => { this.o.logger.warn('critical battery: journal closed, shutting down'); this.o.onShutdown?.(); },
      recoveryRequested: () => this.recoveryRequested,
      recoveryLogin: (operator, password) => this.recoveryLogin(operator, password),
      allowKeyed: this.o.allowKeyed ?? board.config.simulator === true,
      terminalStatus: () => this.terminalStatus(),
    });
    const actor = createActor(machine);
    this.actor = actor;
    actor.subscribe({
      next: (snap) => {
        const view = viewOf(snap);
        this.controller.sync(view);
        this.syncSignature(view.state);
        this.syncRadios(view.state);
        this.notePaperOut(view.state);
        this.publishReceipt(view);
        if (view.state.startsWith('recovery')) this.enterRecovery(view.state, snap.context.session);
        if ((view.state === 'login' || view.state === 'idle') && !this.healthy) { this.healthy = true; this.o.onHealthy?.(); }
        this.statusLed(view.data.signedOn);
        if (view.state === 'pendingWork') this.progress('pending', BOOT_STEP_COUNT - 1);
        if (this.damageFound) this.rebootIfQuiet();
        this.archiveWhenQuiet(view.state);
        this.resumeSession(view.state);
        if ((view.state === 'login' || view.state === 'idle') && this.checkpointDue) this.saveCheckpointSoon();
        if ((view.state === 'login' || view.state === 'idle' || view.state.startsWith('recovery')) && this.bootToIdleMs === undefined && this.o.processStartMs !== undefined) {
          this.bootToIdleMs = Date.now() - this.o.processStartMs;
          this.o.logger.info({ bootToScreenMs: this.bootToIdleMs, state: view.state }, 'first operator screen');
        }
        this.render();
      },
      error: (e: unknown) => this.o.logger.error({ err: e }, 'state machine failed'),
    });
    actor.start();
    this.timers.push(setInterval(() => this.tick(), this.o.tickMs ?? TICK_MS));
  }

  private statusLedOn: boolean | undefined;
  private radiosShownFor: string | undefined;

  /**
   * The sign-on failure screen shows the 4G modem's state (boards with modem0) and the Wi-Fi's
   * (boards with wifi0): read once each time the sign-on fails (the echo test and the SIM PIN entry
   * keep them), forgotten when it is left.
   */
  private syncRadios(state: string): void {
    const onFailure = state === 'hostUnreachable' || state === 'echoTest';
    if (!onFailure) {
      this.radiosShownFor = undefined;
      if (this.env.modem || this.env.wifi) this.env = { ...this.env, modem: undefined, wifi: undefined };
      return;
    }
    if (this.radiosShownFor !== undefined) return;
    this.radiosShownFor = state;
    void this.readModem();
    // readWifiState answers every fault of the Wi-Fi as lines; anything else is logged, never left unhandled.
    this.readWifi().catch((e: unknown) => this.o.logger.warn({ err: String(e) }, 'sign-on failed; the Wi-Fi could not be read'));
  }

  /**
   * The Wi-Fi's state for the sign-on failure screen (boot/wifi-state.ts, as diagnostics reads it);
   * its fault leads the screen when the Wi-Fi is the board's first link (`links`), or its only one.
   */
  private async readWifi(): Promise<void> {
    const wifi = this.o.board.wifi();
    const dc = this.o.board.config.devices.wifi0;
    if (!wifi || dc?.type !== 'wpa-supplicant') return;
    const { lines, fault } = await wifiStateModule().readWifiState(wifi, dc.interface);
    if (fault) this.o.logger.warn({ code: fault.code, interface: dc.interface }, `sign-on failed; Wi-Fi: ${fault.message}`);
    if (this.radiosShownFor === undefined) return; // the screen was left meanwhile
    this.env = { ...this.env, wifi: { lines, ...(fault ? { fault: fault.code } : {}), first: this.firstLink() === dc.interface } };
    this.render();
  }

  /** The interface the host is tried over first: the board's first link, else its network section's. */
  private firstLink(): string | undefined {
    return this.o.board.config.links?.[0]?.interface ?? this.o.board.config.network?.interface;
  }

  private async readModem(): Promise<void> {
    const modem = this.o.board.modem();
    const dc = this.o.board.config.devices.modem0;
    if (!modem || dc?.type !== 'quectel-modem') return;
    let view: ModemView;
    try {
      const s = await modem.status();
      const fault = modemFault(s, { apn: dc.apn, roaming: dc.roaming });
      view = {
        sim: s.sim, bars: s.signal.bars, registration: s.registration, apn: s.apn,
        ...(s.pinAttemptsLeft !== undefined ? { pinAttemptsLeft: s.pinAttemptsLeft } : {}), ...(s.signal.rssiDbm !== undefined ? { rssiDbm: s.signal.rssiDbm } : {}),
        ...(s.signal.tech !== undefined ? { tech: s.signal.tech } : {}), ...(s.operator !== undefined ? { operator: s.operator } : {}),
        ...(s.apn.toLowerCase() !== dc.apn.toLowerCase() ? { apnWant: dc.apn } : {}), ...(fault ? { fault: fault.code } : {}),
      };
      if (fault) this.o.logger.warn({ code: fault.code, sim: s.sim, csq: s.signal.csq, registration: s.registration }, `sign-on failed; modem: ${fault.message}`);
    } catch (e) {
      const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'E-NET-15';
      view = { sim: 'failure', bars: 0, registration: 'unknown', apn: '', fault: code, silent: true };
    }
    if (this.radiosShownFor === undefined) return; // the screen was left meanwhile
    this.env = { ...this.env, modem: view };
    this.render();
  }

  /** Settings > Wi-Fi over idle (boards with wifi0): the networks saved are journaled (SSID only). */
  openWifi(): boolean {
    const wifi = this.o.board.wifi();
    const store = this.terminal?.store;
    if (!wifi || !store || this.overlay) return false;
    const menu: WifiMenu = new (wifiMenuModule().WifiMenu)({
      wifi, clock: this.clock, changed: () => this.render(), logger: this.o.logger.child({ component: 'wifi' }),
      record: async (p) => { await store.commit([{ type: 'settings', payload: { kind: 'wifi', ssid: p.ssid, security: p.security } }]); },
      close: () => { if (this.overlay === menu) this.overlay = undefined; this.render(); },
    });
    this.overlay = menu;
    this.render();
    return true;
  }

  /** Key 2 on the sign-on failure screen when the SIM asks for its PIN. */
  private openSimPin(): boolean {
    const modem = this.o.board.modem();
    if (!modem || this.overlay) return false;
    const entry: SimPinEntry = new (simPinModule().SimPinEntry)({
      modem, ...(this.env.modem?.pinAttemptsLeft !== undefined ? { attemptsLeft: this.env.modem.pinAttemptsLeft } : {}),
      changed: () => this.render(), pages: (sc) => renderScreen(sc, this.locale.get(), this.caps()).pageCount, logger: this.o.logger.child({ component: 'sim-pin' }),
      done: (accepted) => {
        if (this.overlay === entry) this.overlay = undefined;
        // Accepted: sign on again (the modem registers meanwhile); else show what the SIM says now.
        if (accepted) this.actor?.send({ type: 'RETRY' });
        else void this.readModem();
        this.render();
      },
    });
    this.overlay = entry;
    this.render();
    return true;
  }

  /**
   * Writes an LED's line (a failure is its self-test's to report, not the caller's); written, it
   * ends the LED's self-test fault, which was the same write failing (partAnswered).
   */
  private async setLed(role: string, on: boolean): Promise<void> {
    const led = this.o.board.led(role);
    if (!led) return;
    await led.set(on).then(() => this.partAnswered(role), () => undefined);
  }

  /** The status LED: on while signed on to the host. */
  private statusLed(on: boolean): void {
    if (on === this.statusLedOn) return;
    this.statusLedOn = on;
    void this.setLed('ledStatus0', on);
  }

  /**
   * Only a part the terminal cannot work without stops it (recovery, the fault on its screen):
   * FATAL_PART_TYPES. The rest is reported on idle and login. It was any part's E-BRD-02/03 or
   * E-DSP-01: a status LED's GPIO line that failed its transfer sent the terminal to recovery.
   */
  private fatalSelfTest(): void {
    if (this.fatalSelfTestFault) throw this.fatalSelfTestFault;
  }

  /** The first self-test fault of a part in FATAL_PART_TYPES that cannot work (FATAL_SELF_TEST_CODES). */
  private fatalSelfTestFault: PosError | undefined;

  private noteSelfTest(results: readonly SelfTestResult[]): void {
    this.pad = results.some((r) => r.role === SIGNATURE_PAD_ROLE && r.ok) ? this.o.board.signaturePad(SIGNATURE_PAD_ROLE) : undefined;
    for (const r of results) {
      if (r.ok || !r.error) continue;
      // A signature pad that fails is not a reason to stop selling: the cardholder signs on paper,
      // and idle and login say so (it was only logged: the merchant never knew why the pad was off).
      if (r.role === SIGNATURE_PAD_ROLE) { this.padFailed(r.error, 'self-test'); continue; }
      this.o.logger.warn({ role: r.role, code: r.error.code }, `self-test: ${r.error.message}`);
      // The card reader's own fault (silent, gone, garbled) is its health's, as a card wait's is:
      // the same notice, over once the reader answers or a card reads. As a self-test fault it was
      // a bare code that nothing cleared until the next restart.
      if (this.o.board.config.devices[r.role]?.type === 'framed-card-reader' && this.readerHealth.noteFailure(r.error)) continue;
      const type = this.o.board.config.devices[r.role]?.type;
      if (type !== undefined && FATAL_PART_TYPES.has(type) && FATAL_SELF_TEST_CODES.has(r.error.code)) this.fatalSelfTestFault ??= r.error;
      // Every fault is on the notice row, one after another: its code, cause (with the part, where
      // the cause names none) and first step. Keys held at power-on are the stuck keys' entry,
      // which names them once the keys are watched (showStuckKeys) and ends at their release.
      const stuck = type !== undefined && KEYPAD_TYPES.has(type) && r.error.code === ERRORS.KBD_STUCK.code;
      this.bootFaults.set({ source: stuck ? STUCK_KEYS_SOURCE : r.role, code: r.error.code, notice: faultNotice(r.error, partOf(this.o.board, r.role)) });
    }
  }

  /**
   * The last software update's result as the slots' state says it (boot/update-slots.ts): an update
   * rolled back (its first boot failed or never confirmed: E-UPD-04) or a state file found damaged
   * (E-UPD-07, which the selector writes as a roll-back whose reason leads with its code, or which
   * this read finds) is on the idle and login notice, code, cause and first step ("The previous
   * version runs"; then "Call support"). It was only logged and printed by `pos update status`:
   * the terminal went on with the old version and the merchant never knew an update had failed.
   * A roll-back is shown for UPDATE_NOTICE_MS_MAX after it; a damaged state file while it is.
   */
  private noteUpdateResult(): void {
    const root = this.o.update?.root;
    if (root === undefined) return;
    let fault: PosError | undefined;
    try {
      const last = readState(root).last;
      // Shown for the days after it (by the terminal's clock), not for ever: a notice that never
      // goes away is a notice nobody reads; `pos update status` and the recovery menu still tell.
      if (last?.result === 'rolled-back' && this.clock() - last.atMs <= UPDATE_NOTICE_MS_MAX) {
        const id = last.reason?.startsWith(ERRORS.UPD_STATE_DAMAGED.code) === true ? 'UPD_STATE_DAMAGED' : 'UPD_ROLLED_BACK';
        fault = new PosError(id, `update to ${last.version} rolled back: ${last.reason ?? 'first boot failed'}`, { version: last.version });
      }
    } catch (e) {
      // Never set up (E-UPD-06) is no fault of this boot's; a damaged state is (the selector ran before it).
      if (e instanceof SlotStateError) fault = e;
      else if (!isPosError(e) || e.code !== ERRORS.UPD_NOT_SET_UP.code) this.o.logger.warn({ err: e }, 'update: slot state not read');
    }
    if (fault === undefined) return;
    this.o.logger.error({ code: fault.code, ...fault.detail }, fault.message);
    this.bootFaults.set({ source: UPDATE_SOURCE, code: fault.code, notice: errorNotice(fault.definition) });
  }

  /**
   * The running version flagged bad by the management console (`flag-version`, journaled: it holds
   * across reboots and archives) is on the idle and login notice, E-UPD-08 with the version, "Call
   * support" (FIELD-FAULTS.md: the version and "contact support" when the running version is
   * flagged bad), until the flag is taken back or an update replaces the version. Called when the
   * journal opens and when the console changes the flags.
   */
  private noteVersionFlag(): void {
    const version = recoveryMenuModule().runtimeVersion();
    const flag = this.terminal?.engine.versionFlags.find((f) => f.version === version);
    if (flag === undefined) { this.bootFaults.clear(VERSION_FLAG_SOURCE); return; }
    const d = ERRORS.UPD_VERSION_FLAGGED;
    this.o.logger.error({ code: d.code, version, reason: flag.reason, commandId: flag.commandId }, `the running version ${version} is flagged bad by the management console: call support`);
    this.bootFaults.set({ source: VERSION_FLAG_SOURCE, code: d.code, notice: errorNotice(d, { en: `Version ${version} flagged bad`, zh: `版本${version}已被标记有故障` }) });
  }

  /**
   * The signature pad failed (its self-test, or a capture: it stopped answering, garbled
   * conversions): logged with the bus's own code, and E-BRD-05 on the idle and login notice until
   * a restart, the only thing that tries the pad again. Without it the pad was silently off: the
   * cardholder signed on paper and nobody at the counter knew why.
   */
  private padFailed(e: unknown, when: 'self-test' | 'capture'): void {
    const code = isPosError(e) ? e.code : undefined;
    this.o.logger.warn({ role: SIGNATURE_PAD_ROLE, code: ERRORS.BRD_SIGNATURE_PAD.code, cause: code, err: e }, `signature pad failed (${when}): ${e instanceof Error ? e.message : String(e)}; signatures on paper until a restart`);
    this.bootFaults.set({ source: SIGNATURE_PAD_ROLE, code: ERRORS.BRD_SIGNATURE_PAD.code, notice: errorNotice(ERRORS.BRD_SIGNATURE_PAD) });
  }

  /**
   * What boot found and still stands, every part's fault (boot/boot-faults.ts), as idle and login
   * show it (env.bootNotice, made at each render): each entry ends when its part shows it works
   * again (partAnswered; a key from the keypad ends E-BRD-04's, the stuck keys' release
   * E-KBD-01's, the reset button's E-KBD-02's), and the others stay.
   */
  private readonly bootFaults = new BootFaults();

  /**
   * A part that failed its self-test answered again (the printer's status or a print, an LED's
   * line written, a scan read): its entry ends. The same evidence the self-test asked for; the
   * card reader's is its health's (watchReader).
   */
  private partAnswered(role: string): void {
    const f = this.bootFaults.get(role);
    if (f === undefined || !this.bootFaults.clear(role)) return;
    this.o.logger.info({ role, code: f.code }, `${role} answers again: its self-test fault is over`);
    this.render();
  }

  /** The board's roles of these device types (a board file may have two printers). */
  private rolesOf(types: ReadonlySet<DeviceConfig['type']>): string[] {
    return Object.entries(this.o.board.config.devices).filter(([, dc]) => dc !== undefined && types.has(dc.type)).map(([role]) => role);
  }

  private async openJournal(): Promise<Terminal> {
    this.progress('journal', 2);
    const dir = this.o.journalDir;
    const log = this.o.logger;
    const simulator = this.o.board.config.simulator === true;
    await this.takeTerminalLock();
    // A TPM board's first boot after the flashing station: its TPM seals a fresh device key and
    // the journal is made from the station's request (boot/first-boot-seal.ts); it throws, and the
    // terminal stops in recovery with the code, until that is done. Without a request: nothing.
    // (A simulator board variant with a TPM, as the guest tests flash one, takes the same path.)
    await completeFirstBootProvisioning({ board: this.o.board, journalDir: dir, logger: log.child({ component: 'first-boot' }), clock: this.clock });
    const deviceKey = this.deviceKey();
    // The key first (a TPM unseals it here, once per boot): a terminal that cannot have it stops in
    // recovery naming why (E-KEY-04..08), before the journal is opened or created under another key.
    deviceKey.deviceKey();
    const key = this.o.journalCheckpoint === false ? undefined : checkpointKeyOf(deviceKey);
    // At most one archive per boot: the journal it leaves is far below the threshold.
    for (let pass = 1; ; pass++) {
      const opened = await openForBoot({
        dir, identity: simulator ? SIM_IDENTITY : undefined, clock: this.clock, logger: log, checkpointKey: key,
        // Creating the journal and its identity is all-or-nothing: one commit (issue 13 item 5).
        genesis: simulator ? simulatorGenesis(this.o.board, SIM_IDENTITY, deviceKey) : undefined,
      });
      this.progress('journal', 3);
      const journal = opened.journal;
      try {
        // Keys and PANs are sealed to the TID: the identity is read before the engine is built.
        if (simulator) await simulatorIdentity(this.o.board, journal, deviceKey);
        // The device key must open what the journal sealed (E-STO-12 says so when it does not).
        checkDeviceKey(journal, deviceKey);
        const terminal = this.replayed(journal, opened.checkpoint);
        opened.done();
        if (pass === 1 && await this.archivedSettledBatches(terminal, deviceKey, key)) continue;
        if (simulator) await simulatorOperators(terminal);
        if (this.o.signOnAtLogin === true) terminal.engine.needsSignOn = true;
        this.terminal = terminal;
        this.noteVersionFlag();
        // After this boot's archive, if it made one: the archives kept within their budget, those
        // an interrupted archive left unlinked gone first.
        this.keepArchivesInBudget(journal);
        // Written once the first operator screen shows (saveCheckpointSoon): off the path to it.
        if (key) this.checkpointDue = { key, previousSeq: opened.checkpoint?.seq };
        if (opened.path === 'checkpoint') this.verifyLater(journal.identity);
        return terminal;
      } catch (e) {
        opened.done();
        await journal.close().catch(() => undefined);
        throw e;
      }
    }
  }

  /**
   * The archive of settled batches (runtime/archive.ts), at the boot that finds the journal past
   * its threshold with everything settled and nothing owed (the boot after a settlement, before
   * the day's first sale). True when the journal was closed for it (archived or not: the caller
   * opens it again); false when it is not due and the journal is still open.
   */
  private async archivedSettledBatches(terminal: Terminal, deviceKey: DeviceKeyProvider, checkpointKey: Buffer | undefined): Promise<boolean> {
    const journal = terminal.store.journal;
    const why = archiveBlocker(terminal.store.state, journal, this.o.archiveRecordsMin ?? ARCHIVE_RECORDS_MIN);
    if (why !== undefined) return false;
    const log = this.o.logger;
    try {
      const r = await archiveJournal({
        journal, state: terminal.store.state, journalDir: this.o.journalDir, archiveDir: archiveDirFor(this.o.journalDir),
        deviceKey: () => deviceKey.deviceKey(), checkpointKey, clock: this.clock, logger: log.child({ component: 'archive' }),
      });
      log.info({ archive: r.file, records: r.count, carried: r.carried }, 'journal archived at boot');
    } catch (e) {
      // Nothing lost: the old journal is still the live one (storage/dir-swap.ts finishes a swap
      // that had begun). The next boot tries again.
      log.warn({ err: String(e) }, 'journal: archive of settled batches failed; the journal is kept as it is');
      // Not tried again at idle for the same batch (archiveWhenQuiet): the next settlement or boot does.
      this.idleArchiveBatch = terminal.store.state.lastClosed?.batch;
      await journal.close().catch(() => undefined);
    }
    return true;
  }

  /**
   * The archives of settled batches kept within their budget at every boot (runtime/archive.ts
   * enforceArchiveBudget: the oldest exported ones removed, the newest never). Over the budget with
   * the oldest not exported, nothing is removed and idle and login say so (E-STO-15) until an
   * export. A failure here (the disk, a damaged mark) is logged: it never stops the boot.
   */
  private keepArchivesInBudget(live: Journal): void {
    const log = this.o.logger;
    let needsExport = false;
    try {
      removeUnlinkedArchives(this.o.journalDir, live, log.child({ component: 'archive' }));
      const b = enforceArchiveBudget(this.o.journalDir, { bytesMax: this.o.archiveBytesMax ?? ARCHIVE_BYTES_MAX, clock: this.clock, logger: log.child({ component: 'archive' }) });
      needsExport = b.needsExport.length > 0;
    } catch (e) {
      log.warn({ err: String(e) }, 'archive: the archives could not be kept within their budget; the next boot tries again');
    }
    this.env = { ...this.env, archiveNotice: needsExport ? archiveNotice() : undefined };
  }

  /**
   * The terminal over the journal, its state replayed from the checkpoint's snapshot when there is
   * a usable one (only the records after it), else from record 1. A snapshot whose replay breaks
   * an invariant is not trusted: the whole journal is replayed, whose verdict stands.
   */
  private replayed(journal: Journal, checkpoint: Checkpoint | undefined): Terminal {
    const decoded = checkpoint?.state ? decodeState(checkpoint.state) : undefined;
    const from = decoded && 'state' in decoded && decoded.state.lastSeq === checkpoint?.seq ? decoded.state : undefined;
    if (decoded && !from) this.o.logger.warn({ problem: 'problem' in decoded ? decoded.problem : 'snapshot at another record' }, 'journal: state snapshot not used; full replay');
    if (!from) return this.terminalOver(journal);
    try {
      return this.terminalOver(journal, from);
    } catch (e) {
      if (!isPosError(e, 'invariant')) throw e;
      this.o.logger.warn({ err: String(e) }, 'journal: replay from the state snapshot failed; full replay');
      return this.terminalOver(journal);
    }
  }

  /** The boot checkpoint, once the first operator screen shows (see saveCheckpoint). */
  private saveCheckpointSoon(): void {
    const due = this.checkpointDue;
    const terminal = this.terminal;
    this.checkpointDue = undefined;
    if (!due || !terminal) return;
    const timer = setTimeout(() => this.saveCheckpoint(terminal, due.key, due.previousSeq), CHECKPOINT_AFTER_SCREEN_MS);
    this.timers.push(timer);
  }

  /**
   * The boot checkpoint at the journal's end (storage/checkpoint.ts): everything up to here was
   * verified (by this boot's walk, the records before by an earlier one) and the state is the
   * replay of exactly these records. Written only while that holds (nothing appended since the
   * replay but through the store, the journal intact); a boot that cannot keeps the old one.
   */
  private saveCheckpoint(terminal: Terminal, key: Buffer, previousSeq: number | undefined): void {
    if (this.terminal !== terminal) return;
    const journal = terminal.store.journal;
    const state = terminal.store.state;
    if (journal.state !== 'ok' || journal.lastSeq < 1 || state.lastSeq !== journal.lastSeq || journal.lastSeq === previousSeq) return;
    // A deferred record (a receipt-printed mark) is not durable yet: a checkpoint past it could
    // name a record a power cut loses (the next boot would then distrust it and verify everything).
    if (journal.deferredCount > 0) return;
    try {
      // The checkpoint names an LMDB record (its inode and transaction): the write-ahead log's
      // records go there first, or the next boot would not find the record it names.
      journal.checkpointSync();
      if (journal.checkpointedSeq !== journal.lastSeq) {
        // No room to put them there (storage/journal.ts checkpointFits): the next boot verifies more.
        this.o.logger.warn({ seq: journal.lastSeq, checkpointedSeq: journal.checkpointedSeq }, 'journal: boot checkpoint not written: the write-ahead log could not be checkpointed (disk full)');
        return;
      }
      const started = performance.now();
      const cp = { identity: journal.identity, seq: journal.lastSeq, digest: journal.lastDigest, writtenAtMs: this.clock(), state: encodeState(state) };
      writeCheckpoint(this.o.journalDir, key, cp);
      this.o.logger.info({ seq: cp.seq, stateBytes: cp.state.length, ms: Math.round(performance.now() - started) }, 'journal: boot checkpoint written');
    } catch (e) {
      this.o.logger.warn({ err: String(e) }, 'journal: boot checkpoint not written (the next boot verifies everything)');
    }
  }

  /**
   * The records before the checkpoint were verified by an earlier boot, not this one: verify the
   * whole journal again off the boot path. Damage found there withdraws the checkpoint and boots
   * again (at once at the login or idle screen, else as soon as the terminal gets there), which
   * verifies everything and stops in recovery with the reason, as a boot without checkpoints did.
   * It starts once nobody uses the terminal (boot/in-use.ts) and its child is stopped while
   * someone does: under a slow board's CPU quota it otherwise took the keys' time (README, "Key
   * to screen"). A run held stopped too long is killed and runs again at the next quiet moment.
   */
  private verifyLater(identity: string): void {
    const abort = new AbortController();
    this.stops.push(() => abort.abort());
    let runs = 0;
    const run = (): void => {
      void verifyInBackground(this.o.journalDir, identity, { signal: abort.signal, hold: this.inUse }).then((v) => {
        if (abort.signal.aborted) return;
        if (v.damage) {
          this.o.logger.error({ code: v.damage.code, reason: v.damage.message }, 'journal: background verify found damage; booting again into recovery');
          this.damageFound = true;
          abort.abort();
          this.rebootIfQuiet();
          return;
        }
        if (v.unfinished) {
          if (++runs >= BACKGROUND_VERIFY_RUNS_MAX) { this.o.logger.warn({ runs }, 'journal: background verify never finished between uses of the terminal; the next boot runs it again'); return; }
          this.o.logger.info({ runs }, 'journal: background verify stopped while the terminal was in use; it runs again when the terminal is quiet');
          this.whenQuiet(run);
          return;
        }
        this.o.logger.info({ verifiedSeq: v.verifiedSeq }, 'journal: background verify found every record intact');
      }, (e: unknown) => this.o.logger.warn({ err: String(e) }, 'journal: background verify could not run'));
    };
    const timer = setTimeout(() => this.whenQuiet(run), this.o.backgroundVerifyDelayMs ?? BACKGROUND_VERIFY_DELAY_MS);
    this.timers.push(timer);
    this.stops.push(() => clearTimeout(timer));
  }

  /** Runs `f` once nobody uses the terminal (now, if nobody does). */
  private whenQuiet(f: () => void): void {
    if (!this.inUse.held) { f(); return; }
    const off = this.inUse.onChange(() => {
      if (this.inUse.held) return;
      off();
      f();
    });
    this.stops.push(off);
  }

  /** The last closed batch the archive at idle was tried after (archiveWhenQuiet): once per batch. */
  private idleArchiveBatch: number | undefined;
  /** The session at idle when the archive's boot again began (archiveWhenQuiet), until its login screen. */
  private sessionAcrossBoot: { readonly session: Session; readonly untilMs: number } | undefined;

  /**
   * At the first login screen of the boot again for the archive: the operator who was at idle is
   * back at idle (the machine checks the operator and the sign-on: RESUME_SESSION). Once, and only
   * within SESSION_ACROSS_BOOT_MS_MAX of the boot's start: a boot that went elsewhere first
   * (recovery, a storage fault) leaves the next person at the password.
   */
  private resumeSession(state: string): void {
    const carried = this.sessionAcrossBoot;
    if (carried === undefined || state !== 'login') return;
    this.sessionAcrossBoot = undefined;
    if (performance.now() > carried.untilMs) return;
    this.actor?.send({ type: 'RESUME_SESSION', session: carried.session });
    this.o.logger.info({ operator: carried.session.operator, resumed: this.machineState() === 'idle' }, 'archive: the operator logged in before it stays logged in');
  }

  /**
   * The archive of settled batches without a power cycle: at login or idle, when the journal is
   * due (archiveBlocker: past its threshold, everything settled, nothing owed), once nobody uses
   * the terminal (whenQuiet: a few seconds after the last key) it boots again in process, and that
   * boot archives (archivedSettledBatches) and comes back to the login screen. Before, only a boot
   * archived: a terminal left on for weeks (a charging cradle) grew its journal until storage was
   * full, and E-STO-02's "Settle now" did not help until someone switched it off and on. Tried
   * once per closed batch: an archive that fails (the disk) is not retried in a loop; the next
   * settlement or boot tries again.
   */
  private archiveWhenQuiet(state: string): void {
    if (state !== 'idle' && state !== 'login') return;
    const t = this.terminal;
    const batch = t?.store.state.lastClosed?.batch;
    if (t === undefined || batch === undefined || batch === this.idleArchiveBatch) return;
    const recordsMin = this.o.archiveRecordsMin ?? ARCHIVE_RECORDS_MIN;
    if (archiveBlocker(t.store.state, t.store.journal, recordsMin, { deferredOk: true }) !== undefined) return;
    this.idleArchiveBatch = batch;
    this.whenQuiet(() => {
      const now = this.machineState();
      // Still due and still resting: a sale begun meanwhile puts it off to its batch's settlement.
      if (this.terminal !== t || (now !== 'idle' && now !== 'login')) return;
      if (archiveBlocker(t.store.state, t.store.journal, recordsMin, { deferredOk: true }) !== undefined) return;
      this.o.logger.info({ batch, records: t.store.journal.lastSeq }, 'journal due for its archive after the settlement: booting again to archive it');
      // The operator at idle stays logged in across it (resumeSession): the merchant who settled
      // mid-day and sells on is not sent back to the password.
      const session = now === 'idle' ? this.actor?.getSnapshot().context.session : undefined;
      this.sessionAcrossBoot = session ? { session, untilMs: performance.now() + SESSION_ACROSS_BOOT_MS_MAX } : undefined;
      setImmediate(() => void this.restart());
    });
  }

  /** Damage found in the background: boot again (recovery) once the terminal is at login or idle. */
  private rebootIfQuiet(): void {
    if (!this.damageFound) return;
    const snap = this.actor?.getSnapshot();
    const state = snap ? viewOf(snap).state : undefined;
    if (state !== 'login' && state !== 'idle') return;
    this.damageFound = false;
    setImmediate(() => void this.restart());
  }

  /**
   * The terminal over an open journal (boot, and Recovery's resend/reprint). The TMK: the
   * simulator's test key; on a real board the `tmk` option, else the factory's provisioning record
   * unsealed with the device key (boot/factory.ts readProvisionedTmk).
   */
  private terminalOver(journal: Journal, from?: TerminalState): Terminal {
    const simulator = this.o.board.config.simulator === true;
    const deviceKey = this.deviceKey();
    // TPDU and connection mode from the board file (docs/PROTOCOL.md section 1: configuration).
    const link = hostLink(CUP_PROFILE, this.o.board.config.host);
    const config = { host: this.o.host.host, port: this.o.host.port, profile: link.profile, keepAlive: link.keepAlive, ...this.hostTls(deviceKey) };
    const links = this.o.board.config.links;
    const transport = links === undefined ? new HostTransport(config)
      : new FailoverTransport({ links, transport: config, logger: this.o.logger.child({ component: 'host-link' }) });
    this.transport = transport;
    const provisioned = (): Buffer => readProvisionedTmk(journal, deviceKey);
    const { identity, tmk } = simulator
      ? { identity: need(identityOf(journal)), tmk: () => Buffer.from(TEST_TERMINAL.tmk) }
      : realIdentity(this.o.board, journal, this.o.tmk ?? provisioned);
    return openTerminal({
      journal, host: transport, deviceKey, random: randomBytes, clock: this.clock, clockControl: this.clockControl, ...(from ? { from } : {}),
      logger: this.o.logger.child({ component: 'engine' }), ...(this.o.scryptN ? { scryptN: this.o.scryptN } : {}),
      config: { ids: { tid: identity.tid, mid: identity.mid }, profile: link.profile, tmk, merchantName: 'DEMO SHOP', tzOffsetMinutes: this.o.board.config.tzOffsetMinutes },
    });
  }

  /**
   * TLS to the host when the board file's `host.tls` says so (runtime/host/tls.ts): the CA file and
   * the factory's client certificate (beside the device key) load at the first connect, so a
   * missing one fails sign-on with its code on the screen; certificate dates by the terminal's clock.
   */
  private hostTls(deviceKey: DeviceKeyProvider): { tls?: TlsLink } {
    const config = this.o.board.config.host.tls;
    if (config === undefined) return {};
    const dir = dirname(resolve(this.o.journalDir));
    this.tlsLink = new TlsLink({ config, credentials: () => tlsCredentialsModule().loadTlsCredentials(config, dir, deviceKey), now: this.clock });
    return { tls: this.tlsLink };
  }

  /** The board file's provider (runtime/device-key-provider.ts), built once: a TPM unseals once per boot. */
  private deviceKey(): DeviceKeyProvider {
    this.deviceKeyProvider ??= this.o.deviceKey ?? deviceKeyProviderFor(this.o.board, keyDirFor(this.o.journalDir), { logger: this.o.logger.child({ component: 'device-key' }) });
    return this.deviceKeyProvider;
  }

  /**
   * The storage failure screen's export (and the machine's recovery state's): onto a mounted USB
   * stick only, never the backup folder on the failing disk (boot/usb-stick.ts); no stick is
   * E-STO-09 "insert a USB stick" on that screen, a write failing there E-STO-14.
   */
  private async exportJournal(): Promise<string> {
    const journal = this.terminal?.store.journal;
    if (!journal) throw new PosError('STO_EXPORT_TARGET', 'no journal open to export');
    const usb = usbStickModule();
    const dir = resolve(usb.mountedStick(this.o.usbDirs ?? [], this.o.board.config.simulator === true));
    let file: string;
    try {
      file = exportJournalSealed(journal, dir, this.deviceKey(), this.clock);
    } catch (e) {
      throw usb.exportWriteError(e, dir);
    }
    this.o.logger.info({ file }, 'journal exported');
    return file;
  }

  // ---------------------------------------------------------------- devices

  /**
   * Keys act at their debounced 'down', as on every keypad: the press is all anyone knows then,
   * and a key acted on at its release, or once it had proved not stuck, would make every key late
   * (a stuck threshold of seconds would be a delay of seconds). So the press of a key that later
   * proves stuck (held past the board's stuckMs) has typed once, like any press, and its effect is
   * on the screen for the operator to see beside the notice; undoing it by guesswork (a BACK sent
   * for it) could undo something else. What a stuck key must never do is type again: the drivers
   * send no repeat (the kernel's autorepeat is ignored) and nothing here acts on 'long' or 'up',
   * so neither the seconds it is held nor its release type anything. A key held at power-on types
   * nothing at all: the drivers send no 'down' for it (hal/keypad.ts).
   */
  private watchKeys(): void {
    const keypad = this.o.board.keypad();
    this.stops.push(keypad.onKey((ev: KeyEvent) => {
      if (ev.type !== 'down') return;
      // A key from the keypad proves it is back (an evdev keypad opened again after E-BRD-04).
      const back = this.bootFaults.clear(KEYPAD_ROLE, KEYPAD_GONE_CODE);
      this.keyDownAt = ev.timeMs;
      this.pressKey(ev.key);
      if (back) this.render();
    }));
    // A press's first edge, before its debounce: background work makes way now, not 20 ms later
    // (under a quota a running child would take those 20 ms of scans' CPU).
    const activity = keypad.onActivity?.(() => this.inUse.key());
    if (activity) this.stops.push(activity);
    this.stops.push(keypad.onFault((f) => {
      this.o.logger.warn({ code: f.code, detail: f.detail }, f.message);
      if (f.code === ERRORS.KBD_STUCK.code) { this.showStuckKeys(); return; }
      this.bootFaults.set({ source: KEYPAD_ROLE, code: f.code, notice: faultNotice(f, partOf(this.o.board, KEYPAD_ROLE)) });
      this.render();
    }));
    this.stops.push(keypad.onStuckReleased((key) => {
      this.o.logger.info({ code: ERRORS.KBD_STUCK.code, key }, `key ${key} released: no longer stuck`);
      this.showStuckKeys();
    }));
    // Keys held at power-on were reported to the self-test (its notice is the bare code): named now.
    this.showStuckKeys();
  }

  /**
   * The notice row names the keys the keypad reports stuck (E-KBD-01, "Key 5 stuck" / "按键5卡住",
   * its first step, in turns: stuckKeysNotice), first of boot's faults (the keypad is how anything
   * is done; boot/boot-faults.ts), in place of the self-test's bare E-KBD-01 for keys held at
   * power-on; their release ends it, and the other faults are read on as before (a stuck key used
   * to hide them, and the self-test's behind it never came back).
   */
  private showStuckKeys(): void {
    const keys = this.o.board.keypad().stuck();
    if (keys.length === 0) {
      if (!this.bootFaults.clear(STUCK_KEYS_SOURCE)) return;
    } else {
      this.bootFaults.set({ source: STUCK_KEYS_SOURCE, code: ERRORS.KBD_STUCK.code, notice: stuckKeysNotice(keys) });
    }
    this.render();
  }

  /** A key pressed through software (tests that bypass the keypad scan). */
  press(key: KeyName): void {
    this.keyDownAt = performance.now();
    this.pressKey(key);
  }

  private pressKey(key: KeyName): void {
    this.inUse.key();
    if (this.overlay) { this.overlay.press(key); this.render(); return; }
    if (key === '2' && this.env.modem?.fault === 'E-NET-09' && this.actor !== undefined && viewOf(this.actor.getSnapshot()).state === 'hostUnreachable' && this.openSimPin()) return;
    this.controller.press(key);
  }

  /**
   * The reader's frames clear its fault (runtime/txn/reader-health.ts) the moment it answers again:
   * those of the next card wait (its detection, its INFO liveness poll) or of a diagnostics check.
   * Nothing here asks it anything: at idle the reader is left alone, as before (battery).
   */
  private watchReader(): void {
    let reader: CardReader;
    try { reader = this.o.board.reader(); } catch { return; /* no reader role: nothing to watch */ }
    const off = reader.onAnswer?.(() => {
      const standing = this.readerHealth.fault()?.part === 'link';
      this.readerHealth.noteAnswered();
      if (standing) this.render();
    });
    if (off) this.stops.push(off);
  }

  /**
   * Each printer's answers (Printer.onAnswer: its status, polled for the paper at idle and on the
   * paper-out screen; a job's confirmations; diagnostics' check) end its self-test fault
   * (partAnswered): it was the notice until the next restart. Nothing is asked for it.
   */
  private watchPrinters(): void {
    for (const role of this.rolesOf(PRINTER_TYPES)) {
      const off = this.o.board.printer(role).onAnswer?.(() => this.partAnswered(role));
      if (off) this.stops.push(off);
    }
  }

  private watchBattery(): void {
    let last: string | undefined;
    // The machine the level was last sent to: a restart in place (recovery's Restart, an update, a
    // management reboot) starts a new one, which is told the level again, critical included.
    let toldActor: unknown;
    let failures = 0;
    const read = async (): Promise<void> => {
      const s = await this.o.board.battery().read().catch(() => undefined);
      // A gauge that stopped answering (unplugged, its bus down; the read rejects, or resolves on
      // the low-battery line alone with no figure): the status line stops showing the figure it
      // last read rather than a battery that looks fine (diagnostics says E-BRD-02).
      if (s?.percent === null || !s) {
        if (++failures === BATTERY_READ_FAILURES_MAX && this.env.status.batteryPercent !== undefined) {
          const { batteryPercent: _percent, ...status } = this.env.status;
          this.env = { ...this.env, status };
          this.o.logger.warn({ code: 'E-BRD-02', failures }, 'battery gauge not answering: its last figure is no longer shown');
          this.render();
        }
      } else {
        failures = 0;
      }
      if (!s) return;
      const status = { ...this.env.status, ...(s.percent !== null ? { batteryPercent: s.percent } : {}), charging: s.charging };
      this.env = { ...this.env, status };
      // Only once the machine runs: a level read before it (the boot's first read) is sent again.
      if ((s.level !== last || this.actor !== toldActor) && this.actor) {
        last = s.level;
        toldActor = this.actor;
        this.actor.send({ type: 'BATTERY', level: s.level === 'critical' ? 'critical' : s.level === 'low' ? 'low' : 'ok' });
      }
      this.render();
    };
    void read();
    // The process's watchers, not the machine's: they outlive a restart in place (halt() clears
    // this.timers) and stop with the terminal (a restart used to leave the battery and the paper
    // sensor unread until the process was killed).
    const battery = setInterval(() => void read(), this.o.batteryPollMs ?? BATTERY_POLL_MS);
    const paper = setInterval(() => void this.watchPaper(), this.o.paperPollMs ?? PAPER_POLL_MS);
    this.stops.push(() => { clearInterval(battery); clearInterval(paper); });
  }

  /**
   * While the machine waits in paperOut, paper loaded (and the cover closed) resumes printing.
   * At idle with copies waiting (a paper-out screen was cancelled), the sensor back to OK after it
   * was seen out prints them, in order (machine.ts: idle PAPER_LOADED; issue 13 item 11): once
   * each time the paper is seen out, so a printer that fails with its sensor OK is not retried
   * in a loop.
   */
  private async watchPaper(): Promise<void> {
    const state = this.actor?.getSnapshot().value;
    if (state !== 'paperOut' && state !== 'idle') return;
    const ready = await this.paperReady();
    if (!ready) { this.paperSeenOut = true; return; }
    if (state === 'paperOut') { this.actor?.send({ type: 'PAPER_LOADED' }); return; }
    if (!this.paperSeenOut || (this.terminal?.engine.pendingCopies().length ?? 0) === 0) return;
    this.paperSeenOut = false;
    this.actor?.send({ type: 'PAPER_LOADED' });
  }
  /** The paper sensor reported paper out since copies waiting at idle were last printed. */
  private paperSeenOut = false;
  private inPaperOut = false;

  /**
   * On entering paperOut the sensor is read at once: an operator who cancels the screen within a
   * poll must not leave the copy waiting until the next boot. Only noted, never a retry here: a
   * printer that fails with its sensor OK would loop.
   */
  private notePaperOut(state: string): void {
    const entered = state === 'paperOut' && !this.inPaperOut;
    this.inPaperOut = state === 'paperOut';
    if (entered) void this.paperReady().then((ready) => { if (!ready) this.paperSeenOut = true; });
  }

  /**
   * The printer can print: paper in, cover closed, no fault, and the battery above the board's
   * print threshold (runtime/print-power.ts). A copy waiting for a charge prints as one waiting
   * for paper does: on the paper-out screen as soon as this says ready, at idle once it was seen
   * not ready since (paperSeenOut).
   */
  private async paperReady(): Promise<boolean> {
    const s = await this.o.board.printer().status().catch(() => undefined);
    if (s === undefined || !s.online || s.paperOut || s.coverOpen || s.fault) return false;
    const power = boardPrintPower(this.o.board);
    return power === undefined || printPowerOk(power);
  }

  private printer(): Printer {
    return boardPrinter(this.o.board);
  }

  /**
   * A refund's defaults from this terminal's journal: an approved sale of the open batch by its
   * trace number (its reference number, host date and amount). A sale of an earlier, settled
   * batch or of another terminal is not here: the operator keys its reference number and date.
   */
  private refundLookup(stan: number): { rrn: string; dateMmdd: string; amountFen: number } | undefined {
    const t = this.terminal?.engine.txn(stan);
    if (!t || t.kind !== 'sale' || !t.rrn) return undefined;
    return { rrn: t.rrn, dateMmdd: t.hostDate ?? '', amountFen: t.amountFen };
  }

  // ---------------------------------------------------------------- signature pad

  /** Starts a capture on entering 'sale.signature'; ends it when the machine left the signature states. */
  private syncSignature(state: string): void {
    if (state === 'sale.signature' && this.pad && !this.capturing) { this.startCapture(this.pad); return; }
    if (state !== 'sale.signature' && state !== 'sale.savingSignature') {
      if (this.capturing) this.pad?.cancel();
      if (this.env.signaturePad) this.env = { ...this.env, signaturePad: undefined };
    }
  }

  private startCapture(pad: SignaturePad): void {
    this.capturing = true;
    this.env = { ...this.env, signaturePad: { strokes: 0 } };
    const stillSigning = (): boolean => { const snap = this.actor?.getSnapshot(); return snap !== undefined && viewOf(snap).state === 'sale.signature'; };
    pad.capture({
      timeoutMs: SIGNATURE_CAPTURE_MS, pixelsMax: SIGNATURE_PIXELS_MAX, compressedBytesMax: SIGNATURE_BYTES_MAX,
      onChange: (strokes) => { this.env = { ...this.env, signaturePad: { strokes: strokes.length } }; this.render(); },
    }).then((sig) => {
      this.capturing = false;
      this.o.logger.info({ strokes: sig.strokes.length, width: sig.image.width, height: sig.image.height, bytes: sig.compressedBytes }, 'signature captured');
      if (stillSigning()) this.actor?.send({ type: 'SIGNATURE', image: sig.image });
    }, (e: unknown) => {
      this.capturing = false;
      if (isSignatureAborted(e)) {
        if (e.reason !== 'closed' && stillSigning()) this.actor?.send({ type: 'SKIP' });
        return;
      }
      // A fault (the pad stopped answering, garbled conversions, too detailed to fit): the
      // cardholder signs the receipt instead; the pad is not used again until the next boot.
      if (isPosError(e, 'operator-input')) this.o.logger.warn({ err: e, code: e.code }, 'signature too detailed to keep: signing again');
      else { this.pad = undefined; this.padFailed(e, 'capture'); }
      this.env = { ...this.env, signaturePad: undefined };
      if (stillSigning() && this.pad) this.startCapture(this.pad);
      this.render();
    });
  }

  private signatureKey(key: KeyName): boolean {
    const pad = this.pad;
    if (!pad || !this.capturing) return false;
    if (key === 'OK') pad.confirm();
    else if (key === 'CLEAR') pad.clear();
    else if (key === 'CANCEL') pad.cancel();
    else return false;
    return true;
  }

  // ---------------------------------------------------------------- recovery menu actions and diagnostics

  private async recoveryAction(action: string): Promise<void> {
    this.o.logger.info({ action }, 'menu action');
    if (action === 'restart') { await this.restart(); return; }
    if (action === 'diagnostics') this.openDiagnostics();
  }

  /**
   * Recovery owns the journal while the menu is open (boot/recovery.ts): the terminal the machine
   * opened (reset held on a healthy journal) is closed first; a damaged journal had none.
   */
  private enterRecovery(state: string, session: Session | undefined): void {
    if (!this.recovery) {
      const terminal = this.terminal;
      this.terminal = undefined;
      this.transport?.close();
      // A scheduled backup reading the journal lets go of it first (its temp file removed).
      this.recoveryClosing = this.scheduledBackup.abort().then(() => terminal?.store.journal.close()).catch(() => undefined);
      this.recovery = this.buildRecovery();
    }
    if (state === 'recovery.menu' && !this.overlay && session?.role === 'administrator') {
      this.recoverySession = session;
      this.overlay = new (recoveryMenuModule().RecoveryMenu)({
        recovery: () => this.recovery!, session: () => this.recoverySession,
        backupDir: this.o.backupDir, usbDirs: this.o.usbDirs ?? [], usbTakenAsMounted: this.o.board.config.simulator === true, ...(this.o.update ? { update: this.o.update } : {}),
        netInterface: this.netInterface(), host: this.o.host, tzOffsetMinutes: this.o.board.config.tzOffsetMinutes,
        // Why recovery opened (the machine keeps it): a wrong password at its login is not the reason.
        reason: () => { const snap = this.actor?.getSnapshot(); return snap ? recoveryReasonData(viewOf(snap)) : {}; },
        clock: this.clock, pages: (sc) => renderScreen(sc, this.locale.get(), this.caps()).pageCount,
        changed: () => this.render(), openDiagnostics: () => void this.openDiagnostics(), logger: this.o.logger.child({ component: 'recovery' }),
      });
      this.render();
    }
  }

  private buildRecovery(): Recovery {
    const system: SystemHook = {
      reboot: async () => { setImmediate(() => void this.restart()); },
      powerOff: async () => { setImmediate(() => { this.o.logger.warn('power off from the recovery menu'); (this.o.powerOff ?? this.o.onShutdown)?.(); }); },
    };
    const simulator = this.o.board.config.simulator === true;
    return new (recoveryModule().Recovery)({
      journalDir: this.o.journalDir, backupDir: this.o.backupDir, clock: this.clock, logger: this.o.logger.child({ component: 'recovery' }),
      ...(simulator ? { identity: SIM_IDENTITY } : {}),
      printer: this.printer(), lang: this.locale.get() === 'en' ? 'en' : 'zh', merchantName: 'DEMO SHOP', system,
      terminalFor: (journal) => this.terminalOver(journal),
      net: { connectTimeoutMs: 3_000 },
      // Network settings saved in the menu are written for the OS as the board file says.
      netApply: netApplyModule().netApplyFromBoard(this.o.board.config),
      ...(this.o.fallbackAdmin ? { fallbackAdmin: this.o.fallbackAdmin } : {}),
      // The factory reset's backup is sealed under this key, and repair and import open it.
      deviceKey: this.deviceKey(),
    });
  }

  /** The machine's recovery login: Recovery.authenticate (works on a damaged journal), admitted when an administrator. */
  private async recoveryLogin(operator: string, password: string): Promise<Session> {
    await this.recoveryClosing;
    await this.takeTerminalLock();
    const rec = this.recovery ?? (this.recovery = this.buildRecovery());
    const session = await rec.authenticate(operator, password);
    // A non-administrator or a merchant's administrator is refused by the machine (notice); admit journals the refusal.
    await rec.admit(session, { serviceOnly: true }).catch(() => undefined);
    return session;
  }

  private netInterface(): string {
    return this.o.netInterface ?? this.o.board.config.network?.interface ?? (this.o.board.config.simulator === true ? 'lo' : 'eth0');
  }

  /** Closes the overlay and the recovery session (Recovery closes the journal it opened). */
  private async leaveRecovery(): Promise<void> {
    this.overlay?.close?.();
    this.overlay = undefined;
    this.recoverySession = undefined;
    const rec = this.recovery;
    this.recovery = undefined;
    await rec?.close().catch(() => undefined);
  }

  /** What diagnostics checks and reads, the same for the menu and for a management request. */
  private diagnosticsChecks(logger: Logger): Omit<DiagnosticsDeps, 'pages' | 'changed' | 'close'> {
    return {
      board: this.o.board, journalDir: this.o.journalDir, errors: this.errors, clock: this.clock, logger, swipes: this.swipes, readerHealth: this.readerHealth,
      archiveBytesMax: this.o.archiveBytesMax ?? ARCHIVE_BYTES_MAX, backupStatus: () => this.scheduledBackup.status(),
      networkTest: () => this.networkTest(),
      ...this.linksTest(),
      ...(this.terminal ? { signOnTest: () => this.signOnTest(), echoTest: () => this.echoTest() } : {}),
      emvParams: () => this.emvParamsView(),
      tlsClientCertDaysLeft: () => this.tlsLink?.clientCertDaysLeft(),
      hostLink: () => (this.transport instanceof FailoverTransport ? this.transport.lastLink() : undefined),
      management: () => this.mgmtLink(), logTimeOffsetMs: () => this.clockControl.offsetMs,
    };
  }

  /** The diagnostics overlay: over idle (MENU 8), storage failure, or the recovery menu (6). */
  openDiagnostics(): Diagnostics {
    const under = this.overlay;
    const diag: Diagnostics = new (diagnosticsModule().Diagnostics)({
      ...this.diagnosticsChecks(this.o.logger.child({ component: 'diagnostics' })),
      pages: (sc) => renderScreen(sc, this.locale.get(), this.caps()).pageCount,
      changed: () => this.render(),
      close: () => { if (this.overlay === diag) this.overlay = under; this.render(); },
    });
    this.overlay = diag;
    this.render();
    return diag;
  }

  /** The chip kernel's downloaded CA keys and AIDs for diagnostics, on the terminal's own date. */
  private emvParamsView(): EmvParamsView | undefined {
    const s = this.terminal?.engine.state;
    if (s === undefined) return undefined;
    return { caKeys: s.caKeys ?? [], ...(s.aids === undefined ? {} : { aids: s.aids }), todayYyyymmdd: todayYyyymmdd(this.clock(), this.o.board.config.tzOffsetMinutes) };
  }

  /** On a board that orders its links, diagnostics checks each of them (boot/link-check.ts). */
  private linksTest(): { linksTest?: () => ReturnType<typeof checkLinks> } {
    const links = this.o.board.config.links;
    return links ? { linksTest: () => linkCheckModule().checkLinks(links, this.o.host) } : {};
  }

  /** Recovery.testNetwork in recovery; the same test on the saved settings otherwise. */
  private async networkTest(): Promise<Report> {
    if (this.recovery) {
      const rec = this.recovery;
      return rec.testNetwork((await rec.networkSettings().catch(() => undefined)) ?? this.defaultNetwork());
    }
    let saved: NetworkSettings | undefined;
    for (const r of this.terminal?.store.journal.records() ?? []) if (r.type === RecordType.settings && r.payload.kind === 'network') saved = r.payload.network as NetworkSettings;
    const r = await recoveryNetModule().testConnectivity(saved ?? this.defaultNetwork(), { connectTimeoutMs: 3_000 });
    const lines = r.steps.map((st) => `${st.ok ? 'ok  ' : 'FAIL'} ${st.step}${st.code ? ` ${st.code}` : ''}: ${st.detail}`);
    return { action: 'network-test', ok: r.ok, lines, journaled: false, ...(r.firstFailure?.code ? { code: r.firstFailure.code } : {}) };
  }

  private defaultNetwork(): NetworkSettings {
    return { interface: this.netInterface(), mode: 'dhcp', host: this.o.host.host, port: this.o.host.port };
  }

  private async echoTest(): Promise<LocalText> {
    const t = this.terminal;
    if (!t) throw new PosError('KEY_MISSING', 'no terminal open');
    const e = await t.engine.echo();
    return text('diag.echoAnswered', { code: e.responseCode, ms: e.roundTripMs });
  }

  private async signOnTest(): Promise<LocalText> {
    const t = this.terminal;
    if (!t) throw new PosError('KEY_MISSING', 'no terminal open');
    const snap = this.actor?.getSnapshot();
    const session = snap?.context.session ?? t.engine.lastSession;
    if (!session) throw new PosError('OPR_PERMISSION', 'log in first: the sign-on test signs on as the operator');
    await t.engine.signOn(session);
    return text('diag.signedOnAs', { op: session.operator });
  }

  /** Main-loop health for the watchdog: the tick runs and the machine has not failed. */
  /**
   * The watchdog's health (boot/watchdog.ts): `booting` until the machine has left its boot state
   * (self-test, the journal checked and replayed), so READY=1 waits for it and systemd's start
   * timeout is extended meanwhile; before the machine exists (the board's self-test) not ok.
   */
  health(): { ok: boolean; status: string; booting: boolean } {
    const age = Math.round(monotonicMs() - this.lastTickMs);
    const state = this.actor?.getSnapshot();
    if (!state) return { ok: false, status: 'machine not running', booting: true };
    const booting = state.value === 'boot';
    if (state.status === 'error') return { ok: false, status: 'state machine failed', booting };
    if (age > TICK_MS * 10) return { ok: false, status: `main loop late by ${age} ms`, booting };
    return { ok: true, status: viewOf(state).state, booting };
  }

  /** Reboots in place: machine stopped, journal closed, the boot run again (reset not held). */
  private async restart(): Promise<void> {
    await this.leaveRecovery();
    await this.halt();
    this.recoveryRequested = false;
    this.bootToIdleMs = undefined;
    this.progress('journal', 2);
    this.startMachine();
  }

  private async halt(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.checkpointDue = undefined;
    if (this.capturing) this.pad?.cancel();
    this.actor?.stop();
    this.actor = undefined;
    await this.stopManagement();
    this.transport?.close();
    await this.scheduledBackup.abort();
    await this.terminal?.store.journal.close().catch(() => undefined);
    this.terminal = undefined;
  }

  // ---------------------------------------------------------------- remote management

  private mgmt: ManagementClient | undefined;
  /** The last slip sent to the e-receipt service (batch/stan): a result stays in view over several states. */
  private receiptPublished: string | undefined;
  /** Why the management channel was not started (its configuration cannot work): not retried. */
  private mgmtRefused: { readonly code: string; readonly message: string; readonly atMs: number } | undefined;

  /**
   * The management channel (docs/MANAGEMENT.md), once the journal is open (its identity is the
   * serial the broker knows) and only when the board file names a broker. Tried from the tick; a
   * configuration that cannot work (a credential file missing) is logged once and not retried.
   */
  private startManagementOnce(): void {
    const section = this.o.board.config.management;
    if (!section || this.mgmt || this.mgmtRefused || !this.terminal || this.stopped) return;
    const identity = this.terminal.store.journal.identity;
    const update = this.o.update;
    try {
      // Loaded only for a board that names a broker: mqtt.js and its dependencies are some 80
      // modules the boot of every other terminal does not need (issue 14, lazy loading).
      const { startManagement } = require('./mgmt-wiring') as typeof MgmtWiring;
      const { mgmtUpdater } = require('./mgmt-update') as typeof MgmtUpdate;
      this.mgmt = startManagement(section, identity, this.managedApp(), this.o.logger, this.clock, update ? (caPem) => mgmtUpdater({
        root: update.root, publicKeyHex: update.publicKeyHex, board: update.board, caPem, stagingDir: join(dirname(this.o.journalDir), 'update-staging'),
        battery: () => ({ percent: this.env.status.batteryPercent, charging: this.env.status.charging === true }),
        batchCount: () => this.terminal?.store.state.txns.size ?? 0,
      }) : undefined, () => (require('../runtime/mgmt/credentials') as typeof MgmtCredentials).readMgmtPassword(keyDirFor(this.o.journalDir), this.deviceKey()),
      // Beside the journal in the storage folder, not in it (runtime/mgmt/receipt-queue.ts says why).
      join(keyDirFor(this.o.journalDir), RECEIPT_QUEUE_DIR));
    } catch (e) {
      const code = isPosError(e) ? e.code : 'E-MGT-09';
      const message = e instanceof Error ? e.message : String(e);
      // The cause alone: the diagnostics line names the code (a PosError's message leads with it).
      this.mgmtRefused = { code, message: message.startsWith(`${code} `) ? message.slice(code.length + 1) : message, atMs: this.clock() };
      this.o.logger.warn({ err: String(e), code: isPosError(e) ? e.code : undefined }, 'management channel not started');
    }
  }

  /** The management link for diagnostics; undefined on a board that names no broker. */
  private mgmtLink(): MgmtLinkState | undefined {
    const section = this.o.board.config.management;
    if (!section) return undefined;
    if (this.mgmt) return this.mgmt.link();
    return { url: section.url, connected: false, queued: 0, dropped: 0, ...(this.mgmtRefused ? { lastError: this.mgmtRefused } : {}) };
  }

  private async stopManagement(): Promise<void> {
    const m = this.mgmt;
    this.mgmt = undefined;
    await m?.stop().catch(() => undefined);
  }

  /**
   * An approved transaction's slip goes to the acquirer's e-receipt service over the management
   * channel (issue 12 item 6; queued while the broker is away, like events), once per transaction.
   */
  private publishReceipt(view: MachineView): void {
    const r = view.data.result;
    const m = this.mgmt, terminal = this.terminal;
    if (r?.outcome !== 'approved' || !r.txn || !m || !terminal) return;
    const t = r.txn, key = `${t.batch}/${t.stan}`;
    if (key === this.receiptPublished) return;
    this.receiptPublished = key;
    const { tid, mid } = terminal.engine.config.ids;
    const base = terminal.engine.eReceiptBase;
    // Loaded with the management channel, not at boot (issue 14: start time).
    const { receiptDocument } = require('../runtime/mgmt/protocol') as typeof MgmtProtocol;
    m.publishReceipt(receiptDocument(t, { tid, mid, merchantName: terminal.engine.merchantName ?? MERCHANT_NAME_DEFAULT, ...(base ? { url: eReceiptUrl(t, tid, base) } : {}) }));
  }

  /** The application's parts the management channel reads and commands (boot/mgmt-wiring.ts). */
  private managedApp(): MgmtWiring.ManagedApp {
    return {
      statusUpload: () => this.terminalStatus(),
      errors: this.errors,
      terminal: () => this.terminal,
      machineState: () => { const snap = this.actor?.getSnapshot(); return snap ? viewOf(snap).state : 'boot'; },
      network: () => ({ interface: this.netInterface() }),
      charging: () => this.env.status.charging,
      runDiagnostics: async () => {
        // The diagnostics menu's automatic checks, without its screen; nobody is at the terminal,
        // so the reader check, which waits for a test card, reports the reader's state instead
        // (boot/diagnostics.ts `unattended`). The keypad and display tests need a person: pending.
        const d = new (diagnosticsModule().Diagnostics)({
          ...this.diagnosticsChecks(this.o.logger.child({ component: 'diagnostics', by: 'mgmt' })),
          pages: () => 1, changed: () => undefined, close: () => undefined, unattended: true,
        });
        await d.done;
        return d.snapshot().map((r) => ({ check: r.check, state: r.state, ...(r.code ? { code: r.code } : {}), lines: r.lines }));
      },
      logs: (maxBytes, sinceMs) => this.recentLogs(maxBytes, sinceMs),
      restart: () => this.restart(),
      sellingLockChanged: () => this.render(),
      versionFlagsChanged: () => { this.noteVersionFlag(); this.render(); },
    };
  }

  /**
   * The newest structured log lines for `upload-logs` (boot/log-source.ts): journald's for the unit
   * on a board under systemd, else the in-process ring, else (no ring given) the error ring's
   * entries. Card numbers masked on the way out whatever the source.
   */
  private async recentLogs(maxBytes: number, sinceMs?: number): Promise<{ text: string; source: string; truncated: boolean }> {
    let r: { text: string; truncated: boolean };
    let source: string;
    const fromJournald = this.o.logSource === 'journald'
      ? await journaldLogs({ maxBytes, ...(sinceMs !== undefined ? { sinceMs } : {}) }).catch((e: unknown) => {
        // journalctl missing or failing: the ring still has this process's lines.
        this.o.logger.warn({ err: String(e) }, 'upload-logs: journald could not be read: the in-process lines instead');
        return undefined;
      })
      : undefined;
    if (fromJournald) {
      r = fromJournald;
      source = 'journald';
    } else if (this.o.logRing) {
      r = this.o.logRing.recent(maxBytes, sinceMs);
      source = 'memory';
    } else {
      r = newestWithin(this.errors.last(Number.MAX_SAFE_INTEGER).reverse().filter((e) => sinceMs === undefined || e.timeMs >= sinceMs).map((e) => JSON.stringify(e)), maxBytes);
      source = 'errors';
    }
    return { text: maskCardNumbers(r.text), source, truncated: r.truncated };
  }

  // ---------------------------------------------------------------- screens

  private progress(step: Env['bootStep'], index: number): void {
    this.env = { ...this.env, bootStep: step, bootStepIndex: index };
    this.render();
  }

  /** The main loop is alive now (health). */
  noteTick(): void {
    this.lastTickMs = monotonicMs();
  }

  private tick(): void {
    this.noteTick();
    this.startManagementOnce();
    this.scheduledBackup.poke();
    this.env = { ...this.env, nowMs: this.clock() };
    this.controller.tick();
    this.render();
  }

  private caps(): DisplayCapabilities {
    return this.o.board.display().capabilities;
  }

  private render(): void {
    if (this.stopped) return;
    // Every part's fault standing is read in turn (boot/boot-faults.ts): the card reader's with
    // boot's when boot's stand (it was left behind them, unseen, until they ended), in its own
    // place among the notices when it stands alone.
    const reader = readerNotice(this.readerHealth);
    const parts = this.bootFaults.all().map((f) => f.notice);
    const folded = parts.length > 0 && reader !== undefined;
    this.env = {
      ...this.env, storageNotice: storageNotice(this.terminal),
      bootNotice: faultsNotice(folded ? [...parts, reader] : parts), readerNotice: folded ? undefined : reader,
    };
    const snap = this.actor?.getSnapshot();
    const view: MachineView = snap ? viewOf(snap) : { state: 'boot', data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: false, reversalPending: false } };
    let choice: { name: string; notice?: Txt };
    let screen: Screen;
    if (this.overlay) {
      screen = this.overlay.screen();
      choice = { name: screen.id };
    } else {
      const c = chooseScreen(view, this.controller.state(), this.env);
      choice = c;
      screen = screenFor(c.name, c.data);
      // The error screen names the damaged record (E-STO-05 at boot: which seq the verifier found),
      // after what the state says (a reversal owed or cleared, a settled batch: screen-map errorDetails).
      if (c.name === 'error') {
        const details = this.errorDetails(String(c.data.code));
        if (details.length) screen = { ...screen, lines: details };
      }
      // Long bodies page with UP/DOWN (error screens carry their page in their data).
      if (c.name !== 'error' && this.controller.state().page > 0) screen = { ...screen, page: this.controller.state().page };
    }
    if (choice.notice !== undefined && screen.notice === undefined) screen = { ...screen, notice: choice.notice };
    screen = this.withNoticeTurn(screen);
    const same = this.shown && this.shown.name === choice.name && JSON.stringify(this.shown.screen) === JSON.stringify(screen);
    if (same) return;
    this.shown = { name: choice.name, screen };
    const keyAt = this.keyDownAt;
    this.keyDownAt = undefined;
    this.ui.show(screen).then(() => {
      if (keyAt !== undefined) {
        this.keyToScreenMs.push(performance.now() - keyAt);
        if (this.keyToScreenMs.length > KEY_TIMINGS_KEPT_MAX) this.keyToScreenMs.shift();
      }
      this.shownAtMonoMs = monotonicMs();
      // The probe's snapshot lays the screen out as text again: only for someone listening (the simulator's control interface).
      if (this.listeners.size === 0) { this.inUse.state(this.machineState()); return; }
      const s = this.snapshot();
      this.inUse.state(s.state);
      for (const l of this.listeners) l(s);
    }, (e: unknown) => this.o.logger.warn({ err: e }, 'display update failed'));
  }

  /**
   * A notice its row cannot hold whole shows its parts in turn, each for NOTICE_TURN_MS on the
   * terminal's clock (the tick redraws when the turn moves on), counted from when the notice
   * appeared, so that it is read from its first turn (counted from the clock's zero, a new notice
   * began at whichever turn the clock was in). A notice that fits is left without a turn, so that
   * the screen stays the same and is not sent to the display again.
   */
  private withNoticeTurn(screen: Screen): Screen {
    if (screen.notice === undefined) { this.noticeShown = undefined; return screen; }
    const now = this.clock();
    const key = JSON.stringify(screen.notice);
    // Another notice, or the clock set back (the host's time at sign-on): its first turn, from now.
    if (this.noticeShown?.key !== key || now < this.noticeShown.sinceMs) this.noticeShown = { key, sinceMs: now };
    const turns = noticeTurnCount(screen, this.locale.get(), this.caps());
    return turns > 1 ? { ...screen, noticeTurn: Math.floor((now - this.noticeShown.sinceMs) / (this.o.noticeTurnMs ?? NOTICE_TURN_MS)) % turns } : screen;
  }

  /** The notice on the row (as JSON) and since when, on the terminal's clock: its turns count from then. */
  private noticeShown: { key: string; sinceMs: number } | undefined;

  /** Detail lines for the error on display: what the state says of it (screen-map), the record the journal is damaged at. */
  private errorDetails(code: string): Txt[] {
    const snap = this.actor?.getSnapshot();
    const v = snap ? viewOf(snap) : undefined;
    const e = v?.data.error;
    if (!v || !e || e.code !== code) return [];
    const seq = e.detail.seq;
    return [...stateErrorDetails(v, e), ...(typeof seq === 'number' ? [{ en: `at record ${seq}`, zh: `第${seq}条记录` }] : [])];
  }

  private machineState(): string {
    const snap = this.actor?.getSnapshot();
    return snap ? viewOf(snap).state : 'boot';
  }

  private snapshot(): ProbeSnapshot {
    const snap = this.actor?.getSnapshot();
    const view = snap ? viewOf(snap) : undefined;
    const screen = this.shown?.screen;
    return {
      state: view?.state ?? 'boot',
      data: view?.data ?? { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: false, reversalPending: false },
      screen: { name: this.shown?.name ?? 'boot', id: screen?.id ?? 'boot', text: screen ? screenText(screen, this.locale.get(), this.caps()) : [], locale: this.locale.get() },
      timing: {
        ...(this.bootToIdleMs !== undefined ? { bootToIdleMs: this.bootToIdleMs } : {}),
        keyToScreenMs: [...this.keyToScreenMs],
        ...(this.shownAtMonoMs !== undefined ? { shownAtMonoMs: this.shownAtMonoMs } : {}),
      },
      ...(this.overlay ? { overlay: isDiagnostics(this.overlay) ? { name: this.overlay.name, complete: this.overlay.complete, results: this.overlay.snapshot() } : { name: this.overlay.name } } : {}),
    };
  }
}

/** The screen as text rows, as the display lays it out (Chinese included on a graphic display). */
export function screenText(screen: Screen, locale: Locale, caps: DisplayCapabilities): string[] {
  if (caps.kind === 'text') {
    const r = renderScreen(screen, locale, caps);
    return r.kind === 'text' ? r.rows : [];
  }
  // The e-receipt's QR code and its lines replace the layout where they fit: say what is drawn.
  const receipt = screen.eReceiptQr ? renderEReceipt(screen.eReceiptQr.content, screen.eReceiptQr.lines.map((l) => resolveText(l, locale)), caps) : undefined;
  if (receipt?.kind === 'ok') return [...receipt.lines];
  return layout(screen, locale, pixelGrid(caps)).rows.map((row) => (row.right ? `${row.text} ${row.right}` : row.text).trimEnd());
}

function resetTimes(board: Board): { holdMs: number; stuckMs: number } {
  const dc = board.config.devices.reset0;
  return dc?.type === 'gpio-button' ? { holdMs: dc.resetHoldMs, stuckMs: dc.stuckMs } : { holdMs: 3_000, stuckMs: 60_000 };
}

/**
 * The reset button at boot. Held for holdMs and then let go: recovery. Still held at stuckMs: a
 * stuck button (KBD_RESET_STUCK), reported, and the boot goes on as normal.
 */
export async function resetAtBoot(button: Button, t: { holdMs: number; stuckMs: number }): Promise<{ recovery: boolean; fault?: PosError }> {
  if (!(await button.pressed().catch(() => false))) return { recovery: false };
  if (!(await button.waitHeld(t.holdMs))) return { recovery: false };
  const released = await new Promise<boolean>((done) => {
    const timer = setTimeout(() => { stop(); done(false); }, Math.max(0, t.stuckMs - button.heldMs()));
    const stop = button.onEvent((ev) => { if (ev.type === 'release') { clearTimeout(timer); stop(); done(true); } });
  });
  if (released) return { recovery: true };
  return { recovery: false, fault: new PosError('KBD_RESET_STUCK', `reset button held over ${t.stuckMs} ms at boot: stuck, not a recovery request`, { stuckMs: t.stuckMs }) };
}

function need<T>(v: T | undefined): T {
  if (v === undefined) throw new PosError('STO_IDENTITY', 'this journal has no terminal-identity record');
  return v;
}

/**
 * FIELD-FAULTS: refuse new sales before storage is full and say so early. The journal keeps a
 * reserve for settlement; from 90% of the sales budget idle says "nearly full: settle now". The
 * budget is the disk's free space when that is less (something else filled it: Journal.usage).
 */
export function storageNotice(terminal: Terminal | undefined): Txt | undefined {
  const usage = terminal?.store.journal.usage();
  if (!usage || (!usage.nearlyFull && !usage.salesRefused)) return undefined;
  return errorNotice(usage.salesRefused ? ERRORS.STO_FULL : ERRORS.STO_NEARLY_FULL);
}

/**
 * The card reader's fault as idle and login show it (runtime/txn/reader-health.ts): its code,
 * cause and first step, until the reader answers again (or, for its head, a swipe reads).
 */
export function readerNotice(health: ReaderHealth): Txt | undefined {
  const f = health.fault();
  const d = f ? errorByCode(f.code) : undefined;
  return d ? errorNotice(d) : undefined;
}

/**
 * E-STO-15 as idle and login show it: old records to export, and where (its first step: the
 * recovery menu, a USB stick), in turns like the others.
 */
export function archiveNotice(): Txt {
  return errorNotice(ERRORS.STO_ARCHIVE_EXPORT);
}

/**
 * The parts the terminal cannot work without: the display and the keypad (nothing can be shown or
 * typed), and the battery's fuel gauge (the battery thresholds that refuse a sign-on and a print on
 * a low battery, and the clean shutdown before a brown-out, read it: FIELD-FAULTS.md). Any other
 * part that fails its self-test is reported on idle and login and the terminal sells without it.
 */
const FATAL_PART_TYPES: ReadonlySet<DeviceConfig['type']> = new Set(['ssd1306', 'hd44780-pcf8574', 'matrix-keypad', 'evdev-keypad', 'battery']);
/** Self-test codes that say a part cannot work at all (absent, its bus failing, a display that does not answer). */
const FATAL_SELF_TEST_CODES: ReadonlySet<string> = new Set([ERRORS.BRD_DEVICE_ABSENT.code, ERRORS.BRD_BUS.code, ERRORS.DSP_FAULT.code]);
const KEYPAD_TYPES: ReadonlySet<DeviceConfig['type']> = new Set(['matrix-keypad', 'evdev-keypad']);
/** The printers, whose answers the terminal hears while it works (watchPrinters). */
const PRINTER_TYPES: ReadonlySet<DeviceConfig['type']> = new Set(['escpos-serial']);

/**
 * Codes whose cause names no part ("Device not answering", "Bus transfer failed", first step
 * "Check the part named"): their notice names it before the cause. Every other self-test code's
 * cause names its part already ("Printer not answering", "Reset button stuck").
 */
const PART_UNNAMED: ReadonlySet<string> = new Set([ERRORS.BRD_DEVICE_ABSENT.code, ERRORS.BRD_BUS.code]);

/** The part a device is, in diagnostics' words (ui-lcd/strings.ts diag.*); the role's own name for the rest. */
const PART_OF_TYPE: Readonly<Partial<Record<DeviceConfig['type'], StringKey>>> = {
  'escpos-serial': 'diag.printer', 'framed-card-reader': 'diag.reader', 'hd44780-pcf8574': 'diag.display', ssd1306: 'diag.display',
  'matrix-keypad': 'diag.keypad', 'evdev-keypad': 'diag.keypad', battery: 'diag.battery', 'quectel-modem': 'diag.network', 'wpa-supplicant': 'diag.network',
  'gpio-led': 'part.led', 'serial-scan-engine': 'part.scanner', 'gpio-button': 'part.button',
};

/** The part `role` is on this board ("Battery" / "电池"), undefined without a role. */
export function partOf(board: Pick<Board, 'config'>, role: string | undefined): LocalText | undefined {
  if (role === undefined) return undefined;
  const type = board.config.devices[role]?.type;
  const key = type !== undefined ? PART_OF_TYPE[type] : undefined;
  return key !== undefined ? text(key) : { en: role, zh: role };
}

/**
 * A fault boot found (the self-test's: printer, battery and its gauge, display, keypad, scanner,
 * modem; the keypad's own later) as idle and login show it: its code, cause and first step in
 * turns, as the reader's (it was the bare code: "E-PRN-04", and nothing said what to do). A
 * cause that names no part gets `part` before it ("Battery: Device not answering").
 */
export function faultNotice(fault: PosError, part?: LocalText): Txt {
  const d = fault.definition;
  if (part === undefined || !PART_UNNAMED.has(d.code)) return errorNotice(d);
  return errorNotice(d, text('notice.partFault', { part, cause: { en: d.en.cause, zh: d.zh.cause } }));
}

/**
 * The keys the keypad reports stuck as idle and login show them: E-KBD-01, the keys named as its
 * cause ("Keys 1 OK stuck" / "按键1 OK卡住"), its first step, in turns (several keys' names were
 * cut at the row: "Keys CANCEL" for CANCEL, CLEAR and FUNC on 16 cells).
 */
export function stuckKeysNotice(keys: readonly string[]): Txt {
  return errorNotice(ERRORS.KBD_STUCK, text(keys.length === 1 ? 'notice.keyStuck' : 'notice.keysStuck', { keys: keys.join(' ') }));
}

/**
 * The export the terminal offers on its own (storage failure, the machine's recovery state): no
 * one types a passphrase there, so the backup is sealed under the device key and restores on
 * this terminal (`pos recovery import`, the recovery menu). Returns the file written.
 */
export function exportJournalSealed(journal: Journal, dir: string, deviceKey: DeviceKeyProvider, clock: () => number): string {
  // The time after the last record's number (Recovery.backups orders by the number).
  const file = join(dir, backupFileName(journal.identity, journal.baseSeq + journal.lastSeq, new Date(clock()).toISOString().replace(/[:.]/g, '-')));
  exportToFile(journal, file, { deviceKey: () => deviceKey.deviceKey(), clock });
  return file;
}

/** The checkpoint's MAC key, or none when the device key cannot be had (the boot then verifies all and reports the key). */
function checkpointKeyOf(deviceKey: DeviceKeyProvider): Buffer | undefined {
  try {
    return checkpointKey(deviceKey.deviceKey());
  } catch {
    return undefined;
  }
}

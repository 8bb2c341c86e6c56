/**
 * The diagnostics menu (idle MENU 8, and recovery item 6): the checks of issue 5, each result with
 * its code. Opening it runs the checks that need nobody at the terminal (battery, storage, printer
 * status, network, host, last errors) and prints nothing; the person then chooses a check by its
 * number (or OK on the selection): the ones that need them (reader, keypad, display, touch, scanner) run when
 * chosen, the others open their detail, where OK does the check's action (the printer's test page
 * is printed only then; the interactive ones run again). CANCEL or BACK leave a detail, and
 * the list closes diagnostics. The checks:
 *
 *   battery   gauge reading (percent, voltage, charging); a gauge fault's code (E-PWR / E-BRD)
 *   storage   journal verified in a child process + free space of its file system (fs.statfs);
 *             damage E-STO-05, under STORAGE_FREE_BYTES_MIN free E-STO-02; the archives of settled
 *             batches against their budget (runtime/archive.ts): over it with the oldest not
 *             exported E-STO-15 (export them in the recovery menu); the scheduled backups
 *             (storage/scheduled-backup.ts): the newest one's batch and how many are kept, off, or
 *             none yet; the last one not written (no SD card, full, read-only) E-STO-16
 *   printer   status (paper, cover, fault); on request (OK in its detail) a test page with a QR code (E-PRN-xx)
 *   reader    unreadable swipes in a row and the last swipe's outcome (runtime/txn/swipe-failures.ts),
 *             the last fault of the reader itself (runtime/txn/reader-health.ts), self-test, then
 *             "present a test card" and read it (CANCEL or no card: E-RDR-06); a swipe that reads
 *             clears the count, one that does not counts; a count still past
 *             READER_SWIPE_FAILURES_MAX fails the check with E-RDR-01 (the head: clean it, swipe
 *             again). A self-test that fails is the reader's fault (idle shows it); one that
 *             answers, and a check that passes, end it. `unattended` (a management request, nobody
 *             at the terminal): no test card, the reader's state instead (readerStatus)
 *   keypad    press every key; the screen shows which are left (none for KEYPAD_IDLE_MS_MAX: E-KBD-03);
 *             keys stuck (at boot, or held past stuckMs) are not waited for: E-KBD-01 naming them.
 *             A failed test lists the keys that worked.
 *             CANCEL is a key under test too: the first counts, a second one stops the test (E-OPR-07)
 *   display   checkerboard test pattern: OK when it is even, CANCEL when not (E-DSP-01; a display
 *             that does not answer fails by itself)
 *   touch     (boards with a signature pad, the list's 10th: UP/DOWN and OK) the pad answers (else
 *             E-BRD-05); nothing read while nobody touches it for TOUCH_QUIET_MS (else E-BRD-06:
 *             dirty or damaged); a line drawn across it, then OK, read over TOUCH_ACROSS_RATIO_MIN of
 *             its width (else E-BRD-06; nothing read E-BRD-05); CANCEL stops it (E-OPR-07)
 *   scanner   (boards with a scan engine, after touch) the port answers, then a code shown within
 *             SCANNER_TEST_MS_MAX is read: its length and last 4 characters, and the engine's counts
 *             since start (E-SCN-01 nothing shown, 02 silent, 03 not understood, 04 disconnected)
 *   network   on a board with `links`: each link in order, up, address, route, connect, and which one
 *             sales use (boot/link-check.ts); else
 *             interface, address, gateway, DNS, TCP connect to the host (Recovery.testNetwork); on a
 *             board with a 4G modem (modem0) also its SIM, signal, registration, operator and APN
 *             (modemLines); on a board with Wi-Fi (wifi0) the network joined and its address, or
 *             not joined (E-NET-34; E-NET-31 a saved network refused; E-NET-28 wpa_supplicant not
 *             reachable), its signal in dBm with bars and band, weak below WIFI_WEAK_BELOW_DBM
 *             (E-NET-33) (wifiLines). A modem or Wi-Fi fault fails the check, with its guided
 *             steps, when that radio is the board's link (the first in the board's order when
 *             both are) or the network test failed too; else it is a line.
 *   host      an echo test (does the host answer?), then a sign-on test (keys exchanged with the
 *             acquirer: E-HOST / E-NET / E-KEY codes); the echo's answer tells the network from the host;
 *             then the chip kernel's CA public keys and AIDs as downloaded (boot/diag-emv.ts)
 *   log       the last errors of the log with their codes (ErrorRing, below)
 */
import { boardPrinter } from '../runtime/print-power';
import { statfs } from 'node:fs/promises';
import { freemem, loadavg, totalmem } from 'node:os';
import { existsSync } from 'node:fs';
import type { Board } from '../hal/board';
import type { ReaderInfo } from '../hal/card-reader';
import type { KeyName } from '../hal/keypad';
import { KEY_NAMES } from '../hal/keypad';
import { FrameBuffer, isPixelDisplay } from '../hal/display';
import { ERRORS, PosError, isPosError } from '../common/errors';
import { ModemStatus, modemFault } from '../hal/modem';
import { clipAtWord, readWifiState } from './wifi-state';
export { clipAtWord } from './wifi-state';
import type { LinkUse } from '../runtime/host/failover';
import type { MgmtLinkState } from '../runtime/mgmt/client';
import { linkName } from '../runtime/host/link-name';
import type { LinkCheckReport, LinkStepResult } from './link-check';
import type { Logger } from '../common/log';
import { verifyInChild } from '../storage/verify-child';
import { ARCHIVE_BYTES_MAX, archiveBudget } from '../runtime/archive';
import { type ScheduledBackupStatus, scheduledBatchOf } from '../storage/scheduled-backup';
import type { LocalText, MenuItem, Screen, Txt } from '../ui-lcd/screen';
import { screenFor, DIAG_CHECKS, DiagCheck, diagChecksFor, stepLines } from '../ui-lcd/screens';
import { CapturedSignature, Stroke, isSignatureAborted } from '../hal/signature-pad';
import { TOUCH_ACROSS_RATIO_MIN, TOUCH_DRAW_MS_MAX, TOUCH_QUIET_MS, acrossPct, touchCapture, touchPoints } from './touch-check';
import { maskCode } from '../hal/scanner';
import { t } from '../ui-lcd/strings';
import type { Overlay } from './recovery-menu';
import type { Report } from './recovery';
import { same } from '../ui-lcd/recovery-strings';
import { formatDateTime } from '../common/time';
import { CLIENT_CERT_WARN_DAYS } from '../runtime/host/tls';
import { EmvParamsView, emvParamLines } from './diag-emv';
import { READER_SWIPE_FAILURES_MAX, SwipeFailures } from '../runtime/txn/swipe-failures';
import { ReaderHealth, readerFaultError } from '../runtime/txn/reader-health';

/** Below this much free space on the journal's file system the storage check fails (E-STO-02). */
export const STORAGE_FREE_BYTES_MIN = 8 * 1024 * 1024;
export const READER_CARD_WAIT_MS_MAX = 20_000;
/** The keypad test fails when no key comes for this long. */
export const KEYPAD_IDLE_MS_MAX = 15_000;
export const DISPLAY_ANSWER_MS_MAX = 30_000;
export { WIFI_WEAK_BELOW_DBM } from './wifi-state';

export type DiagState = 'ok' | 'fail' | 'running' | 'pending';
/** Checks that need the person at the terminal (a card, every key, a look): run only when chosen. */
export const INTERACTIVE_CHECKS: ReadonlySet<DiagCheck> = new Set<DiagCheck>(['reader', 'keypad', 'display', 'touch', 'scanner']);
/** The scanner test waits this long for a code shown to the scan engine. */
export const SCANNER_TEST_MS_MAX = 20_000;
// The touch test's limits and judgement, shared with the factory test (boot/touch-check.ts).
export { TOUCH_ACROSS_RATIO_MIN, TOUCH_DRAW_MS_MAX, TOUCH_QUIET_MS } from './touch-check';
/** Checks that run by themselves when diagnostics opens. */
export const AUTOMATIC_CHECKS: readonly DiagCheck[] = DIAG_CHECKS.filter((c) => !INTERACTIVE_CHECKS.has(c));
/** `lines` in English (logs, the probe, the CLI); `text` in both languages (the screen). */
/**
 * `summary` stands for "OK" where the check is a list, not a pass (the last errors: how many),
 * so a row never reads "Last errors OK" above a page of errors.
 */
export interface DiagResult {
  readonly check: DiagCheck; readonly state: DiagState; readonly code?: string; readonly summary?: LocalText;
  readonly lines: readonly string[]; readonly text?: readonly LocalText[];
}

// ---------------------------------------------------------------- the error ring

// In a module of its own, which the terminal loads at start without diagnostics (issue 14 goal 6).
export { ERROR_RING_ENTRIES_MAX, ERRORS_SHOWN_MAX, ErrorRing } from './error-ring';
export type { ErrorEntry } from './error-ring';
import { CODE_RE, ERRORS_SHOWN_MAX, type ErrorRing } from './error-ring';

// ---------------------------------------------------------------- the checks

export interface DiagnosticsDeps {
  readonly board: Board;
  readonly journalDir: string;
  /** The archives' budget (runtime/archive.ts ARCHIVE_BYTES_MAX unless the terminal says another). */
  readonly archiveBytesMax?: number;
  /** The scheduled backups (storage/scheduled-backup.ts): the storage check shows the newest, and fails with the last failure's code. */
  readonly backupStatus?: () => ScheduledBackupStatus;
  readonly errors: ErrorRing;
  /** Unreadable swipes in a row across transactions (the terminal's; absent in recovery without a terminal: not shown). */
  readonly swipes?: SwipeFailures;
  /** The card reader's fault between card waits (the terminal's): the reader check shows it, fails and ends it. */
  readonly readerHealth?: ReaderHealth;
  /**
   * Nobody is at the terminal (a management request): after the automatic checks the reader is
   * reported without a test card (readerStatus). The keypad and display tests need a person and
   * stay pending.
   */
  readonly unattended?: boolean;
  /** Recovery.testNetwork with the saved (or default) settings. */
  readonly networkTest: () => Promise<Report>;
  /** A sign-on exchange with the host; rejects with its error. Absent: skipped (recovery with no terminal). */
  readonly signOnTest?: () => Promise<LocalText>;
  /**
   * An echo test (0820, 60.3 = 301), before the sign-on: a host that answers it but refuses the
   * sign-on is the host's (or the keys'), one that does not answer is the network's. Absent: skipped.
   */
  readonly echoTest?: () => Promise<LocalText>;
  /**
   * Days the terminal's TLS client certificate has left by the terminal's clock (runtime/host/tls.ts);
   * undefined without one. Shown under the host check, with a warning under CLIENT_CERT_WARN_DAYS.
   */
  readonly tlsClientCertDaysLeft?: () => number | undefined;
  /**
   * The link the host was last reached over, when the board orders several (runtime/host/failover.ts):
   * shown under the host check with the links that failed before it. Absent or undefined: one link.
   */
  readonly hostLink?: () => LinkUse | undefined;
  /**
   * The network check link by link, on a board whose file orders `links` (boot/link-check.ts):
   * replaces networkTest there, since the saved single-interface settings say nothing of the links.
   */
  readonly linksTest?: () => Promise<LinkCheckReport>;
  /**
   * The chip kernel's downloaded CA keys and AIDs (boot/diag-emv.ts), shown under the host check
   * whether the host answered or not. Absent or undefined: no terminal open (recovery), not shown.
   */
  readonly emvParams?: () => EmvParamsView | undefined;
  /**
   * The remote-management link (runtime/mgmt/client.ts), shown under the network check as lines:
   * it never fails the check, since sales do not need it. Absent or undefined: no broker named.
   */
  readonly management?: () => MgmtLinkState | undefined;
  /**
   * The host's correction of the clock (the terminal's clock less the machine's): added to a
   * logged error's time, which is the machine's (pino's), so the last errors read on the clock
   * the screen shows. Absent: 0.
   */
  readonly logTimeOffsetMs?: () => number;
  readonly pages: (s: Screen) => number;
  readonly changed: () => void;
  readonly close: () => void;
  readonly logger: Logger;
  readonly clock: () => number;
}

type Prompt =
  | { kind: 'reader' }
  | { kind: 'keypad'; left: KeyName[] }
  | { kind: 'display' }
  | { kind: 'touch'; phase: 'quiet' | 'draw'; points: number }
  | { kind: 'scanner' };

export class Diagnostics implements Overlay {
  readonly name = 'diagnostics';
  private readonly results = new Map<DiagCheck, DiagResult>();
  private prompt: Prompt | undefined;
  private answer: ((key: KeyName) => void) | undefined;
  private detail: { check: DiagCheck; page: number } | undefined;
  private selected = 0;
  private finished = false;
  private closed = false;
  /** A check running now (the automatic ones at opening, or the one chosen). */
  private busy: Promise<void> | undefined;
  readonly done: Promise<void>;

  constructor(private readonly d: DiagnosticsDeps) {
    this.done = this.runAutomatic();
  }

  /** The automatic checks have run and nothing runs now: the list takes choices. */
  get complete(): boolean {
    return this.finished && this.busy === undefined;
  }

  snapshot(): DiagResult[] {
    return this.checkList.map((c) => this.results.get(c) ?? { check: c, state: 'pending' as const, lines: [] });
  }

  screen(): Screen {
    const p = this.prompt;
    if (p?.kind === 'display') return { ...screenFor('factoryTest', { test: 'display' }), id: 'diagnostics:display' };
    if (p?.kind === 'keypad') return { ...screenFor('factoryTest', { test: 'keypad', keysLeft: p.left }), id: 'diagnostics:keypad' };
    if (p?.kind === 'touch') {
      return {
        id: `diagnostics:touch-${p.phase}`, title: t('title.touchTest'),
        lines: [t(p.phase === 'quiet' ? 'msg.touchQuiet' : 'msg.touchDraw'), t('msg.touchPoints', { n: p.points })],
        footer: t(p.phase === 'quiet' ? 'footer.cancel' : 'footer.okCancel'),
      };
    }
    if (p?.kind === 'scanner') return { id: 'diagnostics:scanner-show', title: t('title.scannerTest'), lines: [t('msg.scannerShow')], footer: t('footer.cancel') };
    if (p?.kind === 'reader') return { id: 'diagnostics:reader', title: t('title.readerTest'), lines: [t('msg.testCard'), t('msg.presentCard')], footer: t('footer.cancel') };
    if (this.detail) {
      const r = this.results.get(this.detail.check) ?? { check: this.detail.check, state: 'pending' as const, lines: [] };
      const state: Txt = r.state === 'ok' || r.state === 'fail' ? t(`diag.${r.state}`, {}) : r.state.toUpperCase();
      // A list's page is its lines ("no errors logged" or the errors), with no "OK" above them.
      const head: Txt[] = r.summary && r.state === 'ok' ? [] : [r.code ? { parts: [state, ` ${r.code}`] } : state];
      const lines: Txt[] = [...head, ...(r.text ?? r.lines)];
      const action = this.detail.check === 'printer' ? t('footer.testPage') : INTERACTIVE_CHECKS.has(this.detail.check) ? t('footer.testAgain') : t('footer.back');
      return { id: `diagnostics:${r.check}`, title: t(`diag.${r.check}`), lines, page: this.detail.page, footer: action };
    }
    const results = this.snapshot();
    const list = screenFor('diagnostics', { results: results.map((r) => ({ check: r.check, state: r.state, ...(r.code ? { code: r.code } : {}), ...(r.summary ? { summary: r.summary } : {}) })), selected: this.selected });
    return list.menu ? { ...list, menu: { ...list.menu, items: list.menu.items.map((item) => codeFirst(item, results)) } } : list;
  }

  press(key: KeyName): void {
    if (this.answer) { this.answer(key); return; }
    if (this.detail) {
      if (key === 'UP' || key === 'DOWN') {
        const n = Math.max(1, this.d.pages(this.screen()));
        this.detail.page = (this.detail.page + (key === 'DOWN' ? 1 : n - 1)) % n;
      } else if (key === 'OK') {
        // The check's action, asked for: the test page, or an interactive check again.
        const check = this.detail.check;
        if (check === 'printer' || INTERACTIVE_CHECKS.has(check)) { this.detail = undefined; this.start(check === 'printer' ? () => this.testPage() : () => this.runOne(check)); }
        else this.detail = undefined;
      } else if (key === 'CANCEL' || key === 'BACK') this.detail = undefined;
      this.d.changed();
      return;
    }
    if (key === 'CANCEL' || key === 'BACK') { this.close(); return; }
    if (!this.complete) return;
    const list = this.checkList;
    if (key === 'UP' || key === 'DOWN') { this.selected = (this.selected + (key === 'DOWN' ? 1 : list.length - 1)) % list.length; this.d.changed(); return; }
    const i = key === 'OK' ? this.selected : /^[1-9]$/.test(key) ? Number(key) - 1 : -1;
    if (i < 0 || i >= list.length) return;
    this.selected = i;
    const check = list[i];
    // An interactive check not yet run runs at once; any other opens its detail.
    if (INTERACTIVE_CHECKS.has(check) && !this.results.has(check)) this.start(() => this.runOne(check));
    // The last errors are read again: a check chosen since opening may have added one.
    else if (check === 'log') this.start(async () => { await this.runOne('log'); this.detail = { check, page: 0 }; });
    else this.detail = { check, page: 0 };
    this.d.changed();
  }

  /** Runs one chosen piece of work; the list takes no choice until it is over. */
  private start(work: () => Promise<void>): void {
    if (this.busy || this.closed) return;
    this.busy = work().finally(() => { this.busy = undefined; this.d.changed(); });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.answer?.('CANCEL');
    this.d.close();
  }

  private set(r: Omit<DiagResult, 'lines'> & { text: readonly LocalText[] }): void {
    const full: DiagResult = { ...r, lines: r.text.map((l) => l.en) };
    this.results.set(r.check, full);
    if (r.state !== 'running') this.d.logger[r.state === 'ok' ? 'info' : 'warn']({ check: r.check, ...(r.code ? { code: r.code } : {}), lines: full.lines }, `diagnostics: ${r.check} ${r.state}`);
    this.d.changed();
  }

  private async runAutomatic(): Promise<void> {
    for (const check of AUTOMATIC_CHECKS) {
      if (this.closed) return;
      await this.runOne(check);
    }
    if (this.d.unattended === true) await this.runOne('reader', () => this.readerStatus());
    this.finished = true;
    this.d.changed();
  }

  private async runOne(check: DiagCheck, work: () => Promise<LocalText[]> = () => this.checks[check]()): Promise<void> {
    if (this.closed) return;
    this.set({ check, state: 'running', text: [] });
    try {
      const text = await work();
      this.set({ check, state: 'ok', text, ...(check === 'log' ? { summary: this.errorCount() } : {}) });
    } catch (e) {
      const code = isPosError(e) ? e.code : (e as { code?: string }).code && CODE_RE.test(String((e as { code?: string }).code)) ? String((e as { code?: string }).code) : 'E-SYS-99';
      const text = (e as { lines?: LocalText[] }).lines ?? [same(e instanceof Error ? e.message : String(e))];
      this.set({ check, state: 'fail', code, text });
    } finally {
      this.prompt = undefined;
      this.answer = undefined;
    }
  }

  private readonly checks: Record<DiagCheck, () => Promise<LocalText[]>> = {
    battery: () => this.battery(), storage: () => this.storage(), printer: () => this.printer(), reader: () => this.reader(),
    keypad: () => this.keypad(), display: () => this.display(), network: () => this.withMgmtLines(() => this.network()), host: () => this.host(), log: () => this.log(),
    touch: () => this.touch(), scanner: () => this.scanner(),
  };

  /** The board's checks: the touch test only where there is a signature pad, the scanner test where there is a scan engine. */
  private get checkList(): readonly DiagCheck[] {
    const devices = this.d.board.config.devices;
    return diagChecksFor({ touch: devices.signature0?.type === 'tsc2007', scanner: devices.scanner0 !== undefined });
  }

  /** The printer's test page, asked for in its detail: the status is checked again first. */
  private async testPage(): Promise<void> {
    await this.runOne('printer', async () => {
      const lines = await this.printer();
      await this.printTestPage();
      return [...lines, t('diag.testPage')];
    });
  }

  // ---------------------------------------------------------------- each check

  private async battery(): Promise<LocalText[]> {
    const s = await this.d.board.battery().read();
    const lines = [
      t('diag.batteryLevel', { pct: s.percent ?? '?', mv: s.voltageMv ?? '?' }), t(s.charging ? 'diag.charging' : 'diag.notCharging'),
      t('diag.level', { level: t(`diag.level.${s.level}`), low: s.lowLine ? t('diag.lowLine') : '' }),
    ];
    if (s.fault) throw withLines(s.fault, [...lines, same(s.fault.message)]);
    if (s.level === 'critical') throw withLines(new PosError('PWR_CRITICAL', `battery ${s.percent}%`), lines);
    if (s.level === 'low') throw withLines(new PosError('PWR_LOW', `battery ${s.percent}%`), lines);
    return lines;
  }

  private async storage(): Promise<LocalText[]> {
    const dir = this.d.journalDir;
    const lines: LocalText[] = [];
    if (existsSync(dir)) {
      const [v] = await verifyInChild([dir]);
      if (v.status === 'damaged') throw withLines(new PosError('STO_DAMAGED', `journal damaged at record ${v.damage.seq}: ${v.damage.reason}`), [t('diag.damagedAt', { n: v.damage.seq }), same(v.damage.reason)]);
      if (v.status === 'unopenable' || v.status === 'error') throw withLines(new PosError('STO_DAMAGED', `journal ${v.status}`), [t('diag.journalState', { status: v.status })]);
      lines.push(t('diag.journal', { status: t(`diag.journal.${v.status}`), n: v.records }));
    } else lines.push(t('diag.noJournal'));
    const fs = await statfs(existsSync(dir) ? dir : '.');
    const free = Number(fs.bavail) * Number(fs.bsize);
    const total = Number(fs.blocks) * Number(fs.bsize);
    lines.push(t('diag.free', { free: mb(free), total: mb(total) }));
    if (free < STORAGE_FREE_BYTES_MIN) throw withLines(new PosError('STO_NEARLY_FULL', `${mb(free)} MB free`), lines);
    const archives = archiveBudget(dir, this.d.archiveBytesMax ?? ARCHIVE_BYTES_MAX);
    if (archives.kept > 0) lines.push(t('diag.archives', { n: archives.kept, used: mb(archives.totalBytes), max: mb(archives.bytesMax) }));
    if (archives.needsExport.length > 0) throw withLines(new PosError('STO_ARCHIVE_EXPORT', `archives over their budget (${archives.totalBytes} of ${archives.bytesMax} bytes); not exported: ${archives.needsExport.join(', ')}`), lines);
    const b = this.d.backupStatus?.();
    if (b) {
      const batch = b.newest !== undefined ? scheduledBatchOf(b.newest) : undefined;
      lines.push(!b.enabled ? t('diag.backupOff') : batch !== undefined ? t('diag.backup', { batch: String(batch).padStart(6, '0'), n: b.kept }) : t('diag.backupNone'));
      // The last try failed (no SD card, full, read-only): the check fails with its code, the reason beside it.
      if (b.failure) throw withLines(new PosError('STO_BACKUP_TARGET', b.failure.message.replace(/^E-STO-16 /, '')), [...lines, same(b.failure.message.replace(/^E-STO-16 /, ''))]);
    }
    return [...lines, ...memoryLines(memoryNow())];
  }

  private async printer(): Promise<LocalText[]> {
    const p = this.d.board.printer();
    const s = await p.status();
    const paper = s.paperOut ? 'out' : s.paperNearEnd ? 'nearEnd' : 'ok';
    const lines = [t('diag.printerStatus', { online: t(s.online ? 'diag.yes' : 'diag.no'), paper: t(`diag.paper.${paper}`), cover: t(s.coverOpen ? 'diag.cover.open' : 'diag.cover.closed') })];
    if (s.paperOut) throw withLines(new PosError('PRN_PAPER_OUT'), lines);
    if (s.coverOpen) throw withLines(new PosError('PRN_COVER_OPEN'), lines);
    if (s.fault) throw withLines(new PosError('PRN_FAULT', `printer fault ${String(s.fault)}`), lines);
    return lines;
  }

  /** On the printer the terminal prints on: below the print threshold the page is refused (E-PWR-03), as a slip is. */
  private async printTestPage(): Promise<void> {
    await boardPrinter(this.d.board).print({
      label: 'diagnostics test page',
      blocks: [
        { kind: 'text', text: 'PRINTER TEST 打印测试', align: 'center', bold: true },
        { kind: 'text', text: `${formatDateTime(this.d.clock(), this.d.board.config.tzOffsetMinutes, { seconds: true })}\n0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ` },
        { kind: 'qr', data: `pos-diagnostics:${this.d.board.config.board}:${this.d.clock()}`, align: 'center', label: 'test QR' },
        { kind: 'feed', lines: 2 }, { kind: 'cut' },
      ],
    });
  }

  private async reader(): Promise<LocalText[]> {
    const r = this.d.board.reader();
    let info: ReaderInfo;
    try {
      info = await r.selfTest();
    } catch (e) {
      // A reader that does not answer: its code, and what the swipes said before. Idle says so too.
      this.d.readerHealth?.noteFailure(e);
      throw isPosError(e) ? withLines(e, [same(e.message), ...this.faultLines(), ...this.swipeLines()]) : e;
    }
    this.d.readerHealth?.noteAnswered();
    const lines = [t('diag.readerSelfTest', { info: JSON.stringify(info).slice(0, 60) }), ...this.faultLines()];
    this.prompt = { kind: 'reader' };
    this.answer = (key) => { if (key === 'CANCEL') r.cancel(); };
    this.d.changed();
    try {
      const ev = await r.waitForCard(['swipe', 'insert', 'tap'], READER_CARD_WAIT_MS_MAX).catch((e: unknown) => {
        // The reader falling silent (or its port gone) during the test card's wait is its fault.
        this.d.readerHealth?.noteFailure(e);
        throw e;
      });
      const how = ev.type === 'swiped' || ev.type === 'inserted' || ev.type === 'tapped' || ev.type === 'read-failed' ? t(`diag.card.${ev.type}`) : same(ev.type);
      lines.push(t('diag.testCard', { how }));
      // The test card's swipe counts as any other: one that reads clears the count (a cleaned head).
      if (ev.type === 'swiped') this.d.swipes?.noteRead();
      if (ev.type === 'read-failed') {
        const unread = new PosError('RDR_UNREADABLE', 'test card could not be read', { source: ev.source });
        // Past the count's maximum an unreadable test swipe is the reader's fault (E-RDR-01).
        throw withLines(ev.source === 'swipe' && this.d.swipes ? this.d.swipes.noteUnreadable(unread, 1) : unread, [...lines, ...this.swipeLines()]);
      }
      if (ev.type === 'inserted') await r.stopDetection().catch(() => undefined);
      // The head stays suspect until a swipe reads, whatever else the test card did.
      if (this.d.swipes?.stats().readerSuspect === true) throw withLines(new PosError('RDR_FAULT', `${this.d.swipes.stats().inARow} unreadable swipes in a row: swipe a card that reads to clear`), [...lines, ...this.swipeLines()]);
      // Passed: the reader answered and read the test card; a fault idle still showed is over.
      this.d.readerHealth?.noteAnswered();
      return [...lines, ...this.swipeLines()];
    } catch (e) {
      if (isPosError(e, 'cancelled')) throw withLines(new PosError('RDR_NO_CARD', 'no test card presented (cancelled)'), [...lines, ...this.swipeLines()]);
      if (isPosError(e) && !(e as { lines?: unknown }).lines) throw withLines(e, [...lines, same(e.message), ...this.swipeLines()]);
      throw e;
    }
  }

  /**
   * The reader without a test card, for a management request (`unattended`). The reader check
   * waits for a person to present one (READER_CARD_WAIT_MS_MAX, then E-RDR-06): from a console
   * it could only fail, or be left pending with nothing said of the reader. Instead: one INFO
   * exchange (the self-test, asked for by the operator; nothing polls the reader at idle) says
   * whether it answers now, then the last fault of its line and when it last answered, the
   * unreadable swipes in a row and the last swipe. Fails with the self-test's code, or E-RDR-01
   * while the swipes in a row are past READER_SWIPE_FAILURES_MAX.
   */
  private async readerStatus(): Promise<LocalText[]> {
    const noCard = t('diag.readerNoTestCard');
    let info: ReaderInfo;
    try {
      info = await this.d.board.reader().selfTest();
    } catch (e) {
      this.d.readerHealth?.noteFailure(e);
      const answered = this.d.readerHealth?.status().lastAnswerAtMs;
      const last = answered === undefined ? t('diag.readerLastAnswer.none') : t('diag.readerLastAnswer', { time: formatDateTime(answered, this.d.board.config.tzOffsetMinutes) });
      throw isPosError(e) ? withLines(e, [same(e.message), ...(this.d.readerHealth ? [last] : []), ...this.faultLines(), ...this.swipeLines(), noCard]) : e;
    }
    this.d.readerHealth?.noteAnswered();
    const lines = [t('diag.readerSelfTest', { info: JSON.stringify(info).slice(0, 60) }), ...this.faultLines(), ...this.swipeLines(), noCard];
    // It answered: only its head can be at fault now.
    const fault = this.d.readerHealth?.fault();
    if (fault) throw withLines(readerFaultError(fault), lines);
    if (this.d.swipes?.stats().readerSuspect === true) throw withLines(new PosError('RDR_FAULT', `${this.d.swipes.stats().inARow} unreadable swipes in a row`), lines);
    return lines;
  }

  /** The last fault of the reader itself, and whether it is over (none without a terminal, or none seen). */
  private faultLines(): LocalText[] {
    const s = this.d.readerHealth?.status();
    const f = s?.lastLinkFault;
    if (!s || !f) return [];
    const over = s.fault?.part !== 'link';
    return [t('diag.readerLastFault', { code: f.code, time: formatDateTime(f.atMs, this.d.board.config.tzOffsetMinutes) }), ...(over ? [t('diag.readerFaultOver')] : [])];
  }

  /** Unreadable swipes in a row and the last swipe (none without a terminal). */
  private swipeLines(): LocalText[] {
    const s = this.d.swipes?.stats();
    if (!s) return [];
    const last = s.last
      ? t('diag.lastSwipe', { outcome: t(`diag.swipe.${s.last.outcome}`), time: formatDateTime(s.last.atMs, this.d.board.config.tzOffsetMinutes) })
      : t('diag.lastSwipe.none');
    return [t('diag.swipesInARow', { n: s.inARow, max: READER_SWIPE_FAILURES_MAX }), last];
  }

  /**
   * Every key pressed once shows which keys work. Keys the keypad reports stuck (held at boot, or
   * held past its stuckMs during the test) are not waited for: they are listed as stuck, and the
   * test fails E-KBD-01 naming them, with the keys that worked; keys not pressed within
   * KEYPAD_IDLE_MS_MAX fail it E-KBD-03 the same way.
   */
  private async keypad(): Promise<LocalText[]> {
    const kp = this.d.board.keypad();
    const dc = this.d.board.config.devices.keypad0;
    const keys = dc?.type === 'matrix-keypad' ? (dc.keymap.flat().filter((k) => k !== null) as KeyName[]) : [...KEY_NAMES];
    const all = [...new Set(keys)];
    const stuck = new Set<KeyName>(kp.stuck());
    const seen = new Set<KeyName>();
    // The prompt's list shrinks as keys come; `all` keeps the count for the result.
    const p: Prompt = { kind: 'keypad', left: all.filter((k) => !stuck.has(k)) };
    const lines = (): LocalText[] => {
      const works = all.filter((k) => seen.has(k) && !stuck.has(k));
      return [
        ...(stuck.size > 0 ? [t('diag.stuck', { keys: [...stuck].join(' ') })] : []),
        ...(p.left.length > 0 ? [t('diag.notSeen', { keys: p.left.join(' ') })] : []),
        t('diag.keysWork', { n: works.length, of: all.length, keys: works.join(' ') || '-' }),
      ];
    };
    this.prompt = p;
    this.d.changed();
    let stopFaults: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        let timer: NodeJS.Timeout;
        const done = (): void => { clearTimeout(timer); this.answer = undefined; resolve(); };
        const arm = (): void => { clearTimeout(timer); timer = setTimeout(() => { this.answer = undefined; reject(withLines(new PosError('KBD_DEAD', `no key for ${KEYPAD_IDLE_MS_MAX} ms; not seen: ${p.left.join(' ')}`), lines())); }, KEYPAD_IDLE_MS_MAX); };
        if (p.left.length === 0) { done(); return; }
        arm();
        // A key held past the keypad's stuckMs during the test: stuck, not waited for.
        stopFaults = kp.onFault((f) => {
          const key = f.detail.key;
          if (f.code !== ERRORS.KBD_STUCK.code || typeof key !== 'string' || !all.includes(key as KeyName)) return;
          stuck.add(key as KeyName);
          const i = p.left.indexOf(key as KeyName);
          if (i >= 0) p.left.splice(i, 1);
          this.d.changed();
          if (p.left.length === 0) done();
        });
        this.answer = (key) => {
          // CANCEL is tested like any key; once seen, a second CANCEL is the way out of the test.
          if (key === 'CANCEL' && seen.has('CANCEL') && !this.closed) {
            clearTimeout(timer);
            this.answer = undefined;
            reject(withLines(new PosError('OPR_CANCELLED', `keypad test stopped; not seen: ${p.left.join(' ')}`), lines()));
            return;
          }
          seen.add(key);
          const i = p.left.indexOf(key);
          if (i >= 0) p.left.splice(i, 1);
          this.d.changed();
          if (this.closed) { clearTimeout(timer); reject(new PosError('OPR_CANCELLED')); return; }
          if (p.left.length === 0) { done(); return; }
          arm();
        };
      });
    } finally {
      stopFaults?.();
    }
    if (stuck.size > 0) throw withLines(new PosError('KBD_STUCK', `keys stuck: ${[...stuck].join(' ')}`, { stuck: [...stuck] }), lines());
    return [t('diag.keysSeen', { n: all.length })];
  }

  /**
   * The touch test (boards with a signature pad, signature0): the pad answers (E-BRD-05 when it
   * does not); nothing is read while nobody touches it for TOUCH_QUIET_MS (else E-BRD-06: a dirty or
   * damaged panel reads touches nobody makes); then a line drawn across it and OK is read over at
   * least TOUCH_ACROSS_RATIO_MIN of its width (else E-BRD-06; nothing read: E-BRD-05). CANCEL stops.
   */
  private async touch(): Promise<LocalText[]> {
    const pad = this.d.board.signaturePad();
    if (!pad) throw new PosError('BRD_SIGNATURE_PAD', 'no signature pad on this board');
    try {
      await pad.check();
    } catch (e) {
      throw padFault(e, []);
    }
    const lines = [t('diag.touchAnswers', { w: pad.area.width, h: pad.area.height })];
    const p: Prompt & { kind: 'touch' } = { kind: 'touch', phase: 'quiet', points: 0 };
    const counted = (strokes: readonly Stroke[]): void => { p.points = touchPoints(strokes); this.d.changed(); };
    this.prompt = p;
    this.answer = (key) => { if (key === 'CANCEL') pad.cancel(); };
    this.d.changed();
    const capture = (timeoutMs: number): Promise<CapturedSignature> => touchCapture(pad, timeoutMs, counted);
    const quiet = await capture(TOUCH_QUIET_MS).then(() => undefined, (e: unknown) => e);
    if (isSignatureAborted(quiet) && quiet.reason === 'cancelled') throw withLines(new PosError('OPR_CANCELLED', 'touch test stopped'), lines);
    if (quiet !== undefined && !(isSignatureAborted(quiet) && quiet.reason === 'timeout')) throw padFault(quiet, lines);
    if (p.points > 0) throw withLines(new PosError('BRD_TOUCH', `${p.points} touch points read with nobody touching the pad`, { points: p.points }), [...lines, t('diag.touchPhantom', { n: p.points })]);
    p.phase = 'draw';
    p.points = 0;
    this.answer = (key) => { if (key === 'OK') pad.confirm(); else if (key === 'CANCEL') pad.cancel(); else if (key === 'CLEAR') pad.clear(); };
    this.d.changed();
    let drawn: CapturedSignature;
    try {
      drawn = await capture(TOUCH_DRAW_MS_MAX);
    } catch (e) {
      if (isSignatureAborted(e) && e.reason === 'empty') throw withLines(new PosError('BRD_SIGNATURE_PAD', 'nothing drawn was read'), [...lines, t('diag.touchNothing')]);
      if (isSignatureAborted(e)) throw withLines(new PosError('OPR_CANCELLED', `touch test stopped (${e.reason})`), lines);
      throw padFault(e, lines);
    }
    const points = touchPoints(drawn.strokes);
    const pct = acrossPct(drawn.strokes, pad.area.width);
    if (pct < 100 * TOUCH_ACROSS_RATIO_MIN) throw withLines(new PosError('BRD_TOUCH', `a line across the pad read over ${pct}% of its width`, { pct }), [...lines, t('diag.touchPart', { pct })]);
    return [...lines, t('diag.touchAcross', { pct, points })];
  }

  /**
   * The scanner test (boards with a scan engine, scanner0): the port answers, then a code shown to
   * the engine within SCANNER_TEST_MS_MAX is read (its length and last 4 characters only: a payment
   * code is a bearer credential, hal/scanner.ts), with the engine's counts since start (no reads,
   * not understood, silent). Its own codes otherwise: E-SCN-01 nothing shown, 02 the engine silent,
   * 03 not understood, 04 disconnected; CANCEL stops it.
   */
  private async scanner(): Promise<LocalText[]> {
    const sc = this.d.board.scanner();
    if (!sc) throw new PosError('SCN_DISCONNECTED', 'no scan engine on this board');
    const counts = (): LocalText => { const c = sc.diagnostics(); return t('diag.scannerCounts', { noReads: c.noReads, garbled: c.linesGarbled, timeouts: c.timeouts }); };
    try {
      await sc.check();
    } catch (e) {
      throw withLines(isPosError(e) ? e : new PosError('SCN_DISCONNECTED', String(e)), [messageLine(e)]);
    }
    const stop = new AbortController();
    this.prompt = { kind: 'scanner' };
    this.answer = (key) => { if (key === 'CANCEL') stop.abort(); };
    this.d.changed();
    let code: string;
    try {
      code = await sc.scan(SCANNER_TEST_MS_MAX, stop.signal);
    } catch (e) {
      throw withLines(isPosError(e) ? e : new PosError('SCN_GARBLED', String(e)), [messageLine(e), counts()]);
    }
    return [t('diag.scannerRead', { n: code.length, tail: maskCode(code).slice(-4) }), counts()];
  }

  private async display(): Promise<LocalText[]> {
    const disp = this.d.board.display();
    // Drawn directly (the renderer draws it too, as the screen's pattern): a display that does not
    // answer fails here with its own code.
    if (isPixelDisplay(disp)) {
      const fb = new FrameBuffer(disp.capabilities.width, disp.capabilities.height);
      for (let y = 0; y < fb.height; y++) for (let x = 0; x < fb.width; x++) fb.set(x, y, ((x >> 3) + (y >> 3)) % 2 === 0);
      await disp.drawFrame(fb);
    } else {
      await disp.writeText(0, 0, '#'.repeat(disp.capabilities.cols));
    }
    this.prompt = { kind: 'display' };
    this.d.changed();
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), DISPLAY_ANSWER_MS_MAX);
      this.answer = (key) => { if (key === 'OK' || key === 'CANCEL') { clearTimeout(timer); resolve(key === 'OK'); } };
    });
    if (!ok) throw withLines(new PosError('DSP_FAULT', 'test pattern not shown evenly (operator)'), [t('diag.patternUneven')]);
    return [t('diag.pattern', { kind: t(disp.capabilities.kind === 'pixels' ? 'diag.kind.pixels' : 'diag.kind.characters') })];
  }

  /** The network check's lines (or its failure's), then the management link's. */
  private async withMgmtLines(check: () => Promise<LocalText[]>): Promise<LocalText[]> {
    let lines: LocalText[];
    try {
      lines = await check();
    } catch (e) {
      const mgmt = this.mgmtLines();
      if (mgmt.length && e instanceof Error) Object.assign(e, { lines: [...((e as { lines?: LocalText[] }).lines ?? [same(e.message)]), ...mgmt] });
      throw e;
    }
    return [...lines, ...this.mgmtLines()];
  }

  private mgmtLines(): LocalText[] {
    let m: MgmtLinkState | undefined;
    try { m = this.d.management?.(); } catch { return []; }
    if (!m) return [];
    const host = brokerHost(m.url);
    if (m.connected) return [t('diag.mgmtConnected', { host }), ...(m.queued ? [t('diag.mgmtQueued', { n: m.queued })] : [])];
    const e = m.lastError;
    return [
      t('diag.mgmtDown', { host, code: e?.code ?? '' }),
      // The cause (the line above names the code and the broker; the last errors page has its time).
      ...(e ? [same(clipAtWord(e.message, LOG_LINE_CHARS_MAX))] : []),
      ...(m.queued ? [t('diag.mgmtQueued', { n: m.queued })] : []),
      ...(m.dropped ? [t('diag.mgmtDropped', { n: m.dropped })] : []),
    ];
  }

  private async network(): Promise<LocalText[]> {
    if (this.d.linksTest) return this.links(this.d.linksTest);
    const radios = await this.radios();
    const r = await this.d.networkTest();
    const text = r.text ? [...r.text] : r.lines.map(same);
    // The first cause first: with the modem or the Wi-Fi as the link (or nothing else working), a
    // SIM, signal, registration or association fault is why the rest failed, and its steps are what
    // the person can do.
    const first = firstCause(radios.filter((x) => x.isLink || !r.ok));
    if (first?.fault) throw withLines(first.fault, [...first.lines, ...stepLines(first.fault.code), ...text, ...radioLines(radios.filter((x) => x !== first))]);
    if (!r.ok) throw Object.assign(new Error(r.lines.find((l) => l.startsWith('FAIL')) ?? 'network test failed'), { code: r.code ?? 'E-NET-01', lines: [...text, ...radioLines(radios)] });
    return [...text, ...radioLines(radios)];
  }

  /**
   * Every link in the board's order: a line each (OK with its address, or its code), under a
   * failed one what was found and the steps for its code, then the link sales use. The check fails
   * only when no link reaches the host; with the modem's own fault as the first cause when it is
   * one of the links (its SIM, signal or registration is why its data path is down).
   */
  private async links(test: () => Promise<LinkCheckReport>): Promise<LocalText[]> {
    const radios = await this.radios();
    const r = await test();
    const text: LocalText[] = [];
    if (r.dns) text.push(t('diag.link.dns', { host: r.dns.host, reason: r.dns.reason }), ...stepLines('E-NET-04'));
    r.links.forEach((l, i) => {
      const name = linkName(l.link);
      const n = String(i + 1);
      if (l.ok) {
        text.push(t('diag.linkOk', { n, name, iface: l.interface, address: l.localAddress ?? '' }));
        if (l.steps.some((st) => st.unchecked)) text.push(t('diag.link.routeUnchecked'));
        return;
      }
      const failed = l.steps[l.steps.length - 1];
      text.push(t('diag.linkFail', { n, name, iface: l.interface, code: l.code ?? '?' }), linkStepText(failed), ...stepLines(l.code));
    });
    text.push(r.uses !== undefined ? t('diag.linkUses', { name: linkName(r.uses) }) : t('diag.linkNone'));
    if (!r.ok) {
      const first = firstCause(radios.filter((x) => x.isLink));
      if (first?.fault) throw withLines(first.fault, [...first.lines, ...stepLines(first.fault.code), ...text, ...radioLines(radios.filter((x) => x !== first))]);
      throw Object.assign(new Error(`no link reaches the host (${r.links.map((l) => `${l.link} ${l.code ?? '?'}`).join(', ') || `dns ${r.dns?.reason ?? '?'}`})`), { code: r.code ?? 'E-NET-01', lines: [...text, ...radioLines(radios)] });
    }
    return [...text, ...radioLines(radios)];
  }

  /** The modem's state, then the Wi-Fi's (each nothing on a board without it). */
  private async radios(): Promise<Radio[]> {
    return [await this.modemLines(), await this.wifiLines()].filter((x) => x.lines.length > 0);
  }

  /**
   * Where an interface stands in the board's order of links (`links`, or the `network` section's
   * single interface): 0 first; -1 not a link of the board.
   */
  private linkRank(iface: string | undefined): number {
    if (iface === undefined) return -1;
    const links = this.d.board.config.links ?? [];
    const i = links.findIndex((l) => l.interface === iface);
    if (i >= 0) return i;
    return this.d.board.config.network?.interface === iface ? 0 : -1;
  }

  /**
   * The 4G modem's state as the person can read it (SIM, signal, registration and operator, APN
   * against the board file's), and its fault if any. No modem0 on the board: nothing.
   */
  private async modemLines(): Promise<Radio> {
    const modem = this.d.board.modem();
    const dc = this.d.board.config.devices.modem0;
    if (!modem || dc?.type !== 'quectel-modem') return { name: '4G', lines: [], isLink: false, rank: -1 };
    const rank = this.linkRank(dc.interface);
    const isLink = rank >= 0;
    let s: ModemStatus;
    try {
      s = await modem.status();
    } catch (e) {
      const fault = isPosError(e) ? e : new PosError('NET_MODEM', String(e));
      return { name: '4G', lines: [same(clipAtWord(fault.message, LOG_LINE_CHARS_MAX))], fault, isLink, rank };
    }
    const lines = [t('diag.modemSim', { state: t(`diag.sim.${s.sim}`) })];
    if (s.pinAttemptsLeft !== undefined) lines.push(t('diag.pinAttempts', { n: s.pinAttemptsLeft }));
    lines.push(s.signal.rssiDbm === undefined ? t('diag.modemNoSignal') : t('diag.modemSignal', { dbm: s.signal.rssiDbm, bars: s.signal.bars, tech: s.signal.tech ?? '' }));
    lines.push(t('diag.modemReg', { state: t(`diag.reg.${s.registration}`), operator: s.operator ?? '' }));
    const apn = s.apn === '' ? t('diag.modemNone') : s.apn;
    lines.push(s.apn.toLowerCase() === dc.apn.toLowerCase() ? t('diag.modemApn', { apn }) : t('diag.modemApnWant', { apn, want: dc.apn }));
    const fault = modemFault(s, { apn: dc.apn, roaming: dc.roaming });
    if (fault) this.d.logger.warn({ code: fault.code, sim: s.sim, csq: s.signal.csq, registration: s.registration }, `diagnostics: modem ${fault.message}`);
    return { name: '4G', lines, ...(fault ? { fault } : {}), isLink, rank };
  }

  /**
   * The Wi-Fi's state as the person can read it (wifi0: wpa_supplicant through hal/wifi.ts): the
   * network joined and its address, or not joined and why, then the signal with its bars and band.
   * Its fault, if any: wpa_supplicant not reachable E-NET-28; not joined E-NET-34, or E-NET-31
   * when wpa_supplicant gave up on a saved network (its handshake failed: the password); joined
   * with a signal weaker than WIFI_WEAK_BELOW_DBM E-NET-33. No wifi0 on the board: nothing.
   */
  private async wifiLines(): Promise<Radio> {
    const wifi = this.d.board.wifi();
    const dc = this.d.board.config.devices.wifi0;
    if (!wifi || dc?.type !== 'wpa-supplicant') return { name: 'Wi-Fi', lines: [], isLink: false, rank: -1 };
    const rank = this.linkRank(dc.interface);
    const { lines, fault } = await readWifiState(wifi, dc.interface);
    if (fault) this.d.logger.warn({ code: fault.code, interface: dc.interface }, `diagnostics: Wi-Fi ${fault.message}`);
    return { name: 'Wi-Fi', lines, ...(fault ? { fault } : {}), isLink: rank >= 0, rank };
  }

  private async host(): Promise<LocalText[]> {
    if (!this.d.signOnTest) throw withLines(new PosError('KEY_MISSING', 'no terminal open (recovery): sign-on not tried'), [t('diag.hostNotTried')]);
    const echo = this.d.echoTest ? [await this.d.echoTest()] : [];
    const emv = this.emvLines();
    try {
      const signedOn = await this.d.signOnTest();
      return [...echo, signedOn, ...this.linkLines(), ...this.tlsCertLines(), ...emv];
    } catch (e) {
      // The echo's answer stays on the screen with the sign-on's failure: it is the host that refused.
      if (!isPosError(e) || (echo.length === 0 && emv.length === 0)) throw e;
      throw withLines(e, [...echo, t('diag.signOnRefused', { code: e.code }), ...emv]);
    }
  }

  /** The CA keys and AIDs in the journal (nothing when no terminal is open, or reading them fails). */
  private emvLines(): LocalText[] {
    try {
      const v = this.d.emvParams?.();
      return v === undefined ? [] : emvParamLines(v);
    } catch (e) {
      this.d.logger.warn({ err: String(e) }, 'diagnostics: EMV parameters not shown');
      return [];
    }
  }

  /** Which link carried the sign-on, and the links that failed before it (with their codes). */
  private linkLines(): LocalText[] {
    const use = this.d.hostLink?.();
    if (use === undefined) return [];
    return [
      t('diag.hostLink', { link: use.link, interface: use.interface, address: use.localAddress }),
      ...use.failed.map((f) => t('diag.hostLinkFailed', { link: f.link, code: f.code ?? '?' })),
    ];
  }

  /** The client certificate's days left (a certificate that cannot be read says so at sign-on instead). */
  private tlsCertLines(): LocalText[] {
    let n: number | undefined;
    try { n = this.d.tlsClientCertDaysLeft?.(); } catch { return []; }
    if (n === undefined) return [];
    return [t('diag.tlsCertDays', { n }), ...(n < CLIENT_CERT_WARN_DAYS ? [t('diag.tlsCertRenew')] : [])];
  }

  /** The last-errors row's figure: how many the page lists. */
  private errorCount(): LocalText {
    const n = this.d.errors.last().length;
    return n === 0 ? t('diag.noErrorsShort') : t('diag.errorCount', { n });
  }

  private async log(): Promise<LocalText[]> {
    const last = this.d.errors.last();
    if (!last.length) return [t('diag.noErrors')];
    // Log entries are shown as logged (English), with their codes.
    const offsetMs = this.d.logTimeOffsetMs?.() ?? 0;
    return last.map((e) => same(clipAtWord(`${formatDateTime(e.timeMs + offsetMs, this.d.board.config.tzOffsetMinutes, { seconds: true }).slice(11)} ${e.code} ${e.msg}`, LOG_LINE_CHARS_MAX)));
  }
}

/**
 * A log entry's line on the last-errors page: long enough for a TLS or file error's whole cause
 * (a page scrolls), bounded for a small display. Cut at a word with an ellipsis, never inside a
 * word ("certificate in c"); "..." is in every display's font.
 */
const LOG_LINE_CHARS_MAX = 160;
/** The signature pad failed during the touch test: E-BRD-05 (the bus's own code is in the log), its message a line. */
function padFault(e: unknown, lines: readonly LocalText[]): PosError {
  return withLines(new PosError('BRD_SIGNATURE_PAD', `signature pad: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e }), [...lines, messageLine(e)]);
}

/** A failure's message as a line of a check's detail (the same in both languages), cut at LOG_LINE_CHARS_MAX. */
function messageLine(e: unknown): LocalText {
  return same(clipAtWord(e instanceof Error ? e.message : String(e), LOG_LINE_CHARS_MAX));
}



/**
 * A failed check's row leads with its code ("3 E-PRN-01 Printer"): on a 16-column display the
 * name and the code do not both fit, and the code is what the technician reads out to support.
 */
function codeFirst(item: MenuItem, results: readonly DiagResult[]): MenuItem {
  const r = results.find((x) => x.check === item.value);
  if (r?.state !== 'fail' || !r.code) return item;
  const name = t(`diag.${r.check}`);
  return { ...item, label: { en: `${r.code} ${name.en}`, zh: `${r.code} ${name.zh}` } };
}

/** A radio of the board (4G modem, Wi-Fi) under the network check: its lines and its fault. */
interface Radio {
  readonly name: '4G' | 'Wi-Fi';
  readonly lines: LocalText[];
  readonly fault?: PosError;
  /** One of the board's links (`links`, or the `network` section's interface). */
  readonly isLink: boolean;
  /** Its place in the board's order of links (linkRank); -1 when not a link. */
  readonly rank: number;
}

/**
 * The radio whose fault is the first cause among `candidates`: the one earliest in the board's
 * order of links, then (neither a link) the modem before the Wi-Fi. Undefined when none has a fault.
 */
function firstCause(candidates: readonly Radio[]): Radio | undefined {
  const key = (x: Radio): number => (x.rank >= 0 ? x.rank : Number.MAX_SAFE_INTEGER);
  return candidates.filter((x) => x.fault).sort((a, b) => key(a) - key(b))[0];
}

/** Each radio's lines, a fault that is not the check's own as its code and steps under them. */
function radioLines(radios: readonly Radio[]): LocalText[] {
  return radios.flatMap((x) => [...x.lines, ...(x.fault ? [same(`${x.name} ${x.fault.code}`), ...stepLines(x.fault.code)] : [])]);
}


/** What a link's failed step found, in both languages. */
function linkStepText(st: LinkStepResult): LocalText {
  const a = st.args;
  switch (st.step) {
    case 'up': return a.state === undefined ? t('diag.link.noInterface', a) : t('diag.link.down', a);
    case 'address': return t('diag.link.noAddress', a);
    case 'route': return a.dev !== undefined ? t('diag.link.otherDevice', a) : t('diag.link.noRoute', a);
    case 'connect': return a.reason !== undefined ? t('diag.link.refused', a) : t('diag.link.timeout', a);
  }
}

/** The broker's host and port from its URL (`mqtts://mgmt.example:8883` -> `mgmt.example:8883`). */
function brokerHost(url: string): string {
  try { return new URL(url).host || url; } catch { return url; }
}

/** An error that carries the lines to show. */
function withLines(e: PosError, lines: readonly LocalText[]): PosError {
  return Object.assign(e, { lines: [...lines] });
}

/** The terminal's memory and the CPU's load, as the storage check shows them (memoryLines). */
export interface MemoryFigures {
  /** The terminal process's resident memory. */
  readonly rssBytes: number;
  /** The system's memory a new allocation can have (Linux MemAvailable: free and reclaimable). */
  readonly availableBytes: number;
  readonly totalBytes: number;
  /** The unit's MemoryMax (the cgroup's limit), when one is set below the machine's memory. */
  readonly limitBytes?: number;
  /** The 1-minute load average (runnable processes; 1.0 is one core busy). */
  readonly load1: number;
}

/** Below this much available memory the storage check says so (the kernel's OOM killer is near). */
export const MEMORY_AVAILABLE_BYTES_MIN = 16 * 1024 * 1024;

function memoryNow(): MemoryFigures {
  const limit = process.constrainedMemory();
  const total = totalmem();
  return {
    rssBytes: process.memoryUsage.rss(), availableBytes: freemem(), totalBytes: total, load1: loadavg()[0],
    // 0 or a huge number (no limit set) is no limit: only a MemoryMax below the machine's memory counts.
    ...(limit > 0 && limit < total ? { limitBytes: limit } : {}),
  };
}

/**
 * FIELD-FAULTS.md, general response: "check battery, memory and storage" and "read ... performance
 * (CPU, memory, network)". Under the storage check: the terminal's memory (of its unit's limit),
 * what the system has available, and the CPU's load; a warning line when little is available (the
 * fix a technician can apply on the spot is a restart). Informative: the check does not fail on
 * them (a terminal that sells with little memory is not broken, and the storage codes are not
 * about memory).
 */
export function memoryLines(m: MemoryFigures): LocalText[] {
  const lines = [
    m.limitBytes !== undefined ? t('diag.memoryLimit', { rss: mb(m.rssBytes), limit: mb(m.limitBytes) }) : t('diag.memory', { rss: mb(m.rssBytes) }),
    t('diag.memoryFree', { free: mb(m.availableBytes), total: mb(m.totalBytes) }),
    t('diag.cpuLoad', { load: m.load1.toFixed(2) }),
  ];
  if (m.availableBytes < MEMORY_AVAILABLE_BYTES_MIN) lines.push(t('diag.memoryLow'));
  return lines;
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

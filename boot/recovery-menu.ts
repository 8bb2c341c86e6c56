/**
 * The recovery menu on the LCD (reset button held at boot, or a damaged journal): every item of
 * issue 6 wired to boot/recovery.ts and boot/update.ts, each Report's lines shown on the display
 * (paged with UP/DOWN, OK or CANCEL back to the menu).
 *
 * The machine (runtime/machine.ts) owns the login: `recovery.locked` -> `recovery.authenticating`
 * (Recovery.authenticate: the operators readable from the journal, or the fallback administrator
 * when the journal cannot be opened) -> `recovery.menu`. From `recovery.menu` on, keys come here:
 *
 *   1 Check journal    Recovery.verifyJournal (child process verify, last backup named)
 *   2 Export data      a mounted USB stick first (boot/usb-stick.ts; none: E-STO-09 "insert a USB stick"),
 *                      then a passphrase (6..12 digits, typed on the keypad, masked) -> Recovery.exportTo(the stick)
 *   3 Load backup      1 Repair (cut a torn tail, or restore the newest backup that verifies)
 *                      2 Import backup (choose a .posbak file from the backup dir / USB dirs, passphrase)
 *   4 Salvage data     Recovery.salvage (intact records into a new journal; the damaged one kept)
 *   5 Factory reset    shows what it erases (Recovery.factoryResetPlan); OK once when settled, twice
 *                      when not (the second screen says NOT SETTLED); then Recovery.factoryReset
 *   6 Diagnostics      the diagnostics overlay (boot/diagnostics.ts), as from the idle menu
 *   7 Restart          Recovery.reboot (journaled) -> the terminal boots again, reset not held
 *   8 Pending work     1 Resend (reversal, script notices, settlement, signatures)  2 Last receipt  3 Last report
 *   9 System           1 Network settings (DHCP / static address, prefix, gateway, DNS, host, port)
 *                      2 Test network (interface, address, gateway, DNS, TCP connect)
 *                      3 Version (A/B slots: running, pending, last result)
 *                      4 Apply update (choose a .posupd file; signature, board and version checked)
 *                      5 Power off
 *
 * A passphrase on a keypad is digits only (6..12): it is the key of the backup's encryption, so
 * it is shown masked and never logged; the operator must note it down to import the backup.
 * Every action is journaled by Recovery when the journal is writable.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { KeyName } from '../hal/keypad';
import type { Session } from '../runtime/operators';
import { ERRORS, PosError, isPosError, errorByCode } from '../common/errors';
import type { Logger } from '../common/log';
import type { Screen, Txt, MenuItem, LocalText } from '../ui-lcd/screen';
import { screenFor, RECOVERY_ITEMS, RECOVERY_RESTORE_ITEMS, RECOVERY_PENDING_ITEMS, RECOVERY_SYSTEM_ITEMS, NETWORK_MODE_ITEMS, faultLines } from '../ui-lcd/screens';
import { t } from '../ui-lcd/strings';
import { DigitEntry, MenuWidget, pinEntry } from '../ui-lcd/widgets';
import { numbered } from '../ui-lcd/widgets/menu';
import { Recovery, Report, BACKUP_FILE_SUFFIX, NetworkSettings, texts } from './recovery';
import { rt, same, local } from '../ui-lcd/recovery-strings';
import { civil, pad2, TZ_OFFSET_MINUTES_DEFAULT } from '../common/time';
import { applyUpdate, updateStatus } from './update';
import { mountedStick } from './usb-stick';

export const PASSPHRASE_DIGITS_MIN = 6;
export const PASSPHRASE_DIGITS_MAX = 12;
export const UPDATE_FILE_SUFFIX = '.posupd';
/** Files offered in a choice list (newest first). */
export const FILES_LISTED_MAX = 9;
/** A file's label in a choice list: a menu row (16 cells) less its marker and number (">1 "). */
export const FILE_LABEL_CHARS_MAX = 13;
const NO_TIMEOUT = Number.MAX_SAFE_INTEGER;

/** A screen the app shows over the machine's, with its own keys (recovery menu, diagnostics). */
export interface Overlay {
  readonly name: string;
  screen(): Screen;
  press(key: KeyName): void;
  close?(): void;
}

export interface RecoveryMenuDeps {
  readonly recovery: () => Recovery;
  readonly session: () => Session | undefined;
  readonly backupDir: string;
  /** Mount points of USB sticks (export/import/update files are looked for there too). */
  readonly usbDirs: readonly string[];
  /**
   * The usbDirs count as a stick once they exist, mounted or not: the simulator board, whose
   * --usb-dir is a plain folder standing for the stick. A real board exports only onto a mount.
   */
  readonly usbTakenAsMounted?: boolean;
  readonly update?: { readonly root: string; readonly publicKeyHex: string; readonly board: string };
  /** Interface name for network settings (board default). */
  readonly netInterface: string;
  readonly host: { readonly host: string; readonly port: number };
  /** Why recovery opened (the machine keeps it apart from the login's errors: boot/screen-map.ts recoveryReasonData). */
  readonly reason: () => { readonly resetHeld?: boolean; readonly reasonCode?: string };
  readonly clock: () => number;
  /** The terminal's time zone (board file), for the times that tell files apart; default UTC+8. */
  readonly tzOffsetMinutes?: number;
  /** Pages the screen has on the display. */
  readonly pages: (s: Screen) => number;
  readonly changed: () => void;
  readonly openDiagnostics: () => void;
  readonly logger: Logger;
}

type View =
  | { kind: 'menu'; id: string; title: Txt; items: readonly MenuItem[]; widget: MenuWidget; lines?: readonly Txt[]; pick: (value: string) => void; back: () => void }
  | { kind: 'entry'; id: string; title: Txt; label: Txt; masked: boolean; lengthMax: number; widget: DigitEntry; hint?: Txt; page: number; done: (value: string) => void }
  | { kind: 'confirm'; id: string; title: Txt; lines: readonly Txt[]; page: number; ok: () => void }
  | { kind: 'busy'; title: Txt }
  | { kind: 'report'; report: Report; page: number };

export class RecoveryMenu implements Overlay {
  readonly name = 'recovery';
  private view: View;
  private busy = false;

  constructor(private readonly d: RecoveryMenuDeps) {
    this.view = this.top();
  }

  // ---------------------------------------------------------------- screens

  screen(): Screen {
    const v = this.view;
    switch (v.kind) {
      case 'menu': {
        if (v.id === 'recovery') return screenFor('recovery', { selected: v.widget.selected, ...this.d.reason() });
        return { id: v.id, title: v.title, ...(v.lines ? { lines: v.lines } : {}), menu: { items: v.items, selected: v.widget.selected }, footer: t('footer.choose') };
      }
      case 'entry': {
        // UP/DOWN turned to the hint (a 16x2 LCD has no row for it beside the field): its pages.
        if (v.page > 0 && v.hint) return this.hintScreen(v);
        const typed = v.widget.field('').digits;
        return {
          id: v.id, title: v.title, ...(v.hint ? { lines: [v.hint] } : {}),
          input: { kind: v.masked ? 'password' : 'digits', label: v.label, digits: v.masked ? '*'.repeat(typed.length) : typed, lengthMax: v.lengthMax },
          footer: t('footer.ok'),
        };
      }
      case 'confirm': return { id: v.id, title: v.title, lines: v.lines, page: v.page, footer: t('footer.okCancel') };
      case 'busy': return { id: 'recoveryBusy', title: v.title, lines: [t('msg.working')], align: 'center', footer: t('footer.wait') };
      case 'report': {
        const r = v.report;
        // The report's lines in both languages (resolved for the current locale at render time).
        const lines: Txt[] = reportLines(r, this.places());
        return { id: `recoveryReport:${r.action}`, title: t(r.ok ? 'title.result' : 'title.failed'), lines, page: v.page, footer: t('footer.back') };
      }
    }
  }

  /** An entry's hint on its own, paged (page 1.. of the entry view is page 0.. of this). */
  private hintScreen(v: Extract<View, { kind: 'entry' }>): Screen {
    return { id: v.id, title: v.title, lines: v.hint ? [v.hint] : [], page: Math.max(0, v.page - 1), footer: t('footer.paged') };
  }

  /** The report on display (tests and the probe). */
  report(): Report | undefined {
    return this.view.kind === 'report' ? this.view.report : undefined;
  }

  // ---------------------------------------------------------------- keys

  press(key: KeyName): void {
    const v = this.view;
    if (v.kind === 'busy') return;
    if (v.kind === 'report' || v.kind === 'confirm') {
      if (key === 'UP' || key === 'DOWN') {
        const n = Math.max(1, this.d.pages(this.screen()));
        v.page = (v.page + (key === 'DOWN' ? 1 : n - 1)) % n;
        return this.d.changed();
      }
      if (v.kind === 'confirm' && key === 'OK') return v.ok();
      if (key === 'OK' || key === 'CANCEL' || key === 'BACK') return this.show(this.top());
      return;
    }
    if (v.kind === 'menu') {
      const r = v.widget.press(key);
      if (r.kind === 'changed') return this.d.changed();
      if (r.kind === 'cancel' || r.kind === 'back') return v.back();
      if (r.kind === 'submit') v.pick(r.value);
      return;
    }
    // An entry screen does not page (its field keeps its rows), and the digits widget has no use
    // for UP/DOWN: they turn to the hint's pages and, past the last, back to the field, so a hint
    // the display had no room for beside the field is still read. Any other key is the field's.
    if (v.hint && (key === 'UP' || key === 'DOWN')) {
      const n = 1 + Math.max(1, this.d.pages({ ...this.hintScreen(v), page: 0 }));
      v.page = (v.page + (key === 'DOWN' ? 1 : n - 1)) % n;
      return this.d.changed();
    }
    v.page = 0;
    const r = v.widget.press(key);
    if (r.kind === 'cancel' || r.kind === 'back') return this.show(this.top());
    if (r.kind === 'submit') return v.done(String(r.value));
    this.d.changed();
  }

  private show(v: View): void {
    this.view = v;
    this.d.changed();
  }

  // ---------------------------------------------------------------- menus

  private menu(id: string, title: Txt, items: readonly MenuItem[], pick: (value: string) => void, lines?: readonly Txt[]): View {
    return { kind: 'menu', id, title, items, widget: new MenuWidget(items, { clock: this.d.clock, idleTimeoutMs: NO_TIMEOUT }), pick, back: () => this.show(this.top()), ...(lines ? { lines } : {}) };
  }

  private top(): View {
    const v = this.menu('recovery', t('title.recovery'), RECOVERY_ITEMS, (value) => this.topChoice(value));
    // The top menu has nowhere to go back to: CANCEL stays (Restart or Power off leave recovery).
    return { ...v, back: () => undefined } as View;
  }

  private topChoice(value: string): void {
    switch (value) {
      case 'verify': return this.run(() => this.rec().verifyJournal(), 'verify');
      case 'export': {
        // No stick: said before the passphrase is typed twice for nothing (and checked again after:
        // the stick may be pulled meanwhile).
        try { this.exportTarget(); } catch (e) { return this.showReport(errorReport(e, 'export')); }
        return this.newPassphrase((p) => this.run(() => this.rec().exportTo(this.exportTarget(), p, this.session()), 'export'));
      }
      case 'restore': return this.show(this.menu('recoveryRestore', t('title.restore'), RECOVERY_RESTORE_ITEMS, (v) => this.restoreChoice(v)));
      // Salvage moves the journal aside and runs on the rebuilt one: asked first (one key from the menu).
      case 'salvage': return this.show({ kind: 'confirm', id: 'recoveryConfirm:salvage', title: t('title.confirm'), lines: [t('msg.salvageAsk')], page: 0, ok: () => this.run(() => this.rec().salvage(this.session()), 'salvage') });
      case 'factory-reset': return void this.factoryReset();
      case 'diagnostics': return this.d.openDiagnostics();
      case 'restart': return this.run(() => this.rec().reboot(this.session()), 'reboot');
      case 'pending': return this.show(this.menu('recoveryPending', t('title.pendingWork'), RECOVERY_PENDING_ITEMS, (v) => this.pendingChoice(v)));
      case 'system': return this.show(this.menu('recoverySystem', t('title.system'), RECOVERY_SYSTEM_ITEMS, (v) => this.systemChoice(v)));
    }
  }

  private restoreChoice(value: string): void {
    if (value === 'repair') return void this.repair();
    this.chooseFile(BACKUP_FILE_SUFFIX, (file) => (this.rec().needsPassphrase(file)
      ? this.passphrase((p) => this.run(() => this.rec().importBackup(file, p, this.session()), 'import'), t('msg.passphraseOfBackup'))
      : this.run(() => this.rec().importBackup(file, undefined, this.session()), 'import')));
  }

  /**
   * Repair needs a backup's passphrase only when it restores one (the journal is damaged) and a
   * backup is encrypted under one: backups the terminal wrote on its own are sealed under its
   * device key. So the journal is checked first (busy screen), and a healthy one, or a torn tail,
   * is repaired without asking (it asked whenever an encrypted backup existed: found following
   * the README). Repair reuses the check.
   */
  private async repair(): Promise<void> {
    if (this.busy) return;
    if (!this.rec().backups().some((f) => this.rec().needsPassphrase(f))) return this.run(() => this.rec().repair(this.session()), 'repair');
    this.busy = true;
    this.show({ kind: 'busy', title: t('title.processing') });
    const restores = await this.guard('repair', () => this.rec().repairRestores());
    this.busy = false;
    if (restores === undefined) return;
    if (!restores) return this.run(() => this.rec().repair(this.session()), 'repair');
    this.passphrase((p) => this.run(() => this.rec().repair(this.session(), p), 'repair'), t('msg.passphraseOfBackup'));
  }

  private pendingChoice(value: string): void {
    if (value === 'resend') return this.run(() => this.rec().resendPending(this.session()), 'resend');
    if (value === 'last-receipt') return this.run(() => this.rec().reprintLastReceipt(this.session()), 'reprint-receipt');
    return this.run(() => this.rec().reprintLastReport(this.session()), 'reprint-report');
  }

  private systemChoice(value: string): void {
    switch (value) {
      case 'network': return this.networkSettings();
      case 'network-test': return this.run(async () => this.rec().testNetwork((await this.rec().networkSettings()) ?? this.defaultNetwork(), this.session()), 'network-test');
      case 'version': return this.run(async () => this.versionReport(), 'version');
      case 'apply-update': return this.chooseFile(UPDATE_FILE_SUFFIX, (file) => this.run(async () => this.applyReport(file), 'update'));
      case 'power-off': return this.show({ kind: 'confirm', id: 'recoveryConfirm:power-off', title: t('title.confirm'), lines: [t('msg.powerOffAsk')], page: 0, ok: () => this.run(() => this.rec().powerOff(this.session()), 'power-off') });
    }
  }

  // ---------------------------------------------------------------- steps

  /** A backup's passphrase, masked: `hint` says whether it is a new one or the one a backup was made with. */
  private passphrase(done: (p: string) => void, hint: Txt, title: Txt = t('title.passphrase'), id = 'passphrase'): void {
    const widget = pinEntry({ clock: this.d.clock, idleTimeoutMs: NO_TIMEOUT, lengthMin: PASSPHRASE_DIGITS_MIN, lengthMax: PASSPHRASE_DIGITS_MAX });
    this.show({ kind: 'entry', id, title, label: t('label.passphrase'), masked: true, lengthMax: PASSPHRASE_DIGITS_MAX, widget, hint, page: 0, done });
  }

  /**
   * A new passphrase (export): typed twice, masked, the same both times. Typed once, a slip of a
   * finger made a backup nobody can open (found following the README); different: both again.
   */
  private newPassphrase(done: (p: string) => void, hint: Txt = t('msg.passphraseHint')): void {
    this.passphrase((first) => this.passphrase((again) => {
      if (again === first) done(first);
      else this.newPassphrase(done, t('msg.passphraseMismatch'));
    }, t('msg.passphraseAgainHint'), t('title.passphraseAgain'), 'passphraseAgain'), hint);
  }

  private digits(id: string, title: Txt, label: Txt, lengthMin: number, lengthMax: number, done: (v: string) => void): void {
    const widget = new DigitEntry({ clock: this.d.clock, idleTimeoutMs: NO_TIMEOUT, lengthMin, lengthMax });
    this.show({ kind: 'entry', id, title, label, masked: false, lengthMax, widget, page: 0, done });
  }

  /** Files with `suffix` in the backup dir and the USB dirs, newest first; picked by number. */
  private chooseFile(suffix: string, picked: (file: string) => void): void {
    const files = this.files(suffix);
    // Where it looked, by name ("backup folder", "USB stick usb0"): a full path wraps unreadably.
    if (!files.length) return this.showReport({ action: suffix === UPDATE_FILE_SUFFIX ? 'update' : 'import', ok: false, code: 'E-STO-09', ...texts([rt('file.none', { suffix }), ...this.places().map((p) => p.name)]), journaled: false });
    const byTime = fileLabels(files.map((f) => ({ file: f, mtimeMs: this.mtime(f) })), this.d.tzOffsetMinutes ?? TZ_OFFSET_MINUTES_DEFAULT);
    const labels = suffix === UPDATE_FILE_SUFFIX ? updateLabels(files, byTime) : byTime;
    const items = numbered(files.map((f, i) => ({ label: labels[i], value: f })));
    this.show(this.menu('recoveryFiles', t('title.chooseFile'), items, picked));
  }

  private mtime(file: string): number {
    try { return statSync(file).mtimeMs; } catch { return 0; }
  }

  /** The folders files are looked for in, with the names a technician knows them by. */
  private places(): Place[] {
    return [{ dir: this.d.backupDir, name: rt('place.backup') }, ...this.d.usbDirs.map((dir) => ({ dir, name: rt('place.usb', { name: basename(dir) }) }))];
  }

  files(suffix: string): string[] {
    const out: Array<{ f: string; m: number }> = [];
    for (const dir of [this.d.backupDir, ...this.d.usbDirs]) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        if (!name.endsWith(suffix)) continue;
        const f = join(dir, name);
        try { out.push({ f, m: statSync(f).mtimeMs }); } catch { /* vanished */ }
      }
    }
    return out.sort((a, b) => b.m - a.m || b.f.localeCompare(a.f)).slice(0, FILES_LISTED_MAX).map((x) => x.f);
  }

  /**
   * A mounted USB stick, never the board's backup folder: an export rescues the journal when the
   * terminal's own disk fails, and an empty mount point is a folder on that disk (boot/usb-stick.ts).
   */
  private exportTarget(): string {
    return mountedStick(this.d.usbDirs, this.d.usbTakenAsMounted === true);
  }

  private async factoryReset(): Promise<void> {
    const plan = await this.guard('factory-reset', () => this.rec().factoryResetPlan());
    if (!plan) return;
    const lines: Txt[] = [...plan.erasesText.map((l) => ({ parts: ['- ', l] })), ...plan.keepsText.map((l) => ({ parts: ['+ ', l] })), t('msg.eraseAsk')];
    const go = (confirmations: number): void => this.run(() => this.rec().factoryReset({ confirmations }, this.session()), 'factory-reset');
    const second = (): void => this.show({ kind: 'confirm', id: 'recoveryConfirm:factory-reset-2', title: t('title.confirm'), lines: [t('msg.notSettled'), ...plan.erasesText.slice(0, 1)], page: 0, ok: () => go(2) });
    this.show({ kind: 'confirm', id: 'recoveryConfirm:factory-reset', title: t('title.confirm'), lines, page: 0, ok: () => (plan.confirmationsNeeded > 1 ? second() : go(1)) });
  }

  private networkSettings(): void {
    const form: { mode?: 'dhcp' | 'static'; address?: string; prefix?: number; gateway?: string; dns?: string; host?: string; port?: number } = {};
    const title = t('title.network');
    const ip = (field: 'host' | 'ip' | 'gateway' | 'dns', done: (v: string) => void): void => {
      const label = rt(`net.label.${field}`);
      this.digits(`network:${label.en}`, title, rt('net.label.digits', { label }), 12, 12, (v) => {
        const addr = ipFromDigits(v);
        if (!addr) return this.showReport({ action: 'network-settings', ok: false, code: 'E-OPR-08', ...texts([rt('net.notAddress', { label, value: v }), rt('net.digitsHint')]), journaled: false });
        done(addr);
      });
    };
    const save = (): void => this.run(async () => {
      const s: NetworkSettings = {
        interface: this.d.netInterface, mode: form.mode ?? 'dhcp',
        ...(form.mode === 'static' ? { address: form.address, prefixLength: form.prefix, gateway: form.gateway, dns: form.dns ? [form.dns] : [] } : {}),
        host: form.host ?? this.d.host.host, port: form.port ?? this.d.host.port,
      };
      return this.rec().saveNetworkSettings(s, this.session());
    }, 'network-settings');
    const hostAndPort = (): void => ip('host', (h) => { form.host = h; this.digits('network:port', title, t('label.port'), 1, 5, (p) => { form.port = Number(p); save(); }); });
    const pickMode = (mode: string): void => {
      form.mode = mode === 'static' ? 'static' : 'dhcp';
      if (form.mode === 'dhcp') return hostAndPort();
      ip('ip', (a) => { form.address = a; this.digits('network:prefix', title, t('label.prefix'), 1, 2, (p) => { form.prefix = Number(p); ip('gateway', (g) => { form.gateway = g; ip('dns', (dns) => { form.dns = dns; hostAndPort(); }); }); }); });
    };
    void this.currentNetworkLines().then((lines) => this.show(this.menu('recoveryNetwork', title, NETWORK_MODE_ITEMS, pickMode, lines)));
  }

  private async currentNetworkLines(): Promise<Txt[]> {
    const s = await this.rec().networkSettings().catch(() => undefined);
    // One row above the mode menu (a menu screen does not page): the mode alone fits, an address
    // and the host do not (Test network lists them).
    return [(s ?? this.defaultNetwork()).mode === 'static' ? rt('net.nowStaticShort') : rt('net.nowDhcp')];
  }

  private defaultNetwork(): NetworkSettings {
    return { interface: this.d.netInterface, mode: 'dhcp', host: this.d.host.host, port: this.d.host.port };
  }

  private async versionReport(): Promise<Report> {
    const u = this.d.update;
    if (!u) {
      const version = runtimeVersion();
      const flagged = await this.flagLines(version);
      return { action: 'version', ok: flagged.length === 0, ...texts([rt('version.runtime', { version }), ...flagged, rt('version.noLayout')]), journaled: false, ...(flagged.length > 0 ? { code: 'E-UPD-08' } : {}) };
    }
    const s = updateStatus(u.root);
    const flagged = await this.flagLines(s.runningVersion ?? runtimeVersion());
    const lines = [rt('version.running', { version: s.runningVersion ?? '?', slot: s.active }), ...flagged];
    if (s.pending) lines.push(rt('version.pending', { version: s.pending.version ?? '?', slot: s.pending.slot, tries: s.pending.tries }));
    if (s.last) lines.push(rt('version.last', { result: rt(`result.${s.last.result}`), version: s.last.version }));
    if (s.last?.reason) lines.push(rt('version.reason', { reason: s.last.reason }));
    const code = flagged.length > 0 ? 'E-UPD-08' : s.last?.result === 'rolled-back' ? 'E-UPD-04' : undefined;
    return { action: 'version', ok: code === undefined, ...texts(lines), journaled: false, detail: { status: s }, ...(code ? { code } : {}) };
  }

  /**
   * E-UPD-08 with the console's reason and the error list's steps when the running version is
   * flagged bad (the terminal's login notice says so too: boot/terminal-app.ts noteVersionFlag).
   */
  private async flagLines(version: string): Promise<LocalText[]> {
    const flag = await this.rec().versionFlag(version);
    if (!flag) return [];
    return faultLines(ERRORS.UPD_VERSION_FLAGGED.code, flag.reason === '' ? '' : `: ${flag.reason}`);
  }

  /** Signature, board and version checked by applyUpdate; journaled as recovery:update. */
  private async applyReport(file: string): Promise<Report> {
    const u = this.d.update;
    try {
      // Shown on the report screen with its code, as any refused package is (it was E-OPR-08, "invalid input").
      if (!u) throw new PosError('UPD_NOT_SET_UP', 'this board has no update key (board file "update")');
      const r = applyUpdate({ root: u.root, file, publicKeyHex: u.publicKeyHex, board: u.board, clock: this.d.clock });
      this.d.logger.info({ file, version: r.version, slot: r.slot }, 'recovery: update installed');
      return await this.rec().note('update', this.session(), true, [rt('update.installed', { version: r.version, slot: r.slot }), rt('update.was', { version: r.previousVersion ?? '?' }), rt('update.restart'), rt('update.checked')], { ...r, file });
    } catch (e) {
      if (!isPosError(e)) throw e;
      return this.rec().note('update', this.session(), false, [same(basename(file)), ...errorText(e)], { file }, e.code);
    }
  }

  // ---------------------------------------------------------------- running actions

  private rec(): Recovery {
    return this.d.recovery();
  }

  private session(): Session {
    const s = this.d.session();
    if (!s) throw new PosError('OPR_PERMISSION', 'recovery needs an administrator login');
    return s;
  }

  /** Runs a Recovery call with a busy screen; its Report (or the error as one) is shown. */
  run(action: () => Promise<Report> | Report, name: Report['action']): void {
    if (this.busy) return;
    this.busy = true;
    this.show({ kind: 'busy', title: t('title.processing') });
    void (async () => {
      let report: Report;
      try {
        report = await action();
      } catch (e) {
        report = errorReport(e, name);
        this.d.logger.warn({ code: report.code, err: String(e) }, 'recovery action failed');
      }
      this.busy = false;
      this.d.logger.info({ action: report.action, ok: report.ok, code: report.code, journaled: report.journaled }, 'recovery action');
      this.showReport(report);
    })();
  }

  private async guard<T>(action: Report['action'], fn: () => Promise<T>): Promise<T | undefined> {
    try { return await fn(); } catch (e) { this.showReport(errorReport(e, action)); this.d.logger.warn({ action, err: String(e) }, 'recovery: failed'); return undefined; }
  }

  private showReport(report: Report): void {
    this.show({ kind: 'report', report: report.action === 'salvage' ? withSalvageLoss(report) : report, page: 0 });
  }
}

/** A folder files are read from or written to, and what the LCD calls it. */
export interface Place {
  readonly dir: string;
  readonly name: LocalText;
}

/**
 * A report's lines as the LCD shows them: its code once, on a line of its own, first (a line
 * that repeats it, "E-STO-05 damaged at record 3", loses the repetition), and no absolute path
 * (a folder the menu knows by name is named, any other path is cut to its last part: the CLI's
 * `lines` keep the full paths for a shell).
 */
export function reportLines(r: Report, places: readonly Place[]): Txt[] {
  const code = r.code;
  const tidy = (x: string, lang: 'en' | 'zh'): string => {
    let out = shortPaths(x, places, lang);
    // Fullwidth colons written \uff1a, as in shortPaths: the bundle's source stays Latin-1 (boot/README.md, "Memory").
    if (code) out = out.split(code).map((part, i) => (i === 0 ? part.replace(/[\s:\uff1a]+$/, '') : part.replace(/^[\s:\uff1a]+/, ''))).filter((part) => part !== '').join(' ');
    return out;
  };
  const text = (r.text ?? r.lines.map(local)).map((l) => ({ en: tidy(l.en, 'en'), zh: tidy(l.zh, 'zh') })).filter((l) => l.en !== '' || l.zh !== '');
  return [...(code ? [code] : []), ...text];
}

/** Absolute paths in a line: a known folder (or a file in it) by its name, anything else by its last part. */
export function shortPaths(line: string, places: readonly Place[], lang: 'en' | 'zh' = 'en'): string {
  // Fullwidth （ ） ： written \uff08 \uff09 \uff1a: esbuild escapes strings but not regular expressions, and one
  // character above U+00FF makes V8 keep the whole bundle's source two bytes per character
  // (1.4 MB more heap; boot/README.md, "Memory").
  return line.replace(/(^|[\s(\uff08\uff1a:])(\/[^\s,;)\uff08\uff09\uff1a]+)/g, (_m, lead: string, path: string) => {
    const clean = path.replace(/[.:]+$/, '');
    const trail = path.slice(clean.length);
    const place = places.find((p) => clean === p.dir || clean === p.dir.replace(/\/+$/, ''));
    return `${lead}${place ? place.name[lang] : basename(clean)}${trail}`;
  });
}

/**
 * Labels telling files apart in a choice list, at most FILE_LABEL_CHARS_MAX characters (a menu
 * row): the file's time in the terminal's zone ("11-21 10:30"); files that share a minute show
 * their seconds ("10:30:05"), and files that share a second too what differs in their names (a
 * backup's record count: "10:30 24"). Every backup is named "journal-<serial>-<seq>", so the
 * start of its name, all a row could show, says nothing.
 */
export function fileLabels(files: ReadonlyArray<{ file: string; mtimeMs: number }>, tzOffsetMinutes: number): string[] {
  const at = (ms: number, form: 'minute' | 'second' | 'time'): string => {
    const c = civil(ms, tzOffsetMinutes);
    const time = `${pad2(c.hour)}:${pad2(c.minute)}`;
    return form === 'minute' ? `${pad2(c.month)}-${pad2(c.day)} ${time}` : form === 'second' ? `${time}:${pad2(c.second)}` : time;
  };
  const unique = (labels: readonly string[], i: number): boolean => labels.filter((x) => x === labels[i]).length === 1;
  const minutes = files.map((f) => at(f.mtimeMs, 'minute'));
  const seconds = files.map((f) => at(f.mtimeMs, 'minute') + at(f.mtimeMs, 'second'));
  return files.map((f, i) => {
    if (unique(minutes, i)) return minutes[i];
    if (unique(seconds, i)) return at(f.mtimeMs, 'second');
    const others = files.filter((_g, j) => j !== i && seconds[j] === seconds[i]).map((g) => basename(g.file));
    return `${at(f.mtimeMs, 'time')} ${distinguishing(basename(f.file), others)}`.slice(0, FILE_LABEL_CHARS_MAX);
  });
}

/**
 * Update packages are told apart by the version in their names (`pos-1.2.0-handheld.posupd`: what
 * the technician chooses by), when every name has one and no two share it; otherwise by time.
 */
export function updateLabels(files: readonly string[], byTime: readonly string[]): string[] {
  const versions = files.map((f) => /\d+\.\d+\.\d+/.exec(basename(f))?.[0]);
  if (versions.some((v) => v === undefined) || new Set(versions).size !== versions.length) return [...byTime];
  return versions.map((v) => (v as string).slice(0, FILE_LABEL_CHARS_MAX));
}

/** The part of `name` (suffix dropped) from which no other name shares its end, widened to a whole word, leading zeros dropped. */
function distinguishing(name: string, others: readonly string[]): string {
  const bare = (x: string): string => x.replace(/\.[^.]+$/, '');
  const mine = bare(name);
  const rest = others.map(bare);
  let n = 1;
  while (n < mine.length && rest.some((o) => o.endsWith(mine.slice(-n)))) n++;
  let from = mine.length - n;
  while (from > 0 && /[A-Za-z0-9]/.test(mine[from - 1])) from--;
  return mine.slice(from).replace(/^0+(?=\d)/, '');
}

/**
 * A salvage report says what could not be recovered too: from which record the chain is lost
 * (the records after it that are intact stay in orphans.bin, named by Recovery.salvage), or that
 * nothing was lost.
 */
export function withSalvageLoss(r: Report): Report {
  const d = r.detail as { recoveredCount?: unknown; firstMissingSeq?: unknown } | undefined;
  if (!d || typeof d.recoveredCount !== 'number') return r;
  const lost = typeof d.firstMissingSeq === 'number' ? [rt('salvage.notRecovered', { seq: d.firstMissingSeq })] : d.recoveredCount > 0 ? [rt('salvage.nothingLost')] : [];
  if (!lost.length) return r;
  const [first, ...rest] = r.text ?? r.lines.map(local);
  return { ...r, ...texts(first === undefined ? lost : [first, ...lost, ...rest]) };
}

/**
 * An operating error as report lines: the English message (the detail a technician quotes),
 * which in Chinese is the error list's cause (common/errors.ts), then its steps in both
 * languages. The code is shown on its own line by the report screen.
 */
export function errorText(e: unknown): LocalText[] {
  const message = e instanceof Error ? e.message : String(e);
  const def = isPosError(e) ? errorByCode(e.code) : undefined;
  if (!def) return [rt('error.unknown', { message })];
  return [{ en: message, zh: def.zh.cause }, ...def.zh.steps.map((zh, i) => ({ en: def.en.steps[i] ?? zh, zh }))];
}

function errorReport(e: unknown, action: Report['action']): Report {
  const err = storageErrorOf(e) ?? e;
  const code = isPosError(err) ? err.code : 'E-SYS-99';
  return { action, ok: false, code, ...texts(errorText(err)), journaled: false };
}

/** A system call's storage failure that reached the menu untyped, as the storage code a technician acts on (not E-SYS-99). */
const STORAGE_ERRNOS: Readonly<Record<string, 'STO_IO' | 'STO_READONLY' | 'STO_FULL'>> = { EIO: 'STO_IO', EROFS: 'STO_READONLY', ENOSPC: 'STO_FULL', EDQUOT: 'STO_FULL' };

function storageErrorOf(e: unknown): PosError | undefined {
  if (isPosError(e) || !(e instanceof Error)) return undefined;
  const errno = (e as NodeJS.ErrnoException).code;
  const id = errno !== undefined ? STORAGE_ERRNOS[errno] : undefined;
  return id ? new PosError(id, e.message, { errno }, { cause: e }) : undefined;
}

/** "192168001010" -> "192.168.1.10" (3 digits per part, as POS terminals take addresses). */
export function ipFromDigits(d: string): string | undefined {
  if (!/^\d{12}$/.test(d)) return undefined;
  const parts = [0, 3, 6, 9].map((i) => Number(d.slice(i, i + 3)));
  return parts.every((p) => p <= 255) ? parts.join('.') : undefined;
}

/** The runtime's version (package.json, from the source tree or from dist/). */
export function runtimeVersion(): string {
  try { return String((require('../../package.json') as { version?: string }).version ?? '?'); } catch {
    try { return String((require('../package.json') as { version?: string }).version ?? '?'); } catch { return '?'; }
  }
}

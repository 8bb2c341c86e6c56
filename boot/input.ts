/**
 * The input controller: keypad keys in, state-machine events out, through the ui-lcd widgets.
 *
 * Which widget listens depends on the machine's state (and, at idle, on the menu the controller
 * opened itself). The controller keeps only what the operator is typing; the screen gets it as
 * `UiState` (boot/screen-map.ts), where secrets are lengths only.
 *
 *   idle            MENU opens the main menu; a digit or OK starts a sale with amount entry
 *                   (as 电签 terminals do); FUNC opens the menu too
 *   login           operator number (2 digits, shown), OK, password (masked), OK -> LOGIN
 *   *.authorize.ask the same for a supervisor -> SUPERVISOR
 *   sale.amount     AmountEntry -> AMOUNT
 *   *.pin           PinBufferEntry -> PIN {pin: Buffer} (wiped once the machine is past it)
 *   void.trace      trace number -> TRACE; reprint "by trace no." -> REPRINT_STAN
 *   refund.details  reference number (12 digits), amount -> REFUND_DETAILS
 *   yes/no          customer copy menu (1 yes, 2 no, OK), offerReprint OK=YES CANCEL=NO
 *   errors          UP/DOWN page; OK acknowledges (and RETRY/OK where the machine waits for it)
 *   CANCEL          backs out everywhere (a card wait is cancelled at the reader too)
 *
 * An untouched entry screen times out after the widget's idle timeout and goes back to idle.
 */
import type { KeyName } from '../hal/keypad';
import type { MachineEvent, MachineView, ErrorView } from '../runtime/machine';
import type { Locale } from '../ui-lcd/screen';
import { AmountEntry, DigitEntry, MenuWidget, Pager, Widget, WidgetResult, pinEntry, traceNumberEntry } from '../ui-lcd/widgets';
import { LANGUAGE_ITEMS, MAIN_MENU_ITEMS, RECOVERY_ITEMS, REPRINT_ITEMS, SETTINGS_ITEMS, STORAGE_FAILURE_ITEMS, YES_NO_ITEMS } from '../ui-lcd/screens';
import { PinBufferEntry } from './input-secret';
import { EMPTY_UI, LocalScreen, UiState, pendingError } from './screen-map';

/** Operator numbers are typed as 2 digits (01, 99) and sent as the 3 digits of field 63. */
export const OPERATOR_DIGITS_TYPED = 2;
export const OPERATOR_DIGITS_SENT = 3;
export const PASSWORD_DIGITS_MIN = 4;
export const PASSWORD_DIGITS_MAX = 12;
/** Reference (retrieval reference) number of the original sale: 12 digits. */
export const REFERENCE_DIGITS = 12;

export interface ControllerDeps {
  send(event: MachineEvent): void;
  clock(): number;
  /** Stops a card wait at the reader (CANCEL while presenting a card). */
  cancelCardRead(): void;
  /** The printer has paper again (paperOut: OK). */
  paperReady(): Promise<boolean>;
  /** MMDD of the original sale for a refund: from the local journal when it has it, else today. */
  refundDate(rrn: string): string;
  setLocale(locale: Locale): void;
  locale(): Locale;
  /** Pages the error screen has on this display. */
  errorPages(code: string): number;
  /** Pages the screen on display now has (UP/DOWN page through a long one). */
  screenPages(): number;
  /** Recovery menu actions the machine does not handle itself (restart, diagnostics...). */
  recoveryAction(action: string): void;
  /** Opens the diagnostics (the app's overlay; `report` is for a controller-drawn list, unused by the app). */
  diagnostics(report: (d: Extract<LocalScreen, { name: 'diagnostics' }>['data']) => void): void;
  /** Something the screen shows changed. */
  changed(): void;
  idleTimeoutMs?: number;
}

type Entry = Widget<unknown>;

export class InputController {
  private ui: UiState = EMPTY_UI;
  private path = '';
  private view: MachineView | undefined;
  private entry: Entry | undefined;
  private menu: MenuWidget | undefined;
  private pager: Pager | undefined;
  private pagerFor: ErrorView | undefined;
  private operator = '';
  private pendingDigit: KeyName | undefined;
  private handedPin: Buffer | undefined;
  private refundReference = '';
  private acknowledged = new Set<ErrorView>();

  constructor(private readonly deps: ControllerDeps) {}

  state(): UiState {
    return this.ui;
  }

  /** Called on every machine snapshot: a new state gets fresh widgets. */
  sync(view: MachineView): void {
    this.view = view;
    if (view.state !== this.path) {
      const previous = this.path;
      this.path = view.state;
      this.enter(previous);
    }
    this.syncPager();
  }

  /** One key press (keypad 'down' event). */
  press(key: KeyName): void {
    const v = this.view;
    if (!v) return;
    const error = pendingError(v, this.ui);
    if (error && !(this.ui.local && v.state === 'idle')) { this.errorKey(key, error); return; }
    if (this.ui.local && v.state === 'idle') { this.localKey(key); return; }
    this.stateKey(key, v);
  }

  /** Periodic: idle timeouts of entry screens and menus. */
  tick(): void {
    const w = this.entry ?? this.menu;
    if (!w || w.poll()?.kind !== 'timeout') return;
    if (this.ui.local) { this.closeLocal(); return; }
    if (this.path !== 'login' && this.path !== 'recovery.locked') this.deps.send({ type: 'CANCEL' });
  }

  // ---------------------------------------------------------------- entering a state

  private enter(previous: string): void {
    this.entry = undefined;
    this.menu = undefined;
    if (this.handedPin && !/\.(pin|online)$/.test(this.path)) { this.handedPin.fill(0); this.handedPin = undefined; }
    if (previous === 'idle' || this.path !== 'idle') this.ui = { ...this.ui, local: undefined };
    const clock = { clock: this.deps.clock, ...(this.deps.idleTimeoutMs ? { idleTimeoutMs: this.deps.idleTimeoutMs } : {}) };
    const p = this.path;
    let ui: UiState = { ...EMPTY_UI, acknowledged: this.acknowledged, local: this.ui.local };
    if (p === 'login' || p === 'recovery.locked' || p.endsWith('.authorize.ask')) {
      this.operator = '';
      this.entry = new DigitEntry({ ...clock, lengthMin: OPERATOR_DIGITS_TYPED, lengthMax: OPERATOR_DIGITS_TYPED });
    } else if (p === 'sale.amount') {
      const amount = new AmountEntry(clock);
      if (this.pendingDigit) amount.press(this.pendingDigit);
      this.entry = amount;
      ui = { ...ui, amount: { amountFen: amount.amountFen } };
    } else if (p.endsWith('.pin')) {
      this.entry = new PinBufferEntry(clock);
    } else if (p === 'void.trace') {
      this.entry = traceNumberEntry(clock);
    } else if (p === 'refund.details') {
      this.entry = new DigitEntry({ ...clock, lengthMin: REFERENCE_DIGITS, lengthMax: REFERENCE_DIGITS });
    } else if (p.endsWith('.askCustomerCopy')) {
      this.menu = new MenuWidget(YES_NO_ITEMS, clock);
    } else if (p === 'reprint.choose') {
      this.menu = new MenuWidget(REPRINT_ITEMS, clock);
    } else if (p === 'recovery.menu') {
      this.menu = new MenuWidget(RECOVERY_ITEMS, { clock: this.deps.clock, idleTimeoutMs: Number.MAX_SAFE_INTEGER });
    } else if (p === 'storageFailure') {
      this.menu = new MenuWidget(STORAGE_FAILURE_ITEMS, { clock: this.deps.clock, idleTimeoutMs: Number.MAX_SAFE_INTEGER });
    }
    this.pendingDigit = undefined;
    this.ui = ui;
  }

  private syncPager(): void {
    const v = this.view;
    const e = v ? pendingError(v, this.ui) : undefined;
    if (e === this.pagerFor) return;
    this.pagerFor = e;
    this.pager = e ? new Pager(() => this.deps.errorPages(e.code), { clock: this.deps.clock, idleTimeoutMs: Number.MAX_SAFE_INTEGER }) : undefined;
    this.set({ page: 0 });
  }

  // ---------------------------------------------------------------- keys by situation

  private errorKey(key: KeyName, error: ErrorView): void {
    const r = this.pager?.press(key);
    if (r?.kind === 'changed') { this.set({ page: this.pager?.page ?? 0 }); return; }
    if (r?.kind !== 'submit' && r?.kind !== 'cancel' && r?.kind !== 'back') return;
    this.acknowledged.add(error);
    this.set({ acknowledged: this.acknowledged });
    this.syncPager();
    const p = this.path;
    if (r.kind === 'cancel') { this.cancel(); return; }
    if (p.endsWith('.cardError')) this.deps.send({ type: 'RETRY' });
    else if (p.endsWith('.result')) this.deps.send({ type: 'OK' });
  }

  private stateKey(key: KeyName, v: MachineView): void {
    const p = v.state;
    if (p === 'idle') return this.idleKey(key);
    if (this.entry) return this.entryKey(key, p);
    if (this.menu) return this.menuKey(key, p);
    if (key === 'CANCEL') return this.cancel();
    if (key === 'UP' || key === 'DOWN') {
      const n = Math.max(1, this.deps.screenPages());
      this.set({ page: (this.ui.page + (key === 'DOWN' ? 1 : n - 1)) % n });
      return;
    }
    if (key !== 'OK') return;
    if (p === 'offerReprint') this.deps.send({ type: 'YES' });
    else if (p === 'sale.duplicateWarning') this.deps.send({ type: 'CONTINUE' });
    else if (p === 'sale.signature') this.deps.send({ type: 'SKIP' });
    else if (p === 'hostUnreachable') this.deps.send({ type: 'RETRY' });
    else if (p.endsWith('.cardError')) this.deps.send({ type: 'RETRY' });
    else if (p === 'paperOut') void this.deps.paperReady().then((ready) => { if (ready) this.deps.send({ type: 'PAPER_LOADED' }); });
    else this.deps.send({ type: 'OK' }); // results, confirmations, low battery
  }

  private cancel(): void {
    const p = this.path;
    if (/\.card$/.test(p)) this.deps.cancelCardRead();
    if (p === 'offerReprint') this.deps.send({ type: 'NO' });
    else this.deps.send({ type: 'CANCEL' });
  }

  private idleKey(key: KeyName): void {
    if (key === 'MENU' || key === 'FUNC') { this.openLocal('mainMenu'); return; }
    if (key === 'OK' || (key >= '0' && key <= '9' && key.length === 1)) {
      if (key !== 'OK' && key !== '0') this.pendingDigit = key;
      this.deps.send({ type: 'SALE' });
    }
  }

  private entryKey(key: KeyName, p: string): void {
    const entry = this.entry!;
    const r = entry.press(key) as WidgetResult<unknown>;
    if (r.kind === 'cancel' || r.kind === 'timeout') { this.cancel(); return; }
    if (r.kind === 'back') { this.back(p); return; }
    if (r.kind === 'submit') { this.submit(p, r.value); return; }
    this.refreshEntry(p, r.kind === 'refused' ? r.reason : undefined);
  }

  /** Puts what the entry widget holds into the UI state (lengths for secrets). */
  private refreshEntry(p: string, refused?: 'max' | 'zero' | 'too-short'): void {
    const e = this.entry;
    if (e instanceof AmountEntry) this.set({ amount: { amountFen: e.amountFen, ...(refused ? { refused } : {}) } });
    else if (e instanceof PinBufferEntry) this.set({ pinLength: e.length });
    else if (e instanceof DigitEntry && this.isLogin(p)) {
      const field = this.ui.login.field;
      const typed = e.field('').digits;
      this.set({ login: field === 'operator' ? { field, operator: typed, passwordLength: 0, ...(refused === 'too-short' ? { refused } : {}) } : { field, operator: this.operator, passwordLength: e.length } });
    } else if (e instanceof DigitEntry) this.set({ digits: { digits: e.field('').digits, ...(refused === 'too-short' ? { refused } : {}) } });
  }

  private isLogin(p: string): boolean {
    return p === 'login' || p === 'recovery.locked' || p.endsWith('.authorize.ask');
  }

  private back(p: string): void {
    if (this.isLogin(p) && this.ui.login.field === 'password') { this.startOperatorField(); return; }
    if (p === 'refund.details' && this.ui.refundStage === 'amount') { this.startReference(); return; }
    if (p === 'reprint.choose' && this.ui.reprintByTrace) { this.menu = new MenuWidget(REPRINT_ITEMS, { clock: this.deps.clock }); this.entry = undefined; this.set({ reprintByTrace: false, digits: { digits: '' } }); return; }
    this.cancel();
  }

  private submit(p: string, value: unknown): void {
    if (this.isLogin(p)) return this.submitLogin(p, String(value));
    if (p === 'sale.amount') { this.deps.send({ type: 'AMOUNT', amountFen: Number(value) }); return; }
    if (p.endsWith('.pin')) {
      this.handedPin = value as Buffer;
      this.set({ pinLength: 0 });
      this.deps.send({ type: 'PIN', pin: this.handedPin });
      return;
    }
    if (p === 'void.trace') { this.restartEntry(); this.deps.send({ type: 'TRACE', stan: Number(value) }); return; }
    if (p === 'reprint.choose') { this.deps.send({ type: 'REPRINT_STAN', stan: Number(value) }); return; }
    if (p === 'refund.details' && this.ui.refundStage === 'reference') {
      this.refundReference = String(value);
      this.entry = new AmountEntry({ clock: this.deps.clock });
      this.set({ refundStage: 'amount', amount: { amountFen: 0 } });
      return;
    }
    if (p === 'refund.details') {
      const rrn = this.refundReference;
      this.startReference();
      this.deps.send({ type: 'REFUND_DETAILS', rrn, dateMmdd: this.deps.refundDate(rrn), amountFen: Number(value) });
    }
  }

  private submitLogin(p: string, typed: string): void {
    if (this.ui.login.field === 'operator') {
      this.operator = typed;
      this.entry = pinEntry({ clock: this.deps.clock, lengthMin: PASSWORD_DIGITS_MIN, lengthMax: PASSWORD_DIGITS_MAX });
      this.set({ login: { field: 'password', operator: typed, passwordLength: 0 } });
      return;
    }
    const operator = this.operator.padStart(OPERATOR_DIGITS_SENT, '0');
    this.startOperatorField();
    // A wrong password comes back as an error in the same state: the fields start over.
    this.deps.send(p.endsWith('.authorize.ask') ? { type: 'SUPERVISOR', operator, password: typed } : { type: 'LOGIN', operator, password: typed });
  }

  private startOperatorField(): void {
    this.operator = '';
    this.entry = new DigitEntry({ clock: this.deps.clock, lengthMin: OPERATOR_DIGITS_TYPED, lengthMax: OPERATOR_DIGITS_TYPED });
    this.set({ login: { field: 'operator', operator: '', passwordLength: 0 } });
  }

  private startReference(): void {
    this.refundReference = '';
    this.entry = new DigitEntry({ clock: this.deps.clock, lengthMin: REFERENCE_DIGITS, lengthMax: REFERENCE_DIGITS });
    this.set({ refundStage: 'reference', digits: { digits: '' } });
  }

  private restartEntry(): void {
    this.entry = traceNumberEntry({ clock: this.deps.clock });
    this.set({ digits: { digits: '' } });
  }

  private menuKey(key: KeyName, p: string): void {
    const r = this.menu!.press(key);
    if (r.kind === 'changed') { this.set({ selected: this.menu!.selected }); return; }
    if (r.kind === 'cancel' || r.kind === 'back' || r.kind === 'timeout') {
      if (p.endsWith('.askCustomerCopy')) this.deps.send({ type: 'NO' });
      else if (p !== 'recovery.menu' && p !== 'storageFailure') this.cancel();
      return;
    }
    if (r.kind !== 'submit') {
      if (p === 'reprint.choose' && key === 'FUNC') this.deps.send({ type: 'REPRINT_REPORT' });
      return;
    }
    this.set({ selected: this.menu!.selected });
    const value = r.value;
    if (p.endsWith('.askCustomerCopy')) this.deps.send({ type: value === 'yes' ? 'YES' : 'NO' });
    else if (p === 'reprint.choose' && value === 'last') this.deps.send({ type: 'REPRINT_LAST' });
    else if (p === 'reprint.choose') { this.menu = undefined; this.restartEntry(); this.set({ reprintByTrace: true }); }
    else if (value === 'export') this.deps.send({ type: 'EXPORT' });
    else this.deps.recoveryAction(value);
  }

  // ---------------------------------------------------------------- menus the controller shows at idle

  private openLocal(name: 'mainMenu' | 'settings' | 'language'): void {
    const items = name === 'mainMenu' ? MAIN_MENU_ITEMS : name === 'settings' ? SETTINGS_ITEMS : LANGUAGE_ITEMS;
    const selected = name === 'language' ? Math.max(0, LANGUAGE_ITEMS.findIndex((i) => i.value === this.deps.locale())) : 0;
    this.menu = new MenuWidget(items, { clock: this.deps.clock, selected });
    this.set({ local: this.localScreen(name, selected) });
  }

  private localScreen(name: 'mainMenu' | 'settings' | 'language', selected: number): LocalScreen {
    return name === 'language' ? { name, data: { selected, current: this.deps.locale() } } : { name, data: { selected } };
  }

  private closeLocal(): void {
    this.menu = undefined;
    this.set({ local: undefined });
  }

  private localKey(key: KeyName): void {
    const local = this.ui.local!;
    if (local.name === 'diagnostics') { if (key === 'OK' || key === 'CANCEL' || key === 'BACK') this.closeLocal(); return; }
    const r = this.menu?.press(key);
    if (!r) return;
    if (r.kind === 'changed') { this.set({ local: this.localScreen(local.name, this.menu!.selected) }); return; }
    if (r.kind === 'cancel' || r.kind === 'timeout') { this.closeLocal(); return; }
    if (r.kind === 'back') { if (local.name === 'mainMenu') this.closeLocal(); else this.openLocal(local.name === 'language' ? 'settings' : 'mainMenu'); return; }
    if (r.kind !== 'submit') return;
    if (local.name === 'language') { this.deps.setLocale(r.value as Locale); this.closeLocal(); return; }
    if (local.name === 'settings') { this.openLocal('language'); return; }
    this.mainMenuChoice(r.value);
  }

  private mainMenuChoice(value: string): void {
    const events: Record<string, MachineEvent['type']> = { sale: 'SALE', void: 'VOID', refund: 'REFUND', balance: 'BALANCE', reprint: 'REPRINT', settlement: 'SETTLE', 'sign-off': 'SIGN_OFF' };
    if (value === 'settings') { this.openLocal('settings'); return; }
    if (value === 'diagnostics') {
      // The app shows diagnostics over idle (boot/diagnostics.ts) and takes the keys until it closes.
      this.closeLocal();
      this.deps.diagnostics(() => undefined);
      return;
    }
    const type = events[value];
    this.closeLocal();
    if (type) this.deps.send({ type } as MachineEvent);
  }

  private set(patch: Partial<UiState>): void {
    this.ui = { ...this.ui, ...patch };
    this.deps.changed();
  }
}

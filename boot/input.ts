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
 *   *.card          (sale, refund) FUNC opens keyed entry where allowed: card number (13..19 digits,
 *                   shown as keyed, Luhn checked), OK, expiry MMYY (a real month, not passed), OK -> KEYED
 *                   {pan, expiry: YYMM}; a refused one says why and keeps the digits; BACK on an
 *                   empty field goes back a step, CANCEL back to the card wait (a card still works)
 *   void.trace      trace number -> TRACE; reprint "by trace no." -> REPRINT_STAN
 *   reprint.copy    1 merchant copy, 2 customer copy -> REPRINT_COPY
 *   preAuth.amount, completion.amount   AmountEntry -> AMOUNT
 *   preAuthVoid.original, completion.original   the hold's trace number -> TRACE, or OK alone to key
 *                   it: authorization code (6 digits), original date MMDD, for a void the amount
 *                   -> PREAUTH_KEYED; BACK on an empty field goes back a step
 *   completionVoid.trace   the completion's trace number -> TRACE
 *   main menu 10    the pre-authorization family's menu -> PRE_AUTH, PRE_AUTH_VOID, COMPLETION, COMPLETION_VOID
 *   main menu 11    QR payments' menu -> QR_SALE, QR_VOID, QR_REFUND
 *   qr.amount, qrRefund.amount   AmountEntry -> AMOUNT
 *   qr.mode         1 scan the customer's code (QR_SCAN), 2 show the terminal's (QR_SHOW)
 *   qr.scan         the scanner reads the code; FUNC keys it instead (16..32 digits) -> QR_CODE;
 *                   CANCEL in the keyed field goes back to the scanner; after a scan error OK scans again
 *   qr.waiting      CANCEL gives up waiting (the payment stays pending: resolved by query later)
 *   qrVoid.trace, qrRefund.trace   the QR payment's trace number -> TRACE
 *   refund.details  original trace number (a sale in this journal: its reference number, date and
 *                   amount become the defaults) or OK alone; reference number (12 digits); date
 *                   MMDD (real, not in the future, <= 180 days); amount -> REFUND_DETAILS
 *   settings        1 language, 2 change my password (PASSWORD), 3 operators (OPERATORS), 4 host
 *                   parameters, 5 status upload, 6 echo test (HOST_TASK), 7 Wi-Fi (the app's overlay, boards with wifi0)
 *   password.entry  old, new, new again (masked) -> CHANGE_PASSWORD
 *   operators.choose  (an administrator's 操作员管理)
 *                   1 add: operator no. (01..99; one in use or 00 refused as typed), role (1 cashier,
 *                     2 supervisor, 3 administrator), new password, new again -> ADD_OPERATOR
 *                   2 delete: operator no. (one that exists), the operator and role shown, OK -> DELETE_OPERATOR
 *                   3 list: every operator, number, role, locked; UP/DOWN page, OK/BACK/CANCEL back
 *                   4 reset a password: operator no., new, new again -> RESET_PASSWORD
 *                   5 unlock: operator no. -> UNLOCK
 *                   6 my password (the administrator managing): old, new, new again -> CHANGE_PASSWORD
 *                   BACK steps back a stage; CANCEL leaves for idle
 *   yes/no          customer copy menu (1 yes, 2 no, OK), offerReprint and offerCustomerCopy OK=YES CANCEL=NO
 *   settlement.offlinePending   1 send the offline sales again (RETRY), 2 give them up (GIVE_UP)
 *   storageFailure  1 export the journal (EXPORT), 2 diagnostics, 3 retry: the storage checked again (RETRY)
 *   sale.signature  with a signature pad capturing (deps.signatureKey): OK confirms the signature
 *                   (with nothing signed: sign on paper), CLEAR wipes it to sign again, CANCEL =
 *                   sign on paper; without a pad OK = signed on paper (SKIP)
 *   errors          UP/DOWN page; OK acknowledges (and RETRY/OK where the machine waits for it)
 *   CANCEL          backs out everywhere (a card wait is cancelled at the reader too)
 *
 * An untouched entry screen times out after the widget's idle timeout and goes back to idle.
 */
import type { KeyName } from '../hal/keypad';
import type { MachineEvent, MachineView, ErrorView } from '../runtime/machine';
import type { Locale } from '../ui-lcd/screen';
import { AmountEntry, DigitEntry, MenuWidget, Pager, Widget, WidgetResult, pinEntry, traceNumberEntry } from '../ui-lcd/widgets';
import { QR_ITEMS, QR_MODE_ITEMS } from '../ui-lcd/screens';
import { LANGUAGE_ITEMS, MAIN_MENU_ITEMS, OFFLINE_PENDING_ITEMS, OPERATOR_ITEMS, PRE_AUTH_ITEMS, RECOVERY_ITEMS, REPRINT_COPY_ITEMS, REPRINT_ITEMS, ROLE_ITEMS, SETTINGS_ITEMS, STORAGE_FAILURE_ITEMS, YES_NO_ITEMS } from '../ui-lcd/screens';
import type { OperatorRole, Refused } from '../ui-lcd/screens';
import { PinBufferEntry } from './input-secret';
import { PAYMENT_CODE_DIGITS_MAX, PAYMENT_CODE_DIGITS_MIN } from '../runtime/host/messages-v2';
import { EMPTY_UI, LocalScreen, UiState, keyedOffered, pendingError, retryOffered } from './screen-map';
import { PAN_KEYED_DIGITS_MAX, PAN_KEYED_DIGITS_MIN, expiryProblem, mmyyToYymm, originalDate, panProblem } from '../runtime/txn/entry-checks';

/** Operator numbers are typed as 2 digits (01, 99) and sent as the 3 digits of field 63. */
export const OPERATOR_DIGITS_TYPED = 2;
export const OPERATOR_DIGITS_SENT = 3;
export const PASSWORD_DIGITS_MIN = 4;
export const PASSWORD_DIGITS_MAX = 12;
/** Reference (retrieval reference) number of the original sale: 12 digits. */
export const REFERENCE_DIGITS = 12;
/** The original sale's date, MMDD. */
export const REFUND_DATE_DIGITS = 4;
/** An authorization code keyed from a pre-authorization slip: 6 digits. */
export const AUTH_CODE_DIGITS = 6;
/** A card's expiry as printed, MMYY. */
export const EXPIRY_DIGITS = 4;

export interface ControllerDeps {
  send(event: MachineEvent): void;
  clock(): number;
  /** Stops a card wait at the reader (CANCEL while presenting a card). */
  cancelCardRead(): void;
  /** The printer has paper again (paperOut: OK). */
  paperReady(): Promise<boolean>;
  /** A sale of this terminal's journal by trace number: the refund's defaults. */
  refundLookup(stan: number): { rrn: string; dateMmdd: string; amountFen: number } | undefined;
  /** Wall-clock ms (card expiry and refund dates); `clock` is the monotonic one for timeouts. */
  now(): number;
  /** The terminal's time zone, minutes east of UTC, for those dates (default UTC+8). */
  tzOffsetMinutes?(): number;
  setLocale(locale: Locale): void;
  locale(): Locale;
  /** Pages the error screen has on this display. */
  errorPages(code: string): number;
  /** Pages the screen on display now has (UP/DOWN page through a long one). */
  screenPages(): number;
  /** Recovery menu actions the machine does not handle itself (restart, diagnostics...). */
  recoveryAction(action: string): void;
  /** Opens Settings > Wi-Fi (the app's overlay); absent or false: the board has no Wi-Fi. */
  wifi?(): boolean;
  /** Opens the diagnostics (the app's overlay; `report` is for a controller-drawn list, unused by the app). */
  diagnostics(report: (d: Extract<LocalScreen, { name: 'diagnostics' }>['data']) => void): void;
  /** Something the screen shows changed. */
  changed(): void;
  /** The signature pad takes OK, CLEAR and CANCEL on the signature screen while it captures: true when it took the key. */
  signatureKey?(key: KeyName): boolean;
  /** A key on a screen whose typing ends in a password check (runtime/password-kdf.ts expectPasswordCheck). */
  passwordExpected?(): void;
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
  private refund: { rrn: string; dateMmdd: string; amountFen?: number } = { rrn: '', dateMmdd: '' };
  private acknowledged = new Set<ErrorView>();
  /** Passwords typed so far in a change or reset (old, new), dropped once sent. */
  private secrets: string[] = [];
  private keyedPan = '';
  /** Keyed details of a pre-authorization typed so far (authorization code, date). */
  private preAuthKeyed: { authCode: string; dateMmdd: string } = { authCode: '', dateMmdd: '' };

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
    if (this.leadsToPasswordCheck(this.path)) this.deps.passwordExpected?.();
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
    if (this.waitsAtLogin(this.path)) { this.startOperatorField(); return; }
    this.deps.send({ type: 'CANCEL' });
  }

  /**
   * The login screens (the operator's, recovery's) have no screen to go back to: untouched for the
   * widget's idle timeout they clear what was typed (a half-typed number or password is not left
   * for the next person) and take keys again. A widget that timed out answers every later key
   * with 'timeout', so without a fresh one the keypad would be dead until a power cycle.
   */
  private waitsAtLogin(p: string): boolean {
    return p === 'login' || p === 'recovery.locked';
  }

  /** The login, a supervisor's authorization, a password being changed or set: typing there ends in a password check or hash. */
  private leadsToPasswordCheck(p: string): boolean {
    return this.waitsAtLogin(p) || p.endsWith('.authorize.ask') || this.isSecretStage(p);
  }

  // ---------------------------------------------------------------- entering a state

  private enter(previous: string): void {
    // Keyed entry survives the card wait timing out and being retried (the digits are kept).
    const flow = (x: string): string => x.split('.')[0];
    if (this.ui.keyed && flow(previous) === flow(this.path) && /\.(card|cardError)$/.test(this.path)) return;
    // A payment code being keyed survives the scanner timing out (qr.scan <-> qr.scanError).
    if (this.ui.qrKeyed && /^qr\.(scan|scanError)$/.test(previous) && /^qr\.(scan|scanError)$/.test(this.path)) return;
    this.entry = undefined;
    this.menu = undefined;
    this.secrets = [];
    this.keyedPan = '';
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
    } else if (p === 'qr.amount' || p === 'qrRefund.amount') {
      const amount = new AmountEntry(clock);
      this.entry = amount;
      ui = { ...ui, amount: { amountFen: amount.amountFen } };
    } else if (p === 'qr.mode') {
      this.menu = new MenuWidget(QR_MODE_ITEMS, clock);
    } else if (p === 'qrVoid.trace' || p === 'qrRefund.trace') {
      this.entry = traceNumberEntry(clock);
    } else if (p === 'preAuth.amount' || p === 'completion.amount') {
      const amount = new AmountEntry(clock);
      this.entry = amount;
      ui = { ...ui, amount: { amountFen: amount.amountFen } };
    } else if (p === 'preAuthVoid.original' || p === 'completion.original' || p === 'completionVoid.trace') {
      this.preAuthKeyed = { authCode: '', dateMmdd: '' };
      this.entry = traceNumberEntry(clock);
      ui = { ...ui, preAuthStage: 'trace' };
    } else if (p === 'void.trace') {
      this.entry = traceNumberEntry(clock);
    } else if (p === 'refund.details') {
      this.refund = { rrn: '', dateMmdd: '' };
      this.entry = traceNumberEntry(clock);
    } else if (p === 'password.entry') {
      this.entry = pinEntry({ ...clock, lengthMin: 1, lengthMax: PASSWORD_DIGITS_MAX });
    } else if (p === 'operators.choose') {
      this.menu = new MenuWidget(OPERATOR_ITEMS, clock);
    } else if (/^operators\.(resetting|unlocking|adding|deleting|changingMine)$/.test(p)) {
      // The operator's number stays on the screen while the record is written.
      ui = { ...ui, operatorNumber: this.ui.operatorNumber, operatorAction: this.ui.operatorAction, operatorStage: this.ui.operatorStage, secret: this.ui.secret, operatorRole: this.ui.operatorRole };
    } else if (p.endsWith('.askCustomerCopy')) {
      this.menu = new MenuWidget(YES_NO_ITEMS, clock);
    } else if (p === 'settlement.offlinePending') {
      this.menu = new MenuWidget(OFFLINE_PENDING_ITEMS, clock);
    } else if (p === 'reprint.choose') {
      this.menu = new MenuWidget(REPRINT_ITEMS, clock);
    } else if (p === 'reprint.copy') {
      this.menu = new MenuWidget(REPRINT_COPY_ITEMS, clock);
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
    const retry = this.view !== undefined && retryOffered(this.view);
    if (r.kind === 'cancel') { if (retry) this.deps.send({ type: 'OK' }); else this.cancel(); return; }
    if (p.endsWith('.cardError') || p === 'qr.scanError' || retry) this.deps.send({ type: 'RETRY' });
    else if (p.endsWith('.result')) this.deps.send({ type: 'OK' });
  }

  private stateKey(key: KeyName, v: MachineView): void {
    const p = v.state;
    if (p === 'idle') return this.idleKey(key);
    if (this.entry) return this.entryKey(key, p);
    if (this.menu) return this.menuKey(key, p);
    if (key === 'FUNC' && /^(sale|refund)\.card$/.test(p) && keyedOffered(v)) return this.startKeyed('pan', '');
    if (key === 'FUNC' && /^qr\.(scan|scanError)$/.test(p)) return this.startQrKeyed();
    if (p === 'sale.signature' && this.deps.signatureKey?.(key)) return;
    if (p === 'operators.choose' && (this.ui.operatorStage === 'list' || this.ui.operatorStage === 'confirm')) return this.operatorViewKey(key);
    if (p === 'hostUnreachable' && key === '1') { this.deps.send({ type: 'ECHO' }); return; }
    if (key === 'CANCEL') return this.cancel();
    if (key === 'UP' || key === 'DOWN') {
      const n = Math.max(1, this.deps.screenPages());
      this.set({ page: (this.ui.page + (key === 'DOWN' ? 1 : n - 1)) % n });
      return;
    }
    if (key !== 'OK') return;
    if (p === 'offerReprint' || p === 'offerCustomerCopy') this.deps.send({ type: 'YES' });
    else if (p === 'sale.duplicateWarning') this.deps.send({ type: 'CONTINUE' });
    else if (p === 'sale.signature') this.deps.send({ type: 'SKIP' });
    else if (p === 'hostUnreachable') this.deps.send({ type: 'RETRY' });
    else if (p.endsWith('.cardError') || p === 'qr.scanError') this.deps.send({ type: 'RETRY' });
    else if (p === 'paperOut') void this.deps.paperReady().then((ready) => { if (ready) this.deps.send({ type: 'PAPER_LOADED' }); });
    else this.deps.send({ type: 'OK' }); // results, confirmations, low battery
  }

  private cancel(): void {
    const p = this.path;
    if (/\.card$/.test(p)) this.deps.cancelCardRead();
    if (p === 'offerReprint' || p === 'offerCustomerCopy') this.deps.send({ type: 'NO' });
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
    // Refund: OK on an empty trace number goes to the reference number (a sale not in this journal).
    if (p === 'refund.details' && this.ui.refundStage === 'trace' && key === 'OK' && entry instanceof DigitEntry && entry.length === 0) { this.refundStage('reference'); return; }
    // A pre-authorization void or completion: OK on an empty trace number keys the hold instead.
    if (this.keysHold(p) && this.ui.preAuthStage === 'trace' && key === 'OK' && entry instanceof DigitEntry && entry.length === 0) { this.preAuthStage('authCode'); return; }
    // A key after the login's timeout, before the tick cleared it: a fresh entry takes the key.
    if (this.waitsAtLogin(p) && entry.poll()?.kind === 'timeout') { this.startOperatorField(); this.entryKey(key, p); return; }
    const r = entry.press(key) as WidgetResult<unknown>;
    // CANCEL in keyed entry goes back to the card wait (the sale is not lost; a card still works).
    if ((r.kind === 'cancel' || r.kind === 'timeout') && this.ui.keyed) { this.stopKeyed(); return; }
    // The same for a payment code being keyed: back to the scanner.
    if ((r.kind === 'cancel' || r.kind === 'timeout' || r.kind === 'back') && this.ui.qrKeyed) { this.entry = undefined; this.set({ qrKeyed: undefined }); return; }
    if (r.kind === 'submit' && this.ui.qrKeyed) { this.set({ qrKeyed: { digits: String(r.value) } }); this.deps.send({ type: 'QR_CODE', code: String(r.value) }); return; }
    if (r.kind === 'cancel' || r.kind === 'timeout') { this.cancel(); return; }
    if (r.kind === 'back') { this.back(p); return; }
    if (r.kind === 'submit') { this.submit(p, r.value); return; }
    this.refreshEntry(p, r.kind === 'refused' ? r.reason : undefined);
  }

  /** Puts what the entry widget holds into the UI state (lengths for secrets). */
  private refreshEntry(p: string, refused?: Refused): void {
    const e = this.entry;
    if (this.ui.qrKeyed && e instanceof DigitEntry) { this.set({ qrKeyed: { digits: e.field('').digits, ...(refused === 'too-short' ? { refused } : {}) } }); return; }
    if (this.ui.keyed && e instanceof DigitEntry) { this.set({ keyed: { ...this.ui.keyed, digits: e.field('').digits, ...(refused === 'too-short' ? { refused } : { refused: undefined }) } }); return; }
    if (this.isSecretStage(p) && e instanceof DigitEntry) { this.set({ secret: { ...this.ui.secret, length: e.length } }); return; }
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
    if (this.ui.keyed) { if (this.ui.keyed.stage === 'expiry') this.startKeyed('pan', this.keyedPan); else this.stopKeyed(); return; }
    if (this.keysHold(p) && this.ui.preAuthStage !== undefined && this.ui.preAuthStage !== 'trace') {
      const before = { authCode: 'trace', date: 'authCode', amount: 'date' } as const;
      this.preAuthStage(before[this.ui.preAuthStage]);
      return;
    }
    if (p === 'refund.details' && this.ui.refundStage !== 'trace') {
      const before = { reference: 'trace', date: 'reference', amount: 'date' } as const;
      this.refundStage(before[this.ui.refundStage]);
      return;
    }
    if (this.isSecretStage(p) && (this.ui.secret.stage !== 'old' || p === 'operators.choose')) { this.backSecret(p); return; }
    if (p === 'operators.choose' && this.ui.operatorStage === 'number') { this.operatorMenu(); return; }
    if (p === 'reprint.choose' && this.ui.reprintByTrace) { this.menu = new MenuWidget(REPRINT_ITEMS, { clock: this.deps.clock }); this.entry = undefined; this.set({ reprintByTrace: false, digits: { digits: '' } }); return; }
    this.cancel();
  }

  private submit(p: string, value: unknown): void {
    if (this.isLogin(p)) return this.submitLogin(p, String(value));
    if (this.ui.keyed) return this.submitKeyed(p, String(value));
    if (this.isSecretStage(p)) return this.submitSecret(p, String(value));
    if (p === 'operators.choose' && this.ui.operatorStage === 'number') return this.submitOperatorNumber(String(value));
    if (p === 'sale.amount' || p === 'preAuth.amount' || p === 'completion.amount' || p === 'qr.amount' || p === 'qrRefund.amount') { this.deps.send({ type: 'AMOUNT', amountFen: Number(value) }); return; }
    if (this.keysHold(p) || p === 'completionVoid.trace') return this.submitHold(p, String(value));
    if (p.endsWith('.pin')) {
      this.handedPin = value as Buffer;
      this.set({ pinLength: 0 });
      this.deps.send({ type: 'PIN', pin: this.handedPin });
      return;
    }
    if (p === 'qrVoid.trace' || p === 'qrRefund.trace') { this.restartEntry(); this.deps.send({ type: 'TRACE', stan: Number(value) }); return; }
    if (p === 'void.trace') { this.restartEntry(); this.deps.send({ type: 'TRACE', stan: Number(value) }); return; }
    if (p === 'reprint.choose') { this.deps.send({ type: 'REPRINT_STAN', stan: Number(value) }); return; }
    if (p === 'refund.details') this.submitRefund(String(value));
  }

  // ---------------------------------------------------------------- pre-authorization: the hold

  /** States where the hold is named by trace number or keyed (authorization code, date, amount). */
  private keysHold(p: string): boolean {
    return p === 'preAuthVoid.original' || p === 'completion.original';
  }

  private submitHold(p: string, value: string): void {
    switch (this.ui.preAuthStage ?? 'trace') {
      case 'trace':
        this.restartEntry();
        this.deps.send({ type: 'TRACE', stan: Number(value) });
        return;
      case 'authCode':
        this.preAuthKeyed = { ...this.preAuthKeyed, authCode: value };
        this.preAuthStage('date');
        return;
      case 'date': {
        const { problem } = originalDate(value, this.deps.now(), this.deps.tzOffsetMinutes?.());
        if (problem) { this.set({ digits: { digits: value, refused: problem === 'future' ? 'date-future' : problem === 'too-old' ? 'date-old' : 'date' } }); return; }
        this.preAuthKeyed = { ...this.preAuthKeyed, dateMmdd: value };
        // A void names the pre-authorized amount; a completion's amount is asked after the card.
        if (p === 'preAuthVoid.original') { this.preAuthStage('amount'); return; }
        this.deps.send({ type: 'PREAUTH_KEYED', authCode: this.preAuthKeyed.authCode, dateMmdd: value });
        return;
      }
      case 'amount':
        this.deps.send({ type: 'PREAUTH_KEYED', authCode: this.preAuthKeyed.authCode, dateMmdd: this.preAuthKeyed.dateMmdd, amountFen: Number(value) });
    }
  }

  private preAuthStage(stage: NonNullable<UiState['preAuthStage']>): void {
    const clock = { clock: this.deps.clock };
    if (stage === 'amount') {
      const amount = new AmountEntry(clock);
      this.entry = amount;
      this.set({ preAuthStage: stage, amount: { amountFen: amount.amountFen } });
      return;
    }
    const initial = stage === 'authCode' ? this.preAuthKeyed.authCode : stage === 'date' ? this.preAuthKeyed.dateMmdd : '';
    const length = stage === 'authCode' ? AUTH_CODE_DIGITS : REFUND_DATE_DIGITS;
    this.entry = stage === 'trace' ? traceNumberEntry(clock) : new DigitEntry({ ...clock, lengthMin: length, lengthMax: length, initial });
    this.set({ preAuthStage: stage, digits: { digits: initial } });
  }

  // ---------------------------------------------------------------- refund details

  private submitRefund(value: string): void {
    switch (this.ui.refundStage) {
      case 'trace': {
        const sale = this.deps.refundLookup(Number(value));
        if (!sale) { this.set({ digits: { digits: value, refused: 'not-found' } }); return; }
        this.refund = { ...sale };
        this.set({ refundFromJournal: true });
        this.refundStage('reference');
        return;
      }
      case 'reference':
        if (value !== this.refund.rrn) this.set({ refundFromJournal: false });
        this.refund = { ...this.refund, rrn: value };
        this.refundStage('date');
        return;
      case 'date': {
        const { problem } = originalDate(value, this.deps.now(), this.deps.tzOffsetMinutes?.());
        if (problem) { this.set({ digits: { digits: value, refused: problem === 'future' ? 'date-future' : problem === 'too-old' ? 'date-old' : 'date' } }); return; }
        this.refund = { ...this.refund, dateMmdd: value };
        this.refundStage('amount');
        return;
      }
      case 'amount': {
        this.refund = { ...this.refund, amountFen: Number(value) };
        // A refusal by the machine (its error screen) comes back to this amount, nothing retyped.
        this.deps.send({ type: 'REFUND_DETAILS', rrn: this.refund.rrn, dateMmdd: this.refund.dateMmdd, amountFen: Number(value) });
      }
    }
  }

  /** Opens a refund detail's field with what is known for it (typed before, or the journal's). */
  private refundStage(stage: UiState['refundStage']): void {
    const clock = { clock: this.deps.clock };
    if (stage === 'amount') {
      const amount = new AmountEntry({ ...clock, ...(this.refund.amountFen ? { initialFen: this.refund.amountFen } : {}) });
      this.entry = amount;
      this.set({ refundStage: stage, amount: { amountFen: amount.amountFen } });
      return;
    }
    const initial = stage === 'reference' ? this.refund.rrn : stage === 'date' ? this.refund.dateMmdd : '';
    if (stage === 'trace') { this.refund = { rrn: '', dateMmdd: '' }; this.set({ refundFromJournal: false }); }
    const length = stage === 'reference' ? REFERENCE_DIGITS : stage === 'date' ? REFUND_DATE_DIGITS : 0;
    this.entry = stage === 'trace' ? traceNumberEntry(clock) : new DigitEntry({ ...clock, lengthMin: length, lengthMax: length, initial });
    this.set({ refundStage: stage, digits: { digits: stage === 'trace' ? '' : initial } });
  }

  // ---------------------------------------------------------------- keyed card entry

  private startKeyed(stage: 'pan' | 'expiry', initial: string): void {
    const clock = { clock: this.deps.clock };
    this.entry = stage === 'pan'
      ? new DigitEntry({ ...clock, lengthMin: PAN_KEYED_DIGITS_MIN, lengthMax: PAN_KEYED_DIGITS_MAX, initial })
      : new DigitEntry({ ...clock, lengthMin: EXPIRY_DIGITS, lengthMax: EXPIRY_DIGITS, initial });
    this.set({ keyed: { stage, digits: initial, ...(stage === 'expiry' ? { pan: this.keyedPan } : {}) } });
  }

  private stopKeyed(): void {
    this.entry = undefined;
    this.keyedPan = '';
    this.set({ keyed: undefined });
  }

  private submitKeyed(p: string, value: string): void {
    const keyed = this.ui.keyed!;
    if (keyed.stage === 'pan') {
      const problem = panProblem(value);
      if (problem) { this.set({ keyed: { ...keyed, digits: value, refused: problem === 'luhn' ? 'luhn' : 'pan-length' } }); return; }
      this.keyedPan = value;
      this.startKeyed('expiry', '');
      return;
    }
    const yymm = mmyyToYymm(value);
    const problem = expiryProblem(yymm, this.deps.now(), this.deps.tzOffsetMinutes?.());
    if (problem) { this.set({ keyed: { ...keyed, digits: value, refused: problem === 'expired' ? 'expired' : 'expiry' } }); return; }
    const pan = this.keyedPan;
    this.stopKeyed();
    this.deps.send({ type: 'KEYED', pan, expiry: yymm });
    // The machine has left the card wait (or refused, and waits on): the reader stops waiting.
    if (this.path !== p) this.deps.cancelCardRead();
  }

  // ---------------------------------------------------------------- password change and operator management

  /** A password field is open: password.entry, or operators.choose past the operator number. */
  private isSecretStage(p: string): boolean {
    return p === 'password.entry' || (p === 'operators.choose' && this.ui.operatorStage === 'password');
  }

  private secretEntry(stage: 'old' | 'new' | 'repeat'): void {
    // Any length is taken (1..12 digits): a short new password gets its own clear refusal (E-OPR-13).
    this.entry = pinEntry({ clock: this.deps.clock, lengthMin: 1, lengthMax: PASSWORD_DIGITS_MAX });
    this.set({ secret: { stage, length: 0 } });
  }

  private submitSecret(p: string, value: string): void {
    this.secrets.push(value);
    const stage = this.ui.secret.stage;
    if (stage !== 'repeat') { this.secretEntry(stage === 'old' ? 'new' : 'repeat'); return; }
    const secrets = this.secrets;
    this.secrets = [];
    const action = this.ui.operatorAction;
    if (p === 'password.entry' || action === 'mine') {
      const [oldPassword, newPassword, repeated] = secrets;
      if (p === 'password.entry') this.secretEntry('old');
      this.deps.send({ type: 'CHANGE_PASSWORD', oldPassword, newPassword, repeated });
      return;
    }
    const [newPassword, repeated] = secrets;
    const operator = (this.ui.operatorNumber ?? '').padStart(OPERATOR_DIGITS_SENT, '0');
    if (action === 'add') { this.deps.send({ type: 'ADD_OPERATOR', operator, role: this.ui.operatorRole ?? 'cashier', password: newPassword, repeated }); return; }
    this.deps.send({ type: 'RESET_PASSWORD', operator, newPassword, repeated });
  }

  private backSecret(p: string): void {
    const stage = this.ui.secret.stage;
    const action = this.ui.operatorAction;
    this.secrets.pop();
    if (stage === 'repeat') { this.secretEntry('new'); return; }
    if (stage === 'new' && (p === 'password.entry' || action === 'mine')) { this.secretEntry('old'); return; }
    if (action === 'mine') { this.operatorMenu(); return; }
    // An addition: before the new password comes the role; a reset: the operator number.
    if (action === 'add') { this.startOperatorRole(); return; }
    this.startOperatorNumber(action === 'unlock' || action === 'delete' ? action : 'reset');
  }

  private operatorMenu(): void {
    this.entry = undefined;
    this.secrets = [];
    this.menu = new MenuWidget(OPERATOR_ITEMS, { clock: this.deps.clock });
    this.set({ operatorStage: 'menu', operatorAction: undefined, operatorNumber: undefined, operatorRole: undefined, selected: 0, page: 0 });
  }

  /** An operator management menu choice: the number first, or the list, or the administrator's own old password. */
  private operatorChoice(value: string): void {
    if (value === 'add' || value === 'delete' || value === 'reset' || value === 'unlock') { this.startOperatorNumber(value); return; }
    this.menu = undefined;
    if (value === 'list') { this.set({ operatorStage: 'list', operatorAction: undefined, page: 0 }); return; }
    this.set({ operatorStage: 'password', operatorAction: 'mine', operatorNumber: undefined });
    this.secretEntry('old');
  }

  private startOperatorNumber(action: 'reset' | 'unlock' | 'add' | 'delete'): void {
    this.menu = undefined;
    this.secrets = [];
    this.entry = new DigitEntry({ clock: this.deps.clock, lengthMin: OPERATOR_DIGITS_TYPED, lengthMax: OPERATOR_DIGITS_TYPED });
    this.set({ operatorStage: 'number', operatorAction: action, operatorNumber: undefined, operatorRole: undefined, digits: { digits: '' } });
  }

  private startOperatorRole(): void {
    this.entry = undefined;
    this.secrets = [];
    this.menu = new MenuWidget(ROLE_ITEMS, { clock: this.deps.clock });
    this.set({ operatorStage: 'role', operatorRole: undefined, selected: 0 });
  }

  /**
   * The number typed: an addition refuses one in use or 00 (E-OPR-24/29, as the machine would after
   * both passwords), a deletion one that does not exist (E-OPR-05), from the view's operator list.
   */
  private submitOperatorNumber(typed: string): void {
    const action = this.ui.operatorAction;
    const operator = typed.padStart(OPERATOR_DIGITS_SENT, '0');
    const exists = this.view?.data.operators?.some((o) => o.number === operator) === true;
    const refused: Refused | undefined = action === 'add' ? (Number(typed) < 1 ? 'range' : exists ? 'in-use' : undefined) : action === 'delete' && !exists ? 'unknown' : undefined;
    if (refused) { this.set({ digits: { digits: typed, refused } }); return; }
    this.set({ operatorNumber: typed });
    if (action === 'unlock') { this.deps.send({ type: 'UNLOCK', operator }); return; }
    if (action === 'add') { this.startOperatorRole(); return; }
    if (action === 'delete') { this.entry = undefined; this.set({ operatorStage: 'confirm' }); return; }
    this.set({ operatorStage: 'password' });
    this.secretEntry('new');
  }

  /** The list (UP/DOWN page; OK, BACK or CANCEL back to the menu) and the deletion's question (OK deletes). */
  private operatorViewKey(key: KeyName): void {
    if (key === 'UP' || key === 'DOWN') {
      const n = Math.max(1, this.deps.screenPages());
      this.set({ page: (this.ui.page + (key === 'DOWN' ? 1 : n - 1)) % n });
      return;
    }
    if (key === 'OK' && this.ui.operatorStage === 'confirm') {
      this.deps.send({ type: 'DELETE_OPERATOR', operator: (this.ui.operatorNumber ?? '').padStart(OPERATOR_DIGITS_SENT, '0') });
      return;
    }
    if (key === 'OK' || key === 'BACK' || key === 'CANCEL') this.operatorMenu();
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

  private restartEntry(): void {
    this.entry = traceNumberEntry({ clock: this.deps.clock });
    this.set({ digits: { digits: '' } });
  }

  private menuKey(key: KeyName, p: string): void {
    const r = this.menu!.press(key);
    if (r.kind === 'changed') { this.set({ selected: this.menu!.selected }); return; }
    if (r.kind === 'back' && p === 'operators.choose' && this.ui.operatorStage === 'role') { this.startOperatorNumber('add'); return; }
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
    if (p === 'operators.choose' && this.ui.operatorStage === 'role') {
      this.menu = undefined;
      this.set({ operatorRole: value as OperatorRole, operatorStage: 'password' });
      this.secretEntry('new');
      return;
    }
    if (p === 'operators.choose') { this.operatorChoice(value); return; }
    if (p.endsWith('.askCustomerCopy')) this.deps.send({ type: value === 'yes' ? 'YES' : 'NO' });
    else if (p === 'qr.mode') this.deps.send({ type: value === 'show' ? 'QR_SHOW' : 'QR_SCAN' });
    else if (p === 'settlement.offlinePending') this.deps.send({ type: value === 'give-up' ? 'GIVE_UP' : 'RETRY' });
    else if (p === 'reprint.copy') this.deps.send({ type: 'REPRINT_COPY', copy: value === 'customer' ? 'customer' : 'merchant' });
    else if (p === 'reprint.choose' && value === 'last') this.deps.send({ type: 'REPRINT_LAST' });
    else if (p === 'reprint.choose') { this.menu = undefined; this.restartEntry(); this.set({ reprintByTrace: true }); }
    else if (value === 'export') this.deps.send({ type: 'EXPORT' });
    else if (p === 'storageFailure' && value === 'retry') this.deps.send({ type: 'RETRY' });
    else this.deps.recoveryAction(value);
  }

  // ---------------------------------------------------------------- menus the controller shows at idle

  private openLocal(name: 'mainMenu' | 'settings' | 'language' | 'preAuthMenu' | 'qrMenu'): void {
    const items = name === 'mainMenu' ? MAIN_MENU_ITEMS : name === 'settings' ? SETTINGS_ITEMS : name === 'preAuthMenu' ? PRE_AUTH_ITEMS : name === 'qrMenu' ? QR_ITEMS : LANGUAGE_ITEMS;
    const selected = name === 'language' ? Math.max(0, LANGUAGE_ITEMS.findIndex((i) => i.value === this.deps.locale())) : 0;
    this.menu = new MenuWidget(items, { clock: this.deps.clock, selected });
    this.set({ local: this.localScreen(name, selected) });
  }

  private localScreen(name: 'mainMenu' | 'settings' | 'language' | 'preAuthMenu' | 'qrMenu', selected: number): LocalScreen {
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
    if (local.name === 'preAuthMenu') {
      const events: Record<string, MachineEvent['type']> = { 'pre-auth': 'PRE_AUTH', 'pre-auth-void': 'PRE_AUTH_VOID', completion: 'COMPLETION', 'completion-void': 'COMPLETION_VOID' };
      this.closeLocal();
      const type = events[r.value];
      if (type) this.deps.send({ type } as MachineEvent);
      return;
    }
    if (local.name === 'qrMenu') {
      const events: Record<string, MachineEvent['type']> = { 'qr-sale': 'QR_SALE', 'qr-void': 'QR_VOID', 'qr-refund': 'QR_REFUND' };
      this.closeLocal();
      const type = events[r.value];
      if (type) this.deps.send({ type } as MachineEvent);
      return;
    }
    if (local.name === 'settings' && (r.value === 'password' || r.value === 'operators')) {
      this.closeLocal();
      this.deps.send({ type: r.value === 'password' ? 'PASSWORD' : 'OPERATORS' });
      return;
    }
    if (local.name === 'settings' && r.value === 'wifi') {
      // The app's overlay (boot/wifi-menu.ts) on boards with wifi0; elsewhere the item does nothing.
      this.closeLocal();
      this.deps.wifi?.();
      return;
    }
    if (local.name === 'settings' && (r.value === 'params' || r.value === 'status' || r.value === 'echo')) {
      this.closeLocal();
      this.deps.send({ type: 'HOST_TASK', task: r.value });
      return;
    }
    if (local.name === 'settings') { this.openLocal('language'); return; }
    this.mainMenuChoice(r.value);
  }

  private mainMenuChoice(value: string): void {
    const events: Record<string, MachineEvent['type']> = { sale: 'SALE', void: 'VOID', refund: 'REFUND', balance: 'BALANCE', reprint: 'REPRINT', settlement: 'SETTLE', 'sign-off': 'SIGN_OFF' };
    if (value === 'settings') { this.openLocal('settings'); return; }
    if (value === 'pre-auth') { this.openLocal('preAuthMenu'); return; }
    if (value === 'qr') { this.openLocal('qrMenu'); return; }
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

  /** FUNC on the scan screen: the payment code keyed (16..32 digits), the scanner still listening. */
  private startQrKeyed(): void {
    this.entry = new DigitEntry({ clock: this.deps.clock, lengthMin: PAYMENT_CODE_DIGITS_MIN, lengthMax: PAYMENT_CODE_DIGITS_MAX });
    this.set({ qrKeyed: { digits: '' } });
  }

  private set(patch: Partial<UiState>): void {
    this.ui = { ...this.ui, ...patch };
    this.deps.changed();
  }
}

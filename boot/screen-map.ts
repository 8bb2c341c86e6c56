/**
 * Which ui-lcd screen shows which state of the terminal machine, and with what data.
 *
 * The machine (runtime/machine.ts) names its states by dotted path ('sale.amount'); ui-lcd
 * (ui-lcd/screens.ts) names its screens ('saleAmount'). `STATE_SCREENS` is the table between
 * them: one entry per leaf state of the machine (tests/e2e/screen-map.test.ts walks the machine
 * and fails on a state without an entry, or an entry naming an unknown screen). The data comes
 * from the machine's view (what may be shown) and from the input controller's `UiState` (what the
 * operator is typing: digits, '*'s for secrets, the menu selection, the error page).
 *
 * An error the operator has not acknowledged yet is shown as its error screen (code, cause,
 * steps, paged) before the state's own screen, except where the state's screen is about the
 * error itself (paper out, host not reached, storage fault) or where a notice says it better
 * (a wrong password: "Wrong: 2 left" on the login screen).
 */
import type { MachineView, ErrorView } from '../runtime/machine';
import { RETRYABLE_KINDS } from '../runtime/machine';
import type { LocalText, Txt, StatusLine, Locale } from '../ui-lcd/screen';
import type { StateName, ScreenData, Transaction, Refused, ModemView, WifiView, OperatorRole, RestoredOutcome } from '../ui-lcd/screens';
import { rt } from '../ui-lcd/recovery-strings';
import { t } from '../ui-lcd/strings';
import type { StringKey } from '../ui-lcd/strings';
import { QR_WAIT_MS_MAX } from '../runtime/txn/qr';
import { ERRORS } from '../common/errors';
import type { ErrorDef } from '../common/errors';
import { explainResponseCode } from '../runtime/host/response-codes';

/** What the input controller contributes to a screen. Never a secret: lengths only. */
export interface UiState {
  /** A screen the controller shows by itself (menus reached from idle), over the machine's. */
  readonly local?: LocalScreen;
  readonly login: { readonly field: 'operator' | 'password'; readonly operator: string; readonly passwordLength: number; readonly refused?: Refused };
  readonly amount: { readonly amountFen: number; readonly refused?: Refused };
  /** Trace or reference number being typed. */
  readonly digits: { readonly digits: string; readonly refused?: Refused };
  readonly pinLength: number;
  /** Selection of the menu the machine's state shows (customer copy, reprint, recovery...). */
  readonly selected: number;
  /** Page of the error screen. */
  readonly page: number;
  /** Errors already acknowledged with OK (the machine keeps them in its context). */
  readonly acknowledged: ReadonlySet<ErrorView>;
  /** Refund: which detail is being typed (trace no. of a sale in this journal, or OK alone; then reference no., date, amount). */
  readonly refundStage: 'trace' | 'reference' | 'date' | 'amount';
  /** Refund: the reference no., date and amount shown are the journal's (the operator may still change them). */
  readonly refundFromJournal: boolean;
  /** Reprint: typing a trace number instead of choosing from the menu. */
  readonly reprintByTrace: boolean;
  /** Password change or reset: which password is being typed, and its length (never the digits). */
  readonly secret: { readonly stage: 'old' | 'new' | 'repeat'; readonly length: number };
  /**
   * Operator management: the menu, the operator's number, the new operator's role, the passwords
   * (secret), the deletion's confirmation, or the list.
   */
  readonly operatorStage: 'menu' | 'number' | 'role' | 'password' | 'confirm' | 'list';
  readonly operatorAction?: 'reset' | 'unlock' | 'add' | 'delete' | 'mine';
  /** The operator number typed (reset, unlock, add, delete): 2 digits as on the login screen. */
  readonly operatorNumber?: string;
  /** The role chosen for the operator being added. */
  readonly operatorRole?: OperatorRole;
  /** Pre-authorization void or completion: which detail of the hold is being typed (trace no., or keyed: auth code, date, amount). */
  readonly preAuthStage?: 'trace' | 'authCode' | 'date' | 'amount';
  /** QR 被扫: the payment code being keyed (FUNC on the scan screen). */
  readonly qrKeyed?: { readonly digits: string; readonly refused?: Refused };
  /** Keyed card entry over the card screen (FUNC): the digits as keyed; the accepted PAN only for masking. */
  readonly keyed?: { readonly stage: 'pan' | 'expiry'; readonly digits: string; readonly pan?: string; readonly refused?: Refused };
}

export type LocalScreen =
  | { readonly name: 'mainMenu'; readonly data: { selected: number } }
  | { readonly name: 'settings'; readonly data: { selected: number } }
  | { readonly name: 'preAuthMenu'; readonly data: { selected: number } }
  | { readonly name: 'qrMenu'; readonly data: { selected: number } }
  | { readonly name: 'language'; readonly data: { selected: number; current: Locale } }
  | { readonly name: 'diagnostics'; readonly data: ScreenData['diagnostics'] };

export const EMPTY_UI: UiState = {
  login: { field: 'operator', operator: '', passwordLength: 0 }, amount: { amountFen: 0 }, digits: { digits: '' }, pinLength: 0,
  selected: 0, page: 0, acknowledged: new Set(), refundStage: 'trace', refundFromJournal: false, reprintByTrace: false,
  secret: { stage: 'old', length: 0 }, operatorStage: 'menu',
};

/** What the board and the boot sequence add (battery, clock, progress). */
export interface Env {
  readonly nowMs: number;
  /** The terminal's time zone, minutes east of UTC (the board file's; default UTC+8). */
  readonly tzOffsetMinutes?: number;
  /** The terminal's own title for idle, until the acquirer downloads the merchant's name. */
  readonly merchantName: Txt;
  /** A character display (HD44780's ROM): printable ASCII only, so a Chinese name is not shown on it. */
  readonly asciiOnly?: boolean;
  readonly status: StatusLine;
  readonly bootStep: ScreenData['boot']['step'];
  readonly bootStepIndex: number;
  readonly bootStepCount: number;
  /**
   * What boot found and still stands (self-test faults, a stuck reset button, stuck keys; the card
   * reader's fault with them when they stand), every one read in turn (boot/boot-faults.ts
   * faultsNotice): shown on idle and login.
   */
  readonly bootNotice?: Txt;
  /** Storage nearly full (E-STO-02: settle now) or full for sales (E-STO-01): shown on idle. */
  readonly storageNotice?: Txt;
  /** The archives over their budget with the oldest not exported (E-STO-15: export them): idle and login. */
  readonly archiveNotice?: Txt;
  /**
   * The card reader's fault after a card wait ended in it (E-RDR-03/04/01, or E-RDR-01 past the
   * unreadable swipes in a row; runtime/txn/reader-health.ts): idle and login, until the reader
   * answers again (or a swipe reads).
   */
  readonly readerNotice?: Txt;
  /** The signature pad is capturing (boards with signature0): strokes so far. Absent: sign on paper. */
  readonly signaturePad?: { readonly strokes: number };
  /** The 4G modem's state, read when the sign-on failed (boards with modem0): the sign-on failure screen shows it. */
  readonly modem?: ModemView;
  /** The Wi-Fi's state, read when the sign-on failed (boards with wifi0): the sign-on failure screen shows it. */
  readonly wifi?: WifiView;
}

export interface ScreenChoice {
  readonly name: StateName;
  readonly data: Record<string, unknown>;
  /** Replaces the footer (attempts left, a boot fault). */
  readonly notice?: Txt;
}

type Builder = (v: MachineView, ui: UiState, env: Env) => ScreenChoice;

const FLOW_TRANSACTIONS: readonly Transaction[] = ['sale', 'void', 'refund', 'balance', 'preAuth', 'preAuthVoid', 'completion', 'completionVoid', 'qr', 'qrVoid', 'qrRefund'];
const txnOf = (v: MachineView): Transaction => FLOW_TRANSACTIONS.find((f) => f === v.data.flow) ?? 'sale';
const pad6 = (n: number | undefined): string => String(n ?? 0).padStart(6, '0');

const boot: Builder = (_v, _ui, env) => ({ name: 'boot', data: { step: env.bootStep, stepIndex: env.bootStepIndex, stepCount: env.bootStepCount } });
const pending: Builder = (_v, _ui, env) => ({ name: 'boot', data: { step: 'pending', stepIndex: Math.max(env.bootStepIndex, env.bootStepCount - 1), stepCount: env.bootStepCount } });

/** What the boot's notice (runtime/machine.ts resumePending) says became of the work a power cut stopped. */
const RESTORED_OUTCOME: Readonly<Record<string, RestoredOutcome>> = {
  'reversal-sent': 'reversed', 'reversal-pending': 'reversalPending', 'qr-voided': 'qrVoided', 'qr-pending': 'unknown',
  'settlement-resumed': 'completed', 'settlement-pending': 'notFinished',
};
/** The same in a notice row (16 cells) on the login screen: shown until someone logs in. */
const CUT_NOTICE: Readonly<Record<string, StringKey>> = {
  'reversal-sent': 'notice.cutReversed', 'reversal-pending': 'notice.cutReversalOwed', 'qr-voided': 'notice.cutQrVoided', 'qr-pending': 'notice.cutQrUnknown',
  'settlement-resumed': 'notice.cutSettled', 'settlement-pending': 'notice.cutSettleOpen',
};

/** The transaction the boot's notice is about, as the screens name it (a sale when nothing says). */
function noticeTransaction(v: MachineView): Transaction {
  const k = v.data.noticeTxn;
  return k === undefined ? 'sale' : k === 'qrSale' ? 'qr' : k;
}

const login: Builder = (v, ui, env) => {
  const e = v.data.error;
  const attemptsLeft = e?.code === 'E-OPR-02' && typeof e.detail.attemptsLeft === 'number' ? e.detail.attemptsLeft : undefined;
  return {
    name: 'login',
    data: { ...ui.login, ...(attemptsLeft !== undefined && ui.login.field === 'operator' && ui.login.operator === '' ? { attemptsLeft } : {}), ...(v.state.startsWith('recovery.') ? { mode: 'recovery' } : {}) },
    ...(!v.state.startsWith('recovery.') && attemptsLeft === undefined && loginNotice(v, env) ? { notice: loginNotice(v, env) } : {}),
    ...(env.bootNotice && attemptsLeft === undefined ? { notice: env.bootNotice } : {}),
    // Recovery refused a right password that is not an administrator's: say so, not just start over.
    ...(v.state.startsWith('recovery.') && v.data.notice === 'administrator-required' && attemptsLeft === undefined && ui.login.operator === '' ? { notice: rt('login.adminOnly') } : {}),
    // A merchant's administrator at the recovery menu: it is the service technician's.
    ...(v.state.startsWith('recovery.') && v.data.notice === 'service-required' && attemptsLeft === undefined && ui.login.operator === '' ? { notice: t('notice.serviceOnly') } : {}),
  };
};

/**
 * The login screen's notice outside recovery: what boot found first (stuck keys, the parts that
 * failed their self-test: the keypad is how anything is done), then what a power cut left (shown
 * until someone logs in), the card reader's fault (the first sale would meet it), old records to
 * export (the least urgent).
 */
function loginNotice(v: MachineView, env: Env): Txt | undefined {
  const cut = CUT_NOTICE[v.data.notice ?? ''];
  return env.bootNotice ?? (cut !== undefined ? t(cut) : undefined) ?? env.readerNotice ?? env.archiveNotice;
}

const idle: Builder = (v, _ui, env) => ({
  name: 'idle',
  data: { merchantName: idleTitle(v, env), nowMs: env.nowMs, ...(env.tzOffsetMinutes !== undefined ? { tzOffsetMinutes: env.tzOffsetMinutes } : {}), status: { ...env.status, host: v.data.signedOn ? 'online' : 'offline' } },
  ...(idleNotice(v, env) ? { notice: idleNotice(v, env) } : {}),
});

/**
 * The acquirer's name for the merchant (as the receipts print it) once downloaded, the same in
 * either language: it is a name; characters the LCD's subset lacks come from GB2312's glyph file
 * (ui-lcd/font/glyph-file.ts). A character display shows it only when it is printable ASCII.
 */
function idleTitle(v: MachineView, env: Env): Txt {
  const name = v.data.merchantName;
  if (name === undefined || name.trim() === '') return env.merchantName;
  return env.asciiOnly && !/^[\x20-\x7e]+$/.test(name) ? env.merchantName : name;
}

/**
 * Storage first (selling may stop), then what boot found, a selling lock, the card reader's fault
 * (after the lock: no sale is taken while it holds, reader or not; before the anomalies and the
 * archives: the next card sale meets it), the batch's anomalies, old records to export.
 */
function idleNotice(v: MachineView, env: Env): Txt | undefined {
  return env.storageNotice ?? env.bootNotice ?? (v.data.sellingLocked ? errorNotice(ERRORS.MGT_SELLING_LOCKED) : undefined) ?? env.readerNotice ?? anomalyNotice(v) ?? env.archiveNotice;
}

/**
 * An error as an idle or login notice: its code, cause and first step, shown in turns where its
 * row cannot hold it whole (ui-lcd/layout.ts noticeParts), as no display's one row can: cut at a
 * word, a 16-cell row read "E-RDR-03 Card", "E-STO-02 Storage" or "Selling locked" and lost the
 * rest. The card reader's, storage's, the archives', the self-test's and the keypad's
 * (boot/terminal-app.ts) and the selling lock's notices are given this way. `cause` replaces the
 * error's own where the notice knows more than the list does: which keys are stuck, which part
 * failed its self-test.
 */
export function errorNotice(d: ErrorDef, cause: LocalText = { en: d.en.cause, zh: d.zh.cause }): Txt {
  const step = { en: d.en.steps[0] ?? '', zh: d.zh.steps[0] ?? '' };
  const whole = { en: `${d.code} ${cause.en}: ${step.en}`, zh: `${d.code} ${cause.zh}：${step.zh}` };
  return { whole, turns: [d.code, cause, step] };
}

/**
 * A supervisor at idle sees that the batch raised anomaly flags (the day report lists them): how
 * many, and the rules' codes. The codes are one word joined by '+' (runtime/anomaly.ts
 * anomalyCodes, for logs and the report), up to six of them, wider than any row: cut there, the
 * row read "! 2 anomalies:" and no code at all. Spaced, they are words the row breaks between, and
 * the notice is read in turns where it does not fit (no error code: a flag is a hint, not a fault,
 * so no cause and step either).
 */
function anomalyNotice(v: MachineView): Txt | undefined {
  const a = v.data.anomalies;
  if (!a) return undefined;
  const codes = a.codes.split('+').join(' ');
  const text = a.count === 1 ? t('notice.anomaly', { codes }) : t('notice.anomalies', { n: a.count, codes });
  return { whole: text, turns: [text] };
}

const presentCard: Builder = (v) => ({
  name: 'presentCard',
  // A transaction that gave up on the stripe (too many unreadable swipes) asks for the chip or a tap only.
  data: { transaction: txnOf(v), ...(v.data.amountFen > 0 ? { amountFen: v.data.amountFen } : {}), methods: v.data.cardSources ?? ['swipe', 'insert', 'tap'], keyed: keyedOffered(v) },
});
/** Keyed entry is offered for a sale or refund where the configuration allows it (never a balance: it needs a PIN). */
export const keyedOffered = (v: MachineView): boolean => v.data.keyedAllowed === true && (v.data.flow === 'sale' || v.data.flow === 'refund' || v.data.flow === 'preAuth' || v.data.flow === 'preAuthVoid' || v.data.flow === 'completion');
/** The card screen, or keyed entry over it. */
const cardScreen: Builder = (v, ui, env) => (ui.keyed && keyedOffered(v)
  ? { name: 'keyedCard', data: { stage: ui.keyed.stage, digits: ui.keyed.digits, pan: ui.keyed.pan, transaction: txnOf(v), ...(v.data.amountFen > 0 ? { amountFen: v.data.amountFen } : {}), refused: ui.keyed.refused } }
  : presentCard(v, ui, env));
const passwordScreen = (mode: 'change' | 'reset' | 'add', working = false): Builder => (_v, ui) => ({
  name: 'password',
  data: {
    mode, stage: ui.secret.stage, length: ui.secret.length, working, ...(mode !== 'change' && ui.operatorNumber ? { operator: ui.operatorNumber } : {}),
    ...(mode === 'add' && ui.operatorRole ? { role: ui.operatorRole } : {}),
  },
});
/** The operators as the list shows them: numbers as typed at login (2 digits). */
const operatorEntries = (v: MachineView) => (v.data.operators ?? []).map((o) => ({ operator: o.number.slice(-2), role: o.role, locked: o.locked }));
/** The screen of what is being typed or chosen in operator management (boot/input.ts keeps the stage). */
const operatorsChoose: Builder = (v, ui) => {
  const action = ui.operatorAction;
  if (ui.operatorStage === 'number') return { name: 'operatorNumber', data: { action: action === 'mine' || action === undefined ? 'reset' : action, ...ui.digits } };
  if (ui.operatorStage === 'role') return { name: 'operatorRole', data: { operator: ui.operatorNumber ?? '', selected: ui.selected } };
  if (ui.operatorStage === 'password') return passwordScreen(action === 'mine' ? 'change' : action === 'add' ? 'add' : 'reset')(v, ui, undefined as never);
  if (ui.operatorStage === 'list') return { name: 'operatorList', data: { entries: operatorEntries(v) } };
  if (ui.operatorStage === 'confirm') {
    const role = operatorEntries(v).find((e) => e.operator === ui.operatorNumber)?.role ?? 'cashier';
    return { name: 'operatorConfirm', data: { operator: ui.operatorNumber ?? '', role } };
  }
  return { name: 'operators', data: { selected: ui.selected } };
};
const operatorDone: Builder = (v) => ({ name: 'operatorDone', data: { action: v.data.operatorChange?.action ?? 'changed', operator: (v.data.operatorChange?.operator ?? '').slice(-2) } });
const refundDetails: Builder = (_v, ui) => {
  const fromJournal = ui.refundFromJournal;
  switch (ui.refundStage) {
    case 'trace': return { name: 'refundTrace', data: { ...ui.digits } };
    case 'reference': return { name: 'refundReference', data: { ...ui.digits, fromJournal } };
    case 'date': return { name: 'refundDate', data: { ...ui.digits, fromJournal } };
    default: return { name: 'refundAmount', data: { ...ui.amount } };
  }
};
const processing: Builder = (v) => ({ name: 'processing', data: { transaction: txnOf(v), step: 'sending' } });
const printing = (copy: ScreenData['printing']['copy']): Builder => () => ({ name: 'printing', data: { copy } });
const customerCopy: Builder = (_v, ui) => ({ name: 'customerCopy', data: { selected: ui.selected } });
const pin: Builder = (v, ui) => ({ name: 'pin', data: { pinLength: ui.pinLength, ...(v.data.amountFen > 0 ? { amountFen: v.data.amountFen } : {}), ...(v.data.panMasked ? { pan: v.data.panMasked } : {}) } });
const supervisor: Builder = (v, ui, env) => {
  const c = login(v, ui, { ...env, bootNotice: undefined, archiveNotice: undefined, readerNotice: undefined });
  return { ...c, data: { ...c.data, mode: 'supervisor' } };
};

/** Result of a sale, void or refund: approved, declined, or the error (shown by the error rule). */
const result: Builder = (v) => {
  const r = v.data.result;
  if (r?.outcome === 'declined' && r.responseCode) return { name: 'declined', data: { transaction: txnOf(v), responseCode: r.responseCode } };
  return { name: 'approved', data: { transaction: txnOf(v), amountFen: r?.txn?.amountFen, authCode: r?.txn?.authCode, trace: r?.stan !== undefined ? pad6(r.stan) : undefined, ...(r?.txn?.offline ? { offline: true } : {}), ...(r?.txn?.link ? { link: r.txn.link } : {}) } };
};

/** On the pad (while it captures) or on the receipt. */
const signatureScreen = (env: Env): ScreenChoice => ({ name: 'signature', data: env.signaturePad ? { pad: true, strokes: env.signaturePad.strokes } : {} });

const afterApproval = (copy: 'merchant' | 'customer'): Builder => printing(copy);

const settlementResult: Builder = (v) => {
  const s = v.data.settlement;
  return {
    name: 'settlementResult',
    data: s ? { balanced: s.verdict === 'balanced', batch: pad6(s.batch), saleCount: s.totals.saleCount, saleFen: s.totals.saleAmountFen, refundCount: s.totals.refundCount, refundFen: s.totals.refundAmountFen } : {},
  };
};

/** The totals about to be sent, as the 0500's field 48 will carry them. */
const settlementConfirm: Builder = (v) => {
  const s = v.data.settlementTotals;
  return {
    name: 'settlementConfirm',
    data: s ? { saleCount: s.saleCount, saleFen: s.saleAmountFen, refundCount: s.refundCount, refundFen: s.refundAmountFen } : {},
  };
};

/** The hold of a pre-authorization void or completion: trace number, or its keyed details. */
const preAuthOriginalScreen: Builder = (v, ui) => ({
  name: 'preAuthOriginal', data: { transaction: txnOf(v), stage: ui.preAuthStage ?? 'trace', digits: ui.digits.digits, amountFen: ui.amount.amountFen, refused: ui.preAuthStage === 'amount' ? ui.amount.refused : ui.digits.refused },
});
const txnAmountScreen: Builder = (v, ui) => ({
  name: 'txnAmount', data: { transaction: txnOf(v), ...ui.amount, ...(v.data.preAuthHold ? { maxFen: v.data.preAuthHold.completionFenMax } : {}) },
});
const holdConfirm: Builder = (v) => ({
  name: 'voidConfirm',
  data: v.data.flow === 'completionVoid'
    ? { transaction: 'completionVoid', trace: pad6(v.data.voidTarget?.stan), amountFen: v.data.voidTarget?.amountFen ?? 0, pan: v.data.voidTarget?.panMasked }
    : { transaction: 'preAuthVoid', trace: pad6(v.data.preAuthHold?.stan), amountFen: v.data.preAuthHold?.amountFen ?? 0, pan: v.data.preAuthHold?.panMasked },
});

/** 被扫: the scanner waits, or the code is keyed (FUNC). */
const qrScanScreen: Builder = (v, ui) => ({
  name: 'qrScan', data: { amountFen: v.data.amountFen, ...(ui.qrKeyed ? { keyed: true, digits: ui.qrKeyed.digits, refused: ui.qrKeyed.refused } : {}) },
});
/** The QR wait: the countdown, and 主扫 the order's code (or that it was printed). */
const qrWaitScreen: Builder = (v) => {
  const q = v.data.qr;
  const secondsLeft = Math.ceil((q?.msLeft ?? QR_WAIT_MS_MAX) / 1000);
  return { name: 'qrWait', data: { transaction: 'qr', amountFen: v.data.amountFen, secondsLeft, ...(q?.content !== undefined ? { content: q.content, printed: q.printed === true } : {}) } };
};

/** Errors that mean the host was not reached: the failure screen says "Host down", else "Sign-on failed". */
const NOT_REACHED_KINDS: ReadonlySet<string> = new Set(['network-down', 'host-unreachable', 'timeout']);

/**
 * The sign-on failure screen: why, in the error's own words and first step (a key problem is not
 * a network one: a merchant must not restart the router for it), the host's answer code explained,
 * and a reversal only when one is owed.
 */
const hostUnreachable: Builder = (v, _ui, env) => {
  const e = v.data.error;
  const code = e?.code;
  const reason = code === 'E-NET-05' ? 'refused' : code === 'E-NET-06' || code === 'E-HOST-01' ? 'timeout' : 'no-answer';
  const network = e === undefined || NOT_REACHED_KINDS.has(e.kind);
  const responseCode = typeof e?.detail.responseCode === 'string' ? e.detail.responseCode : undefined;
  const said = responseCode === undefined ? undefined : explainResponseCode(responseCode);
  const echo = v.data.echo;
  const echoData = echo === undefined ? {} : 'errorCode' in echo ? { echo: { ok: false, code: echo.errorCode } } : { echo: { ok: echo.responseCode === '00', code: echo.responseCode, roundTripMs: echo.roundTripMs } };
  return {
    name: 'hostUnreachable',
    data: {
      reason, network,
      ...(e ? { cause: { en: e.en.cause, zh: e.zh.cause } } : {}),
      ...(e && e.en.steps.length > 0 ? { step: { en: e.en.steps[0], zh: e.zh.steps[0] } } : {}),
      ...(said ? { hostCode: { en: `${said.code} ${said.en}`, zh: `${said.code} ${said.zh}` } } : {}),
      reversalKept: v.data.reversalPending,
      ...echoData, ...(env.modem ? { modem: env.modem } : {}), ...(env.wifi ? { wifi: env.wifi } : {}),
    },
    ...(code ? { notice: code } : {}),
  };
};

/** The menu's reason is why recovery opened (kept by the machine), never the login's last wrong password. */
const recoveryMenu: Builder = (v, ui) => ({ name: 'recovery', data: { selected: ui.selected, ...recoveryReasonData(v) }, ...(v.data.exportedTo ? { notice: EXPORTED_NOTICE } : {}) });
/** After an export: a notice row holds 16 cells, the file's full path does not fit (the log names it). */
const EXPORTED_NOTICE = rt('export.notice');
export function recoveryReasonData(v: MachineView): { resetHeld?: boolean; reasonCode?: string } {
  const r = v.data.recoveryReason;
  if (!r) return {};
  return 'resetHeld' in r ? { resetHeld: true } : { reasonCode: r.code };
}

const lowBattery = (critical: boolean): Builder => (_v, _ui, env) => ({
  name: 'lowBattery', data: { percent: env.status.batteryPercent ?? (critical ? 0 : 10), charging: env.status.charging === true, critical },
});

/** Every leaf state of the machine. Compound states never show: the snapshot is always at a leaf. */
export const STATE_SCREENS: Readonly<Record<string, Builder>> = {
  boot,
  'recovery.locked': login,
  'recovery.authenticating': login,
  'recovery.menu': recoveryMenu,
  'recovery.exporting': recoveryMenu,
  pendingWork: pending,
  offerReprint: (v) => ({ name: 'restored', data: { transaction: noticeTransaction(v), outcome: RESTORED_OUTCOME[v.data.notice ?? ''] ?? 'completed' } }),
  printingPending: printing('duplicate'),
  offerCustomerCopy: (v) => {
    const offer = v.data.customerOffer ?? [];
    return { name: 'customerCopyOffer', data: { trace: pad6(offer[0]), ...(offer.length > 1 ? { more: offer.length - 1 } : {}) } };
  },
  printingCustomerOffer: printing('customer'),
  login,
  authenticating: login,
  signOn: () => ({ name: 'signOn', data: { attempt: 1, attemptMax: 1 } }),
  hostUnreachable,
  echoTest: (v, ui, env) => { const s = hostUnreachable(v, ui, env); return { ...s, data: { ...(s.data as ScreenData['hostUnreachable']), echo: { running: true } } }; },
  idle,
  lowBattery: lowBattery(false),
  shutdown: lowBattery(true),
  off: lowBattery(true),

  'sale.amount': (_v, ui) => ({ name: 'saleAmount', data: { ...ui.amount } }),
  'sale.checkAmount': (v) => ({ name: 'saleAmount', data: { amountFen: v.data.amountFen } }),
  // A screen of its own: the amount entry again would look as if the amount had not been taken.
  'sale.confirm': (v) => ({ name: 'amountConfirm', data: { transaction: 'sale', amountFen: v.data.amountFen } }),
  'sale.card': cardScreen,
  'sale.cardError': presentCard,
  'sale.checkDuplicate': presentCard,
  'sale.duplicateWarning': (v) => ({ name: 'duplicateWarning', data: { amountFen: v.data.duplicate?.amountFen ?? v.data.amountFen, trace: pad6(v.data.duplicate?.stan), pan: v.data.duplicate?.panMasked } }),
  'sale.pin': pin,
  'sale.online': processing,
  'sale.printMerchant': afterApproval('merchant'),
  'sale.askCustomerCopy': customerCopy,
  'sale.printCustomer': afterApproval('customer'),
  'sale.signature': (_v, _ui, env) => signatureScreen(env),
  'sale.savingSignature': (_v, _ui, env) => signatureScreen(env),
  'sale.result': result,

  'void.authorize.check': supervisor,
  'void.authorize.ask': supervisor,
  'void.authorize.checking': supervisor,
  'void.trace': (_v, ui) => ({ name: 'voidTrace', data: { ...ui.digits } }),
  'void.confirm': (v) => ({ name: 'voidConfirm', data: { trace: pad6(v.data.voidTarget?.stan), amountFen: v.data.voidTarget?.amountFen ?? 0, pan: v.data.voidTarget?.panMasked } }),
  'void.online': processing,
  'void.printMerchant': afterApproval('merchant'),
  'void.askCustomerCopy': customerCopy,
  'void.printCustomer': afterApproval('customer'),
  'void.result': result,

  'refund.authorize.check': supervisor,
  'refund.authorize.ask': supervisor,
  'refund.authorize.checking': supervisor,
  'refund.details': refundDetails,
  'refund.card': cardScreen,
  'refund.cardError': presentCard,
  'refund.online': processing,
  'refund.printMerchant': afterApproval('merchant'),
  'refund.askCustomerCopy': customerCopy,
  'refund.printCustomer': afterApproval('customer'),
  'refund.result': result,

  'preAuth.amount': txnAmountScreen,
  'preAuth.card': cardScreen,
  'preAuth.cardError': presentCard,
  'preAuth.pin': pin,
  'preAuth.online': processing,
  'preAuth.printMerchant': afterApproval('merchant'),
  'preAuth.askCustomerCopy': customerCopy,
  'preAuth.printCustomer': afterApproval('customer'),
  'preAuth.result': result,

  'preAuthVoid.authorize.check': supervisor,
  'preAuthVoid.authorize.ask': supervisor,
  'preAuthVoid.authorize.checking': supervisor,
  'preAuthVoid.original': preAuthOriginalScreen,
  'preAuthVoid.confirm': holdConfirm,
  'preAuthVoid.card': cardScreen,
  'preAuthVoid.cardError': presentCard,
  'preAuthVoid.online': processing,
  'preAuthVoid.printMerchant': afterApproval('merchant'),
  'preAuthVoid.askCustomerCopy': customerCopy,
  'preAuthVoid.printCustomer': afterApproval('customer'),
  'preAuthVoid.result': result,

  'completion.original': preAuthOriginalScreen,
  'completion.card': cardScreen,
  'completion.cardError': presentCard,
  'completion.amount': txnAmountScreen,
  'completion.online': processing,
  'completion.printMerchant': afterApproval('merchant'),
  'completion.askCustomerCopy': customerCopy,
  'completion.printCustomer': afterApproval('customer'),
  'completion.result': result,

  'completionVoid.authorize.check': supervisor,
  'completionVoid.authorize.ask': supervisor,
  'completionVoid.authorize.checking': supervisor,
  'completionVoid.trace': (_v, ui) => ({ name: 'preAuthOriginal', data: { transaction: 'completionVoid', stage: 'trace', digits: ui.digits.digits, amountFen: 0, refused: ui.digits.refused } }),
  'completionVoid.confirm': holdConfirm,
  'completionVoid.online': processing,
  'completionVoid.printMerchant': afterApproval('merchant'),
  'completionVoid.askCustomerCopy': customerCopy,
  'completionVoid.printCustomer': afterApproval('customer'),
  'completionVoid.result': result,

  'qr.amount': (v, ui) => ({ name: 'txnAmount', data: { transaction: 'qr', ...ui.amount } }),
  'qr.mode': (v, ui) => ({ name: 'qrMode', data: { selected: ui.selected, amountFen: v.data.amountFen } }),
  'qr.scan': qrScanScreen,
  'qr.scanError': qrScanScreen,
  'qr.waiting': qrWaitScreen,
  'qr.printMerchant': afterApproval('merchant'),
  'qr.askCustomerCopy': customerCopy,
  'qr.printCustomer': afterApproval('customer'),
  'qr.result': result,

  'qrVoid.authorize.check': supervisor,
  'qrVoid.authorize.ask': supervisor,
  'qrVoid.authorize.checking': supervisor,
  'qrVoid.trace': (_v, ui) => ({ name: 'voidTrace', data: { ...ui.digits } }),
  'qrVoid.confirm': (v) => ({ name: 'voidConfirm', data: { transaction: 'qrVoid', trace: pad6(v.data.voidTarget?.stan), amountFen: v.data.voidTarget?.amountFen ?? 0 } }),
  'qrVoid.online': processing,
  'qrVoid.printMerchant': afterApproval('merchant'),
  'qrVoid.askCustomerCopy': customerCopy,
  'qrVoid.printCustomer': afterApproval('customer'),
  'qrVoid.result': result,

  'qrRefund.authorize.check': supervisor,
  'qrRefund.authorize.ask': supervisor,
  'qrRefund.authorize.checking': supervisor,
  'qrRefund.trace': (_v, ui) => ({ name: 'preAuthOriginal', data: { transaction: 'qrRefund', stage: 'trace', digits: ui.digits.digits, amountFen: 0, refused: ui.digits.refused } }),
  'qrRefund.amount': (v, ui) => ({ name: 'txnAmount', data: { transaction: 'qrRefund', ...ui.amount, ...(v.data.voidTarget ? { maxFen: v.data.voidTarget.amountFen } : {}) } }),
  'qrRefund.online': processing,
  'qrRefund.printMerchant': afterApproval('merchant'),
  'qrRefund.askCustomerCopy': customerCopy,
  'qrRefund.printCustomer': afterApproval('customer'),
  'qrRefund.result': result,

  'balance.card': presentCard,
  'balance.cardError': presentCard,
  'balance.pin': pin,
  'balance.online': processing,
  'balance.result': (v) => ({ name: 'balanceResult', data: { balanceFen: v.data.balanceFen ?? 0 } }),

  'reprint.choose': (_v, ui) => (ui.reprintByTrace ? { name: 'reprintTrace', data: { ...ui.digits } } : { name: 'reprint', data: { selected: ui.selected } }),
  'reprint.copy': (v, ui) => {
    const r = v.data.reprint;
    return { name: 'reprintCopy', data: { selected: ui.selected, ...(r ? { trace: pad6(r.stan), batch: pad6(r.batch), settled: r.settled, customerPrinted: r.customerPrinted } : {}) } };
  },
  // A duplicate only when the slip will say so (printed before); a first print is the copy itself.
  'reprint.printing': (v) => ({ name: 'printing', data: { copy: v.data.reprint?.marked === false ? v.data.reprint.copy ?? 'merchant' : 'duplicate' } }),
  'reprint.printingReport': printing('report'),

  'settlement.authorize.check': supervisor,
  'settlement.authorize.ask': supervisor,
  'settlement.authorize.checking': supervisor,
  'settlement.confirm': settlementConfirm,
  'settlement.settling': () => ({ name: 'settlement', data: { step: 'upload', stepIndex: 1, stepCount: 4 } }),
  'settlement.printingReport': printing('report'),
  'hostTask.running': (v) => ({ name: 'hostTask', data: { task: v.data.hostTask?.task ?? 'echo', state: 'running' } }),
  'hostTask.done': (v) => {
    const h = v.data.hostTask;
    const state = h?.errorCode !== undefined ? 'failed' : h?.responseCode === '00' ? 'ok' : 'refused';
    return { name: 'hostTask', data: { task: h?.task ?? 'echo', state, code: h?.errorCode ?? h?.responseCode, ...(h?.roundTripMs !== undefined ? { roundTripMs: h.roundTripMs } : {}) } };
  },
  'settlement.offlinePending': (v, ui) => ({ name: 'offlinePending', data: { count: v.data.offlinePending ?? 0, selected: ui.selected, ...(v.data.offlineUnknown ? { unknown: v.data.offlineUnknown } : {}) } }),
  'settlement.givingUp': printing('report'),
  'settlement.result': settlementResult,

  'password.entry': passwordScreen('change'),
  'password.changing': passwordScreen('change', true),
  'password.done': operatorDone,
  'operators.authorize.check': supervisor,
  'operators.authorize.ask': supervisor,
  'operators.authorize.checking': supervisor,
  'operators.choose': operatorsChoose,
  'operators.resetting': passwordScreen('reset', true),
  'operators.adding': passwordScreen('add', true),
  'operators.changingMine': passwordScreen('change', true),
  'operators.deleting': (v, ui) => ({ name: 'operatorConfirm', data: { operator: ui.operatorNumber ?? '', role: operatorEntries(v).find((e) => e.operator === ui.operatorNumber)?.role ?? 'cashier' } }),
  'operators.unlocking': (_v, ui) => ({ name: 'operatorNumber', data: { action: 'unlock', digits: ui.operatorNumber ?? '' } }),
  'operators.done': operatorDone,

  signOff: () => ({ name: 'signOff', data: { done: false } }),
  // The copy that actually waits (a customer copy when that is what ran out), not always "merchant".
  paperOut: (v) => ({ name: 'paperOut', data: { copy: v.data.waitingCopy, ...(v.data.eReceiptUrl ? { eReceipt: v.data.eReceiptUrl } : {}), ...(v.data.error?.code ? { code: v.data.error.code } : {}) } }),
  reprintPending: printing('duplicate'),
  storageFailure: (v, ui) => ({ name: 'storageFailure', data: { code: v.data.error?.code ?? 'E-STO-03', selected: ui.selected }, ...(v.data.exportedTo ? { notice: EXPORTED_NOTICE } : {}) }),
  exporting: (v, ui) => ({ name: 'storageFailure', data: { code: v.data.error?.code ?? 'E-STO-03', selected: ui.selected } }),
  storageCheck: (v, ui) => ({ name: 'storageFailure', data: { code: v.data.error?.code ?? 'E-STO-03', selected: ui.selected } }),
};

/** States whose own screen is about their error: the error rule does not cover them. */
const SHOWS_ITS_ERROR = new Set(['settlement.offlinePending', 'hostUnreachable', 'paperOut', 'reprintPending', 'storageFailure', 'exporting', 'storageCheck', 'recovery.menu', 'recovery.exporting']);

/**
 * A TLS failure (E-NET-18..27: a certificate expired, untrusted, refused...) is not fixed by
 * retrying or by the echo test the sign-on failure screen offers: its own error screen (cause and
 * steps, paged) comes first there, and OK goes on to the sign-on failure screen.
 */
const TLS_CODES: ReadonlySet<string> = new Set(Object.entries(ERRORS).filter(([id]) => id.startsWith('NET_TLS_')).map(([, d]) => d.code));

/** The wrong-password error is a notice on the login screen, not a screen of its own. */
function isLoginNotice(path: string, e: ErrorView): boolean {
  return e.code === 'E-OPR-02' && (path === 'login' || path === 'recovery.locked' || path.endsWith('.authorize.ask'));
}

/** The error the operator must see first in this state, if any. */
export function pendingError(v: MachineView, ui: UiState): ErrorView | undefined {
  const e = v.data.error;
  if (!e || ui.acknowledged.has(e) || isLoginNotice(v.state, e)) return undefined;
  if (SHOWS_ITS_ERROR.has(v.state) && !(v.state === 'hostUnreachable' && TLS_CODES.has(e.code))) return undefined;
  // While work is under way the error belongs to the previous step; the state's screen shows progress.
  if (/(online|authenticating|checking|printing\w*|settling|signOn|pendingWork|changing|resetting|unlocking)$/.test(v.state)) return undefined;
  return e;
}

/** A sale that failed because the host or network did not answer: OK tries it again (machine RETRY). */
export function retryOffered(v: MachineView): boolean {
  return v.state === 'sale.result' && v.data.error !== undefined && RETRYABLE_KINDS.includes(v.data.error.kind);
}

/**
 * What the error screen adds from the state now, not from the error's fixed text: a failed
 * transaction's reversal (still owed: kept and sent before the next transaction; cleared by the
 * host: the customer was not charged), and the settled batch a trace number belongs to.
 */
export function errorDetails(v: MachineView, e: ErrorView): Txt[] {
  const out: Txt[] = [];
  if (v.data.resultReversal === 'owed') out.push(t('msg.reversalOwed'));
  if (v.data.resultReversal === 'cleared') out.push(t('msg.reversedNotCharged'));
  if (typeof e.detail.settledBatch === 'number') out.push(t('msg.settledBatch', { batch: pad6(e.detail.settledBatch) }));
  return out;
}

/** The screen for a machine view plus what the controller holds. */
export function chooseScreen(v: MachineView, ui: UiState, env: Env): ScreenChoice {
  if (ui.local && v.state === 'idle') return { name: ui.local.name, data: ui.local.data };
  const e = pendingError(v, ui);
  if (e) {
    const details = errorDetails(v, e);
    return { name: 'error', data: { code: e.code, page: ui.page, ...(details.length > 0 ? { details } : {}), ...(retryOffered(v) ? { retry: true } : {}) } };
  }
  const builder = STATE_SCREENS[v.state];
  // A state this table does not know shows the internal-error screen naming it (screenFor does that).
  if (!builder) return { name: 'error', data: { code: 'E-SYS-99', page: 0, details: [`state ${v.state}`] } };
  return builder(v, ui, env);
}

/**
 * Screen builders for the terminal's states. Each takes plain data (what the state machine's
 * snapshot holds) and returns a `Screen`; `screenFor(stateName, data)` maps a state name onto its
 * builder, filling defaults for anything missing, so any snapshot can be shown.
 *
 * State names (match these in runtime/; the data type of each is `ScreenData[name]`):
 *
 *   boot             { step: 'self-test'|'journal'|'pending'|'network'|'ready', stepIndex, stepCount }
 *   recovery         { selected, reasonCode?, resetHeld? }               menu: verify, export, restore, salvage, factory reset, diagnostics, restart, pending work, system
 *   restored         { transaction, outcome: RestoredOutcome }   after a power loss
 *   login            { field: 'operator'|'password', operator, passwordLength, attemptsLeft?, mode? ('recovery': the administrator's) }
 *   signOn           { attempt, attemptMax }
 *   idle             { merchantName, nowMs, tzOffsetMinutes (default +480), status }
 *   mainMenu         { selected, status? }                     sale, void, refund, balance, reprint, settlement, sign-off, diagnostics, settings
 *   saleAmount       { amountFen, refused?: 'max'|'zero', amountFenMax }
 *   refundAmount     { amountFen, refused?, amountFenMax }
 *   refundTrace      { digits, refused? }                      original trace no. (from this terminal's journal), or OK alone to key in the reference no.
 *   refundReference  { digits, fromJournal? }
 *   refundDate       { digits, refused?, fromJournal? }        original date MMDD
 *   presentCard      { transaction, amountFen?, methods: ('swipe'|'insert'|'tap')[], keyed? }   keyed: footer "FUNC=key in card"
 *   keyedCard        { stage: 'pan'|'expiry', digits, pan?, amountFen?, refused? }   digits shown as keyed; the PAN masked once accepted
 *   password         { mode: 'change'|'reset'|'add', stage: 'old'|'new'|'repeat', length, operator?, role?, working? }
 *   operators        { selected }                              add, delete, list, reset a password, unlock, my password
 *   operatorNumber   { action: 'reset'|'unlock'|'add'|'delete', digits, refused? }   refused: 'in-use', 'range', 'unknown' name their E-OPR code
 *   operatorRole     { operator, selected }                    the new operator's role: cashier, supervisor, administrator
 *   operatorConfirm  { operator, role }                        delete this operator? OK / CANCEL
 *   operatorList     { entries: { operator, role, locked }[] }  every operator by number (UP/DOWN pages)
 *   operatorDone     { action: 'changed'|'reset'|'unlocked'|'added'|'deleted', operator }
 *   pin              { amountFen?, pan?, pinLength }           PAN shown masked 6/4 whatever is passed
 *   processing       { transaction, step?: 'connecting'|'sending'|'receiving' }
 *   approved         { transaction, amountFen?, authCode?, trace?, offline?, link? }
 *   declined         { transaction, responseCode }             the code explained (response-codes.ts)
 *   printing         { copy: 'merchant'|'customer'|'report'|'duplicate' }
 *   customerCopy     { selected }                              "print customer copy?" yes/no
 *   signature        { pad?, strokes? }                       pad: signing on the board's pad (OK done, CLEAR redo, CANCEL = on paper); else sign the receipt
 *   duplicateWarning { amountFen, trace, pan? }                  the same card and amount approved moments ago: OK goes on, CANCEL stops
 *   voidTrace        { digits, refused? }
 *   txnAmount        { transaction, amountFen, refused?, amountFenMax, maxFen? }   amount of a pre-auth or completion (maxFen: 115% ceiling)
 *   preAuthOriginal  { transaction, stage: 'trace'|'authCode'|'date'|'amount', digits, amountFen, refused? }   the hold: trace no., or OK alone to key it
 *   preAuthMenu      { selected }                             pre-auth, its void, completion, completion void
 *   hostTask         { task: 'params'|'status'|'echo', state: 'running'|'ok'|'refused'|'failed', code?, roundTripMs? }   settings 4-6
 *   offlinePending   { count, selected, unknown? }             settlement refused: offline sales not sent (unknown: sent with no answer, the host may have them); 1 send again, 2 give up (prints a list)
 *   voidConfirm      { trace, amountFen, pan? }
 *   amountConfirm    { transaction, amountFen }                a large amount (over the configured limit): OK goes on to the card, CANCEL stops
 *   balanceResult    { balanceFen }
 *   reprint          { selected }                              last receipt / by trace number
 *   reprintTrace     { digits, refused? }
 *   reprintCopy      { selected, trace?, batch?, settled?, customerPrinted? }   which copy to reprint: merchant / customer (a settled batch's named)
 *   customerCopyOffer { trace, more? }                        a customer copy never asked for (its merchant copy printed late): OK prints it, CANCEL not
 *   settlement       { step: 'totals'|'upload'|'closing'|'printing', stepIndex, stepCount }
 *   settlementConfirm { saleCount, saleFen, refundCount, refundFen }    the totals the 0500 will carry: OK sends, CANCEL backs out
 *   settlementResult { balanced, batch, saleCount, saleFen, refundCount, refundFen }
 *   signOff          { done }
 *   lowBattery       { percent, charging, critical }
 *   paperOut         { copy?, eReceipt?, code? }   a copy waits for the printer: paper out, or another printer error by its code
 *   storageFailure   { code, selected }                        export / diagnostics / retry offered
 *   hostUnreachable  { reason: 'refused'|'timeout'|'no-answer', network?, cause?, step?, hostCode?, reversalKept?, echo?: { running } | { ok, code, roundTripMs? }, modem?: ModemView, wifi?: WifiView }
 *   simPin           { digits, attemptsLeft?, refused?, checking? }   the SIM asks for its PIN (key 2 on the sign-on failure screen)
 *   diagnostics      { results: { check, state: 'ok'|'fail'|'running'|'pending', code? }[], selected }
 *   settings         { selected }
 *   language         { selected, current }
 *   factoryTest      { test: 'display'|'keypad'|'printer'|'reader', keysLeft? }
 *   error            { code, page, details? }                  any code of common/errors.ts
 */
import type { KeyName } from '../hal/keypad';
import { explainResponseCode } from '../runtime/host/response-codes';
import { linkName } from '../runtime/host/link-name';
import type { LocalText, Locale, MenuItem, Screen, StatusLine, Txt } from './screen';
import { StringKey, t, maskPan, formatYuan } from './strings';
import { numbered } from './widgets/menu';
import { errorScreen } from './error-screens';
import { AMOUNT_FEN_MAX_DEFAULT } from './widgets/amount-entry';
import { recoveryReasonText, rt } from './recovery-strings';
import { formatDateTime } from '../common/time';
import { errorByCode } from '../common/errors';

export type Transaction = 'sale' | 'void' | 'refund' | 'balance' | 'signOn' | 'settlement' | 'preAuth' | 'preAuthVoid' | 'completion' | 'completionVoid' | 'qr' | 'qrVoid' | 'qrRefund';
export type CardMethod = 'swipe' | 'insert' | 'tap';
/** What became of the transaction in flight at a power cut (the restored screen's second line). */
export type RestoredOutcome = 'reversed' | 'completed' | 'resumed' | 'reversalPending' | 'qrVoided' | 'unknown' | 'notFinished';
export type DiagCheck = 'battery' | 'storage' | 'printer' | 'reader' | 'keypad' | 'display' | 'network' | 'host' | 'log' | 'touch' | 'scanner';
export type Refused = 'max' | 'zero' | 'too-short' | 'pan-length' | 'luhn' | 'expiry' | 'expired' | 'date' | 'date-future' | 'date-old' | 'not-found'
  | 'in-use' | 'range' | 'unknown';
export type OperatorRole = 'cashier' | 'supervisor' | 'administrator';

export interface ScreenData {
  boot: { step: 'self-test' | 'journal' | 'pending' | 'network' | 'ready'; stepIndex: number; stepCount: number };
  recovery: { selected: number; reasonCode?: string; resetHeld?: boolean };
  restored: { transaction: Transaction; outcome: RestoredOutcome };
  login: { field: 'operator' | 'password'; operator: string; passwordLength: number; attemptsLeft?: number; refused?: Refused; mode?: 'recovery' | 'supervisor' };
  signOn: { attempt: number; attemptMax: number };
  idle: { merchantName: Txt; nowMs: number; tzOffsetMinutes: number; status: StatusLine };
  mainMenu: { selected: number; status?: StatusLine };
  saleAmount: { amountFen: number; refused?: Refused; amountFenMax: number };
  refundAmount: { amountFen: number; refused?: Refused; amountFenMax: number };
  refundTrace: { digits: string; refused?: Refused };
  refundReference: { digits: string; refused?: Refused; fromJournal?: boolean };
  refundDate: { digits: string; refused?: Refused; fromJournal?: boolean };
  presentCard: { transaction: Transaction; amountFen?: number; methods: readonly CardMethod[]; keyed?: boolean };
  keyedCard: { stage: 'pan' | 'expiry'; digits: string; pan?: string; amountFen?: number; transaction: Transaction; refused?: Refused };
  password: { mode: 'change' | 'reset' | 'add'; stage: 'old' | 'new' | 'repeat'; length: number; operator?: string; role?: OperatorRole; working?: boolean };
  operators: { selected: number };
  operatorNumber: { action: 'reset' | 'unlock' | 'add' | 'delete'; digits: string; refused?: Refused };
  operatorRole: { operator: string; selected: number };
  operatorConfirm: { operator: string; role: OperatorRole };
  operatorList: { entries: ReadonlyArray<{ operator: string; role: OperatorRole; locked: boolean }> };
  operatorDone: { action: 'changed' | 'reset' | 'unlocked' | 'added' | 'deleted'; operator: string };
  pin: { amountFen?: number; pan?: string; pinLength: number };
  processing: { transaction: Transaction; step?: 'connecting' | 'sending' | 'receiving' };
  approved: { transaction: Transaction; amountFen?: number; authCode?: string; trace?: string; offline?: boolean; link?: string };
  offlinePending: { count: number; selected: number; unknown?: number };
  hostTask: { task: 'params' | 'status' | 'echo'; state: 'running' | 'ok' | 'refused' | 'failed'; code?: string; roundTripMs?: number };
  declined: { transaction: Transaction; responseCode: string };
  printing: { copy: 'merchant' | 'customer' | 'report' | 'duplicate' };
  customerCopy: { selected: number };
  signature: { pad?: boolean; strokes?: number };
  duplicateWarning: { amountFen: number; trace: string; pan?: string };
  voidTrace: { digits: string; refused?: Refused };
  voidConfirm: { trace: string; amountFen: number; pan?: string; transaction?: Transaction };
  txnAmount: { transaction: Transaction; amountFen: number; refused?: Refused; amountFenMax: number; maxFen?: number };
  preAuthOriginal: { transaction: Transaction; stage: 'trace' | 'authCode' | 'date' | 'amount'; digits: string; amountFen: number; refused?: Refused };
  preAuthMenu: { selected: number };
  qrMenu: { selected: number };
  qrMode: { selected: number; amountFen: number };
  /** 被扫: the scanner waits for the customer's code, or the code is keyed (digits shown as keyed: it is on the customer's phone anyway). */
  qrScan: { amountFen: number; keyed?: boolean; digits?: string; refused?: Refused };
  /** The QR wait: amount, seconds left; 主扫 the order's content (drawn as a QR code) or that it was printed. */
  qrWait: { transaction: Transaction; amountFen: number; secondsLeft: number; content?: string; printed?: boolean };
  amountConfirm: { transaction: Transaction; amountFen: number };
  balanceResult: { balanceFen: number };
  reprint: { selected: number };
  reprintTrace: { digits: string; refused?: Refused };
  reprintCopy: { selected: number; trace?: string; batch?: string; settled?: boolean; customerPrinted?: boolean };
  customerCopyOffer: { trace: string; more?: number };
  settlement: { step: 'totals' | 'upload' | 'closing' | 'printing'; stepIndex: number; stepCount: number };
  settlementConfirm: { saleCount: number; saleFen: number; refundCount: number; refundFen: number };
  settlementResult: { balanced: boolean; batch: string; saleCount: number; saleFen: number; refundCount: number; refundFen: number };
  signOff: { done: boolean };
  lowBattery: { percent: number; charging: boolean; critical: boolean };
  /** eReceipt: the waiting slip's e-receipt link, shown as a QR code where the display can. */
  /** code: the printer's error (E-PRN-01 paper out when absent); another one is named with its steps, not "load paper". */
  paperOut: { copy?: 'merchant' | 'customer' | 'report' | 'duplicate'; eReceipt?: string; code?: string };
  storageFailure: { code: string; selected: number };
  /**
   * The sign-on failed (OK retries it, 1 runs the echo test). network: the host was not reached
   * (title "Host down"), else it answered and refused or could not be read ("Sign-on failed").
   * cause and step: the error's own, from the error list; hostCode: the host's 39 explained;
   * reversalKept: a reversal is still owed (sent after the sign-on).
   */
  hostUnreachable: {
    reason: 'refused' | 'timeout' | 'no-answer'; network?: boolean; cause?: LocalText; step?: LocalText; hostCode?: LocalText; reversalKept?: boolean;
    /** The echo test (key 1): running, or the host's answer (code 00 = the host is there) or the error that stopped it. */
    echo?: { running: true } | { ok: boolean; code: string; roundTripMs?: number };
    /** Boards with a 4G modem: its state when the sign-on failed, and the fault it means (first cause first). */
    modem?: ModemView;
    /** Boards with Wi-Fi: its state when the sign-on failed, and the fault it means. */
    wifi?: WifiView;
  };
  /** SIM PIN entry: how many digits typed (shown as *), attempts the SIM has left, the last refusal's code. */
  simPin: { digits: number; attemptsLeft?: number; refused?: string; checking?: boolean };
  diagnostics: { results: ReadonlyArray<{ check: DiagCheck; state: 'ok' | 'fail' | 'running' | 'pending'; code?: string; summary?: LocalText }>; selected: number };
  settings: { selected: number };
  language: { selected: number; current: Locale };
  factoryTest: { test: 'display' | 'keypad' | 'printer' | 'reader'; keysLeft?: readonly KeyName[] };
  error: { code: string; page: number; details?: readonly Txt[]; retry?: boolean };
}

export type StateName = keyof ScreenData;

/** Defaults: what a state shows when its snapshot lacks a field. Never a placeholder text. */
export const DEFAULTS: { readonly [K in StateName]: ScreenData[K] } = {
  boot: { step: 'self-test', stepIndex: 0, stepCount: 5 },
  recovery: { selected: 0 },
  restored: { transaction: 'sale', outcome: 'reversed' },
  login: { field: 'operator', operator: '', passwordLength: 0 },
  signOn: { attempt: 1, attemptMax: 3 },
  idle: { merchantName: t('title.sale'), nowMs: 0, tzOffsetMinutes: 480, status: {} },
  mainMenu: { selected: 0 },
  saleAmount: { amountFen: 0, amountFenMax: AMOUNT_FEN_MAX_DEFAULT },
  refundAmount: { amountFen: 0, amountFenMax: AMOUNT_FEN_MAX_DEFAULT },
  refundTrace: { digits: '' },
  refundReference: { digits: '' },
  refundDate: { digits: '' },
  presentCard: { transaction: 'sale', methods: ['swipe', 'insert', 'tap'] },
  keyedCard: { stage: 'pan', digits: '', transaction: 'sale' },
  password: { mode: 'change', stage: 'old', length: 0 },
  operators: { selected: 0 },
  operatorNumber: { action: 'reset', digits: '' },
  operatorRole: { operator: '', selected: 0 },
  operatorConfirm: { operator: '', role: 'cashier' },
  operatorList: { entries: [] },
  operatorDone: { action: 'changed', operator: '' },
  pin: { pinLength: 0 },
  processing: { transaction: 'sale' },
  approved: { transaction: 'sale' },
  declined: { transaction: 'sale', responseCode: '05' },
  printing: { copy: 'merchant' },
  customerCopy: { selected: 0 },
  signature: {},
  duplicateWarning: { amountFen: 0, trace: '000000' },
  voidTrace: { digits: '' },
  txnAmount: { transaction: 'preAuth', amountFen: 0, amountFenMax: AMOUNT_FEN_MAX_DEFAULT },
  preAuthOriginal: { transaction: 'completion', stage: 'trace', digits: '', amountFen: 0 },
  preAuthMenu: { selected: 0 },
  qrMenu: { selected: 0 },
  qrMode: { selected: 0, amountFen: 0 },
  qrScan: { amountFen: 0 },
  qrWait: { transaction: 'qr', amountFen: 0, secondsLeft: 60 },
  offlinePending: { count: 0, selected: 0 },
  hostTask: { task: 'echo', state: 'running' },
  voidConfirm: { trace: '000000', amountFen: 0 },
  amountConfirm: { transaction: 'sale', amountFen: 0 },
  balanceResult: { balanceFen: 0 },
  reprint: { selected: 0 },
  reprintTrace: { digits: '' },
  reprintCopy: { selected: 0 },
  customerCopyOffer: { trace: '000000' },
  settlement: { step: 'totals', stepIndex: 0, stepCount: 4 },
  settlementConfirm: { saleCount: 0, saleFen: 0, refundCount: 0, refundFen: 0 },
  settlementResult: { balanced: true, batch: '000001', saleCount: 0, saleFen: 0, refundCount: 0, refundFen: 0 },
  signOff: { done: false },
  lowBattery: { percent: 10, charging: false, critical: false },
  paperOut: {},
  storageFailure: { code: 'E-STO-03', selected: 0 },
  hostUnreachable: { reason: 'no-answer', network: true },
  simPin: { digits: 0 },
  diagnostics: { results: [], selected: 0 },
  settings: { selected: 0 },
  language: { selected: 0, current: 'zh-CN' },
  factoryTest: { test: 'display' },
  error: { code: 'E-SYS-99', page: 0 },
};

const TXN_TITLE: Readonly<Record<Transaction, StringKey>> = {
  sale: 'title.sale', void: 'title.void', refund: 'title.refund', balance: 'title.balance', signOn: 'title.signOn', settlement: 'title.settlement',
  preAuth: 'title.preAuth', preAuthVoid: 'title.preAuthVoid', completion: 'title.completion', completionVoid: 'title.completionVoid',
  qr: 'title.qr', qrVoid: 'title.qrVoid', qrRefund: 'title.qrRefund',
};
const TXN_NAME: Readonly<Record<Transaction, StringKey>> = {
  sale: 'txn.sale', void: 'txn.void', refund: 'txn.refund', balance: 'txn.balance', signOn: 'txn.signOn', settlement: 'txn.settlement',
  preAuth: 'txn.preAuth', preAuthVoid: 'txn.preAuthVoid', completion: 'txn.completion', completionVoid: 'txn.completionVoid',
  qr: 'txn.qr', qrVoid: 'txn.qrVoid', qrRefund: 'txn.qrRefund',
};

/** "Amount ¥12.34" / "金额 12.34元" / "Amount RMB 12.34": the amount is formatted per display. */
function amountLine(fen: number): Txt {
  return { parts: [t('label.amount'), ' ', amountText(fen)] };
}

function amountText(fen: number): Txt {
  return { amountFen: fen };
}

function refusedNotice(refused: Refused | undefined, amountFenMax?: number): Txt | undefined {
  if (refused === 'max' && amountFenMax !== undefined) return t('notice.amountMax', { max: formatYuan(amountFenMax) });
  if (refused === 'zero') return t('notice.amountZero');
  if (refused === 'too-short') return t('notice.tooShort');
  if (refused === 'max' || refused === undefined) return undefined;
  return t(REFUSED_KEY[refused]);
}

const REFUSED_KEY = {
  'pan-length': 'notice.panLength', luhn: 'notice.luhn', expiry: 'notice.expiry', expired: 'notice.expired', date: 'notice.date',
  'date-future': 'notice.dateFuture', 'date-old': 'notice.dateOld', 'not-found': 'notice.notFound',
  'in-use': 'notice.operatorInUse', range: 'notice.operatorRange', unknown: 'notice.operatorUnknown',
} as const satisfies Record<Exclude<Refused, 'max' | 'zero' | 'too-short'>, StringKey>;

function withNotice(screen: Screen, notice: Txt | undefined): Screen {
  return notice === undefined ? screen : { ...screen, notice };
}

function menuOf(keys: ReadonlyArray<[StringKey, string]>): MenuItem[] {
  return numbered(keys.map(([k, value]) => ({ label: t(k), value })));
}

// ---- builders

export const RECOVERY_ITEMS = menuOf([
  ['menu.verifyJournal', 'verify'], ['menu.exportJournal', 'export'], ['menu.restoreBackup', 'restore'], ['menu.salvage', 'salvage'],
  ['menu.factoryReset', 'factory-reset'], ['menu.diagnostics', 'diagnostics'], ['menu.restart', 'restart'],
  ['menu.pendingWork', 'pending'], ['menu.system', 'system'],
]);
/** Recovery submenus (boot/recovery-menu.ts). */
export const RECOVERY_RESTORE_ITEMS = menuOf([['menu.repair', 'repair'], ['menu.importBackup', 'import']]);
export const RECOVERY_PENDING_ITEMS = menuOf([['menu.resend', 'resend'], ['menu.lastReceipt', 'last-receipt'], ['menu.lastReport', 'last-report']]);
export const RECOVERY_SYSTEM_ITEMS = menuOf([
  ['menu.network', 'network'], ['menu.networkTest', 'network-test'], ['menu.version', 'version'], ['menu.applyUpdate', 'apply-update'], ['menu.powerOff', 'power-off'],
]);
export const NETWORK_MODE_ITEMS = menuOf([['menu.dhcp', 'dhcp'], ['menu.staticIp', 'static']]);
export const MAIN_MENU_ITEMS = menuOf([
  ['menu.sale', 'sale'], ['menu.void', 'void'], ['menu.refund', 'refund'], ['menu.balance', 'balance'], ['menu.reprint', 'reprint'],
  ['menu.settlement', 'settlement'], ['menu.signOff', 'sign-off'], ['menu.diagnostics', 'diagnostics'], ['menu.settings', 'settings'],
  ['menu.preAuthFamily', 'pre-auth'], ['menu.qrFamily', 'qr'],
]);
export const OFFLINE_PENDING_ITEMS = menuOf([['menu.sendAgain', 'retry'], ['menu.giveUp', 'give-up']]);
/** The pre-authorization family (main menu item 10): items a host without pre-authorization refuses with E-HOST-10. */
export const PRE_AUTH_ITEMS = menuOf([
  ['menu.preAuth', 'pre-auth'], ['menu.preAuthVoid', 'pre-auth-void'], ['menu.completion', 'completion'], ['menu.completionVoid', 'completion-void'],
]);
/** QR payments (main menu item 11): a payment, its void, its refund; a host without QR refuses them with E-HOST-10. */
export const QR_ITEMS = menuOf([['menu.qrSale', 'qr-sale'], ['menu.qrVoid', 'qr-void'], ['menu.qrRefund', 'qr-refund']]);
/** 被扫 (scan the customer's code) or 主扫 (show the terminal's). */
export const QR_MODE_ITEMS = menuOf([['menu.qrScan', 'scan'], ['menu.qrShow', 'show']]);
export const YES_NO_ITEMS = menuOf([['menu.yes', 'yes'], ['menu.no', 'no']]);
export const REPRINT_ITEMS = menuOf([['menu.lastReceipt', 'last'], ['menu.byTrace', 'trace']]);
/** The reprint menu's second step: which copy (a customer's slip jammed, torn or never printed). */
export const REPRINT_COPY_ITEMS = menuOf([['menu.merchantCopy', 'merchant'], ['menu.customerCopy', 'customer']]);
export const SETTINGS_ITEMS = menuOf([
  ['menu.language', 'language'], ['menu.password', 'password'], ['menu.operators', 'operators'],
  ['menu.hostParams', 'params'], ['menu.statusUpload', 'status'], ['menu.echoTest', 'echo'], ['menu.wifi', 'wifi'],
]);
/** Settings > Operators (操作员管理), an administrator's. */
export const OPERATOR_ITEMS = menuOf([
  ['menu.addOperator', 'add'], ['menu.deleteOperator', 'delete'], ['menu.listOperators', 'list'],
  ['menu.resetPassword', 'reset'], ['menu.unlock', 'unlock'], ['menu.myPassword', 'mine'],
]);
export const ROLE_ITEMS = menuOf([['role.cashier', 'cashier'], ['role.supervisor', 'supervisor'], ['role.administrator', 'administrator']]);
export const LANGUAGE_ITEMS = menuOf([['menu.chinese', 'zh-CN'], ['menu.english', 'en']]);
/** Retry: the journal checked again (runtime/machine.ts storageCheck), after space was freed. */
export const STORAGE_FAILURE_ITEMS = menuOf([['menu.exportJournal', 'export'], ['menu.diagnostics', 'diagnostics'], ['menu.retry', 'retry']]);

const BOOT_STEP: Readonly<Record<ScreenData['boot']['step'], StringKey>> = {
  'self-test': 'boot.selfTest', journal: 'boot.journal', pending: 'boot.pending', network: 'boot.network', ready: 'boot.ready',
};

function boot(d: ScreenData['boot']): Screen {
  return { id: 'boot', title: t('title.boot'), lines: [t(BOOT_STEP[d.step])], progress: { done: d.stepIndex, total: d.stepCount }, footer: t('footer.wait') };
}

function recovery(d: ScreenData['recovery']): Screen {
  const why = recoveryReasonText(d);
  const lines = why ? [why] : undefined;
  return { id: 'recovery', title: t('title.recovery'), ...(lines ? { lines } : {}), menu: { items: RECOVERY_ITEMS, selected: d.selected }, footer: t('footer.choose') };
}

/** Which copy: the transaction named (its settled batch said), and a customer copy never printed said so. */
function reprintCopy(d: ScreenData['reprintCopy']): Screen {
  // What the operator does not know yet first (a small display keeps the first line beside the menu).
  const lines: Txt[] = d.settled === true ? [t('msg.settledBatch', { batch: d.batch ?? '' })] : d.customerPrinted === false ? [t('msg.customerNotPrinted')] : [];
  if (d.trace !== undefined) lines.push(t('msg.reprintTrace', { stan: d.trace }));
  return { id: 'reprintCopy', title: t('title.reprintCopy'), ...(lines.length > 0 ? { lines } : {}), menu: { items: REPRINT_COPY_ITEMS, selected: d.selected }, footer: t('footer.choose') };
}

/** "Customer copy not printed: print it now?" (FIELD-FAULTS, receipt lost): OK prints, CANCEL leaves it to the reprint menu. */
function customerCopyOffer(d: ScreenData['customerCopyOffer']): Screen {
  return {
    id: 'customerCopyOffer', title: t('title.copyNotPrinted'),
    lines: [t('msg.reprintTrace', { stan: d.trace }), ...((d.more ?? 0) > 0 ? [t('msg.offerMore', { n: d.more ?? 0 })] : []), t('msg.printItNow')],
    footer: t('footer.okCancel'),
  };
}

function restored(d: ScreenData['restored']): Screen {
  return {
    id: 'restored', title: t('title.restored'),
    lines: [t('msg.inFlight', { txn: t(TXN_NAME[d.transaction]) }), t(`outcome.${d.outcome}`)],
    footer: t('footer.ok'),
  };
}

function login(d: ScreenData['login']): Screen {
  // Recovery's login says so: only an administrator gets in, and the technician must know where they are.
  const recovery = d.mode === 'recovery';
  const input = d.field === 'operator'
    ? { kind: 'digits' as const, label: recovery ? rt('login.operator') : t('label.operator'), digits: d.operator, lengthMax: 2 }
    : { kind: 'password' as const, label: t('label.password'), digits: '*'.repeat(d.passwordLength), lengthMax: 8 };
  const notice = d.attemptsLeft !== undefined ? t('notice.attemptsLeft', { n: d.attemptsLeft }) : refusedNotice(d.refused);
  // A supervisor approving a void or refund at the cashier's side: not a login (the cashier stays logged in).
  const title = recovery ? rt('login.title') : d.mode === 'supervisor' ? t('title.supervisorApproval') : t('title.login');
  return withNotice({ id: 'login', title, input, footer: t('footer.ok') }, notice);
}

function signOn(d: ScreenData['signOn']): Screen {
  return { id: 'signOn', title: t('title.signOn'), lines: [t('msg.connecting'), t('msg.attempt', { n: d.attempt, max: d.attemptMax })], footer: t('footer.cancel') };
}

/** "2025-11-21 10:30" in the terminal's time zone (common/time.ts: the receipt uses the same). */
export { formatDateTime };

function statusSummary(s: StatusLine): Txt | undefined {
  if (s.paper === 'out') return t('msg.paperOutShort');
  if (s.network === 'down') return t('msg.networkDown');
  if (s.host === 'offline') return t('msg.hostOffline');
  if (s.batteryPercent !== undefined) return t(s.charging ? 'msg.charging' : 'msg.battery', { percent: Math.round(s.batteryPercent) });
  if (s.host === 'online') return t('msg.online');
  return undefined;
}

function idle(d: ScreenData['idle']): Screen {
  const summary = statusSummary(d.status);
  return {
    id: 'idle', title: d.merchantName, status: d.status,
    lines: [formatDateTime(d.nowMs, d.tzOffsetMinutes), ...(summary ? [summary] : [])],
    footer: t('footer.menu'),
  };
}

function mainMenu(d: ScreenData['mainMenu']): Screen {
  return { id: 'mainMenu', title: t('title.menu'), menu: { items: MAIN_MENU_ITEMS, selected: d.selected }, footer: t('footer.choose'), ...(d.status ? { status: d.status } : {}) };
}

function amountEntry(id: 'saleAmount' | 'refundAmount', d: ScreenData['saleAmount']): Screen {
  const title = t(id === 'saleAmount' ? 'title.sale' : 'title.refund');
  const screen: Screen = { id, title, input: { kind: 'amount', label: t('label.amount'), digits: d.amountFen > 0 ? String(d.amountFen) : '' }, footer: t('footer.ok') };
  return withNotice(screen, refusedNotice(d.refused, d.amountFenMax));
}

/** Refund defaults taken from this terminal's journal say so. */
function fromJournal(screen: Screen, yes: boolean | undefined): Screen {
  return yes ? { ...screen, lines: [t('msg.fromJournal')] } : screen;
}

function digitsEntry(id: string, title: StringKey, label: StringKey, lengthMax: number, d: { digits: string; refused?: Refused }): Screen {
  return withNotice({ id, title: t(title), input: { kind: 'digits', label: t(label), digits: d.digits, lengthMax }, footer: t('footer.ok') }, refusedNotice(d.refused));
}

const METHOD_KEY: Readonly<Record<CardMethod, StringKey>> = { swipe: 'msg.swipe', insert: 'msg.insert', tap: 'msg.tap' };

function presentCard(d: ScreenData['presentCard']): Screen {
  // The chip or a tap, once the stripe was given up (runtime/txn/swipe-failures.ts): one row, as the error said.
  const chipOnly = d.methods.length === 2 && d.methods.includes('insert') && d.methods.includes('tap');
  const methods = d.methods.length === 0 || d.methods.length === 3 ? [t('msg.presentCard')] : chipOnly ? [t('msg.insertOrTap')] : d.methods.map((m) => t(METHOD_KEY[m]));
  const lines: Txt[] = [...(d.amountFen !== undefined ? [amountLine(d.amountFen)] : []), ...methods];
  // Keyed entry where allowed: the footer names its key (the body already pages on small displays).
  return { id: 'presentCard', title: t(TXN_TITLE[d.transaction]), lines, footer: t(d.keyed ? 'footer.keyed' : 'footer.cancel') };
}

/**
 * Keyed card entry: the digits are shown as they are keyed (the operator checks them against
 * the card, as on real terminals); once accepted the number is shown masked 6/4 above the expiry.
 */
function keyedCard(d: ScreenData['keyedCard']): Screen {
  // The amount was on the card screen; here the rows go to the number (masked once accepted).
  const lines: Txt[] = d.stage === 'expiry' && d.pan ? [shortMask(d.pan)] : [];
  const input = d.stage === 'pan'
    ? { kind: 'digits' as const, label: t('label.cardNumber'), digits: d.digits, lengthMax: Math.max(16, d.digits.length) }
    : { kind: 'digits' as const, label: t('label.expiry'), digits: d.digits, lengthMax: 4 };
  return withNotice({ id: 'keyedCard', title: t('title.keyed'), ...(lines.length ? { lines } : {}), input, footer: t('footer.ok') }, refusedNotice(d.refused));
}

/** First 6 and last 4 with the stars between cut to fit one 16-cell row: 622202******0128. */
function shortMask(pan: string): string {
  const digits = pan.replace(/\D/g, '');
  if (digits.length < 13) return maskPan(digits);
  return `${digits.slice(0, 6)}${'*'.repeat(Math.min(6, digits.length - 10))}${digits.slice(-4)}`;
}

const PASSWORD_LABEL = { old: 'label.oldPassword', new: 'label.newPassword', repeat: 'label.repeatPassword' } as const;

const ROLE_KEY = { cashier: 'role.cashier', supervisor: 'role.supervisor', administrator: 'role.administrator' } as const;
const PASSWORD_TITLE = { change: 'title.password', reset: 'title.resetPassword', add: 'title.addOperator' } as const;

/** "05 Cashier": the number as typed at login and the role. */
function operatorRoleLine(operator: string, role: OperatorRole, locked = false): Txt {
  return t(locked ? 'msg.operatorLocked' : 'msg.operatorRole', { op: operator, role: t(ROLE_KEY[role]) });
}

/** Old / new / new again, masked; a reset names the operator, an addition the operator and role. */
function password(d: ScreenData['password']): Screen {
  const who = d.mode === 'add' && d.operator ? [operatorRoleLine(d.operator, d.role ?? 'cashier')] : d.mode === 'reset' && d.operator ? [t('msg.operatorOf', { op: d.operator })] : [];
  const lines: Txt[] = [...who, ...(d.working ? [t('msg.working')] : [])];
  return {
    id: 'password', title: t(PASSWORD_TITLE[d.mode]), ...(lines.length ? { lines } : {}),
    input: { kind: 'password', label: t(PASSWORD_LABEL[d.stage]), digits: '*'.repeat(d.length), lengthMax: 12 }, footer: t(d.working ? 'footer.wait' : 'footer.ok'),
  };
}

const DONE = {
  changed: ['title.password', 'msg.passwordChanged'], reset: ['title.resetPassword', 'msg.passwordReset'], unlocked: ['title.unlock', 'msg.unlocked'],
  added: ['title.addOperator', 'msg.operatorAdded'], deleted: ['title.deleteOperator', 'msg.operatorDeleted'],
} as const satisfies Record<ScreenData['operatorDone']['action'], readonly [StringKey, StringKey]>;

function operatorDone(d: ScreenData['operatorDone']): Screen {
  const [title, line] = DONE[d.action];
  return { id: 'operatorDone', title: t(title), lines: [t(line, { op: d.operator })], footer: t('footer.ok') };
}

const NUMBER_TITLE = { reset: 'title.resetPassword', unlock: 'title.unlock', add: 'title.addOperator', delete: 'title.deleteOperator' } as const;

/** The operators by number, one a line (UP/DOWN page through them), the count first. */
function operatorList(d: ScreenData['operatorList']): Screen {
  const lines: Txt[] = [t('msg.operatorCount', { n: d.entries.length }), ...d.entries.map((e) => operatorRoleLine(e.operator, e.role, e.locked))];
  return { id: 'operatorList', title: t('title.operatorList'), lines, footer: t('footer.ok') };
}

function pin(d: ScreenData['pin']): Screen {
  const lines: Txt[] = [...(d.amountFen !== undefined ? [amountLine(d.amountFen)] : []), ...(d.pan ? [maskPan(d.pan)] : [])];
  return { id: 'pin', title: t('title.pin'), lines, input: { kind: 'password', label: t('label.pin'), digits: '*'.repeat(d.pinLength), lengthMax: 12 }, footer: t('footer.ok') };
}

const STEP_KEY = { connecting: 'msg.step.connecting', sending: 'msg.step.sending', receiving: 'msg.step.receiving' } as const;

function processing(d: ScreenData['processing']): Screen {
  return { id: 'processing', title: t(TXN_TITLE[d.transaction]), lines: [t('title.processing'), ...(d.step ? [t(STEP_KEY[d.step])] : [])], align: 'center', footer: t('footer.wait') };
}

function approved(d: ScreenData['approved']): Screen {
  // Approved by the terminal, not the host: the operator sees it first (the receipt says it too).
  const lines: Txt[] = [t('title.approved'), ...(d.offline ? [t('msg.offline')] : [])];
  if (d.amountFen !== undefined) lines.push(amountLine(d.amountFen));
  if (d.authCode) lines.push(t('msg.auth', { code: d.authCode }));
  if (d.trace) lines.push(t('msg.trace', { trace: d.trace }));
  // The link that carried the answer (boards with several only): the merchant copy prints it too.
  if (d.link) lines.push(t('msg.link', { link: linkName(d.link) }));
  return { id: 'approved', title: t(TXN_TITLE[d.transaction]), lines, footer: t('footer.ok') };
}

function declined(d: ScreenData['declined']): Screen {
  const r = explainResponseCode(d.responseCode);
  return { id: 'declined', title: t('title.declined'), lines: [t('msg.responseCode', { code: r.code }), { en: r.en, zh: r.zh }], footer: t('footer.ok') };
}

const COPY_KEY = { merchant: 'msg.copy.merchant', customer: 'msg.copy.customer', report: 'msg.copy.report', duplicate: 'msg.copy.duplicate' } as const;

function printing(d: ScreenData['printing']): Screen {
  return { id: 'printing', title: t('title.printing'), lines: [t(COPY_KEY[d.copy])], align: 'center', footer: t('footer.wait') };
}

function customerCopy(d: ScreenData['customerCopy']): Screen {
  return { id: 'customerCopy', title: t('title.customerCopy'), menu: { items: YES_NO_ITEMS, selected: d.selected }, footer: t('footer.choose') };
}

function signature(d: ScreenData['signature']): Screen {
  if (!d.pad) return { id: 'signature', title: t('title.signature'), lines: [t('msg.signHere')], footer: t('footer.ok') };
  // One page on the 128×64 display: what to do (or how far), CANCEL; the footer says OK and CLEAR.
  const lines: Txt[] = [d.strokes ? t('msg.signStrokes', { n: d.strokes }) : t('msg.signPad'), t('msg.signPadCancel')];
  return { id: 'signature', title: t('title.signature'), lines, footer: t('footer.signPad') };
}

/** A lost slip must not lead to a second charge (FIELD-FAULTS.md): the earlier approval is shown first. */
function duplicateWarning(d: ScreenData['duplicateWarning']): Screen {
  const lines: Txt[] = [t('msg.trace', { trace: d.trace }), amountLine(d.amountFen), t('msg.duplicate'), ...(d.pan ? [maskPan(d.pan)] : [])];
  return { id: 'duplicateWarning', title: t('title.duplicate'), lines, footer: t('footer.okCancel') };
}

function voidConfirm(d: ScreenData['voidConfirm']): Screen {
  const question = d.transaction === 'preAuthVoid' ? 'msg.confirmPreAuthVoid' : d.transaction === 'completionVoid' ? 'msg.confirmCompletionVoid' : 'msg.confirmVoid';
  const lines: Txt[] = [t('msg.trace', { trace: d.trace }), amountLine(d.amountFen), ...(d.pan ? [maskPan(d.pan)] : []), t(question)];
  return { id: 'voidConfirm', title: t(TXN_TITLE[d.transaction ?? 'void']), lines, footer: t('footer.okCancel') };
}

/** 被扫: waiting for the scanner, or the code keyed (FUNC). */
function qrScan(d: ScreenData['qrScan']): Screen {
  if (d.keyed) {
    return withNotice({ id: 'qrScan', title: t('title.qr'), input: { kind: 'digits', label: t('label.paymentCode'), digits: d.digits ?? '', lengthMax: 32 }, footer: t('footer.ok') }, refusedNotice(d.refused));
  }
  return { id: 'qrScan', title: t('title.qr'), lines: [amountLine(d.amountFen), t('msg.qrScan')], footer: t('footer.qrKeyed') };
}

/** The wait for the customer: a 主扫 order's code on a pixel display (scanToPay), else the text with the countdown. */
function qrWait(d: ScreenData['qrWait']): Screen {
  // The countdown first: the one thing that changes, and what a 2-row display must show.
  const lines: Txt[] = [t('msg.qrSecondsLeft', { s: d.secondsLeft }), amountLine(d.amountFen), t(d.printed ? 'msg.qrPrinted' : 'msg.qrWaiting')];
  return {
    id: 'qrWait', title: t(TXN_TITLE[d.transaction]), lines, footer: t('footer.cancel'),
    ...(d.content !== undefined && !d.printed ? { scanToPay: { content: d.content, amountFen: d.amountFen, secondsLeft: d.secondsLeft } } : {}),
  };
}

/** A pre-authorization's or completion's amount; a completion of a known hold names its 115% ceiling. */
function txnAmount(d: ScreenData['txnAmount']): Screen {
  const screen: Screen = {
    id: 'txnAmount', title: t(TXN_TITLE[d.transaction]), ...(d.maxFen !== undefined ? { lines: [t('msg.completionMax', { max: formatYuan(d.maxFen) })] } : {}),
    input: { kind: 'amount', label: t('label.amount'), digits: d.amountFen > 0 ? String(d.amountFen) : '' }, footer: t('footer.ok'),
  };
  return withNotice(screen, refusedNotice(d.refused, d.maxFen ?? d.amountFenMax));
}

const ORIGINAL_LABEL = { trace: 'label.trace', authCode: 'label.authCode', date: 'label.date' } as const;
const ORIGINAL_DIGITS = { trace: 6, authCode: 6, date: 4 } as const;

/** The hold a void or completion names: its trace number, or (OK alone) its authorization code, date and, for a void, amount. */
function preAuthOriginal(d: ScreenData['preAuthOriginal']): Screen {
  const title = t(TXN_TITLE[d.transaction]);
  if (d.stage === 'amount') {
    return withNotice({ id: 'preAuthOriginal', title, input: { kind: 'amount', label: t('label.amount'), digits: d.amountFen > 0 ? String(d.amountFen) : '' }, footer: t('footer.ok') }, refusedNotice(d.refused));
  }
  const screen: Screen = {
    // A completion's void names a completion of this batch: nothing to key.
    id: 'preAuthOriginal', title, ...(d.stage === 'trace' && d.transaction !== 'completionVoid' ? { lines: [t('msg.traceOrKeyed')] } : {}),
    input: { kind: 'digits', label: t(ORIGINAL_LABEL[d.stage]), digits: d.digits, lengthMax: ORIGINAL_DIGITS[d.stage] }, footer: t('footer.ok'),
  };
  return withNotice(screen, refusedNotice(d.refused));
}

/**
 * A large amount is confirmed on a screen of its own, not the amount entry again: its title asks,
 * the amount stands alone in the middle, the footer names OK and CANCEL (a digit typed too many
 * is caught here, before the card).
 */
function amountConfirm(d: ScreenData['amountConfirm']): Screen {
  return {
    id: 'amountConfirm', title: t('title.confirmAmount'), lines: [amountText(d.amountFen), t('msg.largeAmount')],
    align: 'center', footer: t('footer.okCancel'),
  };
}

function balanceResult(d: ScreenData['balanceResult']): Screen {
  return { id: 'balanceResult', title: t('title.balance'), lines: [amountText(d.balanceFen)], align: 'center', footer: t('footer.ok') };
}

const SETTLE_KEY = { totals: 'msg.settle.totals', upload: 'msg.settle.upload', closing: 'msg.settle.closing', printing: 'msg.settle.printing' } as const;

function settlement(d: ScreenData['settlement']): Screen {
  return { id: 'settlement', title: t('title.settlement'), lines: [t(SETTLE_KEY[d.step])], progress: { done: d.stepIndex, total: d.stepCount }, footer: t('footer.wait') };
}

/**
 * Before the batch closes: what will be sent to the host, and OK asked (CANCEL: nothing sent).
 * Two lines, so that with the footer naming OK and CANCEL it is one page on a 4-row display (the
 * batch number is on the result and the report).
 */
function settlementConfirm(d: ScreenData['settlementConfirm']): Screen {
  return {
    id: 'settlementConfirm', title: t('title.settleConfirm'),
    lines: [
      t('msg.settle.sales', { n: d.saleCount, amount: formatYuan(d.saleFen) }),
      t('msg.settle.refunds', { n: d.refundCount, amount: formatYuan(d.refundFen) }),
    ],
    footer: t('footer.okCancel'),
  };
}

function settlementResult(d: ScreenData['settlementResult']): Screen {
  return {
    id: 'settlementResult', title: t('title.settlement'),
    lines: [
      t(d.balanced ? 'msg.settle.balanced' : 'msg.settle.unbalanced'),
      t('msg.settle.batch', { batch: d.batch }),
      t('msg.settle.sales', { n: d.saleCount, amount: formatYuan(d.saleFen) }),
      t('msg.settle.refunds', { n: d.refundCount, amount: formatYuan(d.refundFen) }),
    ],
    footer: t('footer.ok'),
  };
}

function signOff(d: ScreenData['signOff']): Screen {
  return { id: 'signOff', title: t('title.signOff'), lines: [t(d.done ? 'msg.signedOff' : 'msg.signingOff')], align: 'center', footer: t(d.done ? 'footer.ok' : 'footer.wait') };
}

function lowBattery(d: ScreenData['lowBattery']): Screen {
  const lines: Txt[] = [t('msg.battery', { percent: Math.round(d.percent) }), t(d.critical ? 'msg.shuttingDown' : d.charging ? 'msg.charging' : 'msg.chargeNow')];
  return {
    id: 'lowBattery', title: t(d.critical ? 'title.batteryCritical' : 'title.lowBattery'), lines,
    status: { batteryPercent: d.percent, charging: d.charging }, ...(d.critical ? {} : { footer: t('footer.ok') }),
  };
}

/**
 * A copy waits for the printer. Paper out says "load paper"; any other printer error (the cover
 * open, a jam or fault, no answer, the battery too low to print) says its own code, cause and
 * first step: loading paper fixes none of them. OK prints the waiting copies once the printer
 * reports ready.
 *
 * Such an error is laid out as its error screen is (error-screens.ts): the code is the title and
 * the cause the first body line, where it wraps and pages. A cause as the title was cut to the
 * title row beside the page tag (12 cells on a 16x2 LCD or the 128x64 panel): "Battery too",
 * "Printer" for "Printer cover open", 电量过低无法 for 电量过低无法打印.
 */
function paperOut(d: ScreenData['paperOut']): Screen {
  const def = d.code !== undefined && d.code !== PAPER_OUT_CODE ? errorByCode(d.code) : undefined;
  const cause: LocalText | undefined = def ? { en: def.en.cause, zh: def.zh.cause } : undefined;
  // The first step only: the later ones (reprint, call support) are what OK and the error list say.
  const what: Txt[] = def && cause ? [cause, { en: def.en.steps[0] ?? '', zh: def.zh.steps[0] ?? '' }, t('msg.printWhenFixed')] : [t('msg.loadPaper')];
  const screen: Screen = { id: 'paperOut', title: def ? def.code : t('title.paperOut'), lines: [...what, ...(d.copy ? [t(COPY_KEY[d.copy])] : [])], footer: t('footer.cancel') };
  // The customer need not wait for paper: their copy as an e-receipt QR code (issue 12 item 6).
  return d.eReceipt ? { ...screen, eReceiptQr: { content: d.eReceipt, lines: [cause ?? t('msg.paperOutShort'), t('msg.eReceiptFor'), t('msg.eReceiptScan'), t('msg.eReceiptSlip')] } } : screen;
}

/** The paper-out error (common/errors.ts PRN_PAPER_OUT): the paperOut screen's own wording. */
const PAPER_OUT_CODE = 'E-PRN-01';

function storageFailure(d: ScreenData['storageFailure']): Screen {
  return {
    // The code leads the title: on a 16x2 LCD the menu leaves no body row.
    id: 'storageFailure', title: { parts: [d.code, ' ', t('title.storage')] }, lines: [t('msg.storageStop'), t('msg.doNotPowerOff')],
    menu: { items: STORAGE_FAILURE_ITEMS, selected: d.selected }, footer: t('footer.choose'),
  };
}

/**
 * The 4G modem as the sign-on failure screen shows it (hal/modem.ts ModemStatus, flattened): SIM,
 * signal, registration, APN, and the E-NET code its state means (modemFault), if any.
 */
export interface ModemView {
  readonly sim: 'ready' | 'absent' | 'pin-required' | 'puk-locked' | 'busy' | 'failure';
  readonly pinAttemptsLeft?: number;
  readonly rssiDbm?: number;
  readonly bars: number;
  readonly tech?: string;
  readonly registration: 'home' | 'roaming' | 'searching' | 'denied' | 'not-registered' | 'unknown';
  readonly operator?: string;
  readonly apn: string;
  /** The board file's APN when the module's differs. */
  readonly apnWant?: string;
  /** E-NET-08..15: what is wrong, as the person must fix it. */
  readonly fault?: string;
  /** The modem did not answer (its code is `fault`). */
  readonly silent?: boolean;
}

/**
 * The Wi-Fi as the sign-on failure screen shows it (boot/wifi-state.ts, as diagnostics reads it):
 * its lines (joined and the address, or not and why; the signal), the E-NET code its state means,
 * and whether it is the board's first link (its fault then leads the screen).
 */
export interface WifiView {
  readonly lines: readonly LocalText[];
  /** E-NET-28, 31, 33, 34. */
  readonly fault?: string;
  readonly first: boolean;
}

/** The error list's steps for `code`, each in both languages and marked "- " (none for a code it does not know). */
export function stepLines(code: string | undefined): LocalText[] {
  const def = code === undefined ? undefined : errorByCode(code);
  return def ? def.en.steps.map((en, i) => ({ en: `- ${en}`, zh: `- ${def.zh.steps[i] ?? en}` })) : [];
}

/** An error's code and cause (then `detail`, the same in both languages), then its steps, from the error list. */
export function faultLines(code: string, detail = ''): LocalText[] {
  const def = errorByCode(code);
  return [{ en: `${code} ${def?.en.cause ?? ''}${detail}`, zh: `${code} ${def?.zh.cause ?? ''}${detail}` }, ...stepLines(code)];
}

/** The Wi-Fi's lines: its fault and the error list's steps first (the cause), then its state. */
function wifiLines(w: WifiView): Txt[] {
  return [...(w.fault !== undefined ? faultLines(w.fault) : []), ...w.lines];
}

/** The modem's lines: its fault and the error list's steps first (the cause), then its state. */
function modemLines(m: ModemView): Txt[] {
  const lines: Txt[] = [];
  if (m.fault !== undefined) {
    lines.push(...faultLines(m.fault));
    if (m.fault === 'E-NET-09') lines.push(t('msg.simPinKey'));
  }
  if (m.silent) return lines;
  lines.push(t('diag.modemSim', { state: t(`diag.sim.${m.sim}`) }));
  if (m.pinAttemptsLeft !== undefined && m.sim !== 'ready') lines.push(t('diag.pinAttempts', { n: m.pinAttemptsLeft }));
  lines.push(m.rssiDbm === undefined ? t('diag.modemNoSignal') : t('diag.modemSignal', { dbm: m.rssiDbm, bars: m.bars, tech: m.tech ?? '' }));
  lines.push(t('diag.modemReg', { state: t(`diag.reg.${m.registration}`), operator: m.operator ?? '' }));
  const apn = m.apn === '' ? t('diag.modemNone') : m.apn;
  lines.push(m.apnWant === undefined ? t('diag.modemApn', { apn }) : t('diag.modemApnWant', { apn, want: m.apnWant }));
  return lines;
}

function simPin(d: ScreenData['simPin']): Screen {
  const lines: Txt[] = [{ en: `PIN ${'*'.repeat(d.digits)}`, zh: `PIN ${'*'.repeat(d.digits)}` }];
  // The attempts left beside the PIN (first page); a refusal's code after.
  if (d.attemptsLeft !== undefined) lines.push(t('diag.pinAttempts', { n: d.attemptsLeft }));
  if (d.checking) lines.push(t('msg.simPinChecking'));
  else if (d.refused !== undefined) lines.push(t('msg.simPinRefused', { code: d.refused }));
  return { id: 'simPin', title: t('title.simPin'), lines, footer: t('footer.okCancel') };
}

function hostUnreachable(d: ScreenData['hostUnreachable']): Screen {
  const reason = d.reason === 'refused' ? [t('msg.refused')] : d.reason === 'timeout' ? [t('msg.timedOut')] : d.cause ? [d.cause] : [];
  const e = d.echo;
  // The echo's answer tells the network (no answer: E-NET/E-HOST-01) from the host (it answers, but refuses the sign-on).
  const echo = e === undefined ? [t('msg.echoHint')] : 'running' in e ? [t('msg.echoRunning')]
    : e.ok ? [t('msg.echoOk', { ms: e.roundTripMs ?? 0 })] : [t('msg.echoFailed', { code: e.code })];
  // A radio's fault is why the host did not answer: it comes first, with its steps (the Wi-Fi's
  // before the modem's when the Wi-Fi is the board's first link).
  const modem = d.modem === undefined ? [] : modemLines(d.modem);
  const wifi = d.wifi === undefined ? [] : wifiLines(d.wifi);
  const modemLeads = d.modem?.fault !== undefined;
  const wifiLeads = d.wifi?.fault !== undefined && (d.wifi.first || !modemLeads);
  const radios = d.wifi?.first === true ? [[wifi, wifiLeads], [modem, modemLeads]] as const : [[modem, modemLeads], [wifi, wifiLeads]] as const;
  const first = radios.filter(([, lead]) => lead).flatMap(([lines]) => lines);
  const after = radios.filter(([, lead]) => !lead).flatMap(([lines]) => lines);
  return {
    id: 'hostUnreachable', title: t(d.network === false ? 'title.signOnFailed' : 'title.hostUnreachable'),
    lines: [
      ...first, ...reason, ...(d.hostCode ? [d.hostCode] : []), ...(d.step ? [d.step] : []),
      ...(d.reversalKept === true ? [t('msg.reversalKept')] : []), ...echo, ...after,
    ],
    footer: t('footer.retry'),
  };
}

const DIAG_KEY: Readonly<Record<DiagCheck, StringKey>> = {
  battery: 'diag.battery', storage: 'diag.storage', printer: 'diag.printer', reader: 'diag.reader', keypad: 'diag.keypad',
  display: 'diag.display', network: 'diag.network', host: 'diag.host', log: 'diag.log', touch: 'diag.touch', scanner: 'diag.scanner',
};
/** Every board's checks, numbered 1..9 on the list. */
export const DIAG_CHECKS: readonly DiagCheck[] = ['battery', 'storage', 'printer', 'reader', 'keypad', 'display', 'network', 'host', 'log'];

/**
 * A board's checks: every board's, then the touch test on a board with a signature pad and the
 * scanner test on one with a scan engine (past the 9th: UP/DOWN and OK, no digit).
 */
export function diagChecksFor(o: { readonly touch: boolean; readonly scanner: boolean }): readonly DiagCheck[] {
  return [...DIAG_CHECKS, ...(o.touch ? ['touch' as const] : []), ...(o.scanner ? ['scanner' as const] : [])];
}

function diagnostics(d: ScreenData['diagnostics']): Screen {
  const byCheck = new Map(d.results.map((r) => [r.check, r]));
  // Every board's checks, then the board's own ones the results name (the touch test).
  const checks = [...DIAG_CHECKS, ...d.results.map((r) => r.check).filter((c) => !DIAG_CHECKS.includes(c))];
  const items = numbered(checks.map((check) => {
    const r = byCheck.get(check) ?? { check, state: 'pending' as const };
    const name = t(DIAG_KEY[check]);
    const result = r.state === 'fail' && r.code ? { en: r.code, zh: r.code } : r.state === 'ok' && r.summary ? r.summary : t(`diag.${r.state}`);
    return { label: { en: `${name.en} ${result.en}`, zh: `${name.zh} ${result.zh}` }, value: check };
  }));
  return { id: 'diagnostics', title: t('title.diagnostics'), menu: { items, selected: d.selected }, footer: t('footer.choose') };
}

function settings(d: ScreenData['settings']): Screen {
  return { id: 'settings', title: t('title.settings'), menu: { items: SETTINGS_ITEMS, selected: d.selected }, footer: t('footer.choose') };
}

function language(d: ScreenData['language']): Screen {
  const now = t(d.current === 'zh-CN' ? 'menu.chinese' : 'menu.english');
  return {
    id: 'language', title: t('title.language'), lines: [t('msg.languageNow', { lang: now }), t('msg.textLcdEnglish')],
    menu: { items: LANGUAGE_ITEMS, selected: d.selected }, footer: t('footer.choose'),
  };
}

function factoryTest(d: ScreenData['factoryTest']): Screen {
  switch (d.test) {
    // The pattern fills the display; its title and what to press are still the screen's text (the
    // probe, the front panel's text line), never its internal name.
    case 'display': return { id: 'factoryTest:display', title: t('title.displayTest'), lines: [t('msg.patternCheck')], pattern: 'checker' };
    case 'keypad': {
      const left = d.keysLeft ?? [];
      // The count first, then the keys left that fit: never paged, since UP/DOWN are keys under test.
      const lines = left.length === 0 ? [t('msg.allKeysOk')] : [t('msg.keysLeftCount', { n: left.length, keys: left.join(' ') })];
      // Every key is under test, CANCEL too: the footer says how to leave (CANCEL once it is seen).
      return { id: 'factoryTest:keypad', title: t('title.keypadTest'), lines, glance: true, footer: t(left.length === 0 ? 'footer.ok' : 'footer.keypadStop') };
    }
    case 'printer': return { id: 'factoryTest:printer', title: t('title.factory'), lines: [t('diag.printer'), t('title.printing')], footer: t('footer.wait') };
    case 'reader': return { id: 'factoryTest:reader', title: t('title.factory'), lines: [t('diag.reader'), t('msg.testCard')], footer: t('footer.cancel') };
  }
}

type Builders = { readonly [K in StateName]: (d: ScreenData[K]) => Screen };

const BUILDERS: Builders = {
  boot, recovery, restored, login, signOn, idle, mainMenu,
  saleAmount: (d) => amountEntry('saleAmount', d),
  refundAmount: (d) => amountEntry('refundAmount', d),
  refundTrace: (d) => ({ ...digitsEntry('refundTrace', 'title.refund', 'label.trace', 6, d), lines: [t('msg.traceOrOk')] }),
  refundReference: (d) => fromJournal(digitsEntry('refundReference', 'title.refund', 'label.reference', 12, d), d.fromJournal),
  refundDate: (d) => fromJournal(digitsEntry('refundDate', 'title.refund', 'label.date', 4, d), d.fromJournal),
  presentCard, keyedCard, password, operatorDone,
  operators: (d) => ({ id: 'operators', title: t('title.operators'), menu: { items: OPERATOR_ITEMS, selected: d.selected }, footer: t('footer.choose') }),
  operatorNumber: (d) => digitsEntry('operatorNumber', NUMBER_TITLE[d.action], 'label.operator', 2, d),
  operatorRole: (d) => ({ id: 'operatorRole', title: t('title.addOperator'), lines: [t('msg.operatorOf', { op: d.operator })], menu: { items: ROLE_ITEMS, selected: d.selected }, footer: t('footer.choose') }),
  operatorConfirm: (d) => ({ id: 'operatorConfirm', title: t('title.deleteOperator'), lines: [operatorRoleLine(d.operator, d.role), t('msg.deleteAsk')], footer: t('footer.okCancel') }),
  operatorList,
  pin, processing, approved, declined, printing, customerCopy,
  signature: (d) => signature(d),
  duplicateWarning,
  voidTrace: (d) => digitsEntry('voidTrace', 'title.void', 'label.trace', 6, d),
  voidConfirm, amountConfirm, balanceResult, txnAmount, preAuthOriginal,
  hostTask: (d) => {
    const title = t(d.task === 'params' ? 'menu.hostParams' : d.task === 'status' ? 'menu.statusUpload' : 'menu.echoTest');
    if (d.state === 'running') return { id: 'hostTask', title, lines: [t('title.processing')], align: 'center', footer: t('footer.wait') };
    const code = d.code ?? '--';
    const line = d.state === 'ok' ? (d.task === 'echo' ? t('msg.echoOk', { ms: d.roundTripMs ?? 0 }) : t('msg.hostTaskOk', { code })) : t(d.state === 'refused' ? 'msg.hostTaskRefused' : 'msg.hostTaskError', { code });
    return { id: 'hostTask', title, lines: [line], footer: t('footer.ok') };
  },
  offlinePending: (d) => ({
    id: 'offlinePending', title: t('title.offlinePending'),
    // The sent-with-no-answer line first: a small display keeps the first lines, and that one is the warning.
    lines: [...((d.unknown ?? 0) > 0 ? [t('msg.offlineUnknown', { n: d.unknown ?? 0 })] : []), t('msg.offlineWaiting', { n: d.count })],
    menu: { items: OFFLINE_PENDING_ITEMS, selected: d.selected }, footer: t('footer.choose'),
  }),
  qrMenu: (d) => ({ id: 'qrMenu', title: t('title.qr'), menu: { items: QR_ITEMS, selected: d.selected }, footer: t('footer.choose') }),
  qrMode: (d) => ({ id: 'qrMode', title: t('title.qr'), lines: [amountLine(d.amountFen)], menu: { items: QR_MODE_ITEMS, selected: d.selected }, footer: t('footer.choose') }),
  qrScan, qrWait,
  preAuthMenu: (d) => ({ id: 'preAuthMenu', title: t('title.preAuth'), menu: { items: PRE_AUTH_ITEMS, selected: d.selected }, footer: t('footer.choose') }),
  reprint: (d) => ({ id: 'reprint', title: t('title.reprint'), menu: { items: REPRINT_ITEMS, selected: d.selected }, footer: t('footer.choose') }),
  reprintTrace: (d) => digitsEntry('reprintTrace', 'title.reprint', 'label.trace', 6, d),
  reprintCopy, customerCopyOffer,
  settlement, settlementConfirm, settlementResult, signOff, lowBattery, paperOut, storageFailure, hostUnreachable, simPin, diagnostics, settings, language, factoryTest,
  error: (d) => errorScreen(d.code, { page: d.page, ...(d.details ? { details: d.details } : {}), ...(d.retry ? { footer: t('footer.retry') } : {}) }),
};

export const STATE_NAMES = Object.keys(BUILDERS) as StateName[];

export function isStateName(name: string): name is StateName {
  return Object.prototype.hasOwnProperty.call(BUILDERS, name);
}

/**
 * The screen for a state, from whatever part of its data the snapshot has (the rest defaults).
 * A name this table does not know (a newer runtime) shows the internal-error screen naming it
 * in the details, rather than nothing.
 */
export function screenFor<K extends StateName>(state: K, data?: Partial<ScreenData[K]>): Screen;
export function screenFor(state: string, data?: Record<string, unknown>): Screen;
export function screenFor(state: string, data: Record<string, unknown> = {}): Screen {
  if (!isStateName(state)) return errorScreen('SYS_INVARIANT', { details: [`state ${state}`] });
  const builder = BUILDERS[state] as (d: unknown) => Screen; // indexed by a checked name: the data type follows it
  return builder({ ...DEFAULTS[state], ...stripUndefined(data) });
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

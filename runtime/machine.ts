/**
 * The terminal's state machine, declared as data with XState v5: states, events, guards and
 * actions here; hardware and host calls are actors (promises over the engine, the printer and
 * the card reader), so the machine itself stays pure and can be drawn (scripts/diagram.ts ->
 * docs/state-machine.md) and walked by tests.
 *
 * ---------------------------------------------------------------- API for ui-lcd/ and boot/
 *
 *   const machine = createTerminalMachine(deps);       // deps: MachineDeps below
 *   const actor = createActor(machine).start();
 *   actor.subscribe((snap) => render(viewOf(snap)));    // -> { state, data }
 *   actor.send({ type: 'LOGIN', operator: '001', password: '1111' });
 *
 * `viewOf(snapshot)` is the only thing a screen needs: `state` is the dotted state path (e.g.
 * 'sale.amount', 'paperOut', 'recovery'); `data` holds only what may be shown (masked PAN,
 * amounts in fen, error code/kind with zh/en cause and steps, the last result). Card data and
 * PINs are never in it.
 *
 * Events (send them from keys/menus):
 *   LOGIN {operator,password}  LOGOUT  SALE  VOID  REFUND  BALANCE  REPRINT  SETTLE  SIGN_OFF
 *   PRE_AUTH  PRE_AUTH_VOID  COMPLETION  COMPLETION_VOID (the pre-authorization family; refused with
 *   E-HOST-10 while the host or its parameters do not offer it)
 *   PREAUTH_KEYED {authCode,dateMmdd,amountFen?} (a pre-authorization not in this journal, keyed)
 *   GIVE_UP (settlement refused for unsent offline sales: the supervisor gives them up, a list prints)
 *   HOST_TASK {task: 'params'|'status'|'echo'} (idle, settings menu: parameter download, status upload, echo test)
 *   AMOUNT {amountFen}  OK  CANCEL  YES  NO  RETRY  CONTINUE  SKIP
 *   KEYED {pan,expiry} (where keyed entry is allowed)  PIN {pin: Buffer of ASCII digits}  PIN_BYPASS
 *   SUPERVISOR {operator,password}  TRACE {stan}  REFUND_DETAILS {rrn,dateMmdd,amountFen}
 *   REPRINT_LAST  REPRINT_STAN {stan} (then REPRINT_COPY {copy: 'merchant'|'customer'})  REPRINT_REPORT  SIGNATURE {image: MonoImage}
 *   PAPER_LOADED  BATTERY {level: 'ok'|'low'|'critical'}  EXPORT  ECHO (sign-on failure: echo test)
 *   PASSWORD (idle: change my password) -> CHANGE_PASSWORD {oldPassword,newPassword,repeated}
 *   OPERATORS (idle: an administrator's operator management) -> RESET_PASSWORD {operator,newPassword,repeated} | UNLOCK {operator}
 *     | ADD_OPERATOR {operator,role,password,repeated} | DELETE_OPERATOR {operator} | CHANGE_PASSWORD (the managing administrator's own)
 *
 * Boot: `deps.open()` replays the journal; a damaged journal or a broken invariant sends the
 * machine to `recovery` (administrator login, export), and so does `deps.recoveryRequested()`
 * (the reset button held through boot; notice 'reset-held'). Pending work comes before login: the
 * pending reversal is sent, an unfinished settlement resumed, unprinted receipts offered.
 *
 * A customer copy never asked for (its merchant copy could not print, and the paper-out screen was
 * left: the flow's question was skipped) is offered once the merchant copy prints late, when paper
 * is back: offerCustomerCopy (YES prints it, NO leaves it to the reprint menu).
 */
import { assign, fromPromise, setup, SnapshotFrom } from 'xstate';
import { ERRORS, ErrorKind, PosError, isPosError } from '../common/errors';
import { TZ_OFFSET_MINUTES_DEFAULT } from '../common/time';
import { MonoImage, Printer } from '../hal/printer';
import { Terminal } from './terminal';
import { Session, mayOpenRecovery } from './operators';
import type { Role, TxnKind } from './records';
import { CardInput, CardRequest, EmvTxnType, keyedCard, withPin } from './txn/card';
import type { CardSource } from '../hal/card-reader';
import { SwipeFailures, isUnreadableSwipe } from './txn/swipe-failures';
import { FlowResult, PreAuthTarget, TxnView } from './txn/engine';
import { TerminalStatus, completionFenMax } from './host/messages-v2';
import { AnomalyFlag, anomalyCodes } from './anomaly';
import { SettlementReport, settle } from './txn/settlement';
import { QrFlowResult, QrPayments, QrResolution } from './txn/qr';
import { QR_SHOW_CHARS_MAX } from './host/messages-v2';
import { batchTotals, pendingAdvices } from './terminal-state';
import type { SettlementTotals } from './host/messages';
import { Lang, PrintContext, eReceiptUrl, offlineAbandonedJob, printReceipt, printSettlementReport } from './receipt';
import { yuan } from '../common/money';
import { checkExpiry, checkKeyedPan, checkOriginalDate, checkRefundDetails } from './txn/entry-checks';
import { downloadAllParameters, downloadMissingEmvParameters } from './txn/emv-download';

/** What a boot's notice is about: the transaction in flight at a power cut (a balance inquiry too), or a settlement. */
export type NoticeTxn = TxnKind | 'balance' | 'settlement';

export interface MachineDeps {
  /** Opens the journal and builds the terminal (throws: recovery mode). */
  readonly open: () => Promise<Terminal>;
  /** Hardware self-test (board.selfTest); a failure names the part. */
  readonly selfTest: () => Promise<void>;
  readonly printer: Printer;
  /**
   * Waits for a card (runtime/txn/card.ts readCard over the board's reader, passing `request` on:
   * a chip card is asked for its ARQC over the request's amount and type, for field 55). The
   * request comes from the engine (`cardRequest`): amount for a sale and a refund (asked before
   * the card), 0 for a balance inquiry; its unpredictable number from the injected randomness.
   * `sources`: what the reader detects; a transaction that gave up on the stripe leaves out the
   * swipe (runtime/txn/swipe-failures.ts).
   */
  readonly readCard: (request: CardRequest, sources: readonly CardSource[]) => Promise<CardInput>;
  /**
   * Unreadable swipes in a row across transactions (runtime/txn/swipe-failures.ts), shared with
   * diagnostics. Absent: the machine keeps its own.
   */
  readonly swipes?: SwipeFailures;
  readonly clock: () => number;
  readonly lang?: Lang;
  readonly merchantName?: string;
  readonly allowKeyed?: boolean;
  /** Export the journal (storage/backup) to removable storage; resolves with where it went. */
  readonly exportJournal?: () => Promise<string>;
  /** Clean shutdown at critical battery (after the journal is closed). */
  readonly shutdown?: () => Promise<void>;
  /** The reset button was held through boot: open recovery (administrator login) on a healthy journal too. */
  readonly recoveryRequested?: () => boolean;
  /**
   * Recovery-menu login (boot/recovery.ts Recovery.authenticate): works when the journal is
   * damaged or cannot be opened (no terminal), through the operators still readable or the
   * fallback administrator. Resolves with the session of any role (a non-administrator is refused
   * by the machine: notice 'administrator-required'). Required, with no fallback to the
   * terminal's operators: recovery is entered exactly when there may be no terminal (a damaged
   * journal), and a fallback that needs one fails there (SIMULATION.md, finding 1).
   */
  readonly recoveryLogin: (operator: string, password: string) => Promise<Session>;
  /**
   * What a status upload (0820, 60.3 = 362) reports: software version, battery, free journal space,
   * last error, uptime (boot/terminal-app.ts). Absent: no status upload (tests, recovery).
   */
  readonly terminalStatus?: () => TerminalStatus;
  /**
   * Scans the customer's payment code (QR 被扫: hal/scanner.ts over the board's scanner0); the
   * signal aborts when the operator cancels. Absent: no scanner, the code is keyed (QR_CODE).
   */
  readonly scanCode?: (signal: AbortSignal) => Promise<string>;
  /** The pause between QR queries (runtime/txn/qr.ts; tests move their clock instead of waiting). */
  readonly qrSleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The display can show this QR content (a pixel display, A3 within QR_SHOW_CHARS_MAX); else it is printed. */
  readonly qrShowable?: (content: string) => boolean;
}

export interface ErrorView {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly message: string;
  readonly en: { cause: string; steps: readonly string[] };
  readonly zh: { cause: string; steps: readonly string[] };
  readonly detail: Record<string, unknown>;
}

export interface ResultView {
  readonly outcome: FlowResult['outcome'];
  readonly stan?: number;
  readonly txn?: TxnView;
  readonly responseCode?: string;
  readonly text?: { en: string; zh: string };
  readonly reversalPending?: boolean;
}

/** Where a flow goes on after its waiting copy printed (see `waiting`). */
export type ResumeAt = 'sale.askCustomerCopy' | 'sale.signature' | 'void.askCustomerCopy' | 'refund.askCustomerCopy'
  | 'preAuth.askCustomerCopy' | 'preAuthVoid.askCustomerCopy' | 'completion.askCustomerCopy' | 'completionVoid.askCustomerCopy' | 'idle';
const RESUME_STATES: readonly Exclude<ResumeAt, 'idle'>[] = [
  'sale.askCustomerCopy', 'sale.signature', 'void.askCustomerCopy', 'refund.askCustomerCopy',
  'preAuth.askCustomerCopy', 'preAuthVoid.askCustomerCopy', 'completion.askCustomerCopy', 'completionVoid.askCustomerCopy',
];

export interface MachineContext {
  terminal?: Terminal;
  session?: Session;
  /** Supervisor for void/refund/settlement when the logged-in operator is a cashier. */
  authorizer?: Session;
  battery: 'ok' | 'low' | 'critical';
  amountFen: number;
  card?: CardInput;
  pin?: Buffer;
  duplicate?: TxnView;
  voidStan?: number;
  refund?: { rrn: string; dateMmdd: string; amountFen: number };
  result?: ResultView;
  balanceFen?: number;
  error?: ErrorView;
  notice?: string;
  /** What the boot's notice is about: the kind of the transaction in flight at the power cut, or 'settlement'. */
  noticeTxn?: NoticeTxn;
  pendingStans: number[];
  /**
   * The transactions whose copies were pending at boot: they may have printed before a power cut
   * (their receipt-printed mark is deferred and may be lost), so they print marked DUPLICATE.
   * A copy that began waiting in this session never printed: it prints as the original.
   */
  bootPendingStans: number[];
  /** The settlement report waits for the printer; 'reprint': a reprint of it asked for from the menu (printed before). */
  reportPending: boolean | 'reprint';
  /**
   * The copy of the transaction in progress that could not print (paper out): it prints first
   * when paper is back, then the flow goes on where it stopped (`then`: the customer-copy
   * question after a merchant copy, the signature after a sale's customer copy). `reprint`: a
   * duplicate asked for from the reprint menu, printed as one (it was printed before; nothing of
   * it waits in the journal, so without this it was dropped when the paper came back).
   */
  waiting?: { stan: number; copy: 'merchant' | 'customer'; then: ResumeAt; reprint?: true };
  /**
   * The reprint menu's transaction (reprint.copy, reprint.printing): of the open batch, or of a
   * settled batch rebuilt from the journal (`settled`), and the copy chosen.
   */
  reprintOf?: { txn: TxnView; settled: boolean; copy?: 'merchant' | 'customer' };
  /**
   * Transactions whose customer copy was never asked for (their merchant copy printed late: the
   * flow's question was skipped when the paper-out screen was left): offerCustomerCopy offers it.
   */
  customerOffer: number[];
  settlement?: SettlementReport;
  exportedTo?: string;
  flow?: 'sale' | 'void' | 'refund' | 'balance' | 'preAuth' | 'preAuthVoid' | 'completion' | 'completionVoid' | 'qr' | 'qrVoid' | 'qrRefund';
  /**
   * The pre-authorization a void or completion names: a hold of this journal by trace number, or
   * keyed details (authorization code, original date MMDD, and for a void the pre-authorized amount).
   */
  preAuthOriginal?: { readonly stan: number } | { readonly keyed: { readonly authCode: string; readonly dateMmdd: string; readonly amountFen?: number } };
  /** What the last password change, reset, unlock, addition or deletion did (its done screen). */
  operatorChange?: OperatorChange;
  /** Keyed card entry is allowed here (deps.allowKeyed): the card screen offers it. */
  keyedAllowed: boolean;
  /** Unreadable swipes in this transaction (runtime/txn/swipe-failures.ts); reset with the flow. */
  swipeFailures: number;
  /** This transaction stopped asking for a swipe (too many unreadable, or the reader's head suspect): chip or tap only. */
  swipeOff: boolean;
  /** Why recovery opened, kept apart from `error` so a wrong password in its login cannot replace it. */
  recoveryReason?: RecoveryReason;
  /** The last echo test from the sign-on failure screen: is it the network or the host? */
  echo?: EchoView;
  /** A host task from the settings menu (parameter download, status upload, echo test) and how it ended. */
  hostTask?: HostTaskView;
  /** QR payment: 被扫 (scan the customer's code) or 主扫 (show the terminal's). */
  qrMode?: 'scan' | 'show';
  /** The customer's payment code, scanned or keyed: memory only, dropped once the request is built. */
  qrCode?: string;
  /** The QR wait as the screen shows it: time left, the order's content (主扫), whether it was printed instead. */
  qrWait?: { msLeft?: number; content?: string; printed?: boolean };
}

/** An operator management action just done (its done screen): the operator's number, never a secret. */
export interface OperatorChange { readonly action: 'changed' | 'reset' | 'unlocked' | 'added' | 'deleted'; readonly operator: string }

/** An operator as the operators' list shows it: number, role, locked; never a hash. */
export interface OperatorListEntry { readonly number: string; readonly role: Role; readonly locked: boolean }

/** A host task asked for from the menu: which, and its outcome (the host's code, or the error that stopped it). */
export interface HostTaskView {
  readonly task: HostTask;
  readonly responseCode?: string;
  readonly errorCode?: string;
  /** Echo: the round trip. */
  readonly roundTripMs?: number;
}
export type HostTask = 'params' | 'status' | 'echo';

/** An echo test's outcome as a screen shows it: the host's code and round trip, or the error that stopped it. */
export type EchoView = { readonly responseCode: string; readonly roundTripMs: number } | { readonly errorCode: string };

/** The reset button held through boot, or the error that sent the terminal to recovery. */
export type RecoveryReason = { readonly resetHeld: true } | { readonly code: string };

export type MachineEvent =
  | { type: 'LOGIN'; operator: string; password: string }
  /**
   * The terminal's own boot again in process (the archive at idle, boot/terminal-app.ts) carries
   * the session it had at idle: back to idle without a password, when the operator still exists,
   * is not locked with the same role, and the terminal is signed on. Never from a key.
   */
  | { type: 'RESUME_SESSION'; session: Session }
  | { type: 'SUPERVISOR'; operator: string; password: string }
  | { type: 'PRE_AUTH' | 'PRE_AUTH_VOID' | 'COMPLETION' | 'COMPLETION_VOID' | 'GIVE_UP' }
  | { type: 'HOST_TASK'; task: HostTask }
  | { type: 'PREAUTH_KEYED'; authCode: string; dateMmdd: string; amountFen?: number }
  | { type: 'LOGOUT' | 'SALE' | 'VOID' | 'REFUND' | 'BALANCE' | 'REPRINT' | 'SETTLE' | 'SIGN_OFF' | 'OK' | 'CANCEL' | 'YES' | 'NO' | 'RETRY' | 'CONTINUE' | 'SKIP' | 'PIN_BYPASS' | 'REPRINT_LAST' | 'REPRINT_REPORT' | 'PAPER_LOADED' | 'EXPORT' | 'PASSWORD' | 'OPERATORS' | 'ECHO' }
  | { type: 'CHANGE_PASSWORD'; oldPassword: string; newPassword: string; repeated: string }
  | { type: 'RESET_PASSWORD'; operator: string; newPassword: string; repeated: string }
  | { type: 'UNLOCK'; operator: string }
  | { type: 'ADD_OPERATOR'; operator: string; role: Role; password: string; repeated: string }
  | { type: 'DELETE_OPERATOR'; operator: string }
  | { type: 'AMOUNT'; amountFen: number }
  | { type: 'KEYED'; pan: string; expiry: string }
  | { type: 'PIN'; pin: Buffer }
  | { type: 'TRACE'; stan: number }
  | { type: 'REFUND_DETAILS'; rrn: string; dateMmdd: string; amountFen: number }
  | { type: 'REPRINT_STAN'; stan: number }
  | { type: 'REPRINT_COPY'; copy: 'merchant' | 'customer' }
  | { type: 'SIGNATURE'; image: MonoImage }
  | { type: 'BATTERY'; level: 'ok' | 'low' | 'critical' }
  | { type: 'QR_SALE' | 'QR_VOID' | 'QR_REFUND' | 'QR_SCAN' | 'QR_SHOW' }
  /** A payment code keyed on the keypad (16..32 digits) instead of scanned. */
  | { type: 'QR_CODE'; code: string }
  /** From the QR wait: time left, and the order to show (主扫). */
  | { type: 'QR_TICK'; msLeft: number }
  | { type: 'QR_ORDER'; content: string; printed: boolean };

/**
 * Sales are refused at low battery; settlement still allowed, and printing down to the board's
 * print threshold (the printer the app gives refuses a job below it: E-PWR-03, runtime/print-power.ts).
 */
const STORAGE_KINDS: readonly ErrorKind[] = ['storage-full', 'storage-io', 'storage-readonly', 'journal-closed'];
/** A sale that failed for these can be tried again at once (the host or the network, not the card or the terminal). */
export const RETRYABLE_KINDS: readonly ErrorKind[] = ['host-unreachable', 'network-down', 'timeout'];
const HOST_DOWN_KINDS: readonly ErrorKind[] = ['host-unreachable', 'timeout', 'host-malformed', 'network-down'];
const PRINTER_KINDS: readonly ErrorKind[] = ['paper-out', 'cover-open', 'printer-fault', 'device-absent'];

/**
 * The printer could not print the job (any E-PRN error, a timeout too, or a printer kind): a
 * customer copy asked for then waits in the journal (receipt-pending) rather than being lost.
 */
function printerFailed(e: unknown): boolean {
  return PRINTER_KINDS.includes(kindOf(e) as ErrorKind) || (isPosError(e) && (e.code.startsWith('E-PRN-') || e.code === ERRORS.PWR_PRINT_LOW.code));
}

/**
 * The copy may have printed although no receipt-printed record says so: its transaction's copies
 * were pending at boot (a power cut loses a deferred mark; storage/JOURNAL_FORMAT.md, Durability).
 */
function mayHavePrinted(c: MachineContext, stan: number): boolean {
  return c.bootPendingStans.includes(stan);
}

export function errorView(e: unknown): ErrorView {
  const p = isPosError(e) ? e : new PosError('SYS_INVARIANT', e instanceof Error ? e.message : String(e));
  const d = p.definition;
  return { code: p.code, kind: p.kind, message: p.message, en: d.en, zh: d.zh, detail: p.detail };
}

function kindOf(e: unknown): ErrorKind | undefined {
  return isPosError(e) ? e.kind : undefined;
}

const ALL_SOURCES: readonly CardSource[] = ['swipe', 'insert', 'tap'];
/** A transaction that gave up on the stripe (swipe-failures.ts) asks for the chip or a tap only. */
const CHIP_SOURCES: readonly CardSource[] = ['insert', 'tap'];

/** What the card wait detects: every way in, or no swipe once this transaction gave it up. */
export function cardSources(c: Pick<MachineContext, 'swipeOff'>): readonly CardSource[] {
  return c.swipeOff ? CHIP_SOURCES : ALL_SOURCES;
}

/** RESUME_SESSION's guard: signed on, and the operator still as the session knew it (not deleted, locked or given another role). */
function resumable(c: MachineContext, session: Session): boolean {
  if (c.terminal?.engine.signedOn !== true) return false;
  const op = c.terminal.store.state.operators.get(session.operator);
  return op !== undefined && !op.locked && op.role === session.role;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new PosError('SYS_INVARIANT', `machine context lacks ${what}`);
  return v;
}

function resultView(r: FlowResult): ResultView {
  if (r.outcome === 'failed') return { outcome: 'failed', stan: r.stan, reversalPending: r.reversalPending };
  return { outcome: r.outcome, stan: r.txn.stan, txn: r.txn, responseCode: r.txn.responseCode, text: r.outcome === 'declined' ? { en: r.text.en, zh: r.text.zh } : undefined };
}

/** A QR flow's outcome as a result: 'pending' (unknown: resolved by query later) is a failure the error names. */
function qrResultView(r: QrFlowResult): ResultView {
  if (r.outcome === 'failed' || r.outcome === 'pending') return { outcome: 'failed', stan: r.stan };
  return resultView(r);
}

function qrErrorView(r: QrFlowResult): ErrorView | undefined {
  if (r.outcome === 'failed') return errorView(r.error);
  if (r.outcome === 'pending') {
    const why = r.why === 'cancelled' ? 'cancelled by the operator' : r.why === 'timeout' ? 'not paid within the wait' : 'no answer from the host';
    return errorView(new PosError('HOST_QR_PENDING', `QR payment ${r.stan} ${why}: the terminal asks the host before the next QR payment and settlement`, { stan: r.stan, why: r.why }));
  }
  return undefined;
}

/**
 * A trace number the reprint menu cannot find: in a settled batch this journal remembers but could
 * not rebuild (the error screen names the batch), or not at all.
 */
function notFoundForReprint(settledBatch: number | undefined, stan: number): PosError {
  if (settledBatch !== undefined) return new PosError('OPR_NOT_FOUND', `trace ${stan} belongs to settled batch ${settledBatch}: its records could not be read back`, { stan, settledBatch });
  return new PosError('OPR_NOT_FOUND', `no transaction with trace ${stan}`, { stan });
}

/** A payment code the keypad or the scanner gave: 16..32 digits (never named in the error). */
function paymentCodeError(code: string): PosError | undefined {
  return /^\d{16,32}$/.test(code) ? undefined : new PosError('OPR_PAYMENT_CODE', 'a payment code is 16..32 digits', { length: code.length });
}

export function createTerminalMachine(deps: MachineDeps) {
  /** The running QR wait's cancel (CANCEL on the waiting screen); one wait at a time. */
  let qrAbort: AbortController | undefined;
  /** 主扫 when the display cannot show the code: a slip with the QR for the customer to scan. */
  const printQrSlip = async (content: string, amountFen: number): Promise<void> => {
    await deps.printer.print({ label: 'QR order', blocks: [
      { kind: 'text', text: `RMB ${yuan(amountFen)}`, align: 'center', bold: true, label: 'amount' },
      { kind: 'qr', data: content, errorCorrection: 'M', align: 'center', label: 'order QR' },
      { kind: 'feed', lines: 3 }, { kind: 'cut', label: 'cut' },
    ] });
  };
  const printCtx = (c: MachineContext): PrintContext => ({
    printer: deps.printer, engine: need(c.terminal, 'terminal').engine, lang: deps.lang ?? 'zh', merchantName: deps.merchantName ?? 'TEST MERCHANT', clock: deps.clock,
  });
  const engineOf = (c: MachineContext) => need(c.terminal, 'terminal').engine;
  const swipes = deps.swipes ?? new SwipeFailures(deps.clock);
  /** A copy of the open batch the printer failed: logged (E-PRN-05); a customer copy waits in the journal (receipt-pending) for paper, or the next boot. */
  const keepCustomerCopy = async (c: MachineContext, stan: number, copy: 'merchant' | 'customer', e: unknown): Promise<void> => {
    if (!printerFailed(e) || engineOf(c).txn(stan) === undefined) return;
    // E-PRN-05 "Receipt not printed": the copy that failed and now waits, named in the log (and so
    // in diagnostics' last errors) beside its cause's code, which the screen shows (FIELD-FAULTS:
    // "a job that fails says which copy failed").
    const cause = isPosError(e) ? e.code : 'printer';
    engineOf(c).logger.warn({ code: ERRORS.PRN_NOT_PRINTED.code, stan, copy, cause }, `${copy} copy of trace ${String(stan).padStart(6, '0')} not printed (${cause}): it waits for the printer`);
    if (copy === 'customer') await engineOf(c).markPending(stan, 'customer', cause);
  };
  /**
   * The terminal's time and zone: the engine's clock (corrected by the host's time at sign-on) once
   * a terminal is open, so a refund's original date is checked against the host's calendar.
   */
  const nowOf = (c: MachineContext): { ms: number; zone: number } =>
    c.terminal ? { ms: c.terminal.engine.now(), zone: c.terminal.engine.tzOffsetMinutes } : { ms: deps.clock(), zone: TZ_OFFSET_MINUTES_DEFAULT };
  /** What is wrong with the refund's details (reference number, original date, amount), if anything. */
  const refundError = (c: MachineContext, e: { rrn: string; dateMmdd: string; amountFen: number }): PosError | undefined => {
    try {
      checkRefundDetails(e.rrn, e.dateMmdd, nowOf(c).ms, nowOf(c).zone);
      engineOf(c).checkAmount(e.amountFen);
      return undefined;
    } catch (err) {
      return isPosError(err) ? err : new PosError('OPR_INPUT', String(err));
    }
  };
  /** First transition of what a selling lock refuses: stay at idle with E-MGT-10 on the screen. */
  const LOCKED = { guard: 'sellingLocked', actions: 'refuseSellingLocked' } as const;

  return setup({
    types: { context: {} as MachineContext, events: {} as MachineEvent },
    actors: {
      boot: fromPromise<Terminal>(async () => { await deps.selfTest(); return deps.open(); }),
      resumePending: fromPromise<{ pendingStans: number[]; reportPending: boolean; notice?: string; noticeTxn?: NoticeTxn }, MachineContext>(async ({ input }) => {
        const engine = engineOf(input);
        let notice: string | undefined;
        // What the notice is about, for the screen after a power cut: the reversal's transaction,
        // else the QR payment's, a settlement's, or the first slip waiting.
        let noticeTxn: NoticeTxn | undefined = engine.state.pendingReversal?.kind;
        const rev = await engine.flushReversal().catch((e: unknown) => { if (isPosError(e, 'invariant') || STORAGE_KINDS.includes(kindOf(e) as ErrorKind)) throw e; return 'pending' as const; });
        if (rev === 'cleared') notice = 'reversal-sent';
        if (rev === 'pending') notice = 'reversal-pending';
        // A QR payment whose outcome is unknown: asked now; found paid, it is voided (its receipts wait
        // below). Not while a reversal is still owed: it goes before any other financial message.
        if (engine.state.pendingQrQuery && rev !== 'pending') {
          const q: QrResolution = await new QrPayments(engine, { sleep: deps.qrSleep }).resolvePending()
            .catch((e: unknown) => { if (isPosError(e, 'invariant') || STORAGE_KINDS.includes(kindOf(e) as ErrorKind)) throw e; return { resolution: 'pending' as const }; });
          if (q.resolution === 'voided') notice = 'qr-voided';
          if (q.resolution === 'pending') notice ??= 'qr-pending';
          if (notice === 'qr-voided' || notice === 'qr-pending') noticeTxn = 'qrSale';
        }
        if (engine.state.settlement && rev !== 'pending') {
          await settle(engine, undefined).then(() => { notice = 'settlement-resumed'; }, () => { notice = 'settlement-pending'; });
          noticeTxn = 'settlement';
        }
        const closed = engine.state.lastClosed;
        const pendingStans = [...new Set(engine.pendingCopies().map((p) => p.stan))];
        if (notice === undefined) noticeTxn = pendingStans.length > 0 ? engine.state.txns.get(pendingStans[0])?.kind : closed !== undefined && !closed.reportPrinted ? 'settlement' : undefined;
        return { pendingStans, reportPending: closed !== undefined && !closed.reportPrinted, notice, noticeTxn };
      }),
      login: fromPromise<Session, { c: MachineContext; operator: string; password: string }>(({ input }) => need(input.c.terminal, 'terminal').operators.login(input.operator, input.password)),
      // Their own password: the operator logged in (idle), or the administrator managing the operators.
      changePassword: fromPromise<void, { c: MachineContext; oldPassword: string; newPassword: string; repeated: string }>(({ input }) => {
        const session = need(input.c.authorizer ?? input.c.session, 'session');
        return need(input.c.terminal, 'terminal').operators.changePassword(session.operator, input.oldPassword, input.newPassword, input.repeated);
      }),
      addOperator: fromPromise<void, { c: MachineContext; e: Extract<MachineEvent, { type: 'ADD_OPERATOR' }> }>(({ input }) =>
        need(input.c.terminal, 'terminal').operators.add(input.e.operator, input.e.role, input.e.password, input.e.repeated, need(input.c.authorizer ?? input.c.session, 'session'))),
      // The operator logged in is in use too when another administrator manages.
      deleteOperator: fromPromise<void, { c: MachineContext; operator: string }>(({ input }) =>
        need(input.c.terminal, 'terminal').operators.remove(input.operator, need(input.c.authorizer ?? input.c.session, 'session'), input.c.session ? [input.c.session.operator] : [])),
      resetPassword: fromPromise<void, { c: MachineContext; operator: string; newPassword: string; repeated: string }>(({ input }) =>
        need(input.c.terminal, 'terminal').operators.resetPassword(input.operator, input.newPassword, input.repeated, need(input.c.authorizer ?? input.c.session, 'session'))),
      unlockOperator: fromPromise<void, { c: MachineContext; operator: string }>(({ input }) =>
        need(input.c.terminal, 'terminal').operators.unlock(input.operator, need(input.c.authorizer ?? input.c.session, 'session'))),
      recoveryLogin: fromPromise<Session, { operator: string; password: string }>(({ input }) => deps.recoveryLogin(input.operator, input.password)),
      signOn: fromPromise<void, MachineContext>(async ({ input }) => {
        // FIELD-FAULTS "Sign-on fails": a low battery is a known cause (the modem browns out mid-
        // exchange); refused before anything is sent, on the sign-on failure screen: charge, retry.
        if (input.battery !== 'ok') throw new PosError('PWR_LOW', 'sign-on refused: battery low', { battery: input.battery });
        const engine = engineOf(input);
        await engine.signOnWithParameters(need(input.session, 'session'));
        // The CA keys and AIDs a terminal does not have yet (first sign-on, or a download cut off).
        await downloadMissingEmvParameters(engine);
      }),
      echo: fromPromise<EchoView, MachineContext>(({ input }) => engineOf(input).echo()),
      hostTask: fromPromise<HostTaskView, { c: MachineContext; task: HostTask }>(async ({ input }) => {
        const engine = engineOf(input.c);
        try {
          if (input.task === 'echo') { const e = await engine.echo(); return { task: 'echo', responseCode: e.responseCode, roundTripMs: e.roundTripMs }; }
          if (input.task === 'params') return { task: 'params', responseCode: (await downloadAllParameters(engine)).responseCode };
          if (!deps.terminalStatus) throw new PosError('HOST_FEATURE_OFF', 'this terminal reports no status');
          return { task: 'status', responseCode: (await engine.uploadStatus(deps.terminalStatus())).responseCode };
        } catch (e) {
          if (!isPosError(e) || e.kind === 'invariant' || STORAGE_KINDS.includes(e.kind)) throw e;
          return { task: input.task, errorCode: e.code };
        }
      }),
      signOff: fromPromise<void, MachineContext>(({ input }) => engineOf(input).signOff(need(input.session, 'session'))),
      readCard: fromPromise<CardInput, { c: MachineContext; txnType: EmvTxnType }>(({ input }) => {
        const amountFen = input.txnType === 'sale' ? input.c.amountFen : input.txnType === 'refund' ? need(input.c.refund, 'refund details').amountFen : 0;
        // A chip card asked for a pre-authorization signs its amount like a sale's (EMV type 00 in this profile).
        // A sale keeps the chip card in the reader for the online half (issuer authentication, final GENERATE AC, scripts).
        const request = engineOf(input.c).cardRequest(input.txnType, amountFen);
        // So does a pre-authorization (the profile: "as a sale"); a refund's 0220 carries no 55 and a
        // balance inquiry no online half: their cards are released after the first GENERATE AC.
        const holds = (input.c.flow === 'sale' || input.c.flow === 'preAuth') && input.txnType === 'sale';
        // Only a sale may be approved offline by a qPBOC card: a pre-authorization's hold is the host's.
        const offline = input.c.flow === 'sale' && request.offlineAllowed === true;
        const asked: CardRequest = { ...request, offlineAllowed: offline, ...(holds ? { holdCard: true } : {}) };
        return deps.readCard(asked, cardSources(input.c)).then((card) => {
          // Any swipe that reads clears the count across transactions (keyed entry is not one).
          if (card.entryMode.startsWith('02')) swipes.noteRead();
          return card;
        }, async (e: unknown) => {
          // An unreadable swipe: swipe again, insert or tap instead, or reader fault (swipe-failures.ts).
          if (isUnreadableSwipe(e)) throw swipes.noteUnreadable(e, input.c.swipeFailures + 1);
          // A card the kernel refused (E-RDR-07/08/09/13) leaves a journal record, then the error screen.
          await engineOf(input.c).noteCardRefused(e, asked);
          throw e;
        });
      }),
      sale: fromPromise<FlowResult, MachineContext>(({ input }) => engineOf(input).sale({ amountFen: input.amountFen, card: need(input.card, 'card'), pin: input.pin, session: need(input.session, 'session') })),
      voidSale: fromPromise<FlowResult, MachineContext>(({ input }) => engineOf(input).voidSale(need(input.voidStan, 'trace'), need(input.authorizer ?? input.session, 'session'))),
      preAuth: fromPromise<FlowResult, MachineContext>(({ input }) => engineOf(input).preAuth({ amountFen: input.amountFen, card: need(input.card, 'card'), pin: input.pin, session: need(input.session, 'session') })),
      preAuthVoid: fromPromise<FlowResult, MachineContext>(({ input }) => engineOf(input).preAuthVoid(preAuthTarget(input), need(input.authorizer ?? input.session, 'session'))),
      completion: fromPromise<FlowResult, MachineContext>(({ input }) => engineOf(input).completion(preAuthTarget(input), input.amountFen, need(input.session, 'session'))),
      completionVoid: fromPromise<FlowResult, MachineContext>(({ input }) => engineOf(input).completionVoid(need(input.voidStan, 'trace'), need(input.authorizer ?? input.session, 'session'))),
      refund: fromPromise<FlowResult, MachineContext>(({ input }) => {
        const r = need(input.refund, 'refund details');
        return engineOf(input).refund({ amountFen: r.amountFen, card: need(input.card, 'card'), session: need(input.authorizer ?? input.session, 'session'), origRrn: r.rrn, origDateMmdd: r.dateMmdd });
      }),
      balance: fromPromise<number | undefined, MachineContext>(async ({ input }) => {
        const b = await engineOf(input).balance(need(input.card, 'card'), need(input.pin, 'PIN'), need(input.session, 'session'));
        if (b.responseCode !== '00') throw new PosError('HOST_DECLINED', `${b.responseCode} ${b.text.en}`, { responseCode: b.responseCode });
        return b.balance?.amountFen;
      }),
      scanCode: fromPromise<string>(({ signal }) => (deps.scanCode ? deps.scanCode(signal) : Promise.reject(new PosError('SCN_DISCONNECTED', 'no scanner on this board: key the code')))),
      qrPay: fromPromise<QrFlowResult, MachineContext>(async ({ input, self }) => {
        const engine = engineOf(input);
        const ac = new AbortController();
        qrAbort = ac;
        const parent = self._parent;
        const showable = deps.qrShowable ?? ((content: string) => content.length <= QR_SHOW_CHARS_MAX);
        const wait = {
          signal: ac.signal,
          onCountdown: (msLeft: number) => parent?.send({ type: 'QR_TICK', msLeft }),
          onOrder: (content: string) => {
            // A code the display cannot show is printed for the customer to scan (never a charge without it shown).
            const printed = !showable(content);
            if (printed) void printQrSlip(content, input.amountFen).catch((e: unknown) => engine.logger.warn({ err: String(e) }, 'QR code could not be printed'));
            parent?.send({ type: 'QR_ORDER', content, printed });
          },
        };
        const qr = new QrPayments(engine, { sleep: deps.qrSleep });
        const session = need(input.session, 'session');
        try {
          if (input.qrMode === 'show') return await qr.order({ amountFen: input.amountFen, session }, wait);
          return await qr.sale({ amountFen: input.amountFen, paymentCode: need(input.qrCode, 'payment code'), session }, wait);
        } finally {
          if (qrAbort === ac) qrAbort = undefined;
        }
      }),
      qrVoid: fromPromise<QrFlowResult, MachineContext>(({ input }) => new QrPayments(engineOf(input), { sleep: deps.qrSleep }).voidSale(need(input.voidStan, 'trace'), need(input.authorizer ?? input.session, 'session'))),
      qrRefund: fromPromise<QrFlowResult, MachineContext>(({ input }) => new QrPayments(engineOf(input), { sleep: deps.qrSleep }).refund(need(input.voidStan, 'trace'), input.amountFen, need(input.authorizer ?? input.session, 'session'))),
      printCopy: fromPromise<void, { c: MachineContext; stan: number; copy: 'merchant' | 'customer'; outsideFlow?: boolean }>(async ({ input }) => {
        try {
          // Marked as a reprint only when printed before (or maybe, before a power cut); a copy
          // printed outside its flow (the reprint menu) is journaled durably.
          await printReceipt(printCtx(input.c), input.stan, input.copy, { mayHavePrinted: mayHavePrinted(input.c, input.stan), durable: input.outsideFlow === true });
        } catch (e) {
          // A customer copy asked for waits in the journal (a merchant copy is pending until printed).
          await keepCustomerCopy(input.c, input.stan, input.copy, e);
          throw e;
        }
      }),
      // The customer copies offered (offerCustomerCopy): each printed as the original it is.
      printCustomerOffer: fromPromise<void, MachineContext>(async ({ input }) => {
        const engine = engineOf(input);
        for (const stan of input.customerOffer) {
          if (engine.txn(stan)?.printed.includes('customer') !== false) continue;
          try {
            await printReceipt(printCtx(input), stan, 'customer', { mayHavePrinted: mayHavePrinted(input, stan), durable: true });
          } catch (e) {
            for (const rest of input.customerOffer.slice(input.customerOffer.indexOf(stan))) await keepCustomerCopy(input, rest, 'customer', e);
            throw e;
          }
        }
      }),
      // Resolves with the transactions whose customer copy to offer: their merchant copy printed here,
      // late, in this session, so the flow's question was never asked (offerCustomerCopy), unless the
      // flow goes on to ask it.
      printPending: fromPromise<number[], MachineContext>(async ({ input }) => {
        const engine = engineOf(input);
        const lateMerchant: number[] = [];
        // The copy the flow stopped at, as the original it is (a reprint asked for from the menu: as
        // printed before or not); then what waited from before (boot: maybe printed before the cut).
        const w = input.waiting;
        if (w?.reprint) await printReceipt(printCtx(input), w.stan, w.copy, { mayHavePrinted: mayHavePrinted(input, w.stan), durable: true });
        else if (w && !engine.txn(w.stan)?.printed.includes(w.copy)) {
          await printReceipt(printCtx(input), w.stan, w.copy, { mayHavePrinted: mayHavePrinted(input, w.stan) });
          if (w.copy === 'merchant' && w.then === 'idle') lateMerchant.push(w.stan);
        }
        const waits = engine.pendingCopies();
        for (const stan of input.pendingStans) {
          for (const p of waits) {
            if (p.stan !== stan || engine.txn(stan)?.printed.includes(p.copy)) continue;
            await printReceipt(printCtx(input), stan, p.copy, { mayHavePrinted: mayHavePrinted(input, stan) });
            if (p.copy === 'merchant' && !(w && w.stan === stan && w.then !== 'idle')) lateMerchant.push(stan);
          }
        }
        const closed = engineOf(input).state.lastClosed;
        if (input.reportPending && closed && (!closed.reportPrinted || input.reportPending === 'reprint')) await printSettlementReport(printCtx(input), true);
        return [...new Set(lateMerchant)].filter((stan) => !mayHavePrinted(input, stan) && engine.txn(stan)?.printed.includes('customer') === false);
      }),
      printReport: fromPromise<void, { c: MachineContext; reprint: boolean }>(({ input }) => printSettlementReport(printCtx(input.c), input.reprint)),
      saveSignature: fromPromise<void, { c: MachineContext; stan: number; image: MonoImage }>(({ input }) => engineOf(input.c).saveSignature(input.stan, input.image)),
      settle: fromPromise<SettlementReport, MachineContext>(async ({ input }) => {
        const report = await settle(engineOf(input), need(input.authorizer ?? input.session, 'session'));
        // The profile's status upload after settlement: best effort, the batch is closed either way.
        if (deps.terminalStatus && engineOf(input).featureAvailable('status')) await engineOf(input).uploadStatus(deps.terminalStatus()).catch(() => undefined);
        return report;
      }),
      // The supervisor of this settlement gives the unsent offline sales up; the list prints first (profile).
      giveUpOffline: fromPromise<void, MachineContext>(async ({ input }) => {
        const engine = engineOf(input);
        const list = engine.pendingAdvices();
        if (list.length === 0) return;
        const ids = engine.config.ids;
        const entries = list.map((t) => ({ stan: t.stan, amountFen: t.amountFen, panMasked: t.panMasked, state: 'abandoned' as const, responseCode: '--', ...(t.offlineSends !== undefined ? { sends: t.offlineSends } : {}) }));
        await deps.printer.print(offlineAbandonedJob(entries, {
          lang: deps.lang ?? 'zh', tid: ids.tid, mid: ids.mid, merchantName: engine.merchantName ?? deps.merchantName ?? '', atMs: engine.now(), tzOffsetMinutes: engine.tzOffsetMinutes,
        }));
        await engine.abandonAdvices(need(input.authorizer ?? input.session, 'session'));
      }),
      checkStorage: fromPromise<void, MachineContext>(async ({ input }) => { need(input.terminal, 'terminal').store.journal.recheck(); }),
      exportJournal: fromPromise<string>(() => (deps.exportJournal ? deps.exportJournal() : Promise.reject(new PosError('STO_EXPORT_TARGET', 'no export target on this board')))),
      shutdown: fromPromise<void, MachineContext>(async ({ input }) => {
        await input.terminal?.store.journal.close();
        await deps.shutdown?.();
      }),
    },
    guards: {
      hasSession: ({ context }) => context.session !== undefined,
      copiesWaiting: ({ context }) => engineOf(context).pendingCopies().length > 0,
      saleSignatureNext: ({ context }) => context.session !== undefined && (context.waiting?.then === 'sale.askCustomerCopy' || context.waiting?.then === 'sale.signature'),
      retryableFailure: ({ context }) => context.error !== undefined && RETRYABLE_KINDS.includes(context.error.kind),
      batteryLow: ({ context }) => context.battery !== 'ok',
      batteryCritical: ({ context }) => context.battery === 'critical',
      amountValid: ({ context, event }) => {
        if (event.type !== 'AMOUNT') return false;
        try { engineOf(context).checkAmount(event.amountFen); return true; } catch { return false; }
      },
      needsConfirm: ({ context }) => context.amountFen > engineOf(context).confirmAboveFen,
      hasDuplicate: ({ context }) => context.duplicate !== undefined,
      pinRequired: ({ context }) => context.card?.pinRequired === true,
      keyedAllowed: () => deps.allowKeyed === true,
      keyedValid: ({ context, event }) => deps.allowKeyed === true && event.type === 'KEYED' && keyedError(event, nowOf(context)) === undefined,
      refundValid: ({ context, event }) => event.type === 'REFUND_DETAILS' && refundError(context, event) === undefined,
      approved: ({ event }) => (event as unknown as { output: FlowResult }).output.outcome === 'approved',
      storageError: ({ event }) => STORAGE_KINDS.includes(kindOf((event as unknown as { error?: unknown; output?: FlowResult }).error ?? failedError(event)) as ErrorKind),
      printerError: ({ event }) => PRINTER_KINDS.includes(kindOf((event as unknown as { error: unknown }).error) as ErrorKind),
      hostDown: ({ event }) => HOST_DOWN_KINDS.includes(kindOf((event as unknown as { error: unknown }).error) as ErrorKind),
      isSupervisor: ({ context }) => context.session?.role === 'supervisor' || context.session?.role === 'administrator',
      isAdministrator: ({ context }) => context.session?.role === 'administrator',
      lockedOut: ({ event }) => kindOf((event as unknown as { error: unknown }).error) === 'locked-out',
      hasPending: ({ context }) => context.pendingStans.length > 0 || context.reportPending !== false,
      signedOn: ({ context }) => engineOf(context).signedOn,
      signedOnSession: ({ context }) => context.session !== undefined && engineOf(context).signedOn,
      preAuthOffered: ({ context }) => engineOf(context).featureAvailable('preAuth'),
      qrOffered: ({ context }) => engineOf(context).featureAvailable('qr'),
      sellingLocked: ({ context }) => engineOf(context).sellingLock !== undefined,
      qrApproved: ({ event }) => (event as unknown as { output: QrFlowResult }).output.outcome === 'approved',
      qrPaymentOf: ({ context, event }) => event.type === 'TRACE' && qrOriginalError(context, event.stan) === undefined,
      holdOpen: ({ context, event }) => event.type === 'TRACE' && engineOf(context).state.preAuths.get(event.stan)?.state === 'open',
      completionAmountValid: ({ context, event }) => event.type === 'AMOUNT' && completionError(context, event.amountFen) === undefined,
    },
    actions: {
      setError: assign({ error: ({ event }) => errorView((event as unknown as { error: unknown }).error) }),
      // A card wait's error: an unreadable swipe carries this transaction's count and whether the swipe is given up.
      countSwipe: assign(({ context, event }) => {
        const e = (event as unknown as { error: unknown }).error;
        if (!isPosError(e) || typeof e.detail.swipeFailures !== 'number') return {};
        return { swipeFailures: e.detail.swipeFailures, swipeOff: context.swipeOff || e.detail.swipeOff === true };
      }),
      clearError: assign({ error: undefined }),
      resetFlow: assign(({ context }) => { void context.card?.online?.release(); return { amountFen: 0, card: undefined, pin: undefined, duplicate: undefined, voidStan: undefined, refund: undefined, result: undefined, balanceFen: undefined, authorizer: undefined, error: undefined, flow: undefined, operatorChange: undefined, preAuthOriginal: undefined, qrMode: undefined, qrCode: undefined, qrWait: undefined, reprintOf: undefined, swipeFailures: 0, swipeOff: false }; }),
      refuseQrOff: assign({ error: () => errorView(new PosError('HOST_FEATURE_OFF', 'QR payments are not offered by the host')) }),
      refuseSellingLocked: assign({ error: () => errorView(new PosError('MGT_SELLING_LOCKED', 'selling is locked by the management console: sales, pre-authorizations, completions and refunds are refused')) }),
      setQrResult: assign({ result: ({ event }) => qrResultView((event as unknown as { output: QrFlowResult }).output), qrCode: undefined, error: ({ event }) => qrErrorView((event as unknown as { output: QrFlowResult }).output) }),
      refuseFeatureOff: assign({ error: () => errorView(new PosError('HOST_FEATURE_OFF', 'pre-authorization is not offered by the host')) }),
      setResult: assign({ result: ({ event }) => resultView((event as unknown as { output: FlowResult }).output), pin: undefined }),
      setBattery: assign({ battery: ({ event }) => (event.type === 'BATTERY' ? event.level : 'ok') }),
      // A chip card kept in the reader for the online half (CardInput.online) is let go with it.
      forgetCard: assign(({ context }) => { void context.card?.online?.release(); return { card: undefined, pin: undefined }; }),
    },
  }).createMachine({
    id: 'terminal',
    initial: 'boot',
    context: { battery: 'ok', amountFen: 0, pendingStans: [], bootPendingStans: [], customerOffer: [], reportPending: false, keyedAllowed: deps.allowKeyed === true, swipeFailures: 0, swipeOff: false },
    on: { BATTERY: { actions: 'setBattery' } },
    states: {
      boot: {
        invoke: {
          src: 'boot',
          onDone: [
            { guard: () => deps.recoveryRequested?.() === true, target: 'recovery', actions: assign({ terminal: ({ event }) => event.output, notice: 'reset-held' }) },
            { target: 'pendingWork', actions: assign({ terminal: ({ event }) => event.output }) },
          ],
          onError: { target: 'recovery', actions: 'setError' },
        },
      },
      recovery: {
        initial: 'locked',
        // Entry actions run after the transition's own (notice, setError): both are known here.
        entry: assign({ recoveryReason: ({ context }): RecoveryReason | undefined => (context.notice === 'reset-held' ? { resetHeld: true } : context.error ? { code: context.error.code } : undefined) }),
        states: {
          locked: { on: { LOGIN: 'authenticating' } },
          authenticating: {
            invoke: {
              src: 'recoveryLogin',
              input: ({ event }) => ({ operator: (event as { operator: string }).operator, password: (event as { password: string }).password }),
              onDone: [
                // The service technician's menu: the service administrator only (boot/README.md, "Who opens the recovery menu").
                { guard: ({ event }) => mayOpenRecovery(event.output), target: 'menu', actions: assign({ session: ({ event }) => event.output }) },
                { guard: ({ event }) => event.output.role === 'administrator', target: 'locked', actions: assign({ notice: 'service-required' }) },
                { target: 'locked', actions: assign({ notice: 'administrator-required' }) },
              ],
              onError: { target: 'locked', actions: 'setError' },
            },
          },
          menu: { on: { EXPORT: 'exporting' } },
          exporting: {
            invoke: {
              src: 'exportJournal',
              onDone: { target: 'menu', actions: assign({ exportedTo: ({ event }) => event.output }) },
              onError: { target: 'menu', actions: 'setError' },
            },
          },
        },
      },
      pendingWork: {
        invoke: {
          src: 'resumePending',
          input: ({ context }) => context,
          onDone: [
            { guard: ({ event }) => event.output.pendingStans.length > 0 || event.output.reportPending, target: 'offerReprint', actions: assign(({ event }) => ({ ...event.output, bootPendingStans: event.output.pendingStans })) },
            { target: 'login', actions: assign(({ event }) => ({ ...event.output, bootPendingStans: event.output.pendingStans })) },
          ],
          onError: [
            { guard: 'storageError', target: 'storageFailure', actions: 'setError' },
            { target: 'recovery', actions: 'setError' },
          ],
        },
      },
      offerReprint: {
        on: { YES: 'printingPending', NO: { target: 'login', actions: assign({ pendingStans: [], reportPending: false }) } },
      },
      printingPending: {
        invoke: {
          src: 'printPending',
          input: ({ context }) => context,
          onDone: { target: 'login', actions: assign({ pendingStans: [], reportPending: false }) },
          onError: { target: 'paperOut', actions: 'setError' },
        },
      },
      // "Customer copy not printed: print it?" (FIELD-FAULTS, receipt lost): a merchant copy of this
      // session printed late (paper back at idle) and its flow never asked. YES prints it (a printer
      // fault: it waits in the journal, as any customer copy asked for); NO leaves it to the reprint
      // menu. Copies pending at boot are not offered: what became of them before the cut is unknown
      // (they print as duplicates; the reprint menu has the customer copy).
      offerCustomerCopy: {
        on: { YES: 'printingCustomerOffer', NO: { target: 'idle', actions: assign({ customerOffer: [] }) } },
      },
      printingCustomerOffer: {
        invoke: {
          src: 'printCustomerOffer',
          input: ({ context }) => context,
          onDone: { target: 'idle', actions: assign({ customerOffer: [] }) },
          onError: { target: 'paperOut', actions: [assign({ pendingStans: ({ context }) => [...context.customerOffer], customerOffer: [] }), 'setError'] },
        },
      },
      login: {
        entry: assign({ session: undefined }),
        // A handheld shuts down at critical battery with nobody signed in too (as at idle and on
        // the low-battery screen): the journal is closed before the power goes.
        always: { guard: 'batteryCritical', target: 'shutdown' },
        on: {
          LOGIN: 'authenticating',
          RESUME_SESSION: {
            guard: ({ context, event }) => resumable(context, event.session),
            target: 'idle',
            actions: [assign({ session: ({ event }) => event.session, notice: undefined, noticeTxn: undefined }), 'clearError'],
          },
        },
      },
      authenticating: {
        invoke: {
          src: 'login',
          input: ({ context, event }) => ({ c: context, operator: (event as { operator: string }).operator, password: (event as { password: string }).password }),
          onDone: [
            // The boot's notice (what a power cut left) was shown at the login: read once someone logs in.
            { guard: ({ context }) => context.terminal?.engine.signedOn === true, target: 'idle', actions: [assign({ session: ({ event }) => event.output, notice: undefined, noticeTxn: undefined }), 'clearError'] },
            { target: 'signOn', actions: [assign({ session: ({ event }) => event.output, notice: undefined, noticeTxn: undefined }), 'clearError'] },
          ],
          onError: { target: 'login', actions: 'setError' },
        },
      },
      signOn: {
        invoke: {
          src: 'signOn',
          input: ({ context }) => context,
          onDone: { target: 'idle', actions: 'clearError' },
          onError: [
            { guard: 'storageError', target: 'storageFailure', actions: 'setError' },
            { target: 'hostUnreachable', actions: 'setError' },
          ],
        },
      },
      hostUnreachable: {
        on: { RETRY: { target: 'signOn', actions: assign({ echo: undefined }) }, CANCEL: { target: 'login', actions: assign({ echo: undefined }) }, ECHO: 'echoTest' },
      },
      // "Is it the network or the host?" (FIELD-FAULTS seed 004): an echo test (no keys needed), its
      // outcome shown on the sign-on failure screen.
      echoTest: {
        invoke: {
          src: 'echo',
          input: ({ context }) => context,
          onDone: { target: 'hostUnreachable', actions: assign({ echo: ({ event }) => event.output }) },
          onError: [
            { guard: 'storageError', target: 'storageFailure', actions: 'setError' },
            { target: 'hostUnreachable', actions: assign({ echo: ({ event }) => ({ errorCode: isPosError(event.error) ? event.error.code : 'E-SYS-99' }) }) },
          ],
        },
      },
      idle: {
        entry: 'resetFlow',
        always: { guard: 'batteryCritical', target: 'shutdown' },
        on: {
          // A lock from the management console (issue 12 item 5) refuses what takes or pays out
          // money; voids, settlement, reprints and the balance inquiry still work.
          SALE: [LOCKED, { guard: 'batteryLow', target: 'lowBattery' }, { target: 'sale' }],
          VOID: 'void', REFUND: [LOCKED, { target: 'refund' }], BALANCE: 'balance', REPRINT: 'reprint', SETTLE: 'settlement', SIGN_OFF: 'signOff', LOGOUT: 'login',
          PASSWORD: 'password', OPERATORS: 'operators',
          HOST_TASK: { target: 'hostTask', actions: assign({ hostTask: ({ event }) => ({ task: event.task }) }) },
          PRE_AUTH: [LOCKED, { guard: 'batteryLow', target: 'lowBattery' }, { guard: 'preAuthOffered', target: 'preAuth' }, { actions: 'refuseFeatureOff' }],
          PRE_AUTH_VOID: [{ guard: 'preAuthOffered', target: 'preAuthVoid' }, { actions: 'refuseFeatureOff' }],
          COMPLETION: [LOCKED, { guard: 'batteryLow', target: 'lowBattery' }, { guard: 'preAuthOffered', target: 'completion' }, { actions: 'refuseFeatureOff' }],
          COMPLETION_VOID: [{ guard: 'preAuthOffered', target: 'completionVoid' }, { actions: 'refuseFeatureOff' }],
          QR_SALE: [LOCKED, { guard: 'batteryLow', target: 'lowBattery' }, { guard: 'qrOffered', target: 'qr' }, { actions: 'refuseQrOff' }],
          QR_VOID: [{ guard: 'qrOffered', target: 'qrVoid' }, { actions: 'refuseQrOff' }],
          QR_REFUND: [LOCKED, { guard: 'qrOffered', target: 'qrRefund' }, { actions: 'refuseQrOff' }],
          // The paper sensor back to OK (boot/terminal-app.ts) while copies wait (a paper-out screen
          // cancelled): they print now, in order, as README promises; a new fault: paperOut again.
          PAPER_LOADED: { guard: 'copiesWaiting', target: 'reprintPending', actions: assign({ pendingStans: ({ context }) => [...new Set(engineOf(context).pendingCopies().map((p) => p.stan))] }) },
        },
      },
      // Parameter download, status upload or echo test asked for from the settings menu (profile V2:
      // "from the menu", "on request"): the host's answer or the error, then OK.
      hostTask: {
        initial: 'running',
        on: { CANCEL: 'idle' },
        states: {
          running: {
            on: { CANCEL: {} },
            invoke: {
              src: 'hostTask',
              input: ({ context }) => ({ c: context, task: need(context.hostTask, 'host task').task }),
              onDone: { target: 'done', actions: assign({ hostTask: ({ event }) => event.output }) },
              onError: { target: '#terminal.storageFailure', actions: 'setError' },
            },
          },
          done: { on: { OK: '#terminal.idle' } },
        },
      },
      // ---- the pre-authorization family (docs/PROTOCOL.md V2): a hold, its void, its completion
      // (within 115%), the completion's void. Voids need a supervisor, as for a sale's void.
      preAuth: {
        initial: 'amount',
        entry: assign({ flow: 'preAuth' }),
        on: { CANCEL: { target: 'idle', actions: 'forgetCard' } },
        states: {
          amount: {
            on: {
              AMOUNT: [
                { guard: 'amountValid', target: 'card', actions: [assign({ amountFen: ({ event }) => event.amountFen }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(new PosError('OPR_AMOUNT', `amount ${event.amountFen} fen not allowed`, { amountFen: event.amountFen })) }) },
              ],
            },
          },
          card: cardStates('sale', 'pin'),
          cardError: { on: { RETRY: { target: 'card', actions: 'clearError' } } },
          pin: {
            always: { guard: ({ context }) => context.card?.pinRequired !== true && context.card?.entryMode !== '021', target: 'online' },
            on: {
              PIN: { target: 'online', actions: assign({ pin: ({ event }) => event.pin, card: ({ context }) => withPin(need(context.card, 'card'), true) }) },
              PIN_BYPASS: { target: 'online', actions: assign({ card: ({ context }) => withPin(need(context.card, 'card'), false) }) },
            },
          },
          online: financialOnline('preAuth'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      preAuthVoid: {
        initial: 'authorize',
        entry: assign({ flow: 'preAuthVoid' }),
        on: { CANCEL: { target: 'idle', actions: 'forgetCard' } },
        states: {
          authorize: authorizeStates('preAuthVoid.original'),
          original: {
            on: {
              TRACE: [
                { guard: 'holdOpen', target: 'confirm', actions: [assign({ preAuthOriginal: ({ event }) => ({ stan: event.stan }), voidStan: ({ event }) => event.stan }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(new PosError('OPR_NOT_FOUND', `no open pre-authorization with trace ${event.stan}`, { stan: event.stan })) }) },
              ],
              PREAUTH_KEYED: [
                { guard: ({ context, event }) => keyedOriginalError(context, event, true) === undefined, target: 'card', actions: [assign({ preAuthOriginal: ({ event }) => ({ keyed: { authCode: event.authCode, dateMmdd: event.dateMmdd, amountFen: event.amountFen } }), amountFen: ({ event }) => event.amountFen ?? 0 }), 'clearError'] },
                { actions: assign({ error: ({ context, event }) => errorView(keyedOriginalError(context, event, true)) }) },
              ],
            },
          },
          confirm: { on: { OK: 'online' } },
          card: cardStates('sale', 'online'),
          cardError: { on: { RETRY: { target: 'card', actions: 'clearError' } } },
          online: financialOnline('preAuthVoid'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      completion: {
        initial: 'original',
        entry: assign({ flow: 'completion' }),
        on: { CANCEL: { target: 'idle', actions: 'forgetCard' } },
        states: {
          original: {
            on: {
              TRACE: [
                { guard: 'holdOpen', target: 'amount', actions: [assign({ preAuthOriginal: ({ event }) => ({ stan: event.stan }), voidStan: ({ event }) => event.stan }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(new PosError('OPR_NOT_FOUND', `no open pre-authorization with trace ${event.stan}`, { stan: event.stan })) }) },
              ],
              PREAUTH_KEYED: [
                { guard: ({ context, event }) => keyedOriginalError(context, event, false) === undefined, target: 'card', actions: [assign({ preAuthOriginal: ({ event }) => ({ keyed: { authCode: event.authCode, dateMmdd: event.dateMmdd } }) }), 'clearError'] },
                { actions: assign({ error: ({ context, event }) => errorView(keyedOriginalError(context, event, false)) }) },
              ],
            },
          },
          card: cardStates('sale', 'amount'),
          cardError: { on: { RETRY: { target: 'card', actions: 'clearError' } } },
          amount: {
            on: {
              AMOUNT: [
                { guard: 'completionAmountValid', target: 'online', actions: [assign({ amountFen: ({ event }) => event.amountFen }), 'clearError'] },
                { actions: assign({ error: ({ context, event }) => errorView(completionError(context, event.amountFen)) }) },
              ],
            },
          },
          online: financialOnline('completion'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      completionVoid: {
        initial: 'authorize',
        entry: assign({ flow: 'completionVoid' }),
        on: { CANCEL: 'idle' },
        states: {
          authorize: authorizeStates('completionVoid.trace'),
          trace: {
            on: {
              TRACE: [
                { guard: ({ context, event }) => engineOf(context).txn(event.stan)?.status === 'approved' && engineOf(context).txn(event.stan)?.kind === 'completion', target: 'confirm', actions: [assign({ voidStan: ({ event }) => event.stan }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(new PosError('OPR_NOT_FOUND', `no voidable completion with trace ${event.stan}`, { stan: event.stan })) }) },
              ],
            },
          },
          confirm: { on: { OK: 'online' } },
          online: financialOnline('completionVoid'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      // ---- QR payments (docs/PROTOCOL.md V2, runtime/txn/qr.ts): 被扫 scans (or keys) the
      // customer's code, 主扫 shows the terminal's; the wait counts down and CANCEL gives up on it
      // (the payment stays pending, resolved by query later, never reversed). Void and refund need
      // a supervisor, as for a card.
      qr: {
        initial: 'amount',
        entry: assign({ flow: 'qr' }),
        on: { CANCEL: { target: 'idle', actions: assign({ qrCode: undefined }) } },
        states: {
          amount: {
            on: {
              AMOUNT: [
                { guard: 'amountValid', target: 'mode', actions: [assign({ amountFen: ({ event }) => event.amountFen }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(new PosError('OPR_AMOUNT', `amount ${event.amountFen} fen not allowed`, { amountFen: event.amountFen })) }) },
              ],
            },
          },
          mode: { on: { QR_SCAN: { target: 'scan', actions: assign({ qrMode: 'scan' }) }, QR_SHOW: { target: 'waiting', actions: assign({ qrMode: 'show' }) } } },
          scan: {
            invoke: {
              src: 'scanCode',
              onDone: [
                { guard: ({ event }) => paymentCodeError(event.output) === undefined, target: 'waiting', actions: [assign({ qrCode: ({ event }) => event.output }), 'clearError'] },
                { target: 'scanError', actions: assign({ error: ({ event }) => errorView(paymentCodeError(event.output)) }) },
              ],
              onError: { target: 'scanError', actions: 'setError' },
            },
            on: {
              QR_CODE: [
                { guard: ({ event }) => paymentCodeError(event.code) === undefined, target: 'waiting', actions: [assign({ qrCode: ({ event }) => event.code }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(paymentCodeError(event.code)) }) },
              ],
            },
          },
          scanError: {
            on: {
              RETRY: { target: 'scan', actions: 'clearError' },
              QR_CODE: [
                { guard: ({ event }) => paymentCodeError(event.code) === undefined, target: 'waiting', actions: [assign({ qrCode: ({ event }) => event.code }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(paymentCodeError(event.code)) }) },
              ],
            },
          },
          waiting: {
            entry: assign({ qrWait: {} }),
            on: {
              // Stops the wait at its next pause; the payment stays pending (qr.ts), the result says so.
              CANCEL: { actions: () => { qrAbort?.abort(); } },
              QR_TICK: { actions: assign({ qrWait: ({ context, event }) => ({ ...context.qrWait, msLeft: event.msLeft }) }) },
              QR_ORDER: { actions: assign({ qrWait: ({ context, event }) => ({ ...context.qrWait, content: event.content, printed: event.printed }) }) },
            },
            invoke: {
              src: 'qrPay',
              input: ({ context }) => context,
              onDone: [
                { guard: 'qrApproved', target: 'printMerchant', actions: 'setQrResult' },
                { target: 'result', actions: 'setQrResult' },
              ],
              onError: [
                { guard: 'storageError', target: '#terminal.storageFailure', actions: ['setError', assign({ qrCode: undefined })] },
                { target: 'result', actions: ['setError', assign({ qrCode: undefined })] },
              ],
            },
          },
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      qrVoid: {
        initial: 'authorize',
        entry: assign({ flow: 'qrVoid' }),
        on: { CANCEL: 'idle' },
        states: {
          authorize: authorizeStates('qrVoid.trace'),
          trace: {
            on: {
              TRACE: [
                { guard: 'qrPaymentOf', target: 'confirm', actions: [assign({ voidStan: ({ event }) => event.stan }), 'clearError'] },
                { actions: assign({ error: ({ context, event }) => errorView(qrOriginalError(context, event.stan)) }) },
              ],
            },
          },
          confirm: { on: { OK: 'online' } },
          online: qrOnline('qrVoid'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      qrRefund: {
        initial: 'authorize',
        entry: assign({ flow: 'qrRefund' }),
        on: { CANCEL: 'idle' },
        states: {
          authorize: authorizeStates('qrRefund.trace'),
          trace: {
            on: {
              TRACE: [
                { guard: 'qrPaymentOf', target: 'amount', actions: [assign({ voidStan: ({ event }) => event.stan }), 'clearError'] },
                { actions: assign({ error: ({ context, event }) => errorView(qrOriginalError(context, event.stan)) }) },
              ],
            },
          },
          amount: {
            on: {
              AMOUNT: [
                { guard: ({ context, event }) => qrRefundAmountError(context, event.amountFen) === undefined, target: 'online', actions: [assign({ amountFen: ({ event }) => event.amountFen }), 'clearError'] },
                { actions: assign({ error: ({ context, event }) => errorView(qrRefundAmountError(context, event.amountFen)) }) },
              ],
            },
          },
          online: qrOnline('qrRefund'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      // Any operator changes their own password: old, new, new again (E-OPR-13/14/15 refuse the
      // new one; a wrong old one is counted like a login and can lock: then back to login).
      password: {
        initial: 'entry',
        on: { CANCEL: 'idle' },
        states: {
          entry: { on: { CHANGE_PASSWORD: 'changing' } },
          changing: changingOwnPassword('entry'),
          done: { on: { OK: '#terminal.idle' } },
        },
      },
      // An administrator (asked for when someone else is logged in) manages the operators
      // (操作员管理): adds one, deletes one, lists them (the view's `operators`), resets another's
      // password, unlocks a locked-out one, changes their own password.
      operators: {
        initial: 'authorize',
        on: { CANCEL: 'idle' },
        states: {
          authorize: authorizeStates('choose', 'administrator'),
          choose: {
            on: {
              RESET_PASSWORD: { target: 'resetting', actions: assign({ operatorChange: ({ event }) => ({ action: 'reset' as const, operator: event.operator }) }) },
              UNLOCK: { target: 'unlocking', actions: assign({ operatorChange: ({ event }) => ({ action: 'unlocked' as const, operator: event.operator }) }) },
              ADD_OPERATOR: { target: 'adding', actions: assign({ operatorChange: ({ event }) => ({ action: 'added' as const, operator: event.operator }) }) },
              DELETE_OPERATOR: { target: 'deleting', actions: assign({ operatorChange: ({ event }) => ({ action: 'deleted' as const, operator: event.operator }) }) },
              CHANGE_PASSWORD: 'changingMine',
            },
          },
          adding: operatorTask('addOperator', ({ context, event }) => ({ c: context, e: event as Extract<MachineEvent, { type: 'ADD_OPERATOR' }> })),
          deleting: operatorTask('deleteOperator', ({ context, event }) => ({ c: context, operator: (event as Extract<MachineEvent, { type: 'DELETE_OPERATOR' }>).operator })),
          changingMine: changingOwnPassword('choose'),
          resetting: {
            on: { CANCEL: {} },
            invoke: {
              src: 'resetPassword',
              input: ({ context, event }) => {
                const e = event as Extract<MachineEvent, { type: 'RESET_PASSWORD' }>;
                return { c: context, operator: e.operator, newPassword: e.newPassword, repeated: e.repeated };
              },
              onDone: { target: 'done', actions: 'clearError' },
              onError: [
                { guard: 'storageError', target: '#terminal.storageFailure', actions: 'setError' },
                { target: 'choose', actions: 'setError' },
              ],
            },
          },
          unlocking: {
            on: { CANCEL: {} },
            invoke: {
              src: 'unlockOperator',
              input: ({ context, event }) => ({ c: context, operator: (event as Extract<MachineEvent, { type: 'UNLOCK' }>).operator }),
              onDone: { target: 'done', actions: 'clearError' },
              onError: [
                { guard: 'storageError', target: '#terminal.storageFailure', actions: 'setError' },
                { target: 'choose', actions: 'setError' },
              ],
            },
          },
          done: { on: { OK: '#terminal.idle' } },
        },
      },
      lowBattery: {
        always: { guard: 'batteryCritical', target: 'shutdown' },
        on: { SETTLE: 'settlement', REPRINT: 'reprint', OK: 'idle', CANCEL: 'idle' },
      },
      shutdown: {
        invoke: { src: 'shutdown', input: ({ context }) => context, onDone: 'off', onError: 'off' },
      },
      off: { type: 'final' },
      sale: {
        initial: 'amount',
        entry: assign({ flow: 'sale' }),
        on: { CANCEL: { target: 'idle', actions: 'forgetCard' } },
        states: {
          amount: {
            on: {
              AMOUNT: [
                { guard: 'amountValid', target: 'checkAmount', actions: [assign({ amountFen: ({ event }) => event.amountFen }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(new PosError('OPR_AMOUNT', `amount ${event.amountFen} fen not allowed`, { amountFen: event.amountFen })) }) },
              ],
            },
          },
          checkAmount: { always: [{ guard: 'needsConfirm', target: 'confirm' }, { target: 'card' }] },
          confirm: { on: { OK: 'card' } },
          card: {
            invoke: {
              src: 'readCard',
              input: ({ context }) => ({ c: context, txnType: 'sale' as const }),
              onDone: { target: 'checkDuplicate', actions: assign({ card: ({ event }) => event.output }) },
              onError: { target: 'cardError', actions: ['setError', 'countSwipe'] },
            },
            on: {
              KEYED: [
                { guard: 'keyedValid', target: 'checkDuplicate', actions: [assign({ card: ({ event }) => keyedCard(event.pan, event.expiry) }), 'clearError'] },
                // A wrong number or expiry: the error, and the card wait goes on (nothing lost).
                { guard: 'keyedAllowed', actions: assign({ error: ({ context, event }) => errorView(keyedError(event, nowOf(context))) }) },
              ],
            },
          },
          cardError: { on: { RETRY: { target: 'card', actions: 'clearError' } } },
          checkDuplicate: {
            entry: assign({ duplicate: ({ context }) => engineOf(context).recentDuplicate(need(context.card, 'card'), context.amountFen) }),
            always: [{ guard: 'hasDuplicate', target: 'duplicateWarning' }, { target: 'pin' }],
          },
          duplicateWarning: { on: { CONTINUE: 'pin' } },
          pin: {
            always: { guard: ({ context }) => context.card?.pinRequired !== true && context.card?.entryMode !== '021', target: 'online' },
            on: {
              PIN: { target: 'online', actions: assign({ pin: ({ event }) => event.pin, card: ({ context }) => withPin(need(context.card, 'card'), true) }) },
              PIN_BYPASS: { target: 'online', actions: assign({ card: ({ context }) => withPin(need(context.card, 'card'), false) }) },
            },
          },
          online: {
            on: { CANCEL: {} },
            invoke: {
              src: 'sale',
              input: ({ context }) => context,
              onDone: [
                { guard: 'approved', target: 'printMerchant', actions: ['setResult', 'forgetCard'] },
                { guard: 'storageError', target: '#terminal.storageFailure', actions: ['setResult', 'forgetCard', assign({ error: ({ event }) => errorView(failedError(event)) })] },
                { target: 'result', actions: ['setResult', 'forgetCard', assign({ error: ({ event }) => (event.output.outcome === 'failed' ? errorView(event.output.error) : undefined) })] },
              ],
              onError: [
                { guard: 'storageError', target: '#terminal.storageFailure', actions: ['setError', 'forgetCard'] },
                { target: 'result', actions: ['setError', 'forgetCard'] },
              ],
            },
          },
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: 'signature' } },
          printCustomer: printState('customer', 'signature'),
          signature: {
            on: { SIGNATURE: 'savingSignature', SKIP: '#terminal.idle' },
          },
          savingSignature: {
            invoke: {
              src: 'saveSignature',
              input: ({ context, event }) => ({ c: context, stan: need(context.result?.stan, 'stan'), image: (event as { image: MonoImage }).image }),
              onDone: '#terminal.idle',
              onError: { target: 'signature', actions: 'setError' },
            },
          },
          // Host unreachable (refused, no answer): RETRY reads the card again for the same
          // amount; a reversal the failure left pending goes out first (engine readyForFinancial).
          result: {
            on: {
              OK: '#terminal.idle',
              RETRY: { guard: 'retryableFailure', target: 'card', actions: assign({ result: undefined, error: undefined, pin: undefined, duplicate: undefined }) },
            },
          },
        },
      },
      void: {
        initial: 'authorize',
        entry: assign({ flow: 'void' }),
        on: { CANCEL: 'idle' },
        states: {
          authorize: authorizeStates('trace'),
          trace: {
            on: {
              TRACE: [
                { guard: ({ context, event }) => engineOf(context).txn(event.stan)?.status === 'approved' && engineOf(context).txn(event.stan)?.kind === 'sale', target: 'confirm', actions: [assign({ voidStan: ({ event }) => event.stan }), 'clearError'] },
                { actions: assign({ error: ({ event }) => errorView(new PosError('OPR_NOT_FOUND', `no voidable sale with trace ${event.stan}`, { stan: event.stan })) }) },
              ],
            },
          },
          confirm: { on: { OK: 'online' } },
          online: financialOnline('voidSale'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      refund: {
        initial: 'authorize',
        entry: assign({ flow: 'refund' }),
        on: { CANCEL: { target: 'idle', actions: 'forgetCard' } },
        states: {
          authorize: authorizeStates('details'),
          details: {
            on: {
              REFUND_DETAILS: [
                { guard: 'refundValid', target: 'card', actions: [assign({ refund: ({ event }) => ({ rrn: event.rrn, dateMmdd: event.dateMmdd, amountFen: event.amountFen }) }), 'clearError'] },
                // E-OPR-18 reference number, E-OPR-19 original date, E-OPR-01 amount.
                { actions: assign({ error: ({ context, event }) => errorView(refundError(context, event)) }) },
              ],
            },
          },
          card: {
            invoke: { src: 'readCard', input: ({ context }) => ({ c: context, txnType: 'refund' as const }), onDone: { target: 'online', actions: assign({ card: ({ event }) => event.output }) }, onError: { target: 'cardError', actions: ['setError', 'countSwipe'] } },
            on: {
              KEYED: [
                { guard: 'keyedValid', target: 'online', actions: [assign({ card: ({ event }) => keyedCard(event.pan, event.expiry) }), 'clearError'] },
                { guard: 'keyedAllowed', actions: assign({ error: ({ context, event }) => errorView(keyedError(event, nowOf(context))) }) },
              ],
            },
          },
          cardError: { on: { RETRY: { target: 'card', actions: 'clearError' } } },
          online: financialOnline('refund'),
          printMerchant: printState('merchant', 'askCustomerCopy'),
          askCustomerCopy: { on: { YES: 'printCustomer', NO: '#terminal.idle' } },
          printCustomer: printState('customer', '#terminal.idle'),
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      balance: {
        initial: 'card',
        entry: assign({ flow: 'balance' }),
        on: { CANCEL: { target: 'idle', actions: 'forgetCard' } },
        states: {
          card: {
            invoke: { src: 'readCard', input: ({ context }) => ({ c: context, txnType: 'balance' as const }), onDone: { target: 'pin', actions: assign({ card: ({ event }) => event.output }) }, onError: { target: 'cardError', actions: ['setError', 'countSwipe'] } },
          },
          cardError: { on: { RETRY: { target: 'card', actions: 'clearError' } } },
          pin: { on: { PIN: { target: 'online', actions: assign({ pin: ({ event }) => event.pin, card: ({ context }) => withPin(need(context.card, 'card'), true) }) } } },
          online: {
            invoke: {
              src: 'balance',
              input: ({ context }) => context,
              onDone: { target: 'result', actions: [assign({ balanceFen: ({ event }) => event.output }), 'forgetCard'] },
              onError: { target: 'result', actions: ['setError', 'forgetCard'] },
            },
          },
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      reprint: {
        initial: 'choose',
        on: { CANCEL: 'idle' },
        states: {
          choose: {
            on: {
              // The transaction first (the last receipt, or by trace number), then which copy (reprint.copy).
              REPRINT_LAST: [
                { guard: ({ context }) => engineOf(context).lastReceipt() !== undefined, target: 'copy', actions: assign({ reprintOf: ({ context }) => ({ txn: need(engineOf(context).lastReceipt(), 'last receipt'), settled: false }), error: undefined }) },
                { actions: assign({ error: () => errorView(new PosError('OPR_NOT_FOUND', 'no receipt in this batch')) }) },
              ],
              REPRINT_STAN: [
                { guard: ({ context, event }) => engineOf(context).txn(event.stan) !== undefined, target: 'copy', actions: assign({ reprintOf: ({ context, event }) => ({ txn: need(engineOf(context).txn(event.stan), 'transaction'), settled: false }), error: undefined }) },
                // A settled batch's transaction: its slip is rebuilt from the journal, printed as a reprint.
                {
                  guard: ({ context, event }) => engineOf(context).settledTxn(event.stan) !== undefined, target: 'copy',
                  actions: assign({ reprintOf: ({ context, event }) => ({ txn: need(engineOf(context).settledTxn(event.stan), 'settled transaction').txn, settled: true }), error: undefined }),
                },
                { actions: assign({ error: ({ context, event }) => errorView(notFoundForReprint(engineOf(context).settledBatchOf(event.stan), event.stan)) }) },
              ],
              REPRINT_REPORT: [
                { guard: ({ context }) => engineOf(context).state.lastClosed !== undefined, target: 'printingReport' },
                { actions: assign({ error: () => errorView(new PosError('OPR_NOT_FOUND', 'no settlement to reprint')) }) },
              ],
            },
          },
          // Merchant or customer copy (a customer's jammed or torn slip, or one never printed).
          copy: { on: { REPRINT_COPY: { target: 'printing', actions: assign({ reprintOf: ({ context, event }) => ({ ...need(context.reprintOf, 'reprint'), copy: event.copy }) }) } } },
          printing: {
            invoke: {
              src: 'printCopy',
              input: ({ context }) => ({ c: context, stan: need(context.reprintOf, 'reprint').txn.stan, copy: need(context.reprintOf?.copy, 'copy'), outsideFlow: true }),
              onDone: '#terminal.idle',
              onError: { target: '#terminal.paperOut', actions: [assign({ waiting: ({ context }) => ({ stan: need(context.reprintOf, 'reprint').txn.stan, copy: need(context.reprintOf?.copy, 'copy'), then: 'idle' as const, reprint: true as const }) }), 'setError'] },
            },
          },
          printingReport: {
            invoke: {
              src: 'printReport', input: ({ context }) => ({ c: context, reprint: true }),
              onDone: '#terminal.idle',
              onError: { target: '#terminal.paperOut', actions: [assign({ reportPending: 'reprint' as const }), 'setError'] },
            },
          },
        },
      },
      settlement: {
        initial: 'authorize',
        on: { CANCEL: 'idle' },
        states: {
          authorize: authorizeStates('confirm'),
          // The totals the 0500 will carry (field 48) are shown and OK asked before anything is
          // sent or frozen; CANCEL (the settlement's own) backs out with nothing sent.
          confirm: { on: { OK: 'settling' } },
          settling: {
            on: { CANCEL: {} },
            invoke: {
              src: 'settle',
              input: ({ context }) => context,
              onDone: { target: 'printingReport', actions: assign({ settlement: ({ event }) => event.output }) },
              onError: [
                { guard: 'storageError', target: '#terminal.storageFailure', actions: 'setError' },
                { guard: ({ event }) => isPosError(event.error) && event.error.code === 'E-OPR-22', target: 'offlinePending', actions: 'setError' },
                { target: 'result', actions: 'setError' },
              ],
            },
          },
          // Offline sales whose advice the host has not taken: send them again (RETRY), or the
          // supervisor gives them up (GIVE_UP: a list prints, they are left out of the totals).
          offlinePending: { on: { RETRY: { target: 'settling', actions: 'clearError' }, GIVE_UP: 'givingUp' } },
          givingUp: {
            invoke: {
              src: 'giveUpOffline',
              input: ({ context }) => context,
              onDone: { target: 'settling', actions: 'clearError' },
              onError: [
                { guard: 'storageError', target: '#terminal.storageFailure', actions: 'setError' },
                { target: 'offlinePending', actions: 'setError' },
              ],
            },
          },
          printingReport: {
            invoke: {
              src: 'printReport', input: ({ context }) => ({ c: context, reprint: false }),
              onDone: 'result',
              onError: { target: '#terminal.paperOut', actions: [assign({ reportPending: true }), 'setError'] },
            },
          },
          result: { on: { OK: '#terminal.idle' } },
        },
      },
      signOff: {
        invoke: { src: 'signOff', input: ({ context }) => context, onDone: 'login', onError: { target: 'login', actions: 'setError' } },
      },
      // Pending receipts can be printed at boot before anyone logged in: without a session the
      // way back is the login screen, never idle (found by the seeded simulation, seed 7).
      paperOut: {
        // CANCEL leaves a waiting copy in the journal: it prints when the paper sensor is back to
        // OK at idle (or is offered at the next boot). A sale goes on to its signature step: the
        // cardholder signs now, the copies wait (issue 13 item 11).
        on: {
          PAPER_LOADED: 'reprintPending',
          CANCEL: [
            { target: '#terminal.sale.signature', guard: 'saleSignatureNext', actions: assign({ waiting: undefined, error: undefined }) },
            { target: 'idle', guard: 'hasSession', actions: assign({ waiting: undefined }) },
            { target: 'login', actions: assign({ waiting: undefined }) },
          ],
        },
      },
      reprintPending: {
        invoke: {
          src: 'printPending',
          input: ({ context }) => context,
          onDone: [
            // The flow goes on where the paper ran out: merchant copy, customer copy, signature.
            { target: '#terminal.sale.askCustomerCopy', guard: ({ context }) => context.waiting?.then === 'sale.askCustomerCopy', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: '#terminal.sale.signature', guard: ({ context }) => context.waiting?.then === 'sale.signature', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: '#terminal.void.askCustomerCopy', guard: ({ context }) => context.waiting?.then === 'void.askCustomerCopy', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: '#terminal.refund.askCustomerCopy', guard: ({ context }) => context.waiting?.then === 'refund.askCustomerCopy', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: '#terminal.preAuth.askCustomerCopy', guard: ({ context }) => context.waiting?.then === 'preAuth.askCustomerCopy', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: '#terminal.preAuthVoid.askCustomerCopy', guard: ({ context }) => context.waiting?.then === 'preAuthVoid.askCustomerCopy', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: '#terminal.completion.askCustomerCopy', guard: ({ context }) => context.waiting?.then === 'completion.askCustomerCopy', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: '#terminal.completionVoid.askCustomerCopy', guard: ({ context }) => context.waiting?.then === 'completionVoid.askCustomerCopy', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined }) },
            { target: 'offerCustomerCopy', guard: ({ context, event }) => event.output.length > 0 && context.session !== undefined, actions: assign({ waiting: undefined, pendingStans: [], reportPending: false, error: undefined, customerOffer: ({ event }) => event.output }) },
            { target: 'idle', guard: 'hasSession', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false }) },
            { target: 'login', actions: assign({ waiting: undefined, pendingStans: [], reportPending: false }) },
          ],
          onError: { target: 'paperOut', actions: 'setError' },
        },
      },
      // RETRY (the technician freed space, or the disk came back): the journal is checked again
      // as a settlement's record would meet it (Journal.recheck); writable, the terminal goes on
      // where it would have (idle, sign-on, or the boot's pending work), sales perhaps still
      // refused there (the idle notice says so, and settlement runs in the reserve). A journal
      // that failed inside a commit stays failed until the terminal restarts: the error again.
      storageFailure: {
        on: { EXPORT: 'exporting', RETRY: 'storageCheck' },
      },
      storageCheck: {
        invoke: {
          src: 'checkStorage',
          input: ({ context }) => context,
          onDone: [
            { guard: 'signedOnSession', target: 'idle', actions: [assign({ exportedTo: undefined }), 'clearError'] },
            { guard: 'hasSession', target: 'signOn', actions: [assign({ exportedTo: undefined }), 'clearError'] },
            { target: 'pendingWork', actions: [assign({ exportedTo: undefined }), 'clearError'] },
          ],
          onError: { target: 'storageFailure', actions: 'setError' },
        },
      },
      exporting: {
        invoke: {
          src: 'exportJournal',
          onDone: { target: 'storageFailure', actions: assign({ exportedTo: ({ event }) => event.output }) },
          onError: { target: 'storageFailure', actions: 'setError' },
        },
      },
    },
  });

  /** Where the flow goes on after `next` was reached by printing (a '#terminal.idle' target: idle). */
  function resumeAt(flow: MachineContext['flow'], next: string): ResumeAt {
    const at = `${flow}.${next}`;
    return (RESUME_STATES as readonly string[]).includes(at) ? (at as ResumeAt) : 'idle';
  }

  /**
   * Print one copy; a printer fault keeps it waiting (`waiting`, and the journal) and goes to
   * paperOut; paper back prints it and the flow goes on to `next`.
   */
  function printState(copy: 'merchant' | 'customer', next: string) {
    return {
      invoke: {
        src: 'printCopy' as const,
        input: ({ context }: { context: MachineContext }) => ({ c: context, stan: need(context.result?.stan, 'stan'), copy }),
        onDone: next,
        onError: {
          target: '#terminal.paperOut',
          actions: [assign({ waiting: ({ context }: { context: MachineContext }) => ({ stan: need(context.result?.stan, 'stan'), copy, then: resumeAt(context.flow, next) }) }), 'setError' as const],
        },
      },
    } as never; // a config fragment: XState's state-node type is tied to setup()'s generics
  }

  /**
   * Supervisor check for void/refund/settlement (administrator check for operator management):
   * skipped when the operator logged in is one.
   */
  function authorizeStates(next: string, needed: 'supervisor' | 'administrator' = 'supervisor') {
    const enough = (role: Session['role']): boolean => (needed === 'administrator' ? role === 'administrator' : role !== 'cashier');
    return {
      initial: 'check',
      states: {
        check: { always: [{ guard: needed === 'administrator' ? 'isAdministrator' as const : 'isSupervisor' as const, target: `#terminal.${parentOf(next)}` }, { target: 'ask' }] },
        ask: { on: { SUPERVISOR: 'checking' } },
        checking: {
          invoke: {
            src: 'login' as const,
            input: ({ context, event }: { context: MachineContext; event: MachineEvent }) => ({ c: context, operator: (event as { operator: string }).operator, password: (event as { password: string }).password }),
            onDone: [
              { guard: ({ event }: { event: { output: Session } }) => enough(event.output.role), target: `#terminal.${parentOf(next)}`, actions: [assign({ authorizer: ({ event }: { event: { output: Session } }) => event.output }), 'clearError' as const] },
              { target: 'ask', actions: assign({ error: () => errorView(new PosError(needed === 'administrator' ? 'OPR_ADMINISTRATOR' : 'OPR_PERMISSION', `a ${needed} password is required`)) }) },
            ],
            // A failing journal cannot check (or count) a password: the storage failure screen,
            // not the prompt again (found by the soak, seeds 100135 and 100403: stuck at the prompt).
            onError: [
              { guard: 'storageError' as const, target: '#terminal.storageFailure', actions: 'setError' as const },
              { target: 'ask', actions: 'setError' as const },
            ],
          },
        },
      },
    } as never; // a config fragment (see printState)
  }

  /**
   * One's own password changed (idle's password screen, or the administrator managing the
   * operators): done, a refusal back to `back`; a wrong old password counted like a login, and at
   * the limit it locks them: then nobody is logged in (login).
   */
  function changingOwnPassword(back: 'entry' | 'choose') {
    return {
      on: { CANCEL: {} },
      invoke: {
        src: 'changePassword' as const,
        input: ({ context, event }: { context: MachineContext; event: MachineEvent }) => {
          const e = event as Extract<MachineEvent, { type: 'CHANGE_PASSWORD' }>;
          return { c: context, oldPassword: e.oldPassword, newPassword: e.newPassword, repeated: e.repeated };
        },
        onDone: { target: 'done', actions: [assign({ operatorChange: ({ context }: { context: MachineContext }) => ({ action: 'changed' as const, operator: need(context.authorizer ?? context.session, 'session').operator }) }), 'clearError' as const] },
        onError: [
          { guard: 'storageError' as const, target: '#terminal.storageFailure', actions: 'setError' as const },
          { guard: 'lockedOut' as const, target: '#terminal.login', actions: 'setError' as const },
          { target: back, actions: 'setError' as const },
        ],
      },
    } as never; // a config fragment (see printState)
  }

  /** An operator management step that writes (add, delete): done, or its refusal back at the menu. */
  function operatorTask(src: 'addOperator' | 'deleteOperator', input: (a: { context: MachineContext; event: MachineEvent }) => unknown) {
    return {
      on: { CANCEL: {} },
      invoke: {
        src,
        input,
        onDone: { target: 'done', actions: 'clearError' as const },
        onError: [
          { guard: 'storageError' as const, target: '#terminal.storageFailure', actions: 'setError' as const },
          { target: 'choose', actions: 'setError' as const },
        ],
      },
    } as never; // a config fragment (see printState)
  }

  function parentOf(next: string): string {
    if (next.includes('.')) return next;
    return next === 'trace' ? 'void.trace' : next === 'details' ? 'refund.details' : next === 'choose' ? 'operators.choose' : 'settlement.confirm';
  }

  /** A card wait (read, or keyed where allowed) that goes on to `next` with the card. */
  function cardStates(txnType: EmvTxnType, next: string) {
    return {
      invoke: {
        src: 'readCard' as const,
        input: ({ context }: { context: MachineContext }) => ({ c: context, txnType }),
        onDone: { target: next, actions: assign({ card: ({ event }: { event: { output: CardInput } }) => event.output }) },
        onError: { target: 'cardError', actions: ['setError' as const, 'countSwipe' as const] },
      },
      on: {
        KEYED: [
          { guard: 'keyedValid' as const, target: next, actions: [assign({ card: ({ event }: { event: MachineEvent }) => { const e = event as Extract<MachineEvent, { type: 'KEYED' }>; return keyedCard(e.pan, e.expiry); } }), 'clearError' as const] },
          { guard: 'keyedAllowed' as const, actions: assign({ error: ({ context, event }: { context: MachineContext; event: MachineEvent }) => errorView(keyedError(event as Extract<MachineEvent, { type: 'KEYED' }>, nowOf(context))) }) },
        ],
      },
    } as never; // a config fragment (see printState)
  }

  /** What a void or completion sends as its original: the hold by trace, or the keyed details with the card. */
  function preAuthTarget(c: MachineContext): PreAuthTarget {
    const o = need(c.preAuthOriginal, 'pre-authorization');
    if ('stan' in o) return { stan: o.stan };
    return { keyed: { authCode: o.keyed.authCode, dateMmdd: o.keyed.dateMmdd, amountFen: o.keyed.amountFen, card: need(c.card, 'card') } };
  }

  /** Keyed details of a pre-authorization: 6-digit authorization code, a real original date, and for a void its amount. */
  function keyedOriginalError(c: MachineContext, e: { authCode: string; dateMmdd: string; amountFen?: number }, amountNeeded: boolean): PosError | undefined {
    if (!/^\d{6}$/.test(e.authCode)) return new PosError('OPR_INPUT', 'the authorization code is 6 digits');
    try {
      checkOriginalDate(e.dateMmdd, nowOf(c).ms, nowOf(c).zone);
      if (amountNeeded) engineOf(c).checkAmount(e.amountFen ?? 0);
      return undefined;
    } catch (err) {
      return isPosError(err) ? err : new PosError('OPR_INPUT', String(err));
    }
  }

  /** A completion's amount: within the terminal's limits and, for a hold of this journal, at most 115% of it. */
  function completionError(c: MachineContext, amountFen: number): PosError | undefined {
    try {
      engineOf(c).checkAmount(amountFen);
    } catch (err) {
      return isPosError(err) ? err : new PosError('OPR_AMOUNT', String(err));
    }
    const o = c.preAuthOriginal;
    const hold = o !== undefined && 'stan' in o ? engineOf(c).state.preAuths.get(o.stan) : undefined;
    const max = hold ? completionFenMax(hold.amountFen) : undefined;
    if (max !== undefined && amountFen > max) {
      return new PosError('OPR_AMOUNT', `a completion may be at most 115% of the pre-authorized amount (${(max / 100).toFixed(2)} yuan)`, { amountFen, amountFenMax: max });
    }
    return undefined;
  }

  /** The QR sale a void or refund names by trace number: in this batch, approved, not voided. */
  function qrOriginalError(c: MachineContext, stan: number): PosError | undefined {
    try { new QrPayments(engineOf(c)).original(stan); return undefined; } catch (e) { return isPosError(e) ? e : new PosError('OPR_NOT_FOUND', String(e)); }
  }

  /** A QR refund's amount: within the terminal's limits and at most the payment's. */
  function qrRefundAmountError(c: MachineContext, amountFen: number): PosError | undefined {
    try { engineOf(c).checkAmount(amountFen); } catch (e) { return isPosError(e) ? e : new PosError('OPR_AMOUNT', String(e)); }
    const orig = c.voidStan !== undefined ? engineOf(c).txn(c.voidStan) : undefined;
    if (orig && amountFen > orig.amountFen) return new PosError('OPR_AMOUNT', `a refund is at most the payment (${(orig.amountFen / 100).toFixed(2)} yuan)`, { amountFen, amountFenMax: orig.amountFen });
    return undefined;
  }

  function qrOnline(src: 'qrVoid' | 'qrRefund') {
    return {
      invoke: {
        src,
        input: ({ context }: { context: MachineContext }) => context,
        onDone: [
          { guard: 'qrApproved' as const, target: 'printMerchant', actions: 'setQrResult' as const },
          { target: 'result', actions: 'setQrResult' as const },
        ],
        onError: [
          { guard: 'storageError' as const, target: '#terminal.storageFailure', actions: 'setError' as const },
          { target: 'result', actions: 'setError' as const },
        ],
      },
    } as never; // a config fragment (see printState)
  }

  function financialOnline(src: 'voidSale' | 'refund' | 'preAuth' | 'preAuthVoid' | 'completion' | 'completionVoid') {
    return {
      invoke: {
        src,
        input: ({ context }: { context: MachineContext }) => context,
        onDone: [
          { guard: 'approved' as const, target: 'printMerchant', actions: ['setResult' as const, 'forgetCard' as const] },
          { target: 'result', actions: ['setResult' as const, 'forgetCard' as const, assign({ error: ({ event }: { event: { output: FlowResult } }) => (event.output.outcome === 'failed' ? errorView(event.output.error) : undefined) })] },
        ],
        onError: [
          { guard: 'storageError' as const, target: '#terminal.storageFailure', actions: 'setError' as const },
          { target: 'result', actions: 'setError' as const },
        ],
      },
    } as never; // a config fragment (see printState)
  }
}

/**
 * What is wrong with a keyed card number (13..19 digits) or expiry (YYMM, not passed), if
 * anything; never names the PAN. The Luhn check digit is checked at the keypad (boot/input.ts),
 * where the operator can still correct a typo (runtime/txn/entry-checks.ts says why not here).
 */
function keyedError(e: { pan: string; expiry: string }, now: { ms: number; zone: number }): PosError | undefined {
  try {
    checkKeyedPan(e.pan, { luhn: false });
    checkExpiry(e.expiry, now.ms, now.zone);
    return undefined;
  } catch (err) {
    return isPosError(err) ? err : new PosError('OPR_INPUT', 'keyed card not valid');
  }
}

function failedError(event: unknown): unknown {
  const out = (event as { output?: FlowResult }).output;
  return out && out.outcome === 'failed' ? out.error : undefined;
}

export type TerminalMachine = ReturnType<typeof createTerminalMachine>;
export type TerminalSnapshot = SnapshotFrom<TerminalMachine>;

/** What a screen may show. No card data, no PIN, ever. */
export interface MachineView {
  readonly state: string;
  readonly data: {
    readonly operator?: string;
    readonly role?: string;
    readonly battery: 'ok' | 'low' | 'critical';
    readonly flow?: string;
    readonly amountFen: number;
    readonly panMasked?: string;
    readonly duplicate?: TxnView;
    readonly result?: ResultView;
    readonly balanceFen?: number;
    readonly error?: ErrorView;
    readonly notice?: string;
    /** What the boot's notice is about (the transaction in flight at a power cut, or 'settlement'). */
    readonly noticeTxn?: NoticeTxn;
    readonly pendingReceipts: readonly number[];
    /** The copy the printer waits to print first (the paper-out screen names it). */
    readonly waitingCopy?: 'merchant' | 'customer' | 'report' | 'duplicate';
    /**
     * Paper out with a transaction's slip waiting: its e-receipt link (the host's DF1A address;
     * issue 12 item 6), which the paper-out screen shows as a QR code for the customer.
     */
    readonly eReceiptUrl?: string;
    readonly reportPending: boolean;
    readonly settlement?: SettlementReport;
    readonly exportedTo?: string;
    readonly signedOn: boolean;
    readonly reversalPending: boolean;
    readonly batch?: number;
    /** The merchant's name as the acquirer downloaded it (host parameters), shown at idle; none before any download. */
    readonly merchantName?: string;
    /**
     * The totals a settlement is about to send (settlement.confirm): those of a settlement already
     * begun (frozen in the journal), else the open batch's as the host counts them.
     */
    readonly settlementTotals?: SettlementTotals;
    /** The hold a pre-authorization void or completion names (trace number, amount, masked card, 115% ceiling). */
    readonly preAuthHold?: { readonly stan: number; readonly amountFen: number; readonly panMasked: string; readonly completionFenMax: number };
    /**
     * The open batch's anomaly flags (docs/ANOMALY.md), for a supervisor or administrator only:
     * how many, and the short codes (the day report has the details).
     */
    readonly anomalies?: { readonly count: number; readonly codes: string };
    /** Selling locked by the management console (issue 12 item 5): idle says so, sales are refused. */
    readonly sellingLocked?: boolean;
    /** The host task from the settings menu and its outcome. */
    readonly hostTask?: HostTaskView;
    /** Offline sales whose advice waits (settlement.offlinePending shows how many). */
    readonly offlinePending?: number;
    /** Of those, the ones sent with no answer: the host may have booked them (the give-up screen says so). */
    readonly offlineUnknown?: number;
    /** The sale a void is about to cancel (void.confirm), as a receipt shows it. */
    readonly voidTarget?: TxnView;
    /**
     * A failed transaction's reversal (the result's STAN): still owed (kept, sent before the next
     * transaction), or cleared by the host (the customer was not charged). Read from the journal's
     * state, so the screen says what is true now, not what was true when the error was raised.
     */
    readonly resultReversal?: 'owed' | 'cleared';
    /**
     * The reprint menu's transaction (reprint.copy, reprint.printing): its trace and batch, whether
     * the batch is settled, whether its customer copy ever printed, the copy chosen and whether that
     * copy will be marked 重打印/DUPLICATE (printed before, or maybe before a power cut).
     */
    readonly reprint?: { readonly stan: number; readonly batch: number; readonly settled: boolean; readonly customerPrinted: boolean; readonly copy?: 'merchant' | 'customer'; readonly marked?: boolean };
    /** The transactions whose customer copy offerCustomerCopy offers (trace numbers). */
    readonly customerOffer?: readonly number[];
    /** The card screen may offer keyed entry (FUNC). */
    readonly keyedAllowed?: boolean;
    /** The card wait detects only these (the transaction gave up on the stripe): the card screen asks for them. Absent: every way. */
    readonly cardSources?: readonly CardSource[];
    /** The password change, reset, unlock, addition or deletion just done (operator number, no secret). */
    readonly operatorChange?: OperatorChange;
    /**
     * Operator management (operators states): every operator (number, role, locked; no secret),
     * by number, and who manages (the administrator asked for, else the one logged in).
     */
    readonly operators?: readonly OperatorListEntry[];
    readonly manager?: string;
    /** Why recovery opened (recovery states only). */
    readonly recoveryReason?: RecoveryReason;
    /** The last echo test (sign-on failure screen). */
    readonly echo?: EchoView;
    /** A QR wait: time left, the order's content (主扫; printed when the display cannot show it), 被扫 or 主扫. */
    readonly qr?: { readonly mode?: 'scan' | 'show'; readonly msLeft?: number; readonly content?: string; readonly printed?: boolean };
  };
}

/** Dotted path of the active state: 'sale.amount', 'idle', 'recovery.locked'. */
export function statePath(value: unknown): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value as Record<string, unknown>)[0];
  return `${k}.${statePath(v)}`;
}

function anomalySummary(flags: readonly AnomalyFlag[]): MachineView['data']['anomalies'] {
  return flags.length === 0 ? undefined : { count: flags.length, codes: anomalyCodes(flags) };
}

function holdView(h: { stan: number; amountFen: number; panMasked: string } | undefined): MachineView['data']['preAuthHold'] {
  return h && { stan: h.stan, amountFen: h.amountFen, panMasked: h.panMasked, completionFenMax: completionFenMax(h.amountFen) };
}

/**
 * The e-receipt link at the paper-out screen while the customer's copy waits (the merchant's copy,
 * signed, must still be printed), when the host set an address and approved the transaction.
 */
function waitingEReceipt(snap: TerminalSnapshot): string | undefined {
  const c = snap.context;
  const engine = c.terminal?.engine;
  const base = engine?.eReceiptBase;
  if (!engine || base === undefined || c.waiting?.copy !== 'customer' || !snap.matches('paperOut')) return undefined;
  const t = engine.txn(c.waiting.stan);
  return t?.rrn !== undefined && t.status === 'approved' ? eReceiptUrl(t, engine.config.ids.tid, base) : undefined;
}

/** The copy will carry the reprint mark: printed before, maybe printed before a power cut, or of a settled batch (printReceipt). */
function marksReprint(c: MachineContext, stan: number, copy: 'merchant' | 'customer'): boolean {
  const t = c.terminal?.engine.txn(stan);
  return t === undefined || t.printed.includes(copy) || mayHavePrinted(c, stan);
}

function waitingCopy(c: MachineContext): 'merchant' | 'customer' | 'report' | 'duplicate' | undefined {
  // A copy asked for from the reprint menu is a duplicate only when it will be marked as one.
  if (c.waiting) return c.waiting.reprint && marksReprint(c, c.waiting.stan, c.waiting.copy) ? 'duplicate' : c.waiting.copy;
  const first = c.pendingStans.length > 0 ? c.terminal?.engine.pendingCopies().find((p) => c.pendingStans.includes(p.stan)) : undefined;
  if (first) return first.copy;
  return c.reportPending ? 'report' : undefined;
}

function reprintView(c: MachineContext): MachineView['data']['reprint'] {
  const r = c.reprintOf;
  if (!r) return undefined;
  const t = r.txn;
  return {
    stan: t.stan, batch: t.batch, settled: r.settled, customerPrinted: t.printed.includes('customer'),
    ...(r.copy !== undefined ? { copy: r.copy, marked: r.settled || marksReprint(c, t.stan, r.copy) } : {}),
  };
}

/** What became of a failed transaction's reversal, from the state now (see MachineView resultReversal). */
function resultReversal(c: MachineContext): 'owed' | 'cleared' | undefined {
  const engine = c.terminal?.engine;
  const stan = c.result?.outcome === 'failed' ? c.result.stan : undefined;
  if (!engine || stan === undefined) return undefined;
  if (engine.state.pendingReversal?.stan === stan) return 'owed';
  return engine.txn(stan)?.status === 'reversed' ? 'cleared' : undefined;
}

/** The operators' list while an administrator manages them (no hash, no salt, no attempts count). */
function operatorsView(snap: TerminalSnapshot): Pick<MachineView['data'], 'operators' | 'manager'> {
  const c = snap.context;
  if (!snap.matches('operators') || !c.terminal) return {};
  const operators = c.terminal.operators.list().map((o) => ({ number: o.number, role: o.role, locked: o.locked })).sort((a, b) => a.number.localeCompare(b.number));
  const manager = (c.authorizer ?? c.session)?.operator;
  return { operators, ...(manager ? { manager } : {}) };
}

export function viewOf(snap: TerminalSnapshot): MachineView {
  const c = snap.context;
  const engine = c.terminal?.engine;
  const mask = c.card ? `${c.card.pan.slice(0, 6)}${'*'.repeat(Math.max(0, c.card.pan.length - 10))}${c.card.pan.slice(-4)}` : undefined;
  return {
    state: statePath(snap.value),
    data: {
      operator: c.session?.operator, role: c.session?.role, battery: c.battery, flow: c.flow, amountFen: c.amountFen, panMasked: mask,
      duplicate: c.duplicate, result: c.result, balanceFen: c.balanceFen, error: c.error, notice: c.notice, ...(c.noticeTxn !== undefined ? { noticeTxn: c.noticeTxn } : {}), pendingReceipts: [...c.pendingStans], waitingCopy: waitingCopy(c),
      reportPending: c.reportPending !== false, settlement: c.settlement, exportedTo: c.exportedTo, signedOn: engine?.signedOn ?? false,
      reversalPending: engine?.state.pendingReversal !== undefined, batch: engine?.state.batch, merchantName: engine?.params.merchantName,
      resultReversal: resultReversal(c), reprint: reprintView(c), customerOffer: c.customerOffer.length > 0 ? [...c.customerOffer] : undefined,
      voidTarget: c.voidStan !== undefined && (c.flow === 'void' || c.flow === 'completionVoid' || c.flow === 'qrVoid' || c.flow === 'qrRefund') ? engine?.txn(c.voidStan) : undefined,
      qr: c.flow === 'qr' ? { mode: c.qrMode, ...c.qrWait } : undefined,
      preAuthHold: c.preAuthOriginal !== undefined && 'stan' in c.preAuthOriginal ? holdView(engine?.state.preAuths.get(c.preAuthOriginal.stan)) : undefined,
      settlementTotals: engine && snap.matches({ settlement: 'confirm' }) ? engine.state.settlement?.totals ?? batchTotals(engine.state) : undefined,
      keyedAllowed: c.keyedAllowed, ...(c.swipeOff ? { cardSources: cardSources(c) } : {}), operatorChange: c.operatorChange, recoveryReason: c.recoveryReason, echo: c.echo,
      offlinePending: engine ? pendingAdvices(engine.state).length : undefined, hostTask: c.hostTask,
      offlineUnknown: engine ? pendingAdvices(engine.state).filter((t) => (t.offline?.sends ?? 0) > 0).length : undefined,
      anomalies: engine && c.session && c.session.role !== 'cashier' ? anomalySummary(engine.anomalies()) : undefined,
      sellingLocked: engine?.sellingLock !== undefined ? true : undefined,
      eReceiptUrl: waitingEReceipt(snap),
      ...operatorsView(snap),
    },
  };
}

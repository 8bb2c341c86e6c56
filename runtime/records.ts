/**
 * The payloads of the journal records the runtime writes (storage/JOURNAL_FORMAT.md, record
 * table), as types with builders (checked when written) and readers (checked when read back).
 * The journal stores CBOR maps; these are the only shapes the runtime puts in them.
 *
 * Rule 8 of DESIGN.md: no record carries a clear PAN, track data, PIN or PIN block. A PAN is
 * `panEnc` (sealed under the device key), `panMasked` (6 + 4) and `panTag` (a keyed hash, 8 bytes,
 * used only to recognise the same card for the duplicate-charge guard). The journal refuses the
 * forbidden keys itself as a second line of defence.
 */
import { AIDS_MAX, AidParams, CA_KEYS_MAX, RandomSelectionParams, randomParamsProblem } from './host/emv-params';
import { CaPublicKey, caKeyProblem } from './txn/emv-rsa';
import { RecordTypeName } from '../storage/record';
import { invariant } from '../common/errors';
import { EntryMode, ReversalReason, SettlementTotals, SettlementVerdict, STAN_MAX, BATCH_MAX } from './host/messages';
import { isSanitizedField55 } from './txn/emv';
import { ISSUER_SCRIPTS_MAX, SCRIPT_RESULT_BYTES } from './txn/emv-online';
import {
  HostParameters, isEReceiptBase, PARAM_AMOUNT_FEN_MAX, RESPONSE_TIMEOUT_S_MAX, RESPONSE_TIMEOUT_S_MIN, REVERSAL_TRIES_MAX_PARAM, REVERSAL_TRIES_MIN,
} from './host/messages-v2';

export interface RecordInput {
  readonly type: RecordTypeName;
  readonly payload: Record<string, unknown>;
}

/**
 * sale, void (of a sale), refund; the pre-authorization family (docs/PROTOCOL.md V2): preAuth,
 * preAuthVoid (names its preAuth), completion (captures a preAuth: counts as a sale),
 * completionVoid (names its completion: counts as a void).
 */
export type TxnKind = 'sale' | 'void' | 'refund' | 'preAuth' | 'preAuthVoid' | 'completion' | 'completionVoid' | QrTxnKind;
export const TXN_KINDS: readonly TxnKind[] = ['sale', 'void', 'refund', 'preAuth', 'preAuthVoid', 'completion', 'completionVoid', 'qrSale', 'qrVoid', 'qrRefund'];
/**
 * QR payments (docs/PROTOCOL.md V2, runtime/txn/qr.ts): no card, so `panMasked` is '' and
 * `panEnc`/`panTag` are empty; what a person may see is in `qr`. Never reversed: a QR payment
 * whose outcome is unknown has a `qrQueryPending` record instead of a `reversalPending` one.
 */
export type QrTxnKind = 'qrSale' | 'qrVoid' | 'qrRefund';
export const QR_TXN_KINDS: readonly TxnKind[] = ['qrSale', 'qrVoid', 'qrRefund'];
/** What the journal keeps of a QR payment: never the payment code, only its last 4 digits. */
export interface QrTxnInfo {
  /** 032 the customer's code scanned (被扫), 033 the terminal's code shown (主扫). */
  readonly entryMode?: '032' | '033';
  readonly codeLast4?: string;
  /** The host's order number (59 A2). */
  readonly orderNo?: string;
  readonly wallet?: string;
  /** The payer as the host masked it (59 A5). */
  readonly payerMasked?: string;
}
/** Kinds that cancel another transaction of this journal (`origStan`) when approved. */
export const CANCELLING_KINDS: Readonly<Partial<Record<TxnKind, TxnKind>>> = { void: 'sale', preAuthVoid: 'preAuth', completionVoid: 'completion', qrVoid: 'qrSale' };
/**
 * approved / declined by the host; not-sent (the request never left); offline: approved by the
 * terminal when the host could not be reached (docs/PROTOCOL.md, offline sale), its advice (0220)
 * still to send.
 */
export type TxnOutcome = 'approved' | 'declined' | 'not-sent' | 'offline';
export type Role = 'cashier' | 'supervisor' | 'administrator';
export type ReceiptCopy = 'merchant' | 'customer' | 'settlement';

/** Why a reversal-pending record stops being pending. */
export type ReversalClearCause =
  /** The original was approved: nothing to reverse. */
  | 'approved'
  /** The original was declined: nothing to reverse. */
  | 'declined'
  /** The request never left the terminal (connect refused): nothing reached the host. */
  | 'not-sent'
  /** The 0410 answered 00, 12 or 25: the host has no live original any more. */
  | 'reversed';

export interface TerminalIdentityPayload {
  readonly serial: string; readonly tid: string; readonly mid: string; readonly board: string; readonly locale: string; readonly testKeys: boolean;
}

export interface KeysPayload {
  readonly pikEnc: Buffer; readonly makEnc: Buffer; readonly tdkEnc: Buffer;
  readonly kcvPik: Buffer; readonly kcvMak: Buffer; readonly kcvTdk: Buffer;
}

export interface SignOnPayload {
  readonly stan: number; readonly batch: number; readonly operator: string; readonly kcvPik: Buffer; readonly kcvMak: Buffer;
  /** Set when the host's time (0810 fields 12/13) corrected the clock: the offset now in force. */
  readonly clockOffsetMs?: number;
  /** The 0810's 60.2 when it was higher than the terminal's batch (taken: a batch record precedes). */
  readonly hostBatch?: number;
}
export interface SignOffPayload { readonly stan: number; readonly operator: string; readonly reason: 'operator' | 'mac-failure' }

/** Everything needed to rebuild the request's reversal and its batch upload record. */
export interface TxnBeginPayload {
  readonly kind: TxnKind;
  readonly stan: number;
  readonly batch: number;
  readonly amountFen: number;
  readonly panMasked: string;
  readonly panEnc: Buffer;
  readonly panTag: Buffer;
  readonly expiry?: string;
  /** A QR kind holds 032/033 here (checked by the builder; the card flows never read a QR kind's). */
  readonly entryMode: EntryMode;
  readonly cardSeq?: string;
  readonly processingCode: string;
  readonly conditionCode: string;
  readonly type60: string;
  readonly operator: string;
  /** Void: the sale's batch/STAN/RRN/auth code. Refund: RRN and date (batch/STAN 0 when unknown). */
  readonly origBatch?: number;
  readonly origStan?: number;
  readonly origRrn?: string;
  readonly origAuthCode?: string;
  readonly origDate?: string;
  /** The request's own field 61, as sent. */
  readonly field61?: string;
  /** QR kinds only (never the payment code). */
  readonly qr?: QrTxnInfo;
  /**
   * A sale a tapped qPBOC card approved offline (TC, fDDA passed): the allow-listed field 55 of its
   * TC, which the advice (0220) carries; checked against the allow-list when written and read back.
   */
  readonly field55?: Buffer;
}

export interface TxnResultPayload {
  readonly stan: number;
  readonly outcome: TxnOutcome;
  readonly responseCode: string;
  readonly rrn?: string;
  readonly authCode?: string;
  readonly hostDate?: string;
  readonly hostTime?: string;
  readonly settlementDate?: string;
  /** QR kinds: what the answer's 59 said (order number, wallet, masked payer). */
  readonly qr?: QrTxnInfo;
  /** The link the answer came over on a board with several (board file `links`: "wifi0", "modem0"). */
  readonly link?: string;
}

/**
 * What became of an offline sale's advice (0220, 60.1 = 30): accepted (00/94), refused, or given up
 * by a supervisor; or `sending`, written before each send (the advice stays pending): an advice sent
 * at least once and never answered has an unknown outcome, the host may have booked it (docs/PROTOCOL.md);
 * `unsent` takes the last send back when its connection was refused (nothing reached the host).
 */
export interface AdviceResultPayload {
  readonly stan: number;
  readonly state: 'sending' | 'unsent' | 'sent' | 'rejected' | 'abandoned';
  /** The 0230's 39 ('--' when given up or sending). */
  readonly responseCode: string;
  readonly rrn?: string;
  readonly hostDate?: string;
  readonly hostTime?: string;
  /** The supervisor who gave it up. */
  readonly by?: string;
}

export interface ReceiptPrintedPayload { readonly stan: number; readonly copy: ReceiptCopy; readonly reprint: boolean; readonly batch?: number }
/** A copy asked for that the printer could not print (storage/JOURNAL_FORMAT.md, type 15). */
export interface ReceiptPendingPayload { readonly stan: number; readonly copy: 'customer'; readonly reason: string }
export interface SignaturePayload { readonly stan: number; readonly image: Buffer; readonly width: number; readonly height: number; readonly uploaded: false }
export interface SignatureUploadedPayload { readonly stan: number }

/** Self-contained: a reversal can be sent after a power cut from this record alone. */
export interface ReversalPendingPayload {
  readonly stan: number;
  readonly batch: number;
  readonly reason: ReversalReason;
  /** The original's kind; `balance` for a balance inquiry, which is armed too but is no transaction of the batch. */
  readonly kind: TxnKind | 'balance';
  readonly amountFen: number;
  readonly panEnc: Buffer;
  readonly panMasked: string;
  readonly processingCode: string;
  readonly entryMode: EntryMode;
  readonly conditionCode: string;
  readonly type60: string;
  readonly expiry?: string;
  readonly cardSeq?: string;
  readonly authCode?: string;
  readonly original61?: string;
  /**
   * The original's field 55 (IC card data), byte for byte as sent: the 0400 carries it
   * (docs/PROTOCOL.md). Only the allow-listed tags of runtime/txn/emv.ts (cryptogram and its inputs,
   * never PAN or track data): the builder refuses anything the allow-list would not keep, and so
   * does the reader.
   */
  readonly field55?: Buffer;
  /**
   * The reason was decided while the terminal ran (a timeout: 98; a bad MAC: A0). Without it a
   * 98 found at boot was left by a power cut during the sale and goes out as 06.
   */
  readonly decided?: boolean;
}

/**
 * An issuer script result notice (0620, docs/PROTOCOL.md) that must reach the host: written before
 * the chip sale that ran the scripts finishes, self-contained like a reversal-pending record (sent
 * after a power cut from it alone). `stan` is the notice's own STAN (reserved in the same commit;
 * a resend keeps it), `origStan`/`origBatch`/`origDate` name the sale in 61, `rrn` its 37.
 * `field55` is the allow-listed part of the notice's 55 (the final cryptogram, TVR...), and
 * `scriptResults` is DF31 (5 bytes a script: result and script identifier, no card data).
 */
export interface ScriptNoticePendingPayload {
  readonly stan: number;
  readonly batch: number;
  readonly origStan: number;
  readonly origBatch: number;
  readonly origDate: string;
  readonly rrn: string;
  readonly amountFen: number;
  readonly panEnc: Buffer;
  readonly panMasked: string;
  readonly processingCode: string;
  readonly entryMode: EntryMode;
  readonly cardSeq?: string;
  readonly field55: Buffer;
  readonly scriptResults: Buffer;
}

/** The host answered the notice 00 (`responseCode`), after `tries` sends. */
export interface ScriptNoticeClearedPayload { readonly stan: number; readonly responseCode: string; readonly tries: number }

export interface ReversalClearedPayload { readonly stan: number; readonly cause: ReversalClearCause; readonly responseCode: string; readonly tries: number }

export type SettlementStepName = 'begun' | 'verdict' | 'upload' | 'uploaded';
export interface SettlementStepPayload {
  readonly batch: number;
  readonly step: SettlementStepName;
  /** begun: the terminal's totals, frozen for this settlement. */
  readonly totals?: SettlementTotals;
  /** verdict: the host's answer. */
  readonly verdict?: SettlementVerdict;
  readonly hostTotals?: SettlementTotals;
  /** upload / uploaded: 0320 records acknowledged so far. */
  readonly uploadedCount?: number;
}

/** An offline sale the host refused or a supervisor gave up: printed on the settlement report. */
export interface OfflineNotTaken {
  readonly stan: number; readonly amountFen: number; readonly panMasked: string; readonly state: 'rejected' | 'abandoned'; readonly responseCode: string;
  /** Given up after this many sends with no answer (absent: never sent): the outcome is unknown, the host may have it. */
  readonly sends?: number;
}

/** The most sends an advice's record counts (a day's retries stay far below it; checked when written and read back). */
export const ADVICE_SENDS_MAX = 9999;

/** Only a given-up advice carries sends, 1..ADVICE_SENDS_MAX: a refused one was answered. */
export function checkAdviceSends(o: OfflineNotTaken): void {
  if (o.sends === undefined) return;
  invariant(o.state === 'abandoned' && Number.isSafeInteger(o.sends) && o.sends >= 1 && o.sends <= ADVICE_SENDS_MAX, 'advice sends malformed', { stan: o.stan, sends: o.sends });
}

/** An anomaly flag as the batch close keeps it for the day report (runtime/anomaly.ts: rule id and its text). */
export interface AnomalyNote { readonly rule: string; readonly zh: string; readonly en: string }

export interface BatchClosedPayload {
  readonly batch: number; readonly nextBatch: number; readonly totals: SettlementTotals; readonly verdict: SettlementVerdict;
  /** Offline sales of the batch the host did not take (the report lists them). */
  readonly offlineNotTaken?: readonly OfflineNotTaken[];
  /** The anomaly flags the batch raised (docs/ANOMALY.md), at most FLAGS_COUNT_MAX. */
  readonly anomalies?: readonly AnomalyNote[];
}

export interface OperatorPayload {
  readonly number: string;
  readonly role: Role;
  readonly passwordHash: Buffer;
  readonly salt: Buffer;
  readonly scryptN: number;
  readonly failedAttempts: number;
  readonly locked: boolean;
  readonly event: 'created' | 'password-changed' | 'password-reset' | 'login-failed' | 'login-ok' | 'locked' | 'unlocked';
  /** Who did it when it is not the operator themself (an administrator's reset, an unlock, an operator added on the terminal). */
  readonly by?: string;
}

/**
 * An operator deleted by an administrator (Settings > Operators): an `operator` record with event
 * 'deleted' and no password; replay removes the number (a later 'created' may reuse it).
 */
export interface OperatorDeletedPayload {
  readonly number: string;
  readonly role: Role;
  readonly event: 'deleted';
  readonly by: string;
}

/**
 * The acquirer's parameters (0810 of a 360 download), as applied: a `settings` record of kind
 * `host-params` holds the whole set (all-or-nothing: the latest record is the set in force).
 */
export type HostParamsPayload = HostParameters;
export const HOST_PARAMS_KIND = 'host-params';

export interface AdminActionPayload { readonly action: string; readonly operator: string; readonly result: string }

/**
 * A chip card the kernel refused at the reader before anything went to the host (issue 11): the
 * error code (E-RDR-07 no application, -08 declined by the card, -09 ODA failed and declined, -13
 * tap not allowed: insert or swipe), the transaction it was read for, and what offline data
 * authentication did and why it failed. Never the PAN nor anything else of the card: the refusal
 * carries none of it. No state is derived from it (support reads it in the journal).
 */
export interface CardRefusedPayload {
  readonly code: string;
  readonly txnType: 'sale' | 'refund' | 'balance';
  readonly amountFen: number;
  /** ODA method and failure reason, when ODA decided it (emv-oda.ts OdaMethod, OdaFailure). */
  readonly oda?: string;
  readonly reason?: string;
}

/** The refusals a cardRefused record holds (runtime/txn/card.ts, emv-qpboc.ts). */
export const CARD_REFUSAL_CODES: readonly string[] = ['E-RDR-07', 'E-RDR-08', 'E-RDR-09', 'E-RDR-13'];
/** ODA words (method, reason) are lower-case letters and hyphens: no digit, so never a card number. */
const ODA_WORD = /^[a-z][a-z-]{0,23}$/;

/**
 * The EMV parameters in force (issue 11 item 1): the latest `settings` record of kind `ca-keys`
 * (every CA public key of the last complete 370/371 download, each with its SHA-1 check value,
 * re-checked when read back) and of kind `aids` (the last complete 380/381 download).
 */
export const CA_KEYS_KIND = 'ca-keys';
export const AIDS_KIND = 'aids';
export interface CaKeysPayload { readonly keys: readonly CaPublicKey[] }
export interface AidsPayload { readonly aids: readonly AidParams[] }

/**
 * Selling locked or unlocked by the terminal-management console (issue 12 item 5, docs/
 * MANAGEMENT.md `lock`): the latest `settings` record of kind `selling-lock` is in force, across
 * reboots. `reason` is the console's words, shown to nobody but logged; `commandId` the command's.
 */
export const SELLING_LOCK_KIND = 'selling-lock';
export const SELLING_LOCK_REASON_CHARS_MAX = 100;
export interface SellingLockPayload { readonly locked: boolean; readonly reason: string; readonly commandId: string }

function checkSellingLock(p: SellingLockPayload): void {
  invariant(typeof p.locked === 'boolean', 'selling-lock: locked is not a boolean');
  checkConsoleCommand('selling-lock', p);
}

/** The console's reason and command id a lock or a version flag keeps (checked as the console's command was). */
function checkConsoleCommand(kind: string, p: { readonly reason: string; readonly commandId: string }): void {
  invariant(typeof p.reason === 'string' && p.reason.length <= SELLING_LOCK_REASON_CHARS_MAX && !/[\x00-\x1f\x7f]/.test(p.reason), `${kind}: reason not printable text of at most 100 characters`);
  invariant(typeof p.commandId === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(p.commandId), `${kind}: command id malformed`);
}

/** A `selling-lock` settings record read back (checked as when written). */
export function sellingLockOf(p: Record<string, unknown>): SellingLockPayload {
  const out = { locked: p.locked, reason: p.reason, commandId: p.commandId } as SellingLockPayload;
  checkSellingLock(out);
  return out;
}

/**
 * Software versions the management console flagged bad (docs/MANAGEMENT.md `flag-version`): the
 * latest `settings` record of kind `version-flags` holds the whole list, so that an archive's
 * carried settings (the latest record of each kind) keep every flag. The terminal running a
 * flagged version says so on its idle and login notice (E-UPD-08) and refuses an update to one.
 */
export const VERSION_FLAGS_KIND = 'version-flags';
/** Flags kept: a console flags the few versions in the field it knows to be bad, not a history. */
export const VERSION_FLAGS_MAX = 16;
export const VERSION_RE = /^\d{1,4}\.\d{1,4}\.\d{1,4}$/;
export interface VersionFlag { readonly version: string; readonly reason: string; readonly commandId: string }
export interface VersionFlagsPayload { readonly flags: readonly VersionFlag[] }

function checkVersionFlags(p: VersionFlagsPayload): void {
  invariant(Array.isArray(p.flags) && p.flags.length <= VERSION_FLAGS_MAX, 'version-flags: not a list of at most 16');
  const seen = new Set<string>();
  for (const f of p.flags) {
    invariant(typeof f.version === 'string' && VERSION_RE.test(f.version), 'version-flags: version is not MAJOR.MINOR.PATCH');
    invariant(!seen.has(f.version), 'version-flags: a version flagged twice', { version: f.version });
    seen.add(f.version);
    checkConsoleCommand('version-flags', f);
  }
}

/** A `version-flags` settings record read back (checked as when written). */
export function versionFlagsOf(p: Record<string, unknown>): VersionFlagsPayload {
  const flags = Array.isArray(p.flags) ? p.flags.map((f: Record<string, unknown>) => ({ version: f.version, reason: f.reason, commandId: f.commandId }) as VersionFlag) : p.flags;
  const out = { flags } as VersionFlagsPayload;
  checkVersionFlags(out);
  return out;
}

// ---------------------------------------------------------------- builders (checked when written)

const ENTRY_MODES = ['011', '012', '021', '022', '051', '052', '071', '072'];
const QR_ENTRY_MODES_AT_REST = ['032', '033'];

function checkStan(stan: number): void {
  invariant(Number.isInteger(stan) && stan >= 1 && stan <= STAN_MAX, 'STAN out of range', { stan });
}
function checkBatch(batch: number): void {
  invariant(Number.isInteger(batch) && batch >= 1 && batch <= BATCH_MAX, 'batch out of range', { batch });
}
function checkMasked(panMasked: string): void {
  invariant(/^\d{6}\*+\d{4}$/.test(panMasked), 'panMasked is not 6 + stars + 4');
}

/** Field 55 at rest: exactly what emv.ts's allow-list keeps (the journal does not scan bytes). */
function checkField55(field55: Buffer | undefined): void {
  if (field55 === undefined) return;
  invariant(Buffer.isBuffer(field55) && field55.length > 0 && isSanitizedField55(field55), 'field 55 holds tags outside the allow-list');
}

/** DF31 at rest: whole 5-byte results, 1..ISSUER_SCRIPTS_MAX of them. */
export function checkScriptResults(df31: Buffer): void {
  invariant(Buffer.isBuffer(df31) && df31.length >= SCRIPT_RESULT_BYTES && df31.length <= SCRIPT_RESULT_BYTES * ISSUER_SCRIPTS_MAX && df31.length % SCRIPT_RESULT_BYTES === 0,
    'script results are 5 bytes a script', { bytes: df31.length });
}

/** Drops undefined members: CBOR would store them as `undefined`, which reads back differently. */
function compact<T extends object>(o: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export const rec = {
  terminalIdentity: (p: TerminalIdentityPayload): RecordInput => ({ type: 'terminalIdentity', payload: compact(p) }),
  keys: (p: KeysPayload): RecordInput => ({ type: 'keys', payload: compact(p) }),
  stan: (stan: number): RecordInput => { checkStan(stan); return { type: 'stan', payload: { stan } }; },
  batch: (batch: number): RecordInput => { checkBatch(batch); return { type: 'batch', payload: { batch } }; },
  signOn: (p: SignOnPayload): RecordInput => { checkStan(p.stan); return { type: 'signOn', payload: compact(p) }; },
  signOff: (p: SignOffPayload): RecordInput => ({ type: 'signOff', payload: compact(p) }),
  txnBegin: (p: TxnBeginPayload): RecordInput => {
    const qr = QR_TXN_KINDS.includes(p.kind);
    checkStan(p.stan); checkBatch(p.batch);
    if (qr) invariant(p.panMasked === '' && p.panEnc.length === 0 && p.qr !== undefined && (p.qr.codeLast4 === undefined || /^\d{4}$/.test(p.qr.codeLast4)), 'a QR payment carries no card and at most the last 4 digits of its code');
    else checkMasked(p.panMasked);
    invariant(Number.isSafeInteger(p.amountFen) && p.amountFen > 0, 'amount must be positive fen', { amountFen: p.amountFen });
    invariant((qr ? QR_ENTRY_MODES_AT_REST : ENTRY_MODES).includes(p.entryMode), 'entry mode unknown', { entryMode: p.entryMode });
    invariant(TXN_KINDS.includes(p.kind), 'transaction kind unknown', { kind: p.kind });
    invariant(p.kind !== 'void' || (p.origStan !== undefined && p.origRrn !== undefined), 'a void names its sale');
    invariant(p.kind !== 'completionVoid' || (p.origStan !== undefined && p.origRrn !== undefined), 'a completion void names its completion');
    invariant((p.kind !== 'preAuthVoid' && p.kind !== 'completion') || p.origAuthCode !== undefined, 'a pre-authorization void or completion names the authorization code');
    checkField55(p.field55);
    invariant(p.field55 === undefined || (p.kind === 'sale' && p.entryMode.startsWith('07')), 'only a tapped card\'s offline sale keeps its field 55 with the sale');
    return { type: 'txnBegin', payload: compact(p) };
  },
  txnResult: (p: TxnResultPayload): RecordInput => {
    checkStan(p.stan);
    invariant(p.outcome !== 'approved' || (p.responseCode === '00' && p.rrn !== undefined), 'an approval carries 00 and an RRN');
    invariant(p.outcome !== 'offline' || (/^Y[13]$/.test(p.responseCode) && p.authCode !== undefined && p.rrn === undefined), 'an offline approval carries Y1/Y3, the terminal\'s authorization code and no RRN');
    return { type: 'txnResult', payload: compact(p) };
  },
  receiptPrinted: (p: ReceiptPrintedPayload): RecordInput => ({ type: 'receiptPrinted', payload: compact(p) }),
  receiptPending: (p: ReceiptPendingPayload): RecordInput => {
    checkStan(p.stan);
    invariant(p.copy === 'customer', 'only a customer copy is journaled as pending (a merchant copy is pending until printed)', { copy: p.copy });
    return { type: 'receiptPending', payload: compact(p) };
  },
  signature: (p: SignaturePayload): RecordInput => { checkStan(p.stan); return { type: 'signature', payload: compact(p) }; },
  signatureUploaded: (p: SignatureUploadedPayload): RecordInput => ({ type: 'signatureUploaded', payload: compact(p) }),
  reversalPending: (p: ReversalPendingPayload): RecordInput => {
    checkStan(p.stan); checkBatch(p.batch); checkMasked(p.panMasked);
    invariant(['98', 'A0', '06'].includes(p.reason), 'reversal reason unknown', { reason: p.reason });
    checkField55(p.field55);
    return { type: 'reversalPending', payload: compact(p) };
  },
  reversalCleared: (p: ReversalClearedPayload): RecordInput => ({ type: 'reversalCleared', payload: compact(p) }),
  scriptNoticePending: (p: ScriptNoticePendingPayload): RecordInput => {
    checkStan(p.stan); checkStan(p.origStan); checkBatch(p.batch); checkBatch(p.origBatch); checkMasked(p.panMasked);
    invariant(/^\d{12}$/.test(p.rrn) && /^\d{4}$/.test(p.origDate), 'a script notice names its sale by RRN and date');
    checkField55(p.field55);
    checkScriptResults(p.scriptResults);
    return { type: 'scriptNoticePending', payload: compact(p) };
  },
  scriptNoticeCleared: (p: ScriptNoticeClearedPayload): RecordInput => { checkStan(p.stan); return { type: 'scriptNoticeCleared', payload: compact(p) }; },
  adviceResult: (p: AdviceResultPayload): RecordInput => {
    checkStan(p.stan);
    invariant(['sending', 'unsent', 'sent', 'rejected', 'abandoned'].includes(p.state), 'advice state unknown', { state: p.state });
    invariant((p.state !== 'sending' && p.state !== 'unsent') || p.responseCode === '--', 'an advice being sent (or taken back) has no answer');
    invariant(p.state !== 'abandoned' || p.by !== undefined, 'a supervisor gives an advice up');
    return { type: 'adviceResult', payload: compact(p) };
  },
  settlementStep: (p: SettlementStepPayload): RecordInput => { checkBatch(p.batch); return { type: 'settlementStep', payload: compact(p) }; },
  batchClosed: (p: BatchClosedPayload): RecordInput => {
    checkBatch(p.batch); checkBatch(p.nextBatch);
    invariant(p.nextBatch !== p.batch, 'the next batch differs from the closed one');
    for (const o of p.offlineNotTaken ?? []) checkAdviceSends(o);
    return { type: 'batchClosed', payload: compact(p) };
  },
  operator: (p: OperatorPayload): RecordInput => {
    invariant(/^\d{3}$/.test(p.number), 'operator number is 3 digits', { number: p.number });
    invariant(p.passwordHash.length >= 32 && p.salt.length >= 16, 'password hash and salt too short');
    return { type: 'operator', payload: compact(p) };
  },
  operatorDeleted: (p: OperatorDeletedPayload): RecordInput => {
    invariant(/^\d{3}$/.test(p.number) && /^\d{3}$/.test(p.by), 'operator numbers are 3 digits', { number: p.number, by: p.by });
    invariant(p.number !== p.by, 'an operator never deletes themself', { number: p.number });
    return { type: 'operator', payload: compact(p) };
  },
  adminAction: (p: AdminActionPayload): RecordInput => ({ type: 'adminAction', payload: compact(p) }),
  cardRefused: (p: CardRefusedPayload): RecordInput => {
    invariant(CARD_REFUSAL_CODES.includes(p.code), 'card refusal code unknown', { code: p.code });
    invariant(['sale', 'refund', 'balance'].includes(p.txnType) && Number.isSafeInteger(p.amountFen) && p.amountFen >= 0, 'card refusal transaction malformed');
    invariant((p.oda === undefined || ODA_WORD.test(p.oda)) && (p.reason === undefined || ODA_WORD.test(p.reason)), 'card refusal ODA words malformed');
    return { type: 'cardRefused', payload: compact(p) };
  },
  hostParams: (p: HostParamsPayload): RecordInput => {
    checkHostParams(p);
    return { type: 'settings', payload: { kind: HOST_PARAMS_KIND, ...compact(p) } };
  },
  caKeys: (p: CaKeysPayload): RecordInput => {
    p.keys.forEach(checkCaKey);
    invariant(p.keys.length <= CA_KEYS_MAX, 'too many CA keys', { keys: p.keys.length });
    return { type: 'settings', payload: { kind: CA_KEYS_KIND, keys: p.keys.map((k) => ({ ...k })) } };
  },
  sellingLock: (p: SellingLockPayload): RecordInput => {
    checkSellingLock(p);
    return { type: 'settings', payload: { kind: SELLING_LOCK_KIND, locked: p.locked, reason: p.reason, commandId: p.commandId } };
  },
  versionFlags: (p: VersionFlagsPayload): RecordInput => {
    checkVersionFlags(p);
    return { type: 'settings', payload: { kind: VERSION_FLAGS_KIND, flags: p.flags.map((f) => ({ version: f.version, reason: f.reason, commandId: f.commandId })) } };
  },
  aidParams: (p: AidsPayload): RecordInput => {
    invariant(p.aids.length <= AIDS_MAX, 'too many AIDs', { aids: p.aids.length });
    p.aids.forEach(checkAid);
    return { type: 'settings', payload: { kind: AIDS_KIND, aids: p.aids.map((a) => ({ ...a })) } };
  },
};

/** A stored CA key is one whose check value is right (expiry is the reader's business: it moves with the date). */
function checkCaKey(k: CaPublicKey): void {
  const problem = caKeyProblem(k, '00000000');
  invariant(problem === undefined, 'CA key fails its check', { rid: k.rid.toString('hex'), index: k.index, problem });
}

function checkAid(a: AidParams): void {
  invariant(a.aid.length >= 5 && a.aid.length <= 16 && (a.asi === 0 || a.asi === 1), 'AID parameters malformed', { aid: a.aid.toString('hex') });
  invariant(a.tacDefault.length === 5 && a.tacOnline.length === 5 && a.tacDenial.length === 5 && a.appVersion.length === 2, 'AID TAC or version malformed');
  for (const v of [a.floorLimitFen, a.clFloorLimitFen, a.clTxnLimitFen, a.cvmRequiredLimitFen]) invariant(Number.isSafeInteger(v) && v >= 0, 'AID limit out of range');
  if (a.random !== undefined) {
    const problem = randomParamsProblem(a.random, a.floorLimitFen);
    invariant(problem === undefined, 'AID random selection parameters out of range', { problem });
  }
}

/** A `ca-keys` settings record read back (checked as when written). */
export function caKeysOf(p: Record<string, unknown>): CaPublicKey[] {
  invariant(Array.isArray(p.keys) && p.keys.length <= CA_KEYS_MAX, 'ca-keys record holds no key list');
  return (p.keys as Array<Record<string, unknown>>).map((k) => {
    const key: CaPublicKey = {
      rid: buf(k.rid, 'rid'), index: num(k.index, 'index'), modulus: buf(k.modulus, 'modulus'), exponent: buf(k.exponent, 'exponent'),
      checksum: buf(k.checksum, 'checksum'), expiryYyyymmdd: optStr(k.expiryYyyymmdd, 'expiryYyyymmdd'),
    };
    checkCaKey(key);
    return key;
  });
}

/** An `aids` settings record read back (checked as when written). */
export function aidsOf(p: Record<string, unknown>): AidParams[] {
  invariant(Array.isArray(p.aids) && p.aids.length <= AIDS_MAX, 'aids record holds no AID list');
  return (p.aids as Array<Record<string, unknown>>).map((a) => {
    const out: AidParams = {
      aid: buf(a.aid, 'aid'), asi: num(a.asi, 'asi'), appVersion: buf(a.appVersion, 'appVersion'),
      tacDefault: buf(a.tacDefault, 'tacDefault'), tacOnline: buf(a.tacOnline, 'tacOnline'), tacDenial: buf(a.tacDenial, 'tacDenial'),
      floorLimitFen: num(a.floorLimitFen, 'floorLimitFen'), clFloorLimitFen: num(a.clFloorLimitFen, 'clFloorLimitFen'),
      clTxnLimitFen: num(a.clTxnLimitFen, 'clTxnLimitFen'), cvmRequiredLimitFen: num(a.cvmRequiredLimitFen, 'cvmRequiredLimitFen'),
      ...(a.random === undefined ? {} : { random: randomOfRecord(a.random) }),
    };
    checkAid(out);
    return out;
  });
}

function randomOfRecord(v: unknown): RandomSelectionParams {
  invariant(typeof v === 'object' && v !== null, 'aids record: random selection is not an object');
  const r = v as Record<string, unknown>;
  return { thresholdFen: num(r.thresholdFen, 'thresholdFen'), maxTargetPercent: num(r.maxTargetPercent, 'maxTargetPercent'), targetPercent: num(r.targetPercent, 'targetPercent') };
}

/** The ranges of docs/PROTOCOL.md (parameter download), checked when written and when read back. */
function checkHostParams(p: HostParamsPayload): void {
  const intIn = (v: number | undefined, min: number, max: number, what: string): void => {
    invariant(v === undefined || (Number.isSafeInteger(v) && v >= min && v <= max), `host parameter ${what} out of range`, { value: v });
  };
  intIn(p.responseTimeoutS, RESPONSE_TIMEOUT_S_MIN, RESPONSE_TIMEOUT_S_MAX, 'responseTimeoutS');
  intIn(p.reversalTries, REVERSAL_TRIES_MIN, REVERSAL_TRIES_MAX_PARAM, 'reversalTries');
  intIn(p.amountFenMax, 1, PARAM_AMOUNT_FEN_MAX, 'amountFenMax');
  intIn(p.offlineFloorFen, 0, 999_999_999_999, 'offlineFloorFen');
  intIn(p.offlineCountMax, 0, 255, 'offlineCountMax');
  invariant(p.merchantName === undefined || (typeof p.merchantName === 'string' && p.merchantName.length <= 40), 'merchant name too long');
  invariant(p.eReceiptBase === undefined || (typeof p.eReceiptBase === 'string' && isEReceiptBase(p.eReceiptBase)), 'e-receipt address not an https address');
}

/** A `host-params` settings record read back (checked as when written). */
export function hostParamsOf(p: Record<string, unknown>): HostParamsPayload {
  const bool = (v: unknown, what: string): boolean | undefined => {
    invariant(v === undefined || typeof v === 'boolean', `${what} is not a boolean`);
    return v as boolean | undefined;
  };
  const out: HostParamsPayload = {
    merchantName: optStr(p.merchantName, 'merchantName'), responseTimeoutS: optNum(p.responseTimeoutS, 'responseTimeoutS'),
    reversalTries: optNum(p.reversalTries, 'reversalTries'), amountFenMax: optNum(p.amountFenMax, 'amountFenMax'),
    offlineAllowed: bool(p.offlineAllowed, 'offlineAllowed'), offlineFloorFen: optNum(p.offlineFloorFen, 'offlineFloorFen'),
    offlineCountMax: optNum(p.offlineCountMax, 'offlineCountMax'), qrAllowed: bool(p.qrAllowed, 'qrAllowed'), preAuthAllowed: bool(p.preAuthAllowed, 'preAuthAllowed'),
    eReceiptBase: optStr(p.eReceiptBase, 'eReceiptBase'),
  };
  checkHostParams(out);
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as HostParamsPayload;
}

// ---------------------------------------------------------------- readers (checked when read)

/**
 * cbor-x gives Uint8Array (or Buffer) for byte strings; the runtime works with Buffers. The copy
 * owns exactly its bytes: Buffer.from would slice node's shared 8 KB pool, and the state keeps a
 * sealed PAN and a PAN tag per transaction, so each one kept a whole 8 KB slab alive (8 MB over
 * a batch of 999, measured in heap snapshots by bench/memory.bench.ts; issue 14).
 */
export function buf(v: unknown, what: string): Buffer {
  invariant(v instanceof Uint8Array, `${what} is not bytes`);
  const own = Buffer.allocUnsafeSlow(v.length);
  own.set(v);
  return own;
}
export function num(v: unknown, what: string): number {
  invariant(typeof v === 'number' && Number.isSafeInteger(v), `${what} is not an integer`);
  return v;
}
export function str(v: unknown, what: string): string {
  invariant(typeof v === 'string', `${what} is not a string`);
  return v;
}
export function optStr(v: unknown, what: string): string | undefined {
  return v === undefined ? undefined : str(v, what);
}
/** A stored field 55, checked against the allow-list as it is read back. */
export function optField55(v: unknown, what: string): Buffer | undefined {
  if (v === undefined) return undefined;
  const b = buf(v, what);
  checkField55(b);
  return b;
}
export function optNum(v: unknown, what: string): number | undefined {
  return v === undefined ? undefined : num(v, what);
}
export function totalsOf(v: unknown): SettlementTotals {
  invariant(v !== null && typeof v === 'object', 'totals is not a map');
  const t = v as Record<string, unknown>;
  return {
    saleAmountFen: num(t.saleAmountFen, 'saleAmountFen'), saleCount: num(t.saleCount, 'saleCount'),
    refundAmountFen: num(t.refundAmountFen, 'refundAmountFen'), refundCount: num(t.refundCount, 'refundCount'),
  };
}

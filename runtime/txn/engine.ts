/**
 * The terminal engine: every flow against the acquirer host and the journal, in the durability
 * order of docs/PROTOCOL.md and DESIGN.md rule 5. No UI, no devices: the state machine (machine.ts)
 * calls these as actors. Everything is injected (journal, host exchange, clock, randomness,
 * device key) so a seeded simulation replays a day exactly.
 *
 * Durability order of a financial message (sale 0200, void 0200, refund 0220):
 *   1. one commit: [marks deferred so far +] STAN reserved + txn-begin + reversal-pending (98)
 *                                                                            -> then send
 *   2. one commit: txn-result + reversal-cleared (approved or declined)       -> then return
 *   3. the receipt is printed; receipt-printed is DEFERRED (runtime/store.ts): applied to the state
 *      at once, written by the next durable commit (the next sale's 1., a settlement, a sign-off,
 *      a clean close).
 * So a sale costs two commits (four flush barriers), the minimum the profile allows: the reversal
 * must be durable before the request leaves, and the result before anyone sees it. A power cut
 * before the next commit loses only the mark: the next boot offers the copy again, printed
 * marked 重打印/DUPLICATE (machine.ts printPending), and nothing is charged again or lost.
 *
 * Failures after sending: timeout -> reversal 98 stays and is sent at once (up to
 * `reversalTriesMax`); a reply that cannot be read (malformed) -> rewritten with 06 and sent; a
 * reply whose MAC fails -> reversal-pending rewritten with A0, the reversal sent, and a sign-on before the next transaction; connect refused before anything
 * was sent -> the reversal is cleared as not-sent. A pending reversal is always sent before any
 * other financial message and before settlement; while it cannot be sent, they are refused.
 *
 * IC card data (field 55): the chip read (card.ts, with `cardRequest()` made here from the
 * injected clock and randomness) gives the ARQC and its inputs; a chip sale sends them in 55 and
 * the reversal-pending record keeps the same bytes, so the 0400 carries the original's 55 even
 * after a power cut. Refund, void and balance inquiry rows of the profile have no 55: not sent.
 *
 * The online half of a chip sale (a card read with `holdCard`, CardInput.online; emv-online.ts):
 *   2'. approved: one commit, txn-result + reversal-pending rewritten 06 (decided): the card has not
 *       confirmed yet, so a power cut from here reverses the sale at the next boot
 *   3'. the card: scripts 71, issuer authentication, the final GENERATE AC, scripts 72
 *   4'. one commit: [STAN + script-notice-pending when the host sent scripts] + reversal-cleared on a
 *       TC; without a TC (AAC, a failed ARPC, the card pulled) the notice alone, then the reversal
 *       (06) is sent and the sale fails with E-RDR-10/11/12.
 *   A decline journals its result as any other (2.), then the card is told (AAC) and a notice is
 *   journaled if scripts ran. Script notices (0620) go before the next financial message, after
 *   any reversal, up to the reversal's tries each; one the host does not take (39 != 00, or no
 *   answer) stays pending for the next time but does not stop selling.
 */
import { createHmac } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Logger, maskPan, silentLogger } from '../../common/log';
import { AdjustableClock, CLOCK_BEHIND_JOURNAL_MS_MAX, CLOCK_FLOOR_MS, HOST_CLOCK_SKEW_MS_MAX, TZ_OFFSET_MINUTES_DEFAULT, hostInstant, hostInstantFrom, mmddIn, yymmddIn } from '../../common/time';
import { PosError, invariant, isPosError, isStopError } from '../../common/errors';
import { HostProfile } from '../host/fields';
import { WorkingKeys, keyCheckValue, pinBlockFormat0 } from '../host/crypto';
import {
  Balance, EntryMode, FinancialResult, Request, ReversalReason, TerminalIds, AMOUNT_FEN_MAX, BATCH_MAX,
  buildBalance, buildRefund, buildReversal, buildSale, buildSignOff, buildSignOn, buildSignatureUpload, buildVoid,
  encodeRequest, parseAckResponse, parseFinancialResponse, parseReversalResponse, parseSignOnResponse,
} from '../host/messages';
import { MAC_ERROR_RESPONSE_CODE, ResponseCodeText, explainResponseCode } from '../host/response-codes';
import { bytesField, textField } from '../host/packager';
import { DeviceKeyProvider, RandomBytes, seal, unseal } from '../device-key';
import { CARD_REFUSAL_CODES, HostParamsPayload, QrTxnInfo, RecordInput, ReversalPendingPayload, SellingLockPayload, TxnBeginPayload, VERSION_FLAGS_MAX, VersionFlag, TxnKind, rec } from '../records';
import {
  ADVICE_ACCEPTED_CODES, ParamDownloadResult, PreAuthRef, TerminalStatus, buildCompletion, buildCompletionVoid, buildEcho, buildOfflineAdvice,
  buildParamDownload, buildPreAuth, buildPreAuthVoid, buildStatusUpload, completionFenMax, parseParamDownloadResponse,
} from '../host/messages-v2';
import { FEATURE_UNKNOWN_CODES, RequestType } from '../host/fields';
import { AnomalyFlag, anomalyDigest, buildProfile, detectAnomalies } from '../anomaly';
import { Store } from '../store';
import { Session, requirePermission } from '../operators';
import { PreAuthHold, Txn, TxnStatus, applyRecord, emptyState, nextStanAfter, pendingAdvices, pendingCopies, statusOf, unprintedReceipts, signaturesToUpload } from '../terminal-state';
import { RecordType } from '../../storage/record';
import { MonoImage } from '../../hal/printer';
import { CardInput, entryModeWithPin } from './card';
import { CardRequest, EmvTxnType, UNPREDICTABLE_NUMBER_BYTES, field55Of, sanitizeField55 } from './emv';
import { RANDOM_PERCENT_BYTES, RiskContext, randomPercentOf } from './emv-risk';
import { ChipOnline, OnlineOutcome, FirstPass, SCRIPT_RESULT_BYTES, noticeField55, noticeValues } from './emv-online';
import { buildScriptNotice } from '../host/messages-v2';
import { ScriptNoticePendingPayload } from '../records';

/** Reversal tries per attempt (docs/PROTOCOL.md). */
export const REVERSAL_TRIES_MAX = 3;
/** A sale for the same card and amount approved within this is shown before a new one starts. */
export const DUPLICATE_WINDOW_MS_DEFAULT = 10 * 60_000;
/** Default ceiling for one sale: 50 000 yuan. */
export const AMOUNT_FEN_MAX_DEFAULT = 5_000_000;
/** Above this the operator confirms the amount: 1 000 yuan. */
export const CONFIRM_ABOVE_FEN_DEFAULT = 100_000;
/** Field 62 holds at most 999 bytes: the compressed signature must fit. */
export const SIGNATURE_BYTES_MAX = 999;
export const SIGNATURE_PIXELS_MAX = 384 * 200;
/**
 * Transactions of one kind a batch may hold: field 48 of the 0500 carries the sale and refund
 * counts as n3 (docs/PROTOCOL.md), so a batch beyond 999 of either could never be settled.
 */
export const BATCH_TXNS_MAX = 999;
/** STANs reserved at once for a run of non-financial messages (batch upload, signatures). */
export const STAN_BLOCK_MAX = 64;

export interface TerminalConfig {
  readonly ids: TerminalIds;
  readonly profile: HostProfile;
  /** The terminal master key, injected at the factory (16 bytes); read only when signing on. */
  readonly tmk: () => Buffer;
  readonly amountFenMax?: number;
  readonly confirmAboveFen?: number;
  readonly duplicateWindowMs?: number;
  readonly reversalTriesMax?: number;
  readonly merchantName?: string;
  /** The terminal's time zone, minutes east of UTC (board file `timeZone`; default UTC+8). */
  readonly tzOffsetMinutes?: number;
}

/** The part of HostTransport the engine uses (tests wrap it to count or kill). */
export interface HostExchange {
  exchange(request: Buffer, signal?: AbortSignal): Promise<Buffer>;
  /** The host's response timeout (parameter download DF12); absent: the exchange keeps its own. */
  setResponseTimeoutMs?(ms: number): void;
  /** The link the last exchange went over (runtime/host/failover.ts; "wifi0", "modem0"); absent: one link. */
  linkUsed?(): string | undefined;
}

export interface EngineDeps {
  readonly store: Store;
  readonly host: HostExchange;
  readonly config: TerminalConfig;
  readonly deviceKey: DeviceKeyProvider;
  readonly random: RandomBytes;
  readonly clock: () => number;
  /**
   * The clock the host's time corrects (common/time.ts). When given, `clock` should be its `now`,
   * so that everything else reading that clock (journal, screens) sees the correction; when
   * absent the engine keeps the correction to itself.
   */
  readonly clockControl?: AdjustableClock;
  readonly logger?: Logger;
  /** Called right before a request leaves (tests mark the moment; nothing else may happen here). */
  readonly onSend?: (type: Request['type'], stan: number) => void;
}

/** What a person may see of a transaction: masked PAN, never the sealed one. */
export interface TxnView {
  readonly kind: TxnKind;
  readonly stan: number;
  readonly batch: number;
  readonly amountFen: number;
  readonly panMasked: string;
  readonly entryMode: EntryMode;
  readonly status: TxnStatus;
  readonly responseCode?: string;
  readonly rrn?: string;
  readonly authCode?: string;
  readonly hostDate?: string;
  readonly hostTime?: string;
  readonly operator: string;
  readonly origStan?: number;
  readonly atMs: number;
  readonly printed: readonly string[];
  readonly hasSignature: boolean;
  /** Approved offline by the terminal (离线): the advice's state. */
  readonly offline?: 'pending' | 'sent' | 'rejected' | 'abandoned';
  /** Offline sales: how many times the advice went to the host (absent: never). Given up after one, its outcome is unknown. */
  readonly offlineSends?: number;
  /** QR payments: wallet, order number, masked payer, last 4 digits of the code (no card: panMasked is ''). */
  readonly qr?: QrTxnInfo;
  /** The link that carried the host's answer, journaled only on a board with several ("wifi0", "modem0"). */
  readonly link?: string;
}

export type FlowResult =
  | { readonly outcome: 'approved'; readonly txn: TxnView }
  | { readonly outcome: 'declined'; readonly txn: TxnView; readonly text: ResponseCodeText }
  | { readonly outcome: 'failed'; readonly error: PosError; readonly reversalPending: boolean; readonly stan?: number };

export interface SaleInput { readonly amountFen: number; readonly card: CardInput; readonly pin?: Buffer; readonly session: Session }

/**
 * The pre-authorization a void or completion names: a hold of this journal by its trace number,
 * or one keyed by the operator (authorization code, date MMDD, amount, and the card read or keyed).
 */
export type PreAuthTarget =
  | { readonly stan: number }
  /**
   * amountFen: the pre-authorized amount; a void needs it. A keyed hold this journal holds (same card,
   * code and date) is that hold: its amount, the 115% check, its real 61. Another terminal's has no
   * 115% check here (the host's 13).
   */
  | { readonly keyed: { readonly authCode: string; readonly dateMmdd: string; readonly amountFen?: number; readonly card: CardInput } };

/** The records a settled transaction's slip is rebuilt from (Engine.settledTxn): its own, by STAN. */
const SETTLED_TXN_RECORDS: ReadonlySet<number> = new Set([
  RecordType.txnBegin, RecordType.txnResult, RecordType.receiptPrinted, RecordType.receiptPending, RecordType.signature,
  RecordType.signatureUploaded, RecordType.reversalPending, RecordType.reversalCleared, RecordType.adviceResult,
]);

/** 39 = 40: the host does not support the function (one of the profile's two "unknown message" answers). */
const FUNCTION_NOT_SUPPORTED_RESPONSE_CODE = '40';
/** Features a host may not offer (docs/PROTOCOL.md V2: answered 12 or 40, hidden until the next sign-on). */
export type HostFeature = 'preAuth' | 'qr' | 'params' | 'echo' | 'status' | 'caKeys' | 'aids' | 'scriptNotice';
export interface RefundInput {
  readonly amountFen: number; readonly card: CardInput; readonly session: Session;
  readonly origRrn: string; readonly origDateMmdd: string; readonly origBatch?: number; readonly origStan?: number;
}

export function viewOf(state: Store['state'], t: Txn): TxnView {
  return {
    kind: t.kind, stan: t.stan, batch: t.batch, amountFen: t.amountFen, panMasked: t.panMasked, entryMode: t.entryMode,
    status: statusOf(state, t), responseCode: t.responseCode, rrn: t.rrn, authCode: t.authCode, hostDate: t.hostDate,
    hostTime: t.hostTime, operator: t.operator, origStan: t.origStan, atMs: t.resultAtMs ?? t.beganAtMs,
    printed: [...t.printed], hasSignature: t.signature !== undefined, ...(t.offline ? { offline: t.offline.state } : {}),
    ...(t.offline?.sends !== undefined ? { offlineSends: t.offline.sends } : {}), ...(t.qr ? { qr: { ...t.qr } } : {}),
    ...(t.link !== undefined ? { link: t.link } : {}),
  };
}

/**
 * Offline approvals the terminal makes when the host cannot be reached (docs/PROTOCOL.md): 39 of
 * the journal's result, Y3 = "unable to go online, approved offline" (EMV's code; Y1 is the chip
 * card's own offline approval).
 */
export const OFFLINE_RESPONSE_CODE = 'Y3';
/** 39 of the journal's result for a sale a chip card approved offline (a qPBOC TC): Y1 (EMV's "offline approved"). */
export const CHIP_OFFLINE_RESPONSE_CODE = 'Y1';
/** The terminal-made authorization code: "OF" + the last 4 digits of the sale's STAN (an6, never a host's all-digit code). */
export function offlineAuthCode(stan: number): string {
  return `OF${String(stan % 10_000).padStart(4, '0')}`;
}

export class TerminalEngine {
  readonly store: Store;
  readonly config: TerminalConfig;
  private readonly log: Logger;
  private keys: WorkingKeys | undefined;
  /** Set after a MAC failure: sign on again before the next transaction. */
  needsSignOn = false;
  /** STANs whose reversal reason was decided in this run (else a 98 left by a power cut is 06). */
  private readonly reasonDecided = new Set<number>();
  /** The last operator session that signed on (pending work and re-sign-on reuse it). */
  lastSession: Session | undefined;
  /** Features the host answered "unknown" (12/40) since the last sign-on: hidden until the next. */
  private readonly hostLacks = new Set<HostFeature>();
  /** The open batch's anomaly flags, computed once per journal position (screens ask often). */
  private anomalyCache: { seq: number; flags: AnomalyFlag[] } | undefined;

  /** The terminal's clock: the injected one corrected by the host's time (sign-on). */
  private readonly clock: AdjustableClock;

  constructor(private readonly deps: EngineDeps) {
    this.store = deps.store;
    this.config = deps.config;
    this.log = (deps.logger ?? silentLogger).child({ component: 'engine' });
    this.clock = deps.clockControl ?? new AdjustableClock(deps.clock);
    // The correction the last sign-on journaled survives a reboot: the device clock it corrected
    // is still the one this process reads (the next sign-on corrects it again if it moved), unless
    // that clock was set right since (staleClockOffset).
    if (this.state.clockOffsetMs !== undefined && !this.staleClockOffset(this.state.clockOffsetMs)) this.clock.setOffsetMs(this.state.clockOffsetMs);
    if (this.state.signedOn && this.state.keys) this.keys = this.openKeys();
  }

  get state(): Store['state'] { return this.store.state; }
  get signedOn(): boolean { return this.state.signedOn && this.keys !== undefined && !this.needsSignOn; }
  /** The host's parameters win over the board's configuration: the acquirer sets the merchant's limits. */
  get amountFenMax(): number { return Math.min(this.params.amountFenMax ?? this.config.amountFenMax ?? AMOUNT_FEN_MAX_DEFAULT, AMOUNT_FEN_MAX); }
  /** The acquirer's parameters in force ({} before any download). */
  get params(): HostParamsPayload { return this.state.hostParams ?? {}; }
  /** The merchant name to print and show: the host's (parameter download), else the configured one. */
  get merchantName(): string | undefined { return this.params.merchantName ?? this.config.merchantName; }
  /** Selling locked by the management console (issue 12 item 5): the lock in force, if locked. */
  get sellingLock(): SellingLockPayload | undefined { return this.state.sellingLock?.locked ? this.state.sellingLock : undefined; }

  /**
   * Locks or unlocks selling (a `selling-lock` settings record, durable on return, in the reserve
   * like the host's parameters: a lock must hold even on a full journal and across reboots).
   */
  async setSellingLock(locked: boolean, reason: string, commandId: string): Promise<void> {
    await this.store.commit([rec.sellingLock({ locked, reason, commandId })], { reserve: true });
    this.log.warn({ locked, reason, commandId }, locked ? 'selling locked by the management console' : 'selling unlocked by the management console');
  }

  /** Versions the management console flagged bad ([] when none). */
  get versionFlags(): readonly VersionFlag[] { return this.state.versionFlags ?? []; }

  /**
   * Flags a software version bad, or takes the flag back (a `version-flags` settings record of
   * the whole list, durable on return, in the reserve as a lock is: the console's word must hold
   * on a full journal and across reboots). Flagging a version already flagged replaces its reason;
   * more than VERSION_FLAGS_MAX is refused (E-MGT-03: the console takes one back first).
   */
  async setVersionFlag(version: string, bad: boolean, reason: string, commandId: string): Promise<void> {
    const others = this.versionFlags.filter((f) => f.version !== version);
    const flags = bad ? [...others, { version, reason, commandId }] : others;
    if (flags.length > VERSION_FLAGS_MAX) throw new PosError('MGT_PARAMS', `${VERSION_FLAGS_MAX} versions are flagged already: unflag one first`, { version });
    await this.store.commit([rec.versionFlags({ flags })], { reserve: true });
    this.log.warn({ version, bad, reason, commandId }, bad ? `version ${version} flagged bad by the management console` : `version ${version} no longer flagged bad`);
  }

  /** Where the receipt's QR code points (the host's DF1A); undefined: the host set none, no QR. */
  get eReceiptBase(): string | undefined { return this.params.eReceiptBase; }
  private get reversalTries(): number { return this.params.reversalTries ?? this.config.reversalTriesMax ?? REVERSAL_TRIES_MAX; }

  /**
   * Whether a V2 feature may be offered now: the host has not answered it "unknown" since the last
   * sign-on and, for pre-authorization and QR, the parameters do not switch it off (a host that
   * never sent the switch leaves it on: the profile's default is the host's silence).
   */
  featureAvailable(f: HostFeature): boolean {
    if (this.hostLacks.has(f)) return false;
    if (f === 'preAuth') return this.params.preAuthAllowed !== false;
    if (f === 'qr') return this.params.qrAllowed !== false;
    return true;
  }

  /** A host answer that means "this message is unknown here" (profile: 12 or 40) hides the feature. */
  private noteUnknown(f: HostFeature, type: RequestType, responseCode: string): boolean {
    if (!FEATURE_UNKNOWN_CODES.includes(responseCode)) return false;
    this.hostLacks.add(f);
    this.log.warn({ feature: f, type, code: responseCode }, 'the host does not offer this: hidden until the next sign-on');
    return true;
  }
  get confirmAboveFen(): number { return this.config.confirmAboveFen ?? CONFIRM_ABOVE_FEN_DEFAULT; }
  /** The terminal's time zone in minutes east of UTC. */
  get tzOffsetMinutes(): number { return this.config.tzOffsetMinutes ?? TZ_OFFSET_MINUTES_DEFAULT; }

  // ------------------------------------------------------------ sealing

  private aad(what: string): string {
    return `${what}/${this.config.ids.tid}`;
  }

  private sealPan(pan: string): Buffer {
    return seal(this.deps.deviceKey.deviceKey(), Buffer.from(pan, 'ascii'), this.aad('pan'), this.deps.random);
  }

  /** The clear PAN, for a message being built; never stored or logged. */
  panOf(panEnc: Buffer): string {
    return unseal(this.deps.deviceKey.deviceKey(), panEnc, this.aad('pan')).toString('ascii');
  }

  /** A keyed hash of the PAN: recognises the same card (duplicate guard) without storing it. */
  panTag(pan: string): Buffer {
    return createHmac('sha256', this.deps.deviceKey.deviceKey()).update('pan-tag\0').update(pan).digest().subarray(0, 8);
  }

  private openKeys(): WorkingKeys {
    const k = this.state.keys;
    invariant(k !== undefined, 'no keys to open');
    const dk = this.deps.deviceKey.deviceKey();
    const keys = { pik: unseal(dk, k.pikEnc, this.aad('pik')), mak: unseal(dk, k.makEnc, this.aad('mak')), tdk: unseal(dk, k.tdkEnc, this.aad('tdk')) };
    // Check values written at sign-on are checked again when the keys are read back.
    if (!keyCheckValue(keys.pik).equals(k.kcvPik) || !keyCheckValue(keys.mak).equals(k.kcvMak)) {
      throw new PosError('KEY_CHECK', 'stored working keys do not match their check values');
    }
    return keys;
  }

  // ------------------------------------------------------------ STAN

  /** The next `count` STANs and the record that reserves them (committed before they are used). */
  private stans(count: number): { stans: number[]; record: RecordInput } {
    invariant(count >= 1 && count <= STAN_BLOCK_MAX, 'STAN block out of range', { count });
    const out: number[] = [];
    let s = this.state.stanLast;
    for (let i = 0; i < count; i++) { s = nextStanAfter(s); out.push(s); }
    return { stans: out, record: rec.stan(s) };
  }

  private async reserveStan(): Promise<number> {
    const { stans, record } = this.stans(1);
    await this.store.commit([record], { reserve: true });
    return stans[0];
  }

  // ------------------------------------------------------------ host exchange

  /** Packs and MACs a request; a request the packager refuses throws here, before any record. */
  private encode(req: Request): Buffer {
    const mac = this.config.profile.messages[req.type].mac;
    if (mac && this.keys === undefined) throw new PosError('KEY_MISSING', 'sign on first');
    return encodeRequest(this.config.profile, req, { mak: this.keys?.mak });
  }

  private async send(req: Request, stan: number, encoded?: Buffer): Promise<Buffer> {
    const bytes = encoded ?? this.encode(req);
    this.deps.onSend?.(req.type, stan);
    return this.deps.host.exchange(bytes);
  }

  // ------------------------------------------------------------ sign-on / sign-off

  /** 0800 with key download: keys checked against their check values, sealed, then journaled. */
  async signOn(session: Session): Promise<void> {
    requirePermission(session, 'signOn');
    const stan = await this.reserveStan();
    const req = buildSignOn(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, operator: session.operator });
    const tmk = this.config.tmk();
    let keys: WorkingKeys;
    let hostTime: { time?: string; date?: string; batch?: number };
    try {
      const res = parseSignOnResponse(this.config.profile, req, await this.send(req, stan), tmk);
      if (!res.approved || !res.keys || !res.checkValues) {
        throw new PosError('HOST_SIGNON', `sign-on refused: ${res.responseCode} ${res.text.en}`, { responseCode: res.responseCode });
      }
      keys = res.keys;
      hostTime = { time: res.hostTime, date: res.hostDate, batch: res.hostBatch };
    } finally {
      tmk.fill(0);
    }
    const dk = this.deps.deviceKey.deviceKey();
    const kcv = { kcvPik: keyCheckValue(keys.pik), kcvMak: keyCheckValue(keys.mak), kcvTdk: keyCheckValue(keys.tdk) };
    const clockOffsetMs = this.hostClockOffset(hostTime.time, hostTime.date);
    const hostBatch = this.hostBatchToTake(hostTime.batch);
    // The sign-on's own record is stamped with the corrected time: the journal's last record is
    // what a later boot checks a device clock against (staleClockOffset).
    const offsetBeforeMs = this.clock.offsetMs;
    if (clockOffsetMs !== undefined) this.clock.setOffsetMs(clockOffsetMs);
    try {
      await this.store.commit([
        rec.keys({ pikEnc: seal(dk, keys.pik, this.aad('pik'), this.deps.random), makEnc: seal(dk, keys.mak, this.aad('mak'), this.deps.random), tdkEnc: seal(dk, keys.tdk, this.aad('tdk'), this.deps.random), ...kcv }),
        ...(hostBatch !== undefined ? [rec.batch(hostBatch)] : []),
        rec.signOn({ stan, batch: hostBatch ?? this.state.batch, operator: session.operator, kcvPik: kcv.kcvPik, kcvMak: kcv.kcvMak, clockOffsetMs, hostBatch }),
      ], { reserve: true });
    } catch (e) {
      this.clock.setOffsetMs(offsetBeforeMs);
      throw e;
    }
    if (clockOffsetMs !== undefined) this.log.info({ fromOffsetMs: offsetBeforeMs, toOffsetMs: clockOffsetMs }, 'clock set from the host time');
    if (hostBatch !== undefined) this.log.info({ batch: hostBatch }, 'batch number taken from the host');
    this.keys = keys;
    this.needsSignOn = false;
    this.lastSession = session;
    this.hostLacks.clear();
    this.applyTimeout();
    this.log.info({ stan, operator: session.operator }, 'signed on');
  }

  /**
   * The clock offset to take from an 0810's 12/13 (docs/PROTOCOL.md, "Host time and parameters from
   * sign-on"): only when the host's time differs from ours by more than 60 s; the year is the one
   * nearest our own date. Undefined: keep the clock as it is.
   */
  private hostClockOffset(hhmmss: string | undefined, mmdd: string | undefined): number | undefined {
    if (hhmmss === undefined || mmdd === undefined) return undefined;
    const now = this.clock.now();
    // A clock that was never set (a dead RTC: 1970) or is behind the journal cannot say the year:
    // the host's date is then the first one after what the terminal knows it has lived through.
    const floorMs = Math.max(CLOCK_FLOOR_MS, this.lastRecordTimeMs() - CLOCK_BEHIND_JOURNAL_MS_MAX);
    const hostMs = now >= floorMs ? hostInstant(hhmmss, mmdd, now) : hostInstantFrom(hhmmss, mmdd, floorMs);
    if (hostMs === undefined) {
      this.log.warn({ hhmmss, mmdd }, 'sign-on response time is not a real date: clock left as it is');
      return undefined;
    }
    if (Math.abs(hostMs - now) <= HOST_CLOCK_SKEW_MS_MAX) return undefined;
    return this.clock.offsetMs + (hostMs - now);
  }

  /**
   * A journaled offset is stale when the device clock alone is now right and the offset would put
   * the terminal behind its own last record: the OS clock was corrected since the sign-on (NTP, a
   * technician), and adding the old correction would set the terminal hours back (a sale's date
   * read as "in the future" by its refund). A device clock that is not set keeps the offset.
   */
  private staleClockOffset(offsetMs: number): boolean {
    if (offsetMs === 0) return false;
    const deviceMs = this.clock.now() - this.clock.offsetMs;
    const lastMs = this.lastRecordTimeMs();
    const stale = deviceMs >= CLOCK_FLOOR_MS && deviceMs >= lastMs - HOST_CLOCK_SKEW_MS_MAX && deviceMs + offsetMs < lastMs - HOST_CLOCK_SKEW_MS_MAX;
    if (stale) this.log.warn({ offsetMs, deviceMs, lastRecordMs: lastMs }, 'the device clock was set right since the last sign-on: its correction is dropped until the next');
    return stale;
  }

  /** The time of the journal's last record, 0 for an empty journal. */
  private lastRecordTimeMs(): number {
    const j = this.store.journal;
    if (j.lastSeq === 0) return 0;
    for (const r of j.records(j.lastSeq, j.lastSeq)) return r.timeMs;
    return 0;
  }

  /** The 0810's 60.2 when it is higher than our batch (never lower: a batch number never goes back). */
  private hostBatchToTake(hostBatch: number | undefined): number | undefined {
    if (hostBatch === undefined || !Number.isSafeInteger(hostBatch) || hostBatch < 1 || hostBatch > BATCH_MAX) return undefined;
    if (this.state.settlement !== undefined || this.state.txns.size > 0) return undefined;
    return hostBatch > this.state.batch ? hostBatch : undefined;
  }

  async signOff(session: Session): Promise<void> {
    requirePermission(session, 'signOff');
    await this.flushReversal().catch(() => undefined);
    const stan = await this.reserveStan();
    const req = buildSignOff(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch });
    // The host may be gone; the terminal is signed off locally either way.
    const sent = await this.send(req, stan).then((b) => parseAckResponse(this.config.profile, req, b), (e: unknown) => e);
    await this.store.commit([rec.signOff({ stan, operator: session.operator, reason: 'operator' })], { reserve: true });
    this.keys = undefined;
    if (sent instanceof Error) this.log.warn({ err: sent.message }, 'sign-off not acknowledged by the host');
  }

  // ------------------------------------------------------------ checks before money moves

  private checkCanTransact(session: Session, permission: 'sale' | 'void' | 'refund'): void {
    requirePermission(session, permission);
    if (this.state.settlement) throw new PosError('OPR_SETTLEMENT_OPEN', 'finish the settlement first', { step: this.state.settlement.step });
    const kind = permission === 'refund' ? 'refund' : 'sale';
    let count = 0;
    // QR sales and refunds count in the same n3 of field 48 as card ones.
    const qrKind = kind === 'refund' ? 'qrRefund' : 'qrSale';
    for (const t of this.state.txns.values()) if (t.kind === kind || t.kind === qrKind) count++;
    if (permission !== 'void' && count >= BATCH_TXNS_MAX) throw new PosError('OPR_BATCH_FULL', `${BATCH_TXNS_MAX} ${kind}s in this batch: settle first`, { count });
    const usage = this.store.journal.usage();
    if (usage.salesRefused) throw new PosError('STO_FULL', 'storage full: settle, then export');
    if (this.store.journal.state === 'failed') throw this.store.journal.failure ?? new PosError('STO_IO');
  }

  checkAmount(amountFen: number): void {
    if (!Number.isSafeInteger(amountFen) || amountFen < 1 || amountFen > this.amountFenMax) {
      throw new PosError('OPR_AMOUNT', `amount must be 0.01..${(this.amountFenMax / 100).toFixed(2)} yuan`, { amountFen, amountFenMax: this.amountFenMax });
    }
  }

  /** Pending reversal first, then a sign-on if a MAC failed: before any financial message. */
  private async readyForFinancial(session: Session): Promise<void> {
    // After a reboot nobody has signed on in this run yet: a reversal the host refused with A0
    // (it lost or changed its keys) signs on as the operator at the counter, or it would stay
    // pending for good and every sale stop at E-HOST-08.
    const signer = (this.lastSession ??= session);
    if (await this.flushReversal() === 'pending') {
      throw new PosError('HOST_REVERSAL_PENDING', 'the pending reversal could not be sent', { stan: this.state.pendingReversal?.stan });
    }
    if (this.needsSignOn || this.keys === undefined) await this.signOn(signer);
    // Issuer script notices next (profile: before the next financial message); one that cannot go
    // now waits for the next time: the sale itself is not held back by it.
    if (this.state.pendingScriptNotices.size > 0) {
      await this.flushScriptNotices().catch((e: unknown) => {
        if (isStopError(e) || (isPosError(e) && e.kind === 'invariant')) throw e;
        this.log.warn({ err: String(e) }, 'script notices not sent before the next message');
      });
    }
    // Offline advices go before the next online message (profile). One that cannot go now keeps
    // waiting: the host unreachable for it is unreachable for the sale too, which may go offline.
    if (pendingAdvices(this.state).length > 0) {
      await this.flushAdvices().catch((e: unknown) => {
        if (isStopError(e)) throw e;
        this.log.warn({ err: String(e) }, 'offline advices not sent before the next message');
      });
    }
  }

  // ------------------------------------------------------------ offline sales (V2)

  /**
   * An offline approval is possible for this amount now: the host's parameters allow offline sales
   * (DF15), the amount is within the floor limit (DF16), and fewer than DF17 advices wait.
   */
  offlineAllowed(amountFen: number): boolean {
    const p = this.params;
    if (p.offlineAllowed !== true || p.offlineFloorFen === undefined || amountFen > p.offlineFloorFen) return false;
    return pendingAdvices(this.state).length < (p.offlineCountMax ?? 0);
  }

  /** Offline sales whose advice waits. */
  pendingAdvices(): TxnView[] {
    return pendingAdvices(this.state).map((t) => viewOf(this.state, t));
  }

  /**
   * Sends the waiting advices (0220, 60.1 = 30), oldest first, each under its own STAN: 00 or 94
   * marks it sent, any other answer rejected (printed on the settlement report). Stops at the first
   * one that gets no answer (it stays pending: resent later, never reversed). Returns how many still wait.
   * Each send is journaled before it goes (advice-result `sending`): an advice that may have reached
   * the host is known as such after a power cut too, and giving it up says its outcome is unknown.
   * A send whose connection was refused is taken back (`unsent`): nothing of it reached the host.
   */
  async flushAdvices(): Promise<number> {
    for (const t of pendingAdvices(this.state)) {
      if (this.keys === undefined || this.needsSignOn) {
        if (!this.lastSession) break;
        await this.signOn(this.lastSession);
      }
      const req = buildOfflineAdvice(this.config.profile, {
        ids: this.config.ids, stan: t.stan, batch: t.batch, pan: this.panOf(t.panEnc), amountFen: t.amountFen, expiry: t.expiry,
        entryMode: t.entryMode, cardSeq: t.cardSeq, authCode: t.authCode ?? offlineAuthCode(t.stan), ...(t.field55 !== undefined ? { field55: t.field55 } : {}),
      });
      let res: FinancialResult;
      await this.store.commit([rec.adviceResult({ stan: t.stan, state: 'sending', responseCode: '--' })], { reserve: true });
      try {
        res = parseFinancialResponse(this.config.profile, req, await this.send(req, t.stan), { mak: this.keys?.mak });
      } catch (e) {
        if (isPosError(e, 'mac-failure')) this.needsSignOn = true;
        if (!isPosError(e) || isStopError(e)) throw e;
        // A connect refused sent nothing: that send is taken back (the host cannot have it from this one).
        if (requestNeverLeft(e)) await this.store.commit([rec.adviceResult({ stan: t.stan, state: 'unsent', responseCode: '--' })], { reserve: true });
        this.log.warn({ stan: t.stan, code: e.code }, 'offline advice not answered: it stays pending');
        break;
      }
      const accepted = ADVICE_ACCEPTED_CODES.includes(res.responseCode);
      await this.store.commit([rec.adviceResult({
        stan: t.stan, state: accepted ? 'sent' : 'rejected', responseCode: res.responseCode, rrn: res.rrn, hostDate: res.hostDate, hostTime: res.hostTime,
      })], { reserve: true });
      this.log.info({ stan: t.stan, code: res.responseCode, accepted }, 'offline advice answered');
    }
    return pendingAdvices(this.state).length;
  }

  /**
   * A supervisor gives up the waiting advices (settlement cannot wait for them): they are listed on
   * the report. One sent and never answered keeps its send count: the host may have booked it, so
   * the totals may disagree and the batch upload shows the host what the terminal has (docs/PROTOCOL.md).
   */
  async abandonAdvices(session: Session): Promise<TxnView[]> {
    requirePermission(session, 'settlement');
    if (session.role === 'cashier') throw new PosError('OPR_PERMISSION', 'a supervisor gives offline sales up');
    const todo = pendingAdvices(this.state);
    if (todo.length === 0) return [];
    await this.store.commit(todo.map((t) => rec.adviceResult({ stan: t.stan, state: 'abandoned', responseCode: '--', by: session.operator })), { reserve: true });
    const unknown = todo.filter((t) => (t.offline?.sends ?? 0) > 0).map((t) => ({ stan: t.stan, sends: t.offline?.sends }));
    this.log.warn({ stans: todo.map((t) => t.stan), by: session.operator, outcomeUnknown: unknown }, 'offline advices given up');
    return todo.map((t) => viewOf(this.state, t));
  }

  // ------------------------------------------------------------ duplicate guard

  /** An approved, unvoided sale for the same card and amount within the window, if any. */
  recentDuplicate(card: CardInput, amountFen: number): TxnView | undefined {
    const tag = this.panTag(card.pan);
    const since = this.clock.now() - (this.config.duplicateWindowMs ?? DUPLICATE_WINDOW_MS_DEFAULT);
    let found: Txn | undefined;
    for (const t of this.state.txns.values()) {
      if (t.kind === 'sale' && t.amountFen === amountFen && statusOf(this.state, t) === 'approved' && (t.resultAtMs ?? 0) >= since && t.panTag.equals(tag)) found = t;
    }
    return found && viewOf(this.state, found);
  }

  // ------------------------------------------------------------ card request (EMV terminal data)

  /**
   * What a chip card is asked to sign (9F02 amount, 9C type, 9A date, 9F37 unpredictable number
   * from the injected random source, 9F1E the TID) and the EMV parameters the terminal downloaded.
   * The machine passes it to the card read.
   */
  cardRequest(txnType: EmvTxnType, amountFen: number): CardRequest {
    const yymmdd = yymmddIn(this.clock.now(), this.tzOffsetMinutes);
    // The downloaded CA keys and AIDs go with it (the kernel keeps the keys in force on 9A's date).
    const params = { caKeys: this.state.caKeys ?? [], aids: this.state.aids };
    const unpredictable = this.deps.random(UNPREDICTABLE_NUMBER_BYTES);
    // Terminal risk management: its random number from the same injected source (drawn after 9F37),
    // and the transaction log, this batch's approved sales compared by keyed PAN hash.
    const risk: RiskContext = { randomPercent: randomPercentOf(this.deps.random(RANDOM_PERCENT_BYTES)), loggedSameCardFen: (pan) => this.lastApprovedSaleFen(pan) };
    return { txnType, amountFen, dateYymmdd: yymmdd, unpredictable, ifdSerial: this.config.ids.tid, params,
      // A qPBOC card may approve offline only when the terminal may (DF15, DF16, DF17): the TTQ says so.
      offlineAllowed: txnType === 'sale' && this.offlineAllowed(amountFen), risk };
  }

  /** The amount of the most recent approved sale of the open batch for this PAN (Book 3 §10.6.1's log), 0 when none. */
  lastApprovedSaleFen(pan: string): number {
    const tag = this.panTag(pan);
    let last: Txn | undefined;
    for (const t of this.state.txns.values()) {
      if (t.kind === 'sale' && t.batch === this.state.batch && t.panTag.equals(tag) && statusOf(this.state, t) === 'approved' && (last === undefined || t.beganAtMs >= last.beganAtMs)) last = t;
    }
    return last?.amountFen ?? 0;
  }

  /**
   * A chip card refused at the reader (E-RDR-07/08/09/13: nothing went to the host) leaves a
   * card-refused record: the code, the transaction it was read for, ODA's method and reason; never
   * card data. Best effort: the refusal stands (and is on the screen) whether or not it is journaled.
   */
  async noteCardRefused(e: unknown, request: CardRequest): Promise<void> {
    if (!isPosError(e) || !CARD_REFUSAL_CODES.includes(e.code)) return;
    const word = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const note = { code: e.code, txnType: request.txnType, amountFen: request.amountFen, oda: word(e.detail.oda), reason: word(e.detail.reason) };
    this.log.info(note, 'card refused at the reader');
    await this.store.commit([rec.cardRefused(note)]).catch((err: unknown) => this.log.warn({ code: e.code, err: String(err) }, 'card refusal not journaled'));
  }

  /**
   * Field 55 for a chip sale: only for entry modes 05x/07x, only when the ARQC was asked for this
   * sale's amount (else the read was for another transaction: present the card again), and
   * passed through the allow-list once more.
   */
  private saleField55(c: CardInput, amountFen: number): Buffer | undefined {
    if (c.field55 === undefined || !/^0[57]/.test(c.entryMode)) return undefined;
    if (c.emv === undefined || c.emv.txnType !== 'sale' || c.emv.amountFen !== amountFen) {
      throw new PosError('RDR_UNREADABLE', 'the card was read for another transaction: present it again', { amountFen });
    }
    // What the terminal did with a failed offline data authentication: went online with it in the
    // TVR (an AAC would have ended the read). Method, reason and TVR only: nothing of the card.
    // A qPBOC card's cryptogram covers the 95 it was given before fDDA: there the failure is in this
    // log line (and the read's chip TVR) only, not in the 55 sent.
    if (c.chip?.odaFailure !== undefined) {
      this.log.warn({ oda: c.chip.oda, reason: c.chip.odaFailure, tvr: c.chip.tvr }, c.chip.oda === 'fdda'
        ? 'fDDA failed: the tapped card\'s cryptogram goes online as the card allows (not in its 95)' : 'offline data authentication failed: the sale goes online with it in the TVR');
    }
    const field55 = sanitizeField55(c.field55);
    return field55.length > 0 ? field55 : undefined;
  }

  // ------------------------------------------------------------ sale, void, refund

  /** The checks before a card sale or pre-authorization; a PIN typed for it is wiped when one fails. */
  private async readyToCharge(input: SaleInput, extraCheck?: () => void): Promise<void> {
    try {
      extraCheck?.();
      this.checkCanTransact(input.session, 'sale');
      this.checkAmount(input.amountFen);
      await this.readyForFinancial(input.session);
    } catch (e) {
      input.pin?.fill(0);
      throw e;
    }
  }

  async sale(input: SaleInput): Promise<FlowResult> {
    try {
      return await this.saleOnce(input);
    } finally {
      // A card held for the online half and not completed (refused before sending): let it go.
      await input.card.online?.release();
    }
  }

  private async saleOnce(input: SaleInput): Promise<FlowResult> {
    await this.readyToCharge(input);
    const c = input.card;
    let field55: Buffer | undefined;
    try {
      field55 = this.saleField55(c, input.amountFen);
    } catch (e) {
      input.pin?.fill(0);
      throw e;
    }
    const { stans, record } = this.stans(1);
    const stan = stans[0];
    let pinBlock: Buffer | undefined;
    if (input.pin) {
      invariant(this.keys !== undefined, 'PIN block needs the PIK');
      try { pinBlock = pinBlockFormat0(c.pan, input.pin, this.keys.pik); } finally { input.pin.fill(0); }
    }
    const req = buildSale(this.config.profile, {
      ids: this.config.ids, stan, batch: this.state.batch, pan: c.pan, amountFen: input.amountFen, expiry: c.expiry,
      entryMode: c.entryMode, cardSeq: c.cardSeq, track2: c.track2, track3: c.track3, pinBlock, field55,
    });
    const t = {
      kind: 'sale' as const, stan, amountFen: input.amountFen, pan: c.pan, expiry: c.expiry, entryMode: c.entryMode, cardSeq: c.cardSeq, operator: input.session.operator,
    };
    // A tapped qPBOC card approved offline (TC, fDDA passed) while offline sales are allowed: an
    // offline sale, its advice (with the TC's 55) uploaded later. Allowed no longer (the count of
    // waiting advices reached DF17 since the tap): the TC goes online, as after a failed fDDA.
    if (c.chip?.offlineApproved === true && field55 !== undefined && pinBlock === undefined && this.offlineAllowed(input.amountFen)) {
      return this.offlineChipSale(req, record, t, field55, c.chip.tvr);
    }
    // An online PIN can only be checked by the issuer: a sale with one never goes offline.
    return this.financial(req, record, { ...t, offlineCandidate: pinBlock === undefined, chip: field55 !== undefined ? c.online : undefined });
  }

  async voidSale(origStan: number, session: Session): Promise<FlowResult> {
    this.checkCanTransact(session, 'void');
    const sale = this.state.txns.get(origStan);
    if (!sale || sale.kind !== 'sale') throw new PosError('OPR_NOT_FOUND', `no sale with trace ${origStan} in this batch`, { stan: origStan });
    if (statusOf(this.state, sale) !== 'approved') throw new PosError('OPR_NOT_VOIDABLE', `sale ${origStan} is ${statusOf(this.state, sale)}`, { stan: origStan });
    // The host does not know an offline sale until its advice is taken: nothing to void there yet.
    if (sale.offline !== undefined && sale.offline.state !== 'sent') throw new PosError('OPR_NOT_VOIDABLE', `sale ${origStan} is offline (${sale.offline.state}): not at the host yet`, { stan: origStan });
    await this.readyForFinancial(session);
    const { stans, record } = this.stans(1);
    const stan = stans[0];
    const pan = this.panOf(sale.panEnc);
    // Field 61 is always batch + STAN + the sale's host date (docs/PROTOCOL.md, Clarifications).
    const original = { batch: sale.batch, stan: sale.stan, dateMmdd: sale.hostDate ?? hostMmdd(sale.beganAtMs), rrn: sale.rrn as string, authCode: sale.authCode ?? '' };
    // The card is not read again: the void is keyed from the journal (entry mode 012).
    const req = buildVoid(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, pan, entryMode: '012', amountFen: sale.amountFen, original });
    return this.financial(req, record, {
      kind: 'void', stan, amountFen: sale.amountFen, pan, expiry: sale.expiry, entryMode: '012', operator: session.operator,
      origStan: sale.stan, origBatch: sale.batch, origRrn: sale.rrn, origAuthCode: sale.authCode, origDate: sale.hostDate,
    });
  }

  async refund(input: RefundInput): Promise<FlowResult> {
    this.checkCanTransact(input.session, 'refund');
    this.checkAmount(input.amountFen);
    if (!/^\d{12}$/.test(input.origRrn) || !/^\d{4}$/.test(input.origDateMmdd)) throw new PosError('OPR_INPUT', 'reference number is 12 digits and date MMDD');
    await this.readyForFinancial(input.session);
    const { stans, record } = this.stans(1);
    const stan = stans[0];
    const c = input.card;
    const original = this.refundOriginal(input);
    // A refund carries no PIN block (profile: 2 3 4 11 22 25 37 ...): 22 says no PIN.
    const entryMode = entryModeWithPin(c.entryMode, false);
    const req = buildRefund(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, pan: c.pan, entryMode, amountFen: input.amountFen, original });
    return this.financial(req, record, {
      kind: 'refund', stan, amountFen: input.amountFen, pan: c.pan, expiry: c.expiry, entryMode, operator: input.session.operator,
      origBatch: original.batch || undefined, origStan: original.stan || undefined, origRrn: input.origRrn, origDate: original.dateMmdd,
    });
  }

  /**
   * Field 61 of a refund (docs/PROTOCOL.md, Clarifications): a sale this journal holds (found by its
   * RRN, however the operator reached it: its trace number fills the RRN in) is named by its real
   * batch, STAN and host date; batch and STAN are 000000 only for a reference keyed for a sale
   * this terminal does not hold, with the date the operator keyed.
   */
  private refundOriginal(input: RefundInput): { batch: number; stan: number; rrn: string; dateMmdd: string } {
    const known = this.state.salesByRrn.get(input.origRrn);
    if (known) return { batch: known.batch, stan: known.stan, rrn: input.origRrn, dateMmdd: known.hostDate ?? input.origDateMmdd };
    return { batch: input.origBatch ?? 0, stan: input.origStan ?? 0, rrn: input.origRrn, dateMmdd: input.origDateMmdd };
  }

  /** Steps 1 and 2 of the durability order (see the top of this file). */
  private async financial(req: Request, stanRecord: RecordInput, t: {
    kind: TxnKind; stan: number; amountFen: number; pan: string; expiry?: string; entryMode: EntryMode; cardSeq?: string; operator: string;
    origStan?: number; origBatch?: number; origRrn?: string; origAuthCode?: string; origDate?: string;
    /** A sale that may be approved offline if the host cannot be reached (offlineAllowed). */
    offlineCandidate?: boolean;
    /** A chip card still in the reader for the online half (see the top of this file). */
    chip?: ChipOnline;
  }): Promise<FlowResult> {
    const m = req.message;
    const { common, begin } = this.beginPayloads(req, t);
    // The original's 55 exactly as it goes out (the packager's own value), for the 0400.
    // 38 of the original request (a void's: the sale's authorization code) goes out in the 0400 too:
    // the profile's reversal carries "the original's ... 38".
    // And only the fields the original had: a void or refund (no 14) is not reversed with the card's expiry.
    const reversal: ReversalPendingPayload = {
      ...common, reason: '98', kind: t.kind, expiry: textField(m, 14), authCode: textField(m, 38), original61: textField(m, 61), field55: bytesField(m, 55),
    };
    const bytes = this.encode(req);
    await this.store.commit([stanRecord, rec.txnBegin(begin), rec.reversalPending(reversal)]);
    let res: FinancialResult;
    try {
      res = parseFinancialResponse(this.config.profile, req, await this.send(req, t.stan, bytes), { mak: this.keys?.mak });
    } catch (e) {
      // No usable answer: the card is told the terminal could not go online (AAC, ARC Z3).
      await t.chip?.complete({ approved: false });
      return this.afterSendFailure(t.stan, e, t.offlineCandidate === true && this.offlineAllowed(t.amountFen));
    }
    return t.chip === undefined ? this.recordResult(t.stan, res) : this.completeChip(t.stan, res, t.chip, t.cardSeq);
  }

  /** The txn-begin record of a request, and what its reversal record shares with it. */
  private beginPayloads(req: Request, t: {
    kind: TxnKind; stan: number; amountFen: number; pan: string; expiry?: string; entryMode: EntryMode; cardSeq?: string; operator: string;
    origStan?: number; origBatch?: number; origRrn?: string; origAuthCode?: string; origDate?: string;
  }) {
    const m = req.message;
    const f60 = textField(m, 60) as string;
    const panEnc = this.sealPan(t.pan);
    const panMasked = maskPan(t.pan);
    const common = { stan: t.stan, batch: this.state.batch, amountFen: t.amountFen, panEnc, panMasked, processingCode: textField(m, 3) as string, entryMode: t.entryMode, conditionCode: textField(m, 25) as string, type60: f60.slice(0, 2), expiry: t.expiry, cardSeq: t.cardSeq };
    const begin: TxnBeginPayload = {
      ...common, kind: t.kind, panTag: this.panTag(t.pan), operator: t.operator, origStan: t.origStan, origBatch: t.origBatch,
      origRrn: t.origRrn, origAuthCode: t.origAuthCode, origDate: t.origDate, field61: textField(m, 61),
    };
    return { common, begin };
  }

  /**
   * A qPBOC card's offline approval (docs/PROTOCOL.md, offline sale: "a chip card approves offline
   * (Y1)"): one commit of its STAN, the sale with the TC's allow-listed 55 (the advice carries it)
   * and its result, Y1 with the terminal's authorization code. Nothing is sent now and there is
   * nothing to reverse: flushAdvices uploads it as a 0220 under this STAN before the next online
   * message and before settlement, as every offline sale.
   */
  private async offlineChipSale(req: Request, stanRecord: RecordInput, t: Parameters<TerminalEngine['beginPayloads']>[1], field55: Buffer, tvr: string): Promise<FlowResult> {
    const { begin } = this.beginPayloads(req, t);
    await this.store.commit([
      stanRecord, rec.txnBegin({ ...begin, field55 }),
      rec.txnResult({ stan: t.stan, outcome: 'offline', responseCode: CHIP_OFFLINE_RESPONSE_CODE, authCode: offlineAuthCode(t.stan) }),
    ]);
    this.log.info({ stan: t.stan, tvr }, 'qPBOC card approved offline: advice pending');
    return { outcome: 'approved', txn: viewOf(this.state, this.state.txns.get(t.stan) as Txn) };
  }

  private async recordResult(stan: number, res: FinancialResult): Promise<FlowResult> {
    const outcome = res.approved ? 'approved' : 'declined';
    // Which link carried the answer, on boards with several (issue 12 item 3).
    const link = this.deps.host.linkUsed?.();
    try {
      await this.store.commit([
        rec.txnResult({ stan, outcome, responseCode: res.responseCode, rrn: res.rrn, authCode: res.authCode, hostDate: res.hostDate, hostTime: res.hostTime, settlementDate: res.settlementDate, ...(link !== undefined ? { link } : {}) }),
        rec.reversalCleared({ stan, cause: outcome, responseCode: res.responseCode, tries: 0 }),
      ], { reserve: true });
    } catch (e) {
      // Approved at the host but not durable here: it must not stand (profile reason 06).
      this.log.error({ stan, err: String(e) }, 'result could not be journaled: reversing');
      if (res.approved) await this.flushReversal('06').catch(() => undefined);
      return { outcome: 'failed', error: isPosError(e) ? e : new PosError('STO_IO', String(e)), reversalPending: this.state.pendingReversal !== undefined, stan };
    }
    // A0 from the host: it could not verify this terminal's MAC, so the keys are out of step (profile: "sign on again").
    if (res.responseCode === MAC_ERROR_RESPONSE_CODE) this.needsSignOn = true;
    const txn = viewOf(this.state, this.state.txns.get(stan) as Txn);
    this.log.info({ stan, kind: txn.kind, code: res.responseCode, panMasked: txn.panMasked }, 'host answered');
    return res.approved ? { outcome: 'approved', txn } : { outcome: 'declined', txn, text: explainResponseCode(res.responseCode) };
  }

  private async afterSendFailure(stan: number, e: unknown, offline = false): Promise<FlowResult> {
    if (!isPosError(e) || e.kind === 'invariant') throw e;
    this.log.warn({ stan, code: e.code, kind: e.kind }, 'no usable answer');
    const notSent = requestNeverLeft(e);
    if (notSent && offline) {
      // Nothing reached the host: the sale is approved here, under this same STAN, and its advice
      // waits (one commit: the result, and the reversal that has nothing to reverse cleared).
      await this.store.commit([
        rec.txnResult({ stan, outcome: 'offline', responseCode: OFFLINE_RESPONSE_CODE, authCode: offlineAuthCode(stan) }),
        rec.reversalCleared({ stan, cause: 'not-sent', responseCode: 'NS', tries: 0 }),
      ], { reserve: true });
      this.log.info({ stan, code: e.code }, 'host unreachable: approved offline, advice pending');
      return { outcome: 'approved', txn: viewOf(this.state, this.state.txns.get(stan) as Txn) };
    }
    if (notSent) {
      await this.store.commit([
        rec.txnResult({ stan, outcome: 'not-sent', responseCode: 'NS' }),
        rec.reversalCleared({ stan, cause: 'not-sent', responseCode: 'NS', tries: 0 }),
      ], { reserve: true });
      return { outcome: 'failed', error: e, reversalPending: false, stan };
    }
    if (e.kind === 'mac-failure') {
      const pr = this.state.pendingReversal as NonNullable<Store['state']['pendingReversal']>;
      await this.store.commit([rec.reversalPending({ ...pr, reason: 'A0' })], { reserve: true });
      this.needsSignOn = true;
    }
    if (e.kind === 'host-malformed') {
      // An answer came but cannot be read (garbled, cut mid-frame): not "no response" (98) but the
      // profile's "any other failure after sending" (06).
      const pr = this.state.pendingReversal as NonNullable<Store['state']['pendingReversal']>;
      await this.store.commit([rec.reversalPending({ ...pr, reason: '06' })], { reserve: true });
    }
    this.reasonDecided.add(stan);
    const flushed = await this.flushReversal().catch((err: unknown) => { this.log.warn({ err: String(err) }, 'reversal not sent'); return 'pending' as const; });
    if (flushed === 'pending') await this.markReasonDecided(stan);
    return { outcome: 'failed', error: e, reversalPending: flushed === 'pending', stan };
  }

  // ------------------------------------------------------------ chip sale: the online half

  /** Steps 2'-4' (see the top of this file): the host answered a chip sale whose card is still in. */
  private async completeChip(stan: number, res: FinancialResult, chip: ChipOnline, cardSeq: string | undefined): Promise<FlowResult> {
    const host = { approved: res.approved, responseCode: res.responseCode, field55: res.field55 };
    if (!res.approved) {
      const declined = await this.recordResult(stan, res);
      await this.journalNotice(stan, res, await chip.complete(host), [], cardSeq);
      return declined;
    }
    const pr = this.state.pendingReversal as NonNullable<Store['state']['pendingReversal']>;
    const link = this.deps.host.linkUsed?.();
    try {
      await this.store.commit([
        rec.txnResult({ stan, outcome: 'approved', responseCode: res.responseCode, rrn: res.rrn, authCode: res.authCode, hostDate: res.hostDate, hostTime: res.hostTime, settlementDate: res.settlementDate, ...(link !== undefined ? { link } : {}) }),
        // Should the card refuse (AAC) and the sale be reversed, the 0400 carries the 38 the host gave it.
        rec.reversalPending({ ...pr, reason: '06', decided: true, authCode: res.authCode ?? pr.authCode }),
      ], { reserve: true });
    } catch (e) {
      await chip.complete({ approved: false, responseCode: res.responseCode });
      this.log.error({ stan, err: String(e) }, 'result could not be journaled: reversing');
      await this.flushReversal('06').catch(() => undefined);
      return { outcome: 'failed', error: isPosError(e) ? e : new PosError('STO_IO', String(e)), reversalPending: this.state.pendingReversal !== undefined, stan };
    }
    const done = await chip.complete(host);
    const o = done.outcome;
    if (o.cryptogram === 'TC') {
      await this.journalNotice(stan, res, done, [rec.reversalCleared({ stan, cause: 'approved', responseCode: res.responseCode, tries: 0 })], cardSeq);
      const txn = viewOf(this.state, this.state.txns.get(stan) as Txn);
      this.log.info({ stan, code: res.responseCode, panMasked: txn.panMasked, issuerAuth: o.issuerAuth }, 'host approved, card confirmed (TC)');
      return { outcome: 'approved', txn };
    }
    await this.journalNotice(stan, res, done, [], cardSeq);
    const error = chipFailure(o);
    this.log.warn({ stan, code: error.code, issuerAuth: o.issuerAuth, cryptogram: o.cryptogram, card: o.error?.code }, 'host approved, card did not confirm: reversing (06)');
    this.reasonDecided.add(stan);
    const flushed = await this.flushReversal().catch((err: unknown) => { this.log.warn({ err: String(err) }, 'reversal not sent'); return 'pending' as const; });
    return { outcome: 'failed', error, reversalPending: flushed === 'pending', stan };
  }

  /**
   * `withRecords` in one commit, with a script-notice-pending (and its own STAN) first when the
   * host sent scripts: durable before the sale returns. A storage failure here is the sale's
   * (thrown): for an approval the card did not confirm, the reversal (06) is on disk already.
   */
  private async journalNotice(stan: number, res: FinancialResult, done: { first: FirstPass; outcome: OnlineOutcome }, withRecords: RecordInput[], cardSeq: string | undefined): Promise<void> {
    const records = [...withRecords];
    const t = this.state.txns.get(stan);
    if (done.outcome.scriptResults.length > 0 && t !== undefined && res.rrn !== undefined) {
      const { stans, record } = this.stans(1);
      const notice: ScriptNoticePendingPayload = {
        stan: stans[0], batch: this.state.batch, origStan: stan, origBatch: t.batch, origDate: res.hostDate ?? hostMmdd(t.beganAtMs), rrn: res.rrn,
        amountFen: t.amountFen, panEnc: t.panEnc, panMasked: t.panMasked, processingCode: t.processingCode, entryMode: t.entryMode,
        cardSeq, field55: field55Of(noticeValues(done.first, done.outcome)), scriptResults: done.outcome.scriptResults,
      };
      records.unshift(record, rec.scriptNoticePending(notice));
      this.log.info({ stan, noticeStan: stans[0], scripts: done.outcome.scriptResults.length / SCRIPT_RESULT_BYTES, failed: done.outcome.scriptFailed }, 'issuer scripts ran: notice pending');
    }
    if (records.length > 0) await this.store.commit(records, { reserve: true });
  }

  /** Script notices not yet acknowledged (0620 pending). */
  pendingScriptNotices(): number {
    return this.state.pendingScriptNotices.size;
  }

  /**
   * The recovery menu's "resend pending work" for script notices: after the reversal (the profile's
   * order), signed on first when this run has no working keys (the 0620 carries a MAC). With a
   * reversal still pending nothing is sent: the notices wait behind it. Returns how many were sent
   * and acknowledged and how many still wait.
   */
  async resendScriptNotices(session: Session): Promise<{ readonly sent: number; readonly left: number }> {
    const before = this.state.pendingScriptNotices.size;
    if (before === 0 || this.state.pendingReversal !== undefined) return { sent: 0, left: before };
    if (this.needsSignOn || this.keys === undefined) await this.signOn(this.lastSession ?? session);
    const left = await this.flushScriptNotices();
    return { sent: before - left, left };
  }

  /**
   * Sends the pending issuer script notices (0620, docs/PROTOCOL.md), in the order they were
   * journaled, each up to the reversal's tries under its own STAN; 39 = 00 clears one (journaled).
   * Returns how many still wait.
   */
  async flushScriptNotices(): Promise<number> {
    // A host that answered a 0620 "unknown" (12 or 40) is not asked again until the next sign-on
    // (the profile's Version 2 rule); the notices stay pending on disk meanwhile.
    if (!this.featureAvailable('scriptNotice')) return this.state.pendingScriptNotices.size;
    for (const n of [...this.state.pendingScriptNotices.values()]) {
      if (this.keys === undefined) break;
      const req = buildScriptNotice(this.config.profile, {
        ids: this.config.ids, stan: n.stan, batch: n.batch, pan: this.panOf(n.panEnc), processingCode: n.processingCode, amountFen: n.amountFen,
        entryMode: n.entryMode, cardSeq: n.cardSeq, rrn: n.rrn, field55: noticeField55(n.field55, n.scriptResults),
        original: { batch: n.origBatch, stan: n.origStan, dateMmdd: n.origDate },
      });
      for (let tries = 1; tries <= this.reversalTries; tries++) {
        try {
          const res = parseAckResponse(this.config.profile, req, await this.send(req, n.stan), { mak: this.keys?.mak });
          if (res.responseCode === '00') {
            await this.store.commit([rec.scriptNoticeCleared({ stan: n.stan, responseCode: res.responseCode, tries })], { reserve: true });
            this.log.info({ stan: n.stan, origStan: n.origStan, tries }, 'script notice acknowledged');
            break;
          }
          if (this.noteUnknown('scriptNotice', req.type, res.responseCode)) return this.state.pendingScriptNotices.size;
          this.log.warn({ stan: n.stan, code: res.responseCode, tries }, 'script notice not accepted');
        } catch (e) {
          if (!isPosError(e) || isStopError(e) || e.kind === 'invariant') throw e;
          if (e.kind === 'mac-failure') this.needsSignOn = true;
          this.log.warn({ stan: n.stan, code: e.code, tries }, 'script notice try failed');
        }
      }
    }
    return this.state.pendingScriptNotices.size;
  }

  // ------------------------------------------------------------ reversal

  /**
   * A reversal whose reason this run decided (timeout 98) and could not send yet: the decision is
   * journaled, so a reboot before the host answers sends 98, not the power-loss 06. Costs one
   * commit, only on this failure path. Best effort: a storage fault here leaves 06 after a reboot.
   */
  private async markReasonDecided(stan: number): Promise<void> {
    const pr = this.state.pendingReversal;
    if (!pr || pr.stan !== stan || pr.decided) return;
    await this.store.commit([rec.reversalPending({ ...pr, decided: true })], { reserve: true }).catch((err: unknown) => {
      this.log.warn({ stan, err: String(err) }, 'reversal reason could not be journaled');
    });
  }

  /**
   * Sends the pending reversal, up to `reversalTriesMax` tries. 'cleared' when the host answered
   * 00/12/25 (journaled), 'pending' when it stays (kept on disk), 'none' when there was none.
   */
  async flushReversal(reasonOverride?: ReversalReason): Promise<'none' | 'cleared' | 'pending'> {
    const pr = this.state.pendingReversal;
    if (!pr) return 'none';
    // A 98 this run did not decide was left by a power cut during the sale: reason 06.
    const reason = reasonOverride ?? (pr.reason === '98' && !pr.decided && !this.reasonDecided.has(pr.stan) ? '06' : pr.reason);
    const triesMax = this.reversalTries;
    for (let tries = 1; tries <= triesMax; tries++) {
      if (this.keys === undefined || (this.needsSignOn && tries > 1)) {
        if (!this.lastSession) return 'pending';
        try { await this.signOn(this.lastSession); } catch (e) { this.log.warn({ err: String(e) }, 'sign-on before reversal failed'); continue; }
      }
      const req = buildReversal(this.config.profile, {
        ids: this.config.ids, stan: pr.stan, batch: pr.batch, reason, pan: this.panOf(pr.panEnc), processingCode: pr.processingCode,
        amountFen: pr.amountFen, entryMode: pr.entryMode, conditionCode: pr.conditionCode, type60: pr.type60, expiry: pr.expiry,
        cardSeq: pr.cardSeq, authCode: pr.authCode, original61: pr.original61, field55: pr.field55,
      });
      try {
        const res = parseReversalResponse(this.config.profile, req, await this.send(req, pr.stan), { mak: this.keys?.mak });
        if (res.cleared) {
          await this.store.commit([rec.reversalCleared({ stan: pr.stan, cause: 'reversed', responseCode: res.responseCode, tries })], { reserve: true });
          this.log.info({ stan: pr.stan, reason, tries, code: res.responseCode }, 'reversal cleared');
          return 'cleared';
        }
        if (res.responseCode === MAC_ERROR_RESPONSE_CODE) this.needsSignOn = true;
        this.log.warn({ stan: pr.stan, code: res.responseCode, tries }, 'reversal not accepted');
      } catch (e) {
        if (!isPosError(e) || isStopError(e)) throw e;
        if (e.kind === 'mac-failure') this.needsSignOn = true;
        this.log.warn({ stan: pr.stan, code: e.code, tries }, 'reversal try failed');
      }
    }
    return 'pending';
  }

  // ------------------------------------------------------------ network management (V2, no MAC)

  private applyTimeout(): void {
    const s = this.params.responseTimeoutS;
    if (s !== undefined) this.deps.host.setResponseTimeoutMs?.(s * 1000);
  }

  /**
   * Parameter download (0800, 60.3 = 360): applied all-or-nothing, journaled as one settings
   * record. A 62 with a known tag out of range throws HOST_PARAMS and changes nothing; a host that
   * does not know the message hides it until the next sign-on.
   */
  async downloadParameters(): Promise<{ readonly outcome: 'applied'; readonly params: HostParamsPayload } | { readonly outcome: 'declined' | 'unsupported'; readonly responseCode: string }> {
    const stan = await this.reserveStan();
    const req = buildParamDownload(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch });
    const res: ParamDownloadResult = parseParamDownloadResponse(this.config.profile, req, await this.send(req, stan));
    if (!res.approved || res.params === undefined) {
      return { outcome: this.noteUnknown('params', req.type, res.responseCode) ? 'unsupported' : 'declined', responseCode: res.responseCode };
    }
    // The host sends what it sets; what it does not send keeps its value (a set replaced as a whole record).
    const params: HostParamsPayload = { ...this.params, ...res.params };
    await this.store.commit([rec.hostParams(params)], { reserve: true });
    this.applyTimeout();
    this.log.info({ params: { ...params, merchantName: params.merchantName !== undefined } }, 'host parameters applied');
    return { outcome: 'applied', params };
  }

  /**
   * Sign-on, then the parameter download the profile asks for at sign-on. A download that fails
   * (no answer, out of range, unknown to the host) keeps the parameters in force and does not undo
   * the sign-on: the terminal can trade with the set it has.
   */
  async signOnWithParameters(session: Session): Promise<void> {
    await this.signOn(session);
    if (!this.featureAvailable('params')) return;
    await this.downloadParameters().then(
      (r) => { if (r.outcome !== 'applied') this.log.warn({ code: r.responseCode, outcome: r.outcome }, 'parameter download not applied'); },
      (e: unknown) => {
        if (isStopError(e)) throw e;
        this.log.warn({ err: String(e) }, 'parameter download failed: parameters in force kept');
      },
    );
  }

  /** Echo test (0820, 60.3 = 301): is the host there and answering? Resolves with its code and the round trip. */
  async echo(): Promise<{ readonly responseCode: string; readonly roundTripMs: number }> {
    const stan = await this.reserveStan();
    const req = buildEcho(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch });
    const startedMs = this.deps.clock();
    const res = parseAckResponse(this.config.profile, req, await this.send(req, stan));
    this.noteUnknown('echo', req.type, res.responseCode);
    return { responseCode: res.responseCode, roundTripMs: Math.max(0, this.deps.clock() - startedMs) };
  }

  /**
   * The anomaly flags of the open batch (docs/ANOMALY.md) against the merchant's usual amounts
   * from the batches this journal closed. Hints for the supervisor: they never stop a sale.
   */
  anomalies(): AnomalyFlag[] {
    const s = this.state;
    if (this.anomalyCache?.seq === s.lastSeq) return this.anomalyCache.flags;
    const txns = [...s.txns.values()].map((t) => ({
      stan: t.stan, kind: t.kind, amountFen: t.amountFen, status: statusOf(s, t), responseCode: t.responseCode,
      ...(t.panTag.length > 0 ? { panTag: t.panTag } : {}), atMs: t.beganAtMs,
    }));
    const flags = detectAnomalies(txns, buildProfile(s.saleAmountsFen));
    this.anomalyCache = { seq: s.lastSeq, flags };
    return flags;
  }

  /**
   * The anomaly digest a status upload carries: the open batch's flags, or right after a
   * settlement (an empty batch) those the closed batch raised.
   */
  private statusAnomalyDigest(): string {
    const open = this.anomalies();
    if (open.length > 0 || this.state.txns.size > 0) return anomalyDigest(open);
    return anomalyDigest(this.state.lastClosed?.anomalies ?? []);
  }

  /** Status upload (0820, 60.3 = 362): after settlement and on request. */
  async uploadStatus(input: TerminalStatus): Promise<{ readonly responseCode: string }> {
    if (!this.featureAvailable('status')) throw new PosError('HOST_FEATURE_OFF', 'the host does not take status uploads');
    const digest = this.statusAnomalyDigest();
    const status: TerminalStatus = digest === '00' ? input : { ...input, anomalyDigest: digest };
    const stan = await this.reserveStan();
    const req = buildStatusUpload(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, status });
    const res = parseAckResponse(this.config.profile, req, await this.send(req, stan));
    this.noteUnknown('status', req.type, res.responseCode);
    return { responseCode: res.responseCode };
  }

  // ------------------------------------------------------------ pre-authorization family (V2)

  private checkPreAuthAvailable(): void {
    if (!this.featureAvailable('preAuth')) throw new PosError('HOST_FEATURE_OFF', 'pre-authorization is not offered by the host');
  }

  /**
   * A pre-authorization: a sale's message and durability, 0100 / 030000; not in the totals. An
   * inserted chip card gets the sale's online half; completions and voids are not chip transactions
   * (no card, or a card read without an ARQC's online half: docs/EMV.md).
   */
  async preAuth(input: SaleInput): Promise<FlowResult> {
    await this.readyToCharge(input, () => this.checkPreAuthAvailable());
    const c = input.card;
    const { stans, record } = this.stans(1);
    const stan = stans[0];
    let pinBlock: Buffer | undefined;
    let field55: Buffer | undefined;
    try {
      field55 = c.field55 !== undefined && /^0[57]/.test(c.entryMode) ? sanitizeField55(c.field55) : undefined;
      if (input.pin) {
        invariant(this.keys !== undefined, 'PIN block needs the PIK');
        pinBlock = pinBlockFormat0(c.pan, input.pin, this.keys.pik);
      }
    } finally {
      input.pin?.fill(0);
    }
    const req = buildPreAuth(this.config.profile, {
      ids: this.config.ids, stan, batch: this.state.batch, pan: c.pan, amountFen: input.amountFen, expiry: c.expiry,
      entryMode: c.entryMode, cardSeq: c.cardSeq, track2: c.track2, track3: c.track3, pinBlock, field55: field55 && field55.length > 0 ? field55 : undefined,
    });
    // A chip card held in the reader gets the online half as a sale does (issuer authentication,
    // the final GENERATE AC, scripts and their notice): the profile's pre-authorization is "as a sale".
    const res = await this.financial(req, record, {
      kind: 'preAuth', stan, amountFen: input.amountFen, pan: c.pan, expiry: c.expiry, entryMode: c.entryMode, cardSeq: c.cardSeq, operator: input.session.operator,
      chip: field55 !== undefined && field55.length > 0 ? c.online : undefined,
    });
    if (res.outcome === 'declined' && res.txn.responseCode !== undefined) this.noteUnknown('preAuth', 'preAuth', res.txn.responseCode);
    return res;
  }

  /** A hold of this journal that may still be completed or voided. */
  openPreAuth(stan: number): PreAuthHold {
    const hold = this.state.preAuths.get(stan);
    if (!hold) throw new PosError('OPR_NOT_FOUND', `no pre-authorization with trace ${stan} in this terminal`, { stan });
    if (hold.state !== 'open') throw new PosError('OPR_NOT_VOIDABLE', `pre-authorization ${stan} is ${hold.state}`, { stan });
    return hold;
  }

  /** What a void or completion needs of its pre-authorization: from the journal (trace) or keyed. */
  private preAuthOriginal(target: PreAuthTarget): { ref: PreAuthRef; pan: string; expiry?: string; entryMode: EntryMode; amountFen?: number; origStan?: number; card?: CardInput } {
    if ('stan' in target) {
      const hold = this.openPreAuth(target.stan);
      // Field 61 always carries the hold's real batch, STAN and host date (profile, Clarifications).
      const ref = { batch: hold.batch, stan: hold.stan, dateMmdd: hold.hostDate ?? hostMmdd(hold.beganAtMs), authCode: hold.authCode };
      // Not read again: keyed from the journal (entry mode 012), like a void.
      return { ref, pan: this.panOf(hold.panEnc), expiry: hold.expiry, entryMode: '012', amountFen: hold.amountFen, origStan: hold.stan };
    }
    const k = target.keyed;
    if (!/^[0-9A-Za-z ]{6}$/.test(k.authCode) || !/^\d{4}$/.test(k.dateMmdd)) throw new PosError('OPR_INPUT', 'authorization code is 6 characters and the date MMDD');
    if (k.amountFen !== undefined) this.checkAmount(k.amountFen);
    const authCode = k.authCode.toUpperCase();
    // A void or completion carries no PIN block: 22 says no PIN, whatever the card's rule.
    const entryMode = entryModeWithPin(k.card.entryMode, false);
    const held = this.heldPreAuth(k.card.pan, authCode, k.dateMmdd);
    if (held) {
      // Keyed, but this terminal holds it: 61 names its real batch, STAN and date (profile,
      // Clarifications), the 115% bound applies, and the journal's hold follows the answer.
      if (held.state !== 'open') throw new PosError('OPR_NOT_VOIDABLE', `pre-authorization ${held.stan} is ${held.state}`, { stan: held.stan });
      const ref = { batch: held.batch, stan: held.stan, dateMmdd: held.hostDate ?? hostMmdd(held.beganAtMs), authCode };
      return { ref, pan: k.card.pan, expiry: k.card.expiry ?? held.expiry, entryMode, amountFen: held.amountFen, origStan: held.stan, card: k.card };
    }
    // Batch and STAN 000000: a hold this terminal does not hold (profile, Clarifications).
    return { ref: { batch: 0, stan: 0, dateMmdd: k.dateMmdd, authCode }, pan: k.card.pan, expiry: k.card.expiry, entryMode, amountFen: k.amountFen, card: k.card };
  }

  /** The hold of this journal a keyed authorization code, date and card name, if any (the newest). */
  private heldPreAuth(pan: string, authCode: string, dateMmdd: string): PreAuthHold | undefined {
    const holds = [...this.state.preAuths.values()].reverse();
    return holds.find((h) => h.authCode.toUpperCase() === authCode && (h.hostDate ?? hostMmdd(h.beganAtMs)) === dateMmdd && this.panOf(h.panEnc) === pan);
  }

  /** Pre-authorization void (supervisor, as a void): releases the hold. */
  async preAuthVoid(target: PreAuthTarget, session: Session): Promise<FlowResult> {
    this.checkPreAuthAvailable();
    this.checkCanTransact(session, 'void');
    const o = this.preAuthOriginal(target);
    if (o.amountFen === undefined) throw new PosError('OPR_AMOUNT', 'a pre-authorization void names the pre-authorized amount');
    const amountFen = o.amountFen;
    await this.readyForFinancial(session);
    const { stans, record } = this.stans(1);
    const stan = stans[0];
    const card = o.card !== undefined
      ? { pan: o.pan, entryMode: o.entryMode, expiry: o.expiry, cardSeq: o.card.cardSeq, track2: o.card.track2, track3: o.card.track3 }
      : { pan: o.pan, entryMode: o.entryMode };
    const req = buildPreAuthVoid(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, amountFen, card, original: o.ref });
    return this.preAuthFamilyAnswered(await this.financial(req, record, {
      kind: 'preAuthVoid', stan, amountFen, pan: o.pan, expiry: o.expiry, entryMode: o.entryMode, operator: session.operator,
      origStan: o.origStan, origBatch: o.ref.batch || undefined, origAuthCode: o.ref.authCode, origDate: o.ref.dateMmdd,
    }), req.type);
  }

  /**
   * Completion (0200, 60.1 = 20): captures up to 115% of the hold (the terminal refuses more);
   * counts as a sale. The host's answer carries its own new authorization code.
   */
  async completion(target: PreAuthTarget, amountFen: number, session: Session): Promise<FlowResult> {
    this.checkPreAuthAvailable();
    this.checkCanTransact(session, 'sale');
    this.checkAmount(amountFen);
    const o = this.preAuthOriginal(target);
    const max = o.amountFen === undefined ? undefined : completionFenMax(o.amountFen);
    if (max !== undefined && amountFen > max) {
      throw new PosError('OPR_AMOUNT', `a completion may be at most 115% of the pre-authorized amount (${(max / 100).toFixed(2)} yuan)`, { amountFen, amountFenMax: max });
    }
    if (o.expiry === undefined) throw new PosError('OPR_EXPIRY', 'the card expiry is needed for a completion');
    await this.readyForFinancial(session);
    const { stans, record } = this.stans(1);
    const stan = stans[0];
    const req = buildCompletion(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, amountFen, pan: o.pan, entryMode: o.entryMode, expiry: o.expiry, original: o.ref });
    return this.preAuthFamilyAnswered(await this.financial(req, record, {
      kind: 'completion', stan, amountFen, pan: o.pan, expiry: o.expiry, entryMode: o.entryMode, operator: session.operator,
      origStan: o.origStan, origBatch: o.ref.batch || undefined, origAuthCode: o.ref.authCode, origDate: o.ref.dateMmdd,
    }), req.type);
  }

  /** Completion void (supervisor): 37/38/61 of the completion; the hold it captured is open again. */
  async completionVoid(origStan: number, session: Session): Promise<FlowResult> {
    this.checkPreAuthAvailable();
    this.checkCanTransact(session, 'void');
    const comp = this.state.txns.get(origStan);
    if (!comp || comp.kind !== 'completion') throw new PosError('OPR_NOT_FOUND', `no completion with trace ${origStan} in this batch`, { stan: origStan });
    if (statusOf(this.state, comp) !== 'approved') throw new PosError('OPR_NOT_VOIDABLE', `completion ${origStan} is ${statusOf(this.state, comp)}`, { stan: origStan });
    await this.readyForFinancial(session);
    const { stans, record } = this.stans(1);
    const stan = stans[0];
    const pan = this.panOf(comp.panEnc);
    const original = { batch: comp.batch, stan: comp.stan, dateMmdd: comp.hostDate ?? hostMmdd(comp.beganAtMs), rrn: comp.rrn as string, authCode: comp.authCode ?? '' };
    const req = buildCompletionVoid(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, amountFen: comp.amountFen, pan, entryMode: '012', original });
    return this.preAuthFamilyAnswered(await this.financial(req, record, {
      kind: 'completionVoid', stan, amountFen: comp.amountFen, pan, expiry: comp.expiry, entryMode: '012', operator: session.operator,
      origStan: comp.stan, origBatch: comp.batch, origRrn: comp.rrn, origAuthCode: comp.authCode, origDate: comp.hostDate,
    }), req.type);
  }

  /**
   * A completion or void of the pre-authorization family answered 40 (function not supported):
   * the family is hidden until the next sign-on, as a pre-authorization answered 12 or 40 hides it.
   * Their 12 is the profile's "already completed or voided", not "unknown".
   */
  private preAuthFamilyAnswered(res: FlowResult, type: RequestType): FlowResult {
    if (res.outcome === 'declined' && res.txn.responseCode === FUNCTION_NOT_SUPPORTED_RESPONSE_CODE) this.noteUnknown('preAuth', type, res.txn.responseCode);
    return res;
  }

  /** Holds of this journal still open (newest first), for the completion and void screens. */
  openPreAuths(): PreAuthHold[] {
    return [...this.state.preAuths.values()].filter((h) => h.state === 'open').reverse();
  }

  // ------------------------------------------------------------ balance

  /**
   * Balance inquiry (0200, 3 = 310000). Its reversal is armed like a sale's (the profile: a reversal
   * record is durable before any 0200/0220 leaves): one commit holds the STAN and the pending
   * reversal (98), any answer clears it, no usable answer sends it (98, A0 or 06 as for a sale).
   * It is no transaction of the batch: no txn record, nothing in the totals.
   */
  async balance(card: CardInput, pin: Buffer, session: Session): Promise<{ responseCode: string; text: ResponseCodeText; balance?: Balance }> {
    try {
      requirePermission(session, 'balance');
      await this.readyForFinancial(session);
      invariant(this.keys !== undefined, 'PIN block needs the PIK');
      const { stans, record } = this.stans(1);
      const stan = stans[0];
      const pinBlock = pinBlockFormat0(card.pan, pin, this.keys.pik);
      const req = buildBalance(this.config.profile, { ids: this.config.ids, stan, batch: this.state.batch, pan: card.pan, entryMode: card.entryMode, track2: card.track2, pinBlock });
      const bytes = this.encode(req);
      await this.store.commit([record, rec.reversalPending(this.balanceReversal(req, card.pan))]);
      let res: FinancialResult;
      try {
        res = parseFinancialResponse(this.config.profile, req, await this.send(req, stan, bytes), { mak: this.keys.mak });
      } catch (e) {
        await this.balanceUnanswered(stan, e);
        throw e;
      }
      await this.store.commit([rec.reversalCleared({ stan, cause: res.approved ? 'approved' : 'declined', responseCode: res.responseCode, tries: 0 })], { reserve: true });
      return { responseCode: res.responseCode, text: res.text, balance: res.balance };
    } catch (e) {
      if (isPosError(e, 'mac-failure')) this.needsSignOn = true;
      throw e;
    } finally {
      pin.fill(0);
    }
  }

  /** What the 0400 of a balance inquiry needs: its 2 3 11 22 25 60 (no amount: the 0400 has no 4; amountFen 0 is not sent). */
  private balanceReversal(req: Request, pan: string): ReversalPendingPayload {
    const m = req.message;
    return {
      stan: Number(textField(m, 11)), batch: this.state.batch, reason: '98', kind: 'balance', amountFen: 0, panEnc: this.sealPan(pan), panMasked: maskPan(pan),
      processingCode: textField(m, 3) as string, entryMode: textField(m, 22) as EntryMode, conditionCode: textField(m, 25) as string, type60: (textField(m, 60) as string).slice(0, 2),
    };
  }

  /**
   * A balance inquiry without a usable answer: cleared when it never left; otherwise reversed at
   * once with the sale's reasons (A0 bad MAC, 06 unreadable answer, 98 none), kept when it cannot go.
   */
  private async balanceUnanswered(stan: number, e: unknown): Promise<void> {
    if (!isPosError(e) || e.kind === 'invariant') return;
    if (requestNeverLeft(e)) {
      await this.store.commit([rec.reversalCleared({ stan, cause: 'not-sent', responseCode: 'NS', tries: 0 })], { reserve: true });
      return;
    }
    const pr = this.state.pendingReversal as NonNullable<Store['state']['pendingReversal']>;
    if (e.kind === 'mac-failure') this.needsSignOn = true;
    const reason = e.kind === 'mac-failure' ? 'A0' : e.kind === 'host-malformed' ? '06' : undefined;
    if (reason !== undefined) await this.store.commit([rec.reversalPending({ ...pr, reason })], { reserve: true });
    this.reasonDecided.add(stan);
    const flushed = await this.flushReversal().catch((err: unknown) => { this.log.warn({ err: String(err) }, 'balance reversal not sent'); return 'pending' as const; });
    if (flushed === 'pending') await this.markReasonDecided(stan);
  }

  // ------------------------------------------------------------ receipts, signatures, reprint

  /**
   * Deferred by the store (not a commit of its own): see the header. Losing it at a cut only offers
   * a DUPLICATE: the copies of a transaction whose marks a cut lost are pending at the next boot.
   * `durable`: a copy printed outside its transaction's flow (the reprint menu, the customer-copy
   * offer) is marked in a commit of its own: a lost mark there would leave no pending copy behind,
   * and the next reprint of a copy already printed would carry no DUPLICATE.
   */
  async markPrinted(stan: number, copy: 'merchant' | 'customer', reprint: boolean, durable = false): Promise<void> {
    await this.store.commit([rec.receiptPrinted({ stan, copy, reprint })], { reserve: true, ...(durable ? { deferred: false } : {}) });
  }

  /** A customer copy the printer could not print: it waits for paper, across a power cut too. */
  async markPending(stan: number, copy: 'customer', reason: string): Promise<void> {
    await this.store.commit([rec.receiptPending({ stan, copy, reason })], { reserve: true });
  }

  /** Copies waiting for the printer, in print order (merchant, then customer, per transaction). */
  pendingCopies(): Array<{ readonly stan: number; readonly copy: 'merchant' | 'customer' }> {
    return pendingCopies(this.state);
  }

  /** Deferred like markPrinted: a lost mark prints the report again at boot, marked as a reprint. */
  async markReportPrinted(batch: number, reprint: boolean): Promise<void> {
    await this.store.commit([rec.receiptPrinted({ stan: 0, copy: 'settlement', reprint, batch })], { reserve: true });
  }

  txn(stan: number): TxnView | undefined {
    const t = this.state.txns.get(stan);
    return t && viewOf(this.state, t);
  }

  /**
   * A transaction of a settled batch, rebuilt from its own records in the journal (from its
   * txn-begin to its batch's batch-closed), with its signature: what a reprint by trace number
   * needs once the batch is closed. Undefined when the open batch holds the STAN (it comes first),
   * when no settled batch this journal remembers does (SETTLED_TXNS_MAX), or when its records
   * cannot be read back.
   */
  settledTxn(stan: number): { readonly txn: TxnView; readonly signature?: MonoImage } | undefined {
    if (this.state.txns.has(stan)) return undefined;
    const at = this.state.settledTxns.get(stan);
    if (!at) return undefined;
    const s = emptyState();
    s.batch = at.batch;
    try {
      for (const r of this.store.journal.records(at.beginSeq, at.closedSeq)) {
        if (SETTLED_TXN_RECORDS.has(r.type) && r.payload.stan === stan) applyRecord(s, r);
      }
    } catch (e) {
      this.log.warn({ stan, batch: at.batch, err: String(e) }, 'settled transaction not rebuilt from the journal');
      return undefined;
    }
    const t = s.txns.get(stan);
    if (!t) return undefined;
    const sig = t.signature;
    return { txn: viewOf(s, t), ...(sig ? { signature: unpackBits(inflateRawSync(sig.image), sig.width, sig.height) } : {}) };
  }

  /** The settled batch a STAN not in the open batch belongs to, as far as this journal remembers. */
  settledBatchOf(stan: number): number | undefined {
    return this.state.txns.has(stan) ? undefined : this.state.settledTxns.get(stan)?.batch;
  }

  /** The last approved transaction of the batch (reprint of "the last receipt"). */
  lastReceipt(): TxnView | undefined {
    let last: Txn | undefined;
    for (const t of this.state.txns.values()) if (t.status === 'approved') last = t;
    return last && viewOf(this.state, last);
  }

  unprinted(): TxnView[] {
    return unprintedReceipts(this.state).map((t) => viewOf(this.state, t));
  }

  transactions(): TxnView[] {
    return [...this.state.txns.values()].map((t) => viewOf(this.state, t));
  }

  /** Stores the signature with the transaction (compressed 1-bit); uploaded later. */
  async saveSignature(stan: number, image: MonoImage): Promise<void> {
    const t = this.state.txns.get(stan);
    if (!t || t.status !== 'approved') throw new PosError('OPR_NOT_FOUND', `no approved transaction ${stan}`, { stan });
    invariant(image.width * image.height <= SIGNATURE_PIXELS_MAX && image.pixels.length === image.width * image.height, 'signature image size');
    const packed = packBits(image);
    const compressed = deflateRawSync(packed, { level: 9 });
    if (compressed.length > SIGNATURE_BYTES_MAX) throw new PosError('OPR_INPUT', `signature too detailed (${compressed.length} bytes compressed, ${SIGNATURE_BYTES_MAX} allowed): sign again`);
    await this.store.commit([rec.signature({ stan, image: compressed, width: image.width, height: image.height, uploaded: false })], { reserve: true });
  }

  signatureImage(stan: number): MonoImage | undefined {
    const s = this.state.txns.get(stan)?.signature;
    return s && unpackBits(inflateRawSync(s.image), s.width, s.height);
  }

  /** Uploads captured signatures (0820, 60.3 = 800). Returns how many were uploaded. */
  async uploadSignatures(): Promise<number> {
    const todo = signaturesToUpload(this.state).slice(0, STAN_BLOCK_MAX);
    if (todo.length === 0) return 0;
    const { stans, record } = this.stans(todo.length);
    await this.store.commit([record], { reserve: true });
    let done = 0;
    for (const [i, t] of todo.entries()) {
      const sig = t.signature as NonNullable<Txn['signature']>;
      const req = buildSignatureUpload(this.config.profile, {
        ids: this.config.ids, stan: stans[i], batch: this.state.batch, settlementDateMmdd: t.settlementDate ?? t.hostDate ?? hostMmdd(this.clock.now()), rrn: t.rrn as string, image: sig.image,
      });
      const res = parseAckResponse(this.config.profile, req, await this.send(req, stans[i]));
      if (!res.approved) { this.log.warn({ stan: t.stan, code: res.responseCode }, 'signature upload refused'); continue; }
      await this.store.commit([rec.signatureUploaded({ stan: t.stan })], { reserve: true });
      done++;
    }
    return done;
  }

  // ------------------------------------------------------------ for settlement.ts

  /** @internal */ sendRaw(req: Request, stan: number): Promise<Buffer> { return this.send(req, stan); }
  /** @internal */ reserveStans(count: number): { stans: number[]; record: RecordInput } { return this.stans(count); }
  /** The terminal's time: the injected clock corrected by the host's (receipts, date checks, settlement). */
  now(): number { return this.clock.now(); }
  /** @internal */ get logger(): Logger { return this.log; }

  // ------------------------------------------------------------ for qr.ts (QR payments)

  /** @internal */ encodeRaw(req: Request): Buffer { return this.encode(req); }
  /** @internal */ sendEncoded(req: Request, stan: number, bytes: Buffer): Promise<Buffer> { return this.send(req, stan, bytes); }
  /** @internal The MAC key for checking an answer (undefined before a sign-on). */
  get macKey(): Buffer | undefined { return this.keys?.mak; }
  /** @internal */ checkTransact(session: Session, permission: 'sale' | 'void' | 'refund'): void { this.checkCanTransact(session, permission); }
  /** @internal */ ready(session: Session): Promise<void> { return this.readyForFinancial(session); }
  /** @internal */ hostAnswered(f: HostFeature, type: RequestType, responseCode: string): boolean { return this.noteUnknown(f, type, responseCode); }
}

/** The request never left the terminal (connect refused, network down): the host cannot have it. */
export function requestNeverLeft(e: PosError): boolean {
  return (e.kind === 'host-unreachable' || e.kind === 'network-down') && e.detail.requestSent === false;
}

/** Why a chip sale the host approved did not stand: the card pulled, issuer authentication failed, or the card's AAC. */
function chipFailure(o: OnlineOutcome): PosError {
  if (o.error?.id === 'RDR_CARD_REMOVED') return new PosError('RDR_REMOVED_BEFORE_END', 'the card was removed before the final GENERATE AC: the sale is reversed');
  if (o.issuerAuth === 'failed') return new PosError('RDR_ISSUER_AUTH_FAILED', 'issuer authentication failed (ARPC): the card was asked for an AAC, the sale is reversed');
  if (o.cdaFailure !== undefined) return new PosError('RDR_DECLINED_AFTER_APPROVAL', `the CDA signature with the card's TC failed (${o.cdaFailure}): the sale is reversed`);
  return new PosError('RDR_DECLINED_AFTER_APPROVAL', `the card did not confirm the approval (${o.error?.code ?? o.cryptogram}): the sale is reversed`);
}

/** An original that never got field 13 is dated in the host's zone, China (UTC+8): the profile. */
function hostMmdd(ms: number): string {
  return mmddIn(ms, TZ_OFFSET_MINUTES_DEFAULT);
}


function packBits(image: MonoImage): Buffer {
  const out = Buffer.alloc(Math.ceil((image.width * image.height) / 8));
  for (let i = 0; i < image.pixels.length; i++) if (image.pixels[i]) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

function unpackBits(packed: Buffer, width: number, height: number): MonoImage {
  const pixels = new Uint8Array(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return { width, height, pixels };
}

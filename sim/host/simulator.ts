/**
 * The acquirer host simulator: a TCP server on loopback that speaks the "cup" profile
 * (docs/PROTOCOL.md) with the same packager and crypto as the terminal, keeps its
 * own ledger, and can be told to misbehave (faults.ts).
 *
 * What a host does, modelled here: sign-on issues fresh working keys under the terminal's TMK;
 * MACed requests with a bad or missing MAC are answered A0 and not processed; sales are
 * recorded with the RRN and auth code issued; a void or reversal marks what it cancels;
 * settlement compares the terminal's totals with the ledger's and closes the batch; batch
 * upload and signature upload are accepted. When a response is delayed or lost by a fault, the
 * host has still done the work: that is exactly the case reversals exist for.
 *
 * Chip sales: a sale with entry mode 05x (contact IC) or 07x (contactless) must carry field 55
 * (BER-TLV) with the cryptogram (9F26, 8 bytes) and the card's counter (9F36, 2 bytes); without
 * them, or with 55 that is not TLV, it is declined 12 (invalid transaction: the profile's code
 * for a request the host will not process) and nothing is recorded. The ARQC is verified
 * (chip-issuer.ts) under the card key the profile derives from the test issuer master key (option
 * A, the PSN rule): one that does not verify is declined `05` and nothing is recorded (option
 * `chip.verifyArqc: false` turns the check off for tests that send made-up 55s). An approved chip
 * sale's 0210 carries 55 with 91 (ARPC method 1 ‖ ARC "00"), and on command (faults.ts) a wrong
 * ARPC or an issuer script in 71 or 72. Every request's field 55 is kept in `requests()`
 * so a test can compare a reversal's 55 with its sale's, byte for byte.
 *
 * Logs carry masked PANs only (`panMasked`; the logger redacts any `pan` key anyway).
 *
 * Version 2 (docs/PROTOCOL.md section 14), everything but the CA key and AID downloads (answered
 * 12, like a host that does not know them):
 *
 * - Echo (301) is answered 00. A status upload (362) is kept per TID (`lastStatus`); a 62 that
 *   is not the status TLV is answered 30. A parameter download (360) is answered with
 *   `encodeHostParameters` of the simulator's parameters (`parameters` option, `setParameters`,
 *   default `SIM_PARAMETERS_DEFAULT`); the fault `param-out-of-range` answers 00 with a 62 whose
 *   DF12 (response timeout) is 5, outside 10..120, built by hand.
 * - Pre-authorization (0100, 60.1 = 10) records a hold (ledger type `preAuth`). Its void (60.1 =
 *   11) and its completion (0200, 60.1 = 20) find it by 61 batch + STAN, or, when 61's batch and
 *   STAN are 000000 (keyed by the operator), by 38 + the date of 61; the card (masked PAN), 38
 *   and the date must match, else 25. A hold completed or voided already: 12. A completion above
 *   115% of the hold (`completionFenMax`): 13; an approved completion carries the host's own new
 *   38. A completion void (60.1 = 21) names the completion by 61, 37 and 38 and opens the hold
 *   again. All four are reversed by a 0400 like a sale, undoing what they did to the hold.
 * - Offline advice (0220, 60.1 = 30) is recorded as an approved sale (`offline: true`, 38 the
 *   terminal's) under TID + batch + STAN; a resend of the same key is answered 94 and recorded
 *   nothing; a 0400 naming it is answered 12. The same card (compared by a keyed hash held in
 *   memory, never the PAN) and amount advised again under another STAN of the batch is recorded
 *   (the terminal charged twice; the host only reports it) and listed in `doubleAdvices()`.
 * - QR payments (field 59). A customer-presented code (qrSale, 22 = 032) is answered by the
 *   simulator's own test rules, on the code's digits:
 *     - ending in a code of `QR_DECLINE_SUFFIXES` (`...0051` → 51, `...0005` → 05): declined at
 *       once, with the new order's A2;
 *     - starting with `QR_CODE_WAITING_PREFIX` (`99`): P1 (waiting); the third digit N says the
 *       order is paid at the N-th query (0: never, P1 for ever until `payOrder`);
 *     - any other code: paid at once, 00 with A2 (new order number), A4 (the wallet,
 *       `walletOfCode`: first two digits 10-15 WX, 25-30 AL, 62 UP, else OT) and A5 (a masked
 *       payer).
 *   A terminal-presented order (qrOrder, 22 = 033, A7 validity in s) is answered P1 with A2 and
 *   A3 (at most 32 characters): made, the code not scanned yet (the profile's "QR code payments", docs/PROTOCOL.md §14:
 *   "QR order → `A2 A3`", "`P1` ... the code has not been scanned yet"; `qr.orderAnswer` '00'
 *   answers it 00 instead, as a host reading 00 as "made" does). It waits until
 *   `payOrder(orderNo, wallet?)` (or the `pay` control line) pays it, or until the query
 *   `qr.orderPaysAtQuery` when that option is set (0: paid before the answer, which is then 00 with
 *   A2 A3 A4 A5: "00 is paid"). A
 *   query (300000) finds the order by 59 A2, else by 61 batch + STAN (the date is not checked:
 *   after a lost answer the terminal has only its own): 00 with A2 A4 A5 when paid, P1 while
 *   waiting, the decline when declined, `QR_ORDER_EXPIRED_CODE` (Q2) once an order's validity has
 *   passed unpaid, 25 when unknown. A void (60.1 = 23, 37 the QR sale's RRN) and a refund (0220,
 *   60.1 = 25) are checked like the card void and refund: unknown order or another RRN 25; not
 *   paid, voided already, another batch (void), another amount (void) or more than is left
 *   (refund) 12. A P1 answer carries no 38; a decline carries A2 when an order number is known.
 *   A 0400 naming a QR payment is answered 12: QR outcomes are resolved by query, never reversed.
 *   Every answer about an order carries the order's one RRN in 37. The fault `qr-wait-forever`
 *   answers every qrSale and qrQuery P1. The payment code is kept only masked to its last 4
 *   digits, in the ledger and in logs alike.
 * - STANs used again (issue 13 item 9): the host remembers the last `STAN_WINDOW_MAX` STANs of each
 *   terminal across batches (stan-window.ts) and answers 94 (duplicate transmission), doing nothing
 *   else, to a request whose STAN it has seen, in this batch or an earlier one, as a real acquirer
 *   does; listed in `stanReuses()`. Not a reuse: a reversal (it carries its original's STAN), and
 *   a message the profile sends again under its own STAN and batch (offline advice, QR void and
 *   refund, script notice: their own rules answer the repeat). A reversal of a balance inquiry the
 *   host answered is answered 00 (nothing moved, nothing to undo); of one it never saw, 25.
 * - Issuer script result notice (0620, 60.3 = 951): acknowledged 00 and kept (`scriptNotices()`,
 *   once per TID + batch + STAN) when 61 and 37 name a transaction of the ledger (else 25) and 55
 *   holds DF31 in 5-byte results (else 30).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { Logger, maskPan, silentLogger } from '../../common/log';
import { CUP_PROFILE, HostProfile, MessageDef, RequestType, classifyRequest } from '../../runtime/host/fields';
import { FieldValue, IsoMessage, bytesField, macData, packFrame, swapTpdu, textField, unpackFrame } from '../../runtime/host/packager';
import { WorkingKeys, ecbMac, verifyMac, wrapWorkingKeys } from '../../runtime/host/crypto';
import { SettlementTotals, parseTotals, totalsDigits } from '../../runtime/host/messages';
import {
  HostParameters, QR_SHOW_CHARS_MAX, QR_WAITING, QrTags, TerminalStatus, Wallet, completionFenMax, encodeField59, encodeHostParameters,
  parseField59, parseHostParameters, parseStatusTlv,
} from '../../runtime/host/messages-v2';
import { encodeTlv, primitives } from '../../runtime/txn/emv';
import { createHmac } from 'node:crypto';
import { Ledger, LedgerEntry, QR_TYPES, QrOrder, TxnKey } from './ledger';
import { EmvAnswer, EmvParamsHost } from './emv-params-host';
import { FaultKind, FaultPlan, FaultSpec, ScriptFault } from './faults';
import { CODE_ARQC_FAILED, SIM_ISSUER_MASTER_KEY, issuerField55, verifyArqc } from './chip-issuer';
import { STAN_WINDOW_MAX, StanWindow, isDesignedResend } from './stan-window';
import { hhmmssIn, mmddIn, TZ_OFFSET_MINUTES_DEFAULT } from '../../common/time';
import { TEST_TERMINAL, TestTerminal } from '../../common/test-terminal';

/** The host's zone for fields 12, 13 and 15: China, UTC+8 (the profile). */
const HOST_TZ_OFFSET_MINUTES = TZ_OFFSET_MINUTES_DEFAULT;

/** A terminal the simulator knows: its TID, MID and TMK (the shape of the profile's test identity). */
export type SimTerminal = TestTerminal;

// The test identity lives in common/ (a real board refuses it); re-exported for the simulator's users.
export { TEST_TERMINAL };

export interface AcquirerSimulatorOptions {
  readonly profile?: HostProfile;
  /** Default: the test identities. */
  readonly terminals?: readonly SimTerminal[];
  readonly logger?: Logger;
  /**
   * The host's clock, ms since the epoch. Required: a simulator that read the real clock while the
   * terminal's is pinned made refunds' original dates lie in the future when the calendar moved on.
   * `npm start` and `pos host-sim` pass Date.now; tests pass the terminal's own clock.
   */
  readonly clock: () => number;
  /** Source of working keys; inject a seeded one for reproducible runs. */
  readonly randomBytes?: (count: number) => Buffer;
  /** 'one-shot' (profile default): close after each response. */
  readonly connectionMode?: 'one-shot' | 'keep-alive';
  /** Answer to a balance inquiry. */
  readonly balanceFen?: number;
  readonly idleTimeoutMs?: number;
  /** What a parameter download (60.3 = 360) answers; default `SIM_PARAMETERS_DEFAULT`. */
  readonly parameters?: HostParameters;
  /** QR payments (see the top of this file). */
  readonly qr?: QrBehaviour;
  /** STANs remembered per terminal for the 94 of a STAN used again (default STAN_WINDOW_MAX). */
  readonly stanWindowMax?: number;
  /** Serve TLS instead of plain TCP (`pos host-sim --tls-cert --tls-key [--tls-ca --require-client-cert]`). */
  readonly tls?: SimTlsOptions;
  /** Chip sales: verify the ARQC (default true; false for tests that send made-up field 55s). */
  readonly chip?: { readonly verifyArqc?: boolean };
}

/**
 * The acquirer's side of TLS: its certificate and key (PEM), and for client certificates the CA
 * that issued the terminals' (`ca`). `requireClientCert`: a terminal without a certificate is
 * refused in the handshake (OpenSSL's alert); one with a certificate of another CA is refused by
 * node after the handshake, by closing the connection without an alert (an OpenSSL-based host
 * sends one: tests/host/tls.test.ts uses `openssl s_server` for that). Without it, a certificate
 * is asked for but optional.
 * TLS 1.2 at least; session tickets on (node's default), so terminals can resume.
 */
export interface SimTlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly ca?: string | Buffer;
  readonly requireClientCert?: boolean;
}

export interface QrBehaviour {
  /**
   * A terminal-presented order (22 = 033) is paid at this query; default: only `payOrder` pays it.
   * 0: paid before its answer, which is then the paid 00 (A2 A3 A4 A5).
   */
  readonly orderPaysAtQuery?: number;
  /**
   * The answer to a fresh order not paid yet: 'P1' (default) the profile's, P1 with A2 A3; '00' with
   * A2 A3, a host that reads 00 to an order as "made, not paid"; 'P1-no-A3' P1 with A2 only, a host
   * that breaks the profile (no code to show), for the terminal's handling of it.
   */
  readonly orderAnswer?: QrOrderAnswer;
}

export type QrOrderAnswer = 'P1' | '00' | 'P1-no-A3';

/** Where the simulated acquirer's e-receipt service would be (DF1A; example.com is reserved for examples). */
export const SIM_E_RECEIPT_BASE = 'https://receipts.example.com/r';

/** The simulator's acquirer parameters unless told otherwise (all within the profile's ranges). */
export const SIM_PARAMETERS_DEFAULT: HostParameters = {
  merchantName: '模拟商户', responseTimeoutS: 60, reversalTries: 3, amountFenMax: 5_000_000,
  offlineAllowed: true, offlineFloorFen: 20_000, offlineCountMax: 10, qrAllowed: true, preAuthAllowed: true,
  eReceiptBase: SIM_E_RECEIPT_BASE,
};

/** A status upload's 62 that is not the status TLV; a QR request whose 59 cannot be read: "format error". */
export const CODE_FORMAT_ERROR = '30';
/** A completion above 115% of its pre-authorization: "invalid amount". */
export const CODE_INVALID_AMOUNT = '13';
/**
 * A terminal-presented QR order queried after its validity (A7) ran out unpaid. The profile names no
 * code for it; Q2 ("order closed") is the simulator's choice: not 00/P1, so the terminal ends the
 * wait with a decline it shows as "Declined (code Q2)".
 */
export const QR_ORDER_EXPIRED_CODE = 'Q2';
/** Payment codes starting with this wait (P1); the next digit is the query that pays them (0: never). */
export const QR_CODE_WAITING_PREFIX = '99';
/** Payment codes ending with one of these are declined at once with the code given. */
export const QR_DECLINE_SUFFIXES: Readonly<Record<string, string>> = { '0051': '51', '0005': '05' };
/**
 * Double-charged offline advices listed at once (`doubleAdvices()`; the count goes on beyond it).
 * A test or a simulated day makes a handful; the list must not grow with a terminal in a loop.
 */
export const DOUBLE_ADVICES_MAX = 1_000;
const ORDER_NO_PREFIX = 'SIMQR';
const ORDER_SEQ_DIGITS = 12;
const QR_CONTENT_PREFIX = 'https://qr.sim/';
/** The wallet that pays an order when nobody names one: UnionPay's 云闪付. */
const ORDER_WALLET_DEFAULT: Wallet = 'UP';

/** STANs used again listed at once (`stanReuses()`; the count goes on beyond it). */
export const STAN_REUSES_MAX = 1_000;

/** A request refused 94 because its STAN was seen before (`stanReuses()`). */
export interface StanReuse extends TxnKey {
  readonly type: RequestType;
  /** The batch and message that used the STAN first. */
  readonly firstBatch: number;
  readonly firstType: RequestType;
}

/** Script notices kept (`scriptNotices()`): a few per chip day; the list must not grow with a terminal in a loop. */
export const SCRIPT_NOTICES_MAX = 1_000;
/** DF31 of a script notice: 5 bytes per script (result and command nibbles, then the script's 9F18). */
const SCRIPT_RESULT_BYTES = 5;

/** One issuer script result notice as acknowledged. */
export interface ScriptNoticeRecord extends TxnKey {
  /** The chip transaction it reports on (61 batch + STAN). */
  readonly original: TxnKey;
  /** Per script: result (0 not performed, 1 failed, 2 done), the failing command, the script id (9F18, hex). */
  readonly results: ReadonlyArray<{ readonly result: number; readonly command: number; readonly scriptId: string }>;
}

/** An offline advice that repeats an earlier one's card and amount under another STAN (`doubleAdvices()`). */
export interface DoubleAdvice extends TxnKey {
  /** STAN of the earlier advice with the same card and amount. */
  readonly firstStan: number;
  readonly amountFen: number;
  readonly panMasked: string;
}

export const CONNECTIONS_MAX = 64;
export const IDLE_TIMEOUT_MS_DEFAULT = 30_000;
/** Bytes a connection may have buffered before the host gives up on it. */
const PENDING_FRAMES_MAX = 4;
const RRN_DIGITS = 12;
const AUTH_DIGITS = 6;
const GARBAGE_BYTES = 40;

/** A non-approval code a host gives a terminal it does not know. */
const CODE_UNKNOWN_TERMINAL = '03';
/** A chip sale without usable IC card data (field 55): "invalid transaction". */
export const CODE_BAD_CHIP_DATA = '12';

/** One request as answered (`requests()`). */
export interface HostRequestRecord {
  readonly tid: string;
  readonly type: RequestType | undefined;
  readonly stan: number;
  /** 39 of the answer. */
  readonly code: string;
  /** 39 of the request (a reversal's reason). */
  readonly requestCode?: string;
  /** 55 of the request, as received (a copy made when it arrived; do not write to it). */
  readonly field55?: Buffer;
  /** 61 of the request (a void's, refund's or reversal's original), as received. */
  readonly field61?: string;
}

interface TerminalState {
  readonly terminal: SimTerminal;
  keys?: WorkingKeys;
}

interface Answer {
  readonly code: string;
  readonly fields?: ReadonlyArray<readonly [number, FieldValue]>;
}

function emvAnswer(a: EmvAnswer): Answer {
  return a.f62 === undefined ? { code: a.code } : { code: a.code, fields: [[62, a.f62]] };
}

interface Handled {
  readonly bytes: Buffer;
  readonly faults: readonly FaultSpec[];
  readonly hasMac: boolean;
  /** The request as `requests()` lists it: marked delivered once its whole, untouched answer is written. */
  readonly record: HostRequestRecord;
}

/** One request as the host sees it. */
interface Incoming {
  readonly m: IsoMessage;
  readonly macData?: Buffer;
  readonly def: MessageDef | undefined;
  readonly tid: string;
  readonly batch: number;
  readonly stan: number;
  readonly state: TerminalState | undefined;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

export class AcquirerSimulator {
  readonly profile: HostProfile;
  readonly ledger = new Ledger();
  /** The CA keys and AIDs served in the 370/380 downloads (the test set). */
  readonly emvParams = new EmvParamsHost();
  private readonly terminals = new Map<string, TerminalState>();
  private readonly faults = new FaultPlan();
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly randomBytes: (count: number) => Buffer;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rrnSeq = 1;
  private authSeq = 1;
  private orderSeq = 1;
  private garbageSeed = 0x9e3779b9;
  private readonly history: HostRequestRecord[] = [];
  /** Requests whose answer went out whole and untouched on a live connection (answerDelivered). */
  private readonly delivered = new WeakSet<HostRequestRecord>();
  private parameters: HostParameters;
  /** Last status upload per TID: at most one per configured terminal. */
  private readonly statuses = new Map<string, TerminalStatus>();
  /**
   * Card of each accepted offline advice, as a keyed hash (HMAC-SHA-256 under a key made at start
   * and never shown): enough to see the same card twice, useless to recover the PAN. One per
   * advice in the ledger, so bounded by LEDGER_ENTRIES_MAX.
   */
  private readonly adviceCards = new Map<string, string>();
  private readonly cardTokenKey = cryptoRandomBytes(32);
  private readonly doubles: DoubleAdvice[] = [];
  private doubleCount = 0;
  private readonly notices: ScriptNoticeRecord[] = [];
  /** The next issuer script's 9F18 (counts up over the simulator's life). */
  private scriptIdSeq = 1;
  /** One per configured terminal (created at its first request). */
  private readonly stanWindows = new Map<string, StanWindow>();
  private readonly reuses: StanReuse[] = [];
  private reuseCount = 0;
  private accepted = 0;

  constructor(private readonly options: AcquirerSimulatorOptions) {
    this.profile = options.profile ?? CUP_PROFILE;
    this.log = (options.logger ?? silentLogger).child({ component: 'host-sim' });
    this.clock = options.clock;
    this.randomBytes = options.randomBytes ?? cryptoRandomBytes;
    for (const t of options.terminals ?? [TEST_TERMINAL]) this.addTerminal(t);
    this.parameters = checkedParameters(options.parameters ?? SIM_PARAMETERS_DEFAULT);
    this.server = options.tls ? this.tlsServer(options.tls) : net.createServer((s) => this.onConnection(s));
  }

  private tlsServer(o: SimTlsOptions): tls.Server {
    const server = tls.createServer({
      cert: o.cert, key: o.key, minVersion: 'TLSv1.2',
      ...(o.ca !== undefined ? { ca: o.ca, requestCert: true, rejectUnauthorized: o.requireClientCert === true } : {}),
    }, (s) => this.onConnection(s));
    // A handshake the host refused (no or a foreign client certificate, an old protocol): logged, the socket is gone.
    server.on('tlsClientError', (e) => this.log.info({ err: e.message }, 'TLS handshake refused'));
    return server;
  }

  /** Parameters for the next downloads; refused (throws) when the terminal would refuse them. */
  setParameters(p: HostParameters): void {
    this.parameters = checkedParameters(p);
  }

  /** The last status a terminal uploaded (60.3 = 362), or undefined. */
  lastStatus(tid: string): TerminalStatus | undefined {
    const s = this.statuses.get(tid);
    return s === undefined ? undefined : { ...s };
  }

  /** Offline advices that charged a card the same amount again under another STAN; `count` goes on past DOUBLE_ADVICES_MAX. */
  doubleAdvices(): { readonly count: number; readonly list: readonly DoubleAdvice[] } {
    return { count: this.doubleCount, list: [...this.doubles] };
  }

  /**
   * The acquirer's operator registers a terminal afresh (a wiped or replaced unit under the same
   * TID, e.g. a benchmark that boots a factory-fresh journal again): its STAN window starts empty.
   */
  forgetStans(tid: string): void {
    this.stanWindows.delete(tid);
  }

  /** TCP connections accepted so far (a terminal on keep-alive opens fewer than it sends requests). */
  connectionsAccepted(): number {
    return this.accepted;
  }

  /** Requests answered 94 because their STAN was used before, in this batch or another; `count` goes on past STAN_REUSES_MAX. */
  stanReuses(): { readonly count: number; readonly list: readonly StanReuse[] } {
    return { count: this.reuseCount, list: [...this.reuses] };
  }

  /** Issuer script result notices acknowledged, in order (at most SCRIPT_NOTICES_MAX). */
  scriptNotices(): ScriptNoticeRecord[] {
    return this.notices.map((n) => ({ ...n, results: [...n.results] }));
  }

  /**
   * The customer pays a waiting QR order (a terminal-presented code scanned, or a payment
   * confirmed on the phone). Throws when there is no such order or it is not waiting.
   */
  payOrder(orderNo: string, wallet?: Wallet): QrOrder {
    const order = this.ledger.qrOrder(orderNo);
    if (order === undefined) throw new Error(`no QR order ${orderNo}`);
    this.expireIfDue(order);
    if (order.state !== 'waiting') throw new Error(`QR order ${orderNo} is ${order.state}, not waiting`);
    this.payQr(order, wallet ?? order.wallet ?? ORDER_WALLET_DEFAULT);
    return { ...order };
  }

  // ------------------------------------------------------------ control API

  addTerminal(t: SimTerminal): void {
    if (!/^[\x20-\x7e]{8}$/.test(t.tid) || !/^[\x20-\x7e]{15}$/.test(t.mid) || t.tmk.length !== 16) {
      throw new Error('terminal needs an 8-character TID, 15-character MID and 16-byte TMK');
    }
    this.terminals.set(t.tid, { terminal: t });
  }

  /** Adds a fault for the next matching requests (see faults.ts). */
  setFault(spec: FaultSpec): void {
    this.faults.add(spec);
    this.log.info({ fault: spec }, 'fault set');
  }

  clearFaults(): void {
    this.faults.clear();
  }

  activeFaults(): FaultSpec[] {
    return this.faults.list();
  }

  /** The clear working keys last issued to a terminal (tests MAC requests with them). */
  workingKeys(tid: string): WorkingKeys | undefined {
    const k = this.terminals.get(tid)?.keys;
    return k === undefined ? undefined : { pik: Buffer.from(k.pik), mak: Buffer.from(k.mak), tdk: Buffer.from(k.tdk) };
  }

  /** Every request answered, in order: TID, type, STAN, the 39 sent, the request's own 39 (a reversal's reason) and its 55. */
  requests(): ReadonlyArray<HostRequestRecord> {
    return [...this.history];
  }

  /**
   * The request's answer was written whole, with its MAC intact, to a connection still open: the
   * terminal had it (unless it lost power before acting on it). A delayed answer never counts (the
   * terminal may have stopped waiting). The day simulation's invariants tell a lost 0230 from a received one.
   */
  answerDelivered(r: HostRequestRecord): boolean {
    return this.delivered.has(r);
  }

  /** The whole, untouched answer to this request reached a connection the terminal still held (serve, or the day simulation's link). */
  markAnswerDelivered(r: HostRequestRecord): void {
    this.delivered.add(r);
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve(); });
    });
    const bound = this.port;
    this.log.info({ host, port: bound }, 'host simulator listening');
    return bound;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------ connections

  private onConnection(socket: net.Socket): void {
    if (this.sockets.size >= CONNECTIONS_MAX) { socket.destroy(); return; }
    this.accepted++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'connection error'));
    socket.setTimeout(this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS_DEFAULT, () => socket.destroy());
    let pending = Buffer.alloc(0);
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length > PENDING_FRAMES_MAX * this.profile.frameLengthBytesMax) { socket.destroy(); return; }
      while (pending.length >= 2) {
        const total = 2 + pending.readUInt16BE(0);
        if (total > this.profile.frameLengthBytesMax) {
          this.log.warn({ frameBytes: total }, 'request frame over the limit: closing');
          socket.destroy();
          return;
        }
        if (pending.length < total) break;
        const frame = pending.subarray(0, total);
        pending = pending.subarray(total);
        queue = queue.then(() => this.serve(socket, frame)).catch((e) => {
          this.log.error({ err: String(e) }, 'host simulator failed a request');
          socket.destroy();
        });
      }
    });
  }

  private async serve(socket: net.Socket, frame: Buffer): Promise<void> {
    if (socket.destroyed) return;
    const handled = this.handle(frame);
    if (handled === undefined) { socket.destroy(); return; }
    const kinds = new Set(handled.faults.map((f) => f.kind));
    for (const f of handled.faults) if (f.kind === 'delay') await this.sleep(f.delayMs ?? 0);
    if (socket.destroyed) return;
    if (kinds.has('close-before-response')) { socket.destroy(); return; }
    let bytes = handled.bytes;
    if (kinds.has('bad-mac') && handled.hasMac) bytes = corruptMac(bytes);
    if (kinds.has('garbage')) bytes = this.garbageFrame();
    if (kinds.has('close-mid-response')) { socket.end(bytes.subarray(0, bytes.length >> 1)); return; }
    socket.write(bytes);
    // A delayed answer may reach a terminal that stopped waiting: never counted as delivered.
    if (bytes === handled.bytes && !kinds.has('delay')) this.markAnswerDelivered(handled.record);
    if ((this.options.connectionMode ?? 'one-shot') === 'one-shot') socket.end();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(); }, ms);
      this.timers.add(t);
    });
  }

  /** A frame with a valid length and nonsense inside (the TPDU id alone is already wrong). */
  private garbageFrame(): Buffer {
    const out = Buffer.alloc(2 + GARBAGE_BYTES);
    out.writeUInt16BE(GARBAGE_BYTES, 0);
    for (let i = 2; i < out.length; i++) {
      this.garbageSeed ^= this.garbageSeed << 13; this.garbageSeed ^= this.garbageSeed >>> 17; this.garbageSeed ^= this.garbageSeed << 5;
      out[i] = this.garbageSeed & 0xff;
    }
    out[2] = 0xee;
    return out;
  }

  // ------------------------------------------------------------ protocol

  /** Request frame in, response frame out; undefined = the host cannot answer (closes). */
  handle(frame: Buffer): Handled | undefined {
    let unpacked;
    try {
      unpacked = unpackFrame(this.profile, frame);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'unparseable request: closing');
      return undefined;
    }
    const m = unpacked.message;
    const type = classifyRequest(this.profile, m.mti, textField(m, 3), textField(m, 60), textField(m, 22));
    const def = type === undefined ? undefined : this.profile.messages[type];
    if (def === undefined && m.mti[2] !== '0' && m.mti[2] !== '2') return undefined; // not a request MTI
    const tid = textField(m, 41) ?? '';
    const f60 = textField(m, 60) ?? '';
    const incoming: Incoming = {
      m, macData: unpacked.macData, def, tid, batch: Number(f60.slice(2, 8)), stan: Number(textField(m, 11) ?? 0), state: this.terminals.get(tid),
    };
    const faults = this.faults.take(m.mti, type, def?.mac ?? false);
    const answer = this.answer(incoming, faults);
    const message = this.responseMessage(incoming, answer);
    const hasMac = message.fields.has(64);
    const requestCode = textField(m, 39);
    const field55 = bytesField(m, 55);
    const field61 = textField(m, 61);
    const record: HostRequestRecord = {
      tid, type, stan: incoming.stan, code: answer.code, ...(requestCode !== undefined ? { requestCode } : {}), ...(field55 !== undefined ? { field55: Buffer.from(field55) } : {}),
      ...(field61 !== undefined ? { field61 } : {}),
    };
    this.history.push(record);
    this.log.info({ tid, type, stan: incoming.stan, code: answer.code, panMasked: maskOrUndefined(textField(m, 2)), faults: faults.map((f) => f.kind) }, 'request answered');
    return { bytes: packFrame(this.profile, { tpdu: swapTpdu(unpacked.tpdu), header: this.profile.header, message }), faults, hasMac, record };
  }

  private answer(r: Incoming, faults: readonly FaultSpec[]): Answer {
    if (r.def === undefined) return { code: '12' };
    if (r.state === undefined || textField(r.m, 42) !== r.state.terminal.mid) return { code: CODE_UNKNOWN_TERMINAL };
    if (r.def.mac && !this.macOk(r)) return { code: 'A0' };
    const reused = this.refuseReusedStan(r, r.def.type);
    if (reused) return reused;
    const forced = faults.find((f) => f.kind === 'response-code')?.code ?? (faults.some((f) => f.kind === 'duplicate') ? '94' : undefined);
    if (forced !== undefined && forced !== '00') return { code: forced };
    return this.process(r.def.type, r, new Set(faults.map((f) => f.kind)), faults);
  }

  private stanWindow(tid: string): StanWindow {
    let w = this.stanWindows.get(tid);
    if (w === undefined) {
      w = new StanWindow(this.options.stanWindowMax ?? STAN_WINDOW_MAX);
      this.stanWindows.set(tid, w);
    }
    return w;
  }

  /**
   * 94 for a STAN this terminal used before within the window, whatever the batch (see the top of
   * this file); remembers a new one. A reversal names its original's STAN and is not checked.
   */
  private refuseReusedStan(r: Incoming, type: RequestType): Answer | undefined {
    if (type === 'reversal') return undefined;
    const window = this.stanWindow(r.tid);
    const first = window.get(r.stan);
    if (first === undefined) {
      window.note(r.stan, { batch: r.batch, type });
      return undefined;
    }
    if (isDesignedResend(first, r.batch, type)) return undefined;
    this.reuseCount++;
    if (this.reuses.length < STAN_REUSES_MAX) this.reuses.push({ tid: r.tid, batch: r.batch, stan: r.stan, type, firstBatch: first.batch, firstType: first.type });
    this.log.warn({ tid: r.tid, stan: r.stan, batch: r.batch, type, firstBatch: first.batch, firstType: first.type }, 'STAN used again: answered 94');
    return { code: '94' };
  }

  private macOk(r: Incoming): boolean {
    const mac = bytesField(r.m, 64);
    const keys = r.state?.keys;
    return keys !== undefined && mac !== undefined && r.macData !== undefined && verifyMac(keys.mak, r.macData, mac);
  }

  private process(type: RequestType, r: Incoming, faults: ReadonlySet<FaultKind>, specs: readonly FaultSpec[] = []): Answer {
    switch (type) {
      case 'signOn': return this.signOn(r);
      case 'signOff': (r.state as TerminalState).keys = undefined; return { code: '00' };
      case 'sale': return this.sale(r, faults.has('wrong-arpc'), specs.flatMap((f) => (f.script ? [f.script] : [])));
      case 'void': return this.voidSale(r);
      case 'refund': return this.refund(r);
      case 'balance': return { code: '00', fields: [[54, `1002156C${pad(this.options.balanceFen ?? 1_000_000, 12)}`]] };
      case 'reversal': return this.reversal(r);
      case 'settlement': return this.settle(r, faults.has('unbalanced-settlement'));
      case 'batchUploadRecord': return this.batchUploadRecord(r);
      case 'batchUploadEnd': this.ledger.batch(r.tid, r.batch).uploadEndCount = Number(textField(r.m, 48)); return { code: '00' };
      case 'signatureUpload': this.ledger.batch(r.tid, r.batch).signatures++; return { code: '00' };
      case 'echo': return { code: '00' };
      case 'statusUpload': return this.statusUpload(r);
      case 'paramDownload': return this.paramDownload(faults.has('param-out-of-range'));
      case 'caKeyDownload': return emvAnswer(this.emvParams.caKeyDownload(bytesField(r.m, 62), faults.has('ca-key-bad-check')));
      case 'aidDownload': return emvAnswer(this.emvParams.aidDownload(bytesField(r.m, 62)));
      case 'caKeyDownloadEnd': case 'aidDownloadEnd': return { code: '00' };
      case 'preAuth': return this.preAuth(r, faults.has('wrong-arpc'), specs.flatMap((f) => (f.script ? [f.script] : [])));
      case 'preAuthVoid': return this.preAuthVoid(r);
      case 'completion': return this.completion(r);
      case 'completionVoid': return this.completionVoid(r);
      case 'offlineAdvice': return this.offlineAdvice(r);
      case 'qrSale': return this.qrSale(r, faults.has('qr-wait-forever'));
      case 'qrOrder': return this.qrOrder(r);
      case 'qrQuery': return this.qrQuery(r, faults.has('qr-wait-forever'));
      case 'qrVoid': return this.qrVoid(r);
      case 'qrRefund': return this.qrRefund(r);
      case 'scriptNotice': return this.scriptNotice(r);
      // Version 2 messages this simulator does not speak yet (CA key and AID downloads): what the
      // profile says a host that does not know them answers.
      default: return { code: '12' };
    }
  }

  private signOn(r: Incoming): Answer {
    const state = r.state as TerminalState;
    const keys: WorkingKeys = { pik: this.randomBytes(16), mak: this.randomBytes(16), tdk: this.randomBytes(16) };
    state.keys = keys;
    // 60.2 of the 0810 is the batch the host expects (docs/PROTOCOL.md, "Host time and parameters from
    // sign-on"): the terminal's own when it is at or past the host's, else the host's. 12/13 carry
    // the host's time (responseMessage).
    const f60 = textField(r.m, 60) ?? '00000000004';
    const expected = Math.max(r.batch, this.ledger.expectedBatch(r.tid));
    return { code: '00', fields: [[62, wrapWorkingKeys(state.terminal.tmk, keys)], [60, f60.slice(0, 2) + pad(expected, 6) + f60.slice(8)]] };
  }

  private newEntry(r: Incoming, type: LedgerEntry['type'], original?: TxnKey): LedgerEntry {
    const now = this.clock();
    return {
      tid: r.tid, batch: r.batch, stan: r.stan, type, amountFen: Number(textField(r.m, 4)), panMasked: maskPan(textField(r.m, 2) ?? ''),
      rrn: pad(this.rrnSeq++, RRN_DIGITS), authCode: pad(this.authSeq++, AUTH_DIGITS), hostDate: mmdd(now), hostTime: hhmmss(now),
      status: 'approved', refundedFen: 0, ...(original !== undefined ? { original: keyOf(original) } : {}),
    };
  }

  private approved(e: LedgerEntry): Answer {
    this.ledger.add(e);
    return { code: '00', fields: [[37, e.rrn], [38, e.authCode]] };
  }

  /** Money can only move in an open batch, once per (TID, batch, STAN). */
  private refuseFinancial(r: Incoming): Answer | undefined {
    if (this.ledger.batch(r.tid, r.batch).closed) return { code: '12' };
    if (this.ledger.find(r.tid, r.batch, r.stan) !== undefined) return { code: '94' };
    return undefined;
  }

  private sale(r: Incoming, wrongArpc = false, scripts: readonly ScriptFault[] = []): Answer {
    return this.chipApproval(r, 'sale', wrongArpc, scripts);
  }

  /**
   * A sale or a pre-authorization (the profile's pre-authorization is "as a sale"): a chip card's
   * ARQC verified (05 when it does not), the approval with 91 and, on command, scripts.
   */
  private chipApproval(r: Incoming, type: 'sale' | 'preAuth', wrongArpc: boolean, scripts: readonly ScriptFault[]): Answer {
    const refused = this.refuseFinancial(r) ?? this.refuseChipData(r);
    if (refused) return refused;
    const f55 = bytesField(r.m, 55);
    if (f55 === undefined || !/^0[57]/.test(textField(r.m, 22) ?? '') || this.options.chip?.verifyArqc === false) return this.approved(this.newEntry(r, type));
    const check = verifyArqc(SIM_ISSUER_MASTER_KEY, textField(r.m, 2), textField(r.m, 23), f55, (textField(r.m, 22) ?? '').startsWith('07'));
    if (!check.ok) {
      this.log.warn({ tid: r.tid, stan: r.stan, reason: check.reason }, 'ARQC does not verify: declined 05');
      return { code: CODE_ARQC_FAILED };
    }
    const answer = this.approved(this.newEntry(r, type));
    const field55 = issuerField55(check, answer.code, { wrongArpc, scripts, firstScriptId: this.scriptIdSeq });
    this.scriptIdSeq += scripts.length;
    return { ...answer, fields: [...(answer.fields ?? []), [55, field55]] };
  }

  /** A contact or contactless sale needs 55 with 9F26 (8 bytes) and 9F36 (2 bytes). */
  private refuseChipData(r: Incoming): Answer | undefined {
    const mode = textField(r.m, 22) ?? '';
    if (!/^0[57]/.test(mode)) return undefined;
    const f55 = bytesField(r.m, 55);
    let tags: Map<number, Buffer>;
    try {
      tags = f55 === undefined ? new Map() : primitives(f55);
    } catch {
      tags = new Map();
    }
    if (tags.get(0x9f26)?.length === 8 && tags.get(0x9f36)?.length === 2) return undefined;
    this.log.warn({ tid: r.tid, stan: r.stan, entryMode: mode, field55Bytes: f55?.length ?? 0 }, 'chip sale without cryptogram in field 55: declined');
    return { code: CODE_BAD_CHIP_DATA };
  }

  private voidSale(r: Incoming): Answer {
    const refused = this.refuseFinancial(r);
    if (refused) return refused;
    const f61 = textField(r.m, 61) ?? '';
    const sale = this.ledger.find(r.tid, Number(f61.slice(0, 6)), Number(f61.slice(6, 12)));
    if (sale === undefined || sale.type !== 'sale' || sale.status !== 'approved' || sale.rrn !== textField(r.m, 37)) return { code: '25' };
    if (sale.voidedBy !== undefined || sale.batch !== r.batch || sale.amountFen !== Number(textField(r.m, 4)) || sale.refundedFen > 0) return { code: '12' };
    const entry = this.newEntry(r, 'void', sale);
    sale.voidedBy = keyOf(entry);
    return this.approved(entry);
  }

  private refund(r: Incoming): Answer {
    const refused = this.refuseFinancial(r);
    if (refused) return refused;
    const sale = this.ledger.findSaleByRrn(r.tid, textField(r.m, 37) ?? '');
    if (sale === undefined || sale.status !== 'approved' || !originalMatches(textField(r.m, 61) ?? '', sale)) return { code: '25' };
    const amountFen = Number(textField(r.m, 4));
    if (sale.voidedBy !== undefined || amountFen > sale.amountFen - sale.refundedFen) return { code: '12' };
    sale.refundedFen += amountFen;
    return this.approved(this.newEntry(r, 'refund', sale));
  }

  /**
   * Unknown original: 25 (a balance inquiry the host answered: 00). Already reversed: 00 again (the terminal only needs it gone). A QR
   * payment (by its entry mode, its order or its ledger entry) and an offline advice: 12, the
   * profile never reverses them. A pre-authorization already completed or voided: 12.
   */
  private reversal(r: Incoming): Answer {
    const e = this.ledger.find(r.tid, r.batch, r.stan);
    const qrMode = ['032', '033'].includes(textField(r.m, 22) ?? '');
    if (qrMode || (e !== undefined && QR_TYPES.includes(e.type)) || this.ledger.qrOrderOf(r.tid, r.batch, r.stan) !== undefined) return { code: '12' };
    if (e === undefined) return { code: this.answeredBalance(r) ? '00' : '25' };
    if (e.offline === true) return { code: '12' };
    if (e.status === 'reversed') return { code: '00' };
    if (this.ledger.batch(r.tid, r.batch).closed || e.amountFen !== Number(textField(r.m, 4))) return { code: '12' };
    const original = e.original && this.ledger.find(e.original.tid, e.original.batch, e.original.stan);
    if (e.type === 'preAuth' && (e.completedBy !== undefined || e.voidedBy !== undefined)) return { code: '12' };
    // Reversing a completion void captures the hold again: not when another completion took it since.
    const hold = e.type === 'completionVoid' && original?.original ? this.ledger.find(original.original.tid, original.original.batch, original.original.stan) : undefined;
    if (hold !== undefined && hold.completedBy !== undefined && !sameKey(hold.completedBy, original)) return { code: '12' };
    e.status = 'reversed';
    if ((e.type === 'void' || e.type === 'preAuthVoid' || e.type === 'completionVoid') && original && sameKey(original.voidedBy, e)) original.voidedBy = undefined;
    if (e.type === 'refund' && original) original.refundedFen -= e.amountFen;
    if (e.type === 'completion' && original && sameKey(original.completedBy, e)) original.completedBy = undefined;
    if (hold !== undefined && original !== undefined) hold.completedBy = keyOf(original);
    return { code: '00' };
  }

  /** A reversal naming a balance inquiry this host saw (same batch and STAN): nothing moved, nothing to undo. */
  private answeredBalance(r: Incoming): boolean {
    const first = this.stanWindow(r.tid).get(r.stan);
    return first !== undefined && first.type === 'balance' && first.batch === r.batch;
  }

  // ------------------------------------------------------------ version 2: network management

  private statusUpload(r: Incoming): Answer {
    const f62 = bytesField(r.m, 62);
    let status: TerminalStatus;
    try {
      if (f62 === undefined) return { code: CODE_FORMAT_ERROR };
      status = parseStatusTlv(f62);
    } catch {
      return { code: CODE_FORMAT_ERROR };
    }
    this.statuses.set(r.tid, status);
    return { code: '00' };
  }

  private paramDownload(outOfRange: boolean): Answer {
    if (!outOfRange) return { code: '00', fields: [[62, encodeHostParameters(this.parameters)]] };
    // By hand, not through the encoder: DF12 (response timeout) = 5 s, below the profile's 10..120.
    const rest = encodeHostParameters({ ...this.parameters, responseTimeoutS: undefined });
    return { code: '00', fields: [[62, Buffer.concat([rest, encodeTlv(0xdf12, Buffer.from([5]))])]] };
  }

  // ------------------------------------------------------------ version 2: pre-authorization

  private preAuth(r: Incoming, wrongArpc = false, scripts: readonly ScriptFault[] = []): Answer {
    return this.chipApproval(r, 'preAuth', wrongArpc, scripts);
  }

  /**
   * The hold a completion or pre-authorization void names: by 61 batch + STAN, or by 38 + date
   * when 61's batch and STAN are 000000; 38, the date and the card must be the hold's.
   */
  private findHold(r: Incoming): LedgerEntry | undefined {
    const f61 = textField(r.m, 61) ?? '';
    const authCode = textField(r.m, 38) ?? '';
    if (!/^\d{16}$/.test(f61)) return undefined;
    const date = f61.slice(12);
    const hold = f61.slice(0, 12) === '000000000000'
      ? this.ledger.findPreAuthByAuthCode(r.tid, authCode, date)
      : this.ledger.find(r.tid, Number(f61.slice(0, 6)), Number(f61.slice(6, 12)));
    if (hold === undefined || hold.type !== 'preAuth' || hold.status !== 'approved') return undefined;
    if (hold.authCode !== authCode || hold.hostDate !== date || hold.panMasked !== maskPan(textField(r.m, 2) ?? '')) return undefined;
    return hold;
  }

  private preAuthVoid(r: Incoming): Answer {
    const refused = this.refuseFinancial(r);
    if (refused) return refused;
    const hold = this.findHold(r);
    if (hold === undefined) return { code: '25' };
    if (hold.completedBy !== undefined || hold.voidedBy !== undefined || hold.amountFen !== Number(textField(r.m, 4))) return { code: '12' };
    const entry = this.newEntry(r, 'preAuthVoid', hold);
    hold.voidedBy = keyOf(entry);
    return this.approved(entry);
  }

  private completion(r: Incoming): Answer {
    const refused = this.refuseFinancial(r);
    if (refused) return refused;
    const hold = this.findHold(r);
    if (hold === undefined) return { code: '25' };
    if (hold.completedBy !== undefined || hold.voidedBy !== undefined) return { code: '12' };
    if (Number(textField(r.m, 4)) > completionFenMax(hold.amountFen)) return { code: CODE_INVALID_AMOUNT };
    // newEntry issues the completion its own authorization code: the answer's new 38.
    const entry = this.newEntry(r, 'completion', hold);
    hold.completedBy = keyOf(entry);
    return this.approved(entry);
  }

  /** Names the completion by 61 (batch + STAN + date), 37 and 38; opens its hold again. */
  private completionVoid(r: Incoming): Answer {
    const refused = this.refuseFinancial(r);
    if (refused) return refused;
    const f61 = textField(r.m, 61) ?? '';
    const c = /^\d{16}$/.test(f61) ? this.ledger.find(r.tid, Number(f61.slice(0, 6)), Number(f61.slice(6, 12))) : undefined;
    if (c === undefined || c.type !== 'completion' || c.status !== 'approved' || c.rrn !== textField(r.m, 37)
      || c.authCode !== textField(r.m, 38) || c.hostDate !== f61.slice(12)) return { code: '25' };
    if (c.voidedBy !== undefined || c.batch !== r.batch || c.amountFen !== Number(textField(r.m, 4))) return { code: '12' };
    const entry = this.newEntry(r, 'completionVoid', c);
    c.voidedBy = keyOf(entry);
    const hold = c.original && this.ledger.find(c.original.tid, c.original.batch, c.original.stan);
    if (hold && sameKey(hold.completedBy, c)) hold.completedBy = undefined;
    return this.approved(entry);
  }

  // ------------------------------------------------------------ version 2: offline advice

  /**
   * Recorded as an approved sale with the terminal's 38. A resend (same TID + batch + STAN) is
   * 94 before anything else, even once the batch closed, so it is never recorded twice.
   */
  private offlineAdvice(r: Incoming): Answer {
    // A resend (its 0230 was lost): 94, with the RRN the host filed it under, so the terminal's
    // record of the sale names the same reference as the host's (a void or refund uses it).
    const filed = this.ledger.find(r.tid, r.batch, r.stan);
    if (filed !== undefined) return { code: '94', fields: [[37, filed.rrn]] };
    if (this.ledger.batch(r.tid, r.batch).closed) return { code: '12' };
    const chip = this.refuseChipData(r);
    if (chip) return chip;
    const entry: LedgerEntry = { ...this.newEntry(r, 'sale'), authCode: textField(r.m, 38) ?? '', offline: true };
    const card = createHmac('sha256', this.cardTokenKey).update(textField(r.m, 2) ?? '').digest('hex');
    const first = this.ledger.entries({ tid: r.tid, batch: r.batch }).find((e) => e.offline === true && e.status === 'approved'
      && e.amountFen === entry.amountFen && this.adviceCards.get(keyText(e)) === card);
    const answer = this.approved(entry);
    this.adviceCards.set(keyText(entry), card);
    if (first !== undefined) {
      this.doubleCount++;
      if (this.doubles.length < DOUBLE_ADVICES_MAX) this.doubles.push({ ...keyOf(entry), firstStan: first.stan, amountFen: entry.amountFen, panMasked: entry.panMasked });
      this.log.warn({ tid: r.tid, batch: r.batch, stan: r.stan, firstStan: first.stan, amountFen: entry.amountFen, panMasked: entry.panMasked }, 'offline advice charges a card the same amount again');
    }
    return answer;
  }

  // ------------------------------------------------------------ version 2: issuer script notice

  private scriptNotice(r: Incoming): Answer {
    const f61 = textField(r.m, 61) ?? '';
    const original = /^\d{12}/.test(f61) ? this.ledger.find(r.tid, Number(f61.slice(0, 6)), Number(f61.slice(6, 12))) : undefined;
    if (original === undefined || original.rrn !== textField(r.m, 37)) return { code: '25' };
    let df31: Buffer | undefined;
    try {
      df31 = primitives(bytesField(r.m, 55) ?? Buffer.alloc(0)).get(0xdf31);
    } catch {
      df31 = undefined;
    }
    if (df31 === undefined || df31.length === 0 || df31.length % SCRIPT_RESULT_BYTES !== 0) return { code: CODE_FORMAT_ERROR };
    if (this.notices.some((n) => sameKey(n, r)) || this.notices.length >= SCRIPT_NOTICES_MAX) return { code: '00' };
    const results: Array<ScriptNoticeRecord['results'][number]> = [];
    for (let i = 0; i < df31.length; i += SCRIPT_RESULT_BYTES) {
      results.push({ result: df31[i] >> 4, command: df31[i] & 0x0f, scriptId: df31.subarray(i + 1, i + SCRIPT_RESULT_BYTES).toString('hex').toUpperCase() });
    }
    this.notices.push({ tid: r.tid, batch: r.batch, stan: r.stan, original: keyOf(original), results });
    return { code: '00' };
  }

  // ------------------------------------------------------------ version 2: QR payments

  /** Field 59 of a QR request, or undefined when it cannot be read. */
  private qrTags(r: Incoming): QrTags | undefined {
    try {
      return parseField59(textField(r.m, 59) ?? '');
    } catch {
      return undefined;
    }
  }

  /** The answer's 37 and 59 for an order, with 38 when it is paid. */
  private qrAnswer(code: string, order: QrOrder, tags: QrTags, authCode?: string): Answer {
    return { code, fields: [[37, order.rrn], ...(authCode !== undefined ? [[38, authCode] as const] : []), [59, encodeField59({ A2: order.orderNo, ...tags })]] };
  }

  private paidAnswer(order: QrOrder, extra: QrTags = {}): Answer {
    const e = this.ledger.find(order.tid, order.batch, order.stan) as LedgerEntry;
    return this.qrAnswer('00', order, { ...extra, A4: order.wallet, A5: order.payerMasked }, e.authCode);
  }

  private orderAnswer(order: QrOrder): Answer {
    switch (order.state) {
      case 'paid': return this.paidAnswer(order);
      case 'waiting': return this.qrAnswer(QR_WAITING, order, {});
      case 'declined': return this.qrAnswer(order.declineCode ?? '05', order, {});
      case 'expired': return this.qrAnswer(QR_ORDER_EXPIRED_CODE, order, {});
    }
  }

  private newQrOrder(r: Incoming, entryMode: '032' | '033', extra: Partial<QrOrder>): QrOrder {
    const now = this.clock();
    const orderNo = ORDER_NO_PREFIX + pad(this.orderSeq++, ORDER_SEQ_DIGITS);
    const order: QrOrder = {
      tid: r.tid, batch: r.batch, stan: r.stan, orderNo, entryMode, amountFen: Number(textField(r.m, 4)), rrn: pad(this.rrnSeq++, RRN_DIGITS),
      hostDate: mmdd(now), createdMs: now, state: 'waiting', queries: 0, ...extra,
    };
    this.ledger.addQrOrder(order);
    return order;
  }

  private payQr(order: QrOrder, wallet: Wallet): void {
    const now = this.clock();
    order.state = 'paid';
    order.wallet = wallet;
    order.payerMasked = `${wallet.toLowerCase()}***${pad(this.orderSeq % 10_000, 4)}`;
    this.ledger.add({
      tid: order.tid, batch: order.batch, stan: order.stan, type: 'qrSale', amountFen: order.amountFen, panMasked: order.codeMasked ?? '',
      rrn: order.rrn, authCode: pad(this.authSeq++, AUTH_DIGITS), hostDate: mmdd(now), hostTime: hhmmss(now), status: 'approved', refundedFen: 0,
      orderNo: order.orderNo, wallet,
    });
  }

  private expireIfDue(order: QrOrder): void {
    if (order.state === 'waiting' && order.expiresMs !== undefined && this.clock() >= order.expiresMs) order.state = 'expired';
  }

  /** A QR sale or order request: once per (TID, batch, STAN), only in an open batch. */
  private refuseQrNew(r: Incoming): Answer | undefined {
    return this.refuseFinancial(r) ?? (this.ledger.qrOrderOf(r.tid, r.batch, r.stan) !== undefined ? { code: '94' } : undefined);
  }

  private qrSale(r: Incoming, waitForever: boolean): Answer {
    const refused = this.refuseQrNew(r);
    if (refused) return refused;
    const code = this.qrTags(r)?.A1;
    if (code === undefined) return { code: CODE_FORMAT_ERROR };
    const waiting = code.startsWith(QR_CODE_WAITING_PREFIX);
    const paysAt = Number(code[QR_CODE_WAITING_PREFIX.length]);
    const order = this.newQrOrder(r, '032', {
      codeMasked: maskCode(code), wallet: walletOfCode(code), ...(waiting && paysAt > 0 && !waitForever ? { paysAtQuery: paysAt } : {}),
    });
    const decline = QR_DECLINE_SUFFIXES[code.slice(-4)];
    if (waitForever) return this.orderAnswer(order);
    if (decline !== undefined) {
      order.state = 'declined';
      order.declineCode = decline;
    } else if (!waiting) {
      this.payQr(order, order.wallet ?? 'OT');
    }
    return this.orderAnswer(order);
  }

  private qrOrder(r: Incoming): Answer {
    const refused = this.refuseQrNew(r);
    if (refused) return refused;
    const validityS = this.qrTags(r)?.A7;
    if (validityS === undefined) return { code: CODE_FORMAT_ERROR };
    const paysAt = this.options.qr?.orderPaysAtQuery;
    const order = this.newQrOrder(r, '033', { expiresMs: this.clock() + validityS * 1000, ...(paysAt !== undefined ? { paysAtQuery: paysAt } : {}) });
    const qrContent = QR_CONTENT_PREFIX + order.orderNo;
    if (qrContent.length > QR_SHOW_CHARS_MAX) throw new Error(`QR content ${qrContent.length} characters, more than ${QR_SHOW_CHARS_MAX}`);
    Object.assign(order, { qrContent });
    if (paysAt === 0) this.payQr(order, ORDER_WALLET_DEFAULT);
    return this.orderMadeAnswer(order, qrContent);
  }

  /** A fresh order's answer: P1 with A2 A3 (the profile), unless `qr.orderAnswer` says otherwise or it is paid already. */
  private orderMadeAnswer(order: QrOrder, qrContent: string): Answer {
    if (order.state === 'paid') return this.paidAnswer(order, { A3: qrContent });
    switch (this.options.qr?.orderAnswer ?? 'P1') {
      case 'P1': return this.qrAnswer(QR_WAITING, order, { A3: qrContent });
      case '00': return this.qrAnswer('00', order, { A3: qrContent });
      case 'P1-no-A3': return this.qrAnswer(QR_WAITING, order, {});
    }
  }

  /**
   * The order a query, void or refund names: by 59 A2 when given (61's batch + STAN, when not
   * 000000, must then be the order's), else by 61 batch + STAN. 61's date is not checked.
   */
  private findQrOrder(r: Incoming, tags: QrTags): QrOrder | undefined {
    const f61 = textField(r.m, 61) ?? '';
    if (!/^\d{12}/.test(f61)) return undefined;
    const batch = Number(f61.slice(0, 6)), stan = Number(f61.slice(6, 12));
    const order = tags.A2 !== undefined ? this.ledger.qrOrder(tags.A2) : this.ledger.qrOrderOf(r.tid, batch, stan);
    if (order === undefined || order.tid !== r.tid) return undefined;
    if (f61.slice(0, 12) !== '000000000000' && (order.batch !== batch || order.stan !== stan)) return undefined;
    return order;
  }

  /** A decline about an order that could not be found: 59 A2 repeats the order number when the request gave one. */
  private qrNotFound(code: string, tags: QrTags | undefined): Answer {
    return { code, ...(tags?.A2 !== undefined ? { fields: [[59, encodeField59({ A2: tags.A2 })]] } : {}) };
  }

  private qrQuery(r: Incoming, waitForever: boolean): Answer {
    const tags = this.qrTags(r);
    if (tags === undefined) return { code: CODE_FORMAT_ERROR };
    const order = this.findQrOrder(r, tags);
    if (waitForever) return order === undefined ? this.qrNotFound(QR_WAITING, tags) : this.qrAnswer(QR_WAITING, order, {});
    if (order === undefined) return this.qrNotFound('25', tags);
    this.expireIfDue(order);
    if (order.state === 'waiting') {
      order.queries++;
      if (order.paysAtQuery !== undefined && order.queries >= order.paysAtQuery) this.payQr(order, order.wallet ?? ORDER_WALLET_DEFAULT);
    }
    return this.orderAnswer(order);
  }

  /** The paid QR sale a void or refund names, or the answer refusing it. */
  private qrOriginal(r: Incoming, tags: QrTags | undefined): { order: QrOrder; sale: LedgerEntry } | Answer {
    if (tags === undefined) return { code: CODE_FORMAT_ERROR };
    const order = this.findQrOrder(r, tags);
    if (order === undefined || order.rrn !== textField(r.m, 37)) return this.qrNotFound('25', tags);
    const sale = this.ledger.find(order.tid, order.batch, order.stan);
    if (order.state !== 'paid' || sale === undefined || sale.type !== 'qrSale' || sale.status !== 'approved') return this.qrNotFound('12', tags);
    return { order, sale };
  }

  private qrEntry(r: Incoming, type: 'qrVoid' | 'qrRefund', sale: LedgerEntry): LedgerEntry {
    return { ...this.newEntry(r, type, sale), panMasked: sale.panMasked, orderNo: sale.orderNo };
  }

  /**
   * A QR void or refund sent again under its own STAN (its answer was lost): the host answers what
   * it answered the first time (code, RRN, order), so the terminal records what the host did and
   * the money moves once. A request it declined the first time is not filed: it is decided anew.
   */
  private qrRepeat(r: Incoming, type: 'qrVoid' | 'qrRefund'): Answer | undefined {
    const e = this.ledger.find(r.tid, r.batch, r.stan);
    if (e === undefined || e.type !== type) return undefined;
    return { code: '00', fields: [[37, e.rrn], [38, e.authCode], ...(e.orderNo !== undefined ? [[59, encodeField59({ A2: e.orderNo })] as const] : [])] };
  }

  private qrVoid(r: Incoming): Answer {
    const repeat = this.qrRepeat(r, 'qrVoid');
    if (repeat) return repeat;
    const tags = this.qrTags(r);
    const found = this.refuseFinancial(r) ?? this.qrOriginal(r, tags);
    if ('code' in found) return found;
    const { order, sale } = found;
    if (sale.voidedBy !== undefined || sale.batch !== r.batch || sale.amountFen !== Number(textField(r.m, 4)) || sale.refundedFen > 0) return this.qrNotFound('12', tags);
    const entry = this.qrEntry(r, 'qrVoid', sale);
    sale.voidedBy = keyOf(entry);
    this.ledger.add(entry);
    return { code: '00', fields: [[37, entry.rrn], [38, entry.authCode], [59, encodeField59({ A2: order.orderNo })]] };
  }

  private qrRefund(r: Incoming): Answer {
    const repeat = this.qrRepeat(r, 'qrRefund');
    if (repeat) return repeat;
    const tags = this.qrTags(r);
    const found = this.refuseFinancial(r) ?? this.qrOriginal(r, tags);
    if ('code' in found) return found;
    const { order, sale } = found;
    const amountFen = Number(textField(r.m, 4));
    if (sale.voidedBy !== undefined || amountFen > sale.amountFen - sale.refundedFen) return this.qrNotFound('12', tags);
    sale.refundedFen += amountFen;
    const entry = this.qrEntry(r, 'qrRefund', sale);
    this.ledger.add(entry);
    return { code: '00', fields: [[37, entry.rrn], [38, entry.authCode], [59, encodeField59({ A2: order.orderNo })]] };
  }

  /** Compares the terminal's totals with the ledger's; the batch is closed either way. */
  private settle(r: Incoming, unbalanced: boolean): Answer {
    const f48 = textField(r.m, 48) ?? '';
    const batch = this.ledger.batch(r.tid, r.batch);
    let terminalTotals: SettlementTotals;
    try {
      terminalTotals = parseTotals(f48).totals;
    } catch {
      return { code: '12' };
    }
    const hostTotals = this.ledger.totals(r.tid, r.batch);
    const equal = JSON.stringify(hostTotals) === JSON.stringify(terminalTotals);
    // A settlement repeated after a lost 0510 gets the same verdict again.
    const verdict = batch.settlement?.verdict ?? (equal && !unbalanced ? 'balanced' : 'unbalanced');
    batch.settlement ??= { verdict, terminalTotals, hostTotals };
    batch.closed = true;
    const code = verdict === 'balanced' ? '1' : '2';
    const foreign = f48.length >= 62 ? f48.slice(31, 61) + '1' : totalsDigits({ saleAmountFen: 0, saleCount: 0, refundAmountFen: 0, refundCount: 0 }, '1');
    return { code: '00', fields: [[48, totalsDigits(hostTotals, code) + foreign]] };
  }

  private batchUploadRecord(r: Incoming): Answer {
    this.ledger.batch(r.tid, r.batch).uploads.push({
      stan: r.stan, rrn: textField(r.m, 37) ?? '', amountFen: Number(textField(r.m, 4)), processingCode: textField(r.m, 3) ?? '',
    });
    return { code: '00' };
  }

  private responseMessage(r: Incoming, answer: Answer): IsoMessage {
    const now = this.clock();
    const fields = new Map<number, FieldValue>();
    for (const n of [2, 3, 4, 11, 25, 41, 42, 49, 60]) {
      const v = r.m.fields.get(n);
      if (v !== undefined) fields.set(n, v);
    }
    fields.set(12, hhmmss(now));
    fields.set(13, mmdd(now));
    if (r.def?.type === 'settlement') fields.set(15, mmdd(now));
    fields.set(39, answer.code);
    for (const [n, v] of answer.fields ?? []) fields.set(n, v);
    // Declined financial answers carry an RRN too (the profile requires 37 on every one).
    if (r.def?.financial && !fields.has(37)) fields.set(37, pad(this.rrnSeq++, RRN_DIGITS));
    const mti = (parseInt(r.m.mti, 16) + 0x10).toString(16).padStart(4, '0');
    const keys = r.state?.keys;
    if (r.def?.mac && keys !== undefined) {
      fields.set(64, ecbMac(keys.mak, macData(this.profile, { mti, fields })));
    }
    return { mti, fields };
  }
}

/**
 * Field 61 of a refund against the sale its RRN names (docs/PROTOCOL.md, Clarifications): 16 digits;
 * batch + STAN either the sale's own or 000000000000 (a sale the terminal does not hold); the
 * date the sale's host date.
 */
function originalMatches(f61: string, sale: LedgerEntry): boolean {
  if (!/^\d{16}$/.test(f61) || f61.slice(12) !== sale.hostDate) return false;
  return f61.slice(0, 12) === '000000000000' || f61.slice(0, 12) === pad(sale.batch, 6) + pad(sale.stan, 6);
}

function keyOf(k: TxnKey): TxnKey {
  return { tid: k.tid, batch: k.batch, stan: k.stan };
}

function keyText(k: TxnKey): string {
  return `${k.tid}/${k.batch}/${k.stan}`;
}

function sameKey(a: TxnKey | undefined, b: TxnKey | undefined): boolean {
  return a !== undefined && b !== undefined && a.tid === b.tid && a.batch === b.batch && a.stan === b.stan;
}

/** Parameters the terminal would accept (its own parser, over the bytes the host would send); throws otherwise. */
function checkedParameters(p: HostParameters): HostParameters {
  parseHostParameters(encodeHostParameters(p));
  return { ...p };
}

/**
 * Which wallet a payment code belongs to, by its first two digits. The simulator's own rule (close
 * to how the wallets' codes look, not a switch's table): 10-15 WX, 25-30 AL, 62 UP, anything else OT.
 */
export function walletOfCode(code: string): Wallet {
  const p = Number(code.slice(0, 2));
  if (p >= 10 && p <= 15) return 'WX';
  if (p >= 25 && p <= 30) return 'AL';
  if (p === 62) return 'UP';
  return 'OT';
}

/** A payment code as the simulator keeps it: every digit but the last 4 starred. */
export function maskCode(code: string): string {
  return '*'.repeat(Math.max(0, code.length - 4)) + code.slice(-4);
}

function maskOrUndefined(pan: string | undefined): string | undefined {
  return pan === undefined ? undefined : maskPan(pan);
}

/** Fields 12/13 are the host's local time in China (UTC+8), whatever the process's zone. */
function hhmmss(ms: number): string {
  return hhmmssIn(ms, HOST_TZ_OFFSET_MINUTES);
}

function mmdd(ms: number): string {
  return mmddIn(ms, HOST_TZ_OFFSET_MINUTES);
}

/** Changes the last MAC character to another hex digit: still well-formed, no longer valid. */
function corruptMac(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  const last = out.length - 1;
  out[last] = out[last] === 0x30 ? 0x31 : 0x30;
  return out;
}

/**
 * A cellular (4G) module on a serial AT port, by role (`modem0`, optional): the terminal asks it
 * about the SIM, the signal, the network registration, the operator and the APN, and enters the
 * SIM PIN. The DATA path is the OS's (PPP or the module's own network interface, brought up by
 * pppd, ModemManager or quectel-CM as the board file's `dataPath` says): this interface never
 * carries payment traffic. The driver (hal/drivers/modem-quectel.ts) speaks the Quectel-style AT
 * command set of hal/drivers/QUECTEL_AT.md.
 *
 * Kept as small as an embedded-hal trait: queries that resolve with what the module says, one
 * setter (the APN), PIN entry, an event stream for what the module reports by itself, close.
 *
 * Contract:
 *   - Every method sends its AT command(s) through ONE queue, one command on the wire at a time
 *     (at most MODEM_QUEUE_COMMANDS_MAX waiting; more rejects NET_MODEM reason 'busy'). Each
 *     command has its own time limit (the driver names them per command).
 *   - The SIM or the network being in a bad state is NOT a rejection: `status()` resolves with it
 *     (sim 'absent', registration 'denied', ...) and `modemFault(status)` below says which E-NET
 *     code and steps it means. Rejections are for talking to the module:
 *       NET_MODEM 'device-absent'         no final answer within the command's limit, the port
 *                                         went away (power loss, cable), the module announced
 *                                         POWERED DOWN, the queue was full, or the driver is closed;
 *       NET_MODEM_GARBLED 'device-absent' a line with bytes outside printable ASCII or longer than
 *                                         the driver's line maximum (never a crash: the command
 *                                         fails, the driver drops the rest of that answer);
 *       NET_MODEM_REFUSED 'device-absent' the module answered ERROR or +CME ERROR: n to a command
 *                                         that must succeed (detail.cme = n);
 *       NET_SIM_PIN / NET_SIM_PUK / NET_SIM_ABSENT from `enterPin` only (wrong PIN: detail.attemptsLeft);
 *       OPR_CANCELLED 'cancelled'          the caller's signal aborted.
 *   - Cancel: a command still queued is removed and never sent. A command already on the wire
 *     cannot be withdrawn (AT has no cancel for these): the caller hears OPR_CANCELLED at once, the
 *     driver still waits for that command's final answer (or its limit) before sending the next,
 *     so a late OK is never taken as the next command's answer.
 *   - Unsolicited result codes (+CREG:, +CEREG:, +CPIN:, +QSIMSTAT:, RDY, POWERED DOWN) may arrive
 *     at any time, also between the lines of an answer; they go to `onEvent` listeners and never
 *     into an answer. Lines that are neither an answer nor a known URC are dropped and counted.
 *   - Power loss / cable pulled: everything queued or on the wire rejects NET_MODEM (reason
 *     'disconnected'), and so does every later call.
 *   - `close()` rejects everything queued (NET_MODEM reason 'closed'), then closes the port.
 *     Idempotent; calls after it reject NET_MODEM 'closed'.
 *   - The PIN is a secret: never logged, never in an error's detail or message.
 */
import { PosError } from '../common/errors';
import type { Unsubscribe } from './serial';

export type SimState = 'ready' | 'absent' | 'pin-required' | 'puk-locked' | 'busy' | 'failure';

/** 3GPP 27.007 <stat> of +CREG / +CEREG, by name. */
export type RegistrationState = 'home' | 'roaming' | 'searching' | 'denied' | 'not-registered' | 'unknown';

/** The radio access technology the module reports (+QCSQ: "<sysmode>"). */
export type AccessTech = 'GSM' | 'WCDMA' | 'TDSCDMA' | 'LTE' | 'CAT-M' | 'NBIOT' | 'NOSERVICE';

export interface SignalQuality {
  /** +CSQ <rssi> as sent: 0..31, or 99 when not known or not detectable. */
  readonly csq: number;
  /** Received signal strength (dBm): -113 (csq 0) .. -51 (csq 31); undefined for 99. */
  readonly rssiDbm: number | undefined;
  /** What the screen draws: 0 (none) .. SIGNAL_BARS_MAX. */
  readonly bars: number;
  /** From +QCSQ where the module answers it; undefined when it does not. */
  readonly tech?: AccessTech;
  /** LTE reference signal received power (dBm), from +QCSQ "LTE". */
  readonly rsrpDbm?: number;
}

export interface ModemIdentity {
  /** AT+CGSN: 15 digits. */
  readonly imei: string;
  /** AT+GMR, e.g. "EC25EFAR06A06M4G". */
  readonly firmware: string;
  /** AT+CGMM, e.g. "EC25". */
  readonly model: string;
}

export interface ModemStatus {
  readonly sim: SimState;
  /** AT+QCCID, when the SIM is ready (19..20 digits). */
  readonly iccid?: string;
  /** PIN attempts left (AT+QPINC "SC"), when the module says. */
  readonly pinAttemptsLeft?: number;
  readonly signal: SignalQuality;
  /** The better of +CREG (circuit) and +CEREG (LTE): an LTE-only module registers on CEREG alone. */
  readonly registration: RegistrationState;
  /** AT+COPS? long alphanumeric name, when registered. */
  readonly operator?: string;
  /** AT+CGDCONT? context 1's APN ("" when none is set). */
  readonly apn: string;
}

export type ModemEvent =
  | { readonly type: 'registration'; readonly domain: 'cs' | 'eps'; readonly state: RegistrationState }
  | { readonly type: 'sim'; readonly state: SimState }
  | { readonly type: 'ready' }
  | { readonly type: 'powered-down' };

export interface ModemDiagnostics {
  readonly commands: number;
  readonly timeouts: number;
  readonly urcs: number;
  readonly linesGarbled: number;
  /** Lines that were no answer and no known URC. */
  readonly linesDropped: number;
  /** Commands cancelled before they were queued, while queued, or on the wire. */
  readonly cancelled: number;
}

export interface Modem {
  /** Echo off, numeric errors, registration URCs on; then `AT` answers OK. The board self-test. */
  check(signal?: AbortSignal): Promise<void>;
  identity(signal?: AbortSignal): Promise<ModemIdentity>;
  simState(signal?: AbortSignal): Promise<SimState>;
  /**
   * Enters the SIM PIN (4..8 digits; other input: OPR_INPUT without sending anything). Resolves
   * when the SIM is ready. A wrong PIN rejects NET_SIM_PIN with detail.attemptsLeft; the PIN
   * tried too often rejects NET_SIM_PUK; no SIM rejects NET_SIM_ABSENT.
   */
  enterPin(pin: string, signal?: AbortSignal): Promise<void>;
  signal(signal?: AbortSignal): Promise<SignalQuality>;
  registration(signal?: AbortSignal): Promise<RegistrationState>;
  /** Undefined when not registered. */
  operator(signal?: AbortSignal): Promise<string | undefined>;
  apn(signal?: AbortSignal): Promise<string>;
  /** Sets context 1 (AT+CGDCONT=1,"IP","<apn>"): the data path uses it at its next dial. */
  setApn(apn: string, signal?: AbortSignal): Promise<void>;
  /** Everything diagnostics shows, in one pass (SIM first: with no SIM ready, no ICCID is asked). */
  status(signal?: AbortSignal): Promise<ModemStatus>;
  onEvent(listener: (event: ModemEvent) => void): Unsubscribe;
  diagnostics(): ModemDiagnostics;
  close(): Promise<void>;
}

/** Commands that may wait behind the one on the wire. */
export const MODEM_QUEUE_COMMANDS_MAX = 16;
export const SIGNAL_BARS_MAX = 4;
/** An APN as the board file and AT+CGDCONT accept it: letters, digits, '.', '-' (3GPP 23.003 labels). */
export const APN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;
export const PIN_PATTERN = /^\d{4,8}$/;

/** 27.007 <rssi> to dBm: 0 is -113 or less, 31 is -51 or more, 2 dB a step; 99 unknown. */
export function csqToDbm(csq: number): number | undefined {
  if (!Number.isInteger(csq) || csq < 0 || csq > 31) return undefined;
  return -113 + 2 * csq;
}

/**
 * Bars as handsets draw them from <rssi>: under 2 (-109 dBm) or unknown none; 2..9 one
 * (marginal), 10..14 two, 15..19 three, 20..31 four.
 */
export function csqToBars(csq: number): number {
  if (!Number.isInteger(csq) || csq < 2 || csq > 31) return 0;
  if (csq < 10) return 1;
  if (csq < 15) return 2;
  if (csq < 20) return 3;
  return SIGNAL_BARS_MAX;
}

export interface ModemExpectations {
  /** The APN the board file says (absent: any). */
  readonly apn?: string;
  /** False: registered roaming counts as refused (a SIM the acquirer pays for only at home). */
  readonly roaming?: boolean;
}

/**
 * What is wrong with the link, as the person at the terminal must fix it, first cause first:
 * SIM (absent, PIN, PUK), signal, registration (denied, roaming not allowed, not registered), APN.
 * Undefined when the modem is ready to carry data.
 */
export function modemFault(s: ModemStatus, expect: ModemExpectations = {}): PosError | undefined {
  if (s.sim === 'absent' || s.sim === 'failure') return new PosError('NET_SIM_ABSENT', s.sim === 'failure' ? 'SIM card not readable' : 'no SIM card', { sim: s.sim });
  if (s.sim === 'pin-required') return new PosError('NET_SIM_PIN', 'SIM PIN required', { attemptsLeft: s.pinAttemptsLeft });
  if (s.sim === 'puk-locked') return new PosError('NET_SIM_PUK', 'SIM locked: PUK required');
  if (s.sim === 'busy') return new PosError('NET_NOT_REGISTERED', 'SIM busy (still starting)', { sim: s.sim });
  if (s.registration === 'denied') return new PosError('NET_ROAMING_DENIED', 'registration denied by the network', { registration: s.registration });
  if (s.signal.bars === 0 && s.registration !== 'home' && s.registration !== 'roaming') {
    return new PosError('NET_NO_SIGNAL', `no mobile signal (csq ${s.signal.csq})`, { csq: s.signal.csq, rssiDbm: s.signal.rssiDbm });
  }
  if (s.registration === 'roaming' && expect.roaming === false) return new PosError('NET_ROAMING_DENIED', 'roaming, and the board does not allow it', { registration: s.registration });
  if (s.registration !== 'home' && s.registration !== 'roaming') return new PosError('NET_NOT_REGISTERED', `not registered (${s.registration})`, { registration: s.registration });
  if (expect.apn !== undefined && s.apn.toLowerCase() !== expect.apn.toLowerCase()) {
    return new PosError('NET_APN', `APN is "${s.apn}", the board says "${expect.apn}"`, { apn: s.apn, expected: expect.apn });
  }
  return undefined;
}

/**
 * EMV card models for the simulator (issue 11 item 3): chip cards with their own RSA keys certified
 * under the acquirer simulator's test CA keys (sim/host/test-ca-keys.ts), an ARQC from a card key
 * derived from the test issuer master key, an application transaction counter and a PIN try
 * counter, answering the APDUs a kernel sends (EMV 4.3 Book 1 §11–12, Book 3 §6):
 *
 *   SELECT 2PAY.SYS.DDF01 (PPSE)   → FCI with a directory entry (61: 4F 50 87) per application
 *   SELECT 1PAY.SYS.DDF01 (PSE)    → FCI naming the directory's SFI (88 = 3);
 *     READ RECORD SFI 3 record 1   → 70 { 61 ... } the same entries
 *   SELECT AID (P2 00 first, 02 next occurrence; the AID given may be a prefix: partial selection)
 *                                  → FCI { 84 DF name, A5 { 50 label, 87 priority, 9F38 PDOL } }
 *   GET PROCESSING OPTIONS         → format 2 (77 { 82 AIP, 94 AFL }) or format 1 (80 AIP ‖ AFL);
 *                                    the data must be 83 with exactly what the PDOL asks (else 6700)
 *                                    qPBOC cards (`qpboc`, PDOL 9F66 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37):
 *                                    77 { 82 94 9F36 9F26 9F27 9F10 9F6C [9F4B] }: TC (with the fDDA
 *                                    signature 9F4B) within the card's offline limit when the TTQ asks
 *                                    for no online cryptogram and no online PIN, else ARQC; 9F69
 *                                    (fDDA version 01, the card's unpredictable number, CTQ) in SFI 2/1
 *   READ RECORD by the AFL         → SFI 1 record 1 (for ODA): 5A 5F24 5F25 5F28 9F07 9F08 5F34 8E
 *                                    (IACs 9F0D/9F0E/9F0F when set) 8C 9F4A;
 *                                    SFI 2 record 1: 57 5F20; record 2: 8F 90 9F32 (92);
 *                                    record 3: 93 (SDA) or 9F46 9F47 9F48 9F49 (DDA)
 *   INTERNAL AUTHENTICATE (DDA)    → 80 { Signed Dynamic Application Data over the DDOL data }
 *   GET DATA 9F17 / 9F36           → PIN try counter / ATC
 *   GENERATE AC                    → ARQC for an ARQC or TC request, AAC for an AAC request (or
 *                                    always AAC with fault `decline-offline`); format 2 or 1; with
 *                                    P1 bit 5 a CDA card (`oda: 'cda'`, AIP bit 1) answers a TC or ARQC
 *                                    as 77 { 9F27 9F36 9F4B 9F10 }, the cryptogram and the transaction
 *                                    data hash inside 9F4B (Book 2 §6.6.1), at both GENERATE ACs
 *   EXTERNAL AUTHENTICATE (91)     → 9000 when 91 is ARPC method 1 of the card's ARQC under the card
 *                                    key, 6300 when not (cards with `issuerAuth` 'external-authenticate',
 *                                    the default: AIP byte 1 bit 3 set)
 *   the second GENERATE AC (CDOL2) → TC when asked for one and issuer authentication did not fail
 *                                    (91 in the CDOL2 data for `issuerAuth` 'cdol2' cards, AIP bit 3
 *                                    clear), else AAC; always AAC with fault `decline-second-ac`;
 *                                    the cryptogram covers the ARQC's input then the ARC (8A)
 *   issuer script commands         → CLA 84/04 with a 4-byte MAC under the card key over the header,
 *                                    ATC, ARQC and data (emv-issuer-auth.ts issuerScriptMac): APPLICATION
 *                                    BLOCK (84 1E: SELECT then answers 6283), APPLICATION UNBLOCK
 *                                    (84 18), PIN UNBLOCK (84 24 00 00: the PIN try counter back to its
 *                                    limit), PUT DATA (04 DA, kept for GET DATA); a wrong MAC 6988; every
 *                                    command 6581 with fault `script-fails`
 *
 * Keys: the issuer and ICC keys are fixed test keys (sim/emv-card-keys.ts); the issuer certificate
 * is signed with the test CA's private exponent. The AC follows the profile's contract
 * (docs/PROTOCOL.md "Chip cards: issuer authentication and scripts"): the card key is the ICC
 * master key derived by option A from the test issuer master key, the ARQC is MAC algorithm 3
 * under it over 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 (emv-issuer-auth.ts). docs/EMV.md says
 * why that, and not the PBOC session key, until the profile settles it.
 *
 * The ATC: a `counter` card counts up at each GET PROCESSING OPTIONS, as real cards do. The shared
 * TEST_CARDS are module singletons that a seeded day replays twice in one process, so they use
 * `replayable`: the ATC is derived from the CDOL1 data (as the earlier simulated cards did) and
 * a replay gives the same field 55.
 *
 * Misbehaving cards (`faults`): an issuer certificate that expired in 2015, Signed Static
 * Application Data over other data than the records, a card that declines offline, an fDDA or CDA
 * signature over another unpredictable number, an ICC certificate that expired in 2015; `pullAt`
 * names the command during which the customer pulls the card (the reader reports the card removed).
 */
import { createHash } from 'node:crypto';
import { parseDol } from '../runtime/txn/emv';
import { timingSafeEqual } from 'node:crypto';
import { AC_INPUT_TAGS, SCRIPT_MAC_BYTES, acInput, applicationCryptogram, arpcMethod1, deriveIccMasterKeyOptionA, issuerScriptMac } from '../runtime/txn/emv-issuer-auth';
import { TEST_EMV_KEYS, TestRsaKey } from './emv-card-keys';
import { TEST_CA_KEYS, TEST_CA_RID_HEX, TestCaKey } from './host/test-ca-keys';
import type { ChipCard } from './test-cards';

/** docs/PROTOCOL.md: the test issuer master key the acquirer simulator derives card keys from. */
export const TEST_ISSUER_MASTER_KEY = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
export const AID_UNIONPAY_DEBIT = Buffer.from('A000000333010101', 'hex');
export const AID_UNIONPAY_CREDIT = Buffer.from('A000000333010102', 'hex');
export const PPSE_NAME = Buffer.from('2PAY.SYS.DDF01', 'ascii');
export const PSE_NAME = Buffer.from('1PAY.SYS.DDF01', 'ascii');
/** The PSE directory's SFI (Book 1 §12.2.3: 1..10). */
export const PSE_DIRECTORY_SFI = 3;
/** AIP byte 1 (Book 3 Annex C1): SDA, DDA, cardholder verification, terminal risk management, issuer authentication. */
export const AIP_SDA = 0x40;
export const AIP_DDA = 0x20;
/** AIP byte 1 bit 1: CDA supported. */
export const AIP_CDA = 0x01;
const AIP_COMMON = 0x1c;
/** AIP byte 1 bit 3 (in AIP_COMMON): issuer authentication by EXTERNAL AUTHENTICATE. */
const AIP_ISSUER_AUTH = 0x04;
const SW_MEMORY_FAILURE = [0x65, 0x81] as const;
const SW_SECURE_MESSAGING = [0x69, 0x88] as const;
/** AFL: SFI 1 record 1 (one record for ODA), SFI 2 records 1..3 (none for ODA). */
export const SIM_AFL = Buffer.from('0801010110010300', 'hex');
export const SIM_CDOL1 = Buffer.from('9F02069F03069F1A0295055F2A029A039C019F3704', 'hex');
/** CDOL2 (8D): the ARC, then the CDOL1's terminal data (the final cryptogram covers them again). */
export const SIM_CDOL2 = Buffer.from('8A029F02069F03069F1A0295055F2A029A039C019F3704', 'hex');
/** CDOL2 of a card that takes the issuer authentication data in the final GENERATE AC (no EXTERNAL AUTHENTICATE). */
export const SIM_CDOL2_WITH_91 = Buffer.concat([SIM_CDOL2, Buffer.from('910A', 'hex')]);
/** PDOL of the card models: terminal country code and unpredictable number (6 bytes of data). */
export const SIM_PDOL = Buffer.from('9F1A029F3704', 'hex');
/**
 * PDOL of a qPBOC card (JR/T 0025.12 §7.5): the Terminal Transaction Qualifiers (9F66), then the
 * data its cryptogram covers (the profile's ARQC input less 82 and 9F36, which the card adds).
 */
export const SIM_QPBOC_PDOL = Buffer.from('9F66049F02069F03069F1A0295055F2A029A039C019F3704', 'hex');
/** AFL of a qPBOC card: SFI 1 record 1 (for fDDA), SFI 2 records 1..3 (none for ODA). */
export const SIM_QPBOC_AFL = SIM_AFL;
/**
 * Card Transaction Qualifiers (9F6C) of the qPBOC cards, byte 1: online PIN required (b8) when the
 * reader says a CVM is required, go online when fDDA fails (b6). Byte 2 nothing.
 */
export const SIM_CTQ = Buffer.from('A000', 'hex');
/** CTQ byte 1 bits (Visa CTQ, the same in qPBOC). */
export const CTQ_ONLINE_PIN = 0x80;
export const CTQ_SIGNATURE = 0x40;
export const CTQ_ONLINE_IF_ODA_FAILS = 0x20;
export const CTQ_CONTACT_IF_ODA_FAILS = 0x10;
/** TTQ (9F66) bits the card reads: byte 1 online PIN supported (b3); byte 2 online cryptogram required (b8), CVM required (b7). */
const TTQ1_ONLINE_PIN = 0x04;
const TTQ2_ONLINE_REQUIRED = 0x80;
const TTQ2_CVM_REQUIRED = 0x40;
/** The card's own ceiling for an offline approval (its available offline spending amount, 9F5D), fen. */
const QPBOC_OFFLINE_LIMIT_FEN_DEFAULT = 50_000;
/** fDDA version 01 (9F69 byte 1). */
const FDDA_V01 = 0x01;
/** DDOL (9F49): the unpredictable number, as the default DDOL. */
export const SIM_DDOL = Buffer.from('9F3704', 'hex');
/** IAD (9F10): length 07, key index 01, cryptogram version 01, CVR 03 A0 00 00, algorithm 01. */
export const SIM_IAD = Buffer.from('07010103A0000001', 'hex');
/** CVM list (8E): X = Y = 0; online PIN if supported (else next), signature if supported (else next), no CVM. */
export const SIM_CVM_LIST = Buffer.from('0000000000000000' + '4203' + '5E03' + '1F03', 'hex');
/** Application usage control (9F07): valid everywhere for everything. */
export const SIM_AUC = Buffer.from('FF00', 'hex');
export const SIM_APP_VERSION = Buffer.from('0030', 'hex');
/** Certificates valid through December 2049 (tests run with the calendar moved as far as 2038). */
const CERT_EXPIRY_MMYY = '1249';
/** The expired issuer certificate of fault `expired-issuer-cert`: December 2015. */
const CERT_EXPIRED_MMYY = '1215';
const ISSUER_ID_DIGITS = 6;
const IDN_BYTES = 8;
const ATC_MAX = 0xffff;
const PIN_TRIES_DEFAULT = 3;

/** 'cda': DDA and CDA (AIP 61.. with bit 1): the terminal asks for the signature with GENERATE AC. qPBOC cards use 'dda' (fDDA). */
export type OdaKind = 'sda' | 'dda' | 'cda' | 'none';
export type CardFault = 'expired-issuer-cert' | 'wrong-signed-static-data' | 'decline-offline' | 'decline-second-ac' | 'script-fails'
  // fDDA's signature (9F4B in the GPO answer) over other data; the ICC certificate expired (December 2015); CDA's signature over other data
  | 'wrong-fdda-signature' | 'expired-icc-cert' | 'wrong-cda-signature'
  // CDA's signature right at the first GENERATE AC, over other data at the final one
  | 'wrong-final-cda-signature';
/** 'generate-ac' is the first GENERATE AC, 'second-generate-ac' the final one, 'script' any issuer script command. */
export type CardStep = 'select' | 'gpo' | 'read-record' | 'internal-authenticate' | 'generate-ac' | 'external-authenticate' | 'second-generate-ac' | 'script';

export interface EmvCardApp {
  readonly aid: Buffer;
  readonly label: string;
  /** Application priority indicator (87); undefined: none given. */
  readonly priority?: number;
  /** GET PROCESSING OPTIONS answers 6985 (conditions of use not satisfied) for this application. */
  readonly refusesGpo?: boolean;
}

export interface EmvCardSpec {
  readonly kind: 'ic' | 'contactless';
  readonly name: string;
  readonly pan: string;
  /** YYMMDD. */
  readonly expiry: string;
  readonly psn: number;
  readonly apps?: readonly EmvCardApp[];
  /** Which directories the card has; default both. */
  readonly directory?: 'ppse' | 'pse' | 'both' | 'none';
  readonly oda?: OdaKind;
  /** The test CA key the issuer certificate is under (8F); default 80. */
  readonly caIndex?: number;
  /** null: no PDOL (GET PROCESSING OPTIONS with 83 00). */
  readonly pdol?: Buffer | null;
  /** null: no CDOL1 in the records (the terminal's default CDOL1 is the same list). */
  readonly cdol1?: Buffer | null;
  readonly acFormat?: 1 | 2;
  readonly iac?: { readonly denial?: Buffer; readonly online?: Buffer; readonly default?: Buffer };
  readonly cvmList?: Buffer | null;
  readonly faults?: readonly CardFault[];
  readonly pullAt?: CardStep;
  readonly atc?: 'counter' | 'replayable';
  readonly atcStart?: number;
  readonly pinTries?: number;
  readonly issuerMasterKey?: Buffer;
  /** How the card takes the issuer's ARPC: EXTERNAL AUTHENTICATE (default) or 91 in its CDOL2. */
  readonly issuerAuth?: 'external-authenticate' | 'cdol2';
  /**
   * qPBOC (contactless only): GPO with SIM_QPBOC_PDOL answers with the cryptogram (TC within the
   * card's offline limit when the reader allows it, ARQC otherwise, AAC with `decline-offline`),
   * the signed dynamic data for fDDA with a TC, and the CTQ.
   */
  readonly qpboc?: boolean;
  /** qPBOC: the card's Card Transaction Qualifiers (9F6C); default SIM_CTQ. */
  readonly ctq?: Buffer;
  /** qPBOC: the most the card approves offline, fen (default 500 yuan). */
  readonly offlineLimitFen?: number;
  /**
   * Velocity checking (Book 3 §10.6.3): the lower and upper consecutive offline limits (9F14, 9F23,
   * in record SFI 2/1, outside the ODA data) and the last online ATC register GET DATA 9F13 answers
   * (absent: 6A88, as a card that does not keep it). Without it the card has no limits.
   */
  readonly velocity?: { readonly lower: number; readonly upper: number; readonly lastOnlineAtc?: number };
}

// ---------------------------------------------------------------- BER-TLV and RSA helpers

/** BER-TLV with one- to three-byte tags and short/81 lengths (records stay under 256 bytes). */
export function tlv(tag: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'hex') : value;
  const t = tag > 0xffff ? Buffer.from([tag >> 16, (tag >> 8) & 0xff, tag & 0xff]) : tag > 0xff ? Buffer.from([tag >> 8, tag & 0xff]) : Buffer.from([tag]);
  const l = v.length < 0x80 ? Buffer.from([v.length]) : Buffer.from([0x81, v.length]);
  return Buffer.concat([t, l, v]);
}

const SW_OK = Buffer.from([0x90, 0x00]);
const sw = (a: number, b: number): Buffer => Buffer.from([a, b]);
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

function big(b: Buffer): bigint {
  return BigInt(`0x${b.toString('hex')}`);
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n, b = base % modulus, e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

interface SigningKey { readonly modulus: Buffer; readonly d: Buffer }

function signingKey(k: TestRsaKey | TestCaKey): SigningKey {
  return { modulus: hex(k.modulusHex), d: hex(k.privateExponentHex) };
}

/** Raw RSA with the private exponent: what the issuer or the card does to sign (Book 2 A2.1). */
function rsaSign(key: SigningKey, block: Buffer): Buffer {
  const n = key.modulus.length;
  const s = modPow(big(block), big(key.d), big(key.modulus));
  return Buffer.from(s.toString(16).padStart(n * 2, '0'), 'hex');
}

/** 6A ‖ body ‖ SHA-1(body ‖ extra) ‖ BC, signed (Book 2 §5.1, A2.1). The body fills the block. */
function signRecoverable(key: SigningKey, body: Buffer, extra: readonly Buffer[]): Buffer {
  const hash = createHash('sha1').update(Buffer.concat([body, ...extra])).digest();
  return rsaSign(key, Buffer.concat([hex('6A'), body, hash, hex('BC')]));
}

function bcdPadded(digits: string, bytes: number): Buffer {
  return Buffer.from(digits.padEnd(bytes * 2, 'F'), 'hex');
}

/** The leftmost part of a key in `room` bytes (BB padding when it fits) and the remainder. */
function split(modulus: Buffer, room: number): { left: Buffer; remainder?: Buffer } {
  if (modulus.length <= room) return { left: Buffer.concat([modulus, Buffer.alloc(room - modulus.length, 0xbb)]) };
  return { left: modulus.subarray(0, room), remainder: modulus.subarray(room) };
}

const E3 = hex('03');

/** Book 2 table 5: the issuer public key certificate (90) and remainder (92). */
export function issuerCertificate(ca: SigningKey, issuer: Buffer, issuerId: string, expiryMmyy: string): { cert: Buffer; remainder?: Buffer } {
  const { left, remainder } = split(issuer, ca.modulus.length - 36);
  const body = Buffer.concat([hex('02'), bcdPadded(issuerId, 4), hex(expiryMmyy), hex('000001'), Buffer.from([0x01, 0x01, issuer.length, E3.length]), left]);
  return { cert: signRecoverable(ca, body, [remainder ?? Buffer.alloc(0), E3]), remainder };
}

/** Book 2 table 14: the ICC public key certificate (9F46) and remainder (9F48). */
export function iccCertificate(issuer: SigningKey, icc: Buffer, pan: string, staticData: Buffer, expiryMmyy = CERT_EXPIRY_MMYY): { cert: Buffer; remainder?: Buffer } {
  const { left, remainder } = split(icc, issuer.modulus.length - 42);
  const body = Buffer.concat([hex('04'), bcdPadded(pan, 10), hex(expiryMmyy), hex('000002'), Buffer.from([0x01, 0x01, icc.length, E3.length]), left]);
  return { cert: signRecoverable(issuer, body, [remainder ?? Buffer.alloc(0), E3, staticData]), remainder };
}

/** Book 2 table 7: Signed Static Application Data (93), data authentication code DAC. */
export function signedStaticData(issuer: SigningKey, dac: Buffer, staticData: Buffer): Buffer {
  const body = Buffer.concat([hex('0301'), dac, Buffer.alloc(issuer.modulus.length - 26, 0xbb)]);
  return signRecoverable(issuer, body, [staticData]);
}

/** Book 2 table 17: Signed Dynamic Application Data (9F4B). */
export function signedDynamicData(icc: SigningKey, iccDynamicData: Buffer, terminalData: Buffer): Buffer {
  const body = Buffer.concat([hex('0501'), Buffer.from([iccDynamicData.length]), iccDynamicData, Buffer.alloc(icc.modulus.length - 25 - iccDynamicData.length, 0xbb)]);
  return signRecoverable(icc, body, [terminalData]);
}

/** Track 2 equivalent data (57): PAN 'D' YYMM service code discretionary, padded with F. */
export function track2Equivalent(track2: string): Buffer {
  const nibbles = track2.replace('=', 'D');
  return Buffer.from(nibbles.length % 2 ? `${nibbles}F` : nibbles, 'hex');
}

function panBcd(pan: string): Buffer {
  return Buffer.from(pan.length % 2 ? `${pan}F` : pan, 'hex');
}

/** The values of a DOL's tags, cut from its data (the card reading back what it asked for). */
function dolValues(dol: Buffer, data: Buffer): Map<number, Buffer> | undefined {
  const out = new Map<number, Buffer>();
  let i = 0;
  for (const e of parseDol(dol)) {
    if (i + e.length > data.length) return undefined;
    out.set(e.tag, data.subarray(i, i + e.length));
    i += e.length;
  }
  return i === data.length ? out : undefined;
}

/** The content of a one-byte-length 70 template (records stay under 128 bytes where this is used). */
function primitiveContent(template: Buffer): Buffer {
  return template[1] === 0x81 ? template.subarray(3) : template.subarray(2);
}

/** GENERATE AC P1 bit 5: CDA signature requested (Book 3 §6.5.5.2). */
const GENAC_CDA = 0x10;

function dolLength(dol: Buffer | null): number {
  return dol === null ? 0 : parseDol(dol).reduce((n, e) => n + e.length, 0);
}

// ---------------------------------------------------------------- the card

const INS_STEP: Readonly<Record<number, CardStep>> = { 0xa4: 'select', 0xa8: 'gpo', 0xb2: 'read-record', 0x88: 'internal-authenticate', 0xae: 'generate-ac', 0x82: 'external-authenticate' };
/** Issuer script commands: CLA 84 (proprietary with secure messaging) or 04 (PUT DATA with secure messaging). */
const SCRIPT_CLAS: ReadonlySet<number> = new Set([0x84, 0x04]);

interface Personalised {
  readonly aip: Buffer;
  readonly records: ReadonlyMap<string, Buffer>;
}

/** One EMV card: its personalisation (built on first use: RSA signing takes milliseconds) and its counters. */
export class EmvCardModel {
  readonly apps: readonly EmvCardApp[];
  private atc: number;
  private pinTries: number;
  private selected?: EmvCardApp;
  private data?: Personalised;
  private readonly cardKey: Buffer;
  private readonly pdol: Buffer | null;
  private readonly cdol1: Buffer;
  /** The online transaction in progress: the ARQC and ATC the first GENERATE AC gave (scripts and the ARPC are over them), and for CDA its CDOL1 data. */
  private online?: { arqc: Buffer; atc: Buffer; issuerAuth?: 'ok' | 'failed'; final?: boolean; cdol1Data?: Buffer };
  /** The data of this transaction's GPO (CDA's transaction data hash starts with it). */
  private pdolData = Buffer.alloc(0);
  /** qPBOC: the card's unpredictable number of this transaction (9F69 carries it). */
  private cardUn = Buffer.alloc(4);
  /** APPLICATION BLOCK ran: SELECT answers 6283 and GPO 6985 until APPLICATION UNBLOCK. */
  private blocked = false;
  /** Values PUT DATA wrote (GET DATA reads them back). */
  private readonly putData = new Map<number, Buffer>();

  constructor(readonly spec: EmvCardSpec) {
    this.apps = spec.apps ?? [{ aid: AID_UNIONPAY_DEBIT, label: 'UnionPay Debit', priority: 1 }];
    this.atc = spec.atcStart ?? 0;
    this.pinTries = spec.pinTries ?? PIN_TRIES_DEFAULT;
    this.pdol = spec.pdol === undefined ? (spec.qpboc === true ? SIM_QPBOC_PDOL : SIM_PDOL) : spec.pdol;
    this.cdol1 = spec.cdol1 ?? SIM_CDOL1;
    this.cardKey = deriveIccMasterKeyOptionA(spec.issuerMasterKey ?? TEST_ISSUER_MASTER_KEY, spec.pan, String(spec.psn).padStart(2, '0'));
  }

  /** The card's ATC now (counter cards). */
  get transactionCounter(): number { return this.atc; }
  get pinTryCounter(): number { return this.pinTries; }
  /** APPLICATION BLOCK ran (and no APPLICATION UNBLOCK since). */
  get applicationBlocked(): boolean { return this.blocked; }
  /** What PUT DATA wrote for a tag, if anything. */
  dataObject(tag: number): Buffer | undefined { return this.putData.get(tag); }

  /** True when the terminal sends the command the customer pulls the card during (every time: a card that is always pulled). */
  pullsOn(apdu: Buffer): boolean {
    return this.spec.pullAt !== undefined && this.stepOf(apdu) === this.spec.pullAt;
  }

  private stepOf(apdu: Buffer): CardStep | undefined {
    if (SCRIPT_CLAS.has(apdu[0])) return 'script';
    const step = INS_STEP[apdu[1]];
    return step === 'generate-ac' && this.online !== undefined ? 'second-generate-ac' : step;
  }

  respond(apdu: Buffer): Buffer {
    const [cla, ins, p1, p2] = apdu;
    const lc = apdu.length > 5 ? apdu[4] : 0;
    const data = apdu.subarray(5, 5 + lc);
    if (cla === 0x00 && ins === 0xa4 && p1 === 0x04) return this.select(data, p2);
    if (cla === 0x00 && ins === 0xb2) return this.readRecord(p2 >> 3, p1);
    if (this.selected === undefined) return sw(0x69, 0x85); // conditions of use not satisfied
    if (cla === 0x80 && ins === 0xa8) return this.gpo(data);
    if (cla === 0x00 && ins === 0x88) return this.internalAuthenticate(data);
    if (cla === 0x80 && ins === 0xca) return this.getData((p1 << 8) | p2);
    if (cla === 0x80 && ins === 0xae) return this.online === undefined ? this.generateAc(p1, data, lc) : this.secondGenerateAc(p1, data, lc);
    if (cla === 0x00 && ins === 0x82) return this.externalAuthenticate(data);
    if (SCRIPT_CLAS.has(cla)) return this.scriptCommand(apdu);
    return sw(0x6d, 0x00);
  }

  private has(fault: CardFault): boolean {
    return this.spec.faults?.includes(fault) ?? false;
  }

  private directoryEntries(): Buffer {
    return Buffer.concat(this.apps.map((a) => tlv(0x61, Buffer.concat([tlv(0x4f, a.aid), tlv(0x50, Buffer.from(a.label, 'ascii')),
      ...(a.priority === undefined ? [] : [tlv(0x87, Buffer.from([a.priority]))])]))));
  }

  private select(name: Buffer, p2: number): Buffer {
    const dir = this.spec.directory ?? 'both';
    if (name.equals(PPSE_NAME)) {
      if (dir !== 'ppse' && dir !== 'both') return sw(0x6a, 0x82);
      return Buffer.concat([tlv(0x6f, Buffer.concat([tlv(0x84, PPSE_NAME), tlv(0xa5, tlv(0xbf0c, this.directoryEntries()))])), SW_OK]);
    }
    if (name.equals(PSE_NAME)) {
      if (dir !== 'pse' && dir !== 'both') return sw(0x6a, 0x82);
      return Buffer.concat([tlv(0x6f, Buffer.concat([tlv(0x84, PSE_NAME), tlv(0xa5, tlv(0x88, Buffer.from([PSE_DIRECTORY_SFI])))])), SW_OK]);
    }
    // ISO 7816-4: the name may be the start of a DF name; P2 02 asks for the next occurrence.
    const matching = this.apps.filter((a) => a.aid.subarray(0, name.length).equals(name) && name.length > 0);
    const from = p2 === 0x02 && this.selected !== undefined ? matching.indexOf(this.selected) + 1 : 0;
    const app = matching[from];
    if (app === undefined) return sw(0x6a, 0x82);
    this.selected = app;
    this.online = undefined; // a new transaction
    const prop = Buffer.concat([tlv(0x50, Buffer.from(app.label, 'ascii')), ...(app.priority === undefined ? [] : [tlv(0x87, Buffer.from([app.priority]))]),
      ...(this.pdol === null ? [] : [tlv(0x9f38, this.pdol)])]);
    // A blocked application is still selected, with 6283 (Book 1 §12.3.3): the terminal moves on.
    return Buffer.concat([tlv(0x6f, Buffer.concat([tlv(0x84, app.aid), tlv(0xa5, prop)])), this.blocked ? sw(0x62, 0x83) : SW_OK]);
  }

  private gpo(data: Buffer): Buffer {
    const pdolBytes = dolLength(this.pdol);
    if (data.length !== 2 + pdolBytes || data[0] !== 0x83 || data[1] !== pdolBytes) return sw(0x67, 0x00);
    if (this.selected?.refusesGpo || this.blocked) return sw(0x69, 0x85);
    this.online = undefined; // GPO starts a transaction
    if (this.spec.atc === 'counter') {
      if (this.atc >= ATC_MAX) return sw(0x69, 0x85); // the counter is exhausted: the card is dead
      this.atc++;
    }
    this.pdolData = Buffer.from(data.subarray(2));
    const { aip } = this.personalised();
    if (this.spec.qpboc === true && this.pdol !== null) return this.qpbocGpo(dolValues(this.pdol, this.pdolData) as Map<number, Buffer>, aip);
    const body = (this.spec.acFormat ?? 2) === 1 ? tlv(0x80, Buffer.concat([aip, SIM_AFL])) : tlv(0x77, Buffer.concat([tlv(0x82, aip), tlv(0x94, SIM_AFL)]));
    return Buffer.concat([body, SW_OK]);
  }

  /**
   * qPBOC GPO (JR/T 0025.12 §7.5, like Visa's qVSDC): the card decides from the TTQ and the amount.
   * AAC with `decline-offline`; ARQC when the reader asks for an online cryptogram, when it asks
   * for a CVM and the card wants online PIN (CTQ b8) which the reader supports, or over the card's
   * offline limit; else TC with 9F4B, the fDDA signature over 9F37 ‖ 9F02 ‖ 5F2A ‖ 9F69.
   */
  private qpbocGpo(values: Map<number, Buffer>, aip: Buffer): Buffer {
    const ttq = values.get(0x9f66) ?? Buffer.alloc(4);
    const ctq = this.spec.ctq ?? SIM_CTQ;
    const amountFen = Number(values.get(0x9f02)?.toString('hex') ?? '0');
    const pinOnline = (ttq[1] & TTQ2_CVM_REQUIRED) !== 0 && (ctq[0] & CTQ_ONLINE_PIN) !== 0 && (ttq[0] & TTQ1_ONLINE_PIN) !== 0;
    const online = (ttq[1] & TTQ2_ONLINE_REQUIRED) !== 0 || pinOnline || amountFen > (this.spec.offlineLimitFen ?? QPBOC_OFFLINE_LIMIT_FEN_DEFAULT);
    const kind = this.has('decline-offline') ? 'AAC' : online ? 'ARQC' : 'TC';
    const atc = this.atcFor(this.pdolData);
    values.set(0x82, aip).set(0x9f36, atc);
    const input = acInput(values, AC_INPUT_TAGS);
    if (input === undefined) return sw(0x69, 0x85);
    const ac = applicationCryptogram(this.cardKey, input);
    if (kind === 'ARQC') this.online = { arqc: ac, atc, final: true }; // contactless: no second GENERATE AC
    this.cardUn = createHash('sha256').update(this.spec.pan).update(this.pdolData).update(atc).digest().subarray(0, 4);
    const cid = Buffer.from([kind === 'TC' ? 0x40 : kind === 'ARQC' ? 0x80 : 0x00]);
    const parts = [tlv(0x82, aip), tlv(0x94, SIM_QPBOC_AFL), tlv(0x9f36, atc), tlv(0x9f26, ac), tlv(0x9f27, cid), tlv(0x9f10, SIM_IAD), tlv(0x9f6c, ctq)];
    if (kind === 'TC') parts.push(tlv(0x9f4b, this.fddaSignature(values, atc)));
    return Buffer.concat([tlv(0x77, Buffer.concat(parts)), SW_OK]);
  }

  /** 9F69 (card authentication related data, fDDA version 01): version ‖ card unpredictable number ‖ CTQ. */
  private cardAuthData(): Buffer {
    return Buffer.concat([Buffer.from([FDDA_V01]), this.cardUn, this.spec.ctq ?? SIM_CTQ]);
  }

  /** fDDA: ICC dynamic data (IDN = the ATC) signed with the terminal's 9F37 ‖ 9F02 ‖ 5F2A and the card's 9F69. */
  private fddaSignature(values: ReadonlyMap<number, Buffer>, atc: Buffer): Buffer {
    const un = Buffer.from(values.get(0x9f37) ?? Buffer.alloc(4));
    if (this.has('wrong-fdda-signature')) un[0] ^= 0xff;
    const signed = Buffer.concat([un, values.get(0x9f02) ?? Buffer.alloc(6), values.get(0x5f2a) ?? Buffer.alloc(2), this.cardAuthData()]);
    return signedDynamicData(signingKey(TEST_EMV_KEYS.ICC), Buffer.concat([Buffer.from([atc.length]), atc]), signed);
  }

  /** The ATC of this transaction: the counter, or (replayable cards) derived from the data signed. */
  private atcFor(data: Buffer): Buffer {
    const atcValue = this.spec.atc === 'counter' ? this.atc : 1 + (createHash('sha256').update(data).digest().readUInt16BE(0) % (ATC_MAX - 1));
    return Buffer.from([atcValue >> 8, atcValue & 0xff]);
  }

  private readRecord(sfi: number, record: number): Buffer {
    if (sfi === PSE_DIRECTORY_SFI) {
      const dir = this.spec.directory ?? 'both';
      if (record !== 1 || (dir !== 'pse' && dir !== 'both')) return sw(0x6a, 0x83);
      return Buffer.concat([tlv(0x70, this.directoryEntries()), SW_OK]);
    }
    if (this.spec.qpboc === true && sfi === 2 && record === 1) {
      const r = this.personalised().records.get('2/1') as Buffer;
      return Buffer.concat([tlv(0x70, Buffer.concat([primitiveContent(r), tlv(0x9f69, this.cardAuthData())])), SW_OK]);
    }
    const r = this.personalised().records.get(`${sfi}/${record}`);
    return r === undefined ? sw(0x6a, 0x83) : Buffer.concat([r, SW_OK]);
  }

  private internalAuthenticate(ddolData: Buffer): Buffer {
    const oda = this.spec.oda ?? 'dda';
    if (oda !== 'dda' && oda !== 'cda') return sw(0x6d, 0x00);
    const idn = createHash('sha256').update(this.spec.pan).update(ddolData).update(Buffer.from([this.atc >> 8, this.atc & 0xff])).digest().subarray(0, IDN_BYTES);
    const sdad = signedDynamicData(signingKey(TEST_EMV_KEYS.ICC), Buffer.concat([Buffer.from([IDN_BYTES]), idn]), ddolData);
    return Buffer.concat([tlv(0x80, sdad), SW_OK]);
  }

  private getData(tag: number): Buffer {
    if (tag === 0x9f17) return Buffer.concat([tlv(0x9f17, Buffer.from([this.pinTries])), SW_OK]);
    if (tag === 0x9f36) return Buffer.concat([tlv(0x9f36, Buffer.from([this.atc >> 8, this.atc & 0xff])), SW_OK]);
    const lastOnline = this.spec.velocity?.lastOnlineAtc;
    if (tag === 0x9f13 && lastOnline !== undefined) return Buffer.concat([tlv(0x9f13, Buffer.from([lastOnline >> 8, lastOnline & 0xff])), SW_OK]);
    const put = this.putData.get(tag);
    if (put !== undefined) return Buffer.concat([tlv(tag, put), SW_OK]);
    return sw(0x6a, 0x88);
  }

  private generateAc(p1: number, data: Buffer, lc: number): Buffer {
    const values = dolValues(this.cdol1, data);
    if (values === undefined || data.length !== lc) return sw(0x67, 0x00);
    const atc = this.atcFor(data);
    const aac = (p1 & 0xc0) === 0x00 || this.has('decline-offline');
    const cid = Buffer.from([aac ? 0x00 : 0x80]);
    values.set(0x82, this.personalised().aip).set(0x9f36, atc);
    const input = acInput(values, AC_INPUT_TAGS);
    if (input === undefined) return sw(0x69, 0x85); // the CDOL1 does not give what the cryptogram covers
    const ac = applicationCryptogram(this.cardKey, input);
    if (!aac) this.online = { arqc: ac, atc, cdol1Data: Buffer.from(data) };
    return this.cdaAsked(p1, aac) ? this.cdaAnswer(cid, atc, ac, values.get(0x9f37), [data], false) : this.acAnswer(cid, atc, ac);
  }

  /** Book 3 §6.5.5: P1 bit 5 asks for CDA; a card that supports it signs a TC or an ARQC, never an AAC. */
  private cdaAsked(p1: number, aac: boolean): boolean {
    return (p1 & GENAC_CDA) !== 0 && this.spec.oda === 'cda' && !aac;
  }

  /**
   * Book 2 §6.6.1: format 2 with 9F4B in place of 9F26; the ICC dynamic data is IDN, CID, the AC
   * and the transaction data hash (SHA-1 over the PDOL data, the CDOL1 (and CDOL2) data and the
   * answer's data objects other than 9F4B, in order); signed with the unpredictable number.
   */
  private cdaAnswer(cid: Buffer, atc: Buffer, ac: Buffer, un: Buffer | undefined, cdolData: readonly Buffer[], final: boolean): Buffer {
    const rest = Buffer.concat([tlv(0x9f27, cid), tlv(0x9f36, atc), tlv(0x9f10, SIM_IAD)]);
    const hash = createHash('sha1').update(this.pdolData);
    for (const d of cdolData) hash.update(d);
    const txnHash = hash.update(rest).digest();
    const idn = createHash('sha256').update(this.spec.pan).update(atc).digest().subarray(0, IDN_BYTES);
    const dyn = Buffer.concat([Buffer.from([IDN_BYTES]), idn, cid, ac, txnHash]);
    const signedUn = Buffer.from(un ?? Buffer.alloc(4));
    if (this.has('wrong-cda-signature') || (final && this.has('wrong-final-cda-signature'))) signedUn[0] ^= 0xff;
    const sdad = signedDynamicData(signingKey(TEST_EMV_KEYS.ICC), dyn, signedUn);
    return Buffer.concat([tlv(0x77, Buffer.concat([tlv(0x9f27, cid), tlv(0x9f36, atc), tlv(0x9f4b, sdad), tlv(0x9f10, SIM_IAD)])), SW_OK]);
  }

  private acAnswer(cid: Buffer, atc: Buffer, ac: Buffer): Buffer {
    const body = (this.spec.acFormat ?? 2) === 1
      ? tlv(0x80, Buffer.concat([cid, atc, ac, SIM_IAD]))
      : tlv(0x77, Buffer.concat([tlv(0x9f27, cid), tlv(0x9f36, atc), tlv(0x9f26, ac), tlv(0x9f10, SIM_IAD)]));
    return Buffer.concat([body, SW_OK]);
  }

  /** 91 = ARPC method 1 of this transaction's ARQC, under the card key (Book 2 §8.2.1). */
  private judgeArpc(tag91: Buffer): 'ok' | 'failed' {
    const online = this.online as NonNullable<EmvCardModel['online']>;
    if (tag91.length !== 10) return 'failed';
    return timingSafeEqual(arpcMethod1(this.cardKey, online.arqc, tag91.subarray(8)), tag91.subarray(0, 8)) ? 'ok' : 'failed';
  }

  private externalAuthenticate(data: Buffer): Buffer {
    if (this.online === undefined || this.online.final || this.issuerAuthMode() !== 'external-authenticate') return sw(0x69, 0x85);
    this.online.issuerAuth = this.judgeArpc(data);
    return this.online.issuerAuth === 'ok' ? SW_OK : sw(0x63, 0x00);
  }

  private issuerAuthMode(): 'external-authenticate' | 'cdol2' {
    return this.spec.issuerAuth ?? 'external-authenticate';
  }

  /** The final GENERATE AC over the CDOL2's data: TC only when asked, issuer authentication not failed and no fault. */
  private secondGenerateAc(p1: number, data: Buffer, lc: number): Buffer {
    const online = this.online as NonNullable<EmvCardModel['online']>;
    if (online.final) return sw(0x69, 0x85);
    const values = dolValues(this.cdol2(), data);
    if (values === undefined || data.length !== lc) return sw(0x67, 0x00);
    const tag91 = values.get(0x91);
    if (this.issuerAuthMode() === 'cdol2' && tag91 !== undefined && tag91.some((b) => b !== 0)) online.issuerAuth = this.judgeArpc(tag91);
    const tc = (p1 & 0xc0) === 0x40 && online.issuerAuth !== 'failed' && !this.has('decline-second-ac');
    values.set(0x82, this.personalised().aip).set(0x9f36, online.atc);
    // The final cryptogram covers the ARC the terminal passed (8A, first in the CDOL2) after the
    // profile's ARQC input: a TC differs from the ARQC of the same data.
    const input = acInput(values, [...AC_INPUT_TAGS, 0x8a]);
    if (input === undefined) return sw(0x69, 0x85);
    online.final = true;
    const cid = Buffer.from([tc ? 0x40 : 0x00]);
    const ac = applicationCryptogram(this.cardKey, input);
    if (this.cdaAsked(p1, !tc)) return this.cdaAnswer(cid, online.atc, ac, values.get(0x9f37), [online.cdol1Data ?? Buffer.alloc(0), data], true);
    return this.acAnswer(cid, online.atc, ac);
  }

  private cdol2(): Buffer {
    return this.issuerAuthMode() === 'cdol2' ? SIM_CDOL2_WITH_91 : SIM_CDOL2;
  }

  /** An issuer script command: its MAC checked under the card key, then done (see the top of this file). */
  private scriptCommand(apdu: Buffer): Buffer {
    const online = this.online;
    if (online === undefined) return sw(0x69, 0x85);
    if (this.has('script-fails')) return sw(...SW_MEMORY_FAILURE);
    const lc = apdu.length > 4 ? apdu[4] : 0;
    const body = apdu.subarray(5, 5 + lc);
    if (body.length !== lc || lc < SCRIPT_MAC_BYTES) return sw(0x67, 0x00);
    const data = body.subarray(0, lc - SCRIPT_MAC_BYTES);
    const mac = issuerScriptMac(this.cardKey, apdu.subarray(0, 5), online.atc, online.arqc, data);
    if (!timingSafeEqual(mac, body.subarray(lc - SCRIPT_MAC_BYTES))) return sw(...SW_SECURE_MESSAGING);
    const [cla, ins, p1, p2] = apdu;
    if (cla === 0x84 && ins === 0x1e) { this.blocked = true; return SW_OK; }
    if (cla === 0x84 && ins === 0x18) { this.blocked = false; return SW_OK; }
    if (cla === 0x84 && ins === 0x24 && p2 === 0x00) { this.pinTries = this.spec.pinTries ?? PIN_TRIES_DEFAULT; return SW_OK; }
    if (cla === 0x04 && ins === 0xda) { this.putData.set((p1 << 8) | p2, Buffer.from(data)); return SW_OK; }
    return sw(0x6d, 0x00);
  }

  /** Records and certificates, built once. */
  private personalised(): Personalised {
    if (this.data) return this.data;
    const s = this.spec;
    const oda = s.oda ?? 'dda';
    const common = this.issuerAuthMode() === 'external-authenticate' ? AIP_COMMON : AIP_COMMON & ~AIP_ISSUER_AUTH;
    const aip = Buffer.from([common | (oda === 'sda' ? AIP_SDA : oda === 'dda' ? AIP_SDA | AIP_DDA : oda === 'cda' ? AIP_SDA | AIP_DDA | AIP_CDA : 0), 0x00]);
    const iac = s.iac ?? {};
    const odaRecord = Buffer.concat([
      tlv(0x5a, panBcd(s.pan)), tlv(0x5f24, s.expiry), tlv(0x5f25, '200101'), tlv(0x5f28, '0156'), tlv(0x9f07, SIM_AUC),
      tlv(0x9f08, SIM_APP_VERSION), tlv(0x5f34, Buffer.from([s.psn])),
      ...(s.cvmList === null ? [] : [tlv(0x8e, s.cvmList ?? SIM_CVM_LIST)]),
      ...(iac.default ? [tlv(0x9f0d, iac.default)] : []), ...(iac.denial ? [tlv(0x9f0e, iac.denial)] : []), ...(iac.online ? [tlv(0x9f0f, iac.online)] : []),
      ...(s.cdol1 === null ? [] : [tlv(0x8c, s.cdol1 ?? SIM_CDOL1)]), tlv(0x9f4a, '82'),
    ]);
    const staticData = Buffer.concat([odaRecord, aip]);
    const track2 = `${s.pan}=${s.expiry.slice(0, 4)}2010000012345678`.slice(0, 37);
    const records = new Map<string, Buffer>([
      ['1/1', tlv(0x70, odaRecord)],
      // 8D here, outside the records signed for ODA: the static data of the first pass stays as it was.
      ['2/1', tlv(0x70, Buffer.concat([tlv(0x57, track2Equivalent(track2)), tlv(0x5f20, Buffer.from('TEST/CARDHOLDER', 'ascii')), tlv(0x8d, this.cdol2()), ...velocityLimits(s)]))],
    ]);
    // qPBOC: 9F69 changes with each transaction (the card's unpredictable number), so it is in a
    // record outside the static data signed for ODA; built when read.
    if (s.qpboc === true) records.set('2/1', tlv(0x70, Buffer.concat([tlv(0x57, track2Equivalent(track2)), tlv(0x5f20, Buffer.from('TEST/CARDHOLDER', 'ascii'))])));
    const caIndex = s.caIndex ?? 0x80;
    const ca = TEST_CA_KEYS.find((k) => k.index === caIndex);
    if (ca === undefined) throw new Error(`no test CA key ${caIndex.toString(16)} (sim/host/test-ca-keys.ts)`);
    const issuer = signingKey(TEST_EMV_KEYS.ISSUER);
    const ic = issuerCertificate(signingKey(ca), issuer.modulus, s.pan.slice(0, ISSUER_ID_DIGITS), this.has('expired-issuer-cert') ? CERT_EXPIRED_MMYY : CERT_EXPIRY_MMYY);
    records.set('2/2', tlv(0x70, Buffer.concat([tlv(0x8f, Buffer.from([caIndex])), tlv(0x90, ic.cert), tlv(0x9f32, E3), ...(ic.remainder ? [tlv(0x92, ic.remainder)] : [])])));
    if (oda === 'sda') {
      const signedOver = this.has('wrong-signed-static-data') ? Buffer.concat([staticData, hex('00')]) : staticData;
      records.set('2/3', tlv(0x70, tlv(0x93, signedStaticData(issuer, hex('DAC1'), signedOver))));
    } else if (oda === 'dda' || oda === 'cda') {
      const icc = iccCertificate(issuer, hex(TEST_EMV_KEYS.ICC.modulusHex), s.pan, staticData, this.has('expired-icc-cert') ? CERT_EXPIRED_MMYY : CERT_EXPIRY_MMYY);
      records.set('2/3', tlv(0x70, Buffer.concat([tlv(0x9f46, icc.cert), tlv(0x9f47, E3), ...(icc.remainder ? [tlv(0x9f48, icc.remainder)] : []), tlv(0x9f49, SIM_DDOL)])));
    } else {
      records.set('2/3', tlv(0x70, tlv(0x9f08, SIM_APP_VERSION)));
    }
    this.data = { aip, records };
    return this.data;
  }
}

function velocityLimits(s: EmvCardSpec): Buffer[] {
  return s.velocity === undefined ? [] : [tlv(0x9f14, Buffer.from([s.velocity.lower])), tlv(0x9f23, Buffer.from([s.velocity.upper]))];
}

/** The test CA's RID: the first 5 bytes of every AID the card models carry. */
export const SIM_RID = hex(TEST_CA_RID_HEX);

/** A ChipCard (what the readers take) answering as `model`. */
export function emvChipCard(model: EmvCardModel, extra: Partial<ChipCard> = {}): ChipCard {
  const s = model.spec;
  return {
    kind: s.kind, name: s.name, pan: s.pan, expiry: s.expiry, psn: s.psn,
    atr: hex('3B6800000073C84013009000'), uid: hex('04A1B2C3D4E5F6'), ats: hex('0578807002'),
    respond: (apdu) => model.respond(apdu),
    pullsOn: (apdu) => model.pullsOn(apdu),
    ...extra,
  };
}

/** A card model and its ChipCard in one call. */
export function emvCard(spec: EmvCardSpec, extra: Partial<ChipCard> = {}): ChipCard & { readonly model: EmvCardModel } {
  const model = new EmvCardModel(spec);
  return { ...emvChipCard(model, extra), model };
}

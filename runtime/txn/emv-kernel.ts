/**
 * The contact/contactless EMV kernel's card-facing steps, in the order EMV 4.3 Book 1 §12 and
 * Book 3 §10 give them, each its own function with its own tests (tests/runtime/emv-kernel.test.ts):
 *
 *   selectApplication       PSE (contact) or PPSE (contactless) directory, else the list of AIDs
 *                           (partial selection where the AID's ASI allows it), priority, final SELECT
 *   getProcessingOptions    GPO with the data the card's PDOL (9F38) asks for
 *   readApplicationData     READ RECORD for every record the AFL names, keeping those marked for ODA
 *   offlineDataAuthentication  SDA or DDA (INTERNAL AUTHENTICATE) under the CA key in force for the
 *                           card's RID and 8F; a failure is TVR bits, never an exception
 *   runKernel               the above, then processing restrictions, CVM, terminal risk management
 *                           (floor limit with the log, random selection, velocity: emv-risk.ts), terminal
 *                           action analysis and the first GENERATE AC
 *
 * The pure decisions are emv-oda.ts, emv-restrictions.ts, emv-cvm.ts, emv-risk.ts, emv-taa.ts.
 * Nothing here logs or stores card data: the caller gets the values (card.ts keeps only what the
 * transaction needs and field 55's allow-list).
 *
 * Not yet: CDA, qPBOC.
 * The online half (issuer authentication, second GENERATE AC, scripts) is emv-online.ts.
 */
import { PosError, invariant } from '../../common/errors';
import { AidParams } from '../host/emv-params';
import {
  CardRequest, DEFAULT_CDOL1, EmvParams, GENAC_P1_AAC, GENAC_P1_ARQC, dolData, generateAcCommand, parseCdaGenerateAc, parseGenerateAc,
  parseTlv, primitives, terminalData,
} from './emv';
import { DEFAULT_CDOL2, secondGenerateAcCommand } from './emv-online';
import { isQpbocAnswer, prepareContactless, qpbocOutcome } from './emv-qpboc';
import { caKeysInForce } from './emv-download';
import {
  Checked, OdaFailure, OdaRecord, RecoveredIccKey, RecoveredIssuerKey, checkCda, odaFailureTvr, recoverIccKey, recoverIssuerKey, staticDataToAuthenticate, verifyDynamicSignature, verifySda,
} from './emv-oda';
import { CaPublicKey } from './emv-rsa';
import { CvmMethod, processCvmList } from './emv-cvm';
import { processingRestrictions } from './emv-restrictions';
import { readVelocityCounters, terminalRiskManagement } from './emv-risk';
import { terminalActionAnalysis } from './emv-taa';
import { TVR, TvrBit, emptyTvr, withTvrBits } from './emv-tvr';

export type { EmvParams };

/** Sends one command APDU and returns the card's answer with its status word. */
export type Transmit = (apdu: Buffer) => Promise<Buffer>;

export const PSE = Buffer.from('1PAY.SYS.DDF01', 'ascii');
export const PPSE = Buffer.from('2PAY.SYS.DDF01', 'ascii');
/** Applications a card may list or a partial AID may select (Book 1 §12.3: bounded by the terminal). */
export const CANDIDATES_MAX = 16;
/** PSE directory records read per directory (SFI 1..10, records from 1). */
export const DIRECTORY_RECORDS_MAX = 16;
/** READ RECORDs per transaction, over the whole AFL. */
export const AFL_RECORDS_MAX = 32;
const RID_BYTES = 5;
const SW_CONDITIONS_NOT_SATISFIED = '6985';
const AFL_ENTRY_BYTES = 4;
const SFI_TEMPLATE_MAX = 10;
/** 87 bit 8: cardholder confirmation required; this terminal offers no confirmation, so such an application is left out (Book 1 §12.4). */
const PRIORITY_CONFIRM = 0x80;
const PRIORITY_MASK = 0x0f;
/** Default DDOL (the terminal's, Book 3 §10.3): the unpredictable number. */
export const DEFAULT_DDOL = Buffer.from('9F3704', 'hex');
/** AIP byte 1 (Book 3 Annex C1). */
const AIP_SDA = 0x40;
const AIP_DDA = 0x20;
const AIP_CDA = 0x01;

/**
 * The UnionPay applications a terminal that has not downloaded its AID list yet (issue 11 item 1)
 * still accepts, with the TACs and limits of the acquirer simulator's test set: every chip sale
 * goes online (floor limit 0), TAC-Denial on "service not allowed" only. A download replaces them.
 */
export const BUILT_IN_AIDS: readonly AidParams[] = ['A000000333010101', 'A000000333010102', 'A000000333010103'].map((aid) => ({
  aid: Buffer.from(aid, 'hex'), asi: 0, appVersion: Buffer.from('0030', 'hex'), tacDefault: Buffer.from('D84000A800', 'hex'),
  tacOnline: Buffer.from('D84004F800', 'hex'), tacDenial: Buffer.from('0010000000', 'hex'),
  floorLimitFen: 0, clFloorLimitFen: 0, clTxnLimitFen: 100_000, cvmRequiredLimitFen: 100_000,
}));

function sw(r: Buffer): string {
  return r.length >= 2 ? r.subarray(-2).toString('hex').toUpperCase() : '';
}

function dataOf(r: Buffer): Buffer {
  return r.subarray(0, r.length - 2);
}

function unreadable(reason: string): PosError {
  return new PosError('RDR_UNREADABLE', reason);
}

function selectCommand(name: Buffer, next = false): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, next ? 0x02 : 0x00, name.length]), name, Buffer.from([0x00])]);
}

function tagIn(data: Buffer, tag: number): Buffer | undefined {
  try { return primitives(data).get(tag); } catch { return undefined; }
}

// ---------------------------------------------------------------- application selection

export interface Candidate {
  /** The card's DF name (4F in a directory, 84 from a SELECT). */
  readonly aid: Buffer;
  /** 87, when the card gave one. */
  readonly priority?: number;
  readonly params: AidParams;
}

export interface SelectedApp extends Candidate {
  /** The FCI of the final SELECT (84, A5 with 50, 87, 9F38 ...). */
  readonly fci: Buffer;
}

/** The terminal's AID a card's DF name matches: the same bytes, or (ASI 0) the terminal's AID as its prefix. */
export function matchingAid(cardAid: Buffer, aids: readonly AidParams[]): AidParams | undefined {
  return aids.find((a) => a.aid.equals(cardAid)) ?? aids.find((a) => a.asi === 0 && cardAid.length > a.aid.length && cardAid.subarray(0, a.aid.length).equals(a.aid));
}

/**
 * Book 1 §12.4: the candidates in priority order (87's low nibble, 1 first; none or 0 after every
 * prioritised one; equal priorities keep the card's order); an application that needs cardholder
 * confirmation is left out (this terminal cannot ask the cardholder).
 */
export function orderCandidates(candidates: readonly Candidate[]): Candidate[] {
  const rank = (c: Candidate): number => {
    const p = (c.priority ?? 0) & PRIORITY_MASK;
    return p === 0 ? PRIORITY_MASK + 1 : p;
  };
  return candidates.filter((c) => ((c.priority ?? 0) & PRIORITY_CONFIRM) === 0)
    .map((c, i) => ({ c, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i).map((x) => x.c);
}

/** Directory entries (61 templates: 4F, 87) matched against the terminal's AIDs. */
function entriesOf(data: Buffer, aids: readonly AidParams[], into: Candidate[]): void {
  for (const t of parseTlv(data)) {
    if (t.tag === 0xbf0c || t.tag === 0x70 || t.tag === 0xa5 || t.tag === 0x6f) { entriesOf(t.value, aids, into); continue; }
    if (t.tag !== 0x61 || into.length >= CANDIDATES_MAX) continue;
    const m = primitives(t.value);
    const aid = m.get(0x4f);
    const params = aid && matchingAid(aid, aids);
    if (aid && params) into.push({ aid, priority: m.get(0x87)?.[0], params });
  }
}

/**
 * Book 1 §12.3.2: SELECT the PSE (contact) or PPSE (contactless); the PPSE's FCI holds the entries,
 * the PSE names the directory's SFI (88) whose records hold them. Undefined when the card has no
 * directory (any status but 9000): the list of AIDs follows.
 */
export async function directoryCandidates(tx: Transmit, contactless: boolean, aids: readonly AidParams[]): Promise<Candidate[] | undefined> {
  const r = await tx(selectCommand(contactless ? PPSE : PSE));
  if (sw(r) !== '9000') return undefined;
  const out: Candidate[] = [];
  try {
    if (contactless) { entriesOf(dataOf(r), aids, out); return out; }
    const sfi = tagIn(dataOf(r), 0x88)?.[0];
    if (sfi === undefined || sfi < 1 || sfi > SFI_TEMPLATE_MAX) return undefined;
    for (let rec = 1; rec <= DIRECTORY_RECORDS_MAX; rec++) {
      const d = await tx(Buffer.from([0x00, 0xb2, rec, (sfi << 3) | 4, 0x00]));
      if (sw(d) !== '9000') break; // 6A83: no more records
      entriesOf(dataOf(d), aids, out);
    }
  } catch (e) {
    if (e instanceof PosError && e.id === 'RDR_UNREADABLE') return undefined; // a directory we cannot parse: use the list of AIDs
    throw e;
  }
  return out;
}

/**
 * Book 1 §12.3.3: SELECT each terminal AID; an FCI whose DF name is the AID is a candidate, one
 * whose DF name only starts with it is a candidate where the ASI allows partial selection, and then
 * the next occurrence (P2 02) is asked for until the card says 6A82. 6A81 (the card is blocked or
 * does not support SELECT) ends the search.
 */
export async function listOfAidsCandidates(tx: Transmit, aids: readonly AidParams[]): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const params of aids) {
    let next = false;
    while (out.length < CANDIDATES_MAX) {
      const r = await tx(selectCommand(params.aid, next));
      const status = sw(r);
      if (status === '6A81') return out;
      if (status !== '9000' && status !== '6283') break;
      const df = tagIn(dataOf(r), 0x84);
      if (df === undefined || df.length < params.aid.length || !df.subarray(0, params.aid.length).equals(params.aid)) break;
      const exact = df.equals(params.aid);
      if (status === '9000' && (exact || params.asi === 0) && !out.some((c) => c.aid.equals(df))) out.push({ aid: df, priority: tagIn(dataOf(r), 0x87)?.[0], params });
      if (exact || params.asi !== 0) break;
      next = true;
    }
  }
  return out;
}

/**
 * Application selection: the directory, else the list of AIDs; candidates in priority order (less
 * the `excluded` DF names: applications whose GPO said 6985); the final SELECT of each in turn
 * until one answers 9000 with its own DF name (6283, a blocked application, moves on). No
 * candidate: RDR_NO_APPLICATION.
 */
export async function selectApplication(tx: Transmit, contactless: boolean, aids: readonly AidParams[], excluded: readonly Buffer[] = []): Promise<SelectedApp> {
  const fromDirectory = await directoryCandidates(tx, contactless, aids);
  const found = fromDirectory !== undefined && fromDirectory.length > 0 ? fromDirectory : await listOfAidsCandidates(tx, aids);
  const candidates = orderCandidates(found).filter((c) => !excluded.some((x) => x.equals(c.aid)));
  for (const c of candidates) {
    const r = await tx(selectCommand(c.aid));
    if (sw(r) !== '9000') continue;
    const fci = dataOf(r);
    const df = tagIn(fci, 0x84);
    if (df?.equals(c.aid)) return { ...c, fci };
  }
  throw new PosError('RDR_NO_APPLICATION', 'no application on the card matches the terminal\'s AID list', { candidates: candidates.length });
}

// ---------------------------------------------------------------- GPO and records

export interface ProcessingOptions {
  readonly aip: Buffer;
  readonly afl: Buffer;
  /** The data the PDOL asked for (empty without a PDOL); CDA hashes it. */
  readonly pdolData: Buffer;
  /** Every primitive of a format 2 answer (a qPBOC card's cryptogram, 9F4B, CTQ are here); empty for format 1. */
  readonly answer: ReadonlyMap<number, Buffer>;
}

/**
 * Book 3 §10.1: GET PROCESSING OPTIONS with 83 ‖ the PDOL's data; answer format 1 (80) or 2 (77).
 * Undefined when the card answers 6985 (conditions of use not satisfied): the application is
 * removed from the candidates and selection runs again.
 */
export async function getProcessingOptions(tx: Transmit, pdol: Buffer | undefined, values: ReadonlyMap<number, Buffer>): Promise<ProcessingOptions | undefined> {
  const pdolData = pdol === undefined ? Buffer.alloc(0) : dolData(pdol, values);
  if (pdolData.length > 0x7f) throw unreadable(`PDOL asks for ${pdolData.length} bytes`);
  const body = Buffer.concat([Buffer.from([0x83, pdolData.length]), pdolData]);
  const r = await tx(Buffer.concat([Buffer.from([0x80, 0xa8, 0x00, 0x00, body.length]), body, Buffer.from([0x00])]));
  if (sw(r) === SW_CONDITIONS_NOT_SATISFIED) return undefined;
  if (sw(r) !== '9000') throw unreadable(`GET PROCESSING OPTIONS answered ${sw(r)}`);
  const top = parseTlv(dataOf(r));
  let aip: Buffer | undefined, afl: Buffer | undefined;
  let answer = new Map<number, Buffer>();
  if (top.length === 1 && top[0].tag === 0x80 && top[0].value.length >= 2) {
    aip = top[0].value.subarray(0, 2);
    afl = top[0].value.subarray(2);
  } else if (top.length === 1 && top[0].tag === 0x77) {
    answer = primitives(top[0].value);
    aip = answer.get(0x82); afl = answer.get(0x94);
  }
  if (aip?.length !== 2 || afl === undefined || afl.length === 0 || afl.length % AFL_ENTRY_BYTES !== 0) throw unreadable('GET PROCESSING OPTIONS answer lacks the AIP or a valid AFL');
  return { aip, afl, pdolData, answer };
}

export interface ApplicationData {
  /** Every primitive data object of the records, first occurrence. */
  readonly values: Map<number, Buffer>;
  /** The records the AFL marks for offline data authentication, in AFL order. */
  readonly odaRecords: OdaRecord[];
}

/**
 * Book 3 §10.2: READ RECORD every record the AFL names (entries of SFI, first, last, how many of
 * them from the first are for ODA). A record of SFI 1..10 must be a 70 template; an AFL entry out
 * of range or a record the card does not give is card data the terminal cannot use.
 */
export async function readApplicationData(tx: Transmit, afl: Buffer): Promise<ApplicationData> {
  const values = new Map<number, Buffer>();
  const odaRecords: OdaRecord[] = [];
  let count = 0;
  for (let i = 0; i < afl.length; i += AFL_ENTRY_BYTES) {
    const sfi = afl[i] >> 3, first = afl[i + 1], last = afl[i + 2], oda = afl[i + 3];
    if (sfi < 1 || sfi > 30 || first < 1 || last < first || oda > last - first + 1) throw unreadable('the AFL names records out of range');
    for (let rec = first; rec <= last; rec++) {
      if (++count > AFL_RECORDS_MAX) throw unreadable(`the AFL names more than ${AFL_RECORDS_MAX} records`);
      const r = await tx(Buffer.from([0x00, 0xb2, rec, (sfi << 3) | 4, 0x00]));
      if (sw(r) !== '9000') throw unreadable(`READ RECORD ${sfi}/${rec} answered ${sw(r)}`);
      const data = dataOf(r);
      const top = parseTlv(data);
      if (sfi <= SFI_TEMPLATE_MAX && (top.length !== 1 || top[0].tag !== 0x70)) throw unreadable(`record ${sfi}/${rec} is not a 70 template`);
      primitives(data, values);
      if (rec - first < oda) odaRecords.push({ sfi, data });
    }
  }
  return { values, odaRecords };
}

// ---------------------------------------------------------------- offline data authentication

export interface OdaOutcome {
  readonly method: 'sda' | 'dda' | 'cda' | 'fdda' | 'none';
  /** Undefined when it succeeded or was not performed. */
  readonly failure?: OdaFailure;
  readonly tvr: readonly TvrBit[];
  /** CDA: the ICC key recovered before GENERATE AC, to verify its answer with (never logged). */
  readonly iccKey?: RecoveredIccKey;
}

/** Book 3 §10.3: CDA when card (AIP) and terminal both support it, else DDA, else SDA, else none. */
export function chooseOda(aip: Buffer): 'sda' | 'dda' | 'cda' | 'none' {
  if (aip[0] & AIP_CDA) return 'cda';
  if (aip[0] & AIP_DDA) return 'dda';
  if (aip[0] & AIP_SDA) return 'sda';
  return 'none';
}

export interface OdaInput {
  readonly aid: Buffer;
  readonly aip: Buffer;
  readonly pan: string;
  readonly card: ReadonlyMap<number, Buffer>;
  readonly odaRecords: readonly OdaRecord[];
  /** The CA keys in force (caKeysInForce). */
  readonly caKeys: readonly CaPublicKey[];
  /** 9A, YYMMDD. */
  readonly todayYymmdd: string;
  /** The terminal's data objects (the DDOL takes 9F37 from here). */
  readonly terminal: ReadonlyMap<number, Buffer>;
}

/** The CA key for the card's RID (the AID's first 5 bytes) and index (8F), among those in force. */
export function caKeyFor(caKeys: readonly CaPublicKey[], aid: Buffer, index: Buffer | undefined): CaPublicKey | undefined {
  if (index?.length !== 1) return undefined;
  return caKeys.find((k) => k.rid.equals(aid.subarray(0, RID_BYTES)) && k.index === index[0]);
}

/**
 * The keys ODA needs (Book 2 §5.3, §6.4): the issuer key under the CA key for the card's RID and
 * 8F, the static data to be authenticated, and (`icc`) the ICC key under the issuer key.
 */
export function recoverCardKeys(input: OdaInput, icc: boolean): Checked<{ issuer: RecoveredIssuerKey; staticData: Buffer; icc?: RecoveredIccKey }> {
  const c = input.card;
  const ca = caKeyFor(input.caKeys, input.aid, c.get(0x8f));
  const issuer = recoverIssuerKey(ca, { certificate: c.get(0x90), remainder: c.get(0x92), exponent: c.get(0x9f32) }, input.pan, input.todayYymmdd);
  if (!issuer.ok) return issuer;
  const staticData = staticDataToAuthenticate(input.odaRecords, c.get(0x9f4a), input.aip);
  if (!staticData.ok) return staticData;
  if (!icc) return { ok: true, value: { issuer: issuer.value, staticData: staticData.value } };
  const iccKey = recoverIccKey(issuer.value, { certificate: c.get(0x9f46), remainder: c.get(0x9f48), exponent: c.get(0x9f47) }, input.pan, staticData.value, input.todayYymmdd);
  if (!iccKey.ok) return iccKey;
  return { ok: true, value: { issuer: issuer.value, staticData: staticData.value, icc: iccKey.value } };
}

/**
 * SDA (Book 2 §5) or DDA (Book 2 §6, with INTERNAL AUTHENTICATE over the DDOL's data) as
 * `chooseOda` says; every failure is the method's TVR bits (odaFailureTvr). A card that does
 * neither: "offline data authentication was not performed". CDA is not done here: `cdaKey`
 * recovers its key before GENERATE AC and `checkCda` verifies the answer.
 */
export async function offlineDataAuthentication(tx: Transmit, input: OdaInput): Promise<OdaOutcome> {
  const method = chooseOda(input.aip);
  if (method === 'none') return { method, tvr: [TVR.odaNotPerformed] };
  const failed = (failure: OdaFailure): OdaOutcome => ({ method, failure, tvr: odaFailureTvr(method, failure) });
  const keys = recoverCardKeys(input, method !== 'sda');
  if (!keys.ok) return failed(keys.reason);
  if (method === 'sda') {
    const sda = verifySda(keys.value.issuer, input.card.get(0x93), keys.value.staticData);
    return sda.ok ? { method, tvr: [] } : failed(sda.reason);
  }
  const icc = { ok: true as const, value: keys.value.icc as RecoveredIccKey };
  // CDA: the signature comes with GENERATE AC's answer (checkCda); the key is what is needed now.
  if (method === 'cda') return { method, tvr: [], iccKey: icc.value };
  const ddolData = dolData(input.card.get(0x9f49) ?? DEFAULT_DDOL, input.terminal);
  const r = await tx(Buffer.concat([Buffer.from([0x00, 0x88, 0x00, 0x00, ddolData.length]), ddolData, Buffer.from([0x00])]));
  if (sw(r) !== '9000') return failed('data-missing');
  let sdad: Buffer | undefined;
  try {
    const top = parseTlv(dataOf(r));
    sdad = top.length === 1 && top[0].tag === 0x80 ? top[0].value : tagIn(dataOf(r), 0x9f4b);
  } catch { sdad = undefined; }
  const dda = verifyDynamicSignature(icc.value, sdad, ddolData);
  return dda.ok ? { method, tvr: [] } : failed(dda.reason);
}

// ---------------------------------------------------------------- the whole first pass

/** What the terminal performs (9F33 byte 2): online PIN, signature, no CVM. */
export const SUPPORTED_CVMS: ReadonlySet<CvmMethod> = new Set<CvmMethod>(['online-pin', 'signature', 'no-cvm']);

export interface KernelResult {
  readonly app: SelectedApp;
  readonly options: ProcessingOptions;
  /** The card's data objects (records; never logged or stored: card.ts keeps what it needs). */
  readonly card: Map<number, Buffer>;
  readonly oda: OdaOutcome;
  readonly cvm?: CvmMethod;
  /** The terminal data sent with GENERATE AC (95, 9F34, 9F09 as the steps set them). */
  readonly terminal: Map<number, Buffer>;
  /** What terminal action analysis asked for (qPBOC: TC when the TTQ let the card approve offline). */
  readonly asked: 'AAC' | 'ARQC' | 'TC';
  /** The card's answer (9F27, 9F36, 9F26, 9F10; with CDA, 9F26 is the one recovered from the signature). */
  readonly ac: Map<number, Buffer>;
  /** The card ran qPBOC (its cryptogram came with GPO; emv-qpboc.ts). */
  readonly qpboc?: boolean;
  /** qPBOC: a TC whose fDDA passed, within the terminal's offline limits: approved offline. */
  readonly offlineApproved?: boolean;
  /** CDA's signature in the first GENERATE AC's answer failed: the terminal declined offline (E-RDR-09). */
  readonly cdaFailedAtAc?: boolean;
  /** The data the CDOL1 asked for, as sent (CDA at the final GENERATE AC hashes it again); absent for qPBOC. */
  readonly cdol1Data?: Buffer;
}

/**
 * Selection and GPO (Book 3 §10.1): an application whose GPO answers 6985 is left out and
 * selection runs again, at most once per candidate the terminal may hold.
 */
export async function selectAndInitiate(
  tx: Transmit, contactless: boolean, aids: readonly AidParams[], terminal: Map<number, Buffer>, prepare?: (app: SelectedApp) => void,
): Promise<{ app: SelectedApp; options: ProcessingOptions }> {
  const excluded: Buffer[] = [];
  for (let round = 0; round <= CANDIDATES_MAX; round++) {
    const app = await selectApplication(tx, contactless, aids, excluded);
    terminal.set(0x9f09, app.params.appVersion);
    prepare?.(app);
    const options = await getProcessingOptions(tx, tagIn(app.fci, 0x9f38), terminal);
    if (options !== undefined) return { app, options };
    excluded.push(app.aid);
  }
  throw new PosError('RDR_NO_APPLICATION', 'every application refused GET PROCESSING OPTIONS (6985)');
}

function emvDate(yymmdd: string): string {
  return `20${yymmdd}`;
}

/**
 * Selection, GPO, records, ODA, processing restrictions, CVM, floor limit, terminal action
 * analysis (an online-only terminal: AAC or ARQC) and the first GENERATE AC, with the request's
 * downloaded parameters (none: the built-in AIDs and no CA key, so ODA fails and says so). Returns the card's
 * answer whatever it is: the caller decides what an AAC means for the sale.
 */
export async function runKernel(tx: Transmit, contactless: boolean, request: CardRequest): Promise<KernelResult> {
  const params: EmvParams = request.params ?? { caKeys: [] };
  const aids = params.aids ?? BUILT_IN_AIDS;
  const terminal = terminalData(request);
  const prepare = contactless ? (app: SelectedApp): void => prepareContactless(app, request, terminal) : undefined;
  const { app, options } = await selectAndInitiate(tx, contactless, aids, terminal, prepare);
  const { values: card, odaRecords } = await readApplicationData(tx, options.afl);
  const panTag = card.get(0x5a);
  if (panTag === undefined) throw unreadable('card records lack the PAN');
  const pan = panTag.toString('hex').toUpperCase().replace(/F+$/, '');
  const caKeys = caKeysInForce(params.caKeys, emvDate(request.dateYymmdd));
  const odaInput: OdaInput = { aid: app.aid, aip: options.aip, pan, card, odaRecords, caKeys, todayYymmdd: request.dateYymmdd, terminal };
  if (contactless && isQpbocAnswer(options)) return qpbocOutcome({ app, options, card, odaInput, terminal });
  const oda = await offlineDataAuthentication(tx, odaInput);
  const bits: TvrBit[] = [...oda.tvr];
  bits.push(...processingRestrictions({
    cardAppVersion: card.get(0x9f08), terminalAppVersion: app.params.appVersion, usageControl: card.get(0x9f07), issuerCountry: card.get(0x5f28),
    terminalCountry: terminal.get(0x9f1a) as Buffer, effectiveDate: card.get(0x5f25), expirationDate: card.get(0x5f24),
    service: request.txnType === 'sale' ? 'goods' : 'services', atm: false, todayYymmdd: request.dateYymmdd,
  }));
  const cvm = processCvmList(card.get(0x8e), {
    amountMinor: request.amountFen, inApplicationCurrency: true, kind: 'purchase', unattended: false, supported: SUPPORTED_CVMS,
  });
  bits.push(...cvm.tvr);
  // Terminal risk management (Book 3 §10.6): floor limit with the batch's log, random selection, velocity.
  bits.push(...terminalRiskManagement({
    amountFen: request.amountFen, floorLimitFen: contactless ? app.params.clFloorLimitFen : app.params.floorLimitFen, random: app.params.random,
    pan, context: request.risk, velocity: await readVelocityCounters(tx, card),
  }));
  const tvr = withTvrBits(emptyTvr(), bits);
  terminal.set(0x95, tvr).set(0x9f34, cvm.cvmResults);
  const asked = terminalActionAnalysis(tvr, { denial: card.get(0x9f0e), online: card.get(0x9f0f), default: card.get(0x9f0d) },
    { denial: app.params.tacDenial, online: app.params.tacOnline, default: app.params.tacDefault }, 'online-only');
  invariant(asked !== 'TC', 'an online-only terminal never asks for a TC');
  const cdolData = dolData(card.get(0x8c) ?? DEFAULT_CDOL1, terminal);
  if (cdolData.length === 0 || cdolData.length > 0xff) throw unreadable(`CDOL1 asks for ${cdolData.length} bytes`);
  // CDA is asked for with an ARQC (or TC), never with an AAC, and only when its key was recovered.
  const cdaKey = asked !== 'AAC' ? oda.iccKey : undefined;
  const r = await tx(generateAcCommand(cdolData, asked === 'AAC' ? GENAC_P1_AAC : GENAC_P1_ARQC, cdaKey !== undefined));
  if (sw(r) !== '9000') throw unreadable(`GENERATE AC answered ${sw(r)}`);
  const result = { app, options, card, oda, cvm: cvm.method, terminal, asked, cdol1Data: cdolData };
  if (cdaKey === undefined) return { ...result, ac: parseGenerateAc(dataOf(r)) };
  const ac = parseCdaGenerateAc(dataOf(r));
  const cda = checkCda(cdaKey, dataOf(r), ac, { unpredictableNumber: terminal.get(0x9f37) as Buffer, pdolData: options.pdolData, cdol1Data: cdolData });
  if (cda === undefined) return { ...result, ac };
  // Book 2 §6.6.2 / Book 3 §10.8: a failed CDA signature: the cryptogram is not trusted; the
  // terminal declines offline and tells the card (second GENERATE AC asking for an AAC).
  const failedOda: OdaOutcome = { method: 'cda', failure: cda, tvr: odaFailureTvr('cda', cda) };
  terminal.set(0x95, withTvrBits(tvr, failedOda.tvr));
  await declineAfterCda(tx, card, terminal);
  return { ...result, oda: failedOda, ac, cdaFailedAtAc: true };
}

/** ARC of a decline the terminal made offline (Book 4 Annex A6: Z1). */
const ARC_OFFLINE_DECLINED = Buffer.from('Z1', 'ascii');

/** The second GENERATE AC asking for an AAC after a failed CDA; the card's answer changes nothing, so errors are ignored. */
async function declineAfterCda(tx: Transmit, card: ReadonlyMap<number, Buffer>, terminal: ReadonlyMap<number, Buffer>): Promise<void> {
  const values = new Map(terminal).set(0x8a, ARC_OFFLINE_DECLINED);
  try { await tx(secondGenerateAcCommand(dolData(card.get(0x8d) ?? DEFAULT_CDOL2, values), 'AAC')); } catch { /* the decline stands whatever the card says */ }
}

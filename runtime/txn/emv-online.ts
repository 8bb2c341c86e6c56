/**
 * The online half of the chip kernel (EMV 4.3 Book 3 §10.9–10.10, Book 4 §6.3.7; docs/PROTOCOL.md
 * "Chip cards: issuer authentication and scripts"), after the host answered an ARQC:
 *
 *   parseIssuerResponse     the 0210's field 55: issuer authentication data (91) and the issuer
 *                           scripts (71 before, 72 after the final GENERATE AC)
 *   runIssuerScript         one script's commands (86) in order, stopping at the first that fails;
 *                           its 5-byte result for DF31
 *   issuerAuthentication    EXTERNAL AUTHENTICATE with 91 when the AIP says the card does issuer
 *                           authentication; otherwise 91 goes to the card in the CDOL2's data
 *   secondGenerateAc        the final GENERATE AC: TC when the host approved and issuer
 *                           authentication did not fail, else AAC
 *   completeOnline          the four above in the book's order, never throwing for the card: a card
 *                           pulled or answering nonsense is an outcome (the caller reverses)
 *
 * Nothing here logs or stores card data. The terminal never holds an issuer key: it only passes
 * the host's bytes to the card and reads the card's status words.
 */
import { PosError, isPosError } from '../../common/errors';
import { GENAC_P1_CDA, cryptogramType, dolData, encodeTlv, parseCdaGenerateAc, parseDol, parseGenerateAc, parseTlv, primitives } from './emv';
import { OdaFailure, checkCda, odaFailureTvr } from './emv-oda';
import type { RsaPublicKey } from './emv-rsa';
import type { Transmit } from './emv-kernel';
import { ISSUER_AUTH_DATA_BYTES_MAX, ISSUER_AUTH_DATA_BYTES_MIN } from './emv-issuer-auth';
import { TVR, TvrBit, withTvrBits } from './emv-tvr';

/** Scripts one answer may carry (71 and 72 together); more are reported not performed. */
export const ISSUER_SCRIPTS_MAX = 8;
/** Commands one script may carry: DF31's low nibble numbers the failing one (1..15). */
export const SCRIPT_COMMANDS_MAX = 15;
/** EMV Book 4 §6.3.7: a terminal supports at least 128 bytes of scripts in one answer; this one that many. */
export const ISSUER_SCRIPTS_BYTES_MAX = 128;
/** DF31: result (1 byte) ‖ script identifier 9F18 (4 bytes, zeros when absent). */
export const SCRIPT_RESULT_BYTES = 5;
const SCRIPT_ID_BYTES = 4;
/** DF31 high nibble (Book 4 Annex A5 "Issuer Script Results"). */
export const SCRIPT_NOT_PERFORMED = 0x0;
export const SCRIPT_FAILED = 0x1;
export const SCRIPT_DONE = 0x2;
/** AIP byte 1 bit 3: the card supports issuer authentication (EXTERNAL AUTHENTICATE). */
export const AIP_ISSUER_AUTH = 0x04;
/** GENERATE AC P1 for the final cryptogram (Book 3 §6.5.5 table 12). */
export const GENAC_P1_TC = 0x40;
export const GENAC_P1_AAC_FINAL = 0x00;
/**
 * CDOL2 when the card has none (8D absent): the ARC, then the CDOL1 data of the default CDOL1 (the
 * final cryptogram covers the same terminal data), then the TVR again.
 */
export const DEFAULT_CDOL2 = Buffer.from('8A029F02069F03069F1A0295055F2A029A039C019F3704', 'hex');
/** The ARC the terminal gives the card when the host never answered (Book 4 A6: unable to go online, decline). */
export const ARC_UNABLE_ONLINE = 'Z3';
/** Transaction Status Information (9B) byte 1 bits (Book 3 Annex C6). */
export const TSI_ISSUER_AUTH_PERFORMED = 0x10;
export const TSI_SCRIPT_PERFORMED = 0x04;

export interface IssuerScript {
  /** 71: before the final GENERATE AC; 72: after. */
  readonly template: 0x71 | 0x72;
  /** 9F18, 4 bytes; zeros when the host gave none. */
  readonly id: Buffer;
  /** The 86 commands, in order. */
  readonly commands: readonly Buffer[];
  /** The template could not be read (or over the limits): reported failed, nothing sent to the card. */
  readonly malformed?: boolean;
}

export interface IssuerResponse {
  /** 91 when present (8..16 bytes; method 1 is 10). */
  readonly authData?: Buffer;
  readonly scripts: readonly IssuerScript[];
}

/**
 * The host's field 55 as EMV reads it: 91 and the 71/72 templates, in the host's order. Unknown
 * tags are ignored; a 55 that is not BER-TLV gives nothing (no authentication data: the card's own
 * rules apply; no scripts). Scripts beyond ISSUER_SCRIPTS_MAX or beyond ISSUER_SCRIPTS_BYTES_MAX in
 * all are kept as malformed: reported, never run.
 */
export function parseIssuerResponse(field55: Buffer | undefined): IssuerResponse {
  if (field55 === undefined) return { scripts: [] };
  let top;
  try { top = parseTlv(field55); } catch { return { scripts: [] }; }
  let authData: Buffer | undefined;
  const scripts: IssuerScript[] = [];
  let bytes = 0;
  for (const t of top) {
    if (t.tag === 0x91 && authData === undefined) authData = t.value;
    if (t.tag !== 0x71 && t.tag !== 0x72) continue;
    bytes += t.value.length;
    const over = scripts.length >= ISSUER_SCRIPTS_MAX || bytes > ISSUER_SCRIPTS_BYTES_MAX;
    scripts.push(over ? { template: t.tag, id: scriptId(t.value), commands: [], malformed: true } : parseScript(t.tag, t.value));
  }
  return { ...(authData !== undefined ? { authData } : {}), scripts };
}

function scriptId(value: Buffer): Buffer {
  try {
    const id = parseTlv(value).find((t) => t.tag === 0x9f18)?.value;
    if (id?.length === SCRIPT_ID_BYTES) return Buffer.from(id);
  } catch { /* an unreadable template has no identifier */ }
  return Buffer.alloc(SCRIPT_ID_BYTES);
}

/** One 71/72 template: 9F18 (optional) and 86 commands of at least CLA INS P1 P2. */
export function parseScript(template: 0x71 | 0x72, value: Buffer): IssuerScript {
  const id = scriptId(value);
  try {
    const commands = parseTlv(value).filter((t) => t.tag === 0x86).map((t) => Buffer.from(t.value));
    const ok = commands.length >= 1 && commands.length <= SCRIPT_COMMANDS_MAX && commands.every((c) => c.length >= 4);
    return ok ? { template, id, commands } : { template, id, commands: [], malformed: true };
  } catch {
    return { template, id, commands: [], malformed: true };
  }
}

/** One DF31 entry. */
export function scriptResult(result: number, commandNo: number, id: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(result << 4) | (commandNo & 0x0f)]), id]);
}

function swOk(r: Buffer): boolean {
  // Book 3 §10.10: 90xx, 62xx and 63xx are the card's success; anything else stops the script.
  if (r.length < 2) return false;
  const sw1 = r[r.length - 2];
  return sw1 === 0x90 || sw1 === 0x62 || sw1 === 0x63;
}

/**
 * Runs a script's commands in order (Book 3 §10.10): the first that fails stops it, and DF31 names
 * it (failed, its number); all passed: done. A malformed script is failed at command 0, unsent.
 * A card that is pulled or cannot be reached throws (the caller reports what was not performed).
 */
export async function runIssuerScript(tx: Transmit, script: IssuerScript): Promise<Buffer> {
  if (script.malformed) return scriptResult(SCRIPT_FAILED, 0, script.id);
  for (let i = 0; i < script.commands.length; i++) {
    if (!swOk(await tx(script.commands[i]))) return scriptResult(SCRIPT_FAILED, i + 1, script.id);
  }
  return scriptResult(SCRIPT_DONE, 0, script.id);
}

export type IssuerAuthResult = 'ok' | 'failed' | 'in-cdol2' | 'not-performed';

/**
 * Book 3 §10.9: with 91 and a card whose AIP says it does issuer authentication, EXTERNAL
 * AUTHENTICATE (9000: passed; anything else: failed). A card that does not say so gets 91 in the
 * CDOL2 data when its CDOL2 asks for it, and judges it itself. 91 outside 8..16 bytes is failed.
 */
export async function issuerAuthentication(tx: Transmit, aip: Buffer, authData: Buffer | undefined, cdol2: Buffer): Promise<IssuerAuthResult> {
  if (authData === undefined) return 'not-performed';
  if (authData.length < ISSUER_AUTH_DATA_BYTES_MIN || authData.length > ISSUER_AUTH_DATA_BYTES_MAX) return 'failed';
  if ((aip[0] & AIP_ISSUER_AUTH) === 0) return parseDol(cdol2).some((e) => e.tag === 0x91) ? 'in-cdol2' : 'not-performed';
  const r = await tx(Buffer.concat([Buffer.from([0x00, 0x82, 0x00, 0x00, authData.length]), authData]));
  return r.length >= 2 && r[r.length - 2] === 0x90 && r[r.length - 1] === 0x00 ? 'ok' : 'failed';
}

/** The final GENERATE AC command (no CDA). */
export function secondGenerateAcCommand(cdol2Data: Buffer, want: 'TC' | 'AAC', cda = false): Buffer {
  if (cdol2Data.length < 1 || cdol2Data.length > 0xff) throw new PosError('RDR_UNREADABLE', `CDOL2 asks for ${cdol2Data.length} bytes`);
  const p1 = want === 'TC' ? GENAC_P1_TC | (cda ? GENAC_P1_CDA : 0) : GENAC_P1_AAC_FINAL;
  return Buffer.concat([Buffer.from([0x80, 0xae, p1, 0x00, cdol2Data.length]), cdol2Data, Buffer.from([0x00])]);
}

/** The first pass's state the online half needs (emv-kernel.ts KernelResult). */
export interface FirstPass {
  readonly aip: Buffer;
  /** The card's data objects (8D, the CDOL2, among them). */
  readonly card: ReadonlyMap<number, Buffer>;
  /** The terminal's data objects as sent with the first GENERATE AC (95 among them). */
  readonly terminal: ReadonlyMap<number, Buffer>;
  /** The first GENERATE AC's answer (9F26 9F27 9F36 9F10). */
  readonly ac: ReadonlyMap<number, Buffer>;
  /**
   * CDA performed at the first GENERATE AC (its signature verified): the final one asks for it
   * too, and its signature's transaction data hash covers the PDOL, CDOL1 and CDOL2 data.
   */
  readonly cda?: { readonly iccKey: RsaPublicKey; readonly pdolData: Buffer; readonly cdol1Data: Buffer };
}

/** What the host said; undefined `responseCode`: no usable answer (the terminal could not go online). */
export interface HostAnswer {
  readonly approved: boolean;
  readonly responseCode?: string;
  readonly field55?: Buffer;
}

export interface OnlineOutcome {
  /** What the terminal asked the card for at the final GENERATE AC (undefined: never got there). */
  readonly asked?: 'TC' | 'AAC';
  /** What the card answered; 'none' when it was pulled or could not answer. */
  readonly cryptogram: 'TC' | 'AAC' | 'none';
  readonly issuerAuth: IssuerAuthResult;
  /** DF31 for every script the host sent (empty: none sent, no notice owed). */
  readonly scriptResults: Buffer;
  /** Did any script fail (TVR byte 5 bits 6/5 set)? */
  readonly scriptFailed: boolean;
  /** TVR after issuer authentication and scripts. */
  readonly tvr: Buffer;
  /** 9B. */
  readonly tsi: Buffer;
  /** The final GENERATE AC's answer (9F26 9F27 9F36 9F10), or the first's when there was none. */
  readonly ac: ReadonlyMap<number, Buffer>;
  /** Why the card could not finish (pulled: RDR_CARD_REMOVED; nonsense: RDR_UNREADABLE). */
  readonly error?: PosError;
  /** CDA's signature with the final GENERATE AC's TC failed (TVR "CDA failed"): the outcome is a decline (AAC). */
  readonly cdaFailure?: OdaFailure;
}

/** An answer code as the ARC (8A, an2): 39 in ASCII. */
function arcOf(code: string | undefined): Buffer {
  return Buffer.from(code !== undefined && /^[0-9A-Z]{2}$/.test(code) ? code : ARC_UNABLE_ONLINE, 'ascii');
}

/**
 * The online half, in Book 3's order: scripts 71, issuer authentication, the final GENERATE AC
 * (TC when the host approved and issuer authentication did not fail, AAC otherwise: a decline, no
 * answer, or a failed ARPC), scripts 72. A script that cannot run because the card went away is
 * "not performed". Never throws for the card (a PosError of the reader becomes `error`); an
 * invariant or a storage error still throws.
 */
export async function completeOnline(tx: Transmit, first: FirstPass, host: HostAnswer): Promise<OnlineOutcome> {
  const issuer = host.responseCode === undefined ? { scripts: [] } : parseIssuerResponse(host.field55);
  const results: Buffer[] = issuer.scripts.map((s) => scriptResult(SCRIPT_NOT_PERFORMED, 0, s.id));
  const bits: TvrBit[] = [];
  const tsi = Buffer.alloc(2);
  let issuerAuth: IssuerAuthResult = 'not-performed';
  let asked: 'TC' | 'AAC' | undefined;
  let ac: ReadonlyMap<number, Buffer> = first.ac;
  let cryptogram: OnlineOutcome['cryptogram'] = 'none';
  let error: PosError | undefined;
  let cdaFailure: OdaFailure | undefined;
  const runScripts = async (template: 0x71 | 0x72, failedBit: TvrBit): Promise<void> => {
    for (let i = 0; i < issuer.scripts.length; i++) {
      if (issuer.scripts[i].template !== template) continue;
      tsi[0] |= TSI_SCRIPT_PERFORMED;
      results[i] = await runIssuerScript(tx, issuer.scripts[i]);
      if (results[i][0] >> 4 === SCRIPT_FAILED) bits.push(failedBit);
    }
  };
  const cdol2 = first.card.get(0x8d) ?? DEFAULT_CDOL2;
  try {
    await runScripts(0x71, TVR.scriptFailedBeforeFinalAc);
    issuerAuth = await issuerAuthentication(tx, first.aip, issuer.authData, cdol2);
    if (issuerAuth !== 'not-performed') tsi[0] |= TSI_ISSUER_AUTH_PERFORMED;
    if (issuerAuth === 'failed') bits.push(TVR.issuerAuthenticationFailed);
    asked = host.approved && issuerAuth !== 'failed' ? 'TC' : 'AAC';
    const terminal = new Map(first.terminal);
    terminal.set(0x95, withTvrBits(first.terminal.get(0x95) ?? Buffer.alloc(5), bits)).set(0x8a, arcOf(host.responseCode));
    if (issuer.authData !== undefined) terminal.set(0x91, issuer.authData);
    const cdol2Data = dolData(cdol2, terminal);
    const cda = asked === 'TC' ? first.cda : undefined;
    const r = await tx(secondGenerateAcCommand(cdol2Data, asked, cda !== undefined));
    if (r.length < 2 || r[r.length - 2] !== 0x90 || r[r.length - 1] !== 0x00) throw new PosError('RDR_UNREADABLE', 'the final GENERATE AC was refused');
    const data = r.subarray(0, r.length - 2);
    const answer = cda === undefined ? parseGenerateAc(data) : parseCdaGenerateAc(data);
    // Book 2 §6.6.2 at the final GENERATE AC: a TC whose CDA signature fails is not a TC (Book 3 §10.8: AAC).
    cdaFailure = cda === undefined ? undefined : checkCda(cda.iccKey, data, answer, { unpredictableNumber: first.terminal.get(0x9f37) as Buffer, pdolData: cda.pdolData, cdol1Data: cda.cdol1Data, cdol2Data });
    if (cdaFailure !== undefined) bits.push(...odaFailureTvr('cda', cdaFailure));
    ac = answer;
    const kind = cryptogramType(ac.get(0x9f27) as Buffer);
    // An ARQC at the final GENERATE AC is not an answer a card may give (Book 3 §9.3): a decline.
    cryptogram = kind === 'TC' && asked === 'TC' && cdaFailure === undefined ? 'TC' : 'AAC';
    await runScripts(0x72, TVR.scriptFailedAfterFinalAc);
  } catch (e) {
    if (!isPosError(e) || e.kind === 'invariant') throw e;
    error = e;
  }
  const tvr = withTvrBits(first.terminal.get(0x95) ?? Buffer.alloc(5), bits);
  return {
    ...(asked !== undefined ? { asked } : {}), cryptogram, issuerAuth, scriptResults: Buffer.concat(results),
    scriptFailed: results.some((x) => x[0] >> 4 === SCRIPT_FAILED), tvr, tsi, ac, ...(error !== undefined ? { error } : {}), ...(cdaFailure !== undefined ? { cdaFailure } : {}),
  };
}

/**
 * A chip card kept in the reader after its ARQC (card.ts, CardRequest.holdCard), for the sale to
 * finish with once the host answered. `complete` runs completeOnline and releases the card;
 * `release` lets it go without (the sale never reached the host). Both at most once in effect.
 */
export interface ChipOnline {
  complete(host: HostAnswer): Promise<{ readonly first: FirstPass; readonly outcome: OnlineOutcome }>;
  release(): Promise<void>;
}

/** ChipOnline over a transmit function and the reader's release. */
export function chipOnline(tx: Transmit, first: FirstPass, release: () => Promise<void>): ChipOnline {
  let released = false;
  const letGo = async (): Promise<void> => {
    if (released) return;
    released = true;
    await release().catch(() => undefined);
  };
  return {
    async complete(host) {
      if (released) return { first, outcome: { cryptogram: 'none', issuerAuth: 'not-performed', scriptResults: Buffer.alloc(0), scriptFailed: false, tvr: first.terminal.get(0x95) ?? Buffer.alloc(5), tsi: Buffer.alloc(2), ac: first.ac, error: new PosError('RDR_CARD_REMOVED', 'the card was released before the host answered') } };
      try {
        return { first, outcome: await completeOnline(tx, first, host) };
      } finally {
        await letGo();
      }
    },
    release: letGo,
  };
}

/** The tags of the 0620's field 55 (docs/PROTOCOL.md), in the profile's order; DF31 is added by the sender. */
export const NOTICE_FIELD55_TAGS: readonly number[] = [0x9f33, 0x95, 0x9f37, 0x9f1e, 0x9f10, 0x9f26, 0x9f36, 0x82, 0x9f1a, 0x9a];

/** The values the 0620 reports (the final cryptogram, the TVR after the scripts), before the allow-list. */
export function noticeValues(first: FirstPass, outcome: OnlineOutcome): Map<number, Buffer> {
  const all = new Map<number, Buffer>([...first.terminal, [0x82, first.aip], ...first.ac, ...outcome.ac, [0x95, outcome.tvr]]);
  return new Map(NOTICE_FIELD55_TAGS.filter((t) => all.has(t)).map((t) => [t, all.get(t) as Buffer]));
}

/** The 0620's field 55 in the profile's order (docs/PROTOCOL.md, issuer script result notice): DF31 after 82. */
const NOTICE_FIELD55_ORDER: readonly number[] = [0x9f33, 0x95, 0x9f37, 0x9f1e, 0x9f10, 0x9f26, 0x9f36, 0x82, 0xdf31, 0x9f1a, 0x9a];

/** The 0620's field 55: the allow-listed part (already sanitised, from the journal) and DF31, in the profile's order. */
export function noticeField55(sanitized: Buffer, scriptResults: Buffer): Buffer {
  const values = primitives(sanitized);
  values.set(0xdf31, scriptResults);
  return Buffer.concat(NOTICE_FIELD55_ORDER.filter((t) => values.has(t)).map((t) => encodeTlv(t, values.get(t) as Buffer)));
}

/** DF31 read back (tests, the simulator): result, failing command and identifier per script. */
export function readScriptResults(df31: Buffer): Array<{ result: number; command: number; id: string }> {
  const out: Array<{ result: number; command: number; id: string }> = [];
  for (let i = 0; i + SCRIPT_RESULT_BYTES <= df31.length; i += SCRIPT_RESULT_BYTES) {
    out.push({ result: df31[i] >> 4, command: df31[i] & 0x0f, id: df31.subarray(i + 1, i + SCRIPT_RESULT_BYTES).toString('hex').toUpperCase() });
  }
  return out;
}


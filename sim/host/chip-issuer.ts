/**
 * The acquirer simulator's issuer for chip sales (docs/PROTOCOL.md "Chip cards: issuer
 * authentication and scripts", the profile's last section): it verifies the ARQC in field 55 under
 * the card key derived from the test issuer master key, and answers approvals with 91 (ARPC method 1
 * ‖ ARC) and, on command (faults.ts `wrong-arpc`, `issuer-script`), a wrong ARPC or an issuer script
 * whose commands carry a MAC under the card key.
 *
 *   psnOf          the profile's PSN rule: 5F34 when 55 carries it, else the last two digits of
 *                  field 23, else 00
 *   verifyArqc     card key by option A, ARQC input (9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36),
 *                  MAC algorithm 3 under the card key ("in this profile the session key is the card key")
 *   issuerField55  91 and the 71/72 templates of the 0210
 *
 * Keys and cryptograms are never logged.
 */
import { primitives, encodeTlv } from '../../runtime/txn/emv';
import {
  AC_INPUT_TAGS, acInput, arpcMethod1, deriveIccMasterKeyOptionA, issuerAuthenticationData, issuerScriptCommand, verifyApplicationCryptogram,
} from '../../runtime/txn/emv-issuer-auth';
import { ScriptFault } from './faults';

/** docs/PROTOCOL.md: the test issuer master key (simulator and test hosts only). */
export const SIM_ISSUER_MASTER_KEY = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
/** The code a host that cannot verify an ARQC answers (the profile). */
export const CODE_ARQC_FAILED = '05';
/** PUT DATA's test object: 9F58 (lower consecutive offline limit) = 05. */
const PUT_DATA_TAG = 0x9f58;
const PUT_DATA_VALUE = Buffer.from([0x05]);

/** The profile's PSN: 5F34 when 55 carries it, else the last two digits of field 23, else 00. */
export function psnOf(values: ReadonlyMap<number, Buffer>, field23: string | undefined): string {
  const psn = values.get(0x5f34);
  if (psn?.length === 1) return psn.toString('hex').padStart(2, '0');
  if (field23 !== undefined && /^\d{2,3}$/.test(field23)) return field23.slice(-2);
  return '00';
}

export type ArqcCheck =
  | { readonly ok: true; readonly cardKey: Buffer; readonly arqc: Buffer; readonly atc: Buffer }
  | { readonly ok: false; readonly reason: 'no-pan' | 'data-missing' | 'mismatch' | 'not-an-arqc' };

/**
 * The ARQC of a chip sale's field 55, verified under the card key of `pan` (field 2) and the PSN
 * rule. `tcToo` (a tapped card, entry mode 07x): a qPBOC card's TC sent online because its fDDA
 * failed (runtime/txn/emv-qpboc.ts) is verified the same way; an inserted card's must be an ARQC.
 */
export function verifyArqc(imk: Buffer, pan: string | undefined, field23: string | undefined, field55: Buffer, tcToo = false): ArqcCheck {
  if (pan === undefined || !/^\d{12,19}$/.test(pan)) return { ok: false, reason: 'no-pan' };
  let values: Map<number, Buffer>;
  try { values = primitives(field55); } catch { return { ok: false, reason: 'data-missing' }; }
  const arqc = values.get(0x9f26), atc = values.get(0x9f36), cid = values.get(0x9f27);
  if (cid !== undefined && (cid[0] & 0xc0) !== 0x80 && !(tcToo && (cid[0] & 0xc0) === 0x40)) return { ok: false, reason: 'not-an-arqc' };
  const input = acInput(values, AC_INPUT_TAGS);
  if (arqc?.length !== 8 || atc?.length !== 2 || input === undefined) return { ok: false, reason: 'data-missing' };
  const cardKey = deriveIccMasterKeyOptionA(imk, pan, psnOf(values, field23));
  return verifyApplicationCryptogram(cardKey, input, arqc) ? { ok: true, cardKey, arqc, atc } : { ok: false, reason: 'mismatch' };
}

function scriptCommand(cardKey: Buffer, atc: Buffer, arqc: Buffer, kind: ScriptFault['command']): Buffer {
  if (kind === 'block') return issuerScriptCommand(cardKey, { cla: 0x84, ins: 0x1e, p1: 0, p2: 0 }, atc, arqc);
  if (kind === 'put-data') return issuerScriptCommand(cardKey, { cla: 0x04, ins: 0xda, p1: PUT_DATA_TAG >> 8, p2: PUT_DATA_TAG & 0xff, data: PUT_DATA_VALUE }, atc, arqc);
  const cmd = issuerScriptCommand(cardKey, { cla: 0x84, ins: 0x24, p1: 0, p2: 0 }, atc, arqc);
  if (kind === 'bad-mac') cmd[cmd.length - 1] ^= 0xff;
  return cmd;
}

/**
 * Field 55 of an approval: 91 = ARPC (method 1, under the card key, over the ARQC and ARC = 39 in
 * ASCII) ‖ ARC, its ARPC's first byte flipped for `wrongArpc`; then one template per script
 * asked for, each with its 9F18 (`firstScriptId`, counting up) and one 86 command.
 */
export function issuerField55(check: Extract<ArqcCheck, { ok: true }>, responseCode: string, opts: { wrongArpc?: boolean; scripts?: readonly ScriptFault[]; firstScriptId?: number } = {}): Buffer {
  const arc = Buffer.from(responseCode, 'ascii');
  const arpc = arpcMethod1(check.cardKey, check.arqc, arc);
  if (opts.wrongArpc) arpc[0] ^= 0xff;
  const parts = [encodeTlv(0x91, issuerAuthenticationData(arpc, arc))];
  let id = opts.firstScriptId ?? 1;
  for (const s of opts.scripts ?? []) {
    const scriptId = Buffer.alloc(4);
    scriptId.writeUInt32BE(id++ >>> 0);
    parts.push(encodeTlv(s.template, Buffer.concat([encodeTlv(0x9f18, scriptId), encodeTlv(0x86, scriptCommand(check.cardKey, check.atc, check.arqc, s.command))])));
  }
  return Buffer.concat(parts);
}

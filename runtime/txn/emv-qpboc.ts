/**
 * qPBOC, UnionPay's contactless kernel (JR/T 0025.12; the same shape as Visa's qVSDC, EMV Book
 * C-3): the card answers GET PROCESSING OPTIONS with its cryptogram, so the terminal's decisions
 * are made before the tap, in the Terminal Transaction Qualifiers (9F66) the PDOL asks for:
 *
 *   prepareContactless   pre-processing per selected AID (Book A/B §3.1.1): amount at or over the
 *                        contactless transaction limit → E-RDR-13 (insert or swipe); over the
 *                        contactless floor limit, or the terminal may not approve offline now →
 *                        "online cryptogram required"; at or over the CVM required limit →
 *                        "CVM required"
 *   qpbocOutcome         after the GPO answer with 9F26/9F27 and READ RECORD by the AFL:
 *                        AAC → declined (the caller: E-RDR-08);
 *                        ARQC → online, CVM from the CTQ (9F6C): online PIN when the card wants it
 *                        and a CVM is required, signature when it wants that, else no CVM;
 *                        TC → fDDA (9F4B from the GPO answer over 9F37 ‖ 9F02 ‖ 5F2A ‖ 9F69, the
 *                        ICC key recovered from the downloaded CA key): passed → approved offline;
 *                        failed → online with the card's cryptogram when the CTQ says "go online
 *                        if ODA fails" (the terminal is online capable), the contact interface
 *                        when it says "switch interface" (E-RDR-13), else declined (E-RDR-09)
 *
 * A tapped card has left the field when the host answers: no second GENERATE AC, no scripts. The
 * cryptogram covers the 95 the terminal sent in the PDOL (before any ODA), so field 55 carries that
 * 95; an fDDA failure is in the read's `chip` (TVR with "DDA failed") and in the engine's log.
 * Nothing here logs or stores card data.
 */
import { PosError } from '../../common/errors';
import { CID_AAC, CID_ARQC, CID_TC, CardRequest } from './emv';
import type { CvmMethod } from './emv-cvm';
import type { KernelResult, OdaInput, OdaOutcome, ProcessingOptions, SelectedApp } from './emv-kernel';
import { recoverCardKeys } from './emv-kernel';
import { fddaTerminalData, odaFailureTvr, verifyDynamicSignature } from './emv-oda';
import { TVR, withTvrBits } from './emv-tvr';

/** TTQ byte 1 (JR/T 0025.12 Annex; Visa TTQ): qPBOC supported, contact chip supported, online PIN and signature supported. */
export const TTQ_BYTE1 = 0x20 | 0x10 | 0x04 | 0x02;
/** TTQ byte 2 b8: online cryptogram required; b7: CVM required. */
export const TTQ2_ONLINE_REQUIRED = 0x80;
export const TTQ2_CVM_REQUIRED = 0x40;
/** CTQ (9F6C) byte 1 bits. */
export const CTQ_ONLINE_PIN = 0x80;
export const CTQ_SIGNATURE = 0x40;
export const CTQ_ONLINE_IF_ODA_FAILS = 0x20;
export const CTQ_CONTACT_IF_ODA_FAILS = 0x10;
/** 9F34 for the qPBOC CVMs (Book 3 Annex C4): online PIN, signature, no CVM performed; result unknown / successful. */
const CVM_RESULTS: Readonly<Record<CvmMethod & ('online-pin' | 'signature' | 'no-cvm'), string>> = { 'online-pin': '420300', signature: '1E0300', 'no-cvm': '1F0002' };

function useContact(message: string, detail: Record<string, unknown> = {}): PosError {
  return new PosError('RDR_USE_CONTACT', message, detail);
}

/**
 * Pre-processing for the selected application, before its GPO: the TTQ in `terminal` (9F66),
 * or E-RDR-13 when the amount is not for contactless at all.
 */
export function prepareContactless(app: SelectedApp, request: CardRequest, terminal: Map<number, Buffer>): void {
  const p = app.params;
  if (request.amountFen >= p.clTxnLimitFen) throw useContact(`amount at or over the contactless transaction limit (${p.clTxnLimitFen} fen)`);
  let byte2 = 0;
  if (request.offlineAllowed !== true || request.amountFen > p.clFloorLimitFen) byte2 |= TTQ2_ONLINE_REQUIRED;
  if (request.amountFen >= p.cvmRequiredLimitFen) byte2 |= TTQ2_CVM_REQUIRED;
  terminal.set(0x9f66, Buffer.from([TTQ_BYTE1, byte2, 0x00, 0x00]));
}

/** True when the GPO answer carries a cryptogram: the card ran qPBOC. */
export function isQpbocAnswer(options: ProcessingOptions): boolean {
  return options.answer.has(0x9f27) && options.answer.has(0x9f26);
}

/** The contactless CVM (qPBOC §7.7): what the card wants (CTQ) when the reader said a CVM is required. */
export function qpbocCvm(ttq: Buffer, ctq: Buffer | undefined, online: boolean): 'online-pin' | 'signature' | 'no-cvm' {
  if ((ttq[1] & TTQ2_CVM_REQUIRED) === 0) return 'no-cvm';
  const c = ctq?.[0] ?? 0;
  if (online && (c & CTQ_ONLINE_PIN) !== 0) return 'online-pin';
  return 'signature';
}

/** fDDA (qPBOC §7.8, Book 2 §6.5.2 with the fDDA terminal data): the ICC key from the records, 9F4B from the GPO answer. */
export function fdda(input: OdaInput, answer: ReadonlyMap<number, Buffer>): OdaOutcome {
  const failed = (failure: Parameters<typeof odaFailureTvr>[1]): OdaOutcome => ({ method: 'fdda', failure, tvr: odaFailureTvr('fdda', failure) });
  const keys = recoverCardKeys(input, true);
  if (!keys.ok) return failed(keys.reason);
  const values = new Map(input.terminal);
  const cardAuth = input.card.get(0x9f69);
  if (cardAuth !== undefined) values.set(0x9f69, cardAuth);
  const signed = fddaTerminalData(values);
  if (signed === undefined) return failed('data-missing');
  const sig = verifyDynamicSignature(keys.value.icc as NonNullable<typeof keys.value.icc>, answer.get(0x9f4b), signed);
  return sig.ok ? { method: 'fdda', tvr: [] } : failed(sig.reason);
}

export interface QpbocRead {
  readonly app: SelectedApp;
  readonly options: ProcessingOptions;
  readonly card: Map<number, Buffer>;
  readonly odaInput: OdaInput;
  readonly terminal: Map<number, Buffer>;
}

/**
 * What the terminal does with a qPBOC card's answer (see the top of this file). Returns the
 * kernel's result for card.ts; throws E-RDR-13 (contact interface) or E-RDR-09 (fDDA failed and
 * the card does not allow going online).
 */
export function qpbocOutcome(q: QpbocRead): KernelResult {
  const answer = q.options.answer;
  const cid = answer.get(0x9f27) as Buffer;
  const ac = new Map<number, Buffer>();
  for (const tag of [0x9f26, 0x9f27, 0x9f36, 0x9f10]) {
    const v = answer.get(tag);
    if (v !== undefined) ac.set(tag, v);
  }
  if (ac.get(0x9f36)?.length !== 2 || ac.get(0x9f26)?.length !== 8 || cid.length !== 1) throw new PosError('RDR_UNREADABLE', 'qPBOC GPO answer lacks the ATC or cryptogram');
  const ttq = q.terminal.get(0x9f66) as Buffer;
  const ctq = answer.get(0x9f6c) ?? q.card.get(0x9f6c);
  const kind = cid[0] & 0xc0;
  const base = { app: q.app, options: q.options, card: q.card, terminal: q.terminal, ac, qpboc: true } as const;
  if (kind === CID_AAC) return { ...base, oda: { method: 'none', tvr: [] }, asked: 'ARQC', cvm: 'no-cvm' };
  if (kind === CID_ARQC) return { ...base, ...withCvm(q, qpbocCvm(ttq, ctq, true)), oda: { method: 'none', tvr: [TVR.odaNotPerformed] }, asked: 'ARQC' };
  if (kind !== CID_TC) throw new PosError('RDR_UNREADABLE', 'qPBOC cryptogram of an unknown type');
  // A TC although the reader asked for an online cryptogram: the card does not follow qPBOC.
  if ((ttq[1] & TTQ2_ONLINE_REQUIRED) !== 0) throw new PosError('RDR_UNREADABLE', 'qPBOC card approved offline although the terminal asked for an online cryptogram');
  const oda = fdda(q.odaInput, answer);
  if (oda.failure === undefined) return { ...base, ...withCvm(q, qpbocCvm(ttq, ctq, false)), oda, asked: 'TC', offlineApproved: true };
  const c = ctq?.[0] ?? 0;
  // The terminal is online capable; the card's CTQ says what a failed fDDA means.
  if ((c & CTQ_ONLINE_IF_ODA_FAILS) !== 0) return { ...base, ...withCvm(q, qpbocCvm(ttq, ctq, true)), oda, asked: 'ARQC' };
  if ((c & CTQ_CONTACT_IF_ODA_FAILS) !== 0) throw useContact(`fDDA failed (${oda.failure}); the card asks for its contact interface`, { oda: 'fdda', reason: oda.failure });
  throw new PosError('RDR_ODA_DECLINED', `offline data authentication (fdda) failed: ${oda.failure}; declined offline`, { oda: 'fdda', reason: oda.failure });
}

/** The CVM chosen, with its 9F34 set in the terminal data (field 55 carries it). */
function withCvm(q: QpbocRead, cvm: 'online-pin' | 'signature' | 'no-cvm'): { cvm: CvmMethod } {
  q.terminal.set(0x9f34, Buffer.from(CVM_RESULTS[cvm], 'hex'));
  return { cvm };
}

/** The TVR for the read's `chip` record: what the terminal found (fDDA), beside the 95 the card signed. */
export function qpbocTvr(k: KernelResult): string {
  return withTvrBits(Buffer.alloc(5), k.oda.tvr).toString('hex').toUpperCase();
}

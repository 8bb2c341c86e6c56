/**
 * Cardholder verification by the card's CVM list (tag 8E), EMV 4.3 Book 3 §10.5 and Annex C3:
 * amount X and Y, then two-byte rules (CVM code with its "apply succeeding rule if this fails"
 * bit, and a condition), walked in order until a CVM is chosen or the list is exhausted.
 *
 * A pure function: what the terminal supports, the transaction, and what happened at the PIN pad
 * (a bypassed PIN, a broken pad) are inputs; the chosen method, the CVM Results (9F34) and the TVR
 * bits are the output. This terminal performs online PIN, signature and no CVM; offline PIN and
 * anything else it does not support are skipped the way Book 3 says ("not supported").
 */
import { TVR, TvrBit } from './emv-tvr';

export type CvmMethod = 'fail' | 'offline-plain-pin' | 'online-pin' | 'offline-plain-pin-and-signature' | 'offline-enciphered-pin'
  | 'offline-enciphered-pin-and-signature' | 'signature' | 'no-cvm';

/** Book 3 Annex C3, table 39: CVM codes (bits 6–1 of a rule's first byte). */
const CVM_CODES: Readonly<Record<number, CvmMethod>> = {
  0x00: 'fail', 0x01: 'offline-plain-pin', 0x02: 'online-pin', 0x03: 'offline-plain-pin-and-signature',
  0x04: 'offline-enciphered-pin', 0x05: 'offline-enciphered-pin-and-signature', 0x1e: 'signature', 0x1f: 'no-cvm',
};
const CVM_CODE_MASK = 0x3f;
const APPLY_SUCCEEDING = 0x40;
/** CVM Results byte 1 when no CVM was performed. */
const CVM_NOT_PERFORMED = 0x3f;
const AMOUNT_FIELD_BYTES = 4;
const RULE_BYTES = 2;
/** A CVM list may hold at most this many rules (8E is at most 252 bytes: 8 + 2 × 122). */
export const CVM_RULES_MAX = 122;

/** CVM Results byte 3 (Book 3 Annex A, 9F34). */
export const CVM_RESULT = Object.freeze({ unknown: 0x00, failed: 0x01, successful: 0x02 });

export interface CvmContext {
  /** Amount authorised, in the transaction currency's minor unit (fen). */
  readonly amountMinor: number;
  /** True when the transaction currency (5F2A) is the application currency (9F42): X and Y apply only then. */
  readonly inApplicationCurrency: boolean;
  readonly kind: 'purchase' | 'cash' | 'manual-cash' | 'cashback';
  readonly unattended: boolean;
  /** The CVMs this terminal can perform (from its capabilities, 9F33 byte 2). */
  readonly supported: ReadonlySet<CvmMethod>;
  /** The PIN pad is out of order (Book 3: "PIN pad not present or not working"). */
  readonly pinPadBroken?: boolean;
  /** The cardholder or the cashier bypassed PIN entry. */
  readonly pinBypassed?: boolean;
}

export interface CvmOutcome {
  /** The CVM to perform, or undefined when cardholder verification failed or was not performed. */
  readonly method?: CvmMethod;
  /** 9F34: CVM performed, condition, result. */
  readonly cvmResults: Buffer;
  readonly tvr: readonly TvrBit[];
  /** True when the receipt needs a signature line. */
  readonly signature: boolean;
}

interface Rule { readonly cvm: number; readonly condition: number }

function parseList(list: Buffer): { x: number; y: number; rules: Rule[] } | undefined {
  const header = 2 * AMOUNT_FIELD_BYTES;
  if (list.length < header || (list.length - header) % RULE_BYTES !== 0) return undefined;
  const rules: Rule[] = [];
  for (let i = header; i < list.length && rules.length < CVM_RULES_MAX; i += RULE_BYTES) rules.push({ cvm: list[i], condition: list[i + 1] });
  return { x: list.readUInt32BE(0), y: list.readUInt32BE(AMOUNT_FIELD_BYTES), rules };
}

/**
 * Book 3 Annex C3, table 40: is the rule's condition met? Undefined for a condition code this
 * terminal does not know (the rule is then skipped, as for a condition not met).
 */
export function cvmConditionMet(condition: number, x: number, y: number, ctx: CvmContext, method: CvmMethod | undefined): boolean | undefined {
  const amountRule = (limit: number, over: boolean): boolean => ctx.inApplicationCurrency && (over ? ctx.amountMinor > limit : ctx.amountMinor < limit);
  switch (condition) {
    case 0x00: return true;
    case 0x01: return ctx.unattended && ctx.kind === 'cash';
    case 0x02: return !(ctx.unattended && ctx.kind === 'cash') && ctx.kind !== 'manual-cash' && ctx.kind !== 'cashback';
    case 0x03: return method !== undefined && ctx.supported.has(method);
    case 0x04: return ctx.kind === 'manual-cash';
    case 0x05: return ctx.kind === 'cashback';
    case 0x06: return amountRule(x, false);
    case 0x07: return amountRule(x, true);
    case 0x08: return amountRule(y, false);
    case 0x09: return amountRule(y, true);
    default: return undefined;
  }
}

function results(cvm: number, condition: number, result: number): Buffer {
  return Buffer.from([cvm, condition, result]);
}

const PIN_METHODS: ReadonlySet<CvmMethod> = new Set(['online-pin', 'offline-plain-pin', 'offline-enciphered-pin', 'offline-plain-pin-and-signature', 'offline-enciphered-pin-and-signature']);

/** Whether a supported method can be performed now, and the TVR bits it sets if not (Book 3 §10.5.2 / 10.5.3). */
function performable(method: CvmMethod, ctx: CvmContext): { ok: boolean; tvr: TvrBit[] } {
  if (!PIN_METHODS.has(method)) return { ok: method !== 'fail', tvr: [] };
  if (ctx.pinPadBroken) return { ok: false, tvr: [TVR.pinPadMissing] };
  if (ctx.pinBypassed) return { ok: false, tvr: [TVR.pinNotEntered] };
  return { ok: true, tvr: method === 'online-pin' ? [TVR.onlinePinEntered] : [] };
}

/**
 * Book 3 §10.5: walk the CVM list. No list (or no rules): not performed, 9F34 3F0000, ICC data
 * missing. A rule whose condition is unknown or unmet is skipped. A satisfied rule with an
 * unrecognised code sets "unrecognised CVM"; an unsupported or failed CVM (and "fail CVM
 * processing", which always fails) falls through to the next rule only when its "apply
 * succeeding" bit is set, else verification fails. The end of the
 * list without success fails verification (9F34 3F0001 when no condition was met).
 */
export function processCvmList(list: Buffer | undefined, ctx: CvmContext): CvmOutcome {
  const parsed = list === undefined ? undefined : parseList(list);
  if (parsed === undefined || parsed.rules.length === 0) {
    return { cvmResults: results(CVM_NOT_PERFORMED, 0, CVM_RESULT.unknown), tvr: [TVR.iccDataMissing], signature: false };
  }
  const tvr: TvrBit[] = [];
  let last: Buffer | undefined;
  for (const rule of parsed.rules) {
    const method = CVM_CODES[rule.cvm & CVM_CODE_MASK];
    if (cvmConditionMet(rule.condition, parsed.x, parsed.y, ctx, method) !== true) continue;
    const succeeding = (rule.cvm & APPLY_SUCCEEDING) !== 0;
    if (method === undefined) {
      tvr.push(TVR.unrecognisedCvm);
    } else if (method !== 'fail' && ctx.supported.has(method)) {
      const p = performable(method, ctx);
      tvr.push(...p.tvr);
      if (p.ok) {
        const result = method === 'no-cvm' ? CVM_RESULT.successful : CVM_RESULT.unknown;
        return { method, cvmResults: results(rule.cvm, rule.condition, result), tvr, signature: method.includes('signature') };
      }
    }
    last = results(rule.cvm, rule.condition, CVM_RESULT.failed);
    if (!succeeding) break;
  }
  tvr.push(TVR.cvmNotSuccessful);
  return { cvmResults: last ?? results(CVM_NOT_PERFORMED, 0, CVM_RESULT.failed), tvr, signature: false };
}

/**
 * Misbehaviour the acquirer simulator can be told to show, so the terminal's handling of each
 * can be tested: a fault applies to the next `count` requests that match its filter.
 *
 * Command-line form (`pos host-sim --fault ...`, or a `fault ...` line on its stdin):
 *   kind[:arg][,count=N|always][,mti=0200][,type=sale]
 * e.g. `delay:3000`, `response-code:51,count=2,type=sale`, `close-mid-response`, `unbalanced-settlement`.
 *
 * Version 2 messages are matched by `type=` like any other (e.g. `response-code:94,type=offlineAdvice`).
 * Two kinds exist for them only: `qr-wait-forever` (every QR sale and QR query is answered P1,
 * waiting) and `param-out-of-range` (a parameter download is answered 00 with a 62 carrying DF12 = 5,
 * outside its range, which the terminal must refuse whole). They use up their count only on those
 * messages. `ca-key-bad-check`: each CA key answered (370 with 62) carries a SHA-1 check value that
 * does not match its key; the list request uses up a count too, so give it `count=always`.
 *
 * Chip sales and pre-authorizations (issue 11), used up by those only: `wrong-arpc` approves with a 91 whose ARPC is not
 * the card's (the terminal's issuer authentication fails: AAC and a reversal); `issuer-script:T-C`
 * approves with an issuer script in template T (71 before the final GENERATE AC, 72 after) of
 * command C: `pin-unblock`, `block` (APPLICATION BLOCK), `put-data` (9F58 = 05), or `bad-mac` (a PIN
 * unblock whose MAC is wrong: the card refuses it, the script fails), e.g. `issuer-script:72-block`.
 */
import { REQUEST_TYPES, RequestType } from '../../runtime/host/fields';

export type FaultKind =
  | 'delay'
  | 'close-before-response'
  | 'close-mid-response'
  | 'bad-mac'
  | 'response-code'
  | 'unbalanced-settlement'
  | 'duplicate'
  | 'garbage'
  | 'qr-wait-forever'
  | 'param-out-of-range'
  | 'ca-key-bad-check'
  | 'wrong-arpc'
  | 'issuer-script';

export const FAULT_KINDS: readonly FaultKind[] = [
  'delay', 'close-before-response', 'close-mid-response', 'bad-mac', 'response-code', 'unbalanced-settlement', 'duplicate', 'garbage',
  'qr-wait-forever', 'param-out-of-range', 'ca-key-bad-check', 'wrong-arpc', 'issuer-script',
];

/** The script commands `issuer-script` can send (sim/emv-card.ts answers each). */
export type ScriptCommandKind = 'pin-unblock' | 'block' | 'put-data' | 'bad-mac';
export const SCRIPT_COMMAND_KINDS: readonly ScriptCommandKind[] = ['pin-unblock', 'block', 'put-data', 'bad-mac'];
/** `issuer-script`'s argument: the template (71 before, 72 after the final GENERATE AC) and the command. */
export interface ScriptFault { readonly template: 0x71 | 0x72; readonly command: ScriptCommandKind }

export interface FaultSpec {
  readonly kind: FaultKind;
  /** delay: how long to hold the response. */
  readonly delayMs?: number;
  /** response-code: the 39 to answer with (the host then does nothing else). */
  readonly code?: string;
  /** How many matching requests it applies to; default 1; Infinity until cleared. */
  readonly count?: number;
  /** Only requests with this MTI. */
  readonly mti?: string;
  /** Only requests of this type. */
  readonly type?: RequestType;
  /** issuer-script: which script. */
  readonly script?: ScriptFault;
}

/** Longest delay a fault may ask for: enough to outlast any terminal timeout. */
export const FAULT_DELAY_MS_MAX = 600_000;
/** Active faults at once. */
export const FAULTS_MAX = 64;

export class FaultSpecError extends Error {}

export function validateFault(spec: FaultSpec): FaultSpec {
  if (!FAULT_KINDS.includes(spec.kind)) throw new FaultSpecError(`unknown fault kind "${spec.kind}" (one of ${FAULT_KINDS.join(', ')})`);
  if (spec.kind === 'delay' && !(Number.isInteger(spec.delayMs) && (spec.delayMs as number) >= 0 && (spec.delayMs as number) <= FAULT_DELAY_MS_MAX)) {
    throw new FaultSpecError(`delay needs delayMs 0..${FAULT_DELAY_MS_MAX}`);
  }
  if (spec.kind === 'response-code' && !/^[0-9A-Z]{2}$/.test(spec.code ?? '')) throw new FaultSpecError('response-code needs a 2-character code');
  if (spec.kind === 'issuer-script' && !(spec.script !== undefined && (spec.script.template === 0x71 || spec.script.template === 0x72) && SCRIPT_COMMAND_KINDS.includes(spec.script.command))) {
    throw new FaultSpecError(`issuer-script needs 71-C or 72-C, C one of ${SCRIPT_COMMAND_KINDS.join(', ')}`);
  }
  const count = spec.count ?? 1;
  if (!(count === Infinity || (Number.isInteger(count) && count >= 1))) throw new FaultSpecError('count must be a positive integer or always');
  if (spec.mti !== undefined && !/^[0-9]{4}$/.test(spec.mti)) throw new FaultSpecError('mti must be 4 digits');
  if (spec.type !== undefined && !REQUEST_TYPES.includes(spec.type)) throw new FaultSpecError(`type must be one of ${REQUEST_TYPES.join(', ')}`);
  return { ...spec, count };
}

/** Parses the command-line form. */
export function parseFaultSpec(text: string): FaultSpec {
  const [head, ...options] = text.trim().split(',');
  const [kind, arg] = head.split(':');
  let spec: { -readonly [K in keyof FaultSpec]: FaultSpec[K] } = { kind: kind as FaultKind };
  if (arg !== undefined) {
    if (kind === 'delay') spec.delayMs = Number(arg);
    else if (kind === 'response-code') spec.code = arg.toUpperCase();
    else if (kind === 'issuer-script') {
      const template = arg.slice(0, 2), command = arg.slice(3);
      // An unknown template is left 0 for validateFault to refuse with the message that says the form.
      spec.script = { template: template === '71' ? 0x71 : template === '72' ? 0x72 : (0 as 0x71), command: command as ScriptCommandKind };
    }
    else throw new FaultSpecError(`fault ${kind} takes no argument`);
  }
  for (const option of options) {
    const [key, value] = option.split('=');
    if (key === 'count') spec.count = value === 'always' ? Infinity : Number(value);
    else if (key === 'mti') spec.mti = value;
    else if (key === 'type') spec.type = value as RequestType;
    else throw new FaultSpecError(`unknown fault option "${key}"`);
  }
  spec = validateFault(spec);
  return spec;
}

interface ActiveFault {
  readonly spec: FaultSpec;
  remaining: number;
}

/** Faults only meaningful for some messages do not use up their count on others. */
function applicable(kind: FaultKind, type: RequestType | undefined, hasMac: boolean): boolean {
  if (kind === 'bad-mac') return hasMac;
  if (kind === 'unbalanced-settlement') return type === 'settlement';
  if (kind === 'qr-wait-forever') return type === 'qrSale' || type === 'qrQuery';
  if (kind === 'param-out-of-range') return type === 'paramDownload';
  if (kind === 'ca-key-bad-check') return type === 'caKeyDownload';
  if (kind === 'wrong-arpc' || kind === 'issuer-script') return type === 'sale' || type === 'preAuth';
  return true;
}

export class FaultPlan {
  private active: ActiveFault[] = [];

  add(spec: FaultSpec): void {
    if (this.active.length >= FAULTS_MAX) throw new FaultSpecError(`at most ${FAULTS_MAX} faults at once`);
    const valid = validateFault(spec);
    this.active.push({ spec: valid, remaining: valid.count as number });
  }

  clear(): void {
    this.active = [];
  }

  list(): FaultSpec[] {
    return this.active.map((f) => ({ ...f.spec, count: f.remaining }));
  }

  /** The faults that apply to this request; each use counts against its `count`. */
  take(mti: string, type: RequestType | undefined, hasMac: boolean): FaultSpec[] {
    const taken: FaultSpec[] = [];
    for (const f of this.active) {
      if (f.spec.mti !== undefined && f.spec.mti !== mti) continue;
      if (f.spec.type !== undefined && f.spec.type !== type) continue;
      if (!applicable(f.spec.kind, type, hasMac)) continue;
      taken.push(f.spec);
      f.remaining--;
    }
    this.active = this.active.filter((f) => f.remaining > 0);
    return taken;
  }
}

/**
 * `set-params` from the management console: the same parameters as the host's download (0800,
 * 60.3 = 360, docs/PROTOCOL.md), the same ranges, and the same journaled path: the whole set in
 * force becomes one `settings` record of kind `host-params` (records.ts rec.hostParams, checked
 * again when written and read back), all or nothing. Values are checked here first with the
 * download's ranges so that a console's mistake is an E-MGT-03 refusal, never the invariant
 * failure (recovery mode) the record builder raises for a value that should not have got that far.
 */
import { PosError } from '../../common/errors';
import { decodeGb18030, encodeGb18030 } from '../../common/gb18030';
import {
  E_RECEIPT_BASE_BYTES_MAX, HostParameters, isEReceiptBase, MERCHANT_NAME_BYTES_MAX, PARAM_AMOUNT_FEN_MAX, RESPONSE_TIMEOUT_S_MAX, RESPONSE_TIMEOUT_S_MIN, REVERSAL_TRIES_MAX_PARAM, REVERSAL_TRIES_MIN,
} from '../host/messages-v2';
import { rec } from '../records';
import type { Store } from '../store';

/** BCD6 amounts (DF16 offline floor) hold 12 digits. */
const OFFLINE_FLOOR_FEN_MAX = 999_999_999_999;
const OFFLINE_COUNT_MAX = 255;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function refused(key: string, why: string): PosError {
  return new PosError('MGT_PARAMS', `${key}: ${why}`, { key });
}

function intIn(key: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw refused(key, `${JSON.stringify(v)} is not a whole number in ${min}..${max}`);
  return v;
}

function bool(key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw refused(key, `${JSON.stringify(v)} is not true or false`);
  return v;
}

function merchantName(v: unknown): string {
  if (typeof v !== 'string' || /[\x00-\x1f\x7f]/.test(v) || v.trim() === '') throw refused('merchantName', 'not printable text');
  // As the host's download encodes it (runtime/host/messages-v2.ts): text GB18030 cannot hold (a
  // lone surrogate) does not decode back to itself.
  const bytes = encodeGb18030(v.trim());
  if (bytes.length > MERCHANT_NAME_BYTES_MAX || decodeGb18030(bytes) !== v.trim()) throw refused('merchantName', `at most ${MERCHANT_NAME_BYTES_MAX} bytes of GB18030 text`);
  return v.trim();
}

/** The parameters a console may set, each with its check (the download's ranges). */
const CHECKS: { readonly [K in keyof HostParameters]-?: (v: unknown) => NonNullable<HostParameters[K]> } = {
  merchantName,
  responseTimeoutS: (v) => intIn('responseTimeoutS', v, RESPONSE_TIMEOUT_S_MIN, RESPONSE_TIMEOUT_S_MAX),
  reversalTries: (v) => intIn('reversalTries', v, REVERSAL_TRIES_MIN, REVERSAL_TRIES_MAX_PARAM),
  amountFenMax: (v) => intIn('amountFenMax', v, 1, PARAM_AMOUNT_FEN_MAX),
  offlineAllowed: (v) => bool('offlineAllowed', v),
  offlineFloorFen: (v) => intIn('offlineFloorFen', v, 0, OFFLINE_FLOOR_FEN_MAX),
  offlineCountMax: (v) => intIn('offlineCountMax', v, 0, OFFLINE_COUNT_MAX),
  qrAllowed: (v) => bool('qrAllowed', v),
  preAuthAllowed: (v) => bool('preAuthAllowed', v),
  eReceiptBase: (v) => {
    if (typeof v !== 'string' || !isEReceiptBase(v)) throw refused('eReceiptBase', `not an https address of at most ${E_RECEIPT_BASE_BYTES_MAX} bytes without a query`);
    return v;
  },
};

/** Checks a console's `args` (some of the parameters); throws E-MGT-03 naming the first bad key. */
export function checkParamsPatch(args: Readonly<Record<string, unknown>>): HostParameters {
  const keys = Object.keys(args);
  if (keys.length === 0) throw refused('args', `no parameter given (known: ${Object.keys(CHECKS).join(', ')})`);
  const out: Mutable<HostParameters> = {};
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(CHECKS, key)) throw refused(key, `unknown parameter (known: ${Object.keys(CHECKS).join(', ')})`);
    const k = key as keyof HostParameters;
    // Each check returns the type of its own key; TypeScript cannot pair them through a variable key.
    (out as Record<string, unknown>)[k] = CHECKS[k](args[k]);
  }
  return out;
}

/**
 * Applies a checked patch over the set in force, journaled like a host download (one record,
 * durable on return, in the reserve like the engine's). Returns the set now in force.
 */
export async function applyParamsPatch(store: Store, patch: HostParameters): Promise<HostParameters> {
  const params: HostParameters = { ...(store.state.hostParams ?? {}), ...patch };
  await store.commit([rec.hostParams(params)], { reserve: true });
  return params;
}

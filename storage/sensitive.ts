/**
 * The rule that nothing sensitive is ever written to the journal (DESIGN.md rule 8): the field
 * names refused at any depth, and the track-data and clear-PAN tests of string values. One rule,
 * used twice: refuseSensitive walks a payload and throws E-STO-06 naming where; the record
 * encoder (storage/record-payload.ts) applies the same tests while it writes a payload, and
 * hands any payload they refuse to refuseSensitive for the error.
 */
import { PosError, invariant } from '../common/errors';

const FORBIDDEN_KEYS = new Set([
  'track', 'track1', 'track2', 'track3', 'cvv', 'cvv2', 'cvc', 'cvn', 'pin', 'pinblock',
  'field35', 'field36', 'field52', 'pan',
]);
const FORBIDDEN_KEY_CHARS_MIN = Math.min(...[...FORBIDDEN_KEYS].map((k) => k.length));
const FORBIDDEN_KEY_CHARS_MAX = Math.max(...[...FORBIDDEN_KEYS].map((k) => k.length));
const TRACK_PATTERN = /\d{12,19}[=D]\d{4}/;
/** How deep a payload may nest (the payload itself is depth 0). */
export const DEPTH_MAX = 16;
/**
 * What a string must hold for either string test to match: a run of 16 digits or more (a PAN), or
 * a run of 12 or more ended by '=' or 'D' (track data's PAN and separator). A string with
 * neither passes both tests, under any key (NOT_A_PAN's shapes only narrow them).
 */
export const PAN_DIGIT_RUN_MIN = 16;
export const TRACK_DIGIT_RUN_MIN = 12;
/**
 * Identifiers whose digits are not a card number by construction, each with the only shape it may
 * have. The PAN check is a Luhn test over every run of 16..19 digits, and a tenth of all digit
 * strings pass it: field 61 (batch n6 + STAN n6 + MMDD n4, 16 digits) and a wallet's all-digit
 * order number (59 A2, 12..32 characters) would be refused one time in ten, failing a void,
 * refund or QR payment with "software fault" by chance (found when the STANs of a test moved).
 * A value of another shape under these names is checked like any other.
 */
const NOT_A_PAN: ReadonlyMap<string, RegExp> = new Map([
  ['field61', /^\d{12}(\d{4})?$/],
  ['original61', /^\d{12}(\d{4})?$/],
  ['orderNo', /^[\x21-\x7e]{12,32}$/],
  // The archive's record (runtime/archive.ts): SHA-256s in hex and the file named after the
  // journal's last digest. 64 hex characters hold a Luhn-valid run of 16-19 digits about one
  // time in a few hundred: archiving was refused with E-STO-06 at random (found by a flaky test).
  ['archiveSha256', /^[0-9a-f]{64}$/],
  ['digest', /^[0-9a-f]{64}$/],
  ['archive', /^[\x21-\x7e]{1,64}-\d{10}-[0-9a-f]{16}\.posarc$/],
]);

/** The first letters of the forbidden names, lower case (0x20 set: upper case ASCII maps onto them). */
const FORBIDDEN_FIRST_CHARS = new Set([...FORBIDDEN_KEYS].map((k) => k.charCodeAt(0)));

/** Is `key` a field name the journal refuses (any case)? */
export function forbiddenKey(key: string): boolean {
  // Length and first letter first, so most keys make no lower-cased copy. Exact: the only
  // characters whose lower case is ASCII are A-Z and the Kelvin sign (k), so a key whose first
  // character is not one of the names' first letters in either case cannot lower-case to one.
  if (key.length < FORBIDDEN_KEY_CHARS_MIN || key.length > FORBIDDEN_KEY_CHARS_MAX) return false;
  if (!FORBIDDEN_FIRST_CHARS.has(key.charCodeAt(0) | 0x20)) return false;
  return FORBIDDEN_KEYS.has(key.toLowerCase());
}

/**
 * Would refuseSensitive refuse the string `s` found as the value of `key` (undefined: an array
 * element)? Exactly its tests, as a yes or no.
 */
export function sensitiveString(s: string, key: string | undefined): boolean {
  if (key !== undefined && notAPan(key, s)) return TRACK_PATTERN.test(s);
  return trackDataIn(s) || clearPanIn(s);
}

function notAPan(key: string, s: string): boolean {
  const shape = NOT_A_PAN.get(key);
  return shape !== undefined && shape.test(s);
}

/** Neither pattern fits in fewer characters: a PAN run is 16 digits or more, track data 17 or more. */
const SENSITIVE_CHARS_MIN = 16;

function trackDataIn(s: string): boolean {
  return s.length >= SENSITIVE_CHARS_MIN && TRACK_PATTERN.test(s);
}

function clearPanIn(s: string): boolean {
  if (s.length < SENSITIVE_CHARS_MIN) return false;
  for (const run of s.match(/\d{16,19}/g) ?? []) if (luhnValid(run)) return true;
  return false;
}

/** Throws E-STO-06 naming the first sensitive field or value of `value` (depth first, key order). */
export function refuseSensitive(value: unknown, where: string, depth = 0): void {
  invariant(depth <= DEPTH_MAX, 'record payload nested too deep', { where });
  if (typeof value === 'string') return refuseSensitiveString(value, where);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => refuseSensitive(v, `${where}[${i}]`, depth + 1));
    return;
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (forbiddenKey(key)) {
      throw new PosError('STO_REFUSED_FIELD', `journal refuses field "${key}" in ${where}: sensitive card data is never stored`, { field: key, where });
    }
    if (typeof v === 'string' && notAPan(key, v)) {
      if (TRACK_PATTERN.test(v)) throw new PosError('STO_REFUSED_FIELD', `journal refuses track data in ${where}.${key}`, { where });
      continue;
    }
    refuseSensitive(v, `${where}.${key}`, depth + 1);
  }
}

function refuseSensitiveString(s: string, where: string): void {
  if (trackDataIn(s)) {
    throw new PosError('STO_REFUSED_FIELD', `journal refuses track data in ${where}`, { where });
  }
  if (clearPanIn(s)) throw new PosError('STO_REFUSED_FIELD', `journal refuses a clear PAN in ${where}: store it encrypted`, { where });
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * A record payload's CBOR written straight into the record encoder's buffer, with the
 * sensitive-field rule (storage/sensitive.ts) applied on the same walk (issue 14 goal 5: the
 * batched append's CPU was mostly the scan, cbor-x, its copy and their garbage).
 *
 * The bytes are exactly cbor-x's with the journal's options (useRecords false, mapsAsObjects,
 * variableMapSize: JOURNAL_FORMAT.md's "plain CBOR maps") for the values a journal payload holds:
 * plain objects, arrays, strings, numbers, booleans, null, undefined and Buffers. For anything
 * else (a Map, a Date, a class instance, a bare Uint8Array, a bigint, a function), for a payload nested deeper than the rule allows, too large, or holding something the rule
 * refuses, writePayload returns false and writes nothing that counts: the caller then takes the
 * former path (refuseSensitive, then cbor-x), which throws the error naming the field or encodes
 * the rarer value. tests/journal/record-payload.test.ts compares the bytes with cbor-x's.
 */
import { DEPTH_MAX, PAN_DIGIT_RUN_MIN, TRACK_DIGIT_RUN_MIN, forbiddenKey, sensitiveString } from './sensitive';

/** Payload bytes a record may hold (JOURNAL_FORMAT.md); the writer gives up beyond it. */
const PAYLOAD_BYTES_MAX = 65536;
/** cbor-x writes strings shorter than this with its own loop, longer ones with utf8Write. */
const STRING_LOOP_CHARS_MAX = 0x40;
/** The scratch buffer kept between calls; a larger one (a very large batch) is dropped after use. */
const SCRATCH_KEPT_BYTES_MAX = 256 * 1024;
const SCRATCH_BYTES_INITIAL = 64 * 1024;

/**
 * A growable output buffer reused from call to call. The writer's state is module-level (as
 * cbor-x's is): one encode at a time, on the calling thread, and nothing here awaits.
 */
let target = Buffer.allocUnsafe(SCRATCH_BYTES_INITIAL);
let at = 0;
/** Where the payload being written starts, for its size limit. */
let payloadStart = 0;
/**
 * Whether the last string writeShortString wrote could match the rule's string tests (a run of
 * PAN_DIGIT_RUN_MIN digits, or of TRACK_DIGIT_RUN_MIN ended by '=' or 'D'): a module variable, no object per string.
 */
let mayBeSensitive = false;

/** The scratch buffer and the bytes written to it since `reset`. */
export function scratch(): Buffer { return target; }
export function scratchLength(): number { return at; }
export function setScratchLength(n: number): void { at = n; }

/** Starts a new output at byte 0 (drops a scratch buffer grown past what is kept). */
export function resetScratch(): void {
  releaseScratch();
  at = 0;
}

/** After an encode: a scratch buffer grown past SCRATCH_KEPT_BYTES_MAX (a batch of megabytes) is not kept until the next. */
export function releaseScratch(): void {
  if (target.length > SCRATCH_KEPT_BYTES_MAX) target = Buffer.allocUnsafe(SCRATCH_BYTES_INITIAL);
}

/** Room for `n` more bytes at `at` (the bytes written so far are kept). */
export function ensureRoom(n: number): void {
  if (at + n <= target.length) return;
  const grown = Buffer.allocUnsafe(Math.max(target.length * 2, at + n));
  target.copy(grown, 0, 0, at);
  target = grown;
}

/** Appends bytes at `at`. */
export function writeBytes(bytes: Uint8Array): void {
  ensureRoom(bytes.length);
  target.set(bytes, at);
  at += bytes.length;
}

/**
 * Writes `payload`'s CBOR at the current position and returns true, or returns false (the
 * position is then where it was) when the payload is for the former path (see the top).
 */
export function writePayload(payload: unknown): boolean {
  const start = at;
  payloadStart = start;
  if (!isPlainObject(payload) || !writeMap(payload, 0)) {
    at = start;
    return false;
  }
  return true;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && (v as object).constructor === Object;
}

function writeValue(v: unknown, depth: number, key: string | undefined): boolean {
  if (depth > DEPTH_MAX) return false;
  if (at - payloadStart > PAYLOAD_BYTES_MAX) return false;
  switch (typeof v) {
    case 'string': return writeString(v, key);
    case 'number': writeNumber(v); return true;
    case 'boolean': ensureRoom(1); target[at++] = v ? 0xf5 : 0xf4; return true;
    case 'undefined': ensureRoom(1); target[at++] = 0xf7; return true;
    case 'object': return writeObject(v, depth);
    default: return false;
  }
}

function writeObject(v: object | null, depth: number): boolean {
  if (v === null) { ensureRoom(1); target[at++] = 0xf6; return true; }
  const constructor = v.constructor;
  if (constructor === Object) return writeMap(v as Record<string, unknown>, depth);
  if (constructor === Array) return writeArray(v as unknown[], depth);
  if (constructor === Buffer) return writeByteString(v as Buffer);
  return false;
}

function writeMap(map: Record<string, unknown>, depth: number): boolean {
  const keys = Object.keys(map);
  writeHead(0xa0, keys.length);
  for (const key of keys) {
    if (!writeKey(key)) return false;
    if (!writeValue(map[key], depth + 1, key)) return false;
  }
  return true;
}

/**
 * Keys' CBOR as written before, and FORBIDDEN for a name the rule refuses. A journal's payloads
 * use a few dozen field names over and over: a key is looked up instead of checked and encoded
 * again (issue 14 goal 5). Bounded; once full, keys not in it take the long way.
 */
const keyBytes = new Map<string, Uint8Array | typeof FORBIDDEN>();
const FORBIDDEN = 0;
/** Distinct keys kept (a payload's field names are a fixed vocabulary; tests' random keys stop here). */
const KEY_CACHE_ENTRIES_MAX = 1024;
/** Only keys this short are kept (one CBOR head byte, cbor-x's own loop). */
const KEY_CACHED_CHARS_MAX = 23;

/** Writes a map key; false when the rule refuses the name (nothing that counts written then). */
function writeKey(key: string): boolean {
  const cached = keyBytes.get(key);
  if (cached === FORBIDDEN) return false;
  if (cached !== undefined) {
    const n = cached.length;
    ensureRoom(n);
    for (let i = 0; i < n; i++) target[at + i] = cached[i];
    at += n;
    return true;
  }
  const forbidden = forbiddenKey(key);
  const start = at;
  if (!forbidden && !writeString(key, undefined, false)) return false;
  if (key.length <= KEY_CACHED_CHARS_MAX && keyBytes.size < KEY_CACHE_ENTRIES_MAX) {
    keyBytes.set(key, forbidden ? FORBIDDEN : new Uint8Array(target.subarray(start, at)));
  }
  return !forbidden;
}

function writeArray(array: unknown[], depth: number): boolean {
  writeHead(0x80, array.length);
  for (let i = 0; i < array.length; i++) if (!writeValue(array[i], depth + 1, undefined)) return false;
  return true;
}

function writeByteString(bytes: Buffer): boolean {
  if (bytes.length > PAYLOAD_BYTES_MAX) return false;
  writeHead(0x40, bytes.length);
  writeBytes(bytes);
  return true;
}

/** A CBOR head of major type `major` (its bits in place) and argument `n`, shortest form. */
function writeHead(major: number, n: number): void {
  ensureRoom(5);
  if (n < 0x18) target[at++] = major | n;
  else if (n < 0x100) { target[at++] = major | 0x18; target[at++] = n; }
  else if (n < 0x10000) { target[at++] = major | 0x19; target[at++] = n >> 8; target[at++] = n & 0xff; }
  else { target[at++] = major | 0x1a; target.writeUInt32BE(n, at); at += 4; }
}

/** cbor-x's number forms: integers of up to 32 bits as integers, anything else a float64. */
function writeNumber(v: number): void {
  ensureRoom(9);
  if (v >>> 0 === v) return writeHead(0x00, v);
  if (v >> 0 === v) return writeHead(0x20, ~v);
  if (v < 0 && v >= -0x100000000 && Math.floor(v) === v) {
    target[at++] = 0x3a;
    target.writeUInt32BE(-1 - v, at);
    at += 4;
    return;
  }
  target[at++] = 0xfb;
  target.writeDoubleBE(v, at);
  at += 8;
}

/**
 * A text string as cbor-x writes it: below 64 characters its own UTF-8 loop (a lone surrogate
 * as three bytes), from 64 on Buffer's UTF-8 write (a lone surrogate as U+FFFD); the head is the
 * shortest for the byte length. A value string (`scan`) is checked by the rule when it holds a
 * run of digits long enough to matter.
 */
function writeString(s: string, key: string | undefined, scan = true): boolean {
  const chars = s.length;
  if (chars * 3 > PAYLOAD_BYTES_MAX) return false;
  ensureRoom(chars * 3 + 5);
  const headBytes = chars < 0x18 ? 1 : chars < 0x100 ? 2 : chars < 0x10000 ? 3 : 5;
  const bodyAt = at + headBytes;
  let end: number;
  if (chars < STRING_LOOP_CHARS_MAX) {
    end = writeShortString(s, bodyAt);
    if (scan && mayBeSensitive && sensitiveString(s, key)) return false;
  } else {
    if (scan && sensitiveString(s, key)) return false;
    end = bodyAt + target.write(s, bodyAt, target.length - bodyAt, 'utf8');
  }
  const length = end - bodyAt;
  const needed = length < 0x18 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  if (needed !== headBytes) target.copyWithin(at + needed, bodyAt, end);
  writeHead(0x60, length);
  at += length;
  return true;
}

/** cbor-x's loop for short strings; returns the end, sets mayBeSensitive (for the rule). */
function writeShortString(s: string, from: number): number {
  let p = from;
  let run = 0;
  let suspect = false;
  for (let i = 0; i < s.length; i++) {
    let c1 = s.charCodeAt(i);
    if (c1 >= 0x30 && c1 <= 0x39) {
      if (++run >= PAN_DIGIT_RUN_MIN) suspect = true;
    } else {
      if (run >= TRACK_DIGIT_RUN_MIN && (c1 === 0x3d || c1 === 0x44)) suspect = true; // '=' or 'D'
      run = 0;
    }
    if (c1 < 0x80) {
      target[p++] = c1;
    } else if (c1 < 0x800) {
      target[p++] = (c1 >> 6) | 0xc0;
      target[p++] = (c1 & 0x3f) | 0x80;
    } else if ((c1 & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (s.charCodeAt(i + 1) & 0x03ff);
      i++;
      target[p++] = (c1 >> 18) | 0xf0;
      target[p++] = ((c1 >> 12) & 0x3f) | 0x80;
      target[p++] = ((c1 >> 6) & 0x3f) | 0x80;
      target[p++] = (c1 & 0x3f) | 0x80;
    } else {
      target[p++] = (c1 >> 12) | 0xe0;
      target[p++] = ((c1 >> 6) & 0x3f) | 0x80;
      target[p++] = (c1 & 0x3f) | 0x80;
    }
  }
  mayBeSensitive = suspect;
  return p;
}

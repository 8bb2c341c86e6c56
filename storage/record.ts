/**
 * The journal's record codec: exactly the bytes of storage/JOURNAL_FORMAT.md, version 1.
 * Pure functions over buffers; no I/O. The writer checks invariants before encoding and the
 * reader checks them again when decoding (TigerBeetle style: checked when written and when read).
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Encoder } from 'cbor-x';
import { PosError, invariant } from '../common/errors';

export const MAGIC = 0x504f534a; // "POSJ"
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 68;
export const DIGEST_BYTES = 32;
/** Where a stored record's prevDigest is (its header, bytes 32..63). */
export const PREV_DIGEST_AT = 32;

/** The digest of the record before, as a stored record carries it (no copy). */
export function prevDigestOf(stored: Buffer): Buffer {
  return stored.subarray(PREV_DIGEST_AT, PREV_DIGEST_AT + DIGEST_BYTES);
}
export const PAYLOAD_BYTES_MAX = 65536;
export const SEQ_MAX = 0xffffffff;

export const RecordType = {
  journalCreated: 1,
  terminalIdentity: 2,
  keys: 3,
  stan: 4,
  batch: 5,
  signOn: 6,
  signOff: 7,
  txnBegin: 10,
  txnResult: 11,
  receiptPrinted: 12,
  signature: 13,
  signatureUploaded: 14,
  receiptPending: 15,
  cardRefused: 16,
  reversalPending: 20,
  reversalCleared: 21,
  adviceResult: 22,
  scriptNoticePending: 23,
  scriptNoticeCleared: 24,
  qrQueryPending: 25,
  qrQueryCleared: 26,
  settlementStep: 30,
  batchClosed: 31,
  operator: 40,
  settings: 41,
  adminAction: 50,
  recovery: 60,
  test: 255,
} as const;
export type RecordTypeName = keyof typeof RecordType;

const TYPE_NAMES = new Map<number, RecordTypeName>(
  Object.entries(RecordType).map(([name, code]) => [code, name as RecordTypeName]),
);

export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `unknown-${type}`;
}

/** A CBOR payload: a plain map. */
export type Payload = Record<string, unknown>;

export interface RecordHeader {
  readonly version: number;
  readonly type: number;
  readonly seq: number;
  readonly payloadLength: number;
  readonly payloadCrc: number;
  readonly timeMs: number;
  readonly prevDigest: Buffer;
}

export interface DecodedRecord extends RecordHeader {
  readonly payload: Payload;
  readonly digest: Buffer;
}

// Plain maps, no cbor-x record extension: the bytes must stay readable by any CBOR decoder.
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export function genesisDigest(identity: string): Buffer {
  invariant(identity.length > 0, 'journal identity must not be empty');
  return createHash('sha256').update('POSJ chain v1\0').update(identity, 'utf8').digest();
}

/** SHA-256 over header bytes 0..67 and the payload: the record's link in the chain. */
export function recordDigest(stored: Buffer): Buffer {
  // A latin1 result turned into a Buffer is about twice as fast as crypto.hash's 'buffer' output
  // in Node 20 (recordDigestLatin1); appendMany digests every record it writes.
  return Buffer.from(recordDigestLatin1(stored), 'latin1');
}

export interface EncodeInput {
  readonly type: number;
  readonly seq: number;
  readonly timeMs: number;
  readonly prevDigest: Buffer;
  readonly payload: Payload;
}

/** Encodes one record as stored. Throws E-STO-06 for a sensitive field, before any I/O. */
export function encodeRecord(input: EncodeInput): Buffer {
  invariant(Number.isInteger(input.type) && input.type >= 1 && input.type <= 255, 'record type out of range', { type: input.type });
  invariant(Number.isInteger(input.seq) && input.seq >= 1 && input.seq <= SEQ_MAX, 'seq out of range', { seq: input.seq });
  invariant(input.prevDigest.length === DIGEST_BYTES, 'prevDigest must be 32 bytes');
  invariant(Number.isInteger(input.timeMs) && input.timeMs >= 0, 'timeMs must be a non-negative integer');
  refuseSensitive(input.payload, typeName(input.type));
  // cbor-x returns a view of its own output buffer: copied once, straight into the record.
  const payload = cbor.encode(input.payload);
  if (payload.length > PAYLOAD_BYTES_MAX) {
    throw new PosError('STO_REFUSED_FIELD', `record payload of ${payload.length} bytes exceeds ${PAYLOAD_BYTES_MAX}`, { type: input.type });
  }
  // Every byte of the record is written below (header fields, digest, payload), so the buffer
  // need not be zeroed first. Batched appends spend their time here (issue 14 goal 5): no
  // BigInts, no intermediate payload copy, CRCs in JavaScript (crc32Range: no native call).
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(MAGIC, 0);
  out[4] = FORMAT_VERSION;
  out[5] = input.type;
  out[6] = 0;
  out[7] = 0;
  out.writeUInt32BE(0, 8); // seq is a u64 whose high word is 0 (seq <= SEQ_MAX, checked above)
  out.writeUInt32BE(input.seq, 12);
  out.writeUInt32BE(payload.length, 16);
  out.writeUInt32BE(crc32Range(payload, 0, payload.length), 20);
  out.writeUInt32BE(Math.floor(input.timeMs / 0x1_0000_0000), 24); // timeMs is a u64; JS integers stay below 2^53
  out.writeUInt32BE(input.timeMs >>> 0, 28);
  out.set(input.prevDigest, 32);
  out.writeUInt32BE(crc32Range(out, 0, 64), 64);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** Why a stored value failed its checks; `header` problems versus `body` problems decide recovery. */
export type RecordFault =
  | { part: 'header'; reason: string }
  | { part: 'body'; reason: string }
  | { part: 'version'; reason: string };

/**
 * Checks a stored value's framing: magic, version, reserved, header CRC, length, payload CRC.
 * Returns the header when all hold, otherwise the fault. Never throws on bad bytes.
 */
export function checkFrame(stored: Buffer): { header: RecordHeader } | { fault: RecordFault } {
  if (stored.length < HEADER_BYTES) return { fault: { part: 'header', reason: `short header (${stored.length} bytes)` } };
  if (stored.readUInt32BE(0) !== MAGIC) return { fault: { part: 'header', reason: 'bad magic' } };
  if (stored.readUInt32BE(64) !== crc32(stored.subarray(0, 64))) return { fault: { part: 'header', reason: 'header checksum mismatch' } };
  const version = stored.readUInt8(4);
  if (version !== FORMAT_VERSION) return { fault: { part: 'version', reason: `unknown format version ${version}` } };
  if (stored.readUInt16BE(6) !== 0) return { fault: { part: 'header', reason: 'reserved bytes not zero' } };
  const seq = stored.readBigUInt64BE(8);
  if (seq < 1n || seq > BigInt(SEQ_MAX)) return { fault: { part: 'header', reason: `seq ${seq} out of range` } };
  const payloadLength = stored.readUInt32BE(16);
  if (payloadLength > PAYLOAD_BYTES_MAX) return { fault: { part: 'header', reason: `payload length ${payloadLength} too large` } };
  if (stored.length !== HEADER_BYTES + payloadLength) {
    return { fault: { part: 'body', reason: `stored ${stored.length} bytes, header says ${HEADER_BYTES + payloadLength}` } };
  }
  const payloadCrc = stored.readUInt32BE(20);
  if (crc32(stored.subarray(HEADER_BYTES)) !== payloadCrc) return { fault: { part: 'body', reason: 'payload checksum mismatch' } };
  const header: RecordHeader = {
    version, type: stored.readUInt8(5), seq: Number(seq), payloadLength, payloadCrc,
    timeMs: Number(stored.readBigUInt64BE(24)), prevDigest: prevDigestOf(stored),
  };
  return { header };
}

// ---- the open path's fast checks (speed only: exactly the checks of checkFrame, fewer allocations)

/** CRC-32 (IEEE 802.3, zlib's) tables for slicing-by-8. */
const CRC_TABLE = ((): Int32Array => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
  return t;
})();

/**
 * CRC-32 of `buf[start..end)`, the same value as zlib's crc32 of that subarray, computed in
 * JavaScript: for records of a few hundred bytes the native call costs more than the CRC, and
 * no subarray object is made. tests/journal/fast-checks.test.ts compares it with zlib's.
 */
export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  const t = CRC_TABLE;
  let c = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = t[1792 + (c & 0xff)] ^ t[1536 + ((c >>> 8) & 0xff)] ^ t[1280 + ((c >>> 16) & 0xff)] ^ t[1024 + (c >>> 24)]
      ^ t[768 + buf[i + 4]] ^ t[512 + buf[i + 5]] ^ t[256 + buf[i + 6]] ^ t[buf[i + 7]];
  }
  for (; i < end; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * True exactly when checkFrame(stored) returns a header (same checks: length, magic, header CRC,
 * version, reserved, seq range, payload length, stored length, payload CRC), without building
 * the header object, BigInts or subarrays. When it is false, call checkFrame for the reason.
 */
export function frameValid(stored: Uint8Array): boolean {
  const n = stored.length;
  if (n < HEADER_BYTES) return false;
  if (stored[0] !== 0x50 || stored[1] !== 0x4f || stored[2] !== 0x53 || stored[3] !== 0x4a) return false;
  if (crc32Range(stored, 0, 64) !== u32(stored, 64)) return false;
  if (stored[4] !== FORMAT_VERSION) return false;
  if (stored[6] !== 0 || stored[7] !== 0) return false;
  // seq is a u64 in 1..SEQ_MAX (2^32 - 1): its high word is 0 and its low word not 0.
  if (u32(stored, 8) !== 0 || u32(stored, 12) === 0) return false;
  const payloadLength = u32(stored, 16);
  if (payloadLength > PAYLOAD_BYTES_MAX) return false;
  if (n !== HEADER_BYTES + payloadLength) return false;
  return crc32Range(stored, HEADER_BYTES, n) === u32(stored, 20);
}

/** Big-endian u32 at `at` (no bounds check: callers checked the length). */
export function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/**
 * The record digest (recordDigest) as a 32-character latin1 string: Node 20's crypto.hash is
 * about three times faster with a string result than with a Buffer one.
 */
export function recordDigestLatin1(stored: Uint8Array): string {
  // 'latin1' is 'binary' by another name; the types list only the latter, the runtime takes 'latin1' faster.
  return oneShotHash('sha256', stored, 'latin1' as 'binary');
}

/** Does `stored[at..at+32)` equal the digest held as a latin1 string? */
export function digestAtEquals(stored: Uint8Array, at: number, digestLatin1: string): boolean {
  for (let i = 0; i < DIGEST_BYTES; i++) if (stored[at + i] !== digestLatin1.charCodeAt(i)) return false;
  return true;
}

/** Decodes a stored value whose frame is already known good. */
export function decodePayload(stored: Buffer): Payload {
  const value: unknown = cbor.decode(stored.subarray(HEADER_BYTES));
  invariant(value !== null && typeof value === 'object' && !Array.isArray(value), 'record payload is not a map');
  return value as Payload;
}

/** Full decode with checks; throws InvariantError on a bad frame (use checkFrame to branch). */
export function decodeRecord(stored: Buffer): DecodedRecord {
  const r = checkFrame(stored);
  if ('fault' in r) throw new PosError('STO_DAMAGED', `record frame invalid: ${r.fault.reason}`);
  return { ...r.header, payload: decodePayload(stored), digest: recordDigest(stored) };
}

// ---- the rule that nothing sensitive is ever written (DESIGN.md rule 8)

const FORBIDDEN_KEYS = new Set([
  'track', 'track1', 'track2', 'track3', 'cvv', 'cvv2', 'cvc', 'cvn', 'pin', 'pinblock',
  'field35', 'field36', 'field52', 'pan',
]);
const TRACK_PATTERN = /\d{12,19}[=D]\d{4}/;
const DEPTH_MAX = 16;
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
]);

function refuseSensitive(value: unknown, where: string, depth = 0): void {
  invariant(depth <= DEPTH_MAX, 'record payload nested too deep', { where });
  if (typeof value === 'string') return refuseSensitiveString(value, where);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => refuseSensitive(v, `${where}[${i}]`, depth + 1));
    return;
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (FORBIDDEN_KEYS.has(key.toLowerCase())) {
      throw new PosError('STO_REFUSED_FIELD', `journal refuses field "${key}" in ${where}: sensitive card data is never stored`, { field: key, where });
    }
    const shape = NOT_A_PAN.get(key);
    if (shape !== undefined && typeof v === 'string' && shape.test(v)) {
      if (TRACK_PATTERN.test(v)) throw new PosError('STO_REFUSED_FIELD', `journal refuses track data in ${where}.${key}`, { where });
      continue;
    }
    refuseSensitive(v, `${where}.${key}`, depth + 1);
  }
}

/** Neither pattern fits in fewer characters: a PAN run is 16 digits or more, track data 17 or more. */
const SENSITIVE_CHARS_MIN = 16;

function refuseSensitiveString(s: string, where: string): void {
  if (s.length < SENSITIVE_CHARS_MIN) return;
  if (TRACK_PATTERN.test(s)) {
    throw new PosError('STO_REFUSED_FIELD', `journal refuses track data in ${where}`, { where });
  }
  for (const run of s.match(/\d{16,19}/g) ?? []) {
    if (luhnValid(run)) throw new PosError('STO_REFUSED_FIELD', `journal refuses a clear PAN in ${where}: store it encrypted`, { where });
  }
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

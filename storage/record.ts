/**
 * The journal's record codec: exactly the bytes of storage/JOURNAL_FORMAT.md, version 1.
 * Pure functions over buffers; no I/O. The writer checks invariants before encoding and the
 * reader checks them again when decoding (TigerBeetle style: checked when written and when read).
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Encoder } from './cbor';
import { PosError, invariant } from '../common/errors';
import { ensureRoom, releaseScratch, resetScratch, scratch, scratchLength, setScratchLength, writeBytes, writePayload } from './record-payload';
import { refuseSensitive } from './sensitive';
import { loadOwnAddon, ownAddonCandidates } from '../common/own-addon';

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
  carriedState: 61,
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
  const seal = sealAddon();
  if (seal) return encodeSealed(seal, [input], input.seq, input.timeMs, input.prevDigest).stored[0];
  resetScratch();
  writeRecord(input.type, input.seq, input.timeMs, input.prevDigest, input.payload);
  return scratchCopy();
}

/** native/journal_seal.c: a batch's header fields, CRCs and chain digests in one call. */
export interface SealAddon {
  seal(buf: Buffer, ends: Uint32Array, types: Uint8Array, firstSeq: number, timeMs: number, prevDigest: Buffer, digests: Buffer): void;
}

/**
 * What native/journal_seal.c `step` answers: 0 the record is good (CHAIN_STEP_OK); 1 its frame is
 * not valid, 2 its seq is not its key, 3 it does not link (the JavaScript walk names the fault).
 */
export const CHAIN_STEP_OK = 0;

/**
 * native/journal_seal.c `step`: one stored record's frameValid, its seq against its key and its
 * link to `chain`, in one call; on `ok` the record's digest replaces `chain`'s bytes.
 */
export type ChainStepFn = (stored: Buffer, key: number, chain: Buffer) => number;

/** undefined: not looked for yet; null: not built, an addon without `step`, or turned off. */
let stepLoaded: ChainStepFn | null | undefined;

/**
 * The verify walk's native step, loaded on the first walk, or null (the walk's JavaScript path
 * decides the same). POS_JOURNAL_VERIFY=js turns it off (the benchmark's baseline).
 */
export function chainStepAddon(): ChainStepFn | null {
  if (stepLoaded === undefined) stepLoaded = process.env.POS_JOURNAL_VERIFY === 'js' ? null : stepOf(loadSealAddon());
  return stepLoaded;
}

/** An addon built before `step` existed (an older slot's build/) has only `seal`. */
function stepOf(addon: SealAddon | null): ChainStepFn | null {
  const step = (addon as { step?: unknown } | null)?.step;
  return typeof step === 'function' ? (step as ChainStepFn) : null;
}

/** Which verify walk runs: the native step (true, when it loads) or JavaScript (false). For tests. */
export function useNativeVerify(on: boolean): boolean {
  stepLoaded = on ? stepOf(loadSealAddon()) : null;
  return stepLoaded !== null;
}

/** undefined: not looked for yet; null: not built, not loadable, or turned off (useNativeSeal). */
let sealLoaded: SealAddon | null | undefined;

/**
 * The addon, loaded on the first encode (not at import: a verify worker never needs it), or null.
 * POS_JOURNAL_SEAL=js turns it off (the benchmark's baseline); POS_JOURNAL_SEAL_ADDON names the file.
 */
function sealAddon(): SealAddon | null {
  if (sealLoaded === undefined) sealLoaded = process.env.POS_JOURNAL_SEAL === 'js' ? null : loadSealAddon();
  return sealLoaded;
}

/** The addon from its candidates, or null (the JavaScript path writes the same bytes). */
export function loadSealAddon(candidates: readonly string[] = ownAddonCandidates('journal_seal.node', 'POS_JOURNAL_SEAL_ADDON')): SealAddon | null {
  // crc32 and SHA256 come from node itself (loadOwnAddon's RTLD_NOW); otherwise the JavaScript path.
  return loadOwnAddon<SealAddon>(candidates, (e) => typeof e.seal === 'function');
}

/**
 * Which encoder writes records: the addon (true, when it loads) or JavaScript (false). Returns
 * whether the addon is in use afterwards. For tests and the benchmark, which compare the two.
 */
export function useNativeSeal(on: boolean): boolean {
  sealLoaded = on ? loadSealAddon() : null;
  return sealLoaded !== null;
}

/**
 * encodeRecords with the addon: the payloads written after a 68-byte gap each (checks and the
 * sensitive-field rule as in writeRecord), then one seal call for every header and digest.
 */
function encodeSealed(seal: SealAddon, records: ReadonlyArray<{ readonly type: number | RecordTypeName; readonly payload: Payload }>, firstSeq: number, timeMs: number, prevDigest: Buffer): EncodedBatch {
  resetScratch();
  const n = records.length;
  const ends = new Uint32Array(n);
  const types = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const type = typeCodeOf(records[i].type);
    checkEncodeInput(type, firstSeq + i, timeMs, prevDigest);
    writePayloadAt(scratchLength(), type, records[i].payload);
    ends[i] = scratchLength();
    types[i] = type;
  }
  const out = scratchCopy();
  const digestBytes = digestBlock(n);
  seal.seal(out, ends, types, firstSeq, timeMs, prevDigest, digestBytes);
  return batchViews(out, ends, digestBytes);
}

/**
 * The scratch buffer's bytes in a buffer of their own, exactly their size: not node's 8 KB pool
 * (Buffer.from of a few hundred bytes), where one record kept (the write-ahead log's tail until a
 * checkpoint, a deferred record) keeps the whole slab alive (issue 14 goal 1: after 200 sales the
 * tail's 1,210 records held 306 slabs, 2.5 MB).
 */
function scratchCopy(): Buffer {
  const bytes = scratchLength();
  const out = Buffer.allocUnsafeSlow(bytes);
  scratch().copy(out, 0, 0, bytes);
  releaseScratch();
  return out;
}

/** Records encoded by encodeRecords: one buffer, each record and digest a view of it. */
export interface EncodedBatch {
  readonly stored: Buffer[];
  readonly digests: Buffer[];
}

/**
 * Encodes records (a type by code or name) of consecutive seqs from `firstSeq`, all at `timeMs`,
 * each linked to the one before (the first to `prevDigest`): the bytes of encodeRecord for each,
 * written into one buffer with one copy (issue 14 goal 5). Throws as encodeRecord does, for the
 * first record that fails; nothing is returned then.
 */
export function encodeRecords(records: ReadonlyArray<{ readonly type: number | RecordTypeName; readonly payload: Payload }>, firstSeq: number, timeMs: number, prevDigest: Buffer): EncodedBatch {
  const seal = sealAddon();
  if (seal) return encodeSealed(seal, records, firstSeq, timeMs, prevDigest);
  resetScratch();
  const ends = new Uint32Array(records.length);
  const digestsLatin1 = new Array<string>(records.length);
  let prev: Buffer | string = prevDigest;
  for (let i = 0; i < records.length; i++) {
    const start = scratchLength();
    writeRecord(typeCodeOf(records[i].type), firstSeq + i, timeMs, prev, records[i].payload);
    ends[i] = scratchLength();
    prev = digestsLatin1[i] = recordDigestLatin1(scratch().subarray(start, ends[i]));
  }
  const out = scratchCopy();
  const digestBytes = digestBlock(records.length);
  for (let i = 0; i < records.length; i++) writeLatin1(digestBytes, i * DIGEST_BYTES, digestsLatin1[i]);
  return batchViews(out, ends, digestBytes);
}

function typeCodeOf(type: number | RecordTypeName): number {
  return typeof type === 'number' ? type : RecordType[type];
}

/**
 * Room for `records` digests, a buffer of its own (not node's pool, whose whole 8 KB slab a kept
 * digest would keep alive: the log's tail keeps each appended record's entry, digest included).
 */
function digestBlock(records: number): Buffer {
  return Buffer.allocUnsafeSlow(DIGEST_BYTES * records);
}

/** A batch's records (record i ends at `ends[i]` of `out`) and digests, as views of the two buffers. */
function batchViews(out: Buffer, ends: Uint32Array, digestBytes: Buffer): EncodedBatch {
  const n = ends.length;
  const stored = new Array<Buffer>(n);
  const digests = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) {
    stored[i] = out.subarray(i === 0 ? 0 : ends[i - 1], ends[i]);
    digests[i] = digestBytes.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
  }
  return { stored, digests };
}

/**
 * Appends one record at the scratch buffer's end (storage/record-payload.ts). `prevDigest` is
 * the digest as bytes or as a latin1 string (recordDigestLatin1: a batch links without a Buffer).
 */
function writeRecord(type: number, seq: number, timeMs: number, prevDigest: Buffer | string, payload: Payload): void {
  checkEncodeInput(type, seq, timeMs, prevDigest);
  const start = scratchLength();
  writePayloadAt(start, type, payload);
  const end = scratchLength();
  const payloadBytes = end - start - HEADER_BYTES;
  // Every header byte is written here (the scratch buffer is not zeroed). No BigInts, CRCs in
  // JavaScript (crc32Range: for a few hundred bytes the native call costs more than the CRC).
  const out = scratch();
  out.writeUInt32BE(MAGIC, start);
  out[start + 4] = FORMAT_VERSION;
  out[start + 5] = type;
  out[start + 6] = 0;
  out[start + 7] = 0;
  out.writeUInt32BE(0, start + 8); // seq is a u64 whose high word is 0 (seq <= SEQ_MAX, checked)
  out.writeUInt32BE(seq, start + 12);
  out.writeUInt32BE(payloadBytes, start + 16);
  out.writeUInt32BE(crc32Range(out, start + HEADER_BYTES, end), start + 20);
  out.writeUInt32BE(Math.floor(timeMs / 0x1_0000_0000), start + 24); // timeMs is a u64; JS integers stay below 2^53
  out.writeUInt32BE(timeMs >>> 0, start + 28);
  if (typeof prevDigest === 'string') writeLatin1(out, start + PREV_DIGEST_AT, prevDigest);
  else out.set(prevDigest, start + PREV_DIGEST_AT);
  out.writeUInt32BE(crc32Range(out, start, start + 64), start + 64);
}

/**
 * A record's payload at `start` + HEADER_BYTES of the scratch buffer (its header left to be
 * written), the sensitive-field rule applied; throws E-STO-06 for a refused field or a payload
 * over PAYLOAD_BYTES_MAX (the scratch length back at `start`).
 */
function writePayloadAt(start: number, type: number, payload: Payload): void {
  ensureRoom(HEADER_BYTES);
  setScratchLength(start + HEADER_BYTES);
  if (!writePayload(payload)) {
    // The former path: the error naming a sensitive field, or a value the fast writer leaves to cbor-x.
    refuseSensitive(payload, typeName(type));
    writeBytes(cbor.encode(payload));
  }
  const payloadBytes = scratchLength() - start - HEADER_BYTES;
  if (payloadBytes > PAYLOAD_BYTES_MAX) {
    setScratchLength(start);
    throw new PosError('STO_REFUSED_FIELD', `record payload of ${payloadBytes} bytes exceeds ${PAYLOAD_BYTES_MAX}`, { type });
  }
}

/** A digest held as a latin1 string, into `out` at `at` (measured: Buffer.write beats a charCodeAt loop here). */
function writeLatin1(out: Buffer, at: number, digestLatin1: string): void {
  out.write(digestLatin1, at, DIGEST_BYTES, 'latin1');
}

/** The invariants of a record to write (no detail object is made unless one fails). */
function checkEncodeInput(type: number, seq: number, timeMs: number, prevDigest: Buffer | string): void {
  if (!(Number.isInteger(type) && type >= 1 && type <= 255)) invariant(false, 'record type out of range', { type });
  if (!(Number.isInteger(seq) && seq >= 1 && seq <= SEQ_MAX)) invariant(false, 'seq out of range', { seq });
  invariant(prevDigest.length === DIGEST_BYTES, 'prevDigest must be 32 bytes');
  invariant(Number.isInteger(timeMs) && timeMs >= 0, 'timeMs must be a non-negative integer');
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

/**
 * Does `stored[at..at+32)` equal the digest held as a latin1 string? Read as a latin1 string and
 * compared with ===: a third of the time of a charCodeAt loop on crypto.hash's string, which V8
 * stopped inlining into the verify walk (bench:journal, issue 14 goal 7).
 */
export function digestAtEquals(stored: Buffer, at: number, digestLatin1: string): boolean {
  return stored.toString('latin1', at, at + DIGEST_BYTES) === digestLatin1;
}

/** Decodes a stored value whose frame is already known good. */
/** Bytes of a payload's CBOR as the writer encodes it (a writer checks PAYLOAD_BYTES_MAX with it before a commit). */
export function payloadBytes(payload: Payload): number {
  return cbor.encode(payload).length;
}

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

// ---- the rule that nothing sensitive is ever written (DESIGN.md rule 8): storage/sensitive.ts

export { luhnValid } from './sensitive';

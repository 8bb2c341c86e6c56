/**
 * Table-driven ISO 8583 packer/unpacker for the framing of docs/PROTOCOL.md:
 *
 *   length (2, big-endian, counts what follows) | TPDU (5) | header (6) | MTI (2, BCD)
 *   | primary bitmap (8) | fields ascending
 *
 * Packing trusts nothing either: a value that does not fit its field is HOST_REQUEST_INVALID,
 * so a bad card or a bug never reaches the wire. Unpacking is defensive: the bytes come from
 * the network, so every malformation is a HOST_MALFORMED naming what was wrong and where
 * (field, byte offset from the start of the frame, length prefix included).
 */
import { PosError } from '../../common/errors';
import { FieldDef, FieldFormat, HostProfile, Tpdu, isBinaryField } from './fields';

export type FieldValue = string | Buffer;

export interface IsoMessage {
  readonly mti: string;
  readonly fields: ReadonlyMap<number, FieldValue>;
}

export interface Frame {
  readonly tpdu: Tpdu;
  readonly header: Buffer;
  readonly message: IsoMessage;
}

export interface UnpackedFrame extends Frame {
  /** The bytes a MAC covers (MTI .. end of the last field before 64), when 64 is present. */
  readonly macData?: Buffer;
}

export const LENGTH_PREFIX_BYTES = 2;
export const TPDU_BYTES = 5;
export const HEADER_BYTES = 6;
export const MTI_BYTES = 2;
export const BITMAP_BYTES = 8;
export const MAC_BYTES = 8;
const FIELD_NUMBER_MAX = 64;
const PREAMBLE_BYTES = TPDU_BYTES + HEADER_BYTES;
/** Smallest possible frame: preamble, MTI and bitmap with no field. */
export const FRAME_LENGTH_BYTES_MIN = LENGTH_PREFIX_BYTES + PREAMBLE_BYTES + MTI_BYTES + BITMAP_BYTES;

export function malformed(reason: string, where: { field?: number; offset?: number } = {}): PosError {
  const at = [where.field !== undefined ? `field ${where.field}` : '', where.offset !== undefined ? `offset ${where.offset}` : '']
    .filter((s) => s !== '').join(', ');
  return new PosError('HOST_MALFORMED', `malformed host message: ${reason}${at ? ` (${at})` : ''}`, { reason, ...where });
}

function invalidValue(field: number, reason: string): PosError {
  return new PosError('HOST_REQUEST_INVALID', `field ${field} value not valid: ${reason}`, { field, reason });
}

export function swapTpdu(t: Tpdu): Tpdu {
  return { id: t.id, destination: t.source, source: t.destination };
}

// ---------------------------------------------------------------- BCD

const DIGITS = /^[0-9]*$/;
const TRACK_CHARS = /^[0-9=]*$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** Digits (and '=' as nibble D for tracks) into nibbles; `padLeft` decides where an odd count pads. */
function packNibbles(chars: string, padLeft: boolean): Buffer {
  const padded = chars.length % 2 === 0 ? chars : padLeft ? '0' + chars : chars + '0';
  const out = Buffer.alloc(padded.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = (nibbleOf(padded[2 * i]) << 4) | nibbleOf(padded[2 * i + 1]);
  }
  return out;
}

function nibbleOf(c: string): number {
  return c === '=' ? 0xd : c.charCodeAt(0) - 0x30;
}

/**
 * Reads `count` characters of nibbles starting at `offset`; returns undefined on a nibble
 * that is not allowed (the caller knows the field to blame).
 */
function unpackNibbles(buf: Buffer, offset: number, count: number, padLeft: boolean, track: boolean): string | { badNibbleAt: number } {
  const nibbles = count + (count % 2);
  let out = '';
  for (let i = 0; i < nibbles; i++) {
    const byte = buf[offset + (i >> 1)];
    const nib = i % 2 === 0 ? byte >> 4 : byte & 0x0f;
    const isPad = count % 2 === 1 && (padLeft ? i === 0 : i === nibbles - 1);
    if (isPad) {
      if (nib !== 0) return { badNibbleAt: offset + (i >> 1) };
      continue;
    }
    if (nib <= 9) out += String.fromCharCode(0x30 + nib);
    else if (track && nib === 0xd) out += '=';
    else return { badNibbleAt: offset + (i >> 1) };
  }
  return out;
}

/** BCD length prefix: LL = 1 byte, LLL = 2 bytes. */
function prefixBytes(prefix: 'LL' | 'LLL'): number {
  return prefix === 'LL' ? 1 : 2;
}

// ---------------------------------------------------------------- pack

function packField(def: FieldDef, value: FieldValue): Buffer {
  const f = def.format;
  if (isBinaryField(def) !== Buffer.isBuffer(value)) {
    throw invalidValue(def.number, isBinaryField(def) ? 'expected bytes' : 'expected text');
  }
  if (f.kind === 'var') return packVar(def.number, f, value);
  if (f.kind === 'b') {
    const bytes = value as Buffer;
    if (bytes.length !== f.bytes) throw invalidValue(def.number, `${bytes.length} bytes, expected ${f.bytes}`);
    return Buffer.from(bytes);
  }
  const text = value as string;
  if (f.kind === 'n') {
    if (text.length !== f.digits || !DIGITS.test(text)) throw invalidValue(def.number, `expected ${f.digits} digits`);
    return packNibbles(text, true);
  }
  if (text.length > f.chars || !PRINTABLE.test(text)) throw invalidValue(def.number, `expected up to ${f.chars} printable ASCII characters`);
  return Buffer.from(text.padEnd(f.chars, ' '), 'latin1');
}

function packVar(field: number, f: Extract<FieldFormat, { kind: 'var' }>, value: FieldValue): Buffer {
  let body: Buffer;
  let length: number;
  if (f.content === 'binary') {
    body = Buffer.from(value as Buffer);
    length = body.length;
  } else {
    const text = value as string;
    const valid = f.content === 'numeric' ? DIGITS : f.content === 'track' ? TRACK_CHARS : PRINTABLE;
    if (!valid.test(text)) throw invalidValue(field, `characters not allowed in ${f.content} content`);
    body = f.content === 'ascii' ? Buffer.from(text, 'latin1') : packNibbles(text, false);
    length = text.length;
  }
  if (length > f.lengthMax) throw invalidValue(field, `length ${length} over max ${f.lengthMax}`);
  const width = prefixBytes(f.prefix) * 2;
  return Buffer.concat([packNibbles(String(length).padStart(width, '0'), true), body]);
}

/** MTI, bitmap and fields (no TPDU/header/length). */
export function packBody(profile: HostProfile, message: IsoMessage): Buffer {
  if (!/^[0-9]{4}$/.test(message.mti)) throw invalidValue(0, `MTI "${message.mti}" is not 4 digits`);
  const numbers = [...message.fields.keys()].sort((a, b) => a - b);
  const bitmap = Buffer.alloc(BITMAP_BYTES);
  const parts: Buffer[] = [packNibbles(message.mti, true), bitmap];
  for (const number of numbers) {
    const def = profile.fields.get(number);
    if (def === undefined || number < 2 || number > FIELD_NUMBER_MAX) throw invalidValue(number, 'field not in the profile');
    bitmap[(number - 1) >> 3] |= 0x80 >> ((number - 1) & 7);
    parts.push(packField(def, message.fields.get(number) as FieldValue));
  }
  return Buffer.concat(parts);
}

/** The bytes a MAC covers: MTI .. end of the last field before 64, with bit 64 set in the bitmap. */
export function macData(profile: HostProfile, message: IsoMessage): Buffer {
  const fields = new Map(message.fields);
  fields.set(64, Buffer.alloc(MAC_BYTES));
  const body = packBody(profile, { mti: message.mti, fields });
  return body.subarray(0, body.length - MAC_BYTES);
}

/** A whole frame, length prefix included. */
export function packFrame(profile: HostProfile, frame: Frame): Buffer {
  if (frame.header.length !== HEADER_BYTES) throw invalidValue(0, `header must be ${HEADER_BYTES} bytes`);
  const body = packBody(profile, frame.message);
  const out = Buffer.alloc(LENGTH_PREFIX_BYTES + PREAMBLE_BYTES + body.length);
  if (out.length > profile.frameLengthBytesMax) throw invalidValue(0, `frame of ${out.length} bytes over max ${profile.frameLengthBytesMax}`);
  out.writeUInt16BE(out.length - LENGTH_PREFIX_BYTES, 0);
  out[2] = frame.tpdu.id;
  out.writeUInt16BE(frame.tpdu.destination, 3);
  out.writeUInt16BE(frame.tpdu.source, 5);
  frame.header.copy(out, LENGTH_PREFIX_BYTES + TPDU_BYTES);
  body.copy(out, LENGTH_PREFIX_BYTES + PREAMBLE_BYTES);
  return out;
}

// ---------------------------------------------------------------- unpack

/** A cursor over untrusted bytes: every read is bounds-checked and blames a field. */
class Reader {
  offset: number;
  constructor(readonly buf: Buffer, offset: number) {
    this.offset = offset;
  }
  take(count: number, field: number | undefined, what: string): number {
    if (this.offset + count > this.buf.length) {
      throw malformed(`truncated: ${what} needs ${count} bytes, ${this.buf.length - this.offset} left`, { field, offset: this.offset });
    }
    const at = this.offset;
    this.offset += count;
    return at;
  }
}

function unpackVarLength(r: Reader, field: number, f: Extract<FieldFormat, { kind: 'var' }>): number {
  const width = prefixBytes(f.prefix);
  const at = r.take(width, field, 'length prefix');
  const digits = unpackNibbles(r.buf, at, width * 2, true, false);
  if (typeof digits !== 'string') throw malformed('length prefix is not BCD', { field, offset: digits.badNibbleAt });
  const length = Number(digits);
  if (length > f.lengthMax) throw malformed(`length ${length} over max ${f.lengthMax}`, { field, offset: at });
  return length;
}

function unpackField(r: Reader, def: FieldDef): FieldValue {
  const f = def.format;
  const field = def.number;
  if (f.kind === 'b') return Buffer.from(r.buf.subarray(r.take(f.bytes, field, 'value'), r.offset));
  if (f.kind === 'an') return unpackAscii(r, field, r.take(f.chars, field, 'value'), f.chars);
  if (f.kind === 'n') return unpackDigits(r, field, r.take((f.digits + 1) >> 1, field, 'value'), f.digits, true, false);
  const length = unpackVarLength(r, field, f);
  if (f.content === 'binary') return Buffer.from(r.buf.subarray(r.take(length, field, 'value'), r.offset));
  if (f.content === 'ascii') return unpackAscii(r, field, r.take(length, field, 'value'), length);
  const at = r.take((length + 1) >> 1, field, 'value');
  return unpackDigits(r, field, at, length, false, f.content === 'track');
}

function unpackDigits(r: Reader, field: number, at: number, count: number, padLeft: boolean, track: boolean): string {
  const text = unpackNibbles(r.buf, at, count, padLeft, track);
  if (typeof text !== 'string') throw malformed(track ? 'bad track nibble or padding' : 'bad BCD digit or padding', { field, offset: text.badNibbleAt });
  return text;
}

function unpackAscii(r: Reader, field: number, at: number, count: number): string {
  const text = r.buf.toString('latin1', at, at + count);
  if (!PRINTABLE.test(text)) throw malformed('non-printable byte in ASCII field', { field, offset: at });
  return text;
}

/** Reads the 2-byte length prefix and checks it against the profile's frame limit. */
export function frameBodyLength(profile: HostProfile, prefix: Buffer): number {
  const length = prefix.readUInt16BE(0);
  if (length + LENGTH_PREFIX_BYTES > profile.frameLengthBytesMax) {
    throw malformed(`frame length ${length + LENGTH_PREFIX_BYTES} over max ${profile.frameLengthBytesMax}`, { offset: 0 });
  }
  if (length + LENGTH_PREFIX_BYTES < FRAME_LENGTH_BYTES_MIN) {
    throw malformed(`frame length ${length + LENGTH_PREFIX_BYTES} under min ${FRAME_LENGTH_BYTES_MIN}`, { offset: 0 });
  }
  return length;
}

/** Unpacks one whole frame (length prefix included). Anything wrong is HOST_MALFORMED. */
export function unpackFrame(profile: HostProfile, bytes: Buffer): UnpackedFrame {
  if (bytes.length < LENGTH_PREFIX_BYTES) throw malformed(`truncated: ${bytes.length} bytes, no length prefix`, { offset: 0 });
  if (bytes.length > profile.frameLengthBytesMax) throw malformed(`frame of ${bytes.length} bytes over max ${profile.frameLengthBytesMax}`, { offset: 0 });
  const length = frameBodyLength(profile, bytes);
  if (bytes.length < LENGTH_PREFIX_BYTES + length) throw malformed(`truncated: length says ${length}, ${bytes.length - LENGTH_PREFIX_BYTES} bytes follow`, { offset: 0 });
  if (bytes.length > LENGTH_PREFIX_BYTES + length) throw malformed(`trailing garbage: ${bytes.length - LENGTH_PREFIX_BYTES - length} bytes after the frame`, { offset: LENGTH_PREFIX_BYTES + length });
  const tpdu = unpackTpdu(profile, bytes);
  const header = Buffer.from(bytes.subarray(LENGTH_PREFIX_BYTES + TPDU_BYTES, LENGTH_PREFIX_BYTES + PREAMBLE_BYTES));
  const headerOffset = LENGTH_PREFIX_BYTES + TPDU_BYTES;
  for (let i = 0; i < profile.headerMatchBytes; i++) {
    if (header[i] !== profile.header[i]) throw malformed(`header byte ${i} is 0x${header[i].toString(16)}, expected 0x${profile.header[i].toString(16)}`, { offset: headerOffset + i });
  }
  const body = unpackBody(profile, bytes, LENGTH_PREFIX_BYTES + PREAMBLE_BYTES);
  return { tpdu, header, ...body };
}

function unpackTpdu(profile: HostProfile, bytes: Buffer): Tpdu {
  const at = LENGTH_PREFIX_BYTES;
  if (bytes[at] !== profile.tpdu.id) throw malformed(`TPDU id 0x${bytes[at].toString(16)}, expected 0x${profile.tpdu.id.toString(16)}`, { offset: at });
  return { id: bytes[at], destination: bytes.readUInt16BE(at + 1), source: bytes.readUInt16BE(at + 3) };
}

function unpackBody(profile: HostProfile, bytes: Buffer, start: number): { message: IsoMessage; macData?: Buffer } {
  const r = new Reader(bytes, start);
  const mtiAt = r.take(MTI_BYTES, undefined, 'MTI');
  const mti = unpackNibbles(bytes, mtiAt, 4, true, false);
  if (typeof mti !== 'string') throw malformed('MTI is not BCD', { offset: mti.badNibbleAt });
  const bitmapAt = r.take(BITMAP_BYTES, undefined, 'bitmap');
  const fields = new Map<number, FieldValue>();
  let macData: Buffer | undefined;
  for (let number = 1; number <= FIELD_NUMBER_MAX; number++) {
    if ((bytes[bitmapAt + ((number - 1) >> 3)] & (0x80 >> ((number - 1) & 7))) === 0) continue;
    if (number === 1) throw malformed('secondary bitmap not allowed in this profile', { field: 1, offset: bitmapAt });
    const def = profile.fields.get(number);
    if (def === undefined) throw malformed('field not in the profile', { field: number, offset: bitmapAt + ((number - 1) >> 3) });
    if (number === FIELD_NUMBER_MAX) macData = Buffer.from(bytes.subarray(start, r.offset));
    fields.set(number, unpackField(r, def));
  }
  if (r.offset !== bytes.length) throw malformed(`trailing garbage: ${bytes.length - r.offset} bytes after the last field`, { offset: r.offset });
  return { message: { mti, fields }, macData };
}

// ---------------------------------------------------------------- field access

/** A text field's value, or undefined when absent. Throws HOST_MALFORMED if it is bytes. */
export function textField(message: IsoMessage, field: number): string | undefined {
  const v = message.fields.get(field);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw malformed('expected text, found bytes', { field });
  return v;
}

/** A binary field's value, or undefined when absent. */
export function bytesField(message: IsoMessage, field: number): Buffer | undefined {
  const v = message.fields.get(field);
  if (v === undefined) return undefined;
  if (typeof v === 'string') throw malformed('expected bytes, found text', { field });
  return v;
}

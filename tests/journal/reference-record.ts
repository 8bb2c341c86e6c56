/**
 * A record laid out the obvious way from JOURNAL_FORMAT.md (BigInt u64s, zlib's CRC-32, the
 * payload by cbor-x with the journal's options, copied): the bytes the journal's encoder must
 * write. The encoder tests compare storage/record.ts with it.
 */
import { crc32 } from 'node:zlib';
import { Encoder } from 'cbor-x';
import { HEADER_BYTES, MAGIC, Payload } from '../../storage/record';

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export function referenceRecord(type: number, seq: number, timeMs: number, prevDigest: Buffer, payload: Payload): Buffer {
  const body = Buffer.from(cbor.encode(payload));
  const out = Buffer.alloc(HEADER_BYTES + body.length);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt8(1, 4);
  out.writeUInt8(type, 5);
  out.writeBigUInt64BE(BigInt(seq), 8);
  out.writeUInt32BE(body.length, 16);
  out.writeUInt32BE(crc32(body), 20);
  out.writeBigUInt64BE(BigInt(timeMs), 24);
  prevDigest.copy(out, 32);
  out.writeUInt32BE(crc32(out.subarray(0, 64)), 64);
  body.copy(out, HEADER_BYTES);
  return out;
}

/**
 * The open path's fast checks (storage/record.ts: crc32Range, frameValid, recordDigestLatin1,
 * digestAtEquals) must decide exactly as the reference checks (zlib's crc32, checkFrame,
 * recordDigest): they exist for speed only. The encoder, rewritten for speed (issue 14 goal 5), must
 * write exactly the bytes of the plain reference encoder below (JOURNAL_FORMAT.md's table).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  HEADER_BYTES, RecordType, checkFrame, crc32Range, digestAtEquals, encodeRecord, frameValid, genesisDigest,
  recordDigest, recordDigestLatin1,
} from '../../storage/record';
import { mulberry32 } from '../../sim/disk-model';
import { referenceRecord } from './reference-record';

function bytes(rng: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

describe('journal fast checks agree with the reference checks', () => {
  it('crc32RangeEqualsZlibCrc32OnEveryLengthAndOffset', () => {
    const rng = mulberry32(7);
    for (let n = 0; n <= 300; n++) {
      const b = bytes(rng, n + 16);
      const start = Math.floor(rng() * 16);
      assert.equal(crc32Range(b, start, start + n), crc32(b.subarray(start, start + n)), `length ${n} at ${start}`);
    }
  });

  it('frameValidAcceptsExactlyWhatCheckFrameAccepts', () => {
    const record = encodeRecord({ type: RecordType.txnBegin, seq: 42, timeMs: 1_717_000_000_000, prevDigest: genesisDigest('SIM-0001'), payload: { stan: '000042', amountFen: 1234, panMasked: '622202******0128' } });
    assert.ok(frameValid(record));
    let cases = 0;
    for (let at = 0; at < record.length; at++) {
      for (const mask of [0x01, 0x10, 0x80, 0xff]) {
        const b = Buffer.from(record);
        b[at] ^= mask;
        assert.equal(frameValid(b), !('fault' in checkFrame(b)), `byte ${at} ^ ${mask}`);
        cases++;
      }
    }
    // Lengths, and header fields re-signed with a valid header CRC (seq 0, seq 2^32, version, reserved, length).
    for (const cut of [0, 1, 67, 68, record.length - 1]) assert.equal(frameValid(record.subarray(0, cut)), false);
    assert.equal(frameValid(Buffer.concat([record, Buffer.alloc(1)])), false);
    const resigned = (edit: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(record);
      edit(b);
      b.writeUInt32BE(crc32(b.subarray(0, 64)), 64);
      return b;
    };
    for (const edit of [
      (b: Buffer) => b.writeBigUInt64BE(0n, 8), (b: Buffer) => b.writeBigUInt64BE(0x100000000n, 8),
      (b: Buffer) => b.writeBigUInt64BE(0xffffffffn, 8), (b: Buffer) => { b[4] = 2; }, (b: Buffer) => { b[7] = 1; },
      (b: Buffer) => b.writeUInt32BE(70000, 16), (b: Buffer) => b.writeUInt32BE(record.length - HEADER_BYTES - 1, 16),
    ]) {
      const b = resigned(edit);
      assert.equal(frameValid(b), !('fault' in checkFrame(b)));
      cases++;
    }
    assert.ok(cases > 400, `${cases} cases`);
  });

  it('latin1DigestIsTheRecordDigest', () => {
    const rng = mulberry32(11);
    for (let k = 0; k < 50; k++) {
      const b = bytes(rng, 68 + k * 7);
      const d = recordDigestLatin1(b);
      const reference = createHash('sha256').update(b).digest();
      assert.ok(recordDigest(b).equals(reference));
      assert.ok(Buffer.from(d, 'latin1').equals(reference));
      const holder = Buffer.concat([Buffer.alloc(32), recordDigest(b)]);
      assert.ok(digestAtEquals(holder, 32, d));
      holder[32 + (k % 32)] ^= 1;
      assert.ok(!digestAtEquals(holder, 32, d));
    }
  });

  it('encodeRecordWritesExactlyTheReferenceEncodersBytes', () => {
    const rng = mulberry32(23);
    let prev = genesisDigest('SIM-0001');
    for (let k = 0; k < 400; k++) {
      const seq = k === 0 ? 0xffffffff : 1 + Math.floor(rng() * 0xfffffffe);
      const timeMs = [0, 1, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER][k] ?? Math.floor(rng() * 2 ** 45);
      const payload = { stan: String(k).padStart(6, '0'), amountFen: Math.floor(rng() * 1e9), note: 'x'.repeat(k % 300), bytes: bytes(rng, k % 40), nested: { a: [k, -k, k / 3] } };
      const type = 1 + (k % 255);
      const got = encodeRecord({ type, seq, timeMs, prevDigest: prev, payload });
      assert.ok(got.equals(referenceRecord(type, seq, timeMs, prev, payload)), `record ${k} (seq ${seq}, timeMs ${timeMs})`);
      prev = recordDigest(got);
    }
  });
});

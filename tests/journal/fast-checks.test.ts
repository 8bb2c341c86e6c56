/**
 * The open path's fast checks (storage/record.ts: crc32Range, frameValid, recordDigestLatin1,
 * digestAtEquals) must decide exactly as the reference checks (zlib's crc32, checkFrame,
 * recordDigest): they exist for speed only.
 */
import { strict as assert } from 'node:assert';
import { crc32 } from 'node:zlib';
import {
  HEADER_BYTES, RecordType, checkFrame, crc32Range, digestAtEquals, encodeRecord, frameValid, genesisDigest,
  recordDigest, recordDigestLatin1,
} from '../../storage/record';
import { mulberry32 } from '../../sim/disk-model';

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
      assert.ok(Buffer.from(d, 'latin1').equals(recordDigest(b)));
      const holder = Buffer.concat([Buffer.alloc(32), recordDigest(b)]);
      assert.ok(digestAtEquals(holder, 32, d));
      holder[32 + (k % 32)] ^= 1;
      assert.ok(!digestAtEquals(holder, 32, d));
    }
  });
});

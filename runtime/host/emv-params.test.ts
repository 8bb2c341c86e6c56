import { strict as assert } from 'node:assert';
import { isPosError } from '../../common/errors';
import { encodeTlv } from '../txn/emv';
import { caKeyChecksum } from '../txn/emv-rsa';
import { encodeAid, encodeCaKey, encodeCaKeyList, parseAid, parseAidList, parseCaKey, parseCaKeyList } from './emv-params';
import { testAids, testCaPublicKeys } from '../../sim/host/emv-params-host';

const refusedWith = (re: RegExp) => (e: unknown): boolean => isPosError(e) && e.code === 'E-HOST-09' && re.test(e.message);
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

describe('host: EMV parameter TLVs (370/380 answers)', () => {
  it('aCaKeyRoundTripsWithItsCheckValue', () => {
    const k = testCaPublicKeys()[0];
    const back = parseCaKey(encodeCaKey(k));
    assert.ok(back.modulus.equals(k.modulus) && back.exponent.equals(k.exponent) && back.index === k.index);
    assert.ok(caKeyChecksum(back).equals(back.checksum as Buffer));
  });

  it('aListMustBeRidAndIndexPairs', () => {
    const ids = testCaPublicKeys().map((k) => ({ rid: k.rid, index: k.index }));
    assert.equal(parseCaKeyList(encodeCaKeyList(ids)).length, 3);
    assert.throws(() => parseCaKeyList(encodeTlv(0x9f06, hex('A000000333'))), refusedWith(/pairs/));
    assert.throws(() => parseCaKeyList(encodeCaKeyList([ids[0], ids[0]])), refusedWith(/twice/));
    assert.throws(() => parseCaKeyList(hex('9F0605A0000003')), refusedWith(/not BER-TLV/));
    assert.throws(() => parseCaKeyList(undefined), refusedWith(/field 62 missing/));
  });

  it('aKeyWithAnotherAlgorithmOrABadExpiryIsRefused', () => {
    const good = encodeCaKey(testCaPublicKeys()[0]);
    // First occurrence wins (firstOf): a tag placed before the good set is the one read.
    const swap = (tag: number, value: Buffer): Buffer => Buffer.concat([encodeTlv(tag, value), good]);
    assert.throws(() => parseCaKey(swap(0xdf07, hex('02'))), refusedWith(/not 01 \(RSA\)/));
    assert.throws(() => parseCaKey(swap(0xdf06, hex('02'))), refusedWith(/SHA-1/));
    assert.throws(() => parseCaKey(swap(0xdf05, Buffer.from('20991331'))), refusedWith(/YYYYMMDD/));
    assert.throws(() => parseCaKey(swap(0xdf03, hex('00'))), refusedWith(/20 bytes/));
  });

  it('anAidWithLimitsNotInBcdOrATacOfTheWrongLengthIsRefused', () => {
    const a = testAids()[0];
    assert.equal(parseAid(encodeAid(a)).clTxnLimitFen, a.clTxnLimitFen);
    assert.throws(() => parseAid(Buffer.concat([encodeTlv(0xdf20, hex('00000000001A')), encodeAid(a)])), refusedWith(/BCD/));
    assert.throws(() => parseAid(Buffer.concat([encodeTlv(0xdf11, hex('D84000A8')), encodeAid(a)])), refusedWith(/5 bytes/));
    assert.throws(() => parseAid(Buffer.concat([encodeTlv(0xdf01, hex('02')), encodeAid(a)])), refusedWith(/selection indicator/));
    assert.throws(() => parseAidList(encodeTlv(0x9f06, hex('A0000003'))), refusedWith(/5\.\.16/));
  });
});

import { strict as assert } from 'node:assert';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import {
  decodePinBlockFormat0, desDecrypt, desEncrypt, ecbMac, keyCheckValue, pinBlockFormat0, sm4Available, unwrapWorkingKeys,
  verifyMac, wrapWorkingKeys,
} from '../../runtime/host/crypto';
import { isPosError } from '../../common/errors';
import { FIXED_KEYS, PAN, PIN_ASCII, TMK, hex, toHex } from './fixtures';

/** Single DES done the long way, straight on node:crypto, for independent re-derivations. */
function rawDes(key8: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('des-ede3-ecb', Buffer.concat([key8, key8, key8]), null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** The profile's ECB MAC, re-derived step by step from docs/PROTOCOL.md. */
function referenceMac(mak: Buffer, data: Buffer): string {
  const key = mak.subarray(0, 8);
  const padded = Buffer.alloc(Math.ceil(data.length / 8) * 8);
  data.copy(padded);
  const r = Buffer.alloc(8);
  for (let i = 0; i < padded.length; i++) r[i % 8] ^= padded[i];
  const rHex = Buffer.from(r.toString('hex').toUpperCase(), 'ascii');
  const e1 = rawDes(key, rHex.subarray(0, 8));
  const x = Buffer.from(e1.map((b, i) => b ^ rHex[8 + i]));
  return rawDes(key, x).toString('hex').toUpperCase().slice(0, 8);
}

describe('host crypto', () => {
  it('singleDesKnownAnswerIsD5D44FF720683D0D', () => {
    assert.equal(toHex(desEncrypt(hex('0123456789ABCDEF'), Buffer.alloc(8))), 'D5D44FF720683D0D');
  });

  it('doubleLength3desKnownAnswerOfTheTestTmkIs08D7B4FB629D0885', () => {
    assert.equal(toHex(desEncrypt(TMK, Buffer.alloc(8))), '08D7B4FB629D0885');
    assert.deepEqual(desDecrypt(TMK, hex('08D7B4FB629D0885')), Buffer.alloc(8));
  });

  it('keyCheckValuesAreTheFirstFourBytesOfEncryptedZeros', () => {
    assert.equal(toHex(keyCheckValue(TMK)), '08D7B4FB');
    assert.equal(toHex(keyCheckValue(hex('0123456789ABCDEF'))), 'D5D44FF7');
    assert.equal(toHex(keyCheckValue(FIXED_KEYS.pik)), '76CDB553');
    assert.equal(toHex(keyCheckValue(FIXED_KEYS.mak)), '3EDCB35B');
    assert.equal(toHex(keyCheckValue(FIXED_KEYS.tdk)), 'FB097599');
  });

  it('macMatchesAnIndependentDerivationAndThePinnedValue', () => {
    const data = Buffer.from('0200 the quick brown fox jumps', 'latin1'); // 29 bytes: the last block is padded
    const mac = ecbMac(FIXED_KEYS.mak, data).toString('latin1');
    assert.equal(mac, referenceMac(FIXED_KEYS.mak, data));
    assert.equal(mac, '4E3BB550');
    const aligned = Buffer.from('0123456789ABCDEF', 'latin1'); // exactly two blocks: no padding block
    assert.equal(ecbMac(FIXED_KEYS.mak, aligned).toString('latin1'), referenceMac(FIXED_KEYS.mak, aligned));
  });

  it('macUsesOnlyTheFirstEightBytesOfTheMak', () => {
    const data = Buffer.from('abc');
    const other = Buffer.concat([FIXED_KEYS.mak.subarray(0, 8), Buffer.alloc(8, 0x55)]);
    assert.deepEqual(ecbMac(other, data), ecbMac(FIXED_KEYS.mak, data));
  });

  it('verifyMacRejectsAChangedMacOrMessage', () => {
    const data = Buffer.from('some message bytes');
    const mac = ecbMac(FIXED_KEYS.mak, data);
    assert.equal(verifyMac(FIXED_KEYS.mak, data, mac), true);
    assert.equal(verifyMac(FIXED_KEYS.mak, Buffer.from('some message bytez'), mac), false);
    assert.equal(verifyMac(FIXED_KEYS.mak, data, Buffer.from('0000000')), false);
  });

  it('pinBlockFormat0IsThePinFieldXorPanFieldUnderThePik', () => {
    const block = pinBlockFormat0(PAN, Buffer.from(PIN_ASCII), FIXED_KEYS.pik);
    assert.equal(toHex(block), '2E31BB08A843460C');
    // 06123456FFFFFFFF xor 0000123456789012 (12 rightmost PAN digits without the check digit)
    const d = createDecipheriv('des-ede3-ecb', Buffer.concat([FIXED_KEYS.pik, FIXED_KEYS.pik.subarray(0, 8)]), null);
    d.setAutoPadding(false);
    assert.equal(toHex(Buffer.concat([d.update(block), d.final()])), '06122662A9876FED');
    assert.equal(decodePinBlockFormat0(PAN, block, FIXED_KEYS.pik).toString(), PIN_ASCII);
  });

  it('pinOfWrongLengthOrNonDigitsIsRefused', () => {
    for (const pin of ['123', '1234567890123', '12a4']) {
      assert.throws(() => pinBlockFormat0(PAN, Buffer.from(pin), FIXED_KEYS.pik), (e) => isPosError(e, 'operator-input'));
    }
  });

  it('workingKeysUnwrapWithMatchingCheckValues', () => {
    const field62 = wrapWorkingKeys(TMK, FIXED_KEYS);
    assert.equal(field62.length, 60);
    const { keys, checkValues } = unwrapWorkingKeys(TMK, field62);
    assert.deepEqual(keys, FIXED_KEYS);
    assert.equal(toHex(checkValues.mak), '3EDCB35B');
  });

  it('workingKeyCheckValueMismatchIsKeyCheckAndNoKeys', () => {
    const field62 = wrapWorkingKeys(TMK, FIXED_KEYS);
    field62[16 + 20 + 1] ^= 0x01; // MAK check value
    assert.throws(() => unwrapWorkingKeys(TMK, field62), (e) => isPosError(e, 'keys-invalid') && e.id === 'KEY_CHECK' && e.detail.key === 'mak');
    assert.throws(() => unwrapWorkingKeys(hex('00000000000000000000000000000000'), wrapWorkingKeys(TMK, FIXED_KEYS)), (e) => isPosError(e) && e.id === 'KEY_CHECK');
  });

  it('workingKeysFieldOfWrongLengthIsMalformed', () => {
    assert.throws(() => unwrapWorkingKeys(TMK, Buffer.alloc(59)), (e) => isPosError(e, 'host-malformed'));
  });

  it('sm4IsAvailableOnThisStack', () => {
    assert.equal(sm4Available(), true);
  });
});

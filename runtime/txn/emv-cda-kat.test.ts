/**
 * CDA's signed dynamic data against a second outside source, with a 1408-bit test CA key (the
 * first, in emv-oda.test.ts, is emv-tools' real card under MasterCard 05). Only data is taken,
 * never code:
 *
 * [emv-utils] Leon Lynch's openemv/emv-utils, tests/emv_rsa_cda_test.c
 *   (https://github.com/openemv/emv-utils): a Mastercard test card (PAN 5413330089020011,
 *   transaction date 250506) under Mastercard's test CA key F1 (RID A000000004; modulus and check
 *   value D8E68DA1…B4BB from the same project's src/emv_capk_static_data.h): the 896-bit issuer
 *   certificate with the issuer key it recovers, the 768-bit ICC certificate (remainder 9F48,
 *   exponent 03) with the ICC key, and a CDA signature (9F4B) over the unpredictable number
 *   8B55633B whose recovered ICC dynamic data is IDN 537EB5E03CC433C8, CID 00 (AAC), the
 *   cryptogram 55B6408DBC985131 and the transaction data hash A04620C5…A9F6; the same signature
 *   with its last byte changed must fail. The source recovers the ICC certificate without the
 *   card's static data and expects its hash check to fail (it has no records): so does
 *   recoverIccKey here.
 *
 * fDDA (qPBOC) uses the same recovery and SHA-1 (verifyDynamicSignature) over its own terminal
 * data (fddaTerminalData); no published fDDA signature was found, so fDDA itself is tested by
 * construction (emv-oda.test.ts, tests/runtime/qpboc.test.ts).
 */
import { strict as assert } from 'node:assert';
import { recoverIccKey, recoverIssuerKey, verifyCda, verifyDynamicSignature } from './emv-oda';
import { CaPublicKey, caKeyChecksum, rsaRecover } from './emv-rsa';

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const E3 = hex('03');
const PAN = '5413330089020011';
const TODAY = '250506';

const F1: CaPublicKey = {
  rid: hex('A000000004'), index: 0xf1, exponent: E3, expiryYyyymmdd: '20991231',
  modulus: hex(`A0DCF4BDE19C3546B4B6F0414D174DDE294AABBB828C5A834D73AAE27C99B0B053A90278007239B6459FF0BBCD7B4B9C6C50AC02CE91368DA1BD21AAEADBC65347337D89B68F5C99A09D05BE02DD1F8C5BA20E2F13FB2A27C41D3F85CAD5CF6668E75851EC66EDBF98851FD4E42C44C1D59F5984703B27D5B9F21B8FA0D93279FBBF69E0906429
    09C9EA27F898959541AA6757F5F624104F6E1D3A9532F2A6E51515AEAD1B43B3D7835088A2FAFA7BE7`),
};
const F1_CHECK = hex('D8E68DA167AB5A85D8C3D55ECB9B0517A1A5B4BB');

const ISSUER_CERT = hex(`3312205B0EFA6715BA18134BB2168A9CA250D268853506D925DD72B2A2E0CF107518DE182F0089B255B7D70A189D90859E741E7D79BB5D36339B16D9B1508DDBC35E2A3008B923E14417A42E86D3AD0A1AD6DBB394E7BC0BA812F3D4971412DE4997C8B34BA93F3CE0F5AE27E0A052DB57CD7595C467E831041AC2DBEC91E2EC8D27D4EABAA31322B769415B550B8B18E3B05B32CAE7813AB21D8F3B2BFF3741C6AD967AE694800F5B24A20EF78013E4`);
const ISSUER_MODULUS = hex(`99903295DA9DFA7CB84E664E6500E48A5A1D2EDD3F460BE4AD52066435A644C5A803AE5B829C31B21E81889869BF98D73D9A126F222AC762298808EA0AFB94B33D8FE26AF363FAEACC3B1557CF31F7CCC996E430EA74F6936993C37F638538C075039AD3A8BAF26E44D25FADD3524107`);
const ICC_CERT = hex(`1BA49B6A034309AA5212D5D39EA0861983E295DFD0052FB0543E3743E4DF5D0CD44FC3FABBC163727C2E3F64ACD670E4B8F1D5C5A6F9C42D6A02AD24F1D9220661D78489FC89D3D2F017AE0EE080D43F620B863C25470AE8C2632FDA6421D424C29E21653CC56BBBA65F851EBAF1F8C7`);
const ICC_REMAINDER = hex('0000000000000006600000000000000000000000000000000055');
const ICC_MODULUS = hex('900000000000000000000000001200000000000000000000000000000000480000000000000000000000000000000010800000000000000000000000019800000000000000000000000000000006600000000000000000000000000000000055');
const SDAD = hex(`7B9F22B297CCEAD536B87C449EEE744C6971AA0EBDD6B611C88E30FFF0A671CC6D6AC45A5555311E30C466863817EA0AA3D13B54BEA6849976592DFC73DED0BB958D506DF7180FAA7A1FD0540859C0E539035BAB64CE8891353DDD3008A0B446`);
const UN = hex('8B55633B');

describe('CDA known answers [emv-utils]: Mastercard test CA F1, a test card\'s certificates and CDA signature', () => {
  it('the CA key F1 has its published check value (SHA-1 over RID, index, modulus, exponent)', () => {
    assert.equal(F1.modulus.length, 176);
    assert.deepEqual(caKeyChecksum(F1), F1_CHECK);
  });

  it('recovers the issuer key: issuer id 541333, expiry 12/27, serial 000001, the published 896-bit modulus', () => {
    const r = recoverIssuerKey(F1, { certificate: ISSUER_CERT, exponent: E3 }, PAN, TODAY);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.issuerId, '541333');
    assert.equal(r.value.expiryMmyy, '1227');
    assert.equal(r.value.serial.toString('hex'), '000001');
    assert.deepEqual(r.value.modulus, ISSUER_MODULUS);
    assert.equal(recoverIssuerKey(F1, { certificate: ISSUER_CERT, exponent: E3 }, PAN, '280101').ok, false, 'expired after December 2027');
  });

  it('the ICC certificate: recovered framing, PAN and key parts are the published ones; without the card\'s records its hash fails, as in the source', () => {
    const issuer = { modulus: ISSUER_MODULUS, exponent: E3 };
    const rec = rsaRecover(issuer, ICC_CERT) as Buffer;
    assert.equal(rec[0], 0x6a);
    assert.equal(rec[1], 0x04);
    assert.equal(rec.subarray(2, 12).toString('hex').toUpperCase(), `${PAN}FFFF`);
    assert.equal(rec.subarray(12, 14).toString('hex'), '1227');
    assert.equal(rec[19], ICC_MODULUS.length);
    assert.deepEqual(Buffer.concat([rec.subarray(21, 21 + ICC_MODULUS.length - ICC_REMAINDER.length), ICC_REMAINDER]), ICC_MODULUS);
    assert.equal(rec.at(-1), 0xbc);
    const r = recoverIccKey(issuer, { certificate: ICC_CERT, remainder: ICC_REMAINDER, exponent: E3 }, PAN, Buffer.alloc(0), TODAY);
    assert.deepEqual(r, { ok: false, reason: 'hash' });
  });

  it('the CDA signature over 8B55633B recovers IDN 537EB5E03CC433C8, CID 00, AC 55B6408DBC985131 and the transaction data hash; SHA-1 checked', () => {
    const icc = { modulus: ICC_MODULUS, exponent: E3 };
    const sig = verifyDynamicSignature(icc, SDAD, UN);
    assert.ok(sig.ok, JSON.stringify(sig));
    assert.equal(sig.value.iccDynamicNumber.toString('hex').toUpperCase(), '537EB5E03CC433C8');
    assert.equal(sig.value.iccDynamicData.toString('hex').toUpperCase(),
      '08537EB5E03CC433C80055B6408DBC985131A04620C52455EA8F2370647AF36748A2CA4AA9F6');
    const tampered = Buffer.from(SDAD); tampered[tampered.length - 1] ^= 0x01; // the source's invalid signature: last byte 47
    assert.equal(verifyDynamicSignature(icc, tampered, UN).ok, false);
    assert.deepEqual(verifyDynamicSignature(icc, SDAD, hex('8B55633C')), { ok: false, reason: 'hash' }, 'another unpredictable number');
    // verifyCda parses the same layout: the CID inside is checked against the answer's, then the
    // transaction data hash (the source does not publish the PDOL/CDOL data it covers).
    assert.deepEqual(verifyCda(icc, { sdad: SDAD, unpredictableNumber: UN, cid: hex('80'), pdolData: Buffer.alloc(0), cdol1Data: Buffer.alloc(0), answerWithoutSdad: Buffer.alloc(0) }), { ok: false, reason: 'cid' });
    assert.deepEqual(verifyCda(icc, { sdad: SDAD, unpredictableNumber: UN, cid: hex('00'), pdolData: Buffer.alloc(0), cdol1Data: Buffer.alloc(0), answerWithoutSdad: Buffer.alloc(0) }), { ok: false, reason: 'transaction-data-hash' });
  });
});

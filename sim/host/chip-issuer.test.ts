/**
 * The acquirer simulator's issuer (chip-issuer.ts): the PSN rule, ARQC verification under the
 * option-A card key, and the 91 / 71 / 72 of an approval.
 *
 * Known answers from outside, only data taken (the same sources as runtime/txn/emv-issuer-auth.test.ts):
 * [pyemv] knovichikhin/pyemv (https://github.com/knovichikhin/pyemv), tests/test_kd.py
 *   `test_derive_icc_mk_a_psn`: IMK 0123456789ABCDEFFEDCBA9876543210, PAN 9901234567890123, PSN 45 →
 *   ICC master key check digits 1DA5; tests/test_ac.py `test_generate_ac_emv_arpc1`: ARQC
 *   4B46013359B7A58B, ARC 0000, ARPC method 1 under the ICC master key F8C9CECAABD55AD1. In this
 *   profile the session key is the card key, so pyemv's ARPC under the ICC master key is exactly
 *   the ARPC the host must send.
 */
import { strict as assert } from 'node:assert';
import { createCipheriv } from 'node:crypto';
import { AC_INPUT_TAGS, acInput, applicationCryptogram, deriveIccMasterKeyOptionA } from '../../runtime/txn/emv-issuer-auth';
import { encodeTlv, parseTlv, primitives } from '../../runtime/txn/emv';
import { SIM_ISSUER_MASTER_KEY, issuerField55, psnOf, verifyArqc } from './chip-issuer';
import { parseFaultSpec } from './faults';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const up = (b: Buffer): string => b.toString('hex').toUpperCase();
function checkDigits(key: Buffer): string {
  const c = createCipheriv('des-ede3-ecb', Buffer.concat([key, key.subarray(0, 8)]), null);
  c.setAutoPadding(false);
  return up(Buffer.concat([c.update(Buffer.alloc(8)), c.final()]).subarray(0, 2));
}

/** A field 55 as a terminal sends it, with an ARQC under `cardKey`. */
function field55(cardKey: Buffer, extra: ReadonlyArray<[number, Buffer]> = []): Buffer {
  const values = new Map<number, Buffer>([
    [0x9f02, hex('000000012345')], [0x9f03, hex('000000000000')], [0x9f1a, hex('0156')], [0x95, hex('0000000000')], [0x5f2a, hex('0156')],
    [0x9a, hex('261204')], [0x9c, hex('00')], [0x9f37, hex('01020304')], [0x82, hex('7C00')], [0x9f36, hex('0007')], [0x9f27, hex('80')], ...extra,
  ]);
  values.set(0x9f26, applicationCryptogram(cardKey, acInput(values, AC_INPUT_TAGS) as Buffer));
  return Buffer.concat([...values].map(([t, v]) => encodeTlv(t, v)));
}

describe('acquirer simulator issuer (chip-issuer)', () => {
  const pyImk = hex('0123456789ABCDEFFEDCBA9876543210');

  it('PSN: 5F34 in 55 first, else the last two digits of field 23, else 00', () => {
    assert.equal(psnOf(new Map([[0x5f34, hex('07')]]), '001'), '07');
    assert.equal(psnOf(new Map(), '045'), '45');
    assert.equal(psnOf(new Map(), undefined), '00');
  });

  it('[pyemv] verifies an ARQC under the card key of PAN 9901234567890123 with PSN 45 from field 23 (key check digits 1DA5)', () => {
    const cardKey = deriveIccMasterKeyOptionA(pyImk, '9901234567890123', '45');
    assert.equal(checkDigits(cardKey), '1DA5');
    const check = verifyArqc(pyImk, '9901234567890123', '045', field55(cardKey));
    assert.equal(check.ok, true);
    assert.equal(check.ok && checkDigits(check.cardKey), '1DA5');
    // Field 23 of another PSN: another key, the ARQC does not verify (the host answers 05).
    assert.deepEqual(verifyArqc(pyImk, '9901234567890123', '046', field55(cardKey)), { ok: false, reason: 'mismatch' });
  });

  it('refuses an ARQC over other data, a TC presented as the cryptogram, and 55 without the inputs', () => {
    const cardKey = deriveIccMasterKeyOptionA(SIM_ISSUER_MASTER_KEY, '6222021234567890128', '01');
    const good = field55(cardKey);
    assert.equal(verifyArqc(SIM_ISSUER_MASTER_KEY, '6222021234567890128', '001', good).ok, true);
    const tampered = Buffer.from(good); tampered[good.indexOf(hex('9F0206')) + 8] ^= 1; // the amount
    assert.deepEqual(verifyArqc(SIM_ISSUER_MASTER_KEY, '6222021234567890128', '001', tampered), { ok: false, reason: 'mismatch' });
    assert.deepEqual(verifyArqc(SIM_ISSUER_MASTER_KEY, '6222021234567890128', '001', field55(cardKey, [[0x9f27, hex('40')]])), { ok: false, reason: 'not-an-arqc' });
    assert.deepEqual(verifyArqc(SIM_ISSUER_MASTER_KEY, '6222021234567890128', '001', encodeTlv(0x9f26, hex('0102030405060708'))), { ok: false, reason: 'data-missing' });
    assert.deepEqual(verifyArqc(SIM_ISSUER_MASTER_KEY, undefined, '001', good), { ok: false, reason: 'no-pan' });
  });

  it('[pyemv] 91 carries ARPC method 1 under the card key: F8C9CECAABD55AD1 for ARQC 4B46013359B7A58B and ARC 0000', () => {
    const cardKey = deriveIccMasterKeyOptionA(pyImk, '9901234567890123', '45');
    const f55 = issuerField55({ ok: true, cardKey, arqc: hex('4B46013359B7A58B'), atc: hex('0001') }, '\0\0');
    assert.equal(up(primitives(f55).get(0x91) as Buffer), 'F8C9CECAABD55AD1' + '0000');
  });

  it('wrong-arpc flips the ARPC; scripts go in 71/72 with 9F18 counting up and one 86 command each', () => {
    const cardKey = deriveIccMasterKeyOptionA(SIM_ISSUER_MASTER_KEY, '6222021234567890128', '01');
    const check = { ok: true as const, cardKey, arqc: hex('1122334455667788'), atc: hex('0007') };
    const good = primitives(issuerField55(check, '00')).get(0x91) as Buffer;
    assert.equal(up(good.subarray(8)), '3030', 'the ARC is 39 in ASCII');
    const bad = primitives(issuerField55(check, '00', { wrongArpc: true })).get(0x91) as Buffer;
    assert.notDeepEqual(bad.subarray(0, 8), good.subarray(0, 8));
    const f55 = issuerField55(check, '00', { scripts: [parseFaultSpec('issuer-script:71-pin-unblock').script!, parseFaultSpec('issuer-script:72-block').script!], firstScriptId: 9 });
    const top = parseTlv(f55);
    assert.deepEqual(top.map((t) => t.tag), [0x91, 0x71, 0x72]);
    assert.equal(up(primitives(top[1].value).get(0x9f18) as Buffer), '00000009');
    assert.equal(up(primitives(top[2].value).get(0x9f18) as Buffer), '0000000A');
    assert.equal(up((primitives(top[1].value).get(0x86) as Buffer).subarray(0, 5)), '8424000004', 'PIN UNBLOCK with a 4-byte MAC');
    assert.equal(up((primitives(top[2].value).get(0x86) as Buffer).subarray(0, 5)), '841E000004', 'APPLICATION BLOCK with a 4-byte MAC');
  });

  it('the fault form issuer-script:T-C is checked', () => {
    assert.deepEqual(parseFaultSpec('issuer-script:72-put-data,count=2').script, { template: 0x72, command: 'put-data' });
    assert.throws(() => parseFaultSpec('issuer-script:73-block'), /71-C or 72-C/);
    assert.throws(() => parseFaultSpec('issuer-script:71-format'), /71-C or 72-C/);
    assert.throws(() => parseFaultSpec('issuer-script'), /71-C or 72-C/);
    assert.equal(parseFaultSpec('wrong-arpc').kind, 'wrong-arpc');
  });
});

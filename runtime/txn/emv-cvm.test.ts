/**
 * CVM list processing (emv-cvm.ts) by the rules of EMV 4.3 Book 3 §10.5 and Annex C3. No
 * published known-answer set for CVM processing was found that is not another project's own
 * expectations; the lists below are typical UnionPay and EMV lists (among them
 * "0000 0000 0000 0000 4103 4203 1E03 1F02", a card's list quoted in a public question on parsing
 * CV rules) with the outcome the book's rules give.
 */
import { strict as assert } from 'node:assert';
import { CvmContext, CvmMethod, cvmConditionMet, processCvmList } from './emv-cvm';
import { TVR } from './emv-tvr';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const THIS_TERMINAL: ReadonlySet<CvmMethod> = new Set(['online-pin', 'signature', 'no-cvm']);

function ctx(over: Partial<CvmContext> = {}): CvmContext {
  return { amountMinor: 12_34, inApplicationCurrency: true, kind: 'purchase', unattended: false, supported: THIS_TERMINAL, ...over };
}

describe('EMV CVM list processing (emv-cvm)', () => {
  const STACK_LIST = hex('00000000 00000000 4103 4203 1E03 1F02');

  it('skips offline PIN the terminal does not support and chooses online PIN (42 03 00), TVR online PIN entered', () => {
    const r = processCvmList(STACK_LIST, ctx());
    assert.equal(r.method, 'online-pin');
    assert.equal(r.cvmResults.toString('hex'), '420300');
    assert.deepEqual(r.tvr, [TVR.onlinePinEntered]);
    assert.equal(r.signature, false);
  });

  it('a bypassed PIN falls through (apply succeeding) to signature (1E 03 00) with "PIN not entered"', () => {
    const r = processCvmList(STACK_LIST, ctx({ pinBypassed: true }));
    assert.equal(r.method, 'signature');
    assert.equal(r.cvmResults.toString('hex'), '1e0300');
    assert.deepEqual(r.tvr, [TVR.pinNotEntered]);
    assert.equal(r.signature, true);
  });

  it('a broken PIN pad sets "PIN pad not present or not working"; without the succeeding bit verification fails', () => {
    const r = processCvmList(hex('00000000 00000000 0200 1F00'), ctx({ pinPadBroken: true }));
    assert.equal(r.method, undefined);
    assert.equal(r.cvmResults.toString('hex'), '020001');
    assert.deepEqual(r.tvr, [TVR.pinPadMissing, TVR.cvmNotSuccessful]);
  });

  it('amount X: no CVM under 300.00 in the application currency, online PIN over it; another currency skips both', () => {
    const list = hex('00007530 00000000 1F06 4207 1E03'); // X = 30000 fen
    assert.equal(processCvmList(list, ctx({ amountMinor: 100_00 })).method, 'no-cvm');
    assert.equal(processCvmList(list, ctx({ amountMinor: 100_00 })).cvmResults.toString('hex'), '1f0602');
    assert.equal(processCvmList(list, ctx({ amountMinor: 300_01 })).method, 'online-pin');
    assert.equal(processCvmList(list, ctx({ amountMinor: 300_00 })).method, 'signature', 'exactly X is neither under nor over');
    assert.equal(processCvmList(list, ctx({ amountMinor: 100_00, inApplicationCurrency: false })).method, 'signature');
  });

  it('amount Y and the transaction-kind conditions', () => {
    const list = hex('00000000 000003E8 1F08 0209'); // Y = 1000 fen
    assert.equal(processCvmList(list, ctx({ amountMinor: 999 })).method, 'no-cvm');
    assert.equal(processCvmList(list, ctx({ amountMinor: 1001 })).method, 'online-pin');
    const c = ctx();
    assert.equal(cvmConditionMet(0x01, 0, 0, ctx({ unattended: true, kind: 'cash' }), 'online-pin'), true);
    assert.equal(cvmConditionMet(0x02, 0, 0, ctx({ kind: 'cashback' }), 'online-pin'), false);
    assert.equal(cvmConditionMet(0x02, 0, 0, c, 'online-pin'), true);
    assert.equal(cvmConditionMet(0x04, 0, 0, ctx({ kind: 'manual-cash' }), 'online-pin'), true);
    assert.equal(cvmConditionMet(0x05, 0, 0, ctx({ kind: 'cashback' }), 'online-pin'), true);
    assert.equal(cvmConditionMet(0x03, 0, 0, c, 'offline-plain-pin'), false);
    assert.equal(cvmConditionMet(0x0a, 0, 0, c, 'online-pin'), undefined, 'RFU condition: skipped');
  });

  it('an unrecognised CVM code sets "unrecognised CVM" and, with the succeeding bit, goes on', () => {
    const r = processCvmList(hex('00000000 00000000 6000 1E00'), ctx());
    assert.equal(r.method, 'signature');
    assert.deepEqual(r.tvr, [TVR.unrecognisedCvm]);
  });

  it('"fail CVM processing" fails verification (00 00 01)', () => {
    const r = processCvmList(hex('00000000 00000000 0000 1F00'), ctx());
    assert.equal(r.method, undefined);
    assert.equal(r.cvmResults.toString('hex'), '000001');
    assert.deepEqual(r.tvr, [TVR.cvmNotSuccessful]);
  });

  it('no condition met: verification not successful, 3F 00 01', () => {
    const r = processCvmList(hex('00000000 00000000 1F04 1F05'), ctx());
    assert.equal(r.cvmResults.toString('hex'), '3f0001');
    assert.deepEqual(r.tvr, [TVR.cvmNotSuccessful]);
  });

  it('no list, or a list without rules: not performed (3F 00 00) and ICC data missing; a malformed list likewise', () => {
    for (const l of [undefined, hex('00000000 00000000'), hex('00000000 00000000 1F')]) {
      const r = processCvmList(l, ctx());
      assert.equal(r.method, undefined);
      assert.equal(r.cvmResults.toString('hex'), '3f0000');
      assert.deepEqual(r.tvr, [TVR.iccDataMissing]);
    }
  });
});

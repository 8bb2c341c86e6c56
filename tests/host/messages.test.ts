import { strict as assert } from 'node:assert';
import { PosError, isPosError } from '../../common/errors';
import { REQUEST_TYPES } from '../../runtime/host/fields';
import { ecbMac, pinBlockFormat0, wrapWorkingKeys } from '../../runtime/host/crypto';
import { FieldValue, macData, packFrame, swapTpdu } from '../../runtime/host/packager';
import {
  Request, buildSale, buildSettlement, buildSignOn, decodeResponse, encodeRequest, parseAckResponse, parseFinancialResponse,
  parseReversalResponse, parseSettlementResponse, parseSignOnResponse, settlementField48, totalsDigits,
} from '../../runtime/host/messages';
import { EXPLAINED_CODES, explainResponseCode } from '../../runtime/host/response-codes';
import { FIXED_KEYS, IDS, PAN, PIN_ASCII, TMK, everyRequest, profile, saleInput, toHex } from './fixtures';

const MAK = FIXED_KEYS.mak;

interface ReplyOptions {
  readonly set?: Array<[number, FieldValue]>;
  readonly drop?: number[];
  readonly mti?: string;
  readonly mac?: 'good' | 'bad' | 'none';
  readonly tpdu?: { id: number; destination: number; source: number };
}

/** What a host following the profile would answer, adjustable to break one rule at a time. */
function reply(req: Request, o: ReplyOptions = {}): Buffer {
  const def = profile.messages[req.type];
  const fields = new Map<number, FieldValue>();
  for (const n of [11, 41, 42]) fields.set(n, req.message.fields.get(n) as FieldValue);
  fields.set(39, '00');
  if (def.financial) { fields.set(12, '101112'); fields.set(13, '0102'); fields.set(37, '000000000042'); fields.set(38, '654321'); }
  for (const [n, v] of o.set ?? []) fields.set(n, v);
  for (const n of o.drop ?? []) fields.delete(n);
  const mti = o.mti ?? def.responseMti;
  if (def.mac && (o.mac ?? 'good') !== 'none') {
    const mac = ecbMac(MAK, macData(profile, { mti, fields }));
    if (o.mac === 'bad') mac[0] ^= 0x01;
    fields.set(64, mac);
  }
  return packFrame(profile, { tpdu: o.tpdu ?? swapTpdu(profile.tpdu), header: profile.header, message: { mti, fields } });
}

function isMalformed(pattern: RegExp) {
  return (e: unknown): boolean => isPosError(e, 'host-malformed') && pattern.test((e as PosError).message);
}

const sale = (): Request => buildSale(profile, saleInput({ stan: 2 }));

describe('host messages', () => {
  describe('pinned frames (test identities)', () => {
    it('signOnFrameIsPinned', () => {
      const bytes = encodeRequest(profile, buildSignOn(profile, { ids: IDS, stan: 1, batch: 1, operator: '001' }));
      assert.equal(toHex(bytes),
        '003C' + '6000030000' + '603100000000' + '0800' + '0020000000C00012' + '000001'
        + '3132333435363738' + '313233343536373839303132333435' + '0011' + '000000010040' + '0003' + '303031');
    });

    it('saleFrameWithPinAndMacIsPinned', () => {
      const pinBlock = pinBlockFormat0(PAN, Buffer.from(PIN_ASCII), FIXED_KEYS.pik);
      const bytes = encodeRequest(profile, buildSale(profile, saleInput({ stan: 2, entryMode: '021', pinBlock })), { mak: MAK });
      // Derived once and pinned: length, TPDU, header, MTI, bitmap (2 3 4 11 14 22 25 26 35 41 42 49 52 53 60 64),
      // then each field; 64 is the ASCII MAC "7C2379D6".
      assert.equal(toHex(bytes),
        '007F' + '6000030000' + '603100000000' + '0200' + '702404C020C09811'
        + '19' + '62220212345678901230' + '000000' + '000000012345' + '000002' + '2512' + '0021' + '00' + '12'
        + '36' + '6222021234567890123D2512201123456789' + '3132333435363738' + '313233343536373839303132333435'
        + '313536' + '2E31BB08A843460C' + '2600000000000000' + '0011' + '220000010000' + '3743323337394436');
    });

    it('settlementFrameIsPinned', () => {
      const req = buildSettlement(profile, { ids: IDS, stan: 3, batch: 1, operator: '001', totals: { saleAmountFen: 12345, saleCount: 1, refundAmountFen: 0, refundCount: 0 } });
      assert.equal(toHex(encodeRequest(profile, req)),
        '0060600003000060310000000005000020000000C18012000003' + '3132333435363738' + '313233343536373839303132333435'
        + '0062' + '00000001234500100000000000000000000000000000000000000000000000' + '313536' + '0011000000012010' + '0003303031');
    });
  });

  describe('builders', () => {
    it('everyRequestCarriesExactlyTheProfileFields', () => {
      const all = everyRequest();
      for (const type of REQUEST_TYPES) {
        const def = profile.messages[type];
        const keys = [...all[type].message.fields.keys()];
        for (const n of def.requestRequired) assert.ok(keys.includes(n), `${type} lacks ${n}`);
        for (const n of keys) assert.ok(def.requestRequired.includes(n) || def.requestOptional.includes(n), `${type} carries ${n}`);
        assert.equal(all[type].message.mti, def.mti);
      }
    });

    it('field60CarriesTypeBatchAndNetworkCode', () => {
      const all = everyRequest();
      assert.equal(all.signOn.message.fields.get(60), '00000001004');
      assert.equal(all.sale.message.fields.get(60), '22000001000');
      assert.equal(all.void.message.fields.get(60), '23000001000');
      assert.equal(all.refund.message.fields.get(60), '25000001000');
      assert.equal(all.balance.message.fields.get(60), '01000001000');
      assert.equal(all.settlement.message.fields.get(60), '00000001201');
      assert.equal(all.batchUploadEnd.message.fields.get(60), '00000001207');
      assert.equal(all.signatureUpload.message.fields.get(60), '07000001800');
      assert.equal(all.void.message.fields.get(3), '200000');
      assert.equal(all.balance.message.fields.get(3), '310000');
    });

    it('reversalCarriesTheOriginalsStanAndReasonAndNoTrackOrPin', () => {
      const { sale: s, reversal } = everyRequest();
      const f = reversal.message.fields;
      assert.equal(reversal.message.mti, '0400');
      assert.equal(f.get(11), s.message.fields.get(11));
      assert.equal(f.get(39), '98');
      assert.equal(f.get(60), s.message.fields.get(60));
      assert.deepEqual(f.get(55), s.message.fields.get(55));
      for (const n of [35, 36, 52, 53, 26]) assert.equal(f.has(n), false, `reversal carries ${n}`);
    });

    it('settlementTotalsAre62DigitsWithZeroForeignTotals', () => {
      const t = { saleAmountFen: 12345, saleCount: 2, refundAmountFen: 100, refundCount: 1 };
      assert.equal(settlementField48(t), '000000012345002000000000100001' + '0' + '0'.repeat(31));
      assert.equal(totalsDigits(t, '1').length, 31);
    });

    it('outOfRangeNumbersAreRefused', () => {
      for (const over of [{ stan: 0 }, { stan: 1_000_000 }, { amountFen: 0 }, { amountFen: 1e12 }, { batch: -1 }, { amountFen: 1.5 }]) {
        assert.throws(() => buildSale(profile, saleInput(over)), (e) => isPosError(e) && e.id === 'HOST_REQUEST_INVALID', JSON.stringify(over));
      }
    });

    it('macedRequestWithoutMakIsKeyMissing', () => {
      assert.throws(() => encodeRequest(profile, sale()), (e) => isPosError(e, 'keys-invalid') && e.id === 'KEY_MISSING');
    });
  });

  describe('response validation', () => {
    it('approvedSaleResponseParsesIntoTypedResult', () => {
      const req = sale();
      const r = parseFinancialResponse(profile, req, reply(req), { mak: MAK });
      assert.equal(r.approved, true);
      assert.equal(r.responseCode, '00');
      assert.equal(r.rrn, '000000000042');
      assert.equal(r.authCode, '654321');
      assert.equal(r.hostTime, '101112');
      assert.equal(r.hostDate, '0102');
      assert.equal(r.text.zh, '交易成功');
    });

    it('declinedSaleIsAResultNotAnError', () => {
      const req = sale();
      const r = parseFinancialResponse(profile, req, reply(req, { set: [[39, '51']], drop: [38] }), { mak: MAK });
      assert.equal(r.approved, false);
      assert.equal(r.text.en, 'Insufficient funds');
    });

    it('responseWithBadMacIsRejectedAsMacFailure', () => {
      const req = sale();
      assert.throws(() => parseFinancialResponse(profile, req, reply(req, { mac: 'bad' }), { mak: MAK }), (e) => isPosError(e, 'mac-failure') && e.id === 'HOST_MAC');
    });

    it('responseWithoutMacIsRejectedAsMacFailure', () => {
      const req = sale();
      assert.throws(() => parseFinancialResponse(profile, req, reply(req, { mac: 'none' }), { mak: MAK }), (e) => isPosError(e, 'mac-failure'));
    });

    it('responseMacedWithAnotherKeyIsRejectedAsMacFailure', () => {
      const req = sale();
      assert.throws(() => parseFinancialResponse(profile, req, reply(req), { mak: FIXED_KEYS.pik }), (e) => isPosError(e, 'mac-failure'));
    });

    it('responseWithWrongMtiIsMalformed', () => {
      const req = sale();
      assert.throws(() => decodeResponse(profile, req, reply(req, { mti: '0230' }), { mak: MAK }), isMalformed(/unexpected message 0230, expected 0210/));
      assert.throws(() => decodeResponse(profile, req, reply(req, { mti: '0200' }), { mak: MAK }), isMalformed(/unexpected message/));
    });

    for (const [n, v] of [[11, '000099'], [41, '87654321'], [42, '999999999999999']] as Array<[number, string]>) {
      it(`responseNotEchoingField${n}IsMalformed`, () => {
        const req = sale();
        assert.throws(() => decodeResponse(profile, req, reply(req, { set: [[n, v]] }), { mak: MAK }), isMalformed(new RegExp(`field ${n} does not echo`)));
      });
    }

    it('responseWithoutResponseCodeIsMalformed', () => {
      const req = sale();
      assert.throws(() => decodeResponse(profile, req, reply(req, { drop: [39] }), { mak: MAK }), isMalformed(/response code missing/));
    });

    it('approvedSaleWithoutAuthCodeIsMalformed', () => {
      const req = sale();
      assert.throws(() => decodeResponse(profile, req, reply(req, { drop: [38] }), { mak: MAK }), isMalformed(/0210 lacks field 38/));
    });

    it('financialResponseWithoutRrnIsMalformed', () => {
      const req = sale();
      assert.throws(() => decodeResponse(profile, req, reply(req, { drop: [37], set: [[39, '05']] }), { mak: MAK }), isMalformed(/lacks field 37/));
    });

    it('responseWithAnotherAmountIsMalformed', () => {
      const req = sale();
      assert.throws(() => decodeResponse(profile, req, reply(req, { set: [[4, '000000000001']] }), { mak: MAK }), isMalformed(/field 4 differs/));
      assert.equal(decodeResponse(profile, req, reply(req, { set: [[4, '000000012345']] }), { mak: MAK }).approved, true);
    });

    it('responseWithUnswappedTpduIsMalformedUnlessTheCheckIsOff', () => {
      const req = sale();
      const bytes = reply(req, { tpdu: profile.tpdu });
      assert.throws(() => decodeResponse(profile, req, bytes, { mak: MAK }), isMalformed(/TPDU addresses/));
      assert.equal(decodeResponse(profile, req, bytes, { mak: MAK, tpduCheck: false }).approved, true);
    });

    it('signOnResponseYieldsWorkingKeysUnderTheTmk', () => {
      const req = everyRequest().signOn;
      const r = parseSignOnResponse(profile, req, reply(req, { set: [[62, wrapWorkingKeys(TMK, FIXED_KEYS)], [60, '00000007004']] }), TMK);
      assert.deepEqual(r.keys, FIXED_KEYS);
      assert.equal(toHex(r.checkValues!.pik), '76CDB553');
      assert.equal(r.hostBatch, 7);
    });

    it('declinedSignOnYieldsNoKeys', () => {
      const req = everyRequest().signOn;
      const r = parseSignOnResponse(profile, req, reply(req, { set: [[39, '03']] }), TMK);
      assert.equal(r.approved, false);
      assert.equal(r.keys, undefined);
      assert.equal(r.text.en, 'Declined (code 03)');
    });

    it('signOnWithWrongCheckValueIsKeyCheck', () => {
      const req = everyRequest().signOn;
      const f62 = wrapWorkingKeys(TMK, FIXED_KEYS);
      f62[59] ^= 0xff;
      assert.throws(() => parseSignOnResponse(profile, req, reply(req, { set: [[62, f62]] }), TMK), (e) => isPosError(e, 'keys-invalid') && e.id === 'KEY_CHECK');
    });

    it('approvedSignOnWithoutKeysIsMalformed', () => {
      const req = everyRequest().signOn;
      assert.throws(() => parseSignOnResponse(profile, req, reply(req), TMK), isMalformed(/0810 lacks field 62/));
    });

    for (const [digit, verdict] of [['1', 'balanced'], ['2', 'unbalanced'], ['3', 'error']]) {
      it(`settlementVerdict${digit}Is${verdict}`, () => {
        const req = everyRequest().settlement;
        const r = parseSettlementResponse(profile, req, reply(req, { set: [[48, '000000012345001000000000100001' + digit + '0'.repeat(31)]] }));
        assert.equal(r.verdict, verdict);
        assert.deepEqual(r.hostTotals, { saleAmountFen: 12345, saleCount: 1, refundAmountFen: 100, refundCount: 1 });
      });
    }

    it('settlementVerdictOutsideOneToThreeIsMalformed', () => {
      const req = everyRequest().settlement;
      assert.throws(() => parseSettlementResponse(profile, req, reply(req, { set: [[48, '0'.repeat(62)]] })), isMalformed(/verdict "0"/));
      assert.throws(() => parseSettlementResponse(profile, req, reply(req, { set: [[48, '0'.repeat(20)]] })), isMalformed(/20 digits/));
    });

    for (const [code, cleared] of [['00', true], ['12', true], ['25', true], ['96', false], ['A0', false]] as Array<[string, boolean]>) {
      it(`reversalAnswered${code}${cleared ? 'ClearsIt' : 'KeepsItPending'}`, () => {
        const req = everyRequest().reversal;
        assert.equal(parseReversalResponse(profile, req, reply(req, { set: [[39, code]] }), { mak: MAK }).cleared, cleared);
      });
    }

    it('balanceInquiryReadsTheBalanceFromField54', () => {
      const req = everyRequest().balance;
      const r = parseFinancialResponse(profile, req, reply(req, { set: [[54, '1002156C000000123456']] }), { mak: MAK });
      assert.deepEqual(r.balance, { currency: '156', amountFen: 123456 });
    });

    it('ackResponsesOfUploadsParse', () => {
      const all = everyRequest();
      for (const t of ['signOff', 'batchUploadRecord', 'batchUploadEnd', 'signatureUpload'] as const) {
        assert.equal(parseAckResponse(profile, all[t], reply(all[t])).approved, true, t);
      }
    });
  });

  describe('response codes', () => {
    it('everyProfileCodeHasZhAndEnText', () => {
      assert.deepEqual([...EXPLAINED_CODES].sort(), ['00', '05', '12', '14', '25', '51', '54', '55', '75', '94', '96', 'A0']);
      for (const c of EXPLAINED_CODES) {
        const t = explainResponseCode(c);
        assert.ok(t.en.length > 0 && t.zh.length > 0);
        assert.equal(t.approved, c === '00');
      }
    });

    it('otherCodesReadDeclinedWithTheCode', () => {
      assert.deepEqual(explainResponseCode('77'), { code: '77', approved: false, en: 'Declined (code 77)', zh: '交易失败（应答码77）' });
    });
  });
});

/**
 * The Version 2 payloads of docs/PROTOCOL.md at the byte level: the status upload's and the
 * parameter download's field 62 (BER-TLV), field 59 of the QR payments, the 115% completion rule,
 * and how a host's QR answer is checked.
 */
import { strict as assert } from 'node:assert';
import * as iconv from 'iconv-lite';
import { isPosError } from '../../common/errors';
import { encodeTlv } from '../../runtime/txn/emv';
import {
  buildQrQuery, buildQrSale, completionFenMax, encodeField59, encodeHostParameters, parseField59, parseHostParameters,
  parseQrResponse, parseStatusTlv, statusTlv,
} from '../../runtime/host/messages-v2';
import { encodeRequest } from '../../runtime/host/messages';
import { packFrame, swapTpdu } from '../../runtime/host/packager';
import { FieldValue } from '../../runtime/host/packager';
import { ecbMac } from '../../runtime/host/crypto';
import { macData } from '../../runtime/host/packager';
import { FIXED_KEYS, IDS, hex, profile } from './fixtures';

const refused = (code: string) => (e: unknown): boolean => isPosError(e) && e.code === code;

describe('host protocol V2 payloads', () => {
  describe('parameter download (62)', () => {
    it('everyTagInRangeIsRead', () => {
      const p = parseHostParameters(encodeHostParameters({
        merchantName: '上海测试商户', responseTimeoutS: 45, reversalTries: 2, amountFenMax: 800_000, offlineAllowed: true,
        offlineFloorFen: 30_000, offlineCountMax: 5, qrAllowed: false, preAuthAllowed: true, eReceiptBase: 'https://r.example.com:8443/e',
      }));
      assert.deepEqual(p, {
        merchantName: '上海测试商户', responseTimeoutS: 45, reversalTries: 2, amountFenMax: 800_000, offlineAllowed: true,
        offlineFloorFen: 30_000, offlineCountMax: 5, qrAllowed: false, preAuthAllowed: true, eReceiptBase: 'https://r.example.com:8443/e',
      });
    });

    it('merchantNameIsDecodedAsGb18030', () => {
      const bytes = encodeTlv(0xdf11, iconv.encode('测试', 'gb18030'));
      assert.equal(bytes.length, 3 + 4, 'two characters are 4 GB18030 bytes, not 6 UTF-8 bytes');
      assert.equal(parseHostParameters(bytes).merchantName, '测试');
    });

    it('unknownTagsAreIgnored', () => {
      const p = parseHostParameters(Buffer.concat([encodeTlv(0xdf7f, hex('0102')), encodeTlv(0xdf12, Buffer.from([30]))]));
      assert.deepEqual(p, { responseTimeoutS: 30 });
    });

    for (const [name, tlv] of [
      ['timeoutBelow10', encodeTlv(0xdf12, Buffer.from([9]))],
      ['timeoutAbove120', encodeTlv(0xdf12, Buffer.from([121]))],
      ['reversalTriesZero', encodeTlv(0xdf13, Buffer.from([0]))],
      ['maximumAmountZero', encodeTlv(0xdf14, hex('000000000000'))],
      ['maximumAmountNotBcd', encodeTlv(0xdf14, hex('00000000001A'))],
      ['offlineSwitchTwo', encodeTlv(0xdf15, Buffer.from([2]))],
      ['qrSwitchTwoBytes', encodeTlv(0xdf18, hex('0001'))],
      ['merchantNameOver40Bytes', encodeTlv(0xdf11, Buffer.alloc(41, 0x41))],
    ] as const) {
      it(`${name}RefusesTheWholeDownload`, () => {
        const good = encodeTlv(0xdf17, Buffer.from([3]));
        assert.throws(() => parseHostParameters(Buffer.concat([good, tlv])), refused('E-HOST-09'));
      });
    }

    // DF1A is this runtime's e-receipt address, not the profile's: another host's DF1A is an unknown tag.
    for (const [name, value] of [
      ['eReceiptAddressPlainHttp', Buffer.from('http://r.example.com/e')],
      ['eReceiptAddressWithAQuery', Buffer.from('https://r.example.com/e?x=1')],
      ['eReceiptAddressWithASpace', Buffer.from('https://r.example.com/e f')],
      ['eReceiptAddressOver100Bytes', Buffer.from(`https://r.example.com/${'a'.repeat(80)}`)],
      ['anotherHostsOneByteDf1a', Buffer.from([1])],
    ] as const) {
      it(`${name}IsIgnoredAndTheRestApplied`, () => {
        const p = parseHostParameters(Buffer.concat([encodeTlv(0xdf17, Buffer.from([3])), encodeTlv(0xdf1a, value)]));
        assert.deepEqual(p, { offlineCountMax: 3 });
      });
    }

    it('anEReceiptAddressIsTaken', () => {
      assert.deepEqual(parseHostParameters(encodeTlv(0xdf1a, Buffer.from('https://r.example.com/e'))), { eReceiptBase: 'https://r.example.com/e' });
    });

    it('notTlvRefusesTheDownload', () => {
      assert.throws(() => parseHostParameters(hex('DF1105414243')), refused('E-HOST-09'));
    });
  });

  describe('status upload (62)', () => {
    it('statusRoundTrips', () => {
      const s = { softwareVersion: '0.2.0', batteryPercent: 63, freeJournalKiB: 123_456, lastErrorCode: 'E-NET-05', uptimeS: 86_400 };
      assert.deepEqual(parseStatusTlv(statusTlv(s)), s);
    });

    it('outOfFieldValuesSaturateInsteadOfWrapping', () => {
      const back = parseStatusTlv(statusTlv({ softwareVersion: 'v'.repeat(30), batteryPercent: 140, freeJournalKiB: 2 ** 40, uptimeS: 1 }));
      assert.equal(back.softwareVersion.length, 20);
      assert.equal(back.batteryPercent, 100);
      assert.equal(back.freeJournalKiB, 0xffff_ffff);
      assert.equal(back.lastErrorCode, undefined);
    });
  });

  describe('QR data (59)', () => {
    it('tagsAreTagLengthValueInTagOrder', () => {
      assert.equal(encodeField59({ A7: 90, A2: 'ORDER0000001' }), 'A2012ORDER0000001A7003090');
    });

    it('hostTagsParseAndUnknownOnesAreSkipped', () => {
      assert.deepEqual(parseField59('A2012ORDER0000001Z9003abcA4002WXA5006Z***AN'), { A2: 'ORDER0000001', A4: 'WX', A5: 'Z***AN' });
    });

    for (const [name, text] of [
      ['lengthNotDigits', 'A20X2ORDER0000001'],
      ['tagLongerThanTheField', 'A2020ORDER0000001'],
      ['headerCut', 'A201'],
      ['walletUnknown', 'A4002XX'],
      ['orderNumberTooShort', 'A2005ABCDE'],
    ] as const) {
      it(`${name}IsMalformed`, () => {
        assert.throws(() => parseField59(text), refused('E-HOST-02'));
      });
    }

    it('paymentCodeOutsideSixteenToThirtyTwoDigitsIsRefusedBeforeSending', () => {
      assert.throws(() => buildQrSale(profile, { ids: IDS, stan: 1, batch: 1, amountFen: 100, paymentCode: '123456789012345' }), refused('E-HOST-07'));
      assert.throws(() => buildQrSale(profile, { ids: IDS, stan: 1, batch: 1, amountFen: 100, paymentCode: '1'.repeat(33) }), refused('E-HOST-07'));
      assert.doesNotThrow(() => buildQrSale(profile, { ids: IDS, stan: 1, batch: 1, amountFen: 100, paymentCode: '1'.repeat(16) }));
    });
  });

  describe('QR answers', () => {
    const query = buildQrQuery(profile, { ids: IDS, stan: 7, batch: 1, amountFen: 1500, original: { batch: 1, stan: 6, dateMmdd: '0102', entryMode: '032', orderNo: 'ORDER0000006' } });
    /** The host's answer to `query` with these fields, MACed with the fixed MAK. */
    function answer(code: string, extra: Array<[number, FieldValue]>): Buffer {
      const fields = new Map<number, FieldValue>([[3, '300000'], [4, '000000001500'], [11, '000007'], [12, '101010'], [13, '0102'], [37, '000000000007'], [39, code], [41, IDS.tid], [42, IDS.mid], ...extra]);
      const sorted = new Map([...fields.entries()].sort((a, b) => a[0] - b[0]));
      const message = { mti: '0210', fields: sorted };
      const withMac = new Map(sorted);
      withMac.set(64, ecbMac(FIXED_KEYS.mak, macData(profile, message)));
      return packFrame(profile, { tpdu: swapTpdu(profile.tpdu), header: profile.header, message: { mti: '0210', fields: withMac } });
    }

    it('p1IsWaitingWithoutAuthorizationCode', () => {
      encodeRequest(profile, query, { mak: FIXED_KEYS.mak });
      const r = parseQrResponse(profile, query, answer('P1', [[59, 'A2012ORDER0000006']]), { mak: FIXED_KEYS.mak });
      assert.equal(r.waiting, true);
      assert.equal(r.approved, false);
      assert.equal(r.authCode, undefined);
    });

    it('paidAnswerWithoutOrderNumberIsMalformed', () => {
      assert.throws(() => parseQrResponse(profile, query, answer('00', [[38, '123456'], [59, 'A4002WX']]), { mak: FIXED_KEYS.mak }), refused('E-HOST-02'));
    });

    it('paidAnswerCarriesWalletAndPayer', () => {
      const r = parseQrResponse(profile, query, answer('00', [[38, '123456'], [59, 'A2012ORDER0000006A4002ALA5004l**i']]), { mak: FIXED_KEYS.mak });
      assert.deepEqual(r.qr, { A2: 'ORDER0000006', A4: 'AL', A5: 'l**i' });
      assert.equal(r.waiting, false);
    });
  });

  describe('completion limit', () => {
    it('completionMayBeAtMost115PercentRoundedDown', () => {
      assert.equal(completionFenMax(10_000), 11_500);
      assert.equal(completionFenMax(1), 1);
      assert.equal(completionFenMax(333), 382);
    });
  });
});

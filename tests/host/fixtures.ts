/**
 * Test identities of docs/PROTOCOL.md and fixed keys/cards for the host protocol tests. The working
 * keys here are arbitrary fixed values (a real host issues random ones at sign-on).
 */
import { mulberry32 } from '../../sim/disk-model';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { SaleInput, TerminalIds } from '../../runtime/host/messages';
import { WorkingKeys } from '../../runtime/host/crypto';

export const profile = CUP_PROFILE;
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
export const toHex = (b: Buffer): string => b.toString('hex').toUpperCase();

export const IDS: TerminalIds = { tid: '12345678', mid: '123456789012345' };
export const TMK = hex('0123456789ABCDEFFEDCBA9876543210');

export const FIXED_KEYS: WorkingKeys = {
  pik: hex('A1B2C3D4E5F60718293A4B5C6D7E8F90'),
  mak: hex('F1E2D3C4B5A69788F1E2D3C4B5A69788'),
  tdk: hex('00112233445566778899AABBCCDDEEFF'),
};

export const PAN = '6222021234567890123';
export const TRACK2 = '6222021234567890123=2512201123456789';
export const PIN_ASCII = '123456';

export function saleInput(over: Partial<SaleInput> = {}): SaleInput {
  return {
    ids: IDS, stan: 1, batch: 1, pan: PAN, amountFen: 12345, expiry: '2512', entryMode: '022', conditionCode: '00',
    track2: TRACK2, ...over,
  };
}

/** A deterministic PRNG (mulberry32, the disk model's) for fuzzing and seeded simulator keys. */
export const prng: (seed: number) => () => number = mulberry32;

export function seededBytes(seed: number): (count: number) => Buffer {
  const next = prng(seed);
  return (count) => Buffer.from(Array.from({ length: count }, () => Math.floor(next() * 256)));
}

import {
  Request, buildBalance, buildBatchUploadEnd, buildBatchUploadRecord, buildRefund, buildReversal, buildSale, buildSettlement,
  buildSignOff, buildSignOn, buildSignatureUpload, buildVoid, reversalInputOf,
} from '../../runtime/host/messages';
import { RequestType } from '../../runtime/host/fields';
import {
  buildAidDownload, buildCaKeyDownload, buildCompletion, buildCompletionVoid, buildDownloadEnd, buildEcho, buildOfflineAdvice,
  buildParamDownload, buildPreAuth, buildPreAuthVoid, buildQrOrder, buildQrQuery, buildQrRefund, buildQrSale, buildQrVoid,
  buildScriptNotice, buildStatusUpload,
} from '../../runtime/host/messages-v2';

/** One request of every type of the profile, with every optional field a card can add. */
export function everyRequest(): Record<RequestType, Request> {
  const pinBlock = hex('2E31BB08A843460C');
  const sale = buildSale(profile, saleInput({
    entryMode: '051', cardSeq: '001', track3: '996222021234567890123=1561560500050006021013000000010000000000=000000000000=000000000000=00000000',
    pinBlock, field55: hex('9F2608A1B2C3D4E5F607189F2701809F101307010103A00000010A010000000000ABCDEF12'),
  }));
  const original = { batch: 1, stan: 1, rrn: '000000000001', authCode: '000001' };
  return {
    signOn: buildSignOn(profile, { ids: IDS, stan: 1, batch: 1, operator: '001' }),
    signOff: buildSignOff(profile, { ids: IDS, stan: 9, batch: 1 }),
    sale,
    void: buildVoid(profile, { ids: IDS, stan: 3, batch: 1, pan: PAN, entryMode: '022', amountFen: 12345, original }),
    refund: buildRefund(profile, { ids: IDS, stan: 4, batch: 1, pan: PAN, entryMode: '021', amountFen: 100, original: { ...original, dateMmdd: '0102' } }),
    balance: buildBalance(profile, { ids: IDS, stan: 5, batch: 1, pan: PAN, entryMode: '021', track2: TRACK2, pinBlock }),
    reversal: buildReversal(profile, reversalInputOf(sale, IDS, '98', '000001')),
    settlement: buildSettlement(profile, { ids: IDS, stan: 6, batch: 1, operator: '001', totals: { saleAmountFen: 12345, saleCount: 1, refundAmountFen: 100, refundCount: 1 } }),
    batchUploadRecord: buildBatchUploadRecord(profile, { ids: IDS, stan: 7, batch: 1, pan: PAN, processingCode: '000000', amountFen: 12345, entryMode: '021', rrn: '000000000001', authCode: '000001' }),
    batchUploadEnd: buildBatchUploadEnd(profile, { ids: IDS, stan: 8, batch: 1, count: 1 }),
    signatureUpload: buildSignatureUpload(profile, { ids: IDS, stan: 10, batch: 1, settlementDateMmdd: '0102', rrn: '000000000001', image: Buffer.alloc(900, 0xa5) }),
    echo: buildEcho(profile, { ids: IDS, stan: 11, batch: 1 }),
    statusUpload: buildStatusUpload(profile, { ids: IDS, stan: 12, batch: 1, status: { softwareVersion: '0.2.0', batteryPercent: 87, freeJournalKiB: 120_000, lastErrorCode: 'E-NET-05', uptimeS: 3600 } }),
    paramDownload: buildParamDownload(profile, { ids: IDS, stan: 13, batch: 1 }),
    caKeyDownload: buildCaKeyDownload(profile, { ids: IDS, stan: 14, batch: 1, rid: hex('A000000333'), index: 0x08 }),
    caKeyDownloadEnd: buildDownloadEnd(profile, 'caKeyDownloadEnd', { ids: IDS, stan: 15, batch: 1 }),
    aidDownload: buildAidDownload(profile, { ids: IDS, stan: 16, batch: 1, aid: hex('A000000333010101') }),
    aidDownloadEnd: buildDownloadEnd(profile, 'aidDownloadEnd', { ids: IDS, stan: 17, batch: 1 }),
    preAuth: buildPreAuth(profile, saleInput({ stan: 18, entryMode: '051', cardSeq: '001', pinBlock, field55: hex('9F2608A1B2C3D4E5F60718') })),
    preAuthVoid: buildPreAuthVoid(profile, { ids: IDS, stan: 19, batch: 1, amountFen: 12345, card: { pan: PAN, entryMode: '021', expiry: '2512', track2: TRACK2 }, original: { batch: 1, stan: 18, dateMmdd: '0102', authCode: '000018' } }),
    completion: buildCompletion(profile, { ids: IDS, stan: 20, batch: 1, amountFen: 14000, pan: PAN, entryMode: '012', expiry: '2512', original: { batch: 1, stan: 18, dateMmdd: '0102', authCode: '000018' } }),
    completionVoid: buildCompletionVoid(profile, { ids: IDS, stan: 21, batch: 1, amountFen: 14000, pan: PAN, entryMode: '012', original: { batch: 1, stan: 20, dateMmdd: '0102', authCode: '000020', rrn: '000000000020' } }),
    offlineAdvice: buildOfflineAdvice(profile, { ...saleInput({ stan: 22 }), authCode: 'Y10022' }),
    qrSale: buildQrSale(profile, { ids: IDS, stan: 23, batch: 1, amountFen: 1500, paymentCode: '134512345678901234' }),
    qrOrder: buildQrOrder(profile, { ids: IDS, stan: 24, batch: 1, amountFen: 1500, validityS: 120 }),
    qrQuery: buildQrQuery(profile, { ids: IDS, stan: 25, batch: 1, amountFen: 1500, original: { batch: 1, stan: 23, dateMmdd: '0102', entryMode: '032', orderNo: 'ORD000000000023' } }),
    qrVoid: buildQrVoid(profile, { ids: IDS, stan: 26, batch: 1, amountFen: 1500, original: { batch: 1, stan: 23, dateMmdd: '0102', entryMode: '032', orderNo: 'ORD000000000023', rrn: '000000000023' } }),
    qrRefund: buildQrRefund(profile, { ids: IDS, stan: 27, batch: 1, amountFen: 1500, original: { batch: 1, stan: 24, dateMmdd: '0102', entryMode: '033', orderNo: 'ORD000000000024', rrn: '000000000024' } }),
    scriptNotice: buildScriptNotice(profile, { ids: IDS, stan: 28, batch: 1, pan: PAN, processingCode: '000000', amountFen: 12345, entryMode: '051', cardSeq: '001', rrn: '000000000001', field55: hex('9F2608A1B2C3D4E5F60718DF31052000000000'), original: { batch: 1, stan: 1, dateMmdd: '0102' } }),
  };
}

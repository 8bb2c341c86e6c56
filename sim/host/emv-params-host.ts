/**
 * The acquirer simulator's side of the CA key (370/371) and AID (380/381) downloads
 * (docs/PROTOCOL.md "CA key and AID download"): the list without 62, one item with 62 (an unknown
 * item is answered 25, a 62 that is not the item's TLV 30), the end message 00.
 *
 * Fault `ca-key-bad-check` (sim/host/faults.ts): the next key answered carries a check value
 * that does not match its key, which the terminal must refuse with the whole set.
 */
import { CaPublicKey, caKeyChecksum } from '../../runtime/txn/emv-rsa';
import {
  AidParams, CaKeyId, encodeAid, encodeAidList, encodeCaKey, encodeCaKeyList, parseAidRequest, parseCaKeyRequest,
} from '../../runtime/host/emv-params';
import { TEST_CA_KEYS, TEST_CA_RID_HEX } from './test-ca-keys';

const CODE_UNKNOWN_ITEM = '25';
const CODE_FORMAT_ERROR = '30';

export interface EmvAnswer { readonly code: string; readonly f62?: Buffer }

/** The CA keys the test host serves (with their check values), in list order. */
export function testCaPublicKeys(): CaPublicKey[] {
  return TEST_CA_KEYS.map((k) => {
    const key: CaPublicKey = {
      rid: Buffer.from(TEST_CA_RID_HEX, 'hex'), index: k.index, expiryYyyymmdd: k.expiryYyyymmdd,
      modulus: Buffer.from(k.modulusHex, 'hex'), exponent: Buffer.from(k.exponentHex, 'hex'),
    };
    return { ...key, checksum: caKeyChecksum(key) };
  });
}

const hex = (h: string): Buffer => Buffer.from(h, 'hex');

/**
 * UnionPay's application identifiers (debit, credit, quasi-credit) with TACs and limits typical of
 * a domestic acquirer's test set (amounts in fen: contactless floor limit 200 yuan, so that a qPBOC
 * card may approve a smaller tap offline when the host's offline parameters allow it; contactless
 * transaction limit 1,000 yuan (from there: insert or swipe); CVM required from 300 yuan; contact
 * floor limit 0: every inserted card's sale goes online).
 */
export function testAids(): AidParams[] {
  const common = {
    asi: 0, appVersion: hex('0030'), tacDefault: hex('D84000A800'), tacOnline: hex('D84004F800'), tacDenial: hex('0010000000'),
    floorLimitFen: 0, clFloorLimitFen: 20_000, clTxnLimitFen: 100_000, cvmRequiredLimitFen: 30_000,
  };
  return ['A000000333010101', 'A000000333010102', 'A000000333010103'].map((aid) => ({ ...common, aid: hex(aid) }));
}

export class EmvParamsHost {
  constructor(
    private readonly caKeys: readonly CaPublicKey[] = testCaPublicKeys(),
    private readonly aids: readonly AidParams[] = testAids(),
  ) {}

  caKeyDownload(f62: Buffer | undefined, badCheck: boolean): EmvAnswer {
    if (f62 === undefined || f62.length === 0) return { code: '00', f62: encodeCaKeyList(this.caKeys.map((k): CaKeyId => ({ rid: k.rid, index: k.index }))) };
    const id = parseCaKeyRequest(f62);
    if (id === undefined) return { code: CODE_FORMAT_ERROR };
    const key = this.caKeys.find((k) => k.rid.equals(id.rid) && k.index === id.index);
    if (key === undefined) return { code: CODE_UNKNOWN_ITEM };
    if (!badCheck) return { code: '00', f62: encodeCaKey(key) };
    const wrong = Buffer.from(key.checksum ?? Buffer.alloc(20));
    wrong[0] ^= 0xff;
    return { code: '00', f62: encodeCaKey({ ...key, checksum: wrong }) };
  }

  aidDownload(f62: Buffer | undefined): EmvAnswer {
    if (f62 === undefined || f62.length === 0) return { code: '00', f62: encodeAidList(this.aids.map((a) => a.aid)) };
    const aid = parseAidRequest(f62);
    if (aid === undefined) return { code: CODE_FORMAT_ERROR };
    const found = this.aids.find((a) => a.aid.equals(aid));
    return found === undefined ? { code: CODE_UNKNOWN_ITEM } : { code: '00', f62: encodeAid(found) };
  }
}

/**
 * The chip read's first GENERATE AC and field 55 (runtime/txn/card.ts, runtime/txn/emv.ts),
 * against the simulated test cards (sim/test-cards.ts) through a reader that hands the APDUs to
 * the card: the CDOL1 data, the ARQC request, the allow-list (a card that returns PAN, track and
 * name tags does not get them into field 55), and the journal record's own check.
 */
import { strict as assert } from 'node:assert';
import { CardRequest, readCard } from '../../runtime/txn/card';
import {
  DEFAULT_CDOL1, FIELD55_TAGS, NEVER_IN_FIELD55, dolData, encodeTlv, field55Of, field55Tags, isSanitizedField55, parseTlv, primitives, sanitizeField55,
} from '../../runtime/txn/emv';
import { ChipCard, SIM_AIP, SIM_CDOL1, SIM_IAD, TEST_CARDS, tlv, track2Equivalent } from '../../sim/test-cards';
import { SIM_AFL, TEST_ISSUER_MASTER_KEY } from '../../sim/emv-card';
import { testAids, testCaPublicKeys } from '../../sim/host/emv-params-host';
import { AC_INPUT_TAGS, acInput, deriveIccMasterKeyOptionA, verifyApplicationCryptogram } from '../../runtime/txn/emv-issuer-auth';
import { rec } from '../../runtime/records';
import { InvariantError, isPosError } from '../../common/errors';
import { ChipCardReader } from './fakes';

const REQ = (over: Partial<CardRequest> = {}): CardRequest => ({
  txnType: 'sale', amountFen: 12345, dateYymmdd: '261121', unpredictable: Buffer.from('A1B2C3D4', 'hex'), ifdSerial: '12345678',
  params: { caKeys: testCaPublicKeys(), aids: testAids() }, ...over,
});
const hexTag = (t: number): string => t.toString(16).toUpperCase();
const bcdPan = (pan: string): Buffer => Buffer.from(pan.length % 2 ? `${pan}F` : pan, 'hex');
const ALLOWED = new Set(FIELD55_TAGS.map(([t]) => t));
/**
 * Terminal data of REQ() in the order of the CDOL1 both test cards use (29 bytes). The TVR is what
 * the kernel's steps set for the IC test card: DDA passed; online PIN entered (its CVM list); floor
 * limit (0) exceeded.
 */
const CDOL_DATA_REQ = '000000012345' + '000000000000' + '0156' + '0000048000' + '0156' + '261121' + '00' + 'A1B2C3D4';

/**
 * The host's check of an ARQC (docs/PROTOCOL.md): the card key derived from the test issuer master
 * key by option A (PAN, PSN), MAC algorithm 3 over 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 as
 * field 55 carries them.
 */
function arqcVerifies(f55: Buffer, pan: string, psn: string): boolean {
  const m = primitives(f55);
  const input = acInput(m, AC_INPUT_TAGS);
  assert.ok(input, 'field 55 carries every value the ARQC covers');
  return verifyApplicationCryptogram(deriveIccMasterKeyOptionA(TEST_ISSUER_MASTER_KEY, pan, psn), input, m.get(0x9f26) as Buffer);
}

function genAc(reader: ChipCardReader): { command: Buffer; data: Buffer } {
  const g = reader.apdus.find((a) => a.command[0] === 0x80 && a.command[1] === 0xae);
  assert.ok(g, 'a GENERATE AC was sent');
  return { command: g.command, data: g.command.subarray(5, 5 + g.command[4]) };
}

/** The IC card, answering GENERATE AC (and GPO) with PAN, track 2, track 1, name and more beside the cryptogram. */
function leakyCard(base: ChipCard, panInIad = false): ChipCard {
  const track2 = `${base.pan}=${base.expiry.slice(0, 4)}2010000012345678`.slice(0, 37);
  const sensitive = Buffer.concat([
    tlv(0x5a, bcdPan(base.pan)), tlv(0x57, track2Equivalent(track2)), tlv(0x5f20, Buffer.from('TEST/CARDHOLDER')),
    tlv(0x56, Buffer.from(`B${base.pan}^TEST/CARDHOLDER^3012201`)), tlv(0x9f6b, track2Equivalent(track2)),
    tlv(0x9f1f, Buffer.from('2010000012345678')), tlv(0x9f20, Buffer.from('12345678')), tlv(0x5f24, '301231'),
  ]);
  return {
    ...base,
    respond: (apdu: Buffer): Buffer => {
      if (apdu[0] === 0x80 && apdu[1] === 0xae) {
        const real = primitives(base.respond(apdu).subarray(0, -2));
        const iad = panInIad ? Buffer.concat([SIM_IAD.subarray(0, 4), bcdPan(base.pan)]) : SIM_IAD;
        return Buffer.concat([tlv(0x77, Buffer.concat([sensitive, tlv(0x9f27, '80'), tlv(0x9f36, real.get(0x9f36) as Buffer), tlv(0x9f26, real.get(0x9f26) as Buffer), tlv(0x9f10, iad)])), Buffer.from('9000', 'hex')]);
      }
      if (apdu[0] === 0x80 && apdu[1] === 0xa8) {
        base.respond(apdu);
        return Buffer.concat([tlv(0x77, Buffer.concat([sensitive, tlv(0x82, SIM_AIP), tlv(0x94, SIM_AFL)])), Buffer.from('9000', 'hex')]);
      }
      return base.respond(apdu);
    },
  };
}

function assertNoCardholderData(f55: Buffer, pan: string): void {
  for (const t of field55Tags(f55)) assert.ok(ALLOWED.has(t), `tag ${hexTag(t)} is not on the allow-list`);
  for (const t of NEVER_IN_FIELD55) assert.ok(!field55Tags(f55).includes(t), `tag ${hexTag(t)} in field 55`);
  assert.equal(f55.indexOf(bcdPan(pan)), -1, 'PAN (BCD) in field 55');
  assert.equal(f55.indexOf(Buffer.from(pan.slice(0, 12), 'hex')), -1, 'PAN digits (BCD) in field 55');
  assert.equal(f55.indexOf(Buffer.from(pan)), -1, 'PAN (ASCII) in field 55');
  assert.equal(f55.indexOf(Buffer.from('TEST/CARDHOLDER')), -1, 'cardholder name in field 55');
}

describe('EMV: first GENERATE AC and field 55', () => {
  it('IC card: its CDOL1 (8C) filled with the terminal data, GENERATE AC asks for an ARQC (P1 80), field 55 holds the allow-listed tags', async () => {
    const reader = new ChipCardReader(TEST_CARDS.icDebit);
    const card = await readCard(reader, ['insert'], 1000, REQ());
    const { command, data } = genAc(reader);
    assert.equal(command.subarray(0, 4).toString('hex'), '80ae8000');
    assert.equal(command[command.length - 1], 0x00, 'Le 00');
    assert.equal(data.toString('hex').toUpperCase(), CDOL_DATA_REQ);
    const f55 = card.field55 as Buffer;
    assert.ok(f55 && f55.length <= 255);
    assert.deepEqual(field55Tags(f55).map(hexTag), ['9F26', '9F27', '9F10', '9F37', '9F36', '95', '9A', '9C', '9F02', '5F2A', '82', '9F1A', '9F03', '9F33', '9F34', '9F35', '9F1E', '84', '9F09']);
    const m = primitives(f55);
    assert.ok(arqcVerifies(f55, TEST_CARDS.icDebit.pan, '01'), 'the card\'s ARQC verifies under the card key from the test issuer master key');
    assert.equal(m.get(0x95)?.toString('hex'), '0000048000', 'TVR as the kernel set it');
    assert.equal(m.get(0x9f34)?.toString('hex'), '420300', 'CVM results: online PIN (the card\'s first rule), result unknown');
    assert.equal(card.chip?.oda, 'dda');
    assert.equal(card.chip?.odaFailure, undefined);
    assert.equal(m.get(0x9f27)?.toString('hex'), '80', 'CID: ARQC');
    assert.deepEqual(m.get(0x9f10), SIM_IAD);
    assert.equal(m.get(0x9f02)?.toString('hex'), '000000012345');
    assert.equal(m.get(0x9f37)?.toString('hex'), 'a1b2c3d4');
    assert.equal(m.get(0x9c)?.toString('hex'), '00');
    assert.equal(m.get(0x9a)?.toString('hex'), '261121');
    assert.equal(m.get(0x9f1a)?.toString('hex'), '0156');
    assert.equal(m.get(0x5f2a)?.toString('hex'), '0156');
    assert.equal(m.get(0x9f1e)?.toString('ascii'), '12345678');
    assert.equal(m.get(0x84)?.toString('hex').toUpperCase(), 'A000000333010101');
    assert.deepEqual(m.get(0x82), SIM_AIP);
    assert.equal(card.entryMode, '051');
    assert.deepEqual(card.emv, { txnType: 'sale', amountFen: 12345 });
    assert.equal(card.pan, TEST_CARDS.icDebit.pan);
    assert.equal(reader.released, 1, 'the card is released after the read');
    assertNoCardholderData(f55, card.pan);
  });

  it('contactless card without a CDOL1: the default CDOL1 is used; its format 1 answer (tag 80) is parsed', async () => {
    const reader = new ChipCardReader(TEST_CARDS.contactless);
    const card = await readCard(reader, ['tap'], 1000, REQ({ amountFen: 1 }));
    assert.deepEqual(DEFAULT_CDOL1, SIM_CDOL1, 'the default CDOL1 is the list the IC card names');
    const { data } = genAc(reader);
    assert.equal(data.length, 29);
    assert.equal(data.subarray(0, 6).toString('hex'), '000000000001');
    const m = primitives(card.field55 as Buffer);
    assert.ok(arqcVerifies(card.field55 as Buffer, TEST_CARDS.contactless.pan, '02'), 'the ARQC verifies');
    assert.deepEqual(m.get(0x9f10), SIM_IAD);
    assert.equal(m.get(0x9f27)?.toString('hex'), '80');
    assert.equal(card.entryMode, '071');
    assertNoCardholderData(card.field55 as Buffer, card.pan);
  });

  it('refund and balance inquiry: 9C is 20 and 31; a balance inquiry has amount 0', async () => {
    for (const [txnType, amountFen, code] of [['refund', 400, '20'], ['balance', 0, '31']] as const) {
      const card = await readCard(new ChipCardReader(TEST_CARDS.icDebit), ['insert'], 1000, REQ({ txnType, amountFen }));
      const m = primitives(card.field55 as Buffer);
      assert.equal(m.get(0x9c)?.toString('hex'), code);
      assert.equal(m.get(0x9f02)?.toString('hex'), String(amountFen).padStart(12, '0'));
      assert.deepEqual(card.emv, { txnType, amountFen });
    }
  });

  it('the same request gives the same field 55 (a seeded run replays); another unpredictable number another ARQC', async () => {
    const a = await readCard(new ChipCardReader(TEST_CARDS.icDebit), ['insert'], 1000, REQ());
    const b = await readCard(new ChipCardReader(TEST_CARDS.icDebit), ['insert'], 1000, REQ());
    const c = await readCard(new ChipCardReader(TEST_CARDS.icDebit), ['insert'], 1000, REQ({ unpredictable: Buffer.from('00000001', 'hex') }));
    assert.deepEqual(a.field55, b.field55);
    assert.notDeepEqual(primitives(a.field55 as Buffer).get(0x9f26), primitives(c.field55 as Buffer).get(0x9f26));
  });

  it('a card that returns PAN, track 2, track 1, name and expiry tags (5A 57 56 5F20 9F6B 9F1F 9F20 5F24) in its answers: none of them reaches field 55', async () => {
    const card = await readCard(new ChipCardReader(leakyCard(TEST_CARDS.icDebit)), ['insert'], 1000, REQ());
    const f55 = card.field55 as Buffer;
    assertNoCardholderData(f55, card.pan);
    assert.ok(primitives(f55).has(0x9f26), 'the cryptogram is still there');
    assert.ok(primitives(f55).has(0x9f10));
    assert.ok(isSanitizedField55(f55));
  });

  it('issuer application data that holds the PAN is dropped from field 55', async () => {
    const card = await readCard(new ChipCardReader(leakyCard(TEST_CARDS.icDebit, true)), ['insert'], 1000, REQ());
    const f55 = card.field55 as Buffer;
    assert.equal(primitives(f55).has(0x9f10), false);
    assertNoCardholderData(f55, card.pan);
  });

  it('a card that declines offline (AAC) ends the read with E-RDR-08 and is released; nothing to send', async () => {
    const base = TEST_CARDS.icDebit;
    const declining: ChipCard = {
      ...base,
      respond: (apdu) => (apdu[1] === 0xae ? base.respond(Buffer.concat([apdu.subarray(0, 2), Buffer.from([0x00]), apdu.subarray(3)])) : base.respond(apdu)),
    };
    const reader = new ChipCardReader(declining);
    await assert.rejects(readCard(reader, ['insert'], 1000, REQ()), (e: unknown) => isPosError(e) && e.code === 'E-RDR-08' && /AAC/.test(e.message));
    assert.equal(reader.released, 1);
  });

  it('a GENERATE AC answer without the cryptogram or counter is unreadable', async () => {
    const base = TEST_CARDS.icDebit;
    const broken: ChipCard = { ...base, respond: (apdu) => (apdu[1] === 0xae ? Buffer.concat([tlv(0x77, tlv(0x9f27, '80')), Buffer.from('9000', 'hex')]) : base.respond(apdu)) };
    await assert.rejects(readCard(new ChipCardReader(broken), ['insert'], 1000, REQ()), (e: unknown) => isPosError(e) && e.code === 'E-RDR-02');
  });

  it('without a request (a read outside a transaction) there is no GENERATE AC and no field 55', async () => {
    const reader = new ChipCardReader(TEST_CARDS.icDebit);
    const card = await readCard(reader, ['insert'], 1000);
    assert.equal(card.field55, undefined);
    assert.equal(reader.apdus.some((a) => a.command[1] === 0xae), false);
  });

  it('DOL data: numeric values padded and cut on the left, others on the right, unknown tags as zeros', () => {
    const values = new Map<number, Buffer>([[0x9f02, Buffer.from('000000012345', 'hex')], [0x9f1e, Buffer.from('ABCDEFGH')], [0x9c, Buffer.from('20', 'hex')]]);
    // 9F02 in 4 bytes (cut left), 9F1E in 10 (padded right), 9C in 2 (padded left), 9F4E (unknown) in 3.
    const out = dolData(Buffer.from('9F02049F1E0A9C029F4E03', 'hex'), values);
    assert.equal(out.toString('hex').toUpperCase(), '00012345' + Buffer.from('ABCDEFGH').toString('hex').toUpperCase() + '0000' + '0020' + '000000');
    assert.equal(dolData(Buffer.from('9F1E04', 'hex'), values).toString(), 'ABCD');
  });

  it('sanitizeField55 keeps only allow-listed tags; the reversal-pending record refuses anything else', () => {
    const clean = field55Of(new Map([[0x9f26, Buffer.alloc(8, 1)], [0x9f36, Buffer.from('0001', 'hex')]]));
    const dirty = Buffer.concat([encodeTlv(0x5a, bcdPan(TEST_CARDS.icDebit.pan)), clean, encodeTlv(0x57, Buffer.alloc(10, 0x62))]);
    assert.deepEqual(sanitizeField55(dirty), clean);
    assert.equal(isSanitizedField55(dirty), false);
    assert.equal(isSanitizedField55(clean), true);
    const payload = {
      stan: 1, batch: 1, reason: '98' as const, kind: 'sale' as const, amountFen: 100, panEnc: Buffer.alloc(40), panMasked: '622202*********0123',
      processingCode: '000000', entryMode: '051' as const, conditionCode: '00', type60: '22',
    };
    assert.deepEqual(rec.reversalPending({ ...payload, field55: clean }).payload.field55, clean);
    assert.throws(() => rec.reversalPending({ ...payload, field55: dirty }), InvariantError);
    assert.throws(() => rec.reversalPending({ ...payload, field55: Buffer.from('9F2608', 'hex') }), InvariantError);
  });

  it('BER-TLV: truncated objects and lengths are refused, padding between objects skipped', () => {
    assert.throws(() => parseTlv(Buffer.from('9F2608A1B2', 'hex')), (e: unknown) => isPosError(e) && e.code === 'E-RDR-02');
    assert.throws(() => parseTlv(Buffer.from('9F', 'hex')), (e: unknown) => isPosError(e));
    assert.throws(() => parseTlv(Buffer.from('9F2681', 'hex')), (e: unknown) => isPosError(e));
    assert.deepEqual(parseTlv(Buffer.from('00FF9C0100', 'hex')).map((t) => t.tag), [0x9c]);
  });
});

/**
 * qPBOC (runtime/txn/emv-qpboc.ts) and CDA (runtime/txn/emv-kernel.ts checkCda) against the EMV
 * card models (sim/emv-card.ts) through the chip read (runtime/txn/card.ts): the TTQ from the
 * AID's contactless limits and the terminal's offline permission, the cryptogram in the GPO answer,
 * fDDA under the downloaded CA keys (passed, wrong signature, expired ICC certificate), what a
 * failed fDDA leads to by the card's CTQ, the contactless transaction limit (E-RDR-13), the
 * contactless CVM; and CDA at the first GENERATE AC (passed: the cryptogram from inside the
 * signature, which the acquirer simulator verifies; wrong signature or expired ICC certificate).
 * The cards' own crypto is checked against published values in runtime/txn/emv-oda.test.ts.
 */
import { strict as assert } from 'node:assert';
import { isPosError } from '../../common/errors';
import { AidParams } from '../../runtime/host/emv-params';
import { CardRequest, readCard } from '../../runtime/txn/card';
import { primitives } from '../../runtime/txn/emv';
import { TVR, hasTvrBit } from '../../runtime/txn/emv-tvr';
import { CTQ_CONTACT_IF_ODA_FAILS, EmvCardSpec, emvCard } from '../../sim/emv-card';
import { SIM_ISSUER_MASTER_KEY, verifyArqc } from '../../sim/host/chip-issuer';
import { testAids, testCaPublicKeys } from '../../sim/host/emv-params-host';
import { ChipCardReader } from './fakes';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');
/** Contactless limits as a UnionPay acquirer sets them: floor 200 yuan, transaction limit 1,000, CVM above 300. */
const clAids = (): AidParams[] => testAids().map((a) => ({ ...a, clFloorLimitFen: 20_000, clTxnLimitFen: 100_000, cvmRequiredLimitFen: 30_000 }));
const REQ = (over: Partial<CardRequest> = {}): CardRequest => ({
  txnType: 'sale', amountFen: 5_000, dateYymmdd: '261121', unpredictable: hex('A1B2C3D4'), ifdSerial: '12345678',
  params: { caKeys: testCaPublicKeys(), aids: clAids() }, offlineAllowed: true, ...over,
});
const PAN = '6222021234567890128';
const qspec = (over: Partial<EmvCardSpec> = {}): EmvCardSpec => ({ kind: 'contactless', name: 'q', pan: PAN, expiry: '301231', psn: 1, atc: 'counter', qpboc: true, ...over });
const cspec = (over: Partial<EmvCardSpec> = {}): EmvCardSpec => ({ kind: 'ic', name: 'c', pan: PAN, expiry: '301231', psn: 1, atc: 'counter', oda: 'cda', ...over });

function ttqOf(reader: ChipCardReader): Buffer {
  const gpo = reader.apdus.find((a) => a.command[1] === 0xa8) as { command: Buffer };
  return gpo.command.subarray(7, 11); // 80 A8 00 00 Lc 83 L | 9F66 first in the PDOL
}

function rejectsWith(code: string, pan = PAN) {
  return (e: unknown): boolean => isPosError(e) && e.code === code && !e.message.includes(pan) && !JSON.stringify(e.detail).includes(pan);
}

describe('qPBOC: the cryptogram in the GPO answer', () => {
  it('under the contactless floor limit, offline allowed: TC with fDDA passed: approved offline, no CVM, the TC in field 55; the card only got SELECTs, GPO and READ RECORDs', async () => {
    const reader = new ChipCardReader(emvCard(qspec()));
    const c = await readCard(reader, ['tap'], 1000, REQ());
    assert.equal(ttqOf(reader).toString('hex').toUpperCase(), '36000000', 'qPBOC, contact, online PIN, signature; nothing required');
    assert.deepEqual([...new Set(reader.apdus.map((a) => a.command[1]))], [0xa4, 0xa8, 0xb2]);
    assert.equal(c.chip?.offlineApproved, true);
    assert.equal(c.chip?.oda, 'fdda');
    assert.equal(c.chip?.odaFailure, undefined);
    assert.equal(c.pinRequired, false);
    assert.equal(c.entryMode, '072', 'a tap, no PIN asked for: 22 ends in 2 (the profile: 1 = PIN entered, 2 = no PIN)');
    const f55 = primitives(c.field55 as Buffer);
    assert.equal(f55.get(0x9f27)?.toString('hex'), '40');
    assert.equal(f55.get(0x9f34)?.toString('hex').toUpperCase(), '1F0002');
    assert.equal(reader.released, 1);
  });

  it('over the contactless floor limit: TTQ asks for an online cryptogram; ARQC, no fDDA, which the acquirer simulator verifies', async () => {
    const reader = new ChipCardReader(emvCard(qspec()));
    const c = await readCard(reader, ['tap'], 1000, REQ({ amountFen: 25_000 }));
    assert.equal(ttqOf(reader).toString('hex').toUpperCase(), '36800000');
    assert.equal(c.chip?.offlineApproved, undefined);
    assert.equal(c.chip?.oda, 'none');
    assert.equal(primitives(c.field55 as Buffer).get(0x9f27)?.toString('hex'), '80');
    const check = verifyArqc(SIM_ISSUER_MASTER_KEY, c.pan, c.cardSeq, c.field55 as Buffer);
    assert.equal(check.ok, true, JSON.stringify(check));
  });

  it('the terminal may not approve offline now (host parameters): online cryptogram required even under the floor limit', async () => {
    const reader = new ChipCardReader(emvCard(qspec()));
    const c = await readCard(reader, ['tap'], 1000, REQ({ offlineAllowed: false }));
    assert.equal(ttqOf(reader)[1], 0x80);
    assert.equal(primitives(c.field55 as Buffer).get(0x9f27)?.toString('hex'), '80');
  });

  it('at or over the CVM required limit: the card wants online PIN (CTQ): ARQC and a PIN; 9F34 online PIN', async () => {
    const reader = new ChipCardReader(emvCard(qspec()));
    const c = await readCard(reader, ['tap'], 1000, REQ({ amountFen: 30_000 }));
    assert.equal(ttqOf(reader)[1], 0xc0);
    assert.equal(c.pinRequired, true);
    assert.equal(primitives(c.field55 as Buffer).get(0x9f34)?.toString('hex').toUpperCase(), '420300');
  });

  it('at or over the contactless transaction limit: E-RDR-13 (insert or swipe) before any GPO', async () => {
    const reader = new ChipCardReader(emvCard(qspec()));
    await assert.rejects(readCard(reader, ['tap'], 1000, REQ({ amountFen: 100_000 })), rejectsWith('E-RDR-13'));
    assert.equal(reader.apdus.filter((a) => a.command[1] === 0xa8).length, 0);
    assert.equal(reader.released, 1);
  });

  it('wrong fDDA signature, the card says "go online if ODA fails": online with its TC, the TVR read says DDA failed', async () => {
    const reader = new ChipCardReader(emvCard(qspec({ faults: ['wrong-fdda-signature'] })));
    const c = await readCard(reader, ['tap'], 1000, REQ());
    assert.equal(c.chip?.offlineApproved, undefined);
    assert.equal(c.chip?.odaFailure, 'hash');
    assert.ok(hasTvrBit(hex(c.chip?.tvr as string), TVR.ddaFailed));
    assert.equal(verifyArqc(SIM_ISSUER_MASTER_KEY, c.pan, c.cardSeq, c.field55 as Buffer, true).ok, true, 'the host verifies the TC sent online');
    assert.equal(verifyArqc(SIM_ISSUER_MASTER_KEY, c.pan, c.cardSeq, c.field55 as Buffer).ok, false, 'not from an inserted card');
  });

  it('expired ICC certificate, the card allows neither online nor contact after a failed ODA: E-RDR-09 without the PAN', async () => {
    const reader = new ChipCardReader(emvCard(qspec({ faults: ['expired-icc-cert'], ctq: hex('8000') })));
    await assert.rejects(readCard(reader, ['tap'], 1000, REQ()), (e: unknown) => rejectsWith('E-RDR-09')(e) && /fdda.*expired/.test((e as Error).message));
  });

  it('fDDA failed and the card asks for its contact interface: E-RDR-13', async () => {
    const reader = new ChipCardReader(emvCard(qspec({ faults: ['wrong-fdda-signature'], ctq: Buffer.from([0x80 | CTQ_CONTACT_IF_ODA_FAILS, 0]) })));
    await assert.rejects(readCard(reader, ['tap'], 1000, REQ()), rejectsWith('E-RDR-13'));
  });

  it('no CA key downloaded: fDDA fails (CA key missing) and the card goes online', async () => {
    const reader = new ChipCardReader(emvCard(qspec()));
    const c = await readCard(reader, ['tap'], 1000, REQ({ params: { caKeys: [], aids: clAids() } }));
    assert.equal(c.chip?.odaFailure, 'ca-key-missing');
    assert.equal(primitives(c.field55 as Buffer).get(0x9f27)?.toString('hex'), '40');
  });

  it('the card declines (AAC in the GPO answer): E-RDR-08', async () => {
    const reader = new ChipCardReader(emvCard(qspec({ faults: ['decline-offline'] })));
    await assert.rejects(readCard(reader, ['tap'], 1000, REQ()), rejectsWith('E-RDR-08'));
  });
});

describe('CDA at the first GENERATE AC', () => {
  it('asked with the ARQC (P1 90); the signature verifies and its cryptogram is field 55\'s 9F26, which the acquirer simulator verifies', async () => {
    const reader = new ChipCardReader(emvCard(cspec()));
    const c = await readCard(reader, ['insert'], 1000, REQ());
    const genac = reader.apdus.filter((a) => a.command[1] === 0xae);
    assert.equal(genac.length, 1);
    assert.equal(genac[0].command[2], 0x90);
    assert.equal(reader.apdus.filter((a) => a.command[1] === 0x88).length, 0, 'no INTERNAL AUTHENTICATE with CDA');
    assert.equal(c.chip?.oda, 'cda');
    assert.equal(c.chip?.odaFailure, undefined);
    const check = verifyArqc(SIM_ISSUER_MASTER_KEY, c.pan, c.cardSeq, c.field55 as Buffer);
    assert.equal(check.ok, true, JSON.stringify(check));
  });

  it('wrong CDA signature: TVR "CDA failed", the card is told AAC (second GENERATE AC, P1 00), the read ends E-RDR-09 without the PAN', async () => {
    const reader = new ChipCardReader(emvCard(cspec({ faults: ['wrong-cda-signature'] })));
    await assert.rejects(readCard(reader, ['insert'], 1000, REQ()), (e: unknown) => rejectsWith('E-RDR-09')(e) && /cda.*hash/.test((e as Error).message));
    const genac = reader.apdus.filter((a) => a.command[1] === 0xae);
    assert.deepEqual(genac.map((a) => a.command[2]), [0x90, 0x00]);
    assert.equal(reader.released, 1);
  });

  it('expired ICC certificate: CDA fails before GENERATE AC (TVR "CDA failed"), CDA is not asked, and the online-only terminal goes online', async () => {
    const reader = new ChipCardReader(emvCard(cspec({ faults: ['expired-icc-cert'] })));
    const c = await readCard(reader, ['insert'], 1000, REQ());
    assert.equal(c.chip?.odaFailure, 'expired');
    assert.ok(hasTvrBit(hex(c.chip?.tvr as string), TVR.cdaFailed));
    assert.deepEqual(reader.apdus.filter((a) => a.command[1] === 0xae).map((a) => a.command[2]), [0x80]);
  });

  it('expired ICC certificate and an IAC-Denial on "CDA failed": AAC asked without CDA, E-RDR-09', async () => {
    const reader = new ChipCardReader(emvCard(cspec({ faults: ['expired-icc-cert'], iac: { denial: hex('0400000000') } })));
    await assert.rejects(readCard(reader, ['insert'], 1000, REQ()), rejectsWith('E-RDR-09'));
    assert.deepEqual(reader.apdus.filter((a) => a.command[1] === 0xae).map((a) => a.command[2]), [0x00]);
  });
});

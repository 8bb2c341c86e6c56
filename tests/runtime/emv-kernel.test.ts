/**
 * The kernel's card-facing steps (runtime/txn/emv-kernel.ts) against the EMV card models
 * (sim/emv-card.ts): application selection (PSE, PPSE, the list of AIDs, partial selection and the
 * ASI, priority, cardholder confirmation), GPO with the PDOL, READ RECORD by the AFL, offline data
 * authentication under the CA keys in force with the TVR bits of each failure, terminal action
 * analysis and the first GENERATE AC; and the chip read's outcomes (runtime/txn/card.ts): ODA
 * failed and declined offline (E-RDR-09), declined (E-RDR-08), no application (E-RDR-07), the card
 * pulled out (E-RDR-05), none of them carrying the PAN.
 */
import { strict as assert } from 'node:assert';
import { PosError, isPosError } from '../../common/errors';
import { AidParams } from '../../runtime/host/emv-params';
import { CardRequest, readCard } from '../../runtime/txn/card';
import {
  BUILT_IN_AIDS, Candidate, Transmit, getProcessingOptions, offlineDataAuthentication, orderCandidates, readApplicationData, runKernel, selectAndInitiate, selectApplication,
} from '../../runtime/txn/emv-kernel';
import { CaPublicKey } from '../../runtime/txn/emv-rsa';
import { TVR, hasTvrBit, tvrOf } from '../../runtime/txn/emv-tvr';
import { AID_UNIONPAY_CREDIT, AID_UNIONPAY_DEBIT, EmvCardSpec, SIM_AFL, emvCard } from '../../sim/emv-card';
import { testAids, testCaPublicKeys } from '../../sim/host/emv-params-host';
import { ChipCard, TEST_CARDS } from '../../sim/test-cards';
import { ChipCardReader } from './fakes';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const REQ = (over: Partial<CardRequest> = {}): CardRequest => ({
  txnType: 'sale', amountFen: 12345, dateYymmdd: '261121', unpredictable: hex('A1B2C3D4'), ifdSerial: '12345678',
  params: { caKeys: testCaPublicKeys(), aids: testAids() }, ...over,
});
const spec = (over: Partial<EmvCardSpec> = {}): EmvCardSpec => ({ kind: 'ic', name: 't', pan: '6222021234567890128', expiry: '301231', psn: 1, atc: 'counter', ...over });

/** The APDUs a card got, and the card's answers; a card that is pulled at a command throws E-RDR-05 as the reader driver does. */
class Wire {
  readonly commands: Buffer[] = [];
  constructor(private readonly card: ChipCard) {}
  readonly tx: Transmit = async (apdu) => {
    this.commands.push(Buffer.from(apdu));
    if (this.card.pullsOn?.(apdu)) throw new PosError('RDR_CARD_REMOVED', 'card pulled');
    return this.card.respond(apdu);
  };
  hexes(ins: number): string[] {
    return this.commands.filter((c) => c[1] === ins).map((c) => c.toString('hex').toUpperCase());
  }
}

const aid = (h: string, asi = 0): AidParams => ({ ...BUILT_IN_AIDS[0], aid: hex(h), asi });
const SELECT_PSE = '00A404000E315041592E5359532E444446303100';
const SELECT_PPSE = '00A404000E325041592E5359532E444446303100';

describe('EMV kernel: application selection', () => {
  it('contact: SELECT PSE, the directory record, then the final SELECT of the matching AID', async () => {
    const w = new Wire(emvCard(spec()));
    const app = await selectApplication(w.tx, false, testAids());
    assert.deepEqual(app.aid, AID_UNIONPAY_DEBIT);
    assert.deepEqual(app.params.aid, AID_UNIONPAY_DEBIT);
    assert.deepEqual(w.hexes(0xa4), [SELECT_PSE, '00A4040008A00000033301010100']);
    assert.deepEqual(w.hexes(0xb2), ['00B2011C00', '00B2021C00'], 'directory SFI 3 records 1.. until 6A83');
  });

  it('contactless: SELECT PPSE (the entries are in its FCI)', async () => {
    const w = new Wire(emvCard(spec({ kind: 'contactless' })));
    await selectApplication(w.tx, true, testAids());
    assert.deepEqual(w.hexes(0xa4), [SELECT_PPSE, '00A4040008A00000033301010100']);
    assert.deepEqual(w.hexes(0xb2), []);
  });

  it('no directory: the list of AIDs, each SELECTed in the terminal\'s order', async () => {
    const w = new Wire(emvCard(spec({ directory: 'none', apps: [{ aid: AID_UNIONPAY_CREDIT, label: 'Credit' }] })));
    const app = await selectApplication(w.tx, false, testAids());
    assert.deepEqual(app.aid, AID_UNIONPAY_CREDIT);
    assert.deepEqual(w.hexes(0xa4), [SELECT_PSE, '00A4040008A00000033301010100', '00A4040008A00000033301010200', '00A4040008A00000033301010300', '00A4040008A00000033301010200']);
  });

  it('partial selection (ASI 0): a shorter terminal AID selects each of the card\'s applications (P2 02), and priority 1 wins over 2', async () => {
    const card = emvCard(spec({ directory: 'none', apps: [{ aid: AID_UNIONPAY_DEBIT, label: 'Debit', priority: 2 }, { aid: AID_UNIONPAY_CREDIT, label: 'Credit', priority: 1 }] }));
    const w = new Wire(card);
    const app = await selectApplication(w.tx, false, [aid('A000000333')]);
    assert.deepEqual(app.aid, AID_UNIONPAY_CREDIT);
    assert.deepEqual(w.hexes(0xa4).slice(1), ['00A4040005A00000033300', '00A4040205A00000033300', '00A4040205A00000033300', '00A4040008A00000033301010200']);
  });

  it('ASI 1 (exact match only): a shorter terminal AID selects nothing: E-RDR-07', async () => {
    const w = new Wire(emvCard(spec({ directory: 'none' })));
    await assert.rejects(selectApplication(w.tx, false, [aid('A000000333', 1)]), (e: unknown) => isPosError(e) && e.code === 'E-RDR-07');
  });

  it('a directory entry that only matches partially counts only under ASI 0', async () => {
    const card = emvCard(spec());
    await assert.rejects(selectApplication(new Wire(card).tx, false, [aid('A000000333', 1)]), (e: unknown) => isPosError(e) && e.code === 'E-RDR-07');
    assert.deepEqual((await selectApplication(new Wire(card).tx, false, [aid('A000000333', 0)])).aid, AID_UNIONPAY_DEBIT);
  });

  it('a card with none of the terminal\'s AIDs: E-RDR-07', async () => {
    await assert.rejects(selectApplication(new Wire(emvCard(spec())).tx, false, [aid('A0000000041010')]), (e: unknown) => isPosError(e) && e.code === 'E-RDR-07');
  });

  it('priority order: 1 before 2 before none; equal keep the card\'s order; cardholder confirmation required (87 bit 8) left out', () => {
    const c = (h: string, priority?: number): Candidate => ({ aid: hex(h), priority, params: BUILT_IN_AIDS[0] });
    const ordered = orderCandidates([c('A1'), c('A2', 2), c('A3', 0x81), c('A4', 1), c('A5', 2)]);
    assert.deepEqual(ordered.map((x) => x.aid.toString('hex')), ['a4', 'a2', 'a5', 'a1']);
  });
});

describe('EMV kernel: GPO and READ RECORD', () => {
  it('GPO sends 83 with the PDOL\'s data (9F1A, 9F37); format 1 and format 2 answers give AIP and AFL', async () => {
    for (const acFormat of [1, 2] as const) {
      const w = new Wire(emvCard(spec({ acFormat })));
      const app = await selectApplication(w.tx, false, testAids());
      const values = new Map([[0x9f1a, hex('0156')], [0x9f37, hex('A1B2C3D4')]]);
      const o = await getProcessingOptions(w.tx, hex('9F1A029F3704'), values);
      assert.ok(o);
      assert.equal(app.fci.includes(hex('9F38069F1A029F3704')), true, 'the FCI carries the PDOL');
      assert.deepEqual(w.hexes(0xa8), ['80A80000088306' + '0156A1B2C3D4' + '00']);
      assert.equal(o.aip.toString('hex'), '7c00');
      assert.deepEqual(o.afl, SIM_AFL);
    }
  });

  it('GPO answered 6985: that application is left out and selection runs again (the next by priority); when every one refuses, E-RDR-07', async () => {
    const apps = [{ aid: AID_UNIONPAY_DEBIT, label: 'Debit', priority: 1, refusesGpo: true }, { aid: AID_UNIONPAY_CREDIT, label: 'Credit', priority: 2 }];
    const w = new Wire(emvCard(spec({ apps })));
    const { app } = await selectAndInitiate(w.tx, false, testAids(), new Map());
    assert.deepEqual(app.aid, AID_UNIONPAY_CREDIT);
    assert.equal(w.hexes(0xa8).length, 2, 'GPO for the debit application, then for the credit one');
    const k = await runKernel(new Wire(emvCard(spec({ apps }))).tx, false, REQ());
    assert.deepEqual(k.app.aid, AID_UNIONPAY_CREDIT);
    const refusing = emvCard(spec({ apps: apps.map((a) => ({ ...a, refusesGpo: true })) }));
    await assert.rejects(selectAndInitiate(new Wire(refusing).tx, false, testAids(), new Map()), (e: unknown) => isPosError(e) && e.code === 'E-RDR-07');
  });

  it('READ RECORD for each record of the AFL; only the ones it marks go to ODA', async () => {
    const w = new Wire(emvCard(spec()));
    await selectApplication(w.tx, false, testAids());
    w.commands.length = 0;
    const d = await readApplicationData(w.tx, SIM_AFL);
    assert.deepEqual(w.hexes(0xb2), ['00B2010C00', '00B2011400', '00B2021400', '00B2031400']);
    assert.deepEqual(d.odaRecords.map((r) => r.sfi), [1]);
    assert.ok(d.values.has(0x5a) && d.values.has(0x57) && d.values.has(0x90) && d.values.has(0x9f46));
  });

  it('an AFL out of range or a record the card lacks is unreadable (E-RDR-02)', async () => {
    const w = new Wire(emvCard(spec()));
    await assert.rejects(readApplicationData(w.tx, hex('08020100')), (e: unknown) => isPosError(e) && e.code === 'E-RDR-02');
    await assert.rejects(readApplicationData(w.tx, hex('08010102')), (e: unknown) => isPosError(e) && e.code === 'E-RDR-02');
    await assert.rejects(readApplicationData(w.tx, hex('20010100')), (e: unknown) => isPosError(e) && /answered 6A83/.test((e as Error).message));
  });
});

/** ODA through the steps before it, for one card and set of CA keys. */
async function oda(card: ChipCard, caKeys: readonly CaPublicKey[], today = '261121') {
  const w = new Wire(card);
  const app = await selectApplication(w.tx, false, testAids());
  const o = await getProcessingOptions(w.tx, hex('9F1A029F3704'), new Map([[0x9f37, hex('A1B2C3D4')]]));
  assert.ok(o);
  const d = await readApplicationData(w.tx, o.afl);
  const out = await offlineDataAuthentication(w.tx, {
    aid: app.aid, aip: o.aip, pan: card.pan, card: d.values, odaRecords: d.odaRecords, caKeys, todayYymmdd: today, terminal: new Map([[0x9f37, hex('A1B2C3D4')]]),
  });
  return { out, w };
}

describe('EMV kernel: offline data authentication', function () {
  this.timeout(20_000);

  it('DDA passes under the downloaded CA key 80: INTERNAL AUTHENTICATE over the DDOL (9F37), no TVR bit', async () => {
    const { out, w } = await oda(emvCard(spec()), testCaPublicKeys());
    assert.deepEqual(out, { method: 'dda', tvr: [] });
    assert.deepEqual(w.hexes(0x88), ['0088000004A1B2C3D400']);
  });

  it('SDA passes under CA key 81; no INTERNAL AUTHENTICATE', async () => {
    const { out, w } = await oda(emvCard(spec({ oda: 'sda', caIndex: 0x81 })), testCaPublicKeys());
    assert.deepEqual(out, { method: 'sda', tvr: [] });
    assert.deepEqual(w.hexes(0x88), []);
  });

  it('no CA key for the card\'s index: DDA failed (ca-key-missing)', async () => {
    const { out } = await oda(emvCard(spec()), testCaPublicKeys().filter((k) => k.index !== 0x80));
    assert.deepEqual(out, { method: 'dda', failure: 'ca-key-missing', tvr: [TVR.ddaFailed] });
  });

  it('the CA key is stored but expired on the transaction\'s date: not in force, so missing (runKernel keeps caKeysInForce)', async () => {
    const card = emvCard(spec({ caIndex: 0x7f }));
    const k = await runKernel(new Wire(card).tx, false, REQ());
    assert.equal(k.oda.failure, 'ca-key-missing');
    assert.ok(hasTvrBit(k.terminal.get(0x95) as Buffer, TVR.ddaFailed));
  });

  it('expired issuer certificate: DDA failed (expired); wrong signed static data: SDA failed (hash); a card with neither method: ODA not performed', async () => {
    assert.deepEqual((await oda(TEST_CARDS.icExpiredCert, testCaPublicKeys())).out, { method: 'dda', failure: 'expired', tvr: [TVR.ddaFailed] });
    assert.deepEqual((await oda(TEST_CARDS.icBadSda, testCaPublicKeys())).out, { method: 'sda', failure: 'hash', tvr: [TVR.sdaFailed] });
    assert.deepEqual((await oda(emvCard(spec({ oda: 'none' })), testCaPublicKeys())).out, { method: 'none', tvr: [TVR.odaNotPerformed] });
  });
});

describe('EMV kernel: the first pass to GENERATE AC, and the chip read\'s outcomes', function () {
  this.timeout(20_000);

  it('a good card: TVR from the steps (online PIN entered, floor limit 0 exceeded), ARQC asked (P1 80) and given', async () => {
    const w = new Wire(emvCard(spec()));
    const k = await runKernel(w.tx, false, REQ());
    assert.deepEqual(k.terminal.get(0x95), tvrOf([TVR.onlinePinEntered, TVR.floorLimitExceeded]));
    assert.equal(k.asked, 'ARQC');
    assert.equal(k.cvm, 'online-pin');
    assert.equal(w.hexes(0xae)[0].slice(0, 8), '80AE8000');
    assert.equal(k.ac.get(0x9f27)?.toString('hex'), '80');
  });

  it('the card\'s IAC-Denial names DDA failed and DDA fails: an AAC is asked (P1 00); the read ends E-RDR-09 without the PAN; the card is released', async () => {
    const w = new Wire(TEST_CARDS.icOdaDeclined);
    const k = await runKernel(w.tx, false, REQ());
    assert.equal(k.asked, 'AAC');
    assert.equal(w.hexes(0xae)[0].slice(0, 8), '80AE0000');
    const reader = new ChipCardReader(TEST_CARDS.icOdaDeclined);
    await assert.rejects(readCard(reader, ['insert'], 1000, REQ()), (e: unknown) => isPosError(e) && e.code === 'E-RDR-09'
      && /\(dda\) failed: expired/.test(e.message) && !e.message.includes(TEST_CARDS.icOdaDeclined.pan) && !JSON.stringify(e.detail).includes(TEST_CARDS.icOdaDeclined.pan));
    assert.equal(reader.released, 1);
  });

  it('ODA fails without a denial code for it: the sale still goes online with the failure in the TVR (the issuer decides)', async () => {
    const card = await readCard(new ChipCardReader(TEST_CARDS.icExpiredCert), ['insert'], 1000, REQ());
    assert.deepEqual(card.chip, { oda: 'dda', odaFailure: 'expired', tvr: '0800048000' });
    assert.ok(card.field55?.includes(hex('95050800048000')), 'field 55 carries the TVR with DDA failed');
  });

  it('a card that declines on its own (AAC to an ARQC request): E-RDR-08', async () => {
    const reader = new ChipCardReader(emvCard(spec({ faults: ['decline-offline'] })));
    await assert.rejects(readCard(reader, ['insert'], 1000, REQ()), (e: unknown) => isPosError(e) && e.code === 'E-RDR-08');
  });

  it('no matching application: E-RDR-07 through the chip read', async () => {
    const reader = new ChipCardReader(emvCard(spec({ apps: [{ aid: hex('A0000000041010'), label: 'Other' }] })));
    await assert.rejects(readCard(reader, ['insert'], 1000, REQ()), (e: unknown) => isPosError(e) && e.code === 'E-RDR-07');
    assert.equal(reader.released, 1);
  });

  it('the card pulled out while the cryptogram is asked for: E-RDR-05 (card removed too early), the slot released', async () => {
    const w = new Wire(TEST_CARDS.icPulled);
    await assert.rejects(runKernel(w.tx, false, REQ()), (e: unknown) => isPosError(e) && e.code === 'E-RDR-05');
    assert.equal(w.hexes(0xae).length, 1, 'it got as far as GENERATE AC');
  });

  it('a terminal that has downloaded no AIDs uses the built-in UnionPay list; no CA keys: DDA failed, still online', async () => {
    const k = await runKernel(new Wire(emvCard(spec())).tx, false, REQ({ params: { caKeys: [] } }));
    assert.equal(k.app.params, BUILT_IN_AIDS[0]);
    assert.equal(k.oda.failure, 'ca-key-missing');
    assert.equal(k.asked, 'ARQC');
  });

  it('a card whose CVM list asks for a signature: the read says no PIN', async () => {
    const card = await readCard(new ChipCardReader(emvCard(spec({ cvmList: hex('00000000000000001E03') }))), ['insert'], 1000, REQ());
    assert.equal(card.pinRequired, false);
    const pinCard = await readCard(new ChipCardReader(emvCard(spec())), ['insert'], 1000, REQ());
    assert.equal(pinCard.pinRequired, true);
  });
});

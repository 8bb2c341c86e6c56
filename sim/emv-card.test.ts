/**
 * The EMV card models (sim/emv-card.ts) checked with the terminal's own ODA and cryptogram
 * functions (runtime/txn/emv-oda.ts, emv-issuer-auth.ts, themselves tested against published
 * vectors): the certificates recover under the test CA keys as the host downloads them, the DDA
 * signature verifies, the ARQC verifies under the card key from the test issuer master key, the
 * counters count, and the misbehaving cards misbehave in exactly their one way.
 */
import { strict as assert } from 'node:assert';
import { EmvCardModel, EmvCardSpec, SIM_AFL, SIM_DDOL, TEST_ISSUER_MASTER_KEY, AID_UNIONPAY_CREDIT, AID_UNIONPAY_DEBIT } from './emv-card';
import { testCaPublicKeys } from './host/emv-params-host';
import { primitives, parseTlv } from '../runtime/txn/emv';
import { recoverIccKey, recoverIssuerKey, staticDataToAuthenticate, verifyDynamicSignature, verifySda } from '../runtime/txn/emv-oda';
import { AC_INPUT_TAGS, acInput, deriveIccMasterKeyOptionA, verifyApplicationCryptogram } from '../runtime/txn/emv-issuer-auth';

const PAN = '6222021234567890128';
const TODAY = '261121';
const spec = (over: Partial<EmvCardSpec> = {}): EmvCardSpec => ({ kind: 'ic', name: 't', pan: PAN, expiry: '301231', psn: 1, atc: 'counter', ...over });
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const sw = (r: Buffer): string => r.subarray(-2).toString('hex').toUpperCase();
const body = (r: Buffer): Buffer => r.subarray(0, -2);

function select(card: EmvCardModel, aid: Buffer, next = false): Buffer {
  return card.respond(Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, next ? 0x02 : 0x00, aid.length]), aid, hex('00')]));
}
function gpo(card: EmvCardModel, pdolData = hex('0156A1B2C3D4')): Buffer {
  return card.respond(Buffer.concat([hex('80A80000'), Buffer.from([pdolData.length + 2, 0x83, pdolData.length]), pdolData, hex('00')]));
}
function record(card: EmvCardModel, sfi: number, rec: number): Buffer {
  return card.respond(Buffer.from([0x00, 0xb2, rec, (sfi << 3) | 4, 0x00]));
}
/** Every record of SIM_AFL: all primitives, and the ODA record (SFI 1 record 1). */
function records(card: EmvCardModel): { values: Map<number, Buffer>; oda: Buffer } {
  const values = new Map<number, Buffer>();
  for (const [sfi, rec] of [[1, 1], [2, 1], [2, 2], [2, 3]]) primitives(body(record(card, sfi, rec)), values);
  return { values, oda: body(record(card, 1, 1)) };
}
function caKey(index: number) {
  return testCaPublicKeys().find((k) => k.index === index);
}
const CDOL_DATA = hex('000000012345' + '000000000000' + '0156' + '0000048000' + '0156' + '261121' + '00' + 'A1B2C3D4');
function generateAc(card: EmvCardModel, p1 = 0x80, data = CDOL_DATA): Map<number, Buffer> {
  const r = card.respond(Buffer.concat([Buffer.from([0x80, 0xae, p1, 0x00, data.length]), data, hex('00')]));
  assert.equal(sw(r), '9000');
  return primitives(body(r));
}

describe('EMV card models (sim/emv-card.ts)', function () {
  this.timeout(20_000);

  it('DDA card: the issuer certificate recovers under test CA key 80 (with its remainder), the ICC certificate under the issuer key over the static data, and INTERNAL AUTHENTICATE signs the DDOL data', () => {
    const card = new EmvCardModel(spec());
    assert.equal(sw(select(card, AID_UNIONPAY_DEBIT)), '9000');
    const g = primitives(body(gpo(card)));
    assert.deepEqual(g.get(0x94), SIM_AFL);
    assert.equal(g.get(0x82)?.toString('hex'), '7c00', 'AIP: SDA and DDA');
    const { values, oda } = records(card);
    assert.equal(values.get(0x8f)?.toString('hex'), '80');
    assert.ok(values.has(0x92), 'a 1024-bit issuer key does not fit a 1024-bit CA certificate: remainder');
    const issuer = recoverIssuerKey(caKey(0x80), { certificate: values.get(0x90), remainder: values.get(0x92), exponent: values.get(0x9f32) }, PAN, TODAY);
    assert.ok(issuer.ok, JSON.stringify(issuer));
    assert.equal(issuer.value.issuerId, '622202');
    const staticData = staticDataToAuthenticate([{ sfi: 1, data: oda }], values.get(0x9f4a), g.get(0x82));
    assert.ok(staticData.ok);
    const icc = recoverIccKey(issuer.value, { certificate: values.get(0x9f46), remainder: values.get(0x9f48), exponent: values.get(0x9f47) }, PAN, staticData.value, TODAY);
    assert.ok(icc.ok, JSON.stringify(icc));
    assert.deepEqual(values.get(0x9f49), SIM_DDOL);
    const ia = card.respond(hex('0088000004A1B2C3D400'));
    assert.equal(sw(ia), '9000');
    const sdad = parseTlv(body(ia))[0].value;
    const dda = verifyDynamicSignature(icc.value, sdad, hex('A1B2C3D4'));
    assert.ok(dda.ok, JSON.stringify(dda));
    assert.equal(dda.value.iccDynamicNumber.length, 8);
    assert.deepEqual(verifyDynamicSignature(icc.value, sdad, hex('A1B2C3D5')), { ok: false, reason: 'hash' }, 'the signature covers the terminal\'s number');
  });

  it('SDA card under CA key 81: the issuer key fits (no remainder) and 93 verifies over the static data', () => {
    const card = new EmvCardModel(spec({ oda: 'sda', caIndex: 0x81 }));
    select(card, AID_UNIONPAY_DEBIT);
    const aip = primitives(body(gpo(card))).get(0x82) as Buffer;
    assert.equal(aip.toString('hex'), '5c00', 'AIP: SDA, not DDA');
    const { values, oda } = records(card);
    assert.equal(values.has(0x92), false);
    const issuer = recoverIssuerKey(caKey(0x81), { certificate: values.get(0x90), exponent: values.get(0x9f32) }, PAN, TODAY);
    assert.ok(issuer.ok);
    const staticData = staticDataToAuthenticate([{ sfi: 1, data: oda }], values.get(0x9f4a), aip);
    assert.ok(staticData.ok);
    assert.ok(verifySda(issuer.value, values.get(0x93), staticData.value).ok);
    assert.equal(sw(card.respond(hex('0088000004A1B2C3D400'))), '6D00', 'an SDA card has no INTERNAL AUTHENTICATE');
  });

  it('misbehaving cards: an issuer certificate expired in 2015; signed static data over other data', () => {
    const expired = new EmvCardModel(spec({ faults: ['expired-issuer-cert'] }));
    const v = records(expired).values;
    assert.deepEqual(recoverIssuerKey(caKey(0x80), { certificate: v.get(0x90), remainder: v.get(0x92), exponent: v.get(0x9f32) }, PAN, TODAY), { ok: false, reason: 'expired' });
    const bad = new EmvCardModel(spec({ oda: 'sda', faults: ['wrong-signed-static-data'] }));
    const { values, oda } = records(bad);
    const issuer = recoverIssuerKey(caKey(0x80), { certificate: values.get(0x90), remainder: values.get(0x92), exponent: values.get(0x9f32) }, PAN, TODAY);
    assert.ok(issuer.ok, 'its certificate is good');
    const staticData = staticDataToAuthenticate([{ sfi: 1, data: oda }], values.get(0x9f4a), hex('5C00'));
    assert.ok(staticData.ok);
    assert.deepEqual(verifySda(issuer.value, values.get(0x93), staticData.value), { ok: false, reason: 'hash' });
  });

  it('ARQC: MAC algorithm 3 under the card key derived from the test issuer master key by option A (docs/PROTOCOL.md); the ATC counts up at each GPO', () => {
    const card = new EmvCardModel(spec({ atcStart: 6 }));
    select(card, AID_UNIONPAY_DEBIT);
    gpo(card);
    const first = generateAc(card);
    assert.equal(first.get(0x9f27)?.toString('hex'), '80');
    assert.equal(first.get(0x9f36)?.toString('hex'), '0007');
    const mk = deriveIccMasterKeyOptionA(TEST_ISSUER_MASTER_KEY, PAN, '01');
    const values = new Map<number, Buffer>([[0x9f02, hex('000000012345')], [0x9f03, hex('000000000000')], [0x9f1a, hex('0156')], [0x95, hex('0000048000')],
      [0x5f2a, hex('0156')], [0x9a, hex('261121')], [0x9c, hex('00')], [0x9f37, hex('A1B2C3D4')], [0x82, hex('7C00')], [0x9f36, hex('0007')]]);
    assert.ok(verifyApplicationCryptogram(mk, acInput(values, AC_INPUT_TAGS) as Buffer, first.get(0x9f26) as Buffer));
    const otherMk = deriveIccMasterKeyOptionA(Buffer.alloc(16, 0x11), PAN, '01');
    assert.equal(verifyApplicationCryptogram(otherMk, acInput(values, AC_INPUT_TAGS) as Buffer, first.get(0x9f26) as Buffer), false);
    gpo(card);
    assert.equal(generateAc(card).get(0x9f36)?.toString('hex'), '0008');
    assert.equal(card.respond(hex('80CA9F3600')).toString('hex').toUpperCase(), '9F360200089000', 'GET DATA ATC');
    assert.equal(card.respond(hex('80CA9F1700')).toString('hex').toUpperCase(), '9F1701039000', 'GET DATA PIN try counter');
  });

  it('GENERATE AC: an AAC request gets an AAC; a card with fault decline-offline answers AAC to an ARQC request; wrong CDOL1 data length 6700', () => {
    const card = new EmvCardModel(spec());
    select(card, AID_UNIONPAY_DEBIT); gpo(card);
    assert.equal(generateAc(card, 0x00).get(0x9f27)?.toString('hex'), '00');
    assert.equal(sw(card.respond(hex('80AE80000400000000' + '00'))), '6700');
    const declining = new EmvCardModel(spec({ faults: ['decline-offline'] }));
    select(declining, AID_UNIONPAY_DEBIT); gpo(declining);
    assert.equal(generateAc(declining).get(0x9f27)?.toString('hex'), '00');
  });

  it('selection: PPSE and PSE list the applications with their priorities; a partial AID selects the first, P2 02 the next, then 6A82; GPO without the PDOL\'s data is 6700', () => {
    const card = new EmvCardModel(spec({ apps: [{ aid: AID_UNIONPAY_DEBIT, label: 'Debit', priority: 2 }, { aid: AID_UNIONPAY_CREDIT, label: 'Credit', priority: 1 }] }));
    const ppse = body(select(card, Buffer.from('2PAY.SYS.DDF01')));
    const aids: string[] = [];
    const walk = (d: Buffer): void => { for (const t of parseTlv(d)) { if (t.tag === 0x4f) aids.push(t.value.toString('hex')); else if (t.constructed) walk(t.value); } };
    walk(ppse);
    assert.deepEqual(aids, ['a000000333010101', 'a000000333010102']);
    assert.equal(primitives(ppse).get(0x87)?.toString('hex'), '02', 'the first entry\'s priority');
    const pse = body(select(card, Buffer.from('1PAY.SYS.DDF01')));
    assert.equal(primitives(pse).get(0x88)?.toString('hex'), '03');
    assert.equal(primitives(body(record(card, 3, 1))).get(0x4f)?.toString('hex'), 'a000000333010101');
    assert.equal(sw(record(card, 3, 2)), '6A83');
    const partial = hex('A000000333');
    assert.equal(primitives(body(select(card, partial))).get(0x84)?.toString('hex'), 'a000000333010101');
    assert.equal(primitives(body(select(card, partial, true))).get(0x84)?.toString('hex'), 'a000000333010102');
    assert.equal(sw(select(card, partial, true)), '6A82');
    assert.equal(sw(select(card, hex('A0000000041010'))), '6A82');
    select(card, AID_UNIONPAY_DEBIT);
    assert.equal(sw(card.respond(hex('80A8000002830000'))), '6700');
    const noDirectory = new EmvCardModel(spec({ directory: 'none' }));
    assert.equal(sw(select(noDirectory, Buffer.from('2PAY.SYS.DDF01'))), '6A82');
    assert.equal(sw(select(noDirectory, Buffer.from('1PAY.SYS.DDF01'))), '6A82');
  });

  it('pullAt: the card says it is pulled at that command only', () => {
    const card = new EmvCardModel(spec({ pullAt: 'generate-ac' }));
    assert.equal(card.pullsOn(hex('00A4040008A00000033301010100')), false);
    assert.equal(card.pullsOn(hex('80AE8000')), true);
  });
});

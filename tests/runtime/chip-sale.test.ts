/**
 * Chip and contactless sales against the acquirer simulator: field 55 in the packed 0200 (the
 * allow-listed tags, the card's ARQC over the sale's amount), the host's refusal of a chip sale
 * without it, and the 0400 carrying the original's field 55 byte for byte after a timeout and
 * after a power cut (the reversal sent from the journal's record alone). Refund and balance
 * inquiry rows of the profile have no 55: none is sent.
 */
import { strict as assert } from 'node:assert';
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IsoMessage, bytesField, textField } from '../../runtime/host/packager';
import { FIELD55_TAGS, field55Tags, primitives } from '../../runtime/txn/emv';
import { isPosError } from '../../common/errors';
import { RecordType } from '../../storage/record';
import { TEST_TERMINAL, CODE_BAD_CHIP_DATA } from '../../sim/host/simulator';
import { TEST_CARDS } from '../../sim/test-cards';
import { downloadAids, downloadCaKeys } from '../../runtime/txn/emv-download';
import { TVR, hasTvrBit } from '../../runtime/txn/emv-tvr';
import { CASHIER, SUPERVISOR, Rig, assertReconciled, captureFrames, chipCardFor, rig, journalDiskBytes } from './harness';

const ALLOWED = new Set(FIELD55_TAGS.map(([t]) => t));
const bcdPan = (pan: string): Buffer => Buffer.from(pan.length % 2 ? `${pan}F` : pan, 'hex');

const isSale = (m: IsoMessage): boolean => m.mti === '0200' && textField(m, 3) === '000000';

function assertChipField55(f55: Buffer | undefined, amountFen: number, pan: string): void {
  assert.ok(f55, 'field 55 present');
  const tags = field55Tags(f55);
  for (const t of tags) assert.ok(ALLOWED.has(t), `tag ${t.toString(16)} not on the allow-list`);
  for (const t of [0x9f26, 0x9f27, 0x9f10, 0x9f37, 0x9f36, 0x95, 0x9a, 0x9c, 0x9f02, 0x5f2a, 0x82, 0x9f1a, 0x9f03, 0x9f33, 0x9f34, 0x9f35, 0x9f1e, 0x84, 0x9f09]) {
    assert.ok(tags.includes(t), `tag ${t.toString(16)} missing`);
  }
  const m = primitives(f55);
  assert.equal(m.get(0x9f02)?.toString('hex'), String(amountFen).padStart(12, '0'), '9F02 is the sale amount');
  assert.equal(m.get(0x9c)?.toString('hex'), '00');
  assert.equal(m.get(0x9f27)?.toString('hex'), '80');
  assert.equal(f55.indexOf(bcdPan(pan)), -1);
  assert.equal(f55.indexOf(Buffer.from(pan)), -1);
}

describe('chip and contactless sales: field 55 and its reversal', function () {
  this.timeout(20_000);
  let r: Rig;
  let frames: IsoMessage[];
  beforeEach(async () => {
    r = await rig();
    frames = captureFrames(r);
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  for (const [how, card, mode] of [['insert', TEST_CARDS.icDebit, '051'], ['tap', TEST_CARDS.contactless, '071']] as const) {
    it(`sale by ${how}: approved; the packed 0200 carries field 55 (allow-listed tags, the card's ARQC over the amount), as read`, async () => {
      const input = await chipCardFor(r, 12_345, card);
      const res = await r.terminal.engine.sale({ amountFen: 12_345, card: input, pin: Buffer.from('1234'), session: CASHIER });
      assert.equal(res.outcome, 'approved');
      const sale = frames.filter(isSale);
      assert.equal(sale.length, 1);
      assert.equal(textField(sale[0], 22), mode);
      const f55 = bytesField(sale[0], 55);
      assertChipField55(f55, 12_345, card.pan);
      assert.deepEqual(f55, input.field55, 'sent as read');
      assertReconciled(r);
    });
  }

  it('a chip sale without field 55 is declined by the host (12) and charges nothing', async () => {
    const input = await chipCardFor(r, 700);
    const res = await r.terminal.engine.sale({ amountFen: 700, card: { ...input, field55: undefined, emv: undefined }, session: CASHIER });
    assert.equal(res.outcome, 'declined');
    if (res.outcome === 'declined') assert.equal(res.txn.responseCode, CODE_BAD_CHIP_DATA);
    assert.equal(bytesField(frames.filter(isSale)[0], 55), undefined);
    assert.equal(r.sim.ledger.entries().length, 0);
    assertReconciled(r);
  });

  it('a card read for another amount is refused before anything is sent (present the card again)', async () => {
    const input = await chipCardFor(r, 400);
    const before = r.sent.length;
    const pin = Buffer.from('1234');
    await assert.rejects(r.terminal.engine.sale({ amountFen: 500, card: input, pin, session: CASHIER }), (e: unknown) => isPosError(e) && e.code === 'E-RDR-02');
    assert.equal(r.sent.length, before);
    assert.ok(pin.every((b) => b === 0), 'PIN zeroed');
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
  });

  it('reversal after a timeout: the 0400 carries the original\'s field 55 byte for byte', async () => {
    r.sim.setFault({ kind: 'delay', delayMs: 900, type: 'sale' });
    const input = await chipCardFor(r, 900, TEST_CARDS.contactless);
    const res = await r.terminal.engine.sale({ amountFen: 900, card: input, session: CASHIER });
    assert.equal(res.outcome, 'failed');
    const sent = r.sim.requests();
    const sale = sent.find((q) => q.type === 'sale');
    const reversal = sent.find((q) => q.type === 'reversal');
    assert.ok(sale?.field55 && reversal, 'sale and reversal reached the host');
    assert.equal(reversal.requestCode, '98');
    assert.deepEqual(reversal.field55, sale.field55, 'the reversal carries the sale\'s 55');
    assert.deepEqual(reversal.field55, input.field55);
    const packed = frames.find((m) => m.mti === '0400');
    assert.deepEqual(bytesField(packed as IsoMessage, 55), input.field55);
    assert.equal(r.sim.ledger.find(TEST_TERMINAL.tid, 1, reversal.stan)?.status, 'reversed');
    assertReconciled(r);
  });

  it('reversal after a power cut during the sale: sent after the reboot from the journal alone (06), with the original\'s field 55', async () => {
    await r.close();
    let cut = true;
    r = await rig({
      // The power goes while the sale's answer is on its way: the host approved, the terminal never hears it.
      host: (t) => ({ exchange: async (req, signal) => { if (!cut) return t.exchange(req, signal); await t.exchange(req, signal); return new Promise<Buffer>(() => undefined); } }),
    });
    frames = captureFrames(r);
    cut = false;
    await r.terminal.engine.signOn(CASHIER);
    const input = await chipCardFor(r, 1_500);
    cut = true;
    void r.terminal.engine.sale({ amountFen: 1_500, card: input, session: CASHIER });
    const deadline = Date.now() + 5000;
    while (!r.sim.requests().some((q) => q.type === 'sale')) {
      assert.ok(Date.now() < deadline, 'the sale reached the host');
      await new Promise((res) => setTimeout(res, 10));
    }
    await new Promise((res) => setTimeout(res, 50));
    cut = false;
    await r.reboot();
    const pending = r.terminal.engine.state.pendingReversal;
    assert.ok(pending, 'the reversal survived the power cut');
    assert.deepEqual(pending.field55, input.field55, 'its record keeps the sale\'s 55');
    assert.equal(await r.terminal.engine.flushReversal(), 'cleared');
    const reversal = r.sim.requests().find((q) => q.type === 'reversal');
    assert.equal(reversal?.requestCode, '06');
    assert.deepEqual(reversal?.field55, r.sim.requests().find((q) => q.type === 'sale')?.field55);
    assert.deepEqual(reversal?.field55, input.field55);
    assert.equal(r.sim.ledger.entries().find((e) => e.amountFen === 1_500)?.status, 'reversed');
    assertReconciled(r);
  });

  it('refund and balance inquiry by chip send no field 55 (their rows of the profile do not list it)', async () => {
    const sale = await r.terminal.engine.sale({ amountFen: 2_000, card: await chipCardFor(r, 2_000), session: CASHIER });
    assert.equal(sale.outcome, 'approved');
    if (sale.outcome !== 'approved') return;
    const refundCard = await chipCardFor(r, 800, TEST_CARDS.icDebit, 'refund');
    assert.ok(refundCard.field55);
    const refund = await r.terminal.engine.refund({ amountFen: 800, card: refundCard, session: SUPERVISOR, origRrn: sale.txn.rrn as string, origDateMmdd: sale.txn.hostDate as string });
    assert.equal(refund.outcome, 'approved');
    const balanceCard = await chipCardFor(r, 0, TEST_CARDS.contactless, 'balance');
    const bal = await r.terminal.engine.balance(balanceCard, Buffer.from('1234'), CASHIER);
    assert.equal(bal.responseCode, '00');
    const m0220 = frames.find((m) => m.mti === '0220');
    const balance = frames.find((m) => m.mti === '0200' && textField(m, 3) === '310000');
    assert.ok(m0220 && balance);
    assert.equal(m0220.fields.has(55), false);
    assert.equal(balance.fields.has(55), false);
    assertReconciled(r);
  });

  it('the journal holds field 55 (positive control) and never the chip cards\' PAN, in BCD or ASCII', async () => {
    for (const card of [TEST_CARDS.icDebit, TEST_CARDS.contactless]) {
      r.sim.setFault({ kind: 'delay', delayMs: 900, type: 'sale' });
      const input = await chipCardFor(r, 333, card);
      assert.equal((await r.terminal.engine.sale({ amountFen: 333, card: input, session: CASHIER })).outcome, 'failed');
      r.sim.clearFaults();
      const stored = [...r.journal.records()].filter((x) => x.type === RecordType.reversalPending).pop();
      assert.deepEqual(Buffer.from(stored?.payload.field55 as Uint8Array), input.field55);
    }
    const bytes = journalDiskBytes(r.dir);
    const f55s = r.sim.requests().filter((q) => q.type === 'sale').map((q) => q.field55 as Buffer);
    assert.equal(f55s.length, 2);
    for (const f of f55s) assert.notEqual(bytes.indexOf(f), -1, 'field 55 is in the journal file');
    for (const pan of [TEST_CARDS.icDebit.pan, TEST_CARDS.contactless.pan]) {
      assert.equal(bytes.indexOf(bcdPan(pan)), -1, 'PAN (BCD) in the journal');
      assert.equal(bytes.indexOf(Buffer.from(pan)), -1, 'PAN (ASCII) in the journal');
    }
  });

  describe('with the CA keys and AIDs downloaded from the acquirer simulator (the kernel\'s ODA under them)', () => {
    beforeEach(async () => {
      assert.equal((await downloadCaKeys(r.terminal.engine)).outcome, 'applied');
      assert.equal((await downloadAids(r.terminal.engine)).outcome, 'applied');
    });

    it('the IC card\'s DDA passes under the downloaded CA key: the 0200\'s TVR says so, the host approves', async () => {
      const input = await chipCardFor(r, 4_200);
      assert.equal(input.chip?.oda, 'dda');
      assert.equal(input.chip?.odaFailure, undefined);
      const res = await r.terminal.engine.sale({ amountFen: 4_200, card: input, pin: Buffer.from('1234'), session: CASHIER });
      assert.equal(res.outcome, 'approved');
      const tvr = primitives(bytesField(frames.filter(isSale)[0], 55) as Buffer).get(0x95) as Buffer;
      assert.equal(hasTvrBit(tvr, TVR.ddaFailed) || hasTvrBit(tvr, TVR.odaNotPerformed), false, tvr.toString('hex'));
      assert.equal(tvr.toString('hex').toUpperCase(), input.chip?.tvr);
    });

    it('an SDA card under CA key 81 passes too; a card with an expired issuer certificate goes online with "DDA failed" in the TVR', async () => {
      assert.equal((await chipCardFor(r, 100, TEST_CARDS.icSda)).chip?.odaFailure, undefined);
      const input = await chipCardFor(r, 4_300, TEST_CARDS.icExpiredCert);
      assert.equal(input.chip?.odaFailure, 'expired');
      const res = await r.terminal.engine.sale({ amountFen: 4_300, card: input, pin: Buffer.from('1234'), session: CASHIER });
      assert.equal(res.outcome, 'approved', 'the issuer (the simulator) decides, and approves');
      const tvr = primitives(bytesField(frames.filter(isSale)[0], 55) as Buffer).get(0x95) as Buffer;
      assert.ok(hasTvrBit(tvr, TVR.ddaFailed));
    });

    it('the card whose issuer denies a failed DDA: E-RDR-09 at the card, nothing sent to the host', async () => {
      await assert.rejects(chipCardFor(r, 4_400, TEST_CARDS.icOdaDeclined), (e: unknown) => isPosError(e) && e.code === 'E-RDR-09');
      assert.equal(frames.filter(isSale).length, 0);
    });
  });

  it('a sale that goes online after a failed ODA says so in the log: method, reason, TVR, and nothing of the card', async () => {
    const lines: string[] = [];
    const logged = await rig({ logger: pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } }) });
    try {
      await logged.terminal.engine.signOn(CASHIER);
      const input = await chipCardFor(logged, 4_600, TEST_CARDS.icExpiredCert);
      assert.equal((await logged.terminal.engine.sale({ amountFen: 4_600, card: input, pin: Buffer.from('1234'), session: CASHIER })).outcome, 'approved');
      const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => /offline data authentication failed/.test(String(l.msg)));
      assert.ok(warn, lines.join('\n'));
      assert.equal(warn.reason, 'ca-key-missing', 'this rig downloaded no CA keys');
      assert.equal(warn.oda, 'dda');
      assert.equal(warn.tvr, input.chip?.tvr);
      const all = lines.join('\n');
      assert.ok(!all.includes(TEST_CARDS.icExpiredCert.pan) && !all.includes(TEST_CARDS.icExpiredCert.pan.slice(0, 12)), 'no PAN in the log');
    } finally {
      await logged.close();
    }
  });

  it('without downloaded CA keys the same IC card fails DDA (CA key missing) and still goes online', async () => {
    const input = await chipCardFor(r, 4_500);
    assert.equal(input.chip?.odaFailure, 'ca-key-missing');
    const res = await r.terminal.engine.sale({ amountFen: 4_500, card: input, pin: Buffer.from('1234'), session: CASHIER });
    assert.equal(res.outcome, 'approved');
  });
});

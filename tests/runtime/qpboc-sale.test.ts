/**
 * qPBOC and CDA sales through the engine against the acquirer simulator (its CA keys and AIDs
 * downloaded first, as at the first sign-on): a small tap approved offline by the card (TC, fDDA
 * passed) is journaled as an offline sale with nothing sent, survives a reboot, and is uploaded as
 * a 0220 carrying its TC before the next online sale; a tap over the contactless floor limit, and
 * one whose fDDA failed, go online and the host verifies their cryptograms; the waiting maximum of
 * offline sales sends the next tap online; a CDA card's sale is approved with the cryptogram from
 * inside its signature. Nothing of the card's PAN reaches the journal.
 */
import { strict as assert } from 'node:assert';
import pino from 'pino';
import { PosError, isPosError } from '../../common/errors';
import { rec } from '../../runtime/records';
import { RecordType } from '../../storage/record';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IsoMessage, bytesField, textField } from '../../runtime/host/packager';
import { primitives } from '../../runtime/txn/emv';
import { downloadAids, downloadCaKeys } from '../../runtime/txn/emv-download';
import { TEST_CARDS } from '../../sim/test-cards';
import { readCard } from '../../runtime/txn/card';
import { EmvCardSpec, emvCard } from '../../sim/emv-card';
import { ChipCardReader } from './fakes';
import { CASHIER, Rig, assertReconciled, captureFrames, chipCardFor, rig, journalDiskBytes } from './harness';

describe('qPBOC and CDA sales through the engine', function () {
  this.timeout(20_000);
  let r: Rig;
  let frames: IsoMessage[];
  beforeEach(async () => {
    r = await rig();
    frames = captureFrames(r);
    await r.terminal.engine.signOn(CASHIER);
    r.sim.setParameters({ offlineAllowed: true, offlineFloorFen: 20_000, offlineCountMax: 2 });
    await r.terminal.engine.downloadParameters();
    assert.equal((await downloadCaKeys(r.terminal.engine)).outcome, 'applied');
    assert.equal((await downloadAids(r.terminal.engine)).outcome, 'applied');
    frames.length = 0;
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  it('a tap under the floor limits: approved offline (Y1, nothing sent), kept over a reboot, uploaded as a 0220 with its TC before the next sale', async () => {
    const input = await chipCardFor(r, 5_000, TEST_CARDS.quickPass);
    assert.equal(input.chip?.offlineApproved, true);
    const res = await r.terminal.engine.sale({ amountFen: 5_000, card: input, session: CASHIER });
    assert.equal(res.outcome, 'approved');
    if (res.outcome !== 'approved') return;
    assert.equal(res.txn.offline, 'pending');
    assert.equal(res.txn.responseCode, 'Y1');
    assert.match(res.txn.authCode ?? '', /^OF\d{4}$/);
    assert.equal(frames.length, 0, 'nothing went to the host');
    await r.reboot();
    assert.equal(r.terminal.engine.pendingAdvices().length, 1, 'the offline sale is in the journal');
    await r.terminal.engine.sale({ amountFen: 30_000, card: await chipCardFor(r, 30_000), pin: Buffer.from('1234'), session: CASHIER });
    const advice = frames.find((m) => m.mti === '0220' && textField(m, 60)?.startsWith('30'));
    assert.ok(advice, 'the advice went first');
    assert.equal(frames.indexOf(advice), 0);
    assert.equal(textField(advice, 11), String(res.txn.stan).padStart(6, '0'));
    assert.equal(textField(advice, 22), '072', 'a tap with no PIN: 22 ends in 2');
    assert.ok(input.cardSeq, 'the card has a sequence number (5F34)');
    assert.equal(textField(advice, 23), input.cardSeq, 'fields as a sale: 23 too, kept over the reboot');
    const f55 = primitives(bytesField(advice, 55) as Buffer);
    assert.equal(f55.get(0x9f27)?.toString('hex'), '40', 'the card\'s TC');
    assert.deepEqual(bytesField(advice, 55), input.field55);
    assert.equal(r.terminal.engine.pendingAdvices().length, 0);
    assert.equal(r.terminal.engine.txn(res.txn.stan)?.offline, 'sent');
    const journal = journalDiskBytes(r.dir);
    assert.notEqual(journal.indexOf(input.field55 as Buffer), -1, 'the TC\'s 55 is in the journal file (the test looks in the right place)');
    assert.equal(journal.indexOf(Buffer.from(TEST_CARDS.quickPass.pan)), -1);
    assert.equal(journal.indexOf(Buffer.from(TEST_CARDS.quickPass.pan.slice(0, 12), 'hex')), -1);
    assertReconciled(r);
  });

  it('over the contactless floor limit: the card gives an ARQC, the sale goes online, the host verifies it', async () => {
    const input = await chipCardFor(r, 25_000, TEST_CARDS.quickPass);
    const res = await r.terminal.engine.sale({ amountFen: 25_000, card: input, session: CASHIER });
    assert.equal(res.outcome, 'approved');
    const sale = frames.filter((m) => m.mti === '0200');
    assert.equal(sale.length, 1);
    assert.equal(primitives(bytesField(sale[0], 55) as Buffer).get(0x9f27)?.toString('hex'), '80');
  });

  it('wrong fDDA signature: the TC goes online (the card allows it) and the host verifies it', async () => {
    const input = await chipCardFor(r, 5_000, TEST_CARDS.qpbocBadFdda);
    assert.equal(input.chip?.odaFailure, 'hash');
    const res = await r.terminal.engine.sale({ amountFen: 5_000, card: input, session: CASHIER });
    assert.equal(res.outcome, 'approved');
    if (res.outcome === 'approved') assert.equal(res.txn.offline, undefined);
    assert.equal(frames.filter((m) => m.mti === '0200').length, 1);
  });

  it('the sale after a failed fDDA says so in the log (method, reason, the TVR the terminal found), nothing of the card; the offline approval is logged too', async () => {
    const lines: string[] = [];
    const logged = await rig({ logger: pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } }) });
    try {
      await logged.terminal.engine.signOn(CASHIER);
      await logged.terminal.engine.downloadParameters(); // the simulator's defaults: offline sales up to 200 yuan
      assert.equal((await downloadCaKeys(logged.terminal.engine)).outcome, 'applied');
      assert.equal((await downloadAids(logged.terminal.engine)).outcome, 'applied');
      const bad = await chipCardFor(logged, 5_000, TEST_CARDS.qpbocBadFdda);
      assert.equal((await logged.terminal.engine.sale({ amountFen: 5_000, card: bad, session: CASHIER })).outcome, 'approved');
      const good = await chipCardFor(logged, 5_100, TEST_CARDS.quickPass);
      assert.equal((await logged.terminal.engine.sale({ amountFen: 5_100, card: good, session: CASHIER })).outcome, 'approved');
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const warn = parsed.find((l) => /fDDA failed/.test(String(l.msg)));
      assert.ok(warn, lines.join('\n'));
      assert.equal(warn.oda, 'fdda');
      assert.equal(warn.reason, 'hash');
      assert.equal(warn.tvr, '0800000000', 'DDA failed');
      assert.ok(parsed.some((l) => /approved offline/.test(String(l.msg))), 'the offline approval is logged');
      const all = lines.join('\n');
      for (const pan of [TEST_CARDS.qpbocBadFdda.pan, TEST_CARDS.quickPass.pan]) assert.ok(!all.includes(pan) && !all.includes(pan.slice(0, 12)), 'no PAN in the log');
    } finally {
      await logged.close();
    }
  });

  it('refusals at the reader are journaled as card-refused (code, transaction, ODA method and reason), other read errors are not', async () => {
    const count = (): number => [...r.journal.records()].filter((x) => x.type === RecordType.cardRefused).length;
    const request = r.terminal.engine.cardRequest('sale', 6_000);
    const refusal = await readCard(new ChipCardReader(TEST_CARDS.qpbocExpiredIcc), ['tap'], 1000, request).catch((e: unknown) => e);
    assert.ok(isPosError(refusal) && refusal.code === 'E-RDR-09');
    await r.terminal.engine.noteCardRefused(refusal, request);
    await r.terminal.engine.noteCardRefused(new PosError('RDR_CARD_REMOVED', 'pulled'), request);
    await r.terminal.engine.noteCardRefused(new Error('not a PosError'), request);
    assert.equal(count(), 1);
    const last = [...r.journal.records()].filter((x) => x.type === RecordType.cardRefused).pop();
    assert.deepEqual(last?.payload, { code: 'E-RDR-09', txnType: 'sale', amountFen: 6_000, oda: 'fdda', reason: 'expired' });
    assert.throws(() => rec.cardRefused({ code: 'E-RDR-05', txnType: 'sale', amountFen: 1 }), /card refusal code unknown/);
    assert.throws(() => rec.cardRefused({ code: 'E-RDR-09', txnType: 'sale', amountFen: 1, reason: TEST_CARDS.qpbocExpiredIcc.pan }), /malformed/, 'digits are never an ODA word');
  });

    it('the waiting maximum of offline sales (DF17 = 2) reached: the TTQ asks the next tap for an online cryptogram', async () => {
    for (let i = 0; i < 2; i++) {
      await r.sim.close();
      const res = await r.terminal.engine.sale({ amountFen: 1_000 + i, card: await chipCardFor(r, 1_000 + i, TEST_CARDS.quickPass), session: CASHIER });
      assert.equal(res.outcome === 'approved' && res.txn.offline, 'pending');
      await r.sim.listen(r.sim.port);
    }
    const third = await chipCardFor(r, 1_002, TEST_CARDS.quickPass);
    assert.equal(third.chip?.offlineApproved, undefined);
    assert.equal(primitives(third.field55 as Buffer).get(0x9f27)?.toString('hex'), '80');
  });

  it('a CDA card: approved online with the cryptogram from inside its signature', async () => {
    const input = await chipCardFor(r, 4_400, TEST_CARDS.icCda);
    assert.equal(input.chip?.oda, 'cda');
    const res = await r.terminal.engine.sale({ amountFen: 4_400, card: input, pin: Buffer.from('1234'), session: CASHIER });
    assert.equal(res.outcome, 'approved');
  });
});

describe('CDA at the final GENERATE AC (the online half of an inserted card)', function () {
  this.timeout(20_000);
  let r: Rig;
  beforeEach(async () => {
    r = await rig();
    await r.terminal.engine.signOn(CASHIER);
    assert.equal((await downloadCaKeys(r.terminal.engine)).outcome, 'applied');
    assert.equal((await downloadAids(r.terminal.engine)).outcome, 'applied');
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  async function sell(spec: Partial<EmvCardSpec>): Promise<{ res: Awaited<ReturnType<Rig['terminal']['engine']['sale']>>; reader: ChipCardReader }> {
    const reader = new ChipCardReader(emvCard({ kind: 'ic', name: 'cda', pan: '6222020000000148', expiry: '301231', psn: 1, oda: 'cda', atc: 'counter', ...spec }));
    const input = await readCard(reader, ['insert'], 1000, { ...r.terminal.engine.cardRequest('sale', 4_400), holdCard: true });
    assert.equal(input.chip?.oda, 'cda');
    const res = await r.terminal.engine.sale({ amountFen: 4_400, card: input, pin: Buffer.from('1234'), session: CASHIER });
    return { res, reader };
  }

  it('the final GENERATE AC asks for a TC with CDA (P1 50); the signature verifies: approved, nothing reversed', async () => {
    const { res, reader } = await sell({});
    assert.equal(res.outcome, 'approved');
    assert.deepEqual(reader.apdus.filter((a) => a.command[1] === 0xae).map((a) => a.command[2]), [0x90, 0x50]);
    assert.equal(r.sim.requests().filter((q) => q.type === 'reversal').length, 0);
  });

  it('a wrong CDA signature with the final TC: CDA failed, the card\'s TC is not taken: E-RDR-11, the sale reversed (06) at the host', async () => {
    const { res, reader } = await sell({ faults: ['wrong-final-cda-signature'] });
    assert.equal(res.outcome, 'failed');
    if (res.outcome === 'failed') assert.equal(res.error.code, 'E-RDR-11');
    const reversals = r.sim.requests().filter((q) => q.type === 'reversal');
    assert.equal(reversals.length, 1);
    assert.equal(reversals[0].requestCode, '06');
    assert.equal(r.sim.ledger.entries().find((e) => e.amountFen === 4_400)?.status, 'reversed');
    assert.equal(reader.released, 1);
    assertReconciled(r);
  });
});

/**
 * The engine against the acquirer simulator on loopback: every flow, every fault the simulator
 * can inject, and after each the host's ledger and the terminal's journal agree.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecordType } from '../../storage/record';
import { EXPLAINED_CODES } from '../../runtime/host/response-codes';
import { isPosError, PosError } from '../../common/errors';
import { settle } from '../../runtime/txn/settlement';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { ADMIN, CASHIER, SUPERVISOR, Rig, assertReconciled, magCard, rig, shortCard, journalDiskBytes } from './harness';

const PIN = (): Buffer => Buffer.from('123456', 'ascii');

describe('runtime engine against the acquirer simulator', function () {
  this.timeout(20_000);
  let r: Rig;
  beforeEach(async () => {
    r = await rig();
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  const sale = (amountFen: number, card = magCard()) => r.terminal.engine.sale({ amountFen, card, session: CASHIER });
  const types = (rt: number) => [...r.journal.records()].filter((x) => x.type === rt);

  it('sign-on stores the working keys sealed, with check values, and the journal never holds them clear', async () => {
    const keys = r.sim.workingKeys(TEST_TERMINAL.tid);
    assert.ok(keys && r.terminal.engine.signedOn);
    const bytes = journalDiskBytes(r.dir);
    for (const k of [keys.pik, keys.mak, keys.tdk]) assert.equal(bytes.indexOf(k), -1, 'a clear working key is in the journal file');
    assert.equal(types(RecordType.keys).length, 1);
    assert.equal(types(RecordType.signOn).length, 1);
  });

  it('sale approved: result journaled before it is returned, reversal cleared, ledger and journal agree', async () => {
    const res = await sale(12_345);
    assert.equal(res.outcome, 'approved');
    if (res.outcome !== 'approved') return;
    assert.equal(res.txn.panMasked, '622202*********0128');
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
    assert.equal(types(RecordType.txnResult).length, 1);
    assertReconciled(r);
  });

  it('sale with a PIN: the PIN buffer is zeroed and no PIN block reaches the journal', async () => {
    const pin = PIN();
    const res = await r.terminal.engine.sale({ amountFen: 100, card: { ...magCard(), entryMode: '021' }, pin, session: CASHIER });
    assert.equal(res.outcome, 'approved');
    assert.ok(pin.every((b) => b === 0), 'PIN left in memory');
  });

  for (const code of EXPLAINED_CODES.filter((c) => c !== '00' && c !== 'A0')) {
    it(`decline ${code}: declined, reversal cleared, nothing charged`, async () => {
      r.sim.setFault({ kind: 'response-code', code, type: 'sale' });
      const res = await sale(500);
      assert.equal(res.outcome, 'declined');
      if (res.outcome === 'declined') assert.equal(res.txn.responseCode, code);
      assert.equal(r.terminal.engine.state.pendingReversal, undefined);
      assertReconciled(r);
    });
  }

  it('duplicate (94) is a decline and charges nothing', async () => {
    r.sim.setFault({ kind: 'duplicate', type: 'sale' });
    const res = await sale(700);
    assert.equal(res.outcome, 'declined');
    assertReconciled(r);
  });

  for (const fault of [
    { name: 'delay past the timeout', spec: { kind: 'delay' as const, delayMs: 900, type: 'sale' as const }, kind: 'timeout', reason: '98' },
    { name: 'close before the response', spec: { kind: 'close-before-response' as const, type: 'sale' as const }, kind: 'timeout', reason: '98' },
    { name: 'close mid-response', spec: { kind: 'close-mid-response' as const, type: 'sale' as const }, kind: 'host-malformed', reason: '06' },
    { name: 'garbage response', spec: { kind: 'garbage' as const, type: 'sale' as const }, kind: 'host-malformed', reason: '06' },
  ]) {
    it(`${fault.name}: sale fails, reversal ${fault.reason} sent and cleared, host shows it reversed`, async () => {
      r.sim.setFault(fault.spec);
      const res = await sale(900);
      assert.equal(res.outcome, 'failed');
      if (res.outcome !== 'failed') return;
      assert.equal(res.error.kind, fault.kind);
      assert.equal(res.reversalPending, false);
      const stan = res.stan as number;
      assert.equal(r.terminal.engine.txn(stan)?.status, 'reversed');
      assert.equal(r.sim.ledger.find(TEST_TERMINAL.tid, 1, stan)?.status, 'reversed');
      const reversal = r.sim.requests().find((q) => q.type === 'reversal');
      assert.equal(reversal?.stan, stan);
      assert.equal(reversal?.requestCode, fault.reason, 'no answer is 98; an answer that cannot be read is 06 (any other failure after sending)');
      assertReconciled(r);
    });
  }

  it('bad MAC on the reply: reversal A0, then a sign-on before the next sale', async () => {
    r.sim.setFault({ kind: 'bad-mac', type: 'sale' });
    const res = await sale(300);
    assert.equal(res.outcome, 'failed');
    if (res.outcome === 'failed') assert.equal(res.error.kind, 'mac-failure');
    assert.equal(r.sim.ledger.entries().find((e) => e.amountFen === 300)?.status, 'reversed');
    assert.equal(r.terminal.engine.needsSignOn, true);
    const before = r.sent.length;
    assert.equal((await sale(301)).outcome, 'approved');
    assert.deepEqual(r.sent.slice(before).map((s) => s.type), ['signOn', 'sale']);
    assertReconciled(r);
  });

  it('host down: reversal kept on disk, the next sale is refused until it is sent, then it goes first', async () => {
    r.sim.setFault({ kind: 'delay', delayMs: 900, count: 7 }); // the sale, then 3 + 3 reversal tries
    const res = await sale(1000);
    assert.equal(res.outcome, 'failed');
    if (res.outcome === 'failed') assert.equal(res.reversalPending, true);
    assert.ok(r.terminal.engine.state.pendingReversal);
    await assert.rejects(sale(1001), (e: unknown) => isPosError(e) && e.code === 'E-HOST-08');
    r.sim.clearFaults();
    await r.reboot();
    assert.ok(r.terminal.engine.state.pendingReversal, 'the pending reversal survives a reboot');
    const before = r.sent.length;
    assert.equal((await sale(1002)).outcome, 'approved');
    assert.deepEqual(r.sent.slice(before).map((s) => s.type), ['reversal', 'sale']);
    const reversal = r.sim.requests().filter((q) => q.type === 'reversal').pop();
    assert.equal(reversal?.requestCode, '98', 'a timeout decided before the reboot is still reversed as 98, not as a power loss (06)');
    assertReconciled(r);
  });

  it('connection refused before sending: nothing reached the host, no reversal kept', async () => {
    const port = r.sim.port;
    await r.sim.close();
    const res = await sale(50);
    assert.equal(res.outcome, 'failed');
    if (res.outcome === 'failed') { assert.equal(res.error.kind, 'host-unreachable'); assert.equal(res.reversalPending, false); }
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
    void port;
  });

  it('void of a sale: the sale is voided, counts in no total; a second void is refused', async () => {
    const s1 = await sale(2000);
    assert.equal(s1.outcome, 'approved');
    if (s1.outcome !== 'approved') return;
    await assert.rejects(r.terminal.engine.voidSale(s1.txn.stan, CASHIER), (e: unknown) => isPosError(e, 'permission'));
    const v = await r.terminal.engine.voidSale(s1.txn.stan, SUPERVISOR);
    assert.equal(v.outcome, 'approved');
    assert.equal(r.terminal.engine.txn(s1.txn.stan)?.status, 'voided');
    await assert.rejects(r.terminal.engine.voidSale(s1.txn.stan, SUPERVISOR), (e: unknown) => isPosError(e) && e.code === 'E-OPR-10');
    assertReconciled(r);
  });

  it('void that times out is reversed: the sale stands again', async () => {
    const s1 = await sale(2100);
    if (s1.outcome !== 'approved') throw new Error('sale not approved');
    r.sim.setFault({ kind: 'delay', delayMs: 900, type: 'void' });
    const v = await r.terminal.engine.voidSale(s1.txn.stan, SUPERVISOR);
    assert.equal(v.outcome, 'failed');
    assert.equal(r.terminal.engine.txn(s1.txn.stan)?.status, 'approved');
    assertReconciled(r);
  });

  it('refund of an earlier sale by RRN: counted in the refund totals', async () => {
    const s1 = await sale(5000);
    if (s1.outcome !== 'approved') throw new Error('sale not approved');
    const rf = await r.terminal.engine.refund({ amountFen: 1500, card: magCard(), session: SUPERVISOR, origRrn: s1.txn.rrn as string, origDateMmdd: s1.txn.hostDate as string });
    assert.equal(rf.outcome, 'approved');
    assertReconciled(r);
  });

  it('refund that times out is reversed', async () => {
    const s1 = await sale(5100);
    if (s1.outcome !== 'approved') throw new Error('sale not approved');
    r.sim.setFault({ kind: 'close-before-response', type: 'refund' });
    const rf = await r.terminal.engine.refund({ amountFen: 100, card: magCard(), session: SUPERVISOR, origRrn: s1.txn.rrn as string, origDateMmdd: '1121' });
    assert.equal(rf.outcome, 'failed');
    assertReconciled(r);
  });

  it('balance inquiry returns the balance and writes no transaction', async () => {
    const b = await r.terminal.engine.balance({ ...magCard(), entryMode: '021' }, PIN(), CASHIER);
    assert.equal(b.responseCode, '00');
    assert.equal(b.balance?.amountFen, 1_000_000);
    assert.equal(types(RecordType.txnBegin).length, 0);
  });

  it('duplicate-charge guard: the same card and amount approved moments ago is found; another card or amount is not', async () => {
    await sale(8800);
    assert.ok(r.terminal.engine.recentDuplicate(magCard(), 8800));
    assert.equal(r.terminal.engine.recentDuplicate(magCard(), 8801), undefined);
    assert.equal(r.terminal.engine.recentDuplicate(shortCard(), 8800), undefined);
    r.clock.ms += 11 * 60_000;
    assert.equal(r.terminal.engine.recentDuplicate(magCard(), 8800), undefined, 'outside the window');
  });

  it('amount limits: zero and above the maximum are refused with E-OPR-01', async () => {
    await assert.rejects(sale(0), (e: unknown) => isPosError(e) && e.code === 'E-OPR-01');
    await assert.rejects(sale(5_000_001), (e: unknown) => isPosError(e) && e.code === 'E-OPR-01');
  });

  it('settlement balanced: totals from the journal, batch closed at the host, batch number advanced', async () => {
    await sale(100); await sale(200);
    const s3 = await sale(300);
    if (s3.outcome === 'approved') await r.terminal.engine.voidSale(s3.txn.stan, SUPERVISOR);
    await assert.rejects(settle(r.terminal.engine, CASHIER), (e: unknown) => isPosError(e, 'permission'));
    const rep = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(rep.verdict, 'balanced');
    assert.deepEqual(rep.totals, { saleAmountFen: 300, saleCount: 2, refundAmountFen: 0, refundCount: 0 });
    assert.equal(r.sim.ledger.batchState(TEST_TERMINAL.tid, 1)?.settlement?.verdict, 'balanced');
    assert.equal(r.terminal.engine.state.batch, 2);
    assert.equal((await sale(400)).outcome, 'approved');
    assert.equal(r.sim.ledger.entries({ batch: 2 }).length, 1);
  });

  // Issue 14: the terminal checkpoints when it has time. A sale leaves its records in the
  // write-ahead log (its path is the log's one flush); a closed settlement puts them into LMDB.
  it('closedSettlementPutsTheJournalsRecordsInLmdbAndASaleDoesNot', async () => {
    await sale(100); await sale(200);
    assert.ok(r.journal.walRecordCount > 0, 'the sales are in the write-ahead log');
    const before = r.journal.checkpointedSeq;
    const rep = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(rep.verdict, 'balanced');
    assert.equal(r.journal.walRecordCount, 0, 'nothing left in the log after the close');
    assert.equal(r.journal.checkpointedSeq, r.journal.lastSeq, 'LMDB holds the batch-closed record');
    assert.ok(r.journal.checkpointedSeq > before);
    assert.equal(r.journal.state, 'ok');
    await sale(300);
    assert.ok(r.journal.walRecordCount > 0, 'the next sale goes to the log again');
    assert.ok(r.journal.checkpointedSeq < r.journal.lastSeq);
  });

  it('settlement unbalanced: every counted transaction uploaded, then the end message, then closed', async () => {
    for (let i = 1; i <= 5; i++) await sale(i * 100);
    r.sim.setFault({ kind: 'unbalanced-settlement' });
    const rep = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(rep.verdict, 'unbalanced');
    const bs = r.sim.ledger.batchState(TEST_TERMINAL.tid, 1);
    assert.equal(bs?.uploads.length, 5);
    assert.equal(bs?.uploadEndCount, 5);
    assert.equal(r.terminal.engine.state.batch, 2);
  });

  it('settlement unbalanced, the host refusing upload records and the end message: the batch is closed all the same and selling goes on', async () => {
    for (let i = 1; i <= 3; i++) await sale(i * 100);
    r.sim.setFault({ kind: 'unbalanced-settlement' });
    r.sim.setFault({ kind: 'response-code', code: '25', type: 'batchUploadRecord', count: 2 });
    r.sim.setFault({ kind: 'response-code', code: '96', type: 'batchUploadEnd' });
    const rep = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(rep.verdict, 'unbalanced');
    assert.equal(r.sim.requests().filter((q) => q.type === 'batchUploadRecord').length, 3, 'every record offered, the refused ones included');
    assert.equal(r.sim.requests().filter((q) => q.type === 'batchUploadEnd').length, 1);
    assert.equal(r.terminal.engine.state.batch, 2, 'closed all the same (the profile)');
    assert.equal(r.terminal.engine.state.settlement, undefined);
    assert.equal((await sale(400)).outcome, 'approved', 'the next sale is not held back by the settlement');
  });

  it('batch upload cut by a lost response re-sends only the record in flight after a reboot; a 94 for it counts as filed', async () => {
    for (let i = 1; i <= 5; i++) await sale(i * 100);
    r.sim.setFault({ kind: 'unbalanced-settlement' });
    const engine = r.terminal.engine;
    const sendRaw = engine.sendRaw.bind(engine);
    let records = 0;
    engine.sendRaw = async (req, stan) => {
      const bytes = await sendRaw(req, stan);
      // The host files the 3rd record, its answer is lost (the power goes).
      if (req.type === 'batchUploadRecord' && ++records === 3) throw new PosError('HOST_TIMEOUT', 'no response (test)');
      return bytes;
    };
    await assert.rejects(settle(engine, SUPERVISOR), (e: unknown) => isPosError(e, 'timeout'));
    assert.equal(engine.state.settlement?.step, 'upload');
    await r.reboot();
    // A host that knows the record answers the repeat 94 (duplicate transmission) and files nothing.
    r.sim.setFault({ kind: 'response-code', code: '94', type: 'batchUploadRecord' });
    const rep = await settle(r.terminal.engine, undefined);
    assert.equal(rep.resumedFrom, 'upload');
    const sent = r.sim.requests().filter((q) => q.type === 'batchUploadRecord').length;
    assert.equal(sent, 6, 'five records and the one in flight again, not the whole chunk');
    const bs = r.sim.ledger.batchState(TEST_TERMINAL.tid, 1);
    assert.equal(new Set(bs?.uploads.map((u) => u.rrn)).size, 5);
    assert.equal(bs?.uploads.length, 5, 'no record filed twice');
    assert.equal(bs?.uploadEndCount, 5);
    assert.equal(r.terminal.engine.state.batch, 2);
  });

  it('settlement whose 0510 is lost resumes after a reboot and gets the same verdict', async () => {
    await sale(100);
    r.sim.setFault({ kind: 'delay', delayMs: 900, type: 'settlement' });
    await assert.rejects(settle(r.terminal.engine, SUPERVISOR), (e: unknown) => isPosError(e, 'timeout'));
    assert.equal(r.terminal.engine.state.settlement?.step, 'begun');
    await assert.rejects(sale(5), (e: unknown) => isPosError(e) && e.code === 'E-OPR-09');
    await r.reboot();
    const rep = await settle(r.terminal.engine, undefined);
    assert.equal(rep.resumedFrom, 'begun');
    assert.equal(rep.verdict, 'balanced');
    assert.equal(r.terminal.engine.state.batch, 2);
  });

  it('reboot: the state replayed from the journal equals the state built live', async () => {
    await sale(111);
    r.sim.setFault({ kind: 'response-code', code: '51', type: 'sale' });
    await sale(222);
    const live = JSON.stringify(r.terminal.engine.transactions());
    await r.reboot();
    assert.equal(JSON.stringify(r.terminal.engine.transactions()), live);
    assert.equal(r.terminal.engine.signedOn, true, 'keys unsealed from the journal');
    assert.equal((await sale(333)).outcome, 'approved');
  });

  it('signature captured, stored compressed with the transaction, uploaded (0820/800) before settlement', async () => {
    const s1 = await sale(999);
    if (s1.outcome !== 'approved') throw new Error('sale not approved');
    const pixels = new Uint8Array(128 * 48);
    for (let x = 0; x < 128; x++) pixels[(20 + Math.round(10 * Math.sin(x / 8))) * 128 + x] = 1;
    await r.terminal.engine.saveSignature(s1.txn.stan, { width: 128, height: 48, pixels });
    assert.deepEqual(r.terminal.engine.signatureImage(s1.txn.stan)?.pixels, pixels);
    await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(r.sim.ledger.batchState(TEST_TERMINAL.tid, 1)?.signatures, 1);
  });

  it('sign-off drops the keys; a sale after it signs on first', async () => {
    await r.terminal.engine.signOff(CASHIER);
    assert.equal(r.terminal.engine.signedOn, false);
    const before = r.sent.length;
    assert.equal((await sale(10)).outcome, 'approved');
    assert.deepEqual(r.sent.slice(before).map((s) => s.type), ['signOn', 'sale']);
    void ADMIN; void PosError;
  });
});

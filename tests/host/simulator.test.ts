import { strict as assert } from 'node:assert';
import { PassThrough, Writable } from 'node:stream';
import pino from 'pino';
import { PosError, isPosError } from '../../common/errors';
import { keyCheckValue, pinBlockFormat0 } from '../../runtime/host/crypto';
import { ZERO_TOTALS } from '../../runtime/host/messages';
import { AcquirerSimulator, TEST_TERMINAL } from '../../sim/host/simulator';
import { STAN_WINDOW_MAX } from '../../sim/host/stan-window';
import { buildBalance } from '../../runtime/host/messages';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { parseFaultSpec } from '../../sim/host/faults';
import { hostSimCommands, parseHostSimFlags, runHostSim } from '../../sim/host/cli';
import { silentLogger } from '../../common/log';
import { IDS, PAN, PIN_ASCII, hex, seededBytes } from './fixtures';
import { TestTerminal } from './test-terminal';

async function rejection(p: Promise<unknown>): Promise<PosError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PosError, `expected a PosError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('acquirer simulator', () => {
  let sim: AcquirerSimulator;
  let term: TestTerminal;
  let logLines: string[];

  beforeEach(async () => {
    logLines = [];
    const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } });
    sim = new AcquirerSimulator({ randomBytes: seededBytes(42), clock: () => Date.UTC(2025, 0, 2, 2, 11, 12), logger: pino({ level: 'info' }, sink) });
    term = new TestTerminal(await sim.listen(0));
  });
  afterEach(async () => {
    await sim.close();
  });

  describe('protocol', () => {
    it('signOnIssuesWorkingKeysUnderTheTmkWithMatchingCheckValues', async () => {
      const r = await term.signOn();
      assert.equal(r.approved, true);
      const hostKeys = sim.workingKeys(IDS.tid)!;
      assert.deepEqual(r.keys, hostKeys);
      assert.deepEqual(r.checkValues!.mak, keyCheckValue(hostKeys.mak));
    });

    it('unknownTerminalIsRefusedSignOn', async () => {
      const stranger = new TestTerminal(sim.port, hex('00112233445566778899AABBCCDDEEFF'), { tid: '87654321', mid: IDS.mid });
      const r = await stranger.signOn();
      assert.equal(r.approved, false);
      assert.equal(r.responseCode, '03');
      assert.equal(r.keys, undefined);
    });

    it('approvedSaleIsInTheLedgerWithTheRrnAndAuthCodeTheTerminalGot', async () => {
      await term.signOn();
      const { res } = await term.sale(12345);
      assert.equal(res.approved, true);
      assert.equal(res.hostDate, '0102');
      const e = sim.ledger.find(IDS.tid, 1, term.stan)!;
      assert.equal(e.status, 'approved');
      assert.equal(e.rrn, res.rrn);
      assert.equal(e.authCode, res.authCode);
      assert.equal(e.amountFen, 12345);
      assert.equal(e.panMasked, '622202*********0123');
    });

    it('saleThenVoidThenReversalThenBalancedSettlementAgreeWithTheLedger', async () => {
      await term.signOn();
      const s1 = await term.sale(10_000);
      const s2 = await term.sale(2_500);
      const s3 = await term.sale(700);
      const v = await term.voidOf(s2, 2_500);
      assert.equal(v.res.approved, true);
      assert.deepEqual(sim.ledger.find(IDS.tid, 1, Number(s2.req.message.fields.get(11)))!.voidedBy?.stan, Number(v.req.message.fields.get(11)));
      const rev = await term.reverse(s3.req, '98', s3.res.authCode);
      assert.equal(rev.cleared, true);
      assert.equal(sim.ledger.find(IDS.tid, 1, Number(s3.req.message.fields.get(11)))!.status, 'reversed');
      // Voided and reversed sales count nowhere: the host's totals are s1 only.
      assert.deepEqual(sim.ledger.totals(IDS.tid, 1), { saleAmountFen: 10_000, saleCount: 1, refundAmountFen: 0, refundCount: 0 });
      const st = await term.settle({ saleAmountFen: 10_000, saleCount: 1, refundAmountFen: 0, refundCount: 0 });
      assert.equal(st.verdict, 'balanced');
      assert.equal(sim.ledger.batchState(IDS.tid, 1)!.closed, true);
      assert.equal(sim.ledger.batchState(IDS.tid, 1)!.settlement!.verdict, 'balanced');
      assert.equal(s1.res.approved, true);
    });

    it('unbalancedSettlementIsFollowedByAnAcceptedBatchUpload', async () => {
      await term.signOn();
      const s1 = await term.sale(10_000);
      const st = await term.settle({ saleAmountFen: 9_999, saleCount: 1, refundAmountFen: 0, refundCount: 0 });
      assert.equal(st.verdict, 'unbalanced');
      assert.deepEqual(st.hostTotals, { saleAmountFen: 10_000, saleCount: 1, refundAmountFen: 0, refundCount: 0 });
      assert.equal((await term.uploadRecord(s1)).approved, true);
      assert.equal((await term.uploadEnd(1)).approved, true);
      const b = sim.ledger.batchState(IDS.tid, 1)!;
      assert.equal(b.closed, true);
      assert.deepEqual(b.uploads.map((u) => u.rrn), [s1.res.rrn]);
      assert.equal(b.uploadEndCount, 1);
    });

    it('saleInAClosedBatchIsRefusedAndTheNextBatchIsOpen', async () => {
      await term.signOn();
      await term.settle(ZERO_TOTALS);
      assert.equal((await term.sale(100)).res.responseCode, '12');
      term.batch = 2;
      assert.equal((await term.sale(100)).res.approved, true);
    });

    it('repeatedSettlementGetsTheSameVerdict', async () => {
      await term.signOn();
      await term.sale(100);
      assert.equal((await term.settle(ZERO_TOTALS)).verdict, 'unbalanced');
      assert.equal((await term.settle({ saleAmountFen: 100, saleCount: 1, refundAmountFen: 0, refundCount: 0 })).verdict, 'unbalanced');
    });

    it('refundCountsInTheRefundTotalAndCannotExceedTheSale', async () => {
      await term.signOn();
      const s = await term.sale(5_000);
      assert.equal((await term.refundOf(s.res, 3_000)).approved, true);
      assert.equal((await term.refundOf(s.res, 3_000)).responseCode, '12');
      assert.equal((await term.refundOf({ rrn: '999999999999' }, 1)).responseCode, '25');
      assert.deepEqual(sim.ledger.totals(IDS.tid, 1), { saleAmountFen: 5_000, saleCount: 1, refundAmountFen: 3_000, refundCount: 1 });
      assert.equal((await term.settle({ saleAmountFen: 5_000, saleCount: 1, refundAmountFen: 3_000, refundCount: 1 })).verdict, 'balanced');
    });

    it('refundWhoseField61NamesAnotherOriginalOrDateIsAnswered25', async () => {
      await term.signOn();
      const s1 = await term.sale(1_000);
      const s2 = await term.sale(2_000);
      const stanOf = (s: typeof s1): number => Number(s.req.message.fields.get(11));
      assert.equal((await term.refundOf(s1.res, 100, { batch: 1, stan: stanOf(s2) })).responseCode, '25', 'batch + STAN of another sale');
      assert.equal((await term.refundOf({ rrn: s1.res.rrn, hostDate: '0229' }, 100)).responseCode, '25', 'a date that is not the sale\'s');
      assert.equal((await term.refundOf(s1.res, 100, { batch: 1, stan: stanOf(s1) })).approved, true, 'its own batch + STAN');
    });

    it('reversalOfUnknownIs25AndOfAlreadyReversedIs00', async () => {
      await term.signOn();
      const unsent = term.saleRequest(100);
      const r = await term.reverse(unsent);
      assert.equal(r.responseCode, '25');
      assert.equal(r.cleared, true);
      const s = await term.sale(100);
      assert.equal((await term.reverse(s.req)).responseCode, '00');
      assert.equal((await term.reverse(s.req)).responseCode, '00');
    });

    it('reversalOfAVoidRestoresTheSale', async () => {
      await term.signOn();
      const s = await term.sale(800);
      const v = await term.voidOf(s, 800);
      await term.reverse(v.req);
      assert.equal(sim.ledger.find(IDS.tid, 1, Number(s.req.message.fields.get(11)))!.voidedBy, undefined);
      assert.deepEqual(sim.ledger.totals(IDS.tid, 1).saleCount, 1);
    });

    it('voidOfAnUnknownSaleIs25', async () => {
      await term.signOn();
      const s = await term.sale(800);
      const wrong = { req: s.req, res: { ...s.res, rrn: '000000009999' } };
      assert.equal((await term.voidOf(wrong, 800)).res.responseCode, '25');
    });

    it('balanceInquiryAnswersTheBalance', async () => {
      await term.signOn();
      const r = await term.balance(pinBlockFormat0(PAN, Buffer.from(PIN_ASCII), term.keys!.pik));
      assert.equal(r.approved, true);
      assert.deepEqual(r.balance, { currency: '156', amountFen: 1_000_000 });
    });

    it('signatureUploadIsAccepted', async () => {
      await term.signOn();
      const s = await term.sale(100);
      assert.equal((await term.signature(s.res.rrn)).approved, true);
      assert.equal(sim.ledger.batchState(IDS.tid, 1)!.signatures, 1);
    });

    it('requestWithABadMacIsAnsweredA0AndNotProcessed', async () => {
      await term.signOn();
      const real = term.keys!;
      term.keys = { ...real, mak: hex('0000000000000000FFFFFFFFFFFFFFFF') };
      // The host MACs its A0 answer with its own MAK, which this terminal no longer has.
      const e = await rejection(term.sale(100));
      assert.equal(e.kind, 'mac-failure');
      assert.equal(sim.requests().at(-1)!.code, 'A0');
      assert.equal(sim.ledger.size, 0);
    });

    it('macedRequestBeforeSignOnIsAnsweredA0', async () => {
      term.keys = { pik: Buffer.alloc(16), mak: Buffer.alloc(16), tdk: Buffer.alloc(16) };
      const raw = await term.send(term.saleRequest(100));
      assert.ok(raw.includes(Buffer.from('A0')));
      assert.equal(sim.requests().at(-1)!.code, 'A0');
    });

    it('logsCarryMaskedPansOnly', async () => {
      await term.signOn();
      await term.sale(100);
      const all = logLines.join('');
      assert.ok(all.includes('622202*********0123'));
      assert.ok(!all.includes(PAN));
    });
  });

  describe('STANs used again (issue 13 item 9: the host keeps them across batches)', () => {
    const pin = (): Buffer => pinBlockFormat0(PAN, Buffer.from(PIN_ASCII), term.keys!.pik);

    it('stanOfASaleUsedAgainInALaterBatchIsAnswered94AndRecordsNothing', async () => {
      await term.signOn();
      const first = await term.sale(1_000);
      const stan = term.stan;
      assert.equal((await term.settle({ saleAmountFen: 1_000, saleCount: 1, refundAmountFen: 0, refundCount: 0 })).verdict, 'balanced');
      term.batch = 2;
      term.stan = stan - 1;
      const again = await term.sale(2_000);
      assert.equal(again.res.responseCode, '94');
      assert.equal(sim.ledger.find(IDS.tid, 2, stan), undefined, 'nothing recorded under the reused STAN');
      assert.deepEqual(sim.stanReuses(), { count: 1, list: [{ tid: IDS.tid, batch: 2, stan, type: 'sale', firstBatch: 1, firstType: 'sale' }] });
      assert.equal(first.res.approved, true);
      // A STAN the host has not seen goes through in the new batch.
      term.stan = stan + 10;
      assert.equal((await term.sale(2_000)).res.approved, true);
      assert.equal(sim.stanReuses().count, 1);
    });

    it('stanOfADeclinedSaleOrOfASignOnUsedAgainIs94', async () => {
      await term.signOn();
      const signOnStan = term.stan;
      sim.setFault({ kind: 'response-code', code: '05', type: 'sale' });
      assert.equal((await term.sale(500)).res.responseCode, '05');
      term.stan -= 1;
      assert.equal((await term.sale(500)).res.responseCode, '94', 'a declined sale\'s STAN is spent too');
      term.stan = signOnStan - 1;
      assert.equal((await term.sale(500)).res.responseCode, '94', 'so is a sign-on\'s');
      assert.deepEqual(sim.stanReuses().list.map((x) => x.firstType), ['sale', 'signOn']);
    });

    it('aReversalCarriesItsOriginalsStanAndIsNoReuse', async () => {
      await term.signOn();
      const s = await term.sale(700);
      assert.equal((await term.reverse(s.req, '98')).cleared, true);
      assert.equal((await term.reverse(s.req, '98')).responseCode, '00', 'a reversal sent again');
      assert.equal(sim.stanReuses().count, 0);
    });

    it('aReversalOfABalanceInquiryTheHostAnsweredIs00AndOfOneItNeverSaw25', async () => {
      await term.signOn();
      const req = buildBalance(CUP_PROFILE, { ids: IDS, stan: term.nextStan(), batch: term.batch, pan: PAN, entryMode: '021', pinBlock: pin() });
      assert.equal((await term.financial(req)).responseCode, '00');
      const rev = await term.reverse(req, '98');
      assert.deepEqual([rev.responseCode, rev.cleared], ['00', true]);
      const unseen = buildBalance(CUP_PROFILE, { ids: IDS, stan: term.nextStan(), batch: term.batch, pan: PAN, entryMode: '021', pinBlock: pin() });
      const rev2 = await term.reverse(unseen, '98');
      assert.deepEqual([rev2.responseCode, rev2.cleared], ['25', true]);
      assert.equal(sim.stanReuses().count, 0);
    });

    it('theWindowIsBoundedSoAStanComesBackAfterTheTerminalWentRoundTheRing', async () => {
      await sim.close();
      sim = new AcquirerSimulator({ randomBytes: seededBytes(42), clock: () => Date.UTC(2025, 0, 2, 2, 11, 12), stanWindowMax: 3 });
      term = new TestTerminal(await sim.listen(0));
      await term.signOn(); // STAN 1
      for (let i = 0; i < 3; i++) assert.equal((await term.sale(100 + i)).res.approved, true); // 2, 3, 4: 1 forgotten
      term.stan = 0;
      assert.equal((await term.sale(200)).res.approved, true, 'STAN 1 is out of the window: a wrapped ring may use it');
      term.stan = 2;
      assert.equal((await term.sale(300)).res.responseCode, '94', 'STAN 3 is still in it');
      assert.equal(STAN_WINDOW_MAX < 999_999, true, 'the default window is shorter than one lap of the STAN ring');
    });
  });

  describe('faults', () => {
    it('delayPastTheTimeoutIsHostTimeoutButTheHostApprovedSoTheReversalClearsIt', async () => {
      await term.signOn();
      const slow = new TestTerminal(sim.port, undefined, undefined, 150);
      slow.keys = term.keys;
      slow.stan = 10;
      sim.setFault({ kind: 'delay', delayMs: 400, type: 'sale' });
      const req = slow.saleRequest(4_200);
      const e = await rejection(slow.financial(req));
      assert.equal(e.id, 'HOST_TIMEOUT');
      assert.equal(e.kind, 'timeout');
      assert.equal(sim.ledger.find(IDS.tid, 1, 11)!.status, 'approved');
      assert.equal((await slow.reverse(req)).cleared, true);
      assert.equal(sim.ledger.find(IDS.tid, 1, 11)!.status, 'reversed');
    });

    it('closeBeforeResponseIsNoResponse', async () => {
      await term.signOn();
      sim.setFault({ kind: 'close-before-response' });
      const e = await rejection(term.sale(100));
      assert.equal(e.kind, 'timeout');
      assert.equal(e.detail.requestSent, true);
    });

    it('closeMidResponseIsMalformed', async () => {
      await term.signOn();
      sim.setFault({ kind: 'close-mid-response' });
      const e = await rejection(term.sale(100));
      assert.equal(e.kind, 'host-malformed');
      assert.match(e.message, /closed mid-response/);
    });

    it('responseWithBadMacIsRejectedAsMacFailure', async () => {
      await term.signOn(); // bad-mac does not use itself up on the unMACed sign-on
      sim.setFault({ kind: 'bad-mac' });
      const e = await rejection(term.sale(100));
      assert.equal(e.id, 'HOST_MAC');
      assert.equal(e.kind, 'mac-failure');
      assert.equal((await term.sale(100)).res.approved, true);
    });

    it('forcedResponseCodeAppliesOnceThenTheHostApprovesAgain', async () => {
      await term.signOn();
      sim.setFault({ kind: 'response-code', code: '51' });
      const declined = await term.sale(100);
      assert.equal(declined.res.responseCode, '51');
      assert.equal(declined.res.text.en, 'Insufficient funds');
      assert.equal(sim.ledger.size, 0);
      assert.equal((await term.sale(100)).res.approved, true);
    });

    it('forcedResponseCodeForNMessagesOfOneTypeSparesOtherTypes', async () => {
      sim.setFault(parseFaultSpec('response-code:96,count=2,type=sale'));
      assert.equal((await term.signOn()).approved, true);
      assert.equal((await term.sale(100)).res.responseCode, '96');
      assert.equal((await term.sale(100)).res.responseCode, '96');
      assert.equal((await term.sale(100)).res.responseCode, '00');
      assert.deepEqual(sim.activeFaults(), []);
    });

    it('forcedResponseCodeByMtiHitsSignOn', async () => {
      sim.setFault(parseFaultSpec('response-code:05,mti=0800,count=always'));
      assert.equal((await term.signOn()).responseCode, '05');
      assert.equal((await term.signOn()).responseCode, '05');
      sim.clearFaults();
      assert.equal((await term.signOn()).approved, true);
    });

    it('duplicateFaultAnswers94', async () => {
      await term.signOn();
      sim.setFault({ kind: 'duplicate' });
      assert.equal((await term.sale(100)).res.text.en, 'Duplicate transmission');
    });

    it('garbageFrameIsMalformed', async () => {
      await term.signOn();
      sim.setFault({ kind: 'garbage' });
      const e = await rejection(term.sale(100));
      assert.equal(e.id, 'HOST_MALFORMED');
    });

    it('unbalancedSettlementFaultOverridesMatchingTotals', async () => {
      await term.signOn();
      sim.setFault({ kind: 'unbalanced-settlement' });
      await term.sale(100); // does not use the fault up
      assert.equal((await term.settle({ saleAmountFen: 100, saleCount: 1, refundAmountFen: 0, refundCount: 0 })).verdict, 'unbalanced');
    });

    it('badFaultSpecsAreRefused', () => {
      for (const bad of ['nonsense', 'delay', 'delay:-1', 'response-code:5', 'close-mid-response:1', 'garbage,count=0', 'garbage,type=sell']) {
        assert.throws(() => parseFaultSpec(bad), Error, bad);
      }
      assert.deepEqual(parseFaultSpec('delay:3000,count=always,mti=0200'), { kind: 'delay', delayMs: 3000, count: Infinity, mti: '0200' });
    });
  });

  describe('pos host-sim', () => {
    it('flagsDefaultToTheTestIdentitiesOnLoopback', () => {
      const s = parseHostSimFlags({ args: [], flags: new Map(), out: () => undefined, err: () => undefined });
      assert.equal(s.host, '127.0.0.1');
      assert.deepEqual(s.terminals, [TEST_TERMINAL]);
      const t = parseHostSimFlags({ args: ['11111111'], flags: new Map<string, string | true>([['tid', true], ['tmk', '00112233445566778899AABBCCDDEEFF'], ['port', '0']]), out: () => undefined, err: () => undefined });
      assert.equal(t.terminals[0].tid, '11111111');
      assert.equal(t.port, 0);
      assert.equal(hostSimCommands[0].name, 'host-sim');
    });

    it('commandServesTerminalsAndTakesFaultsOnStdin', async () => {
      const input = new PassThrough();
      const out: string[] = [];
      const ctx = { args: [], flags: new Map<string, string | true>([['port', '0'], ['fault', 'response-code:05,type=sale']]), out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
      const done = runHostSim(ctx, input, undefined, silentLogger);
      while (!out.some((l) => l.includes('listening'))) await new Promise((r) => setTimeout(r, 5));
      const port = Number(/:(\d+) /.exec(out.find((l) => l.includes('listening'))!)![1]);
      const t = new TestTerminal(port);
      await t.signOn();
      assert.equal((await t.sale(100)).res.responseCode, '05');
      input.write('fault response-code:55\n');
      await new Promise((r) => setTimeout(r, 20));
      assert.equal((await t.sale(100)).res.responseCode, '55');
      input.write('ledger\nquit\n');
      assert.equal(await done, 0);
      assert.ok(out.includes('host-sim stopped'));
    });
  });
});

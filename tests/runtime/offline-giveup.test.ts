/**
 * An offline sale given up after its advice went to the host and never got an answer
 * (docs/PROTOCOL.md "Offline sales given up"): the outcome is unknown, the host may have booked it.
 * Against the acquirer simulator on loopback: the journal keeps the sends, the give-up list and the
 * settlement report say the host may have it (zh-CN and en), the settlement disagrees (unbalanced)
 * and the batch upload goes; an advice never sent is given up as before.
 */
import { strict as assert } from 'node:assert';
import { isPosError } from '../../common/errors';
import { RecordType } from '../../storage/record';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { settle } from '../../runtime/txn/settlement';
import { offlineAbandonedJob, settlementReportJob } from '../../runtime/receipt';
import { OfflineNotTaken } from '../../runtime/records';
import { PrintJob } from '../../hal/printer';
import { screenFor } from '../../ui-lcd/screens';
import { layout } from '../../ui-lcd/layout';
import { pixelGrid } from '../../ui-lcd/render-pixels';
import { CASHIER, SUPERVISOR, Rig, magCard, rig } from './harness';

const textOf = (job: PrintJob): string => job.blocks.map((b) => ('text' in b && typeof b.text === 'string' ? b.text : '')).join('\n');

describe('runtime engine: offline sales given up after their advice was sent', function () {
  this.timeout(20_000);
  let r: Rig;
  beforeEach(async () => {
    r = await rig();
    await r.terminal.engine.signOn(CASHIER);
    r.sim.setParameters({ offlineAllowed: true, offlineFloorFen: 50_000, offlineCountMax: 3 });
    await r.terminal.engine.downloadParameters();
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  /** An offline sale made while the host is gone (the advice waits). */
  async function offlineSale(amountFen: number): Promise<number> {
    const port = r.sim.port;
    await r.sim.close();
    const res = await r.terminal.engine.sale({ amountFen, card: magCard(), session: CASHIER });
    await r.sim.listen(port);
    assert.equal(res.outcome, 'approved');
    assert.ok(res.outcome === 'approved' && res.txn.offline === 'pending');
    return res.outcome === 'approved' ? res.txn.stan : 0;
  }

  it('keepsTheSendsInTheJournalSaysTheHostMayHaveItAndSettlesUnbalancedWithTheUpload', async () => {
    const e = r.terminal.engine;
    await e.sale({ amountFen: 1_000, card: magCard(), session: CASHIER });
    const stan = await offlineSale(2_500);
    // The host books the advice at its first arrival; every answer is lost on the way back.
    r.sim.setFault({ kind: 'close-before-response', type: 'offlineAdvice' });
    assert.equal(await e.flushAdvices(), 1);
    r.sim.setFault({ kind: 'close-mid-response', type: 'offlineAdvice' });
    await assert.rejects(settle(e, SUPERVISOR), (x: unknown) => isPosError(x) && x.code === 'E-OPR-22');
    assert.deepEqual(r.sim.requests().filter((q) => q.type === 'offlineAdvice').map((q) => q.code), ['00', '94']);
    assert.equal(r.sim.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((x) => x.offline && x.status === 'approved').length, 1, 'the host booked it');
    assert.equal(e.pendingAdvices()[0].offlineSends, 2);

    // The sends survive a reboot: they are journaled before each send.
    await r.reboot();
    const e2 = r.terminal.engine;
    assert.equal(e2.pendingAdvices()[0].offlineSends, 2);
    const given = await e2.abandonAdvices(SUPERVISOR);
    assert.deepEqual(given.map((t) => [t.stan, t.offlineSends]), [[stan, 2]]);
    const advice = [...r.journal.records()].filter((x) => x.type === RecordType.adviceResult).map((x) => x.payload.state);
    assert.deepEqual(advice, ['sending', 'sending', 'abandoned']);

    const report = await settle(e2, SUPERVISOR);
    const closed = e2.state.lastClosed;
    assert.equal(closed?.verdict, 'unbalanced', 'the host counts the sale the terminal left out');
    assert.deepEqual(report.verdict, 'unbalanced');
    assert.deepEqual(closed?.offlineNotTaken.map((o) => [o.stan, o.state, o.sends]), [[stan, 'abandoned', 2]]);
    const batch = r.sim.ledger.batchState(TEST_TERMINAL.tid, closed?.batch ?? 0);
    assert.equal(batch?.uploadEndCount, 1, 'the batch upload went: the terminal\'s one online sale');
    assert.deepEqual(closed?.totals, { saleAmountFen: 1_000, saleCount: 1, refundAmountFen: 0, refundCount: 0 });

    // The report and the give-up list, in both languages.
    const ids = e2.config.ids;
    const common = { batch: closed?.batch ?? 0, totals: closed?.totals ?? report.totals, verdict: 'unbalanced' as const, atMs: 0, tid: ids.tid, mid: ids.mid, merchantName: 'M', reprint: false };
    const zh = textOf(settlementReportJob({ ...common, lang: 'zh', offlineNotTaken: closed?.offlineNotTaken }));
    const en = textOf(settlementReportJob({ ...common, lang: 'en', offlineNotTaken: closed?.offlineNotTaken }));
    assert.match(zh, /放弃，结果未知（已上送2次）\n {2}主机可能已入账：请向收单机构核实/);
    assert.match(en, /GIVEN UP, OUTCOME UNKNOWN \(SENT 2 TIMES\)\n {2}HOST MAY HAVE IT: CHECK WITH THE ACQUIRER/);
    const list = (lang: 'zh' | 'en', o: OfflineNotTaken[]): string => textOf(offlineAbandonedJob(o, { lang, tid: ids.tid, mid: ids.mid, merchantName: 'M', atMs: 0 }));
    assert.match(list('en', [...(closed?.offlineNotTaken ?? [])]), /RMB 25\.00 GIVEN UP, OUTCOME UNKNOWN \(SENT 2 TIMES\)/);
    assert.match(list('zh', [...(closed?.offlineNotTaken ?? [])]), /主机可能已入账/);
  });

  it('anAdviceNeverSentIsGivenUpAsBeforeAndTheBatchBalances (a refused connect takes its send back)', async () => {
    const e = r.terminal.engine;
    const stan = await offlineSale(700);
    const port = r.sim.port;
    await r.sim.close();
    assert.equal(await e.flushAdvices(), 1);
    await r.sim.listen(port);
    assert.equal(e.pendingAdvices()[0].offlineSends, undefined, 'the refused connect sent nothing');
    const advice = [...r.journal.records()].filter((x) => x.type === RecordType.adviceResult).map((x) => x.payload.state);
    assert.deepEqual(advice, ['sending', 'unsent']);
    const given = await e.abandonAdvices(SUPERVISOR);
    assert.deepEqual(given.map((t) => [t.stan, t.offlineSends]), [[stan, undefined]]);
    await settle(e, SUPERVISOR);
    const closed = e.state.lastClosed;
    assert.equal(closed?.verdict, 'balanced');
    assert.deepEqual(closed?.offlineNotTaken.map((o) => [o.state, o.sends]), [['abandoned', undefined]]);
    const ids = e.config.ids;
    const en = textOf(offlineAbandonedJob([...(closed?.offlineNotTaken ?? [])], { lang: 'en', tid: ids.tid, mid: ids.mid, merchantName: 'M', atMs: 0 }));
    assert.match(en, /RMB 7\.00 GIVEN UP$/m);
    assert.doesNotMatch(en, /HOST MAY HAVE IT/);
  });

  it('theGiveUpScreenSaysHowManyTheHostMayHave (zh-CN and en, 128x64)', () => {
    const rows = (locale: 'zh-CN' | 'en', unknown?: number): string[] =>
      layout(screenFor('offlinePending', { count: 2, selected: 1, ...(unknown !== undefined ? { unknown } : {}) }), locale, pixelGrid({ kind: 'pixels', width: 128, height: 64 })).rows.map((x) => x.text);
    assert.ok(rows('zh-CN', 1).includes('1笔可能已入账'));
    assert.ok(rows('en', 1).includes('1 may be at host'));
    assert.ok(!rows('en').some((x) => x.includes('may be at host')), 'nothing sent: no such line');
  });
});

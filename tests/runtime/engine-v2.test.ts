/**
 * The engine's Version 2 network management, pre-authorization and offline advices against the
 * acquirer simulator on loopback (docs/PROTOCOL.md "Version 2 additions"): what reaches the wire,
 * what the journal keeps, and what survives a reboot.
 */
import { strict as assert } from 'node:assert';
import { isPosError } from '../../common/errors';
import { RecordType } from '../../storage/record';
import { HOST_PARAMS_KIND } from '../../runtime/records';
import { HostExchange } from '../../runtime/txn/engine';
import { unpackFrame, textField } from '../../runtime/host/packager';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { CASHIER, SUPERVISOR, Rig, magCard, rig } from './harness';
import { settle } from '../../runtime/txn/settlement';

/** Every request frame the engine sends, and the response timeouts it asks for. */
interface Wire { frames: Buffer[]; timeoutsMs: number[] }

function wired(wire: Wire): (t: HostExchange) => HostExchange {
  return (t) => ({
    exchange: (request, signal) => { wire.frames.push(Buffer.from(request)); return t.exchange(request, signal); },
    setResponseTimeoutMs: (ms) => { wire.timeoutsMs.push(ms); t.setResponseTimeoutMs?.(ms); },
  });
}

const refused = (code: string) => (e: unknown): boolean => isPosError(e) && e.code === code;
const need = <T>(v: T | undefined, what: string): T => { assert.ok(v !== undefined, `no ${what} on the wire`); return v; };

describe('runtime engine: protocol V2 against the acquirer simulator', function () {
  this.timeout(20_000);
  let r: Rig;
  let wire: Wire;
  beforeEach(async () => {
    wire = { frames: [], timeoutsMs: [] };
    r = await rig({ host: wired(wire) });
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  const paramRecords = (): number => [...r.journal.records()].filter((x) => x.type === RecordType.settings && x.payload.kind === HOST_PARAMS_KIND).length;
  /** The last request of this MTI and 60.1 on the wire, unpacked. */
  const lastOnWire = (mti: string, type60?: string) => {
    const frames = wire.frames.map((f) => unpackFrame(CUP_PROFILE, f).message).filter((m) => m.mti === mti && (type60 === undefined || textField(m, 60)?.startsWith(type60)));
    return frames.at(-1);
  };

  it('parametersAreAppliedJournaledAndSurviveAReboot: limits, merchant name, reversal tries and the response timeout', async () => {
    r.sim.setParameters({ merchantName: '测试小店', responseTimeoutS: 30, reversalTries: 2, amountFenMax: 80_000, offlineAllowed: false, qrAllowed: false, preAuthAllowed: true });
    const res = await r.terminal.engine.downloadParameters();
    assert.equal(res.outcome, 'applied');
    const e = r.terminal.engine;
    assert.equal(e.merchantName, '测试小店');
    assert.equal(e.amountFenMax, 80_000);
    assert.equal(e.featureAvailable('qr'), false, 'DF18 = 0 hides QR');
    assert.equal(e.featureAvailable('preAuth'), true);
    assert.deepEqual(wire.timeoutsMs.at(-1), 30_000);
    assert.throws(() => e.checkAmount(80_001), refused('E-OPR-01'));
    assert.equal(paramRecords(), 1);
    await r.reboot();
    assert.equal(r.terminal.engine.amountFenMax, 80_000, 'the journal keeps the set in force');
    assert.equal(r.terminal.engine.merchantName, '测试小店');
  });

  it('aKnownTagOutOfRangeChangesNothing (E-HOST-09) and a host that does not know the download hides it until the next sign-on', async () => {
    r.sim.setParameters({ amountFenMax: 90_000 });
    await r.terminal.engine.downloadParameters();
    r.sim.setFault({ kind: 'param-out-of-range' });
    await assert.rejects(r.terminal.engine.downloadParameters(), refused('E-HOST-09'));
    assert.equal(r.terminal.engine.amountFenMax, 90_000);
    assert.equal(paramRecords(), 1, 'nothing journaled for a refused set');
    r.sim.setFault({ kind: 'response-code', code: '40', type: 'paramDownload' });
    const res = await r.terminal.engine.downloadParameters();
    assert.equal(res.outcome, 'unsupported');
    assert.equal(r.terminal.engine.featureAvailable('params'), false);
    await r.terminal.engine.signOn(CASHIER);
    assert.equal(r.terminal.engine.featureAvailable('params'), true, 'the next sign-on offers it again');
  });

  it('echoNeedsNoKeysAndStatusUploadReachesTheHost', async () => {
    await r.terminal.engine.signOff(CASHIER);
    const echo = await r.terminal.engine.echo();
    assert.equal(echo.responseCode, '00');
    assert.equal(lastOnWire('0820')?.fields.has(64), false, 'network management carries no MAC');
    await r.terminal.engine.signOn(CASHIER);
    const status = { softwareVersion: '0.2.0', batteryPercent: 77, freeJournalKiB: 4096, lastErrorCode: 'E-PRN-01', uptimeS: 12 };
    assert.equal((await r.terminal.engine.uploadStatus(status)).responseCode, '00');
    assert.deepEqual(r.sim.lastStatus(TEST_TERMINAL.tid), status);
  });

  it('aCompletionAnswered40HidesThePreAuthorizationFamilyUntilTheNextSignOn; a completion answered 12 (already completed) does not', async () => {
    const hold = await r.terminal.engine.preAuth({ amountFen: 20_000, card: magCard(), session: CASHIER });
    assert.equal(hold.outcome, 'approved');
    const stan = hold.outcome === 'approved' ? hold.txn.stan : 0;
    r.sim.setFault({ kind: 'response-code', code: '12', type: 'completion' });
    assert.equal((await r.terminal.engine.completion({ stan }, 20_000, CASHIER)).outcome, 'declined');
    assert.equal(r.terminal.engine.featureAvailable('preAuth'), true, '12 to a completion is "already completed or voided", not "unknown"');
    r.sim.setFault({ kind: 'response-code', code: '40', type: 'completion' });
    assert.equal((await r.terminal.engine.completion({ stan }, 20_000, CASHIER)).outcome, 'declined');
    assert.equal(r.terminal.engine.featureAvailable('preAuth'), false, '40: the host does not support it');
    await r.terminal.engine.signOn(CASHIER);
    assert.equal(r.terminal.engine.featureAvailable('preAuth'), true, 'offered again after the next sign-on');
  });

  it('aRefundOrCompletionCarriesNoPinAndItsEntryModeSaysSo: 22 ends in 2 whatever the card\'s rule (profile: 1 = PIN entered)', async () => {
    const pinCard = { ...magCard(), entryMode: '021' as const, pinRequired: true };
    const s = await r.terminal.engine.sale({ amountFen: 3_000, card: magCard(), session: CASHIER });
    assert.equal(s.outcome, 'approved');
    if (s.outcome !== 'approved') return;
    await r.terminal.engine.refund({ amountFen: 1_000, card: pinCard, session: SUPERVISOR, origRrn: s.txn.rrn as string, origDateMmdd: s.txn.hostDate as string });
    const refund = lastOnWire('0220', '25');
    assert.equal(textField(need(refund, 'refund'), 22), '022');
    assert.equal(refund?.fields.has(52), false);
    const hold = await r.terminal.engine.preAuth({ amountFen: 20_000, card: magCard(), session: CASHIER });
    assert.equal(hold.outcome, 'approved');
    if (hold.outcome !== 'approved') return;
    await r.terminal.engine.completion({ keyed: { authCode: hold.txn.authCode as string, dateMmdd: hold.txn.hostDate as string, card: pinCard } }, 20_000, CASHIER);
    assert.equal(textField(need(lastOnWire('0200', '20'), 'completion'), 22), '022');
  });

  it('aKeyedCompletionOfAHoldThisTerminalHoldsNamesItInField61, keeps the 115% bound and completes the hold', async () => {
    const hold = await r.terminal.engine.preAuth({ amountFen: 20_000, card: magCard(), session: CASHIER });
    assert.equal(hold.outcome, 'approved');
    if (hold.outcome !== 'approved') return;
    const keyed = { authCode: (hold.txn.authCode as string).toLowerCase(), dateMmdd: hold.txn.hostDate as string, card: magCard() };
    await assert.rejects(r.terminal.engine.completion({ keyed }, 23_001, CASHIER), refused('E-OPR-01'), 'over 115% of the held 200.00');
    const done = await r.terminal.engine.completion({ keyed }, 23_000, CASHIER);
    assert.equal(done.outcome, 'approved');
    const six = (n: number): string => String(n).padStart(6, '0');
    assert.equal(textField(need(lastOnWire('0200', '20'), 'completion'), 61), six(hold.txn.batch) + six(hold.txn.stan) + hold.txn.hostDate);
    assert.throws(() => r.terminal.engine.openPreAuth(hold.txn.stan), refused('E-OPR-10'), 'the hold is completed in the journal');
    await assert.rejects(r.terminal.engine.completion({ keyed }, 100, CASHIER), refused('E-OPR-10'), 'and cannot be completed twice');
    // A refund of the completion names it too (a completion counts as a sale), and the host takes it.
    if (done.outcome !== 'approved') return;
    const refund = await r.terminal.engine.refund({ amountFen: 23_000, card: magCard(), session: SUPERVISOR, origRrn: done.txn.rrn as string, origDateMmdd: done.txn.hostDate as string });
    assert.equal(refund.outcome, 'approved');
    assert.equal(textField(need(lastOnWire('0220', '25'), 'refund'), 61), six(done.txn.batch) + six(done.txn.stan) + done.txn.hostDate);
  });

  it('aPreAuthorizationWithoutAnswerIsReversedAsItsOriginal: 0400 with 030000 and 60.1 = 10, the hold released at the host', async () => {
    r.sim.setFault({ kind: 'close-before-response', type: 'preAuth' });
    r.sim.setFault({ kind: 'close-before-response', type: 'reversal', count: 3 });
    const res = await r.terminal.engine.preAuth({ amountFen: 30_000, card: magCard(), session: CASHIER });
    assert.equal(res.outcome, 'failed');
    assert.ok(r.terminal.engine.state.pendingReversal);
    // The simulator does the work of a request whose answer it then loses: the hold exists, and the
    // lost 0410s released it already; the terminal keeps its reversal until an answer arrives.
    assert.equal(await r.terminal.engine.flushReversal(), 'cleared');
    const reversal = lastOnWire('0400');
    assert.equal(textField(reversal!, 3), '030000');
    assert.equal(textField(reversal!, 60)?.slice(0, 2), '10');
    assert.equal(r.sim.ledger.openHolds(TEST_TERMINAL.tid).length, 0);
  });

  it('theReversalOfAVoidCarriesTheOriginalAuthorizationCode (38), as the profile\'s reversal row says', async () => {
    const sale = await r.terminal.engine.sale({ amountFen: 4_000, card: magCard(), session: CASHIER });
    assert.equal(sale.outcome, 'approved');
    if (sale.outcome !== 'approved') return;
    r.sim.setFault({ kind: 'close-before-response', type: 'void' });
    r.sim.setFault({ kind: 'close-before-response', type: 'reversal' });
    const v = await r.terminal.engine.voidSale(sale.txn.stan, SUPERVISOR);
    assert.equal(v.outcome, 'failed');
    await r.terminal.engine.flushReversal();
    assert.equal(textField(lastOnWire('0400')!, 38), sale.txn.authCode);
  });

  it('anOfflineAdviceWhoseAnswerIsLostIsResentUnderItsOwnStanAndFiledOnce', async () => {
    r.sim.setParameters({ offlineAllowed: true, offlineFloorFen: 50_000, offlineCountMax: 3 });
    await r.terminal.engine.downloadParameters();
    const port = r.sim.port;
    await r.sim.close();
    const off = await r.terminal.engine.sale({ amountFen: 5_000, card: magCard(), session: CASHIER });
    assert.equal(off.outcome, 'approved');
    if (off.outcome !== 'approved') return;
    assert.equal(off.txn.offline, 'pending');
    await r.sim.listen(port);
    r.sim.setFault({ kind: 'close-before-response', type: 'offlineAdvice' });
    assert.equal(await r.terminal.engine.flushAdvices(), 1, 'no answer: it stays pending');
    assert.equal(await r.terminal.engine.flushAdvices(), 0);
    const advices = r.sim.requests().filter((q) => q.type === 'offlineAdvice');
    assert.deepEqual(advices.map((q) => [q.stan, q.code]), [[off.txn.stan, '00'], [off.txn.stan, '94']]);
    const filed = r.sim.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((x) => x.offline);
    assert.equal(filed.length, 1);
    assert.equal(r.terminal.engine.txn(off.txn.stan)?.rrn, filed[0].rrn, 'the terminal learns the RRN the host filed it under');
    assert.equal(r.sim.doubleAdvices().count, 0);
    assert.equal(lastOnWire('0220', '30') !== undefined, true);
    assert.equal(textField(lastOnWire('0220', '30')!, 38), off.txn.authCode, 'the advice carries the terminal-made authorization code');
  });

  it('offlineSellingStopsAtTheWaitingMaximumAndAboveTheFloorLimit', async () => {
    r.sim.setParameters({ offlineAllowed: true, offlineFloorFen: 10_000, offlineCountMax: 2 });
    await r.terminal.engine.downloadParameters();
    await r.sim.close();
    const outcomes: string[] = [];
    for (const amountFen of [10_001, 100, 200, 300]) {
      const res = await r.terminal.engine.sale({ amountFen, card: magCard(), session: CASHIER });
      outcomes.push(res.outcome);
    }
    assert.deepEqual(outcomes, ['failed', 'approved', 'approved', 'failed']);
    assert.equal(r.terminal.engine.pendingAdvices().length, 2);
  });

  it('anomalyFlagsReachTheStatusUploadAndTheBatchCloseAndTheHistoryGrows', async () => {
    const e = r.terminal.engine;
    // A burst of tiny sales on one card (card testing), one minute apart: a burst and a repeated card.
    for (let i = 0; i < 5; i++) {
      r.clock.ms += 60_000;
      assert.equal((await e.sale({ amountFen: 50 + i, card: magCard(), session: CASHIER })).outcome, 'approved');
    }
    assert.deepEqual(e.anomalies().map((f) => f.rule), ['ANM-BURST', 'ANM-REPEAT-CARD']);
    const status = { softwareVersion: '0.2.0', batteryPercent: 90, freeJournalKiB: 100, uptimeS: 1 };
    await e.uploadStatus(status);
    assert.equal(r.sim.lastStatus(TEST_TERMINAL.tid)?.anomalyDigest, '11', 'DF06 carries the raised rules (bits 0 and 4)');
    await settle(e, SUPERVISOR);
    assert.deepEqual(e.state.lastClosed?.anomalies.map((a) => a.rule), ['ANM-BURST', 'ANM-REPEAT-CARD']);
    assert.deepEqual(e.state.saleAmountsFen, [50, 51, 52, 53, 54], 'the closed batch feeds the merchant profile');
    await e.uploadStatus(status);
    assert.equal(r.sim.lastStatus(TEST_TERMINAL.tid)?.anomalyDigest, '11', 'right after the settlement the closed batch\'s flags are reported');
    await r.reboot();
    assert.deepEqual(r.terminal.engine.state.saleAmountsFen, [50, 51, 52, 53, 54], 'rebuilt from the journal');
    assert.deepEqual(r.terminal.engine.state.lastClosed?.anomalies.map((a) => a.rule), ['ANM-BURST', 'ANM-REPEAT-CARD']);
  });

  it('aQuietBatchSendsNoAnomalyTag', async () => {
    await r.terminal.engine.sale({ amountFen: 8_800, card: magCard(), session: CASHIER });
    await r.terminal.engine.uploadStatus({ softwareVersion: '0.2.0', batteryPercent: 90, freeJournalKiB: 100, uptimeS: 1 });
    assert.equal(r.sim.lastStatus(TEST_TERMINAL.tid)?.anomalyDigest, undefined);
  });

  it('aSaleWithAnOnlinePinNeverGoesOffline', async () => {
    r.sim.setParameters({ offlineAllowed: true, offlineFloorFen: 10_000, offlineCountMax: 2 });
    await r.terminal.engine.downloadParameters();
    await r.sim.close();
    const res = await r.terminal.engine.sale({ amountFen: 100, card: { ...magCard(), entryMode: '021' }, pin: Buffer.from('123456'), session: CASHIER });
    assert.equal(res.outcome, 'failed');
  });
});

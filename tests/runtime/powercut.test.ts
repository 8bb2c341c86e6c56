/**
 * Power cuts at every step of a sale, void, refund and settlement. One trading day of the
 * terminal core (powercut-workload.ts) is traced under strace against the acquirer simulator
 * in this process; then, for crash states rebuilt at every flush barrier and acknowledgement
 * (dropped and torn), the terminal restarts from the rebuilt journal, against a host whose
 * ledger is replayed to the requests that had left before the cut, and recovers:
 *   - the journal opens (torn tail cut at most), the state replays without a broken invariant;
 *   - every result acknowledged before the cut is in the journal;
 *   - after the pending reversal is sent, host ledger and journal agree on every transaction,
 *     nothing is charged twice;
 *   - the batch settles balanced (an interrupted settlement resumes at its step).
 */
import { strict as assert } from 'node:assert';
import { sep } from 'node:path';
import { needTool } from '../support/tools';
import { recordRun, type PowerCutRun, type CrashPoint } from '../powercut/index';
import { Journal } from '../../storage/journal';
import { AcquirerSimulator, TEST_TERMINAL } from '../../sim/host/simulator';
import { HostTransport } from '../../runtime/host/transport';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { fixedDeviceKey } from '../../runtime/device-key';
import { seededRandom } from '../../runtime/random';
import { openTerminal } from '../../runtime/terminal';
import { settle } from '../../runtime/txn/settlement';
import { QrPayments } from '../../runtime/txn/qr';
import { batchTotals } from '../../runtime/terminal-state';
import { PC_IDENTITY, PC_T0_MS } from './powercut-workload';

const SUPERVISOR = { operator: '002', role: 'supervisor' as const };

function newSim(unbalanced: boolean): AcquirerSimulator {
  const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => PC_T0_MS });
  if (unbalanced) sim.setFault({ kind: 'unbalanced-settlement', type: 'settlement' });
  return sim;
}

async function traceDay(scenario: 'balanced' | 'unbalanced'): Promise<{ run: PowerCutRun; frames: Buffer[] }> {
  const sim = newSim(scenario === 'unbalanced');
  const frames: Buffer[] = [];
  const handle = sim.handle.bind(sim);
  sim.handle = (f: Buffer) => { frames.push(Buffer.from(f)); return handle(f); };
  const port = await sim.listen(0);
  try {
    const run = await recordRun({ workload: { script: 'tests/runtime/powercut-workload.ts', args: ['{dir}', String(port), scenario], timeoutMs: 90_000 } });
    return { run, frames };
  } finally {
    await sim.close();
  }
}

interface Outcome { ok: boolean; problems: string[]; verdict?: string; resumed?: string; markLost?: boolean }

/** Boots the terminal from one crash state against a host replayed to `k` requests, recovers, settles. */
async function recoverAt(run: PowerCutRun, frames: Buffer[], point: CrashPoint, unbalanced: boolean, skipReversal = false): Promise<Outcome> {
  const problems: string[] = [];
  const acked = run.ackedBefore(point.index).map((a) => a.id);
  const k = acked.filter((a) => a.startsWith('sent:')).length;
  const sim = newSim(unbalanced);
  for (const f of frames.slice(0, k)) sim.handle(f);
  const port = await sim.listen(0);
  const dir = run.stateAt(point.index, point);
  const transport = new HostTransport({ host: '127.0.0.1', port, profile: CUP_PROFILE, connectTimeoutMs: 2000, responseTimeoutMs: 2000 });
  let journal: Journal | undefined;
  try {
    if (!acked.includes('open')) return { ok: true, problems };
    journal = await Journal.open({ dir, identity: PC_IDENTITY, clock: () => PC_T0_MS });
    if (journal.state !== 'ok') return { ok: false, problems: [`journal ${journal.state}`] };
    const { engine } = openTerminal({
      journal, host: transport, deviceKey: fixedDeviceKey(Buffer.alloc(32, 0x5a)), random: seededRandom(1000 + point.index), clock: () => PC_T0_MS,
      config: { ids: { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid }, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk) },
    });
    engine.lastSession = SUPERVISOR;
    // Everything acknowledged to the operator before the cut is in the journal.
    for (const a of acked) {
      const m = /^(sale|void|refund|qrsale):(\d+)$/.exec(a);
      if (m && engine.state.lastClosed === undefined && engine.txn(Number(m[2]))?.status === undefined) problems.push(`acknowledged ${a} missing`);
      if (a.startsWith('settled:') && engine.state.lastClosed === undefined) problems.push('acknowledged settlement missing');
    }
    // A receipt printed before the cut whose (deferred) mark was lost is offered again at boot
    // (machine.ts printPending prints boot's pending copies marked DUPLICATE); never silently dropped.
    let markLost = false;
    for (const a of acked) {
      const m = /^printed:(\d+)$/.exec(a);
      const t = m ? engine.txn(Number(m[1])) : undefined;
      if (!m || !t || t.printed.includes('merchant')) continue;
      markLost = true;
      if (!engine.pendingCopies().some((p) => p.stan === t.stan && p.copy === 'merchant')) problems.push(`printed ${t.stan}: mark lost and no reprint offered`);
    }
    const reversal = skipReversal ? 'none' : await engine.flushReversal();
    if (reversal === 'pending') problems.push('reversal could not be sent');
    // A QR payment cut in flight is asked about (never reversed); found paid after the cut it is voided.
    if (!skipReversal && (await new QrPayments(engine).resolvePending()).resolution === 'pending') problems.push('QR payment could not be resolved');
    const batch = engine.state.batch;
    // Ledger and journal agree on the open batch before settling it.
    const host = sim.ledger.entries({ tid: TEST_TERMINAL.tid, batch }).filter((e) => e.status === 'approved');
    for (const e of host) if (engine.txn(e.stan)?.status !== 'approved' && engine.txn(e.stan)?.status !== 'voided') problems.push(`host has ${e.type} ${e.stan} approved, terminal ${engine.txn(e.stan)?.status ?? 'nothing'}`);
    for (const t of engine.transactions()) {
      if ((t.status === 'approved' || t.status === 'voided') && !host.some((e) => e.stan === t.stan && e.rrn === t.rrn)) problems.push(`terminal has ${t.kind} ${t.stan} approved, host does not`);
    }
    if (engine.state.settlement === undefined && JSON.stringify(batchTotals(engine.state)) !== JSON.stringify(sim.ledger.totals(TEST_TERMINAL.tid, batch))) problems.push('totals differ');
    const rrns = sim.ledger.entries().filter((e) => e.status === 'approved').map((e) => e.rrn);
    if (new Set(rrns).size !== rrns.length) problems.push('an RRN twice');
    const resumed = engine.state.settlement?.step;
    const rep = await settle(engine, SUPERVISOR);
    const hostBatch = sim.ledger.batchState(TEST_TERMINAL.tid, rep.batch);
    if (!hostBatch?.closed) problems.push(`host batch ${rep.batch} not closed`);
    const expected = unbalanced && rep.batch === 1 ? 'unbalanced' : 'balanced';
    if (rep.verdict !== expected) problems.push(`batch ${rep.batch} settled ${rep.verdict}, expected ${expected}`);
    if (rep.verdict === 'balanced' && JSON.stringify(hostBatch?.settlement?.hostTotals) !== JSON.stringify(hostBatch?.settlement?.terminalTotals)) problems.push('balanced verdict with different totals');
    return { ok: problems.length === 0, problems, verdict: rep.verdict, resumed, markLost };
  } catch (e) {
    return { ok: false, problems: [...problems, `threw: ${e instanceof Error ? e.message : String(e)}`] };
  } finally {
    transport.close();
    await journal?.close();
    await sim.close();
  }
}

function points(run: PowerCutRun): CrashPoint[] {
  const pts: CrashPoint[] = [];
  const interesting = run.interestingPoints();
  for (const index of interesting) pts.push({ index, mode: 'drop' });
  // Torn states at every other point keep CI time bounded; drop states cover every point.
  interesting.filter((_, i) => i % 2 === 0).forEach((index) => pts.push({ index, mode: 'torn', seed: 17 + index }));
  return pts;
}

describe('powercut: the terminal core at every step of a sale, void, refund and settlement', function () {
  this.timeout(180_000);
  const runs: PowerCutRun[] = [];
  before(function () { needTool(this, 'strace'); });
  after(() => { for (const r of runs) r.dispose(); });

  let balancedDay: { run: PowerCutRun; frames: Buffer[] } | undefined;

  for (const scenario of ['balanced', 'unbalanced'] as const) {
    it(`${scenario} day: after a cut at any barrier or acknowledgement the terminal recovers, agrees with the host and settles ${scenario === 'balanced' ? 'balanced' : '(batch upload) and closes'}`, async () => {
      const started = Date.now();
      const { run, frames } = await traceDay(scenario);
      runs.push(run);
      if (scenario === 'balanced') balancedDay = { run, frames };
      const acks = run.acks.map((a) => a.id);
      assert.ok(acks.some((a) => a.startsWith('settled:1')), `the traced day did not settle: ${acks.join(' ')}`);
      const pts = points(run);
      const failures: string[] = [];
      const resumedSteps = new Set<string>();
      let marksLost = 0;
      for (const p of pts) {
        const o = await recoverAt(run, frames, p, scenario === 'unbalanced');
        if (o.resumed) resumedSteps.add(o.resumed);
        if (o.markLost && o.ok) marksLost++;
        if (!o.ok) failures.push(`at ${p.index} ${p.mode}: ${o.problems.join('; ')}`);
      }
      const s = run.stats();
      console.log(`      [${scenario}] ${frames.length} requests, ${s.barriers} barriers, ${pts.length} crash states, settlement resumed from ${[...resumedSteps].join('/') || '-'}; ${Date.now() - started} ms`);
      assert.deepEqual(failures.slice(0, 10), []);
      assert.ok(resumedSteps.has('begun'), 'no crash state fell inside the settlement');
      assert.ok(marksLost > 0, 'no crash state lost a deferred receipt-printed mark: the case below is not exercised');
    });
  }

  it('a receipt-printed mark lost at a cut only offers a DUPLICATE reprint: in the crash states that lost it, the charge is there once and the copy is offered', async function () {
    if (!balancedDay) this.skip();
    const { run, frames } = balancedDay as NonNullable<typeof balancedDay>;
    const printedAt = run.acks.find((a) => a.id.startsWith('printed:'));
    const nextSent = run.acks.find((a) => printedAt !== undefined && a.index > printedAt.index && a.id.startsWith('sent:'));
    assert.ok(printedAt && nextSent, 'the traced day printed a receipt and sent another request after it');
    // Every drop state between the print and the next request: the mark is not yet durable there.
    const window = points(run).filter((p) => p.mode === 'drop' && p.index > printedAt.index && p.index <= nextSent.index);
    assert.ok(window.length > 0);
    let lost = 0;
    for (const p of window) {
      const o = await recoverAt(run, frames, p, false);
      assert.ok(o.ok, `at ${p.index}: ${o.problems.join('; ')}`);
      if (o.markLost) lost++;
    }
    assert.ok(lost > 0, 'the mark was durable on its own: it should ride on the next commit');
  });

  it('a sale costs 2 flush barriers (2 durable commits, each one fdatasync of journal.wal): sign-on acknowledged to receipt printed', function () {
    if (!balancedDay) this.skip();
    const { run } = balancedDay as NonNullable<typeof balancedDay>;
    const from = run.acks.find((a) => a.id === 'signon');
    const to = run.acks.find((a) => a.id.startsWith('printed:'));
    assert.ok(from && to);
    const under = run.dataDir + sep;
    const barriers = run.events.filter((e) => e.index > from.index && e.index < to.index).filter((e) => (e.kind === 'barrier' && (e.path === null || e.path.startsWith(under))) || (e.kind === 'write' && e.sync && e.path.startsWith(under))).length;
    const inWindow = run.events.filter((e) => e.index > from.index && e.index < to.index);
    const walFlushes = inWindow.filter((e) => e.kind === 'barrier' && e.call === 'fdatasync' && e.path?.endsWith(`${sep}journal.wal`)).length;
    // Before the write-ahead log each commit was an LMDB transaction: fdatasync + O_DSYNC meta write (4).
    assert.equal(barriers, 2, 'begin + reversal, then result: one commit each to the write-ahead log; the receipt mark defers');
    assert.equal(walFlushes, 2, 'both barriers are the log\'s fdatasync');
  });

  it('positive control: the same check FAILS when the recovered terminal skips its pending reversal', async function () {
    if (!balancedDay) this.skip();
    const { run, frames } = balancedDay as NonNullable<typeof balancedDay>;
    let failed = 0;
    for (const p of points(run).filter((x) => x.mode === 'drop')) if (!(await recoverAt(run, frames, p, false, true)).ok) failed++;
    assert.ok(failed > 0, 'the check cannot tell a terminal that forgets reversals from one that sends them');
  });
});

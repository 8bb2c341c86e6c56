/**
 * Raw lmdb (3.5.6) under simulated power cuts: the simulator proves itself here before the
 * journal uses it. Each scenario traces ONE run of workload-lmdb.ts under strace and checks
 * hundreds of crash states rebuilt from it, each opened as after a reboot (safeRestore).
 *
 * The positive control (noSync) must FAIL the same check, or the simulator proves nothing.
 */
import { strict as assert } from 'node:assert';
import { needTool } from '../support/tools';
import {
  recordRun, checkCrashStates, mixedCrashPoints,
  type PowerCutRun, type CheckSummary, type StateResult, type CrashPoint,
} from './index';

const CHECKER = { script: 'tests/powercut/check-lmdb.ts' };
const VALUE_BYTES = 100;

function workload(count: number, ...flags: string[]) {
  return { script: 'tests/powercut/workload-lmdb.ts', args: ['{dir}', String(count), `--value-bytes=${VALUE_BYTES}`, ...flags] };
}

/** The first crash point at which a commit is durable (the first O_DSYNC meta write returned).
 * Before it, LMDB is still creating its file: see 'creation window' below. */
/** Recordings of the overlapping scenario before the test gives up on the machine overlapping them. */
const OVERLAP_RECORDINGS_MAX = 4;

/**
 * Whether some ACK went out while a later commit was writing: a data-file write with no barrier
 * between it and the ACK belongs to a later commit (each commit's own writes end at its barriers).
 */
function ackWhileALaterCommitWrites(run: PowerCutRun): boolean {
  let writing = false;
  for (const e of run.events) {
    if (e.kind === 'barrier') writing = false;
    else if (e.kind === 'write' && e.path.startsWith(run.dataDir)) writing = !e.sync;
    else if (e.kind === 'ack' && writing) return true;
  }
  return false;
}

function creationWindowEnd(run: PowerCutRun): number {
  const first = run.events.find((e) => e.kind === 'write' && e.sync && e.path.startsWith(run.dataDir));
  return first === undefined ? run.events.length : first.index + 1;
}

function describeFailures(results: StateResult[], max = 5): string {
  return results.slice(0, max).map((r) => `  at ${r.point.index} ${r.mode}${r.point.seed !== undefined ? ` seed ${r.point.seed}` : ''}: acked ${r.acked}, ${JSON.stringify(r.verdict)}`).join('\n');
}

function report(label: string, run: PowerCutRun, summary: CheckSummary): void {
  const s = run.stats();
  const withAcks = summary.results.filter((r) => r.acked > 0);
  const lost = withAcks.filter((r) => !r.verdict.ok).length;
  console.log(`      [${label}] ${s.acks} acks, ${s.fdatasync} fdatasync + ${s.fsync} fsync + ${s.syncWrites} O_DSYNC writes = `
    + `${(s.barriers / Math.max(1, s.acks)).toFixed(2)} barriers/ack; ${summary.checked} crash states in ${summary.elapsedMs} ms; `
    + `${lost}/${withAcks.length} states with acks lost an acked record; ${summary.crashed} checker crashes`);
}

/** Every acknowledged record present in every state; failures tolerated only before the first
 * durable commit with nothing acknowledged (the creation window, reported, not hidden). */
function assertNoAckLost(run: PowerCutRun, summary: CheckSummary): void {
  const lostAcked = summary.failed.filter((r) => r.acked > 0);
  assert.equal(lostAcked.length, 0, `acknowledged records lost in ${lostAcked.length} of ${summary.checked} states:\n${describeFailures(lostAcked)}`);
  const end = creationWindowEnd(run);
  const late = summary.failed.filter((r) => r.point.index >= end);
  assert.equal(late.length, 0, `states after the first durable commit failed to open:\n${describeFailures(late)}`);
}

describe('powercut: raw lmdb under simulated power cuts', function () {
  this.timeout(120_000);
  const runs: PowerCutRun[] = [];
  before(function () { needTool(this, 'strace'); });
  after(() => { for (const r of runs) r.dispose(); });

  async function record(...args: Parameters<typeof recordRun>): Promise<PowerCutRun> {
    const run = await recordRun(...args);
    runs.push(run);
    return run;
  }

  describe('default options (overlappingSync), sequential appends, ACK after await put + await flushed', () => {
    let run: PowerCutRun;
    before(async () => { run = await record({ workload: workload(80) }); });

    it('the trace replays byte-exactly into the file the run left', () => {
      assert.equal(run.acks.length, 80);
      assert.deepEqual(run.replayMismatches(), []);
    });

    it('costs two flush barriers per durable put: one fdatasync and one O_DSYNC meta-page write', () => {
      const s = run.stats();
      assert.equal(s.fdatasync, s.acks, JSON.stringify(s));
      assert.equal(s.syncWrites, s.acks, JSON.stringify(s));
      assert.equal(s.fsync, 0);
    });

    it('keeps every acknowledged record in every crash state (drop and torn), opened with safeRestore', async () => {
      const points = mixedCrashPoints(run, { random: 150, seed: 11 });
      const summary = await checkCrashStates(run, points, { checker: CHECKER, request: { valueBytes: VALUE_BYTES } });
      report('default+flushed', run, summary);
      assert.ok(summary.checked >= 500, `only ${summary.checked} states`);
      assert.ok(summary.results.filter((r) => r.acked > 0).length >= 400);
      assertNoAckLost(run, summary);
    });

    it('opened WITHOUT safeRestore (as in the same boot), torn states lose the last acked records', async () => {
      const points = mixedCrashPoints(run, { random: 150, seed: 11 }).filter((p) => p.mode === 'torn');
      const summary = await checkCrashStates(run, points, { checker: CHECKER, request: { valueBytes: VALUE_BYTES, safeRestore: false } });
      const lost = summary.failed.filter((r) => r.acked > 0);
      report('default, no safeRestore', run, summary);
      assert.ok(lost.length > 0, 'expected some torn state to lose acked records when opened without safeRestore');
    });

    it('creation window: a power cut while LMDB creates its file can leave a file it cannot open', async () => {
      // Observation, not a requirement on lmdb: before the first durable commit nothing is
      // acknowledged, but a torn data.mdb (size persisted, meta pages zero) makes lmdb-js
      // 3.5.6 crash (SIGSEGV) or report MDB_CORRUPTED on open. A journal must check the meta
      // pages before handing the file to LMDB.
      const end = creationWindowEnd(run);
      const start = run.events.findIndex((e) => e.kind === 'open' && e.path.startsWith(run.dataDir));
      const points: CrashPoint[] = [];
      for (let index = start + 1; index < end; index++) for (let seed = 1; seed <= 4; seed++) points.push({ index, mode: 'torn', seed });
      const summary = await checkCrashStates(run, points, { checker: CHECKER, request: { valueBytes: VALUE_BYTES } });
      console.log(`      [creation window] ${summary.failed.length}/${summary.checked} torn states before the first durable commit fail to open (${summary.crashed} crash the process)`);
      assert.ok(summary.failed.every((r) => r.acked === 0));
    });
  });

  describe('default options, ACK after await put alone (no await flushed)', () => {
    it('sequential appends: every acknowledged record survives', async () => {
      const run = await record({ workload: workload(80, '--ack-after=put') });
      // The overlap check below tells this run (each put waits for the last ACK) from an overlapping one.
      assert.equal(ackWhileALaterCommitWrites(run), false, 'sequential puts seen as overlapping');
      const summary = await checkCrashStates(run, mixedCrashPoints(run, { random: 100, seed: 12 }), { checker: CHECKER, request: { valueBytes: VALUE_BYTES } });
      report('default+put', run, summary);
      assertNoAckLost(run, summary);
    });

    it('puts arriving while earlier commits are still flushing (fdatasync slowed to 30 ms): every acknowledged record survives', async () => {
      // The overlap is the scenario, and it depends on scheduling: on a loaded machine (CI runs
      // both suites on 2 cores) a run can go strictly in turn. Record again, a bounded number of
      // times, until an ACK goes out while a later commit is writing; never check a run without it.
      let run: PowerCutRun | undefined;
      for (let attempt = 1; attempt <= OVERLAP_RECORDINGS_MAX && !run; attempt++) {
        const candidate = await record({
          workload: workload(60, '--ack-after=put', '--window=1000', '--interval-ms=3'),
          extraStraceArgs: ['-e', 'inject=fdatasync:delay_exit=30000'],
        });
        if (ackWhileALaterCommitWrites(candidate)) run = candidate;
        else console.log(`      [overlap] recording ${attempt} of ${OVERLAP_RECORDINGS_MAX} went strictly in turn; recording again`);
      }
      assert.ok(run, `no ACK came while a later commit was being written in ${OVERLAP_RECORDINGS_MAX} recordings: the scenario did not overlap`);
      const summary = await checkCrashStates(run, mixedCrashPoints(run, { random: 150, seed: 13 }), { checker: CHECKER, request: { valueBytes: VALUE_BYTES } });
      report('default+put, overlapping', run, summary);
      assert.ok(run.stats().fdatasync < run.acks.length, 'commits were batched (fewer flushes than puts)');
      assertNoAckLost(run, summary);
    });
  });

  describe('positive control: noSync', () => {
    let run: PowerCutRun;
    before(async () => { run = await record({ workload: workload(60, '--no-sync') }); });

    it('has no flush barrier at all', () => {
      assert.equal(run.stats().barriers, 0);
    });

    it('FAILS the check: acknowledged records are lost in (nearly) every crash state', async () => {
      const points = mixedCrashPoints(run, { random: 60, seed: 14, maxInteresting: 80 });
      const summary = await checkCrashStates(run, points, { checker: CHECKER, request: { valueBytes: VALUE_BYTES } });
      report('noSync control', run, summary);
      const withAcks = summary.results.filter((r) => r.acked > 0);
      const lost = withAcks.filter((r) => !r.verdict.ok);
      assert.ok(withAcks.length >= 100, `only ${withAcks.length} states with acks`);
      assert.ok(lost.length >= 0.9 * withAcks.length, `the control lost acked records in only ${lost.length} of ${withAcks.length} states: the simulator proves nothing`);
      const dropped = withAcks.filter((r) => r.mode === 'drop');
      assert.ok(dropped.every((r) => !r.verdict.ok), 'with every unsynced write dropped, nothing acknowledged can survive');
    });

    it('a SIGKILL is not a power cut: with the page cache kept, noSync loses nothing', async () => {
      const points = run.ackPoints().filter((_, i) => i % 4 === 0).map((index): CrashPoint => ({ index, mode: 'keep' }));
      const summary = await checkCrashStates(run, points, { checker: CHECKER, request: { valueBytes: VALUE_BYTES } });
      assert.equal(summary.failed.length, 0, describeFailures(summary.failed));
    });
  });
});

/**
 * The verifying child under a hold (storage/verify-child.ts HoldSignal): stopped while someone
 * uses the terminal, its timeout counting the time it runs, and killed without a verdict (never
 * one of damage) when kept stopped too long. And its timeout on a busy device: a child that got
 * little CPU runs on (ChildClock), where the plain timeout read it as damage.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { needTool } from '../tests/support/tools';
import { Journal } from './journal';
import { removeDir, tempDir } from './testing';
import * as sinon from 'sinon';
import { ChildClock, ChildVerdict, HoldSignal, STARVED_SIGNAL, VERIFY_CHILD_STARVED_CPU_SHARE, verdictIsDamage, verifyInChild } from './verify-child';
import { damageOf } from './boot-open';
import { verifyOutcome } from '../boot/journal-cli';
import { workerScriptFor } from '../common/spawn';

/** storage/verify-child as a child loads it: dist/'s JavaScript when current, else the source under ts-node (common/spawn.ts). */
const VERIFY_CHILD_MODULE = workerScriptFor(join(__dirname, 'verify-child'));

const ID = 'SIM-HOLD';

/** A hold the test moves by hand. */
class TestHold implements HoldSignal {
  private readonly listeners = new Set<() => void>();
  constructor(public held: boolean) {}
  onChange(listener: () => void): () => void { this.listeners.add(listener); return () => { this.listeners.delete(listener); }; }
  set(held: boolean): void { this.held = held; for (const l of this.listeners) l(); }
}

/** This process's verifying children and their scheduler states (R, S, T = stopped, ...). */
function verifyChildren(): Array<{ pid: number; state: string }> {
  const kids = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  const out: Array<{ pid: number; state: string }> = [];
  for (const pid of kids) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('verify-child-main')) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      out.push({ pid, state: stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('verify child: held while the terminal is in use', function () {
  this.timeout(60_000);
  let root: string;
  before(async function () {
    needTool(this, 'setpriv');
    root = tempDir('vchild-');
    const j = await Journal.open({ dir: join(root, 'j'), identity: ID });
    for (let i = 0; i < 20; i++) await j.append('test', { i });
    await j.close();
  });
  after(() => removeDir(root));

  it('aHeldChildIsStoppedAndGivesItsVerdictOnceLetGoItsTimeoutCountingOnlyItsRunningTime', async () => {
    const hold = new TestHold(true);
    let settled = false;
    // A 3 s timeout and 4 s held: a timeout on the wall clock would kill it (an "unopenable" verdict).
    const verdicts = verifyInChild([join(root, 'j')], ID, { hold, runningMsMax: 3_000 }).finally(() => { settled = true; });
    await sleep(1_000);
    assert.deepEqual(verifyChildren().map((c) => c.state), ['T'], 'the child is there and stopped');
    await sleep(3_000);
    assert.equal(settled, false, 'no verdict while held');
    hold.set(false);
    const [v] = await verdicts;
    assert.equal(v.status, 'ok', JSON.stringify(v));
    assert.equal(v.status === 'ok' ? v.lastGoodSeq : 0, 21);
  });

  it('aChildHeldTooLongIsKilledAndGivesNoVerdictRatherThanOneOfDamage', async () => {
    const hold = new TestHold(true);
    const verdicts = await verifyInChild([join(root, 'j')], ID, { hold, heldMsMax: 500 });
    assert.deepEqual(verdicts, [], 'no verdict: the caller runs it again later');
    assert.deepEqual(verifyChildren(), [], 'the child is gone');
  });

  it('aRunningChildHeldIsStoppedAndItsTimeoutWaitsWithIt', async () => {
    const hold = new TestHold(false);
    // Running first, so its timeout is counting when the hold comes: 2 s of it, then 3 s held.
    const verdicts = verifyInChild([join(root, 'j')], ID, { hold, runningMsMax: 2_000 });
    hold.set(true);
    await sleep(500);
    assert.deepEqual(verifyChildren().map((c) => c.state), ['T']);
    await sleep(2_500);
    hold.set(false);
    const [v] = await verdicts;
    assert.equal(v.status, 'ok', JSON.stringify(v));
  });

  it('aStoppedChildDiesWithItsParentNotLeftStoppedForever', async () => {
    // A parent that starts a held child and prints its pid; then the parent is SIGKILLed (a battery pull).
    const script = `
      const { verifyInChild } = require(${JSON.stringify(VERIFY_CHILD_MODULE.file)});
      const hold = { held: true, onChange: () => () => undefined };
      void verifyInChild([${JSON.stringify(join(root, 'j'))}], ${JSON.stringify(ID)}, { hold });
      setTimeout(() => {
        const pid = require('node:fs').readFileSync('/proc/' + process.pid + '/task/' + process.pid + '/children', 'utf8').trim();
        process.stdout.write('CHILD ' + pid + '\\n');
      }, 1500);
      setInterval(() => undefined, 1000);`;
    const parent = spawn(process.execPath, [...VERIFY_CHILD_MODULE.execArgv, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const childPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      parent.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /CHILD (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
      parent.on('exit', () => reject(new Error(`parent exited first: ${out}`)));
    });
    const state = (): string | undefined => { try { const st = readFileSync(`/proc/${childPid}/stat`, 'utf8'); return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3); } catch { return undefined; } };
    assert.equal(state(), 'T', 'the child is stopped while its parent lives');
    // From the parent's death: a SIGKILLed process whose thread waits in the kernel (disk I/O on a
    // loaded CI machine) dies only once it leaves that call, and the child's signal comes then.
    const parentDead = new Promise((resolve) => parent.once('exit', resolve));
    parent.kill('SIGKILL');
    await parentDead;
    const until = Date.now() + 5_000;
    while (state() !== undefined && state() !== 'Z' && Date.now() < until) await sleep(50);
    assert.ok(state() === undefined || state() === 'Z', `the stopped child died with its parent (state ${state()})`);
  });

  it('withoutSetprivTheChildIsNeverStoppedAndStillGivesItsVerdict', async () => {
    const hold = new TestHold(true);
    const missing = join(root, 'no-setpriv-here');
    assert.equal(existsSync(missing), false);
    const verdicts = verifyInChild([join(root, 'j')], ID, { hold, setprivPath: missing });
    const states: string[] = [];
    let settled = false;
    void verdicts.finally(() => { settled = true; });
    while (!settled) { states.push(...verifyChildren().map((c) => c.state)); await sleep(20); }
    const [v] = await verdicts;
    assert.equal(v.status, 'ok', JSON.stringify(v));
    assert.ok(!states.includes('T'), `never stopped: ${states.join('')}`);
  });
});

describe('verify child: its timeout on a busy device (ChildClock)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  const limits = { runningMsMax: 1_000, heldMsMax: 60_000, starvedMsMax: 5_000 };

  it('aChildThatSpentItsTimeOnTheCpuIsKilledAtItsTimeout', () => {
    let kills = 0;
    const c = new ChildClock(limits, () => { kills += 1; }, () => performance.now() * 0.9);
    c.running();
    clock.tick(999);
    assert.equal(kills, 0);
    clock.tick(1);
    assert.equal(kills, 1, 'stuck on the file: killed (its verdict: unopenable)');
    assert.equal(c.starved, false);
  });

  it('aStarvedChildRunsOnUntilItsStarvedLimitAndIsThenKilledAsStarved', () => {
    let kills = 0;
    let cpuMs = 0;
    const c = new ChildClock(limits, () => { kills += 1; }, () => cpuMs);
    c.running();
    cpuMs = 1_000 * VERIFY_CHILD_STARVED_CPU_SHARE - 1;
    clock.tick(1_000);
    assert.equal(kills, 0, 'less than its share of a CPU: starved, not stuck');
    clock.tick(3_999);
    assert.equal(kills, 0);
    clock.tick(1);
    assert.equal(kills, 1, 'killed at the starved limit');
    assert.equal(c.starved, true);
  });

  it('aChildStarvedFirstAndThenSpinningIsKilledOnceItHasHadItsShare', () => {
    let kills = 0;
    let cpuMs = 100;
    const c = new ChildClock(limits, () => { kills += 1; }, () => cpuMs);
    c.running();
    clock.tick(1_000);
    assert.equal(kills, 0);
    cpuMs = 1_100; // then it spins: 1 s of CPU in the next second
    clock.tick(1_000);
    assert.equal(kills, 1);
    assert.equal(c.starved, false);
  });

  it('itsTimeStoppedDoesNotCountAsStarvedTime', () => {
    let kills = 0;
    const c = new ChildClock(limits, () => { kills += 1; }, () => 0);
    c.running();
    clock.tick(600);
    c.held();
    clock.tick(50_000);
    c.running();
    clock.tick(4_399);
    assert.equal(kills, 0, '5 s of running time in all, the stop not counted');
    clock.tick(1);
    assert.equal(kills, 1);
    assert.equal(c.starved, true);
  });

  it('aChildWhoseCpuTimeCannotBeReadIsKilledAtItsTimeoutAsBefore', () => {
    let kills = 0;
    const c = new ChildClock(limits, () => { kills += 1; }, () => undefined);
    c.running();
    clock.tick(1_000);
    assert.equal(kills, 1);
  });
});

describe('verify child: starved by the machine, not stuck on the file', function () {
  this.timeout(60_000);
  let root: string;
  before(async () => {
    root = tempDir('vchild-starved-');
    const j = await Journal.open({ dir: join(root, 'j'), identity: ID });
    for (let i = 0; i < 20; i++) await j.append('test', { i });
    await j.close();
  });
  after(() => removeDir(root));

  it('aChildGivenNoCpuPastItsTimeoutStillGivesItsVerdictNotOneOfDamage', async () => {
    // Stopped from outside (as a busy CPU or a blocked disk would leave it), the child's clock
    // runs on: its 3 s timeout passes while it has had almost no CPU. (Not 1 s: a child started
    // through ts-node spends ~2 s of CPU on 2 cores starting, and a 1 s window after it was
    // continued judged it "not starved" and killed it, in 2 runs of 4.)
    const verdicts = verifyInChild([join(root, 'j')], ID, { runningMsMax: 3_000 });
    let pid: number | undefined;
    const until = Date.now() + 10_000;
    while (pid === undefined && Date.now() < until) {
      pid = verifyChildren()[0]?.pid;
      if (pid === undefined) await new Promise((r) => setImmediate(r));
    }
    assert.ok(pid !== undefined, 'the child started');
    process.kill(pid, 'SIGSTOP');
    await sleep(4_000);
    process.kill(pid, 'SIGCONT');
    const [v] = await verdicts;
    assert.equal(v.status, 'ok', `${JSON.stringify(v)} (the plain timeout killed it: "unopenable")`);
  });
});

describe('verify child: a starved verdict names the storage, not damage', () => {
  const starved: ChildVerdict = { dir: '/j', status: 'unopenable', signal: STARVED_SIGNAL };
  const crashed: ChildVerdict = { dir: '/j', status: 'unopenable', signal: 'SIGSEGV' };

  it('isNotDamageAndBootReportsItAsAStorageError', () => {
    assert.equal(verdictIsDamage(starved), false);
    assert.equal(verdictIsDamage(crashed), true);
    assert.equal(damageOf(starved)?.code, 'E-STO-03');
    assert.match(damageOf(starved)?.message ?? '', /no CPU or disk/);
    assert.equal(damageOf(crashed)?.code, 'E-STO-05');
  });

  it('journalVerifySaysCheckTheStorageNotSalvage', () => {
    const out = verifyOutcome(starved, false);
    assert.equal(out.exitCode, 2);
    assert.match(out.lines.join('\n'), /E-STO-03 .*check the storage/);
    assert.doesNotMatch(out.lines.join('\n'), /salvage/);
    assert.equal(verifyOutcome(crashed, false).exitCode, 4);
  });
});

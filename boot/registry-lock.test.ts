/**
 * The station registry's lock (boot/registry-lock.ts) across processes: a holder killed by
 * SIGKILL leaves its lock file, and the next run breaks it at once (logged); a live holder still
 * blocks; a lock whose PID is alive but started at another time (a reused PID), or written in
 * another boot, is stale.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import { removeDir, tempDir } from '../storage/testing';
import { PosError } from '../common/errors';
import { reportError } from './cli';
import { withRegistry } from './factory';
import { REGISTRY_LOCK_WAIT_MS_MAX, parseOwner, processStartTicks } from './registry-lock';
import { workerScriptFor } from '../common/spawn';

/** A child's start (on a loaded machine) is bounded by this, not timed. */
const CHILD_READY_MS_MAX = 60_000;
const HELD = 'HOLDING';

/** A station process that takes the registry and holds it until killed. */
function holder(registry: string): Promise<ChildProcess> {
  // boot/factory from dist/ when it is current, else the source under ts-node (common/spawn.ts).
  const factory = workerScriptFor(join(__dirname, 'factory'));
  const script = `require(${JSON.stringify(factory.file)}).withRegistry(${JSON.stringify(registry)}, () => { process.stdout.write('${HELD}\\n'); return new Promise(() => setInterval(() => undefined, 60000)); });`;
  const child = spawn(process.execPath, [...factory.execArgv, '-e', script], { cwd: join(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`holder not holding after ${CHILD_READY_MS_MAX} ms: ${err}`)); }, CHILD_READY_MS_MAX);
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(HELD)) { clearTimeout(timer); resolve(child); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`holder exited ${code}: ${err}`)); });
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL'); });
}

function capture(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, cb) { out.push(chunk.toString()); cb(); } });
  return { logger: pino({ level: 'info' }, stream), lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const addSerial = (serial: string) => async (r: { serials: Record<string, { tid: string; atMs: number }>; tids: Record<string, string> }) =>
  ({ result: serial, next: { serials: { ...r.serials, [serial]: { tid: serial, atMs: 0 } }, tids: { ...r.tids, [serial]: serial } } });

describe('boot/registry-lock: the station registry after a killed station', function () {
  this.timeout(3 * CHILD_READY_MS_MAX);
  let work: string;
  let child: ChildProcess | undefined;
  beforeEach(() => { work = tempDir('posreglock-'); });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) await killed(child);
    child = undefined;
    removeDir(work);
  });

  it('aStationKilledHoldingTheLockDoesNotBlockTheNextRunWhichBreaksTheLockAtOnceAndLogsIt', async () => {
    const registry = join(work, 'registry.json');
    child = await holder(registry);
    const lock = parseOwner(readFileSync(`${registry}.lock`, 'utf8'));
    assert.equal(lock?.pid, child.pid, 'the lock names its owner');
    assert.ok(lock?.startTicks, 'and its start time');
    await killed(child);
    assert.ok(existsSync(`${registry}.lock`), 'control: SIGKILL left the lock file');
    const log = capture();
    const t0 = performance.now();
    assert.equal(await withRegistry(registry, addSerial('SN-1'), { logger: log.logger }), 'SN-1');
    const ms = performance.now() - t0;
    assert.ok(ms < REGISTRY_LOCK_WAIT_MS_MAX / 2, `proceeded at once (${Math.round(ms)} ms), not after the ${REGISTRY_LOCK_WAIT_MS_MAX} ms wait`);
    const warn = log.lines().find((l) => /broke the stale lock/.test(String(l.msg)));
    assert.ok(warn, 'the broken lock is logged');
    assert.equal(warn.level, 40, 'as a warning');
    assert.match(String(warn.reason), new RegExp(`process ${lock!.pid} is gone`));
    assert.deepEqual(Object.keys((JSON.parse(readFileSync(registry, 'utf8')) as { serials: object }).serials), ['SN-1']);
    assert.equal(existsSync(`${registry}.lock`), false, 'released');
  });

  it('aLiveHolderStillBlocksAndTheErrorNamesItsPid', async () => {
    const registry = join(work, 'registry.json');
    child = await holder(registry);
    const log = capture();
    let err: unknown;
    try { await withRegistry(registry, addSerial('SN-2'), { logger: log.logger, lockWaitMs: 300 }); } catch (e) { err = e; }
    assert.ok(err instanceof PosError, `refused (${String(err)})`);
    assert.equal(err.code, 'E-FLS-04', 'the station registry\'s own code, not the USB export target\'s');
    assert.equal(err.kind, 'timeout');
    assert.match(err.message, new RegExp(`locked by process ${child.pid} on ${hostname()}`));
    assert.match(err.message, new RegExp(`主机${hostname()}上的进程${child.pid}占用`), 'named in Chinese too');
    const printed: string[] = [];
    reportError(err, (l) => printed.push(l));
    assert.match(printed.join('\n'), /E-FLS-04 工位登记表正被另一次运行占用: 等待该工位运行结束；或停止提示中所列的进程/);
    assert.ok(!/USB|U盘/.test(printed.join('\n')), 'nothing about USB sticks');
    assert.equal(log.lines().length, 0, 'nothing broken');
    assert.equal(existsSync(registry), false, 'nothing written');
    assert.equal(parseOwner(readFileSync(`${registry}.lock`, 'utf8'))?.pid, child.pid, 'the holder keeps its lock');
  });

  it('aLockWhosePidIsAliveButStartedAtAnotherTimeOrInAnotherBootIsStale', async () => {
    const registry = join(work, 'registry.json');
    child = await holder(registry);
    const live = parseOwner(readFileSync(`${registry}.lock`, 'utf8'))!;
    assert.equal(live.startTicks, processStartTicks(child.pid!), 'control: the start time is the live process\'s');
    for (const [what, forged, reason] of [
      ['a reused PID', { ...live, startTicks: String(Number(live.startTicks) + 1) }, /now belongs to another process/],
      ['another boot', { ...live, bootId: 'another-boot' }, /another boot/],
    ] as const) {
      writeFileSync(`${registry}.lock`, JSON.stringify(forged));
      const log = capture();
      await withRegistry(registry, addSerial(`SN-${what}`), { logger: log.logger, lockWaitMs: 300 });
      assert.match(String(log.lines()[0]?.reason), reason, what);
    }
    assert.equal(Object.keys((JSON.parse(readFileSync(registry, 'utf8')) as { serials: object }).serials).length, 2, 'both runs wrote the registry');
  });
});

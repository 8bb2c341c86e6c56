import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { processNative, SpawnedChild, spawnLight } from './spawn-light';

/** Pages the parent writes after a spawn (32 MiB): node's fork-based spawn makes each one fault. */
const TOUCHED_BYTES = 32 * 1024 * 1024;
const PAGE_BYTES = 4096;

function ended(child: SpawnedChild): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
}

function light(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): SpawnedChild {
  const child = spawnLight(file, args, env);
  assert.ok(child, 'spawnLight returned undefined with the addon loaded');
  return child;
}

describe('common/spawn-light: children without fork (native/process_native.c)', function () {
  this.timeout(20_000);

  before(function () {
    if (processNative()) return;
    const message = 'build/Release/process_native.node is not built (npm install builds it)';
    if (process.env.CI === 'true' || process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
    process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
    this.skip();
  });

  it('runsTheProgramFromPathWithItsArgumentsAndEnvironmentAndReportsItsExitCode', async () => {
    const r = await ended(light('sh', ['-c', 'echo "out $1 $POS_X"; echo err >&2; exit 7', 'sh', 'one'], { PATH: '/usr/bin:/bin', POS_X: 'x y' }));
    assert.deepEqual(r, { code: 7, signal: null, out: 'out one x y\n', err: 'err\n' });
  });

  it('theChildHasNoStandardSignalIgnoredOrBlockedThoughNodeIgnoresSigpipe', async () => {
    const r = await ended(light('/bin/cat', ['/proc/self/status']));
    // Masks of signals 1..64, bit n-1 for signal n; 1..31 are the standard ones (SIGPIPE 13).
    const mask = (name: string): bigint => BigInt(`0x${new RegExp(`^${name}:\\s+([0-9a-f]+)$`, 'm').exec(r.out)?.[1] ?? 'ffffffffffffffff'}`);
    const standard = (1n << 31n) - 1n;
    assert.equal(mask('SigBlk') & standard, 0n, 'blocked');
    assert.equal(mask('SigIgn') & standard, 0n, 'ignored');
    assert.equal(r.code, 0);
  });

  it('aChildKilledBySignalReportsTheSignalAndIsReapedNoZombieLeft', async () => {
    const child = light('/bin/sleep', ['30']);
    const done = ended(child);
    assert.equal(child.kill('SIGSTOP'), true);
    assert.equal(child.kill('SIGTERM'), true);
    assert.equal(child.kill('SIGCONT'), true);
    const r = await done;
    assert.equal(r.code, null);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(existsSync(`/proc/${child.pid}`), false, 'reaped: no zombie left');
    assert.equal(child.kill('SIGKILL'), false, 'a reaped pid is never signalled again');
  });

  it('anUnreadStderrDoesNotKeepCloseBack', async () => {
    const child = light('sh', ['-c', 'echo lots of words >&2; echo done']);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(code, 0);
    assert.equal(out, 'done\n');
  });

  it('hundredsOfArgumentsAndEnvironmentVariablesPassWhole', async () => {
    const args = Array.from({ length: 2_000 }, (_, i) => `a${i}`);
    const env = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`POS_V${i}`, `v${i}`]));
    const r = await ended(light('sh', ['-c', 'echo "$# $POS_V999"', 'sh', ...args], { ...env, PATH: '/usr/bin:/bin' }));
    assert.equal(r.out, '2000 v999\n');
  });

  it('standardInputIsAPipeWhenAskedForAndDevNullOtherwise', async () => {
    const child = light('/bin/cat', []);
    assert.equal(child.stdin, null);
    assert.deepEqual(await ended(child), { code: 0, signal: null, out: '', err: '' });
    const piped = spawnLight('/bin/cat', [], process.env, { stdin: true });
    assert.ok(piped?.stdin);
    const done = ended(piped);
    piped.stdin.end('set_network 0 psk 00\nquit\n');
    assert.equal((await done).out, 'set_network 0 psk 00\nquit\n');
  });

  it('aProgramThatDoesNotExistThrowsEnoent', () => {
    assert.throws(() => spawnLight('/nonexistent/program', []), (e: Error & { errno?: number; code?: string }) => e.errno === 2 && e.code === 'ENOENT' && /No such file/.test(e.message));
  });

  it('theParentTakesNoPageFaultOnItsMemoryAfterwardsWhereNodesSpawnTakesOneAPage', async () => {
    const memory = Buffer.alloc(TOUCHED_BYTES, 1);
    const touch = (): void => { for (let i = 0; i < memory.length; i += PAGE_BYTES) memory[i]++; };
    const faultsOfTouch = (): number => { const f0 = process.resourceUsage().minorPageFault; touch(); return process.resourceUsage().minorPageFault - f0; };
    const pages = TOUCHED_BYTES / PAGE_BYTES;
    touch();
    await ended(light('/bin/true', []));
    const afterLight = faultsOfTouch();
    // Positive control: the same after node's own spawn (fork): the pages are write-protected.
    await new Promise((resolve) => spawn('/bin/true', [], { stdio: 'ignore' }).on('close', resolve));
    const afterFork = faultsOfTouch();
    assert.ok(afterFork > pages / 2, `node's spawn made ${afterFork} faults over ${pages} pages (the control: a fork write-protects them)`);
    assert.ok(afterLight < pages / 20, `${afterLight} faults over ${pages} pages after spawnLight`);
  });
});

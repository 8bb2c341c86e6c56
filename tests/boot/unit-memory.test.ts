/**
 * The systemd unit's memory settings (boot/pos-terminal.service, issue 14): node accepts every
 * flag (an unknown one would stop the service from starting at all), the limits are set and in
 * order, and the ExecStart line puts the flags on the terminal's node command line.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unitMallocEnv, unitNodeFlags } from '../../bench/memory.bench';

const UNIT = readFileSync(join(__dirname, '..', '..', 'boot', 'pos-terminal.service'), 'utf8');

function megabytes(key: string): number {
  const m = new RegExp(`^${key}=(\\d+)M$`, 'm').exec(UNIT);
  assert.ok(m, `${key}= in megabytes`);
  return Number(m[1]);
}

describe('systemd unit: memory limits', () => {
  it('nodeAcceptsEveryFlagOfTheUnitAndTheyTakeEffect', () => {
    const flags = unitNodeFlags(UNIT);
    assert.ok(flags.some((f) => /^--max-old-space-size=\d+$/.test(f)), 'an old-space limit');
    assert.ok(flags.some((f) => /^--max-semi-space-size=\d+$/.test(f)), 'a young-generation limit');
    const r = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'], { encoding: 'utf8', env: { ...process.env, ...unitMallocEnv(UNIT) } });
    assert.equal(r.status, 0, r.stderr);
    const oldSpaceMb = Number(/--max-old-space-size=(\d+)/.exec(flags.join(' '))?.[1]);
    // The heap limit is the old space plus the young generation: well under node's default (GBs).
    const limitMb = Number(r.stdout) / (1024 * 1024);
    assert.ok(limitMb >= oldSpaceMb && limitMb < oldSpaceMb + 16, `heap limit ${limitMb.toFixed(1)} MB with --max-old-space-size=${oldSpaceMb}`);
  });

  it('theAllocatorSettingsAndTheCgroupLimitsAreSetAndInOrder', () => {
    assert.deepEqual(Object.keys(unitMallocEnv(UNIT)).sort(), ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_']);
    const high = megabytes('MemoryHigh');
    const max = megabytes('MemoryMax');
    const oldSpaceMb = Number(/--max-old-space-size=(\d+)/.exec(unitNodeFlags(UNIT).join(' '))?.[1]);
    assert.ok(high < max, 'MemoryHigh (reclaim) comes before MemoryMax (kill)');
    assert.ok(oldSpaceMb < high, 'V8 stops the heap before the cgroup throttles the process');
  });

  it('execStartPutsTheFlagsOnTheTerminalsNodeCommandLine', () => {
    const exec = /^ExecStart=(.*)$/m.exec(UNIT)?.[1] ?? '';
    assert.match(exec, /exec "\$slot\/node\/bin\/node" \$POS_NODE_FLAGS "\$slot\/dist\/boot\/terminal-main\.js"/);
  });
});

/**
 * The systemd unit's memory settings (boot/pos-terminal.service, issue 14): node accepts every
 * flag (an unknown one would stop the service from starting at all), the limits are set and in
 * order, and the ExecStart line puts the flags on the terminal's node command line; it starts the
 * slot's bundle (dist/bundle/terminal.js), or its compiled modules when the slot has no bundle.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unitMallocEnv, unitNodeFlags } from '../../bench/memory.bench';
import { removeDir, tempDir } from '../../storage/testing';

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
    assert.match(exec, /exec "\$slot\/node\/bin\/node" \$POS_NODE_FLAGS "\$main"/);
  });

  it('execStartRunsTheSlotsBundleAndTheCompiledModulesInASlotWithoutOne', () => {
    // The unit's own shell line, run with the selector and the slot's node replaced by scripts
    // that print what they were given (the selector answers the slot folder).
    const dir = tempDir('pos-unit-exec-');
    try {
      const { line, slot } = unitLineIn(dir);
      writeFileSync(join(dir, 'selector'), `#!/bin/sh\necho ${slot}\n`, { mode: 0o755 });
      const run = (): string => {
        const r = spawnSync('/bin/sh', ['-c', line], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', POS_NODE_FLAGS: '--max-old-space-size=48', POS_TERMINAL_ARGS: '--locale en' } });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
      };
      writeFileSync(join(slot, 'dist', 'bundle', 'terminal.js'), '');
      assert.equal(run(), `--max-old-space-size=48 ${slot}/dist/bundle/terminal.js --locale en`);
      rmSync(join(slot, 'dist', 'bundle'), { recursive: true });
      assert.equal(run(), `--max-old-space-size=48 ${slot}/dist/boot/terminal-main.js --locale en`);
      // A selector failing with any status, here pos's usage status (64, EXIT_USAGE), exits the
      // line 1: a failure that restarts the unit (unit-power-off.test.ts: only EXIT_POWER_OFF powers off).
      writeFileSync(join(dir, 'selector'), '#!/bin/sh\nexit 64\n', { mode: 0o755 });
      const failed = spawnSync('/bin/sh', ['-c', line], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
      assert.equal(failed.status, 1);
      assert.equal(failed.stdout, '', 'nothing started');
    } finally {
      removeDir(dir);
    }
  });

  it('aNormalBootStartsTheSlotBootSlotNamesWithoutTheSelectorProcess', () => {
    // boot-slot (boot/update-slots.ts, I5) is what the update code leaves when nothing is
    // pending: the shell boots that slot itself. The selector here records that it ran.
    const dir = tempDir('pos-unit-fast-');
    try {
      const { line, slot } = unitLineIn(dir);
      const slotB = join(dir, 'slotB');
      mkdirSync(join(slotB, 'node', 'bin'), { recursive: true });
      writeFileSync(join(slotB, 'node', 'bin', 'node'), '#!/bin/sh\necho B "$@"\n', { mode: 0o755 });
      const ran = join(dir, 'selector-ran');
      writeFileSync(join(dir, 'selector'), `#!/bin/sh\necho x >> ${ran}\necho ${slot}\n`, { mode: 0o755 });
      const run = (): { out: string; selectorRuns: number } => {
        rmSync(ran, { force: true });
        const r = spawnSync('/bin/sh', ['-c', line], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', POS_NODE_FLAGS: '', POS_TERMINAL_ARGS: '' } });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '', 'a missing boot-slot is not an error in the journal');
        return { out: r.stdout.trim(), selectorRuns: existsSync(ran) ? readFileSync(ran, 'utf8').split('\n').filter(Boolean).length : 0 };
      };
      writeFileSync(join(dir, 'boot-slot'), 'B\n');
      assert.deepEqual(run(), { out: `B ${slotB}/dist/boot/terminal-main.js`, selectorRuns: 0 });
      writeFileSync(join(dir, 'boot-slot'), 'A\n');
      assert.deepEqual(run(), { out: `${slot}/dist/boot/terminal-main.js`, selectorRuns: 0 });
      // Absent (a pending update, a tree from before the file) or not exactly A or B: the selector decides.
      for (const content of [undefined, 'C\n', 'A B\n', '', '../x\n']) {
        if (content === undefined) rmSync(join(dir, 'boot-slot')); else writeFileSync(join(dir, 'boot-slot'), content);
        assert.deepEqual(run(), { out: `${slot}/dist/boot/terminal-main.js`, selectorRuns: 1 }, `boot-slot ${JSON.stringify(content)}`);
      }
    } finally {
      removeDir(dir);
    }
  });
});

const SELECTOR_COMMAND = '/opt/pos/selector/node/bin/node /opt/pos/selector/dist/boot/pos.js update boot --root /opt/pos';

/**
 * The unit's ExecStart shell line with /opt/pos moved to `dir` and the selector command replaced
 * by the script `dir`/selector; slot A made with a node that prints its arguments.
 */
function unitLineIn(dir: string): { line: string; slot: string } {
  const script = /^ExecStart=\/bin\/sh -c '(.*)'$/m.exec(UNIT)?.[1];
  assert.ok(script, 'ExecStart is /bin/sh -c \'...\'');
  assert.ok(script.includes(SELECTOR_COMMAND), 'the selector command is where this test expects it');
  const slot = join(dir, 'slotA');
  mkdirSync(join(slot, 'node', 'bin'), { recursive: true });
  mkdirSync(join(slot, 'dist', 'bundle'), { recursive: true });
  writeFileSync(join(slot, 'node', 'bin', 'node'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
  const line = script.replace(SELECTOR_COMMAND, join(dir, 'selector')).split('/opt/pos/').join(`${dir}/`);
  assert.ok(!line.includes('/opt/pos'), 'every /opt/pos path moved');
  return { line, slot };
}

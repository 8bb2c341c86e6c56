import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { idleCollector, loadMemReclaim, memReclaimCandidates } from './mem-reclaim';

/**
 * A child process (its own heap and arenas, the unit's allocator settings) allocates 16 KiB
 * buffers (malloc'd below the unit's mmap threshold), keeps every 50th, drops the rest; then
 * RssAnon after a plain gc() and after the addon's reclaim(). glibc returns free memory between
 * live chunks only when asked (malloc_trim): a plain collection frees the buffers but the pages
 * stay resident.
 */
function fragmentedHeapChild(): { afterGcMb: number; afterReclaimMb: number; kind: string } {
  const script = `
    const { idleCollector } = require(${JSON.stringify(require.resolve('./mem-reclaim'))});
    const fs = require('node:fs');
    const anonMb = () => Number(/RssAnon:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    let all = []; const kept = [];
    for (let i = 0; i < 20000; i++) { const b = Buffer.allocUnsafeSlow(16384); b.fill(i & 255); all.push(b); if (i % 50 === 0) kept.push(b); }
    all = undefined;
    gc(); gc();
    const afterGcMb = anonMb();
    const { kind } = idleCollector()();
    const afterReclaimMb = anonMb();
    process.stdout.write(JSON.stringify({ afterGcMb, afterReclaimMb, kind, kept: kept.length }));`;
  const env = { ...process.env, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };
  const r = spawnSync(process.execPath, ['--expose-gc', '-r', require.resolve('ts-node/register/transpile-only'), '-e', script], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { afterGcMb: number; afterReclaimMb: number; kind: string };
}

describe('mem-reclaim: memory given back at idle (native/mem_reclaim.cc)', () => {
  it('the addon is built by npm install and loads', () => {
    assert.ok(loadMemReclaim(), `mem_reclaim.node not built or not loadable (npm install runs node-gyp); looked in ${memReclaimCandidates().join(', ')}`);
  });

  it('returns the free pages a plain collection leaves resident (a fragmented C heap)', function () {
    this.timeout(60_000);
    const r = fragmentedHeapChild();
    assert.equal(r.kind, 'low-memory+trim');
    // 20,000 x 16 KiB = 312 MiB allocated, 306 MiB freed between the 400 kept buffers.
    assert.ok(r.afterGcMb - r.afterReclaimMb > 150, `after gc() ${r.afterGcMb.toFixed(1)} MB, after reclaim ${r.afterReclaimMb.toFixed(1)} MB`);
  });

  it('falls back to global.gc without the addon, and to nothing without either', () => {
    let calls = 0;
    const viaGc = idleCollector({ addon: null, gc: () => { calls++; } });
    assert.ok(viaGc);
    assert.deepEqual(viaGc(), { kind: 'gc' });
    assert.equal(calls, 1);
    assert.equal(idleCollector({ addon: null, gc: null }), undefined);
    assert.equal(loadMemReclaim(['/nonexistent/mem_reclaim.node']), undefined);
  });

  it('POS_IDLE_GC chooses a plain gc() or none (the baselines of bench:memory)', () => {
    const addon = { reclaim: () => ({ trimmed: true }) };
    const gc = (): void => undefined;
    assert.deepEqual(idleCollector({ addon, gc })?.(), { kind: 'low-memory+trim' });
    assert.deepEqual(idleCollector({ addon, gc, mode: 'gc' })?.(), { kind: 'gc' });
    assert.equal(idleCollector({ addon, gc, mode: 'off' }), undefined);
  });
});

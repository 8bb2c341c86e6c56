import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { idleCollector, loadMemReclaim, memReclaimCandidates } from './mem-reclaim';
import { removeDir, tempDir } from '../storage/testing';
import { workerScriptFor } from '../common/spawn';

/** boot/mem-reclaim as a child loads it: dist/'s JavaScript when current, else the source under ts-node (common/spawn.ts). */
const MEM_RECLAIM_MODULE = workerScriptFor(join(__dirname, 'mem-reclaim'));

/**
 * A child process (its own heap and arenas, the unit's allocator settings) allocates 16 KiB
 * buffers (malloc'd below the unit's mmap threshold), keeps every 50th, drops the rest; then
 * RssAnon after a plain gc() and after the addon's reclaim(). glibc returns free memory between
 * live chunks only when asked (malloc_trim): a plain collection frees the buffers but the pages
 * stay resident.
 */
function fragmentedHeapChild(): { afterGcMb: number; afterReclaimMb: number; kind: string } {
  const script = `
    const { idleCollector } = require(${JSON.stringify(MEM_RECLAIM_MODULE.file)});
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
  const r = spawnSync(process.execPath, ['--expose-gc', ...MEM_RECLAIM_MODULE.execArgv, '-e', script], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { afterGcMb: number; afterReclaimMb: number; kind: string };
}

/**
 * A child process writes 8 MiB into an LMDB file and reads it all back through LMDB's shared
 * read-only map (its pages resident in the process: RssFile), then reclaims with the file's path
 * given through a symbolic link (the kernel names the real path); the values read afterwards
 * must be the same bytes, the lock file (mapped read-write) is never touched.
 */
function mappedLmdbChild(dir: string): { before: number; after: number; fileMappings: number; lockMappings: number; same: boolean } {
  const script = `
    const { idleCollector } = require(${JSON.stringify(MEM_RECLAIM_MODULE.file)});
    const { open } = require('lmdb');
    const fs = require('node:fs');
    const path = require('node:path');
    const fileMb = () => Number(/RssFile:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    const dir = ${JSON.stringify(dir)};
    const db = open({ path: path.join(dir, 'real'), encoding: 'binary' });
    const value = (i) => Buffer.alloc(8192, i & 255);
    db.transactionSync(() => { for (let i = 0; i < 1024; i++) db.putSync(i, value(i)); });
    fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
    const readAll = () => { let same = true; for (let i = 0; i < 1024; i++) same = same && value(i).equals(db.getBinary(i)); return same; };
    readAll();
    const before = fileMb();
    const r = idleCollector({ mappedFiles: () => [path.join(dir, 'link', 'data.mdb')] })();
    const after = fileMb();
    const lock = idleCollector({ mappedFiles: () => [path.join(dir, 'real', 'lock.mdb')] })();
    const same = readAll();
    process.stdout.write(JSON.stringify({ before, after, fileMappings: r.fileMappings ?? 0, lockMappings: lock.fileMappings ?? 0, same }));
    db.close();`;
  const r = spawnSync(process.execPath, [...MEM_RECLAIM_MODULE.execArgv, '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { before: number; after: number; fileMappings: number; lockMappings: number; same: boolean };
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

  it('letsGoOfTheJournalFilesMappedPagesAndReadsThemBackUnchanged', function () {
    this.timeout(60_000);
    const dir = tempDir('mem-reclaim-mapped-');
    try {
      const r = mappedLmdbChild(dir);
      // lmdb-js maps a growing file again as it grows (the terminal's journal has one fixed-size map).
      assert.ok(r.fileMappings >= 1, 'the data file\'s read-only shared mappings, found by its real path');
      // 8 MiB of values read through the map were resident; afterwards only what the later reads touch again.
      assert.ok(r.before - r.after > 6, `RssFile ${r.before.toFixed(1)} MB -> ${r.after.toFixed(1)} MB`);
      assert.equal(r.lockMappings, 0, 'a read-write mapping (lock.mdb) is never touched');
      assert.equal(r.same, true, 'every value read back after it is the same bytes');
    } finally {
      removeDir(dir);
    }
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

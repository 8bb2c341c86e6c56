import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { IdleGc, IDLE_GC_AFTER_BUSY_MS, IDLE_GC_AFTER_CODE_CACHE_MS, IDLE_GC_AFTER_IDLE_MS } from './idle-gc';
import { CODE_CACHE_WRITE_AFTER_IDLE_MS } from './code-cache';
import { workerScriptFor } from '../common/spawn';

/** boot/idle-gc as a child loads it: dist/'s JavaScript when current, else the source under ts-node (common/spawn.ts). */
const IDLE_GC_MODULE = workerScriptFor(join(__dirname, 'idle-gc'));

/** Timers run by hand: `due` lists what is pending and after how long. */
function manualTimers(): { due: Array<{ f: () => void; ms: number }>; set: (f: () => void, ms: number) => unknown; clear: (t: unknown) => void; fire: () => void } {
  const due: Array<{ f: () => void; ms: number }> = [];
  return {
    due,
    set: (f, ms) => { const t = { f, ms }; due.push(t); return t; },
    clear: (t) => { const i = due.indexOf(t as { f: () => void; ms: number }); if (i >= 0) due.splice(i, 1); },
    fire: () => { for (const t of due.splice(0)) t.f(); },
  };
}

/** A collector counting its calls; the code cache held while `held.value` (default: long let go). */
function idleGc(held = { value: false }): { gc: IdleGc; calls: () => number; timers: ReturnType<typeof manualTimers> } {
  let calls = 0;
  const timers = manualTimers();
  const gc = new IdleGc({ gc: () => { calls++; }, setTimer: timers.set, clearTimer: timers.clear, codeCacheHeld: () => held.value });
  return { gc, calls: () => calls, timers };
}

describe('IdleGc: a full collection once at idle', () => {
  it('collects soon after the boot reaches idle, and once only while it stays there', () => {
    const { gc, calls, timers } = idleGc();
    for (const s of ['boot', 'login', 'login.password', 'signOn', 'idle']) gc.state(s);
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_BUSY_MS]);
    timers.fire();
    assert.equal(calls(), 1);
    gc.state('idle');
    assert.equal(timers.due.length, 0, 'no second collection while idle');
  });

  it('collects soon after a settlement, and only after minutes of idle after a sale', () => {
    const { gc, calls, timers } = idleGc();
    gc.state('sale.signature');
    gc.state('idle');
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_IDLE_MS]);
    timers.fire();
    gc.state('settlement.result');
    gc.state('idle');
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_BUSY_MS]);
    timers.fire();
    assert.equal(calls(), 2);
  });

  it('waits for the code cache to let go of its bytes when it still holds them at the collection time', () => {
    // The cache writes CODE_CACHE_WRITE_AFTER_IDLE_MS into the first idle, before the collection.
    assert.ok(CODE_CACHE_WRITE_AFTER_IDLE_MS < IDLE_GC_AFTER_BUSY_MS);
    const held = { value: true };
    const { gc, calls, timers } = idleGc(held);
    for (const s of ['boot', 'login', 'idle']) gc.state(s);
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_BUSY_MS]);
    timers.fire();
    assert.equal(calls(), 0, 'collected while the cache held its bytes');
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_CODE_CACHE_MS]);
    timers.fire();
    assert.equal(calls(), 0);
    held.value = false;
    timers.fire();
    assert.equal(calls(), 1, 'collected once the cache let go');
    assert.equal(timers.due.length, 0);
    // Leaving idle while waiting cancels it as any other collection.
    const again = idleGc({ value: true });
    for (const s of ['boot', 'idle']) again.gc.state(s);
    again.timers.fire();
    again.gc.state('sale.amount');
    assert.equal(again.timers.due.length, 0);
  });

  it('background work ended at idle (a backup) collects soon again, even after this stay\'s collection; ended elsewhere, the next idle\'s is soon', () => {
    const { gc, calls, timers } = idleGc();
    for (const s of ['settlement.result', 'idle']) gc.state(s);
    timers.fire();
    assert.equal(calls(), 1, 'the settlement\'s');
    gc.afterWork('backup');
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_BUSY_MS]);
    timers.fire();
    assert.equal(calls(), 2, 'the backup\'s garbage');
    // Ended at the login screen: the next idle after a sale's screens collects as after a settlement.
    for (const s of ['login', 'sale.amount']) gc.state(s);
    gc.afterWork('backup');
    assert.equal(timers.due.length, 0, 'not at idle: nothing now');
    gc.state('idle');
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_BUSY_MS]);
    timers.fire();
    // Once collected, a sale's return to idle waits its minutes again.
    for (const s of ['sale.amount', 'idle']) gc.state(s);
    assert.deepEqual(timers.due.map((t) => t.ms), [IDLE_GC_AFTER_IDLE_MS]);
  });

  it('leaving idle before the time cancels the collection (a key pressed by the merchant)', () => {
    const { gc, calls, timers } = idleGc();
    gc.state('settlement.result');
    gc.state('idle');
    gc.state('sale.amount');
    assert.equal(timers.due.length, 0);
    timers.fire();
    assert.equal(calls(), 0);
  });

  it('does nothing without a collector (node without --expose-gc)', () => {
    const timers = manualTimers();
    const gc = new IdleGc({ gc: undefined, setTimer: timers.set, clearTimer: timers.clear });
    assert.equal(gc.enabled, false);
    gc.state('signOn');
    gc.state('idle');
    assert.equal(timers.due.length, 0);
  });

  it('finds global.gc under --expose-gc, and a collection there returns heap that was garbage', () => {
    const script = `
      const { IdleGc } = require(${JSON.stringify(IDLE_GC_MODULE.file)});
      const v8 = require('node:v8');
      let keep = []; for (let i = 0; i < 200000; i++) keep.push({ i, s: 'x' + i });
      keep = undefined;
      const before = v8.getHeapStatistics().used_heap_size;
      const g = new IdleGc({ setTimer: (f) => { f(); } });
      g.state('settlement.result'); g.state('idle');
      process.stdout.write(JSON.stringify({ enabled: g.enabled, collections: g.collections, freedMb: (before - v8.getHeapStatistics().used_heap_size) / 1048576 }));`;
    const r = spawnSync(process.execPath, ['--expose-gc', ...IDLE_GC_MODULE.execArgv, '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { enabled: boolean; collections: number; freedMb: number };
    assert.equal(out.enabled, true);
    assert.equal(out.collections, 1);
    assert.ok(out.freedMb > 5, `${out.freedMb.toFixed(1)} MB freed`);
  });
});

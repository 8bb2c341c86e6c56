import { strict as assert } from 'node:assert';
import { DiskModel, UnsupportedTraceError, mulberry32 } from '../../sim/disk-model';
import type { TraceEvent } from './strace-trace';

const F = '/d/data.mdb';
const G = '/d/other';

/** Builds a synthetic event list; indexes are assigned in order, startedAt defaults to index. */
class Trace {
  readonly events: TraceEvent[] = [];
  private base(startedAt?: number) {
    const index = this.events.length;
    return { index, startedAt: startedAt ?? index, tid: 1, line: index + 1 };
  }
  open(path = F, sync = false): number {
    this.events.push({ ...this.base(), kind: 'open', path, fd: 3, flags: [], sync, truncate: false });
    return this.events.length - 1;
  }
  write(offset: number, data: Buffer | string, opts: { path?: string; sync?: boolean; startedAt?: number } = {}): number {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    this.events.push({ ...this.base(opts.startedAt), kind: 'write', path: opts.path ?? F, fd: 3, offset, data: buf, sync: opts.sync ?? false, call: 'pwrite64' });
    return this.events.length - 1;
  }
  truncate(length: number, path = F): number {
    this.events.push({ ...this.base(), kind: 'truncate', path, fd: 3, length, call: 'ftruncate' });
    return this.events.length - 1;
  }
  barrier(opts: { path?: string | null; startedAt?: number } = {}): number {
    this.events.push({ ...this.base(opts.startedAt), kind: 'barrier', call: 'fdatasync', path: opts.path === undefined ? F : opts.path, fd: 3 });
    return this.events.length - 1;
  }
  ack(id: string): number {
    this.events.push({ ...this.base(), kind: 'ack', id, text: `ACK ${id}` });
    return this.events.length - 1;
  }
}

const page = (byte: number): Buffer => Buffer.alloc(4096, byte);
const pagesOf = (b: Buffer | undefined): number[] => {
  if (!b) return [];
  const out: number[] = [];
  for (let off = 0; off < b.length; off += 4096) out.push(b[off]);
  return out;
};

describe('powercut/disk-model: the disk after a power cut', () => {
  it('drop: writes before a completed barrier are kept, later ones are lost', () => {
    const t = new Trace();
    t.open();
    t.write(0, page(1));
    t.write(4096, page(2));
    const b = t.barrier();
    t.write(0, page(3));
    t.write(8192, page(4));
    const end = t.events.length;
    const m = new DiskModel(t.events);
    // before the barrier returned: nothing durable, the file exists but is empty
    assert.deepEqual(pagesOf(m.filesAt(b).get(F)), []);
    assert.equal(m.filesAt(b).get(F)!.length, 0);
    // after it: pages 1 and 2; the later overwrite of page 0 and the extension are lost
    assert.deepEqual(pagesOf(m.filesAt(b + 1).get(F)), [1, 2]);
    assert.deepEqual(pagesOf(m.filesAt(end, { torn: false }).get(F)), [1, 2]);
    // keep: the page cache as a process crash leaves it
    assert.deepEqual(pagesOf(m.filesAt(end, { mode: 'keep' }).get(F)), [3, 2, 4]);
  });

  it('a file that did not exist yet is absent; initial files are durable', () => {
    const t = new Trace();
    t.write(0, 'x', { path: G }); // G existed before the run: no open event needed
    const o = t.open(F);
    const m = new DiskModel(t.events, { initialFiles: new Map([[G, Buffer.from('old!')]]) });
    assert.deepEqual([...m.filesAt(o).keys()], [G]);
    assert.equal(m.filesAt(o).get(G)!.toString(), 'old!');
    assert.deepEqual([...m.filesAt(o + 1).keys()].sort(), [F, G]);
    assert.equal(m.filesAt(o + 1, { mode: 'keep' }).get(G)!.toString(), 'xld!');
  });

  it('a barrier makes durable only what completed before it was entered', () => {
    const t = new Trace();
    t.open();
    t.write(0, page(1));
    // a write that completed while the fdatasync was running (the barrier was entered at 2)
    t.write(4096, page(2), { startedAt: 2 });
    const b = t.barrier({ startedAt: 2 });
    const m = new DiskModel(t.events);
    assert.deepEqual(pagesOf(m.filesAt(b + 1).get(F)), [1]);
  });

  it('a barrier on another file does not count; sync() counts for all files', () => {
    const t = new Trace();
    t.open(F);
    t.open(G);
    t.write(0, page(1));
    t.barrier({ path: G });
    const c1 = t.events.length;
    t.barrier({ path: null });
    const c2 = t.events.length;
    const m = new DiskModel(t.events);
    assert.deepEqual(pagesOf(m.filesAt(c1).get(F)), []);
    assert.deepEqual(pagesOf(m.filesAt(c2).get(F)), [1]);
  });

  it('an O_DSYNC write is durable when it returns, with its whole page', () => {
    const t = new Trace();
    t.open();
    t.write(0, page(1));
    t.write(4096, page(2));
    t.write(4096 + 40, Buffer.alloc(100, 9)); // unsynced change to page 1
    const d = t.write(4096 + 2088, Buffer.alloc(128, 7), { sync: true });
    const m = new DiskModel(t.events);
    assert.equal(m.filesAt(d).get(F)!.length, 0, 'not yet returned: nothing');
    const f = m.filesAt(d + 1).get(F)!;
    // page 1 as it was right after the O_DSYNC write; page 0 (never flushed) is zeros
    assert.equal(f.length, 8192);
    assert.equal(f[0], 0);
    assert.equal(f[4096], 2);
    assert.equal(f[4096 + 40], 9);
    assert.equal(f[4096 + 2088], 7);
  });

  it('torn: every page holds some moment between its floor and the crash, reproducibly', () => {
    const t = new Trace();
    t.open();
    for (let p = 0; p < 8; p++) t.write(p * 4096, page(10 + p));
    const b = t.barrier();
    for (let p = 0; p < 8; p++) t.write(p * 4096, page(20 + p)); // 1st rewrite
    for (let p = 0; p < 8; p++) t.write(p * 4096, page(30 + p)); // 2nd rewrite
    const crash = t.events.length;
    t.write(0, page(99)); // after the crash: never visible
    const m = new DiskModel(t.events);
    const seen = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      const f = m.filesAt(crash, { torn: true, seed }).get(F)!;
      assert.equal(f.length, 8 * 4096, 'size was durable');
      pagesOf(f).forEach((v, p) => {
        assert.ok([10 + p, 20 + p, 30 + p].includes(v), `page ${p} holds ${v}`);
        seen.add(v - p);
      });
      assert.deepEqual(m.filesAt(crash, { torn: true, seed }).get(F), f, 'same seed, same state');
    }
    assert.deepEqual([...seen].sort(), [10, 20, 30], 'every moment occurs for some seed');
    assert.ok(b < crash);
  });

  it('torn: a page is never a mix of two moments, and the size may lag behind', () => {
    const t = new Trace();
    t.open();
    t.write(0, Buffer.alloc(100, 1));
    t.barrier();
    t.write(100, Buffer.alloc(5000, 2)); // extends the file to 5100, across a page boundary
    const crash = t.events.length;
    const m = new DiskModel(t.events);
    const sizes = new Set<number>();
    for (let seed = 0; seed < 60; seed++) {
      const f = m.filesAt(crash, { torn: true, seed }).get(F)!;
      sizes.add(f.length);
      assert.ok(f.length === 100 || f.length === 5100);
      assert.equal(f[0], 1);
      if (f.length > 100) {
        // page 0: all of bytes 100..4095 from the write, or none of them
        const tail = f.subarray(100, 4096);
        assert.ok(tail.every((v) => v === 2) || tail.every((v) => v === 0));
      }
    }
    assert.deepEqual([...sizes].sort((a, b) => a - b), [100, 5100]);
  });

  it('torn: a write in flight at the crash may or may not be there; drop never has it', () => {
    const t = new Trace();
    t.open();
    t.barrier();
    const crash = t.events.length;
    t.ack('x'); // completes after the crash point
    t.write(0, page(5), { startedAt: crash - 1 }); // entered before the crash, returned after
    const m = new DiskModel(t.events);
    const seen = new Set<number>();
    for (let seed = 0; seed < 30; seed++) seen.add(m.filesAt(crash, { torn: true, seed }).get(F)!.length);
    assert.deepEqual([...seen].sort((a, b) => a - b), [0, 4096]);
    assert.equal(m.filesAt(crash, { torn: false }).get(F)!.length, 0);
  });

  it('truncation: durable after a barrier, reverted if not', () => {
    const t = new Trace();
    t.open();
    t.write(0, Buffer.alloc(10000, 1));
    t.barrier();
    const tr = t.truncate(3000);
    t.write(5000, Buffer.from('z'));
    const b = t.barrier();
    const m = new DiskModel(t.events);
    assert.equal(m.filesAt(tr + 1).get(F)!.length, 10000, 'unsynced truncation lost');
    const f = m.filesAt(b + 1).get(F)!;
    assert.equal(f.length, 5001);
    assert.equal(f[2999], 1);
    assert.ok(f.subarray(3000, 5000).every((v) => v === 0), 'truncated bytes read as zeros after regrowth');
    assert.equal(f[5000], 'z'.charCodeAt(0));
  });

  it('include() limits the files; renames of included files and msync are refused', () => {
    const t = new Trace();
    t.open(F);
    t.open(G);
    assert.deepEqual(new DiskModel(t.events, { include: (p) => p === G }).paths(), [G]);
    t.events.push({ index: 2, startedAt: 2, tid: 1, line: 3, kind: 'namespace', call: 'rename', paths: [F] });
    assert.throws(() => new DiskModel(t.events), UnsupportedTraceError);
    assert.doesNotThrow(() => new DiskModel(t.events, { include: (p) => p === G }));
    const u = new Trace();
    u.events.push({ index: 0, startedAt: 0, tid: 1, line: 1, kind: 'msync' });
    assert.throws(() => new DiskModel(u.events), /mmap/);
  });

  it('crash index out of range is refused', () => {
    const m = new DiskModel(new Trace().events);
    assert.throws(() => m.filesAt(1), RangeError);
    assert.equal(m.filesAt(0).size, 0);
  });

  it('mulberry32 is deterministic and spread', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    assert.ok(mean > 0.45 && mean < 0.55);
  });
});

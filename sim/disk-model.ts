/**
 * The disk after a power cut: rebuilds files from a trace's events (strace-trace.ts) as a disk
 * could hold them if the power failed at a chosen moment.
 *
 * A crash point C is an index into the event list: events with `index < C` completed, the
 * others did not (a call entered before C and completing later was "in flight").
 *
 * The model is the page cache's: a file is a sequence of pages (4096 bytes); the kernel writes
 * a page back whole, at moments the program does not choose, so after a power cut each page
 * holds its content as of SOME moment T_p between its durable floor and the crash (never a
 * mix of two moments, never a moment after the crash). Pages are independent of each other.
 *
 *  - fsync/fdatasync on a file (any descriptor), once it RETURNED before C, makes durable every
 *    write to that file that completed before the call was entered (`index < barrier.startedAt`),
 *    file size included: every page's floor is at least barrier.startedAt.
 *  - sync()/syncfs() does the same for every file.
 *  - a write through an O_DSYNC/O_SYNC descriptor that returned before C makes its pages durable
 *    as they were right after it (floor = write.index + 1), and the file size it produced.
 *  - the file size follows the same rule as a page: some moment between its floor and the crash,
 *    chosen independently of the pages, so a torn state may have the new size without the new
 *    data (zeros), as on FAT or ext4 data=writeback. That is harsher than ext4's default
 *    data=ordered, and it is what makes an LMDB file torn while being created unopenable.
 *
 * Modes for the undurable part:
 *  - 'drop': every page at its floor (all unsynced writes lost)
 *  - 'torn': each page (and the size) at a moment drawn from a seeded PRNG among the moments
 *            that page changed (writes in flight at C included: their page may or may not have
 *            been written back)
 *  - 'keep': every completed write kept (what a process crash / SIGKILL leaves: the page cache)
 *
 * Not modelled: directory durability (a file created or opened during the run is assumed to
 * exist after the crash; rename/unlink of a modelled file is refused), tearing below the page
 * size (4096 bytes by default; `pageSize: 512` tears at a disk's sectors), writes through a
 * shared mmap (refused: strace cannot see them).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TraceEvent, WriteEvent, TruncateEvent, BarrierEvent } from './disk-events';

export const PAGE_SIZE = 4096;

export type CrashMode = 'drop' | 'torn' | 'keep';

export interface CrashStateOptions {
  /** shorthand: torn: true -> mode 'torn', torn: false -> mode 'drop' */
  torn?: boolean;
  mode?: CrashMode;
  /** PRNG seed for 'torn'; combined with the crash index and the path, so each state is
   * reproducible from (seed, crashIndex) alone */
  seed?: number;
  pageSize?: number;
}

export interface DiskModelOptions {
  /** content of files before the run (durable) */
  initialFiles?: ReadonlyMap<string, Buffer>;
  /** which files to rebuild (default: every file in the events) */
  include?: (filePath: string) => boolean;
}

export function crashModeOf(options: CrashStateOptions): CrashMode {
  return options.mode ?? (options.torn ? 'torn' : 'drop');
}

/** mulberry32: small, fast, good enough to pick pages. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the parts, to derive a per-(seed, crash point, file) PRNG seed. */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = String(part) + '\u0000';
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}

type FileOp = WriteEvent | TruncateEvent;

interface FileHistory {
  path: string;
  initial: Buffer | null;
  /** index of the first event that shows the file exists (open/write/truncate); -1 = initial */
  firstSeen: number;
  ops: FileOp[];
  barriers: BarrierEvent[];
}

export class UnsupportedTraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedTraceError';
  }
}

/** Prepared per-file histories, so that many crash states can be built from one trace cheaply. */
export class DiskModel {
  private readonly files = new Map<string, FileHistory>();
  private readonly globalBarriers: BarrierEvent[] = [];

  constructor(readonly events: readonly TraceEvent[], options: DiskModelOptions = {}) {
    const include = options.include ?? (() => true);
    const history = (p: string, seenAt: number): FileHistory | null => {
      if (!include(p)) return null;
      let h = this.files.get(p);
      if (!h) {
        h = { path: p, initial: null, firstSeen: seenAt, ops: [], barriers: [] };
        this.files.set(p, h);
      }
      return h;
    };
    for (const [p, data] of options.initialFiles ?? []) {
      const h = history(p, -1);
      if (h) { h.initial = data; h.firstSeen = -1; }
    }
    for (const e of events) {
      switch (e.kind) {
        case 'open': history(e.path, e.index); break;
        case 'write': case 'truncate': history(e.path, e.index)?.ops.push(e); break;
        case 'barrier':
          if (e.path === null) this.globalBarriers.push(e);
          else history(e.path, e.index)?.barriers.push(e);
          break;
        case 'namespace':
          for (const p of e.paths) {
            if (include(p)) throw new UnsupportedTraceError(`${e.call} of ${p} (trace line ${e.line}): renames and unlinks are not modelled`);
          }
          break;
        case 'msync':
          throw new UnsupportedTraceError(`msync at trace line ${e.line}: the workload writes through mmap, which strace cannot record (lmdb useWritemap?)`);
        default: break;
      }
    }
  }

  /** paths of the modelled files */
  paths(): string[] {
    return [...this.files.keys()].sort();
  }

  /** Files as the disk holds them at crash point `crashIndex` (0..events.length). Files that did
   * not exist yet are absent from the map. */
  filesAt(crashIndex: number, options: CrashStateOptions = {}): Map<string, Buffer> {
    if (!Number.isInteger(crashIndex) || crashIndex < 0 || crashIndex > this.events.length) {
      throw new RangeError(`crash index ${crashIndex} outside 0..${this.events.length}`);
    }
    const mode = crashModeOf(options);
    const pageSize = options.pageSize ?? PAGE_SIZE;
    const seed = options.seed ?? 1;
    const out = new Map<string, Buffer>();
    for (const p of this.paths()) {
      const h = this.files.get(p)!;
      if (h.firstSeen >= crashIndex) continue;
      const rng = mulberry32(hashSeed(seed, crashIndex, p));
      out.set(p, this.fileAt(h, crashIndex, mode, pageSize, rng));
    }
    return out;
  }

  private fileAt(h: FileHistory, c: number, mode: CrashMode, pageSize: number, rng: () => number): Buffer {
    // ops that may have reached the page cache: completed, or in flight at c (only in torn mode)
    const ops = h.ops.filter((op) => op.index < c || (mode === 'torn' && op.startedAt < c));
    // file-wide floor from completed barriers
    let floor = 0;
    for (const b of h.barriers) if (b.index < c) floor = Math.max(floor, b.startedAt);
    for (const b of this.globalBarriers) if (b.index < c) floor = Math.max(floor, b.startedAt);

    // size over time: sizeAfter[i] = size after ops[0..i]
    let size = h.initial?.length ?? 0;
    const sizeAfter: number[] = [];
    let maxSize = size;
    for (const op of ops) {
      size = op.kind === 'write' ? Math.max(size, op.offset + op.data.length) : op.length;
      sizeAfter.push(size);
      maxSize = Math.max(maxSize, size);
    }
    const sizeAt = (t: number): number => {
      // size with the ops whose index < t applied
      let s = h.initial?.length ?? 0;
      for (let i = 0; i < ops.length && ops[i].index < t; i++) s = sizeAfter[i];
      return s;
    };
    let sizeFloor = floor;
    for (const op of ops) {
      if (op.kind === 'write' && op.sync && op.index < c) sizeFloor = Math.max(sizeFloor, op.index + 1);
    }
    const pickTime = (floorT: number, changes: number[]): number => {
      const candidates = [floorT, ...changes.filter((t) => t > floorT)];
      if (mode === 'drop') return floorT;
      if (mode === 'keep') return Math.max(...candidates);
      return candidates[Math.floor(rng() * candidates.length)];
    };
    const finalSize = sizeAt(pickTime(sizeFloor, ops.map((op) => op.index + 1)));

    // ops touching each page
    const pageCount = Math.ceil(maxSize / pageSize);
    const touching: FileOp[][] = Array.from({ length: pageCount }, () => []);
    for (const op of ops) {
      if (op.kind === 'write') {
        const first = Math.floor(op.offset / pageSize);
        const last = Math.floor((op.offset + op.data.length - 1) / pageSize);
        for (let pg = first; pg <= last && pg < pageCount; pg++) touching[pg].push(op);
      } else {
        for (let pg = Math.floor(op.length / pageSize); pg < pageCount; pg++) touching[pg].push(op);
      }
    }

    const result = Buffer.alloc(finalSize);
    const page = Buffer.alloc(pageSize);
    const finalPages = Math.ceil(finalSize / pageSize);
    for (let pg = 0; pg < finalPages; pg++) {
      const start = pg * pageSize;
      let pageFloor = floor;
      for (const op of touching[pg]) {
        if (op.kind === 'write' && op.sync && op.index < c) pageFloor = Math.max(pageFloor, op.index + 1);
      }
      const t = pickTime(pageFloor, touching[pg].map((op) => op.index + 1));
      // page content at moment t: initial content, then the ops touching it with index < t
      page.fill(0);
      if (h.initial && h.initial.length > start) h.initial.copy(page, 0, start, Math.min(start + pageSize, h.initial.length));
      for (const op of touching[pg]) {
        if (op.index >= t) break;
        if (op.kind === 'write') {
          const from = Math.max(op.offset, start);
          const to = Math.min(op.offset + op.data.length, start + pageSize);
          op.data.copy(page, from - start, from - op.offset, to - op.offset);
        } else if (op.length < start + pageSize) {
          page.fill(0, Math.max(0, op.length - start));
        }
      }
      page.copy(result, start, 0, Math.min(pageSize, finalSize - start));
    }
    return result;
  }
}

/** Writes `files` (absolute paths under `fromRoot`) below `toDir`, keeping relative paths. */
export function writeFilesUnder(files: ReadonlyMap<string, Buffer>, fromRoot: string, toDir: string,
  omit: (relativePath: string) => boolean = () => false): void {
  fs.mkdirSync(toDir, { recursive: true });
  for (const [p, data] of files) {
    const rel = path.relative(fromRoot, p);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    if (omit(rel)) continue;
    const dest = path.join(toDir, rel);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, data);
  }
}

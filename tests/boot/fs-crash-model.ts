/**
 * Crash states of a directory tree whose writer renames and unlinks (tests only): the power-cut
 * simulator's DiskModel (tests/powercut/disk-model.ts) rebuilds file CONTENT page by page but
 * refuses renames and unlinks, and an A/B update installs by renaming (a staging directory into
 * the slot, state.json.tmp over state.json). This wraps it with a model of the NAMESPACE:
 *
 * - Every file is an inode. A trace event on a path is an event on the inode that path names at
 *   that moment; inode events go to DiskModel under a synthetic path (`/ino/<n>`), so content
 *   durability is exactly the simulator's (fsync/fdatasync floors, O_DSYNC, 'drop'/'torn'/'keep').
 * - Creating a file (open with O_CREAT of a name that does not exist), rename and unlink are
 *   namespace operations. One is durable once a fsync of the directory holding each name it
 *   changes (or a sync()) was ENTERED after it completed and RETURNED before the crash.
 * - Metadata reaches the disk in order (an ordered metadata journal: ext4/jbd2, the eMMC file
 *   system of a terminal): after a crash the namespace is the result of SOME PREFIX of the
 *   operations, at least up to the last durable one. 'drop' takes that floor, 'keep' every
 *   completed operation, 'torn' a seeded random prefix in between (pages torn independently).
 * - A directory rename moves every name under it. Directories themselves (mkdir) are not traced:
 *   a directory exists when a file in it does (as in DiskModel, directory creation is assumed
 *   durable). Only paths under `root` are modelled.
 * Not modelled: file systems that reorder metadata operations (no ordered journal), hard links.
 */
import * as path from 'node:path';
import { DiskModel, mulberry32, hashSeed, UnsupportedTraceError } from '../powercut';
import type { TraceEvent, CrashMode } from '../powercut';

interface NsOp {
  readonly index: number;
  readonly kind: 'create' | 'rename' | 'unlink';
  readonly from?: string;
  readonly to: string;
  readonly ino?: number;
  /** directories whose entries this operation changes */
  readonly dirs: readonly string[];
}

interface DirBarrier { readonly dir: string | null; readonly index: number; readonly startedAt: number }

const INO_PREFIX = '/ino/';

export interface FsCrashState {
  /** relative path under root -> content */
  readonly files: Map<string, Buffer>;
  /** namespace operations applied / completed before the crash */
  readonly nsApplied: number;
  readonly nsCompleted: number;
}

export class FsCrashModel {
  private readonly initial = new Map<string, number>();
  private readonly ops: NsOp[] = [];
  private readonly dirBarriers: DirBarrier[] = [];
  private readonly content: DiskModel;

  constructor(readonly events: readonly TraceEvent[], readonly root: string, initialFiles: ReadonlyMap<string, Buffer>) {
    const under = (p: string | null): p is string => p !== null && (p === root || p.startsWith(root + path.sep));
    let nextIno = 0;
    const live = new Map<string, number>();
    const inoFiles = new Map<string, Buffer>();
    for (const [p, data] of initialFiles) {
      const ino = nextIno++;
      live.set(p, ino);
      this.initial.set(p, ino);
      inoFiles.set(INO_PREFIX + ino, data);
    }
    const rewritten: TraceEvent[] = events.map((e) => {
      switch (e.kind) {
        case 'open': {
          if (!under(e.path)) return e;
          let ino = live.get(e.path);
          if (ino === undefined) {
            if (!e.flags.includes('O_CREAT')) return e; // a directory (fsync of a folder), or a failed lookup
            ino = nextIno++;
            live.set(e.path, ino);
            this.ops.push({ index: e.index, kind: 'create', to: e.path, ino, dirs: [path.dirname(e.path)] });
          }
          return { ...e, path: INO_PREFIX + ino };
        }
        case 'write': case 'truncate': case 'close': {
          if (!under(e.path)) return e;
          const ino = live.get(e.path);
          if (ino === undefined) {
            if (e.kind === 'close') return e;
            throw new UnsupportedTraceError(`${e.kind} of ${e.path} (trace line ${e.line}) names no known file`);
          }
          return { ...e, path: INO_PREFIX + ino };
        }
        case 'barrier': {
          if (e.path === null) { this.dirBarriers.push({ dir: null, index: e.index, startedAt: e.startedAt }); return e; }
          if (!under(e.path)) return e;
          const ino = live.get(e.path);
          if (ino !== undefined) return { ...e, path: INO_PREFIX + ino };
          this.dirBarriers.push({ dir: e.path, index: e.index, startedAt: e.startedAt });
          return e;
        }
        case 'namespace': {
          const paths = e.paths.filter(under);
          if (paths.length === 0) return e;
          if (e.call.startsWith('rename')) {
            const [from, to] = e.paths;
            if (!under(from) || !under(to)) throw new UnsupportedTraceError(`${e.call} across the modelled root (trace line ${e.line})`);
            moveNames(live, from, to);
            this.ops.push({ index: e.index, kind: 'rename', from, to, dirs: [...new Set([path.dirname(from), path.dirname(to)])] });
          } else {
            const [p] = paths;
            removeNames(live, p);
            this.ops.push({ index: e.index, kind: 'unlink', to: p, dirs: [path.dirname(p)] });
          }
          return e;
        }
        case 'msync':
          throw new UnsupportedTraceError(`msync at trace line ${e.line}: mmap writes are not modelled`);
        default:
          return e;
      }
    });
    this.content = new DiskModel(rewritten, { initialFiles: inoFiles, include: (p) => p.startsWith(INO_PREFIX) });
  }

  /** Namespace operations seen (create, rename, unlink) */
  get operationCount(): number {
    return this.ops.length;
  }

  /** The tree under root as a disk could hold it after a power cut at `crashIndex`. */
  stateAt(crashIndex: number, options: { mode: CrashMode; seed?: number }): FsCrashState {
    const c = crashIndex;
    const completed = this.ops.filter((op) => op.index < c);
    const durable = (op: NsOp): boolean => op.dirs.every((dir) => this.dirBarriers.some((b) => b.index < c && b.startedAt > op.index && (b.dir === null || b.dir === dir)));
    let floor = 0;
    completed.forEach((op, i) => { if (durable(op)) floor = i + 1; });
    const rng = mulberry32(hashSeed(options.seed ?? 1, c, 'namespace'));
    const applied = options.mode === 'drop' ? floor : options.mode === 'keep' ? completed.length : floor + Math.floor(rng() * (completed.length - floor + 1));
    const names = new Map(this.initial);
    for (const op of completed.slice(0, applied)) {
      if (op.kind === 'create') names.set(op.to, op.ino!);
      else if (op.kind === 'rename') moveNames(names, op.from!, op.to);
      else removeNames(names, op.to);
    }
    const data = this.content.filesAt(c, { mode: options.mode, seed: options.seed });
    const files = new Map<string, Buffer>();
    for (const [p, ino] of names) files.set(path.relative(this.root, p), data.get(INO_PREFIX + ino) ?? Buffer.alloc(0));
    return { files, nsApplied: applied, nsCompleted: completed.length };
  }
}

/** rename(from, to) of a file (replacing `to`) or of a directory (every name under it moves). */
function moveNames(names: Map<string, number>, from: string, to: string): void {
  const file = names.get(from);
  if (file !== undefined) {
    names.delete(from);
    names.set(to, file);
    return;
  }
  const prefix = from + path.sep;
  for (const [p, ino] of [...names]) {
    if (!p.startsWith(prefix)) continue;
    names.delete(p);
    names.set(to + path.sep + p.slice(prefix.length), ino);
  }
}

function removeNames(names: Map<string, number>, p: string): void {
  names.delete(p);
}

/**
 * Memory given back to the system at idle (issue 14 goal 1): the runtime's own addon
 * native/mem_reclaim.cc asks V8 for a memory-reducing collection (Isolate::LowMemoryNotification)
 * and then glibc to return its free pages (malloc_trim). boot/idle-gc.ts calls it when the
 * terminal settles at idle.
 *
 * Why not `--expose-gc`'s gc(): it collects, but V8 keeps the freed pages for the next
 * allocations and glibc keeps its arenas. Measured on the simulator board (unit settings, the
 * bundle, 200 sales and a settlement, one terminal at load 12): gc() took RSS from 82.6 to 79.8
 * MB, gc() and malloc_trim to 76.3 MB; the memory-reducing collection alone to 69.7 MB and with
 * malloc_trim to 67.6 MB (README, "Memory", has the whole day's figures).
 *
 * Without the addon (not built: npm install runs node-gyp, the image compiles it for its target),
 * the collector falls back to `global.gc` (node's --expose-gc, which the unit passes), else none.
 */
import * as fs from 'node:fs';
import { ownAddonCandidates } from '../common/own-addon';

interface MemReclaimAddon {
  /** `files`: absolute paths whose shared read-only mappings' pages are let go (native/mem_reclaim.cc says why that is safe). */
  reclaim(files?: readonly string[]): { trimmed: boolean; fileMappings?: number };
}

/** What one call of the collector did (logged at debug by the terminal). */
export interface ReclaimKind {
  readonly kind: 'low-memory+trim' | 'low-memory' | 'gc';
  /** Mappings of the files whose pages were let go (the addon only). */
  readonly fileMappings?: number;
}

/** Where the addon may be: POS_MEM_RECLAIM_ADDON, else build/Release. */
export function memReclaimCandidates(): string[] {
  return ownAddonCandidates('mem_reclaim.node', 'POS_MEM_RECLAIM_ADDON');
}

/** The addon, or undefined when it is not built or does not load (a node of another ABI). */
export function loadMemReclaim(candidates: readonly string[] = memReclaimCandidates()): MemReclaimAddon | undefined {
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node file can only be loaded by require
    const addon = require(found) as Partial<MemReclaimAddon>;
    return typeof addon.reclaim === 'function' ? (addon as MemReclaimAddon) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which collection the idle GC makes: the best there is (default), a plain gc() as before the
 * addon, or none. POS_IDLE_GC sets it for the benchmark's baselines (bench/memory.bench.ts).
 */
export type IdleGcMode = 'reclaim' | 'gc' | 'off';

/** Where the collectors come from; each default is this process's own, null stands for none. */
export interface CollectorSources {
  readonly addon?: MemReclaimAddon | null;
  readonly gc?: (() => void) | null;
  readonly mode?: IdleGcMode;
  /**
   * Files mapped read-only whose pages are let go after the collection: the journal's LMDB file
   * (boot/terminal-main.ts), whose transactions leave pages of it resident. Asked at each call (a
   * restore replaces the file); a path the kernel does not show as given (a symbolic link) is resolved.
   */
  readonly mappedFiles?: () => readonly string[];
}

/** The paths as /proc/self/maps names them (links resolved); a missing file is left out. */
function mapsNames(files: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    try { out.push(fs.realpathSync(f)); } catch { /* not there (yet): nothing of it is mapped */ }
  }
  return out;
}

function modeFromEnv(): IdleGcMode {
  const v = process.env.POS_IDLE_GC;
  return v === 'gc' || v === 'off' ? v : 'reclaim';
}

/**
 * The best collector this process has: the addon's memory-reducing collection, else `global.gc`,
 * else undefined (a developer's `npm start` without the addon: nothing is collected).
 */
export function idleCollector(from: CollectorSources = {}): (() => ReclaimKind) | undefined {
  const mode = from.mode ?? modeFromEnv();
  if (mode === 'off') return undefined;
  const addon = mode === 'gc' ? null : from.addon === undefined ? loadMemReclaim() : from.addon;
  const gc = from.gc === undefined ? (globalThis as { gc?: () => void }).gc : from.gc;
  if (addon) {
    return () => {
      const r = addon.reclaim(mapsNames(from.mappedFiles?.() ?? []));
      return { kind: r.trimmed ? 'low-memory+trim' : 'low-memory', ...(r.fileMappings ? { fileMappings: r.fileMappings } : {}) };
    };
  }
  if (gc) return () => { gc(); return { kind: 'gc' }; };
  return undefined;
}

/**
 * V8 code cache for the terminal process (issue 14: start time on a slow CPU). Node 20 has no
 * `module.enableCompileCache` (Node 22), so CommonJS modules are compiled here through `vm.Script`
 * with the cached data of the previous boot, and the cache is written once the terminal has first
 * settled at idle: the functions compiled lazily until then (the boot, the login, the sign-on,
 * the idle screen) are in it too. Written earlier (8 s after the start, before session 30), it
 * held only the boot's: every boot compiled the login's code at the operator's first keys (up to
 * 45-50 ms a key under the bench's CPU quota; docs/BENCHMARKS.md, "Start").
 *
 * - One file per Node version and architecture in the cache directory: `$POS_CODE_CACHE_DIR`, else
 *   systemd's `$CACHE_DIRECTORY` (CacheDirectory= in the unit), else `.tmp/code-cache` in the
 *   package. `POS_CODE_CACHE=0` turns it off (the benchmark's baseline).
 * - An entry is keyed by the file name and a digest of its source, so updated code never runs from
 *   a stale entry; V8 also refuses data from another V8 version or other flags, and the file is
 *   rewritten when anything was missing or refused, or when it was not written at idle (a boot that
 *   never got there: recovery mode, a terminal left at its login screen, which write it
 *   CODE_CACHE_HOLD_MS_MAX after the start). Only entries of this boot are kept.
 * - Written through a temporary file, fsynced and renamed: a power cut leaves the old file or the
 *   new one. A file that does not parse is ignored (the boot compiles from source, as without it).
 * - Every entry carries a CRC-32 of its data, checked before V8 sees it: Node 20's V8 does not
 *   check a code cache's own checksum, and a flipped bit in the file (flash wear) crashed every
 *   boot natively in the deserializer, before the screen was drawn. An entry that does not match
 *   is left out (that module compiles from source) and the file is rewritten.
 * - Modules with a `#!` line are compiled by Node as usual.
 * - The file also keeps the boot's resolutions of packages' modules (request and requiring folder
 *   -> file in node_modules), used by the next boot while node_modules is as it was (installResolveMemo): resolving the ~37
 *   requires of the start took 8 ms of a boot here, most of it Node loading its package "exports"
 *   resolver for the first package that has an exports map.
 * - The bundle's source and the cache file are mapped, not read, where native/mapped_file.c is
 *   built (mappedFile): V8 reads the source in place through an external string, so the start
 *   does not copy 3.3 MB into fresh anonymous pages (about 1,200 first touches, 12 us each on the
 *   reference VM), and the source the process keeps all day is clean page cache, not its own
 *   memory. Both files are only ever replaced by a rename (writeCodeCache, scripts/image/bundle.ts),
 *   never rewritten in place under a mapping. POS_MAPPED_FILE=0 reads them as before.
 */
import Module from 'node:module';
import { Script, constants as vmConstants } from 'node:vm';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { isAscii } from 'node:buffer';
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { packageRoot } from '../common/assets';
import { loadOwnAddon, ownAddonCandidates } from '../common/own-addon';

/**
 * The cache is written this long after the terminal first reaches idle (and is still there): the
 * idle screen has been drawn and its timers run, and boot/idle-gc.ts's collection (2 s after
 * idle) finds the cache's bytes let go.
 */
export const CODE_CACHE_WRITE_AFTER_IDLE_MS = 1_000;
/**
 * A boot that does not reach idle in this long (recovery mode, the login screen left alone) writes
 * what it has and lets go of the file's bytes: they are not held in memory all day.
 */
export const CODE_CACHE_HOLD_MS_MAX = 5 * 60_000;
/** A cache file larger than this is not read (a broken file must not cost the boot). */
export const CODE_CACHE_BYTES_MAX = 32 * 1024 * 1024;
/** A main bundle larger than this is loaded by Node's loader, not mapped (readWrapped). */
export const MAIN_SOURCE_BYTES_MAX = 64 * 1024 * 1024;
/** Version 2: an entry is key length, key, data length, CRC-32 of the data, data (little-endian). */
const MAGIC = 'POSV8CC2';

export interface CodeCacheStats {
  readonly dir: string;
  readonly file: string;
  hits: number;
  misses: number;
  rejected: number;
  /** Entries whose data did not match their CRC-32 (left out: their modules compiled from source). */
  damaged: number;
  /** The main bundle was loaded by this hook (mapped, or read as bytes in one read: readWrapped), not by Node's loader. */
  mainAsBytes?: boolean;
  /** The main bundle's source was mapped (native/mapped_file.c), not read. */
  mainMapped?: boolean;
  /** The cache file was mapped (native/mapped_file.c), not read. */
  fileMapped?: boolean;
  /** Module resolutions answered from the previous boot's (installResolveMemo), and resolved afresh. */
  resolveHits: number;
  resolveMisses: number;
  written?: number;
  /** How long making and writing the file stopped JavaScript (once after an update: logged). */
  writeMs?: number;
  /** The cache was written once the terminal had settled at idle (not CODE_CACHE_HOLD_MS_MAX after the start). */
  writtenAtIdle?: boolean;
}

/** Node's module internals this hook uses (not in @types/node's `Module` type). */
interface ModuleInternals {
  prototype: { _compile(this: NodeModule, content: string, filename: string): unknown };
  wrap(script: string): string;
  _resolveFilename(request: string, parent: NodeModule | undefined, isMain: boolean, options?: unknown): string;
  isBuiltin(request: string): boolean;
  _extensions: NodeJS.RequireExtensions;
  _cache: NodeJS.Dict<NodeModule>;
}

/** Where installCodeCache leaves its figures for the bundle it loads (dist/bundle/terminal.js has its own copy of this module). */
export const CODE_CACHE_STATS_KEY = Symbol.for('pos.codeCacheStats');

/**
 * What the terminal tells the cache and asks of it, left on globalThis as the figures are (the
 * bundle's copy of this module reaches the loader's).
 */
export interface CodeCacheControl {
  /** The terminal's machine state as it changes: the first stay at idle writes the cache (CODE_CACHE_WRITE_AFTER_IDLE_MS). */
  state(state: string): void;
  /** Whether the file's bytes and the boot's scripts are still held (boot/idle-gc.ts collects only after). */
  readonly held: boolean;
  /** Told when the file was written (the terminal logs it: once after an update). */
  onWritten?: (stats: CodeCacheStats) => void;
}

export const CODE_CACHE_CONTROL_KEY = Symbol.for('pos.codeCacheControl');

/** The control of the cache this process installed (undefined: none, or turned off). */
export function installedCodeCacheControl(): CodeCacheControl | undefined {
  return (globalThis as Record<symbol, CodeCacheControl | undefined>)[CODE_CACHE_CONTROL_KEY];
}

/** The figures of the cache this process installed, whichever copy of this module installed it. */
export function installedCodeCache(): CodeCacheStats | undefined {
  return (globalThis as Record<symbol, CodeCacheStats | undefined>)[CODE_CACHE_STATS_KEY];
}

export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.POS_CODE_CACHE_DIR ?? env.CACHE_DIRECTORY?.split(':')[0] ?? join(packageRoot(), '.tmp', 'code-cache');
}

export function codeCacheFile(dir: string): string {
  return join(dir, `v8-${process.version}-${process.arch}.bin`);
}

/**
 * Entries by key; an unreadable or malformed file is an empty cache, an entry whose data does not
 * match its CRC-32 is left out (counted in `damaged`).
 */
export function readCodeCache(file: string, counts: { damaged: number; fileMapped?: boolean } = { damaged: 0 }): Map<string, Buffer> {
  const entries = new Map<string, Buffer>();
  let b: Buffer;
  try {
    // The size first: a file grown huge must cost the boot nothing.
    const fd = openSync(file, 'r');
    try {
      if (fstatSync(fd).size > CODE_CACHE_BYTES_MAX) return entries;
    } finally {
      closeSync(fd);
    }
    const mapped = mappedFile()?.bytes(file, CODE_CACHE_BYTES_MAX);
    if (mapped) counts.fileMapped = true;
    b = mapped ?? readFileSync(file);
  } catch { return entries; }
  if (b.length > CODE_CACHE_BYTES_MAX || b.toString('latin1', 0, MAGIC.length) !== MAGIC) return entries;
  let at = MAGIC.length;
  const fits = (n: number): boolean => at + n <= b.length;
  while (at < b.length) {
    if (!fits(4)) return new Map();
    const keyLength = b.readUInt32LE(at); at += 4;
    if (!fits(keyLength + 8)) return new Map();
    const key = b.toString('latin1', at, at + keyLength); at += keyLength;
    const dataLength = b.readUInt32LE(at); at += 4;
    const crc = b.readUInt32LE(at); at += 4;
    if (!fits(dataLength)) return new Map();
    const data = b.subarray(at, at + dataLength); at += dataLength;
    if (crc32(data) === crc) entries.set(key, data);
    else counts.damaged++;
  }
  return entries;
}

export function writeCodeCache(file: string, entries: ReadonlyMap<string, Buffer>): void {
  mkdirSync(dirname(file), { recursive: true });
  const parts: Buffer[] = [Buffer.from(MAGIC, 'latin1')];
  for (const [key, data] of entries) {
    const k = Buffer.from(key, 'latin1');
    const head = Buffer.alloc(4); head.writeUInt32LE(k.length);
    const size = Buffer.alloc(8); size.writeUInt32LE(data.length); size.writeUInt32LE(crc32(data), 4);
    parts.push(head, k, size, data);
  }
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, Buffer.concat(parts));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** native/mapped_file.c's functions (its header comment states their contract). */
export interface MappedFileAddon {
  wrapped(path: string, head: string, tail: string, maxBytes: number, keyName: string): { source: string; sha1: Buffer } | null;
  bytes(path: string, maxBytes: number): Buffer | null;
}

let mappedFileLoaded: MappedFileAddon | null | undefined;

/** The mapping addon, or null (not built, another node, POS_MAPPED_FILE=0): the files are read then. */
export function mappedFile(): MappedFileAddon | null {
  if (mappedFileLoaded === undefined) {
    mappedFileLoaded = process.env.POS_MAPPED_FILE === '0' ? null
      : loadOwnAddon<MappedFileAddon>(ownAddonCandidates('mapped_file.node', 'POS_MAPPED_FILE_ADDON'), (e) => typeof e.wrapped === 'function' && typeof e.bytes === 'function');
  }
  return mappedFileLoaded;
}

function keyOf(filename: string, content: string | Buffer): string {
  return createHash('sha1').update(filename).update('\0').update(content).digest('base64');
}

/**
 * The main bundle's wrapped source in one read (its size known first): Node's own loader reads a
 * file into a buffer grown by doubling, decodes it, the key's digest encodes it again and the
 * wrapper's concatenation is flattened by V8 - for the 1.5 MB bundle about 1,900 first touches of
 * fresh pages, 12 us each on the reference VM (docs/BENCHMARKS.md, "Start"). Here: one buffer
 * holding the wrapper around the file's bytes, digested as bytes and decoded once. Only an ASCII
 * file (the bundle is built so: scripts/image/bundle.ts), where Latin-1 and UTF-8 decode alike;
 * anything else returns undefined and loads as Node loads it.
 */
function readWrapped(filename: string, M: ModuleInternals, stats: CodeCacheStats): { wrapped: string; key: string } | undefined {
  const [head, tail] = M.wrap('\0').split('\0');
  const mapped = mappedFile()?.wrapped(filename, head, tail, MAIN_SOURCE_BYTES_MAX, filename);
  if (mapped) {
    stats.mainMapped = true;
    return { wrapped: mapped.source, key: mapped.sha1.toString('base64') };
  }
  const fd = openSync(filename, 'r');
  let b: Buffer;
  try {
    const size = fstatSync(fd).size;
    b = Buffer.allocUnsafeSlow(head.length + size + tail.length);
    b.write(head, 0, 'latin1');
    for (let at = 0; at < size;) {
      const n = readSync(fd, b, head.length + at, size - at, at);
      if (n === 0) return undefined; // shrunk while read: Node's loader reports what it finds
      at += n;
    }
    b.write(tail, head.length + size, 'latin1');
  } finally {
    closeSync(fd);
  }
  if (!isAscii(b) || b.toString('latin1', head.length, head.length + 2) === '#!') return undefined;
  return { wrapped: b.toString('latin1'), key: keyOf(filename, b) };
}

/**
 * Installs the compile hook for every CommonJS module loaded from now on. Returns its figures
 * (the benchmark and the log read them), or undefined when turned off.
 */
export function installCodeCache(options: { dir?: string; holdMsMax?: number; writeAfterIdleMs?: number; main?: string; modulesRoot?: string } = {}): CodeCacheStats | undefined {
  if (process.env.POS_CODE_CACHE === '0') return undefined;
  const dir = options.dir ?? codeCacheDir();
  const file = codeCacheFile(dir);
  const stats: CodeCacheStats = { dir, file, hits: 0, misses: 0, rejected: 0, damaged: 0, resolveHits: 0, resolveMisses: 0 };
  (globalThis as Record<symbol, CodeCacheStats | undefined>)[CODE_CACHE_STATS_KEY] = stats;
  const cached = readCodeCache(file, stats);
  const compiled = new Map<string, Script>();
  const M = Module as unknown as ModuleInternals;
  const resolutions = installResolveMemo(M, cached.get(RESOLVE_KEY), stats, options.modulesRoot ?? packageRootOrUndefined());
  const original = M.prototype._compile;
  const run = (mod: NodeModule, wrapped: string, key: string, filename: string): unknown => {
    const cachedData = cached.get(key);
    const script = new Script(wrapped, {
      filename, cachedData,
      // import() inside a module resolves as Node's own loader would.
      importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (!cachedData) stats.misses++;
    else if (script.cachedDataRejected) stats.rejected++;
    else stats.hits++;
    compiled.set(key, script);
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(mod.exports, mod.exports, requireFor(mod, M), mod, filename, dirname(filename));
  };
  M.prototype._compile = function compileCached(this: NodeModule, content: string, filename: string): unknown {
    if (content.startsWith('#!')) return original.call(this, content, filename);
    return run(this, M.wrap(content), keyOf(filename, content), filename);
  };
  const main = options.main;
  if (main !== undefined) {
    const loadJs = M._extensions['.js'];
    M._extensions['.js'] = function loadMain(mod: NodeModule, filename: string): void {
      const source = filename === main ? readWrapped(filename, M, stats) : undefined;
      if (source === undefined) return loadJs.call(this, mod, filename);
      stats.mainAsBytes = true;
      run(mod, source.wrapped, source.key, filename);
    };
  }
  const writer = scheduleWrite(file, stats, compiled, cached, resolutions, options);
  (globalThis as Record<symbol, CodeCacheControl | undefined>)[CODE_CACHE_CONTROL_KEY] = writer;
  return stats;
}

/**
 * When the cache is written and let go: CODE_CACHE_WRITE_AFTER_IDLE_MS into the terminal's first
 * stay at idle, or CODE_CACHE_HOLD_MS_MAX after the start if it never gets there. Written only when
 * the file lacks something: an entry missed, refused or damaged, a resolution made afresh, or (at
 * idle) a file written before any idle, which lacks the login's functions.
 */
function scheduleWrite(file: string, stats: CodeCacheStats, compiled: Map<string, Script>, cached: Map<string, Buffer>, resolutions: { end(): Buffer | undefined },
  options: { holdMsMax?: number; writeAfterIdleMs?: number }): CodeCacheControl {
  const fileAtIdle = cached.get(MILESTONE_KEY)?.toString('latin1') === MILESTONE_IDLE;
  let held = true;
  let idleTimer: NodeJS.Timeout | undefined;
  const finish = (atIdle: boolean): void => {
    if (!held) return;
    held = false;
    clearTimeout(idleTimer);
    clearTimeout(holdTimer);
    try {
      const lacking = stats.misses > 0 || stats.rejected > 0 || stats.damaged > 0 || stats.resolveMisses > 0 || (atIdle && !fileAtIdle);
      if (!lacking) return;
      const t0 = performance.now();
      const fresh = new Map<string, Buffer>();
      for (const [key, script] of compiled) fresh.set(key, script.createCachedData());
      const memo = resolutions.end();
      if (memo) fresh.set(RESOLVE_KEY, memo);
      if (atIdle) fresh.set(MILESTONE_KEY, Buffer.from(MILESTONE_IDLE, 'latin1'));
      writeCodeCache(file, fresh);
      stats.written = fresh.size;
      stats.writeMs = Math.round(performance.now() - t0);
      if (atIdle) stats.writtenAtIdle = true;
      control.onWritten?.(stats);
    } catch {
      // A read-only or full cache directory: the next boot compiles from source, as without a cache.
    } finally {
      // The file's bytes (MBs, every entry a view of them) and the scripts are not needed after
      // the boot: kept, they would stay in the terminal's memory all day (issue 14 goal 1).
      // Modules loaded later compile from source, as without a cache.
      cached.clear();
      compiled.clear();
      resolutions.end();
    }
  };
  const holdTimer = setTimeout(() => finish(false), options.holdMsMax ?? CODE_CACHE_HOLD_MS_MAX);
  holdTimer.unref();
  const control: CodeCacheControl = {
    get held() { return held; },
    state(state: string): void {
      if (!held) return;
      if (state !== 'idle') { clearTimeout(idleTimer); idleTimer = undefined; return; }
      if (idleTimer !== undefined) return;
      idleTimer = setTimeout(() => finish(true), options.writeAfterIdleMs ?? CODE_CACHE_WRITE_AFTER_IDLE_MS);
      idleTimer.unref();
    },
  };
  return control;
}

function packageRootOrUndefined(): string | undefined {
  try { return packageRoot(); } catch { return undefined; }
}

/** The code cache file's entry saying it was written at idle (MILESTONE_IDLE), so it holds the login's functions. */
const MILESTONE_KEY = '\0milestone';
const MILESTONE_IDLE = 'idle';
/** The code cache file's entry holding the boot's module resolutions (JSON: ResolveMemo). */
const RESOLVE_KEY = '\0resolve/1';
const NODE_MODULES_PART = `${sep}node_modules${sep}`;

interface ResolveMemo {
  /** modulesFingerprint() of the boot that resolved them. */
  readonly fingerprint: string;
  /** `<requiring module's folder>\0<request>` -> the file Node resolved it to. */
  readonly entries: Record<string, string>;
}

/**
 * What changes when node_modules does: npm rewrites node_modules/.package-lock.json (and the
 * folder's own times) whenever it adds, removes or replaces a package; an image slot's
 * node_modules never changes in place (an update is a new slot, and the image prunes the hidden
 * lock file: its package-lock.json and the folder stand for it). Undefined: no node_modules here.
 */
function modulesFingerprint(root: string | undefined): string | undefined {
  if (root === undefined) return undefined;
  try {
    const folder = statSync(join(root, 'node_modules'));
    const lock = statSync(join(root, 'node_modules', '.package-lock.json'), { throwIfNoEntry: false }) ?? statSync(join(root, 'package-lock.json'), { throwIfNoEntry: false });
    const of = (st: { ino: number; size: number; mtimeMs: number } | undefined): string => (st ? `${st.ino}:${st.size}:${st.mtimeMs}` : '-');
    return `${of(folder)}/${of(lock)}`;
  } catch {
    return undefined;
  }
}

function parseMemo(bytes: Buffer | undefined, fingerprint: string | undefined): Map<string, string> {
  if (!bytes || fingerprint === undefined) return new Map();
  try {
    const memo = JSON.parse(bytes.toString('utf8')) as Partial<ResolveMemo>;
    if (memo.fingerprint !== fingerprint || typeof memo.entries !== 'object' || memo.entries === null) return new Map();
    return new Map(Object.entries(memo.entries).filter((e): e is [string, string] => typeof e[1] === 'string' && isAbsolute(e[1])));
  } catch {
    return new Map();
  }
}

/**
 * Module._resolveFilename answered from the previous boot's resolutions of files in node_modules
 * while node_modules is as it was (modulesFingerprint), each answer a file that still exists;
 * anything else (a builtin, an
 * absolute path, require.resolve with options, the main module) goes to Node as before. The key
 * is what Node's own answer depends on for such a call: the requiring module's folder (its lookup
 * paths, its package scope) and the request. `end()` restores Node's resolver and returns this
 * boot's resolutions to keep (undefined without node_modules); later requires resolve as Node does.
 */
function installResolveMemo(M: ModuleInternals, bytes: Buffer | undefined, stats: CodeCacheStats, modulesRoot: string | undefined): { end(): Buffer | undefined } {
  const fingerprint = modulesFingerprint(modulesRoot);
  const memo = parseMemo(bytes, fingerprint);
  const seen = new Map<string, string>();
  const original = M._resolveFilename;
  M._resolveFilename = function resolveMemo(request: string, parent: NodeModule | undefined, isMain: boolean, options?: unknown): string {
    if (isMain || options !== undefined || !parent?.filename || isAbsolute(request) || M.isBuiltin(request)) return original.call(this, request, parent, isMain, options);
    const key = `${dirname(parent.filename)}\0${request}`;
    const hit = memo.get(key);
    if (hit !== undefined && statSync(hit, { throwIfNoEntry: false })?.isFile()) {
      stats.resolveHits++;
      seen.set(key, hit);
      return hit;
    }
    const filename = original.call(this, request, parent, isMain, options);
    // Only what lies in node_modules, which the fingerprint covers: a rebuild of the runtime's own
    // folders (tsc leaves stale files behind) could make Node prefer another file than the memo's.
    if (filename.includes(NODE_MODULES_PART) && seen.get(key) !== filename) { stats.resolveMisses++; seen.set(key, filename); }
    return filename;
  };
  let ended = false;
  return {
    end(): Buffer | undefined {
      if (ended) return undefined;
      ended = true;
      if (M._resolveFilename.name === 'resolveMemo') M._resolveFilename = original;
      memo.clear();
      if (fingerprint === undefined) return undefined;
      const out: ResolveMemo = { fingerprint, entries: Object.fromEntries(seen) };
      seen.clear();
      return Buffer.from(JSON.stringify(out), 'utf8');
    },
  };
}

/** The `require` a module gets from Node (lib/internal/modules/helpers makeRequireFunction). */
function requireFor(mod: NodeModule, M: ModuleInternals): NodeJS.Require {
  const req = ((id: string) => mod.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: { paths?: string[] }) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => (Module as unknown as { _resolveLookupPaths(r: string, m: NodeModule): string[] | null })._resolveLookupPaths(request, mod);
  req.resolve = resolve;
  // As Node's own: the process's main module, which is this module's main only when this module
  // was loaded by it (dist/bundle/terminal.js makes the bundle the main module after loading this).
  req.main = process.mainModule;
  req.extensions = M._extensions;
  req.cache = M._cache;
  return req;
}

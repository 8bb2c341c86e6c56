/**
 * `npm run bundle`: the terminal's normal boot path as one JavaScript file (issue 14 goal 6: start
 * on a slow CPU). Loading 220-280 CommonJS modules costs about 1.4 s under a quota calibrated to
 * a 1 GHz Cortex-A7 (docs/BENCHMARKS.md, "Start, keys and the password check"): each is a file found, read, wrapped and compiled. The
 * bundle (esbuild) is one file read and compiled once; what it requires only on use (the Linux
 * buses, management, QR code, the simulator's devices) is wrapped by esbuild in a function that
 * runs on the first require, as before.
 *
 *   dist/bundle/terminal-main.js      the bundle (boot/terminal-main.ts and what it loads)
 *   dist/bundle/terminal-main.js.map  its source map (sources named relative to it, no contents):
 *                                     `node --enable-source-maps` or an offline tool maps a
 *                                     stack trace from the field to the TypeScript lines
 *   dist/bundle/terminal.js           the loader the unit starts: the bundle through the V8 code
 *                                     cache (boot/code-cache.ts), which a main module cannot use
 *
 * Left out of the bundle and loaded from node_modules/ as before: packages with native addons
 * and the JS that finds their .node files by path (lmdb, cbor-extract, msgpackr-extract,
 * serialport, i2c-bus, epoll, onoff), large packages required only on use (mqtt, iconv-lite,
 * pngjs: BUNDLE_EXTERNAL_PACKAGES), and package.json (the slot's own version, read at run time).
 * Without `withSim` the simulator's modules are left out too (a release image without --with-sim
 * has no sim/: the terminal says a simulator board needs it, boot/optional-sim.ts).
 *
 * `__dirname` in the project's modules is rewritten to the folder their compiled JS has beside the
 * bundle (dist/<folder>), so files found beside the code (fonts' lists, the verify child and
 * worker, which stay compiled JS in dist/) are where they were. The compiled dist/ tree stays the
 * fallback: the unit starts dist/boot/terminal-main.js when there is no bundle.
 */
import { build, BuildOptions, Plugin } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * Left in node_modules/: packages with native addons and packages whose JS finds a .node file by
 * path; and large packages the terminal requires only on use, whose source would otherwise sit
 * in every boot's bundle (V8 keeps a script's source in the heap): the management channel's mqtt
 * (with ws, socks and mqtt-packet about 560 KB, only on boards with a broker), iconv-lite (500 KB
 * of code pages: loaded from node_modules it reads only the GB18030 tables it is asked for) and
 * pngjs (the factory's QR labels).
 */
export const BUNDLE_EXTERNAL_PACKAGES = [
  'lmdb', 'cbor-extract', 'msgpackr-extract', 'serialport', '@serialport/*', 'i2c-bus', 'epoll', 'onoff', 'better-sqlite3',
  'node-gyp-build', 'node-gyp-build-optional-packages',
  'mqtt', 'iconv-lite', 'pngjs',
] as const;
export const BUNDLE_DIR = join('dist', 'bundle');
export const BUNDLE_FILE = 'terminal-main.js';
export const BUNDLE_LOADER_FILE = 'terminal.js';

export interface BundleOptions {
  /** The sources' root (holds boot/, common/, ..., node_modules/). */
  readonly root: string;
  /** Where the bundle goes; default <root>/dist/bundle. */
  readonly outDir?: string;
  /** The compiled JS tree the bundle's `__dirname`s point into; default <root>/dist. */
  readonly codeRoot?: string;
  /** Bundle the simulator's modules (a developer's tree, an image built --with-sim). */
  readonly withSim: boolean;
  /** Minify whitespace and syntax (names are kept: stack traces stay readable without the map). */
  readonly minify?: boolean;
}

export interface BundleResult {
  readonly file: string;
  readonly loader: string;
  readonly bytes: number;
  readonly mapBytes: number;
  readonly inputs: number;
}

/** `__dirname` -> the folder of this module's compiled JS, relative to the bundle at run time. */
function dirnamePlugin(root: string, outDir: string, codeRoot: string): Plugin {
  return {
    name: 'pos-dirname',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const rel = relative(root, args.path);
        if (rel.startsWith('..') || rel.startsWith('node_modules')) return undefined;
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('__dirname')) return { contents: source, loader: 'ts' };
        const target = relative(outDir, join(codeRoot, dirname(rel))).split('\\').join('/');
        const expr = `require("node:path").join(__dirname, ${JSON.stringify(target)})`;
        return { contents: source.replace(/\b__dirname\b/g, expr), loader: 'ts' };
      });
    },
  };
}

/** package.json (the slot's version) and, without the simulator, sim/ stay outside the bundle. */
function externalsPlugin(root: string, withSim: boolean): Plugin {
  return {
    name: 'pos-externals',
    setup(b) {
      // The project's own package.json only (a dependency's, e.g. thread-stream's, is bundled).
      b.onResolve({ filter: /(^|\/)package\.json$/ }, (args) => (args.importer.includes('node_modules') ? undefined : { path: args.path, external: true }));
      if (!withSim) b.onResolve({ filter: /^\.{1,2}\/(\.\.\/)*sim\// }, (args) => ({ path: args.path, external: true }));
      // A package's node:assert (sonic-boom loads it at start for one check): common/assert-lazy.ts
      // loads it only when a check fails or another member is used. The project's own code and the
      // shim itself get Node's.
      b.onResolve({ filter: /^(node:)?assert$/ }, (args) => (args.importer.includes(`${sep}node_modules${sep}`) ? { path: join(root, 'common', 'assert-lazy.ts') } : undefined));
    },
  };
}

/**
 * The bundle must be ASCII: the loader reads it as bytes in one read only then (boot/code-cache.ts
 * readWrapped; a non-ASCII bundle loads as Node loads it, ~1,200 more fresh pages at every boot).
 * esbuild escapes non-ASCII in strings but not in regular expressions: write those \u escapes.
 */
function assertAscii(file: string): void {
  const b = readFileSync(file);
  const at = b.findIndex((byte) => byte > 0x7f);
  if (at >= 0) throw new Error(`${file}: byte ${at} is not ASCII, near ${JSON.stringify(b.toString('utf8', Math.max(0, at - 60), at + 20))}; write it as a \\u escape in the source (a regular expression's literal character)`);
}

/** The loader the unit starts: installs the V8 code cache, then runs the bundle as the main module. */
const LOADER_SOURCE = `'use strict';
// Generated by scripts/image/bundle.ts. The bundle is the main module (require.main) and loads
// through the V8 code cache (boot/code-cache.ts), installed here first: a main module cannot use
// it otherwise. POS_CODE_CACHE=0 turns the cache off.
const path = require('node:path');
const main = path.join(__dirname, ${JSON.stringify(BUNDLE_FILE)});
require('./code-cache.js').installCodeCache({ main });
process.argv[1] = main;
require('node:module').runMain();
`;

/**
 * A new file under the name, never the old one rewritten: a terminal running the old bundle reads
 * it through a mapping (boot/code-cache.ts, native/mapped_file.c), where a file truncated in place
 * would make its next read of a page a SIGBUS.
 */
function writeReplacing(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

export async function buildBundle(o: BundleOptions): Promise<BundleResult> {
  const root = resolve(o.root);
  const outDir = resolve(o.outDir ?? join(root, BUNDLE_DIR));
  const codeRoot = resolve(o.codeRoot ?? join(root, 'dist'));
  mkdirSync(outDir, { recursive: true });
  const common: BuildOptions = {
    absWorkingDir: root,
    // The image's sources reach node_modules/ through a symbolic link to the developer's: followed,
    // the bundle and its map would name that folder (a path of the build machine, not reproducible).
    preserveSymlinks: true,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: [...BUNDLE_EXTERNAL_PACKAGES],
    minifyWhitespace: o.minify ?? true,
    minifySyntax: o.minify ?? true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'silent',
    metafile: true,
    plugins: [dirnamePlugin(root, outDir, codeRoot), externalsPlugin(root, o.withSim)],
  };
  const main = await build({
    ...common,
    entryPoints: [join(root, 'boot', 'terminal-main.ts')],
    outfile: join(outDir, BUNDLE_FILE),
    sourcemap: 'linked',
    sourcesContent: false,
    write: false,
  });
  // The code cache for the loader: boot/code-cache.ts alone (it needs common/assets.ts and common/own-addon.ts).
  const cacheModule = await build({ ...common, entryPoints: [join(root, 'boot', 'code-cache.ts')], outfile: join(outDir, 'code-cache.js'), sourcemap: false, write: false });
  for (const out of [...main.outputFiles, ...cacheModule.outputFiles]) writeReplacing(out.path, out.contents);
  const loader = join(outDir, BUNDLE_LOADER_FILE);
  writeReplacing(loader, Buffer.from(LOADER_SOURCE));
  const file = join(outDir, BUNDLE_FILE);
  assertAscii(file);
  return {
    file, loader,
    bytes: readFileSync(file).length,
    mapBytes: readFileSync(`${file}.map`).length,
    inputs: Object.keys(main.metafile?.inputs ?? {}).length,
  };
}

/** `npm run bundle [-- --root DIR --out DIR --code-root DIR --without-sim --no-minify]` (the image builder passes its stage). */
async function cli(argv: readonly string[]): Promise<void> {
  const value = (flag: string): string | undefined => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] : undefined; };
  const withSim = !argv.includes('--without-sim');
  const root = value('--root') ?? resolve(__dirname, '..', '..');
  const r = await buildBundle({ root, outDir: value('--out'), codeRoot: value('--code-root'), withSim, minify: !argv.includes('--no-minify') });
  process.stdout.write(`${relative(process.cwd(), r.file)}: ${r.bytes} bytes from ${r.inputs} modules (map ${r.mapBytes} bytes${withSim ? ', with the simulator' : ''}); loader ${relative(process.cwd(), r.loader)}\n`);
}

if (require.main === module) {
  cli(process.argv.slice(2)).catch((e: unknown) => { process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`); process.exit(2); });
}

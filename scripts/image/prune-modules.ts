/**
 * What a terminal never loads, taken out of the release image's node_modules (scripts/image/build-image.ts).
 *
 * The signed manifest lists every file (path, size, SHA-256, mode: about 160 bytes each) and is
 * bounded by MANIFEST_BYTES_MAX (256 KiB, boot/update.ts); at 1,579 files it was 250,009 bytes.
 * The runtime is CommonJS on Node 20, whose require() never loads an ES module, and runs on Linux:
 *
 *   sources, docs, tests, type declarations, source maps, npm's bookkeeping, lint/editor files
 *   ES-module copies: *.mjs, *.esm.js, folders `esm` (a package's `import` condition)
 *   browser bundles: *.umd.js / *.umd.min.js, mqtt's dist/ (mqtt.js, mqtt.min.js, mqtt.esm.js
 *                    for browsers; node loads build/)
 *   development builds: *.development.* (a `development` condition node is never started with)
 *   @babel/runtime's helpers that no package requires (pruneBabelHelpers)
 *   prebuilds for other platforms, other node ABIs and musl
 *
 * Licences stay. Nothing the runtime can load is taken: a package's CommonJS entry (main, or
 * exports' require/node/default for ".") is kept whatever its name, and a static relative
 * require() in the JavaScript left that resolved before pruning and does not after fails the build.
 */
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PosError } from '../../common/errors';
import type { Arch } from './build-image';

const JUNK_DIRS = new Set(['.bin', 'test', 'tests', '__tests__', 'docs', 'example', 'examples', 'benchmark', 'benchmarks', '.github', '.vscode', 'coverage', 'esm']);
const JUNK_FILE = /(\.md|\.markdown|\.map|\.ts|\.mts|\.cts|\.cc|\.cpp|\.c|\.h|\.hpp|\.gyp|\.gypi|\.yml|\.yaml|\.npmignore|\.editorconfig|\.travis\.yml|\.eslintrc(\.\w+)?|\.prettierrc(\.\w+)?|\.jshintrc|\.gitattributes|Makefile|tsconfig\.json|\.tsbuildinfo|\.eslintignore|\.prettierignore|\.releaserc|\.iml|\.mjs|\.esm\.js|\.umd\.js|\.umd\.min\.js|\.development\.[a-z.]*js)$/;
/** Build-time only: C++ headers for addons, type declarations. */
const BUILD_ONLY_PACKAGES = ['nan', 'node-addon-api', '@types', 'undici-types'];
/** Browser bundles inside packages whose node entry is elsewhere (kept if it is not). */
const BROWSER_BUNDLE_DIRS = ['mqtt/dist'];
/** Relative require() calls in a JavaScript file (the static ones: what a bundler would follow). */
const RELATIVE_REQUIRE = /\brequire\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
/** A require of one @babel/runtime helper: by name from a compiled package, or `../helpers/x` from @babel/runtime's regenerator. */
const BABEL_HELPER = /(?:@babel\/runtime\/helpers\/|\.\.\/helpers\/)(\w+)/g;
/** How require() completes a relative path. */
const RESOLVE_SUFFIXES = ['', '.js', '.json', '.node', '.cjs', '/index.js', '/index.json'];

/**
 * Prunes `nm` (see the file header) for a terminal of `arch` whose node has ABI `moduleAbi`. A
 * file that is a package's CommonJS entry is never taken, whatever its name (lru-cache's main is
 * index.min.js); a relative require() that resolved before and does not after fails the build.
 */
export function pruneNodeModules(nm: string, arch: Arch, moduleAbi: number): void {
  const before = new Set(unresolvedRequires(nm));
  const entries = packageEntries(nm);
  const keeps = (p: string): boolean => [...entries].some((e) => e === p || e.startsWith(`${p}/`));
  for (const p of BUILD_ONLY_PACKAGES) rmSync(join(nm, p), { recursive: true, force: true });
  for (const p of BROWSER_BUNDLE_DIRS) if (!keeps(join(nm, p))) rmSync(join(nm, p), { recursive: true, force: true });
  rmSync(join(nm, '.bin'), { recursive: true, force: true });
  rmSync(join(nm, '.package-lock.json'), { force: true });
  rmSync(join(nm, 'lmdb', 'dependencies'), { recursive: true, force: true });
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if ((JUNK_DIRS.has(e.name) && !keeps(p)) || e.name === 'src' && existsSync(join(dir, 'binding.gyp'))) { rmSync(p, { recursive: true, force: true }); continue; }
        if (e.name === 'prebuilds') { for (const plat of readdirSync(p)) if (plat !== `linux-${arch}`) rmSync(join(p, plat), { recursive: true, force: true }); }
        walk(p);
      } else if ((JUNK_FILE.test(e.name) && !entries.has(p)) || otherLibcOrAbi(e.name, moduleAbi)) rmSync(p);
    }
  };
  walk(nm);
  pruneBabelHelpers(nm);
  const broken = unresolvedRequires(nm).filter((x) => !before.has(x));
  if (broken.length) throw new PosError('OPR_INPUT', `image: pruning node_modules took files the runtime requires:\n${broken.slice(0, 20).join('\n')}`);
}

/**
 * @babel/runtime ships every helper (124 files); compiled packages require the few they use by
 * name (`@babel/runtime/helpers/typeof`), and helpers require each other by relative path. Keeps
 * those and what they require, takes the rest.
 */
function pruneBabelHelpers(nm: string): void {
  const helpers = join(nm, '@babel', 'runtime', 'helpers');
  if (!existsSync(helpers)) return;
  const wanted: string[] = [];
  eachFile(nm, (p, name) => {
    if (!/\.(js|cjs)$/.test(name) || p.startsWith(`${helpers}/`)) return;
    for (const m of readFileSync(p, 'utf8').matchAll(BABEL_HELPER)) wanted.push(`${m[1]}.js`);
  });
  const keep = new Set<string>();
  while (wanted.length) {
    const name = wanted.pop()!;
    if (keep.has(name) || !existsSync(join(helpers, name))) continue;
    keep.add(name);
    for (const m of readFileSync(join(helpers, name), 'utf8').matchAll(RELATIVE_REQUIRE)) wanted.push(m[1].replace(/^\.\//, '').replace(/(\.js)?$/, '.js'));
  }
  for (const e of readdirSync(helpers, { withFileTypes: true })) if (e.isFile() && !keep.has(e.name)) rmSync(join(helpers, e.name));
}

/**
 * lmdb's platform package carries one build per node ABI and for musl; the image's node loads
 * only its own ABI's (or the N-API one) on glibc.
 */
function otherLibcOrAbi(name: string, moduleAbi: number): boolean {
  if (!name.endsWith('.node')) return false;
  const abi = /\.abi(\d+)\./.exec(name);
  return name.includes('.musl.') || (abi !== null && Number(abi[1]) !== moduleAbi);
}

function resolves(base: string): boolean {
  return RESOLVE_SUFFIXES.some((s) => existsSync(base + s) && (s !== '' || statSync(base).isFile()));
}

/** A package's CommonJS entry for ".": exports (require, node, default, nested), else main. */
function cjsEntry(pkg: { main?: unknown; exports?: unknown }): string | undefined {
  const pick = (x: unknown): string | undefined => {
    if (typeof x === 'string') return x;
    if (!x || typeof x !== 'object' || Array.isArray(x)) return undefined;
    const o = x as Record<string, unknown>;
    if ('.' in o) return pick(o['.']);
    for (const c of ['require', 'node', 'default']) if (c in o) { const r = pick(o[c]); if (r) return r; }
    return undefined;
  };
  return pick(pkg.exports) ?? (typeof pkg.main === 'string' ? pkg.main : undefined);
}

/** Every package's CommonJS entry ('.': exports' require/node/default, else main) as an absolute file path. */
export function packageEntries(nm: string): Set<string> {
  const out = new Set<string>();
  eachFile(nm, (p, name) => {
    if (name !== 'package.json') return;
    const pkg = JSON.parse(readFileSync(p, 'utf8')) as { main?: unknown; exports?: unknown };
    const entry = cjsEntry(pkg);
    const base = entry === undefined ? undefined : join(p, '..', entry);
    const file = base === undefined ? undefined : RESOLVE_SUFFIXES.map((x) => base + x).find((f) => existsSync(f) && statSync(f).isFile());
    if (file) out.add(file);
  });
  return out;
}

/** "file: require('x')" for every static relative require() in the JavaScript under `nm` that does not resolve. */
export function unresolvedRequires(nm: string): string[] {
  const out: string[] = [];
  eachFile(nm, (p, name) => {
    if (!/\.(js|cjs)$/.test(name)) return;
    for (const m of readFileSync(p, 'utf8').matchAll(RELATIVE_REQUIRE)) if (!resolves(join(p, '..', m[1]))) out.push(`${relative(nm, p)}: require('${m[1]}')`);
  });
  return out;
}

function eachFile(dir: string, fn: (path: string, name: string) => void): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) eachFile(p, fn);
    else if (e.isFile()) fn(p, e.name);
  }
}

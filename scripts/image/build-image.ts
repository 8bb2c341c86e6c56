/**
 * `npm run image -- --arch x64|arm64 --key PEM --out FILE [--version X.Y.Z] [--board B] [--with-sim]
 *                   [--commit REV] [--work DIR]`
 *
 * The release image: one signed package in the update format (boot/UPDATE_FORMAT.md) holding a
 * complete slot for the target CPU (README, "Release image"):
 *
 *   dist/               the runtime compiled from the commit (git archive, never the working tree)
 *   dist/bundle/        the terminal's boot path bundled into one file (esbuild; scripts/image/bundle.ts)
 *                       with its source map, which the unit starts; dist/boot/ is its fallback
 *   node_modules/       production dependencies resolved from package-lock.json for the target
 *                       CPU; native addons prebuilt by their packages or compiled here
 *   node/bin/node       node for the target, from the npm package node-linux-<arch> (pinned)
 *   build/Release/      the runtime's own addon (native/gpio_v2.c), compiled for the target
 *   board-configs/      the board files; systemd/pos-terminal.service; package.json
 *   ui-lcd/font/        GB2312's glyphs (the LCD's fallback, the virtual printer's font), licence
 *
 * Reproducible: inputs are the commit, the lockfile, the pinned node package (integrity checked)
 * and Debian's compilers; createdAt is the commit's date; paths are byte-ordered and modes
 * normalised (boot/image-pack.ts); the package format stores no file times or owners; compiled
 * addons are built with the work folder mapped away (-ffile-prefix-map) and stripped.
 */
import { execFileSync, ExecFileSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { PosError } from '../../common/errors';
import { ImageAddon, ImageInfo, listTree, packImage } from '../../boot/image-pack';
import { writeFileAtomic } from '../../boot/update-slots';
import { PACKAGE_MAGIC, checkVersion } from '../../boot/update';
import { BUNDLE_DIR } from './bundle';
import { pruneNodeModules } from './prune-modules';

export type Arch = 'x64' | 'arm64';
const REPO = resolve(__dirname, '..', '..');
/** Downloads shared by every build (node packages, npm's cache), under the project's .cache/. */
const CACHE = join(REPO, '.cache', 'image');

/** The node in the image: the host's version (20.20.2), pinned with the registry's integrity. */
export const NODE_VERSION = '20.20.2';
const NODE_INTEGRITY: Record<Arch, string> = {
  x64: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
  arm64: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==',
};
/** Addons whose packages publish no linux prebuilds: compiled for the target by this script. */
export const COMPILED_ADDONS = ['i2c-bus', 'epoll'] as const;
/** Debian's compilers: native for x64, g++-aarch64-linux-gnu for arm64. */
const TOOLCHAIN: Record<Arch, { cc: string; cxx: string; strip: string }> = {
  x64: { cc: 'gcc', cxx: 'g++', strip: 'strip' },
  arm64: { cc: 'aarch64-linux-gnu-gcc', cxx: 'aarch64-linux-gnu-g++', strip: 'aarch64-linux-gnu-strip' },
};
/** ELF e_machine of each target: every .node in the image must be one of these. */
const ELF_MACHINE: Record<Arch, number> = { x64: 0x3e, arm64: 0xb7 };
/**
 * Board files that only make sense with the simulator in the image: without it, the device's
 * entry points load nothing from sim/ (they require it on use, boot/optional-sim.ts).
 */
const SIM_BOARD_FILES = ['bench-rig.json', 'sim.json'];
/** Source folders compiled into dist/ (tsconfig.build.json) and what else the slot needs. */
const ARCHIVE_PATHS = ['boot', 'common', 'hal', 'runtime', 'sim', 'storage', 'ui-lcd', 'board-configs', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'native', 'binding.gyp'];
/** The runtime's own addon (native/gpio_v2.c, hal/gpio-native.ts looks for it at <slot>/build/Release). */
const OWN_ADDON_DIR = 'build/Release';
/** One child command (tsc, npm, node-gyp) may take this long before the build gives up. */
const COMMAND_TIMEOUT_MS = 15 * 60_000;
const COMMAND_OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

export interface ImageOptions {
  readonly arch: Arch;
  readonly keyFile: string;
  readonly out: string;
  readonly version?: string;
  readonly board: string;
  readonly withSim: boolean;
  readonly commit: string;
  /** Scratch folder (source export, npm tree, staging); default .cache/image/<arch>. */
  readonly work?: string;
  readonly log?: (line: string) => void;
}

export interface ImageResult {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly files: number;
  readonly manifestBytes: number;
  readonly info: ImageInfo;
  readonly stepsMs: Record<string, number>;
}

function run(cmd: string, args: readonly string[], o: ExecFileSyncOptions = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, maxBuffer: COMMAND_OUTPUT_BYTES_MAX, stdio: ['ignore', 'pipe', 'pipe'], ...o }).toString();
}

// ---------------------------------------------------------------- inputs

/** The commit's sources, exported with git archive: other people's unsaved edits never leak in. */
function exportSources(commit: string, src: string): void {
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  // An older commit may lack some paths (native/ came with issue 15): archive what it has.
  const present = new Set(run('git', ['-C', REPO, 'ls-tree', '--name-only', commit]).split('\n'));
  const tar = execFileSync('git', ['-C', REPO, 'archive', '--format=tar', commit, '--', ...ARCHIVE_PATHS.filter((p) => present.has(p))], { maxBuffer: COMMAND_OUTPUT_BYTES_MAX });
  execFileSync('tar', ['-x', '-C', src], { input: tar });
}

/**
 * The node-linux-<arch> package from the registry (cached), checked against the pinned integrity.
 * Builds may run at once and share the cache (`npm test`'s image test beside the guest suite's
 * disks in .ci/run): the package and the extracted folder appear under their names only whole
 * (written beside them under this process's own name, then renamed), so a build never reads a
 * folder another is still extracting or removing.
 */
function fetchNode(arch: Arch): { dir: string; moduleAbi: number } {
  const pkg = `node-linux-${arch}@${NODE_VERSION}`;
  const dir = join(CACHE, 'node', `${arch}-${NODE_VERSION}`);
  const tgz = join(CACHE, 'node', `node-linux-${arch}-${NODE_VERSION}.tgz`);
  const mine = `.partial-${process.pid}-${Date.now()}`;
  if (!existsSync(tgz)) {
    const packDir = join(CACHE, 'node', mine);
    mkdirSync(packDir, { recursive: true });
    try {
      run('npm', ['pack', pkg, '--pack-destination', packDir, '--cache', join(CACHE, 'npm-cache')]);
      renameSync(join(packDir, basename(tgz)), tgz);
    } finally { rmSync(packDir, { recursive: true, force: true }); }
  }
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
  if (integrity !== NODE_INTEGRITY[arch]) throw new PosError('OPR_INPUT', `${tgz}: integrity ${integrity} is not the pinned ${NODE_INTEGRITY[arch]}: delete it and build again`);
  if (!existsSync(dir)) {
    const partial = `${dir}${mine}`;
    mkdirSync(partial, { recursive: true });
    try {
      run('tar', ['-xzf', tgz, '-C', partial, '--strip-components=1', 'package/bin/node', 'package/LICENSE', 'package/include']);
      // Another build may have put its whole copy in place meanwhile: theirs stands, ours goes.
      try { renameSync(partial, dir); } catch (e) { if (!existsSync(dir)) throw e; }
    } finally { rmSync(partial, { recursive: true, force: true }); }
  }
  const header = readFileSync(join(dir, 'include', 'node', 'node_version.h'), 'utf8');
  const abi = /#define NODE_EMBEDDER_MODULE_VERSION (\d+)/.exec(header) ?? /#define NODE_MODULE_VERSION (\d+)/.exec(header);
  if (!abi) throw new PosError('OPR_INPUT', `${dir}: no NODE_MODULE_VERSION in node_version.h`);
  return { dir, moduleAbi: Number(abi[1]) };
}

// ---------------------------------------------------------------- dist/

function compile(src: string, stage: string): void {
  // tsc and the type packages come from the developer's install (dev dependencies).
  rmSync(join(src, 'node_modules'), { force: true });
  execFileSync('ln', ['-s', join(REPO, 'node_modules'), join(src, 'node_modules')]);
  run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(src, 'tsconfig.build.json'),
    '--outDir', join(stage, 'dist'), '--sourceMap', 'false', '--incremental', 'false'], { cwd: src });
}

/** Modules a file requires at load time (tsc's CommonJS output puts them at column 0). */
function staticRequires(file: string): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(/^\S[^\n]*?require\("(\.{1,2}\/[^"]+)"\)/gm)) {
    const base = resolve(dirname(file), m[1]);
    const hit = [base, `${base}.js`, join(base, 'index.js')].find((c) => existsSync(c) && statSync(c).isFile());
    if (hit) out.push(hit);
  }
  return out;
}

const ENTRY_POINTS = ['boot/terminal-main.js', 'boot/pos.js'];

/**
 * Without --with-sim: the simulator's modules that the device's entry points load at start stay
 * (none today: boot/ requires sim/ on use only, boot/optional-sim.ts); every other sim/ module,
 * and the simulator's board files, go.
 */
function pruneSimulator(stage: string): number {
  const dist = join(stage, 'dist');
  const all = listTree(dist).filter((p) => p.endsWith('.js')).map((p) => join(dist, p));
  const simDir = join(dist, 'sim') + '/';
  const needed = new Set<string>();
  // What a device starts: the terminal, the pos command, and the children they spawn by path.
  const queue = all.filter((f) => !f.startsWith(simDir) && (ENTRY_POINTS.includes(relative(dist, f)) || /-(main|child|worker)\.js$/.test(f)));
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (needed.has(f)) continue;
    needed.add(f);
    queue.push(...staticRequires(f));
  }
  let removed = 0;
  for (const f of all) if (f.startsWith(simDir) && !needed.has(f)) { rmSync(f); removed++; }
  for (const b of SIM_BOARD_FILES) rmSync(join(stage, 'board-configs', b), { force: true });
  return removed;
}

/** Board files, fonts' data and licences, the unit, and a package.json for the slot. */
function copyRuntimeFiles(src: string, stage: string, version: string): void {
  cpSync(join(src, 'board-configs'), join(stage, 'board-configs'), { recursive: true });
  for (const f of ['extra-chars.txt', 'LICENSE']) copyFileSync(join(src, 'ui-lcd', 'font', f), join(stage, 'dist', 'ui-lcd', 'font', f));
  // GB2312's glyphs, where common/assets.ts finds them: the LCD draws what its subset lacks (a
  // merchant name from the host) from this file, and the virtual printer prints with it.
  mkdirSync(join(stage, 'ui-lcd', 'font'), { recursive: true });
  for (const f of ['gb2312-unifont.txt', 'LICENSE']) copyFileSync(join(src, 'ui-lcd', 'font', f), join(stage, 'ui-lcd', 'font', f));
  mkdirSync(join(stage, 'systemd'), { recursive: true });
  copyFileSync(join(src, 'boot', 'pos-terminal.service'), join(stage, 'systemd', 'pos-terminal.service'));
  const pkg = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')) as Record<string, unknown>;
  const slotPkg = { name: pkg.name, version, description: pkg.description, license: pkg.license, private: true, engines: pkg.engines, dependencies: pkg.dependencies };
  writeFileSync(join(stage, 'package.json'), JSON.stringify(slotPkg, null, 2) + '\n');
}

/**
 * dist/bundle/: the terminal's boot path as one file and its loader (scripts/image/bundle.ts), from
 * the same sources; the unit starts it, and dist/boot/terminal-main.js stays as the fallback. In a
 * child process: esbuild's plugins need its asynchronous API, and this build is synchronous.
 */
function bundle(src: string, stage: string, withSim: boolean, log: (line: string) => void): void {
  const out = run(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), join(REPO, 'scripts', 'image', 'bundle.ts'),
    '--root', src, '--out', join(stage, BUNDLE_DIR), '--code-root', join(stage, 'dist'), ...(withSim ? [] : ['--without-sim'])], { cwd: REPO, env: { ...process.env, TS_NODE_PROJECT: join(REPO, 'tsconfig.json') } });
  log(`    ${out.trim().split(stage).join('<stage>')}`);
}

// ---------------------------------------------------------------- node_modules/

/**
 * Production dependencies at the lockfile's versions, platform packages chosen for the target
 * (npm's --cpu/--os/--libc), install scripts off: nothing is built for the build machine.
 */
function installDependencies(src: string, npmDir: string, arch: Arch): void {
  rmSync(npmDir, { recursive: true, force: true });
  mkdirSync(npmDir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')) as Record<string, unknown>;
  // better-sqlite3 (optional) is for bench/ only; devDependencies never ship.
  writeFileSync(join(npmDir, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, private: true, dependencies: pkg.dependencies }, null, 2));
  copyFileSync(join(src, 'package-lock.json'), join(npmDir, 'package-lock.json'));
  run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', `--cpu=${arch}`, '--os=linux', '--libc=glibc',
    '--cache', join(CACHE, 'npm-cache')], { cwd: npmDir });
}

function packageVersion(dir: string): string {
  return String((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? '?');
}

/** node-gyp bundled with npm (the build machine's npm; no download: headers come from --nodedir). */
function nodeGypScript(): string {
  const npmRoot = run('npm', ['root', '-g']).trim();
  const candidates = [join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  const hit = candidates.find((c) => existsSync(c));
  if (!hit) throw new PosError('OPR_INPUT', `node-gyp not found beside npm (${candidates.join(', ')}): install npm with its bundled node-gyp`);
  return hit;
}

/** Builds one addon against the image's node headers with the target's compiler; keeps only the .node. */
function compileAddon(pkgDir: string, arch: Arch, nodeDir: string, work: string): string[] {
  const tc = TOOLCHAIN[arch];
  const gyp = nodeGypScript();
  // The work folder is mapped to "." so no absolute path of this machine lands in the binary.
  const flags = `-ffile-prefix-map=${work}=. -fdebug-prefix-map=${work}=.`;
  const env = { ...process.env, CC: tc.cc, CXX: tc.cxx, LINK: tc.cxx, CFLAGS: flags, CXXFLAGS: flags, SOURCE_DATE_EPOCH: '0' };
  run(process.execPath, [gyp, 'rebuild', `--nodedir=${nodeDir}`, `--arch=${arch}`, '--release', '-j', '2'], { cwd: pkgDir, env });
  const release = join(pkgDir, 'build', 'Release');
  const built = readdirSync(release).filter((f) => f.endsWith('.node'));
  if (built.length === 0) throw new PosError('OPR_INPUT', `${pkgDir}: node-gyp built no .node file`);
  const keep = join(pkgDir, '.keep-node');
  mkdirSync(keep, { recursive: true });
  for (const f of built) { run(tc.strip, ['--strip-unneeded', join(release, f)]); copyFileSync(join(release, f), join(keep, f)); }
  rmSync(join(pkgDir, 'build'), { recursive: true, force: true });
  mkdirSync(release, { recursive: true });
  for (const f of built) copyFileSync(join(keep, f), join(release, f));
  rmSync(keep, { recursive: true, force: true });
  return built.map((f) => `build/Release/${f}`);
}

function compilerVersion(arch: Arch): string {
  return run(TOOLCHAIN[arch].cxx, ['--version']).split('\n')[0].trim();
}

function checkMachine(file: string, arch: Arch): void {
  const machine = readFileSync(file).readUInt16LE(18);
  if (machine !== ELF_MACHINE[arch]) throw new PosError('OPR_INPUT', `${file}: ELF machine 0x${machine.toString(16)}, not ${arch}: a wrong prebuild was kept`);
}

/** The runtime's own addon, when the commit has one: compiled like i2c-bus, into <slot>/build/Release. */
function compileOwnAddon(src: string, stage: string, arch: Arch, nodeDir: string, work: string): string[] {
  if (!existsSync(join(src, 'binding.gyp'))) return [];
  const files = compileAddon(src, arch, nodeDir, work);
  mkdirSync(join(stage, OWN_ADDON_DIR), { recursive: true });
  for (const f of files) copyFileSync(join(src, f), join(stage, f));
  return files;
}

/** Every .node file: its package, whether it was compiled here, and a check of its CPU. */
function describeAddons(stage: string, arch: Arch, compiledFrom: string, own: readonly string[], runtimeVersion: string): ImageAddon[] {
  for (const f of own) checkMachine(join(stage, f), arch);
  const ownAddon: ImageAddon[] = own.length === 0 ? [] : [{ name: 'pos-runtime (native/)', version: runtimeVersion, files: [...own], obtained: 'compiled', from: compiledFrom }];
  const nm = join(stage, 'node_modules');
  const byPackage = new Map<string, { version: string; files: string[] }>();
  for (const p of listTree(nm).filter((f) => f.endsWith('.node'))) {
    checkMachine(join(nm, p), arch);
    const parts = p.split('/');
    const pkgParts = parts[0].startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1);
    const name = pkgParts.join('/');
    const entry = byPackage.get(name) ?? { version: packageVersion(join(nm, ...pkgParts)), files: [] };
    entry.files.push(`node_modules/${p}`);
    byPackage.set(name, entry);
  }
  return [...ownAddon, ...[...byPackage.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, e]): ImageAddon => {
    const compiled = (COMPILED_ADDONS as readonly string[]).includes(name);
    return { name, version: e.version, files: e.files, obtained: compiled ? 'compiled' : 'prebuilt', from: compiled ? compiledFrom : `published by ${name}@${e.version}` };
  })];
}

// ---------------------------------------------------------------- base OS

/** The newest glibc / libstdc++ symbol versions node and the addons ask for. */
function libraryNeeds(stage: string): { glibc: string; glibcxx: string } {
  let glibc = [0, 0], glibcxx = [0, 0, 0];
  const newer = (a: number[], b: number[]): boolean => {
    const i = a.findIndex((x, k) => x !== b[k]);
    return i >= 0 && a[i] > b[i];
  };
  for (const p of listTree(stage).filter((f) => f === 'node/bin/node' || f.endsWith('.node'))) {
    const text = readFileSync(join(stage, p)).toString('latin1');
    for (const m of text.matchAll(/GLIBC_(\d+)\.(\d+)/g)) { const v = [Number(m[1]), Number(m[2])]; if (newer(v, glibc)) glibc = v; }
    for (const m of text.matchAll(/GLIBCXX_(\d+)\.(\d+)\.(\d+)/g)) { const v = [Number(m[1]), Number(m[2]), Number(m[3])]; if (newer(v, glibcxx)) glibcxx = v; }
  }
  return { glibc: glibc.join('.'), glibcxx: glibcxx.join('.') };
}

function baseOs(stage: string, arch: Arch): string {
  const l = libraryNeeds(stage);
  return `Debian 12 (bookworm) ${arch === 'x64' ? 'amd64' : 'arm64'} with systemd; glibc >= ${l.glibc} and libstdc++6 >= GLIBCXX_${l.glibcxx} (node and the addons; Debian 12 has 2.36 and GLIBCXX_3.4.30); `
    + 'no nodejs package (the image carries node/bin/node); gpiod (gpioget/gpioset) for boards whose GPIO goes through hal/gpio-chardev.ts; '
    + 'a user pos in groups dialout, gpio and i2c (systemd/pos-terminal.service)';
}

// ---------------------------------------------------------------- the build

function git(args: readonly string[]): string {
  return run('git', ['-C', REPO, ...args]).trim();
}

type Step = <T>(name: string, f: () => T) => T;

/** node/bin/node and its licence, from the pinned package. */
function stageNode(stage: string, arch: Arch, step: Step): { dir: string; moduleAbi: number } {
  const node = step(`node ${NODE_VERSION} for ${arch}`, () => fetchNode(arch));
  mkdirSync(join(stage, 'node', 'bin'), { recursive: true });
  copyFileSync(join(node.dir, 'bin', 'node'), join(stage, 'node', 'bin', 'node'));
  chmodSync(join(stage, 'node', 'bin', 'node'), 0o755);
  copyFileSync(join(node.dir, 'LICENSE'), join(stage, 'node', 'LICENSE'));
  return node;
}

/** node_modules/ for the target and every compiled addon; returns the addons' description. */
function stageModules(src: string, stage: string, work: string, arch: Arch, node: { dir: string; moduleAbi: number }, version: string, step: Step): ImageAddon[] {
  const npmDir = join(work, 'npm');
  step('npm install (production, target CPU)', () => installDependencies(src, npmDir, arch));
  const nm = join(npmDir, 'node_modules');
  const gypVersion = packageVersion(join(dirname(nodeGypScript()), '..'));
  const compiledFrom = `${compilerVersion(arch)}, node-gyp ${gypVersion}, headers of node ${NODE_VERSION} (module ABI ${node.moduleAbi}), stripped`;
  const own = step('compile addons', () => {
    for (const a of COMPILED_ADDONS) compileAddon(join(nm, a), arch, node.dir, work);
    return compileOwnAddon(src, stage, arch, node.dir, work);
  });
  step('prune node_modules', () => pruneNodeModules(nm, arch, node.moduleAbi));
  cpSync(nm, join(stage, 'node_modules'), { recursive: true });
  return describeAddons(stage, arch, compiledFrom, own, version);
}

export function buildImage(o: ImageOptions): ImageResult {
  const log = o.log ?? ((): void => undefined);
  const stepsMs: Record<string, number> = {};
  const step: Step = (name, f) => { const t0 = Date.now(); const r = f(); stepsMs[name] = Date.now() - t0; log(`  ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`); return r; };
  const commit = git(['rev-parse', '--verify', `${o.commit}^{commit}`]);
  const createdAt = new Date(git(['log', '-1', '--format=%cI', commit]));
  const work = resolve(o.work ?? join(CACHE, o.arch));
  const src = join(work, 'src'), stage = join(work, 'stage');
  const privateKeyPem = readFileSync(o.keyFile, 'utf8');
  log(`image for ${o.arch} from commit ${commit.slice(0, 12)} (${createdAt.toISOString()}); working-tree changes are not in it`);
  step('export sources (git archive)', () => exportSources(commit, src));
  const version = o.version ?? packageVersion(src);
  checkVersion(version); // before minutes of building, not after
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  step('compile (tsc)', () => compile(src, stage));
  copyRuntimeFiles(src, stage, version);
  if (!o.withSim) step('drop simulator modules', () => log(`    ${pruneSimulator(stage)} sim modules not loaded by the runtime removed`));
  step('bundle (esbuild)', () => bundle(src, stage, o.withSim, log));
  const node = stageNode(stage, o.arch, step);
  const addons = stageModules(src, stage, work, o.arch, node, version, step);
  const info: ImageInfo = {
    format: 1, arch: o.arch, commit, runtime: { name: 'pos-runtime', version },
    node: { version: NODE_VERSION, package: `node-linux-${o.arch}@${NODE_VERSION}`, integrity: NODE_INTEGRITY[o.arch], moduleAbi: node.moduleAbi },
    addons, withSim: o.withSim, baseOs: baseOs(stage, o.arch),
  };
  const packed = step('pack and sign', () => packImage(stage, privateKeyPem, { version, board: o.board, createdAt, image: info }));
  writeFileAtomic(o.out, packed.bytes, dirname(resolve(o.out)));
  const manifestBytes = packed.bytes.readUInt32BE(PACKAGE_MAGIC.length);
  return { file: o.out, bytes: packed.bytes.length, sha256: createHash('sha256').update(packed.bytes).digest('hex'), files: packed.manifest.files.length, manifestBytes, info, stepsMs };
}

// ---------------------------------------------------------------- command line

const USAGE = 'npm run image -- --arch x64|arm64 --key PEM --out FILE [--version X.Y.Z] [--board handheld] [--with-sim] [--commit HEAD] [--work DIR]';

function parseArgs(argv: readonly string[]): ImageOptions {
  const flags = new Map<string, string>();
  const bare = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new PosError('OPR_INPUT', `unexpected "${a}": ${USAGE}`);
    const [k, inline] = a.slice(2).split('=', 2);
    if (k === 'with-sim') { bare.add(k); continue; }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new PosError('OPR_INPUT', `--${k} needs a value: ${USAGE}`);
    flags.set(k, v);
  }
  const arch = flags.get('arch');
  if (arch !== 'x64' && arch !== 'arm64') throw new PosError('OPR_INPUT', `--arch must be x64 or arm64: ${USAGE}`);
  const keyFile = flags.get('key'), out = flags.get('out');
  if (!keyFile) throw new PosError('OPR_INPUT', `--key PEM is missing (the vendor's Ed25519 key; a test key: npm run pos -- update keygen --out DIR): ${USAGE}`);
  if (!out) throw new PosError('OPR_INPUT', `--out FILE is missing: ${USAGE}`);
  return { arch, keyFile, out, version: flags.get('version'), board: flags.get('board') ?? 'handheld', withSim: bare.has('with-sim'), commit: flags.get('commit') ?? 'HEAD', work: flags.get('work') };
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const r = buildImage({ ...o, log: (l) => process.stdout.write(`${l}\n`) });
  const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1);
  process.stdout.write([
    `wrote ${relative(process.cwd(), resolve(r.file)) || r.file}: ${r.bytes} bytes (${mib(r.bytes)} MiB), ${r.files} files, manifest ${r.manifestBytes} bytes`,
    `  sha256 ${r.sha256}`,
    `  runtime ${r.info.runtime.version}, board ${o.board}, ${r.info.arch}, node ${r.info.node.version}${r.info.withSim ? ', with the simulator' : ''}`,
    `  base OS: ${r.info.baseOs}`,
    ...r.info.addons.map((a) => `  addon ${a.name}@${a.version}: ${a.obtained} (${a.from})`),
    `  built in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  ].join('\n') + '\n');
}

if (require.main === module) {
  try { main(); } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
}

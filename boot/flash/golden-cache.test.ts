import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, mkdirSync, openSync, closeSync, writeFileSync, writeSync, symlinkSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { GOLDEN_DIR, GOLDEN_RECORD_FILE, GoldenKeyInputs, goldenImagePath, goldenKey, keepGolden, keptGolden, rootfsDigest } from './golden-cache';

const IMAGE_BYTES = 64 * 1024;
/** The caller's ranges in these tests: two halves of the image. */
function halves(file: string): Record<string, string> {
  const b = readFileSync(file);
  const h = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
  return { first: h(b.subarray(0, b.length / 2)), second: h(b.subarray(b.length / 2)) };
}

describe('flash: the station keeps its disk image for the next run (golden-cache)', () => {
  let dir: string;
  let inputs: GoldenKeyInputs;
  beforeEach(() => {
    dir = tempDir('pos-golden-');
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    symlinkSync('/usr/bin', join(rootfs, 'bin'));
    const code = join(dir, 'station.js');
    writeFileSync(code, 'station v1');
    inputs = { packageSha256: 'a'.repeat(64), boardFileText: '{"board":"x"}', rootfs, settings: { sizes: [8, 8, 8] }, codeFiles: [code] };
  });
  afterEach(() => removeDir(dir));

  /** What a station run does: builds when nothing usable is kept, else reuses. */
  function run(key: string, fill = 0x5a): { file: string; reused: boolean } {
    const work = join(dir, 'work');
    const kept = keptGolden(work, key, IMAGE_BYTES, halves);
    if (kept) return { file: kept.file, reused: true };
    const file = goldenImagePath(work);
    writeFileSync(file, Buffer.alloc(IMAGE_BYTES, fill));
    keepGolden(work, key, IMAGE_BYTES, halves(file));
    return { file, reused: false };
  }

  it('sameInputsReuseTheKeptImage', () => {
    const key = goldenKey(inputs);
    assert.equal(goldenKey(inputs), key, 'the key is a function of the inputs');
    assert.equal(run(key).reused, false);
    const second = run(goldenKey(inputs));
    assert.equal(second.reused, true);
    assert.equal(readFileSync(second.file)[0], 0x5a);
  });

  it('everyInputChangesTheKey', () => {
    const key = goldenKey(inputs);
    const changed: Array<[string, () => void]> = [
      ['package', () => { inputs = { ...inputs, packageSha256: 'b'.repeat(64) }; }],
      ['board file', () => { inputs = { ...inputs, boardFileText: '{"board":"y"}' }; }],
      ['settings', () => { inputs = { ...inputs, settings: { sizes: [8, 8, 16] } }; }],
      ['station code', () => writeFileSync(inputs.codeFiles[0], 'station v2')],
      ['a base OS file', () => writeFileSync(join(inputs.rootfs, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/bash\n')],
      ['a base OS mode', () => chmodSync(join(inputs.rootfs, 'etc', 'passwd'), 0o600)],
      ['a base OS link', () => { removeDir(join(inputs.rootfs, 'bin')); symlinkSync('/bin', join(inputs.rootfs, 'bin')); }],
      ['a new base OS file', () => writeFileSync(join(inputs.rootfs, 'etc', 'hostname'), 'pos\n')],
    ];
    const seen = new Set([key]);
    for (const [what, change] of changed) {
      change();
      const k = goldenKey(inputs);
      assert.ok(!seen.has(k), `${what} changed, the key did not`);
      seen.add(k);
    }
  });

  it('aTarballBaseOsIsKeyedByItsBytes', () => {
    const tar = join(dir, 'base.tar');
    writeFileSync(tar, 'tar bytes 1');
    const a = rootfsDigest(tar);
    writeFileSync(tar, 'tar bytes 2');
    assert.notEqual(rootfsDigest(tar), a);
  });

  it('anotherKeyBuildsAgainAndReplacesTheKeptImage', () => {
    run(goldenKey(inputs), 0x11);
    const other = run('0'.repeat(64), 0x22);
    assert.equal(other.reused, false);
    assert.equal(readFileSync(other.file)[0], 0x22);
    assert.equal(run(goldenKey(inputs), 0x33).reused, false, 'only the last image is kept');
  });

  it('aChangedByteInTheKeptImageBuildsAgain', () => {
    const key = goldenKey(inputs);
    const { file } = run(key);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xa5]), 0, 1, IMAGE_BYTES - 100);
    closeSync(fd);
    const again = run(key, 0x77);
    assert.equal(again.reused, false, 'a damaged image is never reused');
    assert.equal(readFileSync(again.file)[IMAGE_BYTES - 100], 0x77);
  });

  it('aTruncatedImageOrATornRecordBuildsAgain', () => {
    const key = goldenKey(inputs);
    const { file } = run(key);
    writeFileSync(file, Buffer.alloc(IMAGE_BYTES / 2, 0x5a));
    assert.equal(run(key).reused, false, 'an image of the wrong size');
    writeFileSync(join(dir, 'work', GOLDEN_DIR, GOLDEN_RECORD_FILE), '{"format":1,"key":"');
    assert.equal(run(key).reused, false, 'a record cut short');
    assert.equal(run(key).reused, true, 'and the rebuilt one is kept');
  });

  it('anImageWithoutItsRecordIsNotUsed', () => {
    // A run stopped between the image's rename and its record: the next run builds again.
    const key = goldenKey(inputs);
    const file = goldenImagePath(join(dir, 'work'));
    writeFileSync(file, Buffer.alloc(IMAGE_BYTES, 0x5a));
    assert.equal(existsSync(join(dir, 'work', GOLDEN_DIR, GOLDEN_RECORD_FILE)), false);
    assert.equal(run(key).reused, false);
  });
});

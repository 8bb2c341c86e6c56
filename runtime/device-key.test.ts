/**
 * The plain device key file (runtime/device-key.ts fileDeviceKey): made once when absent; damaged
 * (empty, cut, grown, a folder, a symlink loop) it is E-KEY-09 naming the file, never replaced by
 * a new key (that would leave every sealed key and PAN unreadable) and never read whole first.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPosError } from '../common/errors';
import { removeDir, tempDir } from '../storage/testing';
import { DEVICE_KEY_BYTES, fileDeviceKey } from './device-key';

describe('runtime/device-key: the plain device key file', () => {
  let dir: string;
  beforeEach(() => { dir = tempDir('device-key-'); });
  afterEach(() => removeDir(dir));

  it('isMadeOnceWhenAbsentAndReadTheSameAfter', () => {
    const file = join(dir, 'device.key');
    const key = fileDeviceKey(file).deviceKey();
    assert.equal(key.length, DEVICE_KEY_BYTES);
    assert.deepEqual(fileDeviceKey(file).deviceKey(), key);
  });

  it('aDamagedFileIsE_KEY_09NamingItAndIsNeverReplaced', () => {
    const damages: Array<[string, (f: string) => void]> = [
      ['empty', (f) => writeFileSync(f, '')],
      ['cut', (f) => writeFileSync(f, Buffer.alloc(DEVICE_KEY_BYTES - 5, 7))],
      ['grown to 200 MB', (f) => { writeFileSync(f, ''); truncateSync(f, 200 * 1024 * 1024); }],
      ['a folder', (f) => mkdirSync(f)],
      ['a symlink loop', (f) => symlinkSync(f, f)],
    ];
    for (const [name, damage] of damages) {
      const file = join(dir, `${name.replace(/\W/g, '-')}.key`);
      damage(file);
      assert.throws(() => fileDeviceKey(file).deviceKey(), (e: unknown) => isPosError(e) && e.code === 'E-KEY-09' && e.message.includes(file), name);
      if (name === 'a folder') assert.throws(() => fileDeviceKey(file).deviceKey(), /is not a file \(a folder\)/);
      if (name === 'cut') assert.equal(readFileSync(file).length, DEVICE_KEY_BYTES - 5, 'left as it was for a technician to restore');
    }
  });
});

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { MappedFileAddon, mappedFile } from './code-cache';
import { removeDir, tempDir } from '../storage/testing';

/** Node's CommonJS wrapper, as boot/code-cache.ts's readWrapped passes it. */
const [HEAD, TAIL] = (Module as unknown as { wrap(s: string): string }).wrap('\0').split('\0');
const PAGE_BYTES = 4096;

describe('native/mapped_file: the start\'s large reads as mappings', () => {
  let dir: string;
  let addon: MappedFileAddon;
  before(function () {
    const a = mappedFile();
    // npm install builds it (binding.gyp); a checkout without a compiler reads the files instead.
    if (a === null) { console.warn('    SKIPPED: build/Release/mapped_file.node is not built (npm install builds it)'); this.skip(); }
    addon = a as MappedFileAddon;
  });
  beforeEach(() => { dir = tempDir('mapped-file-'); });
  afterEach(() => removeDir(dir));

  const key = (name: string, wrapped: string): string => createHash('sha1').update(name).update('\0').update(Buffer.from(wrapped, 'latin1')).digest('base64');

  it('wrappedIsHeadFileAndTailWithTheDigestCodeCacheKeysItByAtEverySizeAroundAPage', () => {
    for (const size of [1, 100, PAGE_BYTES - TAIL.length - 1, PAGE_BYTES - TAIL.length, PAGE_BYTES - 1, PAGE_BYTES, PAGE_BYTES + 1, 3 * PAGE_BYTES, 70_000]) {
      const file = join(dir, `m${size}.js`);
      const text = Array.from({ length: size }, (_, i) => String.fromCharCode(32 + ((i * 7) % 95))).join('');
      writeFileSync(file, text);
      const r = addon.wrapped(file, HEAD, TAIL, 1 << 20, file);
      assert.ok(r, `size ${size}`);
      assert.equal(r.source, HEAD + text + TAIL, `size ${size}`);
      assert.equal(r.sha1.toString('base64'), key(file, HEAD + text + TAIL), `size ${size}`);
    }
  });

  it('wrappedRefusesWhatMustLoadAsNodeLoadsItAndNeverThrowsForAFile', () => {
    const file = join(dir, 'x.js');
    const refused = (content: string | Buffer, max = 1 << 20): void => {
      writeFileSync(file, content);
      assert.equal(addon.wrapped(file, HEAD, TAIL, max, file), null, JSON.stringify(content.toString().slice(0, 20)));
    };
    refused('module.exports = "\u00e9";\n'); // UTF-8: its Latin-1 reading would differ
    refused(Buffer.from([0x61, 0x3d, 0x31, 0x80]));
    refused('#!/usr/bin/env node\nmodule.exports = 1;\n');
    refused('');
    refused('module.exports = 1;\n', 5); // larger than maxBytes
    assert.equal(addon.wrapped(join(dir, 'absent.js'), HEAD, TAIL, 100, file), null);
    assert.equal(addon.wrapped(dir, HEAD, TAIL, 100, file), null, 'a folder');
  });

  it('wrappedChecksItsArguments', () => {
    const file = join(dir, 'x.js');
    writeFileSync(file, 'module.exports = 1;\n');
    const call = (f: () => unknown): string => { try { f(); return 'no throw'; } catch (e) { return (e as Error).name; } };
    const a = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.equal(call(() => a.wrapped(file, HEAD, TAIL, 100)), 'TypeError', 'four arguments');
    assert.equal(call(() => a.wrapped(1, HEAD, TAIL, 100, file)), 'TypeError');
    assert.equal(call(() => a.wrapped(file, 'x'.repeat(PAGE_BYTES + 1), TAIL, 100, file)), 'TypeError', 'a head larger than a page');
    assert.equal(call(() => a.wrapped(file, '\u00e9', TAIL, 100, file)), 'TypeError', 'a head not ASCII');
    assert.equal(call(() => a.wrapped(file, HEAD, TAIL, 0, file)), 'RangeError');
    assert.equal(call(() => a.wrapped(file, HEAD, TAIL, 1.5, file)), 'RangeError');
    assert.equal(call(() => a.wrapped(file, HEAD, TAIL, 100, '')), 'TypeError', 'an empty key name');
    assert.equal(call(() => a.bytes(file)), 'TypeError');
    assert.equal(call(() => a.bytes(file, -1)), 'RangeError');
  });

  it('bytesAreTheFilesAndAWriteChangesOnlyThisProcesssCopy', () => {
    const file = join(dir, 'cache.bin');
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i & 0xff));
    writeFileSync(file, data);
    const b = addon.bytes(file, 1 << 20);
    assert.ok(b);
    assert.ok(b.equals(data));
    b[0] ^= 0xff;
    assert.ok(readFileSync(file).equals(data), 'the file is unchanged');
    assert.equal(addon.bytes(file, 9_999), null, 'larger than maxBytes');
    writeFileSync(join(dir, 'empty.bin'), '');
    assert.equal(addon.bytes(join(dir, 'empty.bin'), 10), null);
    assert.equal(addon.bytes(join(dir, 'absent.bin'), 10), null);
  });

  it('aFileReplacedByARenameLeavesTheMappingWhole', () => {
    const file = join(dir, 'main.js');
    const text = 'x'.repeat(3 * PAGE_BYTES + 17);
    writeFileSync(file, text);
    const r = addon.wrapped(file, HEAD, TAIL, 1 << 20, file);
    const b = addon.bytes(file, 1 << 20);
    writeFileSync(`${file}.tmp`, 'y');
    renameSync(`${file}.tmp`, file); // how an update and the code cache's writer replace them
    assert.equal(r?.source, HEAD + text + TAIL);
    assert.equal(b?.toString('latin1'), text);
  });
});

/**
 * The password check's scrypt (runtime/password-kdf.ts, native/password_kdf.c): RFC 7914's bytes,
 * node's bytes, the table touched ahead and given back, bad arguments refused.
 */
import * as assert from 'node:assert/strict';
import { createHash, createPrivateKey, generateKeyPairSync, scryptSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'mocha';
import {
  expectPasswordCheck, loadPasswordKdf, passwordScratchState, releasePasswordScratch, scryptKey, scryptTableBytes, usePasswordKdfAddon,
} from './password-kdf';

/** Seeded bytes (SHA-256 of a counter): the same inputs on every run. */
function seeded(seed: string, bytes: number): Buffer {
  return createHash('sha256').update(seed).digest().subarray(0, bytes);
}

/** This process's mappings from /proc/self/smaps: start address, size and VmFlags. */
function smapsRegions(): Array<{ start: number; sizeKb: number; flags: string[] }> {
  const out: Array<{ start: number; sizeKb: number; flags: string[] }> = [];
  let cur: { start: number; sizeKb: number; flags: string[] } | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-[0-9a-f]+ /.exec(line);
    if (head) { cur = { start: parseInt(head[1], 16), sizeKb: 0, flags: [] }; out.push(cur); continue; }
    if (!cur) continue;
    const size = /^Size:\s+(\d+) kB/.exec(line);
    if (size) cur.sizeKb = Number(size[1]);
    if (line.startsWith('VmFlags:')) cur.flags = line.slice('VmFlags:'.length).trim().split(/\s+/);
  }
  return out;
}

function nodeScrypt(password: string | Buffer, salt: Buffer, keyBytes: number, n: number, r = 8, p = 1): Buffer {
  return scryptSync(password, salt, keyBytes, { N: n, r, p, maxmem: 256 * 1024 * 1024 });
}

async function until(test: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const addon = loadPasswordKdf();

describe('password-kdf: the check\'s scrypt (native/password_kdf.c)', function () {
  before(function () {
    if (addon) return;
    if (process.env.CI) assert.fail('build/Release/password_kdf.node is not built or does not load (npm install runs node-gyp)');
    console.log('      SKIPPED: password_kdf.node not built (npm install runs node-gyp)');
    this.skip();
  });
  afterEach(() => releasePasswordScratch());
  after(() => usePasswordKdfAddon(true));

  const run = (password: Buffer, salt: Buffer, n: number, r: number, p: number, keyBytes: number): Promise<Buffer> =>
    new Promise((resolve, reject) => addon!.scrypt(password, salt, n, r, p, keyBytes, (e, key) => (e ? reject(e) : resolve(key!))));

  it('rfc7914VectorsMatch', async () => {
    // RFC 7914 section 12 (the 2^20 vector is left out: 1 GiB).
    assert.equal((await run(Buffer.alloc(0), Buffer.alloc(0), 16, 1, 1, 64)).toString('hex'),
      '77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906');
    assert.equal((await run(Buffer.from('password'), Buffer.from('NaCl'), 1024, 8, 16, 64)).toString('hex'),
      'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640');
    assert.equal((await run(Buffer.from('pleaseletmein'), Buffer.from('SodiumChloride'), 16384, 8, 1, 64)).toString('hex'),
      '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887');
  });

  it('sameBytesAsNodeForSeededPasswords', async () => {
    for (let i = 0; i < 24; i++) {
      const password = seeded(`pw${i}`, 1 + (i % 13));
      const salt = seeded(`salt${i}`, 16);
      const n = [2, 16, 256, 1024][i % 4];
      const r = [1, 8, 3][i % 3];
      const p = 1 + (i % 2);
      const keyBytes = [32, 1, 64, 100][i % 4];
      assert.ok((await run(password, salt, n, r, p, keyBytes)).equals(nodeScrypt(password, salt, keyBytes, n, r, p)), `case ${i}`);
    }
  });

  it('hashPasswordWithAndWithoutTheAddonAgree', async () => {
    const salt = seeded('s', 16);
    usePasswordKdfAddon(true);
    const native = await scryptKey('0000', salt, 32, 1 << 14);
    assert.equal(usePasswordKdfAddon(false), false);
    const plain = await scryptKey('0000', salt, 32, 1 << 14);
    usePasswordKdfAddon(true);
    assert.ok(native.equals(plain));
    assert.ok(native.equals(nodeScrypt('0000', salt, 32, 1 << 14)));
    // A string password is UTF-8, as node takes it.
    assert.ok((await scryptKey('密码1234', salt, 32, 1024)).equals(nodeScrypt('密码1234', salt, 32, 1024)));
  });

  it('preparedTableIsTouchedThenGivenBackByTheCheck', async () => {
    usePasswordKdfAddon(true);
    const n = 1 << 14;
    expectPasswordCheck(n);
    assert.equal(passwordScratchState().bytes, scryptTableBytes(n), 'mapped at once');
    await until(() => passwordScratchState().touchedBytes === scryptTableBytes(n));
    const salt = seeded('t', 16);
    const checking = scryptKey('4321', salt, 32, n);
    assert.equal(passwordScratchState().busy, true, 'the check runs on the prepared table');
    // A second check meanwhile takes a table of its own, and both give node's bytes.
    const other = await scryptKey('9876', salt, 32, n);
    assert.ok(other.equals(nodeScrypt('9876', salt, 32, n)));
    assert.ok((await checking).equals(nodeScrypt('4321', salt, 32, n)));
    assert.deepEqual(passwordScratchState(), { bytes: 0, touchedBytes: 0, busy: false }, 'unmapped at the check\'s end: its pages held values of the password');
  });

  it('preparedTableIsAskedForHugePagesAlignedToThem', async () => {
    // native/password_kdf.c: a 16 MiB table in 2 MiB pages is 8 faults, not 4,096. Whether the
    // kernel grants them is its business (THP "never", fragmented memory); the advice and the
    // alignment are the addon's, read back from /proc/self/smaps (VmFlags "hg": MADV_HUGEPAGE).
    if (!existsSync('/sys/kernel/mm/transparent_hugepage/enabled')) {
      console.warn('    SKIPPED: this kernel has no transparent huge pages (the addon\'s advice is refused; nothing to read back)');
      return;
    }
    usePasswordKdfAddon(true);
    const advised = (): Array<{ start: number; sizeKb: number }> => smapsRegions().filter((r) => r.flags.includes('hg'));
    const before = advised().length;
    expectPasswordCheck(1 << 14);
    const regions = advised();
    assert.equal(regions.length, before + 1, 'one region advised for huge pages');
    const table = regions.find((r) => r.sizeKb >= scryptTableBytes(1 << 14) / 1024);
    assert.ok(table, JSON.stringify(regions));
    assert.equal(table.start % (2 * 1024 * 1024), 0, `the table at ${table.start.toString(16)}, not on a 2 MiB boundary`);
    releasePasswordScratch();
    assert.equal(advised().length, before, 'unmapped with the table');
    // A table under 2 MiB is 4 KiB pages, as before.
    expectPasswordCheck(1 << 10);
    assert.equal(advised().length, before);
    releasePasswordScratch();
  });

  it('smallerCheckUsesALargerPreparedTable', async () => {
    usePasswordKdfAddon(true);
    expectPasswordCheck(1 << 12);
    const salt = seeded('u', 16);
    const key = scryptKey('1111', salt, 32, 1 << 10);
    assert.equal(passwordScratchState().busy, true);
    assert.ok((await key).equals(nodeScrypt('1111', salt, 32, 1 << 10)));
    assert.equal(passwordScratchState().bytes, 0);
  });

  it('untouchedForTheHoldIsGivenBack', async () => {
    usePasswordKdfAddon(true);
    expectPasswordCheck(1 << 12, 50);
    assert.equal(passwordScratchState().bytes, scryptTableBytes(1 << 12));
    // Each key restarts the hold.
    await new Promise((r) => setTimeout(r, 30));
    expectPasswordCheck(1 << 12, 50);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(passwordScratchState().bytes, scryptTableBytes(1 << 12), 'held: a key 30 ms ago');
    await until(() => passwordScratchState().bytes === 0, 1_000);
  });

  it('badArgumentsThrowBeforeAnythingRuns', () => {
    const b = Buffer.alloc(4);
    const cb = (): void => undefined;
    const call = (...args: unknown[]): void => (addon!.scrypt as unknown as (...a: unknown[]) => void)(...args);
    assert.throws(() => call('pw', b, 16, 8, 1, 32, cb), TypeError);
    assert.throws(() => call(b, b, 15, 8, 1, 32, cb), RangeError, 'n not a power of two');
    assert.throws(() => call(b, b, 1, 8, 1, 32, cb), RangeError);
    assert.throws(() => call(b, b, 2 ** 31, 8, 1, 32, cb), RangeError);
    assert.throws(() => call(b, b, 16, 0, 1, 32, cb), RangeError);
    assert.throws(() => call(b, b, 16, 8, 1, 0, cb), RangeError);
    assert.throws(() => call(b, b, 16, 8, 1, 2000, cb), RangeError);
    assert.throws(() => call(b, b, 1 << 20, 16, 1, 32, cb), RangeError, 'over 1 GiB');
    assert.throws(() => call(b, b, 16, 8, 1, 32, 'no'), TypeError);
    assert.throws(() => call(b, b, 16), TypeError);
    assert.throws(() => (addon!.reserve as unknown as (x: unknown) => boolean)(-1), RangeError);
    assert.throws(() => (addon!.touch as unknown as (x: unknown) => number)(0), RangeError);
    assert.equal(passwordScratchState().busy, false);
  });

  it('reserveAndTouchRefuseAnythingButOneWholeNumberInRangeWithTheirOwnMessages', () => {
    // Their one argument is parsed by native/napi_args.h one_whole_arg: each keeps its messages.
    const call = (name: 'reserve' | 'touch', ...args: unknown[]): unknown => (addon![name] as unknown as (...a: unknown[]) => unknown)(...args);
    const type = (message: string) => (e: unknown): boolean => e instanceof TypeError && e.message === message;
    const range = (message: string) => (e: unknown): boolean => e instanceof RangeError && e.message === message;
    for (const args of [[], [1, 2]]) {
      assert.throws(() => call('reserve', ...args), type('reserve takes 1 argument'), `reserve(${args.join(', ')})`);
      assert.throws(() => call('touch', ...args), type('touch takes 1 argument'), `touch(${args.join(', ')})`);
    }
    for (const bad of [0, -1, 1.5, 2 ** 30 + 1, '4096', Number.NaN]) assert.throws(() => call('reserve', bad), range('bytes must be 1 to 1 GiB'), `reserve(${String(bad)})`);
    for (const bad of [0, 1.5, 2 ** 20 + 1, '1', null]) assert.throws(() => call('touch', bad), range('pagesMax must be 1 to 2^20'), `touch(${String(bad)})`);
    // The edges of each range are taken.
    assert.equal(call('reserve', 1), true);
    assert.equal(call('touch', 2 ** 20), 0, 'one byte is one page, touched');
    releasePasswordScratch();
    assert.equal(passwordScratchState().bytes, 0);
  });

  it('tableOverTheLimitIsRefusedWithoutTheAddonToo', async () => {
    await assert.rejects(scryptKey('0000', Buffer.alloc(16), 32, 1 << 20), RangeError);
    usePasswordKdfAddon(false);
    await assert.rejects(scryptKey('0000', Buffer.alloc(16), 32, 1 << 20), RangeError);
    await assert.rejects(scryptKey('0000', Buffer.alloc(16), 32, 1000), RangeError);
    usePasswordKdfAddon(true);
  });

  it('aRefusedCheckLeavesTheProcesssOtherCryptoWorking', async () => {
    // Node 20's own refusal of scrypt parameters left OpenSSL's error queued, and the next
    // createPrivateKey in the process failed with "memory limit exceeded" (seen: an update's
    // signature check after this file's tests in one mocha process).
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    usePasswordKdfAddon(false);
    await assert.rejects(scryptKey('0000', Buffer.alloc(16), 32, 1 << 20), RangeError);
    usePasswordKdfAddon(true);
    assert.equal(createPrivateKey(pem).asymmetricKeyType, 'ec');
  });
});

/**
 * boot/flash/disk-image.ts on a tiny base OS and a tiny signed package: the image's partition
 * table, each file system read with debugfs (not through the library), the slot installed by
 * the update code, the selector, the user, fstab and the enabled unit; refusals leave no image;
 * the read-back catches a byte changed in the image.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPackage, generateUpdateKeys } from '../update';
import { isPosError } from '../../common/errors';
import { needTool } from '../../tests/support/tools';
import { partitionLayout, readBackPartition, writeDiskImage, POS_UID, DiskImageOptions } from './disk-image';

const SIZES = { rootMiB: 16, posMiB: 16, dataMiB: 8 };

function debugfs(image: string, offset: number, request: string): string {
  return execFileSync('debugfs', ['-R', request, `${image}?offset=${offset}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

describe('flash: disk image', function () {
  this.timeout(60_000);
  let dir: string;
  let options: DiskImageOptions;
  let keys: { privateKeyPem: string; publicKeyHex: string };

  before(function () {
    for (const t of ['sfdisk', 'mke2fs', 'debugfs', 'tar']) needTool(this, t);
    if (process.getuid?.() !== 0) {
      const message = 'flash: disk-image tests need root (file owners in the staged trees)';
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
      process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
      this.skip();
    }
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pos-flash-'));
    const base = join(dir, 'base');
    mkdirSync(join(base, 'etc', 'systemd', 'system'), { recursive: true });
    writeFileSync(join(base, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(base, 'etc', 'group'), 'root:x:0:\ndialout:x:20:\n');
    writeFileSync(join(base, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n');
    mkdirSync(join(base, 'usr', 'bin'), { recursive: true });
    writeFileSync(join(base, 'usr', 'bin', 'tool'), 'binary');
    // A tarball, as build-rootfs.sh gives it.
    execFileSync('tar', ['-c', '-f', join(dir, 'base.tar'), '-C', base, '.']);
    const tree = join(dir, 'release');
    mkdirSync(join(tree, 'dist', 'boot'), { recursive: true });
    mkdirSync(join(tree, 'node', 'bin'), { recursive: true });
    writeFileSync(join(tree, 'dist', 'boot', 'pos.js'), 'console.log("pos")\n');
    writeFileSync(join(tree, 'node', 'bin', 'node'), '#!/bin/sh\n', { mode: 0o755 });
    keys = generateUpdateKeys();
    writeFileSync(join(dir, 'pkg.posupd'), buildPackage(tree, keys.privateKeyPem, { version: '1.2.3', board: 'qemu-x86' }));
    mkdirSync(join(dir, 'data', 'journal'), { recursive: true });
    writeFileSync(join(dir, 'data', 'device.key'), 'k'.repeat(32));
    writeFileSync(join(dir, 'unit.service'), '[Service]\nType=notify\n');
    options = {
      out: join(dir, 'disk.img'), baseRootfs: join(dir, 'base.tar'), packageFile: join(dir, 'pkg.posupd'), publicKeyHex: keys.publicKeyHex,
      board: 'qemu-x86', unitFile: join(dir, 'unit.service'), unitDropIn: '[Service]\nEnvironment=POS_BOARD=qemu-x86\n',
      dataDir: join(dir, 'data'), extraRootFiles: [{ path: '/etc/modules-load.d/pos.conf', content: 'i2c-dev\n' }], sizes: SIZES, workDir: join(dir, 'work'),
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writesThreeLabelledPartitionsWithSlotASelectorUserFstabAndUnitReadBackByHash', () => {
    const report = writeDiskImage(options);
    assert.equal(report.version, '1.2.3');
    const table = JSON.parse(execFileSync('sfdisk', ['-J', options.out], { encoding: 'utf8' })) as { partitiontable: { label: string; partitions: { start: number; size: number; name: string }[] } };
    assert.equal(table.partitiontable.label, 'gpt');
    assert.deepEqual(table.partitiontable.partitions.map((p) => p.name), ['posroot', 'pos', 'posdata']);
    const layout = partitionLayout(SIZES);
    assert.deepEqual(table.partitiontable.partitions.map((p) => p.start * 512), layout.parts.map((p) => p.startBytes));
    const [root, pos, data] = layout.parts.map((p) => p.startBytes);
    // Labels (fstab mounts by them) and the files, read by debugfs, not by the library.
    assert.match(execFileSync('dumpe2fs', ['-h', `${options.out}?offset=${pos}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), /volume name:\s+pos\n/);
    assert.match(debugfs(options.out, root, 'cat /etc/fstab'), /LABEL=pos\s+\/opt\/pos\s+ext4/);
    assert.match(debugfs(options.out, root, 'cat /etc/passwd'), new RegExp(`^pos:x:${POS_UID}:`, 'm'));
    assert.match(debugfs(options.out, root, 'cat /etc/group'), /^dialout:x:20:pos$/m);
    assert.match(debugfs(options.out, root, 'cat /etc/group'), /^gpio:x:\d+:pos$/m);
    assert.match(debugfs(options.out, root, 'stat /etc/systemd/system/multi-user.target.wants/pos-terminal.service'), /Fast link dest: "\/etc\/systemd\/system\/pos-terminal.service"/);
    assert.match(debugfs(options.out, root, 'cat /etc/systemd/system/pos-terminal.service.d/10-board.conf'), /POS_BOARD=qemu-x86/);
    assert.equal(debugfs(options.out, root, 'cat /etc/modules-load.d/pos.conf'), 'i2c-dev\n');
    assert.equal(debugfs(options.out, root, 'cat /usr/bin/tool'), 'binary');
    const state = JSON.parse(debugfs(options.out, pos, 'cat /state.json')) as { active: string; pending?: string; versions: Record<string, string> };
    assert.equal(state.active, 'A');
    assert.equal(state.pending, undefined);
    assert.deepEqual(state.versions, { A: '1.2.3' });
    for (const d of ['slotA', 'selector']) {
      assert.equal(debugfs(options.out, pos, `cat /${d}/dist/boot/pos.js`), 'console.log("pos")\n');
      assert.match(debugfs(options.out, pos, `cat /${d}/manifest.json`), /"version":"1.2.3"/);
      assert.match(debugfs(options.out, pos, `stat /${d}/node/bin/node`), /Mode:\s+0755/);
    }
    assert.doesNotMatch(debugfs(options.out, pos, 'ls -l /'), /slotB|staging|\.old-/);
    assert.match(debugfs(options.out, pos, 'stat /'), new RegExp(`User:\\s+${POS_UID}\\s`));
    assert.match(debugfs(options.out, pos, 'stat /slotA/dist/boot/pos.js'), new RegExp(`User:\\s+${POS_UID}\\s`));
    assert.equal(debugfs(options.out, data, 'cat /device.key'), 'k'.repeat(32));
    assert.match(debugfs(options.out, data, 'stat /journal'), new RegExp(`User:\\s+${POS_UID}\\s`));
    // A factory-fresh terminal boots slot A without the selector's process (boot/update-slots.ts I5).
    assert.equal(debugfs(options.out, pos, 'cat /boot-slot').trim(), 'A');
    // root: passwd group shadow tool fstab unit drop-in modules-load; pos: state.json, boot-slot + 4 per tree.
    assert.deepEqual(report.partitions.map((p) => p.filesChecked), [8, 2 * 4 + 2, 1]);
  });

  it('refusesAPackageSignedByAnotherKeyAndLeavesNoImage', () => {
    assert.throws(() => writeDiskImage({ ...options, publicKeyHex: generateUpdateKeys().publicKeyHex }), (e: unknown) => isPosError(e) && e.code === 'E-UPD-01');
    assert.equal(existsSync(options.out), false);
    assert.equal(existsSync(`${options.out}.partial`), false);
  });

  it('refusesAPackageForAnotherBoard', () => {
    assert.throws(() => writeDiskImage({ ...options, board: 'handheld' }), (e: unknown) => isPosError(e) && e.code === 'E-UPD-05');
    assert.equal(existsSync(options.out), false);
  });

  it('refusesATreeLargerThanItsPartitionNamingIt', () => {
    writeFileSync(join(dir, 'data', 'big'), Buffer.alloc(8 * 1024 * 1024));
    assert.throws(() => writeDiskImage(options), (e: unknown) => isPosError(e) && e.code === 'E-OPR-08' && /posdata/.test(e.message));
    assert.equal(existsSync(options.out), false);
  });

  it('readBackFindsOneByteChangedInTheImage', () => {
    writeDiskImage(options);
    const data = partitionLayout(SIZES).parts[2].startBytes;
    const staged = join(dir, 'staged-data');
    mkdirSync(staged);
    writeFileSync(join(staged, 'device.key'), 'k'.repeat(32));
    mkdirSync(join(staged, 'journal'));
    assert.equal(readBackPartition(options.out, data, staged, join(dir, 'rb1')), 1, 'the untouched image reads back');
    const block = Number(debugfs(options.out, data, 'bmap /device.key 0').trim());
    const blockSize = Number(/Block size:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', `${options.out}?offset=${data}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const fd = openSync(options.out, 'r+');
    writeSync(fd, Buffer.from('K'), 0, 1, data + block * blockSize);
    closeSync(fd);
    assert.throws(() => readBackPartition(options.out, data, staged, join(dir, 'rb2')), (e: unknown) => isPosError(e) && e.code === 'E-UPD-03' && /device\.key differs/.test(e.message));
    assert.equal(readFileSync(join(staged, 'device.key'), 'utf8'), 'k'.repeat(32));
  });
});

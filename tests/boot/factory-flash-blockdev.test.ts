/**
 * `pos factory flash` onto real block devices: loop devices (`losetup --show -f`) over sparse
 * files, the kernel's block layer between the station and the bytes (boot/flash/block-device.ts).
 * No QEMU: the self-test boot is skipped (no --boot-kernel), as in factory-flash.test.ts.
 *
 * - Two loop devices flashed at once by `pos factory flash`: each target's size is the kernel's
 *   (stat says 0), the station's read-back passes, and the test checks independently what the
 *   devices hold: the GPT parsed by `sfdisk --json`, the kernel's partitions (/sys) and their
 *   nodes' file systems (`blkid`), slot A's files against the signed manifest (dumped from the
 *   partition node, not the station's offsets), the partitions hashed as the report says, and the
 *   data partition's journal of that serial.
 * - The read-back reads the device, not the page cache: a byte changed in the loop device's
 *   backing file after the station wrote it (under the block device's page cache, as a bad cell
 *   would, with the old bytes cached and the device held open by another opener, so the kernel's
 *   drop of the cache at the last close does not happen) is found (E-FLS-02, not committed).
 *   Without the station's cache drop (BLKFLSBUF) it read the cached bytes back and passed.
 * - A TPM board onto a loop device: the first-boot request on its data partition.
 * - Refused with nothing written: a device with a mounted partition (E-FLS-01 naming the mount),
 *   a partition instead of the whole device, a /dev path that does not exist (never created), one
 *   device listed twice under two names (E-OPR-08).
 * - The station SIGKILLed in the middle of the write: no partition table on the device and none
 *   left in the kernel (the erase dropped them); the next run flashes it whole.
 * Loop devices are always detached in `after`, even when a test failed.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { needTool } from '../support/tools';
import { FlashReport, FlashStationOptions, flashStation } from '../../boot/factory-flash';
import { FIRST_BOOT_REQUEST_FILE, readFirstBootRequest } from '../../boot/first-boot-request';
import { inspectTarget, prepareTarget } from '../../boot/flash/target';
import { kernelName, kernelPartitions } from '../../boot/flash/block-device';
import { partitionLayout } from '../../boot/flash/disk-image';
import { parsePackage, publicKeyFromHex } from '../../boot/update';
import { main } from '../../boot/pos';
import { BOARD, Fixture, LoopDevices, REPO, SIZES, component, dumpFs, fixture, journalSerial, manifestFile, partOffset, station } from './flash-fixture';

const MIB = 1024 * 1024;
/** The loop devices' backing files: the test layout (26 MiB) and room to spare. */
const DEVICE_MIB = 32;
const LABELS = ['posroot', 'pos', 'posdata'] as const;

/** Says loudly why the suite cannot run here; fails instead under POS_REQUIRE_TOOLS=1 (CI). */
function skipLoudly(ctx: Mocha.Context, message: string): void {
  if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  ctx.skip();
}

/** SHA-256 of `bytes` of a file or device from `start`, read by the test itself. */
function sha256File(path: string, start: number, bytes: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(MIB);
  try {
    for (let at = start; at < start + bytes;) {
      const n = readSync(fd, buf, 0, Math.min(MIB, start + bytes - at), at);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

describe('pos factory flash onto block devices (loop devices over sparse files)', function () {
  this.timeout(5 * 60_000);
  let f: Fixture | undefined;
  const loops = new LoopDevices();
  const mounts: string[] = [];

  /** A loop device over a new sparse file of DEVICE_MIB; detached in `after`. */
  function attach(name: string): { dev: string; file: string } {
    const file = join(f!.dir, `${name}.backing`);
    return { dev: loops.attach(file, DEVICE_MIB), file };
  }

  before(function () {
    for (const t of ['sfdisk', 'mke2fs', 'debugfs', 'losetup', 'blockdev', 'partx', 'blkid', 'truncate']) needTool(this, t);
    if (process.getuid?.() !== 0) skipLoudly(this, 'loop devices need root: pos factory flash onto block devices is not tested here');
    f = fixture();
    try {
      loops.detach(attach('probe').dev);
    } catch (e) {
      skipLoudly(this, `losetup cannot attach a loop device here (${String(e).split('\n')[0]}): pos factory flash onto block devices is not tested`);
    }
  });

  after(() => {
    for (const m of mounts.splice(0)) spawnSync('umount', [m], { stdio: 'ignore' });
    loops.detachAll();
    if (f?.dir) rmSync(f.dir, { recursive: true, force: true });
  });

  const flashArgs = (dir: string, targets: readonly string[], serials: readonly string[], extra: readonly string[] = []): string[] => [
    '--image', f!.image, '--rootfs', f!.rootfs, '--board', BOARD, '--public-key', f!.publicKeyHex, '--sizes', `${SIZES.rootMiB},${SIZES.posMiB},${SIZES.dataMiB}`,
    '--targets', targets.join(','), '--manifest', manifestFile(dir, serials), '--report-dir', join(dir, 'reports'), '--work-dir', join(dir, 'work'), ...extra,
  ];

  /** `pos factory flash` in this process (the command's code path, without a second ts-node start). */
  const posFlash = async (args: readonly string[]): Promise<{ code: number; out: string }> => {
    const lines: string[] = [];
    const code = await main(['factory', 'flash', ...args], (l) => lines.push(l), (l) => lines.push(l));
    return { code, out: lines.join('\n') };
  };

  const options = (dir: string, serial: string, target: string, extra: Partial<FlashStationOptions> = {}): FlashStationOptions => ({
    image: f!.image, boardFile: BOARD, publicKeyHex: f!.publicKeyHex, rootfs: f!.rootfs, sizes: SIZES,
    targets: [{ serial, target, identity: { tid: 'FB000001', mid: '898123456700001', components: [component(), component()].map((c) => ({ keyHex: c.split('/')[0], kcvHex: c.split('/')[1] })) } }],
    workDir: join(dir, 'work'), reportDir: join(dir, 'reports'), scryptN: 1024, ...extra,
  });

  /** The checks that do not trust the station: table, kernel partitions, file systems, slot A, data. */
  async function checkDevice(dev: string, serial: string, report: FlashReport, scratch: string): Promise<void> {
    const layout = partitionLayout(SIZES);
    const table = (JSON.parse(execFileSync('sfdisk', ['--json', dev], { encoding: 'utf8' })) as { partitiontable: { label: string; lastlba: number; partitions: Array<{ node: string; start: number; size: number; name?: string }> } }).partitiontable;
    assert.equal(table.label, 'gpt');
    assert.equal(table.lastlba, DEVICE_MIB * MIB / 512 - 34, 'the backup GPT is in the device\'s last sectors, not the image\'s');
    const warnings = spawnSync('sfdisk', ['--list', dev], { encoding: 'utf8' }).stderr;
    assert.equal(warnings.trim(), '', 'sfdisk finds nothing to correct (protective MBR size, backup GPT place)');
    assert.deepEqual(table.partitions.map((p) => [p.name, p.start * 512, p.size * 512]), layout.parts.map((p) => [p.label, p.startBytes, p.sizeBytes]), 'the GPT on the device is the layout');
    const kernel = kernelPartitions(kernelName(dev));
    assert.deepEqual(kernel.map((p) => [p.startBytes, p.sizeBytes]), layout.parts.map((p) => [p.startBytes, p.sizeBytes]), 'the kernel has the partitions written');
    for (const [i, p] of kernel.entries()) {
      const node = `/dev/${p.name}`;
      assert.ok(existsSync(node), `${node} exists`);
      const id = execFileSync('blkid', ['-p', '-o', 'export', node], { encoding: 'utf8' });
      assert.match(id, new RegExp(`^LABEL=${LABELS[i]}$`, 'm'), `${node}: ${id}`);
      assert.match(id, /^TYPE=ext4$/m);
    }
    // Each copied partition hashed by the test through its own node equals what the report says.
    for (const [i, label] of (['posroot', 'pos'] as const).entries()) {
      const want = report.hashes.partitions.find((p) => p.label === label)?.sha256;
      assert.equal(sha256File(`/dev/${kernel[i].name}`, 0, kernel[i].sizeBytes), want, `${label} on the device is what the station read back`);
    }
    // Slot A from the pos partition's node, every file against the signed package's manifest.
    const slot = join(scratch, 'slot');
    dumpFs(`/dev/${kernel[1].name}`, 0, '/slotA', slot);
    const signed = parsePackage(readFileSync(f!.image), publicKeyFromHex(f!.publicKeyHex));
    const onDevice = readFileSync(join(slot, 'slotA', 'manifest.json'));
    assert.ok(onDevice.equals(signed.manifestBytes), 'slot A carries the signed manifest');
    assert.equal(createHash('sha256').update(onDevice).digest('hex'), report.hashes.slotA?.manifestSha256);
    for (const file of signed.manifest.files) {
      const data = readFileSync(join(slot, 'slotA', file.path));
      assert.equal(createHash('sha256').update(data).digest('hex'), file.sha256, file.path);
    }
    assert.equal(await journalSerial(`/dev/${kernel[2].name}`, join(scratch, 'data'), 0), serial, 'the data partition holds that serial\'s journal');
  }

  it('two loop devices flashed at once by pos factory flash: size from the kernel, read back by the station, GPT, partitions, slot A and data checked on the devices', async () => {
    const dir = join(f!.dir, 'two');
    mkdirSync(dir, { recursive: true });
    const devs = [attach('two-a').dev, attach('two-b').dev];
    assert.deepEqual(devs.map((d) => statSync(d).size), [0, 0], 'stat gives a block device no size');
    const serials = ['FB-0001', 'FB-0002'];
    const t0 = Date.now();
    const run = await posFlash(flashArgs(dir, devs, serials, ['--concurrency', '2']));
    process.stderr.write(`      two loop devices flashed in ${Date.now() - t0} ms (image built once, both written at once)\n`);
    assert.equal(run.code, 0, run.out);
    // Both at once: the pool took the second before the first was done (each in its own worker
    // thread; how far the second got by then depends on the load, so only its start is asserted).
    const lines = run.out.split('\n');
    const firstDone = lines.findIndex((l) => / done: pass$/.test(l));
    assert.ok(serials.every((s) => { const i = lines.findIndex((l) => l.startsWith(`${s} `) && / start$/.test(l)); return i >= 0 && i < firstDone; }), run.out);
    for (const [i, dev] of devs.entries()) {
      const report = JSON.parse(readFileSync(join(dir, 'reports', `${serials[i]}.flash.json`), 'utf8')) as FlashReport;
      assert.equal(report.pass, true, JSON.stringify(report.errors));
      assert.equal(report.targetKind, 'block-device');
      assert.deepEqual(report.steps.find((s) => s.name === 'erase')?.detail, { kind: 'block-device', sizeBytes: DEVICE_MIB * MIB }, 'the size is the kernel\'s (BLKGETSIZE64)');
      assert.ok(['BLKRRPART', 'partx'].includes(String(report.steps.find((s) => s.name === 'commit')?.detail?.kernelPartitions)), JSON.stringify(report.steps));
      assert.equal(inspectTarget(dev).state, 'complete');
      await checkDevice(dev, serials[i], report, join(dir, `check-${i}`));
    }
    const how = JSON.parse(readFileSync(join(dir, 'reports', `${serials[0]}.flash.json`), 'utf8')) as FlashReport;
    process.stderr.write(`      the kernel learnt the table by ${String(how.steps.find((s) => s.name === 'commit')?.detail?.kernelPartitions)}\n`);
  });

  it('the read-back reads the device, not the page cache: a byte changed under the cache (in the backing file) is found, E-FLS-02, not committed', async () => {
    const dir = join(f!.dir, 'under-cache');
    mkdirSync(dir, { recursive: true });
    const { dev, file } = attach('under-cache');
    const at = partOffset('pos') + SIZES.posMiB * MIB / 2;
    const o = options(dir, 'FB-0101', dev, {
      // The write is done and fsynced. The pos partition is read through the device, so its pages
      // are in the device's page cache (mke2fs and debugfs of the data step dropped the ones the
      // write left there), then the backing file changes beneath them, as the medium would under
      // a bad cell: a read-back from the cache would find the partition as written. The cache
      // outlives the station's own closes only while someone else has the device open (the
      // kernel drops a block device's cache at its last close): `holder` below, as udev's probe
      // or a disk monitor would.
      onProgress: (_serial, step) => {
        if (step !== 'readback') return;
        sha256File(dev, partOffset('pos'), SIZES.posMiB * MIB);
        const fd = openSync(file, 'r+');
        try { writeSync(fd, Buffer.from([0x5a]), 0, 1, at); } finally { closeSync(fd); }
      },
    });
    const holder = openSync(dev, 'r');
    let bad: FlashReport;
    try { [bad] = await flashStation(o); } finally { closeSync(holder); }
    assert.deepEqual(bad.errors.map((e) => [e.step, e.code]), [['readback', 'E-FLS-02']], 'the change was read from the device');
    assert.equal(inspectTarget(dev).state, 'incomplete', 'not committed: no partition table');
    assert.deepEqual(kernelPartitions(kernelName(dev)), [], 'and none in the kernel');
  });

  it('a TPM board onto a loop device: the first-boot request and the service administrator on its data partition, no key, no journal', async () => {
    const dir = join(f!.dir, 'tpm');
    mkdirSync(dir, { recursive: true });
    const { dev } = attach('tpm');
    const board = JSON.parse(readFileSync(join(REPO, 'board-configs', `${BOARD}.json`), 'utf8')) as Record<string, unknown>;
    const boardFile = join(dir, 'qemu-x86-tpm.json');
    writeFileSync(boardFile, JSON.stringify({ ...board, deviceKey: { provider: 'tpm2', tcti: 'device:/dev/tpmrm0' } }));
    const [r] = await flashStation(options(dir, 'FB-0201', dev, { boardFile }));
    assert.equal(r.pass, true, JSON.stringify(r.errors));
    const data = kernelPartitions(kernelName(dev))[2];
    const into = join(dir, 'data');
    dumpFs(`/dev/${data.name}`, 0, '/', into);
    assert.deepEqual(readdirSync(into).filter((n) => n !== 'lost+found').sort(), [FIRST_BOOT_REQUEST_FILE, 'service-admin.json']);
    assert.equal(readFirstBootRequest(join(into, FIRST_BOOT_REQUEST_FILE))?.serial, 'FB-0201');
  });

  it('refused with nothing written: a device with a mounted partition (the mount named), a partition, a /dev path that is not there, one device under two names', async function () {
    const dir = join(f!.dir, 'refused');
    mkdirSync(dir, { recursive: true });
    const { dev } = attach('refused');
    const [first] = await flashStation(options(dir, 'FB-0301', dev));
    assert.equal(first.pass, true, JSON.stringify(first.errors));
    const data = kernelPartitions(kernelName(dev))[2];
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const mounted = spawnSync('mount', ['-o', 'ro', `/dev/${data.name}`, mnt], { encoding: 'utf8' });
    if (mounted.status !== 0) skipLoudly(this, `mount cannot mount an ext4 partition of a loop device here (${mounted.stderr.trim()}): the refusal of a mounted device is not tested`);
    mounts.push(mnt);
    const before = sha256File(dev, 0, partitionLayout(SIZES).totalBytes);
    const [busy] = await flashStation(options(dir, 'FB-0301', dev));
    assert.deepEqual(busy.errors.map((e) => [e.step, e.code]), [['erase', 'E-FLS-01']]);
    assert.match(busy.errors[0].message, new RegExp(`/dev/${data.name} is mounted at ${mnt}`));
    assert.equal(sha256File(dev, 0, partitionLayout(SIZES).totalBytes), before, 'not a byte written');
    execFileSync('umount', [mounts.pop()!]);
    // The station's first check of a target (its erase step calls it): no run needed for these.
    assert.throws(() => prepareTarget(`/dev/${data.name}`, partitionLayout(SIZES).totalBytes), /E-FLS-01 .*is a partition .*give the whole device, e\.g\. \/dev\/loop\d+/);
    // The same device under two names (a symlink, as /dev/disk/by-id/ gives): refused before any target is touched.
    const alias = join(dir, 'alias-of-the-device');
    symlinkSync(dev, alias);
    const twice = { ...options(dir, 'FB-0301', dev), targets: [...options(dir, 'FB-0301', dev).targets, { ...options(dir, 'FB-0302', alias).targets[0], serial: 'FB-0302' }] };
    await assert.rejects(flashStation(twice), /E-OPR-08 target .*alias-of-the-device is the same device as \/dev\/loop\d+: listed twice/);
    const missing = `/dev/${kernelName(dev)}p99`;
    assert.throws(() => prepareTarget(missing, partitionLayout(SIZES).totalBytes), /E-FLS-01 .*no such block device/);
    assert.equal(existsSync(missing), false, 'no file made in /dev');
    assert.equal(sha256File(dev, 0, partitionLayout(SIZES).totalBytes), before, 'the device is as the first flash left it');
  });

  it('the station SIGKILLed in the middle of the write onto a loop device: no partition table there or in the kernel; the next run flashes it whole', async () => {
    const dir = join(f!.dir, 'killed');
    mkdirSync(dir, { recursive: true });
    const { dev } = attach('killed');
    const args = flashArgs(dir, [dev], ['FB-0401']);
    const first = await posFlash(args);
    assert.equal(first.code, 0, first.out);
    assert.equal(kernelPartitions(kernelName(dev)).length, 3);
    const killed = await station(args, 'write-half');
    assert.equal(killed.signal, 'SIGKILL', killed.out);
    assert.match(killed.out, /HOLD FB-0401 write-half/);
    assert.equal(inspectTarget(dev).state, 'incomplete', 'half written: no protective MBR, nothing boots');
    assert.deepEqual(kernelPartitions(kernelName(dev)), [], 'the erase took the old partitions from the kernel');
    const table = spawnSync('sfdisk', ['--json', dev], { encoding: 'utf8' });
    assert.ok(table.status !== 0 || !/"partitions"/.test(table.stdout), `sfdisk finds no partition table: ${table.stdout}`);
    const again = await posFlash(args);
    assert.equal(again.code, 0, again.out);
    const report = JSON.parse(readFileSync(join(dir, 'reports', 'FB-0401.flash.json'), 'utf8')) as FlashReport;
    assert.equal(report.before.state, 'incomplete');
    await checkDevice(dev, 'FB-0401', report, join(dir, 'check'));
  });
});

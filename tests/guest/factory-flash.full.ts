/**
 * `pos factory flash` end to end on the emulated board: the release image of the committed HEAD
 * (`npm run image -- --arch x64 --with-sim`, tests/guest/guest-disk.ts releaseImage) and the base OS
 * (scripts/guest/build-rootfs.sh) flashed onto a disk image file with the real partition sizes,
 * provisioned, read back, committed, booted in QEMU on Debian's kernel, where the station's
 * self-test unit runs `pos factory test` from the flashed selector and powers the board off; the
 * station reads the report off the data partition. Then the same disk with its commit sector
 * wiped (a flash stopped just before its commit) is booted: no partition table, no root file
 * system, the initramfs powers off; nothing of the half image runs. A loop device flashed at the
 * real sizes is booted from the device itself (QEMU's disk is /dev/loopN) for its self-test.
 *
 * Board: a TEST-ONLY variant of the simulator board named like the image's board (qemu-x86), its
 * storage on the data partition: the real qemu-x86.json needs the gpio-sim module and i2c-stub
 * loaded (tests/guest/guest-disk.ts says why the guest suites run the simulator variant).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { kcvOf } from '../../boot/factory';
import { flashStation, FlashReport } from '../../boot/factory-flash';
import { bootUntilPowerOff } from '../../boot/flash/qemu-boot';
import { inspectTarget } from '../../boot/flash/target';
import { PARTITION_SIZES_DEFAULT, POS_UID, partitionLayout } from '../../boot/flash/disk-image';
import { swtpmMissing } from '../support/swtpm';
import { GUEST_BOARD, REPO, guestArtifacts, releaseImage } from './guest-disk';
import { needGuestTools, reportFailuresAtOnce } from './support';
import { LoopDevices } from '../boot/flash-fixture';

/** Flash + boot + self-test under TCG on a loaded 2-core machine. */
const SELFTEST_BOOT_MS_MAX = 420_000;
/** The initramfs gives up on a missing root after 5 s; the kernel's boot before it under TCG. */
const REFUSED_BOOT_MS_MAX = 120_000;

function testBoard(publicKeyHex: string, extra: Record<string, unknown> = {}): string {
  const sim = JSON.parse(execFileSync('git', ['show', 'HEAD:board-configs/sim.json'], { cwd: REPO, encoding: 'utf8' })) as Record<string, unknown>;
  return JSON.stringify({
    ...sim, board: GUEST_BOARD,
    description: 'TEST-ONLY (tests/guest/factory-flash.full.ts): the simulator board under the emulated board\'s name, its storage on the data partition',
    storage: { journalDir: '/var/lib/pos/journal', backupDir: '/var/lib/pos/backup' },
    update: { publicKey: publicKeyHex, root: '/opt/pos' }, ...extra,
  }, null, 1);
}

function component(): { keyHex: string; kcvHex: string } {
  const key = randomBytes(16);
  return { keyHex: key.toString('hex').toUpperCase(), kcvHex: kcvOf(key) };
}

describe('guest: pos factory flash writes, checks, boots and self-tests a target; a half image does not boot', function () {
  this.timeout(30 * 60_000);
  reportFailuresAtOnce();
  let dir: string;
  let report: FlashReport;
  let kernel: string;
  let initrd: string;
  const loops = new LoopDevices();
  before(function () { needGuestTools(this); dir = mkdtempSync(join(tmpdir(), 'pos-guest-flash-')); });
  after(() => {
    loops.detachAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('flashesProvisionsCommitsBootsAndPassesTheSelfTest', async () => {
    const t0 = Date.now();
    const artifacts = guestArtifacts();
    const release = releaseImage();
    ({ kernel, initrd } = artifacts);
    const prepMs = Date.now() - t0;
    const board = join(dir, 'board.json');
    writeFileSync(board, testBoard(release.publicKeyHex));
    const t1 = Date.now();
    [report] = await flashStation({
      image: release.file, boardFile: board, rootfs: artifacts.rootfs,
      targets: [{ serial: 'QF-0001', target: join(dir, 'QF-0001.img'), identity: { tid: 'QF000001', mid: '898123456700001', components: [component(), component()] } }],
      workDir: join(dir, 'work'), reportDir: join(dir, 'reports'), boot: { kernel, initrd, timeoutMs: SELFTEST_BOOT_MS_MAX },
    });
    const stationMs = Date.now() - t1;
    assert.equal(report.pass, true, JSON.stringify({ errors: report.errors, boot: report.boot }, null, 1));
    assert.equal(report.after?.state, 'complete');
    assert.ok((report.hashes.slotA?.files ?? 0) > 1000, 'every file of the release image checked on the target');
    assert.equal(report.boot?.exitCode, 0, 'the guest powered itself off after the self-test');
    assert.equal(report.selfTest?.serial, 'QF-0001');
    assert.equal(report.selfTest?.pass, true, JSON.stringify(report.selfTest?.tests.filter((t) => !t.pass)));
    const ms = (name: string): string => `${((report.steps.find((s) => s.name === name)?.ms ?? 0) / 1000).toFixed(1)} s`;
    process.stderr.write(`      flash: release image ${release.buildMs ? `built in ${(release.buildMs / 1000).toFixed(1)} s` : 'cached'}, kernel/rootfs ${(prepMs / 1000).toFixed(1)} s; station ${(stationMs / 1000).toFixed(1)} s: provision ${ms('provision')}, erase ${ms('erase')}, write ${ms('write')}, data ${ms('data')}, readback ${ms('readback')} (${report.hashes.slotA?.files} slot files), commit ${ms('commit')}, boot + self-test ${ms('boot')}\n`);
  });

  it('aLoopDeviceIsFlashedAtTheRealSizesAndBootedFromTheDeviceForItsSelfTest', async function () {
    // The station's boot step on a block device: QEMU's disk is /dev/loopN itself, as a station's
    // jig would hand it an eMMC in a reader (tests/boot/factory-flash-blockdev.test.ts: the rest).
    const probe = spawnSync('losetup', ['--version']);
    if (process.getuid?.() !== 0 || probe.status !== 0) {
      const message = 'the self-test boot from a loop device needs root and losetup';
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
      process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
      this.skip();
    }
    const release = releaseImage();
    const artifacts = guestArtifacts();
    ({ kernel, initrd } = artifacts);
    const board = join(dir, 'board-loop.json');
    writeFileSync(board, testBoard(release.publicKeyHex));
    const dev = loops.attach(join(dir, 'QF-0003.backing'), partitionLayout(PARTITION_SIZES_DEFAULT).totalBytes / (1024 * 1024) + 64);
    const t0 = Date.now();
    const [r] = await flashStation({
      image: release.file, boardFile: board, rootfs: artifacts.rootfs,
      targets: [{ serial: 'QF-0003', target: dev, identity: { tid: 'QF000003', mid: '898123456700003', components: [component(), component()] } }],
      workDir: join(dir, 'work-loop'), reportDir: join(dir, 'reports-loop'), boot: { kernel, initrd, timeoutMs: SELFTEST_BOOT_MS_MAX },
    });
    assert.equal(r.targetKind, 'block-device');
    assert.equal(r.pass, true, JSON.stringify({ errors: r.errors, boot: r.boot, failed: r.selfTest?.tests.filter((t) => !t.pass) }, null, 1));
    assert.equal(r.boot?.exitCode, 0, 'the guest booted from the device powered itself off after the self-test');
    assert.equal(r.selfTest?.serial, 'QF-0003');
    const ms = (name: string): string => `${((r.steps.find((s) => s.name === name)?.ms ?? 0) / 1000).toFixed(1)} s`;
    process.stderr.write(`      flash onto ${dev} (real sizes): ${((Date.now() - t0) / 1000).toFixed(1)} s: write ${ms('write')}, readback ${ms('readback')}, commit ${ms('commit')} (kernel told by ${String(r.steps.find((s) => s.name === 'commit')?.detail?.kernelPartitions)}), boot + self-test from the device ${ms('boot')}\n`);
  });

  it('aTpmBoardsSelfTestBootSealsItsKeyInItsOwnTpmFromTheStationsRequest', async function () {
    if (swtpmMissing()) {
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(swtpmMissing());
      process.stderr.write(`\n*** SKIPPED: ${swtpmMissing()} ***\n\n`);
      this.skip();
    }
    const release = releaseImage();
    const artifacts = guestArtifacts();
    ({ kernel, initrd } = artifacts);
    const board = join(dir, 'board-tpm.json');
    writeFileSync(board, testBoard(release.publicKeyHex, { deviceKey: { provider: 'tpm2', tcti: 'device:/dev/tpmrm0' } }));
    const [r] = await flashStation({
      image: release.file, boardFile: board, rootfs: artifacts.rootfs,
      targets: [{ serial: 'QF-0002', target: join(dir, 'QF-0002.img'), identity: { tid: 'QF000002', mid: '898123456700002', components: [component(), component()] } }],
      workDir: join(dir, 'work-tpm'), reportDir: join(dir, 'reports-tpm'), boot: { kernel, initrd, timeoutMs: SELFTEST_BOOT_MS_MAX, tpmDir: join(dir, 'tpms') },
    });
    const seal = r.selfTest?.tests[0];
    assert.equal(seal?.name, 'device key sealed by the TPM', JSON.stringify({ errors: r.errors, boot: r.boot, tests: r.selfTest?.tests }));
    assert.equal(seal?.pass, true, JSON.stringify(seal));
    assert.equal(r.pass, true, JSON.stringify({ errors: r.errors, failed: r.selfTest?.tests.filter((t) => !t.pass) }));
    // On the data partition: the sealed key and the journal, owned by the terminal's user; no request.
    const data = `${r.target}?offset=${partitionLayout(PARTITION_SIZES_DEFAULT).parts.find((p) => p.label === 'posdata')!.startBytes}`;
    const ls = execFileSync('debugfs', ['-R', 'ls -l /', data], { encoding: 'utf8' });
    assert.match(ls, /device-key\.tpm/);
    assert.doesNotMatch(ls, /provision-request\.json/);
    assert.match(execFileSync('debugfs', ['-R', 'stat /journal/data.mdb', data], { encoding: 'utf8' }), new RegExp(`User:\\s+${POS_UID}\\b`), 'the journal the self-test made as root belongs to the terminal\'s user');
    process.stderr.write(`      flash: TPM board self-test boot ${((r.boot?.ms ?? 0) / 1000).toFixed(1)} s, the seal ${seal?.ms} ms\n`);
  });

  it('aTargetStoppedBeforeItsCommitHasNoPartitionTableAndDoesNotBoot', async function () {
    if (!report?.pass) this.skip();
    const half = join(dir, 'half.img');
    execFileSync('cp', ['--sparse=always', report.target, half]);
    // Everything written and read back, the commit sector not yet: a flash killed between the two.
    const fd = openSync(half, 'r+');
    try { writeSync(fd, Buffer.alloc(512), 0, 512, 0); } finally { closeSync(fd); }
    assert.equal(inspectTarget(half).state, 'incomplete');
    const r = await bootUntilPowerOff({ disk: half, kernel, initrd, append: 'pos.factory_selftest=QF-0001', consoleFile: join(dir, 'half-console.log'), timeoutMs: REFUSED_BOOT_MS_MAX });
    assert.equal(r.timedOut, false, r.consoleTail);
    assert.match(r.consoleTail, /pos-initrd: /, 'the initramfs finds no root file system and powers off');
    assert.doesNotMatch(r.consoleTail, /systemd\[1\]|pos-factory-selftest/, 'nothing of the half image ran');
    process.stderr.write(`      flash: the uncommitted disk powered off in ${(r.ms / 1000).toFixed(1)} s without a root file system\n`);
  });
});

/**
 * A TPM board from the flashing station to trading, on a real kernel (issue 15 §2 and §6; boot/README.md
 * "TPM boards at the flashing station"). The guest gets a TPM 2.0 on QEMU's TIS interface, backed
 * by a swtpm on the host (its state folder is the chip): Debian's kernel drives it (tpm_tis, built
 * in), /dev/tpmrm0 belongs to group tss (tpm-udev), and the terminal's provider runs the base OS's
 * tpm2-tools against it.
 *
 * - The data partition is what the station's provisioning step makes for a TPM board (boot/factory.ts
 *   provision with sealAtFirstBoot: the first-boot request, no key, no journal; the same call
 *   boot/factory-flash.ts makes). The disk is built by tests/guest/guest-disk.ts, not by the
 *   station's write and read-back (tests/boot/factory-flash.test.ts tests those): the guest needs
 *   the test-only agent and relay in its root file system, which the station does not write.
 * - First boot with TPM A: the terminal seals a fresh key in the TPM, makes its journal from the
 *   request, destroys the request; the cashier signs in and a sale goes through with the host.
 * - Second boot with TPM A (a new swtpm process on the same state: a power cycle of the chip): the
 *   key unseals, the journal is verified at open, the sale is there; read off the disk after a
 *   clean power-off, the journal agrees with the host's ledger.
 * - The same disk copied and booted with TPM B (another chip, no state of A): the terminal stops
 *   in recovery with E-KEY-07 on its screen, and the data partition is not changed.
 *
 * The board: a TEST-ONLY variant of the simulator board with `"deviceKey": {"provider": "tpm2"}`
 * (keys, card and screens through the simulator's control interface, as the other guest tests;
 * tests/guest/guest-disk.ts says why) and the simulator's test identity, which a simulator board
 * may carry. About 10 minutes under TCG here: nightly (npm run test:guest:full).
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kcvOf, provision, TEST_IDS } from '../../boot/factory';
import { FIRST_BOOT_REQUEST_FILE } from '../../boot/first-boot-request';
import { SIM_IDENTITY } from '../../boot/sim-provision';
import { PARTITION_SIZES_DEFAULT, partitionLayout } from '../../boot/flash/disk-image';
import { TPM_SEALED_FILE } from '../../runtime/device-key-tpm';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { assertLedgerAgrees, journalState, Driver } from '../e2e/driver';
import { needSwtpm, swtpmForQemu } from '../support/swtpm';
import { GUEST_JOURNAL_DIR, REPO, buildGuestDisk, GuestDisk } from './guest-disk';
import { Guest } from './qemu';
import { GUEST_STEP_MS_MAX, GuestBench, guestDriver, guestSale, guestSignIn, needGuestTools, reportFailuresAtOnce, waitUnitActive } from './support';

const BOARD_NAME = 'qemu-sim-tpm';
const BOARD_PATH = `/etc/pos/${BOARD_NAME}.json`;
/** QEMU's start to the unit active (READY=1): the drop-in's TimeoutStartSec, under TCG at load 15-20. */
const UNIT_ACTIVE_MS_MAX = 600_000;
/** From the unit's start to the recovery screen: node's start, the unseal refused. */
const RECOVERY_MS_MAX = 600_000;

function tpmBoard(): string {
  const sim = JSON.parse(execFileSync('git', ['show', 'HEAD:board-configs/sim.json'], { cwd: REPO, encoding: 'utf8' })) as Record<string, unknown>;
  return JSON.stringify({
    ...sim, board: BOARD_NAME,
    description: 'TEST-ONLY (tests/guest/tpm-board.full.ts): the simulator board with its device key sealed by the guest\'s TPM, storage on the data partition',
    storage: { journalDir: GUEST_JOURNAL_DIR, backupDir: '/var/lib/pos/backup' },
    deviceKey: { provider: 'tpm2', tcti: 'device:/dev/tpmrm0' },
  }, null, 1);
}

/** Two components whose XOR is the simulator's test TMK (a simulator board may carry it). */
function testComponents(): Array<{ keyHex: string; kcvHex: string }> {
  const one = randomBytes(16);
  const two = Buffer.from(TEST_IDS.tmkHex, 'hex').map((b, i) => b ^ one[i]);
  return [one, Buffer.from(two)].map((k) => ({ keyHex: k.toString('hex').toUpperCase(), kcvHex: kcvOf(k) }));
}

/** The data partition's files (device key, request, journal) as digests, read off the disk with debugfs. */
function dataDigests(disk: string, into: string): Record<string, string> {
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  const data = partitionLayout(PARTITION_SIZES_DEFAULT).parts.find((p) => p.label === 'posdata')!;
  execFileSync('debugfs', ['-R', `rdump / ${into}`, `${disk}?offset=${data.startBytes}`], { stdio: 'ignore' });
  const out: Record<string, string> = {};
  for (const f of [TPM_SEALED_FILE, FIRST_BOOT_REQUEST_FILE, 'journal/data.mdb']) {
    const p = join(into, f);
    out[f] = existsSync(p) ? createHash('sha256').update(execFileSync('cat', [p])).digest('hex') : 'absent';
  }
  return out;
}

describe('guest: a TPM board seals its device key at first boot, trades, unseals after a reboot; its data on another TPM opens nothing', function () {
  this.timeout(45 * 60_000);
  reportFailuresAtOnce();
  const bench = {} as GuestBench;
  let disk: GuestDisk;
  let guest: Guest | undefined;
  let tpm: ChildProcess | undefined;
  let driver: Driver | undefined;

  before(async function () {
    this.timeout(30 * 60_000);
    needGuestTools(this);
    needSwtpm(this);
    bench.dir = mkdtempSync(join(tmpdir(), 'pos-guest-tpm-'));
    // What the station writes for a TPM board (boot/factory-flash.ts provisionStage): the request.
    const stage = join(bench.dir, 'stage');
    await provision({
      serial: SIM_IDENTITY, tid: TEST_IDS.tid, mid: TEST_IDS.mid, components: testComponents(),
      board: JSON.parse(tpmBoard()), locale: 'en', journalDir: join(stage, 'journal'), registryFile: join(bench.dir, 'registry.json'),
      deviceKey: { sealAtFirstBoot: join(stage, FIRST_BOOT_REQUEST_FILE) },
    });
    // TimeoutStartSec: at load 15-20 the terminal's start under TCG outruns the product's 120 s
    // (tests/guest/real-board.ts gives 600 s for the same reason); a restart mid-seal would hide why.
    const dropIn = `# TEST-ONLY (tests/guest/tpm-board.full.ts)\n[Service]\nEnvironment=POS_BOARD=${BOARD_PATH}\nEnvironmentFile=-/run/pos-test.env\nTimeoutStartSec=600\n`;
    disk = buildGuestDisk(join(bench.dir, 'disk'), [{ path: BOARD_PATH, content: tpmBoard() }], { unitDropIn: dropIn, dataDir: stage });
    bench.disk = disk;
    process.stderr.write(`      TPM guest disk built in ${(disk.buildMs / 1000).toFixed(1)} s (release image ${disk.imageBuildMs ? `built in ${(disk.imageBuildMs / 1000).toFixed(1)} s` : 'cached'})\n`);
    bench.host = new AcquirerSimulator({ clock: Date.now });
    await bench.host.listen(0);
  });
  afterEach(async function () {
    // A failure names what the guest's terminal logged (the run folder goes with the suite).
    if (this.currentTest?.state === 'failed' && guest?.running) {
      const log = await guest.run('journalctl -b -u pos-terminal.service -o short-monotonic --no-pager | tail -60').catch((e: unknown) => ({ out: String(e) }));
      process.stderr.write(`      the guest's pos-terminal log:\n${log.out}\n`);
    }
    driver?.run?.client.close();
    driver = undefined;
    if (guest?.running) await guest.powerCut();
    guest = undefined;
    if (tpm && tpm.exitCode === null && tpm.signalCode === null) tpm.kill('SIGTERM');
    tpm = undefined;
  });
  after(async () => {
    await bench.host?.close();
    if (bench.dir) rmSync(bench.dir, { recursive: true, force: true });
  });

  async function boot(image: string, chip: string, run: string): Promise<Guest> {
    const runDir = join(bench.dir, run);
    mkdirSync(runDir, { recursive: true });
    tpm = await swtpmForQemu(join(bench.dir, chip), join(runDir, 'swtpm.sock'));
    guest = await Guest.boot({ disk: image, kernel: disk.artifacts.kernel, initrd: disk.artifacts.initrd, runDir, append: `pos.hostport=${bench.host.port}`, tpmSocket: join(runDir, 'swtpm.sock') });
    return guest;
  }

  async function powerOff(g: Guest): Promise<void> {
    driver?.run?.client.close();
    driver = undefined;
    await g.run('systemctl poweroff').catch(() => undefined);
    assert.equal(await g.waitExit(180_000), 0, 'clean power-off');
  }

  it('firstBootSealsTheKeyInTheTpmAndASaleGoesThroughThenARebootUnsealsItAndTheJournalAgreesWithTheHost', async () => {
    const t0 = Date.now();
    let g = await boot(disk.image, 'tpm-a', 'boot-1');
    // The agent runs from sysinit: udev may not have set the device's group yet.
    await g.until('ls -l /dev/tpmrm0', (o) => / tss /.test(o), GUEST_STEP_MS_MAX);
    const activeMs = await waitUnitActive(g, UNIT_ACTIVE_MS_MAX);
    driver = await guestDriver(bench, g);
    await guestSignIn(driver);
    const firstIdleMs = Date.now() - t0;
    assert.match(await g.sh(`ls /var/lib/pos`), new RegExp(TPM_SEALED_FILE));
    assert.doesNotMatch(await g.sh('ls /var/lib/pos'), new RegExp(FIRST_BOOT_REQUEST_FILE), 'the request is destroyed');
    assert.match(await g.sh('journalctl -u pos-terminal.service -o cat --no-pager'), /first boot: device key sealed by this board's TPM/);
    await guestSale(driver, '4200');
    assert.equal(bench.host.ledger.entries({}).filter((e) => e.type === 'sale' && e.status === 'approved').length, 1, 'the host approved the sale');
    await powerOff(g);
    if (tpm?.exitCode === null) tpm.kill('SIGTERM');

    const t1 = Date.now();
    g = await boot(disk.image, 'tpm-a', 'boot-2');
    await waitUnitActive(g, UNIT_ACTIVE_MS_MAX);
    driver = await guestDriver(bench, g);
    await driver.until('login', () => true, GUEST_STEP_MS_MAX);
    const secondLoginMs = Date.now() - t1;
    const log = await g.sh('journalctl -b -u pos-terminal.service -o cat --no-pager');
    assert.match(log, /device key: unsealed by the TPM/, 'the second boot unseals');
    assert.doesNotMatch(log, /first boot: device key sealed/, 'and seals nothing new');
    await powerOff(g);
    // journalState opens <dir>/journal: the data partition is dumped there.
    const after = dataDigests(disk.image, join(bench.dir, 'journal-off-disk'));
    assert.equal(after[FIRST_BOOT_REQUEST_FILE], 'absent', 'no request left on the disk');
    const state = await journalState(join(bench.dir, 'journal-off-disk'));
    assert.equal([...state.txns.values()].filter((t) => t.status === 'approved').length, 1, 'the sale is in the journal read off the disk');
    assertLedgerAgrees(bench.host, state, state.batch);
    process.stderr.write(`      TPM board: first boot to unit active ${(activeMs / 1000).toFixed(1)} s, to idle after sealing and signing in ${(firstIdleMs / 1000).toFixed(1)} s; second boot to login (unsealed) ${(secondLoginMs / 1000).toFixed(1)} s\n`);
  });

  it('theDataPartitionOnADiskBootedWithAnotherTpmOpensNothingE_KEY_07OnScreenAndIsNotChanged', async () => {
    const copy = join(bench.dir, 'copied.img');
    execFileSync('cp', ['--sparse=always', disk.image, copy]);
    const before = dataDigests(copy, join(bench.dir, 'copy-before'));
    assert.notEqual(before[TPM_SEALED_FILE], 'absent', 'control: the copy holds the sealed key (the test above ran)');
    const g = await boot(copy, 'tpm-b', 'boot-other-tpm');
    driver = await guestDriver(bench, g);
    const deadline = Date.now() + RECOVERY_MS_MAX;
    let snap = await driver.snapshot();
    while (!(snap.state.startsWith('recovery') && snap.data.error !== undefined) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      snap = await driver.snapshot();
    }
    assert.ok(snap.state.startsWith('recovery'), `stopped in recovery (state ${snap.state})`);
    assert.equal(snap.data.error?.code, 'E-KEY-07', JSON.stringify(snap.data.error));
    assert.ok(snap.screen.text.join(' ').includes('E-KEY-07'), `the screen shows E-KEY-07: ${snap.screen.text.join(' | ')}`);
    await powerOff(g);
    assert.deepEqual(dataDigests(copy, join(bench.dir, 'copy-after')), before, 'the data partition is as it was');
  });
});

/**
 * The flashed disk the guest tests boot: Debian's kernel and the tiny initramfs, the base OS from
 * scripts/guest/build-rootfs.sh, the release image of the committed HEAD (`npm run image`, x64,
 * with the simulator), written by boot/flash/disk-image.ts.
 *
 * TEST-ONLY additions to the root file system (never in a shipped image; all under names that
 * say so):
 *   pos-test-agent.service   a root shell loop on ttyS3, the tests' command channel (qemu.ts)
 *   pos-test-env.service     writes /run/pos-test.env from the kernel command line (pos.hostport=N):
 *                            POS_TERMINAL_ARGS for the unit, so the terminal signs on to the
 *                            acquirer simulator on the host (10.0.2.2 = the host's loopback);
 *                            /run/pos-test-real-board.env the same without --control-port
 *   pos-test-relay.socket    forwards 0.0.0.0:7001 to the control interface on 127.0.0.1:7000
 *                            (systemd-socket-proxyd, started by the first connection)
 *   /etc/pos/qemu-sim.json   see below
 *
 * The terminal in the guest runs the SIMULATOR board variant `qemu-sim` (board-configs/sim.json
 * with its storage on the data partition): the emulated board's keypad, reset button, LEDs and
 * battery lines are GPIO lines, and the guest's kernel gets a GPIO chip only from the out-of-tree
 * gpio-sim module another engineer is building (scripts/guest/gpio-sim/). Until it lands, the
 * kernel-level parts this exercises are systemd (the unit, Type=notify, the watchdog, restarts),
 * the real ext4 on the flashed disk, the page cache and the power cut; keys, card and battery go
 * through the simulator board's control interface. board-configs/qemu-x86.json is the emulated
 * board's real file (UARTs, i2c-stub, gpio-sim) for when that module is in.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { generateUpdateKeys } from '../../boot/update';
import { buildImage } from '../../scripts/image/build-image';
import { writeDiskImage, DiskImageReport, ExtraFile } from '../../boot/flash/disk-image';
import { GUEST_CONTROL_RELAY_PORT } from './qemu';

export const REPO = join(__dirname, '..', '..');
export const GUEST_CACHE = process.env.POS_GUEST_CACHE ?? join(REPO, '.cache', 'guest');
export const GUEST_BOARD = 'qemu-x86';
export const GUEST_RELEASE_VERSION = '1.0.0';
/** The control interface's port inside the guest (relayed to GUEST_CONTROL_RELAY_PORT). */
export const GUEST_CONTROL_PORT = 7000;
export const GUEST_JOURNAL_DIR = '/var/lib/pos/journal';
/** mmdebstrap from scratch takes ~75 s here; a build that takes this long is stuck. */
const BUILD_MS_MAX = 15 * 60_000;

export interface GuestArtifacts { readonly kernel: string; readonly initrd: string; readonly rootfs: string }

/** Kernel, initramfs and base OS, built into .cache/guest when missing (the scripts cache them). */
export function guestArtifacts(): GuestArtifacts {
  const script = (name: string): string => execFileSync(join(REPO, 'scripts', 'guest', name), { encoding: 'utf8', timeout: BUILD_MS_MAX, stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const abi = script('fetch-kernel.sh');
  const rootfs = script('build-rootfs.sh');
  const initrd = script('build-initrd.sh');
  return { kernel: join(GUEST_CACHE, 'kernel', abi, 'root', 'boot', `vmlinuz-${abi}`), initrd, rootfs };
}

/**
 * Starts scripts/guest/build-rootfs.sh in the background: from scratch (CI) it is mmdebstrap, a
 * minute or more and most of it downloads, which ran after the release image's build (another
 * minute and a half, mostly CPU) instead of beside it. guestArtifacts() runs the script again,
 * which waits on the script's lock for this build and prints its tarball (or, if this one failed,
 * builds it and says why); with the tarball cached it returns at once.
 */
function startRootfsBuild(): void {
  const child = spawn(join(REPO, 'scripts', 'guest', 'build-rootfs.sh'), [], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('error', () => undefined); // guestArtifacts() runs it in the foreground and reports
}

/**
 * The release image for x64 (`npm run image`, scripts/image/build-image.ts: the committed HEAD, the
 * simulator included for the guest's board variant), signed by a key made for it, cached in
 * .cache/guest/image/<key of its inputs> (the same inputs build the same bytes).
 */
/** What scripts/image/build-image.ts archives from the commit, and the builder itself. */
const IMAGE_INPUTS = ['boot', 'common', 'hal', 'runtime', 'sim', 'storage', 'ui-lcd', 'board-configs', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/image'];

export function releaseImage(): { file: string; publicKeyHex: string; buildMs: number } {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  // Keyed by what the image is built from (the committed trees it archives and the builder), not
  // the commit: another engineer's commit elsewhere does not cost a 2-3 minute rebuild.
  const inputs = execFileSync('git', ['ls-tree', 'HEAD', ...IMAGE_INPUTS], { cwd: REPO, encoding: 'utf8' });
  const key = createHash('sha256').update(inputs).digest('hex').slice(0, 16);
  const dir = join(GUEST_CACHE, 'image', key);
  const file = join(dir, `pos-${GUEST_RELEASE_VERSION}-${GUEST_BOARD}.posupd`);
  const pub = join(dir, 'public-key.hex');
  if (existsSync(file) && existsSync(pub)) return { file, publicKeyHex: readFileSync(pub, 'utf8').trim(), buildMs: 0 };
  const t0 = Date.now();
  // Built in a folder of this process's own and renamed into place whole: guest tests of several
  // engineers (or CI beside one) may build the same key at once, and a shared work folder was
  // removed by one build under the other (ENOTEMPTY in rmSync, the other's image half written).
  // The first rename wins; a later builder drops its own copy and uses the winner's image and key.
  const own = `${dir}.building-${process.pid}`;
  rmSync(own, { recursive: true, force: true });
  mkdirSync(own, { recursive: true });
  const keys = generateUpdateKeys();
  writeFileSync(join(own, 'vendor-key.pem'), keys.privateKeyPem, { mode: 0o600 });
  buildImage({
    arch: 'x64', keyFile: join(own, 'vendor-key.pem'), out: join(own, basename(file)), version: GUEST_RELEASE_VERSION, board: GUEST_BOARD,
    withSim: true, commit, work: join(own, 'work'),
  });
  rmSync(join(own, 'work'), { recursive: true, force: true });
  writeFileSync(join(own, 'public-key.hex'), keys.publicKeyHex);
  settleImageDir(own, dir, file);
  return { file, publicKeyHex: readFileSync(pub, 'utf8').trim(), buildMs: Date.now() - t0 };
}

/**
 * Moves a finished image folder to its key's place, unless another builder's got there first. A
 * folder there without its image is a build that died (or the shared-folder layout before this
 * one): it is replaced, once.
 */
function settleImageDir(own: string, dir: string, file: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      renameSync(own, dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
      if (existsSync(file)) {
        rmSync(own, { recursive: true, force: true });
        return;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`could not move the release image from ${own} to ${dir}`);
}

/** The simulator board variant the guest's terminal runs (see the file comment). */
function qemuSimBoard(): string {
  // From the commit the release image is built from: the slot's board schema is that commit's.
  const sim = JSON.parse(execFileSync('git', ['show', 'HEAD:board-configs/sim.json'], { cwd: REPO, encoding: 'utf8' })) as Record<string, unknown>;
  return JSON.stringify({
    ...sim, board: 'qemu-sim',
    description: 'TEST-ONLY: the simulator board inside the QEMU guest (tests/guest), its storage on the data partition',
    storage: { journalDir: GUEST_JOURNAL_DIR, backupDir: '/var/lib/pos/backup' },
  }, null, 1);
}

const AGENT = `#!/bin/sh
# TEST-ONLY (tests/guest/qemu.ts): runs one shell command per line read from ttyS3 as root and
# answers "AGENT-DONE <id> <exit code> <output in base64>". Never part of a shipped image.
stty -F /dev/ttyS3 raw -echo -ixon -ixoff 115200
exec </dev/ttyS3 >/dev/ttyS3 2>&1
echo AGENT-READY
while IFS= read -r line; do
  id="\${line%% *}"; cmd="\${line#* }"
  out="$(sh -c "$cmd" 2>&1 </dev/null)"; rc=$?
  echo "AGENT-DONE $id $rc $(printf '%s' "$out" | base64 -w0)"
done
`;

function unit(description: string, body: string): string {
  return `# TEST-ONLY (tests/guest/guest-disk.ts): never part of a shipped image.\n[Unit]\nDescription=${description}\n${body}`;
}

/** The test-only files (see the file comment). */
export function testRootFiles(): ExtraFile[] {
  const wants = (target: string, name: string): ExtraFile => ({ path: `/etc/systemd/system/${target}.wants/${name}`, content: `/etc/systemd/system/${name}`, symlink: true });
  return [
    { path: '/usr/local/sbin/pos-test-agent', content: AGENT, mode: 0o755 },
    { path: '/etc/systemd/system/pos-test-agent.service', content: unit('Test-only command channel on ttyS3', 'DefaultDependencies=no\nAfter=systemd-remount-fs.service\n[Service]\nExecStart=/usr/local/sbin/pos-test-agent\nRestart=always\nRestartSec=1\n') },
    wants('sysinit.target', 'pos-test-agent.service'),
    // $$ in a unit is a literal $ for the shell (systemd expands $NAME and ${NAME} itself).
    // Two files: the simulator board variants take the control port; a real board file refuses it
    // (boot/terminal-main.ts SIMULATOR_ONLY_FLAGS), so its drop-in reads the other (tests/guest/real-board.ts).
    { path: '/etc/systemd/system/pos-test-env.service', content: unit('Test-only terminal arguments from the kernel command line', `Before=pos-terminal.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'p=; for a in $$(cat /proc/cmdline); do case $$a in pos.hostport=*) p=$\${a#pos.hostport=};; esac; done; args="--host 10.0.2.2 --host-port $$p --locale en"; echo "POS_TERMINAL_ARGS=$$args --control-port ${GUEST_CONTROL_PORT}" > /run/pos-test.env; echo "POS_TERMINAL_ARGS=$$args" > ${REAL_BOARD_ENV_FILE}'\n`) },
    wants('multi-user.target', 'pos-test-env.service'),
    // The host reaches guest port 7001 (QEMU hostfwd); the simulator board's control interface
    // listens on the guest's loopback only. systemd's own proxy, started by the first connection:
    // a node relay cost 3 s of the guest's TCG CPU at every boot, most of them boots no test
    // connects to (a workload's power cut).
    { path: '/etc/systemd/system/pos-test-relay.socket', content: unit('Test-only relay to the control interface', `[Socket]\nListenStream=0.0.0.0:${GUEST_CONTROL_RELAY_PORT}\n`) },
    wants('sockets.target', 'pos-test-relay.socket'),
    { path: '/etc/systemd/system/pos-test-relay.service', content: unit('Test-only relay to the control interface', `Requires=pos-test-relay.socket\nAfter=pos-test-relay.socket\n[Service]\nExecStart=/usr/lib/systemd/systemd-socket-proxyd 127.0.0.1:${GUEST_CONTROL_PORT}\n`) },
    { path: '/etc/pos/qemu-sim.json', content: qemuSimBoard() },
  ];
}

/** The test's terminal arguments without the simulator board's (pos-test-env.service writes both files). */
export const REAL_BOARD_ENV_FILE = '/run/pos-test-real-board.env';

/** The unit's drop-in for the guest: the board variant and the test's terminal arguments. */
export const GUEST_DROP_IN = '# TEST-ONLY (tests/guest)\n[Service]\nEnvironment=POS_BOARD=/etc/pos/qemu-sim.json\nEnvironmentFile=-/run/pos-test.env\n';

export interface GuestDisk { readonly image: string; readonly report: DiskImageReport; readonly artifacts: GuestArtifacts; readonly buildMs: number; readonly imageBuildMs: number }

/** What a test changes in the flashed disk (tests/guest/real-board.ts: the emulated board's own file). */
export interface GuestDiskOptions {
  /** Replaces GUEST_DROP_IN (the unit's board and arguments). */
  readonly unitDropIn?: string;
  /** A pre-provisioned data partition (boot/flash/disk-image.ts `dataDir`). */
  readonly dataDir?: string;
}

/** Builds the guest's disk image in `dir` from the release image. */
export function buildGuestDisk(dir: string, extraRootFiles: readonly ExtraFile[] = [], options: GuestDiskOptions = {}): GuestDisk {
  const t0 = Date.now();
  startRootfsBuild();
  const release = releaseImage();
  const artifacts = guestArtifacts();
  mkdirSync(dir, { recursive: true });
  const image = join(dir, 'disk.img');
  const report = writeDiskImage({
    out: image, baseRootfs: artifacts.rootfs, packageFile: release.file, publicKeyHex: release.publicKeyHex, board: GUEST_BOARD,
    unitFile: join(REPO, 'boot', 'pos-terminal.service'), unitDropIn: options.unitDropIn ?? GUEST_DROP_IN,
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    extraRootFiles: [...testRootFiles(), ...extraRootFiles], workDir: join(dir, 'work'),
  });
  rmSync(join(dir, 'work'), { recursive: true, force: true });
  return { image, report, artifacts, buildMs: Date.now() - t0, imageBuildMs: release.buildMs };
}

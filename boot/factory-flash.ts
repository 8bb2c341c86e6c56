/**
 * The flashing station (`pos factory flash`, issue 15 §2): a release image (`npm run image`)
 * onto blank targets, each provisioned, checked, committed, booted and self-tested, one JSON
 * report per serial.
 *
 * Once per run: the package is verified (signature, board, every file's hash) and one disk
 * image is built from it and the base OS (boot/flash/disk-image.ts: GPT, posroot, pos with slot
 * A installed by the update code and the selector, every file read back), with the board file
 * at /etc/pos/board.json and the factory self-test unit (below). Then per target, in a pool of
 * at most `concurrency` at once (FLASH_CONCURRENCY_MAX, default 8), each target's steps up to its
 * commit in a worker thread of its own (boot/flash/flash-worker.ts, see runTargetSteps for why
 * threads and not processes), the boot in the station's main thread:
 *
 *   provision  identity, TMK and device key (boot/factory.ts provision) into a staging folder of
 *              the serial; a serial whose staging already holds its journal (a flash stopped
 *              after provisioning) is reused, with a new service password
 *   erase      the target's sector 0 and GPT areas zeroed (a file target: emptied), fsync:
 *              from here on it has no partition table and cannot boot (boot/flash/target.ts);
 *              a block device is refused first if it or a partition of it is in use, and the
 *              kernel is made to forget its old partitions (boot/flash/block-device.ts)
 *   write      the GPT areas (the image's, or for a device larger than the image the same
 *              layout's table for its size: partitionTableFor), posroot and pos copied, fsync
 *   data       the data partition made from the staging folder on the target, read back
 *   readback   posroot and pos hashed on the target against the image; slot A and the selector
 *              dumped from the target and every file checked against the signed manifest
 *   commit     sector 0 (the protective MBR) written last, fsync: the target is bootable; a
 *              block device's new partitions told to the kernel (BLKRRPART, else partx) and checked
 * Every read-back of a block device reads the device: its page cache is dropped first (BLKFLSBUF).
 *   boot       (with a kernel and initramfs: the emulated board) QEMU boots the target with
 *              pos.factory_selftest=<serial>; the self-test unit runs `pos factory test` and
 *              powers off; its report is read off the data partition. At most `bootConcurrency`
 *              guests at once (default 1: each is a TCG guest of 256 MB on a 2-core station)
 *
 * A stop anywhere before commit leaves a target with no partition table: it never boots a half
 * image and the station flashes it again from the start (its report says what it found there).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PosError, isPosError, errorByCode } from '../common/errors';
import { workerScriptFor } from '../common/spawn';
import { readBoardFile } from '../hal/board';
import { DEVICE_KEY_FILE, deviceKeyProviderFor, keyDirFor } from '../runtime/device-key-provider';
import { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { isoInZone } from '../common/time';
import { KeyComponent, LOCALES, MerchantAdminInput, TestReport, checkMerchantAdmin, merchantAdminRecord, provision, provisionRecord } from './factory';
import { createServiceAdmin, serviceAdminFile } from './service-admin';
import { FIRST_BOOT_REQUEST_FILE, readFirstBootRequest } from './first-boot-request';
import { parsePackage, publicKeyFromHex, UpdateManifest, UPDATE_SOURCE_FILE } from './update';
import { writeFileAtomic, slotProblem, UPDATE_SLOTS_SOURCE_FILE } from './update-slots';
import { DISK_IMAGE_SOURCE_FILE, ExtraFile, Layout, PARTITION_SIZES_DEFAULT, PartitionSizes, SECTOR_BYTES, partitionLayout, tool, writeDataPartition, writeDiskImage, writePartitionTable } from './flash/disk-image';
import { TargetInfo, TargetInspection, commitTarget, copyRanges, eraseTarget, hashRange, inspectTarget, prepareTarget, readFromDevice, tellKernel } from './flash/target';
import { bootUntilPowerOff, startSwtpm } from './flash/qemu-boot';
import { goldenImagePath, goldenKey, keepGolden, keptGolden } from './flash/golden-cache';

/** Targets written at once (the "8 at once"). */
export const FLASH_CONCURRENCY_MAX = 8;
/** Targets in one run (the pool takes them FLASH_CONCURRENCY_MAX at a time). */
export const FLASH_TARGETS_MAX = 64;
/** Guests booted at once by default: each is one TCG CPU and 256 MB; the station has 2 cores. */
export const BOOT_CONCURRENCY_DEFAULT = 1;
/** From QEMU's start to the guest's power-off after the self-test (TCG, node's start, the test). */
export const BOOT_TIMEOUT_MS_DEFAULT = 300_000;
/** Where the flashed terminal's data partition is mounted (boot/flash/disk-image.ts FSTAB). */
export const DATA_MOUNT = '/var/lib/pos';
/** The board file on the flashed root file system. */
export const BOARD_FILE_ON_TARGET = '/etc/pos/board.json';
/** The kernel command line option that runs the self-test unit, with the serial as its value. */
export const SELFTEST_CMDLINE = 'pos.factory_selftest';
/** The self-test's report folder on the data partition (`<serial>.json`, `<serial>.log`). */
export const SELFTEST_DIR = 'factory-selftest';
/** How much of the self-test's log a failed boot's report keeps (its last lines say why). */
const SELFTEST_LOG_TAIL_CHARS = 2_000;
export const REPORT_FORMAT = 1;
/** What a TPM board's report says of its device key: none yet, its TPM seals one at first boot. */
export const TPM_FIRST_BOOT = 'sealed by the board\'s own TPM at its first boot (provision-request.json on the data partition until then)';

/** Where a test may stop the station (POS_FLASH_TEST_HOLD_AT, tests/boot/factory-flash.test.ts). */
export const HOLD_POINTS = ['provisioned', 'erased', 'write-half', 'written', 'data-written', 'verified', 'committed'] as const;
export type HoldPoint = (typeof HOLD_POINTS)[number];
/** A target held at a hold point waits for its kill; this timer only keeps its thread alive meanwhile. */
const HOLD_KEEPALIVE_MS = 60_000;

export interface FlashTargetSpec {
  readonly serial: string;
  /** A disk image file (created or reused) or a block device. */
  readonly target: string;
  readonly identity: { readonly tid: string; readonly mid: string; readonly components: readonly KeyComponent[] };
  /**
   * The merchant's first administrator in this target's journal (boot/factory.ts
   * MerchantAdminInput): checked for every target before any is touched; the password is hashed
   * into the journal and is in no report, log or progress line.
   */
  readonly merchantAdmin?: MerchantAdminInput;
}

export interface FlashBootOptions {
  readonly kernel: string;
  readonly initrd: string;
  readonly timeoutMs?: number;
  /**
   * For a board whose device key a TPM seals: the emulated boards' TPMs, one swtpm state folder
   * per serial under this folder (the serial's chip, the same at every boot). The self-test boot
   * seals the key in it (boot/first-boot-seal.ts). Absent: the board boots without a TPM and
   * its self-test reports E-KEY-05.
   */
  readonly tpmDir?: string;
}

export interface FlashStationOptions {
  /** The release image (boot/UPDATE_FORMAT.md). */
  readonly image: string;
  /** The board file (a name in board-configs/ or a path): layout of storage, device key, the package's board. */
  readonly boardFile: string;
  /** The board's update key; default: the board file's update.publicKey. */
  readonly publicKeyHex?: string;
  /** The base OS (a folder or a tarball: scripts/guest/build-rootfs.sh). */
  readonly rootfs: string;
  readonly targets: readonly FlashTargetSpec[];
  readonly workDir: string;
  readonly reportDir: string;
  readonly registryFile?: string;
  readonly locale?: (typeof LOCALES)[number];
  readonly sizes?: PartitionSizes;
  readonly concurrency?: number;
  /** Boot and self-test on the emulated board; absent: the step is `skipped` in the report. */
  readonly boot?: FlashBootOptions;
  readonly bootConcurrency?: number;
  readonly onProgress?: (serial: string, step: string) => void;
  /** Once, when the disk image is ready: built by this run or an earlier run's reused (boot/flash/golden-cache.ts). */
  readonly onImage?: (image: { readonly file: string; readonly reused: boolean; readonly ms: number }) => void;
  /** TEST-ONLY: stop (never return) at this point of every target, after onHold. */
  readonly holdAt?: HoldPoint;
  readonly onHold?: (serial: string, point: HoldPoint) => void;
  readonly scryptN?: number;
}

export interface FlashStep {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly skipped?: string;
  readonly detail?: Record<string, unknown>;
}

export interface FlashError { readonly step: string; readonly code: string; readonly message: string; readonly cause?: string }

export interface FlashReport {
  readonly format: number;
  readonly kind: 'factory-flash';
  readonly serial: string;
  readonly target: string;
  targetKind?: TargetInfo['kind'];
  readonly board: string;
  readonly image: { readonly file: string; readonly sha256: string; readonly version: string; readonly commit?: string };
  /** What the station found on the target before writing (an interrupted flash: `incomplete`). */
  readonly before: TargetInspection;
  after?: TargetInspection;
  readonly steps: FlashStep[];
  readonly hashes: {
    partitions: Array<{ label: string; startBytes: number; sizeBytes: number; sha256: string }>;
    slotA?: { files: number; bytes: number; manifestSha256: string };
    selector?: { files: number };
    dataFiles?: number;
  };
  provisioning?: Record<string, unknown>;
  selfTest?: TestReport;
  boot?: { ms: number; exitCode: number | null; timedOut: boolean; consoleTail?: string; /** The end of the self-test's own log when it wrote no report. */ selfTestLogTail?: string };
  readonly pass: boolean;
  readonly errors: FlashError[];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ms: number;
  /** Kept in memory for the station's console only; never written (writeFlashReport drops it). */
  servicePassword?: string;
}

/** The image every target gets, built once per run; plain data (it is cloned into each target's worker). */
export interface Golden {
  readonly file: string;
  readonly layout: Layout;
  /** SHA-256 of each copied range of the image, by label (copiedRanges). */
  readonly hashes: Readonly<Record<string, string>>;
  readonly manifest: UpdateManifest;
  readonly manifestSha256: string;
  readonly imageSha256: string;
  readonly board: string;
  readonly journalRel: string;
  readonly zone: number;
  /** The image was an earlier run's, kept in the work folder (boot/flash/golden-cache.ts), not built by this run. */
  readonly reused: boolean;
}

/** Runs the station over every target; one report each (also written to reportDir), and the run's summary (writeFlashSummary). */
export async function flashStation(o: FlashStationOptions): Promise<FlashReport[]> {
  checkTargets(o);
  mkdirSync(o.workDir, { recursive: true });
  mkdirSync(o.reportDir, { recursive: true });
  const t0 = Date.now();
  // The package is verified and the image built once, here; every target's worker reads that file.
  const golden = buildGolden(o);
  const imageMs = Date.now() - t0;
  o.onImage?.({ file: golden.file, reused: golden.reused, ms: imageMs });
  const startedAt = isoInZone(t0, golden.zone);
  const bootSlots = new Semaphore(o.bootConcurrency ?? BOOT_CONCURRENCY_DEFAULT);
  const reports: FlashReport[] = new Array(o.targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.targets.length) {
      const i = next++;
      reports[i] = await flashOne(o, golden, o.targets[i], bootSlots);
      writeFlashReport(o.reportDir, reports[i]);
    }
  };
  const concurrency = Math.min(o.concurrency ?? FLASH_CONCURRENCY_MAX, o.targets.length);
  await Promise.all(Array.from({ length: concurrency }, worker));
  writeFlashSummary(o.reportDir, flashSummary(reports, { image: o.image, imageSha256: golden.imageSha256, diskImage: { reused: golden.reused, ms: imageMs }, board: golden.board, concurrency, startedAt, ms: Date.now() - t0 }));
  return reports;
}

/** The station's run at a glance: which serials passed, which failed and at which step. */
export interface FlashSummary {
  readonly format: number;
  readonly kind: 'factory-flash-summary';
  readonly image: { readonly file: string; readonly sha256: string };
  /** The disk image every target got: built by this run, or an earlier run's with the same inputs (boot/flash/golden-cache.ts); ms until it was ready. */
  readonly diskImage: { readonly reused: boolean; readonly ms: number };
  readonly board: string;
  readonly concurrency: number;
  readonly startedAt: string;
  readonly ms: number;
  readonly passed: readonly string[];
  readonly failed: ReadonlyArray<{ readonly serial: string; readonly target: string; readonly step: string; readonly code: string; readonly message: string }>;
}

export const FLASH_SUMMARY_FILE = 'flash-summary.json';

export function flashSummary(reports: readonly FlashReport[], run: { image: string; imageSha256: string; diskImage: { reused: boolean; ms: number }; board: string; concurrency: number; startedAt: string; ms: number }): FlashSummary {
  return {
    format: REPORT_FORMAT, kind: 'factory-flash-summary', image: { file: run.image, sha256: run.imageSha256 }, diskImage: run.diskImage, board: run.board,
    concurrency: run.concurrency, startedAt: run.startedAt, ms: run.ms,
    passed: reports.filter((r) => r.pass).map((r) => r.serial),
    failed: reports.filter((r) => !r.pass).map((r) => {
      // The first error names the step; a target that failed without one (a self-test that ran and
      // said fail) failed at its last step.
      const e = r.errors[0];
      const last = r.steps[r.steps.length - 1];
      return e
        ? { serial: r.serial, target: r.target, step: e.step, code: e.code, message: e.message }
        : { serial: r.serial, target: r.target, step: last?.name ?? 'none', code: '', message: last?.name === 'boot' ? 'the self-test failed (its report is in the serial\'s report)' : 'not complete' };
    }),
  };
}

/** `<dir>/flash-summary.json`, durably: the last run's summary (each serial's own report stays beside it). */
export function writeFlashSummary(dir: string, summary: FlashSummary): string {
  const file = join(dir, FLASH_SUMMARY_FILE);
  writeFileAtomic(file, JSON.stringify(summary, null, 1) + '\n', dir);
  return file;
}

function checkTargets(o: FlashStationOptions): void {
  const n = o.targets.length;
  if (n < 1 || n > FLASH_TARGETS_MAX) throw new PosError('OPR_INPUT', `a flash run takes 1..${FLASH_TARGETS_MAX} targets (got ${n})`);
  const c = o.concurrency ?? FLASH_CONCURRENCY_MAX;
  if (!Number.isInteger(c) || c < 1 || c > FLASH_CONCURRENCY_MAX) throw new PosError('OPR_INPUT', `--concurrency is 1..${FLASH_CONCURRENCY_MAX}`);
  const b = o.bootConcurrency ?? BOOT_CONCURRENCY_DEFAULT;
  if (!Number.isInteger(b) || b < 1 || b > FLASH_CONCURRENCY_MAX) throw new PosError('OPR_INPUT', `--boot-concurrency is 1..${FLASH_CONCURRENCY_MAX}`);
  for (const t of o.targets) if (t.merchantAdmin) checkMerchantAdmin(t.merchantAdmin);
  for (const key of ['serial', 'target'] as const) {
    const seen = new Set<string>();
    for (const t of o.targets) {
      if (seen.has(t[key])) throw new PosError('OPR_INPUT', `${key} ${t[key]} is listed twice`);
      seen.add(t[key]);
    }
  }
  checkDistinctDevices(o.targets.map((t) => t.target));
}

/**
 * One block device named twice under two paths (/dev/sdb and /dev/disk/by-id/...) would get two
 * targets' writes at once: refused before any target is touched, by the device's number.
 */
function checkDistinctDevices(paths: readonly string[]): void {
  const seen = new Map<bigint, string>();
  for (const path of paths) {
    const st = existsSync(path) ? statSync(path, { bigint: true }) : undefined;
    if (!st?.isBlockDevice()) continue;
    const first = seen.get(st.rdev);
    if (first !== undefined) throw new PosError('OPR_INPUT', `target ${path} is the same device as ${first}: listed twice`);
    seen.set(st.rdev, path);
  }
}

// ---------------------------------------------------------------- once per run

function buildGolden(o: FlashStationOptions): Golden {
  const boardFile = readBoardFile(o.boardFile);
  const { config } = boardFile;
  const journalRel = relative(DATA_MOUNT, config.storage.journalDir);
  if (!isAbsolute(config.storage.journalDir) || journalRel.startsWith('..') || journalRel === '' || isAbsolute(journalRel)) {
    throw new PosError('OPR_INPUT', `${boardFile.file}: storage.journalDir ${config.storage.journalDir} must be inside ${DATA_MOUNT} (the data partition)`);
  }
  const publicKeyHex = o.publicKeyHex ?? config.update?.publicKey;
  if (!publicKeyHex) throw new PosError('OPR_INPUT', `${boardFile.file} has no update.publicKey: give --public-key HEX`);
  const bytes = readFileSync(o.image);
  const parsed = parsePackage(bytes, publicKeyFromHex(publicKeyHex));
  if (parsed.manifest.board !== config.board) throw new PosError('UPD_BOARD', `${o.image} is for board "${parsed.manifest.board}", the board file is "${config.board}"`);
  const unit = parsed.manifest.files.findIndex((f) => f.path === 'systemd/pos-terminal.service');
  if (unit < 0) throw new PosError('UPD_CORRUPT', `${o.image}: no systemd/pos-terminal.service in the image`);
  const sizes = o.sizes ?? PARTITION_SIZES_DEFAULT;
  const layout = partitionLayout(sizes);
  const boardFileText = readFileSync(boardFile.file, 'utf8');
  const extraRootFiles = stationRootFiles(boardFileText);
  const hashRanges = (image: string): Record<string, string> => Object.fromEntries(copiedRanges(layout).map((r) => [r.label, hashRange(image, r.start, r.bytes)]));
  // The image of an earlier run with the same inputs, when it is still whole (boot/flash/golden-cache.ts).
  const imageSha256 = sha256(bytes);
  const key = goldenKey({
    packageSha256: imageSha256, boardFileText, rootfs: o.rootfs, settings: { sizes, publicKeyHex, board: config.board, dropIn: TERMINAL_DROP_IN, extraRootFiles },
    codeFiles: [__filename, DISK_IMAGE_SOURCE_FILE, UPDATE_SOURCE_FILE, UPDATE_SLOTS_SOURCE_FILE],
  });
  const kept = keptGolden(o.workDir, key, layout.totalBytes, hashRanges);
  const { file, hashes } = kept ?? ((): { file: string; hashes: Record<string, string> } => {
    const unitFile = join(o.workDir, 'pos-terminal.service');
    writeFileSync(unitFile, parsed.contents[unit]);
    const out = goldenImagePath(o.workDir);
    writeDiskImage({
      out, baseRootfs: o.rootfs, packageFile: o.image, publicKeyHex, board: config.board, unitFile,
      unitDropIn: TERMINAL_DROP_IN, extraRootFiles, sizes, workDir: join(o.workDir, 'image-work'),
    });
    rmSync(join(o.workDir, 'image-work'), { recursive: true, force: true });
    const built = hashRanges(out);
    keepGolden(o.workDir, key, layout.totalBytes, built);
    return { file: out, hashes: built };
  })();
  return {
    file, layout, hashes, manifest: parsed.manifest, manifestSha256: sha256(parsed.manifestBytes),
    imageSha256, board: config.board, journalRel, zone: config.tzOffsetMinutes, reused: kept !== undefined,
  };
}

/** The terminal's unit on a flashed board: the board file, and no start while the station's self-test runs. */
const TERMINAL_DROP_IN = [
  '# Written by the flashing station (boot/factory-flash.ts).',
  '[Unit]',
  `ConditionKernelCommandLine=!${SELFTEST_CMDLINE}`,
  '[Service]',
  `Environment=POS_BOARD=${BOARD_FILE_ON_TARGET}`,
  '',
].join('\n');

/**
 * The self-test unit: runs only when the station boots the board with
 * pos.factory_selftest=<serial> (never in the field, whose kernel command line does not have it),
 * runs `pos factory test` from the selector's tree, leaves the report on the data partition and
 * powers the board off. $$ is a literal $ for the shell (systemd expands $NAME itself).
 */
export const FACTORY_SELFTEST_UNIT = [
  '# Written by the flashing station (boot/factory-flash.ts): the factory self-test, at the station only.',
  '[Unit]',
  'Description=Factory self-test (pos factory test) at the flashing station',
  `ConditionKernelCommandLine=${SELFTEST_CMDLINE}`,
  `RequiresMountsFor=/opt/pos ${DATA_MOUNT}`,
  '[Service]',
  'Type=oneshot',
  `Environment=POS_BOARD=${BOARD_FILE_ON_TARGET}`,
  `ExecStart=/bin/sh -c 's=; for a in $$(cat /proc/cmdline); do case "$$a" in ${SELFTEST_CMDLINE}=*) s="$\${a#${SELFTEST_CMDLINE}=}";; esac; done; d=${DATA_MOUNT}/${SELFTEST_DIR}; mkdir -p "$$d"; /opt/pos/selector/node/bin/node /opt/pos/selector/dist/boot/pos.js factory test --serial "$$s" --board ${BOARD_FILE_ON_TARGET} --report-dir "$$d" > "$$d/$$s.log" 2>&1; echo "pos-factory-selftest: $$s exit $$?" > /dev/console; sync; systemctl --no-block poweroff'`,
  '[Install]',
  'WantedBy=multi-user.target',
  '',
].join('\n');

function stationRootFiles(boardJson: string): ExtraFile[] {
  return [
    { path: BOARD_FILE_ON_TARGET, content: boardJson },
    { path: '/etc/systemd/system/pos-factory-selftest.service', content: FACTORY_SELFTEST_UNIT },
    { path: '/etc/systemd/system/multi-user.target.wants/pos-factory-selftest.service', content: '/etc/systemd/system/pos-factory-selftest.service', symlink: true },
  ];
}

/** One range the station copies: from the image, or (`table`) from the target's own partition table. */
interface CopiedRange { readonly label: string; readonly start: number; readonly bytes: number; readonly from: 'image' | 'table' }

/**
 * What the station copies onto a target of `sizeBytes`: the GPT areas (from the target's table,
 * partitionTableFor) and the two system partitions (from the image); never posdata (each
 * target's own). The backup GPT is the target's last MiB, wherever that is.
 */
function copiedRanges(l: Layout, sizeBytes = l.totalBytes): CopiedRange[] {
  const first = l.parts[0].startBytes;
  const end = l.parts[l.parts.length - 1].startBytes + l.parts[l.parts.length - 1].sizeBytes;
  const tailBytes = l.totalBytes - end;
  return [
    // Sector 0 (the protective MBR) is not copied with the rest: it is the commit, written last.
    { label: 'gpt-primary', start: SECTOR_BYTES, bytes: first - SECTOR_BYTES, from: 'table' },
    ...l.parts.filter((p) => p.label !== 'posdata').map((p) => ({ label: p.label, start: p.startBytes, bytes: p.sizeBytes, from: 'image' as const })),
    { label: 'gpt-backup', start: sizeBytes - tailBytes, bytes: tailBytes, from: 'table' },
  ];
}

/**
 * The file whose GPT areas and sector 0 the target gets: the image's own when the target is the
 * image's size (a file target); for a larger one (a block device) the same layout's table written
 * for the target's size into `stage`, so that its backup GPT is in the device's last sectors and
 * its protective MBR covers the device (with the image's, Linux and sfdisk find the backup GPT
 * "not at the end of the device" and a protective MBR that does not span it).
 */
function partitionTableFor(g: Golden, t: TargetInfo, stage: string): string {
  if (t.sizeBytes === g.layout.totalBytes) return g.file;
  mkdirSync(stage, { recursive: true });
  const file = join(stage, 'partition-table.img');
  writePartitionTable(file, g.layout, t.sizeBytes);
  return file;
}

// ---------------------------------------------------------------- per target

/**
 * What a target's worker thread gets: plain data only (structured clone). `ack` is one Int32 the
 * worker waits on after each progress message until the station has run its onProgress (so that
 * a caller's onProgress still runs before the step it names, as it did in one thread).
 */
export interface TargetJob {
  readonly o: Pick<FlashStationOptions, 'image' | 'boardFile' | 'workDir' | 'reportDir' | 'registryFile' | 'locale' | 'scryptN' | 'holdAt'>;
  readonly golden: Golden;
  readonly spec: FlashTargetSpec;
  readonly ack: SharedArrayBuffer;
}

/** What the steps up to the commit hand back to the station (plain data, from the worker). */
export interface TargetOutcome {
  readonly steps: FlashStep[];
  readonly errors: FlashError[];
  readonly hashes: FlashReport['hashes'];
  readonly extra: TargetExtra;
  readonly target?: TargetInfo;
}

type TargetExtra = Partial<Pick<FlashReport, 'provisioning' | 'selfTest' | 'boot' | 'after' | 'targetKind' | 'servicePassword'>>;

/** Messages of a target's worker to the station (boot/flash/flash-worker.ts). */
export type TargetMessage =
  | { readonly kind: 'progress'; readonly step: string }
  | { readonly kind: 'hold'; readonly point: HoldPoint }
  | { readonly kind: 'done'; readonly outcome: TargetOutcome }
  | { readonly kind: 'failed'; readonly message: string };

/** The worker waits this long for the station to take a progress message (it answers at once unless stuck). */
export const PROGRESS_ACK_WAIT_MS_MAX = 60_000;

/** Runs `fn` as the report's step `name`: timed, its error kept as the report's. */
class StepLog {
  readonly steps: FlashStep[] = [];
  readonly errors: FlashError[] = [];
  constructor(private readonly progress: (step: string) => void) {}
  async step(name: string, fn: () => Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined): Promise<boolean> {
    this.progress(name);
    const s0 = Date.now();
    try {
      const detail = await fn();
      this.steps.push({ name, ok: true, ms: Date.now() - s0, ...(detail ? { detail } : {}) });
      return true;
    } catch (e) {
      const err = asFlashError(name, e);
      this.errors.push(err);
      this.steps.push({ name, ok: false, ms: Date.now() - s0, detail: { code: err.code } });
      return false;
    }
  }
}

async function flashOne(o: FlashStationOptions, g: Golden, spec: FlashTargetSpec, bootSlots: Semaphore): Promise<FlashReport> {
  const t0 = Date.now();
  const startedAt = isoInZone(t0, g.zone);
  const before: TargetInspection = existsSync(spec.target) ? inspectTarget(spec.target) : { state: 'blank', reason: 'the file does not exist yet' };
  const stage = join(o.workDir, 'targets', spec.serial);
  // Taken by the pool: from here until 'done' the target counts against the concurrency.
  o.onProgress?.(spec.serial, 'start');
  const out = await targetInWorker(o, g, spec);
  const { hashes, extra, target } = out;
  const log = new StepLog((step) => o.onProgress?.(spec.serial, step));
  log.steps.push(...out.steps);
  log.errors.push(...out.errors);
  const committed = out.errors.length === 0 && target !== undefined && extra.after?.state === 'complete';
  if (committed && o.boot) {
    await log.step('boot', () => bootSlots.run(() => bootAndSelfTest(o.boot!, g, target, spec.serial, stage, extra)));
  } else if (committed) {
    log.steps.push({ name: 'boot', ok: false, ms: 0, skipped: 'no --boot-kernel/--boot-initrd: the self-test runs on the board at its first boot (pos factory test)' });
  }
  rmSync(join(stage, 'readback'), { recursive: true, force: true });
  const pass = log.errors.length === 0 && extra.after?.state === 'complete' && (o.boot ? extra.selfTest?.pass === true : true);
  o.onProgress?.(spec.serial, pass ? 'done: pass' : 'done: FAIL');
  return {
    format: REPORT_FORMAT, kind: 'factory-flash', serial: spec.serial, target: spec.target, board: g.board,
    image: { file: o.image, sha256: g.imageSha256, version: g.manifest.version, ...commitOf(g.manifest) },
    before, steps: log.steps, hashes, ...extra, pass, errors: log.errors, startedAt, finishedAt: isoInZone(Date.now(), g.zone), ms: Date.now() - t0,
  };
}

/** The worker thread's script: compiled JavaScript beside this file or in a fresh dist/, else the TypeScript under ts-node (tests). */
function flashWorkerFile(): { file: string; execArgv: string[] } {
  return workerScriptFor(join(__dirname, 'flash', 'flash-worker'));
}

/**
 * The target's steps up to its commit in a worker thread of its own (boot/flash/flash-worker.ts).
 * Progress and hold points come back as messages; a worker that stops without its outcome (it
 * crashed) fails the target at the step it was in, with nothing committed by it after that step.
 */
function targetInWorker(o: FlashStationOptions, g: Golden, spec: FlashTargetSpec): Promise<TargetOutcome> {
  const ack = new SharedArrayBuffer(4);
  const flag = new Int32Array(ack);
  const job: TargetJob = {
    o: { image: o.image, boardFile: o.boardFile, workDir: o.workDir, reportDir: o.reportDir, registryFile: o.registryFile, locale: o.locale, scryptN: o.scryptN, holdAt: o.holdAt },
    golden: g, spec, ack,
  };
  const { file, execArgv } = flashWorkerFile();
  return new Promise((resolve) => {
    let lastStep = 'start';
    let settled = false;
    const fail = (message: string): void => {
      if (settled) return;
      settled = true;
      const code = 'E-SYS-99'; // as asFlashError names a failure that is not one of ours
      resolve({ steps: [{ name: lastStep, ok: false, ms: 0, detail: { code } }], errors: [{ step: lastStep, code, message: `the target's worker stopped: ${message}` }], hashes: { partitions: [] }, extra: {} });
    };
    // Never terminate() it: the worker closes its LMDB environment (provisioning) and ends by
    // itself; stopping it during that close aborts the whole process (storage/verify-parallel.ts).
    const w = new Worker(file, { execArgv });
    w.postMessage(job);
    w.on('message', (m: TargetMessage) => {
      if (m.kind === 'progress') {
        lastStep = m.step;
        try { o.onProgress?.(spec.serial, m.step); } finally {
          Atomics.store(flag, 0, 1);
          Atomics.notify(flag, 0);
        }
      } else if (m.kind === 'hold') {
        o.onHold?.(spec.serial, m.point);
      } else if (m.kind === 'done') {
        settled = true;
        resolve(m.outcome);
      } else {
        fail(m.message);
      }
    });
    w.once('error', (e) => fail(e.message));
    w.once('exit', (code) => fail(`exit ${code} before its outcome`));
  });
}

/**
 * A target's steps up to its commit (provision, erase, write, data, readback, commit), run in the
 * target's own worker thread (boot/flash/flash-worker.ts). Threads, not child processes, because
 * (1) the heavy parts are synchronous: fs reads and writes of the image, SHA-256 of every range
 * and file, and mke2fs/debugfs through execFileSync; each blocks only its own thread, so N
 * targets use N cores where one process used one; and (2) a station killed by SIGKILL (or a power
 * cut) stops every target with it, as it did in one thread: a child process would outlive its
 * killed parent (Node has no PR_SET_PDEATHSIG) and go on writing a target nobody watches.
 */
export async function runTargetSteps(job: TargetJob, hooks: { progress: (step: string) => void; hold: (point: HoldPoint) => void }): Promise<TargetOutcome> {
  const { o, golden: g, spec } = job;
  const stage = join(o.workDir, 'targets', spec.serial);
  const hashes: FlashReport['hashes'] = { partitions: [] };
  const extra: TargetExtra = {};
  const log = new StepLog(hooks.progress);
  let target: TargetInfo | undefined;
  /** The file the target's GPT areas and sector 0 come from (partitionTableFor). */
  let table = g.file;
  const hold = async (point: HoldPoint): Promise<void> => {
    if (o.holdAt !== point) return;
    hooks.hold(point);
    // Wait for the kill; the timer keeps the worker's event loop (and so the thread) alive.
    await new Promise<never>(() => setInterval(() => undefined, HOLD_KEEPALIVE_MS));
  };
  await log.step('provision', async () => {
    refuseSecondDisk(o, g, spec, stage);
    const p = await provisionStage(o, g, spec, join(stage, 'data'));
    extra.provisioning = p.record;
    extra.servicePassword = p.servicePassword;
    await hold('provisioned');
    return { reused: p.reused };
  })
    && await log.step('erase', async () => {
      target = prepareTarget(spec.target, g.layout.totalBytes);
      extra.targetKind = target.kind;
      table = partitionTableFor(g, target, stage);
      eraseTarget(target);
      await hold('erased');
      return { kind: target.kind, sizeBytes: target.sizeBytes };
    })
    && await log.step('write', async () => {
      // In two parts (the GPT's primary area and posroot, then pos and the backup GPT), so that a
      // test can stop the station between them, with half the image on the target.
      const ranges = copiedRanges(g.layout, target!.sizeBytes);
      const cut = ranges.findIndex((r) => r.label === 'pos');
      const copy = (part: readonly CopiedRange[]): void => {
        for (const r of part) copyRanges(r.from === 'table' ? table : g.file, target!, [r]);
      };
      copy(ranges.slice(0, cut));
      await hold('write-half');
      copy(ranges.slice(cut));
      await hold('written');
      return { bytes: ranges.reduce((n, r) => n + r.bytes, 0) };
    })
    && await log.step('data', async () => {
      const part = g.layout.parts.find((p) => p.label === 'posdata')!;
      hashes.dataFiles = writeDataPartition(target!.path, part, join(stage, 'data'), join(stage, 'data-work'), () => readFromDevice(target!));
      await hold('data-written');
      return { files: hashes.dataFiles };
    })
    && await log.step('readback', async () => {
      readBack(g, table, target!, hashes, join(stage, 'readback'));
      await hold('verified');
      return { partitions: hashes.partitions.length, slotFiles: hashes.slotA?.files };
    })
    && await log.step('commit', async () => {
      commitTarget(table, target!);
      const mbr = hashRange(target!.path, 0, SECTOR_BYTES);
      if (mbr !== hashRange(table, 0, SECTOR_BYTES)) throw new PosError('FLS_READBACK', `${target!.path}: sector 0 reads back differently from the image`);
      hashes.partitions.push({ label: 'protective-mbr', startBytes: 0, sizeBytes: SECTOR_BYTES, sha256: mbr });
      extra.after = inspectTarget(target!.path);
      if (extra.after.state !== 'complete') throw new PosError('FLS_READBACK', `${target!.path}: after the commit the target reads as ${extra.after.state} (${extra.after.reason})`);
      const kernel = tellKernel(target!, g.layout.parts);
      writeFileAtomic(join(stage, COMMITTED_FILE), `${JSON.stringify({ serial: spec.serial, target: spec.target, committedAt: isoInZone(Date.now(), g.zone) })}\n`, stage);
      await hold('committed');
      return kernel ? { kernelPartitions: kernel } : undefined;
    });
  return { steps: log.steps, errors: log.errors, hashes, extra, ...(target ? { target } : {}) };
}

/** In a serial's staging folder once its flash committed on a target: which one, when. */
const COMMITTED_FILE = 'committed.json';

/**
 * A serial's identity, TMK and device key go onto one disk. Once its flash committed, the same
 * serial is flashed again only onto that disk (the manifest run again after another target
 * failed): the target reads as a completed flash and its data partition holds this serial's
 * device key (on a TPM board, where the key is sealed on the board at its first boot, the same
 * target path). Any other target is refused (E-OPR-12) before anything is written: a second disk
 * with the same serial and key was made without a word (found following the README).
 */
function refuseSecondDisk(o: TargetJob['o'], g: Golden, spec: FlashTargetSpec, stage: string): void {
  const file = join(stage, COMMITTED_FILE);
  if (!existsSync(file)) return;
  let first: { target?: string; committedAt?: string; reflashing?: boolean } = {};
  try { first = JSON.parse(readFileSync(file, 'utf8')) as typeof first; } catch { /* torn: refused below as another disk */ }
  const refuse = (why: string): never => {
    throw new PosError('OPR_PROVISIONED', `${spec.serial} was flashed onto ${first.target ?? 'another target'} at ${first.committedAt ?? '?'}; ${spec.target} ${why}: a terminal's identity and keys go onto one disk. Flash another serial onto it, or give this one its own new serial`, { serial: spec.serial, target: spec.target, flashedOnto: first.target });
  };
  const samePath = first.target === spec.target;
  if (inspectTarget(spec.target).state !== 'complete') {
    // A re-flash of that disk stopped before its commit left it without a partition table.
    if (samePath && first.reflashing === true) return;
    refuse('is not that disk (it holds no completed flash)');
  }
  const tpm = readBoardFile(o.boardFile).config.deviceKey?.provider === 'tpm2';
  if (tpm && !samePath) refuse('is another target');
  if (!tpm) {
    const dataDir = join(stage, 'data');
    const staged = join(keyDirFor(join(dataDir, g.journalRel)), DEVICE_KEY_FILE);
    const part = g.layout.parts.find((p) => p.label === 'posdata')!;
    let onTarget: Buffer | undefined;
    try {
      onTarget = execFileSync('debugfs', ['-R', `cat /${relative(dataDir, staged)}`, `${spec.target}?offset=${part.startBytes}`], { stdio: ['ignore', 'pipe', 'ignore'], timeout: DEBUGFS_TIMEOUT_MS });
    } catch { /* unreadable: not provably that disk */ }
    if (!existsSync(staged) || !onTarget || !onTarget.equals(readFileSync(staged))) refuse('does not hold its device key');
  }
  // That disk again: marked before anything is written, so that a stop before the commit (no
  // partition table left on it) does not shut it out of the next run.
  writeFileAtomic(file, `${JSON.stringify({ ...first, reflashing: true })}\n`, stage);
}

/** One debugfs read of a file on the target's data partition. */
const DEBUGFS_TIMEOUT_MS = 30_000;

function commitOf(m: UpdateManifest): { commit?: string } {
  const c = (m as UpdateManifest & { image?: { commit?: unknown } }).image?.commit;
  return typeof c === 'string' ? { commit: c } : {};
}

/**
 * Identity, TMK, device key and service administrator in `dir` (the data partition's content). A
 * serial whose staging already holds its provisioned journal is reused (a flash stopped after
 * this step): the registry has it already; only the service password is made again, since the
 * one made before may never have reached the console.
 */
async function provisionStage(o: TargetJob['o'], g: Golden, spec: FlashTargetSpec, dir: string): Promise<{ record: Record<string, unknown>; servicePassword: string; reused: boolean }> {
  const boardFile = readBoardFile(o.boardFile);
  const journalDir = join(dir, g.journalRel);
  const tpm = boardFile.config.deviceKey?.provider === 'tpm2';
  const requestFile = join(keyDirFor(journalDir), FIRST_BOOT_REQUEST_FILE);
  const existing = tpm ? requestedIdentity(requestFile) : await provisionedIdentity(journalDir);
  if (existing && existing.serial !== spec.serial) throw new PosError('OPR_PROVISIONED', `${dir} holds terminal ${existing.serial}, not ${spec.serial}`);
  if (existing) {
    if (tpm && spec.merchantAdmin && !existing.administrators.includes(checkMerchantAdmin(spec.merchantAdmin))) {
      throw new PosError('OPR_PROVISIONED', `${requestFile}: the staged request of ${spec.serial} has no merchant administrator ${spec.merchantAdmin.number}; flash it with the options of its first run`, { serial: spec.serial });
    }
    const merchantAdmin = tpm ? (existing.administrators[0] ? { operator: existing.administrators[0], role: 'administrator' } : undefined)
      : await reusedMerchantAdmin(journalDir, existing.administrators, spec.merchantAdmin, o.scryptN);
    const servicePassword = await createServiceAdmin(serviceAdminFile(journalDir), { ...(o.scryptN ? { scryptN: o.scryptN } : {}) });
    return { record: { serial: spec.serial, tid: existing.tid, kcvTmk: existing.kcvTmk, reused: true, ...(merchantAdmin ? { merchantAdmin } : {}), ...(tpm ? { deviceKey: TPM_FIRST_BOOT } : {}) }, servicePassword, reused: true };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = await provision({
    serial: spec.serial, tid: spec.identity.tid, mid: spec.identity.mid, components: spec.identity.components, board: boardFile.config,
    locale: o.locale ?? 'zh-CN', journalDir, registryFile: o.registryFile ?? join(o.reportDir, 'registry.json'),
    // A TPM board: the station cannot reach its TPM; the terminal seals its key at its first boot.
    deviceKey: tpm ? { sealAtFirstBoot: requestFile } : deviceKeyProviderFor(boardFile, keyDirFor(journalDir), { create: true }),
    labelPngFile: join(o.reportDir, `${spec.serial}-label.png`),
    ...(o.scryptN ? { scryptN: o.scryptN } : {}), ...(spec.merchantAdmin ? { merchantAdmin: spec.merchantAdmin } : {}),
  });
  return { record: { ...provisionRecord(r), reused: false, ...(tpm ? { deviceKey: TPM_FIRST_BOOT } : {}) }, servicePassword: r.servicePassword, reused: false };
}

/**
 * A reused staging journal (a flash stopped after provisioning) keeps the administrator it was
 * made with; one asked for now that it lacks (the first run had no --merchant-admin) is added, so
 * the target gets what this run was asked for.
 */
async function reusedMerchantAdmin(journalDir: string, administrators: readonly string[], wanted: MerchantAdminInput | undefined, scryptN: number | undefined): Promise<Record<string, string> | undefined> {
  const number = wanted ? checkMerchantAdmin(wanted) : undefined;
  if (wanted && number && !administrators.includes(number)) {
    const j = await Journal.open({ dir: journalDir });
    try { await j.appendMany([await merchantAdminRecord(wanted, number, scryptN ? { scryptN } : {})]); } finally { await j.close(); }
    return { operator: number, role: 'administrator' };
  }
  const made = number ?? administrators[0];
  return made ? { operator: made, role: 'administrator' } : undefined;
}

/** A TPM board's staged provisioning: the first-boot request (boot/first-boot-request.ts). */
function requestedIdentity(file: string): { serial: string; tid: string; kcvTmk: string; administrators: string[] } | undefined {
  const r = readFirstBootRequest(file);
  return r ? { serial: r.serial, tid: r.tid, kcvTmk: r.kcvTmk, administrators: r.merchantAdmin ? [r.merchantAdmin.number] : [] } : undefined;
}

async function provisionedIdentity(journalDir: string): Promise<{ serial: string; tid: string; kcvTmk: string; administrators: string[] } | undefined> {
  if (!existsSync(join(journalDir, 'data.mdb'))) return undefined;
  const j = await Journal.open({ dir: journalDir, readOnly: true });
  try {
    let id: { serial: string; tid: string } | undefined;
    let kcvTmk = '';
    const administrators: string[] = [];
    for (const r of j.records()) {
      if (r.type === RecordType.terminalIdentity) id = { serial: String(r.payload.serial), tid: String(r.payload.tid) };
      if (r.type === RecordType.settings && r.payload.kind === 'tmk') kcvTmk = String(r.payload.kcvTmk);
      if (r.type === RecordType.operator && r.payload.role === 'administrator' && r.payload.event === 'created') administrators.push(String(r.payload.number));
    }
    return id ? { ...id, kcvTmk, administrators } : undefined;
  } finally {
    await j.close();
  }
}

/** The read-back: partitions hashed on the target against the image (the GPT areas against the target's table), slot A and the selector against the signed manifest. */
function readBack(g: Golden, table: string, t: TargetInfo, hashes: FlashReport['hashes'], scratch: string): void {
  readFromDevice(t);
  for (const r of copiedRanges(g.layout, t.sizeBytes)) {
    const got = hashRange(t.path, r.start, r.bytes);
    const want = r.from === 'table' && table !== g.file ? hashRange(table, r.start, r.bytes) : g.hashes[r.label];
    if (got !== want) throw new PosError('FLS_READBACK', `${t.path}: ${r.label} (${r.bytes} bytes at ${r.start}) reads back differently from the image`, { label: r.label });
    hashes.partitions.push({ label: r.label, startBytes: r.start, sizeBytes: r.bytes, sha256: got });
  }
  const pos = g.layout.parts.find((p) => p.label === 'pos')!;
  const slotA = checkTree(t.path, pos.startBytes, '/slotA', g.manifest, scratch);
  const onDisk = readFileSync(join(scratch, 'slotA', 'manifest.json'));
  hashes.slotA = { ...slotA, manifestSha256: sha256(onDisk) };
  hashes.selector = { files: checkTree(t.path, pos.startBytes, '/selector', g.manifest, scratch).files };
  rmSync(scratch, { recursive: true, force: true });
}

/** Dumps `path` of the file system at `offset` with debugfs and checks every manifest file in it. */
function checkTree(device: string, offset: number, path: string, m: UpdateManifest, scratch: string): { files: number; bytes: number } {
  mkdirSync(scratch, { recursive: true });
  const dir = join(scratch, path.slice(1));
  rmSync(dir, { recursive: true, force: true });
  tool('debugfs', ['-R', `rdump ${path} ${scratch}`, `${device}?offset=${offset}`]);
  let bytes = 0;
  for (const f of m.files) {
    const p = join(dir, f.path);
    const data = existsSync(p) ? readFileSync(p) : undefined;
    if (!data || data.length !== f.size || sha256(data) !== f.sha256) {
      throw new PosError('FLS_READBACK', `${device}: ${path}/${f.path} ${data ? 'differs from' : 'is missing, listed in'} the signed manifest`, { path: `${path}/${f.path}` });
    }
    bytes += f.size;
  }
  const problem = slotProblem(dir);
  if (problem) throw new PosError('FLS_READBACK', `${device}: ${path}: ${problem}`);
  return { files: m.files.length, bytes };
}

async function bootAndSelfTest(b: FlashBootOptions, g: Golden, t: TargetInfo, serial: string, stage: string, extra: { selfTest?: TestReport; boot?: FlashReport['boot'] }): Promise<Record<string, unknown>> {
  const consoleFile = join(stage, 'console.log');
  const tpmSocket = join(stage, 'tpm.sock');
  const tpm = b.tpmDir ? await startSwtpm(join(b.tpmDir, serial), tpmSocket) : undefined;
  let r: Awaited<ReturnType<typeof bootUntilPowerOff>>;
  try {
    r = await bootUntilPowerOff({ disk: t.path, kernel: b.kernel, initrd: b.initrd, append: `${SELFTEST_CMDLINE}=${serial}`, consoleFile, timeoutMs: b.timeoutMs ?? BOOT_TIMEOUT_MS_DEFAULT, ...(tpm ? { tpmSocket } : {}) });
  } finally {
    if (tpm && tpm.exitCode === null && tpm.signalCode === null) tpm.kill('SIGTERM');
  }
  extra.boot = { ms: r.ms, exitCode: r.exitCode, timedOut: r.timedOut };
  const data = g.layout.parts.find((p) => p.label === 'posdata')!;
  let report: TestReport | undefined;
  try {
    report = JSON.parse(tool('debugfs', ['-R', `cat /${SELFTEST_DIR}/${serial}.json`, `${t.path}?offset=${data.startBytes}`])) as TestReport;
  } catch { /* no report: the boot or the test failed; the console says why */ }
  if (!report || r.timedOut) {
    extra.boot.consoleTail = r.consoleTail;
    // What the self-test printed, off the data partition: why it wrote no report (a board file
    // whose devices this boot does not have), which the console's tail (the shutdown) never shows.
    const log = selfTestLogTail(t.path, data.startBytes, serial);
    if (log !== undefined) extra.boot.selfTestLogTail = log;
    const why = log === undefined ? '' : `; its log ends: ${log.trim().split('\n').slice(-1)[0]}`;
    throw new PosError('FLS_BOOT', r.timedOut ? `no power-off within ${b.timeoutMs ?? BOOT_TIMEOUT_MS_DEFAULT} ms${why}` : `the guest powered off without a self-test report (exit ${r.exitCode})${why}`, { exitCode: r.exitCode });
  }
  extra.selfTest = report;
  return { pass: report.pass, ms: r.ms };
}

/** The last SELFTEST_LOG_TAIL_CHARS of the self-test's own log on the data partition, if it wrote one. */
function selfTestLogTail(device: string, offset: number, serial: string): string | undefined {
  try {
    const text = tool('debugfs', ['-R', `cat /${SELFTEST_DIR}/${serial}.log`, `${device}?offset=${offset}`]);
    return text.length === 0 ? undefined : text.slice(-SELFTEST_LOG_TAIL_CHARS);
  } catch { return undefined; }
}

function asFlashError(step: string, e: unknown): FlashError {
  if (isPosError(e)) return { step, code: e.code, message: e.message, cause: errorByCode(e.code)?.en.cause };
  return { step, code: 'E-SYS-99', message: e instanceof Error ? e.message : String(e) };
}

/** `<dir>/<serial>.flash.json`, durably, without the service password. */
export function writeFlashReport(dir: string, report: FlashReport): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${report.serial}.flash.json`);
  writeFileAtomic(file, JSON.stringify(report, (key, value: unknown) => (key === 'servicePassword' ? undefined : value), 1) + '\n', dir);
  return file;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** At most `n` at once; the others wait in order. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try { return await fn(); } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * The flashing station (`pos factory flash`, issue 15 §2): a release image (`npm run image`)
 * onto blank targets, each provisioned, checked, committed, booted and self-tested, one JSON
 * report per serial.
 *
 * Once per run: the package is verified (signature, board, every file's hash) and one disk
 * image is built from it and the base OS (boot/flash/disk-image.ts: GPT, posroot, pos with slot
 * A installed by the update code and the selector, every file read back), with the board file
 * at /etc/pos/board.json and the factory self-test unit (below). Then per target, in a pool of
 * at most FLASH_CONCURRENCY_MAX at once:
 *
 *   provision  identity, TMK and device key (boot/factory.ts provision) into a staging folder of
 *              the serial; a serial whose staging already holds its journal (a flash stopped
 *              after provisioning) is reused, with a new service password
 *   erase      the target's sector 0 and GPT areas zeroed (a file target: emptied), fsync:
 *              from here on it has no partition table and cannot boot (boot/flash/target.ts)
 *   write      the image's GPT areas, posroot and pos copied onto the target, fsync
 *   data       the data partition made from the staging folder on the target, read back
 *   readback   posroot and pos hashed on the target against the image; slot A and the selector
 *              dumped from the target and every file checked against the signed manifest
 *   commit     sector 0 (the protective MBR) written last, fsync: the target is bootable
 *   boot       (with a kernel and initramfs: the emulated board) QEMU boots the target with
 *              pos.factory_selftest=<serial>; the self-test unit runs `pos factory test` and
 *              powers off; its report is read off the data partition. At most `bootConcurrency`
 *              guests at once (default 1: each is a TCG guest of 256 MB on a 2-core station)
 *
 * A stop anywhere before commit leaves a target with no partition table: it never boots a half
 * image and the station flashes it again from the start (its report says what it found there).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { PosError, isPosError, errorByCode } from '../common/errors';
import { readBoardFile } from '../hal/board';
import { deviceKeyProviderFor, keyDirFor } from '../runtime/device-key-provider';
import { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { isoInZone } from '../common/time';
import { KeyComponent, LOCALES, TestReport, provision, provisionRecord } from './factory';
import { createServiceAdmin, serviceAdminFile } from './service-admin';
import { parsePackage, publicKeyFromHex, UpdateManifest } from './update';
import { writeFileAtomic, slotProblem } from './update-slots';
import { ExtraFile, Layout, PARTITION_SIZES_DEFAULT, PartitionSizes, SECTOR_BYTES, partitionLayout, tool, writeDataPartition, writeDiskImage } from './flash/disk-image';
import { TargetInfo, TargetInspection, commitTarget, copyRanges, eraseTarget, hashRange, inspectTarget, prepareTarget } from './flash/target';
import { bootUntilPowerOff } from './flash/qemu-boot';

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
export const REPORT_FORMAT = 1;

/** Where a test may stop the station (POS_FLASH_TEST_HOLD_AT, tests/boot/factory-flash.test.ts). */
export const HOLD_POINTS = ['provisioned', 'erased', 'write-half', 'written', 'data-written', 'verified', 'committed'] as const;
export type HoldPoint = (typeof HOLD_POINTS)[number];

export interface FlashTargetSpec {
  readonly serial: string;
  /** A disk image file (created or reused) or a block device. */
  readonly target: string;
  readonly identity: { readonly tid: string; readonly mid: string; readonly components: readonly KeyComponent[] };
}

export interface FlashBootOptions {
  readonly kernel: string;
  readonly initrd: string;
  readonly timeoutMs?: number;
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
  /** TEST-ONLY: stop (never return) at this point of every target, after onHold. */
  readonly holdAt?: HoldPoint;
  readonly onHold?: (serial: string, point: HoldPoint) => void;
  readonly scryptN?: number;
  readonly clock?: () => number;
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
  boot?: { ms: number; exitCode: number | null; timedOut: boolean; consoleTail?: string };
  readonly pass: boolean;
  readonly errors: FlashError[];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ms: number;
  /** Kept in memory for the station's console only; never written (writeFlashReport drops it). */
  servicePassword?: string;
}

/** The image every target gets, built once per run. */
interface Golden {
  readonly file: string;
  readonly layout: Layout;
  readonly hashes: Map<string, string>;
  readonly manifest: UpdateManifest;
  readonly manifestSha256: string;
  readonly imageSha256: string;
  readonly board: string;
  readonly journalRel: string;
  readonly zone: number;
}

/** Runs the station over every target; one report each (also written to reportDir). */
export async function flashStation(o: FlashStationOptions): Promise<FlashReport[]> {
  checkTargets(o);
  mkdirSync(o.workDir, { recursive: true });
  mkdirSync(o.reportDir, { recursive: true });
  const golden = buildGolden(o);
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
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? FLASH_CONCURRENCY_MAX, o.targets.length) }, worker));
  return reports;
}

function checkTargets(o: FlashStationOptions): void {
  const n = o.targets.length;
  if (n < 1 || n > FLASH_TARGETS_MAX) throw new PosError('OPR_INPUT', `a flash run takes 1..${FLASH_TARGETS_MAX} targets (got ${n})`);
  const c = o.concurrency ?? FLASH_CONCURRENCY_MAX;
  if (!Number.isInteger(c) || c < 1 || c > FLASH_CONCURRENCY_MAX) throw new PosError('OPR_INPUT', `--concurrency is 1..${FLASH_CONCURRENCY_MAX}`);
  const b = o.bootConcurrency ?? BOOT_CONCURRENCY_DEFAULT;
  if (!Number.isInteger(b) || b < 1 || b > FLASH_CONCURRENCY_MAX) throw new PosError('OPR_INPUT', `--boot-concurrency is 1..${FLASH_CONCURRENCY_MAX}`);
  for (const key of ['serial', 'target'] as const) {
    const seen = new Set<string>();
    for (const t of o.targets) {
      if (seen.has(t[key])) throw new PosError('OPR_INPUT', `${key} ${t[key]} is listed twice`);
      seen.add(t[key]);
    }
  }
}

// ---------------------------------------------------------------- once per run

function buildGolden(o: FlashStationOptions): Golden {
  const boardFile = readBoardFile(o.boardFile);
  const { config } = boardFile;
  if (config.deviceKey?.provider === 'tpm2') {
    throw new PosError('OPR_INPUT', `${boardFile.file}: the device key is sealed by the board's own TPM, which the station cannot reach: provision such a board on its first boot (pos factory provision), not here`);
  }
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
  const unitFile = join(o.workDir, 'pos-terminal.service');
  writeFileSync(unitFile, parsed.contents[unit]);
  const file = join(o.workDir, 'image.img');
  writeDiskImage({
    out: file, baseRootfs: o.rootfs, packageFile: o.image, publicKeyHex, board: config.board, unitFile,
    unitDropIn: TERMINAL_DROP_IN, extraRootFiles: stationRootFiles(readFileSync(boardFile.file, 'utf8')),
    ...(o.sizes ? { sizes: o.sizes } : {}), workDir: join(o.workDir, 'image-work'),
  });
  rmSync(join(o.workDir, 'image-work'), { recursive: true, force: true });
  const layout = partitionLayout(o.sizes ?? PARTITION_SIZES_DEFAULT);
  const hashes = new Map(copiedRanges(layout).map((r) => [r.label, hashRange(file, r.start, r.bytes)]));
  return {
    file, layout, hashes, manifest: parsed.manifest, manifestSha256: sha256(parsed.manifestBytes),
    imageSha256: sha256(bytes), board: config.board, journalRel, zone: config.tzOffsetMinutes,
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

/** What the station copies from the image: the GPT areas and the two system partitions (never posdata: each target's own). */
function copiedRanges(l: Layout): Array<{ label: string; start: number; bytes: number }> {
  const first = l.parts[0].startBytes;
  const end = l.parts[l.parts.length - 1].startBytes + l.parts[l.parts.length - 1].sizeBytes;
  return [
    // Sector 0 (the protective MBR) is not copied with the rest: it is the commit, written last.
    { label: 'gpt-primary', start: SECTOR_BYTES, bytes: first - SECTOR_BYTES },
    ...l.parts.filter((p) => p.label !== 'posdata').map((p) => ({ label: p.label, start: p.startBytes, bytes: p.sizeBytes })),
    { label: 'gpt-backup', start: end, bytes: l.totalBytes - end },
  ];
}

// ---------------------------------------------------------------- per target

async function flashOne(o: FlashStationOptions, g: Golden, spec: FlashTargetSpec, bootSlots: Semaphore): Promise<FlashReport> {
  const clock = o.clock ?? Date.now;
  const t0 = Date.now();
  const startedAt = isoInZone(clock(), g.zone);
  const steps: FlashStep[] = [];
  const errors: FlashError[] = [];
  const hashes: FlashReport['hashes'] = { partitions: [] };
  const extra: Partial<Pick<FlashReport, 'provisioning' | 'selfTest' | 'boot' | 'after' | 'targetKind' | 'servicePassword'>> = {};
  const before: TargetInspection = existsSync(spec.target) ? inspectTarget(spec.target) : { state: 'blank', reason: 'the file does not exist yet' };
  const stage = join(o.workDir, 'targets', spec.serial);
  let target: TargetInfo | undefined;
  const hold = async (point: HoldPoint): Promise<void> => {
    if (o.holdAt !== point) return;
    o.onHold?.(spec.serial, point);
    await new Promise<never>(() => undefined);
  };
  const step = async (name: string, fn: () => Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined): Promise<boolean> => {
    o.onProgress?.(spec.serial, name);
    const s0 = Date.now();
    try {
      const detail = await fn();
      steps.push({ name, ok: true, ms: Date.now() - s0, ...(detail ? { detail } : {}) });
      return true;
    } catch (e) {
      const err = asFlashError(name, e);
      errors.push(err);
      steps.push({ name, ok: false, ms: Date.now() - s0, detail: { code: err.code } });
      return false;
    }
  };
  const ok = await step('provision', async () => {
    const p = await provisionStage(o, g, spec, join(stage, 'data'));
    extra.provisioning = p.record;
    extra.servicePassword = p.servicePassword;
    await hold('provisioned');
    return { reused: p.reused };
  })
    && await step('erase', async () => {
      target = prepareTarget(spec.target, g.layout.totalBytes);
      extra.targetKind = target.kind;
      eraseTarget(target);
      await hold('erased');
      return { kind: target.kind, sizeBytes: target.sizeBytes };
    })
    && await step('write', async () => {
      // In two parts (the GPT's primary area and posroot, then pos and the backup GPT), so that a
      // test can stop the station between them, with half the image on the target.
      const ranges = copiedRanges(g.layout);
      const cut = ranges.findIndex((r) => r.label === 'pos');
      copyRanges(g.file, target!, ranges.slice(0, cut));
      await hold('write-half');
      copyRanges(g.file, target!, ranges.slice(cut));
      await hold('written');
      return { bytes: ranges.reduce((n, r) => n + r.bytes, 0) };
    })
    && await step('data', async () => {
      const part = g.layout.parts.find((p) => p.label === 'posdata')!;
      hashes.dataFiles = writeDataPartition(target!.path, part, join(stage, 'data'), join(stage, 'data-work'));
      await hold('data-written');
      return { files: hashes.dataFiles };
    })
    && await step('readback', async () => {
      readBack(g, target!, hashes, join(stage, 'readback'));
      await hold('verified');
      return { partitions: hashes.partitions.length, slotFiles: hashes.slotA?.files };
    })
    && await step('commit', async () => {
      commitTarget(g.file, target!);
      const mbr = hashRange(target!.path, 0, SECTOR_BYTES);
      if (mbr !== hashRange(g.file, 0, SECTOR_BYTES)) throw new PosError('FLS_READBACK', `${target!.path}: sector 0 reads back differently from the image`);
      hashes.partitions.push({ label: 'protective-mbr', startBytes: 0, sizeBytes: SECTOR_BYTES, sha256: mbr });
      extra.after = inspectTarget(target!.path);
      if (extra.after.state !== 'complete') throw new PosError('FLS_READBACK', `${target!.path}: after the commit the target reads as ${extra.after.state} (${extra.after.reason})`);
      await hold('committed');
      return undefined;
    });
  if (ok && o.boot) {
    await step('boot', () => bootSlots.run(() => bootAndSelfTest(o.boot!, g, target!, spec.serial, stage, extra)));
  } else if (ok) {
    steps.push({ name: 'boot', ok: false, ms: 0, skipped: 'no --boot-kernel/--boot-initrd: the self-test runs on the board at its first boot (pos factory test)' });
  }
  rmSync(join(stage, 'readback'), { recursive: true, force: true });
  const pass = errors.length === 0 && extra.after?.state === 'complete' && (o.boot ? extra.selfTest?.pass === true : true);
  o.onProgress?.(spec.serial, pass ? 'done: pass' : 'done: FAIL');
  return {
    format: REPORT_FORMAT, kind: 'factory-flash', serial: spec.serial, target: spec.target, board: g.board,
    image: { file: o.image, sha256: g.imageSha256, version: g.manifest.version, ...commitOf(g.manifest) },
    before, steps, hashes, ...extra, pass, errors, startedAt, finishedAt: isoInZone(clock(), g.zone), ms: Date.now() - t0,
  };
}

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
async function provisionStage(o: FlashStationOptions, g: Golden, spec: FlashTargetSpec, dir: string): Promise<{ record: Record<string, unknown>; servicePassword: string; reused: boolean }> {
  const boardFile = readBoardFile(o.boardFile);
  const journalDir = join(dir, g.journalRel);
  const existing = await provisionedIdentity(journalDir);
  if (existing && existing.serial !== spec.serial) throw new PosError('OPR_PROVISIONED', `${dir} holds terminal ${existing.serial}, not ${spec.serial}`);
  if (existing) {
    const servicePassword = await createServiceAdmin(serviceAdminFile(journalDir), { ...(o.scryptN ? { scryptN: o.scryptN } : {}) });
    return { record: { serial: spec.serial, tid: existing.tid, kcvTmk: existing.kcvTmk, reused: true }, servicePassword, reused: true };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = await provision({
    serial: spec.serial, tid: spec.identity.tid, mid: spec.identity.mid, components: spec.identity.components, board: boardFile.config,
    locale: o.locale ?? 'zh-CN', journalDir, registryFile: o.registryFile ?? join(o.reportDir, 'registry.json'),
    deviceKey: deviceKeyProviderFor(boardFile, keyDirFor(journalDir), { create: true }),
    labelPngFile: join(o.reportDir, `${spec.serial}-label.png`),
    ...(o.scryptN ? { scryptN: o.scryptN } : {}), ...(o.clock ? { clock: o.clock } : {}),
  });
  return { record: { ...provisionRecord(r), reused: false }, servicePassword: r.servicePassword, reused: false };
}

async function provisionedIdentity(journalDir: string): Promise<{ serial: string; tid: string; kcvTmk: string } | undefined> {
  if (!existsSync(join(journalDir, 'data.mdb'))) return undefined;
  const j = await Journal.open({ dir: journalDir, readOnly: true });
  try {
    let id: { serial: string; tid: string } | undefined;
    let kcvTmk = '';
    for (const r of j.records()) {
      if (r.type === RecordType.terminalIdentity) id = { serial: String(r.payload.serial), tid: String(r.payload.tid) };
      if (r.type === RecordType.settings && r.payload.kind === 'tmk') kcvTmk = String(r.payload.kcvTmk);
    }
    return id ? { ...id, kcvTmk } : undefined;
  } finally {
    await j.close();
  }
}

/** The read-back: partitions hashed on the target against the image, slot A and the selector against the signed manifest. */
function readBack(g: Golden, t: TargetInfo, hashes: FlashReport['hashes'], scratch: string): void {
  for (const r of copiedRanges(g.layout)) {
    const got = hashRange(t.path, r.start, r.bytes);
    if (got !== g.hashes.get(r.label)) throw new PosError('FLS_READBACK', `${t.path}: ${r.label} (${r.bytes} bytes at ${r.start}) reads back differently from the image`, { label: r.label });
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
  const r = await bootUntilPowerOff({ disk: t.path, kernel: b.kernel, initrd: b.initrd, append: `${SELFTEST_CMDLINE}=${serial}`, consoleFile, timeoutMs: b.timeoutMs ?? BOOT_TIMEOUT_MS_DEFAULT });
  extra.boot = { ms: r.ms, exitCode: r.exitCode, timedOut: r.timedOut };
  const data = g.layout.parts.find((p) => p.label === 'posdata')!;
  let report: TestReport | undefined;
  try {
    report = JSON.parse(tool('debugfs', ['-R', `cat /${SELFTEST_DIR}/${serial}.json`, `${t.path}?offset=${data.startBytes}`])) as TestReport;
  } catch { /* no report: the boot or the test failed; the console says why */ }
  if (!report || r.timedOut) {
    extra.boot.consoleTail = r.consoleTail;
    throw new PosError('FLS_BOOT', r.timedOut ? `no power-off within ${b.timeoutMs ?? BOOT_TIMEOUT_MS_DEFAULT} ms` : `the guest powered off without a self-test report (exit ${r.exitCode})`, { exitCode: r.exitCode });
  }
  extra.selfTest = report;
  return { pass: report.pass, ms: r.ms };
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

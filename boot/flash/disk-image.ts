/**
 * Writes the disk of a flashed terminal into an image FILE: the library the factory flash station
 * (`pos factory flash`) and the QEMU guest tests call.
 *
 *   writeDiskImage({ out, baseRootfs, packageFile, publicKeyHex, board, unitFile, workDir })
 *     -> GPT, partitions found by their labels:
 *        p1 `posroot` ext4 = the base OS (a folder or tarball, e.g. scripts/guest/build-rootfs.sh),
 *           plus /etc/fstab by labels, the unit installed and enabled, the `pos` user and groups
 *        p2 `pos`     ext4 = the A/B update root of boot/UPDATE_FORMAT.md, mounted at /opt/pos:
 *           slot A installed from the signed release package by boot/update.ts's applyUpdate (the
 *           same verification and install as a field update), state.json with A active, and the
 *           selector as a copy of slot A
 *        p3 `posdata` ext4 = /var/lib/pos: empty or a pre-provisioned folder (journal, device key)
 *     -> every file read back from the image (debugfs, no mount) and its SHA-256 compared with
 *        what was staged; any difference is an error and the image must not be used.
 *
 * No loop devices and no mount: each file system is made by `mke2fs -d` straight into its
 * partition's byte range of the file (`-E offset=`), so this runs in a container and on a CI
 * machine that loads no kernel modules. Needs root (ownership in the staged trees), `tar`,
 * `sfdisk`, `mke2fs` and `debugfs` (e2fsprogs, fdisk). A missing tool is E-OPR-08 naming it.
 *
 * What is NOT done here: identity and keys, writing onto a target disk or block device, and
 * interrupted-flash recovery: the flashing station (boot/factory-flash.ts, boot/flash/target.ts)
 * builds one image with this, copies it onto each target with the commit sector last, and writes
 * each target's own data partition (writeDataPartition). An image here is written to
 * `out.partial` and renamed at the end, so a half-written image never carries the final name.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync, closeSync, cpSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync,
  readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, ftruncateSync, lchownSync,
} from 'node:fs';
import { join, relative, sep } from 'node:path';
import { InvariantError, PosError } from '../../common/errors';
import { applyUpdate } from '../update';
import { SlotState, slotDir, slotProblem, writeState } from '../update-slots';

/** This module's file: the flashing station keys its kept image on the code that builds it (boot/flash/golden-cache.ts). */
export const DISK_IMAGE_SOURCE_FILE = __filename;
export const SECTOR_BYTES = 512;
/** Partitions start on 1 MiB boundaries (eMMC erase blocks; sfdisk's default). */
export const ALIGN_BYTES = 1024 * 1024;
const MIB = 1024 * 1024;
/** The runtime's user and group (a system id below 1000, the same on every flashed terminal). */
export const POS_UID = 990;
export const POS_GID = 990;
/** Groups the unit's SupplementaryGroups= names beyond Debian's dialout (systemd refuses unknown ones). */
export const POS_EXTRA_GROUPS: readonly { name: string; gid: number }[] = [{ name: 'gpio', gid: 991 }, { name: 'i2c', gid: 992 }];
/** A tool that has not answered within this is hung (mke2fs of a large slot takes seconds). */
const TOOL_TIMEOUT_MS_MAX = 10 * 60_000;
/** Staged bytes may fill at most this share of a partition (ext4 metadata, journal, growth). */
const PARTITION_FILL_MAX = 0.85;

export interface PartitionSizes {
  readonly rootMiB: number;
  readonly posMiB: number;
  readonly dataMiB: number;
}

/** Room for the base OS (~200 MiB), three runtime trees (two slots + the selector, ~160 MiB each with node) and a journal. */
export const PARTITION_SIZES_DEFAULT: PartitionSizes = { rootMiB: 512, posMiB: 768, dataMiB: 128 };

export interface DiskImageOptions {
  /** The image file to write (replaced). Written as `<out>.partial` and renamed when complete and checked. */
  readonly out: string;
  /** The base OS: a folder, or a tarball (`.tar`, unpacked with owners kept). */
  readonly baseRootfs: string;
  /** The signed release package (boot/UPDATE_FORMAT.md). */
  readonly packageFile: string;
  /** The board's update public key (board file `update.publicKey`): the package must verify against it. */
  readonly publicKeyHex: string;
  /** The board name the package must be built for (board file `board`). */
  readonly board: string;
  /** The systemd unit (boot/pos-terminal.service), installed as /etc/systemd/system/pos-terminal.service and enabled. */
  readonly unitFile: string;
  /** A drop-in for the unit (e.g. `[Service]\nEnvironment=POS_BOARD=...`), installed as pos-terminal.service.d/10-board.conf. */
  readonly unitDropIn?: string;
  /** Pre-provisioned content of the data partition (copied, owned by pos); absent = empty. */
  readonly dataDir?: string;
  /** More files for the root file system (board specific: modules-load.d, udev rules). Paths are absolute in the guest. */
  readonly extraRootFiles?: readonly ExtraFile[];
  readonly sizes?: PartitionSizes;
  /** A scratch folder (removed and recreated): staged trees and read-back copies. */
  readonly workDir: string;
}

export interface ExtraFile {
  readonly path: string;
  /** File content, or a symlink's target when `symlink` is set. */
  readonly content: string;
  readonly mode?: number;
  readonly symlink?: boolean;
}

export interface PartitionReport {
  readonly label: 'posroot' | 'pos' | 'posdata';
  readonly startBytes: number;
  readonly sizeBytes: number;
  /** Regular files read back from the image and found identical (SHA-256) to the staged ones. */
  readonly filesChecked: number;
  readonly stagedBytes: number;
}

export interface DiskImageReport {
  readonly out: string;
  readonly imageBytes: number;
  readonly version: string;
  readonly partitions: readonly PartitionReport[];
}

/** Writes and checks a disk image (see the file comment). Throws PosError; `out` is untouched on failure. */
export function writeDiskImage(o: DiskImageOptions): DiskImageReport {
  const sizes = o.sizes ?? PARTITION_SIZES_DEFAULT;
  rmSync(o.workDir, { recursive: true, force: true });
  mkdirSync(o.workDir, { recursive: true });
  const stage = { posroot: join(o.workDir, 'posroot'), pos: join(o.workDir, 'pos'), posdata: join(o.workDir, 'posdata') };
  stageRoot(stage.posroot, o);
  const version = stagePos(stage.pos, o);
  stageData(stage.posdata, o.dataDir);
  const layout = partitionLayout(sizes);
  const partial = `${o.out}.partial`;
  rmSync(partial, { force: true });
  writePartitionTable(partial, layout, layout.totalBytes);
  const partitions = layout.parts.map((p) => {
    const staged = stage[p.label];
    const stagedBytes = treeBytes(staged);
    if (stagedBytes > p.sizeBytes * PARTITION_FILL_MAX) {
      throw new PosError('OPR_INPUT', `${p.label}: ${Math.ceil(stagedBytes / MIB)} MiB staged does not fit a ${p.sizeBytes / MIB} MiB partition: give a larger size`, { label: p.label });
    }
    const owner = p.label === 'posroot' ? '0:0' : `${POS_UID}:${POS_GID}`;
    tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', p.label, '-d', staged, '-E', `offset=${p.startBytes},root_owner=${owner}`, partial, `${p.sizeBytes / 1024}k`]);
    return { ...p, stagedBytes, filesChecked: readBackPartition(partial, p.startBytes, staged, join(o.workDir, `readback-${p.label}`)) };
  });
  fsyncFile(partial);
  renameSync(partial, o.out);
  return { out: o.out, imageBytes: layout.totalBytes, version, partitions };
}

// ---------------------------------------------------------------- staging

function stageRoot(dir: string, o: DiskImageOptions): void {
  mkdirSync(dir);
  if (statSync(o.baseRootfs).isDirectory()) cpSync(o.baseRootfs, dir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  else tool('tar', ['-x', '-p', '--numeric-owner', '--same-owner', '-f', o.baseRootfs, '-C', dir]);
  if (!existsSync(join(dir, 'etc', 'passwd'))) throw new PosError('OPR_INPUT', `${o.baseRootfs}: not a root file system (no etc/passwd)`);
  for (const m of ['opt/pos', 'var/lib/pos']) mkdirSync(join(dir, m), { recursive: true });
  writeFileSync(join(dir, 'etc', 'fstab'), FSTAB);
  addPosUser(join(dir, 'etc'));
  const units = join(dir, 'etc', 'systemd', 'system');
  writeFileSync(join(units, 'pos-terminal.service'), readFileSync(o.unitFile));
  mkdirSync(join(units, 'multi-user.target.wants'), { recursive: true });
  const wants = join(units, 'multi-user.target.wants', 'pos-terminal.service');
  rmSync(wants, { force: true });
  symlinkSync('/etc/systemd/system/pos-terminal.service', wants);
  if (o.unitDropIn !== undefined) {
    mkdirSync(join(units, 'pos-terminal.service.d'), { recursive: true });
    writeFileSync(join(units, 'pos-terminal.service.d', '10-board.conf'), o.unitDropIn);
  }
  for (const f of o.extraRootFiles ?? []) writeExtra(dir, f);
}

/** By label, so the same fstab works whatever the disk is called (vda, mmcblk0, sda). */
const FSTAB = [
  '# Written by boot/flash/disk-image.ts: partitions by file system label.',
  'LABEL=posroot  /             ext4  errors=remount-ro  0 1',
  'LABEL=pos      /opt/pos      ext4  defaults           0 2',
  'LABEL=posdata  /var/lib/pos  ext4  defaults           0 2',
  '',
].join('\n');

function writeExtra(root: string, f: ExtraFile): void {
  if (!f.path.startsWith('/') || f.path.split('/').includes('..')) throw new PosError('OPR_INPUT', `extra root file ${f.path}: must be an absolute path without ".."`);
  const target = join(root, f.path);
  mkdirSync(join(target, '..'), { recursive: true });
  rmSync(target, { force: true });
  if (f.symlink) { symlinkSync(f.content, target); return; }
  writeFileSync(target, f.content);
  chmodSync(target, f.mode ?? 0o644);
}

/** The runtime's user: a system account without a shell, in dialout, gpio and i2c (and tss when the base OS has it). */
function addPosUser(etc: string): void {
  const add = (file: string, line: string, name: string): void => {
    const text = readFileSync(join(etc, file), 'utf8');
    if (text.split('\n').some((l) => l.startsWith(`${name}:`))) return;
    writeFileSync(join(etc, file), `${text.endsWith('\n') ? text : `${text}\n`}${line}\n`);
  };
  add('group', `pos:x:${POS_GID}:`, 'pos');
  for (const g of POS_EXTRA_GROUPS) add('group', `${g.name}:x:${g.gid}:pos`, g.name);
  add('passwd', `pos:x:${POS_UID}:${POS_GID}:POS terminal:/var/lib/pos:/usr/sbin/nologin`, 'pos');
  if (existsSync(join(etc, 'shadow'))) add('shadow', 'pos:!:19000::::::', 'pos');
  // dialout exists in Debian's base group file; tss (owner of /dev/tpmrm0) where tpm2-tools is
  // installed (its tpm-udev): add pos to their member lists.
  const group = readFileSync(join(etc, 'group'), 'utf8').split('\n').map((l) => {
    if (!(l.startsWith('dialout:') || l.startsWith('tss:')) || l.split(':')[3]?.split(',').includes('pos')) return l;
    return l.endsWith(':') ? `${l}pos` : `${l},pos`;
  });
  writeFileSync(join(etc, 'group'), group.join('\n'));
}

/**
 * The update root: slot A installed by applyUpdate into a root whose state names an empty slot B
 * as active (so A is "the other slot"), then the state of a factory-fresh terminal written: A
 * active, nothing pending. The selector is a copy of slot A, checked against its manifest.
 */
function stagePos(dir: string, o: DiskImageOptions): string {
  mkdirSync(slotDir(dir, 'B'), { recursive: true });
  writeState(dir, { format: 1, active: 'B', tries: 0, versions: {} });
  const report = applyUpdate({ root: dir, file: o.packageFile, publicKeyHex: o.publicKeyHex, board: o.board });
  if (report.slot !== 'A') throw new InvariantError(`flash: package installed into slot ${report.slot}, expected A`);
  rmSync(slotDir(dir, 'B'), { recursive: true, force: true });
  const fresh: SlotState = { format: 1, active: 'A', tries: 0, versions: { A: report.version } };
  writeState(dir, fresh);
  cpSync(slotDir(dir, 'A'), join(dir, 'selector'), { recursive: true, verbatimSymlinks: true });
  for (const d of [slotDir(dir, 'A'), join(dir, 'selector')]) {
    const problem = slotProblem(d);
    if (problem) throw new PosError('UPD_CORRUPT', `flash: ${problem}`);
  }
  chownTree(dir, POS_UID, POS_GID);
  return report.version;
}

/**
 * The flashing station's data partition (boot/factory-flash.ts): an ext4 file system labelled
 * `posdata` made from `staged` (copied into `scratch`, owned by pos) straight into its byte range
 * of `image` (a file or a block device), then read back file by file (after `beforeReadBack`: a
 * block device's page cache dropped). Returns the files checked.
 */
export function writeDataPartition(image: string, part: { readonly startBytes: number; readonly sizeBytes: number }, staged: string, scratch: string, beforeReadBack?: () => void): number {
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const tree = join(scratch, 'posdata');
  stageData(tree, staged);
  // nodiscard: on a file, mke2fs's discard punches holes, and this range is written in place.
  tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'posdata', '-d', tree, '-E', `offset=${part.startBytes},root_owner=${POS_UID}:${POS_GID},nodiscard`, image, `${part.sizeBytes / 1024}k`]);
  beforeReadBack?.();
  const checked = readBackPartition(image, part.startBytes, tree, join(scratch, 'readback'));
  rmSync(scratch, { recursive: true, force: true });
  return checked;
}

function stageData(dir: string, from: string | undefined): void {
  mkdirSync(dir);
  if (from !== undefined) cpSync(from, dir, { recursive: true, verbatimSymlinks: true });
  chownTree(dir, POS_UID, POS_GID);
}

function chownTree(dir: string, uid: number, gid: number): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    lchownSync(p, uid, gid);
    if (e.isDirectory()) chownTree(p, uid, gid);
  }
}

// ---------------------------------------------------------------- layout

export interface Layout {
  readonly totalBytes: number;
  readonly parts: readonly { label: 'posroot' | 'pos' | 'posdata'; startBytes: number; sizeBytes: number }[];
}

/** Partitions one after another from 1 MiB, and 1 MiB at the end for the backup GPT. */
export function partitionLayout(s: PartitionSizes): Layout {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 8) throw new PosError('OPR_INPUT', `partition size ${k} = ${v}: a whole number of MiB, at least 8`);
  }
  let at = ALIGN_BYTES;
  const parts = ([['posroot', s.rootMiB], ['pos', s.posMiB], ['posdata', s.dataMiB]] as const).map(([label, mib]) => {
    const p = { label, startBytes: at, sizeBytes: mib * MIB };
    at += p.sizeBytes;
    return p;
  });
  return { totalBytes: at + ALIGN_BYTES, parts };
}

/**
 * A sparse file of `sizeBytes` holding the layout's GPT and protective MBR only: the disk image's
 * table, or the table of a target larger than the layout (the flashing station's block devices),
 * whose backup GPT belongs in its own last sectors, and whose protective MBR spans it all.
 */
export function writePartitionTable(file: string, l: Layout, sizeBytes: number): void {
  createSparse(file, sizeBytes);
  tool('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', file], sfdiskScript(l));
}

function sfdiskScript(l: Layout): string {
  const lines = l.parts.map((p) => `start=${p.startBytes / SECTOR_BYTES}, size=${p.sizeBytes / SECTOR_BYTES}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=${p.label}`);
  return ['label: gpt', ...lines, ''].join('\n');
}

function createSparse(file: string, bytes: number): void {
  const fd = openSync(file, 'w', 0o644);
  try { ftruncateSync(fd, bytes); } finally { closeSync(fd); }
}

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r+');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

// ---------------------------------------------------------------- read-back

/**
 * Dumps the file system at `offset` with debugfs (the image, not the staged tree) and compares
 * every regular file's SHA-256 and every symlink's target with the staged tree, both ways.
 */
export function readBackPartition(image: string, offset: number, staged: string, into: string): number {
  mkdirSync(into, { recursive: true });
  tool('debugfs', ['-R', `rdump / ${into}`, `${image}?offset=${offset}`]);
  const want = treeDigest(staged);
  const got = treeDigest(into);
  got.delete('lost+found');
  for (const [path, digest] of want) {
    const g = got.get(path);
    if (g !== digest) throw new PosError('UPD_CORRUPT', `flash read-back: ${path} ${g === undefined ? 'missing from' : 'differs in'} the image (${image} at ${offset})`, { path });
  }
  for (const path of got.keys()) if (!want.has(path)) throw new PosError('UPD_CORRUPT', `flash read-back: ${path} in the image was never staged`, { path });
  rmSync(into, { recursive: true, force: true });
  return [...want.values()].filter((d) => d.startsWith('f:')).length;
}

/** path -> "f:<sha256>" | "l:<target>" | "d" for every entry under dir. */
function treeDigest(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p).split(sep).join('/');
      if (e.isSymbolicLink()) out.set(rel, `l:${readlinkSync(p)}`);
      else if (e.isDirectory()) { out.set(rel, 'd'); walk(p); }
      else if (e.isFile()) out.set(rel, `f:${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      // Device nodes, fifos and sockets: debugfs rdump does not dump them; nothing to compare.
    }
  };
  walk(dir);
  return out;
}

function treeBytes(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else n += lstatSync(p).size;
    }
  };
  walk(dir);
  return n;
}

// ---------------------------------------------------------------- tools

/** Runs a tool; a missing one is E-OPR-08 naming it and its Debian package. */
export function tool(name: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(name, [...args], { input, encoding: 'utf8', timeout: TOOL_TIMEOUT_MS_MAX, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * MIB });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new PosError('OPR_INPUT', `${name} is not installed: install ${TOOL_PACKAGES[name] ?? name} (apt-get install ${TOOL_PACKAGES[name] ?? name})`, { tool: name });
    throw new PosError('OPR_INPUT', `flash: ${name} ${args.slice(0, 3).join(' ')} failed: ${(err.stderr ?? String(e)).trim().slice(-400)}`, { tool: name });
  }
}

const TOOL_PACKAGES: Readonly<Record<string, string>> = { sfdisk: 'fdisk', mke2fs: 'e2fsprogs', debugfs: 'e2fsprogs', tar: 'tar' };

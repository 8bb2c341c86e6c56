/**
 * What the flashing station does differently on a real block device (an eMMC or USB disk in a
 * reader, a loop device in the tests) than on a disk image file (boot/flash/target.ts):
 *
 * - Its size is the kernel's (BLKGETSIZE64, `blockdev --getsize64`); stat says 0. It is never
 *   created, truncated or grown; a path under /dev/ that does not exist is refused, never made a
 *   file.
 * - One in use is refused before a byte is written: the device or one of its partitions mounted
 *   (/proc/self/mountinfo, by major:minor, whatever name the mount used) or a swap area, held by
 *   another kernel device (/sys/class/block/X/holders: device-mapper, md), or one the kernel will
 *   not open exclusively (O_EXCL on a block device: EBUSY while anything has it claimed). A
 *   partition given instead of the whole device is refused too.
 * - The read-back must read the device, not the page cache: the station writes through the page
 *   cache (buffered writes and fsync, not O_DIRECT: Node's buffers carry no alignment guarantee and
 *   O_DIRECT refuses unaligned ones) and then drops the device's cache with BLKFLSBUF (`blockdev
 *   --flushbufs`: writes back what is dirty and invalidates the rest), so every read after it,
 *   the station's hashes and debugfs alike, comes from the device.
 * - The kernel must learn the new partition table: after the erase (so that it forgets the old
 *   partitions, whose ranges are being rewritten) and after the commit. BLKRRPART (`blockdev
 *   --rereadpt`) asks the kernel to parse the table itself; a kernel built without the GPT parser
 *   (CONFIG_EFI_PARTITION off, as on the machine these tests were written on) then finds none, so
 *   the station checks what the kernel has (/sys/class/block/X/X*) against the table it wrote and
 *   falls back to `partx -u` (util-linux parses the table and tells the kernel each partition with
 *   BLKPG). What the kernel ends up with is checked, never assumed.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PosError } from '../../common/errors';
import { SECTOR_BYTES } from './disk-image';
import { readMounts } from '../mountinfo';

/** blockdev and partx answer at once; longer means the device is gone. */
const TOOL_TIMEOUT_MS_MAX = 10_000;
/** A disk with more partitions than this is not one the station wrote (it writes three). */
const PARTITIONS_MAX = 128;

export interface KernelPartition {
  readonly name: string;
  readonly startBytes: number;
  readonly sizeBytes: number;
  /** "major:minor", as /proc/self/mountinfo names a mounted device. */
  readonly dev: string;
}

/** How the kernel came to see the table the station wrote. */
export type PartitionSync = 'BLKRRPART' | 'partx';

/** True for a path the station must treat as a device, even one that does not exist. */
export function isDevicePath(path: string): boolean {
  return path.startsWith('/dev/');
}

/** The device's size from the kernel (BLKGETSIZE64): stat says 0 for a block device. */
export function blockDeviceBytes(path: string): number {
  const text = blockdev(['--getsize64', path], 'read its size');
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n <= 0) throw new PosError('FLS_TARGET', `${path}: the kernel gives its size as "${text.trim()}"`, { target: path });
  return n;
}

/**
 * Refuses a device the station must not write: a partition, a device in use (mounted, swap,
 * held, or not exclusively openable). The message names what holds it; nothing is written.
 */
export function checkDeviceFree(path: string): void {
  const name = kernelName(path);
  if (existsSync(`/sys/class/block/${name}/partition`)) {
    throw new PosError('FLS_TARGET', `${path} is a partition (${name}): give the whole device, e.g. /dev/${wholeDiskName(name)}`, { target: path });
  }
  const busy = usesOf(name);
  if (busy.length > 0) throw new PosError('FLS_TARGET', `${path} is in use, nothing written: ${busy.join('; ')}. Unmount or release it, or pick another device`, { target: path, uses: busy });
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_EXCL);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new PosError('FLS_TARGET', `${path}: the kernel refuses an exclusive open (${code}): another program has the device; nothing written`, { target: path, errno: code });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes back what is dirty and drops the device's page cache (BLKFLSBUF): later reads come from the device. */
export function dropDeviceCache(path: string): void {
  blockdev(['--flushbufs', path], 'drop its page cache');
}

/**
 * Makes the kernel's partitions of `path` those of `want` (empty after the erase): BLKRRPART,
 * then `partx` when the kernel did not parse the table itself. Throws E-FLS-01 naming what the
 * kernel still has when neither worked (a partition held open, typically).
 */
export function syncKernelPartitions(path: string, want: readonly { startBytes: number; sizeBytes: number }[]): PartitionSync {
  const name = kernelName(path);
  let rereadError = '';
  try { blockdev(['--rereadpt', path], 're-read its partition table'); } catch (e) { rereadError = (e as Error).message; }
  if (samePartitions(kernelPartitions(name), want)) return 'BLKRRPART';
  try {
    execFileSync('partx', [want.length === 0 ? '-d' : '-u', path], { stdio: ['ignore', 'pipe', 'pipe'], timeout: TOOL_TIMEOUT_MS_MAX });
  } catch { /* judged by what the kernel has below */ }
  const have = kernelPartitions(name);
  if (samePartitions(have, want)) return 'partx';
  const list = have.map((p) => `${p.name} at ${p.startBytes / SECTOR_BYTES}+${p.sizeBytes / SECTOR_BYTES}`).join(', ') || 'none';
  throw new PosError('FLS_TARGET', `${path}: the kernel's partitions (${list}) are not the ${want.length} written${rereadError ? ` (${rereadError})` : ''}: a partition may be open; release it and flash again`, { target: path });
}

/** The partitions the kernel has of disk `name` (/sys/class/block/<name>/<name>*), by start. */
export function kernelPartitions(name: string): KernelPartition[] {
  const dir = `/sys/class/block/${name}`;
  const out: KernelPartition[] = [];
  for (const e of readdirSync(dir)) {
    if (!e.startsWith(name) || !existsSync(join(dir, e, 'partition'))) continue;
    const sectors = (f: string): number => Number(readFileSync(join(dir, e, f), 'utf8').trim());
    out.push({ name: e, startBytes: sectors('start') * SECTOR_BYTES, sizeBytes: sectors('size') * SECTOR_BYTES, dev: readFileSync(join(dir, e, 'dev'), 'utf8').trim() });
    if (out.length > PARTITIONS_MAX) throw new PosError('FLS_TARGET', `/dev/${name}: more than ${PARTITIONS_MAX} partitions`, { target: `/dev/${name}` });
  }
  return out.sort((a, b) => a.startBytes - b.startBytes);
}

/** The kernel's name of a block device node ("loop3" for /dev/loop3), from its major:minor. */
export function kernelName(path: string): string {
  const st = statSync(path, { bigint: true });
  if (!st.isBlockDevice()) throw new PosError('FLS_TARGET', `${path}: not a block device`, { target: path });
  return basename(realpathSync(`/sys/dev/block/${devNumbers(st.rdev)}`));
}

function samePartitions(have: readonly KernelPartition[], want: readonly { startBytes: number; sizeBytes: number }[]): boolean {
  const sorted = [...want].sort((a, b) => a.startBytes - b.startBytes);
  return have.length === sorted.length && have.every((p, i) => p.startBytes === sorted[i].startBytes && p.sizeBytes === sorted[i].sizeBytes);
}

/** What uses disk `name` or one of its partitions: mounts, swap, holders. Empty when free. */
function usesOf(name: string): string[] {
  const parts = kernelPartitions(name);
  const devs = new Map<string, string>([[readFileSync(`/sys/class/block/${name}/dev`, 'utf8').trim(), name], ...parts.map((p): [string, string] => [p.dev, p.name])]);
  const uses: string[] = [];
  for (const m of readMounts()) {
    const who = devs.get(m.dev);
    if (who) uses.push(`/dev/${who} is mounted at ${m.mountPoint}`);
  }
  for (const line of readFileSync('/proc/swaps', 'utf8').split('\n').slice(1)) {
    const file = line.split(/\s+/)[0];
    if (!file || !existsSync(file)) continue;
    const st = statSync(file, { bigint: true });
    const who = st.isBlockDevice() ? devs.get(devNumbers(st.rdev)) : undefined;
    if (who) uses.push(`/dev/${who} is a swap area`);
  }
  for (const who of devs.values()) {
    const dir = who === name ? `/sys/class/block/${name}/holders` : `/sys/class/block/${name}/${who}/holders`;
    const holders = existsSync(dir) ? readdirSync(dir) : [];
    if (holders.length > 0) uses.push(`/dev/${who} is held by ${holders.join(', ')}`);
  }
  return uses;
}

/** glibc's major/minor of a dev_t, as "major:minor". */
function devNumbers(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** "mmcblk0" for "mmcblk0p2", "sda" for "sda1", "loop3" for "loop3p1": the disk a partition belongs to. */
function wholeDiskName(partition: string): string {
  return basename(dirname(realpathSync(`/sys/class/block/${partition}`))) || partition;
}

function blockdev(args: readonly string[], what: string): string {
  try {
    return execFileSync('blockdev', [...args], { encoding: 'utf8', timeout: TOOL_TIMEOUT_MS_MAX, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new PosError('OPR_INPUT', 'blockdev is not installed: install util-linux (apt-get install util-linux)', { tool: 'blockdev' });
    throw new PosError('FLS_TARGET', `${args[args.length - 1]}: cannot ${what} (blockdev ${args[0]}): ${(err.stderr ?? String(e)).trim().slice(-200)}`, { target: args[args.length - 1] });
  }
}

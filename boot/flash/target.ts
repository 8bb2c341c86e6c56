/**
 * A flash target: a disk image file or a block device that receives a terminal's disk
 * (boot/flash/disk-image.ts's layout), written so that an interrupted flash never leaves a disk
 * that boots a half image.
 *
 * The commit sector. Sector 0 of a GPT disk is the protective MBR; without its 0x55AA signature
 * and its 0xEE partition, Linux sees no partition table at all (block/partitions/efi.c checks the
 * protective MBR before it reads either GPT header, unless `gpt` is forced on the kernel command
 * line, which the terminal's never is) and neither does a bootloader: no `posroot`, nothing to
 * boot. So the station
 *   1. erases sector 0 first (and the rest of the first and last MiB: both GPT copies), fsync;
 *   2. writes everything else (GPT entries and headers, the file systems), fsync;
 *   3. reads it all back and checks it (a block device's page cache dropped first: the device's
 *      bytes, not the ones the station wrote into the cache; boot/flash/block-device.ts);
 *   4. writes sector 0 last, one 512-byte write, fsync: the disk becomes bootable in one step.
 * A kill, power cut or pulled cable anywhere before step 4 leaves a disk with no partition table,
 * which the station flashes again from step 1 (inspectTarget says `incomplete`); the initramfs of
 * the guest tests powers off at once when it finds no `posroot` (scripts/guest/build-initrd.sh).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { PosError } from '../../common/errors';
import { SECTOR_BYTES } from './disk-image';
import { blockDeviceBytes, checkDeviceFree, dropDeviceCache, isDevicePath, syncKernelPartitions } from './block-device';

/** Copy and hash in chunks of this size (one eMMC erase block; bounded memory per target). */
export const CHUNK_BYTES = 1024 * 1024;
/** The GPT's own areas erased first: the first and the last MiB (primary and backup headers and entries). */
const GPT_AREA_BYTES = 1024 * 1024;

export type TargetKind = 'file' | 'block-device';

export interface TargetInfo {
  readonly path: string;
  readonly kind: TargetKind;
  readonly sizeBytes: number;
}

/** What sector 0 and sector 1 say. */
export interface TargetInspection {
  /**
   * complete: protective MBR and a GPT header (a flash that reached its commit);
   * incomplete: no protective MBR but data behind it (a flash that stopped before its commit, or
   *   a disk erased by one);
   * blank: nothing in the first MiB;
   * foreign: a partition table or data the station did not write (another MBR, no GPT).
   */
  readonly state: 'complete' | 'incomplete' | 'blank' | 'foreign';
  readonly reason: string;
}

/** Opens a target for the station: a block device as it is, a file created or grown to `sizeBytes`. */
export function prepareTarget(path: string, sizeBytes: number): TargetInfo {
  if (existsSync(path) && statSync(path).isBlockDevice()) {
    checkDeviceFree(path);
    const size = blockDeviceBytes(path);
    if (size < sizeBytes) throw new PosError('FLS_TARGET', `${path}: ${size} bytes, the layout needs ${sizeBytes}`, { target: path, sizeBytes: size, needBytes: sizeBytes });
    return { path, kind: 'block-device', sizeBytes: size };
  }
  // A device that is not there (unplugged, a typo) must not become a file in /dev.
  if (isDevicePath(path)) throw new PosError('FLS_TARGET', `${path}: no such block device (not plugged in?); the station creates files only outside /dev`, { target: path });
  if (existsSync(path) && !statSync(path).isFile()) throw new PosError('FLS_TARGET', `${path}: neither a regular file nor a block device`, { target: path });
  const fd = openSync(path, existsSync(path) ? 'r+' : 'w+', 0o644);
  try {
    if (fstatSync(fd).size < sizeBytes) ftruncateSync(fd, sizeBytes);
    return { path, kind: 'file', sizeBytes: Math.max(sizeBytes, fstatSync(fd).size) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Step 1: makes the target unbootable before anything else is written: sector 0 and both GPT
 * areas zeroed, fsynced. A file target is emptied entirely (truncated and grown again: blank).
 */
export function eraseTarget(t: TargetInfo): void {
  const fd = openSync(t.path, 'r+');
  try {
    if (t.kind === 'file') {
      ftruncateSync(fd, 0);
      ftruncateSync(fd, t.sizeBytes);
    } else {
      const zeros = Buffer.alloc(GPT_AREA_BYTES);
      writeAll(fd, zeros, 0);
      writeAll(fd, zeros, t.sizeBytes - GPT_AREA_BYTES);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // The kernel forgets the old partitions: their ranges are about to be rewritten.
  if (t.kind === 'block-device') syncKernelPartitions(t.path, []);
}

/** Before a read-back: a block device's page cache dropped, so what is read is what the device holds. */
export function readFromDevice(t: TargetInfo): void {
  if (t.kind === 'block-device') dropDeviceCache(t.path);
}

/**
 * Step 2 (the image's part): copies `ranges` of `source` onto the target at the same offsets,
 * never sector 0. On a file target (blank after eraseTarget) chunks of zeros are left as holes;
 * a block device gets every byte. `onChunk` is told the bytes copied so far (progress, tests).
 */
export function copyRanges(source: string, t: TargetInfo, ranges: readonly { start: number; bytes: number }[], onChunk?: (copied: number, total: number) => void): void {
  const src = openSync(source, 'r');
  const dst = openSync(t.path, 'r+');
  const buf = Buffer.alloc(CHUNK_BYTES);
  const total = ranges.reduce((n, r) => n + r.bytes, 0);
  let copied = 0;
  try {
    for (const r of ranges) {
      for (let at = Math.max(r.start, SECTOR_BYTES); at < r.start + r.bytes; at += CHUNK_BYTES) {
        const n = Math.min(CHUNK_BYTES, r.start + r.bytes - at);
        const chunk = buf.subarray(0, n);
        readExactly(src, chunk, at);
        if (t.kind === 'block-device' || !isZero(chunk)) writeAll(dst, chunk, at);
        copied += n;
        onChunk?.(copied, total);
      }
    }
    fsyncSync(dst);
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}

/** Step 4: the protective MBR from the image written last, in one write, fsynced. */
export function commitTarget(source: string, t: TargetInfo): void {
  const sector = Buffer.alloc(SECTOR_BYTES);
  const src = openSync(source, 'r');
  try { readExactly(src, sector, 0); } finally { closeSync(src); }
  if (!isProtectiveMbr(sector)) throw new PosError('UPD_CORRUPT', `${source}: sector 0 is not a protective MBR: nothing to commit`);
  const dst = openSync(t.path, 'r+');
  try {
    writeAll(dst, sector, 0);
    fsyncSync(dst);
  } finally {
    closeSync(dst);
  }
  readFromDevice(t);
}

/**
 * After the commit: the kernel's partitions of a block device made those of the table written
 * (boot/flash/block-device.ts syncKernelPartitions); a file target has none to tell.
 */
export function tellKernel(t: TargetInfo, parts: readonly { startBytes: number; sizeBytes: number }[]): string | undefined {
  return t.kind === 'block-device' ? syncKernelPartitions(t.path, parts) : undefined;
}

/** What the station finds on a target before it writes, and after a flash (see TargetInspection). */
export function inspectTarget(path: string): TargetInspection {
  if (!existsSync(path)) return { state: 'blank', reason: 'no such file yet' };
  const head = Buffer.alloc(GPT_AREA_BYTES);
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < 2 * SECTOR_BYTES) return { state: 'blank', reason: `${n} bytes` };
  } finally {
    closeSync(fd);
  }
  const mbr = head.subarray(0, SECTOR_BYTES);
  const gptHeader = head.subarray(SECTOR_BYTES, SECTOR_BYTES + 8).toString('latin1') === 'EFI PART';
  if (isProtectiveMbr(mbr)) {
    return gptHeader ? { state: 'complete', reason: 'protective MBR and GPT header: the flash reached its commit' } : { state: 'foreign', reason: 'protective MBR without a GPT header' };
  }
  if (mbr.readUInt16LE(510) === 0xaa55) return { state: 'foreign', reason: 'an MBR partition table the station did not write' };
  if (isZero(head)) return { state: 'blank', reason: 'the first MiB is zeros (never flashed, or erased by a flash that stopped at once)' };
  return { state: 'incomplete', reason: 'no protective MBR but data behind it: a flash stopped before its commit; the disk has no partition table and does not boot' };
}

/** SHA-256 of `bytes` of a file or device from `start` (the read-back of a whole partition). */
export function hashRange(path: string, start: number, bytes: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(CHUNK_BYTES);
  try {
    for (let at = start; at < start + bytes; at += CHUNK_BYTES) {
      const chunk = buf.subarray(0, Math.min(CHUNK_BYTES, start + bytes - at));
      readExactly(fd, chunk, at);
      h.update(chunk);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Sector 0 with the boot signature and a partition of type 0xEE (GPT protective) first. */
export function isProtectiveMbr(sector: Buffer): boolean {
  return sector.length >= SECTOR_BYTES && sector.readUInt16LE(510) === 0xaa55 && sector[446 + 4] === 0xee;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 8) {
    if (i + 8 <= b.length ? b.readBigUInt64LE(i) !== 0n : b.subarray(i).some((x) => x !== 0)) return false;
  }
  return true;
}

function readExactly(fd: number, buf: Buffer, position: number): void {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) { buf.fill(0, got); return; } // past the end of a sparse file: zeros
    got += n;
  }
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let put = 0;
  while (put < buf.length) put += writeSync(fd, buf, put, buf.length - put, position + put);
}

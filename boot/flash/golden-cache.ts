/**
 * The flashing station's image kept for its next run (boot/factory-flash.ts buildGolden).
 *
 * Building the disk image every target gets (boot/flash/disk-image.ts: staging, mke2fs of each
 * slot, every file read back) is the slowest part of a station's start: seconds for the test
 * image, minutes for a real one. A station is restarted often with the same inputs (the next
 * tray of boards, a run stopped by a power cut or a killed station), so the image and its
 * range hashes stay in the work folder under a key of everything that makes its bytes:
 *
 *   golden/image.img    the image (written by writeDiskImage through .partial, fsync, rename)
 *   golden/golden.json  { format, key, totalBytes, hashes }, written atomically after the image
 *
 * The key digests the package's bytes, the board file's, the base OS (a tarball's bytes, or a
 * folder's every path, type, mode, owner, size, link target and content), the partition sizes,
 * the units the station adds, and the station's own code (the files of this module's callers),
 * so a changed input or an updated station builds again. A kept image is used only when its
 * size and every copied range's SHA-256 are still those recorded: a damaged or half-written
 * cache builds again, never flashes.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../update-slots';
import { hashRange } from './target';

export const GOLDEN_DIR = 'golden';
export const GOLDEN_IMAGE_FILE = 'image.img';
export const GOLDEN_RECORD_FILE = 'golden.json';
/** Bumped when golden.json's meaning changes (an older station's entry is then rebuilt). */
export const GOLDEN_FORMAT = 1;
/** Entries of a base OS folder the key walks; a folder beyond this is not a root file system. */
export const ROOTFS_ENTRIES_MAX = 500_000;

export interface GoldenKeyInputs {
  /** The package's SHA-256, hex (the caller reads and verifies the package, and reports this digest). */
  readonly packageSha256: string;
  readonly boardFileText: string;
  /** The base OS: a tarball or a folder. */
  readonly rootfs: string;
  /** Everything else that shapes the image: sizes, the units' texts, the public key. */
  readonly settings: unknown;
  /** The station's code files whose change may change the image (their bytes go into the key). */
  readonly codeFiles: readonly string[];
}

export interface KeptGolden {
  readonly file: string;
  readonly hashes: Readonly<Record<string, string>>;
}

interface GoldenRecord {
  readonly format: number;
  readonly key: string;
  readonly totalBytes: number;
  readonly hashes: Record<string, string>;
}

/** The hex SHA-256 that names one set of inputs. */
export function goldenKey(i: GoldenKeyInputs): string {
  const h = createHash('sha256');
  const part = (label: string, bytes: Buffer | string): void => {
    const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    h.update(`${label} ${b.length}\n`);
    h.update(b);
  };
  part('format', String(GOLDEN_FORMAT));
  part('package', i.packageSha256);
  part('board', i.boardFileText);
  part('rootfs', rootfsDigest(i.rootfs));
  part('settings', JSON.stringify(i.settings));
  for (const f of i.codeFiles) part('code', existsSync(f) ? readFileSync(f) : `absent ${f}`);
  return h.digest('hex');
}

/** A tarball's bytes, or a folder's tree (paths sorted, each file by its contents' SHA-256), as a hex SHA-256. */
export function rootfsDigest(path: string): string {
  const top = statSync(path);
  if (!top.isDirectory()) return hashRange(path, 0, top.size);
  const h = createHash('sha256');
  let entries = 0;
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      entries++;
      if (entries > ROOTFS_ENTRIES_MAX) throw new Error(`${path}: more than ${ROOTFS_ENTRIES_MAX} entries`);
      const full = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(full);
      h.update(`${r}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0`);
      if (st.isSymbolicLink()) h.update(`-> ${readlinkSync(full)}\0`);
      else if (st.isFile()) h.update(hashRange(full, 0, st.size));
      else if (st.isDirectory()) walk(full, r);
    }
  };
  walk(path, '');
  return h.digest('hex');
}

/**
 * The kept image for `key`, when its record says so and the image still is what was recorded:
 * its size, and every range's hash recomputed by `hashRanges` (the caller's copied ranges).
 * Otherwise undefined: the caller builds again at goldenImagePath, which removes what was kept.
 */
export function keptGolden(workDir: string, key: string, totalBytes: number, hashRanges: (file: string) => Record<string, string>): KeptGolden | undefined {
  const dir = join(workDir, GOLDEN_DIR);
  const file = join(dir, GOLDEN_IMAGE_FILE);
  const record = readRecord(join(dir, GOLDEN_RECORD_FILE));
  const usable = record !== undefined && record.key === key && record.totalBytes === totalBytes
    && existsSync(file) && statSync(file).size === totalBytes && sameHashes(hashRanges(file), record.hashes);
  return usable ? { file, hashes: record.hashes } : undefined;
}

/** Where a new image for the cache is written (the folder made empty first). */
export function goldenImagePath(workDir: string): string {
  const dir = join(workDir, GOLDEN_DIR);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return join(dir, GOLDEN_IMAGE_FILE);
}

/** Records the image at goldenImagePath (already durable) as the one for `key`. */
export function keepGolden(workDir: string, key: string, totalBytes: number, hashes: Record<string, string>): void {
  const dir = join(workDir, GOLDEN_DIR);
  const record: GoldenRecord = { format: GOLDEN_FORMAT, key, totalBytes, hashes };
  writeFileAtomic(join(dir, GOLDEN_RECORD_FILE), JSON.stringify(record) + '\n', dir);
}

function readRecord(file: string): GoldenRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<GoldenRecord>;
    if (r.format !== GOLDEN_FORMAT || typeof r.key !== 'string' || typeof r.totalBytes !== 'number') return undefined;
    if (typeof r.hashes !== 'object' || r.hashes === null) return undefined;
    return r as GoldenRecord;
  } catch {
    return undefined; // absent, torn or not JSON: built again
  }
}

function sameHashes(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(b);
  return keys.length > 0 && keys.length === Object.keys(a).length && keys.every((k) => a[k] === b[k]);
}

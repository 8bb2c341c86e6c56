/**
 * Fault helpers for journal tests (LevelDB-log style): flip a byte of a stored record, shrink
 * or grow it, delete or swap records, zero a page of data.mdb. They bypass the journal and
 * write through raw LMDB or the raw file, as damage would.
 */
import { JournalDb, openEnv } from './lmdb-env';
import { closeSync, existsSync, openSync, readSync, fstatSync, writeSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

export const PAGE_BYTES = 4096;

export function tempDir(prefix = 'posj-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A new folder on tmpfs (/dev/shm) when the machine has one, else tempDir: for a test whose
 * journal's syncs decide nothing it checks (a flipped byte's detection, a process killed with the
 * page cache intact), as the day simulation keeps its journal (sim/simulate.ts) and the power-cut
 * tests their crash states. On a disk each open and commit waits for the disk's flushes: three
 * times the test's own time here while another process wrote to the disk.
 */
export function ramTempDir(prefix = 'posj-'): string {
  return existsSync('/dev/shm') ? mkdtempSync(join('/dev/shm', prefix)) : tempDir(prefix);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * removeDir, and the folders recovery and import move a journal folder aside to beside it
 * (`<dir>.reset-<time>`, `.replaced-<time>`, `.damaged-<time>`): a test whose journal folder is
 * its temporary folder itself would leave those in the system's temporary folder.
 */
export function removeDirAndAsides(dir: string): void {
  removeDir(dir);
  const parent = dirname(dir);
  const prefix = `${basename(dir)}.`;
  for (const name of readdirSync(parent)) if (name.startsWith(prefix)) removeDir(join(parent, name));
}

async function withRaw<T>(dir: string, fn: (db: JournalDb) => T | Promise<T>): Promise<T> {
  const db = openEnv(dir);
  try {
    return await fn(db);
  } finally {
    await db.flushed;
    await db.close();
  }
}

export function readStored(dir: string, seq: number): Promise<Buffer | undefined> {
  return withRaw(dir, (db) => {
    const v = db.getBinary(seq);
    return v ? Buffer.from(v) : undefined;
  });
}

export function writeStored(dir: string, seq: number, stored: Buffer): Promise<void> {
  return withRaw(dir, async (db) => { await db.put(seq, stored); });
}

export function deleteStored(dir: string, seq: number): Promise<void> {
  return withRaw(dir, async (db) => { await db.remove(seq); });
}

/** XORs one byte of record `seq` at `offset` with `mask` (default 0x01). */
export async function flipByte(dir: string, seq: number, offset: number, mask = 0x01): Promise<void> {
  const stored = await readStored(dir, seq);
  if (!stored) throw new Error(`no record ${seq}`);
  stored[offset] ^= mask;
  await writeStored(dir, seq, stored);
}

/** Cuts `bytes` off the end of record `seq` (a short write). */
export async function shrinkRecord(dir: string, seq: number, bytes: number): Promise<void> {
  const stored = await readStored(dir, seq);
  if (!stored) throw new Error(`no record ${seq}`);
  await writeStored(dir, seq, stored.subarray(0, Math.max(0, stored.length - bytes)));
}

/** Appends garbage bytes to record `seq`. */
export async function growRecord(dir: string, seq: number, bytes: number): Promise<void> {
  const stored = await readStored(dir, seq);
  if (!stored) throw new Error(`no record ${seq}`);
  await writeStored(dir, seq, Buffer.concat([stored, Buffer.alloc(bytes, 0xa5)]));
}

/** Stores record `a`'s bytes under `b` and vice versa. */
export async function swapRecords(dir: string, a: number, b: number): Promise<void> {
  const ra = await readStored(dir, a);
  const rb = await readStored(dir, b);
  if (!ra || !rb) throw new Error('no such records');
  await writeStored(dir, a, rb);
  await writeStored(dir, b, ra);
}

/** Zeroes one 4 KiB page of data.mdb in place. */
export function zeroPage(dir: string, page: number): void {
  const fd = openSync(join(dir, 'data.mdb'), 'r+');
  try {
    writeSync(fd, Buffer.alloc(PAGE_BYTES), 0, PAGE_BYTES, page * PAGE_BYTES);
  } finally {
    closeSync(fd);
  }
}

/** Overwrites one byte of data.mdb at a file offset. */
export function flipFileByte(file: string, offset: number, mask = 0xff): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] ^= mask;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

export function pageCount(dir: string): number {
  const fd = openSync(join(dir, 'data.mdb'), 'r');
  try {
    return Math.ceil(fstatSync(fd).size / PAGE_BYTES);
  } finally {
    closeSync(fd);
  }
}

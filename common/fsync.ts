import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * fsync of a directory, so the names created, renamed or removed in it are durable (a file's own
 * fsync does not cover its directory entry). A file opened read-only flushes through the same call.
 */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** fsyncDir on libuv's threads: for writers that must not hold the event loop (storage/backup.ts exportToFileSliced). */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try { await d.sync(); } finally { await d.close(); }
}

/** Writes `length` bytes of `bytes` at the file's position, however many writes the OS takes for them. */
export async function writeAllAsync(fh: FileHandle, bytes: Buffer, length = bytes.length): Promise<void> {
  for (let done = 0; done < length;) done += (await fh.write(bytes, done, length - done)).bytesWritten;
}

/**
 * Writes `file` so that a power cut leaves the old content or the new, never a torn one: a
 * temporary file beside it, its fsync, the rename, the directory's fsync.
 */
export function writeFileDurably(file: string, bytes: Buffer | string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  writeFileSync(tmp, bytes);
  const fd = openSync(tmp, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

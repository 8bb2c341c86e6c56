import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * fsync of a directory, so the names created, renamed or removed in it are durable (a file's own
 * fsync does not cover its directory entry). A file opened read-only flushes through the same call.
 */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
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

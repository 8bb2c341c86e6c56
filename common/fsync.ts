import { closeSync, fsyncSync, openSync } from 'node:fs';

/**
 * fsync of a directory, so the names created, renamed or removed in it are durable (a file's own
 * fsync does not cover its directory entry). A file opened read-only flushes through the same call.
 */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Maps what the OS and LMDB throw into the journal's typed storage errors (common/errors.ts).
 * lmdb-js reports errno values and MDB codes in its messages rather than always as `code`, so
 * both are read.
 */
import { PosError } from '../common/errors';

const MDB_MAP_FULL = -30792;

export function storageError(e: unknown, where: string): PosError {
  if (e instanceof PosError) return e;
  const err = e as { code?: unknown; errno?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : '';
  const errno = typeof err?.errno === 'number' ? err.errno : typeof err?.code === 'number' ? err.code : 0;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const has = (s: string): boolean => code === s || message.includes(s);
  if (has('ENOSPC') || /no space left/i.test(message)) return new PosError('STO_FULL', `${where}: disk full (ENOSPC)`, { where }, { cause: e });
  if (has('MDB_MAP_FULL') || errno === MDB_MAP_FULL || /map.?full/i.test(message)) {
    return new PosError('STO_FULL', `${where}: journal map full`, { where }, { cause: e });
  }
  if (has('EROFS') || /read-only file system/i.test(message)) return new PosError('STO_READONLY', `${where}: read-only file system (EROFS)`, { where }, { cause: e });
  if (has('EACCES') || has('EPERM')) return new PosError('STO_READONLY', `${where}: permission denied`, { where }, { cause: e });
  if (has('MDB_PANIC')) return new PosError('STO_IO', `${where}: storage write failed, database environment stopped (MDB_PANIC)`, { where }, { cause: e });
  if (has('EIO') || /input\/output error/i.test(message)) return new PosError('STO_IO', `${where}: I/O error (EIO)`, { where }, { cause: e });
  return new PosError('STO_IO', `${where}: storage failure: ${message}`, { where }, { cause: e });
}

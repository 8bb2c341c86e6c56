/**
 * The one place that opens LMDB for the journal, so every opener (journal, import, salvage,
 * test helpers) stores exactly the format of JOURNAL_FORMAT.md.
 *
 * noSubdir is set explicitly: lmdb-js guesses "file, not directory" from a dot in the path's last
 * part, so `journal.replaced-42` would silently become a file path.
 */
import { open, RootDatabase } from 'lmdb';
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

export type JournalDb = RootDatabase<Buffer, number>;

export interface EnvOptions {
  readonly mapSizeBytes?: number;
  readonly safeRestore?: boolean;
  readonly readOnly?: boolean;
  readonly noSync?: boolean;
  /** lmdb-js's overlappingSync (flush on another thread after the commit); default lmdb-js's own. */
  readonly overlappingSync?: boolean;
}

export function openEnv(dir: string, options: EnvOptions = {}): JournalDb {
  // safeRestore is a documented lmdb-js option (README, open.js) missing from its type definitions.
  const untyped: Record<string, unknown> = { safeRestore: options.safeRestore ?? true };
  return open<Buffer, number>({
    ...untyped,
    path: dir,
    noSubdir: false,
    encoding: 'binary',
    keyEncoding: 'uint32',
    compression: false,
    ...(options.mapSizeBytes !== undefined ? { mapSize: options.mapSizeBytes } : {}),
    readOnly: options.readOnly ?? false,
    noSync: options.noSync ?? false,
    ...(options.overlappingSync !== undefined ? { overlappingSync: options.overlappingSync } : {}),
    // overlappingSync stays at lmdb-js's default; durability comes from awaiting db.flushed.
  });
}

const META_MAGIC = 0xbeefc0de;
const META_MAGIC_OFFSET = 24;
const PAGE_BYTES_DEFAULT = 4096;

/**
 * Checks LMDB's two meta pages before an open. LMDB silently falls back to the other meta page
 * when one is destroyed, which opens an OLDER snapshot that verifies cleanly while newer,
 * acknowledged records sit unreferenced in the file. A destroyed meta page is therefore damage
 * (salvage finds those records). Returns the problem, or undefined when both pages look right.
 */
export function metaPageProblem(dir: string): string | undefined {
  const file = join(dir, 'data.mdb');
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    if (size < 2 * PAGE_BYTES_DEFAULT) return `data.mdb is ${size} bytes, shorter than its two meta pages`;
    const page = Buffer.alloc(PAGE_BYTES_DEFAULT);
    for (const n of [0, 1]) {
      readSync(fd, page, 0, PAGE_BYTES_DEFAULT, n * PAGE_BYTES_DEFAULT);
      if (page.readUInt32LE(META_MAGIC_OFFSET) !== META_MAGIC) return `LMDB meta page ${n} is damaged`;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const LMDB_COMMIT_FAILED = 'Commit failed (see commitError for details)';
let guardInstalled = false;

function isLmdbCommitFailure(reason: unknown): reason is Error & { commitError?: Promise<unknown> } {
  return reason instanceof Error && reason.message === LMDB_COMMIT_FAILED && 'commitError' in reason;
}

/**
 * After a failed commit (EIO, ENOSPC), lmdb-js rejects internal promises that no caller holds;
 * unhandled, one of them kills the process (DESIGN.md: "an unhandled second rejection"). The
 * journal has already turned the failure into a typed error and refused further appends, so
 * those stray rejections are absorbed here. Every other unhandled rejection keeps Node's default
 * (crash) unless someone else (a test runner) listens too.
 */
export function installCommitFailureGuard(onAbsorbed: (reason: Error) => void = () => undefined): void {
  if (guardInstalled) return;
  guardInstalled = true;
  process.on('unhandledRejection', (reason: unknown) => {
    if (isLmdbCommitFailure(reason)) {
      reason.commitError?.then(undefined, () => undefined);
      onAbsorbed(reason);
      return;
    }
    if (process.listenerCount('unhandledRejection') === 1) throw reason;
  });
}

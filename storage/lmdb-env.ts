/**
 * The one place that opens LMDB for the journal, so every opener (journal, import, salvage,
 * test helpers) stores exactly the format of JOURNAL_FORMAT.md.
 *
 * noSubdir is set explicitly: lmdb-js guesses "file, not directory" from a dot in the path's last
 * part, so `journal.replaced-42` would silently become a file path.
 */
import type { RootDatabase } from 'lmdb';
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { libcForNativeAddons } from '../common/libc';

/**
 * lmdb-js loads with less (issue 14 goal 6: start on a slow CPU), set up first (a require, not an
 * import, so that these lines run before it; values already set are kept):
 * - without msgpackr's optional native extractor (msgpackr-extract), which msgpackr loads with
 *   lmdb-js unless MSGPACKR_NATIVE_ACCELERATION_DISABLED is "true": the journal stores binary
 *   values only, so msgpackr decodes nothing here, and the addon was a prebuilt search and a dlopen;
 * - with LIBC said (common/libc.ts), so that its addon's lookup does not load detect-libc and with
 *   it node:child_process.
 */
process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED ??= 'true';
libcForNativeAddons();
const { open } = require('lmdb') as typeof import('lmdb');

export type JournalDb = RootDatabase<Buffer, number>;

export interface EnvOptions {
  readonly mapSizeBytes?: number;
  readonly safeRestore?: boolean;
  readonly readOnly?: boolean;
  readonly noSync?: boolean;
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
    // Never overlappingSync (issue 13 item 8): with it lmdb-js writes a commit's meta page before
    // the commit's data is flushed, and after a power cut only a read-write open rolls that back;
    // a read-only reader (verify, dump, a verify worker) then sees a tree whose pages never reached
    // the disk. Without it every commit is flushed before its meta page is written (classic LMDB),
    // so whatever meta page a reader finds describes data on disk. Commits run on the calling
    // thread (transactionSync) or on lmdb-js's write thread, fully synced either way.
    overlappingSync: false,
  });
}

const META_MAGIC = 0xbeefc0de;
/** LMDB's MDB_DATA_VERSION in lmdb-js 3.x; another value is a file LMDB would refuse or misread. */
const META_DATA_VERSION = 2;
const PAGE_BYTES_DEFAULT = 4096;
const PAGE_BYTES_MAX = 65536;
/** B-tree depth beyond any journal (2^32 records of 68 bytes fit in a depth of 6 at 4 KiB pages). */
const TREE_DEPTH_MAX = 16;
const P_META = 0x08;
const P_INVALID = 0xffffffffffffffffn;

/*
 * Byte layout of an LMDB meta page as lmdb-js 3.x writes it (LMDB mdb.master3, 64-bit): a
 * 24-byte page header (pgno u64, txnid u64, pad u16, flags u16, lower u16, upper u16), then
 * MDB_meta: magic u32, version u32, address u64, mapsize u64, two MDB_db of 48 bytes (free
 * list, main) whose first field of the free list's is the page size, then last_pg u64 and
 * txnid u64. Little-endian on every board this runs on (x86-64, arm64, armhf).
 */
const OFF = {
  pgno: 0, flags: 18, magic: 24, version: 28, pageSize: 48,
  freeDepth: 54, mainFlags: 100, mainDepth: 102, mainEntries: 128, mainRoot: 136, freeRoot: 88, lastPage: 144, txnid: 152,
} as const;

interface Meta { readonly txnid: bigint; readonly lastPage: bigint; readonly pageBytes: number; readonly mainFlags: number }

/** LMDB's persistent database flags (VALID_FLAGS within 16 bits): any other bit is damage. */
const DB_FLAGS_KNOWN = 0x017e;

/** What is wrong with one meta page (page `n` of a file of `fileBytes`), or its fields. */
function readMeta(page: Buffer, n: number, fileBytes: number): Meta | string {
  if (page.readUInt32LE(OFF.magic) !== META_MAGIC) return `LMDB meta page ${n} is damaged (no LMDB magic)`;
  if (page.readBigUInt64LE(OFF.pgno) !== BigInt(n) || (page.readUInt16LE(OFF.flags) & P_META) === 0) return `LMDB meta page ${n} is damaged (page header)`;
  if ((page.readUInt32LE(OFF.version) & 0xffff) !== META_DATA_VERSION) return `LMDB meta page ${n} is damaged (data version ${page.readUInt32LE(OFF.version) & 0xffff})`;
  const pageBytes = page.readUInt32LE(OFF.pageSize);
  if (pageBytes < PAGE_BYTES_DEFAULT || pageBytes > PAGE_BYTES_MAX || (pageBytes & (pageBytes - 1)) !== 0) return `LMDB meta page ${n} is damaged (page size ${pageBytes})`;
  const lastPage = page.readBigUInt64LE(OFF.lastPage);
  const filePages = BigInt(Math.floor(fileBytes / pageBytes));
  // LMDB maps the file and trusts it: a page it reads beyond the end of the file is SIGBUS.
  if (lastPage + 1n > filePages) return `data.mdb is ${fileBytes} bytes but LMDB meta page ${n} uses ${lastPage + 1n} pages of ${pageBytes} bytes (the file is truncated)`;
  for (const [what, at] of [['main', OFF.mainRoot], ['free-list', OFF.freeRoot]] as const) {
    const root = page.readBigUInt64LE(at);
    if (root !== P_INVALID && root > lastPage) return `LMDB meta page ${n} is damaged (${what} root page ${root} beyond last page ${lastPage})`;
  }
  for (const at of [OFF.mainDepth, OFF.freeDepth]) {
    if (page.readUInt16LE(at) > TREE_DEPTH_MAX) return `LMDB meta page ${n} is damaged (tree depth ${page.readUInt16LE(at)})`;
  }
  const mainFlags = page.readUInt16LE(OFF.mainFlags);
  if ((mainFlags & ~DB_FLAGS_KNOWN) !== 0) return `LMDB meta page ${n} is damaged (database flags 0x${mainFlags.toString(16)})`;
  return { txnid: page.readBigUInt64LE(OFF.txnid), lastPage, pageBytes, mainFlags };
}

/**
 * Checks data.mdb before LMDB ever maps it, because LMDB trusts its file (DESIGN.md, "Facts
 * found since the first release"): a 0-byte file segfaults a read-only open, a file shorter than
 * its meta page says raises SIGBUS, a garbage meta field (version, page size, last page) crashes
 * the open. And LMDB silently falls back to the other meta page when one is destroyed, which
 * opens an OLDER snapshot that verifies cleanly while newer, acknowledged records sit unreferenced
 * in the file: so both meta pages must be whole and consistent. Transaction N writes meta page
 * N % 2, so the two pages hold consecutive transaction ids of the right parity (both 0 in a file
 * never committed to). Returns the problem, or undefined when the file looks right (or is absent).
 * Zeroed B-tree pages are not found here (LMDB aborts on some): open such files in a child first
 * (storage/verify-child.ts).
 */
export function metaPageProblem(dir: string): string | undefined {
  const file = join(dir, 'data.mdb');
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return 'data.mdb is 0 bytes (its creation was cut off)';
    if (size < 2 * PAGE_BYTES_DEFAULT) return `data.mdb is ${size} bytes, shorter than its two meta pages`;
    const first = Buffer.alloc(PAGE_BYTES_DEFAULT);
    readSync(fd, first, 0, PAGE_BYTES_DEFAULT, 0);
    const m0 = readMeta(first, 0, size);
    if (typeof m0 === 'string') return m0;
    if (size < 2 * m0.pageBytes) return `data.mdb is ${size} bytes, shorter than its two meta pages`;
    const second = Buffer.alloc(PAGE_BYTES_DEFAULT);
    readSync(fd, second, 0, PAGE_BYTES_DEFAULT, m0.pageBytes);
    const m1 = readMeta(second, 1, size);
    if (typeof m1 === 'string') return m1;
    if (m1.pageBytes !== m0.pageBytes) return `LMDB meta pages disagree on the page size (${m0.pageBytes}, ${m1.pageBytes})`;
    // A database's flags never change after the first commit creates it (a page of transaction 0
    // still has none): pages that disagree after that mean one is damaged. (The environment
    // flags may change: lmdb-js records overlappingSync in them at each commit.)
    if (m0.txnid > 0n && m1.txnid > 0n && m1.mainFlags !== m0.mainFlags) return 'LMDB meta pages disagree on the database flags (a meta page is damaged)';
    const never = m0.txnid === 0n && m1.txnid === 0n;
    const paired = (m0.txnid & 1n) === 0n && (m1.txnid & 1n) === 1n && (m1.txnid - m0.txnid === 1n || m0.txnid - m1.txnid === 1n);
    if (!never && !paired) return `LMDB meta pages hold transactions ${m0.txnid} and ${m1.txnid}, not two consecutive ones (a meta page is damaged)`;
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The higher transaction id of data.mdb's two meta pages (the last commit), when both pages are
 * readable; undefined otherwise. The boot checkpoint records it (storage/checkpoint.ts): LMDB's
 * transaction ids only grow, so a file whose id went back is not the file that was verified.
 */
export function metaTxnId(dir: string): bigint | undefined {
  const file = join(dir, 'data.mdb');
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 2 * PAGE_BYTES_DEFAULT) return undefined;
    const page = Buffer.alloc(PAGE_BYTES_DEFAULT);
    readSync(fd, page, 0, PAGE_BYTES_DEFAULT, 0);
    const m0 = readMeta(page, 0, size);
    if (typeof m0 === 'string' || size < 2 * m0.pageBytes) return undefined;
    readSync(fd, page, 0, PAGE_BYTES_DEFAULT, m0.pageBytes);
    const m1 = readMeta(page, 1, size);
    if (typeof m1 === 'string') return undefined;
    return m0.txnid > m1.txnid ? m0.txnid : m1.txnid;
  } finally {
    closeSync(fd);
  }
}

/**
 * The most records either meta page of data.mdb says the main database holds (only pages with
 * LMDB's magic count; 0 when none is readable). Tells a file whose creation was cut off (no
 * meta page ever counted a record) from a journal that held records and lost them.
 */
export function recordsClaimedByMeta(dir: string): number {
  const file = join(dir, 'data.mdb');
  if (!existsSync(file)) return 0;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let claimed = 0n;
    const page = Buffer.alloc(OFF.txnid + 8);
    for (const n of [0, 1]) {
      if (size < (n + 1) * PAGE_BYTES_DEFAULT) break;
      readSync(fd, page, 0, page.length, n * PAGE_BYTES_DEFAULT);
      if (page.readUInt32LE(OFF.magic) !== META_MAGIC) continue;
      const entries = page.readBigUInt64LE(OFF.mainEntries);
      if (entries > claimed) claimed = entries;
    }
    return Number(claimed > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : claimed);
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

/**
 * lmdb-js's hook for value decoding, used to read values without a copy: with `decoderCopies`
 * set, lmdb-js hands the decoder its shared read buffer (its `length` set to the value's size)
 * instead of copying the value out first. The view made here is only good until the next read.
 * Views are kept per size (records of one size share one), so a walk makes no object per record
 * (a subarray per record was a tenth of verify-on-open's time); lmdb-js keeps one read buffer
 * until a value outgrows it, and a new buffer starts a new set.
 */
const VIEW_SIZES_MAX = 4096;
const viewCache: { source?: Buffer; views: Map<number, Buffer> } = { views: new Map() };
const VIEW_DECODER = {
  decode: (bytes: Buffer, size: number): Buffer => {
    const cache = viewCache;
    if (bytes !== cache.source || cache.views.size >= VIEW_SIZES_MAX) {
      cache.source = bytes;
      cache.views = new Map();
    }
    let view = cache.views.get(size);
    if (view === undefined) {
      view = bytes.subarray(0, size);
      cache.views.set(size, view);
    }
    return view;
  },
};

/**
 * Stored values of keys `start` up to (not including) `end`, or to the last key, in key order,
 * each a view of lmdb-js's shared read buffer instead of a fresh copy. A view is valid only until
 * the iteration steps on or anything else reads from this environment: copy what must outlive
 * the step. The copy per record cost about a third of verify-on-open (bench:journal, issue 14).
 * The walk itself is LMDB's cursor, exactly as getRange's (same records, same errors on damage).
 */
export function* storedViews(db: JournalDb, start: number, end?: number): IterableIterator<{ key: number; stored: Buffer }> {
  // A handle that differs from `db` only in its decoder; every other property, the environment
  // and its read transaction are db's own (lmdb-js reads them through `this`).
  const viewing = Object.create(db, { decoder: { value: VIEW_DECODER }, decoderCopies: { value: true } }) as JournalDb;
  const range = viewing.getRange(end === undefined ? { start } : { start, end });
  for (const { key, value } of range) yield { key, stored: value };
}

/**
 * Worker thread of storage/verify-parallel.ts: verifies one segment of keys of a journal's LMDB
 * environment (opened read-only in this thread; lmdb-js supports one environment open in several
 * threads) and posts the segment report back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openEnv } from './lmdb-env';
import { SegmentReport, StoredEntry, verifyEntries } from './verify';

/** Marker that makes importers load this module (see verify-parallel.ts). */
export const VERIFY_WORKER = true;

export interface SegmentJob {
  readonly dir: string;
  readonly start: number;
  readonly end: number;
  readonly lastKey: number;
}

/**
 * Verifies the segment, closes the environment, and only then posts the report: the parent
 * waits for this thread to exit by itself. (Terminating a worker while lmdb-js closes its
 * environment aborts the whole process with a fatal napi_throw: seen in CI.)
 */
async function run(job: SegmentJob): Promise<void> {
  const db = openEnv(job.dir, { readOnly: true, safeRestore: true });
  let message: { ok: boolean; report?: SegmentReport; error?: string };
  try {
    function* entries(): Iterable<StoredEntry> {
      for (const { key, value } of db.getRange({ start: job.start, end: job.end + 1 })) yield { key, stored: value };
    }
    message = { ok: true, report: verifyEntries(entries(), job.lastKey, { startSeq: job.start, partial: true }) };
  } catch (e) {
    message = { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  await db.close();
  parentPort?.postMessage(message);
}

if (parentPort && workerData) void run(workerData as SegmentJob);

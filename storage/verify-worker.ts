/**
 * Worker thread of storage/verify-parallel.ts: verifies one segment of keys of a journal's LMDB
 * environment (opened read-only in this thread; lmdb-js supports one environment open in several
 * threads) and posts the segment report back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openEnv } from './lmdb-env';
import { StoredEntry, verifyEntries } from './verify';

/** Marker that makes importers load this module (see verify-parallel.ts). */
export const VERIFY_WORKER = true;

export interface SegmentJob {
  readonly dir: string;
  readonly start: number;
  readonly end: number;
  readonly lastKey: number;
}

function run(job: SegmentJob): void {
  const db = openEnv(job.dir, { readOnly: true, safeRestore: true });
  try {
    function* entries(): Iterable<StoredEntry> {
      for (const { key, value } of db.getRange({ start: job.start, end: job.end + 1 })) yield { key, stored: value };
    }
    parentPort?.postMessage({ ok: true, report: verifyEntries(entries(), job.lastKey, { startSeq: job.start, partial: true }) });
  } catch (e) {
    parentPort?.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  } finally {
    void db.close();
  }
}

if (parentPort && workerData) run(workerData as SegmentJob);

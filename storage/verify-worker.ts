/**
 * Worker thread of storage/verify-parallel.ts: verifies chunks of keys of a journal's LMDB
 * environment (opened read-only in this thread; lmdb-js supports one environment open in several
 * threads), taking the next unclaimed chunk from the shared counter until none is left, and
 * posts the chunk reports back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openEnv, storedViews } from './lmdb-env';
import { SegmentReport, verifyEntries } from './verify';

/** Marker that makes importers load this module (see verify-parallel.ts). */
export const VERIFY_WORKER = true;

export type Segment = { readonly start: number; readonly end: number };

export interface ChunkJob {
  /** Names the job: this module starts a verify only in a worker given one (any module may import it). */
  readonly kind: typeof CHUNK_JOB_KIND;
  readonly dir: string;
  readonly chunks: ReadonlyArray<Segment>;
  readonly lastKey: number;
  /** One Int32: the index of the next chunk nobody has claimed. */
  readonly next: SharedArrayBuffer;
}

export interface ChunkResult {
  readonly index: number;
  readonly report: SegmentReport;
}

/** The next unclaimed chunk's index, or undefined when all are taken (or the walk stopped). */
export function claimChunk(next: Int32Array, count: number): number | undefined {
  const index = Atomics.add(next, 0, 1);
  return index < count ? index : undefined;
}

/**
 * After a fault (or a chunk that ended early) nothing later decides anything: the first fault in
 * key order wins, and every earlier chunk is already claimed, so claiming can stop.
 */
export function segmentStops(report: SegmentReport, chunk: Segment): boolean {
  return report.damage !== undefined || report.tornTail !== undefined || report.lastGoodSeq !== chunk.end;
}

/**
 * Verifies chunks, closes the environment, and only then posts the reports: the parent waits for
 * this thread to exit by itself. (Terminating a worker while lmdb-js closes its environment
 * aborts the whole process with a fatal napi_throw: seen in CI.)
 */
async function run(job: ChunkJob): Promise<void> {
  const db = openEnv(job.dir, { readOnly: true, safeRestore: true });
  const next = new Int32Array(job.next);
  let message: { ok: boolean; results?: ChunkResult[]; error?: string };
  try {
    const results: ChunkResult[] = [];
    for (let index = claimChunk(next, job.chunks.length); index !== undefined; index = claimChunk(next, job.chunks.length)) {
      const c = job.chunks[index];
      const report = verifyEntries(storedViews(db, c.start, c.end + 1), job.lastKey, { startSeq: c.start, partial: true });
      results.push({ index, report });
      if (segmentStops(report, c)) Atomics.store(next, 0, job.chunks.length);
    }
    message = { ok: true, results };
  } catch (e) {
    message = { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  await db.close();
  parentPort?.postMessage(message);
}

export const CHUNK_JOB_KIND = 'journal-verify-chunks';

// Only a worker started for this job verifies: a worker thread of another module (the flashing
// station's, say) that imports this file, directly or in a bundle, has its own workerData.
if (parentPort && (workerData as { kind?: unknown } | undefined)?.kind === CHUNK_JOB_KIND) void run(workerData as ChunkJob);

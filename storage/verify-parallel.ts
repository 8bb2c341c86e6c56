/**
 * Verify-on-open in parallel: a large journal's keys are split into chunks; worker threads and
 * this thread take chunks in key order from a shared counter until none is left (so a worker that
 * starts late, or a core busy with something else, costs no idle time), then the chunks are
 * stitched: each chunk's first record must link to the previous chunk's last digest. The result
 * is exactly the serial verifier's (storage/verify.ts): the first fault in key order wins, with
 * the same decision table. Used only above PARALLEL_RECORDS_MIN, where thread start-up (tens of
 * ms) is small beside the walk (about 0.7-1.4 µs a record on one core with the native step).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { workerScriptFor } from '../common/spawn';
import { SegmentReport, VerifyReport, verifyEntries } from './verify';
// Imported (not only as a type) so every compiler that follows imports also emits the worker's file.
import { CHUNK_JOB_KIND, ChunkJob, ChunkResult, Segment, VERIFY_WORKER, claimChunk, segmentStops } from './verify-worker';
import { JournalDb, storedViews } from './lmdb-env';

/**
 * Below this a second thread costs more than it saves. Measured with the native step (session 20,
 * 2-core VM, records 1..N of bench:journal's 1M journal, a process each, medians of 3-4): 200,000
 * records 290 ms on one thread against 358 on two; 300,000 419 / 436; 400,000 536 / 504; 500,000
 * 659 / 588. (200,000 was chosen when a record took about 2 µs in JavaScript.)
 */
export const PARALLEL_RECORDS_MIN = 350_000;
export const VERIFY_THREADS_MAX = 4;
/**
 * Chunks per thread: small enough that the thread finishing last waits little for the others
 * (1M records on 2 threads: 32 chunks of about 31,000 records, some 20-40 ms each), large enough
 * that claiming one costs nothing beside it.
 */
const CHUNKS_PER_THREAD = 16;

function segmentsOf(lastKey: number, count: number): Segment[] {
  const size = Math.ceil(lastKey / count);
  return Array.from({ length: count }, (_, i) => ({ start: i * size + 1, end: Math.min(lastKey, (i + 1) * size) })).filter((s) => s.start <= s.end);
}

function workerFile(): { file: string; execArgv: string[] } {
  void VERIFY_WORKER;
  return workerScriptFor(join(__dirname, 'verify-worker'));
}

function verifyInWorker(job: ChunkJob): Promise<ChunkResult[]> {
  const { file, execArgv } = workerFile();
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData: job, execArgv });
    let settled = false;
    // Never terminate(): the worker closes its LMDB environment and exits by itself; stopping it
    // during that close aborts the process (see verify-worker.ts).
    worker.once('message', (m: { ok: boolean; results?: ChunkResult[]; error?: string }) => {
      settled = true;
      if (m.ok && m.results) resolve(m.results.map(({ index, report }) => ({ index, report: fromWorker(report) })));
      else reject(new Error(m.error ?? 'verify worker failed'));
    });
    worker.once('error', (e) => {
      settled = true;
      reject(e);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`verify worker exited with code ${code} before reporting`));
    });
  });
}

/** Digests come back from a worker as plain Uint8Arrays. */
function fromWorker(r: SegmentReport): SegmentReport {
  return { ...r, lastGoodDigest: Buffer.from(r.lastGoodDigest), startPrevDigest: r.startPrevDigest && Buffer.from(r.startPrevDigest) };
}

export function threadsFor(lastKey: number): number {
  if (lastKey < PARALLEL_RECORDS_MIN) return 1;
  return Math.max(1, Math.min(VERIFY_THREADS_MAX, availableParallelism()));
}

/** Verifies like verifyEntries over the whole store, using `threads` threads. */
export async function verifyParallel(db: JournalDb, dir: string, lastKey: number, storedCount: number | undefined, identity: string | undefined, threads: number): Promise<VerifyReport> {
  const started = process.hrtime.bigint();
  const chunks = segmentsOf(lastKey, Math.min(lastKey, threads * CHUNKS_PER_THREAD));
  // Chunk 0 (record 1 and the identity) is this thread's: the counter starts at 1.
  const next = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  next[0] = 1;
  const later = Array.from({ length: threads - 1 }, () => verifyInWorker({ kind: CHUNK_JOB_KIND, dir, chunks, lastKey, next: next.buffer as SharedArrayBuffer }));
  later.forEach((p) => p.catch(() => undefined)); // rejections are awaited below
  const first = chunks[0];
  const head = verifyEntries(storedViews(db, 0, first.end + 1), lastKey, { identity, startSeq: 1, partial: true });
  const reports = new Map<number, SegmentReport>();
  if (segmentStops(head, first)) Atomics.store(next, 0, chunks.length);
  for (let index = claimChunk(next, chunks.length); index !== undefined; index = claimChunk(next, chunks.length)) {
    const c = chunks[index];
    const report = verifyEntries(storedViews(db, c.start, c.end + 1), lastKey, { startSeq: c.start, partial: true });
    reports.set(index, report);
    if (segmentStops(report, c)) Atomics.store(next, 0, chunks.length);
  }
  for (const results of await Promise.all(later)) for (const { index, report } of results) reports.set(index, report);
  const report = stitch(db, lastKey, head, chunks, (i) => reports.get(i));
  return finish(report, lastKey, storedCount, Number(process.hrtime.bigint() - started) / 1e6);
}

/** A chunk that ends where it should with every record good, so the next one may follow it. */
function clean(r: SegmentReport | undefined, c: Segment): r is SegmentReport {
  return r !== undefined && !segmentStops(r, c);
}

/**
 * Chunks in key order while each is clean and links to the one before. At the first that is not
 * (a fault, a chunk that ends early, a link that breaks at its start), the rest is walked again on
 * this thread, serially, from the end of the clean prefix, anchored to its last digest: exactly
 * the state the serial verifier would be in there, so the first fault and its reason are the
 * serial verifier's own (a chunk alone cannot tell "record 11 missing (next stored is 12)" from
 * the end of its range, nor which of two checks the serial walk makes first at its first record).
 * That walk stops at the first fault, so it costs little.
 */
function stitch(db: JournalDb, lastKey: number, head: SegmentReport, chunks: Segment[], reportOf: (i: number) => SegmentReport | undefined): VerifyReport {
  // The first chunk is verified from record 1 as the serial verifier does: a fault inside it is exact.
  if (head.damage || head.tornTail) return head;
  let acc: VerifyReport = head;
  for (let i = clean(head, chunks[0]) ? 1 : chunks.length; i < chunks.length; i++) {
    const r = reportOf(i);
    if (!clean(r, chunks[i]) || !r.startPrevDigest?.equals(acc.lastGoodDigest)) break;
    acc = { ...r, identity: acc.identity, goodCount: acc.goodCount + r.goodCount };
  }
  if (acc.lastGoodSeq === lastKey) return acc; // every chunk clean and linked
  const from = acc.lastGoodSeq + 1;
  const rest = verifyEntries(storedViews(db, from), lastKey, { identity: acc.identity, startSeq: from, prevDigest: acc.lastGoodDigest, partial: true });
  return { ...rest, identity: acc.identity, goodCount: acc.goodCount + rest.goodCount };
}

/** The end-of-store checks of verifyEntries, applied to the stitched result. */
function finish(r: VerifyReport, lastKey: number, storedCount: number | undefined, elapsedMs: number): VerifyReport {
  const out = { ...r, elapsedMs };
  if (r.damage || r.tornTail) return out;
  if ((storedCount ?? 0) > r.goodCount) {
    return { ...out, damage: { seq: r.lastGoodSeq + 1, reason: `the store counts ${storedCount} records but only ${r.goodCount} are reachable (a damaged index page hides records)` } };
  }
  if (lastKey > r.lastGoodSeq) return { ...out, damage: { seq: r.lastGoodSeq + 1, reason: `records ${r.lastGoodSeq + 1}..${lastKey} unreachable (the index ends early)` } };
  return out;
}

/**
 * Verify-on-open in parallel: a large journal's keys are split into segments; worker threads
 * verify the later segments while this thread verifies the first, then the segments are
 * stitched: each segment's first record must link to the previous segment's last digest. The
 * result is exactly the serial verifier's (storage/verify.ts): the first fault in key order wins,
 * with the same decision table. Used only above PARALLEL_RECORDS_MIN, where thread start-up
 * (tens of ms) is small beside the walk (about 3 µs a record on one core).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { SegmentReport, StoredEntry, VerifyReport, verifyEntries } from './verify';
// Imported (not only as a type) so every compiler that follows imports also emits the worker's file.
import { SegmentJob, VERIFY_WORKER } from './verify-worker';
import { JournalDb } from './lmdb-env';

export const PARALLEL_RECORDS_MIN = 200_000;
export const VERIFY_THREADS_MAX = 4;

type Segment = { start: number; end: number };

function segmentsOf(lastKey: number, count: number): Segment[] {
  const size = Math.ceil(lastKey / count);
  return Array.from({ length: count }, (_, i) => ({ start: i * size + 1, end: Math.min(lastKey, (i + 1) * size) })).filter((s) => s.start <= s.end);
}

function workerFile(): { file: string; execArgv: string[] } {
  void VERIFY_WORKER;
  const js = join(__dirname, 'verify-worker.js');
  if (existsSync(js)) return { file: js, execArgv: [] };
  return { file: join(__dirname, 'verify-worker.ts'), execArgv: ['-r', require.resolve('ts-node/register/transpile-only')] };
}

function verifyInWorker(job: SegmentJob): Promise<SegmentReport> {
  const { file, execArgv } = workerFile();
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData: job, execArgv });
    let settled = false;
    // Never terminate(): the worker closes its LMDB environment and exits by itself; stopping it
    // during that close aborts the process (see verify-worker.ts).
    worker.once('message', (m: { ok: boolean; report?: SegmentReport; error?: string }) => {
      settled = true;
      if (m.ok && m.report) resolve({ ...m.report, lastGoodDigest: Buffer.from(m.report.lastGoodDigest), startPrevDigest: m.report.startPrevDigest && Buffer.from(m.report.startPrevDigest) });
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

export function threadsFor(lastKey: number): number {
  if (lastKey < PARALLEL_RECORDS_MIN) return 1;
  return Math.max(1, Math.min(VERIFY_THREADS_MAX, availableParallelism()));
}

/** Verifies like verifyEntries over the whole store, using `threads` threads. */
export async function verifyParallel(db: JournalDb, dir: string, lastKey: number, storedCount: number | undefined, identity: string | undefined, threads: number): Promise<VerifyReport> {
  const started = process.hrtime.bigint();
  const [first, ...rest] = segmentsOf(lastKey, threads);
  const later = rest.map((s) => verifyInWorker({ dir, start: s.start, end: s.end, lastKey }));
  later.forEach((p) => p.catch(() => undefined)); // rejections are awaited below
  function* entries(): Iterable<StoredEntry> {
    for (const { key, value } of db.getRange({ start: 0, end: first.end + 1 })) yield { key, stored: value };
  }
  const head = verifyEntries(entries(), lastKey, { identity, startSeq: 1, partial: true });
  const report = stitch(head, first, rest, await Promise.all(later));
  return finish(report, lastKey, storedCount, Number(process.hrtime.bigint() - started) / 1e6);
}

function stitch(head: VerifyReport, first: Segment, segments: Segment[], reports: SegmentReport[]): VerifyReport {
  let acc: VerifyReport = head;
  let end = first.end;
  for (const [i, seg] of segments.entries()) {
    if (acc.damage || acc.tornTail) return acc;
    if (acc.lastGoodSeq !== end) return { ...acc, damage: { seq: acc.lastGoodSeq + 1, reason: `record ${acc.lastGoodSeq + 1} missing` } };
    const r = reports[i];
    if (r.startPrevDigest && !r.startPrevDigest.equals(acc.lastGoodDigest)) {
      return { ...acc, damage: { seq: seg.start, reason: `chain broken: record ${seg.start} does not follow record ${seg.start - 1}`, foreign: false } };
    }
    acc = { ...r, identity: acc.identity, goodCount: acc.goodCount + r.goodCount, lastGoodDigest: r.goodCount > 0 ? r.lastGoodDigest : acc.lastGoodDigest };
    end = seg.end;
  }
  if (!acc.damage && !acc.tornTail && acc.lastGoodSeq !== end) return { ...acc, damage: { seq: acc.lastGoodSeq + 1, reason: `record ${acc.lastGoodSeq + 1} missing` } };
  return acc;
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

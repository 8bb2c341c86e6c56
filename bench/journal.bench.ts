/**
 * Journal benchmark (`npm run bench:journal`): figures and ratios measured in one run, no
 * pass/fail. Each phase runs in its own child process, as JavaScript transpiled once by
 * tests/powercut/compile.ts (so ts-node is in no figure and each peak RSS is the phase's own):
 *
 *  1. durable single-record append latency (median, p99): the journal against a raw O_APPEND
 *     write + fdatasync (the floor) and SQLite WAL synchronous=FULL (one INSERT per
 *     transaction), interleaved in rounds on the same file system (bench/out/);
 *  2. flush barriers per durable append, counted from an strace of a small workload
 *     (fdatasync/fsync calls and writes through O_DSYNC descriptors, parsed by
 *     tests/powercut/strace-trace.ts): single appends, group commit, appendMany, floor, SQLite;
 *  3. batched throughput: 100 records per commit (journal.appendMany), and SQLite the same way,
 *     each side's checkpoints counted in its time, each side warmed up first; wall and CPU per
 *     commit; for context SQLite also encoding the payloads (cbor-x) as it inserts them; and goal
 *     5's bound: the journal's encoding and log with no checkpoint, and with the checkpoint done by
 *     another thread (bench/checkpoint-worker.ts), measurements only;
 *  4. verify of 1,000,000 records (built once, cached in bench/out/journal-1m): the walk on one
 *     thread with values copied (as before issue 14) and read in place, with the JavaScript step
 *     and the native one (native/journal_seal.c `step`); the full verify (a read-only
 *     Journal.open with no checkpoint, as `pos journal verify` runs it) on the default threads
 *     and on one, alternating, and its baseline with the JavaScript step; the writable
 *     Journal.open; SQLite's integrity_check and a full scan of the same records (`-- --verify-only`
 *     runs this section alone);
 *     4b. import of a sealed backup of those records, beside SQLite loading them;
 *  5. peak RSS (process.resourceUsage().maxRSS) of each phase's process.
 *
 * Goals (issue 2): append within 1.5x of SQLite and 3x of the floor. Issue 14: batched appends
 * >= 1.0x SQLite (goal 5), verify-on-open of 1M <= 1 s (goal 7).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { nodeCommandFor, REPO_ROOT } from '../tests/powercut/compile';
import { readTraceFile, runUnderStrace, TraceEvent } from '../tests/powercut/strace-trace';
import { hasTool } from '../tests/support/tools';
import { threadsFor } from '../storage/verify-parallel';
import { RECORDS_1M } from './journal-phases';

const OUT = join(REPO_ROOT, 'bench', 'out');
const PHASES = 'bench/journal-phases.ts';
const OPEN_RUNS = 3;
/** Runs of the full verify at each thread count (alternating which goes first). */
const VERIFY_RUNS = 3;
const BARRIER_N = 30;
/**
 * Commits of 100 records in the batched phase: SQLite checkpoints about every 110 of them (its WAL
 * reaches 1,000 pages), the journal every ~40 (its 1 MiB log): 440 give SQLite 4 checkpoints and
 * the journal 11, so neither side's figure leaves out its own checkpoints.
 */
const BATCH_COMMITS = 440;

function runPhase(phase: string, ...rest: Array<string | Record<string, string>>): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  // A trailing object is extra environment for the phase's process.
  const env = typeof rest[rest.length - 1] === 'object' ? rest.pop() as Record<string, string> : {};
  const args = rest as string[];
  const r = spawnSync(process.execPath, [...nodeCommandFor(PHASES), phase, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`phase ${phase} failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line.slice('RESULT '.length));
}

const ms = (x: number): string => `${x.toFixed(3)} ms`;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

function segments(events: TraceEvent[]): Map<string, { barriers: number; fdatasync: number; fsync: number; dsyncWrites: number; files: Set<string> }> {
  const out = new Map<string, { barriers: number; fdatasync: number; fsync: number; dsyncWrites: number; files: Set<string> }>();
  let current: string | undefined;
  for (const e of events) {
    if (e.kind === 'ack') {
      const m = /^(.*)-(start|end)$/.exec(e.id);
      if (m) current = m[2] === 'start' ? m[1] : undefined;
      if (m && m[2] === 'start') out.set(m[1], { barriers: 0, fdatasync: 0, fsync: 0, dsyncWrites: 0, files: new Set() });
      continue;
    }
    if (!current) continue;
    const s = out.get(current)!;
    if (e.kind === 'barrier') {
      s.barriers++;
      if (e.call === 'fdatasync') s.fdatasync++; else if (e.call === 'fsync') s.fsync++;
      if (e.path) s.files.add(e.path.split('/').pop()!);
    } else if (e.kind === 'write' && e.sync) {
      s.barriers++;
      s.dsyncWrites++;
      s.files.add(`${e.path.split('/').pop()!}(O_DSYNC)`);
    }
  }
  return out;
}

async function barrierCounts(work: string): Promise<void> {
  if (!hasTool('strace')) {
    console.log('  strace not installed: barrier counts skipped (apt-get install strace)');
    return;
  }
  const dir = join(work, 'barriers');
  mkdirSync(dir, { recursive: true });
  const traceFile = join(work, 'barriers.trace');
  const r = await runUnderStrace({ command: process.execPath, args: [...nodeCommandFor(PHASES), 'barriers', dir, String(BARRIER_N)], traceFile, timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`barrier workload failed: ${r.stderr.slice(-2000)}`);
  const seg = segments(readTraceFile(traceFile));
  const n = BARRIER_N;
  const show = (name: string, label: string, durableUnits: number, unit: string, extra = ''): void => {
    const s = seg.get(name);
    if (!s) { console.log(`  ${label}: no trace segment`); return; }
    console.log(`  ${label.padEnd(34)} ${(s.barriers / durableUnits).toFixed(2)} per ${unit} (fdatasync ${s.fdatasync}, fsync ${s.fsync}, O_DSYNC writes ${s.dsyncWrites} over ${durableUnits} ${unit}s; ${[...s.files].join(', ')})${extra}`);
  };
  show('single', 'journal, single append awaited', n, 'append');
  const g = seg.get('group');
  show('group', 'journal, group commit (10 appends)', n * 10, 'append', g ? `; ${(g.barriers / n).toFixed(2)} per commit of 10` : '');
  const many = seg.get('many');
  show('many', 'journal.appendMany(100)', n, 'commit', many ? `; ${(many.barriers / (n * 100)).toFixed(3)} per record` : '');
  show('floor', 'floor: O_APPEND write + fdatasync', n, 'append');
  show('sqlite', 'SQLite WAL synchronous=FULL', n, 'insert');
}

/**
 * Section 4, issue 14 goal 7: the full verify of 1M records (no boot checkpoint trusted: what
 * `pos journal verify`, the recovery menu's verify and export run; the boot verifies only the
 * records after its checkpoint, bench:boot). Each run its own process; the default thread count
 * and one thread alternate, beside the one-thread walks (old and in place) and SQLite checking the
 * same records, all in this run; the load average is printed with them (wall time follows it).
 */
async function verifyFigures(rss: Array<[string, number]>): Promise<string> {
  const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`\n4. verify of 1,000,000 records (load average ${load()})`);
  const dir1m = join(OUT, 'journal-1m');
  const built = runPhase('build1m', dir1m);
  rss.push(['build1m', built.maxRssBytes]);
  console.log(built.cached ? `  using the cached journal in ${dir1m}` : `  built in ${(built.buildMs / 1000).toFixed(1)} s (${(built.count / (built.buildMs / 1000)).toFixed(0)} records/s via appendMany of 10,000)`);
  const walk = runPhase('walk1m', dir1m);
  rss.push(['walk1m', walk.maxRssBytes]);
  const walkLine = (w: { wallMs: number; cpuMs: number; ok: boolean }): string => `${ms(w.wallMs)} (CPU ${ms(w.cpuMs)}, ok ${w.ok})`;
  console.log(`  one thread, values copied out of lmdb-js (session 5's walk):   ${walk.copy.map(walkLine).join(', ')}`);
  console.log(`  one thread, values read in place (storedViews), JS step:        ${walk.viewJs.map(walkLine).join(', ')}`);
  console.log(`  one thread, values read in place, native step (journal_seal.c): ${walk.view.map(walkLine).join(', ')}`);
  const cpu = (xs: Array<{ cpuMs: number }>): number => Math.min(...xs.map((x) => x.cpuMs));
  console.log(`  best CPU in place / copied: ${ratio(cpu(walk.viewJs), cpu(walk.copy))}; native step / JS step (in place): ${ratio(cpu(walk.view), cpu(walk.viewJs))}`);

  const threads = threadsFor(RECORDS_1M);
  const full = { [threads]: [] as Array<Record<string, any>>, 1: [] as Array<Record<string, any>> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (let k = 0; k < VERIFY_RUNS; k++) {
    for (const t of k % 2 === 0 ? [threads, 1] : [1, threads]) full[t].push(runPhase('verify1m', dir1m, String(t)));
  }
  const median = (xs: Array<Record<string, any>>): Record<string, any> => [...xs].sort((a, c) => a.wallMs - c.wallMs)[Math.floor(xs.length / 2)]; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const t of threads === 1 ? [1] : [threads, 1]) {
    const runs = full[t].map((r) => `${ms(r.wallMs)} (CPU ${ms(r.cpuMs)}, ok ${r.ok})`).join(', ');
    console.log(`  full verify, read-only Journal.open (pos journal verify), ${t} thread${t > 1 ? 's' : ''}: ${runs}; median ${ms(median(full[t]).wallMs)}`);
  }
  rss.push(['verify1m', Math.max(...full[threads].map((r) => r.maxRssBytes))]);
  // Baseline in this run: the same full verify with the JavaScript step (as before the native step).
  const js = Array.from({ length: VERIFY_RUNS }, () => runPhase('verify1m', dir1m, String(threads), { POS_JOURNAL_VERIFY: 'js' }));
  console.log(`  baseline, the same on ${threads} thread${threads > 1 ? 's' : ''} with the JavaScript step (POS_JOURNAL_VERIFY=js): ${js.map((r) => `${ms(r.wallMs)} (CPU ${ms(r.cpuMs)}, ok ${r.ok})`).join(', ')}; median ${ms(median(js).wallMs)}`);
  const goal = median(full[threads]);
  console.log(`  goal figure, full verify on ${threads} threads: median ${ms(goal.wallMs)}, ${ratio(goal.wallMs, 1000)} of the 1 s goal (issue 14 goal 7; ${(RECORDS_1M / (goal.wallMs / 1000)).toFixed(0)} records/s, ${availableParallelism()} cores; load average now ${load()})`);

  const opens: Array<Record<string, any>> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (let k = 0; k < OPEN_RUNS; k++) opens.push(runPhase('open1m', dir1m));
  for (const [k, o] of opens.entries()) {
    console.log(`  writable Journal.open without a checkpoint, run ${k + 1}: ${ms(o.openMs)} (verify ${ms(o.verifyMs)}; CPU of all its threads ${ms(o.cpuMs)}), chain ok to the cached last digest: ${o.ok}, peak RSS ${mb(o.maxRssBytes)} (before open ${mb(o.maxRssBeforeOpenBytes)})`);
  }
  rss.push(['open1m', Math.max(...opens.map((o) => o.maxRssBytes))]);

  const sq = runPhase('sqlite1m', dir1m, join(OUT, 'journal-1m-sqlite'));
  rss.push(['sqlite1m', sq.maxRssBytes]);
  console.log(`  baseline, SQLite holding the same 1,000,000 records (a row each${sq.cached ? ', cached database' : ', database built now'}): PRAGMA integrity_check ${ms(sq.integrity.wallMs)} (CPU ${ms(sq.integrity.cpuMs)}; pages and index, no checksum of the data), full scan into JavaScript ${ms(sq.scan.wallMs)} (CPU ${ms(sq.scan.cpuMs)})`);
  return dir1m;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const work = join(OUT, `run-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const rss: Array<[string, number]> = [];
  try {
    console.log(`journal benchmark (node ${process.version}, ${process.platform}/${process.arch}; files under ${OUT})`);
    // `npm run bench:journal -- --verify-only`: section 4's verify figures alone (a quiet moment is short on a shared machine).
    if (process.argv.includes('--verify-only')) {
      await verifyFigures(rss);
      return;
    }

    console.log('\n1. durable single-record append latency (each awaited; 5 interleaved rounds x 60 of each)');
    const lat = runPhase('latency', join(work, 'latency'), '60');
    rss.push(['latency', lat.maxRssBytes]);
    console.log(`  record ${lat.recordBytes} bytes stored (CBOR payload ${lat.payloadBytes} bytes)`);
    for (const [name, s] of [['floor (O_APPEND write+fdatasync)', lat.floor], ['floor, in place (pwrite+fdatasync)', lat.prealloc], ['SQLite WAL FULL', lat.sqlite], ['journal.append (write-ahead log)', lat.journal], ['baseline: LMDB commits (no log)', lat.lmdb]] as const) {
      console.log(`  ${name.padEnd(36)} median ${ms(s.medianMs)}  p99 ${ms(s.p99Ms)}  mean ${ms(s.meanMs)}  (n=${s.n})`);
    }
    console.log(`  ratio journal/SQLite: median ${ratio(lat.journal.medianMs, lat.sqlite.medianMs)}, p99 ${ratio(lat.journal.p99Ms, lat.sqlite.p99Ms)}  (goal <= 1.5x); without the log: median ${ratio(lat.lmdb.medianMs, lat.sqlite.medianMs)}`);
    console.log(`  ratio journal/floor:  median ${ratio(lat.journal.medianMs, lat.floor.medianMs)}, p99 ${ratio(lat.journal.p99Ms, lat.floor.p99Ms)}  (goal <= 3x)`);
    console.log(`  ratio journal/in-place floor: median ${ratio(lat.journal.medianMs, lat.prealloc.medianMs)}, p99 ${ratio(lat.journal.p99Ms, lat.prealloc.p99Ms)}  (an appending fdatasync also writes the file size; LMDB's mostly does not)`);

    console.log(`\n2. flush barriers per durable append (strace -f of a workload, ${BARRIER_N} of each)`);
    await barrierCounts(work);

    console.log(`\n3. batched throughput (100 records per commit, ${BATCH_COMMITS} commits each, interleaved in 10 rounds)`);
    const b = runPhase('batch', join(work, 'batch'), String(BATCH_COMMITS));
    rss.push(['batch', b.maxRssBytes]);
    const perCommit = (wallMs: number, cpuMs: number): string => `${ms(wallMs)} per commit, CPU ${ms(cpuMs)}`;
    console.log(`  record ${b.recordBytes} bytes on both sides; SQLite synchronous=FULL in WAL mode`);
    console.log(`  journal.appendMany: ${b.journalRecordsPerSec.toFixed(0)} records/s (${perCommit(b.journalCommitMs, b.journalCpuMs)}; ${b.journalCheckpoints} checkpoints into LMDB in its time; encodeRecords ${b.encodeUs.toFixed(2)} µs CPU per record of it, ${b.nativeSeal ? 'headers and digests by native/journal_seal.c' : 'journal_seal.node NOT LOADED: JavaScript alone'}; JavaScript alone ${b.encodeJsUs.toFixed(2)} µs)`);
    console.log(`  baseline, LMDB commits (no log): ${b.lmdbRecordsPerSec.toFixed(0)} records/s (${perCommit(b.lmdbCommitMs, b.lmdbCpuMs)})`);
    console.log(`  SQLite, 100 INSERTs per transaction: ${b.sqliteRecordsPerSec.toFixed(0)} records/s (${perCommit(b.sqliteCommitMs, b.sqliteCpuMs)}; ${b.sqliteCheckpoints} checkpoints in its time)`);
    console.log(`  context: SQLite handed payload objects, each encoded by cbor-x as inserted (a journal kept in SQLite): ${b.sqliteEncodedRecordsPerSec.toFixed(0)} records/s (${perCommit(b.sqliteEncodedCommitMs, b.sqliteEncodedCpuMs)})`);
    console.log(`  every side made ${b.warmupCommits} commits before the clocks ran (steady state)`);
    const parts = b.parts as { logWallMs: number; logCpuMs: number; checkpointWallMsPerCommit: number; checkpointCpuMsPerCommit: number; blockCheckpointWallMsPerCommit: number; blockCheckpointCpuMsPerCommit: number };
    console.log(`  a journal commit's parts, measured apart in that process: encoding ${ms(b.encodeUs * 100 / 1000)} CPU; the log's write + fdatasync ${ms(parts.logWallMs)} (CPU ${ms(parts.logCpuMs)}); checkpoints into LMDB ${ms(parts.checkpointWallMsPerCommit)} per commit (CPU ${ms(parts.checkpointCpuMsPerCommit)}); the same checkpoints with one LMDB value per commit instead of per record (a layout data.mdb does not have; measurement only) ${ms(parts.blockCheckpointWallMsPerCommit)} (CPU ${ms(parts.blockCheckpointCpuMsPerCommit)})`);
    console.log(`  goal 5's bound, the journal's encoding and its log's commit alone (pwrite + fdatasync, no checkpoint ever: the log starts over with its records dropped; measurement only): ${b.logNoCheckpointRecordsPerSec.toFixed(0)} records/s (${perCommit(b.logNoCheckpointCommitMs, b.logNoCheckpointCpuMs)}), ${ratio(b.logNoCheckpointRecordsPerSec, b.sqliteRecordsPerSec)} SQLite`);
    console.log(`  the same with the checkpoint on another thread (bench/checkpoint-worker.ts: LMDB transactions of >= ${b.workerCheckpointRecordsMin} records behind the log, the log started over once LMDB holds its last record; CPU counts both threads): ${b.logWorkerRecordsPerSec.toFixed(0)} records/s (${perCommit(b.logWorkerCommitMs, b.logWorkerCpuMs)}; waiting for LMDB ${ms(b.logWorkerWaitMsPerCommit)} per commit), ${ratio(b.logWorkerRecordsPerSec, b.sqliteRecordsPerSec)} SQLite`);
    console.log(`  ratio journal/SQLite throughput: ${ratio(b.journalRecordsPerSec, b.sqliteRecordsPerSec)}  (issue 14 goal 5: >= 1.0x; barriers per commit in section 2); without the log ${ratio(b.lmdbRecordsPerSec, b.sqliteRecordsPerSec)}; against SQLite encoding the payloads ${ratio(b.journalRecordsPerSec, b.sqliteEncodedRecordsPerSec)}`);

    const dir1m = await verifyFigures(rss);
    console.log('\n4b. import of a backup of the 1,000,000 records (sealed under a device key)');
    const exp = runPhase('export1m', dir1m, join(work, 'import'));
    const imp = runPhase('import1m', dir1m, join(work, 'import'));
    rss.push(['export1m', exp.maxRssBytes], ['import1m', imp.maxRssBytes]);
    // Anonymous memory, not RSS: RSS counts the journal's mapped file pages, which the kernel reclaims.
    console.log(`  export ${ms(exp.exportMs)} (${mb(exp.fileBytes)} file, streamed): anonymous memory peak ${mb(exp.anonPeakBytes)} against ${mb(exp.anonBeforeBytes)} before it began`);
    console.log(`  importFromFile ${ms(imp.importMs)} (${imp.records} records: digest, decrypt, verify, written in batches, verify on open; streamed): anonymous memory peak ${mb(imp.anonPeakBytes)} against ${mb(imp.anonBeforeBytes)} before it began`);
    console.log(`  SQLite, the same records loaded in one transaction: ${ms(imp.sqliteMs)}; ratio import/SQLite ${ratio(imp.importMs, imp.sqliteMs)}`);

    console.log('\n5. peak RSS per phase (its own process; open1m includes the mapped file pages read)');
    for (const [phase, bytes] of rss) console.log(`  ${phase.padEnd(10)} ${mb(bytes)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

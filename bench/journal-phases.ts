/**
 * Phases of the journal benchmark (bench/journal.bench.ts), each run in its own child process
 * (compiled to JavaScript) so that its peak RSS is its own and ts-node is not in the figures.
 *
 *   node journal-phases.js <phase> <workDir> [args]   -> prints one line `RESULT {json}`
 *
 * Phases: latency, batch, build1m, open1m, walk1m, verify1m, sqlite1m, export1m, import1m, barriers (a workload for strace: prints `ACK <mark>`
 * between its parts so the trace can be cut into them).
 */
import { sampleAnonPeak } from './anon-peak';
import { closeSync, existsSync, fdatasyncSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, checkpointTransactions } from '../storage/journal';
import { exportToFile, importFromFile } from '../storage/backup';
import { openEnv, storedViews } from '../storage/lmdb-env';
import { StoredEntry, verifyEntries } from '../storage/verify';
import { WalWriter } from '../storage/wal';
import { Payload, RecordType, encodeRecord, encodeRecords, genesisDigest, useNativeSeal, useNativeVerify } from '../storage/record';
import { Encoder } from 'cbor-x';
import { Worker } from 'node:worker_threads';
import { CHECKPOINT_WORKER, CheckpointWorkerData, CommitMessage } from './checkpoint-worker';

export const ID = 'BENCH-0001';
export const RECORDS_1M = 1_000_000;
/** The 1M-record journal is about 230 MB of records; LMDB needs room beyond that. */
const BIG_MAP_BYTES = 2 * 1024 * 1024 * 1024;

/** A txn-begin-like payload of about 150 bytes of CBOR (checked in the latency phase). */
export function salePayload(i: number): Payload {
  const stan = String(i % 1_000_000).padStart(6, '0');
  return {
    kind: 'sale', stan, batch: '000001', amountFen: 1000 + (i % 99_000), panMasked: '622202******0128',
    panEnc: Buffer.alloc(16, i & 0xff), expiry: '3012', entryMode: 'chip', operator: '01', rrn: `24060212${stan}`,
  };
}

function rss(): number { return process.resourceUsage().maxRSS * 1024; }
function nowMs(): number { return Number(process.hrtime.bigint()) / 1e6; }

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
function stats(samples: number[]): { n: number; medianMs: number; p99Ms: number; meanMs: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, medianMs: quantile(s, 0.5), p99Ms: quantile(s, 0.99), meanMs: s.reduce((a, b) => a + b, 0) / s.length };
}

/* eslint-disable @typescript-eslint/no-require-imports */
type SqliteDb = { pragma(s: string): unknown; exec(s: string): void; prepare(s: string): { run(...a: unknown[]): unknown }; transaction<T extends (...a: never[]) => unknown>(f: T): T; close(): void };
function openSqlite(file: string): SqliteDb {
  const Database = require('better-sqlite3') as new (f: string) => SqliteDb;
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, type INTEGER NOT NULL, time_ms INTEGER NOT NULL, record BLOB NOT NULL)');
  return db;
}

/** Durable single appends: journal vs raw append+fdatasync (the floor) vs SQLite WAL/FULL, interleaved in rounds. */
async function latency(work: string, perRound: number, rounds: number): Promise<unknown> {
  mkdirSync(work, { recursive: true });
  const record = encodeRecord({ type: RecordType.txnBegin, seq: 2, timeMs: Date.now(), prevDigest: genesisDigest(ID), payload: salePayload(2) });
  const payloadBytes = record.length - 68;
  const fd = openSync(join(work, 'floor.log'), 'a'); // O_APPEND
  // A second floor that never changes the file size: fdatasync then has no metadata to write
  // (as with LMDB, which writes inside a file it grew earlier). 1 MiB preallocated, zeros written.
  const PREALLOC_BYTES = 1024 * 1024;
  const pfd = openSync(join(work, 'floor-prealloc.log'), 'w+');
  writeSync(pfd, Buffer.alloc(PREALLOC_BYTES), 0, PREALLOC_BYTES, 0);
  fdatasyncSync(pfd);
  let pAt = 0;
  const sqlite = openSqlite(join(work, 'sqlite.db'));
  const insert = sqlite.prepare('INSERT INTO journal (seq, type, time_ms, record) VALUES (?, ?, ?, ?)');
  const journal = await Journal.open({ dir: join(work, 'journal'), identity: ID });
  // The path before the write-ahead log (every commit a synced LMDB transaction), in the same run.
  const lmdbOnly = await Journal.open({ dir: join(work, 'journal-lmdb'), identity: ID, writeAheadLog: false });
  let seq = 1;
  const floorOnce = (): void => { writeSync(fd, record); fdatasyncSync(fd); };
  const preallocOnce = (): void => {
    if (pAt + record.length > PREALLOC_BYTES) pAt = 0;
    writeSync(pfd, record, 0, record.length, pAt);
    pAt += record.length;
    fdatasyncSync(pfd);
  };
  const sqliteOnce = (): void => { seq++; insert.run(seq, RecordType.txnBegin, Date.now(), record); }; // autocommit: one transaction
  const journalOnce = async (i: number): Promise<void> => { await journal.append('txnBegin', salePayload(i)); };
  const lmdbOnce = async (i: number): Promise<void> => { await lmdbOnly.append('txnBegin', salePayload(i)); };
  const samples = { floor: [] as number[], prealloc: [] as number[], sqlite: [] as number[], journal: [] as number[], lmdb: [] as number[] };
  for (let i = 0; i < 20; i++) { floorOnce(); preallocOnce(); sqliteOnce(); await journalOnce(i); await lmdbOnce(i); } // warm up
  let n = 100;
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so drift of the disk does not favour one.
    const order = (['floor', 'prealloc', 'sqlite', 'journal', 'lmdb'] as const).map((_, k, a) => a[(k + r) % a.length]);
    for (const which of order) {
      for (let i = 0; i < perRound; i++) {
        const t0 = nowMs();
        if (which === 'floor') floorOnce(); else if (which === 'prealloc') preallocOnce(); else if (which === 'sqlite') sqliteOnce(); else if (which === 'lmdb') await lmdbOnce(n++); else await journalOnce(n++);
        samples[which].push(nowMs() - t0);
      }
    }
  }
  closeSync(fd);
  closeSync(pfd);
  sqlite.close();
  await journal.close();
  await lmdbOnly.close();
  return { recordBytes: record.length, payloadBytes, floor: stats(samples.floor), prealloc: stats(samples.prealloc), sqlite: stats(samples.sqlite), journal: stats(samples.journal), lmdb: stats(samples.lmdb), maxRssBytes: rss() };
}

/** Records the bench's background checkpoint waits for before an LMDB transaction (a quarter of the log's). */
const WORKER_CHECKPOINT_RECORDS_MIN = 1024;
/** Longest the bench waits for the checkpoint thread to hold a seq before it gives up (a dead worker). */
const WORKER_WAIT_MS_MAX = 30_000;

/** Blocks until `durable` holds at least `seq`; throws after WORKER_WAIT_MS_MAX. */
function waitDurable(durable: Int32Array, seq: number): void {
  const deadline = nowMs() + WORKER_WAIT_MS_MAX;
  while (Atomics.load(durable, 0) < seq) {
    if (nowMs() > deadline) throw new Error(`the checkpoint thread did not reach seq ${seq} in ${WORKER_WAIT_MS_MAX} ms (it holds ${Atomics.load(durable, 0)})`);
    Atomics.wait(durable, 0, Atomics.load(durable, 0), 100);
  }
}

/** bench/checkpoint-worker.ts in a worker thread: the compiled copy beside this one, else through ts-node. */
function checkpointWorker(lmdbDir: string, durableSeq: SharedArrayBuffer): Worker {
  mkdirSync(lmdbDir, { recursive: true });
  void CHECKPOINT_WORKER;
  const data: CheckpointWorkerData = { kind: 'bench-checkpoint', dir: lmdbDir, mapSizeBytes: BIG_MAP_BYTES, recordsMin: WORKER_CHECKPOINT_RECORDS_MIN, durableSeq };
  const compiled = join(__dirname, 'checkpoint-worker.js');
  if (existsSync(compiled)) return new Worker(compiled, { workerData: data });
  return new Worker(join(__dirname, 'checkpoint-worker.ts'), { workerData: data, execArgv: ['-r', require.resolve('ts-node/register/transpile-only')] });
}

/**
 * Measurements of goal 5's bound (no side the journal runs): the journal's own encoding
 * (encodeRecords) and its log's commit (WalWriter: one pwrite, one fdatasync), with the
 * checkpoint into LMDB either left out (`none`: the log started over when full, its records
 * dropped; no journal could do that, it bounds what any checkpoint could give) or done by another
 * thread (`worker`: bench/checkpoint-worker.ts puts every commit's records into LMDB as they come,
 * and the log starts over only when LMDB holds its last record). The journal's bookkeeping
 * (tail, free-space check, promises) is left out of both.
 */
function logSide(dir: string, checkpoint: 'none' | 'worker'): { commit(records: ReadonlyArray<{ type: number; payload: Payload }>): void; close(): Promise<void>; waitMs(): number } {
  mkdirSync(dir, { recursive: true });
  let prev = genesisDigest(ID);
  const log = WalWriter.open(dir, { baseSeq: 0, baseDigest: prev });
  const durableSeq = new SharedArrayBuffer(4);
  const durable = new Int32Array(durableSeq);
  const worker = checkpoint === 'worker' ? checkpointWorker(join(dir, 'lmdb'), durableSeq) : undefined;
  let seq = 1;
  let logLast = 0;
  let waitedMs = 0;
  return {
    commit(records): void {
      const enc = encodeRecords(records, seq, Date.now(), prev);
      const entries = enc.stored.map((stored, k) => ({ seq: seq + k, stored }));
      const bytes = entries.reduce((n, e) => n + e.stored.length, 0);
      if (!log.fits(entries.length, bytes)) {
        if (worker) {
          const t0 = nowMs();
          worker.postMessage({ drain: true });
          waitDurable(durable, logLast);
          waitedMs += nowMs() - t0;
        }
        log.reset({ baseSeq: logLast, baseDigest: prev });
      }
      log.append(entries);
      logLast = seq + entries.length - 1;
      if (worker) {
        const message: CommitMessage = { first: seq, lengths: Uint32Array.from(enc.stored, (b) => b.length), bytes: Buffer.concat(enc.stored, bytes) };
        worker.postMessage(message);
      }
      seq += entries.length;
      prev = enc.digests[entries.length - 1];
    },
    async close(): Promise<void> {
      log.close();
      if (!worker) return;
      worker.postMessage({ drain: true });
      waitDurable(durable, logLast);
      worker.postMessage({ close: true });
      await new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    },
    waitMs: () => waitedMs,
  };
}

/** Commits of 100 records each side makes before the batched phase's clocks run. */
const BATCH_WARMUP_COMMITS = 100;
/** cbor-x with the journal's options (storage/record.ts), for the encoded SQLite baseline. */
const payloadCbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

/**
 * Batched throughput: `commits` commits of 100 records (journal.appendMany), and SQLite the same
 * way (100 INSERTs of a record of the same size per transaction, synchronous=FULL in WAL mode),
 * interleaved in rounds that alternate which goes first, so load from other processes falls on
 * both alike. Each commit's payload objects are made just before its clock starts, as a caller
 * makes them (SQLite is handed ready bytes; what the journal does with a payload, CBOR, checks,
 * CRCs, digest, is in its figure): no run's worth of payloads is alive for the garbage collector
 * to walk in the journal's time. Checkpoints are counted on both sides: the journal's
 * (its log into LMDB, every ~40 commits) and SQLite's (its WAL restarted after a checkpoint, every
 * ~110 commits: its WAL header's checkpoint sequence number). Wall and CPU time per commit.
 */
async function batch(work: string, commits: number): Promise<unknown> {
  mkdirSync(work, { recursive: true });
  const journal = await Journal.open({ dir: join(work, 'journal'), identity: ID, mapSizeBytes: BIG_MAP_BYTES, capacityBytes: BIG_MAP_BYTES });
  const lmdbOnly = await Journal.open({ dir: join(work, 'journal-lmdb'), identity: ID, mapSizeBytes: BIG_MAP_BYTES, capacityBytes: BIG_MAP_BYTES, writeAheadLog: false });
  const per = 100;
  const rounds = 10;
  let i = 0;
  const batchOf = (): Array<{ type: number; payload: Payload }> => Array.from({ length: per }, () => ({ type: RecordType.txnBegin, payload: salePayload(i++) }));
  const sqliteFile = join(work, 'sqlite.db');
  const sqlite = openSqlite(sqliteFile);
  const insert = sqlite.prepare('INSERT INTO journal (seq, type, time_ms, record) VALUES (?, ?, ?, ?)');
  const record = encodeRecord({ type: RecordType.txnBegin, seq: 2, timeMs: Date.now(), prevDigest: genesisDigest(ID), payload: salePayload(2) });
  let seq = 0;
  const many = sqlite.transaction(() => { for (let k = 0; k < per; k++) { seq++; insert.run(seq, RecordType.txnBegin, Date.now(), record); } });
  // The same SQLite handed payload objects, each encoded by cbor-x with the journal's options as
  // it is inserted: what a journal kept in SQLite would do (context beside the figure, not the goal's baseline).
  const encodedFile = join(work, 'sqlite-encoded.db');
  const sqliteEncoded = openSqlite(encodedFile);
  const insertEncoded = sqliteEncoded.prepare('INSERT INTO journal (seq, type, time_ms, record) VALUES (?, ?, ?, ?)');
  let encodedSeq = 0;
  const manyEncoded = sqliteEncoded.transaction((b: Array<{ type: number; payload: Payload }>) => {
    for (const r of b) { encodedSeq++; insertEncoded.run(encodedSeq, r.type, Date.now(), payloadCbor.encode(r.payload)); }
  });
  // Steady state on every side before any clock runs: a terminal appends for hours, and the
  // journal's first commits otherwise carry V8's compiling of its code (measured: 440 commits after
  // 1 warm-up commit 0.57 ms each, after 100 0.46 ms), which SQLite, compiled C, never pays.
  const logNone = logSide(join(work, 'log-none'), 'none');
  const logWorker = logSide(join(work, 'log-worker'), 'worker');
  for (let w = 0; w < BATCH_WARMUP_COMMITS; w++) {
    await journal.appendMany(batchOf());
    await lmdbOnly.appendMany(batchOf());
    many();
    manyEncoded(batchOf());
    logNone.commit(batchOf());
    logWorker.commit(batchOf());
  }
  const workerWaitBeforeMs = logWorker.waitMs();

  const t = { journal: { wallMs: 0, cpuMs: 0, checkpoints: 0 }, lmdb: { wallMs: 0, cpuMs: 0 }, sqlite: { wallMs: 0, cpuMs: 0 }, sqliteEncoded: { wallMs: 0, cpuMs: 0 }, logNone: { wallMs: 0, cpuMs: 0 }, logWorker: { wallMs: 0, cpuMs: 0 } };
  const walRestartsBefore = sqliteWalCheckpointSeq(sqliteFile);
  const perRound = Math.ceil(commits / rounds);
  const timed = async (into: { wallMs: number; cpuMs: number }, run: () => Promise<void> | void): Promise<void> => {
    const c0 = process.cpuUsage();
    const t0 = nowMs();
    await run();
    into.wallMs += nowMs() - t0;
    const c = process.cpuUsage(c0);
    into.cpuMs += (c.user + c.system) / 1000;
  };
  for (let r = 0; r < rounds; r++) {
    const n = Math.min(perRound, commits - r * perRound);
    // The journal's figure includes its checkpoints into LMDB, SQLite's its own (counted below).
    const runJournal = async (): Promise<void> => {
      for (let c = 0; c < n; c++) {
        const b = batchOf();
        const before = journal.checkpointedSeq;
        await timed(t.journal, () => journal.appendMany(b).then(() => undefined));
        if (journal.checkpointedSeq !== before) t.journal.checkpoints++;
      }
    };
    const runLmdb = async (): Promise<void> => {
      for (let c = 0; c < n; c++) {
        const b = batchOf();
        await timed(t.lmdb, () => lmdbOnly.appendMany(b).then(() => undefined));
      }
    };
    const runSqlite = (): Promise<void> => timed(t.sqlite, () => { for (let c = 0; c < n; c++) many(); });
    const runSqliteEncoded = async (): Promise<void> => {
      for (let c = 0; c < n; c++) {
        const b = batchOf();
        await timed(t.sqliteEncoded, () => { manyEncoded(b); });
      }
    };
    const runLog = (side: typeof logNone, into: { wallMs: number; cpuMs: number }) => async (): Promise<void> => {
      for (let c = 0; c < n; c++) {
        const b = batchOf();
        await timed(into, () => side.commit(b));
      }
    };
    const runs = [runJournal, runSqlite, runLmdb, runSqliteEncoded, runLog(logNone, t.logNone), runLog(logWorker, t.logWorker)];
    for (const run of r % 2 === 0 ? runs : runs.reverse()) await run();
  }
  const sqliteCheckpoints = sqliteWalCheckpointSeq(sqliteFile) - walRestartsBefore;
  await journal.close();
  await lmdbOnly.close();
  sqlite.close();
  sqliteEncoded.close();
  const workerWaitMs = logWorker.waitMs() - workerWaitBeforeMs;
  await logNone.close();
  await logWorker.close();
  const records = commits * per;
  const perSec = (x: { wallMs: number }): number => records / (x.wallMs / 1000);
  return {
    recordsPerCommit: per, commits, recordBytes: record.length,
    journalRecordsPerSec: perSec(t.journal), sqliteRecordsPerSec: perSec(t.sqlite), lmdbRecordsPerSec: perSec(t.lmdb),
    journalCommitMs: t.journal.wallMs / commits, sqliteCommitMs: t.sqlite.wallMs / commits, lmdbCommitMs: t.lmdb.wallMs / commits,
    journalCpuMs: t.journal.cpuMs / commits, sqliteCpuMs: t.sqlite.cpuMs / commits, lmdbCpuMs: t.lmdb.cpuMs / commits,
    sqliteEncodedRecordsPerSec: perSec(t.sqliteEncoded), sqliteEncodedCommitMs: t.sqliteEncoded.wallMs / commits, sqliteEncodedCpuMs: t.sqliteEncoded.cpuMs / commits,
    logNoCheckpointRecordsPerSec: perSec(t.logNone), logNoCheckpointCommitMs: t.logNone.wallMs / commits, logNoCheckpointCpuMs: t.logNone.cpuMs / commits,
    logWorkerRecordsPerSec: perSec(t.logWorker), logWorkerCommitMs: t.logWorker.wallMs / commits, logWorkerCpuMs: t.logWorker.cpuMs / commits,
    logWorkerWaitMsPerCommit: workerWaitMs / commits, workerCheckpointRecordsMin: WORKER_CHECKPOINT_RECORDS_MIN,
    warmupCommits: BATCH_WARMUP_COMMITS,
    journalCheckpoints: t.journal.checkpoints, sqliteCheckpoints,
    encodeUs: encodeCpuUs(20_000), encodeJsUs: encodeJsCpuUs(20_000), nativeSeal: useNativeSeal(true), parts: commitParts(join(work, 'parts'), per), maxRssBytes: rss(),
  };
}

/**
 * SQLite's WAL header (bytes 12..15, big-endian): the checkpoint sequence number, which SQLite
 * increments each time it starts the WAL over after a checkpoint.
 */
function sqliteWalCheckpointSeq(dbFile: string): number {
  const fd = openSync(`${dbFile}-wal`, 'r');
  try {
    const head = Buffer.alloc(16);
    readSync(fd, head, 0, 16, 0);
    return head.readUInt32BE(12);
  } finally {
    closeSync(fd);
  }
}

/**
 * The parts of a journal commit of `per` records measured apart, in the same process (what the
 * README's "where a commit's time goes" says): the log's write of a commit (encodeCommit, one
 * pwrite, one fdatasync) on records encoded beforehand, and a checkpoint (one synced LMDB
 * transaction of a log's worth of records, WAL_TAIL_RECORDS_MAX, then the log's header) per
 * record, given per commit. The encoding is encodeCpuUs.
 */
function commitParts(dir: string, per: number): { logWallMs: number; logCpuMs: number; checkpointWallMsPerCommit: number; checkpointCpuMsPerCommit: number; blockCheckpointWallMsPerCommit: number; blockCheckpointCpuMsPerCommit: number } {
  mkdirSync(dir, { recursive: true });
  const log = WalWriter.open(dir, { baseSeq: 0, baseDigest: genesisDigest(ID) });
  const db = openEnv(join(dir, 'lmdb'), { mapSizeBytes: BIG_MAP_BYTES });
  // 400 commits: ~10 checkpoints, on a file that grows as the journal's does (the former 120 gave
  // 3, on a fresh file, and read about three times the grown file's cost).
  const commits = 400;
  const batches = Array.from({ length: commits }, (_, b) => {
    const enc = encodeRecords(Array.from({ length: per }, (_, k) => ({ type: RecordType.txnBegin, payload: salePayload(b * per + k) })), b * per + 1, 1_700_000_000_000, genesisDigest(ID));
    return enc.stored.map((stored, k) => ({ seq: b * per + k + 1, stored }));
  });
  // The same checkpoints with one LMDB value per commit (its records back to back under its first
  // seq): a layout data.mdb does not have (every reader finds a record by its own seq), measured
  // for what a checkpoint of fewer, larger values would cost (goal 5: what would reach it).
  const blockDb = openEnv(join(dir, 'lmdb-blocks'), { mapSizeBytes: BIG_MAP_BYTES });
  const blocks = batches.map((b) => ({ seq: b[0].seq, stored: Buffer.concat(b.map((e) => e.stored)) }));
  const blockTime = { wallMs: 0, cpuMs: 0 };
  const logTime = { wallMs: 0, cpuMs: 0 };
  const checkpointTime = { wallMs: 0, cpuMs: 0, records: 0 };
  const measure = (into: { wallMs: number; cpuMs: number }, run: () => void): void => {
    const c0 = process.cpuUsage();
    const t0 = nowMs();
    run();
    into.wallMs += nowMs() - t0;
    const c = process.cpuUsage(c0);
    into.cpuMs += (c.user + c.system) / 1000;
  };
  let logged: Array<{ seq: number; stored: Buffer }> = [];
  let loggedBlocks: Array<{ seq: number; stored: Buffer }> = [];
  for (const [k, b] of batches.entries()) {
    if (!log.fits(b.length, b.reduce((n, e) => n + e.stored.length, 0))) {
      const records = logged;
      measure(checkpointTime, () => {
        // As storage/journal.ts checkpointNow commits them: its transactions (checkpointTransactions),
        // each record put with MDB_APPEND.
        for (const txn of checkpointTransactions(records)) db.transactionSync(() => { for (const e of txn.entries) db.putSync(e.seq, e.stored, { append: true }); }, txn.flags);
        log.reset({ baseSeq: records[records.length - 1].seq, baseDigest: genesisDigest(ID) });
      });
      checkpointTime.records += records.length;
      const values = loggedBlocks;
      measure(blockTime, () => {
        blockDb.transactionSync(() => { for (const e of values) blockDb.putSync(e.seq, e.stored, { append: true }); });
        log.reset({ baseSeq: records[records.length - 1].seq, baseDigest: genesisDigest(ID) });
      });
      logged = [];
      loggedBlocks = [];
    }
    measure(logTime, () => log.append(b));
    logged.push(...b);
    loggedBlocks.push(blocks[k]);
  }
  log.close();
  void db.close();
  void blockDb.close();
  const perRecord = (ms: number): number => (checkpointTime.records > 0 ? (ms / checkpointTime.records) * per : 0);
  return {
    logWallMs: logTime.wallMs / commits, logCpuMs: logTime.cpuMs / commits,
    checkpointWallMsPerCommit: perRecord(checkpointTime.wallMs), checkpointCpuMsPerCommit: perRecord(checkpointTime.cpuMs),
    blockCheckpointWallMsPerCommit: perRecord(blockTime.wallMs), blockCheckpointCpuMsPerCommit: perRecord(blockTime.cpuMs),
  };
}

/** encodeCpuUs with the JavaScript encoder alone (no native/journal_seal.c): the addon's baseline. */
function encodeJsCpuUs(n: number): number {
  useNativeSeal(false);
  try {
    return encodeCpuUs(n);
  } finally {
    useNativeSeal(true);
  }
}

/** CPU µs per record of what appendMany does before the commit (encodeRecords: checks, CBOR, CRCs, digests), in batches of 100. */
function encodeCpuUs(n: number): number {
  const per = 100;
  const batches = Array.from({ length: n / per }, (_, b) => Array.from({ length: per }, (_, k) => ({ type: RecordType.txnBegin, payload: salePayload(b * per + k) })));
  const run = (): void => {
    let prev = genesisDigest(ID);
    for (const [b, records] of batches.entries()) prev = encodeRecords(records, b * per + 1, 1_700_000_000_000, prev).digests[per - 1];
  };
  // Best of ENCODE_RUNS after one untimed run: the steady state, as the batched phase's figure is.
  run();
  let best = Infinity;
  for (let r = 0; r < ENCODE_RUNS; r++) {
    const t0 = process.cpuUsage();
    run();
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / n);
  }
  return best;
}
const ENCODE_RUNS = 5;

/** Builds the 1M-record journal once (cached under bench/out, keyed by its marker file). */
async function build1m(dir: string): Promise<unknown> {
  const marker = join(dir, 'complete.json');
  // The cache is valid for this count and this payload shape (its encoded size stands for it).
  const recordBytes = encodeRecord({ type: RecordType.txnBegin, seq: 1, timeMs: 0, prevDigest: genesisDigest(ID), payload: salePayload(1) }).length;
  if (existsSync(marker)) {
    const m = JSON.parse(readFileSync(marker, 'utf8')) as { count: number; recordBytes?: number };
    if (m.count === RECORDS_1M && m.recordBytes === recordBytes) return { cached: true, ...m, maxRssBytes: rss() };
  }
  rmSync(dir, { recursive: true, force: true });
  const t0 = nowMs();
  const journal = await Journal.open({ dir, identity: ID, mapSizeBytes: BIG_MAP_BYTES, capacityBytes: BIG_MAP_BYTES, reserveBytes: 0 });
  const per = 10_000;
  while (journal.lastSeq < RECORDS_1M) {
    const n = Math.min(per, RECORDS_1M - journal.lastSeq);
    const base = journal.lastSeq + 1;
    await journal.appendMany(Array.from({ length: n }, (_, k) => ({ type: RecordType.txnBegin, payload: salePayload(base + k) })));
  }
  const lastDigest = journal.lastDigest.toString('hex');
  await journal.close();
  const buildMs = nowMs() - t0;
  const m = { count: RECORDS_1M, recordBytes, lastDigest, buildMs };
  writeFileSync(marker, JSON.stringify(m));
  return { cached: false, ...m, maxRssBytes: rss() };
}

/** Times Journal.open (verify every checksum and the chain) of the 1M-record journal. */
async function open1m(dir: string): Promise<unknown> {
  const m = JSON.parse(readFileSync(join(dir, 'complete.json'), 'utf8')) as { count: number; lastDigest: string };
  const rssBefore = rss();
  const t0 = nowMs();
  const c0 = process.cpuUsage(); // every thread of the process: this one and the verify workers
  const journal = await Journal.open({ dir, identity: ID, mapSizeBytes: BIG_MAP_BYTES, capacityBytes: BIG_MAP_BYTES, reserveBytes: 0 });
  const openMs = nowMs() - t0;
  const c = process.cpuUsage(c0);
  const ok = journal.state === 'ok' && journal.lastSeq === m.count && journal.lastDigest.toString('hex') === m.lastDigest;
  const verifyMs = journal.openReport.elapsedMs;
  await journal.close();
  return { records: m.count, openMs, cpuMs: (c.user + c.system) / 1000, verifyMs, ok, recordsPerSec: m.count / (openMs / 1000), maxRssBeforeOpenBytes: rssBefore, maxRssBytes: rss() };
}

/**
 * The full verify of the 1M-record journal (issue 14 goal 7) as `pos journal verify`, the recovery
 * menu and export run it: a read-only Journal.open with no boot checkpoint to trust, so every
 * record's frame, CRCs, seq and the whole chain, on `threads` threads. CPU counts every thread.
 */
async function verify1m(dir: string, threads: number): Promise<unknown> {
  const m = JSON.parse(readFileSync(join(dir, 'complete.json'), 'utf8')) as { count: number; lastDigest: string };
  const t0 = nowMs();
  const c0 = process.cpuUsage();
  const journal = await Journal.open({ dir, identity: ID, readOnly: true, mapSizeBytes: BIG_MAP_BYTES, verifyThreadsMax: threads });
  const wallMs = nowMs() - t0;
  const c = process.cpuUsage(c0);
  const r = journal.openReport;
  const ok = journal.state === 'ok' && r.goodCount === m.count && !r.damage && !r.tornTail && journal.lastDigest.toString('hex') === m.lastDigest;
  await journal.close();
  return { threads, wallMs, cpuMs: (c.user + c.system) / 1000, verifyMs: r.elapsedMs, ok, maxRssBytes: rss() };
}

/**
 * Baseline for the full verify: SQLite checking the same 1M records, stored one row each (seq,
 * type, time, the record's bytes) in a database built once from the journal and cached beside it.
 * `PRAGMA integrity_check` (every page and index entry; SQLite keeps no checksum of row data) and a
 * full scan that reads every record into JavaScript, wall and CPU.
 */
function sqliteCheck1m(dir: string, out: string): unknown {
  const m = JSON.parse(readFileSync(join(dir, 'complete.json'), 'utf8')) as { count: number; lastDigest: string };
  const marker = join(out, 'complete.json');
  const file = join(out, 'records.db');
  const cached = existsSync(marker) && readFileSync(marker, 'utf8') === m.lastDigest;
  if (!cached) {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const sqlite = openSqlite(file);
    const insert = sqlite.prepare('INSERT INTO journal (seq, type, time_ms, record) VALUES (?, ?, ?, ?)');
    const db = openEnv(dir, { readOnly: true, mapSizeBytes: BIG_MAP_BYTES });
    sqlite.transaction(() => { for (const { key, stored } of storedViews(db, 0)) insert.run(key, stored[5], 0, Buffer.from(stored)); })();
    void db.close();
    sqlite.close();
    writeFileSync(marker, m.lastDigest);
  }
  type Statement = { pluck(): { get(): unknown }; raw(): { iterate(): Iterable<unknown[]> } };
  const sqlite = openSqlite(file) as unknown as { prepare(s: string): Statement; close(): void };
  const timed = (run: () => unknown): { wallMs: number; cpuMs: number; result: unknown } => {
    const t0 = nowMs();
    const c0 = process.cpuUsage();
    const result = run();
    const c = process.cpuUsage(c0);
    return { wallMs: nowMs() - t0, cpuMs: (c.user + c.system) / 1000, result };
  };
  const integrity = timed(() => sqlite.prepare('PRAGMA integrity_check').pluck().get());
  const scan = timed(() => {
    let rows = 0;
    for (const row of sqlite.prepare('SELECT seq, record FROM journal ORDER BY seq').raw().iterate()) rows += (row[1] as Buffer).length > 0 ? 1 : 0;
    return rows;
  });
  sqlite.close();
  return { cached, integrity, scan, maxRssBytes: rss() };
}

/**
 * The walk of verify-on-open on one thread, twice each way, alternating: lmdb-js's getRange, which
 * copies every value out of its read buffer (session 5's walk, the JavaScript step), against
 * storedViews (no copy) with the JavaScript step and with the native step (native/journal_seal.c
 * `step`, issue 14 goal 7). Wall and CPU ms for the 1M-record journal.
 */
function walk1m(dir: string): unknown {
  const db = openEnv(dir, { readOnly: true, mapSizeBytes: BIG_MAP_BYTES });
  const lastKey = RECORDS_1M;
  function* copies(): Iterable<StoredEntry> {
    for (const { key, value } of db.getRange({ start: 0 })) yield { key, stored: value };
  }
  const once = (views: boolean, native: boolean): { wallMs: number; cpuMs: number; ok: boolean } => {
    if (useNativeVerify(native) !== native) throw new Error('the native verify step is not built (npm install runs node-gyp)');
    const t0 = nowMs();
    const c0 = process.cpuUsage();
    const r = verifyEntries(views ? storedViews(db, 0) : copies(), lastKey, { identity: ID });
    const c = process.cpuUsage(c0);
    return { wallMs: nowMs() - t0, cpuMs: (c.user + c.system) / 1000, ok: r.goodCount === RECORDS_1M && !r.damage };
  };
  const copy = [once(false, false)];
  const viewJs = [once(true, false)];
  const view = [once(true, true), once(true, true)];
  viewJs.push(once(true, false));
  copy.push(once(false, false));
  useNativeVerify(true);
  void db.close();
  return { copy, viewJs, view, maxRssBytes: rss() };
}

/**
 * Export of the 1M-record journal as a backup sealed under a device key (as the terminal's own
 * backups are), streamed to `work/backup-1m.posbak`; its own process, so its peak RSS is its own.
 */
async function export1m(dir: string, work: string): Promise<unknown> {
  mkdirSync(work, { recursive: true });
  const source = await Journal.open({ dir, identity: ID, readOnly: true, mapSizeBytes: BIG_MAP_BYTES });
  const anonBefore = await sampleAnonPeak();
  const anonBeforeBytes = await anonBefore.stop();
  const anon = await sampleAnonPeak();
  const t0 = nowMs();
  exportToFile(source, join(work, 'backup-1m.posbak'), { deviceKey: BENCH_DEVICE_KEY });
  const exportMs = nowMs() - t0;
  const anonPeakBytes = await anon.stop();
  await source.close();
  return { exportMs, fileBytes: statSync(join(work, 'backup-1m.posbak')).size, anonBeforeBytes, anonPeakBytes, maxRssBytes: rss() };
}

/**
 * Import of that backup: trailer digest, decryption, every record verified, written in batches,
 * and the restored journal verified on open. Baseline from the same run: SQLite loading the same
 * 1M records (same size) in one transaction, synchronous=FULL.
 */
async function import1m(work: string): Promise<unknown> {
  const file = join(work, 'backup-1m.posbak');
  const anonBefore = await sampleAnonPeak();
  const anonBeforeBytes = await anonBefore.stop();
  const anon = await sampleAnonPeak();
  const t1 = nowMs();
  const imported = await importFromFile(file, join(work, 'restored'), { deviceKey: BENCH_DEVICE_KEY });
  const importMs = nowMs() - t1;
  const anonPeakBytes = await anon.stop();
  const maxRssBytes = rss();
  rmSync(join(work, 'restored'), { recursive: true, force: true });
  rmSync(file, { force: true });

  const sqlite = openSqlite(join(work, 'sqlite-1m.db'));
  const insert = sqlite.prepare('INSERT INTO journal (seq, type, time_ms, record) VALUES (?, ?, ?, ?)');
  const record = encodeRecord({ type: RecordType.txnBegin, seq: 2, timeMs: Date.now(), prevDigest: genesisDigest(ID), payload: salePayload(2) });
  const t2 = nowMs();
  sqlite.transaction(() => { for (let k = 1; k <= RECORDS_1M; k++) insert.run(k, RecordType.txnBegin, 0, record); })();
  const sqliteMs = nowMs() - t2;
  sqlite.close();
  return { records: imported.manifest.count, importMs, sqliteMs, anonBeforeBytes, anonPeakBytes, maxRssBytes };
}

const BENCH_DEVICE_KEY = (): Buffer => Buffer.alloc(32, 7);

/** Workload traced by strace in the barriers phase. */
async function barriers(work: string, n: number): Promise<unknown> {
  mkdirSync(work, { recursive: true });
  const say = (mark: string): void => { writeSync(1, `ACK ${mark}\n`); };
  const journal = await Journal.open({ dir: join(work, 'journal'), identity: ID });
  let i = 0;
  say('single-start');
  for (let k = 0; k < n; k++) await journal.append('txnBegin', salePayload(i++));
  say('single-end');
  say('group-start');
  for (let k = 0; k < n; k++) await Promise.all(Array.from({ length: 10 }, () => journal.append('txnBegin', salePayload(i++))));
  say('group-end');
  say('many-start');
  for (let k = 0; k < n; k++) await journal.appendMany(Array.from({ length: 100 }, () => ({ type: RecordType.txnBegin, payload: salePayload(i++) })));
  say('many-end');
  await journal.close();
  const record = encodeRecord({ type: RecordType.txnBegin, seq: 2, timeMs: Date.now(), prevDigest: genesisDigest(ID), payload: salePayload(2) });
  const fd = openSync(join(work, 'floor.log'), 'a');
  say('floor-start');
  for (let k = 0; k < n; k++) { writeSync(fd, record); fdatasyncSync(fd); }
  say('floor-end');
  closeSync(fd);
  const sqlite = openSqlite(join(work, 'sqlite.db'));
  const insert = sqlite.prepare('INSERT INTO journal (seq, type, time_ms, record) VALUES (?, ?, ?, ?)');
  say('sqlite-start');
  for (let k = 0; k < n; k++) insert.run(k + 1, RecordType.txnBegin, Date.now(), record);
  say('sqlite-end');
  sqlite.close();
  return { n };
}

async function main(): Promise<void> {
  const [phase, work, arg] = process.argv.slice(2);
  let result: unknown;
  switch (phase) {
    case 'latency': result = await latency(work, Number(arg ?? 60), 5); break;
    case 'batch': result = await batch(work, Number(arg ?? 100)); break;
    case 'build1m': result = await build1m(work); break;
    case 'open1m': result = await open1m(work); break;
    case 'walk1m': result = walk1m(work); break;
    case 'verify1m': result = await verify1m(work, Number(arg ?? 2)); break;
    case 'sqlite1m': result = sqliteCheck1m(work, String(arg)); break;
    case 'export1m': result = await export1m(work, String(arg)); break;
    case 'import1m': result = await import1m(String(arg)); break;
    case 'barriers': result = await barriers(work, Number(arg ?? 30)); break;
    default: throw new Error(`unknown phase ${phase}`);
  }
  writeSync(1, `RESULT ${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().catch((e) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
}

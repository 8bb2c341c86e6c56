/**
 * The power-cut simulator: trace one run of a workload, then rebuild and check as many crash
 * states of it as wanted. See index.ts for how to use it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runUnderStrace, readTraceFile, type RunUnderStraceResult, type TraceEvent, type AckEvent } from './strace-trace';
import { DiskModel, writeFilesUnder, crashModeOf, mulberry32, type CrashStateOptions, type CrashMode } from '../../sim/disk-model';
import { CheckerProcess, type CheckerSpec, type CheckVerdict } from './checker-host';
import { nodeCommandFor } from './compile';

export interface WorkloadSpec {
  /** node script; a .ts script is transpiled to JavaScript first (compile.ts) */
  script: string;
  /** `{dir}` in an argument is replaced by the data directory (also in env POWERCUT_DIR) */
  args?: string[];
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** default: the current directory (the repository root under mocha) */
  cwd?: string;
  /** default 60 s */
  timeoutMs?: number;
}

export interface RecordOptions {
  workload: WorkloadSpec;
  /** fills the data directory before the traced run; what it leaves counts as durable */
  prepare?: (dataDir: string) => void | Promise<void>;
  /** acknowledgement lines on the workload's fd 1; default /^ACK (\S+)$/ (group 1 = id) */
  ackPattern?: RegExp;
  ackFd?: number;
  /** files (relative to the data dir) left out of crash states; default: lock.mdb and *-lock,
   * which LMDB recreates after a reboot */
  omit?: (relativePath: string) => boolean;
  /** default: a fresh directory under os.tmpdir() */
  workDir?: string;
  /** more strace options (see RunUnderStraceOptions.extraStraceArgs) */
  extraStraceArgs?: string[];
  /** reject unless the workload exits 0; default true */
  requireSuccess?: boolean;
}

export interface Ack { id: string; index: number }

export interface CrashPoint extends CrashStateOptions {
  index: number;
}

export interface RunStats {
  events: number;
  writes: number;
  bytesWritten: number;
  fdatasync: number;
  fsync: number;
  /** writes through O_DSYNC/O_SYNC descriptors */
  syncWrites: number;
  /** fdatasync + fsync + sync writes */
  barriers: number;
  acks: number;
}

export const defaultOmit = (rel: string): boolean => /(^|\/)lock\.mdb$|-lock$/.test(rel);

export class PowerCutRun {
  readonly acks: Ack[];
  private readonly model: DiskModel;
  private states = 0;

  constructor(
    readonly workDir: string,
    readonly dataDir: string,
    readonly traceFile: string,
    readonly events: readonly TraceEvent[],
    readonly result: RunUnderStraceResult,
    initialFiles: ReadonlyMap<string, Buffer>,
    private readonly omit: (rel: string) => boolean,
  ) {
    const under = dataDir + path.sep;
    this.model = new DiskModel(events, { initialFiles, include: (p) => p.startsWith(under) });
    this.acks = events.filter((e): e is AckEvent => e.kind === 'ack').map((e) => ({ id: e.id, index: e.index }));
  }

  /** Rebuilt files at a crash point, by path relative to the data directory (omitted files left out). */
  filesAt(crashIndex: number, options: CrashStateOptions = {}): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const [p, data] of this.model.filesAt(crashIndex, options)) {
      const rel = path.relative(this.dataDir, p);
      if (!this.omit(rel)) out.set(rel, data);
    }
    return out;
  }

  /**
   * Where crash states are written: a folder under /dev/shm (tmpfs) when there is one, as the day
   * simulation keeps its journal (sim/simulate.ts), else the run's work folder. A state is the disk
   * model's rebuild, so the file system under it decides nothing the checks read; on a disk, the
   * checker's three opens per state (each syncing LMDB and the log) waited on the disk's flushes,
   * most of the powercut tests' time on a busy machine. POWERCUT_STATES_DIR=DIR sets the parent.
   */
  private statesRoot: string | undefined;

  private statesDir(): string {
    if (this.statesRoot === undefined) {
      const parent = process.env.POWERCUT_STATES_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : undefined);
      this.statesRoot = parent ? fs.mkdtempSync(path.join(parent, 'powercut-states-')) : path.join(this.workDir, 'states');
    }
    return this.statesRoot;
  }

  /** Writes the crash state into a new directory and returns its path. */
  stateAt(crashIndex: number, options: CrashStateOptions = {}): string {
    const mode = crashModeOf(options);
    const dir = path.join(this.statesDir(), `${String(this.states++).padStart(4, '0')}-at${crashIndex}-${mode}${mode === 'torn' ? `-s${options.seed ?? 1}` : ''}`);
    writeFilesUnder(this.model.filesAt(crashIndex, options), this.dataDir, dir, this.omit);
    return dir;
  }

  /** Acknowledgements whose write completed before the crash point. */
  ackedBefore(crashIndex: number): Ack[] {
    return this.acks.filter((a) => a.index < crashIndex);
  }

  // --- crash points ------------------------------------------------------------------------

  /** Around every flush barrier and O_DSYNC write on a data file: when it was entered, just
   * before it returned, just after. */
  barrierPoints(): number[] {
    const under = this.dataDir + path.sep;
    const pts: number[] = [];
    for (const e of this.events) {
      const isBarrier = (e.kind === 'barrier' && (e.path === null || e.path.startsWith(under)))
        || (e.kind === 'write' && e.sync && e.path.startsWith(under));
      if (isBarrier) pts.push(e.startedAt, e.index, e.index + 1);
    }
    return uniqueSorted(pts);
  }

  /** Just before and just after every acknowledgement. */
  ackPoints(): number[] {
    return uniqueSorted(this.acks.flatMap((a) => [a.index, a.index + 1]));
  }

  /** `count` points drawn uniformly from 0..events.length (seeded). */
  randomPoints(count: number, seed: number): number[] {
    const rng = mulberry32(seed);
    return Array.from({ length: count }, () => Math.floor(rng() * (this.events.length + 1)));
  }

  /** Barrier and ack points, plus the start and the end. */
  interestingPoints(): number[] {
    return uniqueSorted([0, ...this.barrierPoints(), ...this.ackPoints(), this.events.length]);
  }

  stats(): RunStats {
    const under = this.dataDir + path.sep;
    const s: RunStats = { events: this.events.length, writes: 0, bytesWritten: 0, fdatasync: 0, fsync: 0, syncWrites: 0, barriers: 0, acks: this.acks.length };
    for (const e of this.events) {
      if (e.kind === 'write' && e.path.startsWith(under)) {
        s.writes++;
        s.bytesWritten += e.data.length;
        if (e.sync) s.syncWrites++;
      } else if (e.kind === 'barrier' && (e.path === null || e.path.startsWith(under))) {
        if (e.call === 'fdatasync') s.fdatasync++; else s.fsync++;
      }
    }
    s.barriers = s.fdatasync + s.fsync + s.syncWrites;
    return s;
  }

  /** Self-check of the trace: replaying every write ('keep' at the end) must give exactly the
   * files the run left on disk (omitted files excepted). Returns the differences (empty when the replay is exact). */
  replayMismatches(): string[] {
    const problems: string[] = [];
    const replayed = this.model.filesAt(this.events.length, { mode: 'keep' });
    const onDisk = snapshotFiles(this.dataDir);
    for (const [p, data] of onDisk) {
      const rel = path.relative(this.dataDir, p);
      if (this.omit(rel)) continue; // lock.mdb is written through mmap, invisible to strace
      const r = replayed.get(p);
      if (!r) problems.push(`${rel}: on disk, not in the trace`);
      else if (!r.equals(data)) {
        let at = 0;
        while (at < Math.min(r.length, data.length) && r[at] === data[at]) at++;
        problems.push(`${rel}: replay differs (sizes ${r.length} vs ${data.length} on disk, first difference at byte ${at})`);
      }
    }
    for (const p of replayed.keys()) if (!onDisk.has(p) && !this.omit(path.relative(this.dataDir, p))) problems.push(`${path.relative(this.dataDir, p)}: in the trace, not on disk`);
    return problems;
  }

  /** Removes the work directory (trace, data, states). */
  dispose(): void {
    if (this.statesRoot !== undefined) fs.rmSync(this.statesRoot, { recursive: true, force: true });
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

function uniqueSorted(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

function snapshotFiles(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string): void => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile()) out.set(p, fs.readFileSync(p));
    }
  };
  walk(root);
  return out;
}

/** Runs the workload once under strace and returns the run, ready to rebuild crash states. */
export async function recordRun(options: RecordOptions): Promise<PowerCutRun> {
  const workDir = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'powercut-'));
  fs.mkdirSync(workDir, { recursive: true });
  const dataDir = path.join(fs.realpathSync(workDir), 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  if (options.prepare) await options.prepare(dataDir);
  const initialFiles = snapshotFiles(dataDir);
  const traceFile = path.join(workDir, 'trace.txt');
  const w = options.workload;
  const script = path.resolve(w.cwd ?? process.cwd(), w.script);
  const args = (w.args ?? []).map((a) => a.split('{dir}').join(dataDir));
  const result = await runUnderStrace({
    command: process.execPath,
    args: [...nodeCommandFor(script, w.nodeArgs), ...args],
    traceFile,
    cwd: w.cwd ?? process.cwd(),
    env: { ...process.env, ...w.env, POWERCUT_DIR: dataDir },
    timeoutMs: w.timeoutMs ?? 60_000,
    extraStraceArgs: options.extraStraceArgs,
  });
  if ((options.requireSuccess ?? true) && result.exitCode !== 0) {
    throw new Error(`workload ${w.script} failed under strace (exit ${result.exitCode}, signal ${result.signal}${result.timedOut ? ', timed out' : ''}):\n${result.stderr.slice(-3000)}`);
  }
  const events = readTraceFile(traceFile, { ackFd: options.ackFd, ackPattern: options.ackPattern, cwd: w.cwd ?? process.cwd() });
  return new PowerCutRun(workDir, dataDir, traceFile, events, result, initialFiles, options.omit ?? defaultOmit);
}

export interface StateResult {
  point: CrashPoint;
  mode: CrashMode;
  acked: number;
  verdict: CheckVerdict;
  /** time to build and check this state */
  elapsedMs: number;
}

export interface CheckSummary {
  checked: number;
  failed: StateResult[];
  passed: number;
  /** states whose checker process died */
  crashed: number;
  results: StateResult[];
  elapsedMs: number;
}

export interface CheckStatesOptions {
  checker: CheckerSpec;
  /** extra fields for every request (e.g. the workload's value size) */
  request?: Record<string, unknown>;
  /** checker processes run in parallel; default 2 */
  parallel?: number;
  /** keep state directories after checking (default: removed once checked) */
  keepStates?: boolean;
}

/** Builds each crash state, has a checker process verify it, and summarises. */
export async function checkCrashStates(run: PowerCutRun, points: readonly CrashPoint[], options: CheckStatesOptions): Promise<CheckSummary> {
  const started = Date.now();
  const parallel = Math.max(1, options.parallel ?? 2);
  const checkers = Array.from({ length: parallel }, () => new CheckerProcess(options.checker));
  const results: StateResult[] = new Array(points.length);
  let next = 0;
  try {
    await Promise.all(checkers.map(async (checker) => {
      while (next < points.length) {
        const i = next++;
        const point = points[i];
        const t0 = Date.now();
        const dir = run.stateAt(point.index, point);
        const acked = run.ackedBefore(point.index).map((a) => a.id);
        const verdict = await checker.check({ ...options.request, dir, acked });
        results[i] = { point, mode: crashModeOf(point), acked: acked.length, verdict, elapsedMs: Date.now() - t0 };
        if (!options.keepStates) fs.rmSync(dir, { recursive: true, force: true });
      }
    }));
  } finally {
    for (const c of checkers) c.close();
  }
  const failed = results.filter((r) => !r.verdict.ok);
  return {
    checked: results.length,
    failed,
    passed: results.length - failed.length,
    crashed: results.filter((r) => r.verdict.crashed !== undefined).length,
    results,
    elapsedMs: Date.now() - started,
  };
}

/** A mix of points: every interesting point in 'drop' mode, plus each of them and `random`
 * random points in 'torn' mode with different seeds. */
export function mixedCrashPoints(run: PowerCutRun, options: { random?: number; seed?: number; maxInteresting?: number } = {}): CrashPoint[] {
  const seed = options.seed ?? 1;
  let interesting = run.interestingPoints();
  if (options.maxInteresting !== undefined && interesting.length > options.maxInteresting) {
    const rng = mulberry32(seed ^ 0x9e3779b9);
    interesting = interesting.filter(() => rng() < options.maxInteresting! / interesting.length);
  }
  const pts: CrashPoint[] = [];
  for (const index of interesting) {
    pts.push({ index, mode: 'drop' });
    pts.push({ index, mode: 'torn', seed: seed + index });
  }
  run.randomPoints(options.random ?? 0, seed).forEach((index, k) => pts.push({ index, mode: 'torn', seed: seed * 7919 + k }));
  return pts;
}

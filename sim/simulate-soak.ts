/**
 * The soak run (`npm run soak`, not in CI): many simulated days split into seeds of a few days
 * each, run by worker processes (one per CPU by default), with the figures summed at the end:
 * days, operations, faults injected per kind, invariant checks, wall time. The first failure is
 * printed with its seed; every seed can be replayed alone with `pos simulate --seed N --days D`.
 *
 *   npx ts-node --transpile-only sim/simulate-soak.ts [--days 10000] [--days-per-seed 20] [--workers 2] [--first-seed 100000]
 */
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { simulateDays, formatFailure, SimulationReport, FaultRates } from './simulate';

export const SOAK_DAYS_DEFAULT = 10_000;
export const SOAK_DAYS_PER_SEED_DEFAULT = 20;
/** Soak seeds start far from the CI seeds so the two sets never overlap. */
export const SOAK_FIRST_SEED_DEFAULT = 100_000;
export const WORKERS_MAX = 64;

export interface SoakOptions {
  readonly days: number;
  readonly daysPerSeed: number;
  readonly workers: number;
  readonly firstSeed: number;
  readonly rates?: Partial<FaultRates>;
  readonly progress?: (line: string) => void;
}

export interface SoakTotals {
  seeds: number;
  days: number;
  steps: number;
  boots: number;
  invariantChecks: number;
  batchesClosed: number;
  hostApprovedSales: number;
  operations: Record<string, number>;
  faults: Record<string, number>;
  /** What crossed the device wires (frames garbled/rejected, print jobs, keypad bounces...). */
  wire: Record<string, number>;
  failures: Array<{ seed: number; text: string }>;
  wallMs: number;
}

interface Job { readonly seed: number; readonly days: number }
type WorkerMessage = { readonly seed: number; readonly report: SimulationReport };

function add(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function jobsFor(o: SoakOptions): Job[] {
  const jobs: Job[] = [];
  for (let left = o.days, seed = o.firstSeed; left > 0; seed++) {
    const days = Math.min(o.daysPerSeed, left);
    jobs.push({ seed, days });
    left -= days;
  }
  return jobs;
}

/** Runs the soak across worker processes and sums their reports. */
export async function soak(o: SoakOptions): Promise<SoakTotals> {
  const started = Date.now();
  const totals: SoakTotals = { seeds: 0, days: 0, steps: 0, boots: 0, invariantChecks: 0, batchesClosed: 0, hostApprovedSales: 0, operations: {}, faults: {}, wire: {}, failures: [], wallMs: 0 };
  const jobs = jobsFor(o);
  const workers = Math.max(1, Math.min(o.workers, WORKERS_MAX, jobs.length));
  const perWorker: Job[][] = Array.from({ length: workers }, () => []);
  jobs.forEach((j, i) => perWorker[i % workers].push(j));
  const onReport = (m: WorkerMessage): void => {
    const r = m.report;
    totals.seeds++; totals.days += r.daysCompleted; totals.steps += r.steps; totals.boots += r.boots;
    totals.invariantChecks += r.invariantChecks; totals.batchesClosed += r.batchesClosed; totals.hostApprovedSales += r.hostApprovedSales;
    add(totals.operations, r.operations); add(totals.faults, r.faults); add(totals.wire, r.wire ?? {});
    if (r.failure) totals.failures.push({ seed: r.seed, text: formatFailure(r.failure) });
    o.progress?.(`seed ${r.seed}: ${r.daysCompleted}/${r.days} days ${r.failure ? `FAILED ${r.failure.invariant}` : 'ok'} (${totals.days} days so far, ${Math.round((Date.now() - started) / 1000)} s)`);
  };
  await Promise.all(perWorker.map((list) => runWorker(list, o.rates, onReport)));
  totals.wallMs = Date.now() - started;
  return totals;
}

function runWorker(jobs: readonly Job[], rates: Partial<FaultRates> | undefined, onReport: (m: WorkerMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--worker'], { execArgv: __filename.endsWith('.ts') ? ['-r', 'ts-node/register/transpile-only'] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m: WorkerMessage) => onReport(m));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`soak worker exited with ${code}`))));
    child.send({ jobs, rates });
  });
}

/** In a worker: runs its seeds one after another and reports each. */
function workerMain(): void {
  process.once('message', async (m: { jobs: Job[]; rates?: Partial<FaultRates> }) => {
    for (const j of m.jobs) {
      const report = await simulateDays({ seed: j.seed, days: j.days, rates: m.rates });
      await new Promise<void>((resolve) => process.send?.({ seed: j.seed, report } satisfies WorkerMessage, () => resolve()));
    }
    process.disconnect();
  });
}

/** The figures as the README's Simulation section shows them. */
export function formatTotals(t: SoakTotals): string[] {
  const kv = (r: Record<string, number>): string => Object.entries(r).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ');
  const faultCount = Object.values(t.faults).reduce((n, v) => n + v, 0);
  return [
    `days ${t.days} (${t.seeds} seeds), steps ${t.steps}, boots ${t.boots}, batches closed ${t.batchesClosed}, approved sales at the host ${t.hostApprovedSales}`,
    `operations: ${kv(t.operations)}`,
    `faults injected (${faultCount}): ${kv(t.faults)}`,
    `on the device wires: ${kv(t.wire)}`,
    `invariant checks: ${t.invariantChecks}`,
    `wall time: ${(t.wallMs / 1000).toFixed(0)} s`,
    `failures: ${t.failures.length}`,
    ...t.failures.slice(0, 5).map((f) => f.text),
  ];
}

function flag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
}

async function main(argv: readonly string[]): Promise<number> {
  const t = await soak({
    days: flag(argv, 'days', SOAK_DAYS_DEFAULT), daysPerSeed: flag(argv, 'days-per-seed', SOAK_DAYS_PER_SEED_DEFAULT),
    workers: flag(argv, 'workers', cpus().length), firstSeed: flag(argv, 'first-seed', SOAK_FIRST_SEED_DEFAULT),
    progress: argv.includes('--quiet') ? undefined : (l) => process.stdout.write(`${l}\n`),
  });
  for (const l of formatTotals(t)) process.stdout.write(`${l}\n`);
  return t.failures.length === 0 ? 0 : 1;
}

if (require.main === module) {
  if (process.argv.includes('--worker')) workerMain();
  else main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => { console.error(e); process.exitCode = 1; });
}

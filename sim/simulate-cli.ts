/**
 * `pos simulate`: the seeded day simulation from the command line.
 *
 *   pos simulate --seed 7 --days 20 [--rates powerCut=0.1,hostDelay=0] [--no-faults] [--stand-in-devices] [--verbose]
 *   pos simulate soak [--days 10000] [--days-per-seed 20] [--workers 2] [--first-seed 100000] [--rates ...] [--no-faults] [--verbose]
 *
 * Exit 0: every invariant held; 1: a failure (printed with its seed, step, invariant and last
 * events; the same command replays it); 64: bad arguments.
 */
import { cpus } from 'node:os';
import { Command, CommandContext, flagString } from '../boot/cli';
import { DEFAULT_RATES, FaultRates, NO_FAULTS, formatFailure, simulateDays } from './simulate';
import { SOAK_DAYS_DEFAULT, SOAK_DAYS_PER_SEED_DEFAULT, SOAK_FIRST_SEED_DEFAULT, formatTotals, soak } from './simulate-soak';

/** Days one `pos simulate` may ask for in one process (the soak splits larger runs). */
export const DAYS_MAX = 100_000;

function intFlag(ctx: CommandContext, name: string, fallback: number): number | undefined {
  const v = flagString(ctx, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) { ctx.err(`pos simulate: --${name} needs a whole number, got "${v}"`); return undefined; }
  return n;
}

/** Parses `name=p,name=p` against the known rates. */
export function parseRates(text: string): Partial<FaultRates> {
  const out: Record<string, number> = {};
  for (const part of text.split(',').filter((p) => p.trim() !== '')) {
    const [name, value] = part.split('=').map((s) => s.trim());
    if (!(name in DEFAULT_RATES)) throw new Error(`unknown rate "${name}" (one of ${Object.keys(DEFAULT_RATES).join(', ')})`);
    const p = Number(value);
    if (!(p >= 0 && p <= 1)) throw new Error(`rate ${name} must be 0..1, got "${value}"`);
    out[name] = p;
  }
  return out as Partial<FaultRates>;
}

function ratesOf(ctx: CommandContext): Partial<FaultRates> | undefined {
  const text = flagString(ctx, 'rates');
  try {
    return { ...(ctx.flags.has('no-faults') ? NO_FAULTS : {}), ...(text ? parseRates(text) : {}) };
  } catch (e) {
    ctx.err(`pos simulate: ${(e as Error).message}`);
    return undefined;
  }
}

async function runOne(ctx: CommandContext): Promise<number> {
  const seed = intFlag(ctx, 'seed', 1), days = intFlag(ctx, 'days', 1), rates = ratesOf(ctx);
  if (seed === undefined || days === undefined || rates === undefined) return 64;
  if (days < 1 || days > DAYS_MAX) { ctx.err(`pos simulate: --days must be 1..${DAYS_MAX}`); return 64; }
  const started = Date.now();
  const devices = ctx.flags.has('stand-in-devices') ? 'stand-in' : 'wire';
  const r = await simulateDays({ seed, days, rates, devices, onEvent: ctx.flags.has('verbose') ? ctx.out : undefined });
  ctx.out(`seed ${r.seed}: ${r.daysCompleted}/${r.days} days, ${r.steps} steps, ${r.boots} boots, ${r.batchesClosed} batches closed, ${r.invariantChecks} invariant checks, ${Date.now() - started} ms`);
  ctx.out(`operations: ${JSON.stringify(r.operations)}`);
  ctx.out(`faults: ${JSON.stringify(r.faults)}`);
  ctx.out(`devices: ${r.devices}${r.devices === 'wire' ? ` ${JSON.stringify(r.wire)}` : ''}`);
  ctx.out(`digest: ${r.digest}`);
  if (!r.failure) return 0;
  for (const line of formatFailure(r.failure).split('\n')) ctx.err(line);
  return 1;
}

async function runSoak(ctx: CommandContext): Promise<number> {
  const days = intFlag(ctx, 'days', SOAK_DAYS_DEFAULT), perSeed = intFlag(ctx, 'days-per-seed', SOAK_DAYS_PER_SEED_DEFAULT);
  const workers = intFlag(ctx, 'workers', cpus().length), firstSeed = intFlag(ctx, 'first-seed', SOAK_FIRST_SEED_DEFAULT), rates = ratesOf(ctx);
  if (days === undefined || perSeed === undefined || workers === undefined || firstSeed === undefined || rates === undefined) return 64;
  if (days < 1 || perSeed < 1 || workers < 1) { ctx.err('pos simulate soak: --days, --days-per-seed and --workers must be at least 1'); return 64; }
  const t = await soak({ days, daysPerSeed: perSeed, workers, firstSeed, rates, progress: ctx.flags.has('verbose') ? ctx.out : undefined });
  for (const line of formatTotals(t)) ctx.out(line);
  return t.failures.length === 0 ? 0 : 1;
}

export const simulateCommands: readonly Command[] = [
  {
    name: 'simulate',
    usage: 'simulate [--seed N] [--days N] [--rates k=p,...] [--no-faults] [--stand-in-devices] [--verbose]',
    summary: 'seeded trading days with faults, invariants after every step (replays from the seed)',
    run: runOne,
  },
  {
    name: 'simulate soak',
    usage: 'simulate soak [--days N] [--days-per-seed N] [--workers N] [--first-seed N] [--rates k=p,...] [--no-faults] [--verbose]',
    summary: 'many simulated days across worker processes, with the totals (days, operations, faults, checks)',
    run: runSoak,
  },
];

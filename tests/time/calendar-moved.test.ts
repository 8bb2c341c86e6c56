/**
 * The suite's clock-sensitive part, run again with the calendar moved on: under libfaketime the
 * whole process tree (mocha, the terminal children of the e2e tests, the acquirer simulator) sees
 * the same shifted wall clock, and the process's own time zone is made to disagree with the
 * terminal's UTC+8. Every clock in the terminal and in the simulators comes from one injected
 * source, and every date a person sees is in the terminal's zone, so these tests must pass
 * whatever today's date is (they once broke when the real date passed a pinned one).
 *
 * Moments chosen for what they break: the last day of February in a common year, late in the
 * evening in UTC, which is already 1 March in China (the process's calendar day and the
 * terminal's differ); and New Year's Eve 2038 in China, minutes before the year changes and past
 * the 32-bit time_t limit of January 2038.
 *
 * Needs libfaketime (Debian package libfaketime; .ci/run installs it). The offset form
 * (FAKETIME="+Ns") is used, not a start-at date, so a child process started later sees the same
 * clock as its parent; the monotonic clock is left alone so timers behave.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeArgsFor } from '../../common/spawn';

const ROOT = join(__dirname, '..', '..');
/** Each run's limit: the files below take about a minute on a quiet 2-core machine. */
const RUN_MS_MAX = 8 * 60_000;

/** Test files whose outcome depends on dates: refunds' original dates, expiry, batch days, receipts. */
export const CLOCK_SENSITIVE_FILES = [
  'tests/runtime/security-day.test.ts',
  'tests/runtime/engine.test.ts',
  'tests/runtime/core-units.test.ts',
  'tests/host/simulator.test.ts',
  'tests/time/zone.test.ts',
  'tests/e2e/trading-day.test.ts',
];

const MOMENTS = [
  { name: '2031-02-28 23:30 UTC (2031-03-01 07:30 in UTC+8), process zone UTC', atMs: Date.UTC(2031, 1, 28, 23, 30), tz: 'UTC' },
  { name: '2038-12-31 23:50 UTC+8, process zone America/Los_Angeles', atMs: Date.UTC(2038, 11, 31, 15, 50), tz: 'America/Los_Angeles' },
];

function libfaketime(): string | undefined {
  const base = '/usr/lib';
  if (!existsSync(base)) return undefined;
  for (const arch of readdirSync(base)) {
    const p = join(base, arch, 'faketime', 'libfaketimeMT.so.1');
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Mocha's arguments for `files`: their compiled JavaScript in dist/ when dist/ is as new as every
 * source (common/spawn.ts nodeArgsFor; `npm test` runs tsc first), else the TypeScript under
 * ts-node (.mocharc.json). The same tests either way; under ts-node each run compiled the files and
 * everything they import again (about 7 s of a core per run here, two runs at once).
 */
export function mochaArgsFor(files: readonly string[]): string[] {
  const compiled = files.map((f) => nodeArgsFor(join(ROOT, f.replace(/\.ts$/, ''))));
  if (!compiled.every((args) => args.length === 1 && args[0].endsWith('.js'))) return [...files];
  // .mocharc.json's settings but its ts-node require (nothing left to compile).
  const rc = JSON.parse(readFileSync(join(ROOT, '.mocharc.json'), 'utf8')) as { timeout?: number; exit?: boolean };
  return ['--no-config', ...(rc.timeout !== undefined ? ['--timeout', String(rc.timeout)] : []), ...(rc.exit ? ['--exit'] : []), ...compiled.map((args) => args[0])];
}

function runMocha(files: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [require.resolve('mocha/bin/mocha.js'), '--reporter', 'dot', ...mochaArgsFor(files)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_MS_MAX);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

describe('the calendar moved on: clock-sensitive tests under libfaketime', function () {
  this.timeout(RUN_MS_MAX + 30_000);
  let lib: string | undefined;

  before(function () {
    lib = libfaketime();
    if (lib) return;
    const message = 'libfaketime is not installed: the moved-calendar runs cannot happen (apt-get install libfaketime); .ci/run installs it';
    if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
    process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
    this.skip();
  });

  // Both moments run at once, each its own process tree with its own clock: much of a run is its
  // terminal process waiting (typed keys, the host), which the other run's work fills.
  const runs = new Map<string, Promise<{ code: number | null; out: string }>>();
  const runAt = (m: (typeof MOMENTS)[number]): Promise<{ code: number | null; out: string }> => {
    const offsetS = Math.round((m.atMs - Date.now()) / 1000);
    const env: NodeJS.ProcessEnv = {
      ...process.env, TZ: m.tz, LD_PRELOAD: lib, FAKETIME: `${offsetS >= 0 ? '+' : ''}${offsetS}s`, FAKETIME_DONT_FAKE_MONOTONIC: '1',
      POS_CALENDAR_MOVED: '1',
    };
    return runMocha(CLOCK_SENSITIVE_FILES, env);
  };
  before(() => { for (const m of MOMENTS) runs.set(m.name, runAt(m)); });

  for (const m of MOMENTS) {
    it(`passes at ${m.name}`, async () => {
      const r = await (runs.get(m.name) ?? runAt(m));
      const year = /POS_FAKE_YEAR=(\d+)/.exec(r.out);
      assert.equal(r.code, 0, `failed with the clock at ${m.name}:\n${r.out.slice(-6000)}`);
      assert.ok(year && Number(year[1]) === new Date(m.atMs).getUTCFullYear(), `the child did not see the moved clock (libfaketime not in effect):\n${r.out.slice(-2000)}`);
    });
  }
});

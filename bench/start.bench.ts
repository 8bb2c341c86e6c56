/**
 * npm run bench:start: the terminal process on the simulator board, compiled JavaScript
 * (dist/, built by `npm test` or `npx tsc -p tsconfig.json`), against the acquirer simulator:
 *   - process start to the control interface and to the first operator screen (login), on a
 *     first boot (provisioning the simulator identity) and on a normal boot;
 *   - login to idle (operator check + sign-on with key download);
 *   - RSS of the terminal process at idle and after N sales (BENCH_SALES, default 50; the issue's
 *     1,000 take about 13 minutes through the keypad, with a settlement every 500 sales:
 *     BENCH_SALES=1000 npm run bench:start).
 * Baseline measured in the same run: a bare `node -e 0` process start and exit.
 * Goals (issue 5): idle screen under 1 s from process start, idle RSS under 80 MB. Prints figures.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AcquirerSimulator } from '../sim/host/simulator';
import { Driver } from '../tests/e2e/driver';
import { removeDir, tempDir } from '../storage/testing';

const RUNS = 3;
const SALES = Number(process.env.BENCH_SALES ?? 50);
const SALES_PER_BATCH = 500;

/** Settlement from the menu (6) with the supervisor (99 / 9999), as a merchant does at day end. */
async function settle(d: Driver): Promise<void> {
  await d.keys('MENU6');
  await d.until('settlement.authorize.ask');
  await d.keys('99OK9999OK');
  await d.until('settlement.confirm');
  await d.keys('OK');
  await d.until('settlement.result', () => true, 120_000);
  await d.keys('OK');
  await d.until('idle');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function rssMb(pid: number | undefined, field = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}

/** RSS split: anonymous (JS heap, native allocations) and file-backed (LMDB's mapped journal pages, code). */
function rssSplit(pid: number | undefined): string {
  return `anonymous ${rssMb(pid, 'RssAnon').toFixed(1)} MB, file-backed ${rssMb(pid, 'RssFile').toFixed(1)} MB`;
}

function nodeBaselineMs(): number {
  const t0 = performance.now();
  spawnSync(process.execPath, ['-e', '0']);
  return performance.now() - t0;
}

async function boot(d: Driver): Promise<{ readyMs: number; loginMs: number }> {
  const t0 = performance.now();
  await d.powerOn();
  const readyMs = performance.now() - t0;
  await d.until('login');
  return { readyMs, loginMs: performance.now() - t0 };
}

async function main(): Promise<void> {
  if (!existsSync(join(__dirname, '..', 'dist', 'boot', 'terminal-main.js'))) throw new Error('compile first: npx tsc -p tsconfig.json');
  const baseline = median(Array.from({ length: 5 }, nodeBaselineMs));
  const host = new AcquirerSimulator({ clock: Date.now });
  await host.listen(0);
  const dir = tempDir('bench-start-');
  const first: number[] = [];
  const normal: number[] = [];
  const ready: number[] = [];
  const toIdle: number[] = [];
  const okToIdle: number[] = [];
  let d = new Driver(host, dir, 'zh-CN');
  try {
    for (let i = 0; i < RUNS; i++) {
      removeDir(join(dir, 'journal'));
      const b = await boot(d);
      first.push(b.loginMs);
      await d.powerOff();
      const n = await boot(d);
      normal.push(n.loginMs);
      ready.push(n.readyMs);
      const t = performance.now();
      await d.keys('01OK0000');
      // The operator's typing is the person's time; the terminal's starts at the last OK.
      const ok = performance.now();
      await d.keys('OK');
      await d.until('idle');
      okToIdle.push(performance.now() - ok);
      toIdle.push(performance.now() - t);
      if (i < RUNS - 1) await d.powerOff();
    }
    const pid = d.run?.child.pid;
    const idleRss = rssMb(pid);
    const idleSplit = rssSplit(pid);
    const t = performance.now();
    for (let i = 0; i < SALES; i++) {
      // The profile settles at most 999 sales per batch (field 48 counts are n3): settle first.
      if (i > 0 && i % SALES_PER_BATCH === 0) await settle(d);
      await d.sale(100 + i);
    }
    const perSaleMs = (performance.now() - t) / Math.max(1, SALES);
    const afterRss = rssMb(pid);
    const afterSplit = rssSplit(pid);
    if (process.env.BENCH_HEAP_SNAPSHOT === '1') {
      // The terminal runs with NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 (inherited): write one.
      process.kill(pid as number, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 15_000));
    }
    console.log(`terminal start on the simulator board (compiled JS, ${RUNS} runs, medians)`);
    console.log(`  baseline: bare node process start+exit      ${baseline.toFixed(0)} ms`);
    console.log(`  process start -> control interface up        ${median(ready).toFixed(0)} ms`);
    console.log(`  process start -> login screen, normal boot   ${median(normal).toFixed(0)} ms  (${(median(normal) / baseline).toFixed(1)}x the bare node start; goal < 1000 ms)`);
    console.log(`  process start -> login screen, first boot    ${median(first).toFixed(0)} ms  (provisions the simulator identity and operators)`);
    console.log(`  login -> idle (typing 10 keys, check, sign-on) ${median(toIdle).toFixed(0)} ms`);
    console.log(`  last OK -> idle (operator check + sign-on)   ${median(okToIdle).toFixed(0)} ms`);
    console.log(`  terminal's own time to idle: start -> login + last OK -> idle = ${(median(normal) + median(okToIdle)).toFixed(0)} ms  (goal < 1000 ms; the operator's typing excluded)`);
    console.log(`  normal boot -> idle with the typing           ${(median(normal) + median(toIdle)).toFixed(0)} ms`);
    console.log(`  RSS at idle                                  ${idleRss.toFixed(1)} MB  (goal < 80 MB; ${idleSplit})`);
    console.log(`  RSS after ${SALES} sales                         ${afterRss.toFixed(1)} MB  (+${(afterRss - idleRss).toFixed(1)} MB; ${afterSplit}; ${perSaleMs.toFixed(0)} ms per sale through the keypad)`);
  } finally {
    await d.powerOff().catch(() => undefined);
    await host.close();
    removeDir(dir);
    d = undefined as unknown as Driver;
  }
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });

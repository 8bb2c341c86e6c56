/**
 * A/B of node flags on the terminal's day (issue 14 goal 1): terminals with the unit's flags plus
 * each variant's, AB_COPIES (default 2) of each, all running the same day at once (the same
 * machine load), as bench/memory.bench.ts drives it: login, idle sample, BENCH_SALES sales (default
 * 1,000) with a settlement every 500 and at the end, the idle sample after it; the simulated
 * devices' share dropped and subtracted as there. Prints each terminal's idle RSS and the day's
 * growth of the terminal alone. Variants: AB_VARIANTS="name=flags|name=flags"; a flag is added
 * to the unit's, `!flag` takes it out of them, e.g. (the default) the unit against the unit with
 * Sparkplug back on:
 *   AB_VARIANTS='unit=|sparkplug=!--no-sparkplug' npx ts-node --transpile-only bench/memory-ab.ts
 * Compile and bundle first, as for bench:memory (npx tsc -p tsconfig.json && npm run bundle).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Terminal, unitMallocEnv, unitNodeFlags } from './memory.bench';
import { AcquirerSimulator } from '../sim/host/simulator';
import { removeDir, tempDir } from '../storage/testing';

const ROOT = join(__dirname, '..');
const SALES = Number(process.env.BENCH_SALES ?? 1000);
const unit = readFileSync(join(ROOT, 'boot', 'pos-terminal.service'), 'utf8');
const base = unitNodeFlags(unit);
const mallocEnv = unitMallocEnv(unit);
const variants = (process.env.AB_VARIANTS ?? 'unit=|sparkplug=!--no-sparkplug').split('|').map((v) => {
  // name=flags, split at the first '=' (a flag has its own: --interrupt-budget=N).
  const at = v.indexOf('=');
  return { n: v.slice(0, at), f: v.slice(at + 1).split(/\s+/).filter(Boolean) };
});
const COPIES = Number(process.env.AB_COPIES ?? 2);

async function day(t: Terminal): Promise<string> {
  await t.login();
  await delay(10_000);
  const idle = await t.sample(0, 'idle');
  for (let i = 0; i < SALES; i++) {
    if (i > 0 && i % 500 === 0) await t.settle();
    await t.sale(i);
    if ((i + 1) % 250 === 0) console.log(`  ${t.name}: ${i + 1} sales RSS ${(await t.sample(i + 1, 'sales')).rssMb.toFixed(1)}`);
  }
  await t.settle();
  await delay(10_000);
  const end = await t.sample(SALES, 'settled');
  const dev = (await t.memory(true)).devicesMb ?? 0;
  return `${t.name}: idle ${idle.rssMb.toFixed(1)} (anon ${idle.anonMb.toFixed(1)}) end ${end.rssMb.toFixed(1)} (anon ${end.anonMb.toFixed(1)}) devices ${dev.toFixed(2)} alone ${(end.rssMb - dev - idle.rssMb).toFixed(2)} heap ${idle.heapUsedMb?.toFixed(1)}->${end.heapUsedMb?.toFixed(1)}`;
}

async function main(): Promise<void> {
  const ts: Terminal[] = []; const hosts: AcquirerSimulator[] = []; const dirs: string[] = [];
  for (let c = 0; c < COPIES; c++) for (const v of variants) {
    const h = new AcquirerSimulator({ clock: Date.now }); await h.listen(0); hosts.push(h);
    const d = tempDir('ab-'); dirs.push(d);
    const flags = [...base.filter((f) => !v.f.includes(`!${f}`)), ...v.f.filter((f) => !f.startsWith('!'))];
    ts.push(new Terminal(`${v.n}#${c}`, flags, h, d, join(ROOT, 'dist', 'bundle', 'terminal.js')));
  }
  const t0 = Date.now();
  try {
    await Promise.all(ts.map((t) => t.start(mallocEnv)));
    const out = await Promise.all(ts.map((t) => day(t)));
    console.log(`done in ${((Date.now() - t0) / 60000).toFixed(1)} min`);
    for (const l of out) console.log(l);
  } finally {
    for (const t of ts) await t.stop().catch(() => undefined);
    for (const h of hosts) await h.close();
    for (const d of dirs) removeDir(d);
  }
}
main().catch((e: unknown) => { console.error(e); process.exit(1); });

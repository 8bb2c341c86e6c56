/**
 * npm run bench:memory: the terminal's memory through a trading day (issue 14, goal 1).
 *
 * The terminal process runs on the simulator board as the systemd unit runs it (boot/
 * pos-terminal.service: the bundle dist/bundle/terminal.js, node's flags from POS_NODE_FLAGS,
 * glibc's MALLOC_* variables), against an acquirer simulator in this process.
 * It is driven through the control interface only: a cashier logs in, BENCH_SALES sales (default
 * 1,000; amount typed, card swiped, no customer copy, signature on paper) with a settlement after
 * every SALES_PER_BATCH and at the end (the profile settles at most 999 per batch). Single keys
 * are pressed with `down`/`up` (KEY_HOLD_MS), faster than `keys`; digits go through `keys`.
 * RSS (anonymous and file-backed, /proc/<pid>/status) is sampled at idle and every SAMPLE_EVERY
 * sales, then the live JS heap (the `memory` command, after a full GC).
 *
 * Baselines measured in the same run, side by side:
 *   - a bare node process with the unit's settings and one with node's defaults (what no code of
 *     ours can go below);
 *   - the terminal as the unit ran it before native/mem_reclaim.cc: the same bundle and settings,
 *     the idle collection a plain gc() (POS_IDLE_GC=gc);
 *   - the terminal with node's defaults (compiled modules, no flags, no MALLOC_*, no idle
 *     collection: POS_IDLE_GC=off);
 * all driven the same way at the same time (the days run at once: the same machine load).
 *
 * The simulated devices share the terminal's process (sim/board-sim.ts builds the chip models and
 * the virtual printer beside the real drivers). Their share is measured, not guessed: at the end
 * `memory {drop: true}` (sim/memory-probe.ts) tears the virtual printer's paper roll off and
 * unloads its font, and reports how much heap and array-buffer memory that freed after a full
 * GC. The roll is empty at idle; the terminal's own figure after the day is RSS minus that share.
 *
 * Writes docs/memory-curve.svg (RSS every SAMPLE_EVERY sales, both runs) when BENCH_SALES >= 1000
 * or BENCH_WRITE_SVG=1; prints the figures. BENCH_SALES=300 for a quick look.
 * BENCH_HEAP_SNAPSHOTS=1 writes a heap snapshot of the unit-settings terminal at every sample into
 * BENCH_OUT (default bench/out/memory): writing one inflates that process's RSS, so such a run's
 * RSS figures do not count. BENCH_SMAPS=1 keeps that terminal's /proc/PID/smaps after the idle
 * and the end-of-day samples there (idle.smaps, settled.smaps). BENCH_DIST runs another compiled
 * tree than dist/.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { startTerminal } from '../boot/start';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ControlClient, Reply } from '../sim/control-client';
import { HOST_SIM_LINE_PREFIX } from '../sim/control-server';
import { controlLine } from '../sim/host/cli';
import { AcquirerSimulator } from '../sim/host/simulator';
import { removeDir, tempDir } from '../storage/testing';

const ROOT = join(__dirname, '..');
const TERMINAL_JS = join(process.env.BENCH_DIST ?? join(ROOT, 'dist'), 'boot', 'terminal-main.js');
/** The bundle's loader (scripts/image/bundle.ts), which the unit starts. */
const BUNDLE_JS = join(process.env.BENCH_DIST ?? join(ROOT, 'dist'), 'bundle', 'terminal.js');
const UNIT_FILE = join(ROOT, 'boot', 'pos-terminal.service');
const SVG_FILE = join(ROOT, 'docs', 'memory-curve.svg');
const OUT_DIR = process.env.BENCH_OUT ?? join(ROOT, 'bench', 'out', 'memory');

const SALES = Number(process.env.BENCH_SALES ?? 1000);
const SAMPLE_EVERY = 100;
/** The profile's field 48 counts are n3: at most 999 sales per batch; settle at half a day. */
const SALES_PER_BATCH = 500;
/** Keys are held and released this long: over twice the board's 20 ms debounce, faster than `keys` (60 + 60 ms). */
const KEY_HOLD_MS = 50;
const POLL_MS = 15;
/** A key press that did not move the machine is pressed again after this long, at most KEY_TRIES times in all. */
const KEY_RETRY_AFTER_MS = 3_000;
const KEY_TRIES = 3;
const STATE_WAIT_MS_MAX = 30_000;
const SETTLE_WAIT_MS_MAX = 180_000;
/**
 * Before the idle sample (after login) and the end-of-day one (after the settlement): as long a
 * pause both times, the terminal idle as at the counter (V8 shrinks its heap when idle).
 */
const IDLE_SETTLE_MS = 10_000;
/** stderr lines kept to explain a terminal that did not start. */
const LOG_LINES_MAX = 50;
/** Goals (issue 14). */
const IDLE_RSS_MB_GOAL = 60;
const DAY_GROWTH_MB_GOAL = 5;

/** The node flags the unit gives the terminal (Environment="POS_NODE_FLAGS=..."). */
export function unitNodeFlags(unitText: string): string[] {
  const m = /^Environment="?POS_NODE_FLAGS=([^"\n]*)"?$/m.exec(unitText);
  if (!m) throw new Error(`${UNIT_FILE}: no Environment="POS_NODE_FLAGS=..." line`);
  return m[1].trim().split(/\s+/).filter(Boolean);
}

/** The C library's allocator settings the unit gives the terminal (Environment=MALLOC_...=N lines). */
export function unitMallocEnv(unitText: string): Record<string, string> {
  return Object.fromEntries([...unitText.matchAll(/^Environment=(MALLOC_[A-Z_]+)=(\d+)$/gm)].map((m) => [m[1], m[2]]));
}

interface Rss { rssMb: number; anonMb: number; fileMb: number }

function rssOf(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rssMb: kb('VmRSS'), anonMb: kb('RssAnon'), fileMb: kb('RssFile') + kb('RssShmem') };
}

interface Sample extends Rss { sales: number; label: string; heapUsedMb?: number }

/** What the terminal's `memory` command answers (sim/control-server.ts). */
interface MemoryReply { heapUsedMb: number; externalMb: number; arrayBuffersMb: number; paperBitmapMb: number; paperReceipts: number; paperReceiptsShed: number; devicesMb?: number }

export class Terminal {
  child!: ChildProcess;
  client!: ControlClient;
  readonly samples: Sample[] = [];
  private readonly log: string[] = [];

  constructor(readonly name: string, readonly flags: readonly string[], readonly host: AcquirerSimulator, readonly dir: string, readonly main: string = TERMINAL_JS) {}

  get pid(): number { return this.child.pid as number; }

  async start(env: NodeJS.ProcessEnv = {}): Promise<void> {
    const args = ['--board', 'sim', '--host-port', String(this.host.port), '--journal-dir', join(this.dir, 'journal'), '--backup-dir', join(this.dir, 'backup'), '--locale', 'zh-CN'];
    // boot/start.ts's launcher: the same READY handshake `npm start` and bench:start use.
    const onLog = (line: string): void => {
      if (line.startsWith(HOST_SIM_LINE_PREFIX)) { controlLine(this.host, line.slice(HOST_SIM_LINE_PREFIX.length), () => undefined); return; }
      this.log.push(line); if (this.log.length > LOG_LINES_MAX) this.log.shift();
    };
    // Each terminal its own code cache (a shared file would be rewritten by each in turn).
    const launch = { nodeArgs: [...this.flags, this.main], env: { ...process.env, LOG_LEVEL: 'warn', POS_CODE_CACHE_DIR: join(this.dir, 'code-cache'), ...env } };
    const running = await startTerminal(args, onLog, undefined, launch).catch((e: Error) => { throw new Error(`${this.name}: ${e.message}: ${this.log.join('\n')}`); });
    this.child = running.child;
    const port = running.controlPort;
    this.client = await ControlClient.connect(port);
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.client?.close();
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }

  async cmd(cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const r = await this.client.request(cmd, args);
    if (!r.ok) throw new Error(`${this.name}: ${cmd} failed: ${r.error}`);
    return r;
  }

  /** Single keys pressed and released through the keypad model (the real driver scans and debounces them), faster than `keys`. */
  async keys(keys: string): Promise<void> {
    for (const key of keys.match(/OK|CANCEL|MENU|[0-9]/g) ?? []) {
      await this.cmd('down', { key });
      await delay(KEY_HOLD_MS);
      await this.cmd('up', { key });
      await delay(KEY_HOLD_MS);
    }
  }

  async state(): Promise<string> {
    const r = await this.client.request('state');
    return String((r.state as { state?: string } | undefined)?.state);
  }

  async until(state: string, timeoutMs = STATE_WAIT_MS_MAX): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await this.state();
      if (last === state) return;
      await delay(POLL_MS);
    }
    throw new Error(`${this.name}: waited ${timeoutMs} ms for ${state}, at ${last}`);
  }

  /**
   * Presses `keys` from state `from` and waits for `to`. A machine loaded by the other terminal
   * (2 cores) can scan the keypad late enough to miss a short press: a press that left the
   * machine where it was is pressed again (at most KEY_TRIES times); the keys only mean
   * anything in `from`, so a repeat cannot act twice.
   */
  async step(from: string, keys: string, to: string, timeoutMs = STATE_WAIT_MS_MAX): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.keys(keys);
      const deadline = Date.now() + (attempt < KEY_TRIES ? KEY_RETRY_AFTER_MS : timeoutMs);
      while (Date.now() < deadline) {
        const now = await this.state();
        if (now === to) return;
        if (now !== from && attempt < KEY_TRIES) return this.until(to, timeoutMs);
        await delay(POLL_MS);
      }
      if (attempt >= KEY_TRIES) throw new Error(`${this.name}: ${keys} in ${from} did not reach ${to}`);
    }
  }

  /** Typed by the control interface's own `keys` (60 ms held, 60 ms apart): a lost digit would change what is typed. */
  async type(keys: string): Promise<void> {
    await this.cmd('keys', { keys });
  }

  async login(): Promise<void> {
    await this.until('login');
    await this.type('01OK0000');
    await this.step('login', 'OK', 'idle');
  }

  /** A swipe sale as a cashier makes it: amount, card, no customer copy, signature on paper. */
  async sale(i: number): Promise<void> {
    // Unique card and amount within the duplicate warning's window (10 minutes).
    await this.type(`${100 + (i % 900)}`);
    await this.step('sale.amount', 'OK', 'sale.card');
    await this.cmd('swipe', { card: i < 900 ? 'magDebit' : 'magShort' });
    await this.until('sale.askCustomerCopy');
    await this.step('sale.askCustomerCopy', '2', 'sale.signature');
    await this.step('sale.signature', 'OK', 'idle');
  }

  /** Settlement from the menu (6) with the supervisor (99 / 9999). */
  async settle(): Promise<void> {
    // The main menu is the input layer's, not a machine state: typed reliably, then the machine's state.
    await this.type('MENU6');
    await this.until('settlement.authorize.ask');
    await this.type('99OK9999');
    await this.step('settlement.authorize.ask', 'OK', 'settlement.confirm');
    await this.step('settlement.confirm', 'OK', 'settlement.result', SETTLE_WAIT_MS_MAX);
    await this.step('settlement.result', 'OK', 'idle');
  }

  /**
   * RSS as it is; at idle and at the end also the JS heap's live size, read after the RSS (the
   * `memory` command collects garbage first, so it is not asked mid-day: no forced GC helps the curve).
   */
  async sample(sales: number, label: string): Promise<Sample> {
    const rss = rssOf(this.pid);
    const s = { sales, label, ...rss, ...(label === 'sales' ? {} : { heapUsedMb: (await this.memory()).heapUsedMb }) };
    this.samples.push(s);
    return s;
  }

  async memory(drop = false): Promise<MemoryReply> {
    return (await this.cmd('memory', { drop })) as unknown as MemoryReply;
  }
}

/** Asks the terminal (started with --heapsnapshot-signal=SIGUSR2) for a heap snapshot; waits until it is written. */
async function heapSnapshot(pid: number, label: string): Promise<string> {
  const before = new Set(readdirSync(OUT_DIR));
  process.kill(pid, 'SIGUSR2');
  for (let size = -1; ;) {
    await delay(1_000);
    const file = readdirSync(OUT_DIR).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (!file) continue;
    const now = statSync(join(OUT_DIR, file)).size;
    if (now === size && now > 0) {
      const named = join(OUT_DIR, `${label}.heapsnapshot`);
      renameSync(join(OUT_DIR, file), named);
      return named;
    }
    size = now;
  }
}

/** Idle RSS of a bare node process with `flags` (a timer keeps it alive), after it settles. */
async function bareNodeRss(flags: readonly string[], env: Record<string, string>): Promise<Rss> {
  const child = spawn(process.execPath, [...flags, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: { ...process.env, ...env } });
  await delay(1_000);
  const rss = rssOf(child.pid as number);
  child.kill('SIGKILL');
  return rss;
}

/** One terminal's day: login, idle sample, sales with a sample every SAMPLE_EVERY, settlements. */
async function day(t: Terminal, snapshots: boolean, smaps = false): Promise<void> {
  const snap = async (label: string): Promise<void> => {
    if (!snapshots) return;
    console.log(`  ${t.name}: heap snapshot ${await heapSnapshot(t.pid, label)}`);
  };
  // The process's mappings after the sample (BENCH_SMAPS=1): what grew, mapping by mapping.
  const keepSmaps = (label: string): void => {
    if (!smaps) return;
    const file = join(OUT_DIR, `${label}.smaps`);
    writeFileSync(file, readFileSync(`/proc/${t.pid}/smaps`));
    console.log(`  ${t.name}: ${file}`);
  };
  await t.login();
  await delay(IDLE_SETTLE_MS);
  await t.sample(0, 'idle');
  keepSmaps('idle');
  await snap('0');
  for (let i = 0; i < SALES; i++) {
    if (i > 0 && i % SALES_PER_BATCH === 0) await t.settle();
    await t.sale(i);
    if ((i + 1) % SAMPLE_EVERY === 0 || i + 1 === SALES) {
      const s = await t.sample(i + 1, 'sales');
      console.log(`  ${t.name}: ${i + 1} sales  ${fmt(s)}`);
      await snap(String(i + 1));
    }
  }
  await t.settle();
  await delay(IDLE_SETTLE_MS);
  await t.sample(SALES, 'settled');
  keepSmaps('settled');
}

/** A change in MB with its sign. */
function signed(mb: number): string {
  return `${mb >= 0 ? '+' : ''}${mb.toFixed(1)}`;
}

function fmt(r: Rss & { heapUsedMb?: number }): string {
  return `RSS ${r.rssMb.toFixed(1)} MB (anonymous ${r.anonMb.toFixed(1)}, file-backed ${r.fileMb.toFixed(1)}${r.heapUsedMb === undefined ? '' : `; JS heap live ${r.heapUsedMb.toFixed(1)}`})`;
}

/** A horizontal reference line on the chart (a goal, a baseline). */
export interface RefLine { readonly label: string; readonly mb: number; readonly color: string }

/** A small hand-written SVG: RSS against sales for each run, reference lines dashed. */
export function curveSvg(runs: ReadonlyArray<{ name: string; color: string; samples: readonly Sample[] }>, refs: readonly RefLine[]): string {
  const W = 680, H = 360, L = 56, R = 200, T = 28, B = 44;
  const all = runs.flatMap((r) => r.samples);
  const xMax = Math.max(1, ...all.map((s) => s.sales));
  const yMax = Math.ceil(Math.max(...refs.map((r) => r.mb + 10), ...all.map((s) => s.rssMb)) / 20) * 20;
  const n = (v: number): string => v.toFixed(1);
  const x = (v: number): string => n(L + (v / xMax) * (W - L - R));
  const y = (v: number): string => n(T + (1 - v / yMax) * (H - T - B));
  // The settlement's sample sits a little right of the last sale's.
  const xOf = (s: Sample): string => x(s.sales + (s.label === 'settled' ? xMax * 0.02 : 0));
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${L}" y="16" font-size="13">Terminal RSS through a trading day (npm run bench:memory)</text>`);
  for (let v = 0; v <= yMax; v += 20) out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 6}" y="${n(Number(y(v)) + 4)}" text-anchor="end">${v}</text>`);
  const xStep = xMax >= 500 ? 100 : Math.max(1, Math.round(xMax / 5));
  for (let v = 0; v <= xMax; v += xStep) out.push(`<text x="${x(v)}" y="${H - B + 16}" text-anchor="middle">${v}</text>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">sales (the last point: after the settlement, at idle)</text>`);
  out.push(`<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">RSS, MB</text>`);
  for (const r of refs) out.push(`<line x1="${L}" x2="${W - R}" y1="${y(r.mb)}" y2="${y(r.mb)}" stroke="${r.color}" stroke-dasharray="4 3"/><text x="${W - R + 4}" y="${n(Number(y(r.mb)) + 4)}" fill="${r.color}">${r.label}</text>`);
  runs.forEach((r, k) => {
    out.push(`<polyline points="${r.samples.map((s) => `${xOf(s)},${y(s.rssMb)}`).join(' ')}" fill="none" stroke="${r.color}" stroke-width="2"/>`);
    for (const s of r.samples) out.push(`<circle cx="${xOf(s)}" cy="${y(s.rssMb)}" r="2.5" fill="${r.color}"/>`);
    const ly = T + 8 + k * 16;
    out.push(`<line x1="${W - R + 4}" x2="${W - R + 20}" y1="${ly}" y2="${ly}" stroke="${r.color}" stroke-width="2"/><text x="${W - R + 24}" y="${ly + 4}">terminal, ${r.name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

async function main(): Promise<void> {
  if (!existsSync(TERMINAL_JS)) throw new Error('compile first: npx tsc -p tsconfig.json');
  if (!existsSync(BUNDLE_JS)) throw new Error('bundle first: npm run bundle');
  const unit = readFileSync(UNIT_FILE, 'utf8');
  const flags = unitNodeFlags(unit);
  const mallocEnv = unitMallocEnv(unit);
  const snapshots = process.env.BENCH_HEAP_SNAPSHOTS === '1';
  const smaps = process.env.BENCH_SMAPS === '1';
  if (snapshots || smaps) mkdirSync(OUT_DIR, { recursive: true });
  const bareUnit = await bareNodeRss(flags, mallocEnv);
  const bareDefault = await bareNodeRss([], {});
  const hosts = [new AcquirerSimulator({ clock: Date.now }), new AcquirerSimulator({ clock: Date.now })];
  for (const h of hosts) await h.listen(0);
  hosts.push(new AcquirerSimulator({ clock: Date.now }));
  await hosts[2].listen(0);
  const dirs = [tempDir('bench-memory-unit-'), tempDir('bench-memory-default-'), tempDir('bench-memory-compiled-')];
  // As the unit runs it: the bundle, the unit's flags, memory given back at idle (boot/idle-gc.ts,
  // boot/mem-reclaim.ts: V8's memory-reducing collection and malloc_trim through native/mem_reclaim.cc).
  const unitRun = new Terminal('unit settings', flags, hosts[0], dirs[0], BUNDLE_JS);
  // Node's defaults: compiled modules, no flags, no collection at idle.
  const plain = new Terminal('node defaults', [], hosts[1], dirs[1]);
  // The unit before the addon: the same bundle and flags, the idle collection a plain gc().
  const before = new Terminal('unit settings, idle gc() only', flags, hosts[2], dirs[2], BUNDLE_JS);
  const t0 = performance.now();
  try {
    const diag = snapshots ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${OUT_DIR}` } : {};
    await Promise.all([unitRun.start({ ...mallocEnv, ...diag }), plain.start({ POS_IDLE_GC: 'off' }), before.start({ ...mallocEnv, POS_IDLE_GC: 'gc' })]);
    // The days at once: the same work, the same machine load, one run's time.
    await Promise.all([day(unitRun, snapshots, smaps), day(plain, false), day(before, false)]);
    const minutes = (performance.now() - t0) / 60_000;
    const dropped = await unitRun.memory(true);
    const afterDrop = rssOf(unitRun.pid);
    const devicesMb = dropped.devicesMb ?? 0;
    console.log(`terminal memory through a day of ${SALES} sales and ${Math.ceil(SALES / SALES_PER_BATCH)} settlements (simulator board; unit settings: the bundle, the others compiled JS; all runs at once, ${minutes.toFixed(1)} min)`);
    console.log(`  unit settings: node ${flags.join(' ')}; ${Object.entries(mallocEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    console.log(`  baseline: bare node, unit settings        ${fmt(bareUnit)}`);
    console.log(`  baseline: bare node, node defaults        ${fmt(bareDefault)}`);
    for (const t of [unitRun, before, plain]) {
      const idle = t.samples[0];
      const end = t.samples[t.samples.length - 1];
      console.log(`  terminal, ${t.name}:`);
      for (const s of t.samples) console.log(`    ${s.label === 'idle' ? 'idle' : s.label === 'settled' ? `${s.sales} + settlement` : `${s.sales} sales`}`.padEnd(24) + `${fmt(s)}  (${signed(s.rssMb - idle.rssMb)} MB)`);
      console.log(`    idle ${idle.rssMb.toFixed(1)} MB (goal <= ${IDLE_RSS_MB_GOAL}); the day's growth ${signed(end.rssMb - idle.rssMb)} MB (goal <= +${DAY_GROWTH_MB_GOAL}); peak ${Math.max(...t.samples.map((x) => x.rssMb)).toFixed(1)} MB`);
    }
    console.log(`  the simulated devices' share (unit settings, measured at the end): the virtual printer held ${dropped.paperReceipts} receipts (${dropped.paperReceiptsShed} torn off), ${dropped.paperBitmapMb.toFixed(2)} MB of pixels;`);
    console.log(`    tearing the roll off and unloading its font freed ${devicesMb.toFixed(2)} MB of heap and array buffers (after a full GC); RSS then ${fmt(afterDrop)}`);
    const idle = unitRun.samples[0];
    const end = unitRun.samples[unitRun.samples.length - 1];
    console.log(`  the terminal alone, unit settings: idle ${idle.rssMb.toFixed(1)} MB (the roll is empty at idle), after the day ${(end.rssMb - devicesMb).toFixed(1)} MB: ${signed(end.rssMb - devicesMb - idle.rssMb)} MB (goal <= +${DAY_GROWTH_MB_GOAL})`);
    if (SALES >= 1000 || process.env.BENCH_WRITE_SVG === '1') {
      writeFileSync(SVG_FILE, curveSvg([{ name: 'unit settings', color: '#c33', samples: unitRun.samples }, { name: 'unit, idle gc() only', color: '#e90', samples: before.samples }, { name: 'node defaults', color: '#36c', samples: plain.samples }], [
        { label: `goal at idle ${IDLE_RSS_MB_GOAL} MB`, mb: IDLE_RSS_MB_GOAL, color: '#555' },
        { label: `idle + ${DAY_GROWTH_MB_GOAL} MB (goal)`, mb: idle.rssMb + DAY_GROWTH_MB_GOAL, color: '#2a7' },
        { label: `bare node ${bareUnit.rssMb.toFixed(0)} MB`, mb: bareUnit.rssMb, color: '#999' },
      ]));
      console.log(`  wrote ${SVG_FILE}`);
    }
  } finally {
    await unitRun.stop().catch(() => undefined);
    await plain.stop().catch(() => undefined);
    await before.stop().catch(() => undefined);
    for (const h of hosts) await h.close();
    for (const d of dirs) removeDir(d);
  }
}

if (require.main === module) main().catch((e: unknown) => { console.error(e); process.exit(1); });

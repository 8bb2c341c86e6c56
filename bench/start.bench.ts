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
 *
 * Slow CPU (issue 14 goal 6), printed first; BENCH_SLOW_CPU=0 skips it:
 *   - start -> idle (the terminal's own time: process start -> the login screen on the panel, plus
 *     the login's last OK pressed -> the idle screen on the panel, the debounce included; the
 *     password check, no sign-on: a normal boot keeps its working keys) on this machine and
 *     under a CPU quota calibrated to a 1 GHz Cortex-A7 (below), as the systemd unit starts it
 *     (its POS_NODE_FLAGS and MALLOC_ settings, read from boot/pos-terminal.service; the code
 *     cache in a folder of its own), beside the baseline in the same run, configurations in turn:
 *       before  the unit's previous normal path: the slot selector (`pos update boot`, the
 *               compiled dist/boot/pos.js in a node process of its own) and then the bundle as it
 *               was (BENCH_BASELINE_BUNDLE: a loader built from the earlier sources, e.g.
 *               dist/bundle-base/terminal.js; without it the current bundle, so that only the
 *               selector differs: said in the output); BENCH_BEFORE_SELECTOR=0 leaves the
 *               selector out (a change inside the bundle against the bundle before it);
 *       now     the unit's path today: the shell reads boot-slot (no selector process) and starts
 *               the bundle (dist/bundle/terminal.js, `npm run bundle`), with and without the V8
 *               code cache (boot/code-cache.ts; POS_CODE_CACHE=0);
 *     beside `node -e 0` under the same limit; beside each wall-clock figure the CPU time used
 *     (all threads, /proc/PID/stat; the selector's through /usr/bin/time) to the login screen
 *     and to idle (the typing's share left out), which other jobs on a loaded machine do not
 *     inflate, and that CPU time divided by the quota (what the start would take on the
 *     calibrated CPU alone);
 *   - key to screen at the amount entry, keys spaced (60 ms held, 200 ms apart) and typed fast
 *     (40 ms held, the next 25 ms after the release), from the key's press on the simulated matrix
 *     to the moment the first screen that shows the amount that key made (for the first digit past
 *     the maximum amount: the refusal) reached the display (the terminal's stamp on the monotonic
 *     clock both processes share, carried by the screen event), minus the board's debounce; on
 *     this machine, under the quota and on the slow core (below) (the unit's path with the code
 *     cache; BENCH_KEYS=0 skips it); the first key of each sale
 *     (idle -> the amount screen), and the same first key pressed while the journal's background
 *     verify runs (its child started 100 ms before; a fresh boot each: it runs once per boot),
 *     each with the terminal's own part beside it ("own": from the keypad scan's read that decided
 *     the key to the screen shown; the rest is the press reaching the matrix and the debounce's
 *     overshoot);
 * Calibration: 7-Zip's LZMA benchmark (`7zz b -mmt1`, Debian package 7zip) gives this machine's
 * single-thread rating normalised to 100% CPU use (the R/U column, so a busy machine does not
 * lower it); 7-cpu.com publishes the same benchmark for an Allwinner A20 (Cortex-A7, 1 thread at
 * 1000 MHz): 470 MIPS compressing, 810 decompressing, 640 average. The quota is 640 over this
 * machine's average, for the whole process (all its threads: one slow core). BENCH_CPU_QUOTA_PCT
 * sets it instead. The cgroup (v1 cpu controller or v2 cpu.max, as root) uses a 10 ms period: the
 * default 100 ms would stop the process for up to 80 ms at a time, a pause no slow CPU makes.
 * A quota is kind to short bursts (a key's 1-2 ms of work runs at full speed while the period's
 * share lasts) and hard on children (what the background verify's child spends, the terminal
 * waits for). So the same share is also given as one slow core (startRtHog, BENCH_SLOW_CORE=0
 * leaves it out): the terminal pinned to one core of which a real-time busy loop takes the rest of
 * every 2 ms; every burst is slowed, and the kernel shares the core between the terminal and its
 * child by their policies, as on a board. `node -e 0` there takes about what it takes under the quota.
 * BENCH_OTHER_FLAGS="..." adds the same bundle started with those node flags instead of the unit's,
 * in turn with the others, its start and key figures printed beside theirs ("other flags").
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { AcquirerSimulator, TEST_TERMINAL } from '../sim/host/simulator';
import { Driver, TerminalRun } from '../tests/e2e/driver';
import { removeDir, tempDir } from '../storage/testing';
import { startTerminal, TerminalLaunch } from '../boot/start';
import { ControlClient } from '../sim/control-client';
import { HOST_SIM_LINE_PREFIX, keySequence } from '../sim/control-server';
import { controlLine } from '../sim/host/cli';
import { codeCacheFile } from '../boot/code-cache';
import { initSlots } from '../boot/update-slots';
import { SETPRIV_PATH, procStatFields } from '../common/spawn';
import { unitMallocEnv, unitNodeFlags } from './memory.bench';
import type { ProbeSnapshot } from '../boot/terminal-app';
import { yuan } from '../common/money';
import { monotonicMs } from '../common/time';

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

// ---------------------------------------------------------------- slow CPU (issue 14 goal 6)

const DIST_MAIN = join(__dirname, '..', 'dist', 'boot', 'terminal-main.js');
/** 7-cpu.com, Allwinner A20 (Cortex-A7), 1 thread at 1000 MHz, 7-Zip LZMA benchmark. */
const A7_1GHZ_MIPS = { compress: 470, decompress: 810 } as const;
const CGROUP_PERIOD_US = 10_000;
/** The kernel refuses a quota under 1 ms per period. */
const CGROUP_QUOTA_US_MIN = 1_000;
/** Boots per configuration (medians); BENCH_SLOW_RUNS sets it. */
const SLOW_RUNS = Number(process.env.BENCH_SLOW_RUNS ?? 5);
/** How the configurations with BENCH_OTHER_FLAGS are named in the output. */
const OTHER_FLAGS_LABEL = 'other flags';
const KEY_DIGITS = '23456789';
/** Boots for the first key pressed while the background verify runs, and how long after its start. */
const VERIFY_KEY_BOOTS = 3;
const VERIFY_KEY_AFTER_MS = 100;
const DEBOUNCE_MS = 20; // board-configs/sim.json keypad0.debounceMs
const STATE_WAIT_MS_MAX = 60_000;
const CACHE_WRITE_WAIT_MS_MAX = 30_000;
/** typeSeen: how long a tapped key may take to show on the screen, and how often it is tapped. */
const KEY_SEEN_WAIT_MS = 3_000;
const KEY_TRIES = 3;

interface Quota { pct: number; how: string }

/** This machine's 7-Zip single-thread rating (R/U, MIPS) or undefined without 7-Zip. */
function sevenZipRating(): { compress: number; decompress: number } | undefined {
  for (const cmd of ['7zz', '7z', '7za']) {
    const r = spawnSync(cmd, ['b', '-mmt1'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) continue;
    const avr = /^Avr:\s+\d+\s+\d+\s+(\d+)\s+\d+\s+\|\s+\d+\s+\d+\s+(\d+)\s+\d+/m.exec(r.stdout);
    if (avr) return { compress: Number(avr[1]), decompress: Number(avr[2]) };
  }
  return undefined;
}

function chooseQuota(): Quota {
  if (process.env.BENCH_CPU_QUOTA_PCT) return { pct: Number(process.env.BENCH_CPU_QUOTA_PCT), how: 'BENCH_CPU_QUOTA_PCT' };
  const host = sevenZipRating();
  if (!host) return { pct: 20, how: 'no 7-Zip here (apt-get install 7zip): 20% assumed, uncalibrated' };
  const a7 = (A7_1GHZ_MIPS.compress + A7_1GHZ_MIPS.decompress) / 2;
  const mine = (host.compress + host.decompress) / 2;
  return {
    pct: Math.round((1000 * a7) / mine) / 10,
    how: `7-Zip 1 thread R/U here: ${host.compress} compress, ${host.decompress} decompress MIPS (avg ${mine}); Cortex-A7 1 GHz (7-cpu.com, A20): ${A7_1GHZ_MIPS.compress}/${A7_1GHZ_MIPS.decompress} (avg ${a7})`,
  };
}

const CGROUP_PREFIX = 'pos-bench-start-';

/**
 * Removes the cgroups of earlier runs that were killed before removing their own (named by the
 * bench's pid, no longer running): an empty cgroup is removed, one still holding a process is left.
 */
function removeStaleCgroups(parent: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(CGROUP_PREFIX)) continue;
    const pid = Number(name.slice(CGROUP_PREFIX.length));
    let running = true;
    try { process.kill(pid, 0); } catch { running = false; }
    if (!running) { try { rmdirSync(join(parent, name)); } catch { /* a process is still in it */ } }
  }
}

/** A CPU-limited cgroup (v1 cpu or v2 cpu.max) and the command prefix that runs a process in it. */
function makeCgroup(pct: number): { wrap: string[]; remove: () => void } | string {
  const name = `${CGROUP_PREFIX}${process.pid}`;
  const quotaUs = Math.max(CGROUP_QUOTA_US_MIN, Math.round((CGROUP_PERIOD_US * pct) / 100));
  const periodUs = Math.round((quotaUs * 100) / pct);
  const wrapIn = (procs: string): string[] => ['sh', '-c', 'echo $$ > "$0" && exec "$@"', procs];
  try {
    if (existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) {
      removeStaleCgroups('/sys/fs/cgroup/cpu');
      const dir = `/sys/fs/cgroup/cpu/${name}`;
      mkdirSync(dir);
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(periodUs));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
      return { wrap: wrapIn(join(dir, 'cgroup.procs')), remove: () => rmdirSync(dir) };
    }
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', '+cpu');
      removeStaleCgroups('/sys/fs/cgroup');
      const dir = `/sys/fs/cgroup/${name}`;
      mkdirSync(dir);
      writeFileSync(join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`);
      return { wrap: wrapIn(join(dir, 'cgroup.procs')), remove: () => rmdirSync(dir) };
    }
    return 'no cgroup cpu controller found';
  } catch (e) {
    return `cannot create a CPU-limited cgroup (root needed): ${String(e)}`;
  }
}

/**
 * The slow-core model's period: the loop leaves the terminal a slot of pct% of it. Short, so a
 * wakeup waits at most 1.7 ms for its slot (a slow core answers at once, only slowly); with the
 * cgroup's 10 ms every key's steps waited up to 8.5 ms each (measured: a median of 10-13 ms, as
 * no slow core behaves). `node -e 0` on that core takes about what it takes under the quota.
 */
const SLOW_CORE_PERIOD_MS = 2;

/**
 * The other model of a slow core: one core of this machine of which a real-time busy loop
 * (SCHED_FIFO, above every normal task) takes all but `pct`% of each SLOW_CORE_PERIOD_MS. The
 * terminal's process tree is pinned to that core with no quota, so the kernel shares what is left
 * between the terminal and its niced verify child as a slow core's scheduler would (weights,
 * wakeup preemption); under the quota, the child's spending counts against the terminal's next
 * periods too. Tied to this process (setpriv --pdeathsig): a bench that dies takes the loop along.
 */
function startRtHog(pct: number): { stop: () => void } | string {
  const core = slowCoreCpu();
  const availMs = SLOW_CORE_PERIOD_MS * (pct / 100);
  const busyMs = SLOW_CORE_PERIOD_MS - availMs;
  const loop = `const w = new Int32Array(new SharedArrayBuffer(4)); for (;;) { const end = performance.now() + ${busyMs}; while (performance.now() < end) {} Atomics.wait(w, 0, 0, ${availMs}); }`;
  if (cpus().length < 2) return 'one CPU only: the loop would take the bench\'s own';
  if (!existsSync(SETPRIV_PATH)) return `no ${SETPRIV_PATH} to tie the loop to the bench`;
  const hog = spawn(SETPRIV_PATH, ['--pdeathsig', 'KILL', 'chrt', '-f', '50', 'taskset', '-c', core, process.execPath, '-e', loop], { stdio: 'ignore' });
  const probe = spawnSync('sh', ['-c', `sleep 0.3; chrt -p ${hog.pid}`], { encoding: 'utf8' });
  if (!/SCHED_FIFO/.test(probe.stdout)) {
    hog.kill('SIGKILL');
    return `cannot run a real-time loop (CAP_SYS_NICE needed): ${probe.stdout.trim() || probe.stderr.trim()}`;
  }
  // This process (the host simulator, the key presses) keeps to the other cores meanwhile.
  const all = `0-${core}`;
  spawnSync('taskset', ['-a', '-p', '-c', `0-${Number(core) - 1}`, String(process.pid)], { stdio: 'ignore' });
  return {
    stop: () => { hog.kill('SIGKILL'); spawnSync('taskset', ['-a', '-p', '-c', all, String(process.pid)], { stdio: 'ignore' }); },
  };
}

/** The slow-core model's core: the last one (the bench keeps to the others while the loop runs). */
function slowCoreCpu(): string {
  return String(cpus().length - 1);
}

/** Whether startRtHog can run here: undefined if so, else why not. */
function probeRtHog(pct: number): string | undefined {
  const hog = startRtHog(pct);
  if (typeof hog === 'string') return hog;
  hog.stop();
  return undefined;
}

function mustStartRtHog(pct: number): { stop: () => void } {
  const hog = startRtHog(pct);
  if (typeof hog === 'string') throw new Error(`the slow-core model ran before and now cannot: ${hog}`);
  return hog;
}

function spawnMs(wrap: readonly string[] = []): number {
  const t0 = performance.now();
  const argv = [...wrap, process.execPath, '-e', '0'];
  spawnSync(argv[0], argv.slice(1));
  return performance.now() - t0;
}

/**
 * The login's password check alone: scrypt as runtime/operators.ts runs it (r 8, p 1, 32 bytes,
 * on libuv's pool), at cost `n`, in a child process started with `wrap` (the quota) and `env`
 * (the allocator's settings): the first of 5 checks and the median of the other 4, ms.
 */
function scryptMs(wrap: readonly string[], n: number, env: NodeJS.ProcessEnv): { coldMs: number; warmMs: number } {
  const script = `const { scrypt } = require('node:crypto'); const one = () => new Promise((ok) => scrypt('000000', Buffer.alloc(16, 7), 32, { N: ${n}, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, ok)); (async () => { const ms = []; for (let i = 0; i < 5; i++) { const t = performance.now(); await one(); ms.push(performance.now() - t); } process.stdout.write(JSON.stringify(ms)); })();`;
  const argv = [...wrap, process.execPath, '-e', script];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env });
  const ms = JSON.parse(r.stdout) as number[];
  return { coldMs: ms[0], warmMs: median(ms.slice(1)) };
}

/** The slot selector as the unit ran it before boot-slot: `pos update boot` in a node process of its own. */
interface SelectorRun { readonly wrap: readonly string[]; readonly root: string }

/** CPU time of a finished child, all its threads, through GNU time; NaN without /usr/bin/time. */
const GNU_TIME = '/usr/bin/time';

/**
 * Runs the selector (as the unit's shell did, before the terminal) and returns its CPU time in
 * ms: user + system as GNU time reports them (10 ms steps), NaN without it. It must print a slot.
 */
function runSelector(s: SelectorRun): number {
  const timed = existsSync(GNU_TIME) ? [GNU_TIME, '-f', 'SELECTOR_CPU %U %S'] : [];
  const argv = [...s.wrap, ...timed, process.execPath, POS_CLI, 'update', 'boot', '--root', s.root];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.includes('slotA')) throw new Error(`selector failed (${r.status}): ${r.stderr.slice(-500)}`);
  const cpu = /SELECTOR_CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : NaN;
}

/** A Driver whose terminal starts as `launch` says (a build, under the quota), after the selector when given. */
class LaunchDriver extends Driver {
  /** CPU time of this boot's selector process (0 without one). */
  selectorCpuMs = 0;

  constructor(host: AcquirerSimulator, dir: string, private readonly launchWith: TerminalLaunch, private readonly selector?: SelectorRun) { super(host, dir, 'en'); }

  override async powerOn(): Promise<TerminalRun> {
    if (this.selector) this.selectorCpuMs = runSelector(this.selector);
    const log: string[] = [];
    const args = ['--board', 'sim', '--host-port', String(this.host.port), '--journal-dir', join(this.dir, 'journal'), '--backup-dir', join(this.dir, 'backup'), '--locale', 'en'];
    const { child, controlPort } = await startTerminal(args, (line) => {
      if (line.startsWith(HOST_SIM_LINE_PREFIX)) { controlLine(this.host, line.slice(HOST_SIM_LINE_PREFIX.length), (l) => log.push(l)); return; }
      log.push(line); if (log.length > 500) log.shift();
    }, undefined, this.launchWith);
    const client = await ControlClient.connect(controlPort);
    this.run = { child, client, controlPort, log };
    return this.run;
  }
}

/**
 * Waits for a machine state from the terminal's own screen events (subscribe), not by polling
 * `state`: under the quota a poll every 40 ms would take CPU from the boot it measures.
 */
async function whenState(client: ControlClient, state: string): Promise<ProbeSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${state} within ${STATE_WAIT_MS_MAX} ms`)); }, STATE_WAIT_MS_MAX);
    const done = (s: ProbeSnapshot): void => { clearTimeout(timer); off(); resolve(s); };
    const off = client.onEvent((e) => { const s = e.state as ProbeSnapshot | undefined; if (s?.state === state) done(s); });
    void client.request('subscribe').then(() => client.request('state')).then((r) => { const s = r.state as ProbeSnapshot | undefined; if (s?.state === state) done(s); });
  });
}

interface SlowFigures { readyMs: number; loginMs: number; ownLoginMs: number; okToIdleMs: number; cpuLoginMs: number; cpuIdleMs: number; sysIdleMs: number; faultsIdle: number; loginKeyOwnMaxMs: number }

/**
 * The kernel's part of the start (system CPU time and minor page faults, /proc/PID/stat): every
 * fresh page a process touches is a fault, 12 us each on this VM (docs/BENCHMARKS.md, "Start"),
 * which the quota scales with the rest though the 7-Zip calibration does not weigh it.
 */
function kernelPart(pid: number | undefined): { sysMs: number; faults: number } {
  const fields = statFields(pid);
  return { sysMs: (Number(fields[12]) * 1000) / USER_HZ, faults: Number(fields[7]) };
}

/** /proc/PID/stat's fields after the command name (common/spawn.ts); a process that is gone is an error. */
function statFields(pid: number | undefined): string[] {
  const fields = procStatFields(pid);
  if (!fields) throw new Error(`no /proc/${pid}/stat: the terminal process is gone`);
  return fields;
}

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time the process has used so far, all its threads, user and system (/proc/PID/stat): the
 * work a start costs, which a busy machine does not inflate as it does the wall clock (10 ms steps).
 */
function cpuMs(pid: number | undefined): number {
  const fields = statFields(pid);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
}

/**
 * Types keys one at a time, each once the screen showed the one before: under the quota on a
 * loaded machine a starved terminal can miss a tap of the control interface's fixed length (a
 * boot whose password lost a digit never reached idle); a key the screen did not show is tapped
 * again, at most KEY_TRIES times.
 */
async function typeSeen(client: ControlClient, keys: string): Promise<void> {
  const screenOf = async (): Promise<string> => JSON.stringify(((await client.request('screen')) as { text?: unknown }).text);
  for (const k of keySequence(keys)) {
    const before = await screenOf();
    for (let tries = 1; ; tries++) {
      await client.request('keys', { keys: k });
      const deadline = Date.now() + KEY_SEEN_WAIT_MS;
      while (Date.now() < deadline && (await screenOf()) === before) await new Promise((r) => setTimeout(r, 50));
      if ((await screenOf()) !== before) break;
      if (tries >= KEY_TRIES) throw new Error(`key ${k} not shown after ${KEY_TRIES} taps`);
    }
  }
}

/** How long the bench holds the login's last OK down (as firstKeyMs holds a key). */
const OK_HOLD_MS = 60;

/**
 * One normal boot on an existing journal: start -> control up, -> login; then the cashier's login
 * to idle. The login screen and idle are when the panel showed them (the terminal's stamp on the
 * monotonic clock both processes share), not when this process heard of it: the snapshot, its JSON
 * and the socket come after the screen (firstKeyMs's reason). The last OK counts from its press on
 * the matrix, the debounce included; its release is the person's, after the screen changed.
 */
async function bootToIdle(d: LaunchDriver): Promise<SlowFigures> {
  const t0 = monotonicMs();
  const run = await d.powerOn();
  const readyMs = monotonicMs() - t0;
  const login = await whenState(run.client, 'login');
  const loginMs = shownAtMs(login) - t0;
  const cpuLoginMs = cpuMs(run.child.pid);
  const kernelLogin = kernelPart(run.child.pid);
  await typeSeen(run.client, '01OK0000');
  // The login's keys, typed while the password check's table is touched (runtime/password-kdf.ts):
  // their own key -> screen times, the terminal's stamps (scan decision -> screen shown).
  const loginKeyOwnMaxMs = Math.max(...(await d.snapshot()).timing.keyToScreenMs);
  const idle = whenState(run.client, 'idle');
  await sleep(50); // the subscription is in place
  const cpuOk = cpuMs(run.child.pid);
  const kernelOk = kernelPart(run.child.pid);
  const okMs = monotonicMs();
  void run.client.request('down', { key: 'OK' });
  await sleep(OK_HOLD_MS);
  void run.client.request('up', { key: 'OK' });
  const okToIdleMs = shownAtMs(await idle) - okMs;
  // The typing's own CPU (screens redrawn per key) is the person's time, left out as its wall time is.
  // The selector's CPU, when the boot ran one, is the boot's too (its wall time is in loginMs).
  const kernelIdle = kernelPart(run.child.pid);
  return {
    readyMs, loginMs, ownLoginMs: login.timing.bootToIdleMs ?? NaN, okToIdleMs, cpuLoginMs: cpuLoginMs + d.selectorCpuMs, cpuIdleMs: cpuLoginMs + d.selectorCpuMs + cpuMs(run.child.pid) - cpuOk,
    sysIdleMs: kernelLogin.sysMs + kernelIdle.sysMs - kernelOk.sysMs, faultsIdle: kernelLogin.faults + kernelIdle.faults - kernelOk.faults, loginKeyOwnMaxMs,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A key's time to the screen after the debounce (`ms`), and of it the terminal's own: from the
 * keypad scan's read that decided the key down to the screen shown (`ownMs`, the snapshot's
 * keyToScreenMs). The rest is the press reaching the matrix, the scans' schedule and the
 * debounce's overshoot: the driver's, not the screen's.
 */
interface KeyTime { readonly ms: number; readonly ownMs: number }

/**
 * The first key of a sale, at idle: press on the matrix (held `holdMs`) -> the amount screen,
 * minus the debounce. A screen change of its own (idle -> the sale), more work than a digit.
 */
async function firstKeyMs(d: LaunchDriver, holdMs: number): Promise<KeyTime> {
  const client = d.run!.client;
  let pressedMs = 0;
  const amount = whenState(client, 'sale.amount').then((s) => ({ ms: shownAtMs(s) - pressedMs - DEBOUNCE_MS, ownMs: s.timing.keyToScreenMs.at(-1) ?? NaN }));
  await sleep(50); // the subscription is in place
  pressedMs = monotonicMs();
  void client.request('down', { key: '1' });
  await sleep(holdMs);
  void client.request('up', { key: '1' });
  return amount;
}

/**
 * When a screen reached the display, on the monotonic clock this process and the terminal share:
 * the key's answer is the panel, not the probe's event about it (the snapshot, its JSON and the
 * socket cost the terminal's CPU after the screen is shown, which a board without the simulator's
 * control interface never spends). A build without the stamp: when the event arrived here.
 */
function shownAtMs(s: ProbeSnapshot): number {
  return s.timing.shownAtMonoMs ?? monotonicMs();
}

/** This process's children (the terminal's background verify is its only one), from /proc. */
function childrenOf(pid: number | undefined): number[] {
  try { return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
}

/** Longest wait for the terminal's background verify to start (BACKGROUND_VERIFY_DELAY_MS after the boot, once quiet). */
const VERIFY_START_WAIT_MS_MAX = 40_000;

/**
 * The first key of a sale pressed while the journal's background verify runs (its child started
 * `afterMs` before): the case boot/in-use.ts stops the child for. Undefined when the child never
 * started or was gone by the press. Ends at idle.
 */
async function firstKeyWhileVerifying(d: LaunchDriver, afterMs: number): Promise<KeyTime | undefined> {
  const pid = d.run!.child.pid;
  const deadline = performance.now() + VERIFY_START_WAIT_MS_MAX;
  while (childrenOf(pid).length === 0 && performance.now() < deadline) await sleep(20);
  if (childrenOf(pid).length === 0) return undefined;
  await sleep(afterMs);
  if (childrenOf(pid).length === 0) return undefined;
  const ms = await firstKeyMs(d, 60);
  const idle = whenState(d.run!.client, 'idle');
  await d.keys('CANCEL');
  await idle;
  return ms;
}

/** Key to screen typed spaced and fast, the first key of a sale, and that key during the background verify: the bench's lines. */
async function keyFigures(host: AcquirerSimulator, dir: string, launch: TerminalLaunch, where: string): Promise<string[]> {
  const lines: string[] = [];
  const d = new LaunchDriver(host, dir, launch);
  try {
    await toIdle(d);
    const firsts: KeyTime[] = [];
    for (const [label, holdMs, gapMs] of [['spaced', 60, 200], ['fast', 40, 25]] as const) {
      const rounds = [await keyToScreen(d, holdMs, gapMs), await keyToScreen(d, holdMs, gapMs)];
      firsts.push(...rounds.map((r) => r.firstMs));
      const lat = rounds.flatMap((r) => r.keysMs).filter((x) => Number.isFinite(x));
      lines.push(`  key to screen after the ${DEBOUNCE_MS} ms debounce, ${where}, ${label.padEnd(6)}: median ${median(lat).toFixed(1)} ms, 90th ${pct90(lat).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms (${lat.length} keys; goal <= 20 ms)`);
    }
    lines.push(`  first key of a sale (idle -> amount screen), ${where}: ${firsts.map(keyTimeText).join(', ')} ms`);
  } finally { await d.powerOff().catch(() => undefined); }
  // The same first key while the journal's background verify runs (once per boot, ~10 s after it).
  lines.push(`  first key of a sale ${VERIFY_KEY_AFTER_MS} ms after the background verify started, ${where}: ${await keysWhileVerifying(host, dir, launch)}`);
  return lines;
}

/** The first key of a sale pressed while the background verify runs, VERIFY_KEY_BOOTS fresh boots, as text. */
async function keysWhileVerifying(host: AcquirerSimulator, dir: string, launch: TerminalLaunch): Promise<string> {
  const during: Array<KeyTime | undefined> = [];
  for (let i = 0; i < VERIFY_KEY_BOOTS; i++) {
    const v = new LaunchDriver(host, dir, launch);
    try {
      await toIdle(v);
      during.push(await firstKeyWhileVerifying(v, VERIFY_KEY_AFTER_MS));
    } finally { await v.powerOff().catch(() => undefined); }
  }
  return `${during.map((x) => (x ? keyTimeText(x) : 'n/a (verify not running)')).join(', ')} ms`;
}

/** "12.3 (own 4.5)": after the debounce, and of it the terminal's decision -> screen. */
function keyTimeText(k: KeyTime): string {
  return `${k.ms.toFixed(1)} (own ${k.ownMs.toFixed(1)})`;
}

/** Key to screen at the amount entry: press on the matrix -> screen event, minus the debounce; and the sale's first key. */
async function keyToScreen(d: LaunchDriver, holdMs: number, gapMs: number): Promise<{ firstMs: KeyTime; keysMs: number[] }> {
  const client = d.run!.client;
  const changes: Array<{ atMs: number; text: string }> = [];
  let last = '';
  const off = client.onEvent((e) => {
    const s = e.state as ProbeSnapshot | undefined;
    const text = s?.screen.text.join('|') ?? '';
    if (s && text !== last) { last = text; changes.push({ atMs: shownAtMs(s), text }); }
  });
  const firstMs = await firstKeyMs(d, holdMs);
  await sleep(100);
  changes.length = 0;
  const pressed: number[] = [];
  for (const k of KEY_DIGITS) {
    pressed.push(monotonicMs());
    void client.request('down', { key: k });
    await sleep(holdMs);
    void client.request('up', { key: k });
    await sleep(gapMs);
  }
  await sleep(300);
  off();
  const idle = whenState(client, 'idle');
  await d.keys('CANCEL');
  await idle;
  // A digit past the maximum changes no amount: its answer is the refusal on the screen, the
  // first change after it and before the next press (none for a second refused digit: counted out).
  const keysMs = pressed.map((t, i) => {
    const shown = answerMs(changes, t, amountsAfter(i));
    if (Number.isFinite(shown)) return shown - DEBOUNCE_MS;
    const refusal = changes.find((c) => c.atMs >= t && c.atMs < (pressed[i + 1] ?? Infinity));
    return refusal ? refusal.atMs - t - DEBOUNCE_MS : NaN;
  });
  return { firstMs, keysMs };
}

/**
 * The amounts the entry shows from the i-th digit of KEY_DIGITS on (after the first key, 1 fen),
 * as yuan text. A press is answered by the first screen after it that shows its amount or a later
 * one: not by the i-th screen change, which another change (the status line) or two presses drawn
 * in one frame shift by a whole press (65 ms typed fast: session 13 read 69 ms "latencies" so).
 */
function amountsAfter(i: number): string[] {
  const out: string[] = [];
  let fen = 1;
  for (const [k, digit] of [...KEY_DIGITS].entries()) {
    fen = fen * 10 + Number(digit);
    if (k >= i) out.push(yuan(fen));
  }
  return out;
}

/** When the first screen after `pressedMs` showed one of `amounts` (¥12.34 or 12.34元); NaN if none did (a digit past the maximum). */
function answerMs(changes: ReadonlyArray<{ atMs: number; text: string }>, pressedMs: number, amounts: readonly string[]): number {
  const shown = changes.find((c) => c.atMs >= pressedMs && amounts.some((a) => c.text.includes(`¥${a}`) || c.text.includes(`${a}元`)));
  return shown ? shown.atMs - pressedMs : NaN;
}

function pct90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.9))];
}

/** Powers the terminal on and logs the cashier in (01 / 0000), to idle. */
async function toIdle(d: LaunchDriver): Promise<void> {
  await d.powerOn();
  await whenState(d.run!.client, 'login');
  await d.keys('01OK0000OK');
  await whenState(d.run!.client, 'idle');
}

/** The bundle's loader (scripts/image/bundle.ts, `npm run bundle`): the bundle through the code cache. */
const BUNDLE_LOADER = join(__dirname, '..', 'dist', 'bundle', 'terminal.js');
/** The selector the unit ran before boot-slot: the compiled CLI. */
const POS_CLI = join(__dirname, '..', 'dist', 'boot', 'pos.js');
const UNIT_FILE = join(__dirname, '..', 'boot', 'pos-terminal.service');

async function slowCpu(host: AcquirerSimulator): Promise<void> {
  if (!existsSync(DIST_MAIN)) throw new Error('compile first: npx tsc -p tsconfig.json');
  if (!existsSync(BUNDLE_LOADER)) throw new Error('bundle first: npm run bundle');
  const quota = chooseQuota();
  // BENCH_SLOW_QUOTA=0: this machine only (a quiet moment is short on a shared machine).
  const cg = process.env.BENCH_SLOW_QUOTA === '0' ? 'not asked for (BENCH_SLOW_QUOTA=0)' : makeCgroup(quota.pct);
  const dir = tempDir('bench-slow-');
  // One cache folder per build: a boot of the other build would rewrite the file with its own entries.
  const cacheDirOf = (build: string): string => join(dir, `code-cache-${build}`);
  const env = (build: string, cache: boolean): NodeJS.ProcessEnv => ({ ...process.env, POS_CODE_CACHE: cache ? '1' : '0', POS_CODE_CACHE_DIR: cacheDirOf(build), POS_CODE_CACHE_WRITE_AFTER_MS: '1000' });
  const baseline = process.env.BENCH_BASELINE_BUNDLE ? resolve(process.env.BENCH_BASELINE_BUNDLE) : BUNDLE_LOADER;
  if (!existsSync(baseline)) throw new Error(`BENCH_BASELINE_BUNDLE: no ${baseline}`);
  const unit = readFileSync(UNIT_FILE, 'utf8');
  const unitFlags = unitNodeFlags(unit);
  const unitEnv = (build: string, cache: boolean): NodeJS.ProcessEnv => ({ ...env(build, cache), ...unitMallocEnv(unit) });
  const otherSideEnv = (): NodeJS.ProcessEnv => ({ ...unitEnv('other', true), ...otherEnv });
  // The slot root the selector reads (nothing pending: its normal boot, as the unit ran it on every start).
  const slotRoot = join(dir, 'slots');
  initSlots(slotRoot, '1.0.0');
  // BENCH_OTHER_FLAGS: the same bundle with other node flags beside the unit's, in the same run
  // (a flag's cost measured where its saving is claimed); its own code cache, as V8 refuses a cache
  // made under other flags.
  // BENCH_OTHER_ENV="NAME=value ...": that side's environment too (e.g. POS_PROCESS_NATIVE=0: the
  // verify's child started by node's fork-based spawn); alone, with the unit's flags.
  const otherEnv = Object.fromEntries((process.env.BENCH_OTHER_ENV ?? '').split(/\s+/).filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const otherFlags = process.env.BENCH_OTHER_FLAGS?.split(/\s+/).filter(Boolean) ?? (process.env.BENCH_OTHER_ENV ? unitFlags : undefined);
  const builds = [
    { name: 'before', main: baseline, flags: unitFlags }, { name: 'now', main: BUNDLE_LOADER, flags: unitFlags },
    ...(otherFlags ? [{ name: 'other', main: BUNDLE_LOADER, flags: otherFlags }] : []),
  ];
  const configs: Array<{ name: string; launch: TerminalLaunch; selector?: SelectorRun; slowCore?: boolean }> = [];
  const where = typeof cg === 'string' ? [{ name: 'here', wrap: undefined }] : [{ name: 'here', wrap: undefined }, { name: `quota ${quota.pct}%`, wrap: cg.wrap }];
  for (const w of where) {
    const wrap = w.wrap ? { wrap: w.wrap } : {};
    // BENCH_BEFORE_SELECTOR=0: the bundle as it was alone (a change inside the bundle measured against the bundle before it).
    if (process.env.BENCH_BEFORE_SELECTOR === '0') configs.push({ name: `${w.name}, before: bundle as it was, code cache`, launch: { ...wrap, nodeArgs: [...unitFlags, baseline], env: unitEnv('before', true) } });
    else configs.push({ name: `${w.name}, before: selector + bundle, code cache`, launch: { ...wrap, nodeArgs: [...unitFlags, baseline], env: unitEnv('before', true) }, selector: { wrap: w.wrap ?? [], root: slotRoot } });
    for (const cache of [true, false]) configs.push({ name: `${w.name}, now: bundle, ${cache ? 'code cache' : 'no code cache'}`, launch: { ...wrap, nodeArgs: [...unitFlags, BUNDLE_LOADER], env: unitEnv('now', cache) } });
    if (otherFlags) configs.push({ name: `${w.name}, ${OTHER_FLAGS_LABEL}: bundle, code cache`, launch: { ...wrap, nodeArgs: [...otherFlags, BUNDLE_LOADER], env: otherSideEnv() } });
  }
  // The slow-core model beside the quota (startRtHog): the unit's path only. BENCH_SLOW_CORE=0 leaves it out.
  const slowCore = typeof cg === 'string' || process.env.BENCH_SLOW_CORE === '0' ? 'not asked for' : probeRtHog(quota.pct);
  if (slowCore === undefined) {
    const wrap = ['taskset', '-c', slowCoreCpu()];
    configs.push({ name: `one core at ${quota.pct}%, now: bundle, code cache`, launch: { wrap, nodeArgs: [...unitFlags, BUNDLE_LOADER], env: unitEnv('now', true) }, slowCore: true });
    if (otherFlags) configs.push({ name: `one core at ${quota.pct}%, ${OTHER_FLAGS_LABEL}: bundle, code cache`, launch: { wrap, nodeArgs: [...otherFlags, BUNDLE_LOADER], env: otherSideEnv() }, slowCore: true });
  }
  const lines: string[] = [];
  try {
    // The journal and the operators exist (a normal boot), and each build's code cache is written
    // once, by a boot that logs in: the cache is written at the first idle (boot/code-cache.ts), a
    // baseline before session 30 writes it POS_CODE_CACHE_WRITE_AFTER_MS after the start.
    for (const b of builds) {
      const first = new LaunchDriver(host, dir, { nodeArgs: [...b.flags, b.main], env: b.name === 'other' ? otherSideEnv() : unitEnv(b.name, true) });
      await toIdle(first);
      const deadline = Date.now() + CACHE_WRITE_WAIT_MS_MAX;
      while (!existsSync(codeCacheFile(cacheDirOf(b.name))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      await first.powerOff();
    }
    const baseX86 = median(Array.from({ length: 5 }, () => spawnMs()));
    const baseQuota = typeof cg === 'string' ? NaN : median(Array.from({ length: 5 }, () => spawnMs(cg.wrap)));
    lines.push(`slow CPU (issue 14 goal 6): quota ${quota.pct}% of one CPU, ${typeof cg === 'string' ? `NOT APPLIED: ${cg}` : `cgroup period ${CGROUP_PERIOD_US / 1000} ms`}`);
    lines.push(`  calibration: ${quota.how}`);
    lines.push(`  as the unit starts it: ${unitFlags.join(' ')} ${Object.entries(unitMallocEnv(unit)).map(([k, v]) => `${k}=${v}`).join(' ')}; before = ${baseline === BUNDLE_LOADER ? 'the selector + the current bundle (no BENCH_BASELINE_BUNDLE: only the selector differs)' : `the selector + ${baseline}`}`);
    if (otherFlags) lines.push(`  ${OTHER_FLAGS_LABEL} (BENCH_OTHER_FLAGS, BENCH_OTHER_ENV): ${otherFlags.join(' ')} ${process.env.BENCH_OTHER_ENV ?? ''}`);
    lines.push(`  load average at the start: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    lines.push(`  baseline node -e 0: ${baseX86.toFixed(0)} ms here, ${baseQuota.toFixed(0)} ms under the quota (${(baseQuota / baseX86).toFixed(1)}x)`);
    // The terminal's allocator settings give each check's N x r x 128 bytes back at its end (a fresh
    // mmap each time: the first touch of every page is paid at every login); node's defaults keep
    // them after the first check, so the later ones run on touched pages.
    for (const n of [1 << 14, 1 << 13]) {
      const fig = (wrap: readonly string[]): string => {
        const unitRun = scryptMs(wrap, n, { ...process.env, ...unitMallocEnv(unit) });
        const plain = scryptMs(wrap, n, process.env);
        return `${unitRun.coldMs.toFixed(0)} / ${unitRun.warmMs.toFixed(0)} ms as the unit runs it (first / then), node's allocator defaults ${plain.coldMs.toFixed(0)} / ${plain.warmMs.toFixed(0)} ms`;
      };
      lines.push(`  password check (scrypt N = 2^${Math.log2(n)}, r 8, ${(n * 8 * 128) >> 20} MB): here ${fig([])}; under the quota ${typeof cg === 'string' ? 'n/a' : fig(cg.wrap)}`);
    }
    lines.push(`  ${SLOW_RUNS} normal boots each, configurations in turn, medians; goals: start -> idle <= 400 ms here, <= 2000 ms under the quota`);
    // Round robin: one boot of each configuration in turn, SLOW_RUNS times, so a machine whose
    // load drifts (other jobs) weighs on every configuration alike, not on the last ones.
    const runs: SlowFigures[][] = configs.map(() => []);
    for (let i = 0; i < SLOW_RUNS; i++) {
      for (const [k, c] of configs.entries()) {
        const d = new LaunchDriver(host, dir, c.launch, c.selector);
        const hog = c.slowCore ? mustStartRtHog(quota.pct) : undefined;
        try {
          runs[k].push(await bootToIdle(d));
        } catch (e) {
          const s = await d.snapshot().catch(() => undefined);
          throw new Error(`${c.name}: ${String(e)}; at ${s?.state} ${JSON.stringify(s?.screen.text)}; log ${d.run?.log.slice(-5).join(' / ')}`);
        } finally { await d.powerOff().catch(() => undefined); hog?.stop(); }
      }
    }
    for (const [k, c] of configs.entries()) {
      const m = (f: keyof SlowFigures): number => median(runs[k].map((r) => r[f]));
      const each = runs[k].map((r) => (r.loginMs + r.okToIdleMs).toFixed(0)).join(' ');
      lines.push(`  ${c.name.padEnd(48)} start -> control up ${m('readyMs').toFixed(0).padStart(5)} ms, -> login ${m('loginMs').toFixed(0).padStart(5)} ms (terminal's own ${m('ownLoginMs').toFixed(0)}), OK -> idle ${m('okToIdleMs').toFixed(0).padStart(4)} ms; start -> idle ${(m('loginMs') + m('okToIdleMs')).toFixed(0).padStart(5)} ms; CPU to login ${m('cpuLoginMs').toFixed(0).padStart(4)} ms, to idle ${m('cpuIdleMs').toFixed(0).padStart(4)} ms${typeof cg === 'string' ? '' : ` (/ quota: ${(m('cpuIdleMs') / (quota.pct / 100)).toFixed(0)} ms)`}; of it system ${m('sysIdleMs').toFixed(0)} ms, ${m('faultsIdle').toFixed(0)} page faults; each boot's start -> idle ${each} ms; login keys' own key -> screen at most ${Math.max(...runs[k].map((r) => r.loginKeyOwnMaxMs)).toFixed(1)} ms`);
    }
    lines.push(`  load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    // Key to screen: the unit's path with the code cache.
    for (const c of configs.filter((x) => process.env.BENCH_KEYS !== '0' && /, (now|other flags): bundle, code cache$/.test(x.name))) {
      const where = c.name.replace(': bundle, code cache', '').replace(', now', '');
      const hog = c.slowCore ? mustStartRtHog(quota.pct) : undefined;
      try {
        lines.push(...await keyFigures(host, dir, c.launch, where));
      } finally { hog?.stop(); }
    }
    if (typeof slowCore === 'string') lines.push(`  one slow core (a real-time loop leaving ${quota.pct}% of a core): ${slowCore}`);
  } finally {
    console.log(lines.join('\n'));
    if (typeof cg !== 'string') { try { cg.remove(); } catch { /* a process still in it: removed by the next reboot */ } }
    removeDir(dir);
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(__dirname, '..', 'dist', 'boot', 'terminal-main.js'))) throw new Error('compile first: npx tsc -p tsconfig.json');
  if (process.env.BENCH_SLOW_CPU !== '0') {
    const slowHost = new AcquirerSimulator({ clock: Date.now });
    await slowHost.listen(0);
    try { await slowCpu(slowHost); } finally { await slowHost.close(); }
    if (process.env.BENCH_SLOW_CPU === 'only') return;
  }
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
      // A factory-fresh journal starts its STANs at 1 again: the host must take it as a new unit.
      host.forgetStans(TEST_TERMINAL.tid);
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
    console.log(`  last OK -> idle (OK pressed and released, operator check) ${median(okToIdle).toFixed(0)} ms`);
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

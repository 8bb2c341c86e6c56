/**
 * Shared set-up of the guest tests: tools checked (skip loudly, fail under POS_REQUIRE_TOOLS=1),
 * the disk built once per test file, a guest booted on a copy of it, and a Driver
 * (tests/e2e/driver.ts) on the guest terminal's control interface.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { needTool } from '../support/tools';
import { ControlClient } from '../../sim/control-client';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { Driver } from '../e2e/driver';
import { buildGuestDisk, GuestDisk } from './guest-disk';
import { Guest } from './qemu';

export const GUEST_TOOLS = ['qemu-system-x86_64', 'mmdebstrap', 'sfdisk', 'mke2fs', 'debugfs', 'apt-get', 'dpkg'] as const;
/** From the agent up to systemd reporting the unit active (node's start and the boot under TCG). */
export const UNIT_ACTIVE_MS_MAX = 240_000;

export function needGuestTools(ctx: Mocha.Context): void {
  for (const t of GUEST_TOOLS) needTool(ctx, t);
  if (process.getuid?.() !== 0) {
    const message = 'guest tests need root (the flashed disk\'s file owners)';
    if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
    process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
    ctx.skip();
  }
}

export interface GuestBench {
  dir: string;
  disk: GuestDisk;
  host: AcquirerSimulator;
}

export interface GuestBenchOptions {
  /**
   * 'test' (the default): an acquirer simulator for each test, which boots its own fresh disk.
   * 'file': one for the whole file, whose tests go on with one booted guest (its STANs go on).
   */
  readonly hostPer?: 'test' | 'file';
}

/** In a describe: a folder and the disk for the whole file, an acquirer simulator for each test (or the file). */
export function guestBench(prefix: string, options: GuestBenchOptions = {}): GuestBench {
  const bench = {} as GuestBench;
  before(async function () {
    this.timeout(20 * 60_000);
    needGuestTools(this);
    bench.dir = mkdtempSync(join(tmpdir(), prefix));
    const built = !sharedDisk;
    bench.disk = sharedGuestDisk();
    process.stderr.write(built
      ? `      guest disk built in ${(bench.disk.buildMs / 1000).toFixed(1)} s (release image ${bench.disk.imageBuildMs ? `built in ${(bench.disk.imageBuildMs / 1000).toFixed(1)} s` : "cached"})\n`
      : '      guest disk: the one an earlier file of this run built\n');
  });
  // An acquirer simulator per test, as tests/e2e/driver.ts terminalPerTest: every test boots a
  // factory-fresh disk, the same TID with a new journal from STAN 1, and a host kept from an
  // earlier test answers that STAN 94 (duplicate transmission: its STAN window and ledger still
  // hold it), so the second test of a file to sign on was refused (E-HOST-05, "Host down").
  const perFile = options.hostPer === 'file';
  const startHost = async (): Promise<void> => {
    bench.host = new AcquirerSimulator({ clock: Date.now });
    await bench.host.listen(0);
  };
  const stopHost = async (): Promise<void> => { await bench.host?.close(); };
  if (perFile) {
    before(startHost);
    after(stopHost);
  } else {
    beforeEach(startHost);
    afterEach(stopHost);
  }
  after(() => {
    if (bench.dir) rmSync(bench.dir, { recursive: true, force: true });
  });
  return bench;
}

/**
 * The default guest disk, built once per process: every guestBench file boots copies of the same
 * disk (freshDisk), and each build is 20-35 s of a core here. Kept in its own folder until the
 * process exits (a file's folder goes with its `after`).
 */
let sharedDisk: GuestDisk | undefined;
function sharedGuestDisk(): GuestDisk {
  if (sharedDisk) return sharedDisk;
  const dir = mkdtempSync(join(tmpdir(), 'pos-guest-disk-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  sharedDisk = buildGuestDisk(join(dir, 'disk'));
  return sharedDisk;
}

/** A fresh copy of the flashed disk (sparse), so every test starts from the factory state. */
export function freshDisk(bench: GuestBench, name: string): string {
  const copy = join(bench.dir, `${name}.img`);
  execFileSync('cp', ['--sparse=always', bench.disk.image, copy]);
  return copy;
}

/** `append`: more kernel command line, e.g. `systemd.mask=pos-terminal.service` for a boot without the terminal. */
export async function bootGuest(bench: GuestBench, disk: string, runName: string, append = ''): Promise<Guest> {
  const runDir = join(bench.dir, runName);
  execFileSync('mkdir', ['-p', runDir]);
  return Guest.boot({ disk, kernel: bench.disk.artifacts.kernel, initrd: bench.disk.artifacts.initrd, runDir, append: `pos.hostport=${bench.host.port} ${append}`.trim() });
}

/**
 * Seconds between the guest's own checks while it waits for something. Each check is a command
 * of the guest's one TCG CPU: `systemctl is-active` costs 0.2-0.4 s of it, and asked from the host
 * every half second (a round trip through the agent each) the checks took 13 s of CPU while the
 * terminal started (14 s of its own): the start they waited for took the longer for them.
 */
export const GUEST_POLL_S = 2;

/**
 * Runs `check` (a shell condition) in the guest every GUEST_POLL_S until it holds, as one agent
 * command: the guest waits on its own, no round trip per check. Throws with `report`'s output
 * (run in the guest) when `timeoutMs` passes first.
 */
export async function guestWaitFor(g: Guest, check: string, timeoutMs: number, report: string): Promise<void> {
  const timeoutS = Math.ceil(timeoutMs / 1000);
  // /proc/uptime read by the shell's own `read`: no process per check beyond `check` itself.
  const script = `read up _ </proc/uptime; end=$((\${up%.*} + ${timeoutS})); until ${check}; do read up _ </proc/uptime; [ "\${up%.*}" -ge "$end" ] && { ${report}; exit 1; }; sleep ${GUEST_POLL_S}; done`;
  const r = await g.run(script, timeoutMs + AGENT_COMMAND_SLACK_MS);
  if (r.code !== 0) throw new Error(`waited ${timeoutMs} ms in the guest for: ${check}; ${report}: ${r.out.trim()}`);
}
/** The agent's answer may come this long after the guest's own deadline (a check in progress, TCG). */
const AGENT_COMMAND_SLACK_MS = 30_000;

/** Waits for `systemctl is-active pos-terminal` to say active; the ms it took from QEMU's start. */
export async function waitUnitActive(g: Guest, timeoutMs = UNIT_ACTIVE_MS_MAX): Promise<number> {
  await guestWaitFor(g, 'systemctl is-active -q pos-terminal.service', timeoutMs, 'systemctl is-active pos-terminal.service');
  return Date.now() - g.startedMs;
}

export async function unitProperty(g: Guest, name: string): Promise<string> {
  return (await g.sh(`systemctl show -p ${name} --value pos-terminal.service`)).trim();
}

/**
 * Between a guest Driver's questions while it waits (tests/e2e/driver.ts asks every 40 ms): each
 * goes through QEMU's user network and the guest's relay to the terminal, work for the guest's one
 * TCG CPU that the terminal's own steps are waiting for.
 */
export const GUEST_DRIVER_POLL_MS = 250;

/** A Driver (tests/e2e/driver.ts) on the guest terminal's control interface, through the relay. */
export async function guestDriver(bench: GuestBench, g: Guest): Promise<Driver> {
  const d = new Driver(bench.host, bench.dir);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const client = await ControlClient.connect(g.controlPort);
      const probe = await client.request('state');
      if (!probe.ok) throw new Error(String(probe.error));
      // The terminal is systemd's child in the guest, not ours: Driver's power methods are not used.
      d.run = { child: undefined as unknown as ChildProcess, client, controlPort: g.controlPort, log: [] };
      d.pollMs = GUEST_DRIVER_POLL_MS;
      return d;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`the guest terminal's control interface: ${String(e)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Each step of a sale in the guest may take this long (TCG: a password check is a 16 MB scrypt). */
export const GUEST_STEP_MS_MAX = 120_000;

/**
 * From a boot to the rest state: the login screen (pending work resumed first), OK to the reprint
 * offer on the way (a receipt's printed mark rides on a later commit, so a cut or a kill before one
 * offers the copy again). Fails at once on a boot into recovery or the storage failure screen.
 */
export async function restAfterBoot(d: Driver, timeoutMs = GUEST_STEP_MS_MAX): Promise<{ state: string; notice?: string }> {
  const deadline = Date.now() + timeoutMs;
  let notice: string | undefined;
  for (;;) {
    const s = await d.snapshot().catch(() => undefined);
    if (s?.data.notice !== undefined) notice = String(s.data.notice);
    if (s?.state === 'login') return { state: 'login', ...(notice ? { notice } : {}) };
    if (s?.state === 'offerReprint') { await d.cmd('press', { key: 'OK' }); await new Promise((r) => setTimeout(r, 500)); continue; }
    if (s && /^(recovery|storageFailure)/.test(s.state)) throw new Error(`booted into ${s.state}: ${JSON.stringify(s.data.error ?? s.data)}`);
    if (Date.now() > deadline) throw new Error(`no login screen ${timeoutMs} ms after the unit started (last state ${s?.state})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** From the login screen to idle: the cashier signs in, the terminal signs on to the host. */
export async function guestSignIn(d: Driver): Promise<void> {
  await d.until('login', () => true, GUEST_STEP_MS_MAX);
  await d.typeLogin('cashier');
  await d.until('idle', () => true, GUEST_STEP_MS_MAX);
}

/** One swipe sale from idle (as Driver.sale, with the guest's step time): acknowledged at idle. */
export async function guestSale(d: Driver, amount: string): Promise<void> {
  await d.keys(`${amount}OK`);
  await d.until('sale.card', () => true, GUEST_STEP_MS_MAX);
  await d.cmd('swipe', { card: 'magDebit' });
  await d.until('sale.askCustomerCopy', () => true, GUEST_STEP_MS_MAX);
  await d.keys('2');
  await d.until('sale.signature', () => true, GUEST_STEP_MS_MAX);
  await d.keys('OK');
  await d.until('idle', () => true, GUEST_STEP_MS_MAX);
}

/** Names a failed guest test's error at once (the run is long; mocha's summary comes at the end). */
export function reportFailuresAtOnce(): void {
  afterEach(function () {
    const t = this.currentTest;
    if (t?.state === 'failed') process.stderr.write(`      FAILED ${t.title}: ${t.err?.stack ?? String(t.err)}\n`);
  });
}

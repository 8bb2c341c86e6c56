/**
 * npm run bench:fleet: N simulated terminals (the real management client, runtime/mgmt/, each with
 * its own TLS session, username and password) against one mosquitto on loopback, and a console
 * that watches every status and sends commands. Prints, for a baseline fleet (BENCH_FLEET_BASE,
 * default 10) and the fleet (BENCH_FLEET_N, default 200; the 1,000 with BENCH_FLEET_N=1000),
 * each in the same run:
 *   - time for the whole fleet to connect (TLS + password check + subscribe + first status);
 *   - messages/s the console receives while every terminal sends its heartbeat status every
 *     HEARTBEAT_MS (N/s offered), over WINDOW_MS;
 *   - command round trip (console publish -> the terminal's `done` ack at the console), p50/p95,
 *     one command at a time to terminals drawn in turn, and the whole fleet commanded at once
 *     (time until every done ack is back, commands/s);
 *   - broker RSS (VmRSS of the mosquitto process) idle before, with the fleet connected, after.
 * The terminals, the console and the measuring all run in this one Node process on this machine
 * (2 cores here), so the figures bound the broker from below: a real fleet spreads the clients.
 */
import { connect } from 'mqtt';
import pino from 'pino';
import { ManagementClient, MgmtTerminal } from '../runtime/mgmt/client';
import type { StatusInput } from '../runtime/mgmt/protocol';
import { CONSOLE_PASSWORD, CONSOLE_USER, TestBroker, mosquittoMissing } from '../tests/support/mosquitto';

const FLEET_N = Number(process.env.BENCH_FLEET_N ?? 200);
const BASE_N = Number(process.env.BENCH_FLEET_BASE ?? 10);
const HEARTBEAT_MS = 1_000;
const WINDOW_MS = Number(process.env.BENCH_FLEET_WINDOW_MS ?? 5_000);
const RTT_SAMPLES = 50;
/** The fleet must be connected within this; a slower machine is reported as a failure. */
const CONNECT_WAIT_MS_MAX = 180_000;
const COMMAND_WAIT_MS_MAX = 60_000;

class BenchTerminal implements MgmtTerminal {
  status(): StatusInput {
    return { version: 'bench', batteryPercent: 80, storageFreeKiB: 50_000, network: { link: 'wwan0' }, lastErrors: [], anomalies: [], sellingLocked: false, versionFlagged: false, flaggedVersions: [], state: 'idle', uptimeS: 0 };
  }
  async setParams(): Promise<never> { throw new Error('not in the bench'); }
  async diagnostics(): Promise<unknown> { return []; }
  async logs(): Promise<{ text: string; source: string }> { return { text: '', source: 'memory' }; }
  isIdle(): boolean { return true; }
  reboot(): void {}
  async setSellingLocked(): Promise<void> {}
  async setVersionFlag(): Promise<void> {}
  flaggedVersions(): string[] { return []; }
}

const serialOf = (i: number): string => `SN-BENCH-${String(i).padStart(5, '0')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

interface Figures { n: number; benchCpuPct: number; brokerCpuPct: number; connectS: number; msgsPerS: number; offeredPerS: number; rttP50Ms: number; rttP95Ms: number; burstS: number; burstPerS: number; rssIdleKiB: number; rssFleetKiB: number; rssAfterKiB: number }

async function waitUntil(what: string, limitMs: number, cond: () => boolean): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(10);
  }
}

async function fleet(n: number): Promise<Figures> {
  const users: Record<string, string> = {};
  for (let i = 0; i < n; i++) users[serialOf(i)] = `pw-${i}`;
  const broker = await TestBroker.create(users);
  const statusAt = new Map<string, number>();
  let statuses = 0;
  const acks = new Map<string, number>(); // command id -> when its done ack arrived
  const console = connect(broker.url, { protocolVersion: 5, username: CONSOLE_USER, password: CONSOLE_PASSWORD, ca: broker.pki.caPem, reconnectPeriod: 1000 });
  console.on('message', (topic, payload) => {
    if (topic.endsWith('/status')) { statuses++; statusAt.set(topic, Date.now()); return; }
    if (topic.endsWith('/ack')) {
      const a = JSON.parse(payload.toString()) as { id: string; result: string };
      if (a.result === 'done') acks.set(a.id, Date.now());
    }
  });
  await new Promise<void>((resolve, reject) => { console.once('connect', () => resolve()); console.once('error', reject); });
  (console.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  await console.subscribeAsync(['pos/+/status', 'pos/+/ack'], { qos: 1 });
  const rssIdleKiB = broker.rssKiB();
  const clients: ManagementClient[] = [];
  try {
    const t0 = Date.now();
    const logger = pino({ level: 'silent' });
    for (let i = 0; i < n; i++) {
      clients.push(ManagementClient.start({
        config: { url: broker.url, serial: serialOf(i), username: serialOf(i), password: `pw-${i}`, caPem: broker.pki.caPem, heartbeatMs: HEARTBEAT_MS, statusCheckMs: 60_000, reconnectMs: 2_000, connectTimeoutMs: 60_000 },
        terminal: new BenchTerminal(), logger, clock: Date.now,
      }));
      // A fleet does not connect in one tick; 50 handshakes at a time keep the event loop answering.
      if (i % 50 === 49) await sleep(5);
    }
    await waitUntil(`${n} terminals connected with a first status`, CONNECT_WAIT_MS_MAX, () => statusAt.size >= n);
    const connectS = (Date.now() - t0) / 1000;
    const rssFleetKiB = broker.rssKiB();

    // Heartbeats for WINDOW_MS.
    await sleep(HEARTBEAT_MS);
    const before = statuses;
    const w0 = Date.now();
    const cpu0 = process.cpuUsage();
    const brokerCpu0 = broker.cpuMs();
    await sleep(WINDOW_MS);
    const windowMs = Date.now() - w0;
    const msgsPerS = (statuses - before) / (windowMs / 1000);
    const cpu = process.cpuUsage(cpu0);
    // Who is saturated: this process (the N clients and the console) or the broker (one thread).
    const benchCpuPct = (100 * (cpu.user + cpu.system)) / 1000 / windowMs;
    const brokerCpuPct = (100 * (broker.cpuMs() - brokerCpu0)) / windowMs;

    // Round trips one at a time.
    const rtts: number[] = [];
    for (let k = 0; k < RTT_SAMPLES; k++) {
      const id = `rtt-${k}`;
      const sent = Date.now();
      console.publish(`pos/${serialOf((k * 7) % n)}/cmd`, JSON.stringify({ id, cmd: 'status' }), { qos: 1 });
      await waitUntil(`ack ${id}`, COMMAND_WAIT_MS_MAX, () => acks.has(id));
      rtts.push((acks.get(id) as number) - sent);
    }

    // The whole fleet at once.
    const b0 = Date.now();
    for (let i = 0; i < n; i++) console.publish(`pos/${serialOf(i)}/cmd`, JSON.stringify({ id: `burst-${i}`, cmd: 'diagnostics' }), { qos: 1 });
    await waitUntil('every burst ack', COMMAND_WAIT_MS_MAX, () => { for (let i = 0; i < n; i++) if (!acks.has(`burst-${i}`)) return false; return true; });
    const burstS = (Date.now() - b0) / 1000;
    const rssAfterKiB = broker.rssKiB();
    return { n, benchCpuPct, brokerCpuPct, connectS, msgsPerS, offeredPerS: n * 1000 / HEARTBEAT_MS, rttP50Ms: pct(rtts, 0.5), rttP95Ms: pct(rtts, 0.95), burstS, burstPerS: n / burstS, rssIdleKiB, rssFleetKiB, rssAfterKiB };
  } finally {
    for (const c of clients) c.kill();
    await console.endAsync(true);
    await broker.destroy();
  }
}

function line(f: Figures): string {
  return `N=${String(f.n).padStart(5)}  connect ${f.connectS.toFixed(2)} s  heartbeats ${f.msgsPerS.toFixed(0)} msg/s (offered ${f.offeredPerS.toFixed(0)}; CPU: clients ${f.benchCpuPct.toFixed(0)}%, broker ${f.brokerCpuPct.toFixed(0)}%)  ` +
    `command RTT p50 ${f.rttP50Ms} ms p95 ${f.rttP95Ms} ms  all at once ${f.burstS.toFixed(2)} s (${f.burstPerS.toFixed(0)} commands/s)  ` +
    `broker RSS ${(f.rssIdleKiB / 1024).toFixed(1)} -> ${(f.rssFleetKiB / 1024).toFixed(1)} -> ${(f.rssAfterKiB / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  const missing = mosquittoMissing();
  if (missing) { process.stderr.write(`bench:fleet: ${missing}\n`); process.exit(1); }
  process.stdout.write(`fleet benchmark: one mosquitto (TLS, password file, ACL), heartbeat every ${HEARTBEAT_MS} ms, window ${WINDOW_MS} ms, ${RTT_SAMPLES} round trips\n`);
  const base = await fleet(BASE_N);
  process.stdout.write(`baseline ${line(base)}\n`);
  const big = await fleet(FLEET_N);
  process.stdout.write(`fleet    ${line(big)}\n`);
  process.stdout.write(`ratios: RTT p50 ${(big.rttP50Ms / Math.max(1, base.rttP50Ms)).toFixed(2)}x the baseline's; broker RSS per connected terminal ${((big.rssFleetKiB - big.rssIdleKiB) / big.n).toFixed(1)} KiB ` +
    `(baseline ${((base.rssFleetKiB - base.rssIdleKiB) / base.n).toFixed(1)} KiB); heartbeats delivered ${(100 * big.msgsPerS / big.offeredPerS).toFixed(0)}% of offered (baseline ${(100 * base.msgsPerS / base.offeredPerS).toFixed(0)}%)\n`);
}

main().catch((e: unknown) => { process.stderr.write(`bench:fleet failed: ${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });

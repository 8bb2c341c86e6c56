/**
 * Link failover on real Linux networking (issue 12 item 3): two network namespaces, no mocks.
 *
 *   terminal namespace                       host namespace
 *   wl (10.71.1.2) ── veth "Wi-Fi" ──────── wlh (10.71.1.1)     acquirer simulator on 10.71.9.1
 *   ww (10.71.2.2) ── veth "4G" ──────────── wwh (10.71.2.1)     (an address on the host's lo)
 *
 * The terminal namespace has NO default route in its main table: only source routing, one table
 * per link (`ip rule from 10.71.1.2 lookup 101`, default via 10.71.1.1 there; 102 for ww), as a
 * board with NetworkManager/systemd-networkd per-link routing has. So a connection reaches the
 * host only because runtime/host/failover.ts binds it to a link's address, and the host's side
 * sees which link it came over (its source address). The sign-on is a real 0800 to the acquirer
 * simulator, through the failover transport in a child process in the terminal namespace.
 *
 * Needs root and `ip` with network namespaces (iproute2); skips loudly without, fails under
 * POS_REQUIRE_TOOLS=1.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LinkCheckReport } from '../../boot/link-check';
import { nodeArgsFor } from '../../common/spawn';

const NS_T = `posft-t-${process.pid}`;
const NS_H = `posft-h-${process.pid}`;
const HOST_ADDRESS = '10.71.9.1';
const LINKS = [{ name: 'wifi0', interface: 'wl' }, { name: 'modem0', interface: 'ww' }];
const CONNECT_TIMEOUT_MS = 2_000;
const RESPONSE_TIMEOUT_MS = 8_000;
const CHILD = join(__dirname, 'failover-netns-child');
/** A child's one answer line; its node's start is most of it. */
const CHILD_WAIT_MS_MAX = 60_000;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Root and network namespaces with veth pairs, or why not. */
function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = `posft-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('-n', probe, 'link', 'add', 'vprobe0', 'type', 'veth', 'peer', 'name', 'vprobe1');
    return undefined;
  } catch (e) {
    return `ip netns / veth not usable: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`;
  } finally {
    try { ip('netns', 'del', probe); } catch { /* never made */ }
  }
}

function setUpNamespaces(): void {
  ip('netns', 'add', NS_T);
  ip('netns', 'add', NS_H);
  for (const ns of [NS_T, NS_H]) ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('link', 'add', 'wl', 'netns', NS_T, 'type', 'veth', 'peer', 'name', 'wlh', 'netns', NS_H);
  ip('link', 'add', 'ww', 'netns', NS_T, 'type', 'veth', 'peer', 'name', 'wwh', 'netns', NS_H);
  ip('-n', NS_T, 'addr', 'add', '10.71.1.2/24', 'dev', 'wl');
  ip('-n', NS_T, 'addr', 'add', '10.71.2.2/24', 'dev', 'ww');
  ip('-n', NS_H, 'addr', 'add', '10.71.1.1/24', 'dev', 'wlh');
  ip('-n', NS_H, 'addr', 'add', '10.71.2.1/24', 'dev', 'wwh');
  ip('-n', NS_H, 'addr', 'add', `${HOST_ADDRESS}/32`, 'dev', 'lo');
  for (const d of ['wl', 'ww']) ip('-n', NS_T, 'link', 'set', d, 'up');
  for (const d of ['wlh', 'wwh']) ip('-n', NS_H, 'link', 'set', d, 'up');
  // Source routing only: what a board's per-link routing tables do.
  ip('-n', NS_T, 'rule', 'add', 'from', '10.71.1.2', 'lookup', '101');
  ip('-n', NS_T, 'route', 'add', 'default', 'via', '10.71.1.1', 'dev', 'wl', 'table', '101');
  ip('-n', NS_T, 'rule', 'add', 'from', '10.71.2.2', 'lookup', '102');
  ip('-n', NS_T, 'route', 'add', 'default', 'via', '10.71.2.1', 'dev', 'ww', 'table', '102');
}

function tearDownNamespaces(): void {
  for (const ns of [NS_T, NS_H]) { try { ip('netns', 'del', ns); } catch { /* not made */ } }
}

function runChild(ns: string, mode: string, args: object): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgsFor(CHILD), mode, JSON.stringify(args)], {
    cwd: join(__dirname, '..', '..'), stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** The child's JSON lines as they come. */
function lines(child: ChildProcess): { next(): Promise<Record<string, unknown>>; seen: Array<Record<string, unknown>> } {
  const seen: Array<Record<string, unknown>> = [];
  const waiting: Array<(o: Record<string, unknown>) => void> = [];
  const queue: Array<Record<string, unknown>> = [];
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    seen.push(o);
    const w = waiting.shift();
    if (w) w(o); else queue.push(o);
  });
  return {
    seen,
    next: () => new Promise((resolve, reject) => {
      const q = queue.shift();
      if (q) { resolve(q); return; }
      const timer = setTimeout(() => reject(new Error(`no line from the child in ${CHILD_WAIT_MS_MAX} ms`)), CHILD_WAIT_MS_MAX);
      waiting.push((o) => { clearTimeout(timer); resolve(o); });
    }),
  };
}

interface SignOnOutcome {
  readonly ok: boolean;
  readonly responseCode?: string;
  readonly code?: string;
  readonly link?: { link: string; interface: string; localAddress: string; failed: Array<{ link: string; code?: string; ms: number }> };
  readonly detail?: { links?: Array<{ link: string; code?: string }>; requestSent?: boolean };
  readonly ms: number;
}

describe('link failover on real namespaces (ip netns, veth, source routing)', function () {
  this.timeout(120_000);
  let host: ChildProcess | undefined;
  let hostLines: ReturnType<typeof lines>;
  let port = 0;

  before(async function () {
    const why = netnsUnavailable();
    if (why !== undefined) {
      const message = `link failover netns tests cannot run: ${why}`;
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
      process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
      this.skip();
    }
    setUpNamespaces();
    host = runChild(NS_H, 'host', { address: HOST_ADDRESS });
    hostLines = lines(host);
    port = Number((await hostLines.next()).listening);
  });

  after(() => {
    host?.stdin?.end();
    host?.kill();
    tearDownNamespaces();
  });

  let stan = 0;
  async function signOn(): Promise<SignOnOutcome> {
    stan++;
    const child = runChild(NS_T, 'terminal', { host: HOST_ADDRESS, port, links: LINKS, connectTimeoutMs: CONNECT_TIMEOUT_MS, responseTimeoutMs: RESPONSE_TIMEOUT_MS, stan });
    const o = (await lines(child).next()) as unknown as SignOnOutcome;
    process.stderr.write(`      sign-on: ${JSON.stringify(o)}\n`);
    return o;
  }

  /** Source addresses of the connections the host accepted since `from`. */
  const remotesSince = (from: number): unknown[] => hostLines.seen.slice(from).filter((o) => 'remote' in o).map((o) => o.remote);

  it('both links up: the first (wifi0) carries the sign-on, the host sees its address', async () => {
    const from = hostLines.seen.length;
    const r = await signOn();
    assert.equal(r.ok, true);
    assert.equal(r.responseCode, '00');
    assert.equal(r.link?.link, 'wifi0');
    assert.equal(r.link?.localAddress, '10.71.1.2');
    assert.deepEqual(r.link?.failed, []);
    assert.deepEqual(remotesSince(from), ['10.71.1.2']);
  });

  it('Wi-Fi up but its gateway gone: the connect fails on wifi0 and the sign-on goes over modem0', async () => {
    ip('-n', NS_H, 'addr', 'del', '10.71.1.1/24', 'dev', 'wlh');
    try {
      const from = hostLines.seen.length;
      const r = await signOn();
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.responseCode, '00');
      assert.equal(r.link?.link, 'modem0');
      assert.equal(r.link?.localAddress, '10.71.2.2');
      assert.equal(r.link?.failed.length, 1);
      assert.equal(r.link?.failed[0].link, 'wifi0');
      // Cut by the link's connect limit (E-NET-06), or the kernel's ARP giving up first (E-NET-03).
      assert.ok(['E-NET-06', 'E-NET-03'].includes(r.link?.failed[0].code ?? ''), r.link?.failed[0].code);
      assert.deepEqual(remotesSince(from), ['10.71.2.2'], 'nothing reached the host over wifi0');
    } finally {
      ip('-n', NS_H, 'addr', 'add', '10.71.1.1/24', 'dev', 'wlh');
    }
  });

  it('Wi-Fi without an address (not associated): skipped at once with E-NET-01, modem0 used', async () => {
    ip('-n', NS_T, 'addr', 'del', '10.71.1.2/24', 'dev', 'wl');
    try {
      const r = await signOn();
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.responseCode, '00');
      assert.equal(r.link?.link, 'modem0');
      assert.deepEqual(r.link?.failed.map((f) => [f.link, f.code, f.ms]), [['wifi0', 'E-NET-01', 0]]);
    } finally {
      ip('-n', NS_T, 'addr', 'add', '10.71.1.2/24', 'dev', 'wl');
      ip('-n', NS_T, 'route', 'replace', 'default', 'via', '10.71.1.1', 'dev', 'wl', 'table', '101');
    }
  });

  it('no link reaches the host: the last link\'s error, naming every link tried, nothing sent', async () => {
    ip('-n', NS_H, 'addr', 'del', '10.71.1.1/24', 'dev', 'wlh');
    ip('-n', NS_H, 'addr', 'del', '10.71.2.1/24', 'dev', 'wwh');
    try {
      const from = hostLines.seen.length;
      const r = await signOn();
      assert.equal(r.ok, false);
      assert.ok(['E-NET-06', 'E-NET-03'].includes(r.code ?? ''), r.code);
      assert.deepEqual(r.detail?.links?.map((l) => l.link), ['wifi0', 'modem0']);
      assert.equal(r.detail?.requestSent, false);
      assert.deepEqual(remotesSince(from), []);
    } finally {
      ip('-n', NS_H, 'addr', 'add', '10.71.1.1/24', 'dev', 'wlh');
      ip('-n', NS_H, 'addr', 'add', '10.71.2.1/24', 'dev', 'wwh');
    }
  });

  it('after the failures, the first link is preferred again', async () => {
    const r = await signOn();
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.responseCode, '00');
    assert.equal(r.link?.link, 'wifi0');
  });

  // Diagnostics' network check (boot/link-check.ts) with the real probes: sysfs, `ip route get`, sockets.
  async function linkCheck(): Promise<LinkCheckReport> {
    const child = runChild(NS_T, 'linkcheck', { host: HOST_ADDRESS, port, links: LINKS });
    const o = (await lines(child).next()) as unknown as LinkCheckReport;
    process.stderr.write(`      link check: ${JSON.stringify(o.links.map((l) => [l.link, l.code ?? 'ok', l.steps.at(-1)?.detail]))} uses ${o.uses}\n`);
    return o;
  }

  it('diagnostics\' link check: both links reach the host, each by itself; sales use wifi0', async () => {
    const r = await linkCheck();
    assert.equal(r.ok, true);
    assert.equal(r.uses, 'wifi0');
    assert.deepEqual(r.links.map((l) => [l.link, l.ok, l.localAddress]), [['wifi0', true, '10.71.1.2'], ['modem0', true, '10.71.2.2']]);
    assert.ok(r.links.every((l) => l.steps.find((st) => st.step === 'route')?.unchecked !== true), 'the kernel was asked for the route');
  });

  it('diagnostics\' link check: Wi-Fi\'s source routing missing (a default route by 4G) is E-NET-32, 4G is used', async () => {
    ip('-n', NS_T, 'rule', 'del', 'from', '10.71.1.2', 'lookup', '101');
    ip('-n', NS_T, 'route', 'add', 'default', 'via', '10.71.2.1', 'dev', 'ww');
    try {
      const r = await linkCheck();
      assert.equal(r.ok, true);
      assert.equal(r.uses, 'modem0');
      assert.equal(r.links[0].code, 'E-NET-32');
      assert.match(r.links[0].steps.at(-1)?.detail ?? '', /leaves by ww, not wl/);
    } finally {
      ip('-n', NS_T, 'route', 'del', 'default', 'via', '10.71.2.1', 'dev', 'ww');
      ip('-n', NS_T, 'rule', 'add', 'from', '10.71.1.2', 'lookup', '101');
    }
  });

  it('diagnostics\' link check: Wi-Fi down is E-NET-01, 4G without an address E-NET-02: the check fails', async () => {
    ip('-n', NS_T, 'link', 'set', 'wl', 'down');
    ip('-n', NS_T, 'addr', 'del', '10.71.2.2/24', 'dev', 'ww');
    try {
      const r = await linkCheck();
      assert.equal(r.ok, false);
      assert.deepEqual(r.links.map((l) => l.code), ['E-NET-01', 'E-NET-02']);
      assert.equal(r.code, 'E-NET-01');
    } finally {
      ip('-n', NS_T, 'link', 'set', 'wl', 'up');
      ip('-n', NS_T, 'addr', 'add', '10.71.2.2/24', 'dev', 'ww');
      ip('-n', NS_T, 'route', 'replace', 'default', 'via', '10.71.1.1', 'dev', 'wl', 'table', '101');
      ip('-n', NS_T, 'route', 'replace', 'default', 'via', '10.71.2.1', 'dev', 'ww', 'table', '102');
    }
  });
});

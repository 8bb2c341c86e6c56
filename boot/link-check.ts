/**
 * Diagnostics' network check on a board that orders its links (board file `links`, issue 12):
 * each link in the board's order, the way runtime/host/failover.ts would use it, and which one
 * works. Per link:
 *
 *   up       the interface exists and the kernel says it is up (/sys/class/net/IF/operstate:
 *            "up", or "unknown" for links without carrier reporting such as PPP): else E-NET-01
 *   address  an IPv4 address on it (a Wi-Fi not associated, a modem without a data call, no DHCP
 *            lease): else E-NET-02
 *   route    `ip -4 route get HOST from ADDRESS`, the kernel's own answer for a connection bound to
 *            the link's address: it must leave by the link itself. Another device means the board's
 *            source routing for this link is missing (the bind would only change the source
 *            address): E-NET-32. No route at all: E-NET-03. Without the `ip` tool the step says it
 *            was not checked and passes (the connect below still tells).
 *   connect  a TCP connect to the host bound to the link's address (what failover does): refused
 *            E-NET-05, no answer in time E-NET-06
 *
 * A link stops at its first failed step. The host's name is resolved once (E-NET-04 fails every
 * link: no link can be tried without an address). Probes are injected: tests/boot/link-check
 * tests run the real ones in network namespaces.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isIP, Socket } from 'node:net';
import type { HostLinkRoute } from '../hal/board-schema';
import { interfaceIpv4 } from '../runtime/host/failover';
import { REAL_PROBES as NET_PROBES } from './recovery-net';

/** Each link's connect in the check (failover gives a sale less: its share of the response timeout). */
export const LINK_CHECK_CONNECT_TIMEOUT_MS = 3_000;
/** `ip route get` answers at once; a hung one is not waited for longer. */
export const ROUTE_QUERY_TIMEOUT_MS = 2_000;
/** Operational states that carry traffic ("unknown": PPP and tunnels report no carrier). */
const OPERSTATES_UP: ReadonlySet<string> = new Set(['up', 'unknown']);

export type LinkStep = 'up' | 'address' | 'route' | 'connect';

/** What one step found; `args` fill the screen's text (boot/diagnostics.ts). */
export interface LinkStepResult {
  readonly step: LinkStep;
  readonly ok: boolean;
  /** E-NET-xx when it failed. */
  readonly code?: string;
  /** English, for logs and the management channel's report. */
  readonly detail: string;
  readonly args: Readonly<Record<string, string>>;
  /** The route step could not be asked (no `ip`): passed, said so. */
  readonly unchecked?: boolean;
}

export interface LinkResult {
  readonly link: string;
  readonly interface: string;
  readonly ok: boolean;
  readonly localAddress?: string;
  readonly code?: string;
  readonly steps: readonly LinkStepResult[];
}

export interface LinkCheckReport {
  /** True when at least one link reached the host. */
  readonly ok: boolean;
  /** The first link (in the board's order) that reached the host: the one a sale would use. */
  readonly uses?: string;
  readonly links: readonly LinkResult[];
  /** The host's name did not resolve (then no link was tried). */
  readonly dns?: { readonly host: string; readonly reason: string };
  /** The first failure's code when none worked. */
  readonly code?: string;
}

export interface LinkProbes {
  /** /sys/class/net/IF/operstate, or undefined when there is no such interface. */
  operstate(iface: string): string | undefined;
  ipv4(iface: string): string | undefined;
  /** The device the kernel routes HOST from ADDRESS by; 'unreachable' when it has no route; undefined without `ip`. */
  routeDevice(host: string, from: string): Promise<string | 'unreachable' | undefined>;
  connect(host: string, port: number, localAddress: string, timeoutMs: number): Promise<{ result: 'ok' | 'refused' | 'timeout'; detail: string }>;
  resolve(host: string): Promise<string[]>;
}

export const REAL_LINK_PROBES: LinkProbes = {
  operstate: (iface) => {
    if (!/^[a-zA-Z0-9_.:-]{1,15}$/.test(iface)) return undefined;
    try { return readFileSync(`/sys/class/net/${iface}/operstate`, 'utf8').trim(); } catch { return undefined; }
  },
  ipv4: interfaceIpv4,
  routeDevice: (host, from) => new Promise((resolve) => {
    execFile('ip', ['-4', '-o', 'route', 'get', host, 'from', from], { timeout: ROUTE_QUERY_TIMEOUT_MS }, (e, stdout, stderr) => {
      if (e && (e as NodeJS.ErrnoException).code === 'ENOENT') { resolve(undefined); return; }
      if (e) { resolve(/unreachable|no route/i.test(`${stderr}`) ? 'unreachable' : undefined); return; }
      resolve(/\bdev (\S+)/.exec(stdout)?.[1] ?? 'unreachable');
    });
  }),
  connect: (host, port, localAddress, timeoutMs) => new Promise((resolve) => {
    const s = new Socket();
    const finish = (result: 'ok' | 'refused' | 'timeout', detail: string): void => { s.destroy(); resolve({ result, detail }); };
    s.setTimeout(timeoutMs, () => finish('timeout', `no answer within ${timeoutMs} ms`));
    s.once('connect', () => finish('ok', 'connected'));
    s.once('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ETIMEDOUT' ? 'timeout' : 'refused', e.code ?? e.message));
    s.connect({ host, port, localAddress });
  }),
  resolve: (host) => NET_PROBES.resolve(host, undefined),
};

/** Checks every link in order (all of them: the technician wants to know about the spare one too). */
export async function checkLinks(links: readonly HostLinkRoute[], host: { host: string; port: number }, probes: Partial<LinkProbes> = {}): Promise<LinkCheckReport> {
  const p: LinkProbes = { ...REAL_LINK_PROBES, ...probes };
  let address = host.host;
  if (!isIP(host.host)) {
    try {
      const found = await p.resolve(host.host);
      if (!found.length) throw Object.assign(new Error('no address'), { code: 'ENODATA' });
      address = found[0];
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code ?? String(e);
      return { ok: false, links: [], dns: { host: host.host, reason }, code: 'E-NET-04' };
    }
  }
  const results: LinkResult[] = [];
  for (const l of links) results.push(await checkLink(l, address, host.port, p));
  const uses = results.find((r) => r.ok)?.link;
  const firstFailure = results.find((r) => !r.ok)?.code;
  return { ok: uses !== undefined, ...(uses !== undefined ? { uses } : {}), links: results, ...(uses === undefined && firstFailure ? { code: firstFailure } : {}) };
}

async function checkLink(l: HostLinkRoute, host: string, port: number, p: LinkProbes): Promise<LinkResult> {
  const steps: LinkStepResult[] = [];
  const iface = l.interface;
  const done = (failed?: LinkStepResult, localAddress?: string): LinkResult => ({
    link: l.name, interface: iface, ok: failed === undefined, steps, ...(localAddress ? { localAddress } : {}), ...(failed?.code ? { code: failed.code } : {}),
  });
  const fail = (r: LinkStepResult): LinkResult => { steps.push(r); return done(r); };

  const state = p.operstate(iface);
  if (state === undefined) return fail({ step: 'up', ok: false, code: 'E-NET-01', detail: `no interface ${iface}`, args: { iface } });
  if (!OPERSTATES_UP.has(state)) return fail({ step: 'up', ok: false, code: 'E-NET-01', detail: `${iface} is ${state}`, args: { iface, state } });
  steps.push({ step: 'up', ok: true, detail: `${iface} is ${state}`, args: { iface, state } });

  const local = p.ipv4(iface);
  if (local === undefined) return fail({ step: 'address', ok: false, code: 'E-NET-02', detail: `no IPv4 address on ${iface}`, args: { iface } });
  steps.push({ step: 'address', ok: true, detail: `address ${local}`, args: { address: local } });

  const dev = await p.routeDevice(host, local);
  if (dev === 'unreachable') return fail({ step: 'route', ok: false, code: 'E-NET-03', detail: `no route to ${host} from ${local}`, args: { host, address: local } });
  if (dev !== undefined && dev !== iface) return fail({ step: 'route', ok: false, code: 'E-NET-32', detail: `traffic from ${local} to ${host} leaves by ${dev}, not ${iface}`, args: { dev, iface, host } });
  steps.push(dev === undefined
    ? { step: 'route', ok: true, unchecked: true, detail: 'route not checked (no ip tool)', args: {} }
    : { step: 'route', ok: true, detail: `route to ${host} by ${iface}`, args: { host, iface } });

  const c = await p.connect(host, port, local, LINK_CHECK_CONNECT_TIMEOUT_MS);
  const at = { host, port: String(port) };
  if (c.result === 'refused') return fail({ step: 'connect', ok: false, code: 'E-NET-05', detail: `${host}:${port} refused (${c.detail})`, args: { ...at, reason: c.detail } });
  if (c.result === 'timeout') return fail({ step: 'connect', ok: false, code: 'E-NET-06', detail: `${host}:${port} did not answer`, args: at });
  steps.push({ step: 'connect', ok: true, detail: `reached ${host}:${port}`, args: at });
  return done(undefined, local);
}

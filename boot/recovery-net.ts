/**
 * Network settings (stored as a `settings` record of kind "network") and the connectivity test
 * of FIELD-FAULTS.md "sign-on fails": interface up, address, gateway reachable, DNS resolves the
 * host, TCP connect to host:port (refused vs timed out). Each step has its error code; the test
 * stops at the first failure and names the setting to look at. Probes are injected: tests run
 * them on loopback only.
 */
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { PosError } from '../common/errors';
import type { LocalText } from '../ui-lcd/screen';
import { rt } from '../ui-lcd/recovery-strings';

export const CONNECT_TIMEOUT_MS_DEFAULT = 3_000;
export const PING_TIMEOUT_S = 2;
export const DNS_TIMEOUT_MS_MAX = 3_000;
const HOST_CHARS_MAX = 253;

export interface NetworkSettings {
  readonly interface: string;
  readonly mode: 'dhcp' | 'static';
  readonly address?: string;
  readonly prefixLength?: number;
  readonly gateway?: string;
  readonly dns?: readonly string[];
  /** The acquirer host (name or address) and port. */
  readonly host: string;
  readonly port: number;
}

export type StepName = 'interface' | 'address' | 'gateway' | 'dns' | 'connect';

export interface StepResult {
  readonly step: StepName;
  readonly ok: boolean;
  /** English (CLI, logs); `text` is the same in zh-CN and en for the LCD. */
  readonly detail: string;
  readonly text?: LocalText;
  readonly code?: string;
  readonly ms: number;
}

export interface ConnectivityReport {
  readonly ok: boolean;
  readonly steps: readonly StepResult[];
  readonly firstFailure?: StepResult;
}

/** The primitives the test uses; defaults are the real ones. */
export interface NetProbes {
  /** IPv4/IPv6 addresses of an interface, or undefined when it does not exist / is down. */
  interfaceAddresses(name: string): string[] | undefined;
  /** True when the gateway answers (ping through a child process). */
  gatewayReachable(gateway: string): Promise<boolean>;
  resolve(host: string, dns: readonly string[] | undefined): Promise<string[]>;
  /** 'ok', 'refused' or 'timeout' (other errors count as refused, with their code). */
  connect(host: string, port: number, timeoutMs: number): Promise<{ result: 'ok' | 'refused' | 'timeout'; detail: string }>;
  readonly connectTimeoutMs: number;
}

export const REAL_PROBES: NetProbes = {
  interfaceAddresses: (name) => networkInterfaces()[name]?.map((a) => a.address),
  gatewayReachable: (gateway) => new Promise((resolve) => {
    execFile('ping', ['-c', '1', '-W', String(PING_TIMEOUT_S), gateway], { timeout: (PING_TIMEOUT_S + 1) * 1000 }, (e) => resolve(!e));
  }),
  resolve: async (host, dns) => {
    if (isIP(host)) return [host];
    const r = new Resolver({ timeout: DNS_TIMEOUT_MS_MAX, tries: 1 });
    if (dns?.length) r.setServers([...dns]);
    return r.resolve4(host);
  },
  connect: (host, port, timeoutMs) => new Promise((resolve) => {
    const s = new Socket();
    const finish = (result: 'ok' | 'refused' | 'timeout', detail: string): void => { s.destroy(); resolve({ result, detail }); };
    s.setTimeout(timeoutMs, () => finish('timeout', `no answer within ${timeoutMs} ms`));
    s.once('connect', () => finish('ok', 'connected'));
    s.once('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ETIMEDOUT' ? 'timeout' : 'refused', e.code ?? e.message));
    s.connect(port, host);
  }),
  connectTimeoutMs: CONNECT_TIMEOUT_MS_DEFAULT,
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Refuses settings that cannot work (OPR_INPUT naming the field). */
export function checkNetworkSettings(s: NetworkSettings): void {
  const bad = (field: string, why: string): never => { throw new PosError('OPR_INPUT', `network ${field}: ${why}`, { field }); };
  if (!/^[a-zA-Z0-9_.:-]{1,15}$/.test(s.interface)) bad('interface', 'not an interface name');
  if (s.mode !== 'dhcp' && s.mode !== 'static') bad('mode', 'dhcp or static');
  if (s.mode === 'static') {
    if (!s.address || !IPV4.test(s.address)) bad('address', 'an IPv4 address is needed for a static setting');
    if (s.prefixLength === undefined || !Number.isInteger(s.prefixLength) || s.prefixLength < 1 || s.prefixLength > 32) bad('prefixLength', '1..32');
  }
  if (s.gateway !== undefined && !IPV4.test(s.gateway)) bad('gateway', 'not an IPv4 address');
  for (const d of s.dns ?? []) if (!IPV4.test(d)) bad('dns', `${d} is not an IPv4 address`);
  if ((s.dns?.length ?? 0) > 3) bad('dns', 'at most 3 servers');
  if (!s.host || s.host.length > HOST_CHARS_MAX || !/^[a-zA-Z0-9.-]+$/.test(s.host)) bad('host', 'a host name or address');
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) bad('port', '1..65535');
}

/** Runs the steps in order; a failed step makes the later ones "not run". */
export async function testConnectivity(s: NetworkSettings, probes: Partial<NetProbes> = {}): Promise<ConnectivityReport> {
  const p: NetProbes = { ...REAL_PROBES, ...probes };
  const steps: StepResult[] = [];
  const run = async (step: StepName, fn: () => Promise<{ ok: boolean; detail: LocalText; code?: string }>): Promise<boolean> => {
    const t0 = performance.now();
    const r = await fn().catch((e: unknown) => ({ ok: false, detail: rt('nettest.error', { message: String((e as Error).message ?? e) }), code: undefined }));
    steps.push({ step, ok: r.ok, detail: r.detail.en, text: r.detail, ms: Math.round(performance.now() - t0), ...(r.ok ? {} : { code: r.code }) });
    return r.ok;
  };
  let addresses: string[] | undefined;
  let hostAddress = s.host;
  const ok = await run('interface', async () => {
    addresses = p.interfaceAddresses(s.interface);
    return addresses ? { ok: true, detail: rt('nettest.ifUp', { interface: s.interface }) } : { ok: false, detail: rt('nettest.ifDown', { interface: s.interface }), code: 'E-NET-01' };
  })
    && await run('address', async () => {
      const v4 = (addresses ?? []).filter((a) => IPV4.test(a));
      if (s.mode === 'static') return v4.includes(s.address ?? '') ? { ok: true, detail: rt('nettest.hasAddress', { address: s.address ?? '?' }) } : { ok: false, detail: rt('nettest.noStatic', { interface: s.interface, address: s.address ?? '?' }), code: 'E-NET-02' };
      return v4.length ? { ok: true, detail: rt('nettest.dhcpGave', { address: v4[0] }) } : { ok: false, detail: rt('nettest.noDhcp'), code: 'E-NET-02' };
    })
    && await run('gateway', async () => {
      if (!s.gateway) return { ok: true, detail: rt('nettest.noGateway') };
      return (await p.gatewayReachable(s.gateway)) ? { ok: true, detail: rt('nettest.gatewayOk', { gateway: s.gateway }) } : { ok: false, detail: rt('nettest.gatewayDown', { gateway: s.gateway }), code: 'E-NET-03' };
    })
    && await run('dns', async () => {
      if (isIP(s.host)) return { ok: true, detail: rt('nettest.hostIsIp') };
      try {
        const found = await p.resolve(s.host, s.dns);
        if (!found.length) return { ok: false, detail: rt('nettest.noHostAddress', { host: s.host }), code: 'E-NET-04' };
        hostAddress = found[0];
        return { ok: true, detail: rt('nettest.resolved', { host: s.host, address: found[0] }) };
      } catch (e) {
        return { ok: false, detail: rt('nettest.notResolved', { host: s.host, reason: (e as NodeJS.ErrnoException).code ?? String(e) }), code: 'E-NET-04' };
      }
    })
    && await run('connect', async () => {
      const r = await p.connect(hostAddress, s.port, p.connectTimeoutMs);
      const at = { address: hostAddress, port: s.port };
      if (r.result === 'ok') return { ok: true, detail: rt('nettest.connected', at) };
      return r.result === 'refused'
        ? { ok: false, detail: rt('nettest.refused', { ...at, reason: r.detail }), code: 'E-NET-05' }
        : { ok: false, detail: rt('nettest.timedOut', at), code: 'E-NET-06' };
    });
  return { ok, steps, ...(ok ? {} : { firstFailure: steps[steps.length - 1] }) };
}

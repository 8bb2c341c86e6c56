/**
 * Link failover to the acquirer host (issue 12 item 3): a handheld has several ways out (Wi-Fi,
 * then 4G, as the board file's `links` orders them) and a sale that cannot reach the host on one
 * tries the next before giving up.
 *
 * How a link is "used" on Linux: each link is a network interface (wlan0, wwan0, eth0); its IPv4
 * address is read when the exchange starts (os.networkInterfaces) and the socket is bound to it
 * before connecting (`localAddress` on net.connect / tls.connect, i.e. bind(2) then connect(2)).
 * Node has no SO_BINDTODEVICE; binding the source address selects the link only with the board's
 * source routing, one table per link (`ip rule add from <wlan0's address> lookup 101` and that
 * table's default route via wlan0's gateway; NetworkManager and systemd-networkd can write these,
 * README "Link failover"). Without such rules the kernel routes by destination alone and the
 * bind changes only the source address. tests/host/failover-netns.test.ts builds exactly that in
 * network namespaces and checks on the host's side which link a connection came from.
 *
 * What moves to the next link: a failure before the request was written (detail.requestSent
 * false: no address on the link, refused, no route, connect or TLS handshake timed out, a TLS
 * refusal, which on a Wi-Fi with a captive portal is the link's fault). Never after the request
 * may have reached the host (requestSent true): the engine's reversal handles that, and sending
 * the same request on another link could charge twice. Never on a cancel, nor on a local fault
 * that every link shares (the terminal's own certificate missing or expired).
 *
 * Time: every link's connect gets at most responseTimeoutMs / links (and never more than the
 * transport's connect timeout), so trying them all takes no longer than one response timeout;
 * the answer on the link that connected then has its own response timeout. A link that failed is
 * tried after the others for LINK_DEMOTED_MS (a dead Wi-Fi with an address would otherwise cost its
 * connect share on every exchange), and first again once it carried an exchange or that time passed.
 *
 * The link that carried each exchange is kept (`lastLink`, for diagnostics and the screen) and
 * logged; a fallback is logged as a warning naming the links that failed and their codes.
 */
import { networkInterfaces } from 'node:os';
import { PosError, invariant, isPosError } from '../../common/errors';
import type { HostLinkRoute } from '../../hal/board-schema';
import type { HostExchange } from '../txn/engine';
import { CONNECT_TIMEOUT_MS_DEFAULT, HostTransport, RESPONSE_TIMEOUT_MS_DEFAULT, TIMEOUT_MS_MAX, TransportConfig } from './transport';

/** Links a board may order (board file `links`, hal/board-schema.ts LINKS_MAX agrees). */
export const FAILOVER_LINKS_MAX = 4;
/** Below this a connect cannot finish on a real mobile link: a link is never given less. */
export const LINK_CONNECT_TIMEOUT_MS_MIN = 1_000;
/** A link that failed goes after the others this long (then it is the board's order again). */
export const LINK_DEMOTED_MS = 60_000;

/** Codes that are the terminal's own fault, the same on every link: no point trying the next. */
const LOCAL_FAULTS: ReadonlySet<string> = new Set(['NET_TLS_CREDENTIALS', 'NET_TLS_CLIENT_EXPIRED', 'OPR_CANCELLED', 'SYS_INVARIANT']);

export interface LinkAttempt {
  readonly link: string;
  readonly interface: string;
  readonly localAddress?: string;
  /** The error's code, or undefined when the link carried the exchange. */
  readonly code?: string;
  readonly ms: number;
}

export interface LinkUse {
  readonly link: string;
  readonly interface: string;
  readonly localAddress: string;
  /** Links tried before it that failed, in order. */
  readonly failed: readonly LinkAttempt[];
  /** When it succeeded, on the transport's clock (`now`: monotonic by default, not a wall time). */
  readonly atMs: number;
}

interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface FailoverOptions {
  /** The board's links in order of preference (at least one). */
  readonly links: readonly HostLinkRoute[];
  /** Everything of the transport but the source address (one transport per link is made from it). */
  readonly transport: Omit<TransportConfig, 'localAddress'>;
  /** An interface's IPv4 address, or undefined when it has none (down, not associated, no DHCP yet). */
  readonly addressOf?: (iface: string) => string | undefined;
  readonly logger?: Logger;
  /**
   * The clock a link's demotion is timed on (ms). Monotonic by default: NTP stepping the wall clock
   * back must not keep a failed link demoted for an hour, nor a step forward end it at once.
   */
  readonly now?: () => number;
}

/** The first IPv4 address of an interface, as the kernel reports it now. */
export function interfaceIpv4(iface: string): string | undefined {
  return networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.address;
}

export class FailoverTransport implements HostExchange {
  private readonly perLink = new Map<string, { address: string; transport: HostTransport }>();
  private responseTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly addressOf: (iface: string) => string | undefined;
  private readonly now: () => number;
  private last: LinkUse | undefined;
  /** Links that failed before sending, and until when they are tried last. */
  private readonly demotedUntil = new Map<string, number>();

  constructor(private readonly o: FailoverOptions) {
    invariant(o.links.length >= 1 && o.links.length <= FAILOVER_LINKS_MAX, 'failover needs 1..FAILOVER_LINKS_MAX links', { links: o.links.length });
    this.responseTimeoutMs = o.transport.responseTimeoutMs ?? RESPONSE_TIMEOUT_MS_DEFAULT;
    this.connectTimeoutMs = o.transport.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    this.addressOf = o.addressOf ?? interfaceIpv4;
    this.now = o.now ?? (() => performance.now());
  }

  /** The link the last successful exchange went over (undefined before the first). */
  lastLink(): LinkUse | undefined {
    return this.last;
  }

  /**
   * The name of the link the last successful exchange went over (the engine journals it with the
   * result, the slip and the result screen show it); undefined on a board with one link, where it
   * says nothing a merchant could use.
   */
  linkUsed(): string | undefined {
    return this.o.links.length > 1 ? this.last?.link : undefined;
  }

  /** Each link's connect limit: all of them together within one response timeout. */
  linkConnectTimeoutMs(): number {
    const share = Math.floor(this.responseTimeoutMs / this.o.links.length);
    return Math.max(LINK_CONNECT_TIMEOUT_MS_MIN, Math.min(this.connectTimeoutMs, share));
  }

  setResponseTimeoutMs(ms: number): void {
    invariant(Number.isInteger(ms) && ms > 0 && ms <= TIMEOUT_MS_MAX, 'transport timeout out of range', { ms, max: TIMEOUT_MS_MAX });
    this.responseTimeoutMs = ms;
    // The per-link connect limit follows the new timeout: transports are made again when next used.
    this.close();
    this.perLink.clear();
  }

  async exchange(request: Buffer, signal?: AbortSignal): Promise<Buffer> {
    const failed: LinkAttempt[] = [];
    let lastError: PosError | undefined;
    for (const route of this.order()) {
      const started = this.now();
      const address = this.addressOf(route.interface);
      if (address === undefined) {
        lastError = new PosError('NET_LINK_DOWN', `link ${route.name}: ${route.interface} has no IPv4 address`, { link: route.name, interface: route.interface, requestSent: false });
        failed.push({ link: route.name, interface: route.interface, code: lastError.code, ms: 0 });
        this.demotedUntil.set(route.name, started + LINK_DEMOTED_MS);
        continue;
      }
      try {
        const answer = await this.transportFor(route, address).exchange(request, signal);
        this.demotedUntil.delete(route.name);
        this.used({ link: route.name, interface: route.interface, localAddress: address, failed, atMs: this.now() });
        return answer;
      } catch (e) {
        if (!isPosError(e) || e.detail.requestSent !== false || LOCAL_FAULTS.has(e.id)) throw this.annotated(e, route, failed);
        lastError = e;
        failed.push({ link: route.name, interface: route.interface, localAddress: address, code: e.code, ms: this.now() - started });
        this.demotedUntil.set(route.name, this.now() + LINK_DEMOTED_MS);
      }
    }
    const error = need(lastError);
    this.o.logger?.warn({ code: error.code, links: failed }, `host: no link reached the host (${failed.map((f) => `${f.link} ${f.code}`).join(', ')})`);
    throw new PosError(error.id, `${error.message.replace(/^\S+ /, '')} (links tried: ${failed.map((f) => `${f.link} ${f.code}`).join(', ')})`,
      { ...error.detail, links: failed, requestSent: false }, { cause: error });
  }

  /** The board's order, links that failed lately moved to the end (in the board's order among them). */
  order(): HostLinkRoute[] {
    const now = this.now();
    const demoted = (r: HostLinkRoute): boolean => (this.demotedUntil.get(r.name) ?? 0) > now;
    return [...this.o.links.filter((r) => !demoted(r)), ...this.o.links.filter(demoted)];
  }

  /** Drops every link's kept-alive connection. */
  close(): void {
    for (const l of this.perLink.values()) l.transport.close();
  }

  private transportFor(route: HostLinkRoute, address: string): HostTransport {
    const known = this.perLink.get(route.name);
    if (known && known.address === address) return known.transport;
    known?.transport.close(); // the link got a new address (DHCP renewed, another Wi-Fi): a new socket
    const transport = new HostTransport({ ...this.o.transport, responseTimeoutMs: this.responseTimeoutMs, connectTimeoutMs: this.linkConnectTimeoutMs(), localAddress: address });
    this.perLink.set(route.name, { address, transport });
    return transport;
  }

  private used(use: LinkUse): void {
    const changed = this.last?.link !== use.link;
    this.last = use;
    if (use.failed.length > 0) {
      this.o.logger?.warn({ link: use.link, interface: use.interface, localAddress: use.localAddress, failed: use.failed }, `host: reached over ${use.link} after ${use.failed.map((f) => `${f.link} ${f.code}`).join(', ')}`);
    } else if (changed) {
      this.o.logger?.info({ link: use.link, interface: use.interface, localAddress: use.localAddress }, `host: reached over ${use.link}`);
    }
  }

  /** An error that ends the exchange on a link: it says which link, and what failed before. */
  private annotated(e: unknown, route: HostLinkRoute, failed: readonly LinkAttempt[]): unknown {
    if (!isPosError(e)) return e;
    return Object.assign(e, { detail: { ...e.detail, link: route.name, ...(failed.length > 0 ? { links: failed } : {}) } });
  }
}

function need<T>(v: T | undefined): T {
  invariant(v !== undefined, 'failover ended with no link tried');
  return v;
}

/**
 * TCP transport to the acquirer host: one framed request, one framed response. By default
 * (profile choice) each exchange has its own connection; `keepAlive` reuses one.
 *
 * The state machine branches on the error kinds, so they are kept apart:
 *   - connection refused (or reset while connecting)    NET_REFUSED          host-unreachable
 *   - connect did not finish in connectTimeoutMs        NET_CONNECT_TIMEOUT  host-unreachable
 *   - no response byte in responseTimeoutMs, or the host
 *     closed the connection without answering           HOST_TIMEOUT         timeout
 *   - closed mid-response, oversized or surplus bytes   HOST_MALFORMED       host-malformed
 *   - the caller's AbortSignal fired                    OPR_CANCELLED        cancelled
 *   - over TLS (config.tls, runtime/host/tls.ts): the host's certificate expired, not yet valid,
 *     untrusted, for another name or not the pinned key, the terminal's certificate refused or
 *     expired, the handshake timed out or failed     NET_TLS_*            host-unreachable
 * Every error's detail says `requestSent`: once the request may have reached the host, the
 * caller must assume it did (a reversal stays pending).
 *
 * The socket factory and the timer clock are injected so tests are deterministic.
 */
import * as net from 'node:net';
import { PosError, invariant } from '../../common/errors';
import { HostProfile } from './fields';
import type { HostLinkConfig } from '../../hal/board-schema';
import { LENGTH_PREFIX_BYTES, frameBodyLength, malformed } from './packager';
import { TlsLink, tlsErrorOf } from './tls';

/** The part of net.Socket the transport uses. */
export interface SocketLike {
  write(data: Buffer): boolean;
  destroy(): void;
  on(event: 'connect', listener: () => void): this;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  /** The host closed its side: a kept-alive connection is not used again. */
  on(event: 'end', listener: () => void): this;
  /** TLS only: TCP is connected, the handshake begins ('connect' follows once it is verified). */
  on(event: 'tcp-connect', listener: () => void): this;
}

/**
 * Where to connect; `localAddress` (a link's address, runtime/host/failover.ts) binds the socket's
 * source address before connecting, so that the board's per-link routing sends it out of that link.
 */
export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
}

export type SocketFactory = (target: ConnectTarget) => SocketLike;

export interface TimerClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: TimerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const netSocketFactory: SocketFactory = ({ host, port, localAddress }) => net.createConnection({ host, port, ...(localAddress !== undefined ? { localAddress } : {}) });

export const CONNECT_TIMEOUT_MS_DEFAULT = 10_000;
/** CUP terminals commonly wait 60 s for a financial response. */
export const RESPONSE_TIMEOUT_MS_DEFAULT = 60_000;
/** Longest timeout a configuration may ask for: beyond it the operator thinks the terminal hung. */
export const TIMEOUT_MS_MAX = 180_000;

export interface TransportConfig {
  readonly host: string;
  readonly port: number;
  readonly profile: HostProfile;
  readonly connectTimeoutMs?: number;
  readonly responseTimeoutMs?: number;
  /** Keep the connection open between exchanges (profile default: one per exchange). */
  readonly keepAlive?: boolean;
  readonly socketFactory?: SocketFactory;
  readonly clock?: TimerClock;
  /** TLS to the host (board file `host.tls`); absent: plain TCP. */
  readonly tls?: TlsLink;
  /** The source address to bind (one link of several, runtime/host/failover.ts); absent: the OS chooses. */
  readonly localAddress?: string;
}

/**
 * The board file's acquirer link (`host` in hal/board-schema.ts: TPDU and connection mode, which
 * the profile calls configuration) over a profile: the profile with the board's TPDU, which the
 * packager sends and whose swap it expects in every answer, and the transport's keep-alive.
 */
export function hostLink(base: HostProfile, link: HostLinkConfig): { readonly profile: HostProfile; readonly keepAlive: boolean } {
  return { profile: { ...base, tpdu: { id: link.tpdu.id, destination: link.tpdu.destination, source: link.tpdu.source } }, keepAlive: link.connection === 'keep-alive' };
}

interface Handler {
  data(chunk: Buffer): void;
  end(error: Error | undefined): void;
}

/**
 * One socket with listeners attached for its whole life (an 'error' event without a listener
 * would kill the process), dispatching to the exchange that currently waits on it.
 */
class Connection {
  handler: Handler | undefined;
  dead = false;
  private lastError: Error | undefined;

  constructor(readonly socket: SocketLike) {
    socket.on('data', (chunk) => {
      if (this.handler) this.handler.data(chunk);
      else this.kill(); // bytes nobody asked for: the stream can no longer be trusted
    });
    socket.on('error', (e) => { this.lastError = e; });
    // The host's FIN: 'close' follows, but an exchange starting in between would write into a
    // connection the host no longer reads (and count a request as sent that never was).
    socket.on('end', () => {
      this.dead = true;
      if (!this.handler) this.socket.destroy();
    });
    socket.on('close', () => {
      this.dead = true;
      this.handler?.end(this.lastError);
    });
  }

  kill(): void {
    this.dead = true;
    this.socket.destroy();
  }
}

function errnoOf(e: Error | undefined): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function connectError(e: Error | undefined, target: string): PosError {
  const errno = errnoOf(e);
  const detail = { target, errno, requestSent: false };
  switch (errno) {
    case 'ECONNREFUSED':
    case 'ECONNRESET':
      return new PosError('NET_REFUSED', `host ${target} refused the connection`, detail, { cause: e });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new PosError('NET_DNS', `host name of ${target} not resolved`, detail, { cause: e });
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return new PosError('NET_GATEWAY', `no route to ${target}`, detail, { cause: e });
    case 'ENETDOWN':
      return new PosError('NET_LINK_DOWN', `network down connecting to ${target}`, detail, { cause: e });
    default:
      return new PosError('NET_CONNECT_TIMEOUT', `could not connect to ${target} (${errno ?? 'closed'})`, detail, { cause: e });
  }
}

/**
 * Under TLS 1.3 a host's refusal of the terminal's certificate (an alert) reaches the terminal
 * after its own handshake finished, when the request is already written: the host read none of it
 * (it stops before application data), so it is E-NET-23 with requestSent false. Any other TLS
 * error once the request is out is treated as a lost answer (requestSent true), never as unsent.
 */
function refusedCertificate(e: Error | undefined, target: string, receivedBytes: number): PosError | undefined {
  const t = tlsErrorOf(e, target);
  return t !== undefined && t.id === 'NET_TLS_CLIENT_REFUSED' && receivedBytes === 0 ? t : undefined;
}

/** TCP connected, then closed before TLS was up: most often a plain port, or a host that dropped us. */
function handshakeClosed(e: Error | undefined, target: string): PosError {
  return new PosError('NET_TLS_FAILED', `host ${target} closed the connection during the TLS handshake (${errnoOf(e) ?? 'closed'}): is it a TLS port?`,
    { target, errno: errnoOf(e), requestSent: false }, { cause: e });
}

function cancelled(requestSent: boolean): PosError {
  return new PosError('OPR_CANCELLED', requestSent ? 'cancelled after the request was sent' : 'cancelled before sending', { requestSent });
}

export class HostTransport {
  private readonly connectTimeoutMs: number;
  private responseTimeoutMs: number;
  private readonly socketFactory: SocketFactory;
  private readonly clock: TimerClock;
  private connection: Connection | undefined;
  private busy = false;

  constructor(private readonly config: TransportConfig) {
    this.connectTimeoutMs = config.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    this.responseTimeoutMs = config.responseTimeoutMs ?? RESPONSE_TIMEOUT_MS_DEFAULT;
    for (const ms of [this.connectTimeoutMs, this.responseTimeoutMs]) {
      invariant(Number.isInteger(ms) && ms > 0 && ms <= TIMEOUT_MS_MAX, 'transport timeout out of range', { ms, max: TIMEOUT_MS_MAX });
    }
    this.socketFactory = config.socketFactory ?? netSocketFactory;
    this.clock = config.clock ?? realClock;
  }

  private get target(): string {
    return `${this.config.host}:${this.config.port}`;
  }

  /** Sends one framed request and returns the one framed response (length prefix included). */
  async exchange(request: Buffer, signal?: AbortSignal): Promise<Buffer> {
    invariant(!this.busy, 'one host exchange at a time');
    this.busy = true;
    try {
      if (signal?.aborted) throw cancelled(false);
      if (this.connection?.dead) this.connection = undefined;
      const connection = this.connection ?? (await this.connect(signal));
      this.connection = connection;
      return await this.roundTrip(connection, request, signal);
    } catch (e) {
      this.close();
      throw e;
    } finally {
      this.busy = false;
      if (!this.config.keepAlive) this.close();
    }
  }

  /** The host's response timeout from its parameters (DF12, 10..120 s); checked like the configured one. */
  setResponseTimeoutMs(ms: number): void {
    invariant(Number.isInteger(ms) && ms > 0 && ms <= TIMEOUT_MS_MAX, 'transport timeout out of range', { ms, max: TIMEOUT_MS_MAX });
    this.responseTimeoutMs = ms;
  }

  /** Drops the kept-alive connection, if any. */
  close(): void {
    this.connection?.kill();
    this.connection = undefined;
  }

  private connect(signal: AbortSignal | undefined): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const target: ConnectTarget = { host: this.config.host, port: this.config.port, ...(this.config.localAddress !== undefined ? { localAddress: this.config.localAddress } : {}) };
      const connection = new Connection(this.config.tls ? this.config.tls.connect(target) : this.socketFactory(target));
      const settle = this.settler(connection, signal, false, reject);
      let tcpConnected = false;
      connection.handler = {
        data: () => settle.fail(malformed('host spoke before the request', {})),
        end: (e) => settle.fail(tlsErrorOf(e, this.target) ?? (tcpConnected ? handshakeClosed(e, this.target) : connectError(e, this.target))),
      };
      settle.arm(this.connectTimeoutMs, () => new PosError('NET_CONNECT_TIMEOUT',
        `connect to ${this.target} timed out after ${this.connectTimeoutMs} ms`, { target: this.target, requestSent: false }));
      const handshakeMs = this.config.tls?.handshakeTimeoutMs;
      connection.socket.on('tcp-connect', () => {
        tcpConnected = true;
        if (settle.done() || handshakeMs === undefined) return;
        settle.arm(handshakeMs, () => new PosError('NET_TLS_TIMEOUT',
          `TLS handshake with ${this.target} not finished after ${handshakeMs} ms`, { target: this.target, requestSent: false }));
      });
      connection.socket.on('connect', () => {
        if (settle.done()) return;
        settle.finish();
        resolve(connection);
      });
    });
  }

  private roundTrip(connection: Connection, request: Buffer, signal: AbortSignal | undefined): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(cancelled(false));
        return;
      }
      const settle = this.settler(connection, signal, true, reject);
      const chunks: Buffer[] = [];
      let receivedBytes = 0;
      let expectedBytes = -1;
      connection.handler = {
        data: (chunk) => {
          chunks.push(chunk);
          receivedBytes += chunk.length;
          try {
            if (expectedBytes < 0 && receivedBytes >= LENGTH_PREFIX_BYTES) {
              // Checked against the frame limit before any more is read.
              expectedBytes = LENGTH_PREFIX_BYTES + frameBodyLength(this.config.profile, Buffer.concat(chunks).subarray(0, LENGTH_PREFIX_BYTES));
            }
            if (expectedBytes < 0 || receivedBytes < expectedBytes) return;
            if (receivedBytes > expectedBytes) throw malformed(`${receivedBytes - expectedBytes} bytes after the response frame`, { offset: expectedBytes });
          } catch (e) {
            settle.fail(e);
            return;
          }
          settle.finish();
          resolve(Buffer.concat(chunks));
        },
        end: (e) => settle.fail(refusedCertificate(e, this.target, receivedBytes) ?? (receivedBytes === 0
          ? new PosError('HOST_TIMEOUT', `host ${this.target} closed the connection without answering`, { target: this.target, errno: errnoOf(e), requestSent: true })
          : malformed(`connection closed mid-response after ${receivedBytes} of ${expectedBytes < 0 ? '?' : expectedBytes} bytes`, { offset: receivedBytes }))),
      };
      settle.arm(this.responseTimeoutMs, () => new PosError('HOST_TIMEOUT',
        `no response from ${this.target} in ${this.responseTimeoutMs} ms`, { target: this.target, requestSent: true, receivedBytes }));
      connection.socket.write(request);
    });
  }

  /** One place for a pending operation's timer, abort listener and single settlement. */
  private settler(connection: Connection, signal: AbortSignal | undefined, requestSent: boolean, reject: (e: unknown) => void) {
    let settled = false;
    let timer: unknown;
    const onAbort = (): void => fail(cancelled(requestSent));
    const finish = (): void => {
      settled = true;
      connection.handler = undefined;
      if (timer !== undefined) this.clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (e: unknown): void => {
      if (settled) return;
      finish();
      connection.kill();
      reject(e instanceof PosError && e.detail.requestSent === undefined ? withSent(e, requestSent) : e);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    return {
      done: () => settled,
      finish,
      fail,
      /** (Re)starts the one timer: a TLS connect swaps the TCP timer for the handshake's. */
      arm: (ms: number, error: () => PosError) => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        timer = this.clock.setTimeout(() => fail(error()), ms);
      },
    };
  }
}

/** The same error, saying whether the request may have reached the host. */
function withSent(e: PosError, requestSent: boolean): PosError {
  return new PosError(e.id, e.message.replace(/^\S+ /, ''), { ...e.detail, requestSent }, { cause: e.cause });
}

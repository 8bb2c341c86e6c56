/**
 * TLS to the acquirer host (issue 12 item 4; docs/PROTOCOL.md section 1, "TLS").
 *
 * What the terminal trusts: the acquirer's CA from the board file (`host.tls.caFile`) and nothing
 * else (the system's CA store is never consulted), the server name the board file names, TLS 1.2
 * or later, and optionally one server public key (`pin`: SHA-256 of the SPKI, base64 or hex).
 *
 * Why the terminal verifies the server's certificate itself (rejectUnauthorized false, then
 * `verifyPeer` before a byte of the request is written): node:tls judges validity dates with the
 * process's real clock and offers no way to give it another, while every clock of the terminal
 * comes from one injected source (docs/FACTS.md, "Time"; DESIGN.md rule 9). So the chain to the
 * pinned CA (signature and issuer of every link, CA flag of intermediates, at most
 * CHAIN_DEPTH_MAX), the dates (terminal clock), the name and the pin are checked here, each
 * failure with its own code. OpenSSL's own verdict is kept as a second gate: an error it finds
 * other than a date one refuses the connection too (a date verdict of the real clock is the only
 * one the terminal's clock may overrule).
 *
 * A client certificate (`clientCert: true`) is the one the factory provisioned beside the device
 * key (runtime/host/tls-credentials.ts): the key is unsealed into a SecureContext at start and
 * never written or logged in plain. Its expiry is checked with the terminal's clock before every
 * connect (E-NET-24), and `clientCertDaysLeft` feeds diagnostics' warning.
 *
 * Short connections pay a handshake per message; the link keeps the last session ticket the host
 * gave on a verified connection (one, in memory only) and offers it on the next connect, so a
 * resumed handshake skips the certificate exchange (npm run bench:tls measures both).
 */
import type * as Tls from 'node:tls';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PosError } from '../../common/errors';
import { CLOCK_FLOOR_MS } from '../../common/time';
import type { HostTlsConfig } from '../../hal/board-schema';
import type { ConnectTarget, SocketLike } from './transport';
import { lazy } from '../../common/lazy';

// node:tls on the first TLS connection, not at start: a plain-TCP host never loads it, and it
// keeps a V8 startup snapshot from taking the terminal (boot/README.md, "Start time").
const tls = lazy(() => require('node:tls') as typeof Tls);

export const TLS_MIN_VERSION = 'TLSv1.2';
/** A handshake that takes longer after TCP connected is a timeout of its own (E-NET-25). */
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 10_000;
/** Intermediates followed from the server's certificate to the pinned CA. */
export const CHAIN_DEPTH_MAX = 4;
/** Diagnostics warn when the terminal's own certificate has fewer days left than this. */
export const CLIENT_CERT_WARN_DAYS = 30;
/** The largest CA or certificate file read (bytes): a PEM bundle, not a disk image. */
export const CERT_FILE_BYTES_MAX = 64 * 1024;
const DAY_MS = 86_400_000;

/** The credentials a TLS link needs, loaded once (tls-credentials.ts loads the client's). */
export interface TlsCredentials {
  readonly caPem: string;
  /** The factory-provisioned client certificate and its unsealed key (PEM, memory only). */
  readonly client?: { readonly certPem: string; readonly keyPem: string };
}

/** Reads the pinned CA file; a missing or unreadable file is E-NET-27. */
export function readCaFile(file: string): string {
  let pem: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.length > CERT_FILE_BYTES_MAX) throw new Error(`over ${CERT_FILE_BYTES_MAX} bytes`);
    pem = bytes.toString('utf8');
    new X509Certificate(pem); // eslint-disable-line no-new -- parses, throws on garbage
  } catch (e) {
    throw new PosError('NET_TLS_CREDENTIALS', `the acquirer CA file ${file} cannot be read as a certificate: ${(e as Error).message}`, { file, requestSent: false }, { cause: e });
  }
  return pem;
}

/** Base64 or hex SHA-256 of a SPKI, normalised to bytes; undefined when neither. */
export function pinBytes(pin: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(pin)) return Buffer.from(pin, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(pin)) return Buffer.from(pin, 'base64');
  return undefined;
}

/** SHA-256 of a certificate's SubjectPublicKeyInfo (DER): what `pin` names. */
export function spkiSha256(cert: X509Certificate): Buffer {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest();
}

export interface TlsLinkOptions {
  readonly config: HostTlsConfig;
  /**
   * The CA and client certificate, or how to load them: loaded at the first connect and again at
   * every connect until they load, so a missing file fails each sign-on with E-NET-27 (on the
   * screen) instead of the boot, and a terminal provisioned afterwards needs no restart.
   */
  readonly credentials: TlsCredentials | (() => TlsCredentials);
  /** The terminal's clock (ms since the epoch): certificate dates are judged by it. */
  readonly now: () => number;
  readonly handshakeTimeoutMs?: number;
  /** Off: every connect does a full handshake (the benchmark's baseline). */
  readonly resumeSessions?: boolean;
}

/** A connected TLS socket as the transport sees it; 'connect' fires only once `verifyPeer` passed. */
interface Loaded {
  readonly context: Tls.SecureContext;
  readonly ca: X509Certificate;
  readonly clientCert: X509Certificate | undefined;
}

export class TlsLink {
  readonly handshakeTimeoutMs: number;
  private readonly pin: Buffer | undefined;
  private loaded: Loaded | undefined;
  private session: { readonly ticket: Buffer; readonly leaf: X509Certificate } | undefined;
  private resumed = 0;
  private full = 0;

  constructor(private readonly o: TlsLinkOptions) {
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT;
    this.pin = o.config.pin === undefined ? undefined : pinBytes(o.config.pin);
  }

  /** The credentials as a SecureContext (the client key lives only there once loaded). */
  private load(): Loaded {
    if (this.loaded) return this.loaded;
    const c = typeof this.o.credentials === 'function' ? this.o.credentials() : this.o.credentials;
    if (this.o.config.clientCert && c.client === undefined) {
      throw new PosError('NET_TLS_CREDENTIALS', 'the board asks for a client certificate and none is provisioned (pos factory tls)', { requestSent: false });
    }
    // The CA here is only for OpenSSL's second opinion; trust is decided by verifyPeer.
    const context = tls().createSecureContext({
      ca: c.caPem, minVersion: TLS_MIN_VERSION,
      ...(c.client ? { cert: c.client.certPem, key: c.client.keyPem } : {}),
    });
    this.loaded = { context, ca: new X509Certificate(c.caPem), clientCert: c.client ? new X509Certificate(c.client.certPem) : undefined };
    return this.loaded;
  }

  private get ca(): X509Certificate {
    return this.load().ca;
  }

  private get clientCert(): X509Certificate | undefined {
    return this.load().clientCert;
  }

  /** Handshakes so far: full and resumed (tests and the benchmark read them). */
  handshakes(): { readonly full: number; readonly resumed: number } {
    return { full: this.full, resumed: this.resumed };
  }

  /** Whole days the terminal's certificate has left by the terminal's clock (negative: expired); undefined without one. */
  clientCertDaysLeft(): number | undefined {
    if (!this.clientCert) return undefined;
    return Math.floor((Date.parse(this.clientCert.validTo) - this.o.now()) / DAY_MS);
  }

  /** E-NET-24 before dialling: a host would refuse an expired client certificate anyway, less clearly. */
  checkClientCert(): void {
    if (!this.clientCert) return;
    const { now, clockSet } = certTime(this.o.now());
    if (now > Date.parse(this.clientCert.validTo) || (clockSet && now < Date.parse(this.clientCert.validFrom))) {
      throw new PosError('NET_TLS_CLIENT_EXPIRED', `the terminal's certificate is valid ${this.clientCert.validFrom} .. ${this.clientCert.validTo}, not at the terminal's time ${new Date(now).toISOString()}`,
        { validTo: this.clientCert.validTo, requestSent: false });
    }
  }

  /** Opens a TLS connection; the socket says 'connect' only after the handshake and verifyPeer. */
  connect(target: ConnectTarget): SocketLike {
    this.checkClientCert();
    const socket = tls().connect({
      host: target.host, port: target.port, ...(target.localAddress !== undefined ? { localAddress: target.localAddress } : {}), secureContext: this.load().context,
      // SNI carries names only (node refuses an IP there); an IP is still checked by verifyPeer.
      ...(isIpAddress(this.o.config.serverName) ? {} : { servername: this.o.config.serverName }),
      minVersion: TLS_MIN_VERSION, rejectUnauthorized: false, checkServerIdentity: () => undefined,
      ...(this.session && this.o.resumeSessions !== false ? { session: this.session.ticket } : {}),
    });
    return new VerifiedTlsSocket(socket, this);
  }

  /** Keeps a ticket the host gave on a verified connection (with the certificate verified then), to resume with next time. */
  noteSession(ticket: Buffer, leaf: X509Certificate): void {
    if (this.o.resumeSessions !== false) this.session = { ticket, leaf };
  }

  /** Drops the ticket (after a verification failure: the next connect starts afresh). */
  forgetSession(): void {
    this.session = undefined;
  }

  /**
   * The server's certificate judged by the terminal: the verified leaf, or the error. A resumed
   * session shows no certificate (TLS 1.3 resumes without one); the one verified in full when the
   * ticket was kept is judged again (dates by the terminal's clock, name, pin).
   */
  verifyPeer(socket: Tls.TLSSocket): X509Certificate | PosError {
    const resumedFrom = socket.isSessionReused() ? this.session?.leaf : undefined;
    if (resumedFrom) this.resumed++;
    else this.full++;
    let leaf: X509Certificate;
    let path: X509Certificate[];
    if (resumedFrom) {
      leaf = resumedFrom;
      path = [leaf];
    } else {
      const peer = socket.getPeerCertificate(true);
      if (!peer || !peer.raw) return new PosError('NET_TLS_UNTRUSTED', 'the host sent no certificate', { requestSent: false });
      const presented = chainOf(peer);
      leaf = presented[0];
      const found = this.pathToCa(leaf, presented.slice(1));
      if (found === undefined) return new PosError('NET_TLS_UNTRUSTED', `the host's certificate (${leaf.subject.replace(/\n/g, ', ')}) does not chain to the acquirer CA`, { issuer: leaf.issuer, requestSent: false });
      path = found;
    }
    const dated = this.datesOk([...path, this.ca]);
    if (dated) return dated;
    const name = this.o.config.serverName;
    const nameOk = isIpAddress(name) ? leaf.checkIP(name) !== undefined : leaf.checkHost(name) !== undefined;
    if (!nameOk) return new PosError('NET_TLS_NAME', `the host's certificate is not for ${name} (${leaf.subjectAltName ?? leaf.subject})`, { serverName: name, requestSent: false });
    if (this.pin && !spkiSha256(leaf).equals(this.pin)) {
      return new PosError('NET_TLS_PIN', `the host's public key (sha256 ${spkiSha256(leaf).toString('base64')}) is not the pinned one`, { requestSent: false });
    }
    const openssl = socket.authorizationError as unknown as string | undefined; // typed as Error, is a code string
    if (openssl && !OPENSSL_DATE_ERRORS.has(String(openssl)) && !resumedFrom) {
      return new PosError('NET_TLS_UNTRUSTED', `OpenSSL refuses the host's certificate: ${String(openssl)}`, { openssl: String(openssl), requestSent: false });
    }
    return leaf;
  }

  /** The certificates from `leaf` up to (not including) the pinned CA, or undefined when it does not get there. */
  private pathToCa(leaf: X509Certificate, others: X509Certificate[]): X509Certificate[] | undefined {
    const path = [leaf];
    let current = leaf;
    for (let depth = 0; depth < CHAIN_DEPTH_MAX; depth++) {
      if (current.raw.equals(this.ca.raw)) return path.slice(0, -1);
      if (signedBy(current, this.ca)) return path;
      const issuer = others.find((c) => c.ca && signedBy(current, c));
      if (issuer === undefined) return undefined;
      path.push(issuer);
      current = issuer;
    }
    return undefined;
  }

  private datesOk(certs: X509Certificate[]): PosError | undefined {
    const { now, clockSet } = certTime(this.o.now());
    for (const c of certs) {
      const who = c === certs[0] ? 'the host\'s certificate' : `its issuer ${c.subject.replace(/\n/g, ', ')}`;
      if (clockSet && now < Date.parse(c.validFrom)) return new PosError('NET_TLS_NOT_YET_VALID', `${who} is valid from ${c.validFrom}; the terminal's time is ${new Date(now).toISOString()}`, { validFrom: c.validFrom, requestSent: false });
      if (now > Date.parse(c.validTo)) return new PosError('NET_TLS_EXPIRED', `${who} expired ${c.validTo}; the terminal's time is ${new Date(now).toISOString()}`, { validTo: c.validTo, requestSent: false });
    }
    return undefined;
  }
}

/**
 * The time certificates' dates are judged at: the terminal's. A clock never set (before
 * CLOCK_FLOOR_MS: a dead RTC reads 1970) cannot judge them, and only the sign-on over this very
 * link would set it: then a certificate is judged expired at the floor (it surely is, whatever the
 * real time) and never "not yet valid" (the real time is some unknown span past the floor).
 */
function certTime(terminalMs: number): { now: number; clockSet: boolean } {
  return terminalMs >= CLOCK_FLOOR_MS ? { now: terminalMs, clockSet: true } : { now: CLOCK_FLOOR_MS, clockSet: false };
}

function isIpAddress(name: string): boolean {
  return /^[0-9.]+$|:/.test(name);
}

/** OpenSSL's verdicts that come from the real clock, which the terminal's clock overrules. */
const OPENSSL_DATE_ERRORS: ReadonlySet<string> = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** The presented certificates, leaf first, at most CHAIN_DEPTH_MAX + 1 (node links the last to itself). */
function chainOf(peer: Tls.DetailedPeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  let c: Tls.DetailedPeerCertificate | undefined = peer;
  while (c && c.raw && out.length <= CHAIN_DEPTH_MAX) {
    const cert = new X509Certificate(c.raw);
    if (out.some((x) => x.raw.equals(cert.raw))) break;
    out.push(cert);
    c = c.issuerCertificate;
  }
  return out;
}

/** TLS alerts by which a host refuses the terminal's certificate (or its absence). */
const CLIENT_REFUSED_ALERTS = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|HANDSHAKE_FAILURE)$/;

/**
 * A TLS error from the socket as the terminal's code, or undefined when it is no TLS error (a TCP
 * one the transport maps itself). A refusing alert arrives at the client after its own handshake
 * finished under TLS 1.3, i.e. possibly after the request was written; the host read none of it
 * (it stops before application data), so requestSent stays false.
 */
export function tlsErrorOf(e: Error | undefined, target: string): PosError | undefined {
  if (e instanceof PosError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (!code.startsWith('ERR_SSL_') && !code.startsWith('ERR_TLS_')) return undefined;
  if (CLIENT_REFUSED_ALERTS.test(code)) return new PosError('NET_TLS_CLIENT_REFUSED', `host ${target} refused the terminal's certificate (${code})`, { target, alert: code, requestSent: false }, { cause: e });
  return new PosError('NET_TLS_FAILED', `TLS with ${target} failed (${code})`, { target, tls: code, requestSent: false }, { cause: e });
}

type Listener = (...args: never[]) => void;

/**
 * The transport's SocketLike over a TLSSocket: 'connect' is emitted once the handshake finished
 * and the peer passed verifyPeer; a refused peer becomes an 'error' (its PosError) and a close.
 * 'tcp-connect' tells the transport the TCP part is done (the handshake timer starts there).
 */
class VerifiedTlsSocket implements SocketLike {
  private readonly listeners = new Map<string, Listener[]>();
  private verified: X509Certificate | undefined;
  /** A ticket that came before the verdict (TLS 1.2 sends it inside the handshake). */
  private early: Buffer | undefined;

  constructor(private readonly socket: Tls.TLSSocket, link: TlsLink) {
    socket.on('connect', () => this.emit('tcp-connect'));
    socket.once('secureConnect', () => {
      const verdict = link.verifyPeer(socket);
      if (verdict instanceof PosError) {
        link.forgetSession();
        socket.destroy(verdict);
        return;
      }
      this.verified = verdict;
      if (this.early) link.noteSession(this.early, verdict);
      this.emit('connect');
    });
    socket.on('session', (s: Buffer) => {
      if (this.verified) link.noteSession(s, this.verified);
      else this.early = s;
    });
    socket.on('data', (chunk: Buffer) => this.emit('data', chunk));
    socket.on('error', (e: Error) => this.emit('error', e));
    socket.on('end', () => this.emit('end'));
    socket.on('close', () => this.emit('close'));
  }

  write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  on(event: string, listener: Listener): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return this;
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const l of this.listeners.get(event) ?? []) (l as (...a: unknown[]) => void)(...args);
  }
}

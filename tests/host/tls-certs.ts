/**
 * Throwaway certificates for the TLS tests and the benchmark, made at run time with `openssl` in
 * a temporary folder: an acquirer CA and another CA, server certificates (good, expired, not yet
 * valid, another name, another CA's) and terminal certificates (good, expired, another CA's).
 *
 * Dates are relative to the real now (`openssl ca -startdate/-enddate`): "expired" ended a day
 * ago, "not yet valid" starts in ten years, "good" runs from a day ago for 30 days. Tests never
 * assert on a date; the ones about the terminal's clock move that clock relative to the same now.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVER_NAME = 'acquirer.test';
const DAY_MS = 86_400_000;

/** ASN.1 GeneralizedTime for `openssl ca`: YYYYMMDDHHMMSSZ. */
function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface Pair {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: Pair;
  readonly otherCa: Pair;
  readonly server: Pair;
  readonly serverExpired: Pair;
  readonly serverNotYetValid: Pair;
  readonly serverWrongName: Pair;
  readonly serverOtherCa: Pair;
  readonly client: Pair;
  readonly clientExpired: Pair;
  readonly clientOtherCa: Pair;
  /** An RSA-2048 terminal key: larger than device-key.ts seal takes in one piece. */
  readonly clientRsa: Pair;
}

/** A CA valid from 400 days ago (so a terminal clock moved back a little still trusts it) for ten years. */
function makeCa(dir: string, name: string, cn: string, nowMs: number): Pair {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`], dir);
  const { conf, ext } = caFiles(dir, name, ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign']);
  openssl(['ca', '-batch', '-selfsign', '-config', conf, '-keyfile', keyFile, '-in', csr, '-out', certFile, '-notext',
    '-startdate', asn1Time(nowMs - 400 * DAY_MS), '-enddate', asn1Time(nowMs + 3650 * DAY_MS), '-extfile', ext], dir);
  return { keyFile, certFile, key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

/** The bookkeeping `openssl ca` wants (database, serial, policy) and an extensions file. */
function caFiles(dir: string, name: string, extensions: string[]): { conf: string; ext: string } {
  const caDir = join(dir, `ca-${name}`);
  mkdirSync(join(caDir, 'new'), { recursive: true });
  writeFileSync(join(caDir, 'index.txt'), '');
  writeFileSync(join(caDir, 'serial'), `${Buffer.from(name).toString('hex').slice(0, 16).padEnd(4, '0')}\n`);
  const conf = join(caDir, 'ca.cnf');
  writeFileSync(conf, [
    '[ca]', 'default_ca = d', '[d]', `database = ${join(caDir, 'index.txt')}`, `new_certs_dir = ${join(caDir, 'new')}`,
    `serial = ${join(caDir, 'serial')}`, 'default_md = sha256', 'policy = p', 'unique_subject = no', '[p]', 'commonName = supplied', '',
  ].join('\n'));
  const ext = join(caDir, 'ext.cnf');
  writeFileSync(ext, [...extensions, ''].join('\n'));
  return { conf, ext };
}

interface LeafSpec {
  readonly name: string;
  readonly ca: Pair;
  readonly cn: string;
  readonly san?: string;
  readonly usage: 'serverAuth' | 'clientAuth';
  readonly fromMs: number;
  readonly toMs: number;
  readonly rsa?: boolean;
}

function makeLeaf(dir: string, s: LeafSpec): Pair {
  const keyFile = join(dir, `${s.name}.key`);
  const certFile = join(dir, `${s.name}.crt`);
  const csr = join(dir, `${s.name}.csr`);
  const newKey = s.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  openssl(['req', '-new', ...newKey, '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${s.cn}`], dir);
  // `openssl ca` is the tool of OpenSSL 3.0 that sets arbitrary start and end dates.
  const { conf, ext } = caFiles(dir, s.name, ['basicConstraints = CA:FALSE', `extendedKeyUsage = ${s.usage}`, ...(s.san ? [`subjectAltName = ${s.san}`] : [])]);
  openssl(['ca', '-batch', '-config', conf, '-cert', s.ca.certFile, '-keyfile', s.ca.keyFile, '-in', csr, '-out', certFile, '-notext',
    '-startdate', asn1Time(s.fromMs), '-enddate', asn1Time(s.toMs), '-extfile', ext], dir);
  return { keyFile, certFile, key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

/** Every certificate the TLS tests use, in `dir` (a temporary folder the caller removes). */
export function makeTestPki(dir: string, nowMs: number = Date.now()): TestPki {
  const ca = makeCa(dir, 'ca', 'Test Acquirer CA', nowMs);
  const otherCa = makeCa(dir, 'other-ca', 'Somebody Else CA', nowMs);
  const good = { fromMs: nowMs - DAY_MS, toMs: nowMs + 30 * DAY_MS };
  const san = `DNS:${SERVER_NAME},IP:127.0.0.1`;
  const server = (name: string, extra: Partial<LeafSpec>): Pair => makeLeaf(dir, { name, ca, cn: SERVER_NAME, san, usage: 'serverAuth', ...good, ...extra });
  const client = (name: string, extra: Partial<LeafSpec>): Pair => makeLeaf(dir, { name, ca, cn: 'terminal 12345678', usage: 'clientAuth', ...good, ...extra });
  return {
    dir, ca, otherCa,
    server: server('server', {}),
    serverExpired: server('server-expired', { fromMs: nowMs - 30 * DAY_MS, toMs: nowMs - DAY_MS }),
    serverNotYetValid: server('server-future', { fromMs: nowMs + 3650 * DAY_MS, toMs: nowMs + 3680 * DAY_MS }),
    serverWrongName: server('server-wrong-name', { cn: 'other.example', san: 'DNS:other.example' }),
    serverOtherCa: server('server-other-ca', { ca: otherCa }),
    client: client('client', { toMs: nowMs + 10 * DAY_MS }),
    clientExpired: client('client-expired', { fromMs: nowMs - 30 * DAY_MS, toMs: nowMs - DAY_MS }),
    clientOtherCa: client('client-other-ca', { ca: otherCa }),
    clientRsa: client('client-rsa', { rsa: true }),
  };
}

export const DAYS_MS = DAY_MS;

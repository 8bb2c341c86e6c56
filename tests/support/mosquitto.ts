/**
 * A real mosquitto broker on a loopback port for the management tests and the fleet benchmark:
 * a test CA, a server certificate for 127.0.0.1 and a second, unrelated CA (for the pinning
 * test), made with the openssl CLI; a password file made with mosquitto_passwd; an ACL that lets
 * each terminal touch only `pos/<its username>/#` and the console everything; persistence on, so
 * that retained messages and sessions survive a restart as on a production broker.
 *
 * Without mosquitto (Debian package `mosquitto`) or openssl, `needMosquitto` skips loudly, or
 * fails under POS_REQUIRE_TOOLS=1 (.ci/run), as tests/support/tools.ts does for socat.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** mosquitto lives in /usr/sbin on Debian, often not on a user's PATH. */
export function findTool(name: string): string | undefined {
  const onPath = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (onPath.status === 0 && onPath.stdout.trim()) return onPath.stdout.trim();
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin']) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

export function mosquittoMissing(): string | undefined {
  const missing = ['mosquitto', 'mosquitto_passwd', 'openssl'].filter((t) => findTool(t) === undefined);
  return missing.length ? `${missing.join(', ')} not installed: the MQTT management tests cannot run (apt-get install mosquitto openssl); .ci/run installs them` : undefined;
}

/** In a mocha `before`: skip loudly without the tools, fail under POS_REQUIRE_TOOLS=1. */
export function needMosquitto(ctx: Mocha.Context): void {
  const message = mosquittoMissing();
  if (message === undefined) return;
  if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  ctx.skip();
}

export const CONSOLE_USER = 'console';
export const CONSOLE_PASSWORD = 'console-secret';
/** A broker that does not come up in this long is a failure (named). */
const BROKER_START_MS_MAX = 10_000;

export interface TestPki { readonly caPem: string; readonly otherCaPem: string }

function openssl(dir: string, args: string[]): void {
  const r = spawnSync(findTool('openssl') as string, args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** CA, server key and certificate (SAN 127.0.0.1 and localhost), and an unrelated CA. */
function makePki(dir: string): TestPki {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3', '-subj', '/CN=pos-test-ca']);
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '3', '-subj', '/CN=pos-other-ca']);
  openssl(dir, ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '3', '-extfile', 'san.cnf']);
  return { caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), otherCaPem: readFileSync(join(dir, 'other-ca.crt'), 'utf8') };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** True when something accepts a TCP connection on 127.0.0.1:port (a server started by a test is up). */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ port, host: '127.0.0.1' });
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export class TestBroker {
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(readonly dir: string, readonly port: number, readonly pki: TestPki) {}

  get url(): string { return `mqtts://127.0.0.1:${this.port}`; }
  /** What mosquitto wrote (its log), for a failing assertion's message. */
  get log(): string { return this.stderr; }
  get pid(): number | undefined { return this.child?.pid; }

  /** `users`: username -> password (the console is added). */
  static async create(users: Readonly<Record<string, string>>, opts: { tls?: boolean } = {}): Promise<TestBroker> {
    const dir = mkdtempSync(join(tmpdir(), 'pos-mqtt-'));
    const pki = makePki(dir);
    const port = await freePort();
    const all = { ...users, [CONSOLE_USER]: CONSOLE_PASSWORD };
    const passwd = join(dir, 'passwd');
    // Plain `user:password` lines, then hashed in place in one call (-U; PBKDF2-SHA512): a fleet of
    // a thousand terminals needs no thousand processes.
    writeFileSync(passwd, Object.entries(all).map(([u, p]) => `${u}:${p}\n`).join(''), { mode: 0o600 });
    const r = spawnSync(findTool('mosquitto_passwd') as string, ['-U', passwd], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mosquitto_passwd -U: ${r.stderr}`);
    writeFileSync(join(dir, 'acl'), `user ${CONSOLE_USER}\ntopic readwrite pos/#\n\npattern readwrite pos/%u/#\n`, { mode: 0o600 });
    mkdirSync(join(dir, 'data'));
    const tls = opts.tls ?? true;
    writeFileSync(join(dir, 'mosquitto.conf'), [
      // Started as root, mosquitto drops to the user `mosquitto`, who cannot read these files.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'per_listener_settings false',
      'persistence true',
      `persistence_location ${join(dir, 'data')}/`,
      'allow_anonymous false',
      `password_file ${passwd}`,
      `acl_file ${join(dir, 'acl')}`,
      'max_queued_messages 10000',
      // Small messages answered at once: no Nagle wait on the broker's side either.
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error', 'log_type warning', 'log_type notice',
      `listener ${port} 127.0.0.1`,
      ...(tls ? [`cafile ${join(dir, 'ca.crt')}`, `certfile ${join(dir, 'server.crt')}`, `keyfile ${join(dir, 'server.key')}`] : []),
      '',
    ].join('\n'));
    const b = new TestBroker(dir, port, pki);
    await b.start();
    return b;
  }

  async start(): Promise<void> {
    const child = spawn(findTool('mosquitto') as string, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-20_000); });
    this.child = child;
    const started = Date.now();
    while (!(await portOpen(this.port))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited ${child.exitCode}: ${this.stderr}`);
      if (Date.now() - started > BROKER_START_MS_MAX) throw new Error(`mosquitto not listening on ${this.port} after ${BROKER_START_MS_MAX} ms: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM: mosquitto saves its persistence file (retained messages, sessions) and exits. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
    this.child = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Resident memory of the broker process (KiB), from /proc. */
  rssKiB(): number {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${this.child?.pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  }

  /** CPU time the broker process has used (user + system, ms), from /proc (clock ticks of 10 ms). */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.child?.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14, 15 of stat)
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

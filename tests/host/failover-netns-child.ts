/**
 * The two processes of tests/host/failover-netns.test.ts, each run in its own network namespace
 * (`ip netns exec NS node failover-netns-child.js MODE JSON`, dist/'s JavaScript when it is current,
 * else the TypeScript under ts-node: common/spawn.ts nodeArgsFor):
 *
 *   host      the acquirer simulator listening on the host address; prints {"listening":port},
 *             then {"remote":address} for every connection it accepts (which link it came over),
 *             until its stdin closes.
 *   terminal  one sign-on through runtime/host/failover.ts over the links given; prints one line
 *             {"ok":true,"responseCode","link":LinkUse,"ms"} or {"ok":false,"code","detail","ms"}.
 *   linkcheck diagnostics' check of every link (boot/link-check.ts, real probes); prints its report.
 */
import { AcquirerSimulator } from '../../sim/host/simulator';
import { FailoverTransport } from '../../runtime/host/failover';
import { buildSignOn, encodeRequest, parseSignOnResponse } from '../../runtime/host/messages';
import { isPosError } from '../../common/errors';
import type { HostLinkRoute } from '../../hal/board-schema';
import { IDS, TMK, profile } from './fixtures';
import { checkLinks } from '../../boot/link-check';

interface TerminalArgs {
  readonly host: string;
  readonly port: number;
  readonly links: readonly HostLinkRoute[];
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  /** A new one per sign-on: the simulator answers 94 to a STAN seen again. */
  readonly stan: number;
}

const out = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };

async function host(a: { address: string }): Promise<void> {
  const sim = new AcquirerSimulator({ clock: Date.now });
  // The simulator's server is private; the test needs each connection's source address.
  (sim['server'] as import('node:net').Server).on('connection', (s) => out({ remote: s.remoteAddress }));
  out({ listening: await sim.listen(0, a.address) });
  process.stdin.resume();
  process.stdin.on('end', () => { void sim.close().then(() => process.exit(0)); });
}

async function terminal(a: TerminalArgs): Promise<void> {
  const t = new FailoverTransport({ links: a.links, transport: { host: a.host, port: a.port, profile, connectTimeoutMs: a.connectTimeoutMs, responseTimeoutMs: a.responseTimeoutMs } });
  const started = Date.now();
  const req = buildSignOn(profile, { ids: IDS, stan: a.stan, batch: 1, operator: '001' });
  try {
    const answer = await t.exchange(encodeRequest(profile, req, {}));
    const r = parseSignOnResponse(profile, req, answer, TMK);
    out({ ok: true, responseCode: r.responseCode, link: t.lastLink(), ms: Date.now() - started });
  } catch (e) {
    out({ ok: false, code: isPosError(e) ? e.code : String(e), detail: isPosError(e) ? e.detail : {}, ms: Date.now() - started });
  }
}

const [mode, json] = process.argv.slice(2);
const args: unknown = JSON.parse(json ?? '{}');
async function linkcheck(a: TerminalArgs): Promise<void> {
  out(await checkLinks(a.links, { host: a.host, port: a.port }));
}

(mode === 'host' ? host(args as { address: string }) : mode === 'linkcheck' ? linkcheck(args as TerminalArgs) : terminal(args as TerminalArgs)).catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});

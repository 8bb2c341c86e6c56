/**
 * npm run bench:tls — what TLS costs a short-connection host: one connection, and so one
 * handshake, per message. Against the acquirer simulator on loopback (client certificate
 * required, ECDSA P-256 certificates made by openssl in a temporary folder), the same echo-sized
 * exchange (a sign-on: 0800 and its 0810) timed three ways in the same run, in interleaved rounds
 * so that machine noise falls on all three alike:
 *   plain TCP          the baseline: connect, request, answer, close
 *   TLS, full          a full handshake per message (session resumption off)
 *   TLS, resumed       the terminal offers the host's last session ticket (the default)
 * Loopback hides the network's round trips, which TLS 1.3 keeps at one either way; what is left is
 * the CPU of the handshake (certificate signatures and checks), the part a slow terminal CPU feels.
 * BENCH_TLS_ROUNDS (default 10) × BENCH_TLS_PER_ROUND (default 20) exchanges per way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HostTransport } from '../runtime/host/transport';
import { TlsLink } from '../runtime/host/tls';
import { CUP_PROFILE } from '../runtime/host/fields';
import { buildSignOn, encodeRequest, parseSignOnResponse } from '../runtime/host/messages';
import { AcquirerSimulator, TEST_TERMINAL } from '../sim/host/simulator';
import { SERVER_NAME, makeTestPki } from '../tests/host/tls-certs';

const ROUNDS = Number(process.env.BENCH_TLS_ROUNDS ?? 10);
const PER_ROUND = Number(process.env.BENCH_TLS_PER_ROUND ?? 20);
const IDS = { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid };

type Way = 'plain TCP' | 'TLS, full handshake' | 'TLS, resumed';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pos-bench-tls-'));
  try {
    const pki = makeTestPki(dir);
    const plain = new AcquirerSimulator({ clock: Date.now });
    const secure = new AcquirerSimulator({ clock: Date.now, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requireClientCert: true } });
    const plainPort = await plain.listen(0);
    const tlsPort = await secure.listen(0);
    const link = (resume: boolean): TlsLink => new TlsLink({
      config: { caFile: pki.ca.certFile, serverName: SERVER_NAME, clientCert: true }, now: Date.now, resumeSessions: resume,
      credentials: { caPem: pki.ca.cert, client: { certPem: pki.client.cert, keyPem: pki.client.key } },
    });
    const full = link(false);
    const resumed = link(true);
    const transports: Record<Way, HostTransport> = {
      'plain TCP': new HostTransport({ host: '127.0.0.1', port: plainPort, profile: CUP_PROFILE }),
      'TLS, full handshake': new HostTransport({ host: '127.0.0.1', port: tlsPort, profile: CUP_PROFILE, tls: full }),
      'TLS, resumed': new HostTransport({ host: '127.0.0.1', port: tlsPort, profile: CUP_PROFILE, tls: resumed }),
    };
    let stan = 0;
    const once = async (t: HostTransport): Promise<number> => {
      const req = buildSignOn(CUP_PROFILE, { ids: IDS, stan: (stan = (stan % 999_999) + 1), batch: 1, operator: '001' });
      const t0 = performance.now();
      const reply = await t.exchange(encodeRequest(CUP_PROFILE, req, {}));
      const ms = performance.now() - t0;
      if (!parseSignOnResponse(CUP_PROFILE, req, reply, TEST_TERMINAL.tmk).keys) throw new Error('sign-on refused');
      return ms;
    };
    const ways = Object.keys(transports) as Way[];
    for (const w of ways) await once(transports[w]); // warm-up (JIT, first ticket)
    const samples: Record<Way, number[]> = { 'plain TCP': [], 'TLS, full handshake': [], 'TLS, resumed': [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const w of ways) for (let i = 0; i < PER_ROUND; i++) samples[w].push(await once(transports[w]));
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = median(samples['plain TCP']);
    console.log(`one sign-on exchange per connection, ${ROUNDS} x ${PER_ROUND} per way, loopback, node ${process.version}`);
    for (const w of ways) {
      const m = median(samples[w]);
      const mean = samples[w].reduce((a, b) => a + b, 0) / samples[w].length;
      console.log(`${w.padEnd(22)} median ${m.toFixed(2)} ms  mean ${mean.toFixed(2)} ms  (${(m / base).toFixed(1)}x plain TCP, +${(m - base).toFixed(2)} ms)`);
    }
    console.log(`handshakes: full-handshake link ${JSON.stringify(full.handshakes())}, resuming link ${JSON.stringify(resumed.handshakes())}`);
    await plain.close();
    await secure.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

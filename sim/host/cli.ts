/**
 * `pos host-sim`: runs the acquirer simulator on loopback until SIGINT/SIGTERM or `quit`.
 *
 *   pos host-sim [--port 8583] [--host 127.0.0.1] [--tid=T1,T2 --tmk=K1,K2 [--mid=M1,M2]]
 *                [--mode=one-shot|keep-alive] [--fault=SPEC[;SPEC...]] [--qr-order-pays-at=N]
 *                [--tls-cert FILE --tls-key FILE [--tls-ca FILE [--require-client-cert]]]
 *
 * --tid/--tmk/--mid take comma-separated lists (one entry per terminal); without them the test
 * identities of docs/PROTOCOL.md are served. Fault specs are described in faults.ts. While it runs,
 * lines on stdin control it: `fault SPEC`, `faults`, `clear`, `ledger [TID]`, `quit`, and for
 * version 2: `pay [ORDER|CONTENT] [UP|WX|AL|OT]` (the customer pays a waiting QR order: by number, by
 * the QR content the terminal shows, or the newest waiting one), `orders [TID]` (the
 * QR orders), `status TID` (the last status upload), `doubles` (double-charged offline advices).
 * --qr-order-pays-at=N pays a terminal-presented QR order at its N-th query (default: only `pay`).
 * --tls-cert/--tls-key serve TLS with that certificate (PEM files); --tls-ca asks terminals for a
 * client certificate of that CA, and --require-client-cert refuses the handshake without one.
 */
import * as readline from 'node:readline';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Command, CommandContext, flagString } from '../../boot/cli';
import { Logger, createLogger } from '../../common/log';
import { AcquirerSimulator, SimTerminal, SimTlsOptions, TEST_TERMINAL } from './simulator';
import { WALLETS, Wallet } from '../../runtime/host/messages-v2';
import { FaultSpecError, parseFaultSpec } from './faults';

export const HOST_SIM_PORT_DEFAULT = 8583;
/** Terminals one command line may configure. */
export const CLI_TERMINALS_MAX = 32;

/** `--name value` lands in args when the pos command line does not know the flag takes a value. */
function flag(ctx: CommandContext, name: string, positional: string[]): string | undefined {
  const v = ctx.flags.get(name);
  if (v === true) return positional.shift();
  return flagString(ctx, name);
}

export interface HostSimSettings {
  readonly port: number;
  readonly host: string;
  readonly terminals: SimTerminal[];
  readonly connectionMode: 'one-shot' | 'keep-alive';
  readonly faults: string[];
  /** A terminal-presented QR order is paid at this query (undefined: only the `pay` control line pays). */
  readonly qrOrderPaysAt?: number;
  /** TLS (certificate files read at parse time, so a wrong path fails before listening). */
  readonly tls?: SimTlsOptions;
}

/** --tls-cert and --tls-key together; --tls-ca and --require-client-cert only with them. */
function tlsFlags(ctx: CommandContext, positional: string[]): SimTlsOptions | undefined {
  const [cert, key, ca] = ['tls-cert', 'tls-key', 'tls-ca'].map((n) => flag(ctx, n, positional));
  const require = ctx.flags.has('require-client-cert');
  if (cert === undefined && key === undefined) {
    if (ca !== undefined || require) throw new FaultSpecError('--tls-ca and --require-client-cert need --tls-cert and --tls-key');
    return undefined;
  }
  if (cert === undefined || key === undefined) throw new FaultSpecError('--tls-cert and --tls-key go together');
  if (require && ca === undefined) throw new FaultSpecError('--require-client-cert needs --tls-ca (the CA of the terminals\' certificates)');
  const read = (file: string): Buffer => {
    try { return readFileSync(file); } catch (e) { throw new FaultSpecError(`cannot read ${file}: ${(e as Error).message}`); }
  };
  return { cert: read(cert), key: read(key), ...(ca !== undefined ? { ca: read(ca), requireClientCert: require } : {}) };
}

export function parseHostSimFlags(ctx: CommandContext): HostSimSettings {
  const positional = [...ctx.args];
  const port = Number(flag(ctx, 'port', positional) ?? HOST_SIM_PORT_DEFAULT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new FaultSpecError('--port must be 0..65535');
  const host = flag(ctx, 'host', positional) ?? '127.0.0.1';
  const tids = flag(ctx, 'tid', positional)?.split(',');
  const tmks = flag(ctx, 'tmk', positional)?.split(',');
  const mids = flag(ctx, 'mid', positional)?.split(',');
  let terminals = [TEST_TERMINAL];
  if (tids !== undefined || tmks !== undefined) {
    if (tids === undefined || tmks === undefined || tids.length !== tmks.length) throw new FaultSpecError('--tid and --tmk need the same number of entries');
    if (tids.length > CLI_TERMINALS_MAX) throw new FaultSpecError(`at most ${CLI_TERMINALS_MAX} terminals`);
    terminals = tids.map((tid, i) => {
      if (!/^[0-9A-Fa-f]{32}$/.test(tmks[i])) throw new FaultSpecError(`TMK for ${tid} must be 32 hex digits`);
      return { tid, mid: mids?.[i] ?? TEST_TERMINAL.mid, tmk: Buffer.from(tmks[i], 'hex') };
    });
  }
  const mode = flag(ctx, 'mode', positional) ?? 'one-shot';
  if (mode !== 'one-shot' && mode !== 'keep-alive') throw new FaultSpecError('--mode must be one-shot or keep-alive');
  const faults = (flag(ctx, 'fault', positional) ?? '').split(';').filter((s) => s.trim() !== '');
  faults.forEach(parseFaultSpec); // reject a bad spec before listening
  const paysAtText = flag(ctx, 'qr-order-pays-at', positional);
  const qrOrderPaysAt = paysAtText === undefined ? undefined : Number(paysAtText);
  if (qrOrderPaysAt !== undefined && !(Number.isInteger(qrOrderPaysAt) && qrOrderPaysAt >= 1)) throw new FaultSpecError('--qr-order-pays-at must be a positive integer');
  const tls = tlsFlags(ctx, positional);
  return { port, host, terminals, connectionMode: mode, faults, ...(qrOrderPaysAt !== undefined ? { qrOrderPaysAt } : {}), ...(tls ? { tls } : {}) };
}

/** Applies one stdin control line; returns false on `quit`. */
/** The port a simulator taken `down` listened on, to come back `up` on the same one. */
const downPorts = new WeakMap<AcquirerSimulator, number>();

export function controlLine(sim: AcquirerSimulator, line: string, out: (l: string) => void): boolean {
  const [word, ...rest] = line.trim().split(/\s+/);
  try {
    if (word === '' || word === undefined) return true;
    if (word === 'quit' || word === 'exit') return false;
    if (word === 'fault') sim.setFault(parseFaultSpec(rest.join(' ')));
    else if (word === 'clear') sim.clearFaults();
    else if (word === 'faults') out(JSON.stringify(sim.activeFaults()));
    else if (word === 'ledger') for (const e of sim.ledger.entries({ tid: rest[0] })) out(JSON.stringify(e));
    else if (word === 'pay') {
      const wallet = rest[1]?.toUpperCase();
      if (wallet !== undefined && !(WALLETS as readonly string[]).includes(wallet)) throw new Error(`wallet must be one of ${WALLETS.join(', ')}`);
      // The order by number, by the QR content a terminal shows (`qr-pay` on its control port), or the newest waiting one.
      const named = rest[0] === undefined ? [...sim.ledger.qrOrders({})].reverse().find((x) => x.state === 'waiting')?.orderNo : (sim.ledger.qrOrders({}).find((x) => x.qrContent === rest[0])?.orderNo ?? rest[0]);
      const o = sim.payOrder(named ?? '', wallet as Wallet | undefined);
      out(`paid ${o.orderNo} (${o.wallet})`);
    } else if (word === 'orders') for (const o of sim.ledger.qrOrders({ tid: rest[0] })) out(JSON.stringify(o));
    else if (word === 'status') out(JSON.stringify(sim.lastStatus(rest[0] ?? '') ?? null));
    else if (word === 'doubles') out(JSON.stringify(sim.doubleAdvices()));
    // The host unreachable (connections refused, as with the network down) and back on its port:
    // what a terminal's offline sales are for.
    else if (word === 'down') { const port = sim.port; void sim.close().then(() => out(`host down (port ${port} refuses connections)`)); downPorts.set(sim, port); }
    else if (word === 'up') {
      const port = downPorts.get(sim);
      if (port === undefined) throw new Error('the host is not down');
      downPorts.delete(sim);
      void sim.listen(port).then(() => out(`host up on port ${port}`), (e: unknown) => out(`error: ${(e as Error).message}`));
    }
    else out(`unknown control "${word}": fault SPEC | faults | clear | ledger [TID] | pay ORDER [WALLET] | orders [TID] | status TID | doubles | down | up | quit`);
    if (word === 'fault' || word === 'clear') out(`faults: ${JSON.stringify(sim.activeFaults())}`);
  } catch (e) {
    out(`error: ${(e as Error).message}`);
  }
  return true;
}

/** Runs the simulator until `quit` on `input` or `signal`. */
export async function runHostSim(ctx: CommandContext, input: Readable, signal?: AbortSignal, logger: Logger = createLogger('host-sim')): Promise<number> {
  let settings: HostSimSettings;
  try {
    settings = parseHostSimFlags(ctx);
  } catch (e) {
    ctx.err(`pos host-sim: ${(e as Error).message}`);
    return 64;
  }
  const sim = new AcquirerSimulator({
    clock: Date.now, terminals: settings.terminals, connectionMode: settings.connectionMode, logger,
    ...(settings.qrOrderPaysAt !== undefined ? { qr: { orderPaysAtQuery: settings.qrOrderPaysAt } } : {}),
    ...(settings.tls ? { tls: settings.tls } : {}),
  });
  for (const f of settings.faults) sim.setFault(parseFaultSpec(f));
  const port = await sim.listen(settings.port, settings.host);
  ctx.out(`host-sim listening on ${settings.host}:${port}${settings.tls ? ` over TLS${settings.tls.requireClientCert ? ' (client certificate required)' : ''}` : ''} (terminals ${settings.terminals.map((t) => t.tid).join(', ')})`);
  await new Promise<void>((resolve) => {
    const lines = readline.createInterface({ input });
    const stop = (): void => { lines.close(); resolve(); };
    lines.on('line', (l) => { if (!controlLine(sim, l, ctx.out)) stop(); });
    // The end of stdin does not stop it: a simulator started in the background keeps serving.
    signal?.addEventListener('abort', stop, { once: true });
  });
  await sim.close();
  ctx.out('host-sim stopped');
  return 0;
}

export const hostSimCommands: Command[] = [
  {
    name: 'host-sim',
    summary: 'run the acquirer host simulator on loopback',
    usage: 'host-sim [--port N] [--host 127.0.0.1] [--tid=T --tmk=HEX [--mid=M]] [--mode=one-shot|keep-alive] [--fault=SPEC] [--qr-order-pays-at=N] [--tls-cert F --tls-key F [--tls-ca F] [--require-client-cert]]',
    run: (ctx) => {
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      return runHostSim(ctx, process.stdin, stop.signal).finally(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      });
    },
  },
];

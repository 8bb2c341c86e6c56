/**
 * `npm start`: the terminal on the simulator board, with the acquirer simulator, in a terminal
 * window. This process keeps what outlives the terminal (the acquirer host and its ledger, the
 * front panel, the printed paper) and runs the terminal itself as a child process
 * (boot/terminal-main.ts), so that pulling the battery is a real SIGKILL of the terminal and a
 * restart on the same storage.
 *
 *   npm start                      interactive front panel (needs a TTY)
 *   npm start -- --headless        no panel: prints the control port, runs until SIGINT/SIGTERM
 *   npm start -- --board FILE      another simulator board file ("simulator": true)
 *   npm start -- --control-port N  fixed control port (default: any free port)
 *   npm start -- --locale en       English screens and receipts (default zh-CN)
 *   npm start -- --journal-dir D   the journal somewhere else than the board file says (--backup-dir too)
 */
import { join } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { spawnModule } from '../common/spawn';
import { parseArgs } from './cli';
import { AcquirerSimulator } from '../sim/host/simulator';
import { ControlClient } from '../sim/control-client';
import { FrontPanel } from '../sim/front-panel';

export const TERMINAL_START_TIMEOUT_MS_MAX = 60_000;

interface Running {
  readonly child: ChildProcess;
  readonly controlPort: number;
}

/** Starts the terminal process and waits for its `READY control=<port>` line. */
export function startTerminal(args: readonly string[], onLog: (line: string) => void): Promise<Running> {
  const child = spawnModule(join(__dirname, 'terminal-main'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`terminal did not start within ${TERMINAL_START_TIMEOUT_MS_MAX} ms`)); }, TERMINAL_START_TIMEOUT_MS_MAX);
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /^READY control=(\d+)/.exec(line);
        if (m) { clearTimeout(timer); resolve({ child, controlPort: Number(m[1]) }); } else onLog(line);
      }
    });
    child.stderr?.on('data', (d: Buffer) => onLog(d.toString().trimEnd()));
    child.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`terminal exited before it was ready (code ${code}, signal ${signal})`)); });
  });
}

async function main(): Promise<void> {
  const { flags } = parseArgs(process.argv.slice(2), new Set(['board', 'control-port', 'locale', 'journal-dir', 'backup-dir']));
  const board = typeof flags.get('board') === 'string' ? String(flags.get('board')) : 'sim';
  const headless = flags.has('headless') || !process.stdout.isTTY || !process.stdin.isTTY;
  const log: string[] = [];
  const onLog = (line: string): void => { log.push(line); if (log.length > 200) log.shift(); if (headless) process.stderr.write(line + '\n'); };

  const host = new AcquirerSimulator({ clock: Date.now });
  const hostPort = await host.listen(0, '127.0.0.1');
  const terminalArgs = (holdReset: boolean): string[] => [
    '--board', board, '--host-port', String(hostPort), '--control-port', String(flags.get('control-port') ?? 0), ...(holdReset ? ['--hold-reset'] : []),
    ...['locale', 'journal-dir', 'backup-dir'].flatMap((f) => (typeof flags.get(f) === 'string' ? [`--${f}`, String(flags.get(f))] : [])),
  ];
  let running = await startTerminal(terminalArgs(false), onLog);
  const stopAll = async (): Promise<void> => { running.child.kill('SIGTERM'); await host.close(); };

  if (headless) {
    process.stdout.write(`terminal running on board ${board}; control interface 127.0.0.1:${running.controlPort}; acquirer simulator 127.0.0.1:${hostPort}\n`);
    const quit = (): void => { void stopAll().then(() => process.exit(0)); };
    process.on('SIGINT', quit);
    process.on('SIGTERM', quit);
    running.child.on('exit', (code, signal) => { process.stderr.write(`terminal exited (code ${code}, signal ${signal})\n`); void host.close().then(() => process.exit(1)); });
    return;
  }

  let client = await ControlClient.connect(running.controlPort);
  const panel = new FrontPanel(client, {
    hostPort,
    controlPort: () => running.controlPort,
    pullBattery: async (holdReset) => {
      // A terminal that shut itself down (critical battery) is already off: power it on again.
      if (running.child.exitCode === null && running.child.signalCode === null) {
        const exited = new Promise((r) => running.child.once('exit', r));
        running.child.kill('SIGKILL');
        await exited;
      }
      running = await startTerminal(terminalArgs(holdReset), onLog);
      client = await ControlClient.connect(running.controlPort);
      return client;
    },
    quit: () => { panel.stop(); process.stdin.setRawMode(false); void stopAll().then(() => { process.stdout.write('\n'); process.exit(0); }); },
  }, (s) => process.stdout.write(s));
  process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => { void panel.input(chunk); });
  panel.start();
}

if (require.main === module) {
  main().catch((e: unknown) => { process.stderr.write(`npm start failed: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(1); });
}

/**
 * `npm start`: the terminal on the simulator board, with the acquirer simulator, in a terminal
 * window. This process keeps what outlives the terminal (the acquirer host and its ledger, the
 * front panel, the printed paper) and runs the terminal itself as a child process
 * (boot/terminal-main.ts), so that pulling the battery is a real SIGKILL of the terminal and a
 * restart on the same storage.
 *
 *   npm start                      interactive front panel (needs a TTY)
 *   npm start -- --headless        no panel: prints the control port, runs until SIGINT/SIGTERM
 *   npm start -- --board FILE      another simulator board file ("simulator": true; a real board's is refused, exit 64)
 *   npm start -- --control-port N  fixed control port (default: a free port, kept across battery pulls)
 *   npm start -- --locale en       English screens and receipts (default zh-CN)
 *   npm start -- --journal-dir D   the journal somewhere else than the board file says (--backup-dir too)
 *   npm start -- --hold-reset      powers on with the reset button held: the recovery menu (headless
 *                                  too, where no key pulls the battery; the panel's `h` then `x`)
 */
import { dirname, join, resolve } from 'node:path';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { ChildProcess, spawn } from 'node:child_process';
import { nodeArgsFor, spawnModule } from '../common/spawn';
import { EXIT_USAGE, UsageError, parseArgs } from './cli';
import { AcquirerSimulator } from '../sim/host/simulator';
import { controlLine } from '../sim/host/cli';
import { HOST_SIM_LINE_PREFIX } from '../sim/control-server';
import { ControlClient } from '../sim/control-client';
import { FrontPanel } from '../sim/front-panel';
import { controlPortFile } from '../sim/control-cli';
import { readBoardFile } from '../hal/board';
import type { BoardConfig } from '../hal/board-schema';
import { terminalLockHolder } from './terminal-lock';

export const TERMINAL_START_TIMEOUT_MS_MAX = 60_000;
/** Tries to start again on the same control port when it is not free yet (a killed process's socket). */
export const SAME_PORT_TRIES = 5;
export const SAME_PORT_RETRY_MS = 200;

interface Running {
  readonly child: ChildProcess;
  readonly controlPort: number;
}

/** How a benchmark runs the terminal process (default: spawnModule's choice of JS or ts-node). */
export interface TerminalLaunch {
  /** A command the node process runs under, e.g. a shell that first moves itself into a CPU-limited cgroup. */
  readonly wrap?: readonly string[];
  /** Node's arguments for the terminal module, e.g. dist/'s compiled JS whatever the sources' age. */
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts the terminal process and waits for its `READY control=<port>` line. */
export function startTerminal(args: readonly string[], onLog: (line: string) => void, onSpawn?: (child: ChildProcess) => void, launch?: TerminalLaunch): Promise<Running> {
  const entry = join(__dirname, 'terminal-main');
  const options = { stdio: ['ignore', 'pipe', 'pipe'] as const, ...(launch?.env ? { env: launch.env } : {}) };
  const child = launch?.wrap || launch?.nodeArgs
    ? spawn(launch.wrap?.[0] ?? process.execPath, [...(launch.wrap ? [...launch.wrap.slice(1), process.execPath] : []), ...(launch.nodeArgs ?? nodeArgsFor(entry)), ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawnModule(entry, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  onSpawn?.(child);
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

/**
 * The terminal process across battery pulls. The first power-on takes the port asked for (0: any
 * free one); every later one takes the same port, so the panel, a script or `pos control` keeps
 * talking to the terminal at the address it was given (it used to change at every pull).
 */
export class TerminalPower {
  running: Running | undefined;
  private port: number;
  /** The process being started (before it is ready), so stop() reaches it too: no orphan terminal after quitting mid-boot. */
  private starting: ChildProcess | undefined;

  constructor(private readonly args: (holdReset: boolean, controlPort: number) => string[], private readonly onLog: (line: string) => void, controlPort = 0) {
    this.port = controlPort;
  }

  get controlPort(): number {
    return this.running?.controlPort ?? this.port;
  }

  async powerOn(holdReset = false): Promise<Running> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.running = await startTerminal(this.args(holdReset, this.port), this.onLog, (c) => { this.starting = c; });
        this.starting = undefined;
        break;
      } catch (e) {
        // The port is only ever busy for a moment after a kill; a start that keeps failing is a real fault.
        if (this.port === 0 || attempt >= SAME_PORT_TRIES) throw e;
        await new Promise((r) => setTimeout(r, SAME_PORT_RETRY_MS));
      }
    }
    this.port = this.running.controlPort;
    return this.running;
  }

  /** Clean shutdown (SIGTERM) of the running terminal and of one still starting. */
  stop(): void {
    for (const c of [this.running?.child, this.starting]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }

  /** SIGKILL (unless it already stopped itself, e.g. critical battery), then power on again on the same storage and port. */
  async pull(holdReset = false): Promise<Running> {
    const child = this.running?.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    return this.powerOn(holdReset);
  }
}

/** npm start's options that take a value, and every option it takes (a mistyped one is refused, not ignored). */
/**
 * Passed on to the terminal as they are (boot/terminal-main.ts, which refuses a flag it does not
 * know: tests/boot/terminal-flags.test.ts); the recovery menu's update uses the last two.
 */
export const PASSED_FLAGS: readonly string[] = ['locale', 'journal-dir', 'backup-dir', 'update-root', 'usb-dir'];
const START_VALUE_FLAGS: ReadonlySet<string> = new Set(['board', 'control-port', ...PASSED_FLAGS]);
const START_FLAGS: ReadonlySet<string> = new Set(['headless', 'hold-reset', ...START_VALUE_FLAGS]);

/**
 * npm start runs a simulator board (a board file with `"simulator": true`): its front panel drives
 * the simulated keys, card reader and battery through the control interface, and the terminal
 * talks to the acquirer simulator started here. A real board file gets none of that: its terminal
 * refused npm start's --control-port (exit 64) only after the acquirer simulator had started, and
 * npm start then said no more than that the terminal exited. Refused here first, saying how a
 * real board runs (README, "Running on a real board"). `typed` is the --board value as given.
 */
export function checkStartBoard(typed: string, board: { readonly file: string; readonly config: Pick<BoardConfig, 'simulator'> }): void {
  if (board.config.simulator === true) return;
  throw new UsageError(`${board.file} is a real board: npm start runs only a simulator board ("simulator": true in its board file), with the front panel and the acquirer simulator. `
    + `Run a real board's terminal itself: node dist/boot/terminal-main.js --board ${typed} --host <acquirer> --host-port N (after npm run build; README, "Running on a real board"), or under the systemd unit (boot/README.md)`);
}

/**
 * What is wrong with npm start's command line, or undefined: an option it does not know, one that
 * needs a value given none (`npm start -- --board` ran the simulator board as if no board had been
 * named), a value given to one that takes none, or a stray word (`npm start -- pos1`).
 */
export function startArgsProblem(argv: readonly string[]): string | undefined {
  const { args, flags } = parseArgs(argv, START_VALUE_FLAGS);
  const unknown = [...flags.keys()].filter((f) => !START_FLAGS.has(f));
  if (unknown.length > 0) return `unknown option ${unknown.map((f) => `--${f}`).join(', ')}; options: ${[...START_FLAGS].map((f) => `--${f}`).join(' ')}`;
  for (const [name, value] of flags) {
    if (START_VALUE_FLAGS.has(name) && (value === true || value === '')) return `--${name} needs a value`;
    if (!START_VALUE_FLAGS.has(name) && value !== true) return `--${name} takes no value (got "${value}")`;
  }
  if (args.length > 0) return `unexpected ${args.length === 1 ? 'word' : 'words'} ${args.map((a) => `"${a}"`).join(' ')}: npm start takes only options (npm start -- --board B)`;
  return undefined;
}

async function main(): Promise<void> {
  const problem = startArgsProblem(process.argv.slice(2));
  if (problem !== undefined) {
    process.stderr.write(`npm start: ${problem}\n`);
    process.exit(EXIT_USAGE);
  }
  const { flags } = parseArgs(process.argv.slice(2), START_VALUE_FLAGS);
  const board = typeof flags.get('board') === 'string' ? String(flags.get('board')) : 'sim';
  // Before the acquirer simulator listens or the terminal starts: nothing runs for a real board.
  const boardFile = readBoardFile(board);
  try {
    checkStartBoard(board, boardFile);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`npm start: ${e.message}\n`);
    process.exit(EXIT_USAGE);
  }
  const headless = flags.has('headless') || !process.stdout.isTTY || !process.stdin.isTTY;
  const log: string[] = [];
  const onLog = (line: string): void => {
    // The terminal's `qr-pay` (its control port): the customer pays at this process's acquirer simulator.
    if (line.startsWith(HOST_SIM_LINE_PREFIX)) { controlLine(host, line.slice(HOST_SIM_LINE_PREFIX.length), onLog); return; }
    log.push(line); if (log.length > 200) log.shift(); if (headless) process.stderr.write(line + '\n');
  };

  const host = new AcquirerSimulator({ clock: Date.now });
  const hostPort = await host.listen(0, '127.0.0.1');
  const terminalArgs = (holdReset: boolean, controlPort: number): string[] => [
    // The acquirer simulator above is new at every npm start: the terminal signs on at the first login.
    '--board', board, '--host-port', String(hostPort), '--control-port', String(controlPort), '--sign-on-at-login', ...(holdReset ? ['--hold-reset'] : []),
    ...PASSED_FLAGS.flatMap((f) => (typeof flags.get(f) === 'string' ? [`--${f}`, String(flags.get(f))] : [])),
  ];
  const portFlag = flags.get('control-port');
  if (portFlag !== undefined && (portFlag === true || !/^[0-9]+$/.test(portFlag) || Number(portFlag) > 65_535)) {
    // Number('abc') would be NaN and the terminal would fail to listen with a less helpful message.
    process.stderr.write(`npm start: --control-port must be a port number from 0 to 65535 (got ${portFlag === true ? 'nothing' : `"${portFlag}"`})\n`);
    await host.close();
    process.exit(EXIT_USAGE);
  }
  // A second npm start on the same journal: its terminal would stop at E-STO-13, and this process
  // would take the first one's control.port file (and remove it on quit). Said and stopped here.
  const journalDir = resolve(typeof flags.get('journal-dir') === 'string' ? String(flags.get('journal-dir')) : boardFile.config.storage.journalDir);
  const holder = terminalLockHolder(journalDir);
  if (holder !== undefined) {
    process.stderr.write(`npm start: E-STO-13 the journal ${journalDir} is in use by terminal process ${holder} (another npm start?): quit that one, or start this one with --journal-dir D\n`);
    await host.close();
    process.exit(2);
  }
  const power = new TerminalPower(terminalArgs, onLog, Number(portFlag ?? 0));
  let running = await power.powerOn(flags.has('hold-reset'));
  // `pos control` finds the port here when it is not given one (sim/control-cli.ts).
  const portFile = controlPortFile(journalDir);
  mkdirSync(dirname(portFile), { recursive: true });
  writeFileSync(portFile, `${running.controlPort}\n`);
  const stopAll = async (): Promise<void> => { power.stop(); rmSync(portFile, { force: true }); await host.close(); };

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
      running = await power.pull(holdReset);
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

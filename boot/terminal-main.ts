/**
 * The terminal process: `npm start` runs it as a child (boot/start.ts); on a device it is the
 * service's main program.
 *
 *   node dist/boot/terminal-main.js [--board sim|rpi-dev|FILE] [--host 127.0.0.1] [--host-port N]
 *        [--control-port N] [--hold-reset] [--battery-percent N] [--locale zh-CN|en] [--journal-dir D] [--backup-dir D] [--allow-keyed]
 *        [--sign-on-at-login] [--usb-dir D] [--update-root R] [--test-timings name=ms,...]
 *
 * A flag not in TERMINAL_FLAG_RULES, a value flag without its value or a malformed value
 * (`--battery-percent abc`, `--host-port 99999`, `--locale fr`) is refused before anything is
 * opened: the message names the flag and lists the known ones, exit EXIT_USAGE (64). A typo such
 * as `--jornal-dir x` used to run on the board file's journal.
 *
 * A board file with `"simulator": true` (board `sim`, the default) is built with simulated buses
 * (sim/board-sim.ts) and gets the control interface on loopback (sim/control-server.ts); once it
 * listens, the process prints `READY control=<port>` on stdout. Any other board is built over the
 * Linux buses (hal/board-linux.ts). Logs are pino JSON lines on stderr.
 *
 * SIGTERM / SIGINT: clean shutdown (machine stopped, journal closed, board closed), exit 0.
 * Critical battery (journal closed first) and the recovery menu's power off: the same clean
 * shutdown, exit EXIT_POWER_OFF (80), which asks the system to power off: the systemd unit treats
 * it as success, does not restart, and runs `systemctl poweroff` (boot/pos-terminal.service).
 * --hold-reset (simulator): the reset button is held from power-on until the boot has seen it held
 * for the board's resetHoldMs, then released, as a person does to open the recovery menu. The
 * release follows the boot's look at the button (holdResetUntilSeen), not a fixed time after
 * start: on a loaded machine the boot may reach the button later than resetHoldMs after start.
 * --battery-percent N (simulator): the fuel gauge reads N% from power-on (0..100), e.g. a battery
 * already critical while the terminal boots.
 * --test-timings name=ms,... (simulator, TESTS ONLY: boot/test-timings.ts): shorter key, battery
 * and paper poll, notice turn, main loop and card reader liveness periods and journal lock wait
 * for the e2e tests' terminal child; npm start never passes it.
 * --control-port, --hold-reset, --battery-percent and --test-timings on a board file without
 * `"simulator": true` are refused (SIMULATOR_ONLY_FLAGS) once the board file is read, before any
 * device or the journal is opened: exit EXIT_USAGE, as for any other command line typed wrong.
 *
 * Real-board wiring (also active on the simulator where it applies):
 * - logs go to stderr and, warn and worse with an error code, into an in-memory ring of the last
 *   errors (boot/diagnostics.ts ErrorRing) that diagnostics shows;
 * - the TMK comes from the factory's provisioning record (readProvisionedTmk, device key beside the
 *   journal) on non-simulator boards (terminal-app.ts terminalOver);
 * - systemd watchdog (boot/watchdog.ts): READY/WATCHDOG=1 only while TerminalApp.health() is ok;
 * - A/B updates: with an update root (board file update.root or $POS_UPDATE_ROOT), a trial boot of
 *   a new slot is confirmed (confirmSlot) once the terminal reaches login/idle; until then
 *   rollbackIfOverdue is polled, and a rollback restarts the process into the old slot;
 * - the recovery menu's last-resort login: the service administrator 000 created by the factory
 *   station (boot/service-admin.ts, service-admin.json beside the device key);
 * - --usb-dir D (repeatable via $POS_USB_DIRS, ':'-separated): USB mount points recovery offers.
 */
// First: the modules below load through the V8 code cache (issue 14: start time on a slow CPU).
import { codeCache, codeCacheControl } from './code-cache-install';
import { asset } from '../common/assets';
import { dirname, resolve } from 'node:path';
import { EXIT_USAGE, FlagRules, UsageError, checkFlags, parseArgs } from './cli';
import { readBoardFile, loadBoard, Board } from '../hal/board';
import type { BoardConfig } from '../hal/board-schema';
import type { Button } from '../hal/button';
// The simulator board and its control interface load only for a simulator board (below): a release
// image built without --with-sim has no sim/ (scripts/image/build-image.ts keeps what the entry
// points require at load), and a real board does not pay for them at start.
import type { SimBoard } from '../sim/board-sim';
import type { ControlServer } from '../sim/control-server';
import { requireSim } from './optional-sim';
import { createLogger, logLevel } from '../common/log';
import pino from 'pino';
import { ErrorRing } from './error-ring';
import { LogRing, logSourceFor } from './log-source';
import { SystemdWatchdog } from './watchdog';
import { confirmSlot, rollbackIfOverdue, CONFIRM_WITHIN_MS_DEFAULT } from './update-slots';
import { existsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isPosError } from '../common/errors';
import { TerminalApp } from './terminal-app';
import { TestTimings, parseTestTimings } from './test-timings';
import type { ProbeSnapshot } from './terminal-app';
import { IdleGc } from './idle-gc';
import { idleCollector } from './mem-reclaim';

/** An idle collection this long is logged at info (see where the collector is made). */
const IDLE_GC_SLOW_MS = 1000;
import { serviceAdminCheck, serviceAdminFile } from './service-admin';
import type { Locale } from '../ui-lcd/screen';

const PROCESS_START_MS = Date.now() - Math.round(process.uptime() * 1000);
export const SHUTDOWN_MS_MAX = 5_000;
/**
 * The exit status that asks the system to power the terminal off (critical battery, recovery's
 * power off). Not 0: a stop by systemd (SIGTERM) exits 0 and must not power the board off. Not
 * 64: that is EXIT_USAGE (boot/cli.ts, sysexits' EX_USAGE), which any `pos` command line may
 * return. 80 is outside sysexits (64-78), Node's own statuses (1-14), the shell's signal
 * statuses (128+) and systemd's exec failures (200+): nothing but this request exits with it.
 */
export const EXIT_POWER_OFF = 80;
/** How often an unconfirmed trial boot is checked against its deadline. */
export const ROLLBACK_POLL_MS = 10_000;

/**
 * A board name as a file path that works from the sources and from dist/ alike.
 */
export function boardPath(nameOrPath: string): string {
  if (/[/\\]|\.json$/.test(nameOrPath)) return resolve(nameOrPath);
  return asset('board-configs', `${nameOrPath}.json`);
}

/**
 * --hold-reset: the simulated person lets go of the reset button once the boot has seen it held
 * long enough, i.e. when the boot's `waitHeld` answers true (boot/terminal-app.ts resetAtBoot),
 * never before. The release comes a turn of the event loop later, after the boot has started
 * waiting for it. A real board is untouched: its person holds the button for resetHoldMs.
 */
export function holdResetUntilSeen(button: Button, release: () => void): void {
  const waitHeld = button.waitHeld.bind(button);
  button.waitHeld = async (holdMs: number): Promise<boolean> => {
    const held = await waitHeld(holdMs);
    if (held) setImmediate(release);
    return held;
  };
}

/** --battery-percent: the simulated gauge's reading from power-on; anything but 0..100 is refused. */
export function batteryAtPowerOn(typed: string | undefined): { battery?: { percent: number } } {
  if (typed === undefined) return {};
  const percent = Number(typed);
  if (!/^\d{1,3}$/.test(typed) || percent > 100) throw new Error(`--battery-percent must be 0..100 (got "${typed}")`);
  return { battery: { percent } };
}

/**
 * Every flag the terminal takes, the one list (boot/start.ts, the tests' drivers, bench/, the
 * unit's POS_TERMINAL_ARGS pass these). Ports are whole numbers up to 65535, the battery a percent.
 */
export const TERMINAL_FLAG_RULES: FlagRules = {
  value: new Set(['board', 'host', 'host-port', 'control-port', 'locale', 'journal-dir', 'backup-dir', 'usb-dir', 'update-root', 'battery-percent', 'test-timings']),
  boolean: new Set(['hold-reset', 'allow-keyed', 'sign-on-at-login']),
  max: new Map([['host-port', 65_535], ['control-port', 65_535], ['battery-percent', 100]]),
};
/**
 * The usage line, printed under a refused command line: it lists every flag TERMINAL_FLAG_RULES
 * knows (tests/boot/terminal-flags.test.ts), and its `--x N` flags are the whole-number ones
 * checkFlags checks (boot/cli.ts numericFlags).
 */
export const TERMINAL_USAGE = 'terminal-main [--board sim|FILE] [--host H] [--host-port N] [--control-port N] [--locale zh-CN|en] [--journal-dir D] [--backup-dir D] [--usb-dir D] [--update-root R] [--battery-percent N] [--test-timings T] [--hold-reset] [--allow-keyed] [--sign-on-at-login]';
const TERMINAL_LOCALES: readonly string[] = ['zh-CN', 'en'];

/**
 * The terminal's command line, checked whole: its flags, or a UsageError naming the flag and
 * saying why it must be typed again (main adds TERMINAL_USAGE: every known flag). Nothing is
 * opened before this.
 */
export function terminalFlags(argv: readonly string[]): Map<string, string | true> {
  const { args, flags } = parseArgs(argv, TERMINAL_FLAG_RULES.value);
  // Flags first: `--jornal-dir x` is an unknown option, not a stray "x".
  checkFlags(flags, TERMINAL_FLAG_RULES, { usage: TERMINAL_USAGE });
  if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}" (every option is --name or --name VALUE)`);
  const locale = flags.get('locale');
  if (typeof locale === 'string' && !TERMINAL_LOCALES.includes(locale)) throw new UsageError(`--locale must be ${TERMINAL_LOCALES.join(' or ')} (got "${locale}")`);
  // A host on port 0 cannot be reached (the control port's 0 means any free one).
  if (flags.get('host-port') === '0') throw new UsageError('--host-port must be a port number from 1 to 65535 (got "0")');
  const timings = flags.get('test-timings');
  if (typeof timings === 'string') parseTestTimings(timings);
  return flags;
}

/**
 * Flags only the simulator board reads (main): its control interface, its reset button held from
 * power-on and its fuel gauge's first reading, all simulated; and the tests' shorter timings
 * (--test-timings, boot/test-timings.ts), which must never reach a real terminal. A real board
 * has none of them, and there they were ignored without a word (a technician's
 * `--battery-percent 5` changed nothing and said nothing). Not --usb-dir: on a real board it is
 * the USB stick's mount point (boot/usb-stick.ts); only on the simulator does a plain folder stand
 * for the stick.
 */
export const SIMULATOR_ONLY_FLAGS: readonly string[] = ['control-port', 'hold-reset', 'battery-percent', 'test-timings'];

/**
 * The second half of the command line's check, once the board file is read (terminalFlags cannot
 * know the board): the simulator's flags on a board file without `"simulator": true` are a
 * UsageError naming them. Called before any device or the journal is opened.
 */
export function checkFlagsForBoard(flags: ReadonlyMap<string, string | true>, board: { readonly file: string; readonly config: Pick<BoardConfig, 'simulator'> }): void {
  if (board.config.simulator === true) return;
  const stray = SIMULATOR_ONLY_FLAGS.filter((f) => flags.has(f)).map((f) => `--${f}`);
  if (stray.length === 0) return;
  throw new UsageError(`${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} for the simulator board only ("simulator": true in its board file); ${board.file} is a real board`);
}

/** A refused command line: the message and the usage on stderr, exit EXIT_USAGE; nothing was opened. */
function exitUsage(e: UsageError): never {
  process.stderr.write(`terminal: ${e.message}\nusage: ${TERMINAL_USAGE}\n`);
  process.exit(EXIT_USAGE);
}

/** The simulator board's control interface (npm start's front panel, the tests' driver). */
function simControl(sim: SimBoard, receiptDir: string, logger: pino.Logger, timings: TestTimings): ControlServer {
  const { ControlServer, HOST_SIM_LINE_PREFIX } = requireSim<typeof import('../sim/control-server')>('../sim/control-server', 'the control interface', () => require('../sim/control-server'));
  return new ControlServer(sim, undefined, logger.child({ component: 'control' }), {
    receiptDir,
    ...(timings['key-hold'] !== undefined ? { keyHoldMs: timings['key-hold'] } : {}),
    // `qr-pay`: the acquirer simulator runs in the parent (npm start, a test driver), which reads our stdout.
    hostLine: (line) => { process.stdout.write(`${HOST_SIM_LINE_PREFIX}${line}\n`); },
  });
}

async function main(): Promise<void> {
  let flags: Map<string, string | true>;
  try {
    flags = terminalFlags(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    // Before the journal, the board and the log: a mistyped command line changes nothing.
    exitUsage(e);
  }
  const str = (name: string): string | undefined => (typeof flags.get(name) === 'string' ? String(flags.get(name)) : undefined);
  const boardName = boardPath(str('board') ?? process.env.POS_BOARD ?? 'sim');
  const errors = new ErrorRing();
  const level = logLevel();
  // The recent lines for the management channel's upload-logs where journald does not hold them.
  const logRing = new LogRing();
  const logger = createLogger('terminal', pino.multistream([
    { level: level === 'silent' ? 'fatal' : level as pino.Level, stream: pino.destination(2) },
    { level: 'warn', stream: errors.stream() as unknown as pino.DestinationStream },
    { level: level === 'silent' ? 'fatal' : level as pino.Level, stream: logRing.stream() as unknown as pino.DestinationStream },
  ]));
  if (codeCache) logger.debug({ codeCache }, 'V8 code cache');
  const boardFile = readBoardFile(boardName);
  const { config } = boardFile;
  // The board is known only now; nothing of it, nor the journal, is open yet.
  try {
    checkFlagsForBoard(flags, boardFile);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    exitUsage(e);
  }
  const holdReset = flags.has('hold-reset');
  // Tests only, and only a simulator board gets here with it (checkFlagsForBoard).
  const timings: TestTimings = config.simulator && str('test-timings') !== undefined ? parseTestTimings(str('test-timings')!) : {};

  let sim: SimBoard | undefined;
  let board: Board;
  if (config.simulator) {
    const { createSimBoard } = requireSim<typeof import('../sim/board-sim')>('../sim/board-sim', `${boardName}: a simulator board`, () => require('../sim/board-sim'));
    sim = await createSimBoard({ board: boardName, ...batteryAtPowerOn(str('battery-percent')), ...(timings['key-debounce'] !== undefined ? { keypadDebounceMs: timings['key-debounce'] } : {}), ...(timings['reader-liveness'] !== undefined ? { cardReaderLivenessPollMs: timings['reader-liveness'] } : {}), beforeBoot: (s) => { if (holdReset) s.resetButton().press(); } });
    board = sim.board;
    if (holdReset) { const model = sim.resetButton(); holdResetUntilSeen(board.resetButton(), () => model.release()); }
  } else {
    // The Linux bus backends (serialport, i2c-bus, onoff) load only for a real board: the
    // simulator's boot does not pay for them (issue 14: start time on a slow CPU).
    const { linuxFactories } = require('../hal/board-linux') as typeof import('../hal/board-linux');
    board = await loadBoard(boardName, linuxFactories(), { keypadLogger: logger.child({ module: 'keypad' }) });
  }

  const updateRoot = str('update-root') ?? process.env.POS_UPDATE_ROOT ?? config.update?.root;
  const hasSlots = updateRoot !== undefined && existsSync(join(updateRoot, 'state.json'));
  const usbDirs = [...(str('usb-dir') ? [resolve(str('usb-dir')!)] : []), ...(process.env.POS_USB_DIRS ?? '').split(':').filter(Boolean)];
  // receipt-png writes only into receipts/ beside the journal folder (the terminal's own storage).
  const receiptDir = join(dirname(resolve(str('journal-dir') ?? config.storage.journalDir)), 'receipts');
  const control = sim ? simControl(sim, receiptDir, logger, timings) : undefined;
  const controlPort = control ? await control.listen(Number(str('control-port') ?? 0)) : undefined;
  let app: TerminalApp | undefined;
  let idleGc: IdleGc | undefined;
  let stopping = false;
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code), SHUTDOWN_MS_MAX);
    idleGc?.stop();
    await app?.stop().catch(() => undefined);
    await control?.close().catch(() => undefined);
    await (sim ? sim.close() : board.close()).catch(() => undefined);
    clearTimeout(force);
    logger.info({ code }, 'terminal stopped');
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));

  // The control interface answers from power-on (screen, keys) so the panel sees the boot.
  // Written to fd 1 directly: process.stdout's stream (net, tty or pipe set-up) cost the start ~13 ms
  // of CPU here (docs/BENCHMARKS.md, "Start"); one short line to a pipe is written whole.
  if (controlPort !== undefined) writeSync(1, `READY control=${controlPort}\n`);
  const journalDir = resolve(str('journal-dir') ?? config.storage.journalDir);
  app = TerminalApp.create({
    board, logger,
    journalDir,
    // The factory's service administrator (operator 000), for a journal that cannot be read.
    fallbackAdmin: serviceAdminCheck(serviceAdminFile(journalDir), logger),
    // Keyed card entry is the acquirer's decision: on for the simulator, --allow-keyed elsewhere.
    ...(flags.has('allow-keyed') ? { allowKeyed: true } : {}),
    // npm start's acquirer simulator is new: it holds none of the journal's working keys.
    ...(flags.has('sign-on-at-login') ? { signOnAtLogin: true } : {}),
    backupDir: resolve(str('backup-dir') ?? config.storage.backupDir),
    host: { host: str('host') ?? '127.0.0.1', port: Number(str('host-port') ?? 5000) },
    locale: (str('locale') as Locale | undefined) ?? 'zh-CN',
    processStartMs: PROCESS_START_MS,
    ...(timings.tick !== undefined ? { tickMs: timings.tick } : {}),
    ...(timings['battery-poll'] !== undefined ? { batteryPollMs: timings['battery-poll'] } : {}),
    ...(timings['paper-poll'] !== undefined ? { paperPollMs: timings['paper-poll'] } : {}),
    ...(timings['notice-turn'] !== undefined ? { noticeTurnMs: timings['notice-turn'] } : {}),
    ...(timings['lock-wait'] !== undefined ? { terminalLockWaitMs: timings['lock-wait'] } : {}),
    onShutdown: () => void shutdown(EXIT_POWER_OFF),
    // A scheduled backup's garbage collected soon after it, not at the next sale's idle (idleGc is made below).
    afterBackgroundWork: (what) => idleGc?.afterWork(what),
    errors, usbDirs, logRing, logSource: logSourceFor(config.simulator === true),
    ...(hasSlots && config.update ? { update: { root: updateRoot, publicKeyHex: config.update.publicKey, board: config.board } } : {}),
    onHealthy: () => {
      if (!hasSlots) return;
      try {
        const c = confirmSlot(updateRoot);
        if (c.confirmed) logger.info({ version: c.version }, 'update: first boot healthy, slot confirmed');
      } catch (e) { logger.warn({ err: String(e) }, 'update: confirm failed'); }
    },
  });
  control?.attachProbe(app.probe);
  // Memory given back once the terminal settles at idle after the boot or a settlement
  // (boot/idle-gc.ts, boot/mem-reclaim.ts). Screen changes carry the machine's state (snapshots are made anyway).
  // A collection that stopped the main loop for a second or more is said at info: it delays the
  // watchdog's pet (seen: the unit killed by its watchdog after sign-on in the loaded TCG guest).
  // The journal's LMDB file: its write transactions leave pages of the file mapped (native/mem_reclaim.cc).
  const journalData = [join(journalDir, 'data.mdb')];
  idleGc = new IdleGc({
    gc: idleCollector({ mappedFiles: () => journalData }),
    onCollected: (c) => logger[c.ms >= IDLE_GC_SLOW_MS ? 'info' : 'debug'](c, 'idle: memory given back'),
  });
  const gc = idleGc;
  // The V8 code cache is written at the first idle (boot/code-cache.ts): the login's code is in it.
  if (codeCacheControl) codeCacheControl.onWritten = (c) => logger.info({ entries: c.written, ms: c.writeMs, atIdle: c.writtenAtIdle === true }, 'V8 code cache written');
  app.probe.onChange((s) => {
    const state = (s as ProbeSnapshot).state;
    codeCacheControl?.state(state);
    gc.state(state);
  });
  const watchdog = new SystemdWatchdog({ health: async () => app!.health(), logger: logger.child({ component: 'watchdog' }) });
  watchdog.start();
  if (hasSlots) {
    const poll = setInterval(() => {
      try {
        if (rollbackIfOverdue(updateRoot, CONFIRM_WITHIN_MS_DEFAULT)) { logger.error({ code: 'E-UPD-04' }, 'update: trial boot not confirmed in time: rolled back; restarting'); void shutdown(1); }
      } catch (e) { logger.warn({ err: String(e) }, 'update: rollback check failed'); }
    }, ROLLBACK_POLL_MS);
    poll.unref();
  }
  await app.boot();
}

if (require.main === module) {
  main().catch((e: unknown) => {
    // A PosError's message already leads with its code ("E-BRD-01 board file ..."): said once.
    const message = isPosError(e) ? (e.message.startsWith(e.code) ? e.message : `${e.code} ${e.message}`) : e instanceof Error ? e.stack ?? e.message : String(e);
    process.stderr.write(`terminal failed to start: ${message}\n`);
    process.exit(1);
  });
}

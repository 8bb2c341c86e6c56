/**
 * The terminal process: `npm start` runs it as a child (boot/start.ts); on a device it is the
 * service's main program.
 *
 *   node dist/boot/terminal-main.js [--board sim|rpi-dev|FILE] [--host 127.0.0.1] [--host-port N]
 *        [--control-port N] [--hold-reset] [--locale zh-CN|en] [--journal-dir D] [--backup-dir D]
 *
 * A board file with `"simulator": true` (board `sim`, the default) is built with simulated buses
 * (sim/board-sim.ts) and gets the control interface on loopback (sim/control-server.ts); once it
 * listens, the process prints `READY control=<port>` on stdout. Any other board is built over the
 * Linux buses (hal/board-linux.ts). Logs are pino JSON lines on stderr.
 *
 * SIGTERM / SIGINT: clean shutdown (machine stopped, journal closed, board closed), exit 0.
 * --hold-reset (simulator): the reset button is held from power-on for the board's resetHoldMs and
 * then released, as a person does to open the recovery menu.
 */
import { asset } from '../runtime/assets';
import { resolve } from 'node:path';
import { parseArgs } from './cli';
import { readBoardFile, loadBoard, Board } from '../hal/board';
import { linuxFactories } from '../hal/board-linux';
import { createSimBoard, SimBoard } from '../sim/board-sim';
import { ControlServer } from '../sim/control-server';
import { createLogger } from '../runtime/log';
import { isPosError } from '../runtime/errors';
import { TerminalApp } from './terminal-app';
import type { Locale } from '../ui-lcd/screen';

const PROCESS_START_MS = Date.now() - Math.round(process.uptime() * 1000);
/** The reset button is let go this long after the hold time (a person's margin). */
export const HOLD_RESET_MARGIN_MS = 400;
export const SHUTDOWN_MS_MAX = 5_000;

/**
 * A board name as a file path that works from the sources and from dist/ alike.
 */
export function boardPath(nameOrPath: string): string {
  if (/[/\\]|\.json$/.test(nameOrPath)) return resolve(nameOrPath);
  return asset('board-configs', `${nameOrPath}.json`);
}

async function main(): Promise<void> {
  const { flags } = parseArgs(process.argv.slice(2), new Set(['board', 'host', 'host-port', 'control-port', 'locale', 'journal-dir', 'backup-dir']));
  const str = (name: string): string | undefined => (typeof flags.get(name) === 'string' ? String(flags.get(name)) : undefined);
  const boardName = boardPath(str('board') ?? process.env.POS_BOARD ?? 'sim');
  const logger = createLogger('terminal');
  const { config } = readBoardFile(boardName);
  const holdReset = flags.has('hold-reset');

  let sim: SimBoard | undefined;
  let board: Board;
  if (config.simulator) {
    sim = await createSimBoard({ board: boardName, beforeBoot: (s) => { if (holdReset) s.resetButton().press(); } });
    board = sim.board;
    if (holdReset) {
      const dc = config.devices.reset0;
      const holdMs = dc?.type === 'gpio-button' ? dc.resetHoldMs : 3_000;
      setTimeout(() => sim?.resetButton().release(), holdMs + HOLD_RESET_MARGIN_MS);
    }
  } else {
    board = await loadBoard(boardName, linuxFactories());
  }

  const control = sim ? new ControlServer(sim, undefined, logger.child({ component: 'control' })) : undefined;
  const controlPort = control ? await control.listen(Number(str('control-port') ?? 0)) : undefined;
  let app: TerminalApp | undefined;
  let stopping = false;
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code), SHUTDOWN_MS_MAX);
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
  if (controlPort !== undefined) process.stdout.write(`READY control=${controlPort}\n`);
  app = TerminalApp.create({
    board, logger,
    journalDir: resolve(str('journal-dir') ?? config.storage.journalDir),
    backupDir: resolve(str('backup-dir') ?? config.storage.backupDir),
    host: { host: str('host') ?? '127.0.0.1', port: Number(str('host-port') ?? 5000) },
    locale: (str('locale') as Locale | undefined) ?? 'zh-CN',
    processStartMs: PROCESS_START_MS,
    onShutdown: () => void shutdown(0),
  });
  control?.attachProbe(app.probe);
  await app.boot();
}

if (require.main === module) {
  main().catch((e: unknown) => {
    const message = isPosError(e) ? `${e.code} ${e.message}` : e instanceof Error ? e.stack ?? e.message : String(e);
    process.stderr.write(`terminal failed to start: ${message}\n`);
    process.exit(1);
  });
}

/**
 * `pos control`: one request to the simulator board's control interface (sim/control-server.ts)
 * from a shell, through sim/control-client.ts, so that no `nc` is needed:
 *
 *   pos control keys 01OK0000OK             → {"id":1,"ok":true}
 *   pos control screen                      → {"id":1,"ok":true,"name":"idle","text":[...],...}
 *   pos control battery percent=14 low=true
 *   pos control '{"cmd":"sign","name":"demo"}'
 *   pos control scan 134512345678901234      (the customer shows a QR payment code; digits stay text)
 *   pos control subscribe                   (then one event line per screen change, until Ctrl-C)
 *
 * The port: --port N, else $POS_CONTROL_PORT, else the file `npm start` writes beside the
 * journal directory of the board (--board B, else $POS_BOARD, else sim: `.tmp/sim/control.port`).
 * Exit codes: 0 the terminal answered ok; 1 it answered with an error (printed on stderr); 2
 * nothing to talk to.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, CommandContext, UsageError, flagString, intFlag } from '../boot/cli';
import { PosError } from '../common/errors';
import { readBoardFile } from '../hal/board';
import { ControlClient } from './control-client';

/** The file `npm start` writes the control port to, beside the journal directory. */
export const CONTROL_PORT_FILE = 'control.port';

export function controlPortFile(journalDir: string): string {
  return join(dirname(journalDir), CONTROL_PORT_FILE);
}

/** The field a command's one bare argument fills: `press OK`, `swipe icDebit`, `paper out`. */
const MAIN_FIELD: Record<string, string> = {
  press: 'key', down: 'key', up: 'key', keys: 'keys', swipe: 'card', insert: 'card', tap: 'card', sign: 'name',
  paper: 'state', 'printer-fault': 'fault', cover: 'open', 'reader-silent': 'silent', 'reset-button': 'down', battery: 'percent',
  scan: 'code', 'qr-pay': 'wallet', host: 'line', modem: 'sim', wifi: 'signalDbm',
};

/** Fields whose values are text even when they look like numbers (`press 1`, `keys 1234OK`). */
const TEXT_FIELDS = new Set(['key', 'keys', 'card', 'name', 'state', 'path', 'role', 'code', 'wallet', 'line', 'sim', 'registration', 'ssid']);

/** What a control request's field is called: `percent`, `drop`, `card`. */
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

function valueOf(field: string, text: string): unknown {
  if (TEXT_FIELDS.has(field)) return text;
  try { return JSON.parse(text) as unknown; } catch { return text; }
}

/**
 * The request the arguments describe: one JSON object (`{"cmd":...}`), or a command name followed
 * by `field=value` pairs and at most one bare value for the command's main field.
 */
export function controlRequest(args: readonly string[]): { cmd: string; fields: Record<string, unknown> } {
  const [first, ...rest] = args;
  if (first === undefined) throw new UsageError('the control command is missing (press, keys, screen, state, swipe, ...; or one JSON request)');
  if (first.trimStart().startsWith('{')) {
    if (rest.length) throw new UsageError('a JSON request is one argument: quote it');
    let parsed: unknown;
    try { parsed = JSON.parse(first); } catch (e) { throw new UsageError(`not JSON: ${(e as Error).message}`); }
    const { cmd, id: _id, ...fields } = parsed as Record<string, unknown>; // the client numbers requests itself
    if (typeof cmd !== 'string') throw new UsageError('the JSON request has no "cmd"');
    return { cmd, fields };
  }
  const fields: Record<string, unknown> = {};
  for (const a of rest) {
    // field=value only when what comes before '=' is a field name: `host "fault x,type=sale"` is
    // the main field's value, not a field called "fault x,type".
    const eq = a.indexOf('=');
    if (eq > 0 && FIELD_NAME.test(a.slice(0, eq))) { fields[a.slice(0, eq)] = valueOf(a.slice(0, eq), a.slice(eq + 1)); continue; }
    const field = MAIN_FIELD[first];
    if (!field || field in fields) throw new UsageError(`"${a}": give it as field=value (pos control ${first} field=value)`);
    fields[field] = valueOf(field, a);
  }
  return { cmd: first, fields };
}

function controlPort(ctx: CommandContext): number {
  const flag = intFlag(ctx, 'port', 65_535);
  if (flag !== undefined) return flag;
  const env = process.env.POS_CONTROL_PORT;
  if (env !== undefined && env !== '') {
    if (!/^[0-9]+$/.test(env) || Number(env) > 65_535) throw new UsageError(`$POS_CONTROL_PORT must be a port number (got "${env}")`);
    return Number(env);
  }
  const board = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
  const file = controlPortFile(board.config.storage.journalDir);
  let text: string;
  try { text = readFileSync(file, 'utf8').trim(); } catch {
    throw new PosError('OPR_INPUT', `no control port given and no ${file}: start the terminal (npm start), or give --port N`);
  }
  if (!/^[0-9]+$/.test(text)) throw new PosError('OPR_INPUT', `${file} does not hold a port number`);
  return Number(text);
}

async function connect(port: number, host: string): Promise<ControlClient> {
  try {
    return await ControlClient.connect(port, host);
  } catch (e) {
    throw new PosError('OPR_INPUT', `nothing answers on ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? String(e)}): is the terminal running? npm start prints its control port`);
  }
}

const control: Command = {
  name: 'control',
  usage: 'control [--port N | --board B] [--host 127.0.0.1] CMD [FIELD=VALUE ...] | \'{"cmd":...}\'',
  summary: 'one request to the simulator board\'s control interface; prints the reply line',
  async run(ctx) {
    const { cmd, fields } = controlRequest(ctx.args);
    const host = flagString(ctx, 'host') ?? '127.0.0.1';
    const client = await connect(controlPort(ctx), host);
    try {
      const reply = await client.request(cmd, fields);
      ctx.out(JSON.stringify(reply));
      if (!reply.ok) { ctx.err(`pos control ${cmd}: ${reply.error ?? 'failed'}`); return 1; }
      if (cmd !== 'subscribe') return 0;
      // Events until the terminal goes away (battery pulled, stopped) or the person presses Ctrl-C.
      await new Promise<void>((resolve) => {
        client.onEvent((event) => ctx.out(JSON.stringify(event)));
        client.onClose(resolve);
      });
      return 0;
    } finally {
      client.close();
    }
  },
};

export const controlCommands: readonly Command[] = [control];

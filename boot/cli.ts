/**
 * The `pos` command line's small framework: each capability registers its subcommands in
 * `boot/pos.ts`. A command returns an exit code; operating errors print their code and steps,
 * never a stack trace.
 */
import { statSync } from 'node:fs';
import { PosError } from '../common/errors';

export interface CommandContext {
  readonly args: string[];
  readonly flags: Map<string, string | true>;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(ctx: CommandContext): Promise<number>;
}

/**
 * Splits argv into positional args and `--flag[=value]` / `--flag value` flags. A value flag
 * followed by another `--flag` has no value (it stays `true`, which checkFlags refuses): taking
 * `--json` as the directory of `--dir --json` would act on a path nobody typed.
 */
export function parseArgs(argv: readonly string[], valueFlags: ReadonlySet<string> = new Set()): { args: string[]; flags: Map<string, string | true> } {
  const args: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { args.push(a); continue; }
    const eq = a.indexOf('=');
    if (eq > 0) { flags.set(a.slice(2, eq), a.slice(eq + 1)); continue; }
    const name = a.slice(2);
    if (valueFlags.has(name) && i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(name, argv[++i]);
    else flags.set(name, true);
  }
  return { args, flags };
}

/** Exit code of a command line that has to be typed again (BSD sysexits EX_USAGE). */
export const EXIT_USAGE = 64;

/**
 * The command line itself is wrong (a flag missing, a number that is not one, an unknown flag):
 * the person fixes what they typed, nothing on the terminal is at fault, so it carries no E- code.
 * The `pos` main prints the message and the command's usage and exits EXIT_USAGE.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What the `pos` command line knows about its flags (boot/pos.ts), checked before any command runs. */
export interface FlagRules {
  /** Flags that take a value (`--dir D`, `--dir=D`). */
  readonly value: ReadonlySet<string>;
  /** The largest value of a whole-number flag where it is less than any safe integer (`port`). */
  readonly max: ReadonlyMap<string, number>;
  /** Flags that take no value (`--json`). Any flag in neither set is refused as unknown. */
  readonly boolean: ReadonlySet<string>;
}

/**
 * The flags a usage line writes with the placeholder N (`--from N`, `--timeout-ms=N`): whole
 * numbers. The usage line is the one declaration, so the check cannot drift from what is shown
 * (the same name may be a number for one command and a path for another: `update build --from DIR`).
 */
export function numericFlags(usage: string): Set<string> {
  return new Set([...usage.matchAll(/--([a-z][a-z-]*)[ =]N\b/g)].map((m) => m[1]));
}

/**
 * Every flag a usage line names, in the order it names them: each `--name` token, whatever
 * surrounds it (`[--json]`, `--tid=T`, alternatives `--dir D | --board B`, groups `(...)`). The
 * usage line is the one declaration of what a command takes, as for numericFlags.
 */
export function usageFlags(usage: string): string[] {
  return [...new Set([...usage.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]))];
}

/**
 * How many words besides its options a usage line lets a command take: its tokens after the
 * command's name that are neither a flag nor a value flag's value (`FILE` in `update apply (FILE |
 * --file FILE)`); Infinity when one repeats (`[FIELD=VALUE ...]`).
 */
export function usagePositionalsMax(command: Pick<Command, 'name' | 'usage'>, valueFlags: ReadonlySet<string>): number {
  const tokens = command.usage.slice(command.name.length).split(/\s+/).map((t) => t.replace(/^[[(|]+|[\])|]+$/g, '')).filter((t) => t !== '');
  let count = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.startsWith('--')) {
      if (!t.includes('=') && valueFlags.has(t.slice(2))) i++;
      continue;
    }
    if (t.includes('...')) return Infinity;
    count++;
  }
  return count;
}

/**
 * A command whose usage line names no word besides its options is given none: `pos journal verify
 * extra` ran as `pos journal verify`, and `pos journal dump 5` dumped everything. Commands that do
 * take words (update apply's FILE, control's command) check their own, with their own messages.
 */
export function checkPositionals(args: readonly string[], rules: FlagRules, command: Pick<Command, 'name' | 'usage'>): void {
  if (args.length === 0 || usagePositionalsMax(command, rules.value) > 0) return;
  throw new UsageError(`unexpected ${args.length === 1 ? 'word' : 'words'} ${args.map((a) => `"${a}"`).join(' ')}: this command takes only options (a value goes after its option, e.g. --dir D)`);
}

/**
 * Refuses, before anything runs, what would otherwise be silently ignored or misread: an unknown
 * flag (a typo such as `--form 3` would dump everything), a flag of another command (`pos journal
 * verify --count 3` ran as if it were not there: the rules know every command's flags, the usage
 * line only this one's), a value flag without its value, a number flag whose value is not a whole
 * number (`--from abc` was read as "from the start"). `--help` goes with every command.
 */
export function checkFlags(flags: ReadonlyMap<string, string | true>, rules: FlagRules, command: Pick<Command, 'usage'>): void {
  const numeric = numericFlags(command.usage);
  const own = usageFlags(command.usage);
  for (const [name, value] of flags) {
    if (!rules.value.has(name) && !rules.boolean.has(name)) throw new UsageError(`unknown option --${name}`);
    if (name !== 'help' && !own.includes(name)) {
      throw new UsageError(`--${name} is not an option of this command (${own.length > 0 ? `it takes ${own.map((f) => `--${f}`).join(', ')}` : 'it takes none'})`);
    }
    if (rules.boolean.has(name)) {
      if (value !== true) throw new UsageError(`--${name} takes no value (got "${value}")`);
      continue;
    }
    if (value === true || value === '') throw new UsageError(`--${name} needs a value`);
    if (numeric.has(name)) wholeNumber(name, value, rules.max.get(name) ?? Number.MAX_SAFE_INTEGER);
  }
}

function wholeNumber(name: string, value: string, max: number): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new UsageError(`--${name} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` from 0 to ${max}` : ''} (got "${value}")`);
  return n;
}

/** A whole-number flag, or undefined when absent; refuses anything else (also when a command runs without checkFlags). */
export function intFlag(ctx: CommandContext, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = ctx.flags.get(name);
  if (v === undefined) return undefined;
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return wholeNumber(name, v, max);
}

/**
 * A required input, named in the error the way the usage line names it: `--out FILE`. `env` is
 * an environment variable that may stand in for the flag (secrets stay out of argv).
 */
export function need(ctx: CommandContext, flag: string, options: { env?: string; what?: string } = {}): string {
  const v = flagString(ctx, flag) ?? (options.env ? process.env[options.env] : undefined);
  if (v !== undefined && v !== '') return v;
  throw new UsageError(`${options.what ?? `--${flag}`} is missing${options.env ? ` (or set $${options.env})` : ''}`);
}

/**
 * A directory a read-only command reads: it must exist. Opening it would create it (LMDB makes
 * its files) and then report a storage failure with "do not power off, call support" for what is
 * only a typo.
 */
export function existingDir(path: string, from: string): string {
  let isDir = false;
  try { isDir = statSync(path).isDirectory(); } catch { isDir = false; }
  if (!isDir) throw new PosError('OPR_INPUT', `no such directory: ${path} (${from})`);
  return path;
}

/**
 * Thrown by a `pos` output function once the reader of stdout has gone (`pos journal dump | head`):
 * the command stops at its next line, its finally blocks close what it opened, and pos exits
 * quietly instead of dying on EPIPE with a stack trace.
 */
export class OutputClosed extends Error {
  constructor() {
    super('output closed by its reader');
    this.name = 'OutputClosed';
  }
}

/** Exit code after OutputClosed: what a shell reports for a program stopped by SIGPIPE (`yes | head`), so pipelines behave as with any Unix tool. */
export const EXIT_OUTPUT_CLOSED = 128 + 13;

/** Streams whose reader left (EPIPE seen). `stream.errored` is no witness: node 20 clears it on stdout. */
const readerLeft = new WeakSet<NodeJS.WriteStream>();

/**
 * Whether a stream given to lineWriter met EPIPE. Output the pipe could not take at once is queued
 * and fails after the command returned (`pos journal dump | head -c 100` then exited 0 in CI):
 * asked at exit, when every queued write has been written or has failed.
 */
export function readerLeftOf(stream: NodeJS.WriteStream): boolean {
  return readerLeft.has(stream);
}

/**
 * A line writer on stdout or stderr that survives its reader going away. EPIPE is an 'error'
 * event on the stream (an uncaught one ends the process with a stack trace); it is taken here.
 * Node sets `errored` synchronously on the failed write, so a tight loop stops at its next line:
 * stdout throws OutputClosed then; stderr drops the line (an error report must not itself fail).
 */
export function lineWriter(stream: NodeJS.WriteStream, onClosed: 'throw' | 'drop'): (line: string) => void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    // Anything but a closed pipe is a real fault: let it surface as before.
    if (e.code === 'EPIPE') readerLeft.add(stream);
    else process.nextTick(() => { throw e; });
  });
  return (line) => {
    if (stream.errored || stream.destroyed || readerLeft.has(stream)) {
      if (onClosed === 'throw') throw new OutputClosed();
      return;
    }
    stream.write(line + '\n');
  };
}

/** The flags a usage line requires: those outside every `[...]` (`recovery export --to DIR ...`). */
export function requiredFlags(usage: string): string[] {
  let bare = usage;
  for (let before = ''; before !== bare;) { before = bare; bare = bare.replace(/\[[^[\]]*\]/g, ''); }
  return [...bare.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]);
}

/** A file a command reads: named when it is not there, before anything else is checked or opened. */
export function existingFile(path: string, from: string): string {
  let isFile = false;
  try { isFile = statSync(path).isFile(); } catch { isFile = false; }
  if (!isFile) throw new PosError('OPR_INPUT', `no such file: ${path} (${from})`);
  return path;
}

/** Why a file could not be opened, in words (the system error's code is kept in the detail). */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder', EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'is a folder, not a file', ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'already exists (give a new name, or a folder where one is asked for)',
};

/**
 * A file a command was told to read (--password-file, --manifest, --components...) that is not
 * there or not readable: E-OPR-08 naming the file, exit 2 with the steps, not a bare ENOENT and
 * exit 1. Every command's reads get it, not only those that check first (existingFile).
 */
function fileError(e: unknown): PosError | undefined {
  if (!(e instanceof Error) || e instanceof PosError) return undefined;
  const x = e as NodeJS.ErrnoException;
  // OpenSSL could not read a key or certificate a command was given (not PEM, or another kind).
  if (x.code?.startsWith('ERR_OSSL') === true) return new PosError('OPR_INPUT', `a key or certificate file could not be read: not PEM, or not the kind of key asked for (${x.message})`, { errno: x.code });
  const why = x.code !== undefined ? FILE_ERRORS[x.code] : undefined;
  if (!why) return undefined;
  // A read through a descriptor names no path (EISDIR from reading a folder): said without one.
  if (typeof x.path !== 'string') return new PosError('OPR_INPUT', `a file given to this command ${why} (${x.syscall ?? 'read'})`, { errno: x.code });
  return new PosError('OPR_INPUT', `cannot use ${x.path}: ${why}`, { path: x.path, errno: x.code });
}

/** Usage lines of the commands under `prefix` ("journal" lists journal verify, dump, ...). */
export function groupUsage(commands: readonly Command[], prefix: readonly string[]): Command[] {
  return commands.filter((c) => { const w = c.name.split(' '); return prefix.every((x, i) => w[i] === x); });
}

export function flagString(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** Prints an error the way an operator or technician can act on it, and returns exit code 2. */
export function reportError(e: unknown, err: (line: string) => void): number {
  const file = fileError(e);
  if (file) return reportError(file, err);
  if (e instanceof PosError) {
    const d = e.definition;
    err(`${e.message}`);
    for (const step of d.en.steps) err(`  - ${step}`);
    err(`${d.code} ${d.zh.cause}: ${d.zh.steps.join('；')}`);
    return 2;
  }
  err(`error: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
}

/**
 * The `pos` command line's small framework: each capability registers its subcommands in
 * `boot/pos.ts`. A command returns an exit code; operating errors print their code and steps,
 * never a stack trace.
 */
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

/** Splits argv into positional args and `--flag[=value]` / `--flag value` flags. */
export function parseArgs(argv: readonly string[], valueFlags: ReadonlySet<string> = new Set()): { args: string[]; flags: Map<string, string | true> } {
  const args: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { args.push(a); continue; }
    const eq = a.indexOf('=');
    if (eq > 0) { flags.set(a.slice(2, eq), a.slice(eq + 1)); continue; }
    const name = a.slice(2);
    if (valueFlags.has(name) && i + 1 < argv.length) flags.set(name, argv[++i]);
    else flags.set(name, true);
  }
  return { args, flags };
}

export function flagString(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** Prints an error the way an operator or technician can act on it, and returns exit code 2. */
export function reportError(e: unknown, err: (line: string) => void): number {
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

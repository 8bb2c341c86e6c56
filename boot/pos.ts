#!/usr/bin/env node
/**
 * `pos`: the terminal's command line. Each capability adds its subcommands to COMMAND_GROUPS.
 *   pos journal verify|dump|export|import|salvage   (storage/)
 *   pos host-sim                                    (sim/host/: the acquirer simulator)
 *   pos control                                     (sim/control-cli.ts: the simulator board's control interface)
 *   pos recovery ... / pos update ... / pos factory ...   (boot/: recovery menu, A/B updates, factory station)
 */
import { Command, EXIT_OUTPUT_CLOSED, EXIT_USAGE, FlagRules, OutputClosed, UsageError, checkFlags, checkPositionals, groupUsage, lineWriter, parseArgs, readerLeftOf, reportError } from './cli';
import { journalCommands } from './journal-cli';
import { recoveryCommands } from './recovery-cli';
import { updateCommands } from './update-cli';
import { factoryCommands } from './factory-cli';
import { factoryTlsCommands } from './factory-tls';
import { factoryMgmtCommands } from './factory-mgmt';
import { optionalSim } from './optional-sim';

/**
 * The simulator's commands (pos host-sim, control, simulate), or none in a build without the
 * simulator (a release image without --with-sim): `pos` there lists and runs everything else.
 */
function simCommands<M>(id: string, pick: (m: M) => readonly Command[]): readonly Command[] {
  const m = optionalSim<M>(id);
  return m === undefined ? [] : pick(m);
}

const COMMAND_GROUPS: ReadonlyArray<readonly Command[]> = [
  journalCommands,
  simCommands<typeof import('../sim/host/cli')>('../sim/host/cli', (m) => m.hostSimCommands),
  simCommands<typeof import('../sim/control-cli')>('../sim/control-cli', (m) => m.controlCommands),
  recoveryCommands, updateCommands, factoryCommands, factoryTlsCommands, factoryMgmtCommands,
  simCommands<typeof import('../sim/simulate-cli')>('../sim/simulate-cli', (m) => m.simulateCommands),
];

/**
 * Flags that take a value, for parsing argv before the command is known (`--dir D` must not leave
 * D among the command's words). Together with BOOLEAN_FLAGS: every flag some command's usage line
 * names, and only those (tests/boot/pos-cli.test.ts); each command takes only the flags its own
 * usage line names (boot/cli.ts checkFlags).
 */
const VALUE_FLAGS = new Set(['dir', 'out', 'in', 'file', 'passphrase', 'passphrase-file', 'identity', 'from', 'to', 'board', 'port', 'host', 'seed', 'days', 'tid', 'tmk', 'mid', 'fault', 'mode',
  // boot/: recovery, update, factory
  'backup-dir', 'log-dir', 'operator', 'password-file', 'interface', 'address', 'gateway', 'dns', 'confirm', 'root', 'key', 'version',
  'public-key', 'reason', 'serial', 'locale', 'components', 'count', 'report-dir', 'registry', 'label-dir', 'faults',
  'boards', 'serials', 'manifest', 'timeout-ms', 'qr-order-pays-at', 'merchant-admin', 'merchant-password-file',
  'image', 'rootfs', 'targets', 'work-dir', 'concurrency', 'boot-kernel', 'boot-initrd', 'boot-concurrency', 'boot-timeout-ms', 'boot-tpm-dir', 'sizes',
  // TLS to the acquirer: pos host-sim, pos factory tls
  'tls-cert', 'tls-key', 'tls-ca', 'client-cert', 'client-key',
  // sim/simulate-cli.ts
  'rates', 'days-per-seed', 'workers', 'first-seed']);

/** Whole-number flags (`--x N` in a command's usage) that have a smaller largest value. */
const NUMBER_MAX: ReadonlyMap<string, number> = new Map([['port', 65_535]]);

/** Flags without a value. A flag in neither list is refused: a typo must not be ignored silently. */
const BOOLEAN_FLAGS = new Set(['help', 'json', 'force', 'plain', 'unattended', 'no-faults', 'stand-in-devices', 'verbose', 'require-client-cert', 'verify']);

/** Every command, in the order `pos --help` lists them. */
export const COMMANDS: readonly Command[] = COMMAND_GROUPS.flat();

export const FLAG_RULES: FlagRules = { value: VALUE_FLAGS, max: NUMBER_MAX, boolean: BOOLEAN_FLAGS };

export async function main(
  argv: readonly string[],
  out: (line: string) => void = (l) => { process.stdout.write(l + '\n'); },
  err: (line: string) => void = (l) => { process.stderr.write(l + '\n'); },
): Promise<number> {
  try {
    return await dispatch(argv, out, err);
  } catch (e) {
    // The reader of stdout went away (`| head`): stop quietly, as any Unix tool does.
    if (e instanceof OutputClosed) return EXIT_OUTPUT_CLOSED;
    throw e;
  }
}

function printUsage(out: (line: string) => void, list: readonly Command[]): void {
  for (const c of list) out(`  pos ${c.usage.padEnd(58)} ${c.summary}`);
}

async function dispatch(argv: readonly string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const commands = COMMANDS;
  const { args, flags } = parseArgs(argv, VALUE_FLAGS);
  if (args.length === 0 || flags.has('help')) {
    const wanted = args.join(' ');
    const list = commands.filter((c) => wanted === '' || c.name.startsWith(wanted));
    out('usage: pos <command> [options]');
    printUsage(out, list);
    return args.length === 0 && !flags.has('help') ? EXIT_USAGE : 0;
  }
  // Longest command name that prefixes the positional args wins ("journal verify" over "journal").
  const match = commands
    .filter((c) => { const w = c.name.split(' '); return w.every((x, i) => args[i] === x); })
    .sort((a, b) => b.name.length - a.name.length)[0];
  if (!match) {
    // A group named without its subcommand (`pos journal`, `pos recovery network`): its usage, as
    // `pos` alone prints everyone's. A subcommand the group does not have: the error and the list.
    let depth = args.length;
    while (depth > 0 && groupUsage(commands, args.slice(0, depth)).length === 0) depth--;
    const group = depth > 0 ? groupUsage(commands, args.slice(0, depth)) : [];
    const named = args.slice(0, depth).join(' ');
    if (group.length > 0 && depth === args.length) {
      out(`usage: pos ${named} <command> [options]`);
      printUsage(out, group);
      return EXIT_USAGE;
    }
    err(`pos: unknown command "${args.join(' ')}"; ${group.length ? `"pos ${named}" has:` : 'run "pos --help"'}`);
    printUsage(err, group);
    return EXIT_USAGE;
  }
  const rest = args.slice(match.name.split(' ').length);
  try {
    checkFlags(flags, FLAG_RULES, match);
    checkPositionals(rest, FLAG_RULES, match);
    return await match.run({ args: rest, flags, out, err });
  } catch (e) {
    if (e instanceof OutputClosed) throw e;
    if (e instanceof UsageError) {
      err(`pos ${match.name}: ${e.message}`);
      err(`usage: pos ${match.usage}`);
      return EXIT_USAGE;
    }
    return reportError(e, err);
  }
}

if (require.main === module) {
  const out = lineWriter(process.stdout, 'throw');
  const err = lineWriter(process.stderr, 'drop');
  // A reader that left while the output was still queued is only known once the write fails,
  // which may be after the command returned (boot/cli.ts readerLeftOf): decided at exit.
  main(process.argv.slice(2), out, err).then((code) => {
    process.exitCode = code;
    process.once('exit', () => { if (readerLeftOf(process.stdout)) process.exitCode = EXIT_OUTPUT_CLOSED; });
  }, (e) => { console.error(e); process.exitCode = 1; });
}

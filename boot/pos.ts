#!/usr/bin/env node
/**
 * `pos`: the terminal's command line. Each capability adds its subcommands to COMMAND_GROUPS.
 *   pos journal verify|dump|export|import|salvage   (storage/)
 *   pos host-sim                                    (sim/host/: the acquirer simulator)
 *   pos recovery ... / pos update ... / pos factory ...   (boot/: recovery menu, A/B updates, factory station)
 */
import { Command, parseArgs, reportError } from './cli';
import { journalCommands } from './journal-cli';
import { hostSimCommands } from '../sim/host/cli';
import { recoveryCommands } from './recovery-cli';
import { updateCommands } from './update-cli';
import { factoryCommands } from './factory-cli';
import { simulateCommands } from '../sim/simulate-cli';

const COMMAND_GROUPS: ReadonlyArray<readonly Command[]> = [journalCommands, hostSimCommands, recoveryCommands, updateCommands, factoryCommands, simulateCommands];

const VALUE_FLAGS = new Set(['dir', 'out', 'in', 'file', 'passphrase', 'passphrase-file', 'identity', 'from', 'to', 'limit', 'board', 'port', 'host', 'seed', 'days', 'tid', 'tmk', 'mid', 'fault', 'mode',
  // boot/: recovery, update, factory
  'backup-dir', 'log-dir', 'operator', 'password-file', 'interface', 'address', 'gateway', 'dns', 'confirm', 'root', 'key', 'version',
  'public-key', 'reason', 'serial', 'locale', 'components', 'kcvs', 'count', 'report', 'report-dir', 'registry', 'label-dir', 'faults',
  'boards', 'serials', 'manifest', 'timeout-ms',
  // sim/simulate-cli.ts
  'rates', 'days-per-seed', 'workers', 'first-seed']);

export async function main(
  argv: readonly string[],
  out: (line: string) => void = (l) => { process.stdout.write(l + '\n'); },
  err: (line: string) => void = (l) => { process.stderr.write(l + '\n'); },
): Promise<number> {
  const commands = COMMAND_GROUPS.flat();
  const { args, flags } = parseArgs(argv, VALUE_FLAGS);
  if (args.length === 0 || flags.has('help')) {
    const wanted = args.join(' ');
    const list = commands.filter((c) => wanted === '' || c.name.startsWith(wanted));
    out('usage: pos <command> [options]');
    for (const c of list) out(`  pos ${c.usage.padEnd(58)} ${c.summary}`);
    return args.length === 0 && !flags.has('help') ? 64 : 0;
  }
  // Longest command name that prefixes the positional args wins ("journal verify" over "journal").
  const match = commands
    .filter((c) => { const w = c.name.split(' '); return w.every((x, i) => args[i] === x); })
    .sort((a, b) => b.name.length - a.name.length)[0];
  if (!match) {
    err(`pos: unknown command "${args.join(' ')}"; run "pos --help"`);
    return 64;
  }
  const rest = args.slice(match.name.split(' ').length);
  try {
    return await match.run({ args: rest, flags, out, err });
  } catch (e) {
    return reportError(e, err);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}

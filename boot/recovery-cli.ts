/**
 * `pos recovery <action>`: the recovery menu's actions from a shell (a technician over a serial
 * console or SSH). The administrator's password is read from --password-file or
 * $POS_ADMIN_PASSWORD, never from argv (ps shows argv). Exit codes: 0 ok; 2 operating error;
 * 4 the action ran and reported a failure (damaged journal, network step failed).
 * Resend and reprint need the running terminal's host and printer: they are in the LCD menu
 * (boot/recovery.ts API), not here.
 */
import { readFileSync } from 'node:fs';
import { Command, CommandContext, UsageError, existingDir, existingFile, flagString, intFlag, need, requiredFlags } from './cli';
import { PosError } from '../common/errors';
import { Session, operatorNumber } from '../runtime/operators';
import { readBoardFile } from '../hal/board';
import { Recovery, Report } from './recovery';
import { NetworkSettings } from './recovery-net';
import { execFile } from 'node:child_process';
import { netApplyFromBoard, NET_INTERFACE_DEFAULT } from './net-apply';
import { deviceKeyProviderFor, deviceKeyWhenAsked, keyDirFor } from '../runtime/device-key-provider';
import { refuseWhileHeld } from '../storage/holders';
import { serviceAdminCheck, serviceAdminFile } from './service-admin';

function board(ctx: CommandContext): ReturnType<typeof readBoardFile> {
  return readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
}

/** --dir, else $POS_JOURNAL_DIR, else the board file's storage.journalDir; and where it came from, for "no such directory". */
function journalDirOf(ctx: CommandContext): { dir: string; from: string } {
  const flag = flagString(ctx, 'dir');
  if (flag) return { dir: flag, from: '--dir' };
  if (process.env.POS_JOURNAL_DIR) return { dir: process.env.POS_JOURNAL_DIR, from: '$POS_JOURNAL_DIR' };
  const b = board(ctx);
  return { dir: b.config.storage.journalDir, from: `storage.journalDir of ${b.file}; --dir names another` };
}

function recoveryFor(ctx: CommandContext, applyNetwork = false): Recovery {
  const b = () => board(ctx).config.storage;
  return new Recovery({
    // Network settings are written for the OS the way the board file says (boot/net-apply.ts).
    ...(applyNetwork ? { netApply: netApplyFromBoard(board(ctx).config) } : {}),
    journalDir: journalDirOf(ctx).dir,
    // The factory's service administrator (operator 000), as at the recovery menu: a technician's
    // shell is where a journal that cannot be read is dealt with, and its operators with it.
    fallbackAdmin: serviceAdminCheck(serviceAdminFile(journalDirOf(ctx).dir)),
    // The key the board file names (a TPM's, or the file), found where the terminal keeps it; never
    // created here; the board file read only by the actions that need the key (export, import, repair).
    deviceKey: deviceKeyWhenAsked(() => deviceKeyProviderFor(board(ctx), keyDirFor(journalDirOf(ctx).dir), { create: false })),
    backupDir: flagString(ctx, 'backup-dir') ?? b().backupDir,
    identity: flagString(ctx, 'identity'),
    logDir: flagString(ctx, 'log-dir') ?? process.env.POS_LOG_DIR,
    system: { reboot: () => systemctl('reboot'), powerOff: () => systemctl('poweroff') },
  });
}

/**
 * `pos recovery reboot|poweroff` runs `systemctl reboot|poweroff` on the machine it runs on: on the
 * simulator board (the default in a checkout) that is a developer's own computer, not a terminal.
 * Refused there before anything is opened or journaled; a terminal's shell names its board file
 * (--board, or $POS_BOARD as the unit sets it).
 */
function notThisComputer(ctx: CommandContext, verb: 'reboot' | 'poweroff'): void {
  const b = board(ctx);
  if (b.config.simulator !== true) return;
  throw new PosError('OPR_INPUT', `pos recovery ${verb}: the board is the simulator board (${b.file}), so systemctl ${verb} would ${verb === 'reboot' ? 'reboot' : 'power off'} this computer, not a terminal: nothing done. On a terminal, name its board file (--board B, or $POS_BOARD as the unit sets it) / 当前为模拟器板，不会${verb === 'reboot' ? '重启' : '关闭'}本机；在终端上请用 --board 或 $POS_BOARD 指定其板文件`, { board: b.file });
}

function systemctl(verb: 'reboot' | 'poweroff'): Promise<void> {
  return new Promise((resolve, reject) => execFile('systemctl', [verb], (e) => (e ? reject(e) : resolve())));
}

function secret(ctx: CommandContext, fileFlag: string, env: string): string | undefined {
  const file = flagString(ctx, fileFlag);
  if (file) return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  return process.env[env];
}

/**
 * The administrator's operator number and password, each named when it is missing: an empty
 * operator used to reach the login and come back as "operator  does not exist".
 */
export function adminCredentials(ctx: CommandContext): { operator: string; password: string } {
  const typed = need(ctx, 'operator', { what: "--operator N (the administrator's operator number)" });
  // Typed as on the keypad ("00", as the README gives it) or in full ("000"): the journal's 3 digits.
  const operator = operatorNumber(typed);
  if (operator === undefined) throw new UsageError(`--operator ${typed}: an operator number is 1 to 3 digits, as at the login (00 for the administrator)`);
  const password = secret(ctx, 'password-file', 'POS_ADMIN_PASSWORD');
  if (!password) throw new UsageError("--password-file F (a file holding the administrator's password) is missing (or set $POS_ADMIN_PASSWORD)");
  return { operator, password };
}

/** Logs an administrator in through the journal's operators (attempts counted and limited). */
export async function adminSessionFromCli(ctx: CommandContext, recovery?: Recovery): Promise<Session> {
  const { operator, password } = adminCredentials(ctx);
  if (!recovery) {
    // As the recovery commands: a mistyped or absent journal folder is named, not created by
    // opening it (`pos update apply --force` on a fresh checkout made an empty LMDB journal and
    // then said the operator did not exist); the login writes, so never beside a running terminal.
    const { dir, from } = journalDirOf(ctx);
    existingDir(dir, from);
    refuseWhileHeld(dir, 'an administrator login');
  }
  const r = recovery ?? recoveryFor(ctx);
  try {
    return await r.login(operator, password);
  } finally {
    await r.close().catch(() => undefined);
  }
}

/** Report lines follow LANG: Chinese when it names zh (zh_CN.UTF-8), English otherwise. */
function print(ctx: CommandContext, r: Report): number {
  const zh = /^zh/i.test(process.env.LC_ALL || process.env.LC_MESSAGES || process.env.LANG || '');
  if (ctx.flags.has('json')) ctx.out(JSON.stringify(r));
  else for (const l of zh && r.text ? r.text.map((x) => x.zh) : r.lines) ctx.out(l);
  if (!r.ok && r.code) ctx.err(`${r.code}: ${r.action} failed`);
  return r.ok ? 0 : 4;
}

/** Flags checked by adminCredentials (with their own message). */
const SECRETS: Record<string, true> = { operator: true, 'password-file': true };
/** Environment variables that stand in for a required flag (secrets stay out of argv). */
const FLAG_ENV: Record<string, string> = { 'passphrase-file': 'POS_BACKUP_PASSPHRASE' };

/** A command that logs in (unless read-only), runs one action and closes the journal. */
function action(name: string, usage: string, summary: string, needsAdmin: boolean, fn: (r: Recovery, s: Session | undefined, ctx: CommandContext) => Promise<Report>, applyNetwork = false): Command {
  return {
    name: `recovery ${name}`, usage: `recovery ${usage}`, summary,
    async run(ctx) {
      // What was typed is checked before anything is opened: the credentials, then the journal's
      // directory (opening a mistyped one would create it). Only a network test given its
      // settings on the command line reads no journal.
      const admin = needsAdmin ? adminCredentials(ctx) : undefined;
      for (const flag of requiredFlags(usage)) if (!(flag in SECRETS)) need(ctx, flag, { env: FLAG_ENV[flag] });
      if (name === 'reboot' || name === 'poweroff') notThisComputer(ctx, name);
      if (name !== 'network test' || !ctx.flags.has('host')) {
        const { dir, from } = journalDirOf(ctx);
        existingDir(dir, from);
        // Every action opens the journal to write (its admin-action record at least): never beside
        // a terminal that has it open (storage/holders.ts). `pos journal verify` reads only.
        refuseWhileHeld(dir, `pos recovery ${name}`);
      }
      const r = recoveryFor(ctx, applyNetwork);
      try {
        const session = admin ? await r.login(admin.operator, admin.password) : undefined;
        return print(ctx, await fn(r, session, ctx));
      } finally {
        await r.close();
      }
    },
  };
}

const must = (s: Session | undefined): Session => {
  if (!s) throw new PosError('OPR_PERMISSION', 'administrator session missing');
  return s;
};

function networkFrom(ctx: CommandContext): NetworkSettings {
  const dns = flagString(ctx, 'dns');
  const address = flagString(ctx, 'address');
  return {
    interface: flagString(ctx, 'interface') ?? board(ctx).config.network?.interface ?? NET_INTERFACE_DEFAULT, mode: address ? 'static' : 'dhcp',
    ...(address ? { address: address.split('/')[0], prefixLength: Number(address.split('/')[1] ?? 24) } : {}),
    ...(flagString(ctx, 'gateway') ? { gateway: flagString(ctx, 'gateway') } : {}),
    ...(dns ? { dns: dns.split(',') } : {}),
    host: need(ctx, 'host'), port: intFlag(ctx, 'port', 65_535) ?? Number(need(ctx, 'port')),
  };
}

const ADMIN = '--operator N --password-file F';
/**
 * Where every action finds the journal (journalDirOf) and the board file (its device key, network
 * backend, whether systemctl would act on this computer). The other shared options are named only
 * by the actions that use them: --identity where the journal's identity is checked, --backup-dir
 * where backups are listed or written, --log-dir by export, which copies the logs.
 */
const WHERE = '[--dir D] [--board B]';

export const recoveryCommands: readonly Command[] = [
  action('verify', `verify ${WHERE} [--identity ID] [--backup-dir D] [--json]`, 'verify the journal in a child process; a healthy one records the check (beside a running terminal: pos journal verify)', false, (r) => r.verifyJournal()),
  action('repair', `repair ${ADMIN} [--passphrase-file F] ${WHERE} [--identity ID] [--backup-dir D]`, 'cut a torn tail, or restore the newest good backup', true, (r, s, ctx) => r.repair(must(s), secret(ctx, 'passphrase-file', 'POS_BACKUP_PASSPHRASE'))),
  action('export', `export --to DIR ${ADMIN} --passphrase-file F ${WHERE} [--log-dir D]`, 'encrypted journal backup and logs to a USB stick or path', true, (r, s, ctx) => r.exportTo(need(ctx, 'to'), secret(ctx, 'passphrase-file', 'POS_BACKUP_PASSPHRASE') ?? '', must(s))),
  action('import', `import --in FILE ${ADMIN} [--passphrase-file F] ${WHERE} [--identity ID]`, 'restore a backup (verified first; the old journal is kept)', true, (r, s, ctx) => r.importBackup(existingFile(need(ctx, 'in'), '--in'), secret(ctx, 'passphrase-file', 'POS_BACKUP_PASSPHRASE'), must(s))),
  action('salvage', `salvage ${ADMIN} ${WHERE} [--identity ID]`, 'rebuild the journal from intact records; the damaged one is kept', true, (r, s) => r.salvage(must(s))),
  action('network set', `network set [--interface I] [--address A/P] [--gateway G] [--dns D1,D2] --host H --port N ${ADMIN} ${WHERE}`, 'store network settings (no --address: DHCP) and write them for the OS (board file "network")', true, (r, s, ctx) => r.saveNetworkSettings(networkFrom(ctx), must(s)), true),
  // Without --host the test reads the settings the journal holds; with it, those given here (networkFrom).
  action('network test', `network test ${WHERE} [[--interface I] [--address A/P] [--gateway G] [--dns D1,D2] --host H --port N]`, 'interface, address, gateway, DNS, TCP connect', false, (r, _s, ctx) => r.testNetwork(ctx.flags.has('host') ? networkFrom(ctx) : undefined)),
  action('factory-reset', `factory-reset --confirm N ${ADMIN} [--passphrase-file F] ${WHERE} [--backup-dir D]`, 'erase transactions, keys, settings (keeps identity; backup first)', true, async (r, s, ctx) => {
    const plan = await r.factoryResetPlan();
    for (const l of plan.erases) ctx.out(`will erase: ${l}`);
    for (const l of plan.keeps) ctx.out(`keeps: ${l}`);
    return r.factoryReset({ confirmations: intFlag(ctx, 'confirm') ?? 0, passphrase: secret(ctx, 'passphrase-file', 'POS_BACKUP_PASSPHRASE') }, must(s));
  }),
  action('reboot', `reboot ${ADMIN} ${WHERE}`, 'journal the action, close the journal, reboot', true, (r, s) => r.reboot(must(s))),
  action('poweroff', `poweroff ${ADMIN} ${WHERE}`, 'journal the action, close the journal, power off', true, (r, s) => r.powerOff(must(s))),
];

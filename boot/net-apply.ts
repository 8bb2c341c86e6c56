/**
 * Applying the recovery menu's network settings to the operating system, in the way the board
 * file names (`"network": { "backend": "systemd-networkd", "dir": "/etc/systemd/network" }`).
 *
 * Backends:
 * - `none` (the default, and the simulator board's): the settings are stored in the journal
 *   only; the OS network is managed by someone else.
 * - `systemd-networkd`: one `.network` file for the interface (`<dir>/<file>`, default
 *   /etc/systemd/network/10-pos.network) written atomically: a temp file in the same directory
 *   (`<file>.tmp`: networkd reads only `*.network`), fsync, rename over the old file, fsync of
 *   the directory. A power cut leaves the old file or the new one, never a mix. Then, when
 *   `networkctl` is on the PATH: `networkctl reload` and `networkctl reconfigure <iface>`.
 *
 * Failures are E-NET-07 (NET_APPLY) with the reason:
 * - the directory is missing or not writable, or the write fails: nothing replaced (the temp
 *   file is removed; the old file stays in place) and the settings are NOT stored;
 * - networkctl fails after the file is in place: the file stays (it takes effect at the next
 *   boot) and the report says so.
 * The host address and port are the terminal's own settings, never written for the OS.
 * Commands go through an injected runner so tests check them without running networkctl.
 */
import { execFile } from 'node:child_process';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PosError } from '../common/errors';
import type { NetworkSettings } from './recovery-net';
import type { BoardConfig } from '../hal/board-schema';

export type NetBackend = 'systemd-networkd' | 'none';

export const NETWORKD_DIR_DEFAULT = '/etc/systemd/network';
export const NETWORKD_FILE_DEFAULT = '10-pos.network';
/** Each networkctl call is killed after this. */
export const NETWORKCTL_TIMEOUT_MS_MAX = 10_000;
const OUTPUT_CHARS_MAX = 200;

/** The board file's `network` object, defaults filled (hal/board-schema.ts validates it). */
export interface NetApplyConfig {
  readonly backend: NetBackend;
  /** systemd-networkd: the directory of .network files. */
  readonly dir?: string;
  /** systemd-networkd: the file name (must end in .network). */
  readonly file?: string;
}

/** The board file's `network` object as an apply config (absent: backend "none"). */
export function netApplyFromBoard(config: Pick<BoardConfig, 'network'>): NetApplyConfig {
  const n = config.network;
  if (!n) return { backend: 'none' };
  return { backend: n.backend, ...(n.dir !== undefined ? { dir: n.dir } : {}), ...(n.file !== undefined ? { file: n.file } : {}) };
}

/** The interface the board's network settings are for (board file `network.interface`, default eth0). */
export const NET_INTERFACE_DEFAULT = 'eth0';

export interface CommandResult {
  readonly exitCode: number | null;
  readonly output: string;
}

/** Runs OS commands (injected: tests record the calls instead). */
export interface CommandRunner {
  /** True when `command` can be run (on the PATH). */
  has(command: string): boolean;
  run(command: string, args: readonly string[], timeoutMs: number): Promise<CommandResult>;
}

export const REAL_RUNNER: CommandRunner = {
  has: (command) => (process.env.PATH ?? '').split(delimiter).some((d) => {
    try { return d !== '' && statSync(join(d, command)).isFile(); } catch { return false; }
  }),
  run: (command, args, timeoutMs) => new Promise((resolve) => {
    execFile(command, [...args], { timeout: timeoutMs }, (e, stdout, stderr) => {
      const code = e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : null) : 0;
      resolve({ exitCode: code, output: `${stdout}${stderr}`.trim().slice(0, OUTPUT_CHARS_MAX) || (e ? e.message : '') });
    });
  }),
};

export interface ApplyResult {
  readonly backend: NetBackend;
  /** The file written (systemd-networkd). */
  readonly file?: string;
  /** Commands run, as typed ("networkctl reload"). */
  readonly commands: readonly string[];
  /** networkctl is not on this system: the file takes effect at the next boot. */
  readonly reloadSkipped?: boolean;
  /** Set when the file is in place but networkctl failed (E-NET-07 in the report). */
  readonly reloadError?: string;
}

/** The .network file for `s`, exactly as written (tests compare it byte for byte). */
export function networkdFile(s: NetworkSettings): string {
  const lines = [
    '# Written by the POS runtime (recovery menu > System > Network).',
    '# Changed there, this file is replaced: edit the settings there, not here.',
    '[Match]',
    `Name=${s.interface}`,
    '',
    '[Network]',
  ];
  if (s.mode === 'dhcp') lines.push('DHCP=ipv4');
  else lines.push(`Address=${s.address}/${s.prefixLength}`);
  if (s.gateway) lines.push(`Gateway=${s.gateway}`);
  for (const d of s.dns ?? []) lines.push(`DNS=${d}`);
  return lines.join('\n') + '\n';
}

function applyError(message: string, detail: Record<string, unknown>, cause?: unknown): PosError {
  return new PosError('NET_APPLY', message, detail, cause === undefined ? undefined : { cause });
}

/**
 * Writes `text` to `dir/name` atomically. The directory must exist (it is the OS's: never
 * created here). On any failure the temp file is removed and the old file is untouched.
 */
export function writeAtomic(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  const tmp = `${file}.tmp`;
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (e) {
    throw applyError(`network settings not applied: ${dir} is missing or not a folder (${(e as NodeJS.ErrnoException).code ?? String(e)}): check the board file's "network.dir"`, { dir }, e);
  }
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, Buffer.from(text, 'utf8'));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    try { rmSync(tmp, { force: true }); } catch { /* not a file: left for the technician */ }
    throw applyError(`network settings not applied: writing ${file} failed (${(e as NodeJS.ErrnoException).code ?? String(e)}); the old file is unchanged`, { file }, e);
  }
  const dfd = openSync(dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
  return file;
}

/** Applies `s` for the OS as `config` says; see the file header for what fails how. */
export async function applyNetworkSettings(s: NetworkSettings, config: NetApplyConfig, runner: CommandRunner = REAL_RUNNER): Promise<ApplyResult> {
  if (config.backend === 'none') return { backend: 'none', commands: [] };
  const file = writeAtomic(config.dir ?? NETWORKD_DIR_DEFAULT, config.file ?? NETWORKD_FILE_DEFAULT, networkdFile(s));
  if (!runner.has('networkctl')) return { backend: config.backend, file, commands: [], reloadSkipped: true };
  const commands: string[] = [];
  for (const args of [['reload'], ['reconfigure', s.interface]]) {
    commands.push(`networkctl ${args.join(' ')}`);
    const r = await runner.run('networkctl', args, NETWORKCTL_TIMEOUT_MS_MAX);
    if (r.exitCode !== 0) {
      return { backend: config.backend, file, commands, reloadError: `networkctl ${args.join(' ')} exited ${r.exitCode ?? 'by a signal'}${r.output ? `: ${r.output}` : ''}` };
    }
  }
  return { backend: config.backend, file, commands };
}

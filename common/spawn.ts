/**
 * Runs one of the project's own modules in a child Node process, whether the project runs as
 * compiled JavaScript (on a device, or from dist/ after `tsc`) or as TypeScript under ts-node.
 * Compiled output is preferred when dist/ is at least as new as every TypeScript source (not
 * just the entry: a stale dependency would run old code): a child started from ts-node costs
 * over a second, from JavaScript about a tenth of that, which matters to tests that start
 * hundreds of children.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
// node:child_process on the first spawn: the terminal's start loads this module (the background
// verify's child comes later) and needs no child process to reach idle (issue 14 goal 6).
import { childProcess } from './lazy';
import { SpawnedChild, spawnLight } from './spawn-light';

const REPO_ROOT = join(__dirname, '..');

/**
 * A process's /proc/PID/stat fields after its command name (which may hold spaces and
 * parentheses, so the split starts after the last ')'): index 0 is the state, 11 utime, 12 stime,
 * 19 the start time. Undefined when the process has no /proc entry.
 */
export function procStatFields(pid: number | undefined): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
const DIST = join(REPO_ROOT, 'dist');

/** Node arguments that run `modulePathNoExt` (absolute, without .ts/.js). */
export function nodeArgsFor(modulePathNoExt: string): string[] {
  if (existsSync(`${modulePathNoExt}.js`)) return [`${modulePathNoExt}.js`];
  const source = `${modulePathNoExt}.ts`;
  const compiled = join(DIST, `${relative(REPO_ROOT, modulePathNoExt)}.js`);
  if (existsSync(compiled) && statSync(compiled).mtimeMs >= newestSourceMtimeMs()) return [compiled];
  return ['-r', require.resolve('ts-node/register/transpile-only'), source];
}

/**
 * A worker thread's script for `modulePathNoExt`, chosen as nodeArgsFor chooses: the JavaScript
 * beside it, dist/'s when it is as new as every source, else the TypeScript under ts-node. A worker
 * under ts-node compiles its whole module graph again (2-3 s of a core per worker here: a test
 * flashing eight targets paid it eight times).
 */
export function workerScriptFor(modulePathNoExt: string): { file: string; execArgv: string[] } {
  const args = nodeArgsFor(modulePathNoExt);
  return args.length === 1 ? { file: args[0], execArgv: [] } : { file: args[args.length - 1], execArgv: args.slice(0, -1) };
}

const SOURCE_DIRS = ['boot', 'common', 'hal', 'runtime', 'sim', 'storage', 'ui-lcd', 'tests', 'bench'];
let newestSource: number | undefined;

/** The newest .ts mtime under the source folders (computed once per process). */
function newestSourceMtimeMs(): number {
  if (newestSource !== undefined) return newestSource;
  let newest = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules' && !entry.name.startsWith('.')) walk(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(join(REPO_ROOT, d))) walk(join(REPO_ROOT, d));
  newestSource = newest;
  return newest;
}

export function spawnModule(modulePathNoExt: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return childProcess().spawn(process.execPath, [...nodeArgsFor(modulePathNoExt), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** util-linux's setpriv (Debian's util-linux is essential: the image's root file system has it). */
export const SETPRIV_PATH = '/usr/bin/setpriv';

/**
 * As spawnModule, but the kernel kills the child (SIGKILL) when this process dies, however it
 * dies and even while the child is stopped (SIGSTOP): setpriv sets PR_SET_PDEATHSIG, which its
 * exec of node keeps. Undefined without setpriv (the caller must not leave such a child stopped).
 * Started without fork where native/process_native.c is built (common/spawn-light.ts: a fork
 * makes this process fault on every page it writes next); only `env` of the options is used then.
 */
export function spawnModuleTied(modulePathNoExt: string, args: readonly string[], options: SpawnOptions = {}, setprivPath = SETPRIV_PATH): SpawnedChild | undefined {
  if (!existsSync(setprivPath)) return undefined;
  const argv = ['--pdeathsig', 'KILL', process.execPath, ...nodeArgsFor(modulePathNoExt), ...args];
  return spawnLight(setprivPath, argv, options.env ?? process.env) ?? childProcess().spawn(setprivPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** As spawnModule, without fork where the addon is built (spawnModuleTied says why); only `env` is used then. */
export function spawnModuleLight(modulePathNoExt: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): SpawnedChild {
  return spawnLight(process.execPath, [...nodeArgsFor(modulePathNoExt), ...args], env) ?? spawnModule(modulePathNoExt, args, { env });
}

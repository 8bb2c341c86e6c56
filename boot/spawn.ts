/**
 * Runs one of the project's own modules in a child Node process, whether the project runs as
 * compiled JavaScript (on a device, or from dist/ after `tsc`) or as TypeScript under ts-node.
 * Compiled output is preferred when it is at least as new as the source: a child started from
 * ts-node costs over a second, from JavaScript about a tenth of that, which matters to tests
 * that start hundreds of children.
 */
import { spawn, ChildProcess, SpawnOptions } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const REPO_ROOT = join(__dirname, '..');
const DIST = join(REPO_ROOT, 'dist');

/** Node arguments that run `modulePathNoExt` (absolute, without .ts/.js). */
export function nodeArgsFor(modulePathNoExt: string): string[] {
  if (existsSync(`${modulePathNoExt}.js`)) return [`${modulePathNoExt}.js`];
  const source = `${modulePathNoExt}.ts`;
  const compiled = join(DIST, `${relative(REPO_ROOT, modulePathNoExt)}.js`);
  if (existsSync(compiled) && statSync(compiled).mtimeMs >= statSync(source).mtimeMs) return [compiled];
  return ['-r', require.resolve('ts-node/register/transpile-only'), source];
}

export function spawnModule(modulePathNoExt: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [...nodeArgsFor(modulePathNoExt), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

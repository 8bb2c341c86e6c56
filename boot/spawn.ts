/**
 * Runs one of the project's own modules in a child Node process, whether the project runs as
 * compiled JavaScript (on a device) or as TypeScript under ts-node (development, tests).
 */
import { spawn, ChildProcess, SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Node arguments that run `modulePathNoExt` (absolute, without .ts/.js). */
export function nodeArgsFor(modulePathNoExt: string): string[] {
  if (existsSync(`${modulePathNoExt}.js`)) return [`${modulePathNoExt}.js`];
  return ['-r', require.resolve('ts-node/register/transpile-only'), `${modulePathNoExt}.ts`];
}

export function spawnModule(modulePathNoExt: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [...nodeArgsFor(modulePathNoExt), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

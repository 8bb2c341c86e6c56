/**
 * Files shipped beside the code (board files, fonts) are found from the package root, so the same
 * code works from the sources (ts-node) and from the compiled dist/ tree, where __dirname is one
 * level deeper.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PACKAGE_NAME_FILE = 'package.json';
let root: string | undefined;

/** The directory holding this package's package.json. */
export function packageRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, PACKAGE_NAME_FILE)) && existsSync(join(dir, 'board-configs'))) return (root = dir);
    if (dirname(dir) === dir) throw new Error(`package root not found above ${__dirname}`);
  }
}

/** A path inside the package, e.g. asset('ui-lcd', 'font', 'gb2312-unifont.txt'). */
export function asset(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}

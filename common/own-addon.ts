/**
 * Where one of the runtime's own native addons (binding.gyp: native/*, built by `npm install`'s
 * node-gyp into build/Release, compiled for its target by `npm run image`) may be.
 */
import * as path from 'node:path';

/**
 * Folders above this file's searched for build/Release: a top-level source folder (ts-node) is 1
 * below the repository root, dist/<folder>/ (compiled, and the bundle, which maps __dirname to
 * dist/common) 2, the tests' compiled copies (node_modules/.cache/powercut-js/<folder>/) 4.
 */
const ADDON_SEARCH_LEVELS_MAX = 4;

/**
 * `envVar` first when set (an image may put the file elsewhere), else build/Release at each
 * folder above this file's, nearest first (see ADDON_SEARCH_LEVELS_MAX).
 */
export function ownAddonCandidates(fileName: string, envVar: string): string[] {
  const env = process.env[envVar];
  const above: string[] = [];
  for (let level = 1, dir = __dirname; level <= ADDON_SEARCH_LEVELS_MAX; level++) {
    dir = path.dirname(dir);
    above.push(path.join(dir, 'build', 'Release', fileName));
  }
  return [...(env ? [env] : []), ...above];
}

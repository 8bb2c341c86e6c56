/**
 * Where one of the runtime's own native addons (binding.gyp: native/*, built by `npm install`'s
 * node-gyp into build/Release, compiled for its target by `npm run image`) may be.
 */
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';

/**
 * Folders above this file's searched for build/Release: a top-level source folder (ts-node) is 1
 * below the repository root, dist/<folder>/ (compiled, and the bundle, which maps __dirname to
 * dist/common) 2, the tests' compiled copies (.tmp/powercut-js/<folder>/) 3.
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

/**
 * The first candidate that exists, loads and `fits` (its exports have the functions the caller
 * needs: an older slot's build may lack some), or null. RTLD_NOW: an addon that uses node's own
 * OpenSSL or zlib symbols fails here, at load, on a node that does not export them, instead of
 * killing the process at its first call (lazy binding's default). Another ABI fails here too.
 */
export function loadOwnAddon<T>(candidates: readonly string[], fits: (exports: Partial<T>) => boolean): T | null {
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    try {
      const module = { exports: {} as Partial<T> };
      process.dlopen(module, file, osConstants.dlopen.RTLD_NOW);
      if (fits(module.exports)) return module.exports as T;
    } catch {
      // Not loadable here: the caller's JavaScript path.
    }
  }
  return null;
}

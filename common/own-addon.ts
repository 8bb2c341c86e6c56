/**
 * Where one of the runtime's own native addons (binding.gyp: native/*, built by `npm install`'s
 * node-gyp into build/Release, compiled for its target by `npm run image`) may be.
 */
import * as path from 'node:path';

/**
 * `envVar` first when set (an image may put the file elsewhere), else build/Release at the
 * repository root seen from a top-level source folder (ts-node) or from dist/<folder>/ (compiled,
 * and the bundle, which maps __dirname to dist/common).
 */
export function ownAddonCandidates(fileName: string, envVar: string): string[] {
  const env = process.env[envVar];
  return [
    ...(env ? [env] : []),
    path.join(__dirname, '..', 'build', 'Release', fileName),
    path.join(__dirname, '..', '..', 'build', 'Release', fileName),
  ];
}

/**
 * The release image's packer (`npm run image`, scripts/image/build-image.ts): one signed package in
 * the update format of boot/UPDATE_FORMAT.md, built so that the same tree gives the same bytes on
 * any machine, whatever its locale, umask or file times.
 *
 * Why not buildPackage (boot/update.ts) as it is: it orders paths with localeCompare (the order
 * follows the build machine's ICU locale), copies each file's permission bits as the umask left
 * them, and has no room for the image's description. This writes the same format (magic, length,
 * manifest, Ed25519 signature, payload) with paths in byte order, modes normalised to 0644/0755
 * and one extra manifest field, `image`, that terminals ignore (parsePackage checks only the fields
 * it knows), so every terminal that installs updates installs a release image.
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PosError } from '../common/errors';
import { MANIFEST_BYTES_MAX, ManifestFile, PACKAGE_BYTES_MAX, PACKAGE_FILES_MAX, PACKAGE_MAGIC, UpdateManifest, checkVersion } from './update';

/** How a native addon in the image was obtained. */
export interface ImageAddon {
  /** The npm package holding the addon (e.g. "lmdb", "i2c-bus"). */
  readonly name: string;
  readonly version: string;
  /** The .node files of this addon in the image, slot-relative. */
  readonly files: readonly string[];
  /** "prebuilt": shipped by its package (or its platform package); "compiled": built for this image. */
  readonly obtained: 'prebuilt' | 'compiled';
  /** Where the prebuilt came from, or the compiler, node-gyp and headers used. */
  readonly from: string;
}

/** The image's own description: the `image` field of the manifest (boot/UPDATE_FORMAT.md). */
export interface ImageInfo {
  readonly format: 1;
  /** Node's name for the CPU: "x64" or "arm64". */
  readonly arch: 'x64' | 'arm64';
  /** The git commit the runtime was built from. */
  readonly commit: string;
  readonly runtime: { readonly name: string; readonly version: string };
  /** The node the slot runs, at node/bin/node: its npm package and that package's integrity. */
  readonly node: { readonly version: string; readonly package: string; readonly integrity: string; readonly moduleAbi: number };
  readonly addons: readonly ImageAddon[];
  /** Whether the simulator (all of sim/, the bench-rig board file) is in the image in full. */
  readonly withSim: boolean;
  /** What the image expects underneath it. */
  readonly baseOs: string;
}

export interface ImageManifest extends UpdateManifest {
  readonly image: ImageInfo;
}

export interface PackOptions {
  readonly version: string;
  readonly board: string;
  /** From the commit (git log -1 --format=%cI), never the clock: the same commit, the same bytes. */
  readonly createdAt: Date;
  readonly image: ImageInfo;
}

/** Executable by anyone when the owner may execute it; everything else is plain data. */
export function normalisedMode(statMode: number): number {
  return (statMode & 0o100) !== 0 ? 0o755 : 0o644;
}

/** Compares UTF-8 byte strings, so the order never depends on the machine's locale. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Every regular file under `dir`, '/'-separated, in byte order. A symlink or any other special
 * file is refused: the update format has only regular files, and a silently dropped link (a
 * node_modules/.bin entry) would be a file missing on the terminal.
 */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const p = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, p));
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
      else throw new PosError('OPR_INPUT', `${join(dir, p)}: not a regular file or folder (symlinks cannot go into an image): remove it from the staging tree`);
    }
  };
  walk('');
  return out.sort(byteOrder);
}

/** Builds the signed image from every file under `dir`. */
export function packImage(dir: string, privateKeyPem: string, o: PackOptions): { bytes: Buffer; manifest: ImageManifest } {
  checkVersion(o.version);
  const paths = listTree(dir);
  if (paths.length === 0 || paths.length > PACKAGE_FILES_MAX) throw new PosError('OPR_INPUT', `${dir}: ${paths.length} files (1..${PACKAGE_FILES_MAX} allowed in a package)`);
  const contents = paths.map((p) => readFileSync(join(dir, p)));
  const files: ManifestFile[] = paths.map((p, i) => ({
    path: p, size: contents[i].length, sha256: createHash('sha256').update(contents[i]).digest('hex'), mode: normalisedMode(lstatSync(join(dir, p)).mode),
  }));
  const manifest: ImageManifest = { format: 1, version: o.version, board: o.board, createdAt: o.createdAt.toISOString(), files, image: o.image };
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  // A terminal refuses a larger manifest before reading it (E-UPD-03): say so here, at the vendor.
  if (manifestBytes.length > MANIFEST_BYTES_MAX) {
    throw new PosError('OPR_INPUT', `image manifest is ${manifestBytes.length} bytes, terminals accept at most ${MANIFEST_BYTES_MAX}: ${paths.length} files is too many (prune the staging tree)`);
  }
  const payloadBytes = contents.reduce((n, c) => n + c.length, 0);
  if (payloadBytes > PACKAGE_BYTES_MAX) throw new PosError('OPR_INPUT', `image payload is ${payloadBytes} bytes, terminals accept at most ${PACKAGE_BYTES_MAX}`);
  // Ed25519 signatures are deterministic: the same manifest and key give the same 64 bytes.
  const signature = sign(null, manifestBytes, createPrivateKey(privateKeyPem));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(manifestBytes.length);
  return { bytes: Buffer.concat([PACKAGE_MAGIC, len, manifestBytes, signature, ...contents]), manifest };
}

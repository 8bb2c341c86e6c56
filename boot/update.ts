/**
 * Signed software update packages (boot/UPDATE_FORMAT.md) and their installation into the
 * inactive A/B slot (boot/update-slots.ts holds the slot invariants).
 *
 *   vendor:   buildPackage(dir, privateKeyPem, { version, board }) -> file
 *   terminal: applyUpdate({ root, file, publicKeyHex, board })   -> slot pending
 *             next boot: selectBootSlot -> trial boot -> health check -> confirmSlot
 *             (a failed or unconfirmed trial boot is rolled back by selectBootSlot)
 *
 * Checks before a byte is written to a slot, in order: size, magic, lengths (E-UPD-03),
 * Ed25519 signature over the manifest bytes (E-UPD-01), manifest fields and paths (E-UPD-03),
 * board (E-UPD-05), version newer than the running one unless an administrator forces it
 * (E-UPD-02, E-OPR-04), payload length and each file's SHA-256 (E-UPD-03).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync, existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { PosError } from '../common/errors';
import { Session, requirePermission } from '../runtime/operators';
import {
  SlotName, SlotState, cleanLeftovers, otherSlot, readState, slotDir, writeFileAtomic, writeState,
  compareVersions,
} from './update-slots';
import { fsyncDir } from '../common/fsync';

/** This module's file: the flashing station keys its kept image on the code that installs a slot (boot/flash/golden-cache.ts). */
export const UPDATE_SOURCE_FILE = __filename;
export const PACKAGE_MAGIC = Buffer.from('POSUPD01', 'ascii');
export const SIGNATURE_BYTES = 64;
export const MANIFEST_BYTES_MAX = 256 * 1024;
/** Far above a runtime build (a few MiB); refuses a wrong file before reading it. */
export const PACKAGE_BYTES_MAX = 256 * 1024 * 1024;
export const PACKAGE_FILES_MAX = 20_000;
const HEADER_BYTES = PACKAGE_MAGIC.length + 4;
/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const VERSION_PATTERN = /^(\d{1,6})\.(\d{1,6})\.(\d{1,6})$/;

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Unix permission bits (0o755 for an executable). */
  readonly mode: number;
}

export interface UpdateManifest {
  readonly format: 1;
  readonly version: string;
  readonly board: string;
  readonly createdAt: string;
  readonly files: readonly ManifestFile[];
}

export interface ParsedPackage {
  readonly manifest: UpdateManifest;
  readonly manifestBytes: Buffer;
  readonly signature: Buffer;
  /** File contents, in manifest order. */
  readonly contents: readonly Buffer[];
}

// ---------------------------------------------------------------- keys

/** A new vendor key pair: the private key (PEM) stays with the vendor; the public hex goes in board files. */
export function generateUpdateKeys(): { privateKeyPem: string; publicKeyHex: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKeyHex: rawPublicKey(publicKey).toString('hex') };
}

export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

export function publicKeyFromHex(hex: string): KeyObject {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new PosError('UPD_SIGNATURE', 'update public key must be 64 hex digits (a raw Ed25519 key)');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

// ---------------------------------------------------------------- build (vendor side)

export interface BuildOptions {
  readonly version: string;
  readonly board: string;
  readonly createdAt?: Date;
}

/** Lists regular files under `dir` (sorted, so the same tree gives the same package). */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out;
}

/** Builds a signed package from every regular file under `dir`. */
export function buildPackage(dir: string, privateKeyPem: string, o: BuildOptions): Buffer {
  checkVersion(o.version);
  const paths = listFiles(dir);
  if (paths.length === 0 || paths.length > PACKAGE_FILES_MAX) throw new PosError('OPR_INPUT', `${dir}: ${paths.length} files (1..${PACKAGE_FILES_MAX} allowed)`);
  const contents = paths.map((p) => readFileSync(join(dir, p)));
  const files: ManifestFile[] = paths.map((p, i) => ({
    path: p, size: contents[i].length, sha256: createHash('sha256').update(contents[i]).digest('hex'), mode: statSync(join(dir, p)).mode & 0o777,
  }));
  const manifest: UpdateManifest = { format: 1, version: o.version, board: o.board, createdAt: (o.createdAt ?? new Date()).toISOString(), files };
  const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const signature = sign(null, manifestBytes, createPrivateKey(privateKeyPem));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(manifestBytes.length);
  return Buffer.concat([PACKAGE_MAGIC, len, manifestBytes, signature, ...contents]);
}

// ---------------------------------------------------------------- parse and verify (terminal side)

function corrupt(reason: string): never {
  throw new PosError('UPD_CORRUPT', `update package damaged: ${reason}`);
}

/** Whether `v` is a version as packages carry it (MAJOR.MINOR.PATCH). */
export function isVersion(v: string): boolean {
  return VERSION_PATTERN.test(v);
}

export function checkVersion(v: string): void {
  if (!isVersion(v)) throw new PosError('UPD_CORRUPT', `version "${v}" is not MAJOR.MINOR.PATCH`);
}

/** -1, 0, 1 as a < b, a = b, a > b (MAJOR.MINOR.PATCH): boot/update-slots.ts, which the selector needs without this module. */
export { compareVersions };

/** A path inside the slot: relative, no "..", no empty or hidden-control parts. */
function safePath(p: string): boolean {
  if (typeof p !== 'string' || p.length === 0 || p.length > 512 || p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  if (p === 'manifest.json' || p === 'manifest.sig') return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function checkManifest(m: UpdateManifest): void {
  if (m.format !== 1 || typeof m.board !== 'string' || typeof m.createdAt !== 'string' || !Array.isArray(m.files)) corrupt('manifest fields missing');
  checkVersion(m.version);
  if (m.files.length === 0 || m.files.length > PACKAGE_FILES_MAX) corrupt(`${m.files.length} files`);
  const seen = new Set<string>();
  for (const f of m.files) {
    if (!safePath(f.path) || seen.has(f.path)) corrupt(`file path ${JSON.stringify(f.path)} not allowed`);
    seen.add(f.path);
    if (!Number.isSafeInteger(f.size) || f.size < 0 || !/^[0-9a-f]{64}$/.test(f.sha256) || !Number.isInteger(f.mode)) corrupt(`entry ${f.path}`);
  }
}

/**
 * Parses a package and verifies everything: the signature BEFORE the manifest is parsed (an
 * unsigned manifest is never interpreted), then every file's length and SHA-256.
 */
export function parsePackage(bytes: Buffer, publicKey: KeyObject): ParsedPackage {
  if (bytes.length > PACKAGE_BYTES_MAX) corrupt(`${bytes.length} bytes is larger than ${PACKAGE_BYTES_MAX}`);
  if (bytes.length < HEADER_BYTES + SIGNATURE_BYTES || !bytes.subarray(0, PACKAGE_MAGIC.length).equals(PACKAGE_MAGIC)) corrupt('not an update package (bad magic or too short)');
  const manifestLength = bytes.readUInt32BE(PACKAGE_MAGIC.length);
  if (manifestLength > MANIFEST_BYTES_MAX || HEADER_BYTES + manifestLength + SIGNATURE_BYTES > bytes.length) corrupt('truncated (manifest or signature cut)');
  const manifestBytes = bytes.subarray(HEADER_BYTES, HEADER_BYTES + manifestLength);
  const signature = bytes.subarray(HEADER_BYTES + manifestLength, HEADER_BYTES + manifestLength + SIGNATURE_BYTES);
  if (!verify(null, manifestBytes, publicKey, signature)) throw new PosError('UPD_SIGNATURE', 'update signature does not verify against this board\'s public key');
  let manifest: UpdateManifest;
  try { manifest = JSON.parse(manifestBytes.toString('utf8')) as UpdateManifest; } catch { return corrupt('manifest is not JSON'); }
  checkManifest(manifest);
  const payload = bytes.subarray(HEADER_BYTES + manifestLength + SIGNATURE_BYTES);
  const expected = manifest.files.reduce((n, f) => n + f.size, 0);
  if (payload.length !== expected) corrupt(`payload is ${payload.length} bytes, manifest says ${expected} (truncated or padded)`);
  const contents: Buffer[] = [];
  let at = 0;
  for (const f of manifest.files) {
    const data = payload.subarray(at, at + f.size);
    if (createHash('sha256').update(data).digest('hex') !== f.sha256) corrupt(`${f.path}: SHA-256 differs from the manifest`);
    contents.push(data);
    at += f.size;
  }
  return { manifest, manifestBytes: Buffer.from(manifestBytes), signature: Buffer.from(signature), contents };
}

// ---------------------------------------------------------------- apply

export type ApplyStep = 'verified' | 'pending-cleared' | 'file-written' | 'staged' | 'old-set-aside' | 'slot-in-place' | 'old-removed' | 'state-written';

export interface ApplyOptions {
  readonly root: string;
  /** The package file (USB stick or a path). */
  readonly file: string;
  /** The board's provisioning key (board file `update.publicKey`). */
  readonly publicKeyHex: string;
  /** The board this terminal is (board file `board`). */
  readonly board: string;
  /** Install an older or equal version: an administrator's session is required. */
  readonly force?: Session;
  readonly clock?: () => number;
  /** Called after each durable step (the SIGKILL test kills the process here). */
  readonly onStep?: (step: ApplyStep, detail?: string) => void;
}

export interface ApplyReport {
  readonly version: string;
  readonly previousVersion: string | undefined;
  readonly slot: SlotName;
  readonly forced: boolean;
  readonly files: number;
  readonly bytes: number;
}

function writeFileDurably(file: string, data: Buffer, mode: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'w', mode);
  try { writeSync(fd, data); fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Verifies a package and installs it into the inactive slot, then marks that slot pending. The
 * active slot is never written (I1); see update-slots.ts for why each step is power-cut safe.
 */
export function applyUpdate(o: ApplyOptions): ApplyReport {
  const step = o.onStep ?? ((): void => undefined);
  const clock = o.clock ?? Date.now;
  cleanLeftovers(o.root);
  const state = readState(o.root);
  const bytes = readPackageFile(o.file);
  const pkg = parsePackage(bytes, publicKeyFromHex(o.publicKeyHex));
  const running = state.versions[state.active];
  checkTarget(pkg.manifest, o.board, running, o.force);
  step('verified');
  // I2: a pending mark must never point at a slot being rewritten.
  let s: SlotState = state;
  if (s.pending) {
    s = { format: 1, active: s.active, tries: 0, versions: s.versions, last: s.last };
    writeState(o.root, s);
    step('pending-cleared');
  }
  const target = otherSlot(s.active);
  const staging = join(o.root, `.staging-${target}`);
  mkdirSync(staging, { recursive: true });
  pkg.manifest.files.forEach((f, i) => {
    writeFileDurably(join(staging, f.path), pkg.contents[i], f.mode);
    step('file-written', f.path);
  });
  writeFileDurably(join(staging, 'manifest.json'), pkg.manifestBytes, 0o644);
  writeFileDurably(join(staging, 'manifest.sig'), pkg.signature, 0o644);
  fsyncTree(staging);
  step('staged');
  const dir = slotDir(o.root, target);
  const aside = join(o.root, `.old-${target}`);
  if (existsSync(dir)) { renameSync(dir, aside); fsyncDir(o.root); step('old-set-aside'); }
  renameSync(staging, dir);
  fsyncDir(o.root);
  step('slot-in-place');
  rmSync(aside, { recursive: true, force: true });
  step('old-removed');
  writeState(o.root, {
    format: 1, active: s.active, pending: target, tries: 0, versions: { ...s.versions, [target]: pkg.manifest.version },
    last: { result: 'installed', version: pkg.manifest.version, atMs: clock() },
  });
  step('state-written');
  return { version: pkg.manifest.version, previousVersion: running, slot: target, forced: o.force !== undefined, files: pkg.manifest.files.length, bytes: bytes.length };
}

function readPackageFile(file: string): Buffer {
  let size: number;
  try { size = statSync(file).size; } catch (e) {
    throw new PosError('STO_EXPORT_TARGET', `${file}: cannot read the package (${(e as NodeJS.ErrnoException).code ?? String(e)}): insert the USB stick`, { file });
  }
  if (size > PACKAGE_BYTES_MAX) corrupt(`${size} bytes is larger than ${PACKAGE_BYTES_MAX}`);
  return readFileSync(file);
}

function checkTarget(m: UpdateManifest, board: string, running: string | undefined, force: Session | undefined): void {
  if (m.board !== board) throw new PosError('UPD_BOARD', `package is for board "${m.board}", this terminal is "${board}"`, { board: m.board });
  if (running === undefined || compareVersions(m.version, running) > 0) return;
  if (!force) throw new PosError('UPD_VERSION', `package version ${m.version} is not newer than the running ${running}`, { version: m.version, running });
  requirePermission(force, 'recovery');
}

/** fsyncs every directory under `dir` (new entries are durable only when their directory is). */
function fsyncTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) fsyncTree(join(dir, e.name));
  fsyncDir(dir);
}

// ---------------------------------------------------------------- status

export interface UpdateStatus {
  readonly active: SlotName;
  readonly runningVersion: string | undefined;
  readonly pending?: { readonly slot: SlotName; readonly version: string | undefined; readonly tries: number };
  readonly last?: SlotState['last'];
}

export function updateStatus(root: string): UpdateStatus {
  const s = readState(root);
  return {
    active: s.active, runningVersion: s.versions[s.active],
    ...(s.pending ? { pending: { slot: s.pending, version: s.versions[s.pending], tries: s.tries } } : {}),
    ...(s.last ? { last: s.last } : {}),
  };
}

/** The boot-time report an LCD shows when the last update was rolled back (E-UPD-04). */
export function rolledBackError(root: string): PosError | undefined {
  const last = readState(root).last;
  if (last?.result !== 'rolled-back') return undefined;
  return new PosError('UPD_ROLLED_BACK', `update to ${last.version} rolled back: ${last.reason ?? 'first boot failed'}`, { version: last.version });
}

export { writeFileAtomic };

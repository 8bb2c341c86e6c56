/**
 * What the flashing station's tests share (tests/boot/factory-flash.test.ts on image files,
 * tests/boot/factory-flash-blockdev.test.ts on loop devices): a small signed release package and
 * a stand-in base OS, a manifest of serials, `pos factory flash` as its own process (killed at a
 * hold point or when its output says so), and checks of a flashed target read with debugfs.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildPackage, generateUpdateKeys } from '../../boot/update';
import { kcvOf } from '../../boot/factory';
import { partitionLayout } from '../../boot/flash/disk-image';
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { slotProblem } from '../../boot/update-slots';
import { nodeArgsFor } from '../../common/spawn';

export const REPO = join(__dirname, '..', '..');
export const SIZES = { rootMiB: 8, posMiB: 8, dataMiB: 8 };
export const BOARD = 'qemu-x86';
/** One flash of these small targets takes about a second; a child that takes this long is stuck. */
const CHILD_MS_MAX = 120_000;

export interface Fixture { dir: string; image: string; rootfs: string; publicKeyHex: string; privateKeyPem: string }

export function component(): string {
  const key = randomBytes(16);
  return `${key.toString('hex').toUpperCase()}/${kcvOf(key)}`;
}

/** A release package with the files the flash needs (the unit, a slot tree) and a base OS with etc/passwd. */
export function fixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'pos-flash-'));
  return { dir, ...standInRelease(dir, (tree) => writeFileSync(join(tree, 'payload.bin'), randomBytes(3 * 1024 * 1024))) };
}

/**
 * In `dir`: a release package signed by a new key (a stand-in runtime, the real unit, and what
 * `payload` writes into the tree) and a base OS with etc/passwd and etc/group (also
 * bench/flash.bench.ts's inputs).
 */
export function standInRelease(dir: string, payload: (tree: string) => void): Omit<Fixture, 'dir'> {
  const tree = join(dir, 'release');
  for (const d of ['dist/boot', 'systemd', 'node/bin']) mkdirSync(join(tree, d), { recursive: true });
  writeFileSync(join(tree, 'dist', 'boot', 'pos.js'), '// stand-in for the runtime\n');
  copyFileSync(join(REPO, 'boot', 'pos-terminal.service'), join(tree, 'systemd', 'pos-terminal.service'));
  writeFileSync(join(tree, 'node', 'bin', 'node'), '#!/bin/sh\n');
  chmodSync(join(tree, 'node', 'bin', 'node'), 0o755);
  payload(tree);
  const keys = generateUpdateKeys();
  const image = join(dir, 'pos-1.0.0.posupd');
  writeFileSync(image, buildPackage(tree, keys.privateKeyPem, { version: '1.0.0', board: BOARD, createdAt: new Date(0) }));
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'etc', 'systemd', 'system'), { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\ndialout:x:20:\n');
  return { image, rootfs, publicKeyHex: keys.publicKeyHex, privateKeyPem: keys.privateKeyPem };
}

export function manifestFile(dir: string, serials: readonly string[]): string {
  const file = join(dir, `manifest-${serials.join('-')}.csv`);
  writeFileSync(file, ['serial,tid,mid,components', ...serials.map((s, i) => `${s},FL${String(i + 1).padStart(6, '0')},8981234567${String(i + 1).padStart(5, '0')},${component()};${component()}`)].join('\n') + '\n');
  return file;
}

/** Where a partition of the test layout starts: the offset into the whole target (0 for a partition's own device node). */
export function partOffset(label: 'posroot' | 'pos' | 'posdata'): number {
  return partitionLayout(SIZES).parts.find((p) => p.label === label)!.startBytes;
}

/** `path` of the ext4 file system at `offset` of `target` dumped into `into` with debugfs (no mount). */
export function dumpFs(target: string, offset: number, path: string, into: string): void {
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  execFileSync('debugfs', ['-R', `rdump ${path} ${into}`, `${target}?offset=${offset}`], { stdio: 'ignore' });
}

/** The target's data partition: the journal's identity (dumped with debugfs, opened read-only). */
export async function journalSerial(target: string, into: string, offset = partOffset('posdata')): Promise<string | undefined> {
  dumpFs(target, offset, '/', into);
  assert.ok(existsSync(join(into, 'device.key')), 'the device key is on the data partition');
  assert.ok(existsSync(join(into, 'service-admin.json')), 'the service administrator is on the data partition');
  const j = await Journal.open({ dir: join(into, 'journal'), readOnly: true });
  try {
    for (const r of j.records()) if (r.type === RecordType.terminalIdentity) return String(r.payload.serial);
    return undefined;
  } finally {
    await j.close();
  }
}

/** The `operator` records of the target's journal (data partition dumped with debugfs). */
export async function journalOperators(target: string, into: string): Promise<Array<Record<string, unknown>>> {
  dumpFs(target, partOffset('posdata'), '/', into);
  const j = await Journal.open({ dir: join(into, 'journal'), readOnly: true });
  try {
    return [...j.records()].filter((r) => r.type === RecordType.operator).map((r) => r.payload);
  } finally {
    await j.close();
  }
}

/** Every file under `dir` (reports, labels, the registry, staging) as text, to look for a secret. */
export function everyFileText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => readFileSync(join(e.parentPath ?? e.path, e.name)).toString('latin1')).join('\n');
}

/** Slot A dumped off a target and checked against the manifest it carries (boot/update-slots.ts). */
export function slotAProblem(target: string, into: string, offset = partOffset('pos')): string | undefined {
  dumpFs(target, offset, '/slotA', into);
  return slotProblem(join(into, 'slotA'));
}

/**
 * `pos` from dist/ (compiled by npm test), or the sources under ts-node when dist/ is older than a
 * source (common/spawn.ts nodeArgsFor): a start under ts-node is seconds of a core.
 */
function posCommand(): string[] {
  return nodeArgsFor(join(REPO, 'boot', 'pos'));
}

/**
 * Runs `pos factory flash` as its own process; SIGKILL at a HOLD line, or once `killWhen`
 * accepts the output so far.
 */
export function station(args: readonly string[], holdAt?: string, killWhen?: (out: string) => boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...posCommand(), 'factory', 'flash', ...args], {
      env: { ...process.env, ...(holdAt ? { POS_FLASH_TEST_HOLD_AT: holdAt } : {}) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`station still running after ${CHILD_MS_MAX} ms:\n${out}`)); }, CHILD_MS_MAX);
    const take = (c: Buffer): void => {
      out += c.toString('utf8');
      // The station stops at the hold point and waits: the kill lands exactly there.
      if ((holdAt && /^HOLD /m.test(out)) || killWhen?.(out)) child.kill('SIGKILL');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out }); });
  });
}

/**
 * Loop devices over sparse files for the station's block-device tests: attach() one, detachAll()
 * in an `after` hook (always, even after a failure). Needs root and losetup.
 */
export class LoopDevices {
  private readonly attached: string[] = [];

  /** A loop device over `file`, made sparse at `sizeMiB` first. */
  attach(file: string, sizeMiB: number): string {
    writeFileSync(file, '');
    execFileSync('truncate', ['-s', `${sizeMiB}M`, file]);
    const dev = execFileSync('losetup', ['--show', '-f', file], { encoding: 'utf8' }).trim();
    this.attached.push(dev);
    return dev;
  }

  detach(dev: string): void {
    execFileSync('losetup', ['-d', dev]);
    this.attached.splice(this.attached.indexOf(dev), 1);
  }

  /** Detaches every device still attached; says which could not be (it stays attached). */
  detachAll(): void {
    for (const dev of this.attached.splice(0)) {
      const r = spawnSync('losetup', ['-d', dev], { encoding: 'utf8' });
      if (r.status !== 0) process.stderr.write(`      could not detach ${dev}: ${r.stderr}\n`);
    }
  }
}


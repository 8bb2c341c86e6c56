/**
 * The device key sealed by a TPM 2.0 (issue 15 item 6): whoever copies the data partition gets
 * the sealed blob, which only the TPM that sealed it can open.
 *
 * Provisioning: 32 random bytes (node's CSPRNG XOR the TPM's RNG, so a weak source alone does not
 * make a weak key) are sealed as a keyedhash data object under a primary key in the owner
 * hierarchy, ECC P-256, created from the TPM's owner seed with a fixed template; the sealed
 * object's public and private parts go into one file beside the journal (`device-key.tpm`,
 * written with writeKeyFileDurably: a power cut leaves the whole file or none), then the file is
 * unsealed once to prove it opens. The private part is encrypted by the TPM under the primary
 * key, which never leaves the chip: the file is useless on another TPM.
 *
 * Boot: the primary key is derived again (same seed, same template: the same key), the sealed
 * object loaded under it and unsealed; the key is kept in memory for the life of the process
 * (one unseal per boot). No PCR policy: see README "The device key" for why (a firmware or kernel
 * update would otherwise lock the terminal out of its own data until someone re-seals it).
 *
 * The TPM is reached through Debian's tpm2-tools (tpm2_createprimary, tpm2_create, tpm2_load,
 * tpm2_unseal) with the TCTI the board file names. The key goes to tpm2_create on its stdin and
 * comes back from tpm2_unseal on its stdout, both pipes: never in argv (ps shows it), a file or a
 * log. The tools' temporary files hold only TPM object contexts (encrypted by the TPM, valid until
 * the TPM resets), in a private folder removed afterwards.
 *
 * Sealed file: magic "POSTPM1\0" (8) | version (1, = 1) | public length (2, big-endian) | public
 * (TPM2B_PUBLIC as tpm2-tools writes it) | private length (2) | private (TPM2B_PRIVATE) |
 * SHA-256 of everything before (32). The digest tells a damaged file (E-KEY-08) from a file the
 * TPM refuses (E-KEY-07: another TPM, or this one cleared since).
 */
// node:child_process on first use: the terminal's start does not load it (common/lazy.ts).
import { childProcess } from '../common/lazy';
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PosError, isPosError } from '../common/errors';
import { silentLogger } from '../common/log';
import { DEVICE_KEY_BYTES, DeviceKeyProvider, RandomBytes, writeKeyFileDurably } from './device-key';

/** The sealed key's file name, beside the journal folder (where device.key is for the file provider). */
export const TPM_SEALED_FILE = 'device-key.tpm';
const MAGIC = Buffer.from('POSTPM1\0', 'latin1');
const VERSION = 1;
const DIGEST_BYTES = 32;
/** A sealed data object's TPM2B_PUBLIC / TPM2B_PRIVATE are a few hundred bytes; anything larger is not one. */
const BLOB_PART_BYTES_MAX = 2048;
/** One tpm2-tools command; a TPM that has not answered by then is unreachable. */
export const TPM_TOOL_TIMEOUT_MS_DEFAULT = 10_000;
/** The primary key's template: fixed, so the same TPM derives the same key at every boot. */
const PRIMARY_ARGS = ['-C', 'o', '-g', 'sha256', '-G', 'ecc'] as const;
/** The TPM's stderr kept in an error message (the tools print a few lines; the last say why). */
const STDERR_CHARS_MAX = 600;

export interface TpmDeviceKeyOptions {
  /** tpm2-tools' TCTI: "device:/dev/tpmrm0" on a board, "swtpm:host=127.0.0.1,port=N" in tests. */
  readonly tcti: string;
  /** The sealed key's file (`<beside the journal>/device-key.tpm`). */
  readonly sealedFile: string;
  /** Seal a new key when the file is absent (factory provisioning, simulator boards); else E-KEY-06. */
  readonly create: boolean;
  readonly random?: RandomBytes;
  readonly logger?: Logger;
  readonly toolTimeoutMs?: number;
  /** Where the tools' private folders are made (default: the OS's temp folder). */
  readonly scratchDir?: string;
}

export interface TpmDeviceKeyProvider extends DeviceKeyProvider {
  /** Where the key comes from, for messages (never the key). */
  readonly source: string;
  /** How long the last unseal (or seal and check) took, in ms; undefined before the first. */
  readonly lastUnsealMs: () => number | undefined;
}

export function tpmDeviceKey(o: TpmDeviceKeyOptions): TpmDeviceKeyProvider {
  const log = o.logger ?? silentLogger;
  const source = `TPM 2.0 (${o.tcti}), sealed key ${o.sealedFile}`;
  let key: Buffer | undefined;
  let lastMs: number | undefined;
  return {
    source,
    lastUnsealMs: () => lastMs,
    deviceKey(): Buffer {
      if (key) return key;
      const started = process.hrtime.bigint();
      const tools = new TpmTools(o.tcti, o.toolTimeoutMs ?? TPM_TOOL_TIMEOUT_MS_DEFAULT, o.scratchDir ?? tmpdir());
      if (!existsSync(o.sealedFile)) {
        if (!o.create) throw notProvisioned(o.sealedFile);
        sealNew(tools, o.sealedFile, o.random ?? cryptoRandomBytes);
        log.info({ file: o.sealedFile, tcti: o.tcti }, 'device key: a new key sealed by the TPM');
      }
      const unsealed = tools.unseal(parseSealed(readSealed(o.sealedFile), o.sealedFile), o.sealedFile);
      lastMs = Number(process.hrtime.bigint() - started) / 1e6;
      log.info({ ms: Math.round(lastMs), tcti: o.tcti }, 'device key: unsealed by the TPM');
      key = unsealed;
      return key;
    },
  };
}

/** Seals a fresh key and writes the file (first writer wins: a concurrent provisioning's file is kept). */
function sealNew(tools: TpmTools, file: string, random: RandomBytes): void {
  const mine = random(DEVICE_KEY_BYTES);
  const tpms = tools.random(DEVICE_KEY_BYTES);
  const fresh = Buffer.alloc(DEVICE_KEY_BYTES);
  for (let i = 0; i < DEVICE_KEY_BYTES; i++) fresh[i] = mine[i] ^ tpms[i];
  mine.fill(0);
  tpms.fill(0);
  try {
    writeKeyFileDurably(file, formatSealed(tools.seal(fresh)), { mode: 0o600, replace: false });
  } finally {
    fresh.fill(0);
  }
}

export function formatSealed(parts: { pub: Buffer; priv: Buffer }): Buffer {
  const len = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
  const body = Buffer.concat([MAGIC, Buffer.from([VERSION]), len(parts.pub.length), parts.pub, len(parts.priv.length), parts.priv]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function readSealed(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notProvisioned(file);
    throw new PosError('KEY_SEALED_DAMAGED', `cannot read the sealed device key ${file}: ${String(e)}`, { file });
  }
}

/** The file's two parts, or E-KEY-08 naming what is wrong with it. */
export function parseSealed(b: Buffer, file: string): { pub: Buffer; priv: Buffer } {
  const damaged = (what: string): PosError => new PosError('KEY_SEALED_DAMAGED', `sealed device key ${file} is damaged (${what}): restore it from the terminal's backup of its data partition; do not provision again (a new key opens nothing already sealed)`, { file, what });
  const header = MAGIC.length + 1;
  if (b.length < header + 2 + 2 + DIGEST_BYTES) throw damaged(`${b.length} bytes, too short`);
  if (!b.subarray(0, MAGIC.length).equals(MAGIC)) throw damaged('not a sealed device key file');
  if (b[MAGIC.length] !== VERSION) throw damaged(`version ${b[MAGIC.length]}, this software reads ${VERSION}`);
  const body = b.subarray(0, b.length - DIGEST_BYTES);
  if (!createHash('sha256').update(body).digest().equals(b.subarray(b.length - DIGEST_BYTES))) throw damaged('its checksum does not match: truncated or altered');
  const pubLen = b.readUInt16BE(header);
  const privAt = header + 2 + pubLen;
  if (pubLen === 0 || pubLen > BLOB_PART_BYTES_MAX || privAt + 2 > body.length) throw damaged('public part out of bounds');
  const privLen = b.readUInt16BE(privAt);
  if (privLen === 0 || privLen > BLOB_PART_BYTES_MAX || privAt + 2 + privLen !== body.length) throw damaged('private part out of bounds');
  return { pub: Buffer.from(b.subarray(header + 2, privAt)), priv: Buffer.from(b.subarray(privAt + 2, privAt + 2 + privLen)) };
}

function notProvisioned(file: string): PosError {
  return new PosError('KEY_NOT_PROVISIONED', `no sealed device key at ${file}: this terminal's TPM key was never provisioned, or the data partition lost the file. Restore the data partition from its backup; only a terminal without any journal is provisioned again at the factory station`, { file });
}

/** A tool that failed: what ran, how it ended and what it printed. */
interface ToolFailure {
  readonly tool: string;
  readonly spawnCode?: string;
  readonly timedOut: boolean;
  readonly stderr: string;
}

/** tpm2-tools over one TCTI; each call one process, in a private folder for the object contexts. */
class TpmTools {
  constructor(private readonly tcti: string, private readonly timeoutMs: number, private readonly scratchDir: string) {}

  random(count: number): Buffer {
    const b = this.run('tpm2_getrandom', [String(count)], 'read the TPM\'s random number generator');
    if (b.length !== count) throw new PosError('KEY_TPM_REFUSED', `tpm2_getrandom returned ${b.length} bytes, asked for ${count}`, { tcti: this.tcti });
    return b;
  }

  /** Seals `secret` (given on stdin) under the primary key; returns the sealed object's parts. */
  seal(secret: Buffer): { pub: Buffer; priv: Buffer } {
    return this.inSession((dir) => {
      this.run('tpm2_create', ['-C', join(dir, 'primary.ctx'), '-i', '-', '-u', join(dir, 'seal.pub'), '-r', join(dir, 'seal.priv'), '-Q'], 'seal the device key', secret);
      return { pub: readFileSync(join(dir, 'seal.pub')), priv: readFileSync(join(dir, 'seal.priv')) };
    });
  }

  unseal(parts: { pub: Buffer; priv: Buffer }, file: string): Buffer {
    return this.inSession((dir) => {
      writeFileSync(join(dir, 'seal.pub'), parts.pub, { mode: 0o600 });
      writeFileSync(join(dir, 'seal.priv'), parts.priv, { mode: 0o600 });
      try {
        this.run('tpm2_load', ['-C', join(dir, 'primary.ctx'), '-u', join(dir, 'seal.pub'), '-r', join(dir, 'seal.priv'), '-c', join(dir, 'seal.ctx'), '-Q'], 'load the sealed device key');
      } catch (e) {
        if (!isPosError(e) || e.id !== 'KEY_TPM_REFUSED') throw e;
        throw new PosError('KEY_TPM_REFUSED', `this TPM refuses the sealed device key ${file}: it was sealed by another TPM (the data partition comes from another terminal) or this TPM was cleared since provisioning. Put the data back in its own terminal; nothing was changed. ${String(e.detail.stderr ?? '')}`.trim(), { file, tcti: this.tcti, stderr: e.detail.stderr });
      }
      const key = this.run('tpm2_unseal', ['-c', join(dir, 'seal.ctx')], 'unseal the device key');
      if (key.length !== DEVICE_KEY_BYTES) {
        key.fill(0);
        throw new PosError('KEY_SEALED_DAMAGED', `the TPM unsealed ${key.length} bytes from ${file}, a device key is ${DEVICE_KEY_BYTES}: not a device key file`, { file });
      }
      return key;
    });
  }

  /** A private folder, the primary key derived in it, `work` run, and the TPM's transient objects flushed. */
  private inSession<T>(work: (dir: string) => T): T {
    const dir = mkdtempSync(join(this.scratchDir, 'pos-tpm-'));
    try {
      this.flushTransient();
      this.run('tpm2_createprimary', [...PRIMARY_ARGS, '-c', join(dir, 'primary.ctx'), '-Q'], 'create the primary key in the owner hierarchy');
      // Its saved context is all the next tool needs; loaded, it would take one of three slots.
      this.flushTransient();
      return work(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // A TPM that stopped answering mid-way was already reported by the step that failed.
      try { this.flushTransient(); } catch { /* reported above */ }
    }
  }

  /**
   * Without the kernel's resource manager (swtpm, /dev/tpm0) objects stay loaded after a tool
   * exits and the TPM has room for three (tpm2_load then tpm2_unseal after tpm2_createprimary
   * would need four: TPM_RC_OBJECT_MEMORY): flush them. Under /dev/tpmrm0 each process's objects
   * are flushed when it closes the device, so nothing is left to flush.
   */
  private flushTransient(): void {
    if (this.tcti.startsWith('device:/dev/tpmrm')) return;
    try { this.run('tpm2_flushcontext', ['-t'], 'flush transient objects'); } catch (e) {
      if (isPosError(e) && e.id === 'KEY_TPM_UNREACHABLE') throw e;
      // Nothing loaded is not a failure worth stopping a boot for.
    }
  }

  /** Runs one tool; stdout is returned (binary), stdin is `input` (a pipe) if given. */
  private run(tool: string, args: string[], what: string, input?: Buffer): Buffer {
    try {
      return childProcess().execFileSync(tool, args, {
        env: { ...process.env, TPM2TOOLS_TCTI: this.tcti }, timeout: this.timeoutMs, maxBuffer: BLOB_PART_BYTES_MAX * 4,
        stdio: ['pipe', 'pipe', 'pipe'], ...(input ? { input } : {}),
      });
    } catch (e) {
      throw this.classify({ tool, what }, failureOf(tool, e));
    }
  }

  private classify(step: { tool: string; what: string }, f: ToolFailure): PosError {
    const stderr = f.stderr.length > STDERR_CHARS_MAX ? f.stderr.slice(-STDERR_CHARS_MAX) : f.stderr;
    const detail = { tcti: this.tcti, tool: step.tool, stderr };
    if (f.spawnCode === 'ENOENT') {
      return new PosError('KEY_TPM_UNREACHABLE', `${step.tool} not found: install Debian's tpm2-tools on the terminal (apt-get install tpm2-tools), needed to ${step.what}`, detail);
    }
    if (f.timedOut) {
      return new PosError('KEY_TPM_UNREACHABLE', `the TPM at ${this.tcti} did not answer ${step.tool} within ${this.timeoutMs} ms (${step.what}): check the TPM module and its driver`, detail);
    }
    if (/TCTI|tcti|Connection refused|Failed to connect|No such file or directory|Permission denied/.test(f.stderr)) {
      return new PosError('KEY_TPM_UNREACHABLE', `no TPM reachable at ${this.tcti} (${step.what}): check that the TPM is fitted and its driver loaded (/dev/tpmrm0), that this user may open it (group tss), and the board file's deviceKey.tcti. ${lastErrorLine(stderr)}`.trim(), detail);
    }
    return new PosError('KEY_TPM_REFUSED', `the TPM at ${this.tcti} refused to ${step.what} (${step.tool}): ${lastErrorLine(stderr)}`, detail);
  }
}

function failureOf(tool: string, e: unknown): ToolFailure {
  // execFileSync's error carries the child's stderr, status and signal (node's SpawnSyncReturns).
  const err = e as NodeJS.ErrnoException & { stderr?: Buffer | string; signal?: string | null };
  const stderr = err.stderr === undefined ? '' : Buffer.isBuffer(err.stderr) ? err.stderr.toString('utf8') : String(err.stderr);
  return { tool, ...(err.code && err.code !== 'ETIMEDOUT' ? { spawnCode: err.code } : {}), timedOut: err.code === 'ETIMEDOUT' || err.signal === 'SIGTERM', stderr };
}

function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('ERROR'));
  return lines.slice(-2).join(' / ');
}

/**
 * The boot checkpoint (storage/JOURNAL_FORMAT.md, "Boot checkpoint"): a small file beside
 * data.mdb saying "records 1..seq were verified, record seq's digest is D, in this very file",
 * sealed with an HMAC under a key derived from the device key. Boot verifies only the records
 * after it (storage/boot-open.ts); the whole chain is verified again in the background.
 *
 * It may also carry an opaque blob (the terminal state replayed up to `seq`, runtime/state-snapshot.ts)
 * under the same MAC, so boot replays only the records after it too.
 *
 * Written durably (temp file, fsync, rename, fsync of the directory): a power cut leaves the old
 * checkpoint, the new one or none, never a mix; a torn or edited file fails its MAC and boot falls
 * back to the full verify. Nothing here is ever needed: without a checkpoint boot is as before.
 *
 * The "opening" marker: written (durably) before the journal is opened in-process without the
 * child's full verify, removed once the open and the replay are done. A marker found at boot means
 * the previous boot died while LMDB read the file (LMDB crashes natively on some damaged files):
 * that boot takes the child process path.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { Encoder } from './cbor';
import { DIGEST_BYTES } from './record';
import { metaTxnId } from './lmdb-env';
import { fsyncDir } from '../common/fsync';

export const CHECKPOINT_FILE = 'checkpoint.bin';
export const OPENING_MARKER_FILE = 'opening';
const MAGIC = Buffer.from('POSJCP01', 'latin1');
const FORMAT = 1;
const MAC_BYTES = 32;
/** A checkpoint larger than this is not read (the state blob is bounded by the state's own maximums). */
export const CHECKPOINT_BYTES_MAX = 64 * 1024 * 1024;

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export interface Checkpoint {
  readonly identity: string;
  /** Records 1..seq were verified (checksums and chain) when it was written. */
  readonly seq: number;
  /** The digest of record `seq`. */
  readonly digest: Buffer;
  /** data.mdb's inode: another file (a copy, a restore) is not the file that was verified. */
  readonly ino: number;
  /** The higher LMDB meta transaction id when written: a file whose meta pages went back is suspicious. */
  readonly txnId: number;
  readonly writtenAtMs: number;
  /** Opaque to storage (runtime/state-snapshot.ts): covered by the MAC with the rest. */
  readonly state?: Buffer;
}

/**
 * The MAC key: HKDF-SHA256 of the device key (info `pos-journal-checkpoint/1`). The identity is
 * inside the MACed body and checked against record 1, so the key is known before the journal is read.
 */
export function checkpointKey(deviceKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', deviceKey, Buffer.alloc(0), 'pos-journal-checkpoint/1', 32));
}

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(MAGIC).update(body).digest();
}

/** data.mdb's inode and meta transaction id as they are now (undefined when unreadable). */
function fingerprint(dir: string): { ino: number; txnId: number } | undefined {
  const file = join(dir, 'data.mdb');
  if (!existsSync(file)) return undefined;
  const txnId = metaTxnId(dir);
  if (txnId === undefined) return undefined;
  return { ino: statSync(file).ino, txnId: Number(txnId) };
}

/**
 * Writes the checkpoint for `dir` durably. `seq`/`digest` must be what the caller verified (or
 * wrote) and is durable in data.mdb now.
 */
export function writeCheckpoint(dir: string, key: Buffer, cp: Omit<Checkpoint, 'ino' | 'txnId'>): void {
  const fp = fingerprint(dir);
  if (!fp) return;
  const body = Buffer.from(cbor.encode({
    format: FORMAT, identity: cp.identity, seq: cp.seq, digest: cp.digest, ino: fp.ino, txnId: fp.txnId, writtenAtMs: cp.writtenAtMs,
    ...(cp.state ? { state: cp.state } : {}),
  }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  writeDurably(join(dir, CHECKPOINT_FILE), [MAGIC, len, body, mac(key, Buffer.concat([len, body]))]);
}

/**
 * The checkpoint of `dir` when it is present, intact (MAC), for `identity`, and still describes
 * this data.mdb (same inode, meta transaction not older); otherwise why not.
 */
export function readCheckpoint(dir: string, key: Buffer, identity: string | undefined): { checkpoint: Checkpoint } | { problem: string } {
  const file = join(dir, CHECKPOINT_FILE);
  if (!existsSync(file)) return { problem: 'no checkpoint' };
  let bytes: Buffer;
  try {
    if (statSync(file).size > CHECKPOINT_BYTES_MAX) return { problem: 'checkpoint too large' };
    bytes = readFileSync(file);
  } catch (e) {
    return { problem: `checkpoint unreadable: ${String(e)}` };
  }
  if (bytes.length < MAGIC.length + 4 + MAC_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return { problem: 'checkpoint malformed' };
  const len = bytes.readUInt32BE(MAGIC.length);
  const bodyAt = MAGIC.length + 4;
  if (bytes.length !== bodyAt + len + MAC_BYTES) return { problem: 'checkpoint torn (length)' };
  const expected = mac(key, bytes.subarray(MAGIC.length, bodyAt + len));
  if (!timingSafeEqual(expected, bytes.subarray(bodyAt + len))) return { problem: 'checkpoint MAC does not verify (edited, torn, or another device key)' };
  const cp = parseBody(bytes.subarray(bodyAt, bodyAt + len));
  if (typeof cp === 'string') return { problem: cp };
  if (identity !== undefined && cp.identity !== identity) return { problem: `checkpoint is for "${cp.identity}", not "${identity}"` };
  const fp = fingerprint(dir);
  if (!fp) return { problem: 'data.mdb unreadable' };
  if (fp.ino !== cp.ino) return { problem: 'data.mdb is not the file the checkpoint verified (another inode)' };
  if (fp.txnId < cp.txnId) return { problem: `data.mdb went back to LMDB transaction ${fp.txnId} (checkpoint at ${cp.txnId})` };
  return { checkpoint: cp };
}

function parseBody(body: Buffer): Checkpoint | string {
  let v: unknown;
  try {
    v = cbor.decode(body);
  } catch {
    return 'checkpoint body unreadable';
  }
  if (v === null || typeof v !== 'object') return 'checkpoint body unreadable';
  const o = v as Record<string, unknown>;
  const int = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (o.format !== FORMAT) return `checkpoint format ${String(o.format)} unknown`;
  if (typeof o.identity !== 'string' || !int(o.seq) || o.seq < 1 || !int(o.ino) || !int(o.txnId) || !int(o.writtenAtMs)) return 'checkpoint fields invalid';
  if (!(o.digest instanceof Uint8Array) || o.digest.length !== DIGEST_BYTES) return 'checkpoint digest invalid';
  if (o.state !== undefined && !(o.state instanceof Uint8Array)) return 'checkpoint state invalid';
  return {
    identity: o.identity, seq: o.seq, digest: Buffer.from(o.digest), ino: o.ino, txnId: o.txnId, writtenAtMs: o.writtenAtMs,
    ...(o.state instanceof Uint8Array ? { state: Buffer.from(o.state.buffer, o.state.byteOffset, o.state.byteLength) } : {}),
  };
}

/** Removes the checkpoint durably: the next boot verifies the whole journal (damage found, or distrust). */
export function removeCheckpoint(dir: string): void {
  const file = join(dir, CHECKPOINT_FILE);
  if (!existsSync(file)) return;
  unlinkSync(file);
  fsyncDir(dir);
}

/** Marks an in-process open in progress (durable: a boot that dies reading the file leaves it). */
export function markOpening(dir: string, atMs: number): void {
  writeDurably(join(dir, OPENING_MARKER_FILE), [Buffer.from(`${atMs}\n`, 'latin1')]);
}

export function openingMarked(dir: string): boolean {
  return existsSync(join(dir, OPENING_MARKER_FILE));
}

/**
 * The in-process open finished. Not fsynced: a power cut that loses the removal only sends the
 * next boot through the child once (the safe side).
 */
export function clearOpening(dir: string): void {
  try { unlinkSync(join(dir, OPENING_MARKER_FILE)); } catch { /* absent */ }
}

function writeDurably(path: string, parts: readonly Buffer[]): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    for (const p of parts) writeSync(fd, p);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // Only this code writes these files: a folder in the way (damage) would refuse every rename,
  // and the boot would verify the whole journal every time, never healing. It goes.
  if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) rmSync(path, { recursive: true, force: true });
  renameSync(temp, path);
  fsyncDir(join(path, '..'));
}


/** Bytes of the checkpoint file (for logs and the benchmark); 0 when absent. */
export function checkpointBytes(dir: string): number {
  const file = join(dir, CHECKPOINT_FILE);
  if (!existsSync(file)) return 0;
  const fd = openSync(file, 'r');
  try { return fstatSync(fd).size; } finally { closeSync(fd); }
}

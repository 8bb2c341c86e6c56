/**
 * The provisioning request a flashing station leaves on a TPM board's data partition (boot/README.md,
 * "TPM boards at the flashing station"): the station cannot reach the board's TPM, so it writes
 * what the journal's first commit is made of, and the terminal makes the journal at its first
 * boot under a fresh device key sealed by its own TPM (boot/first-boot-seal.ts), then destroys
 * this file.
 *
 * It holds the TMK in clear (mode 0600, root of the data partition beside where the sealed key
 * will be) from the station until that first boot: the factory boots every such board before it
 * leaves (see the README for why and what that costs). Never logged or reported.
 *
 * Format: JSON, `format` 1, `kind` "pos-first-boot-provisioning", the fields of FirstBootRequest,
 * and `sha256` over the JSON of everything else, so a damaged or hand-edited file is refused
 * (E-KEY-06, flash again) instead of making a journal from half of it.
 */
import { createHash } from 'node:crypto';
import { existsSync, fsyncSync, openSync, closeSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PosError } from '../common/errors';
import { writeKeyFileDurably } from '../runtime/device-key';

/** The request's file name, beside the journal folder (where device-key.tpm will be). */
export const FIRST_BOOT_REQUEST_FILE = 'provision-request.json';
const FORMAT = 1;
const KIND = 'pos-first-boot-provisioning';
/** A request is a few hundred bytes; anything much larger is not one. */
const REQUEST_BYTES_MAX = 16 * 1024;

export interface FirstBootRequest {
  readonly serial: string;
  readonly tid: string;
  readonly mid: string;
  readonly boardName: string;
  readonly locale: string;
  readonly operator: string;
  readonly testKeys: boolean;
  readonly tmkHex: string;
  readonly kcvTmk: string;
  /** The merchant's first administrator, already hashed at the station (its password never here). */
  readonly merchantAdmin?: { readonly number: string; readonly saltHex: string; readonly passwordHashHex: string; readonly scryptN: number };
}

function digestOf(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/** Writes the request durably (whole or not at all), mode 0600; refuses to replace one. */
export function writeFirstBootRequest(file: string, r: FirstBootRequest): void {
  const body = { format: FORMAT, kind: KIND, ...r };
  const created = writeKeyFileDurably(file, Buffer.from(JSON.stringify({ ...body, sha256: digestOf(body) }) + '\n'), { mode: 0o600, replace: false });
  if (!created) throw new PosError('OPR_PROVISIONED', `${file}: a provisioning request is there already (this data folder was provisioned)`, { file });
}

function damaged(file: string, what: string): PosError {
  return new PosError('KEY_NOT_PROVISIONED', `the factory's provisioning request ${file} is damaged (${what}): this terminal cannot make its journal and device key from it; flash it again at the factory station`, { file, what });
}

/** The request, checked; undefined when there is none. */
export function readFirstBootRequest(file: string): FirstBootRequest | undefined {
  if (!existsSync(file)) return undefined;
  if (statSync(file).size > REQUEST_BYTES_MAX) throw damaged(file, 'too large');
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    throw damaged(file, 'not JSON');
  }
  const { sha256, ...body } = parsed;
  if (body.format !== FORMAT || body.kind !== KIND) throw damaged(file, `format ${String(body.format)} kind ${String(body.kind)}`);
  if (sha256 !== digestOf(body)) throw damaged(file, 'its checksum does not match');
  for (const k of ['serial', 'tid', 'mid', 'boardName', 'locale', 'operator', 'tmkHex', 'kcvTmk'] as const) {
    if (typeof body[k] !== 'string') throw damaged(file, `no ${k}`);
  }
  if (!/^[0-9A-F]{32}$/i.test(String(body.tmkHex))) throw damaged(file, 'the TMK is not 32 hex digits');
  const { format: _f, kind: _k, ...request } = body;
  return request as unknown as FirstBootRequest;
}

/**
 * Destroys the request once the journal holds what it carried: its bytes overwritten with zeros
 * and flushed, then unlinked and the folder flushed. On flash storage the old blocks may survive
 * the overwrite (wear levelling): the README says so.
 */
export function destroyFirstBootRequest(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(statSync(file).size), 0, undefined, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  unlinkSync(file);
  const dir = openSync(dirname(file), 'r');
  try { fsyncSync(dir); } finally { closeSync(dir); }
}

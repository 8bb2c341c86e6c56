/**
 * A TPM board's first boot after the flashing station (boot/README.md, "TPM boards at the
 * flashing station"): the station left a provisioning request (boot/first-boot-request.ts) instead
 * of a journal, because the device key must be sealed by this board's own TPM. Here, before the
 * journal is opened: a fresh device key is sealed by the TPM (runtime/device-key-tpm.ts: node's
 * CSPRNG XOR the TPM's RNG, unsealed once to prove it opens), the journal is made in one commit
 * from the request under that key (identity, TMK sealed, the key's check value, the merchant's
 * administrator), and the request is destroyed.
 *
 * Every step can be cut by a power loss and run again: a sealed key already there is unsealed and
 * used (never a second key), a journal already holding the request's identity is checked against
 * the key and kept, and the request goes only once the journal has it. Without a TPM (or with
 * another one) the terminal stops with the provider's code (E-KEY-05, E-KEY-07) and the request
 * stays for the next boot: it never runs without its key sealed.
 */
import { chownSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PosError } from '../common/errors';
import { silentLogger } from '../common/log';
import type { BoardConfig } from '../hal/board-schema';
import { checkDeviceKey } from '../runtime/device-key';
import { deviceKeyProviderFor, keyDirFor } from '../runtime/device-key-provider';
import { rec } from '../runtime/records';
import { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { writeIdentity } from './factory';
import { FIRST_BOOT_REQUEST_FILE, destroyFirstBootRequest, readFirstBootRequest } from './first-boot-request';

export interface FirstBootOptions {
  readonly board: { readonly file: string; readonly config: BoardConfig };
  readonly journalDir: string;
  readonly logger?: Logger;
  readonly clock?: () => number;
  /** One TPM command's limit (tests under load lengthen it). */
  readonly tpmToolTimeoutMs?: number;
}

export type FirstBootOutcome = 'none' | 'provisioned' | 'resumed';

/** Completes the station's request when there is one (see the file header); 'none' when there is not. */
export async function completeFirstBootProvisioning(o: FirstBootOptions): Promise<FirstBootOutcome> {
  const keyDir = keyDirFor(o.journalDir);
  const file = join(keyDir, FIRST_BOOT_REQUEST_FILE);
  const request = readFirstBootRequest(file);
  if (!request) return 'none';
  const log = o.logger ?? silentLogger;
  if (o.board.config.deviceKey?.provider !== 'tpm2') {
    throw new PosError('KEY_NOT_PROVISIONED', `${file}: a request to seal the device key at first boot, but ${o.board.file} names no TPM (deviceKey.provider "tpm2"): flash this terminal with its own board file`, { file });
  }
  if (request.boardName !== o.board.config.board) {
    throw new PosError('KEY_NOT_PROVISIONED', `${file} was made for board "${request.boardName}", this is "${o.board.config.board}": flash this terminal with its own board file`, { file });
  }
  const provider = deviceKeyProviderFor(o.board, keyDir, { create: true, logger: log, ...(o.tpmToolTimeoutMs ? { tpmToolTimeoutMs: o.tpmToolTimeoutMs } : {}) });
  provider.deviceKey(); // sealed now (or unsealed: a boot cut after the seal), before anything is written under it
  const outcome = await journalFromRequest(o, request, provider);
  giveToOwnerOf(keyDir);
  destroyFirstBootRequest(file);
  log.warn({ serial: request.serial, tid: request.tid, outcome, source: provider.source }, 'first boot: device key sealed by this board\'s TPM, journal made from the factory\'s request, request destroyed');
  return outcome;
}

async function journalFromRequest(o: FirstBootOptions, r: NonNullable<ReturnType<typeof readFirstBootRequest>>, provider: ReturnType<typeof deviceKeyProviderFor>): Promise<FirstBootOutcome> {
  const existing = await identityIn(o.journalDir);
  if (existing !== undefined) {
    if (existing !== r.serial) throw new PosError('OPR_PROVISIONED', `${o.journalDir} holds terminal ${existing}'s journal, the factory's request is for ${r.serial}: flash this terminal again`, { serial: existing });
    const j = await Journal.open({ dir: o.journalDir, readOnly: true });
    try { checkDeviceKey(j, provider); } finally { await j.close(); }
    return 'resumed';
  }
  const tmk = Buffer.from(r.tmkHex, 'hex');
  try {
    const admin = r.merchantAdmin
      ? rec.operator({ number: r.merchantAdmin.number, role: 'administrator', passwordHash: Buffer.from(r.merchantAdmin.passwordHashHex, 'hex'), salt: Buffer.from(r.merchantAdmin.saltHex, 'hex'), scryptN: r.merchantAdmin.scryptN, failedAttempts: 0, locked: false, event: 'created' })
      : undefined;
    await writeIdentity({ serial: r.serial, tid: r.tid, mid: r.mid, boardName: r.boardName, locale: r.locale, journalDir: o.journalDir, deviceKey: provider, operator: r.operator },
      tmk, r.kcvTmk, r.testKeys, o.clock ?? Date.now, admin);
  } finally {
    tmk.fill(0);
  }
  return 'provisioned';
}

async function identityIn(journalDir: string): Promise<string | undefined> {
  if (!existsSync(join(journalDir, 'data.mdb'))) return undefined;
  const j = await Journal.open({ dir: journalDir, readOnly: true });
  try {
    for (const rcd of j.records()) if (rcd.type === RecordType.terminalIdentity) return String(rcd.payload.serial);
    return undefined;
  } finally {
    await j.close();
  }
}

/**
 * A first boot run as root (a tool or the self-test unit, not the terminal's unit, which runs as
 * `pos`) gives what it made to the data folder's owner, so the terminal can open it after.
 */
function giveToOwnerOf(keyDir: string): void {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = statSync(keyDir);
  if (uid === 0) return;
  const walk = (p: string): void => {
    chownSync(p, uid, gid);
    if (statSync(p).isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  for (const n of readdirSync(keyDir)) walk(join(keyDir, n));
}

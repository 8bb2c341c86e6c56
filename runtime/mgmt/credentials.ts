/**
 * The terminal's password for the management broker, provisioned at the factory
 * (`pos factory mgmt`, boot/factory-mgmt.ts) and sealed under the device key beside it, so that a
 * copied disk image or a card pulled from the board does not give away a fleet credential (the
 * board file's `passwordFile` holds it in clear; `"passwordSealed": true` asks for this instead).
 *
 *   <key dir>/mgmt-password.sealed   seal(device key, password, MGMT_PASSWORD_AAD) (mode 0600)
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PosError } from '../../common/errors';
import { DeviceKeyProvider, RandomBytes, SEALED_PLAINTEXT_BYTES_MAX, seal, unseal, writeKeyFileDurably } from '../device-key';

export const MGMT_PASSWORD_SEALED_FILE = 'mgmt-password.sealed';
/** Associated data: a sealed value made for something else does not open as this password. */
export const MGMT_PASSWORD_AAD = 'POS management broker password v1';
/** Broker passwords are short secrets; the sealed form holds at most this many bytes. */
export const MGMT_PASSWORD_BYTES_MAX = 128;
const MGMT_PASSWORD_BYTES_MIN = 8;
const SEALED_FILE_BYTES_MAX = SEALED_PLAINTEXT_BYTES_MAX + 64;

/** Checks a password as a broker's password file can hold it: printable ASCII, no spaces at the ends. */
export function checkMgmtPassword(password: string): void {
  const bytes = Buffer.byteLength(password);
  if (bytes < MGMT_PASSWORD_BYTES_MIN || bytes > MGMT_PASSWORD_BYTES_MAX) throw new PosError('OPR_INPUT', `management password: ${MGMT_PASSWORD_BYTES_MIN}..${MGMT_PASSWORD_BYTES_MAX} bytes (got ${bytes})`);
  if (!/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(password)) throw new PosError('OPR_INPUT', 'management password: printable ASCII without spaces at either end');
}

/** Seals `password` under the device key into `dir` (written durably: temp file, fsync, rename, directory fsync). */
export function provisionMgmtPassword(o: { readonly dir: string; readonly password: string; readonly deviceKey: DeviceKeyProvider; readonly random: RandomBytes }): string {
  checkMgmtPassword(o.password);
  const file = join(o.dir, MGMT_PASSWORD_SEALED_FILE);
  writeKeyFileDurably(file, seal(o.deviceKey.deviceKey(), Buffer.from(o.password, 'utf8'), MGMT_PASSWORD_AAD, o.random), { mode: 0o600, replace: true });
  return file;
}

/**
 * The sealed password, opened. E-BRD-01 when none was provisioned (the board file asks for one);
 * a file that does not open under this device key is E-KEY (another terminal's, or damaged).
 */
export function readMgmtPassword(dir: string, deviceKey: DeviceKeyProvider): string {
  const file = join(dir, MGMT_PASSWORD_SEALED_FILE);
  if (!existsSync(file)) throw new PosError('BRD_INVALID', `management.passwordSealed: ${file} is missing: run "pos factory mgmt" on this terminal`, { field: 'management.passwordSealed', path: file });
  if (statSync(file).size > SEALED_FILE_BYTES_MAX) throw new PosError('KEY_MISSING', `${file} is larger than a sealed password`, { path: file });
  const password = unseal(deviceKey.deviceKey(), readFileSync(file), MGMT_PASSWORD_AAD).toString('utf8');
  checkMgmtPassword(password);
  return password;
}

/**
 * The one place that builds the device key's provider from the board file (issue 15 item 6):
 * the terminal application, factory provisioning, the factory station, recovery and `pos journal`
 * all ask here, so they all find the key the same way, in the same place beside the journal.
 *
 * - `"deviceKey": { "provider": "tpm2", "tcti": "device:/dev/tpmrm0" }`: the key sealed by the
 *   board's TPM (runtime/device-key-tpm.ts), `device-key.tpm` beside the journal folder.
 * - `"deviceKey": { "provider": "file" }` or no section: a plain 32-byte `device.key` beside the
 *   journal folder. The simulator board keeps it. A real board refuses it (E-KEY-04) unless its
 *   board file says `"allowPlainFile": true`: whoever copies a plain key file with the data
 *   partition opens every key and PAN the terminal sealed.
 *
 * Refusals are raised when the key is asked for, not when the provider is built, so a terminal
 * that cannot have its key still reaches the recovery menu, which shows why.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { PosError } from '../common/errors';
import type { BoardConfig } from '../hal/board-schema';
import { DeviceKeyProvider, RandomBytes, fileDeviceKey } from './device-key';
import { TPM_SEALED_FILE, tpmDeviceKey } from './device-key-tpm';

/** The file provider's key file name, beside the journal folder. */
export const DEVICE_KEY_FILE = 'device.key';

export interface NamedDeviceKeyProvider extends DeviceKeyProvider {
  /** Where the key comes from, for messages and logs (never the key). */
  readonly source: string;
}

export interface DeviceKeyProviderOptions {
  /**
   * Make a new key when none is there: factory provisioning (true); a boot or a tool that only
   * reads (false: a new key opens nothing already sealed). Default: simulator boards only, which
   * provision themselves at their first boot.
   */
  readonly create?: boolean;
  readonly random?: RandomBytes;
  readonly logger?: Logger;
  /** One TPM command's limit (tests shorten it). */
  readonly tpmToolTimeoutMs?: number;
}

/** Where a terminal's key lives for a journal folder: beside it (its parent), as the service files are. */
export function keyDirFor(journalDir: string): string {
  return dirname(resolve(journalDir));
}

/**
 * The provider the board file chooses, for the key kept in `keyDir` (see keyDirFor). `board` is
 * the board file's name (for messages) and its validated config.
 */
export function deviceKeyProviderFor(board: { readonly file: string; readonly config: BoardConfig }, keyDir: string, o: DeviceKeyProviderOptions = {}): NamedDeviceKeyProvider {
  const chosen = board.config.deviceKey ?? { provider: 'file' as const, allowPlainFile: false };
  const create = o.create ?? board.config.simulator;
  if (chosen.provider === 'tpm2') {
    return tpmDeviceKey({
      tcti: chosen.tcti, sealedFile: join(keyDir, TPM_SEALED_FILE), create,
      ...(o.random ? { random: o.random } : {}), ...(o.logger ? { logger: o.logger } : {}), ...(o.tpmToolTimeoutMs ? { toolTimeoutMs: o.tpmToolTimeoutMs } : {}),
    });
  }
  const path = join(keyDir, DEVICE_KEY_FILE);
  if (!board.config.simulator && !chosen.allowPlainFile) return refused(board.file, path);
  const file = fileDeviceKey(path, o.random);
  return {
    source: `key file ${path}`,
    deviceKey(): Buffer {
      if (!create && !existsSync(path)) {
        throw new PosError('KEY_NOT_PROVISIONED', `device key file ${path} not found: restore it with the data partition (a new key opens nothing already sealed); a terminal without a journal is provisioned at the factory station`, { file: path });
      }
      return file.deviceKey();
    },
  };
}

/**
 * A provider built when the key is first asked for, then kept: for tools whose other commands
 * need no key and must not fail on a board file they do not otherwise read (`pos recovery verify`).
 */
export function deviceKeyWhenAsked(build: () => DeviceKeyProvider): DeviceKeyProvider {
  let provider: DeviceKeyProvider | undefined;
  return { deviceKey: () => (provider ??= build()).deviceKey() };
}

/** A real board whose board file does not allow the plain key file: every request says what to do. */
function refused(boardFile: string, path: string): NamedDeviceKeyProvider {
  return {
    source: `key file ${path} (refused on a real board)`,
    deviceKey(): Buffer {
      throw new PosError('KEY_PLAIN_FILE_REFUSED',
        `${boardFile}: a real board does not keep its device key in a plain file (${path}): whoever copies the data partition could open every key and PAN sealed under it. ` +
        'Put "deviceKey": { "provider": "tpm2", "tcti": "device:/dev/tpmrm0" } in the board file and provision the terminal at the factory station, ' +
        'or "deviceKey": { "provider": "file", "allowPlainFile": true } to accept that risk knowingly', { file: boardFile, field: 'deviceKey' });
    },
  };
}

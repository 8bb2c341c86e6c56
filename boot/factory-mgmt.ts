/**
 * `pos factory mgmt --password-file FILE [--board B] [--dir D]`: the factory step that gives a
 * terminal its own password for the terminal-management broker (issue 12 item 5: per-terminal
 * credentials from the factory), after `pos factory provision` (the device key exists by then).
 * The password is sealed under the device key beside it (runtime/mgmt/credentials.ts); a board
 * file with `"management": { "passwordSealed": true, ... }` uses it. The password comes from a
 * file (the station's, one per serial), never from argv, and is never printed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Command, need } from './cli';
import { PosError } from '../common/errors';
import { MGMT_PASSWORD_BYTES_MAX, provisionMgmtPassword } from '../runtime/mgmt/credentials';
import { provisionedDeviceKey } from './factory-tls';

/** One line: the password, a newline at most after it (as `mosquitto_passwd` and editors leave it). */
function passwordFrom(file: string): string {
  if (statSync(file).isDirectory()) throw new PosError('OPR_INPUT', `--password-file ${file}: is a folder, not a file`);
  if (statSync(file).size > MGMT_PASSWORD_BYTES_MAX + 2) throw new PosError('OPR_INPUT', `--password-file ${file}: longer than a management password (${MGMT_PASSWORD_BYTES_MAX} bytes)`);
  return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

const mgmtCmd: Command = {
  name: 'factory mgmt',
  usage: 'factory mgmt --password-file FILE [--board B] [--dir D]',
  summary: 'seal the terminal\'s password for the management broker under its device key',
  async run(ctx) {
    const { boardFile, dir, deviceKey } = provisionedDeviceKey(ctx);
    const file = provisionMgmtPassword({ dir, password: passwordFrom(need(ctx, 'password-file')), deviceKey, random: randomBytes });
    ctx.out(`management password sealed under the device key: ${file}`);
    if (boardFile.config.management?.passwordSealed !== true) ctx.out('note: this board file does not ask for it (management.passwordSealed); the terminal will not use it');
    return 0;
  },
};

export const factoryMgmtCommands: readonly Command[] = [mgmtCmd];

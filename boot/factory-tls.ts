/**
 * `pos factory tls --client-cert FILE --client-key FILE [--board B] [--dir D]`: the factory step
 * that gives a terminal its TLS client certificate for the acquirer host (issue 12 item 4), after
 * `pos factory provision` (the device key exists by then). The certificate is written beside the
 * device key, the key sealed under it (runtime/host/tls-credentials.ts); the key file given on the
 * command line is the station's, to be deleted by the station once every terminal has its own.
 * Nothing of the key is printed: only the certificate's subject, expiry and SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, flagString, need } from './cli';
import { fileDeviceKey } from '../runtime/device-key';
import { PosError } from '../common/errors';
import { readBoardFile } from '../hal/board';
import { provisionClientCert } from '../runtime/host/tls-credentials';

const tlsCmd: Command = {
  name: 'factory tls',
  usage: 'factory tls --client-cert FILE --client-key FILE [--board B] [--dir D]',
  summary: 'seal the terminal\'s TLS client certificate for the acquirer host under its device key',
  async run(ctx) {
    const { config } = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
    const certFile = need(ctx, 'client-cert');
    const keyFile = need(ctx, 'client-key');
    // The device key's folder: the one above the journal's (--dir too), where provision left it.
    const dir = dirname(resolve(flagString(ctx, 'dir') ?? config.storage.journalDir));
    // Never a new device key here: one made now would not open the journal provision sealed.
    if (!existsSync(join(dir, 'device.key'))) throw new PosError('KEY_MISSING', `no device key in ${dir}: run pos factory provision first (with the same --dir)`, { dir });
    const r = provisionClientCert({ dir, certFile, keyFile, deviceKey: fileDeviceKey(join(dir, 'device.key')), random: randomBytes });
    ctx.out(`client certificate ${r.subject}, valid to ${r.validTo}, sha256 ${r.sha256}: written to ${dir}, key sealed under the device key`);
    if (config.host.tls?.clientCert !== true) ctx.out('note: this board file does not ask for a client certificate (host.tls.clientCert); the terminal will not present it');
    return 0;
  },
};

export const factoryTlsCommands: readonly Command[] = [tlsCmd];

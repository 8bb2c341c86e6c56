/**
 * `pos factory tls --client-cert FILE --client-key FILE [--board B] [--dir D]`: the factory step
 * that gives a terminal its TLS client certificate for the acquirer host (issue 12 item 4), after
 * `pos factory provision` (the device key exists by then). The certificate is written beside the
 * device key, the key sealed under it (runtime/host/tls-credentials.ts); the key file given on the
 * command line is the station's, to be deleted by the station once every terminal has its own.
 * Nothing of the key is printed: only the certificate's subject, expiry and SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { Command, CommandContext, flagString, need } from './cli';
import { NamedDeviceKeyProvider, deviceKeyProviderFor, keyDirFor } from '../runtime/device-key-provider';
import { readBoardFile } from '../hal/board';
import { provisionClientCert } from '../runtime/host/tls-credentials';

/**
 * A factory step after `pos factory provision`: the board file (--board), the device key's folder
 * (the one above the journal's, --dir too) and the board's provider (a TPM-sealed key or the
 * file), as provision left them. Never a new key here (create: false): one made now would not open
 * the journal provision sealed (the provider says KEY_NOT_PROVISIONED).
 */
export function provisionedDeviceKey(ctx: CommandContext): { readonly boardFile: ReturnType<typeof readBoardFile>; readonly dir: string; readonly deviceKey: NamedDeviceKeyProvider } {
  const boardFile = readBoardFile(flagString(ctx, 'board') ?? process.env.POS_BOARD ?? 'sim');
  const dir = keyDirFor(flagString(ctx, 'dir') ?? boardFile.config.storage.journalDir);
  return { boardFile, dir, deviceKey: deviceKeyProviderFor(boardFile, dir, { create: false }) };
}

const tlsCmd: Command = {
  name: 'factory tls',
  usage: 'factory tls --client-cert FILE --client-key FILE [--board B] [--dir D]',
  summary: 'seal the terminal\'s TLS client certificate for the acquirer host under its device key',
  async run(ctx) {
    const certFile = need(ctx, 'client-cert');
    const keyFile = need(ctx, 'client-key');
    const { boardFile: { config }, dir, deviceKey } = provisionedDeviceKey(ctx);
    const r = provisionClientCert({ dir, certFile, keyFile, deviceKey, random: randomBytes });
    ctx.out(`client certificate ${r.subject}, valid to ${r.validTo}, sha256 ${r.sha256}: written to ${dir}, key sealed under the device key`);
    if (config.host.tls?.clientCert !== true) ctx.out('note: this board file does not ask for a client certificate (host.tls.clientCert); the terminal will not present it');
    return 0;
  },
};

export const factoryTlsCommands: readonly Command[] = [tlsCmd];

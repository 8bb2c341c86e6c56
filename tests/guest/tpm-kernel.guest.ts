/**
 * Runs INSIDE the quick guest (tests/guest/tpm-kernel.test.ts), whose kernel drives a TPM 2.0 on
 * QEMU's TIS interface backed by the host's swtpm: what the flashing station writes for a TPM board
 * (boot/factory.ts provision, sealAtFirstBoot) and the board's first boot (boot/first-boot-seal.ts)
 * through the kernel's /dev/tpmrm0 with tpm2-tools (the host's, over 9p). Then a boot as the
 * terminal does it: the key unsealed without creating one, the TMK opened with its KCV. The data
 * folder is copied to argv[2] (the share) for the host to try on another TPM. Prints one JSON line.
 */
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readBoardFile } from '../../hal/board';
import type { BoardConfig } from '../../hal/board-schema';
import { Journal } from '../../storage/journal';
import { deviceKeyProviderFor } from '../../runtime/device-key-provider';
import { kcvOf, provision, readProvisionedTmk } from '../../boot/factory';
import { FIRST_BOOT_REQUEST_FILE } from '../../boot/first-boot-request';
import { completeFirstBootProvisioning } from '../../boot/first-boot-seal';

/** tpm2-tools under TCG: a command takes seconds here, not milliseconds. */
const TOOL_TIMEOUT_MS = 60_000;

async function main(): Promise<void> {
  const [work, share] = process.argv.slice(2);
  const { file, config } = readBoardFile('handheld');
  const board: { file: string; config: BoardConfig } = { file, config: { ...config, deviceKey: { provider: 'tpm2', tcti: 'device:/dev/tpmrm0' } } };
  const key = (): { keyHex: string; kcvHex: string } => { const k = randomBytes(16); return { keyHex: k.toString('hex').toUpperCase(), kcvHex: kcvOf(k) }; };
  const station = await provision({
    serial: 'QT-000001', tid: 'QT000001', mid: '898123456700091', components: [key(), key()], board: board.config, locale: 'en',
    journalDir: join(work, 'journal'), registryFile: join(work, '..', 'registry.json'), deviceKey: { sealAtFirstBoot: join(work, FIRST_BOOT_REQUEST_FILE) }, scryptN: 1024,
  });
  const atStation = readdirSync(work).sort();
  const t0 = performance.now();
  const outcome = await completeFirstBootProvisioning({ board, journalDir: join(work, 'journal'), tpmToolTimeoutMs: TOOL_TIMEOUT_MS });
  const firstBootMs = Math.round(performance.now() - t0);
  const boot = deviceKeyProviderFor(board, work, { create: false, tpmToolTimeoutMs: TOOL_TIMEOUT_MS });
  const t1 = performance.now();
  boot.deviceKey();
  const unsealMs = Math.round(performance.now() - t1);
  const j = await Journal.open({ dir: join(work, 'journal'), readOnly: true });
  let kcvMatches: boolean;
  try { kcvMatches = kcvOf(readProvisionedTmk(j, boot)) === station.kcvTmk; } finally { await j.close(); }
  cpSync(work, join(share, 'data'), { recursive: true });
  console.log(JSON.stringify({ atStation, outcome, firstBootMs, unsealMs, kcvMatches, requestLeft: existsSync(join(work, FIRST_BOOT_REQUEST_FILE)), after: readdirSync(work).sort() }));
}

main().catch((e: unknown) => { console.log(JSON.stringify({ error: e instanceof Error ? `${(e as { code?: string }).code ?? ''} ${e.message}` : String(e) })); process.exit(1); });

/**
 * Device key benchmark (npm run bench:device-key; issue 15 item 6). Prints figures beside their
 * baselines from the same run; asserts nothing.
 *
 * A software TPM (swtpm, tests/support/swtpm.ts) on loopback; a key sealed under it once, as the
 * factory does; then BENCH_UNSEALS boots' worth of unseals, each through a fresh provider exactly
 * as a boot asks for the key (runtime/device-key-tpm.ts: primary key derived, object loaded,
 * unsealed, transient objects flushed: 6 tool processes without a resource manager).
 *   baseline 1  the plain key file read by the file provider (what the simulator board does)
 *   baseline 2  one tpm2-tools process that asks the TPM one thing (tpm2_getrandom 1): the cost of
 *               a process start plus a round trip, of which an unseal makes 6 here, 3 under
 *               /dev/tpmrm0 (the kernel's resource manager flushes, no tpm2_flushcontext)
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../storage/testing';
import { fileDeviceKey } from '../runtime/device-key';
import { TPM_SEALED_FILE, tpmDeviceKey } from '../runtime/device-key-tpm';
import { Swtpm, swtpmMissing } from '../tests/support/swtpm';

const UNSEALS = Number(process.env.BENCH_UNSEALS ?? 20);

function stats(ms: number[]): string {
  const s = [...ms].sort((x, y) => x - y);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return `median ${at(0.5).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms (n=${s.length})`;
}

function timed(f: () => unknown): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const missing = swtpmMissing();
  if (missing) throw new Error(missing);
  const root = tempDir('pos-bench-devkey-');
  const tpm = await Swtpm.start(join(root, 'tpm'));
  try {
    const sealedFile = join(root, 'terminal', TPM_SEALED_FILE);
    const sealMs = timed(() => tpmDeviceKey({ tcti: tpm.tcti, sealedFile, create: true }).deviceKey());
    const key = tpmDeviceKey({ tcti: tpm.tcti, sealedFile, create: false }).deviceKey();
    writeFileSync(join(root, 'device.key'), key, { mode: 0o600 });
    const unseal: number[] = [];
    const file: number[] = [];
    const oneTool: number[] = [];
    for (let i = 0; i < UNSEALS; i++) {
      unseal.push(timed(() => tpmDeviceKey({ tcti: tpm.tcti, sealedFile, create: false }).deviceKey()));
      file.push(timed(() => fileDeviceKey(join(root, 'device.key')).deviceKey()));
      oneTool.push(timed(() => execFileSync('tpm2_getrandom', ['1'], { env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti } })));
    }
    console.log(`provisioning (seal a new key, write device-key.tpm durably, unseal it once): ${sealMs.toFixed(1)} ms`);
    console.log(`unseal at boot under swtpm:            ${stats(unseal)}`);
    console.log(`baseline 1, the plain key file:        ${stats(file)}`);
    console.log(`baseline 2, one tpm2-tools round trip: ${stats(oneTool)}`);
  } finally {
    await tpm.stop();
    removeDir(root);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

/**
 * npm run bench:gpio: a full keypad scan on a real kernel (Debian's 6.1 in the quick guest, a
 * gpio-sim chip, QEMU TCG on this machine), through the native backend (hal/gpio-native.ts, one
 * ioctl per write) beside the libgpiod-tools backend (hal/gpio-chardev.ts, a process per write)
 * as the baseline, measured in the same guest run. Absolute figures are TCG's (an emulated CPU,
 * several times slower than a real board's); the ratio is the point.
 * BENCH_SCANS_NATIVE (default 200) and BENCH_SCANS_TOOLS (default 5) set the number of scans.
 */
import * as fs from 'node:fs';
import { QuickGuest, compileForGuest, guestJsDir } from '../scripts/guest/quick-guest';
import { addonCandidates } from '../hal/gpio-native';

/** The guest run with the tools backend: a process start per write under TCG. */
const RUN_TIMEOUT_MS = 600_000;

interface Figures { scans: number; medianMs: number; meanMs: number }

async function main(): Promise<void> {
  const addon = addonCandidates().find((p) => fs.existsSync(p));
  if (!addon) throw new Error('build/Release/gpio_v2.node is missing: run npm install');
  const out = guestJsDir();
  try {
    await compileForGuest(['bench/gpio-guest.ts'], out);
    const guest = await QuickGuest.boot({ gpioLines: 16 });
    try {
      const r = await guest.run(`export POS_GPIO_V2_ADDON=${addon} SCANS_NATIVE=${process.env.BENCH_SCANS_NATIVE ?? 200} SCANS_TOOLS=${process.env.BENCH_SCANS_TOOLS ?? 5}\n`
        + `exec node ${out}/bench/gpio-guest.js\n`, RUN_TIMEOUT_MS);
      if (r.code !== 0) throw new Error(`guest run failed (${r.code}): ${r.stderr}`);
      const f = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { native: Figures; tools: Figures };
      const row = (name: string, x: Figures): string => `${name.padEnd(30)} ${String(x.scans).padStart(5)} ${x.medianMs.toFixed(2).padStart(10)} ${x.meanMs.toFixed(2).padStart(10)}`;
      console.log('full keypad scan, 4x3 matrix, gpio-sim on Debian 6.1 under QEMU TCG');
      console.log(`${'backend'.padEnd(30)} ${'scans'.padStart(5)} ${'median ms'.padStart(10)} ${'mean ms'.padStart(10)}`);
      console.log(row('native (gpio_v2 addon)', f.native));
      console.log(row('libgpiod tools (baseline)', f.tools));
      console.log(`native is ${(f.tools.medianMs / f.native.medianMs).toFixed(0)}x faster per scan (medians)`);
    } finally {
      await guest.shutdown();
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

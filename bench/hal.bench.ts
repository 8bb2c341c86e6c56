/**
 * Hardware-layer benchmarks: the display half (bench/hal-display.bench.ts) and, when present,
 * the printer half (bench/hal-printer.bench.ts exporting runPrinterBench). Figures only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runDisplayBench } from './hal-display.bench';

async function main(): Promise<void> {
  console.log('== display ==');
  await runDisplayBench();
  const printerBench = path.join(__dirname, 'hal-printer.bench.ts');
  if (!fs.existsSync(printerBench)) {
    console.log('== printer == (bench/hal-printer.bench.ts not present)');
    return;
  }
  // Loaded by path at run time: the printer half is written separately and may not exist yet.
  const mod = require(printerBench) as { runPrinterBench?: () => Promise<void> | void }; // eslint-disable-line @typescript-eslint/no-require-imports
  if (typeof mod.runPrinterBench !== 'function') {
    console.log('== printer == (bench/hal-printer.bench.ts does not export runPrinterBench)');
    return;
  }
  console.log('== printer ==');
  await mod.runPrinterBench();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

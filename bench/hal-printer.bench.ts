/**
 * Printer benchmark: time to render and send a 40-line receipt with a QR code and a signature
 * image through the real EscPosPrinter to the virtual printer, in-process over the in-memory
 * serial pair, and the bytes sent. Baselines measured in the same run:
 *   - raw: writing the same number of bytes through the same kind of port (no encoding, no syncs);
 *   - encode: the encoder alone (no port).
 * Figures only; no pass/fail thresholds (DESIGN.md: bench/ prints figures and ratios).
 * Run: npx ts-node --transpile-only bench/hal-printer.bench.ts [runs]
 */
import { performance } from 'node:perf_hooks';
import { encodeBlock, jobPrologue } from '../hal/drivers/escpos-encoder';
import { EscPosPrinter } from '../hal/drivers/escpos-printer';
import { openSerialPair } from '../sim/serial-pair';
import { VirtualPrinter } from '../sim/virtual-printer';
import { saleReceipt } from '../tests/hal/printer-fixtures';

const RUNS_DEFAULT = 40;
const WARMUP_RUNS = 3;
/** Same chunk size as the driver's default, so the raw baseline does the same number of writes. */
const RAW_CHUNK_BYTES = 256;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(samples: number[]): { median: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

async function timePrint(): Promise<{ ms: number; bytes: number }> {
  const pair = await openSerialPair({ label: 'bench-printer' });
  const sim = new VirtualPrinter(pair.device, { paperWidthDots: 384, gb18030: true });
  const printer = new EscPosPrinter(pair.host, { paperWidthDots: 384, gb18030: true });
  const t0 = performance.now();
  const result = await printer.print(saleReceipt());
  const ms = performance.now() - t0;
  if (sim.receipts().length !== 1) throw new Error('benchmark receipt did not print');
  await printer.close();
  return { ms, bytes: result.bytesSent };
}

async function timeRaw(bytes: number): Promise<number> {
  const pair = await openSerialPair({ label: 'bench-raw' });
  let received = 0;
  const done = new Promise<void>((resolve) => pair.device.onData((c) => { received += c.length; if (received >= bytes) resolve(); }));
  const payload = Buffer.alloc(bytes, 0x41);
  const t0 = performance.now();
  for (let at = 0; at < bytes; at += RAW_CHUNK_BYTES) await pair.host.write(payload.subarray(at, at + RAW_CHUNK_BYTES));
  await done;
  const ms = performance.now() - t0;
  await pair.host.close();
  return ms;
}

function timeEncode(): number {
  const options = { paperWidthDots: 384, columns: 32, gb18030: true, rasterStripeRowsMax: 24 };
  const t0 = performance.now();
  const job = saleReceipt();
  jobPrologue(true);
  job.blocks.forEach((b, i) => encodeBlock(b, i, options));
  return performance.now() - t0;
}

export async function runPrinterBench(runs = RUNS_DEFAULT): Promise<void> {
  for (let i = 0; i < WARMUP_RUNS; i++) await timePrint();
  const print: number[] = [];
  const raw: number[] = [];
  const encode: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const r = await timePrint();
    bytes = r.bytes;
    print.push(r.ms);
    raw.push(await timeRaw(bytes));
    encode.push(timeEncode());
  }
  const p = summary(print);
  const w = summary(raw);
  const e = summary(encode);
  const line = (name: string, s: { median: number; p99: number }) =>
    `  ${name.padEnd(34)} median ${s.median.toFixed(2).padStart(8)} ms   p99 ${s.p99.toFixed(2).padStart(8)} ms`;
  process.stdout.write([
    `printer: 40-line receipt + QR + signature, EscPosPrinter -> virtual printer (in-process), ${runs} runs`,
    `  bytes sent per receipt              ${bytes}`,
    line('print (encode + send + syncs)', p),
    line('baseline: raw write, same bytes', w),
    line('baseline: encode only', e),
    `  ratio print / raw write             ${(p.median / w.median).toFixed(2)}x (median)`,
    `  ratio encode / print                ${(e.median / p.median).toFixed(2)} of the time`,
    `  at 115200 baud (11520 B/s) the bytes alone take ${((bytes / 11520) * 1000).toFixed(0)} ms on a real line`,
    '',
  ].join('\n'));
}

if (require.main === module) {
  runPrinterBench(Number(process.argv[2] ?? RUNS_DEFAULT)).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}

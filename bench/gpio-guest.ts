/**
 * Runs INSIDE the quick guest for bench/gpio.bench.ts: full keypad scans (4 rows x 3 columns,
 * hal/drivers/matrix-keypad.ts) on gpio-sim lines, through the native backend and through the
 * libgpiod-tools backend, in the same run. Prints one JSON line: per backend, scans done and the
 * median and mean milliseconds per scan.
 * Environment: QG_GPIO_CHIP (quick-guest), SCANS_NATIVE, SCANS_TOOLS.
 */
import { GpioChip } from '../hal/gpio';
import { NativeGpioChip } from '../hal/gpio-native';
import { ChardevGpioChip, TOOL_TIMEOUT_MS_LIMIT } from '../hal/gpio-chardev';
import { MatrixKeypad } from '../hal/drivers/matrix-keypad';

const chipName = process.env.QG_GPIO_CHIP ?? 'gpiochip0';

async function scans(chip: GpioChip, count: number): Promise<{ scans: number; medianMs: number; meanMs: number }> {
  const rows = await Promise.all([8, 9, 10, 11].map((o) => chip.requestLine(o, { direction: 'out', initial: 1 })));
  const cols = await Promise.all([12, 13, 14].map((o) => chip.requestLine(o, { direction: 'in' })));
  const kp = new MatrixKeypad(rows, cols, { keymap: [['1', '2', '3'], ['4', '5', '6'], ['7', '8', '9'], ['CANCEL', '0', 'OK']] });
  // scan() is private: the benchmark times exactly the driver's one pass over the matrix (every
  // row selected alone, every column read, all rows selected again), nothing around it.
  const scan = (kp as unknown as { scan(): Promise<Set<string>> }).scan.bind(kp);
  await scan(); // first pass: rows start selected; warms the code paths
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await scan();
    times.push(performance.now() - t0);
  }
  await chip.close();
  times.sort((a, b) => a - b);
  return { scans: count, medianMs: times[Math.floor(times.length / 2)], meanMs: times.reduce((a, b) => a + b, 0) / times.length };
}

async function main(): Promise<void> {
  const native = await scans(await NativeGpioChip.open({ chip: chipName }), Number(process.env.SCANS_NATIVE ?? 200));
  const tools = await scans(await ChardevGpioChip.open({ chip: chipName, toolTimeoutMs: TOOL_TIMEOUT_MS_LIMIT }), Number(process.env.SCANS_TOOLS ?? 5));
  process.stdout.write(`${JSON.stringify({ native, tools })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

/**
 * The control interface's `memory` command: what the terminal's process holds, and how much of
 * it is the simulated devices' (issue 14: the simulator board's devices share the terminal's
 * process, and a figure for the terminal must not count them).
 *
 * Measured, not estimated: the heap after a full garbage collection, then the virtual printer's
 * paper roll emptied, the Chinese glyphs it read forgotten and the simulated I2C buses' transfer logs
 * emptied (`drop`), and the heap measured again after another one. The difference is what those
 * held; the other models (keypad, displays, gauge, reader, scan engine) hold a fixed few
 * kilobytes that do not grow with sales.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SimBoard } from './board-sim';
import { unloadCjkGlyphs } from './virtual-printer-cjk';

const MB = 1024 * 1024;

export interface MemoryReport {
  readonly rssMb: number;
  readonly heapTotalMb: number;
  readonly heapUsedMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
  /** Pixels the virtual printer's roll holds (its typed arrays). */
  readonly paperBitmapMb: number;
  /** Receipts the roll holds (items and lines) and how many it tore off. */
  readonly paperReceipts: number;
  readonly paperReceiptsShed: number;
}

let gc: (() => void) | undefined;

/**
 * A full, synchronous garbage collection. Without --expose-gc on the command line (the unit does
 * not give it) the flag is set at run time and `gc` taken from a fresh context, which then has it.
 */
export function fullGc(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

export function memoryReport(sim: SimBoard): MemoryReport {
  fullGc();
  const m = process.memoryUsage();
  const printer = sim.printers.size ? sim.printer() : undefined;
  return {
    rssMb: m.rss / MB, heapTotalMb: m.heapTotal / MB, heapUsedMb: m.heapUsed / MB, externalMb: m.external / MB, arrayBuffersMb: m.arrayBuffers / MB,
    paperBitmapMb: (printer?.machine.paper.bitmapBytes ?? 0) / MB,
    paperReceipts: printer?.receipts().length ?? 0,
    paperReceiptsShed: printer?.machine.paper.receiptsShed ?? 0,
  };
}

/**
 * The report, and with `drop` the devices' share: the roll torn off, then measured again.
 * `devicesMb` = (heap used + array buffers) before − after.
 */
export function memoryCommand(sim: SimBoard, drop: boolean): MemoryReport & { devicesMb?: number; afterDrop?: MemoryReport } {
  const before = memoryReport(sim);
  if (!drop) return before;
  for (const p of sim.printers.values()) p.machine.paper.clear();
  unloadCjkGlyphs();
  // The simulated I2C buses' transfer logs (TRANSFER_LOG_MAX records each, kept for tests to
  // inspect): a heap snapshot after 300 sales and a settlement found 3,955 more of their records
  // than at idle, the largest growth after the printer's.
  for (const bus of sim.i2c.values()) bus.log.length = 0;
  const after = memoryReport(sim);
  return { ...before, devicesMb: Math.max(0, before.heapUsedMb + before.arrayBuffersMb - after.heapUsedMb - after.arrayBuffersMb), afterDrop: after };
}

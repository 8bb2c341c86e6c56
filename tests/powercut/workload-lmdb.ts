/**
 * Raw lmdb workload for the power-cut simulator (run under strace by the tests).
 *
 *   node -r ts-node/register/transpile-only tests/powercut/workload-lmdb.ts DIR COUNT [options]
 *   (the simulator runs it transpiled to JavaScript: compile.ts)
 *
 *   --no-sync            open with `noSync: true` (the positive control: must lose acked records)
 *   --ack-after=flushed  print `ACK n` after `await db.put(...)` then `await db.flushed` (default)
 *   --ack-after=put      print `ACK n` after `await db.put(...)` alone
 *   --value-bytes=N      size of each value (default 100)
 *   --window=K           keep up to K puts in flight (default 1: each put awaited before the
 *                        next); each is acknowledged as soon as its own promise(s) resolve
 *   --interval-ms=T      wait T ms between starting two puts (with a large window: puts keep
 *                        arriving while earlier commits are still being flushed)
 *   env POWERCUT_LMDB_OPTIONS  JSON merged into the open options
 *
 * Keys are 1..COUNT, values `lmdbValue(n, bytes)`; records are appended one at a time, as fast
 * as possible. Each acknowledgement is one write(2) of `ACK n\n` on stdout, which the trace
 * records in the same event sequence as the database writes.
 */
import { open, type RootDatabaseOptionsWithPath } from 'lmdb';
import { lmdbValue } from './lmdb-values';

async function main(): Promise<void> {
  const [dir, countText, ...flags] = process.argv.slice(2);
  if (!dir || !countText) throw new Error('usage: workload-lmdb.ts DIR COUNT [--no-sync] [--ack-after=put|flushed] [--value-bytes=N] [--window=K] [--interval-ms=T]');
  const count = Number(countText);
  const flag = (name: string): string | undefined => flags.find((f) => f === name || f.startsWith(name + '='))?.split('=')[1];
  const noSync = flags.includes('--no-sync');
  const ackAfter = flag('--ack-after') ?? 'flushed';
  if (ackAfter !== 'put' && ackAfter !== 'flushed') throw new Error(`--ack-after must be put or flushed, not ${ackAfter}`);
  const valueBytes = Number(flag('--value-bytes') ?? 100);
  const extra = process.env.POWERCUT_LMDB_OPTIONS ? JSON.parse(process.env.POWERCUT_LMDB_OPTIONS) as object : {};
  const options: RootDatabaseOptionsWithPath = { path: dir, ...(noSync ? { noSync: true } : {}), ...extra };
  const window = Math.max(1, Number(flag('--window') ?? 1));
  const intervalMs = Number(flag('--interval-ms') ?? 0);
  const db = open(options);
  const appendOne = async (n: number): Promise<void> => {
    await db.put(n, lmdbValue(n, valueBytes));
    if (ackAfter === 'flushed') await db.flushed;
    process.stdout.write(`ACK ${n}\n`);
  };
  const inFlight = new Set<Promise<void>>();
  for (let n = 1; n <= count; n++) {
    const p: Promise<void> = appendOne(n).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
  }
  await Promise.all(inFlight);
  await db.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`workload-lmdb: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

/**
 * Crash-test writer: appends journal records as fast as it can and prints `ACK <seq> <digest>`
 * on stdout (a pipe: synchronous on Linux) after each append resolves, i.e. once it is durable.
 * On a storage error it prints `ERR <code> <message>`, keeps trying a few appends (each must fail
 * with the same code) and exits 0: an unhandled rejection or crash exits non-zero.
 *   writer <dir> [count] [inFlightMax]
 * WRITER_RESERVE=1: every append is in the reserve, as a settlement's records are: they go on after
 * sales are refused (storage/journal.ts usage), to the disk's real end.
 */
import { Journal } from '../../storage/journal';
import { isPosError } from '../../common/errors';

const RETRIES_AFTER_ERROR = 5;

async function main(): Promise<void> {
  const [dir, countArg, inFlightArg] = process.argv.slice(2);
  const count = Number(countArg ?? Infinity);
  const inFlightMax = Number(inFlightArg ?? 8);
  const capacityBytes = Number(process.env.WRITER_CAPACITY_BYTES ?? 0) || undefined;
  const appendOptions = { reserve: process.env.WRITER_RESERVE === '1' };
  const journal = await Journal.open({
    dir, identity: 'SIM-CRASH', capacityBytes, preallocateBytes: capacityBytes,
    reserveBytes: capacityBytes ? Math.floor(capacityBytes / 4) : undefined,
  });
  process.stdout.write(`READY ${journal.lastSeq}\n`);
  let failed: string | undefined;
  let started = 0;
  const inFlight = new Set<Promise<void>>();
  while (started < count && !failed) {
    const p: Promise<void> = journal.append('test', { n: started, pad: 'x'.repeat(started % 200) }, appendOptions).then(
      (r) => { process.stdout.write(`ACK ${r.seq} ${r.digest.toString('hex')}\n`); },
      (e: unknown) => { failed ??= isPosError(e) ? e.code : `untyped ${String(e)}`; process.stdout.write(`ERR ${failed} ${String(e)}\n`); },
    ).finally(() => { inFlight.delete(p); });
    inFlight.add(p);
    started++;
    if (inFlight.size >= inFlightMax) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  for (let i = 0; failed && i < RETRIES_AFTER_ERROR; i++) {
    try {
      await journal.append('test', { retry: i }, appendOptions);
      process.stdout.write('RETRY-SUCCEEDED\n');
    } catch (e) {
      process.stdout.write(`RETRY ${isPosError(e) ? e.code : 'untyped'}\n`);
    }
  }
  // Before close: a failed journal (a storage failure inside a commit or checkpoint) says so here.
  process.stdout.write(`STATE ${journal.state}\n`);
  await journal.close();
  process.stdout.write('DONE\n');
  // A failed LMDB environment can keep worker threads (and so the process) alive.
  if (process.env.WRITER_EXIT === "1") process.exit(0);
}

main().catch((e: unknown) => { process.stdout.write(`FATAL ${String(e)}\n`); process.exit(3); });

/**
 * Journal workload for the power-cut simulator (run under strace by journal-powercut.test.ts).
 *
 *   node -r ts-node/register/transpile-only tests/powercut/workload-journal.ts DIR COUNT [options]
 *   (the simulator runs it transpiled to JavaScript: compile.ts)
 *
 *   --unsafe-no-sync     open with `unsafeNoSync: true` (the positive control)
 *   --window=K           keep up to K appends in flight (default 1: each awaited before the next;
 *                        K > 1 exercises the journal's group commit)
 *   --interval-ms=T      wait T ms between starting two appends
 *   --payload-bytes=N    size of each record's padding (default 64)
 *   --identity=ID        terminal identity (default POWERCUT-0001)
 *   --checkpoint-every=C after every C-th append, put the write-ahead log's records into LMDB
 *                        (Journal.checkpoint: an LMDB commit, then the log's header rewritten)
 *   --tag=X              print `ACK X <seq>:<n>` (two workloads sharing one output line channel)
 *
 * `Journal.open` creates the journal (record 1, journal-created) and resolves once it is
 * durable: `ACK 1:open` is printed then. Each append of record n (1..COUNT, payload {n, pad})
 * prints `ACK <seq>:<n>` when its promise resolves, which the journal promises means durable.
 */
import { Journal } from '../../storage/journal';
import { journalPayload } from './journal-values';

async function main(): Promise<void> {
  const [dir, countText, ...flags] = process.argv.slice(2);
  if (!dir || !countText) throw new Error('usage: workload-journal.ts DIR COUNT [--unsafe-no-sync] [--window=K] [--interval-ms=T] [--payload-bytes=N] [--identity=ID] [--checkpoint-every=C] [--tag=X]');
  const flag = (name: string): string | undefined => flags.find((f) => f === name || f.startsWith(name + '='))?.split('=')[1];
  const count = Number(countText);
  const window = Math.max(1, Number(flag('--window') ?? 1));
  const intervalMs = Number(flag('--interval-ms') ?? 0);
  const payloadBytes = Number(flag('--payload-bytes') ?? 64);
  const identity = flag('--identity') ?? 'POWERCUT-0001';
  const checkpointEvery = Number(flag('--checkpoint-every') ?? 0);
  const tag = flag('--tag');
  const ack = tag === undefined ? 'ACK ' : `ACK ${tag} `;
  const journal = await Journal.open({ dir, identity, unsafeNoSync: flags.includes('--unsafe-no-sync') });
  process.stdout.write(`${ack}1:open\n`);
  const inFlight = new Set<Promise<void>>();
  for (let n = 1; n <= count; n++) {
    const p: Promise<void> = journal.append('test', journalPayload(n, payloadBytes))
      .then((a) => { process.stdout.write(`${ack}${a.seq}:${n}\n`); })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
    if (checkpointEvery > 0 && n % checkpointEvery === 0) {
      await Promise.all(inFlight);
      await journal.checkpoint();
    }
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
  }
  await Promise.all(inFlight);
  await journal.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`workload-journal: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});

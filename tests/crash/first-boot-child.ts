/**
 * Child of first-boot-cut.test.ts: opens a journal directory the way the terminal's boot does
 * (storage/boot-open.ts openForBoot, the function boot/terminal-app.ts calls: verify in a child
 * when data.mdb exists and no checkpoint vouches for it, go to recovery on damage, else open
 * read-write, creating the journal with its identity in one commit) and prints one JSON line per
 * directory: {dir, recovery: reason} or {dir, state, lastSeq, identity, types}. A child, because
 * LMDB may crash on a file: the parent turns a signal into a failure.
 * With POS_CHECKPOINT_KEY set, the boot checkpoint is used as the terminal uses it.
 *   first-boot-child <identity> <dir>...
 */
import { openForBoot } from '../../storage/boot-open';
import { silentLogger } from '../../common/log';
import { isPosError } from '../../common/errors';
import { rec } from '../../runtime/records';

/** The identity record a simulator board's first boot writes with record 1. */
export function genesisFor(identity: string): Array<{ type: 'terminalIdentity'; payload: Record<string, unknown> }> {
  const r = rec.terminalIdentity({ serial: identity, tid: '12345678', mid: '123456789012345', board: 'sim', locale: 'zh-CN', testKeys: true });
  return [{ type: 'terminalIdentity', payload: r.payload }];
}

async function main(): Promise<void> {
  const [identity, ...dirs] = process.argv.slice(2);
  // With POS_CHECKPOINT_KEY (hex), boot trusts a checkpoint sealed under it (storage/checkpoint.ts).
  const key = process.env.POS_CHECKPOINT_KEY ? Buffer.from(process.env.POS_CHECKPOINT_KEY, 'hex') : undefined;
  for (const dir of dirs) {
    try {
      const opened = await openForBoot({ dir, identity, logger: silentLogger, genesis: genesisFor(identity), ...(key ? { checkpointKey: key } : {}) });
      const j = opened.journal;
      // What boot's replay reads: every record after the checkpoint (all of them without one).
      let replayed = 0;
      for (const r of j.records((opened.checkpoint?.seq ?? 0) + 1)) if (r.seq > 0) replayed++;
      opened.done();
      const types = [...j.records(1, Math.min(j.lastSeq, 3))].map((r) => r.type);
      process.stdout.write(JSON.stringify({ dir, state: j.state, lastSeq: j.lastSeq, identity: j.get(1)?.payload.identity, types, path: opened.path, replayed }) + '\n');
      await j.close();
    } catch (e) {
      const damaged = isPosError(e) && (e.code === 'E-STO-05' || e.code === 'E-STO-11');
      process.stdout.write(JSON.stringify(damaged ? { dir, recovery: e.message } : { dir, error: String(e) }) + '\n');
    }
  }
}

if (require.main === module) main().catch((e: unknown) => { process.stdout.write(JSON.stringify({ error: String(e) }) + '\n'); });

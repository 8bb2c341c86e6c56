/**
 * Child of first-boot-cut.test.ts: opens a journal directory the way the terminal's boot does
 * (boot/terminal-app.ts openJournal: verify read-only in a child when data.mdb exists, go to
 * recovery on damage, else open read-write with the identity) and prints one JSON line:
 * per directory: {dir, recovery: reason} or {dir, state, lastSeq, identity}. A child, because LMDB
 * may crash on a file: the parent turns a signal into a failure.
 *   first-boot-child <identity> <dir>...
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../storage/journal';
import { verifyInChild } from '../../storage/verify-child';

async function main(): Promise<void> {
  const [identity, ...dirs] = process.argv.slice(2);
  const verdicts = new Map((await verifyInChild(dirs.filter((d) => existsSync(join(d, 'data.mdb'))))).map((v) => [v.dir, v]));
  for (const dir of dirs) {
    const v = verdicts.get(dir);
    const fresh = v?.status === 'error' && (v.noJournal === true || v.neverWritten === true);
    if (v && (v.status === 'damaged' || v.status === 'unopenable' || (v.status === 'error' && !fresh))) {
      process.stdout.write(JSON.stringify({ dir, recovery: JSON.stringify(v) }) + '\n');
      continue;
    }
    try {
      const j = await Journal.open({ dir, identity });
      process.stdout.write(JSON.stringify({ dir, state: j.state, lastSeq: j.lastSeq, identity: j.get(1)?.payload.identity }) + '\n');
      await j.close();
    } catch (e) {
      process.stdout.write(JSON.stringify({ dir, error: String(e) }) + '\n');
    }
  }
}

main().catch((e: unknown) => { process.stdout.write(JSON.stringify({ error: String(e) }) + '\n'); });

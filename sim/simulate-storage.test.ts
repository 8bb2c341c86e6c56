/**
 * The disk-model cut of the day simulation (sim/simulate-storage.ts): a real journal commit,
 * replayed as LMDB writes it and crashed at every point with unsynced pages torn, must reopen as
 * the journal before the commit or after it, never anything else.
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../storage/journal';
import { removeDir, tempDir } from '../storage/testing';
import { DiskModel } from './disk-model';
import { lmdbCommitWrites } from './simulate-storage';

const IDENTITY = 'SIM-DISK-0001';
const RECORDS_BEFORE = 40;
const SEEDS = [1, 2, 3];

async function journalWith(dir: string, n: number): Promise<void> {
  const j = await Journal.open({ dir, identity: IDENTITY });
  for (let i = 0; i < n; i++) await j.append('test', { i, note: 'x'.repeat(200) });
  await j.close();
}

describe('simulation: disk-model power cuts', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  after(() => dirs.forEach(removeDir));

  it('everyCrashPointOfACommitReopensAsBeforeOrAfterIt', async () => {
    const dir = tempDir('simdisk-');
    dirs.push(dir);
    await journalWith(dir, RECORDS_BEFORE);
    const file = join(dir, 'data.mdb');
    const before = readFileSync(file);
    const j = await Journal.open({ dir, identity: IDENTITY });
    const lastBefore = j.lastSeq;
    await j.appendMany([{ type: 'test', payload: { i: 'a', note: 'y'.repeat(3000) } }, { type: 'test', payload: { i: 'b' } }]);
    const lastAfter = j.lastSeq;
    await j.close();
    const after = readFileSync(file);
    const events = lmdbCommitWrites(file, before, after);
    const barrierAt = events.findIndex((e) => e.kind === 'barrier');
    assert.ok(barrierAt >= 1, 'the commit wrote data pages before its barrier');
    assert.ok(events.slice(barrierAt + 1).every((e) => e.kind === 'write' && e.sync && e.offset < 2 * 4096), 'only meta pages follow the barrier, synchronously');
    const outcomes = new Map<number, number>();
    const model = new DiskModel(events, { initialFiles: new Map([[file, before]]) });
    for (let crashAt = 0; crashAt <= events.length; crashAt++) {
      for (const seed of SEEDS) {
        const state = tempDir('simdisk-state-');
        dirs.push(state);
        copyFileSync(join(dir, 'lock.mdb'), join(state, 'lock.mdb'));
        writeFileSync(join(state, 'data.mdb'), model.filesAt(crashAt, { mode: 'torn', seed }).get(file) as Buffer);
        const reopened = await Journal.open({ dir: state, identity: IDENTITY });
        try {
          assert.equal(reopened.state, 'ok', `crash ${crashAt}/${events.length} seed ${seed}: ${reopened.state}`);
          assert.ok(reopened.lastSeq === lastBefore || reopened.lastSeq === lastAfter, `crash ${crashAt} seed ${seed}: last record ${reopened.lastSeq}`);
          if (crashAt === events.length) assert.equal(reopened.lastSeq, lastAfter, 'every write done: the commit is there');
          if (crashAt <= barrierAt) assert.equal(reopened.lastSeq, lastBefore, 'before the barrier returned: the commit is absent');
          outcomes.set(reopened.lastSeq, (outcomes.get(reopened.lastSeq) ?? 0) + 1);
        } finally {
          await reopened.close();
        }
      }
    }
    assert.equal(outcomes.size, 2, 'both outcomes reached');
  });
});

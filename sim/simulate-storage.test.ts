/**
 * The disk-model cut of the day simulation (sim/simulate-storage.ts): a real journal commit,
 * replayed as LMDB writes it and crashed at every point with unsynced pages torn, must reopen as
 * the journal before the commit or after it, never anything else. The same for the write-ahead
 * log, through SimDisk itself (its observer of the log's writes, its trace, its rebuild): a log
 * commit over two pages reopens with it, without it, or with its torn tail cut and journaled; a
 * checkpoint cut anywhere between its LMDB transaction and its header write loses nothing.
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { removeDir, tempDir } from '../storage/testing';
import { DiskModel } from './disk-model';
import { DiskCut, SimDisk, lmdbCommitWrites } from './simulate-storage';
import { IoGate, Rng } from './simulate-world';

const IDENTITY = 'SIM-DISK-0001';
const RECORDS_BEFORE = 40;
const SEEDS = [1, 2, 3];
/** A commit over two pages has four torn states (each page kept or not): seeds enough to draw each (16 drew three). */
const LOG_SEEDS = Array.from({ length: 32 }, (_, i) => i + 1);

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
    // By name, not path: the disk model seeds its torn pages by path, and tempDir's name is random.
    const events = lmdbCommitWrites('data.mdb', before, after);
    const barrierAt = events.findIndex((e) => e.kind === 'barrier');
    assert.ok(barrierAt >= 1, 'the commit wrote data pages before its barrier');
    assert.ok(events.slice(barrierAt + 1).every((e) => e.kind === 'write' && e.sync && e.offset < 2 * 4096), 'only meta pages follow the barrier, synchronously');
    const outcomes = new Map<number, number>();
    const model = new DiskModel(events, { initialFiles: new Map([['data.mdb', before]]) });
    for (let crashAt = 0; crashAt <= events.length; crashAt++) {
      for (const seed of SEEDS) {
        const state = tempDir('simdisk-state-');
        dirs.push(state);
        copyFileSync(join(dir, 'lock.mdb'), join(state, 'lock.mdb'));
        writeFileSync(join(state, 'data.mdb'), model.filesAt(crashAt, { mode: 'torn', seed }).get('data.mdb') as Buffer);
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

  /** A copy of `from` (a closed journal): `before` runs, then `work` under an armed SimDisk, then the power is cut. */
  async function cutAt(from: string, crashAt: number, seed: number, before: (j: Journal) => Promise<unknown>, work: (j: Journal) => Promise<unknown>, walTailRecordsMax?: number): Promise<{ dir: string; cut: DiskCut }> {
    const dir = tempDir('simdisk-wal-');
    dirs.push(dir);
    for (const f of readdirSync(from)) copyFileSync(join(from, f), join(dir, f));
    const disk = new SimDisk(dir, new IoGate(), new Rng(seed));
    const j = await Journal.open({ dir, identity: IDENTITY, walObserver: disk.walObserver, walTailRecordsMax });
    await before(j);
    disk.armDiskModel();
    await work(j);
    await j.close({ writeDeferred: false }); // a cut: no clean close's checkpoint
    const cut = disk.rebuildAsDisk(new Rng(seed), crashAt);
    assert.ok(cut, 'armed');
    return { dir, cut };
  }

  it('everyCrashPointOfALogCommitOverTwoPagesReopensWithItWithoutItOrItsTornTailCut', async () => {
    const base = tempDir('simdisk-base-');
    dirs.push(base);
    await journalWith(base, RECORDS_BEFORE);
    // The next commit starts near the end of the log's first page of commits and ends in the second.
    const first = (j: Journal): Promise<unknown> => j.append('test', { i: 'a', note: 'x'.repeat(3500) });
    const second = (j: Journal): Promise<unknown> => j.append('test', { i: 'b', note: 'y'.repeat(2000) });
    const outcomes = new Map<string, number>();
    for (let crashAt = 0, events = Infinity; crashAt <= events; crashAt++) {
      for (const seed of LOG_SEEDS) {
        const { dir, cut } = await cutAt(base, crashAt, seed, first, second);
        events = cut.events;
        const log = cut.logCommit;
        assert.ok(log, 'the commit went to journal.wal');
        assert.equal(log.pages, 2, 'the commit spans two pages');
        assert.equal(log.first, RECORDS_BEFORE + 3, 'record 1 (created), the records before, a, then b');
        const reopened = await Journal.open({ dir, identity: IDENTITY });
        try {
          assert.equal(reopened.state, 'ok', `crash ${crashAt} seed ${seed}: ${reopened.state}`);
          const at = reopened.get(log.first);
          if (log.outcome === 'kept') assert.equal(at?.payload.i, 'b', `crash ${crashAt} seed ${seed}: kept, reopened without it`);
          else if (log.outcome === 'torn-tail') assert.ok(at?.type === RecordType.recovery && at.payload.action === 'tail-cut' && String(at.payload.reason).includes('journal.wal'), `crash ${crashAt} seed ${seed}: torn tail not journaled as cut`);
          else assert.equal(reopened.lastSeq, log.first - 1, `crash ${crashAt} seed ${seed}: ${log.outcome}, reopened with record ${reopened.lastSeq}`);
          assert.equal(reopened.get(log.first - 1)?.payload.i, 'a', 'the acknowledged commit before it is kept');
          if (crashAt === 0) assert.equal(log.outcome, 'dropped', 'nothing written at crash point 0');
          if (crashAt === events) assert.equal(log.outcome, 'kept', 'flushed: kept');
          outcomes.set(log.outcome, (outcomes.get(log.outcome) ?? 0) + 1);
        } finally {
          await reopened.close();
        }
      }
    }
    assert.deepEqual([...outcomes.keys()].sort(), ['dropped', 'kept', 'torn-head', 'torn-tail'], `outcomes ${JSON.stringify([...outcomes])}`);
  });

  it('everyCrashPointOfACheckpointLosesNothingInEveryOrderOfItsTwoWrites', async () => {
    const base = tempDir('simdisk-base-');
    dirs.push(base);
    await journalWith(base, RECORDS_BEFORE);
    // Five records in the log, not yet in LMDB: the state a settlement's checkpoint starts from.
    const logged = async (j: Journal): Promise<void> => {
      for (let i = 0; i < 5; i++) await j.append('test', { i: `log-${i}`, note: 'z'.repeat(300) });
    };
    const states = new Set<string>();
    for (let crashAt = 0, events = Infinity; crashAt <= events; crashAt++) {
      for (const seed of SEEDS) {
        const { dir, cut } = await cutAt(base, crashAt, seed, logged, (j) => j.checkpoint());
        events = cut.events;
        assert.ok(cut.checkpoint, 'a checkpoint was traced');
        states.add(`lmdb ${cut.checkpoint.lmdb}, header ${cut.checkpoint.header}`);
        const reopened = await Journal.open({ dir, identity: IDENTITY });
        try {
          assert.equal(reopened.state, 'ok', `crash ${crashAt} seed ${seed}: ${reopened.state}`);
          assert.equal(reopened.lastSeq, RECORDS_BEFORE + 6, `crash ${crashAt} seed ${seed}: a checkpoint cut lost records`);
          assert.equal(reopened.get(RECORDS_BEFORE + 6)?.payload.i, 'log-4');
        } finally {
          await reopened.close();
        }
      }
    }
    assert.deepEqual([...states].sort(), ['lmdb false, header false', 'lmdb true, header false', 'lmdb true, header true'], 'every order state between the two writes reached');
  });

  it('everyCrashPointOfACommitThatFillsTheLogLosesNothingAcknowledged', async () => {
    // The log holds LOG_FULL_RECORDS: the next commit checkpoints them first (LMDB transaction,
    // header), then writes its own records to the log started over, all in one append. A cut
    // anywhere in that keeps every acknowledged record, and the new commit exactly as the disk kept it.
    const LOG_FULL_RECORDS = 5;
    const base = tempDir('simdisk-base-');
    dirs.push(base);
    await journalWith(base, RECORDS_BEFORE);
    const logged = async (j: Journal): Promise<void> => {
      for (let i = 0; i < LOG_FULL_RECORDS; i++) await j.append('test', { i: `log-${i}`, note: 'z'.repeat(300) });
    };
    const last = RECORDS_BEFORE + 1 + LOG_FULL_RECORDS;
    const next = (j: Journal): Promise<unknown> => j.appendMany([{ type: 'test', payload: { i: 'next-0' } }, { type: 'test', payload: { i: 'next-1' } }]);
    const states = new Set<string>();
    for (let crashAt = 0, events = Infinity; crashAt <= events; crashAt++) {
      for (const seed of SEEDS) {
        const { dir, cut } = await cutAt(base, crashAt, seed, logged, next, LOG_FULL_RECORDS);
        events = cut.events;
        assert.ok(cut.checkpoint, 'the commit checkpointed the full log first');
        assert.ok(cut.logCommit, 'then wrote its records to the log');
        assert.equal(cut.logCommit.first, last + 1);
        states.add(`lmdb ${cut.checkpoint.lmdb}, header ${cut.checkpoint.header}, commit ${cut.logCommit.outcome}`);
        const reopened = await Journal.open({ dir, identity: IDENTITY });
        try {
          assert.equal(reopened.state, 'ok', `crash ${crashAt} seed ${seed}: ${reopened.state}`);
          assert.equal(reopened.get(last)?.payload.i, `log-${LOG_FULL_RECORDS - 1}`, `crash ${crashAt} seed ${seed}: an acknowledged record of the full log is lost`);
          const at = reopened.get(last + 1);
          if (cut.logCommit.outcome === 'kept') assert.equal(reopened.get(last + 2)?.payload.i, 'next-1', `crash ${crashAt} seed ${seed}: kept, reopened without it`);
          else if (cut.logCommit.outcome === 'torn-tail') assert.ok(at?.type === RecordType.recovery && at.payload.action === 'tail-cut', `crash ${crashAt} seed ${seed}: torn tail not journaled as cut`);
          else assert.equal(reopened.lastSeq, last, `crash ${crashAt} seed ${seed}: ${cut.logCommit.outcome}, reopened with record ${reopened.lastSeq}`);
          if (crashAt === events) assert.equal(cut.logCommit.outcome, 'kept', 'every write done: the commit is there');
        } finally {
          await reopened.close();
        }
      }
    }
    const reached = [...states].sort();
    for (const want of ['lmdb false, header false, commit dropped', 'lmdb true, header false, commit dropped', 'lmdb true, header true, commit dropped', 'lmdb true, header true, commit kept']) {
      assert.ok(reached.includes(want), `${want}: not reached (${reached.join('; ')})`);
    }
  });
});

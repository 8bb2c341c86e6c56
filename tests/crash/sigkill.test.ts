import { strict as assert } from 'node:assert';
import { removeDir, tempDir } from '../../storage/testing';
import { assertAcksSurvived, runWriter } from './harness';

/** SIGKILL proves process-crash safety only (the page cache survives); tests/powercut covers power cuts. */
describe('journal: process crash (SIGKILL at random moments)', function () {
  this.timeout(300_000);
  // 60 per writer in CI (100 until session 18: 80 s of CI's 18 minutes; each kill is a node start,
  // a journal open and a reopen). POS_CRASH_KILLS=N runs more.
  const KILLS_PER_WRITER = Number(process.env.POS_CRASH_KILLS ?? 60);
  const WRITERS_IN_PARALLEL = 2;

  it(`everyAcknowledgedRecordSurvives${KILLS_PER_WRITER * WRITERS_IN_PARALLEL}Kills`, async () => {
    let seed = 12345;
    const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    const totals = { kills: 0, acked: 0, cut: 0 };
    await Promise.all(Array.from({ length: WRITERS_IN_PARALLEL }, async (_, w) => {
      const dir = tempDir(`crash${w}-`);
      try {
        for (let i = 0; i < KILLS_PER_WRITER; i++) {
          const run = await runWriter(dir, { killAfterReadyMs: Math.floor(random() * 40) });
          assert.equal(run.signal, 'SIGKILL', `writer ended by itself: ${run.lines.slice(-3).join(' | ')} ${run.stderr}`);
          const j = await assertAcksSurvived(dir, run.acks, `writer ${w} kill ${i}`);
          if (j.openReport.tornTail) totals.cut++;
          await j.close();
          totals.kills++;
          totals.acked += run.acks.size;
        }
      } finally {
        removeDir(dir);
      }
    }));
    process.stderr.write(`      ${totals.kills} kills, ${totals.acked} acknowledged appends checked, ${totals.cut} torn tails cut\n`);
    assert.ok(totals.acked > totals.kills, 'the writers acknowledged records before being killed');
  });
});

import { strict as assert } from 'node:assert';
import { needTool } from '../support/tools';
import { removeDir, tempDir } from '../../storage/testing';
import { assertAcksSurvived, runWriter } from './harness';

/**
 * Real I/O faults injected by strace into the writer's system calls (DESIGN.md): the append
 * rejects with the typed error, later appends fail the same way, the process neither crashes nor
 * dies of an unhandled rejection, and every acknowledged record is still there afterwards.
 */
describe('journal: fault injection with strace', function () {
  this.timeout(120_000);
  let dir: string;
  before(function () { needTool(this, 'strace'); });
  beforeEach(() => { dir = tempDir('fault-'); });
  afterEach(() => removeDir(dir));

  /**
   * strace's `when` counts per thread. The journal commits on the main thread (syncCommit), so
   * the Nth fdatasync is the Nth commit (opening a new journal commits twice); with lmdb-js's
   * write threads, each thread's Nth call. `when=N+` keeps failing from there on either way.
   */
  async function expectTypedFailure(strace: string[], code: string | RegExp): Promise<void> {
    const run = await runWriter(dir, { count: 400, strace: ['-f', '-qq', ...strace] });
    const err = run.lines.find((l) => l.startsWith('ERR '));
    assert.equal(run.exitCode, 0, `writer crashed: ${run.lines.slice(-5).join(' | ')} ${run.stderr.slice(-500)}`);
    assert.ok(err, `no error surfaced: ${run.lines.slice(-3).join(' | ')}`);
    if (typeof code === 'string') assert.equal(err.split(' ')[1], code, err);
    else assert.match(err, code);
    code = err.split(' ')[1];
    const retries = run.lines.filter((l) => l.startsWith('RETRY'));
    assert.equal(retries.length, 5);
    assert.ok(retries.every((l) => l === `RETRY ${code}`), `later appends fail the same way: ${retries.join(', ')}`);
    assert.ok(run.lines.includes('DONE'));
    const j = await assertAcksSurvived(dir, run.acks, code);
    await j.close();
  }

  it('eioFromFdatasyncIsAStorageIoErrorAndLosesNothingAcknowledged', async () => {
    await expectTypedFailure(['-e', 'trace=fdatasync', '-e', 'inject=fdatasync:error=EIO:when=5+'], 'E-STO-03');
  });

  // An injected error on a data-page write surfaces with its errno; on the meta-page write LMDB
  // reports MDB_PANIC instead (E-STO-03). Either way: typed, no crash, nothing acknowledged lost.
  it('enospcFromPwriteIsATypedStorageErrorNamingTheCause', async () => {
    await expectTypedFailure(['-e', 'trace=pwrite64', '-e', 'inject=pwrite64:error=ENOSPC:when=12+'], /^ERR (E-STO-01 .*ENOSPC|E-STO-03 .*MDB_PANIC)/);
  });

  it('erofsFromPwriteIsATypedStorageError', async () => {
    await expectTypedFailure(['-e', 'trace=pwrite64', '-e', 'inject=pwrite64:error=EROFS:when=12+'], /^ERR (E-STO-04 .*EROFS|E-STO-03 .*MDB_PANIC)/);
  });

  it('sigkillAtTheNthWriteLosesNothingAcknowledged', async () => {
    for (const n of [5, 17, 33, 45]) {
      const run = await runWriter(dir, { count: 400, strace: ['-f', '-qq', '-e', 'trace=pwrite64,pwritev', '-e', `inject=pwrite64,pwritev:signal=SIGKILL:when=${n}`] });
      assert.notEqual(run.exitCode, 0, `writer should have been killed at write ${n}`);
      const j = await assertAcksSurvived(dir, run.acks, `kill at write ${n}`);
      await j.close();
    }
  });
});

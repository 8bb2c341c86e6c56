/**
 * The archive of settled batches through the terminal application (boot/terminal-app.ts on the
 * simulator board, in-process): the boot that finds the journal past its threshold, settled and
 * owing nothing, archives it and reaches the login screen on the new journal; the operators log in
 * as before; the next boot does not archive again; a journal with a transaction in its open batch
 * is left as it is.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { openForBoot } from '../../storage/boot-open';
import { checkpointKey } from '../../storage/checkpoint';
import { join } from 'node:path';
import { TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { createSimBoard } from '../../sim/board-sim';
import { silentLogger } from '../../common/log';
import { removeDir, tempDir } from '../../storage/testing';
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { SIM_IDENTITY } from '../../boot/sim-provision';
import { ARCHIVE_FILE_SUFFIX, archiveDirFor } from '../../runtime/archive';

const STATE_WAIT_MS_MAX = 60_000;
/** The test's threshold: above what the new journal starts with, below the journal it archives. */
const RECORDS_MIN = 60;

async function bootToLogin(root: string, archiveBytesMax?: number): Promise<ProbeSnapshot> {
  const sim = await createSimBoard();
  const app = TerminalApp.create({
    board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: 9 },
    logger: silentLogger, scryptN: 1024, backgroundVerifyDelayMs: STATE_WAIT_MS_MAX, archiveRecordsMin: RECORDS_MIN,
    ...(archiveBytesMax !== undefined ? { archiveBytesMax } : {}),
  });
  try {
    const seen: string[] = [];
    const reached = new Promise<ProbeSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`login not reached; states seen: ${seen.join(' ')}`)), STATE_WAIT_MS_MAX);
      const stop = app.probe.onChange((raw) => {
        const s = raw as ProbeSnapshot;
        if (seen[seen.length - 1] !== s.state) seen.push(s.state);
        if (s.state === 'login') { clearTimeout(timer); stop(); resolve(s); }
      });
    });
    await app.boot();
    return await reached;
  } finally {
    await app.stop();
    await sim.close();
  }
}

/** Appends filler and a closed batch (nothing owed, nothing in the new batch). */
async function settledDay(dir: string, fillers: number, batch = 1): Promise<number> {
  const j = await Journal.open({ dir, identity: SIM_IDENTITY });
  try {
    for (let i = 0; i < fillers; i++) await j.append('test', { i, note: 'a day of records' });
    await j.append('batchClosed', { batch, nextBatch: batch + 1, totals: { saleAmountFen: 0, saleCount: 0, refundAmountFen: 0, refundCount: 0 }, verdict: 'balanced', offlineNotTaken: [] });
    await j.append('receiptPrinted', { stan: 0, copy: 'settlement', reprint: false, batch });
    return j.lastSeq;
  } finally {
    await j.close();
  }
}

async function head(dir: string): Promise<{ lastSeq: number; archived?: unknown; operators: number }> {
  const j = await Journal.open({ dir, identity: SIM_IDENTITY, readOnly: true });
  try {
    const second = j.get(2);
    const operators = [...j.records()].filter((r) => r.type === RecordType.operator).length;
    return { lastSeq: j.lastSeq, ...(second?.type === RecordType.recovery ? { archived: second.payload.action } : {}), operators };
  } finally {
    await j.close();
  }
}

describe('terminal: the boot archives settled batches', function () {
  this.timeout(300_000);
  let root = '';
  beforeEach(() => { root = tempDir('archive-app-'); });
  afterEach(() => { removeDir(root); removeDir(archiveDirFor(join(root, 'journal'))); });

  it('aSettledJournalPastItsThresholdIsArchivedAtBootAndTheNextBootLeavesItAlone', async () => {
    const dir = join(root, 'journal');
    await bootToLogin(root);
    const ops = (await head(dir)).operators;
    assert.ok(ops > 0, 'the simulator board wrote its operators');
    const archivedCount = await settledDay(dir, RECORDS_MIN);
    await bootToLogin(root);
    const after = await head(dir);
    assert.equal(after.archived, 'archived');
    assert.ok(after.lastSeq < RECORDS_MIN, `the new journal holds ${after.lastSeq} records`);
    assert.equal(after.operators, ops, 'every operator carried');
    const files = readdirSync(archiveDirFor(dir)).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX));
    assert.equal(files.length, 1);
    assert.ok(files[0].includes(String(archivedCount).padStart(10, '0')), files[0]);
    // The new journal came with its boot checkpoint: no full verify in a child for it.
    const opened = await openForBoot({ dir, identity: SIM_IDENTITY, logger: silentLogger, checkpointKey: checkpointKey(readFileSync(join(root, 'device.key'))) });
    try {
      assert.equal(opened.path, 'checkpoint', opened.reason);
    } finally {
      opened.done();
      await opened.journal.close();
    }
    // The next boot: nothing to archive (the new journal is below the threshold).
    await bootToLogin(root);
    assert.equal((await head(dir)).lastSeq >= after.lastSeq, true);
    assert.equal(readdirSync(archiveDirFor(dir)).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX)).length, 1);
  });

  it('archivesOverTheirBudgetNeverExported_areKept_andLoginSaysE-STO-15', async () => {
    const dir = join(root, 'journal');
    await bootToLogin(root);
    await settledDay(dir, RECORDS_MIN);
    await bootToLogin(root, 1);
    await settledDay(dir, RECORDS_MIN, 2);
    const login = await bootToLogin(root, 1);
    const files = readdirSync(archiveDirFor(dir)).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX));
    assert.equal(files.length, 2, 'nothing removed: neither archive was exported');
    assert.ok(login.screen.text.join('\n').includes('E-STO-15'), login.screen.text.join('\n'));
    // Under a budget that holds them, no notice.
    const calm = await bootToLogin(root);
    assert.ok(!calm.screen.text.join('\n').includes('E-STO-15'), calm.screen.text.join('\n'));
  });

  it('aJournalWithNothingSettledIsNotArchived', async () => {
    const dir = join(root, 'journal');
    await bootToLogin(root);
    const j = await Journal.open({ dir, identity: SIM_IDENTITY });
    for (let i = 0; i < RECORDS_MIN; i++) await j.append('test', { i });
    await j.close();
    await bootToLogin(root);
    assert.equal((await head(dir)).archived, undefined);
    assert.equal(existsSync(archiveDirFor(dir)), false);
  });
});

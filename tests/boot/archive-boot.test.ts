/**
 * The archive of settled batches through the terminal application (boot/terminal-app.ts on the
 * simulator board, in-process): the boot that finds the journal past its threshold, settled and
 * owing nothing, archives it and reaches the login screen on the new journal; the operators log in
 * as before; the next boot does not archive again; a journal with a transaction in its open batch
 * is left as it is. Archives over their budget never exported are kept, and login says so: E-STO-15
 * read in turns on the panel's notice row (the code, the cause, the first step: where to export).
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
import { SIM_IDENTITY } from '../../boot/sim-provision';
import { journalHead } from '../support/journal-head';
import { ARCHIVE_FILE_SUFFIX, archiveDirFor } from '../../runtime/archive';
import { NOTICE_TURN_MS } from '../../ui-lcd/screen';
import { NOTICE_TEST_TICK_MS } from './notice-watch';

const STATE_WAIT_MS_MAX = 60_000;
/** The test's threshold: above what the new journal starts with, below the journal it archives. */
const RECORDS_MIN = 60;

/**
 * E-STO-15's notice on the simulator board's 128x64 panel in Chinese (the terminal's default), turn
 * by turn (ui-lcd/layout.ts noticeParts): the code, the cause, the first step (the recovery menu,
 * a USB stick) in two.
 */
const ARCHIVE_TURNS = ['E-STO-15', '旧流水需要导出', '在恢复菜单中用', 'U盘导出'];

/** The login screen, and its notice row (the panel's last) over turns of the terminal's clock. */
interface AtLogin {
  readonly login: ProbeSnapshot;
  readonly noticeRows: string[];
}

/** Notice turns to read at login: at most `turns`, fewer once every one of `until` was seen. */
interface ReadTurns {
  readonly turns: number;
  readonly until?: readonly string[];
}

/**
 * Boots to the login screen; with `read`, then moves the terminal's clock on a turn at a time
 * (NOTICE_TURN_MS) and reads the notice row at each.
 */
async function bootToLogin(root: string, archiveBytesMax?: number, read: ReadTurns = { turns: 0 }): Promise<AtLogin> {
  const sim = await createSimBoard();
  let aheadMs = 0;
  const app = TerminalApp.create({
    board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: 9 },
    logger: silentLogger, scryptN: 1024, backgroundVerifyDelayMs: STATE_WAIT_MS_MAX, archiveRecordsMin: RECORDS_MIN,
    ...(archiveBytesMax !== undefined ? { archiveBytesMax } : {}), clock: () => Date.now() + aheadMs,
    // Each notice turn read waits for a redraw: a tick of 50 ms, not TICK_MS's 500 (tests/boot/notice-watch.ts).
    tickMs: NOTICE_TEST_TICK_MS,
  });
  let latest: ProbeSnapshot | undefined;
  const noticeRow = (): string => latest?.screen.text.at(-1) ?? '';
  // When the notice looked for first showed, on the terminal's clock: its turns count from then
  // (boot/terminal-app.ts withNoticeTurn), not from the clock's zero.
  let noticeAtMs: number | undefined;
  app.probe.onChange((raw) => {
    latest = raw as ProbeSnapshot;
    if (noticeAtMs === undefined && read.until?.includes(noticeRow()) === true) noticeAtMs = Date.now() + aheadMs;
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
    const login = await reached;
    const noticeRows = [noticeRow()];
    const seenAll = (): boolean => read.until !== undefined && read.until.every((w) => noticeRows.includes(w));
    for (let i = 0; i < read.turns && !seenAll(); i++) {
      // The clock to the middle of the notice's next turn, counted from when it showed: the real
      // time each read takes stays inside the turn, however many reads came before.
      const now = Date.now() + aheadMs;
      aheadMs += noticeAtMs === undefined ? NOTICE_TURN_MS : noticeAtMs + (i + 1.5) * NOTICE_TURN_MS - now;
      // The tick (NOTICE_TEST_TICK_MS here) redraws when the turn moves on; a row that stays the same is read after two.
      await new Promise((r) => setTimeout(r, 2 * NOTICE_TEST_TICK_MS));
      assert.equal(latest?.state, 'login');
      noticeRows.push(noticeRow());
    }
    return { login, noticeRows };
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

describe('terminal: the boot archives settled batches', function () {
  this.timeout(300_000);
  let root = '';
  beforeEach(() => { root = tempDir('archive-app-'); });
  afterEach(() => { removeDir(root); removeDir(archiveDirFor(join(root, 'journal'))); });

  it('aSettledJournalPastItsThresholdIsArchivedAtBootAndTheNextBootLeavesItAlone', async () => {
    const dir = join(root, 'journal');
    await bootToLogin(root);
    const ops = (await journalHead(dir)).operators;
    assert.ok(ops > 0, 'the simulator board wrote its operators');
    const archivedCount = await settledDay(dir, RECORDS_MIN);
    await bootToLogin(root);
    const after = await journalHead(dir);
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
    assert.equal((await journalHead(dir)).lastSeq >= after.lastSeq, true);
    assert.equal(readdirSync(archiveDirFor(dir)).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX)).length, 1);
  });

  it('archivesOverTheirBudgetNeverExported_areKept_andLoginSaysE-STO-15', async () => {
    const dir = join(root, 'journal');
    await bootToLogin(root);
    await settledDay(dir, RECORDS_MIN);
    await bootToLogin(root, 1);
    await settledDay(dir, RECORDS_MIN, 2);
    const { noticeRows } = await bootToLogin(root, 1, { turns: 2 * ARCHIVE_TURNS.length, until: ARCHIVE_TURNS });
    const files = readdirSync(archiveDirFor(dir)).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX));
    assert.equal(files.length, 2, 'nothing removed: neither archive was exported');
    // The code, the cause and where to export, each read whole in its turn; nothing else on the row.
    for (const w of ARCHIVE_TURNS) assert.ok(noticeRows.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(noticeRows)}`);
    for (const r of noticeRows) assert.ok(ARCHIVE_TURNS.includes(r), `${JSON.stringify(r)} is not a turn of E-STO-15's notice: ${JSON.stringify(noticeRows)}`);
    // In their order, a turn a step: after the step's last part the code comes round again.
    const at = noticeRows.map((r) => ARCHIVE_TURNS.indexOf(r));
    for (let i = 1; i < at.length; i++) assert.equal(at[i], (at[i - 1] + 1) % ARCHIVE_TURNS.length, JSON.stringify(noticeRows));
    // Under a budget that holds them, no notice: none of its turns comes round.
    const calm = await bootToLogin(root, undefined, { turns: ARCHIVE_TURNS.length });
    assert.ok(!calm.noticeRows.some((r) => ARCHIVE_TURNS.includes(r) || r.includes('E-STO-15')), JSON.stringify(calm.noticeRows));
    assert.ok(!calm.login.screen.text.join('\n').includes('E-STO-15'), calm.login.screen.text.join('\n'));
  });

  it('aJournalWithNothingSettledIsNotArchived', async () => {
    const dir = join(root, 'journal');
    await bootToLogin(root);
    const j = await Journal.open({ dir, identity: SIM_IDENTITY });
    for (let i = 0; i < RECORDS_MIN; i++) await j.append('test', { i });
    await j.close();
    await bootToLogin(root);
    assert.equal((await journalHead(dir)).archived, undefined);
    assert.equal(existsSync(archiveDirFor(dir)), false);
  });
});

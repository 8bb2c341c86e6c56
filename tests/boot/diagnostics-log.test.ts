/**
 * The last-errors row of diagnostics (boot/diagnostics.ts) is a list, not a check: its row and its
 * page's first line give how many errors the page lists ("Last errors 2", "最近错误 2条"), never
 * "OK" above a page of errors; with none logged, "none". The page is the list itself.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { Diagnostics, ErrorRing } from '../../boot/diagnostics';
import { silentLogger } from '../../common/log';
import type { LocalText } from '../../ui-lcd/screen';
import { SimBoard, createSimBoard } from '../../sim/board-sim';

async function logRow(sim: SimBoard, errors: ErrorRing, logTimeOffsetMs = 0): Promise<{ row: LocalText; first: unknown }> {
  const diag = new Diagnostics({
    board: sim.board, journalDir: path.join(os.tmpdir(), 'pos-diag-log-no-journal'), errors, logTimeOffsetMs: () => logTimeOffsetMs,
    networkTest: async () => ({ action: 'network-test', ok: true, journaled: false, lines: ['OK lo up'] }),
    pages: () => 1, changed: () => undefined, close: () => undefined, logger: silentLogger, clock: () => 0,
  });
  try {
    await diag.done;
    const items = diag.screen().menu?.items ?? [];
    const row = items.find((i) => i.value === 'log');
    assert.ok(row, 'a last-errors row');
    diag.press('9');
    for (let i = 0; i < 50 && !diag.screen().id.startsWith('diagnostics:log'); i++) await new Promise((r) => setTimeout(r, 10));
    const page = diag.screen();
    assert.equal(page.id, 'diagnostics:log');
    return { row: row.label as LocalText, first: page.lines?.[0] };
  } finally {
    diag.close();
  }
}

describe('diagnostics: the last errors row', function () {
  this.timeout(20_000);
  let sim: SimBoard | undefined;
  beforeEach(async () => { sim = await createSimBoard(); });
  afterEach(async () => { await sim?.close(); sim = undefined; });

  it('errorsLoggedAreCountedOnTheRowAndThePageNeverOk', async () => {
    const ring = new ErrorRing();
    ring.add({ timeMs: 0, code: 'E-NET-02', msg: 'no network address' });
    ring.add({ timeMs: 1, code: 'E-PRN-01', msg: 'printer out of paper' });
    const { row, first } = await logRow(sim!, ring);
    assert.match(row.en, /Last errors 2$/);
    assert.match(row.zh, /最近错误 2条$/);
    assert.match((first as { en: string }).en, /^\S+ E-PRN-01 printer out of paper$/, 'the page is the list, newest first, no "OK" above it');
  });

  it('anErrorsTimeIsShownOnTheTerminalsCorrectedClockNotTheMachines', async () => {
    const ring = new ErrorRing();
    ring.add({ timeMs: Date.UTC(2026, 10, 21, 2, 0, 0), code: 'E-NET-02', msg: 'no network address' }); // 10:00:00 in China by the machine
    const { first } = await logRow(sim!, ring, -8 * 3600_000); // the host set the terminal 8 h back
    assert.match((first as { en: string }).en, /^02:00:00 E-NET-02 /);
  });

  it('noErrorsLoggedReadsNone', async () => {
    const { row } = await logRow(sim!, new ErrorRing());
    assert.match(row.en, /Last errors none$/);
    assert.match(row.zh, /最近错误 无$/);
  });
});

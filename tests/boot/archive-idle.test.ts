/**
 * The archive of settled batches on a terminal that is never switched off (boot/terminal-app.ts
 * archiveWhenQuiet): a journal past its threshold is archived after the settlement that leaves it
 * settled, once nobody uses the terminal, by booting again in process; the terminal comes back to
 * idle on the new journal with every operator, the one who was logged in still logged in. Before, only a power-on archived, and a
 * terminal in its charging cradle for weeks grew its journal until storage was full. A sale in the
 * new batch puts the archive off; it is tried once per settlement.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NoticeRig } from './notice-watch';
import { Journal } from '../../storage/journal';
import { SIM_IDENTITY } from '../../boot/sim-provision';
import { journalHead } from '../support/journal-head';
import { ARCHIVE_FILE_SUFFIX, archiveDirFor } from '../../runtime/archive';
import { TEST_CARDS } from '../../sim/test-cards';
import type { KeyName } from '../../hal/keypad';

/** The test's threshold: below the filler the journal gets, above what the new journal starts with. */
const RECORDS_MIN = 150;
/** Tests only: a key keeps the terminal in use this long (the product's is 5 s). */
const IN_USE_AFTER_KEY_MS = 1_000;
const SUPERVISOR_LOGIN: readonly KeyName[] = ['9', '9', 'OK', '9', '9', '9', '9', 'OK'];

async function fill(dir: string, records: number): Promise<void> {
  const j = await Journal.open({ dir, identity: SIM_IDENTITY });
  try {
    for (let i = 0; i < records; i++) await j.append('test', { i, note: 'weeks of records' });
  } finally {
    await j.close();
  }
}

describe('terminal: a terminal left on archives its settled journal at idle', function () {
  this.timeout(120_000);
  const rig = new NoticeRig('posarchiveidle-');
  rig.hooks();
  const w = rig.w;
  const journalDir = (): string => join(rig.root, 'journal');
  const archives = (): string[] => (existsSync(archiveDirFor(journalDir())) ? readdirSync(archiveDirFor(journalDir())).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX)) : []);
  const boot = (): Promise<void> => rig.boot({ app: () => ({ archiveRecordsMin: RECORDS_MIN, inUseAfterKeyMs: IN_USE_AFTER_KEY_MS }) });

  /** A sale of 12.34 by swipe, no customer copy, to idle. */
  async function sale(): Promise<void> {
    rig.type(['1', '2', '3', '4', 'OK']);
    await w.until('the card screen', (s) => s.state === 'sale.card');
    await rig.sim.reader().detectionStarted();
    rig.sim.reader().swipe(TEST_CARDS.magDebit);
    await w.until('the customer copy question', (s) => s.state === 'sale.askCustomerCopy');
    rig.type(['2']);
    for (;;) {
      const s = await w.until('idle or the signature', (x) => x.state === 'idle' || x.state === 'sale.signature');
      if (s.state === 'idle') return;
      rig.type(['OK']);
      await w.until('past the signature', (x) => x.state !== 'sale.signature');
    }
  }

  async function settle(): Promise<void> {
    rig.type(['MENU', '6']);
    await w.until('the settlement totals', (s) => s.state === 'settlement.confirm');
    rig.type(['OK']);
    await w.until('the settlement result', (s) => s.state === 'settlement.result');
    rig.type(['OK']);
    await w.until('idle', (s) => s.state === 'idle');
  }

  async function dayPastTheThreshold(): Promise<number> {
    await boot();
    await rig.stop();
    const operators = (await journalHead(journalDir())).operators;
    await fill(journalDir(), RECORDS_MIN);
    // Nothing settled yet: this boot leaves the journal as it is.
    await boot();
    assert.deepEqual(archives(), []);
    rig.type(SUPERVISOR_LOGIN);
    await w.until('idle', (s) => s.state === 'idle');
    await sale();
    return operators;
  }

  it('afterTheSettlementTheTerminalBootsAgainIntoTheArchiveAndComesBackToIdleWithTheOperatorStillLoggedIn', async () => {
    const operators = await dayPastTheThreshold();
    assert.deepEqual(archives(), []);
    await settle();
    // Nobody types: the boot again, then idle on the new journal with the supervisor who settled.
    await w.until('the boot', (s) => s.state !== 'idle');
    const back = await w.until('idle again', (s) => s.state === 'idle');
    assert.equal(archives().length, 1, 'the archive written');
    assert.equal(back.data.operator, '099', 'the operator logged in before the archive is still');
    assert.equal(back.data.signedOn, true);
    await sale();
    await rig.stop();
    const after = await journalHead(journalDir());
    assert.equal(after.archived, 'archived');
    assert.ok(after.lastSeq < RECORDS_MIN, `the new journal holds ${after.lastSeq} records`);
    assert.equal(after.operators, operators, 'every operator carried');
  });

  it('aSaleBeforeTheTerminalIsQuietPutsTheArchiveOff', async () => {
    await dayPastTheThreshold();
    await settle();
    // Typing within the quiet time, then a sale: the new batch holds a transaction, nothing is archived.
    rig.type(['5']);
    rig.type(['CANCEL']);
    await sale();
    await new Promise((r) => setTimeout(r, 4 * IN_USE_AFTER_KEY_MS));
    assert.equal(w.latest?.state, 'idle', 'still at idle: no boot again');
    assert.deepEqual(archives(), []);
  });
});

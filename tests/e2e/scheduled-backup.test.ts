/**
 * The terminal backs itself up (storage/scheduled-backup.ts, README "Backups"), end to end on the
 * simulator board, as a cashier and a technician use it: a sale, a settlement at the keypad, and
 * once the terminal rests at idle a sealed backup of batch 1 appears in the board's backup folder
 * (the simulator board's backup.enabled); a later sale is not in it; the recovery menu's "restore
 * from backup" lists it, imports it without a passphrase (the device key opens it) and the
 * journal it leaves holds the settled sale, the closed batch, and not the later sale.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { scheduledBatchOf } from '../../storage/scheduled-backup';
import { Driver, terminalPerTest } from './driver';

const SETTLED_FEN = 4321;
const LATER_FEN = 1234;
const BOOT_WAIT_MS = 60_000;
/** A key keeps the terminal in use 5 s (boot/in-use.ts); the backup follows within a tick or two. */
const BACKUP_WAIT_MS = 30_000;

async function waitFor<T>(what: string, f: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('e2e: the terminal backs itself up after a settlement, and recovery restores it', function () {
  this.timeout(300_000);
  const bench = terminalPerTest('h-sched-backup-');
  let dir: string;
  let d: Driver;
  beforeEach(() => { ({ dir, d } = bench); });

  it('aSettlementLeavesASealedBackupThatTheRecoveryMenuRestores', async () => {
    const backupDir = join(dir, 'backup');
    const scheduled = (): string[] => (existsSync(backupDir) ? readdirSync(backupDir).filter((f) => scheduledBatchOf(f) !== undefined) : []);
    await d.powerOn();
    await d.until('login', () => true, BOOT_WAIT_MS);
    await d.keys('01OK0000OK');
    await d.until('idle');
    await d.sale(SETTLED_FEN);
    await d.until('idle');
    assert.deepEqual(scheduled(), [], 'no backup before a settlement');
    // Settlement (menu 6), the supervisor's authorization, OK to send the totals.
    await d.keys('MENU6');
    await d.until('settlement.authorize.ask');
    await d.keys('99OK9999OK');
    await d.until('settlement.confirm');
    await d.keys('OK');
    await d.until('settlement.result', () => true, 60_000);
    await d.keys('OK');
    await d.until('idle');
    const [file] = await waitFor('the scheduled backup of batch 1', () => { const f = scheduled(); return f.length ? f : undefined; }, BACKUP_WAIT_MS);
    assert.equal(scheduledBatchOf(file), 1, file);
    // A sale after the backup: the restore below must not have it.
    await d.sale(LATER_FEN);
    await d.until('idle');
    assert.equal(await d.powerOff(), 0);

    await d.powerOn({ holdReset: true });
    await d.until('recovery.locked', () => true, BOOT_WAIT_MS);
    await d.keys('00OK123456OK');
    await d.until('recovery.menu');
    await d.screen('recovery');
    // 3 restore from backup, 2 import a file: the backup folder's files, the newest first.
    await d.keys('32');
    // Listed by its time (the menu shows no names): the only file in the folder, the scheduled backup.
    const listed = await d.screen('recoveryFiles');
    assert.equal(listed.filter((l) => /^\d /.test(l)).length, 1, `one backup listed: ${listed.join('|')}`);
    await d.keys('1');
    // No passphrase asked: sealed under this terminal's device key.
    const report = await d.pages('recoveryReport:import', 30_000);
    assert.ok(report.join(' ').includes('restored'), report.join('|'));
    assert.equal(await d.powerOff(), 0);

    const j = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
    try {
      assert.equal(j.state, 'ok');
      const recs = [...j.records()];
      assert.ok(recs.some((r) => r.payload.amountFen === SETTLED_FEN), 'the settled sale is back');
      assert.ok(recs.some((r) => r.type === RecordType.batchClosed && r.payload.batch === 1), 'batch 1 closed');
      assert.ok(!recs.some((r) => r.payload.amountFen === LATER_FEN), 'the later sale came from the journal set aside, not the backup');
    } finally {
      await j.close();
    }
  });
});

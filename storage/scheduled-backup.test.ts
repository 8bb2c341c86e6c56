/**
 * The scheduled backup (storage/scheduled-backup.ts) over a real journal and backup folder, with
 * the terminal's "in use" and "settled batch" played by the test: a settlement makes a sealed
 * backup that imports and holds the records; later ones prune to keepCountMax and leave a factory
 * reset's backup alone; a missing folder is E-STO-16, logged once, and trading goes on; nothing
 * starts, and nothing is written, while the terminal is in use; archives are copied once.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pino from 'pino';
import { Journal } from './journal';
import { backupFileName, importFromFile } from './backup';
import { ScheduledBackup, ScheduledBackupOptions, scheduledBatchOf, scheduledTag } from './scheduled-backup';
import { removeDir, tempDir } from './testing';
import { RecordType } from './record';

const ID = 'SIM-0001';
const DEVICE_KEY = Buffer.alloc(32, 0x33);
const deviceKey = (): Buffer => DEVICE_KEY;

/** InUse as the terminal's (boot/in-use.ts): held, and its listeners told when that changes. */
class FakeInUse {
  held = false;
  private readonly listeners = new Set<() => void>();
  onChange(l: () => void): () => void { this.listeners.add(l); return () => { this.listeners.delete(l); }; }
  set(held: boolean): void { this.held = held; for (const l of [...this.listeners]) l(); }
}

interface Rig {
  journal: Journal;
  inUse: FakeInUse;
  batch: number | undefined;
  logs: Array<Record<string, unknown>>;
  backup: ScheduledBackup;
}

async function rig(root: string, o: Partial<ScheduledBackupOptions> = {}): Promise<Rig> {
  const journal = await Journal.open({ dir: join(root, 'journal'), identity: ID });
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => { logs.push(JSON.parse(l) as Record<string, unknown>); } });
  const r: Rig = { journal, inUse: new FakeInUse(), batch: undefined, logs, backup: undefined as unknown as ScheduledBackup };
  r.backup = new ScheduledBackup({
    enabled: true, backupDir: join(root, 'backup'), keepCountMax: 2, idleRecords: 0, deviceKey,
    journal: () => r.journal, settledBatch: () => r.batch, inUse: r.inUse, mayStart: () => true, createDir: true, logger, sliceMs: 0,
    ...o,
  });
  return r;
}

/** A day's records and its batch closed (what the backup must hold). */
async function day(r: Rig, batch: number, sales: number): Promise<void> {
  for (let i = 0; i < sales; i += 500) await r.journal.appendMany(Array.from({ length: Math.min(500, sales - i) }, (_, k) => ({ type: 'test', payload: { batch, sale: i + k, amountFen: 1000 + i + k } })));
  await r.journal.append('batchClosed', { batch, nextBatch: batch + 1, totals: { saleAmountFen: 0, saleCount: sales, refundAmountFen: 0, refundCount: 0 }, verdict: 'balanced', offlineNotTaken: [] });
  r.batch = batch;
}

function scheduled(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => scheduledBatchOf(f) !== undefined).sort() : [];
}

describe('scheduled backup (storage/scheduled-backup.ts)', function () {
  this.timeout(60_000);
  let root = '';
  let r: Rig | undefined;
  beforeEach(() => { root = tempDir('sched-backup-'); });
  afterEach(async () => {
    await r?.backup.stop();
    await r?.journal.close();
    r = undefined;
    removeDir(root);
  });

  it('aSettlementMakesASealedBackupThatImportsVerifiesAndHoldsTheSettledRecords', async () => {
    r = await rig(root);
    await r.journal.append('test', { before: 'any settlement' });
    r.backup.poke();
    await r.backup.settled();
    assert.deepEqual(scheduled(join(root, 'backup')), [], 'nothing due before a settlement (idleRecords 0)');
    await day(r, 1, 25);
    assert.equal(r.backup.due(), 'settlement');
    r.backup.poke();
    await r.backup.settled();
    const files = scheduled(join(root, 'backup'));
    assert.deepEqual(files, [backupFileName(ID, r.journal.lastSeq, scheduledTag(1))]);
    // Sealed: it opens under the device key only.
    await assert.rejects(importFromFile(join(root, 'backup', files[0]), join(root, 'no-key')), /E-STO-08/);
    const restored = await importFromFile(join(root, 'backup', files[0]), join(root, 'restored'), { deviceKey });
    assert.equal(restored.manifest.count, r.journal.lastSeq);
    const j = await Journal.open({ dir: join(root, 'restored'), identity: ID, readOnly: true });
    try {
      assert.equal(j.state, 'ok');
      const recs = [...j.records()];
      assert.equal(recs.filter((x) => x.payload.batch === 1 && typeof x.payload.sale === 'number').length, 25, 'every sale of the batch');
      assert.ok(recs.some((x) => x.type === RecordType.batchClosed && x.payload.batch === 1), 'the batch closed');
    } finally {
      await j.close();
    }
    const s = r.backup.status();
    assert.equal(s.last?.batch, 1);
    assert.equal(s.kept, 1);
    assert.equal(s.failure, undefined);
    assert.equal(r.backup.due(), undefined, 'not due again until the next settlement');
  });

  it('laterSettlementsPruneToKeepCountMaxAndLeaveAFactoryResetBackupAlone', async () => {
    r = await rig(root);
    mkdirSync(join(root, 'backup'));
    const reset = backupFileName(ID, 1, 'reset');
    writeFileSync(join(root, 'backup', reset), 'a factory reset backup');
    for (let batch = 1; batch <= 3; batch++) {
      await day(r, batch, 5);
      r.backup.poke();
      await r.backup.settled();
    }
    assert.deepEqual(scheduled(join(root, 'backup')).map((f) => scheduledBatchOf(f)), [2, 3], 'the newest two (keepCountMax 2)');
    assert.ok(existsSync(join(root, 'backup', reset)), 'the reset backup is not the scheduler\'s to remove');
    assert.deepEqual(r.backup.status().last?.removed.map((f) => scheduledBatchOf(f)), [1]);
    // A new scheduler (the next boot) reads what the folder holds: batch 3 is backed up already.
    const again = new ScheduledBackup({ enabled: true, backupDir: join(root, 'backup'), keepCountMax: 2, idleRecords: 0, deviceKey, journal: () => r!.journal, settledBatch: () => 3, inUse: r.inUse, mayStart: () => true });
    assert.equal(again.due(), undefined);
    await again.stop();
  });

  it('aMissingBackupFolderIsLoggedOnceAsE-STO-16AndTradingGoesOn', async () => {
    // A real board: the folder (the SD card's) is never created.
    r = await rig(root, { createDir: false, retryMs: 60 * 60_000 });
    await day(r, 1, 3);
    r.backup.poke();
    await r.backup.settled();
    const warned = r.logs.filter((l) => l.level === 40 && l.code === 'E-STO-16');
    assert.equal(warned.length, 1, JSON.stringify(r.logs));
    assert.match(String(warned[0].err), /is missing/);
    assert.equal(r.backup.status().failure?.code, 'E-STO-16');
    assert.equal(existsSync(join(root, 'backup')), false, 'nothing created');
    // Trading goes on: the journal takes records.
    await r.journal.append('test', { sale: 'after the failed backup' });
    // Not retried before retryMs for the same batch: no second attempt, no second warning.
    r.backup.poke();
    await r.backup.settled();
    assert.equal(r.backup.status().failure?.count, 1);
    // The card back and the next settlement: written at once, the failure cleared.
    mkdirSync(join(root, 'backup'));
    await day(r, 2, 3);
    r.backup.poke();
    await r.backup.settled();
    assert.equal(r.backup.status().failure, undefined);
    assert.deepEqual(scheduled(join(root, 'backup')).map((f) => scheduledBatchOf(f)), [2]);
    assert.ok(r.logs.some((l) => l.msg === 'backup: the backup folder works again'));
  });

  it('noBackupStartsWhileTheTerminalIsInUseAndARunningOneWritesNothingUntilItIsQuietAgain', async () => {
    r = await rig(root);
    await day(r, 1, 3_000);
    r.inUse.set(true);
    r.backup.poke();
    assert.equal(r.backup.running, false, 'in use: not started');
    // Quiet again: the listener starts it.
    r.inUse.set(false);
    assert.equal(r.backup.running, true, 'started when the terminal fell quiet');
    // A key (a sale begins) right after it started: it pauses at its next slice.
    r.inUse.set(true);
    await new Promise((res) => setTimeout(res, 150));
    const dir = join(root, 'backup');
    const sizes = (): number[] => readdirSync(dir).map((f) => statSync(join(dir, f)).size);
    assert.deepEqual(scheduled(dir), [], 'no backup file while in use');
    const first = sizes();
    await r.journal.append('test', { sale: 'during the pause' });
    await new Promise((res) => setTimeout(res, 150));
    assert.deepEqual(sizes(), first, 'nothing written while the sale goes on');
    assert.equal(r.backup.running, true);
    r.inUse.set(false);
    await r.backup.settled();
    const files = scheduled(dir);
    assert.equal(files.length, 1);
    const restored = await importFromFile(join(dir, files[0]), join(root, 'restored'), { deviceKey });
    assert.equal(restored.manifest.count, r.journal.lastSeq - 1, 'the record appended during the pause is not in it');
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
  });

  it('aBackupPausedPastPauseMsMaxIsAbandonedAndWrittenAtTheNextQuietMoment', async () => {
    r = await rig(root, { pauseMsMax: 50 });
    await day(r, 1, 2_000);
    r.backup.poke();
    r.inUse.set(true);
    await r.backup.settled();
    assert.deepEqual(readdirSync(join(root, 'backup')), [], 'abandoned: no file, no temp file');
    assert.equal(r.backup.status().failure, undefined, 'not a fault of the folder');
    r.inUse.set(false);
    await r.backup.settled();
    assert.equal(scheduled(join(root, 'backup')).length, 1);
  });

  it('archivesAreCopiedOnceEach', async () => {
    const archive = join(root, 'journal.archive', `${ID}-0000000042-0123456789abcdef.posarc`);
    mkdirSync(join(root, 'journal.archive'));
    writeFileSync(archive, Buffer.alloc(300_000, 7));
    r = await rig(root, { archives: () => [archive] });
    await day(r, 1, 3);
    r.backup.poke();
    await r.backup.settled();
    assert.equal(r.backup.status().last?.archivesCopied, 1);
    assert.equal(statSync(join(root, 'backup', `${ID}-0000000042-0123456789abcdef.posarc`)).size, 300_000);
    await day(r, 2, 3);
    r.backup.poke();
    await r.backup.settled();
    assert.equal(r.backup.status().last?.archivesCopied, 0, 'not copied again');
  });

  describe('on a real full card (a tmpfs: needs root and mount(8))', () => {
    let card = '';
    const sh = (cmd: string): boolean => spawnSync('sh', ['-c', cmd], { stdio: 'ignore' }).status === 0;
    beforeEach(function () {
      card = join(root, 'backup');
      mkdirSync(card);
      if (!sh(`mount -t tmpfs -o size=1m tmpfs ${card}`)) {
        const message = 'cannot mount a tmpfs (needs root): the full-card backup tests are SKIPPED';
        process.stderr.write(`      !!! ${message}\n`);
        if (process.env.CI) throw new Error(`${message}; CI must run them`);
        this.skip();
      }
    });
    afterEach(async () => {
      await r?.backup.stop();
      sh(`umount ${card}`);
    });

    /** The card filled by a file of its own until `leftBytes` are free. */
    const fillCard = (leftBytes: number): void => {
      const free = statfsSync(card).bavail * statfsSync(card).bsize;
      writeFileSync(join(card, 'filler'), Buffer.alloc(Math.max(0, free - leftBytes)));
    };

    it('aFullCardMakesRoomByRemovingTheOldestScheduledBackupsNeverTheLastOne', async () => {
      r = await rig(root, { keepCountMax: 3, retryMs: 60 * 60_000 });
      // A journal far larger than a day's records: every backup about the same size.
      await day(r, 1, 2000);
      for (let batch = 1; batch <= 3; batch++) {
        if (batch > 1) await day(r, batch, 3);
        r.backup.poke();
        await r.backup.settled();
      }
      const kept = scheduled(card);
      assert.deepEqual(kept.map((f) => scheduledBatchOf(f)), [1, 2, 3]);
      const backupBytes = statSync(join(card, kept[2])).size;
      fillCard(backupBytes / 2); // the next backup does not fit; with one old backup gone it does
      await day(r, 4, 3);
      r.backup.poke();
      await r.backup.settled();
      assert.equal(r.backup.status().failure, undefined, JSON.stringify(r.backup.status().failure));
      assert.deepEqual(scheduled(card).map((f) => scheduledBatchOf(f)), [2, 3, 4], 'the oldest removed to make room, the new one written');
      assert.ok(r.logs.some((l) => /backup folder was full/.test(String(l.msg))), 'said so in the log');
      const imported = await importFromFile(join(card, scheduled(card)[2]), join(root, 'restored'), { deviceKey });
      assert.equal(imported.manifest.count, r.journal.lastSeq, 'the backup written after making room is whole');

    });

    it('aFullCardWithOneScheduledBackupKeepsItAndIsE-STO-16', async () => {
      r = await rig(root, { keepCountMax: 2, retryMs: 60 * 60_000 });
      await day(r, 1, 3);
      r.backup.poke();
      await r.backup.settled();
      const before = scheduled(card);
      assert.equal(before.length, 1);
      fillCard(1024);
      await day(r, 2, 3);
      r.backup.poke();
      await r.backup.settled();
      const failure = r.backup.status().failure;
      assert.equal(failure?.code, 'E-STO-16');
      assert.match(String(failure?.message), /is full/);
      assert.deepEqual(scheduled(card), before, 'the only backup is never removed to make room');
      assert.ok(!r.logs.some((l) => /backup folder was full/.test(String(l.msg))));
    });
  });

  it('offWritesNothing', async () => {
    r = await rig(root, { enabled: false });
    await day(r, 1, 3);
    assert.equal(r.backup.due(), undefined);
    r.backup.poke();
    await r.backup.settled();
    assert.equal(existsSync(join(root, 'backup')), false);
    assert.equal(r.backup.status().enabled, false);
  });
});

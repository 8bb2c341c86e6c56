/**
 * Write-ahead log situations for journal tests, made by the journal itself (as the terminal would
 * leave them), not by writing bytes.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, renameSync } from 'node:fs';
import { Journal } from './journal';
import { walPath } from './wal';

/** A journal whose records 2..1+count are in journal.wal only: each appended alone, then a cut. */
export async function cutWithRecordsInTheLog(dir: string, identity: string, count: number): Promise<void> {
  const j = await Journal.open({ dir, identity });
  for (let i = 1; i <= count; i++) await j.append('test', { i, note: `record ${i + 1}` });
  assert.equal(j.walRecordCount, count);
  assert.equal(j.checkpointedSeq, 1, 'nothing but record 1 went to LMDB');
  await j.close({ writeDeferred: false }); // a simulated cut: no checkpoint
}

/**
 * The log superseded after an A/B rollback (storage/wal.ts, Superseded): a trial boot of the first
 * release with the log wrote `logRecords` records to journal.wal and was rolled back; the software
 * before the log never reads journal.wal and appended `lmdbRecords` of its own under the same seqs
 * to data.mdb. Returns the log's bytes as left.
 */
export async function supersededLog(dir: string, identity: string, logRecords = 3, lmdbRecords = 5): Promise<Buffer> {
  await cutWithRecordsInTheLog(dir, identity, logRecords);
  const wal = walPath(dir);
  const aside = `${wal}.hidden`;
  renameSync(wal, aside);
  const old = await Journal.open({ dir, identity, writeAheadLog: false });
  for (let i = 1; i <= lmdbRecords; i++) await old.append('test', { i, note: `before the log ${i}` });
  await old.close();
  renameSync(aside, wal);
  return readFileSync(wal);
}

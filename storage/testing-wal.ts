/**
 * Write-ahead log situations for journal tests, made by the journal itself (as the terminal would
 * leave them), not by writing bytes.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, renameSync } from 'node:fs';
import { Journal } from './journal';
import { PAGE_BYTES, flipFileByte } from './testing';
import { WAL_HEADER_BYTES, readCommit, walPath } from './wal';

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

/** Byte offsets of the commits in the log (each starts with the "POSW" magic; an earlier cycle's too). */
export function commitOffsets(dir: string): number[] {
  const raw = readFileSync(walPath(dir));
  const out: number[] = [];
  for (let at = raw.indexOf('POSW', WAL_HEADER_BYTES, 'latin1'); at >= 0; at = raw.indexOf('POSW', at + 1, 'latin1')) out.push(at);
  return out;
}

/** A commit's place in the log: its first byte, the byte just past it, and its first record. */
export interface CommitSpan { readonly offset: number; readonly end: number; readonly firstSeq: number }

/** The last whole commit of the log's current run (read commit by commit from its start, as an open does). */
export function lastCommitOf(dir: string): CommitSpan {
  const raw = readFileSync(walPath(dir));
  let found: CommitSpan | undefined;
  for (let at = WAL_HEADER_BYTES, c = readCommit(raw, at); c; at = c.endOffset, c = readCommit(raw, at)) {
    if (found && c.firstSeq <= found.firstSeq) break; // an earlier cycle's commit: the end
    found = { offset: at, end: c.endOffset, firstSeq: c.firstSeq };
  }
  assert.ok(found, 'no whole commit in the log');
  return found;
}

/** XORs `mask` (one bit) into byte `offset` of journal.wal: damage at rest, after the commit was acknowledged. */
export function flipLogBit(dir: string, offset: number, mask = 0x01): void {
  flipFileByte(walPath(dir), offset, mask);
}

/**
 * A power cut during the commit's write, as a disk leaves it: the commit's share of its `k`-th
 * page (`unitBytes`: 4096, or 512 for a sector; k from 0, the page holding its first byte) is
 * left as it was before the write: the bytes in `before` (an earlier cycle's, stale) or zeros.
 */
export function tearCommitPage(raw: Buffer, commit: Pick<CommitSpan, 'offset' | 'end'>, k: number, before: Buffer | 'zeros', unitBytes = PAGE_BYTES): void {
  const from = Math.max(commit.offset, Math.floor(commit.offset / unitBytes) * unitBytes + k * unitBytes);
  const to = Math.min(commit.end, from - (from % unitBytes) + unitBytes);
  assert.ok(from < to, `the commit has no page ${k} of ${unitBytes} bytes`);
  if (before === 'zeros') raw.fill(0, from, to);
  else before.copy(raw, from, from, to);
}

/**
 * Verify after a trusted point (the boot checkpoint, storage/checkpoint.ts): records 1..seq were
 * verified before and record `seq`'s digest is known, so only the records after it are walked,
 * with the same decision table (storage/verify.ts), the first of them linked to that digest.
 *
 * Before it trusts the anchor it checks, cheaply, that the file still agrees with it: record 1 is
 * this identity's journal-created record, record `seq` is present, framed and has exactly the
 * trusted digest, and LMDB's own entry count equals the highest key (no record missing below the
 * anchor). Any disagreement is an `anchorProblem`: the caller verifies the whole journal instead
 * (in a child process), which finds and names the damage if there is any.
 */
import { JournalDb, storedViews } from './lmdb-env';
import { frameValid, recordDigest } from './record';
import { VerifyReport, identityOfFirst, verifyEntries } from './verify';

export interface TrustedPrefix {
  /** Records 1..seq were verified. */
  readonly seq: number;
  /** The digest of record `seq`. */
  readonly digest: Buffer;
}

export function verifyAfter(db: JournalDb, trusted: TrustedPrefix, identity: string | undefined): VerifyReport | { anchorProblem: string } {
  const started = process.hrtime.bigint();
  let lastKey = 0;
  for (const key of db.getKeys({ reverse: true, limit: 1 })) lastKey = key;
  const entryCount = (db.getStats() as { entryCount?: number }).entryCount ?? 0;
  if (trusted.seq < 1 || lastKey < trusted.seq) return { anchorProblem: `the journal ends at record ${lastKey}, before the checkpoint's ${trusted.seq}` };
  if (entryCount !== lastKey) return { anchorProblem: `LMDB counts ${entryCount} records but the highest is ${lastKey} (a record is missing)` };
  const first = db.getBinary(1);
  const found = first ? identityOfFirst({ key: 1, stored: Buffer.from(first) }) : undefined;
  if (found === undefined || (identity !== undefined && found !== identity)) return { anchorProblem: 'record 1 is not this identity\'s journal-created record' };
  const at = db.getBinary(trusted.seq);
  if (!at || !frameValid(at) || !recordDigest(Buffer.from(at)).equals(trusted.digest)) return { anchorProblem: `record ${trusted.seq} is not the record the checkpoint verified` };
  const tail = verifyEntries(storedViews(db, trusted.seq + 1), lastKey, { identity: found, startSeq: trusted.seq + 1, prevDigest: trusted.digest, partial: true });
  const goodCount = trusted.seq + tail.goodCount;
  const report: VerifyReport = { ...tail, identity: found, goodCount, elapsedMs: Number(process.hrtime.bigint() - started) / 1e6 };
  if (report.damage || report.tornTail) return report;
  // The end-of-store check of verifyEntries: the forward walk must reach the highest key.
  if (lastKey > report.lastGoodSeq) return { ...report, damage: { seq: report.lastGoodSeq + 1, reason: `records ${report.lastGoodSeq + 1}..${lastKey} unreachable (the index ends early)` } };
  return report;
}

/**
 * Checker process for crash states of the journal workload (see checker-host.ts).
 *
 * First opens the state read-only, as `pos journal verify|dump` and boot's verifying child do:
 * every acknowledged record must be readable there too, with no damage. Then opens it as the
 * terminal's boot does (Journal.open, read-write, safeRestore by default): a torn last record is
 * cut there. Then verifies:
 *  - the journal is not `damaged` (no gap, chain and checksums verify), and was not created
 *    afresh over acknowledged records;
 *  - at most the tail was cut, and never an acknowledged record;
 *  - every acknowledged `seq:n` is there: record 1 is journal-created for the identity, record
 *    seq holds payload n exactly;
 *  - reopened read-only after that, the journal verifies clean (the cut and the recovery record
 *    it appended left a sound chain).
 */
import { isDeepStrictEqual } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { isPosError } from '../../common/errors';
import { serveChecks, type CheckVerdict } from './checker-host';
import { journalPayload } from './journal-values';

serveChecks(async (req): Promise<CheckVerdict> => {
  const identity = String(req.identity ?? 'POWERCUT-0001');
  const payloadBytes = Number(req.payloadBytes ?? 64);
  const acked = req.acked.map((a) => { const [seq, n] = a.split(':'); return { id: a, seq: Number(seq), n }; });
  const maxAcked = acked.reduce((m, a) => Math.max(m, a.seq), 0);
  const problems: string[] = [];
  const missing: string[] = [];

  // Boot first verifies read-only (in a child, boot/terminal-app.ts): it goes to recovery unless
  // the verdict is readable, or a journal that never held a record (created again below).
  if (existsSync(join(req.dir, 'data.mdb'))) try {
    // A reader (pos journal verify, dump) opening the state read-only, before any boot, must see
    // every acknowledged record too (issue 13 item 8): damage or fewer records is a reader losing them.
    const look = await Journal.open({ dir: req.dir, identity, readOnly: true });
    const seen = look.openReport;
    await look.close();
    if (seen.damage) problems.push(`read-only reader finds damage at record ${seen.damage.seq}: ${seen.damage.reason}`);
    const readable = seen.lastGoodSeq;
    if (readable < maxAcked) problems.push(`read-only reader sees records 1..${readable}, ${maxAcked} were acknowledged`);
  } catch (e) {
    const fresh = isPosError(e) && (e.detail.noJournal === true || e.detail.neverWritten === true);
    if (!fresh) problems.push(`boot's read-only verify refuses the journal (recovery): ${String(e)}`);
  }
  const j = await Journal.open({ dir: req.dir, identity });
  const report = j.openReport;
  let lastSeq: number;
  try {
    if (j.state !== 'ok') problems.push(`journal ${j.state}: ${report.damage ? `record ${report.damage.seq}: ${report.damage.reason}` : ''}`);
    if (report.tornTail && report.tornTail.seq <= maxAcked) problems.push(`torn tail cut at acknowledged record ${report.tornTail.seq}: ${report.tornTail.reason}`);
    for (const a of acked) {
      const r = j.get(a.seq);
      const ok = a.n === 'open'
        ? r?.type === RecordType.journalCreated && r.payload.identity === identity
        : r?.type === RecordType.test && isDeepStrictEqual(r.payload, journalPayload(Number(a.n), payloadBytes));
      if (!ok) missing.push(a.id);
    }
    lastSeq = j.lastSeq;
  } finally {
    await j.close();
  }
  const again = await Journal.open({ dir: req.dir, identity, readOnly: true });
  const second = again.openReport;
  await again.close();
  if (second.damage || second.tornTail) problems.push(`after boot, the journal does not verify clean: ${JSON.stringify(second.damage ?? second.tornTail)}`);
  if (second.lastGoodSeq < maxAcked) problems.push(`after boot, last good record ${second.lastGoodSeq} < last acknowledged ${maxAcked}`);
  return {
    ok: problems.length === 0 && missing.length === 0,
    missing: missing.slice(0, 20),
    missingCount: missing.length,
    found: lastSeq,
    tornTail: report.tornTail?.seq,
    ...(problems.length ? { error: problems.join('; ') } : {}),
  };
});

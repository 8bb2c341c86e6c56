/**
 * Child-process entry of verifyInChild: opens each journal directory given on argv read-only
 * and prints one JSON line per directory. Run apart from the runtime because LMDB can crash the
 * whole process (SIGSEGV) on a file with garbage pages; the parent reports that as "unopenable".
 */
import { Journal } from './journal';
import { isPosError } from '../common/errors';

async function verifyOne(dir: string, identity: string | undefined): Promise<Record<string, unknown>> {
  try {
    const j = await Journal.open({ dir, identity, readOnly: true });
    const r = j.openReport;
    await j.close();
    const status = r.damage ? 'damaged' : r.tornTail ? 'torn-tail' : 'ok';
    return {
      dir, status, records: r.goodCount, lastGoodSeq: r.lastGoodSeq, damage: r.damage, tornTail: r.tornTail,
      identity: r.identity, lastDigest: r.lastGoodDigest.toString('hex'), elapsedMs: r.elapsedMs,
      // LMDB's part (the write-ahead log holds the rest): the anchor a writable open can trust.
      storedSeq: j.checkpointedSeq, storedDigest: j.checkpointedDigest.toString('hex'),
    };
  } catch (e) {
    return {
      dir, status: 'error', code: isPosError(e) ? e.code : undefined, message: e instanceof Error ? e.message : String(e),
      ...(isPosError(e) && e.detail.noJournal === true ? { noJournal: true } : {}),
      ...(isPosError(e) && e.detail.neverWritten === true ? { neverWritten: true } : {}),
    };
  }
}

async function run(): Promise<void> {
  const identity = process.env.POS_VERIFY_IDENTITY || undefined;
  for (const dir of process.argv.slice(2)) process.stdout.write(JSON.stringify(await verifyOne(dir, identity)) + '\n');
}

void run();

/**
 * How long a backup holds the event loop (npm run bench:backup): the scheduled backup
 * (storage/scheduled-backup.ts) against the export as the recovery menu writes it (exportToFile,
 * synchronous), on journals of a day's trading (1,000 sales) and of a journal at its archive
 * threshold (runtime/archive.ts ARCHIVE_RECORDS_MIN, 50,000 records). Each sale as the journal
 * holds it: STAN, begin (masked and sealed PAN), result, the merchant copy's mark. Prints figures;
 * asserts nothing. The event loop's longest stall is measured from outside the writer: the
 * largest gap between two runs of a 1 ms interval while the backup is written.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../storage/journal';
import { exportToFile, exportToFileSliced } from '../storage/backup';
import { rec, RecordInput } from '../runtime/records';
import { cardFromTrack2 } from '../runtime/txn/card';
import { TEST_CARDS } from '../sim/test-cards';
import { seal } from '../runtime/device-key';
import { seededRandom } from '../runtime/random';
import { maskPan } from '../common/log';
import { REPO_ROOT } from '../tests/powercut/compile';

const OUT = join(REPO_ROOT, 'bench', 'out', 'backup');
const DEVICE_KEY = Buffer.alloc(32, 0x5a);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CHUNK_SALES = 250;

async function journalOf(dir: string, sales: number): Promise<Journal> {
  const j = await Journal.open({ dir, identity: 'BENCH-BACKUP-01', clock: () => Date.UTC(2026, 10, 21, 2) });
  const card = cardFromTrack2(TEST_CARDS.magDebit.track2);
  const panEnc = seal(DEVICE_KEY, Buffer.from(card.pan), 'pan/bench', seededRandom(3));
  for (let base = 0; base < sales; base += CHUNK_SALES) {
    const out: RecordInput[] = [];
    for (let i = base; i < Math.min(sales, base + CHUNK_SALES); i++) {
      const stan = 10 + i;
      out.push(rec.stan(stan));
      out.push(rec.txnBegin({ kind: 'sale', stan, batch: 1, amountFen: 100 + (i % 1000), panMasked: maskPan(card.pan), panEnc, panTag: Buffer.alloc(8, 1), entryMode: '022', processingCode: '000000', conditionCode: '00', type60: '22', operator: '002' }));
      out.push(rec.txnResult({ stan, outcome: 'approved', responseCode: '00', rrn: String(900000000000 + i), authCode: String(100000 + (i % 900000)), hostDate: '1121', hostTime: '100000' }));
      out.push(rec.receiptPrinted({ stan, copy: 'merchant', reprint: false }));
    }
    await j.appendMany(out);
  }
  return j;
}

/** The longest gap between two runs of a 1 ms interval while `f` runs (the event loop's stall). */
async function stall(f: () => Promise<unknown> | unknown): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; }, 1);
  await new Promise((r) => setTimeout(r, 5));
  last = performance.now();
  await f();
  const end = performance.now();
  worst = Math.max(worst, end - last);
  clearInterval(timer);
  return worst;
}

const range = (xs: number[]): string => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} ms`;

async function main(): Promise<void> {
  console.log(`bench:backup  node ${process.version}  ${new Date().toISOString()}  (${RUNS} runs each; files under ${OUT})`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const sales of [1_000, 12_500]) {
    const j = await journalOf(join(OUT, `journal-${sales}`), sales);
    const whole: number[] = [];
    const sliced: number[] = [];
    const slicedWall: number[] = [];
    let bytes = 0;
    for (let run = 0; run < RUNS; run++) {
      whole.push(await stall(() => exportToFile(j, join(OUT, `whole-${sales}.posbak`), { deviceKey: () => DEVICE_KEY })));
      const t = performance.now();
      sliced.push(await stall(() => exportToFileSliced(j, join(OUT, `sliced-${sales}.posbak`), { deviceKey: () => DEVICE_KEY })));
      slicedWall.push(performance.now() - t);
      bytes = statSync(join(OUT, `sliced-${sales}.posbak`)).size;
    }
    console.log(`\n${sales} sales, ${j.lastSeq} records, backup file ${(bytes / 1024).toFixed(1)} KiB (${(bytes / j.lastSeq).toFixed(0)} bytes a record)`);
    console.log(`  exportToFile (synchronous, as the recovery menu's export): event loop held ${range(whole)}`);
    console.log(`  exportToFileSliced (the scheduled backup, 10 ms slices): longest stall ${range(sliced)}, whole backup ${range(slicedWall)} of wall time`);
    await j.close();
  }
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });

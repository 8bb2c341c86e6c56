/**
 * Terminal core benchmark (npm run bench:core). Prints figures and ratios; asserts nothing.
 *
 *  1. Sale, terminal side: N sales through the engine against the acquirer simulator called
 *     in-process (no TCP); the host's own time (its handle()) is measured and subtracted, no
 *     printer. Baseline in the same run: one bare durable journal commit of the same records.
 *  2. Flush barriers per sale: durable commits per sale x 2. Each commit is one LMDB transaction
 *     plus `db.flushed`, i.e. one fdatasync and one O_DSYNC meta-page write (JOURNAL_FORMAT.md
 *     "Durability"; tests/powercut/journal-powercut.test.ts checks fdatasync = O_DSYNC writes).
 *     The minimum the profile allows is 2 commits (reversal + begin before sending, result
 *     before showing it); the receipt-printed mark is deferred: it rides on the next sale's first
 *     commit (bench:wear counts the same with strace, with bytes written).
 *  3. Settlement of a large batch: the batch journal is written directly (setup, not timed), then
 *     timed: boot replay of the journal, totals, and settlement with batch upload (unbalanced
 *     verdict) over loopback TCP to the simulator. The profile caps a batch: field 48 counts are
 *     n3 and the upload-end count n4, so a batch settles at most 999 sales + 999 refunds
 *     (engine BATCH_TXNS_MAX). A 10 000-transaction batch can be replayed and totalled (timed
 *     here) but not sent in one 0500; the full settlement is timed at the profile's maximum.
 *  Peak RSS (maxRSS) after each part.
 */
import { Journal } from '../storage/journal';
import { tempDir, removeDir } from '../storage/testing';
import { AcquirerSimulator, TEST_TERMINAL } from '../sim/host/simulator';
import { CUP_PROFILE } from '../runtime/host/fields';
import { HostTransport } from '../runtime/host/transport';
import { fixedDeviceKey } from '../runtime/device-key';
import { seededRandom } from '../runtime/random';
import { openTerminal } from '../runtime/terminal';
import { settle } from '../runtime/txn/settlement';
import { batchTotals } from '../runtime/terminal-state';
import { cardFromTrack2 } from '../runtime/txn/card';
import { rec } from '../runtime/records';
import { TEST_CARDS } from '../sim/test-cards';
import { maskPan } from '../common/log';
import { seal } from '../runtime/device-key';

const SALES = Number(process.env.BENCH_SALES ?? 200);
const REPLAY_TXNS = Number(process.env.BENCH_BATCH ?? 10_000);
const SETTLE_TXNS = 999;
const T0 = Date.UTC(2026, 10, 21, 2, 0, 0);
const IDS = { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid };
const CONFIG = { ids: IDS, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk) };
const DEVICE_KEY = Buffer.alloc(32, 0x5a);
const SUP = { operator: '002', role: 'supervisor' as const };

function rssMb(): string {
  return (process.resourceUsage().maxRSS / 1024).toFixed(1);
}

async function saleBench(): Promise<void> {
  const dir = tempDir('bench-core-');
  const journal = await Journal.open({ dir, identity: 'BENCH-0001', clock: () => T0 });
  const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => T0 });
  let hostNs = 0n;
  const host = { exchange: async (req: Buffer) => { const t = process.hrtime.bigint(); const h = sim.handle(req); hostNs += process.hrtime.bigint() - t; if (!h) throw new Error('host refused'); return h.bytes; } };
  const t = openTerminal({ journal, host, config: CONFIG, deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(1), clock: () => T0 });
  await t.engine.signOn(SUP);
  const card = cardFromTrack2(TEST_CARDS.magDebit.track2);
  const commits0 = t.store.commits;
  hostNs = 0n;
  const start = process.hrtime.bigint();
  for (let i = 0; i < SALES; i++) {
    const r = await t.engine.sale({ amountFen: 100 + i, card, session: SUP });
    if (r.outcome !== 'approved') throw new Error('sale not approved');
    await t.engine.markPrinted(r.txn.stan, 'merchant', false);
  }
  const totalNs = process.hrtime.bigint() - start;
  const commitsPerSale = (t.store.commits - commits0) / SALES;
  const terminalMsPerSale = Number(totalNs - hostNs) / 1e6 / SALES;
  const hostMsPerSale = Number(hostNs) / 1e6 / SALES;

  // Baseline: bare durable commits of the same records, no engine, no host.
  const panEnc = seal(DEVICE_KEY, Buffer.from(card.pan), 'pan/x', seededRandom(2));
  const payload = { kind: 'sale', stan: 1, batch: 1, amountFen: 100, panMasked: maskPan(card.pan), panEnc, panTag: Buffer.alloc(8), entryMode: '022', processingCode: '000000', conditionCode: '00', type60: '22', operator: '002' };
  const b0 = process.hrtime.bigint();
  for (let i = 0; i < SALES; i++) await journal.appendMany([{ type: 'test', payload }, { type: 'test', payload }, { type: 'test', payload }]);
  const commitMs = Number(process.hrtime.bigint() - b0) / 1e6 / SALES;
  await journal.close();
  removeDir(dir);
  console.log(`sale (terminal side, ${SALES} sales, host time subtracted, no printer)`);
  console.log(`  terminal time per sale        ${terminalMsPerSale.toFixed(3)} ms   (host's own time ${hostMsPerSale.toFixed(3)} ms, not counted)`);
  console.log(`  durable commits per sale      ${commitsPerSale.toFixed(2)}   (begin+reversal [+ the previous receipt mark], result; the mark itself is deferred)`);
  console.log(`  flush barriers per sale       ${(commitsPerSale * 2).toFixed(2)}   (2 per commit: fdatasync + O_DSYNC meta write; the profile's minimum is 4)`);
  console.log(`  baseline: bare durable commit ${commitMs.toFixed(3)} ms   ratio sale / (commits x bare commit) = ${(terminalMsPerSale / (commitsPerSale * commitMs)).toFixed(2)}`);
  console.log(`  peak RSS ${rssMb()} MB`);
}

/** Writes a batch of `n` approved sales straight into a journal (setup, group-committed). */
async function writeBatch(journal: Journal, n: number): Promise<void> {
  const card = cardFromTrack2(TEST_CARDS.magDebit.track2);
  const random = seededRandom(3);
  const panEnc = seal(DEVICE_KEY, Buffer.from(card.pan), `pan/${IDS.tid}`, random);
  const panTag = Buffer.alloc(8, 1);
  const CHUNK = 200;
  for (let base = 0; base < n; base += CHUNK) {
    const recs = [];
    for (let i = base; i < Math.min(n, base + CHUNK); i++) {
      const stan = 10 + i;
      recs.push(rec.stan(stan));
      recs.push(rec.txnBegin({ kind: 'sale', stan, batch: 1, amountFen: 100 + (i % 1000), panMasked: maskPan(card.pan), panEnc, panTag, entryMode: '022', processingCode: '000000', conditionCode: '00', type60: '22', operator: '002' }));
      recs.push(rec.txnResult({ stan, outcome: 'approved', responseCode: '00', rrn: String(900000000000 + i), authCode: String(100000 + (i % 900000)), hostDate: '1121', hostTime: '100000' }));
    }
    await journal.appendMany(recs.map((r) => ({ type: r.type, payload: r.payload })));
  }
}

async function settlementBench(BATCH_TXNS: number, settleIt: boolean): Promise<void> {
  const dir = tempDir('bench-core-');
  const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => T0 });
  const port = await sim.listen(0);
  const transport = new HostTransport({ host: '127.0.0.1', port, profile: CUP_PROFILE, connectTimeoutMs: 5000, responseTimeoutMs: 10_000 });
  let journal = await Journal.open({ dir, identity: 'BENCH-0002', clock: () => T0, mapSizeBytes: 1024 * 1024 * 1024 });
  let t = openTerminal({ journal, host: transport, config: CONFIG, deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(4), clock: () => T0 });
  await t.engine.signOn(SUP);
  await writeBatch(journal, BATCH_TXNS);
  await journal.close();
  const r0 = process.hrtime.bigint();
  journal = await Journal.open({ dir, identity: 'BENCH-0002', clock: () => T0 });
  t = openTerminal({ journal, host: transport, config: CONFIG, deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(5), clock: () => T0 });
  const replayMs = Number(process.hrtime.bigint() - r0) / 1e6;
  const t0 = process.hrtime.bigint();
  const totals = batchTotals(t.engine.state);
  const totalsMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!settleIt) {
    transport.close(); await journal.close(); await sim.close(); removeDir(dir);
    console.log(`replay of a ${BATCH_TXNS}-transaction batch (above the profile's settlement maximum of ${SETTLE_TXNS})`);
    console.log(`  boot replay of the journal    ${replayMs.toFixed(0)} ms   (${(replayMs * 1000 / BATCH_TXNS).toFixed(1)} us per transaction)`);
    console.log(`  totals from the journal       ${totalsMs.toFixed(2)} ms   sales ${totals.saleCount}, ${totals.saleAmountFen} fen`);
    console.log(`  peak RSS ${rssMb()} MB`);
    return;
  }
  sim.setFault({ kind: 'unbalanced-settlement' });
  const commits0 = t.store.commits;
  const s0 = process.hrtime.bigint();
  const rep = await settle(t.engine, SUP);
  const settleMs = Number(process.hrtime.bigint() - s0) / 1e6;
  const uploads = sim.ledger.batchState(IDS.tid, 1)?.uploads.length ?? 0;
  transport.close();
  await journal.close();
  await sim.close();
  removeDir(dir);
  console.log(`settlement of a ${BATCH_TXNS}-transaction batch (loopback TCP, one connection per message)`);
  console.log(`  boot replay of the journal    ${replayMs.toFixed(0)} ms   (${(replayMs * 1000 / BATCH_TXNS).toFixed(1)} us per transaction)`);
  console.log(`  totals from the journal       ${totalsMs.toFixed(2)} ms   sales ${totals.saleCount}, ${totals.saleAmountFen} fen`);
  console.log(`  0500 + batch upload + close   ${settleMs.toFixed(0)} ms   verdict ${rep.verdict}, ${uploads} records uploaded, ${(settleMs / Math.max(1, uploads)).toFixed(3)} ms per record`);
  console.log(`  durable commits               ${t.store.commits - commits0}   (upload progress before every record: a power cut re-sends at most one)`);
  console.log(`  peak RSS ${rssMb()} MB`);
}

async function main(): Promise<void> {
  console.log(`bench:core  node ${process.version}  ${new Date().toISOString()}`);
  await saleBench();
  await settlementBench(SETTLE_TXNS, true);
  await settlementBench(REPLAY_TXNS, false);
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });

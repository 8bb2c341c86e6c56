/**
 * Workload of the flash-wear benchmark (bench/wear.bench.ts), traced by strace -f:
 *   node wear-workload.js <phase> <workDir> [args]
 * It prints `ACK <part>-start` / `ACK <part>-end` around each measured part (so the trace can be
 * cut into parts).
 *
 * Phases:
 *   sales <mode> <warmTxns> <sales>   a journal prefilled with `warmTxns` transactions (setup, so
 *        the B-tree has the depth of a trading journal), then `sales` sales through the engine
 *        against the acquirer simulator in this process, each with its merchant copy marked
 *        printed. mode `deferred`: the terminal as it is (the mark rides on the next commit, commits
 *        go to the write-ahead log; the part ends with a checkpoint into LMDB, so its cost is in the
 *        figure, as if the log were checkpointed every `sales` sales: it is checkpointed far less
 *        often); mode `lmdb`: the same without the log (every commit a synced LMDB transaction,
 *        the path before the log); mode `three-commits`: the path before that, the mark
 *        committed durably on its own, no log.
 *   settle <txns> [lmdb]   a batch of `txns` approved sales written directly (setup), then the settlement
 *        (0500, batch upload, close, the report's mark) against the in-process simulator; then, as
 *        the part `backup`, the terminal's scheduled backup of it into `<workDir>/backup`.
 *   log <fromDir> <firstSeq> <lastSeq>   the same records and groups appended to a preallocated
 *        plain file, one pwrite + fdatasync per commit: what an append-only log would write.
 *   bare <pageBytes> <fromDir> <warmTxns> <firstSeq> <lastSeq>   the records of a `sales` run's measured part, read back
 *        from its journal, committed again in the same groups (a commit before each STAN record,
 *        with the marks before it, and one before each result) into a bare LMDB environment with
 *        `pageBytes` pages, prefilled likewise: what LMDB itself writes for those commits.
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { AcquirerSimulator, TEST_TERMINAL } from '../sim/host/simulator';
import { CUP_PROFILE } from '../runtime/host/fields';
import { fixedDeviceKey, seal } from '../runtime/device-key';
import { seededRandom } from '../runtime/random';
import { openTerminal, Terminal } from '../runtime/terminal';
import { settle } from '../runtime/txn/settlement';
import { cardFromTrack2 } from '../runtime/txn/card';
import { rec, RecordInput } from '../runtime/records';
import { TEST_CARDS } from '../sim/test-cards';
import { maskPan } from '../common/log';
import { ScheduledBackup } from '../storage/scheduled-backup';

export const WEAR_ID = 'BENCH-WEAR-01';
const T0 = Date.UTC(2026, 10, 21, 2, 0, 0);
const IDS = { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid };
const CONFIG = { ids: IDS, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk) };
const DEVICE_KEY = Buffer.alloc(32, 0x5a);
const SUP = { operator: '002', role: 'supervisor' as const };
/** Transactions per setup commit (setup is not measured). */
const SETUP_CHUNK_TXNS = 200;
const MAP_BYTES = 1024 * 1024 * 1024;
/** Room preallocated beyond the log's records, so no commit grows the file. */
const LOG_SLACK_BYTES = 64 * 1024;

function say(mark: string): void { writeSync(1, `ACK ${mark}\n`); }

async function measured(part: string, run: () => Promise<void>): Promise<void> {
  say(`${part}-start`);
  await run();
  say(`${part}-end`);
}

/** Approved sales as the journal holds them after a day (STAN, begin, result per transaction). */
function batchRecords(from: number, n: number): RecordInput[] {
  const card = cardFromTrack2(TEST_CARDS.magDebit.track2);
  const panEnc = seal(DEVICE_KEY, Buffer.from(card.pan), `pan/${IDS.tid}`, seededRandom(3));
  const out: RecordInput[] = [];
  for (let i = from; i < from + n; i++) {
    const stan = 10 + i;
    out.push(rec.stan(stan));
    out.push(rec.txnBegin({ kind: 'sale', stan, batch: 1, amountFen: 100 + (i % 1000), panMasked: maskPan(card.pan), panEnc, panTag: Buffer.alloc(8, 1), entryMode: '022', processingCode: '000000', conditionCode: '00', type60: '22', operator: '002' }));
    out.push(rec.txnResult({ stan, outcome: 'approved', responseCode: '00', rrn: String(900000000000 + i), authCode: String(100000 + (i % 900000)), hostDate: '1121', hostTime: '100000' }));
  }
  return out;
}

/** `asHistory`: the same records as `test` records (earlier batches: the tree grows, the state does not). */
async function writeBatch(journal: Journal, n: number, asHistory = false): Promise<void> {
  for (let base = 0; base < n; base += SETUP_CHUNK_TXNS) {
    const recs = batchRecords(base, Math.min(SETUP_CHUNK_TXNS, n - base));
    await journal.appendMany(recs.map((r) => ({ type: asHistory ? 'test' : r.type, payload: r.payload })));
  }
}

function terminalOver(journal: Journal, sim: AcquirerSimulator, seed: number): Terminal {
  const host = { exchange: async (req: Buffer) => { const h = sim.handle(req); if (!h) throw new Error('host refused'); return h.bytes; } };
  return openTerminal({ journal, host, config: CONFIG, deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(seed), clock: () => T0 });
}

async function sales(work: string, mode: string, warmTxns: number, n: number): Promise<void> {
  const dir = join(work, 'journal');
  const options = { dir, identity: WEAR_ID, clock: () => T0, mapSizeBytes: MAP_BYTES, writeAheadLog: mode === 'deferred' };
  let journal = await Journal.open(options);
  await writeBatch(journal, warmTxns, true);
  await journal.close();
  journal = await Journal.open(options);
  const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => T0 });
  const t = terminalOver(journal, sim, 1);
  await t.engine.signOn(SUP);
  const card = cardFromTrack2(TEST_CARDS.magDebit.track2);
  const sale = async (i: number): Promise<void> => {
    const r = await t.engine.sale({ amountFen: 100 + i, card, session: SUP });
    if (r.outcome !== 'approved') throw new Error('sale not approved');
    if (mode === 'three-commits') await t.store.commit([rec.receiptPrinted({ stan: r.txn.stan, copy: 'merchant', reprint: false })], { reserve: true, deferred: false });
    else await t.engine.markPrinted(r.txn.stan, 'merchant', false);
  };
  // Steady state: one sale before the part, so the part holds n sales whose first commit carries
  // the mark before it, and ends with its own last mark still deferred (the next sale takes it).
  await sale(0);
  const first = journal.lastSeq + 1 - journal.deferredCount;
  await measured('sales', async () => {
    for (let i = 1; i <= n; i++) await sale(i);
    await journal.checkpoint();
  });
  writeSync(1, `RANGE ${first} ${journal.lastSeq - journal.deferredCount}\n`);
  await journal.flush();
  await journal.close();
}

async function settlement(work: string, n: number, mode: string): Promise<void> {
  const dir = join(work, 'settle');
  const options = { dir, identity: WEAR_ID, clock: () => T0, mapSizeBytes: MAP_BYTES, writeAheadLog: mode !== 'lmdb' };
  let journal = await Journal.open(options);
  const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => T0 });
  let t = terminalOver(journal, sim, 4);
  await t.engine.signOn(SUP);
  await writeBatch(journal, n);
  await journal.close();
  journal = await Journal.open(options);
  t = terminalOver(journal, sim, 5);
  sim.setFault({ kind: 'unbalanced-settlement' });
  await measured('settle', async () => {
    await settle(t.engine, SUP);
    await t.engine.markReportPrinted(t.engine.state.lastClosed?.batch ?? 1, false);
    await journal.flush();
  });
  // The terminal's scheduled backup of this settlement (storage/scheduled-backup.ts), into a
  // folder on the same file system (the simulator board's case; the handheld's is an SD card).
  const backup = new ScheduledBackup({
    enabled: true, backupDir: join(work, 'backup'), keepCountMax: 7, idleRecords: 0, deviceKey: () => DEVICE_KEY, journal: () => journal,
    settledBatch: () => t.engine.state.lastClosed?.batch, inUse: { held: false, onChange: () => () => undefined }, mayStart: () => true, createDir: true,
  });
  await measured('backup', async () => {
    backup.poke();
    await backup.settled();
  });
  const last = backup.status().last;
  if (!last) throw new Error(`no scheduled backup written: ${JSON.stringify(backup.status())}`);
  writeSync(1, `BACKUP ${last.records} ${last.bytes}\n`);
  await backup.stop();
  await journal.close();
}

/** Commit groups of a measured part: a commit starts at a mark run or STAN not after a mark, and at each result. */
function commitGroups(records: Array<{ seq: number; type: number; stored: Buffer }>): Buffer[][] {
  const groups: Buffer[][] = [];
  let prev: number | undefined;
  for (const r of records) {
    const startsBegin = (r.type === RecordType.receiptPrinted || r.type === RecordType.stan) && prev !== RecordType.receiptPrinted;
    if (groups.length === 0 || startsBegin || r.type === RecordType.txnResult) groups.push([]);
    groups[groups.length - 1].push(r.stored);
    prev = r.type;
  }
  return groups;
}

async function bare(work: string, pageBytes: number, fromDir: string, warmTxns: number, firstSeq: number, lastSeq: number): Promise<void> {
  const src = await Journal.open({ dir: join(fromDir, 'journal'), identity: WEAR_ID, readOnly: true });
  const all = [...src.raw(1, lastSeq)].map((e) => ({ seq: e.key, stored: e.stored, type: e.stored.readUInt8(5) }));
  await src.close();
  const dir = join(work, `bare-${pageBytes}`);
  mkdirSync(dir, { recursive: true });
  // The options of storage/lmdb-env.ts openEnv, and the page size asked for.
  const db = open<Buffer, number>({ path: dir, noSubdir: false, encoding: 'binary', keyEncoding: 'uint32', compression: false, mapSize: MAP_BYTES, overlappingSync: false, pageSize: pageBytes });
  const setup = all.filter((r) => r.seq < firstSeq);
  for (let i = 0; i < setup.length; i += SETUP_CHUNK_TXNS * 3) db.transactionSync(() => { for (const r of setup.slice(i, i + SETUP_CHUNK_TXNS * 3)) db.put(r.seq, r.stored); });
  void warmTxns;
  const groups = commitGroups(all.filter((r) => r.seq >= firstSeq));
  let seq = firstSeq;
  await measured(`bare${pageBytes}`, async () => {
    for (const g of groups) db.transactionSync(() => { for (const stored of g) db.put(seq++, stored); });
  });
  writeSync(1, `GROUPS ${groups.length}\n`);
  await db.close();
}

/**
 * What an append-only log would write for the same commits: a preallocated file (setup), each
 * commit's records written at the end with one pwrite and made durable with one fdatasync.
 */
async function log(work: string, fromDir: string, firstSeq: number, lastSeq: number): Promise<void> {
  const src = await Journal.open({ dir: join(fromDir, 'journal'), identity: WEAR_ID, readOnly: true });
  const all = [...src.raw(firstSeq, lastSeq)].map((e) => ({ seq: e.key, stored: e.stored, type: e.stored.readUInt8(5) }));
  await src.close();
  const file = join(work, 'log', 'journal.log');
  mkdirSync(join(work, 'log'), { recursive: true });
  const fd = openSync(file, 'w+');
  const bytes = all.reduce((n, r) => n + r.stored.length, 0);
  writeSync(fd, Buffer.alloc(bytes + LOG_SLACK_BYTES), 0, bytes + LOG_SLACK_BYTES, 0);
  fsyncSync(fd);
  let at = 0;
  await measured('log', async () => {
    for (const g of commitGroups(all)) {
      const data = Buffer.concat(g);
      writeSync(fd, data, 0, data.length, at);
      fdatasyncSync(fd);
      at += data.length;
    }
  });
  closeSync(fd);
}

async function main(): Promise<void> {
  const [phase, work, ...args] = process.argv.slice(2);
  mkdirSync(work, { recursive: true });
  if (phase === 'sales') await sales(work, args[0], Number(args[1]), Number(args[2]));
  else if (phase === 'settle') await settlement(work, Number(args[0]), args[1] ?? 'wal');
  else if (phase === 'log') await log(work, args[0], Number(args[1]), Number(args[2]));
  else if (phase === 'bare') await bare(work, Number(args[0]), args[1], Number(args[2]), Number(args[3]), Number(args[4]));
  else throw new Error(`unknown phase ${phase}`);
}

if (require.main === module) {
  main().catch((e: unknown) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
}

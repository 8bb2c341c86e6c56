/**
 * Boot benchmark (npm run bench:boot; issue 14 goal 2). Prints figures beside their baselines
 * from the same run; asserts nothing.
 *
 * Two journals of the simulator board: one after 10 sales, one after BENCH_SALES (100,000: a year
 * at ~274 sales a day, settled daily). Each is written fast through the real append API
 * (Journal.appendMany, group-committed) from records a real engine wrote: one sign-on, one sale
 * (begin with its STAN and reversal, result with the reversal cleared, receipt printed) and one
 * settlement are recorded from the engine against the acquirer simulator, then repeated with new
 * STANs, RRNs, amounts and batch numbers, a sign-on and a settlement every day.
 *
 * Boot = TerminalApp.boot() on the simulator board (self-test, journal open and verify, state
 * replay, operators) until the machine shows the login screen: the real boot path, nothing copied.
 *   checkpoint  the journal had a boot checkpoint written by the previous boot, and the last day's
 *               sales (at most one day) were appended after it: the normal daily boot.
 *   baseline    journalCheckpoint: false: the whole journal verified in a child process and
 *               replayed in full at every boot, as before checkpoints (and the first boot after
 *               this version is installed).
 * Then the phases, each through the same functions boot uses: the child's full verify, the
 * in-process tail verify after the checkpoint, the full replay, the snapshot decode + tail replay,
 * the snapshot's encode (done just after the first operator screen, not on the path to it) and size.
 * Last, for a journal past ARCHIVE_RECORDS_MIN: its last day settled, the boot that archives it
 * (runtime/archive.ts), the live journal left, and the boots after it.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalApp } from '../boot/terminal-app';
import { createSimBoard } from '../sim/board-sim';
import { silentLogger } from '../common/log';
import { removeDir, tempDir } from '../storage/testing';
import { Journal } from '../storage/journal';
import { openForBoot } from '../storage/boot-open';
import { checkpointBytes, checkpointKey } from '../storage/checkpoint';
import { verifyInChild } from '../storage/verify-child';
import { Payload, RecordType } from '../storage/record';
import { AcquirerSimulator, TEST_TERMINAL } from '../sim/host/simulator';
import { CUP_PROFILE } from '../runtime/host/fields';
import { fixedDeviceKey } from '../runtime/device-key';
import { seededRandom } from '../runtime/random';
import { openTerminal } from '../runtime/terminal';
import { settle } from '../runtime/txn/settlement';
import { cardFromTrack2 } from '../runtime/txn/card';
import { TEST_CARDS } from '../sim/test-cards';
import { Store } from '../runtime/store';
import { decodeState, encodeState } from '../runtime/state-snapshot';
import { SIM_IDENTITY } from '../boot/sim-provision';
import { ARCHIVE_FILE_SUFFIX, ARCHIVE_RECORDS_MIN, archiveDirFor } from '../runtime/archive';

const SALES_YEAR = Number(process.env.BENCH_SALES ?? 100_000);
const SALES_SMALL = 10;
const SALES_PER_DAY = 274;
const BOOTS = Number(process.env.BENCH_BOOTS ?? 3);
/** Records per appendMany while generating (one LMDB transaction each). */
const GENERATE_CHUNK_RECORDS = 4_000;
const BOOT_WAIT_MS_MAX = 300_000;
const SUP = { operator: '099', role: 'supervisor' as const };

type Rec = { type: number; payload: Payload };
interface Template { signOn: Rec[]; sale: Rec[]; settlement: Rec[] }

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/** One sign-on, one sale and one settlement as the engine writes them (the template). */
async function recordTemplate(deviceKey: Buffer): Promise<Template> {
  const dir = tempDir('bench-boot-tpl-');
  const clock = (): number => Date.UTC(2026, 10, 21, 2, 0, 0);
  const journal = await Journal.open({ dir, identity: SIM_IDENTITY, clock });
  const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock });
  const host = { exchange: async (req: Buffer) => { const h = sim.handle(req); if (!h) throw new Error('host refused'); return h.bytes; } };
  const t = openTerminal({ journal, host, config: { ids: { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid }, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk) }, deviceKey: fixedDeviceKey(deviceKey), random: seededRandom(1), clock });
  const slice = (from: number): Rec[] => [...journal.records(from)].map((r) => ({ type: r.type, payload: r.payload }));
  let at = journal.lastSeq + 1;
  await t.engine.signOn(SUP);
  const signOn = slice(at);
  at = journal.lastSeq + 1;
  const r = await t.engine.sale({ amountFen: 1234, card: cardFromTrack2(TEST_CARDS.magDebit.track2), session: SUP });
  if (r.outcome !== 'approved') throw new Error('template sale not approved');
  await t.engine.markPrinted(r.txn.stan, 'merchant', false);
  const sale = slice(at);
  at = journal.lastSeq + 1;
  const settled = await settle(t.engine, SUP);
  await t.engine.markReportPrinted(settled.batch, false);
  const settlement = slice(at);
  await journal.close();
  await sim.close();
  removeDir(dir);
  return { signOn, sale, settlement };
}

/** A template record with new STANs (mapped in order), batch numbers and RRN. */
function cloneRec(r: Rec, ctx: { stans: Map<number, number>; next: () => number; batch: number; rrn: string; amountFen: number }): Rec {
  const p: Payload = { ...r.payload };
  const stan = (v: unknown): number => {
    const old = Number(v);
    let mapped = ctx.stans.get(old);
    if (mapped === undefined) { mapped = ctx.next(); ctx.stans.set(old, mapped); }
    return mapped;
  };
  if (typeof p.stan === 'number' && p.stan > 0) p.stan = stan(p.stan);
  if (typeof p.batch === 'number') p.batch = ctx.batch;
  if (typeof p.nextBatch === 'number') p.nextBatch = ctx.batch + 1;
  if (typeof p.rrn === 'string') p.rrn = ctx.rrn;
  if (typeof p.amountFen === 'number' && r.type !== RecordType.settlementStep) p.amountFen = ctx.amountFen;
  return { type: r.type, payload: p };
}

/** Appends `sales` sales (a sign-on and a settlement a day) through Journal.appendMany. */
async function appendSales(journal: Journal, tpl: Template, sales: number, state: { stan: number; batch: number; rrn: number; day: number }): Promise<void> {
  let pending: Rec[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    await journal.appendMany(pending);
    pending = [];
  };
  const next = (): number => { state.stan = state.stan >= 999_999 ? 1 : state.stan + 1; return state.stan; };
  for (let done = 0; done < sales;) {
    const today = Math.min(SALES_PER_DAY, sales - done);
    for (const r of tpl.signOn) pending.push(cloneRec(r, { stans: new Map(), next, batch: state.batch, rrn: '', amountFen: 0 }));
    for (let i = 0; i < today; i++) {
      state.rrn++;
      const ctx = { stans: new Map<number, number>(), next, batch: state.batch, rrn: String(state.rrn).padStart(12, '0'), amountFen: 100 + (state.rrn % 50_000) };
      for (const r of tpl.sale) pending.push(cloneRec(r, ctx));
      if (pending.length >= GENERATE_CHUNK_RECORDS) await flush();
    }
    done += today;
    // Every day but a journal's last is settled (the last day's sales are the open batch).
    if (done < sales) {
      for (const r of tpl.settlement) pending.push(cloneRec(r, { stans: new Map(), next, batch: state.batch, rrn: '', amountFen: 0 }));
      state.batch = state.batch >= 999_999 ? 1 : state.batch + 1;
    }
    state.day++;
  }
  await flush();
}

interface BootRun { ms: number; state: string }

/** TerminalApp.boot() on the simulator board until the first operator screen. */
async function bootOnce(root: string, journalCheckpoint: boolean, archiveRecordsMin = Infinity): Promise<BootRun> {
  const sim = await createSimBoard();
  // No archive unless asked: the boots measured against each other boot the same journal.
  const app = TerminalApp.create({
    board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: 9 },
    logger: silentLogger, scryptN: 1024, journalCheckpoint, backgroundVerifyDelayMs: BOOT_WAIT_MS_MAX, archiveRecordsMin,
  });
  const t0 = process.hrtime.bigint();
  const shown = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('boot did not reach an operator screen')), BOOT_WAIT_MS_MAX);
    const stop = app.probe.onChange((s) => {
      const state = (s as { state: string }).state;
      if (state === 'login' || state === 'idle' || state === 'offerReprint' || state.startsWith('recovery')) { clearTimeout(timer); stop(); resolve(state); }
    });
  });
  const before = checkpointMtimeMs(root);
  await app.boot();
  const state = await shown;
  const elapsed = ms(t0);
  // The checkpoint is written just after the first operator screen: wait for it (not timed).
  // (A boot that archives puts a new journal folder in place: its checkpoint is a new file.)
  if (journalCheckpoint) await waitFor(() => { const m = checkpointMtimeMs(root); return m !== 0 && m !== before; }, CHECKPOINT_WAIT_MS_MAX);
  await app.stop();
  await sim.close();
  return { ms: elapsed, state };
}

const CHECKPOINT_WAIT_MS_MAX = 30_000;

function checkpointMtimeMs(root: string): number {
  try { return statSync(join(root, 'journal', 'checkpoint.bin')).mtimeMs; } catch { return 0; }
}

async function waitFor(done: () => boolean, msMax: number): Promise<void> {
  const until = Date.now() + msMax;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The archive of settled batches (runtime/archive.ts) at the boot after the last day's settlement. */
interface ArchiveFigures {
  /** The boot that archives: archive file, new journal, swap, then the new journal opened to login. */
  bootArchiving: number;
  /** The next boot and a daily one after (both on the new journal's checkpoint). */
  bootAfterFirst: number; bootAfterDaily: number;
  archiveMb: number; liveRecords: number; liveMb: number;
}

interface Figures {
  archive?: ArchiveFigures;
  sales: number; records: number; mb: number; tail: number;
  bootCheckpoint: number; bootBaseline: number; firstBoot: number;
  childVerify: number; tailVerify: number; fullReplay: number; snapshotReplay: number; snapshotEncode: number; snapshotBytes: number;
}

async function scenario(sales: number, tpl: Template, root: string): Promise<Figures> {
  const journalDir = join(root, 'journal');
  const deviceKey = readFileSync(join(root, 'device.key'));
  const state = { stan: 1_000, batch: 1, rrn: 0, day: 0 };
  const tail = Math.min(SALES_PER_DAY, sales);
  // Everything but the last day, a boot (it writes the checkpoint), then the last day's sales.
  let j = await Journal.open({ dir: journalDir });
  await appendSales(j, tpl, sales - tail, state);
  await j.close();
  // The first boot of this version: no checkpoint yet, the whole journal verified in a child; it writes one.
  rmSync(join(journalDir, 'checkpoint.bin'), { force: true });
  const first = await bootOnce(root, true);
  j = await Journal.open({ dir: journalDir });
  await appendSales(j, tpl, tail, state);
  const records = j.lastSeq;
  await j.close();
  // The checkpoint boot first, each time on the same state: the checkpoint it writes is set back.
  const cpFile = join(journalDir, 'checkpoint.bin');
  const saved = readFileSync(cpFile);
  const checkpointRuns: number[] = [];
  const baselineRuns: number[] = [];
  for (let i = 0; i < BOOTS; i++) {
    writeFileSync(cpFile, saved);
    const c = await bootOnce(root, true);
    if (c.state !== 'login' && c.state !== 'idle') throw new Error(`checkpoint boot ended in ${c.state}`);
    checkpointRuns.push(c.ms);
    const b = await bootOnce(root, false);
    if (b.state !== 'login' && b.state !== 'idle') throw new Error(`baseline boot ended in ${b.state}`);
    baselineRuns.push(b.ms);
  }
  writeFileSync(cpFile, saved);
  // Phases through the same functions.
  let t0 = process.hrtime.bigint();
  await verifyInChild([journalDir], SIM_IDENTITY);
  const childVerify = ms(t0);
  t0 = process.hrtime.bigint();
  const opened = await openForBoot({ dir: journalDir, identity: SIM_IDENTITY, logger: silentLogger, checkpointKey: checkpointKey(deviceKey) });
  const tailVerify = ms(t0);
  if (opened.path !== 'checkpoint' || !opened.checkpoint?.state) throw new Error(`phases: boot took the ${opened.path} path (${opened.reason})`);
  t0 = process.hrtime.bigint();
  const full = Store.load(opened.journal);
  const fullReplay = ms(t0);
  t0 = process.hrtime.bigint();
  const decoded = decodeState(opened.checkpoint.state);
  if (!('state' in decoded)) throw new Error(decoded.problem);
  Store.load(opened.journal, decoded.state);
  const snapshotReplay = ms(t0);
  t0 = process.hrtime.bigint();
  const bytes = encodeState(full.state);
  const snapshotEncode = ms(t0);
  opened.done();
  await opened.journal.close();
  const mb = statSync(join(journalDir, 'data.mdb')).size / 1e6;
  const archive = records >= ARCHIVE_RECORDS_MIN ? await archivePhase(root, tpl, state) : undefined;
  return {
    archive, sales, records, mb, tail,
    bootCheckpoint: median(checkpointRuns), bootBaseline: median(baselineRuns), firstBoot: first.ms,
    childVerify, tailVerify, fullReplay, snapshotReplay, snapshotEncode, snapshotBytes: Math.max(bytes.length, checkpointBytes(journalDir)),
  };
}

/** The last day settled (its report printed), then the boots the archive changes. */
async function archivePhase(root: string, tpl: Template, state: { stan: number; batch: number; rrn: number; day: number }): Promise<ArchiveFigures> {
  const journalDir = join(root, 'journal');
  const j = await Journal.open({ dir: journalDir });
  const next = (): number => { state.stan = state.stan >= 999_999 ? 1 : state.stan + 1; return state.stan; };
  await j.appendMany(tpl.settlement.map((r) => cloneRec(r, { stans: new Map(), next, batch: state.batch, rrn: '', amountFen: 0 })));
  await j.close();
  const archiving = await bootOnce(root, true, ARCHIVE_RECORDS_MIN);
  const files = readdirSync(archiveDirFor(journalDir)).filter((f) => f.endsWith(ARCHIVE_FILE_SUFFIX));
  if (archiving.state !== 'login' || files.length !== 1) throw new Error(`the archiving boot ended in ${archiving.state} with ${files.length} archive files`);
  const live = await Journal.open({ dir: journalDir, readOnly: true });
  const liveRecords = live.lastSeq;
  await live.close();
  const first = await bootOnce(root, true, ARCHIVE_RECORDS_MIN);
  const daily = await bootOnce(root, true, ARCHIVE_RECORDS_MIN);
  return {
    bootArchiving: archiving.ms, bootAfterFirst: first.ms, bootAfterDaily: daily.ms,
    archiveMb: statSync(join(archiveDirFor(journalDir), files[0])).size / 1e6, liveRecords, liveMb: statSync(join(journalDir, 'data.mdb')).size / 1e6,
  };
}

async function prepare(sales: number): Promise<{ root: string; figures: Figures }> {
  const root = tempDir('bench-boot-');
  mkdirSync(join(root, 'backup'), { recursive: true });
  // The simulator board's first boot: identity, device key, default operators.
  const first = await bootOnce(root, true);
  if (first.state !== 'login') throw new Error(`first boot ended in ${first.state}`);
  const tpl = await recordTemplate(readFileSync(join(root, 'device.key')));
  const g0 = process.hrtime.bigint();
  const figures = await scenario(sales, tpl, root);
  console.log(`  (${sales} sales: journal written, booted ${BOOTS * 2 + 1} times and measured in ${(ms(g0) / 1000).toFixed(1)} s)`);
  return { root, figures };
}

async function main(): Promise<void> {
  console.log(`bench:boot  node ${process.version}  ${new Date().toISOString()}  (median of ${BOOTS} boots each)`);
  const small = await prepare(SALES_SMALL);
  const year = await prepare(SALES_YEAR);
  const row = (label: string, f: (x: Figures) => string): void => console.log(`  ${label.padEnd(44)}${f(small.figures).padStart(14)}${f(year.figures).padStart(16)}`);
  console.log(`  ${''.padEnd(44)}${`${SALES_SMALL} sales`.padStart(14)}${`${SALES_YEAR} sales`.padStart(16)}`);
  row('records in the journal', (x) => String(x.records));
  row('data.mdb (MB)', (x) => x.mb.toFixed(1));
  row('sales since the last boot (the tail)', (x) => String(x.tail));
  row('BOOT TO LOGIN, checkpoint (ms)', (x) => x.bootCheckpoint.toFixed(0));
  row('baseline: full verify in a child + replay (ms)', (x) => x.bootBaseline.toFixed(0));
  row('first boot of this version (no checkpoint yet)', (x) => x.firstBoot.toFixed(0));
  console.log('  phases (the functions boot calls)');
  row('  full verify in a child process (ms)', (x) => x.childVerify.toFixed(0));
  row('  open + verify after the checkpoint (ms)', (x) => x.tailVerify.toFixed(0));
  row('  full state replay (ms)', (x) => x.fullReplay.toFixed(0));
  row('  snapshot decode + replay of the tail (ms)', (x) => x.snapshotReplay.toFixed(0));
  row('  snapshot encode (after the login screen) (ms)', (x) => x.snapshotEncode.toFixed(0));
  row('  checkpoint file with the snapshot (KiB)', (x) => (x.snapshotBytes / 1024).toFixed(0));
  const a = (f: (x: ArchiveFigures) => string) => (x: Figures): string => (x.archive ? f(x.archive) : '-');
  console.log(`  archive of settled batches (at ${ARCHIVE_RECORDS_MIN} records, the boot after the last day's settlement)`);
  row('  BOOT THAT ARCHIVES, to login (ms)', a((x) => x.bootArchiving.toFixed(0)));
  row('  archive file (MB)', a((x) => x.archiveMb.toFixed(1)));
  row('  live journal after it: records', a((x) => String(x.liveRecords)));
  row('  live journal after it: data.mdb (MB)', a((x) => x.liveMb.toFixed(1)));
  row('  the next boot (ms)', a((x) => x.bootAfterFirst.toFixed(0)));
  row('  the daily boot after it, checkpoint (ms)', a((x) => x.bootAfterDaily.toFixed(0)));
  const ratio = year.figures.bootCheckpoint / small.figures.bootCheckpoint;
  console.log(`  boot after ${SALES_YEAR} sales / after ${SALES_SMALL}: ${ratio.toFixed(2)} with the checkpoint, ${(year.figures.bootBaseline / small.figures.bootBaseline).toFixed(2)} baseline`);
  removeDir(small.root);
  removeDir(year.root);
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });

/**
 * Flash wear and flush barriers per sale (npm run bench:wear; issue 14 goals 3 and 4). Prints
 * figures beside baselines measured in the same run; asserts nothing.
 *
 * Each part runs in a child (bench/wear-workload.ts) under `strace -f` (tests/powercut/
 * strace-trace.ts): every write, pwrite64, pwritev... to any file under the work directory is
 * summed (the system-call level, all files: data.mdb, lock.mdb, anything else), and every
 * fdatasync/fsync and O_DSYNC write counted as a flush barrier. Each LMDB page written is
 * classified from its page header: meta (LMDB writes only the changed part of a meta page), branch,
 * or leaf (a main-database leaf holds records, with their POSJ magic; a free-list leaf does not).
 * (/proc/self/io write_bytes was tried as a second count and left out: on the benchmark VM it
 * charged an append-only log's process 64 KiB per 1-KiB commit, which nobody here can explain.)
 *
 *  1. Sales: the terminal as it is (commits to the write-ahead log journal.wal, one checkpoint
 *     into LMDB at the end of the part counted in) against the path before the log (every commit
 *     a synced LMDB transaction) and the path before that (the mark a commit of its own), the same
 *     sales on the same prefilled journal.
 *  2. The records of part 1 committed again in the same groups into a bare LMDB environment at
 *     4096, 2048 and 1024-byte pages: what LMDB's copy-on-write costs per commit, and what a
 *     smaller page would give (the journal's format is 4096-byte pages); and the same commits
 *     appended to a preallocated plain file (pwrite + fdatasync each): what a log would write.
 *  3. A settlement of 999 (0500, batch upload of 999, close, the report's mark, then a
 *     checkpoint), with the log and without it; then the terminal's scheduled backup of it
 *     (storage/scheduled-backup.ts) into a folder on the same file system: what it adds per
 *     settlement when the backup folder is not on another device (the simulator board).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, nodeCommandFor } from '../tests/powercut/compile';
import { readTraceFile, runUnderStrace, TraceEvent } from '../tests/powercut/strace-trace';
import { hasTool } from '../tests/support/tools';

const OUT = join(REPO_ROOT, 'bench', 'out', 'wear');
const WORKLOAD = 'bench/wear-workload.ts';
const SALES = Number(process.env.BENCH_SALES ?? 50);
/** Transactions in the journal before the measured sales: a B-tree as deep as a trading journal's. */
const WARM_TXNS = Number(process.env.BENCH_WARM_TXNS ?? 3000);
const SETTLE_TXNS = 999;
const JOURNAL_PAGE_BYTES = 4096;
const GOAL_BYTES_PER_SALE = 16 * 1024;
const RUN_TIMEOUT_MS = 600_000;
/** LMDB page flags (mdb.c) and the 24-byte page header of lmdb-js 3.x (storage/lmdb-env.ts). */
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const PAGE_FLAGS_AT = 18;
const PAGE_HEADER_BYTES = 24;
/** storage/record.ts: every stored record starts with it. */
const RECORD_MAGIC = Buffer.from('POSJ', 'latin1');

interface Part {
  bytes: number; writes: number; barriers: number; fdatasync: number; dsyncWrites: number;
  pages: Map<string, number>; files: Set<string>;
}

function newPart(): Part {
  return { bytes: 0, writes: 0, barriers: 0, fdatasync: 0, dsyncWrites: 0, pages: new Map(), files: new Set() };
}

/** A leaf of the main database holds journal records (their POSJ magic); a free-list leaf holds page numbers. */
function pageKind(page: Buffer): string {
  if (page.length < PAGE_HEADER_BYTES) return 'partial';
  const flags = page.readUInt16LE(PAGE_FLAGS_AT);
  if (flags & P_OVERFLOW) return 'overflow';
  if (flags & P_LEAF) return page.includes(RECORD_MAGIC) ? 'main leaf' : 'free-list leaf';
  return flags & P_BRANCH ? 'branch' : `flags 0x${flags.toString(16)}`;
}

/** Cuts the trace at `ACK <part>-start/-end` and sums what each part wrote under `root`. */
function parts(events: TraceEvent[], root: string, pageBytes: number): Map<string, Part> {
  const out = new Map<string, Part>();
  let current: Part | undefined;
  const under = root.endsWith('/') ? root : `${root}/`;
  for (const e of events) {
    if (e.kind === 'ack') {
      const m = /^(.*)-(start|end)$/.exec(e.id);
      if (m && m[2] === 'start') { current = newPart(); out.set(m[1], current); } else if (m) current = undefined;
      continue;
    }
    if (!current) continue;
    if (e.kind === 'barrier' && (e.path === null || e.path.startsWith(under))) {
      current.barriers++;
      if (e.call === 'fdatasync') current.fdatasync++;
    } else if (e.kind === 'write' && e.path.startsWith(under)) {
      current.bytes += e.data.length;
      current.writes++;
      current.files.add(e.path.slice(under.length));
      if (e.sync) { current.barriers++; current.dsyncWrites++; }
      const add = (k: string): void => { current?.pages.set(k, (current.pages.get(k) ?? 0) + 1); };
      if (e.path.endsWith('data.mdb') && e.offset < 2 * pageBytes && e.data.length < pageBytes) add('meta (partial page)');
      else if (e.path.endsWith('data.mdb')) for (let at = 0; at < e.data.length; at += pageBytes) add(pageKind(e.data.subarray(at, at + pageBytes)));
    }
  }
  return out;
}

interface Traced { parts: Map<string, Part>; stdout: string }

async function traced(name: string, args: string[], pageBytes: number): Promise<Traced> {
  const work = join(OUT, name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const traceFile = join(OUT, `${name}.trace`);
  const r = await runUnderStrace({ command: process.execPath, args: [...nodeCommandFor(WORKLOAD), args[0], work, ...args.slice(1)], traceFile, timeoutMs: RUN_TIMEOUT_MS });
  if (r.exitCode !== 0) throw new Error(`${name} failed (${r.exitCode ?? r.signal}): ${r.stderr.slice(-2000)}`);
  const result = { parts: parts(readTraceFile(traceFile), work, pageBytes), stdout: r.stdout };
  rmSync(traceFile, { force: true });
  return result;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

function describe(p: Part, per: number): string {
  const pages = [...p.pages.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${(n / per).toFixed(2)}`).join(', ');
  return `pages per unit: ${pages}; files: ${[...p.files].join(', ')}`;
}

function line(label: string, p: Part | undefined, per: number, unit: string): void {
  if (!p) { console.log(`  ${label}: no trace part`); return; }
  console.log(`  ${label.padEnd(40)} ${kib(p.bytes / per).padStart(10)} per ${unit}   barriers ${(p.barriers / per).toFixed(2)} (fdatasync ${(p.fdatasync / per).toFixed(2)}, O_DSYNC writes ${(p.dsyncWrites / per).toFixed(2)}), ${(p.writes / per).toFixed(2)} write calls`);
  console.log(`  ${''.padEnd(40)} ${describe(p, per)}`);
}

async function main(): Promise<void> {
  console.log(`bench:wear  node ${process.version}  ${new Date().toISOString()}  (${SALES} sales on a journal of ${WARM_TXNS} transactions; files under ${OUT})`);
  if (!hasTool('strace')) {
    console.log('  strace not installed: nothing measured (apt-get install strace)');
    if (process.env.POS_REQUIRE_TOOLS === '1') process.exit(1);
    return;
  }
  console.log('\n1. per sale (sale + its merchant copy marked printed), system-call level, all files');
  const now = await traced('sales-deferred', ['sales', 'deferred', String(WARM_TXNS), String(SALES)], JOURNAL_PAGE_BYTES);
  const noLog = await traced('sales-lmdb', ['sales', 'lmdb', String(WARM_TXNS), String(SALES)], JOURNAL_PAGE_BYTES);
  const before = await traced('sales-three-commits', ['sales', 'three-commits', String(WARM_TXNS), String(SALES)], JOURNAL_PAGE_BYTES);
  const a = now.parts.get('sales');
  const l = noLog.parts.get('sales');
  const b = before.parts.get('sales');
  line('terminal (write-ahead log, 1 checkpoint)', a, SALES, 'sale');
  line('baseline: LMDB commits (before the log)', l, SALES, 'sale');
  line('baseline: former path (mark committed)', b, SALES, 'sale');
  if (a && l) console.log(`  log against LMDB commits: ${(a.bytes / l.bytes).toFixed(2)}x bytes, ${(a.barriers / l.barriers).toFixed(2)}x barriers`);
  if (a && b) console.log(`  ratio ${(a.bytes / b.bytes).toFixed(2)}x bytes, ${(a.barriers / b.barriers).toFixed(2)}x barriers; goal ${kib(GOAL_BYTES_PER_SALE)} and 4 barriers per sale: ${a.bytes / SALES <= GOAL_BYTES_PER_SALE ? 'met' : 'NOT met'} / ${a.barriers / SALES <= 4 ? 'met' : 'NOT met'}`);

  if (l) {
    const commits = l.fdatasync;
    const pages = [...l.pages.entries()].filter(([k]) => !k.startsWith('meta'));
    const perCommit = pages.reduce((n, [, c]) => n + c, 0) / commits;
    console.log(`  why (without the log): each durable LMDB commit writes ${perCommit.toFixed(2)} pages of ${JOURNAL_PAGE_BYTES} bytes (${pages.map(([k, c]) => `${k} ${(c / commits).toFixed(2)}`).join(', ')}) and a meta write:`);
    console.log(`  copy-on-write rewrites the leaf, every branch above it and a free-list leaf, so 2 commits per sale cannot go below ${kib(2 * 3 * JOURNAL_PAGE_BYTES)} with ${JOURNAL_PAGE_BYTES}-byte pages`);
  }

  console.log('\n2. the same commits (same records, same groups) into a bare LMDB environment, by page size');
  const range = /^RANGE (\d+) (\d+)$/m.exec(now.stdout);
  if (!range) throw new Error('the sales run printed no RANGE');
  for (const pageBytes of [4096, 2048, 1024]) {
    const bare = await traced(`bare-${pageBytes}`, ['bare', String(pageBytes), join(OUT, 'sales-deferred'), String(WARM_TXNS), range[1], range[2]], pageBytes);
    line(`bare LMDB, ${pageBytes}-byte pages`, bare.parts.get(`bare${pageBytes}`), SALES, 'sale');
  }

  const logRun = await traced('log', ['log', join(OUT, 'sales-deferred'), range[1], range[2]], JOURNAL_PAGE_BYTES);
  line('append-only log (pwrite + fdatasync)', logRun.parts.get('log'), SALES, 'sale');

  console.log(`\n3. settlement of ${SETTLE_TXNS} (0500, batch upload, close, report marked printed)`);
  const s = await traced('settle', ['settle', String(SETTLE_TXNS)], JOURNAL_PAGE_BYTES);
  const sl = await traced('settle-lmdb', ['settle', String(SETTLE_TXNS), 'lmdb'], JOURNAL_PAGE_BYTES);
  line('settlement (write-ahead log)', s.parts.get('settle'), 1, 'settlement');
  line('baseline: settlement, LMDB commits', sl.parts.get('settle'), 1, 'settlement');
  const sp = s.parts.get('settle');
  if (sp) console.log(`  = ${kib(sp.bytes / SETTLE_TXNS)} per uploaded transaction (one commit of upload progress before each record)`);
  const bp = s.parts.get('backup');
  const bm = /^BACKUP (\d+) (\d+)$/m.exec(s.stdout);
  line('scheduled backup after it (same file system)', bp, 1, 'settlement');
  if (bp && bm) console.log(`  the backup file: ${kib(Number(bm[2]))} for ${bm[1]} records; everything it wrote: ${kib(bp.bytes)} = ${(bp.bytes / (sp?.bytes ?? bp.bytes)).toFixed(2)}x the settlement's own; per sale unchanged (no backup runs during sales)`);
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });

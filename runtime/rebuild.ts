/**
 * A journal rebuilt from less than everything the terminal wrote (a salvage, a backup restored,
 * a factory reset) cannot know which STANs it used after its last record: sending one again is
 * a duplicate at the host (94). So every rebuild ends with one `recovery` record
 * (storage/JOURNAL_FORMAT.md) that continues the STAN from the highest one persisted ANYWHERE
 * plus the profile's safety gap of 1,000 (docs/PROTOCOL.md, Clarifications), and the batch from
 * the highest one found open. "Anywhere": every intact record of the journal being replaced,
 * scanned raw (the damaged file, orphans and LMDB's old page copies included), and every record
 * of the rebuilt journal (a backup, the salvaged chain, an earlier rebuild's own jump).
 *
 * `installRebuilt` appends that record to the rebuilt journal BEFORE it is renamed into place:
 * a power cut at any point leaves either the old journal in place or the new one with its
 * continuation (the swap is finished by the next open: storage/dir-swap.ts), never a rebuilt
 * journal without it and never no journal.
 *
 *   const r = await importFromFile(file, staging, secret);                 // or salvage(), a fresh journal
 *   const { movedAside } = await installRebuilt({ journalDir, builtDir: staging, identity, action: 'restored', aside });
 */
import { existsSync, readFileSync } from 'node:fs';
import { readWalFile } from '../storage/wal';
import { join } from 'node:path';
import { Journal } from '../storage/journal';
import { DecodedRecord, RecordType, decodeRecord } from '../storage/record';
import { scanRecords } from '../storage/salvage';
import { Logger, silentLogger } from '../common/log';
import { BATCH_MAX, STAN_MAX } from './host/messages';
import { SwapStep, swapInDir } from '../storage/dir-swap';

/** The profile's safety gap: STANs skipped after a rebuild (docs/PROTOCOL.md, Clarifications). */
export const STAN_GAP_AFTER_REBUILD = 1_000;

export type RebuildAction = 'restored' | 'salvaged' | 'reset';

/** The payload of the continuation record. */
export interface Continuation {
  readonly action: RebuildAction;
  readonly reason: string;
  readonly seq: number;
  /** Highest STAN found persisted anywhere (0: none was ever used). */
  readonly stanHighest: number;
  /** The last STAN treated as used: the next message sends stanHighest + 1,000. */
  readonly stanLast?: number;
  /** The highest batch found open anywhere. */
  readonly batch: number;
  readonly sources: string;
}

/** `stan` moved on by `n`, wrapping 999999 -> 000001 (STAN 0 does not exist). */
export function addStan(stan: number, n: number): number {
  return ((stan - 1 + n) % STAN_MAX + STAN_MAX) % STAN_MAX + 1;
}

/**
 * True when `a` comes after `b` on the STAN circle: within half the circle ahead. The highest STAN
 * "ever" is the most recent one, and after a wrap 000005 is more recent than 999990.
 */
export function stanAfter(a: number, b: number): boolean {
  const ahead = (a - b + STAN_MAX) % STAN_MAX;
  return ahead > 0 && ahead < STAN_MAX / 2;
}

/** STANs and batch numbers a record shows were used or reserved. */
function marks(r: DecodedRecord): { stans: number[]; batches: number[] } {
  const p = r.payload;
  const int = (v: unknown): number[] => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? [v] : []);
  switch (r.type) {
    case RecordType.stan:
    case RecordType.signOff:
    case RecordType.signature:
      return { stans: int(p.stan), batches: [] };
    case RecordType.signOn:
    case RecordType.txnBegin:
    case RecordType.reversalPending:
    case RecordType.qrQueryPending:
    case RecordType.scriptNoticePending:
      return { stans: int(p.stan), batches: int(p.batch) };
    case RecordType.batch: return { stans: [], batches: int(p.batch) };
    case RecordType.batchClosed: return { stans: [], batches: int(p.nextBatch) };
    case RecordType.settlementStep: return { stans: [], batches: int(p.batch) };
    case RecordType.recovery: return { stans: int(p.stanLast), batches: int(p.batch) };
    default: return { stans: [], batches: [] };
  }
}

/** The highest STAN (on the circle) and batch the records show; 0 when none. */
export function highestPersisted(records: Iterable<DecodedRecord>): { stan: number; batch: number } {
  let stan = 0, batch = 0;
  for (const r of records) {
    const m = marks(r);
    for (const s of m.stans) if (s <= STAN_MAX && (stan === 0 || stanAfter(s, stan))) stan = s;
    for (const b of m.batches) if (b <= BATCH_MAX && b > batch) batch = b;
  }
  return { stan, batch };
}

/**
 * Every intact record in `<dir>/data.mdb` and its write-ahead log `journal.wal` (records not yet
 * checkpointed live only there), read raw (LMDB need not open it). None if absent.
 */
export function intactRecordsIn(dir: string): DecodedRecord[] {
  const file = join(dir, 'data.mdb');
  if (!existsSync(file)) return [];
  const out: DecodedRecord[] = [];
  for (const copies of scanRecords(Buffer.concat([readFileSync(file), readWalFile(dir)])).values()) {
    for (const stored of copies) {
      try { out.push(decodeRecord(stored)); } catch { /* an intact frame whose CBOR does not decode shows nothing */ }
    }
  }
  return out;
}

/** The continuation record for a rebuilt journal, from everything scanned. */
export function continuation(action: RebuildAction, reason: string, seq: number, scanned: ReadonlyArray<{ name: string; records: Iterable<DecodedRecord> }>): Continuation {
  let stan = 0, batch = 1;
  const names: string[] = [];
  for (const src of scanned) {
    const h = highestPersisted(src.records);
    if (h.stan !== 0 && (stan === 0 || stanAfter(h.stan, stan))) stan = h.stan;
    batch = Math.max(batch, h.batch);
    names.push(`${src.name}: STAN ${h.stan}, batch ${h.batch}`);
  }
  return {
    action, reason, seq, stanHighest: stan, ...(stan > 0 ? { stanLast: addStan(stan, STAN_GAP_AFTER_REBUILD - 1) } : {}), batch, sources: names.join('; '),
  };
}

export interface InstallOptions {
  /** Where the terminal's journal lives (may be absent, or damaged beyond LMDB). */
  readonly journalDir: string;
  /** The rebuilt journal, not yet in place (a staging directory beside journalDir). */
  readonly builtDir: string;
  readonly identity: string;
  readonly action: RebuildAction;
  readonly reason: string;
  /** Where the journal being replaced is moved (never deleted). */
  readonly aside: string;
  /** More records known to have been persisted (e.g. a backup's): scanned too. */
  readonly alsoScanned?: ReadonlyArray<{ name: string; records: Iterable<DecodedRecord> }>;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** Tests: called after each step of putting the journal in place (throw to stand for a power cut). */
  readonly afterStep?: (step: SwapStep) => void;
}

/**
 * Appends the continuation to the rebuilt journal (durable), then moves the old journal aside and
 * the rebuilt one in its place. Returns the continuation and where the old journal went.
 */
export async function installRebuilt(o: InstallOptions): Promise<{ continuation: Continuation; movedAside?: string }> {
  const log = o.logger ?? silentLogger;
  const c = await appendContinuation(o);
  // Recoverable at every step: a power cut between the renames would otherwise leave no journal
  // at all, and the next boot would create an empty one (storage/dir-swap.ts).
  const { movedAside } = swapInDir({ live: o.journalDir, built: o.builtDir, aside: o.aside, afterStep: o.afterStep });
  log.warn({ action: o.action, stanHighest: c.stanHighest, stanLast: c.stanLast, batch: c.batch }, 'journal rebuilt: STAN continues after the safety gap');
  return { continuation: c, movedAside };
}

/**
 * Appends the continuation to a rebuilt journal that is not in use (durable on return), scanning
 * `journalDir` (the journal it replaces, raw) and the rebuilt journal itself. `installRebuilt`
 * then puts it in place; `pos journal salvage --out` leaves that to the technician.
 */
export async function appendContinuation(o: Omit<InstallOptions, 'aside' | 'logger' | 'afterStep'>): Promise<Continuation> {
  const built = await Journal.open({ dir: o.builtDir, identity: o.identity, clock: o.clock });
  try {
    const c = continuation(o.action, o.reason, built.lastSeq + 1, [
      { name: 'replaced journal', records: intactRecordsIn(o.journalDir) },
      { name: 'rebuilt journal', records: [...built.records()] },
      ...(o.alsoScanned ?? []),
    ]);
    await built.appendMany([{ type: 'recovery', payload: { ...c } }], { reserve: true });
    return c;
  } finally {
    await built.close();
  }
}

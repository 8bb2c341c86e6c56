/**
 * How boot opens the journal (boot/terminal-app.ts; the benchmark bench/boot.bench.ts and the
 * crash tests call this same function). Boot time must not grow with the journal
 * (storage/JOURNAL_FORMAT.md, "Boot checkpoint"):
 *
 *   no data.mdb                         -> create it in-process (record 1 and `genesis` in one commit)
 *   checkpoint intact and matching,     -> in-process: the pre-map checks (lmdb-env.ts), then verify
 *   no "opening" marker                    only the records after the checkpoint; the state snapshot
 *                                          it carries is replayed from there (`checkpoint.state`)
 *   anything else (no checkpoint, MAC   -> verify everything in a child process first (LMDB crashes
 *   or fingerprint mismatch, a marker      natively on some damaged files), then open in-process
 *   left by a boot that died opening)      trusting what the child verified (no second walk)
 *
 * The in-process path writes the durable "opening" marker before LMDB reads the file and the
 * caller removes it (`done()`) once the replay finished: a boot that LMDB kills on a damaged page
 * leaves it, and the next boot takes the child path, which reports the damage (recovery).
 * The records before the checkpoint are verified again off the boot path (`verifyInBackground`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log';
import { PosError, isPosError } from '../common/errors';
import { Journal, JournalOptions } from './journal';
import { Checkpoint, clearOpening, markOpening, openingMarked, readCheckpoint, removeCheckpoint } from './checkpoint';
import { finishInterruptedSwap } from './dir-swap';
import { ChildVerdict, HoldSignal, unopenableError, verifyInChild } from './verify-child';

export interface BootOpenOptions {
  readonly dir: string;
  /** The identity the journal must have (the simulator board's); undefined: read from record 1. */
  readonly identity?: string;
  readonly clock?: () => number;
  readonly logger: Logger;
  /** The checkpoint's MAC key (storage/checkpoint.ts checkpointKey); absent: always the child's full verify. */
  readonly checkpointKey?: Buffer;
  /** Written with record 1 when the journal is created (JournalOptions.genesis). */
  readonly genesis?: JournalOptions['genesis'];
}

export type BootPath = 'new' | 'checkpoint' | 'child';

export interface BootOpened {
  readonly journal: Journal;
  readonly path: BootPath;
  /** Why the child verified everything (path 'child'). */
  readonly reason?: string;
  /** The checkpoint boot trusted (path 'checkpoint'): its `state` is the snapshot to replay from. */
  readonly checkpoint?: Checkpoint;
  /** Records verified by this boot (all of them on the child path, the tail on the checkpoint path). */
  readonly verifiedRecords: number;
  /** Call once the state replay is done: clears the "opening" marker. */
  done(): void;
}

export async function openForBoot(o: BootOpenOptions): Promise<BootOpened> {
  const { dir, logger: log } = o;
  const base = { dir, clock: o.clock, logger: log.child({ component: 'journal' }) };
  // Before looking for data.mdb: a swap cut off between its renames leaves none (storage/dir-swap.ts).
  finishInterruptedSwap(dir, log);
  if (!existsSync(join(dir, 'data.mdb'))) {
    const journal = await Journal.open({ ...base, identity: o.identity, genesis: o.genesis });
    return { journal, path: 'new', verifiedRecords: 0, done: () => undefined };
  }
  const why = o.checkpointKey === undefined ? 'no checkpoint key' : openingMarked(dir) ? 'the previous boot died while opening the journal' : undefined;
  const read = why === undefined && o.checkpointKey ? readCheckpoint(dir, o.checkpointKey, o.identity) : { problem: why ?? 'no checkpoint' };
  if ('checkpoint' in read) {
    const cp = read.checkpoint;
    markOpening(dir, (o.clock ?? Date.now)());
    try {
      const journal = await Journal.open({ ...base, identity: cp.identity, trusted: { seq: cp.seq, digest: cp.digest } });
      if (journal.state === 'damaged') {
        await journal.close();
        clearOpening(dir);
        const d = journal.openReport.damage;
        log.error({ path: 'checkpoint', checkpointSeq: cp.seq, seq: d?.seq, reason: d?.reason }, 'journal damaged after its checkpoint');
        throw damagedAt(d?.seq ?? 0, d?.reason ?? 'damaged');
      }
      log.info({ path: 'checkpoint', checkpointSeq: cp.seq, lastSeq: journal.lastSeq, verifyMs: journal.openReport.elapsedMs }, 'journal opened after its checkpoint');
      return { journal, path: 'checkpoint', checkpoint: cp, verifiedRecords: journal.lastSeq - cp.seq, done: () => clearOpening(dir) };
    } catch (e) {
      clearOpening(dir);
      const mismatch = isPosError(e) ? e.detail.checkpointMismatch : undefined;
      if (typeof mismatch !== 'string') throw e;
      return openAfterChild(o, base, `checkpoint mismatch: ${mismatch}`);
    }
  }
  return openAfterChild(o, base, read.problem);
}

/** The full verify in a child, then the in-process open trusting what it verified. */
async function openAfterChild(o: BootOpenOptions, base: Pick<JournalOptions, 'dir' | 'clock' | 'logger'>, reason: string): Promise<BootOpened> {
  const [verdict] = await verifyInChild([o.dir], o.identity);
  o.logger.info({ verdict: { ...verdict }, reason }, 'journal verified in a child process');
  const damage = damageOf(verdict);
  if (damage) throw damage;
  const identity = o.identity ?? ('identity' in verdict ? verdict.identity : undefined);
  // The anchor is LMDB's last record: the records after it, in the write-ahead log, are read
  // (and checked) by the open itself.
  const trusted = (verdict.status === 'ok' || verdict.status === 'torn-tail') && verdict.storedSeq !== undefined && verdict.storedSeq > 0 && verdict.storedDigest
    ? { seq: verdict.storedSeq, digest: Buffer.from(verdict.storedDigest, 'hex') } : undefined;
  let journal: Journal;
  try {
    journal = await Journal.open({ ...base, identity, genesis: o.genesis, ...(trusted ? { trusted } : {}) });
  } catch (e) {
    // The file changed under us between the child's walk and this open: verify it all here.
    if (!(isPosError(e) && typeof e.detail.checkpointMismatch === 'string')) throw e;
    journal = await Journal.open({ ...base, identity, genesis: o.genesis });
  }
  if (journal.state === 'damaged') {
    await journal.close();
    throw damagedAt(journal.openReport.damage?.seq ?? 0, journal.openReport.damage?.reason ?? 'damaged');
  }
  return { journal, path: 'child', reason, verifiedRecords: journal.lastSeq, done: () => undefined };
}

/** The error boot reports for a child's verdict (recovery with the reason), or none. */
export function damageOf(verdict: ChildVerdict | undefined): PosError | undefined {
  if (!verdict) return undefined;
  if (verdict.status === 'damaged') return damagedAt(verdict.damage.seq, verdict.damage.reason);
  if (verdict.status === 'unopenable') return unopenableError(verdict.signal);
  // An environment that never held a record (first boot cut off) is created again by the open.
  if (verdict.status === 'error' && !verdict.noJournal && !verdict.neverWritten) return new PosError('STO_DAMAGED', verdict.message.replace(/^E-STO-\d\d /, ''), { code: verdict.code });
  return undefined;
}

function damagedAt(seq: number, reason: string): PosError {
  return new PosError('STO_DAMAGED', `journal damaged at record ${seq}: ${reason}`, { seq });
}

export interface BackgroundVerdict {
  /** The whole journal verified up to this record. */
  readonly verifiedSeq?: number;
  /** No verdict: the child was killed by this side (aborted, or held stopped longer than VERIFY_CHILD_HELD_MS_MAX). */
  readonly unfinished?: true;
  /** Damage found: the checkpoint has been removed, so the next boot verifies everything and stops too. */
  readonly damage?: PosError;
}

export interface BackgroundOptions {
  /** Stops the run (the child is killed): the verdict is empty. */
  readonly signal?: AbortSignal;
  /** While held (someone uses the terminal) the child is stopped: storage/verify-child.ts HoldSignal. */
  readonly hold?: HoldSignal;
}

/**
 * The full verify off the boot path: every record, in a child process at low priority (LMDB may
 * crash on a damaged page the boot never read), stopped while `hold` says so. Damage removes the
 * checkpoint (durably) before it is reported: the terminal then goes through boot again to the
 * same recovery as before checkpoints.
 */
export async function verifyInBackground(dir: string, identity: string | undefined, options: BackgroundOptions = {}): Promise<BackgroundVerdict> {
  const { signal, hold } = options;
  const [verdict] = await verifyInChild([dir], identity, { signal, hold, nice: BACKGROUND_NICE });
  if (!verdict || signal?.aborted) return { unfinished: true };
  // A torn tail is not damage here: the running terminal owns the tail (the child saw a moment of it).
  const damage = verdict.status === 'torn-tail' ? undefined : damageOf(verdict);
  if (damage) {
    removeCheckpoint(dir);
    return { damage };
  }
  return { verifiedSeq: 'lastGoodSeq' in verdict ? verdict.lastGoodSeq : undefined };
}

/** Niceness of the background verify (19 is the lowest priority). */
const BACKGROUND_NICE = 10;

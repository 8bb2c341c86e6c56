/**
 * The journal and the state derived from it, kept together: `commit` appends records (one
 * transaction, durable on return), READS THEM BACK from the journal and applies them to the
 * in-memory state. Memory therefore never holds a fact the disk does not, except a deferred
 * receipt-printed mark (see `commit`), and every record is checked when written (records.ts
 * builders) and when read back (terminal-state.ts reducer).
 */
import { Journal, AppendOptions } from '../storage/journal';
import { DecodedRecord, RecordType } from '../storage/record';
import { invariant } from '../common/errors';
import { RecordInput } from './records';
import { TerminalState, applyRecord, checkState, deriveState } from './terminal-state';

/** Records in one commit: a sale's begin is three, a settlement's upload progress two. */
export const COMMIT_RECORDS_MAX = 8;
/** Record types that need not be durable on their own (Store.commit `deferred`). */
const DEFERRABLE: ReadonlySet<RecordInput['type']> = new Set(['receiptPrinted']);

export class Store {
  private constructor(readonly journal: Journal, readonly state: TerminalState) {}

  /**
   * Replays the whole journal (throws InvariantError on a broken invariant: recovery mode), or,
   * given the state at some record (the boot checkpoint's snapshot, runtime/state-snapshot.ts),
   * only the records after it.
   */
  static load(journal: Journal, from?: TerminalState): Store {
    const state = from ? replayOnto(from, journal.records(from.lastSeq + 1)) : deriveState(journal.records());
    invariant(state.lastSeq === journal.lastSeq || journal.lastSeq === 0, 'replay did not reach the last record', { lastSeq: journal.lastSeq, replayed: state.lastSeq });
    return new Store(journal, state);
  }

  /** Counts durable commits (each costs the journal two flush barriers); deferred ones are not. */
  commits = 0;

  /**
   * Records that need not be durable on their own (DEFERRABLE: the receipt-printed mark, whose loss
   * at a power cut only offers the copy again at boot, marked DUPLICATE) are deferred: applied to
   * the state at once, written by the next durable commit (storage/journal.ts
   * AppendOptions.deferred). `options.deferred: false` commits them durably anyway (the benchmark's
   * baseline). A deferred record has its seq already and is read back like any other, so the
   * state applies it once, in seq order, as a replay will.
   */
  async commit(records: readonly RecordInput[], options: AppendOptions = {}): Promise<void> {
    invariant(records.length >= 1 && records.length <= COMMIT_RECORDS_MAX, 'commit size out of range', { records: records.length });
    const deferrable = records.every((r) => DEFERRABLE.has(r.type));
    invariant(!options.deferred || deferrable, 'only a receipt-printed mark may be deferred', { types: records.map((r) => r.type).join(',') });
    const deferred = options.deferred ?? deferrable;
    const deferredBefore = this.journal.deferredCount;
    const appended = await this.journal.appendMany(records.map((r) => ({ type: r.type, payload: r.payload })), { ...options, deferred });
    // A deferred append the journal had no room to defer was committed durably: count it.
    if (!deferred || this.journal.deferredCount <= deferredBefore) this.commits++;
    for (const [i, a] of appended.entries()) {
      const back = this.journal.get(a.seq);
      invariant(back !== undefined && back.type === RecordType[records[i].type], 'record not read back as written', { seq: a.seq });
      applyRecord(this.state, back);
    }
  }
}

function replayOnto(state: TerminalState, records: Iterable<DecodedRecord>): TerminalState {
  for (const r of records) applyRecord(state, r);
  checkState(state);
  return state;
}

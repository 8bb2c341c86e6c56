/**
 * The terminal state at a journal position, as bytes: carried by the boot checkpoint
 * (storage/checkpoint.ts, under its MAC), so that boot replays only the records after the
 * checkpoint instead of the whole journal (replay grows with the journal; this does not, beyond
 * the state's own bounded maps: REFUND_ORIGINALS_COUNT_MAX sales, PRE_AUTHS_MAX holds).
 *
 * The bytes are V8's structured serialization (node:v8), which keeps Maps, Sets, Buffers and
 * undefined fields as they are; the refund index (salesByRrn, the one large map) goes in columns,
 * which V8 reads back several times faster than 100,000 small objects.
 *
 * Which snapshot may be used: one of this `STATE_FORMAT`, whatever software or V8 wrote it. The
 * state is what the reducer (REDUCER_SOURCES) derives from the records: software that derives it
 * differently must not trust a state an older reducer derived (the refund index of session 26
 * started to hold completions: an older snapshot's index has none), and software that derives it
 * the same should not replay a year of records at its first boot because its version string moved.
 * So the format is bumped whenever the reducer or the state's shape changes, and
 * tests/structure/state-format.test.ts fails until it is (it keeps the reducer's SHA-256:
 * `REDUCER_SOURCES_SHA256`). V8 reads the serialization of older V8 versions (node:v8: "the format
 * is backward-compatible"); a snapshot that does not decode (a newer V8's, after a rollback) is
 * ignored and the journal replayed in full, as is a snapshot of any other format.
 *
 * tests/journal/boot-checkpoint.test.ts checks that snapshot + replay of the rest equals a full
 * replay, field by field.
 */
import { deserialize, serialize } from 'node:v8';
import { SOFTWARE_VERSION } from '../storage/journal';
import type { OriginalSale, TerminalState } from './terminal-state';

/**
 * The state's format: bump it with any change to what the reducer derives from the records or to
 * the state's shape. 1: every snapshot written before the format was tied to the reducer; 2: the
 * first tied to it; 3: a transaction keeps its txn-begin seq, the state the settled transactions
 * (reprints of a settled batch); 4: the version flags (`version-flags` records: a format-3 reducer,
 * a rolled-back version's, passes over them, and its snapshot would drop the flags for good).
 */
export const STATE_FORMAT = 4;

/** The reducer's source files: what derives the state from the records (hashed by the test above). */
export const REDUCER_SOURCES = ['runtime/terminal-state.ts', 'runtime/records.ts', 'runtime/qr-records.ts', 'runtime/anomaly.ts', 'runtime/state-snapshot.ts'] as const;

/**
 * SHA-256 of REDUCER_SOURCES (each file's text, this constant's line left out) as of STATE_FORMAT.
 * When the test says it changed: if the state derived from the same records can differ, bump
 * STATE_FORMAT; either way put the new value here.
 */
export const REDUCER_SOURCES_SHA256 = '9c64dc530fd2c72803959ee108243ef8ef738d24ce9d42efd7f00376ac56191f';

interface SalesColumns {
  readonly rrns: string[];
  readonly batches: Int32Array;
  readonly stans: Int32Array;
  readonly hostDates: Array<string | undefined>;
}

interface Envelope {
  readonly format: number;
  /** For people: the writer's version (not a reason to refuse it). */
  readonly software: string;
  readonly v8: string;
  readonly state: Omit<TerminalState, 'salesByRrn'>;
  readonly sales: SalesColumns;
}

export function encodeState(s: TerminalState): Buffer {
  const { salesByRrn, ...rest } = s;
  const n = salesByRrn.size;
  const sales: SalesColumns = { rrns: [...salesByRrn.keys()], batches: new Int32Array(n), stans: new Int32Array(n), hostDates: new Array<string | undefined>(n) };
  let i = 0;
  for (const v of salesByRrn.values()) {
    sales.batches[i] = v.batch;
    sales.stans[i] = v.stan;
    sales.hostDates[i] = v.hostDate;
    i++;
  }
  const envelope: Envelope = { format: STATE_FORMAT, software: SOFTWARE_VERSION, v8: process.versions.v8, state: rest, sales };
  return serialize(envelope);
}

/** The state the bytes hold, or why they cannot be used (the caller replays everything). */
export function decodeState(bytes: Buffer): { state: TerminalState } | { problem: string } {
  let e: Envelope;
  try {
    e = deserialize(bytes) as Envelope;
  } catch (err) {
    return { problem: `state snapshot unreadable: ${String(err)}` };
  }
  if (e === null || typeof e !== 'object') return { problem: 'state snapshot format unknown' };
  if (e.format !== STATE_FORMAT) return { problem: `state snapshot of format ${String(e.format)} (software ${String(e.software)}, V8 ${String(e.v8)}); this reducer's is ${STATE_FORMAT}` };
  const salesByRrn = new Map<string, OriginalSale>();
  const { rrns, batches, stans, hostDates } = e.sales;
  for (let i = 0; i < rrns.length; i++) {
    salesByRrn.set(rrns[i], { batch: batches[i], stan: stans[i], hostDate: hostDates[i] });
  }
  return { state: { ...e.state, salesByRrn } };
}

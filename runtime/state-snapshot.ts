/**
 * The terminal state at a journal position, as bytes: carried by the boot checkpoint
 * (storage/checkpoint.ts, under its MAC), so that boot replays only the records after the
 * checkpoint instead of the whole journal (replay grows with the journal; this does not, beyond
 * the state's own bounded maps: REFUND_ORIGINALS_COUNT_MAX sales, PRE_AUTHS_MAX holds).
 *
 * The bytes are V8's structured serialization (node:v8), which keeps Maps, Sets, Buffers and
 * undefined fields as they are; the refund index (salesByRrn, the one large map) goes in columns,
 * which V8 reads back several times faster than 100,000 small objects. A snapshot is only ever
 * read back by the same software on the same V8 (both are in the header): anything else, or a
 * snapshot that does not decode, is ignored and the journal is replayed in full.
 *
 * tests/journal/boot-checkpoint.test.ts checks that snapshot + replay of the rest equals a full
 * replay, field by field.
 */
import { deserialize, serialize } from 'node:v8';
import { SOFTWARE_VERSION } from '../storage/journal';
import type { OriginalSale, TerminalState } from './terminal-state';

const SNAPSHOT_FORMAT = 1;

interface SalesColumns {
  readonly rrns: string[];
  readonly batches: Int32Array;
  readonly stans: Int32Array;
  readonly hostDates: Array<string | undefined>;
}

interface Envelope {
  readonly format: number;
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
  const envelope: Envelope = { format: SNAPSHOT_FORMAT, software: SOFTWARE_VERSION, v8: process.versions.v8, state: rest, sales };
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
  if (e === null || typeof e !== 'object' || e.format !== SNAPSHOT_FORMAT) return { problem: 'state snapshot format unknown' };
  if (e.software !== SOFTWARE_VERSION || e.v8 !== process.versions.v8) return { problem: `state snapshot written by software ${e.software} on V8 ${e.v8}` };
  const salesByRrn = new Map<string, OriginalSale>();
  const { rrns, batches, stans, hostDates } = e.sales;
  for (let i = 0; i < rrns.length; i++) {
    salesByRrn.set(rrns[i], { batch: batches[i], stan: stans[i], hostDate: hostDates[i] });
  }
  return { state: { ...e.state, salesByRrn } };
}

/**
 * Worker thread of bench/journal-phases.ts (batched phase, a measurement only, issue 14 goal 5):
 * the journal's checkpoint moved off the appending thread. The main thread writes each commit to
 * the log (pwrite + fdatasync, as the journal does) and posts the commit's records here; this
 * thread puts them into LMDB (one fully synced transaction, MDB_APPEND, as storage/journal.ts
 * lmdbCommit) once at least `recordsMin` are waiting, and publishes the last seq LMDB holds
 * durably in a shared Int32. When the log is full the main thread waits for LMDB to hold its last
 * record before starting the log over: the state "LMDB ahead of the log's header" that
 * JOURNAL_FORMAT.md already allows (a cut between a checkpoint's transaction and its header).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { openEnv } from '../storage/lmdb-env';

/** Marker that makes the bench's compiled copy include this module (see journal-phases.ts). */
export const CHECKPOINT_WORKER = true;

export interface CheckpointWorkerData {
  readonly kind: 'bench-checkpoint';
  readonly dir: string;
  readonly mapSizeBytes: number;
  /** Records that must be waiting before a transaction starts (a drain message starts one anyway). */
  readonly recordsMin: number;
  /** One Int32: the last seq LMDB holds durably (written here, waited on by the main thread). */
  readonly durableSeq: SharedArrayBuffer;
}

/** One commit's records: seqs first.. in order, their bytes back to back. */
export interface CommitMessage { readonly first: number; readonly lengths: Uint32Array; readonly bytes: Uint8Array }
type Message = CommitMessage | { readonly drain: true } | { readonly close: true };

const data = workerData as CheckpointWorkerData | undefined;
if (parentPort && data?.kind === 'bench-checkpoint') run(data);

function run(job: CheckpointWorkerData): void {
  const port = parentPort!;
  const db = openEnv(job.dir, { mapSizeBytes: job.mapSizeBytes });
  const durable = new Int32Array(job.durableSeq);
  let waiting: CommitMessage[] = [];
  let waitingRecords = 0;
  let drain = false;
  const take = (m: Message): void => {
    if ('drain' in m) drain = true;
    else if ('close' in m) { port.close(); void db.close(); }
    else { waiting.push(m); waitingRecords += m.lengths.length; }
  };
  const commit = (): void => {
    // What arrived during a transaction goes into the next one.
    while (waiting.length > 0 && (drain || waitingRecords >= job.recordsMin)) {
      const batch = waiting;
      waiting = [];
      waitingRecords = 0;
      drain = false;
      db.transactionSync(() => {
        for (const m of batch) {
          let at = 0;
          for (let k = 0; k < m.lengths.length; k++) {
            const stored = Buffer.from(m.bytes.buffer, m.bytes.byteOffset + at, m.lengths[k]);
            if (!(db.putSync(m.first + k, stored, { append: true }) as unknown as boolean)) throw new Error(`LMDB refused seq ${m.first + k}`);
            at += m.lengths[k];
          }
        }
      });
      const last = batch[batch.length - 1];
      Atomics.store(durable, 0, last.first + last.lengths.length - 1);
      Atomics.notify(durable, 0);
      for (let r = receiveMessageOnPort(port); r; r = receiveMessageOnPort(port)) take(r.message as Message);
    }
  };
  port.on('message', (m: Message) => { take(m); commit(); });
}

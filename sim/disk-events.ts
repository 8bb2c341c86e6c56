/**
 * What a disk sees of a process's file I/O, one event per completed system call: the vocabulary of
 * the disk model (sim/disk-model.ts) and of the strace trace parser (tests/powercut/strace-trace.ts),
 * which turns a real run into these events. Kept in sim/ because the day simulation's disk model
 * speaks it too, and sim/ may not import tests/.
 */

export interface EventBase {
  /** position in the event list = order of completion */
  index: number;
  /** number of events that had completed when this call was entered (== index unless the call
   * was split by another thread's activity) */
  startedAt: number;
  tid: number | null;
  line: number;
}
export interface OpenEvent extends EventBase {
  kind: 'open'; path: string; fd: number; flags: string[]; sync: boolean; truncate: boolean;
}
export interface CloseEvent extends EventBase { kind: 'close'; path: string | null; fd: number }
export interface WriteEvent extends EventBase {
  kind: 'write'; path: string; fd: number; offset: number; data: Buffer;
  /** written through an O_DSYNC/O_SYNC descriptor: durable when the call returned */
  sync: boolean; call: string;
}
export interface TruncateEvent extends EventBase { kind: 'truncate'; path: string; fd: number | null; length: number; call: string }
export interface BarrierEvent extends EventBase {
  kind: 'barrier'; call: string;
  /** the file made durable; null for sync()/syncfs(), which flush every file */
  path: string | null; fd: number | null;
}
export interface AckEvent extends EventBase { kind: 'ack'; id: string; text: string }
export interface NamespaceEvent extends EventBase { kind: 'namespace'; call: string; paths: string[] }
export interface MmapSyncEvent extends EventBase { kind: 'msync' }
export type TraceEvent =
  | OpenEvent | CloseEvent | WriteEvent | TruncateEvent | BarrierEvent | AckEvent | NamespaceEvent | MmapSyncEvent;

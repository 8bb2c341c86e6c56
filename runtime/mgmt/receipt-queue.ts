/**
 * The e-receipt documents waiting for the management broker, kept on disk so that a restart (a
 * battery pull, an update's reboot) before the broker came back loses none (issue 12 item 6).
 *
 * Where: a folder of its own beside the journal (`<storage>/receipt-queue/`), one file per receipt
 * (`<seq>.json`, seq 12 digits: the order they are sent in), not the journal: the journal holds
 * money records under its hash chain and is never edited, while this queue is a delivery buffer
 * whose entries go away once the broker has them. Nor a second LMDB environment: a receipt is
 * written once and deleted once, a file per receipt needs no second memory map or reader table
 * at idle, and a rename is atomic on ext4 as an LMDB commit is (and costs one flush less). Each
 * file is written to a temp name, fsynced, renamed and the folder fsynced, so after a power cut a
 * receipt is either whole or absent (a leftover temp file is removed at open). A file is deleted
 * when the broker acknowledged it (PUBACK); a cut between the two sends it again, so delivery is
 * at least once and the document's `id` (TID, batch, trace) is what the service dedupes on.
 *
 * Bounded (DESIGN.md rule 7): at most RECEIPT_QUEUE_COUNT_MAX receipts of RECEIPT_BYTES_MAX each;
 * when full the OLDEST goes (a customer who waited that long has a paper slip) and is counted in
 * `dropped`, which is kept in the folder (dropped.json) and reported in the status.
 * Nothing here can hold a full card number: the document's card is checked masked on the way in
 * and again when read back (a file that fails is deleted, never sent, and logged).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PosError } from '../../common/errors';
import { ReceiptDocument, checkReceiptDocument } from './protocol';

/** Receipts kept while the broker is away (a busy shop's day offline is a few hundred sales). */
export const RECEIPT_QUEUE_COUNT_MAX = 500;
/** One receipt document (they are about 500 bytes; the limit is the sanity check of a read). */
export const RECEIPT_BYTES_MAX = 4 * 1024;
const FILE_RE = /^(\d{12})\.json$/;
const DROPPED_FILE = 'dropped.json';

export interface QueuedReceipt {
  readonly seq: number;
  readonly id: string;
  readonly payload: string;
}

interface Logger { warn(o: object, msg: string): void }

export class ReceiptQueue {
  private readonly items: QueuedReceipt[] = [];
  private nextSeq = 1;
  private droppedTotal = 0;

  private constructor(private readonly dir: string, private readonly countMax: number, private readonly log?: Logger) {}

  /** Opens (creates) the folder and reads back what waits there, oldest first. */
  static open(dir: string, o: { countMax?: number; logger?: Logger } = {}): ReceiptQueue {
    const q = new ReceiptQueue(dir, o.countMax ?? RECEIPT_QUEUE_COUNT_MAX, o.logger);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    q.load();
    return q;
  }

  get length(): number { return this.items.length; }
  /** Receipts dropped to keep the bound, since the folder was made (it survives restarts). */
  get dropped(): number { return this.droppedTotal; }
  /** What waits, oldest first. */
  pending(): readonly QueuedReceipt[] { return this.items; }

  /**
   * Durably queues `doc` (on disk when this returns) and returns what had to go to make room,
   * oldest first. A document without its id, or with a card that is not masked, is refused.
   */
  push(doc: ReceiptDocument): QueuedReceipt[] {
    checkReceiptDocument(doc);
    const payload = JSON.stringify(doc);
    if (Buffer.byteLength(payload) > RECEIPT_BYTES_MAX) throw new PosError('MGT_FAILED', `receipt ${doc.id}: ${Buffer.byteLength(payload)} bytes (at most ${RECEIPT_BYTES_MAX})`);
    const item: QueuedReceipt = { seq: this.nextSeq++, id: doc.id, payload };
    this.writeDurably(this.fileOf(item.seq), payload);
    this.items.push(item);
    const gone: QueuedReceipt[] = [];
    while (this.items.length > this.countMax) gone.push(this.items.shift() as QueuedReceipt); // non-empty: checked by the loop
    if (gone.length > 0) {
      this.droppedTotal += gone.length;
      this.writeDurably(join(this.dir, DROPPED_FILE), JSON.stringify({ dropped: this.droppedTotal }));
      for (const g of gone) this.unlink(g.seq);
    }
    return gone;
  }

  /** The broker has it: the file goes (not fsynced: after a cut it is sent again, deduped by id). */
  remove(seq: number): void {
    const i = this.items.findIndex((x) => x.seq === seq);
    if (i < 0) return;
    this.items.splice(i, 1);
    this.unlink(seq);
  }

  private fileOf(seq: number): string {
    return join(this.dir, `${String(seq).padStart(12, '0')}.json`);
  }

  private unlink(seq: number): void {
    try { unlinkSync(this.fileOf(seq)); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log?.warn({ seq, err: String(e) }, 'e-receipt queue: a sent receipt could not be removed (it will be sent again)');
    }
  }

  private load(): void {
    const names = readdirSync(this.dir).sort();
    for (const name of names) {
      if (name.endsWith('.tmp')) { rmSync(join(this.dir, name), { force: true }); continue; }
      const m = FILE_RE.exec(name);
      if (!m) continue;
      const seq = Number(m[1]);
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const item = this.read(seq);
      if (item) this.items.push(item);
    }
    const droppedFile = join(this.dir, DROPPED_FILE);
    if (existsSync(droppedFile)) {
      try {
        const d = (JSON.parse(readFileSync(droppedFile, 'utf8')) as { dropped?: unknown }).dropped;
        if (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) this.droppedTotal = d;
      } catch { /* an unreadable count starts again at 0: it is a figure for the console, not money */ }
    }
  }

  /** One file read back and checked; a bad one is deleted and logged (never sent). */
  private read(seq: number): QueuedReceipt | undefined {
    const file = this.fileOf(seq);
    try {
      const payload = readFileSync(file, 'utf8');
      if (Buffer.byteLength(payload) > RECEIPT_BYTES_MAX) throw new Error(`over ${RECEIPT_BYTES_MAX} bytes`);
      const doc = JSON.parse(payload) as ReceiptDocument;
      checkReceiptDocument(doc);
      return { seq, id: doc.id, payload };
    } catch (e) {
      this.log?.warn({ file, err: e instanceof Error ? e.message : String(e) }, 'e-receipt queue: a queued receipt could not be read back: removed, not sent');
      // Whatever stands there (a folder too): one bad entry must not keep the channel from starting.
      try { rmSync(file, { force: true, recursive: true }); } catch { /* left; the next start tries again */ }
      return undefined;
    }
  }

  /** Temp file, fsync, rename, fsync of the folder: whole or absent after a power cut. */
  private writeDurably(file: string, text: string): void {
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, Buffer.from(text, 'utf8'));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dirFd = openSync(this.dir, 'r');
    try { fsyncSync(dirFd); } finally { closeSync(dirFd); }
  }
}

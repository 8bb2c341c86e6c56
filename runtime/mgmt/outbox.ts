/**
 * The management channel's offline queue: what the terminal wants to say while it has no broker
 * (acks of commands that finished after the link dropped, events). Bounded by count and by bytes
 * (DESIGN.md rule 7); when full, the OLDEST message goes and is counted, because a console cares
 * more about what happened last. The retained status is not queued: only its latest value matters
 * and it is published afresh on every connect, carrying the drop count.
 */
export const OUTBOX_MESSAGES_MAX = 100;
/** Bytes of payload held while offline (a log upload alone may be LOG_UPLOAD_BYTES_MAX). */
export const OUTBOX_BYTES_MAX = 512 * 1024;

export interface OutMessage {
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1;
  /** What a log line names when the message is dropped (`ack cmd-17 done`, `event receipt`). */
  readonly what: string;
}

export class Outbox {
  private readonly items: OutMessage[] = [];
  private bytes = 0;
  /** Messages dropped since start. */
  dropped = 0;

  constructor(private readonly limits: { readonly messagesMax: number; readonly bytesMax: number } = { messagesMax: OUTBOX_MESSAGES_MAX, bytesMax: OUTBOX_BYTES_MAX }) {}

  get length(): number { return this.items.length; }

  /** Queues `m`; returns what had to go to make room (oldest first). */
  push(m: OutMessage): OutMessage[] {
    const gone: OutMessage[] = [];
    this.items.push(m);
    this.bytes += Buffer.byteLength(m.payload);
    while (this.items.length > this.limits.messagesMax || (this.bytes > this.limits.bytesMax && this.items.length > 0)) {
      const old = this.items.shift() as OutMessage; // non-empty: checked by the loop condition
      this.bytes -= Buffer.byteLength(old.payload);
      gone.push(old);
    }
    this.dropped += gone.length;
    return gone;
  }

  /** Everything queued, oldest first; the queue is empty afterwards. */
  drain(): OutMessage[] {
    const all = this.items.splice(0, this.items.length);
    this.bytes = 0;
    return all;
  }
}

/**
 * Frame codec of the card reader protocol (hal/drivers/CARD_READER_PROTOCOL.md). Pure: no I/O,
 * no timers, so the fuzz test can push millions of inputs through it.
 *
 *   STX | LEN_HI LEN_LO | TYPE | SEQ | PAYLOAD | CRC_HI CRC_LO | ETX
 *   LEN = 2 + payload length; CRC-16/CCITT-FALSE over LEN..PAYLOAD.
 *   Link control, outside frames: ACK = 06 SEQ, NAK = 15 SEQ.
 *
 * The parser never throws on input, holds at most `FRAME_BYTES_MAX` bytes of a partial frame,
 * and on a bad frame drops only its STX and rescans the bytes after it, so a good frame that
 * follows garbage (or hides behind a false STX) is still found.
 */

export const STX = 0x02;
export const ETX = 0x03;
export const ACK = 0x06;
export const NAK = 0x15;

/** Largest payload (bytes): an extended APDU answer of 256 data bytes + SW fits with room. */
export const PAYLOAD_BYTES_MAX = 300;
/** LEN covers TYPE, SEQ and payload. */
export const LEN_MIN = 2;
export const LEN_MAX = PAYLOAD_BYTES_MAX + 2;
/** STX + LEN(2) + LEN bytes + CRC(2) + ETX. */
export const FRAME_OVERHEAD_BYTES = 6;
export const FRAME_BYTES_MAX = LEN_MAX + FRAME_OVERHEAD_BYTES;

export interface Frame {
  readonly type: number;
  readonly seq: number;
  readonly payload: Buffer;
}

export type RejectReason = 'length' | 'crc' | 'etx' | 'truncated';

export type LinkItem =
  | { readonly kind: 'frame'; readonly frame: Frame }
  | { readonly kind: 'ack'; readonly seq: number }
  | { readonly kind: 'nak'; readonly seq: number }
  /** A frame that failed its checks; `seq` is the byte where SEQ would be, if it arrived. */
  | { readonly kind: 'rejected'; readonly reason: RejectReason; readonly seq?: number };

/** CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection. Check value of "123456789": 0x29B1. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i] << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function encodeFrame(type: number, seq: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  if (payload.length > PAYLOAD_BYTES_MAX) throw new RangeError(`payload ${payload.length} bytes > ${PAYLOAD_BYTES_MAX}`);
  const len = payload.length + 2;
  const out = Buffer.alloc(len + FRAME_OVERHEAD_BYTES);
  out[0] = STX;
  out.writeUInt16BE(len, 1);
  out[3] = type & 0xff;
  out[4] = seq & 0xff;
  out.set(payload, 5);
  out.writeUInt16BE(crc16(out, 1, 3 + len), 3 + len);
  out[5 + len] = ETX;
  return out;
}

export function encodeAck(seq: number): Buffer {
  return Buffer.from([ACK, seq & 0xff]);
}

export function encodeNak(seq: number): Buffer {
  return Buffer.from([NAK, seq & 0xff]);
}

export class FrameParser {
  private buf = Buffer.alloc(0);
  /** Bytes skipped between frames while looking for STX/ACK/NAK. */
  bytesDiscarded = 0;

  /** True while a frame (or ACK/NAK) has started but not finished: the caller times it. */
  get pending(): boolean {
    return this.buf.length > 0;
  }

  push(chunk: Uint8Array): LinkItem[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const items: LinkItem[] = [];
    let at = 0;
    while (at < this.buf.length) {
      const step = this.parseAt(at, items);
      if (step === 0) break;
      at += step;
    }
    this.buf = this.buf.subarray(at);
    return items;
  }

  /** The inter-byte timeout ran out: the partial frame is reported truncated and dropped. */
  expire(): LinkItem[] {
    if (!this.buf.length) return [];
    const seq = this.buf[0] === STX && this.buf.length > 4 ? this.buf[4] : undefined;
    const rest = this.buf.subarray(1);
    this.buf = Buffer.alloc(0);
    const items: LinkItem[] = [{ kind: 'rejected', reason: 'truncated', seq }];
    // Bytes after the dropped start may hold the beginning of a good frame: rescan them.
    return items.concat(this.push(rest));
  }

  /** Parses one item at `at`; returns how many bytes it consumed, or 0 to wait for more. */
  private parseAt(at: number, items: LinkItem[]): number {
    const b = this.buf;
    const lead = b[at];
    if (lead === ACK || lead === NAK) {
      if (at + 1 >= b.length) return 0;
      items.push({ kind: lead === ACK ? 'ack' : 'nak', seq: b[at + 1] });
      return 2;
    }
    if (lead !== STX) { this.bytesDiscarded++; return 1; }
    if (at + 3 > b.length) return 0;
    const len = b.readUInt16BE(at + 1);
    if (len < LEN_MIN || len > LEN_MAX) { items.push({ kind: 'rejected', reason: 'length' }); return 1; }
    const total = len + FRAME_OVERHEAD_BYTES;
    if (at + total > b.length) return 0;
    const seq = b[at + 4];
    if (b[at + total - 1] !== ETX) { items.push({ kind: 'rejected', reason: 'etx', seq }); return 1; }
    if (crc16(b, at + 1, at + 3 + len) !== b.readUInt16BE(at + 3 + len)) { items.push({ kind: 'rejected', reason: 'crc', seq }); return 1; }
    items.push({ kind: 'frame', frame: { type: b[at + 3], seq, payload: Buffer.from(b.subarray(at + 5, at + 3 + len)) } });
    return total;
  }
}

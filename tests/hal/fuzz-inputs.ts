/**
 * Deterministic fuzz inputs: input `index` of run `seed` is always the same bytes, so a failure
 * is replayed with FUZZ_SEED=<seed> FUZZ_INDEX=<index>. Half are random bytes, half are valid
 * inputs mutated (bit flips, inserted/deleted bytes, truncation, splices of two inputs).
 */
import { mulberry32 } from '../../sim/disk-model';
import { encodeAck, encodeFrame, encodeNak } from '../../hal/drivers/card-reader-frame';
import { encodeBlock, jobPrologue } from '../../hal/drivers/escpos-encoder';

export type FuzzTarget = 'frame' | 'escpos';

/** Longest generated input (bytes): short inputs keep a million of them within seconds. */
export const FUZZ_INPUT_BYTES_MAX = 160;

/** A deterministic PRNG (mulberry32, the disk model's) for fuzzing and seeded simulator keys. */
export const prng: (seed: number) => () => number = mulberry32;

function corpus(target: FuzzTarget): Buffer[] {
  if (target === 'frame') {
    return [
      encodeFrame(0x81, 1, Buffer.from([0, 7, ...Buffer.from('VCR-1.0')])),
      encodeFrame(0x40, 2, Buffer.from([0, 5, 0x36, 0x32, 0x32, 0x3d, 0x33, 0])),
      encodeFrame(0x91, 3, Buffer.alloc(40, 0x90)),
      Buffer.concat([encodeAck(4), encodeFrame(0x43, 5, Buffer.from([2, 1, 2, 1, 5])), encodeNak(6)]),
      encodeFrame(0x02, 0x02, Buffer.from([0x02, 0x03, 0x06, 0x15])),
    ];
  }
  const options = { paperWidthDots: 384, columns: 32, gb18030: true, rasterStripeRowsMax: 8 };
  const blocks = [
    { kind: 'text', text: 'TOTAL 12.50\n金额', bold: true, size: { width: 2, height: 1 } },
    { kind: 'qr', data: 'x', moduleDots: 1 },
    { kind: 'feed', lines: 2 },
    { kind: 'cut', partial: true },
  ] as const;
  const job = Buffer.concat([jobPrologue(true), ...blocks.flatMap((b, i) => encodeBlock(b, i, options).map((s) => s.bytes))]);
  const parts = [jobPrologue(true), Buffer.from([0x10, 0x04, 1, 0x1d, 0x72, 1, 0x10, 0x14, 8, 1, 3, 20, 1, 6, 2, 8])];
  for (let at = 0; at < job.length; at += 120) parts.push(job.subarray(at, at + 120));
  parts.push(Buffer.from([0x1d, 0x28, 0x6b, 3, 0, 0x31, 0x43, 3, 0x1b, 0x44, 8, 16, 0, 0x1d, 0x6b, 4, 0x31, 0x32, 0]));
  return parts;
}

const corpora: Partial<Record<FuzzTarget, Buffer[]>> = {};

export function fuzzInput(target: FuzzTarget, seed: number, index: number): { bytes: Buffer; cuts: number[] } {
  const rand = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const int = (n: number) => Math.floor(rand() * n);
  const pool = (corpora[target] ??= corpus(target));
  let bytes: Buffer;
  if (rand() < 0.5) {
    bytes = Buffer.alloc(int(FUZZ_INPUT_BYTES_MAX));
    const alphabet = rand() < 0.5 ? undefined : [0x02, 0x03, 0x06, 0x15, 0x10, 0x1b, 0x1d, 0x1c, 0x04, 0x0a, 0x00, 0xff, 0x81];
    for (let i = 0; i < bytes.length; i++) bytes[i] = alphabet && rand() < 0.5 ? alphabet[int(alphabet.length)] : int(256);
  } else {
    bytes = Buffer.from(pool[int(pool.length)]);
    for (let m = int(4) + 1; m > 0; m--) bytes = mutate(bytes, rand, int, pool);
    bytes = bytes.subarray(0, FUZZ_INPUT_BYTES_MAX);
  }
  const cuts = Array.from({ length: int(4) }, () => int(bytes.length + 1)).sort((a, b) => a - b);
  return { bytes, cuts };
}

function mutate(b: Buffer, rand: () => number, int: (n: number) => number, pool: Buffer[]): Buffer {
  const at = int(b.length + 1);
  switch (int(5)) {
    case 0: { const c = Buffer.from(b); if (c.length) c[at % c.length] ^= 1 << int(8); return c; }
    case 1: return Buffer.concat([b.subarray(0, at), Buffer.from([int(256)]), b.subarray(at)]);
    case 2: return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(8))]);
    case 3: return b.subarray(0, at);
    default: { const other = pool[int(pool.length)]; return Buffer.concat([b.subarray(0, at), other.subarray(int(other.length + 1))]); }
  }
}

/** Splits an input at the given cut points: the same bytes arriving in several reads. */
export function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) { out.push(bytes.subarray(prev, c)); prev = c; }
  return out;
}

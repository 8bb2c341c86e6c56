/**
 * Runs one fuzz target over a range of inputs in a worker thread. Progress (the index being
 * run) is published in shared memory so the parent can see a hang and name the input.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { FRAME_BYTES_MAX, FrameParser, LinkItem, PAYLOAD_BYTES_MAX, encodeFrame } from '../../hal/drivers/card-reader-frame';
import { EscPosMachine } from '../../sim/virtual-printer';
import { FuzzTarget, chunks, fuzzInput } from './fuzz-inputs';

interface Job { target: FuzzTarget; seed: number; start: number; count: number; progress: SharedArrayBuffer }

function checkItems(items: LinkItem[]): number {
  let frames = 0;
  for (const item of items) {
    if (item.kind !== 'frame') continue;
    frames++;
    const { type, seq, payload } = item.frame;
    if (payload.length > PAYLOAD_BYTES_MAX) throw new Error(`payload ${payload.length} > max`);
    // A frame accepted must re-encode to bytes that parse back to the same frame.
    const again = new FrameParser().push(encodeFrame(type, seq, payload));
    if (again.length !== 1 || again[0].kind !== 'frame' || !again[0].frame.payload.equals(payload)) throw new Error('frame does not round-trip');
  }
  return frames;
}

function runFrame(bytes: Buffer, cuts: number[]): number {
  const parser = new FrameParser();
  let frames = 0;
  for (const c of chunks(bytes, cuts)) {
    frames += checkItems(parser.push(c));
    if ((parser as unknown as { buf: Buffer }).buf.length > FRAME_BYTES_MAX + c.length) throw new Error('parser holds more than one frame');
  }
  frames += checkItems(parser.expire());
  return frames;
}

function runEscPos(bytes: Buffer, cuts: number[], answered: { bytes: number }): number {
  const machine = new EscPosMachine((a) => { answered.bytes += a.length; }, { paperRowsMax: 256, inputBufferBytesMax: 4096 });
  for (const c of chunks(bytes, cuts)) machine.receive(c);
  if (machine.bufferedBytes > machine.inputBufferBytesMax) throw new Error('receive buffer over its maximum');
  return machine.paper.items.length;
}

const job = workerData as Job;
const progress = new Int32Array(job.progress);
const answered = { bytes: 0 };
let outputs = 0;
let slowestMs = 0;
let slowestIndex = -1;
for (let i = job.start; i < job.start + job.count; i++) {
  Atomics.store(progress, 0, i);
  const { bytes, cuts } = fuzzInput(job.target, job.seed, i);
  const t0 = performance.now();
  try {
    outputs += job.target === 'frame' ? runFrame(bytes, cuts) : runEscPos(bytes, cuts, answered);
  } catch (error) {
    parentPort?.postMessage({ failed: i, error: error instanceof Error ? error.stack : String(error), input: bytes.toString('hex'), cuts });
    process.exit(0);
  }
  const ms = performance.now() - t0;
  if (ms > slowestMs) { slowestMs = ms; slowestIndex = i; }
}
// A GC pause or a busy CI core can make any input look slow once: time the slowest one again
// and keep its best time, which is what a pathological (quadratic, looping) input cannot hide.
if (slowestIndex >= 0) {
  const { bytes, cuts } = fuzzInput(job.target, job.seed, slowestIndex);
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    if (job.target === 'frame') runFrame(bytes, cuts); else runEscPos(bytes, cuts, answered);
    slowestMs = Math.min(slowestMs, performance.now() - t0);
  }
}
parentPort?.postMessage({ done: true, outputs, slowestMs, slowestIndex, answeredBytes: answered.bytes });

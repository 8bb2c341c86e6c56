/**
 * Peak anonymous memory of this process while synchronous work blocks its main thread: a worker
 * thread reads /proc/self/status (RssAnon) every ANON_SAMPLE_MS. RSS as a whole is no measure of
 * an export or import: it counts the journal's mapped file pages, which the kernel reclaims (clean
 * page cache) before a cgroup's MemoryMax kills anything; anonymous memory it cannot reclaim.
 */
import { Worker } from 'node:worker_threads';

const ANON_SAMPLE_MS = 10;

const SAMPLER = `
const { parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
let peak = 0;
const read = () => { const m = /RssAnon:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8')); if (m) peak = Math.max(peak, Number(m[1]) * 1024); };
const timer = setInterval(read, ${ANON_SAMPLE_MS});
parentPort.on('message', () => { read(); clearInterval(timer); parentPort.postMessage(peak); });
read();
`;

export interface AnonPeak {
  /** Stops sampling; resolves to the peak RssAnon seen, in bytes. */
  stop(): Promise<number>;
}

export async function sampleAnonPeak(): Promise<AnonPeak> {
  const w = new Worker(SAMPLER, { eval: true });
  await new Promise((r) => setTimeout(r, ANON_SAMPLE_MS * 3));
  return {
    stop: () => new Promise<number>((resolve) => {
      w.once('message', (peak: number) => { void w.terminate(); resolve(peak); });
      w.postMessage('stop');
    }),
  };
}

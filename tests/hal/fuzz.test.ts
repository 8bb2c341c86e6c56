/**
 * FUZZ: the card reader frame parser and the virtual printer's ESC/POS decoder get a million
 * random and mutated inputs in total (650 000 frame inputs and 350 000 ESC/POS inputs, which
 * cost five times more each, so the two workers finish together; FUZZ_COUNT sets both), split into
 * random reads. No exception may escape, no input may hang: each target runs in a worker whose
 * progress is watched, and the slowest input must stay under INPUT_MS_MAX.
 * Replay: FUZZ_SEED=<seed> (and FUZZ_COUNT=1 FUZZ_START=<index> for one input).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { FuzzTarget, fuzzInput } from './fuzz-inputs';
import { workerScriptFor } from '../../common/spawn';

const SEED = Number(process.env.FUZZ_SEED ?? 20250101);
const COUNTS: Record<FuzzTarget, number> = process.env.FUZZ_COUNT
  ? { frame: Number(process.env.FUZZ_COUNT), escpos: Number(process.env.FUZZ_COUNT) }
  : { frame: 650_000, escpos: 350_000 };
const START = Number(process.env.FUZZ_START ?? 0);
/** No progress for this long means a hang (ms). */
const STALL_MS_MAX = 3000;
/** Loading the worker (under ts-node when dist/ is stale: it compiles the decoder) may take this long on a busy machine (ms). */
const STARTUP_MS_MAX = 60_000;
/** Slowest single input allowed (ms): generous for a loaded 2-core CI machine. */
const INPUT_MS_MAX = 250;

interface Outcome { done?: boolean; failed?: number; error?: string; input?: string; cuts?: number[]; outputs?: number; slowestMs?: number; slowestIndex?: number }

function runWorker(target: FuzzTarget): Promise<Outcome> {
  const progress = new SharedArrayBuffer(4);
  // dist/'s JavaScript when current (npm test's tsc makes it so), else the source under ts-node (common/spawn.ts).
  const { file, execArgv } = workerScriptFor(path.join(__dirname, 'fuzz-worker'));
  const worker = new Worker(file, { execArgv, workerData: { target, seed: SEED, start: START, count: COUNTS[target], progress } });
  const seen = new Int32Array(progress);
  Atomics.store(seen, 0, -1); // -1 until the worker has loaded and runs its first input
  return new Promise((resolve, reject) => {
    let last = -1;
    let lastChange = Date.now();
    const watch = setInterval(() => {
      const now = Atomics.load(seen, 0);
      if (now !== last) { last = now; lastChange = Date.now(); return; }
      if (Date.now() - lastChange < (now < 0 ? STARTUP_MS_MAX : STALL_MS_MAX)) return;
      clearInterval(watch);
      void worker.terminate();
      const input = fuzzInput(target, SEED, now);
      if (now < 0) { reject(new Error(`${target} fuzz worker did not start within ${STARTUP_MS_MAX} ms`)); return; }
      reject(new Error(`${target} fuzz HANG at FUZZ_SEED=${SEED} index ${now}: input ${input.bytes.toString('hex')} cuts ${input.cuts}`));
    }, 250);
    worker.on('message', (m: Outcome) => { clearInterval(watch); resolve(m); void worker.terminate(); });
    worker.on('error', (e) => { clearInterval(watch); reject(e); });
  });
}

describe('fuzz: card reader frames and ESC/POS decoding', function () {
  this.timeout(120_000);

  it('millionRandomAndMutatedInputsNeverThrowNorHang', async () => {
    const started = Date.now();
    const [frame, escpos] = await Promise.all([runWorker('frame'), runWorker('escpos')]);
    for (const [name, o] of [['frame', frame], ['escpos', escpos]] as const) {
      if (o.failed !== undefined) {
        assert.fail(`${name} fuzz FAILED at FUZZ_SEED=${SEED} index ${o.failed} (replay: FUZZ_SEED=${SEED} FUZZ_START=${o.failed} FUZZ_COUNT=1)\n`
          + `input ${o.input} cuts ${o.cuts}\n${o.error}`);
      }
      assert.ok((o.slowestMs ?? 0) < INPUT_MS_MAX, `${name}: input ${o.slowestIndex} took ${o.slowestMs} ms (FUZZ_SEED=${SEED})`);
    }
    assert.ok((frame.outputs ?? 0) > 0, 'some mutated frames still parse: the corpus reaches the parser');
    assert.ok((escpos.outputs ?? 0) > 0, 'some inputs print: the corpus reaches the decoder');
    process.stderr.write(`      fuzz: ${COUNTS.frame + COUNTS.escpos} inputs, seed ${SEED}, ${Date.now() - started} ms; frames ${frame.outputs}, paper items ${escpos.outputs}; slowest input (re-timed) ${frame.slowestMs?.toFixed(2)} / ${escpos.slowestMs?.toFixed(2)} ms\n`);
  });
});

/**
 * Worker thread of the flashing station (boot/factory-flash.ts targetInWorker): one target's
 * steps up to its commit (runTargetSteps; why a thread and not a process is said there). Each
 * progress message waits until the station has taken it (the job's `ack`), so the station's
 * onProgress runs before the step it names; a hold point (tests) is told and then waits for the kill.
 */
import { parentPort } from 'node:worker_threads';
import { HoldPoint, PROGRESS_ACK_WAIT_MS_MAX, TargetJob, TargetMessage, runTargetSteps } from '../factory-flash';

/**
 * The job comes as the first message, not as workerData: storage/verify-worker.ts, which the
 * journal code loads, starts its own verify in any worker thread that has workerData.
 */
const port = parentPort;
port?.once('message', (job: TargetJob) => {
  const ack = new Int32Array(job.ack);
  const post = (m: TargetMessage): void => port.postMessage(m);
  runTargetSteps(job, {
    progress: (step: string) => {
      Atomics.store(ack, 0, 0);
      post({ kind: 'progress', step });
      Atomics.wait(ack, 0, 0, PROGRESS_ACK_WAIT_MS_MAX);
    },
    hold: (point: HoldPoint) => post({ kind: 'hold', point }),
  }).then(
    (outcome) => post({ kind: 'done', outcome }),
    (e: unknown) => post({ kind: 'failed', message: e instanceof Error ? e.message : String(e) }),
  );
});

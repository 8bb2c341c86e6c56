/**
 * Waiting for a condition inside a quick guest job (the *.guest.ts scripts): checked every few
 * milliseconds, bounded, never a fixed sleep standing for the condition.
 */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** How often the condition is checked. */
const CHECK_MS = 5;

/** Resolves once `done()` is true; rejects naming `what` after `maxMs` (TCG is slow: be generous). */
export async function waitUntil(what: string, done: () => boolean, maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(CHECK_MS);
  }
}

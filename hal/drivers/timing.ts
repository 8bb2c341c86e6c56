/**
 * Time is injected (DESIGN rule 9): drivers wait through a `Sleep` so that tests run them under
 * sinon fake timers and the seeded simulation can replay them exactly.
 */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

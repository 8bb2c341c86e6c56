/**
 * Puts a journal directory built beside the live one in its place, so that a power cut at any
 * moment leaves a journal the next open finds: the old one, or the new one. Two renames cannot do
 * that alone: between "live -> aside" and "built -> live" there is no journal at all, and an opener
 * finding no `data.mdb` creates a new, empty journal (STAN 1, every record "lost").
 *
 * So the swap is written down first (storage/JOURNAL_FORMAT.md, "Putting a journal in place"): a
 * durable intent file `<live>.swap` beside the live directory names the built directory and where
 * the old one goes. Every writable opener calls `finishInterruptedSwap` before it looks for
 * `data.mdb`; an intent found there is carried to its end (the built journal was complete, and
 * durable, before the intent was written), then removed.
 *
 *   swapInDir({ live: journalDir, built: staging, aside: `${journalDir}.replaced-${t}` });
 *   finishInterruptedSwap(journalDir, log);   // at every writable open: a no-op without an intent
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDir, writeFileDurably } from '../common/fsync';
import { PosError } from '../common/errors';
import type { Logger } from '../common/log';

/** The steps of a swap, in order: a test stops after any of them to stand for a power cut. */
export type SwapStep = 'intent-written' | 'old-set-aside' | 'built-in-place' | 'intent-removed';

export interface SwapOptions {
  /** The live journal directory (may be absent). */
  readonly live: string;
  /** The complete, durable journal to put in its place: beside `live` (same parent). */
  readonly built: string;
  /** Where the live journal is moved (never deleted): beside `live`. */
  readonly aside: string;
  /** Called after each step (tests: throw to stop there, as a power cut would). */
  readonly afterStep?: (step: SwapStep) => void;
}

interface Intent {
  readonly format: 1;
  /** Names in the live directory's parent, not paths: the intent survives the parent moving. */
  readonly built: string;
  readonly aside: string;
}

const INTENT_SUFFIX = '.swap';

/** The intent file of a live directory. */
export function swapIntentPath(live: string): string {
  return `${live}${INTENT_SUFFIX}`;
}

/** Moves `live` aside and `built` into its place, recoverably at every step. */
export function swapInDir(o: SwapOptions): { movedAside?: string } {
  const parent = dirname(o.live);
  if (dirname(o.built) !== parent || dirname(o.aside) !== parent) {
    throw new PosError('OPR_INPUT', `the built journal and the old one's new place must be beside ${o.live}`);
  }
  if (!existsSync(o.built)) throw new PosError('OPR_INPUT', `${o.built}: no journal to put in place`);
  const intent: Intent = { format: 1, built: basename(o.built), aside: basename(o.aside) };
  writeFileDurably(swapIntentPath(o.live), JSON.stringify(intent));
  o.afterStep?.('intent-written');
  return completeSwap(o.live, intent, o.afterStep);
}

/**
 * Carries an interrupted swap of `live` to its end, if one was begun. Returns what it did (for the
 * log), or undefined when there was nothing to finish.
 */
export function finishInterruptedSwap(live: string, log?: Logger): { movedAside?: string; finished: boolean } | undefined {
  const file = swapIntentPath(live);
  if (!existsSync(file)) return undefined;
  const intent = readIntent(file);
  if (intent === undefined) {
    // A torn intent: it was being written, so nothing had been renamed yet (the renames follow its
    // fsync). The live journal is untouched; the built one is left for a person to look at.
    rmSync(file, { force: true });
    fsyncDir(dirname(live));
    log?.warn({ live, intent: file }, 'journal swap: unreadable intent removed; nothing had been moved');
    return { finished: false };
  }
  const done = completeSwap(live, intent);
  log?.warn({ live, built: intent.built, movedAside: done.movedAside }, 'journal swap interrupted by a power cut: finished');
  return { ...done, finished: true };
}

function completeSwap(live: string, intent: Intent, afterStep?: (step: SwapStep) => void): { movedAside?: string } {
  const parent = dirname(live);
  const built = join(parent, intent.built);
  const aside = join(parent, intent.aside);
  let movedAside: string | undefined;
  if (existsSync(built)) {
    if (existsSync(live)) {
      renameSync(live, aside);
      fsyncDir(parent);
      movedAside = aside;
    } else if (existsSync(aside)) {
      movedAside = aside;
    }
    afterStep?.('old-set-aside');
    renameSync(built, live);
    fsyncDir(parent);
    afterStep?.('built-in-place');
  } else if (existsSync(aside)) {
    movedAside = aside;
  }
  // No built directory left: it is the live one now (the rename was durable before this).
  rmSync(swapIntentPath(live), { force: true });
  fsyncDir(parent);
  afterStep?.('intent-removed');
  return { movedAside };
}

function readIntent(file: string): Intent | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    const name = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && basename(x) === x && x !== '.' && x !== '..';
    if (o.format !== 1 || !name(o.built) || !name(o.aside)) return undefined;
    return { format: 1, built: o.built, aside: o.aside };
  } catch {
    return undefined;
  }
}

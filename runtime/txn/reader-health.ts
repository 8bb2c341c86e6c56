/**
 * What the terminal knows of its card reader between card waits (FIELD-FAULTS.md "magnetic stripe
 * reader fault"): the idle and login screens' notice, and diagnostics' reader lines, local and
 * remote. Without it a broken reader was found only when the next sale waited for a card.
 *
 * Two faults, each cleared by what shows it is over:
 *   - the reader itself (readerLinkFault: E-RDR-03 silent, E-RDR-04 its port gone, E-RDR-01 its
 *     frames garbled), found by a card wait that ended with it, by the boot's self-test or by
 *     diagnostics' self-test of the reader; over as soon as the reader answers again (a whole frame: `CardReader.onAnswer`), or
 *     a read or a check of the reader succeeds;
 *   - its head (runtime/txn/swipe-failures.ts: past READER_SWIPE_FAILURES_MAX unreadable swipes in
 *     a row, E-RDR-01), over when a swipe reads. The count is SwipeFailures', read here, so the two
 *     can never disagree; a reader that answers proves nothing of its head.
 * A customer's unreadable swipe below that count, no card presented (E-RDR-06), a card the kernel
 * refused and a cancel are none of the reader's faults.
 *
 * Nothing here talks to the reader: a handheld's battery pays for every poll at idle, so the
 * reader is known to be back only when something asks it anyway (the next card wait's detection
 * and its INFO liveness poll, a diagnostics check). Not journaled, like the swipe count (what it
 * says is a hint about a part, not money data; after a restart the next card wait finds out
 * again); each fault is a warning in the log with its code.
 */
import { ERRORS, ErrorId, PosError } from '../../common/errors';
import type { Logger } from '../../common/log';
import { readerLinkFault } from '../../hal/card-reader';
import { SwipeFailures, SwipeStats } from './swipe-failures';

export interface ReaderFault {
  readonly code: string;
  /** The reader's line (silent, gone, garbled) or its head (unreadable swipes in a row). */
  readonly part: 'link' | 'head';
  readonly message: string;
  /** When it was found, on the terminal's clock. */
  readonly atMs: number;
}

/** What a remote operator gets of the reader without anyone at the terminal (boot/diagnostics.ts). */
export interface ReaderHealthStatus {
  /** The fault standing now (the reader's line first: nothing reads while it stands). */
  readonly fault?: ReaderFault;
  /** The last fault of the reader's line seen since the terminal started, standing or over. */
  readonly lastLinkFault?: ReaderFault;
  /** When the reader last answered (a whole frame, a read), on the terminal's clock. */
  readonly lastAnswerAtMs?: number;
  readonly swipes: SwipeStats;
}

export class ReaderHealth {
  private linkFault: ReaderFault | undefined;
  private lastLinkFault: ReaderFault | undefined;
  private lastAnswerAtMs: number | undefined;

  constructor(private readonly clock: () => number, private readonly swipes: SwipeFailures, private readonly log?: Logger) {}

  /**
   * What a card wait or a check of the reader ended with: a fault of the reader's own (E-RDR-01,
   * 03, 04 as readerLinkFault says) stands from now; anything else says nothing of the reader.
   * True when it was one.
   */
  noteFailure(e: unknown): boolean {
    const f = readerLinkFault(e);
    if (!f) return false;
    const fault: ReaderFault = { code: f.code, part: 'link', message: f.message.replace(/^E-\S+ /, ''), atMs: this.clock() };
    if (this.linkFault?.code !== fault.code) this.log?.warn({ code: fault.code }, `card reader fault: ${fault.message}; shown at idle until the reader answers again`);
    this.linkFault = fault;
    this.lastLinkFault = fault;
    return true;
  }

  /** The reader answered (a whole frame, a card read, a check passed): a fault of its line is over. */
  noteAnswered(): void {
    this.lastAnswerAtMs = this.clock();
    const f = this.linkFault;
    if (!f) return;
    this.linkFault = undefined;
    this.log?.info({ code: f.code }, 'card reader answers again: its fault is over');
  }

  /** The fault standing now, if any: the reader's line before its head (a dead line reads nothing). */
  fault(): ReaderFault | undefined {
    if (this.linkFault) return this.linkFault;
    const s = this.swipes.stats();
    if (!s.readerSuspect) return undefined;
    return { code: ERRORS.RDR_FAULT.code, part: 'head', message: `${s.inARow} unreadable swipes in a row`, atMs: s.last?.atMs ?? this.clock() };
  }

  status(): ReaderHealthStatus {
    const fault = this.fault();
    return {
      ...(fault ? { fault } : {}),
      ...(this.lastLinkFault ? { lastLinkFault: this.lastLinkFault } : {}),
      ...(this.lastAnswerAtMs !== undefined ? { lastAnswerAtMs: this.lastAnswerAtMs } : {}),
      swipes: this.swipes.stats(),
    };
  }
}

/** A reader fault as the error diagnostics fails its reader check with. */
export function readerFaultError(f: ReaderFault): PosError {
  const ids: Readonly<Record<string, ErrorId>> = { [ERRORS.RDR_TIMEOUT.code]: 'RDR_TIMEOUT', [ERRORS.RDR_DISCONNECTED.code]: 'RDR_DISCONNECTED' };
  return new PosError(ids[f.code] ?? 'RDR_FAULT', f.message, { part: f.part, atMs: f.atMs });
}

/**
 * What boot found, still standing: every part's fault, one entry each, as the idle and login
 * screens' notice row reads them (boot/terminal-app.ts). Only the first self-test fault used to be
 * shown: with the printer and a status light both failing, the technician saw the printer's,
 * fixed it and only then learnt of the light; a key held at power-on covered both, and after its
 * release neither came back.
 *
 * The rules:
 *   - one entry per source (a part's role; the keypad's stuck keys apart from its other faults,
 *     since the two end differently): a new fault of the same source replaces its entry in place;
 *   - entries are read in the order they were found, except the stuck keys, which come first (the
 *     keypad is how anything is done);
 *   - an entry ends on its own, when its part shows it works again (the printer answers, the keys
 *     are released, ...): the others stay;
 *   - with more than one, the row reads each entry's turns one after another, each code preceded
 *     by its place and the count ("1/2 E-PRN-04", then its cause and first step, then
 *     "2/2 E-BRD-03" ...), so the person reading knows there are more and where the list begins
 *     again. "k/n " takes four cells of a 16-cell row beside an 8-cell code: it fits every display.
 */
import type { InTurns, Txt } from '../ui-lcd/screen';
import { isInTurns } from '../ui-lcd/strings';

export interface BootFault {
  /** What the entry is for: a part's role ("printer0"), or STUCK_KEYS_SOURCE. */
  readonly source: string;
  readonly code: string;
  /** The fault's own notice (boot/terminal-app.ts faultNotice, stuckKeysNotice): code, cause, first step. */
  readonly notice: Txt;
}

/** The keypad's stuck keys' source: apart from the keypad's role, whose other faults end otherwise (a key). */
export const STUCK_KEYS_SOURCE = 'keys stuck';

/** Entries kept at most: one per role of a board file is far below it; a limit all the same (DESIGN rule 7). */
export const BOOT_FAULTS_MAX = 32;

export class BootFaults {
  private entries: BootFault[] = [];

  /** The entries as the notice row reads them. */
  all(): readonly BootFault[] {
    return this.entries;
  }

  get(source: string): BootFault | undefined {
    return this.entries.find((f) => f.source === source);
  }

  /** Adds `f`, or replaces the entry of its source where it stands. */
  set(f: BootFault): void {
    const i = this.entries.findIndex((e) => e.source === f.source);
    if (i >= 0) { this.entries = this.entries.map((e, j) => (j === i ? f : e)); return; }
    if (this.entries.length >= BOOT_FAULTS_MAX) return;
    this.entries = f.source === STUCK_KEYS_SOURCE ? [f, ...this.entries] : [...this.entries, f];
  }

  /** Ends the entry of `source` (only if its code is `code`, when given). True when there was one. */
  clear(source: string, code?: string): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.source !== source || (code !== undefined && e.code !== code));
    return this.entries.length !== before;
  }
}

/**
 * The notice row's text for `notices` read one after another: none, the one as it is, or each
 * one's turns with its code preceded by "k/n " (see the module's comment). A notice that is not
 * in turns counts as one turn.
 */
export function faultsNotice(notices: readonly Txt[]): Txt | undefined {
  if (notices.length === 0) return undefined;
  if (notices.length === 1) return notices[0];
  const n = notices.length;
  const counted = notices.map((notice, i): InTurns => {
    const place = `${i + 1}/${n} `;
    const turns = isInTurns(notice) ? notice.turns : [notice];
    const whole = isInTurns(notice) ? notice.whole : notice;
    return { whole: { parts: [place, whole] }, turns: turns.map((turn, j) => (j === 0 ? { parts: [place, turn] } : turn)) };
  });
  // Resolved whole (a log, a row wide enough for all of it): each in its place, one after another.
  const whole: Txt = { parts: counted.flatMap((c, i) => (i === 0 ? [c.whole] : [' ', c.whole])) };
  return { whole, turns: counted.flatMap((c) => c.turns) };
}

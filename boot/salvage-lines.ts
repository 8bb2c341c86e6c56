/**
 * What a salvage says about money work it cannot carry (storage/salvage.ts owedSetAside), in both
 * languages: the recovery menu's report and `pos journal salvage` print the same lines.
 */
import { yuan } from '../common/money';
import type { OwedWork } from '../storage/salvage';
import type { LocalText } from '../ui-lcd/screen';
import { rt } from '../ui-lcd/recovery-strings';

const OWED_NAME = { reversal: 'owed.reversal', advice: 'owed.advice', 'script-notice': 'owed.scriptNotice', 'qr-query': 'owed.qrQuery' } as const;

/**
 * The salvage's lines for money work it cannot carry (storage/salvage.ts owedSetAside): each one
 * by STAN and amount, then what to do. None when there is none.
 */
export function owedLines(owed: readonly OwedWork[]): LocalText[] {
  if (owed.length === 0) return [];
  const lines = owed.map((o) => rt(o.state === 'set-aside' ? 'salvage.owedSetAside' : 'salvage.doneSetAside', {
    what: rt(OWED_NAME[o.kind]), stan: String(o.stan).padStart(6, '0'), amount: o.amountFen === undefined ? '' : `¥${yuan(o.amountFen)}`,
  }));
  return [...lines, rt('salvage.owedStep')];
}

/**
 * Terminal risk management, EMV 4.3 Book 3 §10.6: floor limit, random transaction selection and
 * velocity checking. Pure functions: amounts, limits, the card's counters and the random number
 * are inputs (the random number from the injected random source, so a seeded run replays); each
 * returns the TVR bits (byte 4, and "new card" of byte 2) it sets.
 *
 * Not here: the exception file (TVR byte 1 bit 5) and the log of approved offline transactions
 * that the floor limit check adds for the same card (pass it as `loggedSameCardMinor`).
 */
import { invariant } from '../../common/errors';
import { TVR, TvrBit } from './emv-tvr';

/** Book 3 §10.6.2: the random number is from 1 to 99. */
export const RANDOM_PERCENT_MIN = 1;
export const RANDOM_PERCENT_MAX = 99;

/** Book 3 §10.6.1: amount (plus what was approved offline for the same card) at or over the floor limit (9F1B). */
export function floorLimitCheck(amountMinor: number, floorLimitMinor: number, loggedSameCardMinor = 0): TvrBit[] {
  return amountMinor + loggedSameCardMinor >= floorLimitMinor ? [TVR.floorLimitExceeded] : [];
}

export interface RandomSelectionParams {
  /** Target percentage for random selection (0..99). */
  readonly targetPercent: number;
  /** Maximum target percentage for biased random selection (targetPercent..99). */
  readonly maxTargetPercent: number;
  /** Threshold value for biased random selection, below the floor limit. */
  readonly thresholdMinor: number;
  readonly floorLimitMinor: number;
}

/**
 * Book 3 §10.6.2: below the threshold, selected when the random number (1..99) is at most the
 * target percentage; from the threshold up to the floor limit the percentage rises linearly to
 * the maximum target; at or over the floor limit random selection does not apply (the floor limit
 * check sends it online).
 */
export function randomSelection(amountMinor: number, p: RandomSelectionParams, randomPercent: number): TvrBit[] {
  invariant(Number.isInteger(randomPercent) && randomPercent >= RANDOM_PERCENT_MIN && randomPercent <= RANDOM_PERCENT_MAX, 'random number is 1..99');
  invariant(p.thresholdMinor < p.floorLimitMinor || p.floorLimitMinor === 0, 'threshold below the floor limit');
  if (amountMinor >= p.floorLimitMinor) return [];
  let percent = p.targetPercent;
  if (amountMinor >= p.thresholdMinor) {
    const interpolation = (amountMinor - p.thresholdMinor) / (p.floorLimitMinor - p.thresholdMinor);
    percent = (p.maxTargetPercent - p.targetPercent) * interpolation + p.targetPercent;
  }
  return randomPercent <= percent ? [TVR.randomlySelectedOnline] : [];
}

export interface VelocityInput {
  /** 9F14 lower consecutive offline limit. */
  readonly lowerLimit?: number;
  /** 9F23 upper consecutive offline limit. */
  readonly upperLimit?: number;
  /** 9F36 from GET DATA; undefined when the card did not give it. */
  readonly atc?: number;
  /** 9F13 last online ATC register from GET DATA; undefined when the card did not give it. */
  readonly lastOnlineAtc?: number;
}

/**
 * Book 3 §10.6.3: only when the card has both limits. Without the ATC or the last online ATC,
 * both "exceeded" bits are set. Otherwise the number of transactions since the last online one
 * (ATC − last online ATC) over each limit sets its bit, and a last online ATC of zero is a new card.
 */
export function velocityCheck(v: VelocityInput): TvrBit[] {
  if (v.lowerLimit === undefined || v.upperLimit === undefined) return [];
  if (v.atc === undefined || v.lastOnlineAtc === undefined) return [TVR.lowerOfflineLimitExceeded, TVR.upperOfflineLimitExceeded];
  const sinceOnline = Math.max(0, v.atc - v.lastOnlineAtc);
  const bits: TvrBit[] = [];
  if (sinceOnline > v.lowerLimit) bits.push(TVR.lowerOfflineLimitExceeded);
  if (sinceOnline > v.upperLimit) bits.push(TVR.upperOfflineLimitExceeded);
  if (v.lastOnlineAtc === 0) bits.push(TVR.newCard);
  return bits;
}

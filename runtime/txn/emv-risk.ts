/**
 * Terminal risk management, EMV 4.3 Book 3 §10.6: floor limit, random transaction selection and
 * velocity checking. Pure functions: amounts, limits, the card's counters and the random number
 * are inputs (the random number from the injected random source, so a seeded run replays); each
 * returns the TVR bits (byte 4, and "new card" of byte 2) it sets.
 *
 * `terminalRiskManagement` runs the three for the kernel (emv-kernel.ts runKernel) from the AID's
 * downloaded parameters, the card's data and the terminal's `RiskContext` (the random number and
 * the log of this batch's approved sales by card); `readVelocityCounters` is its one card
 * exchange (GET DATA 9F36 and 9F13, only for a card that gives both offline limits).
 *
 * Not here: the exception file (TVR byte 1 bit 5).
 */
import { invariant } from '../../common/errors';
import type { RandomSelectionParams as AidRandomParams } from '../host/emv-params';
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

// ---------------------------------------------------------------- the kernel's step

/** What the terminal brings to risk management besides the AID's parameters (CardRequest.risk). */
export interface RiskContext {
  /**
   * 1..99 from the terminal's injected random source (engine.cardRequest), so a seeded run and a
   * test replay it. Absent: random selection is not performed (nothing selected).
   */
  readonly randomPercent?: number;
  /**
   * The transaction log (Book 3 §10.6.1): the amount of the most recent approved transaction of
   * this batch for the same PAN, 0 when none. The PAN never leaves the terminal's memory: the
   * engine compares keyed hashes (panTag). Absent: no log.
   */
  readonly loggedSameCardFen?: (pan: string) => number;
}

export interface RiskInput {
  readonly amountFen: number;
  /** The AID's floor limit for this interface (contact 9F1B, or contactless DF19). */
  readonly floorLimitFen: number;
  /** The AID's DF15/DF16/DF17; absent: no random selection. */
  readonly random?: AidRandomParams;
  readonly pan: string;
  readonly context?: RiskContext;
  readonly velocity: VelocityInput;
}

/** Book 3 §10.6: floor limit (with the log), random selection, velocity; the TVR bits they set. */
export function terminalRiskManagement(r: RiskInput): TvrBit[] {
  const logged = r.context?.loggedSameCardFen?.(r.pan) ?? 0;
  invariant(Number.isSafeInteger(logged) && logged >= 0, 'logged amount is fen');
  const bits = floorLimitCheck(r.amountFen, r.floorLimitFen, logged);
  const pct = r.context?.randomPercent;
  if (r.random !== undefined && pct !== undefined && r.floorLimitFen > 0) {
    bits.push(...randomSelection(r.amountFen, {
      targetPercent: r.random.targetPercent, maxTargetPercent: r.random.maxTargetPercent, thresholdMinor: r.random.thresholdFen, floorLimitMinor: r.floorLimitFen,
    }, pct));
  }
  bits.push(...velocityCheck(r.velocity));
  return bits;
}

/** Draws the random number 1..99 from random bytes (4 bytes: the modulo's bias is under 1e-7). */
export const RANDOM_PERCENT_BYTES = 4;
export function randomPercentOf(bytes: Buffer): number {
  invariant(bytes.length === RANDOM_PERCENT_BYTES, 'random percent takes 4 bytes');
  return (bytes.readUInt32BE(0) % RANDOM_PERCENT_MAX) + RANDOM_PERCENT_MIN;
}

type Transmit = (apdu: Buffer) => Promise<Buffer>;
const COUNTER_BYTES = 2;

function beNumber(b: Buffer | undefined): number | undefined {
  return b === undefined || b.length === 0 ? undefined : b.readUIntBE(0, b.length);
}

/** GET DATA (80 CA) for a 2-byte counter; undefined when the card does not give it (any answer but 9000 with the tag). */
async function getCounter(tx: Transmit, tag: number): Promise<number | undefined> {
  const r = await tx(Buffer.from([0x80, 0xca, tag >> 8, tag & 0xff, 0x00]));
  if (r.length < 2 || r.readUInt16BE(r.length - 2) !== 0x9000) return undefined;
  const data = r.subarray(0, r.length - 2);
  // The answer is the data object itself: tag (2 bytes), length, value.
  if (data.length !== 3 + COUNTER_BYTES || data.readUInt16BE(0) !== tag || data[2] !== COUNTER_BYTES) return undefined;
  return data.readUInt16BE(3);
}

/**
 * Book 3 §10.6.3: the card's lower and upper consecutive offline limits (9F14, 9F23) from its
 * records; only when it has both, the ATC (9F36) and last online ATC register (9F13) by GET DATA.
 */
export async function readVelocityCounters(tx: Transmit, card: ReadonlyMap<number, Buffer>): Promise<VelocityInput> {
  const lowerLimit = beNumber(card.get(0x9f14));
  const upperLimit = beNumber(card.get(0x9f23));
  if (lowerLimit === undefined || upperLimit === undefined) return {};
  const atc = await getCounter(tx, 0x9f36);
  const lastOnlineAtc = await getCounter(tx, 0x9f13);
  return { lowerLimit, upperLimit, ...(atc === undefined ? {} : { atc }), ...(lastOnlineAtc === undefined ? {} : { lastOnlineAtc }) };
}

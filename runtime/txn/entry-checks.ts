/**
 * Checks on what an operator keys in for a card-not-present sale and a refund, shared by the
 * state machine (which refuses a bad event with an error code) and the keypad input (which
 * refuses at once, keeping what was typed).
 *
 *   checkKeyedPan(pan)                            // throws E-OPR-16 unless 13..19 digits with a valid Luhn check digit
 *   checkExpiry('3012', nowMs)                    // YYMM (field 14): E-OPR-17 unless a real month not yet passed
 *   mmyyToYymm('1230') === '3012'                 // the card shows MM/YY; the message carries YYMM
 *   checkRefundDetails('123456789012', '1121', nowMs)  // E-OPR-18 / E-OPR-19
 *
 * Dates are in the terminal's time zone (default China, UTC+8, no DST; common/time.ts), like the
 * host's field 13: never the process's.
 * A refund's original date (MMDD, no year) is the latest such day not after today: a December
 * sale refunded in January is last year's. It must be a real calendar date and at most
 * REFUND_AGE_DAYS_MAX days ago, so tomorrow's date (which would read as almost a year ago) is
 * refused as "in the future".
 */
import { PosError } from '../../common/errors';
import { TZ_OFFSET_MINUTES_DEFAULT, civil } from '../../common/time';
import { luhnValid } from '../../storage/record';

export const PAN_KEYED_DIGITS_MIN = 13;
export const PAN_KEYED_DIGITS_MAX = 19;
export const REFERENCE_DIGITS = 12;
/** Oldest original sale a refund may name, in days (the acquirer's refund window). */
export const REFUND_AGE_DAYS_MAX = 180;
const DAY_MS = 86_400_000;

export type PanProblem = 'length' | 'luhn';
export type ExpiryProblem = 'format' | 'expired';
export type DateProblem = 'format' | 'future' | 'too-old';

/**
 * `luhn: false` checks the length only: the state machine's check. The check digit is the
 * keypad's check (it catches a typo while the operator can still correct it); the card's
 * validity is the acquirer's call. The simulator's test cards (sim/test-cards.ts) carry valid
 * check digits, so they can be keyed in too.
 */
export function panProblem(pan: string, o: { luhn?: boolean } = {}): PanProblem | undefined {
  if (!/^\d+$/.test(pan) || pan.length < PAN_KEYED_DIGITS_MIN || pan.length > PAN_KEYED_DIGITS_MAX) return 'length';
  return o.luhn === false || luhnValid(pan) ? undefined : 'luhn';
}

export function checkKeyedPan(pan: string, o: { luhn?: boolean } = {}): void {
  const p = panProblem(pan, o);
  // The PAN itself is never put in the message or detail: errors are logged.
  if (p) throw new PosError('OPR_CARD_NUMBER', p === 'length' ? `a card number is ${PAN_KEYED_DIGITS_MIN}..${PAN_KEYED_DIGITS_MAX} digits` : 'card number check digit (Luhn) wrong', { problem: p, digits: pan.length });
}

/** MMYY as printed on a card to YYMM as field 14 carries it. */
export function mmyyToYymm(mmyy: string): string {
  return `${mmyy.slice(2, 4)}${mmyy.slice(0, 2)}`;
}


/** YYMM: a real month; the card is valid to the end of that month. */
export function expiryProblem(yymm: string, nowMs: number, tzOffsetMinutes = TZ_OFFSET_MINUTES_DEFAULT): ExpiryProblem | undefined {
  if (!/^\d{4}$/.test(yymm)) return 'format';
  const month = Number(yymm.slice(2, 4));
  if (month < 1 || month > 12) return 'format';
  const now = civil(nowMs, tzOffsetMinutes);
  const year = 2000 + Number(yymm.slice(0, 2));
  const nowMonths = now.year * 12 + (now.month - 1);
  return year * 12 + (month - 1) < nowMonths ? 'expired' : undefined;
}

export function checkExpiry(yymm: string, nowMs: number, tzOffsetMinutes = TZ_OFFSET_MINUTES_DEFAULT): void {
  const p = expiryProblem(yymm, nowMs, tzOffsetMinutes);
  if (p) throw new PosError('OPR_EXPIRY', p === 'expired' ? 'card expired' : 'expiry is MMYY with a month 01..12', { problem: p });
}

/**
 * The day MMDD names (the latest one not after today), or what is wrong with it. "Today" is the
 * later of the terminal's date and the host's (China, UTC+8): the original's date is the host's
 * (its 13, which 61 carries), so on a board west of China a sale made this evening is already
 * dated tomorrow there, and is no date "in the future".
 */
export function originalDate(mmdd: string, nowMs: number, tzOffsetMinutes = TZ_OFFSET_MINUTES_DEFAULT): { date?: Date; problem?: DateProblem } {
  if (!/^\d{4}$/.test(mmdd)) return { problem: 'format' };
  const month = Number(mmdd.slice(0, 2));
  const day = Number(mmdd.slice(2, 4));
  if (month < 1 || month > 12 || day < 1 || day > 31) return { problem: 'format' };
  // The zone further east has the later date at any instant.
  const now = civil(nowMs, Math.max(tzOffsetMinutes, TZ_OFFSET_MINUTES_DEFAULT));
  const today = Date.UTC(now.year, now.month - 1, now.day);
  const real = (year: number): Date | undefined => {
    const d = new Date(Date.UTC(year, month - 1, day));
    return d.getUTCMonth() === month - 1 && d.getUTCDate() === day ? d : undefined;
  };
  const thisYear = real(now.year);
  const lastYear = real(now.year - 1);
  if (!thisYear && !lastYear) return { problem: 'format' };
  const afterToday = thisYear !== undefined && thisYear.getTime() > today;
  const date = thisYear && !afterToday ? thisYear : lastYear;
  // 29 February: a real date only in a leap year (this one after today, last year's not real).
  if (!date) return { problem: afterToday ? 'future' : 'format' };
  if ((today - date.getTime()) / DAY_MS > REFUND_AGE_DAYS_MAX) return { problem: afterToday ? 'future' : 'too-old' };
  return { date };
}

export function checkRefundDetails(rrn: string, mmdd: string, nowMs: number, tzOffsetMinutes = TZ_OFFSET_MINUTES_DEFAULT): void {
  if (!new RegExp(`^\\d{${REFERENCE_DIGITS}}$`).test(rrn)) throw new PosError('OPR_REFERENCE', `a reference number is ${REFERENCE_DIGITS} digits`, { digits: rrn.length });
  checkOriginalDate(mmdd, nowMs, tzOffsetMinutes);
}

/** An original transaction's date MMDD (refund, keyed pre-authorization): real, not in the future, not too old. */
export function checkOriginalDate(mmdd: string, nowMs: number, tzOffsetMinutes = TZ_OFFSET_MINUTES_DEFAULT): void {
  const { problem } = originalDate(mmdd, nowMs, tzOffsetMinutes);
  if (problem) throw new PosError('OPR_DATE', problem === 'future' ? 'original date is in the future' : problem === 'too-old' ? `original date more than ${REFUND_AGE_DAYS_MAX} days ago` : 'original date is not a real MMDD date', { problem, mmdd });
}

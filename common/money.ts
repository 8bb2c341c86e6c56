/**
 * Amounts are integer fen everywhere (DESIGN: no floating point for money); this is the one place
 * that writes fen as yuan digits, for screens, receipts, reports and anomaly flags alike.
 */

/** Fen as yuan with two decimals, sign kept: 12345 -> "123.45", -350 -> "-3.50". Integer arithmetic only. */
export function yuan(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const a = Math.abs(fen);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

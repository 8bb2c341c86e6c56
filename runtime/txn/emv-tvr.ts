/**
 * Terminal Verification Results (TVR, tag 95), EMV 4.3 Book 3 Annex C5: five bytes of bits the
 * kernel's steps set and terminal action analysis (emv-taa.ts) compares with the action codes.
 * Each step returns the bits it sets (`TvrBit[]`) instead of mutating a shared TVR, so that every
 * step stays a pure function and its test can say exactly which bits it set.
 *
 * A bit is named by its byte (1..5, as the book counts) and its bit (8..1, b8 the leftmost).
 */

export interface TvrBit {
  /** 1..5, Book 3's byte number. */
  readonly byte: 1 | 2 | 3 | 4 | 5;
  /** 8..1, Book 3's bit number (b8 = 0x80). */
  readonly bit: 8 | 7 | 6 | 5 | 4 | 3 | 2 | 1;
}

export const TVR_BYTES = 5;

function b(byte: TvrBit['byte'], bit: TvrBit['bit']): TvrBit {
  return Object.freeze({ byte, bit });
}

/** Book 3 Annex C5, table 44 (byte 1: offline data authentication and ICC data). */
export const TVR = Object.freeze({
  odaNotPerformed: b(1, 8),
  sdaFailed: b(1, 7),
  iccDataMissing: b(1, 6),
  cardOnExceptionFile: b(1, 5),
  ddaFailed: b(1, 4),
  cdaFailed: b(1, 3),
  // byte 2: processing restrictions
  appVersionsDiffer: b(2, 8),
  expiredApplication: b(2, 7),
  applicationNotYetEffective: b(2, 6),
  serviceNotAllowed: b(2, 5),
  newCard: b(2, 4),
  // byte 3: cardholder verification
  cvmNotSuccessful: b(3, 8),
  unrecognisedCvm: b(3, 7),
  pinTryLimitExceeded: b(3, 6),
  pinPadMissing: b(3, 5),
  pinNotEntered: b(3, 4),
  onlinePinEntered: b(3, 3),
  // byte 4: terminal risk management
  floorLimitExceeded: b(4, 8),
  lowerOfflineLimitExceeded: b(4, 7),
  upperOfflineLimitExceeded: b(4, 6),
  randomlySelectedOnline: b(4, 5),
  merchantForcedOnline: b(4, 4),
  // byte 5: issuer authentication and scripts
  defaultTdolUsed: b(5, 8),
  issuerAuthenticationFailed: b(5, 7),
  scriptFailedBeforeFinalAc: b(5, 6),
  scriptFailedAfterFinalAc: b(5, 5),
});

export type TvrName = keyof typeof TVR;

/** A zero TVR. */
export function emptyTvr(): Buffer {
  return Buffer.alloc(TVR_BYTES);
}

function mask(bit: TvrBit): number {
  return 1 << (bit.bit - 1);
}

/** A new TVR with `bits` set on top of `tvr` (the input is not changed). */
export function withTvrBits(tvr: Buffer, bits: readonly TvrBit[]): Buffer {
  const out = Buffer.from(tvr);
  for (const x of bits) out[x.byte - 1] |= mask(x);
  return out;
}

export function hasTvrBit(tvr: Buffer, bit: TvrBit): boolean {
  return (tvr[bit.byte - 1] & mask(bit)) !== 0;
}

/** The TVR of exactly these bits. */
export function tvrOf(bits: readonly TvrBit[]): Buffer {
  return withTvrBits(emptyTvr(), bits);
}

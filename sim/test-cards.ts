/**
 * Test cards for the virtual card reader. Test data only: PANs are in the 622202 (UnionPay test)
 * range and never real. IC and contactless cards answer a minimal EMV flow:
 *   SELECT PPSE ("2PAY.SYS.DDF01") → FCI naming the AID
 *   SELECT AID (A000000333010101, UnionPay debit) → FCI, no PDOL
 *   GET PROCESSING OPTIONS (80 A8, data 83 00) → AIP + AFL (SFI 1, record 1)
 *   READ RECORD (00 B2 01 0C) → 70 { 57 track-2 equivalent, 5A PAN, 5F24 expiry, 5F34 PSN, 5F20 name,
 *                                   8C CDOL1 (the IC card; the QuickPass card has none: the
 *                                   terminal uses its default CDOL1, the same list) }
 *   GENERATE AC (80 AE P1 00, data = CDOL1 data, 29 bytes) → format 2 (77 { 9F27 CID, 9F36 ATC,
 *     9F26 AC, 9F10 IAD }) for the IC card, format 1 (80: CID ATC AC IAD) for the QuickPass card.
 *     P1 80 (ARQC) or 40 (TC) is answered with an ARQC (CID 80), P1 00 with an AAC (CID 00);
 *     data of another length than the CDOL1's: 6700.
 * Anything else: 6D00 (instruction not supported) or 6A82 (file not found).
 *
 * The cryptogram (`simCryptogram`), deterministic so a seeded simulation replays:
 *   card key = the first 16 bytes of SHA-256("sim-card-ac-key/" + PAN)
 *   ATC      = 1 + (the first 2 bytes of SHA-256(CDOL1 data), big-endian, mod 65534): the card
 *              keeps no state between transactions, so a run replays whatever ran before it in
 *              the same process (a real card counts up)
 *   AC       = the first 8 bytes of HMAC-SHA256(card key, CDOL1 data ‖ AIP ‖ ATC)
 *   IAD      = 07 01 01 03 A0 00 00 01 (fixed)
 * A host (or a test) that knows the card's PAN can recompute it; the acquirer simulator only
 * checks that 9F26 and 9F36 are there.
 */
import { createHash, createHmac } from 'node:crypto';

export interface MagCard {
  readonly kind: 'mag';
  readonly name: string;
  readonly track2: string;
  readonly track3?: string;
}

export interface ChipCard {
  readonly kind: 'ic' | 'contactless';
  readonly name: string;
  /** Contact cards: Answer To Reset. */
  readonly atr: Buffer;
  /** Contactless cards: UID and ATS the reader reports on tap. */
  readonly uid: Buffer;
  readonly ats: Buffer;
  /** A card that never answers power-on (dirty contacts, dead chip). */
  readonly mute?: boolean;
  readonly pan: string;
  readonly expiry: string; // YYMMDD
  readonly psn: number;
  respond(apdu: Buffer): Buffer;
}

export const AID_UNIONPAY_DEBIT = Buffer.from('A000000333010101', 'hex');
const SW_OK = Buffer.from([0x90, 0x00]);
/** The simulated cards' AIP (82): SDA, DDA, cardholder verification, terminal risk management, issuer authentication. */
export const SIM_AIP = Buffer.from('7C00', 'hex');
/** CDOL1 of the IC card (8C): 9F02(6) 9F03(6) 9F1A(2) 95(5) 5F2A(2) 9A(3) 9C(1) 9F37(4), 29 bytes. */
export const SIM_CDOL1 = Buffer.from('9F02069F03069F1A0295055F2A029A039C019F3704', 'hex');
export const SIM_IAD = Buffer.from('07010103A0000001', 'hex');

/** The simulated card's answer to GENERATE AC over `cdolData` (see the top of this file). */
export function simCryptogram(pan: string, cdolData: Buffer): { ac: Buffer; atc: Buffer } {
  const key = createHash('sha256').update(`sim-card-ac-key/${pan}`).digest().subarray(0, 16);
  const atcValue = 1 + (createHash('sha256').update(cdolData).digest().readUInt16BE(0) % 0xfffe);
  const atc = Buffer.from([atcValue >> 8, atcValue & 0xff]);
  const ac = createHmac('sha256', key).update(Buffer.concat([cdolData, SIM_AIP, atc])).digest().subarray(0, 8);
  return { ac, atc };
}

/** BER-TLV with one- or two-byte tags and short/0x81 lengths (enough for these cards). */
export function tlv(tag: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'hex') : value;
  const t = tag > 0xff ? Buffer.from([tag >> 8, tag & 0xff]) : Buffer.from([tag]);
  const l = v.length < 0x80 ? Buffer.from([v.length]) : Buffer.from([0x81, v.length]);
  return Buffer.concat([t, l, v]);
}

/** Track 2 equivalent data (tag 57): PAN 'D' YYMM service code discretionary, padded with F. */
export function track2Equivalent(track2: string): Buffer {
  const nibbles = track2.replace('=', 'D');
  return Buffer.from(nibbles.length % 2 ? `${nibbles}F` : nibbles, 'hex');
}

function panBcd(pan: string): Buffer {
  return Buffer.from(pan.length % 2 ? `${pan}F` : pan, 'hex');
}

export interface EmvCardOptions {
  /** 8C in the record; null: the card has no CDOL1 (the terminal's default applies, same list). */
  readonly cdol1?: Buffer | null;
  /** GENERATE AC response format (1: tag 80, 2: tag 77). */
  readonly acFormat?: 1 | 2;
}

/** 29: the data length of SIM_CDOL1 (and of the terminal's default CDOL1). */
const CDOL1_DATA_BYTES = 29;

function emvResponder(pan: string, expiry: string, psn: number, track2: string, name: string, opts: EmvCardOptions = {}): (apdu: Buffer) => Buffer {
  const ppse = Buffer.from('2PAY.SYS.DDF01', 'ascii');
  const cdol1 = opts.cdol1 === undefined ? SIM_CDOL1 : opts.cdol1;
  return (apdu) => {
    const [cla, ins, p1, p2] = apdu;
    const lc = apdu[4] ?? 0;
    const data = apdu.subarray(5, 5 + lc);
    if (cla === 0x00 && ins === 0xa4 && p1 === 0x04 && data.equals(ppse)) {
      const entry = tlv(0x61, Buffer.concat([tlv(0x4f, AID_UNIONPAY_DEBIT), tlv(0x50, Buffer.from('UnionPay Debit')), tlv(0x87, '01')]));
      return Buffer.concat([tlv(0x6f, Buffer.concat([tlv(0x84, ppse), tlv(0xa5, tlv(0xbf0c, entry))])), SW_OK]);
    }
    if (cla === 0x00 && ins === 0xa4 && p1 === 0x04 && data.equals(AID_UNIONPAY_DEBIT)) {
      return Buffer.concat([tlv(0x6f, Buffer.concat([tlv(0x84, AID_UNIONPAY_DEBIT), tlv(0xa5, tlv(0x50, Buffer.from('UnionPay Debit')))])), SW_OK]);
    }
    if (cla === 0x00 && ins === 0xa4) return Buffer.from([0x6a, 0x82]);
    if (cla === 0x80 && ins === 0xa8) return Buffer.concat([tlv(0x77, Buffer.concat([tlv(0x82, SIM_AIP), tlv(0x94, '08010100')])), SW_OK]);
    if (cla === 0x00 && ins === 0xb2 && p1 === 0x01 && p2 === 0x0c) {
      const record = Buffer.concat([tlv(0x57, track2Equivalent(track2)), tlv(0x5a, panBcd(pan)), tlv(0x5f24, expiry),
        tlv(0x5f34, Buffer.from([psn])), tlv(0x5f20, Buffer.from(name, 'ascii')), ...(cdol1 ? [tlv(0x8c, cdol1)] : [])]);
      return Buffer.concat([tlv(0x70, record), SW_OK]);
    }
    if (cla === 0x80 && ins === 0xae) {
      if (lc !== CDOL1_DATA_BYTES || data.length !== lc) return Buffer.from([0x67, 0x00]);
      const { ac, atc } = simCryptogram(pan, data);
      const cid = Buffer.from([(p1 & 0xc0) === 0x00 ? 0x00 : 0x80]);
      const body = (opts.acFormat ?? 2) === 1
        ? tlv(0x80, Buffer.concat([cid, atc, ac, SIM_IAD]))
        : tlv(0x77, Buffer.concat([tlv(0x9f27, cid), tlv(0x9f36, atc), tlv(0x9f26, ac), tlv(0x9f10, SIM_IAD)]));
      return Buffer.concat([body, SW_OK]);
    }
    if (cla === 0x00 && ins === 0xb2) return Buffer.from([0x6a, 0x83]);
    return Buffer.from([0x6d, 0x00]);
  };
}

export function chipCard(kind: 'ic' | 'contactless', name: string, pan: string, expiry: string, psn: number, extra: Partial<ChipCard> = {}, emv: EmvCardOptions = {}): ChipCard {
  // ISO 7813: at most 37 characters; the discretionary data shrinks as the PAN grows.
  const track2 = `${pan}=${expiry.slice(0, 4)}2010000012345678`.slice(0, 37);
  return {
    kind, name, pan, expiry, psn,
    atr: Buffer.from('3B6800000073C84013009000', 'hex'),
    uid: Buffer.from('04A1B2C3D4E5F6', 'hex'),
    ats: Buffer.from('0578807002', 'hex'),
    respond: emvResponder(pan, expiry, psn, track2, 'TEST/CARDHOLDER', emv),
    ...extra,
  };
}

/**
 * Every PAN here ends in a valid Luhn check digit, so the same numbers can be keyed in (FUNC on the
 * card screen) as well as read: a keyed number is refused at the keypad when its check digit is
 * wrong. The README names the one to key (magShort's, 16 digits). tests/ui/test-cards.test.ts
 * checks them.
 */
export const TEST_CARDS = {
  /** A 19-digit debit card: track 2 `6222021234567890128=30122010000012345` (37 characters, the ISO 7813 maximum). */
  magDebit: { kind: 'mag', name: 'mag debit', track2: '6222021234567890128=30122010000012345', track3: '996222021234567890128=1561560500050006001013777777' } as MagCard,
  magShort: { kind: 'mag', name: 'mag 16-digit', track2: '6222020000000015=28122010000000000000' } as MagCard,
  icDebit: chipCard('ic', 'IC debit', '6222021234567890128', '301231', 1),
  icMute: chipCard('ic', 'IC mute', '6222020000000023', '281231', 0, { mute: true }),
  contactless: chipCard('contactless', 'QuickPass', '6222029876543214', '291130', 2, { uid: Buffer.from('08112233', 'hex') }, { cdol1: null, acFormat: 1 }),
} as const;

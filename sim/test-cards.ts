/**
 * Test cards for the virtual card reader. Test data only: PANs are in the 622202 (UnionPay test)
 * range and never real. The chip cards are EMV card models (sim/emv-card.ts): their own RSA keys
 * certified under the acquirer simulator's test CA keys, a real ARQC from the test issuer master
 * key, a PDOL, records by the AFL, DDA or SDA. `icDebit` (DDA, CA key 80) and `contactless` (DDA,
 * no CDOL1, GENERATE AC format 1) are the everyday cards; the others misbehave on purpose:
 *   icSda             SDA under CA key 81 (a good card of the older kind)
 *   icExpiredCert     DDA with an issuer certificate that expired in 2015: ODA fails, the sale goes online
 *   icBadSda          SDA whose signed static data covers other data than its records: ODA fails
 *   icOdaDeclined     the expired certificate, and an IAC-Denial with "DDA failed": the terminal asks
 *                     for an AAC and the sale is declined offline
 *   icPulled          pulled out of the reader while the terminal asks for the cryptogram
 *   quickPass         qPBOC (cryptogram in the GPO answer): a small tap approved offline with fDDA
 *   qpbocBadFdda      qPBOC, wrong fDDA signature: online with its TC (its CTQ allows it)
 *   qpbocExpiredIcc   qPBOC, ICC certificate expired, no online fallback in its CTQ: declined
 *   icCda / icCdaBad  CDA at GENERATE AC; the second with a wrong signature: declined offline
 * The everyday cards are shared singletons a seeded day replays twice in one process, so their ATC
 * is `replayable` (derived from the CDOL1 data); a test that needs a counting ATC makes its own
 * card with emvCard().
 */
import { AID_UNIONPAY_DEBIT, SIM_CDOL1, SIM_IAD, emvCard, tlv, track2Equivalent } from './emv-card';

export { AID_UNIONPAY_DEBIT, SIM_CDOL1, SIM_IAD, tlv, track2Equivalent };

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
  /** True when the customer pulls the card as this command reaches it (the reader reports it removed). */
  pullsOn?(apdu: Buffer): boolean;
}

/** The everyday cards' AIP (82): SDA, DDA, cardholder verification, terminal risk management, issuer authentication. */
export const SIM_AIP = Buffer.from('7C00', 'hex');

/** IAC-Denial with "DDA failed" (TVR byte 1 bit 4): the issuer wants such a card declined offline. */
const IAC_DENY_DDA_FAILED = Buffer.from('0800000000', 'hex');

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
  icDebit: emvCard({ kind: 'ic', name: 'IC debit', pan: '6222021234567890128', expiry: '301231', psn: 1, atc: 'replayable' }) as ChipCard,
  icMute: emvCard({ kind: 'ic', name: 'IC mute', pan: '6222020000000023', expiry: '281231', psn: 0 }, { mute: true }) as ChipCard,
  contactless: emvCard({ kind: 'contactless', name: 'QuickPass', pan: '6222029876543214', expiry: '291130', psn: 2, cdol1: null, acFormat: 1, atc: 'replayable' },
    { uid: Buffer.from('08112233', 'hex') }) as ChipCard,
  icSda: emvCard({ kind: 'ic', name: 'IC SDA', pan: '6222020000000031', expiry: '301231', psn: 1, oda: 'sda', caIndex: 0x81, atc: 'replayable' }) as ChipCard,
  icExpiredCert: emvCard({ kind: 'ic', name: 'IC expired issuer certificate', pan: '6222020000000049', expiry: '301231', psn: 1, faults: ['expired-issuer-cert'], atc: 'replayable' }) as ChipCard,
  icBadSda: emvCard({ kind: 'ic', name: 'IC wrong signed static data', pan: '6222020000000056', expiry: '301231', psn: 1, oda: 'sda', faults: ['wrong-signed-static-data'], atc: 'replayable' }) as ChipCard,
  icOdaDeclined: emvCard({ kind: 'ic', name: 'IC ODA failed, declined', pan: '6222020000000064', expiry: '301231', psn: 1, faults: ['expired-issuer-cert'],
    iac: { denial: IAC_DENY_DDA_FAILED }, atc: 'replayable' }) as ChipCard,
  icPulled: emvCard({ kind: 'ic', name: 'IC pulled out', pan: '6222020000000072', expiry: '301231', psn: 1, pullAt: 'generate-ac', atc: 'replayable' }) as ChipCard,
  // The online half (issue 11): the host approves, the card does not confirm: the sale is reversed (06).
  icDeclinesLate: emvCard({ kind: 'ic', name: 'IC declines after approval', pan: '6222020000000080', expiry: '301231', psn: 1, faults: ['decline-second-ac'], atc: 'replayable' }) as ChipCard,
  icPulledLate: emvCard({ kind: 'ic', name: 'IC pulled before the end', pan: '6222020000000098', expiry: '301231', psn: 1, pullAt: 'second-generate-ac', atc: 'replayable' }) as ChipCard,
  /** Every issuer script command fails (6581): the sale stands, DF31 says failed (host fault issuer-script:...). */
  icScriptFails: emvCard({ kind: 'ic', name: 'IC scripts fail', pan: '6222020000000106', expiry: '301231', psn: 1, faults: ['script-fails'], atc: 'replayable' }) as ChipCard,
  // qPBOC and CDA (issue 11): the cryptogram in the GPO answer, fDDA; CDA at GENERATE AC.
  /** qPBOC: under the AID's contactless floor limit (200 yuan) with offline sales allowed, approved offline (TC, fDDA); else online. */
  quickPass: emvCard({ kind: 'contactless', name: 'QuickPass qPBOC', pan: '6222020000000114', expiry: '301231', psn: 1, qpboc: true, atc: 'replayable' },
    { uid: Buffer.from('08445566', 'hex') }) as ChipCard,
  /** qPBOC whose fDDA signature covers other data; its CTQ says go online when ODA fails: the TC goes online. */
  qpbocBadFdda: emvCard({ kind: 'contactless', name: 'QuickPass wrong fDDA', pan: '6222020000000122', expiry: '301231', psn: 1, qpboc: true, faults: ['wrong-fdda-signature'], atc: 'replayable' },
    { uid: Buffer.from('08445567', 'hex') }) as ChipCard,
  /** qPBOC with an ICC certificate that expired in 2015 and a CTQ that allows no online fallback: fDDA fails, declined (E-RDR-09). */
  qpbocExpiredIcc: emvCard({ kind: 'contactless', name: 'QuickPass expired ICC cert', pan: '6222020000000130', expiry: '301231', psn: 1, qpboc: true, faults: ['expired-icc-cert'],
    ctq: Buffer.from('8000', 'hex'), atc: 'replayable' }, { uid: Buffer.from('08445568', 'hex') }) as ChipCard,
  /** CDA: the signature with the ARQC (and the TC at the final GENERATE AC) verified. */
  icCda: emvCard({ kind: 'ic', name: 'IC CDA', pan: '6222020000000148', expiry: '301231', psn: 1, oda: 'cda', atc: 'replayable' }) as ChipCard,
  /** CDA whose signature covers another unpredictable number: declined offline (E-RDR-09) at the first GENERATE AC. */
  icCdaBad: emvCard({ kind: 'ic', name: 'IC CDA wrong signature', pan: '6222020000000155', expiry: '301231', psn: 1, oda: 'cda', faults: ['wrong-cda-signature'], atc: 'replayable' }) as ChipCard,
} as const;

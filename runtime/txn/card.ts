/**
 * A card as the engine needs it, read from the card reader (hal/card-reader.ts). Card data lives
 * in memory only (DESIGN.md rule 8): this module never logs or stores it; the engine seals the
 * PAN and masks it before anything is written.
 *
 * Swipe: PAN and expiry from track 2. Insert / tap: a minimal EMV read (SELECT PPSE, SELECT AID,
 * GET PROCESSING OPTIONS, READ RECORD 1 of SFI 1) for tags 57, 5A, 5F24, 5F34 and the CDOL1 (8C);
 * then, when the caller says what the transaction is (`CardRequest`: the machine asks the amount
 * before the card for a sale and a refund, a balance inquiry has none), the first GENERATE AC
 * asking for an ARQC, and field 55 built from emv.ts's allow-list. The card is released before
 * readCard returns: the whole exchange happens while the card is inserted or in the field.
 */
import { PosError } from '../../common/errors';
import { EntryMode } from '../host/messages';
import { CardEvent, CardReader, CardSlot, CardSource } from '../../hal/card-reader';
import {
  CardRequest, DEFAULT_CDOL1, cryptogramType, dolData, field55Of, generateAcCommand, parseGenerateAc, terminalData,
} from './emv';

export type { CardRequest, EmvTxnType } from './emv';

export interface CardInput {
  readonly pan: string;
  readonly entryMode: EntryMode;
  /** YYMM. */
  readonly expiry?: string;
  readonly cardSeq?: string;
  readonly track2?: string;
  readonly track3?: string;
  /** IC cards: the customer enters a PIN (this profile: IC and contactless ask for one). */
  readonly pinRequired: boolean;
  /**
   * IC and contactless, read with a `CardRequest`: field 55 (BER-TLV, allow-listed tags only:
   * ARQC, its inputs, never PAN or track data) for the request that `emv` was read for.
   */
  readonly field55?: Buffer;
  /** The transaction the ARQC in `field55` was asked for (the engine checks it matches). */
  readonly emv?: { readonly txnType: CardRequest['txnType']; readonly amountFen: number };
}

export const CARD_WAIT_MS_DEFAULT = 60_000;
const PAN_DIGITS_MIN = 13;
const PAN_DIGITS_MAX = 19;
const TLV_DEPTH_MAX = 8;

/** ISO 7813: track 2 holds at most 37 characters (field 35's maximum too). */
export const TRACK2_CHARS_MAX = 37;

/**
 * A track longer than ISO 7813 allows is a misread (or a forged card), not data to cut down: the
 * cashier is asked to swipe again or insert the card (E-RDR-02), nothing is sent to the host.
 */
function checkedTrack2(track2: string): string {
  if (track2.length > TRACK2_CHARS_MAX) throw new PosError('RDR_UNREADABLE', `track 2 of ${track2.length} characters (at most ${TRACK2_CHARS_MAX})`);
  return track2;
}

export function cardFromTrack2(track2: string, track3?: string): CardInput {
  const m = /^(\d{13,19})[=D](\d{4})/.exec(track2);
  if (!m) throw new PosError('RDR_UNREADABLE', 'track 2 has no PAN and expiry');
  const t2 = checkedTrack2(track2.replace('D', '='));
  return { pan: m[1], expiry: m[2], entryMode: '022', track2: t2, track3, pinRequired: false };
}

/** A keyed PAN (where the acquirer allows it): no track, no PIN. */
export function keyedCard(pan: string, expiryYymm: string): CardInput {
  if (!/^\d+$/.test(pan) || pan.length < PAN_DIGITS_MIN || pan.length > PAN_DIGITS_MAX) throw new PosError('OPR_INPUT', 'card number must be 13..19 digits');
  if (!/^\d{4}$/.test(expiryYymm)) throw new PosError('OPR_INPUT', 'expiry is YYMM');
  return { pan, expiry: expiryYymm, entryMode: '012', pinRequired: false };
}

/** Applies the PIN decision to the entry mode's last digit (1 = PIN entered, 2 = no PIN). */
export function withPin(card: CardInput, pinEntered: boolean): CardInput {
  return { ...card, entryMode: `${card.entryMode.slice(0, 2)}${pinEntered ? '1' : '2'}` as EntryMode };
}

/**
 * Waits for a card and reads what the transaction needs. With `request`, a chip card is asked for
 * an ARQC over the request's amount and type and the result carries field 55; without it (a card
 * check outside a transaction) there is no GENERATE AC and no field 55.
 */
export async function readCard(reader: CardReader, sources: readonly CardSource[], timeoutMs = CARD_WAIT_MS_DEFAULT, request?: CardRequest): Promise<CardInput> {
  const ev: CardEvent = await reader.waitForCard(sources, timeoutMs);
  switch (ev.type) {
    case 'swiped': return cardFromTrack2(ev.track2, ev.track3);
    case 'read-failed': throw ev.error;
    case 'inserted': return readChip(reader, 'contact', '05', request);
    case 'tapped': return readChip(reader, 'contactless', '07', request);
    default: throw new PosError('RDR_UNREADABLE', `unexpected card event ${ev.type}`);
  }
}

async function apdu(reader: CardReader, slot: CardSlot, hex: string): Promise<Buffer> {
  const r = await reader.transmit(slot, Buffer.from(hex, 'hex'));
  if (r.length < 2 || r[r.length - 2] !== 0x90 || r[r.length - 1] !== 0x00) throw new PosError('RDR_UNREADABLE', `card answered ${r.subarray(-2).toString('hex')}`);
  return r.subarray(0, r.length - 2);
}

async function readChip(reader: CardReader, slot: CardSlot, modePrefix: '05' | '07', request?: CardRequest): Promise<CardInput> {
  try {
    const ppse = Buffer.from('2PAY.SYS.DDF01', 'ascii');
    const fci = await apdu(reader, slot, `00A40400${ppse.length.toString(16).padStart(2, '0')}${ppse.toString('hex')}00`);
    const aid = findTag(fci, 0x4f);
    if (!aid) throw new PosError('RDR_UNREADABLE', 'card lists no application');
    const appFci = await apdu(reader, slot, `00A40400${aid.length.toString(16).padStart(2, '0')}${aid.toString('hex')}00`);
    const gpo = await apdu(reader, slot, '80A8000002830000');
    const record = await apdu(reader, slot, '00B2010C00');
    const t2 = findTag(record, 0x57);
    const panTag = findTag(record, 0x5a);
    if (!t2 || !panTag) throw new PosError('RDR_UNREADABLE', 'card record lacks track 2 equivalent or PAN');
    const track2 = checkedTrack2(t2.toString('hex').toUpperCase().replace(/F+$/, '').replace('D', '='));
    const pan = panTag.toString('hex').toUpperCase().replace(/F+$/, '');
    const exp = findTag(record, 0x5f24);
    const psn = findTag(record, 0x5f34);
    const card: CardInput = {
      pan, track2, entryMode: `${modePrefix}1` as EntryMode, pinRequired: true,
      expiry: exp ? exp.toString('hex').slice(0, 4) : undefined,
      cardSeq: psn ? String(psn[0]).padStart(3, '0') : undefined,
    };
    if (request === undefined) return card;
    return { ...card, ...await generateAc(reader, slot, request, pan, { appFci, gpo, record }) };
  } finally {
    await reader.release(slot).catch(() => undefined);
  }
}

/**
 * The first GENERATE AC: CDOL1 from the record (8C) or DEFAULT_CDOL1, filled with the terminal's
 * data; an ARQC gives field 55. An AAC (the card declines offline) or a TC (not what was asked)
 * ends the read: nothing goes to the host.
 */
async function generateAc(reader: CardReader, slot: CardSlot, request: CardRequest, pan: string, read: { appFci: Buffer; gpo: Buffer; record: Buffer }): Promise<Pick<CardInput, 'field55' | 'emv'>> {
  const terminal = terminalData(request);
  const cdol1 = findTag(read.record, 0x8c) ?? DEFAULT_CDOL1;
  const cdolData = dolData(cdol1, terminal);
  if (cdolData.length === 0 || cdolData.length > 0xff) throw new PosError('RDR_UNREADABLE', `CDOL1 asks for ${cdolData.length} bytes`);
  const ac = parseGenerateAc(await apdu(reader, slot, generateAcCommand(cdolData).toString('hex')));
  const kind = cryptogramType(ac.get(0x9f27) as Buffer);
  if (kind !== 'ARQC') throw new PosError('RDR_UNREADABLE', kind === 'AAC' ? 'card declined the transaction (AAC)' : 'card answered TC to an ARQC request');
  // Card data objects field 55 may take: AIP (82, from GPO format 2 or the first 2 bytes of
  // format 1's tag 80) and the DF name (84) from the application's FCI. Nothing else of the card's.
  const cardData = new Map<number, Buffer>();
  const gpoTop = findTag(read.gpo, 0x80);
  const aip = findTag(read.gpo, 0x82) ?? (gpoTop && gpoTop.length >= 2 ? gpoTop.subarray(0, 2) : undefined);
  if (aip) cardData.set(0x82, aip);
  const dfName = findTag(read.appFci, 0x84);
  if (dfName) cardData.set(0x84, dfName);
  // From the card's answer only the cryptogram's own objects; the terminal's data is its own.
  for (const tag of [0x9f26, 0x9f27, 0x9f36, 0x9f10]) {
    const v = ac.get(tag);
    if (v) cardData.set(tag, v);
  }
  const values = new Map<number, Buffer>([...cardData, ...terminal]);
  return { field55: field55Of(values, pan), emv: { txnType: request.txnType, amountFen: request.amountFen } };
}

/** Depth-first search of BER-TLV for a tag (constructed tags searched inside). */
export function findTag(data: Buffer, tag: number, depth = 0): Buffer | undefined {
  let i = 0;
  while (i < data.length && depth <= TLV_DEPTH_MAX) {
    let t = data[i++];
    const constructed = (t & 0x20) !== 0;
    if ((t & 0x1f) === 0x1f) t = (t << 8) | data[i++];
    let len = data[i++];
    if (len === 0x81) len = data[i++];
    else if (len === 0x82) { len = (data[i] << 8) | data[i + 1]; i += 2; }
    if (len === undefined || i + len > data.length) return undefined;
    const value = data.subarray(i, i + len);
    if (t === tag) return value;
    if (constructed) {
      const inner = findTag(value, tag, depth + 1);
      if (inner) return inner;
    }
    i += len;
  }
  return undefined;
}

/**
 * A card as the engine needs it, read from the card reader (hal/card-reader.ts). Card data lives
 * in memory only (DESIGN.md rule 8): this module never logs or stores it; the engine seals the
 * PAN and masks it before anything is written.
 *
 * Swipe: PAN and expiry from track 2. Insert / tap: the EMV kernel's steps (emv-kernel.ts:
 * application selection against the downloaded AIDs, GPO with the PDOL, READ RECORD by the AFL)
 * for tags 57, 5A, 5F24, 5F34; then, when the caller says what the transaction is (`CardRequest`:
 * the machine asks the amount before the card for a sale and a refund, a balance inquiry has
 * none), offline data authentication under the downloaded CA keys, processing restrictions, CVM,
 * floor limit, terminal action analysis and the first GENERATE AC, and field 55 built from emv.ts's
 * allow-list. An AAC ends the read with E-RDR-09 (ODA failed, declined offline) or E-RDR-08 (the
 * card or the action codes declined); nothing goes to the host. The card is released before
 * readCard returns: the whole exchange happens while the card is inserted or in the field; except
 * for a request with `holdCard` (the sale) whose inserted card answered ARQC: it stays powered and the read
 * carries `online` (emv-online.ts ChipOnline) for issuer authentication, the final GENERATE AC and
 * the scripts once the host answered; completing or releasing it lets the card go.
 */
import { PosError } from '../../common/errors';
import { EntryMode } from '../host/messages';
import { CardEvent, CardReader, CardSlot, CardSource } from '../../hal/card-reader';
import { CardRequest, cryptogramType, field55Of } from './emv';
import { BUILT_IN_AIDS, KernelResult, OdaOutcome, Transmit, readApplicationData, runKernel, selectAndInitiate } from './emv-kernel';
import { qpbocTvr } from './emv-qpboc';
import { ChipOnline, chipOnline } from './emv-online';
import type { OdaFailure } from './emv-oda';

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
  /** Chip cards read for a transaction: what offline data authentication did, and the TVR sent. */
  readonly chip?: {
    readonly oda: OdaOutcome['method']; readonly odaFailure?: OdaFailure; readonly tvr: string;
    /** qPBOC: the card approved offline (TC, fDDA passed): the sale is journaled offline and uploaded later (engine). */
    readonly offlineApproved?: boolean;
  };
  /**
   * A chip card read with `CardRequest.holdCard` that answered ARQC: still powered in the reader
   * for the online half (emv-online.ts); the sale completes it, anything else releases it.
   */
  readonly online?: ChipOnline;
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
  return { ...card, entryMode: entryModeWithPin(card.entryMode, pinEntered) };
}

/**
 * An entry mode with its last digit for a PIN entered or not (profile, field 22). A message that
 * never carries a PIN block (a refund, a completion, a pre-authorization void) sends `false`: the
 * card's own verification rule, read with the card, is not a PIN entered.
 */
export function entryModeWithPin(mode: EntryMode, pinEntered: boolean): EntryMode {
  return `${mode.slice(0, 2)}${pinEntered ? '1' : '2'}` as EntryMode;
}

/**
 * Waits for a card and reads what the transaction needs. With `request`, a chip card is asked for
 * an ARQC over the request's amount and type and the result carries field 55; without it (a card
 * check outside a transaction) there is no GENERATE AC and no field 55.
 */
export async function readCard(reader: CardReader, sources: readonly CardSource[], timeoutMs = CARD_WAIT_MS_DEFAULT, request?: CardRequest): Promise<CardInput> {
  const ev: CardEvent = await reader.waitForCard(sources, timeoutMs);
  switch (ev.type) {
    case 'swiped':
      try { return cardFromTrack2(ev.track2, ev.track3); } catch (e) { throw fromSource(e, 'swipe'); }
    case 'read-failed': throw fromSource(ev.error, ev.source);
    case 'inserted': return readChip(reader, 'contact', '05', request);
    case 'tapped': return readChip(reader, 'contactless', '07', request);
    default: throw new PosError('RDR_UNREADABLE', `unexpected card event ${ev.type}`);
  }
}

/**
 * An unreadable card says how it was presented (`detail.source`): the machine counts unreadable
 * swipes (swipe-failures.ts) and must not count a chip or a tap among them.
 */
function fromSource(e: unknown, source: CardSource): unknown {
  if (!(e instanceof PosError) || e.id !== 'RDR_UNREADABLE' || e.detail.source === source) return e;
  return new PosError(e.id, e.message.replace(/^E-\S+ /, ''), { ...e.detail, source }, { cause: e });
}

/**
 * The chip read: the kernel's steps (emv-kernel.ts) over the reader's slot. Without a request (a
 * card check outside a transaction) only selection, GPO and the records; with one, the whole first
 * pass to the first GENERATE AC. The card is released before this returns, whatever happened.
 */
async function readChip(reader: CardReader, slot: CardSlot, modePrefix: '05' | '07', request?: CardRequest): Promise<CardInput> {
  const tx: Transmit = (command) => reader.transmit(slot, command);
  const contactless = slot === 'contactless';
  let held = false;
  try {
    if (request === undefined) {
      const { options } = await selectAndInitiate(tx, contactless, BUILT_IN_AIDS, new Map());
      return cardOf((await readApplicationData(tx, options.afl)).values, modePrefix, true);
    }
    const k = await runKernel(tx, contactless, request);
    const card = cardOf(k.card, modePrefix, k.cvm !== 'signature' && k.cvm !== 'no-cvm');
    if (k.qpboc === true) return qpbocRead(k, card, request);
    // CDA's signature failed with the first GENERATE AC: declined offline (the card was told AAC).
    if (k.cdaFailedAtAc === true) throw new PosError('RDR_ODA_DECLINED', `offline data authentication (cda) failed: ${k.oda.failure ?? 'unknown'}; declined offline`, { oda: 'cda', reason: k.oda.failure });
    const kind = cryptogramType(k.ac.get(0x9f27) as Buffer);
    if (kind === 'AAC') {
      // The card declined offline: because terminal action analysis asked it to after a failed
      // ODA (the issuer's or acquirer's denial codes name that failure), or on its own.
      if (k.asked === 'AAC' && k.oda.failure !== undefined) throw new PosError('RDR_ODA_DECLINED', `offline data authentication (${k.oda.method}) failed: ${k.oda.failure}; declined offline`, { oda: k.oda.method, reason: k.oda.failure });
      throw new PosError('RDR_CARD_DECLINED', k.asked === 'AAC' ? 'terminal action analysis declined (AAC)' : 'card declined the transaction (AAC)');
    }
    if (kind !== 'ARQC') throw new PosError('RDR_UNREADABLE', 'card answered TC to an ARQC request');
    const read: CardInput = { ...card, ...field55Part(k, card.pan, request), chip: { oda: k.oda.method, odaFailure: k.oda.failure, tvr: (k.terminal.get(0x95) as Buffer).toString('hex').toUpperCase() } };
    // A contactless card has left the field by now (EMV Book C: no second GENERATE AC, no scripts):
    // only an inserted card is kept for the online half.
    if (request.holdCard !== true || contactless) return read;
    held = true;
    // CDA passed at the first GENERATE AC: the final one asks for it again.
    const cda = k.oda.method === 'cda' && k.oda.failure === undefined && k.oda.iccKey !== undefined && k.cdol1Data !== undefined
      ? { iccKey: k.oda.iccKey, pdolData: k.options.pdolData, cdol1Data: k.cdol1Data } : undefined;
    return { ...read, online: chipOnline(tx, { aip: k.options.aip, card: k.card, terminal: k.terminal, ac: k.ac, ...(cda ? { cda } : {}) }, () => reader.release(slot)) };
  } finally {
    if (!held) await reader.release(slot).catch(() => undefined);
  }
}

/**
 * A qPBOC read (emv-qpboc.ts): AAC declined (E-RDR-08); a TC the kernel accepted is an offline
 * approval (`chip.offlineApproved`, field 55 with the TC); anything else goes online with the
 * card's cryptogram. `chip.tvr` is what the terminal found (fDDA), field 55's 95 what the card signed.
 */
function qpbocRead(k: KernelResult, card: CardInput, request: CardRequest): CardInput {
  const kind = cryptogramType(k.ac.get(0x9f27) as Buffer);
  if (kind === 'AAC') throw new PosError('RDR_CARD_DECLINED', 'card declined the transaction (qPBOC AAC)');
  const offlineApproved = k.offlineApproved === true && kind === 'TC';
  return {
    ...card, ...field55Part(k, card.pan, request),
    chip: { oda: k.oda.method, odaFailure: k.oda.failure, tvr: qpbocTvr(k), ...(offlineApproved ? { offlineApproved } : {}) },
  };
}

/** The card input from the records: track 2 equivalent and PAN are required. */
function cardOf(values: ReadonlyMap<number, Buffer>, modePrefix: '05' | '07', pinRequired: boolean): CardInput {
  const t2 = values.get(0x57);
  const panTag = values.get(0x5a);
  if (!t2 || !panTag) throw new PosError('RDR_UNREADABLE', 'card record lacks track 2 equivalent or PAN');
  const track2 = checkedTrack2(t2.toString('hex').toUpperCase().replace(/F+$/, '').replace('D', '='));
  const pan = panTag.toString('hex').toUpperCase().replace(/F+$/, '');
  const exp = values.get(0x5f24);
  const psn = values.get(0x5f34);
  return {
    // The last digit says whether a PIN goes with it (the profile's 22): the card's rule until the
    // PIN screen decides (withPin); messages without a PIN block send 2 (entryModeWithPin).
    pan, track2, entryMode: `${modePrefix}${pinRequired ? '1' : '2'}` as EntryMode, pinRequired,
    expiry: exp ? exp.toString('hex').slice(0, 4) : undefined,
    cardSeq: psn ? String(psn[0]).padStart(3, '0') : undefined,
  };
}

/**
 * Field 55 from the kernel's result: of the card's data only the AIP (82), the DF name (84) and the
 * cryptogram's own objects (9F26 9F27 9F36 9F10); the terminal's data as the steps set it (95,
 * 9F34, 9F09). The allow-list (emv.ts) does the rest.
 */
function field55Part(k: KernelResult, pan: string, request: CardRequest): Pick<CardInput, 'field55' | 'emv'> {
  const cardData = new Map<number, Buffer>([[0x82, k.options.aip], [0x84, k.app.aid]]);
  for (const tag of [0x9f26, 0x9f27, 0x9f36, 0x9f10]) {
    const v = k.ac.get(tag);
    if (v) cardData.set(tag, v);
  }
  const values = new Map<number, Buffer>([...cardData, ...k.terminal]);
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

/**
 * A card reader, by role (`reader0`): magnetic stripe, contact IC (EMV chip) and contactless.
 * The driver (hal/drivers/card-reader.ts) speaks a framed serial protocol documented in
 * hal/drivers/CARD_READER_PROTOCOL.md.
 *
 * Rule 8 of DESIGN.md: track data and APDU answers are sensitive. They are handed to the caller
 * and never logged or stored by the driver.
 *
 * Contract:
 *   - Card detection is off until `startDetection(sources)`; events then arrive through `onEvent`
 *     (and `waitForCard`). `stopDetection` turns it off. Detection stops by itself after a card
 *     event (one card per transaction) and must be started again.
 *   - An inserted IC card is powered by the driver: the 'inserted' event carries its ATR. A tapped
 *     contactless card is activated by the reader: 'tapped' carries UID and ATS.
 *   - `transmit(slot, apdu)` exchanges one APDU with the powered/activated card, resolving with
 *     the response APDU including SW1 SW2. Rejects with:
 *       RDR_CARD_REMOVED 'card-unreadable' (card pulled or taken away mid-exchange),
 *       RDR_UNREADABLE 'card-unreadable' (no card in that slot, card mute),
 *       RDR_TIMEOUT 'timeout' (reader silent past the named maxima and retries),
 *       RDR_FAULT 'reader-fault' (the reader keeps sending garbled frames, or answers nonsense),
 *       RDR_DISCONNECTED 'device-absent' (the serial port disappeared: power loss, cable),
 *       OPR_CANCELLED 'cancelled' (`cancel()`).
 *   - A swipe the reader could not decode (or a chip that stays mute) arrives as a 'read-failed'
 *     event (error RDR_UNREADABLE), counted in `diagnostics().unreadableSwipes` / `unreadableChips`.
 *   - Garbled frames from the reader are answered with NAK, counted, and never raise: the reader
 *     resends. Only when retries run out does the current command reject (RDR_FAULT).
 *   - `cancel()` rejects the pending command and `waitForCard` calls with OPR_CANCELLED and stops
 *     detection. `close()` cancels, powers the card off (best effort) and closes the port.
 */
import { isPosError } from '../common/errors';
import type { PosError } from '../common/errors';

export type CardSource = 'swipe' | 'insert' | 'tap';
export type CardSlot = 'contact' | 'contactless';

export type CardEvent =
  | {
      readonly type: 'swiped';
      /** Track 2 without sentinels, e.g. "6222021234567890123=30122010000012345" (at most 37 characters). */
      readonly track2: string;
      readonly track3?: string;
    }
  /** A card was presented but could not be read (bad stripe, mute chip): RDR_UNREADABLE. */
  | { readonly type: 'read-failed'; readonly source: CardSource; readonly error: PosError }
  | { readonly type: 'inserted'; readonly atr: Buffer }
  | { readonly type: 'removed'; readonly slot: CardSlot }
  | { readonly type: 'tapped'; readonly uid: Buffer; readonly ats: Buffer };

export interface ReaderInfo {
  readonly firmware: string;
  readonly sources: readonly CardSource[];
}

/** Counters for diagnostics screens and the service log (never card data). */
export interface ReaderDiagnostics {
  /** Frames from the reader rejected (bad checksum, length, ETX, or truncated): each was NAKed. */
  readonly framesRejected: number;
  readonly naksSent: number;
  /** NAKs received from the reader (it rejected one of our frames). */
  readonly naksReceived: number;
  /** Frames we resent after a NAK or a missing ACK. */
  readonly retransmits: number;
  /** Stray bytes between frames discarded while resynchronising on STX. */
  readonly bytesDiscarded: number;
  readonly timeouts: number;
  readonly unreadableSwipes: number;
  readonly unreadableChips: number;
}

export interface CardReader {
  /** Reader identity and capabilities: a real round trip, used by the boot self-test. */
  selfTest(): Promise<ReaderInfo>;

  startDetection(sources: readonly CardSource[]): Promise<void>;
  stopDetection(): Promise<void>;

  /** Subscribes to card events; returns the unsubscribe function. */
  onEvent(listener: (event: CardEvent) => void): () => void;

  /**
   * Starts detection and resolves with the next card event ('swiped', 'read-failed', 'inserted'
   * or 'tapped'). Rejects with RDR_NO_CARD (kind 'timeout') after `timeoutMs`, the caller's
   * limit for a customer to present a card, and only when the reader still answers then; with
   * OPR_CANCELLED on cancel(); or with the errors of startDetection (RDR_TIMEOUT, RDR_FAULT,
   * RDR_DISCONNECTED). A reader that stops answering during the wait (the driver polls it) ends
   * the wait with RDR_TIMEOUT, RDR_FAULT or RDR_DISCONNECTED: never "no card presented".
   */
  waitForCard(sources: readonly CardSource[], timeoutMs: number): Promise<CardEvent>;

  /** One APDU exchange; see the contract above. */
  transmit(slot: CardSlot, apdu: Uint8Array): Promise<Buffer>;

  /** Powers the contact card off / releases the contactless card. Safe if there is none. */
  release(slot: CardSlot): Promise<void>;

  diagnostics(): ReaderDiagnostics;

  /**
   * Called with each whole frame the reader sends (an answer to a command, even a refusal, or a
   * card event): the reader is alive and its line carries frames. Nothing is sent for it; it
   * comes from what the terminal asks anyway (a card wait's detection and its INFO liveness poll,
   * a diagnostics self-test), so a terminal that tells a recovered reader by it polls no more at
   * idle. Returns the unsubscribe function. Optional: for a reader without it, the next read's
   * outcome is all there is.
   */
  onAnswer?(listener: () => void): () => void;

  cancel(): void;
  close(): Promise<void>;
}

/**
 * The reader itself failed (E-RDR-03 silent, E-RDR-01 garbled frames or ours rejected, E-RDR-04
 * its port gone): the error, else undefined. An answer with a status, even a refusal, came from a
 * live reader; a card that could not be read, no card presented and a cancel are not the reader's.
 */
export function readerLinkFault(e: unknown): PosError | undefined {
  if (!isPosError(e) || e.detail.status !== undefined) return undefined;
  return e.id === 'RDR_TIMEOUT' || e.id === 'RDR_DISCONNECTED' || e.id === 'RDR_FAULT' ? e : undefined;
}

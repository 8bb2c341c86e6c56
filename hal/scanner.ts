/**
 * A 2D barcode/QR scan engine, by role (`scanner0`, optional): the terminal scans the customer's
 * payment code (WeChat Pay, Alipay, UnionPay QR: 16..32 digits) shown on a phone. The driver
 * (hal/drivers/scan-engine.ts) speaks the serial trigger protocol of
 * hal/drivers/SCAN_ENGINE_PROTOCOL.md; a USB keyboard-wedge scanner would be another driver
 * behind this same interface (the document says how).
 *
 * Kept as small as an embedded-hal trait: one scan at a time, a cancel through AbortSignal, close.
 *
 * A payment code is a bearer credential for about a minute (DESIGN.md rule 8 in spirit): the
 * driver hands it to the caller and never logs it whole, only `maskCode` (last 4 characters).
 *
 * Contract:
 *   - `scan(timeoutMs, signal)` switches the engine's illumination/aimer on, resolves with the
 *     first code decoded after that call and switches it off. Rejects with:
 *       SCN_NO_CODE 'timeout'          nothing decoded within `timeoutMs` (the caller's limit for a
 *                                      customer to show the code);
 *       SCN_TIMEOUT 'timeout'          the engine stopped answering (no decode and no "no read"
 *                                      report within its own read time-out and a grace);
 *       SCN_GARBLED 'reader-fault'     the answer was not a code: bytes outside printable ASCII,
 *                                      a line longer than the named maximum, a wrong prefix or
 *                                      suffix, or a line cut off mid-way;
 *       SCN_DISCONNECTED 'device-absent' the port went away (power loss, cable) or was closed;
 *       OPR_CANCELLED 'cancelled'      the signal aborted (the operator pressed CANCEL).
 *     A second `scan` while one is running is a caller bug (InvariantError).
 *   - Cancel: the engine is told to stop before the promise rejects, so the illumination is off
 *     when the caller sees OPR_CANCELLED. A code the engine decoded as the stop crossed it on the
 *     wire arrives late: it is DROPPED (counted, logged masked), never delivered to a later scan.
 *     Every scan starts by discarding whatever arrived while no scan was asked.
 *   - Data arriving while no scan is running (a module left triggered, a late decode, noise) is
 *     dropped and counted in `diagnostics().linesDropped`; it never resolves a later scan.
 *   - Power loss / cable pulled: the running scan rejects SCN_DISCONNECTED and so does every later
 *     call; an engine without power has its illumination off by itself.
 *   - `close()` cancels a running scan (stop sent, best effort), then closes the port. Idempotent;
 *     `scan` after it rejects SCN_DISCONNECTED.
 */

export interface ScannerDiagnostics {
  /** Trigger commands sent (a scan re-triggers after each "no read" of the engine). */
  readonly triggers: number;
  /** Codes delivered to a caller. */
  readonly codes: number;
  /** "No read" reports of the engine (its read time-out passed with nothing decoded). */
  readonly noReads: number;
  /** Lines that arrived with no scan running, or after its cancel: dropped. */
  readonly linesDropped: number;
  /** Lines refused as garbled (bad bytes, overlong, wrong prefix/suffix, cut off). */
  readonly linesGarbled: number;
  /** Scans that ended SCN_TIMEOUT: the engine was silent. */
  readonly timeouts: number;
}

export interface Scanner {
  /** Triggers one scan; see the contract above. */
  scan(timeoutMs: number, signal?: AbortSignal): Promise<string>;

  /**
   * The board self-test: the port is open and drains. A serial-trigger engine has no identity
   * query in the protocol we use, so an engine that is present but dead is found by the first
   * scan (SCN_TIMEOUT), not here.
   */
  check(): Promise<void>;

  diagnostics(): ScannerDiagnostics;

  close(): Promise<void>;
}

/** Longest timeout one scan may be given (ms): a caller passing more has a unit bug. */
export const SCAN_TIMEOUT_MS_MAX = 300_000;

/** What a log line or a screen may show of a scanned code: its length and last 4 characters. */
export function maskCode(code: string): string {
  const tail = code.length > 4 ? code.slice(-4) : '';
  return `${'*'.repeat(Math.max(0, code.length - tail.length))}${tail}`;
}

/**
 * Battery interface: charge level, charging state and the level the runtime acts on.
 *
 * Contract:
 * - `read()` resolves with what the board can tell. A fuel gauge that fails does not make it
 *   reject: `percent`/`voltageMv` are null and `fault` carries the PosError (BRD_DEVICE_ABSENT or
 *   BRD_BUS); the low-battery line, where fitted, still decides `level`. It rejects only when
 *   nothing at all could be read (no gauge answer and no line), with the gauge's error.
 * - `level`: 'critical' at or below the board's criticalPercent, 'low' at or below lowPercent or
 *   while the low-battery line is asserted, else 'ok'. The runtime maps 'low' to PWR_LOW and
 *   'critical' to PWR_CRITICAL (save and shut down).
 * - `watch(listener)` calls back when `level` or `charging` changes: at once on a GPIO edge, and
 *   otherwise at the poll interval. Listener exceptions are dropped.
 * - After a power loss nothing needs restoring: the gauge keeps measuring on its own.
 * - `close()` stops polling and watching; lines and bus belong to the board. Idempotent.
 */
import { PosError } from '../common/errors';

export type BatteryLevel = 'ok' | 'low' | 'critical';

export interface BatteryState {
  /** State of charge 0..100 (one decimal), null without a working gauge. */
  readonly percent: number | null;
  readonly voltageMv: number | null;
  readonly charging: boolean;
  /** The low-battery line is asserted (false where there is none). */
  readonly lowLine: boolean;
  readonly level: BatteryLevel;
  /** Why the gauge could not be read, if it could not. */
  readonly fault?: PosError;
}

/**
 * Below this charge (percent) no print job is started (E-PWR-03), unless the board file's
 * `battery0.printMinPercent` says otherwise. A thermal print head draws amps in bursts while it
 * burns a line; a nearly flat cell sags under them and browns the board out mid-slip. Sales stop
 * at the board's lowPercent (15 on the boards here), so this lies between that and
 * criticalPercent (5): reprints and the settlement report still print at low battery, and a
 * battery that falls this far during a sale keeps its slip waiting instead of losing it.
 */
export const PRINT_BATTERY_MIN_PCT = 10;

/**
 * Whether the battery allows a print job: its figure at or above `minPercent`. Without a figure
 * (no gauge, or it failed) the threshold cannot be judged and printing is allowed: the low-battery
 * line says only "low", at which printing still is, and a failed gauge is its own fault (E-BRD-02).
 */
export function batteryAllowsPrinting(state: Pick<BatteryState, 'percent'>, minPercent: number): boolean {
  return state.percent === null || state.percent >= minPercent;
}

export interface BatteryThresholds {
  readonly lowPercent: number;
  readonly criticalPercent: number;
}

export interface Battery {
  read(): Promise<BatteryState>;
  watch(listener: (state: BatteryState) => void): () => void;
  close(): Promise<void>;
}

export function batteryLevel(percent: number | null, lowLine: boolean, t: BatteryThresholds): BatteryLevel {
  if (percent !== null && percent <= t.criticalPercent) return 'critical';
  if (lowLine || (percent !== null && percent <= t.lowPercent)) return 'low';
  return 'ok';
}

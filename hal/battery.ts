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

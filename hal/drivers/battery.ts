/**
 * The board's battery: a MAX17048 fuel gauge (optional), a low-battery GPIO line from the
 * charger or PMIC (optional) and a charging-state GPIO line (optional), combined into one
 * `Battery`. At least one of the gauge and the low line must be fitted. Line levels are logical:
 * the board file's `activeLow` makes "1" mean "battery low" / "charging".
 */
import { GpioLine, Unwatch, safeCall } from '../gpio';
import { Battery, BatteryState, BatteryThresholds, batteryLevel } from '../battery';
import { Max17048 } from './max17048';
import { PosError } from '../../common/errors';

export interface BatteryParts {
  readonly gauge?: Max17048;
  readonly lowLine?: GpioLine;
  readonly chargingLine?: GpioLine;
}

export interface GaugeBatteryOptions extends BatteryThresholds {
  /** How often the gauge is read while watched. */
  readonly pollMs?: number;
  readonly debounceMs?: number;
  readonly name?: string;
}

/** The gauge updates SOC every few seconds; polling faster only costs bus time. */
export const POLL_MS_MIN = 1000;
export const POLL_MS_DEFAULT = 30_000;
export const LINE_DEBOUNCE_MS = 50;
export const WATCHERS_MAX = 16;

export class GaugeBattery implements Battery {
  private readonly listeners = new Set<(s: BatteryState) => void>();
  private readonly unwatch: Unwatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last: BatteryState | undefined;
  private closed = false;

  constructor(private readonly parts: BatteryParts, private readonly options: GaugeBatteryOptions) {
    if (!parts.gauge && !parts.lowLine) {
      throw new PosError('BRD_INVALID', `${options.name ?? 'battery'}: needs a gauge or a low-battery line`);
    }
    if (!(options.criticalPercent < options.lowPercent)) {
      throw new PosError('BRD_INVALID', `${options.name ?? 'battery'}: criticalPercent must be below lowPercent`);
    }
  }

  async read(): Promise<BatteryState> {
    const [gauge, lowLine, charging] = await Promise.all([this.readGauge(), this.readLine(this.parts.lowLine), this.readLine(this.parts.chargingLine)]);
    if ('fault' in gauge && !this.parts.lowLine) throw gauge.fault;
    const percent = 'fault' in gauge ? null : gauge.percent;
    return {
      percent,
      voltageMv: 'fault' in gauge ? null : gauge.voltageMv,
      charging,
      lowLine,
      level: batteryLevel(percent, lowLine, this.options),
      ...('fault' in gauge ? { fault: gauge.fault } : {}),
    };
  }

  watch(listener: (state: BatteryState) => void): () => void {
    if (this.listeners.size >= WATCHERS_MAX) throw new PosError('SYS_INVARIANT', `more than ${WATCHERS_MAX} battery watchers`);
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.startWatching();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopWatching();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stopWatching();
  }

  private startWatching(): void {
    const debounceMs = this.options.debounceMs ?? LINE_DEBOUNCE_MS;
    for (const line of [this.parts.lowLine, this.parts.chargingLine]) {
      if (line) this.unwatch.push(line.watch('both', () => void this.refresh(), { debounceMs }));
    }
    const pollMs = Math.max(this.options.pollMs ?? POLL_MS_DEFAULT, POLL_MS_MIN);
    const poll = (): void => {
      this.timer = setTimeout(() => void this.refresh().finally(() => { if (this.timer) poll(); }), pollMs);
    };
    poll();
    void this.refresh();
  }

  private stopWatching(): void {
    for (const u of this.unwatch.splice(0)) u();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads and tells listeners if level or charging changed. Errors are in the state, not thrown. */
  private async refresh(): Promise<void> {
    let state: BatteryState;
    try {
      state = await this.read();
    } catch (e) {
      return; // nothing readable at all: keep the last state; read() callers see the error
    }
    const changed = !this.last || this.last.level !== state.level || this.last.charging !== state.charging;
    this.last = state;
    if (!changed || this.closed) return;
    for (const l of [...this.listeners]) safeCall(l, state);
  }

  private async readGauge(): Promise<{ percent: number; voltageMv: number } | { fault: PosError }> {
    if (!this.parts.gauge) return { fault: new PosError('BRD_DEVICE_ABSENT', 'no fuel gauge fitted', { role: this.options.name }) };
    try {
      return { percent: await this.parts.gauge.percent(), voltageMv: await this.parts.gauge.voltageMv() };
    } catch (e) {
      return { fault: e instanceof PosError ? e : new PosError('BRD_BUS', String(e)) };
    }
  }

  private async readLine(line: GpioLine | undefined): Promise<boolean> {
    if (!line) return false;
    return (await line.read()) === 1;
  }
}

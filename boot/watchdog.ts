/**
 * systemd's watchdog (sd_notify): READY=1 once, then WATCHDOG=1 every half WatchdogSec, but ONLY
 * while the injected health check of the main loop passes. A hung or unhealthy runtime stops
 * petting and systemd restarts it (Restart=on-failure, within StartLimitBurst). Node has no unix
 * datagram sockets, so messages go through the `systemd-notify` command with --pid (the unit
 * sets NotifyAccess=all, so systemd accepts them from the helper). Without NOTIFY_SOCKET (not
 * under systemd: tests, the simulator) everything is skipped silently.
 */
import { execFile } from 'node:child_process';
import { Logger, silentLogger } from '../common/log';

/** Fallback period when WATCHDOG_USEC is unset (the unit's WatchdogSec=30 halved). */
export const PET_INTERVAL_MS_DEFAULT = 15_000;
/** A health check slower than this counts as failed (the main loop is stuck). */
export const HEALTH_TIMEOUT_MS_MAX = 5_000;
const NOTIFY_TIMEOUT_MS_MAX = 5_000;
const STATUS_CHARS_MAX = 200;

export interface Health { readonly ok: boolean; readonly status: string }

export type Notifier = (args: readonly string[]) => Promise<void>;

export const systemdNotify: Notifier = (args) => new Promise((resolve, reject) => {
  execFile('systemd-notify', [...args], { timeout: NOTIFY_TIMEOUT_MS_MAX }, (e) => (e ? reject(e) : resolve()));
});

export interface WatchdogOptions {
  readonly health: () => Promise<Health>;
  readonly env?: NodeJS.ProcessEnv;
  readonly notify?: Notifier;
  readonly pid?: number;
  readonly logger?: Logger;
}

export class SystemdWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private ready = false;
  private readonly env: NodeJS.ProcessEnv;
  private readonly notify: Notifier;
  private readonly log: Logger;

  constructor(private readonly o: WatchdogOptions) {
    this.env = o.env ?? process.env;
    this.notify = o.notify ?? systemdNotify;
    this.log = o.logger ?? silentLogger;
  }

  /** Under systemd at all (NOTIFY_SOCKET set). */
  get enabled(): boolean { return Boolean(this.env.NOTIFY_SOCKET); }

  /** Half of WATCHDOG_USEC (systemd's advice), else the default. */
  get intervalMs(): number {
    const usec = Number(this.env.WATCHDOG_USEC);
    return Number.isFinite(usec) && usec > 0 ? Math.max(1, Math.floor(usec / 2000)) : PET_INTERVAL_MS_DEFAULT;
  }

  /** Checks health now and every interval; READY=1 is sent with the first healthy check. */
  start(): void {
    if (!this.enabled || this.timer) return;
    const tick = (): void => { void this.tick().finally(() => { if (this.timer) this.timer = setTimeout(tick, this.intervalMs); }); };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One check: pets only when healthy. Returns what was sent (for tests). */
  async tick(): Promise<string[]> {
    if (!this.enabled) return [];
    const h = await this.checkHealth();
    const status = `STATUS=${h.status.replace(/\s+/g, ' ').slice(0, STATUS_CHARS_MAX)}`;
    const args = h.ok ? [...(this.ready ? [] : ['READY=1']), 'WATCHDOG=1', status] : [status];
    try {
      await this.notify([`--pid=${this.o.pid ?? process.pid}`, ...args]);
      if (h.ok) this.ready = true;
    } catch (e) {
      this.log.warn({ err: String(e) }, 'watchdog: systemd-notify failed');
    }
    return args;
  }

  private async checkHealth(): Promise<Health> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Health>((resolve) => { timer = setTimeout(() => resolve({ ok: false, status: `health check took over ${HEALTH_TIMEOUT_MS_MAX} ms` }), HEALTH_TIMEOUT_MS_MAX); });
    try {
      return await Promise.race([this.o.health().catch((e: unknown) => ({ ok: false, status: `health check failed: ${String(e)}` })), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

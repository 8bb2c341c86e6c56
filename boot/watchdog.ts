/**
 * systemd's watchdog (sd_notify): READY=1 once, then WATCHDOG=1 every half WatchdogSec, but ONLY
 * while the injected health check of the main loop passes. READY=1 waits for the boot to be over
 * (the health check's `booting` false: the journal checked and replayed); until then every tick
 * also sends EXTEND_TIMEOUT_USEC, so a long first-boot journal check on a slow board is not killed
 * by the unit's TimeoutStartSec, for at most BOOT_EXTEND_MS_MAX (a boot that never ends still
 * fails, and Restart= and the start limits take over). A hung or unhealthy runtime stops
 * petting and systemd restarts it (Restart=on-failure, within StartLimitBurst). Node has no unix
 * datagram sockets: messages go as one datagram from this process through the runtime's addon
 * (native/process_native.c, systemdNotify), else through the `systemd-notify` command with --pid
 * (the unit sets NotifyAccess=all, so systemd accepts them from the helper; a slot rolled back to
 * a build without the addon still sends them so). Without NOTIFY_SOCKET (not
 * under systemd: tests, the simulator) everything is skipped silently.
 */
// node:child_process on first use: the terminal's start does not load it (common/lazy.ts).
import { childProcess } from '../common/lazy';
import { Logger, silentLogger } from '../common/log';
import { notifySystemd } from '../common/spawn-light';

/** Fallback period when WATCHDOG_USEC is unset (the unit's WatchdogSec=30 halved). */
export const PET_INTERVAL_MS_DEFAULT = 15_000;
/** A health check slower than this counts as failed (the main loop is stuck). */
export const HEALTH_TIMEOUT_MS_MAX = 5_000;
const NOTIFY_TIMEOUT_MS_MAX = 5_000;
/**
 * Tries of one tick's message. A pet is due every half WatchdogSec, so one lost pet is not yet
 * fatal but two are: a systemd-notify that was slow to start (a 1-CPU board busy with a password
 * check's scrypt, seen in the guest at 22:37 on 2026-12-04: killed by the watchdog while healthy)
 * is tried again at once instead of at the next tick, which would come too late.
 */
export const NOTIFY_TRIES_MAX = 3;
export const NOTIFY_RETRY_DELAY_MS = 1_000;
/**
 * How long a boot may keep extending systemd's start timeout, from the watchdog's start: a 1M-record
 * journal verifies in minutes on a slow board, a boot stuck for longer than this is a fault.
 */
export const BOOT_EXTEND_MS_MAX = 20 * 60_000;
/**
 * Each extension covers this many tick intervals from its message (systemd counts it from receipt):
 * a tick delayed by a slow health check (HEALTH_TIMEOUT_MS_MAX) or a slow systemd-notify still lands in time.
 */
export const BOOT_EXTEND_TICKS = 4;
const STATUS_CHARS_MAX = 200;

/** `booting`: the main loop runs but the boot is not over (no READY=1 yet; the start timeout is extended). */
export interface Health { readonly ok: boolean; readonly status: string; readonly booting?: boolean }

export type Notifier = (args: readonly string[]) => Promise<void>;

/**
 * The message to NOTIFY_SOCKET from `env` (the watchdog's, so an injected socket is the one used):
 * one datagram sent by this process (common/spawn-light.ts; `--pid=N` becomes `MAINPID=N`, what
 * systemd-notify would send for it), or, where the runtime's addon is not built, `systemd-notify
 * ARGS` (a child process every tick: a fork of the terminal, whose next writes each fault).
 */
export function systemdNotify(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const socket = env.NOTIFY_SOCKET;
  if (socket) {
    try {
      if (notifySystemd(socket, args.map((a) => a.replace(/^--pid=/, 'MAINPID=')))) return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }
  return systemdNotifyCommand(args, env);
}

/** `systemd-notify ARGS` with NOTIFY_SOCKET from `env`: systemdNotify's way without the addon. */
export function systemdNotifyCommand(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    childProcess().execFile('systemd-notify', [...args], { timeout: NOTIFY_TIMEOUT_MS_MAX, env }, (e) => (e ? reject(e) : resolve()));
  });
}

export interface WatchdogOptions {
  readonly health: () => Promise<Health>;
  readonly env?: NodeJS.ProcessEnv;
  readonly notify?: Notifier;
  readonly pid?: number;
  readonly logger?: Logger;
  /** Monotonic ms (tests move it), for BOOT_EXTEND_MS_MAX. */
  readonly clock?: () => number;
  /** Between tries of a failed message (NOTIFY_RETRY_DELAY_MS; tests shorten it). */
  readonly notifyRetryDelayMs?: number;
}

export class SystemdWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private ready = false;
  private readonly env: NodeJS.ProcessEnv;
  private readonly notify: Notifier;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly createdMs: number;

  constructor(private readonly o: WatchdogOptions) {
    this.env = o.env ?? process.env;
    this.notify = o.notify ?? ((args) => systemdNotify(args, this.env));
    this.log = o.logger ?? silentLogger;
    this.clock = o.clock ?? (() => performance.now());
    this.createdMs = this.clock();
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
    const readyNow = h.ok && h.booting !== true && !this.ready;
    const args = [...(readyNow ? ['READY=1'] : []), ...(h.ok ? ['WATCHDOG=1'] : []), ...this.extension(readyNow), status];
    // Said once per unhealthy check: two in a row and systemd kills the terminal.
    if (!h.ok && this.ready) this.log.warn({ status: h.status }, 'watchdog: not petting, the terminal is unhealthy');
    if (await this.send([`--pid=${this.o.pid ?? process.pid}`, ...args]) && readyNow) this.ready = true;
    return args;
  }

  /** One message, tried up to NOTIFY_TRIES_MAX times; true once systemd-notify succeeded. */
  private async send(args: string[]): Promise<boolean> {
    for (let attempt = 1; attempt <= NOTIFY_TRIES_MAX; attempt++) {
      try {
        await this.notify(args);
        return true;
      } catch (e) {
        this.log.warn({ err: String(e), attempt, attemptsMax: NOTIFY_TRIES_MAX }, 'watchdog: systemd-notify failed');
        if (attempt < NOTIFY_TRIES_MAX) await new Promise((r) => setTimeout(r, this.o.notifyRetryDelayMs ?? NOTIFY_RETRY_DELAY_MS));
      }
    }
    return false;
  }

  /** EXTEND_TIMEOUT_USEC while the start is not over (no READY=1 yet), within BOOT_EXTEND_MS_MAX. */
  private extension(readyNow: boolean): string[] {
    if (this.ready || readyNow || this.clock() - this.createdMs > BOOT_EXTEND_MS_MAX) return [];
    return [`EXTEND_TIMEOUT_USEC=${this.intervalMs * BOOT_EXTEND_TICKS * 1000}`];
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

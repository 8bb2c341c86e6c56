/**
 * The terminal's calendar: one time zone for everything a person sees or the host reads (screen,
 * receipt, journal dump, reports, fields 12/13), never the process's or the build machine's.
 *
 *   const zone = parseTimeZone('UTC+08:00');          // offset minutes: 480
 *   civil(ms, zone)                                   // { year, month, day, hour, minute, second }
 *   formatDateTime(ms, zone)                          // '2026-11-21 10:00'
 *   mmddIn(ms, zone) / hhmmssIn(ms, zone) / yymmddIn(ms, zone)
 *
 * A zone is a fixed offset from UTC in minutes. China (the profile's UTC+8) has had no daylight
 * saving time since 1991, and a fixed offset makes every date a pure function of (ms, zone): tests
 * give the same answer in any process time zone, which Date's local getters never do.
 *
 * Clocks: every part (terminal, acquirer simulator, simulated devices) reads time from one
 * injected `() => number` (ms since the epoch); nothing below reads the real clock.
 */

/**
 * The monotonic clock (CLOCK_MONOTONIC, ms) that every process on the machine shares, unlike
 * performance.now()'s per-process origin: a time one process stamps, another can compare.
 * Not a calendar, and not the injected clock above: for measuring, never for what a person reads.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The profile's default: China Standard Time, UTC+8. */
export const TZ_OFFSET_MINUTES_DEFAULT = 480;
/** Real zones lie within UTC-12:00..UTC+14:00. */
export const TZ_OFFSET_MINUTES_MIN = -12 * 60;
export const TZ_OFFSET_MINUTES_MAX = 14 * 60;
const MINUTE_MS = 60_000;

export interface Civil {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
  /** 1..31 */
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/**
 * 'UTC+08:00', 'UTC+8', 'UTC-05:30', '+08:00', 'UTC' or 'Z' to offset minutes; undefined for
 * anything else (IANA names are not accepted: a name would bring DST rules the terminal's fixed
 * offset cannot follow, so the board file says the offset it means).
 */
export function parseTimeZone(text: string): number | undefined {
  const t = text.trim();
  if (/^(UTC|GMT|Z)$/i.test(t)) return 0;
  const m = /^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(t);
  if (!m) return undefined;
  const hours = Number(m[2]);
  const minutes = m[3] === undefined ? 0 : Number(m[3]);
  if (minutes >= 60) return undefined;
  const offset = (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
  return offset < TZ_OFFSET_MINUTES_MIN || offset > TZ_OFFSET_MINUTES_MAX ? undefined : offset;
}

/** 480 -> 'UTC+08:00'. */
export function formatTimeZone(offsetMinutes: number): string {
  const a = Math.abs(offsetMinutes);
  return `UTC${offsetMinutes < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`;
}

/** The wall-clock reading in the zone at instant `ms`. */
export function civil(ms: number, offsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): Civil {
  const d = new Date(ms + offsetMinutes * MINUTE_MS);
  return {
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
    hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(),
  };
}

/** The instant of a wall-clock reading in the zone. */
export function instantOf(c: Civil, offsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): number {
  return Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second) - offsetMinutes * MINUTE_MS;
}

export function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** '2026-11-21 10:00' (sep '/' gives '2026/11/21 10:00'); seconds with `seconds: true`. */
export function formatDateTime(ms: number, offsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT, o: { sep?: string; seconds?: boolean } = {}): string {
  const c = civil(ms, offsetMinutes);
  const sep = o.sep ?? '-';
  return `${c.year}${sep}${pad2(c.month)}${sep}${pad2(c.day)} ${pad2(c.hour)}:${pad2(c.minute)}${o.seconds ? `:${pad2(c.second)}` : ''}`;
}

/** ISO 8601 with the zone's offset, e.g. '2026-11-21T10:00:00.000+08:00': for dumps and reports. */
export function isoInZone(ms: number, offsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): string {
  const c = civil(ms, offsetMinutes);
  const msPart = String(((ms % 1000) + 1000) % 1000).padStart(3, '0');
  const z = formatTimeZone(offsetMinutes).slice(3);
  return `${c.year}-${pad2(c.month)}-${pad2(c.day)}T${pad2(c.hour)}:${pad2(c.minute)}:${pad2(c.second)}.${msPart}${z}`;
}

export function mmddIn(ms: number, offsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): string {
  const c = civil(ms, offsetMinutes);
  return pad2(c.month) + pad2(c.day);
}

export function hhmmssIn(ms: number, offsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): string {
  const c = civil(ms, offsetMinutes);
  return pad2(c.hour) + pad2(c.minute) + pad2(c.second);
}

export function yymmddIn(ms: number, offsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): string {
  const c = civil(ms, offsetMinutes);
  return pad2(c.year % 100) + pad2(c.month) + pad2(c.day);
}

/** Clock skew the terminal tolerates before it takes the host's time (the profile's 60 s). */
export const HOST_CLOCK_SKEW_MS_MAX = 60_000;

/**
 * The instant a host's fields 12 (hhmmss) and 13 (MMDD) name, read in the host's zone, with the
 * year that puts the date nearest `nearMs` (the terminal's own idea of now): a 1231 answer read
 * on 1 January is last year's. Undefined when 12/13 are not a real date and time.
 */
export function hostInstant(hhmmss: string, mmdd: string, nearMs: number, hostOffsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): number | undefined {
  const near = civil(nearMs, hostOffsetMinutes).year;
  let best: number | undefined;
  for (const t of hostInstantsIn(hhmmss, mmdd, [near - 1, near, near + 1], hostOffsetMinutes)) {
    if (best === undefined || Math.abs(t - nearMs) < Math.abs(best - nearMs)) best = t;
  }
  return best;
}

/**
 * The earliest time this software can run at (its first release, 2026-01-01 in China). A clock
 * before it was never set: an RTC whose battery died reads 1970 or 2000, and systemd's floor is
 * its own build date. Such a clock's year says nothing of the host's 12/13.
 */
export const CLOCK_FLOOR_MS = Date.UTC(2025, 11, 31, 16);

/**
 * How far behind the journal's last record the terminal's clock may be and still be taken as set:
 * a host correcting a fast clock back by hours is normal, a clock a day behind what it already
 * wrote was reset.
 */
export const CLOCK_BEHIND_JOURNAL_MS_MAX = 24 * 3600_000;

/** Years a MMDD is looked for in after a floor: 0229 comes back within 8 (2096 -> 2104). */
const LEAP_DAY_YEARS_MAX = 8;

/**
 * The first instant 12/13 name at or after `floorMs`: the host's time when the terminal's own
 * clock cannot say which year it is (below CLOCK_FLOOR_MS, or behind the journal's last record).
 */
export function hostInstantFrom(hhmmss: string, mmdd: string, floorMs: number, hostOffsetMinutes: number = TZ_OFFSET_MINUTES_DEFAULT): number | undefined {
  const first = civil(floorMs, hostOffsetMinutes).year;
  const years = Array.from({ length: LEAP_DAY_YEARS_MAX + 1 }, (_x, i) => first + i);
  return hostInstantsIn(hhmmss, mmdd, years, hostOffsetMinutes).find((t) => t >= floorMs);
}

/** The instants 12/13 name in each of `years` where the date exists (no 0229 in a common year), in order. */
function hostInstantsIn(hhmmss: string, mmdd: string, years: readonly number[], hostOffsetMinutes: number): number[] {
  if (!/^\d{6}$/.test(hhmmss) || !/^\d{4}$/.test(mmdd)) return [];
  const month = Number(mmdd.slice(0, 2));
  const day = Number(mmdd.slice(2, 4));
  const hour = Number(hhmmss.slice(0, 2));
  const minute = Number(hhmmss.slice(2, 4));
  const second = Number(hhmmss.slice(4, 6));
  if (hour > 23 || minute > 59 || second > 59) return [];
  const out: number[] = [];
  for (const year of years) {
    const t = instantOf({ year, month, day, hour, minute, second }, hostOffsetMinutes);
    const c = civil(t, hostOffsetMinutes);
    if (c.month === month && c.day === day) out.push(t); // not 0229 in a common year, 0431, ...
  }
  return out;
}

/**
 * A clock that can be corrected: `now()` is the injected base clock plus an offset. The terminal
 * takes the host's time this way (the offset is journaled with the sign-on, so it survives a
 * reboot) instead of setting the OS clock, which needs privileges a terminal process should not
 * hold and which a test cannot undo.
 */
export class AdjustableClock {
  private offset = 0;
  constructor(private readonly base: () => number) {}
  readonly now = (): number => this.base() + this.offset;
  get offsetMs(): number { return this.offset; }
  setOffsetMs(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError(`clock offset must be finite, got ${ms}`);
    this.offset = Math.round(ms);
  }
}

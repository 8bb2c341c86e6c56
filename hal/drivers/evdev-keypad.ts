/**
 * A keypad the kernel scans: Linux's matrix-keypad or gpio-keys driver (from the device tree), or
 * any keypad that appears as /dev/input/eventN. The kernel debounces and queues the key events
 * with their times, so a press is not lost while the event loop is paused (a full collection, a
 * slow journal write): the JS matrix scan (matrix-keypad.ts) sees only what is down when it runs.
 * No scanning and no timer while keys are at rest; the device is read when it has events
 * (hal/input-linux.ts: libuv's poll on the fd).
 *
 * Reads struct input_event records: { struct timeval time; __u16 type; __u16 code; __s32 value }.
 * Its size is the reading process's: 24 bytes for a 64-bit process (two 8-byte longs for the
 * time), 16 for a 32-bit one (32-bit ARM: two 4-byte longs; the kernel gives a 32-bit process
 * on a 64-bit kernel the same 16-byte compat layout, and a 32-bit time64 userland reads 16 bytes
 * too, as __sec/__usec). So the size follows `process.arch` (`recordSizeForArch`), not the board.
 * A read that ends inside a record (only a FIFO does that) keeps the rest for the next read.
 *
 * Events:
 * - EV_KEY value 1 'down', 0 'up', through the board file's keymap (Linux key code -> key).
 *   Several codes may give one key (KEY_ENTER and KEY_KPENTER both OK): it is down while any is.
 *   Value 2 (the kernel's autorepeat) is ignored: 'long' comes from this driver's own timer, as
 *   with the matrix, so a board's EV_REP setting changes nothing. Codes not in the keymap are
 *   counted and logged once per code.
 * - SYN_DROPPED: the kernel's queue for this reader overflowed and events were lost. Events up to
 *   the next SYN_REPORT are dropped (they may be half a packet), then the held keys are read from
 *   the kernel (EVIOCGKEY) and the difference reported as 'down'/'up'. A device that cannot be
 *   asked (a FIFO in tests) has every key released instead, and a warning logged.
 * - Event times: CLOCK_MONOTONIC (EVIOCSCLOCKID, set when opened) mapped to performance.now(),
 *   so a press held 5 ms during a 100 ms pause reports down and up 5 ms apart. Without it each
 *   event is timed when read.
 * - Device gone (ENODEV: unplugged, driver unbound, power; EOF on a FIFO): BRD_INPUT_GONE
 *   (E-BRD-04) through `onFault`, every held key released, and nothing more from that device.
 *   With `reopen` (the board gives it: the device found again by its path or name, whose eventN
 *   may change when it comes back), the driver tries again every `reopenIntervalMs` for
 *   `REOPEN_TRIES_MAX` tries (a reseated cable, a driver rebound, a USB keypad plugged back): the
 *   device back is grabbed and read as at start(), keys held then reported stuck. After the last
 *   try, a second E-BRD-04 says no keys until the terminal restarts.
 *   Bytes that do not make a valid event (a type past EV_MAX, a key value not 0/1/2) are counted
 *   and logged, never thrown.
 * Keys held at start() are read with EVIOCGKEY and reported stuck at boot (KBD_STUCK), as the
 * keypad interface says; a device that cannot say (a FIFO) reports none.
 */
import * as os from 'node:os';
import type { Logger } from '../../common/log';
import { PosError } from '../../common/errors';
import { monotonicMs } from '../../common/time';
import { InputDevice } from '../input';
import { KeyEvent, KeyName, Keypad, Unsubscribe, stuckKeyError } from '../keypad';
import { KeypadListeners, LISTENERS_MAX } from './matrix-keypad';
import { Timers, realTimers } from './timing';

export interface EvdevKeypadOptions {
  /** The role (keypad0), for messages. */
  readonly name: string;
  /** Linux key code -> the terminal's key. */
  readonly keymap: ReadonlyMap<number, KeyName>;
  readonly longPressMs?: number;
  readonly stuckMs?: number;
  /** EVIOCGRAB at start (default true): the console's keyboard handler would type the keys into a tty. */
  readonly grab?: boolean;
  /** Default `recordSizeForArch(process.arch)`. */
  readonly recordSizeBytes?: InputEventSize;
  readonly timers?: Timers;
  readonly logger?: Logger;
  /** Opens the device again after it was gone; without it a gone device stays gone. */
  readonly reopen?: () => Promise<InputDevice>;
  /** Between tries to open a gone device again. */
  readonly reopenIntervalMs?: number;
}

export type InputEventSize = 16 | 24;

export const DEFAULTS = { longPressMs: 1000, stuckMs: 10_000, reopenIntervalMs: 2000 } as const;
/** Tries to open a gone device again before giving up (an hour at the default interval). */
export const REOPEN_TRIES_MAX = 1800;
export { LISTENERS_MAX };
/** Unknown key codes logged by name, once each; more are only counted. */
export const UNKNOWN_CODES_LOGGED_MAX = 32;
/** Garbled records logged one by one; more are only counted. */
export const GARBLED_LOGGED_MAX = 8;

const EV_SYN = 0x00;
const EV_KEY = 0x01;
const EV_MAX = 0x1f;
const SYN_REPORT = 0;
const SYN_DROPPED = 3;
const KEY_MAX = 0x2ff;

/** 32-bit processes read 16-byte records, 64-bit ones 24 (see the header). */
export function recordSizeForArch(arch: string): InputEventSize {
  return ['arm', 'ia32', 'mips', 'mipsel', 'ppc', 's390'].includes(arch) ? 16 : 24;
}

export interface InputEventRecord {
  readonly sec: number;
  readonly usec: number;
  readonly type: number;
  readonly code: number;
  readonly value: number;
}

/** Decodes one record at `offset` in the machine's byte order. */
export function decodeInputEvent(buf: Buffer, offset: number, size: InputEventSize, littleEndian = os.endianness() === 'LE'): InputEventRecord {
  const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const s32 = (o: number): number => (littleEndian ? buf.readInt32LE(o) : buf.readInt32BE(o));
  const long = (o: number): number => (size === 16 ? s32(o) : Number(littleEndian ? buf.readBigInt64LE(o) : buf.readBigInt64BE(o)));
  const half = size / 2 - 4; // the time's two longs, then type, code, value
  return { sec: long(offset), usec: long(offset + half), type: u16(offset + 2 * half), code: u16(offset + 2 * half + 2), value: s32(offset + 2 * half + 4) };
}

/** Encodes one record (tests, and the guest's checks of what a FIFO carries). */
export function encodeInputEvent(e: InputEventRecord, size: InputEventSize, littleEndian = os.endianness() === 'LE'): Buffer {
  const buf = Buffer.alloc(size);
  const half = size / 2 - 4;
  const long = (v: number, o: number): void => {
    if (size === 16) (littleEndian ? buf.writeInt32LE(v, o) : buf.writeInt32BE(v, o));
    else (littleEndian ? buf.writeBigInt64LE(BigInt(v), o) : buf.writeBigInt64BE(BigInt(v), o));
  };
  long(e.sec, 0);
  long(e.usec, half);
  (littleEndian ? buf.writeUInt16LE(e.type, 2 * half) : buf.writeUInt16BE(e.type, 2 * half));
  (littleEndian ? buf.writeUInt16LE(e.code, 2 * half + 2) : buf.writeUInt16BE(e.code, 2 * half + 2));
  (littleEndian ? buf.writeInt32LE(e.value, 2 * half + 4) : buf.writeInt32BE(e.value, 2 * half + 4));
  return buf;
}

/** What the driver has seen, for diagnostics and tests. */
export interface EvdevKeypadCounts {
  events: number;
  keyEvents: number;
  repeats: number;
  unknownCodes: number;
  garbled: number;
  /** Reads that ended inside a record (a FIFO only). */
  splitReads: number;
  /** SYN_DROPPED seen; resynced from EVIOCGKEY or by releasing every key. */
  dropped: number;
  resyncsFromKernel: number;
  /** Times the device was gone, and times it was opened again. */
  gone: number;
  reopened: number;
}

interface HeldKey {
  readonly codes: Set<number>;
  readonly downAtMs: number;
  longTimer: unknown;
  stuckTimer: unknown;
  stuck: boolean;
  /** Held at start(): its release is not reported ('up' of a press nobody saw start). */
  readonly atBoot: boolean;
}

/** Monotonic clock (ms) minus performance.now(): both are CLOCK_MONOTONIC-based, so this is fixed. */
function monotonicOffsetMs(): number {
  return monotonicMs() - performance.now();
}

export class EvdevKeypad implements Keypad {
  private readonly o: Required<Omit<EvdevKeypadOptions, 'timers' | 'logger' | 'reopen'>>;
  private readonly reopen: (() => Promise<InputDevice>) | undefined;
  /** The pending try to open the device again, and how many were made since it went. */
  private reopenTimer: unknown;
  private reopenTries = 0;
  private readonly logger: Logger | undefined;
  private readonly timers: Timers;
  private readonly held = new Map<KeyName, HeldKey>();
  private readonly listeners = new KeypadListeners();
  private readonly unknownLogged = new Set<number>();
  private readonly counts: EvdevKeypadCounts = { events: 0, keyEvents: 0, repeats: 0, unknownCodes: 0, garbled: 0, splitReads: 0, dropped: 0, resyncsFromKernel: 0, gone: 0, reopened: 0 };
  /** Bytes of a record a read ended inside (fewer than one record). */
  private partial = Buffer.alloc(0);
  /** After SYN_DROPPED, until the next SYN_REPORT. */
  private dropping = false;
  private started = false;
  private closed = false;
  private gone = false;

  constructor(private device: InputDevice, options: EvdevKeypadOptions) {
    const { timers, logger, reopen, ...rest } = options;
    this.reopen = reopen;
    this.o = { ...DEFAULTS, grab: true, recordSizeBytes: recordSizeForArch(process.arch), ...rest };
    this.timers = timers ?? realTimers;
    this.logger = logger;
    for (const code of options.keymap.keys()) {
      if (!Number.isInteger(code) || code < 0 || code > KEY_MAX) throw new PosError('BRD_INVALID', `${options.name}: key code ${code} outside 0..${KEY_MAX}`);
    }
  }

  /** Grabs (unless told not to), reports keys held now as stuck at boot, then reads. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.o.grab) this.grab();
    this.begin();
  }

  /** Keys held now reported stuck (their release is not reported), then the device is read. */
  private begin(): void {
    const bits = this.device.keys();
    const now = this.timers.now();
    for (const [key, codes] of this.heldIn(bits)) {
      this.held.set(key, { codes, downAtMs: now, longTimer: undefined, stuckTimer: undefined, stuck: true, atBoot: true });
      this.fault(stuckKeyError(key, 0, true));
    }
    const device = this.device;
    this.device.watch((bytes) => { if (this.device === device) this.onData(bytes); }, (reason) => { if (this.device === device) this.onGone(reason); });
  }

  onKey(listener: (event: KeyEvent) => void): Unsubscribe {
    return this.listeners.onKey(listener);
  }

  onFault(listener: (fault: PosError) => void): Unsubscribe {
    return this.listeners.onFault(listener);
  }

  onStuckReleased(listener: (key: KeyName) => void): Unsubscribe {
    return this.listeners.onStuckReleased(listener);
  }

  pressed(): KeyName[] {
    return [...this.held.keys()];
  }

  stuck(): KeyName[] {
    return [...this.held].filter(([, h]) => h.stuck).map(([k]) => k);
  }

  diagnostics(): Readonly<EvdevKeypadCounts> {
    return { ...this.counts };
  }

  /** Ends the read at once: the fd is closed here, no read is left pending. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reopenTimer !== undefined) this.timers.clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.device.close();
    for (const h of this.held.values()) this.clearTimers(h);
    this.listeners.close();
  }

  private grab(): void {
    const result = this.device.grab();
    if (result === 'busy') {
      throw new PosError('BRD_BUS', `${this.o.name}: ${this.device.path} is grabbed by another process (EVIOCGRAB busy); stop it or set "grab": false`, { role: this.o.name, path: this.device.path });
    }
    if (result === 'unsupported') this.logger?.debug({ role: this.o.name, path: this.device.path }, 'keypad: device cannot be grabbed (not an event device)');
  }

  private onData(bytes: Buffer): void {
    if (this.closed || this.gone) return;
    const size = this.o.recordSizeBytes;
    const buf = this.partial.length > 0 ? Buffer.concat([this.partial, bytes]) : bytes;
    const whole = buf.length - (buf.length % size);
    const arrivedMs = this.timers.now();
    const offsetMs = this.device.monotonic ? monotonicOffsetMs() : 0;
    for (let at = 0; at < whole && !this.closed && !this.gone; at += size) {
      const e = decodeInputEvent(buf, at, size);
      // A kernel time later than now (a clock mapping off by a rounding) is clamped: never ahead of the read.
      const timeMs = this.device.monotonic ? Math.min(arrivedMs, e.sec * 1000 + e.usec / 1000 - offsetMs) : arrivedMs;
      this.onEvent(e, timeMs);
    }
    if (whole < buf.length) this.counts.splitReads += 1;
    this.partial = Buffer.from(buf.subarray(whole));
  }

  private onEvent(e: InputEventRecord, timeMs: number): void {
    this.counts.events += 1;
    if (e.type > EV_MAX || (e.type === EV_KEY && (e.value < 0 || e.value > 2)) || e.usec < 0 || e.usec >= 1_000_000) {
      this.garbled(e);
      return;
    }
    if (e.type === EV_SYN) {
      if (e.code === SYN_DROPPED) this.onDropped();
      else if (e.code === SYN_REPORT && this.dropping) this.resync(timeMs);
      return;
    }
    if (e.type !== EV_KEY || this.dropping) return;
    this.counts.keyEvents += 1;
    if (e.value === 2) {
      this.counts.repeats += 1;
      return;
    }
    const key = this.o.keymap.get(e.code);
    if (key === undefined) {
      this.unknownCode(e.code);
      return;
    }
    if (e.value === 1) this.codeDown(key, e.code, timeMs);
    else this.codeUp(key, e.code, timeMs);
  }

  private codeDown(key: KeyName, code: number, timeMs: number): void {
    const h = this.held.get(key);
    if (h) {
      h.codes.add(code);
      return;
    }
    const fresh: HeldKey = { codes: new Set([code]), downAtMs: timeMs, longTimer: undefined, stuckTimer: undefined, stuck: false, atBoot: false };
    this.held.set(key, fresh);
    this.armTimers(key, fresh);
    this.emit('down', key, timeMs);
  }

  private codeUp(key: KeyName, code: number, timeMs: number): void {
    const h = this.held.get(key);
    if (!h || !h.codes.delete(code) || h.codes.size > 0) return;
    this.release(key, h, timeMs);
  }

  private release(key: KeyName, h: HeldKey, timeMs: number): void {
    this.clearTimers(h);
    this.held.delete(key);
    if (!h.atBoot) this.emit('up', key, timeMs);
    if (h.stuck) this.listeners.stuckReleased(key);
  }

  /** 'long' and the stuck fault, timed from the down (which may lie before this read). */
  private armTimers(key: KeyName, h: HeldKey): void {
    const sinceMs = Math.max(0, this.timers.now() - h.downAtMs);
    h.longTimer = this.timers.setTimeout(() => {
      h.longTimer = undefined;
      if (this.held.get(key) === h) this.emit('long', key, this.timers.now());
    }, Math.max(0, this.o.longPressMs - sinceMs));
    h.stuckTimer = this.timers.setTimeout(() => {
      h.stuckTimer = undefined;
      if (this.held.get(key) !== h) return;
      h.stuck = true;
      this.fault(stuckKeyError(key, this.timers.now() - h.downAtMs, false));
    }, Math.max(0, this.o.stuckMs - sinceMs));
  }

  private clearTimers(h: HeldKey): void {
    if (h.longTimer !== undefined) this.timers.clearTimeout(h.longTimer);
    if (h.stuckTimer !== undefined) this.timers.clearTimeout(h.stuckTimer);
    h.longTimer = undefined;
    h.stuckTimer = undefined;
  }

  private onDropped(): void {
    this.counts.dropped += 1;
    this.dropping = true;
  }

  /**
   * After SYN_DROPPED's packet: the kernel's key state replaces what was lost. Keys the kernel
   * holds and this driver did not are 'down' now; keys it no longer holds are 'up'.
   */
  private resync(timeMs: number): void {
    this.dropping = false;
    const bits = this.device.keys();
    if (bits === undefined) {
      this.logger?.warn({ role: this.o.name, path: this.device.path, released: this.pressed() }, 'keypad: kernel dropped events (SYN_DROPPED) and the device cannot say which keys are held: every key released');
      for (const [key, h] of [...this.held]) this.release(key, h, timeMs);
      return;
    }
    this.counts.resyncsFromKernel += 1;
    const now = this.heldIn(bits);
    this.logger?.warn({ role: this.o.name, path: this.device.path, held: [...now.keys()] }, 'keypad: kernel dropped events (SYN_DROPPED): key state read back (EVIOCGKEY)');
    for (const [key, h] of [...this.held]) if (!now.has(key)) this.release(key, h, timeMs);
    for (const [key, codes] of now) {
      const h = this.held.get(key);
      if (h) {
        h.codes.clear();
        for (const c of codes) h.codes.add(c);
      } else {
        for (const c of codes) this.codeDown(key, c, timeMs);
      }
    }
  }

  /** Keys (with their codes) the bitmap holds; none without a bitmap. */
  private heldIn(bits: Buffer | undefined): Map<KeyName, Set<number>> {
    const out = new Map<KeyName, Set<number>>();
    if (bits === undefined) return out;
    for (const [code, key] of this.o.keymap) {
      if ((code >> 3) >= bits.length || (bits[code >> 3] & (1 << (code & 7))) === 0) continue;
      const codes = out.get(key) ?? new Set<number>();
      codes.add(code);
      out.set(key, codes);
    }
    return out;
  }

  private onGone(reason: string): void {
    if (this.closed || this.gone) return;
    this.gone = true;
    this.counts.gone += 1;
    const timeMs = this.timers.now();
    for (const [key, h] of [...this.held]) this.release(key, h, timeMs);
    this.partial = Buffer.alloc(0);
    this.dropping = false;
    this.device.close();
    const why = reason === 'EOF' ? 'its end closed (EOF)' : reason === 'ENODEV' ? 'ENODEV: no such device' : `${reason}: read failed`;
    const then = this.reopen ? 'waiting for it to come back' : 'no keys until the terminal restarts';
    this.fault(new PosError('BRD_INPUT_GONE', `${this.o.name}: ${this.device.path} gone (${why}); ${then}`, { role: this.o.name, path: this.device.path, reason }));
    this.reopenTries = 0;
    if (this.reopen) this.scheduleReopen();
  }

  private scheduleReopen(): void {
    this.reopenTimer = this.timers.setTimeout(() => {
      this.reopenTimer = undefined;
      void this.tryReopen();
    }, this.o.reopenIntervalMs);
  }

  /** One try to open the gone device again; the next is scheduled unless it worked or the tries ran out. */
  private async tryReopen(): Promise<void> {
    if (this.closed || !this.gone || !this.reopen) return;
    this.reopenTries += 1;
    let device: InputDevice;
    try {
      device = await this.reopen();
    } catch (e) {
      return this.reopenFailed(e instanceof Error ? e.message : String(e));
    }
    if (this.closed) {
      device.close();
      return;
    }
    if (this.o.grab && device.grab() === 'busy') {
      device.close();
      return this.reopenFailed(`${device.path} is grabbed by another process (EVIOCGRAB busy)`);
    }
    this.device = device;
    this.gone = false;
    this.counts.reopened += 1;
    this.logger?.info({ role: this.o.name, path: device.path, tries: this.reopenTries }, 'keypad: device back, reading it again');
    this.begin();
  }

  private reopenFailed(why: string): void {
    if (this.closed) return;
    if (this.reopenTries < REOPEN_TRIES_MAX) {
      if (this.reopenTries === 1) this.logger?.info({ role: this.o.name, why }, 'keypad: device not back yet; trying again');
      this.scheduleReopen();
      return;
    }
    this.fault(new PosError('BRD_INPUT_GONE', `${this.o.name}: ${this.device.path} did not come back after ${REOPEN_TRIES_MAX} tries (${why}); no keys until the terminal restarts`, { role: this.o.name, path: this.device.path, reason: 'gave up' }));
  }

  private unknownCode(code: number): void {
    this.counts.unknownCodes += 1;
    if (this.unknownLogged.has(code) || this.unknownLogged.size >= UNKNOWN_CODES_LOGGED_MAX) return;
    this.unknownLogged.add(code);
    this.logger?.info({ role: this.o.name, code }, 'keypad: key code not in the keymap, ignored');
  }

  private garbled(e: InputEventRecord): void {
    this.counts.garbled += 1;
    if (this.counts.garbled <= GARBLED_LOGGED_MAX) this.logger?.warn({ role: this.o.name, path: this.device.path, type: e.type, code: e.code, value: e.value }, 'keypad: not an input event, ignored');
  }

  private emit(type: KeyEvent['type'], key: KeyName, timeMs: number): void {
    this.listeners.emit(type, key, timeMs);
  }

  private fault(f: PosError): void {
    this.listeners.fault(f);
  }
}

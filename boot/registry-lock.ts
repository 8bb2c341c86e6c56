/**
 * The station registry's lock file (boot/factory.ts withRegistry): one holder at a time across
 * processes and worker threads, and a holder that was killed (SIGKILL, power cut) does not lock
 * the next run out.
 *
 * The lock file names its owner: `{"pid", "bootId", "startTicks", "hostname"}`, where startTicks
 * is the owner's start time (field 22 of /proc/PID/stat, clock ticks since boot) and bootId the
 * kernel's boot id. A PID alone is not enough: after a reboot, or once PIDs wrap, the dead
 * owner's PID may belong to an unrelated live process. The owner counts as gone when the boot id
 * differs, when no process has its PID, or when the process with its PID started at another
 * time. Another host's lock (a registry on a shared folder) is never broken: its owner cannot be
 * seen from here.
 *
 * The file is written whole before it appears (a temp file linked into place): a reader never
 * sees an empty lock. A stale lock is broken by renaming it to a name of the breaker's own (one
 * breaker wins the rename) and checking that what was renamed is the stale owner's, loudly logged.
 */
import { hostname } from 'node:os';
import { linkSync, lstatSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import type { Logger } from 'pino';
import { PosError } from '../common/errors';
import { silentLogger } from '../common/log';
import { procStatFields } from '../common/spawn';

/** How long a run waits for a live owner before it gives up (a registry update takes milliseconds). */
export const REGISTRY_LOCK_WAIT_MS_MAX = 5_000;
const LOCK_POLL_MS = 20;
/** Stale locks one acquisition breaks without waiting between tries. */
const LOCK_BREAKS_MAX = 8;
/** Field 22 of /proc/PID/stat is the start time; after the command's closing ')' it is the 20th. */
const STAT_START_FIELD_AFTER_COMM = 19;

export interface LockOwner {
  readonly pid: number;
  readonly bootId: string;
  /** The owner's start time in clock ticks since boot, or '' where /proc cannot say. */
  readonly startTicks: string;
  readonly hostname: string;
}

export interface LockOptions {
  readonly waitMs?: number;
  readonly logger?: Logger;
}

/** What differs between the locks built on this one (the station registry's, the terminal's). */
export interface LockPolicy {
  /** What the lock guards, for the log line when a stale lock is broken. */
  readonly label: string;
  /** The error when a live owner keeps the lock past the wait. */
  readonly lockedError: (lock: string, holder: LockOwner | undefined, waitMs: number) => PosError;
  /**
   * A lock only this machine's processes take (a folder on local storage): the owner's host name
   * is not compared. A terminal's host name may change at provisioning; its own lock from before
   * must still count as stale.
   */
  readonly localOnly?: boolean;
  /**
   * An owner with this process's PID is an earlier holder in this very process that did not
   * release (taken over), not another thread's: one terminal per process.
   */
  readonly sameProcessTakesOver?: boolean;
}

function readOr(file: string, fallback: string): string {
  try { return readFileSync(file, 'utf8').trim(); } catch { return fallback; }
}

/** This boot's id ('' where the kernel does not give one). */
export function bootId(): string {
  return readOr('/proc/sys/kernel/random/boot_id', '');
}

/** A process's start time in clock ticks since boot; '' when it has no /proc entry. */
export function processStartTicks(pid: number): string {
  return procStatFields(pid)?.[STAT_START_FIELD_AFTER_COMM] ?? '';
}

export function currentOwner(): LockOwner {
  return { pid: process.pid, bootId: bootId(), startTicks: processStartTicks(process.pid), hostname: hostname() };
}

/** The lock's owner as written; a lock of the first format held only the PID. */
export function parseOwner(text: string): LockOwner | undefined {
  if (/^\d+$/.test(text.trim())) return { pid: Number(text.trim()), bootId: '', startTicks: '', hostname: hostname() };
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0) return undefined;
    return { pid: o.pid, bootId: String(o.bootId ?? ''), startTicks: String(o.startTicks ?? ''), hostname: String(o.hostname ?? '') };
  } catch {
    return undefined;
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Why the owner is gone, or undefined while it may be alive. */
export function ownerGone(o: LockOwner, me: LockOwner = currentOwner(), policy: Pick<LockPolicy, 'localOnly' | 'sameProcessTakesOver'> = {}): string | undefined {
  if (!policy.localOnly && o.hostname !== me.hostname) return undefined;
  if (o.bootId && me.bootId && o.bootId !== me.bootId) return `written in another boot (${o.bootId})`;
  if (o.pid === me.pid) {
    // This PID, started at another time: an earlier process that had it (deterministic PIDs at a
    // small board's boot, where the boot id alone could not tell).
    if (o.startTicks && me.startTicks && o.startTicks !== me.startTicks) return `PID ${o.pid} is now this process (the owner started at tick ${o.startTicks})`;
    return policy.sameProcessTakesOver ? 'an earlier holder in this process' : undefined;
  }
  if (!pidExists(o.pid)) return `process ${o.pid} is gone`;
  const now = processStartTicks(o.pid);
  if (o.startTicks && now && now !== o.startTicks) return `PID ${o.pid} now belongs to another process (started at tick ${now}, the owner at ${o.startTicks})`;
  return undefined;
}

/** Creates the lock whole, or returns false when it exists. */
function tryCreate(lock: string, owner: LockOwner): boolean {
  const temp = `${lock}.${owner.pid}.${threadId}.tmp`;
  writeFileSync(temp, JSON.stringify(owner) + '\n');
  try {
    linkSync(temp, lock);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Breaks the lock when its owner is gone; true when it was broken (by this caller or another). */
function breakIfStale(lock: string, log: Logger, policy: LockPolicy): boolean {
  // lstat, not exists: a symlink loop or a dangling link "does not exist" but still stands in the
  // way of the link that takes the lock (it was blamed on another terminal at every boot).
  const st = lstatSync(lock, { throwIfNoEntry: false });
  if (!st) return true; // released meanwhile
  // Only this code makes the lock, always a regular file: anything else (a folder, a link) is no owner's.
  const text = st.isFile() ? readOr(lock, '') : '';
  const owner = parseOwner(text);
  // The file is written whole before it is linked into place, so an empty or unreadable one is a
  // power cut's work (the link reached the disk, the bytes did not): nobody owns it. It made a
  // terminal spin at boot after a cut in the guest, reading '' as "released" and never creating.
  const empty = text.trim() === '';
  const torn = !st.isFile() ? `the lock is not a file (${st.isDirectory() ? 'a folder' : st.isSymbolicLink() ? 'a link' : 'a special file'})`
    : empty || policy.localOnly ? `the lock file is ${empty ? 'empty' : 'unreadable'} (torn by a power cut)` : undefined;
  const why = owner ? ownerGone(owner, currentOwner(), policy) : torn;
  if (!why) return false;
  const aside = `${lock}.stale.${process.pid}.${threadId}`;
  try { renameSync(lock, aside); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true; // another breaker took it
    throw e;
  }
  if (st.isFile() && readOr(aside, '') !== text) {
    // Between the read and the rename the stale lock was broken and a live owner took the lock:
    // put it back unless someone has the lock again (then the live owner's file is lost, and
    // its registry write still goes through atomically; the next waiter serialises after it).
    try { linkSync(aside, lock); } catch { /* lock taken again meanwhile */ }
    rmSync(aside, { force: true });
    return false;
  }
  rmSync(aside, { force: true, recursive: true });
  log.warn({ lock, owner, reason: why }, `${policy.label}: broke the stale lock ${lock} of process ${owner?.pid}: ${why}`);
  return true;
}

/**
 * Takes `lock` (waiting for a live owner at most waitMs, then the policy's error); returns the
 * release, which removes the lock only while it is still this owner's.
 */
export async function acquireOwnerLock(lock: string, policy: LockPolicy, o: LockOptions = {}): Promise<() => void> {
  const log = o.logger ?? silentLogger;
  const waitMs = o.waitMs ?? REGISTRY_LOCK_WAIT_MS_MAX;
  const me = currentOwner();
  const start = Date.now();
  let breaks = 0;
  while (!tryCreate(lock, me)) {
    // Bounded: a lock that keeps coming back after it was broken is waited for, not spun on.
    if (breakIfStale(lock, log, policy) && ++breaks <= LOCK_BREAKS_MAX) continue;
    if (Date.now() - start > waitMs) {
      throw policy.lockedError(lock, parseOwner(readOr(lock, '')), waitMs);
    }
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
  const mine = JSON.stringify(me);
  return () => {
    const now = parseOwner(readOr(lock, ''));
    if (now && JSON.stringify(now) === mine) rmSync(lock, { force: true });
  };
}

/** The station registry's lock (boot/factory.ts withRegistry): E-FLS-04 when a live station keeps it. */
export function acquireRegistryLock(lock: string, o: LockOptions = {}): Promise<() => void> {
  return acquireOwnerLock(lock, { label: 'station registry', lockedError }, o);
}

/**
 * E-FLS-04: a live owner kept the lock past the wait. The message names the owner's PID and host
 * in English and Chinese (the CLI prints the message, then each language's steps), so the person
 * at the station knows which run to wait for or which process to stop.
 */
function lockedError(lock: string, holder: LockOwner | undefined, waitMs: number): PosError {
  const en = holder ? `process ${holder.pid} on ${holder.hostname || 'this host'}` : 'an unreadable lock';
  const zh = holder ? `${holder.hostname ? `主机${holder.hostname}上的` : '本机'}进程${holder.pid}` : '无法读取的锁文件';
  return new PosError('FLS_REGISTRY_LOCKED',
    `station registry is locked by ${en}, still running after ${waitMs} ms (${lock}): wait for that station to finish, or stop process ${holder?.pid ?? '(see the lock file)'} / 工位登记表被${zh}占用（已等待${waitMs}毫秒，${lock}）：请等待该工位运行结束，或停止该进程`,
    { lock, ...(holder ? { pid: holder.pid, hostname: holder.hostname } : {}) });
}

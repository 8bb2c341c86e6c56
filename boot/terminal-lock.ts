/**
 * One terminal per journal: the terminal takes `terminal.lock` in its journal folder before it
 * opens the journal, and refuses to boot (E-STO-13, journal in use) while another live terminal
 * process holds it. Two terminals on one journal would each number their records from the same
 * last one: the second writer's records fork the chain, and the next boot finds damage. Found as
 * a newcomer would cause it: `npm start` in a second window uses the board file's journal folder,
 * the same as the first (the acquirer simulator and control port are the process's own, so
 * nothing else stops it); on a real board a technician's `node dist/boot/terminal-main.js` beside
 * the unit.
 *
 * The lock names its owner (boot/registry-lock.ts: PID, boot id, start time). An owner killed
 * (a battery pull, SIGKILL, a crash) or from before a reboot is stale and broken, logged; the
 * host name is not compared (a terminal's may change at provisioning). An owner with this PID and
 * start time is an earlier terminal of this process (the tests' simulated cuts) and is taken over.
 * `pos journal import` and `pos recovery` check the journal's open files instead
 * (storage/holders.ts): they refuse beside a terminal whether or not it took this lock.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PosError } from '../common/errors';
import { readFileSync } from 'node:fs';
import { acquireOwnerLock, currentOwner, LockOwner, LockPolicy, ownerGone, parseOwner } from './registry-lock';

export const TERMINAL_LOCK_FILE = 'terminal.lock';
/**
 * How long a boot waits for a live holder to go: a terminal being stopped (systemd restarts only
 * after the stop; a test's SIGKILL is reaped in milliseconds) releases within it.
 */
export const TERMINAL_LOCK_WAIT_MS_MAX = 3_000;

function inUse(lock: string, holder: LockOwner | undefined, waitMs: number): PosError {
  const who = holder ? `terminal process ${holder.pid}` : 'another terminal (unreadable lock)';
  return new PosError('STO_IN_USE',
    `the journal ${join(lock, '..')} is in use by ${who}, still running after ${waitMs} ms (${lock}): one terminal per journal; stop it first (systemctl stop pos-terminal, or quit the other npm start) or give this one another --journal-dir / 流水正被${holder ? `终端进程${holder.pid}` : '另一终端'}使用：请先停止它，或为本终端指定另一流水目录`,
    { lock, ...(holder ? { pid: holder.pid } : {}) });
}

const TERMINAL_LOCK_POLICY: LockPolicy = { label: 'terminal', lockedError: inUse, localOnly: true, sameProcessTakesOver: true };

/** Takes the journal folder's terminal lock; returns its release (idempotent, only while still ours). */
export function acquireTerminalLock(journalDir: string, logger: Logger, waitMs = TERMINAL_LOCK_WAIT_MS_MAX): Promise<() => void> {
  return acquireOwnerLock(join(journalDir, TERMINAL_LOCK_FILE), TERMINAL_LOCK_POLICY, { waitMs, logger });
}

/** The PID of another live terminal holding `journalDir`'s lock, judged as acquireTerminalLock judges it; else undefined. */
export function terminalLockHolder(journalDir: string): number | undefined {
  let text: string;
  try { text = readFileSync(join(journalDir, TERMINAL_LOCK_FILE), 'utf8'); } catch { return undefined; }
  const owner = parseOwner(text);
  return owner && ownerGone(owner, currentOwner(), TERMINAL_LOCK_POLICY) === undefined ? owner.pid : undefined;
}

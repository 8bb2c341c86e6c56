/**
 * Which other processes have a journal's files open, from /proc (what lsof does): a shell command
 * that replaces or rewrites a journal (`pos journal import`, `pos recovery import|repair|salvage|
 * factory-reset`) must not run under a terminal that has it open. Such a terminal keeps writing
 * into the files it opened, which the command has moved aside: its next sales would be acknowledged
 * into a folder the next boot never opens (seen: an import beside `npm start` went through).
 *
 * Best effort by design: a process of another user whose /proc entry this one may not read is not
 * seen (the terminal's unit and the technician's shell both run as root on a board). The calling
 * process is not counted (it checks before it opens anything itself).
 */
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PosError } from '../common/errors';

/** The journal's files a writer or reader keeps open (JOURNAL_FORMAT.md: LMDB's two, the log). */
const JOURNAL_FILES = ['data.mdb', 'lock.mdb', 'journal.wal'] as const;
/** Holders named in the message at most (a terminal and its verify child are two). */
const HOLDERS_NAMED_MAX = 3;

export interface Holder {
  readonly pid: number;
  /** The process's command name (/proc/PID/comm), '' when it could not be read. */
  readonly command: string;
}

function readOr(file: string): string {
  try { return readFileSync(file, 'utf8'); } catch { return ''; }
}

/** Processes other than this one with one of `dir`'s journal files open. */
export function journalHolders(dir: string, proc = '/proc', self = process.pid): Holder[] {
  const files = new Set<string>();
  for (const f of JOURNAL_FILES) {
    try { files.add(realpathSync(join(dir, f))); } catch { /* not there: nobody holds it */ }
  }
  if (files.size === 0) return [];
  let pids: string[];
  try { pids = readdirSync(proc).filter((p) => /^\d+$/.test(p)); } catch { return []; }
  const holders: Holder[] = [];
  for (const p of pids) {
    const pid = Number(p);
    if (pid === self) continue;
    let fds: string[];
    try { fds = readdirSync(join(proc, p, 'fd')); } catch { continue; } // gone, or not ours to read
    const holds = fds.some((fd) => {
      try { return files.has(readlinkSync(join(proc, p, 'fd', fd))); } catch { return false; }
    });
    if (holds) holders.push({ pid, command: readOr(join(proc, p, 'comm')).trim() });
  }
  return holders;
}

/** Throws E-STO-13 (STO_IN_USE) naming the holders when another process has `dir`'s journal open. */
export function refuseWhileHeld(dir: string, what: string, proc?: string): void {
  const holders = journalHolders(dir, proc);
  if (holders.length === 0) return;
  const named = holders.slice(0, HOLDERS_NAMED_MAX).map((h) => `PID ${h.pid}${h.command ? ` (${h.command})` : ''}`).join(', ');
  throw new PosError('STO_IN_USE', `${what}: the journal ${dir} is open in ${named}; stop the terminal first (systemctl stop pos-terminal, or quit npm start), then run this again`, { dir, pids: holders.map((h) => h.pid) });
}

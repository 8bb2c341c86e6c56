/**
 * Where the management channel's `upload-logs` finds the terminal's recent structured logs
 * (docs/MANAGEMENT.md, "Logs"): the process writes pino JSON lines to stderr, which on a board
 * under systemd is journald, so there they are read back with
 * `journalctl -u pos-terminal.service -o json` (the unit's lines across restarts: the ones before a
 * crash are the interesting ones); on the simulator board, and on any process not started by
 * systemd, from a bounded ring in this process fed by the same pino multistream (LogRing).
 *
 * No card data reaches a log (DESIGN.md rule 8: callers log masked PANs only, common/log.ts
 * redacts the sensitive field names); what leaves the terminal also goes through
 * `maskCardNumbers` as a last line of defence (a Luhn-valid run of 14..19 digits is masked as the
 * slip masks it), so a future careless log line cannot upload a card number.
 */
// node:child_process on first use: the terminal's start does not load it (common/lazy.ts).
import { childProcess } from '../common/lazy';
import type { Writable } from 'node:stream';
import { luhnValid } from '../storage/record';

/** The in-process ring: newest log text kept (about the last few hundred lines of a busy day). */
export const LOG_RING_BYTES_MAX = 256 * 1024;
/** One line longer than this is cut (a stack trace is the longest a line gets). */
export const LOG_LINE_BYTES_MAX = 4 * 1024;
export const JOURNALD_UNIT_DEFAULT = 'pos-terminal.service';
/** journalctl is asked for at most this many lines (the newest) ... */
export const JOURNALCTL_LINES_MAX = 5_000;
/** ... within this time and this much output (its JSON wraps each line in some 1 KiB of fields). */
export const JOURNALCTL_TIMEOUT_MS = 10_000;
export const JOURNALCTL_OUTPUT_BYTES_MAX = 16 * 1024 * 1024;

export type LogSourceName = 'journald' | 'memory';

/** The newest lines of `lines` (oldest first) that fit `maxBytes` together, oldest first. */
export function newestWithin(lines: readonly string[], maxBytes: number): { text: string; truncated: boolean } {
  let bytes = 0;
  let i = lines.length;
  while (i > 0 && bytes + Buffer.byteLength(lines[i - 1]) + 1 <= maxBytes) bytes += Buffer.byteLength(lines[--i]) + 1;
  return { text: lines.slice(i).map((l) => `${l}\n`).join(''), truncated: i > 0 };
}

/**
 * Every Luhn-valid run of 14..19 digits masked as the slip masks a card (first 6, last 4). Not 13:
 * every pino line's `time` is 13 digits of ms (until 2286) and one in ten passes Luhn; cards of
 * 13 digits are not issued by UnionPay (16..19). A 15-digit MID that happens to pass is masked too.
 */
export function maskCardNumbers(text: string): string {
  return text.replace(/(?<!\d)\d{14,19}(?!\d)/g, (run) => (luhnValid(run) ? `${run.slice(0, 6)}${'*'.repeat(run.length - 10)}${run.slice(-4)}` : run));
}

/** The last LOG_RING_BYTES_MAX bytes of log lines, fed by a pino multistream. */
export class LogRing {
  private readonly lines: string[] = [];
  private bytes = 0;

  constructor(private readonly bytesMax = LOG_RING_BYTES_MAX) {}

  add(line: string): void {
    const l = Buffer.byteLength(line) > LOG_LINE_BYTES_MAX ? `${Buffer.from(line).subarray(0, LOG_LINE_BYTES_MAX).toString('utf8').replace(/\uFFFD+$/, '')}…` : line;
    this.lines.push(l);
    this.bytes += Buffer.byteLength(l) + 1;
    while (this.bytes > this.bytesMax && this.lines.length > 0) this.bytes -= Buffer.byteLength(this.lines.shift() as string) + 1; // non-empty: checked
  }

  /** Lines logged at or after `sinceMs` (pino's `time`), newest kept within maxBytes. */
  recent(maxBytes: number, sinceMs?: number): { text: string; truncated: boolean } {
    const lines = sinceMs === undefined ? this.lines : this.lines.filter((l) => timeOf(l) >= sinceMs);
    return newestWithin(lines, maxBytes);
  }

  /** A writable for pino.multistream. */
  stream(): Pick<Writable, 'write'> {
    return { write: (chunk: string | Uint8Array): boolean => { for (const l of String(chunk).split('\n')) if (l) this.add(l); return true; } } as Pick<Writable, 'write'>;
  }
}

function timeOf(line: string): number {
  const m = /"time":(\d+)/.exec(line);
  return m ? Number(m[1]) : 0;
}

/** Runs journalctl with `args` and resolves with its standard output (injected in tests). */
export type JournalctlRunner = (args: readonly string[]) => Promise<string>;

const realJournalctl: JournalctlRunner = (args) => new Promise((resolve, reject) => {
  childProcess().execFile('journalctl', [...args], { timeout: JOURNALCTL_TIMEOUT_MS, maxBuffer: JOURNALCTL_OUTPUT_BYTES_MAX, encoding: 'utf8' }, (e, stdout) => (e ? reject(e) : resolve(stdout)));
});

/**
 * The unit's newest log lines from journald, oldest first within maxBytes: each entry's MESSAGE
 * (the process's pino line; journald gives a message that is not valid UTF-8 as a byte array).
 */
export async function journaldLogs(o: { unit?: string; maxBytes: number; sinceMs?: number; run?: JournalctlRunner }): Promise<{ text: string; truncated: boolean }> {
  const args = ['-u', o.unit ?? JOURNALD_UNIT_DEFAULT, '-o', 'json', '--no-pager', '-n', String(JOURNALCTL_LINES_MAX), ...(o.sinceMs !== undefined ? ['--since', `@${Math.floor(o.sinceMs / 1000)}`] : [])];
  const out = await (o.run ?? realJournalctl)(args);
  const lines: string[] = [];
  for (const entry of out.split('\n')) {
    if (!entry) continue;
    let m: unknown;
    try { m = (JSON.parse(entry) as { MESSAGE?: unknown }).MESSAGE; } catch { continue; }
    const text = typeof m === 'string' ? m : Array.isArray(m) ? Buffer.from(m as number[]).toString('utf8') : undefined;
    if (text !== undefined) lines.push(text.length > LOG_LINE_BYTES_MAX ? `${text.slice(0, LOG_LINE_BYTES_MAX)}…` : text);
  }
  return newestWithin(lines, o.maxBytes);
}

/** journald under systemd (it sets INVOCATION_ID for a unit's processes), else the ring. */
export function logSourceFor(simulator: boolean, env: NodeJS.ProcessEnv = process.env): LogSourceName {
  return !simulator && env.INVOCATION_ID !== undefined ? 'journald' : 'memory';
}

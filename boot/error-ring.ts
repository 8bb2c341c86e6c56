/**
 * The last errors of the log (diagnostics' "last errors", the status upload's last code), fed
 * from pino by the terminal process from its start (boot/terminal-main.ts). A module of its own so
 * that the terminal loads diagnostics only when diagnostics opens (issue 14 goal 6).
 */
import type { Writable } from 'node:stream';

/** Error entries the ring keeps. */
export const ERROR_RING_ENTRIES_MAX = 50;
/** Of those, shown by the log check (boot/diagnostics.ts). */
export const ERRORS_SHOWN_MAX = 8;

export interface ErrorEntry { readonly timeMs: number; readonly code: string; readonly msg: string }

/**
 * The last ERROR_RING_ENTRIES_MAX log entries at warn level or above that carry an error code,
 * kept in memory (bounded). Fed by a pino stream (`stream()`): pino writes one JSON line per entry.
 */
export class ErrorRing {
  private readonly entries: ErrorEntry[] = [];

  constructor(private readonly max = ERROR_RING_ENTRIES_MAX) {}

  add(e: ErrorEntry): void {
    this.entries.push(e);
    if (this.entries.length > this.max) this.entries.shift();
  }

  /** Newest first. */
  last(n = ERRORS_SHOWN_MAX): ErrorEntry[] {
    return this.entries.slice(-n).reverse();
  }

  /** One pino log line in; kept when it is warn (40) or worse and names a code ("E-XXX-NN"). */
  line(json: string): void {
    let o: Record<string, unknown>;
    try { o = JSON.parse(json) as Record<string, unknown>; } catch { return; }
    if (typeof o.level !== 'number' || o.level < 40) return;
    const code = findCode(o);
    if (!code) return;
    this.add({ timeMs: typeof o.time === 'number' ? o.time : Date.now(), code, msg: String(o.msg ?? '') });
  }

  /** A writable for pino.multistream. */
  stream(): Pick<Writable, 'write'> {
    return { write: (chunk: string | Uint8Array): boolean => { for (const l of String(chunk).split('\n')) if (l) this.line(l); return true; } } as Pick<Writable, 'write'>;
  }
}

/** An error code as common/errors.ts writes it (E-XXX-NN). */
export const CODE_RE = /\bE-[A-Z]{2,4}-\d{2}\b/;

function findCode(o: Record<string, unknown>): string | undefined {
  if (typeof o.code === 'string' && CODE_RE.test(o.code)) return o.code;
  const err = o.err as Record<string, unknown> | undefined;
  if (err && typeof err.code === 'string' && CODE_RE.test(err.code)) return err.code;
  const m = CODE_RE.exec(`${String(o.msg ?? '')} ${typeof o.err === 'string' ? o.err : ''}`);
  return m?.[0];
}

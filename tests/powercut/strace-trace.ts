/**
 * Recording a run's file writes and flush barriers with strace, and parsing the trace into an
 * ordered list of events the disk model (disk-model.ts) can replay.
 *
 * The trace is taken with (checked on strace 6.1):
 *
 *   strace -f -qq -xx -y -s 0 -e write=all -e trace=<TRACED_SYSCALLS> -o <file> -- cmd args...
 *
 *  -f          follow threads (lmdb-js writes and flushes from worker threads)
 *  -qq         no attach/exit chatter
 *  -xx         every string (paths, -y annotations) printed as \xNN escapes: nothing in an
 *              argument can look like syntax, so lines split reliably
 *  -y          every fd argument annotated with its path: `19<\x2f...>`
 *  -s 0        the string argument of write calls is printed as `""...`; the bytes come from
 *  -e write=all  a full hex dump of every write's data, printed on the lines right after the
 *              line that completes the call (` | 00000  41 43 ...`; writev/pwritev dump one block
 *              per buffer, each introduced by ` * N bytes in buffer K`).
 *
 * Ordering. strace serialises what it sees: a call that blocks while another thread runs is
 * printed as `name(args <unfinished ...>` and later completed by `<... name resumed>rest) = r`.
 * Events are numbered in the order their calls COMPLETED (the resumed line); each event also
 * records `startedAt`, the number of events that had completed before the call was entered. A
 * flush barrier therefore makes durable the writes with `index < barrier.startedAt`, and counts
 * from its own `index` on (a crash at a point <= index happened before it returned).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** System calls traced. Anything that moves bytes to a file, positions a descriptor, names a
 * file, or is a flush barrier. msync is traced only to detect mmap writes, which strace cannot
 * see (lmdb's `useWritemap`): the disk model refuses such traces. */
export const TRACED_SYSCALLS = [
  'open', 'openat', 'creat', 'close', 'dup', 'dup2', 'dup3', 'fcntl',
  'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2', 'lseek', 'ftruncate',
  'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'msync',
  'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat',
] as const;

/** Legacy calls that 64-bit ARM (a terminal's SoC) does not have: `?` lets strace skip them. */
const OPTIONAL_SYSCALLS = new Set(['open', 'creat', 'rename', 'unlink', 'renameat']);

export function straceArgs(traceFile: string): string[] {
  const trace = TRACED_SYSCALLS.map((n) => (OPTIONAL_SYSCALLS.has(n) ? `?${n}` : n)).join(',');
  return ['-f', '-qq', '-xx', '-y', '-s', '0', '-e', 'write=all', '-e', `trace=${trace}`, '-o', traceFile];
}

export interface RunUnderStraceOptions {
  command: string;
  args: string[];
  traceFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** the run is killed (SIGKILL to strace, which kills the tracee) after this; default 60 s */
  timeoutMs?: number;
  straceBinary?: string;
  /** more strace options, e.g. ['-e', 'inject=fdatasync:delay_exit=20000'] to slow every flush
   * (the injected call must be in TRACED_SYSCALLS) */
  extraStraceArgs?: string[];
}

export interface RunUnderStraceResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  traceFile: string;
  elapsedMs: number;
  timedOut: boolean;
}

/** Runs `command args` under strace, the trace written to `traceFile`. Never rejects because the
 * command failed: look at exitCode/stderr. Rejects only when strace itself cannot start. */
export function runUnderStrace(options: RunUnderStraceOptions): Promise<RunUnderStraceResult> {
  const started = Date.now();
  const child = spawn(options.straceBinary ?? 'strace',
    [...straceArgs(options.traceFile), ...(options.extraStraceArgs ?? []), '--', options.command, ...options.args],
    { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode, signal, timedOut,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        traceFile: options.traceFile,
        elapsedMs: Date.now() - started,
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Stage 1: lines -> system call records (completion order, with their data dumps)

export interface SyscallRecord {
  /** thread id (strace -f prefix), null when the trace has no prefix */
  tid: number | null;
  name: string;
  /** top-level arguments as printed (still escaped) */
  args: string[];
  /** the return value; null when strace printed `?` (the call never returned) */
  retval: number | null;
  errno: string | null;
  /** the -y annotation on the return value (openat, dup...), decoded */
  retPath: string | null;
  /** position (in syscall lines) of the call's entry and of its completion */
  entrySeq: number;
  exitSeq: number;
  /** bytes written, from the -e write= dump; null when nothing was dumped */
  data: Buffer | null;
  /** 1-based line number of the completing line, for error messages */
  line: number;
}

export class StraceParseError extends Error {
  constructor(message: string, readonly line: number) {
    super(`strace trace line ${line}: ${message}`);
    this.name = 'StraceParseError';
  }
}

const PREFIX = /^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(.*)$/;
const RESUMED = /^<\.\.\. ([a-z0-9_]+) resumed>(.*)$/;
const UNFINISHED_SUFFIX = ' <unfinished ...>';
const CALL = /^([a-z0-9_]+)\((.*)$/;
const DUMP_LINE = /^ \| ([0-9a-f]+)  /;
const DUMP_BUFFER = /^ \* (\d+) bytes in buffer (\d+)$/;
const RESULT = /^(0x[0-9a-f]+|-?\d+|\?)(<[^>]*>)?(?:\s+([A-Z][A-Z0-9_]*))?/;

/** Hex dump line -> bytes. The hex area is fixed width (16 bytes, two groups of 8) so the ASCII
 * column, which may itself look like hex, is never read. */
function parseDumpLine(line: string, lineNo: number): { offset: number; bytes: number[] } {
  const m = DUMP_LINE.exec(line);
  if (!m) throw new StraceParseError('not a dump line', lineNo);
  const start = m[0].length;
  const hexArea = line.slice(start, start + 16 * 3);
  const bytes: number[] = [];
  for (const tok of hexArea.split(/\s+/)) {
    if (tok === '') continue;
    if (!/^[0-9a-f]{2}$/.test(tok)) throw new StraceParseError(`bad hex byte "${tok}" in dump`, lineNo);
    bytes.push(parseInt(tok, 16));
  }
  return { offset: parseInt(m[1], 16), bytes };
}

/** Splits an argument list at top-level ", " (respecting quotes, (), [], {}, <>). */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let inQuote = false;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inQuote) {
      cur += c;
      if (c === '\\' && i + 1 < text.length) { cur += text[++i]; continue; }
      if (c === '"') inQuote = false;
      continue;
    }
    if (c === '"') { inQuote = true; cur += c; continue; }
    if (c === '(' || c === '[' || c === '{' || c === '<') depth++;
    if (c === ')' || c === ']' || c === '}' || c === '>') depth--;
    if (c === ',' && depth === 0) {
      args.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '' || args.length > 0) args.push(cur.trim());
  return args;
}

/** Decodes a C-style escaped string as strace prints it (\xNN, \NNN octal, \n, \\ ...). */
export function decodeStraceString(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') { out.push(...Buffer.from(c, 'utf8')); continue; }
    const n = s[++i];
    if (n === 'x') { out.push(parseInt(s.slice(i + 1, i + 3), 16)); i += 2; continue; }
    if (n >= '0' && n <= '7') {
      let j = i;
      while (j < i + 3 && s[j] >= '0' && s[j] <= '7') j++;
      out.push(parseInt(s.slice(i, j), 8));
      i = j - 1;
      continue;
    }
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, a: 7, b: 8, '\\': 92, '"': 34, "'": 39 };
    if (n in simple) { out.push(simple[n]); continue; }
    out.push(...Buffer.from(n, 'utf8'));
  }
  return Buffer.from(out);
}

/** `19<\x2f\x74...>` -> { fd: 19, path: '/t...' }; `AT_FDCWD<...>` -> fd -100. */
export function parseFdArg(arg: string): { fd: number | null; path: string | null } {
  const m = /^(-?\d+|AT_FDCWD)(?:<(.*)>)?$/.exec(arg.trim());
  if (!m) return { fd: null, path: null };
  const fd = m[1] === 'AT_FDCWD' ? -100 : Number(m[1]);
  return { fd, path: m[2] === undefined ? null : decodeStraceString(m[2]).toString('utf8') };
}

/** `"\x64\x62"` -> 'db'; `""...` (truncated by -s 0) -> null */
export function parseStringArg(arg: string): string | null {
  const m = /^"(.*)"(\.\.\.)?$/.exec(arg.trim());
  if (!m || m[2]) return null;
  return decodeStraceString(m[1]).toString('utf8');
}

function parseNumber(text: string): number {
  const t = text.trim();
  const n = t.startsWith('0x') ? parseInt(t, 16) : Number(t);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${text}`);
  return n;
}

interface Pending { name: string; text: string; entrySeq: number; tid: number | null }

/** Parses trace text into system call records, in the order the calls completed. */
export function parseSyscalls(text: string): SyscallRecord[] {
  return parseSyscallLines(text.split('\n'));
}

/** Lines of a file, read in chunks (a trace is about five times the bytes written). */
export function* readLinesSync(file: string, chunkBytes = 1 << 20): Generator<string> {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(chunkBytes);
    let rest = '';
    for (;;) {
      const n = fs.readSync(fd, buf, 0, chunkBytes, null);
      if (n === 0) break;
      const text = rest + buf.toString('latin1', 0, n);
      const parts = text.split('\n');
      rest = parts.pop()!;
      yield* parts;
    }
    if (rest !== '') yield rest;
  } finally {
    fs.closeSync(fd);
  }
}

/** parseSyscalls over any iterable of lines (e.g. readLinesSync). */
export function parseSyscallLines(lines: Iterable<string>): SyscallRecord[] {
  const records: SyscallRecord[] = [];
  const pending = new Map<string, Pending>();
  let seq = 0;
  // the record whose dump lines may follow
  let last: SyscallRecord | null = null;
  let dumpChunks: Buffer[] = [];
  let bufferExpected = -1; // writev buffer size announced by " * N bytes in buffer K"
  let bufferBytes: number[] = [];

  const flushBuffer = (lineNo: number): void => {
    if (bufferExpected >= 0) {
      if (bufferBytes.length !== bufferExpected) {
        throw new StraceParseError(`buffer dump has ${bufferBytes.length} bytes, announced ${bufferExpected}`, lineNo);
      }
      dumpChunks.push(Buffer.from(bufferBytes));
    } else if (bufferBytes.length > 0) {
      dumpChunks.push(Buffer.from(bufferBytes));
    }
    bufferBytes = [];
    bufferExpected = -1;
  };
  const finishDump = (lineNo: number): void => {
    if (last === null) return;
    flushBuffer(lineNo);
    if (dumpChunks.length > 0) {
      last.data = Buffer.concat(dumpChunks);
      if (last.retval !== null && last.retval >= 0 && last.data.length !== last.retval) {
        throw new StraceParseError(`${last.name} returned ${last.retval} but its dump holds ${last.data.length} bytes`, last.line);
      }
    }
    dumpChunks = [];
    last = null;
  };

  let lineNo = 0;
  for (const raw of lines) {
    lineNo++;
    if (raw === '') continue;
    if (raw.startsWith(' | ')) {
      if (last === null) throw new StraceParseError('dump line without a preceding write', lineNo);
      const { offset, bytes } = parseDumpLine(raw, lineNo);
      if (offset !== bufferBytes.length) {
        throw new StraceParseError(`dump offset 0x${offset.toString(16)} but ${bufferBytes.length} bytes so far`, lineNo);
      }
      bufferBytes.push(...bytes);
      continue;
    }
    const buf = DUMP_BUFFER.exec(raw);
    if (buf) {
      if (last === null) throw new StraceParseError('buffer header without a preceding write', lineNo);
      flushBuffer(lineNo);
      bufferExpected = Number(buf[1]);
      continue;
    }
    finishDump(lineNo);

    const pm = PREFIX.exec(raw)!;
    const tidText = pm[1] ?? pm[2];
    const tid = tidText === undefined ? null : Number(tidText);
    let body = pm[3];
    if (body.startsWith('+++') || body.startsWith('---') || body.startsWith('strace:')) continue;
    const key = String(tid);
    let name: string;
    let callText: string; // "args) = result"
    let entrySeq: number;
    const resumed = RESUMED.exec(body);
    if (resumed) {
      const p = pending.get(key);
      if (!p || p.name !== resumed[1]) {
        // a call resumed whose start we did not see (trace started mid-call): unusable
        continue;
      }
      pending.delete(key);
      name = p.name;
      callText = p.text + resumed[2];
      entrySeq = p.entrySeq;
      seq++;
    } else {
      const cm = CALL.exec(body);
      if (!cm) throw new StraceParseError(`unrecognised line: ${raw.slice(0, 120)}`, lineNo);
      name = cm[1];
      seq++;
      if (body.endsWith(UNFINISHED_SUFFIX)) {
        body = body.slice(0, -UNFINISHED_SUFFIX.length);
        pending.set(key, { name, text: CALL.exec(body)![2], entrySeq: seq, tid });
        continue;
      }
      callText = cm[2];
      entrySeq = seq;
    }
    // strace pads before the result: "fcntl(3, F_SETFD, FD_CLOEXEC)     = -1 EBADF (...)"
    let eq = -1;
    let eqEnd = -1;
    for (const m of callText.matchAll(/\) +=(?: |$)/g)) { eq = m.index!; eqEnd = m.index! + m[0].length; }
    if (eq < 0) {
      // e.g. "exit_group(0)   = ?" has ") = " too; a call without a result is unusable
      throw new StraceParseError(`no result in: ${raw.slice(0, 120)}`, lineNo);
    }
    const args = splitArgs(callText.slice(0, eq));
    const resultText = callText.slice(eqEnd).trim();
    const rm = RESULT.exec(resultText);
    if (!rm) throw new StraceParseError(`unrecognised result "${resultText}"`, lineNo);
    const retval = rm[1] === '?' ? null : parseNumber(rm[1]);
    const retPath = rm[2] ? decodeStraceString(rm[2].slice(1, -1)).toString('utf8') : null;
    const rec: SyscallRecord = {
      tid, name, args, retval, errno: rm[3] ?? null, retPath,
      entrySeq, exitSeq: seq, data: null, line: lineNo,
    };
    records.push(rec);
    last = rec;
  }
  finishDump(lineNo);
  return records;
}

// ---------------------------------------------------------------------------------------------
// Stage 2: records -> events (fd table, positions, acks)

export type { EventBase, OpenEvent, CloseEvent, WriteEvent, TruncateEvent, BarrierEvent, AckEvent, NamespaceEvent, MmapSyncEvent, TraceEvent } from '../../sim/disk-events';
import type { EventBase, TraceEvent, OpenEvent, CloseEvent, WriteEvent, TruncateEvent, BarrierEvent, AckEvent } from '../../sim/disk-events';

export interface EventOptions {
  /** descriptor the workload prints acknowledgements on; default 1 (stdout) */
  ackFd?: number;
  /** one output line -> acknowledged id, or null; default /^ACK (\S+)$/ */
  ackPattern?: RegExp;
  /** working directory of the traced process, for relative paths when -y is absent */
  cwd?: string;
  /** sizes of files that existed before the run (for O_APPEND writes) */
  initialSizes?: ReadonlyMap<string, number>;
}

const O_FLAG = /\bO_[A-Z]+\b/g;

interface OpenFile { path: string; sync: boolean; append: boolean; pos: number | null }

/** Is this a path of a regular file whose bytes we model (not a pipe, socket, device, /proc)? */
export function isFilePath(p: string | null): p is string {
  return p !== null && p.startsWith('/') && !/^\/(dev|proc|sys)\//.test(p);
}

/** Turns system call records into events. Throws when a write to a file cannot be placed. */
export function eventsFromSyscalls(records: readonly SyscallRecord[], options: EventOptions = {}): TraceEvent[] {
  const ackFd = options.ackFd ?? 1;
  const ackPattern = options.ackPattern ?? /^ACK (\S+)$/;
  const events: TraceEvent[] = [];
  const fds = new Map<number, OpenFile>();
  const sizes = new Map<string, number>(options.initialSizes ?? []);
  // exitSeq of processed records and the number of events after each, for startedAt
  const exitSeqs: number[] = [];
  const countsAfter: number[] = [];
  let ackText = '';

  const startedAtOf = (entrySeq: number): number => {
    // number of events emitted by records with exitSeq < entrySeq
    let lo = 0;
    let hi = exitSeqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (exitSeqs[mid] < entrySeq) lo = mid + 1; else hi = mid;
    }
    return lo === 0 ? 0 : countsAfter[lo - 1];
  };

  const resolvePath = (dirArg: string | undefined, nameArg: string | undefined): string | null => {
    const name = nameArg === undefined ? null : parseStringArg(nameArg);
    if (name === null) return null;
    if (name.startsWith('/')) return path.normalize(name);
    const dir = dirArg === undefined ? { fd: -100, path: null } : parseFdArg(dirArg);
    const base = dir.path ?? (dir.fd === -100 ? options.cwd ?? null : fds.get(dir.fd ?? -1)?.path ?? null);
    return base === null ? null : path.resolve(base, name);
  };

  for (const r of records) {
    const startedAt = startedAtOf(r.entrySeq);
    const base = (): EventBase => ({ index: events.length, startedAt, tid: r.tid, line: r.line });
    const ok = r.retval !== null && r.retval >= 0;
    const fdArg = r.args.length > 0 ? parseFdArg(r.args[0]) : { fd: null, path: null };
    const fileOf = (): { path: string | null; file: OpenFile | undefined } => {
      const file = fdArg.fd === null ? undefined : fds.get(fdArg.fd);
      return { path: fdArg.path ?? file?.path ?? null, file };
    };

    switch (r.name) {
      case 'open': case 'openat': case 'creat': {
        if (!ok) break;
        const flagArg = r.name === 'openat' ? r.args[2] : r.name === 'open' ? r.args[1] : 'O_WRONLY|O_CREAT|O_TRUNC';
        const flags: string[] = (flagArg ?? '').match(O_FLAG) ?? [];
        const p = r.retPath ?? (r.name === 'openat' ? resolvePath(r.args[0], r.args[1]) : resolvePath(undefined, r.args[0]));
        if (p === null) break;
        const sync = flags.includes('O_DSYNC') || flags.includes('O_SYNC');
        const truncate = flags.includes('O_TRUNC');
        fds.set(r.retval!, { path: p, sync, append: flags.includes('O_APPEND'), pos: 0 });
        if (!isFilePath(p)) break;
        if (!sizes.has(p) || truncate) sizes.set(p, 0);
        events.push({ ...base(), kind: 'open', path: p, fd: r.retval!, flags, sync, truncate });
        if (truncate) events.push({ ...base(), kind: 'truncate', path: p, fd: r.retval!, length: 0, call: r.name });
        break;
      }
      case 'close': {
        if (fdArg.fd === null) break;
        const { path: p } = fileOf();
        fds.delete(fdArg.fd);
        if (isFilePath(p)) events.push({ ...base(), kind: 'close', path: p, fd: fdArg.fd });
        break;
      }
      case 'dup': case 'dup2': case 'dup3': {
        if (!ok || fdArg.fd === null) break;
        const file = fds.get(fdArg.fd) ?? (fdArg.path !== null ? { path: fdArg.path, sync: false, append: false, pos: null } : undefined);
        if (file) fds.set(r.retval!, file);
        break;
      }
      case 'fcntl': {
        if (!ok || fdArg.fd === null) break;
        const cmd = r.args[1] ?? '';
        if (cmd === 'F_DUPFD' || cmd === 'F_DUPFD_CLOEXEC') {
          const file = fds.get(fdArg.fd);
          if (file) fds.set(r.retval!, file);
        } else if (cmd === 'F_SETFL') {
          const file = fds.get(fdArg.fd);
          // Linux F_SETFL can change O_APPEND but not O_DSYNC/O_SYNC
          if (file) file.append = /\bO_APPEND\b/.test(r.args[2] ?? '');
        }
        break;
      }
      case 'lseek': {
        if (!ok || fdArg.fd === null) break;
        const file = fds.get(fdArg.fd);
        if (file) file.pos = r.retval!;
        else if (fdArg.path !== null) fds.set(fdArg.fd, { path: fdArg.path, sync: false, append: false, pos: r.retval! });
        break;
      }
      case 'write': case 'writev': case 'pwrite64': case 'pwritev': case 'pwritev2': {
        if (!ok || fdArg.fd === null) break;
        const n = r.retval!;
        const data = r.data ?? Buffer.alloc(0);
        if (data.length !== n) {
          throw new StraceParseError(`${r.name} returned ${n} bytes but ${data.length} were dumped (is -e write=all set?)`, r.line);
        }
        if (fdArg.fd === ackFd) {
          ackText += data.toString('utf8');
          let nl: number;
          while ((nl = ackText.indexOf('\n')) >= 0) {
            const lineText = ackText.slice(0, nl);
            ackText = ackText.slice(nl + 1);
            const m = ackPattern.exec(lineText);
            if (m) events.push({ ...base(), kind: 'ack', id: m[1] ?? lineText, text: lineText });
          }
          break;
        }
        const { path: p, file } = fileOf();
        if (!isFilePath(p)) break;
        const positional = r.name.startsWith('pwrite');
        let offset: number;
        if (file?.append) offset = sizes.get(p) ?? 0;
        else if (positional) offset = parseNumber(r.args[3]);
        else if (file && file.pos !== null) offset = file.pos;
        else throw new StraceParseError(`${r.name} to ${p} at an unknown position (fd ${fdArg.fd} opened before the trace?)`, r.line);
        if (!positional && file) file.pos = offset + n;
        if (n === 0) break;
        sizes.set(p, Math.max(sizes.get(p) ?? 0, offset + n));
        events.push({ ...base(), kind: 'write', path: p, fd: fdArg.fd, offset, data, sync: file?.sync ?? false, call: r.name });
        break;
      }
      case 'ftruncate': {
        if (!ok) break;
        const { path: p } = fileOf();
        if (!isFilePath(p)) break;
        const length = parseNumber(r.args[1]);
        sizes.set(p, length);
        events.push({ ...base(), kind: 'truncate', path: p, fd: fdArg.fd, length, call: r.name });
        break;
      }
      case 'fsync': case 'fdatasync': {
        if (r.retval !== 0) break; // a failed flush guarantees nothing
        const { path: p } = fileOf();
        if (!isFilePath(p)) break;
        events.push({ ...base(), kind: 'barrier', call: r.name, path: p, fd: fdArg.fd });
        break;
      }
      case 'sync': case 'syncfs': {
        if (r.retval !== 0) break;
        events.push({ ...base(), kind: 'barrier', call: r.name, path: null, fd: fdArg.fd });
        break;
      }
      case 'sync_file_range': {
        // not a durability barrier (no device cache flush, no metadata): ignored
        break;
      }
      case 'msync': {
        events.push({ ...base(), kind: 'msync' });
        break;
      }
      case 'rename': case 'unlink': {
        if (!ok) break;
        const paths = r.args.slice(0, r.name === 'rename' ? 2 : 1).map((a) => resolvePath(undefined, a)).filter(isFilePath);
        events.push({ ...base(), kind: 'namespace', call: r.name, paths });
        break;
      }
      case 'renameat': case 'renameat2': case 'unlinkat': {
        if (!ok) break;
        const paths = (r.name === 'unlinkat' ? [resolvePath(r.args[0], r.args[1])]
          : [resolvePath(r.args[0], r.args[1]), resolvePath(r.args[2], r.args[3])]).filter(isFilePath);
        events.push({ ...base(), kind: 'namespace', call: r.name, paths });
        break;
      }
      default:
        break;
    }
    exitSeqs.push(r.exitSeq);
    countsAfter.push(events.length);
  }
  return events;
}

/** parseSyscalls + eventsFromSyscalls */
export function parseStraceTrace(text: string, options: EventOptions = {}): TraceEvent[] {
  return eventsFromSyscalls(parseSyscalls(text), options);
}

export function readTraceFile(file: string, options: EventOptions = {}): TraceEvent[] {
  return eventsFromSyscalls(parseSyscallLines(readLinesSync(file)), options);
}

/**
 * Verifies journals in a child process, so that an LMDB file damaged badly enough to crash the
 * reader (SIGSEGV on garbage pages) is reported as `unopenable` instead of killing the runtime.
 * Boot uses it before opening the journal in-process; tests use it to sweep damaged files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setPriority } from 'node:os';
import { procStatFields, spawnModuleLight, spawnModuleTied } from '../common/spawn';
import { PosError } from '../common/errors';

/** What the verifying child saw of a readable journal (identity and digest for the CLI's report). */
interface Walked {
  records: number;
  lastGoodSeq: number;
  identity?: string;
  lastDigest?: string;
  /** The last record in data.mdb (the records after it are in journal.wal) and its digest. */
  storedSeq?: number;
  storedDigest?: string;
  elapsedMs?: number;
}

export type ChildVerdict =
  | ({ dir: string; status: 'ok' } & Walked)
  | ({ dir: string; status: 'torn-tail'; tornTail?: { seq: number; reason: string } } & Walked)
  | ({ dir: string; status: 'damaged'; damage: { seq: number; reason: string; logLost?: boolean } } & Walked)
  /**
   * Refused at open with a typed error. `noJournal`: the directory holds no journal at all;
   * `neverWritten`: data.mdb exists but never held a record (its creation was cut off), so a
   * writable open creates the journal again.
   */
  | { dir: string; status: 'error'; code?: string; message: string; noJournal?: boolean; neverWritten?: boolean }
  /**
   * The child died (LMDB crashed on the file: SIGABRT, SIGBUS, SIGSEGV): LMDB cannot read it; or
   * (signal STARVED_SIGNAL) it got almost no CPU or disk for VERIFY_CHILD_STARVED_MS_MAX.
   */
  | { dir: string; status: 'unopenable'; signal: string };

/** The operator's sentence for a file that kills LMDB (DESIGN.md: LMDB trusts its file). */
export function unopenableReason(signal: string): string {
  if (signal === STARVED_SIGNAL) return `the journal's check got almost no CPU or disk for ${VERIFY_CHILD_STARVED_MS_MAX / 60_000} minutes and was stopped: check the storage, then run "pos journal verify"`;
  return `LMDB cannot read this file (the reader died: ${signal}): run "pos journal salvage"`;
}

/** An 'unopenable' verdict's signal when the child was killed for getting no CPU or disk for VERIFY_CHILD_STARVED_MS_MAX, not by a crash. */
export const STARVED_SIGNAL = 'starved';

/** A verdict of a child stopped for getting no CPU or disk: the storage (E-STO-03), not damage. */
export function isStarved(v: ChildVerdict | undefined): boolean {
  return v?.status === 'unopenable' && v.signal === STARVED_SIGNAL;
}

/** The error for an 'unopenable' verdict: the storage (E-STO-03) when starved, else a file LMDB cannot read (E-STO-05). */
export function unopenableError(signal: string): PosError {
  return new PosError(signal === STARVED_SIGNAL ? 'STO_IO' : 'STO_DAMAGED', unopenableReason(signal), { signal });
}

/**
 * True when the verdict is damage (the journal needs recovery): damaged, unopenable (but not
 * starved: isStarved), or refused with a journal-damaged error other than "no journal here".
 */
export function verdictIsDamage(v: ChildVerdict): boolean {
  if (v.status === 'unopenable') return !isStarved(v);
  if (v.status === 'damaged') return true;
  return v.status === 'error' && !v.noJournal && (v.code === 'E-STO-05' || v.code === 'E-STO-11');
}

export const VERIFY_CHILD_TIMEOUT_MS_MAX = 60_000;
/**
 * A child that ran its timeout having had less than this share of a CPU was starved (a busy or
 * slow device, the terminal's own work first), not stuck on a damaged file, which spins: its time
 * is extended, up to VERIFY_CHILD_STARVED_MS_MAX of running time in all. Killed at the plain
 * timeout, a starved child read as "unopenable", i.e. damage: the checkpoint withdrawn and a
 * reboot that verifies everything again, or recovery at boot.
 */
export const VERIFY_CHILD_STARVED_CPU_SHARE = 0.5;
/** Longest a starved child runs (its running time, stops not counted); then killed as too slow. */
export const VERIFY_CHILD_STARVED_MS_MAX = 5 * 60_000;
/** Linux's USER_HZ: /proc/PID/stat counts CPU time in these ticks on every architecture it runs on. */
const PROC_TICKS_PER_S = 100;

/**
 * Says when a background child must not take the CPU: while someone uses the terminal. A CPU
 * quota (a slow board's cgroup, or the unit's) is shared by the whole process tree, so a niced
 * child still spends the period's quota the terminal then waits for (measured under a 17 %
 * quota: keys typed while the background verify ran reached the screen 10-26 ms after the
 * debounce instead of 2): the child is stopped (SIGSTOP) while held and continued (SIGCONT) after.
 */
export interface HoldSignal {
  readonly held: boolean;
  /** Calls `listener` whenever `held` changes; returns what removes it. */
  onChange(listener: () => void): () => void;
}

/**
 * Longest a child is kept stopped: a stopped child keeps its LMDB read transaction, whose
 * snapshot stops LMDB from reusing the pages the terminal's commits free (the file grows). It is
 * killed then, with no verdict (verifyInChild returns without it, never "unopenable"); run it again later.
 */
export const VERIFY_CHILD_HELD_MS_MAX = 60_000;

export interface ChildOptions {
  /** Stops the child (SIGKILL): verifyInChild then returns the verdicts it has, without the rest. */
  readonly signal?: AbortSignal;
  /** Scheduling niceness of the child (the background verify yields the CPU to the terminal). */
  readonly nice?: number;
  /**
   * Stops the child while held (VERIFY_CHILD_HELD_MS_MAX at most); its timeout counts running
   * time only. Only where setpriv ties the child's life to this process (common/spawn.ts
   * spawnModuleTied); without it the child is never stopped (the caller's start time still helps).
   */
  readonly hold?: HoldSignal;
  /** Tests: where setpriv is (default SETPRIV_PATH). */
  readonly setprivPath?: string;
  /** Tests: the limits (default VERIFY_CHILD_TIMEOUT_MS_MAX, VERIFY_CHILD_HELD_MS_MAX), each no higher. */
  readonly runningMsMax?: number;
  readonly heldMsMax?: number;
  /** Tests: the starved child's limit (default VERIFY_CHILD_STARVED_MS_MAX). */
  readonly starvedMsMax?: number;
}

/** How a child ended: its verdicts, the signal that killed it, and whether the hold's limit or starvation did. */
interface ChildEnd { verdicts: ChildVerdict[]; signal: string | null; heldTooLong: boolean; starved: boolean }

function runChild(dirs: readonly string[], identity: string | undefined, options: ChildOptions): Promise<ChildEnd> {
  return new Promise((resolve, reject) => {
    const module = join(__dirname, 'verify-child-main');
    const spawnOptions = { env: { ...process.env, POS_VERIFY_IDENTITY: identity ?? '' } };
    // Only a child the kernel kills with this process may be stopped: a stopped orphan would stay forever.
    const tied = options.hold ? spawnModuleTied(module, dirs, spawnOptions, options.setprivPath) : undefined;
    const child = tied ?? spawnModuleLight(module, dirs, spawnOptions.env);
    const hold = tied ? options.hold : undefined;
    const stop = (): void => { child.kill('SIGKILL'); };
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.nice !== undefined && child.pid !== undefined) {
      try { setPriority(child.pid, options.nice); } catch { /* not permitted: the child runs at normal priority */ }
    }
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    const runningMsMax = Math.min(options.runningMsMax ?? VERIFY_CHILD_TIMEOUT_MS_MAX, VERIFY_CHILD_TIMEOUT_MS_MAX);
    const heldMsMax = Math.min(options.heldMsMax ?? VERIFY_CHILD_HELD_MS_MAX, VERIFY_CHILD_HELD_MS_MAX);
    const clock = new ChildClock({ runningMsMax, heldMsMax, starvedMsMax: Math.max(runningMsMax, options.starvedMsMax ?? VERIFY_CHILD_STARVED_MS_MAX) }, () => child.kill('SIGKILL'), () => cpuMsOf(child.pid));
    let tieWait: NodeJS.Timeout | undefined;
    const pace = (): void => {
      clearTimeout(tieWait);
      if (!hold?.held) { child.kill('SIGCONT'); clock.running(); return; }
      // setpriv ties the child just before its exec of node: stopped earlier, it would stay untied.
      if (!execedPastSetpriv(child.pid)) { tieWait = setTimeout(pace, TIE_WAIT_MS); return; }
      clock.held();
      child.kill('SIGSTOP');
    };
    pace();
    const unhold = hold?.onChange(pace);
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(tieWait);
      clock.stop();
      unhold?.();
      options.signal?.removeEventListener('abort', stop);
      const verdicts = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ChildVerdict);
      resolve({ verdicts, signal, heldTooLong: clock.heldTooLong, starved: clock.starved });
    });
  });
}

/** How often a held child still in setpriv is looked at again (it execs node within milliseconds). */
const TIE_WAIT_MS = 5;

/** Whether the process has left setpriv for node (spawn returns once setpriv runs; /proc tells the rest). */
function execedPastSetpriv(pid: number | undefined): boolean {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'setpriv'; } catch { return false; }
}

/** The child's CPU time so far (user + system, /proc/PID/stat), ms; undefined when unreadable. */
function cpuMsOf(pid: number | undefined): number | undefined {
  const f = procStatFields(pid);
  const ticks = f ? Number(f[11]) + Number(f[12]) : NaN;
  return Number.isFinite(ticks) ? (ticks * 1000) / PROC_TICKS_PER_S : undefined;
}

export interface ChildLimits {
  readonly runningMsMax: number;
  readonly heldMsMax: number;
  readonly starvedMsMax: number;
}

/**
 * The child's limits: `runningMsMax` of running time (a stopped child is not slow), unless it had
 * less than VERIFY_CHILD_STARVED_CPU_SHARE of a CPU meanwhile (starved: it runs on, to
 * `starvedMsMax` of running time); `heldMsMax` stopped at a stretch. Each kills it through `kill`;
 * `starved` and `heldTooLong` say which did, when not the plain timeout (a child that spent its
 * time and did not finish: stuck on the file).
 */
export class ChildClock {
  private runningLeftMs: number;
  private ranMs = 0;
  private since = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  heldTooLong = false;
  starved = false;

  constructor(private readonly limits: ChildLimits, private readonly kill: () => void, private readonly cpuMs: () => number | undefined) {
    this.runningLeftMs = limits.runningMsMax;
  }

  running(): void {
    if (this.timer !== undefined && !this.stopped) return;
    this.clear();
    this.stopped = false;
    this.since = performance.now();
    this.timer = setTimeout(() => this.timeUp(), this.runningLeftMs);
  }

  held(): void {
    if (this.timer !== undefined && this.stopped) return;
    if (this.timer !== undefined) this.spend();
    this.clear();
    this.stopped = true;
    this.timer = setTimeout(() => { this.heldTooLong = true; this.kill(); }, this.limits.heldMsMax);
  }

  stop(): void { this.clear(); }

  /** Its running time is up: killed, unless it was starved and may run on. */
  private timeUp(): void {
    this.timer = undefined;
    this.spend();
    const cpuMs = this.cpuMs();
    const starved = cpuMs !== undefined && cpuMs < this.ranMs * VERIFY_CHILD_STARVED_CPU_SHARE;
    if (!starved) { this.kill(); return; }
    if (this.ranMs >= this.limits.starvedMsMax) { this.starved = true; this.kill(); return; }
    this.runningLeftMs = Math.min(this.limits.runningMsMax, this.limits.starvedMsMax - this.ranMs);
    this.running();
  }

  private spend(): void {
    const ms = Math.max(0, performance.now() - this.since);
    this.ranMs += ms;
    this.runningLeftMs = Math.max(0, this.runningLeftMs - ms);
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Verifies each directory; a child that dies on one directory is restarted for the rest. */
export async function verifyInChild(dirs: readonly string[], identity?: string, options: ChildOptions = {}): Promise<ChildVerdict[]> {
  const verdicts: ChildVerdict[] = [];
  let rest = [...dirs];
  while (rest.length > 0) {
    if (options.signal?.aborted) return verdicts;
    const r = await runChild(rest, identity, options);
    verdicts.push(...r.verdicts);
    // Killed by this side (aborted, stopped too long by its hold, or starved in the background:
    // the caller runs it again later): no verdict on the rest.
    if (options.signal?.aborted || r.heldTooLong || (r.starved && options.hold)) return verdicts;
    rest = rest.slice(r.verdicts.length);
    if (rest.length > 0) {
      verdicts.push({ dir: rest[0], status: 'unopenable', signal: r.starved ? STARVED_SIGNAL : r.signal ?? 'exit' });
      rest = rest.slice(1);
    }
  }
  return verdicts;
}

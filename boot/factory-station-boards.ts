/**
 * The factory station over board files: several terminals (real boards, bench rigs or simulator
 * boards) provisioned and tested at once, each in its own child process
 * (boot/factory-station-child.ts), so a board that hangs or crashes its process cannot block or
 * kill the others. Each terminal has a time limit (TERMINAL_TIMEOUT_MS_DEFAULT, counted from the
 * child's first message; starting has CHILD_START_MS_MAX): past it the child's process group is
 * killed and the terminal gets a report with a timeout code (TIMEOUT_CODES by the step it was in,
 * E-BRD-02 elsewhere). A child that dies without a report gets E-SYS-99.
 *
 * Prompts that need a person (press every key, confirm the display pattern) come to the
 * station's console named by terminal, one terminal at a time: a terminal holds the console from
 * its first prompt until it ends, and the time it waits for the console (another terminal's
 * operator is busy) does not count against its time limit. Unattended, those tests are
 * reported `skipped` (not pass).
 *
 * One JSON report per serial (boot/factory.ts writeReport, same format as the simulated
 * station's), written by this process, so a terminal whose process died still has one.
 */
import { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PosError, ErrorId } from '../common/errors';
import { readBoardFile } from '../hal/board';
import { spawnModule } from '../common/spawn';
import { TERMINAL_TIMEOUT_MS_DEFAULT, TestReport, writeReport } from './factory';
import type { StationReport } from './factory-station';
import type { ChildJob, ChildMessage, ParentMessage } from './factory-station-child';

/** At most this many terminals in one station run. */
export const STATION_TERMINALS_MAX = 64;
/** After its report, a terminal's process has this long to close its board and exit before it is killed (ms). */
export const CHILD_EXIT_GRACE_MS_MAX = 5_000;
/**
 * A terminal's process has this long to start and open its board (to its first message, ms);
 * the time limit counts from there, so a slow start on a busy station is not charged to the board.
 */
export const CHILD_START_MS_MAX = 60_000;
/** The end of a child's stderr kept for a crash report (bytes). */
export const CHILD_STDERR_TAIL_BYTES_MAX = 4_096;

const CHILD_MODULE = join(__dirname, 'factory-station-child');

export interface BoardTerminal {
  readonly serial: string;
  /** The terminal's board file (path or name under board-configs/). */
  readonly boardFile: string;
  /** Provision this identity before the test; absent: test only. */
  readonly identity?: ChildJob['identity'];
}

/** The station's console: where prompts that need a person go, each naming its terminal. */
export interface StationConsole {
  /** A line for the operator (e.g. "press 5"). */
  say(serial: string, text: string): void;
  /** A yes/no question; resolves with the operator's answer. */
  ask(serial: string, question: string): Promise<boolean>;
}

export interface BoardStationOptions {
  readonly terminals: readonly BoardTerminal[];
  readonly workDir: string;
  readonly reportDir: string;
  readonly registryFile: string;
  /** Per-terminal time limit (ms), not counting the time spent waiting for the console. */
  readonly timeoutMs?: number;
  readonly keyPressTimeoutMs?: number;
  /** Skip the tests that need a person (reported `skipped`, not pass). */
  readonly unattended?: boolean;
  /** Ask a person even on simulated GPIO/I2C (tests of the console path). */
  readonly personPrompts?: boolean;
  readonly scryptN?: number;
  readonly console?: StationConsole;
  readonly onProgress?: (serial: string, status: string) => void;
  /** Called with each terminal's process id once it runs. */
  readonly onStart?: (serial: string, pid: number) => void;
}

export type BoardStationReport = StationReport & {
  /** How the terminal's process ended. */
  readonly ended: 'report' | 'timeout' | 'crash';
  /** From the start of its process to its report (ms). */
  readonly elapsedMs: number;
};

/** The code a terminal gets when its time limit kills it, by the test it was in. */
const TIMEOUT_CODES: Readonly<Record<string, ErrorId>> = { 'printer test page': 'PRN_TIMEOUT', reader: 'RDR_TIMEOUT' };

/** Serial ports used by more than one terminal would make each fail the other: refused up front. */
function checkPorts(terminals: readonly BoardTerminal[]): void {
  const owners = new Map<string, string>();
  for (const t of terminals) {
    let config;
    try { config = readBoardFile(t.boardFile).config; } catch { continue; } // that terminal's child reports it
    if (config.simulator && !config.benchRig) continue;
    for (const [role, d] of Object.entries(config.devices)) {
      if (d.type !== 'escpos-serial' && d.type !== 'framed-card-reader') continue;
      const other = owners.get(d.port);
      if (other) throw new PosError('OPR_INPUT', `${t.serial} ${role}: port ${d.port} is already used by ${other}`, { port: d.port });
      owners.set(d.port, `${t.serial} ${role}`);
    }
  }
}

/** One terminal at a time at the console; waiting time is reported so time limits can pause. */
class ConsoleLock {
  private owner?: string;
  private readonly queue: Array<{ serial: string; grant: () => void }> = [];

  holds(serial: string): boolean { return this.owner === serial; }

  acquire(serial: string): Promise<void> {
    if (this.owner === undefined || this.owner === serial) { this.owner = serial; return Promise.resolve(); }
    return new Promise((grant) => this.queue.push({ serial, grant }));
  }

  release(serial: string): void {
    const i = this.queue.findIndex((q) => q.serial === serial);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.owner !== serial) return;
    const next = this.queue.shift();
    this.owner = next?.serial;
    next?.grant();
  }
}

export async function runBoardStation(o: BoardStationOptions): Promise<BoardStationReport[]> {
  if (o.terminals.length < 1 || o.terminals.length > STATION_TERMINALS_MAX) throw new PosError('OPR_INPUT', `a station runs 1..${STATION_TERMINALS_MAX} terminals (got ${o.terminals.length})`);
  const serials = new Set<string>();
  for (const t of o.terminals) {
    if (serials.has(t.serial)) throw new PosError('OPR_INPUT', `serial ${t.serial} is listed twice`, { serial: t.serial });
    serials.add(t.serial);
  }
  checkPorts(o.terminals);
  const lock = new ConsoleLock();
  const live = new Set<ChildProcess>();
  const killAll = (): void => { for (const c of live) killGroup(c); };
  process.on('exit', killAll);
  try {
    return await Promise.all(o.terminals.map((t) => runTerminal(t, o, lock, live)));
  } finally {
    process.off('exit', killAll);
  }
}

function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
}

function runTerminal(t: BoardTerminal, o: BoardStationOptions, lock: ConsoleLock, live: Set<ChildProcess>): Promise<BoardStationReport> {
  const limitMs = o.timeoutMs ?? TERMINAL_TIMEOUT_MS_DEFAULT;
  const progress = (s: string): void => o.onProgress?.(t.serial, s);
  const t0 = performance.now();
  return new Promise((resolve) => {
    let step = 'starting';
    let report: TestReport | undefined;
    let servicePassword: string | undefined;
    let reportMs = 0;
    let ended: BoardStationReport['ended'] | undefined;
    let stderr = '';
    let waitedMs = 0;
    let waitingSince: number | undefined;
    let limitTimer: NodeJS.Timeout | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    progress('starting');
    // A group of its own: the time limit kills the child and anything it started (gpiomon ...).
    const child = spawnModule(CHILD_MODULE, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true });
    live.add(child);
    if (child.pid !== undefined) o.onStart?.(t.serial, child.pid);
    const keepTail = (chunk: Buffer): void => { stderr = (stderr + chunk.toString('utf8')).slice(-CHILD_STDERR_TAIL_BYTES_MAX); };
    child.stdout?.on('data', keepTail);
    child.stderr?.on('data', keepTail);

    // The time limit runs from the child's first message; before that CHILD_START_MS_MAX applies.
    let limitFrom: number | undefined;
    const usedMs = (): number => performance.now() - (limitFrom ?? t0) - waitedMs - (waitingSince !== undefined ? performance.now() - waitingSince : 0);
    const limitNow = (): number => (limitFrom === undefined ? CHILD_START_MS_MAX : limitMs);
    const armLimit = (): void => {
      clearTimeout(limitTimer);
      limitTimer = setTimeout(() => {
        if (report || ended) return;
        if (usedMs() < limitNow()) { armLimit(); return; }
        ended = 'timeout';
        killGroup(child);
      }, Math.max(1, limitNow() - usedMs()));
    };
    armLimit();

    const post = (m: ParentMessage): void => { if (child.connected) child.send(m, () => undefined); };

    child.on('message', (m: ChildMessage) => {
      if (limitFrom === undefined) { limitFrom = performance.now(); armLimit(); }
      if (m.type === 'progress') {
        if (m.step) step = m.step;
        if (!report) progress(m.text);
      } else if (m.type === 'prompt') {
        void prompt(m);
      } else if (m.type === 'report') {
        report = { ...m.report, serial: t.serial };
        servicePassword = m.servicePassword;
        reportMs = performance.now() - t0;
        graceTimer = setTimeout(() => killGroup(child), CHILD_EXIT_GRACE_MS_MAX);
      }
    });

    const prompt = async (m: Extract<ChildMessage, { type: 'prompt' }>): Promise<void> => {
      if (!o.console) { post({ type: 'answer', id: m.id, value: false }); return; }
      if (!lock.holds(t.serial)) {
        waitingSince = performance.now();
        progress('waiting for the console');
        await lock.acquire(t.serial);
        waitedMs += performance.now() - waitingSince;
        waitingSince = undefined;
      }
      if (ended || report) return;
      progress(`operator: ${m.text}`);
      if (m.kind === 'press') { o.console.say(t.serial, m.text); post({ type: 'answer', id: m.id, value: true }); return; }
      post({ type: 'answer', id: m.id, value: await o.console.ask(t.serial, m.text) });
    };

    child.on('error', (e) => { stderr += `\n${e.message}`; });
    child.on('close', (code, signal) => {
      live.delete(child);
      clearTimeout(limitTimer);
      clearTimeout(graceTimer);
      lock.release(t.serial);
      const elapsedMs = report ? reportMs : performance.now() - t0;
      let final: TestReport;
      if (report) {
        final = report;
        ended = 'report';
      } else {
        const timedOut = ended === 'timeout';
        ended ??= 'crash';
        const id: ErrorId = timedOut ? (TIMEOUT_CODES[step] ?? 'BRD_DEVICE_ABSENT') : 'SYS_INVARIANT';
        const message = timedOut
          ? `terminal ${t.serial} did not finish within ${limitNow()} ms (in ${step}): its process was killed`
          : `terminal ${t.serial}: its process ended (${signal ?? `exit ${code}`}) in ${step} without a report`;
        const err = new PosError(id, message);
        const now = new Date().toISOString();
        final = {
          serial: t.serial, board: boardName(t.boardFile), startedAt: new Date(Date.now() - elapsedMs).toISOString(), finishedAt: now, pass: false,
          tests: [{ name: 'station', pass: false, values: { reason: timedOut ? 'timeout' : 'crash', step, message, ...(timedOut ? { timeoutMs: limitNow() } : { exitCode: code, signal, stderr: stderr.trim() }) }, codes: [err.code], ms: Math.round(elapsedMs) }],
        };
      }
      const reportFile = writeReport(o.reportDir, final);
      progress(statusLine(final));
      resolve({ ...final, reportFile, ended, elapsedMs: Math.round(elapsedMs), ...(report && servicePassword ? { servicePassword } : {}) });
    });

    const job: ChildJob = {
      type: 'job', serial: t.serial, boardFile: t.boardFile, workDir: o.workDir, reportDir: o.reportDir, registryFile: o.registryFile,
      unattended: o.unattended === true,
      ...(t.identity ? { identity: t.identity } : {}),
      ...(o.keyPressTimeoutMs ? { keyPressTimeoutMs: o.keyPressTimeoutMs } : {}),
      ...(o.personPrompts ? { personPrompts: true } : {}),
      ...(o.scryptN ? { scryptN: o.scryptN } : {}),
    };
    post(job);
  });
}

function boardName(file: string): string {
  try { return readBoardFile(file).config.board; } catch { return file; }
}

/** A failed test's codes; skipped tests are listed by name. */
export function outcome(r: TestReport): { result: 'pass' | 'fail' | 'incomplete'; codes: string[]; skipped: string[] } {
  const failed = r.tests.filter((t) => !t.pass && !t.skipped);
  const skipped = r.tests.filter((t) => t.skipped).map((t) => t.name);
  const provisionCodes = ((r as { provision?: { pass?: boolean; codes?: string[]; label?: { code?: string } } }).provision);
  const codes = [...new Set([...failed.flatMap((t) => t.codes), ...(provisionCodes?.codes ?? []), ...(provisionCodes?.label?.code ? [provisionCodes.label.code] : [])])];
  const result = r.pass ? 'pass' : failed.length || codes.length || provisionCodes?.pass === false ? 'fail' : 'incomplete';
  return { result, codes, skipped };
}

export function statusLine(r: TestReport): string {
  const x = outcome(r);
  if (x.result === 'pass') return 'PASS';
  if (x.result === 'incomplete') return `INCOMPLETE skipped: ${x.skipped.join(', ')}`;
  return `FAIL ${x.codes.join(' ')}${x.skipped.length ? ` (skipped: ${x.skipped.join(', ')})` : ''}`;
}

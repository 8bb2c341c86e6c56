/**
 * The two ends of a crash-state checker process.
 *
 * Opening a crash state may crash the process that opens it (LMDB has no page checksums: a torn
 * state of an unsafe workload can send it into a bad pointer), so states are opened in a child
 * process. The test side (`CheckerProcess`) sends one JSON request a line on the child's stdin;
 * the child (`serveChecks`, in a checker script) answers one `VERDICT {json}` line per request
 * on stdout. If the child dies, the request it was working on gets `{ ok: false, crashed }` and
 * a fresh child takes the next request.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { nodeCommandFor } from './compile';

export interface CheckRequest {
  /** directory holding the rebuilt files */
  dir: string;
  /** ids acknowledged before the crash point: each must be found */
  acked: string[];
  /** anything else the checker script needs */
  [key: string]: unknown;
}

export interface CheckVerdict {
  ok: boolean;
  /** acknowledged ids not found (or found with the wrong content) */
  missing?: string[];
  /** what was found, for messages */
  found?: number;
  error?: string;
  /** set when the checker process died on this state (signal or exit code) */
  crashed?: string;
  [key: string]: unknown;
}

const VERDICT = 'VERDICT ';

/** Child side: call once from a checker script with the function that checks one state. */
export function serveChecks(check: (request: CheckRequest) => Promise<CheckVerdict> | CheckVerdict): void {
  const rl = readline.createInterface({ input: process.stdin });
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    chain = chain.then(async () => {
      let verdict: CheckVerdict;
      try {
        verdict = await check(JSON.parse(line) as CheckRequest);
      } catch (e) {
        verdict = { ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
      }
      process.stdout.write(VERDICT + JSON.stringify(verdict) + '\n');
    });
  });
  rl.on('close', () => { void chain.then(() => process.exit(0)); });
}

export interface CheckerSpec {
  /** checker script (.ts is transpiled to JavaScript first: see compile.ts) */
  script: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
  cwd?: string;
  /** a single check taking longer than this counts as a crash; default 20 s */
  checkTimeoutMs?: number;
}

/** Test side: a checker child process, restarted when it dies. */
export class CheckerProcess {
  private child: ChildProcessWithoutNullStreams | null = null;
  private waiting: ((verdict: CheckVerdict) => void) | null = null;
  private stderrTail = '';
  /** number of times the child died on a state */
  crashes = 0;

  constructor(readonly spec: CheckerSpec) {}

  private start(): ChildProcessWithoutNullStreams {
    const script = path.resolve(this.spec.script);
    const child = spawn(process.execPath, nodeCommandFor(script, this.spec.nodeArgs), {
      cwd: this.spec.cwd ?? process.cwd(),
      env: { ...process.env, ...this.spec.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (!line.startsWith(VERDICT)) return;
      const w = this.waiting;
      this.waiting = null;
      w?.(JSON.parse(line.slice(VERDICT.length)) as CheckVerdict);
    });
    child.stderr.on('data', (b: Buffer) => { this.stderrTail = (this.stderrTail + b.toString()).slice(-2000); });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      const w = this.waiting;
      this.waiting = null;
      if (w) {
        this.crashes++;
        w({ ok: false, crashed: signal ?? `exit ${code}`, error: this.stderrTail.trim().split('\n').slice(-3).join(' | ') });
      }
    });
    child.stdin.on('error', () => { /* the child died; the exit handler reports it */ });
    return child;
  }

  check(request: CheckRequest): Promise<CheckVerdict> {
    if (this.waiting) throw new Error('CheckerProcess: one check at a time');
    const child = this.child ?? (this.child = this.start());
    this.stderrTail = '';
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL'); // the exit handler resolves with crashed
      }, this.spec.checkTimeoutMs ?? 20_000);
      this.waiting = (v) => { clearTimeout(timer); resolve(v); };
      child.stdin.write(JSON.stringify(request) + '\n');
    });
  }

  close(): void {
    const child = this.child;
    this.child = null;
    if (child) {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.on('exit', () => clearTimeout(t));
    }
  }
}

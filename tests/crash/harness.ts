/**
 * Runs the crash-test writer (tests/crash/writer.ts) as a child process, optionally under
 * strace, collects its ACK lines, and checks a journal against them after it died.
 */
import { spawn } from 'node:child_process';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { nodeArgsFor } from '../../common/spawn';
import { Journal } from '../../storage/journal';

export const WRITER = join(__dirname, 'writer');

export interface WriterRun {
  readonly acks: Map<number, string>;
  readonly lines: string[];
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

export interface RunOptions {
  readonly count?: number;
  /** Kill with SIGKILL this many ms after the writer printed READY. */
  readonly killAfterReadyMs?: number;
  /** strace arguments placed before `node ...` (fault injection). */
  readonly strace?: readonly string[];
  readonly timeoutMsMax?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export function runWriter(dir: string, options: RunOptions = {}): Promise<WriterRun> {
  const nodeArgs = [...nodeArgsFor(WRITER), dir, String(options.count ?? 1e12)];
  const [cmd, args] = options.strace ? ['strace', [...options.strace, '-o', '/dev/null', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    const acks = new Map<number, string>();
    const lines: string[] = [];
    let buffered = '';
    let stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), options.timeoutMsMax ?? 60_000);
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        const m = /^ACK (\d+) ([0-9a-f]+)$/.exec(line);
        if (m) acks.set(Number(m[1]), m[2]);
        if (line.startsWith('READY') && options.killAfterReadyMs !== undefined) {
          setTimeout(() => child.kill('SIGKILL'), options.killAfterReadyMs);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (exitCode, signal) => { clearTimeout(guard); resolve({ acks, lines, exitCode, signal, stderr }); });
  });
}

/** Reopens the journal as after a reboot and checks every acknowledged record, the chain, no gap. */
export async function assertAcksSurvived(dir: string, acks: Map<number, string>, context: string): Promise<Journal> {
  const j = await Journal.open({ dir, identity: 'SIM-CRASH', safeRestore: true });
  assert.equal(j.state, 'ok', `${context}: journal ${j.state} ${JSON.stringify(j.damage)}`);
  const maxAck = Math.max(0, ...acks.keys());
  assert.ok(j.lastSeq >= maxAck, `${context}: acknowledged ${maxAck} but journal ends at ${j.lastSeq}`);
  for (const [seq, digest] of acks) {
    const r = j.get(seq);
    assert.ok(r, `${context}: acknowledged record ${seq} missing`);
    assert.equal(r.digest.toString('hex'), digest, `${context}: record ${seq} differs from what was acknowledged`);
  }
  return j;
}

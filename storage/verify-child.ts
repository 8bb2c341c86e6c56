/**
 * Verifies journals in a child process, so that an LMDB file damaged badly enough to crash the
 * reader (SIGSEGV on garbage pages) is reported as `unopenable` instead of killing the runtime.
 * Boot uses it before opening the journal in-process; tests use it to sweep damaged files.
 */
import { join } from 'node:path';
import { spawnModule } from '../common/spawn';

export type ChildVerdict =
  | { dir: string; status: 'ok' | 'torn-tail'; records: number; lastGoodSeq: number }
  | { dir: string; status: 'damaged'; records: number; lastGoodSeq: number; damage: { seq: number; reason: string } }
  | { dir: string; status: 'error'; code?: string; message: string }
  | { dir: string; status: 'unopenable'; signal: string };

export const VERIFY_CHILD_TIMEOUT_MS_MAX = 60_000;

function runChild(dirs: readonly string[], identity: string | undefined): Promise<{ verdicts: ChildVerdict[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawnModule(join(__dirname, 'verify-child-main'), dirs, { env: { ...process.env, POS_VERIFY_IDENTITY: identity ?? '' } });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), VERIFY_CHILD_TIMEOUT_MS_MAX);
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      const verdicts = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ChildVerdict);
      resolve({ verdicts, signal });
    });
  });
}

/** Verifies each directory; a child that dies on one directory is restarted for the rest. */
export async function verifyInChild(dirs: readonly string[], identity?: string): Promise<ChildVerdict[]> {
  const verdicts: ChildVerdict[] = [];
  let rest = [...dirs];
  while (rest.length > 0) {
    const r = await runChild(rest, identity);
    verdicts.push(...r.verdicts);
    rest = rest.slice(r.verdicts.length);
    if (rest.length > 0) {
      verdicts.push({ dir: rest[0], status: 'unopenable', signal: r.signal ?? 'exit' });
      rest = rest.slice(1);
    }
  }
  return verdicts;
}

/**
 * A pair of connected pseudo-terminals made by socat, so tests run the real serial stack
 * (`serialport` on a tty) end to end: `socat -d -d pty,raw,echo=0 pty,raw,echo=0` prints
 * "PTY is /dev/pts/N" twice on stderr; bytes written to one come out of the other.
 * `close()` kills socat; the ports opened on the ptys then see the device disappear.
 */
import { ChildProcess, spawn } from 'node:child_process';

export interface PtyPair {
  /** The end a driver opens (through hal/serial-linux.ts). */
  readonly hostPath: string;
  /** The end a simulator opens. */
  readonly devicePath: string;
  readonly pid: number;
  close(): Promise<void>;
}

/** Wait for socat to print both pty paths (ms). */
const SOCAT_START_MS_MAX = 5000;
/** Wait for socat to exit after SIGTERM before SIGKILL (ms). */
const SOCAT_STOP_MS_MAX = 2000;

export function openPtyPair(): Promise<PtyPair> {
  const child = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const paths: string[] = [];
    const fail = (message: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`socat: ${message}; stderr: ${stderr.trim()}`));
    };
    const timer = setTimeout(() => fail(`no pty paths within ${SOCAT_START_MS_MAX} ms`), SOCAT_START_MS_MAX);
    child.on('error', (error) => fail(error.message));
    child.on('exit', (code) => { if (paths.length < 2) fail(`exited with ${code}`); });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr += text;
      for (const m of text.matchAll(/PTY is (\S+)/g)) paths.push(m[1]);
      if (paths.length === 2 && /starting data transfer loop/.test(stderr)) {
        clearTimeout(timer);
        resolve({ hostPath: paths[0], devicePath: paths[1], pid: child.pid ?? -1, close: () => stopSocat(child) });
      }
    });
  });
}

function stopSocat(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), SOCAT_STOP_MS_MAX);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

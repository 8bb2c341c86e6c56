/**
 * Children started without fork, and systemd told without a child (native/process_native.c says
 * why: after node's fork-based spawn the terminal takes a page fault on the first write to every
 * page it has; on a slow core that is a key's whole budget, right after the background verify's
 * child starts, and every 15 s for the watchdog's `systemd-notify`).
 *
 * Falls back to node's own spawn (`undefined` from spawnLight) where the addon is not built or
 * POS_PROCESS_NATIVE=0 (the benchmarks' other side).
 */
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { loadOwnAddon, ownAddonCandidates } from './own-addon';

/** native/process_native.c's functions (its header comment states their contract). */
interface ProcessNativeAddon {
  spawn(file: string, argv: readonly string[], env: readonly string[], withStdin?: boolean): [number, number, number, number];
  reap(pid: number): [number | null, number | null] | null;
  notify(socketPath: string, message: string): void;
}

let addon: ProcessNativeAddon | null | undefined;

/** The addon, loaded once; null where it is not built, does not load, or POS_PROCESS_NATIVE=0. */
export function processNative(): ProcessNativeAddon | null {
  if (addon !== undefined) return addon;
  addon = process.env.POS_PROCESS_NATIVE === '0'
    ? null
    : loadOwnAddon<ProcessNativeAddon>(ownAddonCandidates('process_native.node', 'POS_PROCESS_NATIVE_ADDON'), (e) => typeof e.spawn === 'function' && typeof e.reap === 'function' && typeof e.notify === 'function');
  return addon;
}

/** What a started child offers its caller; node's ChildProcess offers the same (the fallback). */
export interface SpawnedChild {
  readonly pid?: number | undefined;
  /** A pipe to the child's standard input when asked for (spawnLight's `stdin`), else null. */
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals | number): boolean;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/** First wait before looking again for a child whose output has ended but that has not exited. */
const REAP_POLL_MS_MIN = 5;
/** Longest wait between two looks (a child that closed its output and runs on is looked at each second). */
const REAP_POLL_MS_MAX = 1_000;

/** Signal numbers to names (os.constants.signals the other way). */
function signalName(n: number | null): NodeJS.Signals | null {
  if (n === null) return null;
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name as NodeJS.Signals;
  return null;
}

/**
 * A child from native/process_native.c's spawn: its stdout and stderr as sockets over the pipes,
 * 'close' with its exit code or signal once both pipes have ended and it is reaped (as node's
 * ChildProcess: a pipe nobody reads is drained once the other has ended, so an unread stderr does
 * not keep 'close' back). Not reaped by libuv (which waits only for its own pids): here.
 */
class LightChild extends EventEmitter implements SpawnedChild {
  readonly stdin: Socket | null;
  readonly stdout: Socket;
  readonly stderr: Socket;
  private pipesOpen = 2;
  private reaped = false;
  private pollMs = REAP_POLL_MS_MIN;

  constructor(readonly pid: number, outFd: number, errFd: number, inFd: number, private readonly native: ProcessNativeAddon) {
    super();
    this.stdin = inFd >= 0 ? new Socket({ fd: inFd, readable: false, writable: true }) : null;
    // A child that exits before reading (or never reads) its input: EPIPE there is its exit's to tell.
    this.stdin?.on('error', () => undefined);
    this.stdout = new Socket({ fd: outFd, readable: true, writable: false });
    this.stderr = new Socket({ fd: errFd, readable: true, writable: false });
    for (const pipe of [this.stdout, this.stderr]) {
      pipe.on('error', () => { /* an fd that fails ends like an EOF: the exit status still says how the child ended */ });
      pipe.once('close', () => this.pipeClosed());
    }
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    // Reaped, the pid is the kernel's to give to another process: never signalled again.
    if (this.reaped) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  private pipeClosed(): void {
    this.pipesOpen--;
    // The child's output has ended: whatever nobody reads is drained, so it ends too.
    for (const pipe of [this.stdout, this.stderr]) if (!pipe.destroyed && pipe.listenerCount('data') === 0) pipe.resume();
    if (this.pipesOpen === 0) this.lookForExit();
  }

  private lookForExit(): void {
    let ended: [number | null, number | null] | null;
    try {
      ended = this.native.reap(this.pid);
    } catch {
      ended = [null, null]; // ECHILD: not ours to wait for any more; it has ended.
    }
    if (ended === null) {
      setTimeout(() => this.lookForExit(), this.pollMs).unref();
      this.pollMs = Math.min(this.pollMs * 2, REAP_POLL_MS_MAX);
      return;
    }
    this.reaped = true;
    this.emit('close', ended[0], signalName(ended[1]));
  }
}

/** NAME=value strings of an environment (undefined values left out). */
function environment(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`);
}

/**
 * Starts `file` with `args` and `env` without fork (stdout and stderr piped, stdin piped when
 * `o.stdin`, else /dev/null), or
 * undefined where the addon is not available (the caller uses node's spawn). Throws an Error with
 * `errno` when the child cannot be started (as node's spawn's 'error' event would say).
 */
export function spawnLight(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, o: { readonly stdin?: boolean } = {}): SpawnedChild | undefined {
  const native = processNative();
  if (!native) return undefined;
  const [pid, outFd, errFd, inFd] = native.spawn(file, [file, ...args], environment(env), o.stdin === true);
  return new LightChild(pid, outFd, errFd, inFd, native);
}

/**
 * sd_notify(3)'s message (`NAME=value` lines) to NOTIFY_SOCKET as one datagram from this process,
 * or false where the addon is not available (the caller runs `systemd-notify`). Throws an Error
 * with `errno` when the datagram cannot be sent (nobody listens, no such socket): the watchdog
 * logs it and tries again.
 */
export function notifySystemd(socketPath: string, lines: readonly string[]): boolean {
  const native = processNative();
  if (!native) return false;
  native.notify(socketPath, lines.join('\n'));
  return true;
}

/**
 * Boots a flashed disk image (boot/flash/disk-image.ts) in QEMU, as the guest tests use it.
 *
 *   qemu-system-x86_64, TCG (no KVM on these machines), -m 256 like a handheld, one CPU
 *   -kernel  Debian 12's kernel (scripts/guest/fetch-kernel.sh): QEMU stands for the bootloader
 *   -initrd  scripts/guest/build-initrd.sh: Debian's kernel has virtio_blk and ext4 as modules
 *   -drive   the image as a virtio disk, cache=writeback: what the guest has not flushed is in
 *            the guest's page cache only, so SIGKILL of QEMU is a power cut for the guest, while
 *            what it flushed is in the host's page cache and survives (the host does not crash)
 *   ttyS0    the console (kernel and systemd), captured to console.log in the run folder
 *   ttyS1/2  the printer's and card reader's UARTs: a unix socket each (QEMU listens; a test
 *            connects its virtual device), or nothing
 *   ttyS3    the TEST-ONLY command channel (pos-test-agent in the test image, tests/guest/guest-disk.ts)
 *   TPM      optional: a TPM 2.0 (tpm-tis) backed by a host swtpm's control socket (tpmSocket)
 *   network  user-mode (slirp): the guest reaches the host's loopback as 10.0.2.2; the host
 *            reaches guest port 7001 (the test image's control relay) on a loopback port
 *
 * The agent channel: the host writes "<id> <shell command>\n", the agent answers
 * "AGENT-DONE <id> <exit code> <output as base64>" once the command has ended. Other lines on
 * ttyS3 (a background workload writing there) are collected as they arrive.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createServer, connect, Socket } from 'node:net';
import { createWriteStream, readFileSync, WriteStream } from 'node:fs';
import { join } from 'node:path';

export const GUEST_MEMORY_MIB = 256;
/** The guest's answer to one agent command; a command that runs longer is a failure. */
export const AGENT_COMMAND_MS_MAX = 120_000;
/** From QEMU's start to the agent's first line (kernel + initramfs + systemd under TCG). */
export const AGENT_READY_MS_MAX = 120_000;
/** Lines other than answers kept from the agent channel (a workload's acknowledgements). */
const AGENT_LINES_MAX = 100_000;
/** Guest port of the test image's relay to the terminal's control interface (127.0.0.1:7000). */
export const GUEST_CONTROL_RELAY_PORT = 7001;

export interface GuestOptions {
  readonly disk: string;
  readonly kernel: string;
  readonly initrd: string;
  /** A folder for sockets and the console log. */
  readonly runDir: string;
  /** Kernel command line additions (the test image reads pos.* options). */
  readonly append?: string;
  /** Unix sockets QEMU listens on for the guest's ttyS1 / ttyS2; absent = not connected. */
  readonly printerSocket?: string;
  readonly readerSocket?: string;
  /**
   * A software TPM's control socket (`swtpm socket --tpm2 --ctrl type=unixio,path=...`): the
   * guest gets a TPM 2.0 on its TIS interface (/dev/tpm0, /dev/tpmrm0); absent = no TPM.
   */
  readonly tpmSocket?: string;
}

interface Pending { resolve: (r: AgentResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
export interface AgentResult { readonly code: number; readonly out: string }

/** A free TCP port on the host's loopback (closed again; QEMU binds it a moment later). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
  });
}

/** QEMU processes still running; killed when this process exits (mocha's --exit does not wait for them). */
const LIVE_QEMU = new Set<ChildProcess>();
process.on('exit', () => { for (const q of LIVE_QEMU) q.kill('SIGKILL'); });

function killAtExit(qemu: ChildProcess): void {
  LIVE_QEMU.add(qemu);
  qemu.once('exit', () => LIVE_QEMU.delete(qemu));
}

export class Guest {
  /** Lines the agent channel carried that were not answers, in order. */
  readonly lines: string[] = [];
  readonly startedMs = Date.now();
  agentReadyMs: number | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffer = '';
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private lineWaiters: Array<() => void> = [];

  private constructor(readonly qemu: ChildProcess, private readonly agent: Socket, readonly controlPort: number, readonly consoleFile: string, log: WriteStream) {
    this.exited = new Promise((resolve) => qemu.once('exit', (code) => { this.exitCode = code; log.end(); this.failAll(new Error(`QEMU exited (${code})`)); resolve(code); }));
    agent.setEncoding('utf8');
    agent.on('data', (chunk: string) => this.onData(chunk));
    agent.on('error', () => undefined);
  }

  static async boot(o: GuestOptions): Promise<Guest> {
    const controlPort = await freePort();
    const agentSocket = join(o.runDir, 'agent.sock');
    const consoleFile = join(o.runDir, 'console.log');
    const uart = (name: string, path: string | undefined): string[] => (path
      ? ['-chardev', `socket,id=${name},path=${path},server=on,wait=off`, '-serial', `chardev:${name}`]
      : ['-serial', 'null']);
    const args = [
      '-machine', 'pc', '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', String(GUEST_MEMORY_MIB),
      '-display', 'none', '-monitor', 'none', '-no-reboot',
      '-kernel', o.kernel, '-initrd', o.initrd,
      '-append', `console=ttyS0 root=LABEL=posroot ro panic=-1 no_timer_check ${o.append ?? ''}`.trim(),
      '-drive', `file=${o.disk},format=raw,if=virtio,cache=writeback`,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${controlPort}-:${GUEST_CONTROL_RELAY_PORT}`, '-device', 'virtio-net-pci,netdev=n0',
      '-serial', `file:${consoleFile}`,
      ...uart('printer', o.printerSocket), ...uart('reader', o.readerSocket),
      '-chardev', `socket,id=agent,path=${agentSocket},server=on,wait=off`, '-serial', 'chardev:agent',
      ...(o.tpmSocket ? ['-chardev', `socket,id=chrtpm,path=${o.tpmSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0'] : []),
    ];
    const log = createWriteStream(join(o.runDir, 'qemu.log'));
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    killAtExit(qemu);
    qemu.stdout?.pipe(log, { end: false });
    qemu.stderr?.pipe(log, { end: false });
    try {
      const agent = await connectWhenListening(agentSocket, qemu);
      const g = new Guest(qemu, agent, controlPort, consoleFile, log);
      await g.waitLine((l) => l.includes('AGENT-READY'), AGENT_READY_MS_MAX, 'the guest agent');
      g.agentReadyMs = Date.now() - g.startedMs;
      return g;
    } catch (e) {
      // The test never gets this guest, so its afterEach cannot cut it: a guest left running takes
      // a core from every test after it (seen: five TCG guests spinning for an hour after a run).
      qemu.kill('SIGKILL');
      throw e;
    }
  }

  /** The console so far (kernel, initramfs, systemd). */
  console(): string {
    try { return readFileSync(this.consoleFile, 'utf8'); } catch { return ''; }
  }

  /** Runs a shell command in the guest as root; resolves with its exit code and output. */
  run(command: string, timeoutMs = AGENT_COMMAND_MS_MAX): Promise<AgentResult> {
    if (command.includes('\n')) return Promise.reject(new Error('agent commands are one line'));
    if (this.exitCode !== undefined) return Promise.reject(new Error(`QEMU has exited (${this.exitCode})`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`guest command timed out after ${timeoutMs} ms: ${command}`)); }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.agent.write(`${id} ${command}\n`);
    });
  }

  /** Runs a command that must succeed; returns its output. */
  async sh(command: string, timeoutMs?: number): Promise<string> {
    const r = await this.run(command, timeoutMs);
    if (r.code !== 0) throw new Error(`guest: "${command}" exited ${r.code}: ${r.out}`);
    return r.out;
  }

  /** Waits for a line on the agent channel (collected in `lines`) that matches. */
  async waitLine(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.lines.length; seen++) if (match(this.lines[seen])) return this.lines[seen];
      if (this.exitCode !== undefined) throw new Error(`QEMU exited (${this.exitCode}) while waiting for ${what}; console:\n${this.console().slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}; console:\n${this.console().slice(-3000)}`);
      await new Promise<void>((r) => { const t = setTimeout(r, 200); this.lineWaiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** Polls a guest command until it prints what `done` accepts. */
  async until(command: string, done: (out: string) => boolean, timeoutMs: number, pollMs = 1000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      last = (await this.run(command)).out;
      if (done(last)) return last;
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for "${command}"; last output: ${last}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** A power cut: SIGKILL to QEMU. What the guest had not flushed is gone. */
  async powerCut(): Promise<void> {
    this.qemu.kill('SIGKILL');
    await this.exited;
    this.agent.destroy();
  }

  /** Waits for QEMU to exit on its own (the guest powered off); the exit code. */
  async waitExit(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`QEMU still running after ${timeoutMs} ms; console:\n${this.console().slice(-2000)}`)), timeoutMs); });
    try { return await Promise.race([this.exited, timeout]); } finally { clearTimeout(timer); this.agent.destroy(); }
  }

  get running(): boolean { return this.exitCode === undefined; }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      const m = /^AGENT-DONE (\d+) (\d+) ?(\S*)$/.exec(line);
      const p = m ? this.pending.get(Number(m[1])) : undefined;
      if (m && p) {
        this.pending.delete(Number(m[1]));
        clearTimeout(p.timer);
        p.resolve({ code: Number(m[2]), out: Buffer.from(m[3], 'base64').toString('utf8') });
        continue;
      }
      this.lines.push(line);
      if (this.lines.length > AGENT_LINES_MAX) this.lines.shift();
    }
    const waiters = this.lineWaiters;
    this.lineWaiters = [];
    for (const w of waiters) w();
  }

  private failAll(e: Error): void {
    for (const [id, p] of this.pending) { clearTimeout(p.timer); p.reject(e); this.pending.delete(id); }
  }
}

/** QEMU creates the agent's socket once it has parsed its arguments; retry until then. */
async function connectWhenListening(path: string, qemu: ChildProcess): Promise<Socket> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (qemu.exitCode !== null) throw new Error(`QEMU exited (${qemu.exitCode}) before its agent socket was up`);
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path, () => { s.off('error', reject); resolve(s); });
        s.once('error', reject);
      });
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`QEMU's agent socket ${path}: ${String(e)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

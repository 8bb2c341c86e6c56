/**
 * The flashing station's boot step on the emulated board (board-configs/qemu-x86.json): QEMU
 * boots the flashed target with Debian's kernel and the small initramfs (scripts/guest/), the
 * factory self-test unit the station installed runs `pos factory test` once and powers the board
 * off (boot/factory-flash.ts FACTORY_SELFTEST_UNIT), and the station reads the report off the
 * data partition. A real board boots on the station's jig instead; this is its stand-in.
 *
 * Same machine as the guest tests' launcher (tests/guest/qemu.ts): TCG, one CPU, 256 MB, the disk
 * as virtio; here with no network, no agent and no UARTs: only the console, captured to a file,
 * and for a board whose device key a TPM seals, a TPM 2.0 (tpm-tis) backed by a swtpm (startSwtpm).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { PosError } from '../../common/errors';

export const QEMU_MEMORY_MIB = 256;
/** Kept from the console for the report when the boot fails. */
export const CONSOLE_TAIL_CHARS_MAX = 3_000;

export interface QemuBootOptions {
  readonly disk: string;
  readonly kernel: string;
  readonly initrd: string;
  /** Kernel command line additions. */
  readonly append: string;
  /** The console (ttyS0) is written here. */
  readonly consoleFile: string;
  /** The guest must have powered off by then; QEMU is killed. */
  readonly timeoutMs: number;
  /** The emulated board's TPM 2.0 (tpm-tis): a swtpm's control socket (startSwtpm); absent = no TPM. */
  readonly tpmSocket?: string;
}

export interface QemuBootResult {
  /** QEMU's exit code (0 when the guest powered off), or null when it was killed at the timeout. */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly ms: number;
  readonly consoleTail: string;
}

/** Boots `disk` until the guest powers off (QEMU runs with -no-reboot) or the time is up. */
export async function bootUntilPowerOff(o: QemuBootOptions): Promise<QemuBootResult> {
  const t0 = Date.now();
  const args = [
    '-machine', 'pc', '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', String(QEMU_MEMORY_MIB),
    '-display', 'none', '-monitor', 'none', '-no-reboot', '-nic', 'none',
    '-kernel', o.kernel, '-initrd', o.initrd,
    // no_timer_check: TCG on a loaded station can miss the IO-APIC timer check's ticks (a boot
    // panic, "IO-APIC + timer doesn't work!"), which says nothing about the emulated board.
    '-append', `console=ttyS0 root=LABEL=posroot ro panic=-1 no_timer_check ${o.append}`.trim(),
    '-drive', `file=${o.disk},format=raw,if=virtio,cache=writeback`,
    '-serial', `file:${o.consoleFile}`,
    ...(o.tpmSocket ? ['-chardev', `socket,id=chrtpm,path=${o.tpmSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0'] : []),
  ];
  closeSync(openSync(o.consoleFile, 'w'));
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr?.on('data', (c: Buffer) => { stderr = (stderr + c.toString('utf8')).slice(-CONSOLE_TAIL_CHARS_MAX); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; qemu.kill('SIGKILL'); }, o.timeoutMs);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    qemu.once('error', (e) => { clearTimeout(timer); reject(e); });
    qemu.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
  let consoleText = '';
  try { consoleText = readFileSync(o.consoleFile, 'utf8'); } catch { /* no console written: QEMU failed to start */ }
  return { exitCode: timedOut ? null : exitCode, timedOut, ms: Date.now() - t0, consoleTail: (consoleText + (stderr ? `\n[qemu] ${stderr}` : '')).slice(-CONSOLE_TAIL_CHARS_MAX) };
}

/** swtpm makes its control socket at once; one that has not by then did not start. */
const SWTPM_SOCKET_MS_MAX = 10_000;

/**
 * The emulated board's own TPM: Debian's swtpm on `stateDir` (the chip: its owner seed lives
 * there, so the same folder is the same chip at every boot) with its control channel on the unix
 * socket `socket`, for QEMU's emulator backend (tpmSocket). It exits when QEMU closes the socket
 * (--terminate); the caller kills it when QEMU never came.
 */
export async function startSwtpm(stateDir: string, socket: string): Promise<ChildProcess> {
  mkdirSync(stateDir, { recursive: true });
  rmSync(socket, { force: true });
  const child = spawn('swtpm', ['socket', '--tpm2', '--tpmstate', `dir=${stateDir}`, '--ctrl', `type=unixio,path=${socket}`, '--terminate'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.once('error', (e) => { stderr += String(e); });
  const deadline = Date.now() + SWTPM_SOCKET_MS_MAX;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || child.signalCode !== null || stderr.includes('ENOENT') || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new PosError('FLS_BOOT', `the emulated board's TPM (swtpm on ${stateDir}) did not start within ${SWTPM_SOCKET_MS_MAX} ms: ${stderr.trim() || 'no message'} (apt-get install swtpm)`, { stateDir });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

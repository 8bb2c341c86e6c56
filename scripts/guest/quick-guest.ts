/**
 * The quick guest: Debian 12's kernel under QEMU (TCG, 256 MB) with a busybox initramfs, for tests
 * of kernel drivers (gpio-sim, i2c-stub, the 8250 UARTs). Built by scripts/guest/quick-guest.sh;
 * the guest sees the host's root file system read-only over virtio-9p, so jobs run the host's
 * node on the repository's files at the same paths.
 *
 *   const guest = await QuickGuest.boot({ gpioLines: 16, i2cAddresses: [0x36], serialSocket });
 *   const r = await guest.run('node dist-guest/x.js');      // { stdout, stderr, code }
 *   await guest.shutdown();
 *
 * Jobs are shell scripts run by the guest's /init, chrooted into the host root, with these
 * variables: QG_GPIO_CHIP (gpiochipN), QG_GPIO_SYSFS (the chip's sysfs folder with sim_gpioN/),
 * QG_I2C_BUS (the i2c-stub adapter's number), QG_BUSYBOX (busybox: i2cset, i2cget, stty). The guest has its own /tmp (tmpfs); the repository
 * is read-only there. Several jobs may run at once (each in the background in the guest).
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const REPO = path.resolve(__dirname, '../..');
/** Boot to the first job's readiness; TCG on a busy 2-core machine has been seen near 15 s. */
export const BOOT_TIMEOUT_MS_MAX = 120_000;
/** Default limit of one job. */
export const JOB_TIMEOUT_MS_DEFAULT = 120_000;
/** How often the host looks for a job's result file (the share is a plain host folder). */
const RESULT_POLL_MS = 50;
/** After asking the guest to power off, QEMU is killed if still running after this. */
const SHUTDOWN_TIMEOUT_MS = 15_000;
/** Console output kept for error messages. */
const CONSOLE_CHARS_MAX = 8000;

export interface QuickGuestOptions {
  /** Make a gpio-sim chip with this many lines (QG_GPIO_CHIP / QG_GPIO_SYSFS in jobs). */
  readonly gpioLines?: number;
  /** Load mac80211_hwsim with this many radios (wlan0.., QG_WIFI in jobs). */
  readonly wifiRadios?: number;
  /** Load i2c-stub with these chip addresses (QG_I2C_BUS in jobs). */
  readonly i2cAddresses?: readonly number[];
  /** Wire the guest's ttyS1 to a Unix socket QEMU listens on at this path. */
  readonly serialSocket?: string;
  /** A TPM 2.0 on the guest's TIS interface (/dev/tpm0, /dev/tpmrm0), backed by a host swtpm's control socket (`--ctrl type=unixio,path=...`). */
  readonly tpmSocket?: string;
  readonly memoryMb?: number;
  readonly bootTimeoutMs?: number;
}

export interface JobResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Builds (or finds cached) the kernel and initramfs; returns their paths. */
export async function prepareQuickGuest(): Promise<{ kernel: string; initrd: string }> {
  const { stdout } = await promisify(execFile)(path.join(REPO, 'scripts/guest/quick-guest.sh'), { maxBuffer: 1 << 20 });
  const [kernel, initrd] = stdout.trim().split('\n');
  if (!kernel || !initrd) throw new Error(`quick-guest.sh printed "${stdout.slice(0, 200)}"`);
  return { kernel, initrd };
}

/** True when this machine has what the quick guest needs (QEMU, apt for Debian's packages). */
export async function quickGuestToolsMissing(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of ['qemu-system-x86_64', 'apt-get', 'dpkg', 'make', 'gcc-12', 'flock']) {
    try {
      await promisify(execFile)('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  return missing;
}

/** In a mocha `before`: skips loudly without the quick guest's tools, fails under POS_REQUIRE_TOOLS=1. */
export async function needQuickGuest(ctx: Mocha.Context): Promise<void> {
  const missing = await quickGuestToolsMissing();
  if (missing.length === 0) return;
  const msg = `quick guest needs ${missing.join(', ')}`;
  if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(msg);
  console.warn(`SKIPPED: ${msg}`);
  ctx.skip();
}

/**
 * A fresh folder for a guest's compiled JS, inside the repository (node_modules must resolve from
 * it) under .cache/, which a fresh clone does not have until some step makes it.
 */
export function guestJsDir(): string {
  mkdirSync(path.join(REPO, '.cache'), { recursive: true });
  return mkdtempSync(path.join(REPO, '.cache', 'guest-js-'));
}

/**
 * Transpiles TypeScript entry files and every project file they import (relative imports) to
 * CommonJS under `outDir`, keeping the repository's layout, so that the guest runs plain JS (node
 * under TCG starts in seconds; ts-node and the compiler would take far longer). No type check:
 * `npm run typecheck` does that. outDir must be inside the repository for node_modules to resolve.
 */
export async function compileForGuest(entries: readonly string[], outDir: string): Promise<void> {
  // Loaded lazily: only the host side of guest tests needs the compiler.
  const ts = await import('typescript');
  const todo = entries.map((e) => path.resolve(REPO, e));
  const done = new Set<string>();
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (done.has(file)) continue;
    done.add(file);
    const source = await fs.readFile(file, 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
      fileName: file,
    }).outputText;
    const target = path.join(outDir, path.relative(REPO, file)).replace(/\.ts$/, '.js');
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, js);
    for (const m of source.matchAll(/(?:from|import|require\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const base = path.resolve(path.dirname(file), m[1]);
      for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
        if (await fs.access(candidate).then(() => true, () => false)) { todo.push(candidate); break; }
      }
    }
  }
}

export class QuickGuest {
  private nextJob = 1;
  private console = '';
  private exited = false;
  private readonly exitedPromise: Promise<void>;

  private constructor(private readonly qemu: ChildProcess, readonly shareDir: string) {
    qemu.stdout?.on('data', (d: Buffer) => this.keepConsole(d));
    qemu.stderr?.on('data', (d: Buffer) => this.keepConsole(d));
    this.exitedPromise = new Promise((resolve) => qemu.once('exit', () => { this.exited = true; resolve(); }));
  }

  /** Boots the guest and resolves once it takes jobs. */
  static async boot(options: QuickGuestOptions = {}): Promise<QuickGuest> {
    const { kernel, initrd } = await prepareQuickGuest();
    const shareDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quick-guest-'));
    // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can miss its
    // ticks and panic ("IO-APIC + timer doesn't work!", seen once at load 15); the check proves
    // nothing about an emulated board's timer.
    const append = ['console=ttyS0', 'quiet', 'panic=-1', 'no_timer_check'];
    if (options.gpioLines) append.push(`qg.gpio=${options.gpioLines}`);
    if (options.wifiRadios) append.push(`qg.wifi=${options.wifiRadios}`);
    if (options.i2cAddresses?.length) append.push(`qg.i2c=${options.i2cAddresses.map((a) => `0x${a.toString(16)}`).join(',')}`);
    // The guest mounts tmpfs on /tmp and /run: a repository there (a CI clone in /tmp) is shared
    // again on its own and mounted back at its path, so jobs find the compiled JS and node_modules.
    const hidden = /^\/(tmp|run)\//.test(REPO + '/');
    if (hidden) append.push(`qg.repo=${REPO}`);
    const args = [
      '-m', String(options.memoryMb ?? 256), '-accel', 'tcg', '-display', 'none', '-monitor', 'none', '-no-reboot',
      // ttyS0, the console, on QEMU's stdout. Named explicitly: with -nographic a later -serial
      // would take ttyS0's place and ttyS1 would not exist (EIO on open).
      '-serial', 'stdio', '-nic', 'none',
      '-kernel', kernel, '-initrd', initrd, '-append', append.join(' '),
      '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
      '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
      '-fsdev', `local,id=share,path=${shareDir},security_model=none`,
      '-device', 'virtio-9p-pci,fsdev=share,mount_tag=share',
      ...(hidden ? ['-fsdev', `local,id=repo,path=${REPO},security_model=none,readonly=on,multidevs=remap`, '-device', 'virtio-9p-pci,fsdev=repo,mount_tag=repo'] : []),
    ];
    if (options.serialSocket) {
      args.push('-chardev', `socket,id=ttyS1,path=${options.serialSocket},server=on,wait=off`, '-serial', 'chardev:ttyS1');
    }
    if (options.tpmSocket) {
      args.push('-chardev', `socket,id=chrtpm,path=${options.tpmSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0');
    }
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const guest = new QuickGuest(qemu, shareDir);
    try {
      await guest.waitFor(path.join(shareDir, 'ready'), options.bootTimeoutMs ?? BOOT_TIMEOUT_MS_MAX, 'boot');
    } catch (e) {
      await guest.shutdown();
      throw e;
    }
    return guest;
  }

  /** The variables jobs see (QG_GPIO_CHIP, QG_GPIO_SYSFS, QG_I2C_BUS). */
  async env(): Promise<Record<string, string>> {
    const text = await fs.readFile(path.join(this.shareDir, 'guest.env'), 'utf8');
    return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  /** Runs a shell script in the guest; resolves with its output and exit code (never rejects on a non-zero code). */
  async run(script: string, timeoutMs = JOB_TIMEOUT_MS_DEFAULT): Promise<JobResult> {
    const n = this.nextJob++;
    const jobs = path.join(this.shareDir, 'jobs');
    await fs.writeFile(path.join(jobs, `${n}.tmp`), script);
    await fs.rename(path.join(jobs, `${n}.tmp`), path.join(jobs, `${n}.sh`));
    const out = path.join(this.shareDir, 'out');
    await this.waitFor(path.join(out, `${n}.rc`), timeoutMs, `job ${n}`);
    const [stdout, stderr, rc] = await Promise.all(['out', 'err', 'rc'].map((x) => fs.readFile(path.join(out, `${n}.${x}`), 'utf8')));
    return { stdout, stderr, code: Number(rc.trim()) };
  }

  /** Runs `node <file> <args>` in the guest (the host's node, the same paths). */
  runNode(file: string, args: readonly string[] = [], timeoutMs?: number): Promise<JobResult> {
    const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    return this.run(`exec ${quote(process.execPath)} ${[file, ...args].map(quote).join(' ')}\n`, timeoutMs);
  }

  /** The guest's console so far (kernel messages, /init's complaints). */
  consoleText(): string {
    return this.console;
  }

  /** Powers the guest off (killing QEMU if it hangs) and removes the share. Idempotent. */
  async shutdown(): Promise<void> {
    if (!this.exited) {
      await fs.writeFile(path.join(this.shareDir, 'poweroff'), '').catch(() => undefined);
      const timer = setTimeout(() => this.qemu.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS);
      await this.exitedPromise;
      clearTimeout(timer);
    }
    await fs.rm(this.shareDir, { recursive: true, force: true });
  }

  private keepConsole(d: Buffer): void {
    this.console = (this.console + d.toString()).slice(-CONSOLE_CHARS_MAX);
  }

  private async waitFor(file: string, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await fs.access(file).then(() => true, () => false)) return;
      if (this.exited) throw new Error(`quick guest: QEMU exited during ${what}:\n${this.console}`);
      if (Date.now() > deadline) throw new Error(`quick guest: ${what} not done after ${timeoutMs} ms:\n${this.console}`);
      await new Promise((r) => setTimeout(r, RESULT_POLL_MS));
    }
  }
}

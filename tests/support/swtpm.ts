/**
 * A software TPM 2.0 for tests (Debian's swtpm): `swtpm socket --tpm2` on loopback with a free
 * port pair (commands on P, control on P+1, as tpm2-tools' swtpm TCTI expects) and its own state
 * folder. The state folder IS the TPM: its owner seed lives there, so a second folder is a second
 * chip, and starting again on the same folder is the same chip after a power cycle.
 *
 * Without swtpm or tpm2-tools, `needSwtpm` skips loudly, or fails under POS_REQUIRE_TOOLS=1
 * (.ci/run installs both), as tests/support/tools.ts does for socat.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { hasTool } from './tools';
import { freePort, portOpen } from './mosquitto';
import { removeDir, tempDir } from '../../storage/testing';

/** The tools the TPM provider runs, and the emulator. */
export const TPM_TOOLS = ['swtpm', 'tpm2_createprimary', 'tpm2_create', 'tpm2_load', 'tpm2_unseal', 'tpm2_flushcontext', 'tpm2_getrandom'] as const;
/** An emulator not listening by then is a failure (named). */
const SWTPM_START_MS_MAX = 10_000;
const SWTPM_STOP_MS_MAX = 5_000;
/** Port pairs tried before giving up (another process may take P+1 between the check and the start). */
const PORT_PAIR_TRIES_MAX = 20;

export function swtpmMissing(): string | undefined {
  const missing = TPM_TOOLS.filter((t) => !hasTool(t));
  return missing.length ? `${missing.join(', ')} not installed: the TPM device-key tests cannot run (apt-get install swtpm swtpm-tools tpm2-tools); .ci/run installs them` : undefined;
}

/** In a mocha `before`: skip loudly without the tools, fail under POS_REQUIRE_TOOLS=1. */
export function needSwtpm(ctx: Mocha.Context): void {
  const message = swtpmMissing();
  if (message === undefined) return;
  if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  ctx.skip();
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freePortPair(): Promise<number> {
  for (let i = 0; i < PORT_PAIR_TRIES_MAX; i++) {
    const p = await freePort();
    if (p < 65535 && (await listenable(p + 1))) return p;
  }
  throw new Error(`no free port pair on 127.0.0.1 after ${PORT_PAIR_TRIES_MAX} tries`);
}

export class Swtpm {
  private exited: Promise<void>;

  private constructor(private readonly child: ChildProcess, readonly port: number, readonly stateDir: string, private readonly stderr: string[]) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** tpm2-tools' TCTI for this emulator. */
  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  /** Starts an emulator on `stateDir` (created if absent): a new chip, or the same one again. */
  static async start(stateDir: string): Promise<Swtpm> {
    mkdirSync(stateDir, { recursive: true });
    const port = await freePortPair();
    const child = spawn('swtpm', [
      'socket', '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--tpmstate', `dir=${stateDir}`, '--flags', 'not-need-init,startup-clear',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: string[] = [];
    child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString('utf8')));
    const t = new Swtpm(child, port, stateDir, stderr);
    const until = Date.now() + SWTPM_START_MS_MAX;
    while (!(await portOpen(port))) {
      if (child.exitCode !== null || Date.now() > until) {
        await t.stop();
        throw new Error(`swtpm did not listen on 127.0.0.1:${port} within ${SWTPM_START_MS_MAX} ms: ${stderr.join('')}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return t;
  }

  /** Stops this emulator (its own process only); its state stays in stateDir. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), SWTPM_STOP_MS_MAX);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Two software TPMs (A and B, two different chips) for a mocha suite, in a temp folder of their
 * own: started before the suite (skipped loudly, or failed under POS_REQUIRE_TOOLS, without
 * swtpm), stopped after it. `start(name)` starts another one that is also stopped after the
 * suite, even when the test that started it failed before stopping it.
 */
export function tpmsForSuite(prefix: string): { readonly root: () => string; readonly a: () => Swtpm; readonly b: () => Swtpm; start(name: string): Promise<Swtpm> } {
  let root = '';
  let a: Swtpm | undefined;
  let b: Swtpm | undefined;
  const extra: Swtpm[] = [];
  before(async function () {
    needSwtpm(this);
    root = tempDir(prefix);
    a = await Swtpm.start(join(root, 'tpm-a'));
    b = await Swtpm.start(join(root, 'tpm-b'));
  });
  after(async () => {
    for (const t of extra) await t.stop();
    await a?.stop();
    await b?.stop();
    if (root) removeDir(root);
  });
  const need = (t: Swtpm | undefined): Swtpm => t ?? assert.fail('TPM not started (the suite\'s before hook failed)');
  return {
    root: () => root,
    a: () => need(a),
    b: () => need(b),
    start: async (name) => { const t = await Swtpm.start(join(root, name)); extra.push(t); return t; },
  };
}

/** A swtpm for QEMU's TPM emulator backend: the flashing station's (boot/flash/qemu-boot.ts startSwtpm). */
export { startSwtpm as swtpmForQemu } from '../../boot/flash/qemu-boot';

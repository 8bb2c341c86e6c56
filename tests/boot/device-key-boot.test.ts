/**
 * Issue 15 item 6 through the terminal application (boot/terminal-app.ts, in-process, simulator
 * board hardware): the board file's device key provider decides whether a boot opens the journal.
 * A board sealing its key in TPM A boots to the login screen and again after; its data folder
 * copied beside TPM B stops in recovery with E-KEY-07 and is not changed (and still boots on A);
 * a stopped TPM is E-KEY-05; a real board whose board file does not allow the plain key file
 * stops in recovery with E-KEY-04. Each reason is on the recovery screen.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { createSimBoard } from '../../sim/board-sim';
import { silentLogger } from '../../common/log';
import { removeDir, tempDir } from '../../storage/testing';
import { TPM_SEALED_FILE } from '../../runtime/device-key-tpm';
import { DEVICE_KEY_FILE } from '../../runtime/device-key-provider';
import { Swtpm, tpmsForSuite } from '../support/swtpm';

const STATE_WAIT_MS_MAX = 120_000;
const BOARD_DIR = join(__dirname, '..', '..', 'board-configs');

/** A copy of a shipped board file with its deviceKey section replaced (undefined: removed). */
function boardFile(dir: string, base: string, deviceKey: unknown): string {
  const raw = JSON.parse(readFileSync(join(BOARD_DIR, `${base}.json`), 'utf8')) as Record<string, unknown>;
  delete raw.deviceKey;
  const file = join(dir, `${base}-${createHash('sha256').update(JSON.stringify(deviceKey ?? null)).digest('hex').slice(0, 8)}.json`);
  writeFileSync(file, JSON.stringify(deviceKey === undefined ? raw : { ...raw, deviceKey }, null, 2));
  return file;
}

/** Boots the app on `board` over the terminal folder `root` until `done`; returns the snapshot it stopped at. */
async function bootUntil(board: string, root: string, done: (s: ProbeSnapshot) => boolean): Promise<ProbeSnapshot> {
  const sim = await createSimBoard({ board });
  const app = TerminalApp.create({
    board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: 9 },
    logger: silentLogger, scryptN: 1024, backgroundVerifyDelayMs: STATE_WAIT_MS_MAX,
  });
  const seen: string[] = [];
  try {
    const reached = new Promise<ProbeSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not reached; states seen: ${seen.join(' ')}`)), STATE_WAIT_MS_MAX);
      const stop = app.probe.onChange((raw) => {
        const s = raw as ProbeSnapshot;
        if (seen[seen.length - 1] !== s.state) seen.push(s.state);
        if (done(s)) { clearTimeout(timer); stop(); resolve(s); }
      });
    });
    await app.boot();
    return await reached;
  } finally {
    await app.stop();
    await sim.close();
  }
}

const atLogin = (s: ProbeSnapshot): boolean => s.state === 'login';
const inRecoveryWithError = (s: ProbeSnapshot): boolean => s.state.startsWith('recovery') && s.data.error !== undefined;

/** Every file under `dir` with its bytes' digest: "loses nothing" is "changes nothing". */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p.slice(dir.length)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function assertRecovery(s: ProbeSnapshot, code: string): void {
  assert.ok(s.state.startsWith('recovery'), s.state);
  assert.equal(s.data.error?.code, code, JSON.stringify(s.data.error));
  assert.ok(s.screen.text.join(' ').includes(code), `the recovery screen shows ${code}: ${s.screen.text.join(' | ')}`);
}

describe('terminal boot with the device key the board file chooses', function () {
  this.timeout(300_000);
  const tpms = tpmsForSuite('pos-devkey-boot-');
  let root: string;
  let a: Swtpm;
  let b: Swtpm;
  before(() => { root = tpms.root(); a = tpms.a(); b = tpms.b(); });

  it('bootsUnderTpmAThenTheCopiedDataUnderTpmBStopsInRecoveryWithEKey07AndLosesNothing', async () => {
    const terminal = join(root, 'terminal');
    const boardA = boardFile(root, 'sim', { provider: 'tpm2', tcti: a.tcti });
    // First boot of a simulator board provisions itself: the key sealed by TPM A, the journal created under it.
    let s = await bootUntil(boardA, terminal, atLogin);
    assert.ok(existsSync(join(terminal, TPM_SEALED_FILE)), 'sealed key beside the journal');
    assert.equal(existsSync(join(terminal, DEVICE_KEY_FILE)), false, 'no plain key file');
    // Second boot: the key unsealed by A opens the journal (its device-key check matches).
    s = await bootUntil(boardA, terminal, atLogin);
    assert.equal(s.state, 'login');
    // The data partition copied to another board, with TPM B.
    const copied = join(root, 'copied');
    cpSync(terminal, copied, { recursive: true });
    const before = tree(copied);
    s = await bootUntil(boardFile(root, 'sim', { provider: 'tpm2', tcti: b.tcti }), copied, inRecoveryWithError);
    assertRecovery(s, 'E-KEY-07');
    assert.deepEqual(tree(copied), before, 'nothing in the copied folder changed: no journal opened, no key made');
    // Back on its own TPM the copy boots: nothing was lost.
    s = await bootUntil(boardA, copied, atLogin);
    assert.equal(s.state, 'login');
  });

  it('aStoppedTpmStopsTheBootInRecoveryWithEKey05', async () => {
    const terminal = join(root, 'terminal-c');
    const c = await tpms.start('tpm-c');
    const board = boardFile(root, 'sim', { provider: 'tpm2', tcti: c.tcti });
    await bootUntil(board, terminal, atLogin);
    await c.stop();
    const before = tree(terminal);
    const s = await bootUntil(board, terminal, inRecoveryWithError);
    assertRecovery(s, 'E-KEY-05');
    assert.deepEqual(tree(terminal), before);
  });

  it('aRealBoardWhoseBoardFileDoesNotAllowThePlainKeyFileStopsInRecoveryWithEKey04', async () => {
    for (const deviceKey of [undefined, { provider: 'file' }]) {
      const terminal = join(root, `real-${deviceKey ? 'file' : 'none'}`);
      const s = await bootUntil(boardFile(root, 'rpi-dev', deviceKey), terminal, inRecoveryWithError);
      assertRecovery(s, 'E-KEY-04');
      assert.equal(existsSync(join(terminal, DEVICE_KEY_FILE)), false, 'no key file made');
      assert.equal(existsSync(join(terminal, 'journal', 'data.mdb')), false, 'no journal created');
    }
  });
});

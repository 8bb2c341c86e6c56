/**
 * The boot checkpoint through the terminal application (boot/terminal-app.ts on the simulator
 * board, in-process): a boot writes the checkpoint, the next boot opens on it and reaches the login
 * screen without verifying the records before it, and damage there is found by the background
 * verify, which sends the terminal through boot again into recovery naming the damaged record:
 * the outcome a boot without checkpoints had (issue 14 goal 2).
 */
import { strict as assert } from 'node:assert';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { createSimBoard } from '../../sim/board-sim';
import { silentLogger } from '../../common/log';
import { flipByte, removeDir, tempDir } from '../../storage/testing';
import { Journal } from '../../storage/journal';
import { CHECKPOINT_FILE } from '../../storage/checkpoint';
import { SIM_IDENTITY } from '../../boot/sim-provision';

const STATE_WAIT_MS_MAX = 120_000;

async function bootUntil(root: string, done: (s: ProbeSnapshot) => boolean, backgroundVerifyDelayMs = STATE_WAIT_MS_MAX, watch?: (s: ProbeSnapshot, app: TerminalApp) => void, inUseAfterKeyMs?: number): Promise<{ app: TerminalApp; close: () => Promise<void>; seen: string[]; last: ProbeSnapshot }> {
  const sim = await createSimBoard();
  const app = TerminalApp.create({
    board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: 9 },
    logger: silentLogger, scryptN: 1024, backgroundVerifyDelayMs, ...(inUseAfterKeyMs !== undefined ? { inUseAfterKeyMs } : {}),
  });
  const seen: string[] = [];
  const reached = new Promise<ProbeSnapshot>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not reached; states seen: ${seen.join(' ')}`)), STATE_WAIT_MS_MAX);
    const stop = app.probe.onChange((raw) => {
      const s = raw as ProbeSnapshot;
      if (seen[seen.length - 1] !== s.state) seen.push(s.state);
      watch?.(s, app);
      if (done(s)) { clearTimeout(timer); stop(); resolve(s); }
    });
  });
  const before = checkpointMtimeMs(root);
  await app.boot();
  const last = await reached;
  // The checkpoint is written just after the first operator screen: let it be written.
  if (last.state === 'login') await waitFor(() => checkpointMtimeMs(root) !== before);
  return { app, seen, last, close: async () => { await app.stop(); await sim.close(); } };
}

function checkpointMtimeMs(root: string): number {
  try { return statSync(join(root, 'journal', CHECKPOINT_FILE)).mtimeMs; } catch { return 0; }
}

async function waitFor(done: () => boolean): Promise<void> {
  const until = Date.now() + STATE_WAIT_MS_MAX;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

const atLogin = (s: ProbeSnapshot): boolean => s.state === 'login';
/**
 * How long a key keeps the terminal in use in the quiet test (TerminalApp's inUseAfterKeyMs, tests
 * only; IN_USE_AFTER_KEY_MS, 5 s, on a terminal): the test types past it and then waits it out in
 * real time, 11 s with the terminal's own.
 */
const TEST_IN_USE_AFTER_KEY_MS = 1_500;
/** A key every KEY_EVERY_MS at the login screen for TYPING_MS: keys five to the window, typing past one window (as 1 s and 6 s did for 5 s). */
const KEY_EVERY_MS = TEST_IN_USE_AFTER_KEY_MS / 5;
const TYPING_MS = TEST_IN_USE_AFTER_KEY_MS * 1.2;

describe('terminal: boot on the journal checkpoint', function () {
  this.timeout(300_000);
  let root: string;
  before(() => { root = tempDir('ckpt-app-'); });
  after(() => removeDir(root));

  /** A checkpointed journal with a damaged record the checkpoint covers; returns the record's seq. */
  async function damageBeforeTheCheckpoint(root: string): Promise<number> {
    // First boot: the journal is created with its identity, the operators written, the checkpoint written.
    let b = await bootUntil(root, atLogin);
    await b.close();
    const dir = join(root, 'journal');
    assert.ok(existsSync(join(dir, CHECKPOINT_FILE)), 'the first boot wrote a checkpoint');
    // A day of records, then a boot that moves the checkpoint past them.
    const j = await Journal.open({ dir, identity: SIM_IDENTITY });
    for (let i = 0; i < 30; i++) await j.append('test', { i, note: 'a day of records' });
    const damagedSeq = j.lastSeq - 10;
    await j.close();
    b = await bootUntil(root, atLogin);
    await b.close();
    // Rot in a record the checkpoint now covers.
    await flipByte(dir, damagedSeq, 70);
    return damagedSeq;
  }

  it('aDamagedRecordBeforeTheCheckpointIsFoundInTheBackgroundAndTheTerminalBootsAgainIntoRecovery', async () => {
    const damagedSeq = await damageBeforeTheCheckpoint(root);
    const dir = join(root, 'journal');
    let b = await bootUntil(root, (s) => s.state.startsWith('recovery') && s.data.error !== undefined, 0);
    try {
      assert.ok(b.seen.includes('login'), `the boot itself reached the login screen (it did not read record ${damagedSeq}): ${b.seen.join(' ')}`);
      assert.equal(b.last.data.error?.code, 'E-STO-05', JSON.stringify(b.last.data.error));
      assert.equal(b.last.data.error?.detail.seq, damagedSeq, `recovery names the damaged record: ${JSON.stringify(b.last.data.error)} ${b.seen.join(' ')}`);
      assert.ok(!existsSync(join(dir, CHECKPOINT_FILE)), 'the checkpoint was withdrawn');
    } finally {
      await b.close();
    }
    // And every boot after it stops in recovery at once.
    b = await bootUntil(root, (s) => s.state.startsWith('recovery') && s.data.error !== undefined);
    try {
      assert.ok(!b.seen.includes('login'), `no login before recovery: ${b.seen.join(' ')}`);
      assert.equal(b.last.data.error?.detail.seq, damagedSeq);
    } finally {
      await b.close();
    }
  });

  it('theBackgroundVerifyWaitsWhileSomeoneTypesAndRunsOnceTheTerminalIsQuiet', async () => {
    const other = tempDir('ckpt-app-quiet-');
    try {
      const damagedSeq = await damageBeforeTheCheckpoint(other);
      // Due at once (delay 0), but a key every KEY_EVERY_MS at the login screen for TYPING_MS keeps the terminal in use.
      let typing: NodeJS.Timeout | undefined;
      let typedUntilMs = 0;
      let recoveredAtMs = 0;
      const b = await bootUntil(other, (s) => {
        if (s.state.startsWith('recovery') && s.data.error !== undefined) { recoveredAtMs = performance.now(); return true; }
        return false;
      }, 0, (s, app) => {
        if (s.state !== 'login' || typing !== undefined) return;
        const until = performance.now() + TYPING_MS;
        app.press('CLEAR');
        typing = setInterval(() => {
          if (performance.now() >= until) { clearInterval(typing); return; }
          typedUntilMs = performance.now();
          app.press('CLEAR');
        }, KEY_EVERY_MS);
      }, TEST_IN_USE_AFTER_KEY_MS);
      clearInterval(typing);
      try {
        assert.equal(b.last.data.error?.detail.seq, damagedSeq, JSON.stringify(b.last.data.error));
        assert.ok(typedUntilMs > 0, 'the keys were typed');
        assert.ok(recoveredAtMs - typedUntilMs >= TEST_IN_USE_AFTER_KEY_MS, `the verify ran ${(recoveredAtMs - typedUntilMs).toFixed(0)} ms after the last key: not before the terminal was quiet ${TEST_IN_USE_AFTER_KEY_MS} ms`);
      } finally {
        await b.close();
      }
    } finally {
      removeDir(other);
    }
  });
});

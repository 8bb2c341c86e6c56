/**
 * The journal folder's terminal lock (boot/terminal-lock.ts): a live terminal's lock refuses a
 * second one with E-STO-13 naming it; a killed one's, one from another boot or another host name
 * (the terminal's, changed at provisioning), and this process's own earlier one are taken.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../storage/testing';
import { isPosError } from '../common/errors';
import { silentLogger } from '../common/log';
import { TERMINAL_LOCK_FILE, acquireTerminalLock } from './terminal-lock';
import { bootId, currentOwner, parseOwner, processStartTicks } from './registry-lock';

const WAIT_MS = 150;

function sleeper(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('boot/terminal-lock: one terminal per journal', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => { dir = tempDir('posterm-lock-'); });
  afterEach(async () => {
    if (child) await stopped(child);
    child = undefined;
    removeDir(dir);
  });

  const lockFile = (): string => join(dir, TERMINAL_LOCK_FILE);
  const writeLock = (o: Record<string, unknown>): void => writeFileSync(lockFile(), JSON.stringify(o) + '\n');

  it('aLiveTerminalsLockRefusesASecondWithStoInUseNamingIt', async () => {
    child = sleeper();
    await new Promise((r) => setTimeout(r, 50));
    const pid = child.pid!;
    writeLock({ pid, bootId: bootId(), startTicks: processStartTicks(pid), hostname: currentOwner().hostname });
    await assert.rejects(acquireTerminalLock(dir, silentLogger, WAIT_MS), (e: unknown) => {
      assert.ok(isPosError(e, 'journal-in-use'), String(e));
      assert.equal(e.code, 'E-STO-13');
      assert.match(e.message, new RegExp(`terminal process ${pid}`));
      assert.match(e.message, /终端进程/);
      return true;
    });
    assert.equal(parseOwner(readFileSync(lockFile(), 'utf8'))?.pid, pid, 'the live holder keeps its lock');
    await stopped(child);
    const release = await acquireTerminalLock(dir, silentLogger, WAIT_MS);
    assert.equal(parseOwner(readFileSync(lockFile(), 'utf8'))?.pid, process.pid, 'a killed holder\'s lock is taken');
    release();
    assert.equal(existsSync(lockFile()), false, 'released');
  });

  it('aLockFromAnotherBootOrAnotherHostNameIsStale', async () => {
    child = sleeper();
    await new Promise((r) => setTimeout(r, 50));
    const pid = child.pid!;
    // The PID is alive: only the boot id says the owner is gone (a power cut, then a reboot).
    writeLock({ pid, bootId: 'another-boot', startTicks: processStartTicks(pid), hostname: currentOwner().hostname });
    (await acquireTerminalLock(dir, silentLogger, WAIT_MS))();
    // A killed owner under the host name the terminal had before provisioning renamed it.
    const gone = sleeper();
    const gonePid = gone.pid!;
    await stopped(gone);
    writeLock({ pid: gonePid, bootId: bootId(), startTicks: '1', hostname: 'before-provisioning' });
    (await acquireTerminalLock(dir, silentLogger, WAIT_MS))();
    // This process's PID, started at another time: the PID's earlier owner (a small board's boot
    // hands out the same PIDs every time).
    writeLock({ pid: process.pid, bootId: '', startTicks: '1', hostname: currentOwner().hostname });
    (await acquireTerminalLock(dir, silentLogger, WAIT_MS))();
  });

  it('aLockFileTornByAPowerCutEmptyOrGarbledIsTakenNotSpunOn', async () => {
    // After a real power cut the link reached the disk and the bytes did not (the guest's power-cut
    // test: the terminal spun at boot, reading '' as "released", and never became active).
    for (const torn of ['', '\0\0\0\0', '{"pid":12']) {
      writeFileSync(lockFile(), torn);
      const release = await acquireTerminalLock(dir, silentLogger, WAIT_MS);
      assert.equal(parseOwner(readFileSync(lockFile(), 'utf8'))?.pid, process.pid, `${JSON.stringify(torn)}: taken`);
      release();
    }
  });

  it('aLockThatIsNotAFileASymlinkLoopAFolderADanglingLinkIsNobodysAndIsTakenNotBlamedOnAnotherTerminal', async () => {
    const makers: Array<[string, () => void]> = [
      ['symlink loop', () => symlinkSync(TERMINAL_LOCK_FILE, lockFile())],
      ['folder', () => { mkdirSync(lockFile()); writeFileSync(join(lockFile(), 'x'), 'y'); }],
      ['dangling link', () => symlinkSync(join(dir, 'nowhere'), lockFile())],
    ];
    for (const [name, make] of makers) {
      make();
      const release = await acquireTerminalLock(dir, silentLogger, WAIT_MS);
      const st = lstatSync(lockFile());
      assert.ok(st.isFile(), `${name}: the lock is now this terminal's file`);
      assert.equal(parseOwner(readFileSync(lockFile(), 'utf8'))?.pid, process.pid, name);
      release();
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.stale.')), [], `${name}: nothing left aside`);
    }
  });

  it('thisProcesssOwnEarlierLockIsTakenOverAndAStaleReleaseDoesNotRemoveANewOwnersLock', async () => {
    const first = await acquireTerminalLock(dir, silentLogger, WAIT_MS);
    // A terminal of this process that never stopped (a test's simulated cut) does not lock out the next.
    const second = await acquireTerminalLock(dir, silentLogger, WAIT_MS);
    child = sleeper();
    await new Promise((r) => setTimeout(r, 50));
    const pid = child.pid!;
    const other = { pid, bootId: bootId(), startTicks: processStartTicks(pid), hostname: currentOwner().hostname };
    writeLock(other);
    first();
    second();
    assert.deepEqual(parseOwner(readFileSync(lockFile(), 'utf8')), other, 'a release removes the lock only while it is still this owner\'s');
  });
});

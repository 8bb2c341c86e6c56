/**
 * Who else has a journal open (storage/holders.ts), and the shell commands that refuse to replace
 * or rewrite a journal under them: an import beside a running terminal had gone through, leaving
 * the terminal writing into the journal moved aside.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isPosError } from '../common/errors';
import { main as pos } from '../boot/pos';
import { Journal } from './journal';
import { journalHolders, refuseWhileHeld } from './holders';
import { removeDir, tempDir } from './testing';

/** Another process that opens `file` read-only and holds it until killed. */
async function holder(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `require('node:fs').openSync(${JSON.stringify(file)}, 'r'); console.log('ready'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe('storage/holders: a journal another process has open', function () {
  this.timeout(30_000);
  let root = '';
  let dir = '';
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    root = tempDir('holders-');
    dir = join(root, 'journal');
    const j = await Journal.open({ dir, identity: 'HOLD-1' });
    await j.close();
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await stop(c);
    removeDir(root);
  });

  it('anotherProcessHoldingItsDataFileIsNamedAndRefusedUntilItExits', async () => {
    for (const file of ['data.mdb', 'journal.wal']) {
      const c = await holder(join(dir, file));
      children.push(c);
      const holders = journalHolders(dir);
      assert.deepEqual(holders.map((h) => h.pid), [c.pid], file);
      assert.equal(holders[0].command, 'node');
      assert.throws(() => refuseWhileHeld(dir, 'test'), (e: unknown) => isPosError(e, 'journal-in-use') && e.code === 'E-STO-13' && e.message.includes(`PID ${c.pid}`));
      await stop(c);
      assert.deepEqual(journalHolders(dir), [], `${file}: after the holder exited`);
      refuseWhileHeld(dir, 'test');
    }
  });

  it('thisProcessOwnOpenJournalIsNotAHolder', async () => {
    const j = await Journal.open({ dir, identity: 'HOLD-1' });
    try {
      assert.deepEqual(journalHolders(dir), []);
    } finally { await j.close(); }
  });

  it('aFolderWithoutJournalFilesOrNoFolderHasNoHolders', () => {
    assert.deepEqual(journalHolders(join(root, 'missing')), []);
    assert.deepEqual(journalHolders(root), []);
    assert.deepEqual(journalHolders(dir, join(root, 'no-proc')), [], 'an unreadable /proc: nothing seen');
  });

  it('posJournalImportUnderARunningTerminalChangesNothingAndSaysStopItFirst', async () => {
    children.push(await holder(join(dir, 'data.mdb')));
    const backup = join(root, 'some.bak');
    writeFileSync(backup, 'not read: refused before');
    const out: string[] = [];
    const err: string[] = [];
    assert.equal(await pos(['journal', 'import', '--in', backup, '--dir', dir], (l) => out.push(l), (l) => err.push(l)), 2);
    assert.match(err.join('\n'), /E-STO-13/);
    assert.match(err.join('\n'), /stop the terminal first|Stop the terminal first/);
    assert.deepEqual(readdirSync(dirname(dir)).sort(), ['journal', 'some.bak'], 'nothing moved aside, nothing restored beside');
    assert.ok(existsSync(join(dir, 'data.mdb')));
  });

  it('posRecoveryActionsUnderARunningTerminalAreRefusedBeforeTheJournalIsOpened', async () => {
    children.push(await holder(join(dir, 'data.mdb')));
    const err: string[] = [];
    assert.equal(await pos(['recovery', 'verify', '--dir', dir], () => undefined, (l) => err.push(l)), 2);
    assert.match(err.join('\n'), /E-STO-13/);
  });
});

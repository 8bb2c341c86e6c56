/**
 * Exports go onto a mounted USB stick only (boot/usb-stick.ts): a mount point with nothing mounted
 * on it is a folder on the terminal's own disk and is no stick; a write that fails on the stick
 * (strace injects EIO into the export's writes) is E-STO-14, a code a technician acts on, with the
 * journal on the terminal exactly as it was and no half-written file left on the stick.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPosError } from '../../common/errors';
import { nodeArgsFor } from '../../common/spawn';
import { isMountPoint, mountedStick } from '../../boot/usb-stick';
import { Journal } from '../../storage/journal';
import { backupFileName } from '../../storage/backup';
import { rec } from '../../runtime/records';
import { removeDir, tempDir } from '../../storage/testing';
import { needTool } from '../support/tools';
import { EXPORT_CHILD_IDENTITY } from './export-child';

const CHILD = join(__dirname, 'export-child');
const RECORDS = 20;
/** The child exports a small journal: seconds, even under strace on a loaded machine. */
const CHILD_MS_MAX = 90_000;

function sh(cmd: string): boolean {
  return spawnSync('sh', ['-c', cmd], { stdio: 'ignore' }).status === 0;
}

/** Mounts, or skips loudly where mounting is not permitted (not root); under CI it fails instead. */
function mountOrSkip(ctx: Mocha.Context, cmd: string): void {
  if (sh(cmd)) return;
  const message = `cannot mount (needs root): ${cmd}: the real-mount USB stick tests are skipped`;
  if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
  console.warn(`\n*** SKIPPED: ${message} ***\n`);
  ctx.skip();
}

describe('boot/usb-stick: an export goes only onto a mounted USB stick', function () {
  this.timeout(120_000);
  let work: string;
  beforeEach(() => { work = tempDir('pos-usb-export-'); });
  afterEach(() => removeDir(work));

  it('anEmptyMountPointIsNoStickAndTheExportAsksForOne', () => {
    const usb0 = join(work, 'media', 'usb0');
    mkdirSync(usb0, { recursive: true });
    assert.equal(isMountPoint(usb0), false, 'a folder on the same disk as its parent');
    assert.equal(isMountPoint(join(work, 'media', 'usb1')), false, 'no folder at all');
    assert.equal(isMountPoint('/proc'), true, 'control: proc is mounted on every Linux');
    assert.throws(() => mountedStick([usb0, join(work, 'media', 'usb1')]), (e: unknown) => isPosError(e) && e.code === 'E-STO-09' && /insert a USB stick/.test(e.message) && e.message.includes(usb0));
    assert.throws(() => mountedStick([]), (e: unknown) => isPosError(e) && e.code === 'E-STO-09' && /insert a USB stick/.test(e.message));
    // The simulator board's --usb-dir is a plain folder standing for the stick.
    assert.equal(mountedStick([join(work, 'media', 'usb1'), usb0], true), usb0);
    assert.throws(() => mountedStick([join(work, 'media', 'usb1')], true), /E-STO-09/);
    assert.deepEqual(readdirSync(usb0), [], 'nothing written under the empty mount point');
  });

  it('aMountOnTheParentsOwnDeviceCountsWhenTheKernelsMountTableListsIt', () => {
    const usb0 = join(work, 'usb 0');
    mkdirSync(usb0);
    const table = join(work, 'mountinfo');
    // proc(5)'s example line, the mount point escaped as the kernel writes it (a space is \040).
    writeFileSync(table, `36 35 98:0 /mnt1 ${realpathSync(usb0).replace(/ /g, '\\040')} rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n`);
    assert.equal(isMountPoint(usb0, table), true);
    writeFileSync(table, `36 35 98:0 /mnt1 ${realpathSync(work)} rw,noatime master:1 - ext3 /dev/root rw\n`);
    assert.equal(isMountPoint(usb0, table), false, 'its parent mounted is not it');
  });

  it('aRealMountIsTheStickAndNotOnceUnmounted', function () {
    const usb0 = join(work, 'usb0');
    mkdirSync(usb0);
    mountOrSkip(this, `mount -t tmpfs -o size=1m tmpfs '${usb0}'`);
    try {
      assert.equal(isMountPoint(usb0), true);
      assert.equal(mountedStick([join(work, 'usb1'), usb0]), usb0);
    } finally {
      sh(`umount '${usb0}'`);
    }
    assert.equal(isMountPoint(usb0), false, 'unmounted: a folder again');
    // A bind mount keeps its parent's device number: the mount table tells it.
    const src = join(work, 'elsewhere');
    mkdirSync(src);
    mountOrSkip(this, `mount --bind '${src}' '${usb0}'`);
    try {
      assert.equal(statSync(usb0).dev, statSync(work).dev, 'the same device as its parent');
      assert.equal(isMountPoint(usb0), true);
    } finally {
      sh(`umount '${usb0}'`);
    }
  });

  describe('a write that fails on the stick (strace fault injection)', () => {
    before(function () { needTool(this, 'strace'); });

    async function makeJournal(dir: string): Promise<{ lastSeq: number; lastDigest: string }> {
      const j = await Journal.open({ dir, identity: EXPORT_CHILD_IDENTITY });
      try {
        for (let i = 0; i < RECORDS; i++) await j.appendMany([{ type: 'adminAction', payload: rec.adminAction({ action: `test:${i}`, operator: '099', result: 'ok' }).payload }]);
        return { lastSeq: j.lastSeq, lastDigest: j.lastDigest.toString('hex') };
      } finally {
        await j.close();
      }
    }

    function exportChild(journalDir: string, stick: string, strace: readonly string[] = []): string {
      const node = [process.execPath, ...nodeArgsFor(CHILD), journalDir, join(work, 'backup'), stick];
      const [cmd, ...args] = strace.length ? ['strace', '-f', '-qq', '-o', '/dev/null', ...strace, ...node] : node;
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: CHILD_MS_MAX });
      assert.equal(r.status, 0, `the export child crashed: ${r.stderr.slice(-800)}`);
      return r.stdout.trim();
    }

    it('anIoErrorWritingTheStickIsEsto14NotAnUnknownErrorAndTheJournalLosesNothing', async () => {
      const journalDir = join(work, 'journal');
      const before = await makeJournal(journalDir);
      const stick = join(work, 'usb');
      mkdirSync(stick);
      // The backup is written to a temp file beside its name, then renamed (storage/backup.ts).
      const tmp = join(stick, `.${backupFileName(EXPORT_CHILD_IDENTITY, before.lastSeq)}.tmp`);
      const failed = exportChild(journalDir, stick, ['-P', tmp, '-e', 'trace=write', '-e', 'inject=write:error=EIO']);
      assert.match(failed, /^ERR E-STO-14 .*EIO.*use another USB stick/, failed);
      assert.deepEqual(readdirSync(stick), [], 'no half-written file left on the stick');
      assert.equal(readdirSync(work).includes('backup'), false, 'nothing written to the backup folder instead');
      const j = await Journal.open({ dir: journalDir, readOnly: true });
      try {
        assert.equal(j.state, 'ok');
        assert.equal(j.lastSeq, before.lastSeq, 'no record lost or added');
        assert.equal(j.lastDigest.toString('hex'), before.lastDigest, 'the same chain');
      } finally {
        await j.close();
      }
      // Control: without the fault the same export is written onto the stick.
      const ok = exportChild(journalDir, stick);
      assert.match(ok, /^OK /, ok);
      assert.deepEqual(readdirSync(stick), [backupFileName(EXPORT_CHILD_IDENTITY, before.lastSeq)]);
    });
  });
});

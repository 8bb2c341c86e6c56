/**
 * `pos journal backups` (boot/journal-cli.ts): the technician's view of the backup folder (the SD
 * card). Lists the terminal's scheduled backups, a factory reset's, hand exports, newest first,
 * with their kind; --verify checks each one whole under the device key beside the journal (one
 * sealed with a passphrase is said to need it); a damaged backup fails the command (exit 4)
 * naming it; a missing folder is E-STO-16 (exit 2).
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as pos } from '../../boot/pos';
import { Journal } from '../../storage/journal';
import { backupFileName, exportToFile } from '../../storage/backup';
import { scheduledTag } from '../../storage/scheduled-backup';
import { flipFileByte, removeDir, tempDir } from '../../storage/testing';
import { DEVICE_KEY_FILE } from '../../runtime/device-key-provider';

const ID = 'SIM-0001';
const KEY = Buffer.alloc(32, 0x6b);

describe('pos journal backups', function () {
  this.timeout(30_000);
  let root = '';
  beforeEach(() => { root = tempDir('backups-cli-'); });
  afterEach(() => removeDir(root));

  async function run(...args: string[]): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const code = await pos(['journal', 'backups', ...args], (l) => lines.push(l), (l) => lines.push(l));
    return { code, lines };
  }

  /** A journal with its device key beside it, and three backups of it written at known times. */
  async function folder(): Promise<{ backup: string; files: Record<'b1' | 'b2' | 'reset' | 'hand', string> }> {
    writeFileSync(join(root, DEVICE_KEY_FILE), KEY, { mode: 0o600 });
    const j = await Journal.open({ dir: join(root, 'journal'), identity: ID });
    const backup = join(root, 'backup');
    mkdirSync(backup);
    const files = { b1: '', b2: '', reset: '', hand: '' };
    const write = (name: keyof typeof files, tag: string | undefined, atS: number, passphrase?: string): void => {
      const file = join(backup, backupFileName(ID, j.lastSeq, tag));
      exportToFile(j, file, passphrase ? { passphrase } : { deviceKey: () => KEY });
      utimesSync(file, atS, atS);
      files[name] = file;
    };
    await j.append('test', { sale: 1 });
    write('reset', 'reset', 1_800_000_000);
    await j.append('test', { sale: 2 });
    write('b1', scheduledTag(1), 1_800_000_100);
    await j.append('test', { sale: 3 });
    write('hand', 'hand', 1_800_000_200, 'a passphrase of the shop');
    await j.append('test', { sale: 4 });
    write('b2', scheduledTag(2), 1_800_000_300);
    await j.close();
    return { backup, files };
  }

  it('listsTheFolderNewestFirstWithEachBackupsKind', async () => {
    const { backup } = await folder();
    const { code, lines } = await run('--backup-dir', backup, '--dir', join(root, 'journal'));
    assert.equal(code, 0, lines.join('\n'));
    assert.match(lines[0], /backup folder .*: 4 files/);
    const kinds = lines.slice(1, 5).map((l) => l.split('  ')[1]);
    assert.deepEqual(kinds, ['scheduled, after batch 2', 'export', 'scheduled, after batch 1', 'factory reset'], lines.join('\n'));
    assert.ok(lines.some((l) => /2 scheduled backups kept \(the board keeps 7\); the newest after batch 2/.test(l)), lines.join('\n'));
  });

  it('verifyChecksEachUnderTheDeviceKeyAndNamesADamagedOne', async () => {
    const { backup, files } = await folder();
    const good = await run('--backup-dir', backup, '--dir', join(root, 'journal'), '--verify');
    assert.equal(good.code, 0, good.lines.join('\n'));
    assert.equal(good.lines.filter((l) => /  verified: \d+ records/.test(l)).length, 3, good.lines.join('\n'));
    assert.ok(good.lines.some((l) => l.includes('hand.posbak') && /sealed with a passphrase: not verified/.test(l)), good.lines.join('\n'));
    assert.ok(good.lines.includes('every backup verified (or needs its passphrase)'));
    flipFileByte(files.b1, 200);
    const bad = await run('--backup-dir', backup, '--dir', join(root, 'journal'), '--verify');
    assert.equal(bad.code, 4, bad.lines.join('\n'));
    const line = bad.lines.find((l) => l.includes('auto-b000001')) ?? '';
    assert.match(line, /NOT VERIFIED: E-STO-\d\d/, bad.lines.join('\n'));
    assert.ok(!bad.lines.includes('every backup verified (or needs its passphrase)'));
    // Another terminal's key opens none of them (what a restored device key must match).
    writeFileSync(join(root, DEVICE_KEY_FILE), Buffer.alloc(32, 0x01), { mode: 0o600 });
    const wrongKey = await run('--backup-dir', backup, '--dir', join(root, 'journal'), '--verify');
    assert.equal(wrongKey.code, 4);
    assert.equal(wrongKey.lines.filter((l) => /NOT VERIFIED: E-STO-08/.test(l)).length, 3, wrongKey.lines.join('\n'));
  });

  it('aMissingFolderIsE-STO-16', async () => {
    const { code, lines } = await run('--backup-dir', join(root, 'no-card'));
    assert.equal(code, 2, lines.join('\n'));
    assert.match(lines.join('\n'), /E-STO-16 .*no-card is missing \(no SD card\?\)/);
  });
});

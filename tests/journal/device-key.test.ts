/**
 * Issue 13 item 6: the device key (and every key or identity file) is written like the journal
 * (temp file, fsync, into place, fsync of the directory), and at boot a check value proves the
 * key opens what the journal sealed; a mismatch is its own error, E-STO-12.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../storage/journal';
import { removeDir, tempDir } from '../../storage/testing';
import { checkDeviceKey, deviceKeyCheckRecord, fixedDeviceKey, seal } from '../../runtime/device-key';
import { nodeArgsFor } from '../../common/spawn';
import { needTool } from '../support/tools';
import { Board, readBoardFile } from '../../hal/board';
import { simulatorIdentity } from '../../boot/sim-provision';
import { rec } from '../../runtime/records';

const KEY_A = Buffer.alloc(32, 0xa1);
const KEY_B = Buffer.alloc(32, 0xb2);
const SERIAL = 'HH-000777';
const TID = '87654321';

async function errorCode(f: () => unknown): Promise<string> {
  try { await f(); } catch (e) { return (e as { code?: string }).code ?? String(e); }
  return 'no error';
}

describe('device key: written durably, checked against the journal at boot', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(() => { root = tempDir('devkey-'); });
  afterEach(() => removeDir(root));

  it('keyFileIsWrittenToATempFileFsyncedPutInPlaceAndItsDirectoryFsynced', function () {
    needTool(this, 'strace');
    const file = join(root, 'keys', 'device.key');
    const trace = join(root, 'trace.txt');
    const r = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,write,fsync,fdatasync,rename,renameat,renameat2,link,linkat,close',
      process.execPath, ...nodeArgsFor(join(__dirname, 'key-file-writer')), file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /KEY-WRITTEN/);
    assert.equal(readFileSync(file).length, 32);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const lines = readFileSync(trace, 'utf8').split('\n');
    // Follow the key's bytes: the temp file's descriptor, its write and fsync, the rename or
    // link onto device.key, then an fsync of a descriptor opened on the directory.
    const at = (re: RegExp, from = 0): number => { const i = lines.findIndex((l, k) => k >= from && re.test(l)); return i; };
    // strace -f may split the open too: `openat(... <unfinished ...>` then `<... openat resumed>) = 21`.
    const openTemp = at(/openat\(.*keys\/\.device\.key\.\d+\.tmp", O_WRONLY\|O_CREAT\|O_TRUNC.*(= (\d+)|<unfinished \.\.\.>)$/);
    assert.ok(openTemp >= 0, `the key is first written to a temp file:\n${lines.filter((l) => /device\.key|keys/.test(l)).join('\n')}`);
    /** The descriptor an open returned, when strace split the call (`<... openat resumed>`) too. */
    const fdOf = (openLine: number, what: string): string => {
      const pid = lines[openLine].split(' ')[0];
      const opened = /= (\d+)$/.test(lines[openLine]) ? lines[openLine] : lines[at(new RegExp(`^${pid} <\\.\\.\\. openat resumed>.*= \\d+$`), openLine)];
      assert.ok(opened !== undefined, `the split open of ${what} resumes with its descriptor`);
      return /= (\d+)$/.exec(opened)![1];
    };
    const fd = fdOf(openTemp, 'the temp file');
    const write = at(new RegExp(`write\\(${fd}, .*, 32\\) += 32`), openTemp);
    // strace -f may split a call another thread interrupts: `fsync(21 <unfinished ...>`.
    const fsync = at(new RegExp(`fsync\\(${fd}(\\)| <unfinished)`), openTemp);
    const place = at(/(rename|renameat2?|link|linkat)\(.*\.device\.key\.\d+\.tmp".*keys\/device\.key"/, openTemp);
    // The directory's open may be split by strace -f as well (seen in CI under load).
    const openDir = at(/openat\(.*\/keys", O_RDONLY.*(= (\d+)|<unfinished \.\.\.>)$/, place);
    assert.ok(write > openTemp && fsync > write && place > fsync, `write ${write}, fsync ${fsync}, into place ${place}`);
    assert.ok(openDir > place, 'the directory is opened after the key is in place');
    const dirFd = fdOf(openDir, 'the directory');
    assert.ok(at(new RegExp(`fsync\\(${dirFd}(\\)| <unfinished)`), openDir) > openDir, 'and fsynced');
  });

  it('aJournalProvisionedUnderOneKeyRefusesAnotherWithE_STO_12', async () => {
    // simulatorIdentity reads only the board file's name and config: no devices are opened here.
    const board = readBoardFile('sim') as unknown as Board;
    const j = await Journal.open({ dir: join(root, 'j'), identity: 'SIM-00000001' });
    try {
      await simulatorIdentity(board, j, fixedDeviceKey(KEY_A));
      assert.equal(checkDeviceKey(j, fixedDeviceKey(KEY_A)), 'matched');
      assert.equal(await errorCode(() => checkDeviceKey(j, fixedDeviceKey(KEY_B))), 'E-STO-12');
    } finally {
      await j.close();
    }
  });

  it('aJournalFromBeforeTheCheckValueIsCheckedByOpeningItsSealedMasterKey', async () => {
    const j = await Journal.open({ dir: join(root, 'j'), identity: SERIAL });
    try {
      const tmkEnc = seal(KEY_A, Buffer.alloc(16, 0x11), `tmk/${TID}`, (n) => Buffer.alloc(n, 3));
      await j.appendMany([
        rec.terminalIdentity({ serial: SERIAL, tid: TID, mid: '876543210987654', board: 'x', locale: 'zh-CN', testKeys: false }),
        { type: 'settings', payload: { kind: 'tmk', tmkEnc, kcvTmk: '000000' } },
      ]);
      assert.equal(checkDeviceKey(j, fixedDeviceKey(KEY_A)), 'matched');
      assert.equal(await errorCode(() => checkDeviceKey(j, fixedDeviceKey(KEY_B))), 'E-STO-12');
    } finally {
      await j.close();
    }
  });

  it('aJournalWithNothingSealedYetIsUncheckedNotRefused', async () => {
    const j = await Journal.open({ dir: join(root, 'j'), identity: SERIAL });
    try {
      assert.equal(checkDeviceKey(j, fixedDeviceKey(KEY_B)), 'unchecked');
      await j.appendMany([deviceKeyCheckRecord(KEY_A, j.identity)]);
      assert.equal(await errorCode(() => checkDeviceKey(j, fixedDeviceKey(KEY_B))), 'E-STO-12');
    } finally {
      await j.close();
    }
  });
});

/**
 * `pos update status` says when the running version is flagged bad by the management console
 * (E-UPD-08, docs/MANAGEMENT.md flag-version): the flag lives in the journal, which the command
 * reads (verified in a child first, read-only). Before, it read only the slots, and a technician
 * at the command line did not learn what the terminal's screen and recovery menu said.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as pos } from '../../boot/pos';
import { initSlots } from '../../boot/update-slots';
import { Journal } from '../../storage/journal';
import { VERSION_FLAGS_KIND } from '../../runtime/records';
import { flipFileByte, removeDir, tempDir } from '../../storage/testing';

const RUNNING = '1.4.2';

describe('pos update status: the console\'s flag on the running version', function () {
  this.timeout(30_000);
  let root = '';
  beforeEach(() => { root = tempDir('update-status-'); initSlots(join(root, 'slots'), RUNNING); });
  afterEach(() => removeDir(root));

  async function run(...args: string[]): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const code = await pos(['update', 'status', '--root', join(root, 'slots'), '--dir', join(root, 'journal'), ...args], (l) => lines.push(l), (l) => lines.push(l));
    return { code, lines };
  }

  async function journalFlagging(versions: readonly string[]): Promise<void> {
    const j = await Journal.open({ dir: join(root, 'journal'), identity: 'SIM-0001' });
    await j.append('settings', { kind: VERSION_FLAGS_KIND, flags: versions.map((version, i) => ({ version, reason: `crashes at settlement ${i}`, commandId: `c-${i}` })) });
    await j.close();
  }

  it('theRunningVersionFlaggedIsSaidWithTheConsolesReasonAndInTheJson', async () => {
    await journalFlagging(['9.9.9', RUNNING]);
    const text = await run();
    assert.equal(text.code, 0);
    assert.equal(text.lines[0], `running ${RUNNING} from slot A`);
    assert.equal(text.lines[1], `E-UPD-08 running version ${RUNNING} flagged bad by the management console: crashes at settlement 1 (command c-1)`);
    const json = JSON.parse((await run('--json')).lines[0]) as { runningVersion: string; versionFlagged: boolean; versionFlag?: { reason: string } };
    assert.equal(json.versionFlagged, true);
    assert.equal(json.versionFlag?.reason, 'crashes at settlement 1');
  });

  it('anotherVersionFlaggedOrNoJournalSaysNothingOfAFlag', async () => {
    const none = await run();
    assert.deepEqual(none.lines, [`running ${RUNNING} from slot A`]);
    await journalFlagging(['9.9.9']);
    const other = await run('--json');
    assert.equal((JSON.parse(other.lines[0]) as { versionFlagged: boolean }).versionFlagged, false);
    assert.ok(!(await run()).lines.some((l) => l.includes('E-UPD-08')));
  });

  it('aDamagedJournalIsSaidNotReadAndTheSlotsAreStillShown', async () => {
    await journalFlagging([RUNNING]);
    // A byte of the version-flags record's own payload: its CRC no longer matches.
    const file = join(root, 'journal', 'data.mdb');
    flipFileByte(file, readFileSync(file).indexOf('crashes at settlement'));
    const r = await run();
    assert.equal(r.code, 0);
    assert.equal(r.lines[0], `running ${RUNNING} from slot A`);
    assert.match(r.lines[1], /^version flags not read: /);
  });
});

/**
 * Issue 13 item 8: a journal written with lmdb-js's overlappingSync (the journal's former
 * `syncCommit: false`) could lose its last records to a read-only reader after a power cut: the
 * meta page is written before the commit's data is flushed, and only a read-write open rolls that
 * back. The option is gone, and every writer the project has (the journal, import and salvage's
 * writeEntries, the test helpers) opens with overlappingSync off. LMDB records the mode of the
 * last commit in the meta page's environment flags (MDB_OVERLAPPINGSYNC, 0x1000), so the file
 * itself proves which mode wrote it.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, JournalOptions } from '../../storage/journal';
import { writeEntries } from '../../storage/backup';
import { flipByte, removeDir, tempDir, PAGE_BYTES } from '../../storage/testing';

/** lmdb.h MDB_OVERLAPPINGSYNC, kept in mm_flags (the free-list MDB_db's flags, meta offset 52). */
const MDB_OVERLAPPINGSYNC = 0x1000;
const META_ENV_FLAGS_OFFSET = 52;

function overlappingMetaPages(dir: string): number[] {
  const b = readFileSync(join(dir, 'data.mdb'));
  return [0, 1].filter((n) => (b.readUInt16LE(n * PAGE_BYTES + META_ENV_FLAGS_OFFSET) & MDB_OVERLAPPINGSYNC) !== 0);
}

describe('journal: no writer uses overlappingSync', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(() => { root = tempDir('nooverlap-'); });
  afterEach(() => removeDir(root));

  it('theJournalImportSalvageAndTestHelpersAllCommitWithoutOverlappingSync', async () => {
    const dir = join(root, 'j');
    const j = await Journal.open({ dir, identity: 'SIM-0001' });
    for (let i = 0; i < 5; i++) await j.append('test', { i });
    const entries = [...j.raw()];
    await j.close();
    assert.deepEqual(overlappingMetaPages(dir), [], 'the journal');
    await flipByte(dir, 3, 70); // a test helper writing through raw LMDB
    assert.deepEqual(overlappingMetaPages(dir), [], 'the test helpers');
    const restored = join(root, 'restored');
    await writeEntries(restored, entries); // import and salvage write through this
    assert.deepEqual(overlappingMetaPages(restored), [], 'import and salvage');
  });

  it('theSyncCommitFalseOptionNoLongerExists', () => {
    // @ts-expect-error the option is gone (compile-time: tsc fails if it comes back)
    const options: JournalOptions = { dir: root, syncCommit: false };
    assert.equal('syncCommit' in options, true);
  });
});

/**
 * What the write-ahead log's in-memory tail costs (issue 14 goal 1): records wait in it until a
 * checkpoint, so it must hold their bytes, not the 8 KB pool slabs they were encoded into.
 */
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Journal } from './journal';
import { removeDir, tempDir } from './testing';

/** Records appended one by one, as sales are: each lands in the log and stays in the tail. */
const RECORDS = 1_000;
/** Other small buffers between them, as a terminal makes (messages, screens): each record in a slab of its own. */
const BETWEEN_BYTES = 4_000;

function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('journal: the write-ahead log tail in memory', () => {
  let dir: string;
  beforeEach(() => { dir = tempDir('pos-journal-tail-mem-'); });
  afterEach(() => removeDir(dir));

  it('holdsItsRecordsBytesNotTheBufferPoolSlabsTheyWereEncodedIn', async function () {
    this.timeout(60_000);
    const j = await Journal.open({ dir, identity: 'tail-memory', unsafeNoSync: true });
    try {
      const garbage: Buffer[] = [];
      for (let i = 0; i < RECORDS; i++) {
        await j.append('test', { i, note: `record ${i}`, pad: 'x'.repeat(200) });
        garbage.push(Buffer.allocUnsafe(BETWEEN_BYTES));
        if (garbage.length > 8) garbage.shift();
      }
      garbage.length = 0;
      assert.equal(j.walRecordCount, RECORDS, 'the records wait in the tail');
      fullGc();
      const withTail = process.memoryUsage().arrayBuffers;
      await j.checkpoint();
      assert.equal(j.walRecordCount, 0, 'the checkpoint took the tail into LMDB');
      fullGc();
      // What the checkpoint let go of is what the tail held: the records are about 300 bytes each
      // (0.3 MB); a pool slab each would be 8 MB.
      const heldBytes = withTail - process.memoryUsage().arrayBuffers;
      assert.ok(heldBytes < 1024 * 1024, `the tail of ${RECORDS} records held ${(heldBytes / 1048576).toFixed(2)} MB of array buffers`);
    } finally {
      await j.close();
    }
  });
});

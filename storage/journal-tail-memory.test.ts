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

/** Collections until array buffers stop shrinking: their backing stores are freed by the sweep, which may end after gc() returns. */
const GC_ROUNDS_MAX = 8;
async function fullGc(): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let before = Number.POSITIVE_INFINITY;
  for (let round = 0; round < GC_ROUNDS_MAX; round++) {
    gc();
    await new Promise((r) => setImmediate(r));
    const now = process.memoryUsage().arrayBuffers;
    if (now >= before) return now;
    before = now;
  }
  return before;
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
      // What each tail record keeps alive: its commit's own buffer, not an 8 KB pool slab.
      for (const { key, stored } of j.raw(2, RECORDS + 1)) {
        assert.ok(stored.buffer.byteLength < 2 * stored.length + 64, `record ${key} (${stored.length} bytes) holds a buffer of ${stored.buffer.byteLength}`);
      }
      const withTail = await fullGc();
      await j.checkpoint();
      assert.equal(j.walRecordCount, 0, 'the checkpoint took the tail into LMDB');
      // What the checkpoint let go of is what the tail held: the records are about 300 bytes each
      // (0.3 MB); a pool slab each would be 8 MB. Collected until stable first: a sweep still
      // freeing the encoder's garbage made the difference 8.8 MB in 1 run of 5 (the garbage, not the tail).
      const heldBytes = withTail - (await fullGc());
      assert.ok(heldBytes < 1024 * 1024, `the tail of ${RECORDS} records held ${(heldBytes / 1048576).toFixed(2)} MB of array buffers`);
    } finally {
      await j.close();
    }
  });
});

/**
 * storedViews (storage/lmdb-env.ts) hands out views of lmdb-js's read buffer, one kept per value
 * size: every step must still show exactly the value stored under its key, with its own length,
 * whatever sizes come before and after it (two values of one size share a view object).
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { openEnv, storedViews } from './lmdb-env';
import { removeDir, tempDir } from './testing';

const SIZES = [10, 10, 226, 10, 4000, 226, 65604, 0, 1, 226, 10, 65604, 3];

describe('storedViews: one view per size, each step the value stored under its key', () => {
  let dir: string;
  let expected: Buffer[];
  beforeEach(async () => {
    dir = tempDir('views-');
    expected = SIZES.map((n) => randomBytes(n));
    const db = openEnv(dir);
    await db.transaction(() => { expected.forEach((v, i) => { void db.put(i + 1, v); }); });
    await db.close();
  });
  afterEach(() => removeDir(dir));

  it('aWalkShowsEveryValueWithItsOwnBytesAndLength', async () => {
    const db = openEnv(dir, { readOnly: true });
    const seen: Array<{ key: number; bytes: Buffer }> = [];
    for (const { key, stored } of storedViews(db, 0)) seen.push({ key, bytes: Buffer.from(stored) });
    await db.close();
    assert.deepEqual(seen.map((s) => s.key), SIZES.map((_, i) => i + 1));
    seen.forEach((s, i) => assert.ok(s.bytes.equals(expected[i]), `value ${i + 1} (${SIZES[i]} bytes) read as ${s.bytes.length} bytes that differ`));
  });

  it('valuesOfOneSizeShareAViewThatShowsTheCurrentStep', async () => {
    const db = openEnv(dir, { readOnly: true });
    const views = new Map<number, Buffer>();
    let shared = 0;
    for (const { key, stored } of storedViews(db, 2, 12)) {
      const before = views.get(stored.length);
      if (before) { assert.equal(before, stored); shared++; }
      views.set(stored.length, stored);
      assert.ok(stored.equals(expected[key - 1]), `value ${key}`);
    }
    await db.close();
    assert.ok(shared >= 3, `${shared} values reused a view`); // 10 (x2), 226 (x2), 65604 in keys 2..11
  });

  it('aWalkStoppedEarlyThenAnotherFromTheMiddleStillReadExactValues', async () => {
    const db = openEnv(dir, { readOnly: true });
    for (const { key, stored } of storedViews(db, 0)) {
      assert.ok(stored.equals(expected[key - 1]));
      if (key === 5) break;
    }
    const rest: number[] = [];
    for (const { key, stored } of storedViews(db, 6)) {
      assert.ok(stored.equals(expected[key - 1]), `value ${key}`);
      rest.push(key);
    }
    await db.close();
    assert.deepEqual(rest, [6, 7, 8, 9, 10, 11, 12, 13]);
  });
});

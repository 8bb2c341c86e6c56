import { strict as assert } from 'node:assert';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from './journal';
import { RecordType, encodeRecord } from './record';
import { deleteStored, flipByte, removeDir, swapRecords, tempDir, writeStored } from './testing';

const ID = 'SIM-PAR';
const COUNT = 30; // three segments of 10 with verifyThreadsMax 3

async function openBoth(dir: string): Promise<[Journal['openReport'], Journal['openReport']]> {
  const copy = `${dir}-copy`;
  cpSync(dir, copy, { recursive: true });
  const serial = await Journal.open({ dir, identity: ID, readOnly: true, verifyThreadsMax: 1 });
  const parallel = await Journal.open({ dir: copy, identity: ID, readOnly: true, verifyThreadsMax: 3 });
  const reports: [Journal['openReport'], Journal['openReport']] = [serial.openReport, parallel.openReport];
  await serial.close();
  await parallel.close();
  removeDir(copy);
  return reports;
}

function same(a: Journal['openReport'], b: Journal['openReport'], what: string): void {
  assert.deepEqual({ good: b.goodCount, last: b.lastGoodSeq, digest: b.lastGoodDigest.toString('hex'), damage: b.damage, torn: b.tornTail },
    { good: a.goodCount, last: a.lastGoodSeq, digest: a.lastGoodDigest.toString('hex'), damage: a.damage, torn: a.tornTail }, what);
}

describe('journal: parallel verify-on-open decides exactly as the serial verifier', function () {
  this.timeout(60_000);
  let root: string;
  let digests: Buffer[];
  beforeEach(async () => {
    root = tempDir('par-');
    const j = await Journal.open({ dir: join(root, 'j'), identity: ID });
    digests = [Buffer.alloc(0), j.lastDigest];
    for (let i = 2; i <= COUNT; i++) digests.push((await j.append('test', { i })).digest);
    await j.close();
  });
  afterEach(() => removeDir(root));
  const dir = (): string => join(root, 'j');

  it('intactJournalGivesTheSameReport', async () => {
    const [s, p] = await openBoth(dir());
    assert.equal(p.goodCount, COUNT);
    same(s, p, 'intact');
  });

  for (const seq of [5, 11, 20, 29]) {
    it(`flippedByteInRecord${seq}GivesTheSameDamage`, async () => {
      await flipByte(dir(), seq, 40);
      const [s, p] = await openBoth(dir());
      assert.equal(s.damage?.seq, seq);
      same(s, p, `flip ${seq}`);
    });
  }

  it('aBadLastRecordIsTheSameDamage', async () => {
    await flipByte(dir(), COUNT, 10);
    const [s, p] = await openBoth(dir());
    assert.equal(s.damage?.seq, COUNT);
    assert.equal(s.tornTail, undefined);
    same(s, p, 'bad last record');
  });

  it('recordDeletedAtASegmentBoundaryIsTheSameGap', async () => {
    await deleteStored(dir(), 11);
    const [s, p] = await openBoth(dir());
    same(s, p, 'gap at 11');
  });

  it('forgedRecordStartingASegmentBreaksTheChainTheSameWay', async () => {
    await writeStored(dir(), 11, encodeRecord({ type: RecordType.test, seq: 11, timeMs: 1, prevDigest: digests[9], payload: { forged: true } }));
    const [s, p] = await openBoth(dir());
    assert.match(s.damage?.reason ?? '', /chain broken/);
    same(s, p, 'forged 11');
  });

  it('recordsSwappedAcrossABoundaryGiveTheSameDamage', async () => {
    await swapRecords(dir(), 10, 11);
    const [s, p] = await openBoth(dir());
    same(s, p, 'swap 10/11');
  });
});

describe('journal: parallel verify with chunks of several records decides exactly as the serial verifier', function () {
  this.timeout(60_000);
  const COUNT_CHUNKED = 100; // verifyThreadsMax 2: 32 chunks of 4 records (1-4, 5-8, ...)
  let root: string;
  beforeEach(async () => {
    root = tempDir('par-chunks-');
    const j = await Journal.open({ dir: join(root, 'j'), identity: ID });
    for (let i = 2; i <= COUNT_CHUNKED; i++) await j.append('test', { i });
    await j.close();
  });
  afterEach(() => removeDir(root));
  const dir = (): string => join(root, 'j');

  async function bothWith2(): Promise<[Journal['openReport'], Journal['openReport']]> {
    const copy = `${dir()}-copy`;
    cpSync(dir(), copy, { recursive: true });
    const serial = await Journal.open({ dir: dir(), identity: ID, readOnly: true, verifyThreadsMax: 1 });
    const parallel = await Journal.open({ dir: copy, identity: ID, readOnly: true, verifyThreadsMax: 2 });
    const reports: [Journal['openReport'], Journal['openReport']] = [serial.openReport, parallel.openReport];
    await serial.close();
    await parallel.close();
    removeDir(copy);
    return reports;
  }

  it('intactJournalGivesTheSameReport', async () => {
    const [s, p] = await bothWith2();
    assert.equal(p.goodCount, COUNT_CHUNKED);
    same(s, p, 'intact');
  });

  for (const seq of [8, 9, 10, 100]) {
    it(`recordDeleted${seq}GivesTheSameGapAndReason`, async () => {
      await deleteStored(dir(), seq);
      const [s, p] = await bothWith2();
      assert.ok(s.damage || s.tornTail || s.goodCount === COUNT_CHUNKED - 1, 'the serial verifier sees the deletion');
      same(s, p, `gap at ${seq}`);
    });
  }

  for (const [a, b] of [[8, 9], [6, 7], [99, 100]] as const) {
    it(`records${a}And${b}SwappedGiveTheSameDamage`, async () => {
      await swapRecords(dir(), a, b);
      const [s, p] = await bothWith2();
      assert.equal(s.damage?.seq ?? s.tornTail?.seq, a);
      same(s, p, `swap ${a}/${b}`);
    });
  }

  for (const seq of [8, 9, 50]) {
    it(`flippedByteInRecord${seq}GivesTheSameDamage`, async () => {
      await flipByte(dir(), seq, 70);
      const [s, p] = await bothWith2();
      assert.equal(s.damage?.seq, seq);
      same(s, p, `flip ${seq}`);
    });
  }
});

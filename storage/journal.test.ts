import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFERRED_RECORDS_MAX, Journal } from './journal';
import { WAL_BYTES } from './wal';
import { HEADER_BYTES, RecordType, encodeRecord, genesisDigest, luhnValid } from './record';
import { deleteStored, flipByte, growRecord, readStored, removeDir, shrinkRecord, swapRecords, tempDir, writeStored } from './testing';
import { PosError, isPosError } from '../common/errors';
import { workerScriptFor } from '../common/spawn';

/** storage/journal as a child loads it: dist/'s JavaScript when current, else the source under ts-node (common/spawn.ts). */
const JOURNAL_MODULE = workerScriptFor(join(__dirname, 'journal'));

const ID = 'SIM-0001';

async function journalWith(count: number): Promise<{ dir: string; digests: Buffer[] }> {
  const dir = tempDir();
  const j = await Journal.open({ dir, identity: ID });
  const digests = [j.lastDigest];
  for (let i = 2; i <= count; i++) digests.push((await j.append('test', { i, note: `record ${i}` })).digest);
  await j.close();
  return { dir, digests };
}

async function rejects(p: Promise<unknown>, code: string): Promise<PosError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isPosError(e), `expected PosError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('journal: open = verify, decision table', () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) removeDir(d); });
  const track = <T extends { dir: string }>(d: T): T => { dirs.push(d.dir); return d; };

  it('newJournalStartsWithItsIdentityRecord', async () => {
    const dir = track({ dir: tempDir() }).dir;
    const j = await Journal.open({ dir, identity: ID });
    const first = j.get(1);
    assert.equal(first?.type, RecordType.journalCreated);
    assert.equal(first?.payload.identity, ID);
    assert.ok(first?.prevDigest.equals(genesisDigest(ID)));
    await j.close();
  });

  it('intactJournalIsKeptWhole', async () => {
    const { dir, digests } = track(await journalWith(20));
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'ok');
    assert.equal(j.lastSeq, 20);
    assert.ok(j.lastDigest.equals(digests[19]));
    assert.deepEqual([...j.records()].map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    await j.close();
  });

  it('appendsSurviveReopenWithGaplessSeq', async () => {
    const { dir } = track(await journalWith(5));
    const j = await Journal.open({ dir });
    const a = await Promise.all([j.append('test', { x: 1 }), j.append('test', { x: 2 }), j.append('test', { x: 3 })]);
    assert.deepEqual(a.map((r) => r.seq), [6, 7, 8]);
    await j.close();
    const k = await Journal.open({ dir, identity: ID });
    assert.equal(k.lastSeq, 8);
    assert.equal(k.get(8)?.payload.x, 3);
    await k.close();
  });

  // LMDB never holds a torn record (copy-on-write, data flushed before the meta page, opened at
  // the last flushed snapshot): a bad last record there changed after it was acknowledged. It is
  // damage like any other, never cut (only the write-ahead log's last commit can be torn:
  // journal-wal.test.ts).
  async function expectLastRecordDamaged(dir: string, seq: number, reason?: RegExp): Promise<void> {
    const before = await readStored(dir, seq);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.openReport.tornTail, undefined);
    assert.equal(j.damage?.seq, seq);
    if (reason) assert.match(j.damage?.reason ?? '', reason);
    assert.equal(j.lastSeq, seq - 1, 'the records before it stay readable');
    await rejects(j.append('test', {}), 'E-STO-05');
    await j.close();
    assert.deepEqual(await readStored(dir, seq), before, 'the bad record is left as it was, not cut');
  }

  it('aBadHeaderInLmdbsLastRecordIsDamageNotATornTail', async () => {
    const { dir } = track(await journalWith(10));
    await flipByte(dir, 10, 12);
    await expectLastRecordDamaged(dir, 10);
  });

  it('aShrunkLastRecordInLmdbIsDamageNotATornTail', async () => {
    const { dir } = track(await journalWith(10));
    await shrinkRecord(dir, 10, 3);
    await expectLastRecordDamaged(dir, 10, /header says/);
  });

  it('aBadPayloadChecksumInLmdbsLastRecordIsDamageNotATornTail', async () => {
    const { dir } = track(await journalWith(10));
    await flipByte(dir, 10, HEADER_BYTES + 2);
    await expectLastRecordDamaged(dir, 10, /^payload checksum mismatch$/);
  });

  it('badHeaderInTheMiddleIsDamageNamingItsSeq', async () => {
    const { dir } = track(await journalWith(10));
    await flipByte(dir, 4, 20);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.damage?.seq, 4);
    assert.equal(j.lastSeq, 3, 'records before the damage stay readable');
    assert.equal([...j.records()].length, 3);
    await rejects(j.append('test', {}), 'E-STO-05');
    await j.close();
    assert.ok(await readStored(dir, 10), 'nothing after the damage was dropped');
  });

  it('badBodyInTheMiddleIsDamage', async () => {
    const { dir } = track(await journalWith(10));
    await growRecord(dir, 6, 5);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.damage?.seq, 6);
    await j.close();
  });

  it('deletedRecordInTheMiddleIsAGap', async () => {
    const { dir } = track(await journalWith(10));
    await deleteStored(dir, 5);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.damage?.seq, 5);
    assert.match(j.damage?.reason ?? '', /missing/);
    await j.close();
  });

  it('swappedRecordsBreakTheChainOrSeq', async () => {
    const { dir } = track(await journalWith(10));
    await swapRecords(dir, 3, 4);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.damage?.seq, 3);
    await j.close();
  });

  it('forgedRecordWithValidChecksumsBreaksTheChain', async () => {
    const { dir, digests } = track(await journalWith(10));
    // A well-formed record 6 built on the wrong predecessor (record 4's digest).
    const forged = encodeRecord({ type: RecordType.test, seq: 6, timeMs: 1, prevDigest: digests[3], payload: { forged: true } });
    await writeStored(dir, 6, forged);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.damage?.seq, 6);
    assert.match(j.damage?.reason ?? '', /chain broken/);
    await j.close();
  });

  it('forgedLastRecordIsDamageNotATornTail', async () => {
    const { dir, digests } = track(await journalWith(10));
    const forged = encodeRecord({ type: RecordType.test, seq: 10, timeMs: 1, prevDigest: digests[7], payload: {} });
    await writeStored(dir, 10, forged);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.equal(j.damage?.seq, 10);
    await j.close();
  });

  it('unknownVersionStopsEvenAtTheTail', async () => {
    const { dir } = track(await journalWith(5));
    const stored = (await readStored(dir, 5))!;
    stored[4] = 9;
    // Recompute the header CRC so only the version differs.
    const { crc32 } = await import('node:zlib');
    stored.writeUInt32BE(crc32(stored.subarray(0, 64)), 64);
    await writeStored(dir, 5, stored);
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'damaged');
    assert.match(j.damage?.reason ?? '', /version 9/);
    await j.close();
  });

  it('aRecordStoredUnderTheWrongKeyAtTheTailIsDamage', async () => {
    const { dir } = track(await journalWith(6));
    const r5 = (await readStored(dir, 5))!;
    await writeStored(dir, 6, r5);
    await expectLastRecordDamaged(dir, 6, /header says seq 5/);
  });

  it('journalOfAnotherTerminalIsRefusedByName', async () => {
    const { dir } = track(await journalWith(3));
    const e = await rejects(Journal.open({ dir, identity: 'SIM-0002' }), 'E-STO-11');
    assert.match(e.message, /SIM-0001/);
  });

  it('emptyDirectoryWithoutIdentityAsksForProvisioning', async () => {
    const dir = track({ dir: tempDir() }).dir;
    const e = await rejects(Journal.open({ dir }), 'E-STO-05');
    assert.match(e.message, /provision/);
  });

  it('aReadOnlyOpenReportsABadLastRecordAsDamageAndLeavesIt', async () => {
    const { dir } = track(await journalWith(5));
    await flipByte(dir, 5, 30);
    const j = await Journal.open({ dir, identity: ID, readOnly: true });
    assert.equal(j.openReport.tornTail, undefined);
    assert.equal(j.damage?.seq, 5);
    await rejects(j.append('test', {}), 'E-STO-05'); // damaged is said before read-only
    await j.close();
    assert.ok(await readStored(dir, 5), 'the bad record is still there');
  });
});

describe('journal: what is never written', () => {
  let dir: string;
  let j: Journal;
  beforeEach(async () => { dir = tempDir(); j = await Journal.open({ dir, identity: ID }); });
  afterEach(async () => { await j.close(); removeDir(dir); });

  for (const field of ['track2', 'track3', 'cvv', 'pin', 'pinBlock', 'PINBLOCK', 'pan', 'field52']) {
    it(`fieldNamed_${field}_IsRefused`, async () => {
      await rejects(j.append('txnBegin', { stan: '000001', nested: { [field]: 'x' } }), 'E-STO-06');
      assert.equal(j.lastSeq, 1, 'nothing was appended');
      assert.equal(j.state, 'ok', 'a refused field does not fail the journal');
    });
  }

  it('trackDataInAnyStringIsRefused', async () => {
    await rejects(j.append('txnBegin', { memo: ['ok', '6222021234567890123=30122010000012345678'] }), 'E-STO-06');
  });

  it('clearLuhnValidPanIsRefusedButMaskedPanIsKept', async () => {
    await rejects(j.append('txnBegin', { panMasked: '6222021234567890128' }), 'E-STO-06');
    const r = await j.append('txnBegin', { panMasked: '622202*********0128', mid: '123456789012345' });
    assert.equal(r.seq, 2);
  });

  it('aField61OrOrderNumberThatHappensToPassLuhnIsStoredButAPanUnderThoseNamesIsNot', async () => {
    // Batch 000001, STAN 000019, 12-04: 16 digits that pass the Luhn test (1 in 10 such values do).
    const f61 = '0000010000191204';
    assert.ok(luhnValid(f61), 'the case needs a Luhn-valid field 61');
    // A wallet's 28-digit order number whose first 19 digits (the run the check reads) pass too.
    const order = '4200001234202312043234567891';
    assert.ok(luhnValid(order.slice(0, 19)));
    await j.append('txnBegin', { stan: 19, field61: f61, qr: { orderNo: order } });
    await j.append('reversalPending', { stan: 19, original61: f61 });
    // The exemption is by shape: a 19-digit PAN under these names is still refused, and so is
    // a Luhn-valid run anywhere else.
    await rejects(j.append('txnBegin', { field61: '6222021234567890128' }), 'E-STO-06');
    await rejects(j.append('txnBegin', { memo: f61 }), 'E-STO-06');
  });

  it('anArchiveRecordWhoseSha256HexHoldsALuhnValidRunIsStored', async () => {
    // runtime/archive.ts's record: a file's SHA-256 and the journal's last digest in hex, and the
    // file named after that digest. One archive in a few hundred was refused (E-STO-06) by chance.
    const run = '4111111111111111';
    assert.ok(luhnValid(run));
    const sha = `9f${run}${'e'.repeat(46)}`;
    const digest = `${run}${'a0'.repeat(24)}`;
    await j.append('recovery', { action: 'archived', archive: `T0001-0000000042-${run}.posarc`, archiveSha256: sha, digest, count: 42 });
    // By shape again: a PAN under these names, or such hex under another name, is refused.
    await rejects(j.append('recovery', { action: 'archived', digest: '6222021234567890128' }), 'E-STO-06');
    await rejects(j.append('recovery', { action: 'archived', note: sha }), 'E-STO-06');
  });
});

describe('journal: capacity and reserve', () => {
  it('salesAreRefusedAtTheReserveButSettlementStillWrites', async () => {
    const dir = tempDir();
    // The capacity is the journal's share of the disk, the write-ahead log's WAL_BYTES included.
    const j = await Journal.open({ dir, identity: ID, capacityBytes: WAL_BYTES + 400 * 1024, reserveBytes: 200 * 1024 });
    const big = 'x'.repeat(3000);
    let refused: PosError | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      try { await j.append('txnBegin', { i, big }); } catch (e) { refused = e as PosError; }
    }
    assert.equal(refused?.code, 'E-STO-01');
    assert.equal(j.usage().salesRefused, true);
    assert.equal(j.usage().nearlyFull, true);
    const s = await j.append('settlementStep', { batch: 1, step: 'started' }, { reserve: true });
    assert.equal(s.seq, j.lastSeq);
    assert.equal(j.state, 'ok');
    await j.close();
    removeDir(dir);
  });
});

describe('journal: deferred appends (ride on the next durable commit)', function () {
  this.timeout(30_000);
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) removeDir(d); });

  it('deferredRecordIsReadableAtOnceAndWrittenByTheNextCommit', async () => {
    const dir = tempDir(); dirs.push(dir);
    const j = await Journal.open({ dir, identity: ID });
    const [d] = await j.appendMany([{ type: 'test', payload: { mark: 1 } }], { deferred: true });
    assert.equal(d.seq, 2);
    assert.equal(j.deferredCount, 1);
    assert.equal(j.get(2)?.payload.mark, 1, 'readable before it is durable');
    assert.deepEqual([...j.records()].map((r) => r.seq), [1, 2], 'readers of 1..lastSeq (backup, export) see it');
    const next = await j.append('test', { after: true });
    assert.equal(next.seq, 3);
    assert.equal(j.deferredCount, 0, 'the durable commit took the deferred record along');
    await j.close();
    const k = await Journal.open({ dir, identity: ID });
    assert.equal(k.state, 'ok');
    assert.deepEqual([...k.records()].map((r) => r.seq), [1, 2, 3]);
    await k.close();
  });

  it('deferredRecordsBeyondTheMaximumAreCommittedDurably', async () => {
    const dir = tempDir(); dirs.push(dir);
    const j = await Journal.open({ dir, identity: ID });
    for (let i = 0; i < DEFERRED_RECORDS_MAX; i++) await j.appendMany([{ type: 'test', payload: { i } }], { deferred: true });
    assert.equal(j.deferredCount, DEFERRED_RECORDS_MAX);
    await j.appendMany([{ type: 'test', payload: { i: 'one more' } }], { deferred: true });
    assert.equal(j.deferredCount, 0, 'a full queue is written at once, never grown');
    await j.close();
  });

  it('aKilledProcessLosesTheDeferredTailAndNothingElse; closeWritesIt', async () => {
    const dir = tempDir(); dirs.push(dir);
    const script = [
      `const { Journal } = require(${JSON.stringify(JOURNAL_MODULE.file)});`,
      '(async () => {',
      `  const j = await Journal.open({ dir: ${JSON.stringify(dir)}, identity: ${JSON.stringify(ID)} });`,
      "  await j.append('test', { durable: 1 });",
      "  await j.appendMany([{ type: 'test', payload: { deferred: 1 } }], { deferred: true });",
      "  if (process.argv[1] === 'close') await j.close();",
      "  process.kill(process.pid, 'SIGKILL');",
      '})();',
    ].join('\n');
    const run = (how: string): void => { spawnSync(process.execPath, [...JOURNAL_MODULE.execArgv, '-e', script, how], { stdio: 'ignore' }); };
    run('kill');
    const j = await Journal.open({ dir, identity: ID });
    assert.equal(j.state, 'ok');
    assert.equal(j.lastSeq, 2, 'the durable record survived, the deferred one (seq 3) did not');
    await j.close();
    removeDir(dir);
    run('close');
    const k = await Journal.open({ dir, identity: ID });
    assert.equal(k.lastSeq, 3, 'a clean close wrote the deferred record');
    assert.equal(k.get(3)?.payload.deferred, 1);
    await k.close();
  });
});

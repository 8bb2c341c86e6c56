/**
 * The verify walk's native step (native/journal_seal.c `step`, storage/verify.ts ChainWalk) exists
 * for speed only (issue 14 goal 7): every record it passes must be one the JavaScript walk
 * passes, and every walk must end in exactly the JavaScript walk's report (the same fault, seq,
 * reason, torn tail or damage, last good digest), whole, damaged, in segments and anchored.
 */
import { strict as assert } from 'node:assert';
import { crc32 } from 'node:zlib';
import {
  DIGEST_BYTES, HEADER_BYTES, PREV_DIGEST_AT, Payload, RecordType, checkFrame, encodeRecords, genesisDigest, loadSealAddon,
  recordDigest, useNativeVerify, ChainStepFn,
} from '../../storage/record';
import { StoredEntry, SegmentReport, VerifyOptions, verifyEntries } from '../../storage/verify';
import { mulberry32 } from '../../sim/disk-model';

const ID = 'SIM-NATIVE-01';
const RECORDS = 120;

/** A journal's records 1..RECORDS as stored: record 1 creates ID's journal, the rest are sales. */
function journal(): Buffer[] {
  const records: Array<{ type: number; payload: Payload }> = [{ type: RecordType.journalCreated, payload: { identity: ID, createdAtMs: 1_700_000_000_000 } }];
  for (let seq = 2; seq <= RECORDS; seq++) {
    records.push({ type: RecordType.txnBegin, payload: { stan: String(seq).padStart(6, '0'), amountFen: seq * 7, panMasked: '622202******0128', note: 'x'.repeat(seq % 40) } });
  }
  const batch = encodeRecords(records, 1, 1_700_000_000_000, genesisDigest(ID));
  return batch.stored.map((b) => Buffer.from(b));
}

function entries(stored: readonly Buffer[], from = 1, keys?: readonly number[]): StoredEntry[] {
  return stored.map((b, i) => ({ key: keys ? keys[i] : from + i, stored: b }));
}

/** The report without its timing, for comparison. */
function plain(r: SegmentReport): Omit<SegmentReport, 'elapsedMs'> {
  const { elapsedMs: _elapsedMs, ...rest } = r;
  return rest;
}

/** Runs the walk with the native step and in JavaScript alone; asserts both give one report. */
function sameReport(list: StoredEntry[], lastKey: number, options: VerifyOptions, what: string): Omit<SegmentReport, 'elapsedMs'> {
  assert.ok(useNativeVerify(true), 'the native step loads');
  const native = plain(verifyEntries(list, lastKey, options));
  useNativeVerify(false);
  const js = plain(verifyEntries(list, lastKey, options));
  useNativeVerify(true);
  assert.deepEqual(native, js, what);
  return native;
}

/** A header field changed and the header CRC made valid again (a fault only the deeper checks see). */
function resigned(record: Buffer, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(record);
  edit(b);
  b.writeUInt32BE(crc32(b.subarray(0, 64)), 64);
  return b;
}

describe('journal: the native verify step decides exactly as the JavaScript walk', () => {
  let step: ChainStepFn;
  before(function () {
    const addon = loadSealAddon() as { step?: ChainStepFn } | null;
    if (!addon?.step) {
      // CI builds the addon (npm install runs node-gyp): its absence is a failure there, not a skip.
      if (process.env.CI) assert.fail('build/Release/journal_seal.node is not built, does not load or has no step');
      console.log('      SKIPPED: journal_seal.node not built (npm install runs node-gyp)');
      this.skip();
    }
    step = addon.step.bind(addon);
  });
  after(() => { useNativeVerify(true); });

  it('aWholeRecordPassesAndItsDigestReplacesTheChain', () => {
    const stored = journal();
    const chain = genesisDigest(ID);
    for (let i = 0; i < stored.length; i++) {
      assert.equal(step(stored[i], i + 1, chain), 0, `record ${i + 1}`);
      assert.ok(chain.equals(recordDigest(stored[i])), `chain after record ${i + 1}`);
    }
  });

  it('everyByteFlipIsAFrameFaultOrABrokenLinkAndLeavesTheChainAsItWas', () => {
    const record = journal()[4]; // seq 5
    const link = Buffer.from(record.subarray(PREV_DIGEST_AT, PREV_DIGEST_AT + DIGEST_BYTES));
    let cases = 0;
    for (let at = 0; at < record.length; at++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const b = Buffer.from(record);
        b[at] ^= mask;
        const chain = Buffer.from(link);
        const got = step(b, 5, chain);
        assert.equal(got, 'fault' in checkFrame(b) ? 1 : 3, `byte ${at} ^ ${mask}`);
        assert.ok(chain.equals(link), `chain unchanged after byte ${at} ^ ${mask}`);
        cases++;
      }
    }
    assert.ok(cases > 300, `${cases} cases`);
  });

  it('theChecksComeInTheWalksOrderFrameThenSeqThenLink', () => {
    const record = journal()[4];
    const link = Buffer.from(record.subarray(PREV_DIGEST_AT, PREV_DIGEST_AT + DIGEST_BYTES));
    const other = Buffer.alloc(DIGEST_BYTES, 0x5a);
    assert.equal(step(record, 6, Buffer.from(link)), 2, 'stored under another key');
    assert.equal(step(record, 6, Buffer.from(other)), 2, 'another key and another link: the seq is named');
    assert.equal(step(record, 5, Buffer.from(other)), 3, 'does not link');
    for (const edit of [
      (b: Buffer) => b.writeBigUInt64BE(0n, 8), (b: Buffer) => b.writeBigUInt64BE(0x100000005n, 8), (b: Buffer) => { b[4] = 2; },
      (b: Buffer) => { b[6] = 1; }, (b: Buffer) => b.writeUInt32BE(70_000, 16), (b: Buffer) => b.writeUInt32BE(record.length - HEADER_BYTES + 1, 16),
    ]) {
      const b = resigned(record, edit);
      assert.ok('fault' in checkFrame(b));
      assert.equal(step(b, 5, Buffer.from(other)), 1, 'a frame fault comes before the link');
    }
    for (const cut of [0, 1, HEADER_BYTES - 1, HEADER_BYTES, record.length - 1]) assert.equal(step(record.subarray(0, cut), 5, Buffer.from(link)), 1, `cut at ${cut}`);
    assert.equal(step(Buffer.concat([record, Buffer.alloc(3)]), 5, Buffer.from(link)), 1, 'bytes after the record');
  });

  it('argumentsOutOfContractThrowATypeErrorNotACrash', () => {
    const record = journal()[0];
    const asAny = step as unknown as (...a: unknown[]) => unknown;
    assert.throws(() => asAny(record, 1), /3 arguments/);
    assert.throws(() => asAny('bytes', 1, Buffer.alloc(32)), /stored must be a Buffer/);
    assert.throws(() => asAny(record, '1', Buffer.alloc(32)), /key must be a number/);
    assert.throws(() => asAny(record, 1, Buffer.alloc(31)), /chain must be a Buffer of 32 bytes/);
  });

  it('wholeAndDamagedJournalsGiveTheJavaScriptWalksReports', () => {
    const good = journal();
    const whole = sameReport(entries(good), RECORDS, { identity: ID, storedCount: RECORDS }, 'whole');
    assert.equal(whole.lastGoodSeq, RECORDS);
    assert.equal(whole.damage, undefined);
    assert.ok(whole.lastGoodDigest.equals(recordDigest(good[RECORDS - 1])));
    const rng = mulberry32(20261206);
    let faults = 0;
    for (let k = 0; k < 200; k++) {
      const stored = good.map((b) => Buffer.from(b));
      const victim = 1 + Math.floor(rng() * RECORDS); // a seq
      const b = stored[victim - 1];
      b[Math.floor(rng() * b.length)] ^= 1 + Math.floor(rng() * 255);
      const r = sameReport(entries(stored), RECORDS, { identity: ID, storedCount: RECORDS }, `flip in record ${victim}`);
      if (r.damage || r.tornTail) faults++;
    }
    assert.equal(faults, 200, 'every flip is found');
    const damaged: Array<[string, StoredEntry[], number]> = [
      ['a missing record', entries([...good.slice(0, 40), ...good.slice(41)], 1, [...Array(40).keys()].map((i) => i + 1).concat([...Array(RECORDS - 41).keys()].map((i) => i + 42))), RECORDS],
      ['two records swapped', entries([...good.slice(0, 30), good[31], good[30], ...good.slice(32)]), RECORDS],
      ['a torn last record', entries([...good.slice(0, RECORDS - 1), good[RECORDS - 1].subarray(0, 90)]), RECORDS],
      ['the index ends early', entries(good.slice(0, 70)), RECORDS],
      ['a record re-signed under another seq', entries([...good.slice(0, 9), resigned(good[9], (b) => b.writeUInt32BE(77, 12)), ...good.slice(10)]), RECORDS],
      ['another identity\'s record 1', entries([encodeRecords([{ type: RecordType.journalCreated, payload: { identity: 'OTHER', createdAtMs: 1 } }], 1, 1, genesisDigest('OTHER')).stored[0], ...good.slice(1)]), RECORDS],
    ];
    for (const [what, list, lastKey] of damaged) {
      const r = sameReport(list, lastKey, { identity: ID, storedCount: RECORDS }, what);
      assert.ok(r.damage || r.tornTail, `${what}: found`);
    }
  });

  it('segmentsAndAnchoredWalksGiveTheJavaScriptWalksReports', () => {
    const good = journal();
    for (const from of [2, 37, RECORDS]) {
      const list = entries(good.slice(from - 1), from);
      sameReport(list, RECORDS, { startSeq: from, partial: true }, `segment from ${from}`);
      sameReport(list, RECORDS, { identity: ID, startSeq: from, prevDigest: recordDigest(good[from - 2]), partial: true }, `anchored from ${from}`);
      sameReport(list, RECORDS, { identity: ID, startSeq: from, prevDigest: Buffer.alloc(DIGEST_BYTES, 1), partial: true }, `anchored from ${from} to a wrong digest`);
      // The segment's first record damaged (its link is taken on trust) and its second.
      for (const at of [from, from + 1].filter((s) => s <= RECORDS)) {
        for (const edit of [(b: Buffer) => { b[70] ^= 4; }, (b: Buffer) => b.writeUInt32BE(at + 1, 12)]) {
          const stored: Buffer[] = good.map((b) => Buffer.from(b));
          stored[at - 1] = resigned(stored[at - 1], edit);
          sameReport(entries(stored.slice(from - 1), from), RECORDS, { startSeq: from, partial: true }, `segment from ${from}, record ${at} damaged`);
        }
      }
    }
  });
});

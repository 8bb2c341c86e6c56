import { strict as assert } from 'node:assert';
import { InvariantChecker, InvariantFailure, PatternSet, SIM_PIN } from './simulate-invariants';
import { SIM_PANS } from './simulate-devices';

/** A small deterministic generator (xorshift32): the same cases on every run. */
function generator(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

describe('simulation checks: PatternSet (the no-secrets scan)', () => {
  it('findsTheSameFirstPatternAsOneIncludesPerPattern', () => {
    const next = generator(7);
    // Bytes from a small alphabet, so that patterns and their heads occur, and overlap, often.
    const bytesOf = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => 0x30 + (next() % 4)));
    for (let round = 0; round < 300; round++) {
      const patterns = Array.from({ length: 1 + (next() % 40) }, () => bytesOf(1 + (next() % 9)));
      const set = new PatternSet();
      for (const p of patterns) set.add(p);
      for (let k = 0; k < 5; k++) {
        const bytes = bytesOf(next() % 200);
        assert.equal(set.firstIn(bytes), patterns.findIndex((p) => bytes.includes(p)), `round ${round}: ${bytes.toString()} in ${patterns.map((p) => p.toString()).join(',')}`);
      }
    }
  });

  it('aPatternAddedLaterIsFoundToo', () => {
    const set = new PatternSet();
    set.add(Buffer.from('6222020000000128'));
    const bytes = Buffer.concat([Buffer.alloc(100_000, 0x20), Buffer.from([0x12, 0x34, 0x56, 0x78, 0x9a]), Buffer.alloc(10, 0x20)]);
    assert.equal(set.firstIn(bytes), -1);
    set.add(Buffer.from([0x12, 0x34, 0x56, 0x78, 0x9a]));
    assert.equal(set.firstIn(bytes), 1);
    assert.equal(set.firstIn(bytes.subarray(0, bytes.length - 12)), -1, 'a pattern cut at the end of the bytes is not found');
  });

  it('aPatternAtTheVeryStartOrEndIsFound', () => {
    const set = new PatternSet();
    set.add(Buffer.from('ABCDE'));
    set.add(Buffer.from('XY'));
    assert.equal(set.firstIn(Buffer.from('ABCDE...')), 0);
    assert.equal(set.firstIn(Buffer.from('...ABCDE')), 0);
    assert.equal(set.firstIn(Buffer.from('...XY')), 1);
    assert.equal(set.firstIn(Buffer.from('ABCD')), -1);
    assert.equal(set.firstIn(Buffer.alloc(0)), -1);
  });

  it('theCheckerFailsOnEachKindOfSecretInAnOutputAndNamesIt', () => {
    const checker = new InvariantChecker();
    const pinBlock = Buffer.from('0412ac89ffe7d6b5', 'hex');
    checker.notePinBlock(pinBlock);
    const pan = SIM_PANS[1];
    const bcd = Buffer.from(pan.length % 2 ? `${pan}F` : pan, 'hex');
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from(`{"msg":"card ${pan} read"}`), /no-secrets: PAN \d{6}\.\.\. found in logs/],
      [Buffer.concat([Buffer.from('wire '), bcd, Buffer.from(' end')]), /no-secrets: BCD PAN \d{6}\.\.\. found in logs/],
      [Buffer.from(`pin ${SIM_PIN} typed`), /no-secrets: clear PIN found in logs/],
      [Buffer.concat([Buffer.alloc(70_000, 0x41), pinBlock]), /no-secrets: PIN block 0 found in logs/],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(() => checker.noSecrets('logs', bytes), (e: unknown) => e instanceof InvariantFailure && message.test(e.message));
    }
    assert.doesNotThrow(() => checker.noSecrets('logs', Buffer.from(`{"pan":"${pan.slice(0, 6)}******${pan.slice(-4)}","time":1${SIM_PIN}2}`)), 'a masked PAN and the PIN inside a longer number are not secrets');
  });
});

import { strict as assert } from 'node:assert';
import { PosError } from '../../common/errors';
import { READER_SWIPE_FAILURES_MAX, SWIPE_FAILURES_MAX, SwipeFailures, isUnreadableSwipe, swipeVerdict } from './swipe-failures';

const unreadable = (): PosError => new PosError('RDR_UNREADABLE', 'swipe not readable', { source: 'swipe' });

describe('unreadable swipes (runtime/txn/swipe-failures.ts)', () => {
  it('theLimitsAreThreeInATransactionAndMoreAcrossThem', () => {
    assert.equal(SWIPE_FAILURES_MAX, 3);
    assert.ok(READER_SWIPE_FAILURES_MAX > SWIPE_FAILURES_MAX, 'one damaged card must not make the reader faulty');
  });

  it('verdictAsksForAnotherSwipeThenTheChipThenSaysReaderFault', () => {
    assert.equal(swipeVerdict(1, 1), 'swipe-again');
    assert.equal(swipeVerdict(SWIPE_FAILURES_MAX - 1, SWIPE_FAILURES_MAX - 1), 'swipe-again');
    assert.equal(swipeVerdict(SWIPE_FAILURES_MAX, SWIPE_FAILURES_MAX), 'insert-instead');
    assert.equal(swipeVerdict(SWIPE_FAILURES_MAX, READER_SWIPE_FAILURES_MAX), 'insert-instead');
    // Past the maximum in a row the reader is blamed, from the first unreadable swipe of a transaction.
    assert.equal(swipeVerdict(1, READER_SWIPE_FAILURES_MAX + 1), 'reader-fault');
    assert.equal(swipeVerdict(SWIPE_FAILURES_MAX, READER_SWIPE_FAILURES_MAX + 1), 'reader-fault');
  });

  it('onlyAnUnreadableSwipeCountsNotAChipOrAnUnknownSource', () => {
    assert.ok(isUnreadableSwipe(unreadable()));
    assert.ok(!isUnreadableSwipe(new PosError('RDR_UNREADABLE', 'mute chip', { source: 'insert' })));
    assert.ok(!isUnreadableSwipe(new PosError('RDR_UNREADABLE', 'no source said')));
    assert.ok(!isUnreadableSwipe(new PosError('RDR_NO_CARD', 'x', { source: 'swipe' })));
    assert.ok(!isUnreadableSwipe(new Error('RDR_UNREADABLE')));
  });

  it('errorsFollowTheVerdictAndCarryTheCounts', () => {
    const s = new SwipeFailures(() => 1_000);
    const first = s.noteUnreadable(unreadable(), 1);
    assert.equal(first.code, 'E-RDR-02');
    assert.deepEqual([first.detail.swipeFailures, first.detail.swipesUnreadInARow, first.detail.swipeOff, first.detail.source], [1, 1, false, 'swipe']);
    assert.equal(first.message, 'E-RDR-02 swipe not readable', 'the code is not doubled');
    assert.equal(s.noteUnreadable(unreadable(), 2).code, 'E-RDR-02');
    const third = s.noteUnreadable(unreadable(), 3);
    assert.equal(third.code, 'E-RDR-14');
    assert.equal(third.detail.swipeOff, true);
  });

  it('aSwipeThatReadsResetsTheCountInARow', () => {
    let now = 5_000;
    const s = new SwipeFailures(() => now);
    assert.deepEqual(s.stats(), { inARow: 0, unreadableTotal: 0, readerSuspect: false });
    s.noteUnreadable(unreadable(), 1);
    s.noteUnreadable(unreadable(), 2);
    assert.deepEqual(s.stats(), { inARow: 2, unreadableTotal: 2, last: { outcome: 'unreadable', atMs: 5_000 }, readerSuspect: false });
    now = 6_000;
    s.noteRead();
    assert.deepEqual(s.stats(), { inARow: 0, unreadableTotal: 2, last: { outcome: 'read', atMs: 6_000 }, readerSuspect: false });
  });

  it('unreadableSwipesInARowAcrossTransactionsEndInReaderFault', () => {
    const s = new SwipeFailures(() => 0);
    const codes: string[] = [];
    // Transactions of SWIPE_FAILURES_MAX unreadable swipes each, none read in between.
    for (let n = 1; n <= READER_SWIPE_FAILURES_MAX + 1; n++) codes.push(s.noteUnreadable(unreadable(), ((n - 1) % SWIPE_FAILURES_MAX) + 1).code);
    assert.deepEqual(codes.slice(0, 3), ['E-RDR-02', 'E-RDR-02', 'E-RDR-14']);
    assert.ok(codes.slice(0, READER_SWIPE_FAILURES_MAX).every((c) => c !== 'E-RDR-01'), codes.join(' '));
    assert.equal(codes[READER_SWIPE_FAILURES_MAX], 'E-RDR-01');
    const fault = s.noteUnreadable(unreadable(), 1);
    assert.equal(fault.code, 'E-RDR-01', 'the next transaction\'s first unreadable swipe says reader fault at once');
    assert.equal(fault.detail.swipeOff, true);
    assert.equal(s.stats().readerSuspect, true);
    s.noteRead();
    assert.equal(s.stats().readerSuspect, false);
    assert.equal(s.noteUnreadable(unreadable(), 1).code, 'E-RDR-02', 'a good swipe clears the fault');
  });
});

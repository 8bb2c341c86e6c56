import { strict as assert } from 'node:assert';
import { PosError } from '../../common/errors';
import { ReaderHealth, readerFaultError } from './reader-health';
import { READER_SWIPE_FAILURES_MAX, SwipeFailures } from './swipe-failures';

const unreadableSwipe = (): PosError => new PosError('RDR_UNREADABLE', 'swipe not readable', { source: 'swipe' });

describe('the card reader\'s health between card waits (runtime/txn/reader-health.ts)', () => {
  let now: number;
  let swipes: SwipeFailures;
  let health: ReaderHealth;
  beforeEach(() => {
    now = 1_000;
    swipes = new SwipeFailures(() => now);
    health = new ReaderHealth(() => now, swipes);
  });

  it('aReaderSilentGoneOrGarbledIsItsFault', () => {
    for (const [e, code] of [
      [new PosError('RDR_TIMEOUT', 'no response to 0x01', { type: 1 }), 'E-RDR-03'],
      [new PosError('RDR_DISCONNECTED', 'card reader port lost: /dev/ttyS1', { path: '/dev/ttyS1' }), 'E-RDR-04'],
      [new PosError('RDR_FAULT', 'no valid response to 0x02: 3 garbled frames', { type: 2, garbled: 3 }), 'E-RDR-01'],
    ] as const) {
      const h = new ReaderHealth(() => now, new SwipeFailures(() => now));
      assert.equal(h.noteFailure(e), true, code);
      assert.deepEqual(h.fault(), { code, part: 'link', message: e.message.replace(/^E-\S+ /, ''), atMs: now });
    }
  });

  it('noCardACustomersUnreadableCardACancelOrAnAnswerWithAStatusAreNot', () => {
    for (const e of [
      new PosError('RDR_NO_CARD', 'no card within 60000 ms'),
      unreadableSwipe(),
      new PosError('RDR_UNREADABLE', 'mute chip', { source: 'insert' }),
      new PosError('RDR_CARD_DECLINED', 'AAC'),
      new PosError('OPR_CANCELLED', 'card reading cancelled'),
      // The reader answered, with a status it should not have: alive.
      new PosError('RDR_FAULT', 'reader status 9 for 0x11', { type: 0x11, status: 9 }),
      new Error('not a PosError'),
    ]) {
      assert.equal(health.noteFailure(e), false, String(e));
    }
    assert.equal(health.fault(), undefined);
  });

  it('itsFaultIsOverWhenTheReaderAnswersAgainAndTheLastOneIsKeptForDiagnostics', () => {
    health.noteFailure(new PosError('RDR_TIMEOUT', 'no response to 0x01'));
    now = 5_000;
    health.noteAnswered();
    assert.equal(health.fault(), undefined);
    const s = health.status();
    assert.equal(s.fault, undefined);
    assert.equal(s.lastLinkFault?.code, 'E-RDR-03');
    assert.equal(s.lastLinkFault?.atMs, 1_000);
    assert.equal(s.lastAnswerAtMs, 5_000);
  });

  it('theHeadIsAtFaultPastTheSwipesInARowUntilASwipeReadsAndAnAnswerDoesNotClearIt', () => {
    for (let i = 1; i <= READER_SWIPE_FAILURES_MAX; i++) swipes.noteUnreadable(unreadableSwipe(), 1);
    assert.equal(health.fault(), undefined, `${READER_SWIPE_FAILURES_MAX} in a row are still the cards' stripes`);
    now = 2_000;
    swipes.noteUnreadable(unreadableSwipe(), 1);
    assert.deepEqual(health.fault(), { code: 'E-RDR-01', part: 'head', message: `${READER_SWIPE_FAILURES_MAX + 1} unreadable swipes in a row`, atMs: 2_000 });
    health.noteAnswered();
    assert.equal(health.fault()?.part, 'head', 'a reader that answers says nothing of its head');
    swipes.noteRead();
    assert.equal(health.fault(), undefined);
  });

  it('aDeadLineComesBeforeASuspectHead', () => {
    for (let i = 0; i <= READER_SWIPE_FAILURES_MAX; i++) swipes.noteUnreadable(unreadableSwipe(), 1);
    health.noteFailure(new PosError('RDR_DISCONNECTED', 'card reader port lost'));
    assert.equal(health.fault()?.code, 'E-RDR-04');
    health.noteAnswered();
    assert.equal(health.fault()?.code, 'E-RDR-01');
  });

  it('aFaultBecomesTheErrorOfItsCode', () => {
    assert.equal(readerFaultError({ code: 'E-RDR-03', part: 'link', message: 'x', atMs: 0 }).code, 'E-RDR-03');
    assert.equal(readerFaultError({ code: 'E-RDR-04', part: 'link', message: 'x', atMs: 0 }).code, 'E-RDR-04');
    assert.equal(readerFaultError({ code: 'E-RDR-01', part: 'head', message: 'x', atMs: 0 }).code, 'E-RDR-01');
  });
});

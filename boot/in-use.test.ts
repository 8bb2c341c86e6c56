import { strict as assert } from 'node:assert';
import { IN_USE_AFTER_KEY_MS, IN_USE_SAME_STATE_MS, InUse } from './in-use';

/** Timers on a clock the test moves. */
function manualTimers(): { setTimer: (f: () => void, ms: number) => unknown; clearTimer: (t: unknown) => void; advance: (ms: number) => void; pending: () => number } {
  const timers = new Map<number, { f: () => void; dueMs: number }>();
  let next = 0;
  let nowMs = 0;
  return {
    setTimer: (f, ms) => { timers.set(++next, { f, dueMs: nowMs + ms }); return next; },
    clearTimer: (t) => { timers.delete(t as number); },
    advance: (ms) => {
      nowMs += ms;
      for (const [id, t] of [...timers.entries()].sort((a, b) => a[1].dueMs - b[1].dueMs)) {
        if (t.dueMs > nowMs || !timers.has(id)) continue;
        timers.delete(id);
        t.f();
      }
    },
    pending: () => timers.size,
  };
}

describe('in use: background work waits for the person at the terminal', () => {
  it('heldUntilTheMachineFirstRests', () => {
    const u = new InUse(manualTimers());
    assert.equal(u.held, true, 'booting');
    u.state('boot.selfTest');
    assert.equal(u.held, true);
    u.state('login');
    assert.equal(u.held, false);
  });

  it('aKeyHoldsAtOnceAndForItsQuietTime', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    u.state('idle');
    const heard: boolean[] = [];
    u.onChange(() => heard.push(u.held));
    u.key();
    assert.deepEqual(heard, [true], 'the listener hears the key synchronously, before it is handled');
    timers.advance(IN_USE_AFTER_KEY_MS - 1);
    u.key();
    assert.deepEqual(heard, [true], 'a second key changes nothing');
    timers.advance(IN_USE_AFTER_KEY_MS - 1);
    assert.equal(u.held, true, 'the quiet time counts from the last key');
    timers.advance(1);
    assert.deepEqual(heard, [true, false]);
    assert.equal(u.held, false);
  });

  it('aTransactionHoldsUntilTheMachineRestsAgainEvenWithoutKeys', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    u.state('idle');
    u.key();
    u.state('sale.amount');
    timers.advance(IN_USE_AFTER_KEY_MS);
    assert.equal(u.held, true, 'the quiet time passed but the sale goes on');
    u.state('sale.card');
    timers.advance(IN_USE_SAME_STATE_MS - 1);
    assert.equal(u.held, true, 'a card wait');
    u.state('idle');
    assert.equal(u.held, false);
  });

  it('aScreenLeftUntouchedLongerThanAnyTransactionStepRests', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    u.state('idle');
    u.state('hostUnreachable');
    timers.advance(IN_USE_SAME_STATE_MS - 1);
    assert.equal(u.held, true);
    timers.advance(1);
    assert.equal(u.held, false, 'an error left on the screen is nobody at work');
    u.key();
    assert.equal(u.held, true, 'until someone presses a key');
    timers.advance(IN_USE_AFTER_KEY_MS);
    assert.equal(u.held, false);
    u.state('sale.amount');
    assert.equal(u.held, true, 'a new state starts its own time');
  });

  it('aRestingScreenWithinTheKeysQuietTimeStaysHeld', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    u.state('sale.result');
    u.key();
    u.state('idle');
    assert.equal(u.held, true);
    timers.advance(IN_USE_AFTER_KEY_MS);
    assert.equal(u.held, false);
  });

  it('stopDropsTheTimersAndTheListeners', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    let calls = 0;
    u.onChange(() => calls++);
    u.state('sale.amount');
    u.key();
    u.stop();
    assert.equal(timers.pending(), 0, 'no timer left');
    u.state('idle');
    assert.equal(calls, 0, 'the listener heard nothing after stop (nor before: held all along)');
  });
});

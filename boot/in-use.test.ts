import { strict as assert } from 'node:assert';
import { IN_USE_AFTER_KEY_MS, InUse } from './in-use';

/** Timers the test fires by hand. */
function manualTimers(): { setTimer: (f: () => void, ms: number) => unknown; clearTimer: (t: unknown) => void; fire: () => number[] } {
  const pending = new Map<number, { f: () => void; ms: number }>();
  let next = 0;
  return {
    setTimer: (f, ms) => { pending.set(++next, { f, ms }); return next; },
    clearTimer: (t) => { pending.delete(t as number); },
    fire: () => {
      const due = [...pending.entries()];
      pending.clear();
      for (const [, t] of due) t.f();
      return due.map(([, t]) => t.ms);
    },
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
    u.key();
    assert.deepEqual(heard, [true], 'a second key changes nothing');
    assert.deepEqual(timers.fire(), [IN_USE_AFTER_KEY_MS], 'one timer: the second key replaced the first');
    assert.deepEqual(heard, [true, false]);
    assert.equal(u.held, false);
  });

  it('aTransactionHoldsUntilTheMachineRestsAgainEvenWithoutKeys', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    u.state('idle');
    u.key();
    u.state('sale.amount');
    timers.fire();
    assert.equal(u.held, true, 'the quiet time passed but the sale goes on');
    u.state('sale.card');
    assert.equal(u.held, true);
    u.state('idle');
    assert.equal(u.held, false);
  });

  it('aRestingScreenWithinTheKeysQuietTimeStaysHeld', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    u.state('sale.result');
    u.key();
    u.state('idle');
    assert.equal(u.held, true);
    timers.fire();
    assert.equal(u.held, false);
  });

  it('stopDropsTheTimerAndTheListeners', () => {
    const timers = manualTimers();
    const u = new InUse(timers);
    let calls = 0;
    u.onChange(() => calls++);
    u.state('idle');
    u.key();
    u.stop();
    assert.deepEqual(timers.fire(), [], 'no timer left');
    u.state('sale.amount');
    assert.equal(calls, 2, 'the listener heard nothing after stop');
  });
});

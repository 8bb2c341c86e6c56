/**
 * runningTimeout: a device's silence counted only while the process runs. A stall of the process
 * (sinon's `jump`: the clock leaps and every timer due meanwhile fires once, late, as node runs
 * them after a stall, before the I/O that arrived) must not end the wait before the process has
 * had a turn on time to read that I/O; without a stall it ends at its time, not later.
 */
import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { RUNNING_TICK_MS, SLEEP_REARMS_MAX, Timers, realSleep, realTimers, runningTimeout, sleepAtLeast, starvableTimers } from './timing';

describe('runningTimeout (timeouts on a starved process)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  it('endsAtItsTimeWhenTheProcessRuns', async () => {
    let fired = 0;
    runningTimeout(starvableTimers, () => { fired++; }, 500);
    await clock.tickAsync(499);
    assert.equal(fired, 0);
    await clock.tickAsync(1);
    assert.equal(fired, 1);
    await clock.tickAsync(1000);
    assert.equal(fired, 1, 'once');
  });

  it('aStallPastTheDeadlineDoesNotEndItBeforeTheIoThatArrivedIsRead', async () => {
    let fired = false;
    let answered = false;
    const cancel = runningTimeout(starvableTimers, () => { fired = true; }, 500);
    await clock.tickAsync(100);
    clock.jump(2000); // the process off the CPU for 2 s; the answer came meanwhile
    assert.equal(fired, false, 'a late tick counts only its own length');
    answered = true; // read in the next turn: the waiter cancels its timeout
    cancel();
    await clock.tickAsync(2000);
    assert.equal(fired, false);
    assert.ok(answered);
  });

  it('stillEndsWhenNothingAnswersAfterAStall', async () => {
    let firedAt = -1;
    const start = Date.now();
    runningTimeout(starvableTimers, () => { firedAt = Date.now() - start; }, 500);
    await clock.tickAsync(100);
    clock.jump(2000);
    await clock.tickAsync(500);
    assert.ok(firedAt > 2100, `ends after the stall, counting running time (${firedAt} ms)`);
    assert.ok(firedAt <= 2100 + 500, `and within the running time still owed (${firedAt} ms)`);
  });

  it('isAPlainTimeoutOnTimersThatCannotBeStarved', async () => {
    // A simulation's virtual clock: one timer, so a seeded day's timer steps stay as they were.
    const set: number[] = [];
    const virtual: Timers = { setTimeout: (fn, ms) => { set.push(ms); return realTimers.setTimeout(fn, ms); }, clearTimeout: realTimers.clearTimeout, now: realTimers.now };
    let fired = false;
    runningTimeout(virtual, () => { fired = true; }, 500);
    await clock.tickAsync(500);
    assert.ok(fired);
    assert.deepEqual(set, [500]);
    assert.ok(RUNNING_TICK_MS < 500, 'a starvable wait would have ticked');
  });
});

describe('sleepAtLeast (a datasheet\'s minimum wait)', () => {
  /** A clock whose timeouts end when asked but whose time moves only as the test says. */
  function scriptedClock(advanceMsPerTimeout: (ms: number) => number): { clock: Pick<Timers, 'setTimeout' | 'now'>; armedMs: number[] } {
    let nowMs = 1000.9; // a fraction: node's timeouts start from whole milliseconds
    const armedMs: number[] = [];
    const clock = {
      now: () => nowMs,
      setTimeout: (fn: () => void, ms: number) => { armedMs.push(ms); nowMs += advanceMsPerTimeout(ms); queueMicrotask(fn); return 0; },
    };
    return { clock, armedMs };
  }

  it('aTimeoutThatEndsEarlyIsArmedAgainForWhatIsLeft', async () => {
    let timeouts = 0;
    const { clock, armedMs } = scriptedClock((ms) => (timeouts++ === 0 ? ms - 0.9 : ms)); // the first ends 0.9 ms early, as node's may
    await sleepAtLeast(clock)(2);
    assert.deepEqual(armedMs, [2, 1], 'then 0.9 ms were left: one more whole millisecond');
  });

  it('aTimeoutOnTimeIsArmedOnce', async () => {
    const { clock, armedMs } = scriptedClock((ms) => ms);
    await sleepAtLeast(clock)(5);
    assert.deepEqual(armedMs, [5]);
  });

  it('aClockThatNeverMovesEndsTheWaitAfterItsBoundedRearms', async () => {
    const { clock, armedMs } = scriptedClock(() => 0);
    await sleepAtLeast(clock)(3);
    assert.equal(armedMs.length, SLEEP_REARMS_MAX + 1);
  });

  it('realSleepWaitsAtLeastItsTimeByPerformanceNow', async () => {
    for (let i = 0; i < 20; i++) {
      const startMs = performance.now();
      await realSleep(2);
      assert.ok(performance.now() - startMs >= 2, `sleep ${i} ended after ${(performance.now() - startMs).toFixed(2)} ms`);
    }
  });
});

describe('realTimers (the drivers\' timeouts)', () => {
  it('theirClockIsMonotonicSoAWallClockStepNeitherEndsNorStretchesATimeout', async () => {
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      const startMs = realTimers.now();
      clock.setSystemTime(Date.now() + 3_600_000); // NTP sets a dead RTC forward an hour
      assert.equal(realTimers.now() - startMs, 0, 'the step forward is not time a device kept silent');
      clock.setSystemTime(Date.now() - 7_200_000); // and back two
      await clock.tickAsync(500);
      assert.equal(realTimers.now() - startMs, 500, 'the step back takes nothing off the wait');
    } finally {
      clock.restore();
    }
  });
});

/**
 * When a screen reached the display, as the terminal reports it to the simulator's control
 * interface (ProbeSnapshot.timing.shownAtMonoMs): on the monotonic clock every process shares, so
 * a bench in another process measures a key from its press to the panel, not to the probe's event.
 */
import { strict as assert } from 'node:assert';
import { monotonicMs } from '../../common/time';
import { terminalPerTest } from './driver';

describe('e2e: the time a screen reached the display', function () {
  this.timeout(60_000);
  const bench = terminalPerTest('e2e-shown-');

  it('aKeysScreenIsStampedOnTheMonotonicClockThisProcessReadsBetweenThePressAndItsEvent', async () => {
    const d = bench.d;
    await d.powerOn();
    const login = await d.until('login');
    const pressedAtMs = monotonicMs();
    await d.keys('0');
    const typed = await d.until('login', (s) => s.screen.text.join('|') !== login.screen.text.join('|'));
    const seenAtMs = monotonicMs();
    const shownAtMs = typed.timing.shownAtMonoMs;
    assert.ok(shownAtMs !== undefined, 'the snapshot carries the time');
    // A per-process clock (performance.now(): ms since that process started) would be far below the press.
    assert.ok(shownAtMs >= pressedAtMs && shownAtMs <= seenAtMs, `shown at ${shownAtMs} ms, pressed at ${pressedAtMs}, seen at ${seenAtMs}`);
  });
});

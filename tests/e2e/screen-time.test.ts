/**
 * When a screen reached the display, as the terminal reports it to the simulator's control
 * interface (ProbeSnapshot.timing.shownAtMonoMs): on the monotonic clock every process shares, so
 * a bench in another process measures a key from its press to the panel, not to the probe's event.
 */
import { strict as assert } from 'node:assert';
import { monotonicMs } from '../../common/time';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { removeDir, tempDir } from '../../storage/testing';
import { Driver } from './driver';

describe('e2e: the time a screen reached the display', function () {
  this.timeout(60_000);
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  before(async () => {
    host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
    dir = tempDir('e2e-shown-');
    d = new Driver(host, dir, 'en');
    await d.powerOn();
  });
  after(async () => {
    await d.powerOff().catch(() => undefined);
    await host.close();
    removeDir(dir);
  });

  it('aKeysScreenIsStampedOnTheMonotonicClockThisProcessReadsBetweenThePressAndItsEvent', async () => {
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

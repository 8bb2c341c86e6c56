/**
 * The watchdog's health (boot/terminal-app.ts health()) times the main loop on the monotonic clock:
 * a loop stalled past its limit is unhealthy even when NTP stepped the wall clock back meanwhile
 * (on the wall clock it would look 59 minutes early, and systemd would never restart it).
 */
import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { TerminalApp, TICK_MS } from '../../boot/terminal-app';

describe('boot/terminal-app: the watchdog\'s health and the wall clock', () => {
  it('aStalledMainLoopIsUnhealthyAfterTheWallClockSteppedBack', () => {
    const wallMs = Date.UTC(2026, 10, 21, 2, 0, 0);
    const fake = sinon.useFakeTimers({ now: wallMs, toFake: ['Date', 'hrtime'] });
    try {
      const snapshot = { value: 'idle', status: 'active', context: { pendingStans: new Set<number>(), customerOffer: [] }, matches: () => false };
      // health() reads the tick's time and the machine's snapshot only: the rest of the app is not needed.
      const app = Object.create(TerminalApp.prototype) as TerminalApp;
      (app as unknown as { actor: unknown }).actor = { getSnapshot: () => snapshot };
      app.noteTick();
      assert.equal(app.health().ok, true, 'just ticked');
      fake.tick(TICK_MS * 10 + 60_000); // the loop stalls for a minute past the limit
      fake.setSystemTime(wallMs - 3_600_000 + 60_000); // and NTP stepped the wall clock back an hour
      const h = app.health();
      assert.equal(h.ok, false, JSON.stringify(h));
      assert.match(h.status, /main loop late/);
    } finally {
      fake.restore();
    }
  });
});

import { strict as assert } from 'node:assert';
import { SystemdWatchdog } from '../../boot/watchdog';

describe('boot/watchdog: sd_notify only while the main loop is healthy', () => {
  it('skipsSilentlyWithoutNotifySocket', async () => {
    const sent: string[][] = [];
    const w = new SystemdWatchdog({ env: {}, notify: async (a) => { sent.push([...a]); }, health: async () => ({ ok: true, status: 'idle' }) });
    w.start();
    assert.deepEqual(await w.tick(), []);
    w.stop();
    assert.deepEqual(sent, []);
  });

  it('sendsReadyOnceThenPetsOnlyWhenHealthyWithTheStatus', async () => {
    const sent: string[][] = [];
    let healthy = true;
    const w = new SystemdWatchdog({
      env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' }, pid: 42,
      notify: async (a) => { sent.push([...a]); }, health: async () => ({ ok: healthy, status: healthy ? 'idle, batch 1' : 'main loop stalled' }),
    });
    assert.equal(w.intervalMs, 15_000);
    await w.tick();
    await w.tick();
    healthy = false;
    await w.tick();
    assert.deepEqual(sent, [
      ['--pid=42', 'READY=1', 'WATCHDOG=1', 'STATUS=idle, batch 1'],
      ['--pid=42', 'WATCHDOG=1', 'STATUS=idle, batch 1'],
      ['--pid=42', 'STATUS=main loop stalled'],
    ]);
  });

  it('aHealthCheckThatThrowsOrANotifyFailureNeverPets', async () => {
    const sent: string[][] = [];
    const w = new SystemdWatchdog({ env: { NOTIFY_SOCKET: 'x' }, notify: async (a) => { sent.push([...a]); }, health: async () => { throw new Error('journal closed'); } });
    assert.ok(!(await w.tick()).includes('WATCHDOG=1'));
    const failing = new SystemdWatchdog({ env: { NOTIFY_SOCKET: 'x' }, notify: async () => { throw new Error('ENOENT systemd-notify'); }, health: async () => ({ ok: true, status: 'ok' }) });
    await failing.tick(); // logged, not thrown
  });
});

import { strict as assert } from 'node:assert';
import { BOOT_EXTEND_MS_MAX, Health, NOTIFY_TRIES_MAX, SystemdWatchdog } from '../../boot/watchdog';

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
    let tries = 0;
    const failing = new SystemdWatchdog({ env: { NOTIFY_SOCKET: 'x' }, notifyRetryDelayMs: 1, notify: async () => { tries += 1; throw new Error('ENOENT systemd-notify'); }, health: async () => ({ ok: true, status: 'ok' }) });
    await failing.tick(); // logged, not thrown
    assert.equal(tries, NOTIFY_TRIES_MAX, 'tried a named number of times, then left to the next tick');
  });

  it('aFailedNotifyIsTriedAgainAtOnceNotAtTheNextTick', async () => {
    // A healthy terminal was killed by its watchdog in the guest: one systemd-notify timed out
    // (the 1-CPU guest busy with a password check) and the next tick came after WatchdogSec.
    const sent: string[][] = [];
    let failures = 2;
    const w = new SystemdWatchdog({
      env: { NOTIFY_SOCKET: 'x', WATCHDOG_USEC: '30000000' }, pid: 9, notifyRetryDelayMs: 1,
      notify: async (a) => { if (failures-- > 0) throw new Error('Command failed: systemd-notify (timed out)'); sent.push([...a]); },
      health: async () => ({ ok: true, status: 'authenticating' }),
    });
    await w.tick();
    assert.deepEqual(sent, [['--pid=9', 'READY=1', 'WATCHDOG=1', 'STATUS=authenticating']], 'the third try delivered the pet');
    await w.tick();
    assert.deepEqual(sent[1], ['--pid=9', 'WATCHDOG=1', 'STATUS=authenticating'], 'READY=1 was delivered once');
  });

  it('whileBootingExtendsTheStartTimeoutEveryTickAndSendsReadyOnlyOnceTheBootIsOver', async () => {
    const sent: string[][] = [];
    let h: Health = { ok: false, status: 'machine not running', booting: true };
    let nowMs = 1_000;
    const w = new SystemdWatchdog({
      env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' }, pid: 7, clock: () => nowMs,
      notify: async (a) => { sent.push([...a]); }, health: async () => h,
    });
    await w.tick(); // the board's self-test: no machine yet
    h = { ok: true, status: 'boot', booting: true }; // the journal check: the loop runs, the boot goes on
    nowMs += 15_000;
    await w.tick();
    h = { ok: true, status: 'login', booting: false };
    nowMs += 15_000;
    await w.tick();
    await w.tick();
    // 4 ticks of 15 s from each message: systemd counts the extension from its receipt.
    assert.deepEqual(sent, [
      ['--pid=7', 'EXTEND_TIMEOUT_USEC=60000000', 'STATUS=machine not running'],
      ['--pid=7', 'WATCHDOG=1', 'EXTEND_TIMEOUT_USEC=60000000', 'STATUS=boot'],
      ['--pid=7', 'READY=1', 'WATCHDOG=1', 'STATUS=login'],
      ['--pid=7', 'WATCHDOG=1', 'STATUS=login'],
    ]);
  });

  it('stopsExtendingAfterBootExtendMsMaxSoABootThatNeverEndsStillTimesOut', async () => {
    const sent: string[][] = [];
    let nowMs = 0;
    const w = new SystemdWatchdog({
      env: { NOTIFY_SOCKET: 'x', WATCHDOG_USEC: '10000000' }, pid: 7, clock: () => nowMs,
      notify: async (a) => { sent.push([...a]); }, health: async () => ({ ok: true, status: 'boot', booting: true }),
    });
    nowMs = BOOT_EXTEND_MS_MAX;
    await w.tick();
    nowMs = BOOT_EXTEND_MS_MAX + 1;
    await w.tick();
    assert.deepEqual(sent, [
      ['--pid=7', 'WATCHDOG=1', 'EXTEND_TIMEOUT_USEC=20000000', 'STATUS=boot'],
      ['--pid=7', 'WATCHDOG=1', 'STATUS=boot'],
    ]);
  });

  it('aNotifyOfReadyThatFailsEveryTryIsSentAgainAtTheNextTick', async () => {
    const sent: string[][] = [];
    let fail = true;
    const w = new SystemdWatchdog({
      env: { NOTIFY_SOCKET: 'x' }, pid: 7, notifyRetryDelayMs: 1,
      notify: async (a) => { if (fail) throw new Error('systemd-notify timed out'); sent.push([...a]); }, health: async () => ({ ok: true, status: 'idle', booting: false }),
    });
    await w.tick();
    fail = false;
    await w.tick();
    assert.deepEqual(sent, [['--pid=7', 'READY=1', 'WATCHDOG=1', 'STATUS=idle']]);
  });
});

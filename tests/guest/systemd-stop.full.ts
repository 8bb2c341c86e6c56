/**
 * The nightly part of the systemd guest tests (`npm run test:guest:full`; CI runs systemd.test.ts):
 * a stop by systemd (exit 0) leaves the guest on, then at critical battery at the login screen,
 * nobody signed in, the terminal closes its journal, exits EXIT_POWER_OFF (80) and the unit powers the guest off.
 */
import { strict as assert } from 'node:assert';
import { Guest } from './qemu';
import { bootGuest, freshDisk, guestBench, guestDriver, reportFailuresAtOnce, unitProperty, waitUnitActive, GUEST_STEP_MS_MAX } from './support';

describe('guest (nightly): a stop by systemd, then critical battery at the login screen', function () {
  this.timeout(15 * 60_000);
  const bench = guestBench('pos-guest-systemd-stop-');
  reportFailuresAtOnce();
  let g: Guest | undefined;
  afterEach(async () => { if (g?.running) await g.powerCut(); g = undefined; });

  it('criticalBatteryAtTheLoginScreenPowersTheGuestOffAndAStopBySystemdDoesNot', async () => {
    g = await bootGuest(bench, freshDisk(bench, 'critical-login'), 'critical-login');
    await waitUnitActive(g);
    // systemctl stop: SIGTERM, the terminal exits 0, ExecStopPost does nothing: the guest stays on.
    await g.sh('systemctl stop pos-terminal.service');
    assert.equal(await unitProperty(g, 'ExecMainStatus'), '0');
    assert.equal((await g.run('systemctl is-active pos-terminal.service')).out.trim(), 'inactive');
    await new Promise((r) => setTimeout(r, STOPPED_OBSERVE_MS));
    assert.ok(g.running, 'QEMU still runs after a stop by systemd');
    assert.doesNotMatch(await g.sh('systemctl list-jobs --no-legend'), /poweroff/, 'no power-off job queued');
    await g.sh('systemctl start --no-block pos-terminal.service');
    await waitUnitActive(g);
    const d = await guestDriver(bench, g);
    await d.until('login', () => true, GUEST_STEP_MS_MAX);
    const t0 = Date.now();
    // Nobody signed in: the simulator board's gauge below its criticalPercent (5) shuts the
    // terminal down cleanly all the same (journal closed), exit EXIT_POWER_OFF (80), the unit runs `systemctl poweroff`.
    await d.cmd('battery', { percent: 2, charging: false });
    d.run?.client.close();
    const code = await g.waitExit(POWER_OFF_MS_MAX);
    // Only a guest that powers off ends QEMU (-no-reboot): a terminal restarted by systemd, or an
    // exit that did not reach `systemctl poweroff`, leaves it running until the timeout.
    assert.equal(code, 0, 'QEMU exits when the guest powers off');
    process.stderr.write(`      guest: critical battery at the login screen to power-off ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  });
});

/** After `systemctl stop`, how long the guest is watched for a power-off that must not come. */
const STOPPED_OBSERVE_MS = 5_000;
/** From the critical reading to QEMU's exit: the battery poll (2 s), the clean stop, systemd's poweroff under TCG. */
const POWER_OFF_MS_MAX = 180_000;

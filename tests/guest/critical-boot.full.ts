/**
 * Nightly (`npm run test:guest:full`): a battery already critical while the terminal boots under
 * systemd in the guest. The unit is stopped (exit 0: the guest stays on), started again with the
 * simulator gauge at 2% from power-on (--battery-percent, added to the test's terminal arguments in
 * /run/pos-test.env); the terminal reads the battery after its self-test, before the journal is
 * opened, exits EXIT_POWER_OFF (80) before READY=1, and the unit powers the guest off all the same (QEMU exits 0;
 * run here: 23.7 s from the start at load 4-10). That it stopped before the journal is not seen
 * from here (its log is gone with the guest); the e2e test shows it. The journal is not read back
 * after the power-off here (it would take reading the disk image): tests/e2e/critical-battery.test.ts
 * checks that such a start leaves it byte for byte as it was.
 */
import { strict as assert } from 'node:assert';
import { Guest } from './qemu';
import { bootGuest, freshDisk, guestBench, reportFailuresAtOnce, unitProperty, waitUnitActive } from './support';

/** From the start to QEMU's exit: node's start and the self-test under TCG, the clean stop, systemd's poweroff. */
const POWER_OFF_MS_MAX = 240_000;

describe('guest (nightly): critical battery while the terminal boots under systemd', function () {
  this.timeout(15 * 60_000);
  const bench = guestBench('pos-guest-critical-boot-');
  reportFailuresAtOnce();
  let g: Guest | undefined;
  afterEach(async () => { if (g?.running) await g.powerCut(); g = undefined; });

  it('criticalBatteryAtPowerOnExitsForPowerOffDuringTheStartAndTheUnitPowersTheGuestOff', async () => {
    g = await bootGuest(bench, freshDisk(bench, 'critical-boot'), 'critical-boot');
    await waitUnitActive(g);
    await g.sh('systemctl stop pos-terminal.service');
    assert.equal(await unitProperty(g, 'ExecMainStatus'), '0');
    await g.sh("sed -i 's/$/ --battery-percent 2/' /run/pos-test.env");
    assert.match(await g.sh('cat /run/pos-test.env'), /--battery-percent 2$/m);
    assert.match(await g.sh('find /var/lib/pos -name data.mdb'), /data\.mdb/, 'the first boot made the journal');
    const t0 = Date.now();
    await g.sh('systemctl start --no-block pos-terminal.service');
    const code = await g.waitExit(POWER_OFF_MS_MAX);
    assert.equal(code, 0, 'QEMU exits when the guest powers off');
    process.stderr.write(`      guest: start at 2% to power-off ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  });
});

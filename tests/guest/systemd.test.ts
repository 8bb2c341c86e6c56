/**
 * The flashed disk booted by QEMU on Debian's kernel: systemd starts pos-terminal.service from the
 * image's slot A with the slot's own node (Type=notify: active only once the terminal said
 * READY=1), the terminal signs on to the acquirer simulator on the host and sells; a terminal
 * frozen with SIGSTOP stops petting the watchdog and systemd kills and restarts it; at critical
 * battery at idle after sign-on the terminal closes its journal and exits EXIT_POWER_OFF (80), and the unit powers
 * the guest off. The same at the login screen, after a stop by systemd that must leave the guest
 * on, is in systemd-stop.full.ts (the nightly guest suite: CI time).
 * One boot for the three, in that order (a boot to an active unit is over a minute of the guest's
 * one TCG CPU; three boots were a third of the guest suite's time): the restart the watchdog
 * makes is the start the critical battery's terminal comes from.
 * Board: the simulator variant (tests/guest/guest-disk.ts says why and what is real here).
 */
import { strict as assert } from 'node:assert';
import { Guest } from './qemu';
import { bootGuest, freshDisk, guestBench, guestDriver, guestSale, guestSignIn, guestWaitFor, reportFailuresAtOnce, restAfterBoot, unitProperty, waitUnitActive } from './support';

describe('guest: systemd runs the terminal from the flashed disk', function () {
  this.timeout(25 * 60_000);
  // One acquirer simulator for the file: the one guest's terminal signs on to it twice.
  const bench = guestBench('pos-guest-systemd-', { hostPer: 'file' });
  reportFailuresAtOnce();
  let g: Guest | undefined;
  after(async () => { if (g?.running) await g.powerCut(); g = undefined; });

  it('startsTheUnitFromSlotAReachesActiveSignsOnAndSells, then watchdogKillsAndRestartsAStoppedTerminal, then criticalBatteryAtIdleAfterSignOnPowersTheGuestOff', async () => {
    g = await bootGuest(bench, freshDisk(bench, 'unit'), 'unit');
    await startsTheUnitFromSlotAReachesActiveSignsOnAndSells(g);
    await watchdogKillsAndRestartsAStoppedTerminal(g);
    await criticalBatteryAtIdleAfterSignOnPowersTheGuestOff(g);
  });

  async function startsTheUnitFromSlotAReachesActiveSignsOnAndSells(g: Guest): Promise<void> {
    const activeMs = await waitUnitActive(g);
    assert.equal(await unitProperty(g, 'Type'), 'notify');
    assert.equal(await unitProperty(g, 'NRestarts'), '0', 'the first start, not a restart');
    const pid = await unitProperty(g, 'MainPID');
    const exe = await g.sh(`readlink /proc/${pid}/exe`);
    assert.equal(exe.trim(), '/opt/pos/slotA/node/bin/node', 'the terminal runs on its slot\'s node');
    // The slot's bundle (boot/pos-terminal.service; dist/boot/terminal-main.js only in a slot without one).
    assert.match(await g.sh(`cat /proc/${pid}/cmdline | tr '\\0' ' '`), /\/opt\/pos\/slotA\/dist\/bundle\/terminal\.js/);
    assert.equal((await g.sh(`stat -c %U /proc/${pid}`)).trim(), 'pos');
    // The flashed state has nothing pending: the unit's shell booted boot-slot's slot without the
    // selector's node process (boot/update-slots.ts, I5; the shell line itself: unit-memory.test.ts).
    assert.equal((await g.sh('cat /opt/pos/boot-slot')).trim(), 'A');
    assert.match(await g.sh('findmnt -n -o SOURCE,FSTYPE /var/lib/pos'), /vda3\s+ext4/);
    const d = await guestDriver(bench, g);
    await d.until('login', () => true, 120_000);
    const loginMs = Date.now() - g.startedMs;
    await d.typeLogin('cashier');
    await d.until('idle', () => true, 120_000);
    const idleMs = Date.now() - g.startedMs;
    const t0 = Date.now();
    await guestSale(d, '1234');
    const saleMs = Date.now() - t0;
    const approved = bench.host.ledger.entries({}).filter((e) => e.type === 'sale' && e.status === 'approved');
    assert.equal(approved.length, 1, 'the acquirer simulator on the host approved one sale');
    process.stderr.write(`      guest: agent ${(g.agentReadyMs! / 1000).toFixed(1)} s, unit active ${(activeMs / 1000).toFixed(1)} s, login screen ${(loginMs / 1000).toFixed(1)} s, idle after sign-on ${(idleMs / 1000).toFixed(1)} s, one sale ${(saleMs / 1000).toFixed(1)} s (from QEMU's start)\n`);
    d.run?.client.close();
  }

  async function watchdogKillsAndRestartsAStoppedTerminal(g: Guest): Promise<void> {
    assert.equal(await unitProperty(g, 'WatchdogUSec'), '30s');
    const pid = await unitProperty(g, 'MainPID');
    const restartsBefore = Number(await unitProperty(g, 'NRestarts'));
    await g.sh(`kill -STOP ${pid}`);
    const t0 = Date.now();
    // WatchdogSec=30: systemd aborts the frozen process (SIGABRT, then SIGKILL), Restart=on-failure.
    await guestWaitFor(g, `[ "$(systemctl show -p NRestarts --value pos-terminal.service)" -gt ${restartsBefore} ]`, 180_000, 'systemctl status --no-pager pos-terminal.service');
    const restartedMs = Date.now() - t0;
    await waitUnitActive(g);
    const newPid = await unitProperty(g, 'MainPID');
    assert.notEqual(newPid, pid, 'a new terminal process');
    assert.match(await g.sh('journalctl -u pos-terminal.service --no-pager -o cat'), /[Ww]atchdog timeout/);
    process.stderr.write(`      guest: watchdog restart ${(restartedMs / 1000).toFixed(1)} s after SIGSTOP (WatchdogSec=30)\n`);
  }

  async function criticalBatteryAtIdleAfterSignOnPowersTheGuestOff(g: Guest): Promise<void> {
    // The restarted terminal: the sale's printed mark rode on no later commit before the freeze (it
    // need not be durable on its own), so the boot offers its copy again (restAfterBoot prints it);
    // then the cashier signs in again and it signs on again (the same host: its STANs go on).
    const d = await guestDriver(bench, g);
    await restAfterBoot(d);
    await guestSignIn(d);
    const t0 = Date.now();
    await d.cmd('battery', { percent: 2, charging: false });
    d.run?.client.close();
    const code = await g.waitExit(POWER_OFF_MS_MAX);
    assert.equal(code, 0, 'QEMU exits when the guest powers off');
    process.stderr.write(`      guest: critical battery at idle to power-off ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
});

/** From the critical reading to QEMU's exit: the battery poll (2 s), the clean stop, systemd's poweroff under TCG. */
const POWER_OFF_MS_MAX = 180_000;

/**
 * Critical battery on the simulator board, the terminal as its own process (boot/terminal-main.ts):
 * at the login screen (nobody signed in) and at idle it closes its journal and exits
 * EXIT_POWER_OFF (64), the status the systemd unit turns into `systemctl poweroff`
 * (boot/pos-terminal.service); a stop by systemd (SIGTERM) still exits 0, which must not power the
 * board off. tests/guest/systemd.test.ts runs the same through systemd in QEMU.
 */
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { EXIT_POWER_OFF } from '../../boot/terminal-main';
import { terminalPerTest, journalState, Driver } from './driver';

/** The battery monitor polls every 2 s (boot/terminal-app.ts BATTERY_POLL_MS); the shutdown follows. */
const POWER_OFF_MS_MAX = 20_000;

/** The gauge below the simulator board's criticalPercent (5); resolves with the process's exit code. */
async function criticalBattery(d: Driver): Promise<number | null> {
  const child: ChildProcess = d.run!.child;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await d.cmd('battery', { percent: 2, charging: false });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the terminal still runs ${POWER_OFF_MS_MAX} ms after a critical battery; at ${d.run?.log.slice(-3).join(' | ')}`)), POWER_OFF_MS_MAX); });
  try { return await Promise.race([exited, timeout]); } finally { clearTimeout(timer); d.run!.client.close(); d.run = undefined; }
}

describe('e2e: critical battery powers the terminal off (exit 64)', function () {
  this.timeout(90_000);
  const bench = terminalPerTest('pos-e2e-critical-');

  it('at the login screen, nobody signed in: journal closed, exit 64', async () => {
    const { d, dir } = bench;
    await d.powerOn();
    await d.until('login');
    assert.equal(await criticalBattery(d), EXIT_POWER_OFF);
    assert.ok((await journalState(dir)).operators.size > 0, 'the journal opens again read-only and holds the first boot\'s operators');
  });

  it('at idle after sign-on: exit 64; a SIGTERM (systemctl stop) exits 0', async () => {
    const { d } = bench;
    await d.powerOn();
    assert.equal(await d.powerOff(), 0, 'SIGTERM: a clean stop that must not power the board off');
    await d.powerOn();
    await d.signIn();
    assert.equal(await criticalBattery(d), EXIT_POWER_OFF);
  });
});

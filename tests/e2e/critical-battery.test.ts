/**
 * Critical battery on the simulator board, the terminal as its own process (boot/terminal-main.ts):
 * at the login screen (nobody signed in) and at idle it closes its journal and exits
 * EXIT_POWER_OFF (80), the status the systemd unit turns into `systemctl poweroff`
 * (boot/pos-terminal.service); a stop by systemd (SIGTERM) still exits 0, which must not power the
 * board off. tests/guest/systemd.test.ts runs the same through systemd in QEMU. A battery already
 * critical at power-on (--battery-percent) stops the boot before the journal is opened.
 */
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_POWER_OFF, batteryAtPowerOn } from '../../boot/terminal-main';
import { startTerminal } from '../../boot/start';
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
  try { return await Promise.race([exited, timeout]); } finally {
    clearTimeout(timer);
    d.run!.client.close();
    d.run = undefined;
    // A terminal that did not power off (the test failed) is not left running after it.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * A terminal process whose gauge reads `percent` from power-on (--battery-percent); resolves with
 * its exit code and what it logged. It may exit before or after its control interface is up.
 */
async function powerOnWithBattery(dir: string, hostPort: number, percent: number): Promise<{ code: number | null; log: string[] }> {
  const log: string[] = [];
  const args = ['--board', 'sim', '--host-port', String(hostPort), '--journal-dir', join(dir, 'journal'), '--backup-dir', join(dir, 'backup'), '--locale', 'en', '--battery-percent', String(percent)];
  let child: ChildProcess | undefined;
  const started = startTerminal(args, (l) => log.push(l), (c) => { child = c; });
  const code = await new Promise<number | null>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (c: number | null): void => { clearTimeout(timer); resolve(c); };
    started.catch(() => undefined); // an exit before READY rejects it; the exit below is what counts
    const watch = (): void => {
      if (!child) { setImmediate(watch); return; }
      if (child.exitCode !== null) { done(child.exitCode); return; }
      child.once('exit', (c) => done(c));
      timer = setTimeout(() => { child?.kill('SIGKILL'); reject(new Error(`still running ${POWER_OFF_MS_MAX} ms after power-on at ${percent}%: ${log.slice(-3).join(' | ')}`)); }, POWER_OFF_MS_MAX);
    };
    watch();
  });
  return { code, log };
}

function journalDigest(dir: string): string {
  const h = createHash('sha256');
  for (const f of readdirSync(join(dir, 'journal')).filter((x) => !x.endsWith('-lock')).sort()) h.update(f).update(readFileSync(join(dir, 'journal', f)));
  return h.digest('hex');
}

describe('e2e: critical battery while booting powers off before the journal is opened (EXIT_POWER_OFF)', function () {
  this.timeout(90_000);
  const bench = terminalPerTest('pos-e2e-critical-boot-');

  it('--battery-percent takes 0..100 only', () => {
    assert.deepEqual(batteryAtPowerOn('2'), { battery: { percent: 2 } });
    assert.deepEqual(batteryAtPowerOn(undefined), {});
    for (const bad of ['101', '-1', 'x', '']) assert.throws(() => batteryAtPowerOn(bad), /0\.\.100/);
  });

  it('a first boot at 2%: EXIT_POWER_OFF, the log says E-PWR-02, no journal made', async () => {
    const r = await powerOnWithBattery(bench.dir, bench.host.port, 2);
    assert.equal(r.code, EXIT_POWER_OFF, r.log.slice(-5).join('\n'));
    assert.ok(r.log.some((l) => l.includes('E-PWR-02') && l.includes('critical battery at boot')), 'the reason is logged');
    const journal = join(bench.dir, 'journal');
    assert.ok(!existsSync(journal) || readdirSync(journal).length === 0, 'no journal was begun');
  });

  it('a terminal with a day on it, powered on at 2%: EXIT_POWER_OFF and the journal is byte for byte as it was; at the usual charge it boots and sells on', async () => {
    const { d, dir } = bench;
    await d.powerOn();
    await d.signIn();
    await d.sale('1234');
    assert.equal(await d.powerOff(), 0);
    const before = journalDigest(dir);
    const r = await powerOnWithBattery(dir, bench.host.port, 2);
    assert.equal(r.code, EXIT_POWER_OFF, r.log.slice(-5).join('\n'));
    assert.equal(journalDigest(dir), before, 'the journal was not touched');
    await d.powerOn();
    await d.signIn();
    await d.sale('500');
    assert.equal(await d.powerOff(), 0);
    const day = await journalState(dir);
    assert.deepEqual([...day.txns.values()].map((t) => `${t.amountFen}:${t.status}`), ['1234:approved', '500:approved']);
  });
});

describe('e2e: critical battery powers the terminal off (EXIT_POWER_OFF)', function () {
  this.timeout(90_000);
  const bench = terminalPerTest('pos-e2e-critical-');

  it('at the login screen, nobody signed in: journal closed, EXIT_POWER_OFF', async () => {
    const { d, dir } = bench;
    await d.powerOn();
    await d.until('login');
    assert.equal(await criticalBattery(d), EXIT_POWER_OFF);
    assert.ok((await journalState(dir)).operators.size > 0, 'the journal opens again read-only and holds the first boot\'s operators');
  });

  it('after the recovery menu\'s Restart (a restart inside the process): the battery is still watched, a critical one at the login screen powers off', async () => {
    const { d } = bench;
    await d.powerOn({ holdReset: true });
    await d.adminSignIn();
    await d.screen('recovery');
    await d.keys('7');
    await d.until('login');
    assert.equal(await criticalBattery(d), EXIT_POWER_OFF);
  });

  it('at idle after sign-on: EXIT_POWER_OFF; a SIGTERM (systemctl stop) exits 0', async () => {
    const { d } = bench;
    await d.powerOn();
    assert.equal(await d.powerOff(), 0, 'SIGTERM: a clean stop that must not power the board off');
    await d.powerOn();
    await d.signIn();
    assert.equal(await criticalBattery(d), EXIT_POWER_OFF);
  });
});

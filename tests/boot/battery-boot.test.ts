/**
 * Critical battery while the terminal is still booting (issue 15): the battery is read once after
 * the board's self-test and before the journal is opened; critical, the terminal asks for the power
 * off at once (onShutdown: terminal-main exits EXIT_POWER_OFF, the unit powers the board off) and opens nothing,
 * so no journal can be half-written. A healthy battery boots on to the login screen, and a battery
 * low at boot reaches the machine (the first reading used to be dropped before the machine ran).
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { createSimBoard } from '../../sim/board-sim';
import { silentLogger } from '../../common/log';
import { removeDir, tempDir } from '../../storage/testing';

const WAIT_MS_MAX = 20_000;

async function bootWithBattery(root: string, percent: number, until?: (s: ProbeSnapshot) => boolean): Promise<{ shutdowns: number; reached?: ProbeSnapshot; frame: string }> {
  const sim = await createSimBoard({ battery: { percent } });
  let shutdowns = 0;
  const app = TerminalApp.create({
    board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: 9 },
    logger: silentLogger, scryptN: 1024, onShutdown: () => { shutdowns++; },
  });
  try {
    const reached = until ? new Promise<ProbeSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not reached')), WAIT_MS_MAX);
      const stop = app.probe.onChange((raw) => { if (until(raw as ProbeSnapshot)) { clearTimeout(timer); stop(); resolve(raw as ProbeSnapshot); } });
    }) : undefined;
    await app.boot();
    return { shutdowns, reached: await reached, frame: sim.oled().toAscii() };
  } finally {
    await app.stop();
    await sim.close();
  }
}

describe('boot: critical battery before the journal is opened', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(() => { root = tempDir('posbatboot-'); });
  afterEach(() => removeDir(root));

  it('criticalAtPowerOnAsksForThePowerOffAndOpensNoJournal', async () => {
    const r = await bootWithBattery(root, 2);
    assert.equal(r.shutdowns, 1, 'onShutdown (EXIT_POWER_OFF in terminal-main) asked once');
    const journal = join(root, 'journal');
    assert.ok(!existsSync(journal) || readdirSync(journal).length === 0, 'nothing opened or created in the journal folder');
    assert.ok(r.frame.includes('#'), 'the critical battery screen is on the display');
  });

  it('aHealthyBatteryBootsToLoginAndALowOneReachesTheMachine', async () => {
    const ok = await bootWithBattery(root, 80, (s) => s.state === 'login');
    assert.equal(ok.shutdowns, 0);
    assert.equal(ok.reached?.data.battery, 'ok');
    const low = await bootWithBattery(root, 12, (s) => s.state === 'login' && s.data.battery === 'low');
    assert.equal(low.shutdowns, 0);
    assert.equal(low.reached?.data.battery, 'low');
  });
});

/**
 * `npm start`'s battery pull keeps the control port (issue 13 item 17): the launcher's
 * TerminalPower (boot/start.ts) kills the terminal process and starts it again on the same
 * storage and the same port, so whatever talks to the terminal (the panel, a script, `pos
 * control`) finds it where it was.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess } from 'node:child_process';
import { spawnModule } from '../../common/spawn';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { TerminalPower } from '../../boot/start';
import { ControlClient } from '../../sim/control-client';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { removeDir, tempDir } from '../../storage/testing';

describe('e2e: the control port across battery pulls', function () {
  this.timeout(90_000);
  let host: AcquirerSimulator;
  let dir: string;
  let power: TerminalPower | undefined;
  beforeEach(async () => {
    host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
    dir = tempDir('h-cli-port-');
  });
  afterEach(async () => {
    const child = power?.running?.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await host.close();
    removeDir(dir);
  });

  it('aFreePortChosenAtTheFirstPowerOnIsTheSameAfterEveryPull', async () => {
    const args = (holdReset: boolean, controlPort: number): string[] => [
      '--board', 'sim', '--host-port', String(host.port), '--control-port', String(controlPort), '--journal-dir', join(dir, 'journal'),
      '--backup-dir', join(dir, 'backup'), '--locale', 'en', ...(holdReset ? ['--hold-reset'] : []),
    ];
    power = new TerminalPower(args, () => undefined);
    const first = await power.powerOn();
    assert.ok(first.controlPort > 0);
    for (const holdReset of [false, true]) {
      const again = await power.pull(holdReset);
      assert.notEqual(again.child.pid, first.child.pid, 'a new terminal process');
      assert.equal(again.controlPort, first.controlPort, 'the same control port');
      const client = await ControlClient.connect(first.controlPort);
      try {
        const screen = await client.request('screen');
        assert.equal(screen.ok, true, String(screen.error));
      } finally {
        client.close();
      }
    }
  });
});

describe('e2e: npm start --headless --hold-reset opens the recovery menu; a mistyped option is refused', function () {
  this.timeout(90_000);
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => { dir = tempDir('h-start-'); });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    child = undefined;
    removeDir(dir);
  });

  /** The control port npm start prints once its terminal is up. */
  const controlPortOf = (c: ChildProcess): Promise<number> => new Promise<number>((resolve, reject) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => { out += d.toString(); const m = /control interface 127\.0\.0\.1:(\d+)/.exec(out); if (m) resolve(Number(m[1])); });
    c.once('exit', (code) => reject(new Error(`npm start exited ${code}: ${out}`)));
  });

  const start = (...args: string[]): ChildProcess => spawnModule(join(__dirname, '..', '..', 'boot', 'start'), ['--headless', '--journal-dir', join(dir, 'journal'), '--backup-dir', join(dir, 'backup'), '--locale', 'en', ...args]);

  it('holdResetPowersOnWithTheResetButtonHeldIntoTheRecoveryLogin', async () => {
    child = start('--hold-reset');
    const port = await controlPortOf(child);
    const client = await ControlClient.connect(port);
    try {
      const deadline = Date.now() + 60_000;
      let state: { state?: string; data?: { recoveryReason?: { resetHeld?: boolean } } } | undefined;
      while (Date.now() < deadline) {
        state = (await client.request('state')).state as typeof state;
        if (state?.state === 'recovery.locked') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(state?.state, 'recovery.locked', JSON.stringify(state));
    } finally {
      client.close();
    }
  });

  it('aSecondNpmStartOnTheSameJournalStopsAtOnceAndLeavesTheFirstsControlPortFile', async () => {
    child = start();
    const port = await controlPortOf(child);
    // The terminal takes its lock while it opens the journal: wait for its login screen.
    const client = await ControlClient.connect(port);
    try {
      for (let i = 0; i < 600 && ((await client.request('state')).state as { state?: string } | null)?.state !== 'login'; i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      client.close();
    }
    const second = start();
    let err = '';
    second.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
    assert.equal(code, 2, err);
    assert.match(err, /E-STO-13 the journal .* is in use by terminal process \d+/);
    assert.equal(readFileSync(join(dir, 'control.port'), 'utf8').trim(), String(port), 'the first one\'s control port file is untouched');
  });

  it('aMistypedOptionExitsWithTheUsageCodeNamingIt', async () => {
    child = start('--hold-rest');
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((r) => child!.once('exit', (c) => r(c)));
    assert.equal(code, 64);
    assert.match(err, /unknown option --hold-rest; options: .*--hold-reset/);
  });

  it('aRealBoardFileIsRefusedAtOnceSayingHowToRunARealBoard', async () => {
    // It started the acquirer simulator and a terminal, which refused --control-port on a real
    // board (exit 64): npm start said only "terminal exited before it was ready" and exited 1.
    child = start('--board', 'handheld');
    let err = '';
    let out = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((r) => child!.once('exit', (c) => r(c)));
    assert.equal(code, 64, err);
    assert.match(err, /^npm start: \S*handheld\.json is a real board: npm start runs only a simulator board .*node dist\/boot\/terminal-main\.js --board handheld --host <acquirer> --host-port N.*"Running on a real board"/);
    assert.doesNotMatch(err, /terminal exited|terminal:/, 'no terminal was started');
    assert.equal(out, '', 'nothing ran');
    assert.equal(existsSync(join(dir, 'journal')), false, 'no journal folder made');
    assert.equal(existsSync(join(dir, 'control.port')), false, 'no control port file');
  });
});

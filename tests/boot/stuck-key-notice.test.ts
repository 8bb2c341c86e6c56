/**
 * FIELD-FAULTS "Abnormal user state: keypad key broken or stuck", on the terminal in this process
 * over the simulator board's real matrix driver (its keys pressed on the simulated contact matrix)
 * and an acquirer simulator: a key held past the board's stuckMs is reported stuck and named on
 * the screen's notice row ("Key 5 stuck" / "按键5卡住", not a bare E-KBD-01), the report ends
 * when it is released, and a key held at power-on is reported the same way. A stuck key types
 * once, at its press, like any key (boot/terminal-app.ts watchKeys says why), and never again:
 * not while it is held, not at its release.
 *
 * The board file is the simulator's with keypad0.stuckMs at the schema's least, 2 s.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalApp, ProbeSnapshot } from '../../boot/terminal-app';
import { boardFilePath } from '../../hal/board';
import { createSimBoard, SimBoard } from '../../sim/board-sim';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { silentLogger } from '../../common/log';
import { removeDir, tempDir } from '../../storage/testing';
import { tr } from '../../ui-lcd/strings';
import type { KeyName } from '../../hal/keypad';

const WAIT_MS_MAX = 20_000;
/** The board's stuckMs here (the schema's least). */
const STUCK_MS = 2_000;
/** Held this long past stuckMs: the driver's report is in (it is checked at every scan of a held key). */
const PAST_STUCK_MS = STUCK_MS + 700;
/** Longer than the board's debounce: a press the matrix driver reports. */
const KEY_HOLD_MS = 80;

function boardWithShortStuck(dir: string): string {
  const j = JSON.parse(readFileSync(boardFilePath('sim'), 'utf8')) as { devices: { keypad0: { stuckMs: number } } };
  j.devices.keypad0.stuckMs = STUCK_MS;
  const file = join(dir, 'sim-stuck.json');
  writeFileSync(file, JSON.stringify(j));
  return file;
}

describe('terminal: a stuck key is named on the screen and types no more', function () {
  this.timeout(90_000);
  let root: string;
  let host: AcquirerSimulator;
  let sim: SimBoard;
  let app: TerminalApp;
  let latest: ProbeSnapshot | undefined;

  const screenText = (): string => (latest?.screen.text ?? []).join('\n');
  const until = (what: string, test: (s: ProbeSnapshot) => boolean): Promise<ProbeSnapshot> => {
    if (latest && test(latest)) return Promise.resolve(latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error(`${what}: not reached; at ${latest?.state}, the screen shows:\n${screenText()}`)); }, WAIT_MS_MAX);
      const stop = app.probe.onChange((raw) => {
        const s = raw as ProbeSnapshot;
        if (test(s)) { clearTimeout(timer); stop(); resolve(s); }
      });
    });
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const press = async (key: KeyName): Promise<void> => {
    sim.keypad().press(key);
    await sleep(KEY_HOLD_MS);
    sim.keypad().release(key);
    await sleep(KEY_HOLD_MS);
  };
  const type = async (keys: KeyName[]): Promise<void> => { for (const k of keys) await press(k); };

  async function boot(o: { holdAtPowerOn?: KeyName } = {}): Promise<void> {
    sim = await createSimBoard({ board: boardWithShortStuck(root), battery: { percent: 80 }, ...(o.holdAtPowerOn ? { beforeBoot: (s: SimBoard) => s.keypad().press(o.holdAtPowerOn as KeyName) } : {}) });
    app = TerminalApp.create({
      board: sim.board, journalDir: join(root, 'journal'), backupDir: join(root, 'backup'), host: { host: '127.0.0.1', port: host.port },
      logger: silentLogger, scryptN: 1024, locale: 'en',
    });
    app.probe.onChange((raw) => { latest = raw as ProbeSnapshot; });
    await app.boot();
    await until('the login screen', (s) => s.state === 'login');
  }

  async function signIn(): Promise<void> {
    await type(['0', '1', 'OK', '0', '0', '0', '0', 'OK']);
    await until('idle', (s) => s.state === 'idle');
  }

  beforeEach(async () => {
    root = tempDir('posstuckkey-');
    host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
  });
  afterEach(async () => {
    await app?.stop();
    await sim?.close();
    await host.close();
    removeDir(root);
    latest = undefined;
  });

  it('theNoticeNamesTheKeyInBothLanguages', () => {
    assert.equal(tr('notice.keyStuck', 'en', { keys: '5' }), 'Key 5 stuck');
    assert.equal(tr('notice.keyStuck', 'zh-CN', { keys: '5' }), '按键5卡住');
    assert.equal(tr('notice.keysStuck', 'en', { keys: '5 OK' }), 'Keys 5 OK stuck');
  });

  it('aKeyHeldPastStuckMsAtIdleIsNamedStaysNamedThroughOtherKeysAndTheNoticeEndsAtItsRelease', async () => {
    await boot();
    await signIn();
    // CLEAR does nothing at idle: the screen stays idle, its notice row is the one to read.
    sim.keypad().press('CLEAR');
    await sleep(STUCK_MS / 2);
    assert.doesNotMatch(screenText(), /stuck/, 'not stuck before stuckMs');
    await until('the stuck notice', (s) => s.state === 'idle' && s.screen.text.join('\n').includes('Key CLEAR stuck'));
    assert.doesNotMatch(screenText(), /E-KBD-01/, 'the key named, not a bare code');
    await press('DOWN');
    assert.match(screenText(), /Key CLEAR stuck/, 'still stuck after another key');
    sim.keypad().release('CLEAR');
    await until('the notice cleared by the release', (s) => s.state === 'idle' && !s.screen.text.join('\n').includes('stuck'));
  });

  it('aDigitHeldPastStuckMsTypesOnceAtItsPressAndNeitherItsHoldNorItsReleaseTypesAgain', async () => {
    await boot();
    await signIn();
    sim.keypad().press('5');
    await until('the sale started by the press', (s) => s.state === 'sale.amount' && s.screen.text.join('\n').includes('0.05'));
    await sleep(PAST_STUCK_MS + 500);
    assert.equal(latest?.state, 'sale.amount');
    assert.match(screenText(), /0\.05/);
    assert.doesNotMatch(screenText(), /0\.55|5\.55/, 'no repeat while held');
    sim.keypad().release('5');
    await sleep(300);
    assert.match(screenText(), /0\.05/);
    assert.doesNotMatch(screenText(), /0\.55/, 'nothing typed at the release');
    await press('CANCEL');
    await until('idle without a stuck notice', (s) => s.state === 'idle' && !s.screen.text.join('\n').includes('stuck'));
  });

  it('aKeyHeldAtPowerOnIsNamedTypesNothingAndItsReleaseEndsTheNotice', async () => {
    await boot({ holdAtPowerOn: '5' });
    const s = await until('the stuck notice at login', (x) => x.screen.text.join('\n').includes('Key 5 stuck'));
    assert.equal(s.state, 'login');
    assert.doesNotMatch(screenText(), /E-KBD-01/, 'the key named, not the self-test\'s bare code');
    await sleep(500);
    sim.keypad().release('5');
    await until('the notice cleared', (x) => x.state === 'login' && !x.screen.text.join('\n').includes('stuck'));
    // Nothing was typed: the operator number is still empty, so a login from scratch works.
    await signIn();
  });
});

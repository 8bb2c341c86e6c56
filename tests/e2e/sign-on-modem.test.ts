/**
 * The sign-on failure screen with the 4G modem (issue 12 item 1): the terminal process on the
 * simulator board, whose modem0 is the real Quectel driver over a simulated cable to the module
 * model (sim/chips/quectel-modem-model.ts), set through the control interface's `modem` command.
 * When the sign-on fails, the screen shows the modem's fault first with the error list's guided
 * steps (SIM PIN, no SIM, no signal, roaming refused), then SIM, signal, registration and APN; the
 * SIM's PIN is typed on the SIM PIN screen (key 2), a wrong one shows the attempts left, the right
 * one unlocks the SIM and signs on again.
 */
import { strict as assert } from 'node:assert';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { tempDir, removeDir } from '../../storage/testing';
import { Driver } from './driver';

describe('e2e: the 4G modem on the sign-on failure screen, and the SIM PIN entry', function () {
  this.timeout(180_000);
  let host: AcquirerSimulator;
  const dirs: string[] = [];
  let d: Driver;

  before(async () => {
    host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
    dirs.push(tempDir('pos-e2e-signon-modem-'));
    d = new Driver(host, dirs[0], 'en');
    await d.powerOn();
  });
  after(async () => {
    await d?.powerOff().catch(() => undefined);
    await host?.close();
    for (const x of dirs) removeDir(x);
  });

  /**
   * Logs in with the host not answering: the sign-on fails. Returns the failure screen's content,
   * every page, without the title and footer rows, its rows joined (a line wrapped on the 16-column
   * display reads whole again).
   */
  async function failedSignOn(): Promise<string> {
    host.setFault({ kind: 'close-before-response', count: Infinity });
    await d.until('login');
    await d.typeLogin('cashier');
    await d.until('hostUnreachable');
    // The modem is read when the sign-on fails: its lines (the SIM's first) may arrive a moment
    // later and add pages. (Waiting for the page count to change waited 10 s every time: the lines
    // were there when the screen was.)
    const deadline = Date.now() + MODEM_LINES_MS_MAX;
    for (;;) {
      const text = content(await d.pages('hostUnreachable'));
      if (/4G SIM: /.test(text) || Date.now() > deadline) return text;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** CANCEL on the failure screen: the login screen, after the sign-on's error is read (OK). */
  async function backToLogin(): Promise<void> {
    await d.keys('CANCEL');
    await d.until('login');
    // The sign-on's error shows first on the login screen: OK reads it. Done once the number prompt stays up.
    let steady = 0;
    const deadline = Date.now() + 10_000;
    while (steady < 3 && Date.now() < deadline) {
      const snap = await d.snapshot();
      if (snap.screen.name === 'error') { await d.keys('OK'); steady = 0; } else steady = snap.screen.name === 'login' && snap.screen.text.join(' ').includes('Operator no.') ? steady + 1 : 0;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('SIM PIN locked: E-NET-09 and its steps first, the SIM state and attempts; key 2, a wrong PIN shows the attempts left; the right one signs on', async () => {
    await d.cmd('modem', { sim: 'pin' });
    const text = await failedSignOn();
    assert.match(text, /E-NET-09 SIM card PIN required/);
    assert.match(text, /- Enter the SIM PIN \(attempts are limited\)/);
    assert.match(text, /2: enter SIM PIN/);
    assert.match(text, /4G SIM: PIN required/);
    assert.match(text, /3 PIN attempts left/);
    assert.ok(text.indexOf('E-NET-09') < text.indexOf('Reversal') || !text.includes('Reversal'), 'the modem\'s fault comes first');
    await d.keys('2');
    await d.screen('simPin');
    await d.keys('9999OK');
    const refused = await d.screen('simPin');
    let last: string[] = [];
    // Wait on the first page (no keys pressed meanwhile), then read every page.
    await waitFor(async () => { last = await d.screen('simPin'); return last.join(' ').includes('2 PIN attempts'); }, () => `attempts left after a wrong PIN: ${JSON.stringify(last)}`);
    last = await d.pages('simPin');
    assert.match(content(last), /2 PIN attempts left/);
    assert.match(content(last), /Wrong PIN: E-NET-09/);
    assert.ok(!refused.join('\n').includes('9999'), 'the PIN is never shown');
    host.clearFaults();
    await d.keys('1234OK'); // the model's PIN
    await d.until('idle');
  });

  it('no SIM, no signal, roaming refused: each its code and guided steps on the failure screen', async () => {
    // A factory-fresh terminal (the first one signed on: it would go straight to idle now).
    await d.powerOff();
    dirs.push(tempDir('pos-e2e-signon-modem-'));
    d = new Driver(host, dirs[dirs.length - 1], 'en');
    await d.powerOn();
    await d.until('login');
    await d.cmd('modem', { sim: 'removed' });
    let text = await failedSignOn();
    assert.match(text, /E-NET-08 No SIM card/);
    assert.match(text, /- Power off, insert the SIM card/);
    assert.match(text, /4G SIM: none/);
    await backToLogin();
    await d.cmd('modem', { sim: 'inserted', csq: 99, registration: 'searching' });
    text = await failedSignOn();
    assert.match(text, /E-NET-11 No mobile signal/);
    assert.match(text, /- Move near a window or outdoors/);
    assert.match(text, /signal: none/);
    await backToLogin();
    await d.cmd('modem', { csq: 20, registration: 'denied' });
    text = await failedSignOn();
    assert.match(text, /E-NET-12 Mobile network refused the SIM/);
    assert.match(text, /network: refused/);
    assert.match(text, /APN cmnet/);
    await backToLogin();
    // A healthy modem: no fault, its state after the host's lines.
    await d.cmd('modem', { registration: 'home' });
    text = await failedSignOn();
    assert.doesNotMatch(text, /E-NET-(0[89]|1[0-7])/);
    assert.match(text, /4G SIM: ready/);
    assert.match(text, /network: registered/);
    host.clearFaults();
    // (No retry to idle here: this second terminal's STAN 1 is one the host already saw, answered 94.)
  });
});

/** From the failure screen to the modem's lines on it (read when the sign-on fails). */
const MODEM_LINES_MS_MAX = 10_000;

/**
 * A paged screen's body: every page without its title and footer rows (128x64: title, two lines,
 * footer), the rows joined, so a line wrapped on the 16-column display reads whole again.
 */
function content(rows: readonly string[]): string {
  const perPage = 4;
  const body: string[] = [];
  for (let i = 0; i < rows.length; i += perPage) body.push(...rows.slice(i + 1, i + perPage - 1));
  return body.join(' ').replace(/\s+/g, ' ');
}

async function waitFor(check: () => Promise<boolean>, what: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what()}: not seen in ${timeoutMs} ms`);
}

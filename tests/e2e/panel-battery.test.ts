/**
 * One battery figure: the front panel's and the LCD's both come from the terminal's fuel gauge
 * (the panel once showed its own assumed 100 % while the LCD read the gauge's 80 %, and kept an
 * old level after a battery pull). And the display test says what it is in words.
 */
import { strict as assert } from 'node:assert';
import { FrontPanel } from '../../sim/front-panel';
import { terminalPerTest } from './driver';

/** The panel drawn once, through its own refresh (what `npm start` shows). */
async function panelText(panel: FrontPanel, out: string[]): Promise<string> {
  out.length = 0;
  await (panel as unknown as { refresh(): Promise<void> }).refresh();
  return out.join('');
}

/** The LCD's battery as the idle screen says it ("Battery 80%"). */
function lcdPercent(text: readonly string[]): number | undefined {
  const m = /Battery (\d+)%/.exec(text.join(' '));
  return m ? Number(m[1]) : undefined;
}

describe('e2e: the front panel and the LCD show one battery level', function () {
  this.timeout(60_000);
  const bench = terminalPerTest('pos-e2e-battery-');

  it('thePanelShowsTheGaugesLevelAsTheLcdDoesBeforeAndAfterAChange', async () => {
    const d = bench.d;
    const run = await d.powerOn();
    await d.until('login');
    await d.typeLogin('cashier');
    const idle = await d.until('idle', (s) => lcdPercent(s.screen.text) !== undefined);
    const out: string[] = [];
    const panel = new FrontPanel(run.client, { pullBattery: async () => run.client, quit: () => undefined, hostPort: bench.host.port, controlPort: () => run.controlPort }, (s) => out.push(s));
    const lcd = lcdPercent(idle.screen.text);
    assert.match(await panelText(panel, out), new RegExp(`battery ${lcd}%`), `LCD ${lcd}%`);

    await panel.key('b');
    const after = await d.until('idle', (s) => lcdPercent(s.screen.text) !== lcd);
    const lcdAfter = lcdPercent(after.screen.text);
    assert.ok(lcdAfter !== undefined && lcdAfter < (lcd ?? 0), `the level went down: ${lcdAfter}`);
    assert.match(await panelText(panel, out), new RegExp(`battery ${lcdAfter}%`));
    await d.powerOff();
  });

  it('theDisplayTestNamesItselfInWordsNotByItsInternalName', async () => {
    const d = bench.d;
    await d.powerOn();
    await d.signIn();
    await d.keys('MENU8');
    await d.until('idle', (s) => s.overlay?.name === 'diagnostics' && s.overlay.complete === true);
    await d.keys('6');
    const shown = await d.until('idle', (s) => s.screen.id === 'diagnostics:display');
    // The words wrap at the display's width (at a space, never inside a word).
    assert.equal(shown.screen.text.filter((l) => l.trim() !== '').join(' '), 'Display test OK if even, else CANCEL');
    await d.keys('OK');
    await d.powerOff();
  });
});

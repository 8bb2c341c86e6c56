/**
 * The terminal restarted against an acquirer that holds none of its working keys: `npm start`
 * starts a new acquirer simulator every time, and a real host can lose or change a terminal's keys.
 * With `--sign-on-at-login` (what npm start passes) the first login signs on and the first sale is
 * approved. Without it the host answers the first sale A0 (MAC): the sale is reversed, and the
 * terminal signs on by itself before the reversal goes again, so the next sale is approved (it
 * used to stop at E-HOST-08 for good: no sign-on had been made in that run).
 */
import { strict as assert } from 'node:assert';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { removeDir, tempDir } from '../../storage/testing';
import { Driver } from './driver';

describe('e2e: a restart against an acquirer that lost the keys', function () {
  this.timeout(120_000);
  let dir: string;
  const hosts: AcquirerSimulator[] = [];
  let d: Driver | undefined;
  const newHost = async (): Promise<AcquirerSimulator> => {
    const h = new AcquirerSimulator({ clock: Date.now });
    await h.listen(0);
    hosts.push(h);
    return h;
  };
  /** A terminal that signed on and sold once against its first acquirer, then was switched off. */
  beforeEach(async () => {
    dir = tempDir('e2e-new-acquirer-');
    d = new Driver(await newHost(), dir);
    await d.powerOn();
    await d.signIn();
    await d.sale(100);
    await d.powerOff();
  });
  afterEach(async () => {
    await d?.powerOff().catch(() => undefined);
    for (const h of hosts.splice(0)) await h.close();
    removeDir(dir);
  });

  it('withSignOnAtLoginTheFirstLoginSignsOnAndTheFirstSaleIsApproved', async () => {
    const host = await newHost();
    d = new Driver(host, dir);
    await d.powerOn({ signOnAtLogin: true });
    await d.signIn();
    assert.ok(host.requests().some((q) => q.type === 'signOn' && q.code === '00'), 'signed on at the login');
    await d.sale(200);
    assert.equal(host.requests().filter((q) => q.type === 'sale').map((q) => q.code).join(','), '00');
  });

  it('withoutItTheFirstSaleIsReversedAfterA0AndTheTerminalSignsOnByItself', async () => {
    const host = await newHost();
    d = new Driver(host, dir);
    await d.powerOn();
    await d.signIn();
    await d.keys('200OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    const failed = await d.until('sale.result', (s) => s.data.error?.code === 'E-HOST-03' || s.data.result !== undefined);
    assert.equal(failed.data.error?.code, 'E-HOST-03', 'the host could not check the MAC');
    assert.ok(host.requests().some((q) => q.type === 'signOn' && q.code === '00'), 'signed on by itself after the A0');
    assert.ok(host.requests().some((q) => q.type === 'reversal' && q.code !== 'A0'), 'the reversal went again under the new keys');
    await d.keys('OK');
    await d.until('idle');
    await d.sale(300);
    assert.ok(host.requests().some((q) => q.type === 'sale' && q.code === '00'), 'the next sale is approved');
  });
});

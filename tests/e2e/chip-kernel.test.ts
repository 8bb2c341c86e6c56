/**
 * The EMV kernel in the terminal process on the simulator board (issue 11): the first sign-on
 * downloads the acquirer simulator's CA keys and AIDs, and chip sales run against the card models
 * through the virtual card reader: the card whose issuer denies a failed DDA shows E-RDR-09, the
 * card pulled out at GENERATE AC shows E-RDR-05 (card removed too early), and the IC test card's
 * sale goes online with DDA passed under the downloaded key (the TVR in the 0200 the host got).
 */
import { strict as assert } from 'node:assert';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { IsoMessage, bytesField, textField, unpackFrame } from '../../runtime/host/packager';
import { primitives } from '../../runtime/txn/emv';
import { TVR, hasTvrBit } from '../../runtime/txn/emv-tvr';
import { tempDir, removeDir } from '../../storage/testing';
import { Driver } from './driver';

describe('e2e: chip sales through the EMV kernel (terminal process, simulator board, acquirer simulator)', function () {
  this.timeout(120_000);
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  const frames: IsoMessage[] = [];

  before(async () => {
    host = new AcquirerSimulator({ clock: Date.now });
    const handle = host.handle.bind(host);
    host.handle = (frame: Buffer) => { frames.push(unpackFrame(CUP_PROFILE, Buffer.from(frame)).message); return handle(frame); };
    await host.listen(0);
    dir = tempDir('pos-e2e-chip-');
    d = new Driver(host, dir, 'en');
  });
  after(async () => {
    await d?.powerOff().catch(() => undefined);
    await host?.close();
    if (dir) removeDir(dir);
  });

  async function chipSaleShowsError(amountKeys: string, card: string, code: string): Promise<void> {
    await d.keys(`${amountKeys}OK`);
    await d.until('sale.card');
    await d.cmd('insert', { card });
    await d.until('sale.cardError');
    const text = await d.screen('error');
    assert.ok(text.some((l) => l.includes(code)), `${card}: ${text.join('|')}`);
    await d.cmd('remove');
    await d.keys('CANCEL');
    await d.until('idle');
  }

  it('ODA failed and denied: E-RDR-09; pulled out: E-RDR-05; neither reaches the host; the IC card then sells with DDA passed', async () => {
    await d.powerOn();
    await d.until('login');
    await d.keys('01OK0000OK');
    await d.until('idle');
    const sales = (): IsoMessage[] => frames.filter((m) => m.mti === '0200' && textField(m, 3) === '000000');

    await chipSaleShowsError('1100', 'icOdaDeclined', 'E-RDR-09');
    await chipSaleShowsError('1200', 'icPulled', 'E-RDR-05');
    assert.equal(sales().length, 0, 'nothing sent for either');

    await d.keys('3400OK');
    await d.until('sale.card');
    await d.cmd('insert', { card: 'icDebit' });
    await d.until('sale.pin');
    await d.keys('2468OK');
    await d.until('sale.askCustomerCopy');
    assert.equal(sales().length, 1);
    const tvr = primitives(bytesField(sales()[0], 55) as Buffer).get(0x95) as Buffer;
    assert.equal(hasTvrBit(tvr, TVR.ddaFailed) || hasTvrBit(tvr, TVR.odaNotPerformed), false, `TVR ${tvr.toString('hex')}: DDA passed under the CA key downloaded at sign-on`);
  });
});

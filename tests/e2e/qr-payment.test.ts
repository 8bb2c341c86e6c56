/**
 * QR payments through the terminal process, as a person and a customer do it: keys on the keypad,
 * the customer's code shown to the scan engine (control `scan`), the terminal's code paid from the
 * customer's phone (control `qr-pay`, which the acquirer simulator of this process applies).
 */
import { strict as assert } from 'node:assert';
import { terminalPerTest } from './driver';
import { TEST_TERMINAL } from '../../sim/host/simulator';

describe('e2e: QR payments through keys and the control interface', function () {
  this.timeout(120_000);
  const bench = terminalPerTest('pos-e2e-qr-');

  it('被扫 with the scanner, then 主扫 paid from the phone: both approved, on the host and on the slips', async () => {
    const d = bench.d;
    await d.powerOn();
    await d.signIn();
    // Main menu item 11 (UP from the first item wraps to it), then 1 QR payment.
    await d.keys('MENU');
    await d.keys('UP');
    await d.keys('OK');
    await d.keys('1');
    await d.until('qr.amount');
    await d.keys('1234OK');
    await d.until('qr.mode');
    await d.keys('1');
    await d.until('qr.scan');
    const scanned = await d.cmd('scan', { code: '6212345678901234567' });
    assert.equal(JSON.stringify(scanned).includes('6212345678901234567'), false, 'the reply never echoes the code');
    await d.until('qr.askCustomerCopy');
    await d.keys('2');
    await d.until('idle');

    await d.keys('MENU');
    await d.keys('UP');
    await d.keys('OK');
    await d.keys('1');
    await d.until('qr.amount');
    await d.keys('500OK');
    await d.until('qr.mode');
    await d.keys('2');
    const shown = await d.until('qr.waiting', (s) => typeof s.data.qr?.content === 'string');
    assert.equal(shown.screen.name, 'qrWait');
    await d.cmd('qr-pay', { wallet: 'WX' });
    const paid = await d.until('qr.askCustomerCopy');
    assert.equal(paid.data.result?.txn?.qr?.wallet, 'WX');
    await d.keys('2');
    await d.until('idle');

    const sales = bench.host.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.type === 'qrSale' && e.status === 'approved');
    assert.deepEqual(sales.map((e) => e.amountFen), [1234, 500]);
    const slips = (await d.receipts()).map((r) => r.join('\n'));
    assert.ok(slips.some((s) => s.includes('QR SALE') && s.includes('WALLET: UnionPay')), slips.join('\n---\n'));
    assert.ok(slips.every((s) => !s.includes('6212345678901234567')), 'no slip carries the payment code');
  });
});

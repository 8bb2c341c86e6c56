/**
 * A full trading day on the simulator board, driven only through the control interface, as the
 * front panel drives it: the terminal is the real `npm start` child process, the acquirer
 * simulator runs here. Keys are keypad presses; cards are presented at the virtual reader; the
 * screen is read back as the terminal drew it (name and text); receipts are read from the
 * virtual printer. At the end the host's ledger and the journal (read after a clean shutdown)
 * agree on every transaction, and the settlement balanced.
 */
import { strict as assert } from 'node:assert';
import { AcquirerSimulator, SIM_PARAMETERS_DEFAULT } from '../../sim/host/simulator';
import { TEST_CARDS } from '../../sim/test-cards';
import { tempDir, removeDir } from '../../storage/testing';
import { Driver, journalState, assertLedgerAgrees } from './driver';

describe('e2e: a trading day through the control interface (terminal process, simulator board, acquirer simulator)', function () {
  this.timeout(120_000);
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;

  before(async () => {
    host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
    dir = tempDir('pos-e2e-day-');
    d = new Driver(host, dir, 'en');
  });
  after(async () => {
    await d?.powerOff().catch(() => undefined);
    await host?.close();
    if (dir) removeDir(dir);
  });

  /** Cashier's customer-copy and signature steps after an approval; returns the approved STAN. */
  async function finishSale(customerCopy: boolean): Promise<number> {
    const s = await d.until('sale.askCustomerCopy');
    assert.equal(s.screen.name, 'customerCopy');
    const stan = s.data.result?.stan as number;
    await d.keys(customerCopy ? '1' : '2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    return stan;
  }

  async function supervisor(path: string): Promise<void> {
    await d.until(path);
    const text = await d.screen('login');
    assert.ok(text.some((l) => l.includes('Operator')), `supervisor login screen: ${text.join('|')}`);
    await d.keys('99OK9999OK');
  }

  it('login, sign-on, sales by swipe, chip and tap, duplicate warning, void, refund, reprint, paper out, settlement; ledger = journal', async () => {
    await d.powerOn();
    // ---- login (cashier 01 / 0000) and sign-on
    await d.until('login');
    assert.deepEqual((await d.screen('login')).slice(0, 2), ['Operator login', 'Operator no.']);
    await d.keys('01OK');
    await d.until('login', (s) => s.screen.text.includes('Password'));
    await d.keys('0000');
    assert.ok((await d.screen('login')).some((l) => l.includes('****')), 'password masked');
    await d.keys('OK');
    const idle = await d.until('idle');
    assert.equal(idle.data.signedOn, true);
    assert.equal(idle.data.operator, '001');
    // Idle's title: the merchant's name the acquirer downloaded at sign-on, as the receipts print it.
    assert.ok((await d.screen('idle')).includes(SIM_PARAMETERS_DEFAULT.merchantName!), 'the host\'s merchant name at idle');

    // ---- sale 1: digits from idle start the amount entry; swipe (no PIN for a magnetic debit card here)
    await d.keys('1200');
    assert.ok((await d.screen('saleAmount')).some((l) => l.includes('12.00')), 'amount shifts in from the right');
    await d.keys('OK');
    assert.ok((await d.screen('presentCard')).some((l) => l.includes('12.00')));
    await d.cmd('swipe', { card: 'magDebit' });
    const stan1 = await finishSale(true);
    let receipts = await d.receiptsAtLeast(2);
    assert.equal(receipts.length, 2, 'merchant and customer copies');
    assert.ok(receipts[0].some((l) => /622202\*+0128/.test(l)), 'masked PAN on the receipt (the test card 6222021234567890128)');
    // The swiped test card's number (sim/test-cards.ts): masked on every slip.
    assert.ok(!receipts.flat().some((l) => l.includes(TEST_CARDS.magDebit.track2.split('=')[0])), 'never the full PAN');

    // ---- sale 2: chip, PIN
    await d.keys('3400OK');
    await d.until('sale.card');
    await d.cmd('insert', { card: 'icDebit' });
    await d.until('sale.pin');
    await d.keys('2468');
    const pinScreen = await d.screen('pin');
    // Strings only: a number in the snapshot (a timestamp in ms) may hold the digits 2468 by chance
    // (it did with the clock at 2038-12-31 under libfaketime); a PIN would travel as text.
    const textOnly = JSON.stringify(await d.snapshot(), (_k, v: unknown) => (typeof v === 'number' ? 0 : v));
    assert.ok(pinScreen.some((l) => l.includes('****')), 'PIN masked on the screen');
    assert.ok(!textOnly.includes('2468'), `PIN never in a snapshot: ${textOnly.slice(Math.max(0, textOnly.indexOf('2468') - 80), textOnly.indexOf('2468') + 20)}`);
    await d.keys('10OK');
    const s2 = await d.until('sale.askCustomerCopy');
    const sale2 = s2.data.result?.txn;
    await d.keys('2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    await d.cmd('remove');

    // ---- sale 3: contactless, PIN
    await d.keys('5600OK');
    await d.until('sale.card');
    await d.cmd('tap', { card: 'contactless' });
    await d.until('sale.pin');
    await d.keys('246810OK');
    await finishSale(false);

    // ---- the same card and amount again: the earlier approval is shown first; CANCEL stops it
    await d.keys('1200OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    await d.until('sale.duplicateWarning');
    const dup = await d.screen('duplicateWarning');
    assert.ok(dup.some((l) => l.includes(String(stan1).padStart(6, '0'))), `duplicate screen names the earlier trace: ${dup.join('|')}`);
    await d.keys('CANCEL');
    await d.until('idle');

    // ---- void of sale 1 (menu item 2), supervisor 99 / 9999
    await d.keys('MENU');
    assert.equal((await d.screen('mainMenu'))[0].startsWith('Main menu'), true);
    await d.keys('2');
    await supervisor('void.authorize.ask');
    await d.until('void.trace');
    await d.keys(`${stan1}OK`);
    await d.until('void.confirm');
    assert.ok((await d.screen('voidConfirm')).some((l) => l.includes('12.00')));
    await d.keys('OK');
    await d.until('void.askCustomerCopy');
    await d.keys('2');
    await d.until('idle');

    // ---- refund against sale 2, part of it: its trace number fills the reference number and date from the journal
    await d.keys('MENU3');
    await supervisor('refund.authorize.ask');
    await d.until('refund.details');
    await d.screen('refundTrace');
    await d.keys(`${sale2?.stan}OK`);
    assert.ok((await d.screen('refundReference')).some((l) => l.includes(String(sale2?.rrn))), 'reference number from the journal');
    await d.keys('OK');
    assert.ok((await d.screen('refundDate')).some((l) => l.includes(String(sale2?.hostDate))), 'original date from the journal');
    await d.keys('OK');
    assert.ok((await d.screen('refundAmount')).some((l) => l.includes('34.00')), 'the sale amount as the default');
    await d.keys('CLEAR400OK');
    await d.until('refund.card');
    await d.cmd('tap', { card: 'contactless' });
    await d.until('refund.askCustomerCopy');
    await d.keys('2');
    await d.until('idle');

    // ---- reprint of sale 2 by trace number: marked as a duplicate, never sent to the host again
    const sentBefore = host.ledger.entries({}).length;
    const before = (await d.receipts()).length;
    await d.keys('MENU5');
    await d.screen('reprint');
    await d.keys('2');
    await d.screen('reprintTrace');
    await d.keys(`${sale2?.stan}OK`);
    await d.screen('reprintCopy');
    await d.keys('1');
    await d.until('idle');
    receipts = await d.receiptsAtLeast(before + 1);
    assert.equal(receipts.length, before + 1, `receipts ${before} -> ${receipts.length}: ${JSON.stringify(receipts.at(-1))}`);
    assert.ok(receipts[receipts.length - 1].some((l) => /DUPLICATE/.test(l)), 'the reprint is marked');
    assert.equal(host.ledger.entries({}).length, sentBefore, 'a reprint never charges again');

    // ---- paper out: the sale completes; every copy waits and prints when paper is back, in
    // order (merchant, customer, then the signature step), and the screen names the waiting copy
    await d.cmd('paper', { state: 'out' });
    await d.keys('700OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    const out = await d.until('paperOut');
    const paperText = await d.pages('paperOut');
    assert.ok(paperText.some((l) => l.startsWith('Paper out')), paperText.join('|'));
    assert.ok(paperText.some((l) => l.includes('Merchant copy')), `names the merchant copy: ${paperText.join('|')}`);
    const paperSale = out.data.result?.stan as number;
    assert.equal(host.ledger.entries({}).find((e) => e.stan === paperSale)?.status, 'approved', 'the sale itself completed');
    const printedBefore = (await d.receipts()).length;
    await d.cmd('paper', { state: 'loaded' });
    await d.until('sale.askCustomerCopy');
    receipts = await d.receiptsAtLeast(printedBefore + 1);
    assert.equal(receipts.length, printedBefore + 1, 'the waiting merchant copy printed once paper was back');
    // The roll ends again before the customer copy: it waits too, and the screen says so.
    await d.cmd('paper', { state: 'out' });
    await d.keys('1');
    await d.until('paperOut');
    // The customer's copy waits: the display offers it as an e-receipt QR code (the host's DF1A).
    const customerText = await d.pages('paperOut');
    assert.deepEqual(customerText, ['Paper out', 'Customer:', 'scan for', 'e-receipt'], 'names the customer copy and offers the e-receipt');
    await d.cmd('paper', { state: 'loaded' });
    await d.until('sale.signature');
    receipts = await d.receiptsAtLeast(printedBefore + 2);
    assert.equal(receipts.length, printedBefore + 2, 'the customer copy printed once paper was back');
    assert.ok(receipts[receipts.length - 1].some((l) => /CUSTOMER COPY/.test(l)), receipts[receipts.length - 1].join('|'));
    await d.keys('OK');
    await d.until('idle');

    // ---- paper out, and the operator cancels the paper-out screen: the signature step still
    // comes; the merchant copy waits and prints once the printer's paper sensor is back to OK at
    // idle (issue 13 item 11), as the original (it never printed)
    await d.cmd('paper', { state: 'out' });
    await d.keys('800OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    const cancelled = (await d.until('paperOut')).data.result?.stan as number;
    await d.keys('CANCEL');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    const waitingBefore = (await d.receipts()).length;
    await d.cmd('paper', { state: 'loaded' });
    // The merchant copy printed late, and the sale never asked for its customer copy: offered now.
    const offer = await d.screen('customerCopyOffer');
    assert.ok(offer.some((l) => l.includes(String(cancelled).padStart(6, '0'))), offer.join('|'));
    receipts = await d.receiptsAtLeast(waitingBefore + 1);
    assert.equal(receipts.length, waitingBefore + 1, 'the waiting merchant copy printed when paper was back');
    const late = receipts[receipts.length - 1];
    assert.ok(late.some((l) => /MERCHANT COPY/.test(l)) && late.some((l) => l.includes(String(cancelled).padStart(6, '0'))), late.join('|'));
    assert.ok(!late.some((l) => /DUPLICATE/.test(l)), 'printed as the original');
    await d.keys('OK');
    await d.until('idle');
    receipts = await d.receiptsAtLeast(waitingBefore + 2);
    const offered = receipts[receipts.length - 1];
    assert.ok(offered.some((l) => /CUSTOMER COPY/.test(l)) && !offered.some((l) => /DUPLICATE/.test(l)), `the customer copy offered, as the original: ${offered.join('|')}`);

    // ---- settlement (menu 6), supervisor
    await d.keys('MENU6');
    await supervisor('settlement.authorize.ask');
    // The totals first (3 sales, one voided and not counted), OK sends them.
    const asked = await d.until('settlement.confirm');
    assert.equal(asked.data.settlementTotals?.saleCount, 4);
    await d.keys('OK');
    const settled = await d.until('settlement.result');
    const result = await d.screen('settlementResult');
    assert.ok(result.includes('Balanced'), `settlement: ${result.join('|')}`);
    await d.keys('DOWN');
    const page2 = await d.until('settlement.result', (s) => s.screen.text.some((l) => l.startsWith('Sales')));
    assert.ok(page2.screen.text.some((l) => /Sales 4 /.test(l)), `4 sales counted (one voided): ${page2.screen.text.join('|')}`);
    assert.ok((await d.receiptsAtLeast(waitingBefore + 2)).at(-1)?.some((l) => /SETTLE|结算/i.test(l)), 'settlement report printed');
    await d.keys('OK');
    await d.until('idle');

    // ---- clean shutdown; the journal and the host agree
    assert.equal(await d.powerOff(), 0);
    const day = await journalState(dir, true);
    assertLedgerAgrees(host, day, settled.data.settlement?.batch as number);
    const after = await journalState(dir);
    assert.equal(after.lastClosed?.verdict, 'balanced');
  });
});

/**
 * What an operator keys in beyond amounts, driven only through the control interface (the real
 * terminal process on the simulator board, the acquirer simulator here): a password change
 * from the settings menu and a login with the new password; a keyed sale (FUNC on the card
 * screen) approved by the host; a refund of a sale keyed by its reference number and date (OK
 * alone at the trace number, as for a sale this terminal's journal no longer holds).
 */
import { strict as assert } from 'node:assert';
import { terminalPerTest, journalState } from './driver';
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { join } from 'node:path';

/** Luhn-valid (the keypad checks the check digit): the IC debit test card's number (sim/test-cards.ts). */
const KEYED_PAN = '6222021234567890128';
const NEW_PASSWORD = '864209';
/**
 * An expiry (MMYY) three years after the terminal's today. The terminal here runs on the real clock
 * (a child process), so the expiry is made from the same clock: a fixed '1228' would have been
 * refused as expired from January 2029 on.
 */
const FUTURE_EXPIRY = `12${String((new Date().getUTCFullYear() + 3) % 100).padStart(2, '0')}`;

describe('e2e: password change, keyed card entry and refund details through the control interface', function () {
  this.timeout(120_000);
  const bench = terminalPerTest('pos-e2e-entry-');

  async function login(operator: string, password: string): Promise<void> {
    const d = bench.d;
    await d.until('login', (s) => s.screen.text.some((l) => l.includes('Operator no.')));
    await d.keys(`${operator}OK`);
    await d.until('login', (s) => s.screen.text.includes('Password'));
    await d.keys(`${password}OK`);
  }

  it('a cashier changes the password (a too short one refused with E-OPR-13), signs off, the old password is refused and the new one logs in; nothing of it in the log', async () => {
    const d = bench.d;
    await d.powerOn();
    await login('01', '0000');
    await d.until('idle');
    await d.keys('MENU9');
    assert.ok((await d.screen('settings')).some((l) => l.includes('Password')));
    await d.keys('2');
    await d.until('password.entry');
    assert.ok((await d.screen('password')).some((l) => l.includes('Old password')));
    await d.keys('0000OK123OK');
    assert.ok((await d.screen('password')).some((l) => l.includes('New again')));
    await d.keys('123OK');
    const refused = await d.until('password.entry', (s) => s.screen.name === 'error');
    assert.equal(refused.data.error?.code, 'E-OPR-13');
    assert.ok(refused.screen.text[0].startsWith('E-OPR-13'), refused.screen.text.join('|'));
    await d.keys('OK');
    await d.screen('password');
    await d.keys(`0000OK${NEW_PASSWORD}OK${NEW_PASSWORD}`);
    assert.ok(!JSON.stringify(await d.snapshot()).includes(NEW_PASSWORD), 'a password in the probe');
    await d.keys('OK');
    await d.until('password.done');
    assert.ok((await d.screen('operatorDone')).some((l) => l.includes('Password changed')));
    await d.keys('OK');
    await d.until('idle');
    await d.keys('MENU7');
    await login('01', '0000');
    await d.until('login', (s) => s.data.error?.code === 'E-OPR-02');
    await login('01', NEW_PASSWORD);
    await d.until('idle');
    const log = d.run?.log.join('\n') ?? '';
    await d.powerOff();
    assert.ok(!log.includes(NEW_PASSWORD), 'the new password in the log');
    const journal = await Journal.open({ dir: join(bench.dir, 'journal'), readOnly: true });
    try {
      const ops = [...journal.records()].filter((r) => r.type === RecordType.operator).map((r) => r.payload);
      assert.ok(ops.some((p) => p.number === '001' && p.event === 'password-changed'), 'the change is journaled');
      assert.ok(!JSON.stringify(ops).includes(NEW_PASSWORD));
    } finally {
      await journal.close();
    }
  });

  it('a keyed sale (FUNC: card number with a wrong check digit refused and corrected, expiry MMYY) is approved by the host; then a refund of it keyed by reference number and date', async () => {
    const d = bench.d;
    await d.powerOn();
    await login('01', '0000');
    await d.until('idle');
    await d.keys('2500OK');
    await d.until('sale.card');
    assert.ok((await d.screen('presentCard')).some((l) => l.includes('FUNC')), 'the card screen names the key for keyed entry');
    await d.keys('FUNC');
    await d.screen('keyedCard');
    await d.keys(`${KEYED_PAN.slice(0, -1)}1OK`);
    await d.until('sale.card', (s) => s.screen.text.some((l) => l.includes('Card no. wrong')));
    await d.keys(`BACK${KEYED_PAN.slice(-1)}OK`);
    const expiry = await d.until('sale.card', (s) => s.screen.text.some((l) => l.includes('Expiry')));
    assert.ok(expiry.screen.text.some((l) => l.includes('622202******0128')), `masked once accepted: ${expiry.screen.text.join('|')}`);
    await d.keys('1324OK');
    await d.until('sale.card', (s) => s.screen.text.some((l) => l.includes('Not a MMYY date')));
    await d.keys(`CLEAR${FUTURE_EXPIRY}OK`);
    const approved = await d.until('sale.askCustomerCopy');
    const sale = approved.data.result?.txn;
    assert.equal(sale?.amountFen, 2500);
    assert.equal(sale?.entryMode.slice(0, 2), '01', 'keyed entry mode');
    await d.keys('2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    const hostSale = bench.host.ledger.entries({}).find((e) => e.stan === sale?.stan);
    assert.equal(hostSale?.status, 'approved');

    // Refund: OK alone at the trace number, then the reference number and date as on the receipt.
    await d.keys('MENU3');
    await d.until('refund.authorize.ask');
    await d.typeLogin('supervisor');
    await d.until('refund.details');
    await d.screen('refundTrace');
    await d.keys('OK');
    await d.screen('refundReference');
    await d.keys(`${sale?.rrn}OK`);
    await d.screen('refundDate');
    await d.keys('1299OK');
    await d.until('refund.details', (s) => s.screen.text.some((l) => l.includes('Not a date')));
    await d.keys(`CLEAR${sale?.hostDate}OK`);
    await d.screen('refundAmount');
    await d.keys('1000OK');
    await d.until('refund.card');
    await d.keys(`FUNC${KEYED_PAN}OK${FUTURE_EXPIRY}OK`);
    await d.until('refund.askCustomerCopy');
    await d.keys('2');
    await d.until('idle');

    const receipts = (await d.receiptsAtLeast(2)).flat();
    const log = d.run?.log.join('\n') ?? '';
    await d.powerOff();
    assert.ok(!receipts.some((l) => l.includes(KEYED_PAN)) && receipts.some((l) => l.includes('622202')), 'receipts mask the keyed PAN');
    assert.ok(!log.includes(KEYED_PAN), 'the keyed PAN in the log');
    const s = await journalState(bench.dir);
    const refund = [...s.txns.values()].find((t) => t.kind === 'refund');
    assert.equal(refund?.status, 'approved');
    assert.equal(refund?.amountFen, 1000);
  });
});

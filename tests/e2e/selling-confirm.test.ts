/**
 * The two questions a merchant answers before money moves: a large amount is confirmed on a
 * screen of its own (not the amount entry again), and settlement shows the totals it will send
 * (field 48 of the 0500) and asks OK first; CANCEL at either sends nothing.
 */
import { strict as assert } from 'node:assert';
import { chooseScreen, EMPTY_UI, Env } from '../../boot/screen-map';
import type { MachineView } from '../../runtime/machine';
import { screenFor } from '../../ui-lcd/screens';
import { renderScreen } from '../../ui-lcd/screen';
import { CONFIRM_ABOVE_FEN_DEFAULT } from '../../runtime/txn/engine';
import { terminalPerTest } from './driver';

const ENV: Env = { nowMs: 0, merchantName: 'DEMO', status: {}, bootStep: 'ready', bootStepIndex: 5, bootStepCount: 5 };
const view = (state: string, data: Partial<MachineView['data']> = {}): MachineView => ({
  state, data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false, ...data },
});
const rows = (state: string, data: Partial<MachineView['data']>, ui = EMPTY_UI): string[] => {
  const c = chooseScreen(view(state, data), ui, ENV);
  const r = renderScreen(screenFor(c.name, c.data), 'en', { kind: 'text', cols: 20, rows: 4 });
  return r.kind === 'text' ? r.rows : [];
};

describe('e2e: large-amount and settlement confirmations', function () {
  this.timeout(120_000);

  it('theLargeAmountConfirmationIsADistinctScreenWithTitleAmountAndOkCancel', () => {
    const entry = rows('sale.amount', {}, { ...EMPTY_UI, amount: { amountFen: 150_000 } });
    const confirm = rows('sale.confirm', { amountFen: 150_000 });
    assert.notDeepEqual(confirm, entry, 'the confirmation looks like the amount entry');
    assert.equal(confirm[0].trim(), 'Check amount');
    assert.ok(confirm.some((r) => r.includes('RMB 1500.00')), confirm.join('|'));
    assert.ok(confirm[3].includes('OK') && confirm[3].includes('CANCEL'), confirm.join('|'));
    const zh = chooseScreen(view('sale.confirm', { amountFen: 150_000 }), EMPTY_UI, ENV);
    assert.equal(zh.name, 'amountConfirm');
  });

  it('theSettlementConfirmationShowsSaleAndRefundCountsAndAmounts', () => {
    const totals = { saleCount: 3, saleAmountFen: 4_500, refundCount: 1, refundAmountFen: 1_000 };
    const c = chooseScreen(view('settlement.confirm', { settlementTotals: totals, batch: 7 }), EMPTY_UI, ENV);
    assert.deepEqual(c, { name: 'settlementConfirm', data: { saleCount: 3, saleFen: 4_500, refundCount: 1, refundFen: 1_000 } });
    const r = renderScreen(screenFor(c.name, c.data), 'zh-CN', { kind: 'text', cols: 20, rows: 4 });
    assert.ok(r.kind === 'text');
    // One page: the totals and the keys (OK sends, CANCEL backs out).
    assert.deepEqual(r.rows.map((x) => x.trim()), ['Settle now?', 'Sales 3 45.00', 'Refunds 1 10.00', 'OK=go CANCEL=no']);
  });

  describe('through the control interface', () => {
    const bench = terminalPerTest('pos-e2e-confirm-');

    it('cancelAtEitherConfirmationSendsNothingAndOkGoesOn', async () => {
      const d = bench.d;
      await d.powerOn();
      await d.until('login');
      await d.typeLogin('supervisor');
      await d.until('idle');
      const large = CONFIRM_ABOVE_FEN_DEFAULT + 50_000;
      const requests = (): number => bench.host.requests().length;

      // A large amount: its own screen; CANCEL back to idle, nothing sent.
      await d.keys(`${large}OK`);
      const asked = await d.until('sale.confirm');
      assert.equal(asked.screen.name, 'amountConfirm');
      assert.ok(asked.screen.text.some((l) => l.includes('Check amount')), asked.screen.text.join('|'));
      const before = requests();
      await d.keys('CANCEL');
      await d.until('idle');
      assert.equal(requests(), before, 'nothing sent after CANCEL');
      // OK goes on to the card.
      await d.keys(`${large}OK`);
      await d.until('sale.confirm');
      await d.keys('OK');
      await d.until('sale.card');
      await d.cmd('swipe', { card: 'magDebit' });
      await d.until('sale.askCustomerCopy');
      await d.keys('2');
      await d.until('sale.signature');
      await d.keys('OK');
      await d.until('idle');

      // Settlement: the totals first; CANCEL sends no 0500 and the batch stays open.
      await d.keys('MENU6');
      const totals = await d.until('settlement.confirm');
      assert.deepEqual(totals.data.settlementTotals, { saleCount: 1, saleAmountFen: large, refundCount: 0, refundAmountFen: 0 });
      assert.equal(totals.screen.name, 'settlementConfirm');
      assert.ok(totals.screen.text.some((l) => l.startsWith(`Sales 1 ${large / 100}.00`)), totals.screen.text.join('|'));
      await d.keys('CANCEL');
      await d.until('idle');
      assert.ok(!bench.host.requests().some((r) => r.type === 'settlement'), 'no 0500 after CANCEL');
      await d.keys('MENU6');
      await d.until('settlement.confirm');
      await d.keys('OK');
      const settled = await d.until('settlement.result');
      assert.equal(settled.data.settlement?.totals.saleAmountFen, large);
      assert.ok(bench.host.requests().some((r) => r.type === 'settlement'));
      await d.keys('OK');
      await d.until('idle');
      await d.powerOff();
    });
  });
});

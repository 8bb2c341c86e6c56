/**
 * After a power cut the terminal says what was in flight and what became of it (FIELD-FAULTS
 * "Settlement data fails to store", "Abnormal user state"): the restored screen names the
 * transaction (a settlement is not "the sale at power loss"), and with no slip to offer the login
 * screen carries the notice until someone logs in.
 */
import { strict as assert } from 'node:assert';
import type { MachineView, NoticeTxn } from '../runtime/machine';
import { screenFor } from '../ui-lcd/screens';
import { resolve } from '../ui-lcd/strings';
import { chooseScreen, EMPTY_UI, Env } from './screen-map';

const ENV: Env = { nowMs: Date.UTC(2026, 0, 2, 3, 4), tzOffsetMinutes: 480, merchantName: { en: 'DEMO', zh: 'DEMO' }, asciiOnly: false, status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 };

function view(state: string, notice: string | undefined, noticeTxn?: NoticeTxn): MachineView {
  return {
    state,
    data: {
      battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: false, reversalPending: false,
      ...(notice !== undefined ? { notice } : {}), ...(noticeTxn !== undefined ? { noticeTxn } : {}),
    },
  };
}

function restoredLines(notice: string | undefined, noticeTxn?: NoticeTxn): string[] {
  const c = chooseScreen(view('offerReprint', notice, noticeTxn), EMPTY_UI, ENV);
  assert.equal(c.name, 'restored');
  return (screenFor(c.name, c.data).lines ?? []).map((l) => resolve(l, 'en'));
}

describe('boot/screen-map: what a power cut left', () => {
  it('namesTheTransactionAndWhatBecameOfIt', () => {
    assert.deepEqual(restoredLines('settlement-resumed', 'settlement'), ['Last Settlement at power loss', 'completed']);
    assert.deepEqual(restoredLines('settlement-pending', 'settlement'), ['Last Settlement at power loss', 'not finished']);
    assert.deepEqual(restoredLines('reversal-sent', 'refund'), ['Last Refund at power loss', 'reversed, not charged']);
    assert.deepEqual(restoredLines('reversal-pending', 'sale'), ['Last Sale at power loss', 'reversal owed']);
    assert.deepEqual(restoredLines('qr-voided', 'qrSale'), ['Last QR payment at power loss', 'paid, then voided']);
  });

  it('withNoSlipToOfferTheLoginScreenCarriesTheNotice', () => {
    const c = chooseScreen(view('login', 'reversal-pending', 'sale'), EMPTY_UI, ENV);
    assert.equal(c.name, 'login');
    assert.equal(c.notice && resolve(c.notice, 'en'), 'Reversal owed');
    assert.equal(c.notice && resolve(c.notice, 'zh-CN'), '冲正待发送');
    assert.equal(chooseScreen(view('login', undefined), EMPTY_UI, ENV).notice, undefined, 'nothing once read');
  });
});

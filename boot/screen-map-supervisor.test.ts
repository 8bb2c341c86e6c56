/**
 * A supervisor approving a void or refund at the cashier's terminal is asked on a screen titled
 * "Supervisor auth" (主管授权), not "Operator login": the cashier stays logged in, and a prompt that
 * looked like a login made supervisors think they were logging the cashier out (FIELD-FAULTS
 * walk, session 26).
 */
import { strict as assert } from 'node:assert';
import { MachineView } from '../runtime/machine';
import { screenFor } from '../ui-lcd/screens';
import { resolve } from '../ui-lcd/strings';
import { chooseScreen, EMPTY_UI, Env } from './screen-map';

const ENV: Env = { nowMs: Date.UTC(2026, 0, 2, 3, 4), tzOffsetMinutes: 480, merchantName: { en: 'DEMO', zh: 'DEMO' }, asciiOnly: false, status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 };

function titleAt(state: string): { en: string; zh: string } {
  const v: MachineView = { state, data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false } };
  const choice = chooseScreen(v, EMPTY_UI, ENV);
  const s = screenFor(choice.name, choice.data);
  const title = s.title ?? { en: '', zh: '' };
  return { en: resolve(title, 'en'), zh: resolve(title, 'zh-CN') };
}

describe('boot/screen-map: the supervisor\'s approval prompt', () => {
  for (const state of ['void.authorize.ask', 'refund.authorize.ask', 'preAuthVoid.authorize.ask', 'completionVoid.authorize.ask', 'qrVoid.authorize.ask']) {
    it(`${state}_isTitledSupervisorApprovalNotLogin`, () => {
      assert.deepEqual(titleAt(state), { en: 'Supervisor auth', zh: '主管授权' });
    });
  }

  it('theLoginItselfIsStillOperatorLogin', () => {
    assert.deepEqual(titleAt('login'), { en: 'Operator login', zh: '操作员登录' });
  });
});

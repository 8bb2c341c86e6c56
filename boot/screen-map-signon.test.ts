/**
 * The sign-on failure screen says why the sign-on failed, in the error's own words and first
 * step: a key problem or a host's refusal is not a network one (FIELD-FAULTS "Sign-on fails": a
 * merchant told "host down" restarts the router for a key problem). "Reversal kept" only when one
 * is owed; nothing says it is retrying when nothing is.
 */
import { strict as assert } from 'node:assert';
import { PosError } from '../common/errors';
import { errorView, MachineView } from '../runtime/machine';
import { screenFor } from '../ui-lcd/screens';
import { resolve } from '../ui-lcd/strings';
import { chooseScreen, EMPTY_UI, Env } from './screen-map';

const ENV: Env = { nowMs: Date.UTC(2026, 0, 2, 3, 4), tzOffsetMinutes: 480, merchantName: { en: 'DEMO', zh: 'DEMO' }, asciiOnly: false, status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 };

function failed(error: PosError, reversalPending = false): { title: string; lines: string[]; titleZh: string; linesZh: string[] } {
  const v: MachineView = { state: 'hostUnreachable', data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: false, reversalPending, error: errorView(error) } };
  const choice = chooseScreen(v, EMPTY_UI, ENV);
  assert.equal(choice.name, 'hostUnreachable');
  const s = screenFor(choice.name, choice.data);
  return {
    title: resolve(s.title ?? { en: '', zh: '' }, 'en'), lines: (s.lines ?? []).map((l) => resolve(l, 'en')),
    titleZh: resolve(s.title ?? { en: '', zh: '' }, 'zh-CN'), linesZh: (s.lines ?? []).map((l) => resolve(l, 'zh-CN')),
  };
}

describe('boot/screen-map: the sign-on failure screen', () => {
  it('aKeyProblemIsASignOnFailureWithTheKeysStepNotHostDown', () => {
    const s = failed(new PosError('KEY_CHECK', 'working key check value mismatch'));
    assert.equal(s.title, 'Sign-on failed');
    assert.equal(s.titleZh, '签到失败');
    assert.ok(s.lines.includes('Key check values do not match'), s.lines.join(' | '));
    assert.ok(s.lines.includes('Keys invalid'), 'the error\'s first step');
    assert.ok(s.linesZh.includes('密钥校验值不符'), s.linesZh.join(' | '));
    assert.ok(!s.lines.some((l) => /Retrying|Reversal kept/.test(l)), s.lines.join(' | '));
  });

  it('aHostRefusalNamesTheHostsAnswerCodeExplained', () => {
    const s = failed(new PosError('HOST_SIGNON', 'sign-on refused: 03 invalid merchant', { responseCode: '03' }));
    assert.equal(s.title, 'Sign-on failed');
    assert.ok(s.lines.some((l) => l.startsWith('03 ')), s.lines.join(' | '));
    assert.ok(s.lines.includes('Check terminal/merchant id'), s.lines.join(' | '));
  });

  it('aLowBatteryIsASignOnFailureThatSaysCharge', () => {
    const s = failed(new PosError('PWR_LOW', 'sign-on refused: battery low', { battery: 'low' }));
    assert.equal(s.title, 'Sign-on failed');
    assert.ok(s.lines.includes('Battery low'), s.lines.join(' | '));
    assert.ok(s.lines.includes('Charge the terminal'), s.lines.join(' | '));
    assert.ok(s.linesZh.includes('电量不足'), s.linesZh.join(' | '));
    assert.ok(!s.lines.some((l) => /Retrying|Reversal kept|Connection/.test(l)), s.lines.join(' | '));
  });

  it('aHostNotReachedIsHostDownAndSaysAReversalIsKeptOnlyWhenOneIs', () => {
    const refused = failed(new PosError('NET_REFUSED', 'connect ECONNREFUSED 10.0.0.1:5000', { requestSent: false }));
    assert.equal(refused.title, 'Host down');
    assert.ok(refused.lines.includes('Connection refused'), refused.lines.join(' | '));
    assert.ok(!refused.lines.includes('Reversal kept'));
    const owed = failed(new PosError('NET_REFUSED', 'connect ECONNREFUSED 10.0.0.1:5000', { requestSent: false }), true);
    assert.ok(owed.lines.includes('Reversal kept'), owed.lines.join(' | '));
  });
});

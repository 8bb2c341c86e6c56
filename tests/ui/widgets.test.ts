import * as assert from 'node:assert/strict';
import { AmountEntry, DigitEntry, MenuWidget, Pager, numbered, pinEntry, traceNumberEntry } from '../../ui-lcd/widgets';
import type { KeyName } from '../../hal/keypad';
import { renderScreen } from '../../ui-lcd/screen';
import { resolve } from '../../ui-lcd/strings';
import { screenFor, MAIN_MENU_ITEMS } from '../../ui-lcd/screens';

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function press(w: { press(k: KeyName): unknown }, keys: string): unknown[] {
  return keys.split(' ').filter(Boolean).map((k) => w.press(k as KeyName));
}

describe('ui-lcd widgets: amount entry', () => {
  it('digitsShiftInFromTheRightInFen', () => {
    const a = new AmountEntry({ clock: fakeClock().now });
    press(a, '1');
    assert.equal(a.amountFen, 1);
    press(a, '2');
    assert.equal(a.amountFen, 12);
    press(a, '3');
    assert.equal(a.amountFen, 123);
    const r = renderScreen({ id: 't', title: 'T', input: a.field() }, 'en', { kind: 'text', cols: 16, rows: 2 });
    assert.ok(r.kind === 'text');
    assert.equal(r.rows[1], 'Amount      1.23');
  });

  it('leadingZerosAreIgnoredButLaterZerosCount', () => {
    const a = new AmountEntry({ clock: fakeClock().now });
    assert.deepEqual(press(a, '0 0'), [{ kind: 'ignored' }, { kind: 'ignored' }]);
    press(a, '5 0 0');
    assert.equal(a.amountFen, 500);
    assert.equal(a.field().digits, '500');
  });

  it('clearClearsBackDeletesTheLastDigitAndBackOnEmptyGoesBack', () => {
    const a = new AmountEntry({ clock: fakeClock().now });
    press(a, '1 2 3 BACK');
    assert.equal(a.amountFen, 12);
    assert.deepEqual(a.press('CLEAR'), { kind: 'changed' });
    assert.equal(a.amountFen, 0);
    assert.deepEqual(a.press('CLEAR'), { kind: 'ignored' });
    assert.deepEqual(a.press('BACK'), { kind: 'back' });
  });

  it('aDigitPastTheMaximumIsRefusedWithAVisibleHint', () => {
    const a = new AmountEntry({ clock: fakeClock().now, amountFenMax: 10_000 });
    press(a, '1 0 0 0 0');
    assert.equal(a.amountFen, 10_000);
    assert.deepEqual(a.press('0'), { kind: 'refused', reason: 'max' });
    assert.equal(a.amountFen, 10_000);
    const notice = a.notice();
    assert.ok(notice);
    assert.equal(resolve(notice, 'en'), 'Max 100.00');
    assert.equal(resolve(notice, 'zh-CN'), '最大100.00');
    const r = renderScreen({ id: 't', title: 'Sale', input: a.field(), notice, footer: 'OK' }, 'en', { kind: 'text', cols: 20, rows: 4 });
    assert.ok(r.kind === 'text');
    assert.equal(r.rows[3].trim(), 'Max 100.00');
    press(a, 'BACK');
    assert.equal(a.notice(), undefined, 'the next accepted key clears the hint');
  });

  it('okOnZeroIsRefusedOkOnAnAmountSubmitsItCancelLeaves', () => {
    const a = new AmountEntry({ clock: fakeClock().now });
    assert.deepEqual(a.press('OK'), { kind: 'refused', reason: 'zero' });
    press(a, '9 9');
    assert.deepEqual(a.press('OK'), { kind: 'submit', value: 99 });
    assert.deepEqual(a.press('CANCEL'), { kind: 'cancel' });
    assert.deepEqual(a.press('MENU'), { kind: 'ignored' });
  });

  it('reportsTimeoutAfterTheIdleTimeoutOnTheInjectedClock', () => {
    const c = fakeClock();
    const a = new AmountEntry({ clock: c.now, idleTimeoutMs: 30_000 });
    c.advance(29_999);
    assert.equal(a.poll(), undefined);
    press(a, '1'); // activity restarts the wait
    c.advance(29_999);
    assert.equal(a.poll(), undefined);
    assert.equal(a.remainingMs(), 1);
    c.advance(1);
    assert.deepEqual(a.poll(), { kind: 'timeout' });
    assert.deepEqual(a.press('2'), { kind: 'timeout' }, 'a key after the deadline does not revive the screen');
    assert.equal(a.amountFen, 1);
  });
});

describe('ui-lcd widgets: digits and PIN', () => {
  it('traceNumberKeepsLeadingZerosAndStopsAtSixDigits', () => {
    const f = traceNumberEntry({ clock: fakeClock().now });
    press(f, '0 0 0 0 4 2');
    assert.deepEqual(f.press('7'), { kind: 'refused', reason: 'max' });
    assert.deepEqual(f.press('OK'), { kind: 'submit', value: '000042' });
    assert.equal(f.field('Trace').digits, '000042');
  });

  it('pinIsMaskedInTheScreenModelAndTooShortIsRefused', () => {
    const p = pinEntry({ clock: fakeClock().now });
    press(p, '1 2 3');
    assert.deepEqual(p.press('OK'), { kind: 'refused', reason: 'too-short' });
    assert.ok(p.notice());
    press(p, '4');
    const field = p.field('PIN');
    assert.equal(field.kind, 'password');
    assert.equal(field.digits, '****');
    assert.ok(!JSON.stringify(field).includes('1234'));
    const r = renderScreen({ id: 't', title: 'PIN', input: field }, 'en', { kind: 'text', cols: 16, rows: 2 });
    assert.ok(r.kind === 'text' && r.rows[1].endsWith('****') && !r.rows.join('').includes('1234'));
    assert.deepEqual(p.press('OK'), { kind: 'submit', value: '1234' });
  });

  it('rejectsImpossibleLengths', () => {
    assert.throws(() => new DigitEntry({ clock: () => 0, lengthMin: 5, lengthMax: 4 }), RangeError);
  });
});

describe('ui-lcd widgets: menus', () => {
  const items = numbered([{ label: 'Sale', value: 'sale' }, { label: 'Void', value: 'void' }, { label: 'Refund', value: 'refund' }]);

  it('upDownMoveTheSelectionAndWrapAround', () => {
    const m = new MenuWidget(items, { clock: fakeClock().now });
    press(m, 'DOWN DOWN');
    assert.equal(m.selected, 2);
    press(m, 'DOWN');
    assert.equal(m.selected, 0);
    press(m, 'UP');
    assert.equal(m.selected, 2);
    assert.deepEqual(m.press('OK'), { kind: 'submit', value: 'refund' });
  });

  it('aNumberPicksItsItemAtOnceAndAnUnknownNumberIsIgnored', () => {
    const m = new MenuWidget(items, { clock: fakeClock().now });
    assert.deepEqual(m.press('2'), { kind: 'submit', value: 'void' });
    assert.equal(m.selected, 1);
    assert.deepEqual(m.press('9'), { kind: 'ignored' });
  });

  it('cancelAndBackLeave', () => {
    const m = new MenuWidget(items, { clock: fakeClock().now });
    assert.deepEqual(m.press('CANCEL'), { kind: 'cancel' });
    assert.deepEqual(m.press('BACK'), { kind: 'back' });
  });

  it('theMainMenuScrollsPageWiseAndKeepsTheSelectionVisible', () => {
    const m = new MenuWidget(MAIN_MENU_ITEMS, { clock: fakeClock().now });
    for (let i = 0; i < 5; i++) m.press('DOWN');
    const s = screenFor('mainMenu', { selected: m.selected });
    const r16 = renderScreen(s, 'en', { kind: 'text', cols: 16, rows: 2 });
    assert.ok(r16.kind === 'text');
    assert.deepEqual(r16.rows, ['Main menu   6/11', '>6 Settlement   ']);
    const r20 = renderScreen(s, 'en', { kind: 'text', cols: 20, rows: 4 });
    assert.ok(r20.kind === 'text');
    assert.deepEqual(r20.rows.slice(1, 3), [' 5 Reprint          ', '>6 Settlement       ']);
  });

  it('pagerMovesThroughPagesAndWraps', () => {
    const p = new Pager(() => 3, { clock: fakeClock().now });
    press(p, 'DOWN DOWN');
    assert.equal(p.page, 2);
    press(p, 'DOWN');
    assert.equal(p.page, 0);
    press(p, 'UP');
    assert.equal(p.page, 2);
    assert.deepEqual(p.press('OK'), { kind: 'submit', value: 'ok' });
  });
});

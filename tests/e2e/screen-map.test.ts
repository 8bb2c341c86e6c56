/**
 * Every state of the terminal machine has a screen: the machine's states are walked from its
 * definition (as docs/state-machine.md is generated), and each leaf must have an entry in
 * boot/screen-map.ts naming a screen ui-lcd knows, which then renders on every display in both
 * languages. Plus the input controller's secrets: a PIN is a Buffer, wiped after use.
 */
import { strict as assert } from 'node:assert';
import { AnyStateNode, getNextSnapshot } from 'xstate';
import { createTerminalMachine, MachineView, MachineEvent } from '../../runtime/machine';
import { isStateName, screenFor } from '../../ui-lcd/screens';
import { renderScreen } from '../../ui-lcd/screen';
import { STATE_SCREENS, EMPTY_UI, Env, chooseScreen } from '../../boot/screen-map';
import { InputController } from '../../boot/input';
import { IDLE_TIMEOUT_MS_DEFAULT } from '../../ui-lcd/widgets/base';
import { PinBufferEntry } from '../../boot/input-secret';
import { resetAtBoot } from '../../boot/terminal-app';
import type { Button, ButtonEvent } from '../../hal/button';
import type { KeyName } from '../../hal/keypad';

function terminalMachine() {
  return createTerminalMachine({ open: async () => { throw new Error('unused'); }, selfTest: async () => undefined, printer: {} as never, readCard: async () => { throw new Error('unused'); }, clock: () => 0, recoveryLogin: async () => { throw new Error('unused'); } });
}

function leafStates(): string[] {
  const m = terminalMachine();
  const out: string[] = [];
  const walk = (n: AnyStateNode): void => {
    const children = Object.values(n.states);
    if (children.length === 0 && n.path.length) out.push(n.path.join('.'));
    for (const c of children) walk(c);
  };
  walk(m.root);
  return out;
}

const ENV: Env = { nowMs: Date.UTC(2026, 10, 21, 2), merchantName: 'DEMO', status: { batteryPercent: 80 }, bootStep: 'journal', bootStepIndex: 2, bootStepCount: 5 };
const view = (state: string, data: Partial<MachineView['data']> = {}): MachineView => ({
  state, data: { battery: 'ok', amountFen: 1234, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false, ...data },
});
const DISPLAYS = [{ kind: 'text', cols: 16, rows: 2 }, { kind: 'text', cols: 20, rows: 4 }, { kind: 'pixels', width: 128, height: 64 }] as const;

describe('e2e: every machine state maps to a ui-lcd screen', () => {
  const states = leafStates();

  it('walks the machine: each leaf state has an entry naming a known screen, and the table has no stale entries', () => {
    assert.ok(states.length > 60, `the machine has ${states.length} leaf states`);
    const missing = states.filter((s) => !STATE_SCREENS[s]);
    assert.deepEqual(missing, [], 'states without a screen');
    const stale = Object.keys(STATE_SCREENS).filter((s) => !states.includes(s));
    assert.deepEqual(stale, [], 'table entries for states the machine does not have');
    for (const s of states) {
      const choice = chooseScreen(view(s), EMPTY_UI, ENV);
      assert.ok(isStateName(choice.name), `${s} -> ${choice.name} is not a ui-lcd screen`);
    }
  });

  it('each state renders on 16x2, 20x4 and 128x64 in both languages, without the internal-error screen', () => {
    for (const s of states) {
      const choice = chooseScreen(view(s), EMPTY_UI, ENV);
      const screen = screenFor(choice.name, choice.data);
      assert.ok(!screen.id.startsWith('error:E-SYS'), `${s} shows ${screen.id}`);
      for (const caps of DISPLAYS) for (const locale of ['zh-CN', 'en'] as const) renderScreen(screen, locale, caps);
    }
  });

  it('an unacknowledged error shows its error screen first; a wrong password is a notice on the login screen', () => {
    const err = { code: 'E-RDR-02', kind: 'card-unreadable', message: 'x', en: { cause: 'c', steps: [] }, zh: { cause: 'c', steps: [] }, detail: {} } as const;
    assert.equal(chooseScreen(view('sale.cardError', { error: err }), EMPTY_UI, ENV).name, 'error');
    assert.equal(chooseScreen(view('sale.cardError', { error: err }), { ...EMPTY_UI, acknowledged: new Set([err]) }, ENV).name, 'presentCard');
    const wrong = { ...err, code: 'E-OPR-02', detail: { attemptsLeft: 3 } };
    const login = chooseScreen(view('login', { error: wrong }), EMPTY_UI, ENV);
    assert.equal(login.name, 'login');
    assert.equal(login.data.attemptsLeft, 3);
  });
});

describe('e2e: input controller', () => {
  /** The controller at `state`; `clock` the widgets' (a test moves it past their timeout). */
  function controller(state: string, clock: () => number = () => 0) {
    const sent: MachineEvent[] = [];
    const expected: string[] = [];
    const c = new InputController({
      send: (e) => sent.push(e), clock, cancelCardRead: () => undefined, paperReady: async () => true, refundLookup: (stan) => (stan === 42 ? { rrn: '123456789012', dateMmdd: '1120', amountFen: 1234 } : undefined), now: () => Date.UTC(2026, 10, 21, 2),
      setLocale: () => undefined, locale: () => 'en', errorPages: () => 1, screenPages: () => 1, recoveryAction: () => undefined, diagnostics: () => undefined, changed: () => undefined,
      passwordExpected: () => expected.push(state),
    });
    c.sync(view(state));
    const press = (keys: string): void => { for (const k of keys.match(/[A-Z]{2,}|\d/g) ?? []) c.press(k as KeyName); };
    return { c, sent, press, expected };
  }

  it('keys on the screens that end in a password check prepare its table (runtime/password-kdf.ts); others do not', () => {
    for (const s of ['login', 'recovery.locked', 'void.authorize.ask', 'password.entry']) {
      const { press, expected } = controller(s);
      press('01');
      assert.equal(expected.length, 2, `${s}: each key`);
    }
    for (const s of ['idle', 'sale.amount', 'void.trace']) {
      const { press, expected } = controller(s);
      press('12');
      assert.deepEqual(expected, [], `${s}: no password there`);
    }
  });

  it('login: 2 typed digits become the 3-digit operator number, the password is masked', () => {
    const { c, sent, press } = controller('login');
    press('01OK1234');
    assert.equal(c.state().login.passwordLength, 4);
    assert.ok(!JSON.stringify(c.state()).includes('1234'));
    press('OK');
    assert.deepEqual(sent, [{ type: 'LOGIN', operator: '001', password: '1234' }]);
  });

  it('every screen whose entry or menu times out is left by what the timeout sends (else the timed-out widget would leave the keypad dead)', () => {
    // A widget that timed out answers every later key with 'timeout', and the controller then
    // sends CANCEL again: a state that ignored it would keep its screen up with no key working
    // (the logins were such, until they got a fresh field of their own).
    const m = terminalMachine();
    // 'sale.amount' -> { sale: 'amount' }: xstate's state value.
    const valueOf = (path: string): string | Record<string, unknown> => {
      const [leaf, ...outer] = path.split('.').reverse();
      return outer.reduce<string | Record<string, unknown>>((inner, k) => ({ [k]: inner }), leaf);
    };
    const probed: string[] = [];
    for (const s of leafStates()) {
      let nowMs = 0;
      const { c, sent } = controller(s, () => nowMs);
      nowMs += IDLE_TIMEOUT_MS_DEFAULT + 1;
      c.tick();
      if (sent.length === 0) continue; // no widget that times out here, or a login (its own fresh field)
      probed.push(s);
      // The machine's own definition decides; the context is its initial one (no guard on CANCEL reads it).
      const at = m.resolveState({ value: valueOf(s) as never, context: m.config.context as never });
      const next = getNextSnapshot(m, at, sent[0]);
      assert.notDeepEqual(next.value, at.value, `${s}: ${sent[0].type} after the timeout leaves the screen up`);
    }
    assert.ok(probed.length >= 30, `states with a timing-out widget: ${probed.length}`);
  });

  for (const state of ['login', 'recovery.locked']) {
    it(`${state}: a minute untouched clears what was typed and the keys work again (by the tick, or by the next key)`, () => {
      let nowMs = 0;
      const { c, sent, press } = controller(state, () => nowMs);
      press('01OK12');
      assert.equal(c.state().login.passwordLength, 2);
      nowMs += IDLE_TIMEOUT_MS_DEFAULT + 1;
      c.tick();
      assert.deepEqual(c.state().login, { field: 'operator', operator: '', passwordLength: 0 }, 'the half-typed login is cleared');
      assert.deepEqual(sent, [], 'the login screen has nowhere to go: nothing sent');
      nowMs += 10 * IDLE_TIMEOUT_MS_DEFAULT;
      press('00OK123456OK');
      assert.deepEqual(sent, [{ type: 'LOGIN', operator: '000', password: '123456' }], 'keys an hour later, before any tick, log in');
    });
  }

  it('idle: a digit starts a sale and lands in the amount; the PIN goes out as a Buffer that is wiped once the machine is past it', () => {
    const { c, sent, press } = controller('idle');
    press('5');
    assert.deepEqual(sent, [{ type: 'SALE' }]);
    c.sync(view('sale.amount'));
    press('00OK');
    assert.deepEqual(sent[1], { type: 'AMOUNT', amountFen: 500 });
    c.sync(view('sale.pin'));
    press('246810OK');
    const pin = (sent[2] as { pin: Buffer }).pin;
    assert.ok(Buffer.isBuffer(pin) && pin.toString('ascii') === '246810');
    c.sync(view('sale.online'));
    assert.equal(pin.toString('ascii'), '246810', 'kept while the machine uses it');
    c.sync(view('sale.printMerchant'));
    assert.ok(pin.every((b) => b === 0), 'wiped afterwards');
  });

  it('CANCEL backs out of a card wait at the reader too; the main menu opens on MENU and picks by number', () => {
    const { c, sent, press } = controller('sale.card');
    let cancelled = 0;
    (c as unknown as { deps: { cancelCardRead: () => void } }).deps.cancelCardRead = () => { cancelled++; };
    press('CANCEL');
    assert.deepEqual(sent, [{ type: 'CANCEL' }]);
    assert.equal(cancelled, 1);
    c.sync(view('idle'));
    press('MENU');
    assert.equal(c.state().local?.name, 'mainMenu');
    press('2');
    assert.deepEqual(sent[1], { type: 'VOID' });
  });

  it('storage failure: 1 exports, 3 checks the storage again (RETRY); CANCEL does not leave it', () => {
    const { c, sent, press } = controller('storageFailure');
    press('CANCEL');
    assert.deepEqual(sent, [], 'nowhere to back out to');
    press('1');
    assert.deepEqual(sent, [{ type: 'EXPORT' }]);
    c.sync(view('exporting'));
    c.sync(view('storageFailure'));
    press('3');
    assert.deepEqual(sent[1], { type: 'RETRY' });
    c.sync(view('storageCheck'));
    assert.equal(chooseScreen(view('storageCheck'), EMPTY_UI, ENV).name, 'storageFailure', 'the screen stays up while the journal is checked');
  });

  it('QR: main menu 11 opens the QR menu; 1 scan / 2 show; FUNC keys the payment code (CANCEL back to the scanner); OK after a scan error scans again; void and refund take a trace number', () => {
    const { c, sent, press } = controller('idle');
    press('MENU'); press('UP'); press('OK');
    assert.equal(c.state().local?.name, 'qrMenu');
    press('1');
    assert.deepEqual(sent, [{ type: 'QR_SALE' }]);
    c.sync(view('qr.amount'));
    press('1234OK');
    assert.deepEqual(sent[1], { type: 'AMOUNT', amountFen: 1234 });
    c.sync(view('qr.mode'));
    press('2');
    assert.deepEqual(sent[2], { type: 'QR_SHOW' });
    c.sync(view('idle'));
    c.sync(view('qr.mode'));
    press('1');
    assert.deepEqual(sent[3], { type: 'QR_SCAN' });
    c.sync(view('qr.scan'));
    press('FUNC621234');
    assert.equal(chooseScreen(view('qr.scan'), c.state(), ENV).name, 'qrScan');
    assert.equal(c.state().qrKeyed?.digits, '621234');
    press('OK');
    assert.equal(c.state().qrKeyed?.refused, 'too-short', 'fewer than 16 digits are refused at the keypad');
    press('CANCEL');
    assert.equal(c.state().qrKeyed, undefined, 'CANCEL in the keyed field goes back to the scanner');
    assert.equal(sent.length, 4);
    press('FUNC6212345678901234567OK');
    assert.deepEqual(sent[4], { type: 'QR_CODE', code: '6212345678901234567' });
    c.sync(view('qr.waiting'));
    c.sync(view('idle'));
    c.sync(view('qr.scanError'));
    press('OK');
    assert.deepEqual(sent[5], { type: 'RETRY' });
    c.sync(view('qrVoid.trace'));
    press('7OK');
    assert.deepEqual(sent[6], { type: 'TRACE', stan: 7 });
    c.sync(view('qr.waiting'));
    press('CANCEL');
    assert.deepEqual(sent[7], { type: 'CANCEL' });
  });

  it('password change from settings: old, new, new again, masked; BACK goes back a field; the screen never holds a digit', () => {
    const { c, sent, press } = controller('idle');
    press('MENU9');
    assert.equal(c.state().local?.name, 'settings');
    press('2');
    assert.deepEqual(sent, [{ type: 'PASSWORD' }]);
    c.sync(view('password.entry'));
    const screen = () => chooseScreen(view('password.entry'), c.state(), ENV);
    assert.equal(screen().name, 'password');
    press('1111OK2468');
    assert.deepEqual(screen().data, { mode: 'change', stage: 'new', length: 4, working: false });
    press('BACK BACK BACK BACK BACK');
    assert.equal(c.state().secret.stage, 'old');
    press('1111OK2468OK2468');
    assert.equal(c.state().secret.stage, 'repeat');
    assert.ok(!JSON.stringify(c.state()).includes('2468') && !JSON.stringify(screen()).includes('2468'));
    press('OK');
    assert.deepEqual(sent[1], { type: 'CHANGE_PASSWORD', oldPassword: '1111', newPassword: '2468', repeated: '2468' });
    c.sync(view('password.changing'));
    c.sync(view('password.done', { operatorChange: { action: 'changed', operator: '001' } }));
    assert.deepEqual(chooseScreen(view('password.done', { operatorChange: { action: 'changed', operator: '001' } }), c.state(), ENV), { name: 'operatorDone', data: { action: 'changed', operator: '01' } });
    press('OK');
    assert.deepEqual(sent[2], { type: 'OK' });
  });

  it('operator management: reset a password (operator no., new twice) and unlock an operator', () => {
    const { c, sent, press } = controller('operators.choose');
    const screen = () => chooseScreen(view('operators.choose'), c.state(), ENV);
    assert.equal(screen().name, 'operators');
    press('4');
    assert.deepEqual(screen(), { name: 'operatorNumber', data: { action: 'reset', digits: '' } });
    press('0OK');
    assert.equal(screen().data.refused, 'too-short');
    press('1OK');
    assert.deepEqual(screen().data, { mode: 'reset', stage: 'new', length: 0, working: false, operator: '01' });
    press('BACK');
    assert.equal(screen().name, 'operatorNumber');
    press('01OK5555OK5555OK');
    assert.deepEqual(sent, [{ type: 'RESET_PASSWORD', operator: '001', newPassword: '5555', repeated: '5555' }]);
    c.sync(view('operators.resetting'));
    assert.equal(chooseScreen(view('operators.resetting'), c.state(), ENV).data.operator, '01');
    c.sync(view('operators.choose'));
    press('5');
    press('99OK');
    assert.deepEqual(sent[1], { type: 'UNLOCK', operator: '099' });
  });

  it('operator management: add (number refused as typed when in use or 00, role, new twice), delete (unknown refused, the operator shown, OK), list (paged), my password (old, new twice); BACK steps back', () => {
    const operators = [{ number: '000', role: 'administrator', locked: false }, { number: '001', role: 'cashier', locked: false }, { number: '099', role: 'supervisor', locked: true }] as const;
    const at = (state: string) => view(state, { operators, manager: '000' });
    const { c, sent, press } = controller('operators.choose');
    c.sync(at('operators.choose'));
    const screen = () => chooseScreen(at('operators.choose'), c.state(), ENV);
    press('1');
    assert.deepEqual(screen(), { name: 'operatorNumber', data: { action: 'add', digits: '' } });
    press('01OK');
    assert.deepEqual(screen().data, { action: 'add', digits: '01', refused: 'in-use' });
    press('BACK BACK 00OK');
    assert.equal(screen().data.refused, 'range');
    press('BACK BACK 05OK');
    assert.deepEqual(screen(), { name: 'operatorRole', data: { operator: '05', selected: 0 } });
    press('BACK');
    assert.equal(screen().name, 'operatorNumber', 'BACK from the role: the number again');
    press('05OK2');
    assert.deepEqual(screen().data, { mode: 'add', stage: 'new', length: 0, working: false, operator: '05', role: 'supervisor' });
    press('2580OK25');
    assert.ok(!JSON.stringify(c.state()).includes('2580') && !JSON.stringify(screen()).includes('2580'), 'a password on the screen');
    press('BACK BACK BACK');
    assert.deepEqual(screen().data, { mode: 'add', stage: 'new', length: 0, working: false, operator: '05', role: 'supervisor' }, 'BACK on an empty repeat: the new password again');
    press('BACK');
    assert.equal(screen().name, 'operatorRole', 'BACK from the new password: the role again');
    press('3');
    press('2580OK2580OK');
    assert.deepEqual(sent, [{ type: 'ADD_OPERATOR', operator: '005', role: 'administrator', password: '2580', repeated: '2580' }]);
    c.sync(at('operators.adding'));
    assert.deepEqual(chooseScreen(at('operators.adding'), c.state(), ENV).data, { mode: 'add', stage: 'repeat', length: 4, working: true, operator: '05', role: 'administrator' });
    c.sync(at('operators.done'));
    c.sync(at('operators.choose'));

    press('2');
    press('42OK');
    assert.deepEqual(screen().data, { action: 'delete', digits: '42', refused: 'unknown' });
    press('BACK BACK 99OK');
    assert.deepEqual(screen(), { name: 'operatorConfirm', data: { operator: '99', role: 'supervisor' } });
    press('CANCEL');
    assert.equal(screen().name, 'operators', 'CANCEL on the question: back to the menu, nothing sent');
    assert.equal(sent.length, 1);
    press('2');
    press('01OK');
    press('OK');
    assert.deepEqual(sent[1], { type: 'DELETE_OPERATOR', operator: '001' });
    c.sync(at('operators.deleting'));
    assert.equal(chooseScreen(at('operators.deleting'), c.state(), ENV).name, 'operatorConfirm');
    c.sync(at('operators.choose'));

    press('3');
    assert.deepEqual(screen(), { name: 'operatorList', data: { entries: [
      { operator: '00', role: 'administrator', locked: false }, { operator: '01', role: 'cashier', locked: false }, { operator: '99', role: 'supervisor', locked: true },
    ] } });
    press('OK');
    assert.equal(screen().name, 'operators');

    press('6');
    assert.deepEqual(screen().data, { mode: 'change', stage: 'old', length: 0, working: false });
    press('BACK');
    assert.equal(screen().name, 'operators', 'BACK on the old password: the menu');
    press('6');
    press('9999OK2046OK2046OK');
    assert.deepEqual(sent[2], { type: 'CHANGE_PASSWORD', oldPassword: '9999', newPassword: '2046', repeated: '2046' });
  });

  it('keyed entry (FUNC on the card screen where allowed): digits shown as keyed, Luhn and expiry refused with the digits kept, then KEYED with YYMM; CANCEL back to the card wait', () => {
    const { c, sent, press } = controller('sale.card');
    let cancelled = 0;
    (c as unknown as { deps: { cancelCardRead: () => void } }).deps.cancelCardRead = () => { cancelled++; };
    c.sync(view('sale.card', { flow: 'sale', keyedAllowed: false }));
    press('FUNC');
    assert.equal(c.state().keyed, undefined, 'not offered when not allowed');
    const v = view('sale.card', { flow: 'sale', keyedAllowed: true });
    c.sync(v);
    assert.equal(chooseScreen(v, c.state(), ENV).data.keyed, true);
    press('FUNC');
    press('6222020000000016OK');
    assert.equal(c.state().keyed?.refused, 'luhn');
    assert.equal(c.state().keyed?.digits, '6222020000000016', 'digits kept');
    press('BACK5OK');
    assert.equal(c.state().keyed?.stage, 'expiry');
    const expiry = chooseScreen(v, c.state(), ENV);
    assert.equal(expiry.name, 'keyedCard');
    assert.equal(screenFor('keyedCard', expiry.data).lines?.some((l) => JSON.stringify(l).includes('622202******0015')), true);
    assert.ok(!JSON.stringify(screenFor('keyedCard', expiry.data)).includes('6222020000000015'), 'masked once accepted');
    press('1325OK');
    assert.equal(c.state().keyed?.refused, 'expiry');
    press('CLEAR0125OK');
    assert.equal(c.state().keyed?.refused, 'expired');
    press('BACK BACK BACK BACK BACK');
    assert.equal(c.state().keyed?.stage, 'pan');
    assert.equal(c.state().keyed?.digits, '6222020000000015', 'the card number is kept when going back');
    press('OK1228');
    press('CANCEL');
    assert.equal(c.state().keyed, undefined, 'CANCEL goes back to the card wait');
    assert.deepEqual(sent, []);
    press('FUNC6222020000000015OK1228OK');
    assert.deepEqual(sent, [{ type: 'KEYED', pan: '6222020000000015', expiry: '2812' }]);
    c.sync(view('sale.online', { flow: 'sale' }));
    c.sync(view('sale.card', { flow: 'sale', keyedAllowed: true }));
    assert.equal(cancelled, 0, 'the controller saw the card state again: nothing sent while sync lags');
  });

  it('refund details: a trace number of this journal fills reference no., date and amount; OK alone keys them; a bad date is refused with its reason', () => {
    const { c, sent, press } = controller('refund.details');
    const screen = () => chooseScreen(view('refund.details'), c.state(), ENV);
    assert.equal(screen().name, 'refundTrace');
    press('43OK');
    assert.equal(screen().data.refused, 'not-found');
    press('BACK2OK');
    assert.deepEqual(screen(), { name: 'refundReference', data: { digits: '123456789012', fromJournal: true } });
    press('OK');
    assert.deepEqual(screen(), { name: 'refundDate', data: { digits: '1120', fromJournal: true } });
    press('OK');
    assert.deepEqual(screen(), { name: 'refundAmount', data: { amountFen: 1234 } });
    press('BACK OK');
    assert.deepEqual(sent, [{ type: 'REFUND_DETAILS', rrn: '123456789012', dateMmdd: '1120', amountFen: 123 }]);
    // Not in this journal: OK alone, then the reference number and date typed.
    const b = controller('refund.details');
    b.press('OK');
    assert.equal(chooseScreen(view('refund.details'), b.c.state(), ENV).name, 'refundReference');
    b.press('12345678901OK');
    assert.equal(b.c.state().digits.refused, 'too-short');
    b.press('2OK1122OK');
    assert.equal(b.c.state().digits.refused, 'date-future');
    b.press('CLEAR0230OK');
    assert.equal(b.c.state().digits.refused, 'date');
    b.press('CLEAR0301OK');
    assert.equal(b.c.state().digits.refused, 'date-old');
    b.press('CLEAR1001OK500OK');
    assert.deepEqual(b.sent, [{ type: 'REFUND_DETAILS', rrn: '123456789012', dateMmdd: '1001', amountFen: 500 }]);
  });

  it('PinBufferEntry refuses fewer than 4 digits and never exposes digits', () => {
    const w = new PinBufferEntry({ clock: () => 0 });
    for (const k of ['1', '2', '3']) w.press(k as KeyName);
    assert.deepEqual(w.press('OK'), { kind: 'refused', reason: 'too-short' });
    w.press('4');
    const r = w.press('OK');
    assert.equal(r.kind, 'submit');
    assert.equal(w.length, 0);
  });
});

describe('e2e: reset button at boot', () => {
  class FakeButton implements Button {
    down = true;
    private listeners = new Set<(e: ButtonEvent) => void>();
    async start(): Promise<void> {}
    async pressed(): Promise<boolean> { return this.down; }
    heldMs(): number { return 0; }
    async waitHeld(): Promise<boolean> { return this.down; }
    onEvent(l: (e: ButtonEvent) => void): () => void { this.listeners.add(l); return () => this.listeners.delete(l); }
    onFault(): () => void { return () => undefined; }
    async close(): Promise<void> {}
    release(): void { this.down = false; for (const l of this.listeners) l({ type: 'release', heldMs: 100 }); }
  }

  it('held then released: recovery; held past stuckMs: KBD_RESET_STUCK reported and a normal boot; not pressed: normal boot', async () => {
    const held = new FakeButton();
    setTimeout(() => held.release(), 30);
    assert.deepEqual(await resetAtBoot(held, { holdMs: 10, stuckMs: 2_000 }), { recovery: true });
    const stuck = await resetAtBoot(new FakeButton(), { holdMs: 10, stuckMs: 80 });
    assert.equal(stuck.recovery, false);
    assert.equal(stuck.fault?.code, 'E-KBD-02');
    const idle = new FakeButton();
    idle.down = false;
    assert.deepEqual(await resetAtBoot(idle, { holdMs: 10, stuckMs: 80 }), { recovery: false });
  });
});

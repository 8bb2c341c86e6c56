/**
 * Settings > Operators (操作员管理) driven through the keypad of the terminal process on the
 * simulator board, as a merchant's administrator does it: add a cashier (number, role, password
 * twice), which survives a reboot and logs in; a number in use refused as typed (E-OPR-24); the
 * operator logged in cannot be deleted (E-OPR-26); another one is, and the journal holds exactly
 * what the screens said, with no password in it.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { journalState, terminalPerTest, SIM_OPERATORS } from './driver';

const NEW = { typed: '05', number: '005', password: '258046' } as const;

describe('e2e: operator management through the keypad (simulator board)', function () {
  this.timeout(120_000);
  const b = terminalPerTest('posoperators-');

  it('anAdministratorAddsACashierWhoLogsInAfterARebootAndDeletesAnotherButNotTheOperatorLoggedIn', async () => {
    const d = b.d;
    await d.powerOn();
    await d.signIn('admin');
    await d.keys('MENU93'); // main menu 9 settings, 3 operators: an administrator logged in goes straight in
    await d.until('operators.choose');
    assert.ok((await d.screen('operators')).some((l) => l.includes('Add')));
    await d.keys(`1${SIM_OPERATORS.cashier.no}OK`); // add: 01 is the simulator's cashier
    assert.ok((await d.screen('operatorNumber')).some((l) => l.includes('E-OPR-24')), 'a number in use is refused as typed');
    await d.keys(`[BACK][BACK]${NEW.typed}OK`);
    await d.screen('operatorRole');
    await d.keys(`1${NEW.password}OK${NEW.password}OK`); // 1 cashier, the password twice
    const done = await d.until('operators.done');
    assert.deepEqual(done.data.operatorChange, { action: 'added', operator: NEW.number });
    assert.ok(done.screen.text.join(' ').includes(`Operator ${NEW.typed} added`), JSON.stringify(done.screen.text));
    await d.keys('OK');
    await d.until('idle');

    // A reboot replays the journal: the new cashier logs in and signs on.
    const logs = [...d.run!.log];
    assert.equal(await d.powerOff(), 0);
    await d.powerOn();
    await d.until('login');
    await d.keys(`${NEW.typed}OK${NEW.password}OK`);
    await d.until('idle');

    // The cashier asks an administrator in; deleting the cashier logged in is refused, 01 is deleted.
    await d.keys('MENU93');
    await d.until('operators.authorize.ask');
    await d.keys(`${SIM_OPERATORS.admin.no}OK${SIM_OPERATORS.admin.password}OK`);
    await d.until('operators.choose');
    await d.keys(`2${NEW.typed}OK`);
    assert.ok((await d.screen('operatorConfirm')).some((l) => l.includes(`${NEW.typed} Cashier`)));
    await d.keys('OK');
    const refused = await d.until('operators.choose', (s) => s.data.error !== undefined);
    assert.equal(refused.data.error?.code, 'E-OPR-26');
    await d.keys('OK'); // the error acknowledged: the menu again
    await d.screen('operators');
    await d.keys(`2${SIM_OPERATORS.cashier.no}OK`);
    await d.screen('operatorConfirm');
    await d.keys('OK');
    const deleted = await d.until('operators.done');
    assert.deepEqual(deleted.data.operatorChange, { action: 'deleted', operator: '001' });
    await d.keys('OK');
    await d.until('idle');
    logs.push(...d.run!.log);
    assert.equal(await d.powerOff(), 0);

    const day = await journalState(b.dir);
    assert.deepEqual([...day.operators.values()].map((o) => `${o.number}:${o.role}`).sort(), ['000:administrator', `${NEW.number}:cashier`, '099:supervisor']);
    const journalFiles = readdirSync(join(b.dir, 'journal')).map((f) => readFileSync(join(b.dir, 'journal', f)).toString('latin1'));
    assert.ok(!journalFiles.some((f) => f.includes(NEW.password)), 'the password is in the journal');
    assert.ok(logs.length > 0 && !logs.some((l) => l.includes(NEW.password)), 'the password is in the log');
  });
});

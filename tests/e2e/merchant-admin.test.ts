/**
 * The merchant's first administrator made by the factory station (issue 15: a real board creates
 * no operator at its first boot; the service administrator opens the recovery menu only). Here on
 * the simulator board, whose first boot would otherwise make its default operators: the station's
 * `pos factory provision --merchant-admin 88 --merchant-password-file F` (run in-process) writes
 * the identity and that administrator; the terminal process then boots on that storage, makes no
 * default operator, and the merchant's administrator logs in, signs on, sells and settles.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { factoryCommands } from '../../boot/factory-cli';
import { TEST_IDS, kcvOf } from '../../boot/factory';
import { SIM_IDENTITY } from '../../boot/sim-provision';
import { journalState, terminalPerTest } from './driver';

const MERCHANT = { typed: '88', number: '088', password: '24681357' } as const;

/** Two components whose XOR is the simulator's test TMK (the simulator board accepts test keys). */
function testComponents(): string {
  const a = Buffer.from('0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F', 'hex');
  const b = Buffer.from(Buffer.from(TEST_IDS.tmkHex, 'hex').map((x, i) => x ^ a[i]));
  return [a, b].map((k) => `${k.toString('hex').toUpperCase()} ${kcvOf(k)}`).join('\n') + '\n';
}

describe('e2e: the merchant\'s first administrator from the factory station (simulator board)', function () {
  this.timeout(120_000);
  const b = terminalPerTest('posmerchant-');

  it('provisionedWithTheIdentityLogsInSignsOnSellsAndSettlesAndNoDefaultOperatorIsMade', async () => {
    const provisionCmd = factoryCommands.find((c) => c.name === 'factory provision');
    assert.ok(provisionCmd);
    writeFileSync(join(b.dir, 'components.txt'), testComponents());
    writeFileSync(join(b.dir, 'merchant.pw'), `${MERCHANT.password}\n`, { mode: 0o600 });
    const out: string[] = [];
    const flags = {
      serial: SIM_IDENTITY, tid: TEST_IDS.tid, mid: TEST_IDS.mid, components: join(b.dir, 'components.txt'), board: 'sim', locale: 'en',
      dir: join(b.dir, 'journal'), registry: join(b.dir, 'registry.json'), 'label-dir': b.dir,
      'merchant-admin': MERCHANT.typed, 'merchant-password-file': join(b.dir, 'merchant.pw'),
    };
    const code = await provisionCmd.run({ args: [], flags: new Map(Object.entries(flags)), out: (l) => out.push(l), err: (l) => out.push(l) });
    assert.equal(code, 0, out.join('\n'));
    assert.ok(out.some((l) => l.startsWith(`merchant administrator ${MERCHANT.number} created`)), out.join('\n'));
    assert.ok(!out.join('\n').includes(MERCHANT.password), 'the merchant\'s password is never printed');

    const d = b.d;
    await d.powerOn();
    await d.until('login');
    // The simulator's default cashier was not made: the station's administrator is the only operator.
    await d.typeLogin('cashier');
    const refused = await d.until('login', (s) => s.data.error?.code !== undefined);
    assert.equal(refused.data.error?.code, 'E-OPR-05', JSON.stringify(refused.data.error));
    await d.keys('CANCEL'); // the error's screen goes; the login asks for a number again
    await d.until('login', (s) => s.screen.text.includes('Operator no.'));
    await d.keys(`${MERCHANT.typed}OK${MERCHANT.password}OK`);
    await d.until('idle');
    await d.sale('1234');
    // Settlement needs a supervisor or above: the administrator goes straight to the totals.
    await d.keys('MENU6');
    const asked = await d.until('settlement.confirm');
    assert.equal(asked.data.settlementTotals?.saleCount, 1);
    await d.keys('OK');
    await d.until('settlement.result');
    await d.keys('OK');
    await d.until('idle');
    assert.equal(await d.powerOff(), 0);

    const day = await journalState(join(b.dir), true);
    const operators = [...day.operators.values()].map((o) => `${o.number}:${o.role}`);
    assert.deepEqual(operators, [`${MERCHANT.number}:administrator`]);
    assert.deepEqual([...day.txns.values()].map((t) => `${t.kind}:${t.operator}:${t.status}`), [`sale:${MERCHANT.number}:approved`]);
  });
});

/**
 * Keyed card entry as a new user tries it from the README: the simulator's test cards carry valid
 * check digits (so the number the README names is accepted at the keypad), and BACK from the
 * expiry returns to the card number with every digit of it on the screen.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { terminalPerTest } from './driver';
import { TEST_CARDS } from '../../sim/test-cards';
import { panProblem } from '../../runtime/txn/entry-checks';

/** Every card number the simulator's test cards hold: chip PANs, and the PANs of track 2 and 3. */
function testCardPans(): Array<[string, string]> {
  return Object.entries(TEST_CARDS).flatMap(([name, card]): Array<[string, string]> => (card.kind === 'mag'
    ? [[`${name} track 2`, card.track2.split('=')[0]], ...(card.track3 ? [[`${name} track 3`, card.track3.slice(2).split('=')[0]] as [string, string]] : [])]
    : [[name, card.pan]]));
}

/** An expiry MMYY a few years after today (whatever today is). */
function futureExpiry(): string {
  return `12${String((new Date().getUTCFullYear() + 3) % 100).padStart(2, '0')}`;
}

describe('e2e: keyed card entry with the test cards', function () {
  this.timeout(120_000);

  it('everyTestCardNumberHasAValidLuhnCheckDigit', () => {
    const pans = testCardPans();
    assert.ok(pans.length >= 6, JSON.stringify(pans));
    for (const [name, pan] of pans) assert.equal(panProblem(pan), undefined, `${name}: ${pan.slice(0, 6)}... fails the keypad's check`);
  });

  it('theReadmeNamesATestCardNumberToKeyAndTheKeypadAcceptsIt', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const named = /key the 16-digit test card `(\d+)`/.exec(readme)?.[1];
    assert.ok(named, 'the README says which card number to key');
    assert.ok(testCardPans().some(([, pan]) => pan === named), `${named} is not a test card`);
    assert.equal(panProblem(named), undefined);
  });

  describe('through the control interface', () => {
    const bench = terminalPerTest('pos-e2e-keyed-');

    it('backFromTheExpiryReturnsToTheCardNumberWithEveryDigitShownAndTheKeyedSaleIsApproved', async () => {
      const d = bench.d;
      await d.powerOn();
      await d.signIn();
      await d.keys('1500OK');
      await d.until('sale.card');
      const pan = TEST_CARDS.icDebit.pan; // 19 digits: wider than the 128x64 display's 16 cells
      await d.keys(`FUNC${pan}OK`);
      await d.until('sale.card', (s) => s.screen.text.some((l) => l.includes('Expiry')));
      await d.keys('BACK');
      const back = await d.until('sale.card', (s) => s.screen.name === 'keyedCard' && !s.screen.text.some((l) => l.includes('Expiry')));
      assert.ok(back.screen.text.join('').replace(/\s/g, '').includes(pan), `the number whole after BACK: ${JSON.stringify(back.screen.text)}`);
      await d.keys('OK');
      await d.until('sale.card', (s) => s.screen.text.some((l) => l.includes('Expiry')));
      await d.keys(`${futureExpiry()}OK`);
      const approved = await d.until('sale.askCustomerCopy');
      assert.equal(approved.data.result?.txn?.amountFen, 1500);
      assert.equal(approved.data.result?.txn?.entryMode.slice(0, 2), '01', 'keyed entry mode');
      await d.keys('2');
      await d.until('sale.signature');
      await d.keys('OK');
      await d.until('idle');
      await d.powerOff();
    });
  });
});

/**
 * The host not answering during a sale, through the keypad and the screen: the error screen names
 * the code and offers OK = retry; the retry reads the card again for the same amount, the
 * reversal left pending goes out first, and the books agree at the end.
 */
import { strict as assert } from 'node:assert';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { Driver, journalState, assertLedgerAgrees, terminalPerTest } from './driver';

describe('e2e: host unreachable during a sale, retried from the result screen', function () {
  this.timeout(90_000);
  const bench = terminalPerTest('pos-e2e-retry-');
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  beforeEach(() => { ({ host, dir, d } = bench); });

  it('OK on the error screen retries the sale with the same amount; CANCEL would end it; the reversal goes first; books agree', async () => {
    await d.powerOn();
    await d.signIn();
    host.setFault({ kind: 'close-before-response', count: Infinity });
    await d.keys('4200OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    const failed = await d.until('sale.result', (s) => s.screen.name === 'error');
    const text = (await d.pages('error')).join(' | ');
    assert.match(text, /E-(HOST|NET)-\d\d/, text);
    assert.match(text, /重试|retry/i, `the screen offers a retry: ${text}`);
    assert.equal(failed.data.reversalPending, true, 'the reversal is kept while the host does not answer');
    host.clearFaults();
    await d.keys('OK');
    await d.until('sale.card', (s) => s.data.amountFen === 4200);
    await d.cmd('swipe', { card: 'magDebit' });
    const ok = await d.until('sale.askCustomerCopy');
    assert.equal(ok.data.result?.outcome, 'approved');
    assert.equal(ok.data.amountFen, 4200);
    const types = host.requests().filter((q) => q.type === 'reversal' || q.type === 'sale').map((q) => q.type);
    assert.deepEqual(types.slice(-2), ['reversal', 'sale'], 'the reversal went out before the retried sale');
    await d.keys('2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    assert.equal(await d.powerOff(), 0);
    const journal = await journalState(dir);
    assertLedgerAgrees(host, journal, journal.batch);
  });
});

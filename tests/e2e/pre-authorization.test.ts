/**
 * A hotel's deposit through the terminal process, by keys: a pre-authorization (main menu 10, 1),
 * then its completion for a little more than the hold (10, 3, the hold's trace number), as a
 * cashier does it; the host holds, then captures; the slips say what each was.
 */
import { strict as assert } from 'node:assert';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { journalState, assertLedgerAgrees, terminalPerTest } from './driver';
import { openPreAuthFamily } from './pre-auth-menu';

describe('e2e: pre-authorization and its completion through keys', function () {
  this.timeout(120_000);
  const bench = terminalPerTest('pos-e2e-preauth-');

  it('hold 300.00, complete 320.00 by its trace number (345.00 is refused on the screen first); host and slips agree', async () => {
    const { d, host, dir } = bench;
    await d.powerOn();
    await d.signIn();
    const openFamily = (item: string, state: string): Promise<void> => openPreAuthFamily(d, item, state);
    await openFamily('1', 'preAuth.amount');
    await d.keys('30000OK');
    await d.until('preAuth.card');
    await d.cmd('swipe', { card: 'magDebit' });
    const held = await d.until('preAuth.askCustomerCopy');
    assert.equal(held.data.result?.outcome, 'approved');
    const trace = String(held.data.result?.stan).padStart(6, '0');
    await d.keys('2');
    await d.until('idle');

    await openFamily('3', 'completion.original');
    await d.keys(`${trace}OK`);
    const amountScreen = await d.until('completion.amount');
    assert.equal(amountScreen.data.preAuthHold?.completionFenMax, 34_500);
    await d.keys('34501OK');
    await d.until('completion.amount', (s) => s.data.error?.code === 'E-OPR-01');
    await d.keys('OK'); // the error's page acknowledged: the amount entry again
    await d.until('completion.amount', (s) => s.screen.name === 'txnAmount');
    await d.keys('CLEAR'); // the refused digits stay for a correction: cleared here
    await d.keys('32000OK');
    const captured = await d.until('completion.askCustomerCopy');
    assert.equal(captured.data.result?.outcome, 'approved');
    await d.keys('2');
    await d.until('idle');

    const entries = host.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.status === 'approved');
    assert.deepEqual(entries.map((e) => [e.type, e.amountFen]), [['preAuth', 30_000], ['completion', 32_000]]);
    const slips = (await d.receipts()).map((r) => r.join('\n'));
    assert.ok(slips.some((s) => /预授权完成|AUTH COMPLETION/.test(s)), slips.join('\n---\n'));
    assert.ok(slips.some((s) => /预授权(?!完成)|PRE-AUTH/.test(s)));
    assert.equal(await d.powerOff(), 0);
    const journal = await journalState(dir);
    assertLedgerAgrees(host, journal, journal.batch);
  });
});

/**
 * An offline sale through the terminal process, as it happens in a shop whose network drops: the
 * acquirer is taken down from the control interface (`host down`: connections refused), a sale
 * within the host's floor limit is approved by the terminal (离线 on the screen and the slip), the
 * host comes back (`host up`), and the advice reaches it before the next online sale.
 */
import { strict as assert } from 'node:assert';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { journalState, assertLedgerAgrees, terminalPerTest } from './driver';

describe('e2e: offline sale while the host is down, sent when it is back', function () {
  this.timeout(120_000);
  const bench = terminalPerTest('pos-e2e-offline-');

  it('host down: approved offline and printed 离线; host up: the advice goes before the next sale; books agree', async () => {
    const { d, host, dir } = bench;
    await d.powerOn();
    await d.signIn();
    await d.cmd('host', { line: 'down' });
    await d.keys('8800OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    const offline = await d.until('sale.askCustomerCopy');
    assert.equal(offline.data.result?.outcome, 'approved');
    assert.equal(offline.data.result?.txn?.offline, 'pending');
    assert.match(offline.data.result?.txn?.authCode ?? '', /^OF\d{4}$/);
    await d.keys('2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    const slip = (await d.receipts()).at(-1)?.join('\n') ?? '';
    assert.match(slip, /离线|OFFLINE/, slip);
    assert.equal(host.requests().filter((q) => q.type === 'offlineAdvice').length, 0, 'nothing reached the host while it was down');

    await d.cmd('host', { line: 'up' });
    await d.sale(1200);
    const order = host.requests().filter((q) => q.type === 'offlineAdvice' || q.type === 'sale').map((q) => q.type);
    assert.deepEqual(order.slice(-2), ['offlineAdvice', 'sale'], 'the advice went before the next online sale');
    const advices = host.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.offline === true);
    assert.deepEqual(advices.map((e) => e.amountFen), [8800]);
    assert.equal(await d.powerOff(), 0);
    const journal = await journalState(dir);
    assertLedgerAgrees(host, journal, journal.batch);
  });
});

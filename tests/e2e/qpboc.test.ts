/**
 * qPBOC in the terminal process on the simulator board (issue 11): the first sign-on downloads the
 * acquirer simulator's CA keys and AIDs (contactless floor limit 200 yuan, transaction limit 1,000,
 * CVM from 300) and its parameters (offline sales allowed up to 200 yuan), then QuickPass cards are
 * tapped on the virtual reader: a small tap is approved offline by the card (TC, fDDA passed:
 * nothing sent, 离线/OFFLINE on the slip) and its advice, carrying the TC, reaches the host before
 * the next online sale; a tap over the floor limit is approved online with the card's ARQC, one over
 * the CVM required limit asks for the PIN (the card wants online PIN); a card
 * whose fDDA fails and whose CTQ allows no fallback shows E-RDR-09 and sends nothing; one whose
 * fDDA fails and whose CTQ says go online is approved online; a tap at the contactless transaction
 * limit shows E-RDR-13 (insert or swipe), and the same sale then goes through with the card inserted;
 * a pre-authorization by tap under the floor limit is never approved offline by the card (ARQC);
 * the two refusals at the reader are in the journal (card-refused records, nothing of the card).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { primitives } from '../../runtime/txn/emv';
import { Journal } from '../../storage/journal';
import { RecordType } from '../../storage/record';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { assertLedgerAgrees, journalState, terminalPerTest } from './driver';
import { openPreAuthFamily } from './pre-auth-menu';

describe('e2e: qPBOC contactless sales (terminal process, simulator board, acquirer simulator)', function () {
  this.timeout(180_000);
  const bench = terminalPerTest('pos-e2e-qpboc-');

  /** Customer copy declined, then the signature step when the machine asks for one, to idle. */
  const finish = (): Promise<void> => bench.d.declineCopyToIdle();

  async function tapShowsError(amountKeys: string, card: string, code: string): Promise<void> {
    const { d } = bench;
    await d.keys(`${amountKeys}OK`);
    await d.until('sale.card');
    await d.cmd('tap', { card });
    await d.until('sale.cardError');
    const text = await d.screen('error');
    assert.ok(text.some((l) => l.includes(code)), `${card}: ${text.join('|')}`);
  }

  it('offline under the floor limit and uploaded later; online over it; fDDA failed: declined, or online; over the contactless limit: insert the card', async () => {
    const { d, host, dir } = bench;
    const financial = (): string[] => host.requests().filter((q) => q.type === 'sale' || q.type === 'offlineAdvice').map((q) => String(q.type));
    await d.powerOn();
    await d.signIn();

    // ---- 50.00 tapped: the card approves offline, nothing goes to the host
    await d.keys('5000OK');
    await d.until('sale.card');
    await d.cmd('tap', { card: 'quickPass' });
    const offline = await d.until('sale.askCustomerCopy');
    assert.equal(offline.data.result?.outcome, 'approved');
    assert.equal(offline.data.result?.txn?.offline, 'pending');
    assert.match(offline.data.result?.txn?.authCode ?? '', /^OF\d{4}$/);
    await finish();
    assert.match((await d.receipts()).at(-1)?.join('\n') ?? '', /离线|OFFLINE/);
    assert.deepEqual(financial(), [], 'nothing reached the host');

    // ---- 250.00 tapped: over the contactless floor limit, the card gives an ARQC; the advice goes first
    await d.keys('25000OK');
    await d.until('sale.card');
    await d.cmd('tap', { card: 'quickPass' });
    const online = await d.until('sale.askCustomerCopy');
    assert.equal(online.data.result?.outcome, 'approved');
    assert.equal(online.data.result?.txn?.offline, undefined);
    await finish();
    assert.deepEqual(financial(), ['offlineAdvice', 'sale']);
    const [advice, sale] = host.requests().filter((q) => q.type === 'sale' || q.type === 'offlineAdvice');
    assert.equal(primitives(advice.field55 as Buffer).get(0x9f27)?.toString('hex'), '40', 'the advice carries the card\'s TC');
    assert.equal(primitives(sale.field55 as Buffer).get(0x9f27)?.toString('hex'), '80', 'the online sale the card\'s ARQC');
    assert.equal(host.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.offline === true).length, 1);

    // ---- 400.00 tapped: over the CVM required limit (300), the card wants online PIN: the PIN screen, then online
    await d.keys('40000OK');
    await d.until('sale.card');
    await d.cmd('tap', { card: 'quickPass' });
    await d.until('sale.pin');
    await d.keys('2468OK');
    const withPin = await d.until('sale.askCustomerCopy');
    assert.equal(withPin.data.result?.outcome, 'approved');
    await finish();
    assert.deepEqual(financial().slice(2), ['sale']);
    const pinSale = host.requests().filter((q) => q.type === 'sale').at(-1);
    assert.equal(primitives(pinSale?.field55 as Buffer).get(0x9f34)?.toString('hex').toUpperCase(), '420300', 'CVM results: online PIN');

    // ---- fDDA fails, the card allows no fallback: E-RDR-09, nothing sent
    await tapShowsError('6000', 'qpbocExpiredIcc', 'E-RDR-09');
    await d.keys('CANCEL');
    await d.until('idle');
    assert.equal(financial().length, 3);

    // ---- fDDA fails, the card says go online: its TC is sent and verified
    await d.keys('7000OK');
    await d.until('sale.card');
    await d.cmd('tap', { card: 'qpbocBadFdda' });
    const fallback = await d.until('sale.askCustomerCopy');
    assert.equal(fallback.data.result?.outcome, 'approved');
    await finish();
    assert.deepEqual(financial().slice(3), ['sale']);

    // ---- 1,000.00 tapped: at the contactless transaction limit, E-RDR-13; OK, then the card inserted
    await tapShowsError('100000', 'quickPass', 'E-RDR-13');
    await d.keys('OK');
    await d.until('sale.card');
    await d.cmd('insert', { card: 'icDebit' });
    await d.until('sale.pin');
    await d.keys('2468OK');
    const inserted = await d.until('sale.askCustomerCopy');
    assert.equal(inserted.data.result?.outcome, 'approved');
    await finish();
    await d.cmd('remove');
    assert.equal(financial().length, 5);

    // ---- a pre-authorization of 50.00 by tap: never approved offline by the card (the hold is the host's): ARQC, online
    await openPreAuthFamily(d, '1', 'preAuth.amount');
    await d.keys('5000OK');
    await d.until('preAuth.card');
    await d.cmd('tap', { card: 'quickPass' });
    const hold = await d.until('preAuth.askCustomerCopy');
    assert.equal(hold.data.result?.outcome, 'approved');
    const preAuth = host.requests().find((q) => q.type === 'preAuth');
    assert.equal(primitives(preAuth?.field55 as Buffer).get(0x9f27)?.toString('hex'), '80', 'the pre-authorization carries an ARQC');
    await d.keys('2');
    await d.until('idle');

    assert.equal(await d.powerOff(), 0);
    const journal = await journalState(dir);
    assertLedgerAgrees(host, journal, journal.batch);
    // The two refusals at the reader are journaled (code, transaction, ODA's method and reason), with nothing of the card.
    const raw = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
    try {
      const refused = [...raw.records()].filter((r) => r.type === RecordType.cardRefused).map((r) => r.payload);
      assert.deepEqual(refused, [
        { code: 'E-RDR-09', txnType: 'sale', amountFen: 6_000, oda: 'fdda', reason: 'expired' },
        { code: 'E-RDR-13', txnType: 'sale', amountFen: 100_000 },
      ]);
    } finally {
      await raw.close();
    }
  });
});

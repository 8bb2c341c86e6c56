/**
 * A pre-authorization by chip in the terminal process (issue 11): the profile's pre-authorization
 * is "as a sale", so an inserted card stays in the reader for the online half, as a sale's does.
 * A card that declines at the final GENERATE AC after the host approved the hold shows E-RDR-11 and
 * the hold is reversed (06) at the host; a hold whose approval carries an issuer script runs it,
 * its 0620 goes before the next financial message, and the completion (no card: by trace number)
 * captures the hold as before.
 */
import { strict as assert } from 'node:assert';
import { parseFaultSpec } from '../../sim/host/faults';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { assertLedgerAgrees, journalState, terminalPerTest } from './driver';
import { openPreAuthFamily } from './pre-auth-menu';

describe('e2e: pre-authorization by chip gets the online half (final GENERATE AC, scripts)', function () {
  this.timeout(180_000);
  const bench = terminalPerTest('pos-e2e-chip-preauth-');

  it('declined by the card after approval: E-RDR-11, the hold reversed; a script on a hold: run, its notice sent before the completion', async () => {
    const { d, host, dir } = bench;
    await d.powerOn();
    await d.signIn();
    const openFamily = (item: string, state: string): Promise<void> => openPreAuthFamily(d, item, state);

    await openFamily('1', 'preAuth.amount');
    await d.keys('21000OK');
    await d.until('preAuth.card');
    await d.cmd('insert', { card: 'icDeclinesLate' });
    await d.until('preAuth.pin');
    await d.keys('2468OK');
    await d.until('preAuth.result');
    const text = await d.screen('error');
    assert.ok(text.some((l) => l.includes('E-RDR-11')), text.join('|'));
    const declined = host.ledger.entries({ tid: TEST_TERMINAL.tid }).find((e) => e.amountFen === 21_000);
    assert.equal(declined?.type, 'preAuth');
    assert.equal(declined?.status, 'reversed', 'the host approved the hold, the card did not: reversed');
    assert.equal(host.requests().find((q) => q.type === 'reversal')?.requestCode, '06');
    await d.cmd('remove');
    await d.keys('OK');
    await d.until('idle');

    host.setFault(parseFaultSpec('issuer-script:72-put-data'));
    await openFamily('1', 'preAuth.amount');
    await d.keys('30000OK');
    await d.until('preAuth.card');
    await d.cmd('insert', { card: 'icDebit' });
    await d.until('preAuth.pin');
    await d.keys('2468OK');
    const held = await d.until('preAuth.askCustomerCopy');
    assert.equal(held.data.result?.outcome, 'approved');
    const trace = String(held.data.result?.stan).padStart(6, '0');
    assert.equal(host.scriptNotices().length, 0, 'the notice waits for the next financial message');
    await d.keys('2');
    await d.until('idle');
    await d.cmd('remove');

    await openFamily('3', 'completion.original');
    await d.keys(`${trace}OK`);
    await d.until('completion.amount');
    await d.keys('30000OK');
    const captured = await d.until('completion.askCustomerCopy');
    assert.equal(captured.data.result?.outcome, 'approved');
    await d.keys('2');
    await d.until('idle');
    const notices = host.scriptNotices();
    assert.equal(notices.length, 1);
    assert.deepEqual(notices[0].results.map((r) => r.result), [2], 'DF31: the script done');
    const types = host.requests().map((q) => q.type);
    assert.ok(types.indexOf('scriptNotice') < types.indexOf('completion'), types.join(' '));
    const approved = host.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.status === 'approved');
    assert.deepEqual(approved.map((e) => [e.type, e.amountFen]), [['preAuth', 30_000], ['completion', 30_000]]);
    assert.equal(await d.powerOff(), 0);
    const journal = await journalState(dir);
    assertLedgerAgrees(host, journal, journal.batch);
  });
});

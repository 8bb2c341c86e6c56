/**
 * The online half of a chip sale in the terminal process (issue 11), simulator board and acquirer
 * simulator: a card pulled before the final GENERATE AC after the host approved shows E-RDR-12 and
 * the sale is reversed at the host; a card whose issuer script fails keeps its approved sale, and
 * the script notice (0620) journaled before the sale finished survives the battery pulled (the
 * process SIGKILLed) and reaches the host before the next sale after power-up.
 */
import { strict as assert } from 'node:assert';
import { parseFaultSpec } from '../../sim/host/faults';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { Driver, terminalPerTest } from './driver';

describe('e2e: chip sale online half (final GENERATE AC, scripts, 0620 across a battery pull)', function () {
  this.timeout(120_000);
  const bench = terminalPerTest('pos-e2e-chip-online-');
  let host: AcquirerSimulator;
  let d: Driver;
  beforeEach(() => { ({ host, d } = bench); });

  it('pulled before the end: E-RDR-12 on screen, reversed (06) at the host; a failed script: approved, its notice sent after the battery pull, before the next sale', async () => {
    await d.powerOn();
    await d.signIn();

    await d.keys('1300OK');
    await d.until('sale.card');
    await d.cmd('insert', { card: 'icPulledLate' });
    await d.until('sale.pin');
    await d.keys('2468OK');
    await d.until('sale.result');
    const text = await d.screen('error');
    assert.ok(text.some((l) => l.includes('E-RDR-12')), text.join('|'));
    const pulled = host.ledger.entries({}).find((e) => e.amountFen === 1300);
    assert.equal(pulled?.status, 'reversed', 'the host approved, the terminal reversed it');
    assert.equal(host.requests().find((q) => q.type === 'reversal')?.requestCode, '06');
    await d.cmd('remove');
    await d.keys('OK');
    await d.until('idle');

    host.setFault(parseFaultSpec('issuer-script:71-put-data'));
    await d.keys('1400OK');
    await d.until('sale.card');
    await d.cmd('insert', { card: 'icScriptFails' });
    await d.until('sale.pin');
    await d.keys('2468OK');
    const approved = await d.until('sale.askCustomerCopy');
    assert.equal(approved.data.result?.outcome, 'approved', 'a failed script does not undo the sale');
    assert.equal(host.scriptNotices().length, 0, 'the notice waits for the next financial message');
    await d.pullBattery();

    await d.powerOn();
    // The merchant copy's printed mark is deferred: a battery pull loses it and the boot offers the copy again.
    await d.until('offerReprint');
    await d.keys('CANCEL');
    await d.signIn();
    await d.sale(900);
    const notices = host.scriptNotices();
    assert.equal(notices.length, 1, 'the notice survived the battery pull');
    assert.deepEqual(notices[0].results.map((r) => [r.result, r.command]), [[1, 1]], 'DF31: failed at its first command');
    const types = host.requests().map((q) => q.type);
    assert.ok(types.indexOf('scriptNotice') < types.lastIndexOf('sale'), 'before the next sale');
  });
});

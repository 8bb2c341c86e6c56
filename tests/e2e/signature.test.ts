/**
 * Electronic signature end to end, through the control interface only: a chip sale on the
 * simulator board, the customer signs on the pad (`sign`: the simulated TSC2007 on the I2C bus,
 * sampled by the real driver in the terminal process), OK confirms; the journal holds the
 * signature with the transaction; a reprint of the merchant copy prints it; the settlement
 * uploads it first (0820, 60.3 = 800, field 62 = the journal's compressed image) to the acquirer
 * simulator, whose frames are read here as they arrive.
 */
import { strict as assert } from 'node:assert';
import { inflateRawSync } from 'node:zlib';
import { AcquirerSimulator, TEST_TERMINAL } from '../../sim/host/simulator';
import { unpackFrame, Frame } from '../../runtime/host/packager';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { SIGNATURE_BYTES_MAX, SIGNATURE_PIXELS_MAX } from '../../runtime/txn/engine';
import { tempDir, removeDir } from '../../storage/testing';
import { Driver, journalState } from './driver';

describe('e2e: electronic signature on the pad (terminal process, simulator board, acquirer simulator)', function () {
  this.timeout(120_000);
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  const frames: Frame[] = [];

  before(async () => {
    host = new AcquirerSimulator({ clock: Date.now });
    // Every request frame as the host received it (the simulator keeps no copy of field 62).
    const handle = host.handle.bind(host);
    host.handle = (frame: Buffer) => {
      try { frames.push(unpackFrame(CUP_PROFILE, frame)); } catch { /* the simulator reports it */ }
      return handle(frame);
    };
    await host.listen(0);
    dir = tempDir('pos-e2e-sign-');
    d = new Driver(host, dir, 'en');
  });
  after(async () => {
    await d?.powerOff().catch(() => undefined);
    await host?.close();
    if (dir) removeDir(dir);
  });

  it('chip sale, the customer signs via the control interface, journal holds it, reprint prints it, settlement uploads it in field 62', async () => {
    await d.powerOn();
    await d.until('login');
    await d.keys('01OK');
    await d.until('login', (s) => s.screen.text.includes('Password'));
    await d.keys('0000OK');
    await d.until('idle');

    // ---- chip sale with PIN
    await d.keys('2500OK');
    await d.until('sale.card');
    await d.cmd('insert', { card: 'icDebit' });
    await d.until('sale.pin');
    await d.keys('2468OK');
    const approved = await d.until('sale.askCustomerCopy');
    const stan = approved.data.result?.stan as number;
    await d.keys('2');

    // ---- the pad's screen; a first scribble cleared, then the real signature, OK
    await d.until('sale.signature');
    const text = await d.screen('signature');
    assert.deepEqual(text.slice(1), ['Sign on the pad', 'CANCEL=on paper', 'OK=done CLR=redo'], `pad screen: ${text.join('|')}`);
    assert.equal((await d.cmd('sign', { strokes: [[[10, 10], [300, 110]]] })).ok, true);
    await d.until('sale.signature', (s) => s.screen.text.includes('1 strokes'));
    await d.keys('CLEAR');
    await d.until('sale.signature', (s) => s.screen.text.includes('Sign on the pad'));
    const signed = await d.cmd('sign', { name: 'demo' });
    assert.equal(signed.strokes, 3);
    await d.until('sale.signature', (s) => s.screen.text.includes('3 strokes'));
    await d.keys('OK');
    await d.until('idle');

    // ---- a reprint of the last receipt (merchant copy) carries the signature image (82 dots high;
    //      the raster is as wide as the centring needs)
    const before = (await d.receipts()).length;
    await d.keys('MENU5');
    await d.screen('reprint');
    await d.keys('1');
    await d.screen('reprintCopy');
    await d.keys('1');
    await d.until('idle');
    await d.receiptsAtLeast(before + 1);
    const reprint = (await d.receiptsWithImages()).at(-1);
    assert.ok(reprint?.lines.some((l) => /CARDHOLDER SIGNATURE/.test(l)), `reprint: ${JSON.stringify(reprint?.lines)}`);
    assert.ok(reprint?.images.some((im) => im.height === 82 && im.width >= 265), `signature image on the reprint: ${JSON.stringify(reprint?.images)}`);

    // ---- settlement (supervisor): the signature goes up first
    await d.keys('MENU6');
    await d.until('settlement.authorize.ask');
    await d.typeLogin('supervisor');
    await d.until('settlement.confirm');
    await d.keys('OK');
    const settled = await d.until('settlement.result');
    const batch = settled.data.settlement?.batch as number;
    await d.keys('OK');
    await d.until('idle');

    const uploads = host.requests().filter((r) => r.type === 'signatureUpload');
    assert.equal(uploads.length, 1, 'one signature upload');
    assert.equal(uploads[0].code, '00');
    assert.equal(host.ledger.batchState(TEST_TERMINAL.tid, batch)?.signatures, 1);
    const upload = frames.find((f) => f.message.mti === '0820' && String(f.message.fields.get(60)).endsWith('800'));
    assert.ok(upload, `a 0820 with 60.3 = 800 reached the host: ${frames.map((f) => `${f.message.mti}/${String(f.message.fields.get(60))}`).join(' ')}`);

    // ---- the journal: the signature with the sale, marked uploaded; field 62 is exactly it
    assert.equal(await d.powerOff(), 0);
    const state = await journalState(dir, true); // the batch as the settlement closed it
    const sale = state.txns.get(stan);
    assert.ok(sale?.signature, 'the journal holds the signature with the sale');
    assert.equal(sale.signature.uploaded, true);
    assert.ok(sale.signature.width * sale.signature.height <= SIGNATURE_PIXELS_MAX);
    assert.ok(sale.signature.image.length <= SIGNATURE_BYTES_MAX);
    assert.deepEqual([sale.signature.width, sale.signature.height], [265, 82]);
    const f62 = upload.message.fields.get(62);
    assert.ok(Buffer.isBuffer(f62) && f62.equals(sale.signature.image), 'field 62 carries the journal\'s compressed image');
    const bits = inflateRawSync(sale.signature.image);
    assert.ok(bits.some((b) => b !== 0), 'ink in the image');
  });
});

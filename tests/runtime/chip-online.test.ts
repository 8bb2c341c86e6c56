/**
 * The online half of a chip sale through the engine, against the acquirer simulator (which verifies
 * the ARQC and answers 91, and on command a wrong ARPC or scripts) and the card models held in the
 * reader (CardRequest.holdCard): the final GENERATE AC's TC keeps the sale; a failed issuer
 * authentication, a card that declines at the final GENERATE AC and a card pulled before it are
 * reversed with 06 (E-RDR-10/11/12); scripts run and their 0620 notice is durably pending before the
 * sale returns, sent before the next financial message, cleared by a 0630 with 00, kept across a
 * power cut; a power cut between the host's approval and the card's answer reverses the sale.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PosError, isPosError } from '../../common/errors';
import { CardSlot } from '../../hal/card-reader';
import { CardInput, cardFromTrack2, readCard } from '../../runtime/txn/card';
import { primitives } from '../../runtime/txn/emv';
import { SCRIPT_DONE, SCRIPT_FAILED, readScriptResults } from '../../runtime/txn/emv-online';
import { RecordType } from '../../storage/record';
import { EmvCardSpec, emvCard } from '../../sim/emv-card';
import { parseFaultSpec } from '../../sim/host/faults';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { ChipCard } from '../../sim/test-cards';
import { ChipCardReader } from './fakes';
import { CASHIER, Rig, SUPERVISOR, assertReconciled, rig, journalDiskBytes } from './harness';
import { settle } from '../../runtime/txn/settlement';

/** The fake reader, with the card model's pulls (E-RDR-05 as the reader driver reports them). */
class PullingReader extends ChipCardReader {
  constructor(private readonly c: ChipCard) { super(c); }
  override async transmit(slot: CardSlot, apdu: Uint8Array): Promise<Buffer> {
    if (this.c.pullsOn?.(Buffer.from(apdu))) throw new PosError('RDR_CARD_REMOVED', 'card pulled');
    return super.transmit(slot, apdu);
  }
}

let panSeq = 100;
function card(over: Partial<EmvCardSpec> = {}): ChipCard & { model: import('../../sim/emv-card').EmvCardModel } {
  // A fresh PAN per card: the duplicate guard and the host's ledger keep cards apart.
  return emvCard({ kind: 'ic', name: 'online test', pan: `622202000000${String(panSeq++).padStart(4, '0')}`, expiry: '301231', psn: 1, atc: 'counter', ...over });
}

async function held(r: Rig, amountFen: number, c: ChipCard): Promise<{ input: CardInput; reader: PullingReader }> {
  const reader = new PullingReader(c);
  const input = await readCard(reader, ['insert'], 1000, { ...r.terminal.engine.cardRequest('sale', amountFen), holdCard: true });
  assert.ok(input.online, 'the card is held for the online half');
  assert.equal(reader.released, 0);
  return { input, reader };
}

const records = (r: Rig, type: number): Array<Record<string, unknown>> => [...r.journal.records()].filter((x) => x.type === type).map((x) => x.payload);

describe('chip sale, online half: issuer authentication, final GENERATE AC, scripts and their notice', function () {
  this.timeout(20_000);
  let r: Rig;
  beforeEach(async () => {
    r = await rig();
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  it('the host verifies the ARQC and answers 91; the card passes EXTERNAL AUTHENTICATE and gives a TC: approved, the reversal cleared, the card released', async () => {
    const c = card();
    const { input, reader } = await held(r, 12_345, c);
    const res = await r.terminal.engine.sale({ amountFen: 12_345, card: input, pin: Buffer.from('1234'), session: CASHIER });
    assert.equal(res.outcome, 'approved');
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
    assert.equal(reader.released, 1);
    const ins = reader.apdus.map((a) => a.command.subarray(0, 2).toString('hex').toUpperCase());
    assert.deepEqual(ins.slice(-2), ['0082', '80AE'], 'EXTERNAL AUTHENTICATE, then the final GENERATE AC');
    assert.equal(reader.apdus.at(-1)?.command[2], 0x40, 'a TC asked for');
    assert.equal(primitives(reader.apdus.at(-1)?.answer.subarray(0, -2) as Buffer).get(0x9f27)?.[0], 0x40, 'and given');
    // Approved, then confirmed: the result with its 06 reversal, then the reversal cleared (one more commit than a swipe).
    const pend = records(r, RecordType.reversalPending).map((p) => p.reason);
    assert.deepEqual(pend, ['98', '06']);
    assert.equal(records(r, RecordType.scriptNoticePending).length, 0, 'no scripts, no notice');
    assertReconciled(r);
  });

  it('a chip sale whose ARQC does not verify is declined 05 by the host, and the card is told (AAC)', async () => {
    const c = emvCard({ kind: 'ic', name: 'other issuer', pan: '6222020000009991', expiry: '301231', psn: 1, atc: 'counter', issuerMasterKey: Buffer.alloc(16, 0x5a) });
    const { input, reader } = await held(r, 800, c);
    const res = await r.terminal.engine.sale({ amountFen: 800, card: input, session: CASHIER });
    assert.equal(res.outcome, 'declined');
    assert.equal(res.outcome === 'declined' && res.txn.responseCode, '05');
    assert.equal(reader.apdus.at(-1)?.command[2], 0x00, 'the final GENERATE AC asks for an AAC');
    assert.equal(r.sim.ledger.entries().length, 0);
  });

  for (const [what, spec, fault, code] of [
    ['a wrong ARPC (issuer authentication fails)', {}, 'wrong-arpc', 'E-RDR-10'],
    ['a card that declines at the final GENERATE AC', { faults: ['decline-second-ac'] }, undefined, 'E-RDR-11'],
    ['a card pulled before the final GENERATE AC', { pullAt: 'second-generate-ac' }, undefined, 'E-RDR-12'],
  ] as const) {
    it(`${what}: the approved sale is reversed with 06 (${code}), nothing stays charged`, async () => {
      if (fault) r.sim.setFault(parseFaultSpec(fault));
      const { input, reader } = await held(r, 2_500, card(spec as Partial<EmvCardSpec>));
      const res = await r.terminal.engine.sale({ amountFen: 2_500, card: input, session: CASHIER });
      assert.equal(res.outcome, 'failed');
      assert.equal(res.outcome === 'failed' && res.error.code, code);
      assert.equal(res.outcome === 'failed' && res.reversalPending, false);
      const reversal = r.sim.requests().find((q) => q.type === 'reversal');
      assert.equal(reversal?.requestCode, '06');
      assert.equal(r.sim.ledger.entries().find((e) => e.amountFen === 2_500)?.status, 'reversed');
      assert.equal(r.terminal.engine.txn(res.outcome === 'failed' ? res.stan as number : 0)?.status, 'reversed');
      assert.equal(reader.released, 1);
      assertReconciled(r);
    });
  }

  it('scripts: 71 PIN unblock and 72 APPLICATION BLOCK run; the 0620 is pending before the sale returns, goes before the next sale, 0630 00 clears it', async () => {
    r.sim.setFault(parseFaultSpec('issuer-script:71-pin-unblock'));
    r.sim.setFault(parseFaultSpec('issuer-script:72-block'));
    const c = card();
    const { input } = await held(r, 3_000, c);
    const res = await r.terminal.engine.sale({ amountFen: 3_000, card: input, session: CASHIER });
    assert.equal(res.outcome, 'approved');
    assert.equal(c.model.applicationBlocked, true, 'the 72 script blocked the application');
    const pending = [...r.terminal.engine.state.pendingScriptNotices.values()];
    assert.equal(pending.length, 1);
    assert.deepEqual(readScriptResults(pending[0].scriptResults).map((x) => x.result), [SCRIPT_DONE, SCRIPT_DONE]);
    assert.equal(r.sim.scriptNotices().length, 0, 'not sent yet: it goes before the next financial message');
    const saleStan = res.outcome === 'approved' ? res.txn.stan : 0;
    // The next sale (a swipe): the notice goes first.
    const next = await r.terminal.engine.sale({ amountFen: 100, card: cardFromTrack2('6222021234567890128=3012201000001'), session: CASHIER });
    assert.equal(next.outcome, 'approved');
    const types = r.sim.requests().map((q) => q.type);
    assert.ok(types.lastIndexOf('scriptNotice') < types.lastIndexOf('sale'), 'the notice before the sale');
    assert.equal(r.terminal.engine.state.pendingScriptNotices.size, 0, 'cleared by the 0630');
    const notices = r.sim.scriptNotices();
    assert.equal(notices.length, 1);
    assert.deepEqual(notices[0].original, { tid: TEST_TERMINAL.tid, batch: 1, stan: saleStan });
    assert.deepEqual(notices[0].results.map((x) => x.result), [SCRIPT_DONE, SCRIPT_DONE]);
    const f55 = r.sim.requests().find((q) => q.type === 'scriptNotice')?.field55 as Buffer;
    assert.deepEqual([...primitives(f55).keys()].sort(), [0x9f33, 0x95, 0x9f37, 0x9f1e, 0x9f10, 0x9f26, 0x9f36, 0x82, 0xdf31, 0x9f1a, 0x9a].sort());
    assert.equal(f55.indexOf(Buffer.from(c.pan.slice(0, 12), 'hex')), -1, 'no PAN in its 55');
    // The journal holds the notice (sealed PAN, masked PAN, allow-listed 55, DF31): never the PAN itself.
    const disk = journalDiskBytes(r.dir);
    assert.ok(records(r, RecordType.scriptNoticePending).length === 1 && records(r, RecordType.scriptNoticeCleared).length === 1);
    assert.equal(disk.indexOf(Buffer.from(c.pan, 'ascii')), -1, 'no PAN in ASCII on disk');
    assert.equal(disk.indexOf(Buffer.from(c.pan.slice(0, 12), 'hex')), -1, 'no PAN in BCD on disk');
  });

  it('a script the card refuses (wrong MAC): DF31 failed at command 1, TVR says so; the sale stands; the notice survives a power cut and is sent after it', async () => {
    r.sim.setFault(parseFaultSpec('issuer-script:71-bad-mac'));
    const { input } = await held(r, 4_000, card());
    const res = await r.terminal.engine.sale({ amountFen: 4_000, card: input, session: CASHIER });
    assert.equal(res.outcome, 'approved');
    await r.powerCut();
    const pending = [...r.terminal.engine.state.pendingScriptNotices.values()];
    assert.equal(pending.length, 1, 'the notice survived the power cut');
    assert.deepEqual(readScriptResults(pending[0].scriptResults), [{ result: SCRIPT_FAILED, command: 1, id: '00000001' }]);
    const tvr = primitives(pending[0].field55).get(0x95) as Buffer;
    assert.equal(tvr[4] & 0x20, 0x20, 'TVR byte 5 bit 6: script failed before the final GENERATE AC');
    // The host does not take it three times: it stays, and the sale after it still goes.
    r.sim.setFault(parseFaultSpec('response-code:96,type=scriptNotice,count=3'));
    await r.terminal.engine.signOn(CASHIER);
    const swipe = cardFromTrack2('6222021234567890128=3012201000001');
    assert.equal((await r.terminal.engine.sale({ amountFen: 101, card: swipe, session: CASHIER })).outcome, 'approved');
    assert.equal(r.sim.requests().filter((q) => q.type === 'scriptNotice').length, 3, 'three tries');
    assert.equal(r.terminal.engine.state.pendingScriptNotices.size, 1);
    assert.equal((await r.terminal.engine.sale({ amountFen: 102, card: swipe, session: CASHIER })).outcome, 'approved');
    assert.equal(r.terminal.engine.state.pendingScriptNotices.size, 0, 'taken the next time');
    assert.deepEqual(r.sim.scriptNotices()[0].results, [{ result: SCRIPT_FAILED, command: 1, scriptId: '00000001' }]);
    const stans = new Set(r.sim.requests().filter((q) => q.type === 'scriptNotice').map((q) => q.stan));
    assert.equal(stans.size, 1, 'every try under the notice\'s one STAN');
  });

  it('a host that does not know the 0620 (answers 12): asked once, not again before every sale; the notice waits and goes after the next sign-on', async () => {
    r.sim.setFault(parseFaultSpec('issuer-script:72-put-data'));
    r.sim.setFault(parseFaultSpec('response-code:12,type=scriptNotice'));
    const { input } = await held(r, 4_100, card());
    assert.equal((await r.terminal.engine.sale({ amountFen: 4_100, card: input, session: CASHIER })).outcome, 'approved');
    const swipe = cardFromTrack2('6222021234567890128=3012201000001');
    for (const amountFen of [103, 104, 105]) assert.equal((await r.terminal.engine.sale({ amountFen, card: swipe, session: CASHIER })).outcome, 'approved');
    const notices = (): number => r.sim.requests().filter((q) => q.type === 'scriptNotice').length;
    assert.equal(notices(), 1, 'the "unknown" answer hides the notice until the next sign-on (profile, Version 2)');
    assert.equal(r.terminal.engine.state.pendingScriptNotices.size, 1, 'still pending on disk');
    await r.terminal.engine.signOn(CASHIER);
    assert.equal((await r.terminal.engine.sale({ amountFen: 106, card: swipe, session: CASHIER })).outcome, 'approved');
    assert.equal(notices(), 2, 'tried again after the sign-on');
    assert.equal(r.terminal.engine.state.pendingScriptNotices.size, 0);
  });

  it('the recovery menu\'s resend (resendScriptNotices) sends nothing past a pending reversal, then sends the notice once the reversal is gone', async () => {
    r.sim.setFault(parseFaultSpec('issuer-script:72-put-data'));
    r.sim.setFault(parseFaultSpec('response-code:96,type=scriptNotice,count=3'));
    const { input } = await held(r, 4_200, card());
    assert.equal((await r.terminal.engine.sale({ amountFen: 4_200, card: input, session: CASHIER })).outcome, 'approved');
    // The next sale: its notice try is refused three times, then the sale's answer and every reversal try are lost.
    r.sim.setFault(parseFaultSpec('close-before-response,type=sale'));
    r.sim.setFault(parseFaultSpec('close-before-response,type=reversal,count=always'));
    const swipe = cardFromTrack2('6222021234567890128=3012201000001');
    assert.notEqual((await r.terminal.engine.sale({ amountFen: 103, card: swipe, session: CASHIER })).outcome, 'approved');
    const e = r.terminal.engine;
    assert.ok(e.state.pendingReversal !== undefined && e.pendingScriptNotices() === 1);
    const tries = r.sim.requests().filter((q) => q.type === 'scriptNotice').length;
    assert.deepEqual(await e.resendScriptNotices(CASHIER), { sent: 0, left: 1 });
    assert.equal(r.sim.requests().filter((q) => q.type === 'scriptNotice').length, tries, 'nothing sent past the reversal');
    r.sim.clearFaults();
    assert.equal(await e.flushReversal(), 'cleared');
    assert.deepEqual(await e.resendScriptNotices(CASHIER), { sent: 1, left: 0 });
    assert.equal(r.sim.scriptNotices().length, 1);
  });

  it('a notice still pending when the batch is settled goes to the host before the 0500', async () => {
    r.sim.setFault(parseFaultSpec('issuer-script:72-put-data'));
    const { input } = await held(r, 4_500, card());
    assert.equal((await r.terminal.engine.sale({ amountFen: 4_500, card: input, session: CASHIER })).outcome, 'approved');
    assert.equal(r.terminal.engine.state.pendingScriptNotices.size, 1);
    const report = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(report.verdict, 'balanced');
    const types = r.sim.requests().map((q) => q.type);
    assert.ok(types.indexOf('scriptNotice') >= 0 && types.indexOf('scriptNotice') < types.indexOf('settlement'), types.join(' '));
    assert.equal(r.terminal.engine.state.pendingScriptNotices.size, 0);
  });

  it('a power cut after the host approved and before the card answered: the sale is not done (no receipt offered), and the reboot reverses it (06)', async () => {
    const { input } = await held(r, 5_000, card());
    // The card never answers the final GENERATE AC: the power goes meanwhile.
    let entered!: () => void;
    const reached = new Promise<void>((res) => { entered = res; });
    const stuck: CardInput = { ...input, online: { complete: () => { entered(); return new Promise(() => undefined); }, release: async () => undefined } };
    void r.terminal.engine.sale({ amountFen: 5_000, card: stuck, session: CASHIER });
    await reached;
    await r.powerCut();
    const e = r.terminal.engine;
    const pr = e.state.pendingReversal;
    assert.equal(pr?.reason, '06');
    const txn = [...e.state.txns.values()].find((t) => t.amountFen === 5_000);
    assert.equal(txn?.status, 'approved', 'the host\'s approval is journaled');
    assert.equal(e.txn(txn?.stan as number)?.status, 'pending', 'but the sale is not done');
    assert.equal(e.pendingCopies().length, 0, 'no receipt to print for it');
    assert.equal(await e.flushReversal(), 'cleared');
    assert.equal(r.sim.requests().find((q) => q.type === 'reversal')?.requestCode, '06');
    assert.equal(e.txn(txn?.stan as number)?.status, 'reversed');
    assertReconciled(r);
  });

  it('a tapped card is not held (contactless: no second GENERATE AC, no scripts): approved on the host\'s word, 91 ignored', async () => {
    r.sim.setFault(parseFaultSpec('wrong-arpc'));
    const c = emvCard({ kind: 'contactless', name: 'tap', pan: '6222020000009983', expiry: '301231', psn: 2, atc: 'counter' });
    const reader = new PullingReader(c);
    const input = await readCard(reader, ['tap'], 1000, { ...r.terminal.engine.cardRequest('sale', 650), holdCard: true });
    assert.equal(input.online, undefined);
    assert.equal(reader.released, 1);
    assert.equal((await r.terminal.engine.sale({ amountFen: 650, card: input, session: CASHIER })).outcome, 'approved');
  });

  it('a card held and never sent (refused before sending) is released', async () => {
    const { input, reader } = await held(r, 600, card());
    await assert.rejects(r.terminal.engine.sale({ amountFen: 700, card: input, session: CASHIER }), (err: unknown) => isPosError(err) && err.code === 'E-RDR-02');
    assert.equal(reader.released, 1);
  });
});

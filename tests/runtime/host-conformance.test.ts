/**
 * Rules of the written acquirer profile (docs/PROTOCOL.md) an independent acquirer checks and
 * our own simulator's habits had hidden, read at the wire (every frame the engine hands the
 * transport, and every answer it gets back):
 * - 39 = A0 in a 0210 ("A0 MAC error (sign on again)"): the next transaction is preceded by a 0800;
 * - a reversal carries "the original's 2 3 4 11 14 22 23 25 38 ...": the fields the original had,
 *   no more (a void's 0400 has no 14), and for a chip sale the host approved and the card then
 *   refused, the 38 the host gave it.
 */
import { strict as assert } from 'node:assert';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { IsoMessage, textField, unpackFrame } from '../../runtime/host/packager';
import { HostExchange } from '../../runtime/txn/engine';
import { readCard } from '../../runtime/txn/card';
import { emvCard } from '../../sim/emv-card';
import { parseFaultSpec } from '../../sim/host/faults';
import { ChipCardReader } from './fakes';
import { CASHIER, Rig, SUPERVISOR, magCard, rig } from './harness';

interface Exchange { readonly request: IsoMessage; readonly response?: IsoMessage }

describe('the written profile at the wire: A0 answers, reversal fields', function () {
  this.timeout(20_000);
  let r: Rig;
  let wire: Exchange[];

  beforeEach(async () => {
    wire = [];
    const wired = (t: HostExchange): HostExchange => ({
      exchange: async (request, signal) => {
        const entry: { request: IsoMessage; response?: IsoMessage } = { request: unpackFrame(CUP_PROFILE, Buffer.from(request)).message };
        wire.push(entry);
        const answer = await t.exchange(request, signal);
        entry.response = unpackFrame(CUP_PROFILE, Buffer.from(answer)).message;
        return answer;
      },
      setResponseTimeoutMs: (ms) => t.setResponseTimeoutMs?.(ms),
    });
    r = await rig({ host: wired });
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  const mtis = (): string[] => wire.map((x) => x.request.mti);
  const reversals = (): IsoMessage[] => wire.filter((x) => x.request.mti === '0400').map((x) => x.request);

  it('a 0210 answered A0 (validly MACed) is declined and the next sale is preceded by a sign-on', async () => {
    r.sim.setFault(parseFaultSpec('response-code:A0,type=sale'));
    const first = await r.terminal.engine.sale({ amountFen: 1_100, card: magCard(), session: CASHIER });
    assert.equal(first.outcome, 'declined');
    assert.equal(first.outcome === 'declined' && first.text.code, 'A0');
    assert.equal(r.terminal.engine.signedOn, false, 'the keys are out of step until a new sign-on');
    const before = wire.length;
    const next = await r.terminal.engine.sale({ amountFen: 1_200, card: magCard(), session: CASHIER });
    assert.equal(next.outcome, 'approved');
    assert.deepEqual(mtis().slice(before), ['0800', '0200'], 'a sign-on before the next transaction');
  });

  it('a declined sale other than A0 keeps the keys: the next sale goes without a sign-on', async () => {
    r.sim.setFault(parseFaultSpec('response-code:51,type=sale'));
    assert.equal((await r.terminal.engine.sale({ amountFen: 1_300, card: magCard(), session: CASHIER })).outcome, 'declined');
    const before = wire.length;
    assert.equal((await r.terminal.engine.sale({ amountFen: 1_400, card: magCard(), session: CASHIER })).outcome, 'approved');
    assert.deepEqual(mtis().slice(before), ['0200']);
  });

  it('a void that got no answer is reversed with the void\'s own fields: 37 and 61 out, no 14 (the void had none)', async () => {
    const sale = await r.terminal.engine.sale({ amountFen: 1_500, card: magCard(), session: CASHIER });
    assert.equal(sale.outcome, 'approved');
    const saleReq = wire.find((x) => x.request.mti === '0200')?.request as IsoMessage;
    assert.ok(saleReq.fields.has(14), 'the swiped sale itself carries 14');
    r.sim.setFault(parseFaultSpec('close-before-response,type=void'));
    const v = await r.terminal.engine.voidSale(sale.outcome === 'approved' ? sale.txn.stan : 0, SUPERVISOR);
    assert.equal(v.outcome, 'failed');
    const voidReq = wire.filter((x) => x.request.mti === '0200').at(-1)?.request as IsoMessage;
    assert.equal(textField(voidReq, 3), '200000');
    const [rev] = reversals();
    assert.ok(rev, 'the void was reversed');
    assert.equal(textField(rev, 3), '200000');
    assert.equal(rev.fields.has(14), false, 'no 14 in the 0400: the void had none');
    assert.equal(textField(rev, 38), textField(voidReq, 38), 'the void\'s 38 (the sale\'s authorization code)');
    assert.equal(textField(rev, 61), textField(voidReq, 61));
  });

  it('a sale that got no answer is reversed with its 14, as it went out', async () => {
    r.sim.setFault(parseFaultSpec('close-before-response,type=sale'));
    assert.equal((await r.terminal.engine.sale({ amountFen: 1_600, card: magCard(), session: CASHIER })).outcome, 'failed');
    const saleReq = wire.find((x) => x.request.mti === '0200')?.request as IsoMessage;
    const [rev] = reversals();
    assert.equal(textField(rev, 14), textField(saleReq, 14));
    assert.equal(rev.fields.has(38), false, 'no answer, no 38');
  });

  it('a chip sale the host approved and the card then refused (AAC) is reversed with the host\'s 38', async () => {
    const card = emvCard({ kind: 'ic', name: 'conformance', pan: '6222020000009911', expiry: '301231', psn: 1, atc: 'counter', faults: ['decline-second-ac'] });
    const reader = new ChipCardReader(card);
    const input = await readCard(reader, ['insert'], 1000, { ...r.terminal.engine.cardRequest('sale', 2_700), holdCard: true });
    const res = await r.terminal.engine.sale({ amountFen: 2_700, card: input, session: CASHIER });
    assert.equal(res.outcome, 'failed');
    const answered = wire.find((x) => x.request.mti === '0200');
    const hostAuthCode = answered?.response === undefined ? undefined : textField(answered.response, 38);
    assert.ok(hostAuthCode, 'the host approved with a 38');
    const [rev] = reversals();
    assert.equal(textField(rev, 39), '06');
    assert.equal(textField(rev, 38), hostAuthCode, 'the 0400 names the approval it undoes');
  });
});

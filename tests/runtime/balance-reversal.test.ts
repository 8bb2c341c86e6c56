/**
 * The balance inquiry's reversal (docs/PROTOCOL.md section 9; Known difference 8, fixed): the
 * profile arms a reversal durably before any 0200/0220 leaves, the balance inquiry included. Read
 * at the wire (every frame the engine hands the transport) and in the journal: armed (98) in the
 * commit before the 0200 leaves, cleared by any answer, sent as a 0400 (3 = 310000, no 4: the
 * original had none; the inquiry's STAN and batch) when no usable answer came, kept across a reboot when it cannot go.
 */
import { strict as assert } from 'node:assert';
import { RecordType } from '../../storage/record';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { IsoMessage, textField, unpackFrame } from '../../runtime/host/packager';
import { HostExchange } from '../../runtime/txn/engine';
import { isPosError } from '../../common/errors';
import { TEST_CARDS } from '../../sim/test-cards';
import { CASHIER, Rig, magCard, rig } from './harness';

const PIN = (): Buffer => Buffer.from('123456', 'ascii');
const six = (n: number): string => String(n).padStart(6, '0');

describe('balance inquiry: a reversal armed before it leaves, as for a sale', function () {
  this.timeout(30_000);
  let r: Rig;
  let wire: IsoMessage[];
  /** At the moment each 0200 balance left: the pending reversal the journal held for it. */
  let armedAtSend: Array<{ stan: number; pending?: { stan: number; kind: string; reason: string }; onDisk: boolean }>;

  beforeEach(async () => {
    wire = [];
    armedAtSend = [];
    const wired = (t: HostExchange): HostExchange => ({
      exchange: (request, signal) => {
        const m = unpackFrame(CUP_PROFILE, Buffer.from(request)).message;
        wire.push(m);
        if (m.mti === '0200' && textField(m, 3) === '310000') {
          const stan = Number(textField(m, 11));
          const pr = r.terminal.engine.state.pendingReversal;
          const onDisk = [...r.journal.records()].some((x) => x.type === RecordType.reversalPending && x.payload.stan === stan);
          armedAtSend.push({ stan, ...(pr ? { pending: { stan: pr.stan, kind: pr.kind, reason: pr.reason } } : {}), onDisk });
        }
        return t.exchange(request, signal);
      },
      setResponseTimeoutMs: (ms) => t.setResponseTimeoutMs?.(ms),
    });
    r = await rig({ host: wired });
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  const balance = () => r.terminal.engine.balance({ ...magCard(), entryMode: '021' }, PIN(), CASHIER);
  const reversals = (): IsoMessage[] => wire.filter((m) => m.mti === '0400');
  const cleared = () => [...r.journal.records()].filter((x) => x.type === RecordType.reversalCleared).map((x) => x.payload);

  it('answered: armed (98, on disk) when the 0200 left, cleared by the answer; no 0400, no transaction', async () => {
    const b = await balance();
    assert.equal(b.responseCode, '00');
    assert.equal(armedAtSend.length, 1);
    const [sent] = armedAtSend;
    assert.deepEqual(sent.pending, { stan: sent.stan, kind: 'balance', reason: '98' });
    assert.equal(sent.onDisk, true, 'the reversal-pending record was committed before the request left');
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
    assert.deepEqual(cleared().map((p) => [p.stan, p.cause]), [[sent.stan, 'approved']]);
    assert.equal(reversals().length, 0);
    assert.equal([...r.journal.records()].filter((x) => x.type === RecordType.txnBegin).length, 0, 'no transaction of the batch');
  });

  it('declined (wrong PIN): the answer clears the reversal too', async () => {
    r.sim.setFault({ kind: 'response-code', code: '55', type: 'balance' });
    const b = await balance();
    assert.equal(b.responseCode, '55');
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
    assert.deepEqual(cleared().map((p) => p.cause), ['declined']);
    assert.equal(reversals().length, 0);
  });

  it('no answer: the 0400 goes at once with 98, 3 = 310000, no 4 (the original had none), the inquiry\'s STAN, batch and card; the host clears it', async () => {
    r.sim.setFault({ kind: 'close-before-response', type: 'balance' });
    await assert.rejects(balance(), (e: unknown) => isPosError(e) && e.kind === 'timeout');
    const [rev] = reversals();
    assert.ok(rev, 'a 0400 was sent');
    const stan = armedAtSend[0].stan;
    const batch = r.terminal.engine.state.batch;
    assert.deepEqual(
      [2, 3, 4, 11, 22, 25, 39, 60].map((n) => textField(rev, n)),
      [TEST_CARDS.magDebit.track2.split('=')[0], '310000', undefined, six(stan), '021', '00', '98', `01${six(batch)}000`],
    );
    assert.ok(rev.fields.has(64), 'MACed like every reversal');
    assert.equal(r.sim.requests().find((q) => q.type === 'reversal')?.code, '00', 'the host answered the inquiry: nothing to undo');
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
    assert.deepEqual(cleared().map((p) => [p.stan, p.cause]), [[stan, 'reversed']]);
  });

  it('a bad MAC on the answer: reversed with A0 after a new sign-on', async () => {
    r.sim.setFault({ kind: 'bad-mac', type: 'balance' });
    await assert.rejects(balance(), (e: unknown) => isPosError(e) && e.kind === 'mac-failure');
    assert.deepEqual(reversals().map((m) => textField(m, 39)), ['A0']);
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
  });

  it('a reversal that cannot go is kept across a reboot and sent (98) before the next sale', async () => {
    r.sim.setFault({ kind: 'delay', delayMs: 900, count: 1 + 3 }); // the inquiry, then 3 reversal tries
    await assert.rejects(balance(), (e: unknown) => isPosError(e) && e.kind === 'timeout');
    const stan = armedAtSend[0].stan;
    assert.equal(r.terminal.engine.state.pendingReversal?.stan, stan);
    await r.reboot();
    assert.equal(r.terminal.engine.state.pendingReversal?.kind, 'balance', 'the journal kept it');
    const before = wire.length;
    const sale = await r.terminal.engine.sale({ amountFen: 1_000, card: magCard(), session: CASHIER });
    assert.equal(sale.outcome, 'approved');
    const after = wire.slice(before);
    assert.deepEqual(after.map((m) => m.mti), ['0400', '0200'], 'the pending reversal first, then the sale');
    assert.deepEqual([textField(after[0], 11), textField(after[0], 39)], [six(stan), '98']);
    assert.equal(r.terminal.engine.state.pendingReversal, undefined);
  });
});

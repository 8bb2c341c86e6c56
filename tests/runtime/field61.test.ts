/**
 * Field 61 of a refund and a void at the wire (issue 13 item 10; the profile's "Clarifications"):
 * the original's real batch n6 + STAN n6 + host date MMDD whenever the original is in this
 * terminal's journal, however the refund was reached (its reference number, its trace number,
 * a settled batch, after a reboot); 000000 for batch and STAN only when the operator keyed a
 * reference for a sale this terminal does not hold. Read from what the simulator received.
 */
import { strict as assert } from 'node:assert';
import { settle } from '../../runtime/txn/settlement';
import { rec } from '../../runtime/records';
import { FlowResult, TxnView } from '../../runtime/txn/engine';
import { tempDir, removeDir } from '../../storage/testing';
import { CASHIER, SUPERVISOR, Rig, magCard, rig } from './harness';

function approved(r: FlowResult): TxnView {
  if (r.outcome !== 'approved') throw new Error(`not approved: ${JSON.stringify(r)}`);
  return r.txn;
}

const six = (n: number): string => String(n).padStart(6, '0');

describe('field 61 of a refund or void names the original this terminal holds', function () {
  this.timeout(20_000);
  let r: Rig;
  beforeEach(async () => {
    r = await rig({ dir: tempDir('h-money-field61-') });
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { await r.close(); removeDir(r.dir); });

  const sale = async (amountFen: number): Promise<TxnView> => approved(await r.terminal.engine.sale({ amountFen, card: magCard(), session: CASHIER }));
  const refund = (s: { rrn?: string; hostDate?: string }, amountFen: number, on: Rig = r) =>
    on.terminal.engine.refund({ amountFen, card: magCard(), session: SUPERVISOR, origRrn: s.rrn as string, origDateMmdd: s.hostDate as string });
  const last61 = (type: 'refund' | 'void', on: Rig = r): string | undefined => on.sim.requests().filter((q) => q.type === type).at(-1)?.field61;

  it('a refund reached by reference number sends the sale\'s real batch, STAN and host date', async () => {
    const s = await sale(5_000);
    approved(await refund(s, 1_500));
    assert.equal(last61('refund'), six(s.batch) + six(s.stan) + s.hostDate);
  });

  it('a refund of a sale of an already settled batch, after a reboot, still names it', async () => {
    const s = await sale(4_000);
    await settle(r.terminal.engine, SUPERVISOR);
    await r.reboot();
    assert.notEqual(r.terminal.engine.state.batch, s.batch, 'the sale\'s batch is closed');
    approved(await refund(s, 4_000));
    assert.equal(last61('refund'), six(s.batch) + six(s.stan) + s.hostDate);
  });

  it('a keyed reference for a sale this terminal does not hold sends 000000 batch and STAN with the keyed date', async () => {
    // Another terminal with the same TID (a replaced unit) made the sale: this journal lacks it.
    const other = await rig({ sim: r.sim, dir: tempDir('h-money-field61-other-') });
    try {
      // The host keeps a TID's STANs across batches and answers 94 to one used again: the
      // replacement unit's trace numbers lie past this one's, as a real replacement's must.
      await other.terminal.engine.store.commit([rec.stan(500_000)], { reserve: true });
      await other.terminal.engine.signOn(CASHIER);
      const s = approved(await other.terminal.engine.sale({ amountFen: 3_000, card: magCard(), session: CASHIER }));
      await r.terminal.engine.signOn(CASHIER); // the other terminal's sign-on replaced the host's keys
      approved(await refund(s, 1_000));
      assert.equal(last61('refund'), '000000000000' + s.hostDate);
    } finally {
      await other.close();
      removeDir(other.dir);
    }
  });

  it('a keyed completion of a hold this terminal does not hold sends 000000 batch and STAN with the keyed date', async () => {
    const other = await rig({ sim: r.sim, dir: tempDir('h-money-field61-hold-') });
    try {
      await other.terminal.engine.store.commit([rec.stan(500_000)], { reserve: true });
      await other.terminal.engine.signOn(CASHIER);
      const hold = approved(await other.terminal.engine.preAuth({ amountFen: 10_000, card: magCard(), session: CASHIER }));
      await r.terminal.engine.signOn(CASHIER);
      const keyed = { authCode: hold.authCode as string, dateMmdd: hold.hostDate as string, card: magCard() };
      approved(await r.terminal.engine.completion({ keyed }, 10_000, CASHIER));
      assert.equal(r.sim.requests().filter((q) => q.type === 'completion').at(-1)?.field61, '000000000000' + hold.hostDate);
    } finally {
      await other.close();
      removeDir(other.dir);
    }
  });

  it('a void sends 16 digits: the sale\'s batch, STAN and host date', async () => {
    const s = await sale(2_500);
    approved(await r.terminal.engine.voidSale(s.stan, SUPERVISOR));
    assert.equal(last61('void'), six(s.batch) + six(s.stan) + s.hostDate);
  });
});

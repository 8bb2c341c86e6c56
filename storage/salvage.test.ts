/**
 * What a salvage says about money work it cannot carry (owedSetAside): owed in a record set aside
 * (the rebuilt journal will not do it), or done only in a record set aside (the rebuilt journal
 * will do it again: a reversal of a sale that may have been approved). Nothing else is reported.
 */
import { strict as assert } from 'node:assert';
import { Journal } from './journal';
import { owedSetAside } from './salvage';
import { removeDir, tempDir } from './testing';
import type { RecordTypeName } from './record';

type Rec = { type: RecordTypeName; payload: Record<string, unknown> };

/** The stored frames of `records` appended to a new journal, record 1 (journal-created) left out. */
async function frames(records: Rec[]): Promise<Buffer[]> {
  const dir = tempDir('owed-');
  try {
    const j = await Journal.open({ dir, identity: 'OWED-0001' });
    for (const r of records) await j.appendMany([r]);
    const out = [...j.raw(2, j.lastSeq)].map((e) => Buffer.from(e.stored));
    await j.close();
    return out;
  } finally {
    removeDir(dir);
  }
}

const begin = (stan: number, amountFen: number): Rec => ({ type: 'txnBegin', payload: { kind: 'sale', stan, batch: 1, amountFen, panMasked: '622202******1234' } });
const pending = (stan: number): Rec => ({ type: 'reversalPending', payload: { stan, batch: 1, reason: '98', kind: 'sale', amountFen: 500, panMasked: '622202******1234' } });
const cleared = (stan: number): Rec => ({ type: 'reversalCleared', payload: { stan, cause: 'reversed', responseCode: '00', tries: 1 } });

describe('storage/salvage: owed work the salvage cannot carry', function () {
  this.timeout(20_000);

  it('aReversalOwedInARecordSetAsideIsReportedWithItsAmount', async () => {
    const [b, p] = await frames([begin(7, 500), pending(7)]);
    assert.deepEqual(owedSetAside([], [b, p]), [{ kind: 'reversal', stan: 7, amountFen: 500, panMasked: '622202******1234', state: 'set-aside' }]);
  });

  it('aReversalOwedAndClearedInRecordsSetAsideIsNotReported', async () => {
    const [p, c] = await frames([pending(7), cleared(7)]);
    assert.deepEqual(owedSetAside([], [p, c]), []);
  });

  it('aReversalOwedInTheChainAndClearedOnlyInARecordSetAsideIsReportedAsDoneSetAside', async () => {
    const [p, c] = await frames([pending(7), cleared(7)]);
    assert.deepEqual(owedSetAside([p], [c]).map((o) => [o.kind, o.stan, o.state]), [['reversal', 7, 'done-set-aside']]);
  });

  it('workOwedAndEndedInTheChainIsNotReported', async () => {
    const [b, p, c] = await frames([begin(7, 500), pending(7), cleared(7)]);
    assert.deepEqual(owedSetAside([b, p, c], []), []);
  });

  it('anOfflineSaleWhoseAdviceWasNotTakenIsReportedWithTheAmountOfItsBegin', async () => {
    const f = await frames([
      begin(9, 1_200),
      { type: 'txnResult', payload: { stan: 9, outcome: 'offline', responseCode: 'Y3', authCode: '123456' } },
      { type: 'adviceResult', payload: { stan: 9, state: 'sending', responseCode: '--' } },
    ]);
    assert.deepEqual(owedSetAside([f[0]], f.slice(1)), [{ kind: 'advice', stan: 9, amountFen: 1_200, panMasked: '622202******1234', state: 'set-aside' }]);
    const [sent] = await frames([{ type: 'adviceResult', payload: { stan: 9, state: 'sent', responseCode: '00' } }]);
    assert.deepEqual(owedSetAside([f[0]], [...f.slice(1), sent]), [], 'an advice the host took is not owed');
  });

  it('aQrPaymentWhoseOutcomeWasUnknownIsReported', async () => {
    const [q] = await frames([{ type: 'qrQueryPending', payload: { stan: 11, batch: 1, kind: 'qrSale', entryMode: '032', amountFen: 880, dateMmdd: '1203' } }]);
    assert.deepEqual(owedSetAside([], [q]), [{ kind: 'qr-query', stan: 11, amountFen: 880, state: 'set-aside' }]);
  });
});

/**
 * Terminal risk management through the engine (runtime/txn/engine.ts cardRequest): the transaction
 * log the floor limit check adds (EMV Book 3 §10.6.1) is this batch's most recent approved sale for
 * the same card, found by keyed PAN hash. A sale split in two under the
 * AID's floor limit is sent with "floor limit exceeded" in the TVR of its field 55.
 */
import { strict as assert } from 'node:assert';
import { rec } from '../../runtime/records';
import { primitives } from '../../runtime/txn/emv';
import { TVR, hasTvrBit } from '../../runtime/txn/emv-tvr';
import { testAids } from '../../sim/host/emv-params-host';
import { ChipCard, TEST_CARDS } from '../../sim/test-cards';
import { emvCard } from '../../sim/emv-card';
import { CASHIER, Rig, chipCardFor, rig } from './harness';

describe('EMV terminal risk management through the engine', function () {
  this.timeout(20_000);
  let r: Rig;
  beforeEach(async () => {
    r = await rig();
    await r.terminal.engine.signOn(CASHIER);
    // The host's AIDs with a floor limit of 100 yuan (the test set sends everything online with 0).
    await r.terminal.engine.store.commit([rec.aidParams({ aids: testAids().map((a) => ({ ...a, floorLimitFen: 10_000 })) })], { reserve: true });
  });
  afterEach(async () => { await r.close(); });

  const tvrOf = (f55: Buffer | undefined): Buffer => primitives(f55 as Buffer).get(0x95) as Buffer;

  it('a split sale: the second part under the floor limit carries "floor limit exceeded" because the log holds the first', async () => {
    const first = await chipCardFor(r, 6_000, TEST_CARDS.icDebit);
    assert.equal(hasTvrBit(tvrOf(first.field55), TVR.floorLimitExceeded), false, 'alone under 100 yuan');
    assert.equal((await r.terminal.engine.sale({ amountFen: 6_000, card: first, pin: Buffer.from('1234'), session: CASHIER })).outcome, 'approved');
    assert.equal(r.terminal.engine.lastApprovedSaleFen(TEST_CARDS.icDebit.pan), 6_000);
    const second = await chipCardFor(r, 5_000, TEST_CARDS.icDebit);
    assert.equal(hasTvrBit(tvrOf(second.field55), TVR.floorLimitExceeded), true, '60 + 50 yuan for the same card');
    const otherCard = await chipCardFor(r, 5_000, emvCard({ kind: 'ic', name: 'other', pan: '6222020000000213', expiry: '301231', psn: 1, atc: 'replayable' }) as ChipCard);
    assert.equal(hasTvrBit(tvrOf(otherCard.field55), TVR.floorLimitExceeded), false, 'another card has no log entry');
  });
});

/**
 * Terminal risk management (EMV 4.3 Book 3 §10.6) as the kernel runs it: the floor limit with the
 * transaction log (a sale split in two for the same card), random transaction selection from the
 * AID's DF15/DF16/DF17 with the random number injected (so every case is deterministic), and
 * velocity checking against a card model's 9F14/9F23 with GET DATA 9F36 and 9F13. Each case is
 * built so that a wrong comparison (>= for >, the wrong limit, the log ignored) flips its outcome.
 */
import { strict as assert } from 'node:assert';
import { AidParams, parseAid, encodeAid } from '../host/emv-params';
import { BUILT_IN_AIDS, Transmit, readApplicationData, runKernel, selectAndInitiate } from './emv-kernel';
import { CardRequest, terminalData } from './emv';
import {
  RANDOM_PERCENT_MAX, RANDOM_PERCENT_MIN, RiskInput, randomPercentOf, readVelocityCounters, terminalRiskManagement,
} from './emv-risk';
import { TVR, TvrBit, hasTvrBit } from './emv-tvr';
import { EmvCardSpec, emvCard } from '../../sim/emv-card';
import { testCaPublicKeys } from '../../sim/host/emv-params-host';
import { seededRandom } from '../random';

const PAN = '6222021234567890128';
const names = (bits: readonly TvrBit[]): string[] => Object.entries(TVR).filter(([, b]) => bits.some((x) => x.byte === b.byte && x.bit === b.bit)).map(([n]) => n).sort();
const risk = (over: Partial<RiskInput>): TvrBit[] => terminalRiskManagement({ amountFen: 1_000, floorLimitFen: 10_000, pan: PAN, velocity: {}, ...over });
const RANDOM = { thresholdFen: 2_000, targetPercent: 20, maxTargetPercent: 60 };

describe('EMV terminal risk management: floor limit with the transaction log (split sales)', () => {
  it('a second sale under the floor limit is sent online when the logged sale for the same card takes the sum over it', () => {
    const logged = (pan: string): number => (pan === PAN ? 6_000 : 0);
    assert.deepEqual(names(risk({ amountFen: 5_000, context: { loggedSameCardFen: logged } })), ['floorLimitExceeded'], '5000 + 6000 >= 10000');
    assert.deepEqual(names(risk({ amountFen: 3_999, context: { loggedSameCardFen: logged } })), [], '3999 + 6000 < 10000');
    assert.deepEqual(names(risk({ amountFen: 4_000, context: { loggedSameCardFen: logged } })), ['floorLimitExceeded'], 'exactly the floor limit exceeds it');
    assert.deepEqual(names(risk({ amountFen: 5_000, pan: '6222020000000015', context: { loggedSameCardFen: logged } })), [], 'another card\'s log does not count');
  });

  it('without a log the amount alone is compared', () => {
    assert.deepEqual(names(risk({ amountFen: 9_999 })), []);
    assert.deepEqual(names(risk({ amountFen: 10_000 })), ['floorLimitExceeded']);
  });
});

describe('EMV terminal risk management: random transaction selection', () => {
  it('below the threshold: selected when the random number is at most the target percentage', () => {
    assert.deepEqual(names(risk({ amountFen: 1_000, random: RANDOM, context: { randomPercent: 20 } })), ['randomlySelectedOnline']);
    assert.deepEqual(names(risk({ amountFen: 1_000, random: RANDOM, context: { randomPercent: 21 } })), []);
  });

  it('from the threshold to the floor limit the percentage rises linearly to the maximum target', () => {
    // Half-way (6000 of 2000..10000): 20 + (60 - 20) * 0.5 = 40.
    assert.deepEqual(names(risk({ amountFen: 6_000, random: RANDOM, context: { randomPercent: 40 } })), ['randomlySelectedOnline']);
    assert.deepEqual(names(risk({ amountFen: 6_000, random: RANDOM, context: { randomPercent: 41 } })), []);
    // Just under the floor limit almost the maximum: 59 selects, 60 would need the limit itself.
    assert.deepEqual(names(risk({ amountFen: 9_900, random: RANDOM, context: { randomPercent: 59 } })), ['randomlySelectedOnline']);
  });

  it('at or over the floor limit, without the AID\'s percentages, or with a floor limit of 0, nothing is selected at random', () => {
    assert.deepEqual(names(risk({ amountFen: 10_000, random: RANDOM, context: { randomPercent: 1 } })), ['floorLimitExceeded']);
    assert.deepEqual(names(risk({ amountFen: 1_000, context: { randomPercent: 1 } })), []);
    assert.deepEqual(names(risk({ amountFen: 1_000, floorLimitFen: 0, random: { ...RANDOM, thresholdFen: 0 }, context: { randomPercent: 1 } })), ['floorLimitExceeded']);
  });

  it('the random number is 1..99 from the injected source: a seed replays it, and over many draws every value and no other comes', () => {
    const a = seededRandom(11), b = seededRandom(11);
    const seen = new Set<number>();
    for (let i = 0; i < 5_000; i++) {
      const x = randomPercentOf(a(4));
      assert.equal(x, randomPercentOf(b(4)));
      seen.add(x);
    }
    assert.equal(Math.min(...seen), RANDOM_PERCENT_MIN);
    assert.equal(Math.max(...seen), RANDOM_PERCENT_MAX);
    assert.equal(seen.size, RANDOM_PERCENT_MAX);
  });

  it('DF15/DF16/DF17 from the 380 answer: read, written back, refused when partial or out of range', () => {
    const withRandom: AidParams = { ...BUILT_IN_AIDS[0], floorLimitFen: 10_000, random: RANDOM };
    assert.deepEqual(parseAid(encodeAid(withRandom)).random, RANDOM);
    assert.equal(parseAid(encodeAid(BUILT_IN_AIDS[0])).random, undefined, 'a host that sends none: no random selection');
    const f62 = encodeAid(withRandom);
    const dropped = Buffer.from(f62.toString('hex').replace(/df170120/i, ''), 'hex');
    assert.throws(() => parseAid(dropped), /DF15, DF16 and DF17 together/);
    assert.throws(() => parseAid(encodeAid({ ...withRandom, random: { ...RANDOM, thresholdFen: 10_000 } })), /threshold at or over the floor limit/);
    assert.throws(() => parseAid(encodeAid({ ...withRandom, random: { ...RANDOM, targetPercent: 70 } })), /target percentage over the maximum/);
  });
});

describe('EMV terminal risk management: velocity checking', () => {
  const card = (velocity: EmvCardSpec['velocity'], atcStart: number): ReturnType<typeof emvCard> =>
    emvCard({ kind: 'ic', name: 'v', pan: PAN, expiry: '301231', psn: 1, atc: 'counter', atcStart, ...(velocity ? { velocity } : {}) });
  // The card answers GET DATA only once an application is selected and initiated (GPO adds 1 to its ATC).
  async function velocity(c: ReturnType<typeof emvCard>): Promise<{ bits: string[]; getData: string[] }> {
    const getData: string[] = [];
    const tx: Transmit = async (apdu) => { if (apdu[1] === 0xca) getData.push(apdu.subarray(2, 4).toString('hex').toUpperCase()); return c.respond(apdu); };
    const terminal = terminalData({ txnType: 'sale', amountFen: 1, dateYymmdd: '261121', unpredictable: Buffer.alloc(4, 7) });
    const { options } = await selectAndInitiate(tx, false, BUILT_IN_AIDS, terminal);
    const { values } = await readApplicationData(tx, options.afl);
    const v = await readVelocityCounters(tx, values);
    return { bits: names(terminalRiskManagement({ amountFen: 1, floorLimitFen: 10_000, pan: PAN, velocity: v })), getData };
  }

  it('a card within its lower limit sets nothing; GET DATA asked the ATC and the last online ATC', async () => {
    const r = await velocity(card({ lower: 3, upper: 6, lastOnlineAtc: 10 }, 12));
    assert.deepEqual(r.getData, ['9F36', '9F13']);
    assert.deepEqual(r.bits, [], '13 - 10 = 3, not over 3');
  });

  it('over the lower limit, then over the upper too', async () => {
    assert.deepEqual((await velocity(card({ lower: 3, upper: 6, lastOnlineAtc: 10 }, 13))).bits, ['lowerOfflineLimitExceeded']);
    assert.deepEqual((await velocity(card({ lower: 3, upper: 6, lastOnlineAtc: 10 }, 16))).bits, ['lowerOfflineLimitExceeded', 'upperOfflineLimitExceeded']);
  });

  it('a last online ATC of 0 is a new card; a card that does not give 9F13 sets both limits exceeded', async () => {
    assert.deepEqual((await velocity(card({ lower: 3, upper: 6, lastOnlineAtc: 0 }, 1))).bits, ['newCard']);
    assert.deepEqual((await velocity(card({ lower: 3, upper: 6 }, 1))).bits, ['lowerOfflineLimitExceeded', 'upperOfflineLimitExceeded']);
  });

  it('a card without both limits is not asked anything', async () => {
    const r = await velocity(card(undefined, 50));
    assert.deepEqual(r, { bits: [], getData: [] });
  });
});

describe('EMV terminal risk management in the kernel\'s first pass', () => {
  const aids: AidParams[] = [{ ...BUILT_IN_AIDS[0], floorLimitFen: 10_000, random: RANDOM }];
  const REQ = (over: Partial<CardRequest>): CardRequest => ({
    txnType: 'sale', amountFen: 5_000, dateYymmdd: '261121', unpredictable: Buffer.from('A1B2C3D4', 'hex'), ifdSerial: '12345678',
    params: { caKeys: testCaPublicKeys(), aids }, ...over,
  });
  async function tvr(spec: Partial<EmvCardSpec>, req: Partial<CardRequest>): Promise<Buffer> {
    const c = emvCard({ kind: 'ic', name: 'k', pan: PAN, expiry: '301231', psn: 1, atc: 'counter', ...spec });
    const k = await runKernel(async (apdu) => c.respond(apdu), false, REQ(req));
    return k.terminal.get(0x95) as Buffer;
  }

  it('the TVR sent with GENERATE AC carries each function\'s bit', async () => {
    const quiet = await tvr({}, { risk: { randomPercent: 99 } });
    assert.ok(!hasTvrBit(quiet, TVR.floorLimitExceeded) && !hasTvrBit(quiet, TVR.randomlySelectedOnline), quiet.toString('hex'));
    assert.ok(hasTvrBit(await tvr({}, { risk: { randomPercent: 1 } }), TVR.randomlySelectedOnline));
    assert.ok(hasTvrBit(await tvr({}, { risk: { randomPercent: 99, loggedSameCardFen: () => 5_000 } }), TVR.floorLimitExceeded), 'split sale');
    const v = await tvr({ velocity: { lower: 0, upper: 9, lastOnlineAtc: 0 } }, { risk: { randomPercent: 99 } });
    assert.ok(hasTvrBit(v, TVR.lowerOfflineLimitExceeded) && !hasTvrBit(v, TVR.upperOfflineLimitExceeded) && hasTvrBit(v, TVR.newCard), v.toString('hex'));
  });
});

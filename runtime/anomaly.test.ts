/**
 * Anomaly rules on made-up days: a seeded normal day raises nothing; the same day with one
 * pattern injected raises exactly that rule (positive control); each threshold at N-1 and N, each
 * window at W and W+1 ms. Every time is built from a fixed origin: no real clock, no time zone.
 */
import * as assert from 'node:assert/strict';
import { mulberry32 } from '../sim/disk-model';
import { hasGlyph } from '../ui-lcd/font';
import {
  AMOUNT_THRESHOLD_FEN_MIN, ANOMALY_CODE_CHARS_MAX, ANOMALY_RULES, AnomalyFlag, AnomalyTxn, BURST_AMOUNT_FEN_MAX, BURST_COUNT_MIN,
  BURST_WINDOW_MS, CARD_DECLINE_COUNT_MIN, DECLINE_RUN_COUNT_MIN, DOUBLE_CHARGE_WINDOW_MS, FLAG_STANS_COUNT_MAX, PROFILE_SAMPLES_MAX,
  PROFILE_SAMPLES_MIN, REPEAT_CARD_COUNT_MIN, REPEAT_CARD_WINDOW_MS, anomalyCodes, anomalyDigest, appendHistory, buildProfile,
  detectAnomalies,
} from './anomaly';

/** 2026-03-02 09:00:00Z: any fixed instant; the rules only subtract times. */
const DAY_START_MS = 1_772_442_000_000;
const MINUTE_MS = 60_000;
const NORMAL_SALES_COUNT = 120;
/** Normal amounts: log-uniform between ¥5 and ¥300. */
const NORMAL_FEN_MIN = 500;
const NORMAL_FEN_MAX = 30_000;

function tag(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(0x5a5a0000, 0);
  b.writeUInt32BE(n, 4);
  return b;
}

function logUniform(rnd: () => number): number {
  return Math.round(NORMAL_FEN_MIN * Math.pow(NORMAL_FEN_MAX / NORMAL_FEN_MIN, rnd()));
}

function history(seed: number, count: number): number[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: count }, () => logUniform(rnd));
}

/**
 * A normal day: a sale every 5-7 minutes, each card new except three regulars who come back
 * hours later (same amount: not a double charge), every 17th message declined (never two in a
 * row), every 10th a QR payment (no card tag).
 */
function normalDay(seed: number): AnomalyTxn[] {
  const rnd = mulberry32(seed);
  const out: AnomalyTxn[] = [];
  let atMs = DAY_START_MS;
  for (let i = 0; i < NORMAL_SALES_COUNT; i++) {
    atMs += 5 * MINUTE_MS + Math.floor(rnd() * 2 * MINUTE_MS);
    const declined = i % 17 === 16;
    const qr = i % 10 === 9;
    const regular = i >= 60 && i < 63 ? i - 60 : undefined; // cards 0..2 again in the afternoon
    const card = regular ?? (i < 3 ? i : 1000 + i);
    const amountFen = regular !== undefined ? out[regular].amountFen : logUniform(rnd);
    out.push({
      stan: i + 1, kind: 'sale', amountFen, status: declined ? 'declined' : 'approved', responseCode: declined ? (i % 2 ? '51' : '55') : '00',
      ...(qr ? {} : { panTag: tag(card) }), atMs,
    });
  }
  return out;
}

const PROFILE = buildProfile(history(7, 500));

function sale(stan: number, atMs: number, amountFen: number, card: number | undefined, status: AnomalyTxn['status'] = 'approved'): AnomalyTxn {
  return {
    stan, kind: 'sale', amountFen, status, responseCode: status === 'declined' ? '05' : status === 'failed' ? undefined : '00',
    ...(card === undefined ? {} : { panTag: tag(card) }), atMs,
  };
}

function rules(flags: readonly AnomalyFlag[]): string[] {
  return flags.map((f) => f.rule);
}

/** The time of the normal day's transaction `i` plus `offsetMs`: injected between two of them. */
function after(day: readonly AnomalyTxn[], i: number, offsetMs: number): number {
  return day[i].atMs + offsetMs;
}

describe('anomaly flags (docs/ANOMALY.md)', () => {
  describe('a normal day and its positive controls', () => {
    const day = normalDay(42);

    it('aNormalDayRaisesNothing', () => {
      assert.ok(PROFILE.thresholdFen !== undefined && PROFILE.thresholdFen > NORMAL_FEN_MAX, 'the fixture profile must be above the normal amounts');
      assert.deepEqual(detectAnomalies(day, PROFILE), []);
      assert.equal(anomalyDigest([]), '00');
      assert.equal(anomalyCodes([]), '');
    });

    it('otherSeedsOfNormalDaysRaiseNothingEither', () => {
      for (let seed = 1; seed <= 20; seed++) assert.deepEqual(detectAnomalies(normalDay(seed), buildProfile(history(seed + 100, 400))), [], `seed ${seed}`);
    });

    it('anInjectedBurstOfSmallSalesRaisesExactlyAnmBurst', () => {
      const burst = Array.from({ length: BURST_COUNT_MIN }, (_, k) => sale(900 + k, after(day, 30, 1000 + k * MINUTE_MS), 1 + k, 5000 + k));
      const flags = detectAnomalies([...day, ...burst], PROFILE);
      assert.deepEqual(rules(flags), ['ANM-BURST']);
      assert.deepEqual(flags[0].stans, [900, 901, 902, 903, 904]);
      assert.equal(flags[0].severity, 'alert');
      assert.equal(flags[0].firstAtMs, burst[0].atMs);
      assert.equal(anomalyDigest(flags), '01');
      assert.match(flags[0].text.en, /5 small sales in 4 min/);
      assert.equal(flags[0].text.zh, '4分内小额消费5笔');
    });

    it('anInjectedLargeSaleRaisesExactlyAnmAmount', () => {
      const big = sale(900, after(day, 50, 1000), PROFILE.thresholdFen! + 1, 6000);
      const flags = detectAnomalies([...day, big], PROFILE);
      assert.deepEqual(rules(flags), ['ANM-AMOUNT']);
      assert.deepEqual(flags[0].stans, [900]);
    });

    it('anInjectedRunOfDeclinesRaisesExactlyAnmDeclines', () => {
      // Between transactions 40 and 41 of the day, both approved: the run is exactly the injection.
      assert.equal(day[40].status, 'approved');
      assert.equal(day[41].status, 'approved');
      const run = Array.from({ length: DECLINE_RUN_COUNT_MIN }, (_, k) => sale(900 + k, after(day, 40, 1 + k), 4200 + k * 7, 7000 + k, 'declined'));
      const flags = detectAnomalies([...day, ...run], PROFILE);
      assert.deepEqual(rules(flags), ['ANM-DECLINES']);
      assert.deepEqual(flags[0].stans, run.map((t) => t.stan));
    });

    it('oneCardDeclinedAgainAndAgainRaisesExactlyAnmDeclineCard', () => {
      // Spread over the day between approvals: no run, only the card.
      const tries = Array.from({ length: CARD_DECLINE_COUNT_MIN }, (_, k) => sale(900 + k, after(day, 20 + k * 10, 1000), 8800, 7777, 'declined'));
      const flags = detectAnomalies([...day, ...tries], PROFILE);
      assert.deepEqual(rules(flags), ['ANM-DECLINE-CARD']);
      assert.deepEqual(flags[0].stans, [900, 901, 902, 903]);
    });

    it('oneCardApprovedRepeatedlyRaisesExactlyAnmRepeatCard', () => {
      const repeats = Array.from({ length: REPEAT_CARD_COUNT_MIN }, (_, k) => sale(900 + k, after(day, 70, 1000 + k * 5 * MINUTE_MS), 3000 + k * 111, 8888));
      const flags = detectAnomalies([...day, ...repeats], PROFILE);
      assert.deepEqual(rules(flags), ['ANM-REPEAT-CARD']);
      assert.deepEqual(flags[0].stans, [900, 901, 902]);
    });

    it('theSameCardAndAmountTwiceRaisesExactlyAnmDouble', () => {
      const pair = [sale(900, after(day, 80, 1000), 12_345, 9999), sale(901, after(day, 80, 1000 + 2 * MINUTE_MS), 12_345, 9999)];
      const flags = detectAnomalies([...day, ...pair], PROFILE);
      assert.deepEqual(rules(flags), ['ANM-DOUBLE']);
      assert.deepEqual(flags[0].stans, [900, 901]);
      assert.equal(anomalyDigest(flags), '20');
      assert.equal(anomalyCodes(flags), 'DOUBLE');
    });

    it('flagsAreTheSameWhateverTheInputOrderAndAreOrderedByTimeThenRule', () => {
      const burst = Array.from({ length: BURST_COUNT_MIN }, (_, k) => sale(900 + k, after(day, 90, 1000 + k * 1000), 50, 5000 + k));
      const pair = [sale(950, after(day, 10, 1000), 12_345, 9999), sale(951, after(day, 10, 2000), 12_345, 9999)];
      const all = [...day, ...burst, ...pair];
      const expected = detectAnomalies(all, PROFILE);
      assert.deepEqual(rules(expected), ['ANM-DOUBLE', 'ANM-BURST']);
      const rnd = mulberry32(3);
      for (let round = 0; round < 5; round++) {
        const shuffled = [...all];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        assert.deepEqual(detectAnomalies(shuffled, PROFILE), expected);
      }
      assert.equal(anomalyDigest(expected), '21');
      assert.equal(anomalyCodes(expected), 'BURST+DOUBLE');
    });

    it('sameTimeFlagsAreListedInRuleOrder', () => {
      // One transaction both far above the usual and the second of a double charge.
      const big = PROFILE.thresholdFen! + 500;
      const pair = [sale(900, after(day, 5, 1000), big, 4444), sale(901, after(day, 5, 2000), big, 4444)];
      const flags = detectAnomalies([...day, ...pair], PROFILE);
      assert.deepEqual(rules(flags), ['ANM-AMOUNT', 'ANM-DOUBLE', 'ANM-AMOUNT']);
    });
  });

  describe('thresholds: N-1 does not raise, N does', () => {
    const T0 = DAY_START_MS;

    it('burstCount', () => {
      const mk = (n: number): AnomalyTxn[] => Array.from({ length: n }, (_, k) => sale(k + 1, T0 + k * MINUTE_MS, 10, 100 + k));
      assert.deepEqual(rules(detectAnomalies(mk(BURST_COUNT_MIN - 1), PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies(mk(BURST_COUNT_MIN), PROFILE)), ['ANM-BURST']);
    });

    it('burstAmountIsStrictlyBelowTheLimit', () => {
      const mk = (fen: number): AnomalyTxn[] => Array.from({ length: BURST_COUNT_MIN }, (_, k) => sale(k + 1, T0 + k * MINUTE_MS, fen, 100 + k));
      assert.deepEqual(rules(detectAnomalies(mk(BURST_AMOUNT_FEN_MAX), PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies(mk(BURST_AMOUNT_FEN_MAX - 1), PROFILE)), ['ANM-BURST']);
    });

    it('burstWindowFirstToLastAtMostW', () => {
      const mk = (spanMs: number): AnomalyTxn[] => Array.from({ length: BURST_COUNT_MIN }, (_, k) => sale(k + 1, T0 + (k === BURST_COUNT_MIN - 1 ? spanMs : k), 10, 100 + k));
      assert.deepEqual(rules(detectAnomalies(mk(BURST_WINDOW_MS), PROFILE)), ['ANM-BURST']);
      assert.deepEqual(rules(detectAnomalies(mk(BURST_WINDOW_MS + 1), PROFILE)), []);
    });

    it('burstsOnlyCountApprovedSales', () => {
      const txns = Array.from({ length: BURST_COUNT_MIN }, (_, k) => sale(k + 1, T0 + k * MINUTE_MS, 10, 100 + k, k === 0 ? 'voided' : 'approved'));
      assert.deepEqual(rules(detectAnomalies(txns, PROFILE)), []);
      const refunds = txns.map((t) => ({ ...t, kind: 'refund', status: 'approved' as const }));
      assert.deepEqual(rules(detectAnomalies(refunds, PROFILE)), []);
    });

    it('aLongBurstIsOneFlagAndTwoSeparateBurstsAreTwo', () => {
      const long = Array.from({ length: 12 }, (_, k) => sale(k + 1, T0 + k * 2 * MINUTE_MS, 10, 100 + k));
      const one = detectAnomalies(long, PROFILE);
      assert.deepEqual(rules(one), ['ANM-BURST']);
      assert.equal(one[0].txnCount, 12);
      const second = long.map((t) => ({ ...t, stan: t.stan + 100, atMs: t.atMs + 3 * 60 * MINUTE_MS }));
      assert.deepEqual(rules(detectAnomalies([...long, ...second], PROFILE)), ['ANM-BURST', 'ANM-BURST']);
    });

    it('amountAboveTheThresholdOnly', () => {
      const limit = PROFILE.thresholdFen!;
      assert.deepEqual(rules(detectAnomalies([sale(1, T0, limit, 1)], PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies([sale(1, T0, limit + 1, 1)], PROFILE)), ['ANM-AMOUNT']);
    });

    it('amountRuleIsSilentUntilTheHistoryIsLongEnough', () => {
      const young = buildProfile(history(9, PROFILE_SAMPLES_MIN - 1));
      assert.equal(young.thresholdFen, undefined);
      assert.deepEqual(rules(detectAnomalies([sale(1, T0, 99_999_999, 1)], young)), []);
      const grown = buildProfile(history(9, PROFILE_SAMPLES_MIN));
      assert.ok(grown.thresholdFen !== undefined);
      assert.deepEqual(rules(detectAnomalies([sale(1, T0, 99_999_999, 1)], grown)), ['ANM-AMOUNT']);
    });

    it('declineRun', () => {
      const mk = (n: number): AnomalyTxn[] => Array.from({ length: n }, (_, k) => sale(k + 1, T0 + k * 1000, 500, 100 + k, 'declined'));
      assert.deepEqual(rules(detectAnomalies(mk(DECLINE_RUN_COUNT_MIN - 1), PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies(mk(DECLINE_RUN_COUNT_MIN), PROFILE)), ['ANM-DECLINES']);
    });

    it('anApprovalBreaksTheRunAndAFailedMessageDoesNot', () => {
      const run = (middle: AnomalyTxn['status']): AnomalyTxn[] => Array.from({ length: DECLINE_RUN_COUNT_MIN + 1 }, (_, k) =>
        sale(k + 1, T0 + k * 1000, 500, 100 + k, k === 2 ? middle : 'declined'));
      assert.deepEqual(rules(detectAnomalies(run('approved'), PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies(run('voided'), PROFILE)), []);
      const withFailed = detectAnomalies(run('failed'), PROFILE);
      assert.deepEqual(rules(withFailed), ['ANM-DECLINES']);
      assert.deepEqual(withFailed[0].stans, [1, 2, 4, 5, 6]);
    });

    it('declinesOfOneCard', () => {
      // Separated by approvals of other cards: never a run.
      const mk = (n: number): AnomalyTxn[] => Array.from({ length: n }, (_, k) => [
        sale(2 * k + 1, T0 + k * 60 * MINUTE_MS, 500, 7, 'declined'), sale(2 * k + 2, T0 + k * 60 * MINUTE_MS + 1000, 500, 200 + k),
      ]).flat();
      assert.deepEqual(rules(detectAnomalies(mk(CARD_DECLINE_COUNT_MIN - 1), PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies(mk(CARD_DECLINE_COUNT_MIN), PROFILE)), ['ANM-DECLINE-CARD']);
    });

    it('repeatCardCountAndWindow', () => {
      const mk = (n: number, spanMs: number): AnomalyTxn[] => Array.from({ length: n }, (_, k) => sale(k + 1, T0 + (k === n - 1 ? spanMs : k * 1000), 1000 + k, 7));
      assert.deepEqual(rules(detectAnomalies(mk(REPEAT_CARD_COUNT_MIN - 1, MINUTE_MS), PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies(mk(REPEAT_CARD_COUNT_MIN, REPEAT_CARD_WINDOW_MS), PROFILE)), ['ANM-REPEAT-CARD']);
      assert.deepEqual(rules(detectAnomalies(mk(REPEAT_CARD_COUNT_MIN, REPEAT_CARD_WINDOW_MS + 1), PROFILE)), []);
    });

    it('doubleChargeWindowAndVoids', () => {
      const pair = (gapMs: number, firstStatus: AnomalyTxn['status'] = 'approved'): AnomalyTxn[] =>
        [sale(1, T0, 2500, 7, firstStatus), sale(2, T0 + gapMs, 2500, 7)];
      assert.deepEqual(rules(detectAnomalies(pair(DOUBLE_CHARGE_WINDOW_MS), PROFILE)), ['ANM-DOUBLE']);
      assert.deepEqual(rules(detectAnomalies(pair(DOUBLE_CHARGE_WINDOW_MS + 1), PROFILE)), []);
      // The first one voided (or reversed): the customer was charged once.
      assert.deepEqual(rules(detectAnomalies(pair(MINUTE_MS, 'voided'), PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies(pair(MINUTE_MS, 'reversed'), PROFILE)), []);
      // Other amounts, other cards, QR payments without a card tag: not a double charge.
      assert.deepEqual(rules(detectAnomalies([sale(1, T0, 2500, 7), sale(2, T0 + 1, 2501, 7)], PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies([sale(1, T0, 2500, 7), sale(2, T0 + 1, 2500, 8)], PROFILE)), []);
      assert.deepEqual(rules(detectAnomalies([sale(1, T0, 2500, undefined), sale(2, T0 + 1, 2500, undefined)], PROFILE)), []);
    });
  });

  describe('profile and limits', () => {
    it('buildProfileComputesMedianAndQuartilesExactly', () => {
      const p = buildProfile([100, 200, 300, 400, 500]);
      assert.deepEqual({ n: p.sampleCount, q1: p.q1Fen, m: p.medianFen, q3: p.q3Fen }, { n: 5, q1: 200, m: 300, q3: 400 });
      const even = buildProfile([100, 200, 300, 400]);
      assert.deepEqual({ q1: even.q1Fen, m: even.medianFen, q3: even.q3Fen }, { q1: 175, m: 250, q3: 325 });
      assert.deepEqual(buildProfile([]), { sampleCount: 0, medianFen: 0, q1Fen: 0, q3Fen: 0 });
    });

    it('aShopOfOnePriceStillGetsAUsableThreshold', () => {
      const p = buildProfile(new Array<number>(PROFILE_SAMPLES_MIN).fill(50_000));
      // IQR 0: the floor (25 % of the median) keeps the bar at 50000 + 5 × 12500.
      assert.equal(p.thresholdFen, 112_500);
      const tiny = buildProfile(new Array<number>(PROFILE_SAMPLES_MIN).fill(300));
      assert.equal(tiny.thresholdFen, AMOUNT_THRESHOLD_FEN_MIN);
    });

    it('theHistoryIsBoundedAndKeepsTheNewest', () => {
      const old = new Array<number>(PROFILE_SAMPLES_MAX).fill(100);
      const kept = appendHistory(old, new Array<number>(10).fill(9000));
      assert.equal(kept.length, PROFILE_SAMPLES_MAX);
      assert.deepEqual(kept.slice(-10), new Array<number>(10).fill(9000));
      assert.equal(appendHistory([], [0, -5, 1.5, 300]).length, 1, 'invalid amounts are not history');
      const p = buildProfile([...new Array<number>(5000).fill(1), ...new Array<number>(PROFILE_SAMPLES_MAX).fill(700)]);
      assert.equal(p.sampleCount, PROFILE_SAMPLES_MAX);
      assert.equal(p.medianFen, 700);
    });

    it('aFlagListsAtMostFlagStansCountMaxStans', () => {
      const many = Array.from({ length: 100 }, (_, k) => sale(k + 1, DAY_START_MS + k * 1000, 5, 100 + k));
      const [f] = detectAnomalies(many, PROFILE);
      assert.equal(f.txnCount, 100);
      assert.equal(f.stans.length, FLAG_STANS_COUNT_MAX);
    });

    it('ruleCodesAreShortAsciiAndBitsAreDistinct', () => {
      for (const r of ANOMALY_RULES) assert.match(r.code, new RegExp(`^[A-Z0-9]{1,${ANOMALY_CODE_CHARS_MAX}}$`));
      assert.equal(new Set(ANOMALY_RULES.map((r) => r.bit)).size, ANOMALY_RULES.length);
      assert.equal(new Set(ANOMALY_RULES.map((r) => r.id)).size, ANOMALY_RULES.length);
    });

    it('everyFlagHasTextInBothLanguages', () => {
      const T0 = DAY_START_MS;
      const txns = [
        ...Array.from({ length: 5 }, (_, k) => sale(k + 1, T0 + k, 5, 100 + k)),
        sale(10, T0 + 10, 99_999_99, 1),
        ...Array.from({ length: 5 }, (_, k) => sale(20 + k, T0 + 20 + k, 500, 3, 'declined')),
        ...Array.from({ length: 3 }, (_, k) => sale(30 + k, T0 + 30 + k, 700, 4)),
      ];
      const flags = detectAnomalies(txns, PROFILE);
      assert.deepEqual(new Set(rules(flags)), new Set(ANOMALY_RULES.map((r) => r.id)));
      assert.equal(anomalyDigest(flags), '3F');
      for (const f of flags) {
        assert.ok(f.text.zh.length > 0 && f.text.en.length > 0);
        assert.match(f.text.en, /^[\x20-\x7e]+$/);
        // The supervisor screen is the 128x64 LCD: every character must be in its font subset.
        for (const ch of f.text.zh + f.text.en) assert.ok(hasGlyph(ch), `${ch} of ${JSON.stringify(f.text.zh)} has no glyph in ui-lcd/font`);
      }
    });
  });
});

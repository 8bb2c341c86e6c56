/**
 * Processing restrictions (emv-restrictions.ts), terminal risk management (emv-risk.ts) and
 * terminal action analysis (emv-taa.ts), by the rules of EMV 4.3 Book 3 §10.4, §10.6 and §10.7 and
 * the TVR of Annex C5. These are decisions, not cryptography: no published known answers apply;
 * each case states the rule it checks. The TVR bytes are compared with hand-written hex so that a
 * bit in the wrong place fails.
 */
import { strict as assert } from 'node:assert';
import { processingRestrictions, RestrictionsInput } from './emv-restrictions';
import { floorLimitCheck, randomSelection, velocityCheck } from './emv-risk';
import { terminalActionAnalysis, unableToGoOnline } from './emv-taa';
import { TVR, hasTvrBit, tvrOf, withTvrBits } from './emv-tvr';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const tvrHex = (bits: Parameters<typeof tvrOf>[0]): string => tvrOf(bits).toString('hex');

describe('EMV terminal decisions', () => {
  describe('TVR bit positions (Book 3 Annex C5)', () => {
    it('places each named bit in its byte and bit', () => {
      assert.equal(tvrHex([TVR.odaNotPerformed]), '8000000000');
      assert.equal(tvrHex([TVR.sdaFailed, TVR.iccDataMissing, TVR.ddaFailed, TVR.cdaFailed]), '6c00000000');
      assert.equal(tvrHex([TVR.expiredApplication, TVR.newCard]), '0048000000');
      assert.equal(tvrHex([TVR.onlinePinEntered, TVR.pinNotEntered]), '00000c0000');
      assert.equal(tvrHex([TVR.floorLimitExceeded, TVR.randomlySelectedOnline]), '0000009000');
      assert.equal(tvrHex([TVR.issuerAuthenticationFailed, TVR.scriptFailedAfterFinalAc]), '0000000050');
      const t = withTvrBits(hex('0000000000'), [TVR.upperOfflineLimitExceeded]);
      assert.ok(hasTvrBit(t, TVR.upperOfflineLimitExceeded) && !hasTvrBit(t, TVR.lowerOfflineLimitExceeded));
    });
  });

  describe('processing restrictions (Book 3 §10.4)', () => {
    const base: RestrictionsInput = {
      terminalAppVersion: hex('0030'), terminalCountry: hex('0156'), service: 'goods', atm: false, todayYymmdd: '261203',
    };

    it('nothing set for a card with no restricting data, or one whose data allows the sale', () => {
      assert.deepEqual(processingRestrictions(base), []);
      assert.deepEqual(processingRestrictions({ ...base, cardAppVersion: hex('0030'), usageControl: hex('FF00'), issuerCountry: hex('0156'),
        effectiveDate: hex('261203'), expirationDate: hex('261203') }), []);
    });

    it('versions differ; not yet effective; expired the day after its expiry date', () => {
      assert.equal(tvrHex(processingRestrictions({ ...base, cardAppVersion: hex('0020') })), '0080000000');
      assert.equal(tvrHex(processingRestrictions({ ...base, effectiveDate: hex('261204') })), '0020000000');
      assert.equal(tvrHex(processingRestrictions({ ...base, expirationDate: hex('261202') })), '0040000000');
      assert.equal(tvrHex(processingRestrictions({ ...base, expirationDate: hex('991231') })), '0040000000', '99 is 1999');
      assert.equal(tvrHex(processingRestrictions({ ...base, expirationDate: hex('49123F') })), '0040000000', 'not a date');
    });

    it('usage control: international goods not allowed abroad, ATM-only cards, domestic cash', () => {
      const domesticOnly = hex('AB00'); // domestic cash, goods, services; ATM and non-ATM
      assert.deepEqual(processingRestrictions({ ...base, usageControl: domesticOnly, issuerCountry: hex('0156') }), []);
      assert.equal(tvrHex(processingRestrictions({ ...base, usageControl: domesticOnly, issuerCountry: hex('0344') })), '0010000000');
      assert.equal(tvrHex(processingRestrictions({ ...base, usageControl: hex('FE00') })), '0010000000', 'not valid at non-ATM terminals');
      assert.deepEqual(processingRestrictions({ ...base, usageControl: hex('8100'), service: 'cash', issuerCountry: hex('0156') }), []);
      assert.equal(tvrHex(processingRestrictions({ ...base, usageControl: hex('FF40'), service: 'cashback', issuerCountry: hex('0156') })), '0010000000');
      assert.deepEqual(processingRestrictions({ ...base, usageControl: hex('3D00') }), [], 'no issuer country: only the ATM test applies');
    });
  });

  describe('terminal risk management (Book 3 §10.6)', () => {
    it('floor limit: at or over it (with what was logged for the card) sets "exceeds floor limit"', () => {
      assert.deepEqual(floorLimitCheck(99_99, 100_00), []);
      assert.deepEqual(floorLimitCheck(100_00, 100_00), [TVR.floorLimitExceeded]);
      assert.deepEqual(floorLimitCheck(60_00, 100_00, 40_00), [TVR.floorLimitExceeded]);
      assert.deepEqual(floorLimitCheck(0, 0), [TVR.floorLimitExceeded], 'an online-only floor limit of 0');
    });

    it('random selection: target % below the threshold, rising linearly to the maximum at the floor limit, none over it', () => {
      const p = { targetPercent: 20, maxTargetPercent: 60, thresholdMinor: 50_00, floorLimitMinor: 150_00 };
      assert.deepEqual(randomSelection(10_00, p, 20), [TVR.randomlySelectedOnline]);
      assert.deepEqual(randomSelection(10_00, p, 21), []);
      // Halfway from threshold to floor: 20 + (60 − 20) × 0.5 = 40 %.
      assert.deepEqual(randomSelection(100_00, p, 40), [TVR.randomlySelectedOnline]);
      assert.deepEqual(randomSelection(100_00, p, 41), []);
      assert.deepEqual(randomSelection(150_00, p, 1), [], 'at the floor limit the floor limit check decides');
      assert.throws(() => randomSelection(10_00, p, 0));
      assert.throws(() => randomSelection(10_00, p, 100));
    });

    it('velocity: only with both limits; counts transactions since the last online one; new card; missing counters set both bits', () => {
      assert.deepEqual(velocityCheck({ lowerLimit: 3, atc: 10, lastOnlineAtc: 1 }), []);
      assert.deepEqual(velocityCheck({ lowerLimit: 3, upperLimit: 5, atc: 13, lastOnlineAtc: 10 }), []);
      assert.deepEqual(velocityCheck({ lowerLimit: 3, upperLimit: 5, atc: 14, lastOnlineAtc: 10 }), [TVR.lowerOfflineLimitExceeded]);
      assert.deepEqual(velocityCheck({ lowerLimit: 3, upperLimit: 5, atc: 16, lastOnlineAtc: 10 }), [TVR.lowerOfflineLimitExceeded, TVR.upperOfflineLimitExceeded]);
      assert.deepEqual(velocityCheck({ lowerLimit: 3, upperLimit: 5, atc: 2, lastOnlineAtc: 0 }), [TVR.newCard]);
      assert.deepEqual(velocityCheck({ lowerLimit: 3, upperLimit: 5, atc: 2 }), [TVR.lowerOfflineLimitExceeded, TVR.upperOfflineLimitExceeded]);
    });
  });

  describe('terminal action analysis (Book 3 §10.7)', () => {
    const tac = { denial: hex('0010000000'), online: hex('D84004F800'), default: hex('D84000A800') };
    const clean = hex('0000000000');

    it('denial wins: a TVR bit in TAC-Denial (service not allowed) → AAC whatever the terminal', () => {
      const tvr = tvrOf([TVR.serviceNotAllowed, TVR.floorLimitExceeded]);
      for (const cap of ['online-only', 'offline-with-online', 'offline-only'] as const) assert.equal(terminalActionAnalysis(tvr, {}, tac, cap), 'AAC');
      assert.equal(terminalActionAnalysis(tvrOf([TVR.newCard]), { denial: hex('0008000000') }, tac, 'online-only'), 'AAC', 'IAC-Denial too');
    });

    it('an online-capable terminal asks for ARQC when a bit is in TAC- or IAC-Online; an absent IAC-Online is all ones', () => {
      assert.equal(terminalActionAnalysis(clean, {}, tac, 'online-only'), 'ARQC');
      assert.equal(terminalActionAnalysis(clean, {}, tac, 'offline-with-online'), 'TC');
      assert.equal(terminalActionAnalysis(tvrOf([TVR.floorLimitExceeded]), { online: clean }, tac, 'offline-with-online'), 'ARQC');
      assert.equal(terminalActionAnalysis(tvrOf([TVR.newCard]), { online: clean }, { ...tac, online: clean }, 'offline-with-online'), 'TC');
      assert.equal(terminalActionAnalysis(tvrOf([TVR.newCard]), {}, { ...tac, online: clean }, 'offline-with-online'), 'ARQC', 'absent IAC-Online = FF…');
    });

    it('offline-only, and unable to go online: default codes decide TC or AAC; an absent IAC-Default is all ones', () => {
      assert.equal(terminalActionAnalysis(clean, {}, tac, 'offline-only'), 'TC');
      assert.equal(terminalActionAnalysis(tvrOf([TVR.floorLimitExceeded]), { default: clean }, { ...tac, default: clean }, 'offline-only'), 'TC');
      assert.equal(unableToGoOnline(tvrOf([TVR.floorLimitExceeded]), {}, { ...tac, default: clean }), 'AAC', 'absent IAC-Default = FF…');
      assert.equal(unableToGoOnline(tvrOf([TVR.floorLimitExceeded]), { default: clean }, { ...tac, default: clean }), 'TC');
      assert.equal(unableToGoOnline(tvrOf([TVR.odaNotPerformed]), { default: clean }, tac), 'AAC', 'TAC-Default D8… has ODA not performed');
    });
  });
});

/**
 * Issue 11 item 1: CA public keys (370/371) and AIDs (380/381) from the host, against the acquirer
 * simulator on loopback: what crosses the wire, what is checked, what the journal keeps, and that
 * a set is replaced all-or-nothing (docs/PROTOCOL.md "CA key and AID download").
 */
import { strict as assert } from 'node:assert';
import { isPosError } from '../../common/errors';
import { RecordType } from '../../storage/record';
import { AIDS_KIND, CA_KEYS_KIND, rec } from '../../runtime/records';
import { HostExchange } from '../../runtime/txn/engine';
import { unpackFrame, textField } from '../../runtime/host/packager';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { caKeyChecksum } from '../../runtime/txn/emv-rsa';
import { caKeysInForce, downloadAids, downloadAllParameters, downloadCaKeys, downloadMissingEmvParameters, todayYyyymmdd } from '../../runtime/txn/emv-download';
import { testAids, testCaPublicKeys } from '../../sim/host/emv-params-host';
import { CASHIER, Rig, rig } from './harness';

const refused = (code: string) => (e: unknown): boolean => isPosError(e) && e.code === code;

describe('runtime: CA key and AID download (370/371, 380/381)', function () {
  this.timeout(20_000);
  let r: Rig;
  let frames: Buffer[];
  beforeEach(async () => {
    frames = [];
    const host = (t: HostExchange): HostExchange => ({ exchange: (req, signal) => { frames.push(Buffer.from(req)); return t.exchange(req, signal); }, setResponseTimeoutMs: (ms) => t.setResponseTimeoutMs?.(ms) });
    r = await rig({ host });
    await r.terminal.engine.signOn(CASHIER);
    frames = [];
  });
  afterEach(async () => { r.sim.clearFaults(); await r.close(); });

  const settingsOf = (kind: string): number => [...r.journal.records()].filter((x) => x.type === RecordType.settings && x.payload.kind === kind).length;
  const onWire = (): Array<{ code: string; stan: string; has62: boolean }> => frames.map((f) => unpackFrame(CUP_PROFILE, f).message)
    .map((m) => ({ code: (textField(m, 60) ?? '').slice(8, 11), stan: textField(m, 11) ?? '', has62: m.fields.has(62) }));

  it('caKeysAreListedFetchedOneByOneCheckedAndJournaledAsOneRecord; the expired key is dropped; a reboot keeps them', async () => {
    const res = await downloadCaKeys(r.terminal.engine);
    assert.deepEqual(res, { outcome: 'applied', count: 2, expiredDropped: 1 });
    const wire = onWire();
    assert.deepEqual(wire.map((w) => `${w.code}${w.has62 ? '+62' : ''}`), ['370', '370+62', '370+62', '370+62', '371'], 'list, each key, end');
    assert.equal(new Set(wire.map((w) => w.stan)).size, wire.length, 'every message its own STAN');
    const keys = r.terminal.engine.state.caKeys ?? assert.fail('no CA keys in state');
    assert.deepEqual(keys.map((k) => k.index), [0x80, 0x81]);
    for (const k of keys) assert.ok(caKeyChecksum(k).equals(k.checksum as Buffer), 'stored with its verified check value');
    assert.equal(settingsOf(CA_KEYS_KIND), 1);
    await r.reboot();
    assert.deepEqual(r.terminal.engine.state.caKeys?.map((k) => k.modulus.toString('hex')), testCaPublicKeys().slice(0, 2).map((k) => k.modulus.toString('hex')));
  });

  it('aKeyWhoseCheckValueIsWrongRefusesTheWholeSet (E-HOST-09) and the keys in force stay', async () => {
    await downloadCaKeys(r.terminal.engine);
    r.sim.setFault({ kind: 'ca-key-bad-check', count: Infinity });
    await assert.rejects(downloadCaKeys(r.terminal.engine), refused('E-HOST-09'));
    assert.equal(settingsOf(CA_KEYS_KIND), 1, 'nothing journaled for a refused set');
    assert.equal(r.terminal.engine.state.caKeys?.length, 2);
    assert.ok(!onWire().slice(5).some((w) => w.code === '371'), 'no end message after a refused key');
  });

  it('anEndMessageNotAnswered00ReplacesNothing, and a host that does not know 370 hides it until the next sign-on', async () => {
    r.sim.setFault({ kind: 'response-code', code: '96', type: 'caKeyDownloadEnd' });
    assert.deepEqual(await downloadCaKeys(r.terminal.engine), { outcome: 'declined', responseCode: '96' });
    assert.equal(r.terminal.engine.state.caKeys, undefined);
    assert.equal(settingsOf(CA_KEYS_KIND), 0);
    r.sim.setFault({ kind: 'response-code', code: '12', type: 'caKeyDownload' });
    assert.equal((await downloadCaKeys(r.terminal.engine)).outcome, 'unsupported');
    assert.equal(r.terminal.engine.featureAvailable('caKeys'), false);
    await r.terminal.engine.signOn(CASHIER);
    assert.equal(r.terminal.engine.featureAvailable('caKeys'), true);
  });

  it('aidsAreDownloadedWithTheirTacsAndLimits', async () => {
    const res = await downloadAids(r.terminal.engine);
    assert.deepEqual(res, { outcome: 'applied', count: 3, expiredDropped: 0 });
    assert.deepEqual(onWire().map((w) => `${w.code}${w.has62 ? '+62' : ''}`), ['380', '380+62', '380+62', '380+62', '381']);
    const aids = r.terminal.engine.state.aids ?? assert.fail('no AIDs');
    assert.deepEqual(aids.map((a) => a.aid.toString('hex').toUpperCase()), ['A000000333010101', 'A000000333010102', 'A000000333010103']);
    assert.equal(aids[0].tacDenial.toString('hex').toUpperCase(), '0010000000');
    assert.equal(aids[0].clTxnLimitFen, 100_000);
    assert.equal(settingsOf(AIDS_KIND), 1);
  });

  it('anAidsRandomSelectionParametersAreJournaledAndReadBackAfterAReboot; out of range they are refused when written', async () => {
    const random = { thresholdFen: 2_000, targetPercent: 20, maxTargetPercent: 60 };
    const aids = testAids().map((a, i) => (i === 0 ? { ...a, floorLimitFen: 10_000, random } : a));
    await r.terminal.engine.store.commit([rec.aidParams({ aids })], { reserve: true });
    await r.reboot();
    const back = r.terminal.engine.state.aids ?? assert.fail('no AIDs after the reboot');
    assert.deepEqual(back[0].random, random);
    assert.equal(back[1].random, undefined);
    assert.throws(() => rec.aidParams({ aids: [{ ...aids[0], random: { ...random, thresholdFen: 10_000 } }] }), /random selection parameters out of range/);
  });

  it('afterSignOnOnlyMissingSetsAreDownloaded, and the menu\'s parameter download refreshes all three', async () => {
    await downloadMissingEmvParameters(r.terminal.engine);
    assert.ok(r.terminal.engine.state.caKeys && r.terminal.engine.state.aids);
    const sent = frames.length;
    await downloadMissingEmvParameters(r.terminal.engine);
    assert.equal(frames.length, sent, 'nothing sent when both sets are in force');
    assert.deepEqual(await downloadAllParameters(r.terminal.engine), { responseCode: '00' });
    assert.deepEqual([settingsOf(CA_KEYS_KIND), settingsOf(AIDS_KIND)], [2, 2]);
    assert.deepEqual(onWire().slice(sent).map((w) => w.code).filter((c, i, a) => a.indexOf(c) === i), ['360', '370', '371', '380', '381']);
  });

  it('aFailedDownloadAfterSignOnIsLoggedAndNeverUndoesTheSignOn', async () => {
    r.sim.setFault({ kind: 'ca-key-bad-check', count: Infinity });
    await downloadMissingEmvParameters(r.terminal.engine);
    assert.equal(r.terminal.engine.state.caKeys, undefined, 'refused set not stored');
    assert.equal(r.terminal.engine.state.aids?.length, 3, 'the AID download still ran');
  });
});

describe('runtime: CA keys in force and the terminal\'s date', () => {
  it('aKeyIsUsableThroughItsExpiryDateInTheTerminalsZoneAndNotTheDayAfter', () => {
    const keys = testCaPublicKeys().map((k) => ({ ...k, expiryYyyymmdd: '20301231' }));
    // 2030-12-31 23:30 in UTC+8 is 15:30 UTC: still the 31st where the terminal is.
    const lastEvening = Date.UTC(2030, 11, 31, 15, 30);
    assert.equal(todayYyyymmdd(lastEvening, 480), '20301231');
    assert.equal(caKeysInForce(keys, todayYyyymmdd(lastEvening, 480)).length, 3);
    // Forty minutes later it is 2031-01-01 in UTC+8 (still the 31st in UTC).
    const after = lastEvening + 40 * 60_000;
    assert.equal(todayYyyymmdd(after, 0), '20301231');
    assert.equal(caKeysInForce(keys, todayYyyymmdd(after, 480)).length, 0);
  });
});

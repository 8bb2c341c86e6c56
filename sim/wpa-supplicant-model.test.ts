import { strict as assert } from 'node:assert';
import { WpaCliRunner, WpaCliWifi, waitJoined, wpaPsk } from '../hal/wifi';
import { isPosError } from '../common/errors';
import { ASSOCIATE_MS, SIM_SHOP_PASSPHRASE, SIM_SHOP_SSID, SIM_WIFI_ADDRESS, SimWpaSupplicant } from './wpa-supplicant-model';

/** The real driver over the model, on a clock the test moves; every wpa_cli argv and stdin kept. */
function rig(): { model: SimWpaSupplicant; wifi: WpaCliWifi; calls: Array<{ args: readonly string[]; stdin?: string }>; advance(ms: number): void; now(): number } {
  let nowMs = 1_000_000;
  const model = new SimWpaSupplicant(() => nowMs);
  const calls: Array<{ args: readonly string[]; stdin?: string }> = [];
  const run: WpaCliRunner = (args, stdin, timeoutMs) => { calls.push({ args, ...(stdin !== undefined ? { stdin } : {}) }); return model.run(args, stdin, timeoutMs); };
  const wifi = new WpaCliWifi({ interface: 'wlan0', ctrlDir: '/run/wpa_supplicant', run, sleep: async (ms) => { nowMs += ms; } });
  return { model, wifi, calls, advance: (ms) => { nowMs += ms; }, now: () => nowMs };
}

const joinOutcome = (r: ReturnType<typeof rig>, ssid: string): ReturnType<typeof waitJoined> =>
  waitJoined(r.wifi, ssid, { waitMs: 10_000, pollMs: 500, clock: r.now, sleep: async (ms) => r.advance(ms) });

describe('sim/wpa-supplicant-model: the simulator board\'s Wi-Fi behind the real driver', () => {
  it('atPowerOnItIsJoinedToTheShopsNetworkWithAnAddressAndAStrongSignal', async () => {
    const { wifi } = rig();
    await wifi.check();
    assert.deepEqual(await wifi.status(), { state: 'COMPLETED', ssid: SIM_SHOP_SSID, ipAddress: SIM_WIFI_ADDRESS });
    const signal = await wifi.signal();
    assert.equal(signal?.rssiDbm, -52);
    assert.equal(signal?.bars, 4);
    assert.equal(signal?.frequencyMhz, 2437);
    assert.deepEqual((await wifi.saved()).map((n) => [n.ssid, n.current, n.tempDisabled]), [[SIM_SHOP_SSID, true, false]]);
  });

  it('aScanListsWhatIsHeardStrongestFirstWithItsSecurityAndSsidsOfAnyBytesComeBackWhole', async () => {
    const r = rig();
    r.model.accessPoints.push({ ssid: 'Café "No.1" \\', bssid: '02:00:5e:10:00:09', frequencyMhz: 2412, signalDbm: -40, security: 'wpa-psk', passphrase: 'cafe-pass-1' });
    const heard = await r.wifi.scan();
    assert.equal(heard[0].ssid, 'Café "No.1" \\');
    assert.deepEqual(heard.map((n) => n.signalDbm), [...heard.map((n) => n.signalDbm)].sort((a, b) => b - a));
    assert.equal(heard.find((n) => n.ssid === 'Guest')?.security, 'open');
    assert.equal(heard.find((n) => n.ssid === 'Office 802.1X')?.security, 'wpa-eap');
    assert.equal(heard.find((n) => n.ssid === SIM_SHOP_SSID)?.bars, 4);
  });

  it('joiningWithTheRightPassphraseAssociatesAfterTheDelayAndThePassphraseNeverReachesArgv', async () => {
    const r = rig();
    await r.wifi.join('SIM-SHOP-5G', SIM_SHOP_PASSPHRASE);
    assert.equal((await r.wifi.status()).state, 'ASSOCIATING', `not yet: it associates ${ASSOCIATE_MS} ms after the selection`);
    assert.deepEqual(await joinOutcome(r, 'SIM-SHOP-5G'), { kind: 'joined', ssid: 'SIM-SHOP-5G', address: SIM_WIFI_ADDRESS });
    assert.equal((await r.wifi.signal())?.frequencyMhz, 5180);
    const psk = wpaPsk('SIM-SHOP-5G', SIM_SHOP_PASSPHRASE);
    assert.ok(r.calls.every((c) => !c.args.some((a) => a.includes(psk) || a.includes(SIM_SHOP_PASSPHRASE))), 'neither the passphrase nor its key on a command line');
    assert.ok(r.calls.some((c) => c.stdin?.includes(psk)), 'the key went through standard input');
  });

  it('aWrongPassphraseFailsTheHandshakeTemporarilyDisabledAsE_NET_31AndAnOpenNetworkJoinsWithoutOne', async () => {
    const r = rig();
    await r.wifi.join('SIM-SHOP-5G', 'wrong-passphrase');
    assert.deepEqual(await joinOutcome(r, 'SIM-SHOP-5G'), { kind: 'failed', code: 'E-NET-31' });
    assert.equal(await r.wifi.signal(), undefined, 'not associated: no signal');
    await r.wifi.join('Guest', undefined);
    assert.deepEqual(await joinOutcome(r, 'Guest'), { kind: 'joined', ssid: 'Guest', address: SIM_WIFI_ADDRESS });
    // The shop's entry is kept (to fall back to); the failed one replaced only when joined again.
    assert.deepEqual((await r.wifi.saved()).map((n) => n.ssid).sort(), ['Guest', 'SIM-SHOP', 'SIM-SHOP-5G']);
  });

  it('aNetworkOutOfRangeStaysSavedNotJoinedAndForgetRemovesIt', async () => {
    const r = rig();
    const ap = r.model.accessPoint('Neighbour')!;
    r.model.accessPoints.splice(r.model.accessPoints.indexOf(ap), 1);
    await r.wifi.join('Neighbour', 'not-yours-2026');
    assert.deepEqual(await joinOutcome(r, 'Neighbour'), { kind: 'saved', ssid: 'Neighbour' });
    await r.wifi.forget('Neighbour');
    assert.ok(!(await r.wifi.saved()).some((n) => n.ssid === 'Neighbour'));
    await assert.rejects(r.wifi.forget('Neighbour'), (e: unknown) => isPosError(e) && e.code === 'E-NET-30');
  });

  it('theSignalFollowsTheModelAndAStoppedWpaSupplicantIsNotReachable', async () => {
    const r = rig();
    r.model.accessPoint(SIM_SHOP_SSID)!.signalDbm = -84;
    assert.equal((await r.wifi.signal())?.bars, 1);
    r.model.running = false;
    await assert.rejects(r.wifi.status(), (e: unknown) => isPosError(e) && e.code === 'E-NET-28' && /not reachable/.test(e.message));
  });
});

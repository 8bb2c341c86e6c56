/**
 * Settings > Wi-Fi (boot/wifi-menu.ts): the screens and keys over a Wifi that answers as the OS
 * would (the driver itself is tested against a real wpa_supplicant in tests/hal/wifi-wpa.test.ts).
 * The passphrase is typed by multi-tap on a clock the test moves.
 */
import { strict as assert } from 'node:assert';
import type { KeyName } from '../../hal/keypad';
import type { SavedNetwork, Wifi, WifiNetwork, WifiSignal, WifiStatus } from '../../hal/wifi';
import { PosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import type { Screen, Txt } from '../../ui-lcd/screen';
import { WifiMenu } from '../../boot/wifi-menu';
import { MULTITAP_COMMIT_MS } from '../../ui-lcd/widgets/text-entry';
import { WpaCliWifi } from '../../hal/wifi';
import { SIM_WIFI_ADDRESS, SimWpaSupplicant } from '../../sim/wpa-supplicant-model';

const NETWORKS: WifiNetwork[] = [
  { ssid: 'Shop', bssid: '00:11:22:33:44:55', frequencyMhz: 2412, signalDbm: -50, bars: 4, security: 'wpa-psk' },
  { ssid: 'Guest', bssid: '00:11:22:33:44:56', frequencyMhz: 2437, signalDbm: -70, bars: 2, security: 'open' },
  { ssid: 'Corp', bssid: '00:11:22:33:44:57', frequencyMhz: 5180, signalDbm: -72, bars: 2, security: 'wpa-eap' },
];

/** The OS side as wpa_supplicant would answer: joins recorded; associates unless the key is wrong. */
class OsWifi implements Wifi {
  joins: Array<{ ssid: string; passphrase: string | undefined }> = [];
  goodPassphrase = 'wifi1234';
  private current: { ssid: string; ok: boolean } | undefined;
  constructor(private readonly networks: WifiNetwork[] = NETWORKS, private readonly failScan?: PosError) {}
  async check(): Promise<void> {}
  async scan(): Promise<WifiNetwork[]> { if (this.failScan) throw this.failScan; return this.networks; }
  async saved(): Promise<SavedNetwork[]> { return this.current ? [{ id: 0, ssid: this.current.ssid, current: this.current.ok, tempDisabled: !this.current.ok }] : []; }
  async status(): Promise<WifiStatus> { return this.current?.ok ? { state: 'COMPLETED', ssid: this.current.ssid, ipAddress: '192.168.1.23' } : { state: 'SCANNING' }; }
  async signal(): Promise<WifiSignal | undefined> { return this.current?.ok ? { rssiDbm: -50, bars: 4, frequencyMhz: 2412 } : undefined; }
  async join(ssid: string, passphrase: string | undefined): Promise<{ id: number }> {
    this.joins.push({ ssid, passphrase });
    this.current = { ssid, ok: passphrase === undefined || passphrase === this.goodPassphrase };
    return { id: 0 };
  }
  async forget(): Promise<void> {}
  async close(): Promise<void> {}
}

function menu(wifi: Wifi, clock = { now: 0 }): { m: WifiMenu; records: object[]; text: () => string; keys: (s: string) => void; closed: () => boolean } {
  let closed = false;
  const records: object[] = [];
  const m = new WifiMenu({
    wifi, clock: () => clock.now, changed: () => undefined, close: () => { closed = true; }, logger: silentLogger,
    record: async (p) => { records.push(p); }, sleep: async (ms) => { clock.now += ms; },
  });
  const text = (): string => {
    const s: Screen = m.screen();
    const lines: Txt[] = [s.title, ...(s.lines ?? []), ...(s.menu?.items.map((i) => i.label) ?? [])];
    return lines.map((l) => tr2(l)).join(' | ');
  };
  const keys = (s: string): void => {
    for (const k of s.split(' ').filter(Boolean)) {
      if (k === 'wait') { clock.now += MULTITAP_COMMIT_MS; continue; }
      m.press(k as KeyName);
      clock.now += 100;
    }
  };
  return { m, records, text, keys, closed: () => closed };
}

/** English text of a Txt (the menu's texts are plain or LocalText). */
function tr2(x: Txt): string {
  if (typeof x === 'string') return x;
  if ('en' in x) return x.en;
  if ('parts' in x) return x.parts.map(tr2).join('');
  if ('whole' in x) return tr2(x.whole);
  return String(x.amountFen);
}

describe('Settings > Wi-Fi (boot/wifi-menu.ts)', () => {
  it('scans, lists by strength with a lock on secured networks, takes a passphrase typed by multi-tap and joins: journaled without the passphrase', async () => {
    const os = new OsWifi();
    const { m, records, text, keys } = menu(os);
    assert.equal(m.step, 'scanning');
    await m.busy;
    assert.equal(m.step, 'list');
    assert.match(text(), /Shop\* 4\/4 \| Guest 2\/4 \| Corp\* 2\/4/);
    keys('1');
    assert.equal(m.step, 'passphrase');
    keys('9 4 4 4 3 3 3 4 4 4 FUNC FUNC 1 2 3'); // w i f i, then digits
    assert.match(text(), /\*\*\*\*\*\*\*/, 'the passphrase shows as *');
    assert.doesNotMatch(text(), /wifi/);
    keys('OK');
    assert.equal(m.step, 'passphrase', '7 characters: too short');
    keys('4 OK');
    assert.equal(m.step, 'joining');
    await m.busy;
    assert.deepEqual(os.joins, [{ ssid: 'Shop', passphrase: 'wifi1234' }]);
    assert.deepEqual(records, [{ ssid: 'Shop', security: 'wpa-psk' }]);
    assert.equal(m.step, 'joined');
    assert.match(text(), /Connected 192\.168\.1\.23/);
  });

  it('a wrong passphrase: wpa_supplicant disables the network, the screen says E-NET-31', async () => {
    const os = new OsWifi();
    const { m, keys, text } = menu(os);
    await m.busy;
    keys('1 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 OK'); // cccccccc
    await m.busy;
    assert.deepEqual(os.joins.map((j) => j.passphrase), ['cccccccc']);
    assert.equal(m.step, 'failed');
    assert.match(text(), /E-NET-31/);
  });

  it('an open network joins without a passphrase; 802.1X is refused with E-NET-29; nothing heard: OK scans again', async () => {
    const os = new OsWifi();
    const a = menu(os);
    await a.m.busy;
    a.keys('DOWN OK');
    await a.m.busy;
    assert.deepEqual(os.joins, [{ ssid: 'Guest', passphrase: undefined }]);
    assert.equal(a.m.step, 'joined');
    const b = menu(new OsWifi());
    await b.m.busy;
    b.keys('3');
    assert.equal(b.m.step, 'failed');
    assert.match(b.text(), /E-NET-29/);
    const c = menu(new OsWifi([]));
    await c.m.busy;
    assert.equal(c.m.step, 'none');
    c.keys('OK');
    assert.equal(c.m.step, 'scanning');
  });

  it('onTheSimulatorBoardsWifiTheRealDriverOverTheWpaSupplicantModelListsJoinsAndRefusesAWrongPassphrase', async () => {
    const clock = { now: 0 };
    const model = new SimWpaSupplicant(() => clock.now);
    const wifi = new WpaCliWifi({ interface: 'wlan0', ctrlDir: '/run/wpa_supplicant', run: model.run, sleep: async (ms) => { clock.now += ms; } });
    const a = menu(wifi, clock);
    await a.m.busy;
    assert.match(a.text(), /^Wi-Fi .*\| SIM-SHOP\* 4\/4 \| SIM-SHOP-5G\* 3\/4 \| Guest 2\/4 \| Office 802\.1X\* 1\/4 \| Neighbour\* 0\/4/);
    a.keys('3');
    await a.m.busy;
    assert.equal(a.m.step, 'joined');
    assert.match(a.text(), new RegExp(`Connected ${SIM_WIFI_ADDRESS.replace(/\./g, '\\.')}`));
    assert.deepEqual(a.records, [{ ssid: 'Guest', security: 'open' }]);
    const b = menu(wifi, clock);
    await b.m.busy;
    b.keys('2 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 wait 2 2 2 OK'); // cccccccc
    await b.m.busy;
    assert.equal(b.m.step, 'failed');
    assert.match(b.text(), /E-NET-31/);
    assert.deepEqual(b.records, [{ ssid: 'SIM-SHOP-5G', security: 'wpa-psk' }], 'saved (journaled) before the handshake failed');
  });

  it('wpa_supplicant not answering: E-NET-28; CANCEL while typing leaves with nothing joined or journaled', async () => {
    const failed = menu(new OsWifi(NETWORKS, new PosError('NET_WIFI_CTRL', 'wlan0: not reachable')));
    await failed.m.busy;
    assert.equal(failed.m.step, 'failed');
    assert.match(failed.text(), /E-NET-28/);
    const os = new OsWifi();
    const { m, keys, records, closed } = menu(os);
    await m.busy;
    keys('1 2 3 4 CANCEL');
    assert.equal(closed(), true);
    assert.deepEqual(os.joins, []);
    assert.deepEqual(records, []);
  });
});

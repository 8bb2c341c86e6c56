/**
 * The Wi-Fi on the sign-on failure screen (boards with wifi0; FIELD-FAULTS.md "Sign-on fails" and
 * "Wi-Fi weak: link state and signal"): when the sign-on fails, the terminal reads the Wi-Fi as
 * diagnostics does (boot/wifi-state.ts) and the screen shows its fault first, with the error
 * list's steps, when the Wi-Fi is the board's first link; then its state (network, address,
 * signal). The screen's order is checked on its builder (every case); the terminal's wiring in
 * process, on the simulator board's file with a wifi0 added, its wpa_supplicant answering as a
 * weak link would.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { screenFor, type ModemView, type WifiView } from '../../ui-lcd/screens';
import { resolve } from '../../ui-lcd/strings';
import { readWifiState } from '../../boot/wifi-state';
import { PosError } from '../../common/errors';
import type { SavedNetwork, Wifi, WifiNetwork, WifiSignal, WifiStatus } from '../../hal/wifi';
import { dbmToBars } from '../../hal/wifi';
import { NoticeRig } from './notice-watch';

const JOINED: WifiStatus = { state: 'COMPLETED', ssid: 'Shop', ipAddress: '192.168.1.23' };

/** wpa_supplicant's answers for one test. */
class OsWifi implements Wifi {
  constructor(private readonly st: WifiStatus, private readonly sig?: WifiSignal) {}
  async check(): Promise<void> {}
  async scan(): Promise<WifiNetwork[]> { return []; }
  async saved(): Promise<SavedNetwork[]> { return [{ id: 0, ssid: 'Shop', current: false, tempDisabled: false }] ; }
  async status(): Promise<WifiStatus> { return this.st; }
  async signal(): Promise<WifiSignal | undefined> { return this.sig; }
  async join(): Promise<{ id: number }> { throw new PosError('NET_WIFI_REFUSED', 'not in this test'); }
  async forget(): Promise<void> {}
  async close(): Promise<void> {}
}

const weak = (): OsWifi => new OsWifi(JOINED, { rssiDbm: -82, bars: dbmToBars(-82), frequencyMhz: 2437, linkSpeedMbps: 6 });

function lines(data: Record<string, unknown>): string[] {
  return screenFor('hostUnreachable', { reason: 'no-answer', network: true, ...data }).lines?.map((l) => resolve(l, 'en')) ?? [];
}

describe('the sign-on failure screen with the Wi-Fi (boards with wifi0)', function () {
  this.timeout(60_000);

  describe('the screen (ui-lcd/screens.ts hostUnreachable)', () => {
    it('aWeakWifiThatIsTheFirstLinkLeadsWithItsCodeAndSteps_thenItsState', async () => {
      const state = await readWifiState(weak(), 'wlan0');
      assert.equal(state.fault?.code, 'E-NET-33');
      const wifi: WifiView = { lines: state.lines, fault: state.fault?.code, first: true };
      const l = lines({ wifi });
      assert.deepEqual(l.slice(0, 3), ['E-NET-33 Wi-Fi signal weak', '- Move closer to the router', '- Restart the router if still weak'], l.join(' / '));
      assert.ok(l.includes('Wi-Fi: joined Shop 192.168.1.23'), l.join(' / '));
      assert.ok(l.some((x) => /^signal -82 dBm 1\/4 2\.4 GHz/.test(x)), l.join(' / '));
      assert.ok(l.indexOf('Wi-Fi: joined Shop 192.168.1.23') > 2, 'the state after the cause');
    });

    it('aHealthyWifiIsLinesAfterTheEchoHint_notACause', async () => {
      const state = await readWifiState(new OsWifi(JOINED, { rssiDbm: -55, bars: dbmToBars(-55), frequencyMhz: 5180, linkSpeedMbps: 300 }), 'wlan0');
      assert.equal(state.fault, undefined);
      const l = lines({ wifi: { lines: state.lines, first: true } });
      assert.ok(!l.some((x) => x.startsWith('E-NET-')), l.join(' / '));
      assert.equal(l.at(-2), 'Wi-Fi: joined Shop 192.168.1.23', l.join(' / '));
    });

    it('withBothRadiosFaulty_theFirstLinksFaultLeads', () => {
      const modem: ModemView = { sim: 'absent', bars: 0, registration: 'not-registered', apn: '', fault: 'E-NET-08' };
      const wifiWeak = (first: boolean): WifiView => ({ lines: [{ en: 'Wi-Fi: joined Shop', zh: 'Wi-Fi: joined Shop' }], fault: 'E-NET-33', first });
      const wifiFirst = lines({ modem, wifi: wifiWeak(true) });
      assert.ok(wifiFirst[0].startsWith('E-NET-33'), wifiFirst.join(' / '));
      assert.ok(wifiFirst.findIndex((x) => x.startsWith('E-NET-08')) > 0);
      const modemFirst = lines({ modem, wifi: wifiWeak(false) });
      assert.ok(modemFirst[0].startsWith('E-NET-08'), modemFirst.join(' / '));
      assert.ok(modemFirst.findIndex((x) => x.startsWith('E-NET-33')) > modemFirst.findIndex((x) => x.startsWith('E-NET-08')));
    });
  });

  describe('the terminal (boot/terminal-app.ts readWifi), in process', () => {
    const rig = new NoticeRig('possignonwifi-');
    rig.hooks();
    const w = rig.w;
    let dir = '';
    beforeEach(() => { dir = fs.mkdtempSync(path.join(rig.root, 'board-')); });

    /** The simulator board's file with wifi0 (wlan0) the board's one link. */
    function wifiBoardFile(): string {
      const json = JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs/sim.json'), 'utf8')) as { devices: Record<string, Record<string, unknown>>; network?: unknown };
      json.devices.wifi0 = { type: 'wpa-supplicant', interface: 'wlan0', ctrlDir: path.join(dir, 'no-wpa_supplicant') };
      json.network = { backend: 'none', interface: 'wlan0' };
      const file = path.join(dir, 'sim-wifi.json');
      fs.writeFileSync(file, JSON.stringify(json));
      return file;
    }

    it('aFailedSignOnShowsTheWeakWifiFirst', async () => {
      await rig.boot({ board: { board: wifiBoardFile(), wpaSupplicant: 'os' }, app: (sim) => { Object.assign(sim.board, { wifi: () => weak() }); return {}; } });
      rig.host.setFault({ kind: 'close-before-response', count: Infinity });
      rig.type(['0', '1', 'OK']);
      rig.type(['0', '0', '0', '0', 'OK']);
      const s = await w.until('the sign-on failure screen with the Wi-Fi', (x) => x.state === 'hostUnreachable' && x.screen.text.join('\n').includes('E-NET-33'));
      const text = s.screen.text.join('\n');
      assert.ok(text.indexOf('E-NET-33') < text.indexOf('Move closer') || !text.includes('Move closer'), text);
      assert.equal(s.screen.text.findIndex((r) => r.includes('E-NET-33')), 1, `the first row under the title:\n${text}`);
    });
  });
});

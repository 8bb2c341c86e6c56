/**
 * The network check of diagnostics (boot/diagnostics.ts wifiLines) on a board with Wi-Fi (wifi0):
 * the simulator board's file with a wifi0 added, its Wi-Fi answering as wpa_supplicant would (joined
 * strong, joined weak, not joined, a saved network refused, a driver without a signal), and the
 * board's own WpaCliWifi against a control directory where no wpa_supplicant listens (the OS's
 * service not running). Each shows its lines in zh-CN and en and, when Wi-Fi is the board's link,
 * its code with the error list's steps as the first cause; the driver is tested against a real
 * wpa_supplicant in tests/hal/wifi-wpa.test.ts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiagResult, WIFI_WEAK_BELOW_DBM } from '../../boot/diagnostics';
import type { LinkCheckReport } from '../../boot/link-check';
import type { Report } from '../../boot/recovery';
import { ERRORS, PosError } from '../../common/errors';
import { SavedNetwork, Wifi, WifiNetwork, WifiSignal, WifiStatus, dbmToBars } from '../../hal/wifi';
import { SimBoard, createSimBoard } from '../../sim/board-sim';
import { networkCheckOn } from './diag-network-check';

const NETWORK_OK: Report = { action: 'network-test', ok: true, journaled: false, lines: ['OK wlan0 up', 'OK connect 127.0.0.1:5000'] };
const NETWORK_DOWN: Report = { action: 'network-test', ok: false, journaled: false, code: 'E-NET-02', lines: ['OK wlan0 up', 'FAIL no address'] };

/** wpa_supplicant's answers, as set by each test. */
class OsWifi implements Wifi {
  constructor(
    private readonly st: WifiStatus,
    private readonly sig: WifiSignal | undefined = undefined,
    private readonly savedNetworks: SavedNetwork[] = [],
  ) {}
  async check(): Promise<void> {}
  async scan(): Promise<WifiNetwork[]> { return []; }
  async saved(): Promise<SavedNetwork[]> { return this.savedNetworks; }
  async status(): Promise<WifiStatus> { return this.st; }
  async signal(): Promise<WifiSignal | undefined> { return this.sig; }
  async join(): Promise<{ id: number }> { throw new PosError('NET_WIFI_REFUSED', 'not in this test'); }
  async forget(): Promise<void> {}
  async close(): Promise<void> {}
}

const JOINED: WifiStatus = { state: 'COMPLETED', ssid: 'Shop', ipAddress: '192.168.1.23' };
const signal = (rssiDbm: number, frequencyMhz: number): WifiSignal => ({ rssiDbm, bars: dbmToBars(rssiDbm), frequencyMhz, linkSpeedMbps: 54 });

interface BoardShape {
  /** The `network` section's interface is wlan0: Wi-Fi is the board's one link. */
  readonly wifiIsLink?: boolean;
  /** The board's `links` in order (the modem gets wwan0). */
  readonly links?: readonly string[];
}

describe('diagnostics: the Wi-Fi in the network check', function () {
  this.timeout(20_000);
  let sim: SimBoard | undefined;
  let dir = '';
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pos-diag-wifi-')); });
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The simulator board with wifi0 (its control directory empty: no wpa_supplicant there) and `wifi` answering instead, if given. */
  async function board(shape: BoardShape, wifi?: Wifi): Promise<SimBoard> {
    const json = JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs/sim.json'), 'utf8')) as { devices: Record<string, Record<string, unknown>>; network?: unknown; links?: unknown };
    json.devices.wifi0 = { type: 'wpa-supplicant', interface: 'wlan0', ctrlDir: path.join(dir, 'no-wpa_supplicant') };
    if (shape.wifiIsLink === true) json.network = { backend: 'none', interface: 'wlan0' };
    if (shape.links) { json.devices.modem0.interface = 'wwan0'; json.links = shape.links; }
    const file = path.join(dir, 'sim-wifi.json');
    fs.writeFileSync(file, JSON.stringify(json));
    // The OS's wpa_cli against the empty control directory, not the simulator's wpa_supplicant model.
    sim = await createSimBoard({ board: file, wpaSupplicant: 'os' });
    if (wifi) Object.assign(sim.board, { wifi: () => wifi });
    return sim;
  }

  const networkCheck = (s: SimBoard, report: Report, linksTest?: () => Promise<LinkCheckReport>): Promise<DiagResult> => networkCheckOn(s.board, report, linksTest);

  /** Every step of `code`, in both languages, is among the result's lines. */
  function assertSteps(r: DiagResult, code: string): void {
    const def = Object.values(ERRORS).find((d) => d.code === code)!;
    for (const step of def.en.steps) assert.ok(r.lines.includes(`- ${step}`), `step "${step}" in ${r.lines.join(' / ')}`);
    for (const step of def.zh.steps) assert.ok(r.text?.some((l) => l.zh === `- ${step}`), `zh step "${step}"`);
  }

  it('joined with a strong signal: the network, its address, dBm, bars and band; the check passes', async () => {
    const r = await networkCheck(await board({ wifiIsLink: true }, new OsWifi(JOINED, signal(-58, 2437))), NETWORK_OK);
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    // The network test's lines, the (simulated, healthy) modem's, then the Wi-Fi's.
    assert.deepEqual(r.lines.slice(0, 3), ['OK wlan0 up', 'OK connect 127.0.0.1:5000', '4G SIM: ready']);
    assert.deepEqual(r.lines.slice(-2), ['Wi-Fi: joined Shop 192.168.1.23', 'signal -58 dBm 3/4 2.4 GHz']);
    assert.deepEqual(r.text?.slice(-2).map((l) => l.zh), ['Wi-Fi：已连接 Shop 192.168.1.23', '信号-58dBm 3/4格 2.4 GHz']);
  });

  it(`joined with a weak signal (below ${WIFI_WEAK_BELOW_DBM} dBm), Wi-Fi the board's link: E-NET-33 first, "move closer to the router", though the host answered`, async () => {
    const r = await networkCheck(await board({ wifiIsLink: true }, new OsWifi(JOINED, signal(-81, 5180))), NETWORK_OK);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-NET-33', r.lines.join(' / '));
    assert.deepEqual(r.lines.slice(0, 4), ['Wi-Fi: joined Shop 192.168.1.23', 'signal -81 dBm 1/4 5 GHz: weak', '- Move closer to the router', '- Restart the router if still weak']);
    assertSteps(r, 'E-NET-33');
    assert.ok(r.text?.some((l) => l.zh === '信号-81dBm 1/4格 5 GHz：弱'));
    assert.ok(r.lines.includes('OK connect 127.0.0.1:5000'), 'the network test lines stay');
  });

  it('the threshold: -75 dBm (2 bars) is not weak, -76 dBm (1 bar) is', async () => {
    const at75 = await networkCheck(await board({ wifiIsLink: true }, new OsWifi(JOINED, signal(-75, 2412))), NETWORK_OK);
    assert.equal(at75.state, 'ok', at75.lines.join(' / '));
    assert.ok(at75.lines.includes('signal -75 dBm 2/4 2.4 GHz'));
    await sim!.close();
    const at76 = await networkCheck(await board({ wifiIsLink: true }, new OsWifi(JOINED, signal(-76, 2412))), NETWORK_OK);
    assert.equal(at76.code, 'E-NET-33');
  });

  it('weak Wi-Fi that is not the board\'s link while the network works: a line with its code and steps, the check passes', async () => {
    const r = await networkCheck(await board({}, new OsWifi(JOINED, signal(-88, 2462))), NETWORK_OK);
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    assert.ok(r.lines.includes('signal -88 dBm 0/4 2.4 GHz: weak'), r.lines.join(' / '));
    assert.ok(r.lines.includes('Wi-Fi E-NET-33'), r.lines.join(' / '));
    assertSteps(r, 'E-NET-33');
  });

  it('not joined, nothing saved, the network down: E-NET-34 first with its steps (Settings > Wi-Fi), the test lines after', async () => {
    const r = await networkCheck(await board({ wifiIsLink: true }, new OsWifi({ state: 'DISCONNECTED' })), NETWORK_DOWN);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-NET-34', r.lines.join(' / '));
    assert.deepEqual(r.lines.slice(0, 2), ['Wi-Fi: not connected (DISCONNECTED)', 'no network saved']);
    assertSteps(r, 'E-NET-34');
    assert.ok(r.text?.some((l) => l.zh === 'Wi-Fi：未连接(DISCONNECTED)'));
    assert.ok(r.lines.indexOf('FAIL no address') > r.lines.indexOf('- Move closer to the router'), 'first cause first');
  });

  it('not joined because wpa_supplicant gave up on the saved network (its handshake failed): E-NET-31, the password', async () => {
    const r = await networkCheck(await board({ wifiIsLink: true }, new OsWifi({ state: 'SCANNING' }, undefined, [{ id: 0, ssid: 'Shop', current: false, tempDisabled: true }])), NETWORK_DOWN);
    assert.equal(r.code, 'E-NET-31', r.lines.join(' / '));
    assert.deepEqual(r.lines.slice(0, 3), ['Wi-Fi: not connected (SCANNING)', 'saved: Shop', 'Shop: password refused']);
    assertSteps(r, 'E-NET-31');
  });

  it('wpa_supplicant not running (the board\'s own driver, nothing on its control socket): E-NET-28 naming the directory', async () => {
    const r = await networkCheck(await board({ wifiIsLink: true }), NETWORK_DOWN);
    assert.equal(r.code, 'E-NET-28', r.lines.join(' / '));
    assert.equal(r.lines[0], 'Wi-Fi: wpa_supplicant not reachable');
    assert.ok(r.lines[1].includes(path.join(dir, 'no-wpa_supplicant')), r.lines[1]);
    assert.ok(r.text?.some((l) => l.zh === 'Wi-Fi：wpa_supplicant无响应'));
    assertSteps(r, 'E-NET-28');
  });

  it('joined, the driver reports no signal (SIGNAL_POLL FAIL): said so, no fault', async () => {
    const r = await networkCheck(await board({ wifiIsLink: true }, new OsWifi(JOINED, undefined)), NETWORK_OK);
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    assert.deepEqual(r.lines.slice(-2), ['Wi-Fi: joined Shop 192.168.1.23', 'signal: not reported by the driver']);
  });

  describe('a board with links: the first of them with a fault is the first cause', () => {
    const down: LinkCheckReport = {
      ok: false, code: 'E-NET-01',
      links: [
        { link: 'wifi0', interface: 'wlan0', ok: false, code: 'E-NET-02', steps: [{ step: 'address', ok: false, code: 'E-NET-02', detail: 'no address', args: { iface: 'wlan0' } }] },
        { link: 'modem0', interface: 'wwan0', ok: false, code: 'E-NET-01', steps: [{ step: 'up', ok: false, code: 'E-NET-01', detail: 'down', args: { iface: 'wwan0', state: 'down' } }] },
      ],
    };

    it('["wifi0", "modem0"], Wi-Fi weak and no SIM: E-NET-33 first, the modem\'s fault as a line', async () => {
      const s = await board({ links: ['wifi0', 'modem0'] }, new OsWifi(JOINED, signal(-84, 2437)));
      s.modem().removeSim();
      const r = await networkCheck(s, NETWORK_OK, async () => down);
      assert.equal(r.code, 'E-NET-33', r.lines.join(' / '));
      assert.ok(r.lines.includes('4G E-NET-08'), r.lines.join(' / '));
    });

    it('["modem0", "wifi0"], the same faults: E-NET-08 first, the Wi-Fi\'s as a line', async () => {
      const s = await board({ links: ['modem0', 'wifi0'] }, new OsWifi(JOINED, signal(-84, 2437)));
      s.modem().removeSim();
      const r = await networkCheck(s, NETWORK_OK, async () => ({ ...down, links: [...down.links].reverse() }));
      assert.equal(r.code, 'E-NET-08', r.lines.join(' / '));
      assert.ok(r.lines.includes('Wi-Fi E-NET-33'), r.lines.join(' / '));
      assert.ok(r.lines.includes('signal -84 dBm 1/4 2.4 GHz: weak'));
    });

    it('a link reaches the host: Wi-Fi not joined is a line, the check passes', async () => {
      const s = await board({ links: ['wifi0', 'modem0'] }, new OsWifi({ state: 'DISCONNECTED' }));
      const ok: LinkCheckReport = { ok: true, uses: 'modem0', links: [down.links[0], { link: 'modem0', interface: 'wwan0', ok: true, localAddress: '10.64.0.2', steps: [] }] };
      const r = await networkCheck(s, NETWORK_OK, async () => ok);
      assert.equal(r.state, 'ok', r.lines.join(' / '));
      assert.ok(r.lines.includes('Wi-Fi E-NET-34'), r.lines.join(' / '));
    });
  });
});

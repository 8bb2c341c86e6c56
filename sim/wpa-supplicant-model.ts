/**
 * The simulator board's Wi-Fi (wifi0): a model of the OS's wpa_supplicant as `wpa_cli` answers for
 * it, handed to the real driver (hal/wifi.ts WpaCliWifi) in place of the wpa_cli process, as the
 * serial chip models stand behind the real serial drivers. The driver's commands and parsing run
 * unchanged: PING, SCAN, SCAN_RESULTS, STATUS, SIGNAL_POLL, LIST_NETWORKS, ADD_NETWORK,
 * SET_NETWORK (ssid in hex, key_mgmt; the psk through standard input, as the driver sends it),
 * SELECT_NETWORK, REMOVE_NETWORK, SAVE_CONFIG; the outputs are wpa_cli's (tab-separated tables
 * under a header, key=value lines, OK / FAIL / PONG, "Failed to connect" when nothing listens).
 *
 * The air: access points with an SSID, BSSID, channel, signal and security (a passphrase for
 * WPA-PSK). A selected network associates ASSOCIATE_MS after it is selected (on the model's clock)
 * when its access point is heard, its security matches and, for WPA-PSK, the PSK set is the one
 * the passphrase gives: then COMPLETED with an address. A wrong PSK fails the 4-way handshake:
 * TEMP-DISABLED, as wpa_supplicant marks it. The board starts joined to the shop's network (a
 * terminal installed in a shop), which the control interface's `wifi` request changes.
 */
import type { WpaCliRunner, WifiSecurity } from '../hal/wifi';
import { wpaPsk } from '../hal/wifi';

export interface SimAccessPoint {
  readonly ssid: string;
  readonly bssid: string;
  readonly frequencyMhz: number;
  signalDbm: number;
  readonly security: WifiSecurity;
  /** WPA-PSK only: what the shop's router is set to. */
  readonly passphrase?: string;
}

/** The shop's network the simulator board is joined to at power-on, and its passphrase (README: the simulator's controls). */
export const SIM_SHOP_SSID = 'SIM-SHOP';
export const SIM_SHOP_PASSPHRASE = 'shop-wifi-2026';

/** What the simulator board hears at power-on. */
export function defaultAccessPoints(): SimAccessPoint[] {
  return [
    { ssid: SIM_SHOP_SSID, bssid: '02:00:5e:10:00:01', frequencyMhz: 2437, signalDbm: -52, security: 'wpa-psk', passphrase: SIM_SHOP_PASSPHRASE },
    { ssid: 'SIM-SHOP-5G', bssid: '02:00:5e:10:00:02', frequencyMhz: 5180, signalDbm: -63, security: 'wpa-psk', passphrase: SIM_SHOP_PASSPHRASE },
    { ssid: 'Guest', bssid: '02:00:5e:10:00:03', frequencyMhz: 2412, signalDbm: -71, security: 'open' },
    { ssid: 'Office 802.1X', bssid: '02:00:5e:10:00:04', frequencyMhz: 5745, signalDbm: -78, security: 'wpa-eap' },
    { ssid: 'Neighbour', bssid: '02:00:5e:10:00:05', frequencyMhz: 2462, signalDbm: -86, security: 'wpa-psk', passphrase: 'not-yours-2026' },
  ];
}

/** How long after SELECT_NETWORK the model is associated (or has failed the handshake). */
export const ASSOCIATE_MS = 1_500;
/** Networks wpa_supplicant keeps (a guard on the model's list: the driver adds one per join). */
export const SAVED_NETWORKS_MAX = 32;
/** The address the simulated DHCP gives. */
export const SIM_WIFI_ADDRESS = '192.168.31.23';

interface Saved {
  readonly id: number;
  ssidHex?: string;
  keyMgmt?: string;
  psk?: string;
  tempDisabled: boolean;
}

/** wpa_supplicant's printf_encode of an SSID: printable ASCII as is (\\ and " escaped), other bytes \\xNN. */
export function encodeSsid(ssid: string): string {
  let out = '';
  for (const b of Buffer.from(ssid, 'utf8')) {
    if (b === 0x5c) out += '\\\\';
    else if (b === 0x22) out += '\\"';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

const SCAN_FLAGS: Readonly<Record<WifiSecurity, string>> = {
  'wpa-psk': '[WPA2-PSK-CCMP][ESS]', 'wpa-eap': '[WPA2-EAP-CCMP][ESS]', wep: '[WEP][ESS]', open: '[ESS]',
};

export class SimWpaSupplicant {
  readonly accessPoints: SimAccessPoint[];
  /** False: the OS's wpa_supplicant is not running (wpa_cli cannot connect to its socket). */
  running = true;
  private readonly saved: Saved[] = [];
  private nextId = 0;
  /** The network selected, and when: it associates (or fails) ASSOCIATE_MS later. */
  private selected: { id: number; atMs: number } | undefined;
  /** Commands answered, for tests (never the psk line's content). */
  commands = 0;

  constructor(private readonly clock: () => number = () => performance.now(), accessPoints: SimAccessPoint[] = defaultAccessPoints()) {
    this.accessPoints = accessPoints;
    // Installed in a shop: its network saved with the right key and joined.
    const shop = accessPoints.find((a) => a.ssid === SIM_SHOP_SSID);
    if (shop?.passphrase !== undefined) {
      const id = this.add();
      const n = this.saved[this.saved.length - 1];
      n.ssidHex = Buffer.from(shop.ssid, 'utf8').toString('hex');
      n.keyMgmt = 'WPA-PSK';
      n.psk = wpaPsk(shop.ssid, shop.passphrase);
      this.selected = { id, atMs: -Infinity };
    }
  }

  /** wpa_cli as the driver runs it: `-p DIR -i IFACE COMMAND ARGS...`, or interactive lines on stdin. */
  readonly run: WpaCliRunner = async (args, stdin) => {
    if (!this.running) return { code: 255, output: `Failed to connect to non-global ctrl_ifname: ${this.iface(args)}  error: No such file or directory\n` };
    const command = this.commandOf(args);
    if (command.length === 0) {
      // Interactive: one command a line until quit (the driver's psk line), each answer on its own line.
      const out: string[] = [];
      for (const line of (stdin ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
        if (line === 'quit') break;
        out.push(this.answer(line.split(/\s+/)));
      }
      return { code: 0, output: out.join('') };
    }
    return { code: 0, output: this.answer(command) };
  };

  /** The access point of `ssid`, for the control interface and tests. */
  accessPoint(ssid: string): SimAccessPoint | undefined {
    return this.accessPoints.find((a) => a.ssid === ssid);
  }

  /** Access points out of range (the router switched off, the terminal carried away): not heard, not joined. */
  private readonly outOfRange = new Set<string>();

  setInRange(ssid: string, inRange: boolean): void {
    if (inRange) this.outOfRange.delete(ssid);
    else this.outOfRange.add(ssid);
  }

  /** The access points heard now. */
  private heard(): SimAccessPoint[] {
    return this.accessPoints.filter((a) => !this.outOfRange.has(a.ssid));
  }

  /** The SSID associated now, if any (the control interface's reply). */
  joinedSsid(): string | undefined {
    return this.joined()?.ap.ssid;
  }

  private iface(args: readonly string[]): string {
    const at = args.indexOf('-i');
    return at >= 0 ? args[at + 1] ?? '' : '';
  }

  /** The command words after wpa_cli's own options (-p DIR, -i IFACE). */
  private commandOf(args: readonly string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '-p' || args[i] === '-i') { i++; continue; }
      out.push(args[i]);
    }
    return out;
  }

  private answer(words: readonly string[]): string {
    this.commands++;
    const [name, ...rest] = words;
    switch (name.toLowerCase()) {
      case 'ping': return 'PONG\n';
      case 'scan': return 'OK\n';
      case 'scan_results': return this.scanResults();
      case 'status': return this.status();
      case 'signal_poll': return this.signalPoll();
      case 'list_networks': return this.listNetworks();
      case 'add_network': return this.saved.length >= SAVED_NETWORKS_MAX ? 'FAIL\n' : `${this.add()}\n`;
      case 'set_network': return this.setNetwork(rest);
      case 'select_network': return this.select(rest[0]);
      case 'remove_network': return this.remove(rest[0]);
      case 'save_config': return 'OK\n';
      default: return 'UNKNOWN COMMAND\n';
    }
  }

  private add(): number {
    const id = this.nextId++;
    this.saved.push({ id, tempDisabled: false });
    return id;
  }

  private find(id: string | undefined): Saved | undefined {
    return id !== undefined && /^\d+$/.test(id) ? this.saved.find((n) => n.id === Number(id)) : undefined;
  }

  private setNetwork(rest: readonly string[]): string {
    const [id, field, value] = rest;
    const n = this.find(id);
    if (!n || value === undefined) return 'FAIL\n';
    if (field === 'ssid') {
      if (!/^([0-9a-f]{2}){1,32}$/i.test(value)) return 'FAIL\n';
      n.ssidHex = value.toLowerCase();
    } else if (field === 'key_mgmt') {
      if (value !== 'NONE' && value !== 'WPA-PSK') return 'FAIL\n';
      n.keyMgmt = value;
    } else if (field === 'psk') {
      if (!/^[0-9a-f]{64}$/i.test(value)) return 'FAIL\n';
      n.psk = value.toLowerCase();
    } else {
      return 'FAIL\n';
    }
    return 'OK\n';
  }

  private select(id: string | undefined): string {
    const n = this.find(id);
    if (!n) return 'FAIL\n';
    n.tempDisabled = false;
    this.selected = { id: n.id, atMs: this.clock() };
    return 'OK\n';
  }

  private remove(id: string | undefined): string {
    const n = this.find(id);
    if (!n) return 'FAIL\n';
    this.saved.splice(this.saved.indexOf(n), 1);
    if (this.selected?.id === n.id) this.selected = undefined;
    return 'OK\n';
  }

  private ssidOf(n: Saved): string | undefined {
    return n.ssidHex === undefined ? undefined : Buffer.from(n.ssidHex, 'hex').toString('utf8');
  }

  /** The selected network's access point and whether it is associated now (the handshake's outcome applied). */
  private joined(): { n: Saved; ap: SimAccessPoint } | undefined {
    if (!this.selected) return undefined;
    const n = this.saved.find((x) => x.id === this.selected!.id);
    const ap = n ? this.heard().find((a) => a.ssid === this.ssidOf(n)) : undefined;
    if (!n || !ap || this.clock() - this.selected.atMs < ASSOCIATE_MS) return undefined;
    const keyRight = ap.security === 'open' ? n.keyMgmt === 'NONE'
      : ap.security === 'wpa-psk' && n.keyMgmt === 'WPA-PSK' && ap.passphrase !== undefined && n.psk === wpaPsk(ap.ssid, ap.passphrase);
    if (!keyRight) {
      // The 4-way handshake failed: wpa_supplicant disables the network for a while.
      if (ap.security === 'wpa-psk') n.tempDisabled = true;
      return undefined;
    }
    return { n, ap };
  }

  /** The selected network is heard and its association delay still runs. */
  private associating(): boolean {
    if (!this.selected || this.clock() - this.selected.atMs >= ASSOCIATE_MS) return false;
    const n = this.saved.find((x) => x.id === this.selected!.id);
    return n !== undefined && this.heard().some((a) => a.ssid === this.ssidOf(n));
  }

  private scanResults(): string {
    const rows = this.heard().map((a) => `${a.bssid}\t${a.frequencyMhz}\t${a.signalDbm}\t${SCAN_FLAGS[a.security]}\t${encodeSsid(a.ssid)}`);
    return ['bssid / frequency / signal level / flags / ssid', ...rows, ''].join('\n');
  }

  private status(): string {
    const j = this.joined();
    // Selected and heard but not yet associated: ASSOCIATING; otherwise DISCONNECTED (a real
    // wpa_supplicant alternates with SCANNING there, which would hold the driver's scan for its wait).
    if (!j) return `wpa_state=${this.associating() ? 'ASSOCIATING' : 'DISCONNECTED'}\naddress=02:00:00:00:31:23\n`;
    return [`bssid=${j.ap.bssid}`, `freq=${j.ap.frequencyMhz}`, `ssid=${encodeSsid(j.ap.ssid)}`, `id=${j.n.id}`, 'mode=station',
      `key_mgmt=${j.ap.security === 'open' ? 'NONE' : 'WPA2-PSK'}`, 'wpa_state=COMPLETED', `ip_address=${SIM_WIFI_ADDRESS}`, 'address=02:00:00:00:31:23', ''].join('\n');
  }

  private signalPoll(): string {
    const j = this.joined();
    if (!j) return 'FAIL\n';
    const linkSpeedMbps = j.ap.signalDbm >= -60 ? 144 : j.ap.signalDbm >= -75 ? 54 : 6;
    return [`RSSI=${j.ap.signalDbm}`, `LINKSPEED=${linkSpeedMbps}`, 'NOISE=9999', `FREQUENCY=${j.ap.frequencyMhz}`, ''].join('\n');
  }

  private listNetworks(): string {
    const current = this.joined()?.n.id;
    const rows = this.saved.map((n) => `${n.id}\t${encodeSsid(this.ssidOf(n) ?? '')}\tany\t${n.id === current ? '[CURRENT]' : ''}${n.tempDisabled ? '[TEMP-DISABLED]' : ''}`);
    return ['network id / ssid / bssid / flags', ...rows, ''].join('\n');
  }
}

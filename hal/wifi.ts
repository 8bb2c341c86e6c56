/**
 * Wi-Fi by role (`wifi0`, optional): the OS's wpa_supplicant, reached through its control
 * interface (issue 12 item 2). The terminal scans, lists what it saved and joins a network, and
 * reads the joined network's signal (SIGNAL_POLL) for diagnostics; the association, the 4-way
 * handshake and DHCP are the OS's.
 *
 * The control interface is a UNIX datagram socket (`<ctrlDir>/<interface>`), which Node's dgram
 * cannot open, so every command goes through `wpa_cli` (Debian package `wpasupplicant`), one
 * process per command with a time limit. The secret is never on a command line (where
 * /proc/<pid>/cmdline shows it to every user): the passphrase is turned into the WPA PSK here
 * (PBKDF2-HMAC-SHA1 over the SSID, 4096 rounds, 32 bytes: IEEE 802.11i, what `wpa_passphrase`
 * prints) and the `set_network <id> psk <hex>` line is written to wpa_cli's standard input
 * (its interactive mode reads commands from a pipe). `save_config` then keeps the network in the
 * OS's wpa_supplicant.conf (update_config=1) with the derived PSK only: the passphrase itself is
 * kept nowhere, neither there nor in the journal (which records the SSID only).
 *
 * Errors: wpa_cli missing, the socket absent or not answering: NET_WIFI_CTRL; a command answered
 * FAIL: NET_WIFI_REFUSED (SIGNAL_POLL's FAIL is no signal, not a refusal); an answer not understood:
 * NET_WIFI_CTRL; a network not seen by the scan: NET_WIFI_NOT_FOUND; input that cannot be an SSID
 * or a WPA passphrase: OPR_INPUT (nothing sent). tests/hal/wifi-wpa.test.ts runs a real
 * wpa_supplicant (wired driver on a veth in a network namespace) for everything but the scan's
 * radio.
 */
// node:child_process on first use: the terminal's start does not load it (common/lazy.ts).
import { childProcess } from '../common/lazy';
import { SpawnedChild, spawnLight } from '../common/spawn-light';
import { pbkdf2Sync } from 'node:crypto';
import { PosError } from '../common/errors';

/** One wpa_cli run is killed after this. */
export const WPA_CLI_TIMEOUT_MS_MAX = 5_000;
/** A scan takes 2..4 s on 2.4+5 GHz; results are read once it ended or after this. */
export const WIFI_SCAN_WAIT_MS_MAX = 8_000;
const SCAN_POLL_MS = 500;
/** Networks kept from one scan (strongest first): a menu, not a survey. */
export const WIFI_SCAN_RESULTS_MAX = 20;
/** wpa_cli's output read at most (bytes): scan results of WIFI_SCAN_RESULTS_MAX and more fit. */
const OUTPUT_BYTES_MAX = 64 * 1024;
/** An SSID is 1..32 bytes (IEEE 802.11). */
export const SSID_BYTES_MAX = 32;
/** A WPA passphrase is 8..63 printable ASCII characters (IEEE 802.11i H.4.1). */
export const PASSPHRASE_PATTERN = /^[\x20-\x7e]{8,63}$/;
const PBKDF2_ROUNDS = 4096;
const PSK_BYTES = 32;

export type WifiSecurity = 'open' | 'wpa-psk' | 'wpa-eap' | 'wep';

export interface WifiNetwork {
  readonly ssid: string;
  readonly bssid: string;
  readonly frequencyMhz: number;
  readonly signalDbm: number;
  /** 0..4, as the status bar draws it. */
  readonly bars: number;
  readonly security: WifiSecurity;
}

export interface SavedNetwork {
  readonly id: number;
  readonly ssid: string;
  readonly current: boolean;
  /** wpa_supplicant gave up on it for a while (TEMP-DISABLED: most often a wrong passphrase). */
  readonly tempDisabled: boolean;
}

export interface WifiStatus {
  /** wpa_state: COMPLETED when associated and keyed, DISCONNECTED, SCANNING, ... */
  readonly state: string;
  readonly ssid?: string;
  readonly ipAddress?: string;
}

/** The joined network's signal as the driver reports it (SIGNAL_POLL). */
export interface WifiSignal {
  /** dBm; absent when the driver reported none (RSSI=0, or outside -127..-1). */
  readonly rssiDbm?: number;
  /** 0..4 by dbmToBars, as the scan list draws them; 0 without an RSSI. */
  readonly bars: number;
  readonly frequencyMhz?: number;
  readonly linkSpeedMbps?: number;
  /** Absent when the driver does not know it (wpa_supplicant prints 9999). */
  readonly noiseDbm?: number;
}

export interface Wifi {
  /** PING answered PONG: wpa_supplicant runs for the interface. */
  check(): Promise<void>;
  /** Scans and returns what was heard, strongest first, one entry per SSID. */
  scan(): Promise<WifiNetwork[]>;
  saved(): Promise<SavedNetwork[]>;
  status(): Promise<WifiStatus>;
  /**
   * The signal of the network joined now (SIGNAL_POLL); undefined when not associated, or when the
   * driver cannot tell (wpa_supplicant answers FAIL for both).
   */
  signal(): Promise<WifiSignal | undefined>;
  /**
   * Saves `ssid` with `passphrase` (undefined: an open network) and selects it: an existing entry
   * for the SSID is replaced, the others are kept (to fall back to). Resolves when saved; whether
   * the OS then associates is `status()`'s to tell.
   */
  join(ssid: string, passphrase: string | undefined): Promise<{ id: number }>;
  /** Removes a saved network and saves the configuration. */
  forget(ssid: string): Promise<void>;
  close(): Promise<void>;
}

/** What became of a join once the OS tried it (waitJoined). */
export type JoinOutcome =
  | { readonly kind: 'joined'; readonly ssid: string; readonly address: string }
  /** wpa_supplicant disabled the network after its handshake failed: the passphrase is wrong. */
  | { readonly kind: 'failed'; readonly code: 'E-NET-31' }
  /** Saved, not associated with an address yet within the wait (out of range, DHCP slow). */
  | { readonly kind: 'saved'; readonly ssid: string };

/**
 * Waits for the OS to associate with `ssid` after a join: COMPLETED with an address is joined; the
 * network marked TEMP-DISABLED (wpa_supplicant's answer to a failed 4-way handshake) is a wrong
 * passphrase, E-NET-31; neither within `waitMs` is only saved. The Wi-Fi menu and the guest test
 * with a radio (tests/guest/wifi-hwsim.test.ts) use this one judgement.
 */
export async function waitJoined(wifi: Wifi, ssid: string, o: { readonly waitMs: number; readonly pollMs: number; readonly clock: () => number; readonly sleep: (ms: number) => Promise<void>; readonly stopped?: () => boolean }): Promise<JoinOutcome> {
  const until = o.clock() + o.waitMs;
  while (o.clock() < until && !(o.stopped?.() ?? false)) {
    const st = await wifi.status();
    if (st.state === 'COMPLETED' && st.ssid === ssid && st.ipAddress !== undefined) return { kind: 'joined', ssid, address: st.ipAddress };
    if ((await wifi.saved()).some((x) => x.ssid === ssid && x.tempDisabled)) return { kind: 'failed', code: 'E-NET-31' };
    await o.sleep(o.pollMs);
  }
  return { kind: 'saved', ssid };
}

/** Runs wpa_cli (injected in tests only to count or fail calls; the default runs the real one). */
export type WpaCliRunner = (args: readonly string[], stdin: string | undefined, timeoutMs: number) => Promise<{ code: number | null; output: string; error?: string }>;

export const realWpaCli: WpaCliRunner = (args, stdin, timeoutMs) => new Promise((resolve) => {
  let output = '';
  let done = false;
  const missing = (e: NodeJS.ErrnoException): string => (e.code === 'ENOENT' ? 'wpa_cli is not installed (Debian package wpasupplicant)' : e.message);
  let child: SpawnedChild;
  try {
    // Without fork where the runtime's addon is built (common/spawn-light.ts): a join polls
    // wpa_cli twice a second, and each fork made the terminal fault on every page it wrote next.
    child = spawnLight('wpa_cli', [...args], process.env, { stdin: true }) ?? childProcess().spawn('wpa_cli', [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    resolve({ code: null, output, error: missing(e as NodeJS.ErrnoException) });
    return;
  }
  const finish = (r: { code: number | null; output: string; error?: string }): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    resolve(r);
  };
  const timer = setTimeout(() => { child.kill('SIGKILL'); finish({ code: null, output, error: `no answer in ${timeoutMs} ms` }); }, timeoutMs);
  const take = (b: Buffer): void => { if (output.length < OUTPUT_BYTES_MAX) output += b.toString('utf8'); };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, output, error: missing(e) }));
  child.on('close', (code) => finish({ code, output }));
  child.stdin?.on('error', () => undefined); // wpa_cli gone before reading: its exit says why
  child.stdin?.end(stdin ?? '');
});

/** The WPA PSK of a passphrase for an SSID (what wpa_passphrase prints as psk=). */
export function wpaPsk(ssid: string, passphrase: string): string {
  return pbkdf2Sync(Buffer.from(passphrase, 'utf8'), Buffer.from(ssid, 'utf8'), PBKDF2_ROUNDS, PSK_BYTES, 'sha1').toString('hex');
}

/** An SSID as wpa_supplicant's set_network takes it: hex, so any byte (quotes, spaces, UTF-8) is safe. */
function ssidHex(ssid: string): string {
  return Buffer.from(ssid, 'utf8').toString('hex');
}

function checkSsid(ssid: string): void {
  const bytes = Buffer.byteLength(ssid, 'utf8');
  if (bytes < 1 || bytes > SSID_BYTES_MAX) throw new PosError('OPR_INPUT', `an SSID is 1..${SSID_BYTES_MAX} bytes (got ${bytes})`, { field: 'ssid' });
}

/** dBm to bars: -55 or better 4, -67 3, -75 2, -85 1, weaker 0. */
export function dbmToBars(dbm: number): number {
  if (dbm >= -55) return 4;
  if (dbm >= -67) return 3;
  if (dbm >= -75) return 2;
  if (dbm >= -85) return 1;
  return 0;
}

/** wpa_supplicant's escaped SSID text (printf_encode: \\xNN, \\", \\\\, \\e, \\n, \\r, \\t) back to the SSID. */
export function decodeSsid(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\' || i + 1 >= text.length) { bytes.push(...Buffer.from(c, 'utf8')); continue; }
    const n = text[++i];
    if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) { bytes.push(parseInt(text.slice(i + 1, i + 3), 16)); i += 2; continue; }
    bytes.push(({ n: 10, r: 13, t: 9, e: 27, '"': 34, '\\': 92 } as Record<string, number>)[n] ?? n.charCodeAt(0));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * SCAN_RESULTS: a header line, then `bssid \t frequency \t signal level \t flags \t ssid`. Hidden
 * networks (empty SSID) are dropped; one entry per SSID (its strongest BSS), strongest first.
 */
export function parseScanResults(output: string): WifiNetwork[] {
  const best = new Map<string, WifiNetwork>();
  for (const line of output.split('\n')) {
    const f = line.replace(/\r$/, '').split('\t');
    if (f.length < 5 || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(f[0])) continue;
    const ssid = decodeSsid(f.slice(4).join('\t'));
    if (ssid === '') continue;
    const signalDbm = Number(f[2]);
    const flags = f[3];
    const security: WifiSecurity = /EAP/.test(flags) ? 'wpa-eap' : /PSK|SAE/.test(flags) ? 'wpa-psk' : /WEP/.test(flags) ? 'wep' : 'open';
    const n: WifiNetwork = { ssid, bssid: f[0].toLowerCase(), frequencyMhz: Number(f[1]), signalDbm, bars: dbmToBars(signalDbm), security };
    const known = best.get(ssid);
    if (!known || known.signalDbm < signalDbm) best.set(ssid, n);
  }
  return [...best.values()].sort((a, b) => b.signalDbm - a.signalDbm).slice(0, WIFI_SCAN_RESULTS_MAX);
}

/** LIST_NETWORKS: `id \t ssid \t bssid \t flags` under a header. */
export function parseSavedNetworks(output: string): SavedNetwork[] {
  const out: SavedNetwork[] = [];
  for (const line of output.split('\n')) {
    const f = line.replace(/\r$/, '').split('\t');
    if (f.length < 4 || !/^\d+$/.test(f[0])) continue;
    out.push({ id: Number(f[0]), ssid: decodeSsid(f[1]), current: f[3].includes('[CURRENT]'), tempDisabled: f[3].includes('[TEMP-DISABLED]') });
  }
  return out;
}

/** STATUS: key=value lines. */
export function parseStatus(output: string): WifiStatus {
  const kv = new Map(output.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
  const ssid = kv.get('ssid');
  const ip = kv.get('ip_address');
  return { state: kv.get('wpa_state') ?? 'UNKNOWN', ...(ssid !== undefined ? { ssid: decodeSsid(ssid) } : {}), ...(ip !== undefined ? { ipAddress: ip } : {}) };
}

/** wpa_supplicant's NOISE= when the driver does not know it (WPA_INVALID_NOISE). */
const NOISE_UNKNOWN = 9999;

/**
 * SIGNAL_POLL: `RSSI=` (dBm), `LINKSPEED=` (Mbit/s), `NOISE=` (dBm, 9999 unknown), `FREQUENCY=`
 * (MHz), and from newer wpa_supplicant `WIDTH=`, `CENTER_FRQ1=`, `AVG_RSSI=` lines (ignored);
 * `FAIL` when not associated or when the driver has no signal to give (the wired driver):
 * undefined. RSSI=0 is what wpa_supplicant prints when the driver left it unset: no RSSI, not
 * 0 dBm. Anything else (no RSSI line, a value that is not a number) is NET_WIFI_CTRL: the answer
 * was not understood, and no figure is made up from it.
 */
export function parseSignalPoll(output: string, where = 'Wi-Fi'): WifiSignal | undefined {
  const lines = output.split('\n').map((l) => l.replace(/\r$/, '').trim()).filter((l) => l !== '');
  if (lines.length > 0 && lines.every((l) => l === 'FAIL')) return undefined;
  const kv = new Map<string, string>();
  for (const l of lines) {
    const at = l.indexOf('=');
    if (at > 0) kv.set(l.slice(0, at), l.slice(at + 1));
  }
  const int = (key: string): number | undefined => {
    const v = kv.get(key);
    return v !== undefined && /^-?\d{1,6}$/.test(v) ? Number(v) : undefined;
  };
  const rssi = int('RSSI');
  if (rssi === undefined) {
    throw new PosError('NET_WIFI_CTRL', `${where}: SIGNAL_POLL answer not understood (${JSON.stringify(output.trim().slice(0, 60))})`, { command: 'signal_poll' });
  }
  const rssiDbm = rssi < 0 && rssi >= -127 ? rssi : undefined;
  const frequencyMhz = int('FREQUENCY');
  const linkSpeedMbps = int('LINKSPEED');
  const noise = int('NOISE');
  return {
    ...(rssiDbm !== undefined ? { rssiDbm } : {}), bars: rssiDbm === undefined ? 0 : dbmToBars(rssiDbm),
    ...(frequencyMhz !== undefined && frequencyMhz > 0 ? { frequencyMhz } : {}),
    ...(linkSpeedMbps !== undefined && linkSpeedMbps > 0 ? { linkSpeedMbps } : {}),
    ...(noise !== undefined && noise !== NOISE_UNKNOWN && noise < 0 ? { noiseDbm: noise } : {}),
  };
}

/** The band of a channel's centre frequency (IEEE 802.11: 2.4, 5 and 6 GHz); undefined outside them. */
export function wifiBand(frequencyMhz: number): '2.4 GHz' | '5 GHz' | '6 GHz' | undefined {
  if (frequencyMhz >= 2400 && frequencyMhz <= 2500) return '2.4 GHz';
  if (frequencyMhz >= 4900 && frequencyMhz < 5925) return '5 GHz';
  if (frequencyMhz >= 5925 && frequencyMhz <= 7125) return '6 GHz';
  return undefined;
}

export interface WpaCliWifiOptions {
  readonly interface: string;
  readonly ctrlDir: string;
  readonly run?: WpaCliRunner;
  readonly sleep?: (ms: number) => Promise<void>;
}

export class WpaCliWifi implements Wifi {
  private readonly run: WpaCliRunner;
  private readonly sleep: (ms: number) => Promise<void>;
  private closed = false;
  /** One wpa_cli at a time: add_network's id must be the one set_network then names. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: WpaCliWifiOptions) {
    this.run = o.run ?? realWpaCli;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  check(): Promise<void> {
    return this.serial(async () => { await this.expect(['ping'], 'PONG'); });
  }

  scan(): Promise<WifiNetwork[]> {
    return this.serial(async () => {
      // FAIL-BUSY: a scan already runs (the OS's own): its results serve as well.
      const r = await this.cmd(['scan']);
      if (!/^(OK|FAIL-BUSY)$/m.test(r)) throw this.refused('scan', r);
      let waited = 0;
      while (waited < WIFI_SCAN_WAIT_MS_MAX) {
        await this.sleep(SCAN_POLL_MS);
        waited += SCAN_POLL_MS;
        if (!/^wpa_state=SCANNING$/m.test(await this.cmd(['status']))) break;
      }
      return parseScanResults(await this.cmd(['scan_results']));
    });
  }

  saved(): Promise<SavedNetwork[]> {
    return this.serial(async () => parseSavedNetworks(await this.cmd(['list_networks'])));
  }

  status(): Promise<WifiStatus> {
    return this.serial(async () => parseStatus(await this.cmd(['status'])));
  }

  signal(): Promise<WifiSignal | undefined> {
    return this.serial(async () => parseSignalPoll(await this.cmd(['signal_poll']), this.o.interface));
  }

  join(ssid: string, passphrase: string | undefined): Promise<{ id: number }> {
    checkSsid(ssid);
    if (passphrase !== undefined && !PASSPHRASE_PATTERN.test(passphrase)) {
      throw new PosError('OPR_INPUT', 'a Wi-Fi passphrase is 8..63 letters, digits or signs', { field: 'passphrase', length: passphrase.length });
    }
    return this.serial(async () => {
      for (const old of parseSavedNetworks(await this.cmd(['list_networks'])).filter((n) => n.ssid === ssid)) {
        await this.expect(['remove_network', String(old.id)], 'OK');
      }
      const added = (await this.cmd(['add_network'])).trim().split('\n').pop() ?? '';
      if (!/^\d+$/.test(added)) throw this.refused('add_network', added);
      const id = added;
      await this.expect(['set_network', id, 'ssid', ssidHex(ssid)], 'OK');
      if (passphrase === undefined) {
        await this.expect(['set_network', id, 'key_mgmt', 'NONE'], 'OK');
      } else {
        await this.expect(['set_network', id, 'key_mgmt', 'WPA-PSK'], 'OK');
        // Through stdin (wpa_cli's interactive mode), never argv: see the file header.
        const r = await this.call([], `set_network ${id} psk ${wpaPsk(ssid, passphrase)}\nquit\n`);
        if (!/^OK\s*$/m.test(r) || /^FAIL/m.test(r)) throw this.refused('set_network psk', 'FAIL');
      }
      await this.expect(['select_network', id], 'OK');
      await this.expect(['save_config'], 'OK');
      return { id: Number(id) };
    });
  }

  forget(ssid: string): Promise<void> {
    checkSsid(ssid);
    return this.serial(async () => {
      const found = parseSavedNetworks(await this.cmd(['list_networks'])).filter((n) => n.ssid === ssid);
      if (found.length === 0) throw new PosError('NET_WIFI_NOT_FOUND', `no saved Wi-Fi network "${ssid}"`, { ssid });
      for (const n of found) await this.expect(['remove_network', String(n.id)], 'OK');
      await this.expect(['save_config'], 'OK');
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.catch(() => undefined);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PosError('NET_WIFI_CTRL', `${this.o.interface}: Wi-Fi closed`, { interface: this.o.interface }));
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async expect(args: readonly string[], answer: string): Promise<void> {
    const r = await this.cmd(args);
    if (r.trim().split('\n').pop()?.trim() !== answer) throw this.refused(args[0], r);
  }

  private cmd(args: readonly string[]): Promise<string> {
    return this.call(args, undefined);
  }

  /** One wpa_cli run against this interface's socket; what it printed, or NET_WIFI_CTRL. */
  private async call(args: readonly string[], stdin: string | undefined): Promise<string> {
    const r = await this.run(['-p', this.o.ctrlDir, '-i', this.o.interface, ...args], stdin, WPA_CLI_TIMEOUT_MS_MAX);
    // wpa_cli exits non-zero and says "Failed to connect" when nothing listens on the socket.
    if (r.error !== undefined || r.code !== 0 || /Failed to connect to non-global ctrl_ifname/.test(r.output)) {
      throw new PosError('NET_WIFI_CTRL', `${this.o.interface}: wpa_supplicant not reachable at ${this.o.ctrlDir} (${r.error ?? (r.output.trim().split('\n')[0] || `exit ${r.code}`)})`,
        { interface: this.o.interface, ctrlDir: this.o.ctrlDir, command: args[0] ?? 'interactive' });
    }
    return r.output;
  }

  private refused(command: string, output: string): PosError {
    // Never the output of a psk command: the caller passes 'FAIL' for it.
    return new PosError('NET_WIFI_REFUSED', `${this.o.interface}: wpa_supplicant refused ${command} (${output.trim().split('\n').pop() ?? ''})`, { interface: this.o.interface, command });
  }
}

/**
 * Settings > Wi-Fi (issue 12 item 2): scan, choose a network, type its passphrase on the keypad
 * (multi-tap, ui-lcd/widgets/text-entry.ts), join. The OS does the rest (hal/wifi.ts: wpa_supplicant
 * through wpa_cli); this overlay only drives it and says what happened.
 *
 *   scanning  -> list     networks heard, strongest first (digit or UP/DOWN + OK chooses)
 *             -> none     nothing heard (OK scans again)
 *   list      -> passphrase (WPA-PSK) | joining (open network) | failed (802.1X/WEP: not supported)
 *   passphrase -> joining  (OK with 8..63 characters; FUNC abc/ABC/123)
 *   joining   -> joined (associated, with its address) | saved (saved, not associated yet) | failed (code)
 *   CANCEL anywhere leaves.
 *
 * A network saved is a settings change: a `settings` record of kind "wifi" with the SSID and its
 * security (never the passphrase or the key; the OS's wpa_supplicant.conf keeps the derived key).
 * The passphrase lives in the TextEntry until it is handed to the driver, then is dropped.
 */
import type { KeyName } from '../hal/keypad';
import { waitJoined } from '../hal/wifi';
import type { Wifi, WifiNetwork } from '../hal/wifi';
import { isPosError } from '../common/errors';
import type { MenuItem, Screen, Txt } from '../ui-lcd/screen';
import { t } from '../ui-lcd/strings';
import { numbered } from '../ui-lcd/widgets/menu';
import { TextEntry } from '../ui-lcd/widgets/text-entry';
import type { Overlay } from './recovery-menu';

/** After a join, how long the OS gets to associate before the screen says "saved" instead. */
export const WIFI_JOIN_WAIT_MS_MAX = 15_000;
const JOIN_POLL_MS = 500;
/** Networks offered in the list: one screen of shortcuts 1..9. */
export const WIFI_LIST_MAX = 9;
const WPA_PASSPHRASE_MIN = 8;

interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface WifiMenuDeps {
  readonly wifi: Wifi;
  readonly clock: () => number;
  /** Journals the network saved (settings record, kind "wifi"). */
  readonly record: (payload: { ssid: string; security: string }) => Promise<void>;
  readonly changed: () => void;
  readonly close: () => void;
  readonly logger: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
}

type State =
  | { readonly kind: 'scanning' }
  | { readonly kind: 'none' }
  | { readonly kind: 'list'; readonly networks: readonly WifiNetwork[]; selected: number }
  | { readonly kind: 'passphrase'; readonly network: WifiNetwork; readonly entry: TextEntry; tooShort: boolean }
  | { readonly kind: 'joining'; readonly ssid: string }
  | { readonly kind: 'joined'; readonly ssid: string; readonly address?: string }
  | { readonly kind: 'saved'; readonly ssid: string }
  | { readonly kind: 'failed'; readonly code: string };

export class WifiMenu implements Overlay {
  readonly name = 'wifi';
  private state: State = { kind: 'scanning' };
  private closed = false;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Settles when the current step (scan, join) is done: tests wait on it. */
  busy: Promise<void> = Promise.resolve();

  constructor(private readonly d: WifiMenuDeps) {
    this.sleep = d.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.scan();
  }

  /** The state's name (tests, the probe). */
  get step(): State['kind'] {
    return this.state.kind;
  }

  screen(): Screen {
    const s = this.state;
    const title = t('title.wifi');
    switch (s.kind) {
      case 'scanning': return { id: 'wifi:scanning', title, lines: [t('msg.wifiScanning')], footer: t('footer.wait') };
      case 'none': return { id: 'wifi:none', title, lines: [t('msg.wifiNone')], footer: t('footer.retry') };
      case 'list': return { id: 'wifi:list', title, menu: { items: listItems(s.networks), selected: s.selected }, footer: t('footer.choose') };
      case 'passphrase': {
        const lines: Txt[] = [{ en: s.network.ssid, zh: s.network.ssid }, t('msg.wifiPassphrase', { mode: s.entry.mode }), { en: s.entry.shown(), zh: s.entry.shown() }];
        return { id: 'wifi:passphrase', title, lines, footer: t('footer.okCancel'), ...(s.tooShort ? { notice: t('notice.tooShort') } : {}) };
      }
      case 'joining': return { id: 'wifi:joining', title, lines: [{ en: s.ssid, zh: s.ssid }, t('msg.wifiJoining')], footer: t('footer.wait') };
      case 'joined': return { id: 'wifi:joined', title, lines: [{ en: s.ssid, zh: s.ssid }, t('msg.wifiJoined', { address: s.address ?? '' })], footer: t('footer.back') };
      case 'saved': return { id: 'wifi:saved', title, lines: [{ en: s.ssid, zh: s.ssid }, t('msg.wifiSaved')], footer: t('footer.back') };
      case 'failed': return { id: 'wifi:failed', title, lines: [t('msg.wifiFailed', { code: s.code })], footer: t('footer.back') };
    }
  }

  press(key: KeyName): void {
    if (this.closed) return;
    const s = this.state;
    if (key === 'CANCEL') { this.close(); return; }
    switch (s.kind) {
      case 'list': this.listKey(s, key); break;
      case 'passphrase': this.passphraseKey(s, key); break;
      case 'none': if (key === 'OK') this.scan(); break;
      case 'joined': case 'saved': case 'failed': if (key === 'OK' || key === 'BACK') this.close(); break;
      default: break; // scanning, joining: wait
    }
    this.d.changed();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.state = { kind: 'scanning' }; // drops a passphrase being typed
    this.d.close();
  }

  private listKey(s: Extract<State, { kind: 'list' }>, key: KeyName): void {
    if (key === 'UP' || key === 'DOWN') { s.selected = (s.selected + (key === 'DOWN' ? 1 : s.networks.length - 1)) % s.networks.length; return; }
    const byDigit = /^[1-9]$/.test(key) ? Number(key) - 1 : undefined;
    if (byDigit !== undefined && byDigit < s.networks.length) { this.choose(s.networks[byDigit]); return; }
    if (key === 'OK') this.choose(s.networks[s.selected]);
  }

  private choose(n: WifiNetwork): void {
    if (n.security === 'open') { this.join(n, undefined); return; }
    if (n.security !== 'wpa-psk') { this.state = { kind: 'failed', code: 'E-NET-29' }; return; } // 802.1X and WEP: not offered
    this.state = { kind: 'passphrase', network: n, entry: new TextEntry({ clock: this.d.clock, lengthMin: WPA_PASSPHRASE_MIN, secret: true }), tooShort: false };
  }

  private passphraseKey(s: Extract<State, { kind: 'passphrase' }>, key: KeyName): void {
    const r = s.entry.press(key);
    s.tooShort = r.kind === 'refused' && r.reason === 'too-short';
    if (r.kind === 'submit') this.join(s.network, r.value);
    else if (r.kind === 'back') this.scan();
  }

  private scan(): void {
    this.state = { kind: 'scanning' };
    this.busy = (async () => {
      try {
        const found = (await this.d.wifi.scan()).slice(0, WIFI_LIST_MAX);
        if (this.closed) return;
        this.state = found.length === 0 ? { kind: 'none' } : { kind: 'list', networks: found, selected: 0 };
      } catch (e) {
        if (this.closed) return;
        this.state = { kind: 'failed', code: isPosError(e) ? e.code : 'E-NET-28' };
        this.d.logger.warn({ code: this.state.code }, 'wifi: scan failed');
      }
      this.d.changed();
    })();
  }

  private join(n: WifiNetwork, passphrase: string | undefined): void {
    this.state = { kind: 'joining', ssid: n.ssid };
    this.d.changed();
    this.busy = (async () => {
      try {
        await this.d.wifi.join(n.ssid, passphrase);
        await this.d.record({ ssid: n.ssid, security: n.security });
        this.d.logger.info({ ssid: n.ssid, security: n.security }, 'wifi: network saved');
        this.state = await this.associated(n.ssid);
      } catch (e) {
        this.state = { kind: 'failed', code: isPosError(e) ? e.code : 'E-NET-28' };
        this.d.logger.warn({ ssid: n.ssid, code: this.state.code }, 'wifi: join failed');
      }
      if (!this.closed) this.d.changed();
    })();
  }

  /** Waits for the OS to associate: joined with its address, a wrong key (E-NET-31), or only saved. */
  private async associated(ssid: string): Promise<State> {
    return waitJoined(this.d.wifi, ssid, { waitMs: WIFI_JOIN_WAIT_MS_MAX, pollMs: JOIN_POLL_MS, clock: this.d.clock, sleep: this.sleep, stopped: () => this.closed });
  }
}

function listItems(networks: readonly WifiNetwork[]): MenuItem[] {
  return numbered(networks.map((n, i) => {
    const lock = n.security === 'open' ? '' : '*';
    const label = `${n.ssid}${lock} ${n.bars}/4`;
    return { label: { en: label, zh: label }, value: String(i) };
  }));
}

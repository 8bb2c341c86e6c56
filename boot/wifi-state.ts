/**
 * The Wi-Fi's state as a person can read it (wifi0: wpa_supplicant through hal/wifi.ts), and the
 * fault it means: for diagnostics' network check and the sign-on failure screen alike (README,
 * "Diagnostics"; FIELD-FAULTS.md "Wi-Fi weak: link state and signal"). The network joined and its
 * address, or not joined and why, then the signal with its bars and band. Its fault, if any:
 * wpa_supplicant not reachable E-NET-28; not joined E-NET-34, or E-NET-31 when wpa_supplicant gave
 * up on a saved network (its handshake failed: the password); joined with a signal weaker than
 * WIFI_WEAK_BELOW_DBM E-NET-33.
 */
import { PosError, isPosError } from '../common/errors';
import { SavedNetwork, Wifi, WifiSignal, WifiStatus, wifiBand } from '../hal/wifi';
import type { LocalText } from '../ui-lcd/screen';
import { t } from '../ui-lcd/strings';
import { same } from '../ui-lcd/recovery-strings';

/**
 * A joined Wi-Fi signal weaker than this (dBm) is weak: E-NET-33, "move closer to the router".
 * Below about -75 dBm an 802.11 link drops to its lowest rates and retries, and a host exchange's
 * few packets start to miss their time limits; guidance for Wi-Fi payment handhelds puts the floor
 * of a dependable link there. It is also where the scan list's bars (hal/wifi.ts dbmToBars) fall
 * from 2 to 1, so a signal said to be weak never shows 2 bars or more.
 */
export const WIFI_WEAK_BELOW_DBM = -75;

/** A line of a technical message (an errno, wpa_supplicant's answer): bounded, cut at a word. */
const MESSAGE_LINE_CHARS_MAX = 160;

export interface WifiState {
  readonly lines: LocalText[];
  readonly fault?: PosError;
}

/** Reads wpa_supplicant for `iface` (its status, the saved networks when not joined, the signal when joined). */
export async function readWifiState(wifi: Wifi, iface: string): Promise<WifiState> {
  let st: WifiStatus;
  try {
    st = await wifi.status();
  } catch (e) {
    const fault = isPosError(e) ? e : new PosError('NET_WIFI_CTRL', String(e), { interface: iface });
    return { lines: [t('diag.wifiNoService'), same(clipAtWord(fault.message, MESSAGE_LINE_CHARS_MAX))], fault };
  }
  if (st.state !== 'COMPLETED') {
    let saved: SavedNetwork[] = [];
    try { saved = await wifi.saved(); } catch { /* the state line says enough */ }
    const refused = saved.find((n) => n.tempDisabled);
    const lines = [
      t('diag.wifiNotJoined', { state: st.state }),
      saved.length === 0 ? t('diag.wifiNoneSaved') : t('diag.wifiSaved', { ssids: saved.map((n) => n.ssid).join(', ') }),
      ...(refused ? [t('diag.wifiRefused', { ssid: refused.ssid })] : []),
    ];
    const fault = refused
      ? new PosError('NET_WIFI_AUTH', `${iface}: wpa_supplicant disabled "${refused.ssid}" after its handshake failed`, { interface: iface })
      : new PosError('NET_WIFI_NOT_JOINED', `${iface}: not connected (${st.state}), ${saved.length} network(s) saved`, { interface: iface, state: st.state });
    return { lines, fault };
  }
  const ssid = st.ssid ?? '?';
  const lines = [st.ipAddress !== undefined ? t('diag.wifiJoined', { ssid, address: st.ipAddress }) : t('diag.wifiJoinedNoAddress', { ssid })];
  let sig: WifiSignal | undefined;
  try {
    sig = await wifi.signal();
  } catch (e) {
    // Joined (STATUS said so): a signal that cannot be read is a line, not the link's fault.
    return { lines: [...lines, same(clipAtWord(e instanceof Error ? e.message : String(e), MESSAGE_LINE_CHARS_MAX))] };
  }
  if (sig?.rssiDbm === undefined) return { lines: [...lines, t('diag.wifiNoSignal')] };
  const band = sig.frequencyMhz === undefined ? '' : wifiBand(sig.frequencyMhz) ?? `${sig.frequencyMhz} MHz`;
  const weak = sig.rssiDbm < WIFI_WEAK_BELOW_DBM;
  lines.push(t(weak ? 'diag.wifiSignalWeak' : 'diag.wifiSignal', { dbm: sig.rssiDbm, bars: sig.bars, band }));
  if (!weak) return { lines };
  return { lines, fault: new PosError('NET_WIFI_WEAK', `${iface}: "${ssid}" at ${sig.rssiDbm} dBm (weak below ${WIFI_WEAK_BELOW_DBM} dBm)`, { interface: iface, rssiDbm: sig.rssiDbm }) };
}

/** Cut at a word with an ellipsis, never inside a word ("certificate in c"); "..." is in every display's font. */
export function clipAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 3);
  const space = cut.lastIndexOf(' ');
  return `${space > max / 2 ? cut.slice(0, space) : cut}...`;
}

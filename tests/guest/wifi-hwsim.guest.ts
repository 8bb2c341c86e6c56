/**
 * The guest side of tests/guest/wifi-hwsim.test.ts, run in the quick guest (qg.wifi=2: two
 * mac80211_hwsim radios on one simulated medium) as root, chrooted into the host's root file
 * system, so hostapd, wpa_supplicant, wpa_cli and ip are the host's Debian packages:
 *
 *   first radio   the access point: hostapd (nl80211, WPA2-PSK, CCMP) and busybox udhcpd
 *   second radio  the terminal: wpa_supplicant with its control socket, busybox udhcpc as the
 *                 OS's DHCP client, and hal/wifi.ts (WpaCliWifi, waitJoined) driving it as the
 *                 Wi-Fi menu does: scan, a wrong passphrase, the right one, then the joined
 *                 network's signal as diagnostics reads it (SIGNAL_POLL)
 *
 * Prints one JSON line: what each step found and how long it took.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { WpaCliWifi, waitJoined } from '../../hal/wifi';
import { isPosError } from '../../common/errors';

const SSID = 'POS-HWSIM';
const PASSPHRASE = 'correct-horse-42';
const AP_ADDRESS = '192.168.77.1';
const CTRL_DIR = '/run/wpa_supplicant';
/** One step's wait in the guest (TCG, a loaded host): a failure, not a measurement. */
const STEP_WAIT_MS_MAX = 60_000;
const POLL_MS = 200;

const children: ChildProcess[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function background(cmd: string, args: string[], log: string): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  c.stdout?.on('data', (d: Buffer) => { text += d.toString(); });
  c.stderr?.on('data', (d: Buffer) => { text += d.toString(); });
  c.on('exit', () => writeFileSync(log, text));
  Object.assign(c, { logText: () => text });
  children.push(c);
  return c;
}

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > STEP_WAIT_MS_MAX) throw new Error(`guest: never ${what}`);
    await sleep(POLL_MS);
  }
  return Date.now() - t0;
}

async function main(): Promise<Record<string, unknown>> {
  const [ap, sta] = (process.env.QG_WIFI ?? '').split(',');
  if (!ap || !sta) throw new Error(`guest: two radios wanted, QG_WIFI="${process.env.QG_WIFI ?? ''}"`);
  const bb = process.env.QG_BUSYBOX ?? 'busybox';
  const dir = mkdtempSync('/tmp/wifi-');

  // The access point.
  execFileSync('ip', ['link', 'set', ap, 'up']);
  execFileSync('ip', ['addr', 'add', `${AP_ADDRESS}/24`, 'dev', ap]);
  writeFileSync(join(dir, 'hostapd.conf'), [`interface=${ap}`, 'driver=nl80211', `ssid=${SSID}`, 'hw_mode=g', 'channel=6', 'wpa=2', 'wpa_key_mgmt=WPA-PSK', 'rsn_pairwise=CCMP', `wpa_passphrase=${PASSPHRASE}`, ''].join('\n'));
  const hostapd = background('hostapd', [join(dir, 'hostapd.conf')], join(dir, 'hostapd.log'));
  const apUpMs = await until('hostapd enabled', () => ((hostapd as unknown as { logText: () => string }).logText()).includes('AP-ENABLED'));
  writeFileSync(join(dir, 'udhcpd.conf'), [`interface ${ap}`, 'start 192.168.77.100', 'end 192.168.77.110', `lease_file ${join(dir, 'leases')}`, 'option subnet 255.255.255.0', ''].join('\n'));
  writeFileSync(join(dir, 'leases'), '');
  background(bb, ['udhcpd', '-f', join(dir, 'udhcpd.conf')], join(dir, 'udhcpd.log'));

  // The terminal's side, as its OS runs it (wpa_supplicant@wlan.service and a DHCP client).
  writeFileSync(join(dir, 'wpa.conf'), `ctrl_interface=${CTRL_DIR}\nupdate_config=1\n`);
  background('wpa_supplicant', ['-i', sta, '-D', 'nl80211', '-c', join(dir, 'wpa.conf')], join(dir, 'wpa.log'));
  await until('wpa_supplicant\'s control socket', () => existsSync(join(CTRL_DIR, sta)));
  const script = join(dir, 'udhcpc.sh');
  writeFileSync(script, '#!/bin/sh\ncase "$1" in bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface";; deconfig) ip addr flush dev "$interface";; esac\n');
  chmodSync(script, 0o755);
  background(bb, ['udhcpc', '-f', '-i', sta, '-s', script, '-t', '1000', '-T', '1', '-A', '1'], join(dir, 'udhcpc.log'));

  const wifi = new WpaCliWifi({ interface: sta, ctrlDir: CTRL_DIR });
  await wifi.check();
  let t0 = Date.now();
  let networks = await wifi.scan();
  // The first scan may come before the AP's beacons were heard: scan again, as a person would.
  while (!networks.some((n) => n.ssid === SSID) && Date.now() - t0 < STEP_WAIT_MS_MAX) networks = await wifi.scan();
  const scanMs = Date.now() - t0;
  const seen = networks.find((n) => n.ssid === SSID);

  const wait = { waitMs: STEP_WAIT_MS_MAX, pollMs: 500, clock: Date.now, sleep };
  t0 = Date.now();
  await wifi.join(SSID, 'wrong-passphrase-1');
  const wrong = await waitJoined(wifi, SSID, wait);
  const wrongMs = Date.now() - t0;

  t0 = Date.now();
  await wifi.join(SSID, PASSPHRASE);
  const right = await waitJoined(wifi, SSID, wait);
  const rightMs = Date.now() - t0;
  const status = await wifi.status();
  // The joined network's signal as diagnostics reads it (SIGNAL_POLL through nl80211).
  const signal = await wifi.signal();
  await wifi.close();
  return { apUpMs, scanMs, seen, networks: networks.length, wrong, wrongMs, right, rightMs, status, signal };
}

main().then((r) => {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}, (e: unknown) => {
  process.stderr.write(`${isPosError(e) ? `${e.code} ${e.message}` : String(e instanceof Error ? e.stack : e)}\n`);
  for (const c of children) process.stderr.write(`--- ${c.spawnargs.slice(0, 2).join(' ')}:\n${(c as unknown as { logText: () => string }).logText().slice(-1500)}\n`);
  process.exitCode = 1;
}).finally(() => {
  for (const c of children) c.kill('SIGTERM');
});

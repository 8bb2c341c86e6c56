/**
 * hal/wifi.ts against a REAL wpa_supplicant (Debian package wpasupplicant): started with its
 * wired driver on one end of a veth pair in a network namespace, so that it runs without a radio
 * while its control interface (a UNIX datagram socket, the same code path as on a board) answers
 * every command the terminal sends. What a radio would add (scan results with networks in them,
 * association, the 4-way handshake) is not here: scan results are parsed from wpa_supplicant's
 * documented SCAN_RESULTS format below; the radio is tests/guest/wifi-hwsim.test.ts
 * (mac80211_hwsim, hostapd and wpa_supplicant in a guest kernel).
 *
 * Needs root, `ip netns`, wpa_supplicant and wpa_cli; skips loudly without, fails under
 * POS_REQUIRE_TOOLS=1.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WpaCliWifi, WpaCliRunner, dbmToBars, decodeSsid, parseSavedNetworks, parseScanResults, parseSignalPoll, realWpaCli, wifiBand, wpaPsk } from '../../hal/wifi';
import { PosError, isPosError } from '../../common/errors';
import { hasTool } from '../support/tools';

const NS = `poswifi-${process.pid}`;
const IFACE = 'wl0';
const WAIT_MS_MAX = 10_000;

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<PosError> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { assert.ok(isPosError(e), String(e)); return e; }
  assert.fail('resolved');
}

describe('Wi-Fi through a real wpa_supplicant (hal/wifi.ts, wpa_cli, control socket)', function () {
  this.timeout(60_000);
  let dir = '';
  let conf = '';
  let ctrl = '';
  /** Every wpa_cli run: its argv and what went to its stdin. */
  const calls: Array<{ args: readonly string[]; stdin?: string }> = [];
  const recording: WpaCliRunner = (args, stdin, ms) => { calls.push({ args, ...(stdin !== undefined ? { stdin } : {}) }); return realWpaCli(args, stdin, ms); };
  let wifi: WpaCliWifi;

  const startSupplicant = async (): Promise<void> => {
    execFileSync('ip', ['netns', 'exec', NS, 'wpa_supplicant', '-B', '-Dwired', '-i', IFACE, '-c', conf, '-P', join(dir, 'pid')]);
    const until = Date.now() + WAIT_MS_MAX;
    while (!existsSync(join(ctrl, IFACE)) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  };
  const stopSupplicant = async (): Promise<void> => {
    if (!existsSync(join(dir, 'pid'))) return;
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    const until = Date.now() + WAIT_MS_MAX;
    while (existsSync(join(ctrl, IFACE)) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  };

  before(async function () {
    const missing = ['wpa_supplicant', 'wpa_cli', 'ip'].filter((t) => !hasTool(t));
    const why = missing.length > 0 ? `${missing.join(', ')} not installed (apt-get install wpasupplicant iproute2)` : process.getuid?.() !== 0 ? 'not root (network namespaces)' : undefined;
    if (why !== undefined) {
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(`Wi-Fi tests cannot run: ${why}`);
      process.stderr.write(`\n*** SKIPPED: Wi-Fi tests cannot run: ${why} ***\n\n`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'pos-wifi-'));
    ctrl = join(dir, 'ctrl');
    conf = join(dir, 'wpa_supplicant.conf');
    // What the board's OS configures: a control directory and permission to rewrite this file.
    writeFileSync(conf, `ctrl_interface=${ctrl}\nupdate_config=1\n`, { mode: 0o600 });
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'add', IFACE, 'type', 'veth', 'peer', 'name', 'wl1']);
    execFileSync('ip', ['-n', NS, 'link', 'set', IFACE, 'up']);
    await startSupplicant();
    wifi = new WpaCliWifi({ interface: IFACE, ctrlDir: ctrl, run: recording });
  });

  after(async () => {
    await stopSupplicant();
    spawnSync('ip', ['netns', 'del', NS]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers PING and reports its state', async () => {
    await wifi.check();
    const s = await wifi.status();
    assert.match(s.state, /^(DISCONNECTED|INACTIVE|SCANNING|ASSOCIATING|AUTHENTICATING)$/);
  });

  it('joins a network: saved in the OS\'s file with the derived PSK only, never the passphrase, never on a command line', async () => {
    const ssid = 'Café "Shop" 2.4G';
    const passphrase = 'correct horse battery';
    calls.length = 0;
    const { id } = await wifi.join(ssid, passphrase);
    const saved = await wifi.saved();
    assert.deepEqual(saved.map((n) => [n.id, n.ssid]), [[id, ssid]]);
    const file = readFileSync(conf, 'utf8');
    const psk = wpaPsk(ssid, passphrase);
    assert.match(file, new RegExp(`psk=${psk}`));
    assert.ok(!file.includes(passphrase), 'the passphrase is not in wpa_supplicant.conf');
    assert.match(file, /key_mgmt=WPA-PSK/);
    // The PSK matches what the OS's own tool derives from the passphrase.
    const ref = spawnSync('wpa_passphrase', [ssid], { input: `${passphrase}\n` }).stdout.toString();
    assert.match(ref, new RegExp(`\\bpsk=${psk}\\b`));
    for (const c of calls) {
      assert.ok(!c.args.some((a) => a.includes(passphrase) || a.includes(psk)), `argv of wpa_cli ${c.args.join(' ')}`);
    }
    assert.ok(calls.some((c) => c.stdin?.includes(`psk ${psk}`)), 'the PSK went through stdin');
  });

  it('joining the same SSID again replaces its entry; an open network is saved without a key', async () => {
    await wifi.join('Café "Shop" 2.4G', 'another passphrase');
    await wifi.join('Guest', undefined);
    const saved = await wifi.saved();
    assert.deepEqual(saved.map((n) => n.ssid).sort(), ['Café "Shop" 2.4G', 'Guest']);
    const file = readFileSync(conf, 'utf8');
    assert.match(file, /key_mgmt=NONE/);
    assert.ok(file.includes(`psk=${wpaPsk('Café "Shop" 2.4G', 'another passphrase')}`));
    assert.ok(!file.includes(`psk=${wpaPsk('Café "Shop" 2.4G', 'correct horse battery')}`), 'the old key is gone');
  });

  it('forgets a network; an unknown one is E-NET-30; bad input is refused before anything is sent', async () => {
    await wifi.forget('Guest');
    assert.deepEqual((await wifi.saved()).map((n) => n.ssid), ['Café "Shop" 2.4G']);
    assert.equal((await rejection(wifi.forget('Guest'))).code, 'E-NET-30');
    calls.length = 0;
    assert.equal((await rejection(() => wifi.join('x', 'short'))).code, 'E-OPR-08');
    assert.equal((await rejection(() => wifi.join('', 'long enough'))).code, 'E-OPR-08');
    assert.equal((await rejection(() => wifi.join('y'.repeat(33), 'long enough'))).code, 'E-OPR-08');
    assert.equal(calls.length, 0);
  });

  it('a scan is accepted (no radio here: no networks heard)', async () => {
    assert.deepEqual(await wifi.scan(), []);
  });

  it('SIGNAL_POLL without a radio: wpa_supplicant answers FAIL (not associated, the wired driver has no signal), which is no signal, not an error', async () => {
    const raw = await realWpaCli(['-p', ctrl, '-i', IFACE, 'signal_poll'], undefined, 5_000);
    assert.equal(raw.code, 0);
    assert.equal(raw.output.trim(), 'FAIL', 'what the parser is given here');
    assert.equal(await wifi.signal(), undefined);
    assert.notEqual((await wifi.status()).state, 'COMPLETED');
  });

  it('wpa_supplicant stopped: E-NET-28 naming the control directory; started again: works', async () => {
    await stopSupplicant();
    try {
      const e = await rejection(wifi.check());
      assert.equal(e.code, 'E-NET-28');
      assert.ok(e.message.includes(ctrl), e.message);
      assert.equal((await rejection(wifi.signal())).code, 'E-NET-28', 'the signal too');
    } finally {
      await startSupplicant();
    }
    await wifi.check();
    assert.deepEqual((await wifi.saved()).map((n) => n.ssid), ['Café "Shop" 2.4G'], 'read back from the file it saved');
  });
});

describe('wpa_supplicant text formats (hal/wifi.ts parsers)', () => {
  it('SCAN_RESULTS: one entry per SSID (strongest BSS), strongest first, hidden dropped, security from flags', () => {
    const out = [
      'bssid / frequency / signal level / flags / ssid',
      '00:11:22:33:44:55\t2412\t-71\t[WPA2-PSK-CCMP][ESS]\tShop',
      '00:11:22:33:44:56\t5180\t-52\t[WPA2-PSK-CCMP][ESS]\tShop',
      '66:11:22:33:44:55\t2437\t-80\t[ESS]\tFree\\x20WiFi',
      '77:11:22:33:44:55\t2462\t-60\t[WPA2-EAP-CCMP][ESS]\tCorp',
      '88:11:22:33:44:55\t2462\t-40\t[WPA2-PSK-CCMP][ESS]\t',
      '99:11:22:33:44:55\t2462\t-90\t[WEP][ESS]\t\\xe5\\x95\\x86\\xe6\\x88\\xb7',
    ].join('\n');
    const r = parseScanResults(out);
    assert.deepEqual(r.map((n) => [n.ssid, n.signalDbm, n.security, n.bars, n.frequencyMhz]), [
      ['Shop', -52, 'wpa-psk', 4, 5180],
      ['Corp', -60, 'wpa-eap', 3, 2462],
      ['Free WiFi', -80, 'open', 1, 2437],
      ['商户', -90, 'wep', 0, 2462],
    ]);
  });

  it('LIST_NETWORKS flags and escaped SSIDs', () => {
    const r = parseSavedNetworks('network id / ssid / bssid / flags\n0\tShop\tany\t[CURRENT]\n1\tCaf\\xc3\\xa9 \\"x\\"\tany\t[TEMP-DISABLED]\n');
    assert.deepEqual(r, [{ id: 0, ssid: 'Shop', current: true, tempDisabled: false }, { id: 1, ssid: 'Café "x"', current: false, tempDisabled: true }]);
    assert.equal(decodeSsid('a\\\\b\\tc'), 'a\\b\tc');
    assert.deepEqual([-50, -60, -70, -80, -95].map(dbmToBars), [4, 3, 2, 1, 0]);
  });

  it('SIGNAL_POLL: dBm, bars by the scan list\'s rule, frequency, link speed; NOISE 9999 is unknown; newer lines ignored', () => {
    // wpa_supplicant 2.10 over nl80211 (a Debian 12 board).
    assert.deepEqual(parseSignalPoll('RSSI=-62\nLINKSPEED=65\nNOISE=9999\nFREQUENCY=2437\nWIDTH=20 MHz\nCENTER_FRQ1=2437\nAVG_RSSI=-61\n'),
      { rssiDbm: -62, bars: 3, frequencyMhz: 2437, linkSpeedMbps: 65 });
    assert.deepEqual(parseSignalPoll('RSSI=-81\r\nLINKSPEED=6\r\nNOISE=-92\r\nFREQUENCY=5180\r\n'),
      { rssiDbm: -81, bars: dbmToBars(-81), frequencyMhz: 5180, linkSpeedMbps: 6, noiseDbm: -92 });
    // RSSI=0: the driver left it unset. No figure, no bars.
    assert.deepEqual(parseSignalPoll('RSSI=0\nLINKSPEED=0\nNOISE=9999\nFREQUENCY=2412\n'), { bars: 0, frequencyMhz: 2412 });
    assert.deepEqual([2412, 2484, 5180, 5825, 5955, 60480].map(wifiBand), ['2.4 GHz', '2.4 GHz', '5 GHz', '5 GHz', '6 GHz', undefined]);
  });

  it('SIGNAL_POLL answered FAIL (not associated) is undefined; garbage is E-NET-28, never another exception', () => {
    assert.equal(parseSignalPoll('FAIL\n'), undefined);
    assert.equal(parseSignalPoll('FAIL\r\n'), undefined);
    for (const garbage of ['', '\n', 'OK\n', 'UNKNOWN COMMAND\n', 'RSSI=strong\n', 'RSSI=\n', 'LINKSPEED=54\nFREQUENCY=2437\n', 'FAIL\nRSSI=x', '=-50', 'RSSI=-5e1', 'RSSI=-50000000000000']) {
      let e: unknown;
      try { parseSignalPoll(garbage, 'wl0'); } catch (x) { e = x; }
      assert.ok(isPosError(e), `${JSON.stringify(garbage)}: ${String(e)}`);
      assert.equal(e.code, 'E-NET-28');
      assert.match(e.message, /wl0: SIGNAL_POLL answer not understood/);
    }
    // Random and mutated answers (seeded): a signal, undefined or a PosError, nothing else.
    let seed = 20250611;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    const good = 'RSSI=-62\nLINKSPEED=65\nNOISE=9999\nFREQUENCY=2437\n';
    for (let i = 0; i < 5_000; i++) {
      const chars = [...good];
      for (let k = rnd(6); k >= 0; k--) chars[rnd(chars.length)] = String.fromCharCode(rnd(3) === 0 ? rnd(0x10000) : rnd(128));
      const input = rnd(4) === 0 ? Buffer.from(Array.from({ length: rnd(40) }, () => rnd(256))).toString('latin1') : chars.join('');
      try {
        const r = parseSignalPoll(input);
        if (r !== undefined) {
          assert.ok(r.bars >= 0 && r.bars <= 4, input);
          if (r.rssiDbm !== undefined) assert.ok(Number.isInteger(r.rssiDbm) && r.rssiDbm < 0 && r.rssiDbm >= -127, input);
        }
      } catch (e) {
        assert.ok(isPosError(e) && e.code === 'E-NET-28', `${JSON.stringify(input)}: ${String(e)}`);
      }
    }
  });

  it('the PSK is IEEE 802.11i\'s test vector', () => {
    // IEEE 802.11i-2004 H.4.2: passphrase "password", SSID "IEEE".
    assert.equal(wpaPsk('IEEE', 'password'), 'f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e');
  });
});

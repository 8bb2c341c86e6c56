/**
 * Wi-Fi with a radio (issue 12 item 2): hal/wifi.ts against the OS's real Wi-Fi stack in a guest
 * kernel. The quick guest (Debian 12's kernel under QEMU, scripts/guest/quick-guest.ts) loads
 * mac80211_hwsim with two radios; on the first, hostapd (WPA2-PSK) and a DHCP server; on the
 * second, wpa_supplicant, a DHCP client and the terminal's driver (wifi-hwsim.guest.ts): a scan
 * hears the network, a wrong passphrase is E-NET-31 (the Wi-Fi menu's judgement, waitJoined), the
 * right one associates and gets an address, and SIGNAL_POLL then reads its signal in dBm.
 * Needs qemu-system-x86_64, Debian's apt (kernel, busybox) and, on the host whose root the guest
 * runs from, hostapd, wpa_supplicant and wpa_cli (Debian packages hostapd, wpasupplicant); skips
 * loudly without them, fails under POS_REQUIRE_TOOLS=1.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { QuickGuest, compileForGuest, guestJsDir, quickGuestToolsMissing } from '../../scripts/guest/quick-guest';
import { dbmToBars } from '../../hal/wifi';

/** Boot, compile and the guest run together; TCG and a busy machine make this generous. */
const SUITE_TIMEOUT_MS = 300_000;

function hostToolMissing(tool: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`], { stdio: 'ignore' }); return false; } catch { return true; }
}

interface Report {
  apUpMs: number; scanMs: number; networks: number; wrongMs: number; rightMs: number;
  seen?: { ssid: string; security: string; bars: number; frequencyMhz: number };
  wrong: { kind: string; code?: string };
  right: { kind: string; address?: string; ssid?: string };
  status: { state: string; ssid?: string; ipAddress?: string };
  signal?: { rssiDbm?: number; bars: number; frequencyMhz?: number; linkSpeedMbps?: number; noiseDbm?: number };
}

describe('Wi-Fi with a radio: mac80211_hwsim, hostapd and wpa_supplicant in a guest kernel', function () {
  this.timeout(SUITE_TIMEOUT_MS);
  let report: Report;
  let runMs = 0;

  before(async function () {
    const missing = await quickGuestToolsMissing();
    for (const tool of ['hostapd', 'wpa_supplicant', 'wpa_cli']) if (hostToolMissing(tool)) missing.push(`${tool} (apt-get install hostapd wpasupplicant)`);
    if (missing.length > 0) {
      const msg = `the Wi-Fi radio guest test needs ${missing.join(', ')}`;
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(msg);
      console.warn(`SKIPPED: ${msg}`);
      this.skip();
    }
    const out = guestJsDir();
    const t0 = Date.now();
    try {
      await compileForGuest(['tests/guest/wifi-hwsim.guest.ts'], out);
      const guest = await QuickGuest.boot({ wifiRadios: 2 });
      try {
        const r = await guest.run(`exec node ${out}/tests/guest/wifi-hwsim.guest.js\n`);
        assert.equal(r.code, 0, `guest run failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
        report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Report;
      } finally {
        await guest.shutdown();
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
    runMs = Date.now() - t0;
    process.stderr.write(`      Wi-Fi radio guest: ${runMs} ms in all; AP up ${report.apUpMs} ms, scan ${report.scanMs} ms, wrong passphrase judged in ${report.wrongMs} ms, joined with an address in ${report.rightMs} ms\n`);
  });

  it('a scan hears the WPA2 network hostapd serves on the other radio', () => {
    assert.equal(report.seen?.ssid, 'POS-HWSIM', JSON.stringify(report));
    assert.equal(report.seen?.security, 'wpa-psk');
    assert.equal(report.seen?.frequencyMhz, 2437, 'channel 6');
  });

  it('a wrong passphrase is E-NET-31 (the handshake fails, wpa_supplicant disables the network)', () => {
    assert.deepEqual(report.wrong, { kind: 'failed', code: 'E-NET-31' });
  });

  it('the right passphrase associates and gets an address from the access point\'s DHCP', () => {
    assert.equal(report.right.kind, 'joined', JSON.stringify(report));
    assert.match(report.right.address ?? '', /^192\.168\.77\.1(0\d|10)$/);
    assert.equal(report.status.state, 'COMPLETED');
    assert.equal(report.status.ssid, 'POS-HWSIM');
  });

  it('joined, SIGNAL_POLL gives the signal in dBm with its bars and the channel\'s frequency (what diagnostics shows)', () => {
    const sig = report.signal;
    assert.ok(sig?.rssiDbm !== undefined, `no dBm from SIGNAL_POLL: ${JSON.stringify(report)}`);
    assert.ok(Number.isInteger(sig.rssiDbm) && sig.rssiDbm < 0 && sig.rssiDbm >= -127, String(sig.rssiDbm));
    assert.equal(sig.bars, dbmToBars(sig.rssiDbm));
    assert.equal(sig.frequencyMhz, 2437, 'channel 6');
    process.stderr.write(`      SIGNAL_POLL after joining: ${JSON.stringify(sig)}\n`);
  });
});

/**
 * Network settings applied to the OS (boot/net-apply.ts): the systemd-networkd file written for
 * DHCP and static settings (exact content), replaced atomically (a rename over the old file,
 * never a write into it), a missing directory or a failed write is E-NET-07 with the old file in
 * place and nothing stored, networkctl reload + reconfigure through an injected runner, and the
 * board file's optional "network" object validated with file and field named.
 */
import { strict as assert } from 'node:assert';
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { CommandRunner, applyNetworkSettings, networkdFile, netApplyFromBoard } from '../../boot/net-apply';
import { NetworkSettings } from '../../boot/recovery-net';
import { Recovery } from '../../boot/recovery';
import { PosError } from '../../common/errors';
import { validateBoard } from '../../hal/board-schema';
import { ADMIN, IDENTITY, Rig, rig, withOperators } from '../runtime/harness';

const DHCP: NetworkSettings = { interface: 'eth0', mode: 'dhcp', host: 'acq.example.cn', port: 5000 };
const STATIC: NetworkSettings = { interface: 'eth0', mode: 'static', address: '192.168.1.20', prefixLength: 24, gateway: '192.168.1.1', dns: ['114.114.114.114', '223.5.5.5'], host: '10.1.2.3', port: 8583 };

const HEADER = '# Written by the POS runtime (recovery menu > System > Network).\n# Changed there, this file is replaced: edit the settings there, not here.\n';

/** Records the commands instead of running them. */
function recorder(o: { present?: boolean; failOn?: string } = {}): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    has: (c) => c === 'networkctl' && (o.present ?? true),
    run: async (c, args) => {
      const line = [c, ...args].join(' ');
      calls.push(line);
      return line === o.failOn ? { exitCode: 1, output: 'Failed to reload network settings: Unit dbus-org.freedesktop.network1.service not found.' } : { exitCode: 0, output: '' };
    },
  };
}

function errorOf(fn: () => unknown): PosError {
  try { fn(); } catch (e) { if (e instanceof PosError) return e; throw e; }
  throw new Error('no error');
}

async function rejection(p: Promise<unknown>): Promise<PosError> {
  try { await p; } catch (e) { if (e instanceof PosError) return e; throw e; }
  throw new Error('no error');
}

describe('boot/net-apply: network settings written for the OS', function () {
  this.timeout(30_000);
  let work: string;
  let dir: string;
  // Always a temp directory: never the default /etc/systemd/network of the machine running the tests.
  let networkd: { backend: 'systemd-networkd'; dir: string };
  beforeEach(() => { work = tempDir('posnet-'); dir = join(work, 'network'); mkdirSync(dir); networkd = { backend: 'systemd-networkd', dir }; });
  afterEach(() => removeDir(work));

  it('writesTheNetworkdFileForDhcpExactly', async () => {
    const runner = recorder();
    const r = await applyNetworkSettings(DHCP, { ...networkd }, runner);
    assert.equal(readFileSync(join(dir, '10-pos.network'), 'utf8'), `${HEADER}[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n`);
    assert.deepEqual(runner.calls, ['networkctl reload', 'networkctl reconfigure eth0']);
    assert.deepEqual(r, { backend: 'systemd-networkd', file: join(dir, '10-pos.network'), commands: ['networkctl reload', 'networkctl reconfigure eth0'] });
    assert.equal(networkdFile(DHCP), readFileSync(join(dir, '10-pos.network'), 'utf8'));
  });

  it('writesTheNetworkdFileForAStaticAddressExactlyWithoutTheHost', async () => {
    await applyNetworkSettings(STATIC, { ...networkd, file: '20-shop.network' }, recorder());
    const text = readFileSync(join(dir, '20-shop.network'), 'utf8');
    assert.equal(text, `${HEADER}[Match]\nName=eth0\n\n[Network]\nAddress=192.168.1.20/24\nGateway=192.168.1.1\nDNS=114.114.114.114\nDNS=223.5.5.5\n`);
    assert.ok(!text.includes('10.1.2.3') && !text.includes('8583'), 'the acquirer host is the terminal\'s setting, not the OS\'s');
  });

  it('replacesTheOldFileAtomicallyByARenameNeverByWritingIntoIt', async () => {
    const file = join(dir, '10-pos.network');
    writeFileSync(file, 'old settings\n');
    // A second name for the old file's inode: a write into the old file would show through it.
    linkSync(file, join(work, 'old-inode'));
    await applyNetworkSettings(STATIC, networkd, recorder());
    assert.equal(readFileSync(join(work, 'old-inode'), 'utf8'), 'old settings\n', 'the old inode was not written: the new file was renamed over it');
    assert.equal(readFileSync(file, 'utf8'), networkdFile(STATIC));
    assert.deepEqual(readdirSync(dir), ['10-pos.network'], 'no temp file left');
  });

  it('aFailedWriteIsENet07AndTheOldFileStaysInPlace', async () => {
    const file = join(dir, '10-pos.network');
    writeFileSync(file, 'old settings\n');
    mkdirSync(`${file}.tmp`); // the temp file cannot be created (EISDIR)
    const runner = recorder();
    const e = await rejection(applyNetworkSettings(STATIC, networkd, runner));
    assert.equal(e.code, 'E-NET-07');
    assert.match(e.message, /writing .*10-pos\.network failed \(EISDIR\); the old file is unchanged/);
    assert.equal(readFileSync(file, 'utf8'), 'old settings\n');
    assert.deepEqual(runner.calls, [], 'nothing reloaded');
  });

  it('aMissingDirectoryIsENet07NamingTheDirectoryAndTheBoardField', async () => {
    const e = await rejection(applyNetworkSettings(DHCP, { backend: 'systemd-networkd', dir: join(work, 'nosuch') }, recorder()));
    assert.equal(e.code, 'E-NET-07');
    assert.match(e.message, /nosuch is missing or not a folder \(ENOENT\): check the board file's "network\.dir"/);
    assert.ok(!existsSync(join(work, 'nosuch')), 'the OS directory is never created by the runtime');
  });

  it('withoutNetworkctlTheFileIsWrittenForTheNextBootAndNoneBackendWritesNothing', async () => {
    const absent = recorder({ present: false });
    const r = await applyNetworkSettings(DHCP, networkd, absent);
    assert.equal(r.reloadSkipped, true);
    assert.deepEqual(absent.calls, []);
    assert.ok(existsSync(join(dir, '10-pos.network')));
    const none = recorder();
    assert.deepEqual(await applyNetworkSettings(DHCP, { backend: 'none' }, none), { backend: 'none', commands: [] });
    assert.deepEqual(none.calls, []);
  });

  it('aFailingNetworkctlIsReportedAndStopsAtTheFirstFailure', async () => {
    const runner = recorder({ failOn: 'networkctl reload' });
    const r = await applyNetworkSettings(DHCP, networkd, runner);
    assert.deepEqual(runner.calls, ['networkctl reload']);
    assert.match(r.reloadError ?? '', /^networkctl reload exited 1: Failed to reload/);
  });

  describe('board file "network"', () => {
    const sim = (): Record<string, unknown> => JSON.parse(readFileSync(join(__dirname, '..', '..', 'board-configs', 'sim.json'), 'utf8')) as Record<string, unknown>;

    it('isOptionalWithBackendNoneByDefaultAndValidatesEachField', () => {
      assert.deepEqual(netApplyFromBoard(validateBoard(sim(), 'sim.json')), { backend: 'none' }, 'the simulator board stores only');
      const ok = validateBoard({ ...sim(), network: { backend: 'systemd-networkd', dir: '/etc/systemd/network', file: '10-pos.network', interface: 'wlan0' } }, 'x.json');
      assert.deepEqual(ok.network, { backend: 'systemd-networkd', dir: '/etc/systemd/network', file: '10-pos.network', interface: 'wlan0' });
      assert.deepEqual(netApplyFromBoard(ok), { backend: 'systemd-networkd', dir: '/etc/systemd/network', file: '10-pos.network' });
      const bad: Array<[unknown, RegExp]> = [
        [{ backend: 'netplan' }, /x\.json: field "network\.backend" must be one of "systemd-networkd", "none"/],
        [{ backend: 'systemd-networkd', dir: 'etc/net' }, /x\.json: field "network\.dir" must be a string/],
        [{ backend: 'systemd-networkd', file: '10-pos.conf' }, /x\.json: field "network\.file" must be a string/],
        [{ backend: 'none', dir: '/etc/systemd/network' }, /x\.json: field "network\.dir" is only used by the "systemd-networkd" backend/],
        [{ backend: 'systemd-networkd', iface: 'eth0' }, /x\.json: field "network\.iface" is not a known field/],
      ];
      for (const [network, message] of bad) {
        const e = errorOf(() => validateBoard({ ...sim(), network }, 'x.json'));
        assert.equal(e.code, 'E-BRD-01');
        assert.match(e.message, message);
      }
    });
  });

  describe('Recovery.saveNetworkSettings', () => {
    let r: Rig;
    beforeEach(async () => { r = await rig(); await withOperators(r); await r.journal.close(); });
    afterEach(async () => { await r.close(); });

    const recovery = (runner: CommandRunner, netDir = dir): Recovery => new Recovery({
      journalDir: r.dir, backupDir: join(work, 'backup'), identity: IDENTITY, clock: () => r.clock.ms,
      netApply: { backend: 'systemd-networkd', dir: netDir }, commandRunner: runner,
    });

    it('writesTheFileRunsNetworkctlThenStoresAndReportsInBothLanguages', async () => {
      const runner = recorder();
      const rc = recovery(runner);
      const rep = await rc.saveNetworkSettings(STATIC, ADMIN);
      assert.equal(rep.ok, true);
      assert.deepEqual(rep.lines, ['address 192.168.1.20/24', 'host 10.1.2.3:8583', 'applied to eth0 (systemd-networkd)', 'networkctl: reload, reconfigure eth0']);
      assert.equal(rep.text?.[2].zh, '已写入系统：eth0（systemd-networkd）');
      assert.deepEqual(await rc.networkSettings(), STATIC);
      assert.equal(readFileSync(join(dir, '10-pos.network'), 'utf8'), networkdFile(STATIC));
      await rc.close();
    });

    it('storesNothingWhenTheFileCannotBeWritten', async () => {
      const rc = recovery(recorder(), join(work, 'nosuch'));
      assert.equal((await rejection(rc.saveNetworkSettings(STATIC, ADMIN))).code, 'E-NET-07');
      assert.equal(await rc.networkSettings(), undefined, 'the journal does not claim settings the OS never got');
      await rc.close();
    });

    it('aFailedReloadStoresTheSettingsAndFailsTheReportWithENet07', async () => {
      const rc = recovery(recorder({ failOn: 'networkctl reconfigure eth0' }));
      const rep = await rc.saveNetworkSettings(DHCP, ADMIN);
      assert.equal(rep.ok, false);
      assert.equal(rep.code, 'E-NET-07');
      assert.ok(rep.lines.some((l) => l.startsWith('networkctl reconfigure eth0 exited 1')), rep.lines.join('\n'));
      assert.ok(rep.lines.includes('Or reboot to apply them'), rep.lines.join('\n'));
      assert.deepEqual(await rc.networkSettings(), DHCP, 'the file is in place: it applies at the next boot');
      await rc.close();
    });
  });
});

/**
 * The management broker password from the factory, sealed under the device key
 * (runtime/mgmt/credentials.ts, `pos factory mgmt`): written and opened, refused under another
 * key, missing or malformed, chosen by the board file's `passwordSealed`, and accepted by a real
 * mosquitto when the terminal's wiring opens it.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { isPosError } from '../../common/errors';
import { fileDeviceKey } from '../../runtime/device-key';
import { MGMT_PASSWORD_SEALED_FILE, provisionMgmtPassword, readMgmtPassword } from '../../runtime/mgmt/credentials';
import { ManagementClient, MgmtTerminal } from '../../runtime/mgmt/client';
import { managementConfig } from '../../boot/mgmt-wiring';
import { validateBoard } from '../../hal/board-schema';
import { asset } from '../../common/assets';
import { main } from '../../boot/pos';
import { removeDir, tempDir } from '../../storage/testing';
import { TestBroker, needMosquitto } from '../support/mosquitto';

const PASSWORD = 'fleet-secret-0001';
const SERIAL = 'SN-MGMT-0001';
const codeOf = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return isPosError(e) ? e.code : `not a PosError: ${String(e)}`; }
  return undefined;
};

describe('management password sealed at the factory (pos factory mgmt)', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = tempDir('pos-mgmt-cred-'); });
  afterEach(() => removeDir(dir));

  it('sealsThePasswordUnderTheDeviceKeyMode0600NotInClearAndOpensItOnlyUnderThatKey', () => {
    const key = fileDeviceKey(join(dir, 'device.key'));
    const file = provisionMgmtPassword({ dir, password: PASSWORD, deviceKey: key, random: randomBytes });
    assert.equal(file, join(dir, MGMT_PASSWORD_SEALED_FILE));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file).indexOf(Buffer.from(PASSWORD)), -1, 'not in clear');
    assert.equal(readMgmtPassword(dir, key), PASSWORD);
    const other = fileDeviceKey(join(dir, 'other.key'));
    assert.equal(codeOf(() => readMgmtPassword(dir, other)), 'E-KEY-02', 'another terminal\'s key does not open it');
    const flipped = readFileSync(file); flipped[flipped.length - 1] ^= 1; writeFileSync(file, flipped);
    assert.equal(codeOf(() => readMgmtPassword(dir, key)), 'E-KEY-02', 'a damaged file does not open');
  });

  it('refusesAMissingFileNamingTheFactoryStepAndMalformedPasswordsBeforeWritingAnything', () => {
    const key = fileDeviceKey(join(dir, 'device.key'));
    try { readMgmtPassword(dir, key); assert.fail('opened nothing'); } catch (e) {
      assert.ok(isPosError(e) && e.code === 'E-BRD-01', String(e));
      assert.match(e.message, /pos factory mgmt/);
    }
    for (const bad of ['short', ' leading-space', 'trailing-space ', 'tab\tinside', 'x'.repeat(129), '中文密码密码密码']) {
      assert.equal(codeOf(() => provisionMgmtPassword({ dir, password: bad, deviceKey: key, random: randomBytes })), 'E-OPR-08', JSON.stringify(bad));
    }
  });

  it('theBoardFileChoosesTheSealedPasswordAndRefusesItBesideAPasswordFile', () => {
    const sim = JSON.parse(readFileSync(asset('board-configs', 'sim.json'), 'utf8')) as Record<string, unknown>;
    const withMgmt = (m: Record<string, unknown>): unknown => ({ ...sim, management: { url: 'mqtts://m.example.com:8883', caFile: '/etc/pos/ca.pem', ...m } });
    assert.equal(validateBoard(withMgmt({ passwordSealed: true }), 'sealed.json').management?.passwordSealed, true);
    assert.throws(() => validateBoard(withMgmt({ passwordSealed: true, passwordFile: '/etc/pos/p' }), 'both.json'), /passwordSealed/);
    assert.throws(() => validateBoard(withMgmt({}), 'none.json'), /passwordFile/);
    assert.equal(codeOf(() => managementConfig({ url: 'mqtts://m.example.com:8883', caFile: '/x', passwordSealed: true }, SERIAL)), 'E-BRD-01', 'no device key to open it');
  });

  it('posFactoryMgmtSealsItBesideTheProvisionedDeviceKeyAndNeverMakesANewKey', async () => {
    const journalDir = join(dir, 'journal');
    mkdirSync(journalDir);
    const out: string[] = [];
    const err: string[] = [];
    writeFileSync(join(dir, 'pass.txt'), `${PASSWORD}\n`);
    // No device key yet: refused (a key made now would open nothing provision sealed).
    assert.notEqual(await main(['factory', 'mgmt', '--password-file', join(dir, 'pass.txt'), '--board', 'sim', '--dir', journalDir], (l) => out.push(l), (l) => err.push(l)), 0);
    assert.match(err.join('\n'), /E-KEY-0\d/);
    const key = fileDeviceKey(join(dir, 'device.key'));
    key.deviceKey();
    assert.equal(await main(['factory', 'mgmt', '--password-file', join(dir, 'pass.txt'), '--board', 'sim', '--dir', journalDir], (l) => out.push(l), (l) => err.push(l)), 0, err.join('\n'));
    assert.equal(readMgmtPassword(dir, key), PASSWORD, 'the newline after it is not part of it');
    assert.ok(!out.join('\n').includes(PASSWORD), 'never printed');
  });

  it('aRealMosquittoAcceptsTheTerminalWithTheSealedPassword', async function () {
    needMosquitto(this);
    const broker = await TestBroker.create({ [SERIAL]: PASSWORD });
    let m: ManagementClient | undefined;
    try {
      const key = fileDeviceKey(join(dir, 'device.key'));
      provisionMgmtPassword({ dir, password: PASSWORD, deviceKey: key, random: randomBytes });
      writeFileSync(join(dir, 'ca.pem'), broker.pki.caPem);
      const config = managementConfig({ url: broker.url, caFile: join(dir, 'ca.pem'), passwordSealed: true }, SERIAL, () => readMgmtPassword(dir, key));
      const terminal: MgmtTerminal = {
        status: () => ({ version: 't', batteryPercent: 50, storageFreeKiB: 1, network: {}, lastErrors: [], anomalies: [], sellingLocked: false, versionFlagged: false, flaggedVersions: [], state: 'idle', uptimeS: 1 }),
        setParams: async (p) => p, diagnostics: async () => [], logs: async () => ({ text: '', source: 'memory' }), isIdle: () => true, reboot: () => undefined, setSellingLocked: async () => undefined, setVersionFlag: async () => undefined, flaggedVersions: () => [],
      };
      m = ManagementClient.start({ config: { ...config, reconnectMs: 100 }, terminal, logger: pino({ level: 'silent' }), clock: Date.now });
      const started = Date.now();
      while (!m.connected) {
        if (Date.now() - started > 20_000) throw new Error(`never connected; broker log:\n${broker.log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      m?.kill();
      await broker.destroy();
    }
  });
});

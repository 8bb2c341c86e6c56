/** boot/mgmt-wiring.ts: the board file's section to a client configuration, the app to a MgmtTerminal. */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import { Journal } from '../../storage/journal';
import { removeDir, tempDir } from '../../storage/testing';
import { Store } from '../../runtime/store';
import { rec } from '../../runtime/records';
import type { Terminal } from '../../runtime/terminal';
import { ErrorRing } from '../../boot/diagnostics';
import { ManagedApp, isSafeToReboot, managedTerminal, managementConfig, startManagement } from '../../boot/mgmt-wiring';

describe('management wiring (boot/mgmt-wiring.ts)', () => {
  let dir: string;
  beforeEach(() => { dir = tempDir('pos-mgmt-wiring-'); });
  afterEach(() => removeDir(dir));

  it('readsTheCaAndPasswordFilesAndDefaultsTheUsernameToTheSerial', () => {
    writeFileSync(join(dir, 'ca.pem'), 'CA PEM');
    writeFileSync(join(dir, 'pass'), 's3cret\n');
    const c = managementConfig({ url: 'mqtts://m.example:8883', caFile: join(dir, 'ca.pem'), passwordFile: join(dir, 'pass'), heartbeatS: 30 }, 'SN-0001');
    assert.deepEqual(c, { url: 'mqtts://m.example:8883', serial: 'SN-0001', username: 'SN-0001', password: 's3cret', caPem: 'CA PEM', caFile: join(dir, 'ca.pem'), heartbeatMs: 30_000 });
  });

  it('aMissingCredentialFileIsE_BRD_01NamingTheFieldAndPath', () => {
    writeFileSync(join(dir, 'pass'), 'p');
    try {
      managementConfig({ url: 'mqtts://m.example:8883', caFile: join(dir, 'absent.pem'), passwordFile: join(dir, 'pass') }, 'SN-0001');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(isPosError(e) && e.code === 'E-BRD-01', String(e));
      assert.match(e.message, /management\.caFile .*absent\.pem/);
    }
  });

  it('isOffWithoutAManagementSection', () => {
    assert.equal(startManagement(undefined, 'SN-0001', {} as ManagedApp, silentLogger, Date.now), undefined);
  });

  it('mapsTheStatusUploadFiguresJournalsParametersAndTheSellingLock_andRefusesWhatItCannotDo', async () => {
    const journal = await Journal.open({ dir, identity: 'SN-0001', clock: () => 1_700_000_000_000 });
    try {
      const store = Store.load(journal);
      const errors = new ErrorRing();
      for (const code of ['E-PRN-01', 'E-NET-01', 'E-PRN-01']) errors.add({ timeMs: 1, code, msg: '' });
      let state = 'sale.amount';
      let restarts = 0;
      const app: ManagedApp = {
        statusUpload: () => ({ softwareVersion: '1.2.3', batteryPercent: 55, freeJournalKiB: 999, uptimeS: 12 }),
        errors,
        // Only what the wiring reads; the lock as the engine keeps it (a record, the state replayed).
        terminal: () => ({
          store,
          engine: {
            anomalies: () => [],
            get sellingLock() { return store.state.sellingLock?.locked ? store.state.sellingLock : undefined; },
            setSellingLock: (locked: boolean, reason: string, commandId: string) => store.commit([rec.sellingLock({ locked, reason, commandId })], { reserve: true }),
          },
        }) as unknown as Terminal,
        machineState: () => state,
        network: () => ({ link: 'wlan0' }),
        charging: () => true,
        runDiagnostics: async () => [{ check: 'battery', state: 'ok' }],
        logs: async () => ({ text: 'x', source: 'memory' }),
        restart: async () => { restarts++; },
      };
      const t = managedTerminal(app);
      assert.deepEqual(t.status(), {
        version: '1.2.3', batteryPercent: 55, charging: true, storageFreeKiB: 999, network: { link: 'wlan0' },
        lastErrors: ['E-PRN-01', 'E-NET-01'], anomalies: [], sellingLocked: false, versionFlagged: false, flaggedVersions: [], state: 'sale.amount', uptimeS: 12,
      });
      assert.equal(t.isIdle(), false);
      state = 'idle';
      assert.equal(t.isIdle(), true);
      assert.deepEqual(await t.setParams({ reversalTries: 4 }), { reversalTries: 4 });
      assert.equal(Store.load(journal).state.hostParams?.reversalTries, 4);
      await t.reboot();
      assert.equal(restarts, 1);
      await t.setSellingLocked(true, 'chargeback review', 'k-1');
      assert.equal(t.status().sellingLocked, true);
      assert.deepEqual(Store.load(journal).state.sellingLock, { locked: true, reason: 'chargeback review', commandId: 'k-1' }, 'journaled: a reboot keeps it');
      await t.setSellingLocked(false, '', 'k-2');
      assert.equal(t.status().sellingLocked, false);
      const closed = { ...app, terminal: () => undefined };
      await assert.rejects(managedTerminal(closed).setSellingLocked(true, '', 'k-3'), (e: unknown) => isPosError(e) && e.code === 'E-MGT-09', 'no journal open: refused');
      await assert.rejects(managedTerminal(closed).setVersionFlag('1.2.3', true, '', 'f-z'), (e: unknown) => isPosError(e) && e.code === 'E-MGT-09', 'no journal open: refused');
      assert.deepEqual(managedTerminal(closed).flaggedVersions(), []);
      assert.equal(t.updater, undefined, 'no update slots: update is refused by the client');
      const updater = { fetch: async () => 'f', unsafeBecause: () => undefined, apply: async () => ({}) };
      assert.equal(managedTerminal({ ...app, updater }).updater, updater);
    } finally {
      await journal.close();
    }
  });

  it('rebootsOnlyFromIdleOrTheLoginScreen', () => {
    assert.deepEqual(['idle', 'login.locked', 'sale.card', 'settlement.sending', 'recovery.menu'].map(isSafeToReboot), [true, true, false, false, false]);
  });
});

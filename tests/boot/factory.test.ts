/**
 * The factory station on simulator boards: 8 terminals at once, one with a broken printer and
 * one with a stuck key (6 pass, 2 fail with their codes, 8 reports); provisioning refuses
 * duplicates and the test keys on a real board, checks each component's KCV, seals the TMK.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { tempDir, removeDir } from '../../storage/testing';
import { Journal } from '../../storage/journal';
import { metaTxnId } from '../../storage/lmdb-env';
import { RecordType } from '../../storage/record';
import { readBoardFile } from '../../hal/board';
import { fixedDeviceKey } from '../../runtime/device-key';
import { hashPassword } from '../../runtime/operators';
import { PosError } from '../../common/errors';
import { KeyComponent, ProvisionInput, TEST_IDS, kcvOf, provision, readProvisionedTmk } from '../../boot/factory';
import { failedCodes, runStation, simulatedTerminals } from '../../boot/factory-station';

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { if (e instanceof PosError) return e.code; throw e; }
  return 'no error';
}

const comp = (hex: string): KeyComponent => ({ keyHex: hex, kcvHex: kcvOf(Buffer.from(hex, 'hex')) });

describe('boot/factory: provisioning and the station', function () {
  this.timeout(90_000);
  let work: string;
  beforeEach(() => { work = tempDir('posfac-'); });
  afterEach(() => removeDir(work));

  it('runsEightSimulatedTerminalsAtOnceBrokenPrinterAndStuckKeyFailTheOthersPass', async () => {
    const terminals = simulatedTerminals(8).map((t, i) => (i === 2 ? { ...t, faults: ['printer' as const] } : i === 5 ? { ...t, faults: ['stuck-key' as const] } : t));
    const progress: string[] = [];
    const t0 = performance.now();
    const reports = await runStation({ terminals, workDir: join(work, 'terminals'), reportDir: join(work, 'reports'), registryFile: join(work, 'registry.json'), keyPressTimeoutMs: 2000, onProgress: (s, p) => progress.push(`${s} ${p}`) });
    const ms = performance.now() - t0;
    assert.equal(reports.length, 8);
    for (const r of reports) assert.ok(existsSync(join(work, 'reports', `${r.serial}.json`)), `report of ${r.serial}`);
    const passed = reports.filter((r) => r.pass).map((r) => r.serial);
    assert.equal(passed.length, 6, reports.map((r) => `${r.serial} ${r.pass} ${failedCodes(r).join(',')}`).join('\n'));
    const printer = reports[2], stuck = reports[5];
    assert.equal(printer.pass, false);
    assert.ok(failedCodes(printer).some((c) => c.startsWith('E-PRN-')), failedCodes(printer).join(','));
    assert.deepEqual(failedCodes(stuck), ['E-KBD-01']);
    const saved = JSON.parse(readFileSync(stuck.reportFile, 'utf8')) as { pass: boolean; tests: Array<{ name: string; pass: boolean; codes: string[] }> };
    assert.equal(saved.pass, false);
    assert.ok(saved.tests.find((t) => t.name === 'keypad every key')?.codes.includes('E-KBD-01'));
    const ok = JSON.parse(readFileSync(reports[0].reportFile, 'utf8')) as { tests: Array<{ name: string; values: Record<string, unknown> }> };
    assert.ok(ok.tests.find((t) => t.name === 'battery')?.values.percent !== undefined, 'measured values in the report');
    assert.equal(ok.tests.find((t) => t.name === 'keypad every key')?.values.detected, 18);
    assert.match(String(ok.tests.find((t) => t.name === 'modem modem0')?.values.imei), /^\d{15}$/, 'the IMEI in the report beside the serial');
    assert.equal(ok.tests.find((t) => t.name === 'wifi scan wifi0')?.values.strongest, 'SIM-SHOP');
    assert.ok(progress.some((l) => l.endsWith('PASS')) && progress.some((l) => l.includes('FAIL E-KBD-01')));
    const png = PNG.sync.read(readFileSync(join(work, 'reports', 'SIM0001-label.png')));
    assert.ok(png.width > 100 && png.width === png.height, 'label QR as PNG');
    console.log(`      station: 8 terminals in ${(ms / 1000).toFixed(1)} s`);
  });

  it('aHungModemAndADeafWifiRadioFailTheirTestsWithTheirCodes', async () => {
    const terminals = simulatedTerminals(2).map((t, i) => ({ ...t, faults: [i === 0 ? 'modem-silent' as const : 'no-wifi' as const] }));
    const reports = await runStation({ terminals, workDir: join(work, 'terminals'), reportDir: join(work, 'reports'), registryFile: join(work, 'registry.json'), keyPressTimeoutMs: 2000 });
    const [modem, wifi] = reports;
    assert.equal(modem.pass, false);
    assert.ok(failedCodes(modem).includes('E-NET-15'), failedCodes(modem).join(','));
    assert.equal(wifi.pass, false);
    assert.deepEqual(failedCodes(wifi), ['E-NET-30']);
  });

  it('aSerialRunAgainIsRefusedWithItsCodeAndItsFirstReportIsKept', async () => {
    const o = { terminals: simulatedTerminals(1), workDir: join(work, 'terminals'), reportDir: join(work, 'reports'), registryFile: join(work, 'registry.json'), keyPressTimeoutMs: 2000 };
    const [first] = await runStation(o);
    assert.equal(first.pass, true, failedCodes(first).join(','));
    const [again] = await runStation({ ...o, workDir: join(work, 'terminals-2') });
    assert.equal(again.pass, false);
    assert.deepEqual(failedCodes(again), ['E-OPR-12'], 'the console names why');
    assert.equal((JSON.parse(readFileSync(first.reportFile, 'utf8')) as { pass: boolean }).pass, true, 'the first report is not overwritten');
    assert.equal(again.reportFile, join(work, 'reports', `${first.serial}.refused.json`));
  });

  describe('provision', () => {
    const input = (o: Partial<ProvisionInput> = {}): ProvisionInput => ({
      serial: 'HH-000123', tid: '87654321', mid: '876543210987654', locale: 'zh-CN',
      components: [comp('11111111111111112222222222222222'), comp('33333333333333334444444444444444')],
      board: readBoardFile('sim').config, journalDir: join(work, 'journal'), registryFile: join(work, 'registry.json'),
      deviceKey: fixedDeviceKey(Buffer.alloc(32, 7)), ...o,
    });

    it('writesIdentityAndTheTmkSealedUnderTheDeviceKeyAndRefusesDuplicates', async () => {
      const r = await provision(input());
      const j = await Journal.open({ dir: join(work, 'journal'), readOnly: true });
      const tmk = readProvisionedTmk(j, fixedDeviceKey(Buffer.alloc(32, 7)));
      assert.equal(tmk.toString('hex'), '22222222222222226666666666666666');
      assert.equal(r.kcvTmk, kcvOf(tmk));
      assert.ok(!readFileSync(join(work, 'journal', 'data.mdb')).includes(tmk), 'the TMK is never stored in clear');
      assert.throws(() => readProvisionedTmk(j, fixedDeviceKey(Buffer.alloc(32, 8))), /E-KEY-02/);
      await j.close();
      assert.equal(await code(provision(input())), 'E-OPR-12', 'same serial');
      assert.equal(await code(provision(input({ serial: 'HH-000124', journalDir: join(work, 'j2') }))), 'E-OPR-12', 'same TID');
      assert.equal(await code(provision(input({ serial: 'HH-000125', tid: '87654329', registryFile: join(work, 'other-station.json') }))), 'E-OPR-12', 'journal already provisioned');
    });

    it('aBlankTerminalGetsItsJournalAndIdentityInOneCommitSoACutLeavesNeitherOrBoth', async () => {
      // Issue 13 item 5 at the factory: two commits (record 1, then the identity) let a cut leave
      // a journal with record 1 alone; one LMDB transaction cannot.
      const dir = join(work, 'journal');
      await provision(input());
      // Baseline: a journal opened with record 1 alone (LMDB's environment set-up, then one commit).
      const bare = join(work, 'bare');
      await (await Journal.open({ dir: bare, identity: 'HH-000123' })).close();
      assert.equal(metaTxnId(dir), metaTxnId(bare), 'the provisioned journal took no more commits than record 1 alone');
      const j = await Journal.open({ dir, readOnly: true });
      const types = [...j.records()].map((r) => r.type);
      await j.close();
      assert.deepEqual(types, [RecordType.journalCreated, RecordType.terminalIdentity, RecordType.settings, RecordType.settings, RecordType.adminAction]);
    });

    it('aJournalCreatedEarlierWithoutIdentityIsProvisionedOnce', async () => {
      const dir = join(work, 'journal');
      const empty = await Journal.open({ dir, identity: 'HH-000123' });
      await empty.close();
      await provision(input());
      const j = await Journal.open({ dir, readOnly: true });
      const identities = [...j.records()].filter((r) => r.type === RecordType.terminalIdentity).length;
      await j.close();
      assert.equal(identities, 1);
      assert.equal(await code(provision(input({ registryFile: join(work, 'other-station.json') }))), 'E-OPR-12', 'provisioned already');
    });

    it('refusesTheTestTmkTidAndMidOnARealBoardButAllowsThemOnTheSimulator', async () => {
      const handheld = readBoardFile('handheld').config;
      const tmk = TEST_IDS.tmkHex;
      const a = '0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F';
      const b = Buffer.from(tmk, 'hex').map((x, i) => x ^ Buffer.from(a, 'hex')[i]);
      const testComponents = [comp(a), comp(Buffer.from(b).toString('hex'))];
      assert.equal(await code(provision(input({ board: handheld, components: testComponents }))), 'E-KEY-03');
      assert.equal(await code(provision(input({ board: handheld, tid: TEST_IDS.tid }))), 'E-KEY-03');
      assert.equal(await code(provision(input({ board: handheld, mid: TEST_IDS.mid }))), 'E-KEY-03');
      assert.equal(existsSync(join(work, 'journal')), false, 'nothing written');
      const r = await provision(input({ components: testComponents }));
      assert.equal(r.testKeys, true);
    });

    it('makesTheMerchantsFirstAdministratorInTheIdentityCommitHashedAsTheLoginChecksIt', async () => {
      const dir = join(work, 'journal');
      const r = await provision(input({ merchantAdmin: { number: '88', password: '24681357' }, scryptN: 1 << 10 }));
      assert.deepEqual(r.merchantAdmin, { operator: '088', role: 'administrator' });
      assert.doesNotMatch(JSON.stringify(r), /24681357/, 'the report never carries the merchant\'s password');
      const bare = join(work, 'bare');
      await (await Journal.open({ dir: bare, identity: 'HH-000123' })).close();
      assert.equal(metaTxnId(dir), metaTxnId(bare), 'the operator came in the identity\'s commit');
      const j = await Journal.open({ dir, readOnly: true });
      const ops = [...j.records()].filter((x) => x.type === RecordType.operator).map((x) => x.payload);
      await j.close();
      assert.equal(ops.length, 1);
      const op = ops[0] as { number: string; role: string; salt: Buffer; scryptN: number; passwordHash: Buffer; locked: boolean; event: string };
      assert.deepEqual([op.number, op.role, op.locked, op.event, op.scryptN], ['088', 'administrator', false, 'created', 1 << 10]);
      // What Operators.login computes from the record: the right password matches, another does not.
      assert.ok((await hashPassword('24681357', Buffer.from(op.salt), op.scryptN)).equals(Buffer.from(op.passwordHash)));
      assert.ok(!(await hashPassword('24681358', Buffer.from(op.salt), op.scryptN)).equals(Buffer.from(op.passwordHash)));
      assert.ok(!readFileSync(join(dir, 'data.mdb')).includes(Buffer.from('24681357')), 'never in clear');
    });

    it('refusesAMerchantAdministratorWithTheServiceNumberOrABadPasswordBeforeWritingAnything', async () => {
      assert.equal(await code(provision(input({ merchantAdmin: { number: '0', password: '24681357' } }))), 'E-OPR-08', '000 is the service administrator');
      assert.equal(await code(provision(input({ merchantAdmin: { number: '88', password: '123' } }))), 'E-OPR-08', 'too short');
      assert.equal(await code(provision(input({ merchantAdmin: { number: '88', password: '12ab5678' } }))), 'E-OPR-08', 'not digits');
      assert.equal(await code(provision(input({ merchantAdmin: { number: '1234', password: '24681357' } }))), 'E-OPR-08', 'four digits');
      assert.equal(existsSync(join(work, 'journal')), false, 'nothing written');
      assert.equal(existsSync(join(work, 'registry.json')), false, 'the serial not registered');
    });

    it('checksEachComponentsKcvAndTheComponentCount', async () => {
      const c = comp('11111111111111112222222222222222');
      assert.equal(await code(provision(input({ components: [c, { ...comp('33333333333333334444444444444444'), kcvHex: '000000' }] }))), 'E-KEY-01');
      assert.equal(await code(provision(input({ components: [c] }))), 'E-OPR-08');
      const three = [c, comp('33333333333333334444444444444444'), comp('55555555555555556666666666666666')];
      assert.equal((await provision(input({ components: three }))).testKeys, false);
    });
  });
});

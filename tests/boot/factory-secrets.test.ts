/**
 * Issue 13 item 13: the factory station shows each terminal's service administrator password once,
 * on its console, and no file it writes holds it: reports, labels, registry, the terminals' work
 * folders. The password shown must be the real one (it opens that terminal's service login).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir } from '../../storage/testing';
import { main } from '../../boot/pos';
import { simulatedTerminals } from '../../boot/factory-station';
import { TestReport, readProvisionedTmk, writeReport } from '../../boot/factory';
import { Journal } from '../../storage/journal';
import { fileDeviceKey, fixedDeviceKey } from '../../runtime/device-key';
import { createHash } from 'node:crypto';
import { SERVICE_PASSWORD_DIGITS, serviceAdminCheck } from '../../boot/service-admin';
import { asset } from '../../common/assets';

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** The passwords the console showed, by serial (the lines under the heading). */
function shownPasswords(out: readonly string[]): Map<string, string> {
  const shown = new Map<string, string>();
  for (const line of out) {
    const m = new RegExp(`^\\s+(\\S+)\\s+(\\d{${SERVICE_PASSWORD_DIGITS}})$`).exec(line);
    if (m) shown.set(m[1], m[2]);
  }
  return shown;
}

async function assertNowhereOnDisk(root: string, passwords: Map<string, string>, reports = true): Promise<void> {
  const files = filesUnder(root);
  if (reports) assert.ok(files.some((f) => f.endsWith('.json') && !f.endsWith('registry.json')), 'control: reports were written');
  for (const [serial, password] of passwords) {
    // The password shown is the real one: it opens that terminal's service login.
    const admins = files.filter((f) => f.endsWith('service-admin.json'));
    const adminFile = admins.length === 1 ? admins[0] : admins.find((f) => f.includes(serial));
    assert.ok(adminFile, `service-admin.json of ${serial}`);
    assert.equal(await serviceAdminCheck(adminFile)('000', password), true, `the password shown for ${serial} opens its service login`);
    for (const f of files) assert.equal(readFileSync(f).includes(Buffer.from(password)), false, `${serial}'s password found in ${f}`);
  }
}

describe('factory station: the service password is shown once and never written (issue 13 item 13)', function () {
  this.timeout(120_000);
  let work: string;
  beforeEach(() => { work = mkdtempSync('/tmp/h-secrets-'); });
  afterEach(() => removeDir(work));

  it('simulatedStationShowsEachPasswordOnceOnTheConsoleAndNoFileHoldsIt', async () => {
    const out: string[] = [];
    const reports = join(work, 'reports');
    const code = await main(['factory', 'station', '--count', '2', '--serial', 'SEC', '--report-dir', reports, '--plain'], (l) => out.push(l), (l) => out.push(l));
    assert.equal(code, 0, out.join('\n'));
    const shown = shownPasswords(out);
    assert.deepEqual([...shown.keys()].sort(), ['SEC0001', 'SEC0002'], out.join('\n'));
    for (const pw of shown.values()) assert.equal(out.filter((l) => l.includes(pw)).length, 1, 'shown once');
    await assertNowhereOnDisk(work, shown);
    // The TMK is sealed under a random key file beside the terminal's journal, not one derived from the serial.
    const j = await Journal.open({ dir: join(reports, 'terminals', 'SEC0001', 'journal'), readOnly: true });
    try {
      assert.equal(readProvisionedTmk(j, fileDeviceKey(join(reports, 'terminals', 'SEC0001', 'device.key'))).length, 16);
      assert.throws(() => readProvisionedTmk(j, fixedDeviceKey(createHash('sha256').update('SEC0001').digest())), /E-KEY-02/);
    } finally {
      await j.close();
    }
    const report = JSON.parse(readFileSync(join(reports, 'SEC0001.json'), 'utf8')) as { provision?: { serviceAdmin?: { password?: string } } };
    assert.match(String(report.provision?.serviceAdmin?.password), /shown once/, 'the report says where it went');
  });

  it('posFactoryProvisionWithDirSealsUnderAKeyBesideThatJournalAndShowsThePasswordOnlyOnTheConsole', async () => {
    const [t] = simulatedTerminals(1, 'PRV');
    writeFileSync(join(work, 'components.txt'), t.components.map((c) => `${c.keyHex} ${c.kcvHex}`).join('\n') + '\n');
    const journalDir = join(work, 'terminal', 'journal');
    const out: string[] = [];
    const code = await main(['factory', 'provision', '--board', 'sim', '--serial', t.serial, '--tid', t.tid, '--mid', t.mid, '--components', join(work, 'components.txt'),
      '--dir', journalDir, '--registry', join(work, 'registry.json'), '--label-dir', join(work, 'labels')], (l) => out.push(l), (l) => out.push(l));
    assert.equal(code, 0, out.join('\n'));
    // The TMK opens under the key beside the journal, where the terminal and recovery look.
    const j = await Journal.open({ dir: journalDir, readOnly: true });
    try {
      assert.equal(readProvisionedTmk(j, fileDeviceKey(join(work, 'terminal', 'device.key'))).length, 16);
    } finally {
      await j.close();
    }
    const password = /password (\d+)/.exec(out.join('\n'))?.[1];
    assert.ok(password, out.join('\n'));
    await assertNowhereOnDisk(work, new Map([[t.serial, password]]), false);
  });

  it('aReportHandedTheWholeProvisioningResultStillWritesNoPassword', () => {
    const report = { serial: 'SEC0009', board: 'sim', startedAt: 'x', finishedAt: 'x', pass: true, tests: [], provision: { pass: true, servicePassword: '48151623' } };
    const file = writeReport(join(work, 'reports'), report as TestReport);
    assert.equal(readFileSync(file, 'utf8').includes('48151623'), false);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { serial: string }).serial, 'SEC0009');
  });

  it('boardStationChildSendsThePasswordBesideItsReportAndTheParentWritesNoneOfIt', async () => {
    const [t] = simulatedTerminals(1, 'BSEC');
    writeFileSync(join(work, 'components.txt'), t.components.map((c) => `${c.keyHex} ${c.kcvHex}`).join('\n') + '\n');
    const manifest = join(work, 'manifest.csv');
    writeFileSync(manifest, `serial,tid,mid,components\n${t.serial},${t.tid},${t.mid},components.txt\n`);
    const out: string[] = [];
    const code = await main(['factory', 'station', `--boards=${asset('board-configs', 'sim.json')}`, `--manifest=${manifest}`, '--report-dir', join(work, 'reports'), '--unattended', '--plain'], (l) => out.push(l), (l) => out.push(l));
    assert.ok(code === 0 || code === 5, out.join('\n'));
    const shown = shownPasswords(out);
    assert.deepEqual([...shown.keys()], [t.serial], out.join('\n'));
    await assertNowhereOnDisk(work, shown);
  });
});

/**
 * A TPM board provisioned by the flashing station (boot/first-boot-request.ts) and its first boot
 * (boot/first-boot-seal.ts), against software TPMs (swtpm, tests/support/swtpm.ts; each state
 * folder is its own chip): the station writes a request and no key; the first boot under TPM A
 * seals a fresh key, makes the journal (identity, TMK that opens with its KCV, the merchant's
 * administrator) and destroys the request; the data folder copied to a board with TPM B does not
 * open (E-KEY-07, nothing changed); a boot cut after the seal or after the journal resumes with
 * the same key; no TPM reachable keeps the request and makes nothing.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isPosError } from '../common/errors';
import { readBoardFile } from '../hal/board';
import type { BoardConfig } from '../hal/board-schema';
import { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { TPM_SEALED_FILE } from '../runtime/device-key-tpm';
import { deviceKeyProviderFor } from '../runtime/device-key-provider';
import { Swtpm, tpmsForSuite } from '../tests/support/swtpm';
import { KeyComponent, kcvOf, provision, readProvisionedTmk } from './factory';
import { FIRST_BOOT_REQUEST_FILE, readFirstBootRequest } from './first-boot-request';
import { completeFirstBootProvisioning } from './first-boot-seal';
import { main } from './pos';

/** tpm2-tools on a loaded 2-core machine: one command may take seconds. */
const TOOL_TIMEOUT_MS = 30_000;

function handheldWith(tcti: string): { file: string; config: BoardConfig } {
  const { file, config } = readBoardFile('handheld');
  return { file, config: { ...config, deviceKey: { provider: 'tpm2', tcti } } };
}

function comp(): KeyComponent {
  const key = randomBytes(16);
  return { keyHex: key.toString('hex').toUpperCase(), kcvHex: kcvOf(key) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return isPosError(e) ? e.code : `not a PosError: ${String(e)}`; }
  return 'no error';
}

/** What the station leaves for one terminal: the request (and the service administrator), no key, no journal. */
async function stationProvision(dir: string, tcti: string, serial: string): Promise<{ kcvTmk: string }> {
  const board = handheldWith(tcti);
  const r = await provision({
    serial, tid: `T${serial.slice(-7)}`, mid: `8981234567${serial.slice(-5)}`, components: [comp(), comp()], board: board.config, locale: 'en',
    journalDir: join(dir, 'journal'), registryFile: join(dir, '..', `${serial}-registry.json`), deviceKey: { sealAtFirstBoot: join(dir, FIRST_BOOT_REQUEST_FILE) },
    merchantAdmin: { number: '99', password: '24681357' }, scryptN: 1024,
  });
  return { kcvTmk: r.kcvTmk };
}

async function journalSummary(journalDir: string): Promise<{ serial?: string; administrators: string[] }> {
  const j = await Journal.open({ dir: journalDir, readOnly: true });
  try {
    const out: { serial?: string; administrators: string[] } = { administrators: [] };
    for (const r of j.records()) {
      if (r.type === RecordType.terminalIdentity) out.serial = String(r.payload.serial);
      if (r.type === RecordType.operator && r.payload.role === 'administrator') out.administrators.push(String(r.payload.number));
    }
    return out;
  } finally {
    await j.close();
  }
}

describe('boot/first-boot-seal: a TPM board flashed at the station seals its own key at first boot (swtpm)', function () {
  this.timeout(240_000);
  const tpms = tpmsForSuite('pos-first-boot-');
  let a: Swtpm;
  let b: Swtpm;
  before(() => { a = tpms.a(); b = tpms.b(); });

  it('theStationWritesARequestAndNoKeyTheFirstBootSealsMakesTheJournalAndDestroysTheRequestAnotherTpmCannotOpenIt', async () => {
    const dir = join(tpms.root(), 'board-1');
    const { kcvTmk } = await stationProvision(dir, a.tcti, 'TP-000001');
    assert.deepEqual(readdirSync(dir).sort(), [FIRST_BOOT_REQUEST_FILE, 'service-admin.json'], 'no journal and no key at the station');
    assert.equal(statSync(join(dir, FIRST_BOOT_REQUEST_FILE)).mode & 0o777, 0o600);
    assert.doesNotMatch(readFileSync(join(dir, FIRST_BOOT_REQUEST_FILE), 'utf8'), /24681357/, 'the merchant\'s password is hashed, not in the request');
    const board = handheldWith(a.tcti);
    const first = await completeFirstBootProvisioning({ board, journalDir: join(dir, 'journal'), tpmToolTimeoutMs: TOOL_TIMEOUT_MS });
    assert.equal(first, 'provisioned');
    assert.equal(existsSync(join(dir, FIRST_BOOT_REQUEST_FILE)), false, 'the request is destroyed');
    assert.ok(existsSync(join(dir, TPM_SEALED_FILE)), 'the key sealed by the TPM');
    assert.deepEqual(await journalSummary(join(dir, 'journal')), { serial: 'TP-000001', administrators: ['099'] });
    // A boot as the terminal does it: never creates a key; the TMK opens and has its KCV.
    const boot = deviceKeyProviderFor(board, dir, { create: false, tpmToolTimeoutMs: TOOL_TIMEOUT_MS });
    const j = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
    try {
      assert.equal(kcvOf(readProvisionedTmk(j, boot)), kcvTmk);
    } finally {
      await j.close();
    }
    assert.equal(await completeFirstBootProvisioning({ board, journalDir: join(dir, 'journal') }), 'none', 'the next boot has nothing to do');
    // The data partition copied to a board whose TPM is B: the key does not unseal.
    const copy = join(tpms.root(), 'board-1-copy');
    cpSync(dir, copy, { recursive: true });
    const onB = deviceKeyProviderFor(handheldWith(b.tcti), copy, { create: false, tpmToolTimeoutMs: TOOL_TIMEOUT_MS });
    let err: unknown;
    try { onB.deviceKey(); } catch (e) { err = e; }
    assert.ok(isPosError(err), String(err));
    assert.equal(err.code, 'E-KEY-07');
    assert.deepEqual(readdirSync(copy).sort(), readdirSync(dir).sort(), 'nothing changed on the copy');
  });

  it('aFirstBootCutAfterTheSealOrAfterTheJournalResumesWithTheSameKeyAndNoTpmKeepsTheRequest', async () => {
    const dir = join(tpms.root(), 'board-2');
    const { kcvTmk } = await stationProvision(dir, a.tcti, 'TP-000002');
    const saved = readFileSync(join(dir, FIRST_BOOT_REQUEST_FILE));
    // No TPM at the TCTI (a stopped chip): E-KEY-05, the request kept, nothing made.
    const gone = await tpms.start('tpm-gone');
    const goneTcti = gone.tcti;
    await gone.stop();
    assert.equal(await codeOf(completeFirstBootProvisioning({ board: handheldWith(goneTcti), journalDir: join(dir, 'journal'), tpmToolTimeoutMs: TOOL_TIMEOUT_MS })), 'E-KEY-05');
    assert.deepEqual(readdirSync(dir).sort(), [FIRST_BOOT_REQUEST_FILE, 'service-admin.json']);
    // Cut after the seal: the key is there, no journal yet.
    const board = handheldWith(a.tcti);
    const sealedKey = Buffer.from(deviceKeyProviderFor(board, dir, { create: true, tpmToolTimeoutMs: TOOL_TIMEOUT_MS }).deviceKey());
    assert.equal(await completeFirstBootProvisioning({ board, journalDir: join(dir, 'journal'), tpmToolTimeoutMs: TOOL_TIMEOUT_MS }), 'provisioned');
    const boot = deviceKeyProviderFor(board, dir, { create: false, tpmToolTimeoutMs: TOOL_TIMEOUT_MS });
    assert.ok(boot.deviceKey().equals(sealedKey), 'the key sealed before the cut, not a second one');
    // Cut after the journal, before the request was destroyed: kept, checked, request destroyed.
    cpSync(join(dir, 'journal'), join(dir, 'journal-before'), { recursive: true });
    writeFileSync(join(dir, FIRST_BOOT_REQUEST_FILE), saved, { mode: 0o600 });
    assert.equal(readFirstBootRequest(join(dir, FIRST_BOOT_REQUEST_FILE))?.serial, 'TP-000002');
    assert.equal(await completeFirstBootProvisioning({ board, journalDir: join(dir, 'journal'), tpmToolTimeoutMs: TOOL_TIMEOUT_MS }), 'resumed');
    assert.equal(existsSync(join(dir, FIRST_BOOT_REQUEST_FILE)), false);
    const j = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
    try {
      assert.equal(kcvOf(readProvisionedTmk(j, boot)), kcvTmk);
      assert.equal([...j.records()].filter((r) => r.type === RecordType.terminalIdentity).length, 1, 'one identity: nothing written twice');
    } finally {
      await j.close();
    }
  });

  it('theStationsSelfTestBootSealsTheKeyPosFactoryTestReportsItAndTheRequestIsGone', async () => {
    const dir = join(tpms.root(), 'board-4');
    // The simulator board (scripted keys and display) with its key in TPM A and storage here.
    const sim = JSON.parse(readFileSync(join(__dirname, '..', 'board-configs', 'sim.json'), 'utf8')) as Record<string, unknown>;
    const boardFile = join(tpms.root(), 'sim-tpm.json');
    writeFileSync(boardFile, JSON.stringify({ ...sim, storage: { journalDir: join(dir, 'journal'), backupDir: join(dir, 'backup') }, deviceKey: { provider: 'tpm2', tcti: a.tcti } }));
    await provision({
      serial: 'TP-000004', tid: 'TP000004', mid: '898123456700004', components: [comp(), comp()], board: readBoardFile(boardFile).config, locale: 'en',
      journalDir: join(dir, 'journal'), registryFile: join(tpms.root(), 'TP-000004-registry.json'), deviceKey: { sealAtFirstBoot: join(dir, FIRST_BOOT_REQUEST_FILE) }, scryptN: 1024,
    });
    const lines: string[] = [];
    const code = await main(['factory', 'test', '--serial', 'TP-000004', '--board', boardFile, '--report-dir', join(dir, 'reports')], (l) => lines.push(l), (l) => lines.push(l));
    const report = JSON.parse(readFileSync(join(dir, 'reports', 'TP-000004.json'), 'utf8')) as { pass: boolean; tests: Array<{ name: string; pass: boolean; values: Record<string, unknown> }> };
    assert.deepEqual(report.tests[0], { ...report.tests[0], name: 'device key sealed by the TPM', pass: true, values: { outcome: 'provisioned' } });
    assert.equal(code, report.pass ? 0 : 5, lines.join('\n'));
    assert.equal(existsSync(join(dir, FIRST_BOOT_REQUEST_FILE)), false, 'the request is gone');
    assert.deepEqual(await journalSummary(join(dir, 'journal')), { serial: 'TP-000004', administrators: [] });
  });

  it('aDamagedRequestIsRefusedWithE_KEY_06AndNothingIsMade', async () => {
    const dir = join(tpms.root(), 'board-3');
    await stationProvision(dir, a.tcti, 'TP-000003');
    const file = join(dir, FIRST_BOOT_REQUEST_FILE);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/"tid":"[^"]+"/, '"tid":"EVIL0001"'));
    assert.equal(await codeOf(completeFirstBootProvisioning({ board: handheldWith(a.tcti), journalDir: join(dir, 'journal'), tpmToolTimeoutMs: TOOL_TIMEOUT_MS })), 'E-KEY-06');
    assert.deepEqual(readdirSync(dir).sort(), [FIRST_BOOT_REQUEST_FILE, 'service-admin.json'], 'no key sealed, no journal');
  });
});

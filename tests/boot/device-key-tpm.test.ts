/**
 * Issue 15 item 6: the device key sealed by a TPM 2.0 (runtime/device-key-tpm.ts) and chosen by
 * the board file (runtime/device-key-provider.ts), against real software TPMs (swtpm) started on
 * loopback, each with its own state folder (= its own chip). Provisioned under TPM A, the key
 * unseals under A (also after A is power-cycled) and never under B: a data partition copied to
 * another board does not open. Damaged files, a missing file, a stopped TPM and a real board
 * without an explicit allowance for the plain file each give their own code.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { tempDir, removeDir } from '../../storage/testing';
import { Journal } from '../../storage/journal';
import { readBoardFile } from '../../hal/board';
import { BoardConfig, validateBoard } from '../../hal/board-schema';
import { checkDeviceKey, DEVICE_KEY_BYTES, fileDeviceKey } from '../../runtime/device-key';
import { TPM_SEALED_FILE, formatSealed, parseSealed, tpmDeviceKey } from '../../runtime/device-key-tpm';
import { DEVICE_KEY_FILE, deviceKeyProviderFor } from '../../runtime/device-key-provider';
import { isPosError } from '../../common/errors';
import { KeyComponent, kcvOf, provision, readProvisionedTmk } from '../../boot/factory';
import { Swtpm, tpmsForSuite } from '../support/swtpm';

/** The code a call fails with ('no error' when it does not). */
function codeOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    return isPosError(e) ? e.code : `not a PosError: ${String(e)}`;
  }
}

function errorOf(f: () => unknown): Error {
  try { f(); } catch (e) { return e as Error; }
  throw new Error('no error');
}

const comp = (hex: string): KeyComponent => ({ keyHex: hex, kcvHex: kcvOf(Buffer.from(hex, 'hex')) });

/** The handheld's board file with the TPM at `tcti` (a test's swtpm instead of /dev/tpmrm0). */
function handheldWith(tcti: string): { file: string; config: BoardConfig } {
  const { file, config } = readBoardFile('handheld');
  return { file, config: { ...config, deviceKey: { provider: 'tpm2', tcti } } };
}

function digestOfDir(dir: string): string {
  const h = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isFile()) h.update(name).update(readFileSync(p));
  }
  return h.digest('hex');
}

describe('device key sealed by a TPM 2.0 (swtpm)', function () {
  this.timeout(120_000);
  const tpms = tpmsForSuite('pos-devkey-tpm-');
  let root: string;
  let a: Swtpm;
  let b: Swtpm;
  before(() => { root = tpms.root(); a = tpms.a(); b = tpms.b(); });

  it('provisionedUnderTpmAUnsealsUnderAOnceAfterAPowerCycleAndTheFileNeverHoldsTheKey', async () => {
    const dir = join(root, 'terminal-1');
    const provisioning = tpmDeviceKey({ tcti: a.tcti, sealedFile: join(dir, TPM_SEALED_FILE), create: true });
    const key = Buffer.from(provisioning.deviceKey());
    assert.equal(key.length, DEVICE_KEY_BYTES);
    const file = readFileSync(join(dir, TPM_SEALED_FILE));
    assert.equal(statSync(join(dir, TPM_SEALED_FILE)).mode & 0o777, 0o600);
    assert.equal(file.includes(key), false, 'the sealed file does not hold the key in clear');
    assert.deepEqual(readdirSync(dir), [TPM_SEALED_FILE], 'nothing else written beside the journal (no temp file left, no key file)');
    // A boot: never creates, unseals what provisioning sealed, and caches it (one unseal per boot).
    const boot = tpmDeviceKey({ tcti: a.tcti, sealedFile: join(dir, TPM_SEALED_FILE), create: false });
    assert.ok(boot.deviceKey().equals(key));
    const unsealMs = boot.lastUnsealMs() ?? NaN;
    assert.equal(boot.deviceKey(), boot.deviceKey(), 'cached: the same buffer, no second unseal');
    // Power cycle: the same chip (same state folder) on another port.
    await a.stop();
    // Through the suite's helper: the restarted chip is stopped after the suite (a bare
    // Swtpm.start here was never stopped and outlived the run).
    a = await tpms.start('tpm-a');
    const again = tpmDeviceKey({ tcti: a.tcti, sealedFile: join(dir, TPM_SEALED_FILE), create: false });
    assert.ok(again.deviceKey().equals(key), 'TPM A after a power cycle unseals the same key');
    // Baseline in the same run: the plain key file's read.
    writeFileSync(join(root, 'plain.key'), key, { mode: 0o600 });
    const t0 = process.hrtime.bigint();
    fileDeviceKey(join(root, 'plain.key')).deviceKey();
    const fileMs = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`      unseal at boot under swtpm: ${unsealMs.toFixed(1)} ms, after a power cycle ${(again.lastUnsealMs() ?? NaN).toFixed(1)} ms (baseline, the plain key file: ${fileMs.toFixed(2)} ms)`);
  });

  it('theSameFileUnderTpmBIsRefusedWithEKey07AndNothingIsChanged', () => {
    const dir = join(root, 'terminal-2');
    const key = Buffer.from(tpmDeviceKey({ tcti: a.tcti, sealedFile: join(dir, TPM_SEALED_FILE), create: true }).deviceKey());
    const copied = join(root, 'copied-2');
    mkdirSync(copied);
    copyFileSync(join(dir, TPM_SEALED_FILE), join(copied, TPM_SEALED_FILE));
    const before = digestOfDir(copied);
    // Even a provisioning run (create) on B must not replace the file: it refuses.
    for (const create of [false, true]) {
      const e = errorOf(() => tpmDeviceKey({ tcti: b.tcti, sealedFile: join(copied, TPM_SEALED_FILE), create }).deviceKey());
      assert.ok(isPosError(e) && e.code === 'E-KEY-07', String(e));
      assert.match(e.message, /another TPM/);
      assert.equal(e.message.includes(key.toString('hex')), false);
    }
    assert.equal(digestOfDir(copied), before, 'the copied folder is byte for byte as it was');
    assert.ok(tpmDeviceKey({ tcti: a.tcti, sealedFile: join(copied, TPM_SEALED_FILE), create: false }).deviceKey().equals(key), 'and still opens on its own TPM');
  });

  it('aTruncatedGarbledOrEmptyFileIsEKey08AndAnAlteredPrivatePartTheTpmRefusesIsEKey07', () => {
    const dir = join(root, 'terminal-3');
    const sealed = join(dir, TPM_SEALED_FILE);
    tpmDeviceKey({ tcti: a.tcti, sealedFile: sealed, create: true }).deviceKey();
    const good = readFileSync(sealed);
    const open = (): string => codeOf(() => tpmDeviceKey({ tcti: a.tcti, sealedFile: sealed, create: false }).deviceKey());
    const damaged: Array<[string, Buffer]> = [
      ['truncated', good.subarray(0, good.length - 40)],
      ['one byte flipped', Buffer.from(good.map((x, i) => (i === 60 ? x ^ 0x01 : x)))],
      ['empty', Buffer.alloc(0)],
      ['another file', Buffer.from('{"not":"a sealed key"}')],
    ];
    for (const [what, bytes] of damaged) {
      writeFileSync(sealed, bytes);
      assert.equal(open(), 'E-KEY-08', what);
    }
    // Well-formed (checksum recomputed) but the TPM's integrity check fails: the TPM refuses.
    const parts = parseSealed(good, sealed);
    const priv = Buffer.from(parts.priv);
    priv[priv.length - 5] ^= 0x01;
    writeFileSync(sealed, formatSealed({ pub: parts.pub, priv }));
    assert.equal(open(), 'E-KEY-07');
    writeFileSync(sealed, good);
    assert.equal(open(), 'no error', 'the good file opens again');
  });

  it('noSealedFileAtBootIsEKey06AndNothingIsCreated', () => {
    const dir = join(root, 'terminal-4');
    mkdirSync(dir);
    const e = errorOf(() => tpmDeviceKey({ tcti: a.tcti, sealedFile: join(dir, TPM_SEALED_FILE), create: false }).deviceKey());
    assert.ok(isPosError(e) && e.code === 'E-KEY-06', String(e));
    assert.match(e.message, /factory station/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('aStoppedOrAbsentTpmIsEKey05NamingTheTcti', async () => {
    const dir = join(root, 'terminal-5');
    const c = await tpms.start('tpm-c');
    tpmDeviceKey({ tcti: c.tcti, sealedFile: join(dir, TPM_SEALED_FILE), create: true }).deviceKey();
    await c.stop();
    const scratchDir = join(root, 'scratch-5');
    mkdirSync(scratchDir);
    const e = errorOf(() => tpmDeviceKey({ tcti: c.tcti, sealedFile: join(dir, TPM_SEALED_FILE), create: false, scratchDir }).deviceKey());
    assert.ok(isPosError(e) && e.code === 'E-KEY-05', String(e));
    assert.ok(e.message.includes(c.tcti), e.message);
    assert.deepEqual(readdirSync(scratchDir), [], 'the tools\' private folder is removed after a failure too');
    // No TPM device on this machine at all: the same code.
    assert.equal(codeOf(() => tpmDeviceKey({ tcti: 'device:/dev/tpmrm9', sealedFile: join(dir, TPM_SEALED_FILE), create: false }).deviceKey()), 'E-KEY-05');
  });

  it('theKeyNeverAppearsInAToolsArgumentsItGoesThroughPipes', () => {
    // Shims ahead of the real tools on PATH record every argv, then run the real tool.
    const shims = join(root, 'shims');
    const argvLog = join(root, 'argv.log');
    mkdirSync(shims);
    for (const tool of ['tpm2_createprimary', 'tpm2_create', 'tpm2_load', 'tpm2_unseal', 'tpm2_flushcontext', 'tpm2_getrandom']) {
      writeFileSync(join(shims, tool), `#!/bin/sh\necho "${tool} $*" >> '${argvLog}'\nexec /usr/bin/${tool} "$@"\n`);
      chmodSync(join(shims, tool), 0o755);
    }
    const path = process.env.PATH;
    process.env.PATH = `${shims}:${path ?? ''}`;
    try {
      const sealed = join(root, 'terminal-6', TPM_SEALED_FILE);
      const key = tpmDeviceKey({ tcti: a.tcti, sealedFile: sealed, create: true }).deviceKey();
      assert.ok(tpmDeviceKey({ tcti: a.tcti, sealedFile: sealed, create: false }).deviceKey().equals(key));
      const log = readFileSync(argvLog, 'utf8');
      assert.match(log, /tpm2_create -C \S+ -i - /, 'the key goes to tpm2_create on stdin');
      assert.match(log, /tpm2_unseal -c \S+\n/, 'and comes back on stdout');
      for (const form of [key.toString('hex'), key.toString('base64'), key.toString('latin1')]) assert.equal(log.includes(form), false);
    } finally {
      process.env.PATH = path;
    }
  });

  it('factoryProvisioningOfAHandheldUnderTpmAOpensItsJournalUnderAAndNotUnderB', async () => {
    const dir = join(root, 'handheld-1');
    const journalDir = join(dir, 'journal');
    const boardA = handheldWith(a.tcti);
    await provision({
      serial: 'HH-TPM-0001', tid: '87654321', mid: '876543210987654', locale: 'zh-CN', board: boardA.config,
      components: [comp('11111111111111112222222222222222'), comp('33333333333333334444444444444444')],
      journalDir, registryFile: join(root, 'registry.json'), deviceKey: deviceKeyProviderFor(boardA, dir, { create: true }), scryptN: 1024,
    });
    assert.ok(existsSync(join(dir, TPM_SEALED_FILE)));
    assert.equal(existsSync(join(dir, DEVICE_KEY_FILE)), false, 'no plain key file on a TPM board');
    const j = await Journal.open({ dir: journalDir, readOnly: true });
    try {
      const bootA = deviceKeyProviderFor(boardA, dir);
      assert.equal(checkDeviceKey(j, bootA), 'matched');
      assert.equal(readProvisionedTmk(j, bootA).toString('hex'), '22222222222222226666666666666666');
      assert.equal(codeOf(() => checkDeviceKey(j, deviceKeyProviderFor(handheldWith(b.tcti), dir))), 'E-KEY-07');
    } finally {
      await j.close();
    }
  });
});

describe('device key provider chosen by the board file', () => {
  let root: string;
  beforeEach(() => { root = tempDir('pos-devkey-board-'); });
  afterEach(() => removeDir(root));

  const realBoard = (deviceKey?: unknown): { file: string; config: BoardConfig } => {
    const raw = JSON.parse(readFileSync(join(__dirname, '../../board-configs/rpi-dev.json'), 'utf8')) as Record<string, unknown>;
    delete raw.deviceKey;
    return { file: 'test-board.json', config: validateBoard(deviceKey === undefined ? raw : { ...raw, deviceKey }, 'test-board.json') };
  };

  it('aRealBoardWithoutDeviceKeyOrWithThePlainFileUnallowedIsRefusedWithEKey04SayingWhatToWrite', () => {
    for (const dk of [undefined, { provider: 'file' }, { provider: 'file', allowPlainFile: false }]) {
      const p = deviceKeyProviderFor(realBoard(dk), root, { create: true });
      const e = errorOf(() => p.deviceKey());
      assert.ok(isPosError(e) && e.code === 'E-KEY-04', `${JSON.stringify(dk)}: ${String(e)}`);
      assert.match(e.message, /test-board\.json/);
      assert.match(e.message, /"provider": "tpm2"/);
      assert.match(e.message, /"allowPlainFile": true/);
    }
    assert.deepEqual(readdirSync(root), [], 'no key file written');
  });

  it('provisioningARealBoardThatAllowsNoProviderFailsWithEKey04BeforeAnythingIsWritten', async () => {
    const board = realBoard();
    let code = 'no error';
    try {
      await provision({
        serial: 'PI-0001', tid: '87654321', mid: '876543210987654', locale: 'zh-CN', board: board.config,
        components: [comp('11111111111111112222222222222222'), comp('33333333333333334444444444444444')],
        journalDir: join(root, 'journal'), registryFile: join(root, 'registry.json'), deviceKey: deviceKeyProviderFor(board, root, { create: true }), scryptN: 1024,
      });
    } catch (e) {
      code = isPosError(e) ? e.code : String(e);
    }
    assert.equal(code, 'E-KEY-04');
    assert.deepEqual(readdirSync(root).filter((n) => n !== 'registry.json' || JSON.parse(readFileSync(join(root, n), 'utf8')).serials?.['PI-0001'] !== undefined), [], 'no journal, key or registry entry');
  });

  it('aRealBoardThatAllowsThePlainFileUsesItButNeverCreatesOneAtBoot', () => {
    const board = realBoard({ provider: 'file', allowPlainFile: true });
    assert.equal(codeOf(() => deviceKeyProviderFor(board, root).deviceKey()), 'E-KEY-06');
    const made = deviceKeyProviderFor(board, root, { create: true }).deviceKey();
    assert.ok(deviceKeyProviderFor(board, root).deviceKey().equals(made));
    assert.ok(readFileSync(join(root, DEVICE_KEY_FILE)).equals(made));
  });

  it('theSimulatorBoardKeepsTheFileAndCreatesItAtItsFirstBoot', () => {
    const sim = readBoardFile('sim');
    assert.deepEqual(sim.config.deviceKey, { provider: 'file', allowPlainFile: false });
    const key = deviceKeyProviderFor(sim, root).deviceKey();
    assert.ok(readFileSync(join(root, DEVICE_KEY_FILE)).equals(key));
  });

  it('shippedBoardFilesSayWhichProviderEachUses', () => {
    assert.deepEqual(readBoardFile('handheld').config.deviceKey, { provider: 'tpm2', tcti: 'device:/dev/tpmrm0' });
    assert.deepEqual(readBoardFile('rpi-dev').config.deviceKey, { provider: 'file', allowPlainFile: true });
    assert.equal(readBoardFile('bench-rig').config.deviceKey?.provider, 'file');
  });

  it('theBoardSchemaRefusesABadDeviceKeySectionNamingTheFileAndField', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ provider: 'tpm2' }, /test-board\.json: field "deviceKey\.tcti" is required/],
      [{ provider: 'tpm2', tcti: 'device:/dev/sda' }, /field "deviceKey\.tcti" must be/],
      [{ provider: 'tpm2', tcti: 'swtpm:host=127.0.0.1,port=2321', allowPlainFile: true }, /field "deviceKey\.allowPlainFile" is only for provider "file"/],
      [{ provider: 'se050' }, /field "deviceKey\.provider" must be one of "file", "tpm2"/],
      [{ provider: 'file', allowPlainfile: true }, /field "deviceKey\.allowPlainfile" is not a known field/],
      [{ provider: 'file', allowPlainFile: 'yes' }, /field "deviceKey\.allowPlainFile" must be true or false/],
    ];
    for (const [dk, message] of bad) {
      const e = errorOf(() => realBoard(dk));
      assert.ok(isPosError(e) && e.code === 'E-BRD-01', String(e));
      assert.match(e.message, message);
    }
  });
});

/**
 * `pos factory`'s flags are read with the `pos` command line's own helpers (boot/cli.ts flagString,
 * intFlag), as every other command's: boot/factory-cli.ts kept its own valueOf and intFlag, whose
 * "must be a whole number" was an operating error (E-OPR-08, exit 2, no usage line) where every
 * other command says the command line is wrong (exit 64 and the usage line).
 * Range checks of a whole number (--count 1..64, --timeout-ms at least 1000) are unchanged.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir } from '../../storage/testing';
import { COMMANDS, main } from '../../boot/pos';
import { EXIT_USAGE } from '../../boot/cli';

const BOOT = join(__dirname, '..', '..', 'boot');

describe('pos factory: flags read as the pos command line reads them', function () {
  this.timeout(60_000);
  let work: string;
  beforeEach(() => { work = mkdtempSync(join(tmpdir(), 'pos-factory-flags-')); });
  afterEach(() => removeDir(work));

  async function pos(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, (l) => out.push(l), (l) => err.push(l));
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  /** factory flash's required flags, with a one-terminal manifest: what comes after them is read. */
  function flashArgs(): string[] {
    const manifest = join(work, 'manifest.csv');
    writeFileSync(manifest, `serial,tid,mid,components\nFL-0001,FT000001,898123456700001,${'11'.repeat(16)}/AAAAAA;${'22'.repeat(16)}/BBBBBB\n`);
    return ['factory', 'flash', '--image', join(work, 'none.posupd'), '--rootfs', join(work, 'none.tar'), '--board', 'qemu-x86', '--targets', join(work, 'FL-0001.img'),
      '--manifest', manifest, '--report-dir', join(work, 'reports'), '--work-dir', join(work, 'flash-work')];
  }

  it('flashsNumberFlagsThatAreNotWholeNumbersExit64WithTheUsageLine', async () => {
    const usage = COMMANDS.find((c) => c.name === 'factory flash')!.usage;
    for (const [flag, value] of [['concurrency', 'abc'], ['boot-concurrency', '1.5'], ['concurrency', '-2']]) {
      const r = await pos(...flashArgs(), `--${flag}`, value);
      assert.equal(r.code, EXIT_USAGE, `--${flag} ${value}: ${r.err}`);
      assert.equal(r.err, `pos factory flash: --${flag} must be a whole number (got "${value}")\nusage: pos ${usage}`);
      assert.doesNotMatch(r.err, /E-OPR-08/, 'the command line, not an operating error');
      assert.equal(r.out, '', 'nothing ran');
    }
    assert.deepEqual(readdirSync(work), ['manifest.csv'], 'no target, report or work folder made');
  });

  it('flashsUsageNamesItsNumberFlagsAsNSoTheCommonCheckRefusesThemBeforeTheManifestIsRead', async () => {
    const usage = COMMANDS.find((c) => c.name === 'factory flash')!.usage;
    for (const flag of ['concurrency', 'boot-concurrency', 'boot-timeout-ms']) assert.match(usage, new RegExp(`--${flag} N\\b`), flag);
    // A manifest that is not there: the number flag is still what is reported (checked first).
    const args = flashArgs();
    args[args.indexOf('--manifest') + 1] = join(work, 'absent.csv');
    const r = await pos(...args, '--concurrency', 'eight');
    assert.equal(r.code, EXIT_USAGE, r.err);
    assert.match(r.err, /^pos factory flash: --concurrency must be a whole number \(got "eight"\)/);
  });

  it('flashsSizesTypedWrongExit64WithTheUsageLineNotAnOperatingError', async () => {
    const usage = COMMANDS.find((c) => c.name === 'factory flash')!.usage;
    for (const value of ['512,768', '512,768,abc', '512,768,0', '512,,128', '1.5,768,128', '512,768,128,1']) {
      const r = await pos(...flashArgs(), '--sizes', value);
      assert.equal(r.code, EXIT_USAGE, `--sizes ${value}: ${r.err}`);
      assert.equal(r.err, `pos factory flash: --sizes is ROOT,POS,DATA in whole MiB of at least 1, e.g. 512,768,128 (got "${value}")\nusage: pos ${usage}`);
    }
    assert.deepEqual(readdirSync(work), ['manifest.csv'], 'nothing ran');
  });

  it('theStationsCountAndTimeoutAreStillRangeCheckedAsBefore', async () => {
    const count = await pos('factory', 'station', '--count', '65', '--report-dir', join(work, 'reports'), '--plain');
    assert.equal(count.code, 2, count.err);
    assert.match(count.err, /--count is 1\.\.64/);
    const timeout = await pos('factory', 'station', '--count', '1', '--timeout-ms=999', '--report-dir', join(work, 'reports'), '--plain');
    assert.equal(timeout.code, 2, timeout.err);
    assert.match(timeout.err, /--timeout-ms must be an integer of at least 1000/);
    assert.equal(existsSync(join(work, 'reports')), false, 'nothing ran');
  });

  it('noCommandFileOfBootKeepsFlagHelpersOfItsOwn', () => {
    // One parser for every command: a copy drifts (factory-cli's intFlag exited 2 where cli.ts's exits 64).
    const own = /^(export )?function (intFlag|valueOf|flagString|wholeNumber)\(/m;
    const files = readdirSync(BOOT).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'cli.ts');
    assert.deepEqual(files.filter((f) => own.test(readFileSync(join(BOOT, f), 'utf8'))), []);
  });
});

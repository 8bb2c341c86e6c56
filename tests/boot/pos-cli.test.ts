/**
 * The `pos` command line as a person types it (issue 13 item 18). Each fault is tested as a
 * class over every command it can reach, taken from the command list itself, so a command added
 * later is covered too: every whole-number flag refuses a non-number, every required input is
 * named when missing (before anything is opened), every group named alone prints its usage,
 * every read-only command refuses a missing directory without creating it, and stdout closed by
 * its reader (`| head`) ends the process quietly. EPIPE runs `pos` in a child process, as a shell
 * pipeline does.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main, COMMANDS, FLAG_RULES } from '../../boot/pos';
import { Command, EXIT_OUTPUT_CLOSED, EXIT_USAGE, UsageError, checkFlags, numericFlags, requiredFlags, usageFlags, usagePositionalsMax } from '../../boot/cli';
import { Journal } from '../../storage/journal';
import { createServiceAdmin, serviceAdminFile } from '../../boot/service-admin';
import { removeDir, tempDir } from '../../storage/testing';
import { nodeArgsFor } from '../../common/spawn';
import { buildPackage, generateUpdateKeys, updateStatus } from '../../boot/update';
import { initSlots } from '../../boot/update-slots';

const REPO = join(__dirname, '..', '..');
export const CHILD_EXIT_MS_MAX = 60_000;

interface Run { code: number; out: string; err: string }

async function pos(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => { out.push(l); }, (l) => { err.push(l); });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Environment variables that stand in for flags: unset, so "missing" means missing. */
const STAND_INS = ['POS_ADMIN_PASSWORD', 'POS_BACKUP_PASSPHRASE', 'POS_JOURNAL_DIR', 'POS_UPDATE_ROOT', 'POS_BOARD'] as const;

describe('pos command line: what a person types wrong is named, nothing is ignored or created', function () {
  this.timeout(CHILD_EXIT_MS_MAX);
  let root: string;
  const saved = new Map<string, string | undefined>();
  beforeEach(() => {
    root = tempDir('h-cli-');
    for (const k of STAND_INS) { saved.set(k, process.env[k]); delete process.env[k]; }
  });
  afterEach(() => {
    for (const [k, v] of saved) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
    removeDir(root);
  });

  it('everyWholeNumberFlagOfEveryCommandRefusesANonNumberWithTheUsageExitCode', async () => {
    let checked = 0;
    for (const c of COMMANDS) {
      // --dir where the command takes one: nothing may be made there (a flag it does not take is refused first).
      const dir = usageFlags(c.usage).includes('dir') ? ['--dir', join(root, 'missing')] : [];
      for (const flag of numericFlags(c.usage)) {
        const r = await pos(...c.name.split(' '), `--${flag}`, 'abc', ...dir);
        assert.equal(r.code, EXIT_USAGE, `pos ${c.name} --${flag} abc: ${r.err}`);
        assert.match(r.err, new RegExp(`--${flag} must be a whole number.*"abc"`), `pos ${c.name}`);
        assert.match(r.err, new RegExp(`usage: pos ${c.name}`), 'the usage line follows');
        checked++;
      }
    }
    assert.ok(checked >= 8, `only ${checked} number flags found in the usage lines`);
    assert.equal(existsSync(join(root, 'missing')), false, 'nothing ran');
  });

  it('journalDumpFromAbcIsRefusedInsteadOfDumpingEverything', async () => {
    const r = await pos('journal', 'dump', '--from', 'abc');
    assert.equal(r.code, EXIT_USAGE);
    assert.equal(r.out, '', 'no record printed');
    assert.match(r.err, /--from must be a whole number \(got "abc"\)/);
    const noDays = await pos('simulate', 'soak', '--days', '0');
    assert.equal(noDays.code, EXIT_USAGE, 'a soak of no days is refused, not a pass');
    assert.match(noDays.err, /--days.*at least 1/);
    const swapped = await pos('journal', 'dump', '--from', '3', '--to', '1', '--dir', root);
    assert.equal(swapped.code, EXIT_USAGE, 'an empty range is refused, not an empty dump');
    assert.match(swapped.err, /--to 1 is before --from 3/);
  });

  it('aMistypedOptionIsRefusedNotIgnored', async () => {
    const r = await pos('journal', 'dump', '--form', '3');
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.err, /unknown option --form/);
    const bare = await pos('journal', 'verify', '--dir');
    assert.equal(bare.code, EXIT_USAGE);
    assert.match(bare.err, /--dir needs a value/);
  });

  it('everyCommandWhoseUsageNamesNoWordRefusesAStrayWordWithExit64BeforeRunning', async () => {
    const taking = COMMANDS.filter((c) => usagePositionalsMax(c, FLAG_RULES.value) > 0).map((c) => c.name);
    assert.deepEqual(taking, ['control', 'update apply'], 'the commands whose usage names a word: they check their own');
    for (const c of COMMANDS.filter((x) => !taking.includes(x.name))) {
      // One stray word, and two.
      for (const argv of [[...c.name.split(' '), 'extra'], [...c.name.split(' '), 'a', 'b']]) {
        const r = await pos(...argv);
        assert.equal(r.code, EXIT_USAGE, `${argv.join(' ')}: ${r.err}`);
        assert.match(r.err, new RegExp(`^pos ${c.name}: unexpected words? "${argv[argv.length - 1] === 'b' ? 'a" "b' : 'extra'}": this command takes only options`), r.err);
        assert.match(r.err, new RegExp(`\nusage: pos ${c.name} `), r.err);
      }
    }
    // journal dump's range is --from N --to N, not a word: refused, not a dump of everything.
    const dump = await pos('journal', 'dump', '--dir', root, '5');
    assert.equal(dump.code, EXIT_USAGE, dump.err);
    assert.equal(dump.out, '', 'nothing dumped');
  });

  it('everyRequiredFlagOfEveryCommandIsNamedWhenMissingBeforeAnythingIsOpened', async () => {
    const dir = tempDir('h-cli-journal-');
    try {
      let checked = 0;
      for (const c of COMMANDS) {
        // Alternatives (`a | b`) outside the optional groups cannot be read as one list of required
        // flags (factory station, update apply check their own); inside a `[...]` they are optional.
        let bare = c.usage;
        for (let before = ''; before !== bare;) { before = bare; bare = bare.replace(/\[[^[\]]*\]/g, ''); }
        if (bare.includes('|')) continue;
        const required = requiredFlags(c.usage);
        if (required.length === 0) continue;
        // --dir where the command takes one (a flag it does not take is refused before the missing ones).
        const r = await pos(...c.name.split(' '), ...(usageFlags(c.usage).includes('dir') ? ['--dir', dir] : []));
        assert.equal(r.code, EXIT_USAGE, `pos ${c.name} with nothing: ${r.err}`);
        assert.match(r.err, /--[a-z-]+ .*is missing/, `pos ${c.name}: ${r.err}`);
        const named = /--([a-z-]+)/.exec(r.err)?.[1];
        assert.ok(named !== undefined && required.includes(named), `pos ${c.name} names --${named}, one of ${required.join(', ')}`);
        assert.doesNotMatch(r.err, /E-[A-Z]{3}-\d\d/, `pos ${c.name}: a missing flag is not an operating error`);
        checked++;
      }
      assert.ok(checked >= 12, `only ${checked} commands with required flags`);
      assert.deepEqual(readdirSync(dir), [], 'no command created anything in the journal directory');
    } finally {
      removeDir(dir);
    }
  });

  it('recoveryRepairWithoutAnOperatorSaysWhichFlagIsMissing', async () => {
    process.env.POS_ADMIN_PASSWORD = '123456';
    const r = await pos('recovery', 'repair', '--dir', root);
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.err, /--operator N .* is missing/);
    assert.doesNotMatch(r.err, /does not exist/);
    delete process.env.POS_ADMIN_PASSWORD;
    const noPassword = await pos('recovery', 'repair', '--operator', '00', '--dir', root);
    assert.equal(noPassword.code, EXIT_USAGE);
    assert.match(noPassword.err, /--password-file F .* is missing \(or set \$POS_ADMIN_PASSWORD\)/);
  });

  it('aFileNamedOnTheCommandLineThatIsMissingIsNamedWithACodeNotARawEnoent', async () => {
    const missing = join(root, 'no-such-file');
    const runs = [
      ['factory', 'provision', '--serial', 'S1', '--tid', '12345678', '--mid', '123456789012345', '--components', missing, '--dir', root],
      ['recovery', 'salvage', '--operator', '00', '--password-file', missing, '--dir', root],
      ['factory', 'mgmt', '--password-file', missing, '--dir', root],
    ];
    for (const argv of runs) {
      const r = await pos(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, new RegExp(`cannot use ${missing}: no such file`), argv.join(' '));
      assert.match(r.err, /E-OPR-08/);
      assert.doesNotMatch(r.err, /ENOENT/);
    }
    assert.deepEqual(readdirSync(root), [], 'nothing made');
  });

  it('aFolderGivenForAFileAFileForANewFolderAndABadKeyFileAreNamedWithACodeNotARawError', async () => {
    const folder = join(root, 'a-folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'terminal.js'), '0');
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const notPem = join(root, 'not-a-key.pem');
    writeFileSync(notPem, 'not a key');
    const runs: Array<[string[], RegExp]> = [
      [['factory', 'provision', '--serial', 'S1', '--tid', '12345678', '--mid', '123456789012345', '--components', folder, '--dir', join(root, 'j')], /is a folder, not a file/],
      [['update', 'keygen', '--out', file], /already exists/],
      [['update', 'build', '--from', folder, '--key', notPem, '--version', '1.0.0', '--board', 'sim', '--out', join(root, 'out.posupd')], /key or certificate file could not be read/],
    ];
    for (const [argv, why] of runs) {
      const r = await pos(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, why, argv.join(' '));
      assert.match(r.err, /E-OPR-08/);
      assert.doesNotMatch(r.err, /^error: /m, 'not the raw error line');
    }
    const mgmt = await pos('factory', 'mgmt', '--password-file', folder, '--dir', join(root, 'j'));
    assert.equal(mgmt.code, 2, mgmt.err);
    assert.match(mgmt.err, /is a folder, not a file/);
    // A station fault that does not exist, or for a terminal not in the run, is refused before anything runs.
    for (const faults of ['9:printer', '1:nonsense', 'printer']) {
      const st = await pos('factory', 'station', '--count', '1', '--faults', faults, '--report-dir', join(root, 'st'));
      assert.equal(st.code, EXIT_USAGE, `${faults}: ${st.err}`);
      assert.match(st.err, /--faults/);
      assert.equal(existsSync(join(root, 'st')), false);
    }
    // A folder with no journal in it: the person's input (E-OPR-08), not a storage failure.
    for (const cmd of ['verify', 'dump']) {
      const empty = await pos('journal', cmd, '--dir', folder);
      assert.equal(empty.code, 2, empty.err);
      assert.match(empty.err, /no journal in .*data\.mdb/);
      assert.match(empty.err, /E-OPR-08/);
      assert.doesNotMatch(empty.err, /E-STO-/);
    }
    // Slots never set up: said with the update code and the next step, not a raw error.
    const status = await pos('update', 'status', '--root', folder);
    assert.equal(status.code, 2, status.err);
    assert.match(status.err, /E-UPD-06/);
    assert.match(status.err, /pos update init/);
  });

  it('aMistypedVersionOrANonEmptySalvageFolderIsTheCommandLinesFault', async () => {
    for (const argv of [['update', 'init', '--root', join(root, 'slots'), '--version', '1.x'], ['update', 'build', '--from', root, '--key', join(root, 'k.pem'), '--version', '1.2', '--board', 'sim', '--out', join(root, 'u.posupd')]]) {
      const r = await pos(...argv);
      assert.equal(r.code, EXIT_USAGE, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, /--version 1\.(x|2): a version is MAJOR\.MINOR\.PATCH/);
    }
    writeFileSync(join(root, 'something'), 'x');
    const salvage = await pos('journal', 'salvage', '--dir', root, '--out', root);
    assert.equal(salvage.code, EXIT_USAGE, salvage.err);
    assert.match(salvage.err, /--out .* is not an empty folder/);
    assert.doesNotMatch(salvage.err, /USB/);
  });

  it('recoveryRebootAndPoweroffOnTheSimulatorBoardTouchNothing', async () => {
    // On the simulator board (a checkout's default) systemctl would reboot the developer's computer.
    process.env.POS_ADMIN_PASSWORD = '123456';
    for (const verb of ['reboot', 'poweroff']) {
      const r = await pos('recovery', verb, '--operator', '00', '--dir', root);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, new RegExp(`E-OPR-08.*simulator board .*systemctl ${verb} would .*this computer.*nothing done`, 's'));
      assert.match(r.err, /--board B, or \$POS_BOARD/);
      assert.deepEqual(readdirSync(root), [], 'nothing opened or journaled');
    }
  });

  it('updateApplyWithoutAFileSaysTheFileIsMissingNotTheKey', async () => {
    const r = await pos('update', 'apply', '--root', root);
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.err, /the update package FILE is missing/);
    assert.doesNotMatch(r.err, /publicKey|E-UPD/);
    const typo = await pos('update', 'apply', join(root, 'no-such.pkg'), '--root', root);
    assert.equal(typo.code, 2);
    assert.match(typo.err, /no such file: .*no-such\.pkg/);
    assert.doesNotMatch(typo.err, /publicKey|E-UPD/);
  });

  /** A signed package of `version` for the simulator board, and slots at `slots` running 1.0.0. */
  function packageAndSlots(version: string, slots: string): { file: string; publicKeyHex: string } {
    const keys = generateUpdateKeys();
    const src = join(root, `src-${version}`);
    mkdirSync(join(src, 'dist', 'boot'), { recursive: true });
    writeFileSync(join(src, 'dist', 'boot', 'terminal-main.js'), `console.log('runtime ${version}');\n`);
    const file = join(root, `pos-${version}.posupd`);
    writeFileSync(file, buildPackage(src, keys.privateKeyPem, { version, board: 'sim' }));
    initSlots(slots, '1.0.0');
    return { file, publicKeyHex: keys.publicKeyHex };
  }

  it('updateApplyInstallsThePackageGivenAsFileOrAsDashDashFile', async () => {
    for (const form of ['FILE', '--file FILE', '--file=FILE']) {
      const slots = join(root, `slots-${form.replace(/[^a-z]/gi, '')}`);
      const { file, publicKeyHex } = packageAndSlots('1.1.0', slots);
      const given = form === 'FILE' ? [file] : form === '--file FILE' ? ['--file', file] : [`--file=${file}`];
      const r = await pos('update', 'apply', ...given, '--root', slots, '--public-key', publicKeyHex);
      assert.equal(r.code, 0, `${form}: ${r.err}`);
      assert.match(r.out, /^installed 1\.1\.0 into slot B/, form);
      assert.equal(updateStatus(slots).pending?.version, '1.1.0', form);
    }
  });

  it('updateApplyGivenTwoPackagesIsRefusedNotOneSilentlyDropped', async () => {
    // FILE and --file both: the flag won and FILE was dropped without a word (the wrong version
    // installed for a technician who meant FILE). Two FILEs: the second was dropped.
    const slots = join(root, 'slots');
    const { file, publicKeyHex } = packageAndSlots('1.1.0', slots);
    const other = join(root, 'other.posupd');
    writeFileSync(other, readFileSync(file));
    const both = await pos('update', 'apply', other, '--file', file, '--root', slots, '--public-key', publicKeyHex);
    assert.equal(both.code, EXIT_USAGE, both.err);
    assert.equal(both.err, `pos update apply: the update package is given twice (${other} and --file ${file}): give FILE or --file FILE, not both\nusage: pos ${COMMANDS.find((c) => c.name === 'update apply')!.usage}`);
    const two = await pos('update', 'apply', file, other, '--root', slots, '--public-key', publicKeyHex);
    assert.equal(two.code, EXIT_USAGE, two.err);
    assert.ok(two.err.startsWith(`pos update apply: one update package at a time (${file}, ${other} given)\nusage: pos update apply `), two.err);
    assert.equal(both.out + two.out, '', 'nothing installed');
    assert.equal(updateStatus(slots).pending, undefined, 'no update pending');
    // A --file that is not there is named as the flag that gave it.
    const missing = await pos('update', 'apply', '--file', join(root, 'no-such.posupd'), '--root', slots);
    assert.equal(missing.code, 2, missing.err);
    assert.match(missing.err, /no such file: .*no-such\.posupd \(--file\)/);
  });

  it('updateApplyForcedOnAFolderWithNoJournalNamesItAndCreatesNothing', async () => {
    // The administrator's login for --force read a journal folder that was not there: it made an
    // empty LMDB journal and then said "operator 000 does not exist".
    writeFileSync(join(root, 'older.posupd'), 'x');
    process.env.POS_ADMIN_PASSWORD = '123456';
    try {
      const r = await pos('update', 'apply', join(root, 'older.posupd'), '--root', join(root, 'slots'), '--public-key', 'aa', '--force', '--operator', '00', '--dir', join(root, 'journal'));
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /E-OPR-08.*no such directory: .*journal/);
      assert.doesNotMatch(r.err, /does not exist/);
      assert.equal(existsSync(join(root, 'journal')), false, 'no journal made');
    } finally {
      delete process.env.POS_ADMIN_PASSWORD;
    }
  });

  it('everyGroupNamedWithoutItsCommandPrintsThatGroupsUsage', async () => {
    const names = new Set(COMMANDS.map((c) => c.name));
    const groups = new Set<string>();
    for (const c of COMMANDS) {
      const w = c.name.split(' ');
      for (let i = 1; i < w.length; i++) groups.add(w.slice(0, i).join(' '));
    }
    let checked = 0;
    for (const g of groups) {
      if (names.has(g)) continue; // `pos simulate` is a command itself
      const r = await pos(...g.split(' '));
      assert.equal(r.code, EXIT_USAGE, `pos ${g}`);
      assert.doesNotMatch(r.err, /unknown command/, `pos ${g}`);
      assert.match(r.out, new RegExp(`^usage: pos ${g} <command>`), `pos ${g}`);
      for (const c of COMMANDS.filter((x) => x.name.startsWith(`${g} `))) assert.ok(r.out.includes(`pos ${c.usage}`), `pos ${g} lists ${c.name}`);
      checked++;
    }
    assert.ok(['journal', 'recovery', 'recovery network', 'update', 'factory'].every((g) => groups.has(g)), [...groups].join(', '));
    assert.ok(checked >= 5);
    const wrong = await pos('journal', 'frobnicate');
    assert.equal(wrong.code, EXIT_USAGE);
    assert.match(wrong.err, /unknown command "journal frobnicate"; "pos journal" has:/);
    assert.match(wrong.err, /pos journal verify/);
  });

  it('everyReadOnlyCommandOnAMissingDirectorySaysNoSuchDirectoryAndCreatesNothing', async () => {
    process.env.POS_ADMIN_PASSWORD = '123456';
    process.env.POS_BACKUP_PASSPHRASE = '123456';
    const missing = join(root, 'jornal');
    const cases: string[][] = [
      ['journal', 'verify'], ['journal', 'verify', '--json'], ['journal', 'dump'], ['journal', 'export', '--out', join(root, 'b.posbak')],
      ['journal', 'salvage', '--out', join(root, 'salvaged')], ['recovery', 'verify'], ['recovery', 'export', '--to', join(root, 'usb'), '--operator', '00'],
      ['recovery', 'salvage', '--operator', '00'], ['recovery', 'repair', '--operator', '00'], ['recovery', 'network', 'test'],
    ];
    for (const argv of cases) {
      const r = await pos(...argv, '--dir', missing);
      assert.equal(r.code, 2, `pos ${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, /no such directory: .*jornal \(--dir\)/, `pos ${argv.join(' ')}`);
      assert.doesNotMatch(r.err, /power off|call support/i, `pos ${argv.join(' ')}: a typo is not a storage failure`);
      assert.deepEqual(readdirSync(root), [], `pos ${argv.join(' ')} created something`);
    }
  });

  it('factoryTestOnABoardWhoseDeviceCannotBeOpenedWritesAFailedReportAndExits5', async () => {
    // The emulated board's file with its printer on a port that does not exist here: the self-test
    // fails (exit 5, a report saying which device and why), as a flash self-test boot must read it.
    const board = JSON.parse(readFileSync(join(REPO, 'board-configs', 'qemu-x86.json'), 'utf8')) as { devices: Record<string, { port?: string }> };
    board.devices.printer0.port = join(root, 'no-such-tty');
    const boardFile = join(root, 'board.json');
    writeFileSync(boardFile, JSON.stringify(board));
    const reports = join(root, 'reports');
    const r = await pos('factory', 'test', '--serial', 'T0001', '--board', boardFile, '--report-dir', reports);
    assert.equal(r.code, 5, r.out + r.err);
    const report = JSON.parse(readFileSync(join(reports, readdirSync(reports).find((f) => f.endsWith('.json')) as string), 'utf8')) as { pass: boolean; serial: string; tests: Array<{ pass: boolean; codes: string[] }> };
    assert.equal(report.pass, false);
    assert.equal(report.serial, 'T0001');
    const failed = report.tests.find((t) => !t.pass);
    assert.match(failed?.codes[0] ?? '', /^E-[A-Z]+-\d+$/);
    assert.match(r.out, /FAIL board opens its devices E-/);
  });

  it('recoveryFromTheShellTakesTheFactorysServiceAdministratorAsTheMenuDoes', async () => {
    // The shell is where a technician meets a journal whose operators cannot be read: 000's
    // password (service-admin.json beside the journal folder) opens it, as at the recovery menu.
    const dir = join(root, 'journal');
    const j = await Journal.open({ dir, identity: 'SIM-SERVICE' });
    await j.close();
    const password = await createServiceAdmin(serviceAdminFile(dir), { scryptN: 1 << 10 });
    process.env.POS_ADMIN_PASSWORD = password;
    try {
      const ok = await pos('recovery', 'repair', '--operator', '000', '--dir', dir);
      assert.doesNotMatch(ok.err, /E-OPR-/, 'logged in');
      assert.ok(ok.code === 0 || ok.code === 4, `${ok.code} ${ok.err}`);
      process.env.POS_ADMIN_PASSWORD = `${password}9`;
      const wrong = await pos('recovery', 'repair', '--operator', '000', '--dir', dir);
      assert.equal(wrong.code, 2);
      assert.match(wrong.err, /E-OPR-02.*service administrator/, 'a wrong password, not "operator 000 does not exist"');
    } finally {
      delete process.env.POS_ADMIN_PASSWORD;
    }
  });

  it('stdoutClosedByItsReaderEndsDumpQuietlyWithoutAStackTrace', async () => {
    const dir = join(root, 'j');
    const j = await Journal.open({ dir, identity: 'SIM-EPIPE' });
    const text = 'x'.repeat(1000); // 300 records: several pipe buffers of output
    for (let i = 0; i < 300; i++) await j.append('test', { i, text });
    await j.close();
    // `pos journal dump | head -c 100`, in a shell as a person types it (a shell pipe, not a
    // socket); pos's stderr and exit status are kept in files.
    const errFile = join(root, 'stderr');
    const statusFile = join(root, 'status');
    const pos = nodeArgsFor(join(REPO, 'boot', 'pos')).map((a) => `"${a}"`).join(' ');
    const command = `"${process.execPath}" ${pos} journal dump --dir "${dir}"`;
    const child = spawn('sh', ['-c', `{ ${command} 2>"${errFile}"; echo $? >"${statusFile}"; } | head -c 100 >/dev/null`], { cwd: REPO, stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('pos did not exit after its reader left')); }, CHILD_EXIT_MS_MAX);
      child.on('exit', () => { clearTimeout(timer); resolve(); });
    });
    assert.equal(readFileSync(errFile, 'utf8'), '', 'nothing on stderr: no EPIPE, no stack trace');
    assert.equal(Number(readFileSync(statusFile, 'utf8')), EXIT_OUTPUT_CLOSED, 'the exit status of a program whose reader left (as `yes | head`)');
  });
});

/**
 * Each command takes the flags its own usage line names and no other (`pos journal verify --dir D
 * --count 3` ran as if --count were not there: every command's flags were checked against one
 * list for all). Walked over the command list, so a command added later is covered too.
 */
describe('pos command line: a flag of another command is refused, not ignored', function () {
  this.timeout(CHILD_EXIT_MS_MAX);
  const known = [...FLAG_RULES.value, ...FLAG_RULES.boolean];
  let dir: string | undefined;
  /** A folder for the cases that need one, made on first use. */
  const root = (): string => (dir ??= tempDir('h-cli-foreign-'));
  after(() => { if (dir) removeDir(dir); });

  /** A value the check takes for `flag`: none for a boolean, a whole number where the usage writes N. */
  function valueFor(c: Command, flag: string): string | true {
    if (FLAG_RULES.boolean.has(flag)) return true;
    return numericFlags(c.usage).has(flag) ? '1' : 'x';
  }

  it('theFlagRulesAreExactlyTheFlagsTheUsageLinesName', () => {
    // A flag in the rules that no command names would be "not an option of this command" everywhere,
    // where it should be unknown; one a usage names but the rules lack would be refused by its own command.
    const named = new Set(COMMANDS.flatMap((c) => usageFlags(c.usage)));
    assert.deepEqual(known.filter((f) => f !== 'help' && !named.has(f)), [], 'in the rules, named by no usage line');
    assert.deepEqual([...named].filter((f) => !known.includes(f)), [], 'named by a usage line, not in the rules');
  });

  it('everyCommandAcceptsEveryFlagItsUsageNamesAndRefusesEachFlagOfAnotherCommandWithExit64', async () => {
    let refused = 0;
    for (const c of COMMANDS) {
      const own = usageFlags(c.usage);
      // Accepted by the check itself (the command is not run): each flag alone, then all at once, and --help.
      for (const flag of own) assert.doesNotThrow(() => checkFlags(new Map([[flag, valueFor(c, flag)]]), FLAG_RULES, c), `pos ${c.name} --${flag}`);
      checkFlags(new Map([...own.map((f): [string, string | true] => [f, valueFor(c, f)]), ['help', true]]), FLAG_RULES, c);
      const foreign = known.filter((f) => f !== 'help' && !own.includes(f));
      assert.ok(foreign.length > 0, `pos ${c.name} takes every flag there is`);
      const takes = `(it takes ${own.map((f) => `--${f}`).join(', ')})`;
      for (const flag of foreign) {
        assert.throws(() => checkFlags(new Map([[flag, valueFor(c, flag)]]), FLAG_RULES, c),
          (e: unknown) => e instanceof UsageError && e.message === `--${flag} is not an option of this command ${takes}`, `pos ${c.name} --${flag}`);
        // Through pos itself: exit 64, the message, the usage line, and nothing printed by the command.
        const r = await pos(...c.name.split(' '), FLAG_RULES.boolean.has(flag) ? `--${flag}` : `--${flag}=x`);
        assert.equal(r.code, EXIT_USAGE, `pos ${c.name} --${flag}: ${r.err}`);
        assert.equal(r.err, `pos ${c.name}: --${flag} is not an option of this command ${takes}\nusage: pos ${c.usage}`);
        assert.equal(r.out, '', `pos ${c.name} --${flag} ran`);
        refused++;
      }
    }
    assert.ok(refused > COMMANDS.length * 10, `only ${refused} refusals checked`);
  });

  it('journalVerifyWithCountAndRecoveryExportWithRegistryAreRefusedNamingWhatTheyTake', async () => {
    const verify = await pos('journal', 'verify', '--dir', root(), '--count', '3');
    assert.equal(verify.code, EXIT_USAGE);
    assert.equal(verify.err, 'pos journal verify: --count is not an option of this command (it takes --dir, --board, --identity, --json)\nusage: pos journal verify [--dir D | --board B] [--identity ID] [--json]');
    assert.equal(verify.out, '');
    const passphrase = join(root(), 'passphrase');
    writeFileSync(passphrase, '123456\n');
    const usb = join(root(), 'usb');
    const exp = await pos('recovery', 'export', '--to', usb, '--operator', '00', '--password-file', passphrase, '--passphrase-file', passphrase, '--dir', root(), '--registry', join(root(), 'r.json'));
    assert.equal(exp.code, EXIT_USAGE);
    assert.match(exp.err, /^pos recovery export: --registry is not an option of this command \(it takes --to, --operator, --password-file, --passphrase-file, --dir, --board, --log-dir\)\nusage: pos recovery export /);
    assert.deepEqual(readdirSync(root()).sort(), ['passphrase'], 'nothing exported, no registry written');
  });

  it('aFlagNoCommandKnowsIsStillAnUnknownOption', async () => {
    // --limit was in the one list and read by no command: `pos journal dump --limit 5` dumped everything.
    for (const argv of [['journal', 'dump', '--limit', '5'], ['factory', 'test', '--serial', 'S', '--kcvs', 'x'], ['update', 'status', '--frobnicate']]) {
      const r = await pos(...argv);
      assert.equal(r.code, EXIT_USAGE, argv.join(' '));
      assert.match(r.err, /: unknown option --(limit|kcvs|frobnicate)\n/, argv.join(' '));
    }
  });
});

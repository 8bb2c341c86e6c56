/**
 * The terminal process's command line (boot/terminal-main.ts): a mistyped flag, a value flag
 * without its value or a malformed value is refused with EXIT_USAGE and a message naming the flag
 * and listing the known ones, before the journal, the backup folder or any device is touched.
 * The compiled process is spawned (dist/boot/terminal-main.js: `npx tsc -p tsconfig.json` first).
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_USAGE, UsageError } from '../../boot/cli';
import { SIMULATOR_ONLY_FLAGS, TERMINAL_FLAG_RULES, TERMINAL_USAGE, checkFlagsForBoard, terminalFlags } from '../../boot/terminal-main';
import { readBoardFile } from '../../hal/board';
import { PASSED_FLAGS, checkStartBoard, startArgsProblem } from '../../boot/start';

const MAIN = join(__dirname, '..', '..', 'dist', 'boot', 'terminal-main.js');
/** A refused command line exits at once; a terminal that started would still be booting. */
const REFUSAL_MS_MAX = 20_000;
const ALL_FLAGS = [...TERMINAL_FLAG_RULES.value, ...TERMINAL_FLAG_RULES.boolean];

describe('terminal-main: a mistyped command line is refused before anything is opened', function () {
  this.timeout(60_000);
  let dir: string;
  before(function () {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npx tsc -p tsconfig.json first`);
  });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pos-terminal-flags-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The terminal on this test's own journal and backup folders, plus `extra`. */
  function run(...extra: string[]): { status: number | null; stderr: string; stdout: string } {
    const args = ['--board', 'sim', '--journal-dir', join(dir, 'journal'), '--backup-dir', join(dir, 'backup'), '--control-port', '0', ...extra];
    const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: REFUSAL_MS_MAX, env: { ...process.env, POS_CODE_CACHE: '0' } });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  }

  function assertRefused(r: ReturnType<typeof run>, says: RegExp): void {
    assert.equal(r.status, EXIT_USAGE, `exit ${r.status}: ${r.stderr.slice(-400)}`);
    assert.match(r.stderr, says);
    for (const f of ALL_FLAGS) assert.ok(r.stderr.includes(`--${f}`), `the message lists --${f}: ${r.stderr}`);
    assert.equal(r.stdout.includes('READY'), false, 'the control interface never listened');
    assert.equal(existsSync(join(dir, 'journal')), false, 'no journal folder made');
    assert.equal(existsSync(join(dir, 'backup')), false, 'no backup folder made');
  }

  it('anUnknownFlagIsRefusedByNameNotRunOnTheDefaultJournal', () => {
    assertRefused(run('--jornal-dir', join(dir, 'typo')), /unknown option --jornal-dir/);
    assert.equal(existsSync(join(dir, 'typo')), false);
  });

  it('aValueFlagWithoutItsValueIsRefused', () => {
    assertRefused(run('--locale'), /--locale needs a value/);
    // The next flag is not taken as the value (`--usb-dir --hold-reset`).
    assertRefused(run('--usb-dir', '--hold-reset'), /--usb-dir needs a value/);
  });

  it('malformedValuesAreRefusedNamingTheFlagAndWhatItTakes', () => {
    assertRefused(run('--battery-percent', 'abc'), /--battery-percent must be a whole number from 0 to 100 \(got "abc"\)/);
    assertRefused(run('--battery-percent', '101'), /--battery-percent .*got "101"/);
    assertRefused(run('--host-port', '99999'), /--host-port must be a whole number from 0 to 65535 \(got "99999"\)/);
    assertRefused(run('--host-port', '0'), /--host-port must be a port number from 1 to 65535/);
    assertRefused(run('--control-port=x'), /--control-port must be a whole number/);
    assertRefused(run('--locale', 'fr'), /--locale must be zh-CN or en \(got "fr"\)/);
    assertRefused(run('--test-timings', 'key-hold'), /--test-timings takes name=ms\[,name=ms\.\.\.\] \(got "key-hold"\)/);
    assertRefused(run('--test-timings', 'key-hld=5'), /--test-timings: unknown timing "key-hld"; known: key-hold, /);
    assertRefused(run('--test-timings', 'battery-poll=1'), /--test-timings: battery-poll must be 50 to 60000 ms \(got 1\)/);
    assertRefused(run('--hold-reset=yes'), /--hold-reset takes no value/);
    assertRefused(run('sim'), /unexpected argument "sim"/);
  });
});

describe('terminal-main: the flags every starter passes are known', () => {
  it('theUsageLineListsEveryKnownFlagAndOnlyThose', () => {
    const named = new Set([...TERMINAL_USAGE.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]));
    assert.deepEqual([...named].sort(), [...ALL_FLAGS].sort());
  });

  it('everyFlagTogetherIsAcceptedAsNpmStartAndTheTestDriversWriteThem', () => {
    const flags = terminalFlags(['--board', 'sim', '--host', '127.0.0.1', '--host-port', '5000', '--control-port', '0', '--locale', 'en', '--journal-dir', 'j', '--backup-dir', 'b',
      '--usb-dir', 'u', '--update-root', 'r', '--battery-percent', '100', '--test-timings', 'key-hold=0,tick=100', '--hold-reset', '--allow-keyed', '--sign-on-at-login']);
    assert.deepEqual([...flags.keys()].sort(), [...ALL_FLAGS].sort());
    assert.equal(flags.get('host-port'), '5000');
    assert.equal(flags.get('hold-reset'), true);
    assert.throws(() => terminalFlags(['--locale=zh-CN', '--host-port=65536']), (e: unknown) => e instanceof UsageError && /--host-port/.test(e.message));
  });

  it('npmStartPassesOnlyFlagsTheTerminalKnows', () => {
    assert.deepEqual(PASSED_FLAGS.filter((f) => !TERMINAL_FLAG_RULES.value.has(f)), []);
  });

  it('npmStartTakesEverySimulatorBoardFileAndRefusesEveryRealOneSayingHowToRunIt', () => {
    // Its terminal would refuse npm start's --control-port on a real board (below), after the
    // acquirer simulator had started: npm start checks the board file itself, first.
    const names = readdirSync(join(__dirname, '..', '..', 'board-configs')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
    const real = names.filter((n) => readBoardFile(n).config.simulator !== true);
    assert.ok(real.includes('handheld') && names.includes('sim'), names.join(', '));
    for (const name of names.filter((n) => !real.includes(n))) assert.doesNotThrow(() => checkStartBoard(name, readBoardFile(name)), name);
    for (const name of real) {
      const board = readBoardFile(name);
      assert.throws(() => checkStartBoard(name, board), (e: unknown) => e instanceof UsageError
        && e.message.startsWith(`${board.file} is a real board: npm start runs only a simulator board ("simulator": true in its board file)`)
        && e.message.includes(`node dist/boot/terminal-main.js --board ${name} --host <acquirer> --host-port N`)
        && e.message.includes('"Running on a real board"'), name);
    }
  });

  it('npmStartRefusesAValueOptionWithoutItsValueAStrayWordAndAValueOnASwitch', () => {
    assert.equal(startArgsProblem([]), undefined);
    assert.equal(startArgsProblem(['--board', 'sim', '--headless', '--locale', 'en', '--control-port=0']), undefined);
    // `npm start -- --board` ran the simulator board as if no board had been named.
    for (const flag of ['board', 'locale', 'control-port', 'journal-dir', 'backup-dir', 'update-root', 'usb-dir']) {
      assert.equal(startArgsProblem([`--${flag}`]), `--${flag} needs a value`);
      assert.equal(startArgsProblem([`--${flag}`, '--headless']), `--${flag} needs a value`, 'the next option is not its value');
      assert.equal(startArgsProblem([`--${flag}=`]), `--${flag} needs a value`);
    }
    assert.equal(startArgsProblem(['--headless=yes']), '--headless takes no value (got "yes")');
    assert.equal(startArgsProblem(['sim']), 'unexpected word "sim": npm start takes only options (npm start -- --board B)');
    assert.equal(startArgsProblem(['--board', 'sim', 'en', 'x']), 'unexpected words "en" "x": npm start takes only options (npm start -- --board B)');
    assert.match(startArgsProblem(['--bord', 'sim']) ?? '', /^unknown option --bord; options: /);
  });
});

/**
 * The simulator board's own flags (its control interface, reset button and fuel gauge, all
 * simulated) on a board file without `"simulator": true`: refused once the board file is read,
 * before its devices or the journal are opened, instead of being ignored. handheld is the board
 * the unit runs (boot/pos-terminal.service POS_BOARD).
 */
describe('terminal-main: the simulator board\'s flags on a real board', function () {
  this.timeout(60_000);
  let dir: string;
  before(function () {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npx tsc -p tsconfig.json first`);
  });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pos-terminal-board-flags-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const args = (board: string, ...extra: string[]): string[] => ['--board', board, '--journal-dir', join(dir, 'journal'), '--backup-dir', join(dir, 'backup'), '--locale', 'en', ...extra];

  it('eachSimulatorFlagIsRefusedOnARealBoardFileAndEveryOtherFlagIsNot', () => {
    const real = readBoardFile('handheld');
    const sim = readBoardFile('sim');
    assert.equal(real.config.simulator, false);
    const value = (f: string): string | true => (TERMINAL_FLAG_RULES.boolean.has(f) ? true : '1');
    for (const f of SIMULATOR_ONLY_FLAGS) {
      assert.throws(() => checkFlagsForBoard(new Map([[f, value(f)]]), real),
        (e: unknown) => e instanceof UsageError && e.message === `--${f} is for the simulator board only ("simulator": true in its board file); ${real.file} is a real board`, f);
      assert.doesNotThrow(() => checkFlagsForBoard(new Map([[f, value(f)]]), sim), f);
    }
    // --usb-dir is the USB stick's mount point on a real board (boot/usb-stick.ts): it stays.
    const others = ALL_FLAGS.filter((f) => !SIMULATOR_ONLY_FLAGS.includes(f));
    assert.ok(others.includes('usb-dir'));
    assert.doesNotThrow(() => checkFlagsForBoard(new Map(others.map((f): [string, string | true] => [f, value(f)])), real));
    assert.throws(() => checkFlagsForBoard(new Map<string, string | true>([['hold-reset', true], ['battery-percent', '5'], ['usb-dir', 'u']]), real),
      /^UsageError: --hold-reset, --battery-percent are for the simulator board only/);
  });

  it('aRealBoardFileWithControlPortExits64BeforeAnythingIsOpened', () => {
    const r = spawnSync(process.execPath, [MAIN, ...args('handheld', '--control-port', '5000')], { encoding: 'utf8', timeout: REFUSAL_MS_MAX, env: { ...process.env, POS_CODE_CACHE: '0' } });
    assert.equal(r.status, EXIT_USAGE, `exit ${r.status}: ${r.stderr.slice(-400)}`);
    assert.match(r.stderr, /^terminal: --control-port is for the simulator board only \("simulator": true in its board file\); \S*handheld\.json is a real board\nusage: terminal-main /);
    assert.equal(r.stdout.includes('READY'), false, 'no control interface');
    assert.equal(existsSync(join(dir, 'journal')), false, 'no journal folder made');
    assert.equal(existsSync(join(dir, 'backup')), false, 'no backup folder made');
  });

  it('theSameFlagsOnTheSimulatorBoardStartTheTerminal', async () => {
    const child = spawn(process.execPath, [MAIN, ...args('sim', '--control-port', '0', '--hold-reset', '--battery-percent', '50')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POS_CODE_CACHE: '0' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      const ready = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /READY control=(\d+)/.exec(out); if (m) resolve(m[1]); });
        child.on('exit', (code) => reject(new Error(`terminal exited ${code} before READY: ${stderr.slice(-400)}`)));
      });
      assert.ok(Number(ready) > 0, 'the control interface listens');
    } finally {
      const exited = new Promise<number | null>((resolve) => { if (child.exitCode !== null) resolve(child.exitCode); else child.once('exit', (code) => resolve(code)); });
      child.kill('SIGTERM');
      assert.notEqual(await exited, EXIT_USAGE, stderr.slice(-400));
    }
  });
});

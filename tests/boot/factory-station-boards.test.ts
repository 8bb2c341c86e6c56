/**
 * The factory station over board files, each terminal in its own process, on "real serial"
 * boards without hardware: bench-rig board files whose printer0 and reader0 are socat ptys (the
 * real EscPosPrinter and FramedCardReader on hal/serial-linux.ts in the terminal's process; the
 * virtual printer and card reader of sim/ on the far ends, in this process) and whose keypad,
 * display and battery are the simulator's chip models.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { needTool } from '../support/tools';
import { simulatedTerminals } from '../../boot/factory-station';
import { BoardStationReport, StationConsole, outcome, runBoardStation } from '../../boot/factory-station-boards';
import { main } from '../../boot/pos';
import { readBoardFile, validateBoard } from '../../hal/board';
import { BenchTerminal, benchTerminal } from './bench-rig';

/**
 * The healthy terminal's own work (from its board opened to its report) may take at most this
 * long while the others fail beside it (ms). Alone it takes about 1.2 s (keypad test 0.9 s); the
 * bound leaves room for three processes on two busy cores, and is far below what waiting for the
 * others would cost (their failures alone take over 2 s: two 1 s reader response timeouts).
 */
const HEALTHY_WORK_MS_MAX = 6_000;
const SCRYPT_N_TEST = 1024;

function codesOf(r: BoardStationReport, test: string): string[] {
  return r.tests.find((t) => t.name === test)?.codes ?? [];
}

describe('boot/factory-station-boards: several real-serial boards, one process each', function () {
  this.timeout(120_000);
  let work: string;
  let rigs: BenchTerminal[] = [];

  before(function () { needTool(this, 'socat'); });
  beforeEach(() => { work = tempDir('posfacb-'); rigs = []; });
  afterEach(async () => {
    for (const r of rigs) await r.close();
    removeDir(work);
  });

  it('threeBenchRigsPrinterVanishesReaderGarbageHealthy1Pass2FailWithCodes3Reports', async () => {
    rigs = [await benchTerminal(work, 'printer-gone'), await benchTerminal(work, 'reader-garbage', 'garbage'), await benchTerminal(work, 'healthy')];
    // The first terminal's printer vanishes in the middle of the factory test page.
    let seen = '';
    rigs[0].printerEnd.onData((chunk) => {
      seen = (seen + chunk.toString('latin1')).slice(-4096);
      if (seen.includes('FACTORY TEST')) { seen = ''; void rigs[0].printerPtys.close(); }
    });
    const ids = simulatedTerminals(3, 'BR');
    const progress: string[] = [];
    const at = new Map<string, number>();
    const t0 = performance.now();
    const reports = await runBoardStation({
      terminals: ids.map((t, i) => ({ serial: t.serial, boardFile: rigs[i].boardFile, identity: { tid: t.tid, mid: t.mid, components: t.components } })),
      workDir: join(work, 'terminals'), reportDir: join(work, 'reports'), registryFile: join(work, 'registry.json'),
      keyPressTimeoutMs: 3000, scryptN: SCRYPT_N_TEST,
      onProgress: (s, p) => { progress.push(`${s} ${p}`); at.set(`${s} ${p.split(' ')[0]}`, performance.now()); },
    });
    const totalMs = performance.now() - t0;
    const [printerGone, garbage, healthy] = reports;
    const lines = reports.map((r) => `${r.serial} ${r.ended} ${r.elapsedMs} ms ${JSON.stringify(r.tests.filter((t) => !t.pass))}`).join('\n');
    assert.equal(reports.length, 3);
    for (const r of reports) assert.ok(existsSync(join(work, 'reports', `${r.serial}.json`)), `report of ${r.serial}`);
    assert.equal(healthy.pass, true, lines);
    assert.equal(outcome(healthy).result, 'pass');
    assert.equal(printerGone.pass, false, lines);
    assert.deepEqual(codesOf(printerGone, 'printer test page'), ['E-PRN-06'], lines);
    assert.equal(garbage.pass, false, lines);
    assert.deepEqual(codesOf(garbage, 'self-test reader0'), ['E-RDR-01'], lines);
    assert.deepEqual(codesOf(garbage, 'reader'), ['E-RDR-01'], lines);
    assert.ok(rigs[1].garbageFrames > 0, 'the bad reader was asked');
    // Only the faulty part fails: the rest of each faulty terminal passed.
    assert.deepEqual(printerGone.tests.filter((t) => !t.pass).map((t) => t.name), ['printer test page'], lines);
    assert.deepEqual(garbage.tests.filter((t) => !t.pass).map((t) => t.name), ['self-test reader0', 'reader'], lines);
    // The healthy terminal printed its label and its test page over the real serial stack.
    assert.deepEqual(rigs[2].printer.receipts().map((r) => r.lines.find((l) => l.trim() !== '')?.trim()), [`SN ${ids[2].serial}`, 'FACTORY TEST 工厂测试']);
    const saved = JSON.parse(readFileSync(healthy.reportFile, 'utf8')) as { pass: boolean; provision: { kcvTmk: string }; tests: Array<{ name: string; values: Record<string, unknown> }> };
    assert.equal(saved.pass, true);
    assert.match(saved.provision.kcvTmk, /^[0-9A-F]{6}$/);
    assert.equal(saved.tests.find((t) => t.name === 'keypad every key')?.values.detected, 18);
    assert.ok(progress.includes(`${ids[2].serial} PASS`) && progress.some((l) => l.startsWith(`${ids[0].serial} FAIL E-PRN-06`)), progress.join('\n'));
    // Not delayed by the others (listed before it): its work stays within HEALTHY_WORK_MS_MAX,
    // and it is done before the garbage reader's terminal.
    // (Board work, from "opening board" to the verdict: process start-up varies by seconds
    // under ts-node on a busy machine and is not the board's.)
    const workMs = (i: number, verdict: string): number => at.get(`${ids[i].serial} ${verdict}`)! - at.get(`${ids[i].serial} opening`)!;
    const healthyWorkMs = workMs(2, 'PASS');
    assert.ok(healthyWorkMs < HEALTHY_WORK_MS_MAX, `healthy work ${healthyWorkMs} ms\n${lines}`);
    assert.ok(healthyWorkMs < workMs(1, 'FAIL'), `healthy work ${healthyWorkMs} ms, garbage reader's ${workMs(1, 'FAIL')} ms`);
    console.log(`      station: 3 bench rigs in ${(totalMs / 1000).toFixed(1)} s; healthy ${healthy.elapsedMs} ms (board work ${Math.round(healthyWorkMs)} ms), printer gone ${printerGone.elapsedMs} ms, reader garbage ${garbage.elapsedMs} ms`);
  });

  it('aTerminalPastItsTimeLimitIsKilledAndOneThatCrashesIsReportedTheOtherPasses', async () => {
    rigs = [await benchTerminal(work, 'hangs'), await benchTerminal(work, 'fine'), await benchTerminal(work, 'crashes')];
    const ids = simulatedTerminals(3, 'TL');
    const pids = new Map<string, number>();
    // The first terminal's process hangs (stopped) when its reader test starts: as a process
    // stuck in a driver would, it answers nothing and never ends by itself. The third one's
    // process dies (SIGKILL) in its keypad test (about 1 s long).
    const reports = await runBoardStation({
      terminals: ids.map((t, i) => ({ serial: t.serial, boardFile: rigs[i].boardFile })),
      workDir: join(work, 'terminals'), reportDir: join(work, 'reports'), registryFile: join(work, 'registry.json'), timeoutMs: 6000,
      onStart: (s, pid) => pids.set(s, pid),
      onProgress: (s, p) => {
        if (s === ids[0].serial && p === 'testing: reader') process.kill(pids.get(s)!, 'SIGSTOP');
        if (s === ids[2].serial && p === 'testing: keypad every key') process.kill(pids.get(s)!, 'SIGKILL');
      },
    });
    const [hung, fine, crashed] = reports;
    assert.equal(crashed.ended, 'crash');
    assert.deepEqual(crashed.tests.map((t) => [t.name, t.codes, t.values.reason, t.values.step, t.values.signal]), [['station', ['E-SYS-99'], 'crash', 'keypad every key', 'SIGKILL']]);
    assert.equal(fine.pass, true, JSON.stringify(fine.tests.filter((t) => !t.pass)));
    assert.equal(hung.ended, 'timeout');
    assert.equal(hung.pass, false);
    assert.deepEqual(hung.tests.map((t) => [t.name, t.codes, t.values.reason, t.values.step]), [['station', ['E-RDR-03'], 'timeout', 'reader']]);
    assert.ok(existsSync(hung.reportFile));
    assert.throws(() => process.kill(pids.get(ids[0].serial)!, 0), /ESRCH/, 'the hung process is gone');
    assert.ok(fine.elapsedMs < hung.elapsedMs);
  });

  it('promptsGoToTheConsoleNamingTheTerminalUnattendedSkipsThemNotPass', async () => {
    rigs = [await benchTerminal(work, 'attended'), await benchTerminal(work, 'unattended')];
    const said: string[] = [];
    const asked: string[] = [];
    const operator: StationConsole = {
      say: (serial, text) => { said.push(`${serial}: ${text}`); },
      ask: async (serial, question) => { asked.push(`${serial}: ${question}`); return false; },
    };
    const common = { workDir: join(work, 'terminals'), reportDir: join(work, 'reports'), registryFile: join(work, 'registry.json'), personPrompts: true, keyPressTimeoutMs: 300 };
    // Both at once (two stations), to keep the test short.
    const [[attended], [unattended]] = await Promise.all([
      runBoardStation({ ...common, terminals: [{ serial: 'ATT-0001', boardFile: rigs[0].boardFile }], console: operator }),
      runBoardStation({ ...common, terminals: [{ serial: 'UNA-0001', boardFile: rigs[1].boardFile }], unattended: true }),
    ]);
    // Nobody pressed the key asked for, and the operator said "no" to the pattern.
    assert.deepEqual(said, ['ATT-0001: press MENU']);
    assert.deepEqual(asked, ['ATT-0001: Is a checkerboard shown on the whole display?', 'ATT-0001: Draw a line across the signature pad from edge to edge, then answer y']);
    assert.equal(outcome(attended).result, 'fail');
    assert.deepEqual(outcome(attended).codes, ['E-DSP-01', 'E-BRD-06', 'E-KBD-03']);
    // Unattended: the three tests that need a person are skipped, not passed, not failed.
    const skipped = unattended.tests.filter((t) => t.skipped).map((t) => [t.name, t.pass, t.codes.length]);
    assert.deepEqual(skipped, [['display pattern', false, 0], ['touch panel', false, 0], ['keypad every key', false, 0]]);
    assert.equal(unattended.pass, false);
    assert.deepEqual(outcome(unattended), { result: 'incomplete', codes: [], skipped: ['display pattern', 'touch panel', 'keypad every key'] });
    assert.ok(unattended.tests.filter((t) => !t.skipped).every((t) => t.pass));
    const saved = JSON.parse(readFileSync(unattended.reportFile, 'utf8')) as { tests: Array<{ name: string; skipped?: boolean }> };
    assert.equal(saved.tests.find((t) => t.name === 'keypad every key')?.skipped, true);
  });

  it('posFactoryStationWithBoardsAndACsvManifestPrintsOneLinePerTerminalAndExits5OnAFailure', async () => {
    rigs = [await benchTerminal(work, 'cli-ok'), await benchTerminal(work, 'cli-bad-reader', 'garbage')];
    const ids = simulatedTerminals(2, 'CLI');
    const compFile = (i: number): string => {
      const f = join(work, `components-${i}.txt`);
      writeFileSync(f, ids[i].components.map((c) => `${c.keyHex} ${c.kcvHex}`).join('\n') + '\n');
      return `components-${i}.txt`;
    };
    const manifest = join(work, 'manifest.csv');
    writeFileSync(manifest, `serial,tid,mid,components\n${ids.map((t, i) => `${t.serial},${t.tid},${t.mid},${compFile(i)}`).join('\n')}\n`);
    const out: string[] = [];
    const code = await main(['factory', 'station', `--boards=${rigs.map((r) => r.boardFile).join(',')}`, `--manifest=${manifest}`, '--report-dir', join(work, 'reports'), '--plain'], (l) => out.push(l), (l) => out.push(l));
    assert.equal(code, 5, out.join('\n'));
    assert.ok(out.includes(`${ids[0].serial}  PASS`), out.join('\n'));
    assert.ok(out.includes(`${ids[1].serial}  FAIL E-RDR-01`), out.join('\n'));
    assert.equal(out[out.length - 1], `1 passed, 1 failed: ${ids[1].serial} E-RDR-01; reports in ${join(work, 'reports')}`);
    for (const t of ids) assert.ok(existsSync(join(work, 'reports', `${t.serial}.json`)));
    // A usage error (64, boot/cli.ts checkFlags), before any terminal process is started.
    assert.equal(await main(['factory', 'station', '--serials=X', '--boards'], () => undefined, () => undefined), 64, '--boards without a value is refused, not misread');
  });
});

describe('board files: the bench rig flag', () => {
  const sim = (): Record<string, any> => JSON.parse(readFileSync(join(__dirname, '../../board-configs/sim.json'), 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any -- test mutates fields
  const refusal = (json: unknown): string => {
    try { validateBoard(json, 'x.json'); } catch (e) { return (e as Error).message; }
    return 'accepted';
  };

  it('benchRigIsForSimulatorBoardsWithTtyPortsAndAbsentMeansAsBefore', () => {
    assert.equal(readBoardFile('bench-rig').config.benchRig, true);
    assert.equal('benchRig' in readBoardFile('sim').config, false, 'sim.json unchanged');
    const simPorts = { ...sim(), benchRig: true };
    assert.match(refusal(simPorts), /role printer0: field "port" must be a tty path on a bench rig/);
    const real = readBoardFile('handheld').config;
    assert.match(refusal({ ...JSON.parse(readFileSync(join(__dirname, '../../board-configs/handheld.json'), 'utf8')), benchRig: true }), /field "benchRig" is only for simulator boards/);
    assert.equal('benchRig' in real, false);
  });
});

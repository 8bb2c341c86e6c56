/**
 * Diagnostics' scanner test (boot/diagnostics.ts scanner), on the simulator board's scan engine:
 * the real serial-trigger driver (hal/drivers/scan-engine.ts) over a simulated cable to the
 * virtual engine (sim/virtual-scanner.ts). A code shown is read and named only by its length and
 * last 4 characters (a payment code is a bearer credential); the engine's counts since start are
 * shown; an engine gone silent fails E-SCN-02, an answer not understood E-SCN-03; CANCEL stops it.
 */
import { strict as assert } from 'node:assert';
import { Diagnostics, DiagResult } from '../../boot/diagnostics';
import { openDiagnostics } from './diag-network-check';
import { SimBoard, createSimBoard } from '../../sim/board-sim';

const CODE = '134567890123456789';

async function until(what: string, test: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('diagnostics: the scanner test (boards with a scan engine)', function () {
  this.timeout(30_000);
  let sim: SimBoard | undefined;
  let diag: Diagnostics | undefined;
  afterEach(async () => { diag?.close(); await sim?.close(); sim = undefined; diag = undefined; });

  /** Diagnostics open, the scanner test chosen on the list (UP from the first row: the last), waiting for a code. */
  async function startScanner(): Promise<{ s: SimBoard; d: Diagnostics }> {
    sim = await createSimBoard();
    diag = await openDiagnostics(sim.board);
    assert.equal(diag.snapshot().at(-1)?.check, 'scanner', 'the list\'s last on this board');
    diag.press('UP');
    diag.press('OK');
    const d = diag;
    await until('the scanner test asks for a code', () => d.screen().id === 'diagnostics:scanner-show');
    return { s: sim, d };
  }

  async function result(d: Diagnostics): Promise<DiagResult> {
    let r: DiagResult | undefined;
    await until('the scanner test ends', () => { r = d.snapshot().find((x) => x.check === 'scanner'); return r !== undefined && r.state !== 'running' && r.state !== 'pending'; }, 20_000);
    return r as DiagResult;
  }

  it('aCodeShownIsReadAndNamedOnlyByItsLengthAndLastFour', async () => {
    const { s, d } = await startScanner();
    s.scanner().present(CODE);
    const r = await result(d);
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    assert.equal(r.lines[0], `code read: ${CODE.length} characters, ends 6789`);
    assert.match(r.lines[1], /^since start: \d+ no reads, 0 not understood, 0 silent$/);
    assert.ok(!JSON.stringify(r).includes(CODE.slice(0, 12)), 'never the code itself');
    assert.ok(r.text?.some((l) => l.zh === `读到${CODE.length}位码，尾号6789`), 'the Chinese half');
  });

  it('anEngineGoneSilentFailsE-SCN-02', async () => {
    const { s, d } = await startScanner();
    s.scanner().goSilent();
    const r = await result(d);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-SCN-02', r.lines.join(' / '));
    assert.match(r.lines.join(' / '), /1 silent/);
  });

  it('anAnswerNotUnderstoodFailsE-SCN-03', async () => {
    const { s, d } = await startScanner();
    s.scanner().garbleNext('noise');
    s.scanner().present(CODE);
    const r = await result(d);
    assert.equal(r.code, 'E-SCN-03', r.lines.join(' / '));
    assert.match(r.lines.join(' / '), /1 not understood/);
  });

  it('cancelStopsIt', async () => {
    const { d } = await startScanner();
    d.press('CANCEL');
    const r = await result(d);
    assert.equal(r.code, 'E-OPR-07', r.lines.join(' / '));
  });
});

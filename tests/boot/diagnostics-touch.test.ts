/**
 * Diagnostics' touch test (boot/diagnostics.ts touch; FIELD-FAULTS.md "touch panel dirty or
 * broken": "(boards with touch) calibration / test | touch test"), on the simulator board's
 * signature pad: the real TSC2007 driver over the simulated I2C bus and chip, pen samples played
 * into the chip (sim/board-sim.ts sign). The check is the list's 10th on a board with a pad and
 * absent on one without; a line drawn across the pad passes; touches read while nobody touches
 * the pad, or a line read over only part of its width, fail E-BRD-06; OK with nothing drawn fails
 * E-BRD-05; CANCEL stops it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Diagnostics, DiagResult, TOUCH_ACROSS_RATIO_MIN } from '../../boot/diagnostics';
import { openDiagnostics as openOver } from './diag-network-check';
import { SimBoard, createSimBoard } from '../../sim/board-sim';
import { DIAG_CHECKS } from '../../ui-lcd/screens';

const PAD_WIDTH = 320;

/** Diagnostics open over the simulator board (tests/boot/diag-network-check.ts). */
const openDiagnostics = (sim: SimBoard): Promise<Diagnostics> => openOver(sim.board);

async function until(what: string, test: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A horizontal line from x0 to x1 (pad pixels) at mid-height, `n` points. */
function line(x0: number, x1: number, n = 30): number[][][] {
  return [Array.from({ length: n }, (_, i) => [Math.round(x0 + ((x1 - x0) * i) / (n - 1)), 60])];
}

describe('diagnostics: the touch test (boards with a signature pad)', function () {
  this.timeout(30_000);
  let sim: SimBoard | undefined;
  let diag: Diagnostics | undefined;
  afterEach(async () => { diag?.close(); await sim?.close(); sim = undefined; diag = undefined; });

  /** Chooses the touch test on the list (the 10th: DOWN to it, then OK), as a technician does. */
  async function startTouch(d: Diagnostics): Promise<void> {
    const checks = d.snapshot().map((r) => r.check);
    assert.deepEqual(checks, [...DIAG_CHECKS, 'touch', 'scanner'], 'the touch test is the list\'s 10th (the scanner\'s 11th)');
    for (let i = 0; i < checks.indexOf('touch'); i++) d.press('DOWN');
    d.press('OK');
    await until('the touch test asks nobody to touch the pad', () => d.screen().id === 'diagnostics:touch-quiet');
  }

  async function result(d: Diagnostics): Promise<DiagResult> {
    let r: DiagResult | undefined;
    await until('the touch test ends', () => { r = d.snapshot().find((x) => x.check === 'touch'); return r !== undefined && r.state !== 'running' && r.state !== 'pending'; });
    return r as DiagResult;
  }

  it('aLineDrawnAcrossThePadPasses', async () => {
    sim = await createSimBoard();
    diag = await openDiagnostics(sim);
    await startTouch(diag);
    await until('the draw prompt after the quiet second', () => diag!.screen().id === 'diagnostics:touch-draw');
    await sim.sign(line(10, PAD_WIDTH - 10));
    await until('the points shown', () => /[1-9]\d* points read/.test(JSON.stringify(diag!.screen().lines)));
    diag.press('OK');
    const r = await result(diag);
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    assert.equal(r.lines[0], `pad answers (${PAD_WIDTH}x120)`);
    assert.match(r.lines[1], /^line across (9[0-9]|100)% of the pad, \d+ points$/);
    assert.ok(r.text?.some((l) => l.zh.startsWith('划线占签名板宽度')), 'the Chinese half');
  });

  it('touchesReadWhileNobodyTouchesThePadFailE-BRD-06', async () => {
    sim = await createSimBoard();
    diag = await openDiagnostics(sim);
    await startTouch(diag);
    await sim.sign(line(100, 120, 8)); // a dirty or damaged panel: touches nobody made
    const r = await result(diag);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-BRD-06');
    assert.match(r.lines.join(' / '), /\d+ touches with nobody touching/);
  });

  it('aLineReadOverOnlyPartOfThePadFailsE-BRD-06_andOkWithNothingDrawnFailsE-BRD-05', async () => {
    sim = await createSimBoard();
    diag = await openDiagnostics(sim);
    await startTouch(diag);
    await until('the draw prompt', () => diag!.screen().id === 'diagnostics:touch-draw');
    const shortWidth = Math.floor(PAD_WIDTH * TOUCH_ACROSS_RATIO_MIN) - 40;
    await sim.sign(line(20, 20 + shortWidth));
    diag.press('OK');
    const part = await result(diag);
    assert.equal(part.code, 'E-BRD-06', part.lines.join(' / '));
    assert.match(part.lines.join(' / '), /line across only \d+% of the pad/);

    // Again (OK in its detail runs it again), OK with nothing drawn.
    diag.press('OK'); // the list: open the detail of the chosen check
    await until('its detail', () => diag!.screen().id === 'diagnostics:touch');
    diag.press('OK'); // the detail's action: test again
    await until('the quiet prompt again', () => diag!.screen().id === 'diagnostics:touch-quiet');
    await until('the draw prompt again', () => diag!.screen().id === 'diagnostics:touch-draw');
    diag.press('OK');
    const none = await result(diag);
    assert.equal(none.code, 'E-BRD-05', none.lines.join(' / '));
    assert.match(none.lines.join(' / '), /nothing drawn was read/);
  });

  it('cancelStopsIt', async () => {
    sim = await createSimBoard();
    diag = await openDiagnostics(sim);
    await startTouch(diag);
    diag.press('CANCEL');
    const r = await result(diag);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-OPR-07');
  });

  it('aBoardWithoutASignaturePadHasNoTouchTest', async () => {
    const json = JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs/sim.json'), 'utf8')) as { devices: Record<string, unknown> };
    delete json.devices.signature0;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pos-diag-touch-'));
    try {
      const file = path.join(dir, 'sim-no-pad.json');
      fs.writeFileSync(file, JSON.stringify(json));
      sim = await createSimBoard({ board: file });
      diag = await openDiagnostics(sim);
      assert.deepEqual(diag.snapshot().map((r) => r.check), [...DIAG_CHECKS, 'scanner']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

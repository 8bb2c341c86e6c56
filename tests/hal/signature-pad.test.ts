/**
 * The TSC2007 signature-pad driver against the simulated chip on the simulator board's I2C bus:
 * calibration, the pressure threshold, strokes to an image the engine accepts, faults as typed
 * errors, and the capture contract (confirm, clear, cancel, timeout, close).
 */
import { strict as assert } from 'node:assert';
import { inflateRawSync } from 'node:zlib';
import { createSimBoard, SimBoard, TEST_SIGNATURES } from '../../sim/board-sim';
import { validateBoard, SIGNATURE_AREA_PIXELS_MAX } from '../../hal/board-schema';
import { readBoardFile } from '../../hal/board';
import { readFileSync } from 'node:fs';
import { SignaturePad, SignatureCaptureOptions, isSignatureAborted, compressSignature, fitSignature, SIGNATURE_PAD_PIXELS_MAX, Stroke } from '../../hal/signature-pad';
import { Tsc2007, commandByte, TSC2007_FN, PD_ADC_ON, touchResistanceOhms, rawToPad } from '../../hal/drivers/tsc2007';
import { SIGNATURE_BYTES_MAX, SIGNATURE_PIXELS_MAX } from '../../runtime/txn/engine';
import { isPosError } from '../../common/errors';

const LIMITS = { pixelsMax: SIGNATURE_PIXELS_MAX, compressedBytesMax: SIGNATURE_BYTES_MAX };
const opts = (o: Partial<SignatureCaptureOptions> = {}): SignatureCaptureOptions => ({ timeoutMs: 10_000, ...LIMITS, ...o });

describe('signature pad: TSC2007 driver over the simulated chip', function () {
  this.timeout(20_000);
  let sim: SimBoard;
  let pad: SignaturePad;

  beforeEach(async () => {
    sim = await createSimBoard();
    pad = sim.board.signaturePad() as SignaturePad;
    assert.ok(pad, 'sim.json has signature0');
  });
  afterEach(async () => { await sim.close(); });

  /** Signs while a capture runs, then confirms. */
  async function signAndConfirm(strokes: ReadonlyArray<ReadonlyArray<readonly number[]>>) {
    const captured = pad.capture(opts());
    await sim.sign(strokes);
    pad.confirm();
    return captured;
  }

  it('commandBytesAreTheDatasheetsAndTheHealthCheckDoesARealConversion', async () => {
    assert.equal(commandByte(TSC2007_FN.X), 0xc4);
    assert.equal(commandByte(TSC2007_FN.Z2, 0), 0xf0);
    assert.equal(commandByte(TSC2007_FN.Y, PD_ADC_ON, true), 0xd6);
    const before = sim.pad().conversions;
    await pad.check();
    assert.equal(sim.pad().conversions, before + 1);
    const results = await sim.board.selfTest();
    assert.deepEqual(results.find((r) => r.role === 'signature0'), { role: 'signature0', ok: true });
  });

  it('calibrationMapsRawReadingsBackToThePadPixelsTheStrokesWereDrawnAt', async () => {
    const drawn = [[[10, 10], [100, 20], [319, 119]], [[0, 0], [160, 60]]];
    const sig = await signAndConfirm(drawn);
    assert.deepEqual(sig.strokes.map((s) => s.map((p) => [p.x, p.y])), drawn);
    // The mapping itself: edges, clamping outside them, a flipped axis.
    const cal = { xRawMin: 180, xRawMax: 3900, yRawMin: 300, yRawMax: 3800 };
    assert.deepEqual(rawToPad({ x: 180, y: 300 }, cal, 320, 120), { x: 0, y: 0 });
    assert.deepEqual(rawToPad({ x: 3900, y: 3800 }, cal, 320, 120), { x: 319, y: 119 });
    assert.deepEqual(rawToPad({ x: 10, y: 4095 }, cal, 320, 120), { x: 0, y: 119 });
    assert.deepEqual(rawToPad({ x: 180, y: 300 }, { ...cal, xRawMin: 3900, xRawMax: 180 }, 320, 120), { x: 319, y: 0 });
  });

  it('touchesLighterThanTheThresholdAreNotInk', async () => {
    // Touch resistance (datasheet eq. 1): 300 Ω plate, X = 2048, Z2/Z1 = 2 -> 150 Ω.
    assert.equal(touchResistanceOhms({ x: 2048, y: 0, z1: 1000, z2: 2000 }, 300), 150);
    assert.equal(touchResistanceOhms({ x: 4095, y: 0, z1: 1000, z2: 2000 }, 300), 0, 'X full scale: no touch');
    assert.equal(touchResistanceOhms({ x: 2048, y: 0, z1: 0, z2: 4095 }, 300), 0, 'Z1 = 0: no touch');
    const mixed = await signAndConfirm([[[20, 20], [60, 20, 0.2], [100, 20], [140, 20, 0.95]]]);
    assert.deepEqual(mixed.strokes.map((s) => s.map((p) => p.x)), [[20], [100, 140]], 'the light point lifts the pen: two strokes');
    const captured = pad.capture(opts());
    await sim.sign(TEST_SIGNATURES.light);
    pad.confirm();
    await assert.rejects(captured, (e: unknown) => isSignatureAborted(e) && e.reason === 'empty' && e.code === 'E-OPR-07');
  });

  it('strokesBecomeA1BitImageTheEngineAcceptsCroppedAndScaledToFit', async () => {
    const sig = await signAndConfirm(TEST_SIGNATURES.demo);
    assert.equal(sig.strokes.length, 3);
    const { image } = sig;
    assert.ok(image.width * image.height <= SIGNATURE_PIXELS_MAX);
    assert.equal(image.pixels.length, image.width * image.height);
    const compressed = compressSignature(image);
    assert.equal(compressed.length, sig.compressedBytes);
    assert.ok(compressed.length <= SIGNATURE_BYTES_MAX, `${compressed.length} bytes`);
    // Cropped to the strokes (x 30..290, y 28..105 plus a 2-pixel margin), not scaled: it fits as is.
    assert.deepEqual([image.width, image.height], [290 - 30 + 5, 105 - 28 + 5]);
    assert.equal(image.pixels[(30 - 28 + 2) * image.width + 2], 1, 'the first point is ink');
    // The packed bits round-trip as the engine unpacks them.
    const packed = inflateRawSync(compressed);
    assert.equal(packed.length, Math.ceil(image.pixels.length / 8));
    // A scribble too detailed at full size is scaled down until it fits.
    const dense: Stroke[] = [];
    for (let i = 0; i < 40; i++) {
      const s: { x: number; y: number }[] = [];
      for (let k = 0; k < 40; k++) s.push({ x: (i * 37 + k * 53) % 384, y: (i * 17 + k * 29) % 200 });
      dense.push(s);
    }
    const fitted = fitSignature(dense, LIMITS);
    assert.ok(fitted.image.width < 380, `scaled down to ${fitted.image.width}`);
    assert.ok(compressSignature(fitted.image).length <= SIGNATURE_BYTES_MAX);
    assert.throws(() => fitSignature(dense, { ...LIMITS, compressedBytesMax: 10 }), (e: unknown) => isPosError(e) && e.id === 'OPR_INPUT');
  });

  it('clearForgetsTheStrokesAndCancelTimeoutCloseEndTheCaptureWithTheirReason', async () => {
    const changes: number[] = [];
    let captured = pad.capture(opts({ onChange: (s) => changes.push(s.length) }));
    await sim.sign([[[10, 10], [50, 50]]]);
    assert.equal(pad.strokes().length, 1);
    pad.clear();
    assert.equal(pad.strokes().length, 0);
    await sim.sign([[[200, 100], [210, 100]]]);
    pad.confirm();
    const sig = await captured;
    assert.deepEqual(sig.strokes.map((s) => s.map((p) => [p.x, p.y])), [[[200, 100], [210, 100]]]);
    assert.ok(changes.includes(0), 'onChange saw the clear');

    captured = pad.capture(opts());
    pad.cancel();
    await assert.rejects(captured, (e: unknown) => isSignatureAborted(e) && e.reason === 'cancelled');

    await assert.rejects(pad.capture(opts({ timeoutMs: 50 })), (e: unknown) => isSignatureAborted(e) && e.reason === 'timeout');

    const first = pad.capture(opts());
    const second = pad.capture(opts());
    await assert.rejects(first, (e: unknown) => isSignatureAborted(e) && e.reason === 'cancelled', 'a new capture replaces the old one');
    await pad.close();
    await assert.rejects(second, (e: unknown) => isSignatureAborted(e) && e.reason === 'closed');
    await assert.rejects(pad.capture(opts()), (e: unknown) => isPosError(e) && e.id === 'BRD_BUS');
    await pad.close();
  });

  it('anAbsentChipAndAGarbledChipGiveTypedErrors', async () => {
    // Garbled: the must-be-zero bits are set. One garbled sample is dropped; three in a row end the capture.
    sim.pad().garble(1);
    const ok = pad.capture(opts());
    await sim.sign([[[20, 20]]]);
    pad.confirm();
    assert.equal((await ok).strokes.length, 1);
    sim.pad().garble(1_000);
    await assert.rejects(pad.capture(opts()), (e: unknown) => isPosError(e) && e.id === 'BRD_BUS' && e.detail.garbled === true);
    await assert.rejects(pad.check(), (e: unknown) => isPosError(e) && e.id === 'BRD_DEVICE_ABSENT' && /not as a TSC2007/.test(e.message));
    sim.pad().garble(0);
    await pad.check();
    // Absent: nothing ACKs 0x48.
    sim.i2cBus(1).setAbsent(0x48, true);
    await assert.rejects(pad.capture(opts()), (e: unknown) => isPosError(e) && e.id === 'BRD_DEVICE_ABSENT');
    const results = await sim.board.selfTest();
    const r = results.find((x) => x.role === 'signature0');
    assert.equal(r?.ok, false);
    assert.equal(r?.error?.id, 'BRD_DEVICE_ABSENT');
    // A chip that reads all zeros (another part at the address) is refused by the health check.
    const zeros = new Tsc2007({ ...sim.i2cBus(1), name: 'x', readWord: async () => 0 } as never, 0x48, 'signature0');
    await assert.rejects(zeros.check(), (e: unknown) => isPosError(e) && e.id === 'BRD_DEVICE_ABSENT' && /TEMP0/.test(e.message));
  });

  it('signingWhileNobodySamplesThePadFailsWithAClearMessage', async () => {
    await assert.rejects(sim.sign([[[1, 1]]], 'signature0', 200), /not sampled within 200 ms/);
    assert.equal(sim.pad().pending, 0, 'the unplayed samples are dropped');
  });
});

describe('signature pad: board file', () => {
  // The board file as written (not the validated config, which carries derived fields such as tzOffsetMinutes).
  const base = (): Record<string, unknown> => JSON.parse(readFileSync(readBoardFile('sim').file, 'utf8')) as Record<string, unknown>;
  const withPad = (pad: Record<string, unknown>): unknown => {
    const b = base() as { devices: Record<string, unknown> } & Record<string, unknown>;
    b.devices.signature0 = pad;
    b.gpio = { backend: 'sim', chip: 'simchip0' };
    return b;
  };
  const pad = (): Record<string, unknown> => ({
    type: 'tsc2007', i2cBus: 1, address: '0x48', width: 320, height: 120,
    calibration: { xRawMin: 180, xRawMax: 3900, yRawMin: 300, yRawMax: 3800 }, xPlateOhms: 300, touchResistanceOhmsMax: 1500, sampleHz: 100,
  });

  it('theAreaLimitIsTheEngines', () => {
    assert.equal(SIGNATURE_PAD_PIXELS_MAX, SIGNATURE_PIXELS_MAX);
    assert.equal(SIGNATURE_AREA_PIXELS_MAX, SIGNATURE_PIXELS_MAX);
  });

  it('isOptionalAndValidatedWithFileRoleAndFieldInTheMessage', () => {
    const without = base() as { devices: Record<string, unknown> };
    delete without.devices.signature0;
    assert.equal(validateBoard(without, 'x.json').devices.signature0, undefined);
    const ok = validateBoard(withPad(pad()), 'x.json').devices.signature0;
    assert.equal(ok?.type, 'tsc2007');
    const refuse = (p: Record<string, unknown>, re: RegExp): void => assert.throws(() => validateBoard(withPad(p), 'board-configs/x.json'), (e: unknown) => isPosError(e) && e.id === 'BRD_INVALID' && re.test(e.message));
    refuse({ ...pad(), width: 400 }, /^E-BRD-01 board-configs\/x\.json: role signature0: field "width" must be an integer 16\.\.384/);
    refuse({ ...pad(), width: 384, height: 200, sampleHz: 10 }, /role signature0: field "sampleHz" must be an integer 20\.\.500/);
    refuse({ ...pad(), calibration: { xRawMin: 100, xRawMax: 200, yRawMin: 300, yRawMax: 3800 } }, /role signature0: field "calibration\.xRawMax" must be at least 256 from xRawMin/);
    refuse({ ...pad(), calibration: { xRawMin: 100, xRawMax: 3000, yRawMin: 300 } }, /field "calibration\.yRawMax" must be an integer 0\.\.4095/);
    refuse({ ...pad(), pressure: 3 }, /role signature0: field "pressure" is not a known field/);
    refuse({ ...pad(), address: '0x3c' }, /role signature0: field "address" uses i2c-1 0x3c, already used by display0/);
    refuse({ ...pad(), type: 'ns2009' }, /role signature0: field "type" must be one of "tsc2007"/);
  });
});

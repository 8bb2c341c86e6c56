import { strict as assert } from 'node:assert';
import { SimI2cBus } from '../../sim/chips/i2c-sim';
import { Ssd1306Model } from '../../sim/chips/ssd1306-model';
import { Ssd1306, FRAME_BYTES } from './ssd1306';
import { FrameBuffer } from '../display';
import { isPosError } from '../../common/errors';

function rig(options: { rotate180?: boolean; writeChunkBytesMax?: number } = {}) {
  const bus = new SimI2cBus();
  const oled = new Ssd1306Model();
  bus.attach(0x3c, oled);
  const display = new Ssd1306(bus, { address: 0x3c, name: 'display0', ...options });
  return { bus, oled, display };
}

function pattern(seed: number): FrameBuffer {
  const f = new FrameBuffer(128, 64);
  for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) if (((x * 7 + y * 13 + seed) % 5) === 0) f.set(x, y, true);
  return f;
}

function sameFrame(a: FrameBuffer, b: FrameBuffer): boolean {
  return Buffer.from(a.bytes).equals(Buffer.from(b.bytes));
}

describe('SSD1306 (driver against the GDDRAM model)', () => {
  it('initTurnsThePanelOnWithChargePumpHorizontalModeAndBlankRam', async () => {
    const { oled, display } = rig();
    await display.init();
    assert.equal(oled.displayOn, true);
    assert.equal(oled.chargePump, true);
    assert.equal(oled.mode, 'horizontal');
    assert.ok(oled.gddram.every((b) => b === 0), 'power-on garbage cleared');
    assert.deepEqual(oled.unknownCommands, []);
  });

  it('operationsCalledTogetherRunOneAfterAnotherSoThePanelMatchesItsShadow', async () => {
    // The boot draws its first frame while the self-test re-initialises the panel. The bus takes
    // a turn per transfer, as i2c-dev's thread pool does: without the driver's queue the two
    // operations' transfers interleave and one's data lands in the other's window.
    const { bus, oled, display } = rig({ writeChunkBytesMax: 32 });
    const write = bus.i2cWrite.bind(bus);
    bus.i2cWrite = async (address, data) => { await new Promise((r) => setImmediate(r)); return write(address, data); };
    await display.init();
    const f = pattern(3);
    await Promise.all([display.drawFrame(f), display.init()]);
    assert.ok(oled.gddram.every((b) => b === 0), 'the init after the frame cleared the RAM whole');
    await display.drawFrame(f);
    assert.ok(sameFrame(oled.toFrame(), f), 'the next frame is drawn whole: the shadow matched the panel');
  });

  it('fullFrameAppearsPixelForPixelUpright', async () => {
    const { oled, display } = rig();
    await display.init();
    const f = pattern(1);
    f.set(0, 0, true);
    f.set(127, 63, true);
    await display.drawFrame(f);
    assert.ok(sameFrame(oled.toFrame(), f));
    assert.equal(oled.pixel(0, 0), true);
    assert.equal(oled.pixel(1, 0), f.get(1, 0));
  });

  it('rotatedMountingStillShowsTheFrameUprightOnThatPanel', async () => {
    const { oled, display } = rig({ rotate180: true });
    await display.init();
    const f = new FrameBuffer(128, 64);
    f.set(3, 5, true);
    await display.drawFrame(f);
    // The model's glass is mounted for 0xA1/0xC8; a 180° driver setting shows the pixel mirrored.
    assert.equal(oled.pixel(124, 58), true);
    assert.equal(oled.pixel(3, 5), false);
  });

  it('unchangedFrameSendsNothingAndOnePixelSendsOneSmallWindow', async () => {
    const { bus, oled, display } = rig();
    await display.init();
    const f = pattern(2);
    await display.drawFrame(f);
    bus.resetStats();
    await display.drawFrame(f);
    assert.equal(bus.stats.transactions, 0);
    f.set(64, 33, !f.get(64, 33));
    await display.drawFrame(f);
    assert.equal(bus.stats.transactions, 2);
    assert.ok(bus.stats.bytesWritten <= 9, `bytes ${bus.stats.bytesWritten}`);
    assert.ok(sameFrame(oled.toFrame(), f));
  });

  it('twoDistantChangesUsePerPageWindowsWhenCheaperThanTheBoundingBox', async () => {
    const { bus, oled, display } = rig();
    await display.init();
    const f = new FrameBuffer(128, 64);
    await display.drawFrame(f);
    bus.resetStats();
    f.set(0, 0, true);
    f.set(127, 63, true);
    await display.drawFrame(f);
    assert.ok(bus.stats.bytesWritten < 40, `bounding box would be 1024 bytes; sent ${bus.stats.bytesWritten}`);
    assert.ok(sameFrame(oled.toFrame(), f));
  });

  it('regionLimitsWhatIsSentAndTheRestFollowsLater', async () => {
    const { oled, display } = rig();
    await display.init();
    const f = new FrameBuffer(128, 64);
    f.set(10, 10, true);
    f.set(100, 50, true);
    await display.drawFrame(f, { x: 0, y: 0, width: 64, height: 32 });
    assert.equal(oled.pixel(10, 10), true);
    assert.equal(oled.pixel(100, 50), false, 'outside the region: not sent');
    await display.drawFrame(f);
    assert.equal(oled.pixel(100, 50), true, 'shadow knew it was not sent');
  });

  it('smallChunksForSmbusAdaptersGiveTheSamePicture', async () => {
    const { bus, oled, display } = rig({ writeChunkBytesMax: 31 });
    await display.init();
    bus.resetStats();
    const f = pattern(3);
    await display.drawFrame(f);
    assert.ok(sameFrame(oled.toFrame(), f));
    assert.ok(bus.log.every((r) => r.bytes <= 32));
  });

  it('nakMidFrameIsReportedAndTheNextFrameIsSentWhole', async () => {
    const { bus, oled, display } = rig();
    await display.init();
    bus.injectNak(0x3c, { count: 1, afterBytes: 3 });
    const f = pattern(4);
    await assert.rejects(display.drawFrame(f), (e) => { assert.ok(isPosError(e, 'device-absent'), String(e)); return /display0/.test((e as Error).message); });
    bus.resetStats();
    await display.drawFrame(f);
    assert.ok(bus.stats.bytesWritten >= FRAME_BYTES, 'full resend after failure');
    assert.ok(sameFrame(oled.toFrame(), f));
  });

  it('absentPanelIsADisplayFault', async () => {
    const { bus, display } = rig();
    bus.setAbsent(0x3c, true);
    await assert.rejects(display.init(), (e) => isPosError(e, 'device-absent') && (e as { id: string }).id === 'DSP_FAULT');
  });

  it('powerOffBlanksTheGlassButKeepsRam', async () => {
    const { oled, display } = rig();
    await display.init();
    const f = pattern(5);
    await display.drawFrame(f);
    await display.setPower(false);
    assert.equal(oled.toFrame().takeDirty(), undefined, 'nothing lit');
    await display.setPower(true);
    assert.ok(sameFrame(oled.toFrame(), f));
  });
});

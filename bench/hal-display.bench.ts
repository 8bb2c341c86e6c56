/**
 * Display refresh cost over the simulated I2C bus, with the real drivers and chip models.
 * Prints figures and ratios; asserts nothing (timing on a CI host says little about a terminal).
 *
 * - SSD1306 128x64: a full-frame refresh (every byte changes) and a typical partial update (one
 *   16-pixel text line changed), bytes on the wire against the 1,024-byte frame buffer floor,
 *   wire time at 400 kHz, host CPU time per frame.
 * - HD44780 20x4 behind a PCF8574: a full-screen write (4 rows x 20 characters), bytes and wire
 *   time at 100 kHz (the PCF8574's maximum), host CPU time.
 */
import { SimI2cBus } from '../sim/chips/i2c-sim';
import { Ssd1306Model } from '../sim/chips/ssd1306-model';
import { Pcf8574Hd44780Model } from '../sim/chips/hd44780-model';
import { Ssd1306, FRAME_BYTES } from '../hal/drivers/ssd1306';
import { Hd44780Pcf8574 } from '../hal/drivers/hd44780-pcf8574';
import { FrameBuffer } from '../hal/display';

const FRAMES = 200;

function checkerboard(phase: number): FrameBuffer {
  const f = new FrameBuffer(128, 64);
  for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) f.set(x, y, ((x + y + phase) & 1) === 1);
  return f;
}

/** Wire bytes: payload plus one address byte per transaction. */
function wireBytes(bus: SimI2cBus): number {
  return bus.stats.bytesWritten + bus.stats.bytesRead + bus.stats.transactions;
}

async function ssd1306Bench(): Promise<void> {
  const bus = new SimI2cBus('sim-i2c-1', 400_000);
  const oled = new Ssd1306Model();
  bus.attach(0x3c, oled);
  const display = new Ssd1306(bus, { address: 0x3c });
  await display.init();
  const frames = [checkerboard(0), checkerboard(1)];
  bus.resetStats();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < FRAMES; i++) await display.drawFrame(frames[i & 1]);
  const cpuMs = Number(process.hrtime.bigint() - t0) / 1e6 / FRAMES;
  const bytes = wireBytes(bus) / FRAMES;
  const wireMs = bus.stats.wireTimeUs / 1000 / FRAMES;
  console.log('SSD1306 128x64, full frame (every byte changed), I2C 400 kHz');
  console.log(`  bytes on the wire per frame   ${bytes.toFixed(0)} (payload ${(bus.stats.bytesWritten / FRAMES).toFixed(0)}, ${(bus.stats.transactions / FRAMES).toFixed(0)} transactions)`);
  console.log(`  frame buffer floor            ${FRAME_BYTES}`);
  console.log(`  ratio to floor                ${(bytes / FRAME_BYTES).toFixed(3)}`);
  console.log(`  wire time per frame           ${wireMs.toFixed(2)} ms  (${(1000 / wireMs).toFixed(1)} frames/s max)`);
  console.log(`  host CPU per frame            ${cpuMs.toFixed(3)} ms (driver + model)`);

  const base = checkerboard(0);
  await display.drawFrame(base);
  bus.resetStats();
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < FRAMES; i++) {
    for (let y = 24; y < 40; y++) for (let x = 0; x < 128; x++) base.set(x, y, ((x * 3 + y + i) % 7) === 0);
    await display.drawFrame(base);
  }
  const partCpu = Number(process.hrtime.bigint() - t1) / 1e6 / FRAMES;
  const partBytes = wireBytes(bus) / FRAMES;
  console.log('SSD1306, one 16-px text line changed (2 pages)');
  console.log(`  bytes on the wire per update  ${partBytes.toFixed(0)}  (ratio to full floor ${(partBytes / FRAME_BYTES).toFixed(3)})`);
  console.log(`  wire time per update          ${(bus.stats.wireTimeUs / 1000 / FRAMES).toFixed(2)} ms`);
  console.log(`  host CPU per update           ${partCpu.toFixed(3)} ms`);
  if (oled.unknownCommands.length > 0) console.log(`  (model saw unknown commands: ${oled.unknownCommands.join(',')})`);
}

async function hd44780Bench(): Promise<void> {
  const bus = new SimI2cBus('sim-i2c-1', 100_000);
  const lcd = new Pcf8574Hd44780Model(20, 4);
  bus.attach(0x27, lcd);
  const display = new Hd44780Pcf8574(bus, { address: 0x27, cols: 20, rows: 4 });
  await display.init();
  const screens = [['SALE            12.50', 'CARD 622848******1234', 'ENTER PIN:  ******  ', 'OK=confirm  X=cancel'],
    ['SETTLEMENT  BATCH 12', 'SALES  15    1234.00', 'VOIDS   1      12.50', 'PRESS OK TO PRINT   ']];
  bus.resetStats();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < FRAMES; i++) for (let r = 0; r < 4; r++) await display.writeText(r, 0, screens[i & 1][r]);
  const cpuMs = Number(process.hrtime.bigint() - t0) / 1e6 / FRAMES;
  const bytes = wireBytes(bus) / FRAMES;
  const chars = 80;
  console.log('HD44780 20x4 via PCF8574, full-screen write (4 rows x 20 chars), I2C 100 kHz');
  console.log(`  bytes on the wire per screen  ${bytes.toFixed(0)} (payload ${(bus.stats.bytesWritten / FRAMES).toFixed(0)}, ${(bus.stats.transactions / FRAMES).toFixed(0)} transactions)`);
  console.log(`  characters                    ${chars}  (ratio bytes/char ${(bytes / chars).toFixed(2)}; 4-bit mode needs >= 4)`);
  console.log(`  wire time per screen          ${(bus.stats.wireTimeUs / 1000 / FRAMES).toFixed(2)} ms`);
  console.log(`  host CPU per screen           ${cpuMs.toFixed(3)} ms (driver + model)`);
  console.log(`  model timing violations       ${lcd.violations.length}; text ok: ${lcd.text()[0] === screens[(FRAMES - 1) & 1][0]}`);
}

export async function runDisplayBench(): Promise<void> {
  await ssd1306Bench();
  await hd44780Bench();
}

if (require.main === module) {
  runDisplayBench().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}

/**
 * board-configs/qemu-x86.json, the emulated board: valid under the board schema, and wired the
 * way the guest launcher wires QEMU (tests/guest/qemu.ts): printer and reader on ttyS1/ttyS2 (ttyS0
 * is the console, ttyS3 the tests' channel), gauge and display on i2c-0 (the only adapter, i2c-stub),
 * every GPIO line on the one gpio-sim chip and none used twice.
 */
import { strict as assert } from 'node:assert';
import { readBoardFile } from '../../hal/board';

describe('guest: the emulated board file (qemu-x86)', () => {
  it('validatesAndMatchesTheGuestsWiring', () => {
    const { config } = readBoardFile('qemu-x86');
    assert.equal(config.board, 'qemu-x86');
    assert.equal(config.simulator, false);
    // A real board refuses the plain key file unless its board file allows it (E-KEY-04): this
    // test board has no TPM in the guest yet, and says so.
    assert.deepEqual(config.deviceKey, { provider: 'file', allowPlainFile: true });
    // Read as plain JSON objects: the checks below look at fields of several device types at once.
    const d = config.devices as unknown as Record<string, Record<string, unknown>>;
    assert.equal(d.printer0.port, '/dev/ttyS1');
    assert.equal(d.reader0.port, '/dev/ttyS2');
    assert.equal(d.display0.i2cBus, 0);
    // i2c-stub is SMBus only, and the board says so: an SSD1306 write (control byte as the command,
    // then its data) must fit one I2C-block write of at most 32 data bytes.
    assert.deepEqual(config.i2cBuses, { 0: { smbusOnly: true } });
    assert.ok(Number(d.display0.writeChunkBytesMax) <= 32);
    const battery = d.battery0 as { gauge: { i2cBus: number; address: number }; lowLine: { line: number }; chargingLine: { line: number } };
    assert.equal(battery.gauge.i2cBus, 0);
    assert.equal(battery.gauge.address, 0x36);
    const keypad = d.keypad0 as { rowLines: number[]; colLines: number[] };
    const lines = [...keypad.rowLines, ...keypad.colLines, battery.lowLine.line, battery.chargingLine.line, d.reset0.line, d.ledPower0.line, d.ledStatus0.line] as number[];
    assert.equal(new Set(lines).size, lines.length, 'no GPIO line used twice');
    assert.ok(lines.every((l) => l >= 0 && l < 16), 'every line on the 16-line gpio-sim bank');
  });
});

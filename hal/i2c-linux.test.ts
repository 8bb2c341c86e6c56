/**
 * hal/i2c-linux.ts on an SMBus-only adapter (board file `i2cBuses`): plain writes go out as the
 * SMBus transfers that put the same bytes on the wire, over a fake i2c-bus handle that records
 * every call. The SSD1306 driver over it draws a frame whose block writes, replayed into the
 * simulator's SSD1306 model (sim/chips/ssd1306-model.ts, the chip decoding control byte + data),
 * show that frame. The board schema refuses devices that cannot fit SMBus transfers.
 */
import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { LinuxI2cBus, I2cBusHandle, SMBUS_WRITE_BYTES_MAX } from './i2c-linux';
import { isPosError } from '../common/errors';
import { Ssd1306 } from './drivers/ssd1306';
import { FrameBuffer } from './display';
import { Ssd1306Model } from '../sim/chips/ssd1306-model';
import { validateBoard } from './board-schema';
import { readBoardFile } from './board';

type Call = [string, ...unknown[]];

/** An i2c-bus handle that records transfers; plain I2C messages fail as on i2c-stub (EOPNOTSUPP). */
function smbusFake(): { handle: I2cBusHandle; calls: Call[] } {
  const calls: Call[] = [];
  const refuse = (op: string) => async (): Promise<never> => {
    calls.push([op]);
    throw Object.assign(new Error(`${op}: Operation not supported`), { code: 'EOPNOTSUPP' });
  };
  const handle: I2cBusHandle = {
    i2cWrite: refuse('i2cWrite'),
    i2cRead: refuse('i2cRead'),
    readByte: async (a, c) => { calls.push(['readByte', a, c]); return 0x5a; },
    writeByte: async (a, c, v) => { calls.push(['writeByte', a, c, v]); },
    readWord: async (a, c) => { calls.push(['readWord', a, c]); return 0x1234; },
    writeWord: async (a, c, v) => { calls.push(['writeWord', a, c, v]); },
    receiveByte: async (a) => { calls.push(['receiveByte', a]); return 0x42; },
    sendByte: async (a, b) => { calls.push(['sendByte', a, b]); },
    writeQuick: async (a, bit) => { calls.push(['writeQuick', a, bit]); },
    writeI2cBlock: async (a, c, len, buf) => { calls.push(['writeI2cBlock', a, c, Buffer.from(buf.subarray(0, len))]); return { bytesWritten: len, buffer: buf }; },
    close: async () => undefined,
  };
  return { handle, calls };
}

describe('I2C on an SMBus-only adapter (hal/i2c-linux.ts, board file i2cBuses)', () => {
  it('sendsOneByteAsSendByteAndUpTo33AsAnI2cBlockWriteWithTheFirstByteAsCommand', async () => {
    const { handle, calls } = smbusFake();
    const bus = LinuxI2cBus.over('i2c-0', handle, { smbusOnly: true });
    await bus.i2cWrite(0x3c, Uint8Array.of(0xaf));
    const full = Uint8Array.from({ length: SMBUS_WRITE_BYTES_MAX }, (_, i) => (i === 0 ? 0x40 : i));
    await bus.i2cWrite(0x3c, full);
    assert.deepEqual(calls, [
      ['sendByte', 0x3c, 0xaf],
      ['writeI2cBlock', 0x3c, 0x40, Buffer.from(full.subarray(1))],
    ]);
    assert.equal((calls[1][3] as Buffer).length, 32);
    assert.equal(await bus.i2cRead(0x36, 1).then((b) => b[0]), 0x42, 'a one-byte read is receive byte');
  });

  it('aTransferThatTimedOutIsNotOvertakenByTheNextWhichWaitsForItToReallyEnd', async () => {
    // Under load the thread pool runs a write late: it times out for its caller but still happens.
    const { handle, calls } = smbusFake();
    let finishFirst: () => void = () => undefined;
    const slow = handle.writeI2cBlock;
    let n = 0;
    handle.writeI2cBlock = (a, c, len, buf) => {
      if (n++ > 0) return slow(a, c, len, buf);
      calls.push(['writeI2cBlock-started', a, c]);
      return new Promise((resolve) => { finishFirst = () => { calls.push(['writeI2cBlock', a, c, Buffer.from(buf.subarray(0, len))]); resolve({ bytesWritten: len, buffer: buf }); }; });
    };
    const bus = LinuxI2cBus.over('i2c-0', handle, { smbusOnly: true, timeoutMs: 30 });
    await assert.rejects(bus.i2cWrite(0x3c, Uint8Array.of(0x40, 1, 2)), /timed out after 30 ms/);
    const second = bus.i2cWrite(0x3c, Uint8Array.of(0x00, 0x21, 0, 127));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(calls.map((c) => c[0]), ['writeI2cBlock-started'], 'the next transfer waits while the first is still running');
    finishFirst();
    await second;
    assert.deepEqual(calls.map((c) => [c[0], c[2]]), [['writeI2cBlock-started', 0x40], ['writeI2cBlock', 0x40], ['writeI2cBlock', 0x00]], 'on the wire in the order they were asked for');
  });

  it('aTransferThatFinishedWhileTheProcessWasStarvedIsNotATimeout', async () => {
    // Seen at boot in the loaded TCG guest: E-BRD-03 for display writes that had gone through. The
    // transfer ends on the thread pool while the process is off the CPU past the timeout; node then
    // runs the due timer before the completion: the timeout counts running time (runningTimeout).
    const clock = sinon.useFakeTimers();
    try {
      const { handle } = smbusFake();
      let finish: () => void = () => undefined;
      handle.writeI2cBlock = (_a, _c, len, buf) => new Promise((resolve) => { finish = () => resolve({ bytesWritten: len, buffer: buf }); });
      const bus = LinuxI2cBus.over('i2c-0', handle, { smbusOnly: true, timeoutMs: 1000 });
      let outcome = 'pending';
      const write = bus.i2cWrite(0x3c, Uint8Array.of(0x40, 1, 2)).then(() => { outcome = 'done'; }, (e: Error) => { outcome = e.message; });
      await clock.tickAsync(10);
      clock.jump(3000);
      finish();
      await clock.tickAsync(0);
      await write;
      assert.equal(outcome, 'done');
      // Positive control: a transfer that never ends still times out, in running time.
      handle.writeI2cBlock = () => new Promise(() => undefined);
      const stuck = LinuxI2cBus.over('i2c-1', handle, { smbusOnly: true, timeoutMs: 1000 });
      const failed = assert.rejects(stuck.i2cWrite(0x3c, Uint8Array.of(0x40, 1, 2)), /timed out after 1000 ms/);
      await clock.tickAsync(1000);
      await failed;
    } finally {
      clock.restore();
    }
  });

  it('refusesWritesSmbusCannotCarryBeforeAnyTransfer', async () => {
    const { handle, calls } = smbusFake();
    const bus = LinuxI2cBus.over('i2c-0', handle, { smbusOnly: true });
    await assert.rejects(bus.i2cWrite(0x3c, new Uint8Array(SMBUS_WRITE_BYTES_MAX + 1)), (e) => isPosError(e, 'bus-fault') && /34 bytes on an SMBus-only bus .*writeChunkBytesMax/.test((e as Error).message));
    await assert.rejects(bus.i2cWrite(0x3c, new Uint8Array(0)), (e) => isPosError(e, 'bus-fault'));
    await assert.rejects(bus.i2cRead(0x48, 2), (e) => isPosError(e, 'bus-fault') && /read of 2 bytes on an SMBus-only bus/.test((e as Error).message));
    assert.deepEqual(calls, []);
  });

  it('sendsPlainI2cWhenTheBoardDoesNotSaySmbusOnly', async () => {
    // The same fake refuses plain messages as i2c-stub does: the failure is the kernel's, mapped.
    const { handle, calls } = smbusFake();
    const bus = LinuxI2cBus.over('i2c-0', handle);
    await assert.rejects(bus.i2cWrite(0x3c, Uint8Array.of(0x00, 0xaf)), (e) => isPosError(e, 'bus-fault') && /EOPNOTSUPP/.test((e as Error).message));
    assert.deepEqual(calls, [['i2cWrite']]);
  });

  it('drawsAnSsd1306FrameThroughBlockWritesThatTheChipModelDecodesBack', async () => {
    const { handle, calls } = smbusFake();
    const bus = LinuxI2cBus.over('i2c-0', handle, { smbusOnly: true });
    const display = new Ssd1306(bus, { address: 0x3c, writeChunkBytesMax: 32 });
    await display.init();
    const frame = new FrameBuffer(128, 64);
    for (let x = 0; x < 128; x++) frame.set(x, (x * 7) % 64, true); // a pattern across every page
    await display.drawFrame(frame);
    const model = new Ssd1306Model();
    for (const c of calls) {
      assert.ok(c[0] === 'writeI2cBlock' || c[0] === 'sendByte', `only SMBus transfers: ${c[0]}`);
      if (c[0] === 'writeI2cBlock') {
        assert.ok((c[3] as Buffer).length <= 32);
        model.write(Buffer.concat([Buffer.of(c[2] as number), c[3] as Buffer]));
      } else model.write(Buffer.of(c[2] as number));
    }
    const shown = model.toFrame();
    for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) assert.equal(shown.get(x, y), frame.get(x, y), `pixel ${x},${y}`);
    assert.equal(model.displayOn, true);
  });
});

describe('board schema: i2cBuses (SMBus-only adapters)', () => {
  const base = (display: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const { config } = readBoardFile('qemu-x86');
    // The shipped emulated board as JSON again, with the display and top-level fields replaced.
    const json = JSON.parse(JSON.stringify({ ...config, devices: { ...config.devices, display0: display } })) as Record<string, unknown>;
    delete json.tzOffsetMinutes;
    delete json.host;
    return { ...json, i2cBuses: { 0: { smbusOnly: true } }, ...extra };
  };

  it('acceptsTheEmulatedBoardAndRefusesADisplayWhoseWritesDoNotFit', () => {
    const { config } = readBoardFile('qemu-x86');
    assert.deepEqual(config.i2cBuses, { 0: { smbusOnly: true } });
    assert.doesNotThrow(() => validateBoard(base({ type: 'ssd1306', i2cBus: 0, address: 0x3c, writeChunkBytesMax: 32 }), 'x.json'));
    assert.throws(() => validateBoard(base({ type: 'ssd1306', i2cBus: 0, address: 0x3c, writeChunkBytesMax: 33 }), 'x.json'),
      (e) => isPosError(e) && /role display0: field "writeChunkBytesMax" must be 1..32 \(i2c-0 is SMBus-only/.test((e as Error).message));
    assert.throws(() => validateBoard(base({ type: 'ssd1306', i2cBus: 0, address: 0x3c }), 'x.json'), /writeChunkBytesMax/, 'the whole-frame default does not fit');
    assert.doesNotThrow(() => validateBoard(base({ type: 'ssd1306', i2cBus: 1, address: 0x3c }), 'x.json'), 'another bus is plain I2C');
  });

  it('refusesABadBusEntry', () => {
    const bad = (i2cBuses: unknown): string => {
      try { validateBoard(base({ type: 'ssd1306', i2cBus: 0, address: 0x3c, writeChunkBytesMax: 32 }, { i2cBuses }), 'x.json'); } catch (e) { return (e as Error).message; }
      return assert.fail('accepted');
    };
    assert.match(bad({ x: { smbusOnly: true } }), /field "i2cBuses\.x" must be a bus number/);
    assert.match(bad({ 256: { smbusOnly: true } }), /field "i2cBuses\.256" must be a bus number/);
    assert.match(bad({ 0: { smbusOnly: 'yes' } }), /field "i2cBuses\.0\.smbusOnly" must be true or false/);
    assert.match(bad({ 0: { smbusOnly: true, speed: 1 } }), /field "i2cBuses\.0\.speed" is not a known field/);
  });
});

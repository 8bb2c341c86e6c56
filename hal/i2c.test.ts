import { strict as assert } from 'node:assert';
import { SimI2cBus, I2cSimDevice } from '../sim/chips/i2c-sim';
import { LinuxI2cBus } from './i2c-linux';
import { readWordBE, writeWordBE } from './i2c';
import { isPosError, PosError } from '../common/errors';

/** A 256-byte register file, big-endian words, pointer auto-increment: a typical sensor. */
class RegisterFile implements I2cSimDevice {
  regs = new Uint8Array(256);
  pointer = 0;
  writes: number[][] = [];
  write(data: Uint8Array): void {
    this.writes.push([...data]);
    if (data.length === 0) return;
    this.pointer = data[0];
    for (const b of data.subarray(1)) this.regs[this.pointer++ & 0xff] = b;
  }
  read(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.regs[this.pointer++ & 0xff];
    return out;
  }
}

describe('I2C bus (simulated adapter)', () => {
  it('smbusWordIsLittleEndianAndReadWordBESwapsIt', async () => {
    const bus = new SimI2cBus();
    const dev = new RegisterFile();
    bus.attach(0x36, dev);
    dev.regs[0x08] = 0x00;
    dev.regs[0x09] = 0x12; // big-endian 0x0012
    assert.equal(await bus.readWord(0x36, 0x08), 0x1200);
    assert.equal(await readWordBE(bus, 0x36, 0x08), 0x0012);
    await writeWordBE(bus, 0x36, 0x0c, 0x971c);
    assert.deepEqual([dev.regs[0x0c], dev.regs[0x0d]], [0x97, 0x1c]);
  });

  it('absentDeviceIsDeviceAbsentNamingBusAndAddress', async () => {
    const bus = new SimI2cBus('sim-i2c-1');
    await assert.rejects(bus.readByte(0x27, 0), (e) => {
      assert.ok(isPosError(e, 'device-absent'));
      assert.match(e.message, /sim-i2c-1: no ACK from 0x27/);
      assert.equal(e.detail.address, 0x27);
      return true;
    });
    assert.equal(await bus.probe(0x27), false);
  });

  it('probeSeesAnUnpluggedDeviceAsAbsent', async () => {
    const bus = new SimI2cBus();
    bus.attach(0x3c, new RegisterFile());
    assert.equal(await bus.probe(0x3c), true);
    bus.setAbsent(0x3c, true);
    assert.equal(await bus.probe(0x3c), false);
  });

  it('dataNakDeliversOnlyTheBytesBeforeItThenRecovers', async () => {
    const bus = new SimI2cBus();
    const dev = new RegisterFile();
    bus.attach(0x20, dev);
    bus.injectNak(0x20, { afterBytes: 2 });
    await assert.rejects(bus.i2cWrite(0x20, Uint8Array.of(0x10, 1, 2, 3)), (e) => isPosError(e, 'device-absent') && (e as PosError).detail.nak === 'data');
    assert.deepEqual(dev.writes, [[0x10, 1]]);
    await bus.i2cWrite(0x20, Uint8Array.of(0x10, 9));
    assert.equal(dev.regs[0x10], 9);
  });

  it('busErrorIsBusFaultAndIsNotDeviceAbsent', async () => {
    const bus = new SimI2cBus();
    bus.attach(0x20, new RegisterFile());
    bus.injectBusError(1);
    await assert.rejects(bus.probe(0x20), (e) => isPosError(e, 'bus-fault'));
    assert.equal(await bus.probe(0x20), true);
  });

  it('reservedAddressAndClosedBusAreRefused', async () => {
    const bus = new SimI2cBus();
    await assert.rejects(bus.i2cRead(0x7f, 1), (e) => isPosError(e, 'bus-fault'));
    await bus.close();
    await assert.rejects(bus.probe(0x20), (e) => isPosError(e, 'bus-fault'));
  });
});

describe('I2C bus (Linux i2c-bus backend)', () => {
  it('openingAMissingAdapterSucceedsButProbeIsABusFault', async () => {
    // i2c-bus opens lazily; only a real transfer finds out that /dev/i2c-99 is not there.
    const bus = await LinuxI2cBus.open(99);
    await assert.rejects(bus.probe(0x27), (e) => isPosError(e, 'bus-fault') && /i2c-99/.test((e as Error).message));
    await bus.close();
  });
});

import { strict as assert } from 'node:assert';
import { createSimBoard } from './board-sim';
import { memoryCommand } from './memory-probe';

describe('control interface memory: the simulated devices\' share (issue 14)', () => {
  it('reportsWhatThePaperRollHoldsAndDropTearsItOffAndEmptiesTheI2cLogs', async () => {
    const sim = await createSimBoard();
    try {
      for (let n = 0; n < 3; n++) await sim.board.printer().print({ label: `slip ${n}`, blocks: [{ kind: 'text', text: `商户存根 ${n}` }, { kind: 'cut' }] });
      // A simulated I2C device talked to, as the displays and the gauge are all day.
      const bus = sim.i2cBus(7);
      bus.attach(0x3c, { write: () => undefined, read: (n) => new Uint8Array(n) });
      for (let n = 0; n < 10; n++) await bus.i2cWrite(0x3c, Uint8Array.of(0x40, n));
      const logged = (): number => [...sim.i2c.values()].reduce((n, b) => n + b.log.length, 0);
      const before = memoryCommand(sim, false);
      assert.ok(logged() >= 10, 'the transfers are logged');
      assert.equal(before.paperReceipts, 3);
      assert.ok(before.paperBitmapMb > 0, 'the roll holds pixels');
      assert.ok(before.heapUsedMb > 0 && before.rssMb > 0);
      const dropped = memoryCommand(sim, true);
      assert.equal(dropped.paperReceipts, 3, 'the figures before the drop');
      assert.equal(dropped.afterDrop?.paperReceipts, 0);
      assert.equal(dropped.afterDrop?.paperBitmapMb, 0);
      assert.equal(dropped.afterDrop?.paperReceiptsShed, 3);
      assert.equal(logged(), 0, 'the I2C buses\' transfer logs are the simulator\'s share too');
      assert.ok((dropped.devicesMb ?? -1) >= 0, 'a share, never negative');
      // The printer goes on printing after the drop (its font loads again).
      await sim.board.printer().print({ label: 'after', blocks: [{ kind: 'text', text: '签购单' }, { kind: 'cut' }] });
      assert.deepEqual(sim.printer().receipts().map((r) => r.lines[0]), ['签购单']);
    } finally {
      await sim.close();
    }
  });
});

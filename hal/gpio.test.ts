import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { SimGpioChip } from '../sim/chips/gpio-sim';
import { checkLine, EdgeEvent } from './gpio';
import { isPosError } from '../common/errors';

describe('GPIO line (simulated chip)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  it('activeLowInputReadsOneWhenTheWireIsLow', async () => {
    const chip = new SimGpioChip();
    const line = await chip.requestLine(4, { direction: 'in', activeLow: true, bias: 'pull-up' });
    assert.equal(await line.read(), 0, 'pulled up wire is inactive');
    chip.pin(4).drive(0);
    assert.equal(await line.read(), 1);
  });

  it('outputDrivesTheWireAndReadsBack', async () => {
    const chip = new SimGpioChip();
    const line = await chip.requestLine(5, { direction: 'out', initial: 1 });
    assert.equal(chip.pin(5).level, 1);
    await line.write(0);
    assert.equal(chip.pin(5).level, 0);
    assert.equal(await checkLine(line), 0);
  });

  it('debouncedWatchReportsOneEdgeForABurstOfBounces', async () => {
    const chip = new SimGpioChip();
    const line = await chip.requestLine(6, { direction: 'in', bias: 'pull-down' });
    const events: EdgeEvent[] = [];
    line.watch('both', (e) => events.push(e), { debounceMs: 10 });
    await clock.tickAsync(0);
    for (let i = 0; i < 5; i++) {
      chip.pin(6).drive(1);
      await clock.tickAsync(1);
      chip.pin(6).drive(0);
      await clock.tickAsync(1);
    }
    chip.pin(6).drive(1);
    await clock.tickAsync(9);
    assert.equal(events.length, 0, 'nothing before the line is quiet for 10 ms');
    await clock.tickAsync(2);
    assert.deepEqual(events.map((e) => e.edge), ['rising']);
  });

  it('rawWatchFiltersByEdgeAndStopsAfterUnwatch', async () => {
    const chip = new SimGpioChip();
    const line = await chip.requestLine(7, { direction: 'in' });
    const seen: string[] = [];
    const stop = line.watch('falling', (e) => seen.push(e.edge));
    chip.pin(7).drive(1);
    chip.pin(7).drive(0);
    stop();
    chip.pin(7).drive(1);
    chip.pin(7).drive(0);
    assert.deepEqual(seen, ['falling']);
  });

  it('injectedIoErrorRejectsWithBusFault', async () => {
    const chip = new SimGpioChip();
    const line = await chip.requestLine(8, { direction: 'out' });
    chip.pin(8).fail(true);
    await assert.rejects(line.write(1), (e) => isPosError(e, 'bus-fault') && /sim.*:8/.test((e as Error).message));
    await assert.rejects(checkLine(line), (e) => isPosError(e, 'bus-fault'));
  });

  it('lineIsBusyUntilClosedAndReleasedOutputFloatsToPull', async () => {
    const chip = new SimGpioChip();
    chip.pin(9).setPull(1);
    const line = await chip.requestLine(9, { direction: 'out', initial: 0 });
    await assert.rejects(chip.requestLine(9, { direction: 'in' }), (e) => isPosError(e, 'bus-fault'));
    await line.close();
    assert.equal(chip.pin(9).level, 1);
    await assert.rejects(line.read(), (e) => isPosError(e, 'bus-fault'));
    await chip.requestLine(9, { direction: 'in' });
  });

  it('debounceOutsideItsMaximumIsRefused', async () => {
    const chip = new SimGpioChip();
    const line = await chip.requestLine(10, { direction: 'in' });
    assert.throws(() => line.watch('both', () => undefined, { debounceMs: 5000 }), (e) => isPosError(e, 'bus-fault'));
  });
});

describe('GPIO line (onoff sysfs backend)', () => {
  it('lineWithoutSysfsIsABusFaultNamingChipAndOffset', async function () {
    const { OnoffGpioChip } = await import('./gpio-onoff');
    if (OnoffGpioChip.accessible) this.skip(); // a host with sysfs GPIO: nothing to prove here
    const chip = new OnoffGpioChip('gpiochip0', 512);
    await assert.rejects(chip.requestLine(17, { direction: 'in' }),
      (e) => isPosError(e, 'bus-fault') && /gpiochip0:17: sysfs gpio529 not available/.test((e as Error).message));
  });
});

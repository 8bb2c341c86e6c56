import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { SimI2cBus } from '../../sim/chips/i2c-sim';
import { SimGpioChip } from '../../sim/chips/gpio-sim';
import { Max17048Model } from '../../sim/chips/max17048-model';
import { Max17048, REG } from './max17048';
import { GaugeBattery } from './battery';
import { BatteryState } from '../battery';
import { isPosError } from '../../common/errors';

async function rig(state = { voltageMv: 3900, percent: 80 }) {
  const bus = new SimI2cBus();
  const model = new Max17048Model(state);
  bus.attach(0x36, model);
  const chip = new SimGpioChip();
  chip.pin(22).setPull(1);
  const lowLine = await chip.requestLine(22, { direction: 'in', activeLow: true });
  const chargingLine = await chip.requestLine(23, { direction: 'in' });
  const gauge = new Max17048(bus);
  const battery = new GaugeBattery({ gauge, lowLine, chargingLine }, { lowPercent: 15, criticalPercent: 5, pollMs: 1000, name: 'battery0' });
  return { bus, model, chip, gauge, battery };
}

describe('MAX17048 fuel gauge (driver against the register model)', () => {
  it('readsBigEndianRegistersNotSmbusWordOrder', async () => {
    const { gauge, model } = await rig({ voltageMv: 3712, percent: 57.5 });
    assert.equal(await gauge.check(), 0x0012);
    assert.equal(await gauge.voltageMv(), 3712);
    assert.equal(await gauge.percent(), 57.5);
    model.setChargeRate(-4.16);
    assert.equal(await gauge.chargeRatePctPerHour(), -4.2);
  });

  it('quickStartWritesMsbFirst', async () => {
    const { gauge, model } = await rig();
    await gauge.quickStart();
    assert.deepEqual(model.commands, [{ register: REG.MODE, value: 0x4000 }]);
  });

  it('anotherChipAtTheAddressFailsTheCheck', async () => {
    const bus = new SimI2cBus();
    bus.attach(0x36, { write: () => undefined, read: (n) => new Uint8Array(n).fill(0xab) });
    await assert.rejects(new Max17048(bus).check(), (e) => isPosError(e, 'device-absent') && /not a MAX17048/.test((e as Error).message));
  });
});

describe('battery (gauge + low line + charging line)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  it('levelFollowsThresholds', async () => {
    const { battery, model } = await rig();
    assert.equal((await battery.read()).level, 'ok');
    model.setPercent(15);
    assert.equal((await battery.read()).level, 'low');
    model.setPercent(4.5);
    const s = await battery.read();
    assert.equal(s.level, 'critical');
    assert.equal(s.percent, 4.5);
  });

  it('lowLineMakesItLowEvenWhenTheGaugeSaysOk', async () => {
    const { battery, chip } = await rig();
    chip.pin(22).drive(0);
    const s = await battery.read();
    assert.equal(s.lowLine, true);
    assert.equal(s.level, 'low');
  });

  it('absentGaugeIsReportedInTheStateAndTheLineStillDecides', async () => {
    const { battery, bus, chip } = await rig();
    bus.setAbsent(0x36, true);
    chip.pin(22).drive(0);
    const s = await battery.read();
    assert.equal(s.percent, null);
    assert.ok(s.fault && isPosError(s.fault, 'device-absent'));
    assert.equal(s.level, 'low');
  });

  it('withoutAnyLineAFailingGaugeRejects', async () => {
    const bus = new SimI2cBus();
    bus.attach(0x36, new Max17048Model());
    bus.injectNak(0x36);
    const battery = new GaugeBattery({ gauge: new Max17048(bus) }, { lowPercent: 15, criticalPercent: 5 });
    await assert.rejects(battery.read(), (e) => isPosError(e, 'device-absent'));
  });

  it('watchReportsChargingAtOnceAndLevelAtThePoll', async () => {
    const { battery, chip, model } = await rig();
    const seen: BatteryState[] = [];
    battery.watch((s) => seen.push(s));
    await clock.tickAsync(10);
    assert.equal(seen.length, 1, 'initial state');
    chip.pin(23).drive(1);
    await clock.tickAsync(60);
    assert.equal(seen.length, 2);
    assert.equal(seen[1].charging, true);
    model.setPercent(3);
    await clock.tickAsync(1000);
    assert.equal(seen[seen.length - 1].level, 'critical');
    await battery.close();
    model.setPercent(90);
    await clock.tickAsync(5000);
    assert.equal(seen[seen.length - 1].level, 'critical', 'nothing after close');
  });

  it('thresholdsInTheWrongOrderAreRefused', async () => {
    const { gauge } = await rig();
    assert.throws(() => new GaugeBattery({ gauge }, { lowPercent: 5, criticalPercent: 10 }), (e) => isPosError(e, 'board-invalid'));
  });
});

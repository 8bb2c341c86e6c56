import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { SimGpioChip } from '../../sim/chips/gpio-sim';
import { SimButton, SimLed } from '../../sim/chips/button-led-models';
import { GpioButton } from './gpio-button';
import { GpioLed } from './gpio-led';
import { ButtonEvent } from '../button';
import { PosError, isPosError } from '../../common/errors';

describe('reset button (driver against a bouncing button)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  async function rig() {
    const chip = new SimGpioChip();
    const sim = new SimButton(chip, 4);
    const line = await chip.requestLine(4, { direction: 'in', activeLow: true });
    const button = new GpioButton(line, { debounceMs: 30, holdMs: 3000, stuckMs: 20_000 });
    const events: ButtonEvent[] = [];
    const faults: PosError[] = [];
    button.onEvent((e) => events.push(e));
    button.onFault((f) => faults.push(f));
    return { chip, sim, button, events, faults };
  }

  it('heldAtBootForTheHoldTimeOpensRecovery', async () => {
    const r = await rig();
    r.sim.press();
    await r.button.start();
    const held = r.button.waitHeld(3000);
    await clock.tickAsync(3000);
    assert.equal(await held, true);
    assert.ok(r.button.heldMs() >= 3000);
  });

  it('releasedBeforeTheHoldTimeIsNotRecovery', async () => {
    const r = await rig();
    r.sim.press();
    await r.button.start();
    const held = r.button.waitHeld(3000);
    await clock.tickAsync(1000);
    r.sim.release({ bounceMs: 6 });
    await clock.tickAsync(100);
    assert.equal(await held, false);
    assert.equal(r.button.heldMs(), 0);
  });

  it('notPressedAtBootAnswersAtOnce', async () => {
    const r = await rig();
    await r.button.start();
    assert.equal(await r.button.waitHeld(3000), false);
  });

  it('bouncingPressGivesOnePressOneHoldOneRelease', async () => {
    const r = await rig();
    await r.button.start();
    r.sim.press({ bounceMs: 10 });
    await clock.tickAsync(3500);
    r.sim.release({ bounceMs: 10 });
    await clock.tickAsync(100);
    assert.deepEqual(r.events.map((e) => e.type), ['press', 'hold', 'release']);
    assert.ok(r.events[2].heldMs >= 3400);
  });

  it('buttonHeldPastStuckTimeIsAFaultNotAKeypadKey', async () => {
    const r = await rig();
    await r.button.start();
    r.sim.press();
    await clock.tickAsync(20_100);
    assert.equal(r.faults.length, 1);
    assert.equal(r.faults[0].code, 'E-KBD-02');
    assert.equal(r.faults[0].kind, 'key-stuck');
    assert.equal(r.faults[0].detail.role, 'reset0');
  });

  it('pressedReadsTheLineAndFailsAsBusFault', async () => {
    const r = await rig();
    r.sim.press();
    assert.equal(await r.button.pressed(), true);
    r.chip.pin(4).fail(true);
    await assert.rejects(r.button.pressed(), (e) => isPosError(e, 'bus-fault'));
  });
});

describe('LED on a GPIO line', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());

  it('blinkTogglesWithTheAskedPeriodAndSetStopsIt', async () => {
    const chip = new SimGpioChip();
    const sim = new SimLed(chip, 5);
    const led = new GpioLed(await chip.requestLine(5, { direction: 'out' }), 'ledStatus0');
    await led.blink(100, 400);
    assert.equal(sim.isOn, true);
    await clock.tickAsync(100);
    assert.equal(sim.isOn, false);
    await clock.tickAsync(400);
    assert.equal(sim.isOn, true);
    await led.set(false);
    const changes = sim.history.length;
    await clock.tickAsync(2000);
    assert.equal(sim.history.length, changes, 'no toggles after set');
    assert.equal(led.state, 'off');
  });

  it('failedToggleStopsBlinkingAndKeepsTheFault', async () => {
    const chip = new SimGpioChip();
    const led = new GpioLed(await chip.requestLine(6, { direction: 'out' }));
    await led.blink(100, 100);
    chip.pin(6).fail(true);
    await clock.tickAsync(250);
    assert.equal(led.state, 'off');
    assert.ok(led.fault && isPosError(led.fault, 'bus-fault'));
  });

  it('tooFastBlinkIsRefused', async () => {
    const chip = new SimGpioChip();
    const led = new GpioLed(await chip.requestLine(7, { direction: 'out' }));
    await assert.rejects(led.blink(5, 5), (e) => isPosError(e, 'invariant'));
  });
});

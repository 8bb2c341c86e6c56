/**
 * The factory test's touch panel (boot/factory.ts touchTest, boot/touch-check.ts: the judgement
 * diagnostics uses too) on the simulator board's TSC2007 pad behind its real driver: a line the
 * operator draws edge to edge passes; touches read while nobody touches the pad (a dirty or damaged
 * panel) and a line read over too little of the width fail E-BRD-06; nothing drawn is E-BRD-05.
 */
import { strict as assert } from 'node:assert';
import type { Prompts } from '../../boot/factory';
import { simPrompts } from '../../boot/factory-station';
import { TOUCH_ACROSS_RATIO_MIN } from '../../boot/touch-check';
import type { SimBoard } from '../../sim/board-sim';
import { FactoryTestRig } from './factory-one-test';

/** The simulator board's pad (board-configs/sim.json signature0): 320 x 120 pixels. */
const PAD_WIDTH = 320;

describe('factory test: the touch panel', function () {
  this.timeout(60_000);
  const rig = new FactoryTestRig();
  afterEach(() => rig.close());
  const touchResult = (prompts: (s: SimBoard) => Prompts, before?: (s: SimBoard) => void): ReturnType<FactoryTestRig['result']> => rig.result('touch panel', 'TOUCH-1', prompts, before);

  it('aLineDrawnEdgeToEdgePassesWithItsWidthInTheReport', async () => {
    const t = await touchResult(simPrompts);
    assert.equal(t.pass, true, JSON.stringify(t));
    assert.ok(Number(t.values.acrossPct) >= 95, JSON.stringify(t.values));
  });

  it('touchesReadWhileNobodyTouchesThePadFailE_BRD_06', async () => {
    // Strokes played into the pad before the test: read during its quiet part, as a dirty panel's are.
    const t = await touchResult(simPrompts, (s) => { void s.sign([[[40, 40], [60, 42], [80, 44]]]).catch(() => undefined); });
    assert.equal(t.pass, false);
    assert.deepEqual(t.codes, ['E-BRD-06']);
    assert.match(String(t.values.message), /touch points read with nobody touching the pad/);
  });

  it('aLineReadOverTooLittleOfTheWidthFailsE_BRD_06AndNothingDrawnIsE_BRD_05', async () => {
    const short = Math.floor(PAD_WIDTH * TOUCH_ACROSS_RATIO_MIN) - 40;
    const part = await touchResult((s) => ({ ...simPrompts(s), drawAcrossPad: async () => { await s.sign([[[20, 60], [20 + short / 2, 60], [20 + short, 60]]]); } }));
    assert.deepEqual(part.codes, ['E-BRD-06']);
    assert.ok(Number(part.values.pct) < 100 * TOUCH_ACROSS_RATIO_MIN, JSON.stringify(part.values));
    const nothing = await touchResult((s) => ({ ...simPrompts(s), drawAcrossPad: async () => undefined }));
    assert.deepEqual(nothing.codes, ['E-BRD-05']);
  });
});

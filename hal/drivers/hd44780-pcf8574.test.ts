import { strict as assert } from 'node:assert';
import * as sinon from 'sinon';
import { SimI2cBus } from '../../sim/chips/i2c-sim';
import { Pcf8574Hd44780Model } from '../../sim/chips/hd44780-model';
import { Hd44780Pcf8574, BACKPACK_PIN_MAP } from './hd44780-pcf8574';
import { isPosError } from '../../common/errors';

describe('HD44780 behind PCF8574 (driver against the pin-level model)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => { clock = sinon.useFakeTimers(); });
  afterEach(() => clock.restore());
  /** Sleep that advances fake time, so the model sees the waits the driver makes. */
  const sleep = async (ms: number): Promise<void> => { clock.tick(ms); };

  function rig(cols: 16 | 20, rows: 2 | 4, pinMap = BACKPACK_PIN_MAP) {
    const bus = new SimI2cBus();
    const lcd = new Pcf8574Hd44780Model(cols, rows, pinMap);
    bus.attach(0x27, lcd);
    const display = new Hd44780Pcf8574(bus, { address: 0x27, cols, rows, pinMap, sleep, name: 'display0' });
    return { bus, lcd, display };
  }

  it('initLeavesA20x4InFourBitTwoLineModeBlankAndOnWithoutTimingViolations', async () => {
    const { lcd, display } = rig(20, 4);
    await display.init();
    assert.equal(lcd.fourBit, true);
    assert.equal(lcd.twoLine, true);
    assert.equal(lcd.displayOn, true);
    assert.equal(lcd.cursorOn, false);
    assert.deepEqual(lcd.text(), Array(4).fill(' '.repeat(20)));
    assert.deepEqual(lcd.violations, []);
  });

  it('textLandsOnEachRowOfA20x4IncludingRowsTwoAndThree', async () => {
    const { lcd, display } = rig(20, 4);
    await display.init();
    await display.writeText(0, 0, 'SALE');
    await display.writeText(1, 2, 'AMOUNT 12.50');
    await display.writeText(2, 0, 'row three');
    await display.writeText(3, 15, 'OK>>>overflow');
    assert.deepEqual(lcd.text(), [
      'SALE                ',
      '  AMOUNT 12.50      ',
      'row three           ',
      '               OK>>>',
    ]);
    assert.deepEqual(lcd.violations, []);
  });

  it('sixteenByTwoWorksWithAnotherPinMap', async () => {
    const alt = { rs: 4, rw: 5, e: 6, backlight: 7, d4: 0, d5: 1, d6: 2, d7: 3 };
    const { lcd, display } = rig(16, 2, alt);
    await display.init();
    await display.writeText(1, 0, 'Hello, 16x2!');
    assert.deepEqual(lcd.text(), ['                ', 'Hello, 16x2!    ']);
    assert.equal(lcd.backlight, true);
  });

  it('nonAsciiIsShownAsQuestionMarkNotGarbage', async () => {
    const { lcd, display } = rig(16, 2);
    await display.init();
    await display.writeText(0, 0, '金额 5\\');
    assert.equal(lcd.text()[0], '?? 5?           ');
  });

  it('cursorIsShownWhereAskedAndStaysThereAfterWrites', async () => {
    const { lcd, display } = rig(16, 2);
    await display.init();
    await display.setCursor({ row: 1, col: 3, blink: true });
    await display.writeText(0, 0, 'PIN:');
    assert.deepEqual(lcd.cursor(), { row: 1, col: 3, blink: true });
    await display.setCursor(null);
    assert.equal(lcd.cursor(), null);
  });

  it('clearBlanksAndPowerOffTurnsDisplayAndBacklightOff', async () => {
    const { lcd, display } = rig(16, 2);
    await display.init();
    await display.writeText(0, 0, 'x');
    await display.clear();
    assert.equal(lcd.text()[0].trim(), '');
    await display.setPower(false);
    assert.equal(lcd.displayOn, false);
    assert.equal(lcd.backlight, false);
    assert.deepEqual(lcd.violations, []);
  });

  it('skippingTheClearWaitIsCaughtByTheModel', async () => {
    const bus = new SimI2cBus();
    const lcd = new Pcf8574Hd44780Model(16, 2);
    bus.attach(0x27, lcd);
    let fast = false;
    const display = new Hd44780Pcf8574(bus, { address: 0x27, cols: 16, rows: 2, sleep: async (ms) => { if (!fast) clock.tick(ms); } });
    await display.init();
    fast = true;
    await display.clear();
    await display.writeText(0, 0, 'too soon');
    assert.ok(lcd.violations.some((v) => /while busy/.test(v)), lcd.violations.join('; '));
  });

  it('unpluggedDisplayIsDisplayFaultNamingTheRole', async () => {
    const { bus, display } = rig(16, 2);
    bus.setAbsent(0x27, true);
    await assert.rejects(display.init(), (e) => isPosError(e, 'device-absent') && e.id === 'DSP_FAULT' && /display0/.test(e.message));
  });

  it('transientNakMidWriteIsReportedAndTheNextWriteRecovers', async () => {
    const { bus, lcd, display } = rig(16, 2);
    await display.init();
    bus.injectNak(0x27, { afterBytes: 5 });
    await assert.rejects(display.writeText(0, 0, 'LOST'), (e) => isPosError(e, 'device-absent'));
    await display.writeText(0, 0, 'KEPT');
    assert.equal(lcd.text()[0], 'KEPT            ');
  });

  it('positionOutsideTheDisplayIsRefused', async () => {
    const { display } = rig(16, 2);
    await assert.rejects(display.writeText(2, 0, 'x'), (e) => isPosError(e, 'bus-fault'));
  });

  it('afterPowerLossInitRestoresAWorkingDisplay', async () => {
    const { lcd, display } = rig(16, 2);
    await display.init();
    lcd.powerCycle();
    await display.init();
    await display.writeText(0, 0, 'back');
    assert.equal(lcd.text()[0], 'back            ');
    assert.deepEqual(lcd.violations, []);
  });
});

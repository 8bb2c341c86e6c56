import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readBoardFile, validateBoard, REQUIRED_ROLES, loadBoard, BusFactories, HOST_LINK_DEFAULT } from '../../hal/board';
import { createSimBoard } from '../../sim/board-sim';
import { isPosError, PosError } from '../../common/errors';
import { BACKUP_DEFAULTS } from '../../hal/board-schema';
import { FrameBuffer, isPixelDisplay, isTextDisplay } from '../../hal/display';
import { KeyEvent } from '../../hal/keypad';
import { PRINT_BATTERY_MIN_PCT } from '../../hal/battery';

const simJson = (): Record<string, any> => JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs/sim.json'), 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any -- test mutates arbitrary fields

function refusal(json: unknown, file = 'board-configs/x.json'): string {
  try {
    validateBoard(json, file);
  } catch (e) {
    assert.ok(isPosError(e, 'board-invalid'), String(e));
    return (e as PosError).message;
  }
  assert.fail('board was accepted');
}

describe('board files', () => {
  for (const name of ['sim', 'rpi-dev', 'handheld']) {
    it(`${name}BoardFileIsValidAndHasEveryRequiredRole`, () => {
      const { config } = readBoardFile(name);
      assert.equal(config.board, name);
      for (const role of REQUIRED_ROLES) assert.ok(config.devices[role], role);
    });
  }

  it('handheldPutsPrinterAndReaderOnUartsAndUsesTheGraphicDisplay', () => {
    const { config } = readBoardFile('handheld');
    assert.deepEqual([config.devices.printer0, config.devices.reader0].map((d) => (d as { port: string }).port), ['/dev/ttyS1', '/dev/ttyS2']);
    assert.equal(config.devices.display0.type, 'ssd1306');
    assert.equal(config.simulator, false);
  });

  it('badBaudRateNamesFileRoleAndField', () => {
    const j = simJson();
    j.devices.printer0.baudRate = 12;
    assert.equal(refusal(j), 'E-BRD-01 board-configs/x.json: role printer0: field "baudRate" must be an integer 1200..921600');
  });

  it('missingRoleNamesTheRoleAndTheFile', () => {
    const j = simJson();
    delete j.devices.reader0;
    assert.match(refusal(j, 'board-configs/y.json'), /^E-BRD-01 board-configs\/y\.json: role reader0 is missing/);
  });

  it('misspelledFieldIsRefusedNotIgnored', () => {
    const j = simJson();
    j.devices.printer0.baudrate = 9600;
    assert.match(refusal(j), /role printer0: field "baudrate" is not a known field/);
  });

  it('storageBackupSectionIsValidatedAndDefaultsToOn', () => {
    // Every shipped board backs itself up (storage/scheduled-backup.ts); the qemu guest keeps fewer (its backup folder is on the journal's disk).
    for (const name of ['sim', 'rpi-dev', 'handheld', 'handheld-evdev', 'bench-rig', 'qemu-x86']) assert.equal(readBoardFile(name).config.storage.backup.enabled, true, name);
    assert.deepEqual(readBoardFile('handheld').config.storage.backup, { enabled: true, keepCountMax: 7, idleRecords: 2000 });
    const j = simJson() as unknown as { storage: Record<string, unknown> };
    delete j.storage.backup;
    assert.deepEqual(validateBoard(j, 'x.json').storage.backup, BACKUP_DEFAULTS, 'absent: the defaults');
    j.storage.backup = { enabled: false };
    assert.deepEqual(validateBoard(j, 'x.json').storage.backup, { ...BACKUP_DEFAULTS, enabled: false }, 'a field absent: its default');
    j.storage.backup = { keepCountMax: 0 };
    assert.equal(refusal(j), 'E-BRD-01 board-configs/x.json: field "storage.backup.keepCountMax" must be an integer 1..100');
    j.storage.backup = { enabled: 'yes' };
    assert.match(refusal(j), /field "storage\.backup\.enabled" must be true or false/);
    j.storage.backup = { keep: 3 };
    assert.match(refusal(j), /field "storage\.backup\.keep" is not a known field/);
  });

  it('hostSectionGivesTheTpduAndConnectionModeAndDefaultsToTheProfiles', () => {
    for (const name of ['sim', 'rpi-dev', 'handheld']) {
      assert.deepEqual(readBoardFile(name).config.host, { tpdu: { id: 0x60, destination: 0x0003, source: 0x0000 }, connection: 'short' }, name);
    }
    const j = simJson();
    delete j.host;
    assert.deepEqual(validateBoard(j, 'x.json').host, HOST_LINK_DEFAULT, 'no host section: the profile\'s defaults');
    j.host = { tpdu: '6001230456', connection: 'keep-alive' };
    assert.deepEqual(validateBoard(j, 'x.json').host, { tpdu: { id: 0x60, destination: 0x0123, source: 0x0456 }, connection: 'keep-alive' });
    j.host = { tpdu: '60 ABCD 0001' };
    assert.deepEqual(validateBoard(j, 'x.json').host, { tpdu: { id: 0x60, destination: 0xabcd, source: 0x0001 }, connection: 'short' });
  });

  it('badTpduOrConnectionModeIsRefusedNamingTheField', () => {
    for (const tpdu of ['61 0003 0000', '60 003 0000', '60 0003 0000 00', 600030000, '60 00G3 0000', '']) {
      const j = simJson();
      j.host = { tpdu };
      assert.equal(refusal(j), 'E-BRD-01 board-configs/x.json: field "host.tpdu" must be a TPDU "60 DDDD SSSS": 60, then the destination and the source address as 4 hex digits each (the profile\'s default is "60 0003 0000")', String(tpdu));
    }
    const j = simJson();
    j.host = { connection: 'long' };
    assert.equal(refusal(j), 'E-BRD-01 board-configs/x.json: field "host.connection" must be one of "short", "keep-alive"');
    j.host = { tpdu: '60 0003 0000', keepAlive: true };
    assert.match(refusal(j), /field "host\.keepAlive" is not a known field/);
  });

  it('nestedFieldIsNamedWithItsPath', () => {
    const j = simJson();
    j.devices.battery0.gauge.address = '0x99';
    assert.match(refusal(j), /role battery0: field "gauge\.address" must be a 7-bit I2C address/);
  });

  it('gpioLineUsedTwiceNamesBothRoles', () => {
    const j = simJson();
    j.devices.ledStatus0.line = 4;
    assert.match(refusal(j), /role (reset0|ledStatus0): field "line" uses GPIO line 4, already used by (reset0|ledStatus0)/);
  });

  it('keymapMissingAKeyIsRefusedNamingTheKey', () => {
    const j = simJson();
    j.devices.keypad0.keymap[4][3] = null;
    assert.match(refusal(j), /role keypad0: field "keymap" must have key OK exactly once \(found 0\)/);
  });

  it('wrongDeviceTypeForTheRoleIsRefused', () => {
    const j = simJson();
    j.devices.display0 = { type: 'escpos-serial', port: 'x', baudRate: 9600, paperWidthMm: 58, gb18030: false };
    assert.match(refusal(j), /role display0: field "type" must be one of "hd44780-pcf8574", "ssd1306"/);
  });

  it('simBackendOnARealBoardIsRefused', () => {
    const j = simJson();
    j.simulator = false;
    assert.match(refusal(j), /field "gpio\.backend" must not be "sim" on a real board/);
  });

  it('criticalAboveLowIsRefused', () => {
    const j = simJson();
    j.devices.battery0.criticalPercent = 20;
    assert.match(refusal(j), /role battery0: field "criticalPercent" must be below lowPercent \(15\)/);
  });

  it('printMinPercentDefaultsToPRINT_BATTERY_MIN_PCTAndMustLieAboveCriticalPercent', () => {
    const printMin = (j: ReturnType<typeof simJson>): unknown => {
      const b = validateBoard(j, 'x.json').devices.battery0;
      return b?.type === 'battery' ? b.printMinPercent : undefined;
    };
    assert.equal(printMin(simJson()), PRINT_BATTERY_MIN_PCT, 'the simulator board sets none: the default');
    const set = simJson();
    set.devices.battery0.printMinPercent = 30;
    assert.equal(printMin(set), 30, 'above lowPercent is allowed: a board whose head needs more');
    const atCritical = simJson();
    atCritical.devices.battery0.printMinPercent = 5;
    assert.match(refusal(atCritical), /role battery0: field "printMinPercent" must be above criticalPercent \(5\)/);
    const outOfRange = simJson();
    outOfRange.devices.battery0.printMinPercent = 100;
    assert.match(refusal(outOfRange), /field "printMinPercent" must be a number 1\.\.99/);
    const highCritical = simJson();
    highCritical.devices.battery0.lowPercent = 30;
    highCritical.devices.battery0.criticalPercent = PRINT_BATTERY_MIN_PCT;
    assert.match(refusal(highCritical), /field "printMinPercent" must be above criticalPercent \(10\): the default 10 is not, so set it/);
  });

  it('unreadableOrBrokenFilesNameTheFile', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'board-'));
    try {
      const broken = path.join(dir, 'broken.json');
      fs.writeFileSync(broken, '{ "board": ');
      assert.throws(() => readBoardFile(broken), (e) => isPosError(e, 'board-invalid') && (e as Error).message.includes('broken.json: not valid JSON'));
      const none: BusFactories = { i2c: async () => assert.fail(), gpio: async () => assert.fail(), serial: async () => assert.fail() };
      await assert.rejects(loadBoard(path.join(dir, 'absent.json'), none), (e) => isPosError(e, 'board-invalid') && /absent\.json: cannot read board file \(ENOENT\)/.test((e as Error).message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('simulator board', () => {
  it('selfTestPassesForEveryRoleWithRealDriversOnSimulatedBuses', async () => {
    const sim = await createSimBoard();
    try {
      const results = await sim.board.selfTest();
      assert.deepEqual(results.filter((r) => !r.ok).map((r) => `${r.role}: ${r.error?.message}`), []);
      assert.deepEqual(results.map((r) => r.role).sort(), [...sim.board.roles()].sort());
      assert.equal(sim.oled().displayOn, true, 'display0 initialised over the simulated I2C bus');
    } finally {
      await sim.close();
    }
  });

  it('keyPressedOnTheModelArrivesAsAKeyEventByRole', async () => {
    const sim = await createSimBoard();
    try {
      await sim.board.selfTest();
      const events: string[] = [];
      sim.board.keypad().onKey((e: KeyEvent) => events.push(`${e.type}:${e.key}`));
      sim.keypad().press('OK');
      await new Promise((r) => setTimeout(r, 60));
      sim.keypad().release('OK');
      await new Promise((r) => setTimeout(r, 60));
      assert.deepEqual(events, ['down:OK', 'up:OK']);
    } finally {
      await sim.close();
    }
  });

  it('frameDrawnOnDisplay0IsVisibleInTheSsd1306Model', async () => {
    const sim = await createSimBoard();
    try {
      await sim.board.selfTest();
      const display = sim.board.display();
      assert.ok(isPixelDisplay(display));
      const f = new FrameBuffer(128, 64);
      for (let x = 0; x < 128; x++) f.set(x, 10, true);
      await display.drawFrame(f);
      assert.equal(sim.oled().toAscii().split('\n')[10], '#'.repeat(128));
    } finally {
      await sim.close();
    }
  });

  it('batterySetOnTheModelIsReadCriticalThroughTheDriver', async () => {
    const sim = await createSimBoard();
    try {
      sim.setBattery({ percent: 4, charging: true });
      const s = await sim.board.battery().read();
      assert.equal(s.level, 'critical');
      assert.equal(s.charging, true);
      sim.setBattery({ percent: 60, low: true });
      assert.equal((await sim.board.battery().read()).level, 'low');
    } finally {
      await sim.close();
    }
  });

  it('keyHeldAtPowerOnFailsTheKeypadSelfTestNamingTheKey', async () => {
    const sim = await createSimBoard({ beforeBoot: (s) => s.keypad().press('7') });
    try {
      const kp = (await sim.board.selfTest()).find((r) => r.role === 'keypad0');
      assert.equal(kp?.ok, false);
      assert.equal(kp?.error?.code, 'E-KBD-01');
      assert.equal(kp?.error?.detail.key, '7');
    } finally {
      await sim.close();
    }
  });

  it('resetHeldAtPowerOnIsRecoveryNotAStuckKey', async () => {
    const sim = await createSimBoard({ beforeBoot: (s) => s.resetButton().press() });
    try {
      const results = await sim.board.selfTest();
      assert.ok(results.every((r) => r.ok), 'no fault for a held reset button');
      const holdMs = (sim.config.devices.reset0 as { resetHoldMs: number }).resetHoldMs;
      assert.equal(holdMs, 3000);
      assert.equal(await sim.board.resetButton().waitHeld(100), true);
    } finally {
      await sim.close();
    }
  });

  it('unpluggedDisplayFailsItsSelfTestAsDisplayFault', async () => {
    const sim = await createSimBoard({ beforeBoot: (s) => s.i2cBus(1).setAbsent(0x3c, true) });
    try {
      const d = (await sim.board.selfTest()).find((r) => r.role === 'display0');
      assert.equal(d?.ok, false);
      assert.equal(d?.error?.id, 'DSP_FAULT');
      assert.match(d?.error?.message ?? '', /display0/);
    } finally {
      await sim.close();
    }
  });

  it('askingForARoleTheBoardLacksNamesTheRoleAndTheFile', async () => {
    const sim = await createSimBoard();
    try {
      assert.throws(() => sim.board.display('display1'), (e) => isPosError(e, 'board-invalid') && /board-configs\/sim\.json: role display1 is missing/.test((e as Error).message));
      assert.equal(sim.board.led('ledPower0') !== undefined, true);
      assert.equal(sim.board.led('ledNone0'), undefined);
    } finally {
      await sim.close();
    }
  });

  it('rpiDevBoardRunsOnTheSimulatorWithItsHd44780', async () => {
    const sim = await createSimBoard({ board: 'rpi-dev' });
    try {
      const results = await sim.board.selfTest();
      assert.deepEqual(results.filter((r) => !r.ok).map((r) => r.role), []);
      const display = sim.board.display();
      assert.deepEqual(display.capabilities, { kind: 'text', cols: 20, rows: 4 });
      assert.ok(isTextDisplay(display));
      await display.writeText(1, 0, 'rpi-dev on sim');
      assert.equal(sim.lcd().text()[1], 'rpi-dev on sim      ');
      assert.deepEqual(sim.lcd().violations, []);
    } finally {
      await sim.close();
    }
  });
});

describe('simulator board self-test twice', () => {
  it('keyHeldDuringASecondSelfTestIsAPressNotAStuckKey', async () => {
    const sim = await createSimBoard();
    try {
      await sim.board.selfTest();
      const events: string[] = [];
      sim.board.keypad().onKey((e: KeyEvent) => events.push(`${e.type}:${e.key}`));
      sim.keypad().press('1');
      await new Promise((r) => setTimeout(r, 60));
      const again = (await sim.board.selfTest()).find((r) => r.role === 'keypad0');
      assert.equal(again?.ok, true, again?.error?.message);
      sim.keypad().release('1');
      await new Promise((r) => setTimeout(r, 60));
      assert.deepEqual(events, ['down:1', 'up:1']);
    } finally {
      await sim.close();
    }
  });
});

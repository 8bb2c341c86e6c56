/**
 * Board files with a keypad the kernel scans ("type": "evdev-keypad", hal/drivers/evdev-keypad.ts):
 * the example board file, the default keymap, and every refusal the validator gives at boot.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readBoardFile, validateBoard, EvdevKeypadConfig, keypadKeys, buildBoard, BusFactories } from '../../hal/board';
import { openInputDevice } from '../../hal/input-linux';
import { KEY_NAMES } from '../../hal/keypad';
import { DEFAULT_EVDEV_KEYMAP, LINUX_KEY_CODES, keymapCodes } from '../../hal/input-keycodes';
import { BoardJson, boardJson, boardRefusal } from '../support/board-json';

type Json = BoardJson;

const refusal = boardRefusal;

function withKeypad(keypad: Json): Json {
  const j = boardJson('handheld-evdev');
  j.devices.keypad0 = keypad;
  return j;
}

describe('board files: evdev keypad', () => {
  it('handheld-evdev reads the kernel\'s matrix-keypad device by name, grabbed, every key mapped', () => {
    const { config } = readBoardFile('handheld-evdev');
    const k = config.devices.keypad0 as EvdevKeypadConfig;
    assert.equal(k.type, 'evdev-keypad');
    assert.equal(k.deviceName, 'matrix-keypad');
    assert.equal(k.device, undefined);
    assert.equal(k.grab, true);
    assert.deepEqual([...new Set(Object.values(k.keymap))].sort(), [...KEY_NAMES].sort());
    assert.equal(keymapCodes(k.keymap).get(LINUX_KEY_CODES.KEY_ENTER), 'OK');
    assert.equal(keymapCodes(k.keymap).get(28), 'OK');
  });

  it('a device path and the defaults: the POS keymap, 1 s long press, 10 s stuck, grab on', () => {
    const k = validateBoard(withKeypad({ type: 'evdev-keypad', device: '/dev/input/by-path/platform-keypad-event' }), 'x.json').devices.keypad0 as EvdevKeypadConfig;
    assert.deepEqual(k, { type: 'evdev-keypad', device: '/dev/input/by-path/platform-keypad-event', keymap: DEFAULT_EVDEV_KEYMAP, longPressMs: 1000, stuckMs: 10_000, grab: true });
    const codes = keymapCodes(k.keymap);
    for (const key of KEY_NAMES) assert.ok([...codes.values()].includes(key), `default keymap lacks ${key}`);
    assert.equal(codes.get(LINUX_KEY_CODES.KEY_KP0), '0');
    assert.equal(codes.get(LINUX_KEY_CODES.KEY_1), '1');
    assert.equal(codes.get(LINUX_KEY_CODES.KEY_0), '0');
    assert.equal(codes.get(LINUX_KEY_CODES.KEY_ESC), 'CANCEL');
  });

  it('refuses a device given twice or not at all', () => {
    assert.match(refusal(withKeypad({ type: 'evdev-keypad' })), /role keypad0: field "device" or "deviceName" must be given, one of them/);
    assert.match(refusal(withKeypad({ type: 'evdev-keypad', device: '/dev/input/event0', deviceName: 'gpio-keys' })), /role keypad0: field "device" or "deviceName" must be given, one of them/);
    assert.match(refusal(withKeypad({ type: 'evdev-keypad', device: 'event0' })), /role keypad0: field "device" must be a string matching/);
  });

  it('refuses keymaps with an unknown Linux name, an unknown key, or a key nobody can type', () => {
    const j = boardJson('handheld-evdev');
    const map = j.devices.keypad0.keymap as Json;
    assert.match(refusal(withKeypad({ ...j.devices.keypad0, keymap: { ...map, KEY_ENTR: 'OK' } })), /field "keymap" has unknown Linux key name "KEY_ENTR" \(known: KEY_ESC /);
    assert.match(refusal(withKeypad({ ...j.devices.keypad0, keymap: { ...map, KEY_ENTER: 'ENTER' } })), /field "keymap" maps KEY_ENTER to unknown key "ENTER"/);
    const { KEY_F2: _f2, KEY_MENU: _menu, ...fewer } = map;
    assert.match(refusal(withKeypad({ ...j.devices.keypad0, keymap: fewer })), /field "keymap" has no code for keys MENU FUNC \(every key must be reachable\)/);
    assert.match(refusal(withKeypad({ ...j.devices.keypad0, keymap: [] })), /field "keymap" must be an object of Linux key names/);
  });

  it('the factory\'s keypad test asks for every key of an evdev keypad, and a matrix\'s row by row as before', () => {
    assert.deepEqual(keypadKeys(readBoardFile('handheld-evdev').config.devices.keypad0), [...KEY_NAMES]);
    assert.deepEqual(keypadKeys(readBoardFile('handheld').config.devices.keypad0),
      ['MENU', 'UP', 'DOWN', 'FUNC', '1', '2', '3', 'CANCEL', '4', '5', '6', 'CLEAR', '7', '8', '9', 'BACK', '0', 'OK']);
  });

  it('refuses unknown fields and a simulator board with an evdev keypad', () => {
    assert.match(refusal(withKeypad({ type: 'evdev-keypad', device: '/dev/input/event0', debounceMs: 20 })), /role keypad0: field "debounceMs" is not a known field/);
    const sim = boardJson('sim');
    sim.devices.keypad0 = { type: 'evdev-keypad', device: '/dev/input/event0' };
    assert.match(refusal(sim), /role keypad0: field "type" "evdev-keypad" needs a real board's input device/);
  });

  it('a board whose build fails after its evdev keypad was opened closes the device (no fd left)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evdev-board-'));
    try {
      const fifo = path.join(dir, 'event0'); // a FIFO stands for /dev/input/eventN (none can be made here)
      execFileSync('mkfifo', [fifo]);
      const j = boardJson('handheld-evdev');
      const { keypad0, ...rest } = j.devices as Json;
      j.devices = { keypad0: { ...keypad0, deviceName: undefined, device: fifo }, ...rest };
      const config = validateBoard(JSON.parse(JSON.stringify(j)), 'x.json');
      const refused = (): Promise<never> => Promise.reject(new Error('no such bus here'));
      let opened = 0;
      const factories: BusFactories = { i2c: refused, gpio: refused, serial: refused, input: async (role, ref) => { opened += 1; return openInputDevice(role, ref.device ?? ''); } };
      const openFds = (): number => fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === fifo; } catch { return false; } }).length;
      await assert.rejects(buildBoard('x.json', config, factories), /no such bus here/);
      assert.equal(opened, 1);
      assert.equal(openFds(), 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

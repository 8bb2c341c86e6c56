/**
 * Linux key codes (include/uapi/linux/input-event-codes.h) a POS keypad's device tree or driver
 * may use, by name, for board files' evdev keymaps, and the default map of a typical POS keypad.
 * Names outside this list are refused by the board file's validator (a typo would otherwise leave
 * a key dead); add codes here as boards need them.
 */
import { PosError } from '../common/errors';
import { KeyName } from './keypad';

const digits = (prefix: string, first: number, step = 1): Array<[string, number]> =>
  Array.from({ length: 10 }, (_, i) => [`${prefix}${i}`, first + i * step]);

/** KEY_1..KEY_9 are 2..10 and KEY_0 is 11; the keypad's KP digits are in the PC keypad's order. */
export const LINUX_KEY_CODES: Readonly<Record<string, number>> = Object.freeze({
  KEY_ESC: 1, KEY_0: 11, KEY_1: 2, KEY_2: 3, KEY_3: 4, KEY_4: 5, KEY_5: 6, KEY_6: 7, KEY_7: 8, KEY_8: 9, KEY_9: 10,
  KEY_BACKSPACE: 14, KEY_TAB: 15, KEY_ENTER: 28, KEY_KPASTERISK: 55, KEY_SPACE: 57,
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`KEY_F${i + 1}`, 59 + i])), KEY_F11: 87, KEY_F12: 88,
  KEY_KP7: 71, KEY_KP8: 72, KEY_KP9: 73, KEY_KPMINUS: 74, KEY_KP4: 75, KEY_KP5: 76, KEY_KP6: 77, KEY_KPPLUS: 78,
  KEY_KP1: 79, KEY_KP2: 80, KEY_KP3: 81, KEY_KP0: 82, KEY_KPDOT: 83, KEY_KPENTER: 96, KEY_KPSLASH: 98,
  KEY_HOME: 102, KEY_UP: 103, KEY_PAGEUP: 104, KEY_LEFT: 105, KEY_RIGHT: 106, KEY_DOWN: 108, KEY_PAGEDOWN: 109, KEY_DELETE: 111,
  KEY_POWER: 116, KEY_MENU: 139, KEY_BACK: 158, KEY_CANCEL: 223, KEY_OK: 0x160, KEY_SELECT: 0x161, KEY_CLEAR: 0x163,
  ...Object.fromEntries(digits('KEY_NUMERIC_', 0x200)), KEY_NUMERIC_STAR: 0x20a, KEY_NUMERIC_POUND: 0x20b,
});

/**
 * A typical POS keypad: digits from the main row, the numeric keypad or a phone keypad's
 * KEY_NUMERIC_n; Enter/OK, Esc/Cancel, Backspace, Delete/Clear, the arrows; F1 menu, F2 function.
 */
export const DEFAULT_EVDEV_KEYMAP: Readonly<Record<string, KeyName>> = Object.freeze({
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [[`KEY_${i}`, String(i)], [`KEY_KP${i}`, String(i)], [`KEY_NUMERIC_${i}`, String(i)]]).flat()),
  KEY_ENTER: 'OK', KEY_KPENTER: 'OK', KEY_OK: 'OK',
  KEY_ESC: 'CANCEL', KEY_CANCEL: 'CANCEL',
  KEY_BACKSPACE: 'BACK',
  KEY_DELETE: 'CLEAR', KEY_CLEAR: 'CLEAR',
  KEY_UP: 'UP', KEY_DOWN: 'DOWN',
  KEY_MENU: 'MENU', KEY_F1: 'MENU',
  KEY_F2: 'FUNC',
} as Record<string, KeyName>);

/** A keymap by names (board file) as codes (the driver). Unknown names throw: the validator refused them first. */
export function keymapCodes(byName: Readonly<Record<string, KeyName>>): Map<number, KeyName> {
  const out = new Map<number, KeyName>();
  for (const [name, key] of Object.entries(byName)) {
    const code = LINUX_KEY_CODES[name];
    if (code === undefined) throw new PosError('BRD_INVALID', `unknown Linux key name ${name} (known: ${Object.keys(LINUX_KEY_CODES).join(' ')})`);
    out.set(code, key);
  }
  return out;
}

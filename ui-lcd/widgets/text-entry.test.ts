import { strict as assert } from 'node:assert';
import type { KeyName } from '../../hal/keypad';
import { MULTITAP_COMMIT_MS, TEXT_ENTRY_CHARS_MAX, TextEntry } from './text-entry';

/** A widget on a clock the test moves. */
function entry(options: { lengthMin?: number; lengthMax?: number; secret?: boolean } = {}): { w: TextEntry; wait: (ms: number) => void; keys: (s: string) => void } {
  let now = 0;
  const w = new TextEntry({ clock: () => now, lengthMin: options.lengthMin ?? 1, idleTimeoutMs: 600_000, ...(options.lengthMax ? { lengthMax: options.lengthMax } : {}), ...(options.secret ? { secret: true } : {}) });
  const keys = (s: string): void => {
    for (const k of s.split(' ').filter(Boolean)) { w.press(k as KeyName); now += 100; }
  };
  return { w, wait: (ms) => { now += ms; }, keys };
}

describe('TextEntry: multi-tap letters on the keypad', () => {
  it('the same key again steps through its letters; another key commits', () => {
    const { w, keys } = entry();
    keys('9 4 4 4 3 3 3 4 4 4'); // w, i (3rd), f (3rd), i
    assert.equal(w.value(), 'wifi');
  });

  it('a pause commits: the same key then starts a new letter', () => {
    const { w, keys, wait } = entry();
    keys('2');
    wait(MULTITAP_COMMIT_MS);
    keys('2 2');
    assert.equal(w.value(), 'ab');
    keys('2 2 2 2 2'); // the pending b steps on, wrapping after the digit: c 2 a b c
    assert.equal(w.value(), 'ac');
  });

  it('FUNC: upper case, then digits typed directly, then lower case again', () => {
    const { w, keys } = entry();
    keys('FUNC 7 7 7 7 FUNC 1 2 3 FUNC 6 6');
    assert.equal(w.value(), 'S123n');
    assert.equal(w.mode, 'abc');
  });

  it('symbols on 1 and a space on 0', () => {
    const { w, keys, wait } = entry();
    keys('1 1 1 1 1');
    wait(MULTITAP_COMMIT_MS);
    keys('0 1');
    assert.equal(w.value(), '@ .');
  });

  it('BACK drops the letter being chosen, then committed ones; empty: back', () => {
    const { w, keys } = entry();
    keys('2 3 3');
    assert.equal(w.value(), 'ae');
    assert.deepEqual(w.press('BACK'), { kind: 'changed' });
    assert.equal(w.value(), 'a');
    assert.deepEqual(w.press('BACK'), { kind: 'changed' });
    assert.deepEqual(w.press('BACK'), { kind: 'back' });
  });

  it('OK commits and submits; under the minimum it is refused (a WPA passphrase: 8)', () => {
    const { w, keys } = entry({ lengthMin: 8 });
    keys('2 3 4');
    assert.deepEqual(w.press('OK'), { kind: 'refused', reason: 'too-short' });
    keys('FUNC FUNC 1 2 3 4 5');
    assert.deepEqual(w.press('OK'), { kind: 'submit', value: 'adg12345' });
  });

  it('a secret shows only the letter being chosen', () => {
    const { w, keys, wait } = entry({ secret: true });
    keys('2 2 3');
    assert.equal(w.shown(), '*d');
    wait(MULTITAP_COMMIT_MS);
    assert.equal(w.shown(), '**');
    assert.equal(w.value(), 'bd');
  });

  it('stops at its maximum (at most 63, a WPA passphrase) and CLEAR empties it', () => {
    const { w, keys, wait } = entry({ lengthMax: 3 });
    keys('FUNC FUNC 1 2 3');
    assert.deepEqual(w.press('4'), { kind: 'refused', reason: 'max' });
    wait(1);
    assert.equal(w.value(), '123');
    assert.deepEqual(w.press('CLEAR'), { kind: 'changed' });
    assert.equal(w.value(), '');
    assert.throws(() => new TextEntry({ clock: () => 0, lengthMin: TEXT_ENTRY_CHARS_MAX + 1 }), RangeError);
  });
});

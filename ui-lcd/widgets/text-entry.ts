/**
 * Letters on a 12-key keypad by multi-tap, as handhelds type them (ITU-T E.161 letter groups): a
 * key pressed again within MULTITAP_COMMIT_MS steps through its characters (2: a b c 2), another
 * key or the pause commits the character. For a Wi-Fi passphrase (8..63 printable characters) or
 * any short text the terminal needs typed (issue 12 item 2).
 *
 *   FUNC       mode: abc -> ABC -> 123 (digits typed directly) -> abc
 *   1          symbols: . , ? ! @ - _ ' " : ; / ( ) # $ % & * + = 1
 *   0          space, 0
 *   BACK       deletes the character being chosen, else the last one (empty: leave the screen)
 *   CLEAR      empties the field
 *   OK         commits and submits (refused under lengthMin)
 *
 * A secret field shows every character as '*' except the one being chosen (the person must see
 * which letter the key is on), as phones do. Pure logic on the injected clock: no timers here.
 */
import type { KeyName } from '../../hal/keypad';
import { Widget, WidgetOptions, WidgetResult, isDigitKey } from './base';

/** A pause this long commits the character being chosen (phones use about 1 s). */
export const MULTITAP_COMMIT_MS = 1_000;
/** The longest text typed this way: a WPA passphrase's 63 characters. */
export const TEXT_ENTRY_CHARS_MAX = 63;

export type TextMode = 'abc' | 'ABC' | '123';
const MODES: readonly TextMode[] = ['abc', 'ABC', '123'];

/** Each digit key's characters in lower-case mode (the digit last, as on phones). */
const GROUPS: Readonly<Record<string, string>> = {
  '1': '.,?!@-_\'":;/()#$%&*+=1',
  '2': 'abc2', '3': 'def3', '4': 'ghi4', '5': 'jkl5', '6': 'mno6', '7': 'pqrs7', '8': 'tuv8', '9': 'wxyz9',
  '0': ' 0',
};

export interface TextEntryOptions extends WidgetOptions {
  readonly lengthMin: number;
  readonly lengthMax?: number;
  readonly secret?: boolean;
}

export class TextEntry extends Widget<string> {
  private text = '';
  /** The character being chosen: its key, its index in the key's group, when it was last pressed. */
  private pending: { key: string; index: number; atMs: number } | undefined;
  private modeIndex = 0;
  private readonly lengthMax: number;

  constructor(private readonly options: TextEntryOptions) {
    super(options);
    this.lengthMax = Math.min(options.lengthMax ?? TEXT_ENTRY_CHARS_MAX, TEXT_ENTRY_CHARS_MAX);
    if (!(options.lengthMin >= 0 && this.lengthMax >= Math.max(1, options.lengthMin))) throw new RangeError(`bad lengths ${options.lengthMin}..${this.lengthMax}`);
  }

  get mode(): TextMode {
    return MODES[this.modeIndex];
  }

  /** The text with the character being chosen (committing it if its pause is over). */
  value(): string {
    this.commitIfPaused();
    return this.text + this.pendingChar();
  }

  /** What the screen shows: a secret as '*' but the character being chosen. */
  shown(): string {
    this.commitIfPaused();
    const body = this.options.secret ? '*'.repeat(this.text.length) : this.text;
    return body + this.pendingChar();
  }

  /** Length including the character being chosen. */
  get length(): number {
    return this.value().length;
  }

  protected handle(key: KeyName): WidgetResult<string> {
    this.commitIfPaused();
    if (isDigitKey(key)) return this.digit(key);
    switch (key) {
      case 'FUNC':
        this.commit();
        this.modeIndex = (this.modeIndex + 1) % MODES.length;
        return { kind: 'changed' };
      case 'BACK':
        if (this.pending) { this.pending = undefined; return { kind: 'changed' }; }
        if (this.text === '') return { kind: 'back' };
        this.text = this.text.slice(0, -1);
        return { kind: 'changed' };
      case 'CLEAR':
        if (this.text === '' && !this.pending) return { kind: 'ignored' };
        this.text = '';
        this.pending = undefined;
        return { kind: 'changed' };
      case 'OK':
        this.commit();
        if (this.text.length < Math.max(1, this.options.lengthMin)) return { kind: 'refused', reason: 'too-short' };
        return { kind: 'submit', value: this.text };
      case 'CANCEL':
        return { kind: 'cancel' };
      default:
        return { kind: 'ignored' };
    }
  }

  private digit(key: string): WidgetResult<string> {
    const now = this.clock();
    if (this.mode === '123') {
      this.commit();
      if (this.text.length >= this.lengthMax) return { kind: 'refused', reason: 'max' };
      this.text += key;
      return { kind: 'changed' };
    }
    if (this.pending && this.pending.key === key) {
      this.pending = { key, index: (this.pending.index + 1) % GROUPS[key].length, atMs: now };
      return { kind: 'changed' };
    }
    this.commit();
    if (this.text.length >= this.lengthMax) return { kind: 'refused', reason: 'max' };
    this.pending = { key, index: 0, atMs: now };
    return { kind: 'changed' };
  }

  private pendingChar(): string {
    if (!this.pending) return '';
    const c = GROUPS[this.pending.key][this.pending.index];
    return this.mode === 'ABC' ? c.toUpperCase() : c;
  }

  private commit(): void {
    if (!this.pending) return;
    this.text += this.pendingChar();
    this.pending = undefined;
  }

  private commitIfPaused(): void {
    if (this.pending && this.clock() - this.pending.atMs >= MULTITAP_COMMIT_MS) this.commit();
  }
}

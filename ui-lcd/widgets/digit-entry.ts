/**
 * Fixed-range digit entry: a numeric field shown as typed (trace number, operator number,
 * reference number) or a secret shown as '*' (operator password, PIN). The secret's digits never
 * enter the screen model: `field()` gives '*'s of the same length, so a screen snapshot, log or
 * front-panel dump cannot leak it (DESIGN rule 8).
 */
import type { KeyName } from '../../hal/keypad';
import type { InputField, Txt } from '../screen';
import { t } from '../strings';
import { Widget, WidgetOptions, WidgetResult, isDigitKey, Refusal, editDigits } from './base';

export interface DigitEntryOptions extends WidgetOptions {
  readonly lengthMin: number;
  readonly lengthMax: number;
  /** Shown as '*' (password, PIN). */
  readonly secret?: boolean;
  /** Digits already in the field (a default, or what was typed before going BACK); cut to lengthMax. */
  readonly initial?: string;
}

export class DigitEntry extends Widget<string> {
  private digits = '';
  private refusal: Refusal | undefined;

  constructor(private readonly options: DigitEntryOptions) {
    super(options);
    if (!(options.lengthMin >= 0 && options.lengthMax >= Math.max(1, options.lengthMin))) throw new RangeError(`bad lengths ${options.lengthMin}..${options.lengthMax}`);
    if (options.initial && /^\d+$/.test(options.initial)) this.digits = options.initial.slice(0, options.lengthMax);
  }

  get length(): number {
    return this.digits.length;
  }

  field(label: Txt): InputField {
    const secret = this.options.secret === true;
    return { kind: secret ? 'password' : 'digits', label, digits: secret ? '*'.repeat(this.digits.length) : this.digits, lengthMax: this.options.lengthMax };
  }

  notice(): Txt | undefined {
    return this.refusal === 'too-short' ? t('notice.tooShort') : undefined;
  }

  protected handle(key: KeyName): WidgetResult<string> {
    this.refusal = undefined;
    if (isDigitKey(key)) {
      if (this.digits.length >= this.options.lengthMax) return { kind: 'refused', reason: 'max' };
      this.digits += key;
      return { kind: 'changed' };
    }
    const edited = editDigits<string>(this.digits, key);
    if (edited) { this.digits = edited.digits; return edited.result; }
    switch (key) {
      case 'OK':
        if (this.digits.length < Math.max(1, this.options.lengthMin)) {
          this.refusal = 'too-short';
          return { kind: 'refused', reason: 'too-short' };
        }
        return { kind: 'submit', value: this.digits };
      case 'CANCEL':
        return { kind: 'cancel' };
      default:
        return { kind: 'ignored' };
    }
  }
}

/** Trace (voucher) number: 6 digits; leading zeros are significant, so it stays a string. */
export function traceNumberEntry(options: WidgetOptions): DigitEntry {
  return new DigitEntry({ ...options, lengthMin: 1, lengthMax: 6 });
}

/** Operator password or PIN: 4 to 12 digits (ISO 9564), masked. */
export function pinEntry(options: WidgetOptions & { lengthMin?: number; lengthMax?: number }): DigitEntry {
  return new DigitEntry({ ...options, lengthMin: options.lengthMin ?? 4, lengthMax: options.lengthMax ?? 12, secret: true });
}

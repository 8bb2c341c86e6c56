/**
 * Amount entry as on a real terminal: digits shift in from the right in fen (1 → 0.01,
 * 12 → 0.12, 123 → 1.23); leading zeros are ignored; CLEAR clears; BACK deletes the last digit
 * (and, on an empty field, goes back); a digit that would pass `amountFenMax` is refused and the
 * notice says the maximum; OK on zero is refused; CANCEL leaves.
 */
import type { KeyName } from '../../hal/keypad';
import type { InputField, Txt } from '../screen';
import { t, formatYuan } from '../strings';
import { Widget, WidgetOptions, WidgetResult, isDigitKey, Refusal, editDigits } from './base';

/** Default maximum: 99,999.99 yuan, the usual single-sale limit of a 电签 POS. */
export const AMOUNT_FEN_MAX_DEFAULT = 9_999_999;

export interface AmountEntryOptions extends WidgetOptions {
  readonly amountFenMax?: number;
  /** A default already in the field (a refund's original amount); BACK and CLEAR edit it. */
  readonly initialFen?: number;
}

export class AmountEntry extends Widget<number> {
  readonly amountFenMax: number;
  private digits = '';
  private refusal: Refusal | undefined;

  constructor(options: AmountEntryOptions) {
    super(options);
    this.amountFenMax = options.amountFenMax ?? AMOUNT_FEN_MAX_DEFAULT;
    const initial = options.initialFen ?? 0;
    if (Number.isSafeInteger(initial) && initial > 0 && initial <= this.amountFenMax) this.digits = String(initial);
  }

  get amountFen(): number {
    return this.digits === '' ? 0 : Number(this.digits);
  }

  /** The field for the screen model. */
  field(label: Txt = t('label.amount')): InputField {
    return { kind: 'amount', label, digits: this.digits };
  }

  /** What was refused last, for the screen's notice; cleared by the next accepted key. */
  notice(): Txt | undefined {
    if (this.refusal === 'max') return t('notice.amountMax', { max: formatYuan(this.amountFenMax) });
    if (this.refusal === 'zero') return t('notice.amountZero');
    return undefined;
  }

  protected handle(key: KeyName): WidgetResult<number> {
    this.refusal = undefined;
    if (isDigitKey(key)) return this.digit(key);
    const edited = editDigits<number>(this.digits, key);
    if (edited) { this.digits = edited.digits; return edited.result; }
    switch (key) {
      case 'OK':
        if (this.amountFen === 0) return this.refuse('zero');
        return { kind: 'submit', value: this.amountFen };
      case 'CANCEL':
        return { kind: 'cancel' };
      default:
        return { kind: 'ignored' };
    }
  }

  private digit(key: string): WidgetResult<number> {
    if (this.digits === '' && key === '0') return { kind: 'ignored' }; // leading zero
    const next = this.digits + key;
    if (Number(next) > this.amountFenMax) return this.refuse('max');
    this.digits = next;
    return { kind: 'changed' };
  }

  private refuse(reason: Refusal): WidgetResult<number> {
    this.refusal = reason;
    return { kind: 'refused', reason };
  }
}

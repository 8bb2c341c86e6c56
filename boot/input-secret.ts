/**
 * PIN entry whose digits live only in a Buffer: a JavaScript string cannot be wiped, a Buffer
 * can. Same keys and rules as ui-lcd's `pinEntry` (4..12 digits, CLEAR, BACK, OK, CANCEL, idle
 * timeout), built on the same widget base; the screen gets the length only.
 *
 * The submitted Buffer is a copy handed to the state machine (event PIN); the widget wipes its own
 * buffer at once, and the input controller wipes the handed copy once the machine is past the
 * state that used it (DESIGN.md rule 8: a clear PIN exists only in memory, and only while needed).
 */
import type { KeyName } from '../hal/keypad';
import { Widget, WidgetOptions, WidgetResult, isDigitKey } from '../ui-lcd/widgets/base';

/** ISO 9564: a PIN is 4 to 12 digits. */
export const PIN_DIGITS_MIN = 4;
export const PIN_DIGITS_MAX = 12;
const ASCII_ZERO = 0x30;

export class PinBufferEntry extends Widget<Buffer> {
  private readonly digits = Buffer.alloc(PIN_DIGITS_MAX);
  private count = 0;

  constructor(options: WidgetOptions) {
    super(options);
  }

  get length(): number {
    return this.count;
  }

  /** Forgets what was typed (overwrites it). */
  wipe(): void {
    this.digits.fill(0);
    this.count = 0;
  }

  protected handle(key: KeyName): WidgetResult<Buffer> {
    if (isDigitKey(key)) {
      if (this.count >= PIN_DIGITS_MAX) return { kind: 'refused', reason: 'max' };
      this.digits[this.count++] = ASCII_ZERO + Number(key);
      return { kind: 'changed' };
    }
    switch (key) {
      case 'CLEAR':
        if (this.count === 0) return { kind: 'ignored' };
        this.wipe();
        return { kind: 'changed' };
      case 'BACK':
        if (this.count === 0) return { kind: 'back' };
        this.digits[--this.count] = 0;
        return { kind: 'changed' };
      case 'OK': {
        if (this.count < PIN_DIGITS_MIN) return { kind: 'refused', reason: 'too-short' };
        const handed = Buffer.alloc(this.count);
        this.digits.copy(handed, 0, 0, this.count);
        this.wipe();
        return { kind: 'submit', value: handed };
      }
      case 'CANCEL':
        this.wipe();
        return { kind: 'cancel' };
      default:
        return { kind: 'ignored' };
    }
  }
}

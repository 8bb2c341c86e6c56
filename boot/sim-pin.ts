/**
 * The SIM PIN entry (issue 12 item 1, the sign-on failure screen): when the 4G modem's SIM asks for
 * its PIN (E-NET-09), key 2 on the sign-on failure screen opens this overlay. Digits show as `*`;
 * OK sends them with the modem's enterPin (hal/modem.ts, AT+CPIN); a wrong PIN shows its code and
 * the attempts the SIM has left; a SIM locked by too many tries (E-NET-10) or gone (E-NET-08) closes
 * it, and the sign-on failure screen then shows that fault's steps. Accepted: closed, and the
 * caller retries the sign-on.
 *
 * The PIN is a secret: kept only in this object while typed, never logged, never on a screen,
 * cleared once sent.
 */
import type { KeyName } from '../hal/keypad';
import type { Modem } from '../hal/modem';
import { PIN_PATTERN } from '../hal/modem';
import { isPosError } from '../common/errors';
import { screenFor } from '../ui-lcd/screens';
import type { Screen } from '../ui-lcd/screen';
import type { Overlay } from './recovery-menu';

/** The SIM's PIN is 4..8 digits (3GPP TS 31.101). */
export const SIM_PIN_DIGITS_MAX = 8;

interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface SimPinDeps {
  readonly modem: Modem;
  /** Attempts left as the modem said when the sign-on failed. */
  readonly attemptsLeft?: number;
  readonly changed: () => void;
  /** Pages a screen has on this display (UP/DOWN turn them). */
  readonly pages: (s: Screen) => number;
  /** Closed: `accepted` true when the SIM took the PIN. */
  readonly done: (accepted: boolean) => void;
  readonly logger: Logger;
}

export class SimPinEntry implements Overlay {
  readonly name = 'simPin';
  private digits = '';
  private refused: string | undefined;
  private attemptsLeft: number | undefined;
  private checking = false;
  private closed = false;
  private page = 0;

  constructor(private readonly d: SimPinDeps) {
    this.attemptsLeft = d.attemptsLeft;
  }

  screen(): Screen {
    return { ...this.body(), page: this.page };
  }

  private body(): Screen {
    return screenFor('simPin', {
      digits: this.digits.length, checking: this.checking,
      ...(this.attemptsLeft !== undefined ? { attemptsLeft: this.attemptsLeft } : {}), ...(this.refused !== undefined ? { refused: this.refused } : {}),
    });
  }

  press(key: KeyName): void {
    if (this.checking || this.closed) return;
    if (key === 'UP' || key === 'DOWN') {
      const n = Math.max(1, this.d.pages(this.body()));
      this.page = (this.page + (key === 'DOWN' ? 1 : n - 1)) % n;
    } else if (/^[0-9]$/.test(key)) {
      if (this.digits.length < SIM_PIN_DIGITS_MAX) this.digits += key;
    } else if (key === 'BACK') this.digits = this.digits.slice(0, -1);
    else if (key === 'CLEAR') this.digits = '';
    else if (key === 'CANCEL') this.close(false);
    else if (key === 'OK' && PIN_PATTERN.test(this.digits)) void this.submit();
    this.d.changed();
  }

  close(accepted = false): void {
    if (this.closed) return;
    this.closed = true;
    this.digits = '';
    this.d.done(accepted);
  }

  private async submit(): Promise<void> {
    const pin = this.digits;
    this.digits = '';
    this.checking = true;
    this.refused = undefined;
    this.page = 0;
    this.d.changed();
    try {
      await this.d.modem.enterPin(pin);
      this.d.logger.info({}, 'SIM PIN accepted');
      this.checking = false;
      this.close(true);
      return;
    } catch (e) {
      this.checking = false;
      const code = isPosError(e) ? e.code : 'E-NET-15';
      const left = isPosError(e) && typeof e.detail.attemptsLeft === 'number' ? e.detail.attemptsLeft : undefined;
      this.d.logger.warn({ code, attemptsLeft: left }, 'SIM PIN refused');
      // Locked (PUK) or no SIM: nothing more to type here; the failure screen shows that fault's steps.
      if (isPosError(e) && (e.id === 'NET_SIM_PUK' || e.id === 'NET_SIM_ABSENT')) { this.close(false); return; }
      this.refused = code;
      if (left !== undefined) this.attemptsLeft = left;
    }
    this.d.changed();
  }
}

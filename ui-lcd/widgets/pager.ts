/**
 * Paging of a screen's body (error steps, long messages): UP/DOWN move between pages, wrapping;
 * OK or CANCEL leave. The page count depends on the display, so it is asked of the renderer.
 */
import type { KeyName } from '../../hal/keypad';
import { Widget, WidgetOptions, WidgetResult } from './base';

export class Pager extends Widget<'ok'> {
  private current = 0;

  constructor(private readonly pageCount: () => number, options: WidgetOptions) {
    super(options);
  }

  get page(): number {
    return this.current;
  }

  protected handle(key: KeyName): WidgetResult<'ok'> {
    const n = Math.max(1, this.pageCount());
    switch (key) {
      case 'DOWN': this.current = (this.current + 1) % n; return { kind: 'changed' };
      case 'UP': this.current = (this.current - 1 + n) % n; return { kind: 'changed' };
      case 'OK': return { kind: 'submit', value: 'ok' };
      case 'CANCEL': return { kind: 'cancel' };
      case 'BACK': return { kind: 'back' };
      default: return { kind: 'ignored' };
    }
  }
}

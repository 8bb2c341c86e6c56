/**
 * A keypad menu: a digit picks the item with that shortcut at once; UP/DOWN move the selection
 * (wrapping around); OK picks the selected item; CANCEL cancels and BACK goes back.
 */
import type { KeyName } from '../../hal/keypad';
import type { Menu, MenuItem } from '../screen';
import { Widget, WidgetOptions, WidgetResult, isDigitKey } from './base';

export class MenuWidget extends Widget<string> {
  private selectedIndex = 0;

  constructor(private readonly items: readonly MenuItem[], options: WidgetOptions & { selected?: number }) {
    super(options);
    if (items.length === 0) throw new RangeError('a menu needs at least one item');
    this.selectedIndex = Math.max(0, Math.min(items.length - 1, options.selected ?? 0));
  }

  get selected(): number {
    return this.selectedIndex;
  }

  menu(): Menu {
    return { items: this.items, selected: this.selectedIndex };
  }

  protected handle(key: KeyName): WidgetResult<string> {
    if (isDigitKey(key)) {
      const i = this.items.findIndex((it) => it.shortcut === key);
      if (i < 0) return { kind: 'ignored' };
      this.selectedIndex = i;
      return { kind: 'submit', value: this.items[i].value };
    }
    const n = this.items.length;
    switch (key) {
      case 'UP': this.selectedIndex = (this.selectedIndex - 1 + n) % n; return { kind: 'changed' };
      case 'DOWN': this.selectedIndex = (this.selectedIndex + 1) % n; return { kind: 'changed' };
      case 'OK': return { kind: 'submit', value: this.items[this.selectedIndex].value };
      case 'CANCEL': return { kind: 'cancel' };
      case 'BACK': return { kind: 'back' };
      default: return { kind: 'ignored' };
    }
  }
}

/** Items numbered 1..9 in order (items past the ninth get no shortcut). */
export function numbered(items: ReadonlyArray<Omit<MenuItem, 'shortcut'>>): MenuItem[] {
  return items.map((it, i) => (i < 9 ? { ...it, shortcut: String(i + 1) } : { ...it }));
}

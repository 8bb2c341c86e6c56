/**
 * Matrix keypad model: a grid of contacts between row and column wires of a simulated GPIO
 * chip. A closed contact pulls its column to the row's level when that row is selected; a
 * column no selected row reaches floats to its pull. With the usual wiring (`activeLow`: rows
 * select by driving low, columns pulled up) several closed keys on one column are a wired-AND,
 * as on a real matrix.
 *
 * `press`/`release` can bounce: the contact toggles every `bouncePeriodMs` for `bounceMs`
 * before settling (timers, so sinon fake timers drive it). A stuck key is a key pressed and never
 * released; `press` before the driver starts models a key held at power-on.
 */
import { SimGpioChip, SimPin } from './gpio-sim';
import { KeyName } from '../../hal/keypad';
import { Level } from '../../hal/gpio';

export interface BounceOptions {
  readonly bounceMs?: number;
  readonly bouncePeriodMs?: number;
}

/** Longest bounce the model simulates (a real contact bounces for a few ms). */
export const BOUNCE_MS_MAX = 200;

export class MatrixKeypadModel {
  private readonly rows: SimPin[];
  private readonly cols: SimPin[];
  private readonly closed = new Set<string>();
  private readonly where = new Map<KeyName, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly selected: Level;

  constructor(
    chip: SimGpioChip,
    rowOffsets: readonly number[],
    colOffsets: readonly number[],
    keymap: ReadonlyArray<ReadonlyArray<KeyName | null>>,
    options: { activeLow?: boolean } = {},
  ) {
    this.selected = options.activeLow === false ? 1 : 0;
    this.rows = rowOffsets.map((o) => chip.pin(o));
    this.cols = colOffsets.map((o) => chip.pin(o));
    for (const c of this.cols) c.setPull((1 - this.selected) as Level); // the board's resistors
    keymap.forEach((row, r) => row.forEach((key, c) => { if (key) this.where.set(key, `${r},${c}`); }));
    for (const row of this.rows) row.onChange(() => this.propagate());
    this.propagate();
  }

  /** Closes the key's contact (after bouncing, if asked). */
  press(key: KeyName, bounce: BounceOptions = {}): void {
    this.change(key, true, bounce);
  }

  release(key: KeyName, bounce: BounceOptions = {}): void {
    this.change(key, false, bounce);
  }

  isClosed(key: KeyName): boolean {
    return this.closed.has(this.pos(key));
  }

  /** Cancels pending bounce timers (end of a test). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private change(key: KeyName, close: boolean, { bounceMs = 0, bouncePeriodMs = 1 }: BounceOptions): void {
    const pos = this.pos(key);
    const steps = Math.floor(Math.min(bounceMs, BOUNCE_MS_MAX) / Math.max(bouncePeriodMs, 0.1));
    for (let i = 0; i < steps; i++) {
      const state = i % 2 === 0 ? close : !close;
      const t = setTimeout(() => { this.timers.delete(t); this.set(pos, state); }, i * bouncePeriodMs);
      this.timers.add(t);
    }
    if (steps === 0) this.set(pos, close);
    else {
      const t = setTimeout(() => { this.timers.delete(t); this.set(pos, close); }, steps * bouncePeriodMs);
      this.timers.add(t);
    }
  }

  private set(pos: string, close: boolean): void {
    if (close) this.closed.add(pos);
    else this.closed.delete(pos);
    this.propagate();
  }

  private pos(key: KeyName): string {
    const pos = this.where.get(key);
    if (!pos) throw new Error(`no key ${key} on this keypad`);
    return pos;
  }

  /** Recomputes every column from the rows and the closed contacts. */
  private propagate(): void {
    this.cols.forEach((col, c) => {
      let pulled = false;
      this.rows.forEach((row, r) => { if (row.level === this.selected && this.closed.has(`${r},${c}`)) pulled = true; });
      if (pulled) col.drive(this.selected);
      else col.release();
    });
  }
}

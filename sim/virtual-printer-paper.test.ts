import { strict as assert } from 'node:assert';
import { Cell, PAPER_RECEIPTS_MAX_DEFAULT, PaperRoll } from './virtual-printer-paper';
import { EscPosMachine } from './virtual-printer';

/** One line of text in Font A (12×24 cells). */
function line(text: string): Cell[] {
  return [...text].map((ch) => ({ ch, wide: false, bold: false, underline: false, width: 1, height: 1 }));
}

/** A receipt: `lines` text lines named `r<n>-<i>`, a feed and a cut. */
function printReceipt(roll: PaperRoll, n: number, lines = 3): void {
  for (let i = 0; i < lines; i++) roll.printLine(line(`r${n}-${i}`), 'left', 24);
  roll.feed(8);
  roll.cut(false);
}

/** Whether any dot of rows [y0, y1) is black. */
function inked(roll: PaperRoll, y0: number, y1: number): boolean {
  for (let y = y0; y < y1; y++) for (let x = 0; x < roll.widthDots; x++) if (roll.pixel(x, y)) return true;
  return false;
}

describe('virtual printer paper roll: bounded (issue 14, memory)', () => {
  it('keepsOnlyTheNewestReceiptsMaxReceiptsAndCountsTheOnesTornOff', () => {
    const roll = new PaperRoll(384, 100_000, 5);
    for (let n = 0; n < 12; n++) printReceipt(roll, n);
    const receipts = roll.receipts();
    assert.equal(receipts.length, 5, 'the roll stops growing at its maximum');
    assert.equal(roll.receiptsShed, 7);
    assert.deepEqual(receipts.map((r) => r.lines[0]), ['r7-0', 'r8-0', 'r9-0', 'r10-0', 'r11-0'], 'the newest, in order');
    assert.ok(receipts.every((r) => r.cut && r.lines.length === 3));
    assert.equal(roll.items.filter((i) => i.kind === 'cut').length, 5, 'the older receipts\' items are gone');
    // Positions stay those of the whole roll: the newest receipt still renders where it was printed.
    const last = receipts[4];
    assert.equal(last.endY, roll.heightDots);
    assert.ok(inked(roll, last.startY, last.endY), 'the newest receipt has its pixels');
  });

  it('theReceiptBeingPrintedIsNeverTornOff', () => {
    const roll = new PaperRoll(384, 100_000, 2);
    for (let n = 0; n < 4; n++) printReceipt(roll, n);
    roll.printLine(line('uncut'), 'left', 24);
    const receipts = roll.receipts();
    assert.deepEqual(receipts.map((r) => [r.lines[0], r.cut]), [['r2-0', true], ['r3-0', true], ['uncut', false]]);
  });

  it('keepsPixelsOfTheNewestRowsMaxRowsOnlyInARingThatDoesNotGrow', () => {
    const rowsMax = 2048;
    const roll = new PaperRoll(384, rowsMax, 1_000);
    // Each receipt: 3 lines of 24 rows and a feed of 8 = 80 rows; 100 receipts = 8,000 rows, four times the ring.
    for (let n = 0; n < 100; n++) printReceipt(roll, n);
    assert.equal(roll.heightDots, 8_000);
    assert.equal(roll.bitmapBytes, rowsMax * roll.rowBytes, 'the bitmap stopped growing at rowsMax rows');
    assert.equal(roll.rowsDropped, 8_000 - rowsMax);
    const receipts = roll.receipts();
    const newest = receipts[receipts.length - 1];
    assert.ok(inked(roll, newest.startY, newest.endY), 'the newest receipt is drawn');
    assert.equal(inked(roll, 0, 80), false, 'the oldest has no pixels any more (never stale ones from the ring)');
    // A PNG of the newest receipt is the same as on a roll that never wrapped.
    const fresh = new PaperRoll(384, 100_000, 1_000);
    for (let n = 0; n < 100; n++) printReceipt(fresh, n);
    assert.deepEqual(roll.png(newest.startY, newest.endY), fresh.png(newest.startY, newest.endY));
  });

  it('aReusedRingRowIsBlankBeforeItIsDrawnOn', () => {
    const roll = new PaperRoll(384, 1024, 1_000);
    roll.printLine(line('########'), 'left', 24);
    roll.feed(1024 - 24);
    // The ring wrapped: rows 1024.. reuse the slots of the black line above.
    roll.feed(24);
    assert.equal(inked(roll, 1024, 1048), false);
  });

  it('clearTearsEverythingOffAndTheRollGoesOn', () => {
    const roll = new PaperRoll(384, 4096, 10);
    for (let n = 0; n < 4; n++) printReceipt(roll, n);
    roll.clear();
    assert.deepEqual(roll.receipts(), []);
    assert.equal(roll.bitmapBytes, 0);
    assert.equal(roll.receiptsShed, 4);
    printReceipt(roll, 4);
    const [r] = roll.receipts();
    assert.equal(r.lines[0], 'r4-0');
    assert.ok(inked(roll, r.startY, r.endY));
  });

  it('aPrinterByDefaultStopsAtPaperReceiptsMaxDefault', () => {
    const machine = new EscPosMachine(() => undefined);
    const receipt = Buffer.concat([Buffer.from('hello\n', 'latin1'), Buffer.from([0x1d, 0x56, 0x00])]);
    for (let n = 0; n < PAPER_RECEIPTS_MAX_DEFAULT + 20; n++) machine.receive(receipt);
    assert.equal(machine.paper.receipts().length, PAPER_RECEIPTS_MAX_DEFAULT);
    assert.equal(machine.paper.receiptsShed, 20);
  });
});

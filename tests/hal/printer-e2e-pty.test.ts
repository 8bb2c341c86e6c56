/**
 * END TO END over real pseudo-terminals (socat): the real EscPosPrinter on hal/serial-linux.ts
 * prints a receipt with a QR code to the virtual printer on the other pty. The decoded text must
 * match, and the QR code read back from the PNG must equal the module matrix `qrcode` generated.
 */
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { EscPosPrinter } from '../../hal/drivers/escpos-printer';
import { FramedCardReader } from '../../hal/drivers/card-reader';
import { TEST_CARDS } from '../../sim/test-cards';
import { VirtualCardReader } from '../../sim/virtual-card-reader';
import { VirtualPrinter } from '../../sim/virtual-printer';
import { ptyPortsEachTest } from '../support/pty-ports';
import { QR_DATA, receiptLines, saleReceipt } from './printer-fixtures';

/** Reads the QR symbol back from a PNG region: bounding box of dark pixels, sampled per module. */
function readQrModules(png: PNG, top: number, bottom: number, size: number): Uint8Array {
  let x0 = png.width, x1 = -1, y0 = bottom, y1 = -1;
  const dark = (x: number, y: number) => png.data[(y * png.width + x) * 4] < 128;
  for (let y = top; y < bottom; y++) for (let x = 0; x < png.width; x++) {
    if (dark(x, y)) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  const moduleDots = (x1 - x0 + 1) / size;
  assert.equal(moduleDots, (y1 - y0 + 1) / size, 'square symbol');
  assert.ok(Number.isInteger(moduleDots), `whole dots per module: ${moduleDots}`);
  const modules = new Uint8Array(size * size);
  for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) {
    modules[r * size + c] = dark(x0 + c * moduleDots + Math.floor(moduleDots / 2), y0 + r * moduleDots + Math.floor(moduleDots / 2)) ? 1 : 0;
  }
  return modules;
}

describe('serial stack end to end over socat pseudo-terminals', function () {
  const ports = ptyPortsEachTest();

  it('receiptWithQrPrintsOverPtysAndQrReadsBackFromThePng', async () => {
    const sim = new VirtualPrinter(ports.device!, { paperWidthDots: 384, gb18030: true });
    const printer = new EscPosPrinter(ports.host!, { paperWidthDots: 384, gb18030: true });
    const result = await printer.print(saleReceipt());
    assert.equal(result.blocksPrinted, 7);
    const [receipt] = sim.receipts();
    assert.deepEqual(receipt.lines.filter((l) => l !== ''), ['POS SALE SLIP', ...receiptLines(), 'CUSTOMER COPY']);
    const qrItem = receipt.items.find((i) => i.kind === 'image');
    assert.ok(qrItem && qrItem.kind === 'image');
    const png = PNG.sync.read(sim.png(receipt));
    const expected = QRCode.create(QR_DATA, { errorCorrectionLevel: 'M' }).modules;
    const got = readQrModules(png, qrItem.y - receipt.startY, qrItem.y - receipt.startY + qrItem.height, expected.size);
    assert.deepEqual(Array.from(got), Array.from(expected.data));
  });

  it('portDisappearingUnderTheDriverIsPrinterDisconnected', async () => {
    const printer = new EscPosPrinter(ports.host!, { paperWidthDots: 384, gb18030: true, statusTimeoutMsMax: 3000 });
    const pending = printer.print(saleReceipt()).then(() => undefined, (e: unknown) => e);
    await ports.ptys!.close();
    const error = await pending;
    assert.ok(error && typeof error === 'object' && 'id' in error);
    assert.equal((error as { id: string }).id, 'PRN_DISCONNECTED', String(error));
  });

  it('cardReaderSwipeCrossesThePtys', async () => {
    const sim = new VirtualCardReader(ports.device!);
    const reader = new FramedCardReader(ports.host!);
    assert.equal((await reader.selfTest()).firmware, 'VCR-1.0');
    const card = reader.waitForCard(['swipe'], 5000);
    await sim.detectionStarted();
    sim.swipe(TEST_CARDS.magDebit);
    assert.equal((await card).type, 'swiped');
  });
});

/**
 * Shared fixtures for the printer tests and the benchmark: a realistic sale receipt (40 text
 * lines, a QR code, a signature image) and a driver wired to a virtual printer in-process.
 */
import { EscPosPrinter, EscPosPrinterOptions } from '../../hal/drivers/escpos-printer';
import type { MonoImage, PrintBlock, PrintJob } from '../../hal/printer';
import { SerialPair, openSerialPair } from '../../sim/serial-pair';
import { VirtualPrinter, VirtualPrinterOptions } from '../../sim/virtual-printer';

export const QR_DATA = 'https://pay.example.cn/r/20250101/000123?amt=128.50';

/** A deterministic "signature": a wavy stroke, 256×64 dots. */
export function signatureImage(width = 256, height = 64): MonoImage {
  const pixels = new Uint8Array(width * height);
  for (let x = 8; x < width - 8; x++) {
    const y = Math.round(height / 2 + (height / 3) * Math.sin(x / 11) * Math.cos(x / 37));
    for (let dy = -1; dy <= 1; dy++) for (let dx = 0; dx <= 1; dx++) pixels[(y + dy) * width + x + dx] = 1;
  }
  return { width, height, pixels };
}

/** The 40 text lines of the receipt body (ASCII), as the virtual printer should decode them. */
export function receiptLines(): string[] {
  const lines = ['MERCHANT: DEMO COFFEE SHOP', 'MERCHANT NO: 898310048161234', 'TERMINAL NO: 10062233',
    'OPERATOR: 01', 'CARD NO: 622202******0123', 'CARD TYPE: DEBIT  ISSUER: ICBC', 'TXN TYPE: SALE',
    'BATCH: 000012  VOUCHER: 000345', 'AUTH: 123456  REF: 250101123456', 'DATE/TIME: 2025/01/01 12:34:56'];
  for (let i = 1; lines.length < 38; i++) lines.push(`ITEM ${String(i).padStart(2, '0')}  LATTE x1      ${(12 + i / 4).toFixed(2).padStart(6)}`);
  lines.push('AMOUNT: RMB 128.50', 'I ACKNOWLEDGE THE ABOVE AMOUNT');
  return lines;
}

export function saleReceipt(label = 'customer copy'): PrintJob {
  const blocks: PrintBlock[] = [
    { kind: 'text', text: 'POS SALE SLIP', align: 'center', bold: true, size: { width: 2, height: 2 }, label: 'title' },
    { kind: 'text', text: receiptLines().join('\n'), label: 'body' },
    { kind: 'qr', data: QR_DATA, label: 'qr' },
    { kind: 'image', image: signatureImage(), label: 'signature' },
    { kind: 'text', text: label.toUpperCase(), align: 'center', label: 'copy' },
    { kind: 'feed', lines: 2 },
    { kind: 'cut', partial: true, label: 'cut' },
  ];
  return { label, blocks };
}

export interface PrinterRig {
  pair: SerialPair;
  printer: EscPosPrinter;
  device: VirtualPrinter;
}

export async function printerRig(driver: Partial<EscPosPrinterOptions> = {}, sim: VirtualPrinterOptions = {}): Promise<PrinterRig> {
  const pair = await openSerialPair({ label: 'printer0' });
  const device = new VirtualPrinter(pair.device, { paperWidthDots: 384, gb18030: true, ...sim });
  const printer = new EscPosPrinter(pair.host, { paperWidthDots: 384, gb18030: true, ...driver });
  return { pair, printer, device };
}

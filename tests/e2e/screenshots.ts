/**
 * Renders the README's pictures from a running terminal, through the control interface only:
 * docs/front-panel.png (the 128x64 LCD scaled x4 in the panel's colours, with the keypad legend)
 * and docs/receipt-zh.png / docs/receipt.png (the virtual printer's paper roll of the merchant copy,
 * in Chinese, the terminal's default, and in English).
 *
 *   node -r ts-node/register/transpile-only tests/e2e/screenshots.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { tempDir, removeDir } from '../../storage/testing';
import { Driver } from './driver';

const SCALE = 4;
const BORDER_PX = 16;
const ON = [0x9c, 0xe0, 0xff];
const OFF = [0x0a, 0x1a, 0x2e];
const FRAME = [0x30, 0x30, 0x30];

/** '#'/'.' rows (128x64) to a PNG, each pixel SCALE x SCALE, in an OLED's blue-on-black. */
export function lcdPng(ascii: string): Buffer {
  const rows = ascii.split('\n').filter((r) => r.length > 0);
  const w = rows[0].length * SCALE + 2 * BORDER_PX;
  const h = rows.length * SCALE + 2 * BORDER_PX;
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = Math.floor((x - BORDER_PX) / SCALE);
      const py = Math.floor((y - BORDER_PX) / SCALE);
      const inside = x >= BORDER_PX && y >= BORDER_PX && py < rows.length && px < rows[0].length;
      const c = !inside ? FRAME : rows[py][px] === '#' ? ON : OFF;
      const i = (y * w + x) * 4;
      png.data[i] = c[0]; png.data[i + 1] = c[1]; png.data[i + 2] = c[2]; png.data[i + 3] = 0xff;
    }
  }
  return PNG.sync.write(png);
}

/** One sale by chip with a PIN; `atPin` runs on the PIN screen, `atSignature` once the receipt is out. */
async function sale(locale: 'zh-CN' | 'en', atPin: (d: Driver) => Promise<void>, atSignature: (d: Driver) => Promise<void>): Promise<void> {
  const host = new AcquirerSimulator({ clock: Date.now });
  await host.listen(0);
  const dir = tempDir('pos-shots-');
  const d = new Driver(host, dir, locale);
  try {
    await d.powerOn();
    await d.signIn();
    await d.keys('8800OK');
    await d.until('sale.card');
    await d.cmd('insert', { card: 'icDebit' });
    await d.until('sale.pin');
    await d.keys('2468');
    await d.screen('pin');
    await new Promise((r) => setTimeout(r, 300));
    await atPin(d);
    await d.keys('10OK');
    await d.until('sale.askCustomerCopy');
    await d.keys('2');
    await d.until('sale.signature');
    await atSignature(d);
    await d.keys('OK');
    await d.until('idle');
  } finally {
    await d.powerOff();
    await host.close();
    removeDir(dir);
  }
}

async function main(): Promise<void> {
  const docs = join(__dirname, '..', '..', 'docs');
  // The LCD in Chinese (Unifont on the 128x64 display) and the terminal's default slip in Chinese
  // (the virtual printer draws GB2312 from its Unifont subset); the same slip in English.
  // receipt-png writes only into the terminal's receipts folder: take the PNG as base64 instead.
  const receipt = (file: string) => async (d: Driver): Promise<void> => writeFileSync(join(docs, file), Buffer.from(String((await d.cmd('receipt-png', { index: 0 })).png), 'base64'));
  await sale('zh-CN', async (d) => writeFileSync(join(docs, 'front-panel.png'), lcdPng(String((await d.cmd('screen')).ascii))), receipt('receipt-zh.png'));
  await sale('en', async () => undefined, receipt('receipt.png'));
}

if (require.main === module) main().catch((e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exit(1); });

/**
 * Generates the GB2312 font: every character of GB2312 (the character set Chinese thermal
 * printers ship in ROM; GB18030 printers have at least these) as 16×16 glyphs taken from GNU
 * Unifont, into ui-lcd/font/gb2312-unifont.txt ("XXXX:<64 hex digits>" per line, sorted, every
 * line 70 bytes: ui-lcd/font/glyph-file.ts searches it by position). The LCD draws from it what
 * its subset lacks (a merchant name from the host); the virtual printer prints with it.
 * Needs the Debian package `unifont` (/usr/share/unifont/unifont.hex) only to regenerate; the
 * output is committed beside its licence (ui-lcd/font/LICENSE). Run: npm run gen:printer-font
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as iconv from 'iconv-lite';

const UNIFONT_HEX = '/usr/share/unifont/unifont.hex';
const OUT = join(__dirname, '..', 'ui-lcd', 'font', 'gb2312-unifont.txt');

function gb2312CodePoints(): number[] {
  const out = new Set<number>();
  for (let hi = 0xa1; hi <= 0xf7; hi++) {
    for (let lo = 0xa1; lo <= 0xfe; lo++) {
      const ch = iconv.decode(Buffer.from([hi, lo]), 'gb2312');
      const cp = ch.codePointAt(0);
      if (ch.length === 1 && cp !== undefined && cp !== 0xfffd && cp > 0x7f) out.add(cp);
    }
  }
  return [...out].sort((a, b) => a - b);
}

function main(): void {
  const glyphs = new Map<number, string>();
  for (const line of readFileSync(UNIFONT_HEX, 'latin1').split('\n')) {
    const [code, bits] = line.split(':');
    if (bits && bits.trim().length === 64) glyphs.set(parseInt(code, 16), bits.trim());
  }
  const lines = gb2312CodePoints().filter((cp) => glyphs.has(cp)).map((cp) => `${cp.toString(16).toUpperCase().padStart(4, '0')}:${glyphs.get(cp)}`);
  writeFileSync(OUT, lines.join('\n') + '\n');
  process.stdout.write(`${lines.length} wide glyphs written to ${OUT}\n`);
}

main();

/**
 * GB18030 text from a host (the merchant name of a parameter download, profile "Version 2
 * additions"), decoded without building iconv-lite's code-page tables at every boot's first
 * sign-on (issue 14 goal 6); and text for the printer encoded from a table ICU's decoder fills
 * (encodeGb18030, below), not iconv-lite's, at every boot's first receipt.
 *
 * iconv-lite builds its whole GBK/GB18030 table the first time the codec is used: 27 ms of the
 * terminal's CPU at the sign-on after the login here (a CPU profile), 80-85 ms with its require in
 * a fresh process, ~0.15-0.5 s on a slow core, inside the operator's OK -> idle. Node's
 * TextDecoder('gb18030') is ICU's converter: 3 ms of CPU the first time.
 *
 * The two agree on every byte sequence (all 2-byte codes, every 4-byte code of the BMP, 300,000
 * seeded random strings) except:
 *   - 18 two-byte codes GB18030-2022 moved out of the private use area (A6D9-A6DF, A6EC-A6ED, A6F3:
 *     vertical punctuation U+FE10-FE19; FE59...FEA0: U+9FB4-9FBB). ICU gives the 2022 characters,
 *     iconv-lite (and the terminal's printer encoding, hal/drivers/escpos-encoder.ts) the 2005 PUA
 *     ones: text holding one of those characters is decoded again by iconv-lite, so what the
 *     terminal stores and prints is the same as before.
 *   - 4-byte codes past the end of their ranges (0x8431A530-0x8431A539... and past U+10FFFF): ICU
 *     gives U+FFFD (they map to nothing in the standard), iconv-lite characters of its own
 *     arithmetic; the caller refuses text with U+FFFD, so such a name is now refused as not
 *     GB18030 text, as the standard says.
 * Without ICU's converter (node built with small-icu) every decode is iconv-lite's.
 */
import type * as Iconv from 'iconv-lite';
import { TextDecoder } from 'node:util';
import { lazy } from './lazy';

/** iconv-lite (500 KB of code pages, outside the bundle) only when needed (common/lazy.ts). */
const iconv = lazy(() => require('iconv-lite') as typeof Iconv);

/** Characters GB18030-2022 (ICU) decodes where iconv-lite gives the 2005 private-use ones. */
const MOVED_IN_2022 = /[\ufe10-\ufe19\u9fb4-\u9fbb]/u;

/** undefined: not tried yet; null: node has no GB18030 TextDecoder. */
let icu: TextDecoder | null | undefined;

function icuDecoder(): TextDecoder | null {
  if (icu === undefined) {
    try { icu = new TextDecoder('gb18030'); } catch { icu = null; }
  }
  return icu;
}

/** The text of GB18030 bytes; bytes that are not GB18030 give U+FFFD where they stand. */
export function decodeGb18030(bytes: Uint8Array): string {
  const d = icuDecoder();
  const text = d?.decode(bytes);
  if (text !== undefined && !MOVED_IN_2022.test(text)) return text;
  return iconv().decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'gb18030');
}

/** GB18030's two-byte codes: lead 0x81-0xFE, trail 0x40-0x7E and 0x80-0xFE. */
const LEAD_MIN = 0x81;
const LEAD_MAX = 0xfe;
const TRAIL_MIN = 0x40;
const TRAIL_MAX = 0xfe;
const TRAIL_SKIPPED = 0x7f;

/** Code point (BMP) -> its two-byte code; 0: none (ASCII, a 4-byte code, or one iconv-lite encodes otherwise). */
let twoByteCodes: Uint16Array | null | undefined;

/**
 * The table of every two-byte code, from one decode of all 23,940 by ICU: 6-9 ms here the first
 * time (ICU's converter opened, the decode, the fill), against 30-50 ms for iconv-lite to build
 * its own, and 80-130 ms with its require. The first code of a character decoded twice
 * wins, as in iconv-lite; the characters GB18030-2022 moved are left out (iconv-lite encodes the
 * 2005 assignments: MOVED_IN_2022's characters as 4-byte codes, the PUA ones as these codes).
 * Null when ICU has no gb18030 or its answer does not line up with the codes.
 */
function twoByteTable(): Uint16Array | null {
  if (twoByteCodes !== undefined) return twoByteCodes;
  const d = icuDecoder();
  twoByteCodes = null;
  if (!d) return null;
  const codes = Buffer.alloc((LEAD_MAX - LEAD_MIN + 1) * (TRAIL_MAX - TRAIL_MIN) * 2);
  let at = 0;
  for (let lead = LEAD_MIN; lead <= LEAD_MAX; lead++) {
    for (let trail = TRAIL_MIN; trail <= TRAIL_MAX; trail++) {
      if (trail === TRAIL_SKIPPED) continue;
      codes[at++] = lead;
      codes[at++] = trail;
    }
  }
  const table = new Uint16Array(0x10000);
  const text = d.decode(codes);
  // One character per code, all in the BMP (no surrogate, no U+FFFD): else the table would be misread.
  if (text.length * 2 !== at) return null;
  for (let i = 0; i < text.length; i++) {
    const cp = text.charCodeAt(i);
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfffd) return null;
    if (table[cp] === 0 && !movedIn2022(cp)) table[cp] = (codes[i * 2] << 8) | codes[i * 2 + 1];
  }
  twoByteCodes = table;
  return table;
}

/** MOVED_IN_2022 as a test of one code unit (the table's loop runs it 23,940 times). */
function movedIn2022(cp: number): boolean {
  return (cp >= 0xfe10 && cp <= 0xfe19) || (cp >= 0x9fb4 && cp <= 0x9fbb);
}

/**
 * GB18030 bytes of `text`, the same as iconv-lite's encode: ASCII as itself, a character with a
 * two-byte code from the table; text holding anything else (a 4-byte code: rare CJK, emoji; a
 * character GB18030-2022 moved) is encoded whole by iconv-lite.
 */
export function encodeGb18030(text: string): Buffer {
  const table = twoByteTable();
  const out = Buffer.allocUnsafe(text.length * 2);
  let at = 0;
  for (let i = 0; table && i < text.length; i++) {
    const cp = text.charCodeAt(i);
    if (cp < 0x80) { out[at++] = cp; continue; }
    const code = table[cp];
    if (code === 0) return iconv().encode(text, 'gb18030');
    out[at++] = code >> 8;
    out[at++] = code & 0xff;
  }
  return table ? out.subarray(0, at) : iconv().encode(text, 'gb18030');
}

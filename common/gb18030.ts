/**
 * GB18030 text from a host (the merchant name of a parameter download, profile "Version 2
 * additions"), decoded without building iconv-lite's code-page tables at every boot's first
 * sign-on (issue 14 goal 6).
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

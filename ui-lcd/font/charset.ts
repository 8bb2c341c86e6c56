/**
 * Every character the UI can draw on the graphic display: all strings of ui-lcd/strings.ts and
 * of the recovery reports (ui-lcd/recovery-strings.ts), the link names (runtime/host/link-name.ts), the error list (common/errors.ts), the response-code texts, printable ASCII and a few symbols
 * composed at run time (currency, punctuation), and configured text listed in extra-chars.txt. scripts/gen-font.ts extracts exactly these from
 * GNU Unifont; tests/ui/font.test.ts fails when one of them has no glyph in the committed subset,
 * so a string added without `npm run gen:font` fails CI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STRINGS } from '../strings';
import { ERRORS } from '../../common/errors';
import { EXPLAINED_CODES, explainResponseCode } from '../../runtime/host/response-codes';
import { RECOVERY_STRINGS } from '../recovery-strings';
import { LINK_NAMES } from '../../runtime/host/link-name';

/** Composed at run time: amounts ("¥12.34", "12.34元"), masks, separators. */
export const EXTRA_CHARACTERS = '¥元*…·，。：；！？（）、';

export function printableAscii(): string {
  let s = '';
  for (let c = 0x20; c <= 0x7e; c++) s += String.fromCharCode(c);
  return s;
}

/** Every text the UI can show, by where it comes from (for messages that name the culprit). */
export function uiTexts(): Array<{ readonly where: string; readonly text: string }> {
  const out: Array<{ where: string; text: string }> = [];
  for (const [key, v] of Object.entries(STRINGS)) {
    out.push({ where: `strings.ts ${key} (en)`, text: v.en }, { where: `strings.ts ${key} (zh)`, text: v.zh });
  }
  for (const [id, d] of Object.entries(ERRORS)) {
    for (const lang of ['en', 'zh'] as const) {
      out.push({ where: `errors.ts ${id} cause (${lang})`, text: d[lang].cause });
      d[lang].steps.forEach((step, i) => out.push({ where: `errors.ts ${id} step ${i + 1} (${lang})`, text: step }));
    }
  }
  // The recovery menu's report lines (ui-lcd/recovery-strings.ts): shown on the same display.
  for (const [key, v] of Object.entries(RECOVERY_STRINGS)) {
    out.push({ where: `recovery-strings.ts ${key} (en)`, text: v.en }, { where: `recovery-strings.ts ${key} (zh)`, text: v.zh });
  }
  // The link names the result screen fills in (runtime/host/link-name.ts).
  for (const [kind, v] of Object.entries(LINK_NAMES)) out.push({ where: `link-name.ts ${kind} (en)`, text: v.en }, { where: `link-name.ts ${kind} (zh)`, text: v.zh });
  for (const code of [...EXPLAINED_CODES, 'XX']) {
    const r = explainResponseCode(code);
    out.push({ where: `response-codes.ts ${code} (en)`, text: r.en }, { where: `response-codes.ts ${code} (zh)`, text: r.zh });
  }
  return out;
}

/** Configured text (merchant names) listed in extra-chars.txt, comment lines aside. */
export function extraText(): string {
  const file = path.join(__dirname, 'extra-chars.txt');
  if (!fs.existsSync(file)) return '';
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('').replace(/\s/g, '');
}

/** The set of code points the font subset must hold, sorted. */
export function requiredCodePoints(): number[] {
  const set = new Set<number>();
  const add = (s: string): void => { for (const ch of s) set.add(ch.codePointAt(0)!); };
  add(printableAscii());
  add(EXTRA_CHARACTERS);
  add(extraText());
  for (const t of uiTexts()) add(t.text.replace(/\{\w+\}/g, ''));
  return [...set].sort((a, b) => a - b);
}

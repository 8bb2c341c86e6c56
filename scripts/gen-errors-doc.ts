/**
 * Writes docs/ERRORS.md from the single error list (common/errors.ts): every code the terminal can
 * show, its kind, and its cause and steps in both languages, grouped as the codes are. The
 * technician on the phone looks a code up there; `tests/structure/errors-doc.test.ts` fails when
 * the file is not what this script would write (run `npm run gen:errors-doc`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, ErrorDef } from '../common/errors';

/** The groups in the list's order, by the code's middle part (E-<group>-NN). */
const GROUP_TITLES: Readonly<Record<string, string>> = {
  PWR: 'Power', NET: 'Network', HOST: 'Acquirer host', KEY: 'Keys', STO: 'Storage and journal', PRN: 'Printer',
  RDR: 'Card reader', KBD: 'Keypad', DSP: 'Display', BRD: 'Board and buses', OPR: 'Operator', UPD: 'Software update',
  MGT: 'Remote management', SYS: 'Internal',
};

export const ERRORS_DOC_PATH = join(__dirname, '..', 'docs', 'ERRORS.md');

/** A table cell: pipes escaped, never a line break. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function row(d: ErrorDef): string {
  const steps = (ss: readonly string[]): string => ss.map((s, i) => `${i + 1}. ${cell(s)}`).join('<br>');
  return `| ${d.code} | ${d.kind} | ${cell(d.en.cause)} | ${steps(d.en.steps)} | ${cell(d.zh.cause)} | ${steps(d.zh.steps)} |`;
}

/** The document's text, from the list as it is. */
export function errorsDoc(): string {
  const groups = new Map<string, ErrorDef[]>();
  for (const d of Object.values(ERRORS) as ErrorDef[]) {
    const group = d.code.split('-')[1];
    groups.set(group, [...(groups.get(group) ?? []), d]);
  }
  const out = [
    '# Error codes',
    '',
    'Every code the terminal shows (on the screen\'s last row, on printed reports, in `pos` and the',
    'management channel\'s status), what it means and what to do, in both languages as the screen says',
    'it. The kind is what the code branches on. Codes never change meaning once shipped.',
    '',
    'Written by `npm run gen:errors-doc` from `common/errors.ts`, the single list; do not edit by hand.',
    '',
  ];
  for (const [group, defs] of groups) {
    out.push(`## E-${group}: ${GROUP_TITLES[group] ?? group}`, '');
    out.push('| code | kind | cause | what to do | 原因 | 处理 |', '|---|---|---|---|---|---|');
    for (const d of [...defs].sort((a, b) => a.code.localeCompare(b.code))) out.push(row(d));
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

if (require.main === module) {
  writeFileSync(ERRORS_DOC_PATH, errorsDoc());
  process.stdout.write(`${ERRORS_DOC_PATH}: ${Object.keys(ERRORS).length} codes\n`);
}

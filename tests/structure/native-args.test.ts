/**
 * The runtime's own addons check their JavaScript arguments with one set of helpers,
 * native/napi_args.h (FAIL, buffer, whole, one_whole_arg): journal_seal.c and password_kdf.c each
 * had their own copy of the same FAIL and buffer(), and password_kdf's reserve and touch parsed
 * their one number argument twice alike. A copy made again would drift from the other (a fix to
 * one Buffer check and not the other). Behaviour is tested by the addons' own tests
 * (runtime/password-kdf.test.ts, tests/journal/record-payload.test.ts).
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const NATIVE = join(__dirname, '..', '..', 'native');
const HEADER = 'napi_args.h';
/** The addons that take their argument helpers from the header. */
const USERS: readonly string[] = ['journal_seal.c', 'password_kdf.c', 'mapped_file.c'];

/** Where each helper of the header would be defined again: its macro or its function definition. */
const DEFINITIONS: ReadonlyArray<[string, RegExp]> = [
  ['FAIL', /^#define FAIL\b/m],
  ['buffer', /^static (inline )?int buffer\(/m],
  ['whole', /^static (inline )?int whole\(/m],
  ['one_whole_arg', /^static (inline )?int one_whole_arg\(/m],
];

describe('native addons: one set of argument helpers (native/napi_args.h)', () => {
  const sources = readdirSync(NATIVE).filter((f) => /\.(c|cc|h)$/.test(f));

  it('theHeaderDefinesEachHelperAndNoOtherNativeFileDefinesOneAgain', () => {
    const header = readFileSync(join(NATIVE, HEADER), 'utf8');
    for (const [name, definition] of DEFINITIONS) assert.match(header, definition, `${HEADER} defines ${name}`);
    for (const file of sources.filter((f) => f !== HEADER)) {
      const text = readFileSync(join(NATIVE, file), 'utf8');
      for (const [name, definition] of DEFINITIONS) assert.doesNotMatch(text, definition, `${file} defines its own ${name}`);
    }
  });

  it('theAddonsThatCheckTheirArgumentsIncludeIt', () => {
    for (const file of USERS) assert.match(readFileSync(join(NATIVE, file), 'utf8'), /^#include "napi_args\.h"$/m, file);
  });

  it('passwordKdfsReserveAndTouchParseTheirOneArgumentThroughIt', () => {
    const text = readFileSync(join(NATIVE, 'password_kdf.c'), 'utf8');
    for (const fn of ['Reserve', 'Touch']) {
      const body = new RegExp(`static napi_value ${fn}\\([^)]*\\) \\{([\\s\\S]*?)\\n\\}`).exec(text)?.[1] ?? '';
      assert.match(body, /one_whole_arg\(/, `${fn} uses one_whole_arg`);
      assert.doesNotMatch(body, /napi_get_cb_info/, `${fn} reads its arguments itself`);
    }
  });
});

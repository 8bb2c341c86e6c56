/**
 * docs/ERRORS.md is the error list as it is: a code added, reworded or given new steps in
 * common/errors.ts without `npm run gen:errors-doc` fails here, so the technician's lookup never
 * disagrees with the screen.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { ERRORS } from '../../common/errors';
import { ERRORS_DOC_PATH, errorsDoc } from '../../scripts/gen-errors-doc';

describe('docs/ERRORS.md', () => {
  it('isWhatTheErrorListWrites (npm run gen:errors-doc)', () => {
    assert.equal(readFileSync(ERRORS_DOC_PATH, 'utf8'), errorsDoc());
  });

  it('namesEveryCodeOnceWithItsStepsInBothLanguages', () => {
    const doc = errorsDoc();
    for (const d of Object.values(ERRORS)) {
      assert.equal(doc.split(`| ${d.code} |`).length - 1, 1, d.code);
      assert.ok(doc.includes(d.zh.cause), `${d.code} zh`);
    }
  });
});

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diagram } from '../../scripts/diagram';

describe('state machine diagram', () => {
  it('docs/state-machine.md is the diagram generated from runtime/machine.ts (run npm run diagram when this fails)', () => {
    assert.equal(readFileSync(join(__dirname, '..', '..', 'docs', 'state-machine.md'), 'utf8'), diagram());
  });
});

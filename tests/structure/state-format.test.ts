/**
 * The boot checkpoint's state snapshot is used by any software of the same STATE_FORMAT
 * (runtime/state-snapshot.ts): a change to the reducer that does not bump it would have new
 * software trust a state an older reducer derived. This test keeps the reducer's hash and fails on
 * any change to it, so that whoever changes the reducer decides whether the format moves.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REDUCER_SOURCES, REDUCER_SOURCES_SHA256, STATE_FORMAT } from '../../runtime/state-snapshot';

const ROOT = join(__dirname, '..', '..');

/** The reducer's hash: every source file's text, the line holding the hash itself left out. */
function reducerSha256(): string {
  const h = createHash('sha256');
  for (const file of REDUCER_SOURCES) {
    const text = readFileSync(join(ROOT, file), 'utf8').replace(/\r\n/g, '\n');
    h.update(`${file}\0${text.split('\n').filter((l) => !l.startsWith('export const REDUCER_SOURCES_SHA256')).join('\n')}\0`);
  }
  return h.digest('hex');
}

describe('the state snapshot format follows the reducer', () => {
  it('reducerChangedWithoutAFormatDecision_fails', () => {
    const now = reducerSha256();
    assert.equal(REDUCER_SOURCES_SHA256, now, [
      `The reducer (${REDUCER_SOURCES.join(', ')}) changed since STATE_FORMAT ${STATE_FORMAT} was set.`,
      'If the same records can now give a different state (or the state\'s shape changed), bump STATE_FORMAT in runtime/state-snapshot.ts:',
      'boot checkpoints of the old format are then ignored once (a full replay). Either way, set',
      `REDUCER_SOURCES_SHA256 = '${now}';`,
    ].join('\n'));
  });
});

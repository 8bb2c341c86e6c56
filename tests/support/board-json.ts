/**
 * Board files as JSON for tests that change a field and check what the validator says.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PosError, isPosError } from '../../common/errors';
import { validateBoard } from '../../hal/board';

export type BoardJson = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests mutate arbitrary fields

/** board-configs/<name>.json, parsed (a fresh copy each call). */
export function boardJson(name: string): BoardJson {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs', `${name}.json`), 'utf8')) as BoardJson;
}

/** The validator's message refusing `json` as board-configs/x.json; fails the test if it is accepted. */
export function boardRefusal(json: unknown): string {
  try {
    validateBoard(json, 'board-configs/x.json');
  } catch (e) {
    assert.ok(isPosError(e, 'board-invalid'), String(e));
    return (e as PosError).message;
  }
  assert.fail('board was accepted');
}

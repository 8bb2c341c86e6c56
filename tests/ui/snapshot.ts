/**
 * Tiny snapshot helper: compares text with ui-lcd/__snapshots__/<name>.snap.txt.
 * - UPDATE_SNAPSHOTS=1 rewrites the stored file with the new text.
 * - A missing snapshot is written (and the test passes) on a developer's machine, but FAILS
 *   when CI=true, so a snapshot never gets created unseen by CI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';

export const SNAPSHOT_DIR = path.resolve(__dirname, '..', '..', 'ui-lcd', '__snapshots__');

export function snapshotPath(name: string): string {
  return path.join(SNAPSHOT_DIR, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.snap.txt`);
}

export function matchSnapshot(name: string, actual: string): void {
  const file = snapshotPath(name);
  const text = actual.endsWith('\n') ? actual : `${actual}\n`;
  if (process.env.UPDATE_SNAPSHOTS === '1') {
    fs.mkdirSync(SNAPSHOT_DIR, { recursive: true });
    fs.writeFileSync(file, text);
    return;
  }
  if (!fs.existsSync(file)) {
    if (process.env.CI === 'true') assert.fail(`snapshot ${path.relative(process.cwd(), file)} is missing (CI=true): run the tests with UPDATE_SNAPSHOTS=1 and commit it`);
    fs.mkdirSync(SNAPSHOT_DIR, { recursive: true });
    fs.writeFileSync(file, text);
    return;
  }
  const expected = fs.readFileSync(file, 'utf8');
  if (expected !== text) {
    assert.fail(`snapshot ${path.relative(process.cwd(), file)} differs (UPDATE_SNAPSHOTS=1 to accept):\n${firstDifference(expected, text)}`);
  }
}

function firstDifference(expected: string, actual: string): string {
  const e = expected.split('\n');
  const a = actual.split('\n');
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    if (e[i] !== a[i]) return `line ${i + 1}\n  stored: ${JSON.stringify(e[i])}\n  now:    ${JSON.stringify(a[i])}`;
  }
  return '(no line differs: trailing whitespace?)';
}

/**
 * Issue 13 item 14, through the real terminal process: `receipt-png {path}` on the control port
 * writes only into receipts/ beside the terminal's journal folder; a path outside it is refused
 * and nothing is written there.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Driver, terminalPerTest } from './driver';

describe('e2e: the control interface writes receipt PNGs only into the receipts folder', function () {
  this.timeout(90_000);
  const bench = terminalPerTest('h-secrets-e2e-');
  let dir: string;
  let d: Driver;
  beforeEach(() => { ({ dir, d } = bench); });

  it('anOutsidePathIsRefusedNamingTheReceiptsFolderAndNothingIsWritten', async () => {
    await d.powerOn();
    await d.until('login');
    const outside = join(dir, 'outside.png');
    for (const path of [outside, '../outside.png']) {
      const r = await d.run!.client.request('receipt-png', { index: 0, path });
      assert.equal(r.ok, false, `${path} accepted`);
      assert.ok(String(r.error).includes(join(dir, 'receipts')), `the error names the receipts folder: ${r.error}`);
    }
    assert.equal(existsSync(outside), false);
    assert.deepEqual(existsSync(join(dir, 'receipts')) ? readdirSync(join(dir, 'receipts')) : [], []);
  });
});

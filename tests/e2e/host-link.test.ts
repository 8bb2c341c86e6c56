/**
 * The acquirer link from the board file (docs/PROTOCOL.md section 1: TPDU and connection mode are
 * configuration): the terminal process booted on a copy of the simulator board whose `host`
 * section names another TPDU and a kept-alive connection sends that TPDU in every request, at the
 * wire, accepts the host's answers (addresses swapped) and sells; with keep-alive its exchanges
 * share connections. The simulator board itself keeps the profile's defaults (tests/hal/board.test.ts).
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { asset } from '../../common/assets';
import { tempDir, removeDir } from '../../storage/testing';
import { Driver } from './driver';

/** Bytes 2..6 of a frame: after the 2-byte length, the 5-byte TPDU, as hex. */
const tpduOf = (frame: Buffer): string => frame.subarray(2, 7).toString('hex');

describe('e2e: TPDU and connection mode from the board file reach the wire', function () {
  this.timeout(120_000);
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  const tpdus: string[] = [];

  before(async () => {
    // The host keeps the connection open too, so the terminal's keep-alive can reuse it.
    host = new AcquirerSimulator({ clock: Date.now, connectionMode: 'keep-alive' });
    const handle = host.handle.bind(host);
    host.handle = (frame: Buffer) => { tpdus.push(tpduOf(frame)); return handle(frame); };
    await host.listen(0);
    dir = tempDir('pos-e2e-hostlink-');
    const board = JSON.parse(readFileSync(asset('board-configs', 'sim.json'), 'utf8')) as Record<string, unknown>;
    board.host = { tpdu: '60 0123 0456', connection: 'keep-alive' };
    const file = join(dir, 'sim-other-tpdu.json');
    writeFileSync(file, JSON.stringify(board, null, 2));
    d = new Driver(host, dir, 'en');
    d.board = file;
  });
  after(async () => {
    await d?.powerOff().catch(() => undefined);
    await host?.close();
    if (dir) removeDir(dir);
  });

  it('sign-on, parameter download and a sale carry TPDU 60 0123 0456; the answers swap it and are accepted; connections are reused', async () => {
    await d.powerOn();
    await d.signIn('cashier');
    await d.sale('1234');
    await d.until('idle');
    const types = host.requests().map((q) => q.type);
    assert.ok(types.includes('signOn') && types.includes('sale'), `requests: ${types.join(' ')}`);
    assert.ok(host.ledger.entries().some((e) => e.type === 'sale' && e.amountFen === 1234 && e.status === 'approved'), 'the sale is approved at the host');
    assert.ok(tpdus.length >= 3, `${tpdus.length} requests`);
    assert.deepEqual([...new Set(tpdus)], ['6001230456'], 'every request frame carries the board\'s TPDU');
    assert.ok(host.connectionsAccepted() < tpdus.length, `keep-alive: ${host.connectionsAccepted()} connections for ${tpdus.length} requests`);
  });
});

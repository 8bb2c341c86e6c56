/** The board file's optional `management` section (hal/board-schema.ts, docs/MANAGEMENT.md). */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readBoardFile, validateBoard } from '../../hal/board';
import { isPosError, PosError } from '../../common/errors';

// The test edits arbitrary fields of the parsed file.
const simJson = (): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs/sim.json'), 'utf8')) as Record<string, unknown>;

function refusal(json: unknown): string {
  try { validateBoard(json, 'board-configs/x.json'); } catch (e) {
    assert.ok(isPosError(e, 'board-invalid'), String(e));
    return (e as PosError).message;
  }
  return 'accepted';
}

describe('board file: the management section', () => {
  it('isAbsentFromTheShippedBoardsSoManagementIsOffByDefault', () => {
    for (const name of ['sim', 'rpi-dev', 'handheld']) assert.equal(readBoardFile(name).config.management, undefined, name);
  });

  it('acceptsABrokerWithAPinnedCaAndCredentials', () => {
    const j = simJson();
    j.management = { url: 'mqtts://mgmt.example.com:8883', caFile: '/etc/pos/mgmt-ca.pem', passwordFile: '/etc/pos/mgmt.pass', heartbeatS: 30 };
    assert.deepEqual(validateBoard(j, 'x.json').management, j.management);
    j.management = { url: 'mqtt://127.0.0.1:1883', allowPlain: true, passwordFile: '/p', username: 'SN-1' };
    assert.deepEqual(validateBoard(j, 'x.json').management, j.management);
    j.management = { url: 'mqtts://[::1]:8883', caFile: '/ca', certFile: '/c', keyFile: '/k' };
    assert.equal(validateBoard(j, 'x.json').management?.certFile, '/c');
  });

  it('refusesWhatCouldNotWorkOrWouldNotBeSafeNamingTheField', () => {
    const j = simJson();
    const cases: [unknown, RegExp][] = [
      [{ url: 'mqtts://h:8883', passwordFile: '/p' }, /field "management\.caFile" is required with mqtts:\/\//],
      [{ url: 'mqtt://h:1883', passwordFile: '/p' }, /field "management\.url" must be mqtts:\/\//],
      [{ url: 'https://h', caFile: '/ca', passwordFile: '/p' }, /field "management\.url"/],
      [{ url: 'mqtts://h:8883', caFile: '/ca' }, /field "management\.passwordFile" or passwordSealed or certFile\/keyFile is required/],
      [{ url: 'mqtts://h:8883', caFile: '/ca', passwordFile: '/p', passwordSealed: true }, /field "management\.passwordSealed" goes without passwordFile/],
      [{ url: 'mqtts://h:8883', caFile: '/ca', certFile: '/c' }, /field "management\.keyFile"/],
      [{ url: 'mqtts://h:8883', caFile: 'relative.pem', passwordFile: '/p' }, /field "management\.caFile"/],
      [{ url: 'mqtts://h:8883', caFile: '/ca', passwordFile: '/p', heartbeatS: 1 }, /field "management\.heartbeatS"/],
      [{ url: 'mqtts://h:8883', caFile: '/ca', passwordFile: '/p', broker: 'x' }, /field "management\.broker" is not a known field/],
    ];
    for (const [m, want] of cases) {
      j.management = m;
      assert.match(refusal(j), want, JSON.stringify(m));
    }
  });
});

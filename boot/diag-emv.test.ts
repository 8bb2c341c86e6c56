/**
 * The chip kernel's parameters in diagnostics (boot/diag-emv.ts): the CA public keys with RID,
 * index, expiry and the SHA-1 check value's status on the terminal's date (ok, expired, wrong), the
 * AIDs with their UnionPay names and limits, in zh-CN and en; and the host check of the
 * diagnostics menu showing them whether the sign-on worked or not.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { Diagnostics, ErrorRing } from './diagnostics';
import { emvParamLines } from './diag-emv';
import { caKeyChecksum } from '../runtime/txn/emv-rsa';
import { PosError } from '../common/errors';
import { silentLogger } from '../common/log';
import { same } from '../ui-lcd/recovery-strings';
import { testAids, testCaPublicKeys } from '../sim/host/emv-params-host';
import { SimBoard, createSimBoard } from '../sim/board-sim';

describe('diagnostics: the CA public keys and AIDs (issue 11)', function () {
  this.timeout(20_000);

  it('each CA key with its RID, index, expiry and check status, in both languages', () => {
    const [k80, k81] = testCaPublicKeys().filter((k) => k.index === 0x80 || k.index === 0x81);
    const wrong = { ...k81, checksum: Buffer.alloc(20, 0x11) };
    const old = { ...k80, index: 0x82, expiryYyyymmdd: '20200101' };
    const expired = { ...old, checksum: caKeyChecksum(old) };
    const lines = emvParamLines({ caKeys: [k80, wrong, expired], aids: [], todayYyyymmdd: '20261204' });
    const en = lines.map((l) => l.en), zh = lines.map((l) => l.zh);
    assert.equal(en[0], 'CA public keys: 3');
    assert.match(en[1], /^A000000333\/80 to \d{4}-\d{2}-\d{2} SHA-1 ok$/);
    assert.equal(en[2].endsWith('BAD (checksum-mismatch)'), true, en[2]);
    assert.equal(en[3], 'A000000333/82 to 2020-01-01 expired');
    assert.equal(zh[3], 'A000000333/82 至2020-01-01 已过期');
    assert.equal(zh[0], 'CA公钥：3个');
  });

  it('the AIDs by name with the floor, contactless and CVM limits; random selection when the host sent it; none downloaded says so', () => {
    const limits = { clFloorLimitFen: 20_000, clTxnLimitFen: 100_000, cvmRequiredLimitFen: 30_000 };
    const aids = testAids().map((a) => ({ ...a, ...limits, floorLimitFen: 0 }));
    const withRandom = [{ ...aids[1], floorLimitFen: 50_000, random: { thresholdFen: 10_000, targetPercent: 10, maxTargetPercent: 50 } }];
    const en = emvParamLines({ caKeys: [], aids: [aids[0], ...withRandom], todayYyyymmdd: '20261204' }).map((l) => l.en);
    assert.deepEqual(en, [
      'CA public keys: none', 'AIDs: 2',
      'A000000333010101 UnionPay debit', 'floor 0.00 tap 200.00/1000.00 CVM 300.00',
      'A000000333010102 UnionPay credit', 'floor 500.00 tap 200.00/1000.00 CVM 300.00', 'random 10-50% from 100.00',
    ]);
    const zh = emvParamLines({ caKeys: [], todayYyyymmdd: '20261204' }).map((l) => l.zh);
    assert.deepEqual(zh, ['CA公钥：无', 'AID参数：内置，未下载']);
  });

  describe('in the host check', () => {
    let sim: SimBoard | undefined;
    beforeEach(async () => { sim = await createSimBoard(); });
    afterEach(async () => { await sim?.close(); sim = undefined; });

    async function hostCheck(signOn: () => Promise<never> | Promise<ReturnType<typeof same>>): Promise<{ state: string; lines: readonly string[] }> {
      const diag = new Diagnostics({
        board: sim!.board, journalDir: path.join(os.tmpdir(), 'pos-diag-emv-no-journal'), errors: new ErrorRing(),
        networkTest: async () => ({ action: 'network-test', ok: true, journaled: false, lines: [] }),
        signOnTest: signOn, emvParams: () => ({ caKeys: testCaPublicKeys(), aids: testAids(), todayYyyymmdd: '20261204' }),
        pages: () => 1, changed: () => undefined, close: () => undefined, logger: silentLogger, clock: () => 0,
      });
      await diag.done;
      diag.close();
      const r = diag.snapshot().find((x) => x.check === 'host');
      assert.ok(r);
      return r;
    }

    it('after a sign-on that worked', async () => {
      const r = await hostCheck(async () => same('signed on'));
      assert.equal(r.state, 'ok');
      assert.ok(r.lines.includes(`CA public keys: ${testCaPublicKeys().length}`) && r.lines.includes(`AIDs: ${testAids().length}`), r.lines.join(' / '));
      assert.ok(r.lines.some((l) => /^A000000333\/80 to .* SHA-1 ok$/.test(l)), 'a key with its status');
    });

    it('after a sign-on the host refused: the code, and the parameters still shown', async () => {
      const r = await hostCheck(async () => { throw new PosError('HOST_DECLINED', 'refused'); });
      assert.equal(r.state, 'fail');
      assert.ok(r.lines.some((l) => /^sign-on: E-/.test(l)) && r.lines.includes(`CA public keys: ${testCaPublicKeys().length}`), r.lines.join(' / '));
    });
  });
});

/**
 * The remote-management link under diagnostics' network check (boot/diagnostics.ts): a line of
 * where it stands (connected, or not with its code and why), never a failed check, since sales do
 * not need it; no line on a board that names no broker. explainBrokerError's words for a
 * technician (runtime/mgmt/client.ts).
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { Diagnostics, DiagResult, ErrorRing } from '../../boot/diagnostics';
import type { Report } from '../../boot/recovery';
import { silentLogger } from '../../common/log';
import { explainBrokerError, MgmtLinkState } from '../../runtime/mgmt/client';
import { SimBoard, createSimBoard } from '../../sim/board-sim';

const NETWORK_OK: Report = { action: 'network-test', ok: true, journaled: false, lines: ['OK lo up', 'OK connect 127.0.0.1:5000'] };
const NETWORK_DOWN: Report = { action: 'network-test', ok: false, journaled: false, code: 'E-NET-02', lines: ['OK lo up', 'FAIL no address'] };

async function networkCheck(sim: SimBoard, report: Report, management?: () => MgmtLinkState | undefined): Promise<DiagResult> {
  const diag = new Diagnostics({
    board: sim.board, journalDir: path.join(os.tmpdir(), 'pos-diag-mgmt-no-journal'), errors: new ErrorRing(),
    networkTest: async () => report, pages: () => 1, changed: () => undefined, close: () => undefined,
    logger: silentLogger, clock: () => 0, ...(management ? { management } : {}),
  });
  await diag.done;
  diag.close();
  const r = diag.snapshot().find((x) => x.check === 'network');
  assert.ok(r);
  return r;
}

describe('diagnostics: the management link in the network check', function () {
  this.timeout(20_000);
  let sim: SimBoard | undefined;
  beforeEach(async () => { sim = await createSimBoard(); });
  afterEach(async () => { await sim?.close(); sim = undefined; });

  it('aConnectedBrokerIsALineWithItsHostAndWhatWaits', async () => {
    const r = await networkCheck(sim!, NETWORK_OK, () => ({ url: 'mqtts://mgmt.acquirer.example:8883', connected: true, queued: 3, dropped: 0 }));
    assert.equal(r.state, 'ok');
    assert.deepEqual(r.lines.slice(-2), ['Management: connected mgmt.acquirer.example:8883', '3 messages waiting to be sent']);
    assert.ok(r.text?.some((l) => l.zh === '远程管理：已连接 mgmt.acquirer.example:8883'));
  });

  it('aBrokerNotReachedIsALineWithItsCodeAndCauseAndTheCheckStillPasses', async () => {
    const r = await networkCheck(sim!, NETWORK_OK, () => ({
      url: 'mqtts://mgmt.acquirer.example:8883', connected: false, queued: 0, dropped: 7,
      lastError: { code: 'E-MGT-07', message: 'self-signed certificate in certificate chain: the broker\'s certificate is not signed by the pinned CA (management.caFile /etc/pos/mgmt-ca.pem)', atMs: 0 },
    }));
    assert.equal(r.state, 'ok', 'sales do not need the management link');
    const all = r.lines.join(' / ');
    assert.match(all, /Management: not connected E-MGT-07 mgmt\.acquirer\.example:8883/);
    assert.match(all, /mgmt-ca\.pem/);
    assert.match(all, /7 messages dropped/);
  });

  it('whenTheNetworkFailsTheLinkIsStillShownUnderItsFailure', async () => {
    const r = await networkCheck(sim!, NETWORK_DOWN, () => ({ url: 'mqtts://10.0.0.9:8883', connected: false, queued: 0, dropped: 0 }));
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-NET-02');
    assert.ok(r.lines.includes('FAIL no address'));
    assert.match(r.lines.join(' / '), /Management: not connected +10\.0\.0\.9:8883/);
  });

  it('aBoardWithNoBrokerHasNoManagementLine', async () => {
    const r = await networkCheck(sim!, NETWORK_OK, () => undefined);
    assert.ok(!r.lines.some((l) => /Management/.test(l)), r.lines.join(' / '));
  });

  it('brokerErrorsSayWhatToCheck', () => {
    const tls = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    assert.match(explainBrokerError(tls, '/etc/pos/mgmt-ca.pem'), /not signed by the pinned CA \(management\.caFile \/etc\/pos\/mgmt-ca\.pem\)/);
    assert.match(explainBrokerError(tls), /names no management\.caFile/);
    const expired = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
    assert.match(explainBrokerError(expired), /terminal's clock; check its date and time/);
    const creds = Object.assign(new Error('Connection refused: Bad User Name or Password'), { code: 134 });
    assert.match(explainBrokerError(creds), /refused this terminal's user name or password/);
    const other = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8883'), { code: 'ECONNREFUSED' });
    assert.equal(explainBrokerError(other), 'connect ECONNREFUSED 127.0.0.1:8883');
  });
});

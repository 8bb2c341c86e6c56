/**
 * The terminal process on a copy of the simulator board whose board file names a management broker
 * (a real mosquitto with TLS): it publishes its retained status under its serial once the journal
 * is open, answers diagnostics with the diagnostics menu's automatic checks and the card reader's
 * state (no test card: nobody is at the terminal), journals set-params, uploads its logs, locks
 * selling (journaled: it holds over the reboot) and unlocks it, reboots from the login screen, and
 * publishes a sale's slip for the e-receipt service.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, MqttClient } from 'mqtt';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { asset } from '../../common/assets';
import { tempDir, removeDir } from '../../storage/testing';
import { SIM_IDENTITY } from '../../boot/sim-provision';
import { Driver } from '../e2e/driver';
import { CONSOLE_PASSWORD, CONSOLE_USER, TestBroker, needMosquitto } from '../support/mosquitto';

const WAIT_MS_MAX = 30_000;

describe('e2e: the terminal on a board file with a management section, against mosquitto', function () {
  this.timeout(120_000);
  let broker: TestBroker;
  let host: AcquirerSimulator;
  let dir: string;
  let d: Driver;
  let console: MqttClient;
  const seen: { topic: string; json: Record<string, unknown> }[] = [];

  const waitFor = async (what: string, pred: (s: { topic: string; json: Record<string, unknown> }) => boolean): Promise<Record<string, unknown>> => {
    const started = Date.now();
    for (;;) {
      const hit = seen.find(pred);
      if (hit) return hit.json;
      if (Date.now() - started > WAIT_MS_MAX) throw new Error(`never saw ${what}; saw ${seen.map((s) => s.topic).join(' ')}\nterminal log:\n${d.run?.log.slice(-30).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const ack = (id: string, result: string) => waitFor(`ack ${id} ${result}`, (s) => s.topic.endsWith('/ack') && s.json.id === id && s.json.result === result);
  const command = (doc: unknown) => console.publish(`pos/${SIM_IDENTITY}/cmd`, JSON.stringify(doc), { qos: 1 });

  before(async function () {
    needMosquitto(this);
    broker = await TestBroker.create({ [SIM_IDENTITY]: 'sim-terminal-secret' });
    host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
    dir = tempDir('pos-e2e-mgmt-');
    writeFileSync(join(dir, 'mgmt-ca.pem'), broker.pki.caPem);
    writeFileSync(join(dir, 'mgmt.pass'), 'sim-terminal-secret\n');
    const board = JSON.parse(readFileSync(asset('board-configs', 'sim.json'), 'utf8')) as Record<string, unknown>;
    board.management = { url: broker.url, caFile: join(dir, 'mgmt-ca.pem'), passwordFile: join(dir, 'mgmt.pass'), heartbeatS: 10 };
    const file = join(dir, 'sim-managed.json');
    writeFileSync(file, JSON.stringify(board, null, 2));
    console = connect(broker.url, { protocolVersion: 5, username: CONSOLE_USER, password: CONSOLE_PASSWORD, ca: broker.pki.caPem, reconnectPeriod: 200 });
    console.on('message', (topic, payload) => { try { seen.push({ topic, json: JSON.parse(payload.toString()) as Record<string, unknown> }); } catch { /* an emptied retained message */ } });
    await new Promise<void>((resolve, reject) => { console.once('connect', () => resolve()); console.once('error', reject); });
    await console.subscribeAsync(`pos/${SIM_IDENTITY}/#`, { qos: 1 });
    d = new Driver(host, dir, 'en');
    d.board = file;
  });
  after(async () => {
    await d?.powerOff().catch(() => undefined);
    await console?.endAsync(true);
    await host?.close();
    await broker?.destroy();
    if (dir) removeDir(dir);
  });

  it('statusDiagnosticsParamsLogsLockAndRebootThroughTheRealTerminal_theLockHoldsOverTheReboot_thenASalesSlipGoesToTheEReceiptTopic', async () => {
    await d.powerOn();
    await d.until('login');
    const status = await waitFor('status', (s) => s.topic.endsWith('/status'));
    assert.equal(status.serial, SIM_IDENTITY);
    assert.equal(typeof status.batteryPercent, 'number');
    assert.ok((status.storageFreeKiB as number) > 0);
    assert.match(String(status.state), /^login/);
    command({ id: 'd1', cmd: 'diagnostics' });
    const diag = await ack('d1', 'done');
    const report = (diag.data as { report: { check: string; state: string; code?: string; lines: string[] }[] }).report;
    const checks = report.map((r) => r.check);
    assert.ok(checks.includes('battery') && checks.includes('storage'), checks.join(','));
    // The reader without a test card (nobody at the terminal): whether it answers, its swipes.
    const reader = report.find((r) => r.check === 'reader');
    assert.equal(reader?.state, 'ok', JSON.stringify(reader));
    assert.match(reader?.lines.join(' / ') ?? '', /^self-test ok .* \/ bad swipes in a row: 0 \(fault over 10\) \/ last swipe: none since start \/ no test card: nobody at the terminal$/);
    command({ id: 'p1', cmd: 'set-params', args: { amountFenMax: 500_000 } });
    assert.equal(((await ack('p1', 'done')).data as { params: { amountFenMax: number } }).params.amountFenMax, 500_000);
    command({ id: 'l1', cmd: 'upload-logs', args: { maxBytes: 4096 } });
    const logs = (await ack('l1', 'done')).data as { bytes: number; source: string; text: string };
    assert.ok(logs.bytes <= 4096);
    // The process's own structured lines (not only the error ring): the simulator board's ring.
    assert.equal(logs.source, 'memory');
    const lines = logs.text.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(lines.some((l) => l.level === 30), `info lines too: ${logs.text.slice(0, 300)}`);
    command({ id: 'l0', cmd: 'upload-logs', args: { maxBytes: 65_536 } });
    assert.ok(((await ack('l0', 'done')).data as { text: string }).text.includes('management broker connected'));
    command({ id: 'k1', cmd: 'lock', args: { reason: 'chargeback review' } });
    assert.deepEqual((await ack('k1', 'done')).data, { sellingLocked: true });
    await waitFor('status locked', (s) => s.topic.endsWith('/status') && s.json.sellingLocked === true);
    command({ id: 'r1', cmd: 'reboot' });
    await ack('r1', 'done');
    await waitFor('presence reboot', (s) => s.topic.endsWith('/presence') && s.json.reason === 'reboot');
    // Back after the restart: online again, the parameter kept (journaled).
    await waitFor('online after the reboot', (s) => s.topic.endsWith('/presence') && s.json.online === true && seen.indexOf(s) > seen.findIndex((x) => x.json.reason === 'reboot'));
    // The lock was journaled: after the reboot a sale is still refused (E-MGT-10) until unlocked.
    const idle = await d.signIn();
    assert.equal(idle.data.sellingLocked, true);
    await d.keys('1');
    await d.until('idle', (s) => s.data.error?.code === 'E-MGT-10');
    command({ id: 'u1', cmd: 'unlock' });
    assert.deepEqual((await ack('u1', 'done')).data, { sellingLocked: false });
    await d.keys('CANCEL');
    // A sale: its slip goes to the e-receipt service with the host's address (DF1A), masked card only.
    await d.sale('1234');
    const slip = await waitFor('the sale\'s e-receipt', (s) => s.topic === `pos/${SIM_IDENTITY}/receipt`);
    const sale = host.ledger.entries({}).find((e) => e.type === 'sale' && e.status === 'approved');
    assert.ok(sale, 'the host approved the sale');
    assert.equal(slip.kind, 'sale');
    assert.equal(slip.amountFen, 1234);
    assert.equal(slip.currency, 'CNY');
    assert.equal(slip.rrn, sale.rrn);
    assert.equal(slip.panMasked, '622202*********0128');
    assert.equal(slip.url, `https://receipts.example.com/r?tid=${slip.tid}&b=${String(slip.batch).padStart(6, '0')}&s=${String(slip.stan).padStart(6, '0')}&rrn=${sale.rrn}&amt=1234`);
    assert.ok(!JSON.stringify(slip).includes('6222021234567890128'), 'no full card number');
  });
});

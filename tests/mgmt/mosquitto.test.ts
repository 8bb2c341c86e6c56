/**
 * The management client (runtime/mgmt/) against a real mosquitto on loopback (TLS with a test CA,
 * a password file, an ACL per terminal, persistence): the retained status seen by a second client,
 * the heartbeat, each command's acknowledgements, refusals of bad input, the offline queue's bound
 * and drop count, reconnection after the broker restarts, the last-will, CA pinning and a wrong
 * password. A "console" client plays the acquirer's management service.
 */
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { connect, MqttClient } from 'mqtt';
import pino from 'pino';
import { Journal } from '../../storage/journal';
import { tempDir, removeDir } from '../../storage/testing';
import { Store } from '../../runtime/store';
import { ManagementClient, MgmtConfig, MgmtTerminal } from '../../runtime/mgmt/client';
import { applyParamsPatch } from '../../runtime/mgmt/params';
import type { Ack, StatusDocument, StatusInput } from '../../runtime/mgmt/protocol';
import { CONSOLE_PASSWORD, CONSOLE_USER, TestBroker, needMosquitto } from '../support/mosquitto';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildPackage, generateUpdateKeys } from '../../boot/update';
import { initSlots, readState } from '../../boot/update-slots';
import { mgmtUpdater } from '../../boot/mgmt-update';

const SERIAL = 'SN-TEST-0001';
const PASSWORD = 'terminal-secret';
/** Every wait in these tests gives up after this (a failure, never a time assertion). */
const WAIT_MS_MAX = 10_000;

interface Seen { readonly topic: string; readonly json: Record<string, unknown>; readonly retain: boolean }

class Console {
  readonly seen: Seen[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      let json: Record<string, unknown>;
      try { json = JSON.parse(payload.toString()) as Record<string, unknown>; } catch { json = { raw: payload.toString() }; }
      this.seen.push({ topic, json, retain: packet.retain });
    });
  }

  /** `persistent`: a session the broker keeps (and fills) across the console's and its own restarts. */
  static async open(broker: TestBroker, opts: { persistent?: string } = {}): Promise<Console> {
    const client = connect(broker.url, {
      protocolVersion: 5, username: CONSOLE_USER, password: CONSOLE_PASSWORD, ca: broker.pki.caPem, rejectUnauthorized: true, reconnectPeriod: 100,
      ...(opts.persistent ? { clientId: opts.persistent, clean: false, properties: { sessionExpiryInterval: 600 } } : {}),
    });
    await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
    await client.subscribeAsync(`pos/${SERIAL}/#`, { qos: 1 });
    return new Console(client);
  }

  async waitFor<T = Record<string, unknown>>(what: string, pred: (s: Seen) => boolean): Promise<T> {
    const started = Date.now();
    for (;;) {
      const hit = this.seen.find(pred);
      if (hit) return hit.json as T;
      if (Date.now() - started > WAIT_MS_MAX) throw new Error(`console never saw ${what}; saw:\n${this.seen.map((s) => `${s.topic} ${JSON.stringify(s.json).slice(0, 200)}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  ack(id: string, result: Ack['result']): Promise<Ack> {
    return this.waitFor<Ack>(`ack ${id} ${result}`, (s) => s.topic.endsWith('/ack') && s.json.id === id && s.json.result === result);
  }

  command(doc: unknown): void {
    this.client.publish(`pos/${SERIAL}/cmd`, typeof doc === 'string' ? doc : JSON.stringify(doc), { qos: 1 });
  }

  async close(): Promise<void> { await this.client.endAsync(true); }
}

/** A terminal with settable figures; what the commands did is recorded. */
class FakeTerminal implements MgmtTerminal {
  battery = 80;
  locked = false;
  flagged: string[] = [];
  idle = true;
  reboots = 0;
  logText = 'line\n';
  diagnosticsRuns = 0;
  store: Store | undefined;
  status(): StatusInput {
    return {
      version: '9.9.9-test', batteryPercent: this.battery, storageFreeKiB: 51_200, network: { link: 'eth0', up: true },
      lastErrors: ['E-PRN-01'], anomalies: [], sellingLocked: this.locked, versionFlagged: this.flagged.includes('9.9.9'), flaggedVersions: [...this.flagged], state: this.idle ? 'idle' : 'sale.card', uptimeS: Math.floor(process.uptime()),
    };
  }
  async setParams(patch: Parameters<MgmtTerminal['setParams']>[0]): ReturnType<MgmtTerminal['setParams']> {
    if (!this.store) throw new Error('no store');
    return applyParamsPatch(this.store, patch);
  }
  async diagnostics(): Promise<unknown> {
    this.diagnosticsRuns++;
    return [{ check: 'battery', state: 'ok', lines: ['80%'] }, { check: 'printer', state: 'fail', code: 'E-PRN-01', lines: ['paper out'] }];
  }
  async logs(): Promise<{ text: string; source: string }> { return { text: this.logText, source: 'memory' }; }
  isIdle(): boolean { return this.idle; }
  reboot(): void { this.reboots++; }
  async setSellingLocked(locked: boolean): Promise<void> { this.locked = locked; }
  async setVersionFlag(version: string, bad: boolean): Promise<void> { this.flagged = [...this.flagged.filter((v) => v !== version), ...(bad ? [version] : [])]; }
  flaggedVersions(): string[] { return [...this.flagged]; }
}

/**
 * Waits until the fake terminal has rebooted `count` times (at most WAIT_MS_MAX). The reboot follows
 * the done ack and the offline presence once the broker has acknowledged both to the terminal
 * (runtime/mgmt/client.ts rebootAfter), which may come after the console has already seen them.
 */
async function rebootsReach(t: { reboots: number }, count: number): Promise<void> {
  const started = Date.now();
  while (t.reboots < count && Date.now() - started < WAIT_MS_MAX) await new Promise((r) => setTimeout(r, 10));
  assert.equal(t.reboots, count);
}

function captureLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('management over MQTT against a real mosquitto (TLS, passwords, ACL)', function () {
  this.timeout(60_000);
  let broker: TestBroker;
  let journalDir: string;
  let journal: Journal;
  const clients: ManagementClient[] = [];
  const consoles: Console[] = [];

  before(async function () {
    needMosquitto(this);
    broker = await TestBroker.create({ [SERIAL]: PASSWORD, 'SN-OTHER-0002': 'other' });
  });
  after(async () => { await broker?.destroy(); });
  beforeEach(async () => {
    journalDir = tempDir('pos-mgmt-');
    journal = await Journal.open({ dir: journalDir, identity: SERIAL, clock: () => 1_700_000_000_000 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.kill();
    for (const c of consoles.splice(0)) await c.close();
    await journal.close();
    removeDir(journalDir);
    // Retained presence and status of one test must not answer the next one's questions.
    const wipe = await Console.open(broker);
    for (const t of ['status', 'presence']) await wipe.client.publishAsync(`pos/${SERIAL}/${t}`, '', { qos: 1, retain: true });
    await wipe.close();
  });

  function config(over: Partial<MgmtConfig> = {}): MgmtConfig {
    return { url: broker.url, serial: SERIAL, username: SERIAL, password: PASSWORD, caPem: broker.pki.caPem, reconnectMs: 100, heartbeatMs: 60_000, statusCheckMs: 50, idlePollMs: 20, ...over };
  }

  function start(terminal: FakeTerminal, over: Partial<MgmtConfig> = {}, logger: pino.Logger = pino({ level: 'silent' })): ManagementClient {
    terminal.store ??= Store.load(journal);
    const m = ManagementClient.start({ config: config(over), terminal, logger, clock: Date.now });
    clients.push(m);
    return m;
  }

  async function consoleFor(opts: { persistent?: string } = {}): Promise<Console> {
    const c = await Console.open(broker, opts);
    consoles.push(c);
    return c;
  }

  async function connected(m: ManagementClient): Promise<void> {
    const started = Date.now();
    while (!m.connected) {
      if (Date.now() - started > WAIT_MS_MAX) throw new Error(`management client never connected; broker log:\n${broker.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('publishesARetainedStatusThatAClientSubscribingLaterReceives', async () => {
    const m = start(new FakeTerminal());
    await connected(m);
    const early = await consoleFor();
    await early.waitFor('status', (s) => s.topic.endsWith('/status'));
    // A console that comes afterwards gets the retained copy at once.
    const late = await consoleFor();
    const st = await late.waitFor<StatusDocument>('retained status', (s) => s.topic === `pos/${SERIAL}/status` && s.retain);
    assert.equal(st.serial, SERIAL);
    assert.equal(st.version, '9.9.9-test');
    assert.equal(st.batteryPercent, 80);
    assert.deepEqual(st.lastErrors, ['E-PRN-01']);
    assert.equal(st.droppedMessages, 0);
    const presence = await late.waitFor('retained presence', (s) => s.topic.endsWith('/presence') && s.retain);
    assert.equal(presence.online, true);
  });

  it('republishesTheStatusOnChangeAndOnEveryHeartbeat', async () => {
    const t = new FakeTerminal();
    const m = start(t, { heartbeatMs: 150 });
    await connected(m);
    const c = await consoleFor();
    // Heartbeats: the same figures again, with a growing seq.
    await c.waitFor('three heartbeats', () => c.seen.filter((s) => s.topic.endsWith('/status')).length >= 3);
    const seqs = c.seen.filter((s) => s.topic.endsWith('/status')).map((s) => s.json.seq as number);
    assert.ok(seqs.every((v, i) => i === 0 || v > seqs[i - 1]), `seq not growing: ${seqs.join(',')}`);
    t.battery = 13;
    m.notifyStatusChanged();
    const changed = await c.waitFor<StatusDocument>('status with the new battery', (s) => s.topic.endsWith('/status') && s.json.batteryPercent === 13);
    assert.equal(changed.batteryPercent, 13);
  });

  it('setParamsIsJournaledAsAHostParamsSettingsRecordAndAnOutOfRangeValueChangesNothing', async () => {
    const t = new FakeTerminal();
    const m = start(t);
    await connected(m);
    const c = await consoleFor();
    c.command({ id: 'p1', cmd: 'set-params', args: { responseTimeoutS: 45, merchantName: '测试商户' } });
    await c.ack('p1', 'accepted');
    const done = await c.ack('p1', 'done');
    assert.deepEqual(done.data, { params: { responseTimeoutS: 45, merchantName: '测试商户' } });
    assert.equal(t.store?.state.hostParams?.responseTimeoutS, 45);
    const seqAfter = journal.lastSeq;
    c.command({ id: 'p2', cmd: 'set-params', args: { responseTimeoutS: 500 } });
    const refused = await c.ack('p2', 'refused');
    assert.equal(refused.code, 'E-MGT-03');
    assert.match(refused.message, /responseTimeoutS/);
    c.command({ id: 'p3', cmd: 'set-params', args: { noSuchParam: 1 } });
    assert.equal((await c.ack('p3', 'refused')).code, 'E-MGT-03');
    assert.equal(journal.lastSeq, seqAfter, 'a refused change wrote nothing');
    // Read back from the journal as a boot does.
    assert.equal(Store.load(journal).state.hostParams?.merchantName, '测试商户');
  });

  it('diagnosticsReturnsTheReportAndUploadLogsIsBounded', async () => {
    const t = new FakeTerminal();
    t.logText = Array.from({ length: 5000 }, (_, i) => `{"msg":"line ${i}"}\n`).join('');
    const m = start(t);
    await connected(m);
    const c = await consoleFor();
    c.command({ id: 'd1', cmd: 'diagnostics' });
    const d = await c.ack('d1', 'done');
    assert.equal(t.diagnosticsRuns, 1);
    assert.equal((d.data as { report: { code?: string }[] }).report[1].code, 'E-PRN-01');
    c.command({ id: 'l1', cmd: 'upload-logs', args: { maxBytes: 1000 } });
    const logs = (await c.ack('l1', 'done')).data as { bytes: number; truncated: boolean; text: string };
    assert.ok(logs.bytes <= 1000 && logs.truncated);
    assert.ok(logs.text.endsWith('line 4999"}\n'), 'the newest lines are kept');
    assert.equal((logs as { source?: string }).source, 'memory');
    c.command({ id: 'l2', cmd: 'upload-logs', args: { maxBytes: 10_000_000 } });
    assert.equal((await c.ack('l2', 'refused')).code, 'E-MGT-01');
    c.command({ id: 'l3', cmd: 'upload-logs', args: { url: 'http://plain.example/logs' } });
    assert.equal((await c.ack('l3', 'refused')).code, 'E-MGT-01', 'an upload address is https only');
  });

  it('uploadLogsToAnHttpsAddress_gzippedPutWithTheCaPinned_aRefusalIsE_MGT_09', async () => {
    const t = new FakeTerminal();
    // Over the 64 KiB an ack may carry: what goes to the console's upload address instead.
    t.logText = Array.from({ length: 5000 }, (_, i) => `{"msg":"line ${i} ${'x'.repeat(40)}"}\n`).join('');
    const got: Array<{ method?: string; url?: string; encoding?: string; serial?: string; body: Buffer }> = [];
    const answer = { status: 201 };
    const server = createServer({ key: readFileSync(join(broker.dir, 'server.key')), cert: readFileSync(join(broker.dir, 'server.crt')) }, (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        got.push({ method: req.method, url: req.url, encoding: req.headers['content-encoding'] as string, serial: req.headers['x-pos-serial'] as string, body: Buffer.concat(parts) });
        res.writeHead(answer.status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/upload/abc?sig=1`;
      const m = start(t);
      await connected(m);
      const c = await consoleFor();
      c.command({ id: 'h1', cmd: 'upload-logs', args: { url } });
      const done = (await c.ack('h1', 'done')).data as { bytes: number; truncated: boolean; source: string; uploaded: { gzipBytes: number; sha256: string }; text?: string };
      assert.equal(got.length, 1);
      assert.equal(got[0].method, 'PUT');
      assert.equal(got[0].url, '/upload/abc?sig=1');
      assert.equal(got[0].encoding, 'gzip');
      assert.equal(got[0].serial, SERIAL);
      const text = gunzipSync(got[0].body).toString('utf8');
      assert.equal(text, t.logText, 'the whole log went, in order');
      assert.ok(text.length > 64 * 1024);
      assert.equal(done.bytes, Buffer.byteLength(t.logText));
      assert.equal(done.uploaded.gzipBytes, got[0].body.length);
      assert.equal(done.uploaded.sha256, createHash('sha256').update(got[0].body).digest('hex'));
      assert.equal(done.text, undefined, 'the ack does not carry the log when it was uploaded');
      answer.status = 500;
      c.command({ id: 'h2', cmd: 'upload-logs', args: { url } });
      const refused = await c.ack('h2', 'refused');
      assert.equal(refused.code, 'E-MGT-09');
      assert.match(refused.message, /answered 500/);
      assert.doesNotMatch(refused.message, /sig=1/, 'the address\'s query (a signature) is not repeated in the ack');
    } finally {
      server.close();
    }
  });

  it('rebootWaitsForIdleThenAcksDoneAndGoesOffline_andIsRefusedWhenNeverIdle', async () => {
    const t = new FakeTerminal();
    t.idle = false;
    const m = start(t);
    await connected(m);
    const c = await consoleFor();
    c.command({ id: 'r0', cmd: 'reboot', args: { waitIdleMs: 100 } });
    const refused = await c.ack('r0', 'refused');
    assert.equal(refused.code, 'E-MGT-04');
    assert.equal(t.reboots, 0);
    c.command({ id: 'r1', cmd: 'reboot', args: { waitIdleMs: 60_000 } });
    await c.ack('r1', 'accepted');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(t.reboots, 0, 'no reboot while busy');
    t.idle = true;
    await c.ack('r1', 'done');
    const off = await c.waitFor('presence offline (reboot)', (s) => s.topic.endsWith('/presence') && s.json.online === false);
    assert.equal(off.reason, 'reboot');
    await rebootsReach(t, 1);
  });

  it('lockAndUnlockSellingShowInTheStatus', async () => {
    const t = new FakeTerminal();
    const m = start(t);
    await connected(m);
    const c = await consoleFor();
    c.command({ id: 'k1', cmd: 'lock', args: { reason: 'contract ended' } });
    await c.ack('k1', 'done');
    assert.equal(t.locked, true);
    await c.waitFor('status locked', (s) => s.topic.endsWith('/status') && s.json.sellingLocked === true);
    c.command({ id: 'k2', cmd: 'unlock' });
    await c.ack('k2', 'done');
    await c.waitFor('status unlocked', (s) => s.topic.endsWith('/status') && s.json.sellingLocked === false && (s.json.seq as number) > 1);
    assert.equal(t.locked, false);
  });

  it('refusesUnknownMalformedExpiredAndRepeatedCommandsWithAClearAckAndKeepsWorking', async () => {
    const t = new FakeTerminal();
    const m = start(t);
    await connected(m);
    const c = await consoleFor();
    c.command({ id: 'u1', cmd: 'format-disk' });
    const unknown = await c.ack('u1', 'refused');
    assert.equal(unknown.code, 'E-MGT-02');
    assert.match(unknown.message, /format-disk/);
    for (const bad of ['{not json', '[1,2]', 'null', '{"cmd":"status"}', '{"id":"has space","cmd":"status"}', '{"id":"a1","cmd":"status","args":[1]}', 'x'.repeat(20_000)]) c.command(bad);
    await c.waitFor('six refusals without an id', () => c.seen.filter((s) => s.topic.endsWith('/ack') && s.json.result === 'refused' && s.json.id === null).length >= 6);
    const withId = await c.ack('a1', 'refused');
    assert.equal(withId.code, 'E-MGT-01');
    assert.ok(c.seen.filter((s) => s.topic.endsWith('/ack') && s.json.id === null).every((s) => s.json.code === 'E-MGT-01'));
    c.command({ id: 'e1', cmd: 'status', expiresAtMs: Date.now() - 1000 });
    assert.equal((await c.ack('e1', 'refused')).code, 'E-MGT-06');
    // The same id again (a redelivery): answered again, not run again.
    c.command({ id: 'd1', cmd: 'diagnostics' });
    await c.ack('d1', 'done');
    c.command({ id: 'd1', cmd: 'diagnostics' });
    await c.waitFor('second done for d1', () => c.seen.filter((s) => s.topic.endsWith('/ack') && s.json.id === 'd1' && s.json.result === 'done').length === 2);
    assert.equal(t.diagnosticsRuns, 1);
    // Still alive and answering.
    c.command({ id: 's1', cmd: 'status' });
    assert.equal(((await c.ack('s1', 'done')).data as StatusInput).version, '9.9.9-test');
  });

  it('offlineQueueKeepsTheNewestUpToItsMaxCountsAndLogsTheDropsAndReconnectsAfterTheBrokerRestarts', async () => {
    const t = new FakeTerminal();
    const { logger, lines } = captureLogger();
    const c = await consoleFor({ persistent: 'console-offline-test' });
    const m = start(t, { outboxMessagesMax: 10 }, logger);
    await connected(m);
    await c.waitFor('first status', (s) => s.topic.endsWith('/status'));
    await broker.stop();
    const started = Date.now();
    while (m.connected) { assert.ok(Date.now() - started < WAIT_MS_MAX, 'client did not notice the broker going'); await new Promise((r) => setTimeout(r, 20)); }
    for (let i = 1; i <= 15; i++) m.publishEvent('test', { i });
    assert.equal(m.queued, 10);
    assert.equal(m.dropped, 5);
    assert.equal(lines.filter((l) => l.includes('offline queue full')).length, 5, 'one log line per dropped message');
    assert.ok(lines.some((l) => l.includes('"dropped":"event test"')));
    await broker.start();
    await connected(m);
    const st = await c.waitFor<StatusDocument>('status with the drop count', (s) => s.topic.endsWith('/status') && s.json.droppedMessages === 5);
    assert.equal(st.droppedMessages, 5);
    await c.waitFor('ten events', () => c.seen.filter((s) => s.topic.endsWith('/event')).length >= 10);
    const got = c.seen.filter((s) => s.topic.endsWith('/event')).map((s) => (s.json.data as { i: number }).i);
    assert.deepEqual(got, [6, 7, 8, 9, 10, 11, 12, 13, 14, 15], 'the oldest five were dropped, the rest kept in order');
    // Commands work over the new connection.
    c.command({ id: 'after-restart', cmd: 'status' });
    await c.ack('after-restart', 'done');
  });

  it('anAbruptLossMakesTheBrokerPublishTheLastWillOffline_aCleanStopSaysStopped', async () => {
    const m = start(new FakeTerminal());
    await connected(m);
    const c = await consoleFor();
    await c.waitFor('online', (s) => s.topic.endsWith('/presence') && s.json.online === true);
    m.kill();
    const will = await c.waitFor('will', (s) => s.topic.endsWith('/presence') && s.json.online === false);
    assert.equal(will.reason, 'lost');
    const log = captureLogger();
    const m2 = start(new FakeTerminal(), {}, log.logger);
    await connected(m2);
    await c.waitFor('online again', () => c.seen.filter((s) => s.topic.endsWith('/presence') && s.json.online === true).length >= 2);
    await m2.stop();
    const bye = await c.waitFor('stopped', (s) => s.topic.endsWith('/presence') && s.json.reason === 'stopped');
    assert.equal(bye.online, false);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(log.lines.filter((l) => l.includes('E-MGT-07')).length, 0, 'a stop it asked for (a restart, an update) is no lost broker');
  });

  it('refusesABrokerWhoseCertificateIsNotFromThePinnedCaAndAWrongPasswordAndLogsE_MGT_07', async () => {
    const pinned = captureLogger();
    const other = start(new FakeTerminal(), { caPem: broker.pki.otherCaPem, caFile: '/etc/pos/mgmt-ca.pem' }, pinned.logger);
    const wrong = captureLogger();
    const refused = start(new FakeTerminal(), { password: 'wrong' }, wrong.logger);
    const started = Date.now();
    while (!(pinned.lines.some((l) => l.includes('E-MGT-07')) && wrong.lines.some((l) => l.includes('E-MGT-07')))) {
      assert.ok(Date.now() - started < WAIT_MS_MAX, `no E-MGT-07 logged:\n${pinned.lines.join('')}\n${wrong.lines.join('')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(clients.every((m) => !m.connected));
    assert.match(pinned.lines.join(''), /certificate/i);
    // What diagnostics shows: the file the certificate was checked against, the credentials' origin.
    assert.match(pinned.lines.join(''), /not signed by the pinned CA \(management\.caFile \/etc\/pos\/mgmt-ca\.pem\)/);
    const link = other.link();
    assert.equal(link.connected, false);
    assert.equal(link.lastError?.code, 'E-MGT-07');
    assert.match(link.lastError?.message ?? '', /mgmt-ca\.pem/);
    assert.doesNotMatch(link.lastError?.message ?? '', /E-MGT-07|mqtts?:\/\//, 'the cause alone: diagnostics names the code and the broker on the line above');
    assert.match(refused.link().lastError?.message ?? '', /refused this terminal's user name or password/);
    // Retries are not logged again and again.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(pinned.lines.filter((l) => l.includes('E-MGT-07')).length, 1);
  });

  describe('the software-update offer (boot/mgmt-update.ts, the A/B updater)', () => {
    const BOARD = 'sim';
    const keys = generateUpdateKeys();
    let work: string;
    let server: Server;
    const served = new Map<string, Buffer>();
    let port = 0;

    before(async () => {
      server = createServer({ key: readFileSync(join(broker.dir, 'server.key')), cert: readFileSync(join(broker.dir, 'server.crt')) }, (req, res) => {
        const body = served.get(req.url ?? '');
        if (!body) { res.writeHead(404).end(); return; }
        res.writeHead(200, { 'content-length': body.length }).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      port = (server.address() as AddressInfo).port;
    });
    after(() => { server?.close(); });
    beforeEach(() => {
      work = tempDir('pos-mgmt-upd-');
      mkdirSync(join(work, 'slots'));
      initSlots(join(work, 'slots'), '1.0.0');
    });
    afterEach(() => removeDir(work));

    function offer(version: string, over: Record<string, unknown> = {}): Record<string, unknown> {
      const src = join(work, `src-${version}`);
      mkdirSync(join(src, 'dist', 'boot'), { recursive: true });
      writeFileSync(join(src, 'dist', 'boot', 'terminal-main.js'), `console.log('${version}');\n`);
      const bytes = buildPackage(src, keys.privateKeyPem, { version, board: BOARD });
      served.set(`/pos-${version}.posupd`, bytes);
      return { url: `https://127.0.0.1:${port}/pos-${version}.posupd`, sha256: createHash('sha256').update(bytes).digest('hex'), version, sizeBytes: bytes.length, ...over };
    }

    function withUpdater(t: FakeTerminal, power: { percent: number; charging: boolean }, caPem = broker.pki.caPem): FakeTerminal & { updater: ReturnType<typeof mgmtUpdater> } {
      return Object.assign(t, { updater: mgmtUpdater({ root: join(work, 'slots'), publicKeyHex: keys.publicKeyHex, board: BOARD, caPem, stagingDir: join(work, 'staging'), battery: () => power, batchCount: () => 0 }) });
    }

    it('fetchesChecksWaitsForASafeMomentThenInstallsIntoTheInactiveSlotAndReboots', async () => {
      const power = { percent: 20, charging: false };
      const t = withUpdater(new FakeTerminal(), power);
      const m = start(t);
      await connected(m);
      const c = await consoleFor();
      c.command({ id: 'u1', cmd: 'update', args: offer('1.1.0') });
      await c.ack('u1', 'accepted');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(readState(join(work, 'slots')).pending, undefined, 'nothing installed while the battery is low');
      assert.equal(t.reboots, 0);
      power.percent = 80;
      const done = await c.ack('u1', 'done');
      assert.equal((done.data as { version: string }).version, '1.1.0');
      const s = readState(join(work, 'slots'));
      assert.equal(s.pending, 'B');
      assert.equal(s.versions.B, '1.1.0');
      assert.equal(s.active, 'A', 'the running slot stays until the trial boot confirms');
      await rebootsReach(t, 1);
    });

    it('aVersionFlaggedBadIsNotInstalled_theFlagsGoThroughTheBrokerAndShowInTheStatus', async () => {
      const t = withUpdater(new FakeTerminal(), { percent: 90, charging: false });
      const m = start(t);
      await connected(m);
      const c = await consoleFor();
      c.command({ id: 'f0', cmd: 'flag-version', args: { version: '1.5' } });
      assert.equal((await c.ack('f0', 'refused')).code, 'E-MGT-01');
      c.command({ id: 'f1', cmd: 'flag-version', args: { version: '1.5.0', reason: 'blank slips' } });
      assert.deepEqual((await c.ack('f1', 'done')).data, { flaggedVersions: ['1.5.0'] });
      await c.waitFor('status with the flag', (s) => s.topic.endsWith('/status') && JSON.stringify(s.json.flaggedVersions) === '["1.5.0"]');
      c.command({ id: 'u5', cmd: 'update', args: offer('1.5.0') });
      const refused = await c.ack('u5', 'refused');
      assert.equal(refused.code, 'E-UPD-08');
      assert.match(refused.message, /1\.5\.0 is flagged bad/);
      assert.equal(readState(join(work, 'slots')).pending, undefined, 'nothing installed');
      c.command({ id: 'f2', cmd: 'unflag-version', args: { version: '1.5.0' } });
      assert.deepEqual((await c.ack('f2', 'done')).data, { flaggedVersions: [] });
      assert.equal(t.reboots, 0);
    });

    it('refusesABadHashAnOlderVersionADownloadFromAnUnpinnedCaAndABadOfferWithoutInstalling', async () => {
      const t = withUpdater(new FakeTerminal(), { percent: 90, charging: false });
      const m = start(t);
      await connected(m);
      const c = await consoleFor();
      c.command({ id: 'h1', cmd: 'update', args: offer('1.2.0', { sha256: '0'.repeat(64) }) });
      assert.equal((await c.ack('h1', 'refused')).code, 'E-UPD-03');
      c.command({ id: 'v1', cmd: 'update', args: offer('0.9.0') });
      assert.equal((await c.ack('v1', 'refused')).code, 'E-UPD-02');
      c.command({ id: 'x1', cmd: 'update', args: { ...offer('1.3.0'), url: 'http://127.0.0.1/x' } });
      assert.equal((await c.ack('x1', 'refused')).code, 'E-MGT-01');
      const other = withUpdater(new FakeTerminal(), { percent: 90, charging: false }, broker.pki.otherCaPem);
      m.kill();
      const m2 = start(other);
      await connected(m2);
      c.command({ id: 'p1', cmd: 'update', args: offer('1.4.0') });
      const pinned = await c.ack('p1', 'refused');
      assert.equal(pinned.code, 'E-MGT-07');
      assert.equal(readState(join(work, 'slots')).pending, undefined);
      assert.equal(t.reboots + other.reboots, 0);
    });
  });

  it('theAclKeepsATerminalOutOfAnotherTerminalsTopics', async () => {
    const c = await consoleFor();
    const other = connect(broker.url, { protocolVersion: 5, username: 'SN-OTHER-0002', password: 'other', ca: broker.pki.caPem, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => { other.once('connect', () => resolve()); other.once('error', reject); });
    // MQTT 5: a publish the ACL forbids is acknowledged with "not authorized" and not delivered.
    await other.publishAsync(`pos/${SERIAL}/cmd`, JSON.stringify({ id: 'evil', cmd: 'reboot' }), { qos: 1 }).catch(() => undefined);
    await other.endAsync();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.seen.filter((s) => s.topic.endsWith('/cmd')).length, 0);
  });
});

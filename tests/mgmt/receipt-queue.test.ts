/**
 * The durable e-receipt queue (runtime/mgmt/receipt-queue.ts): on its own (order, the bound and
 * its drop count across a reopen, leftovers of a cut, a document that must never leave), then
 * through a terminal process against a real mosquitto: receipts published while the broker is
 * down, the process SIGKILLed, a new one started on the same folder, the broker back: each
 * receipt reaches the e-receipt service exactly once per id and the folder empties.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, MqttClient } from 'mqtt';
import { ReceiptQueue } from '../../runtime/mgmt/receipt-queue';
import { ManagementClient } from '../../runtime/mgmt/client';
import pino from 'pino';
import { InvariantError } from '../../common/errors';
import type { StatusDocument } from '../../runtime/mgmt/protocol';
import { CONSOLE_PASSWORD, CONSOLE_USER, TestBroker, needMosquitto } from '../support/mosquitto';
import { slip } from './receipt-queue-child';
import { nodeArgsFor } from '../../common/spawn';

const SERIAL = 'SN-RCPT-0001';
const PASSWORD = 'terminal-secret';
/** Every wait here gives up after this (a failure, never a time assertion). */
const WAIT_MS_MAX = 30_000;
/** After the last expected receipt, a duplicate would have come within this (mqtt.js resends at connect). */
const DUPLICATE_GRACE_MS = 1_500;
const CHILD = join(__dirname, 'receipt-queue-child');

const queued = (dir: string): string[] => readdirSync(dir).filter((n) => /^\d{12}\.json$/.test(n)).sort();

describe('e-receipt queue on disk (runtime/mgmt/receipt-queue.ts)', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pos-rcpt-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('keeps receipts in order across a reopen, one file each, removed once sent', () => {
    const q = ReceiptQueue.open(dir);
    for (const stan of [1, 2, 3]) q.push(slip(stan));
    assert.equal(queued(dir).length, 3);
    const again = ReceiptQueue.open(dir);
    assert.deepEqual(again.pending().map((r) => r.id), ['12345678-000001-000001', '12345678-000001-000002', '12345678-000001-000003']);
    again.remove(again.pending()[0].seq);
    assert.deepEqual(ReceiptQueue.open(dir).pending().map((r) => JSON.parse(r.payload).stan), [2, 3]);
    // New receipts go after the ones read back, never under a number in use.
    again.push(slip(4));
    assert.deepEqual(ReceiptQueue.open(dir).pending().map((r) => JSON.parse(r.payload).stan), [2, 3, 4]);
  });

  it('full: the oldest goes, and the count of dropped receipts survives a reopen', () => {
    const q = ReceiptQueue.open(dir, { countMax: 2 });
    q.push(slip(1));
    q.push(slip(2));
    assert.deepEqual(q.push(slip(3)).map((r) => r.id), ['12345678-000001-000001']);
    q.push(slip(4));
    assert.equal(q.dropped, 2);
    const again = ReceiptQueue.open(dir, { countMax: 2 });
    assert.equal(again.dropped, 2);
    assert.deepEqual(again.pending().map((r) => JSON.parse(r.payload).stan), [3, 4]);
    assert.equal(queued(dir).length, 2, 'dropped receipts leave the disk too');
  });

  it('a torn temp file from a cut is removed; a file with an unmasked card is removed, never sent', () => {
    const q = ReceiptQueue.open(dir);
    q.push(slip(1));
    writeFileSync(join(dir, '000000000002.json.tmp'), '{"v":1,"id":"12345678-0');
    writeFileSync(join(dir, '000000000003.json'), JSON.stringify({ ...slip(3), panMasked: '6222020000000128' }));
    writeFileSync(join(dir, '000000000004.json'), '{ not json');
    // A folder where a receipt's file goes: removed too, and the queue still opens.
    mkdirSync(join(dir, '000000000005.json'));
    writeFileSync(join(dir, '000000000005.json', 'x'), 'y');
    const warnings: string[] = [];
    const again = ReceiptQueue.open(dir, { logger: { warn: (_o, msg) => { warnings.push(msg); } } });
    assert.deepEqual(again.pending().map((r) => r.id), ['12345678-000001-000001']);
    assert.deepEqual(readdirSync(dir).sort(), ['000000000001.json']);
    assert.equal(warnings.length, 3, warnings.join(' / '));
  });

  it('a disk that refuses the file does not stop the terminal: the receipt waits in memory; an unmasked card still stops', async () => {
    const q = ReceiptQueue.open(dir);
    const m = ManagementClient.start({
      config: { url: 'mqtt://127.0.0.1:1', allowPlain: true, serial: 'SN-RCPT-0002', username: 'u', reconnectMs: 60_000 },
      terminal: { status: () => { throw new Error('not asked'); }, setParams: async () => { throw new Error('no'); }, diagnostics: async () => [], logs: async () => ({ text: '', source: 'memory' }), isIdle: () => true, reboot: () => undefined, setSellingLocked: async () => undefined, setVersionFlag: async () => undefined, flaggedVersions: () => [] },
      logger: pino({ level: 'silent' }), clock: Date.now, receiptQueue: q,
    });
    try {
      rmSync(dir, { recursive: true, force: true });
      writeFileSync(dir, 'not a folder any more');
      m.publishReceipt(slip(5));
      assert.equal(m.queued, 1, 'in the in-memory outbox');
      assert.throws(() => m.publishReceipt({ ...slip(6), panMasked: '6222020000000128' }), InvariantError);
    } finally {
      m.kill();
      rmSync(dir, { force: true });
    }
  });

  it('refuses a document without an id or with an unmasked card before anything is written', () => {
    const q = ReceiptQueue.open(dir);
    assert.throws(() => q.push({ ...slip(1), panMasked: '6222020000000128' }), InvariantError);
    assert.throws(() => q.push({ ...slip(1), id: '' }), InvariantError);
    assert.equal(readdirSync(dir).length, 0);
  });
});

describe('e-receipts queued offline reach the service after a restart (real mosquitto)', function () {
  this.timeout(120_000);
  let broker: TestBroker;
  let dir: string;
  const children: ChildProcess[] = [];

  before(async function () {
    needMosquitto(this);
    broker = await TestBroker.create({ [SERIAL]: PASSWORD });
  });
  after(async () => { await broker?.destroy(); });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pos-rcpt-mqtt-')); });
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** A terminal process on the queue folder; its JSON lines as they come. */
  function terminal(publish: number[], countMax = 500): { child: ChildProcess; next: (pred: (o: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> } {
    const child = spawn(process.execPath, [...nodeArgsFor(CHILD), JSON.stringify({ url: broker.url, serial: SERIAL, password: PASSWORD, caPem: broker.pki.caPem, dir, countMax, publish })], {
      cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const seen: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout! }).on('line', (l) => seen.push(JSON.parse(l) as Record<string, unknown>));
    const next = async (pred: (o: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
      const started = Date.now();
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        if (child.exitCode !== null) throw new Error(`terminal process exited ${child.exitCode}; said ${JSON.stringify(seen)}`);
        if (Date.now() - started > WAIT_MS_MAX) throw new Error(`terminal process never said it; said ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return { child, next };
  }

  /** The e-receipt service: a persistent session, so what is published while it is away waits for it. */
  async function service(): Promise<{ client: MqttClient; receipts: Array<Record<string, unknown>>; statuses: StatusDocument[] }> {
    const receipts: Array<Record<string, unknown>> = [];
    const statuses: StatusDocument[] = [];
    const client = connect(broker.url, {
      protocolVersion: 5, username: CONSOLE_USER, password: CONSOLE_PASSWORD, ca: broker.pki.caPem, rejectUnauthorized: true, reconnectPeriod: 100,
      clientId: `e-receipt-service-${process.pid}`, clean: false, properties: { sessionExpiryInterval: 600 },
    });
    client.on('message', (topic, payload) => {
      if (topic === `pos/${SERIAL}/receipt`) receipts.push(JSON.parse(payload.toString()) as Record<string, unknown>);
      if (topic === `pos/${SERIAL}/status` && payload.length > 0) statuses.push(JSON.parse(payload.toString()) as StatusDocument);
    });
    await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
    await client.subscribeAsync([`pos/${SERIAL}/receipt`, `pos/${SERIAL}/status`], { qos: 1 });
    return { client, receipts, statuses };
  }

  async function until(what: string, cond: () => boolean): Promise<void> {
    const started = Date.now();
    while (!cond()) {
      if (Date.now() - started > WAIT_MS_MAX) throw new Error(`never: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('published with the broker down, process killed, a new process and the broker back: each receipt arrives exactly once per id', async () => {
    const svc = await service();
    try {
      await broker.stop();
      // Offline: 4 receipts into a queue of 3, so the oldest is dropped and counted.
      const first = terminal([11, 12, 13, 14], 3);
      assert.deepEqual(await first.next((o) => 'queued' in o), { queued: 3, dropped: 1 });
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      assert.equal(queued(dir).length, 3, 'on disk after the kill');

      const second = terminal([], 3);
      await second.next((o) => 'queued' in o);
      await broker.start();
      await until('three receipts at the service', () => svc.receipts.length >= 3);
      await second.next((o) => o.left === 0);
      await new Promise((r) => setTimeout(r, DUPLICATE_GRACE_MS));
      const ids = svc.receipts.map((r) => r.id);
      assert.deepEqual([...ids].sort(), ['12345678-000001-000012', '12345678-000001-000013', '12345678-000001-000014'], `each once: ${ids.join(', ')}`);
      assert.equal(svc.receipts[0].panMasked, '622202*********0128');
      assert.deepEqual(queued(dir), [], 'the folder is empty once the broker has them');
      // The status says what was dropped and that nothing waits any more.
      await until('a status with the queue empty', () => svc.statuses.some((s) => s.receiptsQueued === 0));
      const st = svc.statuses.filter((s) => s.receiptsQueued === 0).at(-1) as StatusDocument;
      assert.equal(st.receiptsDropped, 1);
      assert.ok(!existsSync(join(dir, 'dropped.json.tmp')));
    } finally {
      await svc.client.endAsync(true);
    }
  });
});

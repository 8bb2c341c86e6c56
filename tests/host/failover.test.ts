/**
 * runtime/host/failover.ts on loopback (real sockets, several 127.x source addresses) and the
 * board file's `links`. The real multi-link routing is tests/host/failover-netns.test.ts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as sinon from 'sinon';
import { FailoverTransport, LINK_CONNECT_TIMEOUT_MS_MIN, LINK_DEMOTED_MS } from '../../runtime/host/failover';
import { packFrame, swapTpdu } from '../../runtime/host/packager';
import { readBoardFile, validateBoard } from '../../hal/board';
import { PosError, isPosError } from '../../common/errors';
import { profile } from './fixtures';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { RecordType } from '../../storage/record';
import { CASHIER, T0_MS, magCard, rig } from '../runtime/harness';
import { receiptJob } from '../../runtime/receipt';
import { linkName } from '../../runtime/host/link-name';
import { screenFor } from '../../ui-lcd/screens';

const REQUEST = packFrame(profile, { tpdu: profile.tpdu, header: profile.header, message: { mti: '0800', fields: new Map([[11, '000001']]) } });
const RESPONSE = packFrame(profile, { tpdu: swapTpdu(profile.tpdu), header: profile.header, message: { mti: '0810', fields: new Map([[11, '000001'], [39, '00']]) } });
const LINKS = [{ name: 'wifi0', interface: 'wlan0' }, { name: 'modem0', interface: 'wwan0' }];

/** A loopback host: answers each request (or stays silent), recording each connection's source address. */
async function host(answer: boolean): Promise<{ port: number; remotes: string[]; close: () => Promise<void> }> {
  const remotes: string[] = [];
  const sockets = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    remotes.push(socket.remoteAddress ?? '?');
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', () => { if (answer) socket.end(RESPONSE); });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as net.AddressInfo).port, remotes,
    close: async () => { for (const x of sockets) x.destroy(); await new Promise<void>((r) => s.close(() => r())); },
  };
}

function failover(port: number, addresses: Record<string, string | undefined>, over: { responseTimeoutMs?: number; connectTimeoutMs?: number } = {}): FailoverTransport {
  return new FailoverTransport({
    links: LINKS, addressOf: (iface) => addresses[iface],
    transport: { host: '127.0.0.1', port, profile, connectTimeoutMs: over.connectTimeoutMs ?? 2000, responseTimeoutMs: over.responseTimeoutMs ?? 2000 },
  });
}

async function rejection(p: Promise<unknown>): Promise<PosError> {
  try { await p; } catch (e) { assert.ok(isPosError(e), String(e)); return e; }
  assert.fail('resolved');
}

describe('link failover (runtime/host/failover.ts) on loopback', () => {
  it('binds the socket to the first link\'s address: the host sees it as the source', async () => {
    const h = await host(true);
    try {
      const t = failover(h.port, { wlan0: '127.0.0.2', wwan0: '127.0.0.3' });
      assert.deepEqual(await t.exchange(REQUEST), RESPONSE);
      assert.deepEqual(h.remotes, ['127.0.0.2']);
      assert.equal(t.lastLink()?.link, 'wifi0');
    } finally { await h.close(); }
  });

  it('a link whose address cannot be bound (gone since it was read) fails before sending: the next carries it', async () => {
    const h = await host(true);
    try {
      // 192.0.2.1 (TEST-NET-1) is on no interface here: bind(2) fails with EADDRNOTAVAIL.
      const t = failover(h.port, { wlan0: '192.0.2.1', wwan0: '127.0.0.3' });
      assert.deepEqual(await t.exchange(REQUEST), RESPONSE);
      assert.deepEqual(h.remotes, ['127.0.0.3']);
      const use = t.lastLink();
      assert.equal(use?.link, 'modem0');
      assert.deepEqual(use?.failed.map((f) => f.link), ['wifi0']);
    } finally { await h.close(); }
  });

  it('a link that failed is tried last for a while, then first again', async () => {
    const h = await host(true);
    try {
      let now = 1_000_000;
      const addresses: Record<string, string> = { wlan0: '192.0.2.1', wwan0: '127.0.0.3' };
      const t = new FailoverTransport({
        links: LINKS, addressOf: (iface) => addresses[iface], now: () => now,
        transport: { host: '127.0.0.1', port: h.port, profile, connectTimeoutMs: 2000, responseTimeoutMs: 2000 },
      });
      await t.exchange(REQUEST);
      assert.deepEqual(t.lastLink()?.failed.map((f) => f.link), ['wifi0']);
      addresses.wlan0 = '127.0.0.2'; // Wi-Fi is back, but not tried first yet
      await t.exchange(REQUEST);
      assert.equal(t.lastLink()?.link, 'modem0');
      assert.deepEqual(t.lastLink()?.failed, [], 'wifi0 was not tried before modem0');
      now += LINK_DEMOTED_MS;
      await t.exchange(REQUEST);
      assert.equal(t.lastLink()?.link, 'wifi0');
      assert.deepEqual(h.remotes, ['127.0.0.3', '127.0.0.3', '127.0.0.2']);
    } finally { await h.close(); }
  });

  it('a failed link\'s demotion is timed on the monotonic clock: NTP stepping the wall clock does not end it', async () => {
    const h = await host(true);
    const clock = sinon.useFakeTimers({ toFake: ['Date', 'performance'] });
    try {
      const addresses: Record<string, string> = { wlan0: '192.0.2.1', wwan0: '127.0.0.3' };
      const t = failover(h.port, addresses);
      await t.exchange(REQUEST);
      assert.deepEqual(t.lastLink()?.failed.map((f) => f.link), ['wifi0']);
      addresses.wlan0 = '127.0.0.2';
      clock.setSystemTime(Date.now() + 2 * LINK_DEMOTED_MS); // the RTC was behind: NTP steps it forward
      assert.deepEqual(t.order().map((r) => r.name), ['modem0', 'wifi0'], 'still demoted: no time has passed');
      clock.tick(LINK_DEMOTED_MS);
      assert.deepEqual(t.order().map((r) => r.name), ['wifi0', 'modem0'], 'first again once its time has passed');
    } finally { clock.restore(); await h.close(); }
  });

  it('never tries another link once the request may have reached the host (no answer: HOST_TIMEOUT, one connection)', async () => {
    const h = await host(false);
    try {
      const t = failover(h.port, { wlan0: '127.0.0.2', wwan0: '127.0.0.3' }, { responseTimeoutMs: 300 });
      const e = await rejection(t.exchange(REQUEST));
      assert.equal(e.code, 'E-HOST-01');
      assert.equal(e.detail.requestSent, true);
      assert.equal(e.detail.link, 'wifi0');
      assert.deepEqual(h.remotes, ['127.0.0.2'], 'the request went out once, on one link');
    } finally { await h.close(); }
  });

  it('a cancel is not a link failure: nothing else is tried', async () => {
    const h = await host(true);
    try {
      const t = failover(h.port, { wlan0: '127.0.0.2', wwan0: '127.0.0.3' });
      const abort = new AbortController();
      abort.abort();
      const e = await rejection(t.exchange(REQUEST, abort.signal));
      assert.equal(e.code, 'E-OPR-07');
      assert.deepEqual(h.remotes, []);
    } finally { await h.close(); }
  });

  it('no link with an address: E-NET-01 naming both, nothing sent', async () => {
    const t = failover(1, {});
    const e = await rejection(t.exchange(REQUEST));
    assert.equal(e.code, 'E-NET-01');
    assert.equal(e.detail.requestSent, false);
    assert.deepEqual((e.detail.links as Array<{ link: string }>).map((l) => l.link), ['wifi0', 'modem0']);
  });

  it('gives each link at most its share of the response timeout, and no less than the minimum', () => {
    assert.equal(failover(1, {}, { responseTimeoutMs: 60_000, connectTimeoutMs: 10_000 }).linkConnectTimeoutMs(), 10_000);
    assert.equal(failover(1, {}, { responseTimeoutMs: 8_000, connectTimeoutMs: 10_000 }).linkConnectTimeoutMs(), 4_000);
    assert.equal(failover(1, {}, { responseTimeoutMs: 1_000, connectTimeoutMs: 10_000 }).linkConnectTimeoutMs(), LINK_CONNECT_TIMEOUT_MS_MIN);
    const t = failover(1, {}, { responseTimeoutMs: 60_000, connectTimeoutMs: 10_000 });
    t.setResponseTimeoutMs(12_000); // the host's DF12
    assert.equal(t.linkConnectTimeoutMs(), 6_000);
  });
});

describe('board file links', () => {
  const simJson = (): Record<string, any> => JSON.parse(fs.readFileSync(path.join(__dirname, '../../board-configs/sim.json'), 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any -- test mutates arbitrary fields
  const refusal = (j: unknown): string => {
    try { validateBoard(j, 'x.json'); } catch (e) { assert.ok(isPosError(e, 'board-invalid'), String(e)); return e.message; }
    assert.fail('accepted');
  };

  it('the handheld tries Wi-Fi, then 4G, each by its interface', () => {
    assert.deepEqual(readBoardFile('handheld').config.links, [{ name: 'wifi0', interface: 'wlan0' }, { name: 'modem0', interface: 'wwan0' }]);
    assert.equal(readBoardFile('sim').config.links, undefined, 'the simulator board: one link, the OS\'s route');
  });

  it('"ethernet" is the network section\'s interface (default eth0)', () => {
    const j = simJson();
    j.links = ['ethernet'];
    assert.deepEqual(validateBoard(j, 'x.json').links, [{ name: 'ethernet', interface: 'eth0' }]);
    j.network = { backend: 'none', interface: 'end0' };
    assert.deepEqual(validateBoard(j, 'x.json').links, [{ name: 'ethernet', interface: 'end0' }]);
  });

  it('refuses unknown roles, roles without an interface, repeats and empty lists, naming the field', () => {
    const j = simJson();
    delete j.devices.wifi0; // the simulator board's own Wi-Fi: this board has none
    j.links = ['wifi0'];
    assert.match(refusal(j), /field "links" names wifi0, which is not a role of this board/);
    j.links = ['modem0'];
    assert.match(refusal(j), /field "links" names modem0, which has no "interface"/);
    j.devices.modem0.interface = 'wwan0';
    j.links = ['modem0', 'modem0'];
    assert.match(refusal(j), /field "links" names modem0 twice/);
    j.links = [];
    assert.match(refusal(j), /field "links" must be a list of 1\.\.4 link names/);
    j.devices.wifi0 = { type: 'wpa-supplicant', interface: 'wwan0' };
    j.links = ['wifi0', 'modem0'];
    assert.match(refusal(j), /interface wwan0/);
    j.devices.wifi0 = { type: 'wpa-supplicant', interface: 'wlan0' };
    assert.deepEqual(validateBoard(j, 'x.json').links, [{ name: 'wifi0', interface: 'wlan0' }, { name: 'modem0', interface: 'wwan0' }]);
    assert.equal((validateBoard(j, 'x.json').devices.wifi0 as { ctrlDir: string }).ctrlDir, '/run/wpa_supplicant');
  });
});

describe('the link in the transaction\'s journal record', () => {
  it('a sale answered over the second link journals txn-result with link modem0', async () => {
    const clockMs = T0_MS;
    const sim = new AcquirerSimulator({ clock: () => clockMs });
    await sim.listen(0);
    const r = await rig({
      sim,
      host: () => new FailoverTransport({
        links: LINKS, addressOf: (iface) => ({ wlan0: '192.0.2.1', wwan0: '127.0.0.3' } as Record<string, string>)[iface],
        transport: { host: '127.0.0.1', port: sim.port, profile, connectTimeoutMs: 1000, responseTimeoutMs: 2000 },
      }),
    });
    try {
      await r.terminal.engine.signOn(CASHIER);
      const res = await r.terminal.engine.sale({ amountFen: 1234, card: magCard(), session: CASHIER });
      assert.equal(res.outcome, 'approved');
      const results = [...r.journal.records()].filter((x) => x.type === RecordType.txnResult).map((x) => x.payload as { stan: number; link?: string });
      assert.deepEqual(results.map((p) => p.link), ['modem0']);
      // The result the screen and the slip are made from carries it (replayed from the record).
      assert.equal(res.outcome === 'approved' ? res.txn.link : undefined, 'modem0');
      const slip = (lang: 'zh' | 'en', copy: 'merchant' | 'customer'): string => receiptJob(res.outcome === 'approved' ? res.txn : assert.fail('not approved'), { lang, copy, reprint: false, merchantName: 'M', tid: '12345678', mid: '123456789012345', printedAtMs: 0 })
        .blocks.map((b) => (b.kind === 'text' ? b.text : '')).join('\n');
      assert.match(slip('zh', 'merchant'), /^线路: 4G$/m);
      assert.match(slip('en', 'merchant'), /^LINK: 4G$/m);
      assert.doesNotMatch(slip('zh', 'customer'), /线路/, 'the customer copy has no link line');
    } finally {
      await r.close();
      await sim.close();
    }
  });

  it('a board with one link journals no link, and its slip has no link line', async () => {
    const sim = new AcquirerSimulator({ clock: () => T0_MS });
    await sim.listen(0);
    const r = await rig({
      sim,
      host: () => new FailoverTransport({
        links: [LINKS[0]], addressOf: () => '127.0.0.2',
        transport: { host: '127.0.0.1', port: sim.port, profile, connectTimeoutMs: 1000, responseTimeoutMs: 2000 },
      }),
    });
    try {
      await r.terminal.engine.signOn(CASHIER);
      const res = await r.terminal.engine.sale({ amountFen: 1234, card: magCard(), session: CASHIER });
      assert.equal(res.outcome, 'approved');
      const results = [...r.journal.records()].filter((x) => x.type === RecordType.txnResult).map((x) => x.payload as { link?: string });
      assert.deepEqual(results.map((p) => p.link), [undefined]);
      const txn = res.outcome === 'approved' ? res.txn : assert.fail('not approved');
      assert.equal(txn.link, undefined);
      const slip = receiptJob(txn, { lang: 'zh', copy: 'merchant', reprint: false, merchantName: 'M', tid: '12345678', mid: '123456789012345', printedAtMs: 0 });
      assert.ok(!slip.blocks.some((b) => b.kind === 'text' && b.text.includes('线路')));
    } finally {
      await r.close();
      await sim.close();
    }
  });
});

describe('link names on the slip and the screen (runtime/host/link-name.ts)', () => {
  it('says Wi-Fi, 4G and Ethernet, numbers a second link of a kind, and keeps an unknown name', () => {
    assert.deepEqual(linkName('wifi0'), { en: 'Wi-Fi', zh: 'Wi-Fi' });
    assert.deepEqual(linkName('modem0'), { en: '4G', zh: '4G' });
    assert.deepEqual(linkName('ethernet'), { en: 'Ethernet', zh: '以太网' });
    assert.deepEqual(linkName('wifi1'), { en: 'Wi-Fi 2', zh: 'Wi-Fi 2' });
    assert.deepEqual(linkName('satellite0'), { en: 'satellite0', zh: 'satellite0' });
  });
  it('the approved screen names the link in both languages, and says nothing without one', () => {
    const lines = (link?: string): string[] => (screenFor('approved', { transaction: 'sale', amountFen: 100, trace: '000001', ...(link ? { link } : {}) }).lines ?? [])
      .map((l) => (typeof l === 'object' && 'en' in l ? `${l.en}|${l.zh}` : JSON.stringify(l)));
    assert.ok(lines('modem0').includes('Link: 4G|线路 4G'), lines('modem0').join(' / '));
    assert.ok(lines('ethernet').includes('Link: Ethernet|线路 以太网'));
    assert.ok(!lines().some((l) => l.startsWith('Link')));
  });
});

/**
 * Diagnostics' network check on a board with `links` (boot/link-check.ts, boot/diagnostics.ts):
 * each link in order with the probes injected (every failure and its code), then what the
 * diagnostics screen makes of it in en and zh-CN. The same check against real interfaces,
 * routes and sockets is in tests/host/failover-netns.test.ts ("diagnostics' link check").
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkLinks, LinkCheckReport, LinkProbes } from '../../boot/link-check';
import { Diagnostics, DiagResult, ErrorRing } from '../../boot/diagnostics';
import { ERRORS } from '../../common/errors';
import { silentLogger } from '../../common/log';
import { SimBoard, createSimBoard } from '../../sim/board-sim';

const LINKS = [{ name: 'wifi0', interface: 'wlan0' }, { name: 'modem0', interface: 'wwan0' }];
const HOST = { host: '192.0.2.10', port: 5000 };

/** Both links healthy: up, an address, routed by themselves, the host answers. */
function healthy(): LinkProbes {
  const addresses: Record<string, string> = { wlan0: '10.0.1.2', wwan0: '10.0.2.2' };
  const byAddress: Record<string, string> = { '10.0.1.2': 'wlan0', '10.0.2.2': 'wwan0' };
  return {
    operstate: (i) => (i in addresses ? 'up' : undefined),
    ipv4: (i) => addresses[i],
    routeDevice: async (_h, from) => byAddress[from],
    connect: async () => ({ result: 'ok', detail: 'connected' }),
    resolve: async () => ['192.0.2.10'],
  };
}

describe('diagnostics: each link of the board in order (boot/link-check.ts)', () => {
  it('both links work: each is OK with its address, sales use the first', async () => {
    const r = await checkLinks(LINKS, HOST, healthy());
    assert.equal(r.ok, true);
    assert.equal(r.uses, 'wifi0');
    assert.deepEqual(r.links.map((l) => [l.link, l.ok, l.localAddress]), [['wifi0', true, '10.0.1.2'], ['modem0', true, '10.0.2.2']]);
    assert.deepEqual(r.links[0].steps.map((s) => s.step), ['up', 'address', 'route', 'connect']);
  });

  const failures: Array<[string, (p: LinkProbes) => Partial<LinkProbes>, string, string]> = [
    ['no such interface', (p) => ({ operstate: (i) => (i === 'wlan0' ? undefined : p.operstate(i)) }), 'E-NET-01', 'up'],
    ['interface down (Wi-Fi not associated)', (p) => ({ operstate: (i) => (i === 'wlan0' ? 'dormant' : p.operstate(i)) }), 'E-NET-01', 'up'],
    ['no address', (p) => ({ ipv4: (i) => (i === 'wlan0' ? undefined : p.ipv4(i)) }), 'E-NET-02', 'address'],
    ['no route at all', (p) => ({ routeDevice: async (h, from) => (from === '10.0.1.2' ? 'unreachable' : p.routeDevice(h, from)) }), 'E-NET-03', 'route'],
    ['source routing missing: it leaves by the 4G', (p) => ({ routeDevice: async (h, from) => (from === '10.0.1.2' ? 'wwan0' : p.routeDevice(h, from)) }), 'E-NET-32', 'route'],
    ['the host refuses', (p) => ({ connect: async (h, port, local, ms) => (local === '10.0.1.2' ? { result: 'refused', detail: 'ECONNREFUSED' } : p.connect(h, port, local, ms)) }), 'E-NET-05', 'connect'],
    ['the host does not answer', (p) => ({ connect: async (h, port, local, ms) => (local === '10.0.1.2' ? { result: 'timeout', detail: 'no answer' } : p.connect(h, port, local, ms)) }), 'E-NET-06', 'connect'],
  ];
  for (const [name, change, code, step] of failures) {
    it(`Wi-Fi: ${name} -> ${code} at ${step}; 4G still checked and used`, async () => {
      const p = healthy();
      const r = await checkLinks(LINKS, HOST, { ...p, ...change(p) });
      assert.equal(r.ok, true);
      assert.equal(r.uses, 'modem0');
      assert.equal(r.links[0].ok, false);
      assert.equal(r.links[0].code, code);
      assert.equal(r.links[0].steps.at(-1)?.step, step);
      assert.equal(r.links[1].ok, true);
    });
  }

  it('without the ip tool the route is not checked, said so, and the connect decides', async () => {
    const r = await checkLinks(LINKS, HOST, { ...healthy(), routeDevice: async () => undefined });
    assert.equal(r.ok, true);
    assert.equal(r.links[0].steps.find((s) => s.step === 'route')?.unchecked, true);
  });

  it('no link works: the check fails with the first link\'s code', async () => {
    const r = await checkLinks(LINKS, HOST, { ...healthy(), ipv4: (i) => (i === 'wwan0' ? '10.0.2.2' : undefined), connect: async () => ({ result: 'timeout', detail: '' }) });
    assert.equal(r.ok, false);
    assert.equal(r.uses, undefined);
    assert.equal(r.code, 'E-NET-02');
    assert.deepEqual(r.links.map((l) => l.code), ['E-NET-02', 'E-NET-06']);
  });

  it('a host name that does not resolve: E-NET-04, no link tried', async () => {
    let tried = 0;
    const r = await checkLinks(LINKS, { host: 'acquirer.example', port: 5000 }, { ...healthy(), resolve: async () => { throw Object.assign(new Error('x'), { code: 'ENOTFOUND' }); }, operstate: () => { tried++; return 'up'; } });
    assert.equal(r.ok, false);
    assert.equal(r.code, 'E-NET-04');
    assert.deepEqual(r.dns, { host: 'acquirer.example', reason: 'ENOTFOUND' });
    assert.equal(tried, 0);
  });
});

describe('diagnostics screen: the network check with links', function () {
  this.timeout(20_000);
  let sim: SimBoard | undefined;
  beforeEach(async () => { sim = await createSimBoard(); });
  afterEach(async () => { await sim?.close(); sim = undefined; });

  async function networkCheck(report: LinkCheckReport): Promise<DiagResult> {
    let networkTestRan = false;
    const diag = new Diagnostics({
      board: sim!.board, journalDir: path.join(os.tmpdir(), 'pos-diag-links-no-journal'), errors: new ErrorRing(),
      networkTest: async () => { networkTestRan = true; return { action: 'network-test', ok: true, journaled: false, lines: [] }; },
      linksTest: async () => report,
      pages: () => 1, changed: () => undefined, close: () => undefined, logger: silentLogger, clock: () => 0,
    });
    await diag.done;
    diag.close();
    assert.equal(networkTestRan, false, 'the single-interface test is not what a board with links is checked by');
    const r = diag.snapshot().find((x) => x.check === 'network');
    assert.ok(r);
    return r;
  }

  it('Wi-Fi without its own route, 4G working: passes, names both, the steps for E-NET-32, and that sales use 4G', async () => {
    const p = healthy();
    const r = await networkCheck(await checkLinks(LINKS, HOST, { ...p, routeDevice: async (h, from) => (from === '10.0.1.2' ? 'wwan0' : p.routeDevice(h, from)) }));
    assert.equal(r.state, 'ok', r.lines.join(' / '));
    const at = (s: string): number => r.lines.indexOf(s);
    assert.ok(at('1 Wi-Fi wlan0: E-NET-32') >= 0, r.lines.join(' / '));
    assert.ok(at('Leaves by wwan0, not wlan0') === at('1 Wi-Fi wlan0: E-NET-32') + 1);
    for (const step of ERRORS.NET_LINK_ROUTE.en.steps) assert.ok(r.lines.includes(`- ${step}`), step);
    assert.ok(r.lines.includes('2 4G wwan0: OK 10.0.2.2'));
    assert.equal(r.lines.filter((l) => l.startsWith('Sales use')).join(), 'Sales use 4G');
    const zh = (r.text ?? []).map((l) => l.zh);
    assert.ok(zh.includes('1 Wi-Fi wlan0：E-NET-32') && zh.includes('数据经wwan0而非wlan0发出') && zh.includes('交易使用4G'), zh.join(' / '));
    for (const step of ERRORS.NET_LINK_ROUTE.zh.steps) assert.ok(zh.includes(`- ${step}`), step);
  });

  it('no link reaches the host: fails with the first link\'s code, every link\'s lines and steps shown', async () => {
    const r = await networkCheck(await checkLinks(LINKS, HOST, { ...healthy(), ipv4: (i) => (i === 'wwan0' ? '10.0.2.2' : undefined), connect: async () => ({ result: 'timeout', detail: '' }) }));
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-NET-02');
    for (const want of ['1 Wi-Fi wlan0: E-NET-02', 'No IP address on wlan0', '2 4G wwan0: E-NET-06', 'Host 192.0.2.10:5000 no answer', 'No link reaches the host']) assert.ok(r.lines.includes(want), `${want} in ${r.lines.join(' / ')}`);
    for (const step of [...ERRORS.NET_NO_ADDRESS.en.steps, ...ERRORS.NET_CONNECT_TIMEOUT.en.steps]) assert.ok(r.lines.includes(`- ${step}`), step);
  });
});

/**
 * TLS end to end: the terminal process on a copy of the simulator board whose `host.tls` names the
 * acquirer CA (made by openssl at run time) and asks for the client certificate, which the factory
 * step sealed beside the device key; the acquirer simulator serves TLS on loopback and requires
 * that certificate. Sign-on and a sale go through; a terminal whose host presents a certificate of
 * another CA shows E-NET-20 on its sign-on failure screen, with the steps.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { asset } from '../../common/assets';
import { fileDeviceKey } from '../../runtime/device-key';
import { provisionClientCert } from '../../runtime/host/tls-credentials';
import { tempDir, removeDir } from '../../storage/testing';
import { needTool } from '../support/tools';
import { Driver } from '../e2e/driver';
import { SERVER_NAME, TestPki, makeTestPki } from './tls-certs';

describe('e2e: the terminal signs on and sells over TLS', function () {
  this.timeout(180_000);
  let dir: string;
  let pki: TestPki;
  const hosts: AcquirerSimulator[] = [];
  const drivers: Driver[] = [];

  before(function () {
    needTool(this, 'openssl');
    dir = tempDir('pos-e2e-tls-');
    pki = makeTestPki(join(dir), Date.now());
  });
  after(async () => {
    for (const d of drivers) await d.powerOff().catch(() => undefined);
    for (const h of hosts) await h.close();
    if (dir) removeDir(dir);
  });

  /** A terminal folder with its device key and the client certificate sealed under it, and a board file with host.tls. */
  function terminalDir(name: string, host: AcquirerSimulator): Driver {
    const tdir = join(dir, name);
    const keyFile = join(tdir, 'device.key');
    fileDeviceKey(keyFile).deviceKey(); // what provision leaves behind
    provisionClientCert({ dir: tdir, certFile: pki.client.certFile, keyFile: pki.client.keyFile, deviceKey: fileDeviceKey(keyFile), random: randomBytes });
    const board = JSON.parse(readFileSync(asset('board-configs', 'sim.json'), 'utf8')) as Record<string, unknown>;
    board.host = { tls: { caFile: pki.ca.certFile, serverName: SERVER_NAME, clientCert: true } };
    const file = join(tdir, 'sim-tls.json');
    writeFileSync(file, JSON.stringify(board, null, 2));
    const d = new Driver(host, tdir, 'en');
    d.board = file;
    drivers.push(d);
    return d;
  }

  async function tlsHost(server = pki.server): Promise<AcquirerSimulator> {
    const host = new AcquirerSimulator({ clock: Date.now, tls: { cert: server.cert, key: server.key, ca: pki.ca.cert, requireClientCert: true } });
    hosts.push(host);
    await host.listen(0);
    return host;
  }

  it('signOnAndASaleOverTlsWithTheFactorysClientCertificate', async () => {
    const host = await tlsHost();
    const d = terminalDir('good', host);
    await d.powerOn();
    await d.signIn('cashier');
    await d.sale('1234');
    const types = host.requests().map((q) => q.type);
    assert.ok(types.includes('signOn') && types.includes('sale'), `requests: ${types.join(' ')}`);
    assert.ok(host.ledger.entries().some((e) => e.type === 'sale' && e.amountFen === 1234 && e.status === 'approved'), 'the sale is approved at the host');
    await d.powerOff();
  });

  it('aHostWithACertificateOfAnotherCaIsRefusedAndTheSignOnFailureScreenSaysE-NET-20', async () => {
    const host = await tlsHost(pki.serverOtherCa);
    const d = terminalDir('other-ca', host);
    await d.powerOn();
    await d.until('login');
    await d.typeLogin('cashier');
    const deadline = Date.now() + 60_000;
    let code: string | undefined;
    while (Date.now() < deadline && code === undefined) {
      const s = await d.snapshot().catch(() => undefined);
      if (s?.screen.name === 'error') code = s.data.error?.code;
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(code, 'E-NET-20');
    const rows = await d.pages('error');
    assert.match(rows[0], /^E-NET-20/);
    // The body rows, without page tags and footers, squashed: the cause and both steps are there.
    const body = rows.filter((r) => !/^E-NET-20 \d+\/\d+$|UP\/DOWN|OK: back/.test(r.trim())).join('').replace(/\s+/g, '');
    for (const part of ['Host certificate not trusted', '1.Wrong host or network intercepted', '2.Do not sell; call support']) assert.ok(body.includes(part.replace(/\s+/g, '')), `${part} in ${body}`);
    assert.equal(host.requests().length, 0, 'nothing reached the impostor');
    await d.keys('OK'); // read: on to the sign-on failure screen (retry, echo test, cancel)
    await d.screen('hostUnreachable');
    await d.powerOff();
  });
});

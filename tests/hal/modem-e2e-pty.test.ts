/**
 * END TO END over real pseudo-terminals (socat): the real QuectelModem on hal/serial-linux.ts
 * talks AT to the module model on the other pty: status, a PIN entry, a URC crossing the ttys,
 * and the pty vanishing under the driver.
 */
import assert from 'node:assert/strict';
import { isPosError } from '../../common/errors';
import { QuectelModem } from '../../hal/drivers/modem-quectel';
import { ModemEvent, modemFault } from '../../hal/modem';
import { StreamSerialPort, createLinuxSerialPort } from '../../hal/serial-linux';
import { QuectelModemModel } from '../../sim/chips/quectel-modem-model';
import { PtyPair, openPtyPair } from '../../sim/pty-pair';
import { needTool } from '../support/tools';

describe('4G modem end to end over socat pseudo-terminals', function () {
  let ptys: PtyPair | undefined;
  let host: StreamSerialPort | undefined;
  let device: StreamSerialPort | undefined;

  before(function () { needTool(this, 'socat'); });

  beforeEach(async () => {
    ptys = await openPtyPair();
    host = createLinuxSerialPort({ path: ptys.hostPath, baudRate: 115200 });
    device = createLinuxSerialPort({ path: ptys.devicePath, baudRate: 115200 });
    await host.open();
    await device.open();
  });

  afterEach(async () => {
    await host?.close().catch(() => undefined);
    await device?.close().catch(() => undefined);
    await ptys?.close();
  });

  it('statusPinAndAUrcCrossThePtys', async () => {
    const model = new QuectelModemModel(device!, { apn: 'cmnet' });
    const modem = new QuectelModem(host!, { name: 'modem0' });
    model.lockPin('2468');
    const locked = await modem.status();
    assert.equal(modemFault(locked)?.code, 'E-NET-09');
    const events: ModemEvent[] = [];
    modem.onEvent((e) => events.push(e));
    await modem.enterPin('2468');
    // Waited for before the next command: a "+CPIN: READY" landing while AT+CPIN? runs would be
    // read as its answer (the module's own ambiguity, QUECTEL_AT.md "URCs").
    for (let waitedMs = 0; !events.some((e) => e.type === 'sim' && e.state === 'ready'); waitedMs += 10) {
      assert.ok(waitedMs < 3000, '+CPIN: READY crossed the ptys');
      await new Promise((r) => setTimeout(r, 10));
    }
    const s = await modem.status();
    assert.equal(s.sim, 'ready');
    assert.equal(s.registration, 'home');
    assert.equal(s.apn, 'cmnet');
  });

  it('ptyVanishingUnderTheDriverIsModemDisconnected', async () => {
    // Answers slowly, so the pty goes while a command is on the wire.
    new QuectelModemModel(device!, { answerMs: 200 });
    const modem = new QuectelModem(host!, { name: 'modem0' });
    const pending = modem.status().then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await ptys!.close();
    const e = await pending;
    assert.ok(isPosError(e), String(e));
    assert.equal(e.id, 'NET_MODEM');
    assert.ok(['disconnected', 'timeout'].includes(String(e.detail.reason)), String(e));
  });
});

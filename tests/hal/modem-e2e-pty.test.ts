/**
 * END TO END over real pseudo-terminals (socat): the real QuectelModem on hal/serial-linux.ts
 * talks AT to the module model on the other pty: status, a PIN entry, a URC crossing the ttys,
 * and the pty vanishing under the driver.
 */
import assert from 'node:assert/strict';
import { isPosError } from '../../common/errors';
import { QuectelModem } from '../../hal/drivers/modem-quectel';
import { ModemEvent, modemFault } from '../../hal/modem';
import { QuectelModemModel } from '../../sim/chips/quectel-modem-model';
import { ptyPortsEachTest } from '../support/pty-ports';

describe('4G modem end to end over socat pseudo-terminals', function () {
  const ports = ptyPortsEachTest();

  it('statusPinAndAUrcCrossThePtys', async () => {
    const model = new QuectelModemModel(ports.device!, { apn: 'cmnet' });
    const modem = new QuectelModem(ports.host!, { name: 'modem0' });
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
    new QuectelModemModel(ports.device!, { answerMs: 200 });
    const modem = new QuectelModem(ports.host!, { name: 'modem0' });
    const pending = modem.status().then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await ports.ptys!.close();
    const e = await pending;
    assert.ok(isPosError(e), String(e));
    assert.equal(e.id, 'NET_MODEM');
    assert.ok(['disconnected', 'timeout'].includes(String(e.detail.reason)), String(e));
  });
});

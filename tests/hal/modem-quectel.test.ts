/**
 * QuectelModem (hal/drivers/modem-quectel.ts) against the 4G module model
 * (sim/chips/quectel-modem-model.ts), in-process over the in-memory serial pair: the bytes on the
 * wire are the AT dialogue of hal/drivers/QUECTEL_AT.md. Limits are shortened where a test needs
 * one to pass (silence); no assertion is on time, date or test order.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { PosError, isPosError } from '../../common/errors';
import { QuectelModem, QuectelModemOptions, finalOf, splitFields, urcOf } from '../../hal/drivers/modem-quectel';
import { MODEM_QUEUE_COMMANDS_MAX, ModemEvent, csqToBars, csqToDbm, modemFault } from '../../hal/modem';
import { SerialPair, openSerialPair } from '../../sim/serial-pair';
import { QuectelModemModel, QuectelModemModelOptions } from '../../sim/chips/quectel-modem-model';

interface Rig { pair: SerialPair; modem: QuectelModem; model: QuectelModemModel; wire: Buffer[]; logs: string[]; events: ModemEvent[] }

async function rig(driver: QuectelModemOptions = {}, model: QuectelModemModelOptions = {}): Promise<Rig> {
  const pair = await openSerialPair({ label: 'modem0' });
  const wire: Buffer[] = [];
  pair.device.onData((chunk) => wire.push(chunk));
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logs.push(line); } });
  const m = new QuectelModemModel(pair.device, model);
  const modem = new QuectelModem(pair.host, { logger, name: 'modem0', ...driver });
  const events: ModemEvent[] = [];
  modem.onEvent((e) => events.push(e));
  return { pair, modem, model: m, wire, logs, events };
}

async function rejection(promise: Promise<unknown>): Promise<PosError> {
  try { await promise; } catch (error) { assert.ok(isPosError(error), String(error)); return error; }
  assert.fail('expected a rejection');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, msMax = 2000): Promise<void> {
  for (let waited = 0; !cond(); waited += 5) {
    if (waited > msMax) assert.fail(`not within ${msMax} ms: ${what}`);
    await sleep(5);
  }
}

describe('QuectelModem (hal/drivers/modem-quectel.ts) on the 4G module model', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.modem.close().catch(() => undefined); r = undefined; });

  it('checkTurnsEchoOffAndNumericErrorsOnThenReadsIdentityAndAReadyStatus', async () => {
    r = await rig({}, { apn: 'cmnet' });
    await r.modem.check();
    assert.deepEqual(r.model.received.slice(0, 3), ['ATE0', 'AT+CMEE=1', 'AT+CREG=1'], 'set-up first, in order');
    assert.deepEqual(await r.modem.identity(), { imei: '867698040123456', firmware: 'EC25EFAR06A06M4G', model: 'EC25' });
    const s = await r.modem.status();
    assert.equal(s.sim, 'ready');
    assert.equal(s.iccid, '89860012345678901234');
    assert.equal(s.registration, 'home');
    assert.equal(s.operator, 'CHINA MOBILE');
    assert.equal(s.apn, 'cmnet');
    assert.equal(s.signal.csq, 24);
    assert.equal(s.signal.rssiDbm, -65);
    assert.equal(s.signal.bars, 4);
    assert.equal(s.signal.tech, 'LTE');
    assert.equal(modemFault(s, { apn: 'cmnet', roaming: false }), undefined, 'nothing to fix');
    assert.equal(r.modem.diagnostics().linesGarbled, 0);
  });

  it('theEchoOfACommandIsNotTakenForItsAnswer', async () => {
    // The model starts with echo on: "AT+CGSN" comes back before the IMEI; ATE0 then stops it.
    r = await rig();
    await r.modem.identity();
    const host = Buffer.concat(r.wire).toString('latin1');
    assert.match(host, /^ATE0\r/, 'echo off is the first command');
    assert.equal(r.modem.diagnostics().linesDropped, 0);
  });

  it('registrationUrcBetweenAnAnswerLineAndItsOkIsAnEventNotPartOfTheAnswer', async () => {
    r = await rig();
    await r.modem.check();
    r.model.interleaveUrcNext();
    const s = await r.modem.signal();
    assert.equal(s.csq, 24, 'the answer is the +CSQ line only');
    assert.deepEqual(r.events.filter((e) => e.type === 'registration'), [{ type: 'registration', domain: 'cs', state: 'home' }]);
    // And a URC arriving with no command running is an event too.
    r.model.setRegistration('roaming');
    await until(() => r!.events.some((e) => e.type === 'registration' && e.state === 'roaming'), 'roaming URC');
    assert.equal(await r.modem.registration(), 'roaming');
  });

  it('simRemovedIsAnEventAndAStatusWithNoSimFaultE_NET_08', async () => {
    r = await rig();
    await r.modem.check();
    r.model.removeSim();
    await until(() => r!.events.some((e) => e.type === 'sim' && e.state === 'absent'), 'SIM removal URC');
    const s = await r.modem.status();
    assert.equal(s.sim, 'absent');
    assert.equal(s.iccid, undefined, 'no ICCID asked without a SIM');
    assert.equal(modemFault(s)?.code, 'E-NET-08');
  });

  it('pinLockedShowsAttemptsLeftAndTheRightPinUnlocksAndRegisters', async () => {
    r = await rig();
    r.model.lockPin('4321');
    const s = await r.modem.status();
    assert.equal(s.sim, 'pin-required');
    assert.equal(s.pinAttemptsLeft, 3);
    assert.equal(modemFault(s)?.code, 'E-NET-09');
    const wrong = await rejection(r.modem.enterPin('1111'));
    assert.equal(wrong.id, 'NET_SIM_PIN');
    assert.equal(wrong.detail.attemptsLeft, 2);
    assert.ok(!wrong.message.includes('1111'), 'the PIN is not in the message');
    await r.modem.enterPin('4321');
    await until(() => r!.events.some((e) => e.type === 'sim' && e.state === 'ready'), '+CPIN: READY URC');
    assert.equal(await r.modem.simState(), 'ready');
    assert.equal(await r.modem.registration(), 'home');
    assert.ok(!r.logs.join('\n').includes('4321') && !r.logs.join('\n').includes('1111'), 'the PIN is never logged');
  });

  it('pinTriedTooOftenIsPukLockedE_NET_10AndNoFurtherPinIsSent', async () => {
    r = await rig();
    r.model.lockPin('4321');
    assert.equal((await rejection(r.modem.enterPin('0000'))).id, 'NET_SIM_PIN');
    assert.equal((await rejection(r.modem.enterPin('0000'))).id, 'NET_SIM_PIN');
    assert.equal((await rejection(r.modem.enterPin('0000'))).id, 'NET_SIM_PUK', 'the third wrong PIN locks the SIM');
    const sent = r.model.received.filter((l) => l.startsWith('AT+CPIN=')).length;
    assert.equal((await rejection(r.modem.enterPin('4321'))).id, 'NET_SIM_PUK');
    assert.equal(r.model.received.filter((l) => l.startsWith('AT+CPIN=')).length, sent, 'a PUK-locked SIM gets no PIN');
    assert.equal(modemFault(await r.modem.status())?.code, 'E-NET-10');
  });

  it('anErrorToACommandThatMustSucceedIsE_NET_17AndAMalformedAnswerIsE_NET_16', async () => {
    const pair = await openSerialPair({ label: 'modem0' });
    let line = '';
    const answers: Record<string, string> = { 'AT+CGDCONT=1,"IP","cmnet"': '+CME ERROR: 3', 'AT+CGSN': '12345\r\n\r\nOK', 'AT+CSQ': '+CSQ: abc,99\r\n\r\nOK' };
    pair.device.onData((chunk) => {
      for (const ch of chunk.toString('latin1')) {
        if (ch !== '\r') { line += ch; continue; }
        void pair.device.write(Buffer.from(`\r\n${answers[line] ?? 'OK'}\r\n`, 'latin1'));
        line = '';
      }
    });
    const modem = new QuectelModem(pair.host);
    try {
      const refused = await rejection(modem.setApn('cmnet'));
      assert.equal(refused.id, 'NET_MODEM_REFUSED');
      assert.equal(refused.detail.cme, 3);
      assert.equal((await rejection(modem.identity())).id, 'NET_MODEM_GARBLED', 'an IMEI of 5 digits');
      assert.equal((await rejection(modem.signal())).id, 'NET_MODEM_GARBLED', 'a +CSQ that is no number');
    } finally {
      await modem.close();
    }
  });

  it('aCpinUrcAlreadyOnTheWireWhenAtCpinWentOutIsNotTakenForItsAnswer', async () => {
    // A scripted module: the SIM was just inserted ("+CPIN: READY" sent), then locked; the URC
    // lands inside the answer to AT+CPIN?, before the module's own "+CPIN: SIM PIN".
    const pair = await openSerialPair({ label: 'modem0' });
    let line = '';
    pair.device.onData((chunk) => {
      for (const ch of chunk.toString('latin1')) {
        if (ch !== '\r') { line += ch; continue; }
        const answer = line === 'AT+CPIN?' ? '\r\n+CPIN: READY\r\n\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n' : '\r\nOK\r\n';
        line = '';
        void pair.device.write(Buffer.from(answer, 'latin1'));
      }
    });
    const modem = new QuectelModem(pair.host);
    try {
      assert.equal(await modem.simState(), 'pin-required');
    } finally {
      await modem.close();
    }
  });

  it('pinThatIsNotFourToEightDigitsIsRefusedWithoutSendingIt', async () => {
    r = await rig();
    assert.equal((await rejection(r.modem.enterPin('12a4'))).id, 'OPR_INPUT');
    assert.equal(r.model.received.length, 0);
  });

  it('noSignalIsE_NET_11AndWeakSignalDrawsOneBar', async () => {
    r = await rig();
    r.model.setSignal(99);
    const s = await r.modem.status();
    assert.equal(s.signal.rssiDbm, undefined);
    assert.equal(s.signal.bars, 0);
    assert.equal(s.signal.tech, 'NOSERVICE');
    assert.equal(s.registration, 'searching');
    assert.equal(modemFault(s)?.code, 'E-NET-11');
    r.model.setSignal(5);
    r.model.setRegistration('home');
    const weak = await r.modem.signal();
    assert.equal(weak.bars, 1);
    assert.equal(weak.rssiDbm, -103);
  });

  it('registrationDeniedAndRoamingOnABoardThatRefusesItAreE_NET_12', async () => {
    r = await rig();
    r.model.setRegistration('denied');
    assert.equal(modemFault(await r.modem.status())?.code, 'E-NET-12');
    r.model.setRegistration('roaming');
    const s = await r.modem.status();
    assert.equal(modemFault(s, { roaming: true }), undefined, 'roaming allowed: fine');
    assert.equal(modemFault(s, { roaming: false })?.code, 'E-NET-12');
    r.model.setRegistration('searching');
    assert.equal(modemFault(await r.modem.status())?.code, 'E-NET-13');
  });

  it('apnIsReadAndSetAndAMismatchWithTheBoardIsE_NET_14', async () => {
    r = await rig({}, { apn: 'wrong.apn' });
    assert.equal(modemFault(await r.modem.status(), { apn: 'cmnet' })?.code, 'E-NET-14');
    await r.modem.setApn('cmnet');
    assert.equal(await r.modem.apn(), 'cmnet');
    assert.ok(r.model.received.includes('AT+CGDCONT=1,"IP","cmnet"'));
    assert.equal((await rejection(r.modem.setApn('bad"apn'))).id, 'OPR_INPUT');
  });

  it('garbledLineFailsTheCommandWithE_NET_16AndTheNextCommandIsAnsweredRight', async () => {
    r = await rig();
    await r.modem.check();
    r.model.garbleNext('noise');
    const e = await rejection(r.modem.signal());
    assert.equal(e.id, 'NET_MODEM_GARBLED');
    assert.equal(e.detail.reason, 'bytes');
    // The rest of the garbled answer (its +CSQ and OK) must not answer the next command.
    assert.equal(await r.modem.operator(), 'CHINA MOBILE');
    assert.equal((await r.modem.signal()).csq, 24);
  });

  it('overlongLineIsGarbledNeverABufferGrowingWithoutBound', async () => {
    r = await rig();
    await r.modem.check();
    r.model.garbleNext('overlong');
    const e = await rejection(r.modem.registration());
    assert.equal(e.id, 'NET_MODEM_GARBLED');
    assert.equal(e.detail.reason, 'overlong');
    assert.equal(await r.modem.registration(), 'home');
  });

  it('silentModuleTimesOutE_NET_15AndAnsweringAgainRecovers', async () => {
    r = await rig({ timeoutsMs: { basic: 200, sim: 200, operator: 200 } });
    await r.modem.check();
    r.model.goSilent();
    const e = await rejection(r.modem.signal());
    assert.equal(e.id, 'NET_MODEM');
    assert.equal(e.detail.reason, 'timeout');
    assert.equal(r.modem.diagnostics().timeouts, 1);
    r.model.wake();
    assert.equal((await r.modem.signal()).csq, 24);
  });

  it('commandsQueueOneAtATimeAndTheQueueIsBounded', async () => {
    r = await rig({}, { answerMs: 5 });
    await r.modem.check();
    const first = r.model.received.length;
    const calls = Array.from({ length: MODEM_QUEUE_COMMANDS_MAX + 1 }, () => r!.modem.operator().then(() => 'ok', (e: PosError) => e.id));
    const over = await rejection(r.modem.operator());
    assert.equal(over.id, 'NET_MODEM');
    assert.equal(over.detail.reason, 'busy');
    assert.deepEqual(new Set(await Promise.all(calls)), new Set(['ok']));
    assert.equal(r.model.received.length - first, MODEM_QUEUE_COMMANDS_MAX + 1, 'each command sent once');
  });

  it('cancelledWhileQueuedIsNeverSentAndOnTheWireItsLateOkIsNotTheNextAnswer', async () => {
    r = await rig({}, { answerMs: 30 });
    await r.modem.check();
    const before = r.model.received.length;
    const onWire = new AbortController();
    const queued = new AbortController();
    const a = r.modem.operator(onWire.signal);
    const b = r.modem.apn(queued.signal);
    queued.abort();
    assert.equal((await rejection(b)).id, 'OPR_CANCELLED');
    await until(() => r!.model.received.length > before, 'first command on the wire');
    onWire.abort();
    assert.equal((await rejection(a)).id, 'OPR_CANCELLED');
    assert.equal((await r.modem.signal()).csq, 24, 'the next command gets its own answer');
    assert.deepEqual(r.model.received.slice(before), ['AT+COPS?', 'AT+CSQ', 'AT+QCSQ'], 'the queued AT+CGDCONT? was never sent');
    assert.equal(r.modem.diagnostics().cancelled, 2);
  });

  it('powerLossRejectsTheCommandOnTheWireAndEveryLaterCall', async () => {
    r = await rig({}, { answerMs: 50 });
    await r.modem.check();
    const pending = r.modem.status();
    await until(() => r!.model.received.length > 5, 'status started');
    r.pair.disconnect('modem lost power');
    const e = await rejection(pending);
    assert.equal(e.id, 'NET_MODEM');
    assert.equal(e.detail.reason, 'disconnected');
    assert.equal((await rejection(r.modem.signal())).detail.reason, 'disconnected');
  });

  it('poweredDownUrcFailsCallsUntilRdyThenTheDriverSetsTheModuleUpAgain', async () => {
    r = await rig();
    await r.modem.check();
    r.model.powerDown();
    await until(() => r!.events.some((e) => e.type === 'powered-down'), 'POWERED DOWN');
    assert.equal((await rejection(r.modem.signal())).detail.reason, 'powered-down');
    r.model.powerOn();
    await until(() => r!.events.some((e) => e.type === 'ready'), 'RDY');
    const before = r.model.received.length;
    assert.equal((await r.modem.signal()).csq, 24);
    assert.equal(r.model.received[before], 'ATE0', 'settings are lost at a restart: set up again');
  });

  it('closeRejectsQueuedCommandsAndLaterCalls', async () => {
    r = await rig({}, { answerMs: 30 });
    await r.modem.check();
    const pending = r.modem.status();
    await r.modem.close();
    assert.equal((await rejection(pending)).detail.reason, 'closed');
    assert.equal((await rejection(r.modem.signal())).detail.reason, 'closed');
    await r.modem.close();
  });
});

describe('modem AT parsing and signal arithmetic (pure)', () => {
  it('finalResultCodes', () => {
    assert.deepEqual(finalOf('OK'), { kind: 'ok' });
    assert.deepEqual(finalOf('ERROR'), { kind: 'error' });
    assert.deepEqual(finalOf('+CME ERROR: 10'), { kind: 'error', cme: 10 });
    assert.deepEqual(finalOf('+CME ERROR: SIM not inserted'), { kind: 'error', cme: -1 });
    assert.equal(finalOf('+CSQ: 20,99'), undefined);
  });

  it('urcsAreToldFromAnswersByFieldCountAndByTheCommandRunning', () => {
    assert.deepEqual(urcOf('+CREG: 5'), { type: 'registration', domain: 'cs', state: 'roaming' });
    assert.deepEqual(urcOf('+CEREG: 3'), { type: 'registration', domain: 'eps', state: 'denied' });
    assert.equal(urcOf('+CREG: 1,1', 'AT+CREG?'), undefined, 'the answer has two fields');
    assert.equal(urcOf('+CPIN: READY', 'AT+CPIN?'), undefined, 'the answer to AT+CPIN?');
    assert.deepEqual(urcOf('+CPIN: NOT READY', 'AT+CSQ'), { type: 'sim', state: 'absent' });
    assert.equal(urcOf('+QIND: SMS DONE'), null, 'known, ignored');
    assert.equal(urcOf('867698040123456', 'AT+CGSN'), undefined);
  });

  it('fieldsSplitOutsideQuotes', () => {
    assert.deepEqual(splitFields('+COPS: 0,0,"CHINA, MOBILE",7', '+COPS:'), ['0', '0', 'CHINA, MOBILE', '7']);
    assert.equal(splitFields('+COPS: 0,"open', '+COPS:'), undefined);
  });

  it('csqMapsToDbmAndBars', () => {
    assert.equal(csqToDbm(0), -113);
    assert.equal(csqToDbm(31), -51);
    assert.equal(csqToDbm(99), undefined);
    assert.deepEqual([0, 1, 2, 9, 10, 14, 15, 19, 20, 31, 99].map(csqToBars), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0]);
  });
});

/**
 * The modem0 role end to end: the board file validator (sim and handheld declare it; bad fields
 * refused naming them), the simulator board (the real QuectelModem over a simulated cable to the
 * module model: self-test, status, the model's controls seen through the driver), and an AT port
 * that cannot be opened.
 */
import { strict as assert } from 'node:assert';
import { PosError } from '../../common/errors';
import { readBoardFile, validateBoard } from '../../hal/board';
import { modemFault } from '../../hal/modem';
import { SimBoard, createSimBoard } from '../../sim/board-sim';
import { ControlServer } from '../../sim/control-server';
import { simBoardWithUnopenablePort } from '../support/unopenable-port';
import { controlRequest } from '../../sim/control-cli';
import { BoardJson, boardJson, boardRefusal } from '../support/board-json';

type Json = BoardJson;

const refusal = boardRefusal;

describe('board files: modem0', () => {
  it('simAndHandheldDeclareAQuectelModemWithAnApnAndADataPath', () => {
    const sim = readBoardFile('sim').config.devices.modem0;
    assert.ok(sim?.type === 'quectel-modem');
    assert.equal(sim.port, 'sim:modem0');
    assert.equal(sim.dataPath, 'none');
    const handheld = readBoardFile('handheld').config.devices.modem0;
    assert.ok(handheld?.type === 'quectel-modem');
    assert.match(handheld.port, /^\/dev\/tty/);
    assert.equal(handheld.apn, 'cmnet');
    assert.equal(handheld.roaming, false);
    assert.equal(handheld.dataPath, 'networkmanager');
    assert.equal(handheld.interface, 'wwan0');
  });

  it('badModemFieldsAreRefusedNamingTheField', () => {
    const cases: Array<[(m: Json) => void, RegExp]> = [
      [(m) => { m.apn = 'bad apn'; }, /role modem0: field "apn"/],
      [(m) => { m.dataPath = 'pppoe'; }, /role modem0: field "dataPath" must be one of "ppp", "networkmanager", "quectel-cm", "none"/],
      [(m) => { m.roaming = 'no'; }, /role modem0: field "roaming" must be true or false/],
      [(m) => { m.pin = '1234'; }, /role modem0: field "pin" is not a known field/],
      [(m) => { m.port = 'sim:printer0'; }, /role (modem0|printer0): field "port" uses port sim:printer0/],
      [(m) => { m.type = 'serial-scan-engine'; }, /role modem0: field "type" must be one of "quectel-modem"/],
    ];
    for (const [change, expected] of cases) {
      const j = boardJson('sim');
      change(j.devices.modem0);
      assert.match(refusal(j), expected);
    }
  });

  it('aBenchRigRefusesAModemOnASimulatedPort', () => {
    const j = boardJson('sim');
    j.benchRig = true;
    j.devices.printer0.port = '/dev/ttyUSB0';
    j.devices.reader0.port = '/dev/ttyUSB1';
    j.devices.scanner0.port = '/dev/ttyUSB2';
    assert.match(refusal(j), /modem0: field "port" must be a tty path on a bench rig/);
    j.devices.modem0.port = '/dev/ttyUSB3';
    assert.equal(validateBoard(j, 'x.json').devices.modem0?.type, 'quectel-modem');
  });
});

describe('simulator board: modem0', () => {
  let sim: SimBoard | undefined;
  afterEach(async () => { await sim?.close(); sim = undefined; });

  it('selfTestChecksTheModemAndStatusFollowsTheModelsControls', async () => {
    sim = await createSimBoard();
    const results = await sim.board.selfTest();
    assert.deepEqual(results.find((r) => r.role === 'modem0'), { role: 'modem0', ok: true });
    const modem = sim.board.modem();
    assert.ok(modem);
    const dc = sim.config.devices.modem0;
    const expect = dc?.type === 'quectel-modem' ? { apn: dc.apn, roaming: dc.roaming } : {};
    const ok = await modem.status();
    assert.equal(ok.apn, 'cmnet', 'the model starts with the board file APN');
    assert.equal(modemFault(ok, expect), undefined);
    sim.modem().setRegistration('denied');
    assert.equal(modemFault(await modem.status(), expect)?.code, 'E-NET-12');
    sim.modem().removeSim();
    assert.equal(modemFault(await modem.status(), expect)?.code, 'E-NET-08');
  });

  it('aModemPortThatCannotOpenLeavesTheBoardUpAndTheModemFailingWithWhy', async () => {
    sim = await simBoardWithUnopenablePort('modem0');
    const results = await sim.board.selfTest();
    assert.deepEqual(results.filter((r) => !r.ok).map((r) => `${r.role} ${r.error?.code}`), ['modem0 E-NET-15']);
    const e = await sim.board.modem()!.status().then(() => assert.fail('answered'), (x: unknown) => x as PosError);
    assert.equal(e.id, 'NET_MODEM');
    assert.match(e.message, /modem0: cannot open sim:modem0/);
  });

  it('controlModemSetsTheModelAndTheDriverSeesIt', async () => {
    sim = await createSimBoard();
    const control = new ControlServer(sim);
    assert.deepEqual(await control.handle({ cmd: 'modem', registration: 'denied', csq: 5 }), { ok: true, registration: 'denied', apn: 'cmnet', pinAttemptsLeft: 3 });
    const s = await sim.board.modem()!.status();
    assert.equal(s.registration, 'denied');
    assert.equal(s.signal.csq, 5);
    await control.handle({ cmd: 'modem', sim: 'removed' });
    assert.equal((await sim.board.modem()!.status()).sim, 'absent');
    await control.handle({ cmd: 'modem', sim: 'inserted' });
    await control.handle({ cmd: 'modem', sim: 'pin' });
    assert.equal((await sim.board.modem()!.status()).sim, 'pin-required');
    const bad = await control.handle({ cmd: 'modem', registration: 'abroad' });
    assert.equal(bad.ok, false);
    assert.match(String(bad.error), /registration" must be one of/);
    assert.deepEqual(controlRequest(['modem', 'removed']), { cmd: 'modem', fields: { sim: 'removed' } });
    assert.deepEqual(controlRequest(['modem', 'registration=roaming', 'csq=99']), { cmd: 'modem', fields: { registration: 'roaming', csq: 99 } });
  });

  it('aBoardWithoutModem0AnswersUndefined', async () => {
    sim = await createSimBoard({ board: 'rpi-dev' });
    assert.equal(sim.board.modem(), undefined);
  });
});

/**
 * The scanner0 role end to end: the board file validator, the simulator board (real driver over a
 * simulated cable to the virtual engine), the control interface's `scan`, `pos control scan`'s
 * argument mapping and the front panel's key.
 */
import { strict as assert } from 'node:assert';
import { PosError } from '../../common/errors';
import { readBoardFile, validateBoard, REQUIRED_ROLES } from '../../hal/board';
import { createSimBoard, SimBoard } from '../../sim/board-sim';
import { ControlServer } from '../../sim/control-server';
import { simBoardWithUnopenablePort } from '../support/unopenable-port';
import { controlRequest } from '../../sim/control-cli';
import { ControlClient, Reply } from '../../sim/control-client';
import { FrontPanel } from '../../sim/front-panel';
import { DEMO_PAYMENT_CODES } from '../../sim/virtual-scanner';
import { BoardJson, boardJson, boardRefusal } from '../support/board-json';

type Json = BoardJson;

const refusal = boardRefusal;

const CODE = '6225123456789012345';

describe('board files: scanner0', () => {
  it('simAndHandheldDeclareScanner0AsAHoneywellSerialTriggerEngine', () => {
    for (const name of ['sim', 'handheld']) {
      const dc = readBoardFile(name).config.devices.scanner0;
      assert.equal(dc?.type, 'serial-scan-engine', name);
      assert.equal(dc.type === 'serial-scan-engine' && dc.protocol, 'honeywell-serial-trigger', name);
    }
    const handheld = readBoardFile('handheld').config.devices.scanner0;
    assert.match(handheld.type === 'serial-scan-engine' ? handheld.port : '', /^\/dev\/tty/);
  });

  it('scannerIsOptionalABoardWithoutOneIsValid', () => {
    assert.ok(!(REQUIRED_ROLES as readonly string[]).includes('scanner0'));
    const j = boardJson('sim');
    delete j.devices.scanner0;
    assert.equal(validateBoard(j, 'x.json').devices.scanner0, undefined);
  });

  it('badScanner0FieldsAreRefusedNamingFileRoleAndField', () => {
    const cases: Array<[(s: Json) => void, RegExp]> = [
      [(s) => { s.protocol = 'newland-nls'; }, /^E-BRD-01 board-configs\/x\.json: role scanner0: field "protocol" must be one of "honeywell-serial-trigger"$/],
      [(s) => { s.baudRate = 12; }, /role scanner0: field "baudRate" must be an integer 1200\.\.921600/],
      [(s) => { s.suffix = 'TAB'; }, /role scanner0: field "suffix" must be one of "CR", "CRLF", "LF"/],
      [(s) => { delete s.port; }, /role scanner0: field "port" must be a string/],
      [(s) => { s.prefix = 'TOO-LONG-PREFIX'; }, /role scanner0: field "prefix" must be a string matching/],
      [(s) => { s.noRead = ''; }, /role scanner0: field "noRead" must be a string matching/],
      [(s) => { s.readTimeoutMs = 100; }, /role scanner0: field "readTimeoutMs" must be an integer 500\.\.300000/],
      [(s) => { s.sufix = 'CR'; }, /role scanner0: field "sufix" is not a known field/],
      [(s) => { s.port = 'sim:reader0'; }, /field "port" uses port sim:reader0, already used by (reader0|scanner0)/],
      [(s) => { s.type = 'framed-card-reader'; }, /role scanner0: field "type" must be one of "serial-scan-engine"/],
    ];
    for (const [mutate, expected] of cases) {
      const j = boardJson('sim');
      mutate(j.devices.scanner0);
      assert.match(refusal(j), expected);
    }
  });

  it('noReadFalseAndAPrefixAreKeptAndDefaultsFillTheRest', () => {
    const j = boardJson('sim');
    j.devices.scanner0 = { type: 'serial-scan-engine', protocol: 'honeywell-serial-trigger', port: 'sim:scanner0', baudRate: 9600, suffix: 'CRLF', prefix: 'QR', noRead: false };
    assert.deepEqual(validateBoard(j, 'x.json').devices.scanner0, { ...j.devices.scanner0, readTimeoutMs: 5000 });
  });

  it('aBenchRigRefusesAScannerOnASimulatedPortAndKeepsOneOnATty', () => {
    const j = boardJson('sim');
    j.benchRig = true;
    j.devices.printer0.port = '/dev/ttyUSB0';
    j.devices.reader0.port = '/dev/ttyUSB1';
    // The modem on sim:modem0 would be refused too (tests/hal/modem-board.test.ts): this test is the scanner's.
    delete j.devices.modem0;
    // A bench rig has real ttys only: a scanner left on sim:scanner0 is an error in the rig's file, said as one.
    assert.throws(() => validateBoard(j, 'x.json'), (e: unknown) => e instanceof Error && /scanner0.*tty path on a bench rig/.test(e.message));
    j.devices.scanner0.port = '/dev/ttyUSB2';
    assert.equal(validateBoard(j, 'x.json').devices.scanner0?.type, 'serial-scan-engine', 'a scanner on a tty stays');
  });
});

describe('simulator board: scanner0', () => {
  let sim: SimBoard | undefined;
  afterEach(async () => { await sim?.close(); sim = undefined; });

  it('simBoardExposesTheScannerAndAScanReadsTheCodeShownAtTheWire', async () => {
    sim = await createSimBoard();
    const results = await sim.board.selfTest();
    assert.deepEqual(results.find((r) => r.role === 'scanner0'), { role: 'scanner0', ok: true });
    const scanner = sim.board.scanner();
    assert.ok(scanner, 'board.scanner() on the sim board');
    sim.scanner().present(CODE);
    assert.equal(await scanner.scan(3000), CODE);
    assert.equal(sim.scanner().stats.triggers, 1, 'the real driver triggered the virtual engine over the cable');
  });

  it('aScannerPortThatCannotOpenLeavesTheBoardSellingAndTheScannerAbsentWithWhy', async () => {
    sim = await simBoardWithUnopenablePort('scanner0');
    const results = await sim.board.selfTest();
    assert.deepEqual(results.filter((r) => !r.ok).map((r) => `${r.role} ${r.error?.code}`), ['scanner0 E-SCN-04'], 'only the scanner fails, not with a fatal board code');
    const e = await sim.board.scanner()!.scan(1000).then(() => assert.fail('scanned'), (x: unknown) => x as PosError);
    assert.equal(e.id, 'SCN_DISCONNECTED');
    assert.match(e.message, /scanner0: cannot open sim:scanner0/);
  });

  it('aBoardWithoutScanner0AnswersUndefined', async () => {
    sim = await createSimBoard({ board: 'rpi-dev' });
    assert.equal(sim.board.scanner(), undefined);
    assert.ok(!sim.board.roles().includes('scanner0'));
  });

  it('controlScanHeldUntilTheNextTriggerReachesTheDriver', async () => {
    sim = await createSimBoard();
    const control = new ControlServer(sim);
    const reply = await control.handle({ cmd: 'scan', code: CODE });
    assert.deepEqual(reply, { ok: true, scanning: false });
    assert.equal(await sim.board.scanner()!.scan(3000), CODE);
  });

  it('posControlScanDigitsOverTheControlSocketReachTheDriverWhole', async () => {
    sim = await createSimBoard();
    const control = new ControlServer(sim);
    const port = await control.listen(0);
    const client = await ControlClient.connect(port);
    try {
      const { cmd, fields } = controlRequest(['scan', CODE]); // what `npm run pos -- control scan DIGITS` sends
      const reply = await client.request(cmd, fields);
      assert.equal(reply.ok, true, String(reply.error));
      assert.ok(!JSON.stringify(reply).includes(CODE), 'the reply does not echo the code');
      assert.equal(await sim.board.scanner()!.scan(3000), CODE, 'all 19 digits, not a rounded JSON number');
    } finally {
      client.close();
      await control.close();
    }
  });

  it('controlScanDuringAScanIsDecodedAtOnceAndADemoNameWorks', async () => {
    sim = await createSimBoard();
    const control = new ControlServer(sim);
    const scan = sim.board.scanner()!.scan(3000);
    await sim.scanner().triggered();
    assert.deepEqual(await control.handle({ cmd: 'scan', name: 'alipay' }), { ok: true, scanning: true });
    assert.equal(await scan, DEMO_PAYMENT_CODES.alipay);
  });

  it('controlScanRefusesANumberCodeAndABoardWithoutAScanner', async () => {
    sim = await createSimBoard();
    const control = new ControlServer(sim);
    const number = await control.handle({ cmd: 'scan', code: 6225123456789012 });
    assert.equal(number.ok, false);
    assert.match(String(number.error), /must be a string/);
    assert.equal(sim.scanner().holding, false, 'nothing held after a refused request');
    await sim.close();
    sim = await createSimBoard({ board: 'rpi-dev' });
    const none = await new ControlServer(sim).handle({ cmd: 'scan', code: CODE });
    assert.match(String(none.error), /no scan engine scanner0/);
  });
});

describe('pos control scan and the front panel', () => {
  it('posControlScanKeepsTheDigitsAsText', () => {
    assert.deepEqual(controlRequest(['scan', '134512345678901234']), { cmd: 'scan', fields: { code: '134512345678901234' } });
    assert.deepEqual(controlRequest(['scan', 'code=134512345678901234']), { cmd: 'scan', fields: { code: '134512345678901234' } });
  });

  it('frontPanelKeyKShowsTheDemoPaymentCode', async () => {
    const requests: string[] = [];
    const client = {
      request(cmd: string): Promise<Reply> { requests.push(cmd); return Promise.resolve({ ok: true, scanning: false }); },
      close(): void { /* nothing to close */ },
    } as unknown as ControlClient;
    const panel = new FrontPanel(client, { hostPort: 1, controlPort: () => 2, quit: () => undefined, pullBattery: () => Promise.resolve(client) }, () => undefined);
    await panel.input('k');
    assert.deepEqual(requests, ['scan']);
    assert.match(panel.shown().message, /payment code held/);
  });
});

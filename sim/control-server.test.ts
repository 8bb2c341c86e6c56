import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { createSimBoard, SimBoard } from './board-sim';
import { ControlServer, keySequence } from './control-server';
import { KeyEvent } from '../hal/keypad';

function client(port: number): { send(req: object): Promise<Record<string, unknown>>; close(): void } {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let buffered = '';
  const waiting: Array<(r: Record<string, unknown>) => void> = [];
  socket.on('data', (d: string) => {
    buffered += d;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(JSON.parse(line) as Record<string, unknown>);
    }
  });
  return {
    send: (req) => new Promise((resolve) => { waiting.push(resolve); socket.write(JSON.stringify(req) + '\n'); }),
    close: () => socket.destroy(),
  };
}

describe('simulator control interface (JSON lines on loopback)', () => {
  let sim: SimBoard;
  let server: ControlServer;
  let port: number;
  beforeEach(async () => {
    sim = await createSimBoard();
    server = new ControlServer(sim);
    port = await server.listen(0);
  });
  afterEach(async () => { await server.close(); await sim.close(); });

  it('pressedKeyReachesTheRealKeypadDriver', async () => {
    const keys: string[] = [];
    await sim.board.keypad().start();
    sim.board.keypad().onKey((e: KeyEvent) => { if (e.type === 'down') keys.push(e.key); });
    const c = client(port);
    assert.deepEqual(await c.send({ id: 1, cmd: 'press', key: '7' }), { id: 1, ok: true });
    assert.equal((await c.send({ id: 2, cmd: 'keys', keys: '12[OK]' })).ok, true);
    assert.deepEqual(keys, ['7', '1', '2', 'OK']);
    c.close();
  });

  it('malformedAndUnknownRequestsAreAnsweredNotFatal', async () => {
    const c = client(port);
    const bad = await new Promise<Record<string, unknown>>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.setEncoding('utf8');
      s.on('data', (d: string) => { resolve(JSON.parse(d.split('\n')[0]) as Record<string, unknown>); s.destroy(); });
      s.write('{not json\n');
    });
    assert.equal(bad.ok, false);
    const r = await c.send({ id: 3, cmd: 'frobnicate' });
    assert.equal(r.ok, false);
    assert.match(String(r.error), /unknown command/);
    const k = await c.send({ id: 4, cmd: 'press', key: 'X' });
    assert.match(String(k.error), /unknown key/);
    assert.equal((await c.send({ id: 5, cmd: 'cards' })).ok, true);
    c.close();
  });

  it('screenAndBatteryAndPaperAreControllable', async () => {
    const c = client(port);
    const screen = await c.send({ cmd: 'screen' });
    assert.equal(screen.kind, 'pixels');
    assert.equal(String(screen.ascii).split('\n').length >= 64, true);
    await c.send({ cmd: 'battery', percent: 4, charging: false });
    const state = await sim.board.battery().read();
    assert.equal(state.level, 'critical');
    await c.send({ cmd: 'paper', state: 'out' });
    const status = await sim.board.printer().status();
    assert.equal(status.paperOut, true);
    assert.equal((await c.send({ cmd: 'paper', state: 'sideways' })).ok, false);
    c.close();
  });

  it('signDrawsOnThePadTheRealDriverSamples', async () => {
    const c = client(port);
    assert.deepEqual((await c.send({ cmd: 'signatures' })).signatures, ['demo', 'dot', 'light']);
    assert.match(String((await c.send({ cmd: 'sign' })).error), /sign needs "name"/);
    assert.match(String((await c.send({ cmd: 'sign', name: 'zorro' })).error), /unknown signature "zorro"; built in: demo, dot, light/);
    assert.match(String((await c.send({ cmd: 'sign', strokes: [[[1, 'a']]] })).error), /sign needs/);
    const pad = sim.board.signaturePad();
    assert.ok(pad);
    const captured = pad.capture({ timeoutMs: 10_000, pixelsMax: 384 * 200, compressedBytesMax: 999 });
    const r = await c.send({ cmd: 'sign', strokes: [[[5, 5], [50, 40, 0.7]]] });
    assert.equal(r.ok, true, String(r.error));
    assert.equal(r.strokes, 1);
    pad.confirm();
    assert.deepEqual((await captured).strokes, [[{ x: 5, y: 5 }, { x: 50, y: 40 }]]);
    c.close();
  });

  it('keySequenceParsesDigitsAndNamedKeys', () => {
    assert.deepEqual(keySequence('10[OK]CANCEL'), ['1', '0', 'OK', 'CANCEL']);
  });
});
